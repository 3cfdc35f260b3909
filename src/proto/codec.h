/*
 * codec.h - the runtime under the generated Kafka protocol codecs.
 *
 * The generated files (build/gen/kafka_msgs.{h,c}, from src/proto/kafka.schema
 * by src/proto/gen.py) call these primitives; request handlers use the
 * generated structs and never read raw bytes themselves.
 *
 * Reading: a kp_reader is a cursor over untrusted bytes with a sticky error.
 * Every read after the first failure is a no-op that yields zero/empty, so a
 * decoder checks r->err once at the end. Strings and bytes are *borrowed*:
 * they point into the frame and stay valid as long as the frame buffer does.
 * Arrays are allocated from r->arena (owned by the request).
 *
 * Writing: a kp_writer appends to a growable memory buffer. A records field
 * may instead name a file range (fd, position, length); the writer then keeps
 * a list of "file chunks" spliced in at a given memory offset, so the
 * connection can send memory with write() and file ranges with sendfile()
 * without ever copying record batches into user space.
 */
#ifndef GREGOR_PROTO_CODEC_H
#define GREGOR_PROTO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

enum kp_err {
    KP_OK = 0,
    KP_ERR_SHORT,      /* ran past the end of the buffer */
    KP_ERR_NEGATIVE,   /* negative length where none is allowed */
    KP_ERR_TOO_LARGE,  /* a count or length over its limit */
    KP_ERR_NOMEM,      /* arena limit reached */
    KP_ERR_BAD_VARINT, /* varint longer than its type allows */
};

const char *kp_err_str(int err);

/* Nullable string: len < 0 means null. Not NUL-terminated. */
typedef struct kp_str {
    const char *ptr;
    int32_t len;
} kp_str;

/* Nullable bytes: len < 0 means null. */
typedef struct kp_bytes {
    const uint8_t *ptr;
    int32_t len;
} kp_bytes;

typedef struct kp_uuid {
    uint8_t b[16];
} kp_uuid;

/*
 * Record batches. On decode, ptr/len borrow from the frame (len < 0: null)
 * and fd is -1. On encode, either ptr/len give memory, or fd >= 0 names the
 * file range [file_pos, file_pos + len) which is sent with sendfile().
 */
typedef struct kp_records {
    const uint8_t *ptr;
    int32_t len;
    int fd;
    int64_t file_pos;
    void *owner; /* opaque reference kept alive until the response is sent */
} kp_records;

#define KP_STR(s) ((kp_str){ (s), (int32_t)sizeof(s) - 1 })
#define KP_STR_NULL ((kp_str){ NULL, -1 })

typedef struct kp_reader {
    const uint8_t *pos;
    const uint8_t *end;
    int err;       /* enum kp_err; sticky */
    arena *arena;  /* borrowed; arrays are allocated here */
} kp_reader;

void kp_reader_init(kp_reader *r, const void *buf, size_t len, arena *a);
static inline size_t kp_reader_left(const kp_reader *r) { return (size_t)(r->end - r->pos); }

int8_t   kp_read_int8(kp_reader *r);
int16_t  kp_read_int16(kp_reader *r);
int32_t  kp_read_int32(kp_reader *r);
int64_t  kp_read_int64(kp_reader *r);
uint16_t kp_read_uint16(kp_reader *r);
uint32_t kp_read_uint32(kp_reader *r);
double   kp_read_float64(kp_reader *r);
bool     kp_read_bool(kp_reader *r);
uint32_t kp_read_uvarint(kp_reader *r);
int32_t  kp_read_varint(kp_reader *r);
uint64_t kp_read_uvarlong(kp_reader *r);
int64_t  kp_read_varlong(kp_reader *r);
kp_uuid  kp_read_uuid(kp_reader *r);
/* compact: length+1 as uvarint (0 = null); classic: int16/int32 length (-1 = null) */
kp_str   kp_read_string(kp_reader *r, bool compact);
kp_bytes kp_read_bytes(kp_reader *r, bool compact);
kp_records kp_read_records(kp_reader *r, bool compact);
/* Array length: compact uvarint-1 or int32; -1 means null. Fails (TOO_LARGE)
 * when the count could not possibly fit in the bytes left, given min_elem_size. */
int32_t  kp_read_array_len(kp_reader *r, bool compact, size_t min_elem_size);
void    *kp_alloc_array(kp_reader *r, int32_t n, size_t elem_size);
/* Skip a tagged-field section whose fields are all unknown. */
void     kp_skip_tagged(kp_reader *r);
/* Skip n raw bytes. */
void     kp_skip(kp_reader *r, size_t n);

/* A file range to be sent after mem bytes [0, mem_off) of the writer. */
typedef struct kp_file_chunk {
    size_t mem_off;
    int fd;
    int64_t pos;
    int32_t len;
    void *owner;
} kp_file_chunk;

typedef struct kp_writer {
    uint8_t *buf;
    size_t len, cap;
    kp_file_chunk *chunks;
    int nchunks, chunks_cap;
    int64_t file_bytes;  /* total bytes in file chunks */
    int err;             /* KP_ERR_NOMEM on allocation failure; sticky */
} kp_writer;

void kp_writer_init(kp_writer *w);
void kp_writer_deinit(kp_writer *w);
/* Total encoded length: memory plus file chunks. */
static inline int64_t kp_writer_size(const kp_writer *w) { return (int64_t)w->len + w->file_bytes; }
/* Reserve n bytes at the end and return them (NULL on failure). */
uint8_t *kp_writer_reserve(kp_writer *w, size_t n);

void kp_write_int8(kp_writer *w, int8_t v);
void kp_write_int16(kp_writer *w, int16_t v);
void kp_write_int32(kp_writer *w, int32_t v);
void kp_write_int64(kp_writer *w, int64_t v);
void kp_write_uint16(kp_writer *w, uint16_t v);
void kp_write_uint32(kp_writer *w, uint32_t v);
void kp_write_float64(kp_writer *w, double v);
void kp_write_bool(kp_writer *w, bool v);
void kp_write_uvarint(kp_writer *w, uint32_t v);
void kp_write_varint(kp_writer *w, int32_t v);
void kp_write_uvarlong(kp_writer *w, uint64_t v);
void kp_write_varlong(kp_writer *w, int64_t v);
void kp_write_uuid(kp_writer *w, kp_uuid v);
void kp_write_string(kp_writer *w, kp_str s, bool compact);
void kp_write_bytes(kp_writer *w, kp_bytes b, bool compact);
void kp_write_records(kp_writer *w, const kp_records *rec, bool compact);
void kp_write_array_len(kp_writer *w, int32_t n, bool compact);
void kp_write_raw(kp_writer *w, const void *p, size_t n);
/* Overwrite 4 bytes at offset off (for frame lengths). */
void kp_writer_patch_int32(kp_writer *w, size_t off, int32_t v);

static inline kp_str kp_str_c(const char *s) { kp_str r = { s, s ? (int32_t)__builtin_strlen(s) : -1 }; return r; }
bool kp_str_eq(kp_str a, const char *s);

#endif
