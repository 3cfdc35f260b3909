/*
 * perf.c - `gregor perf produce|consume`: Kafka's kafka-producer-perf-test.sh
 * and kafka-consumer-perf-test.sh, same flags, same output lines.
 *
 * produce: sends --num-records records of --record-size random capital
 * letters (or lines of --payload-file) as fast as --throughput allows, and
 * measures each record's latency from rd_kafka_producev to its delivery
 * report. Latencies go into a preallocated array (every k-th record once
 * there are more than PERF_SAMPLES_MAX, as Kafka samples), sorted at the end
 * for the percentiles. Progress every 5 s and the summary use Kafka's format.
 *
 * consume: joins a group, reads --messages records (or until --timeout ms
 * pass without one) and prints Kafka's one header line and one row.
 *
 * Everything runs on the main thread: delivery reports and rebalance
 * callbacks are served from rd_kafka_poll / rd_kafka_consumer_poll.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "tools/common.h"
#include "tools/tools.h"

#define PERF_SAMPLES_MAX 500000          /* latency samples kept (Kafka's bound) */
#define PERF_REPORT_MS 5000
#define PERF_PROPS_MAX 256
#define PERF_RECORD_BYTES_MAX (64 * 1024 * 1024)
#define PERF_PAYLOADS_MAX 1000000        /* lines taken from --payload-file */
#define PERF_FLUSH_MS_MIN 60000

static const char *const perf_cmd = "perf";

static bool perf_is(const char *arg, const char *a, const char *b)
{
    return strcmp(arg, a) == 0 || (b && strcmp(arg, b) == 0);
}

static void perf_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor perf produce --topic T --num-records N --record-size B [options]\n"
            "       gregor perf consume --topic T --messages N [options]\n"
            "\n"
            "produce (kafka-producer-perf-test.sh):\n"
            "  --topic T, --num-records N, --record-size B | --payload-file F\n"
            "  --payload-delimiter S          between payloads in F (default newline)\n"
            "  --throughput N                 records/s, -1 = unlimited (default -1)\n"
            "  --producer-props K=V [K=V...]  librdkafka properties\n"
            "  --producer.config FILE\n"
            "consume (kafka-consumer-perf-test.sh):\n"
            "  --topic T, --messages N\n"
            "  --group G                      default perf-consumer-NNNNN\n"
            "  --timeout MS                   give up after MS without a record (default 10000)\n"
            "  --from-latest                  start at the end when the group has no offsets\n"
            "  --fetch-size B, --socket-buffer-size B, --hide-header\n"
            "  --show-detailed-stats, --reporting-interval MS\n"
            "  --consumer.config FILE\n"
            "common: --bootstrap-server HOST:PORT, --command-config FILE, --timeout-ms N\n"
            "        (bound on reaching the broker), --output table|json\n"
            "\n"
            "Example:\n"
            "  gregor perf produce --bootstrap-server localhost:9092 --topic perf \\\n"
            "      --num-records 1000000 --record-size 100 --throughput -1 --producer-props acks=all\n"
            "  gregor perf consume --bootstrap-server localhost:9092 --topic perf --messages 1000000\n");
}

/* ---- client properties (shared by both sides) ---- */

/* ================= produce ================= */

typedef struct perf_prod_cfg {
    const char *topic;
    int64_t num_records;
    int64_t record_size;       /* -1: from --payload-file */
    const char *payload_file;
    const char *payload_delim;
    double throughput;         /* records/s; <= 0 unlimited */
    const char *config_file;
    const char *props[PERF_PROPS_MAX];
    int props_n;
} perf_prod_cfg;

/* Kafka's Stats: a 5 s window for progress lines and totals for the summary. */
typedef struct perf_stats {
    int64_t start_us;
    int64_t count, bytes, failed;
    int64_t latency_total_ms, latency_max_ms;
    int32_t *samples;          /* owned; PERF_SAMPLES_MAX */
    int64_t samples_n;
    int64_t window_start_us, window_count, window_bytes, window_latency_total_ms;
    int64_t window_latency_max_ms;
    int64_t record_bytes;      /* bytes per record when fixed, for the MB/s figures */
    char first_error[512];
} perf_stats;

static void perf_window_print(perf_stats *st, int64_t now_us)
{
    double secs = (double)(now_us - st->window_start_us) / 1e6;
    if (st->window_count > 0 && secs > 0)
        fprintf(stderr, "%lld records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, "
                "%.1f ms max latency.\n", (long long)st->window_count, (double)st->window_count / secs,
                (double)st->window_bytes / 1024.0 / 1024.0 / secs,
                (double)st->window_latency_total_ms / (double)st->window_count,
                (double)st->window_latency_max_ms);
    st->window_start_us = now_us;
    st->window_count = st->window_bytes = st->window_latency_total_ms = 0;
    st->window_latency_max_ms = 0;
}

/* The opaque of each message: its send time (us since start) << 1 | sampled. */
static void perf_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    perf_stats *st = opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    int64_t now_us = (clock_mono_ns() / 1000);
    if (m->err) {
        if (st->failed++ == 0)
            snprintf(st->first_error, sizeof st->first_error, "%s", rd_kafka_err2str(m->err));
        return;
    }
    int64_t latency_ms = (now_us - st->start_us - (int64_t)(tag >> 1)) / 1000;
    st->count++;
    st->bytes += (int64_t)m->len;
    st->latency_total_ms += latency_ms;
    if (latency_ms > st->latency_max_ms)
        st->latency_max_ms = latency_ms;
    if ((tag & 1) && st->samples_n < PERF_SAMPLES_MAX)
        st->samples[st->samples_n++] = (int32_t)(latency_ms > INT32_MAX ? INT32_MAX : latency_ms);
    st->window_count++;
    st->window_bytes += (int64_t)m->len;
    st->window_latency_total_ms += latency_ms;
    if (latency_ms > st->window_latency_max_ms)
        st->window_latency_max_ms = latency_ms;
    if (now_us - st->window_start_us >= PERF_REPORT_MS * 1000)
        perf_window_print(st, now_us);
}

static int perf_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void perf_prod_summary(perf_stats *st, const tool_opts *o)
{
    double secs = (double)((clock_mono_ns() / 1000) - st->start_us) / 1e6;
    double rps = secs > 0 ? (double)st->count / secs : 0;
    double mbps = secs > 0 ? (double)st->bytes / 1024.0 / 1024.0 / secs : 0;
    double avg = st->count ? (double)st->latency_total_ms / (double)st->count : 0;
    qsort(st->samples, (size_t)st->samples_n, sizeof st->samples[0], perf_cmp_i32);
    static const double pct[] = { 0.5, 0.95, 0.99, 0.999 };
    int32_t p[4] = { 0 };
    for (int k = 0; k < 4 && st->samples_n > 0; k++)
        p[k] = st->samples[(int64_t)(pct[k] * (double)st->samples_n)];
    if (o->json) {
        printf("{\"records\":%lld,\"records_per_sec\":%.3f,\"mb_per_sec\":%.3f,"
               "\"latency_avg_ms\":%.2f,\"latency_max_ms\":%lld,\"latency_p50_ms\":%d,"
               "\"latency_p95_ms\":%d,\"latency_p99_ms\":%d,\"latency_p999_ms\":%d,\"failed\":%lld}\n",
               (long long)st->count, rps, mbps, avg, (long long)st->latency_max_ms, p[0], p[1],
               p[2], p[3], (long long)st->failed);
        return;
    }
    printf("%lld records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max "
           "latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
           (long long)st->count, rps, mbps, avg, (double)st->latency_max_ms, p[0], p[1], p[2], p[3]);
}

static int perf_prod_parse(perf_prod_cfg *c, tool_opts *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (perf_is(a, "--help", "-h"))
            return -1;
        int r = tool_opts_parse(o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (perf_is(a, "--print-metrics", NULL))
            continue;
        if (perf_is(a, "--producer-props", NULL)) { /* one or more k=v after it */
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                tool_err(perf_cmd, "--producer-props needs key=value");
                return 2;
            }
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                if (c->props_n == PERF_PROPS_MAX) {
                    tool_err(perf_cmd, "too many producer properties");
                    return 2;
                }
                c->props[c->props_n++] = argv[++i];
            }
            continue;
        }
        if (!(v = tool_arg_value(argc, argv, &i)))
            return 2;
        int64_t n;
        if (perf_is(a, "--topic", NULL))
            c->topic = v;
        else if (perf_is(a, "--num-records", NULL) || perf_is(a, "--record-size", NULL)) {
            if (tool_parse_int64(v, &n) < 0 || n < 1 ||
                (a[2] == 'r' && n > PERF_RECORD_BYTES_MAX)) {
                tool_err(perf_cmd, "%s: not a valid count: %s", a, v);
                return 2;
            }
            *(a[2] == 'n' ? &c->num_records : &c->record_size) = n;
        } else if (perf_is(a, "--throughput", NULL)) {
            char *end;
            c->throughput = strtod(v, &end);
            if (*end) {
                tool_err(perf_cmd, "--throughput: not a number: %s", v);
                return 2;
            }
        } else if (perf_is(a, "--payload-file", NULL))
            c->payload_file = v;
        else if (perf_is(a, "--payload-delimiter", NULL))
            c->payload_delim = v;
        else if (perf_is(a, "--producer.config", NULL))
            c->config_file = v;
        else if (perf_is(a, "--transactional-id", NULL) || perf_is(a, "--transaction-duration-ms", NULL)) {
            tool_err(perf_cmd, "%s: transactions are not supported", a);
            return 2;
        } else {
            tool_err(perf_cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    if (!c->topic || c->num_records < 1 || (c->record_size < 0) == !c->payload_file) {
        tool_err(perf_cmd, "produce needs --topic, --num-records and one of --record-size and "
                 "--payload-file (see --help)");
        return 2;
    }
    return 0;
}

/* The payloads: one random record, or the pieces of --payload-file. */
typedef struct perf_payloads {
    char *data;                /* owned */
    char **items;              /* owned array, pointers into data */
    size_t *lens;
    size_t n;
} perf_payloads;

static int perf_payloads_load(perf_payloads *pl, const perf_prod_cfg *c)
{
    if (!c->payload_file) {
        pl->data = malloc((size_t)c->record_size);
        pl->items = malloc(sizeof *pl->items);
        pl->lens = malloc(sizeof *pl->lens);
        if (!pl->data || !pl->items || !pl->lens)
            return -1;
        for (int64_t k = 0; k < c->record_size; k++)
            pl->data[k] = (char)('A' + random() % 26);
        pl->items[0] = pl->data;
        pl->lens[0] = (size_t)c->record_size;
        pl->n = 1;
        return 0;
    }
    FILE *f = fopen(c->payload_file, "rb");
    if (!f) {
        tool_err(perf_cmd, "--payload-file %s: %s", c->payload_file, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    pl->data = malloc(cap + 1);
    while (pl->data) {
        size_t got = fread(pl->data + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        if (cap >= PERF_RECORD_BYTES_MAX * 4) {
            tool_err(perf_cmd, "--payload-file %s is larger than %d bytes", c->payload_file,
                     PERF_RECORD_BYTES_MAX * 4);
            fclose(f);
            return -1;
        }
        cap *= 2;
        char *nd = realloc(pl->data, cap + 1);
        if (!nd)
            free(pl->data);
        pl->data = nd;
    }
    fclose(f);
    if (!pl->data)
        return -1;
    pl->data[len] = '\0';
    const char *delim = c->payload_delim ? c->payload_delim : "\n";
    size_t dl = strlen(delim) ? strlen(delim) : 1;
    pl->items = malloc(PERF_PAYLOADS_MAX * sizeof *pl->items);
    pl->lens = malloc(PERF_PAYLOADS_MAX * sizeof *pl->lens);
    if (!pl->items || !pl->lens)
        return -1;
    for (char *s = pl->data, *end = pl->data + len; s < end && pl->n < PERF_PAYLOADS_MAX;) {
        char *d = memmem(s, (size_t)(end - s), delim, dl);
        char *e = d ? d : end;
        if (e > s) {
            pl->items[pl->n] = s;
            pl->lens[pl->n++] = (size_t)(e - s);
        }
        s = d ? d + dl : end;
    }
    if (pl->n == 0) {
        tool_err(perf_cmd, "--payload-file %s holds no payload", c->payload_file);
        return -1;
    }
    return 0;
}

static void perf_payloads_free(perf_payloads *pl)
{
    free(pl->data);
    free(pl->items);
    free(pl->lens);
}

static rd_kafka_t *perf_prod_client(const perf_prod_cfg *c, const tool_opts *o, perf_stats *st)
{
    rd_kafka_conf_t *conf = tool_conf_new(o);
    if (!conf)
        return NULL;
    if (c->config_file && tool_conf_load_file(conf, c->config_file, "--producer.config") < 0)
        goto out_conf;
    for (int k = 0; k < c->props_n; k++)
        if (tool_conf_apply_kv(conf, c->props[k], "--producer-props") < 0)
            goto out_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, perf_dr_cb);
    rd_kafka_conf_set_opaque(conf, st);
    return tool_client_new(RD_KAFKA_PRODUCER, conf);
out_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Kafka's ThroughputThrottler: sleep while ahead of the target rate. */
static void perf_throttle(rd_kafka_t *rk, const perf_prod_cfg *c, int64_t sent, int64_t start_us)
{
    if (c->throughput <= 0)
        return;
    int64_t due_us = start_us + (int64_t)((double)sent * 1e6 / c->throughput);
    for (int64_t now = (clock_mono_ns() / 1000); now < due_us && !tool_stop; now = (clock_mono_ns() / 1000)) {
        int64_t ms = (due_us - now) / 1000;
        rd_kafka_poll(rk, ms > 100 ? 100 : (int)ms);
        if (ms == 0)
            break;
    }
}

static int perf_prod_send_all(rd_kafka_t *rk, const perf_prod_cfg *c, const perf_payloads *pl,
                              perf_stats *st)
{
    int64_t sampling = c->num_records / (c->num_records < PERF_SAMPLES_MAX ? c->num_records
                                                                            : PERF_SAMPLES_MAX);
    for (int64_t i = 0; i < c->num_records && !tool_stop; i++) {
        size_t k = pl->n == 1 ? 0 : (size_t)random() % pl->n;
        perf_throttle(rk, c, i, st->start_us);
        for (;;) {
            uintptr_t tag = (uintptr_t)((clock_mono_ns() / 1000) - st->start_us) << 1 | (i % sampling == 0);
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(c->topic), RD_KAFKA_V_VALUE(pl->items[k], pl->lens[k]),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)tag),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                tool_err(perf_cmd, "cannot produce: %s", rd_kafka_err2str(err));
                return 1;
            }
            if (tool_stop)
                return 0;
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    return 0;
}

static int perf_produce(int argc, char **argv)
{
    perf_prod_cfg c = { .record_size = -1, .throughput = -1 };
    tool_opts o;
    tool_opts_init(&o);
    int rc = perf_prod_parse(&c, &o, argc, argv);
    if (rc < 0) {
        perf_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    srandom((unsigned)(time(NULL) ^ getpid()));
    perf_payloads pl = { 0 };
    perf_stats st = { 0 };
    st.samples = malloc(PERF_SAMPLES_MAX * sizeof *st.samples);
    if (!st.samples || perf_payloads_load(&pl, &c) < 0) {
        if (!st.samples || !pl.data)
            tool_err(perf_cmd, "out of memory");
        rc = 1;
        goto out_mem;
    }
    tool_install_signals();
    rd_kafka_t *rk = perf_prod_client(&c, &o, &st);
    if (!rk) {
        rc = 1;
        goto out_mem;
    }
    if ((rc = tool_check_reachable(rk, &o)) != 0)
        goto out_rk;
    st.start_us = st.window_start_us = (clock_mono_ns() / 1000);
    rc = perf_prod_send_all(rk, &c, &pl, &st);
    int flush_ms = o.timeout_ms > PERF_FLUSH_MS_MIN ? o.timeout_ms : PERF_FLUSH_MS_MIN;
    for (int64_t until = clock_mono_ms() + flush_ms; rd_kafka_outq_len(rk) > 0 && !tool_stop &&
                                                    clock_mono_ms() < until;)
        rd_kafka_flush(rk, 100);
    int left = rd_kafka_outq_len(rk);
    perf_prod_summary(&st, &o);
    if (left > 0 && !tool_stop) {
        tool_err(perf_cmd, "%d records not acknowledged within %d ms", left, flush_ms);
        rc = 1;
    }
    if (st.failed > 0) {
        tool_err(perf_cmd, "%lld records failed; first error: %s", (long long)st.failed,
                 st.first_error);
        rc = 1;
    }
    if (left > 0)
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
out_rk:
    rd_kafka_destroy(rk);
out_mem:
    perf_payloads_free(&pl);
    free(st.samples);
    return rc;
}

/* ================= consume ================= */

typedef struct perf_cons_cfg {
    const char *topic;
    int64_t messages;
    const char *group;
    int64_t timeout_ms;        /* --timeout: without a record */
    bool from_latest;
    bool hide_header;
    bool detailed;
    int64_t report_ms;
    const char *fetch_size;
    const char *socket_buffer;
    const char *config_file;
} perf_cons_cfg;

typedef struct perf_cons_state {
    int64_t join_start_ms;
    int64_t join_total_ms;     /* time spent in rebalances */
} perf_cons_state;

static void perf_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    perf_cons_state *cs = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        cs->join_total_ms += clock_mono_ms() - cs->join_start_ms;
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
    } else {
        cs->join_start_ms = clock_mono_ms();
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

static int perf_cons_parse(perf_cons_cfg *c, tool_opts *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (perf_is(a, "--help", "-h"))
            return -1;
        if (perf_is(a, "--from-latest", NULL) || perf_is(a, "--hide-header", NULL) ||
            perf_is(a, "--show-detailed-stats", NULL) || perf_is(a, "--print-metrics", NULL)) {
            c->from_latest |= a[2] == 'f';
            c->hide_header |= a[2] == 'h';
            c->detailed |= a[2] == 's';
            continue;
        }
        /* --timeout is Kafka's gap between records here, not the common bound */
        if (!perf_is(a, "--timeout", NULL)) {
            int r = tool_opts_parse(o, argc, argv, &i);
            if (r < 0)
                return 2;
            if (r > 0)
                continue;
        }
        if (!(v = tool_arg_value(argc, argv, &i)))
            return 2;
        if (perf_is(a, "--topic", NULL))
            c->topic = v;
        else if (perf_is(a, "--group", NULL))
            c->group = v;
        else if (perf_is(a, "--messages", NULL) || perf_is(a, "--timeout", NULL) ||
                 perf_is(a, "--reporting-interval", NULL)) {
            int64_t n;
            if (tool_parse_int64(v, &n) < 0 || n < 1) {
                tool_err(perf_cmd, "%s: not a positive number: %s", a, v);
                return 2;
            }
            *(a[2] == 'm' ? &c->messages : a[2] == 't' ? &c->timeout_ms : &c->report_ms) = n;
        } else if (perf_is(a, "--fetch-size", NULL))
            c->fetch_size = v;
        else if (perf_is(a, "--socket-buffer-size", NULL))
            c->socket_buffer = v;
        else if (perf_is(a, "--consumer.config", NULL))
            c->config_file = v;
        else if (perf_is(a, "--threads", NULL) || perf_is(a, "--num-fetch-threads", NULL) ||
                 perf_is(a, "--date-format", NULL))
            fprintf(stderr, "gregor %s: warning: %s is ignored\n", perf_cmd, a);
        else {
            tool_err(perf_cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    if (!c->topic || c->messages < 1) {
        tool_err(perf_cmd, "consume needs --topic and --messages (see --help)");
        return 2;
    }
    return 0;
}

static rd_kafka_t *perf_cons_client(const perf_cons_cfg *c, const tool_opts *o, perf_cons_state *cs)
{
    rd_kafka_conf_t *conf = tool_conf_new(o);
    if (!conf)
        return NULL;
    char group[64];
    if (!c->group)
        snprintf(group, sizeof group, "perf-consumer-%ld", random() % 100000);
    if (tool_conf_set(conf, "group.id", c->group ? c->group : group) < 0 ||
        tool_conf_set(conf, "auto.offset.reset", c->from_latest ? "latest" : "earliest") < 0 ||
        tool_conf_set(conf, "enable.partition.eof", "false") < 0 ||
        (c->fetch_size && tool_conf_set(conf, "max.partition.fetch.bytes", c->fetch_size) < 0) ||
        (c->socket_buffer && tool_conf_set(conf, "socket.receive.buffer.bytes", c->socket_buffer) < 0) ||
        (c->config_file && tool_conf_load_file(conf, c->config_file, "--consumer.config") < 0)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, perf_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, cs);
    return tool_client_new(RD_KAFKA_CONSUMER, conf);
}

/* Kafka's date format, yyyy-MM-dd HH:mm:ss:SSS, local time. */
static void perf_fmt_time(char *buf, size_t len, int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, len - n, ":%03d", (int)(wall_ms % 1000));
}

static int64_t perf_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

typedef struct perf_cons_result {
    int64_t start_wall_ms, end_wall_ms, elapsed_ms;
    int64_t messages, bytes, join_ms;
} perf_cons_result;

static void perf_cons_print(const perf_cons_cfg *c, const tool_opts *o, const perf_cons_result *r)
{
    double mb = (double)r->bytes / 1024.0 / 1024.0;
    double secs = (double)r->elapsed_ms / 1000.0;
    int64_t fetch_ms = r->elapsed_ms - r->join_ms;
    double fetch_secs = (double)fetch_ms / 1000.0;
    double mbps = secs > 0 ? mb / secs : 0, nps = secs > 0 ? (double)r->messages / secs : 0;
    double fmbps = fetch_secs > 0 ? mb / fetch_secs : 0;
    double fnps = fetch_secs > 0 ? (double)r->messages / fetch_secs : 0;
    char start[64], end[64];
    perf_fmt_time(start, sizeof start, r->start_wall_ms);
    perf_fmt_time(end, sizeof end, r->end_wall_ms);
    if (o->json) {
        printf("{\"start_time\":\"%s\",\"end_time\":\"%s\",\"data_consumed_mb\":%.4f,\"mb_per_sec\":%.4f,"
               "\"messages\":%lld,\"messages_per_sec\":%.4f,\"rebalance_time_ms\":%lld,"
               "\"fetch_time_ms\":%lld,\"fetch_mb_per_sec\":%.4f,\"fetch_messages_per_sec\":%.4f}\n",
               start, end, mb, mbps, (long long)r->messages, nps, (long long)r->join_ms,
               (long long)fetch_ms, fmbps, fnps);
        return;
    }
    if (!c->hide_header)
        printf("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
               "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n");
    printf("%s, %s, %.4f, %.4f, %lld, %.4f, %lld, %lld, %.4f, %.4f\n", start, end, mb, mbps,
           (long long)r->messages, nps, (long long)r->join_ms, (long long)fetch_ms, fmbps, fnps);
}

/* Read until --messages, --timeout without a record, or Ctrl-C. */
static int perf_cons_loop(rd_kafka_t *rk, const perf_cons_cfg *c, perf_cons_result *r)
{
    int64_t last_ms = clock_mono_ms(), report_ms = last_ms, report_msgs = 0, report_bytes = 0;
    while (r->messages < c->messages && !tool_stop && clock_mono_ms() - last_ms <= c->timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            char reason[512];
            if (rd_kafka_fatal_error(rk, reason, sizeof reason)) {
                tool_err(perf_cmd, "fatal consumer error: %s", reason);
                rd_kafka_message_destroy(m);
                return 1;
            }
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "gregor %s: %s\n", perf_cmd, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        r->messages++;
        r->bytes += (int64_t)(m->len + m->key_len);
        rd_kafka_message_destroy(m);
        last_ms = clock_mono_ms();
        if (c->detailed && last_ms - report_ms >= c->report_ms) {
            double secs = (double)(last_ms - report_ms) / 1000.0;
            fprintf(stderr, "%lld messages, %.4f MB/sec, %.4f nMsg/sec\n", (long long)r->messages,
                    (double)(r->bytes - report_bytes) / 1048576.0 / secs,
                    (double)(r->messages - report_msgs) / secs);
            report_ms = last_ms;
            report_msgs = r->messages;
            report_bytes = r->bytes;
        }
    }
    if (r->messages < c->messages && !tool_stop)
        printf("WARNING: Exiting before consuming the expected number of messages: timeout (%lld ms) "
               "exceeded. You can use the --timeout option to increase the timeout.\n",
               (long long)c->timeout_ms);
    return 0;
}

static int perf_consume(int argc, char **argv)
{
    perf_cons_cfg c = { .timeout_ms = 10000, .report_ms = 5000 };
    tool_opts o;
    tool_opts_init(&o);
    int rc = perf_cons_parse(&c, &o, argc, argv);
    if (rc < 0) {
        perf_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    srandom((unsigned)(time(NULL) ^ getpid()));
    tool_install_signals();
    perf_cons_state cs = { 0 };
    rd_kafka_t *rk = perf_cons_client(&c, &o, &cs);
    if (!rk)
        return 1;
    if (tool_check_reachable(rk, &o) != 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    perf_cons_result r = { .start_wall_ms = perf_wall_ms() };
    int64_t start_ms = clock_mono_ms();
    cs.join_start_ms = start_ms;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, c.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) {
        tool_err(perf_cmd, "cannot subscribe to %s: %s", c.topic, rd_kafka_err2str(err));
        rc = 1;
    } else {
        rc = perf_cons_loop(rk, &c, &r);
    }
    r.end_wall_ms = perf_wall_ms();
    r.elapsed_ms = clock_mono_ms() - start_ms;
    r.join_ms = cs.join_total_ms;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rc == 0)
        perf_cons_print(&c, &o, &r);
    return rc;
}

int tool_perf_main(int argc, char **argv)
{
    if (argc < 2 || perf_is(argv[1], "--help", "-h")) {
        perf_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "produce") == 0)
        return perf_produce(argc, argv);
    if (strcmp(argv[1], "consume") == 0)
        return perf_consume(argc, argv);
    tool_err(perf_cmd, "unknown subcommand %s: produce or consume", argv[1]);
    return 2;
}
