/*
 * recread.h - the bounds-checked cursor every record walk in src/proto uses
 * (batch.c's checks, records.c's iterator): reads from [p, p + len) only,
 * with a sticky error flag, so a lying length can stop a walk early but
 * never make it read outside its bytes. Internal to src/proto.
 */
#ifndef GREGOR_PROTO_RECREAD_H
#define GREGOR_PROTO_RECREAD_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rec_reader {
    const uint8_t *p;
    size_t len;     /* bytes readable from p */
    size_t pos;     /* next byte to read; pos <= len always */
    bool err;       /* sticky: once set, every read is a no-op yielding 0 */
} rec_reader;

static inline size_t rd_left(const rec_reader *r)
{
    assert(r->pos <= r->len);
    return r->len - r->pos;
}

static inline uint8_t rd_u8(rec_reader *r)
{
    if (r->err || rd_left(r) < 1) {
        r->err = true;
        return 0;
    }
    return r->p[r->pos++];
}

/* Unsigned LEB128 of at most max_bytes; rejects bits past bits_max. Runs once
 * or more per record field: one-byte values (the usual case for deltas and
 * small lengths) take the first branch. */
static inline uint64_t rd_uvarint(rec_reader *r, int max_bytes, int bits_max)
{
    if (r->err)
        return 0;
    const uint8_t *p = r->p + r->pos;
    size_t left = r->len - r->pos;
    if (left > 0 && p[0] < 0x80) {
        r->pos++;
        return p[0];
    }
    size_t n = left < (size_t)max_bytes ? left : (size_t)max_bytes;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        int shift = 7 * (int)i;
        uint64_t chunk = (uint64_t)(b & 0x7f);
        /* The last allowed byte may only carry the bits that fit. */
        if (shift + 7 > bits_max && (chunk >> (bits_max - shift)) != 0)
            break;
        v |= chunk << shift;
        if ((b & 0x80) == 0) {
            r->pos += i + 1;
            return v;
        }
    }
    /* Out of bytes, too many bits, or a continuation bit on the last allowed byte. */
    r->err = true;
    return 0;
}

static inline int32_t rd_varint(rec_reader *r)
{
    uint32_t u = (uint32_t)rd_uvarint(r, 5, 32);
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

static inline int64_t rd_varlong(rec_reader *r)
{
    uint64_t u = rd_uvarint(r, 10, 64);
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static inline void rd_skip(rec_reader *r, size_t n)
{
    if (r->err || rd_left(r) < n) {
        r->err = true;
        return;
    }
    r->pos += n;
}

/* A nullable length (-1 = null) followed by that many bytes. */
static inline void rd_skip_nullable(rec_reader *r)
{
    int32_t n = rd_varint(r);
    if (n < -1)
        r->err = true;
    else if (n > 0)
        rd_skip(r, (size_t)n);
}

/* A non-null length followed by that many bytes (header keys). */
static inline void rd_skip_string(rec_reader *r)
{
    int32_t n = rd_varint(r);
    if (n < 0)
        r->err = true;
    else
        rd_skip(r, (size_t)n);
}

#endif
