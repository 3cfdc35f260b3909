/*
 * producers.c - see producers.h.
 *
 * The table is open addressing with linear probing keyed by producer id,
 * deletions by backward shift (no tombstones), kept at most half full.
 */
#include "cluster/producers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crc32c.h"

#define KERR_OUT_OF_ORDER_SEQUENCE_NUMBER 45
#define KERR_INVALID_PRODUCER_EPOCH 47

struct producers {
    prod_entry *slots;   /* pid == -1: free */
    size_t cap;          /* power of two, or 0 */
    int n;
};

producers *producers_new(void)
{
    return calloc(1, sizeof(producers));
}

void producers_free(producers *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

int producers_count(const producers *t) { return t->n; }

static size_t slot_of(const producers *t, int64_t pid)
{
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (t->cap - 1);
}

prod_entry *producers_get(producers *t, int64_t pid)
{
    if (t->cap == 0 || pid < 0)
        return NULL;
    for (size_t i = slot_of(t, pid);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].pid == pid)
            return &t->slots[i];
        if (t->slots[i].pid < 0)
            return NULL;
    }
}

static int grow(producers *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 8;
    prod_entry *ns = malloc(sizeof(*ns) * ncap);
    if (!ns)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        ns[i].pid = -1;
    prod_entry *old = t->slots;
    size_t ocap = t->cap;
    t->slots = ns;
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].pid < 0)
            continue;
        size_t j = slot_of(t, old[i].pid);
        while (ns[j].pid >= 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    free(old);
    return 0;
}

prod_entry *producers_put(producers *t, int64_t pid)
{
    if (pid < 0)
        return NULL;
    prod_entry *e = producers_get(t, pid);
    if (e)
        return e;
    if ((size_t)(t->n + 1) * 2 > t->cap && grow(t) != 0)
        return NULL;
    size_t i = slot_of(t, pid);
    while (t->slots[i].pid >= 0)
        i = (i + 1) & (t->cap - 1);
    e = &t->slots[i];
    memset(e, 0, sizeof(*e));
    e->pid = pid;
    e->epoch = -1;
    e->coordinator_epoch = -1;
    e->txn_first_offset = -1;
    e->last_ts = -1;
    t->n++;
    return e;
}

void producers_remove(producers *t, int64_t pid)
{
    prod_entry *e = producers_get(t, pid);
    if (!e)
        return;
    size_t i = (size_t)(e - t->slots);
    size_t mask = t->cap - 1;
    t->slots[i].pid = -1;
    t->n--;
    /* Backward shift: move later members of the run into the hole when
     * their home slot is not between the hole and them. */
    for (size_t j = (i + 1) & mask; t->slots[j].pid >= 0; j = (j + 1) & mask) {
        size_t home = slot_of(t, t->slots[j].pid);
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            t->slots[i] = t->slots[j];
            t->slots[j].pid = -1;
            i = j;
        }
    }
}

int producers_restore(producers *t, const prod_entry *saved)
{
    prod_entry *e = producers_put(t, saved->pid);
    if (!e)
        return -1;
    *e = *saved;
    return 0;
}

void producers_each(producers *t, void (*fn)(void *arg, prod_entry *e), void *arg)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].pid >= 0)
            fn(arg, &t->slots[i]);
}

int32_t producers_seq_add(int32_t seq, int32_t n)
{
    if (seq > INT32_MAX - n)
        return n - (INT32_MAX - seq) - 1;
    return seq + n;
}

static bool in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

int producers_check(const prod_entry *e, const prod_batch_in *b, int64_t at_offset, int16_t *error,
                    const prod_batch **dup, char *why, size_t why_len)
{
    int32_t last_seq = producers_seq_add(b->base_seq, b->last_offset_delta);
    if (e && e->epoch == b->epoch) {
        for (int i = 0; i < e->nbatches; i++) {
            if (e->batches[i].first_seq == b->base_seq && e->batches[i].last_seq == last_seq) {
                *dup = &e->batches[i];
                return PROD_DUPLICATE;
            }
        }
    }
    if (e && b->epoch < e->epoch) {
        snprintf(why, why_len,
                 "Epoch of producer %" PRId64 " at offset %" PRId64 " is %d, which is smaller than the last seen epoch %d",
                 b->pid, at_offset, b->epoch, e->epoch);
        *error = KERR_INVALID_PRODUCER_EPOCH;
        return PROD_REFUSE;
    }
    if (!e || e->epoch < 0)
        return PROD_APPEND; /* unknown producer: any sequence (KIP-360) */
    if (b->epoch != e->epoch) {
        if (b->base_seq != 0) {
            snprintf(why, why_len,
                     "Invalid sequence number for new epoch of producer %" PRId64 " at offset %" PRId64
                     ": %d (request epoch), %d (seq. number), %d (current producer epoch)",
                     b->pid, at_offset, b->epoch, b->base_seq, e->epoch);
            *error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
            return PROD_REFUSE;
        }
        return PROD_APPEND;
    }
    /* With no batch of this epoch yet (a marker set it), the next is 0. */
    int32_t cur_last = e->nbatches > 0 ? e->batches[e->nbatches - 1].last_seq : -1;
    if (!in_sequence(cur_last, b->base_seq)) {
        snprintf(why, why_len,
                 "Out of order sequence number for producer %" PRId64 " at offset %" PRId64
                 ": %d (incoming seq. number), %d (current end sequence number)",
                 b->pid, at_offset, b->base_seq, cur_last);
        *error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        return PROD_REFUSE;
    }
    return PROD_APPEND;
}

void producers_apply(prod_entry *e, const prod_batch_in *b, int64_t first_offset, int64_t last_offset)
{
    if (b->epoch != e->epoch) {
        e->nbatches = 0; /* a new epoch starts a new sequence */
        e->epoch = b->epoch;
    }
    e->last_ts = b->max_ts;
    if (b->control)
        return; /* markers carry no sequence; the partition ends the transaction */
    if (b->transactional && e->txn_first_offset < 0)
        e->txn_first_offset = first_offset;
    if (b->base_seq < 0)
        return; /* a coordinator's batch (transactional offsets): no sequence */
    if (e->nbatches == PRODUCERS_BATCHES_KEPT) {
        memmove(&e->batches[0], &e->batches[1], sizeof(e->batches[0]) * (PRODUCERS_BATCHES_KEPT - 1));
        e->nbatches--;
    }
    e->batches[e->nbatches++] = (prod_batch){
        .first_seq = b->base_seq,
        .last_seq = producers_seq_add(b->base_seq, b->last_offset_delta),
        .first_offset = first_offset,
        .last_offset = last_offset,
        .max_ts = b->max_ts,
    };
}

int producers_expire(producers *t, int64_t now_ms, int64_t max_idle_ms)
{
    int removed = 0;
    for (size_t i = 0; i < t->cap;) {
        prod_entry *e = &t->slots[i];
        if (e->pid >= 0 && e->txn_first_offset < 0 && now_ms - e->last_ts >= max_idle_ms) {
            producers_remove(t, e->pid); /* may shift a later entry into slot i: look again */
            removed++;
            continue;
        }
        i++;
    }
    return removed;
}

/* ---- snapshots ---- */

#define SNAP_VERSION 1
#define SNAP_ENTRY_BYTES (8 + 2 + 4 + 8 + 4 + 8 + 4 + 8)
#define SNAP_HEAD_BYTES (2 + 4 + 4)

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = (v << 8) | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = (v << 8) | p[i]; return v; }

typedef struct enc_ctx {
    uint8_t *p;
} enc_ctx;

static void enc_one(void *arg, prod_entry *e)
{
    enc_ctx *c = arg;
    uint8_t *p = c->p;
    const prod_batch *last = e->nbatches > 0 ? &e->batches[e->nbatches - 1] : NULL;
    put64(p, (uint64_t)e->pid);
    put16(p + 8, (uint16_t)e->epoch);
    put32(p + 10, (uint32_t)(last ? last->last_seq : -1));
    put64(p + 14, (uint64_t)(last ? last->last_offset : -1));
    put32(p + 22, (uint32_t)(last ? (int32_t)(last->last_offset - last->first_offset) : 0));
    put64(p + 26, (uint64_t)e->last_ts);
    put32(p + 34, (uint32_t)e->coordinator_epoch);
    put64(p + 38, (uint64_t)e->txn_first_offset);
    c->p = p + SNAP_ENTRY_BYTES;
}

uint8_t *producers_snapshot_encode(producers *t, size_t *len)
{
    size_t n = (size_t)t->n;
    size_t total = SNAP_HEAD_BYTES + n * SNAP_ENTRY_BYTES;
    uint8_t *buf = malloc(total);
    if (!buf)
        return NULL;
    put16(buf, SNAP_VERSION);
    put32(buf + 6, (uint32_t)n);
    enc_ctx c = { buf + SNAP_HEAD_BYTES };
    producers_each(t, enc_one, &c);
    put32(buf + 2, crc32c(0, buf + 6, total - 6));
    *len = total;
    return buf;
}

int producers_snapshot_decode(producers *t, const uint8_t *buf, size_t len, char *why, size_t why_len)
{
    if (len < SNAP_HEAD_BYTES) {
        snprintf(why, why_len, "%zu bytes, shorter than a snapshot header", len);
        return -1;
    }
    if (get16(buf) != SNAP_VERSION) {
        snprintf(why, why_len, "snapshot version %u, expected %d", get16(buf), SNAP_VERSION);
        return -1;
    }
    uint32_t want = get32(buf + 2), got = crc32c(0, buf + 6, len - 6);
    if (want != got) {
        snprintf(why, why_len, "CRC mismatch (stored %08x, computed %08x)", want, got);
        return -1;
    }
    uint32_t n = get32(buf + 6);
    if ((size_t)n * SNAP_ENTRY_BYTES != len - SNAP_HEAD_BYTES) {
        snprintf(why, why_len, "%u entries do not fill %zu bytes", n, len);
        return -1;
    }
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->n = 0;
    const uint8_t *p = buf + SNAP_HEAD_BYTES;
    for (uint32_t i = 0; i < n; i++, p += SNAP_ENTRY_BYTES) {
        prod_entry *e = producers_put(t, (int64_t)get64(p));
        if (!e) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        e->epoch = (int16_t)get16(p + 8);
        int32_t last_seq = (int32_t)get32(p + 10);
        int64_t last_off = (int64_t)get64(p + 14);
        int32_t delta = (int32_t)get32(p + 22);
        e->last_ts = (int64_t)get64(p + 26);
        e->coordinator_epoch = (int32_t)get32(p + 34);
        e->txn_first_offset = (int64_t)get64(p + 38);
        e->nbatches = 0;
        if (last_seq >= 0 && last_off >= 0) {
            e->batches[0] = (prod_batch){
                .first_seq = last_seq - delta >= 0 ? last_seq - delta : 0,
                .last_seq = last_seq,
                .first_offset = last_off - delta,
                .last_offset = last_off,
                .max_ts = e->last_ts,
            };
            e->nbatches = 1;
        }
    }
    return 0;
}

static void snap_path(char *out, size_t len, const char *dir, int64_t offset, const char *suffix)
{
    snprintf(out, len, "%s/%020" PRId64 ".snapshot%s", dir, offset, suffix);
}

int producers_snapshot_write(producers *t, const char *dir, int64_t offset, char *why, size_t why_len)
{
    size_t len;
    uint8_t *buf = producers_snapshot_encode(t, &len);
    if (!buf) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    char tmp[4096], path[4096];
    snap_path(tmp, sizeof tmp, dir, offset, ".tmp");
    snap_path(path, sizeof path, dir, offset, "");
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(why, why_len, "open %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, why_len, "write %s: %s", tmp, w < 0 ? strerror(errno) : "short write");
            close(fd);
            unlink(tmp);
            goto out;
        }
        done += (size_t)w;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(why, why_len, "rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* "<20 digits>.snapshot" -> offset, or -1. */
static int64_t snap_name_offset(const char *name)
{
    size_t n = strlen(name);
    if (n != 20 + 9 || strcmp(name + 20, ".snapshot") != 0)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

int producers_snapshot_list(const char *dir, int64_t **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0, cap = 0;
    int64_t *v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0 && strstr(de->d_name, ".snapshot")) {
            unlinkat(dirfd(d), de->d_name, 0); /* a write cut short */
            continue;
        }
        int64_t off = snap_name_offset(de->d_name);
        if (off < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *nv = realloc(v, sizeof(*v) * (size_t)cap);
            if (!nv) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
        }
        v[n++] = off;
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    *out = v;
    return n;
}

int producers_snapshot_read(producers *t, const char *dir, int64_t offset, char *why, size_t why_len)
{
    char path[4096];
    snap_path(path, sizeof path, dir, offset, "");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "open: %s", strerror(errno));
        return -1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0 || size > (64 << 20)) {
        snprintf(why, why_len, "size %lld is not a snapshot's", (long long)size);
        close(fd);
        return -1;
    }
    uint8_t *buf = malloc((size_t)size + 1);
    ssize_t r = buf ? pread(fd, buf, (size_t)size, 0) : -1;
    close(fd);
    int rc = -1;
    if (r != (ssize_t)size)
        snprintf(why, why_len, "read: %s", r < 0 ? strerror(errno) : "short read");
    else
        rc = producers_snapshot_decode(t, buf, (size_t)size, why, why_len);
    free(buf);
    return rc;
}

void producers_snapshot_delete(const char *dir, int64_t below, int64_t above)
{
    int64_t *v;
    int n = producers_snapshot_list(dir, &v);
    for (int i = 0; i < n; i++) {
        if ((below >= 0 && v[i] < below) || (above >= 0 && v[i] > above)) {
            char path[4096];
            snap_path(path, sizeof path, dir, v[i], "");
            unlink(path);
        }
    }
    free(v);
}
