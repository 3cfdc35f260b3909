/*
 * delete_records.c - `gregor delete-records`, the counterpart of
 * kafka-delete-records.sh (org.apache.kafka.tools.DeleteRecordsCommand):
 *
 *   gregor delete-records --bootstrap-server H:P --offset-json-file F
 *
 * F is Kafka's format:
 *   {"partitions":[{"topic":"t","partition":0,"offset":N}],"version":1}
 * ("version" may be left out; offset -1 means the high watermark). Each
 * partition's log start offset (its low watermark) moves up to its offset
 * with DeleteRecords (API 21, v0-2) sent to the partition's leader, and the
 * output is Kafka 4.4's tool's:
 *
 *   Executing records delete operation
 *   Records delete operation completed:
 *   partition: t-0	low_watermark: 5
 *   partition: t-1	error: org.apache.kafka.common.errors.OffsetOutOfRangeException: The
 *   requested offset is not within the range of offsets maintained by the server.
 *
 * one line a partition, in the file's order (Kafka's tool prints them in an
 * order that changes from run to run: see dr_execute), an error as the
 * exception Kafka's admin client makes of the partition's error code (class
 * name and Kafka's message).
 * A bad file gets Kafka's sentence ("The input string is not a valid JSON",
 * "Missing partitions field", "Expected `Integer` value, received "x"",
 * "Offset json file contains duplicate topic partitions: t-0", ...).
 *
 * Where this differs from Kafka's tool, on purpose:
 *  - a topic or partition the cluster does not have is reported at once as
 *    UnknownTopicOrPartitionException; Kafka's admin client looks it up again
 *    until its 60-second API timeout and then reports a TimeoutException;
 *  - other retriable errors (no leader, not the leader, a request timeout)
 *    are retried within --timeout-ms (default 10 s), not 60 s;
 *  - the exit status is 1 when any partition failed (Kafka's tool exits 0).
 *
 * librdkafka 2.0 has DeleteRecords but not its per-partition error codes in
 * a form that keeps Kafka's messages, and the tools already speak raw
 * requests, so the requests are our own over a plain socket
 * (tool_raw_request): ApiVersions, Metadata for the leaders, DeleteRecords
 * to each leader with timeout_ms = --timeout-ms. Every wait is bounded by
 * --timeout-ms. Main thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/json.h"
#include "tools/tools.h"

#define CMD "delete-records"
#define DR_ARENA_MAX (512u << 20)
#define DR_FILE_MAX (64u << 20)  /* bound on the offset JSON file */

typedef struct dr_ctx {
    tool_opts o;
    const char *file;
    arena ar;
    kp_api_versions_resp av;
} dr_ctx;

/* ---- the offset file ---- */

typedef struct dr_part {
    char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    /* the result */
    bool done;
    int16_t error;          /* the last Kafka error code (0: none) */
    const char *error_text; /* instead of error: a sentence of Kafka's admin client */
    int64_t low_watermark;
    int32_t leader;
} dr_part;

/* The partitions of the file in its order; -1 after Kafka's sentence. */
static int dr_parse_file(dr_ctx *c, dr_part **out, size_t *out_n)
{
    size_t len;
    int open_errno;
    char *text = tj_read_file(&c->ar, c->file, DR_FILE_MAX, &len, &open_errno);
    if (!text) {
        if (open_errno)
            tool_err(CMD, "Unable to read file %s: %s", c->file, strerror(open_errno));
        else
            tool_err(CMD, "Unable to read file %s%s", c->file,
                     len > DR_FILE_MAX ? ": larger than the 64 MiB limit" : "");
        return -1;
    }
    bool oom;
    /* Jackson reads the first value and ignores what follows it */
    const tj_json *js = tj_parse(&c->ar, text, len, &oom);
    if (oom) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    if (!js) {
        tool_err(CMD, "The input string is not a valid JSON");
        return -1;
    }
    if (js->type != TJ_OBJ) {
        tj_err_node(CMD, "Expected JSON object, received ", js);
        return -1;
    }
    int32_t version = 1;
    const tj_json *v = tj_get(js, "version");
    if (v && tj_to_int(CMD, v, &version) < 0)
        return -1;
    if (version != 1) {
        tool_err(CMD, "Not supported version field value %" PRId32, version);
        return -1;
    }
    const tj_json *parts = tj_get(js, "partitions");
    if (!parts) {
        tool_err(CMD, "Missing partitions field");
        return -1;
    }
    if (parts->type != TJ_ARR) {
        tj_err_node(CMD, "Expected JSON array, received ", parts);
        return -1;
    }
    dr_part *p = arena_alloc(&c->ar, sizeof *p * (parts->n ? parts->n : 1));
    if (!p) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < parts->n; k++) {
        const tj_json *e = parts->items[k];
        if (e->type != TJ_OBJ) {
            tj_err_node(CMD, "Expected JSON object, received ", e);
            return -1;
        }
        const tj_json *t = tj_field(CMD, e, "topic");
        if (!t)
            return -1;
        if (t->type != TJ_STR) {
            tj_err_node(CMD, "Expected `String` value, received ", t);
            return -1;
        }
        const tj_json *pn = tj_field(CMD, e, "partition");
        if (!pn || tj_to_int(CMD, pn, &p[k].partition) < 0)
            return -1;
        const tj_json *off = tj_field(CMD, e, "offset");
        if (!off || tj_to_long(CMD, off, &p[k].offset) < 0)
            return -1;
        p[k].topic = t->s;
        p[k].topic_len = t->slen;
    }
    *out = p;
    *out_n = parts->n;
    return 0;
}

/* ---- Java's HashMap iteration order (javaorder.c) ---- */

/* Reorder v (n distinct partitions) as a Java HashMap or HashSet with an
 * initial table of cap0 (16: `new HashMap<>()`) iterates them when they are
 * put in v's order. */
static int dr_jhm_order(dr_ctx *c, dr_part **v, size_t n, size_t cap0)
{
    int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (n ? n : 1));
    if (!hash)
        return -1;
    for (size_t i = 0; i < n; i++)
        hash[i] = jo_tp_hash(v[i]->topic, v[i]->topic_len, v[i]->partition);
    return jo_put_reorder(v, sizeof *v, n, hash, cap0);
}

static bool dr_same_tp(const dr_part *a, const dr_part *b)
{
    return a->partition == b->partition && a->topic_len == b->topic_len &&
           memcmp(a->topic, b->topic, a->topic_len) == 0;
}

/* ---- Kafka's exceptions for error codes ---- */

static const struct dr_kerr {
    int16_t code;
    const char *cls; /* under org.apache.kafka.common.errors. */
    const char *msg;
} dr_kerrs[] = {
    { -1, "UnknownServerException", "The server experienced an unexpected error when processing the request." },
    { 1, "OffsetOutOfRangeException", "The requested offset is not within the range of offsets maintained by the server." },
    { 2, "CorruptRecordException", "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt." },
    { 3, "UnknownTopicOrPartitionException", "This server does not host this topic-partition." },
    { 5, "LeaderNotAvailableException", "There is no leader for this topic-partition as we are in the middle of a leadership election." },
    { 6, "NotLeaderOrFollowerException", "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition." },
    { 7, "TimeoutException", "The request timed out." },
    { 8, "BrokerNotAvailableException", "The broker is not available." },
    { 9, "ReplicaNotAvailableException", "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition." },
    { 13, "NetworkException", "The server disconnected before a response was received." },
    { 17, "InvalidTopicException", "The request attempted to perform an operation on an invalid topic." },
    { 29, "TopicAuthorizationException", "Topic authorization failed." },
    { 31, "ClusterAuthorizationException", "Cluster authorization failed." },
    { 35, "UnsupportedVersionException", "The version of API is not supported." },
    { 42, "InvalidRequestException", "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details." },
    { 44, "PolicyViolationException", "Request parameters do not satisfy the configured policy." },
    { 55, "OperationNotAttemptedException", "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest." },
    { 56, "KafkaStorageException", "Disk error when trying to access log file on the disk." },
    { 74, "FencedLeaderEpochException", "The leader epoch in the request is older than the epoch on the broker." },
    { 75, "UnknownLeaderEpochException", "The leader epoch in the request is newer than the epoch on the broker." },
};

/* "org.apache.kafka.common.errors.X: message" for code, into buf. */
static const char *dr_exception(int16_t code, char *buf, size_t len)
{
    for (size_t k = 0; k < sizeof dr_kerrs / sizeof dr_kerrs[0]; k++)
        if (dr_kerrs[k].code == code) {
            snprintf(buf, len, "org.apache.kafka.common.errors.%s: %s", dr_kerrs[k].cls, dr_kerrs[k].msg);
            return buf;
        }
    snprintf(buf, len, "%s (error code %d)", kerr_name(code), code);
    return buf;
}

/* Errors Kafka's admin client looks up the leader again for, or sends again. */
static bool dr_retriable(int16_t code)
{
    switch (code) {
    case 3: case 5: case 6: case 7: case 8: case 9: case 13: case 19: case 20: case 56:
    case 74: case 75:
        return true;
    default:
        return false;
    }
}

/* ---- requests ---- */

/* Metadata for the topics of the partitions not done yet: each one's leader,
 * or its final error. 0, or -1 after a message. */
static int dr_lookup(dr_ctx *c, dr_part **v, size_t n, kp_metadata_resp *md)
{
    int16_t ver;
    char err[512];
    if (tool_api_version_or_err(&c->o, &c->av, KP_API_METADATA, &ver) < 0)
        return -1;
    kp_metadata_req req;
    kp_metadata_req_init(&req);
    req.allow_auto_topic_creation = false;
    req.topics = arena_alloc(&c->ar, sizeof *req.topics * (n ? n : 1));
    if (!req.topics) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    req.topics_n = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->done)
            continue;
        bool seen = false;
        for (int32_t t = 0; t < req.topics_n && !seen; t++)
            seen = (size_t)req.topics[t].name.len == v[i]->topic_len &&
                   memcmp(req.topics[t].name.ptr, v[i]->topic, v[i]->topic_len) == 0;
        if (seen)
            continue;
        kp_metadata_req_topic_init(&req.topics[req.topics_n]);
        req.topics[req.topics_n].name.ptr = v[i]->topic;
        req.topics[req.topics_n].name.len = (int32_t)v[i]->topic_len;
        req.topics_n++;
    }
    if (tool_raw_request(&c->o, KP_API_METADATA, ver, &req, md, &c->ar, err, sizeof err) < 0) {
        tool_err(CMD, "Metadata: %s", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        dr_part *p = v[i];
        if (p->done)
            continue;
        p->leader = -1;
        const kp_metadata_resp_topic *t = NULL;
        for (int32_t k = 0; k < md->topics_n && !t; k++)
            if ((size_t)md->topics[k].name.len == p->topic_len &&
                memcmp(md->topics[k].name.ptr, p->topic, p->topic_len) == 0)
                t = &md->topics[k];
        if (!t || t->error_code == 3) {
            /* at once, where Kafka's admin client asks until its timeout */
            p->done = true;
            p->error = 3;
            continue;
        }
        if (t->error_code == 17 || t->error_code == 29) {
            /* Kafka's PartitionLeaderStrategy's sentences */
            char buf[1024];
            if (t->error_code == 17)
                snprintf(buf, sizeof buf,
                         "org.apache.kafka.common.errors.InvalidTopicException: Failed to fetch "
                         "metadata for partition %.*s-%" PRId32 " due to invalid topic `%.*s`",
                         (int)p->topic_len, p->topic, p->partition, (int)p->topic_len, p->topic);
            else
                snprintf(buf, sizeof buf,
                         "org.apache.kafka.common.errors.TopicAuthorizationException: Failed to "
                         "fetch metadata for partition %.*s-%" PRId32 " due to topic authorization failure",
                         (int)p->topic_len, p->topic, p->partition);
            p->done = true;
            p->error_text = arena_strndup(&c->ar, buf, strlen(buf));
            continue;
        }
        if (t->error_code && !dr_retriable(t->error_code)) {
            p->done = true;
            p->error = t->error_code;
            continue;
        }
        if (t->error_code) {
            p->error = t->error_code; /* try again */
            continue;
        }
        const kp_metadata_resp_partition *mp = NULL;
        for (int32_t k = 0; k < t->partitions_n && !mp; k++)
            if (t->partitions[k].partition_index == p->partition)
                mp = &t->partitions[k];
        if (!mp) {
            p->done = true;
            p->error = 3;
            continue;
        }
        if (mp->leader_id < 0 || (mp->error_code && dr_retriable(mp->error_code))) {
            p->error = mp->error_code ? mp->error_code : 5; /* try again */
            continue;
        }
        if (mp->error_code && mp->error_code != 9 /* REPLICA_NOT_AVAILABLE: a leader is there */) {
            p->done = true;
            p->error = mp->error_code;
            continue;
        }
        p->leader = mp->leader_id;
    }
    return 0;
}

/* One round: look the leaders up, send each leader its partitions. */
static int dr_round(dr_ctx *c, dr_part **v, size_t n, int16_t ver)
{
    kp_metadata_resp md;
    if (dr_lookup(c, v, n, &md) < 0)
        return -1;
    for (size_t first = 0; first < n; first++) {
        dr_part *p0 = v[first];
        if (p0->done || p0->leader < 0)
            continue;
        int32_t leader = p0->leader;
        const kp_metadata_resp_broker *br = NULL;
        for (int32_t k = 0; k < md.brokers_n && !br; k++)
            if (md.brokers[k].node_id == leader)
                br = &md.brokers[k];
        /* this leader's partitions, one topic entry per topic */
        kp_delete_records_req req;
        kp_delete_records_req_init(&req);
        req.timeout_ms = c->o.timeout_ms;
        req.topics = arena_alloc(&c->ar, sizeof *req.topics * n);
        if (!req.topics) {
            tool_err(CMD, "out of memory");
            return -1;
        }
        for (size_t i = first; i < n; i++) {
            dr_part *p = v[i];
            if (p->done || p->leader != leader)
                continue;
            p->leader = -1; /* asked in this round */
            kp_delete_records_req_delete_records_topic *t = NULL;
            for (int32_t k = 0; k < req.topics_n && !t; k++)
                if ((size_t)req.topics[k].name.len == p->topic_len &&
                    memcmp(req.topics[k].name.ptr, p->topic, p->topic_len) == 0)
                    t = &req.topics[k];
            if (!t) {
                t = &req.topics[req.topics_n++];
                kp_delete_records_req_delete_records_topic_init(t);
                t->name.ptr = p->topic;
                t->name.len = (int32_t)p->topic_len;
                t->partitions = arena_alloc(&c->ar, sizeof *t->partitions * n);
                if (!t->partitions) {
                    tool_err(CMD, "out of memory");
                    return -1;
                }
            }
            kp_delete_records_req_delete_records_partition *rp = &t->partitions[t->partitions_n++];
            kp_delete_records_req_delete_records_partition_init(rp);
            rp->partition_index = p->partition;
            rp->offset = p->offset;
        }
        if (!br) {
            continue; /* not in the metadata's brokers: look up again */
        }
        char host[300];
        snprintf(host, sizeof host, "%.*s", br->host.len > 0 ? (int)br->host.len : 0,
                 br->host.ptr ? br->host.ptr : "");
        kp_delete_records_resp resp;
        char err[512];
        if (tool_raw_request_at(&c->o, host, br->port, KP_API_DELETE_RECORDS, ver, &req, &resp, &c->ar,
                                err, sizeof err) < 0) {
            tool_err(CMD, "DeleteRecords on broker %" PRId32 ": %s", leader, err);
            return -1;
        }
        for (int32_t rt = 0; rt < resp.topics_n; rt++) {
            const kp_delete_records_resp_delete_records_topic_result *t = &resp.topics[rt];
            for (int32_t rp = 0; rp < t->partitions_n; rp++) {
                const kp_delete_records_resp_delete_records_partition_result *r = &t->partitions[rp];
                for (size_t i = 0; i < n; i++) {
                    dr_part *p = v[i];
                    if (p->done || p->partition != r->partition_index ||
                        (size_t)t->name.len != p->topic_len || memcmp(t->name.ptr, p->topic, p->topic_len) != 0)
                        continue;
                    p->error = r->error_code;
                    if (r->error_code == 0) {
                        p->done = true;
                        p->low_watermark = r->low_watermark;
                    } else if (!dr_retriable(r->error_code)) {
                        p->done = true;
                    }
                }
            }
        }
    }
    return 0;
}

static int dr_execute(dr_ctx *c)
{
    dr_part *parts;
    size_t n;
    if (dr_parse_file(c, &parts, &n) < 0)
        return 1;
    /* offsetSeq: a HashMap put in the file's order; a partition named twice
     * is an error, listed in the order of a HashSet of them */
    dr_part **v = arena_alloc(&c->ar, sizeof *v * (n ? n : 1));
    dr_part **dups = arena_alloc(&c->ar, sizeof *dups * (n ? n : 1));
    if (!v || !dups) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    size_t nv = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nv && !dr_same_tp(v[j], &parts[i]); j++)
            ;
        if (j == nv)
            v[nv++] = &parts[i];
    }
    /* offsetSeq's order decides the order of the duplicates' HashSet */
    dr_part **seq = arena_alloc(&c->ar, sizeof *seq * (nv ? nv : 1));
    if (!seq || (memcpy(seq, v, sizeof *seq * nv), dr_jhm_order(c, seq, nv, 16)) < 0) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    for (size_t j = 0; j < nv; j++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += dr_same_tp(seq[j], &parts[i]);
        if (count > 1)
            dups[nd++] = seq[j];
    }
    if (nd) {
        if (dr_jhm_order(c, dups, nd, 16) < 0) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        tj_buf b = { .cmd = CMD };
        for (size_t j = 0; j < nd; j++) {
            char num[24];
            if (j)
                tj_buf_str(&b, ",");
            tj_buf_add(&b, dups[j]->topic, dups[j]->topic_len);
            snprintf(num, sizeof num, "-%" PRId32, dups[j]->partition);
            tj_buf_str(&b, num);
        }
        tool_err(CMD, "Offset json file contains duplicate topic partitions: %s", b.p);
        free(b.p);
        return 1;
    }
    /* The results are printed in the file's order. Kafka's tool prints them
     * in the order of the admin client's result map, an immutable map
     * (Collectors.toUnmodifiableMap) whose iteration order is salted anew
     * in every JVM: it differs from run to run. */
    printf("Executing records delete operation\n");
    fflush(stdout);
    if (nv == 0) {
        printf("Records delete operation completed:\n");
        return 0;
    }
    int16_t ver = -1;
    if (tool_api_versions(&c->o, &c->av, &c->ar) < 0)
        return 1;
    if (tool_api_version(&c->av, KP_API_DELETE_RECORDS, &ver) < 0) {
        /* as Kafka's admin client: every partition fails with this */
        printf("Records delete operation completed:\n");
        for (size_t i = 0; i < nv; i++)
            printf("partition: %.*s-%" PRId32 "\terror: org.apache.kafka.common.errors."
                   "UnsupportedVersionException: The broker does not support DELETE_RECORDS\n",
                   (int)v[i]->topic_len, v[i]->topic, v[i]->partition);
        fflush(stdout);
        return 1;
    }
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        if (dr_round(c, v, nv, ver) < 0)
            return 1;
        bool pending = false;
        for (size_t i = 0; i < nv; i++)
            pending |= !v[i]->done;
        if (!pending || tool_stop || clock_mono_ms() + 200 > deadline)
            break;
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    printf("Records delete operation completed:\n");
    int rc = 0;
    for (size_t i = 0; i < nv; i++) {
        dr_part *p = v[i];
        printf("partition: %.*s-%" PRId32 "\t", (int)p->topic_len, p->topic, p->partition);
        if (p->done && !p->error && !p->error_text) {
            printf("low_watermark: %" PRId64 "\n", p->low_watermark);
            continue;
        }
        rc = 1;
        char buf[1024];
        if (p->error_text)
            printf("error: %s\n", p->error_text);
        else if (!p->done && !p->error)
            printf("error: org.apache.kafka.common.errors.TimeoutException: no answer within %d ms\n",
                   c->o.timeout_ms);
        else
            printf("error: %s\n", dr_exception(p->error, buf, sizeof buf));
    }
    fflush(stdout);
    return rc;
}

/* ---- arguments ---- */

static void dr_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor delete-records --bootstrap-server HOST:PORT --offset-json-file FILE\n"
        "Delete the records of the given partitions below the given offsets: each\n"
        "partition's log start offset (low watermark) moves up to its offset\n"
        "(kafka-delete-records.sh). FILE is Kafka's format:\n"
        "  {\"partitions\":\n"
        "    [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n"
        "   \"version\":1\n"
        "  }\n"
        "An offset of -1 means the high watermark (delete everything).\n"
        "Options:\n"
        "  --offset-json-file FILE       the partitions and offsets (required)\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         accepted for kafka-delete-records.sh; requests are plain\n"
        "  --timeout-ms N                bound on every wait, retries included (default 10000)\n"
        "  --help\n"
        "Output: Kafka's lines, one per partition: \"partition: T-P<TAB>low_watermark: N\" or\n"
        "\"partition: T-P<TAB>error: <exception>: <message>\". An unknown topic or partition\n"
        "is reported at once (Kafka's tool waits for its 60 s timeout).\n"
        "Exit status: 0 when every partition was done; 1 when one failed or on an error\n"
        "(a bad file: one line on stderr, Kafka's sentence); 2 on a usage error.\n"
        "Example:\n"
        "  gregor delete-records --bootstrap-server localhost:9092 --offset-json-file offsets.json\n");
}

int tool_delete_records_main(int argc, char **argv)
{
    dr_ctx c;
    memset(&c, 0, sizeof c);
    tool_opts_init(&c.o);
    tool_set_cmd(CMD);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int r = tool_opts_parse(&c.o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            dr_usage(stdout);
            return 0;
        }
        if (tool_opt_is(arg, "--offset-json-file")) {
            if (!(c.file = tool_arg_value(argc, argv, &i)))
                return 2;
            continue;
        }
        tool_err(CMD, "unknown option: %s (see --help)", arg);
        return 2;
    }
    if (!c.file) {
        tool_err(CMD, "Missing required argument \"[offset-json-file]\" (see --help)");
        return 2;
    }
    tool_install_signals();
    arena_init(&c.ar, DR_ARENA_MAX);
    int rc = dr_execute(&c);
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
