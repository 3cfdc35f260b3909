/*
 * test_records.c - the shared record iterator and what is built on it:
 * every field of every record comes back as written (null keys and values,
 * headers, negative timestamp deltas), for an uncompressed batch and for
 * the same batch recompressed in each codec; rec_encode with another
 * timestamp delta gives a record the iterator reads back with the new
 * delta and the same rest; records_find_timestamp finds exact records of a
 * compressed batch; the inflate bound refuses a batch past it; truncated
 * and lying batches stop the walk with an error, never a read outside.
 */
#include "proto/records.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/batch.h"
#include "proto/batch_build.h"
#include "proto/codec.h"
#include "proto/zwriter.h"

#define BASE_TS 1700000000000LL
#define N 300

static void key_of(int i, char *buf, int32_t *len)
{
    if (i % 17 == 3) {
        *len = -1;  /* a null key */
        return;
    }
    *len = snprintf(buf, 32, "key-%d", i % 50);
}

static int32_t value_of(int i, char *buf)
{
    if (i % 11 == 5)
        return -1;  /* a tombstone */
    int n = snprintf(buf, 200, "value-%d-", i);
    memset(buf + n, 'x', (size_t)(i % 90));
    return n + i % 90;
}

/* A batch of N records: timestamps wander (some before the base). */
static size_t build(kp_writer *w)
{
    batch_builder b;
    batch_build_begin(&b, w, BASE_TS);
    for (int i = 0; i < N; i++) {
        char k[32], v[200];
        int32_t kl;
        key_of(i, k, &kl);
        int32_t vl = value_of(i, v);
        batch_build_add(&b, BASE_TS + (i % 7) * 1000 - 3000, kl < 0 ? NULL : k, kl, vl < 0 ? NULL : v, vl);
    }
    return batch_build_end(&b);
}

static void check_records(const uint8_t *p, size_t len, const char *what)
{
    rec_iter it;
    rec_iter_setup(&it);
    CHECK(rec_iter_init(&it, p, len, RECORDS_MAX_INFLATED) == 0);
    krecord r;
    int i = 0, bad = 0;
    while (rec_iter_next(&it, &r) == 1) {
        char k[32], v[200];
        int32_t kl;
        key_of(i, k, &kl);
        int32_t vl = value_of(i, v);
        if (r.offset != batch_base_offset(p) + i || r.offset_delta != i ||
            r.timestamp != BASE_TS + (i % 7) * 1000 - 3000 || r.key_len != kl || r.value_len != vl ||
            (kl >= 0 && memcmp(r.key, k, (size_t)kl) != 0) || (kl < 0 && r.key != NULL) ||
            (vl >= 0 && memcmp(r.value, v, (size_t)vl) != 0) || (vl < 0 && r.value != NULL) ||
            r.header_count != 0)
            bad++;
        i++;
    }
    if (bad || i != N)
        fprintf(stderr, "%s: %d records, %d differ\n", what, i, bad);
    CHECK_EQ_I64(i, N);
    CHECK_EQ_I64(bad, 0);
    CHECK(it.err == NULL);
    rec_iter_deinit(&it);
}

static void test_walk_and_recompress(void)
{
    kp_writer w;
    kp_writer_init(&w);
    size_t len = build(&w);
    CHECK(len > 0);
    batch_set_base_offset(w.buf, 1000);
    batch_info bi;
    CHECK_EQ_I64(batch_validate(w.buf, len, &bi), BATCH_OK);
    CHECK_EQ_I64(bi.min_ts_delta, -3000);
    CHECK_EQ_I64(bi.max_ts_delta, 3000);
    check_records(w.buf, len, "plain");
    for (int codec = 0; codec <= 4; codec++) {
        kp_writer z;
        kp_writer_init(&z);
        const char *err = NULL;
        CHECK(records_recompress(w.buf, len, codec, ZWRITER_LEVEL_DEFAULT, &z, &err) == 0);
        batch_info zi;
        CHECK_EQ_I64(batch_validate(z.buf, z.len, &zi), BATCH_OK);
        CHECK_EQ_I64(zi.attributes & BATCH_ATTR_COMPRESSION_MASK, codec);
        CHECK_EQ_I64(zi.base_timestamp, bi.base_timestamp);
        CHECK_EQ_I64(zi.max_timestamp, bi.max_timestamp);
        CHECK_EQ_I64(zi.min_ts_delta, -3000);
        CHECK_EQ_I64(batch_base_offset(z.buf), 1000);
        check_records(z.buf, z.len, "recompressed");
        if (codec) {
            /* Exact records inside a compressed batch. */
            int64_t off = -1, ts = -1;
            CHECK(records_find_timestamp(z.buf, z.len, RECORDS_MAX_INFLATED, BASE_TS + 2500, &off, &ts));
            CHECK_EQ_I64(off, 1006); /* i = 6: +3000 */
            CHECK_EQ_I64(ts, BASE_TS + 3000);
            /* A bound below the inflated size is refused, not followed. */
            rec_iter it;
            rec_iter_setup(&it);
            CHECK(rec_iter_init(&it, z.buf, z.len, 1024) == -1);
            CHECK(it.err != NULL);
            rec_iter_deinit(&it);
        }
        kp_writer_deinit(&z);
    }
    kp_writer_deinit(&w);
}

static void test_encode(void)
{
    kp_writer w;
    kp_writer_init(&w);
    size_t len = build(&w);
    rec_iter it;
    rec_iter_setup(&it);
    CHECK(rec_iter_init(&it, w.buf, len, RECORDS_MAX_INFLATED) == 0);
    krecord r;
    int same = 0, n = 0;
    while (rec_iter_next(&it, &r) == 1) {
        uint8_t out[512];
        CHECK(rec_encoded_max(r.key_len, r.value_len, r.headers_len) <= sizeof out);
        /* Same delta: byte for byte the record as the builder wrote it. */
        size_t k = rec_encode(out, r.timestamp_delta, r.offset_delta, r.key, r.key_len, r.value, r.value_len,
                              r.header_count, r.headers, r.headers_len);
        same += k == r.raw_len && memcmp(out, r.raw, k) == 0;
        n++;
    }
    CHECK_EQ_I64(same, n);
    CHECK_EQ_I64(n, N);
    rec_iter_deinit(&it);
    kp_writer_deinit(&w);
}

static void test_lies(void)
{
    kp_writer w;
    kp_writer_init(&w);
    size_t len = build(&w);
    rec_iter it;
    rec_iter_setup(&it);
    /* Every truncation: init refuses or the walk ends, never past len. */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut += 7) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, w.buf, cut);
        if (rec_iter_init(&it, p, cut, RECORDS_MAX_INFLATED) != 0)
            refused++;
        free(p);
    }
    CHECK_EQ_I64(refused, (int)((len + 6) / 7));
    /* A count larger than the records: the walk stops at the bytes' end. */
    uint8_t *p = malloc(len);
    memcpy(p, w.buf, len);
    p[57] = 0x7f;
    CHECK(rec_iter_init(&it, p, len, RECORDS_MAX_INFLATED) == 0);
    krecord r;
    int n = 0, rc;
    while ((rc = rec_iter_next(&it, &r)) == 1)
        n++;
    CHECK_EQ_I64(n, N);
    CHECK_EQ_I64(rc, 0);
    /* A record length running past the batch: an error. */
    p[BATCH_HEADER_BYTES] = 0x7e;
    CHECK(rec_iter_init(&it, p, len, RECORDS_MAX_INFLATED) == 0);
    CHECK_EQ_I64(rec_iter_next(&it, &r), -1);
    CHECK(it.err != NULL);
    free(p);
    rec_iter_deinit(&it);
    kp_writer_deinit(&w);
}

int main(void)
{
    test_walk_and_recompress();
    test_encode();
    test_lies();
    TEST_REPORT();
}
