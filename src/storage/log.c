/*
 * log.c - plog, one partition's log over its segments (see log.h).
 *
 * Owns: the ordered segment list of one partition directory, the log start
 * and end offsets, the recovery point and the failure state.
 *
 * Invariants (under mu):
 *   1. nsegs >= 1; segs[] sorted by strictly increasing base offset; the last
 *      one is the active segment (indexes in memory) and no other is.
 *   2. segs[0]->base <= start_offset <= end_offset == active->next_offset.
 *   3. recovery_point <= end_offset, and every byte below it was fsynced.
 *   4. failed is sticky: once set it never clears and failure[] never changes,
 *      so plog_failure() may hand out the pointer.
 *   6. no_space (a write found the disk full) is not sticky: appends are
 *      refused, at most one a second is let through as a probe, and the
 *      first that succeeds clears it. Reads and fsyncs go on meanwhile: a
 *      write that ran out of space left nothing behind the segment's size.
 *   5. Readers see only bytes below a segment's size, which advances after
 *      the write has completed.
 *
 * Threads: reactor threads append and read, a flusher thread flushes. The
 * mutex guards everything above; file reads for fetches and the fsyncs run
 * outside it on segments held by a reference.
 */
#include "storage/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "proto/batch.h"
#include "proto/records.h"
#include "storage/segment.h"

struct plog {
    pthread_mutex_t mu;
    char *dir;                  /* owned */
    log_config cfg;
    log_segment **segs;         /* each holds one reference */
    int nsegs, segs_cap;
    int64_t start_offset;
    int64_t end_offset;         /* next offset to assign */
    int64_t recovery_point;
    int64_t max_ts;             /* largest batch maxTimestamp in the log, -1 none */
    int64_t max_ts_offset;      /* last offset of the batch holding it (Kafka's time index) */
    uint64_t truncate_gen;      /* bumped by truncation: a flush racing it records nothing */
    bool dir_dirty;             /* a segment file was created or removed since the last flush */
    bool failed;
    char failure[512];
    bool no_space;              /* invariant 6 */
    int64_t no_space_probe_ms;  /* when the last write was tried while no_space */
    char no_space_why[512];
    int fail_next_write;        /* test hooks: errno to fail the next write with */
    bool fail_next_fsync;
    struct deleted_seg { int64_t base, due_ms; } *deleted; /* *.deleted files kept for file.delete.delay.ms */
    int ndeleted, capdeleted;
    uint64_t jitter_state;      /* segment.jitter.ms draws (xorshift, per log) */
    void (*roll_hook)(void *arg, int64_t base_offset); /* after a roll, before the append */
    void *roll_hook_arg;
};

/* How often a partition out of space lets an append through to see
 * whether space is back. */
#define PLOG_NO_SPACE_PROBE_MS 1000

/* The one place this file logs, so the subsystem name stays uniform. */
#define plog_logf(level, ...) glog((level), "log", __VA_ARGS__)

void log_config_defaults(log_config *cfg)
{
    cfg->segment_bytes = 1024LL * 1024 * 1024;
    cfg->segment_ms = 7LL * 24 * 3600 * 1000;
    cfg->index_interval_bytes = 4096;
    cfg->segment_index_bytes = 10 * 1024 * 1024;
    cfg->retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->retention_bytes = -1;
    cfg->delete_policy = true;
    cfg->compact_policy = false;
    cfg->min_cleanable_ratio = 0.5;
    cfg->min_compaction_lag_ms = 0;
    cfg->max_compaction_lag_ms = INT64_MAX;
    cfg->delete_retention_ms = 86400000;
    cfg->segment_jitter_ms = 0;
    cfg->file_delete_delay_ms = 0;
    cfg->preallocate = false;
    cfg->truncate_corrupt = false;
    cfg->verify_on_open = false;
}

/* ---- small helpers (mu held unless noted) ---- */

static void plog_fail_locked(plog *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void plog_fail_locked(plog *l, const char *fmt, ...)
{
    if (l->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->failure, sizeof l->failure, fmt, ap);
    va_end(ap);
    l->failed = true;
    plog_logf(GLOG_ERROR, "partition log %s failed, refusing further writes: %s",
              l->dir, l->failure);
}

static void plog_no_space_locked(plog *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A write found the disk full: refuse appends until a probe succeeds. */
static void plog_no_space_locked(plog *l, const char *fmt, ...)
{
    static glog_limit full = GLOG_LIMIT_INIT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->no_space_why, sizeof l->no_space_why, fmt, ap);
    va_end(ap);
    if (!l->no_space)
        glog_limited(&full, GLOG_ERROR, "log",
                     "partition log %s is out of space, refusing writes until space is back "
                     "(reads go on): %s", l->dir, l->no_space_why);
    l->no_space = true;
}

static log_segment *plog_active(plog *l)
{
    assert(l->nsegs >= 1);
    return l->segs[l->nsegs - 1];
}

/* Index of the last segment with base <= offset; -1 when none. */
static int plog_seg_floor(plog *l, int64_t offset)
{
    int lo = -1, hi = l->nsegs - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (l->segs[mid]->base_offset <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Index of the first segment with base > offset; nsegs when none. */
static int plog_seg_after(plog *l, int64_t offset)
{
    return plog_seg_floor(l, offset) + 1;
}

static int plog_segs_push(plog *l, log_segment *s)
{
    if (l->nsegs == l->segs_cap) {
        int cap = l->segs_cap ? l->segs_cap * 2 : 8;
        log_segment **n = realloc(l->segs, (size_t)cap * sizeof *n);
        if (!n)
            return LOG_ERR_NOMEM;
        l->segs = n;
        l->segs_cap = cap;
    }
    assert(l->nsegs == 0 || l->segs[l->nsegs - 1]->base_offset < s->base_offset);
    l->segs[l->nsegs++] = s;
    return LOG_OK;
}

static void plog_max_ts_recompute(plog *l)
{
    l->max_ts = -1;
    l->max_ts_offset = -1;
    for (int i = 0; i < l->nsegs; i++) {
        if (l->segs[i]->max_ts > l->max_ts) {
            l->max_ts = l->segs[i]->max_ts;
            l->max_ts_offset = l->segs[i]->max_ts_offset;
        }
    }
}

/*
 * Take segs[from, from + n) out of the list into a new array the caller owns
 * (with the references). NULL when n == 0 or allocation fails (then nothing
 * is removed and *err is set).
 */
static log_segment **plog_segs_take(plog *l, int from, int n, int *err)
{
    *err = LOG_OK;
    if (n <= 0)
        return NULL;
    assert(from >= 0 && from + n <= l->nsegs);
    log_segment **out = malloc((size_t)n * sizeof *out);
    if (!out) {
        *err = LOG_ERR_NOMEM;
        return NULL;
    }
    memcpy(out, l->segs + from, (size_t)n * sizeof *out);
    memmove(l->segs + from, l->segs + from + n, (size_t)(l->nsegs - from - n) * sizeof *out);
    l->nsegs -= n;
    l->dir_dirty = true;
    return out;
}

/* Outside mu: remove the files of taken segments and drop their references. */
/* Remember a removed segment's *.deleted files for file.delete.delay.ms;
 * false when they cannot be remembered (then they go now). */
static bool plog_defer_delete(plog *l, int64_t base)
{
    int64_t delay = l->cfg.file_delete_delay_ms;
    if (delay <= 0)
        return false;
    pthread_mutex_lock(&l->mu);
    bool ok = true;
    if (l->ndeleted == l->capdeleted) {
        int cap = l->capdeleted ? l->capdeleted * 2 : 8;
        struct deleted_seg *d = realloc(l->deleted, (size_t)cap * sizeof *d);
        if (d) {
            l->deleted = d;
            l->capdeleted = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        l->deleted[l->ndeleted++] = (struct deleted_seg){ base, clock_mono_ms() + delay };
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* Unlink the *.deleted files due (all of them when all). */
static void plog_reap_deleted(plog *l, bool all)
{
    int64_t now = clock_mono_ms();
    for (;;) {
        int64_t base = -1;
        pthread_mutex_lock(&l->mu);
        for (int i = 0; i < l->ndeleted; i++)
            if (all || l->deleted[i].due_ms <= now) {
                base = l->deleted[i].base;
                l->deleted[i] = l->deleted[--l->ndeleted];
                break;
            }
        pthread_mutex_unlock(&l->mu);
        if (base < 0)
            return;
        log_segment_unlink_deleted(l->dir, base);
    }
}

/* A removed segment's files: renamed *.deleted, unlinked now or after
 * file.delete.delay.ms. Readers holding the segment keep reading its open
 * file either way. */
static int plog_delete_seg_files(plog *l, log_segment *s)
{
    int err = log_segment_delete_files(s, true);
    if (!plog_defer_delete(l, s->base_offset))
        log_segment_unlink_deleted(l->dir, s->base_offset);
    return err;
}

static void plog_segs_destroy(plog *l, log_segment **v, int n)
{
    for (int i = 0; i < n; i++) {
        int err = plog_delete_seg_files(l, v[i]);
        if (err)
            plog_logf(GLOG_WARN, "deleting segment %s: %s", v[i]->path_log, strerror(err));
        log_segment_unref(v[i]);
    }
    free(v);
}

/* ---- open and recovery ---- */

typedef struct base_list {
    int64_t *v;
    size_t n, cap;
} base_list;

static bool base_list_push(base_list *b, int64_t x)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        int64_t *n = realloc(b->v, cap * sizeof *n);
        if (!n)
            return false;
        b->v = n;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool base_list_has(const base_list *b, int64_t x)
{
    return bsearch(&x, b->v, b->n, sizeof x, cmp_i64) != NULL;
}

static bool name_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

static void unlink_in_dir(const char *dir, const char *name, const char *why)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return;
    if (unlink(path) != 0 && errno != ENOENT)
        plog_logf(GLOG_WARN, "removing %s (%s): %s", path, why, strerror(errno));
    else
        plog_logf(GLOG_INFO, "removed %s (%s)", path, why);
}

/* The offset after the last whole batch of the .log file at path (its
 * base when it holds none), reading batch headers only. -1 on I/O error. */
static int64_t swap_file_end(const char *path, int64_t base)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int64_t end = base, pos = 0;
    uint8_t h[BATCH_HEADER_BYTES];
    while (pread(fd, h, sizeof h, pos) == (ssize_t)sizeof h) {
        batch_info bi;
        batch_peek(h, &bi);
        if (bi.total_bytes < BATCH_HEADER_BYTES)
            break;
        end = batch_base_offset(h) + bi.last_offset_delta + 1;
        pos += bi.total_bytes;
    }
    close(fd);
    return end;
}

static void unlink_segment_files(const char *dir, int64_t base, const char *why)
{
    static const char *const exts[] = { ".log", ".index", ".timeindex", ".txnindex" };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%020lld%s", (long long)base, exts[i]);
        unlink_in_dir(dir, name, why);
    }
}

static void rename_in_dir(const char *dir, const char *from, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(b, sizeof b, "%s/%s", dir, to);
    if (rename(a, b) != 0 && errno != ENOENT)
        plog_logf(GLOG_WARN, "renaming %s to %s: %s", a, to, strerror(errno));
}

/*
 * Complete the cleaner's swaps a crash interrupted (the protocol is at
 * plog_swap_cleaned). A <base>.log.swap is a whole cleaned segment, fsynced
 * before it got that name: the segments it replaces (every .log with a base
 * in [base, its end)) go, whatever is left of them, and it takes its final
 * name. Its index files are not trusted (they were not fsynced): they are
 * removed, and the open rebuilds them. A <base>.txnindex.swap goes with its
 * .log.swap, or alone when the crash fell between the two renames.
 */
static int plog_finish_swaps(plog *l)
{
    base_list swaps = { 0 }, logs = { 0 }, txns = { 0 };
    int rc = LOG_OK;
    DIR *d = opendir(l->dir);
    if (!d) {
        plog_logf(GLOG_ERROR, "opening log directory %s: %s", l->dir, strerror(errno));
        return LOG_ERR_IO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t base;
        if (log_segment_parse_name(e->d_name, ".log.swap", &base)) {
            if (!base_list_push(&swaps, base))
                rc = LOG_ERR_NOMEM;
        } else if (log_segment_parse_name(e->d_name, ".txnindex.swap", &base)) {
            if (!base_list_push(&txns, base))
                rc = LOG_ERR_NOMEM;
        } else if (log_segment_parse_name(e->d_name, ".log", &base)) {
            if (!base_list_push(&logs, base))
                rc = LOG_ERR_NOMEM;
        }
    }
    closedir(d);
    for (size_t i = 0; rc == LOG_OK && i < swaps.n; i++) {
        int64_t base = swaps.v[i];
        char name[64], path[PATH_MAX];
        snprintf(name, sizeof name, "%020lld.log.swap", (long long)base);
        snprintf(path, sizeof path, "%s/%s", l->dir, name);
        int64_t end = swap_file_end(path, base);
        if (end < 0) {
            plog_logf(GLOG_ERROR, "reading %s: %s", path, strerror(errno));
            rc = LOG_ERR_IO;
            break;
        }
        /* Where the replaced segments ended, when the cleaner said (its
         * .end.swap was renamed before the .log.swap, so it is there). */
        char ename[64], epath[PATH_MAX];
        snprintf(ename, sizeof ename, "%020lld.end.swap", (long long)base);
        snprintf(epath, sizeof epath, "%s/%s", l->dir, ename);
        FILE *ef = fopen(epath, "r");
        long long e2 = -1;
        if (ef) {
            if (fscanf(ef, "%lld", &e2) == 1 && e2 > end)
                end = e2;
            fclose(ef);
        }
        int replaced = 0;
        for (size_t j = 0; j < logs.n; j++)
            if (logs.v[j] >= base && logs.v[j] < end) {
                unlink_segment_files(l->dir, logs.v[j], "replaced by a cleaned segment");
                replaced++;
            }
        unlink_segment_files(l->dir, base, "replaced by a cleaned segment");
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%020lld.index.swap", (long long)base);
        unlink_in_dir(l->dir, tmp, "index of an interrupted swap, rebuilt");
        snprintf(tmp, sizeof tmp, "%020lld.timeindex.swap", (long long)base);
        unlink_in_dir(l->dir, tmp, "index of an interrupted swap, rebuilt");
        snprintf(tmp, sizeof tmp, "%020lld.log", (long long)base);
        rename_in_dir(l->dir, name, tmp);
        unlink_in_dir(l->dir, ename, "an interrupted swap's end offset, used");
        plog_logf(GLOG_WARN,
                  "%s: completed the swap of cleaned segment %020lld (offsets %lld..%lld) interrupted by "
                  "a crash; %d old segment%s removed",
                  l->dir, (long long)base, (long long)base, (long long)end - 1, replaced,
                  replaced == 1 ? "" : "s");
    }
    for (size_t i = 0; rc == LOG_OK && i < txns.n; i++) {
        char from[64], to[64];
        snprintf(from, sizeof from, "%020lld.txnindex.swap", (long long)txns.v[i]);
        snprintf(to, sizeof to, "%020lld.txnindex", (long long)txns.v[i]);
        rename_in_dir(l->dir, from, to);
    }
    if (rc == LOG_OK && (swaps.n || txns.n) && seg_fsync_dir(l->dir) != 0)
        rc = LOG_ERR_IO;
    free(swaps.v);
    free(logs.v);
    free(txns.v);
    return rc;
}

/* List the .log bases (sorted) and remove leftovers and stray index files. */
static int plog_scan_dir(plog *l, base_list *logs)
{
    base_list idx = { 0 };
    int rc = plog_finish_swaps(l);
    if (rc != LOG_OK)
        return rc;
    DIR *d = opendir(l->dir);
    if (!d) {
        plog_logf(GLOG_ERROR, "opening log directory %s: %s", l->dir, strerror(errno));
        return LOG_ERR_IO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t base;
        const char *name = e->d_name;
        if (name_has_suffix(name, ".deleted") || name_has_suffix(name, ".cleaned") ||
            name_has_suffix(name, ".swap")) {
            unlink_in_dir(l->dir, name, "leftover of an interrupted operation");
        } else if (log_segment_parse_name(name, ".log", &base)) {
            if (!base_list_push(logs, base))
                rc = LOG_ERR_NOMEM;
        } else if (log_segment_parse_name(name, ".index", &base) ||
                   log_segment_parse_name(name, ".timeindex", &base)) {
            if (!base_list_push(&idx, base))
                rc = LOG_ERR_NOMEM;
        }
    }
    closedir(d);
    if (rc != LOG_OK)
        goto out;
    if (logs->n)
        qsort(logs->v, logs->n, sizeof *logs->v, cmp_i64);
    for (size_t i = 0; i < idx.n; i++) {
        if (base_list_has(logs, idx.v[i])) {
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%020lld.index", (long long)idx.v[i]);
        unlink_in_dir(l->dir, name, "index without a .log");
        snprintf(name, sizeof name, "%020lld.timeindex", (long long)idx.v[i]);
        unlink_in_dir(l->dir, name, "time index without a .log");
    }
out:
    free(idx.v);
    return rc;
}

static const char *seg_name(const log_segment *s)
{
    const char *slash = strrchr(s->path_log, '/');
    return slash ? slash + 1 : s->path_log;
}

/* Trusted segments below `first`, per clean/recovery point; returns the
 * index of the first segment that needs a verifying rescan. */
static int plog_load_trusted(plog *l, int first, int *rc)
{
    *rc = LOG_OK;
    for (int i = 0; i < first; i++) {
        log_segment *s = l->segs[i];
        bool trusted = false;
        int err = log_segment_load_clean(s, &trusted);
        if (err) {
            plog_logf(GLOG_ERROR, "loading %s: %s", s->path_log, strerror(err));
            *rc = LOG_ERR_IO;
            return i;
        }
        if (trusted && i > 0 && l->segs[i - 1]->next_offset > s->base_offset)
            trusted = false;    /* overlaps the previous segment */
        if (!trusted) {
            plog_logf(GLOG_WARN, "%s/%s: index failed its sanity check, rescanning from here",
                      l->dir, seg_name(s));
            return i;
        }
    }
    return first;
}

typedef struct recovery_stats {
    int rescanned;
    int64_t batches;
    int64_t from_offset;
    char truncated[256];        /* "" when nothing was cut */
    char corrupt[512];          /* "" unless corruption stopped the open */
    int deleted;
} recovery_stats;

/*
 * Where a rescan stopped (segment i, res): a torn tail, which recovery cuts
 * off, or corruption, which it must not silently cut. A torn tail is an
 * incomplete last write: in the last segment, at or after the recovery
 * point, and nothing but the torn batch (or zeros the file grew by) after
 * it. A bad batch with more data behind it, in an earlier segment, or
 * below the recovery point (those bytes were fsynced) is corruption.
 */
static bool plog_stop_is_torn_tail(plog *l, int i, const seg_scan_result *res,
                                   int64_t recovery_point)
{
    if (i != l->nsegs - 1 || recovery_point == INT64_MAX)
        return false;           /* INT64_MAX: a clean shutdown leaves no torn write */
    if (res->bad_base_offset >= 0 && res->bad_base_offset < recovery_point)
        return false;
    int64_t left = res->file_bytes - res->valid_bytes;
    if (left < BATCH_HEADER_BYTES || res->tail_zero)
        return true;
    if (strstr(res->stop_reason, "torn"))
        return true;            /* the batch runs past the end of the file */
    /* A whole last batch with a bad CRC: a write torn inside the file's
     * length, or damage. A vital log (verify_on_open) takes it for damage,
     * which costs an operator one flag instead of losing every topic. */
    return !l->cfg.verify_on_open && res->bad_batch_bytes > 0 &&
           res->valid_bytes + res->bad_batch_bytes >= res->file_bytes;
}

/* Verify segs[first..] batch by batch; truncate at the first bad batch and
 * delete every later segment. Corruption (not a torn tail) stops the open
 * with LOG_ERR_CORRUPT and st->corrupt, unless cfg.truncate_corrupt. */
static int plog_rescan(plog *l, int first, int64_t recovery_point, recovery_stats *st)
{
    st->from_offset = first < l->nsegs ? l->segs[first]->base_offset : l->end_offset;
    for (int i = first; i < l->nsegs; i++) {
        log_segment *s = l->segs[i];
        int64_t min_off = i > 0 ? l->segs[i - 1]->next_offset : s->base_offset;
        seg_scan_result res;
        int err = log_segment_rebuild(s, true, min_off, l->cfg.index_interval_bytes, &res);
        if (err) {
            plog_logf(GLOG_ERROR, "recovering %s: %s", s->path_log, strerror(err));
            return LOG_ERR_IO;
        }
        st->rescanned++;
        st->batches += res.batches;
        if (!res.stop_reason)
            continue;
        bool torn = plog_stop_is_torn_tail(l, i, &res, recovery_point);
        if (!torn && !l->cfg.truncate_corrupt) {
            int64_t after = res.file_bytes - res.valid_bytes;
            for (int j = i + 1; j < l->nsegs; j++)
                after += l->segs[j]->size > 0 ? l->segs[j]->size : 0;
            char at[64] = "";
            if (res.bad_base_offset >= 0)
                snprintf(at, sizeof at, ", batch at offset %lld", (long long)res.bad_base_offset);
            snprintf(st->corrupt, sizeof st->corrupt,
                     "corrupt data in %s at position %lld (%s%s) with %lld more bytes of the "
                     "log after it: this is damage, not a torn last write. Nothing was changed. "
                     "To start anyway, truncating the log there (everything from that position "
                     "on is lost), start once with --override log.recovery.truncate.corrupt=true; "
                     "or restore the directory", s->path_log, (long long)res.valid_bytes,
                     res.stop_reason, at, (long long)after);
            return LOG_ERR_CORRUPT;
        }
        if (!torn)
            plog_logf(GLOG_WARN, "%s: truncating at corrupt data (log.recovery.truncate.corrupt"
                      "=true): position %lld, %s", s->path_log, (long long)res.valid_bytes,
                      res.stop_reason);
        if (ftruncate(s->log_fd, (off_t)res.valid_bytes) != 0) {
            plog_logf(GLOG_ERROR, "truncating %s: %s", s->path_log, strerror(errno));
            return LOG_ERR_IO;
        }
        snprintf(st->truncated, sizeof st->truncated,
                 "truncated %s at position %lld (%s), %lld bytes dropped", seg_name(s),
                 (long long)res.valid_bytes, res.stop_reason,
                 (long long)(res.file_bytes - res.valid_bytes));
        int rc = LOG_OK;
        int n = l->nsegs - i - 1;
        log_segment **v = plog_segs_take(l, i + 1, n, &rc);
        if (rc != LOG_OK)
            return rc;
        st->deleted = n;
        plog_segs_destroy(l, v, n);
        break;
    }
    return LOG_OK;
}

/* Open the segment files found in the directory, or create the first one. */
static int plog_open_segments(plog *l, int64_t log_start_offset)
{
    base_list logs = { 0 };
    int rc = plog_scan_dir(l, &logs);
    for (size_t i = 0; rc == LOG_OK && i < logs.n; i++) {
        log_segment *s;
        int err = log_segment_open(l->dir, logs.v[i], &s);
        if (err) {
            plog_logf(GLOG_ERROR, "opening segment %020lld in %s: %s",
                      (long long)logs.v[i], l->dir, strerror(err));
            rc = LOG_ERR_IO;
            break;
        }
        rc = plog_segs_push(l, s);
        if (rc != LOG_OK)
            log_segment_unref(s);
    }
    free(logs.v);
    if (rc != LOG_OK || l->nsegs > 0)
        return rc;
    log_segment *s;
    int64_t base = log_start_offset > 0 ? log_start_offset : 0;
    int err = log_segment_create(l->dir, base, &l->cfg, &s);
    if (err) {
        plog_logf(GLOG_ERROR, "creating the first segment in %s: %s", l->dir, strerror(err));
        return LOG_ERR_IO;
    }
    l->dir_dirty = true;
    rc = plog_segs_push(l, s);
    if (rc != LOG_OK)
        log_segment_unref(s);
    return rc;
}

static void plog_report_fill(plog *l, bool fresh, bool clean_path, const recovery_stats *st,
                             char *report, size_t report_len)
{
    if (!report || !report_len)
        return;
    int64_t last = l->end_offset - 1;
    if (fresh) {
        snprintf(report, report_len, "new empty log at offset %lld", (long long)l->end_offset);
    } else if (clean_path) {
        snprintf(report, report_len, "clean open, %d segment%s, offsets %lld..%lld", l->nsegs,
                 l->nsegs == 1 ? "" : "s", (long long)l->start_offset, (long long)last);
    } else if (st->truncated[0]) {
        snprintf(report, report_len,
                 "recovered %d segment%s from offset %lld: %s, %d later segment%s deleted; "
                 "offsets %lld..%lld",
                 st->rescanned, st->rescanned == 1 ? "" : "s", (long long)st->from_offset,
                 st->truncated, st->deleted, st->deleted == 1 ? "" : "s",
                 (long long)l->start_offset, (long long)last);
    } else {
        snprintf(report, report_len,
                 "recovered %d segment%s from offset %lld: all %lld batches valid; "
                 "offsets %lld..%lld",
                 st->rescanned, st->rescanned == 1 ? "" : "s", (long long)st->from_offset,
                 (long long)st->batches, (long long)l->start_offset, (long long)last);
    }
}

/* Load or recover the segments, then make the last one active. */
static int64_t plog_jitter_locked(plog *l);

static int plog_load(plog *l, bool clean, int64_t recovery_point, bool *clean_path,
                     recovery_stats *st)
{
    int first = l->nsegs;
    if (l->cfg.verify_on_open) {
        first = 0;              /* a small, vital log: every batch is checked */
    } else if (!clean) {
        /* From the segment holding recovery_point - 1: the segment before the
         * recovery point's may have been rolled after the flush that set it,
         * and its trimmed indexes were never synced. */
        int f = plog_seg_floor(l, recovery_point > 0 ? recovery_point - 1 : 0);
        first = f < 0 ? 0 : f;
    }
    int rc;
    int verify_from = plog_load_trusted(l, first, &rc);
    if (rc != LOG_OK)
        return rc;
    *clean_path = clean && verify_from == l->nsegs;
    rc = plog_rescan(l, verify_from, clean ? INT64_MAX : recovery_point, st);
    if (rc != LOG_OK)
        return rc;
    for (int i = verify_from; i < l->nsegs - 1; i++) {
        int err = log_segment_deactivate(l->segs[i]);  /* final time entry, trim */
        if (err) {
            plog_logf(GLOG_ERROR, "trimming indexes of %s: %s", l->segs[i]->path_log, strerror(err));
            return LOG_ERR_IO;
        }
    }
    log_segment *act = plog_active(l);
    int err = verify_from == l->nsegs ? log_segment_scan_max_ts(act) : 0;
    if (!err)
        err = log_segment_activate(act, &l->cfg);
    if (!err && act->size >= BATCH_HEADER_BYTES) {
        /* segment.ms goes on counting across a restart: in record time from
         * the first batch's timestamp (Kafka's rollingBasedTimestamp), else
         * in wall-clock time from now (Kafka: the segment's load). */
        uint8_t h[BATCH_HEADER_BYTES];
        act->first_ts = pread(act->log_fd, h, sizeof h, 0) == (ssize_t)sizeof h ? seg_be64(h + 35) : -1;
        act->created_ms = clock_now_ms();
        act->jitter_ms = plog_jitter_locked(l);
    }
    if (err) {
        plog_logf(GLOG_ERROR, "activating %s: %s", act->path_log, strerror(err));
        return LOG_ERR_IO;
    }
    return LOG_OK;
}

int plog_open(const char *dir, const log_config *cfg, int64_t log_start_offset,
              int64_t recovery_point, bool clean, plog **out,
              char *report, size_t report_len)
{
    assert(dir && cfg && out);
    if (report && report_len)
        report[0] = '\0';
    plog *l = calloc(1, sizeof *l);
    if (!l)
        return LOG_ERR_NOMEM;
    int rc = LOG_ERR_NOMEM;
    l->dir = strdup(dir);
    if (!l->dir)
        goto out_free;
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        goto out_free;
    l->cfg = *cfg;
    l->max_ts = l->max_ts_offset = -1;
    rc = LOG_ERR_IO;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        plog_logf(GLOG_ERROR, "creating %s: %s", dir, strerror(errno));
        goto out_close;
    }
    rc = plog_open_segments(l, log_start_offset);
    if (rc != LOG_OK)
        goto out_close;
    bool fresh = l->dir_dirty;
    bool clean_path = false;
    recovery_stats st = { 0 };
    if (!fresh) {
        rc = plog_load(l, clean, recovery_point, &clean_path, &st);
        if (rc == LOG_ERR_CORRUPT && report && report_len)
            snprintf(report, report_len, "%s", st.corrupt);
        if (rc != LOG_OK)
            goto out_close;
    }
    log_segment *act = plog_active(l);
    l->end_offset = act->next_offset;
    int64_t first_base = l->segs[0]->base_offset;
    if (log_start_offset > l->end_offset) {
        /* Impossible: a log starts at or before its end. Believing it would
         * hide every record (and the next checkpoint would keep the value),
         * so start at the first segment and say so. */
        plog_logf(GLOG_WARN,
                  "%s: the checkpointed log start offset %lld is beyond the log end %lld; "
                  "ignoring it: the log starts at its first segment's offset %lld",
                  dir, (long long)log_start_offset, (long long)l->end_offset,
                  (long long)first_base);
        log_start_offset = first_base;
    }
    l->start_offset = log_start_offset > first_base ? log_start_offset : first_base;
    l->recovery_point = clean_path ? l->end_offset
                        : recovery_point < l->end_offset ? recovery_point : l->end_offset;
    if (l->recovery_point < 0)
        l->recovery_point = 0;
    plog_max_ts_recompute(l);
    plog_report_fill(l, fresh, clean_path, &st, report, report_len);
    /* The caller logs the report when it says recovery did something. */
    plog_logf(GLOG_DEBUG, "%s: %s", dir, report && report[0] ? report : "opened");
    *out = l;
    return LOG_OK;
out_close:
    plog_close(l);
    return rc;
out_free:
    free(l->dir);
    free(l);
    return rc;
}

void plog_close(plog *l)
{
    if (!l)
        return;
    if (l->nsegs > 0) {
        log_segment *act = plog_active(l);
        int err = act->active ? log_segment_deactivate(act) : 0;
        if (err)
            plog_logf(GLOG_WARN, "trimming indexes of %s: %s", act->path_log, strerror(err));
    }
    for (int i = 0; i < l->nsegs; i++)
        log_segment_unref(l->segs[i]);
    free(l->segs);
    plog_reap_deleted(l, true);
    free(l->deleted);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
}

int plog_shutdown(plog *l)
{
    if (!l)
        return LOG_OK;
    int rc = LOG_OK;
    int64_t flushed;
    if (plog_flush(l, &flushed) != LOG_OK)
        rc = LOG_ERR_IO;
    log_segment *act = plog_active(l);
    int err = act->active ? log_segment_deactivate(act) : 0;
    const char *what = act->path_index;
    bool synced_any = false;
    for (int i = 0; !err && i < l->nsegs; i++) {
        log_segment *s = l->segs[i];
        if (s->index_synced)
            continue;
        err = log_segment_sync_indexes(s, &what);
        if (!err)
            s->index_synced = synced_any = true;
    }
    if (!err && synced_any) {
        what = l->dir;
        err = seg_fsync_dir(l->dir);   /* index files may have been created just now */
    }
    if (err) {
        plog_logf(GLOG_ERROR, "closing %s: %s: %s", l->dir, what, strerror(err));
        rc = LOG_ERR_IO;
    }
    plog_close(l);
    return rc;
}

void plog_set_config(plog *l, const log_config *cfg)
{
    pthread_mutex_lock(&l->mu);
    l->cfg = *cfg;
    pthread_mutex_unlock(&l->mu);
}

void plog_get_config(plog *l, log_config *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->cfg;
    pthread_mutex_unlock(&l->mu);
}

/* ---- append ---- */

/* Count the offsets in back-to-back batches; false on broken framing. */
static bool batches_count(const uint8_t *buf, size_t len, int64_t *count_out, int64_t *max_ts_out)
{
    int64_t count = 0, max_ts = -1;
    size_t off = 0;
    while (off < len) {
        if (len - off < BATCH_HEADER_BYTES)
            return false;
        int32_t blen = seg_be32(buf + off + 8);
        int32_t lod = seg_be32(buf + off + 23);
        if (blen < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD ||
            (size_t)blen > len - off - BATCH_LOG_OVERHEAD || lod < 0)
            return false;
        count += (int64_t)lod + 1;
        if (seg_be64(buf + off + 35) > max_ts)
            max_ts = seg_be64(buf + off + 35);
        off += BATCH_LOG_OVERHEAD + (size_t)blen;
    }
    *count_out = count;
    *max_ts_out = max_ts;
    return len > 0;
}

static int plog_roll_locked(plog *l)
{
    log_segment *old = plog_active(l);
    assert(l->end_offset > old->base_offset);
    log_segment *s;
    int err = log_segment_create(l->dir, l->end_offset, &l->cfg, &s);
    if (err == ENOSPC || err == EDQUOT) {
        plog_no_space_locked(l, "creating segment %020lld in %s failed: %s",
                             (long long)l->end_offset, l->dir, strerror(err));
        return LOG_ERR_NO_SPACE;
    }
    if (err) {
        plog_fail_locked(l, "creating segment %020lld in %s failed: %s",
                         (long long)l->end_offset, l->dir, strerror(err));
        return LOG_ERR_IO;
    }
    int rc = plog_segs_push(l, s);
    if (rc != LOG_OK) {
        log_segment_delete_files(s, false);
        log_segment_unref(s);
        return rc;
    }
    l->dir_dirty = true;
    err = log_segment_deactivate(old);
    if (err) {
        plog_fail_locked(l, "trimming indexes of %s failed: %s", old->path_log, strerror(err));
        return LOG_ERR_IO;
    }
    plog_logf(GLOG_DEBUG, "%s: rolled to segment %020lld", l->dir, (long long)l->end_offset);
    if (l->roll_hook)
        l->roll_hook(l->roll_hook_arg, l->end_offset);
    return LOG_OK;
}

void plog_set_roll_hook(plog *l, void (*fn)(void *arg, int64_t base_offset), void *arg)
{
    pthread_mutex_lock(&l->mu);
    l->roll_hook = fn;
    l->roll_hook_arg = arg;
    pthread_mutex_unlock(&l->mu);
}

/* Kafka's rollJitterMs: a random share of min(segment.jitter.ms,
 * segment.ms) by which a segment rolls early, so that partitions created
 * together do not all roll at once. */
static int64_t plog_jitter_locked(plog *l)
{
    int64_t j = l->cfg.segment_jitter_ms < l->cfg.segment_ms ? l->cfg.segment_jitter_ms : l->cfg.segment_ms;
    if (j <= 0)
        return 0;
    uint64_t x = l->jitter_state ? l->jitter_state : (uint64_t)clock_mono_ns() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    l->jitter_state = x;
    return (int64_t)(x % (uint64_t)j);
}

/*
 * segment.ms, as Kafka's LogSegment.shouldRoll: when the segment's first
 * batch has a timestamp, the age is in record time (the incoming batches'
 * largest timestamp minus that one: old records do not age a segment, and
 * a segment's age survives a restart); otherwise in wall-clock time since
 * its first append.
 */
static bool plog_aged(plog *l, const log_segment *act, int64_t now_ms, int64_t in_max_ts)
{
    int64_t waited = act->first_ts >= 0 ? in_max_ts - act->first_ts
                     : act->created_ms >= 0 ? now_ms - act->created_ms
                                            : -1;
    return waited >= 0 && waited > l->cfg.segment_ms - act->jitter_ms;
}

static bool plog_should_roll(plog *l, size_t len, int64_t count, int64_t now_ms, int64_t in_max_ts)
{
    log_segment *act = plog_active(l);
    if (act->size == 0)
        return false;
    return act->size + (int64_t)len > l->cfg.segment_bytes ||
           act->size + (int64_t)len > INT32_MAX ||
           plog_aged(l, act, now_ms, in_max_ts) ||
           log_segment_index_full(act) ||
           l->end_offset + count - 1 - act->base_offset > INT32_MAX;
}

/* assign: give the batches the next offsets and leader_epoch (a leader's
 * append); else keep theirs (a follower copying its leader's batches, which
 * may leave gaps where the leader compacted, never go back). */
static int plog_append_impl(plog *l, uint8_t *buf, size_t len, bool assign, int32_t leader_epoch,
                            int64_t now_ms, int64_t *first_offset, int64_t *last_offset)
{
    int64_t count = 0, in_max_ts = -1;
    if (!batches_count(buf, len, &count, &in_max_ts))
        return LOG_ERR_CORRUPT;
    pthread_mutex_lock(&l->mu);
    int rc = LOG_OK;
    if (l->failed) {
        rc = LOG_ERR_FAILED;
        goto out_unlock;
    }
    bool probing = l->no_space;
    if (probing) {
        if (now_ms - l->no_space_probe_ms < PLOG_NO_SPACE_PROBE_MS) {
            rc = LOG_ERR_NO_SPACE;
            goto out_unlock;
        }
        l->no_space_probe_ms = now_ms;
    }
    if ((int64_t)len > l->cfg.segment_bytes || len > INT32_MAX) {
        rc = LOG_ERR_TOO_LARGE;
        goto out_unlock;
    }
    if (plog_should_roll(l, len, count, now_ms, in_max_ts)) {
        rc = plog_roll_locked(l);
        if (rc != LOG_OK)
            goto out_unlock;
    }
    log_segment *act = plog_active(l);
    int64_t next = l->end_offset, first = assign ? next : (int64_t)seg_be64(buf);
    for (size_t off = 0; off < len;) {
        if (assign) {
            batch_set_base_offset(buf + off, next);
            batch_set_leader_epoch(buf + off, leader_epoch);
        } else {
            int64_t base = (int64_t)seg_be64(buf + off);
            if (base < next) {
                rc = LOG_ERR_OUT_OF_RANGE; /* below the log end: nothing written */
                goto out_unlock;
            }
            next = base;
        }
        next += (int64_t)seg_be32(buf + off + 23) + 1;
        off += BATCH_LOG_OVERHEAD + (size_t)seg_be32(buf + off + 8);
    }
    assert(!assign || next == l->end_offset + count);
    int inject = l->fail_next_write;
    l->fail_next_write = 0;
    int index_err = 0;
    int err = log_segment_append(act, buf, len, next, l->cfg.index_interval_bytes, inject,
                                 &index_err);
    if (err == ENOSPC || err == EDQUOT) {
        /* log_segment_append cut the file back to its size: nothing torn. */
        plog_no_space_locked(l, "write of %zu bytes to %s failed: %s", len, act->path_log,
                             strerror(err));
        l->no_space_probe_ms = now_ms;
        rc = LOG_ERR_NO_SPACE;
        goto out_unlock;
    }
    if (err) {
        plog_fail_locked(l, "write of %zu bytes to %s failed: %s", len, act->path_log,
                         strerror(err));
        rc = LOG_ERR_IO;
        goto out_unlock;
    }
    if (act->created_ms < 0) {
        act->created_ms = now_ms;
        act->first_ts = seg_be64(buf + 35); /* Kafka's rollingBasedTimestamp */
        act->jitter_ms = plog_jitter_locked(l);
    }
    if (probing) {
        l->no_space = false;
        plog_logf(GLOG_INFO, "partition log %s: space is available again, writes resume",
                  l->dir);
    }
    *first_offset = first;
    *last_offset = next - 1;
    l->end_offset = next;
    if (act->max_ts > l->max_ts) {
        l->max_ts = act->max_ts;
        l->max_ts_offset = act->max_ts_offset;
    }
    if (index_err) {
        /* The batches are in the log; the index is not trustworthy any more. */
        plog_fail_locked(l, "index write for %s failed: %s", act->path_log, strerror(index_err));
        rc = LOG_ERR_IO;
    }
out_unlock:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int plog_append(plog *l, uint8_t *buf, size_t len, int32_t leader_epoch,
                int64_t now_ms, int64_t *first_offset, int64_t *last_offset)
{
    return plog_append_impl(l, buf, len, true, leader_epoch, now_ms, first_offset, last_offset);
}

int plog_append_as_follower(plog *l, uint8_t *buf, size_t len, int64_t now_ms, int64_t *first_offset,
                            int64_t *last_offset)
{
    return plog_append_impl(l, buf, len, false, 0, now_ms, first_offset, last_offset);
}

/* ---- flush ---- */

typedef struct flush_item {
    log_segment *seg;
    int64_t size;               /* bytes to be durable after the fsync */
    bool sync_log;
    bool sync_index;
} flush_item;

static int flush_items_run(plog *l, flush_item *items, int n, bool sync_dir, bool inject,
                           const char **what)
{
    for (int i = 0; i < n; i++) {
        int err = 0;
        if (items[i].sync_log) {
            *what = items[i].seg->path_log;
            err = inject ? EIO : seg_fsync_fd(items[i].seg->log_fd);
        }
        if (!err && items[i].sync_index)
            err = log_segment_sync_indexes(items[i].seg, what);
        if (err)
            return err;
    }
    *what = l->dir;
    return sync_dir ? seg_fsync_dir(l->dir) : 0;
}

int plog_flush(plog *l, int64_t *flushed_offset)
{
    pthread_mutex_lock(&l->mu);
    if (l->failed) {
        pthread_mutex_unlock(&l->mu);
        return LOG_ERR_FAILED;
    }
    flush_item *items = calloc((size_t)l->nsegs, sizeof *items);
    if (!items) {
        pthread_mutex_unlock(&l->mu);
        return LOG_ERR_NOMEM;
    }
    int n = 0;
    for (int i = 0; i < l->nsegs; i++) {
        log_segment *s = l->segs[i];
        bool sync_log = s->flushed_size < s->size;
        bool sync_index = !s->active && !s->index_synced;
        if (!sync_log && !sync_index)
            continue;
        log_segment_ref(s);
        items[n++] = (flush_item){ s, s->size, sync_log, sync_index };
    }
    int64_t end = l->end_offset;
    uint64_t gen = l->truncate_gen;
    bool sync_dir = l->dir_dirty;
    l->dir_dirty = false;
    bool inject = l->fail_next_fsync;
    l->fail_next_fsync = false;
    pthread_mutex_unlock(&l->mu);

    const char *what = l->dir;
    int err = flush_items_run(l, items, n, sync_dir, inject, &what);

    pthread_mutex_lock(&l->mu);
    int rc = LOG_OK;
    if (err) {
        /* Never retry: after a failed fsync Linux may have dropped the dirty pages. */
        plog_fail_locked(l, "fsync of %s failed: %s", what, strerror(err));
        rc = LOG_ERR_IO;
    } else if (gen == l->truncate_gen) {
        for (int i = 0; i < n; i++) {
            log_segment *s = items[i].seg;
            if (items[i].size > s->flushed_size)
                s->flushed_size = items[i].size;
            if (items[i].sync_index && !s->active)
                s->index_synced = true;
        }
        if (end > l->recovery_point)
            l->recovery_point = end;
    }
    assert(l->recovery_point <= l->end_offset);
    if (flushed_offset)
        *flushed_offset = l->recovery_point;
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < n; i++)
        log_segment_unref(items[i].seg);
    free(items);
    return rc;
}

/* ---- read ---- */

/* Add whole batches after the first while the total stays <= max_bytes. */
static int read_extend(log_segment *s, int64_t pos, int64_t limit, int32_t first_len,
                       int32_t max_bytes, int32_t *len_out)
{
    uint8_t buf[8192];
    seg_reader r;
    seg_reader_init(&r, s->log_fd, limit, buf, sizeof buf);
    int64_t total = first_len;
    for (;;) {
        const uint8_t *h = seg_reader_get(&r, pos + total, BATCH_LOG_OVERHEAD);
        if (!h)
            break;
        int64_t blen = BATCH_LOG_OVERHEAD + (int64_t)seg_be32(h + 8);
        if (blen < BATCH_HEADER_BYTES || total + blen > max_bytes || pos + total + blen > limit)
            break;
        total += blen;
    }
    assert(total <= INT32_MAX);
    *len_out = (int32_t)total;
    return r.err;
}

int plog_read(plog *l, int64_t offset, int32_t max_bytes, bool min_one, plog_slice *out)
{
    return plog_read_upto(l, offset, INT64_MAX, max_bytes, min_one, out);
}

int plog_read_upto(plog *l, int64_t offset, int64_t max_offset, int32_t max_bytes, bool min_one,
                   plog_slice *out)
{
    out->seg = NULL;
    out->fd = -1;
    out->pos = 0;
    out->len = 0;
    if (max_bytes < 0)
        max_bytes = 0;
    pthread_mutex_lock(&l->mu);
    if (offset < l->start_offset || offset > l->end_offset) {
        pthread_mutex_unlock(&l->mu);
        return LOG_ERR_OUT_OF_RANGE;
    }
    int i = plog_seg_floor(l, offset);
    if (i < 0)
        i = 0;
    while (offset < l->end_offset && offset < max_offset && i < l->nsegs) {
        log_segment *s = l->segs[i];
        log_segment_ref(s);
        int64_t limit = s->size;
        if (s->damaged_pos >= 0 && s->damaged_pos < limit)
            limit = s->damaged_pos; /* the scrubber found damage: serve up to it */
        bool damaged = s->damaged_pos >= 0;
        int32_t index_count = s->index_entries;
        int64_t base = s->base_offset;
        int64_t hint = log_segment_find_hint_locked(s, offset, limit);
        /* The bound lies in this segment: stop before the batch holding it. */
        bool bounded = max_offset < l->end_offset &&
                       (i + 1 == l->nsegs || l->segs[i + 1]->base_offset > max_offset);
        int64_t bound_hint = bounded ? log_segment_find_hint_locked(s, max_offset, limit) : 0;
        pthread_mutex_unlock(&l->mu);

        int64_t pos;
        int32_t first_len, len = 0;
        int err = 0;
        if (bounded) {
            int64_t bpos;
            int32_t blen;
            err = log_segment_find(s, max_offset, limit, index_count, bound_hint, &bpos, &blen);
            if (!err && bpos >= 0 && bpos < limit)
                limit = bpos;
        }
        if (!err)
            err = log_segment_find(s, offset, limit, index_count, hint, &pos, &first_len);
        if (!err && pos >= 0 && (first_len <= max_bytes || min_one))
            err = read_extend(s, pos, limit, first_len, max_bytes, &len);
        if (err) {
            pthread_mutex_lock(&l->mu);
            plog_fail_locked(l, "read of %s failed: %s", s->path_log, strerror(err));
            pthread_mutex_unlock(&l->mu);
            log_segment_unref(s);
            return LOG_ERR_IO;
        }
        if (pos >= 0) {
            if (len == 0) {
                log_segment_unref(s);
                return LOG_OK;  /* first batch larger than max_bytes, !min_one */
            }
            *out = (plog_slice){ .seg = s, .fd = s->log_fd, .pos = pos, .len = len };
            return LOG_OK;
        }
        if (damaged) {
            /* offset lies in or after the damaged batch: refuse, never skip it */
            log_segment_unref(s);
            return LOG_ERR_DAMAGED;
        }
        /* Nothing at or after offset here (a gap): try the next segment. */
        log_segment_unref(s);
        pthread_mutex_lock(&l->mu);
        i = plog_seg_after(l, base);
    }
    pthread_mutex_unlock(&l->mu);
    return LOG_OK;
}

/* ---- scrubbing ---- */

int plog_scrub(plog *l, int64_t now_ms, int64_t every_ms, int64_t *bytes_done,
               int64_t bytes_max, int *damaged)
{
    *damaged = 0;
    for (;;) {
        /* The next closed segment due for a check, referenced. */
        pthread_mutex_lock(&l->mu);
        log_segment *s = NULL;
        int64_t size = 0;
        for (int i = 0; i < l->nsegs - 1 && !s; i++) {
            log_segment *c = l->segs[i];
            if (c->damaged_pos < 0 && (c->scrubbed_ms < 0 || now_ms - c->scrubbed_ms >= every_ms)) {
                s = c;
                size = c->size;
                log_segment_ref(s);
            }
        }
        pthread_mutex_unlock(&l->mu);
        if (!s)
            return LOG_OK;
        if (*bytes_done >= bytes_max) {
            log_segment_unref(s);
            return LOG_ERR_BUSY; /* this round's budget is spent; more next round */
        }
        int64_t bad_pos, bad_off;
        const char *why;
        int err = log_segment_verify(s, size, &bad_pos, &bad_off, &why);
        *bytes_done += size;
        pthread_mutex_lock(&l->mu);
        s->scrubbed_ms = now_ms;
        if (!err && bad_pos >= 0) {
            s->damaged_pos = bad_pos;
            (*damaged)++;
            plog_logf(GLOG_ERROR,
                      "scrubber: %s is damaged at position %lld (%s%s%lld): consumers get "
                      "KAFKA_STORAGE_ERROR from that batch on instead of its bytes; the data "
                      "before it is served",
                      s->path_log, (long long)bad_pos, why, bad_off >= 0 ? ", batch offset " : "",
                      (long long)(bad_off >= 0 ? bad_off : 0));
        } else if (err) {
            plog_logf(GLOG_WARN, "scrubber: reading %s: %s", s->path_log, strerror(err));
        }
        pthread_mutex_unlock(&l->mu);
        log_segment_unref(s);
    }
}

/* ---- timestamps ---- */

/* Scan s from pos for the first record with timestamp >= ts_ms at or above start. */
static int ts_scan_segment(log_segment *s, int64_t pos, int64_t limit, int64_t ts_ms,
                           int64_t start, int64_t *off_out, int64_t *ts_out, bool *found)
{
    seg_reader r;
    size_t cap_max = limit > INT32_MAX ? INT32_MAX : (size_t)limit;
    int err = seg_reader_init_heap(&r, s->log_fd, limit, 64 * 1024, cap_max);
    if (err)
        return err;
    *found = false;
    for (;;) {
        const uint8_t *h = seg_reader_get(&r, pos, BATCH_HEADER_BYTES);
        if (!h)
            break;
        int64_t total = BATCH_LOG_OVERHEAD + (int64_t)seg_be32(h + 8);
        int64_t last = seg_be64(h) + seg_be32(h + 23);
        int64_t mts = seg_be64(h + 35);
        if (total < BATCH_HEADER_BYTES)
            break;
        if (last >= start && mts >= ts_ms) {
            const uint8_t *p = seg_reader_get(&r, pos, (size_t)total);
            if (!p)
                break;
            if (records_find_timestamp(p, (size_t)total, RECORDS_MAX_INFLATED, ts_ms, off_out, ts_out)) {
                if (*off_out < start)
                    *off_out = start;   /* the records below start are gone */
                *found = true;
                break;
            }
        }
        pos += total;
    }
    err = r.err;
    seg_reader_deinit(&r);
    return err;
}

int plog_offset_for_timestamp(plog *l, int64_t ts_ms, int64_t *offset_out, int64_t *ts_out)
{
    *offset_out = -1;
    *ts_out = -1;
    int64_t after = INT64_MIN;  /* look only at segments with base > after */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int i = after == INT64_MIN ? 0 : plog_seg_after(l, after);
        while (i < l->nsegs && l->segs[i]->max_ts < ts_ms)
            i++;
        if (i >= l->nsegs)
            break;
        log_segment *s = l->segs[i];
        log_segment_ref(s);
        int64_t limit = s->size, start = l->start_offset;
        int32_t icount = s->index_entries, tcount = s->timeindex_entries;
        int64_t hint = log_segment_time_hint_locked(s, ts_ms, limit);
        after = s->base_offset;
        pthread_mutex_unlock(&l->mu);

        int64_t pos = 0;
        bool found = false;
        log_segment_time_lookup(s, ts_ms, tcount, icount, limit, hint, &pos);
        int err = ts_scan_segment(s, pos, limit, ts_ms, start, offset_out, ts_out, &found);
        log_segment_unref(s);
        if (err)
            return LOG_ERR_IO;
        if (found)
            return LOG_OK;
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return LOG_OK;
}

void plog_max_timestamp(plog *l, int64_t *offset_out, int64_t *ts_out)
{
    pthread_mutex_lock(&l->mu);
    int64_t ts = l->max_ts, boff = l->max_ts_offset, start = l->start_offset;
    int i = plog_seg_floor(l, boff);
    if (ts < 0 || i < 0) {
        pthread_mutex_unlock(&l->mu);
        *offset_out = -1;
        *ts_out = -1;
        return;
    }
    log_segment *s = l->segs[i];
    log_segment_ref(s);
    int64_t limit = s->size;
    int32_t icount = s->index_entries;
    int64_t hint = log_segment_find_hint_locked(s, boff, limit);
    pthread_mutex_unlock(&l->mu);

    /* The exact record: the first in the batch reaching the batch's max
     * (boff is the batch's last offset; the scan covers just that batch). */
    *offset_out = boff;
    *ts_out = ts;
    int64_t pos;
    int32_t len;
    if (log_segment_find(s, boff, limit, icount, hint, &pos, &len) == 0 && pos >= 0) {
        int64_t off, t;
        bool found = false;
        if (ts_scan_segment(s, pos, pos + len, ts, start, &off, &t, &found) == 0 && found)
            *offset_out = off;
    }
    log_segment_unref(s);
}

/* ---- accessors ---- */

int64_t plog_start_offset(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t v = l->start_offset;
    pthread_mutex_unlock(&l->mu);
    return v;
}

int64_t plog_end_offset(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t v = l->end_offset;
    pthread_mutex_unlock(&l->mu);
    return v;
}

int plog_legacy_offsets(plog *l, int64_t ts, int max, int64_t now_ms, int64_t *out)
{
    if (max <= 0)
        return 0;
    pthread_mutex_lock(&l->mu);
    /* Kafka's array of (offset, time): every segment's base (never below
     * the log start) and its file's mtime, then the log end at now when
     * the active segment holds data. */
    int n = l->nsegs + (l->nsegs > 0 && l->segs[l->nsegs - 1]->size > 0 ? 1 : 0);
    int start;
    if (ts == -1) {
        start = n - 1;
    } else if (ts == -2) {
        start = n > 0 ? 0 : -1;
    } else {
        for (start = n - 1; start >= 0; start--) {
            int64_t t = start < l->nsegs ? log_segment_mtime_ms(l->segs[start]) : now_ms;
            if (t <= ts)
                break;
        }
    }
    int k = 0;
    for (int i = start; i >= 0 && k < max; i--) {
        int64_t off = i < l->nsegs ? l->segs[i]->base_offset : l->end_offset;
        out[k++] = off > l->start_offset ? off : l->start_offset;
    }
    pthread_mutex_unlock(&l->mu);
    return k;
}

int64_t plog_segment_base(plog *l, int64_t offset)
{
    pthread_mutex_lock(&l->mu);
    int i = plog_seg_floor(l, offset);
    int64_t v = l->nsegs == 0 ? -1 : l->segs[i < 0 ? 0 : i]->base_offset;
    pthread_mutex_unlock(&l->mu);
    return v;
}

int64_t plog_recovery_point(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t v = l->recovery_point;
    pthread_mutex_unlock(&l->mu);
    return v;
}

int64_t plog_size_bytes(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t v = 0;
    for (int i = 0; i < l->nsegs; i++)
        v += l->segs[i]->size;
    pthread_mutex_unlock(&l->mu);
    return v;
}

int plog_segment_count(plog *l)
{
    pthread_mutex_lock(&l->mu);
    int v = l->nsegs;
    pthread_mutex_unlock(&l->mu);
    return v;
}

const char *plog_failure(plog *l)
{
    pthread_mutex_lock(&l->mu);
    const char *v = l->failed ? l->failure : NULL;
    pthread_mutex_unlock(&l->mu);
    return v;
}

bool plog_no_space(plog *l, char *why, size_t why_len)
{
    pthread_mutex_lock(&l->mu);
    bool v = l->no_space;
    if (v && why && why_len)
        snprintf(why, why_len, "%s", l->no_space_why);
    pthread_mutex_unlock(&l->mu);
    return v;
}

const char *plog_dir(plog *l)
{
    return l->dir;
}

void plog_test_fail_next_write(plog *l)
{
    plog_test_fail_next_write_with(l, EIO);
}

void plog_test_fail_next_write_with(plog *l, int err)
{
    pthread_mutex_lock(&l->mu);
    l->fail_next_write = err;
    pthread_mutex_unlock(&l->mu);
}

void plog_test_fail_next_fsync(plog *l)
{
    pthread_mutex_lock(&l->mu);
    l->fail_next_fsync = true;
    pthread_mutex_unlock(&l->mu);
}

/* ---- retention, start, truncation ---- */

/* Drop segs[0, n) (never the active one) and raise the start offset. */
static int plog_drop_prefix_locked(plog *l, int n, log_segment ***victims)
{
    assert(n < l->nsegs);
    int rc;
    *victims = plog_segs_take(l, 0, n, &rc);
    if (rc != LOG_OK)
        return rc;
    if (l->segs[0]->base_offset > l->start_offset)
        l->start_offset = l->segs[0]->base_offset;
    if (l->recovery_point < l->start_offset)
        l->recovery_point = l->start_offset;    /* nothing below start needs recovery */
    plog_max_ts_recompute(l);
    return LOG_OK;
}

int plog_enforce_retention(plog *l, int64_t now_ms)
{
    plog_reap_deleted(l, false);
    pthread_mutex_lock(&l->mu);
    int n = 0;
    if (!l->cfg.delete_policy) {
        pthread_mutex_unlock(&l->mu);
        return 0; /* cleanup.policy=compact: the log keeps its history */
    }
    if (l->cfg.retention_ms >= 0) {
        while (n < l->nsegs - 1 &&
               log_segment_largest_ts(l->segs[n]) < now_ms - l->cfg.retention_ms)
            n++;
        /* Every record expired, the active segment's too: roll, so that it
         * goes as well and the log start reaches the end (as Kafka). */
        log_segment *act = plog_active(l);
        if (n == l->nsegs - 1 && act->size > 0 && !l->failed && !l->no_space &&
            log_segment_largest_ts(act) < now_ms - l->cfg.retention_ms && plog_roll_locked(l) == LOG_OK)
            n++;
    }
    if (l->cfg.retention_bytes >= 0) {
        int64_t total = 0;
        for (int i = n; i < l->nsegs; i++)
            total += l->segs[i]->size;
        while (n < l->nsegs - 1 && total - l->segs[n]->size >= l->cfg.retention_bytes) {
            total -= l->segs[n]->size;
            n++;
        }
    }
    log_segment **victims = NULL;
    int rc = n > 0 ? plog_drop_prefix_locked(l, n, &victims) : LOG_OK;
    int64_t start = l->start_offset;
    pthread_mutex_unlock(&l->mu);
    if (rc != LOG_OK)
        return 0;
    if (n > 0) {
        plog_logf(GLOG_INFO, "%s: retention deleted %d segment%s, log start now %lld", l->dir,
                  n, n == 1 ? "" : "s", (long long)start);
        plog_segs_destroy(l, victims, n);
    }
    return n;
}

int plog_advance_start(plog *l, int64_t offset)
{
    pthread_mutex_lock(&l->mu);
    if (offset > l->end_offset) {
        pthread_mutex_unlock(&l->mu);
        return LOG_ERR_OUT_OF_RANGE;
    }
    if (offset > l->start_offset)
        l->start_offset = offset;
    int n = 0;
    while (n < l->nsegs - 1 && l->segs[n + 1]->base_offset <= offset)
        n++;
    log_segment **victims = NULL;
    int rc = n > 0 ? plog_drop_prefix_locked(l, n, &victims) : LOG_OK;
    pthread_mutex_unlock(&l->mu);
    if (rc != LOG_OK)
        return 0;
    if (n > 0)
        plog_segs_destroy(l, victims, n);
    return n;
}

/* A fresh empty segment at offset replaces every segment. offset is below
 * every segment (a truncation to before the log) or beyond the log's end
 * (plog_reset): either way no old file name collides with the new one. */
static int plog_replace_all_locked(plog *l, int64_t offset, log_segment ***victims, int *nv)
{
    assert(offset < l->segs[0]->base_offset || offset > l->end_offset);
    log_segment *s;
    int err = log_segment_create(l->dir, offset, &l->cfg, &s);
    if (err) {
        plog_fail_locked(l, "creating segment %020lld in %s failed: %s", (long long)offset,
                         l->dir, strerror(err));
        return LOG_ERR_IO;
    }
    int rc;
    int n = l->nsegs;
    *victims = plog_segs_take(l, 0, n, &rc);
    if (rc != LOG_OK) {
        log_segment_delete_files(s, false);
        log_segment_unref(s);
        return rc;
    }
    *nv = n;
    rc = plog_segs_push(l, s);  /* cannot fail: the array has room */
    assert(rc == LOG_OK);
    l->start_offset = l->end_offset = l->recovery_point = offset;
    return LOG_OK;
}

/* Cut segs[i] at the batch holding offset (or its end) and drop later segments. */
static int plog_truncate_in_locked(plog *l, int i, int64_t offset, log_segment ***victims,
                                   int *nv)
{
    log_segment *s = l->segs[i];
    int64_t pos;
    int32_t len;
    int err = log_segment_find(s, offset, s->size, s->index_entries,
                               log_segment_find_hint_locked(s, offset, s->size), &pos, &len);
    if (err) {
        plog_fail_locked(l, "reading %s during truncation failed: %s", s->path_log, strerror(err));
        return LOG_ERR_IO;
    }
    int rc;
    int n = l->nsegs - i - 1;
    *victims = plog_segs_take(l, i + 1, n, &rc);
    if (rc != LOG_OK)
        return rc;
    *nv = n;
    err = log_segment_truncate(s, pos >= 0 ? pos : s->size, l->cfg.index_interval_bytes);
    if (!err)
        err = log_segment_activate(s, &l->cfg);
    if (err) {
        plog_fail_locked(l, "truncating %s failed: %s", s->path_log, strerror(err));
        return LOG_ERR_IO;
    }
    s->created_ms = -1;
    l->end_offset = s->next_offset;
    return LOG_OK;
}

int plog_truncate(plog *l, int64_t offset)
{
    pthread_mutex_lock(&l->mu);
    int rc = LOG_OK;
    log_segment **victims = NULL;
    int nv = 0;
    if (offset >= l->end_offset)
        goto out_unlock;
    if (l->failed) {
        rc = LOG_ERR_FAILED;
        goto out_unlock;
    }
    l->truncate_gen++;
    if (offset < 0)
        offset = 0;
    int i = plog_seg_floor(l, offset);
    if (i < 0)
        rc = plog_replace_all_locked(l, offset, &victims, &nv);
    else
        rc = plog_truncate_in_locked(l, i, offset, &victims, &nv);
    /* Delete the dropped files now, under the lock: a roll after the unlock
     * may create a segment with one of their names. */
    for (int k = 0; k < nv; k++) {
        int err = log_segment_delete_files(victims[k], false);
        if (err)
            plog_logf(GLOG_WARN, "deleting segment %s: %s", victims[k]->path_log, strerror(err));
    }
    if (l->recovery_point > l->end_offset)
        l->recovery_point = l->end_offset;
    if (l->start_offset > l->end_offset)
        l->start_offset = l->end_offset;
    plog_max_ts_recompute(l);
    l->dir_dirty = true;
    plog_logf(GLOG_INFO, "%s: truncated to offset %lld (asked %lld)", l->dir,
              (long long)l->end_offset, (long long)offset);
out_unlock:
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < nv; k++)
        log_segment_unref(victims[k]);
    free(victims);
    return rc;
}

int plog_reset(plog *l, int64_t offset)
{
    int rc = plog_truncate(l, offset);
    if (rc != LOG_OK)
        return rc;
    pthread_mutex_lock(&l->mu);
    log_segment **victims = NULL;
    int nv = 0;
    if (l->failed)
        rc = LOG_ERR_FAILED;
    else if (offset > l->end_offset)
        rc = plog_replace_all_locked(l, offset, &victims, &nv);
    for (int k = 0; k < nv; k++) {
        int err = log_segment_delete_files(victims[k], false);
        if (err)
            plog_logf(GLOG_WARN, "deleting segment %s: %s", victims[k]->path_log, strerror(err));
    }
    if (nv > 0) {
        l->truncate_gen++;
        plog_max_ts_recompute(l);
        l->dir_dirty = true;
    }
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < nv; k++)
        log_segment_unref(victims[k]);
    free(victims);
    if (rc == LOG_OK && plog_start_offset(l) < offset)
        plog_advance_start(l, offset);
    return rc;
}

/* ---- compaction: the cleaner's view of the log and the segment swap ---- */

int plog_closed_segments(plog *l, plog_segview **out)
{
    pthread_mutex_lock(&l->mu);
    int n = l->nsegs - 1;
    plog_segview *v = n > 0 ? calloc((size_t)n, sizeof *v) : NULL;
    if (n > 0 && !v) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        log_segment *g = l->segs[i];
        log_segment_ref(g);
        v[i] = (plog_segview){ g, g->log_fd, g->base_offset, g->next_offset, g->size,
                               log_segment_largest_ts(g) };
    }
    pthread_mutex_unlock(&l->mu);
    *out = v;
    return n > 0 ? n : 0;
}

void plog_segviews_release(plog_segview *v, int n)
{
    for (int i = 0; i < n; i++)
        log_segment_unref(v[i].seg);
    free(v);
}

bool plog_cleaned_path(plog *l, int64_t base, const char *ext, char *buf, size_t len)
{
    return log_segment_path(buf, len, l->dir, base, ext);
}

/* Test hook: GREGOR_TEST_SWAP_CRASH=<step> ends the process (as kill -9
 * would, no cleanup) at that step of every swap, so the integration tests
 * can prove each crash point recovers (tests/integration/
 * test_compaction_crash.py). Steps: 1 the .cleaned files written, 2 renamed
 * .swap, 3 the old segments' files deleted, 4 the indexes renamed into
 * place but not the .log. */
static void swap_crash_point(int step)
{
    const char *h = getenv("GREGOR_TEST_SWAP_CRASH");
    if (h && atoi(h) == step) {
        plog_logf(GLOG_WARN, "GREGOR_TEST_SWAP_CRASH: stopping dead at swap step %d", step);
        _exit(137);
    }
}

/* Under mu: where old[0..n) sit, consecutive and closed, in the list; -1
 * when retention, truncation or another swap changed them. */
static int plog_find_run_locked(plog *l, const plog_segview *old, int n)
{
    for (int at = 0; at + n < l->nsegs; at++) {
        if (l->segs[at] != old[0].seg)
            continue;
        for (int i = 1; i < n; i++)
            if (l->segs[at + i] != old[i].seg)
                return -1;
        return at;
    }
    return -1;
}

/*
 * The swap, Kafka's protocol. Every step leaves the directory in a state
 * recovery resolves to either the old segments or the new one:
 *   1. the cleaner wrote and fsynced <base>.log.cleaned (+ .txnindex.cleaned);
 *      here its indexes are built into .index.cleaned/.timeindex.cleaned.
 *      A crash: *.cleaned are leftovers, removed at open; the old stay.
 *   2. every .cleaned is renamed .swap, the directory fsynced. From here a
 *      crash completes the swap at open (plog_finish_swaps).
 *   3. under the log's lock the new segment takes the old ones' place in
 *      the list; readers holding an old segment keep its open file (and
 *      stop trusting its index files, which are about to change).
 *   4. the old files are deleted, the .swap files renamed to their final
 *      names, the directory fsynced.
 */
int plog_swap_cleaned(plog *l, const plog_segview *old, int n, int64_t end, bool txnindex, char *why,
                      size_t whylen)
{
    /* .end: the offset the replaced segments end at (text), for a recovery
     * that completes the swap: the cleaned segment's own last batch may lie
     * well before it, when the group's last records were all dropped. */
    static const char *const exts[] = { ".end", ".index", ".timeindex", ".txnindex", ".log" };
    enum { E_END, E_INDEX, E_TIME, E_TXN, E_LOG, E_N };
    char cl[E_N][PATH_MAX], sw[E_N][PATH_MAX], fin[E_N][PATH_MAX];
    int64_t base = old[0].base;
    for (int i = 0; i < E_N; i++) {
        char ext[32];
        log_segment_path(fin[i], sizeof fin[i], l->dir, base, exts[i]);
        snprintf(ext, sizeof ext, "%s.cleaned", exts[i]);
        log_segment_path(cl[i], sizeof cl[i], l->dir, base, ext);
        snprintf(ext, sizeof ext, "%s.swap", exts[i]);
        log_segment_path(sw[i], sizeof sw[i], l->dir, base, ext);
    }
    log_segment *ns = NULL;
    int rc = LOG_ERR_IO;
    {
        FILE *f = fopen(cl[E_END], "w");
        bool ok = f && fprintf(f, "%lld\n", (long long)end) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok) {
            snprintf(why, whylen, "writing %.300s: %s", cl[E_END], strerror(errno));
            goto out_cleaned;
        }
    }

    pthread_mutex_lock(&l->mu);
    int at = l->failed ? -1 : plog_find_run_locked(l, old, n);
    int32_t interval = l->cfg.index_interval_bytes;
    pthread_mutex_unlock(&l->mu);
    if (at < 0) {
        snprintf(why, whylen, "the log changed while it was cleaned");
        rc = LOG_ERR_BUSY;
        goto out_cleaned;
    }
    /* 1: the new segment over the .cleaned file, its indexes beside it. */
    int fd = open(cl[E_LOG], O_RDWR | O_CLOEXEC);
    if (fd < 0 || log_segment_adopt(l->dir, base, fd, &ns) != 0) {
        snprintf(why, whylen, "opening %s: %s", cl[E_LOG], strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out_cleaned;
    }
    seg_scan_result res;
    int err = log_segment_rebuild_into(ns, interval, &res, cl[E_INDEX], cl[E_TIME]);
    if (err || res.stop_reason) {
        snprintf(why, whylen, "the cleaned segment %s does not read back: %s", cl[E_LOG],
                 err ? strerror(err) : res.stop_reason);
        goto out_cleaned;
    }
    ns->flushed_size = ns->size; /* the cleaner fsynced it */
    swap_crash_point(1);
    /* 2: the .log last: its .swap name decides the swap. */
    for (int i = 0; i < E_N; i++) {
        if (i == E_TXN && !txnindex)
            continue;
        if (rename(cl[i], sw[i]) != 0) {
            snprintf(why, whylen, "renaming %s: %s", cl[i], strerror(errno));
            for (int j = 0; j < i; j++)
                unlink(sw[j]);
            goto out_cleaned;
        }
    }
    if ((err = seg_fsync_dir(l->dir)) != 0) {
        /* The swap may or may not be durable: a crash would complete it,
         * going on completes it too. */
        plog_logf(GLOG_WARN, "fsync of %s failed (%s); completing the swap", l->dir, strerror(err));
    }
    swap_crash_point(2);
    /* 3 */
    pthread_mutex_lock(&l->mu);
    at = l->failed ? -1 : plog_find_run_locked(l, old, n);
    if (at < 0) {
        pthread_mutex_unlock(&l->mu);
        /* Retention or a truncation took some of the old segments between
         * the checks: the cleaned copy may hold offsets the log no longer
         * has. Drop it (a crash before this unlink completes the swap at
         * open, which only brings back records below the log start). */
        unlink(sw[E_LOG]); /* first: it decides */
        for (int i = 0; i < E_LOG; i++)
            unlink(sw[i]);
        snprintf(why, whylen, "the log changed while it was cleaned");
        log_segment_unref(ns);
        return LOG_ERR_BUSY;
    }
    for (int i = 0; i < n; i++)
        atomic_store(&old[i].seg->no_index, true);
    l->segs[at] = ns;
    memmove(l->segs + at + 1, l->segs + at + n, (size_t)(l->nsegs - at - n) * sizeof *l->segs);
    l->nsegs -= n - 1;
    l->dir_dirty = true;
    plog_max_ts_recompute(l);
    pthread_mutex_unlock(&l->mu);
    /* 4: the list's references to the old segments are ours now. */
    for (int i = 0; i < n; i++) {
        err = plog_delete_seg_files(l, old[i].seg);
        if (err)
            plog_logf(GLOG_WARN, "deleting cleaned-away segment %s: %s", old[i].seg->path_log, strerror(err));
        log_segment_unref(old[i].seg);
    }
    /* The indexes first: while the .log still has its .swap name, a crash
     * removes them and the open rebuilds them. */
    swap_crash_point(3);
    static const int order[] = { E_INDEX, E_TIME, E_LOG, E_TXN };
    for (int k = 0; k < 4; k++) {
        if (order[k] == E_TXN && !txnindex)
            continue;
        if (k == 2)
            swap_crash_point(4);
        if (rename(sw[order[k]], fin[order[k]]) != 0)
            plog_logf(GLOG_WARN, "renaming %s into place: %s", sw[order[k]], strerror(errno));
    }
    unlink(sw[E_END]); /* after the .log's rename: recovery needs it until then */
    if ((err = seg_fsync_dir(l->dir)) != 0)
        plog_logf(GLOG_WARN, "fsync of %s after a swap failed: %s", l->dir, strerror(err));
    atomic_store(&ns->no_index, false);
    return LOG_OK;

out_cleaned:
    for (int i = 0; i < E_N; i++)
        unlink(cl[i]);
    if (ns)
        log_segment_unref(ns);
    return rc;
}
