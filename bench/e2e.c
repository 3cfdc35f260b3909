/*
 * e2e.c - end-to-end latency at a fixed rate, for bench/run (W5).
 *
 *   e2e -b HOST:PORT -t TOPIC -p PARTITIONS -r RATE -d SECONDS -s SIZE -a ACKS
 *       [-l LINGER_MS] [-w WARMUP_SECONDS] [-o FILE] [-X key=value]...
 *
 * One process, two threads, one clock. The consumer thread assign()s
 * partitions 0..PARTITIONS-1 of an empty topic from the beginning and
 * polls. After the consumer has had a second to set up its fetches, the
 * producer thread sends RATE records per second for SECONDS seconds,
 * round-robin over the partitions, each record carrying its CLOCK_MONOTONIC
 * send time (ns) and its sequence number in its first 16 bytes. The
 * consumer computes receipt time - send time for every record. Records sent
 * in the first WARMUP_SECONDS (default 0.5) are received but not counted.
 *
 * Producer: linger.ms 0 by default (latency, not batching), Nagle off on
 * both clients. Prints one line of JSON with the percentiles in
 * microseconds and the counts of records sent, delivered (acknowledged) and
 * received; a broker that cannot keep up shows as missing records: the
 * producer waits 30 s for its acknowledgements after the last send, the
 * consumer 5 s more. Exit status 0 only if every record arrived. With -o, every
 * measured record's send time (ms since the first send) and latency (us) go
 * to FILE, one per line: the timeline of the outliers.
 *
 * Build: cc -O2 -pthread -o e2e e2e.c -lrdkafka
 */
#define _GNU_SOURCE
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"

#define MAX_X 32

static const char *o_bootstrap = "127.0.0.1:9092", *o_topic = "e2e", *o_acks = "1",
                  *o_linger = "0";
static int o_partitions = 1;
static double o_rate = 10000, o_secs = 10, o_warmup = 0.5;
static size_t o_size = 1024;
static const char *o_x[MAX_X];
static int o_nx;

static long long g_total, g_warm;     /* records to send, of which warm-up */
static atomic_llong g_sent, g_dr_failed;
static atomic_int g_consumer_ready, g_producer_done;
static int64_t *g_lat_ns;  /* indexed by sequence number */
static int64_t *g_sent_ns; /* send time, indexed by sequence number */
static const char *o_out;
static long long g_received, g_dups;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "e2e: %s: %s\n", what, why);
    exit(1);
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config", err);
}

/* -X key=value options, applied last so that they override our defaults. */
static void apply_x(rd_kafka_conf_t *c) {
    for (int i = 0; i < o_nx; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o_x[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            die("-X wants key=value", o_x[i]);
        *eq = 0;
        conf_set(c, kv, eq + 1);
    }
}

static rd_kafka_conf_t *base_conf(void) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", o_bootstrap);
    conf_set(c, "socket.nagle.disable", "true");
    conf_set(c, "log_level", "3");
    return c;
}

/* produce() -> delivery report, microseconds (producer thread only). */
static int64_t *g_dr_us;
static long long g_ndr;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) {
        if (atomic_fetch_add(&g_dr_failed, 1) == 0)
            fprintf(stderr, "e2e: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    if (g_ndr < g_total)
        g_dr_us[g_ndr++] = rd_kafka_message_latency(m);
}

static void *producer_main(void *arg) {
    rd_kafka_conf_t *c = base_conf();
    char err[512];
    conf_set(c, "acks", o_acks);
    conf_set(c, "linger.ms", o_linger);
    conf_set(c, "enable.idempotence", "false");
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    apply_x(c);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk)
        die("producer", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o_topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e)
        die("metadata", rd_kafka_err2str(e));
    rd_kafka_metadata_destroy(md);
    while (!atomic_load(&g_consumer_ready))
        rd_kafka_poll(rk, 10);

    unsigned char *buf = calloc(1, o_size < 16 ? 16 : o_size);
    int64_t t0 = now_ns();
    for (long long i = 0; i < g_total; i++) {
        int64_t due = t0 + (int64_t)((double)i * 1e9 / o_rate);
        struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        put64(buf, (uint64_t)now_ns());
        put64(buf + 8, (uint64_t)i);
        while (rd_kafka_produce(rkt, (int32_t)(i % o_partitions), RD_KAFKA_MSG_F_COPY, buf,
                                o_size < 16 ? 16 : o_size, NULL, 0, NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 1);
        }
        atomic_fetch_add(&g_sent, 1);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 30000);
    atomic_store(&g_producer_done, 1);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(buf);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const int64_t *v, long long n, double p) {
    if (n == 0)
        return -1;
    long long i = (long long)(p / 100.0 * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1000.0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        goto usage;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc || a[0] != '-' || strlen(a) != 2)
            goto usage;
        const char *v = argv[++i];
        switch (a[1]) {
        case 'b': o_bootstrap = v; break;
        case 't': o_topic = v; break;
        case 'p': o_partitions = atoi(v); break;
        case 'r': o_rate = atof(v); break;
        case 'd': o_secs = atof(v); break;
        case 's': o_size = (size_t)atol(v); break;
        case 'a': o_acks = v; break;
        case 'l': o_linger = v; break;
        case 'w': o_warmup = atof(v); break;
        case 'o': o_out = v; break;
        case 'X':
            if (o_nx == MAX_X)
                goto usage;
            o_x[o_nx++] = v;
            break;
        default: goto usage;
        }
    }
    if (o_partitions < 1 || o_rate <= 0 || o_secs <= 0)
        goto usage;
    g_total = (long long)(o_rate * (o_secs + o_warmup));
    g_warm = (long long)(o_rate * o_warmup);
    g_lat_ns = malloc(sizeof(int64_t) * (size_t)g_total);
    g_sent_ns = calloc((size_t)g_total, sizeof(int64_t));
    g_dr_us = calloc((size_t)g_total, sizeof(int64_t));
    if (!g_lat_ns || !g_sent_ns || !g_dr_us)
        die("malloc", "out of memory");
    for (long long i = 0; i < g_total; i++)
        g_lat_ns[i] = -1;

    rd_kafka_conf_t *c = base_conf();
    char err[512];
    conf_set(c, "group.id", "e2e-bench"); /* librdkafka wants one even for assign() */
    conf_set(c, "enable.auto.commit", "false");
    conf_set(c, "enable.partition.eof", "false");
    conf_set(c, "fetch.wait.max.ms", "100");
    conf_set(c, "fetch.min.bytes", "1");
    apply_x(c);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk)
        die("consumer", err);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(o_partitions);
    for (int p = 0; p < o_partitions; p++)
        rd_kafka_topic_partition_list_add(tp, o_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tp);
    if (e)
        die("assign", rd_kafka_err2str(e));

    pthread_t prod;
    if (pthread_create(&prod, NULL, producer_main, NULL))
        die("pthread_create", "failed");

    int64_t ready_at = now_ns() + 1000000000LL, deadline = 0;
    while (g_received < g_total) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        int64_t t = now_ns();
        if (!atomic_load(&g_consumer_ready) && t >= ready_at)
            atomic_store(&g_consumer_ready, 1);
        if (atomic_load(&g_producer_done) && !deadline)
            deadline = t + 5000000000LL;
        if (deadline && t > deadline)
            break;
        if (!m)
            continue;
        if (m->err) {
            fprintf(stderr, "e2e: consume: %s\n", rd_kafka_message_errstr(m));
        } else if (m->len >= 16) {
            uint64_t sent = get64(m->payload), seq = get64((const unsigned char *)m->payload + 8);
            if (seq < (uint64_t)g_total) {
                if (g_lat_ns[seq] >= 0)
                    g_dups++;
                else {
                    g_lat_ns[seq] = t - (int64_t)sent;
                    g_sent_ns[seq] = (int64_t)sent;
                    g_received++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    pthread_join(prod, NULL);

    long long n = 0, missing = 0;
    double sum = 0;
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(g_total - g_warm + 1));
    for (long long i = g_warm; i < g_total; i++) {
        if (g_lat_ns[i] < 0) {
            missing++;
            continue;
        }
        v[n++] = g_lat_ns[i];
        sum += (double)g_lat_ns[i];
    }
    if (o_out) {
        FILE *f = fopen(o_out, "w");
        if (!f)
            die("cannot write", o_out);
        int64_t base = g_warm < g_total ? g_sent_ns[g_warm] : 0;
        for (long long i = g_warm; i < g_total; i++)
            if (g_lat_ns[i] >= 0)
                fprintf(f, "%.3f %.1f\n", (double)(g_sent_ns[i] - base) / 1e6,
                        (double)g_lat_ns[i] / 1e3);
        fclose(f);
    }
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    /* Delivery-report latencies, warm-up excluded (reports arrive in order
     * per partition, so dropping the first g_warm is close enough). */
    long long ndr = g_ndr > g_warm ? g_ndr - g_warm : 0;
    qsort(g_dr_us + (g_ndr - ndr), (size_t)ndr, sizeof(int64_t), cmp_i64);
    const int64_t *dr = g_dr_us + (g_ndr - ndr);
    long long over1ms = 0;
    for (long long i = 0; i < n; i++)
        over1ms += v[i] > 1000000;
    printf("{\"acks\":\"%s\",\"rate\":%.0f,\"secs\":%.1f,\"size\":%zu,\"partitions\":%d,"
           "\"sent\":%lld,\"delivered\":%lld,\"measured\":%lld,\"missing\":%lld,\"duplicates\":%lld,"
           "\"delivery_failed\":%lld,\"lat_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
           "\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f},\"over_1ms\":%lld,"
           "\"client_cpu_s\":%.3f,\"dr_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
           "\"max\":%.1f}}\n",
           o_acks, o_rate, o_secs, o_size, o_partitions, (long long)atomic_load(&g_sent), g_ndr,
           n, missing, g_dups, (long long)atomic_load(&g_dr_failed), pct_us(v, n, 50),
           pct_us(v, n, 90), pct_us(v, n, 99), pct_us(v, n, 99.9), pct_us(v, n, 100),
           n ? sum / (double)n / 1000.0 : -1, over1ms, cpu_s(), pct_us(dr, ndr, 50) * 1000,
           pct_us(dr, ndr, 99) * 1000, pct_us(dr, ndr, 99.9) * 1000, pct_us(dr, ndr, 100) * 1000);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(v);
    free(g_lat_ns);
    free(g_sent_ns);
    free(g_dr_us);
    return (missing || atomic_load(&g_dr_failed)) ? 1 : 0;
usage:
    fprintf(stderr, "usage: e2e -b HOST:PORT -t TOPIC -p PARTITIONS -r RATE -d SECONDS -s SIZE"
                    " -a ACKS [-l LINGER_MS] [-w WARMUP_S] [-o FILE] [-X key=value]...\n");
    return 2;
}
