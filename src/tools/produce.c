/*
 * produce.c - `gregor produce`, the console producer (kafka-console-producer.sh).
 *
 * Reads records from stdin (or --file), one per line, in the format of
 * Kafka's LineMessageReader: with parse.headers=true a line starts with the
 * headers ("h1:v1,h2:v2" then headers.delimiter), with parse.key=true the key
 * follows (then key.separator), and the rest is the value. Each record is
 * handed to librdkafka; delivery reports are counted. At the end everything
 * is flushed within a bound and the first delivery error, if any, decides
 * the exit code.
 *
 * Input is read with read(2) after poll(2), never stdio, so that Ctrl-C
 * interrupts a producer waiting on a terminal: it stops reading and flushes
 * what it has. Delivery reports run on this (the main) thread from
 * rd_kafka_poll/rd_kafka_flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "tools/common.h"
#include "tools/tools.h"

#define PROD_LINE_BYTES_MAX (64 * 1024 * 1024) /* a longer line is an error, not a realloc loop */
#define PROD_HEADERS_MAX 1024                  /* headers on one record (static + parsed) */
#define PROD_PROPS_MAX 256                     /* --producer-property / --property occurrences */
#define PROD_PROGRESS_MS 5000
#define PROD_PROGRESS_LINES 100000             /* progress shows itself past this many lines */
#define PROD_FLUSH_MS_MIN 60000                /* the final flush waits at least this long */

static const char *const prod_cmd = "produce";

typedef struct prod_header {
    const char *key;       /* borrowed from argv or the line */
    size_t key_len;
    const char *value;     /* NULL = null header value */
    size_t value_len;
} prod_header;

typedef struct prod_cfg {
    const char *topic;
    const char *file;
    bool parse_key;
    bool parse_headers;
    bool ignore_error;
    const char *key_sep;          /* key.separator, Kafka's default "\t" */
    const char *headers_delim;    /* headers.delimiter, "\t" */
    const char *headers_sep;      /* headers.separator, "," */
    const char *headers_key_sep;  /* headers.key.separator, ":" */
    const char *null_marker;      /* null.marker: a field equal to it is null; NULL = none */
    prod_header static_hdrs[64];  /* --header k=v */
    int static_hdrs_n;
    const char *acks;
    const char *codec;
    const char *linger_ms;
    const char *batch_size;
    double max_rate;              /* records/s, 0 = unlimited */
    bool sync;
    bool progress;
    const char *config_file;      /* --producer.config */
    const char *props[PROD_PROPS_MAX]; /* --producer-property k=v, borrowed from argv */
    int props_n;
} prod_cfg;

/* Delivery bookkeeping, touched only from delivery reports (main thread). */
typedef struct prod_stats {
    uint64_t produced;        /* accepted by rd_kafka_producev */
    uint64_t rejected;        /* refused by rd_kafka_producev (e.g. too large) */
    uint64_t delivered;       /* delivery reports without error */
    uint64_t failed;          /* delivery reports with an error */
    char first_error[512];
} prod_stats;

static void prod_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor produce --topic TOPIC [options]   (kafka-console-producer.sh)\n"
            "Reads records from stdin (or --file), one per line, and produces them.\n"
            "\n"
            "  --topic T                       topic to produce to (required)\n"
            "  --file F                        read lines from F instead of stdin\n"
            "  --property parse.key=true       lines are KEY<key.separator>VALUE\n"
            "  --property key.separator=S      default a tab\n"
            "  --key-separator S               shorthand: parse.key=true, key.separator=S\n"
            "  --property parse.headers=true   lines start with h1:v1,h2:v2<headers.delimiter>\n"
            "  --property headers.delimiter=S  default a tab; headers.separator (,),\n"
            "                                  headers.key.separator (:), null.marker, ignore.error\n"
            "  --header K=V                    a header on every record (repeatable)\n"
            "  --acks, --request-required-acks -1|all|0|1 (default all)\n"
            "  --compression-codec, --compression-type none|gzip|snappy|lz4|zstd\n"
            "  --linger-ms N (also --timeout N, Kafka's name), --batch-size N\n"
            "  --max-rate N                    at most N records per second\n"
            "  --sync                          wait for each record's acknowledgement\n"
            "  --progress                      a progress line on stderr every 5 s\n"
            "  --producer-property K=V         librdkafka property (repeatable)\n"
            "  --producer.config FILE          properties file\n"
            "  --bootstrap-server HOST:PORT, --command-config FILE, --timeout-ms N,\n"
            "  --output table|json\n"
            "\n"
            "Exit status: 0 when every record was acknowledged, 1 otherwise (with the first\n"
            "error), 2 on a usage error.\n"
            "\n"
            "Example:\n"
            "  printf 'k1:hello\\nk2:world\\n' | gregor produce --bootstrap-server localhost:9092 \\\n"
            "      --topic greetings --property parse.key=true --property key.separator=:\n");
}

/* ---- configuration ---- */

static bool prod_bool(const char *v)
{
    return strcasecmp(v, "true") == 0;
}

/* A console-producer property (--property k=v). Returns 0, or -1 when unknown. */
static int prod_property(prod_cfg *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        tool_err(prod_cmd, "--property %s: expected key=value", kv);
        return -1;
    }
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
#define PROD_KEY_IS(s) (kl == strlen(s) && strncmp(kv, s, kl) == 0)
    if (PROD_KEY_IS("parse.key"))
        c->parse_key = prod_bool(v);
    else if (PROD_KEY_IS("key.separator"))
        c->key_sep = v;
    else if (PROD_KEY_IS("parse.headers"))
        c->parse_headers = prod_bool(v);
    else if (PROD_KEY_IS("headers.delimiter"))
        c->headers_delim = v;
    else if (PROD_KEY_IS("headers.separator"))
        c->headers_sep = v;
    else if (PROD_KEY_IS("headers.key.separator"))
        c->headers_key_sep = v;
    else if (PROD_KEY_IS("null.marker"))
        c->null_marker = *v ? v : NULL;
    else if (PROD_KEY_IS("ignore.error"))
        c->ignore_error = prod_bool(v);
    else {
        tool_err(prod_cmd, "--property %.*s: unknown (parse.key, key.separator, parse.headers, "
                 "headers.delimiter, headers.separator, headers.key.separator, null.marker, "
                 "ignore.error)", (int)kl, kv);
        return -1;
    }
#undef PROD_KEY_IS
    return 0;
}

static int prod_static_header(prod_cfg *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        tool_err(prod_cmd, "--header %s: expected key=value", kv);
        return -1;
    }
    if (c->static_hdrs_n == (int)(sizeof c->static_hdrs / sizeof c->static_hdrs[0])) {
        tool_err(prod_cmd, "too many --header options (at most %d)", c->static_hdrs_n);
        return -1;
    }
    prod_header *h = &c->static_hdrs[c->static_hdrs_n++];
    h->key = kv;
    h->key_len = (size_t)(eq - kv);
    h->value = eq + 1;
    h->value_len = strlen(eq + 1);
    return 0;
}

static bool prod_is(const char *arg, const char *a, const char *b)
{
    return strcmp(arg, a) == 0 || (b && strcmp(arg, b) == 0);
}

/* Kafka's checks on the combination. Returns 0 or 2. */
static int prod_check_args(const prod_cfg *c)
{
    if (!c->topic) {
        tool_err(prod_cmd, "--topic is required (see --help)");
        return 2;
    }
    if (c->acks && strcmp(c->acks, "all") != 0 && strcmp(c->acks, "-1") != 0 &&
        strcmp(c->acks, "0") != 0 && strcmp(c->acks, "1") != 0) {
        tool_err(prod_cmd, "--acks must be all, -1, 0 or 1, not %s", c->acks);
        return 2;
    }
    if (!*c->key_sep || !*c->headers_delim || !*c->headers_sep || !*c->headers_key_sep) {
        tool_err(prod_cmd, "separators and delimiters must not be empty");
        return 2;
    }
    if (c->parse_key && c->parse_headers && strcmp(c->key_sep, c->headers_delim) == 0) {
        tool_err(prod_cmd, "headers.delimiter and key.separator may not be equal");
        return 2;
    }
    return 0;
}

/* Parse argv into c and o. Returns 0, 2 on a usage error, -1 for --help. */
static int prod_parse_args(prod_cfg *c, tool_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (prod_is(a, "--help", "-h"))
            return -1;
        if (prod_is(a, "--timeout", NULL)) { /* Kafka's console producer: linger */
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            c->linger_ms = v;
            continue;
        }
        int r = tool_opts_parse(o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (prod_is(a, "--sync", NULL)) {
            c->sync = true;
            continue;
        }
        if (prod_is(a, "--progress", NULL)) {
            c->progress = true;
            continue;
        }
        if (prod_is(a, "--compression-codec", "--compression-type")) {
            /* Kafka: --compression-codec without a value means gzip */
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                c->codec = "gzip";
                continue;
            }
            c->codec = argv[++i];
            continue;
        }
        if (!(v = tool_arg_value(argc, argv, &i)))
            return 2;
        if (prod_is(a, "--topic", "-t"))
            c->topic = v;
        else if (prod_is(a, "--file", NULL))
            c->file = v;
        else if (prod_is(a, "--property", NULL)) {
            if (prod_property(c, v) < 0)
                return 2;
        } else if (prod_is(a, "--key-separator", NULL)) {
            c->parse_key = true;
            c->key_sep = v;
        } else if (prod_is(a, "--header", NULL)) {
            if (prod_static_header(c, v) < 0)
                return 2;
        } else if (prod_is(a, "--acks", "--request-required-acks"))
            c->acks = v;
        else if (prod_is(a, "--linger-ms", NULL))
            c->linger_ms = v;
        else if (prod_is(a, "--batch-size", NULL))
            c->batch_size = v;
        else if (prod_is(a, "--max-rate", NULL)) {
            char *end;
            c->max_rate = strtod(v, &end);
            if (*end || c->max_rate < 0) {
                tool_err(prod_cmd, "--max-rate: not a non-negative number: %s", v);
                return 2;
            }
        } else if (prod_is(a, "--producer-property", NULL)) {
            if (c->props_n == PROD_PROPS_MAX) {
                tool_err(prod_cmd, "too many --producer-property options");
                return 2;
            }
            c->props[c->props_n++] = v;
        } else if (prod_is(a, "--producer.config", NULL))
            c->config_file = v;
        else {
            tool_err(prod_cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    return prod_check_args(c);
}


static void prod_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    prod_stats *st = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        st->delivered++;
        return;
    }
    if (st->failed++ == 0 && st->rejected == 0)
        snprintf(st->first_error, sizeof st->first_error, "%s", rd_kafka_err2str(m->err));
}

static int prod_flush_bound_ms(const tool_opts *o)
{
    return o->timeout_ms > PROD_FLUSH_MS_MIN ? o->timeout_ms : PROD_FLUSH_MS_MIN;
}

static rd_kafka_t *prod_client_new(const prod_cfg *c, const tool_opts *o, prod_stats *st)
{
    rd_kafka_conf_t *conf = tool_conf_new(o);
    if (!conf)
        return NULL;
    char ms[32];
    /* a record that cannot be delivered fails within the flush bound */
    snprintf(ms, sizeof ms, "%d", prod_flush_bound_ms(o) - 1000);
    if (tool_conf_set(conf, "acks", c->acks ? c->acks : "all") < 0 ||
        tool_conf_set(conf, "message.timeout.ms", ms) < 0 ||
        (c->codec && tool_conf_set(conf, "compression.codec", c->codec) < 0) ||
        (c->linger_ms && tool_conf_set(conf, "linger.ms", c->linger_ms) < 0) ||
        (c->batch_size && tool_conf_set(conf, "batch.size", c->batch_size) < 0) ||
        (c->config_file && tool_conf_load_file(conf, c->config_file, "--producer.config") < 0))
        goto out_conf;
    for (int k = 0; k < c->props_n; k++)
        if (tool_conf_apply_kv(conf, c->props[k], "--producer-property") < 0)
            goto out_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, prod_dr_cb);
    rd_kafka_conf_set_opaque(conf, st);
    return tool_client_new(RD_KAFKA_PRODUCER, conf);
out_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- input: lines over read(2) ---- */

typedef struct prod_reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof;
    uint64_t lineno;
} prod_reader;

enum { PROD_LINE = 1, PROD_EOF = 0, PROD_READ_ERR = -1, PROD_STOPPED = -2 };

/* Wait for input while serving delivery reports; read once. */
static int prod_reader_fill(prod_reader *r, rd_kafka_t *rk)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t cap = r->cap * 2;
        if (cap > PROD_LINE_BYTES_MAX) {
            tool_err(prod_cmd, "line %llu is longer than %d bytes", (unsigned long long)r->lineno + 1,
                     PROD_LINE_BYTES_MAX);
            return PROD_READ_ERR;
        }
        char *nb = realloc(r->buf, cap + 1); /* +1: room for a NUL after the last line */
        if (!nb) {
            tool_err(prod_cmd, "out of memory reading line %llu", (unsigned long long)r->lineno + 1);
            return PROD_READ_ERR;
        }
        r->buf = nb;
        r->cap = cap;
    }
    for (;;) {
        if (tool_stop)
            return PROD_STOPPED;
        struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
        int pr = poll(&pfd, 1, 100);
        if (pr == 0 || (pr < 0 && errno == EINTR)) {
            rd_kafka_poll(rk, 0);
            continue;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            tool_err(prod_cmd, "read: %s", strerror(errno));
            return PROD_READ_ERR;
        }
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
        return PROD_LINE;
    }
}

/* The next line without its "\n" or "\r\n"; borrowed until the next call. */
static int prod_reader_next(prod_reader *r, rd_kafka_t *rk, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl || (r->eof && r->end > r->start)) {
            char *s = r->buf + r->start;
            size_t n = nl ? (size_t)(nl - s) : r->end - r->start;
            r->start += nl ? n + 1 : n;
            if (n > 0 && s[n - 1] == '\r')
                n--;
            s[n] = '\0'; /* the '\n' or spare room: the buffer always has one byte more */
            *line = s;
            *len = n;
            r->lineno++;
            return PROD_LINE;
        }
        if (r->eof)
            return PROD_EOF;
        int rc = prod_reader_fill(r, rk);
        if (rc != PROD_LINE)
            return rc;
    }
}

/* ---- one line into one record ---- */

typedef struct prod_record {
    const char *key, *value;   /* NULL = null */
    size_t key_len, value_len;
    prod_header hdrs[PROD_HEADERS_MAX];
    int hdrs_n;
} prod_record;

static const char *prod_find(const char *s, size_t n, const char *sep)
{
    size_t sl = strlen(sep);
    if (sl > n)
        return NULL;
    for (size_t k = 0; k + sl <= n; k++)
        if (memcmp(s + k, sep, sl) == 0)
            return s + k;
    return NULL;
}

static bool prod_is_null(const prod_cfg *c, const char *s, size_t n)
{
    return c->null_marker && strlen(c->null_marker) == n && memcmp(s, c->null_marker, n) == 0;
}

/* Split "h1:v1,h2:v2" into rec->hdrs. Returns 0 or -1 with a message. */
static int prod_parse_headers(const prod_cfg *c, const char *s, size_t n, uint64_t lineno,
                              prod_record *rec)
{
    size_t sep_len = strlen(c->headers_sep), ksep_len = strlen(c->headers_key_sep);
    const char *end = s + n;
    while (s <= end) {
        const char *next = prod_find(s, (size_t)(end - s), c->headers_sep);
        const char *pe = next ? next : end;
        const char *ks = prod_find(s, (size_t)(pe - s), c->headers_key_sep);
        if (rec->hdrs_n == PROD_HEADERS_MAX) {
            tool_err(prod_cmd, "more than %d headers on line %llu", PROD_HEADERS_MAX,
                     (unsigned long long)lineno);
            return -1;
        }
        prod_header *h = &rec->hdrs[rec->hdrs_n++];
        if (!ks) {
            if (!c->ignore_error) {
                tool_err(prod_cmd, "No header key separator found in pair '%.*s' on line number %llu",
                         (int)(pe - s), s, (unsigned long long)lineno);
                return -1;
            }
            h->key = s;
            h->key_len = (size_t)(pe - s);
            h->value = NULL;
            h->value_len = 0;
        } else {
            h->key = s;
            h->key_len = (size_t)(ks - s);
            h->value = ks + ksep_len;
            h->value_len = (size_t)(pe - h->value);
            if (prod_is_null(c, h->key, h->key_len)) {
                tool_err(prod_cmd, "Header keys should not be equal to the null marker '%s' as they "
                         "can't be null", c->null_marker);
                return -1;
            }
            if (prod_is_null(c, h->value, h->value_len))
                h->value = NULL;
        }
        if (!next)
            break;
        s = next + sep_len;
    }
    return 0;
}

/* Kafka's LineMessageReader: [headers<delim>][key<sep>]value. */
static int prod_parse_line(const prod_cfg *c, const char *line, size_t len, uint64_t lineno,
                           prod_record *rec)
{
    const char *p = line, *end = line + len;
    rec->hdrs_n = 0;
    for (int k = 0; k < c->static_hdrs_n; k++)
        rec->hdrs[rec->hdrs_n++] = c->static_hdrs[k];
    if (c->parse_headers) {
        const char *d = prod_find(p, (size_t)(end - p), c->headers_delim);
        if (!d && !c->ignore_error) {
            tool_err(prod_cmd, "No headers delimiter found on line number %llu: '%.*s'",
                     (unsigned long long)lineno, (int)len, line);
            return -1;
        }
        if (d) {
            if (!prod_is_null(c, p, (size_t)(d - p)) &&
                prod_parse_headers(c, p, (size_t)(d - p), lineno, rec) < 0)
                return -1;
            p = d + strlen(c->headers_delim);
        }
    }
    rec->key = NULL;
    rec->key_len = 0;
    if (c->parse_key) {
        const char *s = prod_find(p, (size_t)(end - p), c->key_sep);
        if (!s && !c->ignore_error) {
            tool_err(prod_cmd, "No key separator found on line number %llu: '%.*s'",
                     (unsigned long long)lineno, (int)len, line);
            return -1;
        }
        if (s) {
            if (!prod_is_null(c, p, (size_t)(s - p))) {
                rec->key = p;
                rec->key_len = (size_t)(s - p);
            }
            p = s + strlen(c->key_sep);
        }
    }
    rec->value = p;
    rec->value_len = (size_t)(end - p);
    if (prod_is_null(c, rec->value, rec->value_len))
        rec->value = NULL;
    return 0;
}

/* ---- producing ---- */

static int prod_send(rd_kafka_t *rk, const prod_cfg *c, const prod_record *rec, prod_stats *st)
{
    for (;;) {
        rd_kafka_headers_t *hdrs = NULL;
        if (rec->hdrs_n > 0) {
            hdrs = rd_kafka_headers_new((size_t)rec->hdrs_n);
            for (int k = 0; k < rec->hdrs_n; k++)
                rd_kafka_header_add(hdrs, rec->hdrs[k].key, (ssize_t)rec->hdrs[k].key_len,
                                    rec->hdrs[k].value, (ssize_t)rec->hdrs[k].value_len);
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(c->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(rec->key, rec->key_len),
            RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            st->produced++;
            return 0;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs); /* not taken on failure */
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !tool_stop) {
            rd_kafka_poll(rk, 100);
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return -1; /* stopping: the record was not taken */
        /* e.g. MSG_SIZE_TOO_LARGE: the record fails, the rest go on */
        if (st->rejected++ == 0 && st->failed == 0)
            snprintf(st->first_error, sizeof st->first_error, "%s", rd_kafka_err2str(err));
        return 0;
    }
}

/* Before record number n (from 0): wait until n / rate seconds have passed. */
static void prod_throttle(rd_kafka_t *rk, const prod_cfg *c, uint64_t n, int64_t start_ms)
{
    if (c->max_rate <= 0)
        return;
    int64_t due_ms = start_ms + (int64_t)((double)n * 1000.0 / c->max_rate);
    for (int64_t now = clock_mono_ms(); now < due_ms && !tool_stop; now = clock_mono_ms())
        rd_kafka_poll(rk, (int)(due_ms - now > 100 ? 100 : due_ms - now));
}

static void prod_progress(const prod_stats *st, int64_t start_ms)
{
    double secs = (double)(clock_mono_ms() - start_ms) / 1000.0;
    fprintf(stderr, "gregor %s: %llu records sent, %llu acknowledged, %.1f records/sec\n", prod_cmd,
            (unsigned long long)st->produced, (unsigned long long)st->delivered,
            secs > 0 ? (double)st->produced / secs : 0.0);
}

/* Read and produce every line. Returns 0, or 1 on a bad line or input error. */
static int prod_run(rd_kafka_t *rk, const prod_cfg *c, const tool_opts *o, prod_reader *rd,
                    prod_stats *st, int64_t start_ms)
{
    static prod_record rec; /* large (headers array): not on the stack */
    bool tty = isatty(rd->fd);
    int64_t next_progress_ms = start_ms + PROD_PROGRESS_MS;
    for (;;) {
        char *line;
        size_t len;
        int rc = prod_reader_next(rd, rk, &line, &len);
        if (rc == PROD_EOF || rc == PROD_STOPPED)
            return 0;
        if (rc == PROD_READ_ERR)
            return 1;
        if (prod_parse_line(c, line, len, rd->lineno, &rec) < 0)
            return 1;
        prod_throttle(rk, c, st->produced + st->rejected, start_ms);
        if (prod_send(rk, c, &rec, st) < 0)
            return 0;
        if (c->sync)
            rd_kafka_flush(rk, prod_flush_bound_ms(o));
        else
            rd_kafka_poll(rk, 0);
        if (clock_mono_ms() >= next_progress_ms) {
            if (c->progress || (!tty && rd->lineno > PROD_PROGRESS_LINES))
                prod_progress(st, start_ms);
            next_progress_ms += PROD_PROGRESS_MS;
        }
    }
}

/* Flush within the bound; what is still queued afterwards counts as failed. */
static void prod_finish(rd_kafka_t *rk, const tool_opts *o, prod_stats *st)
{
    rd_kafka_flush(rk, prod_flush_bound_ms(o));
    int left = rd_kafka_outq_len(rk);
    if (left > 0) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0); /* delivery reports for the purged records */
        if (st->failed + st->rejected == 0)
            snprintf(st->first_error, sizeof st->first_error,
                     "not acknowledged within %d ms", prod_flush_bound_ms(o));
    }
    uint64_t done = st->delivered + st->failed;
    if (done < st->produced) { /* reports that never came */
        if (st->failed + st->rejected == 0)
            snprintf(st->first_error, sizeof st->first_error, "not acknowledged within %d ms",
                     prod_flush_bound_ms(o));
        st->failed += st->produced - done;
    }
}

int tool_produce_main(int argc, char **argv)
{
    prod_cfg c = { .key_sep = "\t", .headers_delim = "\t", .headers_sep = ",",
                   .headers_key_sep = ":" };
    tool_opts o;
    tool_opts_init(&o);
    int rc = prod_parse_args(&c, &o, argc, argv);
    if (rc < 0) {
        prod_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;

    prod_reader rd = { .fd = STDIN_FILENO, .cap = 64 * 1024 };
    if (c.file && (rd.fd = open(c.file, O_RDONLY | O_CLOEXEC)) < 0) {
        tool_err(prod_cmd, "--file %s: %s", c.file, strerror(errno));
        return 1;
    }
    rd.buf = malloc(rd.cap + 1); /* +1: room for a NUL after the last line */
    if (!rd.buf) {
        tool_err(prod_cmd, "out of memory");
        rc = 1;
        goto out_fd;
    }

    tool_install_signals();
    prod_stats st = { 0 };
    rd_kafka_t *rk = prod_client_new(&c, &o, &st);
    if (!rk) {
        rc = 1;
        goto out_buf;
    }
    if (tool_check_reachable(rk, &o) != 0) {
        rc = 1;
        goto out_rk;
    }
    int64_t start_ms = clock_mono_ms();
    rc = prod_run(rk, &c, &o, &rd, &st, start_ms);
    prod_finish(rk, &o, &st);
    if (c.progress)
        prod_progress(&st, start_ms);
    uint64_t records = st.produced + st.rejected, failed = st.failed + st.rejected;
    if (o.json)
        printf("{\"records\":%llu,\"acknowledged\":%llu,\"failed\":%llu}\n",
               (unsigned long long)records, (unsigned long long)st.delivered,
               (unsigned long long)failed);
    if (failed > 0) {
        tool_err(prod_cmd, "%llu of %llu records failed; first error: %s",
                 (unsigned long long)failed, (unsigned long long)records, st.first_error);
        rc = 1;
    }
out_rk:
    rd_kafka_destroy(rk);
out_buf:
    free(rd.buf);
out_fd:
    if (rd.fd != STDIN_FILENO)
        close(rd.fd);
    return rc;
}
