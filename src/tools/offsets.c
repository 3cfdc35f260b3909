/*
 * offsets.c - `gregor offsets`: the earliest, latest, by-time or
 * max-timestamp offset of partitions, with kafka-get-offsets.sh's flags and
 * its `topic:partition:offset` lines.
 *
 * librdkafka's rd_kafka_offsets_for_times asks ListOffsets for -1 (latest),
 * -2 (earliest) and timestamps; -3 (max-timestamp) needs ListOffsets v7,
 * which librdkafka 2.0 does not send, so that one is a request of our own
 * to the first bootstrap server (the single node; with several brokers it
 * would have to go to each partition's leader). Main thread only.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/tools.h"

#define OFFSETS_TIME_LATEST (-1)
#define OFFSETS_TIME_EARLIEST (-2)
#define OFFSETS_TIME_MAX_TIMESTAMP (-3)
#define OFFSETS_FILTERS_MAX 256

/* One topic filter: a name (or regex) and a partition range set. */
typedef struct offsets_filter {
    char topic[256];       /* "" with a --partitions-only filter: every topic */
    bool regex;
    regex_t re;
    int32_t lo[64], hi[64];/* inclusive ranges; n == 0: every partition */
    int n;
} offsets_filter;

typedef struct offsets_args {
    tool_opts o;
    int64_t time;
    bool exclude_internal;
    offsets_filter filters[OFFSETS_FILTERS_MAX];
    int filters_n;
} offsets_args;

static void offsets_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor offsets [--topic T | --topic-partitions T:0-2,T2] [--partitions 0,1,3-5]\n"
        "                      [--time latest|earliest|max-timestamp|-1|-2|-3|<epoch ms>]\n"
        "                      [--exclude-internal-topics] [options]\n"
        "Prints topic:partition:offset per partition (kafka-get-offsets.sh's format).\n"
        "--topic is a name or a regular expression; without it, every topic.\n"
        "A partition range N-M means N to M-1, as in kafka-get-offsets.sh; N- is N and up.\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         client properties\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor offsets --topic orders --time earliest\n");
}

/* "0,1,3-5,7-" (and "-3") into inclusive ranges; as in kafka-get-offsets,
 * the end of N-M is excluded (3-5 is 3 and 4). */
static int offsets_parse_ranges(const char *s, size_t len, offsets_filter *f)
{
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        char item[64];
        if ((size_t)(stop - p) >= sizeof item || stop == p)
            return -1;
        memcpy(item, p, (size_t)(stop - p));
        item[stop - p] = '\0';
        int64_t lo = 0, hi = INT32_MAX;
        char *dash = strchr(item, '-');
        if (dash) {
            *dash = '\0';
            if ((item[0] && tool_parse_int64(item, &lo) < 0) ||
                (dash[1] && tool_parse_int64(dash + 1, &hi) < 0))
                return -1;
            if (dash[1])
                hi--; /* kafka-get-offsets' N-M excludes M */
        } else {
            if (tool_parse_int64(item, &lo) < 0)
                return -1;
            hi = lo;
        }
        if (lo < 0 || hi < lo || f->n == 64)
            return -1;
        f->lo[f->n] = (int32_t)lo;
        f->hi[f->n] = (int32_t)hi;
        f->n++;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

static bool offsets_is_regex(const char *s)
{
    return strpbrk(s, "*?+[]()|^$\\{}") != NULL;
}

static int offsets_add_topic(offsets_args *a, const char *topic, size_t len)
{
    if (a->filters_n == OFFSETS_FILTERS_MAX || len >= sizeof a->filters[0].topic) {
        tool_err("offsets", "too many topic filters or topic name too long");
        return -1;
    }
    offsets_filter *f = &a->filters[a->filters_n++];
    memcpy(f->topic, topic, len);
    f->topic[len] = '\0';
    if (offsets_is_regex(f->topic)) {
        char anchored[300];
        snprintf(anchored, sizeof anchored, "^(%s)$", f->topic);
        if (regcomp(&f->re, anchored, REG_EXTENDED | REG_NOSUB) != 0) {
            tool_err("offsets", "bad topic regular expression %s", f->topic);
            a->filters_n--;
            return -1;
        }
        f->regex = true;
    }
    return 0;
}

/* Kafka's --topic-partitions: topic1:1,topic2:0-3,topic3,topic4:5-. An item
 * of digits alone continues the previous topic ("T:0,1"). */
static int offsets_parse_topic_partitions(offsets_args *a, const char *spec)
{
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        bool numeric = len > 0 && strspn(p, "0123456789-") >= len;
        if (numeric && a->filters_n > 0) {
            if (offsets_parse_ranges(p, len, &a->filters[a->filters_n - 1]) < 0)
                goto bad;
        } else if (len > 0) {
            size_t tlen = colon ? (size_t)(colon - p) : len;
            if (tlen == 0 || offsets_add_topic(a, p, tlen) < 0)
                goto bad;
            if (colon && offsets_parse_ranges(colon + 1, len - tlen - 1, &a->filters[a->filters_n - 1]) < 0)
                goto bad;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
bad:
    tool_err("offsets", "--topic-partitions: cannot parse %s", spec);
    return -1;
}

static int offsets_parse_time(const char *v, int64_t *out)
{
    if (strcmp(v, "latest") == 0)
        *out = OFFSETS_TIME_LATEST;
    else if (strcmp(v, "earliest") == 0)
        *out = OFFSETS_TIME_EARLIEST;
    else if (strcmp(v, "max-timestamp") == 0)
        *out = OFFSETS_TIME_MAX_TIMESTAMP;
    else if (tool_parse_int64(v, out) < 0 || *out < -3)
        return -1;
    return 0;
}

/* 0 parsed, 1 --help, 2 usage error. */
static int offsets_parse(offsets_args *a, int argc, char **argv)
{
    const char *topic = NULL, *tps = NULL, *parts = NULL;
    memset(a, 0, sizeof *a);
    tool_opts_init(&a->o);
    a->time = OFFSETS_TIME_LATEST;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int rc = tool_opts_parse(&a->o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (tool_opt_is(arg, "--topic")) {
            if (!(topic = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (tool_opt_is(arg, "--topic-partitions")) {
            if (!(tps = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (tool_opt_is(arg, "--partitions")) {
            if (!(parts = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (tool_opt_is(arg, "--time")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (offsets_parse_time(v, &a->time) < 0) {
                tool_err("offsets", "--time: expected latest, earliest, max-timestamp, -1, -2, -3 or "
                         "a timestamp in ms, not %s", v);
                return 2;
            }
        } else if (strcmp(arg, "--exclude-internal-topics") == 0 || strcmp(arg, "--exclude-internal") == 0) {
            a->exclude_internal = true;
        } else {
            tool_err("offsets", "unknown option %s (see gregor offsets --help)", arg);
            return 2;
        }
    }
    if (tps && (topic || parts)) {
        tool_err("offsets", "--topic-partitions cannot be used with --topic or --partitions");
        return 2;
    }
    if (tps)
        return offsets_parse_topic_partitions(a, tps) < 0 ? 2 : 0;
    if (offsets_add_topic(a, topic ? topic : ".*", strlen(topic ? topic : ".*")) < 0)
        return 2;
    if (parts && offsets_parse_ranges(parts, strlen(parts), &a->filters[0]) < 0) {
        tool_err("offsets", "--partitions: expected a list like 0,1,3-5, not %s", parts);
        return 2;
    }
    return 0;
}

static bool offsets_filter_match(const offsets_filter *f, const char *topic, int32_t partition)
{
    if (f->regex ? regexec(&f->re, topic, 0, NULL, 0) != 0 : strcmp(f->topic, topic) != 0)
        return false;
    if (f->n == 0)
        return true;
    for (int k = 0; k < f->n; k++)
        if (partition >= f->lo[k] && partition <= f->hi[k])
            return true;
    return false;
}

static int offsets_cmp_tp(const void *x, const void *y)
{
    const rd_kafka_topic_partition_t *p = x, *q = y;
    int c = strcmp(p->topic, q->topic);
    return c ? c : (p->partition > q->partition) - (p->partition < q->partition);
}

/* The matching partitions of every topic in the metadata. */
static rd_kafka_topic_partition_list_t *offsets_select(const offsets_args *a, const struct rd_kafka_metadata *md)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        if (a->exclude_internal && (strcmp(mt->topic, "__consumer_offsets") == 0 ||
                                    strcmp(mt->topic, "__transaction_state") == 0))
            continue;
        for (int p = 0; p < mt->partition_cnt; p++) {
            for (int k = 0; k < a->filters_n; k++) {
                if (offsets_filter_match(&a->filters[k], mt->topic, mt->partitions[p].id)) {
                    rd_kafka_topic_partition_list_add(l, mt->topic, mt->partitions[p].id)->offset = a->time;
                    break;
                }
            }
        }
    }
    qsort(l->elems, (size_t)l->cnt, sizeof *l->elems, offsets_cmp_tp);
    return l;
}

/* ListOffsets v7 with timestamp -3, of our own; results into l's offsets
 * (and per-partition err). */
static int offsets_max_timestamp(const offsets_args *a, rd_kafka_topic_partition_list_t *l)
{
    arena ar;
    arena_init(&ar, 64u << 20);
    int rc = -1;
    kp_list_offsets_req req;
    kp_list_offsets_resp resp;
    char err[256];
    kp_list_offsets_req_init(&req);
    req.replica_id = -1;
    req.isolation_level = 0;
    req.topics = arena_alloc(&ar, (size_t)(l->cnt + 1) * sizeof *req.topics);
    req.topics_n = 0;
    if (!req.topics)
        goto out;
    for (int k = 0; k < l->cnt; k++) {
        kp_list_offsets_req_topic *t = req.topics_n ? &req.topics[req.topics_n - 1] : NULL;
        if (!t || !kp_str_eq(t->name, l->elems[k].topic)) {
            t = &req.topics[req.topics_n++];
            kp_list_offsets_req_topic_init(t);
            t->name = kp_str_c(l->elems[k].topic);
            t->partitions = arena_alloc(&ar, (size_t)l->cnt * sizeof *t->partitions);
            t->partitions_n = 0;
            if (!t->partitions)
                goto out;
        }
        kp_list_offsets_req_partition *p = &t->partitions[t->partitions_n++];
        kp_list_offsets_req_partition_init(p);
        p->partition_index = l->elems[k].partition;
        p->current_leader_epoch = -1;
        p->timestamp = OFFSETS_TIME_MAX_TIMESTAMP;
    }
    if (tool_raw_request(&a->o, KP_API_LIST_OFFSETS, 7, &req, &resp, &ar, err, sizeof err) < 0) {
        tool_err("offsets", "ListOffsets: %s", err);
        goto out;
    }
    for (int k = 0; k < l->cnt; k++) {
        l->elems[k].err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        l->elems[k].offset = -1;
        for (int t = 0; t < resp.topics_n; t++) {
            if (!kp_str_eq(resp.topics[t].name, l->elems[k].topic))
                continue;
            for (int p = 0; p < resp.topics[t].partitions_n; p++) {
                const kp_list_offsets_resp_partition *rp = &resp.topics[t].partitions[p];
                if (rp->partition_index != l->elems[k].partition)
                    continue;
                l->elems[k].err = (rd_kafka_resp_err_t)rp->error_code;
                l->elems[k].offset = rp->offset;
            }
        }
    }
    rc = 0;
out:
    arena_deinit(&ar);
    return rc;
}

static int offsets_print(const offsets_args *a, const rd_kafka_topic_partition_list_t *l)
{
    int rc = 0;
    if (a->o.json)
        printf("[");
    for (int k = 0; k < l->cnt; k++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[k];
        if (tp->err) {
            tool_err("offsets", "%s:%d: %s", tp->topic, tp->partition, rd_kafka_err2str(tp->err));
            rc = 1;
        }
        if (a->o.json) {
            printf("%s{\"topic\":", k ? "," : "");
            tool_json_str(stdout, tp->topic);
            printf(",\"partition\":%d,\"offset\":", tp->partition);
            if (tp->err)
                printf("null,\"error\":\"%s\"}", rd_kafka_err2name(tp->err));
            else
                printf("%lld}", (long long)tp->offset);
        } else if (tp->err) {
            printf("%s:%d:\n", tp->topic, tp->partition);
        } else {
            printf("%s:%d:%lld\n", tp->topic, tp->partition, (long long)tp->offset);
        }
    }
    if (a->o.json)
        printf("]\n");
    return rc;
}

int tool_offsets_main(int argc, char **argv)
{
    static offsets_args a;
    tool_set_cmd("offsets");
    int prc = offsets_parse(&a, argc, argv);
    if (prc == 1) {
        offsets_usage(stdout);
        return 0;
    }
    if (prc != 0)
        return 2;
    tool_install_signals();
    rd_kafka_t *rk = tool_admin_new(&a.o);
    if (!rk)
        return 1;
    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, a.o.timeout_ms);
    if (err) {
        tool_err("offsets", "cannot get metadata from %s: %s", a.o.bootstrap, rd_kafka_err2str(err));
        goto out;
    }
    l = offsets_select(&a, md);
    if (l->cnt == 0) {
        tool_err("offsets", "Could not match any topic-partitions with the specified filters");
        goto out;
    }
    if (a.time == OFFSETS_TIME_MAX_TIMESTAMP) {
        if (offsets_max_timestamp(&a, l) < 0)
            goto out;
    } else {
        err = rd_kafka_offsets_for_times(rk, l, a.o.timeout_ms);
        if (err) {
            tool_err("offsets", "ListOffsets: %s", rd_kafka_err2str(err));
            goto out;
        }
    }
    rc = offsets_print(&a, l);
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    for (int k = 0; k < a.filters_n; k++)
        if (a.filters[k].regex)
            regfree(&a.filters[k].re);
    rd_kafka_destroy(rk);
    return rc;
}
