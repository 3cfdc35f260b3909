/*
 * handle_txn.c - the transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn,
 * EndTxn (answered by the transaction coordinator, src/txn/tcoord.c), and
 * the operators' DescribeTransactions, ListTransactions, DescribeProducers
 * and WriteTxnMarkers (kafka-transactions.sh abort, and the transaction
 * coordinators of other brokers: answered once each marker is acknowledged,
 * NOT_LEADER_OR_FOLLOWER for a partition led elsewhere). InitProducerId is
 * in handle_init_producer_id.c,
 * TxnOffsetCommit with the group coordinator (src/group/group_api.c).
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "broker/broker.h"
#include "proto/kerrors.h"
#include "group/coordinator.h"
#include "metadata/metalog.h"
#include "txn/pids.h"
#include "txn/tcoord.h"

static bool partition_exists(broker *b, kp_str name, int32_t p, bool internal_ok)
{
    topic *tp = name.len > 0 ? topics_get(b->topics, name.ptr, name.len) : NULL;
    bool ok = tp && (internal_ok || !tp->internal) && p >= 0 && p < topic_nparts(tp);
    topic_unref(tp);
    return ok;
}

/* v4+, from brokers (KIP-890): per transaction, a partition that does not
 * exist decides that transaction at once (it UNKNOWN_TOPIC_OR_PARTITION,
 * the others OPERATION_NOT_ATTEMPTED); the rest go to the coordinator.
 * Internal topics may be named (the brokers' requests are not authorized
 * per topic, as Kafka's). */
static void add_partitions_batch(broker *b, req *rq, kp_add_partitions_to_txn_req *body)
{
    int nt = body->transactions_n > 0 ? body->transactions_n : 0;
    int16_t **decided = arena_alloc(&rq->arena, sizeof(int16_t *) * (size_t)(nt ? nt : 1));
    if (!decided) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    for (int ti = 0; ti < nt; ti++) {
        const kp_add_partitions_to_txn_req_transaction *t = &body->transactions[ti];
        decided[ti] = NULL;
        if (t->transactional_id.len < 0) {
            broker_bad_request(rq, "a null transactional id");
            return;
        }
        int n = 0;
        for (int i = 0; i < t->topics_n; i++)
            n += t->topics[i].partitions_n > 0 ? t->topics[i].partitions_n : 0;
        int16_t *codes = arena_alloc(&rq->arena, sizeof(int16_t) * (size_t)(n ? n : 1));
        if (!codes) {
            broker_bad_request(rq, "request too large for its arena");
            return;
        }
        bool all_known = true;
        n = 0;
        for (int i = 0; i < t->topics_n; i++)
            for (int j = 0; j < t->topics[i].partitions_n; j++, n++) {
                bool known = partition_exists(b, t->topics[i].name, t->topics[i].partitions[j], true);
                codes[n] = known ? KERR_OPERATION_NOT_ATTEMPTED : KERR_UNKNOWN_TOPIC_OR_PARTITION;
                all_known = all_known && known;
            }
        if (!all_known)
            decided[ti] = codes;
    }
    tcoord_add_partitions_batch(b->tcoord, rq, body, decided);
}

/*
 * AddPartitionsToTxn v0-3: as Kafka's request layer does, a request naming
 * a partition that does not exist is answered at once, that partition
 * UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
 */
void handle_add_partitions_to_txn(broker *b, req *rq)
{
    kp_add_partitions_to_txn_req *body = arena_alloc(&rq->arena, sizeof(*body));
    if (!body) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    kp_add_partitions_to_txn_req_init(body);
    if (kp_add_partitions_to_txn_req_decode(&rq->body, rq->hdr.api_version, body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    if (rq->hdr.api_version >= 4) {
        add_partitions_batch(b, rq, body);
        return;
    }
    int nt = body->v3_and_below_topics_n > 0 ? body->v3_and_below_topics_n : 0;
    bool all_known = true;
    bool **known = arena_alloc(&rq->arena, sizeof(bool *) * (size_t)(nt ? nt : 1));
    for (int i = 0; known && i < nt; i++) {
        kp_add_partitions_to_txn_req_topic *t = &body->v3_and_below_topics[i];
        int np = t->partitions_n > 0 ? t->partitions_n : 0;
        known[i] = arena_alloc(&rq->arena, sizeof(bool) * (size_t)(np ? np : 1));
        topic *tp = t->name.len > 0 ? topics_get(b->topics, t->name.ptr, t->name.len) : NULL;
        for (int j = 0; known[i] && j < np; j++) {
            known[i][j] = tp && !tp->internal && t->partitions[j] >= 0 && t->partitions[j] < topic_nparts(tp);
            all_known = all_known && known[i][j];
        }
        topic_unref(tp);
    }
    if (all_known) {
        tcoord_add_partitions(b->tcoord, rq, body);
        return;
    }
    kp_add_partitions_to_txn_resp resp;
    kp_add_partitions_to_txn_resp_init(&resp);
    resp.results_by_topic_v3_and_below = arena_alloc(&rq->arena, sizeof(*resp.results_by_topic_v3_and_below) * (size_t)(nt ? nt : 1));
    resp.results_by_topic_v3_and_below_n = resp.results_by_topic_v3_and_below && known ? nt : 0;
    for (int i = 0; i < resp.results_by_topic_v3_and_below_n; i++) {
        kp_add_partitions_to_txn_req_topic *t = &body->v3_and_below_topics[i];
        kp_add_partitions_to_txn_resp_topic_result *r = &resp.results_by_topic_v3_and_below[i];
        kp_add_partitions_to_txn_resp_topic_result_init(r);
        r->name = t->name;
        int np = t->partitions_n > 0 ? t->partitions_n : 0;
        r->results_by_partition = arena_alloc(&rq->arena, sizeof(*r->results_by_partition) * (size_t)(np ? np : 1));
        r->results_by_partition_n = r->results_by_partition && known[i] ? np : 0;
        for (int j = 0; j < r->results_by_partition_n; j++) {
            kp_add_partitions_to_txn_resp_partition_result_init(&r->results_by_partition[j]);
            r->results_by_partition[j].partition_index = t->partitions[j];
            r->results_by_partition[j].partition_error_code =
                known[i][j] ? KERR_OPERATION_NOT_ATTEMPTED : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    conn_resp_begin(rq);
    kp_add_partitions_to_txn_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}

void handle_add_offsets_to_txn(broker *b, req *rq)
{
    kp_add_offsets_to_txn_req body;
    kp_add_offsets_to_txn_req_init(&body);
    if (kp_add_offsets_to_txn_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    tcoord_add_offsets(b->tcoord, rq, &body);
}

typedef struct end_op {
    broker *b;
    req *rq;
    kp_end_txn_req body;
    int64_t fresh_pid, durable_at;
} end_op;

static void end_pid_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    end_op *op = arg;
    if (rc != LOG_OK) {
        if (rc == METALOG_NOT_CONTROLLER)
            pids_forget(op->b->pids, op->durable_at);
        op->fresh_pid = -1; /* the machine answers COORDINATOR_LOAD_IN_PROGRESS if it needed one */
    }
    tcoord_end_txn(op->b->tcoord, op->rq, &op->body, op->fresh_pid);
}

void handle_end_txn(broker *b, req *rq)
{
    end_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    kp_end_txn_req_init(&op->body);
    if (kp_end_txn_req_decode(&rq->body, rq->hdr.api_version, &op->body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    /* V2 (v5+): a commit at the last epoch moves the producer to a new id;
     * the coordinator keeps one durable id at hand for it (a spare). */
    if (rq->hdr.api_version < 5 || tcoord_has_spare_pid(b->tcoord) ||
        pids_next(b->pids, &op->fresh_pid, &op->durable_at) != KERR_NONE) {
        tcoord_end_txn(b->tcoord, rq, &op->body, -1);
        return;
    }
    op->b = b;
    op->rq = rq;
    metalog_wait_applied(b->meta, op->durable_at, conn_reactor(rq->conn), end_pid_durable, op);
}

void handle_describe_transactions(broker *b, req *rq)
{
    kp_describe_transactions_req body;
    kp_describe_transactions_req_init(&body);
    if (kp_describe_transactions_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_transactions_resp resp;
    kp_describe_transactions_resp_init(&resp);
    tcoord_describe(b->tcoord, rq, &body, &resp);
    conn_resp_begin(rq);
    kp_describe_transactions_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}

void handle_list_transactions(broker *b, req *rq)
{
    kp_list_transactions_req body;
    kp_list_transactions_req_init(&body);
    if (kp_list_transactions_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_list_transactions_resp resp;
    kp_list_transactions_resp_init(&resp);
    tcoord_list(b->tcoord, rq, &body, &resp);
    conn_resp_begin(rq);
    kp_list_transactions_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}

/* DescribeProducers: each partition's producer state, as Kafka lists it. */
void handle_describe_producers(broker *b, req *rq)
{
    kp_describe_producers_req body;
    kp_describe_producers_req_init(&body);
    if (kp_describe_producers_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_producers_resp resp;
    kp_describe_producers_resp_init(&resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nt ? nt : 1));
    resp.topics_n = resp.topics ? nt : 0;
    for (int i = 0; i < resp.topics_n; i++) {
        kp_describe_producers_req_topic_request *rt = &body.topics[i];
        kp_describe_producers_resp_topic_response *t = &resp.topics[i];
        kp_describe_producers_resp_topic_response_init(t);
        t->name = rt->name;
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        int np = rt->partition_indexes_n > 0 ? rt->partition_indexes_n : 0;
        t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
        t->partitions_n = t->partitions ? np : 0;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_describe_producers_resp_partition_response *pr = &t->partitions[j];
            kp_describe_producers_resp_partition_response_init(pr);
            pr->partition_index = rt->partition_indexes[j];
            int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            partition *p = broker_led_partition(tp, pr->partition_index, &why);
            if (!p) {
                pr->error_code = why;
                pr->error_message = kp_str_c(kerr_message(why));
                continue;
            }
            prod_entry *v;
            int n = partition_producers(p, &v);
            if (n < 0) {
                pr->error_code = KERR_UNKNOWN_SERVER_ERROR;
                continue;
            }
            pr->active_producers = arena_alloc(&rq->arena, sizeof(*pr->active_producers) * (size_t)(n ? n : 1));
            pr->active_producers_n = pr->active_producers ? n : 0;
            for (int k = 0; k < pr->active_producers_n; k++) {
                kp_describe_producers_resp_producer_state *s = &pr->active_producers[k];
                kp_describe_producers_resp_producer_state_init(s);
                s->producer_id = v[k].pid;
                s->producer_epoch = v[k].epoch;
                s->last_sequence = v[k].nbatches > 0 ? v[k].batches[v[k].nbatches - 1].last_seq : -1;
                s->last_timestamp = v[k].last_ts;
                s->coordinator_epoch = v[k].coordinator_epoch;
                s->current_txn_start_offset = v[k].txn_first_offset;
            }
            free(v);
        }
        topic_unref(tp);
    }
    conn_resp_begin(rq);
    kp_describe_producers_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}

/* ---- WriteTxnMarkers: an operator's abort of a hanging transaction
 * (kafka-transactions.sh abort), or a coordinator elsewhere. ---- */

/* How long a marker waits for the in-sync replicas (Kafka: the request
 * timeout of the coordinator's sender, 30 s; below it, so that the answer
 * beats the sender's own timeout). */
#define MARKER_ACK_TIMEOUT_MS 25000

typedef struct marker_op {
    req *rq;
    kp_write_txn_markers_resp resp;
    int pending;
} marker_op;

static void markers_respond(marker_op *op)
{
    conn_resp_begin(op->rq);
    kp_write_txn_markers_resp_encode(&op->rq->out, op->rq->hdr.api_version, &op->resp);
    conn_req_complete(op->rq);
}

typedef struct marker_wait {
    marker_op *op;
    int16_t *code;
} marker_wait;

/* The marker is acknowledged (durable, and on a replicated partition under
 * the high watermark), or not: Kafka appends markers with acks=all. */
static void marker_acked(reactor *r, void *arg, int rc)
{
    (void)r;
    marker_wait *w = arg;
    if (rc == PART_WAIT_NOT_LEADER)
        *w->code = KERR_NOT_LEADER_OR_FOLLOWER;
    else if (rc == PART_WAIT_TIMEOUT)
        *w->code = KERR_REQUEST_TIMED_OUT;
    else if (rc != LOG_OK)
        *w->code = KERR_KAFKA_STORAGE_ERROR;
    if (--w->op->pending == 0)
        markers_respond(w->op);
}

void handle_write_txn_markers(broker *b, req *rq)
{
    kp_write_txn_markers_req body;
    kp_write_txn_markers_req_init(&body);
    if (kp_write_txn_markers_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    marker_op *op = arena_alloc(&rq->arena, sizeof(*op));
    int nm = body.markers_n > 0 ? body.markers_n : 0;
    if (!op) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    op->rq = rq;
    op->pending = 1;
    kp_write_txn_markers_resp_init(&op->resp);
    op->resp.markers = arena_alloc(&rq->arena, sizeof(*op->resp.markers) * (size_t)(nm ? nm : 1));
    op->resp.markers_n = op->resp.markers ? nm : 0;
    for (int i = 0; i < op->resp.markers_n; i++) {
        kp_write_txn_markers_req_writable_txn_marker *m = &body.markers[i];
        kp_write_txn_markers_resp_writable_txn_marker_result *mr = &op->resp.markers[i];
        kp_write_txn_markers_resp_writable_txn_marker_result_init(mr);
        mr->producer_id = m->producer_id;
        int nt = m->topics_n > 0 ? m->topics_n : 0;
        mr->topics = arena_alloc(&rq->arena, sizeof(*mr->topics) * (size_t)(nt ? nt : 1));
        mr->topics_n = mr->topics ? nt : 0;
        for (int j = 0; j < mr->topics_n; j++) {
            kp_write_txn_markers_req_writable_txn_marker_topic *t = &m->topics[j];
            kp_write_txn_markers_resp_writable_txn_marker_topic_result *tr = &mr->topics[j];
            kp_write_txn_markers_resp_writable_txn_marker_topic_result_init(tr);
            tr->name = t->name;
            int np = t->partition_indexes_n > 0 ? t->partition_indexes_n : 0;
            tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
            tr->partitions_n = tr->partitions ? np : 0;
            topic *tp = t->name.len > 0 ? topics_get(b->topics, t->name.ptr, t->name.len) : NULL;
            for (int k = 0; k < tr->partitions_n; k++) {
                kp_write_txn_markers_resp_writable_txn_marker_partition_result *pr = &tr->partitions[k];
                kp_write_txn_markers_resp_writable_txn_marker_partition_result_init(pr);
                pr->partition_index = t->partition_indexes[k];
                int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                partition *p = broker_led_partition(tp, pr->partition_index, &why);
                if (!p) {
                    pr->error_code = why;
                    continue;
                }
                part_result res;
                partition_write_marker(p, m->producer_id, m->producer_epoch, m->coordinator_epoch,
                                       m->transaction_result, m->transaction_version, clock_now_ms(), &res);
                if (res.error) {
                    pr->error_code = res.error;
                    continue;
                }
                if (res.log_rc != LOG_OK) {
                    pr->error_code = KERR_KAFKA_STORAGE_ERROR;
                    continue;
                }
                if (tp->internal && strcmp(tp->name, "__consumer_offsets") == 0)
                    coord_txn_marker(b->coord, pr->partition_index, m->producer_id, m->transaction_result);
                marker_wait *w = arena_alloc(&rq->arena, sizeof(*w));
                if (!w)
                    continue;
                *w = (marker_wait){ op, &pr->error_code };
                op->pending++;
                partition_wait_acked(p, res.last + 1, clock_mono_ms() + MARKER_ACK_TIMEOUT_MS,
                                     conn_reactor(rq->conn), marker_acked, w);
            }
            topic_unref(tp);
        }
    }
    if (--op->pending == 0)
        markers_respond(op);
}
