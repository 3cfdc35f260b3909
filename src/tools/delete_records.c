/*
 * delete_records.c - `gregor delete-records`, the counterpart of
 * kafka-delete-records.sh (org.apache.kafka.tools.DeleteRecordsCommand):
 *
 *   gregor delete-records --bootstrap-server H:P --offset-json-file F
 *
 * F is Kafka's format:
 *   {"partitions":[{"topic":"t","partition":0,"offset":N}],"version":1}
 * ("version" may be left out; offset -1 means the high watermark). Each
 * partition's log start offset (its low watermark) moves up to its offset
 * with DeleteRecords (API 21, v0-2) sent to the partition's leader, and the
 * output is Kafka 4.4's tool's:
 *
 *   Executing records delete operation
 *   Records delete operation completed:
 *   partition: t-0	low_watermark: 5
 *   partition: t-1	error: org.apache.kafka.common.errors.OffsetOutOfRangeException: The
 *   requested offset is not within the range of offsets maintained by the server.
 *
 * one line a partition, in the file's order (Kafka's tool prints them in an
 * order that changes from run to run: see dr_execute), an error as the
 * exception Kafka's admin client makes of the partition's error code (class
 * name and Kafka's message).
 * A bad file gets Kafka's sentence ("The input string is not a valid JSON",
 * "Missing partitions field", "Expected `Integer` value, received "x"",
 * "Offset json file contains duplicate topic partitions: t-0", ...).
 *
 * Where this differs from Kafka's tool, on purpose:
 *  - a topic or partition the cluster does not have is reported at once as
 *    UnknownTopicOrPartitionException; Kafka's admin client looks it up again
 *    until its 60-second API timeout and then reports a TimeoutException;
 *  - other retriable errors (no leader, not the leader, a request timeout)
 *    are retried within --timeout-ms (default 10 s), not 60 s;
 *  - the exit status is 1 when any partition failed (Kafka's tool exits 0).
 *
 * librdkafka 2.0 has DeleteRecords but not its per-partition error codes in
 * a form that keeps Kafka's messages, and the tools already speak raw
 * requests, so the requests are our own over a plain socket
 * (tool_raw_request): ApiVersions, Metadata for the leaders, DeleteRecords
 * to each leader with timeout_ms = --timeout-ms. Every wait is bounded by
 * --timeout-ms. Main thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/tools.h"

#define CMD "delete-records"
#define DR_ARENA_MAX (512u << 20)
#define DR_FILE_MAX (64u << 20)  /* bound on the offset JSON file */
#define DR_JSON_DEPTH_MAX 512

typedef struct dr_ctx {
    tool_opts o;
    const char *file;
    arena ar;
    kp_api_versions_resp av;
} dr_ctx;

/* ---- a small JSON reader (Jackson's strict defaults) ---- */

typedef enum dr_jtype { DRJ_NULL, DRJ_BOOL, DRJ_INT, DRJ_LONG, DRJ_BIG, DRJ_DOUBLE, DRJ_STR,
                        DRJ_ARR, DRJ_OBJ } dr_jtype;

typedef struct dr_json dr_json;
struct dr_json {
    dr_jtype type;
    bool b;
    int64_t i;        /* DRJ_INT, DRJ_LONG */
    double d;         /* DRJ_DOUBLE */
    char *s;          /* DRJ_STR: the decoded string (UTF-8); DRJ_BIG: its digits */
    size_t slen;
    dr_json **items;  /* DRJ_ARR: values; DRJ_OBJ: values, with keys */
    char **keys;      /* DRJ_OBJ */
    size_t *klens;
    size_t n;
};

typedef struct dr_parser {
    dr_ctx *c;
    const char *p, *end;
    bool oom;
} dr_parser;

static void dr_ws(dr_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static dr_json *dr_new(dr_parser *ps, dr_jtype t)
{
    dr_json *j = arena_alloc(&ps->c->ar, sizeof *j);
    if (!j) {
        ps->oom = true;
        return NULL;
    }
    j->type = t;
    return j;
}

static int dr_hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p[k];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (uint32_t)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t dr_put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at ps->p (on the '"'); its decoded bytes in *out. */
static int dr_string(dr_parser *ps, char **out, size_t *outlen)
{
    const char *p = ps->p + 1;
    const char *close = p;
    while (close < ps->end && *close != '"') {
        if (*close == '\\')
            close++;
        close++;
    }
    if (close >= ps->end)
        return -1;
    /* decoded is never longer than the source */
    char *o = arena_alloc(&ps->c->ar, (size_t)(close - p) + 1);
    if (!o) {
        ps->oom = true;
        return -1;
    }
    size_t n = 0;
    while (p < close) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20)
            return -1; /* raw control characters are not allowed */
        if (ch != '\\') {
            o[n++] = (char)ch;
            p++;
            continue;
        }
        p++;
        switch (*p) {
        case '"': o[n++] = '"'; p++; break;
        case '\\': o[n++] = '\\'; p++; break;
        case '/': o[n++] = '/'; p++; break;
        case 'b': o[n++] = '\b'; p++; break;
        case 'f': o[n++] = '\f'; p++; break;
        case 'n': o[n++] = '\n'; p++; break;
        case 'r': o[n++] = '\r'; p++; break;
        case 't': o[n++] = '\t'; p++; break;
        case 'u': {
            uint32_t cp;
            if (close - p < 5 || dr_hex4(p + 1, &cp) < 0)
                return -1;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF && close - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo;
                if (dr_hex4(p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* a lone surrogate */
            n += dr_put_utf8(o + n, cp);
            break;
        }
        default:
            return -1;
        }
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    ps->p = close + 1;
    return 0;
}

static dr_json *dr_value(dr_parser *ps, int depth);

static dr_json *dr_number(dr_parser *ps)
{
    const char *s = ps->p, *p = s;
    bool integral = true;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || !(*p >= '0' && *p <= '9'))
        return NULL;
    if (*p == '0') {
        p++;
        if (p < ps->end && *p >= '0' && *p <= '9')
            return NULL; /* leading zeros */
    } else {
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && *p == '.') {
        integral = false;
        p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return NULL;
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return NULL;
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t len = (size_t)(p - s);
    char *text = arena_strndup(&ps->c->ar, s, len);
    dr_json *j = dr_new(ps, DRJ_DOUBLE);
    if (!text || !j) {
        ps->oom = true;
        return NULL;
    }
    ps->p = p;
    if (integral) {
        /* Jackson: IntNode when it fits an int, LongNode a long, else a BigInteger */
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            j->type = DRJ_BIG;
            j->s = text;
            j->slen = len;
            return j;
        }
        j->i = v;
        j->type = v >= INT32_MIN && v <= INT32_MAX ? DRJ_INT : DRJ_LONG;
        return j;
    }
    j->d = strtod(text, NULL);
    return j;
}

static dr_json *dr_value(dr_parser *ps, int depth)
{
    dr_ws(ps);
    if (ps->p >= ps->end || depth > DR_JSON_DEPTH_MAX)
        return NULL;
    char ch = *ps->p;
    if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        dr_json *j = dr_new(ps, obj ? DRJ_OBJ : DRJ_ARR);
        if (!j)
            return NULL;
        size_t cap = 0;
        ps->p++;
        dr_ws(ps);
        if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
            ps->p++;
            return j;
        }
        for (;;) {
            char *key = NULL;
            size_t klen = 0;
            dr_ws(ps);
            if (obj) {
                if (ps->p >= ps->end || *ps->p != '"' || dr_string(ps, &key, &klen) < 0)
                    return NULL;
                dr_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return NULL;
                ps->p++;
            }
            dr_json *v = dr_value(ps, depth + 1);
            if (!v)
                return NULL;
            /* a key seen again keeps its place and takes the new value
             * (Jackson's ObjectNode is a LinkedHashMap) */
            size_t at = j->n;
            for (size_t k = 0; obj && k < j->n; k++)
                if (j->klens[k] == klen && memcmp(j->keys[k], key, klen) == 0)
                    at = k;
            if (at == j->n) {
                if (j->n == cap) {
                    size_t ncap = cap ? cap * 2 : 8;
                    dr_json **ni = arena_alloc(&ps->c->ar, sizeof *ni * ncap);
                    char **nk = obj ? arena_alloc(&ps->c->ar, sizeof *nk * ncap) : NULL;
                    size_t *nl = obj ? arena_alloc(&ps->c->ar, sizeof *nl * ncap) : NULL;
                    if (!ni || (obj && (!nk || !nl))) {
                        ps->oom = true;
                        return NULL;
                    }
                    if (j->n) {
                        memcpy(ni, j->items, sizeof *ni * j->n);
                        if (obj) {
                            memcpy(nk, j->keys, sizeof *nk * j->n);
                            memcpy(nl, j->klens, sizeof *nl * j->n);
                        }
                    }
                    j->items = ni;
                    j->keys = nk;
                    j->klens = nl;
                    cap = ncap;
                }
                j->n++;
            }
            j->items[at] = v;
            if (obj) {
                j->keys[at] = key;
                j->klens[at] = klen;
            }
            dr_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
                ps->p++;
                return j;
            }
            return NULL;
        }
    }
    if (ch == '"') {
        dr_json *j = dr_new(ps, DRJ_STR);
        if (!j || dr_string(ps, &j->s, &j->slen) < 0)
            return NULL;
        return j;
    }
    static const struct { const char *word; dr_jtype t; bool b; } words[] = {
        { "true", DRJ_BOOL, true }, { "false", DRJ_BOOL, false }, { "null", DRJ_NULL, false },
    };
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t n = strlen(words[k].word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[k].word, n) == 0) {
            dr_json *j = dr_new(ps, words[k].t);
            if (!j)
                return NULL;
            j->b = words[k].b;
            ps->p += n;
            return j;
        }
    }
    return dr_number(ps);
}

static const dr_json *dr_get(const dr_json *obj, const char *key)
{
    size_t n = strlen(key);
    for (size_t k = 0; k < obj->n; k++)
        if (obj->klens[k] == n && memcmp(obj->keys[k], key, n) == 0)
            return obj->items[k];
    return NULL;
}

/* ---- a node as Jackson's JsonNode.toString writes it (Kafka's messages
 * quote the offending value) ---- */

typedef struct dr_buf {
    char *p;
    size_t len, cap;
} dr_buf;

static void dr_buf_add(dr_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            fprintf(stderr, "gregor %s: out of memory\n", CMD);
            exit(1);
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void dr_buf_str(dr_buf *b, const char *s)
{
    dr_buf_add(b, s, strlen(s));
}

static void dr_buf_json_str(dr_buf *b, const char *s, size_t n)
{
    dr_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            dr_buf_add(b, esc, 2);
        } else if (ch < 0x20) {
            const char *short_esc = ch == '\b' ? "\\b" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n"
                                  : ch == '\f' ? "\\f" : ch == '\r' ? "\\r" : NULL;
            if (short_esc) {
                dr_buf_str(b, short_esc);
            } else {
                snprintf(esc, sizeof esc, "\\u%04X", ch);
                dr_buf_str(b, esc);
            }
        } else {
            dr_buf_add(b, (const char *)&ch, 1);
        }
    }
    dr_buf_add(b, "\"", 1);
}

/* Java's Double.toString: the shortest digits that read back the same, as
 * d.ddd between 10^-3 and 10^7, else as d.dddE<n>. */
static void dr_buf_double(dr_buf *b, double d)
{
    char out[64];
    if (isnan(d) || isinf(d)) {
        dr_buf_str(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) {
        dr_buf_str(b, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e: [-]D[.DDD]e[+-]XX */
    bool neg = e[0] == '-';
    const char *m = neg ? e + 1 : e;
    char digits[32];
    size_t nd = 0;
    const char *q = m;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    double ad = fabs(d);
    if (ad >= 1e-3 && ad < 1e7) {
        if (exp10 >= 0) {
            for (int k = 0; k <= exp10; k++)
                out[o++] = (size_t)k < nd ? digits[k] : '0';
            out[o++] = '.';
            if ((size_t)exp10 + 1 < nd)
                for (size_t k = (size_t)exp10 + 1; k < nd; k++)
                    out[o++] = digits[k];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -exp10 - 1; k++)
                out[o++] = '0';
            for (size_t k = 0; k < nd; k++)
                out[o++] = digits[k];
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        out[o++] = '.';
        if (nd > 1)
            for (size_t k = 1; k < nd; k++)
                out[o++] = digits[k];
        else
            out[o++] = '0';
        snprintf(out + o, sizeof out - o, "E%d", exp10);
    }
    dr_buf_str(b, out);
}

static void dr_buf_node(dr_buf *b, const dr_json *j)
{
    char num[32];
    switch (j->type) {
    case DRJ_NULL: dr_buf_str(b, "null"); break;
    case DRJ_BOOL: dr_buf_str(b, j->b ? "true" : "false"); break;
    case DRJ_INT:
    case DRJ_LONG:
        snprintf(num, sizeof num, "%" PRId64, j->i);
        dr_buf_str(b, num);
        break;
    case DRJ_BIG: dr_buf_add(b, j->s, j->slen); break;
    case DRJ_DOUBLE: dr_buf_double(b, j->d); break;
    case DRJ_STR: dr_buf_json_str(b, j->s, j->slen); break;
    case DRJ_ARR:
        dr_buf_str(b, "[");
        for (size_t k = 0; k < j->n; k++) {
            if (k)
                dr_buf_str(b, ",");
            dr_buf_node(b, j->items[k]);
        }
        dr_buf_str(b, "]");
        break;
    case DRJ_OBJ:
        dr_buf_str(b, "{");
        for (size_t k = 0; k < j->n; k++) {
            if (k)
                dr_buf_str(b, ",");
            dr_buf_json_str(b, j->keys[k], j->klens[k]);
            dr_buf_str(b, ":");
            dr_buf_node(b, j->items[k]);
        }
        dr_buf_str(b, "}");
        break;
    }
}

/* "gregor delete-records: <what> <node>" with the node as Jackson prints it. */
static void dr_err_node(const char *what, const dr_json *j)
{
    dr_buf b = { 0 };
    dr_buf_node(&b, j);
    tool_err(CMD, "%s%s", what, b.p ? b.p : "");
    free(b.p);
}

/* ---- the offset file ---- */

typedef struct dr_part {
    char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    /* the result */
    bool done;
    int16_t error;          /* the last Kafka error code (0: none) */
    const char *error_text; /* instead of error: a sentence of Kafka's admin client */
    int64_t low_watermark;
    int32_t leader;
} dr_part;

static char *dr_read_file(dr_ctx *c, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tool_err(CMD, "Unable to read file %s: %s", path, strerror(errno));
        return NULL;
    }
    /* in chunks: the file may be a pipe */
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool bad = false;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = ncap <= (size_t)DR_FILE_MAX + 65536 ? realloc(buf, ncap + 1) : NULL;
            if (!nb) {
                bad = true;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > DR_FILE_MAX)
            break;
    }
    bad = bad || ferror(f) || n > DR_FILE_MAX;
    fclose(f);
    char *text = bad ? NULL : arena_strndup(&c->ar, buf ? buf : "", n);
    free(buf);
    if (!text) {
        tool_err(CMD, "Unable to read file %s%s", path,
                 n > DR_FILE_MAX ? ": larger than the 64 MiB limit" : "");
        return NULL;
    }
    *len = n;
    return text;
}

/* Kafka's DecodeJson: `Integer` is an int node, `Long` an int or long one,
 * `String` a text node. 0, or -1 after Kafka's sentence. */
static int dr_to_int(const dr_json *j, int32_t *out)
{
    if (j->type != DRJ_INT) {
        dr_err_node("Expected `Integer` value, received ", j);
        return -1;
    }
    *out = (int32_t)j->i;
    return 0;
}

static int dr_to_long(const dr_json *j, int64_t *out)
{
    if (j->type != DRJ_INT && j->type != DRJ_LONG) {
        dr_err_node("Expected `Long` value, received ", j);
        return -1;
    }
    *out = j->i;
    return 0;
}

static const dr_json *dr_field(const dr_json *obj, const char *key)
{
    const dr_json *v = dr_get(obj, key);
    if (!v)
        tool_err(CMD, "No such field exists: `%s`", key);
    return v;
}

/* The partitions of the file in its order; -1 after Kafka's sentence. */
static int dr_parse_file(dr_ctx *c, dr_part **out, size_t *out_n)
{
    size_t len;
    char *text = dr_read_file(c, c->file, &len);
    if (!text)
        return -1;
    dr_parser ps = { c, text, text + len, false };
    /* Jackson reads the first value and ignores what follows it */
    const dr_json *js = dr_value(&ps, 0);
    if (ps.oom) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    if (!js) {
        tool_err(CMD, "The input string is not a valid JSON");
        return -1;
    }
    if (js->type != DRJ_OBJ) {
        dr_err_node("Expected JSON object, received ", js);
        return -1;
    }
    int32_t version = 1;
    const dr_json *v = dr_get(js, "version");
    if (v && dr_to_int(v, &version) < 0)
        return -1;
    if (version != 1) {
        tool_err(CMD, "Not supported version field value %" PRId32, version);
        return -1;
    }
    const dr_json *parts = dr_get(js, "partitions");
    if (!parts) {
        tool_err(CMD, "Missing partitions field");
        return -1;
    }
    if (parts->type != DRJ_ARR) {
        dr_err_node("Expected JSON array, received ", parts);
        return -1;
    }
    dr_part *p = arena_alloc(&c->ar, sizeof *p * (parts->n ? parts->n : 1));
    if (!p) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < parts->n; k++) {
        const dr_json *e = parts->items[k];
        if (e->type != DRJ_OBJ) {
            dr_err_node("Expected JSON object, received ", e);
            return -1;
        }
        const dr_json *t = dr_field(e, "topic");
        if (!t)
            return -1;
        if (t->type != DRJ_STR) {
            dr_err_node("Expected `String` value, received ", t);
            return -1;
        }
        const dr_json *pn = dr_field(e, "partition");
        if (!pn || dr_to_int(pn, &p[k].partition) < 0)
            return -1;
        const dr_json *off = dr_field(e, "offset");
        if (!off || dr_to_long(off, &p[k].offset) < 0)
            return -1;
        p[k].topic = t->s;
        p[k].topic_len = t->slen;
    }
    *out = p;
    *out_n = parts->n;
    return 0;
}

/* ---- Java's HashMap iteration order (javaorder.c) ---- */

/* Reorder v (n distinct partitions) as a Java HashMap or HashSet with an
 * initial table of cap0 (16: `new HashMap<>()`) iterates them when they are
 * put in v's order. */
static int dr_jhm_order(dr_ctx *c, dr_part **v, size_t n, size_t cap0)
{
    int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (n ? n : 1));
    if (!hash)
        return -1;
    for (size_t i = 0; i < n; i++)
        hash[i] = jo_tp_hash(v[i]->topic, v[i]->topic_len, v[i]->partition);
    return jo_put_reorder(v, sizeof *v, n, hash, cap0);
}

static bool dr_same_tp(const dr_part *a, const dr_part *b)
{
    return a->partition == b->partition && a->topic_len == b->topic_len &&
           memcmp(a->topic, b->topic, a->topic_len) == 0;
}

/* ---- Kafka's exceptions for error codes ---- */

static const struct dr_kerr {
    int16_t code;
    const char *cls; /* under org.apache.kafka.common.errors. */
    const char *msg;
} dr_kerrs[] = {
    { -1, "UnknownServerException", "The server experienced an unexpected error when processing the request." },
    { 1, "OffsetOutOfRangeException", "The requested offset is not within the range of offsets maintained by the server." },
    { 2, "CorruptRecordException", "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt." },
    { 3, "UnknownTopicOrPartitionException", "This server does not host this topic-partition." },
    { 5, "LeaderNotAvailableException", "There is no leader for this topic-partition as we are in the middle of a leadership election." },
    { 6, "NotLeaderOrFollowerException", "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition." },
    { 7, "TimeoutException", "The request timed out." },
    { 8, "BrokerNotAvailableException", "The broker is not available." },
    { 9, "ReplicaNotAvailableException", "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition." },
    { 13, "NetworkException", "The server disconnected before a response was received." },
    { 17, "InvalidTopicException", "The request attempted to perform an operation on an invalid topic." },
    { 29, "TopicAuthorizationException", "Topic authorization failed." },
    { 31, "ClusterAuthorizationException", "Cluster authorization failed." },
    { 35, "UnsupportedVersionException", "The version of API is not supported." },
    { 42, "InvalidRequestException", "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details." },
    { 44, "PolicyViolationException", "Request parameters do not satisfy the configured policy." },
    { 55, "OperationNotAttemptedException", "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest." },
    { 56, "KafkaStorageException", "Disk error when trying to access log file on the disk." },
    { 74, "FencedLeaderEpochException", "The leader epoch in the request is older than the epoch on the broker." },
    { 75, "UnknownLeaderEpochException", "The leader epoch in the request is newer than the epoch on the broker." },
};

/* "org.apache.kafka.common.errors.X: message" for code, into buf. */
static const char *dr_exception(int16_t code, char *buf, size_t len)
{
    for (size_t k = 0; k < sizeof dr_kerrs / sizeof dr_kerrs[0]; k++)
        if (dr_kerrs[k].code == code) {
            snprintf(buf, len, "org.apache.kafka.common.errors.%s: %s", dr_kerrs[k].cls, dr_kerrs[k].msg);
            return buf;
        }
    snprintf(buf, len, "%s (error code %d)", kerr_name(code), code);
    return buf;
}

/* Errors Kafka's admin client looks up the leader again for, or sends again. */
static bool dr_retriable(int16_t code)
{
    switch (code) {
    case 3: case 5: case 6: case 7: case 8: case 9: case 13: case 19: case 20: case 56:
    case 74: case 75:
        return true;
    default:
        return false;
    }
}

/* ---- requests ---- */

/* Metadata for the topics of the partitions not done yet: each one's leader,
 * or its final error. 0, or -1 after a message. */
static int dr_lookup(dr_ctx *c, dr_part **v, size_t n, kp_metadata_resp *md)
{
    int16_t ver;
    char err[512];
    if (tool_api_version_or_err(&c->o, &c->av, KP_API_METADATA, &ver) < 0)
        return -1;
    kp_metadata_req req;
    kp_metadata_req_init(&req);
    req.allow_auto_topic_creation = false;
    req.topics = arena_alloc(&c->ar, sizeof *req.topics * (n ? n : 1));
    if (!req.topics) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    req.topics_n = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->done)
            continue;
        bool seen = false;
        for (int32_t t = 0; t < req.topics_n && !seen; t++)
            seen = (size_t)req.topics[t].name.len == v[i]->topic_len &&
                   memcmp(req.topics[t].name.ptr, v[i]->topic, v[i]->topic_len) == 0;
        if (seen)
            continue;
        kp_metadata_req_topic_init(&req.topics[req.topics_n]);
        req.topics[req.topics_n].name.ptr = v[i]->topic;
        req.topics[req.topics_n].name.len = (int32_t)v[i]->topic_len;
        req.topics_n++;
    }
    if (tool_raw_request(&c->o, KP_API_METADATA, ver, &req, md, &c->ar, err, sizeof err) < 0) {
        tool_err(CMD, "Metadata: %s", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        dr_part *p = v[i];
        if (p->done)
            continue;
        p->leader = -1;
        const kp_metadata_resp_topic *t = NULL;
        for (int32_t k = 0; k < md->topics_n && !t; k++)
            if ((size_t)md->topics[k].name.len == p->topic_len &&
                memcmp(md->topics[k].name.ptr, p->topic, p->topic_len) == 0)
                t = &md->topics[k];
        if (!t || t->error_code == 3) {
            /* at once, where Kafka's admin client asks until its timeout */
            p->done = true;
            p->error = 3;
            continue;
        }
        if (t->error_code == 17 || t->error_code == 29) {
            /* Kafka's PartitionLeaderStrategy's sentences */
            char buf[1024];
            if (t->error_code == 17)
                snprintf(buf, sizeof buf,
                         "org.apache.kafka.common.errors.InvalidTopicException: Failed to fetch "
                         "metadata for partition %.*s-%" PRId32 " due to invalid topic `%.*s`",
                         (int)p->topic_len, p->topic, p->partition, (int)p->topic_len, p->topic);
            else
                snprintf(buf, sizeof buf,
                         "org.apache.kafka.common.errors.TopicAuthorizationException: Failed to "
                         "fetch metadata for partition %.*s-%" PRId32 " due to topic authorization failure",
                         (int)p->topic_len, p->topic, p->partition);
            p->done = true;
            p->error_text = arena_strndup(&c->ar, buf, strlen(buf));
            continue;
        }
        if (t->error_code && !dr_retriable(t->error_code)) {
            p->done = true;
            p->error = t->error_code;
            continue;
        }
        if (t->error_code) {
            p->error = t->error_code; /* try again */
            continue;
        }
        const kp_metadata_resp_partition *mp = NULL;
        for (int32_t k = 0; k < t->partitions_n && !mp; k++)
            if (t->partitions[k].partition_index == p->partition)
                mp = &t->partitions[k];
        if (!mp) {
            p->done = true;
            p->error = 3;
            continue;
        }
        if (mp->leader_id < 0 || (mp->error_code && dr_retriable(mp->error_code))) {
            p->error = mp->error_code ? mp->error_code : 5; /* try again */
            continue;
        }
        if (mp->error_code && mp->error_code != 9 /* REPLICA_NOT_AVAILABLE: a leader is there */) {
            p->done = true;
            p->error = mp->error_code;
            continue;
        }
        p->leader = mp->leader_id;
    }
    return 0;
}

/* One round: look the leaders up, send each leader its partitions. */
static int dr_round(dr_ctx *c, dr_part **v, size_t n, int16_t ver)
{
    kp_metadata_resp md;
    if (dr_lookup(c, v, n, &md) < 0)
        return -1;
    for (size_t first = 0; first < n; first++) {
        dr_part *p0 = v[first];
        if (p0->done || p0->leader < 0)
            continue;
        int32_t leader = p0->leader;
        const kp_metadata_resp_broker *br = NULL;
        for (int32_t k = 0; k < md.brokers_n && !br; k++)
            if (md.brokers[k].node_id == leader)
                br = &md.brokers[k];
        /* this leader's partitions, one topic entry per topic */
        kp_delete_records_req req;
        kp_delete_records_req_init(&req);
        req.timeout_ms = c->o.timeout_ms;
        req.topics = arena_alloc(&c->ar, sizeof *req.topics * n);
        if (!req.topics) {
            tool_err(CMD, "out of memory");
            return -1;
        }
        for (size_t i = first; i < n; i++) {
            dr_part *p = v[i];
            if (p->done || p->leader != leader)
                continue;
            p->leader = -1; /* asked in this round */
            kp_delete_records_req_delete_records_topic *t = NULL;
            for (int32_t k = 0; k < req.topics_n && !t; k++)
                if ((size_t)req.topics[k].name.len == p->topic_len &&
                    memcmp(req.topics[k].name.ptr, p->topic, p->topic_len) == 0)
                    t = &req.topics[k];
            if (!t) {
                t = &req.topics[req.topics_n++];
                kp_delete_records_req_delete_records_topic_init(t);
                t->name.ptr = p->topic;
                t->name.len = (int32_t)p->topic_len;
                t->partitions = arena_alloc(&c->ar, sizeof *t->partitions * n);
                if (!t->partitions) {
                    tool_err(CMD, "out of memory");
                    return -1;
                }
            }
            kp_delete_records_req_delete_records_partition *rp = &t->partitions[t->partitions_n++];
            kp_delete_records_req_delete_records_partition_init(rp);
            rp->partition_index = p->partition;
            rp->offset = p->offset;
        }
        if (!br) {
            continue; /* not in the metadata's brokers: look up again */
        }
        char host[300];
        snprintf(host, sizeof host, "%.*s", br->host.len > 0 ? (int)br->host.len : 0,
                 br->host.ptr ? br->host.ptr : "");
        kp_delete_records_resp resp;
        char err[512];
        if (tool_raw_request_at(&c->o, host, br->port, KP_API_DELETE_RECORDS, ver, &req, &resp, &c->ar,
                                err, sizeof err) < 0) {
            tool_err(CMD, "DeleteRecords on broker %" PRId32 ": %s", leader, err);
            return -1;
        }
        for (int32_t rt = 0; rt < resp.topics_n; rt++) {
            const kp_delete_records_resp_delete_records_topic_result *t = &resp.topics[rt];
            for (int32_t rp = 0; rp < t->partitions_n; rp++) {
                const kp_delete_records_resp_delete_records_partition_result *r = &t->partitions[rp];
                for (size_t i = 0; i < n; i++) {
                    dr_part *p = v[i];
                    if (p->done || p->partition != r->partition_index ||
                        (size_t)t->name.len != p->topic_len || memcmp(t->name.ptr, p->topic, p->topic_len) != 0)
                        continue;
                    p->error = r->error_code;
                    if (r->error_code == 0) {
                        p->done = true;
                        p->low_watermark = r->low_watermark;
                    } else if (!dr_retriable(r->error_code)) {
                        p->done = true;
                    }
                }
            }
        }
    }
    return 0;
}

static int dr_execute(dr_ctx *c)
{
    dr_part *parts;
    size_t n;
    if (dr_parse_file(c, &parts, &n) < 0)
        return 1;
    /* offsetSeq: a HashMap put in the file's order; a partition named twice
     * is an error, listed in the order of a HashSet of them */
    dr_part **v = arena_alloc(&c->ar, sizeof *v * (n ? n : 1));
    dr_part **dups = arena_alloc(&c->ar, sizeof *dups * (n ? n : 1));
    if (!v || !dups) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    size_t nv = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nv && !dr_same_tp(v[j], &parts[i]); j++)
            ;
        if (j == nv)
            v[nv++] = &parts[i];
    }
    /* offsetSeq's order decides the order of the duplicates' HashSet */
    dr_part **seq = arena_alloc(&c->ar, sizeof *seq * (nv ? nv : 1));
    if (!seq || (memcpy(seq, v, sizeof *seq * nv), dr_jhm_order(c, seq, nv, 16)) < 0) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    for (size_t j = 0; j < nv; j++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += dr_same_tp(seq[j], &parts[i]);
        if (count > 1)
            dups[nd++] = seq[j];
    }
    if (nd) {
        if (dr_jhm_order(c, dups, nd, 16) < 0) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        dr_buf b = { 0 };
        for (size_t j = 0; j < nd; j++) {
            char num[24];
            if (j)
                dr_buf_str(&b, ",");
            dr_buf_add(&b, dups[j]->topic, dups[j]->topic_len);
            snprintf(num, sizeof num, "-%" PRId32, dups[j]->partition);
            dr_buf_str(&b, num);
        }
        tool_err(CMD, "Offset json file contains duplicate topic partitions: %s", b.p);
        free(b.p);
        return 1;
    }
    /* The results are printed in the file's order. Kafka's tool prints them
     * in the order of the admin client's result map, an immutable map
     * (Collectors.toUnmodifiableMap) whose iteration order is salted anew
     * in every JVM: it differs from run to run. */
    printf("Executing records delete operation\n");
    fflush(stdout);
    if (nv == 0) {
        printf("Records delete operation completed:\n");
        return 0;
    }
    int16_t ver = -1;
    if (tool_api_versions(&c->o, &c->av, &c->ar) < 0)
        return 1;
    if (tool_api_version(&c->av, KP_API_DELETE_RECORDS, &ver) < 0) {
        /* as Kafka's admin client: every partition fails with this */
        printf("Records delete operation completed:\n");
        for (size_t i = 0; i < nv; i++)
            printf("partition: %.*s-%" PRId32 "\terror: org.apache.kafka.common.errors."
                   "UnsupportedVersionException: The broker does not support DELETE_RECORDS\n",
                   (int)v[i]->topic_len, v[i]->topic, v[i]->partition);
        fflush(stdout);
        return 1;
    }
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        if (dr_round(c, v, nv, ver) < 0)
            return 1;
        bool pending = false;
        for (size_t i = 0; i < nv; i++)
            pending |= !v[i]->done;
        if (!pending || tool_stop || clock_mono_ms() + 200 > deadline)
            break;
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    printf("Records delete operation completed:\n");
    int rc = 0;
    for (size_t i = 0; i < nv; i++) {
        dr_part *p = v[i];
        printf("partition: %.*s-%" PRId32 "\t", (int)p->topic_len, p->topic, p->partition);
        if (p->done && !p->error && !p->error_text) {
            printf("low_watermark: %" PRId64 "\n", p->low_watermark);
            continue;
        }
        rc = 1;
        char buf[1024];
        if (p->error_text)
            printf("error: %s\n", p->error_text);
        else if (!p->done && !p->error)
            printf("error: org.apache.kafka.common.errors.TimeoutException: no answer within %d ms\n",
                   c->o.timeout_ms);
        else
            printf("error: %s\n", dr_exception(p->error, buf, sizeof buf));
    }
    fflush(stdout);
    return rc;
}

/* ---- arguments ---- */

static void dr_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor delete-records --bootstrap-server HOST:PORT --offset-json-file FILE\n"
        "Delete the records of the given partitions below the given offsets: each\n"
        "partition's log start offset (low watermark) moves up to its offset\n"
        "(kafka-delete-records.sh). FILE is Kafka's format:\n"
        "  {\"partitions\":\n"
        "    [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n"
        "   \"version\":1\n"
        "  }\n"
        "An offset of -1 means the high watermark (delete everything).\n"
        "Options:\n"
        "  --offset-json-file FILE       the partitions and offsets (required)\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         accepted for kafka-delete-records.sh; requests are plain\n"
        "  --timeout-ms N                bound on every wait, retries included (default 10000)\n"
        "  --help\n"
        "Output: Kafka's lines, one per partition: \"partition: T-P<TAB>low_watermark: N\" or\n"
        "\"partition: T-P<TAB>error: <exception>: <message>\". An unknown topic or partition\n"
        "is reported at once (Kafka's tool waits for its 60 s timeout).\n"
        "Exit status: 0 when every partition was done; 1 when one failed or on an error\n"
        "(a bad file: one line on stderr, Kafka's sentence); 2 on a usage error.\n"
        "Example:\n"
        "  gregor delete-records --bootstrap-server localhost:9092 --offset-json-file offsets.json\n");
}

int tool_delete_records_main(int argc, char **argv)
{
    dr_ctx c;
    memset(&c, 0, sizeof c);
    tool_opts_init(&c.o);
    tool_set_cmd(CMD);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int r = tool_opts_parse(&c.o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            dr_usage(stdout);
            return 0;
        }
        if (tool_opt_is(arg, "--offset-json-file")) {
            if (!(c.file = tool_arg_value(argc, argv, &i)))
                return 2;
            continue;
        }
        tool_err(CMD, "unknown option: %s (see --help)", arg);
        return 2;
    }
    if (!c.file) {
        tool_err(CMD, "Missing required argument \"[offset-json-file]\" (see --help)");
        return 2;
    }
    tool_install_signals();
    arena_init(&c.ar, DR_ARENA_MAX);
    int rc = dr_execute(&c);
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
