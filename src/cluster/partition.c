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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/flusher.h"
#include "proto/batch.h"

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
            if (b.pid >= 0 && base >= off) {
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
    pthread_mutex_init(&p->lock, NULL);
    if (tp) {
        /* The metadata log has no producers. */
        p->producers = producers_new();
        if (!p->producers) {
            pthread_mutex_destroy(&p->lock);
            free(p);
            return NULL;
        }
        load_producers(p, clean, why, why_len);
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

void partition_append(partition *p, uint8_t *buf, size_t len, int64_t now_ms, part_result *out)
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
            int v = producers_check(x->known || x->e.epoch >= 0 ? &x->e : NULL, &b, next, &err, &dup,
                                    out->why, sizeof(out->why));
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
            producers_apply(&x->e, &b, next, next + b.last_offset_delta);
            next += (int64_t)b.last_offset_delta + 1;
        }
    }
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
    /* No transactions yet: everything written is stable. */
    return partition_high_watermark(p);
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
