/*
 * cleaner.c - the log cleaner (see cleaner.h for what a pass does).
 *
 * Threads: log.cleaner.threads of them, each with its own key map and
 * buffers; a log is cleaned by one thread at a time (partition.cleaning).
 * Nothing here holds a partition's or a log's lock while it reads or
 * writes: the closed segments it reads are referenced (plog_closed_segments)
 * and immutable, the output goes to files no one else knows yet, and the
 * swap takes the log's lock only to exchange list entries.
 *
 * Memory per thread: the key map (dedupe buffer / threads), a read buffer
 * and a write buffer (log.cleaner.io.buffer.size each, a read buffer grows
 * to hold a larger batch), and the inflated records of one batch.
 */
#include "cluster/cleaner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "base/clock.h"
#include "base/log.h"
#include "proto/batch.h"
#include "proto/records.h"
#include "proto/zwriter.h"
#include "storage/checkpoint.h"

#define CHECKPOINT_NAME "cleaner-offset-checkpoint"
#define TXNINDEX_ENTRY_BYTES 34 /* version int16, pid, first, last, lso: int64 each */

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Batch header field offsets (batch.h). */
enum {
    H_ATTRIBUTES = 21,
    H_BASE_TIMESTAMP = 27,
    H_MAX_TIMESTAMP = 35,
    H_RECORD_COUNT = 57,
};

/* ---- the key map: XXH3-128 of the key -> latest offset ---- */

typedef struct omap_slot {
    uint64_t lo, hi;
    int64_t off1;       /* offset + 1; 0: empty */
} omap_slot;

typedef struct omap {
    omap_slot *slots;
    size_t nslots;      /* a power of two; grows up to max_slots */
    size_t max_slots;   /* what log.cleaner.dedupe.buffer.size / threads holds */
    double load;
    size_t used, max_used; /* max_used: the most keys a pass may map */
    int64_t latest;     /* the last offset the map covers */
} omap;

#define OMAP_SLOTS_MIN 4096

/* The map starts small and doubles as keys come, up to the configured
 * size: a broker whose compacted logs hold a few thousand keys does not
 * carry a 128 MiB table (Kafka's default dedupe buffer) for them. */
static int omap_init(omap *m, int64_t bytes, double load)
{
    size_t n = OMAP_SLOTS_MIN;
    while ((int64_t)((n * 2) * sizeof(omap_slot)) <= bytes)
        n *= 2;
    m->max_slots = n;
    m->load = load > 0 && load <= 1 ? load : 0.9;
    m->max_used = (size_t)((double)n * m->load);
    if (m->max_used >= n)
        m->max_used = n - 1; /* a probe always meets an empty slot */
    m->nslots = OMAP_SLOTS_MIN < n ? OMAP_SLOTS_MIN : n;
    m->slots = calloc(m->nslots, sizeof *m->slots);
    m->used = 0;
    m->latest = -1;
    return m->slots ? 0 : -1;
}

/* Back to the small table: the memory of a large pass goes back. */
static void omap_clear(omap *m)
{
    if (m->nslots > OMAP_SLOTS_MIN) {
        omap_slot *s = calloc(OMAP_SLOTS_MIN, sizeof *s);
        if (s) {
            free(m->slots);
            m->slots = s;
            m->nslots = OMAP_SLOTS_MIN;
        } else {
            memset(m->slots, 0, m->nslots * sizeof *m->slots);
        }
    } else {
        memset(m->slots, 0, m->nslots * sizeof *m->slots);
    }
    m->used = 0;
    m->latest = -1;
}

static omap_slot *omap_find_in(omap_slot *slots, size_t nslots, uint64_t lo, uint64_t hi)
{
    size_t mask = nslots - 1;
    for (size_t i = (size_t)lo & mask;; i = (i + 1) & mask) {
        omap_slot *s = &slots[i];
        if (s->off1 == 0 || (s->lo == lo && s->hi == hi))
            return s;
    }
}

static omap_slot *omap_find(omap *m, XXH128_hash_t h)
{
    return omap_find_in(m->slots, m->nslots, h.low64, h.high64);
}

/* Double the table (rehash); false without memory (the caller then treats
 * the map as full). */
static bool omap_grow(omap *m)
{
    size_t n = m->nslots * 2;
    omap_slot *t = calloc(n, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].off1)
            *omap_find_in(t, n, m->slots[i].lo, m->slots[i].hi) = m->slots[i];
    free(m->slots);
    m->slots = t;
    m->nslots = n;
    return true;
}

/* Room for n more keys, growing the table if it may: false when the map
 * is full (the pass stops reading dirty records there). */
static bool omap_room(omap *m, size_t n)
{
    if (m->used + n > m->max_used)
        return false;
    while ((double)(m->used + n) > (double)m->nslots * m->load && m->nslots < m->max_slots)
        if (!omap_grow(m))
            return false;
    return m->used + n < m->nslots;
}

/* Callers make room first (omap_room), so a probe always ends. */
static void omap_put(omap *m, const uint8_t *key, int32_t len, int64_t offset)
{
    XXH128_hash_t h = XXH3_128bits(key, (size_t)len);
    omap_slot *s = omap_find(m, h);
    if (s->off1 == 0) {
        s->lo = h.low64;
        s->hi = h.high64;
        m->used++;
    }
    s->off1 = offset + 1;
}

static int64_t omap_get(omap *m, const uint8_t *key, int32_t len)
{
    omap_slot *s = omap_find(m, XXH3_128bits(key, (size_t)len));
    return s->off1 - 1;
}

/* ---- the cleaner ---- */

struct cleaner {
    cleaner_config cfg;
    cleaner_env env;
    pthread_t *threads;
    int nthreads, started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    checkpoint_file cp;         /* read at start: first dirty offsets; guarded by mu */
    bool cp_loaded;
    pthread_mutex_t cp_write_mu;
    double tokens;              /* the I/O throttle's bucket; guarded by mu */
    int64_t tokens_ms;
    atomic_llong passes, bytes_read, bytes_written, bytes_saved;
};

typedef struct ctx {
    cleaner *c;
    omap map;
    uint8_t *rbuf;              /* read buffer */
    size_t rcap;
    uint8_t *obuf;              /* write buffer */
    size_t olen, ocap;
    int ofd;
    int64_t opos;               /* bytes written to the output file */
    uint8_t *tmp;               /* a rebuilt batch's records */
    size_t tcap;
    kp_writer zw;               /* a rebuilt compressed batch */
    rec_iter it;
    krecord *kept;              /* the records a rewritten batch keeps */
    int capkept;
    int werr;                   /* errno of a failed write, sticky for the group */
} ctx;

/* The I/O cap, shared by the threads: take n bytes from the bucket, and
 * sleep off a debt (in short waits, so a stop is not held up). */
static void throttle(cleaner *c, int64_t n)
{
    double rate = c->cfg.io_max_bytes_per_sec;
    if (!(rate > 0) || rate > 1e15)
        return;
    pthread_mutex_lock(&c->mu);
    int64_t now = clock_mono_ms();
    c->tokens += (double)(now - c->tokens_ms) * rate / 1000.0;
    if (c->tokens > rate)
        c->tokens = rate;   /* at most a second's worth saved up */
    c->tokens_ms = now;
    c->tokens -= (double)n;
    while (c->tokens < 0 && !atomic_load(&c->stop)) {
        int64_t wait = (int64_t)(-c->tokens * 1000.0 / rate) + 1;
        if (wait > 100)
            wait = 100;
        struct timespec ts = clock_deadline_in(wait);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        now = clock_mono_ms();
        c->tokens += (double)(now - c->tokens_ms) * rate / 1000.0;
        c->tokens_ms = now;
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- reading a segment batch by batch ---- */

typedef struct seg_in {
    int fd;
    int64_t size;
    int64_t buf_pos;            /* file position of rbuf[0] */
    size_t buf_len;
    int64_t pos;                /* the next batch */
    int err;
} seg_in;

/* The next whole batch of the segment, or NULL at its end (or on error,
 * in->err set). *at gets its file position. */
static const uint8_t *seg_next(ctx *x, seg_in *in, size_t *len, int64_t *at)
{
    if (in->pos + BATCH_HEADER_BYTES > in->size)
        return NULL;
    for (int pass = 0; pass < 3; pass++) {
        int64_t off = in->pos - in->buf_pos;
        if (off >= 0 && off + BATCH_HEADER_BYTES <= (int64_t)in->buf_len) {
            batch_info bi;
            batch_peek(x->rbuf + off, &bi);
            if (bi.total_bytes < BATCH_HEADER_BYTES || in->pos + bi.total_bytes > in->size) {
                in->err = EINVAL;
                return NULL;
            }
            if (off + bi.total_bytes <= (int64_t)in->buf_len) {
                *len = (size_t)bi.total_bytes;
                *at = in->pos;
                in->pos += bi.total_bytes;
                return x->rbuf + off;
            }
            if ((size_t)bi.total_bytes > x->rcap) {
                uint8_t *nb = realloc(x->rbuf, (size_t)bi.total_bytes);
                if (!nb) {
                    in->err = ENOMEM;
                    return NULL;
                }
                x->rbuf = nb;
                x->rcap = (size_t)bi.total_bytes;
            }
        }
        /* Refill from the batch's start. */
        size_t want = x->rcap;
        if ((int64_t)want > in->size - in->pos)
            want = (size_t)(in->size - in->pos);
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(in->fd, x->rbuf + got, want - got, in->pos + (int64_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                in->err = r < 0 ? errno : EIO;
                return NULL;
            }
            got += (size_t)r;
        }
        in->buf_pos = in->pos;
        in->buf_len = got;
        atomic_fetch_add(&x->c->bytes_read, (long long)got);
        throttle(x->c, (int64_t)got);
    }
    in->err = EIO;
    return NULL;
}

/* ---- writing the cleaned segment ---- */

/* Write n bytes to the output file (sticky error), counted and throttled. */
static void out_put(ctx *x, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n && !x->werr) {
        ssize_t w = write(x->ofd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            x->werr = w < 0 ? errno : EIO;
        else
            done += (size_t)w;
    }
    if (n) {
        atomic_fetch_add(&x->c->bytes_written, (long long)n);
        throttle(x->c, (int64_t)n);
    }
}

static void out_flush(ctx *x)
{
    out_put(x, x->obuf, x->olen);
    x->olen = 0;
}

/* Buffered; a piece as large as the buffer goes straight out. */
static void out_write(ctx *x, const uint8_t *p, size_t n)
{
    x->opos += (int64_t)n;
    if (x->olen + n > x->ocap)
        out_flush(x);
    if (n >= x->ocap) {
        out_put(x, p, n);
        return;
    }
    memcpy(x->obuf + x->olen, p, n);
    x->olen += n;
}

/* ---- transactions seen in a pass (Kafka's CleanedTransactionMetadata) ---- */

typedef struct abort_ent {
    part_aborted a;
    bool observed;              /* a batch of it was read in this pass */
} abort_ent;

typedef struct txn_state {
    abort_ent *ab;              /* sorted by (pid, first) */
    int nab;
    int64_t *committed;         /* producers with a committed-transaction batch read, marker not yet */
    int ncommitted, capcommitted;
    prod_entry *prods;          /* sorted by pid */
    int nprods;
    part_aborted *kept;         /* aborts whose marker this group keeps: its .txnindex */
    int nkept, capkept;
} txn_state;

static int cmp_abort(const void *a, const void *b)
{
    const abort_ent *x = a, *y = b;
    if (x->a.pid != y->a.pid)
        return x->a.pid < y->a.pid ? -1 : 1;
    return x->a.first < y->a.first ? -1 : x->a.first > y->a.first;
}

static int cmp_prod(const void *a, const void *b)
{
    const prod_entry *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The aborted transaction of pid covering offset, or NULL. */
static abort_ent *txn_aborted(txn_state *t, int64_t pid, int64_t offset)
{
    int lo = 0, hi = t->nab;
    while (lo < hi) {   /* first entry > (pid, offset) */
        int mid = (lo + hi) / 2;
        const part_aborted *a = &t->ab[mid].a;
        if (a->pid < pid || (a->pid == pid && a->first <= offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    abort_ent *e = &t->ab[lo - 1];
    return e->a.pid == pid && e->a.first <= offset && offset <= e->a.last ? e : NULL;
}

static abort_ent *txn_abort_ending(txn_state *t, int64_t pid, int64_t marker)
{
    abort_ent *e = txn_aborted(t, pid, marker);
    return e && e->a.last == marker ? e : NULL;
}

static const prod_entry *txn_producer(const txn_state *t, int64_t pid)
{
    prod_entry key = { .pid = pid };
    return bsearch(&key, t->prods, (size_t)t->nprods, sizeof key, cmp_prod);
}

static bool committed_take(txn_state *t, int64_t pid)
{
    for (int i = 0; i < t->ncommitted; i++)
        if (t->committed[i] == pid) {
            t->committed[i] = t->committed[--t->ncommitted];
            return true;
        }
    return false;
}

static void committed_add(txn_state *t, int64_t pid)
{
    for (int i = 0; i < t->ncommitted; i++)
        if (t->committed[i] == pid)
            return;
    if (t->ncommitted == t->capcommitted) {
        int cap = t->capcommitted ? t->capcommitted * 2 : 16;
        int64_t *n = realloc(t->committed, (size_t)cap * sizeof *n);
        if (!n)
            return; /* keeps a marker longer than needed, never drops one too early */
        t->committed = n;
        t->capcommitted = cap;
    }
    t->committed[t->ncommitted++] = pid;
}

static void txn_state_free(txn_state *t)
{
    free(t->ab);
    free(t->committed);
    free(t->prods);
    free(t->kept);
    memset(t, 0, sizeof *t);
}

static int txn_state_load(txn_state *t, partition *p)
{
    memset(t, 0, sizeof *t);
    int n = partition_aborted_txns(p, 0, INT64_MAX, NULL, 0);
    if (n > 0) {
        part_aborted *v = malloc((size_t)n * sizeof *v);
        t->ab = calloc((size_t)n, sizeof *t->ab);
        if (!v || !t->ab) {
            free(v);
            return -1;
        }
        n = partition_aborted_txns(p, 0, INT64_MAX, v, n);
        for (int i = 0; i < n; i++)
            t->ab[i].a = v[i];
        t->nab = n;
        free(v);
        qsort(t->ab, (size_t)n, sizeof *t->ab, cmp_abort);
    }
    t->nprods = partition_producers(p, &t->prods);
    if (t->nprods < 0) {
        t->nprods = 0;
        return -1;
    }
    if (t->nprods > 0)
        qsort(t->prods, (size_t)t->nprods, sizeof *t->prods, cmp_prod);
    return 0;
}

/* ---- one batch ---- */

typedef struct pass_ctx {
    partition *p;
    log_config cfg;
    int64_t now;
    txn_state txn;
    cleaner_pass st;
    int64_t next_horizon;       /* earliest delete horizon kept, -1 none */
} pass_ctx;

/* now + delete.retention.ms, saturating (the config may be Long.MAX). */
static int64_t delete_horizon(const pass_ctx *ps)
{
    return ps->cfg.delete_retention_ms > INT64_MAX - ps->now ? INT64_MAX : ps->now + ps->cfg.delete_retention_ms;
}

static void note_horizon(pass_ctx *ps, int64_t h)
{
    if (ps->next_horizon < 0 || h < ps->next_horizon)
        ps->next_horizon = h;
}

/* Kafka keeps a producer's last batch (its sequence and epoch must survive
 * a rebuild of the producer state from the log), empty if need be. */
static bool last_of_producer(pass_ctx *ps, const batch_info *bi, int64_t last, bool control)
{
    if (bi->producer_id < 0)
        return false;
    const prod_entry *e = txn_producer(&ps->txn, bi->producer_id);
    if (!e)
        return false;
    if (control)
        return e->nbatches == 0 && e->epoch == bi->producer_epoch;
    return e->nbatches > 0 && e->batches[e->nbatches - 1].last_offset == last;
}

static bool keep_record(pass_ctx *ps, omap *m, const krecord *r, bool has_horizon, int64_t horizon)
{
    if (r->offset > m->latest)
        return true;    /* past what the map covers: the next pass decides */
    if (!r->key)
        return false;   /* a compacted topic has no use for a record without a key */
    if (r->offset < omap_get(m, r->key, r->key_len))
        return false;   /* a later record has this key */
    if (r->value_len >= 0)
        return true;
    return !has_horizon || ps->now < horizon;
}

/* An empty batch in place of b: the header alone, no records, the offsets
 * and producer fields kept (Kafka's writeEmptyHeader). */
static void write_empty(ctx *x, const uint8_t *b, const batch_info *bi)
{
    uint8_t h[BATCH_HEADER_BYTES];
    memcpy(h, b, sizeof h);
    uint16_t attrs = (uint16_t)bi->attributes & (BATCH_ATTR_TIMESTAMP_TYPE | BATCH_ATTR_TRANSACTIONAL |
                                                 BATCH_ATTR_CONTROL);
    put_be16(h + H_ATTRIBUTES, attrs);
    put_be64(h + H_BASE_TIMESTAMP, (uint64_t)bi->max_timestamp);
    put_be32(h + H_RECORD_COUNT, 0);
    batch_seal(h, sizeof h);
    out_write(x, h, sizeof h);
}

static bool ensure_tmp(ctx *x, size_t n)
{
    if (n <= x->tcap)
        return true;
    size_t cap = x->tcap ? x->tcap : 64 * 1024;
    while (cap < n)
        cap *= 2;
    uint8_t *t = realloc(x->tmp, cap);
    if (!t)
        return false;
    x->tmp = t;
    x->tcap = cap;
    return true;
}

/* Grow the kept-records array to n entries. */
static bool ensure_kept(ctx *x, int n)
{
    if (n <= x->capkept)
        return true;
    int cap = x->capkept ? x->capkept * 2 : 256;
    while (cap < n)
        cap *= 2;
    krecord *k = realloc(x->kept, (size_t)cap * sizeof *k);
    if (!k)
        return false;
    x->kept = k;
    x->capkept = cap;
    return true;
}

/* Java's long arithmetic wraps; ours does too, without undefined behaviour. */
static int64_t add_wrap(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/*
 * Write b anew with the records x->kept[0..n): same base offset, last
 * offset delta, producer fields and codec; base timestamp new_base_ts
 * (the delete horizon when horizon is set, with KIP-534's attribute bit).
 * -1 when it cannot (no memory, the codec refuses): the caller keeps b.
 */
static int rebuild_batch(ctx *x, const uint8_t *b, const batch_info *bi, int n, int64_t new_base_ts,
                         bool horizon)
{
    bool reencode = new_base_ts != bi->base_timestamp;
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        const krecord *r = &x->kept[i];
        need += reencode ? rec_encoded_max(r->key_len, r->value_len, r->headers_len) : r->raw_len;
    }
    if (!ensure_tmp(x, need ? need : 1))
        return -1;
    size_t off = 0;
    int64_t max_ts = -1;
    for (int i = 0; i < n; i++) {
        const krecord *r = &x->kept[i];
        int64_t ts = add_wrap(bi->base_timestamp, r->timestamp_delta);
        if (ts > max_ts)
            max_ts = ts;
        if (reencode) {
            off += rec_encode(x->tmp + off, add_wrap(ts, -new_base_ts), r->offset_delta, r->key, r->key_len,
                              r->value, r->value_len, r->header_count, r->headers, r->headers_len);
        } else {
            memcpy(x->tmp + off, r->raw, r->raw_len);
            off += r->raw_len;
        }
    }
    x->zw.len = 0;
    uint8_t *h = kp_writer_reserve(&x->zw, BATCH_HEADER_BYTES);
    if (!h)
        return -1;
    memcpy(h, b, BATCH_HEADER_BYTES);
    uint16_t attrs = (uint16_t)bi->attributes | (horizon ? BATCH_ATTR_DELETE_HORIZON : 0);
    put_be16(h + H_ATTRIBUTES, attrs);
    put_be64(h + H_BASE_TIMESTAMP, (uint64_t)new_base_ts);
    if (!(attrs & BATCH_ATTR_TIMESTAMP_TYPE))
        put_be64(h + H_MAX_TIMESTAMP, (uint64_t)max_ts);
    put_be32(h + H_RECORD_COUNT, (uint32_t)n);
    int codec = attrs & BATCH_ATTR_COMPRESSION_MASK;
    if (codec) {
        const char *err = NULL;
        if (zwriter_compress(codec, ZWRITER_LEVEL_DEFAULT, x->tmp, off, &x->zw, &err) != 0)
            return -1;
    } else {
        kp_write_raw(&x->zw, x->tmp, off);
    }
    if (x->zw.err)
        return -1;
    batch_seal(x->zw.buf, x->zw.len);
    out_write(x, x->zw.buf, x->zw.len);
    return 0;
}

/* What survives of a data batch goes out. -1: its records could not be
 * walked or rewritten, and nothing was written (the caller keeps it whole). */
static int clean_data_batch(ctx *x, pass_ctx *ps, const uint8_t *b, size_t len, const batch_info *bi,
                            int64_t last)
{
    bool has_horizon = (bi->attributes & BATCH_ATTR_DELETE_HORIZON) != 0;
    int64_t horizon = has_horizon ? bi->base_timestamp : -1;
    bool discard = false;
    if (bi->attributes & BATCH_ATTR_TRANSACTIONAL) {
        abort_ent *a = txn_aborted(&ps->txn, bi->producer_id, batch_base_offset(b));
        if (a) {
            a->observed = true;
            discard = true;
        } else {
            committed_add(&ps->txn, bi->producer_id);
        }
    }
    if (rec_iter_init(&x->it, b, len, RECORDS_MAX_INFLATED) != 0)
        return -1;
    int n = 0, count = 0, tombstones = 0;
    krecord r;
    int rc;
    while ((rc = rec_iter_next(&x->it, &r)) == 1) {
        count++;
        if (discard || !keep_record(ps, &x->map, &r, has_horizon, horizon))
            continue;
        if (!ensure_kept(x, n + 1))
            return -1;
        x->kept[n++] = r;
        tombstones += r.value_len < 0;
    }
    if (rc < 0)
        return -1;
    ps->st.records_read += count;
    ps->st.records_kept += n;
    bool set_horizon = tombstones > 0 && !has_horizon;
    if (tombstones > 0)
        note_horizon(ps, set_horizon ? delete_horizon(ps) : horizon);
    if (n == 0) {
        /* Empty (or emptied): only a producer's last batch stays, as an
         * empty one. */
        if (last_of_producer(ps, bi, last, false))
            write_empty(x, b, bi);
        else
            ps->st.batches_dropped++;
        return 0;
    }
    if (n == count && !set_horizon) {
        out_write(x, b, len);
        return 0;
    }
    int64_t base_ts = set_horizon ? delete_horizon(ps) : bi->base_timestamp;
    return rebuild_batch(x, b, bi, n, base_ts, set_horizon);
}

/* A transaction marker: kept while its transaction has records left here
 * or until its delete horizon passes (Kafka's rules). */
static void clean_control_batch(ctx *x, pass_ctx *ps, const uint8_t *b, size_t len, const batch_info *bi,
                                int64_t last)
{
    int type = batch_control_type(b, len);
    bool can_discard = false;
    if (type == BATCH_CONTROL_ABORT) {
        abort_ent *a = txn_abort_ending(&ps->txn, bi->producer_id, last);
        if (a && a->observed) {
            /* Its records were read (and dropped) in this pass: the marker
             * and its .txnindex entry stay one more round. */
            txn_state *t = &ps->txn;
            if (t->nkept == t->capkept) {
                int cap = t->capkept ? t->capkept * 2 : 16;
                part_aborted *k = realloc(t->kept, (size_t)cap * sizeof *k);
                if (k) {
                    t->kept = k;
                    t->capkept = cap;
                }
            }
            if (t->nkept < t->capkept)
                t->kept[t->nkept++] = a->a;
        } else {
            can_discard = true;
        }
    } else if (type == BATCH_CONTROL_COMMIT) {
        can_discard = !committed_take(&ps->txn, bi->producer_id);
    }
    bool has_horizon = (bi->attributes & BATCH_ATTR_DELETE_HORIZON) != 0;
    int64_t horizon = has_horizon ? bi->base_timestamp : -1;
    ps->st.records_read += bi->record_count;
    if (can_discard && has_horizon && horizon <= ps->now) {
        if (last_of_producer(ps, bi, last, true))
            write_empty(x, b, bi);
        else
            ps->st.batches_dropped++;
        if (type == BATCH_CONTROL_ABORT)
            partition_aborted_forget(ps->p, bi->producer_id, last);
        return;
    }
    ps->st.records_kept += bi->record_count;
    if (can_discard && !has_horizon) {
        int64_t h = delete_horizon(ps);
        note_horizon(ps, h);
        int n = 0;
        krecord r;
        if (rec_iter_init(&x->it, b, len, RECORDS_MAX_INFLATED) == 0) {
            while (ensure_kept(x, n + 1) && rec_iter_next(&x->it, &r) == 1)
                x->kept[n++] = r;
            if (n == bi->record_count && rebuild_batch(x, b, bi, n, h, true) == 0)
                return;
        }
    } else if (can_discard) {
        note_horizon(ps, horizon);
    }
    out_write(x, b, len);
}

/* ---- one group of segments -> one cleaned segment ---- */

static int write_txnindex(const char *path, const part_aborted *v, int n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int err = 0;
    for (int i = 0; i < n && !err; i++) {
        uint8_t e[TXNINDEX_ENTRY_BYTES] = { 0 };
        put_be64(e + 2, (uint64_t)v[i].pid);
        put_be64(e + 10, (uint64_t)v[i].first);
        put_be64(e + 18, (uint64_t)v[i].last);
        put_be64(e + 26, (uint64_t)v[i].lso);
        if (write(fd, e, sizeof e) != (ssize_t)sizeof e)
            err = errno ? errno : EIO;
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    close(fd);
    return err;
}

static int clean_group(ctx *x, pass_ctx *ps, const plog_segview *g, int n, char *why, size_t whylen)
{
    plog *log = ps->p->log;
    char path[PATH_MAX], tpath[PATH_MAX];
    if (!plog_cleaned_path(log, g[0].base, ".log.cleaned", path, sizeof path) ||
        !plog_cleaned_path(log, g[0].base, ".txnindex.cleaned", tpath, sizeof tpath)) {
        snprintf(why, whylen, "path too long");
        return LOG_ERR_IO;
    }
    x->ofd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (x->ofd < 0) {
        snprintf(why, whylen, "creating %.300s: %s", path, strerror(errno));
        return LOG_ERR_IO;
    }
    x->olen = 0;
    x->opos = 0;
    x->werr = 0;
    ps->txn.nkept = 0;
    int rc = LOG_OK;
    int64_t before = 0;
    for (int i = 0; i < n && rc == LOG_OK; i++) {
        before += g[i].size;
        seg_in in = { .fd = g[i].fd, .size = g[i].size, .buf_pos = -1 };
        const uint8_t *b;
        size_t len;
        int64_t at;
        while ((b = seg_next(x, &in, &len, &at)) != NULL) {
            if (atomic_load(&x->c->stop)) {
                snprintf(why, whylen, "the broker is stopping");
                rc = LOG_ERR_BUSY;
                break;
            }
            batch_info bi;
            batch_peek(b, &bi);
            int64_t last = batch_base_offset(b) + bi.last_offset_delta;
            if (bi.attributes & BATCH_ATTR_CONTROL)
                clean_control_batch(x, ps, b, len, &bi, last);
            else if (clean_data_batch(x, ps, b, len, &bi, last) != 0)
                out_write(x, b, len); /* cannot rewrite it: keep it whole */
        }
        if (rc == LOG_OK && in.err) {
            snprintf(why, whylen, "reading %s at %lld: %s", g[i].seg ? "segment" : "?", (long long)in.pos,
                     strerror(in.err));
            rc = LOG_ERR_IO;
        }
    }
    if (rc == LOG_OK) {
        out_flush(x);
        if (x->werr || fsync(x->ofd) != 0) {
            snprintf(why, whylen, "writing %.300s: %s", path, strerror(x->werr ? x->werr : errno));
            rc = LOG_ERR_IO;
        }
    }
    close(x->ofd);
    x->ofd = -1;
    if (rc == LOG_OK && ps->txn.nkept > 0) {
        int err = write_txnindex(tpath, ps->txn.kept, ps->txn.nkept);
        if (err) {
            snprintf(why, whylen, "writing %.300s: %s", tpath, strerror(err));
            rc = LOG_ERR_IO;
        }
    }
    if (rc != LOG_OK) {
        unlink(path);
        unlink(tpath);
        return rc;
    }
    int64_t after = x->opos;
    rc = plog_swap_cleaned(log, g, n, g[n - 1].next, ps->txn.nkept > 0, why, whylen);
    if (rc == LOG_OK) {
        ps->st.bytes_before += before;
        ps->st.bytes_after += after;
        ps->st.segments_before += n;
        ps->st.segments_after++;
    }
    return rc;
}

/* ---- choosing a log, and one pass over it ---- */

/* Where cleaning must stop: the active segment, the last stable offset
 * and, with min.compaction.lag.ms, the first segment holding records
 * newer than that. */
static int64_t first_uncleanable(partition *p, const plog_segview *v, int n, const log_config *cfg,
                                 int64_t first_dirty, int64_t now)
{
    int64_t u = v[n - 1].next;
    int64_t lso = partition_last_stable_offset(p);
    if (lso < u)
        u = lso;
    if (cfg->min_compaction_lag_ms > 0)
        for (int i = 0; i < n; i++)
            if (v[i].next > first_dirty && v[i].largest_ts > now - cfg->min_compaction_lag_ms) {
                if (v[i].base < u)
                    u = v[i].base;
                break;
            }
    return u;
}

static int64_t first_dirty_offset(cleaner *c, partition *p, const plog_segview *v, int n)
{
    int64_t d = atomic_load(&p->clean_offset);
    if (d < 0 && p->topic) {
        pthread_mutex_lock(&c->mu);
        const checkpoint_entry *e = checkpoint_find(&c->cp, p->name, p->index);
        d = e ? e->offset : -1;
        pthread_mutex_unlock(&c->mu);
    }
    int64_t start = plog_start_offset(p->log);
    if (d < start || d > v[n - 1].next)
        d = start;  /* a checkpoint the log no longer matches: all of it is dirty */
    return d;
}

/* The first batch's max timestamp of a segment (max.compaction.lag.ms). */
static int64_t first_batch_ts(const plog_segview *s)
{
    uint8_t h[BATCH_HEADER_BYTES];
    if (s->size < BATCH_HEADER_BYTES || pread(s->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return -1;
    return be64(h + H_MAX_TIMESTAMP);
}

/* How badly p needs cleaning: < 0 not at all; a ratio in [0, 1]; 2 + ratio
 * when it must be cleaned now (max.compaction.lag.ms, a delete horizon). */
static double score(cleaner *c, partition *p, int64_t now)
{
    log_config cfg;
    plog_get_config(p->log, &cfg);
    if (!cfg.compact_policy || atomic_load(&p->cleaning) || plog_failure(p->log))
        return -1;
    plog_segview *v;
    int n = plog_closed_segments(p->log, &v);
    if (n <= 0)
        return -1;
    int64_t first_dirty = first_dirty_offset(c, p, v, n);
    int64_t u = first_uncleanable(p, v, n, &cfg, first_dirty, now);
    int64_t clean = 0, dirty = 0, first_dirty_ts = -1;
    for (int i = 0; i < n; i++) {
        if (v[i].next <= first_dirty) {
            clean += v[i].size;
        } else if (v[i].base < u) {
            if (dirty == 0 && cfg.max_compaction_lag_ms < INT64_MAX)
                first_dirty_ts = first_batch_ts(&v[i]);
            dirty += v[i].size;
        }
    }
    plog_segviews_release(v, n);
    double ratio = clean + dirty > 0 ? (double)dirty / (double)(clean + dirty) : 0;
    int64_t h = atomic_load(&p->clean_horizon_ms);
    if (dirty > 0 && first_dirty_ts >= 0 && first_dirty_ts < now - cfg.max_compaction_lag_ms)
        return 2 + ratio;
    if (h >= 0 && h <= now && clean > 0)
        return 2 + ratio;
    /* Strictly above, as Kafka: 1.0 holds a never-cleaned log back. */
    return dirty > 0 && ratio > cfg.min_cleanable_ratio ? ratio : -1;
}

static void write_checkpoint(cleaner *c, partition **all, int nall)
{
    checkpoint_entry *e = calloc((size_t)(nall ? nall : 1), sizeof *e);
    if (!e)
        return;
    size_t k = 0;
    for (int i = 0; i < nall; i++) {
        int64_t off = atomic_load(&all[i]->clean_offset);
        if (off >= 0 && all[i]->topic)
            e[k++] = (checkpoint_entry){ (char *)all[i]->name, all[i]->index, off };
    }
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", c->env.log_dir, CHECKPOINT_NAME);
    pthread_mutex_lock(&c->cp_write_mu);
    if (checkpoint_write(path, e, k, err, sizeof err) != 0)
        glog(GLOG_WARN, "cleaner", "writing %s: %s (the next start recleans from the older one)", path, err);
    pthread_mutex_unlock(&c->cp_write_mu);
    free(e);
}

static void clean_log(ctx *x, partition *p, partition **all, int nall)
{
    cleaner *c = x->c;
    pass_ctx ps;
    memset(&ps, 0, sizeof ps);
    ps.p = p;
    plog_get_config(p->log, &ps.cfg);
    ps.now = clock_now_ms();
    ps.next_horizon = -1;
    int64_t t0 = clock_mono_ms();
    plog_segview *v;
    int n = plog_closed_segments(p->log, &v);
    if (n <= 0)
        return;
    int64_t first_dirty = first_dirty_offset(c, p, v, n);
    int64_t u = first_uncleanable(p, v, n, &ps.cfg, first_dirty, ps.now);
    char why[512] = "";
    if (txn_state_load(&ps.txn, p) != 0) {
        glog(GLOG_WARN, "cleaner", "%s-%d: no memory for its transaction state; not cleaned", p->name, p->index);
        goto out;
    }
    /* The map: [first_dirty, end). */
    omap_clear(&x->map);
    int64_t end = first_dirty;
    bool stop = false;
    for (int i = 0; i < n && !stop; i++) {
        if (v[i].next <= first_dirty)
            continue;
        if (v[i].base >= u)
            break;
        seg_in in = { .fd = v[i].fd, .size = v[i].size, .buf_pos = -1 };
        const uint8_t *b;
        size_t len;
        int64_t at;
        while (!stop && (b = seg_next(x, &in, &len, &at)) != NULL) {
            batch_info bi;
            batch_peek(b, &bi);
            int64_t base = batch_base_offset(b), last = base + bi.last_offset_delta;
            if (last < first_dirty)
                continue;
            if (base >= u || atomic_load(&c->stop)) {
                stop = true;
                break;
            }
            bool aborted = (bi.attributes & BATCH_ATTR_TRANSACTIONAL) &&
                           txn_aborted(&ps.txn, bi.producer_id, base) != NULL;
            if (!(bi.attributes & BATCH_ATTR_CONTROL) && !aborted) {
                if (!omap_room(&x->map, (size_t)(bi.record_count > 0 ? bi.record_count : 0))) {
                    stop = true; /* full: the rest waits for the next pass */
                    break;
                }
                if (rec_iter_init(&x->it, b, len, RECORDS_MAX_INFLATED) == 0) {
                    krecord r;
                    while (rec_iter_next(&x->it, &r) == 1)
                        if (r.key)
                            omap_put(&x->map, r.key, r.key_len, r.offset);
                }
            }
            end = last + 1;
        }
        if (in.err) {
            snprintf(why, sizeof why, "reading segment %020lld: %s", (long long)v[i].base, strerror(in.err));
            goto out;
        }
    }
    if (atomic_load(&c->stop))
        goto out;
    x->map.latest = end - 1;
    ps.st.first_dirty = first_dirty;
    ps.st.end_offset = end;
    ps.st.map_keys = (int64_t)x->map.used;
    if (end == first_dirty && u > first_dirty && x->map.used == 0 && v[0].base >= end) {
        snprintf(why, sizeof why, "the key map (log.cleaner.dedupe.buffer.size) cannot hold one batch");
        goto out;
    }
    /* The rewrite, in groups of segments that fit one. */
    int i = 0, rc = LOG_OK;
    while (i < n && v[i].base < end && rc == LOG_OK) {
        int j = i + 1;
        int64_t sum = v[i].size;
        while (j < n && v[j].base < end && sum + v[j].size <= ps.cfg.segment_bytes &&
               v[j].next - v[i].base <= INT32_MAX) {
            sum += v[j].size;
            j++;
        }
        rc = clean_group(x, &ps, v + i, j - i, why, sizeof why);
        i = j;
    }
    ps.st.duration_ms = clock_mono_ms() - t0;
    if (rc != LOG_OK)
        goto out;
    atomic_store(&p->clean_offset, end);
    atomic_store(&p->clean_horizon_ms, ps.next_horizon);
    partition_snapshots_trim(p, v[n - 1].base);
    write_checkpoint(c, all, nall);
    atomic_fetch_add(&c->passes, 1);
    atomic_fetch_add(&c->bytes_saved, (long long)(ps.st.bytes_before - ps.st.bytes_after));
    double secs = (double)(ps.st.duration_ms > 0 ? ps.st.duration_ms : 1) / 1000.0;
    glog(GLOG_INFO, "cleaner",
         "%s-%d: cleaned offsets %lld..%lld (map of %lld keys from %lld): %d segment%s %.1f MB -> %d, "
         "%.1f MB (%.1f%% smaller); %lld of %lld records kept, %lld batches dropped; %.2f s, %.1f MB/s",
         p->name, p->index, (long long)(v[0].base), (long long)end - 1, (long long)ps.st.map_keys,
         (long long)first_dirty, ps.st.segments_before, ps.st.segments_before == 1 ? "" : "s",
         (double)ps.st.bytes_before / 1e6, ps.st.segments_after, (double)ps.st.bytes_after / 1e6,
         ps.st.bytes_before ? 100.0 * (double)(ps.st.bytes_before - ps.st.bytes_after) / (double)ps.st.bytes_before : 0,
         (long long)ps.st.records_kept, (long long)ps.st.records_read, (long long)ps.st.batches_dropped, secs,
         (double)ps.st.bytes_before / 1e6 / secs);
out:
    if (why[0]) {
        static glog_limit lim = GLOG_LIMIT_INIT;
        glog_limited(&lim, GLOG_WARN, "cleaner", "%s-%d: cleaning stopped: %s", p->name, p->index, why);
    }
    txn_state_free(&ps.txn);
    plog_segviews_release(v, n);
}

/* ---- threads ---- */

static void ctx_free(ctx *x);

static void *cleaner_main(void *arg)
{
    ctx *x = arg;
    cleaner *c = x->c;
    while (!atomic_load(&c->stop)) {
        partition **all = NULL;
        int n = c->env.list(c->env.ctx, &all);
        partition *best = NULL;
        double best_score = 0;
        int64_t now = clock_now_ms();
        for (int i = 0; i < n; i++) {
            double sc = score(c, all[i], now);
            if (sc > 0 && sc > best_score) {
                best = all[i];
                best_score = sc;
            }
        }
        bool idle = true;
        if (best) {
            bool no = false;
            if (atomic_compare_exchange_strong(&best->cleaning, &no, true)) {
                clean_log(x, best, all, n);
                atomic_store(&best->cleaning, false);
                idle = false;
            }
        }
        if (n >= 0)
            c->env.release(c->env.ctx, all, n);
        if (idle) {
            pthread_mutex_lock(&c->mu);
            if (!atomic_load(&c->stop)) {
                struct timespec ts = clock_deadline_in(c->cfg.backoff_ms);
                pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    ctx_free(x);
    return NULL;
}

static void ctx_free(ctx *x)
{
    if (!x)
        return;
    free(x->map.slots);
    free(x->rbuf);
    free(x->obuf);
    free(x->tmp);
    free(x->kept);
    kp_writer_deinit(&x->zw);
    rec_iter_deinit(&x->it);
    free(x);
}

static ctx *ctx_new(cleaner *c)
{
    ctx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->c = c;
    x->ofd = -1;
    kp_writer_init(&x->zw);
    rec_iter_setup(&x->it);
    x->rcap = x->ocap = (size_t)c->cfg.io_buffer_bytes;
    x->rbuf = malloc(x->rcap);
    x->obuf = malloc(x->ocap);
    if (!x->rbuf || !x->obuf ||
        omap_init(&x->map, c->cfg.dedupe_buffer_bytes / c->cfg.threads, c->cfg.load_factor) != 0) {
        ctx_free(x);
        return NULL;
    }
    return x;
}

cleaner *cleaner_new(const cleaner_config *cfg, const cleaner_env *env)
{
    cleaner *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    if (c->cfg.io_buffer_bytes < 4096)
        c->cfg.io_buffer_bytes = 4096;
    c->env = *env;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->cp_write_mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    atomic_init(&c->stop, false);
    c->tokens_ms = clock_mono_ms();
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", env->log_dir, CHECKPOINT_NAME);
    int rc = checkpoint_read(path, &c->cp, err, sizeof err);
    if (rc != 0 && rc != CHECKPOINT_ERR_MISSING)
        glog(GLOG_WARN, "cleaner", "%s: %s; compacted logs are cleaned from their start again", path, err);
    return c;
}

int cleaner_start(cleaner *c)
{
    if (c->cfg.threads <= 0)
        return 0;
    c->threads = calloc((size_t)c->cfg.threads, sizeof *c->threads);
    if (!c->threads)
        return -1;
    for (int i = 0; i < c->cfg.threads; i++) {
        ctx *x = ctx_new(c);
        if (!x || pthread_create(&c->threads[i], NULL, cleaner_main, x) != 0) {
            ctx_free(x);
            return -1;
        }
        c->started++;
    }
    glog(GLOG_INFO, "cleaner", "%d cleaner thread%s, a key map of %lld keys each", c->started,
         c->started == 1 ? "" : "s",
         (long long)((double)(c->cfg.dedupe_buffer_bytes / c->cfg.threads) / sizeof(omap_slot) * c->cfg.load_factor));
    /* (each map starts at a few thousand keys and grows to that as a log needs) */
    return 0;
}

void cleaner_stop(cleaner *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stop, true);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->started; i++) {
        void *ret;
        pthread_join(c->threads[i], &ret);
    }
    c->started = 0;
}

void cleaner_free(cleaner *c)
{
    if (!c)
        return;
    cleaner_stop(c);
    free(c->threads);
    checkpoint_file_deinit(&c->cp);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->cp_write_mu);
    free(c);
}

void cleaner_totals(cleaner *c, int64_t *passes, int64_t *read, int64_t *written, int64_t *saved)
{
    *passes = atomic_load(&c->passes);
    *read = atomic_load(&c->bytes_read);
    *written = atomic_load(&c->bytes_written);
    *saved = atomic_load(&c->bytes_saved);
}
