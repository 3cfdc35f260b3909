/*
 * partition.c - see partition.h.
 *
 * The sequence check runs against working copies of the producers' entries
 * (a request may carry several batches of one producer: each is checked
 * against the state the earlier ones leave), and the copies go into the
 * table only once the write succeeded. So a refused or failed append leaves
 * the state as it was, and the roll hook, which runs inside plog_append
 * before the bytes are written, snapshots the state as of the roll offset.
 */
#include "cluster/partition.h"

#include "base/clock.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "cluster/epochs.h"
#include "broker/flusher.h"
#include "kafka_msgs.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

static const char *part_topic(const partition *p)
{
    return p->name;
}

static prod_batch_in batch_in(const uint8_t *hdr)
{
    batch_info bi;
    batch_peek(hdr, &bi);
    return (prod_batch_in){
        .pid = bi.producer_id,
        .epoch = bi.producer_epoch,
        .base_seq = bi.base_sequence,
        .last_offset_delta = bi.last_offset_delta,
        .max_ts = bi.max_timestamp,
        .transactional = (bi.attributes & BATCH_ATTR_TRANSACTIONAL) != 0,
        .control = (bi.attributes & BATCH_ATTR_CONTROL) != 0,
    };
}

/* ---- snapshots ---- */

static void snapshot_locked(partition *p, int64_t offset)
{
    char why[256];
    if (producers_snapshot_write(p->producers, plog_dir(p->log), offset, why, sizeof why) != 0) {
        static glog_limit lim = GLOG_LIMIT_INIT;
        glog_limited(&lim, GLOG_WARN, "log", "%s-%d: producer-state snapshot at %" PRId64 " not written: %s",
                     part_topic(p), p->index, offset, why);
        return;
    }
    p->snapshot_offset = offset;
}

/* plog's roll hook: under the partition's lock (the append holds it). */
static void on_roll(void *arg, int64_t base)
{
    snapshot_locked(arg, base);
}

/* ---- transactions: open ones (the last stable offset), aborted ones ---- */

static void unstable_recompute_locked(partition *p)
{
    int64_t m = -1;
    for (int i = 0; i < p->nopen; i++)
        if (m < 0 || p->open_txns[i].first < m)
            m = p->open_txns[i].first;
    atomic_store(&p->first_unstable, m);
}

static int open_add_locked(partition *p, int64_t pid, int64_t first)
{
    if (p->nopen == p->capopen) {
        int cap = p->capopen ? p->capopen * 2 : 4;
        part_open_txn *v = realloc(p->open_txns, sizeof(*v) * (size_t)cap);
        if (!v)
            return -1;
        p->open_txns = v;
        p->capopen = cap;
    }
    p->open_txns[p->nopen++] = (part_open_txn){ pid, first };
    return 0;
}

static void open_remove_locked(partition *p, int64_t pid)
{
    for (int i = 0; i < p->nopen; i++) {
        if (p->open_txns[i].pid == pid) {
            p->open_txns[i] = p->open_txns[--p->nopen];
            return;
        }
    }
}

/* Insert keeping the order by last offset; false when already there. */
static bool aborted_add_locked(partition *p, const part_aborted *a)
{
    int i = p->naborted;
    while (i > 0 && p->aborted[i - 1].last > a->last)
        i--;
    if (i > 0 && p->aborted[i - 1].last == a->last && p->aborted[i - 1].pid == a->pid)
        return false;
    if (p->naborted == p->capaborted) {
        int cap = p->capaborted ? p->capaborted * 2 : 8;
        part_aborted *v = realloc(p->aborted, sizeof(*v) * (size_t)cap);
        if (!v)
            return false;
        p->aborted = v;
        p->capaborted = cap;
    }
    memmove(&p->aborted[i + 1], &p->aborted[i], sizeof(*a) * (size_t)(p->naborted - i));
    p->aborted[i] = *a;
    p->naborted++;
    return true;
}

#define TXNINDEX_ENTRY_BYTES 34

static void put_be64(uint8_t *b, int64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

static void txnindex_encode(uint8_t *b, const part_aborted *a)
{
    b[0] = 0;
    b[1] = 0; /* version 0 */
    put_be64(b + 2, a->pid);
    put_be64(b + 10, a->first);
    put_be64(b + 18, a->last);
    put_be64(b + 26, a->lso);
}

static void txnindex_path(char *out, size_t len, const char *dir, int64_t base)
{
    snprintf(out, len, "%s/%020" PRId64 ".txnindex", dir, base);
}

/* Kafka keeps an aborted transaction in the .txnindex of the segment
 * holding its marker. Not fsynced: the recovery replays the log after the
 * latest producer snapshot, which finds the markers of the active segment. */
static void txnindex_append_locked(partition *p, const part_aborted *a)
{
    char path[4096];
    txnindex_path(path, sizeof path, plog_dir(p->log), plog_segment_base(p->log, a->last));
    uint8_t b[TXNINDEX_ENTRY_BYTES];
    txnindex_encode(b, a);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b, sizeof b) != (ssize_t)sizeof b) {
        static glog_limit lim = GLOG_LIMIT_INIT;
        glog_limited(&lim, GLOG_WARN, "log", "%s-%d: writing %s failed: %s", part_topic(p), p->index, path,
                     strerror(errno));
    }
    if (fd >= 0)
        close(fd);
}

/* Read every .txnindex of the log, keeping what lies in [start, end);
 * a file that held entries past the end (the log was cut back) is
 * rewritten without them. */
static void txnindex_load(partition *p)
{
    const char *dir = plog_dir(p->log);
    int64_t start = plog_start_offset(p->log), end = plog_end_offset(p->log);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n != 20 + 9 || strcmp(de->d_name + 20, ".txnindex") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        off_t size = lseek(fd, 0, SEEK_END);
        uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
        ssize_t r = buf ? pread(fd, buf, (size_t)size, 0) : 0;
        close(fd);
        int kept = 0, dropped = 0;
        for (ssize_t off = 0; buf && off + TXNINDEX_ENTRY_BYTES <= r; off += TXNINDEX_ENTRY_BYTES) {
            const uint8_t *b = buf + off;
            part_aborted a = { get_be64(b + 2), get_be64(b + 10), get_be64(b + 18), get_be64(b + 26) };
            if (b[0] != 0 || b[1] != 0 || a.last < start || a.last >= end) {
                dropped++;
                continue;
            }
            aborted_add_locked(p, &a);
            /* Reuse the buffer for the rewrite: entries kept so far. */
            memmove(buf + (size_t)kept * TXNINDEX_ENTRY_BYTES, b, TXNINDEX_ENTRY_BYTES);
            kept++;
        }
        if (dropped > 0 || (r > 0 && r % TXNINDEX_ENTRY_BYTES != 0)) {
            char tmp[4200];
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (w >= 0 && write(w, buf, (size_t)kept * TXNINDEX_ENTRY_BYTES) == (ssize_t)((size_t)kept * TXNINDEX_ENTRY_BYTES) &&
                close(w) == 0)
                rename(tmp, path);
            else if (w >= 0)
                close(w);
        }
        free(buf);
    }
    closedir(d);
}

/* A marker read back from the log (recovery): end pid's transaction. */
static void replay_marker_locked(partition *p, int64_t pid, int16_t epoch, int type, int64_t offset, int64_t ts)
{
    prod_entry *e = producers_put(p->producers, pid);
    if (!e)
        return;
    if (epoch != e->epoch) {
        e->nbatches = 0;
        e->epoch = epoch;
    }
    e->last_ts = ts;
    if (e->txn_first_offset >= 0 && type == BATCH_CONTROL_ABORT) {
        part_aborted a = { pid, e->txn_first_offset, offset, offset + 1 };
        if (aborted_add_locked(p, &a))
            txnindex_append_locked(p, &a);
    }
    e->txn_first_offset = -1;
}

static void open_rebuild_one(void *arg, prod_entry *e)
{
    partition *p = arg;
    if (e->txn_first_offset >= 0)
        open_add_locked(p, e->pid, e->txn_first_offset);
}

/* Rebuild producer state from the batch headers in [from, end). */
static int replay_headers(partition *p, int64_t from, int64_t end)
{
    int64_t off = from;
    while (off < end) {
        plog_slice s;
        if (plog_read(p->log, off, 8 << 20, true, &s) != LOG_OK || s.len == 0) {
            log_segment_unref(s.seg);
            return -1;
        }
        int64_t pos = s.pos, stop = s.pos + s.len;
        while (pos + BATCH_HEADER_BYTES <= stop) {
            uint8_t hdr[BATCH_HEADER_BYTES];
            if (pread(s.fd, hdr, sizeof hdr, pos) != (ssize_t)sizeof hdr)
                break;
            int64_t base = batch_base_offset(hdr);
            prod_batch_in b = batch_in(hdr);
            if (b.control && b.pid >= 0 && base >= off) {
                uint8_t cb[160];
                size_t want = BATCH_LOG_OVERHEAD + (size_t)batch_length(hdr);
                if (want > sizeof cb)
                    want = sizeof cb;
                if (pread(s.fd, cb, want, pos) == (ssize_t)want) {
                    int type = batch_control_type(cb, want);
                    if (type >= 0)
                        replay_marker_locked(p, b.pid, b.epoch, type, base, b.max_ts);
                }
            } else if (b.pid >= 0 && base >= off) {
                prod_entry *e = producers_put(p->producers, b.pid);
                if (!e) {
                    log_segment_unref(s.seg);
                    return -1;
                }
                producers_apply(e, &b, base, base + b.last_offset_delta);
            }
            off = base + b.last_offset_delta + 1;
            pos += BATCH_LOG_OVERHEAD + batch_length(hdr);
        }
        log_segment_unref(s.seg);
        if (pos < stop)
            return -1;
    }
    return 0;
}

static void load_producers(partition *p, bool clean, char *why, size_t why_len)
{
    const char *dir = plog_dir(p->log);
    int64_t end = plog_end_offset(p->log);
    producers_snapshot_delete(dir, -1, end); /* beyond a log cut back by recovery */
    int64_t *snaps;
    int n = producers_snapshot_list(dir, &snaps);
    int64_t from = -1;
    for (int i = n - 1; i >= 0 && from < 0; i--) {
        char bad[200];
        if (producers_snapshot_read(p->producers, dir, snaps[i], bad, sizeof bad) == 0) {
            from = snaps[i];
        } else {
            snprintf(why, why_len, "producer-state snapshot %020" PRId64 ".snapshot skipped (%s)", snaps[i], bad);
            producers_free(p->producers); /* whatever a partial read left */
            p->producers = producers_new();
            char path[4096];
            snprintf(path, sizeof path, "%s/%020" PRId64 ".snapshot", dir, snaps[i]);
            unlink(path);
        }
    }
    free(snaps);
    if (!p->producers)
        return;
    if (from < 0) {
        /* No snapshot: the log never rolled since producer state existed,
         * or it was written before Gregor kept any. After a clean shutdown
         * there was nothing to keep (one is written whenever there is);
         * otherwise read the headers from the start. */
        if (clean)
            return;
        from = plog_start_offset(p->log);
    } else {
        p->snapshot_offset = from;
    }
    if (from < plog_start_offset(p->log))
        from = plog_start_offset(p->log);
    if (from < end && replay_headers(p, from, end) != 0)
        snprintf(why, why_len, "producer state rebuilt only up to a batch that could not be read");
}

static void load_state(partition *p, bool clean, char *why, size_t why_len)
{
    /* An empty log has no producer state to load (snapshots past its end
     * would be deleted): no directory scans for the common idle partition. */
    if (plog_end_offset(p->log) == 0 && plog_start_offset(p->log) == 0)
        return;
    txnindex_load(p);
    load_producers(p, clean, why, why_len);
    if (p->producers)
        producers_each(p->producers, open_rebuild_one, p);
    unstable_recompute_locked(p);
}

partition *partition_open(struct topic *tp, const char *name, int32_t index, plog *log,
                          int32_t leader_epoch, const partition_env *env, bool clean, char *why,
                          size_t why_len)
{
    if (why_len)
        why[0] = 0;
    partition *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->topic = tp;
    p->name = name;
    p->index = index;
    p->log = log;
    p->leader_epoch = leader_epoch;
    p->env = env;
    p->snapshot_offset = -1;
    atomic_init(&p->first_unstable, -1);
    atomic_init(&p->hw, -1);
    atomic_init(&p->clean_offset, -1);
    atomic_init(&p->clean_horizon_ms, -1);
    atomic_init(&p->cleaning, false);
    pthread_mutex_init(&p->lock, NULL);
    if (tp) {
        /* The metadata log has no producers. */
        p->producers = producers_new();
        if (!p->producers) {
            pthread_mutex_destroy(&p->lock);
            free(p);
            return NULL;
        }
        load_state(p, clean, why, why_len);
        plog_set_roll_hook(log, on_roll, p);
    }
    return p;
}

void partition_free(partition *p)
{
    if (!p)
        return;
    /* The log is not touched: the log manager may have closed it already
     * (shutdown, a deleted topic), and only this partition appends to it,
     * so its roll hook cannot run again. */
    while (p->hw_waiters) { /* none left by a clean stop; dropped otherwise */
        part_hw_waiter *w = p->hw_waiters;
        p->hw_waiters = *(part_hw_waiter **)w;
        free(w);
    }
    epochs_free(p->epochs);
    producers_free(p->producers);
    free(p->open_txns);
    free(p->aborted);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int partition_checkpoint(partition *p)
{
    if (!p->producers)
        return 0;
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    int64_t end = plog_end_offset(p->log);
    /* Nothing to keep and nothing older to outdate: no file (most topics
     * never see an idempotent producer). */
    if ((producers_count(p->producers) > 0 || p->snapshot_offset >= 0) && p->snapshot_offset != end) {
        snapshot_locked(p, end);
        rc = p->snapshot_offset == end ? 0 : -1;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* ---- append ---- */

typedef struct work {
    prod_entry e;
    bool known;          /* e was in the table (else it is new) */
} work;

#define WORK_INLINE 4

static work *work_find(work *w, int n, int64_t pid)
{
    for (int i = 0; i < n; i++)
        if (w[i].e.pid == pid)
            return &w[i];
    return NULL;
}

static part_hw_waiter *hw_after_append_locked(partition *p);
static void hw_waiters_post(part_hw_waiter *w);
static void epochs_appended_locked(partition *p, const uint8_t *buf, size_t len, int64_t first, int32_t epoch);
static void epochs_path(partition *p, char *buf, size_t len);
static void epochs_save_locked(partition *p);

void partition_append(partition *p, uint8_t *buf, size_t len, int64_t now_ms, int origin,
                      part_result *out)
{
    out->log_rc = LOG_OK;
    out->error = 0;
    out->why[0] = 0;
    out->duplicate = false;
    out->log_start = -1;
    out->first = out->last = -1;
    work inline_w[WORK_INLINE];
    work *w = inline_w;
    int nw = 0, capw = WORK_INLINE;

    pthread_mutex_lock(&p->lock);
    if (p->producers) {
        int64_t next = plog_end_offset(p->log);
        for (size_t off = 0; off + BATCH_HEADER_BYTES <= len; off += BATCH_LOG_OVERHEAD + (size_t)batch_length(buf + off)) {
            prod_batch_in b = batch_in(buf + off);
            if (b.pid < 0) {
                next += (int64_t)b.last_offset_delta + 1;
                continue;
            }
            work *x = work_find(w, nw, b.pid);
            if (!x) {
                if (nw == capw) {
                    work *nwv = malloc(sizeof(*nwv) * (size_t)capw * 2);
                    if (!nwv) {
                        out->log_rc = LOG_ERR_NOMEM;
                        goto unlock;
                    }
                    memcpy(nwv, w, sizeof(*w) * (size_t)nw);
                    if (w != inline_w)
                        free(w);
                    w = nwv;
                    capw *= 2;
                }
                x = &w[nw++];
                const prod_entry *cur = producers_get(p->producers, b.pid);
                x->known = cur != NULL;
                if (cur) {
                    x->e = *cur;
                } else {
                    memset(&x->e, 0, sizeof(x->e));
                    x->e.pid = b.pid;
                    x->e.epoch = -1;
                    x->e.coordinator_epoch = -1;
                    x->e.txn_first_offset = -1;
                    x->e.last_ts = -1;
                }
            }
            const prod_batch *dup = NULL;
            int16_t err = 0;
            int v = PROD_APPEND;
            if (origin == PART_ORIGIN_COORDINATOR) {
                if (x->e.epoch >= 0 && b.epoch < x->e.epoch) {
                    snprintf(out->why, sizeof out->why, "epoch %d of producer %" PRId64 " is older than %d",
                             b.epoch, b.pid, x->e.epoch);
                    err = KERR_INVALID_PRODUCER_EPOCH;
                    v = PROD_REFUSE;
                }
            } else {
                v = producers_check(x->known || x->e.epoch >= 0 ? &x->e : NULL, &b, next, &err, &dup,
                                    out->why, sizeof(out->why));
            }
            if (v == PROD_DUPLICATE) {
                /* Kafka answers the whole append with the duplicate's offsets. */
                out->duplicate = true;
                out->first = dup->first_offset;
                out->last = dup->last_offset;
                out->log_start = plog_start_offset(p->log);
                goto unlock;
            }
            if (v == PROD_REFUSE) {
                out->error = err;
                goto unlock;
            }
            if (x->e.txn_first_offset >= 0 && !b.transactional) {
                snprintf(out->why, sizeof out->why,
                         "Expected transactional write from producer %" PRId64 " at offset %" PRId64,
                         b.pid, next);
                out->error = KERR_INVALID_TXN_STATE;
                goto unlock;
            }
            producers_apply(&x->e, &b, next, next + b.last_offset_delta);
            next += (int64_t)b.last_offset_delta + 1;
        }
    }
    /* Transactions these batches open: the last stable offset stops at
     * them before their bytes can be read. */
    int opened = 0;
    for (int i = 0; i < nw; i++) {
        const prod_entry *cur = producers_get(p->producers, w[i].e.pid);
        if (w[i].e.txn_first_offset >= 0 && (!cur || cur->txn_first_offset < 0)) {
            open_add_locked(p, w[i].e.pid, w[i].e.txn_first_offset);
            opened++;
        }
    }
    if (opened)
        unstable_recompute_locked(p);
    int64_t first = -1, last = -1;
    out->log_rc = plog_append(p->log, buf, len, p->leader_epoch, now_ms, &first, &last);
    if (out->log_rc == LOG_OK) {
        out->first = first;
        out->last = last;
        epochs_appended_locked(p, buf, len, first, p->leader_epoch);
        for (int i = 0; i < nw; i++) {
            prod_entry *e = producers_put(p->producers, w[i].e.pid);
            if (e)
                *e = w[i].e;
        }
    } else if (opened) {
        for (int i = 0; i < nw; i++) {
            const prod_entry *cur = producers_get(p->producers, w[i].e.pid);
            if (w[i].e.txn_first_offset >= 0 && (!cur || cur->txn_first_offset < 0))
                open_remove_locked(p, w[i].e.pid);
        }
        unstable_recompute_locked(p);
    }
    out->log_start = plog_start_offset(p->log);
unlock:;
    part_hw_waiter *ready = out->log_rc == LOG_OK && !out->error && !out->duplicate ? hw_after_append_locked(p) : NULL;
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(ready);
    if (w != inline_w)
        free(w);
    if (out->log_rc == LOG_OK && !out->error && !out->duplicate && p->env && p->env->appended)
        p->env->appended(p->env->ctx, p);
}

void partition_append_follower(partition *p, uint8_t *buf, size_t len, int64_t now_ms, part_result *out)
{
    out->log_rc = LOG_OK;
    out->error = 0;
    out->why[0] = 0;
    out->duplicate = false;
    out->first = out->last = -1;
    pthread_mutex_lock(&p->lock);
    out->log_rc = plog_append_as_follower(p->log, buf, len, now_ms, &out->first, &out->last);
    out->log_start = plog_start_offset(p->log);
    if (out->log_rc == LOG_OK)
        epochs_appended_locked(p, buf, len, out->first, -1);
    if (out->log_rc == LOG_OK && p->producers) {
        /* The producer state follows the leader's batches (idempotence and
         * open transactions carry over when this replica leads): read back
         * from the page cache as recovery reads them. */
        if (replay_headers(p, out->first, out->last + 1) != 0)
            glog(GLOG_WARN, "log", "%s-%d: producer state not updated from offsets %" PRId64 "..%" PRId64,
                 part_topic(p), p->index, out->first, out->last);
        p->nopen = 0;
        producers_each(p->producers, open_rebuild_one, p);
        unstable_recompute_locked(p);
    }
    pthread_mutex_unlock(&p->lock);
}

int64_t partition_high_watermark(partition *p)
{
    int64_t hw = atomic_load(&p->hw);
    return hw < 0 ? plog_end_offset(p->log) : hw;
}

/* ---- replication ---- */

struct part_hw_waiter {
    part_hw_waiter *next;      /* first: partition_free walks the list by it */
    int64_t offset, deadline_ms;
    reactor *r;
    void (*fn)(reactor *r, void *arg, int rc);
    void *arg;
    int rc;
};

static void hw_waiter_fire(reactor *r, void *arg)
{
    part_hw_waiter *w = arg;
    w->fn(r, w->arg, w->rc);
    free(w);
}

/* Take the waiters to answer (HW passed, or all with rc when all); the
 * caller posts them after the unlock. Under lock. */
static part_hw_waiter *hw_waiters_take_locked(partition *p, bool all, int rc, int64_t now_ms)
{
    part_hw_waiter *ready = NULL, **pp = &p->hw_waiters;
    int64_t hw = atomic_load(&p->hw);
    while (*pp) {
        part_hw_waiter *w = *pp;
        int wrc = all ? rc : w->offset <= hw ? LOG_OK : now_ms >= w->deadline_ms ? PART_WAIT_TIMEOUT : 1;
        if (wrc == 1) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->rc = wrc;
        w->next = ready;
        ready = w;
    }
    return ready;
}

static void hw_waiters_post(part_hw_waiter *w)
{
    while (w) {
        part_hw_waiter *next = w->next;
        if (w->r)
            reactor_post(w->r, hw_waiter_fire, w);
        else /* no reactor: here, on the thread that moved the HW (no lock held) */
            hw_waiter_fire(NULL, w);
        w = next;
    }
}

static part_follower *follower_find(partition *p, int32_t id)
{
    for (int i = 0; i < p->nfollowers; i++)
        if (p->followers[i].id == id)
            return &p->followers[i];
    return NULL;
}

/* The leader's HW: the smallest log end in the ISR; it only moves up.
 * true when it moved. Under lock. */
static bool hw_update_locked(partition *p);

/* After an append (under lock): a leader alone in its ISR moves the HW. */
static part_hw_waiter *hw_after_append_locked(partition *p)
{
    return hw_update_locked(p) ? hw_waiters_take_locked(p, false, 0, clock_mono_ms()) : NULL;
}

static bool hw_update_locked(partition *p)
{
    if (!p->replicated || !p->leader)
        return false;
    int64_t hw = plog_end_offset(p->log);
    for (int i = 0; i < p->nisr + p->nisr_adding; i++) {
        int32_t id = i < p->nisr ? p->isr[i] : p->isr_adding[i - p->nisr];
        if (id == p->self)
            continue;
        const part_follower *f = follower_find(p, id);
        int64_t leo = f ? f->leo : -1;
        if (leo < hw)
            hw = leo;
    }
    if (hw <= atomic_load(&p->hw))
        return false;
    atomic_store(&p->hw, hw);
    return true;
}

void partition_set_replicas(partition *p, int32_t self, const int32_t *replicas, int nreplicas, const int32_t *isr,
                            int nisr, bool leads)
{
    part_hw_waiter *lost = NULL;
    pthread_mutex_lock(&p->lock);
    bool was_leader = p->leader;
    if (leads && !was_leader && p->epochs_built && /* Kafka: a new leader's epoch starts at its log end */
        epochs_assign(p->epochs, p->leader_epoch, plog_end_offset(p->log)) > 0)
        epochs_save_locked(p);
    p->self = self;
    p->replicated = nreplicas > 1;
    p->leader = leads;
    p->nisr = 0;
    for (int i = 0; i < nisr && p->nisr < PART_REPLICAS_MAX; i++)
        p->isr[p->nisr++] = isr[i];
    p->nisr_adding = 0; /* the image decided */
    part_follower keep[PART_REPLICAS_MAX];
    int nkeep = 0;
    for (int i = 0; i < nreplicas && nkeep < PART_REPLICAS_MAX; i++) {
        if (replicas[i] == self)
            continue;
        const part_follower *old = follower_find(p, replicas[i]);
        keep[nkeep++] = old && was_leader && leads ? *old
                                                   : (part_follower){ .id = replicas[i], .leo = -1,
                                                                      .last_fetch_leader_end = -1 };
    }
    memcpy(p->followers, keep, sizeof(keep[0]) * (size_t)nkeep);
    p->nfollowers = nkeep;
    if (p->replicated && atomic_load(&p->hw) < 0)
        atomic_store(&p->hw, 0); /* not checkpointed yet: it rises as the ISR's log ends are learned */
    if (!p->replicated)
        atomic_store(&p->hw, -1);
    bool moved = hw_update_locked(p);
    if (was_leader && !leads)
        lost = hw_waiters_take_locked(p, true, PART_WAIT_NOT_LEADER, 0);
    part_hw_waiter *ready = moved ? hw_waiters_take_locked(p, false, 0, clock_mono_ms()) : NULL;
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(lost);
    hw_waiters_post(ready);
    if (moved && p->env && p->env->appended)
        p->env->appended(p->env->ctx, p);
}

int partition_isr_size(partition *p, int *replicas)
{
    pthread_mutex_lock(&p->lock);
    int n = p->replicated ? p->nisr : 1;
    if (replicas)
        *replicas = p->replicated ? p->nfollowers + 1 : 1;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void partition_fail_hw_waiters(partition *p)
{
    pthread_mutex_lock(&p->lock);
    part_hw_waiter *lost = hw_waiters_take_locked(p, true, PART_WAIT_NOT_LEADER, 0);
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(lost);
}


void partition_follower_fetched(partition *p, int32_t id, int64_t offset, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    part_follower *f = p->leader ? follower_find(p, id) : NULL;
    bool moved = false;
    part_hw_waiter *ready = NULL;
    if (f) {
        int64_t end = plog_end_offset(p->log);
        f->leo = offset;
        /* Kafka's rule: caught up at this fetch when it has the leader's
         * log end; else at the previous fetch when it now has what the
         * leader had then. */
        if (offset >= end)
            f->caught_up_ms = now_ms;
        else if (f->last_fetch_leader_end >= 0 && offset >= f->last_fetch_leader_end)
            f->caught_up_ms = f->last_fetch_ms;
        f->last_fetch_ms = now_ms;
        f->last_fetch_leader_end = end;
        moved = hw_update_locked(p);
        if (moved)
            ready = hw_waiters_take_locked(p, false, 0, now_ms);
    }
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(ready);
    if (moved && p->env && p->env->appended)
        p->env->appended(p->env->ctx, p);
}

void partition_follower_truncated(partition *p)
{
    pthread_mutex_lock(&p->lock);
    p->epochs_built = false; /* rebuilt from the headers when next asked */
    char path[4200];
    epochs_path(p, path, sizeof path);
    unlink(path);
    int64_t end = plog_end_offset(p->log);
    if (atomic_load(&p->hw) > end)
        atomic_store(&p->hw, end);
    if (p->producers) {
        /* The producer state follows the log back: from the snapshot at or
         * before the new end (later ones go) and the batches after it. A
         * sequence kept from a cut batch would answer the producer's retry
         * of it as a duplicate - acknowledged, and gone. */
        producers_free(p->producers);
        p->producers = producers_new();
        p->snapshot_offset = -1;
        char why[256] = "";
        if (p->producers)
            load_producers(p, false, why, sizeof why);
        if (why[0])
            glog(GLOG_WARN, "log", "%s-%d: after truncation: %s", part_topic(p), p->index, why);
        p->nopen = 0;
        if (p->producers)
            producers_each(p->producers, open_rebuild_one, p);
        unstable_recompute_locked(p);
    }
    pthread_mutex_unlock(&p->lock);
}

void partition_follower_hw(partition *p, int64_t leader_hw)
{
    pthread_mutex_lock(&p->lock);
    if (p->replicated && !p->leader) {
        int64_t end = plog_end_offset(p->log);
        int64_t hw = leader_hw < end ? leader_hw : end;
        if (hw > atomic_load(&p->hw))
            atomic_store(&p->hw, hw);
    }
    pthread_mutex_unlock(&p->lock);
}

void partition_wait_hw(partition *p, int64_t offset, int64_t deadline_ms, reactor *r,
                       void (*fn)(reactor *r, void *arg, int rc), void *arg)
{
    part_hw_waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        fn(r, arg, LOG_ERR_NOMEM);
        return;
    }
    *w = (part_hw_waiter){ .offset = offset, .deadline_ms = deadline_ms, .r = r, .fn = fn, .arg = arg };
    pthread_mutex_lock(&p->lock);
    int rc = 1;
    if (!p->leader || !p->replicated)
        rc = p->replicated ? PART_WAIT_NOT_LEADER : LOG_OK;
    else if (offset <= partition_high_watermark(p))
        rc = LOG_OK;
    if (rc == 1) {
        w->next = p->hw_waiters;
        p->hw_waiters = w;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != 1) {
        w->rc = rc;
        if (r)
            reactor_post(r, hw_waiter_fire, w);
        else
            hw_waiter_fire(NULL, w);
    }
}

bool partition_isr_check(partition *p, int64_t now_ms, int64_t lag_max_ms, const int32_t *ineligible,
                         int nineligible, int32_t *out, int *nout)
{
    pthread_mutex_lock(&p->lock);
    part_hw_waiter *late = hw_waiters_take_locked(p, false, 0, now_ms);
    bool differs = false;
    *nout = 0;
    if (p->replicated && p->leader) {
        int64_t hw = atomic_load(&p->hw);
        out[(*nout)++] = p->self;
        for (int i = 0; i < p->nfollowers; i++) {
            const part_follower *f = &p->followers[i];
            bool member = false;
            for (int k = 0; k < p->nisr; k++)
                member |= p->isr[k] == f->id;
            bool in = member ? f->caught_up_ms > 0 && now_ms - f->caught_up_ms <= lag_max_ms
                             : f->leo >= 0 && f->leo >= hw && now_ms - f->caught_up_ms <= lag_max_ms;
            for (int k = 0; !member && in && k < nineligible; k++)
                in = ineligible[k] != f->id;
            /* a member never heard of since this broker leads: give it the
             * lag time from the start of the leadership */
            if (member && f->caught_up_ms == 0) {
                ((part_follower *)f)->caught_up_ms = now_ms;
                in = true;
            }
            if (in)
                out[(*nout)++] = f->id;
            if (in != member)
                differs = true;
        }
    }
    /* Those about to be asked for count for the high watermark from now
     * until the image answers (partition_set_replicas) or the next check. */
    p->nisr_adding = 0;
    for (int i = 0; i < *nout; i++) {
        bool member = false;
        for (int k = 0; k < p->nisr; k++)
            member |= p->isr[k] == out[i];
        if (!member && p->nisr_adding < PART_REPLICAS_MAX)
            p->isr_adding[p->nisr_adding++] = out[i];
    }
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(late);
    return differs;
}

int64_t partition_last_stable_offset(partition *p)
{
    int64_t hw = partition_high_watermark(p);
    int64_t u = atomic_load(&p->first_unstable);
    return u >= 0 && u < hw ? u : hw;
}

void partition_write_marker(partition *p, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
                            bool commit, int16_t tv, int64_t now_ms, part_result *out)
{
    out->log_rc = LOG_OK;
    out->error = 0;
    out->why[0] = 0;
    out->duplicate = false;
    out->first = out->last = out->log_start = -1;
    uint8_t key[4] = { 0, 0, 0, commit ? BATCH_CONTROL_COMMIT : BATCH_CONTROL_ABORT };
    uint8_t val[6] = { 0, 0, (uint8_t)((uint32_t)coordinator_epoch >> 24), (uint8_t)((uint32_t)coordinator_epoch >> 16),
                       (uint8_t)((uint32_t)coordinator_epoch >> 8), (uint8_t)coordinator_epoch };
    kp_writer w;
    kp_writer_init(&w);
    batch_builder bb;
    batch_build_begin(&bb, &w, now_ms);
    batch_build_add(&bb, now_ms, key, sizeof key, val, sizeof val);
    batch_build_producer(&bb, pid, epoch, -1, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL);
    size_t len = batch_build_end(&bb);
    if (len == 0 || !p->producers) {
        out->log_rc = LOG_ERR_NOMEM;
        kp_writer_deinit(&w);
        return;
    }
    pthread_mutex_lock(&p->lock);
    prod_entry *e = producers_get(p->producers, pid);
    if (e && (epoch < e->epoch || (tv >= 2 && epoch == e->epoch && e->txn_first_offset >= 0 && epoch != INT16_MAX))) {
        snprintf(out->why, sizeof out->why, "marker epoch %d of producer %" PRId64 " is %s its epoch %d (TV%d)",
                 epoch, pid, epoch < e->epoch ? "older than" : "the same as, with its transaction open,", e->epoch,
                 tv);
        out->error = KERR_INVALID_PRODUCER_EPOCH;
    } else if (e && coordinator_epoch < e->coordinator_epoch) {
        snprintf(out->why, sizeof out->why, "coordinator epoch %d is older than %d, of the last marker of producer %" PRId64,
                 coordinator_epoch, e->coordinator_epoch, pid);
        out->error = KERR_TRANSACTION_COORDINATOR_FENCED;
    } else {
        int64_t first, last;
        out->log_rc = plog_append(p->log, w.buf, len, p->leader_epoch, now_ms, &first, &last);
        if (out->log_rc == LOG_OK) {
            out->first = first;
            out->last = last;
            epochs_appended_locked(p, w.buf, len, first, p->leader_epoch);
            e = producers_put(p->producers, pid);
            if (e) {
                if (epoch != e->epoch) {
                    e->nbatches = 0;
                    e->epoch = epoch;
                }
                e->coordinator_epoch = coordinator_epoch;
                e->last_ts = now_ms;
                int64_t txn_first = e->txn_first_offset;
                e->txn_first_offset = -1;
                if (txn_first >= 0) {
                    open_remove_locked(p, pid);
                    unstable_recompute_locked(p);
                    if (!commit) {
                        int64_t u = atomic_load(&p->first_unstable);
                        part_aborted a = { pid, txn_first, last, u >= 0 ? u : last + 1 };
                        if (aborted_add_locked(p, &a))
                            txnindex_append_locked(p, &a);
                    }
                }
            }
        }
    }
    out->log_start = plog_start_offset(p->log);
    part_hw_waiter *ready = out->log_rc == LOG_OK && !out->error ? hw_after_append_locked(p) : NULL;
    pthread_mutex_unlock(&p->lock);
    hw_waiters_post(ready);
    kp_writer_deinit(&w);
    if (out->log_rc == LOG_OK && !out->error && p->env && p->env->appended)
        p->env->appended(p->env->ctx, p);
}

void partition_aborted_forget(partition *p, int64_t pid, int64_t marker)
{
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->naborted; i++)
        if (p->aborted[i].pid == pid && p->aborted[i].last == marker) {
            memmove(&p->aborted[i], &p->aborted[i + 1], sizeof(*p->aborted) * (size_t)(p->naborted - i - 1));
            p->naborted--;
            break;
        }
    pthread_mutex_unlock(&p->lock);
}

int partition_aborted_txns(partition *p, int64_t from, int64_t to, part_aborted *out, int max)
{
    pthread_mutex_lock(&p->lock);
    int n = 0;
    /* Sorted by last offset: skip those that ended before from. */
    int lo = 0, hi = p->naborted;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (p->aborted[mid].last < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < p->naborted; i++) {
        if (p->aborted[i].first >= to)
            continue;
        if (n < max)
            out[n] = p->aborted[i];
        n++;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

#define SCAN_CHUNK (4 << 20)

int partition_scan(partition *p, int (*fn)(void *arg, const uint8_t *batch, size_t len), void *arg)
{
    uint8_t *buf = malloc(SCAN_CHUNK);
    if (!buf)
        return -1;
    int rc = 0;
    int64_t off = plog_start_offset(p->log), end = plog_end_offset(p->log);
    while (off < end && rc == 0) {
        plog_slice s;
        if (plog_read(p->log, off, SCAN_CHUNK, true, &s) != LOG_OK || s.len == 0 || s.len > SCAN_CHUNK) {
            log_segment_unref(s.seg);
            glog(GLOG_ERROR, "log", "%s-%d unreadable at offset %" PRId64 "; its load stops there",
                 part_topic(p), p->index, off);
            rc = -1;
            break;
        }
        ssize_t n = pread(s.fd, buf, (size_t)s.len, s.pos);
        log_segment_unref(s.seg);
        if (n != s.len) {
            rc = -1;
            break;
        }
        size_t pos = 0;
        while (pos + BATCH_HEADER_BYTES <= (size_t)n && rc == 0) {
            size_t blen = (size_t)batch_length(buf + pos) + BATCH_LOG_OVERHEAD;
            if (pos + blen > (size_t)n)
                break;
            batch_info bi;
            batch_peek(buf + pos, &bi);
            if (batch_check_crc(buf + pos, blen, &bi) == BATCH_OK)
                rc = fn(arg, buf + pos, blen);
            off = batch_base_offset(buf + pos) + bi.last_offset_delta + 1;
            pos += blen;
        }
    }
    free(buf);
    return rc;
}

/* The leader-epoch cache (Kafka's LeaderEpochFileCache) and its file,
 * leader-epoch-checkpoint in the partition directory, rewritten (fsynced,
 * renamed) whenever an epoch is added - as Kafka does, once per leader
 * change - and read back when the cache is first needed. Under lock. */
static void epochs_path(partition *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", plog_dir(p->log), EPOCHS_FILE_NAME);
}

static void epochs_save_locked(partition *p)
{
    char path[4200], err[256];
    epochs_path(p, path, sizeof path);
    if (epochs_save(p->epochs, path, err, sizeof err) != 0)
        glog(GLOG_WARN, "log", "%s-%d: %s (the cache is rebuilt from the log when needed)", p->name, p->index,
             err);
}

/* The file, when it agrees with the log: cut to the log's ends, and its
 * last epoch the last batch's (a crash between an append and the file's
 * rewrite leaves the file one epoch short: then the log decides). */
static bool epochs_from_file_locked(partition *p)
{
    char path[4200], err[256];
    epochs_path(p, path, sizeof path);
    if (access(path, F_OK) != 0 || epochs_load(p->epochs, path, err, sizeof err) != 0)
        return false;
    int64_t start = plog_start_offset(p->log), end = plog_end_offset(p->log);
    epochs_truncate_from_end(p->epochs, end);
    epochs_truncate_from_start(p->epochs, start);
    return end <= start ? epochs_n(p->epochs) == 0 : epochs_latest(p->epochs) == partition_last_epoch(p);
}

/* Built the first time it is needed (from the file, else from the batch
 * headers), then kept up by every append; a follower's truncation drops
 * it and its file. Under lock. */
static bool epochs_build_locked(partition *p)
{
    if (p->epochs_built)
        return true;
    if (!p->epochs && !(p->epochs = epochs_new()))
        return false;
    if (epochs_from_file_locked(p)) {
        p->epochs_built = true;
        return true;
    }
    epochs_rebuild_begin(p->epochs);
    int64_t off = plog_start_offset(p->log), end = plog_end_offset(p->log);
    while (off < end) {
        plog_slice s;
        if (plog_read(p->log, off, 8 << 20, true, &s) != LOG_OK || s.len == 0) {
            log_segment_unref(s.seg);
            return false;
        }
        int64_t pos = s.pos, stop = s.pos + s.len;
        while (pos + BATCH_HEADER_BYTES <= stop) {
            uint8_t hdr[BATCH_HEADER_BYTES];
            if (pread(s.fd, hdr, sizeof hdr, pos) != (ssize_t)sizeof hdr)
                break;
            int64_t base = batch_base_offset(hdr);
            epochs_rebuild_batch(p->epochs, batch_leader_epoch(hdr), base);
            off = base + (int64_t)batch_in(hdr).last_offset_delta + 1;
            pos += BATCH_LOG_OVERHEAD + batch_length(hdr);
        }
        log_segment_unref(s.seg);
        if (pos < stop)
            return false;
    }
    p->epochs_built = true;
    epochs_save_locked(p);
    return true;
}

/* An append of batches starting at first in `epoch` (-1: read each batch's). */
static void epochs_appended_locked(partition *p, const uint8_t *buf, size_t len, int64_t first, int32_t epoch)
{
    if (!p->epochs_built)
        return;
    bool changed = false;
    if (epoch >= 0)
        changed = epochs_assign(p->epochs, epoch, first) > 0;
    for (size_t off = 0; epoch < 0 && off + BATCH_HEADER_BYTES <= len;
         off += BATCH_LOG_OVERHEAD + (size_t)batch_length(buf + off))
        changed |= epochs_assign(p->epochs, batch_leader_epoch(buf + off), batch_base_offset(buf + off)) > 0;
    if (changed)
        epochs_save_locked(p);
}

int64_t partition_epoch_end(partition *p, int32_t epoch, int32_t *epoch_out)
{
    pthread_mutex_lock(&p->lock);
    int64_t end = -1;
    *epoch_out = -1;
    if (epochs_build_locked(p))
        end = epochs_end_offset_for(p->epochs, epoch, plog_end_offset(p->log), epoch_out);
    pthread_mutex_unlock(&p->lock);
    return end;
}

int32_t partition_last_epoch(partition *p)
{
    int64_t end = plog_end_offset(p->log);
    if (end <= plog_start_offset(p->log))
        return -1;
    plog_slice s;
    if (plog_read(p->log, end - 1, BATCH_HEADER_BYTES, true, &s) != LOG_OK || s.len < BATCH_HEADER_BYTES) {
        log_segment_unref(s.seg);
        return -1;
    }
    uint8_t h[BATCH_HEADER_BYTES];
    ssize_t n = pread(s.fd, h, sizeof h, s.pos);
    log_segment_unref(s.seg);
    return n == (ssize_t)sizeof h ? batch_leader_epoch(h) : -1;
}

typedef struct copy_ctx {
    prod_entry *v;
    int n;
} copy_ctx;

static void copy_one(void *arg, prod_entry *e)
{
    copy_ctx *c = arg;
    c->v[c->n++] = *e;
}

int partition_producers(partition *p, prod_entry **out)
{
    *out = NULL;
    if (!p->producers)
        return 0;
    pthread_mutex_lock(&p->lock);
    int n = producers_count(p->producers);
    copy_ctx c = { malloc(sizeof(prod_entry) * (size_t)(n ? n : 1)), 0 };
    if (c.v)
        producers_each(p->producers, copy_one, &c);
    pthread_mutex_unlock(&p->lock);
    *out = c.v;
    return c.v ? c.n : -1;
}

void partition_wait_durable(partition *p, int64_t offset, reactor *r,
                            void (*fn)(reactor *r, void *arg, int rc), void *arg)
{
    flusher_wait(p->env->flusher, p->log, offset, r, fn, arg);
}

typedef struct acked_wait {
    partition *p;
    int64_t offset, deadline_ms;
    reactor *r;
    void (*fn)(reactor *r, void *arg, int rc);
    void *arg;
} acked_wait;

static void acked_durable(reactor *r, void *arg, int rc)
{
    acked_wait w = *(acked_wait *)arg;
    free(arg);
    if (rc != LOG_OK)
        w.fn(r, w.arg, rc);
    else
        partition_wait_hw(w.p, w.offset, w.deadline_ms, w.r, w.fn, w.arg);
}

void partition_wait_acked(partition *p, int64_t offset, int64_t deadline_ms, reactor *r,
                          void (*fn)(reactor *r, void *arg, int rc), void *arg)
{
    acked_wait *w = p->replicated ? malloc(sizeof(*w)) : NULL;
    if (!w) {
        partition_wait_durable(p, offset, r, fn, arg);
        return;
    }
    *w = (acked_wait){ p, offset, deadline_ms, r, fn, arg };
    partition_wait_durable(p, offset, r, acked_durable, w);
}

int partition_expire_producers(partition *p, int64_t now_ms, int64_t max_idle_ms)
{
    if (!p->producers)
        return 0;
    pthread_mutex_lock(&p->lock);
    int n = producers_expire(p->producers, now_ms, max_idle_ms);
    pthread_mutex_unlock(&p->lock);
    return n;
}

int partition_enforce_retention(partition *p, int64_t now_ms)
{
    /* The partition's lock, as an append holds it: a roll here runs the
     * producer-snapshot hook, which reads the producer state. */
    pthread_mutex_lock(&p->lock);
    int removed = plog_enforce_retention(p->log, now_ms);
    pthread_mutex_unlock(&p->lock);
    if (removed > 0)
        partition_log_start_moved(p);
    return removed;
}

void partition_snapshots_trim(partition *p, int64_t below)
{
    if (!p->producers)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->snapshot_offset >= 0 && p->snapshot_offset < below)
        below = p->snapshot_offset; /* the latest one always stays */
    producers_snapshot_delete(plog_dir(p->log), below, -1);
    pthread_mutex_unlock(&p->lock);
}

void partition_log_start_moved(partition *p)
{
    if (!p->producers)
        return;
    pthread_mutex_lock(&p->lock);
    int64_t start = plog_start_offset(p->log);
    producers_snapshot_delete(plog_dir(p->log), start, -1);
    if (p->snapshot_offset >= 0 && p->snapshot_offset < start)
        p->snapshot_offset = -1;
    pthread_mutex_unlock(&p->lock);
}
