/*
 * codec.c - primitive readers and writers for the Kafka wire format.
 *
 * Owns nothing but the writer's buffers. Invariants:
 *   - a reader never reads outside [pos, end); once r->err is set it never
 *     moves again and every read returns zero/empty/null;
 *   - no count or length taken from the wire reaches an allocation before it
 *     has been checked against the bytes that are left (kp_read_array_len) and
 *     the arena's limit (kp_alloc_array);
 *   - a writer that failed once (w->err) appends nothing more, so a truncated
 *     response is never mistaken for a complete one.
 * Any thread; a reader or writer belongs to one thread at a time.
 */
#include "proto/codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *kp_err_str(int err)
{
    switch (err) {
    case KP_OK: return "ok";
    case KP_ERR_SHORT: return "truncated input";
    case KP_ERR_NEGATIVE: return "negative length";
    case KP_ERR_TOO_LARGE: return "count or length too large";
    case KP_ERR_NOMEM: return "out of memory";
    case KP_ERR_BAD_VARINT: return "malformed varint";
    }
    return "unknown codec error";
}

/* ---------------------------------------------------------------- reader */

void kp_reader_init(kp_reader *r, const void *buf, size_t len, arena *a)
{
    const uint8_t *p = buf;
    r->pos = p;
    r->end = p ? p + len : p; /* no arithmetic on NULL */
    r->err = KP_OK;
    r->arena = a;
}

static void rfail(kp_reader *r, int err)
{
    if (!r->err)
        r->err = err;
}

/* True when n more bytes can be read; sets the sticky error otherwise. */
static bool rneed(kp_reader *r, size_t n)
{
    if (r->err)
        return false;
    if (kp_reader_left(r) < n) {
        r->err = KP_ERR_SHORT;
        return false;
    }
    return true;
}

static uint64_t rbe(kp_reader *r, int n)
{
    uint64_t v = 0;
    if (!rneed(r, (size_t)n))
        return 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | r->pos[i];
    r->pos += n;
    return v;
}

int8_t kp_read_int8(kp_reader *r) { return (int8_t)(uint8_t)rbe(r, 1); }
int16_t kp_read_int16(kp_reader *r) { return (int16_t)(uint16_t)rbe(r, 2); }
int32_t kp_read_int32(kp_reader *r) { return (int32_t)(uint32_t)rbe(r, 4); }
int64_t kp_read_int64(kp_reader *r) { return (int64_t)rbe(r, 8); }
uint16_t kp_read_uint16(kp_reader *r) { return (uint16_t)rbe(r, 2); }
uint32_t kp_read_uint32(kp_reader *r) { return (uint32_t)rbe(r, 4); }

double kp_read_float64(kp_reader *r)
{
    uint64_t bits = rbe(r, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Kafka reads any non-zero byte as true. */
bool kp_read_bool(kp_reader *r) { return rbe(r, 1) != 0; }

/*
 * Unsigned LEB128 of at most max_bytes bytes whose value fits in value_bits.
 * Longer encodings, or bits past value_bits in the last byte, are refused.
 */
static uint64_t rvar(kp_reader *r, int max_bytes, int value_bits)
{
    uint64_t v = 0;
    if (r->err)
        return 0;
    for (int i = 0; i < max_bytes; i++) {
        if (!rneed(r, 1))
            return 0;
        uint8_t b = *r->pos++;
        int shift = 7 * i;
        if (i == max_bytes - 1 && (b >> (value_bits - shift)) != 0) {
            r->err = KP_ERR_BAD_VARINT; /* continuation bit or too many bits */
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = KP_ERR_BAD_VARINT; /* unreachable: the last byte is checked above */
    return 0;
}

uint32_t kp_read_uvarint(kp_reader *r) { return (uint32_t)rvar(r, 5, 32); }
uint64_t kp_read_uvarlong(kp_reader *r) { return rvar(r, 10, 64); }

int32_t kp_read_varint(kp_reader *r)
{
    uint32_t u = kp_read_uvarint(r);
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

int64_t kp_read_varlong(kp_reader *r)
{
    uint64_t u = kp_read_uvarlong(r);
    return (int64_t)((u >> 1) ^ (0u - (u & 1)));
}

kp_uuid kp_read_uuid(kp_reader *r)
{
    kp_uuid u;
    memset(&u, 0, sizeof u);
    if (rneed(r, sizeof u.b)) {
        memcpy(u.b, r->pos, sizeof u.b);
        r->pos += sizeof u.b;
    }
    return u;
}

/*
 * Length of a string/bytes/records field: compact is uvarint len+1 (0 = null),
 * classic is a signed int of classic_bytes (-1 = null). Returns -1 for null,
 * -2 on error; a non-negative length has been checked against the input.
 */
static int64_t rlen(kp_reader *r, bool compact, int classic_bytes)
{
    int64_t n;
    if (compact) {
        uint32_t u = kp_read_uvarint(r);
        if (r->err)
            return -2;
        n = (int64_t)u - 1;
    } else {
        n = classic_bytes == 2 ? kp_read_int16(r) : kp_read_int32(r);
        if (r->err)
            return -2;
        if (n < -1) {
            r->err = KP_ERR_NEGATIVE;
            return -2;
        }
    }
    if (n > INT32_MAX) {
        r->err = KP_ERR_TOO_LARGE;
        return -2;
    }
    if (n >= 0 && !rneed(r, (size_t)n))
        return -2;
    return n;
}

kp_str kp_read_string(kp_reader *r, bool compact)
{
    kp_str s = { NULL, -1 };
    int64_t n = rlen(r, compact, 2);
    if (n == -2) {
        s.len = 0;
        s.ptr = "";
    } else if (n >= 0) {
        s.ptr = (const char *)r->pos;
        s.len = (int32_t)n;
        r->pos += n;
    }
    return s;
}

kp_bytes kp_read_bytes(kp_reader *r, bool compact)
{
    kp_bytes b = { NULL, -1 };
    int64_t n = rlen(r, compact, 4);
    if (n == -2) {
        b.len = 0;
    } else if (n >= 0) {
        b.ptr = r->pos;
        b.len = (int32_t)n;
        r->pos += n;
    }
    return b;
}

kp_records kp_read_records(kp_reader *r, bool compact)
{
    kp_records rec;
    memset(&rec, 0, sizeof rec);
    rec.fd = -1;
    kp_bytes b = kp_read_bytes(r, compact);
    rec.ptr = b.ptr;
    rec.len = b.len;
    return rec;
}

int32_t kp_read_array_len(kp_reader *r, bool compact, size_t min_elem_size)
{
    int64_t n;
    if (compact) {
        uint32_t u = kp_read_uvarint(r);
        n = (int64_t)u - 1;
    } else {
        n = kp_read_int32(r);
        if (n < -1)
            rfail(r, KP_ERR_NEGATIVE);
    }
    if (r->err)
        return 0;
    if (n > INT32_MAX) {
        r->err = KP_ERR_TOO_LARGE;
        return 0;
    }
    /* Every element takes at least one byte on the wire, as in Kafka. */
    if (min_elem_size == 0)
        min_elem_size = 1;
    if (n > 0 && (uint64_t)n > kp_reader_left(r) / min_elem_size) {
        r->err = KP_ERR_TOO_LARGE;
        return 0;
    }
    return (int32_t)n;
}

void *kp_alloc_array(kp_reader *r, int32_t n, size_t elem_size)
{
    if (r->err || n <= 0 || elem_size == 0)
        return NULL;
    if ((size_t)n > SIZE_MAX / elem_size) {
        r->err = KP_ERR_TOO_LARGE;
        return NULL;
    }
    void *p = r->arena ? arena_alloc(r->arena, (size_t)n * elem_size) : NULL;
    if (!p)
        r->err = KP_ERR_NOMEM;
    return p;
}

void kp_skip(kp_reader *r, size_t n)
{
    if (rneed(r, n))
        r->pos += n;
}

void kp_skip_tagged(kp_reader *r)
{
    uint32_t count = kp_read_uvarint(r);
    for (uint32_t i = 0; i < count && !r->err; i++) {
        (void)kp_read_uvarint(r); /* tag */
        uint32_t size = kp_read_uvarint(r);
        kp_skip(r, size);
    }
}

/* ---------------------------------------------------------------- writer */

void kp_writer_init(kp_writer *w)
{
    memset(w, 0, sizeof *w);
}

void kp_writer_deinit(kp_writer *w)
{
    free(w->buf);
    free(w->chunks);
    memset(w, 0, sizeof *w);
}

uint8_t *kp_writer_reserve(kp_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > SIZE_MAX / 2 - w->len) {
        w->err = KP_ERR_TOO_LARGE;
        return NULL;
    }
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->err = KP_ERR_NOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static void wbe(kp_writer *w, uint64_t v, int n)
{
    uint8_t *p = kp_writer_reserve(w, (size_t)n);
    if (!p)
        return;
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void kp_write_int8(kp_writer *w, int8_t v) { wbe(w, (uint8_t)v, 1); }
void kp_write_int16(kp_writer *w, int16_t v) { wbe(w, (uint16_t)v, 2); }
void kp_write_int32(kp_writer *w, int32_t v) { wbe(w, (uint32_t)v, 4); }
void kp_write_int64(kp_writer *w, int64_t v) { wbe(w, (uint64_t)v, 8); }
void kp_write_uint16(kp_writer *w, uint16_t v) { wbe(w, v, 2); }
void kp_write_uint32(kp_writer *w, uint32_t v) { wbe(w, v, 4); }
void kp_write_bool(kp_writer *w, bool v) { wbe(w, v ? 1 : 0, 1); }

void kp_write_float64(kp_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    wbe(w, bits, 8);
}

void kp_write_uvarlong(kp_writer *w, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    kp_write_raw(w, tmp, (size_t)n);
}

void kp_write_uvarint(kp_writer *w, uint32_t v) { kp_write_uvarlong(w, v); }

void kp_write_varint(kp_writer *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    kp_write_uvarint(w, (u << 1) ^ (0u - (u >> 31)));
}

void kp_write_varlong(kp_writer *w, int64_t v)
{
    uint64_t u = (uint64_t)v;
    kp_write_uvarlong(w, (u << 1) ^ (0u - (u >> 63)));
}

void kp_write_uuid(kp_writer *w, kp_uuid v) { kp_write_raw(w, v.b, sizeof v.b); }

/* Length prefix of a string/bytes/records field; len < 0 is null. */
static void wlen(kp_writer *w, int32_t len, bool compact, int classic_bytes)
{
    if (len < 0)
        len = -1;
    if (compact)
        kp_write_uvarint(w, (uint32_t)(len + 1));
    else if (classic_bytes == 2)
        kp_write_int16(w, (int16_t)len);
    else
        kp_write_int32(w, len);
}

void kp_write_string(kp_writer *w, kp_str s, bool compact)
{
    if (!compact && s.len > INT16_MAX) {
        if (!w->err)
            w->err = KP_ERR_TOO_LARGE; /* cannot be represented */
        return;
    }
    wlen(w, s.len, compact, 2);
    if (s.len > 0)
        kp_write_raw(w, s.ptr, (size_t)s.len);
}

void kp_write_bytes(kp_writer *w, kp_bytes b, bool compact)
{
    wlen(w, b.len, compact, 4);
    if (b.len > 0)
        kp_write_raw(w, b.ptr, (size_t)b.len);
}

static bool add_chunk(kp_writer *w, const kp_records *rec)
{
    if (w->nchunks == w->chunks_cap) {
        int cap = w->chunks_cap ? w->chunks_cap * 2 : 8;
        kp_file_chunk *nc = realloc(w->chunks, (size_t)cap * sizeof *nc);
        if (!nc) {
            w->err = KP_ERR_NOMEM;
            return false;
        }
        w->chunks = nc;
        w->chunks_cap = cap;
    }
    kp_file_chunk *c = &w->chunks[w->nchunks++];
    c->mem_off = w->len;
    c->fd = rec->fd;
    c->pos = rec->file_pos;
    c->len = rec->len;
    c->owner = rec->owner;
    w->file_bytes += rec->len;
    return true;
}

void kp_write_records(kp_writer *w, const kp_records *rec, bool compact)
{
    wlen(w, rec->len, compact, 4);
    if (rec->len <= 0 || w->err)
        return;
    if (rec->fd >= 0)
        add_chunk(w, rec);
    else
        kp_write_raw(w, rec->ptr, (size_t)rec->len);
}

void kp_write_array_len(kp_writer *w, int32_t n, bool compact)
{
    wlen(w, n, compact, 4);
}

void kp_write_raw(kp_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *dst = kp_writer_reserve(w, n);
    if (dst)
        memcpy(dst, p, n);
}

void kp_writer_patch_int32(kp_writer *w, size_t off, int32_t v)
{
    if (w->err)
        return;
    assert(off + 4 <= w->len);
    uint32_t u = (uint32_t)v;
    w->buf[off] = (uint8_t)(u >> 24);
    w->buf[off + 1] = (uint8_t)(u >> 16);
    w->buf[off + 2] = (uint8_t)(u >> 8);
    w->buf[off + 3] = (uint8_t)u;
}

bool kp_str_eq(kp_str a, const char *s)
{
    if (a.len < 0 || !s)
        return a.len < 0 && !s;
    size_t n = strlen(s);
    return (size_t)a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}
