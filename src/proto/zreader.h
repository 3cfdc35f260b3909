/*
 * zreader.h - the decompressed bytes of a record batch's records, pulled a
 * buffer at a time: gzip, snappy (raw or xerial-framed), lz4 (frame) and
 * zstd, as Kafka's producers write them.
 *
 * Memory stays bounded whatever the input claims: gzip, lz4 and zstd
 * decompress in a stream into the caller's buffer; snappy, whose C library
 * only inflates whole blocks, holds one block at a time, and a block is
 * validated before its buffer is allocated (a valid snappy block inflates to
 * at most about 21 times its size).
 *
 * Not thread-safe per reader; readers on different threads are independent.
 */
#ifndef GREGOR_PROTO_ZREADER_H
#define GREGOR_PROTO_ZREADER_H

#include <stddef.h>
#include <stdint.h>

enum {
    ZREADER_GZIP = 1,
    ZREADER_SNAPPY = 2,
    ZREADER_LZ4 = 3,
    ZREADER_ZSTD = 4,
};

typedef struct zreader {
    int codec;
    const uint8_t *in;          /* borrowed: the compressed bytes */
    size_t in_len, in_pos;
    void *ctx;                  /* the codec's stream state; owned */
    uint8_t *block;             /* snappy: the current inflated block; owned */
    size_t block_len, block_pos, block_cap;
    int done;                   /* the stream ended cleanly */
    const char *err;            /* sticky: why the data does not decompress */
} zreader;

/* Start reading in[0..n) compressed with codec (1..4). Returns 0, or -1 with
 * z->err set (unknown codec, no memory); zreader_deinit is needed either way. */
int zreader_init(zreader *z, int codec, const uint8_t *in, size_t n);

/* Up to cap decompressed bytes into buf: the count, 0 at the clean end of the
 * stream, -1 when the data does not decompress (z->err says why; a
 * truncated stream is an error, not an end). */
long zreader_read(zreader *z, uint8_t *buf, size_t cap);

void zreader_deinit(zreader *z);

#endif
