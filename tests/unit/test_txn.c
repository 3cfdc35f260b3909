/*
 * test_txn.c - the transaction coordinator state machine (txn/txn).
 *
 * Drives a txn_coord with a fake clock and plays the caller: every request
 * token is a tok slot answered exactly once (collect() checks it), every
 * PERSIST is kept in flight until the test completes or fails it (a
 * successful one is appended to a fake __transaction_state log), every
 * WRITE_MARKERS is outstanding until the test reports it done. The
 * scenario tests walk each transition and error code of Kafka's
 * coordinator; the replay test feeds the log back into a fresh machine; the
 * last test is a seeded random walk with invariants checked after every
 * step.
 */
#include "txn/txn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define STR_MAX 64
#define PARTS_MAX 16
#define TOKS_MAX 4096
#define IDS_MAX 16
#define LOG_MAX 40000
#define TIMEOUT_MS 60000
#define EXPIRATION_MS 604800000LL
#define ABORT_INTERVAL_MS 10000
#define EXPIRE_INTERVAL_MS 3600000

/* ---- harness: records, tokens, actions ---- */

/* A deep copy of a txn_record (or a tombstone) as the fake log keeps it. */
typedef struct rec {
    char id[STR_MAX];
    bool tombstone;
    int64_t pid, prev_pid, next_pid;
    int16_t epoch;
    int32_t timeout_ms;
    int8_t state;
    bool parts_null;
    int nparts;
    char topics[PARTS_MAX][STR_MAX];
    int32_t parts[PARTS_MAX];
    int64_t update_ms, start_ms;
    int16_t client_tv;
} rec;

typedef struct tok {
    int answered;
    int16_t err;
    int64_t pid;
    int16_t epoch;
} tok;

/* What the caller has outstanding for one transactional id. */
typedef struct idstate {
    char id[STR_MAX];
    bool inflight;        /* a PERSIST awaits persist_done */
    rec inflight_rec;
    bool markers;         /* a WRITE_MARKERS awaits markers_done */
    bool markers_commit;
    int64_t markers_pid;
    int16_t markers_epoch;
    int markers_nparts;
    int32_t markers_coord_epoch;
    int last_log;         /* index of its last record in the log, -1 */
    bool fence_failed;    /* a fence's PrepareAbort failed since the last record */
} idstate;

/* C strings in, the machine's txn_str out (NUL-terminated; null: NULL). */
static txn_str T(const char *s)
{
    return s ? (txn_str){ s, (int32_t)strlen(s) } : TXN_STR_NULL;
}

static const char *TC(txn_str s)
{
    return s.len < 0 ? NULL : s.ptr;
}

static int64_t now_ms = 1000000;
static txn_actions acts;
static tok toks[TOKS_MAX];
static int ntoks, test_tok_first;
static rec logv[LOG_MAX];
static int nlog;
static idstate ids[IDS_MAX];
static int nids;
static int nmarkers_emitted, npersist_emitted;
static rec last_persist; /* the last PERSIST emitted */
static int16_t last_markers_tv; /* the last WRITE_MARKERS' transaction version */

static idstate *ids_get(const char *id)
{
    for (int i = 0; i < nids; i++) {
        if (strcmp(ids[i].id, id) == 0)
            return &ids[i];
    }
    if (nids >= IDS_MAX) {
        fprintf(stderr, "test_txn: IDS_MAX too small\n");
        exit(2);
    }
    idstate *s = &ids[nids++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, STR_MAX, "%s", id);
    s->last_log = -1;
    return s;
}

static void ids_reset(void)
{
    nids = 0;
    nlog = 0;
}

static void rec_from_action(rec *r, const txn_action *a)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, STR_MAX, "%s", TC(a->txn_id));
    r->tombstone = a->tombstone;
    if (a->tombstone)
        return;
    const txn_record *v = &a->record;
    r->pid = v->producer_id;
    r->prev_pid = v->previous_producer_id;
    r->next_pid = v->next_producer_id;
    r->epoch = v->producer_epoch;
    r->timeout_ms = v->transaction_timeout_ms;
    r->state = v->transaction_status;
    r->parts_null = v->partitions_null;
    r->nparts = v->npartitions;
    CHECK(v->npartitions <= PARTS_MAX);
    for (int i = 0; i < v->npartitions && i < PARTS_MAX; i++) {
        snprintf(r->topics[i], STR_MAX, "%s", v->partitions[i].topic);
        r->parts[i] = v->partitions[i].partition;
    }
    r->update_ms = v->last_update_timestamp_ms;
    r->start_ms = v->start_timestamp_ms;
    r->client_tv = v->client_transaction_version;
}

/* rec -> txn_record for txn_load; parts points into r. */
static void rec_to_record(const rec *r, txn_record *v, txn_partition *parts)
{
    memset(v, 0, sizeof(*v));
    v->producer_id = r->pid;
    v->previous_producer_id = r->prev_pid;
    v->next_producer_id = r->next_pid;
    v->producer_epoch = r->epoch;
    v->transaction_timeout_ms = r->timeout_ms;
    v->transaction_status = r->state;
    v->partitions_null = r->parts_null;
    for (int i = 0; i < r->nparts; i++) {
        parts[i].topic = r->topics[i];
        parts[i].partition = r->parts[i];
    }
    v->partitions = parts;
    v->npartitions = r->nparts;
    v->last_update_timestamp_ms = r->update_ms;
    v->start_timestamp_ms = r->start_ms;
    v->client_transaction_version = r->client_tv;
}

static tok *tok_new(void)
{
    if (ntoks >= TOKS_MAX) {
        fprintf(stderr, "test_txn: TOKS_MAX too small\n");
        exit(2);
    }
    tok *t = &toks[ntoks++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* Markers may go out only for a transaction whose Prepare record is in the log. */
static void markers_check(const txn_action *a)
{
    idstate *s = ids_get(TC(a->txn_id));
    CHECK(!s->markers);
    CHECK(!s->inflight);
    CHECK(s->last_log >= 0);
    if (s->last_log < 0)
        return;
    const rec *r = &logv[s->last_log];
    CHECK(!r->tombstone);
    CHECK_EQ_I64(r->state, a->commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
    CHECK_EQ_I64(r->pid, a->producer_id);
    CHECK_EQ_I64(r->epoch, a->producer_epoch);
    CHECK_EQ_I64(r->nparts, a->npartitions);
    for (int i = 0; i < r->nparts && i < a->npartitions; i++)
        CHECK(strcmp(r->topics[i], a->partitions[i].topic) == 0 && r->parts[i] == a->partitions[i].partition);
    s->markers = true;
    s->markers_commit = a->commit;
    s->markers_pid = a->producer_id;
    s->markers_epoch = a->producer_epoch;
    s->markers_nparts = a->npartitions;
    s->markers_coord_epoch = a->coordinator_epoch;
    last_markers_tv = a->transaction_version;
}

/* Take the actions of the last call (payloads are only valid until the next). */
static void collect(void)
{
    for (int i = 0; i < acts.n; i++) {
        const txn_action *a = &acts.v[i];
        if (a->kind == TXN_ACT_RESPOND) {
            tok *t = a->token;
            CHECK(t >= toks && t < toks + ntoks);
            CHECK_EQ_I64(t->answered, 0); /* exactly once */
            t->answered++;
            t->err = a->error;
            t->pid = a->producer_id;
            t->epoch = a->producer_epoch;
        } else if (a->kind == TXN_ACT_PERSIST) {
            idstate *s = ids_get(TC(a->txn_id));
            CHECK(!s->inflight); /* one record in flight per id */
            CHECK(!s->markers);
            s->inflight = true;
            rec_from_action(&s->inflight_rec, a);
            last_persist = s->inflight_rec;
            npersist_emitted++;
            if (!a->tombstone)
                CHECK(a->record.partitions_null == (a->record.transaction_status == TXN_EMPTY));
        } else {
            CHECK_EQ_I64(a->kind, TXN_ACT_WRITE_MARKERS);
            markers_check(a);
            nmarkers_emitted++;
        }
    }
    txn_actions_reset(&acts);
}

static txn_limits lim_default(void)
{
    txn_limits lim = { 900000, EXPIRATION_MS, ABORT_INTERVAL_MS, EXPIRE_INTERVAL_MS };
    return lim;
}

/* A machine that has loaded nothing (a new partition). */
static txn_coord *coord_make(int32_t coordinator_epoch)
{
    txn_limits lim = lim_default();
    txn_coord *c = txn_coord_new(3, coordinator_epoch, &lim);
    CHECK(c != NULL);
    txn_load_done(c, now_ms, &acts);
    collect();
    return c;
}

/* ---- requests ---- */

static int64_t pid_next = 1000;

static tok *init_v(txn_coord *c, const char *id, int32_t timeout_ms, int64_t exp_pid, int16_t exp_epoch,
                   int16_t version, bool *took)
{
    tok *t = tok_new();
    txn_init_req q = { t, version, T(id), timeout_ms, exp_pid, exp_epoch, pid_next };
    bool used = txn_init_producer_id(c, &q, now_ms, &acts);
    if (used)
        pid_next++;
    if (took)
        *took = used;
    collect();
    return t;
}

static tok *init(txn_coord *c, const char *id)
{
    return init_v(c, id, TIMEOUT_MS, -1, -1, 4, NULL);
}

/* "t0:1,t2:0" */
static int parts_parse(const char *spec, txn_partition *pv, char names[][STR_MAX])
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p && n < PARTS_MAX; p = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(p, ':');
        CHECK(colon != NULL);
        *colon = '\0';
        snprintf(names[n], STR_MAX, "%s", p);
        pv[n].topic = names[n];
        pv[n].partition = atoi(colon + 1);
        n++;
    }
    return n;
}

static tok *add_v(txn_coord *c, const char *id, int64_t pid, int16_t epoch, const char *spec, int16_t version)
{
    txn_partition pv[PARTS_MAX];
    char names[PARTS_MAX][STR_MAX];
    int n = parts_parse(spec, pv, names);
    tok *t = tok_new();
    txn_add_req q = { t, version, 0, T(id), pid, epoch, pv, n };
    txn_add_partitions(c, &q, now_ms, &acts);
    collect();
    return t;
}

static tok *add(txn_coord *c, const char *id, int64_t pid, int16_t epoch, const char *spec)
{
    return add_v(c, id, pid, epoch, spec, 3);
}

static tok *end_v(txn_coord *c, const char *id, int64_t pid, int16_t epoch, bool commit, int16_t version)
{
    tok *t = tok_new();
    txn_end_req q = { t, version, 0, T(id), pid, epoch, commit, -1 };
    txn_end_txn(c, &q, now_ms, &acts);
    collect();
    return t;
}

static tok *end(txn_coord *c, const char *id, int64_t pid, int16_t epoch, bool commit)
{
    return end_v(c, id, pid, epoch, commit, 3);
}

/* Transactions V2: the leader's implicit add (AddPartitionsToTxn v5), EndTxn v5. */
static tok *add2(txn_coord *c, const char *id, int64_t pid, int16_t epoch, const char *spec)
{
    txn_partition pv[PARTS_MAX];
    char names[PARTS_MAX][STR_MAX];
    int n = parts_parse(spec, pv, names);
    tok *t = tok_new();
    txn_add_req q = { t, 5, 2, T(id), pid, epoch, pv, n };
    txn_add_partitions(c, &q, now_ms, &acts);
    collect();
    return t;
}

static tok *end2(txn_coord *c, const char *id, int64_t pid, int16_t epoch, bool commit, int64_t fresh, bool *took)
{
    tok *t = tok_new();
    txn_end_req q = { t, 5, 2, T(id), pid, epoch, commit, fresh };
    bool used = txn_end_txn(c, &q, now_ms, &acts);
    if (took)
        *took = used;
    collect();
    return t;
}

/* ---- the caller's work ---- */

static void view_matches_rec(txn_coord *c, const rec *r)
{
    txn_view v;
    int16_t e = txn_describe(c, T(r->id), &v);
    CHECK_EQ_I64(e, TXN_OK);
    if (e != TXN_OK)
        return;
    CHECK_EQ_I64(v.producer_id, r->pid);
    CHECK_EQ_I64(v.producer_epoch, r->epoch);
    CHECK_EQ_I64(v.state, r->state);
    CHECK_EQ_I64(v.timeout_ms, r->timeout_ms);
    CHECK_EQ_I64(v.start_timestamp_ms, r->start_ms);
    CHECK_EQ_I64(v.last_update_timestamp_ms, r->update_ms);
    CHECK_EQ_I64(v.npartitions, r->nparts);
    for (int i = 0; i < v.npartitions && i < r->nparts; i++)
        CHECK(strcmp(v.partitions[i].topic, r->topics[i]) == 0 && v.partitions[i].partition == r->parts[i]);
}

static void log_append(idstate *s, const rec *r)
{
    if (nlog >= LOG_MAX) {
        fprintf(stderr, "test_txn: LOG_MAX too small\n");
        exit(2);
    }
    logv[nlog] = *r;
    s->last_log = nlog++;
    s->fence_failed = false;
}

/* The record of id's PERSIST is written (append_error 0) or not. */
static void persist_done(txn_coord *c, const char *id, int16_t append_error)
{
    idstate *s = ids_get(id);
    CHECK(s->inflight);
    if (!s->inflight)
        return;
    s->inflight = false;
    rec r = s->inflight_rec;
    if (append_error == 0)
        log_append(s, &r);
    else if (!r.tombstone && r.state == TXN_PREPARE_ABORT && r.client_tv < 2 &&
             (s->last_log < 0 || logv[s->last_log].epoch != r.epoch))
        s->fence_failed = true; /* the machine keeps the bumped epoch in memory (V1; V2 bumps with the record) */
    CHECK_EQ_I64(txn_persist_done(c, T(id), append_error, now_ms, &acts), 0);
    collect();
    /* after a record is written, the machine's metadata is that record */
    if (append_error == 0 && !r.tombstone)
        view_matches_rec(c, &r);
    if (append_error == 0 && r.tombstone) {
        txn_view v;
        CHECK_EQ_I64(txn_describe(c, T(id), &v), TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
    }
}

static void persist_ok(txn_coord *c, const char *id)
{
    persist_done(c, id, 0);
}

static void markers_done(txn_coord *c, const char *id)
{
    idstate *s = ids_get(id);
    CHECK(s->markers);
    s->markers = false;
    CHECK_EQ_I64(txn_markers_done(c, T(id), now_ms, &acts), 0);
    collect();
}

/* Complete everything outstanding (records written, markers written). */
static void settle(txn_coord *c)
{
    for (int round = 0; round < 100; round++) {
        bool any = false;
        for (int i = 0; i < nids; i++) {
            if (ids[i].inflight) {
                persist_ok(c, ids[i].id);
                any = true;
            } else if (ids[i].markers) {
                markers_done(c, ids[i].id);
                any = true;
            }
        }
        if (!any)
            return;
    }
    CHECK(!"settle did not converge");
}

static void tick_at(txn_coord *c, int64_t t)
{
    if (t > now_ms)
        now_ms = t;
    txn_tick(c, now_ms, -1, &acts);
    collect();
}

static txn_view describe(txn_coord *c, const char *id)
{
    txn_view v;
    memset(&v, 0, sizeof(v));
    CHECK_EQ_I64(txn_describe(c, T(id), &v), TXN_OK);
    return v;
}

static void finish(txn_coord *c)
{
    for (int i = test_tok_first; i < ntoks; i++) {
        if (toks[i].answered != 1)
            fprintf(stderr, "  token %d answered %d times\n", i, toks[i].answered);
        CHECK_EQ_I64(toks[i].answered, 1);
    }
    txn_coord_free(c);
    test_tok_first = ntoks;
    ids_reset();
    now_ms += 10000000;
}

/* An id with an open transaction on t0:0 (producer pid, epoch 0). */
static void begin(txn_coord *c, const char *id, int64_t *pid, int16_t *epoch)
{
    tok *t = init(c, id);
    persist_ok(c, id);
    CHECK_EQ_I64(t->err, TXN_OK);
    *pid = t->pid;
    *epoch = t->epoch;
    tok *a = add(c, id, *pid, *epoch, "t0:0");
    persist_ok(c, id);
    CHECK_EQ_I64(a->err, TXN_OK);
    CHECK_EQ_I64(describe(c, id).state, TXN_ONGOING);
}

/* ---- scenario tests ---- */

static void test_names_and_errors(void)
{
    const char *names[] = { "Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
                            "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence" };
    for (int i = 0; i < TXN_STATE_COUNT; i++) {
        CHECK(strcmp(txn_state_name(i), names[i]) == 0);
        CHECK_EQ_I64(txn_state_from_name(names[i]), i);
    }
    CHECK(strcmp(txn_state_name(8), "Unknown") == 0);
    CHECK_EQ_I64(txn_state_from_name("Bogus"), -1);
    CHECK_EQ_I64(txn_state_from_name(NULL), -1);
    /* appendTransactionToLog's table */
    CHECK_EQ_I64(txn_append_error(0), 0);
    CHECK_EQ_I64(txn_append_error(3), 15);
    CHECK_EQ_I64(txn_append_error(19), 15);
    CHECK_EQ_I64(txn_append_error(20), 15);
    CHECK_EQ_I64(txn_append_error(7), 15);
    CHECK_EQ_I64(txn_append_error(6), 16);
    CHECK_EQ_I64(txn_append_error(56), 16);
    CHECK_EQ_I64(txn_append_error(10), -1);
    CHECK_EQ_I64(txn_append_error(18), -1);
    CHECK_EQ_I64(txn_append_error(87), 87);
    txn_limits bad = lim_default();
    bad.transaction_timeout_ms_max = 0;
    CHECK(txn_coord_new(0, 0, &bad) == NULL);
    bad = lim_default();
    CHECK(txn_coord_new(-1, 0, &bad) == NULL);
    txn_coord_free(NULL);
}

/* Before txn_load_done: COORDINATOR_LOAD_IN_PROGRESS; after txn_resign: NOT_COORDINATOR. */
static void test_loading_and_resigned(void)
{
    txn_limits lim = lim_default();
    txn_coord *c = txn_coord_new(7, 4, &lim);
    CHECK_EQ_I64(txn_coord_partition(c), 7);
    CHECK_EQ_I64(txn_coord_epoch(c), 4);
    CHECK_EQ_I64(txn_next_deadline_ms(c), INT64_MAX);
    bool took = true;
    CHECK_EQ_I64(init_v(c, "x", TIMEOUT_MS, -1, -1, 4, &took)->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    CHECK(!took);
    CHECK_EQ_I64(add(c, "x", 1, 0, "t0:0")->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    CHECK_EQ_I64(end(c, "x", 1, 0, true)->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    txn_view v;
    CHECK_EQ_I64(txn_describe(c, T("x"), &v), TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    const txn_view *lv;
    int n;
    txn_list_filter f = { NULL, 0, false, 0, -1 };
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    /* an idempotent producer needs no state at all */
    tok *t = init_v(c, NULL, 0, -1, -1, 4, &took);
    CHECK(took && t->err == TXN_OK && t->pid == pid_next - 1 && t->epoch == 0);
    txn_load_done(c, now_ms, &acts);
    collect();
    CHECK_EQ_I64(txn_load(c, T("late"), NULL), -1); /* loading is over */
    txn_load_done(c, now_ms, &acts);              /* twice: nothing */
    collect();
    tok *w = init(c, "x"); /* waits for its record */
    CHECK_EQ_I64(w->answered, 0);
    txn_resign(c, &acts);
    collect();
    CHECK_EQ_I64(w->answered, 1);
    CHECK_EQ_I64(w->err, TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(txn_persist_done(c, T("x"), 0, now_ms, &acts), 0); /* the late result changes nothing */
    collect();
    ids_get("x")->inflight = false;
    CHECK_EQ_I64(txn_persist_done(c, T("x"), 0, now_ms, &acts), -1);
    CHECK_EQ_I64(init(c, "x")->err, TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(add(c, "x", 1, 0, "t0:0")->err, TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(end(c, "x", 1, 0, false)->err, TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(txn_describe(c, T("x"), &v), TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(txn_next_deadline_ms(c), INT64_MAX);
    finish(c);
}

/* InitProducerId's request checks, in Kafka's order. */
static void test_init_request_checks(void)
{
    txn_coord *c = coord_make(0);
    bool took = true;
    /* KafkaApis: producer id without epoch, or the reverse */
    CHECK_EQ_I64(init_v(c, "x", TIMEOUT_MS, 5, -1, 4, &took)->err, TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(init_v(c, "x", TIMEOUT_MS, -1, 3, 4, &took)->err, TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(init_v(c, NULL, TIMEOUT_MS, -1, 3, 4, &took)->err, TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(init_v(c, "", TIMEOUT_MS, -1, -1, 4, &took)->err, TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(init_v(c, "x", 0, -1, -1, 4, &took)->err, TXN_ERR_INVALID_TRANSACTION_TIMEOUT);
    CHECK_EQ_I64(init_v(c, "x", -5, -1, -1, 4, &took)->err, TXN_ERR_INVALID_TRANSACTION_TIMEOUT);
    CHECK_EQ_I64(init_v(c, "x", 900001, -1, -1, 4, &took)->err, TXN_ERR_INVALID_TRANSACTION_TIMEOUT);
    CHECK(!took);
    CHECK_EQ_I64(txn_count(c), 0);
    tok *t = init_v(c, "x", 900000, -1, -1, 4, &took); /* the maximum itself is fine */
    CHECK(took);
    persist_ok(c, "x");
    CHECK_EQ_I64(t->err, TXN_OK);
    /* no producer id available for a new id */
    tok *t2 = tok_new();
    txn_init_req q = { t2, 4, T("y"), TIMEOUT_MS, -1, -1, -1 };
    CHECK(!txn_init_producer_id(c, &q, now_ms, &acts));
    collect();
    CHECK_EQ_I64(t2->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    q.txn_id = TXN_STR_NULL;
    q.token = tok_new();
    CHECK(!txn_init_producer_id(c, &q, now_ms, &acts));
    collect();
    CHECK_EQ_I64(((tok *)q.token)->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    finish(c);
}

static void test_init_new_and_bump(void)
{
    txn_coord *c = coord_make(0);
    bool took = false;
    int64_t fresh = pid_next;
    tok *t = init_v(c, "app-1", 30000, -1, -1, 4, &took);
    CHECK(took);
    CHECK_EQ_I64(t->answered, 0); /* answered after the record */
    CHECK_EQ_I64(txn_count(c), 1);
    rec r = last_persist;
    CHECK(!r.tombstone && strcmp(r.id, "app-1") == 0);
    CHECK_EQ_I64(r.pid, fresh);
    CHECK_EQ_I64(r.epoch, 0);
    CHECK_EQ_I64(r.state, TXN_EMPTY);
    CHECK(r.parts_null && r.nparts == 0);
    CHECK_EQ_I64(r.timeout_ms, 30000);
    CHECK_EQ_I64(r.start_ms, -1);
    CHECK_EQ_I64(r.update_ms, now_ms);
    CHECK_EQ_I64(r.client_tv, 0);
    CHECK_EQ_I64(r.next_pid, -1);
    /* while the record is in flight: CONCURRENT_TRANSACTIONS */
    CHECK_EQ_I64(init(c, "app-1")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    txn_view v = describe(c, "app-1");
    CHECK_EQ_I64(v.pending, TXN_EMPTY);
    CHECK_EQ_I64(v.producer_epoch, -1); /* the new metadata, before its record */
    now_ms += 5;
    persist_ok(c, "app-1");
    CHECK_EQ_I64(t->answered, 1);
    CHECK_EQ_I64(t->err, TXN_OK);
    CHECK_EQ_I64(t->pid, fresh);
    CHECK_EQ_I64(t->epoch, 0);
    /* again: same producer id, epoch + 1, a new timeout */
    tok *t2 = init_v(c, "app-1", 45000, -1, -1, 4, &took);
    CHECK(!took);
    persist_ok(c, "app-1");
    CHECK(t2->err == TXN_OK && t2->pid == fresh && t2->epoch == 1);
    CHECK_EQ_I64(last_persist.prev_pid, fresh); /* Kafka records the id before the transition */
    CHECK_EQ_I64(describe(c, "app-1").timeout_ms, 45000);
    /* a record that cannot be written: the append error, mapped, and nothing changes */
    const int16_t fails[][2] = { { 19, 15 }, { 20, 15 }, { 7, 15 }, { 3, 15 }, { 6, 16 }, { 56, 16 }, { 10, -1 },
                                 { 18, -1 }, { 87, 87 } };
    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
        tok *f = init(c, "app-1");
        persist_done(c, "app-1", fails[i][0]);
        CHECK_EQ_I64(f->err, fails[i][1]);
        CHECK(f->pid == -1 && f->epoch == -1);
        CHECK_EQ_I64(describe(c, "app-1").producer_epoch, 1);
        CHECK_EQ_I64(describe(c, "app-1").pending, -1);
    }
    /* the first record of a new id fails: the id stays, unwritten, with its producer id */
    tok *n1 = init_v(c, "app-2", 30000, -1, -1, 4, &took);
    CHECK(took);
    int64_t p2 = pid_next - 1;
    persist_done(c, "app-2", 19);
    CHECK_EQ_I64(n1->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    v = describe(c, "app-2");
    CHECK(v.producer_id == p2 && v.producer_epoch == -1 && v.state == TXN_EMPTY);
    tok *n2 = init_v(c, "app-2", 30000, -1, -1, 4, &took);
    CHECK(!took); /* the retry uses the producer id it has */
    persist_ok(c, "app-2");
    CHECK(n2->err == TXN_OK && n2->pid == p2 && n2->epoch == 0);
    /* a producer id never initialised cannot start a transaction (Kafka: illegal epoch -1) */
    tok *n3 = init_v(c, "app-3", 30000, -1, -1, 4, &took);
    persist_done(c, "app-3", 19);
    CHECK_EQ_I64(n3->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(add(c, "app-3", pid_next - 1, -1, "t0:0")->err, TXN_ERR_UNKNOWN_SERVER_ERROR);
    CHECK_EQ_I64(end(c, "app-3", pid_next - 1, -1, true)->err, TXN_ERR_INVALID_TXN_STATE);
    finish(c);
}

/* KIP-360: InitProducerId with the producer id and epoch the client has. */
static void test_init_expected(void)
{
    txn_coord *c = coord_make(0);
    bool took;
    /* a new id: any expected producer is accepted */
    tok *t = init_v(c, "k", TIMEOUT_MS, 77, 9, 4, &took);
    CHECK(took);
    persist_ok(c, "k");
    CHECK(t->err == TXN_OK && t->epoch == 0);
    int64_t pid = t->pid;
    /* the current producer bumps: epoch + 1 */
    tok *t1 = init_v(c, "k", TIMEOUT_MS, pid, 0, 4, &took);
    persist_ok(c, "k");
    CHECK(t1->err == TXN_OK && t1->pid == pid && t1->epoch == 1);
    /* its retry (the answer was lost): the same epoch again, no bump */
    tok *t2 = init_v(c, "k", TIMEOUT_MS, pid, 0, 4, &took);
    persist_ok(c, "k");
    CHECK(t2->err == TXN_OK && t2->pid == pid && t2->epoch == 1);
    /* an older epoch: fenced; v3 and older hear INVALID_PRODUCER_EPOCH */
    tok *f4 = init_v(c, "k", TIMEOUT_MS, pid, 5, 4, &took);
    tok *f3 = init_v(c, "k", TIMEOUT_MS, pid, 5, 3, &took);
    CHECK_EQ_I64(f4->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(f3->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    CHECK(f4->pid == -1 && f4->epoch == -1);
    /* another producer id: fenced */
    CHECK_EQ_I64(init_v(c, "k", TIMEOUT_MS, pid + 100, 1, 5, &took)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(init_v(c, "k", TIMEOUT_MS, pid + 100, 1, 0, &took)->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    /* a new producer (no expected) fences the old: its last epoch is forgotten */
    tok *t3 = init(c, "k");
    persist_ok(c, "k");
    CHECK_EQ_I64(t3->epoch, 2);
    CHECK_EQ_I64(init_v(c, "k", TIMEOUT_MS, pid, 1, 4, &took)->err, TXN_ERR_PRODUCER_FENCED);
    finish(c);
}

static void load_rec(txn_coord *c, const rec *r)
{
    txn_record v;
    txn_partition parts[PARTS_MAX];
    rec_to_record(r, &v, parts);
    CHECK_EQ_I64(txn_load(c, T(r->id), &v), 0);
    log_append(ids_get(r->id), r);
}

static rec rec_empty(const char *id, int64_t pid, int16_t epoch)
{
    rec r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, STR_MAX, "%s", id);
    r.pid = pid;
    r.prev_pid = r.next_pid = -1;
    r.epoch = epoch;
    r.timeout_ms = TIMEOUT_MS;
    r.state = TXN_EMPTY;
    r.parts_null = true;
    r.update_ms = now_ms;
    r.start_ms = -1;
    return r;
}

/* Epochs run out at Short.MaxValue - 1: the next InitProducerId takes a new producer id. */
static void test_epoch_exhaustion(void)
{
    txn_limits lim = lim_default();
    txn_coord *c = txn_coord_new(0, 0, &lim);
    rec r = rec_empty("old", 500, 32765);
    load_rec(c, &r);
    rec r2 = rec_empty("old2", 600, 32766);
    load_rec(c, &r2);
    txn_load_done(c, now_ms, &acts);
    collect();
    bool took = true;
    tok *t = init_v(c, "old", TIMEOUT_MS, -1, -1, 4, &took);
    CHECK(!took);
    persist_ok(c, "old");
    CHECK(t->err == TXN_OK && t->pid == 500 && t->epoch == 32766);
    /* exhausted: a new producer id, epoch 0; the record keeps the old id as previous */
    int64_t fresh = pid_next;
    tok *t2 = init_v(c, "old", TIMEOUT_MS, 500, 32766, 4, &took);
    CHECK(took);
    persist_ok(c, "old");
    CHECK(t2->err == TXN_OK && t2->pid == fresh && t2->epoch == 0);
    CHECK_EQ_I64(last_persist.prev_pid, 500);
    /* its retry, with the old producer: still current (the previous id, exhausted), same answer */
    tok *t3 = init_v(c, "old", TIMEOUT_MS, 500, 32766, 4, &took);
    CHECK(!took);
    persist_ok(c, "old");
    CHECK(t3->err == TXN_OK && t3->pid == fresh && t3->epoch == 0);
    /* the old producer id with an epoch not exhausted: fenced */
    CHECK_EQ_I64(init_v(c, "old", TIMEOUT_MS, 500, 32000, 4, &took)->err, TXN_ERR_PRODUCER_FENCED);
    /* exhausted, no producer id available: retriable */
    tok *t4 = tok_new();
    txn_init_req q = { t4, 4, T("old2"), TIMEOUT_MS, -1, -1, -1 };
    CHECK(!txn_init_producer_id(c, &q, now_ms, &acts));
    collect();
    CHECK_EQ_I64(t4->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    /* exhausted with a different expected epoch: Kafka's IllegalStateException */
    CHECK_EQ_I64(init_v(c, "old2", TIMEOUT_MS, 600, 32700, 4, &took)->err, TXN_ERR_UNKNOWN_SERVER_ERROR);
    CHECK(!took);
    tok *t5 = init_v(c, "old2", TIMEOUT_MS, -1, -1, 4, &took);
    CHECK(took);
    persist_ok(c, "old2");
    CHECK(t5->err == TXN_OK && t5->pid == pid_next - 1 && t5->epoch == 0);
    finish(c);
}

static void test_add_partitions(void)
{
    txn_coord *c = coord_make(0);
    CHECK_EQ_I64(add(c, "nope", 1, 0, "t0:0")->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ_I64(add(c, "", 1, 0, "t0:0")->err, TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(add(c, NULL, 1, 0, "t0:0")->err, TXN_ERR_INVALID_REQUEST);
    tok *t = init(c, "a");
    persist_ok(c, "a");
    int64_t pid = t->pid;
    CHECK_EQ_I64(add(c, "a", pid + 1, 0, "t0:0")->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ_I64(add_v(c, "a", pid, 1, "t0:0", 2)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(add_v(c, "a", pid, 1, "t0:0", 1)->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    CHECK_EQ_I64(add_v(c, "a", pid, -1, "t0:0", 0)->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    /* a malformed partition (the decoder's job, checked anyway) */
    txn_partition badp = { NULL, 0 };
    tok *tb = tok_new();
    txn_add_req qb = { tb, 3, 0, T("a"), pid, 0, &badp, 1 };
    txn_add_partitions(c, &qb, now_ms, &acts);
    collect();
    CHECK_EQ_I64(tb->err, TXN_ERR_INVALID_REQUEST);
    /* Empty -> Ongoing: the transaction starts now; sorted, deduplicated */
    now_ms += 100;
    int64_t t0 = now_ms;
    tok *a1 = add(c, "a", pid, 0, "t1:2,t0:1,t1:0,t0:1");
    CHECK_EQ_I64(a1->answered, 0);
    rec r = last_persist;
    CHECK_EQ_I64(r.state, TXN_ONGOING);
    CHECK(!r.parts_null);
    CHECK_EQ_I64(r.nparts, 3);
    CHECK(strcmp(r.topics[0], "t0") == 0 && r.parts[0] == 1);
    CHECK(strcmp(r.topics[1], "t1") == 0 && r.parts[1] == 0);
    CHECK(strcmp(r.topics[2], "t1") == 0 && r.parts[2] == 2);
    CHECK_EQ_I64(r.start_ms, t0);
    CHECK_EQ_I64(r.update_ms, t0);
    CHECK_EQ_I64(r.epoch, 0);
    /* another add while the record is in flight */
    CHECK_EQ_I64(add(c, "a", pid, 0, "t2:0")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(describe(c, "a").state, TXN_EMPTY); /* not before the record is written */
    persist_ok(c, "a");
    CHECK_EQ_I64(a1->err, TXN_OK);
    CHECK_EQ_I64(describe(c, "a").state, TXN_ONGOING);
    /* nothing new: answered at once, no record */
    int np = npersist_emitted;
    tok *a2 = add(c, "a", pid, 0, "t1:0,t0:1");
    CHECK(a2->answered == 1 && a2->err == TXN_OK);
    CHECK_EQ_I64(npersist_emitted, np);
    /* AddOffsetsToTxn: the group's __consumer_offsets partition joins; the start stays */
    now_ms += 100;
    tok *a3 = add(c, "a", pid, 0, "__consumer_offsets:17");
    CHECK_EQ_I64(last_persist.nparts, 4);
    CHECK_EQ_I64(last_persist.start_ms, t0);
    CHECK_EQ_I64(last_persist.update_ms, now_ms);
    persist_ok(c, "a");
    CHECK_EQ_I64(a3->err, TXN_OK);
    /* a failed record: the answer is the mapped error, the set unchanged */
    tok *a4 = add(c, "a", pid, 0, "t9:9");
    persist_done(c, "a", 56);
    CHECK_EQ_I64(a4->err, TXN_ERR_NOT_COORDINATOR);
    CHECK_EQ_I64(describe(c, "a").npartitions, 4);
    /* Prepare*: CONCURRENT_TRANSACTIONS */
    tok *e = end(c, "a", pid, 0, true);
    CHECK_EQ_I64(add(c, "a", pid, 0, "t0:1")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    persist_ok(c, "a");
    CHECK_EQ_I64(e->err, TXN_OK);
    CHECK_EQ_I64(add(c, "a", pid, 0, "t0:1")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    markers_done(c, "a");
    persist_ok(c, "a");
    /* CompleteCommit -> Ongoing: a new transaction, a new start */
    now_ms += 100;
    tok *a5 = add(c, "a", pid, 0, "t0:1");
    persist_ok(c, "a");
    CHECK_EQ_I64(a5->err, TXN_OK);
    CHECK_EQ_I64(describe(c, "a").start_timestamp_ms, now_ms);
    CHECK_EQ_I64(describe(c, "a").npartitions, 1);
    /* an empty list from Empty: Kafka starts an Ongoing transaction without partitions */
    tok *b = init(c, "b");
    persist_ok(c, "b");
    tok *b1 = add(c, "b", b->pid, 0, "");
    persist_ok(c, "b");
    CHECK_EQ_I64(b1->err, TXN_OK);
    CHECK(describe(c, "b").state == TXN_ONGOING && describe(c, "b").npartitions == 0);
    tok *b2 = end(c, "b", b->pid, 0, true);
    persist_ok(c, "b");
    CHECK_EQ_I64(b2->err, TXN_OK);
    CHECK_EQ_I64(ids_get("b")->markers_nparts, 0);
    markers_done(c, "b");
    persist_ok(c, "b");
    CHECK_EQ_I64(describe(c, "b").state, TXN_COMPLETE_COMMIT);
    finish(c);
}

static void end_flow(bool commit)
{
    txn_coord *c = coord_make(7);
    int64_t pid;
    int16_t epoch;
    begin(c, "e", &pid, &epoch);
    tok *a = add(c, "e", pid, epoch, "t1:1");
    persist_ok(c, "e");
    CHECK_EQ_I64(a->err, TXN_OK);
    int64_t start = describe(c, "e").start_timestamp_ms;
    now_ms += 1000;
    int64_t t_end = now_ms;
    tok *t = end(c, "e", pid, epoch, commit);
    CHECK_EQ_I64(t->answered, 0);
    rec r = last_persist;
    CHECK_EQ_I64(r.state, commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
    CHECK(r.nparts == 2 && r.epoch == epoch && r.start_ms == start && r.update_ms == t_end);
    int nm = nmarkers_emitted;
    now_ms += 10;
    int64_t t_prep = now_ms;
    persist_ok(c, "e");
    /* answered once the Prepare record is written, and the markers go out */
    CHECK(t->answered == 1 && t->err == TXN_OK && t->pid == -1 && t->epoch == -1);
    CHECK_EQ_I64(nmarkers_emitted, nm + 1);
    idstate *s = ids_get("e");
    CHECK(s->markers && s->markers_commit == commit && s->markers_pid == pid && s->markers_epoch == epoch);
    CHECK_EQ_I64(s->markers_nparts, 2);
    CHECK_EQ_I64(s->markers_coord_epoch, 7);
    txn_view v = describe(c, "e");
    CHECK_EQ_I64(v.state, commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
    CHECK_EQ_I64(v.pending, commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT);
    /* while the markers are written everything waits */
    CHECK_EQ_I64(init(c, "e")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(end(c, "e", pid, epoch, commit)->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(end(c, "e", pid, epoch, !commit)->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(end(c, "e", pid, epoch + 1, commit)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(txn_markers_done(c, T("nope"), now_ms, &acts), -1);
    now_ms += 10;
    markers_done(c, "e");
    r = last_persist;
    CHECK_EQ_I64(r.state, commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT);
    CHECK(r.nparts == 0 && !r.parts_null && r.start_ms == start);
    CHECK_EQ_I64(r.update_ms, t_prep); /* computed when the Prepare record was written, as Kafka */
    CHECK_EQ_I64(txn_markers_done(c, T("e"), now_ms, &acts), -1);
    persist_ok(c, "e");
    v = describe(c, "e");
    CHECK(v.state == (commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT) && v.npartitions == 0 && v.pending == -1);
    /* retries of the same end answer OK; the other end is INVALID_TXN_STATE */
    tok *rt = end(c, "e", pid, epoch, commit);
    CHECK(rt->err == TXN_OK && rt->pid == -1 && rt->epoch == -1);
    CHECK_EQ_I64(end(c, "e", pid, epoch, !commit)->err, TXN_ERR_INVALID_TXN_STATE);
    CHECK_EQ_I64(end_v(c, "e", pid, epoch + 1, commit, 2)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(end_v(c, "e", pid, epoch + 1, commit, 1)->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    CHECK_EQ_I64(end_v(c, "e", pid, epoch - 1, commit, 0)->err, TXN_ERR_INVALID_PRODUCER_EPOCH);
    CHECK_EQ_I64(end(c, "e", pid + 1, epoch, commit)->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ_I64(end(c, "zz", pid, epoch, commit)->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ_I64(end(c, "", pid, epoch, commit)->err, TXN_ERR_INVALID_REQUEST);
    /* the next InitProducerId: Empty, epoch + 1 */
    tok *i2 = init(c, "e");
    persist_ok(c, "e");
    CHECK(i2->err == TXN_OK && i2->epoch == epoch + 1);
    CHECK_EQ_I64(end(c, "e", pid, (int16_t)(epoch + 1), commit)->err, TXN_ERR_INVALID_TXN_STATE); /* Empty */
    finish(c);
}

static void test_end_commit_and_abort(void)
{
    end_flow(true);
    end_flow(false);
}

/* Transactions V2 (KIP-890 part 2): the epoch bumped at every end. */
static void test_v2_end(void)
{
    txn_coord *c = coord_make(4);
    tok *t = init(c, "v2");
    persist_ok(c, "v2");
    int64_t pid = t->pid;
    int16_t e = t->epoch;
    for (int round = 0; round < 3; round++) {
        bool commit = round != 1;
        tok *a = add2(c, "v2", pid, e, "t0:0,t1:2");
        persist_ok(c, "v2");
        CHECK_EQ_I64(a->err, TXN_OK);
        CHECK_EQ_I64(last_persist.client_tv, 2);
        /* a second add of the same partitions: answered at once */
        tok *a2 = add2(c, "v2", pid, e, "t1:2");
        CHECK(a2->answered == 1 && a2->err == TXN_OK);
        tok *x = end2(c, "v2", pid, e, commit, -1, NULL);
        CHECK_EQ_I64(x->answered, 0);
        rec r = last_persist;
        /* Prepare: the epoch moves now, the old one kept as the last */
        CHECK(r.state == (commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT) && r.epoch == e + 1 && r.pid == pid);
        CHECK(r.nparts == 2 && r.client_tv == 2 && r.next_pid == -1 && r.prev_pid == pid);
        /* while it is written: the old epoch meets a transition in flight */
        CHECK_EQ_I64(end2(c, "v2", pid, e, commit, -1, NULL)->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
        CHECK_EQ_I64(describe(c, "v2").producer_epoch, e);
        persist_ok(c, "v2");
        /* answered with the epoch to go on with; markers at that epoch */
        CHECK(x->answered == 1 && x->err == TXN_OK && x->pid == pid && x->epoch == e + 1);
        idstate *s = ids_get("v2");
        CHECK(s->markers && s->markers_commit == commit && s->markers_epoch == e + 1 && s->markers_pid == pid);
        CHECK_EQ_I64(last_markers_tv, 2);
        /* a retry while the markers are written: CONCURRENT_TRANSACTIONS */
        CHECK_EQ_I64(end2(c, "v2", pid, e, commit, -1, NULL)->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
        markers_done(c, "v2");
        CHECK(last_persist.state == (commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT) && last_persist.epoch == e + 1);
        persist_ok(c, "v2");
        /* the retry of the end that went through: OK, the same epoch */
        tok *rt = end2(c, "v2", pid, e, commit, -1, NULL);
        CHECK(rt->err == TXN_OK && rt->pid == pid && rt->epoch == e + 1);
        /* the other end as a retry: INVALID_TXN_STATE; older epochs fenced */
        CHECK_EQ_I64(end2(c, "v2", pid, e, !commit, -1, NULL)->err, TXN_ERR_INVALID_TXN_STATE);
        CHECK_EQ_I64(end2(c, "v2", pid, (int16_t)(e - 1), commit, -1, NULL)->err, TXN_ERR_PRODUCER_FENCED);
        CHECK_EQ_I64(end2(c, "v2", pid + 1, e + 1, commit, -1, NULL)->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
        /* the old epoch's add (a zombie's produce) is fenced */
        CHECK_EQ_I64(add2(c, "v2", pid, e, "t0:0")->err, TXN_ERR_PRODUCER_FENCED);
        e = (int16_t)(e + 1);
    }
    /* a commit with nothing open: INVALID_TXN_STATE; an abort: a transaction
     * of no partitions, the epoch bumped all the same */
    CHECK_EQ_I64(end2(c, "v2", pid, e, true, -1, NULL)->err, TXN_ERR_INVALID_TXN_STATE);
    tok *ea = end2(c, "v2", pid, e, false, -1, NULL);
    rec r = last_persist;
    CHECK(r.state == TXN_PREPARE_ABORT && r.nparts == 0 && r.epoch == e + 1 && r.start_ms == now_ms);
    persist_ok(c, "v2");
    CHECK(ea->err == TXN_OK && ea->epoch == e + 1);
    CHECK_EQ_I64(ids_get("v2")->markers_nparts, 0);
    markers_done(c, "v2");
    persist_ok(c, "v2");
    CHECK_EQ_I64(describe(c, "v2").state, TXN_COMPLETE_ABORT);
    e = (int16_t)(e + 1);
    /* after InitProducerId (Empty), an abort is one of no partitions too */
    tok *i2 = init_v(c, "v2", TIMEOUT_MS, pid, e, 5, NULL);
    persist_ok(c, "v2");
    CHECK(i2->err == TXN_OK && i2->epoch == e + 1);
    e = (int16_t)(e + 1);
    tok *ea2 = end2(c, "v2", pid, e, false, -1, NULL);
    settle(c);
    CHECK(ea2->err == TXN_OK && ea2->epoch == e + 1);
    /* a V1 client's end on the same id keeps the epoch */
    e = (int16_t)(e + 1);
    tok *a1 = add(c, "v2", pid, e, "t0:0");
    persist_ok(c, "v2");
    CHECK_EQ_I64(a1->err, TXN_OK);
    CHECK_EQ_I64(last_persist.client_tv, 0);
    tok *x1 = end_v(c, "v2", pid, e, true, 4);
    CHECK_EQ_I64(last_persist.epoch, e);
    settle(c);
    CHECK(x1->err == TXN_OK && x1->pid == -1 && x1->epoch == -1);
    CHECK_EQ_I64(last_markers_tv, 0);
    CHECK_EQ_I64(describe(c, "v2").producer_epoch, e);
    finish(c);
}

/* V2: the epochs run out at an end; the producer moves to a new id there. */
static void test_v2_rotation(void)
{
    txn_limits lim = lim_default();
    txn_coord *c = txn_coord_new(0, 0, &lim);
    rec r = rec_empty("rot", 700, 32765);
    load_rec(c, &r);
    txn_load_done(c, now_ms, &acts);
    collect();
    tok *a = add2(c, "rot", 700, 32765, "t0:0");
    persist_ok(c, "rot");
    CHECK_EQ_I64(a->err, TXN_OK);
    bool took = true;
    tok *x = end2(c, "rot", 700, 32765, true, 9000, &took);
    CHECK(!took); /* 32765 is not exhausted: bumped to 32766 */
    settle(c);
    CHECK(x->err == TXN_OK && x->pid == 700 && x->epoch == 32766);
    /* 32766 is: the commit takes the fresh id, the markers the last epoch */
    a = add2(c, "rot", 700, 32766, "t0:0");
    persist_ok(c, "rot");
    CHECK_EQ_I64(a->err, TXN_OK);
    /* without a producer id at hand: retriable, nothing changes */
    CHECK_EQ_I64(end2(c, "rot", 700, 32766, true, -1, &took)->err, TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    CHECK(!took);
    x = end2(c, "rot", 700, 32766, true, 9000, &took);
    CHECK(took);
    CHECK(last_persist.epoch == 32767 && last_persist.next_pid == 9000 && last_persist.pid == 700);
    persist_ok(c, "rot");
    CHECK(x->err == TXN_OK && x->pid == 9000 && x->epoch == 0);
    idstate *s = ids_get("rot");
    CHECK(s->markers && s->markers_pid == 700 && s->markers_epoch == 32767);
    markers_done(c, "rot");
    rec done = last_persist;
    CHECK(done.state == TXN_COMPLETE_COMMIT && done.pid == 9000 && done.epoch == 0 && done.prev_pid == 700 &&
          done.next_pid == -1);
    persist_ok(c, "rot");
    /* the old producer's retry: OK, the new id */
    tok *rt = end2(c, "rot", 700, 32766, true, -1, NULL);
    CHECK(rt->err == TXN_OK && rt->pid == 9000 && rt->epoch == 0);
    CHECK_EQ_I64(end2(c, "rot", 700, 32765, true, -1, NULL)->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    /* the new id goes on */
    a = add2(c, "rot", 9000, 0, "t1:0");
    persist_ok(c, "rot");
    CHECK_EQ_I64(a->err, TXN_OK);
    x = end2(c, "rot", 9000, 0, false, -1, NULL);
    settle(c);
    CHECK(x->err == TXN_OK && x->pid == 9000 && x->epoch == 1);
    /* a reload keeps the previous id: the overflow retry still answers */
    finish(c);
}

/* V2 clusters: the coordinator's own aborts bump at PrepareAbort. */
static void test_v2_fence(void)
{
    txn_coord *c = coord_make(1);
    txn_set_transaction_version(c, 2);
    tok *t = init(c, "f");
    persist_ok(c, "f");
    int64_t pid = t->pid;
    int16_t e = t->epoch;
    CHECK_EQ_I64(add2(c, "f", pid, e, "t0:0")->answered, 0);
    persist_ok(c, "f");
    tok *i2 = init(c, "f");
    rec r = last_persist;
    CHECK(r.state == TXN_PREPARE_ABORT && r.epoch == e + 1 && r.client_tv == 2);
    /* not in memory before the record: the producer meets a transition in flight */
    CHECK_EQ_I64(describe(c, "f").producer_epoch, e);
    CHECK_EQ_I64(add2(c, "f", pid, e, "t0:1")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    persist_ok(c, "f");
    CHECK_EQ_I64(i2->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    settle(c);
    /* the fenced producer's abort is a retry of that abort */
    tok *ab = end2(c, "f", pid, e, false, -1, NULL);
    CHECK(ab->err == TXN_OK && ab->epoch == e + 1);
    CHECK_EQ_I64(end2(c, "f", pid, e, true, -1, NULL)->err, TXN_ERR_INVALID_TXN_STATE);
    tok *i3 = init(c, "f");
    persist_ok(c, "f");
    CHECK(i3->err == TXN_OK && i3->epoch == e + 2);
    /* a timed-out transaction: aborted at epoch + 1 */
    e = i3->epoch;
    CHECK_EQ_I64(add2(c, "f", pid, e, "t0:0")->answered, 0);
    persist_ok(c, "f");
    tick_at(c, now_ms + TIMEOUT_MS + 2 * ABORT_INTERVAL_MS);
    CHECK(last_persist.state == TXN_PREPARE_ABORT && last_persist.epoch == e + 1);
    /* a failed fence record leaves the epoch where it was (nothing bumped in memory) */
    persist_done(c, "f", 19);
    CHECK(describe(c, "f").producer_epoch == e && describe(c, "f").state == TXN_ONGOING);
    tick_at(c, now_ms + 2 * ABORT_INTERVAL_MS);
    CHECK(last_persist.state == TXN_PREPARE_ABORT && last_persist.epoch == e + 1);
    settle(c);
    CHECK(describe(c, "f").producer_epoch == e + 1 && describe(c, "f").state == TXN_COMPLETE_ABORT);
    finish(c);

    /* a timed-out transaction at the last epoch: the abort moves the
     * producer to the id the tick offers (without one: fenced as V1) */
    txn_limits lim = lim_default();
    c = txn_coord_new(0, 0, &lim);
    txn_set_transaction_version(c, 2);
    rec r1 = rec_empty("last", 800, 32766);
    load_rec(c, &r1);
    txn_load_done(c, now_ms, &acts);
    collect();
    CHECK_EQ_I64(add2(c, "last", 800, 32766, "t0:0")->answered, 0);
    persist_ok(c, "last");
    now_ms += TIMEOUT_MS + 2 * ABORT_INTERVAL_MS;
    CHECK(txn_tick(c, now_ms, 8800, &acts));
    collect();
    CHECK(last_persist.state == TXN_PREPARE_ABORT && last_persist.epoch == 32767 && last_persist.next_pid == 8800);
    settle(c);
    txn_view v = describe(c, "last");
    CHECK(v.state == TXN_COMPLETE_ABORT && v.producer_id == 8800 && v.producer_epoch == 0);
    /* the old producer's abort is a retry of that abort: it learns the new id */
    tok *ra = end2(c, "last", 800, 32766, false, -1, NULL);
    CHECK(ra->err == TXN_OK && ra->pid == 8800 && ra->epoch == 0);
    finish(c);
}

/* Records that fail around EndTxn. */
static void test_end_failures(void)
{
    txn_coord *c = coord_make(0);
    int64_t pid;
    int16_t epoch;
    begin(c, "f", &pid, &epoch);
    /* the Prepare record fails: the error, still Ongoing, no markers */
    int nm = nmarkers_emitted;
    tok *t = end(c, "f", pid, epoch, true);
    persist_done(c, "f", 19);
    CHECK_EQ_I64(t->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(nmarkers_emitted, nm);
    CHECK_EQ_I64(describe(c, "f").state, TXN_ONGOING);
    /* the completion record fails retriably: written again later */
    t = end(c, "f", pid, epoch, true);
    persist_ok(c, "f");
    CHECK_EQ_I64(t->err, TXN_OK);
    markers_done(c, "f");
    int64_t t_fail = now_ms;
    persist_done(c, "f", 7); /* REQUEST_TIMED_OUT -> COORDINATOR_NOT_AVAILABLE: retry */
    CHECK_EQ_I64(describe(c, "f").pending, TXN_COMPLETE_COMMIT);
    CHECK_EQ_I64(txn_next_deadline_ms(c), t_fail + 100);
    int np = npersist_emitted;
    tick_at(c, t_fail + 99);
    CHECK_EQ_I64(npersist_emitted, np);
    tick_at(c, t_fail + 100);
    CHECK_EQ_I64(npersist_emitted, np + 1);
    CHECK_EQ_I64(last_persist.state, TXN_COMPLETE_COMMIT);
    persist_ok(c, "f");
    CHECK_EQ_I64(describe(c, "f").state, TXN_COMPLETE_COMMIT);
    /* the completion record fails for good (NOT_COORDINATOR): stuck in PrepareCommit, as Kafka */
    tok *a = add(c, "f", pid, epoch, "t0:0");
    persist_ok(c, "f");
    CHECK_EQ_I64(a->err, TXN_OK);
    t = end(c, "f", pid, epoch, true);
    persist_ok(c, "f");
    markers_done(c, "f");
    persist_done(c, "f", 6);
    txn_view v = describe(c, "f");
    CHECK(v.state == TXN_PREPARE_COMMIT && v.pending == -1);
    CHECK_EQ_I64(end(c, "f", pid, epoch, true)->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(end(c, "f", pid, epoch, false)->err, TXN_ERR_INVALID_TXN_STATE);
    CHECK_EQ_I64(init(c, "f")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(add(c, "f", pid, epoch, "t5:5")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    CHECK_EQ_I64(txn_next_deadline_ms(c) > now_ms + TIMEOUT_MS, 1); /* and nothing will move it */
    CHECK_EQ_I64(txn_persist_done(c, T("f"), 0, now_ms, &acts), -1); /* nothing in flight */
    finish(c);
}

/* InitProducerId meets an open transaction: the epoch is bumped, the
 * transaction aborted, and the client told CONCURRENT_TRANSACTIONS. */
static void test_fence_on_init(void)
{
    txn_coord *c = coord_make(2);
    int64_t pid;
    int16_t epoch;
    begin(c, "z", &pid, &epoch);
    tok *t = init_v(c, "z", TIMEOUT_MS, -1, -1, 3, NULL);
    CHECK_EQ_I64(t->answered, 0);
    rec r = last_persist;
    CHECK(r.state == TXN_PREPARE_ABORT && r.epoch == epoch + 1 && r.nparts == 1 && r.pid == pid);
    /* the zombie is fenced at once: the bumped epoch is in memory already */
    CHECK_EQ_I64(add(c, "z", pid, epoch, "t0:1")->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(end(c, "z", pid, epoch, true)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(describe(c, "z").producer_epoch, epoch + 1);
    persist_ok(c, "z");
    CHECK(t->err == TXN_ERR_CONCURRENT_TRANSACTIONS && t->pid == -1 && t->epoch == -1);
    idstate *s = ids_get("z");
    CHECK(s->markers && !s->markers_commit && s->markers_epoch == epoch + 1);
    markers_done(c, "z");
    persist_ok(c, "z");
    CHECK_EQ_I64(describe(c, "z").state, TXN_COMPLETE_ABORT);
    /* the client's retry: epoch + 2 */
    tok *t2 = init(c, "z");
    persist_ok(c, "z");
    CHECK(t2->err == TXN_OK && t2->epoch == epoch + 2);
    /* a fence whose record fails: the next fence reuses the bumped epoch */
    int16_t e2 = t2->epoch;
    tok *a = add(c, "z", pid, e2, "t0:0");
    persist_ok(c, "z");
    CHECK_EQ_I64(a->err, TXN_OK);
    tok *f1 = init(c, "z");
    CHECK_EQ_I64(last_persist.epoch, e2 + 1);
    persist_done(c, "z", 19);
    CHECK_EQ_I64(f1->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    txn_view v = describe(c, "z");
    CHECK(v.state == TXN_ONGOING && v.producer_epoch == e2 + 1 && v.pending == -1);
    tok *f2 = init(c, "z");
    CHECK_EQ_I64(last_persist.epoch, e2 + 1); /* not e2 + 2 */
    persist_ok(c, "z");
    CHECK_EQ_I64(f2->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    markers_done(c, "z");
    persist_ok(c, "z");
    tok *f3 = init(c, "z");
    persist_ok(c, "z");
    CHECK(f3->err == TXN_OK && f3->epoch == e2 + 2);
    /* a fence forgets the last epoch: the fenced producer's KIP-360 retry
     * must not be handed the epoch that fenced it */
    settle(c);
    tok *k1 = init_v(c, "z", TIMEOUT_MS, f3->pid, f3->epoch, 4, NULL);
    persist_ok(c, "z");
    CHECK(k1->err == TXN_OK && k1->epoch == f3->epoch + 1); /* last epoch = f3's */
    tok *k2 = add(c, "z", pid, k1->epoch, "t0:0");
    persist_ok(c, "z");
    CHECK_EQ_I64(k2->err, TXN_OK);
    tok *k3 = init(c, "z"); /* another producer fences it */
    persist_ok(c, "z");
    CHECK_EQ_I64(k3->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    settle(c);
    CHECK_EQ_I64(init_v(c, "z", TIMEOUT_MS, pid, f3->epoch, 4, NULL)->err, TXN_ERR_PRODUCER_FENCED);
    f3 = init(c, "z");
    persist_ok(c, "z");
    CHECK_EQ_I64(f3->err, TXN_OK);
    /* KIP-360 checks come before the fence */
    tok *a2 = add(c, "z", pid, f3->epoch, "t0:0");
    persist_ok(c, "z");
    CHECK_EQ_I64(a2->err, TXN_OK);
    CHECK_EQ_I64(init_v(c, "z", TIMEOUT_MS, pid + 9, 0, 4, NULL)->err, TXN_ERR_PRODUCER_FENCED);
    CHECK_EQ_I64(describe(c, "z").state, TXN_ONGOING);
    CHECK_EQ_I64(describe(c, "z").pending, -1);
    settle(c);
    finish(c);
}

/* Transactions open past their timeout are aborted, fencing their producer. */
static void test_timeout_abort(void)
{
    txn_coord *c = coord_make(0);
    int64_t base = now_ms; /* the abort check runs at base + k * 10 s */
    tok *t = init_v(c, "slow", 5000, -1, -1, 4, NULL);
    persist_ok(c, "slow");
    now_ms += 1234;
    int64_t start = now_ms;
    tok *a = add(c, "slow", t->pid, t->epoch, "t0:0,t0:1");
    persist_ok(c, "slow");
    CHECK_EQ_I64(a->err, TXN_OK);
    /* start + timeout < now at the first check after it */
    int64_t due = start + 5000 + 1;
    int64_t check_at = base + ((due - base + ABORT_INTERVAL_MS - 1) / ABORT_INTERVAL_MS) * ABORT_INTERVAL_MS;
    CHECK_EQ_I64(txn_next_deadline_ms(c), check_at);
    int np = npersist_emitted;
    tick_at(c, start + 5000); /* not a check time, and not past the timeout */
    CHECK_EQ_I64(npersist_emitted, np);
    tick_at(c, check_at);
    CHECK_EQ_I64(npersist_emitted, np + 1);
    rec r = last_persist;
    CHECK(r.state == TXN_PREPARE_ABORT && r.epoch == t->epoch + 1 && r.nparts == 2 && r.start_ms == start);
    CHECK_EQ_I64(end(c, "slow", t->pid, t->epoch, true)->err, TXN_ERR_PRODUCER_FENCED);
    persist_ok(c, "slow");
    CHECK(ids_get("slow")->markers && ids_get("slow")->markers_epoch == t->epoch + 1);
    markers_done(c, "slow");
    persist_ok(c, "slow");
    CHECK_EQ_I64(describe(c, "slow").state, TXN_COMPLETE_ABORT);
    CHECK_EQ_I64(add(c, "slow", t->pid, t->epoch, "t0:0")->err, TXN_ERR_PRODUCER_FENCED);
    /* start + timeout equal to a check time is not yet past it */
    tok *tb = init_v(c, "edge", 5000, -1, -1, 4, NULL);
    persist_ok(c, "edge");
    int64_t grid = base + ((now_ms - base) / ABORT_INTERVAL_MS + 1) * ABORT_INTERVAL_MS;
    now_ms = grid - 5000;
    tok *ab = add(c, "edge", tb->pid, tb->epoch, "t0:0");
    persist_ok(c, "edge");
    CHECK_EQ_I64(ab->err, TXN_OK);
    CHECK_EQ_I64(txn_next_deadline_ms(c), grid + ABORT_INTERVAL_MS);
    np = npersist_emitted;
    tick_at(c, grid);
    CHECK_EQ_I64(npersist_emitted, np);
    tick_at(c, grid + ABORT_INTERVAL_MS);
    CHECK_EQ_I64(npersist_emitted, np + 1);
    CHECK_EQ_I64(last_persist.state, TXN_PREPARE_ABORT);
    settle(c);
    /* a timed-out abort whose record fails is tried again at the next check */
    tok *t2 = init(c, "slow");
    persist_ok(c, "slow");
    tok *a2 = add(c, "slow", t2->pid, t2->epoch, "t0:0");
    persist_ok(c, "slow");
    CHECK_EQ_I64(a2->err, TXN_OK);
    int64_t d = txn_next_deadline_ms(c);
    tick_at(c, d);
    CHECK_EQ_I64(last_persist.epoch, t2->epoch + 1);
    persist_done(c, "slow", 19);
    CHECK_EQ_I64(describe(c, "slow").state, TXN_ONGOING);
    CHECK_EQ_I64(txn_next_deadline_ms(c), d + ABORT_INTERVAL_MS);
    tick_at(c, d + ABORT_INTERVAL_MS);
    CHECK_EQ_I64(last_persist.epoch, t2->epoch + 1); /* the same bumped epoch */
    settle(c);
    CHECK_EQ_I64(describe(c, "slow").state, TXN_COMPLETE_ABORT);
    /* an Ongoing transaction at epoch Short.MaxValue cannot be fenced: Kafka skips it */
    txn_limits lim = lim_default();
    txn_coord *c2 = txn_coord_new(1, 0, &lim);
    rec ro = rec_empty("max", 900, 32767);
    ro.state = TXN_ONGOING;
    ro.parts_null = false;
    ro.nparts = 1;
    snprintf(ro.topics[0], STR_MAX, "t0");
    ro.start_ms = now_ms;
    load_rec(c2, &ro);
    txn_load_done(c2, now_ms, &acts);
    collect();
    int64_t d2 = txn_next_deadline_ms(c2); /* only its expiration... which Ongoing does not have */
    CHECK_EQ_I64(d2, INT64_MAX);
    np = npersist_emitted;
    tick_at(c2, now_ms + 10 * TIMEOUT_MS);
    CHECK_EQ_I64(npersist_emitted, np);
    CHECK_EQ_I64(init(c2, "max")->err, TXN_ERR_UNKNOWN_SERVER_ERROR);
    txn_coord_free(c2);
    finish(c);
}

/* Idle ids past transactional.id.expiration.ms are removed with a tombstone. */
static void test_expiration(void)
{
    txn_limits lim = lim_default();
    lim.transactional_id_expiration_ms = 120000;
    lim.expire_check_interval_ms = 60000;
    txn_coord *c = txn_coord_new(0, 0, &lim);
    txn_load_done(c, now_ms, &acts);
    collect();
    int64_t base = now_ms; /* checks: aborts at base + k * 10 s, expiration at base + k * 60 s */
    tok *t = init(c, "idle");
    persist_ok(c, "idle");
    tok *o = init_v(c, "open", 5000, -1, -1, 4, NULL);
    persist_ok(c, "open");
    tok *oa = add(c, "open", o->pid, o->epoch, "t0:0");
    persist_ok(c, "open");
    CHECK_EQ_I64(oa->err, TXN_OK);
    /* Ongoing never expires; this one times out first and completes */
    CHECK_EQ_I64(txn_next_deadline_ms(c), base + 10000);
    tick_at(c, base + 10000);
    settle(c);
    CHECK_EQ_I64(describe(c, "open").state, TXN_COMPLETE_ABORT);
    CHECK_EQ_I64(describe(c, "open").last_update_timestamp_ms, base + 10000);
    /* idle since base: due at base + 120 s exactly, a check time (last update <= now - expiration) */
    CHECK_EQ_I64(txn_next_deadline_ms(c), base + 120000);
    int np = npersist_emitted;
    tick_at(c, base + 60000);
    CHECK_EQ_I64(npersist_emitted, np);
    tick_at(c, base + 120000);
    CHECK_EQ_I64(npersist_emitted, np + 1);
    idstate *si = ids_get("idle"), *so = ids_get("open");
    CHECK(si->inflight && si->inflight_rec.tombstone && !so->inflight);
    CHECK_EQ_I64(describe(c, "idle").pending, TXN_DEAD);
    CHECK_EQ_I64(describe(c, "idle").state, TXN_EMPTY);
    CHECK_EQ_I64(init(c, "idle")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    /* a tombstone that fails: the id stays until the next check */
    persist_done(c, "idle", 19);
    CHECK_EQ_I64(describe(c, "idle").state, TXN_EMPTY);
    CHECK_EQ_I64(describe(c, "idle").pending, -1);
    /* open: idle since base + 10 s, due base + 130 s, the next check is base + 180 s */
    CHECK_EQ_I64(txn_next_deadline_ms(c), base + 180000);
    tick_at(c, base + 180000);
    CHECK(si->inflight && si->inflight_rec.tombstone && so->inflight && so->inflight_rec.tombstone);
    CHECK_EQ_I64(add(c, "open", o->pid, (int16_t)(o->epoch + 1), "t0:0")->err, TXN_ERR_CONCURRENT_TRANSACTIONS);
    persist_ok(c, "open");
    CHECK_EQ_I64(txn_count(c), 1);
    CHECK_EQ_I64(add(c, "open", o->pid, (int16_t)(o->epoch + 1), "t0:0")->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    persist_ok(c, "idle");
    CHECK_EQ_I64(txn_count(c), 0);
    CHECK_EQ_I64(txn_next_deadline_ms(c), INT64_MAX);
    CHECK_EQ_I64(add(c, "idle", t->pid, t->epoch, "t0:0")->err, TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
    /* a new InitProducerId starts over with a new producer id */
    bool took = false;
    tok *t2 = init_v(c, "idle", TIMEOUT_MS, -1, -1, 4, &took);
    persist_ok(c, "idle");
    CHECK(took && t2->err == TXN_OK && t2->pid != t->pid && t2->epoch == 0);
    settle(c);
    finish(c);
}

/* A restarted coordinator: records back through txn_load; Prepare* completes. */
static void test_load(void)
{
    txn_limits lim = lim_default();
    txn_coord *c = txn_coord_new(5, 9, &lim);
    rec e = rec_empty("e1", 100, 3);
    load_rec(c, &e);
    rec p = rec_empty("p1", 200, 4);
    p.state = TXN_PREPARE_COMMIT;
    p.parts_null = false;
    p.nparts = 2;
    snprintf(p.topics[0], STR_MAX, "a");
    p.parts[0] = 0;
    snprintf(p.topics[1], STR_MAX, "b");
    p.parts[1] = 3;
    p.start_ms = now_ms - 500;
    load_rec(c, &p);
    rec q = p;
    snprintf(q.id, STR_MAX, "q1");
    q.pid = 300;
    q.state = TXN_PREPARE_ABORT;
    load_rec(c, &q);
    rec g = rec_empty("gone", 400, 0);
    load_rec(c, &g);
    CHECK_EQ_I64(txn_load(c, T("gone"), NULL), 0); /* tombstone */
    CHECK_EQ_I64(txn_load(c, T("never"), NULL), 0);
    /* records Kafka cannot have written are refused */
    txn_record v;
    txn_partition parts[PARTS_MAX];
    rec bad = rec_empty("bad", 1, 0);
    bad.state = TXN_DEAD;
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    bad.state = TXN_PREPARE_EPOCH_FENCE;
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    bad = rec_empty("bad", -1, 0);
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    bad = rec_empty("bad", 1, -1);
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    bad = rec_empty("bad", 1, 0);
    bad.state = TXN_ONGOING;
    bad.start_ms = -1;
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    bad = p;
    bad.state = TXN_COMPLETE_COMMIT;
    rec_to_record(&bad, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("bad"), &v), -1);
    CHECK_EQ_I64(txn_load(c, T(""), &v), -1);
    /* an Empty record's partitions are ignored, as Kafka ignores them */
    rec ep = rec_empty("ep", 50, 1);
    ep.nparts = 1;
    snprintf(ep.topics[0], STR_MAX, "x");
    rec_to_record(&ep, &v, parts);
    CHECK_EQ_I64(txn_load(c, T("ep"), &v), 0);
    CHECK_EQ_I64(txn_count(c), 4);
    int nm = nmarkers_emitted;
    now_ms += 50;
    int64_t t_load = now_ms;
    txn_load_done(c, now_ms, &acts);
    collect();
    CHECK_EQ_I64(nmarkers_emitted, nm + 2);
    idstate *sp = ids_get("p1"), *sq = ids_get("q1");
    CHECK(sp->markers && sp->markers_commit && sp->markers_pid == 200 && sp->markers_epoch == 4);
    CHECK(sq->markers && !sq->markers_commit && sq->markers_pid == 300);
    CHECK(sp->markers_coord_epoch == 9 && sq->markers_coord_epoch == 9);
    CHECK_EQ_I64(describe(c, "ep").npartitions, 0);
    CHECK_EQ_I64(describe(c, "p1").pending, TXN_COMPLETE_COMMIT);
    markers_done(c, "p1");
    CHECK(last_persist.state == TXN_COMPLETE_COMMIT && last_persist.update_ms == t_load);
    persist_ok(c, "p1");
    markers_done(c, "q1");
    persist_ok(c, "q1");
    CHECK_EQ_I64(describe(c, "q1").state, TXN_COMPLETE_ABORT);
    /* the memory-only last epoch is gone: a KIP-360 retry with it is fenced (Kafka too) */
    CHECK_EQ_I64(init_v(c, "e1", TIMEOUT_MS, 100, 2, 4, NULL)->err, TXN_ERR_PRODUCER_FENCED);
    tok *t = init_v(c, "e1", TIMEOUT_MS, 100, 3, 4, NULL);
    persist_ok(c, "e1");
    CHECK(t->err == TXN_OK && t->pid == 100 && t->epoch == 4);
    finish(c);
}

static bool list_has(const txn_view *v, int n, const char *id)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(TC(v[i].txn_id), id) == 0)
            return true;
    }
    return false;
}

static void test_describe_list(void)
{
    txn_coord *c = coord_make(0);
    txn_view v;
    CHECK_EQ_I64(txn_describe(c, T(""), &v), TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(txn_describe(c, T(NULL), &v), TXN_ERR_INVALID_REQUEST);
    CHECK_EQ_I64(txn_describe(c, T("none"), &v), TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
    tok *a = init_v(c, "la", 20000, -1, -1, 4, NULL);
    persist_ok(c, "la");
    tok *b = init(c, "lb");
    persist_ok(c, "lb");
    now_ms += 100;
    int64_t start = now_ms;
    tok *ab = add(c, "lb", b->pid, b->epoch, "y:1,x:0,y:0");
    persist_ok(c, "lb");
    CHECK_EQ_I64(ab->err, TXN_OK);
    v = describe(c, "lb");
    CHECK(strcmp(TC(v.txn_id), "lb") == 0 && v.producer_id == b->pid && v.producer_epoch == 0);
    CHECK(v.state == TXN_ONGOING && v.timeout_ms == TIMEOUT_MS && v.start_timestamp_ms == start);
    CHECK(v.npartitions == 3 && strcmp(v.partitions[0].topic, "x") == 0 && v.partitions[2].partition == 1);
    v = describe(c, "la");
    CHECK(v.state == TXN_EMPTY && v.timeout_ms == 20000 && v.start_timestamp_ms == -1 && v.npartitions == 0);
    const txn_view *lv;
    int n;
    txn_list_filter f = { NULL, 0, false, 0, -1 };
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK(n == 2 && list_has(lv, n, "la") && list_has(lv, n, "lb"));
    int64_t pids[] = { a->pid };
    f.producer_ids = pids;
    f.nproducer_ids = 1;
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK(n == 1 && list_has(lv, n, "la") && lv[0].producer_id == a->pid && lv[0].state == TXN_EMPTY);
    f.nproducer_ids = 0;
    f.filter_states = true;
    f.states_mask = 1u << TXN_ONGOING;
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK(n == 1 && list_has(lv, n, "lb"));
    f.states_mask = 0; /* only unknown state names: nothing matches */
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK_EQ_I64(n, 0);
    f.filter_states = false;
    /* duration: running longer than d; an Empty one has start -1, so always (Kafka) */
    now_ms += 1000;
    f.duration_ms = 1000;
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK(n == 1 && list_has(lv, n, "la"));
    f.duration_ms = 999;
    CHECK_EQ_I64(txn_list(c, &f, now_ms, &lv, &n), TXN_OK);
    CHECK_EQ_I64(n, 2);
    settle(c);
    finish(c);
}

/* ---- replay: every record of a run, loaded into a fresh machine ---- */

/* A fresh machine loading the whole log must hold what c holds (ids without
 * a transition in flight; a failed fence's epoch lives in memory only). */
static void replay_compare(txn_coord *c)
{
    txn_limits lim = lim_default();
    txn_coord *r = txn_coord_new(txn_coord_partition(c), txn_coord_epoch(c) + 1, &lim);
    for (int i = 0; i < nlog; i++) {
        txn_record v;
        txn_partition parts[PARTS_MAX];
        rec_to_record(&logv[i], &v, parts);
        CHECK_EQ_I64(txn_load(r, T(logv[i].id), logv[i].tombstone ? NULL : &v), 0);
    }
    txn_actions ra = { 0 };
    txn_load_done(r, now_ms, &ra);
    txn_actions_free(&ra); /* Prepare* markers of r: not ours to write */
    for (int i = 0; i < nids; i++) {
        txn_view a, b;
        int16_t ea = txn_describe(c, T(ids[i].id), &a);
        int16_t eb = txn_describe(r, T(ids[i].id), &b);
        if (ea == TXN_OK && (a.pending >= 0 || a.producer_epoch == -1))
            continue; /* in flight, or never written */
        CHECK_EQ_I64(ea, eb);
        if (ea != TXN_OK || eb != TXN_OK)
            continue;
        CHECK(a.producer_id == b.producer_id);
        if (ids[i].fence_failed && a.state == TXN_ONGOING)
            CHECK(a.producer_epoch == b.producer_epoch + 1);
        else
            CHECK_EQ_I64(a.producer_epoch, b.producer_epoch);
        CHECK_EQ_I64(a.state, b.state);
        CHECK_EQ_I64(a.timeout_ms, b.timeout_ms);
        CHECK_EQ_I64(a.start_timestamp_ms, b.start_timestamp_ms);
        CHECK_EQ_I64(a.last_update_timestamp_ms, b.last_update_timestamp_ms);
        CHECK_EQ_I64(a.npartitions, b.npartitions);
        for (int k = 0; k < a.npartitions && k < b.npartitions; k++)
            CHECK(strcmp(a.partitions[k].topic, b.partitions[k].topic) == 0 &&
                  a.partitions[k].partition == b.partitions[k].partition);
    }
    txn_coord_free(r);
}

static void test_replay(void)
{
    txn_coord *c = coord_make(0);
    int64_t p1, p2;
    int16_t e1, e2;
    begin(c, "r1", &p1, &e1);
    begin(c, "r2", &p2, &e2);
    tok *t = end(c, "r1", p1, e1, true);
    persist_ok(c, "r1");
    CHECK_EQ_I64(t->err, TXN_OK);
    markers_done(c, "r1");
    persist_ok(c, "r1");
    tok *t2 = end(c, "r2", p2, e2, false);
    persist_ok(c, "r2");
    CHECK_EQ_I64(t2->err, TXN_OK); /* r2: PrepareAbort in the log, markers outstanding */
    tok *f = init(c, "r3");
    persist_ok(c, "r3");
    tok *a = add(c, "r3", f->pid, f->epoch, "q:0,q:1");
    persist_ok(c, "r3");
    CHECK_EQ_I64(a->err, TXN_OK);
    tok *g = init(c, "r4");
    persist_done(c, "r4", 19); /* never written */
    CHECK_EQ_I64(g->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    replay_compare(c);
    markers_done(c, "r2");
    persist_ok(c, "r2");
    replay_compare(c);
    /* a fence whose record failed: the bumped epoch is in memory only */
    tok *h = init(c, "r3");
    persist_done(c, "r3", 19);
    CHECK_EQ_I64(h->err, TXN_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK(ids_get("r3")->fence_failed);
    replay_compare(c);
    settle(c);
    finish(c);
}

/* ---- randomized walk ---- */

#define R_IDS 4
#define R_CLIENTS 2   /* producer instances per id: the second one is a zombie or a newcomer */
#define R_TOKS 60000
#define R_PIDS 4096

typedef struct rtok {
    int answered;
    int api;          /* 0 init, 1 add, 2 end */
    int16_t version;
    int id, client;
} rtok;

typedef struct rclient {
    int64_t pid;
    int16_t epoch;    /* -1: has none */
} rclient;

static rtok rtoks[R_TOKS];
static int nrtoks;
static rclient rcl[R_IDS][R_CLIENTS];
static const char *const r_names[R_IDS] = { "alpha", "beta", "gamma", "delta" };
static uint64_t rng, rseed;
static long rbad;
static int rstep;
static int64_t pid_seen[R_PIDS];   /* producer ids ... */
static int16_t epoch_answered[R_PIDS]; /* ... the highest epoch InitProducerId gave out for each */
static int16_t epoch_logged[R_PIDS];   /* ... the highest epoch written to the log */
static int16_t epoch_memory[R_PIDS];   /* ... the highest epoch the live machine held */
static int npid_seen;
static int16_t r_tv;                /* the walk's cluster transaction.version */
static long r_states_seen[TXN_STATE_COUNT], r_rotations, r_fences, r_failovers;

#define RCHECK(cond) do { \
    if (!(cond) && rbad++ < 10) \
        fprintf(stderr, "random seed %llu step %d: %s failed\n", (unsigned long long)rseed, rstep, #cond); \
} while (0)

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static int rnd_n(int n)
{
    return (int)(rnd() % (uint32_t)n);
}

static int pid_slot(int64_t pid)
{
    for (int i = 0; i < npid_seen; i++) {
        if (pid_seen[i] == pid)
            return i;
    }
    if (npid_seen >= R_PIDS) {
        fprintf(stderr, "test_txn: R_PIDS too small\n");
        exit(2);
    }
    pid_seen[npid_seen] = pid;
    epoch_answered[npid_seen] = epoch_logged[npid_seen] = epoch_memory[npid_seen] = -1;
    return npid_seen++;
}

static rtok *rtok_new(int api, int16_t version, int id, int client)
{
    if (nrtoks >= R_TOKS) {
        fprintf(stderr, "test_txn: R_TOKS too small\n");
        exit(2);
    }
    rtok *t = &rtoks[nrtoks++];
    memset(t, 0, sizeof(*t));
    t->api = api;
    t->version = version;
    t->id = id;
    t->client = client;
    return t;
}

static bool r_error_allowed(const rtok *t, int16_t e)
{
    /* the version rule: old versions never see PRODUCER_FENCED, new ones never INVALID_PRODUCER_EPOCH */
    int16_t fenced_from = t->api == 0 ? 4 : 2;
    if (e == TXN_ERR_PRODUCER_FENCED)
        return t->version >= fenced_from;
    if (e == TXN_ERR_INVALID_PRODUCER_EPOCH)
        return t->version < fenced_from;
    switch (e) {
    case TXN_OK:
    case TXN_ERR_COORDINATOR_NOT_AVAILABLE:
    case TXN_ERR_NOT_COORDINATOR:
    case TXN_ERR_UNKNOWN_SERVER_ERROR:
    case TXN_ERR_CONCURRENT_TRANSACTIONS:
        return true;
    case TXN_ERR_INVALID_TRANSACTION_TIMEOUT:
    case TXN_ERR_INVALID_REQUEST:
        return t->api == 0;
    case TXN_ERR_INVALID_PRODUCER_ID_MAPPING:
        return t->api != 0;
    case TXN_ERR_INVALID_TXN_STATE:
        return t->api == 2;
    default:
        return false;
    }
}

/* Like collect(), for the walk: the clients learn from the answers. */
static void rcollect(void)
{
    for (int i = 0; i < acts.n; i++) {
        const txn_action *a = &acts.v[i];
        if (a->kind != TXN_ACT_RESPOND)
            continue;
        rtok *t = a->token;
        RCHECK(t >= rtoks && t < rtoks + nrtoks);
        RCHECK(t->answered == 0);
        t->answered++;
        RCHECK(r_error_allowed(t, a->error));
        bool v2_end = t->api == 2 && t->version >= 5;
        if (a->error != TXN_OK || (t->api != 0 && !v2_end)) {
            RCHECK(a->producer_id == -1 && a->producer_epoch == -1);
            continue;
        }
        RCHECK(a->producer_id >= 0 && a->producer_epoch >= 0);
        int s = pid_slot(a->producer_id);
        /* epochs handed out for one producer id never go back */
        RCHECK(a->producer_epoch >= epoch_answered[s]);
        epoch_answered[s] = a->producer_epoch;
        rcl[t->id][t->client].pid = a->producer_id;
        rcl[t->id][t->client].epoch = a->producer_epoch;
    }
    /* the rest: collect()'s bookkeeping and checks (tokens are rtoks here) */
    int k = 0;
    for (int i = 0; i < acts.n; i++) {
        if (acts.v[i].kind != TXN_ACT_RESPOND)
            acts.v[k++] = acts.v[i];
    }
    acts.n = k;
    collect();
}

static int r_rand_version(int api)
{
    return api == 0 ? rnd_n(5) : rnd_n(4);
}

static void r_init(txn_coord *c, int id, int cl)
{
    rclient *k = &rcl[id][cl];
    int64_t xp = -1;
    int16_t xe = -1;
    int r = rnd_n(10);
    if (r < 4 && k->epoch >= 0) {
        xp = k->pid;
        xe = k->epoch;
    } else if (r == 4 && npid_seen > 0) {
        xp = pid_seen[rnd_n(npid_seen)];
        xe = (int16_t)rnd_n(5);
    }
    int32_t timeout = rnd_n(20) ? 2000 + rnd_n(6000) : (rnd_n(2) ? 0 : 900001);
    int16_t version = (int16_t)r_rand_version(0);
    rtok *t = rtok_new(0, version, id, cl);
    txn_init_req q = { t, version, T(r_names[id]), timeout, xp, xe, pid_next };
    txn_view v;
    bool known = txn_describe(c, T(r_names[id]), &v) == TXN_OK && v.producer_epoch >= 0;
    if (txn_init_producer_id(c, &q, now_ms, &acts)) {
        pid_next++;
        r_rotations += known; /* a producer id for an id that had one: its epochs ran out */
    }
}

static void r_add(txn_coord *c, int id, int cl)
{
    static const char *const topics[] = { "t0", "t1", "t2" };
    rclient *k = &rcl[id][cl];
    txn_partition pv[4];
    int n = 1 + rnd_n(3);
    for (int i = 0; i < n; i++) {
        pv[i].topic = topics[rnd_n(3)];
        pv[i].partition = rnd_n(2);
    }
    if (rnd_n(10) == 0) {
        pv[0].topic = "__consumer_offsets"; /* AddOffsetsToTxn */
        pv[0].partition = 7;
    }
    bool v2 = rnd_n(3) == 0; /* a leader's add for a V2 client (AddPartitionsToTxn v5) */
    int16_t version = v2 ? 5 : (int16_t)r_rand_version(1);
    rtok *t = rtok_new(1, version, id, cl);
    int16_t epoch = rnd_n(10) ? k->epoch : (int16_t)(k->epoch + 1);
    txn_add_req q = { t, version, v2 ? 2 : 0, T(r_names[id]), k->pid, epoch, pv, n };
    txn_add_partitions(c, &q, now_ms, &acts);
}

static void r_end(txn_coord *c, int id, int cl)
{
    rclient *k = &rcl[id][cl];
    bool v2 = rnd_n(3) == 0; /* EndTxn v5: transactions V2 */
    int16_t version = v2 ? 5 : (int16_t)r_rand_version(2);
    rtok *t = rtok_new(2, version, id, cl);
    int16_t epoch = v2 && rnd_n(8) == 0 ? (int16_t)(k->epoch - 1) : k->epoch; /* a retry */
    txn_end_req q = { t, version, v2 ? 2 : 0, T(r_names[id]), k->pid, epoch, rnd_n(3) != 0, pid_next };
    if (txn_end_txn(c, &q, now_ms, &acts)) {
        pid_next++;
        r_rotations++;
    }
}

/* Complete or fail one record in flight, in any order across ids. */
static void r_persist(txn_coord *c)
{
    static const int16_t errs[] = { 19, 20, 7, 3, 6, 56, 10 };
    int start = rnd_n(R_IDS);
    for (int i = 0; i < R_IDS; i++) {
        idstate *s = ids_get(r_names[(start + i) % R_IDS]);
        if (!s->inflight)
            continue;
        int16_t e = rnd_n(100) < 85 ? 0 : errs[rnd_n(7)];
        if (e == 0 && !s->inflight_rec.tombstone) {
            int slot = pid_slot(s->inflight_rec.pid);
            /* the log never goes back in epoch for a producer id */
            RCHECK(s->inflight_rec.epoch >= epoch_logged[slot]);
            epoch_logged[slot] = s->inflight_rec.epoch;
        }
        if (!s->inflight_rec.tombstone && s->inflight_rec.state == TXN_PREPARE_ABORT)
            r_fences++;
        /* persist_done() does collect(); answers go to rtoks: route them */
        s->inflight = false;
        rec r = s->inflight_rec;
        if (e == 0)
            log_append(s, &r);
        else if (!r.tombstone && r.state == TXN_PREPARE_ABORT && r.client_tv < 2 &&
                 (s->last_log < 0 || logv[s->last_log].epoch != r.epoch))
            s->fence_failed = true;
        RCHECK(txn_persist_done(c, T(s->id), e, now_ms, &acts) == 0);
        rcollect();
        if (e == 0 && !r.tombstone)
            view_matches_rec(c, &r);
        return;
    }
}

static void r_markers(txn_coord *c)
{
    int start = rnd_n(R_IDS);
    for (int i = 0; i < R_IDS; i++) {
        idstate *s = ids_get(r_names[(start + i) % R_IDS]);
        if (!s->markers)
            continue;
        s->markers = false;
        RCHECK(txn_markers_done(c, T(s->id), now_ms, &acts) == 0);
        return;
    }
}

/* The coordinator moves: records in flight land or not, a new machine loads the log. */
static txn_coord *r_failover(txn_coord *c, const txn_limits *lim)
{
    txn_resign(c, &acts);
    rcollect();
    for (int i = 0; i < R_IDS; i++) {
        idstate *s = ids_get(r_names[i]);
        if (s->inflight && rnd_n(2)) {
            rec r = s->inflight_rec;
            if (!r.tombstone) {
                int slot = pid_slot(r.pid);
                RCHECK(r.epoch >= epoch_logged[slot]);
                epoch_logged[slot] = r.epoch;
            }
            log_append(s, &r);
        }
        s->inflight = s->markers = false;
        s->fence_failed = false;
    }
    int32_t epoch = txn_coord_epoch(c) + 1;
    txn_coord_free(c);
    c = txn_coord_new(0, epoch, lim);
    txn_set_transaction_version(c, r_tv);
    for (int i = 0; i < nlog; i++) {
        txn_record v;
        txn_partition parts[PARTS_MAX];
        rec_to_record(&logv[i], &v, parts);
        RCHECK(txn_load(c, T(logv[i].id), logv[i].tombstone ? NULL : &v) == 0);
    }
    /* ids' last_log stays right: the log is unchanged */
    txn_load_done(c, now_ms, &acts);
    rcollect();
    for (int i = 0; i < npid_seen; i++)
        epoch_memory[i] = -1; /* memory starts over from the log */
    r_failovers++;
    return c;
}

/* Invariants over every id after every step. */
static void r_check(txn_coord *c)
{
    for (int i = 0; i < R_IDS; i++) {
        idstate *s = ids_get(r_names[i]);
        txn_view v;
        int16_t e = txn_describe(c, T(r_names[i]), &v);
        RCHECK(e == TXN_OK || e == TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
        if (e != TXN_OK) {
            RCHECK(!s->inflight && !s->markers);
            continue;
        }
        RCHECK(v.state >= TXN_EMPTY && v.state <= TXN_COMPLETE_ABORT);
        r_states_seen[v.state]++;
        if (v.state == TXN_ONGOING)
            RCHECK(v.start_timestamp_ms >= 0 && v.npartitions > 0);
        if (v.state == TXN_EMPTY || v.state == TXN_COMPLETE_COMMIT || v.state == TXN_COMPLETE_ABORT)
            RCHECK(v.npartitions == 0);
        if (v.state == TXN_EMPTY)
            RCHECK(v.start_timestamp_ms == -1);
        RCHECK(!s->inflight || v.pending >= 0);
        if (s->markers)
            RCHECK((v.state == TXN_PREPARE_COMMIT && v.pending == TXN_COMPLETE_COMMIT) ||
                   (v.state == TXN_PREPARE_ABORT && v.pending == TXN_COMPLETE_ABORT));
        if (s->inflight && s->inflight_rec.tombstone)
            RCHECK(v.pending == TXN_DEAD &&
                   (v.state == TXN_EMPTY || v.state == TXN_COMPLETE_COMMIT || v.state == TXN_COMPLETE_ABORT));
        if (v.producer_epoch >= 0) {
            int slot = pid_slot(v.producer_id);
            RCHECK(v.producer_epoch >= epoch_memory[slot]); /* never decreases for a producer id */
            epoch_memory[slot] = v.producer_epoch;
        }
    }
}

static void r_settle(txn_coord *c)
{
    for (int round = 0; round < 100; round++) {
        bool any = false;
        for (int i = 0; i < R_IDS; i++) {
            idstate *s = ids_get(r_names[i]);
            if (s->inflight) {
                rec r = s->inflight_rec;
                if (!r.tombstone) {
                    int slot = pid_slot(r.pid);
                    RCHECK(r.epoch >= epoch_logged[slot]);
                    epoch_logged[slot] = r.epoch;
                }
                s->inflight = false;
                log_append(s, &r);
                RCHECK(txn_persist_done(c, T(s->id), 0, now_ms, &acts) == 0);
                rcollect();
                if (!r.tombstone)
                    view_matches_rec(c, &r);
                any = true;
            } else if (s->markers) {
                s->markers = false;
                RCHECK(txn_markers_done(c, T(s->id), now_ms, &acts) == 0);
                rcollect();
                any = true;
            }
        }
        if (!any)
            return;
    }
    RCHECK(!"r_settle did not converge");
}

static void test_random_seed(uint64_t seed, int steps, int16_t tv)
{
    r_tv = tv;
    rseed = rng = seed;
    rbad = 0;
    nrtoks = 0;
    npid_seen = 0;
    ids_reset();
    for (int i = 0; i < R_IDS; i++) {
        for (int k = 0; k < R_CLIENTS; k++) {
            rcl[i][k].pid = -1;
            rcl[i][k].epoch = -1;
        }
    }
    txn_limits lim = { 10000, 120000, 1000, 30000 };
    txn_coord *c = txn_coord_new(0, 0, &lim);
    txn_set_transaction_version(c, tv);
    /* delta starts near the end of its epochs, so rotations happen */
    rec dr = rec_empty("delta", 50 + (int64_t)(seed % 7), 32760);
    load_rec(c, &dr);
    txn_load_done(c, now_ms, &acts);
    rcollect();
    for (rstep = 0; rstep < steps; rstep++) {
        int op = rnd_n(100), id = rnd_n(R_IDS), cl = rnd_n(R_CLIENTS);
        if (op < 14)
            r_init(c, id, cl);
        else if (op < 32)
            r_add(c, id, cl);
        else if (op < 42)
            r_end(c, id, cl);
        else if (op < 64)
            r_persist(c);
        else if (op < 74)
            r_markers(c);
        else if (op < 95) {
            now_ms += rnd_n(1500);
            if (txn_tick(c, now_ms, pid_next, &acts))
                pid_next++;
            RCHECK(txn_next_deadline_ms(c) > now_ms); /* a tick leaves nothing overdue */
        } else if (op < 99) {
            const txn_view *lv;
            int n;
            txn_list_filter f = { NULL, 0, rnd_n(2) == 0, 1u << rnd_n(6), rnd_n(2) ? -1 : rnd_n(5000) };
            RCHECK(txn_list(c, &f, now_ms, &lv, &n) == TXN_OK && n <= R_IDS);
            for (int i = 0; i < n; i++)
                RCHECK(!f.filter_states || (f.states_mask & (1u << lv[i].state)));
        } else if (rnd_n(3) == 0) {
            c = r_failover(c, &lim);
        } else {
            r_settle(c);
            replay_compare(c);
        }
        rcollect();
        r_check(c);
    }
    /* no more requests: everything completes, every timer runs out. A
     * transaction whose completion record failed for good stays in Prepare*
     * until the partition is loaded again (Kafka too): reload it then. */
    for (int i = 0; i < 1000; i++) {
        r_settle(c);
        int64_t dl = txn_next_deadline_ms(c);
        if (dl == INT64_MAX && txn_count(c) > 0) {
            c = r_failover(c, &lim);
            continue;
        }
        if (dl == INT64_MAX)
            break;
        now_ms = dl > now_ms ? dl : now_ms;
        if (txn_tick(c, now_ms, pid_next, &acts))
            pid_next++;
        rcollect();
        r_check(c);
    }
    RCHECK(txn_next_deadline_ms(c) == INT64_MAX);
    /* everything expired, except (as in Kafka) an Ongoing transaction at epoch
     * Short.MaxValue: reached only by a client that sent the epoch a failed
     * fence had bumped to without telling anyone; it can never be fenced */
    int left = 0;
    for (int i = 0; i < R_IDS; i++) {
        txn_view v;
        if (txn_describe(c, T(r_names[i]), &v) == TXN_OK) {
            RCHECK(v.state == TXN_ONGOING && v.producer_epoch == INT16_MAX);
            left++;
        }
    }
    RCHECK(txn_count(c) == left);

    replay_compare(c);
    long unanswered = 0;
    for (int i = 0; i < nrtoks; i++)
        unanswered += rtoks[i].answered != 1;
    CHECK_EQ_I64(unanswered, 0);
    CHECK_EQ_I64(rbad, 0);
    txn_coord_free(c);
    ids_reset();
}

static void test_random(void)
{
    for (uint64_t seed = 1; seed <= 48; seed++)
        test_random_seed(seed * 0x9e3779b97f4a7c15ULL, 6000, seed % 2 ? 2 : 0); /* the cluster's transaction.version */
    /* the walk must have reached every resting state and the rare paths */
    for (int s = TXN_EMPTY; s <= TXN_COMPLETE_ABORT; s++)
        CHECK(r_states_seen[s] > 0);
    CHECK(r_rotations > 0 && r_fences > 0 && r_failovers > 0);
}

/*
 * Transactional ids byte for byte: "t\0a", "t\0b" and "t" are three ids
 * (not one cut at the NUL); the PERSIST and the views carry all the bytes,
 * and a reload from those records finds each again. Driven without the
 * harness, whose bookkeeping keys ids by C string.
 */
static void test_ids_with_nul(void)
{
    txn_coord *c = coord_make(0);
    static const char raw[3][4] = { "t\0a", "t\0b", "t" };
    const txn_str id[3] = { { raw[0], 3 }, { raw[1], 3 }, { raw[2], 1 } };
    int tokv[3];
    txn_record recs[3];
    for (int i = 0; i < 3; i++) {
        txn_init_req q = { &tokv[i], 4, id[i], TIMEOUT_MS, -1, -1, pid_next++ };
        CHECK(txn_init_producer_id(c, &q, now_ms, &acts)); /* a new id each time: it takes the fresh pid */
        CHECK_EQ_I64(acts.n, 1);
        CHECK(acts.n == 1 && acts.v[0].kind == TXN_ACT_PERSIST && acts.v[0].txn_id.len == id[i].len &&
              memcmp(acts.v[0].txn_id.ptr, id[i].ptr, (size_t)id[i].len) == 0 &&
              acts.v[0].txn_id.ptr[id[i].len] == '\0');
        if (acts.n == 1)
            recs[i] = acts.v[0].record;
        txn_actions_reset(&acts);
        CHECK_EQ_I64(txn_persist_done(c, id[i], 0, now_ms, &acts), 0);
        CHECK(acts.n == 1 && acts.v[0].kind == TXN_ACT_RESPOND && acts.v[0].token == &tokv[i] && acts.v[0].error == 0);
        txn_actions_reset(&acts);
    }
    CHECK_EQ_I64(txn_count(c), 3);
    txn_view v;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_I64(txn_describe(c, id[i], &v), TXN_OK);
        CHECK(v.txn_id.len == id[i].len && memcmp(v.txn_id.ptr, id[i].ptr, (size_t)id[i].len) == 0);
        CHECK_EQ_I64(v.producer_id, recs[i].producer_id);
    }
    CHECK_EQ_I64(txn_describe(c, (txn_str){ raw[0], 2 }, &v), TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
    /* reload: the same three ids from their records */
    txn_limits lim = lim_default();
    txn_coord *r = txn_coord_new(3, 1, &lim);
    CHECK(r != NULL);
    for (int i = 0; i < 3 && r; i++) {
        recs[i].partitions = NULL;
        CHECK_EQ_I64(txn_load(r, id[i], &recs[i]), 0);
    }
    if (r) {
        txn_load_done(r, now_ms, &acts);
        txn_actions_reset(&acts);
        CHECK_EQ_I64(txn_count(r), 3);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_I64(txn_describe(r, id[i], &v), TXN_OK);
            CHECK(v.txn_id.len == id[i].len && memcmp(v.txn_id.ptr, id[i].ptr, (size_t)id[i].len) == 0 &&
                  v.producer_id == recs[i].producer_id);
        }
        txn_coord_free(r);
    }
    txn_coord_free(c);
}

int main(void)
{
    test_names_and_errors();
    test_loading_and_resigned();
    test_init_request_checks();
    test_init_new_and_bump();
    test_init_expected();
    test_epoch_exhaustion();
    test_add_partitions();
    test_end_commit_and_abort();
    test_v2_end();
    test_v2_rotation();
    test_v2_fence();
    test_end_failures();
    test_fence_on_init();
    test_timeout_abort();
    test_expiration();
    test_load();
    test_describe_list();
    test_ids_with_nul();
    test_replay();
    test_random();
    txn_actions_free(&acts);
    TEST_REPORT();
}
