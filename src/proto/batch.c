/*
 * batch.c - record batch v2: header checks, CRC, and the record walk.
 *
 * Everything here reads untrusted bytes in place. The header checks run in a
 * fixed order (empty, magic, short header, batchLength, short batch, CRC) and
 * establish the invariant the rest relies on: 61 <= total <= len, where
 * total = 12 + batchLength. The record walk then only ever reads inside
 * [61, total) through a bounds-checked cursor with a sticky error flag, so a
 * lying length or count can make it stop early but never read past the batch.
 * Every loop is bounded by bytes left, not by a count taken from the input.
 *
 * Produce validation is Kafka's for v2 batches written by clients: records
 * count >= 1, count == lastOffsetDelta + 1, each record's offsetDelta equals
 * its index and the records fill the batch (or its decompressed records)
 * exactly. Compressed records are decompressed as a stream (zreader.h) and
 * walked without being held: keys, values and headers are skipped, so the
 * memory a batch takes does not depend on what it claims to hold.
 *
 * Pure functions over caller-owned bytes; safe from any thread.
 */
#include "proto/batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "proto/zreader.h"

/* Field offsets (see batch.h). */
enum {
    OFF_BASE_OFFSET = 0,
    OFF_BATCH_LENGTH = 8,
    OFF_LEADER_EPOCH = 12,
    OFF_MAGIC = 16,
    OFF_CRC = 17,
    OFF_ATTRIBUTES = 21,
    OFF_LAST_OFFSET_DELTA = 23,
    OFF_BASE_TIMESTAMP = 27,
    OFF_MAX_TIMESTAMP = 35,
    OFF_PRODUCER_ID = 43,
    OFF_PRODUCER_EPOCH = 51,
    OFF_BASE_SEQUENCE = 53,
    OFF_RECORD_COUNT = 57,
};

_Static_assert(OFF_RECORD_COUNT + 4 == BATCH_HEADER_BYTES, "v2 header is 61 bytes");
_Static_assert(OFF_LEADER_EPOCH == BATCH_LOG_OVERHEAD, "log overhead is 12 bytes");

#define BATCH_MAGIC_V2 2
#define BATCH_LENGTH_MIN (BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD) /* 49 */
#define REC_BYTES_MIN 7
#define BATCH_COMPRESSION_MAX 4 /* zstd; 5..7 are not defined by Kafka */

/* ---- big-endian field access ---- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

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

#include "proto/recread.h"

int batch_control_type(const uint8_t *p, size_t len)
{
    if (len <= BATCH_HEADER_BYTES || (be16(p + OFF_ATTRIBUTES) & BATCH_ATTR_CONTROL) == 0 ||
        (be16(p + OFF_ATTRIBUTES) & BATCH_ATTR_COMPRESSION_MASK) != 0)
        return -1;
    rec_reader r = { .p = p + BATCH_HEADER_BYTES, .len = len - BATCH_HEADER_BYTES };
    (void)rd_varint(&r);  /* record length */
    (void)rd_u8(&r);      /* attributes */
    (void)rd_varlong(&r); /* timestamp delta */
    (void)rd_varint(&r);  /* offset delta */
    int32_t klen = rd_varint(&r);
    if (r.err || klen < 4 || rd_left(&r) < 4)
        return -1;
    const uint8_t *k = r.p + r.pos;
    if (be16(k) != 0)
        return -1; /* a control key version this code does not know */
    return (int)be16(k + 2);
}

/* ---- one record ---- */

typedef struct rec_view {
    int64_t timestamp_delta;
    int32_t offset_delta;
} rec_view;

/* Each header needs at least two bytes (key length, value length). */
static void rec_skip_headers(rec_reader *r)
{
    int32_t count = rd_varint(r);
    if (count < 0 || (size_t)count > rd_left(r) / 2) {
        r->err = true;
        return;
    }
    for (int32_t i = 0; i < count && !r->err; i++) {
        rd_skip_string(r);
        rd_skip_nullable(r);
    }
}

/*
 * Parse the record at r's cursor into out. The record must consume exactly
 * its length prefix. On failure sets r->err.
 */
static void rec_next(rec_reader *r, rec_view *out)
{
    int32_t rec_len = rd_varint(r);
    if (r->err || rec_len < 0 || (size_t)rec_len > rd_left(r)) {
        r->err = true;
        return;
    }
    rec_reader body = { .p = r->p + r->pos, .len = (size_t)rec_len };
    (void)rd_u8(&body); /* record attributes: unused */
    out->timestamp_delta = rd_varlong(&body);
    out->offset_delta = rd_varint(&body);
    rd_skip_nullable(&body); /* key */
    rd_skip_nullable(&body); /* value */
    rec_skip_headers(&body);
    if (body.err || body.pos != body.len) {
        r->err = true;
        return;
    }
    r->pos += (size_t)rec_len;
    assert(r->pos <= r->len);
}

/* ---- header ---- */

static void batch_info_fill(const uint8_t *p, batch_info *out)
{
    out->detail = NULL;
    /* in 64 bits: a length near INT32_MAX must not overflow (fuzz_batch);
     * it is then larger than any buffer and refused by the callers */
    int64_t total = (int64_t)BATCH_LOG_OVERHEAD + (int32_t)be32(p + OFF_BATCH_LENGTH);
    out->total_bytes = total > INT32_MAX ? INT32_MAX : (int32_t)total;
    out->attributes = (int16_t)be16(p + OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)be32(p + OFF_LAST_OFFSET_DELTA);
    out->base_timestamp = (int64_t)be64(p + OFF_BASE_TIMESTAMP);
    out->max_timestamp = (int64_t)be64(p + OFF_MAX_TIMESTAMP);
    out->producer_id = (int64_t)be64(p + OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)be16(p + OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)be32(p + OFF_BASE_SEQUENCE);
    out->record_count = (int32_t)be32(p + OFF_RECORD_COUNT);
}

void batch_peek(const uint8_t *p, batch_info *out)
{
    batch_info_fill(p, out);
}

/* Lengths and magic; on BATCH_OK, *total_out is in [61, len]. */
static int batch_check_header(const uint8_t *p, size_t len, size_t *total_out)
{
    if (len == 0)
        return BATCH_ERR_EMPTY;
    /* Magic sits at byte 16 in every message format, so it is checked as
     * soon as it is there: an old v0/v1 message says MAGIC, not LENGTH. */
    if (len <= OFF_MAGIC)
        return BATCH_ERR_SHORT;
    if (p[OFF_MAGIC] != BATCH_MAGIC_V2)
        return BATCH_ERR_MAGIC;
    if (len < BATCH_HEADER_BYTES)
        return BATCH_ERR_SHORT;
    int32_t batch_len = (int32_t)be32(p + OFF_BATCH_LENGTH);
    if (batch_len < BATCH_LENGTH_MIN || batch_len > INT32_MAX - BATCH_LOG_OVERHEAD)
        return BATCH_ERR_LENGTH;
    size_t total = BATCH_LOG_OVERHEAD + (size_t)batch_len;
    if (total > len)
        return BATCH_ERR_SHORT;
    assert(total >= BATCH_HEADER_BYTES);
    *total_out = total;
    return BATCH_OK;
}

static uint32_t batch_crc_compute(const uint8_t *p, size_t total)
{
    assert(total >= BATCH_HEADER_BYTES);
    return crc32c(0, p + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES);
}

static int batch_check_header_crc(const uint8_t *p, size_t len, size_t *total_out)
{
    int err = batch_check_header(p, len, total_out);
    if (err != BATCH_OK)
        return err;
    if (batch_crc_compute(p, *total_out) != be32(p + OFF_CRC))
        return BATCH_ERR_CRC;
    return BATCH_OK;
}

int batch_check_crc(const uint8_t *p, size_t len, batch_info *out)
{
    size_t total = 0;
    int err = batch_check_header_crc(p, len, &total);
    if (err == BATCH_OK && out)
        batch_info_fill(p, out);
    return err;
}

/* ---- validation ---- */

/* Widen [*lo, *hi] to hold v. */
static void ts_span(int64_t v, int64_t *lo, int64_t *hi)
{
    if (v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

static int batch_records_check(const uint8_t *p, size_t total, int32_t count, int64_t *lo, int64_t *hi)
{
    rec_reader r = { .p = p + BATCH_HEADER_BYTES, .len = total - BATCH_HEADER_BYTES };
    for (int32_t i = 0; i < count; i++) {
        rec_view rec;
        rec_next(&r, &rec);
        if (r.err || rec.offset_delta != i)
            return BATCH_ERR_RECORDS;
        ts_span(rec.timestamp_delta, lo, hi);
    }
    if (rd_left(&r) != 0)
        return BATCH_ERR_RECORDS;
    return BATCH_OK;
}

/* ---- compressed records: a pull cursor over the decompressed stream ---- */

/* At least an lz4 frame's usual block (64 KiB): with a smaller buffer
 * LZ4F_decompress inflates into its own block buffer and copies again, which
 * cost W1 lz4 a quarter of its rate (bench/codec_ab). */
#define REC_STREAM_BUF_BYTES (128 * 1024)

typedef struct rec_stream {
    zreader z;
    uint8_t *buf;             /* REC_STREAM_BUF_BYTES, owned */
    size_t pos, len;
    uint64_t consumed;        /* decompressed bytes taken so far */
    bool eof;                 /* the stream ended cleanly */
    bool bad_data;            /* the data does not decompress (z.err) */
} rec_stream;

static bool rs_fill(rec_stream *s)
{
    if (s->eof || s->bad_data)
        return false;
    long n = zreader_read(&s->z, s->buf, REC_STREAM_BUF_BYTES);
    if (n < 0) {
        s->bad_data = true;
        return false;
    }
    if (n == 0) {
        s->eof = true;
        return false;
    }
    s->pos = 0;
    s->len = (size_t)n;
    return true;
}

/* The next byte, or -1 at the end of the data or on a decompression error. */
static int rs_byte(rec_stream *s)
{
    if (s->pos == s->len && !rs_fill(s))
        return -1;
    s->consumed++;
    return s->buf[s->pos++];
}

static bool rs_skip(rec_stream *s, uint64_t n)
{
    while (n > 0) {
        if (s->pos == s->len && !rs_fill(s))
            return false;
        size_t take = s->len - s->pos < n ? s->len - s->pos : (size_t)n;
        s->pos += take;
        s->consumed += take;
        n -= take;
    }
    return true;
}

/* Zigzag varint of at most max_bytes carrying at most bits_max bits; sets
 * *ok to false on a malformed or missing value. */
static int64_t rs_varint(rec_stream *s, int max_bytes, int bits_max, bool *ok)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        int b = rs_byte(s);
        if (b < 0)
            break;
        int shift = 7 * i;
        uint64_t chunk = (uint64_t)(b & 0x7f);
        if (shift + 7 > bits_max && (chunk >> (bits_max - shift)) != 0)
            break;
        v |= chunk << shift;
        if ((b & 0x80) == 0)
            return (int64_t)((v >> 1) ^ (0 - (v & 1)));
    }
    *ok = false;
    return 0;
}

/* A length (nullable: -1 allowed) and that many bytes, inside the record's
 * remaining bytes. */
static bool rs_skip_field(rec_stream *s, bool nullable, uint64_t rec_end)
{
    bool ok = true;
    int64_t n = rs_varint(s, 5, 32, &ok);
    if (!ok || n < (nullable ? -1 : 0))
        return false;
    if (n <= 0)
        return true;
    if ((uint64_t)n > rec_end - s->consumed || s->consumed > rec_end)
        return false;
    return rs_skip(s, (uint64_t)n);
}

/* One record of the stream; its offsetDelta must be index. */
static bool rs_record(rec_stream *s, int32_t index, int64_t *lo, int64_t *hi)
{
    bool ok = true;
    int64_t rec_len = rs_varint(s, 5, 32, &ok);
    if (!ok || rec_len < REC_BYTES_MIN - 1)
        return false;
    uint64_t rec_end = s->consumed + (uint64_t)rec_len;
    if (rs_byte(s) < 0) /* attributes */
        return false;
    ts_span(rs_varint(s, 10, 64, &ok), lo, hi); /* timestamp delta */
    int64_t offset_delta = rs_varint(s, 5, 32, &ok);
    if (!ok || offset_delta != index)
        return false;
    if (!rs_skip_field(s, true, rec_end) || !rs_skip_field(s, true, rec_end))
        return false; /* key, value */
    int64_t headers = rs_varint(s, 5, 32, &ok);
    if (!ok || headers < 0 || s->consumed > rec_end ||
        (uint64_t)headers > (rec_end - s->consumed) / 2)
        return false;
    for (int64_t i = 0; i < headers; i++)
        if (!rs_skip_field(s, false, rec_end) || !rs_skip_field(s, true, rec_end))
            return false;
    return s->consumed == rec_end;
}

static int batch_records_check_compressed(const uint8_t *p, size_t total, int codec,
                                          int32_t count, const char **detail, int64_t *lo, int64_t *hi)
{
    rec_stream s = { .buf = malloc(REC_STREAM_BUF_BYTES) };
    if (!s.buf)
        return BATCH_ERR_NOMEM;
    int err = BATCH_OK;
    if (zreader_init(&s.z, codec, p + BATCH_HEADER_BYTES, total - BATCH_HEADER_BYTES) != 0) {
        err = BATCH_ERR_DECOMPRESS;
        goto out;
    }
    for (int32_t i = 0; i < count && err == BATCH_OK; i++)
        if (!rs_record(&s, i, lo, hi))
            err = s.bad_data ? BATCH_ERR_DECOMPRESS : BATCH_ERR_RECORDS;
    /* Nothing may follow the last record: reading on also makes the
     * decompressor check the stream's end (gzip's trailer, lz4's end mark). */
    if (err == BATCH_OK && rs_byte(&s) >= 0)
        err = BATCH_ERR_RECORDS;
    if (err == BATCH_OK && s.bad_data)
        err = BATCH_ERR_DECOMPRESS;
out:
    if (err == BATCH_ERR_DECOMPRESS)
        *detail = s.z.err;
    zreader_deinit(&s.z);
    free(s.buf);
    return err;
}

int batch_validate(const uint8_t *p, size_t len, batch_info *out)
{
    size_t total = 0;
    int err = batch_check_header_crc(p, len, &total);
    if (err != BATCH_OK)
        return err;

    batch_info info;
    batch_info_fill(p, &info);
    if (out)
        out->detail = NULL;
    if (info.record_count < 1 ||
        (int64_t)info.record_count != (int64_t)info.last_offset_delta + 1)
        return BATCH_ERR_COUNT;

    int codec = info.attributes & BATCH_ATTR_COMPRESSION_MASK;
    if (codec > BATCH_COMPRESSION_MAX)
        return BATCH_ERR_CODEC;
    info.min_ts_delta = INT64_MAX;
    info.max_ts_delta = INT64_MIN;
    if (codec != 0) {
        const char *detail = NULL;
        err = batch_records_check_compressed(p, total, codec, info.record_count, &detail, &info.min_ts_delta,
                                             &info.max_ts_delta);
        if (out)
            out->detail = detail;
        if (err != BATCH_OK)
            return err;
    } else {
        /* A record takes at least 7 bytes (length, attributes, timestamp
         * delta, offset delta, key, value, header count): reject early. */
        if ((size_t)info.record_count > (total - BATCH_HEADER_BYTES) / REC_BYTES_MIN)
            return BATCH_ERR_RECORDS;
        err = batch_records_check(p, total, info.record_count, &info.min_ts_delta, &info.max_ts_delta);
        if (err != BATCH_OK)
            return err;
    }
    if (out)
        *out = info;
    return BATCH_OK;
}

/* ---- accessors ---- */

int64_t batch_base_offset(const uint8_t *p)
{
    return (int64_t)be64(p + OFF_BASE_OFFSET);
}

int32_t batch_length(const uint8_t *p)
{
    return (int32_t)be32(p + OFF_BATCH_LENGTH);
}

int32_t batch_leader_epoch(const uint8_t *p)
{
    return (int32_t)be32(p + OFF_LEADER_EPOCH);
}

void batch_set_base_offset(uint8_t *p, int64_t off)
{
    put_be64(p + OFF_BASE_OFFSET, (uint64_t)off);
}

void batch_set_leader_epoch(uint8_t *p, int32_t epoch)
{
    put_be32(p + OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void batch_seal(uint8_t *p, size_t total)
{
    assert(total >= BATCH_HEADER_BYTES);
    put_be32(p + OFF_BATCH_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    put_be32(p + OFF_CRC, batch_crc_compute(p, total));
}

void batch_set_log_append_time(uint8_t *p, int64_t ts_ms)
{
    int32_t batch_len = batch_length(p);
    assert(batch_len >= BATCH_LENGTH_MIN);
    assert(p[OFF_MAGIC] == BATCH_MAGIC_V2);
    size_t total = BATCH_LOG_OVERHEAD + (size_t)batch_len;

    uint16_t attrs = be16(p + OFF_ATTRIBUTES);
    put_be16(p + OFF_ATTRIBUTES, (uint16_t)(attrs | BATCH_ATTR_TIMESTAMP_TYPE));
    put_be64(p + OFF_MAX_TIMESTAMP, (uint64_t)ts_ms);
    put_be32(p + OFF_CRC, batch_crc_compute(p, total));
}

const char *batch_err_str(int err)
{
    switch (err) {
    case BATCH_OK: return "ok";
    case BATCH_ERR_SHORT: return "batch shorter than its header or batchLength";
    case BATCH_ERR_MAGIC: return "batch magic is not 2";
    case BATCH_ERR_CRC: return "batch CRC32C mismatch";
    case BATCH_ERR_LENGTH: return "batchLength smaller than a batch header";
    case BATCH_ERR_COUNT: return "record count disagrees with lastOffsetDelta";
    case BATCH_ERR_RECORDS: return "records do not parse";
    case BATCH_ERR_EMPTY: return "no batch";
    case BATCH_ERR_CODEC: return "compression codec is not one Kafka defines (0-4)";
    case BATCH_ERR_DECOMPRESS: return "compressed records do not decompress";
    case BATCH_ERR_NOMEM: return "no memory to check the compressed records";
    default: return "unknown batch error";
    }
}
