/*
 * fuzz_batch.c - libFuzzer target for record batch v2 parsing.
 *
 * The first input byte picks a mode; the rest is the batch.
 *   even: the bytes as they are (exercises header and CRC checks);
 *   odd:  the CRC field is rewritten to match, so the fuzzer gets past the
 *         CRC and into the record walker.
 * Every call runs on an exact-size heap copy so ASan flags any over-read.
 * On a batch that validates, the setters must keep it valid, a lookup for
 * the smallest timestamp must find the batch's first record, the record
 * iterator must walk exactly its records, and recompressing it in each codec
 * must give a batch that validates with the same records.
 * The record iterator also walks every input that has a header, valid or
 * not, under ASan.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "proto/batch.h"
#include "proto/codec.h"
#include "proto/records.h"
#include "proto/zwriter.h"

/* Inflating arbitrary bytes may claim anything: keep each input cheap. */
#define FUZZ_INFLATE_MAX (1u << 20)

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void crc_fix(uint8_t *p, size_t len)
{
    if (len < 21)
        return;
    size_t end = len;
    if (len >= 12) {
        int64_t total = 12 + (int64_t)(int32_t)rd32(p + 8);
        if (total >= 21 && (uint64_t)total <= len)
            end = (size_t)total;
    }
    uint32_t crc = crc32c(0, p + 21, end - 21);
    p[17] = (uint8_t)(crc >> 24);
    p[18] = (uint8_t)(crc >> 16);
    p[19] = (uint8_t)(crc >> 8);
    p[20] = (uint8_t)crc;
}

static void check_valid_batch(uint8_t *p, size_t len, const batch_info *info)
{
    assert(info->total_bytes >= BATCH_HEADER_BYTES && (size_t)info->total_bytes <= len);
    assert(info->record_count >= 1);
    assert(batch_check_crc(p, len, NULL) == BATCH_OK);

    int64_t off = 0, ts = 0;
    bool found = records_find_timestamp(p, len, RECORDS_MAX_INFLATED, INT64_MIN, &off, &ts);
    assert(found);
    assert(off == batch_base_offset(p));

    rec_iter it;
    rec_iter_setup(&it);
    int n = 0;
    if (rec_iter_init(&it, p, len, RECORDS_MAX_INFLATED) == 0) {
        krecord r;
        while (rec_iter_next(&it, &r) == 1)
            n++;
    }
    assert(n == info->record_count);
    rec_iter_deinit(&it);
    for (int codec = 0; codec <= 4; codec++) {
        kp_writer w;
        kp_writer_init(&w);
        const char *why = NULL;
        int rc = records_recompress(p, (size_t)info->total_bytes, codec, ZWRITER_LEVEL_DEFAULT, &w, &why);
        assert(rc == 0);
        batch_info again;
        assert(batch_validate(w.buf, w.len, &again) == BATCH_OK);
        assert(again.record_count == info->record_count);
        assert((again.attributes & BATCH_ATTR_COMPRESSION_MASK) == codec);
        kp_writer_deinit(&w);
    }

    batch_set_base_offset(p, 77);
    batch_set_leader_epoch(p, 3);
    assert(batch_validate(p, len, NULL) == BATCH_OK);
    batch_set_log_append_time(p, 1234);
    batch_info after;
    assert(batch_validate(p, len, &after) == BATCH_OK);
    assert(after.max_timestamp == 1234);
    assert(after.attributes & BATCH_ATTR_TIMESTAMP_TYPE);
    (void)found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool fix = data[0] & 1;
    size_t len = size - 1;
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return 0;
    memcpy(p, data + 1, len);
    if (fix)
        crc_fix(p, len);

    batch_info info;
    int err = batch_validate(p, len, &info);
    assert(batch_err_str(err) != NULL);
    (void)batch_check_crc(p, len, NULL);
    int64_t off, ts;
    (void)records_find_timestamp(p, len, FUZZ_INFLATE_MAX, 0, &off, &ts);
    (void)records_find_timestamp(p, len, FUZZ_INFLATE_MAX, INT64_MAX, &off, &ts);
    rec_iter it;
    rec_iter_setup(&it);
    if (rec_iter_init(&it, p, len, FUZZ_INFLATE_MAX) == 0) {
        krecord r;
        while (rec_iter_next(&it, &r) == 1)
            assert(r.raw_len > 0);
    }
    rec_iter_deinit(&it);
    if (err == BATCH_OK)
        check_valid_batch(p, len, &info);
    free(p);
    return 0;
}
