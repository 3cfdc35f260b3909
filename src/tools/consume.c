/*
 * consume.c - `gregor consume`, the console consumer (kafka-console-consumer.sh).
 *
 * Two modes, as in Kafka: with --partition the consumer is assigned that one
 * partition from --offset (no group membership unless --group is given);
 * otherwise it subscribes to --topic (or the --include regex) as a member of
 * --group, or of a random `console-consumer-NNNNN` group that commits
 * nothing. Records are printed with Kafka's DefaultMessageFormatter layout
 * (print.key, print.timestamp, ... properties) or as JSON lines.
 *
 * Stops after --max-messages, after --timeout-ms without a record, or on
 * Ctrl-C/SIGTERM; it always ends with rd_kafka_consumer_close, so a group
 * member commits its last offsets and leaves the group at once instead of
 * waiting for its session to time out. Runs on the main thread only.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "tools/common.h"
#include "tools/tools.h"

#define CONS_PROPS_MAX 256
#define CONS_POLL_MS 200
#define CONS_REGEX_BYTES_MAX 4096

static const char *const cons_cmd = "consume";

typedef struct cons_format {
    bool print_key, print_value, print_timestamp, print_partition, print_offset, print_headers;
    const char *key_sep;       /* key.separator: between columns, default "\t" */
    const char *line_sep;      /* line.separator, "\n" */
    const char *headers_sep;   /* headers.separator, "," */
    const char *null_literal;  /* null.literal, "null" */
} cons_format;

typedef struct cons_cfg {
    const char *topic;
    const char *include;       /* --include / --whitelist regex */
    const char *group;         /* NULL: random group, no commits */
    bool from_beginning;
    int32_t partition;         /* -1: subscribe */
    const char *offset_arg;    /* --offset as given */
    int64_t offset;            /* RD_KAFKA_OFFSET_BEGINNING/END or N */
    int64_t max_messages;      /* -1: no limit */
    bool idle_timeout;         /* --timeout-ms given: exit after that long without a record */
    const char *isolation;
    bool skip_errors;          /* --skip-message-on-error */
    const char *config_file;   /* --consumer.config */
    const char *props[CONS_PROPS_MAX]; /* --consumer-property k=v, borrowed from argv */
    int props_n;
    cons_format fmt;
} cons_cfg;

static void cons_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor consume --topic TOPIC [options]   (kafka-console-consumer.sh)\n"
            "Prints records to stdout until --max-messages, --timeout-ms or Ctrl-C.\n"
            "\n"
            "  --topic T | --include REGEX     what to read (subscribe) \n"
            "  --group G                       consumer group (default: a random one that\n"
            "                                  commits nothing)\n"
            "  --from-beginning                start at the earliest offset when the group has\n"
            "                                  no committed offset (default: the latest)\n"
            "  --partition N                   read only partition N (assigned, no group)\n"
            "  --offset earliest|latest|N      with --partition: where to start\n"
            "  --max-messages N                stop after N records\n"
            "  --timeout-ms N                  stop after N ms without a record (exit 0)\n"
            "  --property print.key=true       also print.timestamp, print.partition,\n"
            "                                  print.offset, print.headers, print.value (true),\n"
            "                                  key.separator (tab), line.separator (newline),\n"
            "                                  headers.separator (,), null.literal (null)\n"
            "  --isolation-level read_committed|read_uncommitted\n"
            "  --consumer-property K=V         librdkafka property (repeatable)\n"
            "  --consumer.config FILE          properties file\n"
            "  --skip-message-on-error         go on after a record error\n"
            "  --bootstrap-server HOST:PORT, --command-config FILE,\n"
            "  --output table|json             json: one object per record\n"
            "\n"
            "Example:\n"
            "  gregor consume --bootstrap-server localhost:9092 --topic greetings \\\n"
            "      --from-beginning --max-messages 10 --property print.key=true\n");
}

/* ---- options ---- */

static bool cons_is(const char *arg, const char *a, const char *b)
{
    return strcmp(arg, a) == 0 || (b && strcmp(arg, b) == 0);
}

static int cons_parse_count(const char *opt, const char *v, int64_t *out)
{
    if (tool_parse_int64(v, out) < 0 || *out < 0) {
        tool_err(cons_cmd, "%s: not a non-negative number: %s", opt, v);
        return -1;
    }
    return 0;
}

/* A formatter property (--property k=v). */
static int cons_property(cons_format *f, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        tool_err(cons_cmd, "--property %s: expected key=value", kv);
        return -1;
    }
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
    bool b = strcasecmp(v, "true") == 0;
    static const char *const bools[] = { "print.key", "print.value", "print.timestamp",
                                         "print.partition", "print.offset", "print.headers" };
    bool *const bool_fields[] = { &f->print_key, &f->print_value, &f->print_timestamp,
                                  &f->print_partition, &f->print_offset, &f->print_headers };
    static const char *const strs[] = { "key.separator", "line.separator", "headers.separator",
                                        "null.literal" };
    const char **const str_fields[] = { &f->key_sep, &f->line_sep, &f->headers_sep,
                                        &f->null_literal };
    for (size_t k = 0; k < sizeof bools / sizeof bools[0]; k++)
        if (kl == strlen(bools[k]) && strncmp(kv, bools[k], kl) == 0) {
            *bool_fields[k] = b;
            return 0;
        }
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (kl == strlen(strs[k]) && strncmp(kv, strs[k], kl) == 0) {
            *str_fields[k] = v;
            return 0;
        }
    /* Kafka's deserializer properties: bytes are printed as they are */
    if (strncmp(kv, "key.deserializer", 16) == 0 || strncmp(kv, "value.deserializer", 18) == 0 ||
        strncmp(kv, "headers.deserializer", 20) == 0) {
        fprintf(stderr, "gregor %s: warning: ignoring %.*s: bytes are printed as they are\n",
                cons_cmd, (int)kl, kv);
        return 0;
    }
    tool_err(cons_cmd, "--property %.*s: unknown (print.key, print.value, print.timestamp, "
             "print.partition, print.offset, print.headers, key.separator, line.separator, "
             "headers.separator, null.literal)", (int)kl, kv);
    return -1;
}

/* An option taking a value. Returns 0, or 2 on a usage error. */
static int cons_parse_valued(cons_cfg *c, const char *a, const char *v)
{
    if (cons_is(a, "--topic", "-t"))
        c->topic = v;
    else if (cons_is(a, "--include", "--whitelist"))
        c->include = v;
    else if (cons_is(a, "--group", "-g"))
        c->group = v;
    else if (cons_is(a, "--partition", "-p")) {
        int64_t n;
        if (cons_parse_count(a, v, &n) < 0 || n > INT32_MAX)
            return 2;
        c->partition = (int32_t)n;
    } else if (cons_is(a, "--offset", "-o"))
        c->offset_arg = v;
    else if (cons_is(a, "--max-messages", NULL)) {
        if (cons_parse_count(a, v, &c->max_messages) < 0)
            return 2;
    } else if (cons_is(a, "--property", NULL)) {
        if (cons_property(&c->fmt, v) < 0)
            return 2;
    } else if (cons_is(a, "--isolation-level", NULL)) {
        if (strcmp(v, "read_committed") != 0 && strcmp(v, "read_uncommitted") != 0) {
            tool_err(cons_cmd, "--isolation-level must be read_committed or read_uncommitted");
            return 2;
        }
        c->isolation = v;
    } else if (cons_is(a, "--consumer-property", NULL)) {
        if (c->props_n == CONS_PROPS_MAX) {
            tool_err(cons_cmd, "too many --consumer-property options");
            return 2;
        }
        c->props[c->props_n++] = v;
    } else if (cons_is(a, "--consumer.config", NULL))
        c->config_file = v;
    else {
        tool_err(cons_cmd, "unknown option %s (see --help)", a);
        return 2;
    }
    return 0;
}

/* Kafka's checks on option combinations. */
static int cons_check_args(cons_cfg *c)
{
    if (!!c->topic + !!c->include != 1) {
        tool_err(cons_cmd, "exactly one of --topic and --include is required (see --help)");
        return 2;
    }
    if (c->partition >= 0 && !c->topic) {
        tool_err(cons_cmd, "the topic is required when partition is specified");
        return 2;
    }
    if (c->offset_arg && c->partition < 0) {
        tool_err(cons_cmd, "the partition is required when offset is specified");
        return 2;
    }
    if (c->offset_arg && c->from_beginning) {
        tool_err(cons_cmd, "options from-beginning and offset cannot be specified together");
        return 2;
    }
    c->offset = c->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    if (c->offset_arg) {
        if (strcmp(c->offset_arg, "earliest") == 0)
            c->offset = RD_KAFKA_OFFSET_BEGINNING;
        else if (strcmp(c->offset_arg, "latest") == 0)
            c->offset = RD_KAFKA_OFFSET_END;
        else if (tool_parse_int64(c->offset_arg, &c->offset) < 0 || c->offset < 0) {
            tool_err(cons_cmd, "--offset must be earliest, latest or a non-negative offset, not %s",
                     c->offset_arg);
            return 2;
        }
    }
    return 0;
}

/* Parse argv. Returns 0, 2 on a usage error, -1 for --help. */
static int cons_parse_args(cons_cfg *c, tool_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cons_is(a, "--help", "-h"))
            return -1;
        /* Kafka's --timeout-ms is the idle timeout; it also bounds broker waits */
        if (cons_is(a, "--timeout-ms", "--timeout") || strncmp(a, "--timeout-ms=", 13) == 0 ||
            strncmp(a, "--timeout=", 10) == 0)
            c->idle_timeout = true;
        int r = tool_opts_parse(o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (cons_is(a, "--from-beginning", NULL)) {
            c->from_beginning = true;
            continue;
        }
        if (cons_is(a, "--skip-message-on-error", NULL)) {
            c->skip_errors = true;
            continue;
        }
        if (strncmp(a, "-", 1) != 0) {
            tool_err(cons_cmd, "unexpected argument %s (see --help)", a);
            return 2;
        }
        if (!(v = tool_arg_value(argc, argv, &i)))
            return 2;
        int rc = cons_parse_valued(c, a, v);
        if (rc)
            return rc;
    }
    return cons_check_args(c);
}

/* ---- client ---- */

static rd_kafka_t *cons_client_new(const cons_cfg *c, const tool_opts *o)
{
    rd_kafka_conf_t *conf = tool_conf_new(o);
    if (!conf)
        return NULL;
    char group[64];
    const char *group_id = c->group;
    if (!group_id) {
        /* Kafka's console consumer: a throwaway group */
        srandom((unsigned)(time(NULL) ^ (getpid() << 8)));
        snprintf(group, sizeof group, "console-consumer-%ld", random() % 100000);
        group_id = group;
    }
    if (tool_conf_set(conf, "group.id", group_id) < 0 ||
        tool_conf_set(conf, "auto.offset.reset", c->from_beginning ? "earliest" : "latest") < 0 ||
        tool_conf_set(conf, "enable.auto.commit", c->group ? "true" : "false") < 0 ||
        tool_conf_set(conf, "enable.partition.eof", "false") < 0 ||
        (c->isolation && tool_conf_set(conf, "isolation.level", c->isolation) < 0) ||
        (c->config_file && tool_conf_load_file(conf, c->config_file, "--consumer.config") < 0))
        goto out_conf;
    for (int k = 0; k < c->props_n; k++)
        if (tool_conf_apply_kv(conf, c->props[k], "--consumer-property") < 0)
            goto out_conf;
    return tool_client_new(RD_KAFKA_CONSUMER, conf);
out_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Assign the one partition, or subscribe to the topic or regex. */
static int cons_start(rd_kafka_t *rk, const cons_cfg *c)
{
    rd_kafka_resp_err_t err;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    if (c->partition >= 0) {
        rd_kafka_topic_partition_list_add(tl, c->topic, c->partition)->offset = c->offset;
        err = rd_kafka_assign(rk, tl);
    } else if (c->topic) {
        rd_kafka_topic_partition_list_add(tl, c->topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rk, tl);
    } else {
        /* librdkafka takes a pattern when it starts with '^'; Kafka matches the whole name */
        char re[CONS_REGEX_BYTES_MAX];
        if (c->include[0] == '^')
            snprintf(re, sizeof re, "%s", c->include);
        else
            snprintf(re, sizeof re, "^(%s)$", c->include);
        rd_kafka_topic_partition_list_add(tl, re, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rk, tl);
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) {
        tool_err(cons_cmd, "cannot %s: %s", c->partition >= 0 ? "assign" : "subscribe",
                 rd_kafka_err2str(err));
        return 1;
    }
    return 0;
}

/* ---- output ---- */

static void cons_put_bytes(const void *p, size_t n, const char *null_literal)
{
    if (p)
        fwrite(p, 1, n, stdout);
    else
        fputs(null_literal, stdout);
}

static const char *cons_ts_type_name(rd_kafka_timestamp_type_t t)
{
    return t == RD_KAFKA_TIMESTAMP_CREATE_TIME ? "CreateTime"
         : t == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime" : "NoTimestamp";
}

/* Kafka's DefaultMessageFormatter: columns separated by key.separator, the
 * last one followed by line.separator. */
static void cons_print_text(const cons_format *f, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tst;
    int64_t ts = rd_kafka_message_timestamp(m, &tst);
    if (f->print_timestamp) {
        if (tst != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            printf("%s:%lld", cons_ts_type_name(tst), (long long)ts);
        else
            fputs("NO_TIMESTAMP", stdout);
        fputs(f->print_partition || f->print_offset || f->print_headers || f->print_key ||
              f->print_value ? f->key_sep : f->line_sep, stdout);
    }
    if (f->print_partition) {
        printf("Partition:%d", (int)m->partition);
        fputs(f->print_offset || f->print_headers || f->print_key || f->print_value ? f->key_sep
                                                                                   : f->line_sep,
              stdout);
    }
    if (f->print_offset) {
        printf("Offset:%lld", (long long)m->offset);
        fputs(f->print_headers || f->print_key || f->print_value ? f->key_sep : f->line_sep, stdout);
    }
    if (f->print_headers) {
        rd_kafka_headers_t *hdrs = NULL;
        size_t n = 0;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = rd_kafka_header_cnt(hdrs);
        if (n == 0)
            fputs("NO_HEADERS", stdout);
        for (size_t k = 0; k < n; k++) {
            const char *name;
            const void *val;
            size_t size;
            rd_kafka_header_get_all(hdrs, k, &name, &val, &size);
            printf("%s:", name);
            cons_put_bytes(val, size, f->null_literal);
            if (k + 1 < n)
                fputs(f->headers_sep, stdout);
        }
        fputs(f->print_key || f->print_value ? f->key_sep : f->line_sep, stdout);
    }
    if (f->print_key) {
        cons_put_bytes(m->key, m->key_len, f->null_literal);
        fputs(f->print_value ? f->key_sep : f->line_sep, stdout);
    }
    if (f->print_value) {
        cons_put_bytes(m->payload, m->len, f->null_literal);
        fputs(f->line_sep, stdout);
    }
}

static void cons_json_bytes(const void *p, size_t n)
{
    if (p)
        tool_json_strn(stdout, p, n);
    else
        fputs("null", stdout);
}

static void cons_print_json(const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tst;
    int64_t ts = rd_kafka_message_timestamp(m, &tst);
    fputs("{\"topic\":", stdout);
    tool_json_str(stdout, rd_kafka_topic_name(m->rkt));
    printf(",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"timestamp_type\":\"%s\",\"key\":",
           (int)m->partition, (long long)m->offset, (long long)ts, cons_ts_type_name(tst));
    cons_json_bytes(m->key, m->key_len);
    fputs(",\"value\":", stdout);
    cons_json_bytes(m->payload, m->len);
    fputs(",\"headers\":[", stdout);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t n = rd_kafka_header_cnt(hdrs);
        for (size_t k = 0; k < n; k++) {
            const char *name;
            const void *val;
            size_t size;
            rd_kafka_header_get_all(hdrs, k, &name, &val, &size);
            fputs(k ? ",[" : "[", stdout);
            tool_json_str(stdout, name);
            fputc(',', stdout);
            cons_json_bytes(val, size);
            fputc(']', stdout);
        }
    }
    fputs("]}\n", stdout);
}

/* ---- the loop ---- */

/* A consumer error: a warning and go on, or 1 to stop. */
static int cons_on_error(rd_kafka_t *rk, const cons_cfg *c, const rd_kafka_message_t *m)
{
    char reason[512];
    if (rd_kafka_fatal_error(rk, reason, sizeof reason)) {
        tool_err(cons_cmd, "fatal consumer error: %s", reason);
        return 1;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 0;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    if (topic)
        fprintf(stderr, "gregor %s: error on %s [%d]: %s\n", cons_cmd, topic, (int)m->partition,
                rd_kafka_message_errstr(m));
    else
        fprintf(stderr, "gregor %s: error: %s\n", cons_cmd, rd_kafka_message_errstr(m));
    (void)c;
    return 0;
}

/* Poll and print until a stop condition. Returns the exit code. */
static int cons_loop(rd_kafka_t *rk, const cons_cfg *c, const tool_opts *o, uint64_t *count)
{
    int64_t last_ms = clock_mono_ms();
    bool flushed = true;
    while (!tool_stop) {
        if (c->max_messages >= 0 && (int64_t)*count >= c->max_messages)
            return 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, CONS_POLL_MS);
        if (!m) {
            if (!flushed) {
                if (fflush(stdout) != 0)
                    return 0; /* the reader went away */
                flushed = true;
            }
            if (c->idle_timeout && clock_mono_ms() - last_ms >= o->timeout_ms)
                return 0;
            continue;
        }
        if (m->err) {
            int rc = cons_on_error(rk, c, m);
            rd_kafka_message_destroy(m);
            if (rc)
                return rc;
            continue;
        }
        if (o->json)
            cons_print_json(m);
        else
            cons_print_text(&c->fmt, m);
        flushed = false;
        rd_kafka_message_destroy(m);
        (*count)++;
        last_ms = clock_mono_ms();
        if (ferror(stdout))
            return 0; /* the reader went away (e.g. `| head`): stop quietly, as Kafka does */
    }
    return 0;
}

int tool_consume_main(int argc, char **argv)
{
    cons_cfg c = { .partition = -1, .max_messages = -1,
                   .fmt = { .print_value = true, .key_sep = "\t", .line_sep = "\n",
                            .headers_sep = ",", .null_literal = "null" } };
    tool_opts o;
    tool_opts_init(&o);
    int rc = cons_parse_args(&c, &o, argc, argv);
    if (rc < 0) {
        cons_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;

    tool_install_signals();
    rd_kafka_t *rk = cons_client_new(&c, &o);
    if (!rk)
        return 1;
    uint64_t count = 0;
    if (tool_check_reachable(rk, &o) != 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    rc = cons_start(rk, &c);
    if (rc == 0)
        rc = cons_loop(rk, &c, &o, &count);
    fflush(stdout);
    /* commits the stored offsets (auto commit) and leaves the group */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err && rc == 0)
        fprintf(stderr, "gregor %s: warning: closing the consumer: %s\n", cons_cmd,
                rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
    fprintf(stderr, "Processed a total of %llu messages\n", (unsigned long long)count);
    return rc;
}
