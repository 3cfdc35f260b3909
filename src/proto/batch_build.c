/* batch_build.c - see batch_build.h. */
#include "proto/batch_build.h"

#include <assert.h>
#include <string.h>

#include "base/crc32c.h"
#include "proto/batch.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

void batch_build_begin(batch_builder *b, kp_writer *w, int64_t base_timestamp_ms)
{
    b->w = w;
    b->start = w->len;
    b->count = 0;
    b->base_ts = base_timestamp_ms;
    b->max_ts = base_timestamp_ms;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
    b->attributes = 0;
    uint8_t *h = kp_writer_reserve(w, BATCH_HEADER_BYTES);
    if (h)
        memset(h, 0, BATCH_HEADER_BYTES);
}

void batch_build_producer(batch_builder *b, int64_t producer_id, int16_t epoch, int32_t base_sequence,
                          int16_t attributes)
{
    b->producer_id = producer_id;
    b->producer_epoch = epoch;
    b->base_sequence = base_sequence;
    b->attributes = attributes;
}

static size_t varint_len(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

void batch_build_add(batch_builder *b, int64_t timestamp_ms, const void *key, int32_t key_len,
                     const void *value, int32_t value_len)
{
    int64_t ts_delta = timestamp_ms - b->base_ts;
    int32_t off_delta = b->count;
    int32_t klen = key ? key_len : -1, vlen = value ? value_len : -1;
    size_t body = 1 + varint_len(ts_delta) + varint_len(off_delta) + varint_len(klen) +
                  (klen > 0 ? (size_t)klen : 0) + varint_len(vlen) + (vlen > 0 ? (size_t)vlen : 0) + 1;
    kp_write_varint(b->w, (int32_t)body);
    kp_write_int8(b->w, 0);
    kp_write_varlong(b->w, ts_delta);
    kp_write_varint(b->w, off_delta);
    kp_write_varint(b->w, klen);
    if (klen > 0)
        kp_write_raw(b->w, key, (size_t)klen);
    kp_write_varint(b->w, vlen);
    if (vlen > 0)
        kp_write_raw(b->w, value, (size_t)vlen);
    kp_write_varint(b->w, 0); /* headers */
    b->count++;
    if (timestamp_ms > b->max_ts)
        b->max_ts = timestamp_ms;
}

size_t batch_build_end(batch_builder *b)
{
    kp_writer *w = b->w;
    if (w->err)
        return 0;
    assert(b->count > 0);
    uint8_t *h = w->buf + b->start;
    size_t total = w->len - b->start;
    put_be64(h + 0, 0);                            /* baseOffset: set on append */
    put_be32(h + 8, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    put_be32(h + 12, 0);                           /* partitionLeaderEpoch */
    h[16] = 2;                                     /* magic */
    h[21] = (uint8_t)((uint16_t)b->attributes >> 8); /* attributes */
    h[22] = (uint8_t)b->attributes;
    put_be32(h + 23, (uint32_t)(b->count - 1));    /* lastOffsetDelta */
    put_be64(h + 27, (uint64_t)b->base_ts);
    put_be64(h + 35, (uint64_t)b->max_ts);
    put_be64(h + 43, (uint64_t)b->producer_id);
    h[51] = (uint8_t)((uint16_t)b->producer_epoch >> 8);
    h[52] = (uint8_t)b->producer_epoch;
    put_be32(h + 53, (uint32_t)b->base_sequence);
    put_be32(h + 57, (uint32_t)b->count);
    put_be32(h + 17, crc32c(0, h + 21, total - 21));
    return total;
}
