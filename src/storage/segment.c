/*
 * segment.c - one log segment's files: create/open, append, index lookups,
 * the recovery scan that rebuilds indexes, truncation, deletion, refcount.
 *
 * Owns: a segment's .log fd, its in-memory indexes while active, and the
 * on-disk contents of its three files. It does not lock: every function that
 * touches the guarded fields of struct log_segment runs under the owning
 * plog's mutex, except log_segment_find and log_segment_time_lookup, which
 * read only the files, bounded by the limit, entry counts and hint the caller
 * captured under that mutex (see log.c).
 *
 * Invariant kept by every writer here: an index entry is written only after
 * the log bytes it points at were written, and index positions stay below
 * size. Index files are never trusted blindly: readers validate positions
 * against the readable limit and fall back to a scan from position 0.
 */
#include "storage/segment.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/batch.h"

_Static_assert(BATCH_HEADER_BYTES == 61, "record batch v2 header is 61 bytes");
_Static_assert(SEG_INDEX_ENTRY_BYTES == 4 + 4, "index entry: int32 + int32");
_Static_assert(SEG_TIMEINDEX_ENTRY_BYTES == 8 + 4, "time index entry: int64 + int32");

/* Byte offsets into a batch header, from batch.h. */
enum {
    HDR_BASE_OFFSET = 0,
    HDR_LENGTH = 8,
    HDR_MAGIC = 16,
    HDR_LAST_OFFSET_DELTA = 23,
    HDR_MAX_TIMESTAMP = 35,
};

/* ---- byte order and I/O helpers ---- */

int64_t seg_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

int32_t seg_be32(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                     ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

void seg_put_be64(uint8_t *p, int64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)((uint64_t)v & 0xff);
        v = (int64_t)((uint64_t)v >> 8);
    }
}

void seg_put_be32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

/* Read up to len bytes at pos; short only at end of file. -1 + errno on error. */
static ssize_t pread_full(int fd, void *buf, size_t len, int64_t pos)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(pos + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Write all len bytes at pos; returns 0 or an errno value. */
static int pwrite_full(int fd, const void *buf, size_t len, int64_t pos)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done,
                           (off_t)(pos + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        done += (size_t)n;
    }
    return 0;
}

static int ftruncate_retry(int fd, int64_t len)
{
    while (ftruncate(fd, (off_t)len) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

int seg_fsync_fd(int fd)
{
    while (fsync(fd) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* open(2) retried on EINTR; -1 with errno set on failure. */
static int open_retry(const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/* Open path with flags, fsync it, close it; 0 or errno (ENOENT included). */
static int fsync_by_path(const char *path, int flags)
{
    int fd = open_retry(path, flags, 0);
    if (fd < 0)
        return errno;
    int err = seg_fsync_fd(fd);
    close(fd);
    return err;
}

int seg_fsync_dir(const char *dir)
{
    return fsync_by_path(dir, O_RDONLY | O_DIRECTORY);
}

static int file_size(int fd, int64_t *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    *out = (int64_t)st.st_size;
    return 0;
}

/* ---- the buffered reader ---- */

void seg_reader_init(seg_reader *r, int fd, int64_t limit, uint8_t *buf, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->limit = limit;
    r->buf = buf;
    r->cap = cap;
    r->cap_max = cap;
}

int seg_reader_init_heap(seg_reader *r, int fd, int64_t limit, size_t cap, size_t cap_max)
{
    uint8_t *buf = malloc(cap);
    if (!buf)
        return ENOMEM;
    seg_reader_init(r, fd, limit, buf, cap);
    r->cap_max = cap_max > cap ? cap_max : cap;
    r->owned = true;
    return 0;
}

void seg_reader_deinit(seg_reader *r)
{
    if (r->owned)
        free(r->buf);
    r->buf = NULL;
}

const uint8_t *seg_reader_get(seg_reader *r, int64_t pos, size_t n)
{
    if (pos < 0 || (int64_t)n > r->limit || pos > r->limit - (int64_t)n)
        return NULL;
    if (pos >= r->buf_pos && (uint64_t)(pos - r->buf_pos) + n <= r->buf_len)
        return r->buf + (pos - r->buf_pos);
    if (n > r->cap) {
        if (!r->owned || n > r->cap_max) {
            r->err = EFBIG;
            return NULL;
        }
        size_t cap = r->cap * 2 > n ? r->cap * 2 : n;
        if (cap > r->cap_max)
            cap = r->cap_max;
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb) {
            r->err = ENOMEM;
            return NULL;
        }
        r->buf = nb;
        r->cap = cap;
    }
    size_t want = r->cap;
    if ((int64_t)want > r->limit - pos)
        want = (size_t)(r->limit - pos);
    r->buf_len = 0;
    ssize_t got = pread_full(r->fd, r->buf, want, pos);
    if (got < 0) {
        r->err = errno;
        return NULL;
    }
    r->buf_pos = pos;
    r->buf_len = (size_t)got;
    if ((size_t)got < n)
        return NULL;
    return r->buf;
}

/* ---- names ---- */

bool log_segment_path(char *buf, size_t len, const char *dir, int64_t base, const char *ext)
{
    assert(base >= 0);
    int n = snprintf(buf, len, "%s/%020lld%s", dir, (long long)base, ext);
    return n > 0 && (size_t)n < len;
}

bool log_segment_parse_name(const char *name, const char *ext, int64_t *base_out)
{
    size_t ext_len = strlen(ext);
    if (strlen(name) != SEG_NAME_DIGITS + ext_len || strcmp(name + SEG_NAME_DIGITS, ext) != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *base_out = (int64_t)v;
    return true;
}

/* ---- lifetime ---- */

static log_segment *segment_alloc(const char *dir, int64_t base)
{
    log_segment *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t len = strlen(dir) + SEG_NAME_DIGITS + 16;
    s->path_log = malloc(len);
    s->path_index = malloc(len);
    s->path_timeindex = malloc(len);
    if (!s->path_log || !s->path_index || !s->path_timeindex)
        goto out_free;
    if (!log_segment_path(s->path_log, len, dir, base, ".log") ||
        !log_segment_path(s->path_index, len, dir, base, ".index") ||
        !log_segment_path(s->path_timeindex, len, dir, base, ".timeindex"))
        goto out_free;
    s->base_offset = base;
    s->log_fd = -1;
    atomic_init(&s->refs, 1);
    atomic_init(&s->no_index, false);
    s->next_offset = base;
    s->timeindex_last_ts = -1;
    s->max_ts = -1;
    s->max_ts_offset = -1;
    s->created_ms = -1;
    s->first_ts = -1;
    s->scrubbed_ms = -1;
    s->damaged_pos = -1;
    return s;
out_free:
    free(s->path_log);
    free(s->path_index);
    free(s->path_timeindex);
    free(s);
    return NULL;
}

static void segment_free(log_segment *s)
{
    if (s->log_fd >= 0)
        close(s->log_fd);
    free(s->idx_mem);
    free(s->tidx_mem);
    free(s->path_log);
    free(s->path_index);
    free(s->path_timeindex);
    free(s);
}

void log_segment_ref(log_segment *s)
{
    int old = atomic_fetch_add(&s->refs, 1);
    assert(old >= 1);
    (void)old;
}

void log_segment_unref(log_segment *s)
{
    if (!s)
        return;
    int old = atomic_fetch_sub(&s->refs, 1);
    assert(old >= 1);
    if (old == 1)
        segment_free(s);
}

static int segment_open_log(log_segment *s, int extra_flags)
{
    s->log_fd = open_retry(s->path_log, O_RDWR | O_CREAT | extra_flags, 0644);
    return s->log_fd < 0 ? errno : 0;
}

/* An index file for reading, or -1 (errno set). */
static int index_open_read(const char *path)
{
    return open_retry(path, O_RDONLY, 0);
}

int log_segment_create(const char *dir, int64_t base, const log_config *cfg, log_segment **out)
{
    log_segment *s = segment_alloc(dir, base);
    if (!s)
        return ENOMEM;
    int err = segment_open_log(s, O_TRUNC);
    if (err)
        goto out_free;
    /* preallocate: reserve the segment's blocks without changing the file's
     * size (everything here reads the size as the data's end); a file
     * system that cannot is simply not preallocated. */
    if (cfg->preallocate && cfg->segment_bytes > 0 &&
        fallocate(s->log_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)cfg->segment_bytes) == 0)
        s->preallocated = true;
    s->index_dirty = true;      /* no index files yet: deactivate writes any entries */
    err = log_segment_activate(s, cfg);
    if (err)
        goto out_free;
    *out = s;
    return 0;
out_free:
    segment_free(s);
    return err;
}

int log_segment_adopt(const char *dir, int64_t base, int fd, log_segment **out)
{
    log_segment *s = segment_alloc(dir, base);
    if (!s)
        return ENOMEM;
    s->log_fd = fd;
    atomic_store(&s->no_index, true);
    *out = s;
    return 0;
}

int log_segment_open(const char *dir, int64_t base, log_segment **out)
{
    log_segment *s = segment_alloc(dir, base);
    if (!s)
        return ENOMEM;
    int err = segment_open_log(s, 0);
    if (err) {
        segment_free(s);
        return err;
    }
    *out = s;
    return 0;
}

/* ---- scanning ---- */

typedef struct seg_scan {
    log_segment *s;
    bool verify;                /* check CRCs: needs whole batches in the buffer */
    bool build_index;           /* collect index entries into idx/tidx */
    int32_t interval;
    int64_t pos;                /* next batch position */
    int64_t min_offset;         /* the next batch's base must be >= this */
    int64_t max_ts, max_ts_offset, tlast_ts, bytes_since;
    int64_t batches;
    uint8_t *idx, *tidx;
    size_t idx_n, idx_cap, tidx_n, tidx_cap;    /* entries */
    const char *stop_reason;
    int64_t bad_bytes;          /* the bad batch's length when its header was sound, else 0 */
    int64_t bad_base;           /* its base offset then, else -1 */
} seg_scan;

static bool scan_push(uint8_t **arr, size_t *n, size_t *cap, size_t entry, const uint8_t *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        uint8_t *na = realloc(*arr, nc * entry);
        if (!na)
            return false;
        *arr = na;
        *cap = nc;
    }
    memcpy(*arr + *n * entry, e, entry);
    (*n)++;
    return true;
}

/* Check one header at pos; *total_out on success, a reason otherwise. */
static const char *scan_header_check(const seg_scan *sc, const uint8_t *h, int64_t file_bytes,
                                     int32_t *total_out)
{
    int32_t length = seg_be32(h + HDR_LENGTH);
    if (length < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD)
        return "bad batch length";
    if (h[HDR_MAGIC] != 2)
        return "bad magic";
    int64_t total = BATCH_LOG_OVERHEAD + (int64_t)length;
    if (sc->pos + total > file_bytes)
        return "torn batch at the end of the file";
    int64_t base = seg_be64(h + HDR_BASE_OFFSET);
    int32_t lod = seg_be32(h + HDR_LAST_OFFSET_DELTA);
    if (lod < 0 || base < sc->min_offset)
        return "batch offsets not increasing";
    if (base + lod - sc->s->base_offset > INT32_MAX)
        return "offset too far from the segment base";
    if (total > INT32_MAX)
        return "bad batch length";
    *total_out = (int32_t)total;
    return NULL;
}

/* Account for one valid batch at sc->pos: max timestamp and index entries. */
static int scan_account(seg_scan *sc, const uint8_t *h, int32_t total)
{
    log_segment *s = sc->s;
    int64_t base = seg_be64(h + HDR_BASE_OFFSET);
    int64_t last = base + seg_be32(h + HDR_LAST_OFFSET_DELTA);
    int64_t mts = seg_be64(h + HDR_MAX_TIMESTAMP);
    if (mts > sc->max_ts) {
        sc->max_ts = mts;
        sc->max_ts_offset = last; /* Kafka's time index names a batch by its last offset */
    }
    if (sc->build_index && sc->bytes_since > sc->interval) {
        uint8_t e[SEG_TIMEINDEX_ENTRY_BYTES];
        seg_put_be32(e, (int32_t)(last - s->base_offset));
        seg_put_be32(e + 4, (int32_t)sc->pos);
        if (!scan_push(&sc->idx, &sc->idx_n, &sc->idx_cap, SEG_INDEX_ENTRY_BYTES, e))
            return ENOMEM;
        if (sc->max_ts > sc->tlast_ts) {
            seg_put_be64(e, sc->max_ts);
            seg_put_be32(e + 8, (int32_t)(sc->max_ts_offset - s->base_offset));
            if (!scan_push(&sc->tidx, &sc->tidx_n, &sc->tidx_cap, SEG_TIMEINDEX_ENTRY_BYTES, e))
                return ENOMEM;
            sc->tlast_ts = sc->max_ts;
        }
        sc->bytes_since = 0;
    }
    sc->bytes_since += total;
    sc->min_offset = last + 1;
    sc->batches++;
    sc->pos += total;
    return 0;
}

/* Walk batches from sc->pos to file_bytes; stops at the first bad one. */
static int scan_run(seg_scan *sc, int64_t file_bytes)
{
    seg_reader r;
    size_t cap_max = file_bytes > INT32_MAX ? INT32_MAX : (size_t)file_bytes;
    int err = seg_reader_init_heap(&r, sc->s->log_fd, file_bytes,
                                   sc->verify ? SEG_SCAN_BUF_BYTES : 64 * 1024, cap_max);
    if (err)
        return err;
    while (sc->pos < file_bytes) {
        const uint8_t *h = seg_reader_get(&r, sc->pos, BATCH_HEADER_BYTES);
        if (!h) {
            if (r.err) {
                err = r.err;
                goto out;
            }
            sc->stop_reason = "torn batch header at the end of the file";
            break;
        }
        int32_t total = 0;
        sc->stop_reason = scan_header_check(sc, h, file_bytes, &total);
        if (sc->stop_reason)
            break;
        if (sc->verify) {
            h = seg_reader_get(&r, sc->pos, (size_t)total);
            if (!h) {
                err = r.err ? r.err : EIO;
                goto out;
            }
            batch_info info;
            int berr = batch_check_crc(h, (size_t)total, &info);
            if (berr != BATCH_OK) {
                sc->stop_reason = batch_err_str(berr);
                sc->bad_bytes = total;
                sc->bad_base = seg_be64(h + HDR_BASE_OFFSET);
                break;
            }
        }
        err = scan_account(sc, h, total);
        if (err)
            goto out;
    }
out:
    seg_reader_deinit(&r);
    return err;
}

static void scan_init(seg_scan *sc, log_segment *s, bool verify, bool build_index,
                      int32_t interval, int64_t min_offset)
{
    memset(sc, 0, sizeof *sc);
    sc->s = s;
    sc->verify = verify;
    sc->build_index = build_index;
    sc->interval = interval;
    sc->min_offset = min_offset > s->base_offset ? min_offset : s->base_offset;
    sc->max_ts = -1;
    sc->max_ts_offset = -1;
    sc->tlast_ts = -1;
    sc->bad_bytes = 0;
    sc->bad_base = -1;
}

static void scan_deinit(seg_scan *sc)
{
    free(sc->idx);
    free(sc->tidx);
}

/* Replace an index file's contents with n entries of entry bytes. */
static int index_write_file(const char *path, const uint8_t *entries, size_t n, size_t entry)
{
    int fd = open_retry(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return errno;
    int err = n ? pwrite_full(fd, entries, n * entry, 0) : 0;
    if (close(fd) != 0 && !err && errno != EINTR)
        err = errno;
    return err;
}

static void index_mem_free(log_segment *s)
{
    free(s->idx_mem);
    free(s->tidx_mem);
    s->idx_mem = s->tidx_mem = NULL;
    s->idx_cap = s->tidx_cap = 0;
}

/* Whether every byte of [pos, end) reads as zero: what a crash can leave
 * after the last write, when the file grew before its data reached the disk. */
static bool tail_is_zero(int fd, int64_t pos, int64_t end)
{
    uint8_t buf[64 * 1024];
    while (pos < end) {
        size_t want = end - pos < (int64_t)sizeof buf ? (size_t)(end - pos) : sizeof buf;
        ssize_t n = pread(fd, buf, want, pos);
        if (n <= 0)
            return false;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i])
                return false;
        pos += n;
    }
    return true;
}

static int segment_rebuild(log_segment *s, bool verify, int64_t min_offset, int32_t index_interval_bytes,
                           seg_scan_result *res, const char *path_index, const char *path_timeindex);

int log_segment_rebuild(log_segment *s, bool verify, int64_t min_offset,
                        int32_t index_interval_bytes, seg_scan_result *res)
{
    return segment_rebuild(s, verify, min_offset, index_interval_bytes, res, s->path_index,
                           s->path_timeindex);
}

int log_segment_rebuild_into(log_segment *s, int32_t index_interval_bytes, seg_scan_result *res,
                             const char *path_index, const char *path_timeindex)
{
    return segment_rebuild(s, true, s->base_offset, index_interval_bytes, res, path_index, path_timeindex);
}

static int segment_rebuild(log_segment *s, bool verify, int64_t min_offset, int32_t index_interval_bytes,
                           seg_scan_result *res, const char *path_index, const char *path_timeindex)
{
    memset(res, 0, sizeof *res);
    int64_t fbytes = 0;
    int err = file_size(s->log_fd, &fbytes);
    if (err)
        return err;
    seg_scan sc;
    scan_init(&sc, s, verify, true, index_interval_bytes, min_offset);
    err = scan_run(&sc, fbytes);
    if (err)
        goto out;
    if (sc.idx_n > INT32_MAX || sc.tidx_n > INT32_MAX) {
        err = EFBIG;
        goto out;
    }
    err = index_write_file(path_index, sc.idx, sc.idx_n, SEG_INDEX_ENTRY_BYTES);
    if (!err)
        err = index_write_file(path_timeindex, sc.tidx, sc.tidx_n, SEG_TIMEINDEX_ENTRY_BYTES);
    if (err)
        goto out;
    index_mem_free(s);
    s->size = sc.pos;
    s->flushed_size = 0;
    s->next_offset = sc.batches ? sc.min_offset : s->base_offset;
    s->index_entries = s->index_entries_max = (int32_t)sc.idx_n;
    s->timeindex_entries = s->timeindex_entries_max = (int32_t)sc.tidx_n;
    s->timeindex_last_ts = sc.tlast_ts;
    s->bytes_since_index = sc.bytes_since;
    s->max_ts = sc.max_ts;
    s->max_ts_offset = sc.max_ts_offset;
    s->active = false;
    s->index_dirty = false;
    s->index_synced = false;
    res->valid_bytes = sc.pos;
    res->file_bytes = fbytes;
    res->batches = sc.batches;
    res->stop_reason = sc.stop_reason;
    res->bad_batch_bytes = sc.bad_bytes;
    res->bad_base_offset = sc.bad_base;
    res->tail_zero = sc.stop_reason && tail_is_zero(s->log_fd, sc.pos, fbytes);
    assert(s->size <= fbytes);
    assert(s->next_offset >= s->base_offset);
out:
    scan_deinit(&sc);
    return err;
}

int log_segment_verify(log_segment *s, int64_t size, int64_t *bad_pos, int64_t *bad_offset,
                       const char **why)
{
    seg_scan sc;
    scan_init(&sc, s, true, false, 0, s->base_offset);
    int err = scan_run(&sc, size);
    *bad_pos = -1;
    *bad_offset = -1;
    *why = NULL;
    if (!err && sc.stop_reason) {
        *bad_pos = sc.pos;
        *bad_offset = sc.bad_base;
        *why = sc.stop_reason;
    }
    scan_deinit(&sc);
    return err;
}

int log_segment_scan_max_ts(log_segment *s)
{
    seg_scan sc;
    scan_init(&sc, s, false, false, 0, s->base_offset);
    int err = scan_run(&sc, s->size);
    if (!err) {
        s->max_ts = sc.max_ts;
        s->max_ts_offset = sc.max_ts_offset;
    }
    scan_deinit(&sc);
    return err;
}

/* pread one index entry; false on I/O error or short file. */
static bool index_entry_read(int fd, int32_t i, int32_t *rel, int32_t *pos)
{
    uint8_t e[SEG_INDEX_ENTRY_BYTES];
    if (pread_full(fd, e, sizeof e, (int64_t)i * SEG_INDEX_ENTRY_BYTES) != (ssize_t)sizeof e)
        return false;
    *rel = seg_be32(e);
    *pos = seg_be32(e + 4);
    return true;
}

static bool timeindex_entry_read(int fd, int32_t i, int64_t *ts, int32_t *rel)
{
    uint8_t e[SEG_TIMEINDEX_ENTRY_BYTES];
    if (pread_full(fd, e, sizeof e, (int64_t)i * SEG_TIMEINDEX_ENTRY_BYTES) != (ssize_t)sizeof e)
        return false;
    *ts = seg_be64(e);
    *rel = seg_be32(e + 8);
    return true;
}

/* Sanity checks of Kafka's kind on a trimmed offset index; true if sane. */
static bool index_sane(log_segment *s, int ifd, int64_t isz, int64_t lsz, int32_t *last_pos)
{
    *last_pos = 0;
    if (isz % SEG_INDEX_ENTRY_BYTES || isz / SEG_INDEX_ENTRY_BYTES > INT32_MAX)
        return false;
    int32_t n = (int32_t)(isz / SEG_INDEX_ENTRY_BYTES);
    if (n == 0)
        return true;
    int32_t rel, pos, prel, ppos;
    if (!index_entry_read(ifd, n - 1, &rel, &pos) || rel < 0 || pos < 0 || pos >= lsz)
        return false;
    if (n > 1 && (!index_entry_read(ifd, n - 2, &prel, &ppos) || prel >= rel || ppos >= pos))
        return false;
    uint8_t h[BATCH_HEADER_BYTES];
    if (pread_full(s->log_fd, h, sizeof h, pos) != (ssize_t)sizeof h)
        return false;
    if (seg_be64(h) + seg_be32(h + HDR_LAST_OFFSET_DELTA) != s->base_offset + rel)
        return false;
    *last_pos = pos;
    return true;
}

static bool timeindex_sane(int tfd, int64_t tsz, int64_t *last_ts, int32_t *last_rel)
{
    *last_ts = -1;
    *last_rel = -1;
    if (tsz % SEG_TIMEINDEX_ENTRY_BYTES || tsz / SEG_TIMEINDEX_ENTRY_BYTES > INT32_MAX)
        return false;
    int32_t n = (int32_t)(tsz / SEG_TIMEINDEX_ENTRY_BYTES);
    if (n == 0)
        return true;
    int64_t ts, pts;
    int32_t rel, prel;
    if (!timeindex_entry_read(tfd, n - 1, &ts, &rel) || rel < 0 || ts < 0)
        return false;
    if (n > 1 && (!timeindex_entry_read(tfd, n - 2, &pts, &prel) || pts >= ts || prel > rel))
        return false;
    *last_ts = ts;
    *last_rel = rel;
    return true;
}

int log_segment_load_clean(log_segment *s, bool *trusted)
{
    *trusted = false;
    int64_t lsz = 0, isz = 0, tsz = 0;
    int err = file_size(s->log_fd, &lsz);
    if (err)
        return err;
    /* Missing index files: an empty .log needs none (deactivate writes none
     * for a segment that never had entries); otherwise not trusted (the
     * caller rebuilds them). */
    int tfd = -1;
    int ifd = index_open_read(s->path_index);
    if (ifd >= 0)
        tfd = index_open_read(s->path_timeindex);
    if (ifd < 0 || tfd < 0) {
        err = errno == ENOENT ? 0 : errno;
        if (!err && lsz == 0) {
            s->size = s->flushed_size = 0;
            s->next_offset = s->base_offset;
            s->index_entries = s->index_entries_max = 0;
            s->timeindex_entries = s->timeindex_entries_max = 0;
            s->timeindex_last_ts = s->max_ts = s->max_ts_offset = -1;
            s->bytes_since_index = 0;
            s->active = false;
            s->index_dirty = false;
            s->index_synced = true;
            *trusted = true;
        }
        goto out_close;
    }
    err = file_size(ifd, &isz);
    if (!err)
        err = file_size(tfd, &tsz);
    if (err)
        goto out_close;
    int32_t last_pos, last_rel;
    int64_t last_ts;
    bool sane = index_sane(s, ifd, isz, lsz, &last_pos) && timeindex_sane(tfd, tsz, &last_ts, &last_rel);
    close(ifd);
    close(tfd);
    if (!sane)
        return 0;
    /* From the last indexed batch to the end: headers only, must end exactly at lsz. */
    seg_scan sc;
    scan_init(&sc, s, false, false, 0, s->base_offset);
    sc.pos = last_pos;
    err = scan_run(&sc, lsz);
    bool ok = !err && !sc.stop_reason && sc.pos == lsz && (lsz == 0 || sc.batches > 0);
    if (ok) {
        s->size = lsz;
        s->flushed_size = lsz;
        s->next_offset = sc.batches ? sc.min_offset : s->base_offset;
        s->index_entries = s->index_entries_max = (int32_t)(isz / SEG_INDEX_ENTRY_BYTES);
        s->timeindex_entries = s->timeindex_entries_max = (int32_t)(tsz / SEG_TIMEINDEX_ENTRY_BYTES);
        s->timeindex_last_ts = last_ts;
        s->bytes_since_index = sc.bytes_since;
        s->max_ts = last_ts;
        s->max_ts_offset = last_ts >= 0 ? s->base_offset + last_rel : -1;
        s->active = false;
        s->index_dirty = false;
        s->index_synced = true;
        *trusted = true;
    }
    scan_deinit(&sc);
    return err;
out_close:
    if (ifd >= 0)
        close(ifd);
    if (tfd >= 0)
        close(tfd);
    return err;
}

/* ---- active segment ---- */

/* Room for one more entry in an in-memory index; ENOMEM when none. */
static int index_mem_reserve(uint8_t **arr, int32_t *cap, int32_t n, size_t entry)
{
    if (n < *cap)
        return 0;
    if (n >= INT32_MAX / 2)
        return EFBIG;
    int32_t nc = *cap ? *cap * 2 : 64;
    uint8_t *na = realloc(*arr, (size_t)nc * entry);
    if (!na)
        return ENOMEM;
    *arr = na;
    *cap = nc;
    return 0;
}

/* Read the first n entries of an index file into a new array of cap entries. */
static int index_load_file(const char *path, int32_t n, size_t entry, uint8_t **arr, int32_t *cap)
{
    int32_t c = n > 64 ? n : 64;
    uint8_t *a = malloc((size_t)c * entry);
    if (!a)
        return ENOMEM;
    int err = 0;
    if (n > 0) {
        int fd = index_open_read(path);
        if (fd < 0) {
            err = errno;
        } else {
            ssize_t got = pread_full(fd, a, (size_t)n * entry, 0);
            if (got < 0)
                err = errno;
            else if (got != (ssize_t)((size_t)n * entry))
                err = EIO;  /* shorter than the entries counted when it was loaded */
            close(fd);
        }
    }
    if (err) {
        free(a);
        return err;
    }
    *arr = a;
    *cap = c;
    return 0;
}

int log_segment_activate(log_segment *s, const log_config *cfg)
{
    int32_t imax = cfg->segment_index_bytes / SEG_INDEX_ENTRY_BYTES;
    int32_t tmax = cfg->segment_index_bytes / SEG_TIMEINDEX_ENTRY_BYTES;
    if (imax < 1)
        imax = 1;
    if (tmax < 1)
        tmax = 1;
    if (imax < s->index_entries)
        imax = s->index_entries;
    if (tmax < s->timeindex_entries)
        tmax = s->timeindex_entries;
    if (!s->idx_mem) {
        /* A segment created here has no entries and no files: nothing to read. */
        int err = index_load_file(s->path_index, s->index_entries, SEG_INDEX_ENTRY_BYTES,
                                  &s->idx_mem, &s->idx_cap);
        if (!err)
            err = index_load_file(s->path_timeindex, s->timeindex_entries,
                                  SEG_TIMEINDEX_ENTRY_BYTES, &s->tidx_mem, &s->tidx_cap);
        if (err) {
            index_mem_free(s);
            return err;
        }
    }
    s->index_entries_max = imax;
    s->timeindex_entries_max = tmax;
    s->active = true;
    return 0;
}

static int timeindex_append(log_segment *s, int64_t ts, int64_t offset)
{
    assert(s->active);
    assert(ts > s->timeindex_last_ts);
    assert(offset >= s->base_offset && offset - s->base_offset <= INT32_MAX);
    int err = index_mem_reserve(&s->tidx_mem, &s->tidx_cap, s->timeindex_entries,
                                SEG_TIMEINDEX_ENTRY_BYTES);
    if (err)
        return err;
    uint8_t *e = s->tidx_mem + (size_t)s->timeindex_entries * SEG_TIMEINDEX_ENTRY_BYTES;
    seg_put_be64(e, ts);
    seg_put_be32(e + 8, (int32_t)(offset - s->base_offset));
    s->timeindex_entries++;
    s->timeindex_last_ts = ts;
    s->index_dirty = true;
    return 0;
}

/* A rebuilt (inactive) segment's final time index entry, appended to its file. */
static int timeindex_file_append_final(log_segment *s)
{
    if (s->max_ts < 0 || s->max_ts <= s->timeindex_last_ts)
        return 0;
    uint8_t e[SEG_TIMEINDEX_ENTRY_BYTES];
    seg_put_be64(e, s->max_ts);
    seg_put_be32(e + 8, (int32_t)(s->max_ts_offset - s->base_offset));
    int fd = open_retry(s->path_timeindex, O_WRONLY, 0);
    if (fd < 0)
        return errno;
    int err = pwrite_full(fd, e, sizeof e, (int64_t)s->timeindex_entries * SEG_TIMEINDEX_ENTRY_BYTES);
    if (close(fd) != 0 && !err && errno != EINTR)
        err = errno;
    if (err)
        return err;
    s->timeindex_entries++;
    s->timeindex_entries_max = s->timeindex_entries;
    s->timeindex_last_ts = s->max_ts;
    s->index_synced = false;
    return 0;
}

int log_segment_deactivate(log_segment *s)
{
    if (!s->active)
        return timeindex_file_append_final(s);
    int err = 0;
    /* Kafka's final entry: the time index then records the segment's max timestamp. */
    if (s->max_ts >= 0 && s->max_ts > s->timeindex_last_ts)
        err = timeindex_append(s, s->max_ts, s->max_ts_offset);
    if (!err && s->index_dirty && s->index_entries == 0 && s->timeindex_entries == 0) {
        /* A segment created empty that got no entries (an idle partition):
         * no files to write; load_clean trusts missing indexes of an empty .log. */
        s->index_dirty = false;
    } else if (!err && s->index_dirty) {
        err = index_write_file(s->path_index, s->idx_mem, (size_t)s->index_entries,
                               SEG_INDEX_ENTRY_BYTES);
        if (!err)
            err = index_write_file(s->path_timeindex, s->tidx_mem, (size_t)s->timeindex_entries,
                                   SEG_TIMEINDEX_ENTRY_BYTES);
        if (!err) {
            s->index_dirty = false;
            s->index_synced = false;
        }
    }
    if (err)
        return err;
    index_mem_free(s);
    s->index_entries_max = s->index_entries;
    s->timeindex_entries_max = s->timeindex_entries;
    s->active = false;
    if (s->preallocated) {
        /* Give back the reserved blocks past the data. */
        (void)ftruncate(s->log_fd, s->size);
        s->preallocated = false;
    }
    return 0;
}

/* fsync an index file; ENOENT (deleted meanwhile) is not an error. */
static int fsync_path(const char *path)
{
    int err = fsync_by_path(path, O_RDONLY);
    return err == ENOENT ? 0 : err;
}

int log_segment_sync_indexes(log_segment *s, const char **what)
{
    *what = s->path_index;
    int err = fsync_path(s->path_index);
    if (!err) {
        *what = s->path_timeindex;
        err = fsync_path(s->path_timeindex);
    }
    return err;
}

bool log_segment_index_full(const log_segment *s)
{
    return s->index_entries >= s->index_entries_max ||
           s->timeindex_entries >= s->timeindex_entries_max;
}

/* Index entries for the batches just written at [pos, pos + len). */
static int append_index(log_segment *s, const uint8_t *buf, size_t len, int64_t pos,
                        int32_t interval)
{
    size_t off = 0;
    while (off < len) {
        const uint8_t *h = buf + off;
        int64_t total = BATCH_LOG_OVERHEAD + (int64_t)seg_be32(h + HDR_LENGTH);
        assert(total >= BATCH_HEADER_BYTES && off + (size_t)total <= len);
        int64_t base = seg_be64(h + HDR_BASE_OFFSET);
        int64_t last = base + seg_be32(h + HDR_LAST_OFFSET_DELTA);
        int64_t mts = seg_be64(h + HDR_MAX_TIMESTAMP);
        if (mts > s->max_ts) {
            s->max_ts = mts;
            s->max_ts_offset = last; /* as Kafka's time index entries do */
        }
        if (s->bytes_since_index > interval) {
            if (s->index_entries < s->index_entries_max) {
                int err = index_mem_reserve(&s->idx_mem, &s->idx_cap, s->index_entries,
                                            SEG_INDEX_ENTRY_BYTES);
                if (err)
                    return err;
                uint8_t *e = s->idx_mem + (size_t)s->index_entries * SEG_INDEX_ENTRY_BYTES;
                seg_put_be32(e, (int32_t)(last - s->base_offset));
                seg_put_be32(e + 4, (int32_t)(pos + (int64_t)off));
                s->index_entries++;
                s->index_dirty = true;
            }
            if (s->max_ts > s->timeindex_last_ts && s->timeindex_entries < s->timeindex_entries_max) {
                int err = timeindex_append(s, s->max_ts, s->max_ts_offset);
                if (err)
                    return err;
            }
            s->bytes_since_index = 0;
        }
        s->bytes_since_index += total;
        off += (size_t)total;
    }
    return 0;
}

int log_segment_append(log_segment *s, const uint8_t *buf, size_t len, int64_t next_offset,
                       int32_t index_interval_bytes, int fail_inject, int *index_err)
{
    assert(s->active);
    assert(len >= BATCH_HEADER_BYTES && next_offset > s->next_offset);
    *index_err = 0;
    int64_t pos = s->size;
    int err;
    if (fail_inject) {
        /* The test hook: half the bytes land, then the "disk" fails. */
        err = pwrite_full(s->log_fd, buf, len / 2, pos);
        if (!err)
            err = fail_inject;
    } else {
        err = pwrite_full(s->log_fd, buf, len, pos);
    }
    if (err) {
        int terr = ftruncate_retry(s->log_fd, pos);
        (void)terr; /* the caller marks the log failed either way */
        return err;
    }
    s->size = pos + (int64_t)len;
    s->next_offset = next_offset;
    *index_err = append_index(s, buf, len, pos, index_interval_bytes);
    assert(s->size <= INT32_MAX);
    return 0;
}

/* ---- lookups ---- */

/* Where index entries come from: an active segment's memory or a file. */
typedef struct index_src {
    const uint8_t *mem;         /* non-NULL: entries in memory */
    int fd;                     /* otherwise: the open index file, or -1 */
} index_src;

static bool src_index_entry(const index_src *src, int32_t i, int32_t *rel, int32_t *pos)
{
    if (src->mem) {
        const uint8_t *e = src->mem + (size_t)i * SEG_INDEX_ENTRY_BYTES;
        *rel = seg_be32(e);
        *pos = seg_be32(e + 4);
        return true;
    }
    return src->fd >= 0 && index_entry_read(src->fd, i, rel, pos);
}

static bool src_timeindex_entry(const index_src *src, int32_t i, int64_t *ts, int32_t *rel)
{
    if (src->mem) {
        const uint8_t *e = src->mem + (size_t)i * SEG_TIMEINDEX_ENTRY_BYTES;
        *ts = seg_be64(e);
        *rel = seg_be32(e + 8);
        return true;
    }
    return src->fd >= 0 && timeindex_entry_read(src->fd, i, ts, rel);
}

/* Position of the greatest index entry whose offset <= offset, 0 if none. */
static int64_t index_lookup(const index_src *src, int64_t base_offset, int64_t offset,
                            int32_t count, int64_t limit)
{
    int64_t target = offset - base_offset;
    int32_t lo = -1, hi = count - 1;    /* lo: greatest entry known <= target */
    int64_t lo_pos = 0;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        int32_t rel, pos;
        if (!src_index_entry(src, mid, &rel, &pos))
            return 0;
        if (rel <= target) {
            lo = mid;
            lo_pos = pos;
        } else {
            hi = mid - 1;
        }
    }
    if (lo_pos < 0 || lo_pos >= limit)
        return 0;
    return lo_pos;
}

/* Relative offset of the greatest time entry with timestamp < ts_ms, -1 if none. */
static int32_t time_lookup_rel(const index_src *src, int64_t ts_ms, int32_t count)
{
    /* Every record below that entry's offset is older than ts_ms. */
    int32_t lo = -1, hi = count - 1;
    int32_t lo_rel = -1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        int64_t ts;
        int32_t rel;
        if (!src_timeindex_entry(src, mid, &ts, &rel))
            return -1;
        if (ts < ts_ms) {
            lo = mid;
            lo_rel = rel;
        } else {
            hi = mid - 1;
        }
    }
    return lo_rel;
}

int64_t log_segment_find_hint_locked(const log_segment *s, int64_t offset, int64_t limit)
{
    if (!s->active)
        return -1;
    index_src src = { .mem = s->idx_mem, .fd = -1 };
    return s->index_entries > 0 ? index_lookup(&src, s->base_offset, offset, s->index_entries, limit)
                                : 0;
}

int64_t log_segment_time_hint_locked(const log_segment *s, int64_t ts_ms, int64_t limit)
{
    if (!s->active)
        return -1;
    index_src t = { .mem = s->tidx_mem, .fd = -1 };
    int32_t rel = s->timeindex_entries > 0 ? time_lookup_rel(&t, ts_ms, s->timeindex_entries) : -1;
    if (rel <= 0 || s->index_entries == 0)
        return 0;
    index_src src = { .mem = s->idx_mem, .fd = -1 };
    return index_lookup(&src, s->base_offset, s->base_offset + rel, s->index_entries, limit);
}

/* The start position from an inactive segment's index file (0 if unusable). */
/* An inactive segment's index file for one lookup, or -1 when its index
 * files cannot be trusted now (segment.h, invariant 6): no_index is read
 * before the open (a cleaned segment whose files are not in place yet) and
 * after it (a replaced segment whose name now holds the cleaned one's). */
static int index_open_checked(log_segment *s, const char *path)
{
    if (atomic_load(&s->no_index))
        return -1;
    int fd = index_open_read(path);
    if (fd >= 0 && atomic_load(&s->no_index)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int64_t index_file_lookup(log_segment *s, int64_t offset, int32_t count, int64_t limit)
{
    if (count <= 0)
        return 0;
    index_src src = { .mem = NULL, .fd = index_open_checked(s, s->path_index) };
    if (src.fd < 0)
        return 0;
    int64_t pos = index_lookup(&src, s->base_offset, offset, count, limit);
    close(src.fd);
    return pos;
}

int log_segment_find(log_segment *s, int64_t offset, int64_t limit, int32_t index_count,
                     int64_t hint, int64_t *pos_out, int32_t *len_out)
{
    uint8_t buf[8192];
    seg_reader r;
    seg_reader_init(&r, s->log_fd, limit, buf, sizeof buf);
    int64_t start = hint >= 0 ? hint : index_file_lookup(s, offset, index_count, limit);
    if (start >= limit)
        start = 0;
    int64_t pos = start;
    *pos_out = -1;
    *len_out = 0;
    for (;;) {
        const uint8_t *h = seg_reader_get(&r, pos, BATCH_HEADER_BYTES);
        if (!h)
            return r.err;
        int64_t total = BATCH_LOG_OVERHEAD + (int64_t)seg_be32(h + HDR_LENGTH);
        int64_t base = seg_be64(h + HDR_BASE_OFFSET);
        int64_t last = base + seg_be32(h + HDR_LAST_OFFSET_DELTA);
        if (total < BATCH_HEADER_BYTES || total > INT32_MAX)
            return 0;
        if (pos == start && start > 0 && base > offset) {
            /* An index entry past the target cannot be right: rescan from 0. */
            start = pos = 0;
            continue;
        }
        if (last >= offset) {
            if (pos + total > limit)
                return 0;
            *pos_out = pos;
            *len_out = (int32_t)total;
            return 0;
        }
        pos += total;
    }
}

int log_segment_time_lookup(log_segment *s, int64_t ts_ms, int32_t tindex_count,
                            int32_t index_count, int64_t limit, int64_t hint, int64_t *pos_out)
{
    *pos_out = 0;
    if (hint >= 0) {
        *pos_out = hint < limit ? hint : 0;
        return 0;
    }
    if (tindex_count <= 0 || index_count <= 0)
        return 0;
    index_src t = { .mem = NULL, .fd = index_open_checked(s, s->path_timeindex) };
    if (t.fd < 0)
        return 0;
    int32_t rel = time_lookup_rel(&t, ts_ms, tindex_count);
    if (t.fd >= 0)
        close(t.fd);
    if (rel > 0)
        *pos_out = index_file_lookup(s, s->base_offset + rel, index_count, limit);
    return 0;
}

/* ---- truncation, deletion ---- */

int log_segment_truncate(log_segment *s, int64_t pos, int32_t index_interval_bytes)
{
    assert(pos >= 0 && pos <= s->size);
    int err = ftruncate_retry(s->log_fd, pos);
    if (err)
        return err;
    int64_t flushed = s->flushed_size < pos ? s->flushed_size : pos;
    seg_scan_result res;
    err = log_segment_rebuild(s, false, s->base_offset, index_interval_bytes, &res);
    if (err)
        return err;
    s->flushed_size = flushed;
    if (res.stop_reason || res.valid_bytes != pos)
        return EIO; /* bytes below pos were valid before: the disk changed under us */
    return 0;
}

static int rename_deleted(const char *path, bool keep)
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s.deleted", path);
    if (n < 0 || (size_t)n >= sizeof buf)
        return ENAMETOOLONG;
    if (rename(path, buf) != 0 && errno != ENOENT)
        return errno;
    if (!keep && unlink(buf) != 0 && errno != ENOENT)
        return errno;
    return 0;
}

void log_segment_unlink_deleted(const char *dir, int64_t base)
{
    static const char *const exts[] = { ".log.deleted", ".index.deleted", ".timeindex.deleted" };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char path[4096];
        if (log_segment_path(path, sizeof path, dir, base, exts[i]))
            unlink(path);
    }
}

int log_segment_delete_files(log_segment *s, bool keep)
{
    /* .log first: once it is gone the segment no longer exists for recovery. */
    int err = rename_deleted(s->path_log, keep);
    int e2 = rename_deleted(s->path_index, keep);
    int e3 = rename_deleted(s->path_timeindex, keep);
    /* The partition's aborted-transaction index of this segment, if any. */
    char txn[4096];
    size_t n = strlen(s->path_log);
    if (n > 4 && n + 5 < sizeof txn) {
        memcpy(txn, s->path_log, n - 4);
        strcpy(txn + n - 4, ".txnindex");
        unlink(txn);
    }
    return err ? err : e2 ? e2 : e3;
}

int64_t log_segment_mtime_ms(log_segment *s)
{
    struct stat st;
    if (fstat(s->log_fd, &st) != 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

int64_t log_segment_largest_ts(log_segment *s)
{
    return s->max_ts >= 0 ? s->max_ts : log_segment_mtime_ms(s);
}
