/*
 * records.c - the record iterator (records.h) and the record encoder the
 * cleaner and recompression use to write records back.
 *
 * Bounds: every read goes through the recread.h cursor over [pos, end);
 * a compressed batch inflates into a buffer that doubles up to max_bytes
 * and no further, so a batch that claims to hold more is refused rather
 * than followed.
 */
#include "proto/records.h"

#include <stdlib.h>
#include <string.h>

#include "proto/recread.h"
#include "proto/zreader.h"
#include "proto/zwriter.h"

/* Java's long addition wraps; so does ours, without undefined behaviour. */
static int64_t add_wrap(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

void rec_iter_setup(rec_iter *it)
{
    memset(it, 0, sizeof *it);
}

static int inflate_all(rec_iter *it, int codec, const uint8_t *in, size_t n, size_t max_bytes)
{
    zreader z;
    if (zreader_init(&z, codec, in, n) != 0) {
        it->err = z.err ? z.err : "unknown codec";
        zreader_deinit(&z);
        return -1;
    }
    size_t len = 0;
    for (;;) {
        if (len == it->buf_cap) {
            if (it->buf_cap >= max_bytes) {
                it->err = "records inflate past the size allowed for one batch";
                zreader_deinit(&z);
                return -1;
            }
            size_t cap = it->buf_cap ? it->buf_cap * 2 : 64 * 1024;
            if (cap > max_bytes)
                cap = max_bytes;
            uint8_t *nb = realloc(it->buf, cap);
            if (!nb) {
                it->err = "out of memory";
                zreader_deinit(&z);
                return -1;
            }
            it->buf = nb;
            it->buf_cap = cap;
        }
        long r = zreader_read(&z, it->buf + len, it->buf_cap - len);
        if (r < 0) {
            it->err = z.err ? z.err : "records do not decompress";
            zreader_deinit(&z);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    zreader_deinit(&z);
    it->pos = it->buf;
    it->end = it->buf + len;
    return 0;
}

int rec_iter_init(rec_iter *it, const uint8_t *p, size_t len, size_t max_bytes)
{
    it->err = NULL;
    it->pos = it->end = NULL;
    it->left = 0;
    if (len < BATCH_HEADER_BYTES) {
        it->err = "shorter than a batch header";
        return -1;
    }
    batch_peek(p, &it->info);
    if (it->info.total_bytes < BATCH_HEADER_BYTES || (size_t)it->info.total_bytes > len) {
        it->err = "batch length outside the bytes given";
        return -1;
    }
    it->batch = p;
    it->batch_len = (size_t)it->info.total_bytes;
    it->base_offset = batch_base_offset(p);
    it->left = it->info.record_count;
    const uint8_t *recs = p + BATCH_HEADER_BYTES;
    size_t nrecs = it->batch_len - BATCH_HEADER_BYTES;
    int codec = it->info.attributes & BATCH_ATTR_COMPRESSION_MASK;
    if (codec == 0) {
        it->pos = recs;
        it->end = recs + nrecs;
        return 0;
    }
    return inflate_all(it, codec, recs, nrecs, max_bytes);
}

int rec_iter_next(rec_iter *it, krecord *out)
{
    if (it->left <= 0 || it->pos == it->end)
        return 0;
    rec_reader r = { .p = it->pos, .len = (size_t)(it->end - it->pos) };
    int32_t rec_len = rd_varint(&r);
    if (r.err || rec_len < 0 || (size_t)rec_len > rd_left(&r)) {
        it->err = "record length outside the batch";
        return -1;
    }
    size_t head = r.pos;
    rec_reader b = { .p = it->pos + head, .len = (size_t)rec_len };
    (void)rd_u8(&b); /* record attributes: unused in v2 */
    out->timestamp_delta = rd_varlong(&b);
    size_t after_ts = b.pos;
    out->offset_delta = rd_varint(&b);
    out->key_len = rd_varint(&b);
    out->key = NULL;
    if (out->key_len >= 0) {
        out->key = b.p + b.pos;
        rd_skip(&b, (size_t)out->key_len);
    } else if (out->key_len < -1) {
        b.err = true;
    }
    out->value_len = rd_varint(&b);
    out->value = NULL;
    if (out->value_len >= 0) {
        out->value = b.p + b.pos;
        rd_skip(&b, (size_t)out->value_len);
    } else if (out->value_len < -1) {
        b.err = true;
    }
    size_t hstart = b.pos;
    out->header_count = rd_varint(&b);
    if (out->header_count < 0 || (size_t)out->header_count > rd_left(&b) / 2)
        b.err = true;
    for (int32_t i = 0; i < out->header_count && !b.err; i++) {
        rd_skip_string(&b);
        rd_skip_nullable(&b);
    }
    if (b.err || b.pos != b.len) {
        it->err = "a record does not parse";
        return -1;
    }
    /* headers points past the count varint; headers_len covers the headers only. */
    rec_reader hc = { .p = b.p + hstart, .len = b.len - hstart };
    (void)rd_varint(&hc);
    out->headers = b.p + hstart + hc.pos;
    out->headers_len = b.len - hstart - hc.pos;
    out->raw = it->pos;
    out->raw_len = head + (size_t)rec_len;
    out->after_ts = b.p + after_ts;
    out->after_ts_len = b.len - after_ts;
    out->offset = add_wrap(it->base_offset, out->offset_delta);
    out->timestamp = (it->info.attributes & BATCH_ATTR_TIMESTAMP_TYPE)
                         ? it->info.max_timestamp
                         : add_wrap(it->info.base_timestamp, out->timestamp_delta);
    it->pos += out->raw_len;
    it->left--;
    return 1;
}

void rec_iter_deinit(rec_iter *it)
{
    free(it->buf);
    it->buf = NULL;
    it->buf_cap = 0;
}

/* ---- encoding ---- */

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    return put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

size_t rec_encoded_max(int32_t key_len, int32_t value_len, size_t headers_len)
{
    return 5 + 1 + 10 + 5 + 5 + (key_len > 0 ? (size_t)key_len : 0) + 5 +
           (value_len > 0 ? (size_t)value_len : 0) + 5 + headers_len;
}

size_t rec_encode(uint8_t *out, int64_t timestamp_delta, int32_t offset_delta, const uint8_t *key,
                  int32_t key_len, const uint8_t *value, int32_t value_len, int32_t header_count,
                  const uint8_t *headers, size_t headers_len)
{
    /* The body first, 5 bytes in (the most a length varint takes), then the
     * length in front of it. */
    uint8_t *b = out + 5;
    size_t n = 0;
    b[n++] = 0; /* attributes */
    n += put_varint(b + n, timestamp_delta);
    n += put_varint(b + n, offset_delta);
    n += put_varint(b + n, key_len);
    if (key_len > 0) {
        memcpy(b + n, key, (size_t)key_len);
        n += (size_t)key_len;
    }
    n += put_varint(b + n, value_len);
    if (value_len > 0) {
        memcpy(b + n, value, (size_t)value_len);
        n += (size_t)value_len;
    }
    n += put_varint(b + n, header_count);
    if (headers_len > 0) {
        memcpy(b + n, headers, headers_len);
        n += headers_len;
    }
    uint8_t len[5];
    size_t ln = put_varint(len, (int64_t)n);
    memmove(out + ln, b, n);
    memcpy(out, len, ln);
    return ln + n;
}

/* ---- walks built on the iterator ---- */

int records_each(const uint8_t *p, size_t len, size_t max_bytes,
                 int (*fn)(void *arg, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen),
                 void *arg)
{
    rec_iter it;
    rec_iter_setup(&it);
    int rc = rec_iter_init(&it, p, len, max_bytes);
    krecord r;
    while (rc == 0) {
        int n = rec_iter_next(&it, &r);
        if (n <= 0) {
            rc = n;
            break;
        }
        rc = fn(arg, r.key, r.key_len, r.value, r.value_len);
    }
    rec_iter_deinit(&it);
    return rc;
}

bool records_find_timestamp(const uint8_t *p, size_t len, size_t max_bytes, int64_t ts_ms,
                            int64_t *offset_out, int64_t *ts_out)
{
    rec_iter it;
    rec_iter_setup(&it);
    bool found = false;
    if (rec_iter_init(&it, p, len, max_bytes) == 0) {
        krecord r;
        while (!found && rec_iter_next(&it, &r) == 1) {
            if (r.timestamp >= ts_ms) {
                *offset_out = r.offset;
                *ts_out = r.timestamp;
                found = true;
            }
        }
    }
    rec_iter_deinit(&it);
    return found;
}

int records_recompress(const uint8_t *p, size_t len, int codec, int level, kp_writer *out, const char **err)
{
    rec_iter it;
    rec_iter_setup(&it);
    int rc = -1;
    if (rec_iter_init(&it, p, len, RECORDS_MAX_INFLATED) != 0) {
        *err = it.err;
        goto out;
    }
    size_t start = out->len;
    uint8_t *h = kp_writer_reserve(out, BATCH_HEADER_BYTES);
    if (!h) {
        *err = "out of memory";
        goto out;
    }
    memcpy(h, p, BATCH_HEADER_BYTES);
    uint16_t attrs = (uint16_t)(((unsigned)h[21] << 8) | h[22]);
    attrs = (uint16_t)((attrs & ~BATCH_ATTR_COMPRESSION_MASK) | (codec & BATCH_ATTR_COMPRESSION_MASK));
    h[21] = (uint8_t)(attrs >> 8);
    h[22] = (uint8_t)attrs;
    /* The records keep their bytes: base offset and timestamp are the same. */
    const uint8_t *recs = it.pos;
    size_t n = (size_t)(it.end - it.pos);
    if (codec == 0)
        kp_write_raw(out, recs, n);
    else if (zwriter_compress(codec, level, recs, n, out, err) != 0)
        goto out;
    if (out->err) {
        *err = "out of memory";
        goto out;
    }
    batch_seal(out->buf + start, out->len - start);
    rc = 0;
out:
    rec_iter_deinit(&it);
    return rc;
}
