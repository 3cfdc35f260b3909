/*
 * handle_init_producer_id.c - InitProducerId (API key 22).
 *
 * Without a transactional id (an idempotent producer) every request gets a
 * new producer id at epoch 0, as Kafka does: a producer that lost track of
 * its sequence numbers asks again rather than bumping its epoch. The answer
 * leaves once the metadata record of the id's block is durable (pids.h).
 * With a transactional id the transaction coordinator answers
 * (src/txn/tcoord.c).
 */
#include "broker/broker.h"
#include "metadata/metalog.h"
#include "txn/pids.h"
#include "txn/tcoord.h"

typedef struct pid_op {
    req *rq;
    kp_init_producer_id_resp resp;
    broker *b;
    kp_init_producer_id_req body;   /* a transactional request, for the coordinator */
    int64_t fresh_pid, durable_at;
} pid_op;

static void pid_respond(pid_op *op)
{
    req *rq = op->rq;
    conn_resp_begin(rq);
    kp_init_producer_id_resp_encode(&rq->out, rq->hdr.api_version, &op->resp);
    conn_req_complete(rq);
}

static void pid_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    pid_op *op = arg;
    if (rc == METALOG_NOT_CONTROLLER) { /* the id block was not committed: a retriable refusal */
        pids_forget(op->b->pids, op->durable_at);
        op->resp.error_code = KERR_COORDINATOR_LOAD_IN_PROGRESS;
        op->resp.producer_id = -1;
        op->resp.producer_epoch = -1;
    } else if (rc != LOG_OK) {
        op->resp.error_code = KERR_KAFKA_STORAGE_ERROR;
        op->resp.producer_id = -1;
        op->resp.producer_epoch = -1;
    }
    pid_respond(op);
}

static void txn_pid_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    pid_op *op = arg;
    if (rc != LOG_OK) {
        if (rc == METALOG_NOT_CONTROLLER)
            pids_forget(op->b->pids, op->durable_at);
        op->resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
        pid_respond(op);
        return;
    }
    tcoord_init_producer_id(op->b->tcoord, op->rq, &op->body, op->fresh_pid);
}

void handle_init_producer_id(broker *b, req *rq)
{
    kp_init_producer_id_req body;
    kp_init_producer_id_req_init(&body);
    if (kp_init_producer_id_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    pid_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    op->rq = rq;
    kp_init_producer_id_resp_init(&op->resp);
    op->resp.producer_id = -1;
    op->resp.producer_epoch = -1;
    if (body.transactional_id.len >= 0) {
        /* The transaction coordinator answers, with a durable fresh id at
         * hand in case it needs one (a new transactional id, or epochs
         * exhausted). */
        op->body = body;
        if (tcoord_has_spare_pid(b->tcoord)) {
            tcoord_init_producer_id(b->tcoord, rq, &op->body, -1);
            return;
        }
        op->b = b;
        int16_t code = pids_next(b->pids, &op->fresh_pid, &op->durable_at);
        if (code != KERR_NONE) {
            op->resp.error_code = code == KERR_COORDINATOR_LOAD_IN_PROGRESS ? code : KERR_COORDINATOR_NOT_AVAILABLE;
            pid_respond(op);
            return;
        }
        metalog_wait_applied(b->meta, op->durable_at, conn_reactor(rq->conn), txn_pid_durable, op);
        return;
    }
    int64_t pid, durable_at;
    int16_t code = pids_next(b->pids, &pid, &durable_at);
    if (code != KERR_NONE) {
        op->resp.error_code = code == KERR_KAFKA_STORAGE_ERROR || code == KERR_COORDINATOR_LOAD_IN_PROGRESS
                                  ? code
                                  : KERR_UNKNOWN_SERVER_ERROR;
        pid_respond(op);
        return;
    }
    op->resp.producer_id = pid;
    op->resp.producer_epoch = 0;
    op->b = b;
    op->durable_at = durable_at;
    metalog_wait_applied(b->meta, durable_at, conn_reactor(rq->conn), pid_durable, op);
}
