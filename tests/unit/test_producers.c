/*
 * test_producers.c - producer state (src/cluster/producers.c) and the
 * partition's idempotent append (src/cluster/partition.c) on a real log in
 * a temporary directory:
 * - Kafka's sequence rules, case by case: in order, duplicates among the
 *   last five batches, out of order, older and newer epochs, unknown
 *   producers, the wrap past INT32_MAX;
 * - the table under random inserts and removals against a plain array;
 * - snapshot files: round trip, a flipped byte fails the CRC;
 * - the partition: a retried batch is answered with its original offsets
 *   and not written; a gap writes nothing; a request of several batches;
 *   snapshots at roll; duplicates still caught after a clean restart (from
 *   the snapshot), after an unclean one without snapshots (from the log),
 *   and with the latest snapshot damaged (an older one plus the log).
 */
#include "cluster/partition.h"
#include "cluster/producers.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

#define E_OOS 45
#define E_EPOCH 47

static prod_batch_in bin(int64_t pid, int16_t epoch, int32_t seq, int32_t n)
{
    return (prod_batch_in){ .pid = pid, .epoch = epoch, .base_seq = seq, .last_offset_delta = n - 1,
                            .max_ts = 1000 };
}

static int check1(prod_entry *e, prod_batch_in b, int16_t *err, const prod_batch **dup)
{
    char why[256];
    *err = 0;
    *dup = NULL;
    return producers_check(e, &b, 0, err, dup, why, sizeof why);
}

static void test_rules(void)
{
    producers *t = producers_new();
    int16_t err;
    const prod_batch *dup;
    /* Unknown producer: any sequence is accepted (KIP-360). */
    CHECK_EQ_I64(check1(NULL, bin(7, 0, 42, 1), &err, &dup), PROD_APPEND);
    prod_entry *e = producers_put(t, 7);
    CHECK(e && e->epoch == -1);
    CHECK_EQ_I64(check1(e, bin(7, 0, 42, 1), &err, &dup), PROD_APPEND);
    /* Seven batches of 3 records, sequences 0..20, at offsets 100.. */
    int64_t off = 100;
    for (int i = 0; i < 7; i++) {
        prod_batch_in b = bin(7, 0, i * 3, 3);
        CHECK_EQ_I64(check1(e, b, &err, &dup), PROD_APPEND);
        producers_apply(e, &b, off, off + 2);
        off += 3;
    }
    CHECK_EQ_I64(e->nbatches, PRODUCERS_BATCHES_KEPT);
    /* The last five are duplicates, with their offsets. */
    for (int i = 2; i < 7; i++) {
        CHECK_EQ_I64(check1(e, bin(7, 0, i * 3, 3), &err, &dup), PROD_DUPLICATE);
        CHECK(dup && dup->first_offset == 100 + i * 3 && dup->last_offset == 102 + i * 3);
    }
    /* Older than five batches: not remembered, so out of order. */
    CHECK_EQ_I64(check1(e, bin(7, 0, 3, 3), &err, &dup), PROD_REFUSE);
    CHECK_EQ_I64(err, E_OOS);
    /* Same first sequence, different length: not a duplicate. */
    CHECK_EQ_I64(check1(e, bin(7, 0, 18, 2), &err, &dup), PROD_REFUSE);
    CHECK_EQ_I64(err, E_OOS);
    /* A gap. */
    CHECK_EQ_I64(check1(e, bin(7, 0, 22, 1), &err, &dup), PROD_REFUSE);
    CHECK_EQ_I64(err, E_OOS);
    /* Next in order. */
    CHECK_EQ_I64(check1(e, bin(7, 0, 21, 1), &err, &dup), PROD_APPEND);
    /* A new epoch must start at 0. */
    CHECK_EQ_I64(check1(e, bin(7, 1, 5, 1), &err, &dup), PROD_REFUSE);
    CHECK_EQ_I64(err, E_OOS);
    prod_batch_in b = bin(7, 1, 0, 2);
    CHECK_EQ_I64(check1(e, b, &err, &dup), PROD_APPEND);
    producers_apply(e, &b, off, off + 1);
    CHECK_EQ_I64(e->epoch, 1);
    CHECK_EQ_I64(e->nbatches, 1);
    /* The old epoch is fenced, even for what was a duplicate. */
    CHECK_EQ_I64(check1(e, bin(7, 0, 18, 3), &err, &dup), PROD_REFUSE);
    CHECK_EQ_I64(err, E_EPOCH);
    /* Wrap: after INT32_MAX comes 0. */
    CHECK_EQ_I64(producers_seq_add(INT32_MAX - 1, 1), INT32_MAX);
    CHECK_EQ_I64(producers_seq_add(INT32_MAX - 1, 2), 0);
    CHECK_EQ_I64(producers_seq_add(INT32_MAX, 5), 4);
    prod_entry *w = producers_put(t, 8);
    prod_batch_in last = bin(8, 0, INT32_MAX - 1, 2);
    producers_apply(w, &last, 0, 1);
    CHECK_EQ_I64(w->batches[0].last_seq, INT32_MAX);
    CHECK_EQ_I64(check1(w, bin(8, 0, 0, 1), &err, &dup), PROD_APPEND);
    CHECK_EQ_I64(check1(w, bin(8, 0, 1, 1), &err, &dup), PROD_REFUSE);
    /* A transactional batch opens a transaction at its first offset. */
    prod_batch_in tx = bin(9, 0, 0, 1);
    tx.transactional = true;
    prod_entry *x = producers_put(t, 9);
    producers_apply(x, &tx, 500, 500);
    tx.base_seq = 1;
    producers_apply(x, &tx, 600, 600);
    CHECK_EQ_I64(x->txn_first_offset, 500);
    /* Expiry keeps producers with an open transaction. */
    CHECK_EQ_I64(producers_count(t), 3);
    CHECK_EQ_I64(producers_expire(t, 1000 + 99, 100), 0);
    CHECK_EQ_I64(producers_expire(t, 1000 + 100, 100), 2);
    CHECK(producers_get(t, 9) != NULL);
    CHECK(producers_get(t, 7) == NULL);
    producers_free(t);
}

/* The table against a plain array, under random puts and removes. */
static void test_table(void)
{
    producers *t = producers_new();
    enum { N = 600 };
    bool in[N] = { false };
    uint64_t rnd = 12345;
    for (int step = 0; step < 20000; step++) {
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        int64_t pid = (int64_t)((rnd >> 33) % N) * 1000003; /* spread, with collisions mod the table size */
        int k = (int)(pid / 1000003);
        if ((rnd >> 20) & 1) {
            prod_entry *e = producers_put(t, pid);
            CHECK(e && e->pid == pid);
            e->last_ts = pid;
            in[k] = true;
        } else {
            producers_remove(t, pid);
            in[k] = false;
        }
        if (step % 997 == 0) {
            int count = 0, bad = 0;
            for (int i = 0; i < N; i++) {
                prod_entry *e = producers_get(t, (int64_t)i * 1000003);
                count += in[i];
                bad += in[i] != (e != NULL) || (e && e->last_ts != (int64_t)i * 1000003);
            }
            CHECK_EQ_I64(bad, 0);
            CHECK_EQ_I64(producers_count(t), count);
        }
    }
    producers_free(t);
}

static void test_snapshot_codec(void)
{
    producers *t = producers_new();
    for (int64_t pid = 1; pid <= 50; pid++) {
        prod_entry *e = producers_put(t, pid * 77);
        prod_batch_in b = bin(pid * 77, (int16_t)(pid % 3), (int32_t)pid, 4);
        producers_apply(e, &b, pid * 10, pid * 10 + 3);
        if (pid % 5 == 0)
            e->txn_first_offset = pid;
    }
    size_t len;
    uint8_t *buf = producers_snapshot_encode(t, &len);
    CHECK(buf != NULL);
    CHECK_EQ_I64(len, 10 + 50 * 46);
    producers *u = producers_new();
    char why[200];
    CHECK_EQ_I64(producers_snapshot_decode(u, buf, len, why, sizeof why), 0);
    CHECK_EQ_I64(producers_count(u), 50);
    int same = 0;
    for (int64_t pid = 1; pid <= 50; pid++) {
        prod_entry *a = producers_get(t, pid * 77), *b = producers_get(u, pid * 77);
        same += b && a->epoch == b->epoch && b->nbatches == 1 &&
                b->batches[0].first_seq == a->batches[a->nbatches - 1].first_seq &&
                b->batches[0].last_seq == a->batches[a->nbatches - 1].last_seq &&
                b->batches[0].first_offset == a->batches[a->nbatches - 1].first_offset &&
                b->batches[0].last_offset == a->batches[a->nbatches - 1].last_offset &&
                b->txn_first_offset == a->txn_first_offset && b->last_ts == a->last_ts;
    }
    CHECK_EQ_I64(same, 50);
    buf[len / 2] ^= 0x10;
    CHECK_EQ_I64(producers_snapshot_decode(u, buf, len, why, sizeof why), -1);
    CHECK(strstr(why, "CRC") != NULL);
    CHECK_EQ_I64(producers_snapshot_decode(u, buf, 5, why, sizeof why), -1);
    free(buf);
    producers_free(u);
    producers_free(t);
}

/* ---- the partition on a real log ---- */

static char dir[] = "/tmp/gregor_test_producers_XXXXXX";

/* One batch of n records from pid/epoch/seq (pid -1: plain) appended to w. */
static size_t add_batch(kp_writer *w, int64_t pid, int16_t epoch, int32_t seq, int n)
{
    batch_builder bb;
    batch_build_begin(&bb, w, 1700000000000LL);
    for (int i = 0; i < n; i++)
        batch_build_add(&bb, 1700000000000LL, "k", 1, "value", 5);
    if (pid >= 0)
        batch_build_producer(&bb, pid, epoch, seq, 0);
    return batch_build_end(&bb);
}

static size_t add_txn_batch(kp_writer *w, int64_t pid, int16_t epoch, int32_t seq, int n)
{
    batch_builder bb;
    batch_build_begin(&bb, w, 1700000000000LL);
    for (int i = 0; i < n; i++)
        batch_build_add(&bb, 1700000000000LL, "k", 1, "txn", 3);
    batch_build_producer(&bb, pid, epoch, seq, BATCH_ATTR_TRANSACTIONAL);
    return batch_build_end(&bb);
}

static void append_txn(partition *p, int64_t pid, int16_t epoch, int32_t seq, int n, part_result *r)
{
    kp_writer w;
    kp_writer_init(&w);
    add_txn_batch(&w, pid, epoch, seq, n);
    partition_append(p, w.buf, w.len, 1000, PART_ORIGIN_CLIENT, r);
    kp_writer_deinit(&w);
}

static void append(partition *p, int64_t pid, int16_t epoch, int32_t seq, int n, part_result *r)
{
    kp_writer w;
    kp_writer_init(&w);
    add_batch(&w, pid, epoch, seq, n);
    partition_append(p, w.buf, w.len, 1000, PART_ORIGIN_CLIENT, r);
    kp_writer_deinit(&w);
}

static int count_snapshots(void)
{
    int64_t *v;
    int n = producers_snapshot_list(dir, &v);
    free(v);
    return n;
}

static partition *open_part(plog **lp, bool clean, char *why)
{
    log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 250; /* a few batches per segment: rolls */
    char report[512];
    CHECK_EQ_I64(plog_open(dir, &cfg, 0, 0, clean, lp, report, sizeof report), LOG_OK);
    static struct topic *fake_topic = (struct topic *)&fake_topic; /* only compared with NULL */
    partition *p = partition_open(fake_topic, "t", 0, *lp, 3, NULL, clean, why, 256);
    CHECK(p != NULL);
    return p;
}

static void test_partition(void)
{
    CHECK(mkdtemp(dir) != NULL);
    plog *log;
    char why[256];
    partition *p = open_part(&log, true, why);
    part_result r;
    append(p, -1, -1, -1, 2, &r); /* plain records: offsets 0-1 */
    CHECK(r.log_rc == LOG_OK && r.first == 0 && r.last == 1 && !r.duplicate);
    append(p, 5, 0, 0, 3, &r); /* 2-4 */
    CHECK(r.log_rc == LOG_OK && r.first == 2 && r.last == 4);
    append(p, 5, 0, 3, 2, &r); /* 5-6 */
    CHECK(r.first == 5 && r.last == 6);
    /* The retry of the batch at 2: the original's offsets, nothing written. */
    append(p, 5, 0, 0, 3, &r);
    CHECK(r.duplicate && r.first == 2 && r.last == 4 && r.error == 0);
    CHECK_EQ_I64(plog_end_offset(log), 7);
    /* A gap: refused, nothing written. */
    append(p, 5, 0, 9, 1, &r);
    CHECK_EQ_I64(r.error, E_OOS);
    CHECK(strstr(r.why, "Out of order sequence number for producer 5") != NULL);
    CHECK_EQ_I64(plog_end_offset(log), 7);
    /* An older epoch after a newer one. */
    append(p, 5, 1, 0, 1, &r); /* 7 */
    CHECK(r.first == 7 && r.error == 0);
    append(p, 5, 0, 5, 1, &r);
    CHECK_EQ_I64(r.error, E_EPOCH);
    /* Two batches of one producer in one request: each checked after the other. */
    kp_writer w;
    kp_writer_init(&w);
    add_batch(&w, 6, 0, 0, 2);
    add_batch(&w, 6, 0, 2, 2);
    partition_append(p, w.buf, w.len, 1000, PART_ORIGIN_CLIENT, &r);
    CHECK(r.log_rc == LOG_OK && r.first == 8 && r.last == 11 && !r.duplicate);
    kp_writer_deinit(&w);
    /* ... and a request whose second batch is out of order writes nothing. */
    kp_writer_init(&w);
    add_batch(&w, 6, 0, 4, 1);
    add_batch(&w, 6, 0, 9, 1);
    partition_append(p, w.buf, w.len, 1000, PART_ORIGIN_CLIENT, &r);
    CHECK_EQ_I64(r.error, E_OOS);
    CHECK_EQ_I64(plog_end_offset(log), 12);
    kp_writer_deinit(&w);
    /* The segments are small: some rolls happened, each left a snapshot. */
    CHECK(plog_segment_count(log) > 1);
    CHECK_EQ_I64(count_snapshots(), plog_segment_count(log) - 1);
    /* Clean shutdown: a snapshot at the log end, then a restart. */
    CHECK_EQ_I64(partition_checkpoint(p), 0);
    partition_free(p);
    CHECK_EQ_I64(plog_shutdown(log), LOG_OK);
    p = open_part(&log, true, why);
    CHECK_EQ_I64(p->snapshot_offset, 12);
    append(p, 6, 0, 2, 2, &r); /* the last batch of producer 6 */
    CHECK(r.duplicate && r.first == 10 && r.last == 11);
    append(p, 5, 1, 0, 1, &r);
    CHECK(r.duplicate && r.first == 7);
    append(p, 6, 0, 4, 1, &r); /* 12 */
    CHECK(r.first == 12 && !r.duplicate);

    /* Unclean restart with every snapshot gone: the log is read. */
    partition_free(p);
    plog_close(log);
    producers_snapshot_delete(dir, INT64_MAX, -1);
    CHECK_EQ_I64(count_snapshots(), 0);
    p = open_part(&log, false, why);
    CHECK_EQ_I64(p->snapshot_offset, -1);
    append(p, 6, 0, 4, 1, &r);
    CHECK(r.duplicate && r.first == 12);
    append(p, 5, 1, 0, 1, &r);
    CHECK(r.duplicate && r.first == 7);
    /* Past the last five batches of producer 6 in the log... */
    for (int i = 0; i < 6; i++)
        append(p, 6, 0, 5 + i, 1, &r);
    CHECK(r.first == 18 && !r.duplicate);

    /* Damage the latest snapshot (written at the next roll or shutdown):
     * the previous one and the log after it are used. */
    CHECK_EQ_I64(partition_checkpoint(p), 0);
    partition_free(p);
    CHECK_EQ_I64(plog_shutdown(log), LOG_OK);
    int64_t *snaps;
    int ns = producers_snapshot_list(dir, &snaps);
    CHECK(ns >= 2);
    char path[512];
    snprintf(path, sizeof path, "%s/%020" PRId64 ".snapshot", dir, snaps[ns - 1]);
    CHECK_EQ_I64(snaps[ns - 1], 19);
    free(snaps);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    fseek(f, 12, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    p = open_part(&log, true, why);
    CHECK(strstr(why, "00000000000000000019.snapshot skipped (CRC mismatch") != NULL);
    CHECK(p->snapshot_offset >= 0 && p->snapshot_offset < 19);
    append(p, 6, 0, 10, 1, &r);
    CHECK(r.duplicate && r.first == 18);
    partition_free(p);
    plog_close(log);

    /* Clean up the directory. */
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void clean_dir(void)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

/* Transactions: the last stable offset, markers, the aborted index, and
 * all of it again after restarts. */
static void test_transactions(void)
{
    strcpy(dir, "/tmp/gregor_test_txn_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    plog *log;
    char why[256];
    partition *p = open_part(&log, true, why);
    part_result r;
    append(p, -1, -1, -1, 2, &r);                /* 0-1 plain */
    CHECK_EQ_I64(partition_last_stable_offset(p), 2);
    append_txn(p, 20, 0, 0, 2, &r);              /* 2-3: producer 20 opens a transaction */
    CHECK(r.first == 2 && r.error == 0);
    append(p, -1, -1, -1, 1, &r);                /* 4 */
    append_txn(p, 21, 0, 0, 1, &r);              /* 5: producer 21 too */
    append_txn(p, 20, 0, 2, 1, &r);              /* 6 */
    CHECK_EQ_I64(partition_high_watermark(p), 7);
    CHECK_EQ_I64(partition_last_stable_offset(p), 2);
    /* read_committed reads stop before the open transaction. */
    plog_slice sl;
    CHECK_EQ_I64(plog_read_upto(log, 0, partition_last_stable_offset(p), 1 << 20, true, &sl), LOG_OK);
    uint8_t hdr[BATCH_HEADER_BYTES];
    CHECK(sl.len > 0 && pread(sl.fd, hdr, sizeof hdr, sl.pos) == (ssize_t)sizeof hdr);
    CHECK_EQ_I64(sl.len, BATCH_LOG_OVERHEAD + batch_length(hdr)); /* only the batch at 0 */
    log_segment_unref(sl.seg);
    /* A plain write from a producer inside a transaction: refused. */
    append(p, 20, 0, 3, 1, &r);
    CHECK_EQ_I64(r.error, 48); /* INVALID_TXN_STATE */
    /* Abort 20: the LSO moves to 21's transaction; 20's is listed. */
    partition_write_marker(p, 20, 0, 0, false, 0, 2000, &r);
    CHECK(r.log_rc == LOG_OK && r.error == 0 && r.first == 7);
    CHECK_EQ_I64(partition_last_stable_offset(p), 5);
    part_aborted ab[4];
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 100, ab, 4), 1);
    CHECK(ab[0].pid == 20 && ab[0].first == 2 && ab[0].last == 7 && ab[0].lso == 5);
    CHECK_EQ_I64(partition_aborted_txns(p, 8, 100, ab, 4), 0);  /* ended before 8 */
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 2, ab, 4), 0);    /* began at 2 */
    /* Commit 21: everything is stable. */
    partition_write_marker(p, 21, 0, 0, true, 0, 2000, &r);
    CHECK_EQ_I64(r.first, 8);
    CHECK_EQ_I64(partition_last_stable_offset(p), 9);
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 100, ab, 4), 1);
    /* A marker from an older epoch, or an older coordinator: refused. */
    partition_write_marker(p, 20, 5, 3, false, 0, 2000, &r); /* fences: epoch 5 */
    CHECK(r.error == 0 && r.first == 9);
    partition_write_marker(p, 20, 4, 3, true, 0, 2000, &r);
    CHECK_EQ_I64(r.error, 47);
    partition_write_marker(p, 20, 5, 2, true, 0, 2000, &r);
    CHECK_EQ_I64(r.error, 52);
    /* The fenced epoch cannot produce. */
    append_txn(p, 20, 0, 3, 1, &r);
    CHECK_EQ_I64(r.error, 47);
    /* 22 opens a transaction and stays open across restarts. */
    append_txn(p, 22, 0, 0, 3, &r);              /* 10-12 */
    CHECK_EQ_I64(partition_last_stable_offset(p), 10);
    char path[512];
    snprintf(path, sizeof path, "%s/%020" PRId64 ".txnindex", dir, plog_segment_base(log, 7));
    CHECK(access(path, F_OK) == 0);

    /* Clean restart: the snapshot knows 22's open transaction; the
     * .txnindex knows 20's abort. */
    CHECK_EQ_I64(partition_checkpoint(p), 0);
    partition_free(p);
    CHECK_EQ_I64(plog_shutdown(log), LOG_OK);
    p = open_part(&log, true, why);
    CHECK_EQ_I64(partition_last_stable_offset(p), 10);
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 100, ab, 4), 1);
    CHECK(ab[0].pid == 20 && ab[0].first == 2 && ab[0].last == 7);
    /* Unclean restart without snapshots or .txnindex files: the log says it all. */
    partition_free(p);
    plog_close(log);
    producers_snapshot_delete(dir, INT64_MAX, -1);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strstr(de->d_name, ".txnindex")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    p = open_part(&log, false, why);
    CHECK_EQ_I64(partition_last_stable_offset(p), 10);
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 100, ab, 4), 1);
    CHECK(ab[0].pid == 20 && ab[0].first == 2 && ab[0].last == 7);
    append_txn(p, 20, 4, 0, 1, &r);
    CHECK_EQ_I64(r.error, 47);                   /* still fenced */
    partition_write_marker(p, 22, 0, 0, false, 0, 3000, &r);
    CHECK_EQ_I64(partition_last_stable_offset(p), 14);
    CHECK_EQ_I64(partition_aborted_txns(p, 0, 100, ab, 4), 2);
    /* After the fencing marker set epoch 5, that epoch starts at 0. */
    append_txn(p, 20, 5, 2, 1, &r);
    CHECK_EQ_I64(r.error, 45);
    append_txn(p, 20, 5, 0, 1, &r);
    CHECK(r.error == 0 && r.log_rc == LOG_OK);
    /* The replay wrote the abort it found back into the .txnindex. */
    snprintf(path, sizeof path, "%s/%020" PRId64 ".txnindex", dir, plog_segment_base(log, 7));
    CHECK(access(path, F_OK) == 0);
    partition_free(p);
    plog_close(log);
    clean_dir();
    rmdir(dir);
}

/* Transactions V2: the marker carries the epoch EndTxn bumped to; one at
 * the open transaction's own epoch is refused, the same marker again once
 * the transaction ended is written again (Kafka 4.4's idempotent retry). */
static void test_v2_markers(void)
{
    strcpy(dir, "/tmp/gregor_test_v2m_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    plog *log;
    char why[256];
    partition *p = open_part(&log, true, why);
    part_result r;
    append_txn(p, 23, 0, 0, 1, &r);
    CHECK_EQ_I64(r.error, 0);
    partition_write_marker(p, 23, 0, 0, true, 0, 2000, &r); /* V1: the same epoch is a marker */
    CHECK(r.error == 0 && r.log_rc == LOG_OK);
    append_txn(p, 23, 0, 1, 1, &r);
    CHECK_EQ_I64(r.error, 0);
    partition_write_marker(p, 23, 0, 0, true, 2, 2000, &r);
    CHECK_EQ_I64(r.error, 47);
    CHECK_EQ_I64(partition_last_stable_offset(p), 2); /* still open */
    partition_write_marker(p, 23, 1, 0, true, 2, 2000, &r);
    CHECK(r.error == 0 && r.log_rc == LOG_OK);
    partition_write_marker(p, 23, 1, 0, true, 2, 2000, &r);
    CHECK(r.error == 0 && r.log_rc == LOG_OK);
    append_txn(p, 23, 1, 0, 1, &r); /* the next transaction: the bumped epoch from sequence 0 */
    CHECK_EQ_I64(r.error, 0);
    append_txn(p, 23, 0, 2, 1, &r); /* the previous epoch: fenced */
    CHECK_EQ_I64(r.error, 47);
    partition_write_marker(p, 23, 2, 0, false, 2, 2000, &r);
    CHECK(r.error == 0 && r.log_rc == LOG_OK);
    CHECK_EQ_I64(partition_last_stable_offset(p), partition_high_watermark(p));
    partition_free(p);
    plog_close(log);
    clean_dir();
    rmdir(dir);
}

/* A follower's log cut back (its leader's log diverged): the producer
 * state goes back with it, so the producer's retry of a cut batch is
 * written again, not answered as a duplicate of records that are gone. */
static void test_truncation(void)
{
    strcpy(dir, "/tmp/gregor_test_trunc_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    plog *log;
    char why[256];
    partition *p = open_part(&log, true, why);
    part_result r;
    for (int i = 0; i < 6; i++) { /* 0-11, rolling every few batches: snapshots */
        append(p, 7, 0, 2 * i, 2, &r);
        CHECK(r.error == 0 && r.first == 2 * i);
    }
    CHECK(count_snapshots() > 0);
    CHECK_EQ_I64(plog_truncate(log, 6), LOG_OK);
    partition_follower_truncated(p);
    CHECK_EQ_I64(plog_end_offset(log), 6);
    append(p, 7, 0, 6, 2, &r); /* the cut batch again: written at 6 */
    CHECK(r.error == 0 && !r.duplicate && r.first == 6 && r.last == 7);
    append(p, 7, 0, 2, 2, &r); /* one that stayed: a duplicate */
    CHECK(r.duplicate && r.first == 2 && r.last == 3);
    append(p, 7, 0, 10, 2, &r); /* beyond: out of order */
    CHECK_EQ_I64(r.error, E_OOS);
    partition_free(p);
    plog_close(log);
    clean_dir();
    rmdir(dir);
}

int main(void)
{
    test_rules();
    test_table();
    test_snapshot_codec();
    test_partition();
    test_transactions();
    test_v2_markers();
    test_truncation();
    TEST_REPORT();
}
