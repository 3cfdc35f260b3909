/* pids.c - see pids.h. */
#include "txn/pids.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/arena.h"
#include "base/log.h"
#include "kafka_msgs.h"
#include "metadata/metalog.h"
#include "net/client.h"

struct pids {
    pthread_mutex_t lock;
    struct metalog *meta;
    int32_t node_id;
    int64_t next, end;      /* the current block: [next, end) left */
    int64_t durable_at;     /* the block's record is durable below this metadata offset */
    bool fetching;          /* AllocateProducerIds sent to the active controller */
};

/* The active controller's answer (on the quorum's reactor). */
static void on_block(void *arg, int status, const uint8_t *body, size_t len)
{
    pids *p = arg;
    kp_allocate_producer_ids_resp resp;
    kp_allocate_producer_ids_resp_init(&resp);
    bool ok = false;
    if (status == CLIENT_OK) {
        arena a;
        arena_init(&a, 1024);
        kp_reader r;
        kp_reader_init(&r, body, len, &a);
        ok = kp_allocate_producer_ids_resp_decode(&r, 0, &resp) == 0 && resp.error_code == KERR_NONE &&
             resp.producer_id_len > 0;
        arena_deinit(&a);
    }
    pthread_mutex_lock(&p->lock);
    p->fetching = false;
    if (ok && p->next >= p->end) {
        p->next = resp.producer_id_start;
        p->end = resp.producer_id_start + resp.producer_id_len;
        p->durable_at = 0; /* committed by the controller before it answered */
    }
    pthread_mutex_unlock(&p->lock);
    if (!ok)
        glog(GLOG_WARN, "txn", "no producer-id block from the controller (%s)",
             status != CLIENT_OK ? client_status_str(status) : kerr_name(resp.error_code));
}

/* Ask the active controller for a block; under lock. */
static void fetch_block_locked(pids *p)
{
    quorum *q = metalog_quorum(p->meta);
    int32_t ctl = metalog_controller_id(p->meta);
    if (p->fetching || !q || ctl < 0)
        return;
    kp_allocate_producer_ids_req m;
    kp_allocate_producer_ids_req_init(&m);
    m.broker_id = p->node_id;
    m.broker_epoch = -1;
    kp_writer w;
    kp_writer_init(&w);
    kp_allocate_producer_ids_req_encode(&w, 0, &m);
    if (!w.err) {
        p->fetching = true;
        quorum_forward(q, ctl, KP_API_ALLOCATE_PRODUCER_IDS, 0, w.buf, w.len, on_block, p);
    }
    kp_writer_deinit(&w);
}

pids *pids_new(struct metalog *m, int32_t node_id)
{
    pids *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->meta = m;
    p->node_id = node_id;
    return p;
}

void pids_free(pids *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void pids_forget(pids *p, int64_t durable_at)
{
    pthread_mutex_lock(&p->lock);
    if (p->durable_at == durable_at)
        p->next = p->end = 0;
    pthread_mutex_unlock(&p->lock);
}

int16_t pids_next(pids *p, int64_t *pid, int64_t *durable_at)
{
    pthread_mutex_lock(&p->lock);
    if (p->next >= p->end && metalog_quorum(p->meta) && !metalog_is_active(p->meta)) {
        /* Kafka's brokers get blocks from the controller: until it
         * answers, the client retries (COORDINATOR_LOAD_IN_PROGRESS) */
        fetch_block_locked(p);
        pthread_mutex_unlock(&p->lock);
        return KERR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    if (p->next >= p->end) {
        int64_t first, end_offset;
        int16_t code = metalog_allocate_producer_ids(p->meta, PIDS_BLOCK_SIZE, &first, &end_offset);
        if (code != 0) {
            pthread_mutex_unlock(&p->lock);
            return code;
        }
        p->next = first;
        p->end = first + PIDS_BLOCK_SIZE;
        p->durable_at = end_offset;
    }
    *pid = p->next++;
    *durable_at = p->durable_at;
    pthread_mutex_unlock(&p->lock);
    return 0;
}
