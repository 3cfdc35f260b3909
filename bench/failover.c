/*
 * failover.c - acknowledgements of an idempotent acks=all producer across
 * leader kills, for bench/run's cluster rows.
 *
 *   failover -b HOST:PORT[,...] -t TOPIC -r RATE -d MAX_SECONDS -s SIZE
 *            [-g GAP_MS] [-X key=value]...
 *
 * One librdkafka producer, enable.idempotence=true (so acks=all), sends
 * RATE records of SIZE bytes per second to partition 0 of TOPIC until
 * SIGTERM (or SIGINT) or MAX_SECONDS, then waits up to 60 s for the
 * outstanding delivery reports. Every successful delivery report's
 * CLOCK_MONOTONIC time is kept; bench/run kills partition 0's leader at
 * known times on the same clock (Python's time.monotonic() is
 * CLOCK_MONOTONIC) and reads the failover time as the first
 * acknowledgement after each kill.
 *
 * Prints one line of JSON: records sent, acknowledged, failed (with the
 * first error), the first and last acknowledgement times, and every gap of
 * GAP_MS (default 50) or more between consecutive acknowledgements as
 * [before, after], in seconds of CLOCK_MONOTONIC. Exit status 0 only if
 * every record sent was acknowledged.
 *
 * Build: cc -O2 -o failover failover.c -lrdkafka
 */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAX_X 32
#define MAX_GAPS 10000

static volatile sig_atomic_t g_stop;

typedef struct acks {
    long long acked, failed;
    char first_error[256];
    double first, last;            /* seconds, CLOCK_MONOTONIC */
    double gap_min;                /* seconds */
    int ngaps;
    double gaps[MAX_GAPS][2];
} acks;

static void on_stop(int sig) {
    (void)sig;
    g_stop = 1;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "failover: %s: %s\n", what, why);
    exit(1);
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config", err);
}

/* The delivery report: delivery reports of one partition of an idempotent
 * producer come in order, so consecutive successes bound every silence. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    acks *a = opaque;
    if (m->err) {
        if (!a->failed++)
            snprintf(a->first_error, sizeof a->first_error, "%s", rd_kafka_err2str(m->err));
        return;
    }
    double t = now_s();
    if (a->acked++ == 0)
        a->first = t;
    else if (t - a->last >= a->gap_min && a->ngaps < MAX_GAPS) {
        a->gaps[a->ngaps][0] = a->last;
        a->gaps[a->ngaps][1] = t;
        a->ngaps++;
    }
    a->last = t;
}

static void usage(void) {
    fprintf(stderr, "usage: failover -b HOST:PORT -t TOPIC -r RATE -d MAX_SECONDS -s SIZE "
                    "[-g GAP_MS] [-X key=value]...\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *bootstrap = NULL, *topic = NULL, *x[MAX_X];
    double rate = 1000, max_s = 600, gap_ms = 50;
    size_t size = 1024;
    int nx = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc || o[0] != '-' || strlen(o) != 2)
            usage();
        const char *v = argv[++i];
        switch (o[1]) {
        case 'b': bootstrap = v; break;
        case 't': topic = v; break;
        case 'r': rate = atof(v); break;
        case 'd': max_s = atof(v); break;
        case 's': size = (size_t)atol(v); break;
        case 'g': gap_ms = atof(v); break;
        case 'X':
            if (nx == MAX_X)
                usage();
            x[nx++] = v;
            break;
        default: usage();
        }
    }
    if (!bootstrap || !topic || rate <= 0 || max_s <= 0 || size < 1)
        usage();

    static acks a;  /* large: not on the stack */
    a.gap_min = gap_ms / 1000;
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "enable.idempotence", "true");
    conf_set(c, "acks", "all");
    conf_set(c, "linger.ms", "1");
    conf_set(c, "socket.nagle.disable", "true");
    for (int i = 0; i < nx; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", x[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            die("-X wants key=value", x[i]);
        *eq = 0;
        conf_set(c, kv, eq + 1);
    }
    rd_kafka_conf_set_opaque(c, &a);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk)
        die("rd_kafka_new", err);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    char *payload = calloc(1, size);
    if (!payload)
        die("calloc", "out of memory");
    double t0 = now_s();
    long long sent = 0;
    while (!g_stop && now_s() - t0 < max_s) {
        long long due = (long long)((now_s() - t0) * rate) + 1;
        while (sent < due) {
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                                      RD_KAFKA_V_VALUE(payload, size),
                                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                      RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;  /* the queue drains once a leader answers again */
            if (e)
                die("produce", rd_kafka_err2str(e));
            sent++;
        }
        rd_kafka_poll(rk, 1);
    }
    rd_kafka_flush(rk, 60000);
    long long outstanding = rd_kafka_outq_len(rk);

    printf("{\"sent\":%lld,\"acked\":%lld,\"failed\":%lld,\"outstanding\":%lld,\"first_error\":\"%s\","
           "\"first_ack\":%.6f,\"last_ack\":%.6f,\"gap_ms\":%g,\"gaps\":[",
           sent, a.acked, a.failed, outstanding, a.first_error, a.first, a.last, gap_ms);
    for (int i = 0; i < a.ngaps; i++)
        printf("%s[%.6f,%.6f]", i ? "," : "", a.gaps[i][0], a.gaps[i][1]);
    printf("]}\n");
    fflush(stdout);
    rd_kafka_destroy(rk);
    free(payload);
    return a.acked == sent && !a.failed ? 0 : 1;
}
