/*
 * leader_election.c - `gregor leader-election`, the counterpart of
 * kafka-leader-election.sh (org.apache.kafka.tools.LeaderElectionCommand):
 *
 *   gregor leader-election --bootstrap-server H:P --election-type preferred|unclean
 *       (--all-topic-partitions | --topic T --partition P | --path-to-json-file F)
 *
 * F is Kafka's format: {"partitions":[{"topic":"t","partition":0}]}.
 * One ElectLeaders request (API 43, v0-2, the highest the broker offers) goes
 * to the bootstrap broker, which forwards it to the active controller (Gregor
 * and Kafka both do). --all-topic-partitions sends a null partition list.
 *
 * The output is Kafka 4.4's tool's, byte for byte:
 *   Successfully completed leader election (PREFERRED) for partitions t-0, t-1
 *   Valid replica already elected for partitions t-2
 *   Error completing leader election (PREFERRED) for partition: t-3: <exception>
 * each list in the order of the Java HashSet Kafka's tool collects it in
 * (javaorder.h), an error as the exception Kafka's admin client makes of
 * the partition's code and message. When a partition failed, stderr gets
 * Kafka's "N replica(s) could not be elected" and the exit status is 1.
 * Flag errors and bad JSON files are Kafka's sentences, in Kafka's order of
 * checks, one line on stderr ("gregor leader-election: <sentence>", where
 * Kafka prints the sentence and a stack trace), exit status 1 as Kafka's.
 * Without arguments the usage goes to stderr with status 1 (Kafka's);
 * --help prints it on stdout with status 0.
 *
 * Where this differs from Kafka's tool: --command-config/--admin.config
 * files are read (a missing one is an error, as in Kafka) but their client
 * properties are not applied: requests are plain. --timeout-ms (default
 * 30000, Kafka's tool's API timeout) bounds every wait. A broker that
 * refuses the connection is reported at once ("cannot reach the broker",
 * then Kafka's "Timeout waiting for election results" on stdout and
 * stderr); Kafka's admin client tries again until its 30 s timeout.
 * Some checks of a value given twice come in a slightly different order
 * than Kafka's (which reads values one by one as it uses them).
 *
 * The JSON reader is json.c's (Jackson's strict defaults), shared with
 * delete-records.
 * Main thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/json.h"
#include "tools/tools.h"

#define CMD "leader-election"
#define LE_ARENA_MAX (256u << 20)
#define LE_FILE_MAX (64u << 20)
#define LE_TIMEOUT_DEFAULT 30000

typedef struct le_ctx {
    tool_opts o;
    arena ar;
    kp_api_versions_resp av;
} le_ctx;

/* Kafka's tool wraps Jackson's JsonMappingException in a RuntimeException:
 * its message is the exception's class and message. */
#define LE_JME "com.fasterxml.jackson.databind.JsonMappingException: "

typedef struct le_part {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int16_t error;         /* the result */
    const char *message;   /* the broker's error message, or NULL */
    size_t message_len;
} le_part;

static bool le_same_tp(const le_part *a, const le_part *b)
{
    return a->partition == b->partition && a->topic_len == b->topic_len &&
           memcmp(a->topic, b->topic, a->topic_len) == 0;
}

/* Reorder v (n distinct partitions) as a Java HashSet/HashMap made with
 * `new HashSet<>()` iterates them when they are added in v's order. */
static int le_java_order(le_ctx *c, le_part *v, size_t n)
{
    int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (n ? n : 1));
    if (!hash)
        return -1;
    for (size_t i = 0; i < n; i++)
        hash[i] = jo_tp_hash(v[i].topic, v[i].topic_len, v[i].partition);
    return jo_put_reorder(v, sizeof *v, n, hash, 16);
}

/* Kafka's parseReplicaElectionData: the partitions of the file (a set:
 * duplicates are refused). 0, or -1 after Kafka's sentence. */
static int le_parse_file(le_ctx *c, const char *path, le_part **out, size_t *out_n)
{
    size_t len;
    int open_errno;
    char *text = tj_read_file(&c->ar, path, LE_FILE_MAX, &len, &open_errno);
    if (!text) {
        /* Kafka: RuntimeException(IOException("Unable to read file ...")) */
        tool_err(CMD, "java.io.IOException: Unable to read file %s", path);
        return -1;
    }
    bool oom;
    const tj_json *js = tj_parse(&c->ar, text, len, &oom); /* Jackson ignores what follows the first value */
    if (oom) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    if (!js) {
        tool_err(CMD, "Replica election data is empty"); /* Json.parseFull: empty on a parse error */
        return -1;
    }
    if (js->type != TJ_OBJ) {
        tj_err_node(CMD, LE_JME "Expected JSON object, received ", js);
        return -1;
    }
    const tj_json *parts = tj_get(js, "partitions");
    if (!parts) {
        tool_err(CMD, "Replica election data is missing \"partitions\" field");
        return -1;
    }
    if (parts->type != TJ_ARR) {
        tj_err_node(CMD, LE_JME "Expected JSON array, received ", parts);
        return -1;
    }
    le_part *p = arena_alloc(&c->ar, sizeof *p * (parts->n ? parts->n : 1));
    if (!p) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    memset(p, 0, sizeof *p * (parts->n ? parts->n : 1));
    for (size_t k = 0; k < parts->n; k++) {
        const tj_json *e = parts->items[k];
        if (e->type != TJ_OBJ) {
            tj_err_node(CMD, LE_JME "Expected JSON object, received ", e);
            return -1;
        }
        const tj_json *t = tj_get(e, "topic");
        if (!t) {
            tool_err(CMD, LE_JME "No such field exists: `topic`");
            return -1;
        }
        if (t->type != TJ_STR) {
            tj_err_node(CMD, LE_JME "Expected `String` value, received ", t);
            return -1;
        }
        const tj_json *pn = tj_get(e, "partition");
        if (!pn) {
            tool_err(CMD, LE_JME "No such field exists: `partition`");
            return -1;
        }
        if (pn->type != TJ_INT) {
            tj_err_node(CMD, LE_JME "Expected `Integer` value, received ", pn);
            return -1;
        }
        p[k].topic = t->s;
        p[k].topic_len = t->slen;
        p[k].partition = (int32_t)pn->i;
    }
    /* duplicates: a HashSet (Collectors.toSet) printed as [t-0, t-1] */
    size_t n = parts->n, nd = 0;
    le_part *dups = arena_alloc(&c->ar, sizeof *dups * (n ? n : 1));
    if (!dups) {
        tool_err(CMD, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t count = 0, seen = 0;
        for (size_t j = 0; j < n; j++)
            count += le_same_tp(&p[i], &p[j]);
        for (size_t j = 0; j < nd; j++)
            seen += le_same_tp(&p[i], &dups[j]);
        if (count > 1 && !seen)
            dups[nd++] = p[i];
    }
    if (nd) {
        if (le_java_order(c, dups, nd) < 0) {
            tool_err(CMD, "out of memory");
            return -1;
        }
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "[");
        for (size_t j = 0; j < nd; j++) {
            char num[24];
            if (j)
                tj_buf_str(&b, ", ");
            tj_buf_add(&b, dups[j].topic, dups[j].topic_len);
            snprintf(num, sizeof num, "-%" PRId32, dups[j].partition);
            tj_buf_str(&b, num);
        }
        tj_buf_str(&b, "]");
        tool_err(CMD, "Replica election data contains duplicate partitions: %s", b.p);
        free(b.p);
        return -1;
    }
    *out = p;
    *out_n = n;
    return 0;
}

/* ---- Kafka's exceptions for error codes ---- */

static const struct le_kerr {
    int16_t code;
    const char *cls; /* under org.apache.kafka.common.errors. */
    const char *msg;
} le_kerrs[] = {
    { -1, "UnknownServerException", "The server experienced an unexpected error when processing the request." },
    { 3, "UnknownTopicOrPartitionException", "This server does not host this topic-partition." },
    { 5, "LeaderNotAvailableException", "There is no leader for this topic-partition as we are in the middle of a leadership election." },
    { 7, "TimeoutException", "The request timed out." },
    { 17, "InvalidTopicException", "The request attempted to perform an operation on an invalid topic." },
    { 29, "TopicAuthorizationException", "Topic authorization failed." },
    { 31, "ClusterAuthorizationException", "Cluster authorization failed." },
    { 35, "UnsupportedVersionException", "The version of API is not supported." },
    { 41, "NotControllerException", "This is not the correct controller for this cluster." },
    { 42, "InvalidRequestException", "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details." },
    { 80, "PreferredLeaderNotAvailableException", "The preferred leader was not available." },
    { 83, "EligibleLeadersNotAvailableException", "Eligible topic partition leaders are not available." },
    { 84, "ElectionNotNeededException", "Leader election not needed for topic partition." },
};

/* "org.apache.kafka.common.errors.X: message" (the broker's message when it
 * gave one, as ApiError.exception does), into b. */
static void le_exception(tj_buf *b, int16_t code, const char *msg, size_t msg_len)
{
    const struct le_kerr *k = NULL;
    for (size_t i = 0; i < sizeof le_kerrs / sizeof le_kerrs[0] && !k; i++)
        if (le_kerrs[i].code == code)
            k = &le_kerrs[i];
    if (!k) {
        char num[64];
        snprintf(num, sizeof num, "%s (error code %d)", kerr_name(code), code);
        tj_buf_str(b, num);
        if (msg) {
            tj_buf_str(b, ": ");
            tj_buf_add(b, msg, msg_len);
        }
        return;
    }
    tj_buf_str(b, "org.apache.kafka.common.errors.");
    tj_buf_str(b, k->cls);
    tj_buf_str(b, ": ");
    if (msg)
        tj_buf_add(b, msg, msg_len);
    else
        tj_buf_str(b, k->msg);
}

/* ---- the election ---- */

static bool le_retriable(int16_t code)
{
    return code == 7 || code == 8 || code == 13 || code == 14 || code == 15 || code == 41;
}

/* Send ElectLeaders; parts NULL (n 0) for every partition. Fills *res with
 * the result of each partition the broker answered for, in its order. */
static int le_execute(le_ctx *c, int8_t type, const char *type_name, le_part *parts, size_t n, bool all)
{
    int16_t ver;
    if (tool_api_versions(&c->o, &c->av, &c->ar) < 0) {
        printf("Timeout waiting for election results\n");
        fflush(stdout);
        tool_err(CMD, "Timeout waiting for election results");
        return 1;
    }
    if (tool_api_version(&c->av, KP_API_ELECT_LEADERS, &ver) < 0 || (type != 0 && ver < 1)) {
        tool_err(CMD, "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors."
                      "UnsupportedVersionException: The broker does not support ELECT_LEADERS");
        return 1;
    }
    kp_elect_leaders_req req;
    kp_elect_leaders_req_init(&req);
    req.election_type = type;
    req.timeout_ms = c->o.timeout_ms;
    if (all) {
        req.topic_partitions = NULL;
        req.topic_partitions_n = -1;
    } else {
        /* The admin client sends the partitions in the order of the set the
         * tool made of them (a HashSet copied from the file's list), grouped
         * by topic in first-seen order; the answer comes in that order and
         * decides the order of partitions sharing a bucket below. */
        int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (n ? n : 1));
        if (!hash) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            hash[i] = jo_tp_hash(parts[i].topic, parts[i].topic_len, parts[i].partition);
        if (jo_put_reorder(parts, sizeof *parts, n, hash, jo_copy_table_size(n)) < 0) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        req.topic_partitions = arena_alloc(&c->ar, sizeof *req.topic_partitions * (n ? n : 1));
        if (!req.topic_partitions) {
            tool_err(CMD, "out of memory");
            return 1;
        }
        req.topic_partitions_n = 0;
        for (size_t i = 0; i < n; i++) {
            kp_elect_leaders_req_topic_partitions *t = NULL;
            for (int32_t k = 0; k < req.topic_partitions_n && !t; k++)
                if ((size_t)req.topic_partitions[k].topic.len == parts[i].topic_len &&
                    memcmp(req.topic_partitions[k].topic.ptr, parts[i].topic, parts[i].topic_len) == 0)
                    t = &req.topic_partitions[k];
            if (!t) {
                t = &req.topic_partitions[req.topic_partitions_n++];
                kp_elect_leaders_req_topic_partitions_init(t);
                t->topic.ptr = parts[i].topic;
                t->topic.len = (int32_t)parts[i].topic_len;
                t->partitions = arena_alloc(&c->ar, sizeof *t->partitions * n);
                if (!t->partitions) {
                    tool_err(CMD, "out of memory");
                    return 1;
                }
            }
            t->partitions[t->partitions_n++] = parts[i].partition;
        }
    }
    kp_elect_leaders_resp resp;
    int64_t deadline = clock_mono_ms() + c->o.timeout_ms;
    for (;;) {
        char err[512];
        int r = tool_raw_request(&c->o, KP_API_ELECT_LEADERS, ver, &req, &resp, &c->ar, err, sizeof err);
        bool again = r < 0 || le_retriable(resp.error_code);
        if (!again || tool_stop || clock_mono_ms() + 500 > deadline) {
            if (r < 0 || resp.error_code == 7 || (again && resp.error_code)) {
                printf("Timeout waiting for election results\n");
                fflush(stdout);
                tool_err(CMD, "Timeout waiting for election results");
                return 1;
            }
            break;
        }
        struct timespec ts = { 0, 500 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (resp.error_code == 31) {
        printf("Not authorized to perform leader election\n");
        fflush(stdout);
        tool_err(CMD, "Not authorized to perform leader election");
        return 1;
    }
    if (resp.error_code) {
        tj_buf b = { .cmd = CMD };
        le_exception(&b, resp.error_code, NULL, 0);
        tool_err(CMD, "java.util.concurrent.ExecutionException: %s", b.p);
        free(b.p);
        return 1;
    }
    /* The admin client's result: a HashMap filled in the answer's order. */
    size_t nr = 0;
    for (int32_t t = 0; t < resp.replica_election_results_n; t++)
        nr += (size_t)resp.replica_election_results[t].partition_result_n;
    le_part *res = arena_alloc(&c->ar, sizeof *res * (nr ? nr : 1));
    if (!res) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    size_t k = 0;
    for (int32_t t = 0; t < resp.replica_election_results_n; t++) {
        const kp_elect_leaders_resp_replica_election_result *tr = &resp.replica_election_results[t];
        for (int32_t p = 0; p < tr->partition_result_n; p++) {
            const kp_elect_leaders_resp_partition_result *pr = &tr->partition_result[p];
            le_part e = { tr->topic.ptr, (size_t)(tr->topic.len > 0 ? tr->topic.len : 0),
                          pr->partition_id, pr->error_code,
                          pr->error_message.len >= 0 ? pr->error_message.ptr : NULL,
                          (size_t)(pr->error_message.len > 0 ? pr->error_message.len : 0) };
            size_t j;
            for (j = 0; j < k && !le_same_tp(&res[j], &e); j++)
                ;
            if (j == k)
                res[k++] = e;
            else
                res[j] = e; /* a later answer for the same partition replaces it */
        }
    }
    nr = k;
    if (le_java_order(c, res, nr) < 0) {
        tool_err(CMD, "out of memory");
        return 1;
    }
    /* succeeded, noop and failed: each a new HashSet/HashMap filled in the
     * result map's order */
    le_part *sets[3];
    size_t counts[3] = { 0, 0, 0 };
    for (int s = 0; s < 3; s++) {
        sets[s] = arena_alloc(&c->ar, sizeof *sets[s] * (nr ? nr : 1));
        if (!sets[s]) {
            tool_err(CMD, "out of memory");
            return 1;
        }
    }
    for (size_t i = 0; i < nr; i++) {
        int s = res[i].error == 0 ? 0 : res[i].error == 84 ? 1 : 2;
        sets[s][counts[s]++] = res[i];
    }
    for (int s = 0; s < 3; s++)
        if (le_java_order(c, sets[s], counts[s]) < 0) {
            tool_err(CMD, "out of memory");
            return 1;
        }
    for (int s = 0; s < 2; s++) {
        if (!counts[s])
            continue;
        if (s == 0)
            printf("Successfully completed leader election (%s) for partitions ", type_name);
        else
            printf("Valid replica already elected for partitions ");
        for (size_t i = 0; i < counts[s]; i++)
            printf("%s%.*s-%" PRId32, i ? ", " : "", (int)sets[s][i].topic_len, sets[s][i].topic,
                   sets[s][i].partition);
        printf("\n");
    }
    for (size_t i = 0; i < counts[2]; i++) {
        tj_buf b = { .cmd = CMD };
        le_exception(&b, sets[2][i].error, sets[2][i].message, sets[2][i].message_len);
        printf("Error completing leader election (%s) for partition: %.*s-%" PRId32 ": %s\n", type_name,
               (int)sets[2][i].topic_len, sets[2][i].topic, sets[2][i].partition, b.p);
        free(b.p);
    }
    fflush(stdout);
    if (counts[2]) {
        tool_err(CMD, "%zu replica(s) could not be elected", counts[2]);
        return 1;
    }
    return 0;
}

/* ---- arguments ---- */

static void le_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor leader-election --bootstrap-server HOST:PORT --election-type preferred|unclean\n"
        "         (--all-topic-partitions | --topic T --partition P | --path-to-json-file FILE)\n"
        "Elect a new leader for a set of partitions (kafka-leader-election.sh): a preferred\n"
        "election moves leadership back to a partition's first replica when it is alive and\n"
        "in the ISR; an unclean one elects a replica out of the ISR when there is no leader.\n"
        "FILE is Kafka's format:\n"
        "  {\"partitions\":\n"
        "    [{\"topic\": \"foo\", \"partition\": 1},\n"
        "     {\"topic\": \"foobar\", \"partition\": 2}]\n"
        "  }\n"
        "Options:\n"
        "  --bootstrap-server HOST:PORT  the broker to ask (required; it forwards to the controller)\n"
        "  --election-type TYPE          preferred or unclean, any case (required)\n"
        "  --all-topic-partitions        every partition the election type applies to\n"
        "  --topic T --partition P       one partition\n"
        "  --path-to-json-file FILE      the partitions in FILE\n"
        "  --command-config FILE         accepted for kafka-leader-election.sh; requests are plain\n"
        "  --admin.config FILE           the same (deprecated in Kafka)\n"
        "  --timeout-ms N                bound on every wait (default 30000, Kafka's tool's)\n"
        "  --help\n"
        "Output: Kafka's lines: \"Successfully completed leader election (PREFERRED) for\n"
        "partitions t-0, t-1\", \"Valid replica already elected for partitions t-2\",\n"
        "\"Error completing leader election (PREFERRED) for partition: t-3: <exception>\".\n"
        "Exit status: 0 when no partition failed; 1 otherwise, and on any error (a bad\n"
        "flag or file: one line on stderr, Kafka's sentence), as Kafka's tool.\n"
        "Example:\n"
        "  gregor leader-election --bootstrap-server localhost:9092 --election-type preferred \\\n"
        "      --all-topic-partitions\n");
}

/* A long option as Kafka's joptsimple parser (no abbreviations) takes it:
 * "--name", "--name=value", also with one dash. The index in le_names, -1
 * for an unknown option, -2 for a word that is no option (Kafka's tool
 * ignores those). */
static const char *const le_names[] = {
    "admin.config", "all-topic-partitions", "bootstrap-server", "command-config", "election-type",
    "help", "partition", "path-to-json-file", "timeout-ms", "topic", "version",
};
#define LE_N (sizeof le_names / sizeof le_names[0])
enum { LE_ADMIN_CONFIG, LE_ALL, LE_BOOTSTRAP, LE_COMMAND_CONFIG, LE_TYPE, LE_HELP, LE_PARTITION,
       LE_JSON, LE_TIMEOUT, LE_TOPIC, LE_VERSION };

static int le_option(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (arg[0] != '-' || !arg[1] || strcmp(arg, "--") == 0)
        return -2;
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    size_t len = strcspn(name, "=");
    if (name[len] == '=')
        *inline_value = name + len + 1;
    for (size_t k = 0; k < LE_N; k++)
        if (strlen(le_names[k]) == len && strncmp(le_names[k], name, len) == 0)
            return (int)k;
    return -1;
}

int tool_leader_election_main(int argc, char **argv)
{
    le_ctx c;
    memset(&c, 0, sizeof c);
    tool_opts_init(&c.o);
    c.o.timeout_ms = LE_TIMEOUT_DEFAULT;
    tool_set_cmd(CMD);
    const char *vals[LE_N] = { 0 };
    bool has[LE_N] = { 0 };
    int times[LE_N] = { 0 };
    if (argc <= 1) {
        le_usage(stderr); /* Kafka: usage on stderr, status 1 */
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *iv;
        if (strcmp(argv[i], "--") == 0)
            break; /* the rest are no options */
        int k = le_option(argv[i], &iv);
        if (k == -2)
            continue; /* Kafka's tool ignores words that are no options */
        if (k < 0) {
            const char *s = argv[i] + (argv[i][1] == '-' ? 2 : 1);
            tool_err(CMD, "%.*s is not a recognized option", (int)strcspn(s, "="), s);
            return 1;
        }
        has[k] = true;
        times[k]++;
        if (k == LE_ALL || k == LE_HELP || k == LE_VERSION)
            continue;
        if (!iv) {
            if (i + 1 >= argc) {
                tool_err(CMD, "Option %s requires an argument", le_names[k]);
                return 1;
            }
            iv = argv[++i];
        }
        vals[k] = iv;
    }
    if (has[LE_HELP]) {
        le_usage(stdout);
        return 0;
    }
    if (has[LE_VERSION]) {
        printf("4.4.0\n"); /* the Kafka version whose tool this one follows */
        return 0;
    }
    /* validate(), in Kafka's order */
    if (!has[LE_BOOTSTRAP] || !has[LE_TYPE]) {
        tool_err(CMD, "Missing required option(s): %s%s%s", has[LE_BOOTSTRAP] ? "" : "bootstrap-server",
                 !has[LE_BOOTSTRAP] && !has[LE_TYPE] ? ", " : "", has[LE_TYPE] ? "" : "election-type");
        return 1;
    }
    if (has[LE_ADMIN_CONFIG] && has[LE_COMMAND_CONFIG]) {
        tool_err(CMD, "Option \"[admin.config]\" can't be used with option \"[command-config]\"");
        return 1;
    }
    if (has[LE_TOPIC] + has[LE_ALL] + has[LE_JSON] != 1) {
        tool_err(CMD, "One and only one of the following options is required: topic, all-topic-partitions, "
                      "path-to-json-file");
        return 1;
    }
    if (has[LE_TOPIC] && !has[LE_PARTITION]) {
        tool_err(CMD, "Missing required option(s): partition");
        return 1;
    }
    if (!has[LE_TOPIC] && has[LE_PARTITION]) {
        tool_err(CMD, "Option partition is only allowed if topic is used");
        return 1;
    }
    /* an option given twice is refused when its value is read, in this order */
    static const int read_order[] = { LE_TYPE, LE_JSON, LE_TOPIC, LE_PARTITION, LE_ADMIN_CONFIG,
                                      LE_COMMAND_CONFIG, LE_BOOTSTRAP, LE_TIMEOUT };
    for (size_t r = 0; r < sizeof read_order / sizeof read_order[0]; r++)
        if (times[read_order[r]] > 1) {
            tool_err(CMD, "Found multiple arguments for option %s, but you asked for only one",
                     le_names[read_order[r]]);
            return 1;
        }
    int8_t type;
    const char *type_name;
    if (strcasecmp(vals[LE_TYPE], "preferred") == 0) {
        type = 0;
        type_name = "PREFERRED";
    } else if (strcasecmp(vals[LE_TYPE], "unclean") == 0) {
        type = 1;
        type_name = "UNCLEAN";
    } else {
        tool_err(CMD, "Cannot parse argument '%s' of option election-type", vals[LE_TYPE]);
        return 1;
    }
    if (has[LE_TIMEOUT]) {
        int64_t t;
        if (tool_parse_int64(vals[LE_TIMEOUT], &t) < 0 || t <= 0 || t > 3600000) {
            tool_err(CMD, "--timeout-ms: a positive number of milliseconds is required, not '%s'",
                     vals[LE_TIMEOUT]);
            return 1;
        }
        c.o.timeout_ms = (int)t;
    }
    c.o.bootstrap = vals[LE_BOOTSTRAP];
    arena_init(&c.ar, LE_ARENA_MAX);
    int rc = 1;
    le_part *parts = NULL;
    size_t n = 0;
    if (has[LE_JSON] && le_parse_file(&c, vals[LE_JSON], &parts, &n) < 0)
        goto out;
    if (has[LE_TOPIC]) {
        int64_t p;
        if (tool_parse_int64(vals[LE_PARTITION], &p) < 0 || p < INT32_MIN || p > INT32_MAX) {
            tool_err(CMD, "Cannot parse argument '%s' of option partition", vals[LE_PARTITION]);
            goto out;
        }
        parts = arena_alloc(&c.ar, sizeof *parts);
        if (!parts)
            goto out;
        memset(parts, 0, sizeof *parts);
        parts->topic = vals[LE_TOPIC];
        parts->topic_len = strlen(vals[LE_TOPIC]);
        parts->partition = (int32_t)p;
        n = 1;
    }
    const char *config = vals[LE_COMMAND_CONFIG];
    if (has[LE_ADMIN_CONFIG]) {
        printf("Option --admin.config has been deprecated and will be removed in a future version. "
               "Use --command-config instead.\n");
        fflush(stdout);
        config = vals[LE_ADMIN_CONFIG];
    }
    if (config) {
        FILE *f = fopen(config, "r");
        if (!f) {
            tool_err(CMD, "%s", config); /* Kafka: NoSuchFileException's message, the path */
            goto out;
        }
        fclose(f);
    }
    tool_install_signals();
    rc = le_execute(&c, type, type_name, parts, n, has[LE_ALL]);
out:
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
