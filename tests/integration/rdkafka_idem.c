/*
 * rdkafka_idem.c - an idempotent librdkafka producer for test_idempotence.py.
 *
 *   rdkafka_idem <bootstrap> <topic> <count> <partitions> [property=value ...]
 *
 * Produces <count> messages with enable.idempotence=true and acks=all.
 * Message i goes to partition p = i % <partitions> explicitly, with
 * sequence s = i / <partitions> (its place in that partition): key "p:s",
 * value "idem p:s". Every delivery report is counted; a failed one prints
 * its error. The topic's partitions must be empty at the start: for the
 * reports that succeeded, message s of a partition must be at offset s, so
 * a duplicate or a reordering in the log shows here too.
 *
 * Defaults (any can be overridden by the trailing property=value arguments,
 * which are passed to rd_kafka_conf_set in order): max.in.flight=5,
 * linger.ms=5, batch.num.messages=1000, message.timeout.ms=300000, short
 * reconnect backoffs (the test cuts connections on purpose).
 *
 * A fatal error (rd_kafka_fatal_error) stops producing: it is printed as
 * "FATAL <code>: <reason>" and the program exits 3.
 *
 * Output: "FAILED ..." lines (at most 20), then one line
 *   RESULT produced=N ok=N failed=N offset_mismatch=N fatal=0|1 seconds=S
 * Exit status 0 only if every message was delivered without error and the
 * offsets checked out.
 *
 * Build: cc -O2 -o rdkafka_idem rdkafka_idem.c -lrdkafka
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_TIMEOUT_S 400.0
#define MAX_PRINTED 20

static long long g_count;
static int g_parts;
static int64_t *g_offset; /* by message index; -1 until delivered */
static long long g_ok, g_failed, g_printed;
static volatile int g_fatal;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    long long idx = (long long)(intptr_t)m->_private;
    if (m->err) {
        g_failed++;
        if (g_printed++ < MAX_PRINTED)
            printf("FAILED message %lld (partition %d): %s: %s\n", idx, (int)m->partition,
                   rd_kafka_err2name(m->err), rd_kafka_err2str(m->err));
        return;
    }
    g_ok++;
    if (idx >= 0 && idx < g_count)
        g_offset[idx] = m->offset;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        printf("FATAL %s: %s\n", rd_kafka_err2name(orig), buf);
        fflush(stdout);
        g_fatal = 1;
    } else {
        /* Disconnects are expected here (the proxy cuts them): stderr only. */
        fprintf(stderr, "rdkafka_idem: error %s: %s\n",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    }
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_idem: %s=%s: %s\n", k, v, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s <bootstrap> <topic> <count> <partitions> [prop=value ...]\n",
                argv[0]);
        return 2;
    }
    const char *topic = argv[2];
    g_count = atoll(argv[3]);
    g_parts = atoi(argv[4]);
    if (g_count <= 0 || g_parts <= 0) {
        fprintf(stderr, "rdkafka_idem: bad count or partitions\n");
        return 2;
    }
    g_offset = malloc(sizeof(*g_offset) * (size_t)g_count);
    if (!g_offset)
        return 2;
    for (long long i = 0; i < g_count; i++)
        g_offset[i] = -1;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "max.in.flight", "5");
    set(conf, "linger.ms", "5");
    set(conf, "batch.num.messages", "1000");
    set(conf, "message.timeout.ms", "300000");
    set(conf, "reconnect.backoff.ms", "10");
    set(conf, "reconnect.backoff.max.ms", "200");
    for (int a = 5; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) {
            fprintf(stderr, "rdkafka_idem: not property=value: %s\n", argv[a]);
            return 2;
        }
        *eq = '\0';
        set(conf, argv[a], eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);

    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rdkafka_idem: rd_kafka_new: %s\n", err);
        return 2;
    }

    double t0 = now_s();
    long long produced = 0;
    char key[64], value[80];
    for (long long i = 0; i < g_count && !g_fatal; i++) {
        int p = (int)(i % g_parts);
        long long s = i / g_parts;
        int kl = snprintf(key, sizeof(key), "%d:%lld", p, s);
        int vl = snprintf(value, sizeof(value), "idem %d:%lld", p, s);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(value, (size_t)vl),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                produced++;
                break;
            }
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !g_fatal) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            printf("FAILED produce of message %lld: %s\n", i, rd_kafka_err2str(e));
            g_failed++;
            break;
        }
        rd_kafka_poll(rk, 0);
    }

    /* Wait for every report, bounded; a fatal error ends the wait. */
    while (rd_kafka_outq_len(rk) > 0 && !g_fatal && now_s() - t0 < FLUSH_TIMEOUT_S)
        rd_kafka_poll(rk, 100);
    if (g_fatal)
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 10000);
    int left = rd_kafka_outq_len(rk);
    if (left > 0)
        printf("FAILED %d messages still queued after %.0f s\n", left, FLUSH_TIMEOUT_S);

    /* Message s of a partition (which started empty) is at offset s. */
    long long mismatch = 0;
    for (long long i = 0; i < g_count; i++) {
        if (g_offset[i] >= 0 && g_offset[i] != i / g_parts) {
            if (mismatch++ < MAX_PRINTED)
                printf("OFFSET message %lld (partition %d, sequence %lld) at offset %" PRId64 "\n",
                       i, (int)(i % g_parts), i / g_parts, g_offset[i]);
        }
    }

    double secs = now_s() - t0;
    printf("RESULT produced=%lld ok=%lld failed=%lld offset_mismatch=%lld fatal=%d seconds=%.1f\n",
           produced, g_ok, g_failed, mismatch, g_fatal ? 1 : 0, secs);
    fflush(stdout);
    rd_kafka_destroy(rk);
    free(g_offset);
    if (g_fatal)
        return 3;
    return (g_ok == g_count && g_failed == 0 && mismatch == 0 && left == 0) ? 0 : 1;
}
