/*
 * log_dirs.c - `gregor log-dirs`, the counterpart of kafka-log-dirs.sh
 * (org.apache.kafka.tools.LogDirsCommand):
 *
 *   gregor log-dirs --bootstrap-server H:P --describe [--topic-list t1,t2]
 *                   [--broker-list 0,1]
 *
 * asks every broker (or those listed) for its log directories with
 * DescribeLogDirs (API 35, v1-4) and prints what Kafka 4.4's tool prints:
 *
 *   Querying brokers for log directories information
 *   Received log directory information from brokers 1
 *   {"brokers":[{"broker":1,"logDirs":[{"partitions":[{"partition":"t-0",
 *    "size":N,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"/..."}]}],
 *    "version":1}
 *
 * The JSON is on one line, with Jackson's escaping, its keys in the order
 * Jackson writes Java HashMaps, and its lists (brokers, log directories,
 * partitions) in the iteration order of the Java HashMaps Kafka's tool and
 * admin client build them in: bucket order for the map's table size, then
 * insertion order (javaorder.c). So the same broker answer gives the
 * same bytes from both tools. (Java turns a bucket of 8 or more colliding
 * keys into a tree whose order depends on identity hash codes; that is not
 * reproduced, and no realistic partition set gets there.)
 *
 * librdkafka 2.0 has no DescribeLogDirs, so the requests are our own over a
 * plain socket (tool_raw_request): ApiVersions to pick versions, Metadata for
 * the brokers and their addresses, then DescribeLogDirs with a null topic
 * list (every partition) to each broker. Every wait is bounded by
 * --timeout-ms. Main thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/tools.h"

#define CMD "log-dirs"
#define LD_ARENA_MAX (256u << 20)
#define LD_LIST_MAX 100000 /* bound on --topic-list / --broker-list entries */

typedef struct ld_args {
    tool_opts o;
    bool describe;
    const char **topics; /* --topic-list, empty entries dropped */
    int topics_n;
    int32_t *brokers;    /* --broker-list, in the order given, no duplicates */
    int brokers_n;
} ld_args;

typedef struct ld_ctx {
    ld_args *a;
    arena ar;
    kp_api_versions_resp av;
    kp_metadata_resp md;
} ld_ctx;

/* ---- Java's HashMap iteration order (javaorder.c) ---- */

/* Reorder the broker ids v (n of them) as a Java HashMap/HashSet of initial
 * table size cap0 iterates them when they are put in v's order
 * (Integer.hashCode is the value). */
static int ld_order_ints(int32_t *v, size_t n, size_t cap0)
{
    return jo_put_reorder(v, sizeof *v, n, v, cap0);
}

/* ---- output ---- */

/* A JSON string as Jackson writes one: '"' and '\\' escaped, control
 * characters as \b \t \n \f \r or \u00XX (upper-case hex), everything else
 * as UTF-8 (invalid bytes as U+FFFD, as Java decoded them). */
static void ld_json_str(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            fputc('\\', f);
            fputc(ch, f);
            i++;
        } else if (ch < 0x20) {
            switch (ch) {
            case '\b': fputs("\\b", f); break;
            case '\t': fputs("\\t", f); break;
            case '\n': fputs("\\n", f); break;
            case '\f': fputs("\\f", f); break;
            case '\r': fputs("\\r", f); break;
            default: fprintf(f, "\\u%04X", ch); break;
            }
            i++;
        } else if (ch < 0x80) {
            fputc(ch, f);
            i++;
        } else {
            /* copy a valid sequence; U+FFFD for a bad byte */
            size_t want = (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 0;
            bool valid = want && i + want <= n;
            uint32_t v = ch & (want == 2 ? 0x1F : want == 3 ? 0x0F : 0x07);
            for (size_t k = 1; valid && k < want; k++) {
                valid = (p[i + k] & 0xC0) == 0x80;
                v = (v << 6) | (p[i + k] & 0x3F);
            }
            if (valid && ((want == 2 && v < 0x80) || (want == 3 && v < 0x800) ||
                          (want == 4 && v < 0x10000) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)))
                valid = false;
            if (valid) {
                fwrite(p + i, 1, want, f);
                i += want;
            } else {
                fputs("\xEF\xBF\xBD", f);
                i++;
            }
        }
    }
    fputc('"', f);
}

/* The class of the exception Kafka's Errors.forCode(code).exception() makes
 * for a log directory's error; codes Kafka does not know are
 * UNKNOWN_SERVER_ERROR there. */
static const char *ld_error_class(int16_t code)
{
    switch (code) {
    case 56: return "org.apache.kafka.common.errors.KafkaStorageException";
    case 57: return "org.apache.kafka.common.errors.LogDirNotFoundException";
    case 31: return "org.apache.kafka.common.errors.ClusterAuthorizationException";
    case 7: return "org.apache.kafka.common.errors.TimeoutException";
    case 35: return "org.apache.kafka.common.errors.UnsupportedVersionException";
    case 42: return "org.apache.kafka.common.errors.InvalidRequestException";
    default: return "org.apache.kafka.common.errors.UnknownServerException";
    }
}

/* The message of that exception, for a failed request (Kafka's tool prints
 * the exception's toString: class, ": ", message). */
static const char *ld_error_message(int16_t code)
{
    switch (code) {
    case 56: return "Disk error when trying to access log file on the disk.";
    case 57: return "The user-specified log directory is not found in the broker config.";
    case 31: return "Cluster authorization failed.";
    case 7: return "The request timed out.";
    case 35: return "The version of API is not supported.";
    case 42: return "This most likely occurs because of a request being malformed by the client "
                    "library or the message was sent to an incompatible broker. See the broker "
                    "logs for more details.";
    default: return "The server experienced an unexpected error when processing the request.";
    }
}

/* "1,2,3" in the order given. */
static void ld_print_ids(FILE *f, const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%" PRId32, i ? "," : "", v[i]);
}

/* ---- requests ---- */

/* Metadata for the brokers only (an empty topic list). */
static int ld_metadata(ld_ctx *c)
{
    kp_metadata_req req;
    char err[512];
    int16_t ver;
    if (tool_api_version_or_err(&c->a->o, &c->av, KP_API_METADATA, &ver) < 0)
        return -1;
    kp_metadata_req_init(&req);
    req.topics = NULL;
    req.topics_n = 0;
    req.allow_auto_topic_creation = false;
    if (tool_raw_request(&c->a->o, KP_API_METADATA, ver, &req, &c->md, &c->ar, err, sizeof err) < 0) {
        tool_err(CMD, "Metadata: %s", err);
        return -1;
    }
    return 0;
}

/* ---- the command ---- */

typedef struct ld_part {
    const char *topic;
    size_t topic_len;
    const kp_describe_log_dirs_resp_describe_log_dirs_partition *p;
} ld_part;

static bool ld_topic_wanted(const ld_args *a, const char *topic, size_t n)
{
    if (a->topics_n == 0)
        return true;
    for (int i = 0; i < a->topics_n; i++)
        if (strlen(a->topics[i]) == n && memcmp(a->topics[i], topic, n) == 0)
            return true;
    return false;
}

/* One log directory's "partitions" list: the replicas in the order Kafka's
 * admin client's HashMap holds them (put in the response's order), filtered
 * by --topic-list into the tool's own HashMap (Collectors.toMap). */
static int ld_print_partitions(ld_ctx *c, const kp_describe_log_dirs_resp_describe_log_dirs_result *r)
{
    size_t n = 0;
    for (int32_t t = 0; t < r->topics_n; t++)
        n += (size_t)(r->topics[t].partitions_n > 0 ? r->topics[t].partitions_n : 0);
    ld_part *all = arena_alloc(&c->ar, sizeof *all * (n ? n : 1));
    ld_part *kept = arena_alloc(&c->ar, sizeof *kept * (n ? n : 1));
    int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (n ? n : 1));
    size_t *ord = arena_alloc(&c->ar, sizeof *ord * (n ? n : 1));
    if (!all || !kept || !hash || !ord)
        return -1;
    size_t k = 0;
    for (int32_t t = 0; t < r->topics_n; t++) {
        const kp_describe_log_dirs_resp_describe_log_dirs_topic *tp = &r->topics[t];
        const char *name = tp->name.ptr ? tp->name.ptr : "";
        size_t len = tp->name.len > 0 ? (size_t)tp->name.len : 0;
        for (int32_t p = 0; p < tp->partitions_n; p++) {
            all[k].topic = name;
            all[k].topic_len = len;
            all[k].p = &tp->partitions[p];
            k++;
        }
    }
    /* the admin client's map: a key seen twice keeps its first place and
     * takes the later value, as HashMap.put does */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < m; j++)
            if (kept[j].p->partition_index == all[i].p->partition_index &&
                kept[j].topic_len == all[i].topic_len &&
                memcmp(kept[j].topic, all[i].topic, all[i].topic_len) == 0)
                break;
        if (j < m) {
            kept[j].p = all[i].p;
            continue;
        }
        kept[m++] = all[i];
    }
    for (size_t i = 0; i < m; i++)
        hash[i] = jo_tp_hash(kept[i].topic, kept[i].topic_len, kept[i].p->partition_index);
    if (jo_put_order(hash, m, 16, ord) < 0)
        return -1;
    /* the tool's filtered copy, put in that order */
    size_t f = 0;
    for (size_t i = 0; i < m; i++) {
        const ld_part *x = &kept[ord[i]];
        if (ld_topic_wanted(c->a, x->topic, x->topic_len)) {
            all[f] = *x;
            hash[f] = jo_tp_hash(x->topic, x->topic_len, x->p->partition_index);
            f++;
        }
    }
    if (jo_put_order(hash, f, 16, ord) < 0)
        return -1;
    fputc('[', stdout);
    for (size_t i = 0; i < f; i++) {
        const ld_part *x = &all[ord[i]];
        char tpname[64];
        snprintf(tpname, sizeof tpname, "-%" PRId32, x->p->partition_index);
        /* "partition" is TopicPartition.toString: topic-partition */
        size_t tl = x->topic_len, sl = strlen(tpname);
        char *full = arena_alloc(&c->ar, tl + sl + 1);
        if (!full)
            return -1;
        memcpy(full, x->topic, tl);
        memcpy(full + tl, tpname, sl);
        printf("%s{\"partition\":", i ? "," : "");
        ld_json_str(stdout, full, tl + sl);
        printf(",\"size\":%" PRId64 ",\"offsetLag\":%" PRId64 ",\"isFuture\":%s}",
               x->p->partition_size, x->p->offset_lag, x->p->is_future_key ? "true" : "false");
    }
    fputc(']', stdout);
    return 0;
}

typedef struct ld_answer {
    int32_t broker;
    kp_describe_log_dirs_resp resp;
} ld_answer;

static int ld_describe(ld_ctx *c)
{
    ld_args *a = c->a;
    if (tool_api_versions(&a->o, &c->av, &c->ar) < 0 || ld_metadata(c) < 0)
        return 1;
    int16_t ver;
    if (tool_api_version_or_err(&a->o, &c->av, KP_API_DESCRIBE_LOG_DIRS, &ver) < 0)
        return 1;

    /* clusterBrokers: a HashSet (Collectors.toSet) of the cluster's ids */
    size_t nb = (size_t)(c->md.brokers_n > 0 ? c->md.brokers_n : 0);
    int32_t *cluster = arena_alloc(&c->ar, sizeof *cluster * (nb ? nb : 1));
    size_t ncl = 0;
    if (!cluster)
        goto oom;
    for (size_t i = 0; i < nb; i++) {
        bool dup = false;
        for (size_t j = 0; j < ncl && !dup; j++)
            dup = cluster[j] == c->md.brokers[i].node_id;
        if (!dup)
            cluster[ncl++] = c->md.brokers[i].node_id;
    }
    if (ld_order_ints(cluster, ncl, 16) < 0)
        goto oom;
    /* inputBrokers: a HashSet too */
    size_t nin = (size_t)a->brokers_n;
    int32_t *input = arena_alloc(&c->ar, sizeof *input * (nin ? nin : 1));
    if (!input)
        goto oom;
    if (nin)
        memcpy(input, a->brokers, sizeof *input * nin);
    if (ld_order_ints(input, nin, 16) < 0)
        goto oom;
    /* existingBrokers = new HashSet<>(input or cluster), retainAll(cluster);
     * nonExistingBrokers = new HashSet<>(input), removeAll(cluster). A
     * HashSet made from a collection starts with a table for size/.75+1
     * entries (at least 16), and removals keep the order of the rest. */
    const int32_t *src = nin ? input : cluster;
    size_t nsrc = nin ? nin : ncl;
    size_t cap = jo_copy_table_size(nsrc);
    int32_t *existing = arena_alloc(&c->ar, sizeof *existing * (nsrc ? nsrc : 1));
    int32_t *missing = arena_alloc(&c->ar, sizeof *missing * (nsrc ? nsrc : 1));
    size_t nex = 0, nmiss = 0;
    if (!existing || !missing)
        goto oom;
    memcpy(existing, src, sizeof *existing * nsrc);
    if (ld_order_ints(existing, nsrc, cap) < 0)
        goto oom;
    for (size_t i = 0; i < nsrc; i++) {
        bool in_cluster = false;
        for (size_t j = 0; j < ncl && !in_cluster; j++)
            in_cluster = cluster[j] == existing[i];
        if (in_cluster)
            existing[nex++] = existing[i];
        else
            missing[nmiss++] = existing[i];
    }
    if (nmiss) {
        /* the message lists the missing ones (from the input set) and the
         * cluster's, each in its HashSet's order */
        fprintf(stderr, "gregor %s: ERROR: The given brokers do not exist from --broker-list: ", CMD);
        ld_print_ids(stderr, missing, nmiss);
        fprintf(stderr, ". Current existent brokers: ");
        ld_print_ids(stderr, cluster, ncl);
        fputc('\n', stderr);
        return 1;
    }

    printf("Querying brokers for log directories information\n");
    fflush(stdout);

    /* one DescribeLogDirs per broker, every partition (topics null) */
    ld_answer *ans = arena_alloc(&c->ar, sizeof *ans * (nex ? nex : 1));
    if (!ans)
        goto oom;
    for (size_t i = 0; i < nex; i++) {
        const kp_metadata_resp_broker *br = NULL;
        for (int32_t j = 0; j < c->md.brokers_n && !br; j++)
            if (c->md.brokers[j].node_id == existing[i])
                br = &c->md.brokers[j];
        char *host = arena_strndup(&c->ar, br->host.ptr ? br->host.ptr : "",
                                   br->host.len > 0 ? (size_t)br->host.len : 0);
        if (!host)
            goto oom;
        kp_describe_log_dirs_req req;
        char err[512];
        kp_describe_log_dirs_req_init(&req);
        req.topics = NULL;
        req.topics_n = -1;
        ans[i].broker = existing[i];
        if (tool_raw_request_at(&a->o, host, br->port, KP_API_DESCRIBE_LOG_DIRS, ver, &req,
                                &ans[i].resp, &c->ar, err, sizeof err) < 0) {
            tool_err(CMD, "DescribeLogDirs on broker %" PRId32 ": %s", existing[i], err);
            return 1;
        }
        if (ans[i].resp.error_code) {
            /* what Kafka's tool prints: the exception the future failed with */
            tool_err(CMD, "%s: %s", ld_error_class(ans[i].resp.error_code),
                     ld_error_message(ans[i].resp.error_code));
            return 1;
        }
    }

    printf("Received log directory information from brokers ");
    ld_print_ids(stdout, existing, nex);
    fputc('\n', stdout);

    /* the admin client's futures map and allDescriptions' map: both
     * new HashMap<>(brokers.size()), each put in the order of the one before */
    int32_t *order = arena_alloc(&c->ar, sizeof *order * (nex ? nex : 1));
    if (!order)
        goto oom;
    memcpy(order, existing, sizeof *order * nex);
    if (ld_order_ints(order, nex, jo_table_size_for(nex)) < 0 ||
        ld_order_ints(order, nex, jo_table_size_for(nex)) < 0)
        goto oom;

    printf("{\"brokers\":[");
    for (size_t i = 0; i < nex; i++) {
        const ld_answer *an = NULL;
        for (size_t j = 0; j < nex && !an; j++)
            if (ans[j].broker == order[i])
                an = &ans[j];
        printf("%s{\"broker\":%" PRId32 ",\"logDirs\":[", i ? "," : "", an->broker);
        /* logDirDescriptions: new HashMap<>(results.size()) keyed by path */
        size_t nr = (size_t)(an->resp.results_n > 0 ? an->resp.results_n : 0);
        int32_t *hash = arena_alloc(&c->ar, sizeof *hash * (nr ? nr : 1));
        size_t *ord = arena_alloc(&c->ar, sizeof *ord * (nr ? nr : 1));
        if (!hash || !ord)
            goto oom;
        for (size_t r = 0; r < nr; r++) {
            kp_str d = an->resp.results[r].log_dir;
            hash[r] = jo_string_hash(d.ptr ? d.ptr : "", d.len > 0 ? (size_t)d.len : 0);
        }
        if (jo_put_order(hash, nr, jo_table_size_for(nr), ord) < 0)
            goto oom;
        for (size_t r = 0; r < nr; r++) {
            const kp_describe_log_dirs_resp_describe_log_dirs_result *res = &an->resp.results[ord[r]];
            printf("%s{\"partitions\":", r ? "," : "");
            if (ld_print_partitions(c, res) < 0)
                goto oom;
            printf(",\"error\":");
            if (res->error_code)
                ld_json_str(stdout, ld_error_class(res->error_code), strlen(ld_error_class(res->error_code)));
            else
                printf("null");
            printf(",\"logDir\":");
            ld_json_str(stdout, res->log_dir.ptr ? res->log_dir.ptr : "",
                        res->log_dir.len > 0 ? (size_t)res->log_dir.len : 0);
            printf("}");
        }
        printf("]}");
    }
    printf("],\"version\":1}\n");
    return 0;
oom:
    fflush(stdout);
    tool_err(CMD, "out of memory");
    return 1;
}

/* ---- arguments ---- */

static void ld_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor log-dirs --bootstrap-server HOST:PORT --describe [options]\n"
        "Query log directory usage on the brokers (kafka-log-dirs.sh): every log directory\n"
        "of each broker with its partitions' sizes, as Kafka's tool prints it (JSON).\n"
        "Options:\n"
        "  --describe                    describe the log directories (required)\n"
        "  --topic-list T1,T2            only these topics' partitions (default: all)\n"
        "  --broker-list 0,1,2           only these brokers (default: all); an id the\n"
        "                                cluster does not have is an error\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         accepted for kafka-log-dirs.sh; requests are plain\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --help\n"
        "Exit status: 0 when every broker answered; 1 on an error (one line on stderr);\n"
        "2 on a usage error.\n"
        "Example:\n"
        "  gregor log-dirs --bootstrap-server localhost:9092 --describe --topic-list orders\n");
}

/* Split a comma list, dropping empty entries (Kafka's tool does). */
static int ld_split(ld_ctx *c, const char *list, char ***out, int *n)
{
    size_t len = strlen(list);
    char *copy = arena_strndup(&c->ar, list, len);
    char **v = arena_alloc(&c->ar, sizeof *v * (len / 2 + 2));
    if (!copy || !v)
        return -1;
    int k = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (*tok && k < LD_LIST_MAX)
            v[k++] = tok;
    *out = v;
    *n = k;
    return 0;
}

static int ld_parse(ld_ctx *c, int argc, char **argv)
{
    ld_args *a = c->a;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v;
        /* before the common options: they take --broker-list as a
         * bootstrap alias, here it names the brokers to ask */
        if (tool_opt_is(arg, "--broker-list")) {
            char **ids;
            int n;
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (ld_split(c, v, &ids, &n) < 0) {
                tool_err(CMD, "out of memory");
                return 1;
            }
            a->brokers = arena_alloc(&c->ar, sizeof *a->brokers * (size_t)(n ? n : 1));
            if (!a->brokers) {
                tool_err(CMD, "out of memory");
                return 1;
            }
            a->brokers_n = 0;
            for (int k = 0; k < n; k++) {
                int64_t id;
                if (tool_parse_int64(ids[k], &id) < 0 || id < INT32_MIN || id > INT32_MAX) {
                    tool_err(CMD, "--broker-list: not a broker id: %s", ids[k]);
                    return 2;
                }
                bool dup = false;
                for (int j = 0; j < a->brokers_n && !dup; j++)
                    dup = a->brokers[j] == (int32_t)id;
                if (!dup)
                    a->brokers[a->brokers_n++] = (int32_t)id;
            }
            continue;
        }
        int r = tool_opts_parse(&a->o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            ld_usage(stdout);
            exit(0);
        }
        if (strcmp(arg, "--describe") == 0) {
            a->describe = true;
        } else if (tool_opt_is(arg, "--topic-list")) {
            char **t;
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (ld_split(c, v, &t, &a->topics_n) < 0) {
                tool_err(CMD, "out of memory");
                return 1;
            }
            a->topics = (const char **)t;
        } else {
            tool_err(CMD, "unknown option: %s (see --help)", arg);
            return 2;
        }
    }
    if (!a->describe) {
        tool_err(CMD, "Missing required argument \"[describe]\" (see --help)");
        return 2;
    }
    return 0;
}

int tool_log_dirs_main(int argc, char **argv)
{
    ld_args a;
    memset(&a, 0, sizeof a);
    tool_opts_init(&a.o);
    tool_set_cmd(CMD);
    ld_ctx c;
    memset(&c, 0, sizeof c);
    c.a = &a;
    arena_init(&c.ar, LD_ARENA_MAX);
    int rc = ld_parse(&c, argc, argv);
    if (rc == 0) {
        tool_install_signals();
        rc = ld_describe(&c);
    }
    fflush(stdout);
    arena_deinit(&c.ar);
    return rc;
}
