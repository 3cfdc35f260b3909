/*
 * test_batch.c - record batch v2 validation, accessors and timestamp lookup.
 *
 * A test-only builder writes batches the way a client would (varint records
 * with keys, values and headers); tests then corrupt one thing at a time,
 * usually re-sealing the CRC so the check under test is the one that fires.
 * Truncation runs on exact-size heap copies so ASan sees any over-read.
 */
#include "proto/batch.h"
#include "proto/records.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "base/crc32c.h"
#include "check.h"

#define TB_BYTES_MAX 16384
#define TB_RECORDS_MAX 64

/* ---- builder ---- */

typedef struct tb {
    uint8_t buf[TB_BYTES_MAX];
    size_t len;
    int32_t count;                      /* records appended */
    int64_t ts_max;
    size_t rec_off[TB_RECORDS_MAX];     /* start of each record (its length varint) */
    size_t key_len_off[TB_RECORDS_MAX]; /* where the key length varint is */
    size_t hdr_count_off[TB_RECORDS_MAX];
} tb;

typedef struct tb_header {
    const char *key;
    const char *value; /* NULL: null value */
} tb_header;

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

static size_t uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_put(uint8_t *p, int64_t v)
{
    return uvarint_put(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void tb_begin(tb *b, int64_t base_offset, int64_t base_ts, int16_t attrs)
{
    memset(b, 0, sizeof *b);
    put64(b->buf, (uint64_t)base_offset);
    put32(b->buf + 12, 7);            /* partitionLeaderEpoch */
    b->buf[16] = 2;                   /* magic */
    b->buf[21] = (uint8_t)(attrs >> 8);
    b->buf[22] = (uint8_t)attrs;
    put64(b->buf + 27, (uint64_t)base_ts);
    put64(b->buf + 43, (uint64_t)-1); /* producerId */
    b->buf[51] = 0xff;                /* producerEpoch -1 */
    b->buf[52] = 0xff;
    put32(b->buf + 53, (uint32_t)-1); /* baseSequence */
    b->len = BATCH_HEADER_BYTES;
    b->ts_max = base_ts;
}

static void tb_bytes(uint8_t *body, size_t *n, const char *s)
{
    if (!s) {
        *n += varint_put(body + *n, -1);
        return;
    }
    size_t len = strlen(s);
    *n += varint_put(body + *n, (int64_t)len);
    memcpy(body + *n, s, len);
    *n += len;
}

/* Append one record; key/value NULL mean null. */
static void tb_record(tb *b, int64_t ts_delta, int32_t offset_delta, const char *key,
                      const char *value, const tb_header *hdrs, int nhdrs)
{
    uint8_t body[4096];
    size_t n = 0, key_at, hdr_at;
    body[n++] = 0; /* attributes */
    n += varint_put(body + n, ts_delta);
    n += varint_put(body + n, offset_delta);
    key_at = n;
    tb_bytes(body, &n, key);
    tb_bytes(body, &n, value);
    hdr_at = n;
    n += varint_put(body + n, nhdrs);
    for (int i = 0; i < nhdrs; i++) {
        tb_bytes(body, &n, hdrs[i].key);
        tb_bytes(body, &n, hdrs[i].value);
    }
    int32_t i = b->count++;
    b->rec_off[i] = b->len;
    size_t prefix = varint_put(b->buf + b->len, (int64_t)n);
    b->key_len_off[i] = b->len + prefix + key_at;
    b->hdr_count_off[i] = b->len + prefix + hdr_at;
    b->len += prefix;
    memcpy(b->buf + b->len, body, n);
    b->len += n;
    int64_t base_ts = (int64_t)((uint64_t)get32(b->buf + 27) << 32 | get32(b->buf + 31));
    if (base_ts + ts_delta > b->ts_max)
        b->ts_max = base_ts + ts_delta;
}

static void tb_raw(tb *b, const void *p, size_t n)
{
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void tb_seal(tb *b)
{
    put32(b->buf + 17, crc32c(0, b->buf + 21, b->len - 21));
}

/* Fill lengths, lastOffsetDelta, maxTimestamp, count, then the CRC. */
static void tb_finish(tb *b)
{
    put32(b->buf + 8, (uint32_t)(b->len - BATCH_LOG_OVERHEAD));
    put32(b->buf + 23, (uint32_t)(b->count - 1));
    put64(b->buf + 35, (uint64_t)b->ts_max);
    put32(b->buf + 57, (uint32_t)b->count);
    tb_seal(b);
}

static const tb_header hdrs2[] = { { "trace", "abc" }, { "h2", NULL } };

/* n records: keys "k<i>" (every third null), values, headers on odd ones. */
static void tb_standard(tb *b, int n, int64_t base_offset, int64_t base_ts)
{
    tb_begin(b, base_offset, base_ts, 0);
    for (int i = 0; i < n; i++) {
        char key[16], value[64];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "value number %d", i);
        tb_record(b, 10 * i, i, i % 3 == 2 ? NULL : key, value, hdrs2, i % 2 ? 2 : 0);
    }
    tb_finish(b);
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return q;
}

static int validate_exact(const tb *b)
{
    uint8_t *q = dup_exact(b->buf, b->len);
    int err = batch_validate(q, b->len, NULL);
    free(q);
    return err;
}

/* ---- tests ---- */

static void test_valid(void)
{
    static tb b;
    for (int n = 1; n <= 20; n++) {
        tb_standard(&b, n, 1000, 1700000000000);
        batch_info info;
        CHECK_EQ_I64(batch_validate(b.buf, b.len, &info), BATCH_OK);
        CHECK_EQ_I64(info.record_count, n);
        CHECK_EQ_I64(info.last_offset_delta, n - 1);
        CHECK_EQ_I64(info.total_bytes, (int64_t)b.len);
        CHECK_EQ_I64(info.base_timestamp, 1700000000000);
        CHECK_EQ_I64(info.max_timestamp, 1700000000000 + 10 * (n - 1));
        CHECK_EQ_I64(info.producer_id, -1);
        CHECK_EQ_I64(info.producer_epoch, -1);
        CHECK_EQ_I64(info.base_sequence, -1);
        CHECK_EQ_I64(validate_exact(&b), BATCH_OK);
        CHECK_EQ_I64(batch_check_crc(b.buf, b.len, &info), BATCH_OK);
        CHECK_EQ_I64(batch_base_offset(b.buf), 1000);
        CHECK_EQ_I64(batch_length(b.buf), (int64_t)b.len - 12);
    }
    /* More bytes after the batch are not this batch's business. */
    b.buf[b.len] = 0xAA;
    CHECK_EQ_I64(batch_validate(b.buf, b.len + 1, NULL), BATCH_OK);

    /* Null key and value, empty key, empty value. */
    tb_begin(&b, 0, 5, 0);
    tb_record(&b, 0, 0, NULL, NULL, NULL, 0);
    tb_record(&b, -3, 1, "", "", NULL, 0);
    tb_finish(&b);
    CHECK_EQ_I64(validate_exact(&b), BATCH_OK);

    CHECK_EQ_I64(batch_validate(b.buf, 0, NULL), BATCH_ERR_EMPTY);
}

static void test_header_corruption(void)
{
    static tb b;
    tb_standard(&b, 5, 0, 1000);

    b.buf[17] ^= 0x01; /* CRC byte */
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_CRC);
    CHECK_EQ_I64(batch_check_crc(b.buf, b.len, NULL), BATCH_ERR_CRC);
    b.buf[17] ^= 0x01;

    b.buf[b.len - 3] ^= 0x40; /* payload byte */
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_CRC);
    CHECK_EQ_I64(batch_check_crc(b.buf, b.len, NULL), BATCH_ERR_CRC);
    b.buf[b.len - 3] ^= 0x40;

    b.buf[30] ^= 0x02; /* header byte covered by the CRC (baseTimestamp) */
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_CRC);
    b.buf[30] ^= 0x02;

    b.buf[16] = 1;
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_MAGIC);
    CHECK_EQ_I64(batch_check_crc(b.buf, b.len, NULL), BATCH_ERR_MAGIC);
    b.buf[16] = 2;

    /* A v1 message (magic at the same byte 16) shorter than a v2 header. */
    uint8_t v1[40] = { 0 };
    put32(v1 + 8, 28);
    v1[16] = 1;
    CHECK_EQ_I64(batch_validate(v1, sizeof v1, NULL), BATCH_ERR_MAGIC);
    CHECK_EQ_I64(batch_check_crc(v1, 16, NULL), BATCH_ERR_SHORT);

    uint32_t blen = get32(b.buf + 8);
    put32(b.buf + 8, blen + 1); /* batchLength too large */
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_SHORT);
    put32(b.buf + 8, 0x7fffffff);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_LENGTH);
    put32(b.buf + 8, 48); /* smaller than a header */
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_LENGTH);
    put32(b.buf + 8, 0xffffffff);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_LENGTH);
    put32(b.buf + 8, blen);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_OK);
}

static void test_truncation(void)
{
    static tb b;
    tb_standard(&b, 7, 42, 1000);
    int ok = 0;
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *q = dup_exact(b.buf, cut);
        int64_t off, ts;
        batch_info info;
        ok += batch_validate(q, cut, &info) == BATCH_OK;
        ok += batch_check_crc(q, cut, &info) == BATCH_OK;
        ok += records_find_timestamp(q, cut, RECORDS_MAX_INFLATED, 0, &off, &ts);
        free(q);
    }
    CHECK_EQ_I64(ok, 0);
    CHECK_EQ_I64(validate_exact(&b), BATCH_OK);
}

static void test_count(void)
{
    static tb b;
    tb_standard(&b, 4, 0, 1000);
    put32(b.buf + 57, 5); /* count says 5, lastOffsetDelta says 4 */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_COUNT);
    put32(b.buf + 23, 4); /* both say 5, but there are 4 records */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    put32(b.buf + 57, 3); /* both say 3, but there are 4 records */
    put32(b.buf + 23, 2);
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    put32(b.buf + 57, 0); /* empty batch: not acceptable from a producer */
    put32(b.buf + 23, (uint32_t)-1);
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_COUNT);
    put32(b.buf + 57, 0x80000000u); /* negative count */
    put32(b.buf + 23, 0x7fffffffu);
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_COUNT);
    put32(b.buf + 57, 0x7fffffffu); /* huge count, consistent delta */
    put32(b.buf + 23, 0x7ffffffeu);
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);

    /* offsetDelta must equal the record's index. */
    tb_begin(&b, 0, 1000, 0);
    tb_record(&b, 0, 0, "a", "b", NULL, 0);
    tb_record(&b, 0, 2, "a", "b", NULL, 0);
    tb_finish(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    tb_begin(&b, 0, 1000, 0);
    tb_record(&b, 0, 1, "a", "b", NULL, 0);
    tb_record(&b, 0, 0, "a", "b", NULL, 0);
    tb_finish(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
}

static void test_record_corruption(void)
{
    static tb b;
    tb_standard(&b, 4, 0, 1000);
    size_t r1 = b.rec_off[1];
    uint8_t orig = b.buf[r1];
    CHECK(orig < 0x80); /* one-byte length varint */

    b.buf[r1] = (uint8_t)(orig + 2); /* record length one more than real */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[r1] = (uint8_t)(orig - 2); /* one less */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[r1] = 1; /* negative length (-1) */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[r1] = orig;
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_OK);

    size_t h1 = b.hdr_count_off[1]; /* record 1 has 2 headers */
    CHECK_EQ_I64(b.buf[h1], 4);
    b.buf[h1] = 6; /* says 3 */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[h1] = 2; /* says 1 */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[h1] = 1; /* says -1 */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[h1] = 4;

    size_t k0 = b.key_len_off[0]; /* "k0": length 2, zigzag 4 */
    CHECK_EQ_I64(b.buf[k0], 4);
    b.buf[k0] = 3; /* -2 */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    b.buf[k0] = 4;
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_OK);

    /* A trailing byte inside batchLength after the last record. */
    b.buf[b.len++] = 0;
    tb_finish(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    /* Header key that is null. */
    static const tb_header null_key[] = { { NULL, "v" } };
    tb_begin(&b, 0, 1000, 0);
    tb_record(&b, 0, 0, "a", "b", null_key, 1);
    tb_finish(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
}

/* A record body given as raw bytes after its length prefix. */
static int validate_raw_record(const uint8_t *body, size_t n)
{
    static tb b;
    tb_begin(&b, 0, 1000, 0);
    uint8_t prefix[10];
    tb_raw(&b, prefix, varint_put(prefix, (int64_t)n));
    tb_raw(&b, body, n);
    b.count = 1;
    tb_finish(&b);
    return validate_exact(&b);
}

static void test_varints(void)
{
    /* attributes, tsDelta 0, offsetDelta 0, key len, key, value null, 0 headers */
    static const uint8_t ok[] = { 0, 0, 0, 2, 'x', 1, 0 };
    CHECK_EQ_I64(validate_raw_record(ok, sizeof ok), BATCH_OK);
    /* Non-minimal but 5-byte key length (1): accepted, as Kafka does. */
    static const uint8_t long5[] = { 0, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x00, 'x', 1, 0 };
    CHECK_EQ_I64(validate_raw_record(long5, sizeof long5), BATCH_OK);
    /* Six-byte int32 varint. */
    static const uint8_t long6[] = { 0, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 'x', 1, 0 };
    CHECK_EQ_I64(validate_raw_record(long6, sizeof long6), BATCH_ERR_RECORDS);
    /* Five bytes whose last carries bits past 32. */
    static const uint8_t over5[] = { 0, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x10, 'x', 1, 0 };
    CHECK_EQ_I64(validate_raw_record(over5, sizeof over5), BATCH_ERR_RECORDS);
    /* Ten-byte varlong timestamp delta is fine; eleven is not. */
    static const uint8_t ts10[] = { 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                    0x01, 0, 1, 1, 0 };
    CHECK_EQ_I64(validate_raw_record(ts10, sizeof ts10), BATCH_OK);
    static const uint8_t ts11[] = { 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                    0x80, 0x00, 0, 1, 1, 0 };
    CHECK_EQ_I64(validate_raw_record(ts11, sizeof ts11), BATCH_ERR_RECORDS);
    /* Key length running past the record. */
    static const uint8_t keypast[] = { 0, 0, 0, 20, 'x', 1, 0 };
    CHECK_EQ_I64(validate_raw_record(keypast, sizeof keypast), BATCH_ERR_RECORDS);
    /* Varint cut off by the record's end. */
    static const uint8_t cut[] = { 0, 0, 0, 0x82 };
    CHECK_EQ_I64(validate_raw_record(cut, sizeof cut), BATCH_ERR_RECORDS);
    /* Huge header count with few bytes. */
    static const uint8_t hdrs[] = { 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f };
    CHECK_EQ_I64(validate_raw_record(hdrs, sizeof hdrs), BATCH_ERR_RECORDS);
}

/* The records of a standard 20-record batch, compressed with codec:
 * returns the compressed length written to out (0 on failure). xerial
 * selects the Java producer's snappy framing (two blocks). */
static size_t compress_records(int codec, bool xerial, const uint8_t *in, size_t n,
                               uint8_t *out, size_t cap)
{
    switch (codec) {
    case 1: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return 0;
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        int zr = deflate(&zs, Z_FINISH);
        size_t got = cap - zs.avail_out;
        deflateEnd(&zs);
        return zr == Z_STREAM_END ? got : 0;
    }
    case 2: {
        if (!xerial) {
            size_t got = cap;
            return snappy_compress((const char *)in, n, (char *)out, &got) == SNAPPY_OK ? got : 0;
        }
        static const uint8_t hdr[16] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1,
                                         0, 0, 0, 1 };
        memcpy(out, hdr, 16);
        size_t pos = 16, half = n / 2;
        for (int blk = 0; blk < 2; blk++) {
            const uint8_t *src = blk ? in + half : in;
            size_t slen = blk ? n - half : half, got = cap - pos - 4;
            if (snappy_compress((const char *)src, slen, (char *)out + pos + 4, &got) != SNAPPY_OK)
                return 0;
            put32(out + pos, (uint32_t)got);
            pos += 4 + got;
        }
        return pos;
    }
    case 3: {
        size_t got = LZ4F_compressFrame(out, cap, in, n, NULL);
        return LZ4F_isError(got) ? 0 : got;
    }
    case 4: {
        size_t got = ZSTD_compress(out, cap, in, n, 3);
        return ZSTD_isError(got) ? 0 : got;
    }
    }
    return 0;
}

/* A batch with codec's attributes around the given compressed records. */
static void tb_compressed(tb *b, int codec, const uint8_t *z, size_t zn, int32_t count)
{
    tb_begin(b, 100, 5000, (int16_t)codec);
    CHECK(BATCH_HEADER_BYTES + zn <= sizeof b->buf);
    tb_raw(b, z, zn);
    b->count = count;
    b->ts_max = 5190;
    tb_finish(b);
}

static void test_compressed(void)
{
    static tb plain, b;
    static uint8_t z[TB_BYTES_MAX], z2[TB_BYTES_MAX];
    tb_standard(&plain, 20, 100, 5000);
    const uint8_t *recs = plain.buf + BATCH_HEADER_BYTES;
    size_t recs_n = plain.len - BATCH_HEADER_BYTES;
    for (int v = 0; v < 5; v++) {
        int codec = v < 4 ? v + 1 : 2;
        bool xerial = v == 4;
        size_t zn = compress_records(codec, xerial, recs, recs_n, z, sizeof z);
        CHECK(zn > 0);
        tb_compressed(&b, codec, z, zn, 20);
        batch_info info;
        CHECK_EQ_I64(batch_validate(b.buf, b.len, &info), BATCH_OK);
        CHECK_EQ_I64(info.record_count, 20);
        CHECK_EQ_I64(info.attributes & BATCH_ATTR_COMPRESSION_MASK, codec);

        /* Fewer or more records than the count says: INVALID_RECORD's case. */
        tb_compressed(&b, codec, z, zn, 19);
        CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
        tb_compressed(&b, codec, z, zn, 21);
        CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);

        /* Cut short: the stream ends before its end mark. */
        tb_compressed(&b, codec, z, zn - 6, 20);
        info.detail = NULL;
        CHECK_EQ_I64(batch_validate(b.buf, b.len, &info), BATCH_ERR_DECOMPRESS);
        CHECK(info.detail != NULL);

        /* Garbage with the codec's bits set. */
        memset(z2, 0xa5, 200);
        tb_compressed(&b, codec, z2, 200, 20);
        CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_DECOMPRESS);

        /* Valid compression of records that do not parse. */
        static uint8_t bad[512];
        memcpy(bad, recs, 300);
        bad[0] = 0x7e; /* the first record claims 63 bytes */
        size_t bn = compress_records(codec, xerial, bad, 300, z2, sizeof z2);
        tb_compressed(&b, codec, z2, bn, 20);
        CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_RECORDS);
    }

    /* A decompression bomb is walked in bounded memory: 20 records of
     * 4 MiB values each (80 MiB) in a small gzip stream. */
    {
        size_t big = 4u << 20, total = 20 * (big + 16);
        uint8_t *raw = calloc(1, total), *zb = malloc(1 << 20);
        size_t n = 0;
        for (int i = 0; i < 20; i++) {
            uint8_t body[16];
            size_t bl = 0;
            body[bl++] = 0;                               /* attributes */
            bl += varint_put(body + bl, 0);               /* timestamp delta */
            bl += varint_put(body + bl, i);               /* offset delta */
            bl += varint_put(body + bl, -1);              /* null key */
            bl += varint_put(body + bl, (int64_t)big);    /* value length */
            size_t rec_len = bl + big + 1;                /* + header count */
            n += varint_put(raw + n, (int64_t)rec_len);
            memcpy(raw + n, body, bl);
            n += bl + big;                                /* zero value bytes */
            raw[n++] = 0;                                 /* no headers */
        }
        size_t zn = compress_records(1, false, raw, n, zb, 1 << 20);
        CHECK(zn > 0 && zn < 200000);
        /* The header from the builder, the stream after it (too big for a tb). */
        tb_compressed(&b, 1, zb, 0, 20);
        uint8_t *bomb = malloc(BATCH_HEADER_BYTES + zn);
        memcpy(bomb, b.buf, BATCH_HEADER_BYTES);
        memcpy(bomb + BATCH_HEADER_BYTES, zb, zn);
        put32(bomb + 8, (uint32_t)(BATCH_HEADER_BYTES + zn - BATCH_LOG_OVERHEAD));
        put32(bomb + 17, crc32c(0, bomb + 21, BATCH_HEADER_BYTES + zn - 21));
        CHECK_EQ_I64(batch_validate(bomb, BATCH_HEADER_BYTES + zn, NULL), BATCH_OK);
        free(bomb);
        free(raw);
        free(zb);
    }

    /* ListOffsets by timestamp inflates a compressed batch and finds the
     * record itself (as Kafka does), not just the batch. */
    size_t gz = compress_records(1, false, recs, recs_n, z, sizeof z);
    tb_compressed(&b, 1, z, gz, 20);
    int64_t off = -1, ts = -1;
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 5190, &off, &ts));
    CHECK_EQ_I64(off, 119);
    CHECK_EQ_I64(ts, 5190);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 5101, &off, &ts));
    CHECK_EQ_I64(off, 111);
    CHECK_EQ_I64(ts, 5110);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 0, &off, &ts));
    CHECK_EQ_I64(off, 100);
    CHECK(!records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 5191, &off, &ts));
    /* Inflating past the bound given is refused, not followed. */
    CHECK(!records_find_timestamp(b.buf, b.len, 64, 0, &off, &ts));
    tb_compressed(&b, 1, z, 10, 3);

    put32(b.buf + 57, 4); /* count mismatch */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_COUNT);
    put32(b.buf + 57, 3);
    b.buf[22] = 5; /* no such codec */
    tb_seal(&b);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, NULL), BATCH_ERR_CODEC);
}

static void test_find_timestamp(void)
{
    static tb b;
    tb_begin(&b, 500, 10000, 0);
    tb_record(&b, 0, 0, "a", "1", NULL, 0);
    tb_record(&b, 10, 1, "b", "2", NULL, 0);
    tb_record(&b, 5, 2, "c", "3", NULL, 0);   /* out of order: ts 10005 */
    tb_record(&b, 30, 3, "d", "4", hdrs2, 2);
    tb_finish(&b);
    CHECK_EQ_I64(validate_exact(&b), BATCH_OK);

    int64_t off = -1, ts = -1;
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 0, &off, &ts));
    CHECK_EQ_I64(off, 500);
    CHECK_EQ_I64(ts, 10000);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 10000, &off, &ts));
    CHECK_EQ_I64(off, 500);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 10001, &off, &ts));
    CHECK_EQ_I64(off, 501); /* first record with ts >= target, in offset order */
    CHECK_EQ_I64(ts, 10010);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 10011, &off, &ts));
    CHECK_EQ_I64(off, 503);
    CHECK_EQ_I64(ts, 10030);
    CHECK(!records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 10031, &off, &ts));

    /* LogAppendTime: every record carries maxTimestamp. */
    batch_set_log_append_time(b.buf, 20000);
    CHECK(records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 15000, &off, &ts));
    CHECK_EQ_I64(off, 500);
    CHECK_EQ_I64(ts, 20000);
    CHECK(!records_find_timestamp(b.buf, b.len, RECORDS_MAX_INFLATED, 20001, &off, &ts));

    /* Not a batch at all. */
    uint8_t zeros[80] = { 0 };
    CHECK(!records_find_timestamp(zeros, sizeof zeros, RECORDS_MAX_INFLATED, 0, &off, &ts));
}

static void test_setters(void)
{
    static tb b;
    tb_standard(&b, 6, 0, 1000);
    uint32_t crc = get32(b.buf + 17);

    batch_set_base_offset(b.buf, 123456789012345);
    batch_set_leader_epoch(b.buf, 99);
    CHECK_EQ_I64(batch_base_offset(b.buf), 123456789012345);
    CHECK_EQ_I64((int32_t)get32(b.buf + 12), 99);
    CHECK_EQ_I64(get32(b.buf + 17), crc);
    CHECK_EQ_I64(validate_exact(&b), BATCH_OK);
    batch_set_base_offset(b.buf, -1);
    CHECK_EQ_I64(batch_base_offset(b.buf), -1);
    CHECK_EQ_I64(validate_exact(&b), BATCH_OK);

    batch_set_log_append_time(b.buf, 1800000000000);
    CHECK(get32(b.buf + 17) != crc);
    batch_info info;
    CHECK_EQ_I64(batch_validate(b.buf, b.len, &info), BATCH_OK);
    CHECK_EQ_I64(info.max_timestamp, 1800000000000);
    CHECK(info.attributes & BATCH_ATTR_TIMESTAMP_TYPE);
    CHECK_EQ_I64(info.attributes & BATCH_ATTR_COMPRESSION_MASK, 0);
    CHECK_EQ_I64(info.base_timestamp, 1000);
    /* Idempotent on the bit; CRC follows the new time. */
    batch_set_log_append_time(b.buf, 1800000000001);
    CHECK_EQ_I64(batch_validate(b.buf, b.len, &info), BATCH_OK);
    CHECK_EQ_I64(info.max_timestamp, 1800000000001);
}

static void test_err_str(void)
{
    for (int e = BATCH_OK; e <= BATCH_ERR_EMPTY; e++)
        CHECK(batch_err_str(e) != NULL && strcmp(batch_err_str(e), "unknown batch error") != 0);
    CHECK(strcmp(batch_err_str(-1), "unknown batch error") == 0);
    CHECK(strcmp(batch_err_str(BATCH_ERR_CRC), batch_err_str(BATCH_ERR_MAGIC)) != 0);
}

int main(void)
{
    test_valid();
    test_header_corruption();
    test_truncation();
    test_count();
    test_record_corruption();
    test_varints();
    test_compressed();
    test_find_timestamp();
    test_setters();
    test_err_str();
    TEST_REPORT();
}
