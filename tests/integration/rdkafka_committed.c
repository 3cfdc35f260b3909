/*
 * rdkafka_committed.c - commit offsets with metadata through librdkafka's
 * rd_kafka_commit() and read them back with rd_kafka_committed(), as a
 * consumer of group GROUP that assigns partitions itself (no subscription).
 * Metadata goes in and comes out as hex, so any byte (NUL, 0xff) passes
 * the command line. Used by test_strings_bytes.py.
 *
 *   rdkafka_committed BOOTSTRAP GROUP TOPIC commit P:OFFSET:HEXMETA ...
 *   rdkafka_committed BOOTSTRAP GROUP TOPIC fetch P ...
 *
 * Prints one line per partition: "P OFFSET HEXMETA" (HEXMETA "-" when the
 * metadata is null/absent). Exit 0, or 1 with the error on stderr.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unhex(const char *h, char *out, size_t cap)
{
    size_t n = strlen(h);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (char)v;
    }
    return (int)(n / 2);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP GROUP TOPIC commit|fetch ARGS...\n", argv[0]);
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", argv[2], err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    int commit = strcmp(argv[4], "commit") == 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(argc - 5);
    for (int i = 5; i < argc; i++) {
        int p = atoi(argv[i]);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, argv[3], p);
        if (commit) {
            char *c1 = strchr(argv[i], ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2) {
                fprintf(stderr, "bad commit argument %s\n", argv[i]);
                return 2;
            }
            tp->offset = strtoll(c1 + 1, NULL, 10);
            char buf[4096];
            int n = unhex(c2 + 1, buf, sizeof buf);
            if (n < 0) {
                fprintf(stderr, "bad hex %s\n", c2 + 1);
                return 2;
            }
            tp->metadata = malloc((size_t)n + 1);
            memcpy(tp->metadata, buf, (size_t)n);
            tp->metadata_size = (size_t)n;
        }
    }
    rd_kafka_resp_err_t e;
    if (commit) {
        e = rd_kafka_commit(rk, l, 0 /* sync */);
        if (e) {
            fprintf(stderr, "rd_kafka_commit: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].err) {
                fprintf(stderr, "commit of partition %d: %s\n", l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
                return 1;
            }
        rd_kafka_topic_partition_list_destroy(l);
        l = rd_kafka_topic_partition_list_new(argc - 5);
        for (int i = 5; i < argc; i++)
            rd_kafka_topic_partition_list_add(l, argv[3], atoi(argv[i]));
    }
    e = rd_kafka_committed(rk, l, 20000);
    if (e) {
        fprintf(stderr, "rd_kafka_committed: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err) {
            fprintf(stderr, "committed of partition %d: %s\n", tp->partition, rd_kafka_err2str(tp->err));
            return 1;
        }
        printf("%d %lld ", tp->partition, (long long)tp->offset);
        if (!tp->metadata)
            printf("-");
        for (size_t k = 0; tp->metadata && k < tp->metadata_size; k++)
            printf("%02x", ((const unsigned char *)tp->metadata)[k]);
        printf("\n");
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
