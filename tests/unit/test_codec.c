/*
 * test_codec.c - the wire codec: primitives (src/proto/codec.c) and the
 * generated messages (build/gen/kafka_msgs.c).
 *
 * Messages are checked three ways: every API, version and side round-trips
 * (sample -> encode -> decode -> encode gives the same bytes, and every
 * strict prefix fails to decode); mangled inputs never crash (run under
 * ASan/UBSan); and frames captured from real clients (kcat/librdkafka and
 * kafka-python, by tests/unit/capture_frames.py) decode to what the client
 * meant and re-encode byte for byte.
 *
 * Log records (metadata records, consumer offsets keys and values) go
 * through the same round trips, plus byte-exact checks of the encodings
 * src/metadata/metalog.c writes.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kafka_msgs.h"
#include "kafka_msgs_test.h"
#include "proto/codec.h"

#define ARENA_MAX (1u << 24)

static void reader_on(kp_reader *r, const uint8_t *buf, size_t len, arena *a)
{
    kp_reader_init(r, buf, len, a);
}

/* ------------------------------------------------------------ primitives */

static void test_ints(void)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int8(&w, -2);
    kp_write_int16(&w, -300);
    kp_write_int32(&w, 0x01020304);
    kp_write_int64(&w, INT64_MIN);
    kp_write_uint16(&w, 0xfffe);
    kp_write_uint32(&w, 0xdeadbeefu);
    kp_write_float64(&w, -1.25);
    kp_write_bool(&w, true);
    kp_write_bool(&w, false);
    CHECK_EQ_I64(w.len, 1 + 2 + 4 + 8 + 2 + 4 + 8 + 2);
    CHECK(w.buf[0] == 0xfe && w.buf[1] == 0xfe && w.buf[2] == 0xd4);
    CHECK(w.buf[3] == 1 && w.buf[4] == 2 && w.buf[5] == 3 && w.buf[6] == 4);
    CHECK(w.buf[7] == 0x80 && w.buf[14] == 0);

    kp_reader r;
    reader_on(&r, w.buf, w.len, NULL);
    CHECK_EQ_I64(kp_read_int8(&r), -2);
    CHECK_EQ_I64(kp_read_int16(&r), -300);
    CHECK_EQ_I64(kp_read_int32(&r), 0x01020304);
    CHECK(kp_read_int64(&r) == INT64_MIN);
    CHECK_EQ_I64(kp_read_uint16(&r), 0xfffe);
    CHECK_EQ_I64(kp_read_uint32(&r), 0xdeadbeefu);
    CHECK(kp_read_float64(&r) == -1.25);
    CHECK(kp_read_bool(&r) == true);
    CHECK(kp_read_bool(&r) == false);
    CHECK_EQ_I64(r.err, KP_OK);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    kp_writer_deinit(&w);

    /* Kafka reads any non-zero byte as true */
    static const uint8_t two[] = { 2 };
    reader_on(&r, two, 1, NULL);
    CHECK(kp_read_bool(&r) == true);
}

/* Encode with f, compare with want, decode with g and compare value. */
static void check_uvarint(uint32_t v, const uint8_t *want, size_t n)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_uvarint(&w, v);
    CHECK_EQ_I64(w.len, n);
    CHECK(w.len == n && memcmp(w.buf, want, n) == 0);
    kp_reader r;
    reader_on(&r, want, n, NULL);
    CHECK_EQ_I64(kp_read_uvarint(&r), v);
    CHECK_EQ_I64(r.err, KP_OK);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    kp_writer_deinit(&w);
}

static void test_varints(void)
{
    check_uvarint(0, (const uint8_t[]){ 0x00 }, 1);
    check_uvarint(1, (const uint8_t[]){ 0x01 }, 1);
    check_uvarint(127, (const uint8_t[]){ 0x7f }, 1);
    check_uvarint(128, (const uint8_t[]){ 0x80, 0x01 }, 2);
    check_uvarint(300, (const uint8_t[]){ 0xac, 0x02 }, 2);
    check_uvarint(UINT32_MAX, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x0f }, 5);

    /* zigzag */
    static const struct { int32_t v; uint8_t b[5]; size_t n; } zz[] = {
        { 0, { 0x00 }, 1 }, { -1, { 0x01 }, 1 }, { 1, { 0x02 }, 1 },
        { -64, { 0x7f }, 1 }, { 64, { 0x80, 0x01 }, 2 },
        { INT32_MAX, { 0xfe, 0xff, 0xff, 0xff, 0x0f }, 5 },
        { INT32_MIN, { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5 },
    };
    for (size_t i = 0; i < sizeof zz / sizeof zz[0]; i++) {
        kp_writer w;
        kp_writer_init(&w);
        kp_write_varint(&w, zz[i].v);
        CHECK(w.len == zz[i].n && memcmp(w.buf, zz[i].b, zz[i].n) == 0);
        kp_reader r;
        reader_on(&r, zz[i].b, zz[i].n, NULL);
        CHECK_EQ_I64(kp_read_varint(&r), zz[i].v);
        CHECK_EQ_I64(r.err, KP_OK);
        kp_writer_deinit(&w);
    }

    /* varlong extremes: 10 bytes */
    int64_t longs[] = { 0, -1, 1, INT64_MAX, INT64_MIN, 1234567890123LL, -9876543210LL };
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        kp_writer w;
        kp_writer_init(&w);
        kp_write_varlong(&w, longs[i]);
        if (longs[i] == INT64_MAX || longs[i] == INT64_MIN)
            CHECK_EQ_I64(w.len, 10);
        kp_reader r;
        reader_on(&r, w.buf, w.len, NULL);
        CHECK(kp_read_varlong(&r) == longs[i]);
        CHECK_EQ_I64(r.err, KP_OK);
        CHECK_EQ_I64(kp_reader_left(&r), 0);
        kp_writer_deinit(&w);
    }
    kp_writer w;
    kp_writer_init(&w);
    kp_write_uvarlong(&w, UINT64_MAX);
    CHECK_EQ_I64(w.len, 10);
    CHECK_EQ_I64(w.buf[9], 0x01);
    kp_writer_deinit(&w);

    /* overlong or overflowing encodings are refused */
    kp_reader r;
    static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
    reader_on(&r, six, sizeof six, NULL);
    kp_read_uvarint(&r);
    CHECK_EQ_I64(r.err, KP_ERR_BAD_VARINT);
    static const uint8_t big5[] = { 0xff, 0xff, 0xff, 0xff, 0x10 };
    reader_on(&r, big5, sizeof big5, NULL);
    kp_read_uvarint(&r);
    CHECK_EQ_I64(r.err, KP_ERR_BAD_VARINT);
    reader_on(&r, big5, sizeof big5, NULL);
    kp_read_varint(&r);
    CHECK_EQ_I64(r.err, KP_ERR_BAD_VARINT);
    static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x80, 0x80, 0x80, 0x00 };
    reader_on(&r, eleven, sizeof eleven, NULL);
    kp_read_uvarlong(&r);
    CHECK_EQ_I64(r.err, KP_ERR_BAD_VARINT);
    static const uint8_t big10[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0x02 };
    reader_on(&r, big10, sizeof big10, NULL);
    kp_read_varlong(&r);
    CHECK_EQ_I64(r.err, KP_ERR_BAD_VARINT);
    /* non-minimal but in range: accepted, as Kafka does */
    static const uint8_t padded[] = { 0x81, 0x80, 0x00 };
    reader_on(&r, padded, sizeof padded, NULL);
    CHECK_EQ_I64(kp_read_uvarint(&r), 1);
    CHECK_EQ_I64(r.err, KP_OK);
    /* truncated varint */
    reader_on(&r, six, 3, NULL);
    kp_read_uvarint(&r);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
}

static void test_sticky(void)
{
    static const uint8_t buf[] = { 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
    kp_reader r;
    reader_on(&r, buf, sizeof buf, NULL);
    CHECK_EQ_I64(kp_read_int16(&r), 5);
    CHECK_EQ_I64(kp_read_int64(&r), 0); /* only 6 left */
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
    const uint8_t *pos = r.pos;
    CHECK_EQ_I64(kp_read_int8(&r), 0); /* would fit, but the error sticks */
    CHECK(r.pos == pos);
    kp_str s = kp_read_string(&r, false);
    CHECK_EQ_I64(s.len, 0);
    CHECK_EQ_I64(kp_read_array_len(&r, true, 1), 0);
    kp_uuid u = kp_read_uuid(&r);
    CHECK_EQ_I64(u.b[0], 0);
    CHECK(r.pos == pos);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);

    /* empty and NULL inputs */
    reader_on(&r, NULL, 0, NULL);
    CHECK_EQ_I64(kp_read_int32(&r), 0);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
    CHECK(kp_str_eq(KP_STR("abc"), "abc"));
    CHECK(!kp_str_eq(KP_STR("abc"), "ab"));
    CHECK(!kp_str_eq(KP_STR_NULL, ""));
    CHECK(kp_str_eq(KP_STR_NULL, NULL));
    CHECK(kp_err_str(KP_ERR_SHORT) != NULL);
}

static void test_strings(void)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_string(&w, KP_STR("hi"), false);
    kp_write_string(&w, KP_STR_NULL, false);
    kp_write_string(&w, KP_STR("hi"), true);
    kp_write_string(&w, KP_STR_NULL, true);
    kp_write_string(&w, KP_STR(""), true);
    kp_bytes b = { (const uint8_t *)"xyz", 3 };
    kp_write_bytes(&w, b, false);
    kp_write_bytes(&w, (kp_bytes){ NULL, -1 }, false);
    kp_write_bytes(&w, b, true);
    static const uint8_t want[] = {
        0x00, 0x02, 'h', 'i', 0xff, 0xff, 0x03, 'h', 'i', 0x00, 0x01,
        0x00, 0x00, 0x00, 0x03, 'x', 'y', 'z', 0xff, 0xff, 0xff, 0xff,
        0x04, 'x', 'y', 'z',
    };
    CHECK(w.len == sizeof want && memcmp(w.buf, want, sizeof want) == 0);

    kp_reader r;
    reader_on(&r, w.buf, w.len, NULL);
    kp_str s = kp_read_string(&r, false);
    CHECK(kp_str_eq(s, "hi"));
    CHECK(s.ptr == (const char *)w.buf + 2); /* borrowed from the buffer */
    CHECK_EQ_I64(kp_read_string(&r, false).len, -1);
    CHECK(kp_str_eq(kp_read_string(&r, true), "hi"));
    CHECK_EQ_I64(kp_read_string(&r, true).len, -1);
    CHECK_EQ_I64(kp_read_string(&r, true).len, 0);
    kp_bytes rb = kp_read_bytes(&r, false);
    CHECK(rb.len == 3 && memcmp(rb.ptr, "xyz", 3) == 0);
    CHECK_EQ_I64(kp_read_bytes(&r, false).len, -1);
    kp_records rec = kp_read_records(&r, true);
    CHECK(rec.len == 3 && rec.fd == -1 && memcmp(rec.ptr, "xyz", 3) == 0);
    CHECK_EQ_I64(r.err, KP_OK);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    kp_writer_deinit(&w);

    /* bad lengths */
    static const uint8_t neg2[] = { 0xff, 0xfe, 'a' };
    reader_on(&r, neg2, sizeof neg2, NULL);
    kp_read_string(&r, false);
    CHECK_EQ_I64(r.err, KP_ERR_NEGATIVE);
    static const uint8_t longer[] = { 0x00, 0x05, 'a', 'b' };
    reader_on(&r, longer, sizeof longer, NULL);
    kp_read_string(&r, false);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
    static const uint8_t clong[] = { 0x0a, 'a' };
    reader_on(&r, clong, sizeof clong, NULL);
    kp_read_bytes(&r, true);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
    static const uint8_t bneg[] = { 0x80, 0x00, 0x00, 0x00 };
    reader_on(&r, bneg, sizeof bneg, NULL);
    kp_read_bytes(&r, false);
    CHECK_EQ_I64(r.err, KP_ERR_NEGATIVE);
    /* compact length 2^32-1 means 2^32-2 bytes: more than an int32 */
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    reader_on(&r, huge, sizeof huge, NULL);
    kp_read_bytes(&r, true);
    CHECK_EQ_I64(r.err, KP_ERR_TOO_LARGE);

    /* a classic string longer than int16 cannot be written */
    static char big[40000];
    memset(big, 'a', sizeof big);
    kp_writer_init(&w);
    kp_write_string(&w, (kp_str){ big, (int32_t)sizeof big }, false);
    CHECK_EQ_I64(w.err, KP_ERR_TOO_LARGE);
    kp_write_int32(&w, 1);
    CHECK_EQ_I64(w.len, 0); /* sticky */
    kp_writer_deinit(&w);
}

static void test_arrays(void)
{
    arena a;
    arena_init(&a, 1024);
    kp_reader r;
    static const uint8_t cnt3[] = { 0x00, 0x00, 0x00, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    reader_on(&r, cnt3, sizeof cnt3, &a);
    CHECK_EQ_I64(kp_read_array_len(&r, false, 4), 3);
    CHECK_EQ_I64(r.err, KP_OK);
    reader_on(&r, cnt3, sizeof cnt3, &a);
    CHECK_EQ_I64(kp_read_array_len(&r, false, 5), 0); /* 15 bytes < 3 * 5 */
    CHECK_EQ_I64(r.err, KP_ERR_TOO_LARGE);

    static const uint8_t null_classic[] = { 0xff, 0xff, 0xff, 0xff };
    reader_on(&r, null_classic, 4, &a);
    CHECK_EQ_I64(kp_read_array_len(&r, false, 1), -1);
    CHECK_EQ_I64(r.err, KP_OK);
    static const uint8_t neg[] = { 0xff, 0xff, 0xff, 0xfe };
    reader_on(&r, neg, 4, &a);
    kp_read_array_len(&r, false, 1);
    CHECK_EQ_I64(r.err, KP_ERR_NEGATIVE);
    static const uint8_t null_compact[] = { 0x00 };
    reader_on(&r, null_compact, 1, &a);
    CHECK_EQ_I64(kp_read_array_len(&r, true, 1), -1);
    /* a huge count with no bytes behind it fails before any allocation */
    static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x00 };
    reader_on(&r, huge, sizeof huge, &a);
    kp_read_array_len(&r, false, 0);
    CHECK_EQ_I64(r.err, KP_ERR_TOO_LARGE);
    CHECK_EQ_I64(a.bytes_used, 0);

    /* the arena limit turns into NOMEM */
    reader_on(&r, cnt3, sizeof cnt3, &a);
    CHECK(kp_alloc_array(&r, 100, 8) != NULL);
    CHECK(kp_alloc_array(&r, 1000, 8) == NULL);
    CHECK_EQ_I64(r.err, KP_ERR_NOMEM);
    reader_on(&r, cnt3, sizeof cnt3, NULL);
    CHECK(kp_alloc_array(&r, 1, 8) == NULL); /* no arena at all */
    CHECK_EQ_I64(r.err, KP_ERR_NOMEM);
    arena_deinit(&a);

    kp_writer w;
    kp_writer_init(&w);
    kp_write_array_len(&w, -1, false);
    kp_write_array_len(&w, -1, true);
    kp_write_array_len(&w, 2, true);
    static const uint8_t want[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x03 };
    CHECK(w.len == sizeof want && memcmp(w.buf, want, sizeof want) == 0);
    kp_writer_deinit(&w);

    /* skipping tagged fields */
    static const uint8_t tags[] = { 0x02, 0x00, 0x01, 0xaa, 0x05, 0x02, 0xbb, 0xcc, 0x7e };
    reader_on(&r, tags, sizeof tags, NULL);
    kp_skip_tagged(&r);
    CHECK_EQ_I64(r.err, KP_OK);
    CHECK_EQ_I64(kp_reader_left(&r), 1);
    reader_on(&r, tags, sizeof tags - 2, NULL);
    kp_skip_tagged(&r);
    CHECK_EQ_I64(r.err, KP_ERR_SHORT);
}

static void test_writer_records(void)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0); /* frame length, patched below */
    kp_records mem = { (const uint8_t *)"abcd", 4, -1, 0, NULL };
    kp_write_records(&w, &mem, false);
    int owner;
    kp_records file = { NULL, 1000, 7, 4096, &owner };
    kp_write_records(&w, &file, true);
    kp_write_int16(&w, 9);
    kp_records nul = { NULL, -1, -1, 0, NULL };
    kp_write_records(&w, &nul, false);
    kp_write_records(&w, &nul, true);
    kp_records fnul = { NULL, -1, 7, 0, NULL };
    kp_write_records(&w, &fnul, false); /* a null file range is just null */

    CHECK_EQ_I64(w.err, KP_OK);
    CHECK_EQ_I64(w.nchunks, 1);
    CHECK_EQ_I64(w.file_bytes, 1000);
    /* 4 + (4 + 4) + uvarint(1001) = 2 bytes, then chunk, then 2 + 4 + 1 + 4 */
    CHECK_EQ_I64(w.chunks[0].mem_off, 4 + 8 + 2);
    CHECK_EQ_I64(w.chunks[0].fd, 7);
    CHECK_EQ_I64(w.chunks[0].pos, 4096);
    CHECK_EQ_I64(w.chunks[0].len, 1000);
    CHECK(w.chunks[0].owner == &owner);
    CHECK_EQ_I64(w.len, 4 + 8 + 2 + 2 + 4 + 1 + 4);
    CHECK_EQ_I64(kp_writer_size(&w), w.len + 1000);
    CHECK(w.buf[12] == 0xe9 && w.buf[13] == 0x07); /* 1001 */
    kp_writer_patch_int32(&w, 0, (int32_t)kp_writer_size(&w) - 4);
    kp_reader r;
    reader_on(&r, w.buf, 4, NULL);
    CHECK_EQ_I64(kp_read_int32(&r), kp_writer_size(&w) - 4);

    uint8_t *p = kp_writer_reserve(&w, 3);
    CHECK(p == w.buf + w.len - 3);
    kp_writer_deinit(&w);
}

/* ------------------------------------------------------------ messages */

typedef struct side {
    const char *what;
    size_t size;
    void (*init)(void *);
    void (*fill)(arena *, int16_t, void *, int);
    int (*decode)(kp_reader *, int16_t, void *);
    void (*encode)(kp_writer *, int16_t, const void *);
} side;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int n_roundtrips;

static void roundtrip(const char *name, const side *sd, int16_t v, int variant)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    void *m1 = arena_alloc(&a, sd->size);
    void *m2 = arena_alloc(&a, sd->size);
    sd->init(m1);
    sd->fill(&a, v, m1, variant);

    kp_writer w1, w2;
    kp_writer_init(&w1);
    kp_writer_init(&w2);
    sd->encode(&w1, v, m1);
    CHECK_EQ_I64(w1.err, KP_OK);

    kp_reader r;
    reader_on(&r, w1.buf, w1.len, &a);
    int rc = sd->decode(&r, v, m2);
    if (rc != 0 || kp_reader_left(&r) != 0)
        fprintf(stderr, "%s %s v%d variant %d: decode rc %d err %s left %zu\n", name,
                sd->what, v, variant, rc, kp_err_str(r.err), kp_reader_left(&r));
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    sd->encode(&w2, v, m2);
    int same = w1.len == w2.len && (w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0);
    if (!same)
        fprintf(stderr, "%s %s v%d variant %d: re-encoding differs (%zu vs %zu bytes)\n",
                name, sd->what, v, variant, w1.len, w2.len);
    CHECK(same);

    /* Every strict prefix is a truncated message and must fail cleanly. */
    int prefix_failures = 0;
    for (size_t n = 0; n < w1.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees overreads */
        if (n)
            memcpy(copy, w1.buf, n);
        reader_on(&r, copy, n, &a);
        if (sd->decode(&r, v, m2) == 0)
            prefix_failures++;
        free(copy);
    }
    CHECK_EQ_I64(prefix_failures, 0);

    /* Mangled bytes: must not crash; the result does not matter. */
    uint8_t *copy = malloc(w1.len ? w1.len : 1);
    for (int k = 0; k < 40 && w1.len; k++) {
        memcpy(copy, w1.buf, w1.len);
        int flips = 1 + (int)(rng() % 3);
        for (int j = 0; j < flips; j++)
            copy[rng() % w1.len] = (uint8_t)rng();
        arena small;
        arena_init(&small, 1 << 16);
        reader_on(&r, copy, w1.len, &small);
        (void)sd->decode(&r, v, m2);
        arena_deinit(&small);
    }
    free(copy);

    /* A too-small arena fails with NOMEM rather than crashing. */
    if (variant == 0) {
        arena tiny;
        arena_init(&tiny, 16);
        reader_on(&r, w1.buf, w1.len, &tiny);
        if (sd->decode(&r, v, m2) != 0)
            CHECK(r.err == KP_ERR_NOMEM);
        arena_deinit(&tiny);
    }
    n_roundtrips++;
    kp_writer_deinit(&w1);
    kp_writer_deinit(&w2);
    arena_deinit(&a);
}

static void test_all_messages(void)
{
    CHECK_EQ_I64(kp_apis_count, 52);
    CHECK_EQ_I64(kp_test_apis_count, kp_apis_count);
    for (int i = 0; i < kp_apis_count; i++) {
        const kp_api_info *api = &kp_apis[i];
        const kp_test_api *t = &kp_test_apis[i];
        CHECK_EQ_I64(t->key, api->key);
        CHECK(kp_api_find(api->key) == api);
        if (i > 0)
            CHECK(kp_apis[i - 1].key < api->key);
        side req = { "request", api->req_size, api->req_init, t->req_fill, api->req_decode,
                     api->req_encode };
        side resp = { "response", api->resp_size, api->resp_init, t->resp_fill,
                      api->resp_decode, api->resp_encode };
        CHECK(api->codec_min_version <= api->min_version);
        CHECK(api->codec_max_version >= api->max_version);
        for (int16_t v = api->codec_min_version; v <= api->codec_max_version; v++) {
            for (int variant = 0; variant < 2; variant++) {
                roundtrip(api->name, &req, v, variant);
                roundtrip(api->name, &resp, v, variant);
            }
        }
    }
    CHECK(kp_api_find(4) == NULL); /* LeaderAndIsr: not served */
    CHECK(kp_api_find(-1) == NULL);
    printf("message round trips: %d\n", n_roundtrips);
}

static void test_all_records(void)
{
    int before = n_roundtrips;
    CHECK_EQ_I64(kp_record_types_count, 24);
    CHECK_EQ_I64(kp_test_records_count, kp_record_types_count);
    for (int i = 0; i < kp_record_types_count; i++) {
        const kp_record_info *ri = &kp_record_types[i];
        const kp_test_record *t = &kp_test_records[i];
        CHECK(strcmp(t->name, ri->name) == 0);
        CHECK(kp_record_find(ri->name) == ri);
        if (ri->key >= 0)
            CHECK(kp_record_find_key(ri->key) == ri);
        side sd = { "record", ri->size, ri->init, t->fill, ri->decode, ri->encode };
        for (int16_t v = ri->min_version; v <= ri->max_version; v++)
            for (int variant = 0; variant < 2; variant++)
                roundtrip(ri->name, &sd, v, variant);
    }
    CHECK(kp_record_find("NoSuchRecord") == NULL);
    CHECK(kp_record_find_key(14) == NULL); /* ClientQuotaRecord: not in the schema */
    printf("record round trips: %d\n", n_roundtrips - before);
}

static int bytes_are(const kp_writer *w, const uint8_t *want, size_t n)
{
    return w->err == KP_OK && w->len == n && memcmp(w->buf, want, n) == 0;
}

static kp_uuid test_uuid(void)
{
    kp_uuid u;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(0x10 + i);
    return u;
}

#define UUID_BYTES 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, \
                   0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f

/* The metadata records exactly as metalog.c writes them (record version 0). */
static void test_metadata_records(void)
{
    CHECK_EQ_I64(KP_REC_TOPIC_RECORD, 2);
    CHECK_EQ_I64(KP_REC_PARTITION_RECORD, 3);
    CHECK_EQ_I64(KP_REC_CONFIG_RECORD, 4);
    CHECK_EQ_I64(KP_REC_REMOVE_TOPIC_RECORD, 9);
    CHECK_EQ_I64(KP_REC_FEATURE_LEVEL_RECORD, 12);
    arena a;
    arena_init(&a, ARENA_MAX);
    kp_reader r;
    kp_writer w;

    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = KP_STR("t1");
    tr.topic_id = test_uuid();
    kp_writer_init(&w);
    kp_topic_record_encode(&w, 0, &tr);
    static const uint8_t topic_want[] = { 0x03, 't', '1', UUID_BYTES, 0x00 };
    CHECK(bytes_are(&w, topic_want, sizeof topic_want));
    kp_writer_deinit(&w);

    kp_partition_record pr;
    kp_partition_record_init(&pr);
    CHECK_EQ_I64(pr.partition_id, -1);
    CHECK_EQ_I64(pr.leader, -1);
    CHECK_EQ_I64(pr.leader_epoch, -1);
    CHECK_EQ_I64(pr.eligible_leader_replicas_n, -1);
    int32_t node[1] = { 7 };
    pr.partition_id = 1;
    pr.topic_id = test_uuid();
    pr.replicas = node;
    pr.replicas_n = 1;
    pr.isr = node;
    pr.isr_n = 1;
    pr.leader = 7;
    pr.leader_epoch = 0;
    pr.partition_epoch = 0;
    kp_writer_init(&w);
    kp_partition_record_encode(&w, 0, &pr);
    static const uint8_t part_v0[] = {
        0, 0, 0, 1, UUID_BYTES,
        0x02, 0, 0, 0, 7,     /* replicas */
        0x02, 0, 0, 0, 7,     /* isr */
        0x01, 0x01,           /* removing, adding: empty */
        0, 0, 0, 7,           /* leader */
        0, 0, 0, 0, 0, 0, 0, 0, /* leader epoch, partition epoch */
        0x00,                 /* no tagged fields: recovery state 0 is the default */
    };
    CHECK(bytes_are(&w, part_v0, sizeof part_v0));
    kp_partition_record back;
    reader_on(&r, w.buf, w.len, &a);
    CHECK_EQ_I64(kp_partition_record_decode(&r, 0, &back), 0);
    CHECK_EQ_I64(back.partition_id, 1);
    CHECK(memcmp(back.topic_id.b, pr.topic_id.b, 16) == 0);
    CHECK(back.replicas_n == 1 && back.replicas[0] == 7);
    CHECK(back.isr_n == 1 && back.isr[0] == 7);
    CHECK_EQ_I64(back.removing_replicas_n, 0);
    CHECK_EQ_I64(back.adding_replicas_n, 0);
    CHECK_EQ_I64(back.leader, 7);
    CHECK_EQ_I64(back.leader_epoch, 0);
    CHECK_EQ_I64(back.directories_n, 0);
    CHECK_EQ_I64(back.eligible_leader_replicas_n, -1);
    kp_writer_deinit(&w);

    /* v2 as Kafka writes it: directories, an unclean-recovery flag (tag 0),
     * ELR (tag 1), and an unknown tag 9 that is skipped. */
    static const uint8_t part_v2[] = {
        0, 0, 0, 3, UUID_BYTES,
        0x02, 0, 0, 0, 7, 0x02, 0, 0, 0, 7, 0x01, 0x01,
        0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 5,
        0x02, UUID_BYTES,     /* directories */
        0x03,                 /* three tagged fields */
        0x00, 0x01, 0x01,     /* tag 0: leader_recovery_state = 1 */
        0x01, 0x05, 0x02, 0, 0, 0, 7, /* tag 1: eligible_leader_replicas = [7] */
        0x09, 0x01, 0xee,     /* tag 9: unknown */
    };
    reader_on(&r, part_v2, sizeof part_v2, &a);
    CHECK_EQ_I64(kp_partition_record_decode(&r, 2, &back), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(back.partition_id, 3);
    CHECK_EQ_I64(back.leader_epoch, 4);
    CHECK_EQ_I64(back.partition_epoch, 5);
    CHECK(back.directories_n == 1 && memcmp(back.directories[0].b, pr.topic_id.b, 16) == 0);
    CHECK_EQ_I64(back.leader_recovery_state, 1);
    CHECK(back.eligible_leader_replicas_n == 1 && back.eligible_leader_replicas[0] == 7);
    CHECK_EQ_I64(back.last_known_elr_n, -1);
    /* every strict prefix of it is refused */
    int accepted = 0;
    for (size_t n = 0; n < sizeof part_v2; n++) {
        reader_on(&r, part_v2, n, &a);
        accepted += kp_partition_record_decode(&r, 2, &back) == 0;
    }
    CHECK_EQ_I64(accepted, 0);

    kp_config_record cr;
    kp_config_record_init(&cr);
    cr.resource_type = 2;
    cr.resource_name = KP_STR("t1");
    cr.name = KP_STR("retention.ms");
    cr.value = KP_STR_NULL; /* delete the override */
    kp_writer_init(&w);
    kp_config_record_encode(&w, 0, &cr);
    static const uint8_t config_want[] = { 0x02, 0x03, 't', '1', 0x0d, 'r', 'e', 't', 'e', 'n',
                                           't', 'i', 'o', 'n', '.', 'm', 's', 0x00, 0x00 };
    CHECK(bytes_are(&w, config_want, sizeof config_want));
    kp_config_record cback;
    reader_on(&r, w.buf, w.len, &a);
    CHECK_EQ_I64(kp_config_record_decode(&r, 0, &cback), 0);
    CHECK_EQ_I64(cback.value.len, -1);
    CHECK(kp_str_eq(cback.name, "retention.ms"));
    kp_writer_deinit(&w);

    kp_remove_topic_record rr;
    kp_remove_topic_record_init(&rr);
    rr.topic_id = test_uuid();
    kp_writer_init(&w);
    kp_remove_topic_record_encode(&w, 0, &rr);
    static const uint8_t remove_want[] = { UUID_BYTES, 0x00 };
    CHECK(bytes_are(&w, remove_want, sizeof remove_want));
    kp_writer_deinit(&w);

    kp_feature_level_record fr;
    kp_feature_level_record_init(&fr);
    fr.name = KP_STR("metadata.version");
    fr.feature_level = 19;
    kp_writer_init(&w);
    kp_feature_level_record_encode(&w, 0, &fr);
    CHECK_EQ_I64(w.len, 1 + 16 + 2 + 1);
    CHECK(w.buf[0] == 17 && w.buf[17] == 0 && w.buf[18] == 19 && w.buf[19] == 0);
    kp_writer_deinit(&w);
    arena_deinit(&a);
}

/* __consumer_offsets keys and values: classic encodings in low versions. */
static void test_group_records(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    kp_reader r;
    kp_writer w;

    kp_offset_commit_key k;
    kp_offset_commit_key_init(&k);
    k.group = KP_STR("g");
    k.topic = KP_STR("t");
    k.partition = 2;
    kp_writer_init(&w);
    kp_offset_commit_key_encode(&w, 1, &k);
    static const uint8_t key_want[] = { 0, 1, 'g', 0, 1, 't', 0, 0, 0, 2 };
    CHECK(bytes_are(&w, key_want, sizeof key_want));
    kp_writer_deinit(&w);

    kp_group_metadata_key gk;
    kp_group_metadata_key_init(&gk);
    gk.group = KP_STR("grp");
    kp_writer_init(&w);
    kp_group_metadata_key_encode(&w, 2, &gk);
    static const uint8_t gkey_want[] = { 0, 3, 'g', 'r', 'p' };
    CHECK(bytes_are(&w, gkey_want, sizeof gkey_want));
    kp_writer_deinit(&w);

    kp_offset_commit_value ov;
    kp_offset_commit_value_init(&ov);
    CHECK_EQ_I64(ov.leader_epoch, -1);
    CHECK_EQ_I64(ov.expire_timestamp, -1);
    ov.offset = 42;
    ov.metadata = KP_STR("");
    ov.commit_timestamp = 1000;
    ov.expire_timestamp = 2000;
    ov.leader_epoch = 5;
    static const struct { int16_t v; size_t len; } sizes[] = {
        { 0, 8 + 2 + 8 },          /* offset, metadata, commit ts */
        { 1, 8 + 2 + 8 + 8 },      /* + expire ts (v1 only) */
        { 2, 8 + 2 + 8 },
        { 3, 8 + 4 + 2 + 8 },      /* + leader epoch */
        { 4, 8 + 4 + 1 + 8 + 1 },  /* flexible: compact string, tags */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        kp_writer_init(&w);
        kp_offset_commit_value_encode(&w, sizes[i].v, &ov);
        CHECK_EQ_I64(w.len, sizes[i].len);
        kp_offset_commit_value back;
        reader_on(&r, w.buf, w.len, &a);
        CHECK_EQ_I64(kp_offset_commit_value_decode(&r, sizes[i].v, &back), 0);
        CHECK_EQ_I64(back.offset, 42);
        CHECK_EQ_I64(back.commit_timestamp, 1000);
        CHECK_EQ_I64(back.expire_timestamp, sizes[i].v == 1 ? 2000 : -1);
        CHECK_EQ_I64(back.leader_epoch, sizes[i].v >= 3 ? 5 : -1);
        kp_writer_deinit(&w);
    }

    /* GroupMetadataValue v3: a member with a null group instance id. */
    kp_group_metadata_value gv;
    kp_group_metadata_value_init(&gv);
    kp_group_metadata_value_member_metadata mm;
    kp_group_metadata_value_member_metadata_init(&mm);
    CHECK_EQ_I64(mm.group_instance_id.len, -1);
    CHECK_EQ_I64(mm.rebalance_timeout, -1);
    mm.member_id = KP_STR("m");
    mm.client_id = KP_STR("c");
    mm.client_host = KP_STR("/h");
    mm.rebalance_timeout = 300000;
    mm.session_timeout = 10000;
    mm.subscription = (kp_bytes){ (const uint8_t *)"\0\1", 2 };
    mm.assignment = (kp_bytes){ (const uint8_t *)"", 0 };
    gv.protocol_type = KP_STR("consumer");
    gv.generation = 3;
    gv.protocol = KP_STR("range");
    gv.leader = KP_STR("m");
    gv.current_state_timestamp = 77;
    gv.members = &mm;
    gv.members_n = 1;
    for (int16_t v = 0; v <= 4; v++) {
        kp_writer_init(&w);
        kp_group_metadata_value_encode(&w, v, &gv);
        kp_group_metadata_value back;
        reader_on(&r, w.buf, w.len, &a);
        CHECK_EQ_I64(kp_group_metadata_value_decode(&r, v, &back), 0);
        CHECK_EQ_I64(kp_reader_left(&r), 0);
        CHECK(kp_str_eq(back.protocol, "range"));
        CHECK_EQ_I64(back.current_state_timestamp, v >= 2 ? 77 : -1);
        CHECK_EQ_I64(back.members_n, 1);
        if (back.members_n == 1) {
            CHECK(kp_str_eq(back.members[0].client_host, "/h"));
            CHECK_EQ_I64(back.members[0].rebalance_timeout, v >= 1 ? 300000 : -1);
            CHECK_EQ_I64(back.members[0].group_instance_id.len, -1);
            CHECK_EQ_I64(back.members[0].subscription.len, 2);
        }
        /* classic up to v3: the first field is an int16-length string */
        if (v < 4)
            CHECK(w.len > 2 && w.buf[0] == 0 && w.buf[1] == 8);
        else
            CHECK(w.len > 1 && w.buf[0] == 9);
        kp_writer_deinit(&w);
    }
    arena_deinit(&a);
}

/* Pure noise through every decoder and version, and the request header. */
static void test_random_inputs(void)
{
    uint8_t *buf = malloc(256);
    int decoded = 0;
    for (int i = 0; i < kp_apis_count; i++) {
        const kp_api_info *api = &kp_apis[i];
        for (int16_t v = api->codec_min_version; v <= api->codec_max_version; v++) {
            for (int k = 0; k < 30; k++) {
                size_t len = rng() % 256;
                for (size_t j = 0; j < len; j++)
                    buf[j] = (uint8_t)(k % 3 == 0 ? rng() % 3 : rng()); /* small values too */
                arena a;
                arena_init(&a, 1 << 16);
                void *m = arena_alloc(&a, api->req_size > api->resp_size ? api->req_size
                                                                         : api->resp_size);
                kp_reader r;
                reader_on(&r, buf, len, &a);
                decoded += api->req_decode(&r, v, m) == 0;
                reader_on(&r, buf, len, &a);
                decoded += api->resp_decode(&r, v, m) == 0;
                kp_req_header h;
                reader_on(&r, buf, len, &a);
                (void)kp_req_header_decode(&r, &h);
                arena_deinit(&a);
            }
        }
    }
    for (int i = 0; i < kp_record_types_count; i++) {
        const kp_record_info *ri = &kp_record_types[i];
        for (int16_t v = ri->min_version; v <= ri->max_version; v++) {
            for (int k = 0; k < 30; k++) {
                size_t len = rng() % 256;
                for (size_t j = 0; j < len; j++)
                    buf[j] = (uint8_t)(k % 3 == 0 ? rng() % 3 : rng());
                arena a;
                arena_init(&a, 1 << 16);
                void *m = arena_alloc(&a, ri->size);
                kp_reader r;
                reader_on(&r, buf, len, &a);
                decoded += ri->decode(&r, v, m) == 0;
                arena_deinit(&a);
            }
        }
    }
    free(buf);
    CHECK(decoded >= 0); /* reaching here without a sanitizer report is the test */
}

/* The served table, as promised in docs/protocol.md. */
static void test_api_table(void)
{
    static const struct { int16_t key, lo, hi, flex; } want[] = {
        { KP_API_PRODUCE, 0, 13, 9 }, { KP_API_FETCH, 4, 18, 12 },
        { KP_API_LIST_OFFSETS, 0, 11, 6 }, { KP_API_METADATA, 0, 13, 9 },
        { KP_API_OFFSET_COMMIT, 0, 10, 8 }, { KP_API_OFFSET_FETCH, 0, 10, 6 },
        { KP_API_FIND_COORDINATOR, 0, 6, 3 }, { KP_API_JOIN_GROUP, 0, 9, 6 },
        { KP_API_HEARTBEAT, 0, 4, 4 }, { KP_API_LEAVE_GROUP, 0, 5, 4 },
        { KP_API_SYNC_GROUP, 0, 5, 4 }, { KP_API_DESCRIBE_GROUPS, 0, 6, 5 },
        { KP_API_LIST_GROUPS, 0, 5, 3 }, { KP_API_API_VERSIONS, 0, 5, 3 },
        { KP_API_CREATE_TOPICS, 0, 7, 5 }, { KP_API_DELETE_TOPICS, 0, 6, 4 },
        { KP_API_INIT_PRODUCER_ID, 0, 5, 2 }, { KP_API_DESCRIBE_CONFIGS, 0, 4, 4 },
        { KP_API_ALTER_CONFIGS, 0, 2, 2 }, { KP_API_CREATE_PARTITIONS, 0, 3, 2 },
        { KP_API_DELETE_GROUPS, 0, 3, 2 }, { KP_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, 1 },
        { KP_API_OFFSET_DELETE, 0, 0, INT16_MAX }, { KP_API_DESCRIBE_CLUSTER, 0, 2, 0 },
        { KP_API_UPDATE_FEATURES, 0, 2, 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const kp_api_info *api = kp_api_find(want[i].key);
        CHECK(api != NULL);
        if (!api)
            continue;
        CHECK_EQ_I64(api->min_version, want[i].lo);
        CHECK_EQ_I64(api->max_version, want[i].hi);
        CHECK_EQ_I64(api->flexible_min, want[i].flex);
    }
    /* Fetch v17-18: KIP-853 and KIP-1166, served since Kafka 4.4 has them. */
    const kp_api_info *fetch = kp_api_find(KP_API_FETCH);
    CHECK_EQ_I64(fetch->codec_min_version, 4);
    CHECK_EQ_I64(fetch->codec_max_version, 18);
    /* Headers follow the codecs: the controller listener takes Fetch 17 for
     * the quorum (flexible: header v2); the client listener refuses it
     * after reading that header. */
    CHECK_EQ_I64(kp_req_header_version(KP_API_FETCH, 17), 2);
    CHECK_EQ_I64(kp_req_header_version(KP_API_FETCH, 19), 1); /* beyond the codecs */
    CHECK_EQ_I64(kp_out_req_header_version(KP_API_FETCH, 18), 2);
    CHECK_EQ_I64(kp_out_req_header_version(KP_API_FETCH, 19), -1);
    CHECK_EQ_I64(kp_out_resp_header_version(KP_API_FETCH, 11), 0);
    CHECK_EQ_I64(kp_out_resp_header_version(KP_API_API_VERSIONS, 3), 0);
    CHECK_EQ_I64(kp_out_resp_header_version(KP_API_VOTE, 0), 1);
    CHECK_EQ_I64(KP_API_PRODUCE, 0);
    CHECK_EQ_I64(KP_API_OFFSET_DELETE, 47);
    CHECK_EQ_I64(KP_API_DESCRIBE_CLUSTER, 60);
}

static void test_headers(void)
{
    CHECK_EQ_I64(kp_req_header_version(KP_API_PRODUCE, 8), 1);
    CHECK_EQ_I64(kp_req_header_version(KP_API_PRODUCE, 9), 2);
    CHECK_EQ_I64(kp_req_header_version(KP_API_PRODUCE, 14), 1); /* above our range */
    CHECK_EQ_I64(kp_req_header_version(KP_API_API_VERSIONS, 3), 2);
    CHECK_EQ_I64(kp_req_header_version(KP_API_API_VERSIONS, 6), 1);
    CHECK_EQ_I64(kp_req_header_version(KP_API_OFFSET_DELETE, 0), 1);
    CHECK_EQ_I64(kp_req_header_version(KP_API_DESCRIBE_CLUSTER, 0), 2);
    CHECK_EQ_I64(kp_req_header_version(999, 0), 1);
    CHECK_EQ_I64(kp_resp_header_version(KP_API_API_VERSIONS, 3), 0);
    CHECK_EQ_I64(kp_resp_header_version(KP_API_METADATA, 9), 1);
    CHECK_EQ_I64(kp_resp_header_version(KP_API_METADATA, 8), 0);
    CHECK_EQ_I64(kp_resp_header_version(KP_API_FETCH, 12), 1);

    kp_req_header h = { KP_API_FETCH, 12, 77, KP_STR("me") };
    kp_writer w;
    kp_writer_init(&w);
    kp_req_header_encode(&w, &h);
    static const uint8_t want[] = { 0, 1, 0, 12, 0, 0, 0, 77, 0, 2, 'm', 'e', 0 };
    CHECK(w.len == sizeof want && memcmp(w.buf, want, sizeof want) == 0);
    kp_req_header got;
    kp_reader r;
    reader_on(&r, w.buf, w.len, NULL);
    CHECK_EQ_I64(kp_req_header_decode(&r, &got), 0);
    CHECK_EQ_I64(got.api_key, 1);
    CHECK_EQ_I64(got.api_version, 12);
    CHECK_EQ_I64(got.correlation_id, 77);
    CHECK(kp_str_eq(got.client_id, "me"));
    CHECK_EQ_I64(kp_reader_left(&r), 0);

    /* Unknown key: v1, the tagged-field byte is left for the caller. */
    static const uint8_t unk[] = { 0x03, 0xe7, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0x00 };
    reader_on(&r, unk, sizeof unk, NULL);
    CHECK_EQ_I64(kp_req_header_decode(&r, &got), 0);
    CHECK_EQ_I64(got.api_key, 999);
    CHECK_EQ_I64(got.client_id.len, -1);
    CHECK_EQ_I64(kp_reader_left(&r), 1);
    reader_on(&r, unk, 5, NULL);
    CHECK_EQ_I64(kp_req_header_decode(&r, &got), -1);

    kp_writer_deinit(&w);
    kp_writer_init(&w);
    kp_resp_header_encode(&w, 1, 0x01020304);
    kp_resp_header_encode(&w, 0, 5);
    static const uint8_t rwant[] = { 1, 2, 3, 4, 0, 0, 0, 0, 5 };
    CHECK(w.len == sizeof rwant && memcmp(w.buf, rwant, sizeof rwant) == 0);
    int32_t corr = 0;
    reader_on(&r, w.buf, w.len, NULL);
    CHECK_EQ_I64(kp_resp_header_decode(&r, 1, &corr), 0);
    CHECK_EQ_I64(corr, 0x01020304);
    CHECK_EQ_I64(kp_resp_header_decode(&r, 0, &corr), 0);
    CHECK_EQ_I64(corr, 5);
    kp_writer_deinit(&w);
}

static void test_errors(void)
{
    CHECK(strcmp(kerr_name(KERR_UNKNOWN_TOPIC_OR_PARTITION), "UNKNOWN_TOPIC_OR_PARTITION") == 0);
    CHECK(strcmp(kerr_name(-1), "UNKNOWN_SERVER_ERROR") == 0);
    CHECK(strcmp(kerr_name(0), "NONE") == 0);
    CHECK(strcmp(kerr_name(9999), "UNKNOWN") == 0);
    CHECK_EQ_I64(KERR_NOT_LEADER_OR_FOLLOWER, 6);
    CHECK_EQ_I64(KERR_UNSUPPORTED_VERSION, 35);
    CHECK_EQ_I64(KERR_NON_EMPTY_GROUP, 68);
    CHECK_EQ_I64(KERR_FENCED_INSTANCE_ID, 82);
    CHECK_EQ_I64(KERR_UNKNOWN_TOPIC_ID, 100);
    CHECK_EQ_I64(KERR_INCONSISTENT_TOPIC_ID, 103);
    CHECK_EQ_I64(KERR_TRANSACTION_ABORTABLE, 120);
}

/* Tagged fields: unknown ones are skipped, known ones land in the struct. */
static void test_tagged(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    kp_reader r;
    kp_api_versions_req req;
    /* ApiVersions v3 body: two compact strings, then one unknown tag (9). */
    static const uint8_t body[] = { 0x02, 'c', 0x02, '1', 0x01, 0x09, 0x02, 0xaa, 0xbb };
    reader_on(&r, body, sizeof body, &a);
    CHECK_EQ_I64(kp_api_versions_req_decode(&r, 3, &req), 0);
    CHECK(kp_str_eq(req.client_software_name, "c"));
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    /* a tag whose size runs past the end */
    static const uint8_t bad[] = { 0x02, 'c', 0x02, '1', 0x01, 0x09, 0x05, 0xaa };
    reader_on(&r, bad, sizeof bad, &a);
    CHECK_EQ_I64(kp_api_versions_req_decode(&r, 3, &req), -1);

    /* ApiVersions v3 response with finalized_features_epoch (tag 1) set. */
    kp_api_versions_resp resp;
    kp_api_versions_resp_init(&resp);
    CHECK_EQ_I64(resp.finalized_features_epoch, -1);
    kp_writer w;
    kp_writer_init(&w);
    kp_api_versions_resp_encode(&w, 3, &resp);
    static const uint8_t plain[] = { 0, 0, 0x01, 0, 0, 0, 0, 0x00 };
    CHECK(w.len == sizeof plain && memcmp(w.buf, plain, sizeof plain) == 0);
    kp_writer_deinit(&w);
    resp.finalized_features_epoch = 5;
    resp.zk_migration_ready = true;
    kp_writer_init(&w);
    kp_api_versions_resp_encode(&w, 3, &resp);
    static const uint8_t tagged[] = { 0, 0, 0x01, 0, 0, 0, 0, 0x02,
                                      0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5,
                                      0x03, 0x01, 0x01 };
    CHECK(w.len == sizeof tagged && memcmp(w.buf, tagged, sizeof tagged) == 0);
    kp_api_versions_resp back;
    reader_on(&r, w.buf, w.len, &a);
    CHECK_EQ_I64(kp_api_versions_resp_decode(&r, 3, &back), 0);
    CHECK_EQ_I64(back.finalized_features_epoch, 5);
    CHECK(back.zk_migration_ready);
    kp_writer_deinit(&w);

    /* Defaults for fields absent in an older version. */
    kp_metadata_req mreq;
    static const uint8_t m0[] = { 0, 0, 0, 0 }; /* v0: empty topic array */
    reader_on(&r, m0, sizeof m0, &a);
    CHECK_EQ_I64(kp_metadata_req_decode(&r, 0, &mreq), 0);
    CHECK_EQ_I64(mreq.topics_n, 0);
    CHECK(mreq.allow_auto_topic_creation == true);
    /* a null topic array is not allowed in v0 */
    static const uint8_t m0null[] = { 0xff, 0xff, 0xff, 0xff };
    reader_on(&r, m0null, sizeof m0null, &a);
    CHECK_EQ_I64(kp_metadata_req_decode(&r, 0, &mreq), -1);
    CHECK_EQ_I64(r.err, KP_ERR_NEGATIVE);
    arena_deinit(&a);
}

/* ------------------------------------------------------------ real clients */

/* Produced by tests/unit/capture_frames.py (kcat 1.7 / librdkafka 2.0.2,
 * kafka-python 2.0.2); each is one request frame without its length. */

/* kcat frame 0: ApiVersions v3, correlation id 1 */
static const uint8_t kcat_frame0[] = {
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x72, 0x64,
    0x6b, 0x61, 0x66, 0x6b, 0x61, 0x00, 0x0b, 0x6c, 0x69, 0x62, 0x72, 0x64,
    0x6b, 0x61, 0x66, 0x6b, 0x61, 0x06, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x00,
};

/* kcat frame 1: Metadata v4, correlation id 2 */
static const uint8_t kcat_frame1[] = {
    0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x07, 0x72, 0x64,
    0x6b, 0x61, 0x66, 0x6b, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* kafka-python probe: ApiVersions v0, correlation id 1 */
static const uint8_t kpy_probe_frame0[] = {
    0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x67, 0x72,
    0x65, 0x67, 0x6f, 0x72, 0x2d, 0x74, 0x65, 0x73, 0x74,
};

/* kafka-python bootstrap: Metadata v1 (all topics), correlation id 1 */
static const uint8_t kpy_meta_frame0[] = {
    0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x67, 0x72,
    0x65, 0x67, 0x6f, 0x72, 0x2d, 0x74, 0x65, 0x73, 0x74, 0xff, 0xff, 0xff,
    0xff,
};

/* Decode header + body of frame, check the header, re-encode both and
 * compare with the original bytes. Returns the decoded body in msg. */
static void check_frame(const uint8_t *frame, size_t len, int16_t key, int16_t ver,
                        int32_t corr, const char *client_id, arena *a, void *msg)
{
    const kp_api_info *api = kp_api_find(key);
    CHECK(api != NULL);
    if (!api)
        return;
    kp_reader r;
    reader_on(&r, frame, len, a);
    kp_req_header h;
    CHECK_EQ_I64(kp_req_header_decode(&r, &h), 0);
    CHECK_EQ_I64(h.api_key, key);
    CHECK_EQ_I64(h.api_version, ver);
    CHECK_EQ_I64(h.correlation_id, corr);
    CHECK(kp_str_eq(h.client_id, client_id));
    CHECK_EQ_I64(api->req_decode(&r, h.api_version, msg), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);

    kp_writer w;
    kp_writer_init(&w);
    kp_req_header_encode(&w, &h);
    api->req_encode(&w, h.api_version, msg);
    CHECK(w.len == len && memcmp(w.buf, frame, len) == 0);
    kp_writer_deinit(&w);
}

static void test_captured(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);

    kp_api_versions_req av;
    check_frame(kcat_frame0, sizeof kcat_frame0, KP_API_API_VERSIONS, 3, 1, "rdkafka", &a, &av);
    CHECK(kp_str_eq(av.client_software_name, "librdkafka"));
    CHECK(kp_str_eq(av.client_software_version, "2.0.2"));

    kp_metadata_req md;
    check_frame(kcat_frame1, sizeof kcat_frame1, KP_API_METADATA, 4, 2, "rdkafka", &a, &md);
    CHECK_EQ_I64(md.topics_n, 0);
    CHECK(md.allow_auto_topic_creation == false);

    check_frame(kpy_probe_frame0, sizeof kpy_probe_frame0, KP_API_API_VERSIONS, 0, 1,
                "gregor-test", &a, &av);
    CHECK_EQ_I64(av.client_software_name.len, 0); /* absent in v0: default "" */

    check_frame(kpy_meta_frame0, sizeof kpy_meta_frame0, KP_API_METADATA, 1, 1,
                "gregor-test", &a, &md);
    CHECK_EQ_I64(md.topics_n, -1); /* null: all topics */
    CHECK(md.allow_auto_topic_creation == true); /* v1 lacks it: default */
    arena_deinit(&a);
}

int main(void)
{
    test_ints();
    test_varints();
    test_sticky();
    test_strings();
    test_arrays();
    test_writer_records();
    test_api_table();
    test_headers();
    test_errors();
    test_tagged();
    test_captured();
    test_all_messages();
    test_all_records();
    test_metadata_records();
    test_group_records();
    test_random_inputs();
    TEST_REPORT();
}
