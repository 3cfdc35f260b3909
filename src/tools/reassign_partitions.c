/*
 * reassign_partitions.c - `gregor reassign-partitions`, the counterpart of
 * kafka-reassign-partitions.sh (org.apache.kafka.tools.reassign.
 * ReassignPartitionsCommand of Kafka 4.4), with Kafka's flags:
 *
 *   --generate --topics-to-move-json-file F --broker-list 1,2 [--disable-rack-aware]
 *   --execute  --reassignment-json-file F [--additional] [--throttle N]
 *              [--replica-alter-log-dirs-throttle N] [--timeout MS]
 *              [--disallow-replication-factor-change]
 *   --verify   --reassignment-json-file F [--preserve-throttles]
 *   --cancel   --reassignment-json-file F [--preserve-throttles] [--timeout MS]
 *   --list
 * each with --bootstrap-server H:P (or, for --cancel and --list,
 * --bootstrap-controller H:P) and [--command-config F].
 *
 * The requests go to the bootstrap broker, which forwards the reassignment
 * ones to the active controller: Metadata (API 3) where Kafka's admin client
 * describes topics or the cluster; DescribeLogDirs (API 35) to each broker
 * holding replicas, for the log directories Kafka 4.4 prints in a current
 * assignment; AlterPartitionReassignments (API 45; the highest version both
 * sides speak, as the admin client chooses: v1 with
 * allow_replication_factor_change true, or false for
 * --disallow-replication-factor-change, which a v0-only broker cannot
 * carry: Kafka's UnsupportedVersionException sentence), with null replicas
 * for --cancel; ListPartitionReassignments (API 46); IncrementalAlterConfigs
 * (API 44) for the throttles, a broker's configs to that broker.
 *
 * What is printed is Kafka 4.4's tool's, byte for byte: the JSON of
 * --generate and --execute (Jackson's compact form, partitions sorted by
 * topic and partition; "log_dirs" the replicas' directories in a current
 * assignment, "any" in a proposal), the status lines of --verify, the
 * "Clearing ... throttles" lines with Kafka's HashSet order of brokers and
 * topics (javaorder.h), --list's and --cancel's lines. A failure is Kafka's
 * "Error: <message>" on stdout (Kafka adds a stack trace), or the bare
 * sentence where Kafka throws its TerseException (an existing reassignment
 * without --additional, partitions the controller refused), exit status 1.
 * Flag errors are Kafka's sentences, in Kafka's order of checks, as one line
 * "gregor reassign-partitions: <sentence>" on stderr (Kafka prints the
 * sentence and its usage there), exit status 1.
 *
 * Where this differs from Kafka's tool:
 * - --generate's placement (Kafka 4.4's StripedReplicaPlacer) draws its
 *   random offsets with random(), not java.util.Random: its proposal is a
 *   different, equally valid one; Kafka's is random too.
 * - Throttles: Gregor does not throttle replication yet. The configs Kafka
 *   sets (leader/follower.replication.throttled.rate and
 *   replica.alter.log.dirs.io.max.bytes.per.second on brokers,
 *   leader/follower.replication.throttled.replicas on topics) are sent as
 *   Kafka sends them; when the broker refuses them (Gregor refuses dynamic
 *   broker configs and the throttled-replicas lists), a line on stderr says
 *   that throttling is not supported and the reassignment goes on
 *   unthrottled, where Kafka's tool fails. --verify and --cancel clear them
 *   the same way (Gregor takes those deletions).
 * - "log_dirs" other than "any" (moving replicas between log directories,
 *   AlterReplicaLogDirs) are refused with a sentence: not done yet.
 * - --command-config is read (a missing file is Kafka's error) but its
 *   properties are not applied: requests are plain. Every wait is bounded by
 *   30 s (Kafka's admin client's default API timeout is 60 s); a broker that
 *   cannot be reached is reported at once, where Kafka's client retries;
 *   throttle configs for a broker the cluster does not have fail at once
 *   with Kafka's TimeoutException sentence, which Kafka prints after 60 s.
 * - --help prints the usage on stdout with status 0 (Kafka: stderr, 1).
 * - Invalid JSON in a reassignment file is "Error: F is not valid JSON",
 *   where Kafka prints Jackson's message and location.
 * --generate is in reassign_generate.c, the log directories and the
 * throttles in reassign_configs.c; what the three files share, in
 * reassign.h. Main thread only.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/json.h"
#include "proto/kerrors.h"
#include "tools/reassign.h"
#include "tools/tools.h"

#define CMD RP_CMD
#define RP_ARENA_MAX (256u << 20)
#define RP_FILE_MAX (64u << 20)
#define RP_TIMEOUT_MS 30000
#define RP_BROKERS_MAX 100000
#define RP_TEXT_MAX 4096

/* Kafka's org.apache.kafka.common.errors.UnsupportedVersionException */
#define RP_UVE "org.apache.kafka.common.errors.UnsupportedVersionException: "

static const char RP_CANNOT_EXECUTE[] =
    "Cannot execute because there is an existing partition assignment.  Use --additional to "
    "override this and create a new partition assignment in addition to the existing one. The "
    "--additional flag can also be used to change the throttle by resubmitting the current "
    "reassignment.";
static const char RP_VERIFY_WARNING[] =
    "Warning: You must run --verify periodically, until the reassignment completes, to ensure "
    "the throttle is removed.";

/* ---- small helpers ---- */

void *rp_alloc(rp_ctx *c, size_t n)
{
    void *p = arena_alloc(&c->ar, n ? n : 1);
    if (!p) {
        tool_err(CMD, "out of memory");
        exit(1);
    }
    memset(p, 0, n ? n : 1);
    return p;
}

/* Kafka's main: "Error: " + the exception's message, on stdout; status 1. */
int rp_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("Error: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    return 1;
}

static bool rp_same_tp(const rp_tp *a, const rp_tp *b)
{
    return a->partition == b->partition && a->topic_len == b->topic_len &&
           memcmp(a->topic, b->topic, a->topic_len) == 0;
}

/* Kafka's compareTopicPartitions: String.compareTo (topic names are
 * ASCII, so bytes compare as UTF-16 units do), then the partition. */
static int rp_tp_cmp(const void *pa, const void *pb)
{
    const rp_tp *a = pa, *b = pb;
    size_t n = a->topic_len < b->topic_len ? a->topic_len : b->topic_len;
    int r = memcmp(a->topic, b->topic, n);
    if (r)
        return r;
    if (a->topic_len != b->topic_len)
        return a->topic_len < b->topic_len ? -1 : 1;
    return a->partition < b->partition ? -1 : a->partition > b->partition;
}

static void rp_sort(rp_tp *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, rp_tp_cmp);
}

/* v reordered as a `new HashSet<>()` / `new HashMap<>()` filled in v's
 * order iterates it (cap0 16), or a copy constructor's (jo_copy_table_size). */
static void rp_tp_java_order(rp_ctx *c, rp_tp *v, size_t n, size_t cap0)
{
    int32_t *hash = rp_alloc(c, sizeof *hash * n);
    for (size_t i = 0; i < n; i++)
        hash[i] = jo_tp_hash(v[i].topic, v[i].topic_len, v[i].partition);
    if (jo_put_reorder(v, sizeof *v, n, hash, cap0) < 0) {
        tool_err(CMD, "out of memory");
        exit(1);
    }
}

/* Integers reordered as a HashSet<Integer> filled in their order. */
void rp_int_java_order(int32_t *v, size_t n)
{
    if (jo_put_reorder(v, sizeof *v, n, v, 16) < 0) {
        tool_err(CMD, "out of memory");
        exit(1);
    }
}

/* The distinct values of v, first occurrences in order; returns the count. */
size_t rp_int_unique(int32_t *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < k && v[j] != v[i]; j++)
            ;
        if (j == k)
            v[k++] = v[i];
    }
    return k;
}

/* "1,2,3" (Collectors.joining(",")) or "[1, 2, 3]" (List.toString). */
void rp_buf_ints(tj_buf *b, const int32_t *v, size_t n, bool java_list)
{
    char num[16];
    if (java_list)
        tj_buf_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%s%" PRId32, i ? (java_list ? ", " : ",") : "", v[i]);
        tj_buf_str(b, num);
    }
    if (java_list)
        tj_buf_str(b, "]");
}

static void rp_buf_tp(tj_buf *b, const rp_tp *p)
{
    char num[16];
    tj_buf_add(b, p->topic, p->topic_len);
    snprintf(num, sizeof num, "-%" PRId32, p->partition);
    tj_buf_str(b, num);
}

/* Errors.forCode(code).exception(message).getMessage() */
static void rp_buf_exception_message(tj_buf *b, int16_t code, const char *msg, size_t msg_len)
{
    if (msg)
        tj_buf_add(b, msg, msg_len);
    else
        tj_buf_str(b, kerr_message(code));
}

/* ---- requests ---- */

int rp_versions(rp_ctx *c)
{
    if (c->av_done)
        return 0;
    if (tool_api_versions(&c->o, &c->av, &c->ar) < 0)
        return -1;
    c->av_done = true;
    return 0;
}

/* The version of api to use, or -1 after Kafka's "Error: ...
 * UnsupportedVersionException: The node does not support <API>". */
int rp_version(rp_ctx *c, int16_t api, const char *java_name, int16_t *ver)
{
    if (rp_versions(c) < 0)
        return -1;
    if (tool_api_version(&c->av, api, ver) < 0) {
        rp_fail(RP_UVE "The node does not support %s", java_name);
        return -1;
    }
    return 0;
}

static bool rp_retriable(int16_t code)
{
    return code == 5 || code == 7 || code == 8 || code == 13 || code == 14 || code == 15 || code == 41;
}

static void rp_pause(void)
{
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

/* Metadata for the n topics (none: the brokers only), asked again while a
 * topic's error is retriable, within the timeout. 0, or -1 after a message. */
int rp_metadata(rp_ctx *c, const char *const *names, const size_t *lens, size_t n,
                       kp_metadata_resp *md)
{
    int16_t ver;
    if (rp_version(c, KP_API_METADATA, "METADATA", &ver) < 0)
        return -1;
    kp_metadata_req req;
    kp_metadata_req_init(&req);
    req.allow_auto_topic_creation = false;
    req.topics = rp_alloc(c, sizeof *req.topics * n);
    req.topics_n = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        kp_metadata_req_topic_init(&req.topics[i]);
        req.topics[i].name.ptr = names[i];
        req.topics[i].name.len = (int32_t)lens[i];
    }
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        char err[512];
        if (tool_raw_request(&c->o, KP_API_METADATA, ver, &req, md, &c->ar, err, sizeof err) < 0) {
            tool_err(CMD, "Metadata: %s", err);
            return -1;
        }
        bool again = false;
        for (int32_t t = 0; t < md->topics_n; t++)
            again |= rp_retriable(md->topics[t].error_code);
        if (!again || tool_stop || clock_mono_ms() + 200 > deadline)
            return 0;
        rp_pause();
    }
}

const kp_metadata_resp_topic *rp_md_topic(const kp_metadata_resp *md, const char *name, size_t len)
{
    for (int32_t t = 0; t < md->topics_n; t++)
        if ((size_t)md->topics[t].name.len == len && memcmp(md->topics[t].name.ptr, name, len) == 0)
            return &md->topics[t];
    return NULL;
}

const kp_metadata_resp_partition *rp_md_partition(const kp_metadata_resp_topic *t, int32_t p)
{
    for (int32_t k = 0; k < t->partitions_n; k++)
        if (t->partitions[k].partition_index == p)
            return &t->partitions[k];
    return NULL;
}

/* Kafka's describeTopics: an unknown topic is "Topic X not found.", other
 * errors their exception. 0 when every topic of md is usable. */
int rp_topic_error(const kp_metadata_resp_topic *t, const char *name, size_t len)
{
    if (!t || t->error_code == 3)
        return rp_fail("org.apache.kafka.common.errors.UnknownTopicOrPartitionException: Topic %.*s not found.",
                       (int)len, name);
    if (t->error_code) {
        char buf[RP_TEXT_MAX];
        kerr_exception(t->error_code, NULL, 0, buf, sizeof buf);
        return rp_fail("%s", buf);
    }
    return 0;
}

/* The cluster's broker ids, in the answer's order. */
int rp_broker_ids(rp_ctx *c, int32_t **ids, size_t *n, kp_metadata_resp *md)
{
    if (rp_metadata(c, NULL, NULL, 0, md) < 0)
        return -1;
    *n = (size_t)(md->brokers_n > 0 ? md->brokers_n : 0);
    *ids = rp_alloc(c, sizeof **ids * (*n + 1));
    for (size_t i = 0; i < *n; i++)
        (*ids)[i] = md->brokers[i].node_id;
    return 0;
}

/* Requests carry partitions grouped by topic: group[i] is the index of
 * parts[i]'s topic among the distinct topics, in order of first
 * appearance (arena). Returns how many topics. */
static int32_t rp_topic_groups(rp_ctx *c, const rp_tp *parts, size_t n, int32_t **group)
{
    *group = rp_alloc(c, sizeof **group * (n + 1));
    int32_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < i && !(parts[k].topic_len == parts[i].topic_len &&
                          memcmp(parts[k].topic, parts[i].topic, parts[i].topic_len) == 0))
            k++;
        (*group)[i] = k < i ? (*group)[k] : ng++;
    }
    return ng;
}

/* ListPartitionReassignments: every one (parts NULL) or those of parts. */
static int rp_list(rp_ctx *c, const rp_tp *parts, size_t n, kp_list_partition_reassignments_resp *resp)
{
    int16_t ver;
    if (rp_version(c, KP_API_LIST_PARTITION_REASSIGNMENTS, "LIST_PARTITION_REASSIGNMENTS", &ver) < 0)
        return -1;
    kp_list_partition_reassignments_req req;
    kp_list_partition_reassignments_req_init(&req);
    req.timeout_ms = c->o.timeout_ms;
    if (!parts) {
        req.topics = NULL;
        req.topics_n = -1;
    } else {
        int32_t *group;
        req.topics = rp_alloc(c, sizeof *req.topics * (n + 1));
        req.topics_n = rp_topic_groups(c, parts, n, &group);
        for (size_t i = 0; i < n; i++) {
            kp_list_partition_reassignments_req_topic *t = &req.topics[group[i]];
            if (!t->partition_indexes) {
                kp_list_partition_reassignments_req_topic_init(t);
                t->name.ptr = parts[i].topic;
                t->name.len = (int32_t)parts[i].topic_len;
                t->partition_indexes = rp_alloc(c, sizeof *t->partition_indexes * n);
            }
            t->partition_indexes[t->partition_indexes_n++] = parts[i].partition;
        }
    }
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        char err[512];
        if (tool_raw_request(&c->o, KP_API_LIST_PARTITION_REASSIGNMENTS, ver, &req, resp, &c->ar, err,
                             sizeof err) < 0) {
            tool_err(CMD, "ListPartitionReassignments: %s", err);
            return -1;
        }
        if (!rp_retriable(resp->error_code) || tool_stop || clock_mono_ms() + 200 > deadline)
            break;
        rp_pause();
    }
    if (resp->error_code) {
        char buf[RP_TEXT_MAX];
        kerr_exception(resp->error_code, resp->error_message.len >= 0 ? resp->error_message.ptr : NULL,
                             resp->error_message.len > 0 ? (size_t)resp->error_message.len : 0, buf, sizeof buf);
        rp_fail("%s", buf);
        return -1;
    }
    return 0;
}

static size_t rp_list_count(const kp_list_partition_reassignments_resp *r)
{
    size_t n = 0;
    for (int32_t t = 0; t < r->topics_n; t++)
        n += (size_t)(r->topics[t].partitions_n > 0 ? r->topics[t].partitions_n : 0);
    return n;
}

const kp_list_partition_reassignments_resp_partition *
rp_list_find(const kp_list_partition_reassignments_resp *r, const rp_tp *p)
{
    for (int32_t t = 0; t < r->topics_n; t++) {
        const kp_list_partition_reassignments_resp_topic *rt = &r->topics[t];
        if ((size_t)rt->name.len != p->topic_len || memcmp(rt->name.ptr, p->topic, p->topic_len) != 0)
            continue;
        for (int32_t k = 0; k < rt->partitions_n; k++)
            if (rt->partitions[k].partition_index == p->partition)
                return &rt->partitions[k];
    }
    return NULL;
}

/* AlterPartitionReassignments of parts (cancel: null replicas); each
 * part's error and message filled from the answer. 0, or -1 after a
 * message. */
static int rp_alter(rp_ctx *c, rp_tp *parts, size_t n, bool cancel, bool disallow_rf_change)
{
    int16_t ver;
    if (rp_version(c, KP_API_ALTER_PARTITION_REASSIGNMENTS, "ALTER_PARTITION_REASSIGNMENTS", &ver) < 0)
        return -1;
    if (disallow_rf_change && ver < 1) {
        rp_fail(RP_UVE "The broker does not support the AllowReplicationFactorChange option for the "
                "AlterPartitionReassignments API. Consider re-sending the request without the option or "
                "updating the server version");
        return -1;
    }
    kp_alter_partition_reassignments_req req;
    kp_alter_partition_reassignments_req_init(&req);
    req.timeout_ms = c->o.timeout_ms;
    req.allow_replication_factor_change = !disallow_rf_change;
    int32_t *group;
    req.topics = rp_alloc(c, sizeof *req.topics * (n + 1));
    req.topics_n = rp_topic_groups(c, parts, n, &group);
    for (size_t i = 0; i < n; i++) {
        kp_alter_partition_reassignments_req_topic *t = &req.topics[group[i]];
        if (!t->partitions) {
            kp_alter_partition_reassignments_req_topic_init(t);
            t->name.ptr = parts[i].topic;
            t->name.len = (int32_t)parts[i].topic_len;
            t->partitions = rp_alloc(c, sizeof *t->partitions * n);
        }
        kp_alter_partition_reassignments_req_partition *p = &t->partitions[t->partitions_n++];
        kp_alter_partition_reassignments_req_partition_init(p);
        p->partition_index = parts[i].partition;
        if (cancel) {
            p->replicas = NULL;
            p->replicas_n = -1;
        } else {
            p->replicas = parts[i].replicas;
            p->replicas_n = (int32_t)parts[i].replicas_n;
        }
    }
    kp_alter_partition_reassignments_resp resp;
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        char err[512];
        if (tool_raw_request(&c->o, KP_API_ALTER_PARTITION_REASSIGNMENTS, ver, &req, &resp, &c->ar, err,
                             sizeof err) < 0) {
            tool_err(CMD, "AlterPartitionReassignments: %s", err);
            return -1;
        }
        if (!rp_retriable(resp.error_code) || tool_stop || clock_mono_ms() + 200 > deadline)
            break;
        rp_pause();
    }
    for (size_t i = 0; i < n; i++) {
        rp_tp *p = &parts[i];
        p->error = resp.error_code;
        p->message = resp.error_message.len >= 0 ? resp.error_message.ptr : NULL;
        p->message_len = resp.error_message.len > 0 ? (size_t)resp.error_message.len : 0;
        if (resp.error_code)
            continue; /* the admin client fails every partition with the top-level error */
        bool found = false;
        for (int32_t t = 0; t < resp.responses_n && !found; t++) {
            const kp_alter_partition_reassignments_resp_topic *rt = &resp.responses[t];
            if ((size_t)rt->name.len != p->topic_len || memcmp(rt->name.ptr, p->topic, p->topic_len) != 0)
                continue;
            for (int32_t k = 0; k < rt->partitions_n && !found; k++) {
                const kp_alter_partition_reassignments_resp_partition *rp = &rt->partitions[k];
                if (rp->partition_index != p->partition)
                    continue;
                found = true;
                p->error = rp->error_code;
                p->message = rp->error_message.len >= 0 ? rp->error_message.ptr : NULL;
                p->message_len = rp->error_message.len > 0 ? (size_t)rp->error_message.len : 0;
            }
        }
        if (!found) {
            p->error = -1;
            p->message = "The controller response did not contain a result for this partition.";
            p->message_len = strlen(p->message);
        }
    }
    return 0;
}

/* ---- the JSON files ---- */

/* "Error: <what><node as Jackson prints it>" */
int rp_fail_node(const char *what, const tj_json *j)
{
    tj_buf b = { .cmd = CMD };
    tj_buf_str(&b, what);
    tj_buf_node(&b, j);
    rp_fail("%s", b.p);
    free(b.p);
    return -1;
}

const tj_json *rp_read_json(rp_ctx *c, const char *path, int *invalid)
{
    size_t len;
    int open_errno;
    *invalid = RP_JSON_OK;
    char *text = tj_read_file(&c->ar, path, RP_FILE_MAX, &len, &open_errno);
    if (!text) {
        rp_fail("Unable to read file %s", path); /* Kafka's Utils.readFileAsString */
        return NULL;
    }
    bool oom;
    const tj_json *js = tj_parse(&c->ar, text, len, &oom);
    if (oom) {
        tool_err(CMD, "out of memory");
        return NULL;
    }
    if (!js)
        *invalid = len == 0 ? RP_JSON_EMPTY : strspn(text, " \t\r\n") == len ? RP_JSON_MISSING : RP_JSON_INVALID;
    return js;
}

/* The "version" field: absent is 1; 0, or -1 after Kafka's sentence. */
int rp_json_version(const tj_json *js)
{
    if (js->type != TJ_OBJ)
        return rp_fail_node("Expected JSON object, received ", js);
    const tj_json *v = tj_get(js, "version");
    if (v && v->type != TJ_INT)
        return rp_fail_node("Expected `Integer` value, received ", v);
    if (v && v->i != 1) {
        rp_fail("Not supported version field value %" PRId64, v->i);
        return -1;
    }
    return 0;
}

/* Kafka's parsePartitionReassignmentData: the partitions in file order
 * (duplicates kept). 0, or -1 after Kafka's sentence. */
static int rp_parse_reassignment(rp_ctx *c, const char *path, rp_tp **out, size_t *out_n)
{
    int invalid;
    const tj_json *js = rp_read_json(c, path, &invalid);
    if (!js) {
        /* Kafka: Json.tryParseFull's exception's message (Jackson's own
         * words and location, not reproduced for invalid JSON), or Jackson's
         * MissingNode of a blank text */
        if (invalid == RP_JSON_EMPTY)
            rp_fail("The input string shouldn't be empty");
        else if (invalid == RP_JSON_MISSING)
            rp_fail("Expected JSON object, received ");
        else if (invalid == RP_JSON_INVALID)
            rp_fail("%s is not valid JSON", path);
        return -1;
    }
    if (rp_json_version(js) < 0)
        return -1;
    const tj_json *parts = tj_get(js, "partitions");
    *out_n = 0;
    *out = rp_alloc(c, sizeof **out);
    if (!parts)
        return 0;
    if (parts->type != TJ_ARR)
        return rp_fail_node("Expected JSON array, received ", parts);
    rp_tp *v = rp_alloc(c, sizeof *v * parts->n);
    for (size_t k = 0; k < parts->n; k++) {
        const tj_json *e = parts->items[k];
        if (e->type != TJ_OBJ)
            return rp_fail_node("Expected JSON object, received ", e);
        static const char *const fields[] = { "topic", "partition", "replicas" };
        const tj_json *f[3];
        for (int i = 0; i < 3; i++) {
            f[i] = tj_get(e, fields[i]);
            if (!f[i]) {
                rp_fail("No such field exists: `%s`", fields[i]);
                return -1;
            }
            if (i == 0 && f[0]->type != TJ_STR)
                return rp_fail_node("Expected `String` value, received ", f[0]);
            if (i == 1 && f[1]->type != TJ_INT)
                return rp_fail_node("Expected `Integer` value, received ", f[1]);
        }
        if (f[2]->type != TJ_ARR)
            return rp_fail_node("Expected `JSON array` value, received ", f[2]);
        v[k].topic = f[0]->s;
        v[k].topic_len = f[0]->slen;
        v[k].partition = (int32_t)f[1]->i;
        v[k].replicas_n = f[2]->n;
        v[k].replicas = rp_alloc(c, sizeof *v[k].replicas * f[2]->n);
        for (size_t r = 0; r < f[2]->n; r++) {
            if (f[2]->items[r]->type != TJ_INT)
                return rp_fail_node("Expected `Integer` value, received ", f[2]->items[r]);
            v[k].replicas[r] = (int32_t)f[2]->items[r]->i;
        }
        const tj_json *dirs = tj_get(e, "log_dirs");
        if (!dirs)
            continue;
        if (dirs->type != TJ_ARR)
            return rp_fail_node("Expected `JSON array` value, received ", dirs);
        bool moves = false;
        for (size_t r = 0; r < dirs->n; r++) {
            if (dirs->items[r]->type != TJ_STR)
                return rp_fail_node("Expected `String` value, received ", dirs->items[r]);
            moves |= strcmp(dirs->items[r]->s, "any") != 0;
        }
        if (dirs->n != f[2]->n) {
            tj_buf b = { .cmd = CMD };
            tj_buf_str(&b, "Size of replicas list ");
            rp_buf_ints(&b, v[k].replicas, v[k].replicas_n, true);
            tj_buf_str(&b, " is different from size of log dirs list [");
            for (size_t r = 0; r < dirs->n; r++) {
                if (r)
                    tj_buf_str(&b, ", ");
                tj_buf_add(&b, dirs->items[r]->s, dirs->items[r]->slen);
            }
            tj_buf_str(&b, "] for partition ");
            rp_buf_tp(&b, &v[k]);
            rp_fail("%s", b.p);
            free(b.p);
            return -1;
        }
        if (moves) {
            rp_fail("moving replicas between log directories (\"log_dirs\" other than \"any\") is not "
                    "supported by gregor reassign-partitions yet");
            return -1;
        }
    }
    *out = v;
    *out_n = parts->n;
    return 0;
}

/* Kafka's parseExecuteAssignmentArgs checks. 0, or -1 after the sentence. */
static int rp_check_execute(rp_ctx *c, rp_tp *v, size_t n)
{
    if (!n)
        return rp_fail("Partition reassignment list cannot be empty"), -1;
    for (size_t i = 0; i < n; i++)
        if (!v[i].replicas_n)
            return rp_fail("Partition replica list cannot be empty"), -1;
    /* ToolsUtils.duplicates: a HashSet of what was seen twice */
    rp_tp *dups = rp_alloc(c, sizeof *dups * n);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        bool earlier = false, listed = false;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = rp_same_tp(&v[i], &v[j]);
        for (size_t j = 0; j < nd && !listed; j++)
            listed = rp_same_tp(&v[i], &dups[j]);
        if (earlier && !listed)
            dups[nd++] = v[i];
    }
    if (nd) {
        rp_tp_java_order(c, dups, nd, 16);
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "Partition reassignment contains duplicate topic partitions: ");
        for (size_t i = 0; i < nd; i++) {
            if (i)
                tj_buf_str(&b, ",");
            rp_buf_tp(&b, &dups[i]);
        }
        rp_fail("%s", b.p);
        free(b.p);
        return -1;
    }
    tj_buf b = { .cmd = CMD };
    tj_buf_str(&b, "Partition replica lists may not contain duplicate entries: ");
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        int32_t *d = rp_alloc(c, sizeof *d * v[i].replicas_n);
        size_t k = 0;
        for (size_t r = 0; r < v[i].replicas_n; r++) {
            bool earlier = false;
            for (size_t j = 0; j < r && !earlier; j++)
                earlier = v[i].replicas[j] == v[i].replicas[r];
            if (earlier)
                d[k++] = v[i].replicas[r];
        }
        k = rp_int_unique(d, k);
        if (!k)
            continue;
        rp_int_java_order(d, k);
        if (any)
            tj_buf_str(&b, ". ");
        any = true;
        rp_buf_tp(&b, &v[i]);
        tj_buf_str(&b, " contains multiple entries for ");
        rp_buf_ints(&b, d, k, false);
    }
    if (any)
        rp_fail("%s", b.p);
    free(b.p);
    return any ? -1 : 0;
}

/* Jackson's form of Kafka's formatAsReassignmentJson; v sorted here. */
void rp_print_json(rp_tp *v, size_t n)
{
    rp_sort(v, n);
    tj_buf b = { .cmd = CMD };
    tj_buf_str(&b, "{\"version\":1,\"partitions\":[");
    for (size_t i = 0; i < n; i++) {
        char num[32];
        tj_buf_str(&b, i ? ",{\"topic\":" : "{\"topic\":");
        tj_buf_json_str(&b, v[i].topic, v[i].topic_len);
        snprintf(num, sizeof num, ",\"partition\":%" PRId32 ",\"replicas\":[", v[i].partition);
        tj_buf_str(&b, num);
        rp_buf_ints(&b, v[i].replicas, v[i].replicas_n, false);
        tj_buf_str(&b, "],\"log_dirs\":[");
        for (size_t r = 0; r < v[i].replicas_n; r++) {
            if (r)
                tj_buf_str(&b, ",");
            if (v[i].dirs && v[i].dirs[r])
                tj_buf_json_str(&b, v[i].dirs[r], v[i].dir_lens[r]);
            else
                tj_buf_str(&b, "\"any\"");
        }
        tj_buf_str(&b, "]}");
    }
    tj_buf_str(&b, "]}");
    fputs(b.p, stdout);
    free(b.p);
}

/* ---- --execute ---- */

/* The current replicas of each partition of v (Kafka's
 * getReplicaAssignmentForPartitions), into v[i].current. */
static int rp_current(rp_ctx *c, rp_tp *v, size_t n)
{
    const char **names = rp_alloc(c, sizeof *names * n);
    size_t *lens = rp_alloc(c, sizeof *lens * n), nt = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nt; j++)
            if (lens[j] == v[i].topic_len && memcmp(names[j], v[i].topic, lens[j]) == 0)
                break;
        if (j == nt) {
            names[nt] = v[i].topic;
            lens[nt++] = v[i].topic_len;
        }
    }
    kp_metadata_resp md;
    if (rp_metadata(c, names, lens, nt, &md) < 0)
        return -1;
    for (size_t i = 0; i < nt; i++)
        if (rp_topic_error(rp_md_topic(&md, names[i], lens[i]), names[i], lens[i]))
            return -1;
    rp_tp *missing = rp_alloc(c, sizeof *missing * n);
    size_t nm = 0;
    for (size_t i = 0; i < n; i++) {
        const kp_metadata_resp_partition *p = rp_md_partition(rp_md_topic(&md, v[i].topic, v[i].topic_len),
                                                              v[i].partition);
        if (!p) {
            missing[nm++] = v[i];
            continue;
        }
        v[i].current = p->replica_nodes;
        v[i].current_n = (size_t)(p->replica_nodes_n > 0 ? p->replica_nodes_n : 0);
    }
    if (nm) {
        /* a HashSet copied from the partitions' HashMap key set */
        rp_tp_java_order(c, missing, nm, 16);
        rp_tp_java_order(c, missing, nm, jo_copy_table_size(n));
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: Unable to find partition: ");
        for (size_t i = 0; i < nm; i++) {
            if (i)
                tj_buf_str(&b, ",");
            rp_buf_tp(&b, &missing[i]);
        }
        rp_fail("%s", b.p);
        free(b.p);
        return -1;
    }
    return 0;
}

static int rp_execute(rp_ctx *c, const char *path, bool additional, int64_t inter_broker, int64_t log_dir,
                      bool disallow_rf_change)
{
    rp_tp *v;
    size_t n;
    if (rp_parse_reassignment(c, path, &v, &n) < 0 || rp_check_execute(c, v, n) < 0)
        return 1;
    kp_list_partition_reassignments_resp cur;
    if (rp_list(c, NULL, 0, &cur) < 0)
        return 1;
    if (!additional && rp_list_count(&cur)) {
        printf("%s\n", RP_CANNOT_EXECUTE);
        fflush(stdout);
        return 1;
    }
    /* the proposal is a HashMap: its order decides which unknown broker
     * is named, and the order of the requests */
    rp_tp_java_order(c, v, n, 16);
    kp_metadata_resp md;
    int32_t *ids;
    size_t nids;
    if (rp_broker_ids(c, &ids, &nids, &md) < 0)
        return 1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].replicas_n;
    int32_t *b = rp_alloc(c, sizeof *b * total);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < v[i].replicas_n; r++)
            b[nb++] = v[i].replicas[r];
    nb = rp_int_unique(b, nb);
    rp_int_java_order(b, nb);
    for (size_t i = 0; i < nb; i++) {
        bool known = false;
        for (size_t j = 0; j < nids && !known; j++)
            known = ids[j] == b[i];
        if (!known)
            return rp_fail("Unknown broker id %" PRId32, b[i]);
    }
    if (rp_current(c, v, n) < 0)
        return 1;
    rp_tp *now = rp_alloc(c, sizeof *now * n);
    for (size_t i = 0; i < n; i++) {
        now[i] = v[i];
        now[i].replicas = v[i].current;
        now[i].replicas_n = v[i].current_n;
    }
    if (rp_log_dirs(c, &md, now, n) < 0)
        return 1;
    printf("Current partition replica assignment\n\n");
    rp_print_json(now, n);
    printf("\n\nSave this to use as the --reassignment-json-file option during rollback\n");
    fflush(stdout);
    if (inter_broker >= 0 || log_dir >= 0) {
        printf("%s\n", RP_VERIFY_WARNING);
        fflush(stdout);
        if (rp_set_throttles(c, &cur, v, n, inter_broker, log_dir) < 0)
            return 1;
    }
    if (rp_alter(c, v, n, false, disallow_rf_change) < 0)
        return 1;
    rp_sort(v, n);
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++)
        nerr += v[i].error != 0;
    if (nerr) {
        tj_buf e = { .cmd = CMD };
        tj_buf_str(&e, "Error reassigning partition(s):");
        for (size_t i = 0; i < n; i++) {
            if (!v[i].error)
                continue;
            tj_buf_str(&e, "\n");
            rp_buf_tp(&e, &v[i]);
            tj_buf_str(&e, ": ");
            rp_buf_exception_message(&e, v[i].error, v[i].message, v[i].message_len);
        }
        printf("%s\n", e.p);
        free(e.p);
        fflush(stdout);
        return 1;
    }
    tj_buf line = { .cmd = CMD };
    for (size_t i = 0; i < n; i++) {
        if (i)
            tj_buf_str(&line, ",");
        rp_buf_tp(&line, &v[i]);
    }
    printf("Successfully started partition reassignment%s for %s\n", n == 1 ? "" : "s", line.p);
    free(line.p);
    fflush(stdout);
    return 0;
}

/* ---- --verify ---- */

static int rp_verify(rp_ctx *c, const char *path, bool preserve_throttles)
{
    rp_tp *v;
    size_t n;
    if (rp_parse_reassignment(c, path, &v, &n) < 0)
        return 1;
    kp_list_partition_reassignments_resp cur;
    if (rp_list(c, NULL, 0, &cur) < 0)
        return 1;
    /* the topics of the partitions not being reassigned */
    const char **names = rp_alloc(c, sizeof *names * n);
    size_t *lens = rp_alloc(c, sizeof *lens * n), nt = 0;
    for (size_t i = 0; i < n; i++) {
        const kp_list_partition_reassignments_resp_partition *r = rp_list_find(&cur, &v[i]);
        if (r) {
            v[i].current = r->replicas;
            v[i].current_n = (size_t)(r->replicas_n > 0 ? r->replicas_n : 0);
            v[i].done = false;
            continue;
        }
        v[i].done = true;
        size_t j;
        for (j = 0; j < nt; j++)
            if (lens[j] == v[i].topic_len && memcmp(names[j], v[i].topic, lens[j]) == 0)
                break;
        if (j == nt) {
            names[nt] = v[i].topic;
            lens[nt++] = v[i].topic_len;
        }
    }
    kp_metadata_resp md;
    if (nt && rp_metadata(c, names, lens, nt, &md) < 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].done)
            continue;
        const kp_metadata_resp_topic *t = rp_md_topic(&md, v[i].topic, v[i].topic_len);
        if (!t || t->error_code == 3)
            continue; /* an unknown topic: no replicas */
        if (rp_topic_error(t, v[i].topic, v[i].topic_len))
            return 1;
        /* Kafka indexes the sorted partition list by the partition number */
        int32_t np = t->partitions_n;
        if (v[i].partition < 0 || v[i].partition > np)
            continue; /* "Too few partitions found": no replicas */
        if (v[i].partition == np)
            return rp_fail("Index %" PRId32 " out of bounds for length %" PRId32, np, np);
        const kp_metadata_resp_partition *p = rp_md_partition(t, v[i].partition);
        if (p) {
            v[i].current = p->replica_nodes;
            v[i].current_n = (size_t)(p->replica_nodes_n > 0 ? p->replica_nodes_n : 0);
        }
    }
    /* a HashMap: a partition given twice keeps its last state */
    rp_tp *u = rp_alloc(c, sizeof *u * n);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nu && !rp_same_tp(&u[j], &v[i]); j++)
            ;
        u[j] = v[i];
        if (j == nu)
            nu++;
    }
    rp_sort(u, nu);
    printf("Status of partition reassignment:");
    for (size_t i = 0; i < nu; i++) {
        printf("\n");
        bool same = u[i].current_n == u[i].replicas_n &&
                    (!u[i].current_n || memcmp(u[i].current, u[i].replicas, sizeof *u[i].current * u[i].current_n) == 0);
        if (!u[i].done) {
            printf("Reassignment of partition %.*s-%" PRId32 " is still in progress.", (int)u[i].topic_len,
                   u[i].topic, u[i].partition);
        } else if (same) {
            printf("Reassignment of partition %.*s-%" PRId32 " is completed.", (int)u[i].topic_len, u[i].topic,
                   u[i].partition);
        } else {
            tj_buf a = { .cmd = CMD }, t = { .cmd = CMD };
            tj_buf_str(&a, "");
            tj_buf_str(&t, "");
            rp_buf_ints(&a, u[i].current, u[i].current_n, false);
            rp_buf_ints(&t, u[i].replicas, u[i].replicas_n, false);
            printf("There is no active reassignment of partition %.*s-%" PRId32 ", but replica set is %s rather "
                   "than %s.", (int)u[i].topic_len, u[i].topic, u[i].partition, a.p, t.p);
            free(a.p);
            free(t.p);
        }
    }
    /* then Kafka's (empty) list of log directory moves, on a line */
    printf("\n\n");
    fflush(stdout);
    if (!rp_list_count(&cur) && !preserve_throttles && rp_clear_throttles(c, v, n) < 0)
        return 1;
    return 0;
}

/* ---- --cancel and --list ---- */

static int rp_cancel(rp_ctx *c, const char *path, bool preserve_throttles)
{
    rp_tp *v;
    size_t n;
    if (rp_parse_reassignment(c, path, &v, &n) < 0)
        return 1;
    /* a HashSet of the partitions, asked for in its order */
    rp_tp *set = rp_alloc(c, sizeof *set * n);
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < ns && !rp_same_tp(&set[j], &v[i]); j++)
            ;
        if (j == ns)
            set[ns++] = v[i];
    }
    rp_tp_java_order(c, set, ns, 16);
    kp_list_partition_reassignments_resp cur;
    if (rp_list(c, set, ns, &cur) < 0)
        return 1;
    rp_tp *act = rp_alloc(c, sizeof *act * (rp_list_count(&cur) + 1));
    size_t na = 0;
    for (int32_t t = 0; t < cur.topics_n; t++)
        for (int32_t k = 0; k < cur.topics[t].partitions_n; k++) {
            const kp_list_partition_reassignments_resp_partition *p = &cur.topics[t].partitions[k];
            if (p->adding_replicas_n > 0 && p->removing_replicas_n <= 0)
                continue; /* Kafka's condition, as it is */
            act[na].topic = cur.topics[t].name.ptr;
            act[na].topic_len = (size_t)cur.topics[t].name.len;
            act[na].partition = p->partition_index;
            na++;
        }
    if (na) {
        if (rp_alter(c, act, na, true, false) < 0)
            return 1;
        rp_sort(act, na);
        size_t nerr = 0;
        for (size_t i = 0; i < na; i++)
            nerr += act[i].error != 0;
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "");
        for (size_t i = 0; i < na; i++) {
            if (nerr && !act[i].error)
                continue;
            if (nerr) {
                tj_buf_str(&b, "\n");
                rp_buf_tp(&b, &act[i]);
                tj_buf_str(&b, ": ");
                rp_buf_exception_message(&b, act[i].error, act[i].message, act[i].message_len);
            } else {
                if (i)
                    tj_buf_str(&b, ",");
                rp_buf_tp(&b, &act[i]);
            }
        }
        if (nerr) {
            printf("Error cancelling partition reassignment%s for:%s\n", nerr == 1 ? "" : "s", b.p);
            free(b.p);
            fflush(stdout);
            return 1;
        }
        printf("Successfully cancelled partition reassignment%s for: %s\n", na == 1 ? "" : "s", b.p);
        free(b.p);
    } else {
        printf("None of the specified partition reassignments are active.\n");
    }
    printf("None of the specified partition moves are active."); /* Kafka's print, no newline */
    fflush(stdout);
    if (!preserve_throttles && rp_clear_throttles(c, v, n) < 0)
        return 1;
    return 0;
}

static int rp_list_main(rp_ctx *c)
{
    kp_list_partition_reassignments_resp cur;
    if (rp_list(c, NULL, 0, &cur) < 0)
        return 1;
    size_t n = rp_list_count(&cur), k = 0;
    if (!n) {
        printf("No partition reassignments found.\n");
        fflush(stdout);
        return 0;
    }
    rp_tp *v = rp_alloc(c, sizeof *v * n);
    const kp_list_partition_reassignments_resp_partition **src = rp_alloc(c, sizeof *src * n);
    for (int32_t t = 0; t < cur.topics_n; t++)
        for (int32_t p = 0; p < cur.topics[t].partitions_n; p++) {
            v[k].topic = cur.topics[t].name.ptr;
            v[k].topic_len = (size_t)cur.topics[t].name.len;
            v[k].partition = cur.topics[t].partitions[p].partition_index;
            v[k].idx = k; /* through the sort */
            src[k] = &cur.topics[t].partitions[p];
            k++;
        }
    rp_sort(v, n);
    printf("Current partition reassignments:");
    for (size_t i = 0; i < n; i++) {
        const kp_list_partition_reassignments_resp_partition *p = src[v[i].idx];
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "");
        rp_buf_ints(&b, p->replicas, (size_t)(p->replicas_n > 0 ? p->replicas_n : 0), false);
        printf("\n%.*s-%" PRId32 ": replicas: %s.", (int)v[i].topic_len, v[i].topic, v[i].partition, b.p);
        free(b.p);
        if (p->adding_replicas_n > 0) {
            b = (tj_buf){ .cmd = CMD };
            rp_buf_ints(&b, p->adding_replicas, (size_t)p->adding_replicas_n, false);
            printf(" adding: %s.", b.p);
            free(b.p);
        }
        if (p->removing_replicas_n > 0) {
            b = (tj_buf){ .cmd = CMD };
            rp_buf_ints(&b, p->removing_replicas, (size_t)p->removing_replicas_n, false);
            printf(" removing: %s.", b.p);
            free(b.p);
        }
    }
    printf("\n");
    fflush(stdout);
    return 0;
}

/* ---- arguments ---- */

static void rp_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor reassign-partitions --bootstrap-server HOST:PORT ACTION [options]\n"
        "Move partitions between brokers (kafka-reassign-partitions.sh). Exactly one action:\n"
        "  --generate --topics-to-move-json-file F --broker-list 1,2,3 [--disable-rack-aware]\n"
        "      print the current assignment of F's topics and a proposed one over the\n"
        "      brokers listed (Kafka's rack-aware round robin, from a random start)\n"
        "  --execute --reassignment-json-file F [--additional] [--throttle B/S]\n"
        "      [--replica-alter-log-dirs-throttle B/S] [--timeout MS]\n"
        "      [--disallow-replication-factor-change]\n"
        "      start the reassignment of F (prints the current assignment, for rollback)\n"
        "  --verify --reassignment-json-file F [--preserve-throttles]\n"
        "      whether F's reassignments are complete; then clear the throttles\n"
        "  --cancel --reassignment-json-file F [--preserve-throttles] [--timeout MS]\n"
        "      cancel F's reassignments that are under way\n"
        "  --list\n"
        "      every reassignment under way\n"
        "Other options:\n"
        "  --bootstrap-server HOST:PORT   the broker to ask (it forwards to the controller)\n"
        "  --bootstrap-controller H:P     instead, for --cancel and --list\n"
        "  --command-config FILE          accepted for Kafka's tool; requests are plain\n"
        "  --help, --version\n"
        "F for --execute/--verify/--cancel is Kafka's format (\"log_dirs\" optional, \"any\" only):\n"
        "  {\"version\":1,\"partitions\":[{\"topic\":\"foo\",\"partition\":1,\"replicas\":[1,2,3]}]}\n"
        "F for --generate: {\"version\":1,\"topics\":[{\"topic\":\"foo\"},{\"topic\":\"foo1\"}]}\n"
        "Gregor does not throttle replication yet: the throttle configs are sent as Kafka\n"
        "sends them, and when the broker refuses them a line on stderr says so.\n"
        "Output: Kafka's tool's. Exit status 0 on success, 1 on any error (\"Error: ...\" on\n"
        "stdout as Kafka's tool; a bad flag: one line on stderr).\n"
        "Example:\n"
        "  gregor reassign-partitions --bootstrap-server localhost:9092 --execute \\\n"
        "      --reassignment-json-file plan.json\n");
}

static const char *const rp_names[] = {
    "additional", "bootstrap-controller", "bootstrap-server", "broker-list", "cancel", "command-config",
    "disable-rack-aware", "disallow-replication-factor-change", "execute", "generate", "help", "list",
    "preserve-throttles", "reassignment-json-file", "replica-alter-log-dirs-throttle", "throttle", "timeout",
    "topics-to-move-json-file", "verify", "version",
};
#define RP_N (sizeof rp_names / sizeof rp_names[0])
enum { RP_ADDITIONAL, RP_BCONTROLLER, RP_BSERVER, RP_BROKER_LIST, RP_CANCEL, RP_COMMAND_CONFIG, RP_NO_RACK,
       RP_DISALLOW, RP_EXECUTE, RP_GENERATE, RP_HELP, RP_LIST, RP_PRESERVE, RP_JSON, RP_LOGDIR_THROTTLE,
       RP_THROTTLE, RP_TIMEOUT, RP_TOPICS_JSON, RP_VERIFY, RP_VERSION };

static bool rp_takes_value(int k)
{
    return k == RP_BCONTROLLER || k == RP_BSERVER || k == RP_BROKER_LIST || k == RP_COMMAND_CONFIG ||
           k == RP_JSON || k == RP_LOGDIR_THROTTLE || k == RP_THROTTLE || k == RP_TIMEOUT || k == RP_TOPICS_JSON;
}

/* As leader_election.c: joptsimple's long options, no abbreviations. */
static int rp_option(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (arg[0] != '-' || !arg[1] || strcmp(arg, "--") == 0)
        return -2;
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    size_t len = strcspn(name, "=");
    if (name[len] == '=')
        *inline_value = name + len + 1;
    for (size_t k = 0; k < RP_N; k++)
        if (strlen(rp_names[k]) == len && strncmp(rp_names[k], name, len) == 0)
            return (int)k;
    return -1;
}

/* The options each action permits besides itself and its required ones
 * (Kafka's permittedArgs). */
static bool rp_permitted(int action, int k, bool bootstrap_server)
{
    int bs = bootstrap_server ? RP_BSERVER : RP_BCONTROLLER;
    switch (action) {
    case RP_VERIFY:
        return k == RP_BSERVER || k == RP_COMMAND_CONFIG || k == RP_PRESERVE || k == RP_JSON;
    case RP_GENERATE:
        return k == RP_BSERVER || k == RP_BROKER_LIST || k == RP_COMMAND_CONFIG || k == RP_NO_RACK ||
               k == RP_TOPICS_JSON;
    case RP_EXECUTE:
        return k == RP_ADDITIONAL || k == RP_BSERVER || k == RP_COMMAND_CONFIG || k == RP_THROTTLE ||
               k == RP_LOGDIR_THROTTLE || k == RP_TIMEOUT || k == RP_DISALLOW || k == RP_JSON;
    case RP_CANCEL:
        return k == bs || k == RP_COMMAND_CONFIG || k == RP_PRESERVE || k == RP_TIMEOUT || k == RP_JSON;
    default:
        return k == bs || k == RP_COMMAND_CONFIG;
    }
}

/* joptsimple's Long conversion; -1 after Kafka's "Cannot parse argument". */
static int rp_long(const char *value, const char *name, int64_t *out)
{
    if (tool_parse_int64(value, out) < 0) {
        rp_fail("Cannot parse argument '%s' of option %s", value, name);
        return -1;
    }
    return 0;
}

int tool_reassign_partitions_main(int argc, char **argv)
{
    rp_ctx c;
    memset(&c, 0, sizeof c);
    tool_opts_init(&c.o);
    c.o.timeout_ms = RP_TIMEOUT_MS;
    tool_set_cmd(CMD);
    const char *vals[RP_N] = { 0 };
    int times[RP_N] = { 0 };
    int order[256];
    int norder = 0;
    if (argc <= 1) {
        rp_usage(stderr); /* Kafka: the usage on stderr, status 1 */
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *iv;
        if (strcmp(argv[i], "--") == 0)
            break;
        int k = rp_option(argv[i], &iv);
        if (k == -2)
            continue; /* joptsimple keeps non-option words aside; the tool ignores them */
        if (k < 0) {
            const char *s = argv[i] + (argv[i][1] == '-' ? 2 : 1);
            tool_err(CMD, "%.*s is not a recognized option", (int)strcspn(s, "="), s);
            return 1;
        }
        times[k]++;
        if (norder < (int)(sizeof order / sizeof order[0]))
            order[norder++] = k;
        if (!rp_takes_value(k))
            continue;
        if (!iv) {
            /* --bootstrap-server takes an optional argument in Kafka 4.4:
             * without one, Kafka's tool fails later with "Error: null" */
            if (k == RP_BSERVER && (i + 1 >= argc || argv[i + 1][0] == '-'))
                continue;
            if (i + 1 >= argc) {
                tool_err(CMD, "Option %s requires an argument", rp_names[k]);
                return 1;
            }
            iv = argv[++i];
        }
        vals[k] = iv;
    }
    if (times[RP_HELP]) {
        rp_usage(stdout);
        return 0;
    }
    if (times[RP_VERSION]) {
        printf("4.4.0\n"); /* the Kafka version whose tool this one follows */
        return 0;
    }
    static const int actions[] = { RP_GENERATE, RP_EXECUTE, RP_VERIFY, RP_CANCEL, RP_LIST };
    int action = -1, nactions = 0;
    for (size_t a = 0; a < sizeof actions / sizeof actions[0]; a++)
        if (times[actions[a]]) {
            action = actions[a];
            nactions++;
        }
    if (nactions != 1) {
        tool_err(CMD, "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list");
        return 1;
    }
    if (times[RP_BSERVER] && times[RP_BCONTROLLER]) {
        tool_err(CMD, "Please don't specify both --bootstrap-server and --bootstrap-controller");
        return 1;
    }
    if (!times[RP_BSERVER] && !times[RP_BCONTROLLER]) {
        tool_err(CMD, "Please specify either --bootstrap-server or --bootstrap-controller");
        return 1;
    }
    static const int required[][2] = { { RP_VERIFY, RP_JSON }, { RP_GENERATE, RP_TOPICS_JSON },
                                       { RP_GENERATE, RP_BROKER_LIST }, { RP_EXECUTE, RP_JSON },
                                       { RP_CANCEL, RP_JSON } };
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (required[r][0] == action && !times[required[r][1]]) {
            tool_err(CMD, "Missing required argument \"[%s]\"", rp_names[required[r][1]]);
            return 1;
        }
    for (int i = 0; i < norder; i++)
        if (order[i] != action && !rp_permitted(action, order[i], times[RP_BSERVER] > 0)) {
            tool_err(CMD, "Option \"[%s]\" can't be used with action \"[%s]\"", rp_names[order[i]], rp_names[action]);
            return 1;
        }
    for (size_t k = 0; k < RP_N; k++)
        if (times[k] > 1 && rp_takes_value((int)k))
            return rp_fail("Found multiple arguments for option %s, but you asked for only one", rp_names[k]);
    if (vals[RP_COMMAND_CONFIG]) {
        FILE *f = fopen(vals[RP_COMMAND_CONFIG], "r");
        if (!f)
            return rp_fail("%s", vals[RP_COMMAND_CONFIG]); /* NoSuchFileException: the path */
        fclose(f);
    }
    if (times[RP_BSERVER] && !vals[RP_BSERVER])
        return rp_fail("null"); /* Kafka: a NullPointerException putting the missing value */
    c.o.bootstrap = vals[RP_BSERVER] ? vals[RP_BSERVER] : vals[RP_BCONTROLLER];
    arena_init(&c.ar, RP_ARENA_MAX);
    srandom((unsigned)(clock_mono_ms() ^ (int64_t)getpid()));
    tool_install_signals();
    int rc = 1;
    int64_t throttle = -1, log_dir_throttle = -1, timeout = 10000;
    switch (action) {
    case RP_GENERATE:
        rc = rp_generate(&c, vals[RP_TOPICS_JSON], vals[RP_BROKER_LIST], !times[RP_NO_RACK]);
        break;
    case RP_EXECUTE:
        if ((vals[RP_THROTTLE] && rp_long(vals[RP_THROTTLE], "throttle", &throttle) < 0) ||
            (vals[RP_LOGDIR_THROTTLE] &&
             rp_long(vals[RP_LOGDIR_THROTTLE], "replica-alter-log-dirs-throttle", &log_dir_throttle) < 0) ||
            (vals[RP_TIMEOUT] && rp_long(vals[RP_TIMEOUT], "timeout", &timeout) < 0))
            break;
        rc = rp_execute(&c, vals[RP_JSON], times[RP_ADDITIONAL] > 0, throttle, log_dir_throttle,
                        times[RP_DISALLOW] > 0);
        break;
    case RP_VERIFY:
        rc = rp_verify(&c, vals[RP_JSON], times[RP_PRESERVE] > 0);
        break;
    case RP_CANCEL:
        if (vals[RP_TIMEOUT] && rp_long(vals[RP_TIMEOUT], "timeout", &timeout) < 0)
            break;
        rc = rp_cancel(&c, vals[RP_JSON], times[RP_PRESERVE] > 0);
        break;
    default:
        rc = rp_list_main(&c);
        break;
    }
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
