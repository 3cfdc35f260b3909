/*
 * fuzz_batch.c - libFuzzer target for record batch v2 parsing.
 *
 * The first input byte picks a mode; the rest is the batch.
 *   even: the bytes as they are (exercises header and CRC checks);
 *   odd:  the CRC field is rewritten to match, so the fuzzer gets past the
 *         CRC and into the record walker.
 * Every call runs on an exact-size heap copy so ASan flags any over-read.
 * On a batch that validates, the setters must keep it valid, and a lookup
 * for the smallest timestamp must find the batch's first record.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "proto/batch.h"

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
    bool compressed = (info->attributes & BATCH_ATTR_COMPRESSION_MASK) != 0;
    bool found = batch_find_timestamp(p, len, INT64_MIN, &off, &ts);
    assert(found);
    if (!compressed)
        assert(off == batch_base_offset(p));

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
    (void)batch_find_timestamp(p, len, 0, &off, &ts);
    (void)batch_find_timestamp(p, len, INT64_MAX, &off, &ts);
    if (err == BATCH_OK)
        check_valid_batch(p, len, &info);
    free(p);
    return 0;
}
