/*
 * tcoord.c - see tcoord.h.
 *
 * Every call into a machine collects its actions in a txn_actions of its
 * own (on the stack) and runs them at once, so an action that completes at
 * once (a failed append) may call into the machine again without upsetting
 * the list being run.
 */
#include "txn/tcoord.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker_config.h"
#include "broker/topics.h"
#include "cluster/partition.h"
#include "group/coordinator.h"
#include "net/reactor.h"
#include "proto/batch.h"
#include "proto/records.h"
#include "proto/batch_build.h"
#include "txn/tmark.h"
#include "txn/txn.h"

#define OFFSETS_TOPIC "__consumer_offsets"
#define MARKER_RETRY_MS 1000
/* How long a write to a replicated __transaction_state partition (or a
 * local marker) waits for the in-sync replicas: Kafka's coordinator uses
 * request.timeout.ms (30 s) for its appends. */
#define ACKED_TIMEOUT_MS 30000
/* A V2 add that meets a transition in flight (CONCURRENT_TRANSACTIONS) is
 * tried again for this long before that answer goes out: Kafka's leader
 * retries it so (add.partitions.to.txn.retry.backoff.max.ms, 100 ms). */
#define ADD_RETRY_MS 100

/* A request waiting for a machine: the token. Lives in the request's arena. */
/* AddPartitionsToTxn v4+ (the brokers' batched form): one answer for
 * several transactions, sent when the last of them is decided. */
typedef struct addb {
    const kp_add_partitions_to_txn_req *body;
    int16_t **codes;        /* per transaction, per partition (topics flattened) */
    atomic_int pending;     /* transactions not decided yet */
} addb;

typedef struct tq {
    req *rq;                /* NULL: an add of this broker's own (tcoord_add_implicit) */
    int16_t api;
    const kp_add_partitions_to_txn_req *addp; /* AddPartitionsToTxn: to shape the answer */
    addb *batch;            /* AddPartitionsToTxn v4+: the batch, and this one's place in it */
    int ti;
    tcoord_add_cb cb;       /* tcoord_add_implicit: told the answer (malloc'd tq, freed after) */
    void *arg;
    /* A V2 add (a leader's, for Produce v12+ or TxnOffsetCommit v5+): kept
     * in the coordinator's FIFO while the id has a transition in flight,
     * so a producer's adds are answered in the order they came. */
    bool v2add;
    txn_str id;             /* the add: owned when cb is set, else in rq's arena */
    int64_t pid;
    int16_t epoch;
    txn_partition *parts;
    int nparts;
    int64_t deadline;       /* clock_mono_ms() after which CONCURRENT_TRANSACTIONS is answered */
    struct tq *qnext;
} tq;

/* Markers of one transaction being written. */
typedef struct mjob {
    struct mjob *next;          /* in the retry list */
    int32_t k;                  /* the machine */
    uint64_t gen;               /* c->gen[k] when made: another means the machine is gone */
    txn_str txn_id;             /* owned (tdup) */
    int64_t pid;
    int16_t epoch;
    bool commit;
    int16_t tv;                 /* the transaction's version: 2, a V2 marker */
    int32_t coordinator_epoch;
    txn_partition *parts;       /* topic strings owned */
    int nparts;
    bool *done;                 /* written and acknowledged, or given up */
    bool *inflight;
    int waiting;                /* local acknowledgement waits and remote sends outstanding */
    bool round_failed;          /* a marker of this round failed: retry after MARKER_RETRY_MS */
    int64_t retry_at;           /* when in the retry list */
} mjob;

typedef struct mwait {
    struct tcoord *c;
    mjob *job;
    int i;
} mwait;

typedef struct pwait {
    struct tcoord *c;
    int32_t k;
    uint64_t gen;
    txn_str txn_id;             /* owned (tdup) */
} pwait;

struct tcoord {
    tcoord_env env;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stopping;
    int32_t nparts;             /* transaction.state.log.num.partitions */
    topic *state;               /* __transaction_state, referenced; NULL until it exists */
    /* Once the topic exists, per partition: its machine, only while this
     * broker leads the partition (NULL otherwise); own[k] the leader epoch
     * it was loaded at (-1: led elsewhere); gen[k] changes whenever the
     * machine is made or dropped, so that late completions of a machine
     * that is gone change nothing. */
    txn_coord **m;
    int32_t *own;
    uint64_t *gen;
    uint64_t gen_next;
    atomic_bool moved;          /* leadership changed somewhere: reconcile */
    tmark *mark;                /* WriteTxnMarkers to other brokers; NULL on a single node */
    txn_limits lim;
    tq *addq, **addq_tail;      /* V2 adds waiting for a transition in flight, oldest first */
    tq *retrying;               /* the add being tried again (retry_adds) */
    bool requeued;              /* ... met CONCURRENT_TRANSACTIONS again */
    int64_t spare_pid;          /* a durable producer id no machine took yet, -1 none */
    mjob *retry;                /* marker jobs waiting to be retried */
};

static void run(tcoord *c, int32_t k, txn_actions *acts);
static void retry_adds(tcoord *c);

/* The cluster's finalized transaction.version, now. */
static int16_t cluster_tv(tcoord *c)
{
    return c->env.transaction_version ? c->env.transaction_version(c->env.ctx) : 0;
}

static kp_str akstr(arena *a, const char *s)
{
    char *d = arena_strndup(a, s, strlen(s));
    return d ? kp_str_c(d) : kp_str_c("");
}

static char *cstr(req *rq, kp_str s)
{
    return s.len >= 0 ? arena_strndup(&rq->arena, s.ptr, (size_t)s.len) : NULL;
}

/* A transactional id as Kafka keeps it (Java's UTF-8 decoding: see
 * coord_java_utf8), every other byte, NUL included, as sent; in rq's arena,
 * NUL-terminated for the log. */
static txn_str jstr(req *rq, kp_str s)
{
    if (s.len < 0)
        return TXN_STR_NULL;
    char *d = arena_alloc(&rq->arena, (size_t)s.len * 3 + 1);
    if (!d)
        return TXN_STR_NULL;
    int32_t n = coord_java_utf8(s.ptr, s.len, d);
    d[n] = '\0';
    return (txn_str){ d, n };
}

/* An owned copy (malloc), NUL-terminated; aborts when memory runs out, as
 * the callers did with strdup. */
static txn_str tdup(txn_str s)
{
    char *d = malloc((size_t)(s.len > 0 ? s.len : 0) + 1);
    if (!d) {
        glog(GLOG_ERROR, "txn", "out of memory copying a transactional id");
        abort();
    }
    if (s.len > 0)
        memcpy(d, s.ptr, (size_t)s.len);
    d[s.len > 0 ? s.len : 0] = '\0';
    return (txn_str){ d, s.len > 0 ? s.len : 0 };
}

#define TKSTR(s) ((kp_str){ (s).ptr, (s).len })


/* ---- answers ---- */

static void complete_cb(reactor *r, void *arg)
{
    (void)r;
    conn_req_complete(arg);
}

static void batch_answer(req *rq, addb *bt);
static void tq_free_owned(tq *q);

static void addq_push(tcoord *c, tq *q)
{
    q->qnext = NULL;
    *c->addq_tail = q;
    c->addq_tail = &q->qnext;
}

static void respond(tcoord *c, const txn_action *a)
{
    tq *q = a->token;
    if (q->v2add && a->error == KERR_CONCURRENT_TRANSACTIONS && c && !c->stopping &&
        clock_mono_ms() < q->deadline) {
        if (q == c->retrying)
            c->requeued = true; /* stays where it is in the queue */
        else
            addq_push(c, q);
        return;
    }
    if (q->cb) {
        q->cb(q->arg, a->error);
        tq_free_owned(q);
        free(q);
        return;
    }
    req *rq = q->rq;
    int16_t ver = rq->hdr.api_version;
    if (q->batch) { /* one transaction of a v4+ batch: all its partitions the error */
        const kp_add_partitions_to_txn_req_transaction *t = &q->batch->body->transactions[q->ti];
        int n = 0;
        for (int i = 0; i < t->topics_n; i++)
            for (int j = 0; j < t->topics[i].partitions_n; j++)
                q->batch->codes[q->ti][n++] = a->error;
        if (atomic_fetch_sub(&q->batch->pending, 1) == 1)
            batch_answer(rq, q->batch);
        return;
    }
    conn_resp_begin(rq);
    switch (q->api) {
    case KP_API_INIT_PRODUCER_ID: {
        kp_init_producer_id_resp r;
        kp_init_producer_id_resp_init(&r);
        r.error_code = a->error;
        r.producer_id = a->error ? -1 : a->producer_id;
        r.producer_epoch = a->error ? -1 : a->producer_epoch;
        kp_init_producer_id_resp_encode(&rq->out, ver, &r);
        break;
    }
    case KP_API_ADD_PARTITIONS_TO_TXN: {
        const kp_add_partitions_to_txn_req *b = q->addp;
        kp_add_partitions_to_txn_resp r;
        kp_add_partitions_to_txn_resp_init(&r);
        int nt = b->v3_and_below_topics_n > 0 ? b->v3_and_below_topics_n : 0;
        r.results_by_topic_v3_and_below = arena_alloc(&rq->arena, sizeof(*r.results_by_topic_v3_and_below) * (size_t)(nt ? nt : 1));
        r.results_by_topic_v3_and_below_n = r.results_by_topic_v3_and_below ? nt : 0;
        for (int i = 0; i < r.results_by_topic_v3_and_below_n; i++) {
            kp_add_partitions_to_txn_resp_topic_result *t = &r.results_by_topic_v3_and_below[i];
            kp_add_partitions_to_txn_resp_topic_result_init(t);
            t->name = b->v3_and_below_topics[i].name;
            int np = b->v3_and_below_topics[i].partitions_n > 0 ? b->v3_and_below_topics[i].partitions_n : 0;
            t->results_by_partition = arena_alloc(&rq->arena, sizeof(*t->results_by_partition) * (size_t)(np ? np : 1));
            t->results_by_partition_n = t->results_by_partition ? np : 0;
            for (int j = 0; j < t->results_by_partition_n; j++) {
                kp_add_partitions_to_txn_resp_partition_result_init(&t->results_by_partition[j]);
                t->results_by_partition[j].partition_index = b->v3_and_below_topics[i].partitions[j];
                t->results_by_partition[j].partition_error_code = a->error;
            }
        }
        kp_add_partitions_to_txn_resp_encode(&rq->out, ver, &r);
        break;
    }
    case KP_API_ADD_OFFSETS_TO_TXN: {
        kp_add_offsets_to_txn_resp r;
        kp_add_offsets_to_txn_resp_init(&r);
        r.error_code = a->error;
        kp_add_offsets_to_txn_resp_encode(&rq->out, ver, &r);
        break;
    }
    default: {
        kp_end_txn_resp r;
        kp_end_txn_resp_init(&r);
        r.error_code = a->error;
        r.producer_id = a->error ? -1 : a->producer_id; /* v5+ (V2): the id and epoch to go on with */
        r.producer_epoch = a->error ? -1 : a->producer_epoch;
        kp_end_txn_resp_encode(&rq->out, ver, &r);
        break;
    }
    }
    reactor_post(conn_reactor(rq->conn), complete_cb, rq);
}

/* ---- PERSIST: a record into __transaction_state ---- */

/* The append error a finished wait for the in-sync replicas means to the
 * machine (it maps it as Kafka's TransactionStateManager does: a lost
 * leadership NOT_COORDINATOR, a timeout COORDINATOR_NOT_AVAILABLE). */
static int16_t acked_error(int rc)
{
    if (rc == LOG_OK)
        return KERR_NONE;
    if (rc == PART_WAIT_NOT_LEADER)
        return KERR_NOT_LEADER_OR_FOLLOWER;
    if (rc == PART_WAIT_TIMEOUT)
        return KERR_REQUEST_TIMED_OUT;
    return KERR_KAFKA_STORAGE_ERROR;
}

/* The record is acknowledged (or not): on whichever thread completed the
 * wait, holding no lock. A machine made or dropped meanwhile hears nothing. */
static void persist_acked(reactor *r, void *arg, int rc)
{
    (void)r;
    pwait *w = arg;
    tcoord *c = w->c;
    pthread_mutex_lock(&c->lock);
    txn_actions acts = { 0 };
    if (c->m && c->m[w->k] && c->gen[w->k] == w->gen) {
        txn_persist_done(c->m[w->k], w->txn_id, acked_error(rc), clock_now_ms(), &acts);
        run(c, w->k, &acts);
    }
    txn_actions_free(&acts);
    retry_adds(c); /* the transition they waited for may be over */
    pthread_mutex_unlock(&c->lock);
    free((void *)w->txn_id.ptr);
    free(w);
}

/* Encode a's record as one batch: key version 0 + TransactionLogKey, value
 * + TransactionLogValue (null: a tombstone) at the version Kafka 4.4 writes
 * for the cluster's transaction.version: 0 below level 1, else 1 (with the
 * previous and next producer ids and the client's transaction version). */
static size_t encode_record(const txn_action *a, int16_t tv, kp_writer *bw)
{
    kp_writer kw, vw;
    kp_writer_init(&kw);
    kp_writer_init(&vw);
    kp_write_int16(&kw, 0);
    kp_transaction_log_key key;
    kp_transaction_log_key_init(&key);
    key.transactional_id = TKSTR(a->txn_id);
    kp_transaction_log_key_encode(&kw, 0, &key);
    if (!a->tombstone) {
        const txn_record *t = &a->record;
        kp_transaction_log_value v;
        kp_transaction_log_value_init(&v);
        v.producer_id = t->producer_id;
        v.producer_epoch = t->producer_epoch;
        v.transaction_timeout_ms = t->transaction_timeout_ms;
        v.transaction_status = t->transaction_status;
        v.transaction_last_update_timestamp_ms = t->last_update_timestamp_ms;
        v.transaction_start_timestamp_ms = t->start_timestamp_ms;
        kp_transaction_log_value_partitions_schema *ps =
            calloc((size_t)(t->npartitions ? t->npartitions : 1), sizeof(*ps));
        int32_t *ids = calloc((size_t)(t->npartitions ? t->npartitions : 1), sizeof(*ids));
        int n = 0;
        for (int i = 0; ps && ids && i < t->npartitions; i++) {
            /* sorted by topic: consecutive partitions of a topic share an entry */
            if (n == 0 || strcmp(ps[n - 1].topic.ptr, t->partitions[i].topic) != 0) {
                kp_transaction_log_value_partitions_schema_init(&ps[n]);
                ps[n].topic = kp_str_c(t->partitions[i].topic);
                ps[n].partition_ids = &ids[i];
                ps[n].partition_ids_n = 0;
                n++;
            }
            ids[i] = t->partitions[i].partition;
            ps[n - 1].partition_ids_n++;
        }
        v.transaction_partitions = ps;
        v.transaction_partitions_n = t->partitions_null ? -1 : n;
        int16_t vv = tv >= 1 ? 1 : 0;
        if (vv >= 1) {
            v.previous_producer_id = t->previous_producer_id;
            v.next_producer_id = t->next_producer_id;
            v.client_transaction_version = t->client_transaction_version;
        }
        kp_write_int16(&vw, vv);
        kp_transaction_log_value_encode(&vw, vv, &v);
        free(ps);
        free(ids);
    }
    int64_t now = clock_now_ms();
    batch_builder bb;
    batch_build_begin(&bb, bw, now);
    batch_build_add(&bb, now, kw.buf, (int32_t)kw.len, a->tombstone ? NULL : vw.buf,
                    a->tombstone ? -1 : (int32_t)vw.len);
    size_t len = kw.err || vw.err ? 0 : batch_build_end(&bb);
    kp_writer_deinit(&kw);
    kp_writer_deinit(&vw);
    return len;
}

static void do_persist(tcoord *c, int32_t k, const txn_action *a)
{
    partition *p = c->state ? topic_partition(c->state, k) : NULL;
    kp_writer bw;
    kp_writer_init(&bw);
    size_t len = p ? encode_record(a, cluster_tv(c), &bw) : 0;
    part_result res;
    int16_t err = 0;
    if (p && c->mark && !atomic_load(&p->leads)) {
        err = KERR_NOT_LEADER_OR_FOLLOWER; /* moved; the reconcile drops the machine */
    } else if (!p || len == 0) {
        err = KERR_UNKNOWN_SERVER_ERROR;
    } else {
        partition_append(p, bw.buf, len, clock_now_ms(), PART_ORIGIN_COORDINATOR, &res);
        if (res.error)
            err = res.error;
        else if (res.log_rc != LOG_OK)
            err = res.log_rc == LOG_ERR_TOO_LARGE ? KERR_RECORD_LIST_TOO_LARGE : KERR_KAFKA_STORAGE_ERROR;
    }
    kp_writer_deinit(&bw);
    if (err) {
        glog(GLOG_ERROR, "txn", "writing the record of transactional id %s to %s-%d failed: %s", a->txn_id.ptr,
             TCOORD_TOPIC, k, kerr_name(err));
        txn_actions acts = { 0 };
        txn_persist_done(c->m[k], a->txn_id, err, clock_now_ms(), &acts);
        run(c, k, &acts);
        txn_actions_free(&acts);
        return;
    }
    pwait *w = malloc(sizeof(*w));
    txn_str id = tdup(a->txn_id);
    if (!w) {
        glog(GLOG_ERROR, "txn", "out of memory waiting for a transaction record");
        abort();
    }
    *w = (pwait){ c, k, c->gen[k], id };
    partition_wait_acked(p, res.last + 1, clock_mono_ms() + ACKED_TIMEOUT_MS, NULL, persist_acked, w);
}

/* ---- WRITE_MARKERS ---- */

static void job_free(mjob *j)
{
    for (int i = 0; i < j->nparts; i++)
        free((char *)j->parts[i].topic);
    free(j->parts);
    free(j->done);
    free(j->inflight);
    free((void *)j->txn_id.ptr);
    free(j);
}

static void job_step(tcoord *c, mjob *j);

static bool job_orphaned(tcoord *c, mjob *j)
{
    return c->stopping || !c->m || !c->m[j->k] || c->gen[j->k] != j->gen;
}

/* Try j again in MARKER_RETRY_MS. Lock held. */
static void job_retry_later(tcoord *c, mjob *j)
{
    j->round_failed = false;
    j->retry_at = clock_mono_ms() + MARKER_RETRY_MS;
    j->next = c->retry;
    c->retry = j;
    pthread_cond_signal(&c->cond);
}

/* A marker's wait or send ended: done, or tried again later (never at
 * once: a partition without a leader would spin). Lock held. */
static void marker_finished(tcoord *c, mjob *j, int i, bool done)
{
    j->inflight[i] = false;
    j->waiting--;
    if (done)
        j->done[i] = true;
    else
        j->round_failed = true;
    if (j->waiting > 0)
        return;
    if (j->round_failed && !job_orphaned(c, j))
        job_retry_later(c, j);
    else
        job_step(c, j);
}

static void marker_acked(reactor *r, void *arg, int rc)
{
    (void)r;
    mwait *w = arg;
    tcoord *c = w->c;
    pthread_mutex_lock(&c->lock);
    marker_finished(c, w->job, w->i, rc == LOG_OK);
    pthread_mutex_unlock(&c->lock);
    free(w);
}

/* The leader of a partition elsewhere answered WriteTxnMarkers (or could
 * not be reached): on the replica reactor's thread. As Kafka's
 * TransactionMarkerRequestCompletionHandler: a fenced coordinator epoch or
 * producer epoch gives the marker up, anything else (no leader, leadership
 * moved, not enough replicas, a lost connection) is retried. */
static void marker_sent(void *arg, int16_t err)
{
    mwait *w = arg;
    tcoord *c = w->c;
    pthread_mutex_lock(&c->lock);
    mjob *j = w->job;
    bool give_up = err == KERR_TRANSACTION_COORDINATOR_FENCED || err == KERR_INVALID_PRODUCER_EPOCH ||
                   err == KERR_PRODUCER_FENCED;
    if (err != KERR_NONE) {
        static glog_limit lim = GLOG_LIMIT_INIT;
        glog_limited(&lim, give_up ? GLOG_WARN : GLOG_INFO, "txn", "%s marker of %s for %s-%d: %s from its leader%s",
                     j->commit ? "COMMIT" : "ABORT", j->txn_id.ptr, j->parts[w->i].topic, j->parts[w->i].partition,
                     kerr_name(err), give_up ? "; given up" : "; retried");
    }
    marker_finished(c, j, w->i, err == KERR_NONE || give_up);
    pthread_mutex_unlock(&c->lock);
    free(w);
}

static mwait *mwait_new(tcoord *c, mjob *j, int i)
{
    mwait *w = malloc(sizeof(*w));
    if (!w) {
        glog(GLOG_ERROR, "txn", "out of memory waiting for a marker");
        abort();
    }
    *w = (mwait){ c, j, i };
    j->inflight[i] = true;
    j->waiting++;
    return w;
}

/* Write what is not written yet: into partitions this broker leads with
 * partition_write_marker, to the leaders of the others with WriteTxnMarkers;
 * when every marker is acknowledged tell the machine; what failed waits in
 * the retry list. A job whose machine is gone (the partition moved, the
 * broker stops) is dropped once nothing is outstanding. Lock held. */
static void job_step(tcoord *c, mjob *j)
{
    if (job_orphaned(c, j)) {
        if (j->waiting == 0)
            job_free(j);
        return;
    }
    bool failed = false;
    for (int i = 0; i < j->nparts; i++) {
        if (j->done[i] || j->inflight[i])
            continue;
        const txn_partition *tpn = &j->parts[i];
        topic *tp = topics_get(c->env.topics, tpn->topic, (int)strlen(tpn->topic));
        partition *p = tp ? topic_partition(tp, tpn->partition) : NULL;
        bool local = p && (!c->mark || atomic_load(&p->leads));
        if (!local && (!c->mark || !topic_has_partition(tp, tpn->partition))) {
            /* Deleted meanwhile: nothing left to mark (as Kafka drops it). */
            j->done[i] = true;
            topic_unref(tp);
            continue;
        }
        if (!local) {
            tmark_send(c->mark, tpn->topic, tpn->partition, j->pid, j->epoch, j->coordinator_epoch, j->commit, j->tv,
                       marker_sent, mwait_new(c, j, i));
            topic_unref(tp);
            continue;
        }
        part_result res;
        partition_write_marker(p, j->pid, j->epoch, j->coordinator_epoch, j->commit, j->tv, clock_now_ms(), &res);
        if (res.error) {
            glog(GLOG_WARN, "txn", "%s marker of %s for %s-%d not written: %s", j->commit ? "COMMIT" : "ABORT",
                 j->txn_id.ptr, tpn->topic, tpn->partition, res.why);
            j->done[i] = true;
        } else if (res.log_rc != LOG_OK) {
            static glog_limit lim = GLOG_LIMIT_INIT;
            glog_limited(&lim, GLOG_ERROR, "txn", "%s marker of %s for %s-%d failed (%s); retried every second",
                         j->commit ? "COMMIT" : "ABORT", j->txn_id.ptr, tpn->topic, tpn->partition,
                         plog_failure(p->log) ? plog_failure(p->log) : "no space");
            failed = true;
        } else {
            if (strcmp(tpn->topic, OFFSETS_TOPIC) == 0 && c->env.offsets_marker)
                c->env.offsets_marker(c->env.ctx, tpn->partition, j->pid, j->commit);
            partition_wait_acked(p, res.last + 1, clock_mono_ms() + ACKED_TIMEOUT_MS, NULL, marker_acked,
                                 mwait_new(c, j, i));
        }
        topic_unref(tp);
    }
    if (j->waiting > 0) {
        j->round_failed |= failed;
        return;
    }
    bool all = true;
    for (int i = 0; i < j->nparts; i++)
        all = all && j->done[i];
    if (!all || failed) {
        job_retry_later(c, j);
        return;
    }
    txn_actions acts = { 0 };
    txn_markers_done(c->m[j->k], j->txn_id, clock_now_ms(), &acts);
    run(c, j->k, &acts);
    txn_actions_free(&acts);
    job_free(j);
}

static void do_markers(tcoord *c, int32_t k, const txn_action *a)
{
    mjob *j = calloc(1, sizeof(*j));
    int n = a->npartitions;
    if (j) {
        j->parts = calloc((size_t)(n ? n : 1), sizeof(*j->parts));
        j->done = calloc((size_t)(n ? n : 1), sizeof(bool));
        j->inflight = calloc((size_t)(n ? n : 1), sizeof(bool));
        j->txn_id = tdup(a->txn_id);
    }
    if (!j || !j->parts || !j->done || !j->inflight) {
        glog(GLOG_ERROR, "txn", "out of memory writing markers");
        abort();
    }
    j->k = k;
    j->gen = c->gen[k];
    j->pid = a->producer_id;
    j->epoch = a->producer_epoch;
    j->commit = a->commit;
    j->tv = a->transaction_version;
    j->coordinator_epoch = a->coordinator_epoch;
    j->nparts = n;
    for (int i = 0; i < n; i++) {
        j->parts[i].topic = strdup(a->partitions[i].topic);
        j->parts[i].partition = a->partitions[i].partition;
        if (!j->parts[i].topic)
            abort();
    }
    job_step(c, j);
}

/* Run and clear acts of machine k. Lock held. */
static void run(tcoord *c, int32_t k, txn_actions *acts)
{
    for (int i = 0; i < acts->n; i++) {
        const txn_action *a = &acts->v[i];
        switch (a->kind) {
        case TXN_ACT_RESPOND: respond(c, a); break;
        case TXN_ACT_PERSIST: do_persist(c, k, a); break;
        case TXN_ACT_WRITE_MARKERS: do_markers(c, k, a); break;
        default: break;
        }
    }
    txn_actions_reset(acts);
}

/* ---- the topic and the machines ---- */

typedef struct load_ctx {
    tcoord *c;
    txn_coord *m;
    arena *a;
    int64_t records;
} load_ctx;

static void load_record(load_ctx *l, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen);

static int load_one(void *arg, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    load_ctx *l = arg;
    if (klen <= 0)
        return 0;
    arena a;
    arena_init(&a, 4 << 20);
    l->a = &a;
    load_record(l, key, klen, val, vlen);
    arena_deinit(&a);
    return 0;
}

static void load_record(load_ctx *l, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    kp_reader r;
    kp_reader_init(&r, key, (size_t)klen, l->a);
    if (kp_read_int16(&r) != 0)
        return;
    kp_transaction_log_key k;
    kp_transaction_log_key_init(&k);
    if (kp_transaction_log_key_decode(&r, 0, &k) != 0 || k.transactional_id.len < 0)
        return;
    txn_str id = { k.transactional_id.ptr, k.transactional_id.len };
    l->records++;
    if (vlen < 0) {
        txn_load(l->m, id, NULL);
        return;
    }
    kp_reader vr;
    kp_reader_init(&vr, val, (size_t)vlen, l->a);
    int16_t vv = kp_read_int16(&vr);
    kp_transaction_log_value v;
    kp_transaction_log_value_init(&v);
    if (vv < 0 || vv > 1 || kp_transaction_log_value_decode(&vr, vv, &v) != 0)
        return;
    int np = 0;
    for (int i = 0; i < v.transaction_partitions_n; i++)
        np += v.transaction_partitions[i].partition_ids_n > 0 ? v.transaction_partitions[i].partition_ids_n : 0;
    txn_partition *parts = arena_alloc(l->a, sizeof(*parts) * (size_t)(np ? np : 1));
    if (!parts)
        return;
    int n = 0;
    for (int i = 0; i < v.transaction_partitions_n; i++) {
        kp_transaction_log_value_partitions_schema *ps = &v.transaction_partitions[i];
        char *t = arena_strndup(l->a, ps->topic.ptr, ps->topic.len > 0 ? (size_t)ps->topic.len : 0);
        for (int j = 0; j < ps->partition_ids_n; j++)
            parts[n++] = (txn_partition){ t, ps->partition_ids[j] };
    }
    txn_record rec = {
        .producer_id = v.producer_id,
        .previous_producer_id = v.previous_producer_id,
        .next_producer_id = v.next_producer_id,
        .producer_epoch = v.producer_epoch,
        .transaction_timeout_ms = v.transaction_timeout_ms,
        .transaction_status = v.transaction_status,
        .partitions_null = v.transaction_partitions_n < 0,
        .partitions = parts,
        .npartitions = n,
        .last_update_timestamp_ms = v.transaction_last_update_timestamp_ms,
        .start_timestamp_ms = v.transaction_start_timestamp_ms,
        .client_transaction_version = v.client_transaction_version,
    };
    if (txn_load(l->m, id, &rec) != 0)
        glog(GLOG_WARN, "txn", "record of transactional id %.*s in %s ignored: not one Kafka writes", (int)id.len, id.ptr, TCOORD_TOPIC);
    return;
}

static int load_batch(void *arg, const uint8_t *p, size_t len)
{
    batch_info bi;
    batch_peek(p, &bi);
    if (bi.attributes & BATCH_ATTR_CONTROL)
        return 0;
    records_each(p, len, RECORDS_MAX_INFLATED, load_one, arg);
    return 0;
}

/* Drop machine k: its waiting requests are answered NOT_COORDINATOR, its
 * marker jobs waiting for a retry are freed (those in flight free
 * themselves when they end). Lock held. */
static void unload_partition(tcoord *c, int32_t k)
{
    txn_actions acts = { 0 };
    txn_resign(c->m[k], &acts);
    run(c, k, &acts);
    txn_actions_free(&acts);
    txn_coord_free(c->m[k]);
    c->m[k] = NULL;
    c->gen[k] = ++c->gen_next;
    for (mjob **pp = &c->retry; *pp;) {
        mjob *j = *pp;
        if (j->k == k && j->waiting == 0) {
            *pp = j->next;
            job_free(j);
        } else {
            pp = &j->next;
        }
    }
}

/* A machine for partition k, led here at epoch, loaded from its log;
 * transactions found prepared get their markers written again. 0, or -1
 * out of memory. Lock held. */
static int load_partition(tcoord *c, int32_t k, partition *p, int32_t epoch, int64_t *records)
{
    c->m[k] = txn_coord_new(k, epoch, &c->lim);
    if (!c->m[k])
        return -1;
    c->gen[k] = ++c->gen_next;
    load_ctx l = { c, c->m[k], NULL, 0 };
    partition_scan(p, load_batch, &l);
    *records += l.records;
    txn_actions acts = { 0 };
    txn_load_done(c->m[k], clock_now_ms(), &acts);
    run(c, k, &acts);
    txn_actions_free(&acts);
    return 0;
}

/* Does own[] disagree with the leadership of some partition? Lock held. */
static bool leadership_differs(tcoord *c, int32_t k)
{
    partition *p = topic_partition(c->state, k);
    int32_t want = p && (!c->mark || atomic_load(&p->leads)) ? p->leader_epoch : -1;
    return c->own[k] != want;
}

/* Coordinate exactly the partitions of __transaction_state this broker
 * leads: a machine loaded from the log for each partition newly led (or
 * led again at a new epoch), at that leader epoch; none for the others. A
 * single node leads them all. Lock held. */
static void reconcile_locked(tcoord *c)
{
    atomic_store(&c->moved, false);
    if (!c->state || c->stopping)
        return;
    int loaded = 0, dropped = 0;
    int64_t records = 0, t0 = clock_mono_ms();
    for (int32_t k = 0; k < c->nparts; k++) {
        if (!leadership_differs(c, k))
            continue;
        partition *p = topic_partition(c->state, k);
        int32_t want = p && (!c->mark || atomic_load(&p->leads)) ? p->leader_epoch : -1;
        if (c->m[k]) {
            unload_partition(c, k);
            dropped++;
        }
        c->own[k] = -1;
        if (want < 0)
            continue;
        if (load_partition(c, k, p, want, &records) != 0) {
            glog(GLOG_ERROR, "txn", "out of memory loading %s-%d", TCOORD_TOPIC, k);
            continue;
        }
        c->own[k] = want;
        loaded++;
    }
    if (loaded > 0 || dropped > 0) {
        int ids = 0, owned = 0;
        for (int32_t k = 0; k < c->nparts; k++) {
            ids += c->m[k] ? txn_count(c->m[k]) : 0;
            owned += c->m[k] != NULL;
        }
        glog(GLOG_INFO, "txn", "coordinating %d transactional ids in %d partitions of %s: loaded %d partitions "
             "(%lld records) in %lld ms, handed over %d", ids, owned, TCOORD_TOPIC, loaded, (long long)records,
             (long long)(clock_mono_ms() - t0), dropped);
    }
}

/* Take the (existing) topic: the per-partition tables, then the machines
 * of the partitions led here. 0 or -1 (out of memory). Lock held. */
static int take_topic(tcoord *c, topic *tp)
{
    int32_t n = topic_nparts(tp);
    c->m = calloc((size_t)(n ? n : 1), sizeof(*c->m));
    c->own = malloc(sizeof(*c->own) * (size_t)(n ? n : 1));
    c->gen = calloc((size_t)(n ? n : 1), sizeof(*c->gen));
    if (!c->m || !c->own || !c->gen) {
        free(c->m);
        free(c->own);
        free(c->gen);
        c->m = NULL;
        c->own = NULL;
        c->gen = NULL;
        topic_unref(tp);
        return -1;
    }
    for (int32_t k = 0; k < n; k++)
        c->own[k] = -1;
    c->nparts = n;
    c->state = tp;
    reconcile_locked(c);
    return 0;
}

/* The topic is there (asked for, with create, when missing): 0 or
 * COORDINATOR_NOT_AVAILABLE (NOT_COORDINATOR when stopping). settled: the
 * caller runs after the metadata publisher applied a whole delta, so the
 * table holds every partition of the topic; otherwise a topic with fewer
 * partitions than transaction.state.log.num.partitions may be one being
 * added to the table right now (a cluster creates it through the
 * controller) and is left for the publisher's wake-up: the ids must not
 * be hashed over a partial count. Lock held. */
static int16_t find_topic(tcoord *c, bool create, bool settled)
{
    if (c->state)
        return KERR_NONE;
    if (c->stopping)
        return KERR_NOT_COORDINATOR;
    topic *tp = topics_get(c->env.topics, TCOORD_TOPIC, (int)strlen(TCOORD_TOPIC));
    if (!tp && !create)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (!tp) {
        char seg[32], isr[32], msg[256];
        snprintf(seg, sizeof seg, "%lld", (long long)config_get_num(c->env.cfg, BCFG_TXN_STATE_LOG_SEGMENT_BYTES));
        snprintf(isr, sizeof isr, "%lld", (long long)config_get_num(c->env.cfg, BCFG_TXN_STATE_LOG_MIN_ISR));
        const char *cfgs[] = {
            "cleanup.policy", "compact",
            "segment.bytes", seg,
            "compression.type", "uncompressed",
            "min.insync.replicas", isr,
        };
        int16_t code = c->env.create_topic(c->env.ctx, TCOORD_TOPIC, c->nparts, cfgs, 4, msg, sizeof msg);
        if (code != KERR_NONE && code != KERR_TOPIC_ALREADY_EXISTS) {
            glog(GLOG_ERROR, "txn", "cannot create %s: %s %s", TCOORD_TOPIC, kerr_name(code), msg);
            return KERR_COORDINATOR_NOT_AVAILABLE;
        }
        tp = topics_get(c->env.topics, TCOORD_TOPIC, (int)strlen(TCOORD_TOPIC));
        if (!tp)
            return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (topic_nparts(tp) == 0 || (!settled && topic_nparts(tp) < c->nparts)) {
        topic_unref(tp);
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return take_topic(c, tp) == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
}

int16_t tcoord_ready(tcoord *c)
{
    pthread_mutex_lock(&c->lock);
    int16_t code = find_topic(c, true, false);
    pthread_mutex_unlock(&c->lock);
    return code == KERR_NONE ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
}

int32_t tcoord_partition_of(tcoord *c, const char *txn_id, int32_t len)
{
    pthread_mutex_lock(&c->lock);
    int16_t code = find_topic(c, true, false);
    int32_t k = code == KERR_NONE ? coord_partition_for(txn_id, len, c->nparts) : -1;
    pthread_mutex_unlock(&c->lock);
    return k;
}

void tcoord_leadership_changed(tcoord *c)
{
    if (!c)
        return;
    atomic_store(&c->moved, true);
    pthread_cond_signal(&c->cond);
}

/* ---- requests ---- */

static tq *tq_new(req *rq, int16_t api)
{
    tq *q = arena_alloc(&rq->arena, sizeof(*q));
    if (q)
        *q = (tq){ .rq = rq, .api = api };
    return q;
}

/* What an add of this broker's own (cb set) owns: its id and partitions. */
static void tq_free_owned(tq *q)
{
    if (!q->cb)
        return;
    free((char *)q->id.ptr);
    for (int i = 0; i < q->nparts; i++)
        free((char *)q->parts[i].topic);
    free(q->parts);
    q->id = TXN_STR_NULL;
    q->parts = NULL;
    q->nparts = 0;
}

/* Answer at once, without a machine. */
static void answer_now(tq *q, int16_t error)
{
    txn_action a = { .kind = TXN_ACT_RESPOND, .token = q, .error = error, .producer_id = -1, .producer_epoch = -1 };
    respond(NULL, &a);
}

/* The machine of txn_id, or NULL with *err set. Lock held. */
static txn_coord *machine_for(tcoord *c, txn_str txn_id, int32_t *k, int16_t *err)
{
    *err = find_topic(c, true, false);
    if (*err != KERR_NONE) {
        *err = c->stopping ? KERR_NOT_COORDINATOR : KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    *k = coord_partition_for(txn_id.ptr, txn_id.len, c->nparts);
    /* Led here but not loaded yet (the publisher's wake-up is on its way):
     * load it now, so that the first request is answered at once. */
    if (atomic_load(&c->moved) || leadership_differs(c, *k))
        reconcile_locked(c);
    if (!c->m[*k])
        *err = KERR_NOT_COORDINATOR;
    else
        txn_set_transaction_version(c->m[*k], cluster_tv(c));
    return c->m[*k];
}

/* Lock and find the machine of id; NULL (unlocked, q answered) when the
 * coordinator is not available. */
static txn_coord *lock_machine(tcoord *c, tq *q, txn_str id, int32_t *k)
{
    pthread_mutex_lock(&c->lock);
    int16_t err;
    txn_coord *m = machine_for(c, id, k, &err);
    if (!m) {
        pthread_mutex_unlock(&c->lock);
        answer_now(q, err);
    }
    return m;
}

void tcoord_init_producer_id(tcoord *c, req *rq, const kp_init_producer_id_req *body, int64_t fresh_pid)
{
    tq *q = tq_new(rq, KP_API_INIT_PRODUCER_ID);
    if (!q) {
        conn_req_complete(rq);
        return;
    }
    txn_str id = jstr(rq, body->transactional_id);
    int32_t k;
    pthread_mutex_lock(&c->lock);
    int16_t err;
    txn_coord *m = machine_for(c, id, &k, &err);
    if (!m) {
        if (fresh_pid >= 0 && c->spare_pid < 0)
            c->spare_pid = fresh_pid; /* durable and unused: not lost on NOT_COORDINATOR */
        pthread_mutex_unlock(&c->lock);
        answer_now(q, err);
        return;
    }
    if (fresh_pid < 0) {
        fresh_pid = c->spare_pid;
        c->spare_pid = -1;
    }
    txn_init_req r = {
        .token = q,
        .version = rq->hdr.api_version,
        .txn_id = id,
        .timeout_ms = body->transaction_timeout_ms,
        .expected_pid = body->producer_id,
        .expected_epoch = body->producer_epoch,
        .fresh_pid = fresh_pid,
    };
    txn_actions acts = { 0 };
    if (!txn_init_producer_id(m, &r, clock_now_ms(), &acts) && fresh_pid >= 0)
        c->spare_pid = fresh_pid; /* durable and unused: the next request may take it */
    run(c, k, &acts);
    txn_actions_free(&acts);
    pthread_mutex_unlock(&c->lock);
}

bool tcoord_has_spare_pid(tcoord *c)
{
    pthread_mutex_lock(&c->lock);
    bool has = c->spare_pid >= 0;
    pthread_mutex_unlock(&c->lock);
    return has;
}

static bool addq_holds(const tcoord *c, txn_str id)
{
    for (const tq *q = c->addq; q; q = q->qnext)
        if (q->id.len == id.len && memcmp(q->id.ptr, id.ptr, (size_t)id.len) == 0)
            return true;
    return false;
}

/* Ask machine m for q's add. Lock held. */
static void add_ask(tcoord *c, txn_coord *m, int32_t k, tq *q, txn_str id, int64_t pid, int16_t epoch,
                    const txn_partition *parts, int nparts, int16_t client_tv)
{
    txn_add_req r = {
        .token = q,
        .version = q->rq ? q->rq->hdr.api_version : 5,
        .client_tv = client_tv,
        .txn_id = id,
        .producer_id = pid,
        .producer_epoch = epoch,
        .partitions = parts,
        .npartitions = nparts,
    };
    txn_actions acts = { 0 };
    txn_add_partitions(m, &r, clock_now_ms(), &acts);
    run(c, k, &acts);
    txn_actions_free(&acts);
}

static void add_common(tcoord *c, tq *q, txn_str id, int64_t pid, int16_t epoch, const txn_partition *parts,
                       int nparts, int16_t client_tv)
{
    int32_t k;
    txn_coord *m = lock_machine(c, q, id, &k);
    if (!m)
        return;
    if (client_tv >= 2) {
        q->v2add = true;
        q->id = id;
        q->pid = pid;
        q->epoch = epoch;
        q->parts = (txn_partition *)parts;
        q->nparts = nparts;
        q->deadline = clock_mono_ms() + ADD_RETRY_MS;
        if (addq_holds(c, id)) { /* behind the id's earlier adds */
            addq_push(c, q);
            pthread_mutex_unlock(&c->lock);
            return;
        }
    }
    add_ask(c, m, k, q, id, pid, epoch, parts, nparts, client_tv);
    pthread_mutex_unlock(&c->lock);
}

/* The V2 adds waiting for a transition in flight, tried again in order: an
 * id whose oldest add still meets one keeps the rest of its adds waiting;
 * an add past ADD_RETRY_MS is answered CONCURRENT_TRANSACTIONS (the client
 * retries). Lock held. */
static void retry_adds(tcoord *c)
{
    if (c->retrying || !c->addq)
        return;
    tq *todo = c->addq;
    c->addq = NULL;
    c->addq_tail = &c->addq;
    txn_str blocked[16];
    int nblocked = 0;
    while (todo) {
        tq *q = todo;
        todo = q->qnext;
        q->qnext = NULL;
        bool held = false;
        for (int i = 0; i < nblocked && !held; i++)
            held = blocked[i].len == q->id.len && memcmp(blocked[i].ptr, q->id.ptr, (size_t)q->id.len) == 0;
        if (held || (nblocked == 16 && clock_mono_ms() < q->deadline)) {
            addq_push(c, q);
            continue;
        }
        int32_t k;
        int16_t err;
        txn_coord *m = machine_for(c, q->id, &k, &err);
        if (!m) {
            txn_action a = { .kind = TXN_ACT_RESPOND, .token = q, .error = err, .producer_id = -1, .producer_epoch = -1 };
            respond(c, &a);
            continue;
        }
        c->retrying = q;
        c->requeued = false;
        add_ask(c, m, k, q, q->id, q->pid, q->epoch, q->parts, q->nparts, 2);
        c->retrying = NULL;
        if (c->requeued) { /* q is still ours: not answered */
            addq_push(c, q);
            if (nblocked < 16)
                blocked[nblocked++] = q->id;
        }
    }
}

void tcoord_add_partitions(tcoord *c, req *rq, const kp_add_partitions_to_txn_req *body)
{
    tq *q = tq_new(rq, KP_API_ADD_PARTITIONS_TO_TXN);
    if (!q) {
        conn_req_complete(rq);
        return;
    }
    q->addp = body;
    int n = 0;
    for (int i = 0; i < body->v3_and_below_topics_n; i++)
        n += body->v3_and_below_topics[i].partitions_n > 0 ? body->v3_and_below_topics[i].partitions_n : 0;
    txn_partition *parts = arena_alloc(&rq->arena, sizeof(*parts) * (size_t)(n ? n : 1));
    if (!parts) {
        answer_now(q, KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    n = 0;
    for (int i = 0; i < body->v3_and_below_topics_n; i++) {
        char *t = cstr(rq, body->v3_and_below_topics[i].name);
        for (int j = 0; j < body->v3_and_below_topics[i].partitions_n; j++)
            parts[n++] = (txn_partition){ t ? t : "", body->v3_and_below_topics[i].partitions[j] };
    }
    add_common(c, q, jstr(rq, body->v3_and_below_transactional_id), body->v3_and_below_producer_id,
               body->v3_and_below_producer_epoch, parts, n, 0);
}

static void implicit_remote_done(void *arg, int16_t error, const int16_t *codes)
{
    tq *q = arg;
    for (int i = 0; error == KERR_NONE && codes && i < q->ti; i++)
        error = codes[i]; /* an add answers every partition alike */
    q->cb(q->arg, error);
    tq_free_owned(q);
    free(q);
}

void tcoord_add_implicit(tcoord *c, const char *txn_id, int32_t txn_id_len, int64_t pid, int16_t epoch,
                         const char *const *tnames, const int32_t *partitions, int n, tcoord_add_cb cb, void *arg)
{
    tq *q = calloc(1, sizeof(*q));
    char *d = malloc((size_t)(txn_id_len > 0 ? txn_id_len : 0) * 3 + 1);
    txn_partition *parts = calloc((size_t)(n > 0 ? n : 1), sizeof(*parts));
    if (!q || !parts || !d) {
        glog(GLOG_ERROR, "txn", "out of memory adding partitions to a transaction");
        abort();
    }
    q->api = KP_API_ADD_PARTITIONS_TO_TXN;
    q->cb = cb;
    q->arg = arg;
    q->id.len = txn_id_len > 0 ? coord_java_utf8(txn_id, txn_id_len, d) : 0;
    d[q->id.len] = '\0';
    q->id.ptr = d;
    for (int i = 0; i < n; i++) {
        parts[i] = (txn_partition){ strdup(tnames[i]), partitions[i] };
        if (!parts[i].topic)
            abort();
    }
    q->parts = parts;
    q->nparts = n;
    int32_t k = -1;
    pthread_mutex_lock(&c->lock);
    int16_t err = KERR_INVALID_REQUEST;
    txn_coord *m = q->id.len > 0 ? machine_for(c, q->id, &k, &err) : NULL;
    if (m) {
        q->v2add = true;
        q->pid = pid;
        q->epoch = epoch;
        q->deadline = clock_mono_ms() + ADD_RETRY_MS;
        if (addq_holds(c, q->id))
            addq_push(c, q); /* behind the id's earlier adds */
        else
            add_ask(c, m, k, q, q->id, pid, epoch, q->parts, q->nparts, 2);
        pthread_mutex_unlock(&c->lock);
    } else if (err == KERR_NOT_COORDINATOR && c->mark && !c->stopping && k >= 0) {
        pthread_mutex_unlock(&c->lock);
        q->ti = n; /* the partitions' count, for the answer */
        tmark_add_partitions(c->mark, k, txn_id, txn_id_len, pid, epoch, tnames, partitions, n, false,
                             implicit_remote_done, q);
    } else {
        pthread_mutex_unlock(&c->lock);
        cb(arg, err);
        tq_free_owned(q);
        free(q);
    }
}

/* The view of txn_id's transaction (*v), or the error of finding it:
 * NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS,
 * TRANSACTIONAL_ID_NOT_FOUND. Lock held; *v borrows from the machine. */
static int16_t view_locked(tcoord *c, txn_str id, txn_view *v)
{
    int32_t k;
    int16_t err;
    txn_coord *m = machine_for(c, id, &k, &err);
    return m ? txn_describe(m, id, v) : err;
}

/* Whether an ongoing transaction holds topic-partition. */
static bool view_holds(const txn_view *v, const char *tname, int32_t pidx)
{
    for (int i = 0; v->state == TXN_ONGOING && i < v->npartitions; i++)
        if (v->partitions[i].partition == pidx && strcmp(v->partitions[i].topic, tname) == 0)
            return true;
    return false;
}

static void batch_answer(req *rq, addb *bt)
{
    const kp_add_partitions_to_txn_req *b = bt->body;
    kp_add_partitions_to_txn_resp r;
    kp_add_partitions_to_txn_resp_init(&r);
    int nt = b->transactions_n > 0 ? b->transactions_n : 0;
    r.results_by_transaction = arena_alloc(&rq->arena, sizeof(*r.results_by_transaction) * (size_t)(nt ? nt : 1));
    r.results_by_transaction_n = r.results_by_transaction ? nt : 0;
    for (int ti = 0; ti < r.results_by_transaction_n; ti++) {
        const kp_add_partitions_to_txn_req_transaction *t = &b->transactions[ti];
        kp_add_partitions_to_txn_resp_transaction_result *tr = &r.results_by_transaction[ti];
        kp_add_partitions_to_txn_resp_transaction_result_init(tr);
        tr->transactional_id = t->transactional_id;
        int ntop = t->topics_n > 0 ? t->topics_n : 0;
        tr->topic_results = arena_alloc(&rq->arena, sizeof(*tr->topic_results) * (size_t)(ntop ? ntop : 1));
        tr->topic_results_n = tr->topic_results ? ntop : 0;
        int n = 0;
        for (int i = 0; i < tr->topic_results_n; i++) {
            kp_add_partitions_to_txn_resp_txn_topic_result *x = &tr->topic_results[i];
            kp_add_partitions_to_txn_resp_txn_topic_result_init(x);
            x->name = t->topics[i].name;
            int np = t->topics[i].partitions_n > 0 ? t->topics[i].partitions_n : 0;
            x->results_by_partition = arena_alloc(&rq->arena, sizeof(*x->results_by_partition) * (size_t)(np ? np : 1));
            x->results_by_partition_n = x->results_by_partition ? np : 0;
            for (int j = 0; j < x->results_by_partition_n; j++, n++) {
                kp_add_partitions_to_txn_resp_txn_partition_result_init(&x->results_by_partition[j]);
                x->results_by_partition[j].partition_index = t->topics[i].partitions[j];
                x->results_by_partition[j].partition_error_code = bt->codes[ti][n];
            }
        }
    }
    conn_resp_begin(rq);
    kp_add_partitions_to_txn_resp_encode(&rq->out, rq->hdr.api_version, &r);
    reactor_post(conn_reactor(rq->conn), complete_cb, rq);
}

/* A verify-only transaction of a v4+ batch, as Kafka's
 * handleVerifyPartitionsInTransaction decides it: an error of the whole
 * transaction for every partition, else each partition NONE when the
 * transaction holds it and TRANSACTION_ABORTABLE when not. Lock held. */
static void verify_locked(tcoord *c, txn_str id, int64_t pid, int16_t epoch, const txn_partition *parts, int n,
                          int16_t *codes)
{
    txn_view v;
    int16_t err = view_locked(c, id, &v);
    if (err == KERR_TRANSACTIONAL_ID_NOT_FOUND)
        err = KERR_INVALID_PRODUCER_ID_MAPPING;
    else if (err == KERR_NONE && v.producer_id != pid)
        err = KERR_INVALID_PRODUCER_ID_MAPPING;
    else if (err == KERR_NONE && v.producer_epoch != epoch)
        err = KERR_PRODUCER_FENCED;
    else if (err == KERR_NONE && (v.state == TXN_PREPARE_COMMIT || v.state == TXN_PREPARE_ABORT))
        err = KERR_CONCURRENT_TRANSACTIONS;
    for (int i = 0; i < n; i++)
        codes[i] = err != KERR_NONE                            ? err
                   : view_holds(&v, parts[i].topic, parts[i].partition) ? KERR_NONE
                                                                     : KERR_TRANSACTION_ABORTABLE;
}

void tcoord_add_partitions_batch(tcoord *c, req *rq, const kp_add_partitions_to_txn_req *body, int16_t **decided)
{
    int nt = body->transactions_n > 0 ? body->transactions_n : 0;
    addb *bt = arena_alloc(&rq->arena, sizeof(*bt));
    int16_t **codes = arena_alloc(&rq->arena, sizeof(int16_t *) * (size_t)(nt ? nt : 1));
    tq *qs = arena_alloc(&rq->arena, sizeof(*qs) * (size_t)(nt ? nt : 1));
    if (!bt || !codes || !qs) {
        conn_req_complete(rq);
        return;
    }
    bt->body = body;
    bt->codes = codes;
    atomic_init(&bt->pending, nt + 1); /* + 1: this call's own, released last */
    txn_partition **parts = arena_alloc(&rq->arena, sizeof(*parts) * (size_t)(nt ? nt : 1));
    int *nparts = arena_alloc(&rq->arena, sizeof(int) * (size_t)(nt ? nt : 1));
    /* Everything allocated before the first transaction is asked: an add
     * answers later, and must find the request still there. */
    for (int ti = 0; parts && nparts && ti < nt; ti++) {
        const kp_add_partitions_to_txn_req_transaction *t = &body->transactions[ti];
        int n = 0;
        for (int i = 0; i < t->topics_n; i++)
            n += t->topics[i].partitions_n > 0 ? t->topics[i].partitions_n : 0;
        parts[ti] = arena_alloc(&rq->arena, sizeof(**parts) * (size_t)(n ? n : 1));
        codes[ti] = decided[ti] ? decided[ti] : arena_alloc(&rq->arena, sizeof(int16_t) * (size_t)(n ? n : 1));
        if (!parts[ti] || !codes[ti]) {
            parts = NULL;
            break;
        }
        n = 0;
        for (int i = 0; i < t->topics_n; i++) {
            char *tn = cstr(rq, t->topics[i].name);
            for (int j = 0; j < t->topics[i].partitions_n; j++)
                parts[ti][n++] = (txn_partition){ tn ? tn : "", t->topics[i].partitions[j] };
        }
        nparts[ti] = n;
        qs[ti] = (tq){ .rq = rq, .api = KP_API_ADD_PARTITIONS_TO_TXN, .addp = body, .batch = bt, .ti = ti };
    }
    if (!parts || !nparts) {
        conn_req_complete(rq); /* out of arena: no answer, the client's request times out */
        return;
    }
    for (int ti = 0; ti < nt; ti++) {
        const kp_add_partitions_to_txn_req_transaction *t = &body->transactions[ti];
        txn_str id = jstr(rq, t->transactional_id);
        if (decided[ti]) {
            atomic_fetch_sub(&bt->pending, 1);
        } else if (t->verify_only) {
            pthread_mutex_lock(&c->lock);
            verify_locked(c, id, t->producer_id, t->producer_epoch, parts[ti], nparts[ti], codes[ti]);
            pthread_mutex_unlock(&c->lock);
            atomic_fetch_sub(&bt->pending, 1);
        } else {
            /* a leader adding for a V2 client (Kafka: TV_2 from v4 on) */
            add_common(c, &qs[ti], id, t->producer_id, t->producer_epoch, parts[ti], nparts[ti], 2);
        }
    }
    if (atomic_fetch_sub(&bt->pending, 1) == 1)
        batch_answer(rq, bt);
}

void tcoord_add_offsets(tcoord *c, req *rq, const kp_add_offsets_to_txn_req *body)
{
    tq *q = tq_new(rq, KP_API_ADD_OFFSETS_TO_TXN);
    if (!q) {
        conn_req_complete(rq);
        return;
    }
    txn_str group = jstr(rq, body->group_id);
    txn_partition *part = arena_alloc(&rq->arena, sizeof(*part));
    if (!part || group.len < 0) {
        answer_now(q, !part ? KERR_UNKNOWN_SERVER_ERROR : KERR_INVALID_GROUP_ID);
        return;
    }
    /* The callback makes __consumer_offsets if needed, but reads a C
     * string: a group id holding a NUL is hashed here, whole, over the
     * topic's partitions (the group coordinator's own count). */
    *part = (txn_partition){ OFFSETS_TOPIC, c->env.offsets_partition(c->env.ctx, group.ptr) };
    if (part->partition >= 0 && memchr(group.ptr, 0, (size_t)group.len)) {
        topic *tp = topics_get(c->env.topics, OFFSETS_TOPIC, (int)strlen(OFFSETS_TOPIC));
        part->partition = tp && topic_nparts(tp) > 0 ? coord_partition_for(group.ptr, group.len, topic_nparts(tp)) : -1;
        topic_unref(tp);
    }
    if (part->partition < 0) {
        answer_now(q, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    add_common(c, q, jstr(rq, body->transactional_id), body->producer_id, body->producer_epoch, part, 1, 0);
}

void tcoord_end_txn(tcoord *c, req *rq, const kp_end_txn_req *body, int64_t fresh_pid)
{
    tq *q = tq_new(rq, KP_API_END_TXN);
    if (!q) {
        conn_req_complete(rq);
        return;
    }
    txn_str id = jstr(rq, body->transactional_id);
    int32_t k;
    pthread_mutex_lock(&c->lock);
    int16_t err;
    txn_coord *m = machine_for(c, id, &k, &err);
    if (!m) {
        if (fresh_pid >= 0 && c->spare_pid < 0)
            c->spare_pid = fresh_pid;
        pthread_mutex_unlock(&c->lock);
        answer_now(q, err);
        return;
    }
    if (fresh_pid < 0) {
        fresh_pid = c->spare_pid;
        c->spare_pid = -1;
    }
    txn_end_req r = {
        .token = q,
        .version = rq->hdr.api_version,
        .client_tv = rq->hdr.api_version >= 5 ? 2 : 0, /* Kafka: TV_2 from EndTxn v5 on */
        .txn_id = id,
        .producer_id = body->producer_id,
        .producer_epoch = body->producer_epoch,
        .commit = body->committed,
        .fresh_pid = fresh_pid,
    };
    txn_actions acts = { 0 };
    if (!txn_end_txn(m, &r, clock_now_ms(), &acts) && fresh_pid >= 0)
        c->spare_pid = fresh_pid; /* durable and unused: the next request may take it */
    run(c, k, &acts);
    txn_actions_free(&acts);
    pthread_mutex_unlock(&c->lock);
}

int16_t tcoord_verify(tcoord *c, const char *txn_id, int txn_id_len, int64_t pid, int16_t epoch,
                      const char *tname, int32_t pidx)
{
    char buf[512 * 3];
    if (txn_id_len <= 0 || txn_id_len > 512)
        return KERR_INVALID_TXN_STATE;
    txn_str id = { buf, coord_java_utf8(txn_id, txn_id_len, buf) };
    pthread_mutex_lock(&c->lock);
    txn_view v;
    int16_t err = view_locked(c, id, &v);
    if (err == KERR_NOT_COORDINATOR && !c->stopping) {
        /* Another broker coordinates the id: the produce path asked it
         * (tcoord_verify_remote) before coming here. */
        err = KERR_NONE;
    } else if (err == KERR_NONE) {
        if (v.producer_id != pid)
            err = KERR_INVALID_TXN_STATE;
        else if (v.producer_epoch != epoch)
            err = KERR_INVALID_PRODUCER_EPOCH;
        else
            err = view_holds(&v, tname, pidx) ? KERR_NONE : KERR_INVALID_TXN_STATE;
    } else {
        err = KERR_INVALID_TXN_STATE;
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

bool tcoord_verify_remote(tcoord *c, const char *txn_id, int32_t txn_id_len, int64_t pid, int16_t epoch,
                          const char *const *tnames, const int32_t *partitions, int n, tmark_add_cb cb, void *arg)
{
    char buf[512 * 3];
    if (txn_id_len <= 0 || txn_id_len > 512 || !c->mark)
        return false;
    txn_str id = { buf, coord_java_utf8(txn_id, txn_id_len, buf) };
    pthread_mutex_lock(&c->lock);
    int32_t k = -1;
    int16_t err;
    txn_coord *m = machine_for(c, id, &k, &err);
    bool remote = !m && err == KERR_NOT_COORDINATOR && !c->stopping && k >= 0;
    pthread_mutex_unlock(&c->lock);
    if (remote)
        tmark_add_partitions(c->mark, k, txn_id, txn_id_len, pid, epoch, tnames, partitions, n, true, cb, arg);
    return remote;
}

int16_t tcoord_verify_offsets(tcoord *c, const char *txn_id, int txn_id_len, int64_t pid, int16_t epoch,
                              int32_t offsets_part, int16_t api_version)
{
    char buf[512 * 3];
    if (txn_id_len <= 0 || txn_id_len > 512)
        return KERR_NONE; /* not for this check: the request goes on as before */
    txn_str id = { buf, coord_java_utf8(txn_id, txn_id_len, buf) };
    pthread_mutex_lock(&c->lock);
    txn_view v;
    int16_t err = view_locked(c, id, &v);
    if (err == KERR_TRANSACTIONAL_ID_NOT_FOUND) {
        err = KERR_INVALID_PRODUCER_ID_MAPPING;
    } else if (err != KERR_NONE) {
        err = KERR_NONE; /* coordinated elsewhere, or not loaded: unchecked */
    } else if (v.producer_id != pid) {
        err = KERR_INVALID_PRODUCER_ID_MAPPING;
    } else if (v.producer_epoch != epoch) {
        err = KERR_INVALID_PRODUCER_EPOCH; /* Kafka's PRODUCER_FENCED, as TxnOffsetCommit answers it */
    } else if (v.state == TXN_PREPARE_COMMIT || v.state == TXN_PREPARE_ABORT) {
        err = KERR_CONCURRENT_TRANSACTIONS;
    } else {
        err = view_holds(&v, OFFSETS_TOPIC, offsets_part) ? KERR_NONE
              : api_version >= 4                             ? KERR_TRANSACTION_ABORTABLE
                                                             : KERR_INVALID_TXN_STATE;
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* ---- operators ---- */

static void view_topics(req *rq, const txn_view *v, kp_describe_transactions_resp_transaction_state *s)
{
    /* partitions come sorted by topic: one entry per topic */
    s->topics = arena_alloc(&rq->arena, sizeof(*s->topics) * (size_t)(v->npartitions ? v->npartitions : 1));
    int32_t *ids = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(v->npartitions ? v->npartitions : 1));
    s->topics_n = 0;
    for (int i = 0; s->topics && ids && i < v->npartitions; i++) {
        kp_describe_transactions_resp_topic_data *t = s->topics_n ? &s->topics[s->topics_n - 1] : NULL;
        if (!t || strcmp(v->partitions[i - 1].topic, v->partitions[i].topic) != 0) {
            t = &s->topics[s->topics_n++];
            kp_describe_transactions_resp_topic_data_init(t);
            t->topic = akstr(&rq->arena, v->partitions[i].topic);
            t->partitions = &ids[i];
            t->partitions_n = 0;
        }
        ids[i] = v->partitions[i].partition;
        t->partitions_n++;
    }
}

void tcoord_describe(tcoord *c, req *rq, const kp_describe_transactions_req *body,
                     kp_describe_transactions_resp *out)
{
    int n = body->transactional_ids_n > 0 ? body->transactional_ids_n : 0;
    out->transaction_states = arena_alloc(&rq->arena, sizeof(*out->transaction_states) * (size_t)(n ? n : 1));
    out->transaction_states_n = out->transaction_states ? n : 0;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < out->transaction_states_n; i++) {
        kp_describe_transactions_resp_transaction_state *s = &out->transaction_states[i];
        kp_describe_transactions_resp_transaction_state_init(s);
        txn_str id = jstr(rq, body->transactional_ids[i]);
        s->transactional_id = TKSTR(id);
        s->transaction_state = kp_str_c("");
        s->producer_id = -1;
        s->producer_epoch = -1;
        s->transaction_start_time_ms = -1;
        int32_t k;
        int16_t err;
        txn_coord *m = machine_for(c, id, &k, &err);
        txn_view v;
        if (m)
            err = txn_describe(m, id, &v);
        s->error_code = err;
        if (err != KERR_NONE)
            continue;
        s->transaction_state = akstr(&rq->arena, txn_state_name(v.state));
        s->transaction_timeout_ms = v.timeout_ms;
        s->transaction_start_time_ms = v.start_timestamp_ms;
        s->producer_id = v.producer_id;
        s->producer_epoch = v.producer_epoch;
        view_topics(rq, &v, s);
    }
    pthread_mutex_unlock(&c->lock);
}

/* KIP-1152 (ListTransactions v2): the transactional id must match the
 * whole pattern. Kafka compiles a Java regular expression; Gregor a POSIX
 * extended one (the common subset reads the same), over every byte of the
 * id (REG_STARTEND: an id may hold NUL). */
static bool id_matches(const regex_t *re, kp_str id)
{
    regmatch_t m = { .rm_so = 0, .rm_eo = id.len > 0 ? id.len : 0 };
    return regexec(re, id.ptr ? id.ptr : "", 1, &m, REG_STARTEND) == 0 && m.rm_so == 0 &&
           m.rm_eo == (id.len > 0 ? id.len : 0);
}

void tcoord_list(tcoord *c, req *rq, const kp_list_transactions_req *body, kp_list_transactions_resp *out)
{
    regex_t re;
    bool pattern = body->transactional_id_pattern.len > 0;
    if (pattern) {
        char *p = arena_alloc(&rq->arena, (size_t)body->transactional_id_pattern.len + 5);
        if (p)
            snprintf(p, (size_t)body->transactional_id_pattern.len + 5, "^(%.*s)$",
                     (int)body->transactional_id_pattern.len, body->transactional_id_pattern.ptr);
        if (!p || regcomp(&re, p, REG_EXTENDED) != 0) {
            out->error_code = KERR_INVALID_REGULAR_EXPRESSION; /* as Kafka, with nothing listed */
            return;
        }
    }
    txn_list_filter f = {
        .producer_ids = body->producer_id_filters,
        .nproducer_ids = body->producer_id_filters_n > 0 ? body->producer_id_filters_n : 0,
        .filter_states = body->state_filters_n > 0,
        .duration_ms = body->duration_filter,
    };
    int nunknown = 0;
    out->unknown_state_filters = arena_alloc(&rq->arena, sizeof(kp_str) * (size_t)(f.filter_states ? body->state_filters_n : 1));
    for (int i = 0; i < body->state_filters_n; i++) {
        char *s = cstr(rq, body->state_filters[i]);
        int st = s ? txn_state_from_name(s) : -1;
        if (st >= 0)
            f.states_mask |= 1u << st;
        else if (out->unknown_state_filters)
            out->unknown_state_filters[nunknown++] = body->state_filters[i];
    }
    out->unknown_state_filters_n = nunknown;
    pthread_mutex_lock(&c->lock);
    int16_t err = find_topic(c, true, false);
    bool differs = atomic_load(&c->moved);
    for (int32_t k = 0; err == KERR_NONE && k < c->nparts && !differs; k++)
        differs = leadership_differs(c, k);
    if (differs)
        reconcile_locked(c);
    int cap = 0, n = 0;
    kp_list_transactions_resp_transaction_state *v = NULL;
    for (int32_t k = 0; err == KERR_NONE && k < c->nparts; k++) {
        const txn_view *views;
        int nv;
        /* this broker's machines only: the admin client asks every broker */
        if (!c->m[k] || txn_list(c->m[k], &f, clock_now_ms(), &views, &nv) != KERR_NONE)
            continue;
        if (n + nv > cap) {
            int ncap = (n + nv) * 2;
            kp_list_transactions_resp_transaction_state *nvv = arena_alloc(&rq->arena, sizeof(*nvv) * (size_t)ncap);
            if (!nvv)
                break;
            if (n)
                memcpy(nvv, v, sizeof(*v) * (size_t)n);
            v = nvv;
            cap = ncap;
        }
        for (int i = 0; i < nv; i++) {
            if (pattern && !id_matches(&re, (kp_str){ views[i].txn_id.ptr, views[i].txn_id.len }))
                continue;
            kp_list_transactions_resp_transaction_state_init(&v[n]);
            char *tid = arena_alloc(&rq->arena, (size_t)views[i].txn_id.len + 1);
            if (tid && views[i].txn_id.len > 0)
                memcpy(tid, views[i].txn_id.ptr, (size_t)views[i].txn_id.len);
            v[n].transactional_id = tid ? (kp_str){ tid, views[i].txn_id.len } : kp_str_c("");
            v[n].producer_id = views[i].producer_id;
            v[n].transaction_state = akstr(&rq->arena, txn_state_name(views[i].state));
            n++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (pattern)
        regfree(&re);
    out->error_code = err == KERR_NONE ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
    out->transaction_states = v;
    out->transaction_states_n = n;
}

/* ---- life ---- */

static void *tcoord_main(void *arg)
{
    tcoord *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if (atomic_load(&c->moved)) {
            if (c->state)
                reconcile_locked(c);
            else
                find_topic(c, false, true); /* the topic reached the table: take it */
        }
        int64_t now = clock_now_ms(), next = now + 1000;
        for (int32_t k = 0; c->m && k < c->nparts; k++) {
            if (!c->m[k])
                continue;
            int64_t d = txn_next_deadline_ms(c->m[k]);
            if (d <= now) {
                txn_actions acts = { 0 };
                txn_set_transaction_version(c->m[k], cluster_tv(c));
                if (txn_tick(c->m[k], now, c->spare_pid, &acts))
                    c->spare_pid = -1; /* a timed-out V2 transaction at its last epoch took it */
                run(c, k, &acts);
                txn_actions_free(&acts);
                d = txn_next_deadline_ms(c->m[k]);
            }
            if (d < next)
                next = d;
        }
        /* Marker jobs due for another try. */
        int64_t mono = clock_mono_ms();
        mjob *due = NULL, **pp = &c->retry;
        while (*pp) {
            mjob *j = *pp;
            if (j->retry_at <= mono) {
                *pp = j->next;
                j->next = due;
                due = j;
            } else {
                pp = &j->next;
            }
        }
        while (due) {
            mjob *j = due;
            due = j->next;
            j->next = NULL;
            job_step(c, j);
        }
        retry_adds(c);
        int64_t wait = next - clock_now_ms();
        if (c->addq && wait > 10)
            wait = 10; /* adds waiting: try again soon, answer them by their deadline */
        if (wait < 10)
            wait = 10;
        if (wait > 1000)
            wait = 1000;
        struct timespec ts = clock_deadline_in(wait);
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

tcoord *tcoord_new(const tcoord_env *env)
{
    tcoord *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->env = *env;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->nparts = (int32_t)config_get_num(env->cfg, BCFG_TXN_STATE_LOG_NUM_PARTITIONS);
    c->lim.transaction_timeout_ms_max = (int32_t)config_get_num(env->cfg, BCFG_TXN_MAX_TIMEOUT_MS);
    c->lim.transactional_id_expiration_ms = config_get_num(env->cfg, BCFG_TXN_ID_EXPIRATION_MS);
    c->lim.abort_check_interval_ms = (int32_t)config_get_num(env->cfg, BCFG_TXN_ABORT_CHECK_INTERVAL_MS);
    c->lim.expire_check_interval_ms = (int32_t)config_get_num(env->cfg, BCFG_TXN_EXPIRE_CHECK_INTERVAL_MS);
    c->spare_pid = -1;
    c->addq_tail = &c->addq;
    c->mark = tmark_new(env->ctx);
    return c;
}

int tcoord_load(tcoord *c, char *err, size_t errlen)
{
    topic *tp = topics_get(c->env.topics, TCOORD_TOPIC, (int)strlen(TCOORD_TOPIC));
    if (!tp)
        return 0; /* created on first use, as Kafka does */
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (topic_nparts(tp) >= c->nparts)
        rc = take_topic(c, tp);
    else
        topic_unref(tp); /* being added to the table: the publisher's wake-up takes it */
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        snprintf(err, errlen, "out of memory loading %s", TCOORD_TOPIC);
    return rc;
}

int tcoord_start(tcoord *c)
{
    c->started = pthread_create(&c->thread, NULL, tcoord_main, c) == 0;
    return c->started ? 0 : -1;
}

void tcoord_stop(tcoord *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    tmark_stop(c->mark);
    while (c->addq) {
        tq *q = c->addq;
        c->addq = q->qnext;
        txn_action a = { .kind = TXN_ACT_RESPOND, .token = q, .error = KERR_NOT_COORDINATOR, .producer_id = -1,
                         .producer_epoch = -1 };
        respond(c, &a);
    }
    c->addq_tail = &c->addq;
    for (int32_t k = 0; c->m && k < c->nparts; k++) {
        if (!c->m[k])
            continue;
        txn_actions acts = { 0 };
        txn_resign(c->m[k], &acts);
        run(c, k, &acts);
        txn_actions_free(&acts);
    }
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (c->started)
        pthread_join(c->thread, NULL);
    c->started = false;
}

void tcoord_free(tcoord *c)
{
    if (!c)
        return;
    while (c->retry) {
        mjob *j = c->retry;
        c->retry = j->next;
        job_free(j);
    }
    for (int32_t k = 0; c->m && k < c->nparts; k++)
        txn_coord_free(c->m[k]);
    free(c->m);
    free(c->own);
    free(c->gen);
    tmark_free(c->mark);
    topic_unref(c->state);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}
