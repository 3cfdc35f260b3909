/*
 * test_snapfile.c - metadata snapshot files (.checkpoint), written and read.
 *
 *   - an image (topics, partitions, configs, brokers, features, producer
 *     ids) written as records, as a checkpoint, and read back into a fresh
 *     image is equal; the file's batches are Kafka's shape (header control
 *     batch, data, footer control batch, offsets 0.. contiguous, every
 *     partitionLeaderEpoch the snapshot's epoch);
 *   - more than 1 MiB of records makes several data batches of at most
 *     ~1 MiB, and reads back whole;
 *   - the file cut at every byte, any single flipped byte, no footer, a
 *     batch after the footer, data before the header: all refused (-1);
 *   - unknown control records (KRAFT_VERSION, KRAFT_VOTERS) are skipped,
 *     in their own batches or in the header's batch (where Kafka 4.4 puts
 *     them with a dynamic quorum);
 *   - fn's non-zero return stops the read and is returned;
 *   - snapfile_latest picks the newest valid checkpoint, renames a corrupt
 *     newer one to .bad and deletes .part files; remove_older;
 *     parse_name on good and bad names.
 *
 * `test_snapfile --write-sample DIR` writes one sample checkpoint into DIR
 * and prints its path (tests/integration/test_snapshot_format.py feeds it
 * to Kafka's DumpLogSegments).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "controller/image.h"
#include "controller/mrec.h"
#include "kafka_msgs.h"
#include "metadata/snapfile.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

static kp_uuid uuid_of(int n)
{
    kp_uuid u = { { 0 } };
    u.b[0] = 0x5a;
    u.b[14] = (uint8_t)(n >> 8);
    u.b[15] = (uint8_t)n;
    return u;
}

/* Records of a small cluster: brokers, features, producer ids, topics with
 * partitions and configs. */
static void sample_records(mrec_list *l, int ntopics, int nparts, int value_bytes)
{
    mrec_feature_level(l, "metadata.version", 21);
    for (int32_t id = 1; id <= 3; id++) {
        mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9090 + id, 0 };
        mi_broker b = { .id = id, .epoch = 10 + id, .incarnation = uuid_of(1000 + id),
                        .rack = id == 2 ? "rack-b" : NULL, .eps = &ep, .neps = 1, .fenced = id == 3 };
        mrec_register_broker(l, &b);
    }
    mrec_producer_ids(l, 1, 11, 5000);
    char *value = malloc((size_t)value_bytes + 1);
    memset(value, 'v', (size_t)value_bytes);
    value[value_bytes] = 0;
    for (int t = 0; t < ntopics; t++) {
        char name[64];
        snprintf(name, sizeof name, "snap-topic-%d", t);
        mrec_topic(l, name, uuid_of(t + 1));
        mrec_config(l, MREC_RESOURCE_TOPIC, name, "retention.ms", "86400000");
        if (value_bytes > 0)
            mrec_config(l, MREC_RESOURCE_TOPIC, name, "x.padding", value);
        for (int p = 0; p < nparts; p++) {
            int32_t replicas[2] = { 1 + p % 2, 2 - p % 2 };
            mrec_partition(l, uuid_of(t + 1), p, replicas, 2, replicas, 2, NULL, 0, NULL, 0, replicas[0], 3, 4);
        }
    }
    free(value);
    CHECK(!l->oom);
}

/* The image of those records, and the records the image writes. */
static void sample_image(mimage *im, mrec_list *snap, int ntopics, int nparts, int value_bytes)
{
    mrec_list l;
    mrec_list_init(&l);
    sample_records(&l, ntopics, nparts, value_bytes);
    for (int i = 0; i < l.n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(&l, i, &len);
        char err[200];
        CHECK(mimage_apply(im, v, len, NULL, err, sizeof err) == 0);
    }
    mrec_list_deinit(&l);
    CHECK_EQ_I64(im->ntopics, ntopics);
    CHECK_EQ_I64(im->nbrokers, 3);
    mimage_write(im, snap);
}

static int apply_fn(void *ctx, const uint8_t *val, int32_t len)
{
    char err[200];
    return mimage_apply(ctx, val, len, NULL, err, sizeof err) == 0 ? 0 : 77;
}

static int count_fn(void *ctx, const uint8_t *val, int32_t len)
{
    (void)val;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

static int stop_fn(void *ctx, const uint8_t *val, int32_t len)
{
    (void)val;
    (void)len;
    return ++*(int *)ctx == 3 ? 42 : 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, len, f);
        fclose(f);
    }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

typedef struct batch_summary {
    int n;
    int32_t epochs_bad;    /* batches whose leader epoch is not the expected one */
    int control_first, control_last, control_other;
    size_t largest;
} batch_summary;

/* Walk the file's batches (framing only; the reader checks the rest). */
static batch_summary summarize(const uint8_t *p, size_t len, int32_t epoch)
{
    batch_summary s = { 0 };
    size_t pos = 0;
    int64_t next = 0;
    while (pos + BATCH_LOG_OVERHEAD <= len) {
        size_t total = be32(p + pos + 8) + BATCH_LOG_OVERHEAD;
        CHECK(pos + total <= len);
        if (pos + total > len)
            break;
        batch_info bi;
        CHECK(batch_validate(p + pos, total, &bi) == BATCH_OK);
        CHECK_EQ_I64(batch_base_offset(p + pos), next);
        next += bi.last_offset_delta + 1;
        if ((int32_t)be32(p + pos + 12) != epoch)
            s.epochs_bad++;
        bool control = bi.attributes & BATCH_ATTR_CONTROL;
        if (control && s.n == 0)
            s.control_first = 1;
        else if (control && pos + total == len)
            s.control_last = 1;
        else if (control)
            s.control_other++;
        if (total > s.largest)
            s.largest = total;
        s.n++;
        pos += total;
    }
    CHECK_EQ_I64(pos, len);
    return s;
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/test_snapfile.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_roundtrip(const char *dir)
{
    mimage im, back;
    mimage_init(&im);
    mimage_init(&back);
    mrec_list snap;
    mrec_list_init(&snap);
    sample_image(&im, &snap, 4, 3, 0);
    raft_snapshot_id id = { 38, 7 };
    char err[300] = "", path[4096];
    int64_t size = -1;
    CHECK_EQ_I64(snapfile_write(dir, id, 1796593497909, &snap, &size, err, sizeof err), 0);
    snapfile_path(path, sizeof path, dir, id, false);
    CHECK(strstr(path, "/00000000000000000038-0000000007.checkpoint") != NULL);
    char part[4096];
    snapfile_path(part, sizeof part, dir, id, true);
    CHECK(strstr(part, "/00000000000000000038-0000000007.checkpoint.part") != NULL);
    CHECK(!exists(part));
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == size);
    CHECK_EQ_I64(snapfile_read(path, apply_fn, &back, err, sizeof err), 0);
    CHECK(mimage_equal(&im, &back));
    int n = 0;
    CHECK_EQ_I64(snapfile_read(path, count_fn, &n, err, sizeof err), 0);
    CHECK_EQ_I64(n, snap.n);
    n = 0;
    CHECK_EQ_I64(snapfile_read(path, stop_fn, &n, err, sizeof err), 42);
    CHECK_EQ_I64(n, 3);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), 0);

    size_t len = 0;
    uint8_t *buf = slurp(path, &len);
    batch_summary s = summarize(buf, len, id.epoch);
    CHECK_EQ_I64(s.n, 3); /* header, one data batch, footer */
    CHECK_EQ_I64(s.epochs_bad, 0);
    CHECK(s.control_first && s.control_last && s.control_other == 0);
    /* the header record: key {0, 3}, value {version 0, the timestamp} */
    CHECK(buf[61] > 0 && buf[61 + 1] == 0); /* record length, attributes */
    free(buf);
    mrec_list_deinit(&snap);
    mimage_deinit(&im);
    mimage_deinit(&back);

    /* no records at all: header and footer only */
    mrec_list empty;
    mrec_list_init(&empty);
    raft_snapshot_id id0 = { 0, 0 };
    CHECK_EQ_I64(snapfile_write(dir, id0, -1, &empty, &size, err, sizeof err), 0);
    snapfile_path(path, sizeof path, dir, id0, false);
    n = 0;
    CHECK_EQ_I64(snapfile_read(path, count_fn, &n, err, sizeof err), 0);
    CHECK_EQ_I64(n, 0);
    mrec_list_deinit(&empty);
    unlink(path);

    /* a directory that does not exist: -1, nothing left */
    CHECK_EQ_I64(snapfile_write("/nonexistent-snapfile-dir", id, 0, &empty, &size, err, sizeof err), -1);
    CHECK(strstr(err, "nonexistent-snapfile-dir") != NULL);
}

static void test_large(const char *dir)
{
    mimage im, back;
    mimage_init(&im);
    mimage_init(&back);
    mrec_list snap;
    mrec_list_init(&snap);
    sample_image(&im, &snap, 3000, 2, 600); /* ~3000 x 700 bytes: ~2 MiB */
    CHECK(snap.w.len > 2 * SNAPFILE_BATCH_BYTES_MAX);
    raft_snapshot_id id = { 123456789, 42 };
    char err[300] = "", path[4096];
    int64_t size = 0;
    CHECK_EQ_I64(snapfile_write(dir, id, 5, &snap, &size, err, sizeof err), 0);
    snapfile_path(path, sizeof path, dir, id, false);
    CHECK_EQ_I64(snapfile_read(path, apply_fn, &back, err, sizeof err), 0);
    CHECK(mimage_equal(&im, &back));
    size_t len = 0;
    uint8_t *buf = slurp(path, &len);
    CHECK_EQ_I64((int64_t)len, size);
    batch_summary s = summarize(buf, len, id.epoch);
    CHECK(s.n >= 5); /* header, >= 3 data batches, footer */
    CHECK_EQ_I64(s.epochs_bad, 0);
    CHECK(s.control_first && s.control_last && s.control_other == 0);
    CHECK(s.largest <= SNAPFILE_BATCH_BYTES_MAX + 1024);
    free(buf);
    unlink(path);
    mrec_list_deinit(&snap);
    mimage_deinit(&im);
    mimage_deinit(&back);
}

/* A small checkpoint's bytes. */
static uint8_t *small_file(const char *dir, raft_snapshot_id id, size_t *len)
{
    mimage im;
    mimage_init(&im);
    mrec_list snap;
    mrec_list_init(&snap);
    sample_image(&im, &snap, 2, 1, 0);
    char err[300], path[4096];
    CHECK_EQ_I64(snapfile_write(dir, id, 0, &snap, NULL, err, sizeof err), 0);
    snapfile_path(path, sizeof path, dir, id, false);
    uint8_t *buf = slurp(path, len);
    unlink(path);
    mrec_list_deinit(&snap);
    mimage_deinit(&im);
    return buf;
}

static void test_damage(const char *dir)
{
    raft_snapshot_id id = { 20, 3 };
    size_t len = 0;
    uint8_t *buf = small_file(dir, id, &len);
    char path[4096], err[300];
    snapfile_path(path, sizeof path, dir, id, false);
    spit(path, buf, len);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), 0);
    /* every cut */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        spit(path, buf, cut);
        refused += snapfile_read(path, NULL, NULL, err, sizeof err) == -1;
    }
    CHECK_EQ_I64(refused, (int64_t)len);
    /* cut exactly before the footer batch: the footer is missing */
    batch_summary s = summarize(buf, len, id.epoch);
    CHECK(s.n == 3);
    size_t footer_pos = 0;
    for (int i = 0; i < 2; i++)
        footer_pos += be32(buf + footer_pos + 8) + BATCH_LOG_OVERHEAD;
    spit(path, buf, footer_pos);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "no snapshot footer") != NULL);
    /* every flipped byte (the CRC covers most; offsets, epochs and lengths
     * are checked on their own) */
    refused = 0;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x20;
        spit(path, buf, len);
        int rc = snapfile_read(path, NULL, NULL, err, sizeof err);
        if (rc != -1)
            fprintf(stderr, "flipped byte %zu accepted\n", i);
        refused += rc == -1;
        buf[i] ^= 0x20;
    }
    CHECK_EQ_I64(refused, (int64_t)len);
    /* the footer twice: a batch after the footer */
    size_t footer_len = len - footer_pos;
    uint8_t *two = malloc(len + footer_len);
    memcpy(two, buf, len);
    memcpy(two + len, buf + footer_pos, footer_len);
    batch_set_base_offset(two + len, batch_base_offset(buf + footer_pos) + 1);
    spit(path, two, len + footer_len);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "after the snapshot footer") != NULL);
    free(two);
    /* no header: the data batch first */
    size_t hdr_len = be32(buf + 8) + BATCH_LOG_OVERHEAD;
    uint8_t *nohdr = malloc(len);
    memcpy(nohdr, buf + hdr_len, len - hdr_len);
    size_t pos = 0;
    int64_t off = 0;
    while (pos < len - hdr_len) {
        batch_info bi;
        batch_peek(nohdr + pos, &bi);
        batch_set_base_offset(nohdr + pos, off);
        off += bi.last_offset_delta + 1;
        pos += be32(nohdr + pos + 8) + BATCH_LOG_OVERHEAD;
    }
    spit(path, nohdr, len - hdr_len);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "not a snapshot header") != NULL);
    free(nohdr);
    unlink(path);
    free(buf);
    /* a file that is not there */
    CHECK_EQ_I64(snapfile_read("/nonexistent/00000000000000000001-0000000001.checkpoint", NULL, NULL, err,
                               sizeof err), -1);
}

/* One control batch with one record of type `type` at offset off. */
static void add_control(kp_writer *w, int64_t off, int32_t epoch, int type, const kp_writer *val)
{
    uint8_t key[4] = { 0, 0, 0, (uint8_t)type };
    batch_builder bb;
    batch_build_begin(&bb, w, 1000);
    batch_build_producer(&bb, -1, -1, -1, BATCH_ATTR_CONTROL);
    batch_build_add(&bb, 1000, key, 4, val->buf, (int32_t)val->len);
    size_t start = bb.start;
    batch_build_end(&bb);
    batch_set_base_offset(w->buf + start, off);
    batch_set_leader_epoch(w->buf + start, epoch);
}

/* What Kafka writes with a dynamic quorum: KRAFT_VERSION and KRAFT_VOTERS
 * control records after the header. They are not metadata: skipped. */
static void test_unknown_control(const char *dir)
{
    raft_snapshot_id id = { 9, 2 };
    kp_writer w, val;
    kp_writer_init(&w);
    kp_writer_init(&val);
    kp_snapshot_header_record h;
    kp_snapshot_header_record_init(&h);
    h.last_contained_log_timestamp = 1234;
    kp_snapshot_header_record_encode(&val, 0, &h);
    add_control(&w, 0, id.epoch, 3, &val);
    kp_writer_deinit(&val);
    kp_writer_init(&val);
    kp_k_raft_version_record kv;
    kp_k_raft_version_record_init(&kv);
    kv.k_raft_version = 1;
    kp_k_raft_version_record_encode(&val, 0, &kv);
    add_control(&w, 1, id.epoch, 5, &val);
    kp_writer_deinit(&val);
    kp_writer_init(&val);
    kp_voters_record vr;
    kp_voters_record_init(&vr);
    kp_voters_record_encode(&val, 0, &vr);
    add_control(&w, 2, id.epoch, 6, &val);
    mrec_list l;
    mrec_list_init(&l);
    mrec_topic(&l, "after-voters", uuid_of(77));
    batch_builder bb;
    batch_build_begin(&bb, &w, 1000);
    int32_t len;
    const uint8_t *v = mrec_get(&l, 0, &len);
    batch_build_add(&bb, 1000, NULL, -1, v, len);
    size_t start = bb.start;
    batch_build_end(&bb);
    batch_set_base_offset(w.buf + start, 3);
    batch_set_leader_epoch(w.buf + start, id.epoch);
    kp_writer_deinit(&val);
    kp_writer_init(&val);
    kp_snapshot_footer_record f;
    kp_snapshot_footer_record_init(&f);
    kp_snapshot_footer_record_encode(&val, 0, &f);
    add_control(&w, 4, id.epoch, 4, &val);
    char path[4096], err[300];
    snapfile_path(path, sizeof path, dir, id, false);
    spit(path, w.buf, w.len);
    mimage im;
    mimage_init(&im);
    CHECK_EQ_I64(snapfile_read(path, apply_fn, &im, err, sizeof err), 0);
    CHECK(im.ntopics == 1 && mimage_topic(&im, "after-voters", 12) != NULL);
    mimage_deinit(&im);
    unlink(path);
    mrec_list_deinit(&l);
    kp_writer_deinit(&val);
    kp_writer_deinit(&w);
}

/* Kafka 4.4 with a dynamic quorum: one control batch holding the header,
 * KRAFT_VERSION and KRAFT_VOTERS; then data and the footer. */
static void test_kraft_in_header_batch(const char *dir)
{
    raft_snapshot_id id = { 40, 1 };
    kp_writer w, hv, kv, vv, fv;
    kp_writer_init(&w);
    kp_writer_init(&hv);
    kp_writer_init(&kv);
    kp_writer_init(&vv);
    kp_writer_init(&fv);
    kp_snapshot_header_record h;
    kp_snapshot_header_record_init(&h);
    kp_snapshot_header_record_encode(&hv, 0, &h);
    kp_k_raft_version_record k;
    kp_k_raft_version_record_init(&k);
    k.k_raft_version = 1;
    kp_k_raft_version_record_encode(&kv, 0, &k);
    kp_voters_record v;
    kp_voters_record_init(&v);
    kp_voters_record_encode(&vv, 0, &v);
    uint8_t key[3][4] = { { 0, 0, 0, 3 }, { 0, 0, 0, 5 }, { 0, 0, 0, 6 } };
    const kp_writer *vals[3] = { &hv, &kv, &vv };
    batch_builder bb;
    batch_build_begin(&bb, &w, 1000);
    batch_build_producer(&bb, -1, -1, -1, BATCH_ATTR_CONTROL);
    for (int i = 0; i < 3; i++)
        batch_build_add(&bb, 1000, key[i], 4, vals[i]->buf, (int32_t)vals[i]->len);
    batch_build_end(&bb);
    batch_set_leader_epoch(w.buf, id.epoch);
    mrec_list l;
    mrec_list_init(&l);
    mrec_topic(&l, "dynamic", uuid_of(5));
    size_t start = w.len;
    batch_build_begin(&bb, &w, 1000);
    int32_t len;
    const uint8_t *val = mrec_get(&l, 0, &len);
    batch_build_add(&bb, 1000, NULL, -1, val, len);
    batch_build_end(&bb);
    batch_set_base_offset(w.buf + start, 3);
    batch_set_leader_epoch(w.buf + start, id.epoch);
    kp_snapshot_footer_record f;
    kp_snapshot_footer_record_init(&f);
    kp_snapshot_footer_record_encode(&fv, 0, &f);
    add_control(&w, 4, id.epoch, 4, &fv);
    char path[4096], err[300];
    snapfile_path(path, sizeof path, dir, id, false);
    spit(path, w.buf, w.len);
    int n = 0;
    CHECK_EQ_I64(snapfile_read(path, count_fn, &n, err, sizeof err), 0);
    CHECK_EQ_I64(n, 1);
    /* the header must still be the first record of the batch */
    uint8_t *p = w.buf;
    size_t total = be32(p + 8) + BATCH_LOG_OVERHEAD;
    kp_writer w2;
    kp_writer_init(&w2);
    batch_build_begin(&bb, &w2, 1000);
    batch_build_producer(&bb, -1, -1, -1, BATCH_ATTR_CONTROL);
    for (int i = 2; i >= 0; i--)
        batch_build_add(&bb, 1000, key[i], 4, vals[i]->buf, (int32_t)vals[i]->len);
    batch_build_end(&bb);
    batch_set_leader_epoch(w2.buf, id.epoch);
    kp_write_raw(&w2, p + total, w.len - total);
    spit(path, w2.buf, w2.len);
    CHECK_EQ_I64(snapfile_read(path, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "not a snapshot header") != NULL);
    unlink(path);
    mrec_list_deinit(&l);
    kp_writer_deinit(&w2);
    kp_writer_deinit(&w);
    kp_writer_deinit(&hv);
    kp_writer_deinit(&kv);
    kp_writer_deinit(&vv);
    kp_writer_deinit(&fv);
}

static void test_latest(void)
{
    char dir[64];
    make_dir(dir, sizeof dir);
    raft_snapshot_id id;
    int64_t size;
    char path[4096], err[300];
    CHECK_EQ_I64(snapfile_latest(dir, &id, &size, path, sizeof path, err, sizeof err), 0);
    CHECK_EQ_I64(snapfile_latest("/nonexistent-snapfile-dir", &id, &size, path, sizeof path, err, sizeof err), -1);

    mrec_list l;
    mrec_list_init(&l);
    sample_records(&l, 2, 2, 0);
    raft_snapshot_id ids[4] = { { 10, 1 }, { 30, 1 }, { 30, 2 }, { 50, 2 } };
    int64_t sizes[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ_I64(snapfile_write(dir, ids[i], 0, &l, &sizes[i], err, sizeof err), 0);
    /* the newest is corrupt; a .part was left by a crash */
    char newest[4096], part[4096], bad[4200];
    snapfile_path(newest, sizeof newest, dir, ids[3], false);
    snprintf(bad, sizeof bad, "%s.bad", newest);
    CHECK(truncate(newest, sizes[3] - 5) == 0);
    raft_snapshot_id crashed = { 60, 2 };
    snapfile_path(part, sizeof part, dir, crashed, true);
    spit(part, (const uint8_t *)"torn", 4);

    CHECK_EQ_I64(snapfile_latest(dir, &id, &size, path, sizeof path, err, sizeof err), 1);
    CHECK(id.end_offset == 30 && id.epoch == 2);
    CHECK_EQ_I64(size, sizes[2]);
    char expect[4096];
    snapfile_path(expect, sizeof expect, dir, ids[2], false);
    CHECK(strcmp(path, expect) == 0);
    CHECK(!exists(newest));
    CHECK(exists(bad));
    CHECK(!exists(part));
    /* the .bad file is not a checkpoint any more */
    CHECK_EQ_I64(snapfile_latest(dir, &id, &size, path, sizeof path, err, sizeof err), 1);
    CHECK(id.end_offset == 30 && id.epoch == 2);

    /* older than {30, 2}: {10, 1} only ({30, 1} has the same end offset) */
    CHECK_EQ_I64(snapfile_remove_older(dir, ids[2]), 1);
    snapfile_path(path, sizeof path, dir, ids[0], false);
    CHECK(!exists(path));
    snapfile_path(path, sizeof path, dir, ids[1], false);
    CHECK(exists(path));
    CHECK_EQ_I64(snapfile_remove_older(dir, ids[2]), 0);
    raft_snapshot_id later = { 31, 0 };
    CHECK_EQ_I64(snapfile_remove_older(dir, later), 2);
    CHECK_EQ_I64(snapfile_latest(dir, &id, &size, path, sizeof path, err, sizeof err), 0);
    /* a .part being written is not touched by remove_older */
    spit(part, (const uint8_t *)"busy", 4);
    CHECK_EQ_I64(snapfile_remove_older(dir, later), 0);
    CHECK(exists(part));
    unlink(part);
    unlink(bad);
    mrec_list_deinit(&l);
    remove_dir(dir);
}

static void test_names(void)
{
    raft_snapshot_id id = { -1, -1 };
    CHECK_EQ_I64(snapfile_parse_name("00000000000000000038-0000000001.checkpoint", &id), 0);
    CHECK(id.end_offset == 38 && id.epoch == 1);
    CHECK_EQ_I64(snapfile_parse_name("09223372036854775807-2147483647.checkpoint", &id), 0);
    CHECK(id.end_offset == INT64_MAX && id.epoch == INT32_MAX);
    const char *bad[] = {
        "00000000000000000038-0000000001.checkpoint.part",
        "00000000000000000038-0000000001.checkpoint.bad",
        "00000000000000000038-0000000001.checkpointx",
        "0000000000000000038-0000000001.checkpoint",   /* 19 digits */
        "00000000000000000038-000000001.checkpoint",   /* 9 digits */
        "00000000000000000038_0000000001.checkpoint",
        "0000000000000000003a-0000000001.checkpoint",
        "09223372036854775808-0000000001.checkpoint",  /* past INT64_MAX */
        "00000000000000000038-2147483648.checkpoint",  /* past INT32_MAX */
        "00000000000000000038.log",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = snapfile_parse_name(bad[i], &id);
        if (rc != -1)
            fprintf(stderr, "accepted %s\n", bad[i]);
        CHECK_EQ_I64(rc, -1);
    }
    char buf[128];
    raft_snapshot_id big = { INT64_MAX, INT32_MAX };
    snapfile_path(buf, sizeof buf, "d", big, false);
    CHECK(strcmp(buf, "d/09223372036854775807-2147483647.checkpoint") == 0);
}

/* For the integration test: a checkpoint Kafka's tool can read. */
static int write_sample(const char *dir)
{
    mimage im;
    mimage_init(&im);
    mrec_list snap;
    mrec_list_init(&snap);
    sample_image(&im, &snap, 3, 2, 0);
    raft_snapshot_id id = { 100, 5 };
    char err[300], path[4096];
    int rc = snapfile_write(dir, id, 1796593497909, &snap, NULL, err, sizeof err);
    if (rc == 0) {
        snapfile_path(path, sizeof path, dir, id, false);
        printf("%s\n", path);
    } else {
        fprintf(stderr, "test_snapfile: %s\n", err);
    }
    mrec_list_deinit(&snap);
    mimage_deinit(&im);
    return rc == 0 && check_failed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-sample") == 0)
        return write_sample(argv[2]);
    char dir[64];
    make_dir(dir, sizeof dir);
    test_roundtrip(dir);
    test_large(dir);
    test_damage(dir);
    test_unknown_control(dir);
    test_kraft_in_header_batch(dir);
    test_latest();
    test_names();
    remove_dir(dir);
    TEST_REPORT();
}
