/*
 * zwriter.h - compress a record batch's records the way Kafka's Java
 * producer and broker do, so every client reads the result: the other
 * direction of zreader.h, with the same codec numbers.
 *
 *   gzip    one gzip stream (zlib, gzip wrapper)
 *   snappy  xerial framing, 32 KiB of input per block (SnappyOutputStream)
 *   lz4     one LZ4 frame: 64 KiB independent blocks, no content size
 *   zstd    one zstd frame
 *
 * Levels follow Kafka's compression.<codec>.level configs: gzip -1 (the
 * default) or 1..9, lz4 1..17 (default 9), zstd -131072..22 (default 3);
 * snappy has no level and ignores it. Thread-safe: no shared state.
 */
#ifndef GREGOR_PROTO_ZWRITER_H
#define GREGOR_PROTO_ZWRITER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/codec.h"

enum {
    ZWRITER_GZIP = 1,
    ZWRITER_SNAPPY = 2,
    ZWRITER_LZ4 = 3,
    ZWRITER_ZSTD = 4,
};

/* The codec's own default level (Kafka's default for the config). */
#define ZWRITER_LEVEL_DEFAULT INT_MIN

/* Kafka's ranges (CompressionType.minLevel/maxLevel/defaultLevel). */
#define ZWRITER_GZIP_LEVEL_MIN 1
#define ZWRITER_GZIP_LEVEL_MAX 9
#define ZWRITER_GZIP_LEVEL_DEFAULT (-1)
#define ZWRITER_LZ4_LEVEL_MIN 1
#define ZWRITER_LZ4_LEVEL_MAX 17
#define ZWRITER_LZ4_LEVEL_DEFAULT 9
#define ZWRITER_ZSTD_LEVEL_MIN (-131072)
#define ZWRITER_ZSTD_LEVEL_MAX 22
#define ZWRITER_ZSTD_LEVEL_DEFAULT 3

/* Whether level is valid for codec as Kafka's config validators see it
 * (ZWRITER_LEVEL_DEFAULT always is; any level is, for snappy). */
int zwriter_level_valid(int codec, int level);

/* Compress in[0..n) with codec (1..4) and level (Kafka's
 * compression.<codec>.level semantics; ZWRITER_LEVEL_DEFAULT for the codec's
 * default) appending to out, so the caller builds the batch header first and
 * the records after it. Returns 0, or -1 with *err (a static string) set;
 * on failure out keeps its length from before the call. Memory: besides the
 * codec's own state, out grows by at most one compress bound of the input. */
int zwriter_compress(int codec, int level, const uint8_t *in, size_t n, kp_writer *out, const char **err);

#endif
