/*
 * dump_log.c - `gregor dump-log` (kafka-dump-log.sh): decodes segment files
 * from disk, no broker needed.
 *
 *   .log        one line per record batch in Kafka's format; with
 *               --deep-iteration or --print-data-log one line per record,
 *               compressed batches included (gzip, snappy raw or
 *               xerial-framed, lz4 frame, zstd). A torn or corrupt tail is
 *               reported as Kafka does ("Found N invalid bytes at the end of
 *               F") with the position and reason, after everything valid.
 *   .index      `offset: N position: P` per entry; every entry must name the
 *               start of a batch in the .log beside it whose last offset is N.
 *   .timeindex  `timestamp: T offset: N` per entry; N must lie in a batch of
 *               the .log whose maxTimestamp is T, and T must increase.
 * Index problems are printed to stderr at the end in Kafka's words; with
 * --index-sanity-check or --verify-index-only they also make the exit code 1.
 *
 * Files are mmap()ed read-only. Everything read is untrusted: every length
 * is checked against what is left before it is used, decompression output
 * is bounded (DL_DECOMPRESSED_BYTES_MAX) and record parsing uses a reader
 * with a sticky error flag. Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "base/crc32c.h"
#include "proto/batch.h"
#include "tools/common.h"
#include "tools/tools.h"

#define DL_DECOMPRESSED_BYTES_MAX (256u * 1024 * 1024) /* one batch's records, inflated */
#define DL_FILES_MAX 4096
#define DL_INDEX_ENTRY_BYTES 8
#define DL_TIMEINDEX_ENTRY_BYTES 12
#define DL_ATTR_DELETE_HORIZON 0x40
#define DL_PROBLEMS_MAX 10000 /* lines of mismatches kept per run */

static const char *const dl_cmd = "dump-log";

typedef struct dl_opts {
    bool print_data;     /* --print-data-log: keys and payloads */
    bool deep;           /* --deep-iteration (implied by print_data) */
    bool sanity_only;    /* --index-sanity-check */
    bool verify_only;    /* --verify-index-only */
    bool skip_metadata;  /* --skip-record-metadata */
    int64_t max_bytes;   /* --max-bytes, INT64_MAX when not given */
} dl_opts;

/* Problems found in index files, printed to stderr after all files. */
typedef struct dl_report {
    FILE *f;             /* open_memstream */
    char *buf;
    size_t len;
    int lines;
    bool index_problem;  /* any index mismatch or failed sanity check */
} dl_report;

/* ---- byte access ---- */

static uint16_t dl_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t dl_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t dl_be64(const uint8_t *p) { return (uint64_t)dl_be32(p) << 32 | dl_be32(p + 4); }

/* A read-only mapping of a whole file. */
typedef struct dl_map {
    const uint8_t *p;
    size_t len;
} dl_map;

static int dl_map_open(const char *path, dl_map *m)
{
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return -1;
        }
        m->p = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

static void dl_map_close(dl_map *m)
{
    if (m->p)
        munmap((void *)m->p, m->len);
    m->p = NULL;
}

/* ---- a growable output buffer with a hard limit ---- */

typedef struct dl_buf {
    uint8_t *p;
    size_t len, cap;
} dl_buf;

static int dl_buf_reserve(dl_buf *b, size_t more)
{
    if (more > DL_DECOMPRESSED_BYTES_MAX - b->len)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->len + more)
        cap *= 2;
    if (cap > DL_DECOMPRESSED_BYTES_MAX)
        cap = DL_DECOMPRESSED_BYTES_MAX;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* ---- decompression: each returns NULL or a reason ---- */

static const char *dl_gunzip(const uint8_t *in, size_t n, dl_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
        return "gzip: cannot initialise zlib";
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    const char *why = NULL;
    for (;;) {
        if (dl_buf_reserve(out, 64 * 1024) < 0) {
            why = "gzip: decompressed records exceed the limit";
            break;
        }
        zs.next_out = out->p + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        int zr = inflate(&zs, Z_NO_FLUSH);
        out->len = out->cap - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            why = zs.msg ? zs.msg : "gzip: corrupt data";
            break;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            why = "gzip: truncated data";
            break;
        }
    }
    inflateEnd(&zs);
    return why;
}

static const char *dl_snappy_block(const uint8_t *in, size_t n, dl_buf *out)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
        return "snappy: corrupt data";
    if (dl_buf_reserve(out, ulen) < 0)
        return "snappy: decompressed records exceed the limit";
    if (snappy_uncompress((const char *)in, n, (char *)out->p + out->len, &ulen) != SNAPPY_OK)
        return "snappy: corrupt data";
    out->len += ulen;
    return NULL;
}

/* Java producers write xerial-framed snappy (magic, version, compat, then
 * length-prefixed blocks); librdkafka writes one raw block. */
static const char *dl_unsnappy(const uint8_t *in, size_t n, dl_buf *out)
{
    static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
    if (n < 16 || memcmp(in, xerial_magic, 8) != 0)
        return dl_snappy_block(in, n, out);
    size_t pos = 16;
    while (pos < n) {
        if (n - pos < 4)
            return "snappy: truncated xerial block header";
        uint32_t blen = dl_be32(in + pos);
        pos += 4;
        if (blen > n - pos)
            return "snappy: xerial block longer than the data";
        const char *why = dl_snappy_block(in + pos, blen, out);
        if (why)
            return why;
        pos += blen;
    }
    return NULL;
}

static const char *dl_unlz4(const uint8_t *in, size_t n, dl_buf *out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return "lz4: cannot create a context";
    const char *why = NULL;
    size_t pos = 0;
    while (pos < n) {
        if (dl_buf_reserve(out, 64 * 1024) < 0) {
            why = "lz4: decompressed records exceed the limit";
            break;
        }
        size_t dst = out->cap - out->len, src = n - pos;
        size_t r = LZ4F_decompress(dctx, out->p + out->len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r)) {
            why = LZ4F_getErrorName(r);
            break;
        }
        out->len += dst;
        pos += src;
        if (r == 0) /* end of frame */
            break;
        if (src == 0 && dst == 0) {
            why = "lz4: truncated frame";
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return why;
}

static const char *dl_unzstd(const uint8_t *in, size_t n, dl_buf *out)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds)
        return "zstd: cannot create a context";
    ZSTD_initDStream(ds);
    ZSTD_inBuffer ib = { in, n, 0 };
    const char *why = NULL;
    size_t r = 1;
    while (ib.pos < ib.size || r != 0) {
        if (dl_buf_reserve(out, 64 * 1024) < 0) {
            why = "zstd: decompressed records exceed the limit";
            break;
        }
        ZSTD_outBuffer ob = { out->p + out->len, out->cap - out->len, 0 };
        size_t in_before = ib.pos;
        r = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(r)) {
            why = ZSTD_getErrorName(r);
            break;
        }
        out->len += ob.pos;
        if (ob.pos == 0 && ib.pos == in_before) {
            if (r != 0)
                why = "zstd: truncated frame";
            break;
        }
    }
    ZSTD_freeDStream(ds);
    return why;
}

static const char *const dl_codec_names[8] = { "none", "gzip", "snappy", "lz4", "zstd", "unknown(5)",
                                               "unknown(6)", "unknown(7)" };

/* ---- records ---- */

/* A cursor over untrusted bytes: after the first error every read is a no-op. */
typedef struct dl_rd {
    const uint8_t *p, *end;
    const char *err;
} dl_rd;

static uint64_t dl_rd_uvarint(dl_rd *r, int max_bytes)
{
    uint64_t v = 0;
    for (int k = 0; k < max_bytes; k++) {
        if (r->err || r->p >= r->end) {
            r->err = r->err ? r->err : "truncated varint";
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * k);
        if (!(b & 0x80))
            return v;
    }
    r->err = "varint too long";
    return 0;
}

static int64_t dl_rd_varlong(dl_rd *r)
{
    uint64_t u = dl_rd_uvarint(r, 10);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static int32_t dl_rd_varint(dl_rd *r)
{
    uint64_t u = dl_rd_uvarint(r, 5);
    if (u > UINT32_MAX) {
        r->err = r->err ? r->err : "varint out of range";
        return 0;
    }
    return (int32_t)((uint32_t)(u >> 1) ^ -(uint32_t)(u & 1));
}

/* n bytes (NULL for n == -1, a null field). */
static const uint8_t *dl_rd_bytes(dl_rd *r, int32_t n)
{
    if (r->err || n == -1)
        return NULL;
    if (n < -1 || (size_t)n > (size_t)(r->end - r->p)) {
        r->err = "field length out of range";
        return NULL;
    }
    const uint8_t *s = r->p;
    r->p += n;
    return s;
}

/* Kafka's DefaultRecordBatch.incrementSequence: wraps past Integer.MAX_VALUE. */
static int32_t dl_seq_add(int32_t base, int32_t delta)
{
    if (base < 0)
        return -1;
    int64_t sum = (int64_t)base + delta;
    if (sum > INT32_MAX)
        return (int32_t)((int64_t)delta - ((int64_t)INT32_MAX - base) - 1);
    return (int32_t)sum;
}

/* a + b as Java's long arithmetic does it: wrapping, never undefined. */
static int64_t dl_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* What a batch header says, for its records. */
typedef struct dl_batch {
    int64_t base_offset;
    int16_t attributes;
    int64_t base_ts, max_ts;
    int32_t base_seq;
    int32_t count;
} dl_batch;

typedef struct dl_consec {
    int64_t last_offset;  /* -1 before the first record */
    int pairs;            /* non-consecutive pairs reported */
    FILE *f;              /* where they are reported (the report stream) */
    const char *path;
} dl_consec;

static void dl_print_control(const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    if (!key || klen < 4) {
        printf(" controlType: UNKNOWN(-1)");
        return;
    }
    int16_t type = (int16_t)dl_be16(key + 2);
    if ((type == 0 || type == 1) && val && vlen >= 6)
        printf(" endTxnMarker: %s coordinatorEpoch: %" PRId32, type ? "COMMIT" : "ABORT",
               (int32_t)dl_be32(val + 2));
    else
        printf(" controlType: UNKNOWN(%d)", type);
}

/* One record; prints its line. Returns false when it does not parse. */
static bool dl_record_print(dl_rd *r, const dl_batch *b, const dl_opts *o, dl_consec *cs)
{
    int32_t len = dl_rd_varint(r);
    if (r->err || len < 0 || (size_t)len > (size_t)(r->end - r->p)) {
        r->err = r->err ? r->err : "record length out of range";
        return false;
    }
    dl_rd rec = { r->p, r->p + len, NULL };
    r->p += len;
    dl_rd_bytes(&rec, 1); /* attributes, unused */
    int64_t ts_delta = dl_rd_varlong(&rec);
    int32_t off_delta = dl_rd_varint(&rec);
    int32_t klen = dl_rd_varint(&rec);
    const uint8_t *key = dl_rd_bytes(&rec, klen);
    int32_t vlen = dl_rd_varint(&rec);
    const uint8_t *val = dl_rd_bytes(&rec, vlen);
    int32_t nh = dl_rd_varint(&rec);
    if (!rec.err && (nh < 0 || nh > rec.end - rec.p))
        rec.err = "header count out of range";
    const uint8_t *hdrs = rec.p;
    for (int32_t k = 0; k < nh && !rec.err; k++) { /* a first pass checks the framing */
        dl_rd_bytes(&rec, dl_rd_varint(&rec));
        dl_rd_bytes(&rec, dl_rd_varint(&rec));
    }
    if (!rec.err && rec.p != rec.end)
        rec.err = "bytes left over after the record";
    if (rec.err) {
        r->err = rec.err;
        return false;
    }
    int64_t offset = dl_add(b->base_offset, off_delta);
    if (cs->last_offset >= 0 && offset != dl_add(cs->last_offset, 1) && cs->pairs++ < 100) {
        if (cs->pairs == 1)
            fprintf(cs->f, "Non-consecutive offsets in %s\n", cs->path);
        fprintf(cs->f, "  %" PRId64 " is followed by %" PRId64 "\n", cs->last_offset, offset);
    }
    cs->last_offset = offset;
    bool log_append = b->attributes & BATCH_ATTR_TIMESTAMP_TYPE;
    bool control = b->attributes & BATCH_ATTR_CONTROL;
    const char *prefix = "| ";
    if (!o->skip_metadata) {
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %d valueSize: %d sequence: %d headerKeys: [",
               offset, log_append ? "LogAppendTime" : "CreateTime",
               log_append ? b->max_ts : dl_add(b->base_ts, ts_delta), klen, vlen,
               dl_seq_add(b->base_seq, off_delta));
        dl_rd h = { hdrs, rec.end, NULL };
        for (int32_t k = 0; k < nh; k++) {
            int32_t hk = dl_rd_varint(&h);
            const uint8_t *name = dl_rd_bytes(&h, hk);
            dl_rd_bytes(&h, dl_rd_varint(&h));
            printf("%s%.*s", k ? "," : "", name ? (int)hk : 0, name ? (const char *)name : "");
        }
        putchar(']');
        if (control)
            dl_print_control(key, klen, val, vlen);
        prefix = " ";
    }
    if (o->print_data && !control) {
        if (key) {
            printf("%skey: ", prefix);
            fwrite(key, 1, (size_t)klen, stdout);
            prefix = " ";
        }
        if (val) {
            fputs(" payload: ", stdout);
            fwrite(val, 1, (size_t)vlen, stdout);
        }
    }
    putchar('\n');
    return true;
}

/* The records of one batch (p: the batch, total bytes long). */
static void dl_batch_records(const uint8_t *p, size_t total, const dl_opts *o, dl_consec *cs,
                             dl_buf *scratch)
{
    dl_batch b = {
        .base_offset = (int64_t)dl_be64(p), .attributes = (int16_t)dl_be16(p + 21),
        .base_ts = (int64_t)dl_be64(p + 27), .max_ts = (int64_t)dl_be64(p + 35),
        .base_seq = (int32_t)dl_be32(p + 53), .count = (int32_t)dl_be32(p + 57),
    };
    const uint8_t *recs = p + BATCH_HEADER_BYTES;
    size_t n = total - BATCH_HEADER_BYTES;
    int codec = b.attributes & BATCH_ATTR_COMPRESSION_MASK;
    const char *why = NULL;
    scratch->len = 0;
    switch (codec) {
    case 0: break;
    case 1: why = dl_gunzip(recs, n, scratch); break;
    case 2: why = dl_unsnappy(recs, n, scratch); break;
    case 3: why = dl_unlz4(recs, n, scratch); break;
    case 4: why = dl_unzstd(recs, n, scratch); break;
    default: why = "unknown compression codec"; break;
    }
    if (why) {
        printf("| records could not be decompressed (%s): %s\n", dl_codec_names[codec], why);
        return;
    }
    if (codec) {
        recs = scratch->p;
        n = scratch->len;
    }
    dl_rd r = { recs, recs + n, NULL };
    int32_t k = 0;
    for (; k < b.count && r.p < r.end; k++)
        if (!dl_record_print(&r, &b, o, cs))
            break;
    if (r.err)
        printf("| record %d of the batch could not be decoded: %s\n", k, r.err);
    else if (k != b.count || r.p != r.end)
        printf("| the batch holds %d records in %zu bytes, its header says %d\n", k,
               (size_t)(r.p - recs), b.count);
}

/* ---- .log ---- */

/* Why the batch at p (len bytes left) cannot be walked over, or NULL. */
static const char *dl_batch_frame_check(const uint8_t *p, size_t len, size_t *total)
{
    if (len < BATCH_LOG_OVERHEAD)
        return "fewer bytes than a batch header";
    int32_t blen = (int32_t)dl_be32(p + 8);
    if (blen < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD)
        return "batch length too small";
    *total = (size_t)blen + BATCH_LOG_OVERHEAD;
    if (*total > len)
        return "batch extends past the end of the file";
    if (p[16] != 2)
        return "magic is not 2";
    return NULL;
}

static void dl_batch_line(const uint8_t *p, size_t total, size_t pos)
{
    int16_t attr = (int16_t)dl_be16(p + 21);
    int32_t last_delta = (int32_t)dl_be32(p + 23), base_seq = (int32_t)dl_be32(p + 53);
    uint32_t crc = dl_be32(p + 17);
    bool valid = crc32c(0, p + 21, total - 21) == crc;
    char horizon[48];
    if (attr & DL_ATTR_DELETE_HORIZON)
        snprintf(horizon, sizeof horizon, "OptionalLong[%" PRId64 "]", (int64_t)dl_be64(p + 27));
    else
        snprintf(horizon, sizeof horizon, "OptionalLong.empty");
    printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %d baseSequence: %d lastSequence: %d"
           " producerId: %" PRId64 " producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %s"
           " isControl: %s deleteHorizonMs: %s position: %zu %s: %" PRId64 " size: %zu magic: 2"
           " compresscodec: %s crc: %" PRIu32 " isvalid: %s\n",
           (int64_t)dl_be64(p), dl_add((int64_t)dl_be64(p), last_delta), (int32_t)dl_be32(p + 57), base_seq,
           dl_seq_add(base_seq, last_delta), (int64_t)dl_be64(p + 43), (int16_t)dl_be16(p + 51),
           (int32_t)dl_be32(p + 12), attr & BATCH_ATTR_TRANSACTIONAL ? "true" : "false",
           attr & BATCH_ATTR_CONTROL ? "true" : "false", horizon, pos,
           attr & BATCH_ATTR_TIMESTAMP_TYPE ? "LogAppendTime" : "CreateTime", (int64_t)dl_be64(p + 35),
           total, dl_codec_names[attr & BATCH_ATTR_COMPRESSION_MASK], crc, valid ? "true" : "false");
}

/* The base offset a segment file is named after, or -1. */
static int64_t dl_name_offset(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int64_t v = 0;
    int digits = 0;
    for (; base[digits] >= '0' && base[digits] <= '9' && digits < 20; digits++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (base[digits] - '0');
    }
    return digits == 20 && base[digits] == '.' ? v : -1;
}

static int dl_dump_log(const char *path, const dl_opts *o, dl_report *rep)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    printf("Log starting offset: %" PRId64 "\n", dl_name_offset(path) >= 0 ? dl_name_offset(path) : 0);
    size_t limit = (uint64_t)o->max_bytes < m.len ? (size_t)o->max_bytes : m.len;
    dl_consec cs = { .last_offset = -1, .f = rep->f, .path = path };
    dl_buf scratch = { 0 };
    size_t pos = 0;
    const char *why = NULL;
    while (pos < limit) {
        size_t total = 0;
        why = dl_batch_frame_check(m.p + pos, limit - pos, &total);
        if (why)
            break;
        dl_batch_line(m.p + pos, total, pos);
        if (o->deep || o->print_data)
            dl_batch_records(m.p + pos, total, o, &cs, &scratch);
        pos += total;
    }
    if (why && limit == m.len) { /* with --max-bytes a cut batch is expected, as in Kafka */
        const char *name = strrchr(path, '/');
        printf("Found %zu invalid bytes at the end of %s (position %zu: %s)\n", m.len - pos,
               name ? name + 1 : path, pos, why);
    }
    free(scratch.p);
    dl_map_close(&m);
    return 0;
}

/* ---- the batches of a .log, for checking its indexes ---- */

typedef struct dl_span {
    int64_t pos, base, last, max_ts;
} dl_span;

typedef struct dl_spans {
    dl_span *v;
    size_t n, cap;
    bool have_log;
} dl_spans;

/* The .log beside an index file: its batches up to the first invalid byte. */
static int dl_spans_load(const char *index_path, dl_spans *s)
{
    memset(s, 0, sizeof *s);
    char log_path[PATH_MAX];
    const char *dot = strrchr(index_path, '.');
    if (!dot || (size_t)(dot - index_path) + 5 > sizeof log_path)
        return 0;
    snprintf(log_path, sizeof log_path, "%.*s.log", (int)(dot - index_path), index_path);
    dl_map m;
    if (dl_map_open(log_path, &m) < 0)
        return 0;
    s->have_log = true;
    size_t pos = 0, total;
    while (pos < m.len && !dl_batch_frame_check(m.p + pos, m.len - pos, &total)) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 1024;
            dl_span *v = realloc(s->v, s->cap * sizeof *v);
            if (!v) {
                dl_map_close(&m);
                return -1;
            }
            s->v = v;
        }
        const uint8_t *p = m.p + pos;
        s->v[s->n++] = (dl_span){ (int64_t)pos, (int64_t)dl_be64(p),
                                  dl_add((int64_t)dl_be64(p), (int32_t)dl_be32(p + 23)),
                                  (int64_t)dl_be64(p + 35) };
        pos += total;
    }
    dl_map_close(&m);
    return 0;
}

/* The batch starting exactly at pos, or NULL. */
static const dl_span *dl_spans_at_pos(const dl_spans *s, int64_t pos)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].pos == pos ? &s->v[lo] : NULL;
}

/* The batch holding offset, or NULL. */
static const dl_span *dl_spans_holding(const dl_spans *s, int64_t offset)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].last < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].base <= offset ? &s->v[lo] : NULL;
}

static void dl_problem(dl_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dl_problem(dl_report *rep, const char *fmt, ...)
{
    rep->index_problem = true;
    if (rep->lines++ >= DL_PROBLEMS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(rep->f, fmt, ap);
    va_end(ap);
}

/* ---- .index ---- */

/*
 * Whether entry i of an index (entries of size bytes) is the preallocated
 * zero tail of an active segment: Kafka's rule (an entry at the base offset
 * after the first), plus an all-zero first entry followed by another.
 */
static bool dl_index_entry_unused(const dl_map *m, size_t i, size_t size, int64_t rel)
{
    static const uint8_t zero[DL_TIMEINDEX_ENTRY_BYTES];
    if (i > 0)
        return rel == 0;
    return m->len >= 2 * size && memcmp(m->p, zero, size) == 0 && memcmp(m->p + size, zero, size) == 0;
}

static int dl_dump_index(const char *path, const dl_opts *o, dl_report *rep)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    int64_t base = dl_name_offset(path);
    base = base < 0 ? 0 : base;
    dl_spans s;
    if (dl_spans_load(path, &s) < 0) {
        dl_map_close(&m);
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    size_t entries = m.len / DL_INDEX_ENTRY_BYTES;
    bool sane = true;
    if (m.len % DL_INDEX_ENTRY_BYTES) {
        dl_problem(rep, "Index file %s is corrupt, found %zu bytes which is neither positive nor a "
                   "multiple of %d.\n", path, m.len, DL_INDEX_ENTRY_BYTES);
        sane = false;
    }
    if (!s.have_log)
        fprintf(stderr, "gregor %s: %s: no .log beside it, entries not checked\n", dl_cmd, path);
    if ((entries == 0 || dl_index_entry_unused(&m, 0, DL_INDEX_ENTRY_BYTES, 0)) && sane)
        printf("%s is empty.\n", path);
    int64_t prev_off = -1, prev_pos = -1;
    bool mismatch_head = false;
    for (size_t i = 0; i < entries; i++) {
        int32_t rel = (int32_t)dl_be32(m.p + i * 8);
        int64_t off = dl_add(base, rel), pos = (int32_t)dl_be32(m.p + i * 8 + 4);
        if (dl_index_entry_unused(&m, i, DL_INDEX_ENTRY_BYTES, rel))
            break;
        if (off <= prev_off || pos <= prev_pos) {
            dl_problem(rep, "Index file %s: entry %zu (offset %" PRId64 " position %" PRId64
                       ") does not increase over the previous one\n", path, i, off, pos);
            sane = false;
        }
        prev_off = off;
        prev_pos = pos;
        const dl_span *b = s.have_log ? dl_spans_at_pos(&s, pos) : NULL;
        if (s.have_log && (!b || b->last != off)) {
            if (!mismatch_head)
                dl_problem(rep, "Mismatches in :%s\n", path);
            mismatch_head = true;
            dl_problem(rep, "  Index offset: %" PRId64 ", log offset: %" PRId64 "%s\n", off,
                       b ? b->last : -1, b ? "" : " (no batch starts at that position)");
            sane = false;
        }
        if (!o->verify_only && !o->sanity_only)
            printf("offset: %" PRId64 " position: %" PRId64 "\n", off, pos);
    }
    if (o->sanity_only && sane)
        printf("%s passed sanity check.\n", path);
    else if (o->sanity_only)
        printf("%s failed sanity check.\n", path);
    free(s.v);
    dl_map_close(&m);
    return 0;
}

/* ---- .timeindex ---- */

static int dl_dump_timeindex(const char *path, const dl_opts *o, dl_report *rep)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    int64_t base = dl_name_offset(path);
    base = base < 0 ? 0 : base;
    dl_spans s;
    if (dl_spans_load(path, &s) < 0) {
        dl_map_close(&m);
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    size_t entries = m.len / DL_TIMEINDEX_ENTRY_BYTES;
    bool sane = true;
    if (m.len % DL_TIMEINDEX_ENTRY_BYTES) {
        dl_problem(rep, "Time index file %s is corrupt, found %zu bytes which is neither positive nor "
                   "a multiple of %d.\n", path, m.len, DL_TIMEINDEX_ENTRY_BYTES);
        sane = false;
    }
    if (!s.have_log)
        fprintf(stderr, "gregor %s: %s: no .log beside it, entries not checked\n", dl_cmd, path);
    if ((entries == 0 || dl_index_entry_unused(&m, 0, DL_TIMEINDEX_ENTRY_BYTES, 0)) && sane)
        printf("%s is empty.\n", path);
    int64_t prev_ts = -1;
    for (size_t i = 0; i < entries; i++) {
        const uint8_t *e = m.p + i * DL_TIMEINDEX_ENTRY_BYTES;
        int32_t rel = (int32_t)dl_be32(e + 8);
        int64_t ts = (int64_t)dl_be64(e), off = dl_add(base, rel);
        if (dl_index_entry_unused(&m, i, DL_TIMEINDEX_ENTRY_BYTES, rel))
            break;
        const dl_span *b = s.have_log ? dl_spans_holding(&s, off) : NULL;
        if (s.have_log && !b) {
            dl_problem(rep, "The following indexed offsets are not found in the log.\n"
                       "Indexed offset: %" PRId64 ", found log offset: -1 (in %s)\n", off, path);
            sane = false;
        } else if (b && b->max_ts != ts) {
            dl_problem(rep, "Found timestamp mismatch in :%s\n  Index timestamp: %" PRId64
                       ", log timestamp: %" PRId64 "\n", path, ts, b->max_ts);
            sane = false;
        }
        if (prev_ts >= ts) {
            dl_problem(rep, "Found out of order timestamp in :%s\n  Index timestamp: %" PRId64
                       ", Previously indexed timestamp: %" PRId64 "\n", path, ts, prev_ts);
            sane = false;
        }
        prev_ts = ts;
        if (!o->verify_only && !o->sanity_only)
            printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts, off);
    }
    if (o->sanity_only)
        printf("%s %s sanity check.\n", path, sane ? "passed" : "failed");
    free(s.v);
    dl_map_close(&m);
    return 0;
}

/* ---- main ---- */

static void dl_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor dump-log --files F1[,F2...] [options]   (kafka-dump-log.sh)\n"
            "Decodes .log, .index and .timeindex files of a partition directory; no broker needed.\n"
            "\n"
            "  --files LIST            comma-separated files to dump (repeatable)\n"
            "  --print-data-log        print every record with its key and payload\n"
            "  --deep-iteration        print every record (compressed batches are decompressed)\n"
            "  --skip-record-metadata  with --print-data-log: only keys and payloads\n"
            "  --index-sanity-check    check index files, print only the verdict\n"
            "  --verify-index-only     check index files, print only the problems\n"
            "  --max-bytes N           read at most N bytes of each .log\n"
            "\n"
            "Index problems go to stderr; with --index-sanity-check or --verify-index-only they\n"
            "make the exit status 1. A torn or corrupt tail of a .log is reported after the\n"
            "valid batches (exit status 0).\n"
            "\n"
            "Example:\n"
            "  gregor dump-log --print-data-log \\\n"
            "      --files data/orders-0/00000000000000000000.log,data/orders-0/00000000000000000000.index\n");
}

static int dl_parse_args(dl_opts *o, char **files, int *nfiles, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (strcmp(a, "--print-data-log") == 0)
            o->print_data = true;
        else if (strcmp(a, "--deep-iteration") == 0)
            o->deep = true;
        else if (strcmp(a, "--index-sanity-check") == 0)
            o->sanity_only = true;
        else if (strcmp(a, "--verify-index-only") == 0)
            o->verify_only = true;
        else if (strcmp(a, "--skip-record-metadata") == 0)
            o->skip_metadata = true;
        else if (strcmp(a, "--offsets-decoder") == 0 || strcmp(a, "--transaction-log-decoder") == 0 ||
                 strcmp(a, "--cluster-metadata-decoder") == 0 ||
                 strcmp(a, "--remote-log-metadata-decoder") == 0)
            fprintf(stderr, "gregor %s: warning: %s is not supported: printing bytes\n", dl_cmd, a);
        else if (strcmp(a, "--files") == 0 || strncmp(a, "--files=", 8) == 0 ||
                 strcmp(a, "--max-bytes") == 0 || strncmp(a, "--max-bytes=", 12) == 0 ||
                 strcmp(a, "--key-decoder-class") == 0 || strcmp(a, "--value-decoder-class") == 0) {
            const char *v = tool_arg_value(argc, argv, &i);
            if (!v)
                return 2;
            if (a[2] == 'f') {
                char *list = (char *)v; /* argv is ours to cut */
                for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
                    if (*nfiles == DL_FILES_MAX) {
                        tool_err(dl_cmd, "more than %d files", DL_FILES_MAX);
                        return 2;
                    }
                    files[(*nfiles)++] = tok;
                }
            } else if (a[2] == 'm') {
                if (tool_parse_int64(v, &o->max_bytes) < 0 || o->max_bytes < 1) {
                    tool_err(dl_cmd, "--max-bytes: not a positive number: %s", v);
                    return 2;
                }
            } else {
                fprintf(stderr, "gregor %s: warning: %s is not supported: printing bytes\n", dl_cmd, a);
            }
        } else {
            tool_err(dl_cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    if (*nfiles == 0) {
        tool_err(dl_cmd, "--files is required (see --help)");
        return 2;
    }
    return 0;
}

static bool dl_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int tool_dump_log_main(int argc, char **argv)
{
    dl_opts o = { .max_bytes = INT64_MAX };
    static char *files[DL_FILES_MAX];
    int nfiles = 0;
    int rc = dl_parse_args(&o, files, &nfiles, argc, argv);
    if (rc < 0) {
        dl_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    dl_report rep = { 0 };
    rep.f = open_memstream(&rep.buf, &rep.len);
    if (!rep.f) {
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    for (int k = 0; k < nfiles; k++) {
        const char *f = files[k];
        printf("Dumping %s\n", f);
        if (dl_ends_with(f, ".log"))
            rc |= dl_dump_log(f, &o, &rep);
        else if (dl_ends_with(f, ".index"))
            rc |= dl_dump_index(f, &o, &rep);
        else if (dl_ends_with(f, ".timeindex"))
            rc |= dl_dump_timeindex(f, &o, &rep);
        else
            fprintf(stderr, "Ignoring unknown file %s\n", f);
    }
    fflush(stdout);
    fclose(rep.f);
    if (rep.len)
        fwrite(rep.buf, 1, rep.len, stderr);
    if (rep.lines > DL_PROBLEMS_MAX)
        fprintf(stderr, "... and %d more problem lines\n", rep.lines - DL_PROBLEMS_MAX);
    free(rep.buf);
    if (rep.index_problem && (o.sanity_only || o.verify_only))
        rc = 1;
    return rc;
}
