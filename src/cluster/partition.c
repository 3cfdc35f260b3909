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

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
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
unlock:
    pthread_mutex_unlock(&p->lock);
    if (w != inline_w)
        free(w);
    if (out->log_rc == LOG_OK && !out->error && !out->duplicate && p->env && p->env->appended)
        p->env->appended(p->env->ctx, p);
}

int64_t partition_high_watermark(partition *p)
{
    return plog_end_offset(p->log);
}

int64_t partition_last_stable_offset(partition *p)
{
    int64_t hw = partition_high_watermark(p);
    int64_t u = atomic_load(&p->first_unstable);
    return u >= 0 && u < hw ? u : hw;
}

void partition_write_marker(partition *p, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
                            bool commit, int64_t now_ms, part_result *out)
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
    if (e && epoch < e->epoch) {
        snprintf(out->why, sizeof out->why, "marker epoch %d of producer %" PRId64 " is older than its epoch %d",
                 epoch, pid, e->epoch);
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
    pthread_mutex_unlock(&p->lock);
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
