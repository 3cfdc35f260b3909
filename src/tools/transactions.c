/*
 * transactions.c - `gregor transactions`, the counterpart of
 * kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand):
 *
 *   list                  ListTransactions on every broker
 *   describe              DescribeTransactions on the transactional id's coordinator
 *   describe-producers    DescribeProducers on the partition's leader (or --broker-id)
 *   abort                 WriteTxnMarkers ABORT on the partition's leader, for the
 *                         producer whose open transaction starts at --start-offset
 *                         (found with DescribeProducers) or the one named by
 *                         --producer-id/--producer-epoch/--coordinator-epoch
 *   find-hanging          open transactions older than --max-transaction-timeout
 *                         minutes that their coordinator no longer knows about
 *
 * Flags and output are Kafka's: the same subcommand names and flags, the same
 * column headers, each cell padded to its column's width and followed by a tab,
 * as TransactionsCommand prints them; errors are Kafka's sentences on one line.
 * Options may come before or after the subcommand word, so the
 * kafka-transactions.sh shim passes Kafka's command lines unchanged.
 *
 * librdkafka 2.0 has none of these admin calls, so every request is one of our
 * own over a plain socket (tool_raw_request with the generated codecs): one
 * ApiVersions to pick versions both sides speak, Metadata for brokers and
 * leaders, FindCoordinator (key type 1) for a transactional id. A request
 * meant for one broker goes to that broker's advertised address. Every wait
 * is bounded by --timeout-ms. Main thread only.
 */
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/tools.h"

#define CMD "transactions"
#define TXN_ARENA_MAX (256u << 20)

typedef enum txn_action {
    TXN_NONE,
    TXN_LIST,
    TXN_DESCRIBE,
    TXN_DESCRIBE_PRODUCERS,
    TXN_ABORT,
    TXN_FIND_HANGING,
} txn_action;

typedef struct txn_args {
    tool_opts o;
    txn_action action;
    const char *transactional_id;   /* describe */
    const char *topic;              /* describe-producers, abort, find-hanging */
    int64_t partition;              /* -1: not given */
    int64_t broker_id;              /* -1: not given */
    int64_t start_offset;           /* -1: not given */
    int64_t producer_id;            /* -1: not given */
    int64_t producer_epoch;         /* -1: not given */
    int64_t coordinator_epoch;      /* INT64_MIN: not given */
    int64_t duration_filter;        /* list; -1: all */
    const char *id_pattern;         /* list --transactional-id-pattern */
    int64_t max_txn_timeout_min;    /* find-hanging, default 15 */
} txn_args;

typedef struct txn_ctx {
    txn_args *a;
    arena ar;
    kp_api_versions_resp av; /* the bootstrap broker's versions */
    kp_metadata_resp md;     /* brokers (and topics when asked) */
    bool have_md;
} txn_ctx;

/* ---- small helpers ---- */

static int64_t txn_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Errors a coordinator answers while it is moving or loading: Kafka's admin
 * client asks again, and so do we, until --timeout-ms has passed. */
static bool txn_retriable(int16_t code)
{
    return code == 14 /* COORDINATOR_LOAD_IN_PROGRESS */ || code == 15 /* COORDINATOR_NOT_AVAILABLE */ ||
           code == 16 /* NOT_COORDINATOR */;
}

/* Sleep a little before asking again; false once the deadline has passed. */
static bool txn_retry_wait(int64_t deadline_ms)
{
    if (tool_stop || clock_mono_ms() + 200 > deadline_ms)
        return false;
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    return true;
}

static char *txn_str(txn_ctx *c, kp_str s)
{
    if (s.len < 0 || !s.ptr)
        return arena_strndup(&c->ar, "", 0);
    return arena_strndup(&c->ar, s.ptr, (size_t)s.len);
}

/* Kafka's error text for a code: the name, and the broker's message if any. */
static const char *txn_err_text(txn_ctx *c, int16_t code, kp_str msg)
{
    char buf[1024];
    if (msg.len > 0 && msg.ptr)
        snprintf(buf, sizeof buf, "%s: %.*s", kerr_name(code), (int)msg.len, msg.ptr);
    else
        snprintf(buf, sizeof buf, "%s", kerr_name(code));
    return arena_strndup(&c->ar, buf, strlen(buf));
}

/* The version of api_key to use: the highest both we and the broker speak. */
static int txn_version(txn_ctx *c, int16_t api_key, int16_t *out)
{
    return tool_api_version_or_err(&c->a->o, &c->av, api_key, out);
}

/* One request to the bootstrap broker (host NULL) or to host:port. */
static int txn_request(txn_ctx *c, const char *host, int32_t port, int16_t api_key, void *req,
                       void *resp, char *err, size_t errlen)
{
    int16_t ver;
    if (txn_version(c, api_key, &ver) < 0) {
        snprintf(err, errlen, "not served by the broker");
        return -1;
    }
    return tool_raw_request_at(&c->a->o, host, port, api_key, ver, req, resp, &c->ar, err, errlen);
}

/* Metadata for the brokers and, if topics_n >= 0, those topics (NULL list
 * with topics_n -1: every topic). */
static int txn_metadata(txn_ctx *c, const char **topics, int32_t topics_n, bool all_topics)
{
    kp_metadata_req req;
    char err[512];
    kp_metadata_req_init(&req);
    req.allow_auto_topic_creation = false;
    if (all_topics) {
        req.topics = NULL;
        req.topics_n = -1;
    } else {
        req.topics_n = topics_n;
        req.topics = topics_n ? arena_alloc(&c->ar, sizeof *req.topics * (size_t)topics_n) : NULL;
        if (topics_n && !req.topics) {
            tool_err(CMD, "out of memory");
            return -1;
        }
        for (int32_t i = 0; i < topics_n; i++) {
            kp_metadata_req_topic_init(&req.topics[i]);
            req.topics[i].name = kp_str_c(topics[i]);
        }
    }
    if (txn_request(c, NULL, 0, KP_API_METADATA, &req, &c->md, err, sizeof err) < 0) {
        tool_err(CMD, "Metadata: %s", err);
        return -1;
    }
    c->have_md = true;
    return 0;
}

static const kp_metadata_resp_broker *txn_broker(txn_ctx *c, int32_t id)
{
    for (int32_t i = 0; i < c->md.brokers_n; i++)
        if (c->md.brokers[i].node_id == id)
            return &c->md.brokers[i];
    return NULL;
}

static const kp_metadata_resp_topic *txn_md_topic(txn_ctx *c, const char *topic)
{
    for (int32_t i = 0; i < c->md.topics_n; i++)
        if (kp_str_eq(c->md.topics[i].name, topic))
            return &c->md.topics[i];
    return NULL;
}

/* The leader of topic-partition, or -1 after Kafka's sentence for what is
 * wrong (prefix: "Failed to ... partition T-P"). */
static int32_t txn_leader(txn_ctx *c, const char *prefix, const char *topic, int32_t partition)
{
    const kp_metadata_resp_topic *t = txn_md_topic(c, topic);
    if (!t || t->error_code) {
        tool_err(CMD, "%s: %s", prefix,
                 t ? kerr_name(t->error_code) : "UNKNOWN_TOPIC_OR_PARTITION");
        return -1;
    }
    for (int32_t p = 0; p < t->partitions_n; p++) {
        const kp_metadata_resp_partition *mp = &t->partitions[p];
        if (mp->partition_index != partition)
            continue;
        if (mp->error_code && mp->leader_id < 0) {
            tool_err(CMD, "%s: %s", prefix, kerr_name(mp->error_code));
            return -1;
        }
        if (mp->leader_id < 0) {
            tool_err(CMD, "%s: LEADER_NOT_AVAILABLE", prefix);
            return -1;
        }
        return mp->leader_id;
    }
    tool_err(CMD, "%s: UNKNOWN_TOPIC_OR_PARTITION: the topic has no partition %d", prefix, partition);
    return -1;
}

/* ---- Kafka's table: every cell padded to its column's width, then a tab ---- */

typedef struct txn_table {
    int ncols;
    const char *const *headers;
    char **cells; /* rows * ncols, arena-owned */
    int rows, cap;
} txn_table;

static void txn_table_init(txn_table *t, int ncols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->headers = headers;
}

static void txn_table_add(txn_ctx *c, txn_table *t, char **row)
{
    if (t->rows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **cells = arena_alloc(&c->ar, sizeof(char *) * (size_t)cap * (size_t)t->ncols);
        if (!cells) {
            fprintf(stderr, "gregor %s: out of memory\n", CMD);
            exit(1);
        }
        if (t->rows)
            memcpy(cells, t->cells, sizeof(char *) * (size_t)t->rows * (size_t)t->ncols);
        t->cells = cells;
        t->cap = cap;
    }
    for (int k = 0; k < t->ncols; k++)
        t->cells[(size_t)t->rows * (size_t)t->ncols + (size_t)k] = row[k];
    t->rows++;
}

static void txn_row_print(const int *width, int ncols, char *const *row)
{
    for (int k = 0; k < ncols; k++) {
        fputs(row[k], stdout);
        for (int pad = width[k] - (int)strlen(row[k]); pad > 0; pad--)
            fputc(' ', stdout);
        fputc('\t', stdout);
    }
    fputc('\n', stdout);
}

static void txn_table_print(const txn_table *t)
{
    int width[16] = { 0 };
    for (int k = 0; k < t->ncols; k++)
        width[k] = (int)strlen(t->headers[k]);
    for (int r = 0; r < t->rows; r++)
        for (int k = 0; k < t->ncols; k++) {
            int w = (int)strlen(t->cells[(size_t)r * (size_t)t->ncols + (size_t)k]);
            if (w > width[k])
                width[k] = w;
        }
    txn_row_print(width, t->ncols, (char *const *)t->headers);
    for (int r = 0; r < t->rows; r++)
        txn_row_print(width, t->ncols, &t->cells[(size_t)r * (size_t)t->ncols]);
}

static char *txn_fmt(txn_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *txn_fmt(txn_ctx *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return arena_strndup(&c->ar, buf, strlen(buf));
}

/* ---- ListTransactions ---- */

typedef struct txn_listing {
    int32_t coordinator;
    char *transactional_id;
    int64_t producer_id;
    char *state;
} txn_listing;

/* ListTransactions on every broker; producer ids filter when pids_n > 0.
 * Listings go to *out (arena). 0, or -1 after Kafka's message (prefix). */
static int txn_list_all(txn_ctx *c, const int64_t *pids, int32_t pids_n, int64_t duration,
                        const char *prefix, txn_listing **out, int *out_n)
{
    int cap = 0, n = 0;
    txn_listing *v = NULL;
    int16_t ver;
    if (txn_version(c, KP_API_LIST_TRANSACTIONS, &ver) < 0)
        return -1;
    if (duration >= 0 && ver < 1) {
        tool_err(CMD, "%s: the broker does not support --duration-filter (ListTransactions v1)", prefix);
        return -1;
    }
    for (int32_t b = 0; b < c->md.brokers_n; b++) {
        const kp_metadata_resp_broker *br = &c->md.brokers[b];
        kp_list_transactions_req req;
        kp_list_transactions_resp resp;
        char err[512];
        kp_list_transactions_req_init(&req);
        req.state_filters = NULL;
        req.state_filters_n = 0;
        req.producer_id_filters = (int64_t *)pids;
        req.producer_id_filters_n = pids_n;
        req.duration_filter = duration;
        char *host = txn_str(c, br->host);
        int64_t deadline = clock_mono_ms() + c->a->o.timeout_ms;
    again:
        if (txn_request(c, host, br->port, KP_API_LIST_TRANSACTIONS, &req, &resp, err, sizeof err) < 0) {
            tool_err(CMD, "%s: broker %d: %s", prefix, br->node_id, err);
            return -1;
        }
        if (txn_retriable(resp.error_code) && txn_retry_wait(deadline))
            goto again;
        if (resp.error_code) {
            tool_err(CMD, "%s: %s", prefix, kerr_name(resp.error_code));
            return -1;
        }
        for (int32_t i = 0; i < resp.transaction_states_n; i++) {
            if (n == cap) {
                int ncap = cap ? cap * 2 : 16;
                txn_listing *nv = arena_alloc(&c->ar, sizeof *nv * (size_t)ncap);
                if (!nv) {
                    tool_err(CMD, "out of memory");
                    return -1;
                }
                if (n)
                    memcpy(nv, v, sizeof *nv * (size_t)n);
                v = nv;
                cap = ncap;
            }
            const kp_list_transactions_resp_transaction_state *s = &resp.transaction_states[i];
            v[n].coordinator = br->node_id;
            v[n].transactional_id = txn_str(c, s->transactional_id);
            v[n].producer_id = s->producer_id;
            v[n].state = txn_str(c, s->transaction_state);
            n++;
        }
    }
    *out = v;
    *out_n = n;
    return 0;
}

static int txn_cmd_list(txn_ctx *c)
{
    static const char *const hdr[] = { "TransactionalId", "Coordinator", "ProducerId", "TransactionState" };
    txn_args *a = c->a;
    regex_t re;
    bool have_re = false;
    if (a->id_pattern) {
        /* the whole id must match, as Java's Matcher.matches() */
        char *anchored = txn_fmt(c, "^(%s)$", a->id_pattern);
        if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0) {
            tool_err(CMD, "--transactional-id-pattern: not a valid regular expression: %s", a->id_pattern);
            return 2;
        }
        have_re = true;
    }
    int rc = 1;
    txn_listing *v;
    int n;
    if (txn_metadata(c, NULL, 0, false) < 0 ||
        txn_list_all(c, NULL, 0, a->duration_filter, "Failed to list transactions", &v, &n) < 0)
        goto out;
    txn_table t;
    txn_table_init(&t, 4, hdr);
    bool first = true;
    if (a->o.json)
        printf("[");
    for (int i = 0; i < n; i++) {
        if (have_re && regexec(&re, v[i].transactional_id, 0, NULL, 0) != 0)
            continue;
        if (a->o.json) {
            printf("%s{\"transactional_id\":", first ? "" : ",");
            tool_json_str(stdout, v[i].transactional_id);
            printf(",\"coordinator\":%d,\"producer_id\":%" PRId64 ",\"state\":", v[i].coordinator,
                   v[i].producer_id);
            tool_json_str(stdout, v[i].state);
            printf("}");
            first = false;
            continue;
        }
        char *row[4] = { v[i].transactional_id, txn_fmt(c, "%d", v[i].coordinator),
                         txn_fmt(c, "%" PRId64, v[i].producer_id), v[i].state };
        txn_table_add(c, &t, row);
    }
    if (a->o.json)
        printf("]\n");
    else
        txn_table_print(&t);
    rc = 0;
out:
    if (have_re)
        regfree(&re);
    return rc;
}

/* ---- DescribeTransactions ---- */

/* FindCoordinator for a transactional id: 0 with the coordinator's id and
 * address, or -1 with the reason in err. */
static int txn_coordinator(txn_ctx *c, const char *tid, int32_t *node, char **host, int32_t *port,
                           char *err, size_t errlen)
{
    int16_t ver;
    if (txn_version(c, KP_API_FIND_COORDINATOR, &ver) < 0) {
        snprintf(err, errlen, "FindCoordinator is not served");
        return -1;
    }
    if (ver < 1) {
        snprintf(err, errlen, "the broker has no FindCoordinator for transactional ids (v1+)");
        return -1;
    }
    kp_find_coordinator_req req;
    kp_find_coordinator_resp resp;
    kp_find_coordinator_req_init(&req);
    req.key_type = 1;
    kp_str key = kp_str_c(tid);
    req.key = key;
    req.coordinator_keys = &key;
    req.coordinator_keys_n = 1;
    int64_t deadline = clock_mono_ms() + c->a->o.timeout_ms;
again:
    if (txn_request(c, NULL, 0, KP_API_FIND_COORDINATOR, &req, &resp, err, errlen) < 0)
        return -1;
    int16_t code = resp.error_code;
    kp_str msg = resp.error_message;
    *node = resp.node_id;
    kp_str h = resp.host;
    *port = resp.port;
    if (ver >= 4) {
        if (resp.coordinators_n < 1) {
            snprintf(err, errlen, "FindCoordinator answered no coordinator");
            return -1;
        }
        code = resp.coordinators[0].error_code;
        msg = resp.coordinators[0].error_message;
        *node = resp.coordinators[0].node_id;
        h = resp.coordinators[0].host;
        *port = resp.coordinators[0].port;
    }
    if (code && txn_retriable(code) && txn_retry_wait(deadline))
        goto again;
    if (code) {
        snprintf(err, errlen, "%s", txn_err_text(c, code, msg));
        return -1;
    }
    *host = txn_str(c, h);
    return 0;
}

/* DescribeTransactions for one id on its coordinator. 0 with *st set (its
 * error_code may be non-zero), -1 with err. */
static int txn_describe_one(txn_ctx *c, const char *tid, int32_t *coord,
                            kp_describe_transactions_resp_transaction_state **st, char *err,
                            size_t errlen)
{
    char *host;
    int32_t port;
    int64_t deadline = clock_mono_ms() + c->a->o.timeout_ms;
again:
    if (txn_coordinator(c, tid, coord, &host, &port, err, errlen) < 0)
        return -1;
    kp_describe_transactions_req req;
    kp_describe_transactions_resp resp;
    kp_describe_transactions_req_init(&req);
    kp_str id = kp_str_c(tid);
    req.transactional_ids = &id;
    req.transactional_ids_n = 1;
    if (txn_request(c, host, port, KP_API_DESCRIBE_TRANSACTIONS, &req, &resp, err, errlen) < 0)
        return -1;
    for (int32_t i = 0; i < resp.transaction_states_n; i++)
        if (kp_str_eq(resp.transaction_states[i].transactional_id, tid)) {
            if (txn_retriable(resp.transaction_states[i].error_code) && txn_retry_wait(deadline))
                goto again;
            *st = &resp.transaction_states[i];
            return 0;
        }
    snprintf(err, errlen, "the coordinator did not answer for this transactional id");
    return -1;
}

static char *txn_partitions_str(txn_ctx *c, const kp_describe_transactions_resp_transaction_state *st)
{
    size_t len = 1;
    for (int32_t t = 0; t < st->topics_n; t++)
        len += (size_t)st->topics[t].partitions_n * ((size_t)st->topics[t].topic.len + 16);
    char *s = arena_alloc(&c->ar, len);
    size_t at = 0;
    if (!s)
        return NULL;
    for (int32_t t = 0; t < st->topics_n; t++)
        for (int32_t p = 0; p < st->topics[t].partitions_n; p++)
            at += (size_t)snprintf(s + at, len - at, "%s%.*s-%d", at ? "," : "",
                                   (int)st->topics[t].topic.len, st->topics[t].topic.ptr,
                                   st->topics[t].partitions[p]);
    return s;
}

static int txn_cmd_describe(txn_ctx *c)
{
    static const char *const hdr[] = { "CoordinatorId", "TransactionalId", "ProducerId",
                                       "ProducerEpoch", "TransactionState", "TransactionTimeoutMs",
                                       "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                                       "TopicPartitions" };
    const char *tid = c->a->transactional_id;
    char err[1024];
    int32_t coord;
    kp_describe_transactions_resp_transaction_state *st;
    if (txn_describe_one(c, tid, &coord, &st, err, sizeof err) < 0) {
        tool_err(CMD, "Failed to describe transaction state of transactional-id `%s`: %s", tid, err);
        return 1;
    }
    if (st->error_code == 105 /* TRANSACTIONAL_ID_NOT_FOUND: Kafka's admin client's sentence */) {
        tool_err(CMD, "Failed to describe transaction state of transactional-id `%s`: "
                      "DescribeTransactions request for transactionalId `%s` failed because the ID "
                      "could not be found", tid, tid);
        return 1;
    }
    if (st->error_code) {
        tool_err(CMD, "Failed to describe transaction state of transactional-id `%s`: %s", tid,
                 kerr_name(st->error_code));
        return 1;
    }
    char *parts = txn_partitions_str(c, st);
    int64_t start = st->transaction_start_time_ms;
    int64_t now = txn_now_ms();
    if (c->a->o.json) {
        printf("{\"coordinator_id\":%d,\"transactional_id\":", coord);
        tool_json_str(stdout, tid);
        printf(",\"producer_id\":%" PRId64 ",\"producer_epoch\":%d,\"state\":", st->producer_id,
               st->producer_epoch);
        tool_json_str(stdout, txn_str(c, st->transaction_state));
        printf(",\"transaction_timeout_ms\":%d,\"current_transaction_start_time_ms\":",
               st->transaction_timeout_ms);
        if (start >= 0)
            printf("%" PRId64 ",\"transaction_duration_ms\":%" PRId64, start, now - start);
        else
            printf("null,\"transaction_duration_ms\":null");
        printf(",\"topic_partitions\":[");
        bool first = true;
        for (int32_t t = 0; t < st->topics_n; t++)
            for (int32_t p = 0; p < st->topics[t].partitions_n; p++) {
                printf("%s{\"topic\":", first ? "" : ",");
                tool_json_strn(stdout, st->topics[t].topic.ptr, (size_t)st->topics[t].topic.len);
                printf(",\"partition\":%d}", st->topics[t].partitions[p]);
                first = false;
            }
        printf("]}\n");
        return 0;
    }
    /* Java's TransactionDescription: no start time is -1 on the wire, "None" */
    char *row[9] = {
        txn_fmt(c, "%d", coord), (char *)tid, txn_fmt(c, "%" PRId64, st->producer_id),
        txn_fmt(c, "%d", st->producer_epoch), txn_str(c, st->transaction_state),
        txn_fmt(c, "%d", st->transaction_timeout_ms),
        start >= 0 ? txn_fmt(c, "%" PRId64, start) : "None",
        start >= 0 ? txn_fmt(c, "%" PRId64, now - start) : "None", parts ? parts : "",
    };
    txn_table t;
    txn_table_init(&t, 9, hdr);
    txn_table_add(c, &t, row);
    txn_table_print(&t);
    return 0;
}

/* ---- DescribeProducers ---- */

/* DescribeProducers for topic[partition] on broker node. 0 with *pr set,
 * -1 after a message starting with prefix. */
static int txn_producers(txn_ctx *c, int32_t node, const char *topic, int32_t partition,
                         const char *prefix, kp_describe_producers_resp_partition_response **pr)
{
    const kp_metadata_resp_broker *br = txn_broker(c, node);
    if (!br) {
        tool_err(CMD, "%s: broker %d is not in the cluster's metadata", prefix, node);
        return -1;
    }
    kp_describe_producers_req req;
    kp_describe_producers_resp resp;
    kp_describe_producers_req_topic_request tr;
    char err[512];
    kp_describe_producers_req_init(&req);
    kp_describe_producers_req_topic_request_init(&tr);
    tr.name = kp_str_c(topic);
    tr.partition_indexes = &partition;
    tr.partition_indexes_n = 1;
    req.topics = &tr;
    req.topics_n = 1;
    if (txn_request(c, txn_str(c, br->host), br->port, KP_API_DESCRIBE_PRODUCERS, &req, &resp, err,
                    sizeof err) < 0) {
        tool_err(CMD, "%s: %s", prefix, err);
        return -1;
    }
    for (int32_t t = 0; t < resp.topics_n; t++) {
        if (!kp_str_eq(resp.topics[t].name, topic))
            continue;
        for (int32_t p = 0; p < resp.topics[t].partitions_n; p++) {
            kp_describe_producers_resp_partition_response *r = &resp.topics[t].partitions[p];
            if (r->partition_index != partition)
                continue;
            if (r->error_code) {
                tool_err(CMD, "%s: %s", prefix, txn_err_text(c, r->error_code, r->error_message));
                return -1;
            }
            *pr = r;
            return 0;
        }
    }
    tool_err(CMD, "%s: the broker did not answer for this partition", prefix);
    return -1;
}

static int txn_cmd_describe_producers(txn_ctx *c)
{
    static const char *const hdr[] = { "ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch",
                                       "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset" };
    txn_args *a = c->a;
    int32_t part = (int32_t)a->partition;
    const char *topics[1] = { a->topic };
    char *prefix = a->broker_id >= 0
        ? txn_fmt(c, "Failed to describe producers for partition %s-%d on broker %" PRId64, a->topic, part, a->broker_id)
        : txn_fmt(c, "Failed to describe producers for partition %s-%d on leader", a->topic, part);
    if (txn_metadata(c, topics, 1, false) < 0)
        return 1;
    int32_t node = a->broker_id >= 0 ? (int32_t)a->broker_id : txn_leader(c, prefix, a->topic, part);
    if (node < 0)
        return 1;
    kp_describe_producers_resp_partition_response *pr;
    if (txn_producers(c, node, a->topic, part, prefix, &pr) < 0)
        return 1;
    if (a->o.json) {
        printf("[");
        for (int32_t i = 0; i < pr->active_producers_n; i++) {
            const kp_describe_producers_resp_producer_state *s = &pr->active_producers[i];
            printf("%s{\"producer_id\":%" PRId64 ",\"producer_epoch\":%d,\"coordinator_epoch\":%d,"
                   "\"last_sequence\":%d,\"last_timestamp\":%" PRId64 ",\"current_transaction_start_offset\":",
                   i ? "," : "", s->producer_id, s->producer_epoch,
                   s->coordinator_epoch < 0 ? -1 : s->coordinator_epoch, s->last_sequence,
                   s->last_timestamp);
            if (s->current_txn_start_offset >= 0)
                printf("%" PRId64 "}", s->current_txn_start_offset);
            else
                printf("null}");
        }
        printf("]\n");
        return 0;
    }
    txn_table t;
    txn_table_init(&t, 6, hdr);
    for (int32_t i = 0; i < pr->active_producers_n; i++) {
        const kp_describe_producers_resp_producer_state *s = &pr->active_producers[i];
        /* Java's ProducerState: a negative coordinator epoch is absent (-1
         * printed), a negative start offset is absent ("None") */
        char *row[6] = {
            txn_fmt(c, "%" PRId64, s->producer_id), txn_fmt(c, "%d", s->producer_epoch),
            txn_fmt(c, "%d", s->coordinator_epoch < 0 ? -1 : s->coordinator_epoch),
            txn_fmt(c, "%d", s->last_sequence), txn_fmt(c, "%" PRId64, s->last_timestamp),
            s->current_txn_start_offset >= 0 ? txn_fmt(c, "%" PRId64, s->current_txn_start_offset) : "None",
        };
        txn_table_add(c, &t, row);
    }
    txn_table_print(&t);
    return 0;
}

/* ---- abort ---- */

static int txn_cmd_abort(txn_ctx *c)
{
    txn_args *a = c->a;
    int32_t part = (int32_t)a->partition;
    const char *topics[1] = { a->topic };
    int64_t pid, epoch, cepoch;
    if (a->start_offset < 0 && a->producer_id < 0) {
        tool_err(CMD, "The transaction to abort must be identified either with --start-offset (for "
                      "brokers on 3.0 or above) or with --producer-id, --producer-epoch, and "
                      "--coordinator-epoch (for older brokers)");
        return 1;
    }
    if (a->start_offset < 0) {
        if (a->producer_epoch < 0) {
            tool_err(CMD, "Missing required argument --producer-epoch");
            return 1;
        }
        if (a->coordinator_epoch == INT64_MIN) {
            tool_err(CMD, "Missing required argument --coordinator-epoch");
            return 1;
        }
    }
    if (txn_metadata(c, topics, 1, false) < 0)
        return 1;
    char *where = txn_fmt(c, "partition %s-%d", a->topic, part);
    int32_t leader = txn_leader(c, txn_fmt(c, "Failed to find the leader of %s", where), a->topic, part);
    if (leader < 0)
        return 1;
    if (a->start_offset >= 0) {
        kp_describe_producers_resp_partition_response *pr;
        if (txn_producers(c, leader, a->topic, part,
                          txn_fmt(c, "Failed to validate producer state for %s", where), &pr) < 0)
            return 1;
        const kp_describe_producers_resp_producer_state *found = NULL;
        for (int32_t i = 0; i < pr->active_producers_n && !found; i++)
            if (pr->active_producers[i].current_txn_start_offset == a->start_offset)
                found = &pr->active_producers[i];
        if (!found) {
            tool_err(CMD, "Could not find any open transactions starting at offset %" PRId64 " on %s",
                     a->start_offset, where);
            return 1;
        }
        pid = found->producer_id;
        epoch = found->producer_epoch;
        cepoch = found->coordinator_epoch < 0 ? 0 : found->coordinator_epoch;
    } else {
        pid = a->producer_id;
        epoch = a->producer_epoch;
        /* as Kafka: a transaction that hung before its first marker has
         * coordinator epoch -1; 0 is at most any real epoch */
        cepoch = a->coordinator_epoch < 0 ? 0 : a->coordinator_epoch;
    }
    char *spec = txn_fmt(c, "AbortTransactionSpec(topicPartition=%s-%d, producerId=%" PRId64
                            ", producerEpoch=%" PRId64 ", coordinatorEpoch=%" PRId64 ")",
                         a->topic, part, pid, epoch, cepoch);
    const kp_metadata_resp_broker *br = txn_broker(c, leader);
    if (!br) {
        tool_err(CMD, "Failed to abort transaction %s: broker %d is not in the metadata", spec, leader);
        return 1;
    }
    kp_write_txn_markers_req req;
    kp_write_txn_markers_req_writable_txn_marker m;
    kp_write_txn_markers_req_writable_txn_marker_topic mt;
    kp_write_txn_markers_resp resp;
    char err[512];
    kp_write_txn_markers_req_init(&req);
    kp_write_txn_markers_req_writable_txn_marker_init(&m);
    kp_write_txn_markers_req_writable_txn_marker_topic_init(&mt);
    mt.name = kp_str_c(a->topic);
    mt.partition_indexes = &part;
    mt.partition_indexes_n = 1;
    m.producer_id = pid;
    m.producer_epoch = (int16_t)epoch;
    m.transaction_result = false; /* ABORT */
    m.topics = &mt;
    m.topics_n = 1;
    m.coordinator_epoch = (int32_t)cepoch;
    req.markers = &m;
    req.markers_n = 1;
    if (txn_request(c, txn_str(c, br->host), br->port, KP_API_WRITE_TXN_MARKERS, &req, &resp, err,
                    sizeof err) < 0) {
        tool_err(CMD, "Failed to abort transaction %s: %s", spec, err);
        return 1;
    }
    int16_t code = -1;
    for (int32_t i = 0; i < resp.markers_n; i++) {
        if (resp.markers[i].producer_id != pid)
            continue;
        for (int32_t t = 0; t < resp.markers[i].topics_n; t++) {
            if (!kp_str_eq(resp.markers[i].topics[t].name, a->topic))
                continue;
            for (int32_t p = 0; p < resp.markers[i].topics[t].partitions_n; p++)
                if (resp.markers[i].topics[t].partitions[p].partition_index == part)
                    code = resp.markers[i].topics[t].partitions[p].error_code;
        }
    }
    if (code < 0) {
        tool_err(CMD, "Failed to abort transaction %s: the broker did not answer for the partition", spec);
        return 1;
    }
    if (code) {
        tool_err(CMD, "Failed to abort transaction %s: %s", spec, kerr_name(code));
        return 1;
    }
    /* Kafka prints nothing on success; JSON callers get what was aborted */
    if (a->o.json) {
        printf("{\"topic\":");
        tool_json_str(stdout, a->topic);
        printf(",\"partition\":%d,\"producer_id\":%" PRId64 ",\"producer_epoch\":%" PRId64
               ",\"coordinator_epoch\":%" PRId64 "}\n", part, pid, epoch, cepoch);
    }
    return 0;
}

/* ---- find-hanging ---- */

typedef struct txn_open {
    char *topic;
    int32_t partition;
    kp_describe_producers_resp_producer_state st;
} txn_open;

static int txn_cmd_find_hanging(txn_ctx *c)
{
    static const char *const hdr[] = { "Topic", "Partition", "ProducerId", "ProducerEpoch",
                                       "CoordinatorEpoch", "StartOffset", "LastTimestamp",
                                       "Duration(min)" };
    txn_args *a = c->a;
    if (!a->topic && a->broker_id < 0) {
        tool_err(CMD, "The `find-hanging` command requires either --topic or --broker-id to limit "
                      "the scope of the search");
        return 1;
    }
    if (a->partition >= 0 && !a->topic) {
        tool_err(CMD, "The --partition argument requires --topic to be provided");
        return 1;
    }
    int64_t max_ms = a->max_txn_timeout_min * 60000;
    const char *topics[1] = { a->topic };
    if (txn_metadata(c, topics, a->topic ? 1 : 0, a->topic == NULL) < 0)
        return 1;
    int64_t now = txn_now_ms();
    txn_open *open = NULL;
    int open_n = 0, open_cap = 0;
    for (int32_t t = 0; t < c->md.topics_n; t++) {
        const kp_metadata_resp_topic *mt = &c->md.topics[t];
        char *tname = txn_str(c, mt->name);
        if (mt->error_code) {
            tool_err(CMD, "Failed to describe 1 topics: %s: %s", tname, kerr_name(mt->error_code));
            return 1;
        }
        /* as Kafka's tool (Admin.listTopics): internal topics only by name */
        if (!a->topic && mt->is_internal)
            continue;
        /* the partitions to search and the broker to ask about each */
        int32_t *parts = arena_alloc(&c->ar, sizeof *parts * (size_t)(mt->partitions_n + 1));
        int32_t *nodes = arena_alloc(&c->ar, sizeof *nodes * (size_t)(mt->partitions_n + 1));
        int32_t n = 0;
        if (!parts || !nodes) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        for (int32_t p = 0; p < mt->partitions_n; p++) {
            const kp_metadata_resp_partition *mp = &mt->partitions[p];
            if (a->partition >= 0 && mp->partition_index != a->partition)
                continue;
            bool replica = a->broker_id < 0;
            for (int32_t r = 0; r < mp->replica_nodes_n && !replica; r++)
                replica = mp->replica_nodes[r] == a->broker_id;
            if (!replica)
                continue;
            int32_t node = a->broker_id >= 0 ? (int32_t)a->broker_id : mp->leader_id;
            if (node < 0) {
                tool_err(CMD, "Failed to describe producers for partition %s-%d: LEADER_NOT_AVAILABLE",
                         tname, mp->partition_index);
                return 1;
            }
            parts[n] = mp->partition_index;
            nodes[n++] = node;
        }
        /* one DescribeProducers per broker for all of this topic's partitions */
        for (int32_t first = 0; first < n; first++) {
            int32_t node = nodes[first];
            if (node < 0)
                continue; /* already asked */
            int32_t *batch = arena_alloc(&c->ar, sizeof *batch * (size_t)n);
            int32_t bn = 0;
            if (!batch) {
                tool_err(CMD, "out of memory");
                return 1;
            }
            for (int32_t k = first; k < n; k++)
                if (nodes[k] == node) {
                    batch[bn++] = parts[k];
                    nodes[k] = -1;
                }
            const kp_metadata_resp_broker *br = txn_broker(c, node);
            char *prefix = txn_fmt(c, "Failed to describe producers for %d partitions on broker %d",
                                   bn, node);
            if (!br) {
                tool_err(CMD, "%s: the broker is not in the cluster's metadata", prefix);
                return 1;
            }
            kp_describe_producers_req req;
            kp_describe_producers_resp resp;
            kp_describe_producers_req_topic_request tr;
            char err[512];
            kp_describe_producers_req_init(&req);
            kp_describe_producers_req_topic_request_init(&tr);
            tr.name = kp_str_c(tname);
            tr.partition_indexes = batch;
            tr.partition_indexes_n = bn;
            req.topics = &tr;
            req.topics_n = 1;
            if (txn_request(c, txn_str(c, br->host), br->port, KP_API_DESCRIBE_PRODUCERS, &req, &resp,
                            err, sizeof err) < 0) {
                tool_err(CMD, "%s: %s", prefix, err);
                return 1;
            }
            for (int32_t rt = 0; rt < resp.topics_n; rt++) {
                if (!kp_str_eq(resp.topics[rt].name, tname))
                    continue;
                for (int32_t rp = 0; rp < resp.topics[rt].partitions_n; rp++) {
                    const kp_describe_producers_resp_partition_response *pr = &resp.topics[rt].partitions[rp];
                    if (pr->error_code) {
                        tool_err(CMD, "%s: %s-%d: %s", prefix, tname, pr->partition_index,
                                 txn_err_text(c, pr->error_code, pr->error_message));
                        return 1;
                    }
                    for (int32_t i = 0; i < pr->active_producers_n; i++) {
                        const kp_describe_producers_resp_producer_state *st = &pr->active_producers[i];
                        if (st->current_txn_start_offset < 0 || now - st->last_timestamp <= max_ms)
                            continue;
                        if (open_n == open_cap) {
                            int ncap = open_cap ? open_cap * 2 : 16;
                            txn_open *nv = arena_alloc(&c->ar, sizeof *nv * (size_t)ncap);
                            if (!nv) {
                                tool_err(CMD, "out of memory");
                                return 1;
                            }
                            if (open_n)
                                memcpy(nv, open, sizeof *nv * (size_t)open_n);
                            open = nv;
                            open_cap = ncap;
                        }
                        open[open_n].topic = tname;
                        open[open_n].partition = pr->partition_index;
                        open[open_n].st = *st;
                        open_n++;
                    }
                }
            }
        }
    }
    /* Which transactional id owns each candidate's producer id, and does its
     * coordinator still count the partition in the transaction? */
    bool *hanging = open_n ? arena_alloc(&c->ar, sizeof *hanging * (size_t)open_n) : NULL;
    if (open_n) {
        int64_t *pids = arena_alloc(&c->ar, sizeof *pids * (size_t)open_n);
        int32_t pids_n = 0;
        for (int i = 0; i < open_n; i++) {
            bool seen = false;
            for (int32_t k = 0; k < pids_n && !seen; k++)
                seen = pids[k] == open[i].st.producer_id;
            if (!seen)
                pids[pids_n++] = open[i].st.producer_id;
        }
        txn_listing *v;
        int n;
        char *prefix = txn_fmt(c, "Failed to list transactions for %d producers", pids_n);
        if (txn_list_all(c, pids, pids_n, -1, prefix, &v, &n) < 0)
            return 1;
        for (int i = 0; i < open_n; i++) {
            const char *tid = NULL;
            for (int k = 0; k < n && !tid; k++)
                if (v[k].producer_id == open[i].st.producer_id)
                    tid = v[k].transactional_id;
            if (!tid) {
                hanging[i] = true;
                continue;
            }
            char err[1024];
            int32_t coord;
            kp_describe_transactions_resp_transaction_state *st;
            if (txn_describe_one(c, tid, &coord, &st, err, sizeof err) < 0) {
                tool_err(CMD, "Failed to describe 1 transactions: %s", err);
                return 1;
            }
            if (st->error_code == 105 /* TRANSACTIONAL_ID_NOT_FOUND */) {
                hanging[i] = true;
                continue;
            }
            if (st->error_code) {
                tool_err(CMD, "Failed to describe 1 transactions: %s", kerr_name(st->error_code));
                return 1;
            }
            bool included = false;
            for (int32_t t = 0; t < st->topics_n && !included; t++) {
                if (!kp_str_eq(st->topics[t].topic, open[i].topic))
                    continue;
                for (int32_t p = 0; p < st->topics[t].partitions_n && !included; p++)
                    included = st->topics[t].partitions[p] == open[i].partition;
            }
            hanging[i] = !included;
        }
    }
    txn_table tb;
    txn_table_init(&tb, 8, hdr);
    if (a->o.json)
        printf("[");
    bool first = true;
    for (int i = 0; i < open_n; i++) {
        if (!hanging[i])
            continue;
        const kp_describe_producers_resp_producer_state *s = &open[i].st;
        int64_t minutes = (now - s->last_timestamp) / 60000;
        int32_t ce = s->coordinator_epoch < 0 ? -1 : s->coordinator_epoch;
        if (a->o.json) {
            printf("%s{\"topic\":", first ? "" : ",");
            tool_json_str(stdout, open[i].topic);
            printf(",\"partition\":%d,\"producer_id\":%" PRId64 ",\"producer_epoch\":%d,"
                   "\"coordinator_epoch\":%d,\"start_offset\":%" PRId64 ",\"last_timestamp\":%" PRId64
                   ",\"duration_min\":%" PRId64 "}",
                   open[i].partition, s->producer_id, s->producer_epoch, ce,
                   s->current_txn_start_offset, s->last_timestamp, minutes);
            first = false;
            continue;
        }
        char *row[8] = {
            open[i].topic, txn_fmt(c, "%d", open[i].partition), txn_fmt(c, "%" PRId64, s->producer_id),
            txn_fmt(c, "%d", s->producer_epoch), txn_fmt(c, "%d", ce),
            txn_fmt(c, "%" PRId64, s->current_txn_start_offset), txn_fmt(c, "%" PRId64, s->last_timestamp),
            txn_fmt(c, "%" PRId64, minutes),
        };
        txn_table_add(c, &tb, row);
    }
    if (a->o.json)
        printf("]\n");
    else
        txn_table_print(&tb);
    return 0;
}

/* ---- arguments ---- */

static void txn_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor transactions [options] COMMAND [command options]\n"
        "Analyze the transactional state of producers; detect and recover from hanging\n"
        "transactions (kafka-transactions.sh). Options may come before or after COMMAND.\n"
        "Commands:\n"
        "  list                  list transactions\n"
        "      [--duration-filter MS]             only transactions running longer than MS\n"
        "      [--transactional-id-pattern RE]    only ids the regular expression matches whole\n"
        "  describe --transactional-id ID\n"
        "                        describe the state of an active transactional-id\n"
        "  describe-producers --topic T --partition P [--broker-id N]\n"
        "                        describe the states of active producers for a topic partition\n"
        "  abort --topic T --partition P --start-offset N\n"
        "  abort --topic T --partition P --producer-id ID --producer-epoch E --coordinator-epoch C\n"
        "                        abort a hanging transaction (WriteTxnMarkers to the leader)\n"
        "  find-hanging (--broker-id N | --topic T [--partition P]) [--max-transaction-timeout MIN]\n"
        "                        open transactions older than MIN minutes (default 15) that\n"
        "                        their coordinator no longer counts\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         accepted for kafka-transactions.sh; requests are plain\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor transactions --bootstrap-server localhost:9092 describe-producers --topic t --partition 0\n");
}

static int txn_int_opt(int argc, char **argv, int *i, const char *name, int64_t lo, int64_t hi,
                       int64_t *out)
{
    const char *v = tool_arg_value(argc, argv, i);
    if (!v)
        return -1;
    if (tool_parse_int64(v, out) < 0 || *out < lo || *out > hi) {
        tool_err(CMD, "%s: not a valid number: %s", name, v);
        return -1;
    }
    return 0;
}

static int txn_parse(txn_args *a, int argc, char **argv)
{
    static const struct { const char *word; txn_action act; } words[] = {
        { "list", TXN_LIST }, { "describe", TXN_DESCRIBE },
        { "describe-producers", TXN_DESCRIBE_PRODUCERS }, { "abort", TXN_ABORT },
        { "find-hanging", TXN_FIND_HANGING },
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int r = tool_opts_parse(&a->o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            txn_usage(stdout);
            exit(0);
        }
        bool word = false;
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
            if (strcmp(arg, words[k].word) == 0) {
                if (a->action != TXN_NONE) {
                    tool_err(CMD, "one command at a time: %s", arg);
                    return 2;
                }
                a->action = words[k].act;
                word = true;
            }
        if (word)
            continue;
        const char *v;
        int rc = 0;
        if (tool_opt_is(arg, "--transactional-id")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            a->transactional_id = v;
        } else if (tool_opt_is(arg, "--topic")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            a->topic = v;
        } else if (tool_opt_is(arg, "--transactional-id-pattern")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            a->id_pattern = v;
        } else if (tool_opt_is(arg, "--partition"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT32_MAX, &a->partition);
        else if (tool_opt_is(arg, "--broker-id"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT32_MAX, &a->broker_id);
        else if (tool_opt_is(arg, "--start-offset"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT64_MAX, &a->start_offset);
        else if (tool_opt_is(arg, "--producer-id"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT64_MAX, &a->producer_id);
        else if (tool_opt_is(arg, "--producer-epoch"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT16_MAX, &a->producer_epoch);
        else if (tool_opt_is(arg, "--coordinator-epoch"))
            rc = txn_int_opt(argc, argv, &i, arg, INT32_MIN, INT32_MAX, &a->coordinator_epoch);
        else if (tool_opt_is(arg, "--duration-filter"))
            rc = txn_int_opt(argc, argv, &i, arg, INT64_MIN + 1, INT64_MAX, &a->duration_filter);
        else if (tool_opt_is(arg, "--max-transaction-timeout"))
            rc = txn_int_opt(argc, argv, &i, arg, 0, INT32_MAX, &a->max_txn_timeout_min);
        else {
            tool_err(CMD, "unknown option or command: %s (see --help)", arg);
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (a->duration_filter < 0)
        a->duration_filter = -1; /* Kafka: any negative value lists every transaction */
    switch (a->action) {
    case TXN_NONE:
        tool_err(CMD, "a command is required: list, describe, describe-producers, abort or find-hanging");
        return 2;
    case TXN_DESCRIBE:
        if (!a->transactional_id) {
            tool_err(CMD, "describe: argument --transactional-id is required");
            return 2;
        }
        break;
    case TXN_DESCRIBE_PRODUCERS:
    case TXN_ABORT:
        if (!a->topic || a->partition < 0) {
            tool_err(CMD, "%s: arguments --topic and --partition are required",
                     a->action == TXN_ABORT ? "abort" : "describe-producers");
            return 2;
        }
        break;
    default:
        break;
    }
    return 0;
}

int tool_transactions_main(int argc, char **argv)
{
    txn_args a;
    memset(&a, 0, sizeof a);
    tool_opts_init(&a.o);
    tool_set_cmd(CMD);
    a.partition = -1;
    a.broker_id = -1;
    a.start_offset = -1;
    a.producer_id = -1;
    a.producer_epoch = -1;
    a.coordinator_epoch = INT64_MIN;
    a.duration_filter = -1;
    a.max_txn_timeout_min = 15;
    int rc = txn_parse(&a, argc, argv);
    if (rc)
        return rc;
    tool_install_signals();
    txn_ctx c;
    memset(&c, 0, sizeof c);
    c.a = &a;
    arena_init(&c.ar, TXN_ARENA_MAX);
    if (tool_api_versions(&a.o, &c.av, &c.ar) < 0) {
        arena_deinit(&c.ar);
        return 1;
    }
    switch (a.action) {
    case TXN_LIST: rc = txn_cmd_list(&c); break;
    case TXN_DESCRIBE: rc = txn_cmd_describe(&c); break;
    case TXN_DESCRIBE_PRODUCERS: rc = txn_cmd_describe_producers(&c); break;
    case TXN_ABORT: rc = txn_cmd_abort(&c); break;
    case TXN_FIND_HANGING: rc = txn_cmd_find_hanging(&c); break;
    default: rc = 2; break;
    }
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
