/*
 * json.c - the tools' JSON reader and node printer (json.h): Jackson's
 * strict defaults (no comments, no single quotes, no leading zeros, no raw
 * control characters in strings), numbers typed as Jackson types them
 * (int, long, BigInteger, double), and Jackson's toString of a node.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/json.h"

typedef struct tj_parser {
    arena *ar;
    const char *p, *end;
    bool oom;
} tj_parser;

static void tj_ws(tj_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static tj_json *tj_new(tj_parser *ps, tj_type t)
{
    tj_json *j = arena_alloc(ps->ar, sizeof *j);
    if (!j) {
        ps->oom = true;
        return NULL;
    }
    j->type = t;
    return j;
}

static int tj_hex4(const char *p, uint32_t *out)
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

static size_t tj_put_utf8(char *o, uint32_t cp)
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
static int tj_string(tj_parser *ps, char **out, size_t *outlen)
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
    char *o = arena_alloc(ps->ar, (size_t)(close - p) + 1);
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
            if (close - p < 5 || tj_hex4(p + 1, &cp) < 0)
                return -1;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF && close - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo;
                if (tj_hex4(p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* a lone surrogate */
            n += tj_put_utf8(o + n, cp);
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

static tj_json *tj_value(tj_parser *ps, int depth);

static tj_json *tj_number(tj_parser *ps)
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
    char *text = arena_strndup(ps->ar, s, len);
    tj_json *j = tj_new(ps, TJ_DOUBLE);
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
            j->type = TJ_BIG;
            j->s = text;
            j->slen = len;
            return j;
        }
        j->i = v;
        j->type = v >= INT32_MIN && v <= INT32_MAX ? TJ_INT : TJ_LONG;
        return j;
    }
    j->d = strtod(text, NULL);
    return j;
}

static tj_json *tj_value(tj_parser *ps, int depth)
{
    tj_ws(ps);
    if (ps->p >= ps->end || depth > TJ_DEPTH_MAX)
        return NULL;
    char ch = *ps->p;
    if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        tj_json *j = tj_new(ps, obj ? TJ_OBJ : TJ_ARR);
        if (!j)
            return NULL;
        size_t cap = 0;
        ps->p++;
        tj_ws(ps);
        if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
            ps->p++;
            return j;
        }
        for (;;) {
            char *key = NULL;
            size_t klen = 0;
            tj_ws(ps);
            if (obj) {
                if (ps->p >= ps->end || *ps->p != '"' || tj_string(ps, &key, &klen) < 0)
                    return NULL;
                tj_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return NULL;
                ps->p++;
            }
            tj_json *v = tj_value(ps, depth + 1);
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
                    tj_json **ni = arena_alloc(ps->ar, sizeof *ni * ncap);
                    char **nk = obj ? arena_alloc(ps->ar, sizeof *nk * ncap) : NULL;
                    size_t *nl = obj ? arena_alloc(ps->ar, sizeof *nl * ncap) : NULL;
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
            tj_ws(ps);
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
        tj_json *j = tj_new(ps, TJ_STR);
        if (!j || tj_string(ps, &j->s, &j->slen) < 0)
            return NULL;
        return j;
    }
    static const struct { const char *word; tj_type t; bool b; } words[] = {
        { "true", TJ_BOOL, true }, { "false", TJ_BOOL, false }, { "null", TJ_NULL, false },
    };
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t n = strlen(words[k].word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[k].word, n) == 0) {
            tj_json *j = tj_new(ps, words[k].t);
            if (!j)
                return NULL;
            j->b = words[k].b;
            ps->p += n;
            return j;
        }
    }
    return tj_number(ps);
}

const tj_json *tj_get(const tj_json *obj, const char *key)
{
    size_t n = strlen(key);
    for (size_t k = 0; k < obj->n; k++)
        if (obj->klens[k] == n && memcmp(obj->keys[k], key, n) == 0)
            return obj->items[k];
    return NULL;
}

/* ---- a node as Jackson's JsonNode.toString writes it (Kafka's messages
 * quote the offending value) ---- */

void tj_buf_add(tj_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            fprintf(stderr, "gregor %s: out of memory\n", b->cmd ? b->cmd : "");
            exit(1);
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void tj_buf_str(tj_buf *b, const char *s)
{
    tj_buf_add(b, s, strlen(s));
}

void tj_buf_json_str(tj_buf *b, const char *s, size_t n)
{
    tj_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            tj_buf_add(b, esc, 2);
        } else if (ch < 0x20) {
            const char *short_esc = ch == '\b' ? "\\b" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n"
                                  : ch == '\f' ? "\\f" : ch == '\r' ? "\\r" : NULL;
            if (short_esc) {
                tj_buf_str(b, short_esc);
            } else {
                snprintf(esc, sizeof esc, "\\u%04X", ch);
                tj_buf_str(b, esc);
            }
        } else {
            tj_buf_add(b, (const char *)&ch, 1);
        }
    }
    tj_buf_add(b, "\"", 1);
}

/* Java's Double.toString: the shortest digits that read back the same, as
 * d.ddd between 10^-3 and 10^7, else as d.dddE<n>. */
void tj_buf_double(tj_buf *b, double d)
{
    char out[64];
    if (isnan(d) || isinf(d)) {
        tj_buf_str(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) {
        tj_buf_str(b, signbit(d) ? "-0.0" : "0.0");
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
    tj_buf_str(b, out);
}

void tj_buf_node(tj_buf *b, const tj_json *j)
{
    char num[32];
    switch (j->type) {
    case TJ_NULL: tj_buf_str(b, "null"); break;
    case TJ_BOOL: tj_buf_str(b, j->b ? "true" : "false"); break;
    case TJ_INT:
    case TJ_LONG:
        snprintf(num, sizeof num, "%" PRId64, j->i);
        tj_buf_str(b, num);
        break;
    case TJ_BIG: tj_buf_add(b, j->s, j->slen); break;
    case TJ_DOUBLE: tj_buf_double(b, j->d); break;
    case TJ_STR: tj_buf_json_str(b, j->s, j->slen); break;
    case TJ_ARR:
        tj_buf_str(b, "[");
        for (size_t k = 0; k < j->n; k++) {
            if (k)
                tj_buf_str(b, ",");
            tj_buf_node(b, j->items[k]);
        }
        tj_buf_str(b, "]");
        break;
    case TJ_OBJ:
        tj_buf_str(b, "{");
        for (size_t k = 0; k < j->n; k++) {
            if (k)
                tj_buf_str(b, ",");
            tj_buf_json_str(b, j->keys[k], j->klens[k]);
            tj_buf_str(b, ":");
            tj_buf_node(b, j->items[k]);
        }
        tj_buf_str(b, "}");
        break;
    }
}

void tj_err_node(const char *cmd, const char *what, const tj_json *j)
{
    tj_buf b = { .cmd = cmd };
    tj_buf_node(&b, j);
    tool_err(cmd, "%s%s", what, b.p ? b.p : "");
    free(b.p);
}

tj_json *tj_parse(arena *ar, const char *text, size_t len, bool *oom)
{
    tj_parser ps = { ar, text, text + len, false };
    tj_json *j = tj_value(&ps, 0);
    *oom = ps.oom;
    return j;
}

char *tj_read_file(arena *ar, const char *path, size_t max, size_t *len, int *open_errno)
{
    *len = 0;
    *open_errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *open_errno = errno;
        return NULL;
    }
    /* in chunks: the file may be a pipe */
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool bad = false;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = ncap <= max + 65536 ? realloc(buf, ncap + 1) : NULL;
            if (!nb) {
                bad = true;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > max)
            break;
    }
    bad = bad || ferror(f) || n > max;
    fclose(f);
    char *text = bad ? NULL : arena_strndup(ar, buf ? buf : "", n);
    free(buf);
    *len = n;
    return text;
}

int tj_to_int(const char *cmd, const tj_json *j, int32_t *out)
{
    if (j->type != TJ_INT) {
        tj_err_node(cmd, "Expected `Integer` value, received ", j);
        return -1;
    }
    *out = (int32_t)j->i;
    return 0;
}

int tj_to_long(const char *cmd, const tj_json *j, int64_t *out)
{
    if (j->type != TJ_INT && j->type != TJ_LONG) {
        tj_err_node(cmd, "Expected `Long` value, received ", j);
        return -1;
    }
    *out = j->i;
    return 0;
}

const tj_json *tj_field(const char *cmd, const tj_json *obj, const char *key)
{
    const tj_json *v = tj_get(obj, key);
    if (!v)
        tool_err(cmd, "No such field exists: `%s`", key);
    return v;
}
