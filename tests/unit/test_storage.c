/*
 * test_storage.c - the storage engine: segments, plog, checkpoints, logmgr.
 *
 * Batches are built here the way a client builds them (uncompressed v2,
 * varint records, CRC32C sealed). Every test works in its own directory
 * under /tmp, removed at the end. Crash scenarios are played by editing the
 * files between a close and a reopen: chopping the tail, flipping a byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "proto/batch.h"
#include "storage/checkpoint.h"
#include "storage/log.h"
#include "storage/logmgr.h"

#include "check.h"

/* ---- helpers ---- */

static char g_root[256];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void tdir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", g_root, name);
    rm_rf(buf);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int64_t file_len(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t get64(const uint8_t *p)
{
    return (int64_t)((uint64_t)get32(p) << 32 | get32(p + 4));
}

static size_t varint_put(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

/*
 * An uncompressed batch of n records; record i has timestamp ts[i] (or
 * ts0 + i when ts is NULL) and a value of vlen bytes. Appended to buf at
 * *len (buf must be big enough).
 */
static void mk_batch_ts(uint8_t *buf, size_t *len, int n, const int64_t *ts, int64_t ts0,
                        size_t vlen)
{
    uint8_t *b = buf + *len;
    memset(b, 0, BATCH_HEADER_BYTES);
    int64_t base_ts = ts ? ts[0] : ts0, max_ts = INT64_MIN;
    for (int i = 0; i < n; i++) {
        int64_t t = ts ? ts[i] : ts0 + i;
        if (t < base_ts)
            base_ts = t;
    }
    size_t off = BATCH_HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        int64_t t = ts ? ts[i] : ts0 + i;
        if (t > max_ts)
            max_ts = t;
        uint8_t body[4096];
        size_t bl = 0;
        body[bl++] = 0;                          /* attributes */
        bl += varint_put(body + bl, t - base_ts);
        bl += varint_put(body + bl, i);          /* offsetDelta */
        bl += varint_put(body + bl, -1);         /* key: null */
        bl += varint_put(body + bl, (int64_t)vlen);
        for (size_t k = 0; k < vlen; k++)
            body[bl++] = (uint8_t)('a' + (i + k) % 26);
        bl += varint_put(body + bl, 0);          /* headers */
        off += varint_put(b + off, (int64_t)bl);
        memcpy(b + off, body, bl);
        off += bl;
    }
    put64(b, 0);
    put32(b + 8, (uint32_t)(off - 12));
    put32(b + 12, (uint32_t)-1);
    b[16] = 2;
    put32(b + 23, (uint32_t)(n - 1));
    put64(b + 27, (uint64_t)base_ts);
    put64(b + 35, (uint64_t)max_ts);
    put64(b + 43, (uint64_t)-1);
    b[51] = 0xff;
    b[52] = 0xff;
    put32(b + 53, (uint32_t)-1);
    put32(b + 57, (uint32_t)n);
    put32(b + 17, crc32c(0, b + 21, off - 21));
    *len += off;
}

static void mk_batch(uint8_t *buf, size_t *len, int n, int64_t ts0, size_t vlen)
{
    mk_batch_ts(buf, len, n, NULL, ts0, vlen);
}

static log_config test_cfg(void)
{
    log_config c;
    log_config_defaults(&c);
    c.retention_ms = -1;
    return c;
}

/* Append one batch of n records; returns its first offset (-1 on error). */
static int64_t app(plog *l, int n, int64_t ts0, size_t vlen, int64_t now_ms)
{
    uint8_t buf[65536];
    size_t len = 0;
    mk_batch(buf, &len, n, ts0, vlen);
    int64_t first = -1, last = -1;
    if (plog_append(l, buf, len, 3, now_ms, &first, &last) != LOG_OK)
        return -1;
    return last - first + 1 == n ? first : -2;
}

/* Read the slice's bytes and check they are whole batches; returns the
 * number of batches, writes the first batch's base and last offset. */
static int slice_batches(const plog_slice *s, int64_t *first_base, int64_t *last_off)
{
    if (s->len == 0)
        return 0;
    uint8_t *buf = malloc((size_t)s->len);
    int n = 0;
    if (pread(s->fd, buf, (size_t)s->len, s->pos) != s->len) {
        free(buf);
        return -1;
    }
    size_t off = 0;
    while (off < (size_t)s->len) {
        uint8_t *b = buf + off;
        size_t total = 12 + get32(b + 8);
        batch_info info;
        if (off + total > (size_t)s->len || batch_check_crc(b, total, &info) != BATCH_OK) {
            n = -1;
            break;
        }
        if (n == 0)
            *first_base = get64(b);
        *last_off = get64(b) + (int32_t)get32(b + 23);
        n++;
        off += total;
    }
    free(buf);
    return n;
}

static void seg_file(char *buf, size_t len, const char *dir, int64_t base, const char *ext)
{
    snprintf(buf, len, "%s/%020lld%s", dir, (long long)base, ext);
}

/* ---- plog: append and read ---- */

static void test_roundtrip(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "rt");
    log_config cfg = test_cfg();
    plog *l = NULL;
    char report[1024];
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "new empty log") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), 0);

    CHECK_EQ_I64(app(l, 1, 1000, 10, 0), 0);
    CHECK_EQ_I64(app(l, 5, 1001, 10, 0), 1);
    CHECK_EQ_I64(app(l, 3, 1006, 10, 0), 6);
    CHECK_EQ_I64(plog_end_offset(l), 9);

    plog_slice s;
    int64_t fb = -1, lo = -1;
    CHECK(plog_read(l, 0, 1 << 20, false, &s) == LOG_OK);
    CHECK_EQ_I64(slice_batches(&s, &fb, &lo), 3);
    CHECK_EQ_I64(fb, 0);
    CHECK_EQ_I64(lo, 8);
    CHECK_EQ_I64(s.pos, 0);
    log_segment_unref(s.seg);

    /* A read in the middle of a batch returns that whole batch. */
    CHECK(plog_read(l, 3, 1 << 20, false, &s) == LOG_OK);
    CHECK_EQ_I64(slice_batches(&s, &fb, &lo), 2);
    CHECK_EQ_I64(fb, 1);
    log_segment_unref(s.seg);

    /* Partition leader epoch was patched. */
    uint8_t h[61];
    CHECK(plog_read(l, 6, 1 << 20, false, &s) == LOG_OK);
    CHECK(pread(s.fd, h, sizeof h, s.pos) == (ssize_t)sizeof h);
    CHECK_EQ_I64((int32_t)get32(h + 12), 3);
    CHECK_EQ_I64(get64(h), 6);
    log_segment_unref(s.seg);

    /* End offset: empty; past it or below start: out of range. */
    CHECK(plog_read(l, 9, 1 << 20, false, &s) == LOG_OK);
    CHECK_EQ_I64(s.len, 0);
    log_segment_unref(s.seg);
    CHECK(plog_read(l, 10, 1 << 20, false, &s) == LOG_ERR_OUT_OF_RANGE);
    CHECK(plog_read(l, -1, 1 << 20, false, &s) == LOG_ERR_OUT_OF_RANGE);

    /* max_bytes and min_one. */
    CHECK(plog_read(l, 0, 10, false, &s) == LOG_OK);
    CHECK_EQ_I64(s.len, 0);
    CHECK(plog_read(l, 0, 10, true, &s) == LOG_OK);
    CHECK_EQ_I64(slice_batches(&s, &fb, &lo), 1);
    int32_t first_len = s.len;
    log_segment_unref(s.seg);
    CHECK(plog_read(l, 0, first_len, false, &s) == LOG_OK);
    CHECK_EQ_I64(slice_batches(&s, &fb, &lo), 1);
    log_segment_unref(s.seg);
    CHECK(plog_read(l, 0, first_len + 1, true, &s) == LOG_OK);
    CHECK_EQ_I64(slice_batches(&s, &fb, &lo), 1);
    log_segment_unref(s.seg);

    /* Flush moves the recovery point to the end. */
    int64_t flushed = -1;
    CHECK(plog_flush(l, &flushed) == LOG_OK);
    CHECK_EQ_I64(flushed, 9);
    CHECK_EQ_I64(plog_recovery_point(l), 9);
    CHECK(plog_failure(l) == NULL);

    /* Framing errors and oversize appends are refused. */
    uint8_t junk[70] = { 0 };
    int64_t a, b;
    CHECK(plog_append(l, junk, 10, 0, 0, &a, &b) == LOG_ERR_CORRUPT);
    plog_close(l);
    rm_rf(dir);
}

static void test_roll(void)
{
    char dir[512], path[600];
    tdir(dir, sizeof dir, "roll");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 1000;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_I64(app(l, 2, 1000 + i, 100, 0), 2 * i);
    int segs = plog_segment_count(l);
    CHECK(segs >= 6);
    seg_file(path, sizeof path, dir, 0, ".log");
    CHECK(file_exists(path));
    CHECK(file_len(path) <= 1000);
    /* The first segment was rolled: its indexes are trimmed to their entries. */
    seg_file(path, sizeof path, dir, 0, ".index");
    CHECK(file_len(path) % 8 == 0 && file_len(path) < 1024);
    /* Every offset reads back from whichever segment holds it. */
    for (int64_t o = 0; o < 40; o++) {
        plog_slice s;
        int64_t fb = -1, lo = -1;
        CHECK(plog_read(l, o, 1 << 20, false, &s) == LOG_OK);
        CHECK(slice_batches(&s, &fb, &lo) >= 1);
        CHECK(fb == o || fb == o - 1);
        log_segment_unref(s.seg);
    }
    /* A single batch larger than segment.bytes is refused. */
    CHECK_EQ_I64(app(l, 1, 0, 1200, 0), -1);
    CHECK(plog_failure(l) == NULL);

    /* Roll by time. */
    cfg.segment_bytes = 1 << 20;
    cfg.segment_ms = 100;
    plog_set_config(l, &cfg);
    int64_t end = plog_end_offset(l);
    /* segment.ms counts from the segment's first batch timestamp (Kafka's
     * rollingBasedTimestamp) to the incoming batch's: the active one's is 0,
     * so it rolls. */
    CHECK_EQ_I64(app(l, 1, 10000, 10, 10000), end);
    segs = plog_segment_count(l);
    CHECK(app(l, 1, 10050, 10, 10050) >= 0);
    CHECK_EQ_I64(plog_segment_count(l), segs);
    CHECK(app(l, 1, 10200, 10, 10200) >= 0);
    CHECK_EQ_I64(plog_segment_count(l), segs + 1);
    /* The age is in record time: old records do not age the segment,
     * whatever the clock says; newer ones do. */
    CHECK(app(l, 1, 10210, 10, 10210) >= 0);
    CHECK_EQ_I64(plog_segment_count(l), segs + 1);
    segs = plog_segment_count(l);
    cfg.segment_ms = 1000;
    plog_set_config(l, &cfg);
    CHECK(app(l, 1, 5, 10, 99999) >= 0);
    CHECK_EQ_I64(plog_segment_count(l), segs);
    CHECK(app(l, 1, 11201, 10, 11201) >= 0); /* 1001 ms of record time after 10200 */
    CHECK_EQ_I64(plog_segment_count(l), segs + 1);
    plog_close(l);
    rm_rf(dir);
}

static void test_index_lookup(void)
{
    char dir[512], path[600];
    tdir(dir, sizeof dir, "idx");
    log_config cfg = test_cfg();
    cfg.index_interval_bytes = 200;
    cfg.segment_index_bytes = 8 * 64;  /* 64 entries: forces rolls by index */
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    int64_t off = 0;
    for (int i = 0; i < 1000; i++) {
        int n = 1 + i % 4;
        CHECK_EQ_I64(app(l, n, 5000 + off, 20 + i % 50, 0), off);
        off += n;
    }
    CHECK(plog_segment_count(l) > 1);
    /* Rolled when an index filled up (the time index: 42 entries of 12 bytes),
     * then trimmed to its entries. */
    seg_file(path, sizeof path, dir, 0, ".index");
    int64_t idx_len = file_len(path);
    CHECK(idx_len > 8 * 10 && idx_len <= 64 * 8 && idx_len % 8 == 0);
    seg_file(path, sizeof path, dir, 0, ".timeindex");
    CHECK_EQ_I64(file_len(path), 42 * 12);
    seg_file(path, sizeof path, dir, 0, ".index");
    int bad = 0;
    for (int64_t o = 0; o < off; o += 7) {
        plog_slice s;
        int64_t fb = -1, lo = -1;
        if (plog_read(l, o, 1, true, &s) != LOG_OK || slice_batches(&s, &fb, &lo) != 1 ||
            fb > o || lo < o)
            bad++;
        log_segment_unref(s.seg);
    }
    CHECK_EQ_I64(bad, 0);
    plog_close(l);

    /* Clean reopen trusts the indexes and finds the same end. */
    char report[1024];
    CHECK(plog_open(dir, &cfg, 0, off, true, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "clean open") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), off);
    CHECK_EQ_I64(plog_recovery_point(l), off);
    bad = 0;
    for (int64_t o = 0; o < off; o += 11) {
        plog_slice s;
        int64_t fb = -1, lo = -1;
        if (plog_read(l, o, 1, true, &s) != LOG_OK || slice_batches(&s, &fb, &lo) != 1 ||
            fb > o || lo < o)
            bad++;
        log_segment_unref(s.seg);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(app(l, 2, 0, 10, 0) == off);
    plog_close(l);

    /* Clean open with a wrecked index: sanity check fails, rebuilt. */
    seg_file(path, sizeof path, dir, 0, ".index");
    CHECK(truncate(path, 8 * 10 + 3) == 0);
    CHECK(plog_open(dir, &cfg, 0, 0, true, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "recovered") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), off + 2);
    CHECK_EQ_I64(file_len(path), idx_len);      /* rebuilt to the same entries */
    plog_close(l);
    rm_rf(dir);
}

/* ---- one open file per partition ---- */

/* Open fds of this process whose path starts with dir; *idx counts index files. */
static int fds_under(const char *dir, int *idx)
{
    int n = 0;
    *idx = 0;
    for (int fd = 0; fd < 4096; fd++) {
        char link[64], target[1024];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        if (strncmp(target, dir, strlen(dir)) != 0)
            continue;
        n++;
        if (strstr(target, "index"))
            (*idx)++;
    }
    return n;
}

/* Every offset below end is found in a slice, and ts0 + o finds offset o. */
static int lookups_bad(plog *l, int64_t end, int64_t ts0, int step)
{
    int bad = 0;
    for (int64_t o = 0; o < end; o += step) {
        plog_slice s;
        int64_t fb = -1, lo = -1, off = -1, ts = -1;
        if (plog_read(l, o, 1, true, &s) != LOG_OK || slice_batches(&s, &fb, &lo) != 1 ||
            fb > o || lo < o)
            bad++;
        log_segment_unref(s.seg);
        if (plog_offset_for_timestamp(l, ts0 + o, &off, &ts) != LOG_OK || off != o || ts != ts0 + o)
            bad++;
    }
    return bad;
}

static void test_active_index_in_memory(void)
{
    char dir[512], copy[512], path[600], cmd[1200], report[1024];
    tdir(dir, sizeof dir, "memidx");
    tdir(copy, sizeof copy, "memidx-crash");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 20000;
    cfg.index_interval_bytes = 150;
    plog *l = NULL;
    /* An idle partition writes no index files, and opens clean without them. */
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    CHECK(plog_shutdown(l) == LOG_OK);
    seg_file(path, sizeof path, dir, 0, ".index");
    CHECK(!file_exists(path));
    seg_file(path, sizeof path, dir, 0, ".timeindex");
    CHECK(!file_exists(path));
    CHECK(plog_open(dir, &cfg, 0, 0, true, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "clean open") != NULL);
    int64_t off = 0;
    for (int i = 0; i < 600; i++) {
        int n = 1 + i % 3;
        CHECK_EQ_I64(app(l, n, 1000000 + off, 30 + i % 40, 0), off);
        off += n;
    }
    int nsegs = plog_segment_count(l);
    CHECK(nsegs >= 4);
    /* One open file per segment, the .log; no index file is held open. */
    int idx_fds = -1;
    CHECK_EQ_I64(fds_under(dir, &idx_fds), nsegs);
    CHECK_EQ_I64(idx_fds, 0);
    /* Rolled segments have their index files; the active one has none yet. */
    seg_file(path, sizeof path, dir, 0, ".index");
    CHECK(file_len(path) > 0 && file_len(path) % 8 == 0);
    seg_file(path, sizeof path, dir, 0, ".timeindex");
    CHECK(file_len(path) > 0 && file_len(path) % 12 == 0);
    int64_t act_base = -1;
    {
        plog_slice s;
        int64_t fb = -1, lo = -1;
        CHECK(plog_read(l, off - 1, 1, true, &s) == LOG_OK && slice_batches(&s, &fb, &lo) == 1);
        log_segment_unref(s.seg);
        /* the active segment's base: the first offset of its file name */
        for (int64_t b = fb; b >= 0 && act_base < 0; b--) {
            seg_file(path, sizeof path, dir, b, ".log");
            if (file_exists(path))
                act_base = b;
        }
    }
    CHECK(act_base > 0);
    seg_file(path, sizeof path, dir, act_base, ".index");
    CHECK(!file_exists(path));
    /* Lookups: memory for the active segment, files (opened per lookup) for the rest. */
    CHECK_EQ_I64(lookups_bad(l, off, 1000000, 1), 0);
    CHECK_EQ_I64(fds_under(dir, &idx_fds), nsegs);

    /* A crash now: the files as they are on disk, opened uncleanly (and, to be
     * hard on it, as if clean: the missing index files are then rebuilt). */
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", dir, copy);
    CHECK(system(cmd) == 0);
    plog *c = NULL;
    CHECK(plog_open(copy, &cfg, 0, off / 2, false, &c, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "all") != NULL && strstr(report, "batches valid") != NULL);
    CHECK_EQ_I64(plog_end_offset(c), off);
    CHECK_EQ_I64(lookups_bad(c, off, 1000000, 3), 0);
    plog_close(c);
    seg_file(path, sizeof path, copy, act_base, ".index");
    CHECK(unlink(path) == 0);
    CHECK(plog_open(copy, &cfg, 0, off, true, &c, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "recovered") != NULL);
    CHECK_EQ_I64(plog_end_offset(c), off);
    CHECK_EQ_I64(lookups_bad(c, off, 1000000, 5), 0);
    plog_close(c);

    /* Shutdown writes and syncs the active segment's indexes: a clean open
     * then trusts every index file, and appends go on where they were. */
    CHECK(plog_shutdown(l) == LOG_OK);
    seg_file(path, sizeof path, dir, act_base, ".index");
    int64_t act_idx = file_len(path);
    CHECK(act_idx > 0 && act_idx % 8 == 0);
    CHECK(plog_open(dir, &cfg, 0, off, true, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "clean open") != NULL);
    CHECK_EQ_I64(lookups_bad(l, off, 1000000, 2), 0);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ_I64(app(l, 2, 1000000 + off, 60, 0), off);
        off += 2;
    }
    CHECK_EQ_I64(lookups_bad(l, off, 1000000, 1), 0);
    CHECK(plog_shutdown(l) == LOG_OK);
    CHECK(plog_open(dir, &cfg, 0, off, true, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "clean open") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), off);
    CHECK_EQ_I64(lookups_bad(l, off, 1000000, 1), 0);
    plog_close(l);
    rm_rf(dir);
    rm_rf(copy);
}

/* ---- recovery ---- */

static int64_t fill(plog *l, int batches)
{
    int64_t last = -1;
    for (int i = 0; i < batches; i++)
        last = app(l, 3, 100 + i, 40, 0);
    return last;
}

static void test_recovery(void)
{
    char dir[512], path[600], report[1024];
    tdir(dir, sizeof dir, "rec");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 2000;
    cfg.index_interval_bytes = 100;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    int64_t last_base = fill(l, 40);
    int64_t end = plog_end_offset(l);
    CHECK_EQ_I64(end, 120);
    int segs = plog_segment_count(l);
    int64_t active_base = last_base;
    while (1) {
        seg_file(path, sizeof path, dir, active_base, ".log");
        if (file_exists(path))
            break;
        active_base--;
    }
    plog_close(l);

    /* Unclean open with nothing wrong: everything from the recovery point revalidated. */
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "recovered") != NULL && strstr(report, "all") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), end);
    CHECK_EQ_I64(plog_segment_count(l), segs);
    plog_close(l);

    /* Torn tail: chop the active segment mid-batch. */
    int64_t sz = file_len(path);
    CHECK(truncate(path, sz - 10) == 0);
    CHECK(plog_open(dir, &cfg, 0, 60, false, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "truncated") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), end - 3);
    CHECK(file_len(path) < sz - 10);            /* cut at the last whole batch */
    for (int64_t o = 0; o < end - 3; o++) {
        plog_slice s;
        int64_t fb = -1, lo = -1;
        CHECK(plog_read(l, o, 1, true, &s) == LOG_OK && slice_batches(&s, &fb, &lo) == 1);
        log_segment_unref(s.seg);
    }
    /* New appends continue from the truncation point. */
    CHECK_EQ_I64(app(l, 3, 0, 40, 0), end - 3);
    plog_close(l);

    /* A flipped byte in the last batch: its CRC fails, it is dropped. */
    sz = file_len(path);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, sz - 5) == 1);
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, sz - 5) == 1);
    close(fd);
    CHECK(plog_open(dir, &cfg, 0, end - 10, false, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "CRC") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), end - 3);
    plog_close(l);

    /* Corruption in an early segment is not a torn tail: the open fails,
     * naming the file and position, and changes nothing... */
    seg_file(path, sizeof path, dir, 0, ".log");
    int64_t first_len = file_len(path);
    fd = open(path, O_RDWR);
    CHECK(pread(fd, &byte, 1, 300) == 1);
    byte ^= 0x01;
    CHECK(pwrite(fd, &byte, 1, 300) == 1);
    close(fd);
    l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_ERR_CORRUPT);
    CHECK(l == NULL);
    CHECK(strstr(report, "corrupt data in") != NULL && strstr(report, "00000000000000000000.log") != NULL);
    CHECK(strstr(report, "log.recovery.truncate.corrupt=true") != NULL);
    CHECK_EQ_I64(file_len(path), first_len);
    seg_file(path, sizeof path, dir, active_base, ".log");
    CHECK(file_exists(path));
    /* With log.recovery.truncate.corrupt it is cut like a torn tail, and
     * every later segment goes. */
    cfg.truncate_corrupt = true;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    cfg.truncate_corrupt = false;
    CHECK(strstr(report, "later segments deleted") != NULL);
    CHECK_EQ_I64(plog_segment_count(l), 1);
    CHECK(plog_end_offset(l) < 20);
    seg_file(path, sizeof path, dir, active_base, ".log");
    CHECK(!file_exists(path));
    plog_close(l);

    /* Leftovers: stray indexes and *.deleted files go at open. */
    seg_file(path, sizeof path, dir, 999, ".index");
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    char del[700];
    seg_file(del, sizeof del, dir, 5, ".log.deleted");
    fd = open(del, O_CREAT | O_WRONLY, 0644);
    close(fd);
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    CHECK(!file_exists(path));
    CHECK(!file_exists(del));
    plog_close(l);
    rm_rf(dir);
}

/* ---- failure stickiness ---- */

static void test_failure(void)
{
    char dir[512], path[600];
    tdir(dir, sizeof dir, "fail");
    log_config cfg = test_cfg();
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(app(l, 2, 0, 50, 0), 0);
    seg_file(path, sizeof path, dir, 0, ".log");
    int64_t sz = file_len(path);
    plog_test_fail_next_write(l);
    CHECK_EQ_I64(app(l, 2, 0, 50, 0), -1);
    CHECK(plog_failure(l) != NULL);
    CHECK(plog_failure(l) && strstr(plog_failure(l), "Input/output error") != NULL);
    CHECK_EQ_I64(file_len(path), sz);           /* torn bytes cut back */
    CHECK_EQ_I64(plog_end_offset(l), 2);
    uint8_t buf[4096];
    size_t len = 0;
    mk_batch(buf, &len, 1, 0, 10);
    int64_t a, b;
    CHECK(plog_append(l, buf, len, 0, 0, &a, &b) == LOG_ERR_FAILED);
    CHECK(plog_flush(l, &a) == LOG_ERR_FAILED);
    plog_slice s;                                /* what was written stays readable */
    CHECK(plog_read(l, 0, 1 << 20, false, &s) == LOG_OK && s.len == sz);
    log_segment_unref(s.seg);
    plog_close(l);

    /* fsync failure: sticky too, and the recovery point does not move. */
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(app(l, 2, 0, 50, 0), 2);
    plog_test_fail_next_fsync(l);
    CHECK(plog_flush(l, &a) == LOG_ERR_IO);
    CHECK_EQ_I64(plog_recovery_point(l), 0);
    CHECK(plog_failure(l) && strstr(plog_failure(l), "fsync") != NULL);
    CHECK(plog_flush(l, &a) == LOG_ERR_FAILED);
    CHECK_EQ_I64(app(l, 1, 0, 50, 0), -1);
    plog_close(l);
    rm_rf(dir);

    /* A full disk is not sticky: appends are refused (one probe a second),
     * reads and fsyncs go on, and the first probe that succeeds ends it. */
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(app(l, 2, 0, 50, 1000), 0);
    sz = file_len(path);
    plog_test_fail_next_write_with(l, ENOSPC);
    len = 0;
    mk_batch(buf, &len, 1, 0, 10);
    CHECK(plog_append(l, buf, len, 0, 1000, &a, &b) == LOG_ERR_NO_SPACE);
    CHECK(plog_failure(l) == NULL);
    char why[512] = "";
    CHECK(plog_no_space(l, why, sizeof why));
    CHECK(strstr(why, "No space left on device") != NULL);
    CHECK_EQ_I64(file_len(path), sz);           /* the torn half is cut back */
    CHECK(plog_read(l, 0, 1 << 20, false, &s) == LOG_OK && s.len == sz);
    log_segment_unref(s.seg);
    CHECK(plog_flush(l, &a) == LOG_OK);          /* acknowledged data still syncs */
    CHECK_EQ_I64(a, 2);
    /* Within the probe interval nothing is tried (a write would succeed). */
    len = 0;
    mk_batch(buf, &len, 1, 0, 10);
    CHECK(plog_append(l, buf, len, 0, 1500, &a, &b) == LOG_ERR_NO_SPACE);
    CHECK_EQ_I64(plog_end_offset(l), 2);
    /* The probe after it succeeds: writes resume where the log ended. */
    len = 0;
    mk_batch(buf, &len, 1, 0, 10);
    CHECK(plog_append(l, buf, len, 0, 2100, &a, &b) == LOG_OK);
    CHECK_EQ_I64(a, 2);
    CHECK(!plog_no_space(l, NULL, 0));
    CHECK_EQ_I64(app(l, 1, 0, 50, 2100), 3);
    plog_close(l);
    rm_rf(dir);
}

/* ---- timestamps ---- */

static void test_timestamps(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "ts");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 600;
    cfg.index_interval_bytes = 50;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    int64_t o, t;
    plog_max_timestamp(l, &o, &t);
    CHECK_EQ_I64(o, -1);
    CHECK_EQ_I64(t, -1);
    /* 30 batches of 4 records: timestamps 1000 + 10 * offset. */
    for (int i = 0; i < 30; i++) {
        int64_t ts[4];
        for (int k = 0; k < 4; k++)
            ts[k] = 1000 + 10 * (4 * i + k);
        uint8_t buf[4096];
        size_t len = 0;
        mk_batch_ts(buf, &len, 4, ts, 0, 20);
        int64_t a, b;
        CHECK(plog_append(l, buf, len, 0, 0, &a, &b) == LOG_OK);
    }
    /* One batch whose maximum sits in the middle record. */
    int64_t peak[3] = { 1500, 9000, 1600 };
    uint8_t buf[4096];
    size_t len = 0;
    mk_batch_ts(buf, &len, 3, peak, 0, 20);
    int64_t a, b;
    CHECK(plog_append(l, buf, len, 0, 0, &a, &b) == LOG_OK);
    CHECK_EQ_I64(a, 120);
    CHECK(plog_segment_count(l) > 2);

    plog_max_timestamp(l, &o, &t);
    CHECK_EQ_I64(t, 9000);
    CHECK_EQ_I64(o, 121);

    CHECK(plog_offset_for_timestamp(l, 0, &o, &t) == LOG_OK);
    CHECK_EQ_I64(o, 0);
    CHECK_EQ_I64(t, 1000);
    CHECK(plog_offset_for_timestamp(l, 1555, &o, &t) == LOG_OK);
    CHECK_EQ_I64(o, 56);
    CHECK_EQ_I64(t, 1560);
    CHECK(plog_offset_for_timestamp(l, 2190, &o, &t) == LOG_OK);
    CHECK_EQ_I64(o, 119);
    CHECK(plog_offset_for_timestamp(l, 2191, &o, &t) == LOG_OK);
    CHECK_EQ_I64(o, 121);
    CHECK_EQ_I64(t, 9000);
    CHECK(plog_offset_for_timestamp(l, 9001, &o, &t) == LOG_OK);
    CHECK_EQ_I64(o, -1);
    plog_close(l);

    /* Both survive a clean and an unclean reopen. */
    for (int clean = 0; clean < 2; clean++) {
        CHECK(plog_open(dir, &cfg, 0, clean ? 121 : 0, clean, &l, NULL, 0) == LOG_OK);
        plog_max_timestamp(l, &o, &t);
        CHECK_EQ_I64(t, 9000);
        CHECK_EQ_I64(o, 121);
        CHECK(plog_offset_for_timestamp(l, 1555, &o, &t) == LOG_OK);
        CHECK_EQ_I64(o, 56);
        plog_close(l);
    }
    rm_rf(dir);
}

/* ListOffsets v0's answer (Kafka 3.9's legacyFetchOffsetsBefore): segment
 * bases by file mtime, the log end when the active segment holds data,
 * largest first, never below the log start. */
static void test_legacy_offsets(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "legacy");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 600;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    int64_t out[16];
    /* Empty: one empty segment, no log-end entry. */
    CHECK_EQ_I64(plog_legacy_offsets(l, -1, 10, 5000, out), 1);
    CHECK_EQ_I64(out[0], 0);
    for (int i = 0; i < 30; i++)
        app(l, 4, 0, 20, 1000);
    int nseg = plog_segment_count(l);
    CHECK(nseg > 2);
    /* Set each segment file's mtime to 1000 s + its index (seconds). */
    int64_t bases[64];
    int nb = 0;
    for (int64_t off = 0; off < 120 && nb < 64;) {
        bases[nb] = plog_segment_base(l, off);
        char path[600];
        snprintf(path, sizeof path, "%s/%020lld.log", dir, (long long)bases[nb]);
        struct timespec ts[2] = { { 1000 + nb, 0 }, { 1000 + nb, 0 } };
        CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
        nb++;
        while (off < 120 && plog_segment_base(l, off) == bases[nb - 1])
            off++;
    }
    CHECK_EQ_I64(nb, nseg);
    int n = plog_legacy_offsets(l, -1, 16, 5000 * 1000, out);
    bool active_has_data = bases[nb - 1] < 120;
    CHECK_EQ_I64(n, nb + (active_has_data ? 1 : 0) < 16 ? nb + (active_has_data ? 1 : 0) : 16);
    CHECK_EQ_I64(out[0], active_has_data ? 120 : bases[nb - 1]);
    for (int i = 1; i < n; i++)
        CHECK(out[i] < out[i - 1]);
    CHECK_EQ_I64(plog_legacy_offsets(l, -1, 1, 5000, out), 1);
    CHECK_EQ_I64(out[0], active_has_data ? 120 : bases[nb - 1]);
    CHECK_EQ_I64(plog_legacy_offsets(l, -2, 5, 5000, out), 1);
    CHECK_EQ_I64(out[0], 0);
    /* By time: segments modified at or before 1001 s: the first two. */
    CHECK_EQ_I64(plog_legacy_offsets(l, 1001 * 1000, 5, 5000 * 1000, out), 2);
    CHECK_EQ_I64(out[0], bases[1]);
    CHECK_EQ_I64(out[1], 0);
    CHECK_EQ_I64(plog_legacy_offsets(l, 999 * 1000, 5, 5000 * 1000, out), 0);
    CHECK_EQ_I64(plog_legacy_offsets(l, -5, 5, 5000 * 1000, out), 0);
    CHECK_EQ_I64(plog_legacy_offsets(l, -1, 0, 5000, out), 0);
    /* A log start inside the second segment replaces the bases below it. */
    CHECK(plog_advance_start(l, bases[1] + 1) >= 0);
    n = plog_legacy_offsets(l, -2, 5, 5000, out);
    CHECK_EQ_I64(n, 1);
    CHECK_EQ_I64(out[0], bases[1] + 1);
    plog_close(l);
    rm_rf(dir);
}

/* ---- retention, start, truncation ---- */

static void test_retention(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "ret");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 500;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    for (int i = 0; i < 30; i++)
        app(l, 2, 10000 + 1000 * i, 60, 0);
    int segs = plog_segment_count(l);
    CHECK(segs >= 8);

    /* A fetch holding a slice of the first segment keeps its fd usable. */
    plog_slice held;
    CHECK(plog_read(l, 0, 1 << 20, false, &held) == LOG_OK);

    /* cleanup.policy=compact: retention never trims the log. */
    cfg.retention_ms = 5000;
    cfg.retention_bytes = 100;
    cfg.delete_policy = false;
    plog_set_config(l, &cfg);
    CHECK_EQ_I64(plog_enforce_retention(l, INT64_MAX / 2), 0);
    CHECK_EQ_I64(plog_segment_count(l), segs);
    CHECK_EQ_I64(plog_start_offset(l), 0);
    cfg.delete_policy = true;
    cfg.retention_bytes = -1;

    /* By time: batch i's max timestamp is 10000 + 1000 * i + 1; at now =
     * 25000 with retention.ms 5000 the segments holding only batches 0..9 go. */
    cfg.retention_ms = 5000;
    plog_set_config(l, &cfg);
    int removed = plog_enforce_retention(l, 25000);
    CHECK(removed > 0);
    CHECK(plog_start_offset(l) > 0 && plog_start_offset(l) <= 20);
    CHECK_EQ_I64(plog_enforce_retention(l, 25000), 0);
    cfg.retention_ms = -1;
    segs = plog_segment_count(l);

    /* By bytes: keep at most ~1500 bytes besides the active segment. */
    int64_t total = plog_size_bytes(l);
    cfg.retention_bytes = 1500;
    plog_set_config(l, &cfg);
    removed = plog_enforce_retention(l, 0);
    CHECK(removed > 0);
    CHECK(plog_size_bytes(l) >= 1500);
    CHECK(plog_size_bytes(l) < total);
    CHECK_EQ_I64(plog_segment_count(l), segs - removed);
    int64_t start = plog_start_offset(l);
    CHECK(start > 0);
    plog_slice s;
    CHECK(plog_read(l, start - 1, 1 << 20, false, &s) == LOG_ERR_OUT_OF_RANGE);
    CHECK(plog_read(l, start, 1 << 20, false, &s) == LOG_OK && s.len > 0);
    log_segment_unref(s.seg);
    int64_t fb = -1, lo = -1;
    CHECK(slice_batches(&held, &fb, &lo) >= 1 && fb == 0);
    log_segment_unref(held.seg);

    /* Time again: everything is old now, the active segment's records too:
     * it rolls and goes, and the log starts at its end (as Kafka). */
    cfg.retention_bytes = -1;
    cfg.retention_ms = 5000;
    plog_set_config(l, &cfg);
    int64_t end = plog_end_offset(l);
    removed = plog_enforce_retention(l, INT64_MAX / 2);
    CHECK(removed > 0);
    CHECK_EQ_I64(plog_segment_count(l), 1);
    CHECK_EQ_I64(plog_start_offset(l), end);
    CHECK_EQ_I64(plog_end_offset(l), end);
    CHECK_EQ_I64(plog_enforce_retention(l, INT64_MAX / 2), 0); /* an empty active one stays */
    CHECK_EQ_I64(app(l, 2, 90000, 60, 0), end);

    /* advance_start inside the active segment moves only the start. */
    end = plog_end_offset(l);
    CHECK(plog_advance_start(l, end - 1) == 0);
    CHECK_EQ_I64(plog_start_offset(l), end - 1);
    CHECK(plog_advance_start(l, end + 1) == LOG_ERR_OUT_OF_RANGE);
    plog_close(l);
    rm_rf(dir);
}

static void test_truncate(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "trunc");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 400;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    for (int i = 0; i < 20; i++)
        app(l, 2, 1000 + 10 * i, 50, 0);
    int64_t flushed;
    CHECK(plog_flush(l, &flushed) == LOG_OK);
    int segs = plog_segment_count(l);
    CHECK(plog_truncate(l, 21) == LOG_OK);      /* 21 is inside batch 20..21 */
    CHECK_EQ_I64(plog_end_offset(l), 20);
    CHECK(plog_recovery_point(l) <= 20);
    CHECK(plog_segment_count(l) < segs);
    CHECK_EQ_I64(app(l, 2, 5000, 50, 0), 20);
    int64_t o, t;
    plog_max_timestamp(l, &o, &t);
    CHECK_EQ_I64(t, 5001);
    CHECK(plog_truncate(l, 0) == LOG_OK);
    CHECK_EQ_I64(plog_end_offset(l), 0);
    CHECK_EQ_I64(plog_segment_count(l), 1);
    CHECK_EQ_I64(app(l, 1, 0, 50, 0), 0);
    plog_close(l);
    char report[1024];
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    CHECK_EQ_I64(plog_end_offset(l), 1);
    plog_close(l);
    rm_rf(dir);
}

/* plog_reset: the log starts empty at an offset inside it, at its end, or
 * beyond it (a follower installing a metadata snapshot), and reopens so. */
static void test_reset(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "reset");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 400;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    for (int i = 0; i < 20; i++)
        app(l, 2, 1000 + 10 * i, 50, 0);
    CHECK(plog_segment_count(l) > 2);
    CHECK(plog_reset(l, 21) == LOG_OK); /* inside batch 20..21: that batch goes too */
    CHECK_EQ_I64(plog_start_offset(l), 21);
    CHECK_EQ_I64(plog_end_offset(l), 21);
    CHECK_EQ_I64(plog_segment_count(l), 1);
    CHECK_EQ_I64(app(l, 2, 5000, 50, 0), 21);
    CHECK(plog_reset(l, 23) == LOG_OK); /* at the end */
    CHECK_EQ_I64(plog_start_offset(l), 23);
    CHECK_EQ_I64(plog_end_offset(l), 23);
    CHECK(plog_reset(l, 1000) == LOG_OK); /* beyond it */
    CHECK_EQ_I64(plog_start_offset(l), 1000);
    CHECK_EQ_I64(plog_end_offset(l), 1000);
    CHECK_EQ_I64(plog_segment_count(l), 1);
    CHECK_EQ_I64(app(l, 3, 6000, 50, 0), 1000);
    int64_t flushed;
    CHECK(plog_flush(l, &flushed) == LOG_OK);
    plog_close(l);
    char report[1024];
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, report, sizeof report) == LOG_OK);
    CHECK_EQ_I64(plog_start_offset(l), 1000);
    CHECK_EQ_I64(plog_end_offset(l), 1003);
    plog_slice sl;
    CHECK(plog_read(l, 999, 1 << 20, true, &sl) == LOG_ERR_OUT_OF_RANGE);
    plog_close(l);
    rm_rf(dir);
}

/* ---- checkpoints ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_checkpoint(void)
{
    char dir[512], path[600], err[512];
    tdir(dir, sizeof dir, "ckpt");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", dir);
    checkpoint_file f;
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_ERR_MISSING);
    CHECK_EQ_I64(f.count, 0);
    checkpoint_entry e[3] = {
        { "orders", 0, 1200 }, { "orders", 1, 980 }, { "a.b_c-d", 7, 0 },
    };
    CHECK(checkpoint_write(path, e, 3, err, sizeof err) == CHECKPOINT_OK);
    FILE *fp = fopen(path, "r");
    char text[256] = { 0 };
    CHECK(fp && fread(text, 1, sizeof text - 1, fp) > 0);
    if (fp)
        fclose(fp);
    CHECK(strcmp(text, "0\n3\norders 0 1200\norders 1 980\na.b_c-d 7 0\n") == 0);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK);
    CHECK_EQ_I64(f.count, 3);
    const checkpoint_entry *x = checkpoint_find(&f, "orders", 1);
    CHECK(x && x->offset == 980);
    CHECK(checkpoint_find(&f, "orders", 2) == NULL);
    checkpoint_file_deinit(&f);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));

    /* Empty file reads as empty (Kafka does the same). */
    write_text(path, "");
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK && f.count == 0);

    const char *bad[] = {
        "1\n0\n",                              /* version */
        "0\n2\norders 0 1\n",                  /* count too large */
        "0\n1\norders 0 1\norders 1 2\n",      /* extra entry */
        "0\n1\norders 0\n",                    /* two fields */
        "0\n1\norders x 1\n",                  /* partition not a number */
        "0\n1\norders 0 -1\n",                 /* negative offset */
        "0\n1\norders  0 1\n",                 /* double space */
        "0\n1\nord/ers 0 1\n",                 /* bad topic */
        "0\nfoo\n",                            /* count */
        "0\n2\norders 0 1\norders 0 2\n",      /* duplicate */
        "0\n1\norders 0 99999999999999999999\n", /* overflow */
        "0\n1\n\n",                            /* empty line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, bad[i]);
        err[0] = '\0';
        int rc = checkpoint_read(path, &f, err, sizeof err);
        CHECK(rc == CHECKPOINT_ERR_MALFORMED);
        CHECK(strstr(err, path) != NULL);
        CHECK_EQ_I64(f.count, 0);
        if (rc != CHECKPOINT_ERR_MALFORMED)
            fprintf(stderr, "  accepted bad checkpoint #%zu\n", i);
    }
    checkpoint_entry badw = { "a b", 0, 1 };
    CHECK(checkpoint_write(path, &badw, 1, err, sizeof err) == CHECKPOINT_ERR_MALFORMED);
    rm_rf(dir);
}

/* ---- logmgr ---- */

typedef struct seen {
    int n;
    char names[8][64];
} seen;

static void seen_cb(void *arg, const char *topic, int32_t partition)
{
    seen *s = arg;
    if (s->n < 8)
        snprintf(s->names[s->n++], 64, "%s/%d", topic, (int)partition);
}

static void test_logmgr(void)
{
    char dir[512], path[700], err[512], report[1024];
    tdir(dir, sizeof dir, "lm/nested/logs");
    logmgr *m = NULL, *m2 = NULL;
    CHECK(logmgr_open(dir, &m, err, sizeof err) == 0);
    CHECK(!logmgr_was_clean(m));
    CHECK(strcmp(logmgr_dir(m), dir) == 0);

    /* Second opener is refused. */
    CHECK(logmgr_open(dir, &m2, err, sizeof err) == -1);
    CHECK(strstr(err, "is in use by another process") != NULL);

    log_config cfg = test_cfg();
    plog *l = NULL, *l2 = NULL;
    CHECK(logmgr_partition_open(m, "orders", 0, &cfg, &l, report, sizeof report) == LOG_OK);
    CHECK(logmgr_partition_open(m, "orders", 0, &cfg, &l2, NULL, 0) == LOG_OK && l2 == l);
    CHECK(logmgr_partition_get(m, "orders", 0) == l);
    CHECK(logmgr_partition_get(m, "orders", 1) == NULL);
    CHECK(logmgr_partition_open(m, "bad/topic", 0, &cfg, &l2, NULL, 0) != LOG_OK);
    CHECK(logmgr_partition_open(m, "my-topic", 3, &cfg, &l2, NULL, 0) == LOG_OK);
    for (int i = 0; i < 5; i++)
        app(l, 2, 100, 20, 0);
    app(l2, 1, 100, 20, 0);
    CHECK(plog_advance_start(l, 4) == 0);
    CHECK(logmgr_flush_all(m) == LOG_OK);
    CHECK_EQ_I64(plog_recovery_point(l), 10);
    CHECK(logmgr_checkpoint(m) == LOG_OK);
    checkpoint_file f;
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_RECOVERY_CHECKPOINT);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK);
    const checkpoint_entry *e = checkpoint_find(&f, "orders", 0);
    CHECK(e && e->offset == 10);
    e = checkpoint_find(&f, "my-topic", 3);
    CHECK(e && e->offset == 1);
    checkpoint_file_deinit(&f);
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_START_CHECKPOINT);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK);
    e = checkpoint_find(&f, "orders", 0);
    CHECK(e && e->offset == 4);
    checkpoint_file_deinit(&f);

    seen s = { 0 };
    CHECK_EQ_I64(logmgr_list_partition_dirs(m, seen_cb, &s), 2);

    /* Clean close writes the marker; the next open consumes it. */
    logmgr_close(m, true);
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_CLEAN_SHUTDOWN_FILE);
    CHECK(file_exists(path));
    CHECK(logmgr_open(dir, &m, err, sizeof err) == 0);
    CHECK(logmgr_was_clean(m));
    CHECK(!file_exists(path));
    CHECK(logmgr_partition_open(m, "orders", 0, &cfg, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "clean open") != NULL);
    CHECK_EQ_I64(plog_start_offset(l), 4);
    CHECK_EQ_I64(plog_end_offset(l), 10);
    app(l, 1, 100, 20, 0);

    /* A crash (close unclean) leaves no marker; reopening recovers. The
     * unopened partition keeps its checkpoint entries. */
    logmgr_close(m, false);
    CHECK(!file_exists(path));
    CHECK(logmgr_open(dir, &m, err, sizeof err) == 0);
    CHECK(!logmgr_was_clean(m));
    CHECK(logmgr_partition_open(m, "orders", 0, &cfg, &l, report, sizeof report) == LOG_OK);
    CHECK(strstr(report, "recovered") != NULL);
    CHECK_EQ_I64(plog_end_offset(l), 11);
    CHECK(logmgr_checkpoint(m) == LOG_OK);
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_START_CHECKPOINT);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK);
    CHECK(checkpoint_find(&f, "my-topic", 3) != NULL);
    checkpoint_file_deinit(&f);

    /* Delete: directory gone, entries forgotten, can be recreated empty. */
    CHECK(logmgr_partition_delete(m, "my-topic", 3) == LOG_OK);
    snprintf(path, sizeof path, "%s/my-topic-3", dir);
    CHECK(!file_exists(path));
    CHECK(logmgr_partition_delete(m, "orders", 0) == LOG_OK);
    CHECK(logmgr_partition_get(m, "orders", 0) == NULL);
    CHECK(logmgr_partition_open(m, "orders", 0, &cfg, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(plog_end_offset(l), 0);
    CHECK_EQ_I64(plog_start_offset(l), 0);
    CHECK(logmgr_checkpoint(m) == LOG_OK);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_ERR_MISSING);
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_START_CHECKPOINT);
    CHECK(checkpoint_read(path, &f, err, sizeof err) == CHECKPOINT_OK);
    CHECK(checkpoint_find(&f, "my-topic", 3) == NULL);
    checkpoint_file_deinit(&f);

    /* A leftover *-delete directory is removed at open. */
    logmgr_close(m, true);
    snprintf(path, sizeof path, "%s/gone-0.0123456789abcdef0123456789abcdef-delete", dir);
    mkdir(path, 0755);
    char inner[800];
    snprintf(inner, sizeof inner, "%s/00000000000000000000.log", path);
    write_text(inner, "x");
    CHECK(logmgr_open(dir, &m, err, sizeof err) == 0);
    CHECK(!file_exists(path));
    memset(&s, 0, sizeof s);
    CHECK_EQ_I64(logmgr_list_partition_dirs(m, seen_cb, &s), 1);
    CHECK(strcmp(s.names[0], "orders/0") == 0);
    logmgr_close(m, false);

    /* Malformed checkpoint at open: ignored, open still works. */
    snprintf(path, sizeof path, "%s/%s", dir, LOGMGR_RECOVERY_CHECKPOINT);
    write_text(path, "garbage\n");
    CHECK(logmgr_open(dir, &m, err, sizeof err) == 0);
    logmgr_close(m, false);
    snprintf(path, sizeof path, "%s/lm", g_root);
    rm_rf(path);
}

/* ---- threads: appender, flusher, readers, retention at once ---- */

typedef struct conc {
    plog *l;
    atomic_bool done;
    int64_t total;
    atomic_int read_errors;
    atomic_int reads;
    atomic_int flush_errors;
} conc;

static void *conc_append(void *arg)
{
    conc *c = arg;
    for (int i = 0; i < 3000; i++) {
        int n = 1 + i % 3;
        if (app(c->l, n, 1000 + i, 30 + i % 40, i) < 0)
            break;
        c->total += n;
    }
    atomic_store(&c->done, true);
    return NULL;
}

static void *conc_flush(void *arg)
{
    conc *c = arg;
    while (!atomic_load(&c->done)) {
        int64_t f;
        if (plog_flush(c->l, &f) != LOG_OK)
            atomic_fetch_add(&c->flush_errors, 1);
        plog_enforce_retention(c->l, 0);
    }
    return NULL;
}

static void *conc_read(void *arg)
{
    conc *c = arg;
    unsigned seed = 12345;
    while (!atomic_load(&c->done)) {
        int64_t start = plog_start_offset(c->l), end = plog_end_offset(c->l);
        if (end <= start)
            continue;
        seed = seed * 1103515245u + 12345u;
        int64_t o = start + (int64_t)(seed >> 8) % (end - start);
        plog_slice s;
        int rc = plog_read(c->l, o, 2048, true, &s);
        if (rc == LOG_ERR_OUT_OF_RANGE)
            continue;   /* retention moved the start meanwhile */
        int64_t fb = -1, lo = -1;
        if (rc != LOG_OK || slice_batches(&s, &fb, &lo) < 1 || fb > o || lo < o)
            atomic_fetch_add(&c->read_errors, 1);
        atomic_fetch_add(&c->reads, 1);
        log_segment_unref(s.seg);
    }
    return NULL;
}

/* A checkpointed log start beyond the log end is impossible: it is ignored
 * (the log starts at its first segment), not believed (which would hide
 * every record), and a start within the log is still honoured. */
static void test_impossible_start(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "badstart");
    log_config cfg = test_cfg();
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(app(l, 10, 1000, 10, 0), 0);
    CHECK(plog_shutdown(l) == LOG_OK);
    CHECK(plog_open(dir, &cfg, 1000000000, 10, true, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(plog_start_offset(l), 0);
    CHECK_EQ_I64(plog_end_offset(l), 10);
    plog_slice s;
    CHECK(plog_read(l, 0, 1 << 20, false, &s) == LOG_OK);
    CHECK(s.len > 0);
    log_segment_unref(s.seg);
    CHECK(plog_shutdown(l) == LOG_OK);
    CHECK(plog_open(dir, &cfg, 4, 10, true, &l, NULL, 0) == LOG_OK);
    CHECK_EQ_I64(plog_start_offset(l), 4);
    CHECK(plog_shutdown(l) == LOG_OK);
}

/* The scrubber finds a flipped bit in a closed segment in one pass; reads
 * stop before the damaged batch instead of serving it. */
static void test_scrub(void)
{
    char dir[512], path[600];
    tdir(dir, sizeof dir, "scrub");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 4096;
    plog *l = NULL;
    CHECK(plog_open(dir, &cfg, 0, 0, false, &l, NULL, 0) == LOG_OK);
    for (int i = 0; i < 40; i++)
        CHECK_EQ_I64(app(l, 2, 0, 100, 0), 2 * i);
    CHECK(plog_segment_count(l) >= 3);
    int64_t spent = 0;
    int damaged = -1;
    CHECK(plog_scrub(l, 1000, 60000, &spent, 1 << 30, &damaged) == LOG_OK);
    CHECK_EQ_I64(damaged, 0);
    CHECK(spent > 0);
    /* Within the interval nothing is read again. */
    int64_t again = 0;
    CHECK(plog_scrub(l, 2000, 60000, &again, 1 << 30, &damaged) == LOG_OK);
    CHECK_EQ_I64(again, 0);

    /* Damage the second batch of the first segment (a closed one). */
    seg_file(path, sizeof path, dir, 0, ".log");
    uint8_t hdr[12];
    int fd = open(path, O_RDWR);
    CHECK(pread(fd, hdr, 12, 0) == 12);
    int64_t second = 12 + (int64_t)get32(hdr + 8);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, second + 70) == 1);
    byte ^= 0x04;
    CHECK(pwrite(fd, &byte, 1, second + 70) == 1);
    close(fd);
    spent = 0;
    CHECK(plog_scrub(l, 70000, 60000, &spent, 1 << 30, &damaged) == LOG_OK);
    CHECK_EQ_I64(damaged, 1);
    plog_slice s;
    CHECK(plog_read(l, 0, 1 << 20, true, &s) == LOG_OK);
    CHECK_EQ_I64(s.pos, 0);
    CHECK_EQ_I64(s.len, second);                  /* the good batch, not the bad one */
    log_segment_unref(s.seg);
    CHECK(plog_read(l, 2, 1 << 20, true, &s) == LOG_ERR_DAMAGED);
    CHECK(plog_read(l, 3, 1 << 20, true, &s) == LOG_ERR_DAMAGED);
    /* Later segments are served as before. */
    CHECK(plog_read(l, 70, 1 << 20, true, &s) == LOG_OK && s.len > 0);
    log_segment_unref(s.seg);
    /* A budget stops a round early; the rest waits for the next one. */
    spent = 0;
    CHECK(plog_scrub(l, 200000, 60000, &spent, 0, &damaged) == LOG_ERR_BUSY);
    CHECK_EQ_I64(spent, 0);
    plog_close(l);
    rm_rf(dir);
}

static void test_threads(void)
{
    char dir[512];
    tdir(dir, sizeof dir, "threads");
    log_config cfg = test_cfg();
    cfg.segment_bytes = 4096;
    cfg.index_interval_bytes = 256;
    cfg.retention_bytes = 64 * 1024;
    conc c = { 0 };
    CHECK(plog_open(dir, &cfg, 0, 0, false, &c.l, NULL, 0) == LOG_OK);
    pthread_t t[4];
    pthread_create(&t[0], NULL, conc_append, &c);
    pthread_create(&t[1], NULL, conc_flush, &c);
    pthread_create(&t[2], NULL, conc_read, &c);
    pthread_create(&t[3], NULL, conc_read, &c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_I64(c.total, 6000);
    CHECK_EQ_I64(plog_end_offset(c.l), 6000);
    CHECK_EQ_I64(atomic_load(&c.read_errors), 0);
    CHECK_EQ_I64(atomic_load(&c.flush_errors), 0);
    CHECK(atomic_load(&c.reads) > 0);
    CHECK(plog_failure(c.l) == NULL);
    CHECK(plog_start_offset(c.l) > 0);
    int64_t f;
    CHECK(plog_flush(c.l, &f) == LOG_OK && f == 6000);
    plog_close(c.l);
    char report[1024];
    CHECK(plog_open(dir, &cfg, 0, 6000, false, &c.l, report, sizeof report) == LOG_OK);
    CHECK_EQ_I64(plog_end_offset(c.l), 6000);
    plog_close(c.l);
    rm_rf(dir);
}

int main(void)
{
    glog_set_level(GLOG_ERROR);
    snprintf(g_root, sizeof g_root, "/tmp/gregor-test-storage-%d", (int)getpid());
    rm_rf(g_root);
    mkdir(g_root, 0755);
    test_roundtrip();
    test_roll();
    test_index_lookup();
    test_active_index_in_memory();
    test_recovery();
    test_failure();
    test_timestamps();
    test_legacy_offsets();
    test_retention();
    test_truncate();
    test_reset();
    test_checkpoint();
    test_logmgr();
    test_impossible_start();
    test_scrub();
    test_threads();
    rm_rf(g_root);
    TEST_REPORT();
}
