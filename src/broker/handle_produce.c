/*
 * handle_produce.c - Produce: validate batches in place, append them
 * unchanged but for baseOffset and partitionLeaderEpoch, and answer per
 * acks: 0 no response, 1 after the write, -1 (all) after the data is fsynced
 * when flush.messages is 1 (group commit through the flusher).
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "broker/topic_config.h"
#include "proto/batch.h"

typedef struct produce_op {
    broker *b;
    req *rq;
    kp_produce_resp resp;
    int pending;        /* flushes still awaited */
    topic **held;       /* references kept until the answer */
    int nheld;
} produce_op;

typedef struct produce_wait {
    produce_op *op;
    kp_produce_resp_partition *pr;
} produce_wait;

static void produce_respond(produce_op *op)
{
    req *rq = op->rq;
    if (!rq->no_response) {
        conn_resp_begin(rq);
        kp_produce_resp_encode(&rq->out, rq->hdr.api_version, &op->resp);
    }
    for (int i = 0; i < op->nheld; i++)
        topic_unref(op->held[i]);
    conn_req_complete(rq);
}

static void produce_flushed(reactor *r, void *arg, int rc)
{
    (void)r;
    produce_wait *w = arg;
    if (rc != LOG_OK) {
        w->pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        w->pr->error_message = kp_str_c("fsync of the partition log failed; see the broker log");
    }
    if (--w->op->pending == 0)
        produce_respond(w->op);
}

static void produce_kick_done(reactor *r, void *arg, int rc)
{
    (void)r;
    (void)rc; /* a failure is logged by the flusher and sticks to the log */
    topic_unref(arg);
}

static int16_t batch_error_code(int err)
{
    switch (err) {
    case BATCH_ERR_MAGIC: return KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case BATCH_ERR_CRC: return KERR_CORRUPT_MESSAGE;
    default: return KERR_CORRUPT_MESSAGE;
    }
}

/* Validate every batch of a partition's records; sets *count to records. */
static int16_t validate_records(broker *b, topic *tp, kp_records *rec, int64_t *count,
                                const char **why, char *buf, size_t buflen)
{
    if (rec->len <= 0) {
        *why = "no record batch in the request";
        return KERR_CORRUPT_MESSAGE;
    }
    int64_t max_bytes;
    topics_read_lock(b->topics);
    max_bytes = topic_config_num(&tp->overrides, &b->cfg, TCFG_MAX_MESSAGE_BYTES);
    topics_read_unlock(b->topics);
    size_t off = 0;
    *count = 0;
    while (off < (size_t)rec->len) {
        batch_info info;
        int err = batch_validate(rec->ptr + off, (size_t)rec->len - off, &info);
        if (err != BATCH_OK) {
            snprintf(buf, buflen, "record batch at byte %zu: %s", off, batch_err_str(err));
            *why = buf;
            return batch_error_code(err);
        }
        if (info.total_bytes > max_bytes) {
            snprintf(buf, buflen, "record batch of %d bytes exceeds max.message.bytes (%lld)",
                     info.total_bytes, (long long)max_bytes);
            *why = buf;
            return KERR_MESSAGE_TOO_LARGE;
        }
        *count += info.record_count;
        off += (size_t)info.total_bytes;
    }
    return KERR_NONE;
}

static bool log_append_time(broker *b, topic *tp)
{
    int src;
    topics_read_lock(b->topics);
    const char *v = topic_config_value(&tp->overrides, &b->cfg, TCFG_MESSAGE_TIMESTAMP_TYPE, &src);
    bool lat = v && strcmp(v, "LogAppendTime") == 0;
    topics_read_unlock(b->topics);
    return lat;
}

static void produce_partition(produce_op *op, topic *tp, kp_produce_req_partition *rp,
                              kp_produce_resp_partition *pr, int16_t acks)
{
    broker *b = op->b;
    req *rq = op->rq;
    kp_produce_resp_partition_init(pr);
    pr->index = rp->index;
    pr->base_offset = -1;
    partition *p = tp ? topic_partition(tp, rp->index) : NULL;
    if (!p) {
        pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (acks != 0 && acks != 1 && acks != -1) {
        pr->error_code = KERR_INVALID_REQUIRED_ACKS;
        return;
    }
    const char *why = NULL;
    char buf[160];
    int64_t count;
    int16_t code = validate_records(b, tp, &rp->records, &count, &why, buf, sizeof(buf));
    if (code != KERR_NONE) {
        glog(GLOG_WARN, "broker", "conn %s: produce to %s-%d refused (%s): %s", conn_peer(rq->conn),
             tp->name, rp->index, kerr_name(code), why);
        pr->error_code = code;
        pr->error_message = arena_kstr(&rq->arena, why);
        return;
    }
    uint8_t *bytes = (uint8_t *)rp->records.ptr; /* the frame is ours to patch */
    int64_t now = clock_now_ms();
    if (log_append_time(b, tp)) {
        for (size_t off = 0; off < (size_t)rp->records.len; off += (size_t)batch_length(bytes + off) + BATCH_LOG_OVERHEAD)
            batch_set_log_append_time(bytes + off, now);
        pr->log_append_time_ms = now;
    }
    int64_t first, last;
    int rc = plog_append(p->log, bytes, (size_t)rp->records.len, p->leader_epoch, now, &first, &last);
    if (rc == LOG_ERR_TOO_LARGE) {
        snprintf(buf, sizeof(buf), "%d bytes of batches are larger than the partition's segment.bytes",
                 rp->records.len);
        pr->error_code = KERR_RECORD_LIST_TOO_LARGE;
        pr->error_message = arena_kstr(&rq->arena, buf);
        return;
    }
    if (rc != LOG_OK) {
        const char *f = plog_failure(p->log);
        glog(GLOG_ERROR, "log", "append to %s-%d failed: %s", tp->name, rp->index, f ? f : "unknown error");
        pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        pr->error_message = arena_kstr(&rq->arena, f);
        return;
    }
    pr->base_offset = first;
    pr->log_start_offset = plog_start_offset(p->log);
    int64_t unflushed = atomic_fetch_add(&p->unflushed_msgs, count) + count;
    fetch_partition_appended(b, p);
    int64_t every = broker_flush_messages(b, tp);
    if (acks == -1 && every == 1) {
        produce_wait *w = arena_alloc(&rq->arena, sizeof(*w));
        w->op = op;
        w->pr = pr;
        op->pending++;
        atomic_store(&p->unflushed_msgs, 0);
        flusher_wait(b->flusher, p->log, last + 1, conn_reactor(rq->conn), produce_flushed, w);
    } else if (every > 1 && unflushed >= every) {
        /* flush.messages reached: flush in the background, answer now. With
         * flush.messages=1, acks=0/1 data is flushed by the housekeeping
         * pass every log.flush.scheduler.interval.ms instead: an fsync per
         * produce would cost every producer latency for no promise made. */
        atomic_store(&p->unflushed_msgs, 0);
        topic_ref(tp);
        flusher_wait(b->flusher, p->log, last + 1, conn_reactor(rq->conn), produce_kick_done, tp);
    }
}

void handle_produce(broker *b, req *rq)
{
    kp_produce_req body;
    kp_produce_req_init(&body);
    if (kp_produce_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    produce_op *op = arena_alloc(&rq->arena, sizeof(*op));
    int nt = body.topic_data_n > 0 ? body.topic_data_n : 0;
    if (!op || !(op->held = arena_alloc(&rq->arena, sizeof(topic *) * (size_t)(nt ? nt : 1)))) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    op->b = b;
    op->rq = rq;
    kp_produce_resp_init(&op->resp);
    op->resp.responses = arena_alloc(&rq->arena, sizeof(*op->resp.responses) * (size_t)(nt ? nt : 1));
    op->resp.responses_n = nt;
    if (body.acks == 0)
        rq->no_response = true;
    op->pending = 1; /* released below, so a flush finishing early cannot answer */
    for (int i = 0; i < nt; i++) {
        kp_produce_req_topic *rt = &body.topic_data[i];
        kp_produce_resp_topic *tr = &op->resp.responses[i];
        kp_produce_resp_topic_init(tr);
        tr->name = rt->name;
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        if (tp)
            op->held[op->nheld++] = tp;
        int np = rt->partition_data_n > 0 ? rt->partition_data_n : 0;
        tr->partition_responses = arena_alloc(&rq->arena, sizeof(*tr->partition_responses) * (size_t)(np ? np : 1));
        tr->partition_responses_n = np;
        for (int j = 0; j < np; j++)
            produce_partition(op, tp, &rt->partition_data[j], &tr->partition_responses[j], body.acks);
    }
    if (--op->pending == 0)
        produce_respond(op);
}

int64_t broker_flush_messages(broker *b, topic *tp)
{
    topics_read_lock(b->topics);
    int64_t every = topic_config_num(&tp->overrides, &b->cfg, TCFG_FLUSH_MESSAGES);
    topics_read_unlock(b->topics);
    return every;
}
