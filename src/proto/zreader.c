/*
 * zreader.c - pull-based decompression of a batch's records (see zreader.h).
 *
 * Each codec keeps Kafka's reading of its format:
 *   gzip    a gzip stream (no zlib or raw deflate), members may follow each
 *           other; bytes after the last member that do not start another
 *           member are ignored, as Java's GZIPInputStream does.
 *   snappy  xerial framing (8-byte magic, version, compatible version, then
 *           int32-length-prefixed raw blocks) as the Java producer writes
 *           it, or one raw block as librdkafka writes it.
 *   lz4     the LZ4 frame format.
 *   zstd    zstd frames.
 */
#include "proto/zreader.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define SNAPPY_XERIAL_HEADER_BYTES 16

static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int zreader_init(zreader *z, int codec, const uint8_t *in, size_t n)
{
    memset(z, 0, sizeof *z);
    z->codec = codec;
    z->in = in;
    z->in_len = n;
    switch (codec) {
    case ZREADER_GZIP: {
        z_stream *zs = calloc(1, sizeof *zs);
        if (!zs || inflateInit2(zs, 15 + 16) != Z_OK) { /* +16: a gzip header only */
            free(zs);
            z->err = "gzip: cannot initialise zlib";
            return -1;
        }
        zs->next_in = (Bytef *)in;
        zs->avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
        z->ctx = zs;
        return 0;
    }
    case ZREADER_SNAPPY:
        if (n >= SNAPPY_XERIAL_HEADER_BYTES && memcmp(in, xerial_magic, 8) == 0)
            z->in_pos = SNAPPY_XERIAL_HEADER_BYTES;
        else
            z->ctx = (void *)1; /* a single raw block */
        return 0;
    case ZREADER_LZ4: {
        LZ4F_dctx *d = NULL;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
            z->err = "lz4: cannot create a context";
            return -1;
        }
        z->ctx = d;
        return 0;
    }
    case ZREADER_ZSTD: {
        ZSTD_DStream *ds = ZSTD_createDStream();
        if (!ds) {
            z->err = "zstd: cannot create a context";
            return -1;
        }
        ZSTD_initDStream(ds);
        z->ctx = ds;
        return 0;
    }
    default:
        z->err = "unknown compression codec";
        return -1;
    }
}

void zreader_deinit(zreader *z)
{
    if (z->ctx) {
        if (z->codec == ZREADER_GZIP) {
            inflateEnd(z->ctx);
            free(z->ctx);
        } else if (z->codec == ZREADER_LZ4) {
            LZ4F_freeDecompressionContext(z->ctx);
        } else if (z->codec == ZREADER_ZSTD) {
            ZSTD_freeDStream(z->ctx);
        }
    }
    free(z->block);
    memset(z, 0, sizeof *z);
}

static long fail(zreader *z, const char *why)
{
    z->err = why;
    return -1;
}

static long gzip_read(zreader *z, uint8_t *buf, size_t cap)
{
    z_stream *zs = z->ctx;
    zs->next_out = buf;
    zs->avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
    while (zs->avail_out == (uInt)cap) {
        int zr = inflate(zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            /* Another member follows, or the rest is ignored (as Java does). */
            if (zs->avail_in >= 2 && zs->next_in[0] == 0x1f && zs->next_in[1] == 0x8b) {
                if (inflateReset(zs) != Z_OK)
                    return fail(z, "gzip: cannot reset zlib");
                continue;
            }
            z->done = 1;
            break;
        }
        if (zr == Z_BUF_ERROR && zs->avail_in == 0)
            return fail(z, "gzip: the compressed data ends before the stream does");
        if (zr != Z_OK)
            return fail(z, zr == Z_MEM_ERROR ? "gzip: out of memory"
                                             : "gzip: the compressed data is not valid gzip");
    }
    return (long)(cap - zs->avail_out);
}

/* The next snappy block into z->block; 0 when there is none, -1 on error. */
static int snappy_next_block(zreader *z)
{
    const uint8_t *blk;
    size_t blen;
    if (z->ctx) { /* a single raw block */
        if (z->in_pos > 0)
            return 0;
        blk = z->in;
        blen = z->in_len;
        z->in_pos = z->in_len;
    } else {
        if (z->in_pos == z->in_len)
            return 0;
        if (z->in_len - z->in_pos < 4)
            return (int)fail(z, "snappy: a xerial block header is cut short");
        blen = be32(z->in + z->in_pos);
        z->in_pos += 4;
        if (blen > z->in_len - z->in_pos)
            return (int)fail(z, "snappy: a xerial block is longer than the data");
        blk = z->in + z->in_pos;
        z->in_pos += blen;
    }
    size_t ulen;
    if (snappy_validate_compressed_buffer((const char *)blk, blen) != SNAPPY_OK ||
        snappy_uncompressed_length((const char *)blk, blen, &ulen) != SNAPPY_OK)
        return (int)fail(z, "snappy: the compressed data is not valid snappy");
    if (ulen > z->block_cap) {
        uint8_t *nb = realloc(z->block, ulen);
        if (!nb)
            return (int)fail(z, "snappy: out of memory");
        z->block = nb;
        z->block_cap = ulen;
    }
    if (ulen && snappy_uncompress((const char *)blk, blen, (char *)z->block, &ulen) != SNAPPY_OK)
        return (int)fail(z, "snappy: the compressed data is not valid snappy");
    z->block_len = ulen;
    z->block_pos = 0;
    return 1;
}

static long snappy_read(zreader *z, uint8_t *buf, size_t cap)
{
    while (z->block_pos == z->block_len) {
        int r = snappy_next_block(z);
        if (r < 0)
            return -1;
        if (r == 0) {
            z->done = 1;
            return 0;
        }
    }
    size_t n = z->block_len - z->block_pos;
    if (n > cap)
        n = cap;
    memcpy(buf, z->block + z->block_pos, n);
    z->block_pos += n;
    return (long)n;
}

static long lz4_read(zreader *z, uint8_t *buf, size_t cap)
{
    size_t out = 0;
    while (out == 0) {
        if (z->in_pos == z->in_len)
            return fail(z, "lz4: the compressed data ends before the frame does");
        size_t dst = cap, src = z->in_len - z->in_pos;
        size_t r = LZ4F_decompress(z->ctx, buf, &dst, z->in + z->in_pos, &src, NULL);
        if (LZ4F_isError(r))
            return fail(z, "lz4: the compressed data is not a valid lz4 frame");
        z->in_pos += src;
        out = dst;
        if (r == 0) { /* end of the frame: anything after it is ignored */
            z->done = 1;
            break;
        }
        if (src == 0 && dst == 0)
            return fail(z, "lz4: the frame makes no progress");
    }
    return (long)out;
}

static long zstd_read(zreader *z, uint8_t *buf, size_t cap)
{
    ZSTD_outBuffer ob = { buf, cap, 0 };
    while (ob.pos == 0) {
        ZSTD_inBuffer ib = { z->in, z->in_len, z->in_pos };
        size_t r = ZSTD_decompressStream(z->ctx, &ob, &ib);
        z->in_pos = ib.pos;
        if (ZSTD_isError(r))
            return fail(z, "zstd: the compressed data is not valid zstd");
        if (r == 0 && z->in_pos == z->in_len) { /* frame complete, no more input */
            z->done = 1;
            break;
        }
        if (ob.pos == 0 && z->in_pos == z->in_len)
            return fail(z, "zstd: the compressed data ends before the frame does");
    }
    return (long)ob.pos;
}

long zreader_read(zreader *z, uint8_t *buf, size_t cap)
{
    if (z->err)
        return -1;
    if (z->done || cap == 0)
        return 0;
    switch (z->codec) {
    case ZREADER_GZIP: return gzip_read(z, buf, cap);
    case ZREADER_SNAPPY: return snappy_read(z, buf, cap);
    case ZREADER_LZ4: return lz4_read(z, buf, cap);
    case ZREADER_ZSTD: return zstd_read(z, buf, cap);
    default: return fail(z, "unknown compression codec");
    }
}
