/*
 * txn.c - the transaction coordinator of one __transaction_state partition
 * as a pure state machine (txn.h). Transactions V1 and V2, as Apache Kafka
 * 4.4: TransactionCoordinator.scala (handleInitProducerId, prepareInitProducerIdTransit,
 * handleAddPartitionsToTransaction, endTransactionWithTV1, endTransaction
 * (V2), abortTimedOutTransactions), TransactionMetadata.java (the prepare*
 * transitions and completeTransitionTo), TransactionStateManager.scala
 * (appendTransactionToLog's error table, timedOutTransactions, expiration,
 * listTransactionStates, loading) and KafkaApis.scala (PRODUCER_FENCED
 * becoming INVALID_PRODUCER_EPOCH for old request versions).
 *
 * Owns one entry per transactional id: the committed metadata (what the log
 * says, plus Kafka's two memory-only fields lastProducerEpoch and
 * hasFailedEpochFence) and at most one transition in flight (Kafka's
 * pendingState with its TxnTransitMetadata, here "transit"): prepared, then
 * persisted, then completed into the entry when the record is written. A
 * transition in flight is what makes other requests for the id answer
 * CONCURRENT_TRANSACTIONS. Runs on whichever thread owns the partition; the
 * caller serialises calls. No I/O, no locks, no clock, no randomness.
 *
 * Invariants (txn_check asserts them after every mutating call):
 *  1. An id rests in Empty, Ongoing, Prepare* or Complete*; Dead and
 *     PrepareEpochFence exist only as pending (Dead: a tombstone in flight).
 *  2. Empty and Complete* hold no partitions; Ongoing has a start time.
 *  3. pending is a state Kafka allows after the current one
 *     (TransactionState.validPreviousStates).
 *  4. A waiting token, a PERSIST in flight, outstanding markers or a
 *     completion retry exist only with a pending transition; markers are
 *     outstanding only from Prepare* towards the matching Complete*, and
 *     never while that id's PERSIST is in flight.
 *  5. The epoch is -1 only in Empty (an id created by InitProducerId whose
 *     first record has not been written).
 *  6. Partition sets are sorted by (topic, partition) without duplicates.
 *  7. While loading or after resigning nothing is in flight but what was
 *     emitted before resigning.
 *
 * Memory: action payloads and query results point into the machine. What
 * the machine lets go of during a call goes on a deferred-free list emptied
 * at the start of the next call, which is what makes "valid until the next
 * call" hold. Ids live in a chained hash table (FNV-1a); scans (timeouts,
 * expiration, listing) walk it, as Kafka walks its per-partition map.
 */
#include "txn/txn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXN_PRODUCER_ID_NONE (-1LL)
#define TXN_EPOCH_NONE ((int16_t)-1)
#define TXN_EPOCH_MAX INT16_MAX
#define TXN_PERSIST_RETRY_MS 100 /* a completion record that could not be written is retried this much later */

enum txn_mode { TXN_MODE_LOADING, TXN_MODE_ACTIVE, TXN_MODE_RESIGNED };

/* What a transition in flight is for: decides what happens when its record is written. */
enum txn_op {
    TXN_OP_NONE = 0,
    TXN_OP_INIT,          /* InitProducerId: Empty, answer with the new pid/epoch */
    TXN_OP_ADD,           /* AddPartitions/AddOffsets: Ongoing */
    TXN_OP_END,           /* EndTxn from the client: Prepare* */
    TXN_OP_FENCE_INIT,    /* InitProducerId met an Ongoing txn: PrepareAbort, answer CONCURRENT_TRANSACTIONS */
    TXN_OP_FENCE_TIMEOUT, /* the txn timed out: PrepareAbort, nobody to answer */
    TXN_OP_COMPLETE,      /* markers, then Complete* */
    TXN_OP_EXPIRE,        /* transactional.id.expiration.ms: tombstone */
};

/* Kafka's TxnTransitMetadata: the metadata a transition will leave behind. */
typedef struct txn_transit {
    int64_t pid, prev_pid, next_pid;
    int16_t epoch, last_epoch;
    int32_t timeout_ms;
    int state;
    txn_partition *parts; /* owned, topics too */
    int nparts;
    int64_t start_ms, update_ms;
    int16_t client_tv;
} txn_transit;

typedef struct txn_entry {
    txn_str txn_id;              /* owned: its bytes, then a NUL */
    uint64_t hash;
    struct txn_entry *hnext;
    /* the committed metadata (Kafka's TransactionMetadata) */
    int64_t pid, prev_pid, next_pid;
    int16_t epoch;
    int16_t last_epoch;          /* memory only: lets a retried InitProducerId get the same epoch back */
    int32_t timeout_ms;
    int state;
    txn_partition *parts;        /* owned, topics too */
    int nparts;
    int64_t start_ms, update_ms;
    int16_t client_tv;
    bool failed_fence;           /* a fence's record failed: the epoch was bumped in memory already */
    /* the transition in flight */
    int pending;                 /* -1: none */
    txn_transit transit;
    int op;
    bool persist_inflight;       /* a PERSIST awaits txn_persist_done */
    bool markers_outstanding;    /* a WRITE_MARKERS awaits txn_markers_done */
    int64_t retry_at_ms;         /* re-emit the completion PERSIST then; INT64_MAX: no */
    bool waiting;                /* token awaits the record */
    void *token;
    bool legacy;                 /* its version gets INVALID_PRODUCER_EPOCH for PRODUCER_FENCED */
} txn_entry;

struct txn_coord {
    int32_t partition;
    int32_t coord_epoch;
    int16_t cluster_tv;          /* the finalized transaction.version (Kafka's transactionVersionLevel) */
    txn_limits lim;
    int mode;
    txn_entry **buckets;
    int nbuckets;
    int count;
    int64_t next_abort_ms;       /* Kafka's "transaction-abort" task runs at these times */
    int64_t next_expire_ms;      /* ... and "transactionalId-expiration" at these */
    void **deferred;
    int ndeferred, deferred_cap;
    txn_view *views;             /* txn_list's result */
    int views_cap;
};

/* ---- memory ---- */

static void *txn_xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "txn: out of memory allocating %zu bytes\n", n);
        abort(); /* dropping a waiting token would hang a producer forever */
    }
    return p;
}

static void *txn_grow(void *v, int *cap, int need, size_t sz)
{
    assert(need >= 0 && sz > 0);
    if (need <= *cap)
        return v;
    int ncap = *cap > 0 ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(v, (size_t)ncap * sz);
    if (!nv) {
        fprintf(stderr, "txn: out of memory growing an array to %d\n", ncap);
        abort();
    }
    *cap = ncap;
    return nv;
}

static bool txn_str_eq(txn_str a, txn_str b)
{
    return a.len == b.len && a.len >= 0 && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

static txn_str txn_sdup(txn_str s)
{
    assert(s.len >= 0);
    char *d = txn_xalloc((size_t)s.len + 1);
    if (s.len > 0)
        memcpy(d, s.ptr, (size_t)s.len);
    return (txn_str){ d, s.len };
}

static char *txn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = txn_xalloc(n);
    memcpy(d, s, n);
    return d;
}

static void txn_defer_free(txn_coord *c, void *p)
{
    if (!p)
        return;
    c->deferred = txn_grow(c->deferred, &c->deferred_cap, c->ndeferred + 1, sizeof(void *));
    c->deferred[c->ndeferred++] = p;
}

/* Start of every call: the previous call's payloads expire. */
static void txn_call_begin(txn_coord *c)
{
    for (int i = 0; i < c->ndeferred; i++)
        free(c->deferred[i]);
    c->ndeferred = 0;
}

static void txn_parts_defer(txn_coord *c, txn_partition *parts, int n)
{
    for (int i = 0; i < n; i++)
        txn_defer_free(c, (char *)parts[i].topic);
    txn_defer_free(c, parts);
}

/* ---- partition sets: sorted by (topic, partition), no duplicates ---- */

static int txn_part_cmp(const void *a, const void *b)
{
    const txn_partition *x = a, *y = b;
    int r = strcmp(x->topic, y->topic);
    if (r != 0)
        return r;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

static bool txn_parts_contain(const txn_partition *v, int n, const txn_partition *p)
{
    return n > 0 && bsearch(p, v, (size_t)n, sizeof(*v), txn_part_cmp) != NULL;
}

/* An owned, sorted, deduplicated copy of a (possibly unsorted) request list. */
static txn_partition *txn_parts_normalize(const txn_partition *in, int n, int *nout)
{
    txn_partition *v = txn_xalloc((size_t)(n > 0 ? n : 1) * sizeof(*v));
    memcpy(v, in, (size_t)n * sizeof(*v));
    qsort(v, (size_t)n, sizeof(*v), txn_part_cmp);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k > 0 && txn_part_cmp(&v[k - 1], &v[i]) == 0)
            continue;
        v[k++] = v[i];
    }
    for (int i = 0; i < k; i++)
        v[i].topic = txn_xstrdup(v[i].topic);
    *nout = k;
    return v;
}

/* Owned union of two sorted sets. */
static txn_partition *txn_parts_union(const txn_partition *a, int na, const txn_partition *b, int nb, int *nout)
{
    txn_partition *v = txn_xalloc((size_t)(na + nb > 0 ? na + nb : 1) * sizeof(*v));
    int i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int r = i == na ? 1 : j == nb ? -1 : txn_part_cmp(&a[i], &b[j]);
        const txn_partition *src = r <= 0 ? &a[i] : &b[j];
        v[k].topic = txn_xstrdup(src->topic);
        v[k].partition = src->partition;
        k++;
        if (r <= 0)
            i++;
        if (r >= 0)
            j++;
    }
    *nout = k;
    return v;
}

static inline bool txn_parts_sorted(const txn_partition *v, int n)
{
    for (int i = 1; i < n; i++) {
        if (txn_part_cmp(&v[i - 1], &v[i]) >= 0)
            return false;
    }
    return true;
}

/* ---- states ---- */

static const char *const txn_state_names[TXN_STATE_COUNT] = {
    "Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
    "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence",
};

const char *txn_state_name(int state)
{
    return state >= 0 && state < TXN_STATE_COUNT ? txn_state_names[state] : "Unknown";
}

int txn_state_from_name(const char *name)
{
    for (int i = 0; name && i < TXN_STATE_COUNT; i++) {
        if (strcmp(name, txn_state_names[i]) == 0)
            return i;
    }
    return -1;
}

#define TXN_BIT(s) (1u << (s))

/* TransactionState.validPreviousStates, indexed by the target state. */
static const uint32_t txn_valid_previous[TXN_STATE_COUNT] = {
    [TXN_EMPTY] = TXN_BIT(TXN_EMPTY) | TXN_BIT(TXN_COMPLETE_COMMIT) | TXN_BIT(TXN_COMPLETE_ABORT),
    [TXN_ONGOING] = TXN_BIT(TXN_ONGOING) | TXN_BIT(TXN_EMPTY) | TXN_BIT(TXN_COMPLETE_COMMIT) |
                    TXN_BIT(TXN_COMPLETE_ABORT),
    [TXN_PREPARE_COMMIT] = TXN_BIT(TXN_ONGOING),
    /* V2: an abort with no transaction open (Empty, Complete*) is one of no partitions */
    [TXN_PREPARE_ABORT] = TXN_BIT(TXN_ONGOING) | TXN_BIT(TXN_PREPARE_EPOCH_FENCE) | TXN_BIT(TXN_EMPTY) |
                          TXN_BIT(TXN_COMPLETE_COMMIT) | TXN_BIT(TXN_COMPLETE_ABORT),
    [TXN_COMPLETE_COMMIT] = TXN_BIT(TXN_PREPARE_COMMIT),
    [TXN_COMPLETE_ABORT] = TXN_BIT(TXN_PREPARE_ABORT),
    [TXN_DEAD] = TXN_BIT(TXN_EMPTY) | TXN_BIT(TXN_COMPLETE_ABORT) | TXN_BIT(TXN_COMPLETE_COMMIT),
    [TXN_PREPARE_EPOCH_FENCE] = TXN_BIT(TXN_ONGOING),
};

static bool txn_is_prepare(int s) { return s == TXN_PREPARE_COMMIT || s == TXN_PREPARE_ABORT; }
static bool txn_is_complete(int s) { return s == TXN_COMPLETE_COMMIT || s == TXN_COMPLETE_ABORT; }
/* TransactionState.isExpirationAllowed */
static bool txn_expirable(int s) { return s == TXN_EMPTY || txn_is_complete(s); }
/* TransactionMetadata.isEpochExhausted: Short.MaxValue stays free so a fence always has an epoch */
static bool txn_epoch_exhausted(int16_t e) { return e >= TXN_EPOCH_MAX - 1; }

int16_t txn_append_error(int16_t append_error)
{
    switch (append_error) {
    case TXN_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case TXN_ERR_NOT_ENOUGH_REPLICAS:
    case TXN_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case TXN_ERR_REQUEST_TIMED_OUT: /* the client retries against the same coordinator */
        return TXN_ERR_COORDINATOR_NOT_AVAILABLE;
    case TXN_ERR_NOT_LEADER_OR_FOLLOWER:
    case TXN_ERR_KAFKA_STORAGE_ERROR:
        return TXN_ERR_NOT_COORDINATOR;
    case TXN_ERR_MESSAGE_TOO_LARGE:
    case TXN_ERR_RECORD_LIST_TOO_LARGE:
        return TXN_ERR_UNKNOWN_SERVER_ERROR;
    default:
        return append_error;
    }
}

/* ---- the id table ---- */

static uint64_t txn_hash(txn_str s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int32_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 0x100000001b3ULL;
    return h;
}

static txn_entry *txn_find(const txn_coord *c, txn_str txn_id)
{
    uint64_t h = txn_hash(txn_id);
    for (txn_entry *e = c->buckets[h % (uint64_t)c->nbuckets]; e; e = e->hnext) {
        if (e->hash == h && txn_str_eq(e->txn_id, txn_id))
            return e;
    }
    return NULL;
}

static void txn_table_grow(txn_coord *c)
{
    int nb = c->nbuckets * 2;
    txn_entry **b = txn_xalloc((size_t)nb * sizeof(*b));
    for (int i = 0; i < c->nbuckets; i++) {
        txn_entry *e = c->buckets[i];
        while (e) {
            txn_entry *next = e->hnext;
            e->hnext = b[e->hash % (uint64_t)nb];
            b[e->hash % (uint64_t)nb] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

/* A new entry: Empty, no producer yet (Kafka creates it this way before the first record). */
static txn_entry *txn_entry_add(txn_coord *c, txn_str txn_id)
{
    assert(!txn_find(c, txn_id));
    if (c->count >= c->nbuckets)
        txn_table_grow(c);
    txn_entry *e = txn_xalloc(sizeof(*e));
    e->txn_id = txn_sdup(txn_id);
    e->hash = txn_hash(txn_id);
    e->pid = e->prev_pid = e->next_pid = TXN_PRODUCER_ID_NONE;
    e->epoch = e->last_epoch = TXN_EPOCH_NONE;
    e->state = TXN_EMPTY;
    e->start_ms = -1;
    e->pending = -1;
    e->retry_at_ms = INT64_MAX;
    int b = (int)(e->hash % (uint64_t)c->nbuckets);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    c->count++;
    return e;
}

static void txn_transit_clear(txn_coord *c, txn_transit *t)
{
    txn_parts_defer(c, t->parts, t->nparts);
    memset(t, 0, sizeof(*t));
}

/* Its strings may be in actions of this call: everything is deferred. */
static void txn_entry_remove(txn_coord *c, txn_entry *e)
{
    txn_entry **pp = &c->buckets[e->hash % (uint64_t)c->nbuckets];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    c->count--;
    txn_parts_defer(c, e->parts, e->nparts);
    txn_transit_clear(c, &e->transit);
    txn_defer_free(c, (void *)e->txn_id.ptr);
    txn_defer_free(c, e);
}

/* ---- invariants ---- */

static void txn_check_entry(const txn_coord *c, const txn_entry *e)
{
    assert(e->state >= TXN_EMPTY && e->state <= TXN_COMPLETE_ABORT); /* 1 */
    assert(e->pending == -1 || (e->pending >= 0 && e->pending < TXN_STATE_COUNT));
    assert(e->nparts >= 0 && txn_parts_sorted(e->parts, e->nparts)); /* 6 */
    if (e->state == TXN_EMPTY || txn_is_complete(e->state))
        assert(e->nparts == 0); /* 2 */
    if (e->state == TXN_ONGOING)
        assert(e->start_ms >= 0);
    assert(e->epoch >= 0 || (e->epoch == TXN_EPOCH_NONE && e->state == TXN_EMPTY)); /* 5 */
    if (e->pending >= 0) {
        assert(e->pending != TXN_PREPARE_EPOCH_FENCE); /* a fence turns into PrepareAbort at once */
        assert(txn_valid_previous[e->pending] & TXN_BIT(e->state)); /* 3 */
        assert(e->transit.state == e->pending);
        assert(txn_parts_sorted(e->transit.parts, e->transit.nparts));
        assert(e->op != TXN_OP_NONE);
    } else {
        /* 4 */
        assert(!e->persist_inflight && !e->markers_outstanding && !e->waiting);
        assert(e->retry_at_ms == INT64_MAX && e->op == TXN_OP_NONE && e->transit.parts == NULL);
    }
    if (e->markers_outstanding) {
        assert(!e->persist_inflight && e->op == TXN_OP_COMPLETE);
        assert((e->state == TXN_PREPARE_COMMIT && e->pending == TXN_COMPLETE_COMMIT) ||
               (e->state == TXN_PREPARE_ABORT && e->pending == TXN_COMPLETE_ABORT));
    }
    if (e->retry_at_ms != INT64_MAX)
        assert(e->op == TXN_OP_COMPLETE && !e->persist_inflight && !e->markers_outstanding);
    if (e->waiting)
        assert(e->persist_inflight && (e->op == TXN_OP_INIT || e->op == TXN_OP_ADD || e->op == TXN_OP_END ||
                                       e->op == TXN_OP_FENCE_INIT));
    if (c->mode == TXN_MODE_LOADING)
        assert(e->pending == -1); /* 7 */
    if (c->mode == TXN_MODE_RESIGNED)
        assert(!e->waiting);
}

static void txn_check(const txn_coord *c)
{
    assert(c->mode >= TXN_MODE_LOADING && c->mode <= TXN_MODE_RESIGNED);
    int n = 0;
    for (int b = 0; b < c->nbuckets; b++) {
        for (const txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            assert(e->hash % (uint64_t)c->nbuckets == (uint64_t)b);
            txn_check_entry(c, e);
            n++;
        }
    }
    assert(n == c->count);
    (void)n;
}

/* ---- actions ---- */

static txn_action *txn_act_push(txn_actions *out, int kind)
{
    out->v = txn_grow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
    txn_action *a = &out->v[out->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->producer_id = TXN_PRODUCER_ID_NONE;
    a->producer_epoch = TXN_EPOCH_NONE;
    return a;
}

void txn_actions_reset(txn_actions *a)
{
    a->n = 0;
}

void txn_actions_free(txn_actions *a)
{
    if (!a)
        return;
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* KafkaApis: clients older than KIP-588 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH. */
static void txn_respond(txn_actions *out, void *token, int16_t err, bool legacy, int64_t pid, int16_t epoch)
{
    txn_action *a = txn_act_push(out, TXN_ACT_RESPOND);
    a->token = token;
    a->error = legacy && err == TXN_ERR_PRODUCER_FENCED ? TXN_ERR_INVALID_PRODUCER_EPOCH : err;
    if (err == TXN_OK) {
        a->producer_id = pid;
        a->producer_epoch = epoch;
    }
}

static void txn_emit_persist(txn_entry *e, txn_actions *out)
{
    assert(e->pending >= 0 && !e->persist_inflight && !e->markers_outstanding);
    const txn_transit *t = &e->transit;
    txn_action *a = txn_act_push(out, TXN_ACT_PERSIST);
    a->txn_id = e->txn_id;
    a->tombstone = t->state == TXN_DEAD;
    if (!a->tombstone) {
        assert(t->state != TXN_EMPTY || t->nparts == 0); /* TransactionLog.valueToBytes refuses it */
        txn_record *r = &a->record;
        r->producer_id = t->pid;
        r->previous_producer_id = t->prev_pid;
        r->next_producer_id = t->next_pid;
        r->producer_epoch = t->epoch;
        r->transaction_timeout_ms = t->timeout_ms;
        r->transaction_status = (int8_t)t->state;
        r->partitions_null = t->state == TXN_EMPTY;
        r->partitions = t->parts;
        r->npartitions = t->nparts;
        r->last_update_timestamp_ms = t->update_ms;
        r->start_timestamp_ms = t->start_ms;
        r->client_transaction_version = t->client_tv;
    }
    e->persist_inflight = true;
}

/* TransactionMarkerChannelManager.addTxnMarkersToSend: the markers carry the
 * metadata's producer id and epoch (the Prepare record's) and every partition. */
static void txn_emit_markers(const txn_coord *c, txn_entry *e, txn_actions *out)
{
    assert(txn_is_prepare(e->state) && !e->persist_inflight);
    txn_action *a = txn_act_push(out, TXN_ACT_WRITE_MARKERS);
    a->txn_id = e->txn_id;
    a->producer_id = e->pid;
    a->producer_epoch = e->epoch;
    a->transaction_version = e->client_tv;
    a->commit = e->state == TXN_PREPARE_COMMIT;
    a->coordinator_epoch = c->coord_epoch;
    a->partitions = e->parts;
    a->npartitions = e->nparts;
    e->markers_outstanding = true;
}

/* ---- transitions (TransactionMetadata) ---- */

/* TransitionData: a transit starts as a copy of the current metadata. */
static void txn_transit_init(const txn_entry *e, txn_transit *t, int state)
{
    memset(t, 0, sizeof(*t));
    t->pid = e->pid;
    t->next_pid = e->next_pid;
    t->epoch = e->epoch;
    t->last_epoch = e->last_epoch;
    t->timeout_ms = e->timeout_ms;
    t->state = state;
    t->start_ms = e->start_ms;
    t->update_ms = e->update_ms;
    t->client_tv = e->client_tv;
}

static txn_partition *txn_parts_copy(const txn_partition *v, int n)
{
    return txn_parts_union(v, n, NULL, 0, &n);
}

/*
 * prepareTransitionTo: the checks Kafka makes before a transition goes in
 * flight. Kafka throws there (IllegalArgument/IllegalState), which a
 * request handler turns into UNKNOWN_SERVER_ERROR; so does this. On success
 * t becomes e's transit (ownership of t->parts moves) and pending is set;
 * prev_pid is the producer id before the transition, as Kafka records it.
 */
static int16_t txn_prepare(txn_entry *e, txn_transit *t, int op)
{
    assert(e->pending == -1 && t->state >= 0 && t->state < TXN_STATE_COUNT);
    if (t->pid < 0 || (t->state != TXN_DEAD && t->epoch < 0) ||
        !(txn_valid_previous[t->state] & TXN_BIT(e->state))) {
        for (int i = 0; i < t->nparts; i++)
            free((char *)t->parts[i].topic);
        free(t->parts);
        return TXN_ERR_UNKNOWN_SERVER_ERROR;
    }
    t->prev_pid = e->pid;
    e->transit = *t;
    e->pending = t->state;
    e->op = op;
    return TXN_OK;
}

/* completeTransitionTo: the record is written, the transit becomes the metadata. */
static void txn_complete(txn_coord *c, txn_entry *e)
{
    txn_transit *t = &e->transit;
    assert(e->pending == t->state && t->state != TXN_DEAD && t->state != TXN_PREPARE_EPOCH_FENCE);
    /* the checks Kafka makes here hold by construction; assert a few
     * (completeTransitionTo, validProducerEpoch) */
    if (t->state == TXN_EMPTY)
        assert(t->nparts == 0 && t->start_ms == -1 &&
               (t->epoch == e->epoch || t->epoch == e->epoch + 1 || (t->epoch == 0 && t->pid != e->pid)));
    else if (t->client_tv >= 2 && txn_is_complete(t->state) && t->epoch == 0 && t->pid != e->pid)
        assert(t->prev_pid == e->pid && t->last_epoch == e->last_epoch); /* V2: the producer id rotated */
    else if (t->client_tv >= 2 && txn_is_prepare(t->state))
        assert(t->pid == e->pid && t->last_epoch == e->epoch && t->timeout_ms == e->timeout_ms);
    else
        assert(t->pid == e->pid && t->epoch == e->epoch && t->timeout_ms == e->timeout_ms);
    if (txn_is_complete(t->state))
        assert(t->start_ms != -1);
    txn_parts_defer(c, e->parts, e->nparts);
    e->pid = t->pid;
    e->prev_pid = t->prev_pid;
    e->next_pid = t->next_pid;
    e->epoch = t->epoch;
    e->last_epoch = t->last_epoch;
    e->timeout_ms = t->timeout_ms;
    e->parts = t->parts;
    e->nparts = t->nparts;
    e->start_ms = t->start_ms;
    e->update_ms = t->update_ms;
    e->client_tv = t->client_tv;
    e->state = t->state;
    memset(t, 0, sizeof(*t));
    e->pending = -1;
    e->op = TXN_OP_NONE;
}

/* The transition in flight is dropped (its record failed, or it was answered). */
static void txn_pending_reset(txn_coord *c, txn_entry *e)
{
    txn_transit_clear(c, &e->transit);
    e->pending = -1;
    e->op = TXN_OP_NONE;
    e->persist_inflight = e->markers_outstanding = e->waiting = false;
    e->retry_at_ms = INT64_MAX;
}

/* prepareComplete: the Prepare record is written; Complete* waits for the markers. */
static void txn_prepare_complete(txn_coord *c, txn_entry *e, int64_t now_ms, txn_actions *out)
{
    assert(txn_is_prepare(e->state) && e->pending == -1);
    e->failed_fence = false; /* the epoch the fence bumped is on disk now */
    txn_transit t;
    txn_transit_init(e, &t, e->state == TXN_PREPARE_COMMIT ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT);
    if (e->client_tv >= 2 && e->next_pid != TXN_PRODUCER_ID_NONE) {
        /* V2: the epochs ran out at Prepare; the producer goes on with the new id */
        t.pid = e->next_pid;
        t.epoch = 0;
    }
    t.next_pid = TXN_PRODUCER_ID_NONE;
    t.update_ms = now_ms;
    int16_t err = txn_prepare(e, &t, TXN_OP_COMPLETE);
    assert(err == TXN_OK);
    (void)err;
    txn_emit_markers(c, e, out);
}

/*
 * prepareAbortOrCommit under V2 (generateTxnTransitMetadataForTxnCompletion):
 * the epoch is bumped now (not for an abort at the last epoch: Kafka logs
 * it as a bug and keeps the epoch), the old one kept as the last epoch;
 * when the epochs are used up, fresh_pid becomes the next producer id,
 * which the Complete record switches to. no_partition_added: an abort
 * with no transaction open starts (and ends) one of no partitions. *took
 * is set when fresh_pid went in.
 */
static int16_t txn_prepare_end_v2(txn_entry *e, bool commit, bool no_partition_added, int64_t fresh_pid,
                                  int op, int64_t now_ms, bool *took)
{
    int64_t next_pid = TXN_PRODUCER_ID_NONE;
    if (txn_epoch_exhausted(e->epoch)) {
        if (fresh_pid < 0)
            return TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS; /* no producer id block yet */
        next_pid = fresh_pid;
    }
    txn_transit t;
    txn_transit_init(e, &t, commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
    if (!(e->epoch == TXN_EPOCH_MAX && !commit))
        t.epoch = (int16_t)(e->epoch + 1); /* 32767 + 1 fails txn_prepare, as Kafka's check does */
    t.last_epoch = e->epoch;
    t.parts = txn_parts_copy(e->parts, e->nparts);
    t.nparts = e->nparts;
    t.start_ms = no_partition_added ? now_ms : e->start_ms;
    t.next_pid = next_pid;
    t.update_ms = now_ms;
    t.client_tv = 2;
    int16_t err = txn_prepare(e, &t, op);
    if (err == TXN_OK && next_pid != TXN_PRODUCER_ID_NONE)
        *took = true;
    return err;
}

/*
 * InitProducerId or the timeout meets an Ongoing transaction: Kafka's
 * prepareFenceProducerEpoch followed by endTransaction(ABORT,
 * isFromClient = false). The bumped epoch goes into the metadata before
 * the PrepareAbort record is written (as Kafka does), so the fenced
 * producer's requests fail from now on; if that record fails, the next
 * fence reuses the epoch instead of bumping again (hasFailedEpochFence).
 */
static int16_t txn_fence_abort(txn_coord *c, txn_entry *e, int op, int64_t fresh_pid, int64_t now_ms, bool *took,
                               txn_actions *out)
{
    assert(e->state == TXN_ONGOING && e->pending == -1);
    if (c->cluster_tv >= 2 && (fresh_pid >= 0 || !txn_epoch_exhausted(e->epoch))) {
        /* V2 (the cluster's level, as Kafka's transactionVersionLevel): the
         * fence's epoch is the Prepare's bump, in memory only once the
         * PrepareAbort record is written; meanwhile the producer's requests
         * meet a transition in flight. (At the last epoch without a
         * producer id to move to, it fences as V1 does.) */
        int16_t err = txn_prepare_end_v2(e, false, false, fresh_pid, op, now_ms, took);
        if (err == TXN_OK)
            txn_emit_persist(e, out);
        return err;
    }
    /* Kafka throws IllegalStateException here (nothing changes). It checks
     * before looking at hasFailedEpochFence, so a fence from 32766 whose
     * record failed could never be retried until the partition reloads;
     * reusing the epoch cannot overflow, so we allow that retry. */
    if (e->epoch == TXN_EPOCH_MAX && !e->failed_fence)
        return TXN_ERR_UNKNOWN_SERVER_ERROR;
    e->epoch = e->failed_fence ? e->epoch : (int16_t)(e->epoch + 1);
    e->last_epoch = TXN_EPOCH_NONE;
    txn_transit t;
    txn_transit_init(e, &t, TXN_PREPARE_ABORT); /* prepareAbortOrCommit, TV_0: same epoch */
    t.client_tv = 0;
    t.parts = txn_parts_copy(e->parts, e->nparts);
    t.nparts = e->nparts;
    t.next_pid = TXN_PRODUCER_ID_NONE;
    t.update_ms = now_ms;
    int16_t err = txn_prepare(e, &t, op);
    assert(err == TXN_OK);
    (void)err;
    txn_emit_persist(e, out);
    return TXN_OK;
}

/* ---- requests ---- */

static int16_t txn_mode_error(const txn_coord *c)
{
    if (c->mode == TXN_MODE_LOADING)
        return TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    if (c->mode == TXN_MODE_RESIGNED)
        return TXN_ERR_NOT_COORDINATOR;
    return TXN_OK;
}

static void txn_wait(txn_entry *e, void *token, bool legacy)
{
    assert(e->persist_inflight && !e->waiting);
    e->waiting = true;
    e->token = token;
    e->legacy = legacy;
}

/*
 * prepareInitProducerIdTransit for an id that exists (or was just created):
 * an error to answer at once, or OK with a transition in flight (the new
 * epoch, or the abort of the open transaction). *took is set when
 * fresh_pid went into the metadata.
 */
static int16_t txn_init_transit(txn_coord *c, txn_entry *e, const txn_init_req *req, int64_t now_ms, bool *took,
                                txn_actions *out)
{
    bool expected = req->expected_pid != TXN_PRODUCER_ID_NONE;
    if (e->pending >= 0)
        return TXN_ERR_CONCURRENT_TRANSACTIONS;
    /* KIP-360: an expected producer is still current when the metadata is new,
     * when it is our producer id, or when it is the previous one with its
     * epochs used up (a retry after a rotation whose answer was lost). */
    if (expected && !(e->epoch == TXN_EPOCH_NONE || req->expected_pid == e->pid ||
                      (req->expected_pid == e->prev_pid && txn_epoch_exhausted(req->expected_epoch))))
        return TXN_ERR_PRODUCER_FENCED;
    if (txn_is_prepare(e->state))
        return TXN_ERR_CONCURRENT_TRANSACTIONS;
    if (e->state == TXN_ONGOING) {
        /* abort the open transaction first; CONCURRENT_TRANSACTIONS makes the
         * client retry, and that retry bumps the epoch again (or rotates the
         * producer id when the fence used the last epoch) */
        return txn_fence_abort(c, e, TXN_OP_FENCE_INIT, req->fresh_pid, now_ms, took, out);
    }
    assert(e->state == TXN_EMPTY || txn_is_complete(e->state));
    txn_transit t;
    txn_transit_init(e, &t, TXN_EMPTY);
    t.timeout_ms = req->timeout_ms;
    t.start_ms = -1;
    t.update_ms = now_ms;
    if (txn_epoch_exhausted(e->epoch) && (!expected || req->expected_epoch == e->epoch)) {
        /* prepareProducerIdRotation */
        if (req->fresh_pid < 0)
            return TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS; /* no producer id block yet */
        *took = true;
        t.pid = req->fresh_pid;
        t.epoch = 0;
        t.last_epoch = expected ? e->epoch : TXN_EPOCH_NONE;
    } else if (txn_epoch_exhausted(e->epoch)) {
        return TXN_ERR_UNKNOWN_SERVER_ERROR; /* prepareIncrementProducerEpoch throws IllegalStateException */
    } else if (!expected) {
        t.epoch = (int16_t)(e->epoch + 1);
        t.last_epoch = TXN_EPOCH_NONE;
    } else if (e->epoch == TXN_EPOCH_NONE || req->expected_epoch == e->epoch) {
        t.epoch = (int16_t)(e->epoch + 1);
        t.last_epoch = e->epoch;
    } else if (req->expected_epoch == e->last_epoch) {
        /* a retry of a call that succeeded: the same epoch again */
        t.epoch = e->epoch;
        t.last_epoch = e->last_epoch;
    } else {
        return TXN_ERR_PRODUCER_FENCED;
    }
    int16_t err = txn_prepare(e, &t, TXN_OP_INIT);
    if (err == TXN_OK)
        txn_emit_persist(e, out);
    return err;
}

/* The request checks of KafkaApis and handleInitProducerId, in Kafka's order. */
static int16_t txn_init_check(const txn_coord *c, const txn_init_req *req)
{
    /* KafkaApis: a producer id without an epoch (or the reverse) is malformed */
    if ((req->expected_pid == TXN_PRODUCER_ID_NONE) != (req->expected_epoch == TXN_EPOCH_NONE))
        return TXN_ERR_INVALID_REQUEST;
    if (req->txn_id.len < 0) /* an idempotent producer: any fresh producer id, epoch 0, nothing kept */
        return req->fresh_pid < 0 ? TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS : TXN_OK;
    if (req->txn_id.len == 0)
        return TXN_ERR_INVALID_REQUEST;
    if (req->timeout_ms <= 0 || req->timeout_ms > c->lim.transaction_timeout_ms_max)
        return TXN_ERR_INVALID_TRANSACTION_TIMEOUT;
    return txn_mode_error(c);
}

bool txn_init_producer_id(txn_coord *c, const txn_init_req *req, int64_t now_ms, txn_actions *out)
{
    assert(c && req && out);
    txn_call_begin(c);
    bool legacy = req->version < 4, took = false;
    int16_t err = txn_init_check(c, req);
    if (err == TXN_OK && req->txn_id.len < 0) {
        txn_respond(out, req->token, TXN_OK, legacy, req->fresh_pid, 0);
        return true;
    }
    txn_entry *e = NULL;
    if (err == TXN_OK) {
        e = txn_find(c, req->txn_id);
        if (!e && req->fresh_pid < 0) {
            err = TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS; /* no producer id block yet */
        } else if (!e) {
            /* Kafka puts the new metadata in the cache before its first record */
            e = txn_entry_add(c, req->txn_id);
            e->pid = req->fresh_pid;
            e->timeout_ms = req->timeout_ms;
            e->update_ms = now_ms;
            took = true;
        }
    }
    if (e)
        err = txn_init_transit(c, e, req, now_ms, &took, out);
    if (err == TXN_OK)
        txn_wait(e, req->token, legacy); /* the answer: after the record (a fence: CONCURRENT_TRANSACTIONS) */
    else
        txn_respond(out, req->token, err, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
    txn_check(c);
    return took;
}

/* The checks shared by AddPartitions and EndTxn: the id, the producer. */
static int16_t txn_lookup(txn_coord *c, txn_str txn_id, txn_entry **ep)
{
    *ep = NULL;
    if (txn_id.len <= 0)
        return TXN_ERR_INVALID_REQUEST;
    int16_t err = txn_mode_error(c);
    if (err != TXN_OK)
        return err;
    *ep = txn_find(c, txn_id);
    return *ep ? TXN_OK : TXN_ERR_INVALID_PRODUCER_ID_MAPPING;
}

static bool txn_parts_valid(const txn_partition *v, int n)
{
    if (n < 0 || (n > 0 && !v))
        return false;
    for (int i = 0; i < n; i++) {
        if (!v[i].topic || v[i].partition < 0)
            return false;
    }
    return true;
}

static bool txn_parts_subset(const txn_partition *sub, int nsub, const txn_partition *v, int n)
{
    for (int i = 0; i < nsub; i++) {
        if (!txn_parts_contain(v, n, &sub[i]))
            return false;
    }
    return true;
}

void txn_add_partitions(txn_coord *c, const txn_add_req *req, int64_t now_ms, txn_actions *out)
{
    assert(c && req && out);
    txn_call_begin(c);
    bool legacy = req->version < 2;
    txn_entry *e;
    int16_t err = txn_lookup(c, req->txn_id, &e);
    if (err == TXN_OK && !txn_parts_valid(req->partitions, req->npartitions))
        err = TXN_ERR_INVALID_REQUEST; /* KafkaApis would have refused these topics */
    else if (err == TXN_OK && e->pid != req->producer_id)
        err = TXN_ERR_INVALID_PRODUCER_ID_MAPPING;
    else if (err == TXN_OK && e->epoch != req->producer_epoch)
        err = TXN_ERR_PRODUCER_FENCED;
    else if (err == TXN_OK && (e->pending >= 0 || txn_is_prepare(e->state)))
        err = TXN_ERR_CONCURRENT_TRANSACTIONS;
    if (err != TXN_OK ||
        (e->state == TXN_ONGOING && txn_parts_subset(req->partitions, req->npartitions, e->parts, e->nparts))) {
        /* nothing new: answered at once (Kafka's "optimization") */
        txn_respond(out, req->token, err, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
        txn_check(c);
        return;
    }
    /* prepareAddPartitions: a transaction starts now unless one is open */
    txn_transit t;
    txn_transit_init(e, &t, TXN_ONGOING);
    int nadd;
    txn_partition *add = txn_parts_normalize(req->partitions, req->npartitions, &nadd);
    t.parts = txn_parts_union(e->parts, e->nparts, add, nadd, &t.nparts);
    for (int i = 0; i < nadd; i++)
        free((char *)add[i].topic);
    free(add);
    t.start_ms = e->state == TXN_ONGOING ? e->start_ms : now_ms;
    t.update_ms = now_ms;
    t.client_tv = req->client_tv; /* 2: a V2 client's partition added by its leader */
    err = txn_prepare(e, &t, TXN_OP_ADD);
    if (err != TXN_OK) {
        txn_respond(out, req->token, err, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
    } else {
        txn_emit_persist(e, out);
        txn_wait(e, req->token, legacy);
    }
    txn_check(c);
}

/* endTransactionWithTV1 before the append: an error to answer, or OK with
 * PrepareX in flight, or OK with *done set (a retry of what is complete). */
static int16_t txn_end_check(txn_entry *e, const txn_end_req *req, int64_t now_ms, bool *done)
{
    if (e->pid != req->producer_id)
        return TXN_ERR_INVALID_PRODUCER_ID_MAPPING;
    /* the client may not move the epoch: strict equality (transactions V1) */
    if (req->producer_epoch != e->epoch)
        return TXN_ERR_PRODUCER_FENCED;
    if (e->pending >= 0)
        return TXN_ERR_CONCURRENT_TRANSACTIONS;
    switch (e->state) {
    case TXN_ONGOING: {
        txn_transit t;
        txn_transit_init(e, &t, req->commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
        t.parts = txn_parts_copy(e->parts, e->nparts);
        t.nparts = e->nparts;
        t.next_pid = TXN_PRODUCER_ID_NONE;
        t.update_ms = now_ms;
        t.client_tv = 0;
        return txn_prepare(e, &t, TXN_OP_END);
    }
    case TXN_COMPLETE_COMMIT: /* a retry of a commit that went through */
        *done = req->commit;
        return req->commit ? TXN_OK : TXN_ERR_INVALID_TXN_STATE;
    case TXN_COMPLETE_ABORT:
        *done = !req->commit;
        return req->commit ? TXN_ERR_INVALID_TXN_STATE : TXN_OK;
    case TXN_PREPARE_COMMIT: /* markers still being written (after a failed completion record) */
        return req->commit ? TXN_ERR_CONCURRENT_TRANSACTIONS : TXN_ERR_INVALID_TXN_STATE;
    case TXN_PREPARE_ABORT:
        return req->commit ? TXN_ERR_INVALID_TXN_STATE : TXN_ERR_CONCURRENT_TRANSACTIONS;
    default:
        assert(e->state == TXN_EMPTY);
        return TXN_ERR_INVALID_TXN_STATE;
    }
}

/*
 * endTransaction (V2) before the append. The client's epoch is the
 * current one, or - a retry of an EndTxn that went through (its answer
 * lost) - one behind the epoch that EndTxn bumped to, or the last epoch of
 * the producer id rotated away from.
 */
static int16_t txn_end_check_v2(txn_entry *e, const txn_end_req *req, int64_t now_ms, bool *done, bool *took)
{
    bool overflow_retry = e->prev_pid == req->producer_id && req->producer_epoch == TXN_EPOCH_MAX - 1 &&
                          e->epoch == 0;
    bool bump_retry = e->epoch == (int16_t)(req->producer_epoch + 1);
    bool retry = bump_retry || overflow_retry;
    bool valid;
    if (txn_is_prepare(e->state))
        valid = bump_retry;
    else if (txn_is_complete(e->state))
        valid = retry || req->producer_epoch == e->epoch;
    else
        valid = req->producer_epoch == e->epoch;
    if (e->pending >= 0)
        return TXN_ERR_CONCURRENT_TRANSACTIONS;
    if (e->pid != req->producer_id && !overflow_retry)
        return TXN_ERR_INVALID_PRODUCER_ID_MAPPING;
    if (!valid)
        return TXN_ERR_PRODUCER_FENCED;
    switch (e->state) {
    case TXN_ONGOING:
        return txn_prepare_end_v2(e, req->commit, false, req->fresh_pid, TXN_OP_END, now_ms, took);
    case TXN_COMPLETE_COMMIT:
        if (req->commit) {
            *done = retry;
            return retry ? TXN_OK : TXN_ERR_INVALID_TXN_STATE;
        }
        if (retry)
            return TXN_ERR_INVALID_TXN_STATE;
        return txn_prepare_end_v2(e, false, true, req->fresh_pid, TXN_OP_END, now_ms, took);
    case TXN_COMPLETE_ABORT:
        if (req->commit)
            return TXN_ERR_INVALID_TXN_STATE;
        if (retry) {
            *done = true;
            return TXN_OK;
        }
        return txn_prepare_end_v2(e, false, true, req->fresh_pid, TXN_OP_END, now_ms, took);
    case TXN_PREPARE_COMMIT:
        return req->commit ? TXN_ERR_CONCURRENT_TRANSACTIONS : TXN_ERR_INVALID_TXN_STATE;
    case TXN_PREPARE_ABORT:
        return req->commit ? TXN_ERR_INVALID_TXN_STATE : TXN_ERR_CONCURRENT_TRANSACTIONS;
    default:
        assert(e->state == TXN_EMPTY);
        if (req->commit)
            return TXN_ERR_INVALID_TXN_STATE;
        return txn_prepare_end_v2(e, false, true, req->fresh_pid, TXN_OP_END, now_ms, took);
    }
}

bool txn_end_txn(txn_coord *c, const txn_end_req *req, int64_t now_ms, txn_actions *out)
{
    assert(c && req && out);
    txn_call_begin(c);
    bool legacy = req->version < 2;
    txn_entry *e;
    bool done = false, took = false;
    int16_t err = txn_lookup(c, req->txn_id, &e);
    if (err == TXN_OK)
        err = req->client_tv >= 2 ? txn_end_check_v2(e, req, now_ms, &done, &took)
                                  : txn_end_check(e, req, now_ms, &done);
    if (err == TXN_OK && !done) {
        txn_emit_persist(e, out);
        txn_wait(e, req->token, legacy);
    } else if (err == TXN_OK && req->client_tv >= 2) {
        txn_respond(out, req->token, err, legacy, e->pid, e->epoch); /* a retry: the epoch to go on with */
    } else {
        txn_respond(out, req->token, err, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
    }
    txn_check(c);
    return took;
}

/* ---- results of the caller's work ---- */

/* The transit's record is written. */
static void txn_persisted(txn_coord *c, txn_entry *e, int64_t now_ms, txn_actions *out)
{
    int op = e->op;
    bool waiting = e->waiting, legacy = e->legacy;
    void *token = e->token;
    e->persist_inflight = e->waiting = false;
    txn_complete(c, e);
    switch (op) {
    case TXN_OP_INIT:
        assert(waiting);
        txn_respond(out, token, TXN_OK, legacy, e->pid, e->epoch);
        break;
    case TXN_OP_ADD:
        assert(waiting);
        txn_respond(out, token, TXN_OK, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
        break;
    case TXN_OP_END:
    case TXN_OP_FENCE_INIT:
    case TXN_OP_FENCE_TIMEOUT:
        /* answer first, then the markers (Kafka answers EndTxn before
         * writing them); V2 answers the producer id and epoch the Complete
         * record will hold: the new ones to go on with */
        if (waiting && op == TXN_OP_END && e->client_tv >= 2) {
            bool rotate = e->next_pid != TXN_PRODUCER_ID_NONE;
            txn_respond(out, token, TXN_OK, legacy, rotate ? e->next_pid : e->pid, rotate ? 0 : e->epoch);
        } else if (waiting) {
            txn_respond(out, token, op == TXN_OP_FENCE_INIT ? TXN_ERR_CONCURRENT_TRANSACTIONS : TXN_OK, legacy,
                        TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
        }
        txn_prepare_complete(c, e, now_ms, out);
        break;
    default:
        assert(op == TXN_OP_COMPLETE);
        break;
    }
}

int txn_persist_done(txn_coord *c, txn_str txn_id, int16_t append_error, int64_t now_ms, txn_actions *out)
{
    assert(c && txn_id.len >= 0 && out);
    txn_call_begin(c);
    txn_entry *e = txn_find(c, txn_id);
    if (!e || !e->persist_inflight)
        return -1;
    if (c->mode == TXN_MODE_RESIGNED) {
        txn_pending_reset(c, e); /* nobody waits: txn_resign answered them */
        txn_check(c);
        return 0;
    }
    int16_t err = txn_append_error(append_error);
    if (err == TXN_OK && e->op == TXN_OP_EXPIRE) {
        txn_entry_remove(c, e); /* the tombstone is written: the id is gone */
    } else if (err == TXN_OK) {
        txn_persisted(c, e, now_ms, out);
    } else if (e->op == TXN_OP_COMPLETE && err == TXN_ERR_COORDINATOR_NOT_AVAILABLE) {
        /* the markers are written: keep the transition and write the record again */
        e->persist_inflight = false;
        e->retry_at_ms = now_ms + TXN_PERSIST_RETRY_MS;
    } else {
        bool waiting = e->waiting, legacy = e->legacy;
        void *token = e->token;
        if ((e->op == TXN_OP_FENCE_INIT || e->op == TXN_OP_FENCE_TIMEOUT) && e->transit.client_tv < 2)
            e->failed_fence = true; /* V1 bumped the epoch in memory already (V2 bumps with the record) */
        txn_pending_reset(c, e);
        if (waiting)
            txn_respond(out, token, err, legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
    }
    txn_check(c);
    return 0;
}

int txn_markers_done(txn_coord *c, txn_str txn_id, int64_t now_ms, txn_actions *out)
{
    assert(c && txn_id.len >= 0 && out);
    txn_call_begin(c);
    txn_entry *e = txn_find(c, txn_id);
    if (!e || !e->markers_outstanding)
        return -1;
    e->markers_outstanding = false;
    if (c->mode == TXN_MODE_RESIGNED)
        txn_pending_reset(c, e);
    else
        txn_emit_persist(e, out); /* the Complete* record computed when the Prepare record was written */
    txn_check(c);
    return 0;
}

/* ---- time ---- */

/* The first run of a task on the grid next + k * interval at or after t. */
static int64_t txn_grid_at(int64_t next, int32_t interval_ms, int64_t t)
{
    if (t <= next || interval_ms <= 0)
        return t > next ? t : next;
    int64_t k = (t - next + interval_ms - 1) / interval_ms;
    return next + k * interval_ms;
}

int64_t txn_next_deadline_ms(const txn_coord *c)
{
    assert(c);
    if (c->mode != TXN_MODE_ACTIVE)
        return INT64_MAX;
    int64_t abort_at = INT64_MAX, expire_at = INT64_MAX, retry_at = INT64_MAX;
    for (int b = 0; b < c->nbuckets; b++) {
        for (const txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (e->retry_at_ms < retry_at)
                retry_at = e->retry_at_ms;
            if (e->pending >= 0)
                continue;
            /* timedOutTransactions: start + timeout < now */
            if (e->state == TXN_ONGOING && (e->epoch != TXN_EPOCH_MAX || e->failed_fence) &&
                e->start_ms + e->timeout_ms + 1 < abort_at)
                abort_at = e->start_ms + e->timeout_ms + 1;
            /* shouldExpire: last update <= now - expiration */
            if (txn_expirable(e->state) && e->update_ms + c->lim.transactional_id_expiration_ms < expire_at)
                expire_at = e->update_ms + c->lim.transactional_id_expiration_ms;
        }
    }
    int64_t d = retry_at;
    if (abort_at != INT64_MAX && txn_grid_at(c->next_abort_ms, c->lim.abort_check_interval_ms, abort_at) < d)
        d = txn_grid_at(c->next_abort_ms, c->lim.abort_check_interval_ms, abort_at);
    if (expire_at != INT64_MAX && txn_grid_at(c->next_expire_ms, c->lim.expire_check_interval_ms, expire_at) < d)
        d = txn_grid_at(c->next_expire_ms, c->lim.expire_check_interval_ms, expire_at);
    return d;
}

static int64_t txn_grid_advance(int64_t next, int32_t interval_ms, int64_t now_ms)
{
    if (interval_ms <= 0)
        return now_ms;
    return next + ((now_ms - next) / interval_ms + 1) * interval_ms;
}

/* abortTimedOutTransactions */
static bool txn_abort_timed_out(txn_coord *c, int64_t now_ms, int64_t fresh_pid, txn_actions *out)
{
    bool took = false;
    for (int b = 0; b < c->nbuckets; b++) {
        for (txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (e->pending == -1 && e->state == TXN_ONGOING && e->start_ms + e->timeout_ms < now_ms)
                (void)txn_fence_abort(c, e, TXN_OP_FENCE_TIMEOUT, took ? TXN_PRODUCER_ID_NONE : fresh_pid, now_ms,
                                      &took, out); /* epoch MAX: Kafka logs and skips */
        }
    }
    return took;
}

/* removeExpiredTransactionalIds: Dead goes in flight, then a tombstone. */
static void txn_expire(txn_coord *c, int64_t now_ms, txn_actions *out)
{
    for (int b = 0; b < c->nbuckets; b++) {
        for (txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (e->pending >= 0 || !txn_expirable(e->state) ||
                e->update_ms > now_ms - c->lim.transactional_id_expiration_ms)
                continue;
            txn_transit t;
            txn_transit_init(e, &t, TXN_DEAD);
            int16_t err = txn_prepare(e, &t, TXN_OP_EXPIRE);
            assert(err == TXN_OK);
            (void)err;
            txn_emit_persist(e, out);
        }
    }
}

bool txn_tick(txn_coord *c, int64_t now_ms, int64_t fresh_pid, txn_actions *out)
{
    assert(c && out);
    txn_call_begin(c);
    bool took = false;
    if (c->mode != TXN_MODE_ACTIVE)
        return false;
    for (int b = 0; b < c->nbuckets; b++) {
        for (txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (e->retry_at_ms <= now_ms) {
                e->retry_at_ms = INT64_MAX;
                txn_emit_persist(e, out);
            }
        }
    }
    if (now_ms >= c->next_abort_ms) {
        took = txn_abort_timed_out(c, now_ms, fresh_pid, out);
        c->next_abort_ms = txn_grid_advance(c->next_abort_ms, c->lim.abort_check_interval_ms, now_ms);
    }
    if (now_ms >= c->next_expire_ms) {
        txn_expire(c, now_ms, out);
        c->next_expire_ms = txn_grid_advance(c->next_expire_ms, c->lim.expire_check_interval_ms, now_ms);
    }
    txn_check(c);
    return took;
}

/* ---- loading ---- */

/* A record from disk: only what Kafka itself can have written. */
static bool txn_record_valid(const txn_record *r)
{
    if (r->transaction_status < TXN_EMPTY || r->transaction_status > TXN_COMPLETE_ABORT)
        return false; /* Dead and PrepareEpochFence are never written */
    if (r->producer_id < 0 || r->producer_epoch < 0 || r->transaction_timeout_ms <= 0)
        return false;
    if (r->transaction_status == TXN_EMPTY)
        return true; /* Kafka ignores an Empty record's partitions */
    if (!txn_parts_valid(r->partitions, r->npartitions))
        return false;
    if (txn_is_complete(r->transaction_status) && r->npartitions > 0)
        return false;
    return r->transaction_status != TXN_ONGOING || r->start_timestamp_ms >= 0;
}

int txn_load(txn_coord *c, txn_str txn_id, const txn_record *value)
{
    assert(c);
    txn_call_begin(c);
    if (c->mode != TXN_MODE_LOADING || txn_id.len <= 0 || (value && !txn_record_valid(value)))
        return -1;
    txn_entry *e = txn_find(c, txn_id);
    if (!value) {
        if (e)
            txn_entry_remove(c, e);
        txn_check(c);
        return 0;
    }
    if (e)
        txn_parts_defer(c, e->parts, e->nparts);
    else
        e = txn_entry_add(c, txn_id);
    e->pid = value->producer_id;
    e->prev_pid = value->previous_producer_id;
    e->next_pid = value->next_producer_id;
    e->epoch = value->producer_epoch;
    e->last_epoch = TXN_EPOCH_NONE; /* not in the record */
    e->timeout_ms = value->transaction_timeout_ms;
    e->state = value->transaction_status;
    e->parts = NULL;
    e->nparts = 0;
    if (e->state != TXN_EMPTY)
        e->parts = txn_parts_normalize(value->partitions, value->npartitions, &e->nparts);
    e->start_ms = value->start_timestamp_ms;
    e->update_ms = value->last_update_timestamp_ms;
    e->client_tv = value->client_transaction_version;
    e->failed_fence = false;
    txn_check(c);
    return 0;
}

void txn_load_done(txn_coord *c, int64_t now_ms, txn_actions *out)
{
    assert(c && out);
    txn_call_begin(c);
    if (c->mode != TXN_MODE_LOADING)
        return;
    c->mode = TXN_MODE_ACTIVE;
    c->next_abort_ms = now_ms + c->lim.abort_check_interval_ms;
    c->next_expire_ms = now_ms + c->lim.expire_check_interval_ms;
    /* a transaction whose Prepare record is the last word completes now */
    for (int b = 0; b < c->nbuckets; b++) {
        for (txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (txn_is_prepare(e->state))
                txn_prepare_complete(c, e, now_ms, out);
        }
    }
    txn_check(c);
}

void txn_resign(txn_coord *c, txn_actions *out)
{
    assert(c && out);
    txn_call_begin(c);
    for (int b = 0; b < c->nbuckets; b++) {
        for (txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (!e->waiting)
                continue;
            txn_respond(out, e->token, TXN_ERR_NOT_COORDINATOR, e->legacy, TXN_PRODUCER_ID_NONE, TXN_EPOCH_NONE);
            e->waiting = false;
        }
    }
    c->mode = TXN_MODE_RESIGNED;
    txn_check(c);
}

/* ---- lifecycle and queries ---- */

void txn_set_transaction_version(txn_coord *c, int16_t level)
{
    assert(c);
    c->cluster_tv = level;
}

txn_coord *txn_coord_new(int32_t partition, int32_t coordinator_epoch, const txn_limits *lim)
{
    assert(lim);
    if (partition < 0 || coordinator_epoch < 0 || lim->transaction_timeout_ms_max <= 0 ||
        lim->transactional_id_expiration_ms <= 0 || lim->abort_check_interval_ms < 0 ||
        lim->expire_check_interval_ms < 0)
        return NULL;
    txn_coord *c = txn_xalloc(sizeof(*c));
    c->partition = partition;
    c->coord_epoch = coordinator_epoch;
    c->lim = *lim;
    c->mode = TXN_MODE_LOADING;
    c->nbuckets = 16;
    c->buckets = txn_xalloc((size_t)c->nbuckets * sizeof(*c->buckets));
    txn_check(c);
    return c;
}

void txn_coord_free(txn_coord *c)
{
    if (!c)
        return;
    txn_call_begin(c);
    for (int b = 0; b < c->nbuckets; b++) {
        while (c->buckets[b])
            txn_entry_remove(c, c->buckets[b]);
    }
    txn_call_begin(c);
    free(c->deferred);
    free(c->buckets);
    free(c->views);
    free(c);
}

static void txn_view_fill(const txn_entry *e, txn_view *v)
{
    v->txn_id = e->txn_id;
    v->producer_id = e->pid;
    v->producer_epoch = e->epoch;
    v->state = e->state;
    v->pending = e->pending;
    v->timeout_ms = e->timeout_ms;
    v->start_timestamp_ms = e->start_ms;
    v->last_update_timestamp_ms = e->update_ms;
    v->partitions = e->parts;
    v->npartitions = e->nparts;
}

int16_t txn_describe(txn_coord *c, txn_str txn_id, txn_view *out)
{
    assert(c && out);
    if (txn_id.len <= 0)
        return TXN_ERR_INVALID_REQUEST;
    int16_t err = txn_mode_error(c);
    if (err != TXN_OK)
        return err;
    const txn_entry *e = txn_find(c, txn_id);
    if (!e)
        return TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND;
    txn_view_fill(e, out);
    return TXN_OK;
}

static bool txn_list_match(const txn_entry *e, const txn_list_filter *f, int64_t now_ms)
{
    if (f->nproducer_ids > 0) {
        bool found = false;
        for (int i = 0; i < f->nproducer_ids && !found; i++)
            found = f->producer_ids[i] == e->pid;
        if (!found)
            return false;
    }
    if (f->filter_states && !(f->states_mask & TXN_BIT(e->state)))
        return false;
    /* Kafka compares with the start time even when it is -1 (no transaction) */
    return f->duration_ms < 0 || now_ms - e->start_ms > f->duration_ms;
}

int16_t txn_list(txn_coord *c, const txn_list_filter *f, int64_t now_ms, const txn_view **out, int *n)
{
    assert(c && f && out && n);
    *out = NULL;
    *n = 0;
    int16_t err = txn_mode_error(c);
    if (err != TXN_OK)
        return err;
    c->views = txn_grow(c->views, &c->views_cap, c->count, sizeof(*c->views));
    for (int b = 0; b < c->nbuckets; b++) {
        for (const txn_entry *e = c->buckets[b]; e; e = e->hnext) {
            if (txn_list_match(e, f, now_ms))
                txn_view_fill(e, &c->views[(*n)++]);
        }
    }
    *out = c->views;
    return TXN_OK;
}

int txn_count(const txn_coord *c) { return c->count; }
int32_t txn_coord_partition(const txn_coord *c) { return c->partition; }
int32_t txn_coord_epoch(const txn_coord *c) { return c->coord_epoch; }
