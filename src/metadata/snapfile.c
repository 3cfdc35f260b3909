/*
 * snapfile.c - see snapfile.h.
 *
 * Writing builds one batch at a time in memory and writes it out, so a
 * snapshot never needs more than one batch of memory beyond the records
 * themselves. Reading streams the same way: a batch header, its length
 * checked against SNAPFILE_READ_BATCH_BYTES_MAX before anything is
 * allocated, the batch, then batch_validate (lengths, CRC, records) and a
 * walk with the shared record iterator. Everything read is untrusted.
 */
#include "metadata/snapfile.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/log.h"
#include "kafka_msgs.h"
#include "proto/batch.h"
#include "proto/batch_build.h"
#include "proto/records.h"

/* Kafka's ControlRecordType values that a snapshot uses. */
#define SNAP_CONTROL_HEADER 3
#define SNAP_CONTROL_FOOTER 4

#define SNAP_SUFFIX ".checkpoint"
#define SNAP_PART_SUFFIX ".checkpoint.part"
#define SNAP_NAME_DIGITS_OFFSET 20
#define SNAP_NAME_DIGITS_EPOCH 10

static uint32_t snap_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool snap_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void snapfile_path(char *buf, size_t len, const char *dir, raft_snapshot_id id, bool part)
{
    snprintf(buf, len, "%s/%020lld-%010d%s", dir, (long long)id.end_offset, (int)id.epoch,
             part ? SNAP_PART_SUFFIX : SNAP_SUFFIX);
}

int snapfile_parse_name(const char *name, raft_snapshot_id *id)
{
    const char *p = name;
    int64_t off = 0;
    for (int i = 0; i < SNAP_NAME_DIGITS_OFFSET; i++, p++) {
        if (*p < '0' || *p > '9' || off > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        off = off * 10 + (*p - '0');
    }
    if (*p++ != '-')
        return -1;
    int64_t epoch = 0;
    for (int i = 0; i < SNAP_NAME_DIGITS_EPOCH; i++, p++) {
        if (*p < '0' || *p > '9')
            return -1;
        epoch = epoch * 10 + (*p - '0');
    }
    if (epoch > INT32_MAX || strcmp(p, SNAP_SUFFIX) != 0)
        return -1;
    id->end_offset = off;
    id->epoch = (int32_t)epoch;
    return 0;
}

/* ---- writing ---- */

typedef struct snap_writer {
    int fd;
    raft_snapshot_id id;
    int64_t next_offset;   /* base offset of the next batch */
    int64_t size;          /* bytes written so far */
    int64_t now_ms;        /* every batch's timestamp */
    kp_writer w;           /* the batch being built */
    batch_builder bb;
    bool open;             /* bb holds a batch not yet written */
} snap_writer;

static int snap_write_full(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Finish the open batch, give it its offset and epoch, write it out. */
static int snap_batch_flush(snap_writer *sw, char *err, size_t errlen)
{
    assert(sw->open);
    sw->open = false;
    int32_t count = sw->bb.count;
    size_t total = batch_build_end(&sw->bb);
    if (total == 0) {
        snprintf(err, errlen, "out of memory building a snapshot batch");
        return -1;
    }
    uint8_t *p = sw->w.buf + sw->bb.start;
    batch_set_base_offset(p, sw->next_offset);
    batch_set_leader_epoch(p, sw->id.epoch);
    if (snap_write_full(sw->fd, p, total) != 0) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        return -1;
    }
    sw->next_offset += count;
    sw->size += (int64_t)total;
    kp_writer_deinit(&sw->w);
    kp_writer_init(&sw->w);
    return 0;
}

static void snap_batch_open(snap_writer *sw, bool control)
{
    assert(!sw->open);
    batch_build_begin(&sw->bb, &sw->w, sw->now_ms);
    if (control)
        batch_build_producer(&sw->bb, -1, -1, -1, BATCH_ATTR_CONTROL);
    sw->open = true;
}

/* One control batch holding one control record of type `type`. */
static int snap_control(snap_writer *sw, int type, const kp_writer *val, char *err, size_t errlen)
{
    uint8_t key[4] = { 0, 0, 0, (uint8_t)type }; /* int16 version 0, int16 type */
    snap_batch_open(sw, true);
    batch_build_add(&sw->bb, sw->now_ms, key, 4, val->buf, (int32_t)val->len);
    return snap_batch_flush(sw, err, errlen);
}

static int snap_write_records(snap_writer *sw, int64_t last_ts_ms, const mrec_list *recs, char *err, size_t errlen)
{
    kp_writer val;
    kp_writer_init(&val);
    kp_snapshot_header_record h;
    kp_snapshot_header_record_init(&h);
    h.version = 0;
    h.last_contained_log_timestamp = last_ts_ms;
    kp_snapshot_header_record_encode(&val, 0, &h);
    int rc = val.err ? -1 : snap_control(sw, SNAP_CONTROL_HEADER, &val, err, errlen);
    for (int i = 0; rc == 0 && i < recs->n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(recs, i, &len);
        if (sw->open && sw->w.len + (size_t)len > SNAPFILE_BATCH_BYTES_MAX)
            rc = snap_batch_flush(sw, err, errlen);
        if (rc == 0 && !sw->open)
            snap_batch_open(sw, false);
        if (rc == 0)
            batch_build_add(&sw->bb, sw->now_ms, NULL, -1, v, len);
    }
    if (rc == 0 && sw->open)
        rc = snap_batch_flush(sw, err, errlen);
    kp_writer_deinit(&val);
    kp_writer_init(&val);
    kp_snapshot_footer_record f;
    kp_snapshot_footer_record_init(&f);
    f.version = 0;
    kp_snapshot_footer_record_encode(&val, 0, &f);
    if (rc == 0)
        rc = val.err ? -1 : snap_control(sw, SNAP_CONTROL_FOOTER, &val, err, errlen);
    if (rc != 0 && val.err)
        snprintf(err, errlen, "out of memory encoding a snapshot header or footer");
    kp_writer_deinit(&val);
    return rc;
}

static int snap_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int snapfile_write(const char *dir, raft_snapshot_id id, int64_t last_contained_ts_ms, const mrec_list *recs,
                   int64_t *size_out, char *err, size_t errlen)
{
    assert(id.end_offset >= 0 && id.epoch >= 0);
    if (recs->oom) {
        snprintf(err, errlen, "the snapshot's records ran out of memory");
        return -1;
    }
    char part[4096], final[4096];
    snapfile_path(part, sizeof part, dir, id, true);
    snapfile_path(final, sizeof final, dir, id, false);
    snap_writer sw = { .id = id, .now_ms = clock_now_ms() };
    kp_writer_init(&sw.w);
    sw.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sw.fd < 0) {
        snprintf(err, errlen, "%s: %s", part, strerror(errno));
        kp_writer_deinit(&sw.w);
        return -1;
    }
    char why[256] = "";
    int rc = snap_write_records(&sw, last_contained_ts_ms, recs, why, sizeof why);
    if (rc == 0 && fchmod(sw.fd, 0400) != 0) { /* read-only, as Kafka makes them */
        snprintf(why, sizeof why, "fchmod: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && fsync(sw.fd) != 0) {
        snprintf(why, sizeof why, "fsync: %s", strerror(errno));
        rc = -1;
    }
    if (close(sw.fd) != 0 && rc == 0) {
        snprintf(why, sizeof why, "close: %s", strerror(errno));
        rc = -1;
    }
    kp_writer_deinit(&sw.w);
    if (rc == 0 && rename(part, final) != 0) {
        snprintf(why, sizeof why, "rename to .checkpoint: %s", strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", part, why);
        unlink(part);
        return -1;
    }
    if (snap_fsync_dir(dir) != 0) {
        /* The file is whole but its name may not survive a crash: refuse it
         * so the caller does not drop the log it replaces. */
        snprintf(err, errlen, "%s: fsync of the directory: %s", dir, strerror(errno));
        unlink(final);
        return -1;
    }
    if (size_out)
        *size_out = sw.size;
    return 0;
}

/* ---- reading ---- */

typedef struct snap_reader {
    const char *path;
    int64_t pos;            /* file position of the current batch */
    int64_t next_offset;
    bool seen_header, seen_footer;
    bool check_epoch;       /* the file is named after a snapshot id */
    int32_t epoch;          /*   whose epoch every batch must carry */
    int (*fn)(void *ctx, const uint8_t *val, int32_t len);
    void *ctx;
    char *err;
    size_t errlen;
} snap_reader;

/* Bytes read, short only at the end of the file; -1 on a read error. */
static ssize_t snap_read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static int snap_bad(snap_reader *sr, const char *fmt, const char *detail)
{
    char what[200];
    snprintf(what, sizeof what, fmt, detail);
    snprintf(sr->err, sr->errlen, "%s: batch at position %" PRId64 " (offset %" PRId64 "): %s", sr->path, sr->pos,
             sr->next_offset, what);
    return -1;
}

/* A control record: the header must come first, the footer last. */
static int snap_control_record(snap_reader *sr, const krecord *r, bool first)
{
    if (r->key_len < 4)
        return snap_bad(sr, "control record with a key of fewer than 4 bytes%s", "");
    int type = (int16_t)(r->key[2] << 8 | r->key[3]);
    if (!sr->seen_header) {
        if (!first || type != SNAP_CONTROL_HEADER)
            return snap_bad(sr, "the first record is not a snapshot header%s", "");
        arena a;
        arena_init(&a, 4096);
        kp_reader rd;
        kp_reader_init(&rd, r->value, r->value_len < 0 ? 0 : (size_t)r->value_len, &a);
        kp_snapshot_header_record h;
        int rc = r->value_len < 0 ? -1 : kp_snapshot_header_record_decode(&rd, 0, &h);
        arena_deinit(&a);
        if (rc != 0 || rd.err)
            return snap_bad(sr, "the snapshot header does not decode%s", "");
        sr->seen_header = true;
        return 0;
    }
    if (type == SNAP_CONTROL_HEADER)
        return snap_bad(sr, "a second snapshot header%s", "");
    if (type == SNAP_CONTROL_FOOTER)
        sr->seen_footer = true;
    return 0; /* KRAFT_VERSION, KRAFT_VOTERS, ...: not metadata */
}

/* Walk one validated batch's records. */
static int snap_batch_records(snap_reader *sr, rec_iter *it, const uint8_t *p, size_t total)
{
    if (rec_iter_init(it, p, total, RECORDS_MAX_INFLATED) != 0)
        return snap_bad(sr, "%s", it->err);
    bool control = (it->info.attributes & BATCH_ATTR_CONTROL) != 0;
    int64_t expect = sr->next_offset;
    krecord r;
    int k;
    while ((k = rec_iter_next(it, &r)) == 1) {
        if (r.offset != expect)
            return snap_bad(sr, "record offsets are not contiguous%s", "");
        if (sr->seen_footer)
            return snap_bad(sr, "a record after the snapshot footer%s", "");
        bool first = expect == 0;
        expect++;
        if (control) {
            if (snap_control_record(sr, &r, first) != 0)
                return -1;
            continue;
        }
        if (!sr->seen_header)
            return snap_bad(sr, "the first record is not a snapshot header%s", "");
        if (r.value_len < 0)
            return snap_bad(sr, "a metadata record with a null value%s", "");
        if (sr->fn) {
            int rc = sr->fn(sr->ctx, r.value, r.value_len);
            if (rc != 0)
                return rc;
        }
    }
    if (k < 0)
        return snap_bad(sr, "%s", it->err);
    return 0;
}

/* The next batch into *buf (grown as needed): 1 read, 0 end of file, -1 bad. */
static int snap_next_batch(snap_reader *sr, int fd, uint8_t **buf, size_t *cap, size_t *total)
{
    uint8_t head[BATCH_LOG_OVERHEAD];
    ssize_t n = snap_read_full(fd, head, sizeof head);
    if (n == 0)
        return 0;
    if (n < 0)
        return snap_bad(sr, "read: %s", strerror(errno));
    if (n < (ssize_t)sizeof head)
        return snap_bad(sr, "truncated batch header%s", "");
    int32_t blen = (int32_t)snap_be32(head + 8);
    if (blen < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD || (uint32_t)blen > SNAPFILE_READ_BATCH_BYTES_MAX)
        return snap_bad(sr, "batch length out of range%s", "");
    *total = (size_t)blen + BATCH_LOG_OVERHEAD;
    if (*total > *cap) {
        uint8_t *nb = realloc(*buf, *total);
        if (!nb)
            return snap_bad(sr, "out of memory%s", "");
        *buf = nb;
        *cap = *total;
    }
    memcpy(*buf, head, sizeof head);
    n = snap_read_full(fd, *buf + sizeof head, *total - sizeof head);
    if (n < 0)
        return snap_bad(sr, "read: %s", strerror(errno));
    if ((size_t)n < *total - sizeof head)
        return snap_bad(sr, "truncated batch%s", "");
    return 1;
}

static int snap_read_fd(snap_reader *sr, int fd)
{
    uint8_t *buf = NULL;
    size_t cap = 0, total = 0;
    rec_iter it;
    rec_iter_setup(&it);
    int rc;
    while ((rc = snap_next_batch(sr, fd, &buf, &cap, &total)) == 1) {
        batch_info info;
        int e = batch_validate(buf, total, &info);
        if (e != BATCH_OK) {
            rc = snap_bad(sr, "%s", batch_err_str(e));
            break;
        }
        if (sr->seen_footer) {
            rc = snap_bad(sr, "a batch after the snapshot footer%s", "");
            break;
        }
        if (batch_base_offset(buf) != sr->next_offset) {
            rc = snap_bad(sr, "base offset is not the previous batch's end%s", "");
            break;
        }
        if (sr->check_epoch && (int32_t)snap_be32(buf + 12) != sr->epoch) {
            rc = snap_bad(sr, "partition leader epoch is not the snapshot's%s", "");
            break;
        }
        if (info.record_count < 1) {
            rc = snap_bad(sr, "an empty batch%s", "");
            break;
        }
        rc = snap_batch_records(sr, &it, buf, total);
        if (rc != 0)
            break;
        sr->next_offset += (int64_t)info.last_offset_delta + 1;
        sr->pos += (int64_t)total;
    }
    rec_iter_deinit(&it);
    free(buf);
    if (rc == 0 && !sr->seen_header)
        rc = snap_bad(sr, "no snapshot header (empty file)%s", "");
    else if (rc == 0 && !sr->seen_footer)
        rc = snap_bad(sr, "no snapshot footer (truncated?)%s", "");
    return rc;
}

int snapfile_read(const char *path, int (*fn)(void *ctx, const uint8_t *val, int32_t len), void *ctx, char *err,
                  size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    snap_reader sr = { .path = path, .fn = fn, .ctx = ctx, .err = err, .errlen = errlen };
    const char *name = strrchr(path, '/');
    raft_snapshot_id id;
    if (snapfile_parse_name(name ? name + 1 : path, &id) == 0) {
        sr.check_epoch = true;
        sr.epoch = id.epoch;
    }
    int rc = snap_read_fd(&sr, fd);
    close(fd);
    return rc;
}

/* ---- the directory ---- */

typedef struct snap_ids {
    raft_snapshot_id *v;
    int n, cap;
} snap_ids;

static int snap_id_cmp_desc(const void *a, const void *b)
{
    const raft_snapshot_id *x = a, *y = b;
    if (x->end_offset != y->end_offset)
        return x->end_offset < y->end_offset ? 1 : -1;
    return x->epoch < y->epoch ? 1 : x->epoch > y->epoch ? -1 : 0;
}

/* The checkpoints in dir into ids (newest first); leftover .part files
 * deleted when delete_parts (only at start-up: later a .part may be a
 * snapshot being written). 0, or -1 with errno (opendir failed, or out of
 * memory). */
static int snap_scan(const char *dir, bool delete_parts, snap_ids *ids)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        raft_snapshot_id id;
        if (delete_parts && snap_ends_with(e->d_name, SNAP_PART_SUFFIX)) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0)
                glog(GLOG_INFO, "metadata", "deleted the unfinished snapshot %s", path);
            continue;
        }
        if (snapfile_parse_name(e->d_name, &id) != 0)
            continue;
        if (ids->n == ids->cap) {
            int cap = ids->cap ? ids->cap * 2 : 16;
            raft_snapshot_id *v = realloc(ids->v, sizeof *v * (size_t)cap);
            if (!v) {
                errno = ENOMEM;
                rc = -1;
                break;
            }
            ids->v = v;
            ids->cap = cap;
        }
        ids->v[ids->n++] = id;
    }
    closedir(d);
    if (rc == 0 && ids->n > 1)
        qsort(ids->v, (size_t)ids->n, sizeof *ids->v, snap_id_cmp_desc);
    return rc;
}

int snapfile_latest(const char *dir, raft_snapshot_id *id, int64_t *size, char *path, size_t pathlen, char *err,
                    size_t errlen)
{
    snap_ids ids = { 0 };
    if (snap_scan(dir, true, &ids) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        free(ids.v);
        return -1;
    }
    int found = 0;
    for (int i = 0; i < ids.n && !found; i++) {
        char p[4096], why[512] = "cannot stat it";
        snapfile_path(p, sizeof p, dir, ids.v[i], false);
        struct stat st;
        if (snapfile_read(p, NULL, NULL, why, sizeof why) == 0 && stat(p, &st) == 0) {
            *id = ids.v[i];
            *size = (int64_t)st.st_size;
            snprintf(path, pathlen, "%s", p);
            found = 1;
            break;
        }
        char bad[4200];
        snprintf(bad, sizeof bad, "%s.bad", p);
        if (rename(p, bad) == 0)
            glog(GLOG_WARN, "metadata", "snapshot %s is invalid (%s): renamed to %s", p, why, bad);
        else
            glog(GLOG_WARN, "metadata", "snapshot %s is invalid (%s) and cannot be renamed: %s", p, why,
                 strerror(errno));
    }
    free(ids.v);
    return found;
}

int snapfile_remove_older(const char *dir, raft_snapshot_id id)
{
    snap_ids ids = { 0 };
    int removed = 0;
    if (snap_scan(dir, false, &ids) == 0) {
        for (int i = 0; i < ids.n; i++) {
            if (ids.v[i].end_offset >= id.end_offset)
                continue;
            char p[4096];
            snapfile_path(p, sizeof p, dir, ids.v[i], false);
            if (unlink(p) == 0)
                removed++;
            else
                glog(GLOG_WARN, "metadata", "cannot delete the old snapshot %s: %s", p, strerror(errno));
        }
    }
    free(ids.v);
    return removed;
}
