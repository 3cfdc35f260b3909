/*
 * test_zwriter.c - zwriter's output, for each codec, size and level, reads
 * back through zreader to the same bytes, has the framing Kafka's Java
 * writers give it (xerial snappy blocks of 32 KiB, lz4 frames of 64 KiB
 * independent blocks, one zstd frame, a gzip stream), and lands after what
 * the writer already held. Bad codecs and levels fail and leave the writer
 * as it was. Also prints the ratio and speed on 1 MiB of JSON-ish records.
 */
#include "proto/zwriter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zstd.h>

#include "check.h"
#include "proto/zreader.h"

#define MIB (1024 * 1024)

static const char *codec_name[] = { "none", "gzip", "snappy", "lz4", "zstd" };

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Records a producer might send: small JSON objects with ids, names, times
 * and a random session token, one after another. */
static void fill_json(uint8_t *buf, size_t n)
{
    static const char *events[] = { "click", "view", "purchase", "login", "logout", "search" };
    size_t pos = 0;
    char rec[256];
    while (pos < n) {
        int len = snprintf(rec, sizeof rec,
                           "{\"id\":%u,\"user\":\"user-%u\",\"event\":\"%s\",\"ts\":%llu,"
                           "\"page\":\"/products/%u\",\"session\":\"%08x%08x\",\"amount\":%u.%02u}\n",
                           rnd() % 1000000, rnd() % 5000, events[rnd() % 6],
                           1700000000000ull + rnd() % 100000, rnd() % 20000, rnd(), rnd(),
                           rnd() % 500, rnd() % 100);
        size_t k = (size_t)len < n - pos ? (size_t)len : n - pos;
        memcpy(buf + pos, rec, k);
        pos += k;
    }
}

/* Runs of JSON-ish text and of random bytes, so each codec meets both
 * what compresses and what does not (and stores incompressible blocks). */
static void fill_mixed(uint8_t *buf, size_t n)
{
    for (size_t pos = 0; pos < n;) {
        size_t run = 1 + rnd() % 3000;
        if (run > n - pos)
            run = n - pos;
        if (rnd() % 2) {
            fill_json(buf + pos, run);
        } else {
            for (size_t i = 0; i < run; i++)
                buf[pos + i] = (uint8_t)rnd();
        }
        pos += run;
    }
}

/* Decompress with zreader in uneven pieces; 1 when the result is in[0..n). */
static int reads_back(int codec, const uint8_t *z, size_t zlen, const uint8_t *in, size_t n)
{
    zreader zr;
    int ok = zreader_init(&zr, codec, z, zlen) == 0;
    uint8_t *got = malloc(n + 1);
    size_t total = 0;
    while (ok) {
        uint8_t buf[5000];
        long r = zreader_read(&zr, buf, sizeof buf - (total % 7)); /* uneven reads */
        if (r < 0) {
            fprintf(stderr, "zreader %s: %s\n", codec_name[codec], zr.err);
            ok = 0;
        } else if (r == 0) {
            break;
        } else if (total + (size_t)r > n) {
            ok = 0; /* more than went in */
        } else {
            memcpy(got + total, buf, (size_t)r);
            total += (size_t)r;
        }
    }
    ok = ok && total == n && memcmp(got, in, n) == 0;
    free(got);
    zreader_deinit(&zr);
    return ok;
}

/* Compress after a 61-byte stand-in for a batch header (the length where
 * Kafka's records start) and check the round trip and the prefix. Returns
 * the compressed length (0 on failure). */
static size_t round_trip(int codec, int level, const uint8_t *in, size_t n)
{
    kp_writer w;
    kp_writer_init(&w);
    uint8_t head[61];
    for (size_t i = 0; i < sizeof head; i++)
        head[i] = (uint8_t)(0xa0 + i);
    kp_write_raw(&w, head, sizeof head);
    const char *err = NULL;
    int rc = zwriter_compress(codec, level, in, n, &w, &err);
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "  %s level %d size %zu: %s\n", codec_name[codec], level, n, err);
    CHECK(w.len > sizeof head && memcmp(w.buf, head, sizeof head) == 0);
    int back = rc == 0 && reads_back(codec, w.buf + sizeof head, w.len - sizeof head, in, n);
    CHECK(back);
    if (!back)
        fprintf(stderr, "  round trip failed: %s level %d size %zu\n", codec_name[codec], level, n);
    size_t zlen = rc == 0 ? w.len - sizeof head : 0;
    kp_writer_deinit(&w);
    return zlen;
}

static const size_t sizes[] = { 0, 1, 100, 32 * 1024, 32 * 1024 + 1, MIB };

static void test_round_trips(void)
{
    uint8_t *in = malloc(MIB);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        fill_mixed(in, sizes[s]);
        for (int codec = 1; codec <= 4; codec++)
            round_trip(codec, ZWRITER_LEVEL_DEFAULT, in, sizes[s]);
    }
    free(in);
}

/* Each codec's minimum, maximum and default level round-trip; on
 * compressible data the levels take effect (a higher level is no bigger,
 * and the extremes differ). */
static void test_levels(void)
{
    static const struct { int codec, min, max, def; } c[] = {
        { ZWRITER_GZIP, ZWRITER_GZIP_LEVEL_MIN, ZWRITER_GZIP_LEVEL_MAX, ZWRITER_GZIP_LEVEL_DEFAULT },
        { ZWRITER_LZ4, ZWRITER_LZ4_LEVEL_MIN, ZWRITER_LZ4_LEVEL_MAX, ZWRITER_LZ4_LEVEL_DEFAULT },
        { ZWRITER_ZSTD, ZWRITER_ZSTD_LEVEL_MIN, ZWRITER_ZSTD_LEVEL_MAX, ZWRITER_ZSTD_LEVEL_DEFAULT },
    };
    size_t n = 256 * 1024 + 3;
    uint8_t *in = malloc(n);
    fill_mixed(in, n);
    for (size_t i = 0; i < 3; i++) {
        CHECK(round_trip(c[i].codec, c[i].min, in, n) > 0);
        CHECK(round_trip(c[i].codec, c[i].max, in, n) > 0);
    }
    fill_json(in, n);
    for (size_t i = 0; i < 3; i++) {
        size_t lo = round_trip(c[i].codec, c[i].min, in, n);
        size_t hi = round_trip(c[i].codec, c[i].max, in, n);
        size_t def = round_trip(c[i].codec, c[i].def, in, n);
        size_t dflt = round_trip(c[i].codec, ZWRITER_LEVEL_DEFAULT, in, n);
        CHECK(hi < lo);
        CHECK(hi <= def);
        CHECK_EQ_I64(def, dflt); /* ZWRITER_LEVEL_DEFAULT is Kafka's default */
    }
    /* Kafka compresses lz4 fast only at the default level: any other,
     * the lowest included, takes the high-compression path. */
    CHECK(round_trip(ZWRITER_LZ4, ZWRITER_LZ4_LEVEL_MIN, in, n) <
          round_trip(ZWRITER_LZ4, ZWRITER_LZ4_LEVEL_DEFAULT, in, n));
    /* Snappy has no level: any is accepted and changes nothing. */
    CHECK_EQ_I64(round_trip(ZWRITER_SNAPPY, 1, in, n), round_trip(ZWRITER_SNAPPY, ZWRITER_LEVEL_DEFAULT, in, n));
    free(in);
}

/* Unknown codecs and levels outside Kafka's ranges fail with a reason and
 * leave the writer's contents alone. */
static void test_rejects(void)
{
    static const struct { int codec, level; } bad[] = {
        { 0, ZWRITER_LEVEL_DEFAULT }, { 5, ZWRITER_LEVEL_DEFAULT }, { -1, 3 },
        { ZWRITER_GZIP, 0 }, { ZWRITER_GZIP, 10 }, { ZWRITER_GZIP, -2 },
        { ZWRITER_LZ4, 0 }, { ZWRITER_LZ4, 18 },
        { ZWRITER_ZSTD, ZWRITER_ZSTD_LEVEL_MIN - 1 }, { ZWRITER_ZSTD, 23 },
    };
    uint8_t in[100];
    fill_mixed(in, sizeof in);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kp_writer w;
        kp_writer_init(&w);
        kp_write_int32(&w, 0x01020304);
        const char *err = NULL;
        CHECK_EQ_I64(zwriter_compress(bad[i].codec, bad[i].level, in, sizeof in, &w, &err), -1);
        CHECK(err != NULL && err[0] != '\0');
        CHECK_EQ_I64(w.len, 4);
        CHECK(w.err == 0);
        kp_writer_deinit(&w);
    }
    const char *err = NULL;
    CHECK(zwriter_compress(7, ZWRITER_LEVEL_DEFAULT, in, 0, &(kp_writer){ 0 }, &err) == -1 &&
          strcmp(err, "unknown compression codec") == 0);
    CHECK(zwriter_level_valid(ZWRITER_GZIP, -1) && !zwriter_level_valid(ZWRITER_GZIP, 0));
    CHECK(zwriter_level_valid(ZWRITER_SNAPPY, 12345) && !zwriter_level_valid(9, 1));
    CHECK_EQ_I64(ZWRITER_ZSTD_LEVEL_MIN, ZSTD_minCLevel());
    CHECK_EQ_I64(ZWRITER_ZSTD_LEVEL_MAX, ZSTD_maxCLevel());
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void compress_into(kp_writer *w, int codec, const uint8_t *in, size_t n)
{
    const char *err = NULL;
    kp_writer_init(w);
    CHECK(zwriter_compress(codec, ZWRITER_LEVEL_DEFAULT, in, n, w, &err) == 0);
}

/* The framing, byte by byte, as Kafka's Java writers lay it out. */
static void test_framing(void)
{
    size_t n = 3 * 32 * 1024 + 5; /* four snappy blocks, two lz4 blocks */
    uint8_t *in = malloc(n);
    fill_mixed(in, n);
    kp_writer w;

    compress_into(&w, ZWRITER_GZIP, in, n);
    CHECK(w.len > 18 && w.buf[0] == 0x1f && w.buf[1] == 0x8b && w.buf[2] == 8); /* gzip, deflate */
    uint32_t isize = (uint32_t)w.buf[w.len - 4] | (uint32_t)w.buf[w.len - 3] << 8 |
                     (uint32_t)w.buf[w.len - 2] << 16 | (uint32_t)w.buf[w.len - 1] << 24;
    CHECK_EQ_I64(isize, n); /* one member holding everything */
    kp_writer_deinit(&w);

    compress_into(&w, ZWRITER_SNAPPY, in, n);
    static const uint8_t hdr[16] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1 };
    CHECK(w.len > 16 && memcmp(w.buf, hdr, 16) == 0);
    size_t pos = 16, blocks = 0, ulen_total = 0;
    while (pos + 4 <= w.len) {
        uint32_t blen = be32(w.buf + pos);
        size_t ulen = 0;
        if (pos + 4 + blen > w.len ||
            snappy_uncompressed_length((const char *)w.buf + pos + 4, blen, &ulen) != SNAPPY_OK)
            break;
        CHECK_EQ_I64(ulen, blocks < 3 ? 32 * 1024 : 5);
        ulen_total += ulen;
        blocks++;
        pos += 4 + blen;
    }
    CHECK_EQ_I64(pos, w.len);
    CHECK_EQ_I64(blocks, 4);
    CHECK_EQ_I64(ulen_total, n);
    kp_writer_deinit(&w);

    /* No input: the xerial header alone. */
    compress_into(&w, ZWRITER_SNAPPY, in, 0);
    CHECK(w.len == 16 && memcmp(w.buf, hdr, 16) == 0);
    kp_writer_deinit(&w);

    compress_into(&w, ZWRITER_LZ4, in, n);
    LZ4F_dctx *d = NULL;
    LZ4F_frameInfo_t fi;
    size_t hlen = w.len;
    CHECK(!LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
    CHECK(!LZ4F_isError(LZ4F_getFrameInfo(d, &fi, w.buf, &hlen)));
    CHECK(fi.blockSizeID == LZ4F_max64KB);
    CHECK(fi.blockMode == LZ4F_blockIndependent); /* Kafka's reader refuses linked blocks */
    CHECK(fi.contentSize == 0 && fi.contentChecksumFlag == LZ4F_noContentChecksum);
    CHECK(fi.blockChecksumFlag == LZ4F_noBlockChecksum && fi.frameType == LZ4F_frame);
    CHECK(w.len > 7 && w.buf[4] == 0x60 && w.buf[5] == 0x40); /* FLG and BD as Kafka writes them */
    LZ4F_freeDecompressionContext(d);
    kp_writer_deinit(&w);

    compress_into(&w, ZWRITER_ZSTD, in, n);
    CHECK_EQ_I64(ZSTD_findFrameCompressedSize(w.buf, w.len), w.len); /* exactly one frame */
    CHECK_EQ_I64(ZSTD_getFrameContentSize(w.buf, w.len), n);
    kp_writer_deinit(&w);
    free(in);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a benchmark: what each codec does to 1 MiB of records at Kafka's
 * default level, printed for the record; only the ratio is checked. */
static void test_ratio(void)
{
    uint8_t *in = malloc(MIB);
    fill_json(in, MIB);
    for (int codec = 1; codec <= 4; codec++) {
        kp_writer w;
        kp_writer_init(&w);
        const char *err = NULL;
        double t0 = now_s();
        int rc = 0;
        for (int i = 0; i < 5 && rc == 0; i++) {
            w.len = 0;
            rc = zwriter_compress(codec, ZWRITER_LEVEL_DEFAULT, in, MIB, &w, &err);
        }
        double dt = (now_s() - t0) / 5;
        CHECK(rc == 0);
        CHECK(w.len < MIB / 2); /* JSON compresses at least 2:1 with every codec */
        printf("  1 MiB JSON-ish, %-6s default level: %7zu bytes (%.1f%%, ratio %.2f), %.1f ms, %.0f MiB/s\n",
               codec_name[codec], w.len, 100.0 * (double)w.len / MIB, (double)MIB / (double)w.len,
               dt * 1e3, 1.0 / dt);
        kp_writer_deinit(&w);
    }
    free(in);
}

int main(void)
{
    test_round_trips();
    test_levels();
    test_rejects();
    test_framing();
    test_ratio();
    TEST_REPORT();
}
