/*
 * kload.c - load generator for bench/run, on librdkafka.
 *
 *   kload create  -b HOST:PORT -t TOPIC -p PARTITIONS [-R REPLICAS] [-c key=value]...
 *   kload grow    -b HOST:PORT -t TOPIC -p PARTITIONS
 *   kload produce -b HOST:PORT -t TOPIC -p PARTITIONS -n COUNT -s SIZE
 *                 [-a ACKS] [-l LINGER_MS] [-r RATE] [-P PRODUCERS] [-T TXN_RECORDS]
 *                 [-X key=value]...
 *   kload consume -b HOST:PORT -t TOPIC -p PARTITIONS -n COUNT [-X key=value]...
 *
 * create:  CreateTopics with PARTITIONS partitions of REPLICAS replicas
 *          (default 1; bench/run's cluster rows use 3) and the topic configs
 *          given with -c (e.g. -c flush.messages=1); an existing topic is
 *          fine. Prints {"create_ms":...}.
 * grow:    CreatePartitions: TOPIC grows to PARTITIONS partitions in all
 *          (Apache Kafka's KRaft controller takes at most 10,000 records per
 *          request, so a topic of 10,000 partitions is created there in two
 *          steps). Prints {"grow_ms":...}.
 * produce: COUNT records of SIZE bytes (no key), spread round-robin over
 *          partitions 0..PARTITIONS-1 and over PRODUCERS producer handles
 *          (default 1), all driven from this one thread. With RATE > 0 the
 *          records leave at that fixed total rate; otherwise as fast as
 *          librdkafka takes them. Timing starts at the first produce() and
 *          ends when the last delivery report is in. Latency is librdkafka's
 *          own rd_kafka_message_latency(): produce() to delivery report.
 *          With -T N (one producer): transactional (transactional.id
 *          kload-PID), a transaction of N records committed after each N,
 *          commit_transaction() waited for; "transactions" in the JSON.
 * consume: assign() partitions 0..PARTITIONS-1 from the beginning, no group,
 *          and read COUNT records. Timing runs from the first record
 *          received to the COUNT-th.
 *
 * Every mode prints one line of JSON on stdout and exits 0 only if every
 * record was delivered (or read) without error. The "client_cpu_s" field is
 * this process's user+system CPU time for the measured part, and
 * "busiest_thread_cpu_s" that of its busiest thread (from
 * /proc/self/task/N/stat), so bench/run can show whether the client
 * saturated a core: librdkafka spreads its work over several threads, and
 * one of them at 100% is the limit even when the process total is not.
 *
 * Build: cc -O2 -o kload kload.c -lrdkafka -lm
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_X 64

static const char *o_bootstrap = "127.0.0.1:9092";
static const char *o_topic = "bench";
static int o_partitions = 1;
static long long o_count = 100000;
static size_t o_size = 1024;
static const char *o_acks = "1";
static const char *o_linger = "5";
static double o_rate = 0;
static int o_producers = 1;
static int o_replicas = 1;         /* -R: create's replication factor */
static long long o_txn = 0;        /* -T: records per transaction, 0 = none */
static const char *o_x[MAX_X];
static int o_nx;
static const char *o_c[MAX_X]; /* create: topic configs, key=value */
static int o_nc;

/* Per-thread CPU ticks (utime + stime) of this process, for the busiest-thread figure. */
#define MAX_THREADS 4096
typedef struct thread_ticks {
    int n;
    long tid[MAX_THREADS];
    long long ticks[MAX_THREADS];
} thread_ticks;

static void threads_read(thread_ticks *t) {
    t->n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && t->n < MAX_THREADS) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *r = strrchr(buf, ')');   /* the name may hold spaces */
        unsigned long long ut = 0, st = 0;
        if (!r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
            continue;
        t->tid[t->n] = atol(e->d_name);
        t->ticks[t->n] = (long long)(ut + st);
        t->n++;
    }
    closedir(d);
}

/* CPU seconds of the thread that used the most between a and now. */
static double busiest_thread_s(const thread_ticks *a) {
    static thread_ticks b;
    threads_read(&b);
    long long best = 0;
    for (int i = 0; i < b.n; i++) {
        long long before = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b.tid[i])
                before = a->ticks[j];
        if (b.ticks[i] - before > best)
            best = b.ticks[i] - before;
    }
    return (double)best / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "kload: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config: %s", err);
}

/* -X key=value options, applied last so that they override our defaults. */
static void apply_x(rd_kafka_conf_t *conf) {
    for (int i = 0; i < o_nx; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o_x[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            die("-X wants key=value, not %s", o_x[i]);
        *eq = 0;
        conf_set(conf, kv, eq + 1);
    }
}

static rd_kafka_conf_t *base_conf(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", o_bootstrap);
    conf_set(conf, "log_level", "3");
    return conf;
}

static rd_kafka_t *new_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[512];
    apply_x(conf);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        die("rd_kafka_new: %s", err);
    return rk;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *v, long long n, double p) {
    if (n == 0)
        return -1;
    long long i = (long long)(p / 100.0 * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* ---- create ---- */

static int do_create(void) {
    rd_kafka_t *rk = new_handle(RD_KAFKA_PRODUCER, base_conf());
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o_topic, o_partitions, o_replicas, err, sizeof err);
    if (!nt)
        die("NewTopic: %s", err);
    for (int i = 0; i < o_nc; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o_c[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            die("-c wants key=value, not %s", o_c[i]);
        *eq = 0;
        if (rd_kafka_NewTopic_set_config(nt, kv, eq + 1))
            die("topic config %s", o_c[i]);
    }
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 300000, err, sizeof err);
    rd_kafka_AdminOptions_set_request_timeout(ao, 300000, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    double t0 = now_s();
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 310000);
    double ms = (now_s() - t0) * 1000.0;
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "kload: CreateTopics timed out\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "kload: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *msg = rd_kafka_topic_result_error_string(tr[0]);
            fprintf(stderr, "kload: CreateTopics %s: %s%s%s\n", o_topic, rd_kafka_err2str(e),
                    msg ? ": " : "", msg ? msg : "");
        }
        else
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    printf("{\"mode\":\"create\",\"topic\":\"%s\",\"partitions\":%d,\"create_ms\":%.1f,\"ok\":%s}\n",
           o_topic, o_partitions, ms, rc ? "false" : "true");
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- grow ---- */

static int do_grow(void) {
    rd_kafka_t *rk = new_handle(RD_KAFKA_PRODUCER, base_conf());
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(o_topic, (size_t)o_partitions, err,
                                                              sizeof err);
    if (!np)
        die("NewPartitions: %s", err);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 300000, err, sizeof err);
    rd_kafka_AdminOptions_set_request_timeout(ao, 300000, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    double t0 = now_s();
    rd_kafka_CreatePartitions(rk, &np, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 310000);
    double ms = (now_s() - t0) * 1000.0;
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "kload: CreatePartitions timed out\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "kload: CreatePartitions: %s\n", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreatePartitions_result_t *res = rd_kafka_event_CreatePartitions_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreatePartitions_result_topics(res, &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e) {
            const char *msg = rd_kafka_topic_result_error_string(tr[0]);
            fprintf(stderr, "kload: CreatePartitions %s: %s%s%s\n", o_topic, rd_kafka_err2str(e),
                    msg ? ": " : "", msg ? msg : "");
        } else {
            rc = 0;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    printf("{\"mode\":\"grow\",\"topic\":\"%s\",\"partitions\":%d,\"grow_ms\":%.1f,\"ok\":%s}\n",
           o_topic, o_partitions, ms, rc ? "false" : "true");
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- produce ---- */

static int64_t *g_lat; /* microseconds, one per delivery report */
static long long g_delivered, g_failed, g_nlat;
static char g_first_err[256];

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) {
        if (!g_failed++)
            snprintf(g_first_err, sizeof g_first_err, "%s", rd_kafka_err2str(m->err));
        return;
    }
    g_delivered++;
    int64_t l = rd_kafka_message_latency(m);
    if (l >= 0 && g_nlat < o_count)
        g_lat[g_nlat++] = l;
}

static void sleep_until(double t) {
    struct timespec ts;
    double now = now_s();
    if (t <= now)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double d = t - now;
    ts.tv_sec += (time_t)d;
    ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int do_produce(void) {
    int np = o_producers;
    rd_kafka_t **rk = calloc((size_t)np, sizeof *rk);
    rd_kafka_topic_t **rkt = calloc((size_t)np, sizeof *rkt);
    g_lat = malloc(sizeof(int64_t) * (size_t)(o_count ? o_count : 1));
    char *payload = malloc(o_size ? o_size : 1);
    if (!rk || !rkt || !g_lat || !payload)
        die("%s", "out of memory");
    for (size_t j = 0; j < o_size; j++)
        payload[j] = (char)('a' + j % 26);

    for (int i = 0; i < np; i++) {
        rd_kafka_conf_t *conf = base_conf();
        conf_set(conf, "acks", o_acks);
        conf_set(conf, "linger.ms", o_linger);
        conf_set(conf, "enable.idempotence", "false");
        conf_set(conf, "queue.buffering.max.messages", "1000000");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        if (o_txn > 0) {
            char tid[64];
            snprintf(tid, sizeof tid, "kload-%d-%d", (int)getpid(), i);
            conf_set(conf, "transactional.id", tid);
            conf_set(conf, "enable.idempotence", "true"); /* transactions need it (and acks=all) */
            conf_set(conf, "acks", "all");
        }
        rk[i] = new_handle(RD_KAFKA_PRODUCER, conf);
        rkt[i] = rd_kafka_topic_new(rk[i], o_topic, NULL);
        if (o_txn > 0) {
            rd_kafka_error_t *te = rd_kafka_init_transactions(rk[i], 60000);
            if (te)
                die("init_transactions: %s", rd_kafka_error_string(te));
        }
    }
    long long txns = 0;
    /* Connect and learn the partitions before the clock starts. */
    for (int i = 0; i < np; i++) {
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk[i], 0, rkt[i], &md, 10000);
        if (e)
            die("metadata: %s", rd_kafka_err2str(e));
        rd_kafka_metadata_destroy(md);
    }

    static thread_ticks tt0;
    threads_read(&tt0);
    double c0 = cpu_s(), t0 = now_s();
    for (long long n = 0; n < o_count; n++) {
        int h = (int)(n % np);
        int32_t part = (int32_t)((n / np) % o_partitions);
        if (o_txn > 0 && n % o_txn == 0) {
            if (n > 0) {
                rd_kafka_error_t *te = rd_kafka_commit_transaction(rk[0], 60000);
                if (te)
                    die("commit_transaction: %s", rd_kafka_error_string(te));
                txns++;
            }
            rd_kafka_error_t *te = rd_kafka_begin_transaction(rk[0]);
            if (te)
                die("begin_transaction: %s", rd_kafka_error_string(te));
        }
        if (o_rate > 0)
            sleep_until(t0 + (double)n / o_rate);
        for (;;) {
            if (rd_kafka_produce(rkt[h], part, RD_KAFKA_MSG_F_COPY, payload, o_size, NULL, 0,
                                 NULL) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce: %s", rd_kafka_err2str(e));
            rd_kafka_poll(rk[h], 1);
        }
        if (((n / np) & 255) == 0 || o_rate > 0)
            rd_kafka_poll(rk[h], 0); /* serve this handle's delivery reports */
    }
    if (o_txn > 0 && o_count > 0) {
        rd_kafka_error_t *te = rd_kafka_commit_transaction(rk[0], 60000);
        if (te)
            die("commit_transaction: %s", rd_kafka_error_string(te));
        txns++;
    }
    for (int i = 0; i < np; i++)
        if (rd_kafka_flush(rk[i], 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            fprintf(stderr, "kload: flush timed out on producer %d\n", i);
    double secs = now_s() - t0, cpu = cpu_s() - c0, busiest = busiest_thread_s(&tt0);

    qsort(g_lat, (size_t)g_nlat, sizeof *g_lat, cmp_i64);
    double mib = (double)g_delivered * (double)o_size / (1024.0 * 1024.0);
    printf("{\"mode\":\"produce\",\"topic\":\"%s\",\"partitions\":%d,\"producers\":%d,"
           "\"acks\":\"%s\",\"size\":%zu,\"count\":%lld,\"delivered\":%lld,\"failed\":%lld,"
           "\"secs\":%.4f,\"records_per_s\":%.1f,\"mib_per_s\":%.2f,\"rate\":%.1f,"
           "\"lat_us\":{\"p50\":%" PRId64 ",\"p99\":%" PRId64 ",\"p999\":%" PRId64
           ",\"max\":%" PRId64 "},\"client_cpu_s\":%.3f,\"busiest_thread_cpu_s\":%.3f,"
           "\"transactions\":%lld}\n",
           o_topic, o_partitions, np, o_acks, o_size, o_count, g_delivered, g_failed, secs,
           secs > 0 ? (double)g_delivered / secs : 0, secs > 0 ? mib / secs : 0, o_rate,
           pct(g_lat, g_nlat, 50), pct(g_lat, g_nlat, 99), pct(g_lat, g_nlat, 99.9),
           pct(g_lat, g_nlat, 100), cpu, busiest, txns);
    if (g_failed)
        fprintf(stderr, "kload: %lld delivery failures, first: %s\n", g_failed, g_first_err);
    for (int i = 0; i < np; i++) {
        rd_kafka_topic_destroy(rkt[i]);
        rd_kafka_destroy(rk[i]);
    }
    free(rk);
    free(rkt);
    free(g_lat);
    free(payload);
    return (g_failed || g_delivered != o_count) ? 1 : 0;
}

/* ---- consume ---- */

static int do_consume(void) {
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", "kload-bench"); /* librdkafka wants one even for assign() */
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.partition.eof", "false");
    conf_set(conf, "fetch.wait.max.ms", "100");
    conf_set(conf, "max.partition.fetch.bytes", "8388608");
    conf_set(conf, "fetch.max.bytes", "52428800");
    conf_set(conf, "queued.min.messages", "1000000");
    rd_kafka_t *rk = new_handle(RD_KAFKA_CONSUMER, conf);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(o_partitions);
    for (int p = 0; p < o_partitions; p++)
        rd_kafka_topic_partition_list_add(tp, o_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tp);
    if (e)
        die("assign: %s", rd_kafka_err2str(e));

    long long got = 0, errors = 0;
    static thread_ticks tt0;
    double bytes = 0, t_first = 0, c_first = 0, deadline = now_s() + 300;
    while (got < o_count && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err) {
            if (!errors++)
                fprintf(stderr, "kload: consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (got == 0) {
                threads_read(&tt0);
                t_first = now_s();
                c_first = cpu_s();
            }
            got++;
            bytes += (double)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = got ? now_s() - t_first : 0, cpu = got ? cpu_s() - c_first : 0;
    double busiest = got ? busiest_thread_s(&tt0) : 0;
    printf("{\"mode\":\"consume\",\"topic\":\"%s\",\"partitions\":%d,\"count\":%lld,"
           "\"received\":%lld,\"errors\":%lld,\"bytes\":%.0f,\"secs\":%.4f,"
           "\"records_per_s\":%.1f,\"mib_per_s\":%.2f,\"client_cpu_s\":%.3f,"
           "\"busiest_thread_cpu_s\":%.3f}\n",
           o_topic, o_partitions, o_count, got, errors, bytes, secs,
           secs > 0 ? (double)got / secs : 0, secs > 0 ? bytes / 1048576.0 / secs : 0, cpu,
           busiest);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == o_count ? 0 : 1;
}

static void usage(void) {
    fprintf(stderr, "usage: kload create|grow|produce|consume -b HOST:PORT -t TOPIC -p PARTITIONS\n"
                    "       [-n COUNT] [-s SIZE] [-a ACKS] [-l LINGER_MS] [-r RATE]\n"
                    "       [-P PRODUCERS] [-R REPLICAS] [-X key=value]... [-c topic.key=value]...\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc || a[0] != '-' || strlen(a) != 2)
            usage();
        const char *v = argv[++i];
        switch (a[1]) {
        case 'b': o_bootstrap = v; break;
        case 't': o_topic = v; break;
        case 'p': o_partitions = atoi(v); break;
        case 'n': o_count = atoll(v); break;
        case 's': o_size = (size_t)atol(v); break;
        case 'a': o_acks = v; break;
        case 'l': o_linger = v; break;
        case 'r': o_rate = atof(v); break;
        case 'P': o_producers = atoi(v); break;
        case 'R': o_replicas = atoi(v); break;
        case 'T': o_txn = atoll(v); break;
        case 'X':
            if (o_nx == MAX_X)
                usage();
            o_x[o_nx++] = v;
            break;
        case 'c':
            if (o_nc == MAX_X)
                usage();
            o_c[o_nc++] = v;
            break;
        default: usage();
        }
    }
    if (o_partitions < 1 || o_producers < 1 || o_replicas < 1 || o_count < 0 || o_txn < 0 || (o_txn > 0 && o_producers != 1))
        usage();
    if (!strcmp(mode, "create"))
        return do_create();
    if (!strcmp(mode, "grow"))
        return do_grow();
    if (!strcmp(mode, "produce"))
        return do_produce();
    if (!strcmp(mode, "consume"))
        return do_consume();
    usage();
    return 2;
}
