/*
 * zwriter.c - compression of a batch's records (see zwriter.h).
 *
 * Every codec compresses in one call into space reserved in the caller's
 * writer for the codec's worst case, and the writer is then cut back to
 * what was used: no temporary buffer, and the output is one contiguous run
 * the caller can CRC with the batch header.
 */
#include "proto/zwriter.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* snappy-java's SnappyOutputStream: this much input per block. */
#define SNAPPY_BLOCK_BYTES (32 * 1024)

/* SnappyCodec's header: magic, version 1, minimum compatible version 1. */
static const uint8_t xerial_header[16] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1 };

int zwriter_level_valid(int codec, int level)
{
    if (level == ZWRITER_LEVEL_DEFAULT)
        return 1;
    switch (codec) {
    case ZWRITER_GZIP:
        return level == ZWRITER_GZIP_LEVEL_DEFAULT ||
               (level >= ZWRITER_GZIP_LEVEL_MIN && level <= ZWRITER_GZIP_LEVEL_MAX);
    case ZWRITER_SNAPPY:
        return 1;
    case ZWRITER_LZ4:
        return level >= ZWRITER_LZ4_LEVEL_MIN && level <= ZWRITER_LZ4_LEVEL_MAX;
    case ZWRITER_ZSTD:
        return level >= ZWRITER_ZSTD_LEVEL_MIN && level <= ZWRITER_ZSTD_LEVEL_MAX;
    default:
        return 0;
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Each returns the compressed length written to dst (at most cap), or 0
 * with *err set. */

static size_t gzip_bound(size_t n)
{
    /* compressBound covers deflate data in zlib's 6-byte wrapper at the
     * window and memLevel used below; a gzip wrapper takes 18 bytes. */
    return compressBound((uLong)n) + 18;
}

static size_t gzip_compress(int level, const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                            const char **err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 16 + 15: a gzip wrapper on a 32 KiB window, what Java's
     * GZIPOutputStream writes; memLevel 8 is Java's Deflater's too. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        *err = "gzip: cannot initialise zlib";
        return 0;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = dst;
    zs.avail_out = (uInt)cap;
    int zr = deflate(&zs, Z_FINISH);
    size_t got = cap - zs.avail_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        *err = zr == Z_MEM_ERROR ? "gzip: out of memory" : "gzip: compression failed";
        return 0;
    }
    return got;
}

static size_t snappy_bound(size_t n)
{
    size_t blocks = (n + SNAPPY_BLOCK_BYTES - 1) / SNAPPY_BLOCK_BYTES;
    return sizeof xerial_header + blocks * (4 + snappy_max_compressed_length(SNAPPY_BLOCK_BYTES));
}

static size_t snappy_compress_xerial(const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                                     const char **err)
{
    /* Java writes nothing at all for no input; the header alone is what its
     * reader, librdkafka's and zreader also accept, and is a valid stream. */
    memcpy(dst, xerial_header, sizeof xerial_header);
    size_t pos = sizeof xerial_header;
    for (size_t off = 0; off < n; off += SNAPPY_BLOCK_BYTES) {
        size_t len = n - off < SNAPPY_BLOCK_BYTES ? n - off : SNAPPY_BLOCK_BYTES;
        size_t got = cap - pos - 4;
        if (snappy_compress((const char *)in + off, len, (char *)dst + pos + 4, &got) != SNAPPY_OK) {
            *err = "snappy: compression failed";
            return 0;
        }
        put_be32(dst + pos, (uint32_t)got);
        pos += 4 + got;
    }
    return pos;
}

static LZ4F_preferences_t lz4_prefs(int level)
{
    LZ4F_preferences_t p;
    memset(&p, 0, sizeof p);
    /* Kafka's Lz4BlockOutputStream: 64 KiB independent blocks, no content
     * size, no checksums but the frame header's; its reader refuses linked
     * blocks, which are LZ4F's default. */
    p.frameInfo.blockSizeID = LZ4F_max64KB;
    p.frameInfo.blockMode = LZ4F_blockIndependent;
    /* At its default level Kafka uses lz4's fast compressor, at any other
     * its high-compression one at that level (lz4 clamps above 12). LZ4F
     * compresses fast below 3, so Kafka's 1 and 2 become 3, LZ4F's lowest
     * high-compression level. */
    if (level == ZWRITER_LZ4_LEVEL_DEFAULT)
        p.compressionLevel = 0;
    else
        p.compressionLevel = level < 3 ? 3 : level;
    return p;
}

static size_t lz4_compress(int level, const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                           const char **err)
{
    LZ4F_preferences_t p = lz4_prefs(level);
    size_t got = LZ4F_compressFrame(dst, cap, in, n, &p);
    if (LZ4F_isError(got)) {
        *err = "lz4: compression failed";
        return 0;
    }
    return got;
}

static size_t zstd_compress(int level, const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                            const char **err)
{
    size_t got = ZSTD_compress(dst, cap, in, n, level);
    if (ZSTD_isError(got)) {
        *err = "zstd: compression failed";
        return 0;
    }
    return got;
}

int zwriter_compress(int codec, int level, const uint8_t *in, size_t n, kp_writer *out, const char **err)
{
    if (codec < ZWRITER_GZIP || codec > ZWRITER_ZSTD) {
        *err = "unknown compression codec";
        return -1;
    }
    if (!zwriter_level_valid(codec, level)) {
        *err = "compression level out of range for the codec";
        return -1;
    }
    /* A batch's length is an int32; zlib's counters are 32 bits. */
    if (n > INT32_MAX) {
        *err = "too much data to compress into one batch";
        return -1;
    }
    if (level == ZWRITER_LEVEL_DEFAULT)
        level = codec == ZWRITER_GZIP  ? ZWRITER_GZIP_LEVEL_DEFAULT
              : codec == ZWRITER_LZ4   ? ZWRITER_LZ4_LEVEL_DEFAULT
              : codec == ZWRITER_ZSTD  ? ZWRITER_ZSTD_LEVEL_DEFAULT : 0;

    LZ4F_preferences_t p = lz4_prefs(level);
    size_t cap = codec == ZWRITER_GZIP   ? gzip_bound(n)
               : codec == ZWRITER_SNAPPY ? snappy_bound(n)
               : codec == ZWRITER_LZ4    ? LZ4F_compressFrameBound(n, &p)
               : ZSTD_compressBound(n);
    size_t start = out->len;
    uint8_t *dst = kp_writer_reserve(out, cap);
    if (!dst) {
        *err = "out of memory for the compressed records";
        return -1;
    }
    size_t got;
    switch (codec) {
    case ZWRITER_GZIP: got = gzip_compress(level, in, n, dst, cap, err); break;
    case ZWRITER_SNAPPY: got = snappy_compress_xerial(in, n, dst, cap, err); break;
    case ZWRITER_LZ4: got = lz4_compress(level, in, n, dst, cap, err); break;
    default: got = zstd_compress(level, in, n, dst, cap, err); break;
    }
    out->len = start + got; /* got is 0 on failure: the reservation is undone */
    return got ? 0 : -1;
}
