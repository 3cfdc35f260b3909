/*
 * tmark.c - see tmark.h.
 *
 * Everything but tmark_send's allocation runs on the replica reactor's
 * thread: the peer table needs no lock.
 */
#include "txn/tmark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "net/client.h"
#include "net/reactor.h"

#define MARK_REQUEST_TIMEOUT_MS 30000
#define MARK_VERSION 2 /* WriteTxnMarkers v2 (the transaction's version, KIP-1228), what Kafka 4.4 sends */
#define ADD_VERSION 5  /* AddPartitionsToTxn v5, the brokers' batched form Kafka 4.4 sends */

typedef struct peer {
    int32_t node;
    char host[256];
    int port;
    client *c;
} peer;

struct tmark {
    broker *b;
    reactor *r;
    peer *peers;        /* reactor thread only */
    int npeers;
    bool stopped;       /* reactor thread only */
};

typedef struct mreq {
    tmark *m;
    char *topic;
    int32_t partition;
    int64_t pid;
    int16_t epoch;
    int32_t coordinator_epoch;
    bool commit;
    int16_t tv;
    tmark_cb cb;
    void *arg;
} mreq;

tmark *tmark_new(void *ctx)
{
    broker *b = ctx;
    if (!b || !b->rreactor)
        return NULL;
    tmark *m = calloc(1, sizeof(*m));
    if (!m) {
        glog(GLOG_ERROR, "txn", "out of memory for the marker connections");
        abort();
    }
    m->b = b;
    m->r = b->rreactor;
    return m;
}

static void finish(mreq *q, int16_t error)
{
    q->cb(q->arg, error);
    free(q->topic);
    free(q);
}

/* The connection to broker node at host:port, made when missing (or when
 * the broker registered again elsewhere). */
static client *peer_client(tmark *m, int32_t node, const char *host, int port)
{
    peer *p = NULL;
    for (int i = 0; i < m->npeers && !p; i++)
        if (m->peers[i].node == node)
            p = &m->peers[i];
    if (p && (strcmp(p->host, host) != 0 || p->port != port)) {
        client_close(p->c);
        p->c = NULL;
    }
    if (!p) {
        peer *v = realloc(m->peers, sizeof(*v) * (size_t)(m->npeers + 1));
        if (!v)
            return NULL;
        m->peers = v;
        p = &m->peers[m->npeers++];
        memset(p, 0, sizeof(*p));
        p->node = node;
    }
    if (!p->c) {
        snprintf(p->host, sizeof p->host, "%s", host);
        p->port = port;
        client_options o;
        client_options_init(&o);
        o.request_timeout_ms = MARK_REQUEST_TIMEOUT_MS;
        /* A dead peer fails what waits for it at once (as Kafka's marker
         * channel and AddPartitionsToTxnManager): the marker is retried
         * and the producer's add answered NOT_ENOUGH_REPLICAS, both
         * looking for the leader again, rather than after 30 s. */
        o.fail_unsent_on_failure = true;
        o.seed = (uint64_t)m->b->node_id * 7919u + (uint64_t)node;
        char cid[64];
        snprintf(cid, sizeof cid, "txn-marker-sender-%d", m->b->node_id);
        p->c = client_new(m->r, p->host, p->port, cid, &o);
        if (!p->c)
            glog(GLOG_ERROR, "txn", "cannot create the marker connection to broker %d at %s:%d", node, host, port);
    }
    return p->c;
}

static void on_answer(client *cl, const client_response *r, void *arg)
{
    (void)cl;
    mreq *q = arg;
    if (r->status != CLIENT_OK) {
        finish(q, q->m->stopped ? KERR_NOT_COORDINATOR : KERR_NETWORK_EXCEPTION);
        return;
    }
    arena a;
    arena_init(&a, 4096);
    kp_reader rd;
    kp_reader_init(&rd, r->body, r->body_len, &a);
    kp_write_txn_markers_resp resp;
    kp_write_txn_markers_resp_init(&resp);
    int16_t code = KERR_UNKNOWN_SERVER_ERROR;
    if (kp_write_txn_markers_resp_decode(&rd, r->api_version, &resp) == 0) {
        for (int i = 0; i < resp.markers_n; i++)
            for (int j = 0; resp.markers[i].producer_id == q->pid && j < resp.markers[i].topics_n; j++) {
                kp_write_txn_markers_resp_writable_txn_marker_topic_result *t = &resp.markers[i].topics[j];
                for (int k = 0; k < t->partitions_n; k++)
                    if (t->partitions[k].partition_index == q->partition)
                        code = t->partitions[k].error_code;
            }
    }
    arena_deinit(&a);
    finish(q, code);
}

static void send_on_reactor(reactor *r, void *arg)
{
    (void)r;
    mreq *q = arg;
    tmark *m = q->m;
    if (m->stopped) {
        finish(q, KERR_NOT_COORDINATOR);
        return;
    }
    arena a;
    arena_init(&a, 1024);
    int32_t node = -1, port = -1;
    kp_str host = KP_STR_NULL;
    int16_t code = broker_coordinator_of(m->b, q->topic, q->partition, &node, &host, &port, &a);
    client *cl = NULL;
    if (code == KERR_NONE && node != m->b->node_id && host.len > 0) {
        char h[256];
        snprintf(h, sizeof h, "%.*s", (int)host.len, host.ptr);
        cl = peer_client(m, node, h, port);
    }
    arena_deinit(&a);
    if (!cl) {
        finish(q, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    int32_t part = q->partition;
    kp_write_txn_markers_req_writable_txn_marker_topic t;
    kp_write_txn_markers_req_writable_txn_marker_topic_init(&t);
    t.name = kp_str_c(q->topic);
    t.partition_indexes = &part;
    t.partition_indexes_n = 1;
    kp_write_txn_markers_req_writable_txn_marker mk;
    kp_write_txn_markers_req_writable_txn_marker_init(&mk);
    mk.producer_id = q->pid;
    mk.producer_epoch = q->epoch;
    mk.transaction_result = q->commit;
    mk.topics = &t;
    mk.topics_n = 1;
    mk.coordinator_epoch = q->coordinator_epoch;
    mk.transaction_version = (int8_t)q->tv;
    kp_write_txn_markers_req wr;
    kp_write_txn_markers_req_init(&wr);
    wr.markers = &mk;
    wr.markers_n = 1;
    if (client_send_msg(cl, KP_API_WRITE_TXN_MARKERS, MARK_VERSION, &wr, on_answer, q) != 0)
        finish(q, KERR_NETWORK_EXCEPTION);
}

void tmark_send(tmark *m, const char *tname, int32_t part, int64_t pid, int16_t epoch,
                int32_t coordinator_epoch, bool commit, int16_t tv, tmark_cb cb, void *arg)
{
    mreq *q = malloc(sizeof(*q));
    char *t = strdup(tname);
    if (!q || !t) {
        glog(GLOG_ERROR, "txn", "out of memory sending a marker");
        abort();
    }
    *q = (mreq){ m, t, part, pid, epoch, coordinator_epoch, commit, tv, cb, arg };
    reactor_post(m->r, send_on_reactor, q);
}

/* ---- AddPartitionsToTxn to a remote coordinator ---- */

typedef struct areq {
    tmark *m;
    int32_t state_part;
    char *txn_id;
    int32_t txn_id_len;
    int64_t pid;
    int16_t epoch;
    char **topics;
    int32_t *partitions;
    int n;
    bool verify_only;
    tmark_add_cb cb;
    void *arg;
} areq;

static void afinish(areq *q, int16_t error, const int16_t *codes)
{
    q->cb(q->arg, error, codes);
    for (int i = 0; i < q->n; i++)
        free(q->topics[i]);
    free(q->topics);
    free(q->partitions);
    free(q->txn_id);
    free(q);
}

static void on_add_answer(client *cl, const client_response *r, void *arg)
{
    (void)cl;
    areq *q = arg;
    if (r->status != CLIENT_OK) {
        afinish(q, q->m->stopped ? KERR_NOT_COORDINATOR : KERR_NETWORK_EXCEPTION, NULL);
        return;
    }
    arena a;
    arena_init(&a, 4096);
    kp_reader rd;
    kp_reader_init(&rd, r->body, r->body_len, &a);
    kp_add_partitions_to_txn_resp resp;
    kp_add_partitions_to_txn_resp_init(&resp);
    int16_t *codes = calloc((size_t)(q->n ? q->n : 1), sizeof(int16_t));
    if (!codes) {
        glog(GLOG_ERROR, "txn", "out of memory reading an AddPartitionsToTxn answer");
        abort();
    }
    int16_t code = KERR_UNKNOWN_SERVER_ERROR;
    bool decoded = kp_add_partitions_to_txn_resp_decode(&rd, r->api_version, &resp) == 0;
    if (decoded) {
        code = resp.error_code;
        /* a partition the answer leaves out was not asked about: the whole
         * answer is suspect, as Kafka's handler treats it */
        for (int p = 0; p < q->n; p++)
            codes[p] = KERR_UNKNOWN_SERVER_ERROR;
        for (int i = 0; i < resp.results_by_transaction_n; i++)
            for (int j = 0; j < resp.results_by_transaction[i].topic_results_n; j++) {
                const kp_add_partitions_to_txn_resp_txn_topic_result *t = &resp.results_by_transaction[i].topic_results[j];
                for (int k = 0; k < t->results_by_partition_n; k++)
                    for (int p = 0; p < q->n; p++)
                        if (q->partitions[p] == t->results_by_partition[k].partition_index &&
                            kp_str_eq(t->name, q->topics[p]))
                            codes[p] = t->results_by_partition[k].partition_error_code;
            }
    }
    arena_deinit(&a);
    afinish(q, code, decoded && code == KERR_NONE ? codes : NULL);
    free(codes);
}

static void add_on_reactor(reactor *r, void *arg)
{
    (void)r;
    areq *q = arg;
    tmark *m = q->m;
    if (m->stopped) {
        afinish(q, KERR_NOT_COORDINATOR, NULL);
        return;
    }
    arena a;
    arena_init(&a, 4096);
    int32_t node = -1, port = -1;
    kp_str host = KP_STR_NULL;
    int16_t code = broker_coordinator_of(m->b, "__transaction_state", q->state_part, &node, &host, &port, &a);
    client *cl = NULL;
    if (code == KERR_NONE && node != m->b->node_id && host.len > 0) {
        char h[256];
        snprintf(h, sizeof h, "%.*s", (int)host.len, host.ptr);
        cl = peer_client(m, node, h, port);
    }
    if (!cl) {
        arena_deinit(&a);
        afinish(q, KERR_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    /* one topic entry per run of equal names (the caller's order) */
    kp_add_partitions_to_txn_req_txn_topic *tv = arena_alloc(&a, sizeof(*tv) * (size_t)(q->n ? q->n : 1));
    int nt = 0;
    for (int i = 0; tv && i < q->n; i++) {
        if (nt == 0 || strcmp(tv[nt - 1].name.ptr, q->topics[i]) != 0) {
            kp_add_partitions_to_txn_req_txn_topic_init(&tv[nt]);
            tv[nt].name = kp_str_c(q->topics[i]);
            tv[nt].partitions = &q->partitions[i];
            tv[nt].partitions_n = 0;
            nt++;
        }
        tv[nt - 1].partitions_n++;
    }
    kp_add_partitions_to_txn_req_transaction t;
    kp_add_partitions_to_txn_req_transaction_init(&t);
    t.transactional_id = (kp_str){ q->txn_id, q->txn_id_len };
    t.producer_id = q->pid;
    t.producer_epoch = q->epoch;
    t.verify_only = q->verify_only;
    t.topics = tv;
    t.topics_n = tv ? nt : 0;
    kp_add_partitions_to_txn_req ar;
    kp_add_partitions_to_txn_req_init(&ar);
    ar.transactions = &t;
    ar.transactions_n = 1;
    int rc = tv ? client_send_msg(cl, KP_API_ADD_PARTITIONS_TO_TXN, ADD_VERSION, &ar, on_add_answer, q) : -1;
    arena_deinit(&a);
    if (rc != 0)
        afinish(q, KERR_NETWORK_EXCEPTION, NULL);
}

void tmark_add_partitions(tmark *m, int32_t state_part, const char *txn_id, int32_t txn_id_len, int64_t pid,
                          int16_t epoch, const char *const *tnames, const int32_t *partitions, int n,
                          bool verify_only, tmark_add_cb cb, void *arg)
{
    areq *q = calloc(1, sizeof(*q));
    if (q) {
        q->topics = calloc((size_t)(n ? n : 1), sizeof(char *));
        q->partitions = calloc((size_t)(n ? n : 1), sizeof(int32_t));
        q->txn_id = malloc((size_t)txn_id_len + 1);
    }
    if (!q || !q->topics || !q->partitions || !q->txn_id) {
        glog(GLOG_ERROR, "txn", "out of memory adding partitions to a transaction");
        abort();
    }
    memcpy(q->txn_id, txn_id, (size_t)txn_id_len);
    q->txn_id[txn_id_len] = '\0';
    for (int i = 0; i < n; i++) {
        q->topics[i] = strdup(tnames[i]);
        if (!q->topics[i])
            abort();
        q->partitions[i] = partitions[i];
    }
    q->m = m;
    q->state_part = state_part;
    q->txn_id_len = txn_id_len;
    q->pid = pid;
    q->epoch = epoch;
    q->n = n;
    q->verify_only = verify_only;
    q->cb = cb;
    q->arg = arg;
    reactor_post(m->r, add_on_reactor, q);
}

static void stop_on_reactor(reactor *r, void *arg)
{
    (void)r;
    tmark *m = arg;
    m->stopped = true;
    for (int i = 0; i < m->npeers; i++) {
        if (m->peers[i].c)
            client_close(m->peers[i].c);
        m->peers[i].c = NULL;
    }
}

void tmark_stop(tmark *m)
{
    if (m)
        reactor_post(m->r, stop_on_reactor, m);
}

void tmark_free(tmark *m)
{
    if (!m)
        return;
    free(m->peers);
    free(m);
}
