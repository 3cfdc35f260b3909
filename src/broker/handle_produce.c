/*
 * handle_produce.c - Produce: validate batches in place, append them
 * unchanged but for baseOffset and partitionLeaderEpoch, and answer per
 * acks: 0 no response, 1 after the write, -1 (all) after the data is fsynced
 * when flush.messages is 1 (group commit through the flusher).
 */
#include <stddef.h>
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/appender.h"
#include "broker/broker.h"
#include "proto/records.h"
#include "proto/zwriter.h"
#include "broker/topic_config.h"
#include "proto/batch.h"
#include "txn/tcoord.h"

typedef struct part_task part_task;

typedef struct produce_op {
    broker *b;
    req *rq;
    kp_str txn_id;      /* the request's transactional id (null: len -1) */
    kp_produce_resp resp;
    int pending;        /* lane appends and flushes still awaited */
    topic **held;       /* references kept until the answer */
    int nheld;
    int16_t acks;
    int32_t timeout_ms; /* acks=all: how long to wait for the in-sync replicas */
    part_task *tasks;   /* heap; freed with the answer */
    int ntasks;
    int16_t add_error;  /* the coordinator's answer: V2's add, or the remote verification's top-level error */
    int16_t *verify_codes; /* the remote verification's per-partition answers (heap), NULL */
    int nchecked;          /* the partitions the coordinator was asked about */
} produce_op;

typedef struct produce_wait {
    produce_op *op;
    kp_produce_resp_partition *pr;
    partition *p;       /* acks=all on replicas: the ISR's size is checked again */
    int32_t min_isr;
} produce_wait;

/* KIP-951: where the partitions this broker does not lead went. */
static void leader_hints(produce_op *op)
{
    req *rq = op->rq;
    broker_endpoint eps[16];
    int neps = 0;
    for (int i = 0; i < op->resp.responses_n; i++) {
        kp_produce_resp_topic *t = &op->resp.responses[i];
        for (int j = 0; j < t->partition_responses_n; j++) {
            kp_produce_resp_partition *pr = &t->partition_responses[j];
            if (pr->error_code != KERR_NOT_LEADER_OR_FOLLOWER && pr->error_code != KERR_FENCED_LEADER_EPOCH)
                continue;
            pr->current_leader_present =
                broker_leader_hints(op->b, &rq->arena, t->name, pr->index, &pr->current_leader.leader_id,
                                    &pr->current_leader.leader_epoch, eps, &neps, 16) != 0;
        }
    }
    op->resp.node_endpoints = neps ? arena_alloc(&rq->arena, sizeof(*op->resp.node_endpoints) * (size_t)neps) : NULL;
    op->resp.node_endpoints_n = op->resp.node_endpoints ? neps : 0;
    for (int i = 0; i < op->resp.node_endpoints_n; i++)
        op->resp.node_endpoints[i] = (kp_produce_resp_node_endpoint){ eps[i].node_id, eps[i].host, eps[i].port,
                                                                      eps[i].rack };
}

static void produce_respond(produce_op *op)
{
    req *rq = op->rq;
    if (!rq->no_response) {
        if (rq->hdr.api_version >= 10)
            leader_hints(op);
        conn_resp_begin(rq);
        kp_produce_resp_encode(&rq->out, rq->hdr.api_version, &op->resp);
    }
    for (int i = 0; i < op->nheld; i++)
        topic_unref(op->held[i]);
    free(op->tasks);
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

/* acks=all on a replicated partition: the high watermark passed the
 * batch (every ISR member has it), or it could not. */
static void produce_replicated(reactor *r, void *arg, int rc)
{
    (void)r;
    produce_wait *w = arg;
    if (rc == PART_WAIT_TIMEOUT) {
        w->pr->error_code = KERR_REQUEST_TIMED_OUT;
        w->pr->error_message = kp_str_c("the in-sync replicas did not all have the batch within the request's timeout");
    } else if (rc == PART_WAIT_NOT_LEADER) {
        w->pr->error_code = KERR_NOT_LEADER_OR_FOLLOWER;
    } else if (rc != LOG_OK) {
        w->pr->error_code = KERR_UNKNOWN_SERVER_ERROR;
    } else if (partition_isr_size(w->p, NULL) < w->min_isr) {
        w->pr->error_code = KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
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

/*
 * Kafka's answers, checked against Apache Kafka 4.4 (test_bad_batches.py):
 * a CRC mismatch is CORRUPT_MESSAGE; a batch whose lengths, count or
 * records do not add up is INVALID_RECORD; compressed data that does not
 * decompress fails inside Kafka's decompressor, which answers
 * UNKNOWN_SERVER_ERROR for gzip, snappy, lz4 and an undefined codec, and
 * UNSUPPORTED_COMPRESSION_TYPE for zstd. Gregor gives the same codes, with
 * an error message saying what was wrong.
 */
static int16_t batch_error_code(int err, int codec)
{
    switch (err) {
    case BATCH_ERR_MAGIC: return KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case BATCH_ERR_CRC: return KERR_CORRUPT_MESSAGE;
    case BATCH_ERR_CODEC: return KERR_UNKNOWN_SERVER_ERROR;
    case BATCH_ERR_DECOMPRESS:
        return codec == 4 ? KERR_UNSUPPORTED_COMPRESSION_TYPE : KERR_UNKNOWN_SERVER_ERROR;
    case BATCH_ERR_NOMEM: return KERR_UNKNOWN_SERVER_ERROR;
    default: return KERR_INVALID_RECORD;
    }
}

/* What a topic's configs ask of an append, read once per partition. */
typedef struct produce_policy {
    int64_t max_bytes;          /* max.message.bytes */
    bool log_append_time;       /* message.timestamp.type */
    bool compacted;             /* cleanup.policy has compact: records need keys */
    int codec;                  /* compression.type: -1 producer, 0 uncompressed, 1..4 */
    int level;                  /* compression.<codec>.level */
    int64_t ts_before_ms, ts_after_ms; /* message.timestamp.{before,after}.max.ms */
} produce_policy;

static int codec_of(const char *name)
{
    static const char *const names[] = { "uncompressed", "gzip", "snappy", "lz4", "zstd" };
    for (int i = 0; name && i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1; /* producer */
}

static void produce_policy_get(broker *b, topic *tp, produce_policy *out)
{
    const config_set *o = &tp->overrides, *bc = &b->cfg;
    int src;
    topics_read_lock(b->topics);
    out->max_bytes = topic_config_num(o, bc, TCFG_MAX_MESSAGE_BYTES);
    const char *v = topic_config_value(o, bc, TCFG_MESSAGE_TIMESTAMP_TYPE, &src);
    out->log_append_time = v && strcmp(v, "LogAppendTime") == 0;
    v = topic_config_value(o, bc, TCFG_CLEANUP_POLICY, &src);
    out->compacted = v && strstr(v, "compact") != NULL;
    out->codec = codec_of(topic_config_value(o, bc, TCFG_COMPRESSION_TYPE, &src));
    out->level = out->codec == 1   ? (int)topic_config_num(o, bc, TCFG_COMPRESSION_GZIP_LEVEL)
                 : out->codec == 3 ? (int)topic_config_num(o, bc, TCFG_COMPRESSION_LZ4_LEVEL)
                 : out->codec == 4 ? (int)topic_config_num(o, bc, TCFG_COMPRESSION_ZSTD_LEVEL)
                                   : ZWRITER_LEVEL_DEFAULT;
    out->ts_before_ms = topic_config_num(o, bc, TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS);
    out->ts_after_ms = topic_config_num(o, bc, TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS);
    topics_read_unlock(b->topics);
}

static int null_key(void *arg, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    (void)arg, (void)val, (void)vlen;
    return key == NULL || klen < 0;
}

/* Java's long arithmetic saturates nowhere; clamp the window's ends. */
static int64_t sat_add(int64_t a, int64_t b)
{
    return b > 0 && a > INT64_MAX - b ? INT64_MAX : b < 0 && a < INT64_MIN - b ? INT64_MIN : a + b;
}

/* Validate every batch of a partition's records; sets *count to records. */
static int16_t validate_records(const produce_policy *pol, const char *tname, int32_t index, kp_records *rec,
                                int16_t version, int64_t now, int64_t *count, const char **why, char *buf,
                                size_t buflen)
{
    if (rec->len <= 0) {
        *why = "no record batch in the request";
        return KERR_CORRUPT_MESSAGE;
    }
    int64_t max_bytes = pol->max_bytes;
    size_t off = 0;
    *count = 0;
    while (off < (size_t)rec->len) {
        batch_info info;
        int err = batch_validate(rec->ptr + off, (size_t)rec->len - off, &info);
        if (err != BATCH_OK) {
            int codec = (size_t)rec->len - off > 22 ? rec->ptr[off + 22] & BATCH_ATTR_COMPRESSION_MASK : 0;
            snprintf(buf, buflen, "record batch at byte %zu: %s%s%s", off, batch_err_str(err),
                     err == BATCH_ERR_DECOMPRESS && info.detail ? ": " : "",
                     err == BATCH_ERR_DECOMPRESS && info.detail ? info.detail : "");
            *why = buf;
            return batch_error_code(err, codec);
        }
        if (info.total_bytes > max_bytes) {
            snprintf(buf, buflen, "record batch of %d bytes exceeds max.message.bytes (%lld)",
                     info.total_bytes, (long long)max_bytes);
            *why = buf;
            return KERR_MESSAGE_TOO_LARGE;
        }
        if (info.producer_id >= 0 && info.base_sequence < 0 && !(info.attributes & BATCH_ATTR_CONTROL)) {
            snprintf(buf, buflen, "Invalid sequence number %d in record batch with producerId %lld",
                     info.base_sequence, (long long)info.producer_id);
            *why = buf;
            return KERR_INVALID_RECORD;
        }
        if (!pol->log_append_time && info.base_timestamp >= 0 && info.record_count > 0) {
            /* Kafka's LogValidator.validateTimestamp, on the batch's
             * extreme records (the validation walk found them). */
            int64_t lo = sat_add(now, -pol->ts_before_ms), hi = sat_add(now, pol->ts_after_ms);
            int64_t tmin = sat_add(info.base_timestamp, info.min_ts_delta);
            int64_t tmax = sat_add(info.base_timestamp, info.max_ts_delta);
            if (tmin < lo || tmax > hi) {
                snprintf(buf, buflen,
                         "Timestamp %lld of message with offset 0 is out of range. The timestamp should be "
                         "within [%lld, %lld]", (long long)(tmin < lo ? tmin : tmax), (long long)lo, (long long)hi);
                *why = buf;
                return KERR_INVALID_TIMESTAMP;
            }
        }
        if (pol->compacted && !(info.attributes & BATCH_ATTR_CONTROL) &&
            records_each(rec->ptr + off, (size_t)info.total_bytes, RECORDS_MAX_INFLATED, null_key, NULL) != 0) {
            snprintf(buf, buflen, "Compacted topic cannot accept message without key in topic partition %s-%d.",
                     tname, index);
            *why = buf;
            return KERR_INVALID_RECORD;
        }
        *count += info.record_count;
        off += (size_t)info.total_bytes;
        if (version >= 3 && off < (size_t)rec->len) {
            /* As Kafka's ProduceRequest.validateRecords. */
            snprintf(buf, buflen, "Produce requests with version %d are only allowed to contain exactly one "
                     "record batch per partition", version);
            *why = buf;
            return KERR_INVALID_RECORD;
        }
    }
    return KERR_NONE;
}

/*
 * compression.type other than producer: the batches in another codec,
 * recompressed into *out (the one place the produce path decodes records;
 * bench/run's W1z row measures it). Returns false with *why when a batch
 * does not recompress; *out stays empty when nothing needed it.
 */
static bool recompress(const produce_policy *pol, const uint8_t *bytes, size_t len, kp_writer *out,
                       const char **why)
{
    bool need = false;
    for (size_t off = 0; off < len; off += (size_t)batch_length(bytes + off) + BATCH_LOG_OVERHEAD) {
        batch_info bi;
        batch_peek(bytes + off, &bi);
        if ((bi.attributes & BATCH_ATTR_COMPRESSION_MASK) != pol->codec && !(bi.attributes & BATCH_ATTR_CONTROL))
            need = true;
    }
    if (!need)
        return true;
    for (size_t off = 0; off < len;) {
        batch_info bi;
        batch_peek(bytes + off, &bi);
        size_t n = (size_t)bi.total_bytes;
        if ((bi.attributes & BATCH_ATTR_COMPRESSION_MASK) == pol->codec || (bi.attributes & BATCH_ATTR_CONTROL))
            kp_write_raw(out, bytes + off, n);
        else if (records_recompress(bytes + off, n, pol->codec, pol->level, out, why) != 0)
            return false;
        off += n;
    }
    if (out->err) {
        *why = "out of memory";
        return false;
    }
    return true;
}

/*
 * One partition of a request. Phase 1 (validate, append) touches only the
 * partition's log and the task, so it may run on an append lane; phases 0
 * and 2 (lookup; the answer, fetch wake-ups, flush waits, which use the
 * request's arena and reactor) run on the reactor.
 */
struct part_task {
    appender_item item;         /* first: the lane hands this back */
    produce_op *op;
    topic *tp;
    partition *p;
    kp_produce_req_partition *rp;
    kp_produce_resp_partition *pr;
    int16_t code;               /* KERR_NONE while the partition may be appended to */
    const char *why;            /* phase 1's refusal, in why_buf or static */
    int rc;                     /* the append's log result */
    bool duplicate;             /* a retried batch already written: not counted again */
    int32_t min_isr;            /* acks=all on a replicated partition: min.insync.replicas, else 0 */
    int64_t count, first, last, now;
    char why_buf[256];
};

/* A request this large has its appends taken off the reactor: below it the
 * hand-off costs more than the copy it moves. */
#define PRODUCE_LANE_MIN_BYTES (128 * 1024)

static void task_prepare(part_task *t, produce_op *op, topic *tp, kp_produce_req_partition *rp,
                         kp_produce_resp_partition *pr, int16_t acks)
{
    memset(t, 0, offsetof(part_task, why_buf));
    t->op = op;
    t->tp = tp;
    t->rp = rp;
    t->pr = pr;
    t->rc = LOG_OK;
    kp_produce_resp_partition_init(pr);
    pr->index = rp->index;
    pr->base_offset = -1;
    int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    t->p = broker_led_partition(tp, rp->index, &why);
    if (!t->p)
        t->code = why;
    else if (acks != 0 && acks != 1 && acks != -1)
        t->code = KERR_INVALID_REQUIRED_ACKS;
    if (t->code != KERR_NONE || acks != -1)
        return;
    int replicas, isr = partition_isr_size(t->p, &replicas);
    if (replicas < 2)
        return; /* one copy: acks=all is the leader's append */
    broker *b = op->b;
    topics_read_lock(b->topics);
    t->min_isr = (int32_t)topic_config_num(&tp->overrides, &b->cfg, TCFG_MIN_INSYNC_REPLICAS);
    topics_read_unlock(b->topics);
    if (t->min_isr > replicas)
        t->min_isr = replicas; /* Kafka's effective min ISR: no more than the replicas */
    if (isr < t->min_isr) { /* Kafka's refusal, before the append */
        t->code = KERR_NOT_ENOUGH_REPLICAS;
        snprintf(t->why_buf, sizeof t->why_buf,
                 "The size of the current ISR %d is insufficient to satisfy the min.isr requirement of %d for "
                 "partition %s-%d", isr, t->min_isr, tp->name, rp->index);
        t->why = t->why_buf;
    }
}

/* Phase 1: validate every batch, then append them. Any thread. */
static void task_append(broker *b, part_task *t)
{
    if (t->code != KERR_NONE)
        return;
    kp_produce_req_partition *rp = t->rp;
    produce_policy pol;
    produce_policy_get(b, t->tp, &pol);
    t->now = clock_now_ms();
    t->code = validate_records(&pol, t->tp->name, rp->index, &rp->records, t->op->rq->hdr.api_version, t->now,
                               &t->count, &t->why, t->why_buf, sizeof(t->why_buf));
    if (t->code != KERR_NONE)
        return;
    if (t->op->txn_id.len > 0 && t->op->b->txn_verify && t->op->rq->hdr.api_version < 12) {
        /* KIP-890: a transactional batch only into a partition its
         * transaction added; checked before the partition's lock (the
         * coordinator takes partition locks under its own). */
        batch_info bi;
        batch_peek((const uint8_t *)rp->records.ptr, &bi);
        if ((bi.attributes & BATCH_ATTR_TRANSACTIONAL) && !(bi.attributes & BATCH_ATTR_CONTROL)) {
            int16_t v = tcoord_verify(t->op->b->tcoord, t->op->txn_id.ptr, t->op->txn_id.len, bi.producer_id,
                                      bi.producer_epoch, t->tp->name, rp->index);
            if (v != KERR_NONE) {
                snprintf(t->why_buf, sizeof t->why_buf,
                         "transactional batch of producer %lld epoch %d for a partition that is not in the "
                         "ongoing transaction of %.*s", (long long)bi.producer_id, bi.producer_epoch,
                         t->op->txn_id.len > 64 ? 64 : t->op->txn_id.len, t->op->txn_id.ptr);
                t->why = t->why_buf;
                /* Produce v11+ (KIP-890): the client aborts on
                 * TRANSACTION_ABORTABLE; older ones know INVALID_TXN_STATE. */
                t->code = v == KERR_INVALID_TXN_STATE && t->op->rq->hdr.api_version >= 11
                              ? KERR_TRANSACTION_ABORTABLE : v;
                return;
            }
        }
    }
    uint8_t *bytes = (uint8_t *)rp->records.ptr; /* the frame is ours to patch */
    size_t len = (size_t)rp->records.len;
    kp_writer z;
    kp_writer_init(&z);
    if (pol.codec >= 0) {
        const char *why = NULL;
        if (!recompress(&pol, bytes, len, &z, &why)) {
            snprintf(t->why_buf, sizeof t->why_buf, "recompressing for compression.type: %s", why ? why : "failed");
            t->why = t->why_buf;
            t->code = KERR_UNKNOWN_SERVER_ERROR;
            kp_writer_deinit(&z);
            return;
        }
        if (z.len > 0) {
            bytes = z.buf;
            len = z.len;
        }
    }
    if (pol.log_append_time) {
        for (size_t off = 0; off < len; off += (size_t)batch_length(bytes + off) + BATCH_LOG_OVERHEAD)
            batch_set_log_append_time(bytes + off, t->now);
        t->pr->log_append_time_ms = t->now;
    }
    part_result res;
    partition_append(t->p, bytes, len, t->now, PART_ORIGIN_CLIENT, &res);
    kp_writer_deinit(&z);
    t->rc = res.log_rc;
    t->first = res.first;
    t->last = res.last;
    t->duplicate = res.duplicate;
    if (res.error) {
        t->code = res.error;
        memcpy(t->why_buf, res.why, sizeof(t->why_buf));
        t->why_buf[sizeof(t->why_buf) - 1] = 0;
        t->why = t->why_buf;
    }
}

/* Phase 2, on the reactor: the answer, fetch wake-ups, the flush wait. */
static void task_finish(produce_op *op, part_task *t, int16_t acks)
{
    broker *b = op->b;
    req *rq = op->rq;
    kp_produce_resp_partition *pr = t->pr;
    topic *tp = t->tp;
    partition *p = t->p;
    if (t->code != KERR_NONE) {
        pr->error_code = t->code;
        if (t->why) {
            static glog_limit refused = GLOG_LIMIT_INIT;
            glog_limited(&refused, GLOG_WARN, "broker", "conn %s: produce to %s-%d refused (%s): %s",
                         conn_peer(rq->conn), tp->name, t->rp->index, kerr_name(t->code), t->why);
            pr->error_message = arena_kstr(&rq->arena, t->why);
        }
        return;
    }
    if (t->rc == LOG_ERR_TOO_LARGE) {
        char buf[160];
        snprintf(buf, sizeof(buf), "%d bytes of batches are larger than the partition's segment.bytes",
                 t->rp->records.len);
        pr->error_code = KERR_RECORD_LIST_TOO_LARGE;
        pr->error_message = arena_kstr(&rq->arena, buf);
        return;
    }
    if (t->rc == LOG_ERR_NO_SPACE) {
        /* Logged by the log when it ran out of space; the producer retries. */
        char why[512];
        if (!plog_no_space(p->log, why, sizeof why))
            snprintf(why, sizeof why, "no space left on the log directory's device");
        pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        pr->error_message = arena_kstr(&rq->arena, why);
        return;
    }
    if (t->rc != LOG_OK) {
        static glog_limit failed = GLOG_LIMIT_INIT;
        const char *f = plog_failure(p->log);
        glog_limited(&failed, GLOG_ERROR, "log", "append to %s-%d failed: %s", tp->name, t->rp->index,
                     f ? f : "unknown error");
        pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        pr->error_message = arena_kstr(&rq->arena, f);
        return;
    }
    pr->base_offset = t->first;
    pr->log_start_offset = plog_start_offset(p->log);
    int64_t unflushed = atomic_fetch_add(&p->unflushed_msgs, t->duplicate ? 0 : t->count) +
                        (t->duplicate ? 0 : t->count);
    int64_t every = broker_flush_messages(b, tp);
    if (acks == -1 && t->min_isr > 0) {
        produce_wait *hw = arena_alloc(&rq->arena, sizeof(*hw));
        *hw = (produce_wait){ .op = op, .pr = pr, .p = p, .min_isr = t->min_isr };
        op->pending++;
        partition_wait_hw(p, t->last + 1, clock_mono_ms() + op->timeout_ms, conn_reactor(rq->conn),
                          produce_replicated, hw);
    }
    if (acks == -1 && every == 1) {
        produce_wait *w = arena_alloc(&rq->arena, sizeof(*w));
        w->op = op;
        w->pr = pr;
        op->pending++;
        atomic_store(&p->unflushed_msgs, 0);
        partition_wait_durable(p, t->last + 1, conn_reactor(rq->conn), produce_flushed, w);
    } else if (every > 1 && unflushed >= every) {
        /* flush.messages reached: flush in the background, answer now. With
         * flush.messages=1, acks=0/1 data is flushed by the housekeeping
         * pass every log.flush.scheduler.interval.ms instead: an fsync per
         * produce would cost every producer latency for no promise made. */
        atomic_store(&p->unflushed_msgs, 0);
        topic_ref(tp);
        partition_wait_durable(p, t->last + 1, conn_reactor(rq->conn), produce_kick_done, tp);
    }
}

/* Back on the reactor after a lane append. */
static void lane_done(reactor *r, void *arg)
{
    (void)r;
    part_task *t = arg;
    produce_op *op = t->op;
    task_finish(op, t, op->acks);
    if (--op->pending == 0)
        produce_respond(op);
}

/* On the partition's lane. */
static void lane_append(appender_item *item)
{
    part_task *t = (part_task *)item;
    produce_op *op = t->op;
    task_append(op->b, t);
    /* Done before the reactor hears of it: a later request that finds no
     * lane append pending may append inline and still come after this one. */
    atomic_fetch_sub(&t->p->lane_pending, 1);
    reactor_post(conn_reactor(op->rq->conn), lane_done, t);
}

/* Whether the request's appends go to the lanes: it is large, or one of its
 * partitions still has a lane append pending (order within a partition). */
static bool tasks_to_lanes(broker *b, part_task *tasks, int n)
{
    if (!b->appender)
        return false;
    int64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        if (tasks[i].code != KERR_NONE)
            continue;
        if (atomic_load(&tasks[i].p->lane_pending) > 0)
            return true;
        bytes += tasks[i].rp->records.len;
    }
    return bytes >= PRODUCE_LANE_MIN_BYTES;
}

typedef struct part_pos {
    int32_t index;              /* the partition */
    int pos;                    /* its place in the request */
} part_pos;

static int part_pos_cmp(const void *a, const void *b)
{
    const part_pos *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * A partition named more than once in one topic's entry: as in Kafka, which
 * reads the request into a map, the last batch for it is the one appended
 * and the partition is answered once. Marks keep[j] for the entries that
 * count; returns how many (or -1 without memory).
 */
static int partitions_last_wins(const kp_produce_req_topic *rt, bool *keep, arena *a)
{
    int np = rt->partition_data_n > 0 ? rt->partition_data_n : 0;
    if (np <= 1) {
        if (np == 1)
            keep[0] = true;
        return np;
    }
    part_pos *v = arena_alloc(a, sizeof(*v) * (size_t)np);
    if (!v)
        return -1;
    for (int j = 0; j < np; j++)
        v[j] = (part_pos){ rt->partition_data[j].index, j };
    qsort(v, (size_t)np, sizeof(*v), part_pos_cmp);
    int unique = 0;
    for (int j = 0; j < np; j++) {
        bool last = j + 1 == np || v[j + 1].index != v[j].index;
        keep[v[j].pos] = last;
        unique += last;
    }
    return unique;
}

/* Phase 1 for every partition (on the lanes or inline), then the answer
 * once the last is done. On the reactor. */
static void produce_appends(produce_op *op)
{
    broker *b = op->b;
    part_task *tasks = op->tasks;
    int ntasks = op->ntasks;
    if (tasks && tasks_to_lanes(b, tasks, ntasks)) {
        /* op->tasks freed by produce_respond, after the last lane_done */
        for (int i = 0; i < ntasks; i++) {
            part_task *t = &tasks[i];
            if (t->code != KERR_NONE) {
                task_finish(op, t, op->acks);
                continue;
            }
            op->pending++;
            atomic_fetch_add(&t->p->lane_pending, 1);
            appender_submit(b->appender, (uint64_t)(uintptr_t)t->p, &t->item, lane_append);
        }
    } else if (tasks) {
        for (int i = 0; i < ntasks; i++) {
            task_append(b, &tasks[i]);
            task_finish(op, &tasks[i], op->acks);
        }
        free(tasks);
        op->tasks = NULL;
    }
    if (--op->pending == 0)
        produce_respond(op);
}

/* The partitions of a task holding a transactional batch: its producer. */
static bool task_transactional(const part_task *t, int64_t *pid, int16_t *epoch)
{
    if (t->code != KERR_NONE || t->rp->records.len < BATCH_HEADER_BYTES)
        return false;
    batch_info bi;
    batch_peek((const uint8_t *)t->rp->records.ptr, &bi);
    if (!(bi.attributes & BATCH_ATTR_TRANSACTIONAL) || (bi.attributes & BATCH_ATTR_CONTROL))
        return false;
    *pid = bi.producer_id;
    *epoch = bi.producer_epoch;
    return true;
}

/* What the coordinator answered about a partition becomes its produce
 * error as Kafka's AddPartitionsToTxnManager and ReplicaManager turn it:
 * PRODUCER_FENCED is INVALID_PRODUCER_EPOCH; TRANSACTION_ABORTABLE
 * INVALID_TXN_STATE before Produce v11; a coordinator that could not be
 * asked (or, for V1, one busy ending the transaction) NOT_ENOUGH_REPLICAS,
 * the underlying error in the message. *why: a message, or NULL. */
static int16_t txn_check_error(int16_t e, bool v2, int16_t version, const char **why, char *buf, size_t n)
{
    *why = NULL;
    if (e == KERR_PRODUCER_FENCED)
        return KERR_INVALID_PRODUCER_EPOCH;
    if (e == KERR_TRANSACTION_ABORTABLE && version < 11)
        e = KERR_INVALID_TXN_STATE;
    if (e == KERR_INVALID_TXN_STATE) {
        *why = "Partition was not added to the transaction";
    } else if (e == KERR_NETWORK_EXCEPTION || e == KERR_COORDINATOR_LOAD_IN_PROGRESS ||
               e == KERR_COORDINATOR_NOT_AVAILABLE || e == KERR_NOT_COORDINATOR ||
               (e == KERR_CONCURRENT_TRANSACTIONS && !v2)) {
        snprintf(buf, n, "Unable to verify the partition has been added to the transaction. Underlying error: %s",
                 kerr_name(e));
        *why = buf;
        e = KERR_NOT_ENOUGH_REPLICAS;
    }
    return e;
}

/* The coordinator's answer (V2's add, or a V1 batch's remote
 * verification), back on the reactor: the partitions' errors, then the
 * appends. */
static void txn_checked_on_reactor(reactor *r, void *arg)
{
    (void)r;
    produce_op *op = arg;
    bool v2 = op->rq->hdr.api_version >= 12;
    for (int i = 0, k = 0; i < op->ntasks; i++) {
        part_task *t = &op->tasks[i];
        int64_t pid;
        int16_t epoch;
        if (!task_transactional(t, &pid, &epoch))
            continue;
        int16_t e = op->add_error;
        if (e == KERR_NONE && op->verify_codes)
            e = op->verify_codes[k];
        k++;
        const char *why;
        char buf[160];
        e = txn_check_error(e, v2, op->rq->hdr.api_version, &why, buf, sizeof buf);
        if (e == KERR_NONE)
            continue;
        t->code = e;
        if (why) {
            snprintf(t->why_buf, sizeof t->why_buf, "%s", why);
            t->why = t->why_buf;
        }
    }
    free(op->verify_codes);
    op->verify_codes = NULL;
    produce_appends(op);
}

static void txn_added(void *arg, int16_t error)
{
    produce_op *op = arg;
    op->add_error = error;
    reactor_post(conn_reactor(op->rq->conn), txn_checked_on_reactor, op); /* never inline: the lock may be held */
}

static void txn_verified(void *arg, int16_t error, const int16_t *codes)
{
    produce_op *op = arg;
    op->add_error = error != KERR_NONE || codes ? error : KERR_UNKNOWN_SERVER_ERROR;
    if (codes && op->add_error == KERR_NONE) {
        op->verify_codes = malloc(sizeof(int16_t) * (size_t)(op->ntasks ? op->ntasks : 1));
        if (!op->verify_codes)
            op->add_error = KERR_UNKNOWN_SERVER_ERROR;
        else
            memcpy(op->verify_codes, codes, sizeof(int16_t) * (size_t)op->nchecked);
    }
    reactor_post(conn_reactor(op->rq->conn), txn_checked_on_reactor, op);
}

/*
 * KIP-890: the partitions this request writes transactional batches to,
 * before any is appended. Transactions V2 (Produce v12+): added to the
 * producer's transaction by its coordinator, as Kafka's leader does
 * (ADD_PARTITION). V1, when another broker coordinates the transactional
 * id: that broker is asked whether they are in the transaction (verify
 * only; when it is this broker, task_append asks it directly). True when
 * the coordinator was asked (the appends follow its answer).
 */
static bool txn_check_first(produce_op *op)
{
    int n = 0;
    int64_t pid = -1;
    int16_t epoch = -1;
    const char **names = arena_alloc(&op->rq->arena, sizeof(char *) * (size_t)(op->ntasks ? op->ntasks : 1));
    int32_t *parts = arena_alloc(&op->rq->arena, sizeof(int32_t) * (size_t)(op->ntasks ? op->ntasks : 1));
    if (!names || !parts)
        return false;
    for (int i = 0; i < op->ntasks; i++) {
        part_task *t = &op->tasks[i];
        int64_t p;
        int16_t e;
        if (!task_transactional(t, &p, &e))
            continue;
        if (n == 0) {
            pid = p;
            epoch = e;
        }
        names[n] = t->tp->name;
        parts[n++] = t->rp->index;
    }
    if (n == 0)
        return false;
    op->nchecked = n;
    if (op->rq->hdr.api_version < 12)
        return tcoord_verify_remote(op->b->tcoord, op->txn_id.ptr, op->txn_id.len, pid, epoch, names, parts, n,
                                    txn_verified, op);
    tcoord_add_implicit(op->b->tcoord, op->txn_id.ptr, op->txn_id.len, pid, epoch, names, parts, n, txn_added, op);
    return true;
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
    topic **tps = arena_alloc(&rq->arena, sizeof(topic *) * (size_t)(nt ? nt : 1));
    bool **keep = arena_alloc(&rq->arena, sizeof(bool *) * (size_t)(nt ? nt : 1));
    if (!op || !tps || !keep ||
        !(op->held = arena_alloc(&rq->arena, sizeof(topic *) * (size_t)(nt ? nt : 1)))) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    op->b = b;
    op->rq = rq;
    op->txn_id = body.transactional_id;
    op->tasks = NULL;
    op->nheld = 0;
    kp_produce_resp_init(&op->resp);
    op->resp.responses = arena_alloc(&rq->arena, sizeof(*op->resp.responses) * (size_t)(nt ? nt : 1));
    op->resp.responses_n = nt;
    if (body.acks == 0)
        rq->no_response = true;
    op->pending = 1; /* released below, so a flush finishing early cannot answer */
    int ntasks = 0;
    if (!op->resp.responses) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    for (int i = 0; i < nt; i++) {
        kp_produce_req_topic *rt = &body.topic_data[i];
        kp_produce_resp_topic *tr = &op->resp.responses[i];
        kp_produce_resp_topic_init(tr);
        topic *tp;
        if (rq->hdr.api_version >= 13) { /* KIP-516: topics named by id */
            tr->topic_id = rt->topic_id;
            tp = topics_get_by_id(b->topics, rt->topic_id);
            tr->name = tp ? arena_kstr(&rq->arena, tp->name) : KP_STR("");
        } else {
            tr->name = rt->name;
            tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        }
        if (tp)
            op->held[op->nheld++] = tp;
        tps[i] = tp;
        int np = rt->partition_data_n > 0 ? rt->partition_data_n : 0;
        tr->partition_responses = arena_alloc(&rq->arena, sizeof(*tr->partition_responses) * (size_t)(np ? np : 1));
        keep[i] = arena_alloc(&rq->arena, sizeof(bool) * (size_t)(np ? np : 1));
        int unique = keep[i] ? partitions_last_wins(rt, keep[i], &rq->arena) : 0;
        tr->partition_responses_n = unique;
        ntasks += unique;
        if (!tr->partition_responses || !keep[i] || unique < 0) {
            for (int h = 0; h < op->nheld; h++)
                topic_unref(op->held[h]);
            broker_bad_request(rq, "request too large for its arena");
            return;
        }
    }
    /* The tasks live until the answer; the heap, as their number is the
     * client's. Without them the connection is closed (the client retries):
     * appending inline could overtake a lane append of the same partition. */
    part_task *tasks = ntasks > 0 ? malloc(sizeof(*tasks) * (size_t)ntasks) : NULL;
    if (ntasks > 0 && !tasks) {
        for (int h = 0; h < op->nheld; h++)
            topic_unref(op->held[h]);
        glog(GLOG_ERROR, "broker", "out of memory for the %d partitions of a produce request", ntasks);
        broker_bad_request(rq, "out of memory for its partitions");
        return;
    }
    op->acks = body.acks;
    op->timeout_ms = body.timeout_ms > 0 ? body.timeout_ms : 0;
    int k = 0;
    for (int i = 0; i < nt; i++) {
        kp_produce_req_topic *rt = &body.topic_data[i];
        kp_produce_resp_topic *tr = &op->resp.responses[i];
        int r = 0;
        for (int j = 0; j < rt->partition_data_n; j++)
            if (keep[i][j]) {
                task_prepare(&tasks[k], op, tps[i], &rt->partition_data[j], &tr->partition_responses[r++],
                             body.acks);
                if (!tps[i] && rq->hdr.api_version >= 13)
                    tasks[k].code = KERR_UNKNOWN_TOPIC_ID;
                k++;
            }
        assert(r == tr->partition_responses_n);
    }
    op->tasks = tasks;
    op->ntasks = ntasks;
    op->verify_codes = NULL;
    if (op->txn_id.len > 0 && (rq->hdr.api_version >= 12 || b->txn_verify) && txn_check_first(op))
        return; /* produce_appends once the coordinator answered */
    produce_appends(op);
}

int64_t broker_flush_messages(broker *b, topic *tp)
{
    topics_read_lock(b->topics);
    int64_t every = topic_config_num(&tp->overrides, &b->cfg, TCFG_FLUSH_MESSAGES);
    topics_read_unlock(b->topics);
    return every;
}
