/*
 * cleaner_load.c - the keyed load bench/run's cleaner rows (C1, C2) need.
 *
 *   cleaner_load -b HOST:PORT -t TOPIC -n COUNT -k KEYS -s SIZE [-p PARTITION] [-X key=value]...
 *
 * Produces COUNT records to one partition of TOPIC (default 0): record i
 * has the key "key-%010lld" of i % KEYS (14 bytes) and a value of SIZE
 * bytes, so that after one pass every key has COUNT / KEYS values and a
 * compacted log keeps the last one of each. acks=1, linger.ms=5,
 * batch.size 1,000,000, no compression, idempotence off (as kload's W1);
 * -X key=value overrides any librdkafka setting. Timing runs from the first
 * produce() to the last delivery report.
 *
 * Prints one line of JSON on stdout ("records_per_s", "mib_per_s" counting
 * key + value bytes, "secs", "client_cpu_s") and exits 0 only if every
 * record was delivered without error. kload has no keys: that is why this
 * tool exists.
 *
 * Build: cc -O2 -o cleaner_load cleaner_load.c -lrdkafka
 */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_X 64
#define KEY_LEN 14 /* "key-" and ten digits */

static const char *o_bootstrap;
static const char *o_topic;
static long long o_count = -1, o_keys = -1;
static long o_size = -1;
static int o_partition = 0;
static const char *o_x[MAX_X];
static int o_nx;

static long long g_delivered, g_failed;
static char g_first_err[256];

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "cleaner_load: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static void usage(void) {
    fprintf(stderr, "usage: cleaner_load -b HOST:PORT -t TOPIC -n COUNT -k KEYS -s SIZE "
                    "[-p PARTITION] [-X key=value]...\n");
    exit(2);
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config: %s", err);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (!g_failed++)
            snprintf(g_first_err, sizeof g_first_err, "%s", rd_kafka_err2str(m->err));
        return;
    }
    g_delivered++;
}

int main(int argc, char **argv) {
    int c;
    while ((c = getopt(argc, argv, "b:t:n:k:s:p:X:")) != -1) {
        switch (c) {
        case 'b': o_bootstrap = optarg; break;
        case 't': o_topic = optarg; break;
        case 'n': o_count = atoll(optarg); break;
        case 'k': o_keys = atoll(optarg); break;
        case 's': o_size = atol(optarg); break;
        case 'p': o_partition = atoi(optarg); break;
        case 'X':
            if (o_nx == MAX_X)
                die("%s", "too many -X");
            o_x[o_nx++] = optarg;
            break;
        default: usage();
        }
    }
    if (!o_bootstrap || !o_topic || o_count < 0 || o_keys < 1 || o_keys >= 10000000000LL ||
        o_size < 0 || optind != argc)
        usage();

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", o_bootstrap);
    conf_set(conf, "log_level", "3");
    conf_set(conf, "acks", "1");
    conf_set(conf, "linger.ms", "5");
    conf_set(conf, "batch.size", "1000000");
    conf_set(conf, "enable.idempotence", "false");
    conf_set(conf, "queue.buffering.max.messages", "1000000");
    for (int i = 0; i < o_nx; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o_x[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            die("-X wants key=value, not %s", o_x[i]);
        *eq = 0;
        conf_set(conf, kv, eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        die("rd_kafka_new: %s", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o_topic, NULL);

    /* Connect and learn the partition before the clock starts. */
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e)
        die("metadata: %s", rd_kafka_err2str(e));
    rd_kafka_metadata_destroy(md);

    char *value = malloc((size_t)(o_size ? o_size : 1));
    if (!value)
        die("%s", "out of memory");
    for (long j = 0; j < o_size; j++)
        value[j] = (char)('a' + j % 26);

    double c0 = cpu_s(), t0 = now_s();
    for (long long n = 0; n < o_count; n++) {
        char key[32];
        snprintf(key, sizeof key, "key-%010lld", n % o_keys); /* KEYS < 10^10: 14 bytes */
        for (;;) {
            if (rd_kafka_produce(rkt, o_partition, RD_KAFKA_MSG_F_COPY, value, (size_t)o_size, key,
                                 KEY_LEN, NULL) == 0)
                break;
            e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce: %s", rd_kafka_err2str(e));
            rd_kafka_poll(rk, 1);
        }
        if ((n & 255) == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "cleaner_load: flush timed out\n");
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    double mib = (double)g_delivered * (double)(o_size + KEY_LEN) / (1024.0 * 1024.0);
    printf("{\"mode\":\"cleaner_load\",\"topic\":\"%s\",\"partition\":%d,\"count\":%lld,"
           "\"keys\":%lld,\"size\":%ld,\"delivered\":%lld,\"failed\":%lld,\"secs\":%.4f,"
           "\"records_per_s\":%.1f,\"mib_per_s\":%.2f,\"client_cpu_s\":%.3f}\n",
           o_topic, o_partition, o_count, o_keys, o_size, g_delivered, g_failed, secs,
           secs > 0 ? (double)g_delivered / secs : 0, secs > 0 ? mib / secs : 0, cpu);
    if (g_failed)
        fprintf(stderr, "cleaner_load: %lld delivery failures, first: %s\n", g_failed, g_first_err);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(value);
    return (g_failed || g_delivered != o_count) ? 1 : 0;
}
