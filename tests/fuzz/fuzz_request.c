/*
 * fuzz_request.c - libFuzzer target for request frames and the generated
 * message decoders (src/proto/kafka.schema -> build/gen/kafka_msgs.c).
 *
 * Every input is used twice:
 *   1. As a request frame without its 4-byte length: the request header
 *      (api key, version, correlation id, client id, tagged fields when
 *      flexible) by kp_req_header_decode, then, when the key is in kp_apis
 *      and the version is served, the body by that API's request decoder,
 *      as the broker does. Captured client frames are natural seeds.
 *   2. The first byte picks one entry of kp_apis[] followed by
 *      kp_record_types[] (modulo their total); the rest of the input goes
 *      through that API's response decoder, or that log record's decoder,
 *      at every served version. The response header decoders run on it too.
 *
 * Each decode gets a 1 MiB arena, and the input is an exact-size heap copy
 * so ASan flags any over-read. Whenever a decode succeeds, the message is
 * encoded, decoded again and encoded again: the second decode must succeed,
 * consume everything, and both encodings must be identical (what we send is
 * a fixed point of decode + encode). Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "kafka_msgs.h"
#include "proto/codec.h"

#define FUZZ_ARENA (1u << 20)

typedef int (*decode_fn)(kp_reader *r, int16_t version, void *msg);
typedef void (*encode_fn)(kp_writer *w, int16_t version, const void *msg);

static void fail(const char *what, const char *name, int16_t v, const char *why)
{
    fprintf(stderr, "fuzz_request: %s %s v%d: %s\n", name, what, v, why);
    abort();
}

/* Decode w1 (a header when h is given, then the body) and encode the
 * result into w2, which must come out identical. */
static void redecode(const char *name, const char *what, int16_t v, size_t size,
                     decode_fn decode, encode_fn encode, const kp_writer *w1, size_t body1,
                     const kp_req_header *h, kp_writer *w2)
{
    arena a;
    arena_init(&a, FUZZ_ARENA);
    void *m2 = arena_alloc(&a, size);
    kp_reader r;
    kp_reader_init(&r, w1->buf, w1->len, &a);
    if (h) {
        kp_req_header h2;
        if (kp_req_header_decode(&r, &h2) != 0)
            fail(what, name, v, "re-encoded header does not decode");
        if (h2.api_key != h->api_key || h2.api_version != h->api_version ||
            h2.correlation_id != h->correlation_id || h2.client_id.len != h->client_id.len ||
            (h2.client_id.len > 0 && memcmp(h2.client_id.ptr, h->client_id.ptr,
                                            (size_t)h2.client_id.len) != 0))
            fail(what, name, v, "re-encoded header decodes differently");
        if ((size_t)(r.pos - w1->buf) != body1)
            fail(what, name, v, "re-encoded header has a different length");
        kp_req_header_encode(w2, &h2);
    }
    if (!m2) {
        /* cannot happen with a 1 MiB arena; nothing to check */
    } else if (decode(&r, v, m2) != 0) {
        if (r.err != KP_ERR_NOMEM)
            fail(what, name, v, "re-encoding does not decode");
    } else {
        if (kp_reader_left(&r) != 0)
            fail(what, name, v, "re-encoding decodes with bytes left over");
        encode(w2, v, m2);
        if (!w2->err && (w2->len != w1->len || memcmp(w1->buf, w2->buf, w1->len) != 0))
            fail(what, name, v, "encode(decode(encode(m))) differs from encode(m)");
    }
    arena_deinit(&a);
}

/* m was just decoded at version v: check that encoding is stable. The
 * header, when given, is encoded in front of the body. */
static void check_reencode(const char *name, const char *what, int16_t v, size_t size,
                           decode_fn decode, encode_fn encode, const void *m,
                           const kp_req_header *h)
{
    kp_writer w1, w2;
    kp_writer_init(&w1);
    kp_writer_init(&w2);
    if (h)
        kp_req_header_encode(&w1, h);
    size_t body1 = w1.len;
    encode(&w1, v, m);
    if (w1.err) {
        /* only an allocation failure may stop an encode of decoded data */
        if (w1.err != KP_ERR_NOMEM)
            fail(what, name, v, kp_err_str(w1.err));
    } else {
        if (w1.nchunks != 0)
            fail(what, name, v, "decoded records turned into file chunks");
        redecode(name, what, v, size, decode, encode, &w1, body1, h, &w2);
    }
    kp_writer_deinit(&w1);
    kp_writer_deinit(&w2);
}

/* Decode buf at version v with a fresh arena; re-encode on success. */
static void run_decoder(const char *name, const char *what, int16_t v, size_t size,
                        decode_fn decode, encode_fn encode, const uint8_t *buf, size_t len)
{
    arena a;
    arena_init(&a, FUZZ_ARENA);
    void *m = arena_alloc(&a, size);
    if (m) {
        kp_reader r;
        kp_reader_init(&r, buf, len, &a);
        if (decode(&r, v, m) == 0) {
            if (r.err != KP_OK || r.pos > r.end)
                fail(what, name, v, "decode returned 0 with an error set");
            check_reencode(name, what, v, size, decode, encode, m, NULL);
        } else if (r.err == KP_OK) {
            fail(what, name, v, "decode failed without an error");
        }
    }
    arena_deinit(&a);
}

static void run_request(const uint8_t *buf, size_t len)
{
    arena a;
    arena_init(&a, FUZZ_ARENA);
    kp_reader r;
    kp_reader_init(&r, buf, len, &a);
    kp_req_header h;
    if (kp_req_header_decode(&r, &h) != 0) {
        if (r.err == KP_OK)
            fail("request header", "-", 0, "decode failed without an error");
        goto out;
    }
    const kp_api_info *api = kp_api_find(h.api_key);
    /* the codecs' range: a controller listener serves versions beyond the
     * client listener's (Fetch 17, the Raft RPCs); past it the broker
     * refuses from the header alone */
    if (!api || h.api_version < api->codec_min_version || h.api_version > api->codec_max_version)
        goto out;
    void *m = arena_alloc(&a, api->req_size);
    if (!m)
        goto out;
    if (api->req_decode(&r, h.api_version, m) == 0)
        check_reencode(api->name, "request", h.api_version, api->req_size, api->req_decode,
                       api->req_encode, m, &h);
out:
    arena_deinit(&a);
}

static void run_selected(uint8_t sel, const uint8_t *buf, size_t len)
{
    int32_t corr;
    kp_reader r;
    kp_reader_init(&r, buf, len, NULL);
    (void)kp_resp_header_decode(&r, 0, &corr);
    kp_reader_init(&r, buf, len, NULL);
    (void)kp_resp_header_decode(&r, 1, &corr);

    int n = kp_apis_count + kp_record_types_count;
    int i = sel % n;
    if (i < kp_apis_count) {
        const kp_api_info *api = &kp_apis[i];
        for (int16_t v = api->codec_min_version; v <= api->codec_max_version; v++)
            run_decoder(api->name, "response", v, api->resp_size, api->resp_decode,
                        api->resp_encode, buf, len);
        return;
    }
    const kp_record_info *ri = &kp_record_types[i - kp_apis_count];
    for (int16_t v = ri->min_version; v <= ri->max_version; v++)
        run_decoder(ri->name, "record", v, ri->size, ri->decode, ri->encode, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    if (size)
        memcpy(p, data, size);
    run_request(p, size);
    if (size > 0) {
        /* a copy that ends where the rest ends, starting one byte later */
        uint8_t *rest = malloc(size - 1 ? size - 1 : 1);
        if (rest) {
            memcpy(rest, p + 1, size - 1);
            run_selected(p[0], rest, size - 1);
            free(rest);
        }
    }
    free(p);
    return 0;
}
