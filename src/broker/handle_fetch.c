/*
 * handle_fetch.c - Fetch with long poll.
 *
 * A fetch is answered at once when it has min_bytes of data, an error, or
 * max_wait_ms of 0; otherwise it is parked on its reactor: a timer at the
 * deadline, and a count on each partition it reads (fetch_waiters[reactor]).
 * An append to such a partition posts one wake-up to that reactor, which
 * re-tries all its parked fetches. Records are never copied: the response
 * carries file ranges of segments, sent with sendfile(), and keeps the
 * segments referenced until the bytes are out.
 *
 * Thread: the reactor that owns the request's connection.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"

typedef struct fetch_op {
    broker *b;
    req *rq;
    kp_fetch_req body;
    reactor_timer timer;
    struct fetch_op *prev, *next;   /* the reactor's parked list */
    topic **held;                   /* topics referenced while parked */
    int32_t *held_nparts;           /* partitions counted in each */
    partition ***held_parts;        /* which: a cluster's topics have holes, filled later */
    int nheld;
    bool parked;
} fetch_op;

/* The parked fetches are per broker and reactor (broker.h: fetch_parked,
 * touched only by that reactor's thread; fetch_wake_pending by any). */

static void release_segments(req *rq)
{
    for (int i = 0; i < rq->out.nchunks; i++)
        if (rq->out.chunks[i].owner)
            log_segment_unref(rq->out.chunks[i].owner);
}

static topic *lookup(broker *b, int16_t ver, const kp_fetch_req_topic *rt)
{
    if (ver >= 13)
        return topics_get_by_id(b->topics, rt->topic_id);
    return rt->topic.len > 0 ? topics_get(b->topics, rt->topic.ptr, rt->topic.len) : NULL;
}

/*
 * Fill one partition's answer. *budget is the response bytes left; the first
 * partition with data may exceed it (KIP-74). Returns bytes added.
 */
/* read_committed: the aborted transactions within [from, to), into pr. */
static void list_aborted(partition *p, arena *a, int64_t from, int64_t to, kp_fetch_resp_partition *pr)
{
    part_aborted few[16], *v = few;
    int n = partition_aborted_txns(p, from, to, few, 16);
    if (n > 16) {
        v = arena_alloc(a, sizeof(*v) * (size_t)n);
        if (!v)
            return;
        n = partition_aborted_txns(p, from, to, v, n);
    }
    if (n == 0)
        return;
    pr->aborted_transactions = arena_alloc(a, sizeof(*pr->aborted_transactions) * (size_t)n);
    if (!pr->aborted_transactions)
        return;
    for (int i = 0; i < n; i++) {
        kp_fetch_resp_aborted_transaction_init(&pr->aborted_transactions[i]);
        pr->aborted_transactions[i].producer_id = v[i].pid;
        pr->aborted_transactions[i].first_offset = v[i].first;
    }
    pr->aborted_transactions_n = n;
}

static int32_t read_partition(broker *b, arena *a, topic *tp, const kp_fetch_req_partition *rp,
                              kp_fetch_resp_partition *pr, int32_t budget, bool first,
                              int8_t isolation, int32_t replica, bool *error)
{
    bool follower = replica >= 0;
    kp_fetch_resp_partition_init(pr);
    pr->partition_index = rp->partition;
    pr->records = (kp_records){ NULL, 0, -1, 0, NULL };
    pr->aborted_transactions_n = isolation ? 0 : -1;
    int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    partition *p = broker_led_partition(tp, rp->partition, &why);
    if (!p) {
        pr->error_code = why;
        pr->high_watermark = -1;
        pr->aborted_transactions_n = 0; /* an empty list, as Kafka answers errors */
        *error = true;
        return 0;
    }
    int64_t start = plog_start_offset(p->log), end = plog_end_offset(p->log);
    if (follower && rp->current_leader_epoch == p->leader_epoch && rp->last_fetched_epoch >= 0 &&
        rp->last_fetched_epoch < p->leader_epoch && rp->fetch_offset > start) {
        /* KIP-320/595: does the follower's log end in an epoch this log
         * ends earlier? Then it diverged: it truncates to where that epoch
         * ends here and fetches again. */
        int32_t found;
        int64_t epoch_end = partition_epoch_end(p, rp->last_fetched_epoch, &found);
        if (epoch_end >= 0 && epoch_end < rp->fetch_offset) {
            pr->high_watermark = partition_high_watermark(p);
            pr->log_start_offset = start;
            pr->diverging_epoch.epoch = found;
            pr->diverging_epoch.end_offset = epoch_end;
            pr->diverging_epoch_present = true;
            return 0;
        }
    }
    if (follower && rp->fetch_offset <= end && rp->current_leader_epoch == p->leader_epoch)
        partition_follower_fetched(p, replica, rp->fetch_offset, clock_mono_ms()); /* its log end: the HW may move */
    pr->high_watermark = partition_high_watermark(p);
    pr->last_stable_offset = partition_last_stable_offset(p);
    /* What this reader may see: read_committed stops at the last stable
     * offset; a follower replica copies the whole log. */
    int64_t visible = follower ? end : isolation ? pr->last_stable_offset : pr->high_watermark;
    if (follower)
        isolation = 0;
    pr->log_start_offset = start;
    if (rp->current_leader_epoch >= 0 && rp->current_leader_epoch != p->leader_epoch) {
        pr->error_code = rp->current_leader_epoch > p->leader_epoch ? KERR_UNKNOWN_LEADER_EPOCH
                                                                   : KERR_FENCED_LEADER_EPOCH;
        *error = true;
        return 0;
    }
    if (plog_failure(p->log)) {
        pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        *error = true;
        return 0;
    }
    if (rp->fetch_offset < start || rp->fetch_offset > end) {
        pr->error_code = KERR_OFFSET_OUT_OF_RANGE;
        *error = true;
        return 0;
    }
    if (rp->fetch_offset >= visible || (budget <= 0 && !first))
        return 0;
    int32_t max = rp->partition_max_bytes < budget ? rp->partition_max_bytes : budget;
    plog_slice s;
    int rc = plog_read_upto(p->log, rp->fetch_offset, visible, max, first, &s);
    if (rc == LOG_ERR_OUT_OF_RANGE) {
        pr->error_code = KERR_OFFSET_OUT_OF_RANGE;
        *error = true;
        return 0;
    }
    if (rc != LOG_OK) {
        pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        *error = true;
        return 0;
    }
    if (s.len == 0) {
        if (s.seg)
            log_segment_unref(s.seg);
        return 0;
    }
    pr->records = (kp_records){ NULL, s.len, s.fd, s.pos, s.seg };
    if (isolation)
        list_aborted(p, a, rp->fetch_offset, visible, pr);
    return s.len;
}

/* Build the answer into resp. Returns the record bytes gathered; segment
 * references are in resp's records (owner) and must be released if unused. */
static int64_t fetch_gather(fetch_op *op, kp_fetch_resp *resp, bool *error)
{
    broker *b = op->b;
    req *rq = op->rq;
    int16_t ver = rq->hdr.api_version;
    kp_fetch_req *body = &op->body;
    int32_t budget = body->max_bytes < b->fetch_bytes_max ? body->max_bytes : b->fetch_bytes_max;
    /* ReplicaId (ReplicaState from v15): a follower broker, not a consumer */
    int32_t replica = ver >= 15 ? body->replica_state.replica_id : body->replica_id;
    int64_t total = 0;
    int nt = body->topics_n > 0 ? body->topics_n : 0;
    kp_fetch_resp_init(resp);
    resp->responses = arena_alloc(&rq->arena, sizeof(*resp->responses) * (size_t)(nt ? nt : 1));
    resp->responses_n = nt;
    for (int i = 0; i < nt; i++) {
        kp_fetch_req_topic *rt = &body->topics[i];
        kp_fetch_resp_topic *tr = &resp->responses[i];
        kp_fetch_resp_topic_init(tr);
        tr->topic = rt->topic;
        tr->topic_id = rt->topic_id;
        topic *tp = lookup(b, ver, rt);
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
        tr->partitions_n = np;
        for (int j = 0; j < np; j++) {
            int32_t n = read_partition(b, &rq->arena, tp, &rt->partitions[j], &tr->partitions[j],
                                       (int32_t)(budget - total), total == 0, body->isolation_level, replica,
                                       error);
            if (!tp && ver >= 13)
                tr->partitions[j].error_code = KERR_UNKNOWN_TOPIC_ID;
            total += n;
        }
        topic_unref(tp);
    }
    return total;
}

static void fetch_drop_records(kp_fetch_resp *resp)
{
    for (int i = 0; i < resp->responses_n; i++)
        for (int j = 0; j < resp->responses[i].partitions_n; j++) {
            kp_records *r = &resp->responses[i].partitions[j].records;
            if (r->owner)
                log_segment_unref(r->owner);
            r->owner = NULL;
        }
}

static void fetch_unpark(fetch_op *op)
{
    if (!op->parked)
        return;
    int rid = reactor_id(conn_reactor(op->rq->conn));
    if (op->prev)
        op->prev->next = op->next;
    else
        op->b->fetch_parked[rid] = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    reactor_timer_cancel(conn_reactor(op->rq->conn), &op->timer);
    for (int i = 0; i < op->nheld; i++) {
        topic *tp = op->held[i];
        for (int32_t j = 0; j < op->held_nparts[i]; j++)
            atomic_fetch_sub(&op->held_parts[i][j]->fetch_waiters[rid], 1);
        topic_unref(tp);
    }
    op->nheld = 0;
    op->parked = false;
}

static void fetch_timeout(reactor *r, void *arg);

/* Park op: count it on every partition of the topics it reads. */
static void fetch_park(fetch_op *op)
{
    broker *b = op->b;
    req *rq = op->rq;
    reactor *r = conn_reactor(rq->conn);
    int rid = reactor_id(r);
    int nt = op->body.topics_n > 0 ? op->body.topics_n : 0;
    op->held = arena_alloc(&rq->arena, sizeof(topic *) * (size_t)(nt ? nt : 1));
    op->held_nparts = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(nt ? nt : 1));
    op->held_parts = arena_alloc(&rq->arena, sizeof(partition **) * (size_t)(nt ? nt : 1));
    op->nheld = 0;
    for (int i = 0; i < nt && op->held && op->held_nparts && op->held_parts; i++) {
        topic *tp = lookup(b, rq->hdr.api_version, &op->body.topics[i]);
        if (!tp)
            continue;
        int32_t np = topic_nparts(tp);
        partition **v = arena_alloc(&rq->arena, sizeof(*v) * (size_t)(np ? np : 1));
        if (!v) {
            topic_unref(tp);
            continue;
        }
        int32_t k = 0;
        for (int32_t j = 0; j < np; j++) {
            partition *p = topic_partition(tp, j);
            if (!p)
                continue;
            atomic_fetch_add(&p->fetch_waiters[rid], 1);
            v[k++] = p;
        }
        op->held_parts[op->nheld] = v;
        op->held_nparts[op->nheld] = k;
        op->held[op->nheld++] = tp;
    }
    op->next = b->fetch_parked[rid];
    op->prev = NULL;
    if (op->next)
        op->next->prev = op;
    b->fetch_parked[rid] = op;
    op->parked = true;
    reactor_timer_init(&op->timer, fetch_timeout, op);
    reactor_timer_arm(r, &op->timer, rq->recv_ms + op->body.max_wait_ms);
}

/* KIP-951 (v12+ per partition, v16+ the endpoints): where the partitions
 * this broker does not lead went. */
static void leader_hints(fetch_op *op, kp_fetch_resp *resp)
{
    req *rq = op->rq;
    broker_endpoint eps[16];
    int neps = 0;
    for (int i = 0; i < resp->responses_n; i++) {
        kp_fetch_resp_topic *t = &resp->responses[i];
        topic *tp = NULL;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_fetch_resp_partition *pr = &t->partitions[j];
            if (pr->error_code != KERR_NOT_LEADER_OR_FOLLOWER && pr->error_code != KERR_FENCED_LEADER_EPOCH)
                continue;
            if (!tp && !(tp = rq->hdr.api_version >= 13 ? topics_get_by_id(op->b->topics, t->topic_id)
                                                        : topics_get(op->b->topics, t->topic.ptr, t->topic.len)))
                break;
            pr->current_leader_present =
                broker_leader_hints(op->b, &rq->arena, kp_str_c(tp->name), pr->partition_index,
                                    &pr->current_leader.leader_id, &pr->current_leader.leader_epoch, eps, &neps,
                                    16) != 0;
        }
        topic_unref(tp);
    }
    resp->node_endpoints = neps ? arena_alloc(&rq->arena, sizeof(*resp->node_endpoints) * (size_t)neps) : NULL;
    resp->node_endpoints_n = resp->node_endpoints ? neps : 0;
    for (int i = 0; i < resp->node_endpoints_n; i++)
        resp->node_endpoints[i] = (kp_fetch_resp_node_endpoint){ eps[i].node_id, eps[i].host, eps[i].port,
                                                                 eps[i].rack };
}

/* Try to answer; returns true when the request was completed. */
static bool fetch_try(fetch_op *op, bool final)
{
    kp_fetch_resp resp;
    bool error = false;
    int64_t total = fetch_gather(op, &resp, &error);
    if (!final && !error && total < op->body.min_bytes && op->body.max_wait_ms > 0 &&
        !atomic_load(&op->b->shutting_down)) {
        fetch_drop_records(&resp);
        return false;
    }
    fetch_unpark(op);
    req *rq = op->rq;
    if (error && rq->hdr.api_version >= 12)
        leader_hints(op, &resp);
    conn_resp_begin(rq);
    kp_fetch_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    rq->on_free = release_segments;
    conn_req_complete(rq);
    return true;
}

static void fetch_timeout(reactor *r, void *arg)
{
    (void)r;
    fetch_try(arg, true);
}

/* On a reactor: re-try every parked fetch. */
static void fetch_wake(reactor *r, void *arg)
{
    broker *b = arg;
    int rid = reactor_id(r);
    atomic_store(&b->fetch_wake_pending[rid], false);
    fetch_op *op = b->fetch_parked[rid];
    while (op) {
        fetch_op *next = op->next;
        fetch_try(op, false);
        op = next;
    }
}

void fetch_partition_appended(broker *b, partition *p)
{
    for (int i = 0; i < b->nreactors; i++) {
        if (atomic_load(&p->fetch_waiters[i]) == 0)
            continue;
        if (!atomic_exchange(&b->fetch_wake_pending[i], true))
            reactor_post(b->reactors[i], fetch_wake, b);
    }
}

/* Shutdown: answer every parked fetch now (posted to each reactor). */
void fetch_expire_all(reactor *r, void *arg)
{
    broker *b = arg;
    int rid = reactor_id(r);
    while (b->fetch_parked[rid])
        fetch_try(b->fetch_parked[rid], true);
}

void handle_fetch(broker *b, req *rq)
{
    fetch_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    op->b = b;
    op->rq = rq;
    kp_fetch_req_init(&op->body);
    if (kp_fetch_req_decode(&rq->body, rq->hdr.api_version, &op->body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_fetch_req *body = &op->body;
    if (body->session_id != 0 || body->session_epoch > 0) {
        /* We never hand out fetch sessions (KIP-227 allows declining), so a
         * session id or an incremental epoch names something unknown. */
        kp_fetch_resp resp;
        kp_fetch_resp_init(&resp);
        resp.error_code = body->session_id != 0 ? KERR_FETCH_SESSION_ID_NOT_FOUND : KERR_INVALID_FETCH_SESSION_EPOCH;
        resp.responses_n = 0;
        conn_resp_begin(rq);
        kp_fetch_resp_encode(&rq->out, rq->hdr.api_version, &resp);
        conn_req_complete(rq);
        return;
    }
    if (body->max_wait_ms < 0)
        body->max_wait_ms = 0;
    /* Park before the second try so an append in between is not missed. */
    if (!fetch_try(op, false)) {
        fetch_park(op);
        fetch_try(op, false);
    }
}
