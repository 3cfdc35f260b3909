/*
 * rdkafka_bulk.c - bulk produce + verified consume with librdkafka.
 *
 *   rdkafka_bulk <bootstrap> <topic> <count> <size> <none|lz4|zstd|gzip|snappy>
 *
 * Produces <count> messages of <size> bytes (size >= 8) with acks=all. Message
 * i has key "<i>" (decimal) and a payload of an 8-byte big-endian i followed
 * by pattern bytes derived from i, so every payload can be checked alone.
 * Every delivery report must succeed; the partition and offset of each are
 * kept. Then a consumer assigns every partition from OFFSET_BEGINNING and reads
 * until it has <count> messages (120 s limit), checking each payload, that
 * each index arrives exactly once, at the partition/offset its delivery
 * report gave, and in increasing index order per partition.
 *
 * Prints one summary line; exit status 0 only if everything checked out.
 *
 * Build: cc -O2 -o rdkafka_bulk rdkafka_bulk.c -lrdkafka
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONSUME_TIMEOUT_S 120.0
#define FLUSH_TIMEOUT_MS 120000
#define MAX_PRINTED_ERRORS 20

static long long g_count;
static size_t g_size;

/* Per-index state filled by delivery reports. */
static int32_t *g_dr_partition; /* -1 until delivered */
static int64_t *g_dr_offset;
static long long g_delivered, g_dr_failed;

static long long g_errors; /* verification errors */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) {
    g_errors++;
    if (g_errors > MAX_PRINTED_ERRORS) {
        if (g_errors == MAX_PRINTED_ERRORS + 1)
            fprintf(stderr, "rdkafka_bulk: (further errors not printed)\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rdkafka_bulk: ERROR: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint8_t pattern_byte(uint64_t idx, size_t j) {
    return (uint8_t)((idx * 131u + j * 7u + (idx >> 8)) & 0xff);
}

static void fill_payload(uint8_t *buf, size_t size, uint64_t idx) {
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)(idx >> (56 - 8 * b));
    for (size_t j = 8; j < size; j++)
        buf[j] = pattern_byte(idx, j);
}

static uint64_t payload_index(const uint8_t *buf) {
    uint64_t v = 0;
    for (int b = 0; b < 8; b++)
        v = (v << 8) | buf[b];
    return v;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    uint64_t idx = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        g_dr_failed++;
        if (g_dr_failed <= MAX_PRINTED_ERRORS)
            fprintf(stderr, "rdkafka_bulk: delivery failed for #%" PRIu64 ": %s\n", idx,
                    rd_kafka_err2str(m->err));
        return;
    }
    if (idx >= (uint64_t)g_count) {
        fail("delivery report with bad opaque %" PRIu64, idx);
        return;
    }
    if (g_dr_partition[idx] != -1)
        fail("second delivery report for #%" PRIu64, idx);
    g_dr_partition[idx] = m->partition;
    g_dr_offset[idx] = m->offset;
    g_delivered++;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    fprintf(stderr, "rdkafka[%d] %s: %s\n", level, fac, buf);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_bulk: config %s=%s: %s\n", k, v, err);
        exit(2);
    }
}

static int produce_all(const char *bootstrap, const char *topic, const char *compression) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "compression.type", compression);
    set(conf, "message.timeout.ms", "120000");
    set(conf, "queue.buffering.max.messages", "200000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rdkafka_bulk: producer: %s\n", err);
        return -1;
    }
    uint8_t *buf = malloc(g_size);
    char key[32];
    for (long long i = 0; i < g_count; i++) {
        fill_payload(buf, g_size, (uint64_t)i);
        int klen = snprintf(key, sizeof(key), "%lld", i);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(key, (size_t)klen), RD_KAFKA_V_VALUE(buf, g_size),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 50);
                continue;
            }
            fprintf(stderr, "rdkafka_bulk: produce #%lld: %s\n", i, rd_kafka_err2str(e));
            free(buf);
            rd_kafka_destroy(rk);
            return -1;
        }
        rd_kafka_poll(rk, 0);
    }
    free(buf);
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, FLUSH_TIMEOUT_MS);
    int left = rd_kafka_outq_len(rk);
    if (fe != RD_KAFKA_RESP_ERR_NO_ERROR || left > 0)
        fprintf(stderr, "rdkafka_bulk: flush: %s, %d still queued\n", rd_kafka_err2str(fe), left);
    rd_kafka_destroy(rk);
    return (fe == RD_KAFKA_RESP_ERR_NO_ERROR && left == 0) ? 0 : -1;
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rdkafka_bulk: metadata: %s\n", rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "rdkafka_bulk: metadata for %s: %s\n", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static long long consume_all(const char *bootstrap, const char *topic, int *nparts_out,
                             long long *extra_out) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", "rdkafka-bulk-verify");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "auto.offset.reset", "error");
    set(conf, "enable.partition.eof", "false");
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rdkafka_bulk: consumer: %s\n", err);
        return -1;
    }
    int nparts = partition_count(rk, topic);
    *nparts_out = nparts;
    if (nparts <= 0) {
        rd_kafka_destroy(rk);
        return -1;
    }
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    if (e) {
        fprintf(stderr, "rdkafka_bulk: assign: %s\n", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return -1;
    }

    uint8_t *seen = calloc((size_t)g_count, 1);
    int64_t *last_idx = malloc(sizeof(int64_t) * (size_t)nparts);
    for (int p = 0; p < nparts; p++)
        last_idx[p] = -1;
    long long got = 0, extra = 0;
    double deadline = now_s() + CONSUME_TIMEOUT_S;
    double drain_until = 0; /* after the last expected message: look for extras */

    for (;;) {
        double t = now_s();
        if (drain_until > 0 ? t > drain_until : t > deadline)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            fail("consumer error on partition %d: %s", m->partition, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int p = m->partition;
        if (p < 0 || p >= nparts) {
            fail("message from unexpected partition %d", p);
        } else if (m->len != g_size || m->len < 8) {
            fail("p%d@%" PRId64 ": length %zu, want %zu", p, m->offset, m->len, g_size);
        } else {
            const uint8_t *v = m->payload;
            uint64_t idx = payload_index(v);
            char key[32];
            int klen = snprintf(key, sizeof(key), "%" PRIu64, idx);
            if (idx >= (uint64_t)g_count) {
                fail("p%d@%" PRId64 ": index %" PRIu64 " out of range", p, m->offset, idx);
            } else {
                for (size_t j = 8; j < g_size; j++) {
                    if (v[j] != pattern_byte(idx, j)) {
                        fail("p%d@%" PRId64 " #%" PRIu64 ": payload byte %zu is %u, want %u", p,
                             m->offset, idx, j, v[j], pattern_byte(idx, j));
                        break;
                    }
                }
                if (m->key_len != (size_t)klen || memcmp(m->key, key, (size_t)klen) != 0)
                    fail("p%d@%" PRId64 " #%" PRIu64 ": wrong key", p, m->offset, idx);
                if (seen[idx]) {
                    fail("p%d@%" PRId64 ": #%" PRIu64 " seen twice", p, m->offset, idx);
                    extra++;
                } else {
                    seen[idx] = 1;
                    got++;
                }
                if ((int64_t)idx <= last_idx[p])
                    fail("p%d@%" PRId64 ": #%" PRIu64 " after #%" PRId64 " (order)", p, m->offset,
                         idx, last_idx[p]);
                last_idx[p] = (int64_t)idx;
                if (g_dr_partition[idx] != p || g_dr_offset[idx] != m->offset)
                    fail("#%" PRIu64 " consumed at p%d@%" PRId64 ", delivery report said p%d@%" PRId64,
                         idx, p, m->offset, g_dr_partition[idx], g_dr_offset[idx]);
            }
        }
        rd_kafka_message_destroy(m);
        if (got == g_count && drain_until == 0)
            drain_until = now_s() + 1.0;
    }
    if (got < g_count) {
        long long shown = 0;
        for (long long i = 0; i < g_count && shown < 5; i++)
            if (!seen[i]) {
                fail("#%lld (delivered to p%d@%" PRId64 ") never consumed", i, g_dr_partition[i],
                     g_dr_offset[i]);
                shown++;
            }
    }
    free(seen);
    free(last_idx);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *extra_out = extra;
    return got;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s <bootstrap> <topic> <count> <size> <none|lz4|zstd|gzip|snappy>\n",
                argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2], *compression = argv[5];
    g_count = atoll(argv[3]);
    g_size = (size_t)atoll(argv[4]);
    if (g_count <= 0 || g_size < 8) {
        fprintf(stderr, "rdkafka_bulk: count must be > 0 and size >= 8\n");
        return 2;
    }
    g_dr_partition = malloc(sizeof(int32_t) * (size_t)g_count);
    g_dr_offset = malloc(sizeof(int64_t) * (size_t)g_count);
    for (long long i = 0; i < g_count; i++) {
        g_dr_partition[i] = -1;
        g_dr_offset[i] = -1;
    }

    double t0 = now_s();
    int prc = produce_all(bootstrap, topic, compression);
    double t1 = now_s();
    if (g_delivered != g_count)
        fail("produce: %lld of %lld delivered, %lld delivery failures", g_delivered, g_count,
             g_dr_failed);
    if (prc != 0 || g_delivered != g_count) {
        printf("FAIL produce compression=%s delivered=%lld failed=%lld of %lld\n", compression,
               g_delivered, g_dr_failed, g_count);
        return 1;
    }

    int nparts = 0;
    long long extra = 0;
    long long got = consume_all(bootstrap, topic, &nparts, &extra);
    double t2 = now_s();
    double mb = (double)g_count * (double)g_size / 1e6;
    int ok = got == g_count && g_errors == 0;
    printf("%s compression=%s count=%lld size=%zu partitions=%d consumed=%lld duplicates=%lld "
           "errors=%lld produce=%.2fs (%.1f MB/s) consume=%.2fs (%.1f MB/s)\n",
           ok ? "OK" : "FAIL", compression, g_count, g_size, nparts, got, extra, g_errors, t1 - t0,
           mb / (t1 - t0 > 0 ? t1 - t0 : 1e-9), t2 - t1, mb / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    free(g_dr_partition);
    free(g_dr_offset);
    return ok ? 0 : 1;
}
