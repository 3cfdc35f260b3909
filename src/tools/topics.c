/*
 * topics.c - `gregor topics`: create, list, describe, delete topics and add
 * partitions, with kafka-topics.sh's flags and output so that the
 * bin/kafka-topics.sh shim can hand its arguments straight over.
 *
 * Everything goes through librdkafka's admin API and metadata, except topic
 * IDs and the internal flag, which librdkafka 2.0 does not expose: those come
 * from one Metadata v12 request of our own (tool_raw_request). Runs on the
 * main thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/tools.h"

#define TOPICS_CONFIGS_MAX 256
#define TOPICS_NAMES_MAX 65536 /* topics one command handles; more is refused */

enum topics_action { TA_NONE, TA_CREATE, TA_LIST, TA_DESCRIBE, TA_DELETE, TA_ALTER };

typedef struct topics_args {
    tool_opts o;
    int action;
    const char *topic;            /* --topic: one name or a comma-separated list */
    int partitions;               /* -1: not given */
    int replication_factor;       /* -1: not given */
    const char *configs[TOPICS_CONFIGS_MAX]; /* --config k=v, borrowed from argv */
    int configs_n;
    bool if_not_exists, if_exists, exclude_internal, with_overrides;
    bool under_replicated, unavailable;
} topics_args;

/* What a describe needs of one topic, from librdkafka metadata plus our own
 * Metadata v12 answer. */
typedef struct topics_info {
    const rd_kafka_metadata_topic_t *md;   /* borrowed from the metadata */
    char topic_id[23];
    bool internal;
    char **keys, **values;                 /* overrides, owned */
    int configs_n;
} topics_info;

static void topics_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor topics <action> [options]\n"
        "Actions (positional, or as --create, --list, ... like kafka-topics.sh):\n"
        "  create    --topic T [--partitions N] [--replication-factor N] [--config k=v]... [--if-not-exists]\n"
        "  list      [--exclude-internal]\n"
        "  describe  [--topic T[,T2]] [--exclude-internal] [--topics-with-overrides]\n"
        "            [--under-replicated-partitions] [--unavailable-partitions]\n"
        "  delete    --topic T[,T2] [--if-exists]\n"
        "  alter     --topic T --partitions N [--if-exists]\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         client properties\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor topics create --topic orders --partitions 3 --config retention.ms=86400000\n");
}

static int topics_set_action(topics_args *a, int action, const char *name)
{
    if (a->action != TA_NONE && a->action != action) {
        tool_err("topics", "only one of create, list, describe, delete, alter (got %s too)", name);
        return -1;
    }
    a->action = action;
    return 0;
}

static int topics_action_of(const char *s)
{
    static const char *const names[] = { "", "create", "list", "describe", "delete", "alter" };
    if (strncmp(s, "--", 2) == 0)
        s += 2;
    for (int k = 1; k <= TA_ALTER; k++)
        if (strcmp(s, names[k]) == 0)
            return k;
    return TA_NONE;
}

static int topics_parse_int(const char *flag, const char *v, int min, int *out)
{
    int64_t n;
    if (tool_parse_int64(v, &n) < 0 || n < min || n > 1000000) {
        tool_err("topics", "%s: not a valid number: %s", flag, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* 0 parsed, 1 --help, 2 usage error. */
static int topics_parse(topics_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    tool_opts_init(&a->o);
    a->partitions = -1;
    a->replication_factor = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int rc = tool_opts_parse(&a->o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        int act = topics_action_of(arg);
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (act != TA_NONE && (arg[0] != '-' || strncmp(arg, "--", 2) == 0)) {
            if (topics_set_action(a, act, arg) < 0)
                return 2;
        } else if (tool_opt_is(arg, "--topic")) {
            if (!(a->topic = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (tool_opt_is(arg, "--partitions")) {
            if (!(v = tool_arg_value(argc, argv, &i)) ||
                topics_parse_int("--partitions", v, 1, &a->partitions) < 0)
                return 2;
        } else if (tool_opt_is(arg, "--replication-factor")) {
            if (!(v = tool_arg_value(argc, argv, &i)) ||
                topics_parse_int("--replication-factor", v, 1, &a->replication_factor) < 0)
                return 2;
        } else if (tool_opt_is(arg, "--config")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (!strchr(v, '=') || v[0] == '=') {
                tool_err("topics", "--config expects key=value, not %s", v);
                return 2;
            }
            if (a->configs_n == TOPICS_CONFIGS_MAX) {
                tool_err("topics", "more than %d --config options", TOPICS_CONFIGS_MAX);
                return 2;
            }
            a->configs[a->configs_n++] = v;
        } else if (strcmp(arg, "--if-not-exists") == 0) {
            a->if_not_exists = true;
        } else if (strcmp(arg, "--if-exists") == 0) {
            a->if_exists = true;
        } else if (strcmp(arg, "--exclude-internal") == 0) {
            a->exclude_internal = true;
        } else if (strcmp(arg, "--topics-with-overrides") == 0) {
            a->with_overrides = true;
        } else if (strcmp(arg, "--under-replicated-partitions") == 0) {
            a->under_replicated = true;
        } else if (strcmp(arg, "--unavailable-partitions") == 0) {
            a->unavailable = true;
        } else {
            tool_err("topics", "unknown option %s (see gregor topics --help)", arg);
            return 2;
        }
    }
    if (a->action == TA_NONE) {
        tool_err("topics", "one of create, list, describe, delete, alter is required (see --help)");
        return 2;
    }
    if ((a->action == TA_CREATE || a->action == TA_DELETE || a->action == TA_ALTER) && !a->topic) {
        tool_err("topics", "--topic is required");
        return 2;
    }
    if (a->action == TA_ALTER && a->partitions < 0) {
        tool_err("topics", "alter needs --partitions N (use gregor configs to change topic configs)");
        return 2;
    }
    return 0;
}

/* Kafka's Topic.isInternal. */
static bool topics_name_internal(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

/* Is name listed in the comma-separated list? (NULL list: every name.) */
static bool topics_list_has(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Every name of the list that metadata does not know, reported; count. */
static int topics_report_missing(const topics_args *a, const struct rd_kafka_metadata *md)
{
    int missing = 0;
    const char *p = a->topic;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (int t = 0; t < md->topic_cnt && !found; t++)
            found = strlen(md->topics[t].topic) == len && strncmp(md->topics[t].topic, p, len) == 0 &&
                    md->topics[t].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (!found && len > 0) {
            tool_err("topics", "Topic '%.*s' does not exist as expected", (int)len, p);
            missing++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return missing;
}

static int topics_metadata(rd_kafka_t *rk, const topics_args *a, const struct rd_kafka_metadata **md)
{
    /* all topics: a Metadata request that never auto-creates */
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, md, a->o.timeout_ms);
    if (err) {
        tool_err("topics", "cannot get metadata from %s: %s", a->o.bootstrap, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int topics_cmp_name(const void *x, const void *y)
{
    const rd_kafka_metadata_topic_t *const *p = x, *const *q = y;
    return strcmp((*p)->topic, (*q)->topic);
}

/* Matching topics of md, sorted by name, into out (at most TOPICS_NAMES_MAX;
 * -1 after a message when more match). */
static int topics_select(const topics_args *a, const struct rd_kafka_metadata *md,
                         const rd_kafka_metadata_topic_t **out)
{
    int n = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        if (a->exclude_internal && topics_name_internal(mt->topic))
            continue;
        if (!topics_list_has(a->topic, mt->topic))
            continue;
        if (n == TOPICS_NAMES_MAX) {
            tool_err("topics", "more than %d topics match; name them with --topic", TOPICS_NAMES_MAX);
            return -1;
        }
        out[n++] = mt;
    }
    qsort(out, (size_t)n, sizeof *out, topics_cmp_name);
    return n;
}

/* ---- create ---- */

static int topics_create(rd_kafka_t *rk, const topics_args *a)
{
    char errstr[512];
    int rc = 1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(a->topic, a->partitions, a->replication_factor,
                                                    errstr, sizeof errstr);
    if (!nt) {
        tool_err("topics", "%s", errstr);
        return 1;
    }
    for (int k = 0; k < a->configs_n; k++) {
        char key[256];
        const char *eq = strchr(a->configs[k], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - a->configs[k]), a->configs[k]);
        rd_kafka_NewTopic_set_config(nt, key, eq + 1);
    }
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (!opts)
        goto out;
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = tool_admin_wait(q, &a->o);
    if (!ev)
        goto out;
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rd_kafka_resp_err_t err = n > 0 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && a->if_not_exists) {
        rc = 0;
    } else if (err) {
        const char *msg = n > 0 ? rd_kafka_topic_result_error_string(res[0]) : NULL;
        tool_err("topics", "%s", msg && *msg ? msg : rd_kafka_err2str(err));
    } else {
        if (a->o.json) {
            printf("{\"topic\":");
            tool_json_str(stdout, a->topic);
            printf(",\"created\":true}\n");
        } else {
            printf("Created topic %s.\n", a->topic);
        }
        rc = 0;
    }
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* ---- list ---- */

static int topics_list(rd_kafka_t *rk, const topics_args *a)
{
    const struct rd_kafka_metadata *md;
    static const rd_kafka_metadata_topic_t *sel[TOPICS_NAMES_MAX];
    if (topics_metadata(rk, a, &md) < 0)
        return 1;
    int n = topics_select(a, md, sel);
    if (n < 0) {
        rd_kafka_metadata_destroy(md);
        return 1;
    }
    if (a->o.json) {
        printf("[");
        for (int k = 0; k < n; k++) {
            printf(k ? "," : "");
            tool_json_str(stdout, sel[k]->topic);
        }
        printf("]\n");
    } else {
        for (int k = 0; k < n; k++)
            printf("%s\n", sel[k]->topic);
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* ---- describe ---- */

/* Topic IDs and internal flags from one Metadata v12 request for all topics.
 * Best effort: without them the IDs print as Kafka's zero Uuid. */
static void topics_fetch_ids(const topics_args *a, topics_info *info, int n)
{
    arena ar;
    arena_init(&ar, 256u << 20);
    kp_metadata_req req;
    kp_metadata_resp resp;
    char err[256];
    kp_metadata_req_init(&req);
    req.topics = NULL;
    req.topics_n = -1;
    req.allow_auto_topic_creation = false;
    if (tool_raw_request(&a->o, KP_API_METADATA, 12, &req, &resp, &ar, err, sizeof err) == 0) {
        for (int k = 0; k < n; k++)
            for (int t = 0; t < resp.topics_n; t++)
                if (kp_str_eq(resp.topics[t].name, info[k].md->topic)) {
                    tool_uuid_str(resp.topics[t].topic_id.b, info[k].topic_id);
                    info[k].internal = resp.topics[t].is_internal;
                }
    }
    arena_deinit(&ar);
}

static void topics_add_config(topics_info *ti, const char *k, const char *v)
{
    char **keys = realloc(ti->keys, (size_t)(ti->configs_n + 1) * sizeof(char *));
    char **values = realloc(ti->values, (size_t)(ti->configs_n + 1) * sizeof(char *));
    if (!keys || !values)
        abort();
    ti->keys = keys;
    ti->values = values;
    keys[ti->configs_n] = strdup(k);
    values[ti->configs_n] = strdup(v ? v : "");
    if (!keys[ti->configs_n] || !values[ti->configs_n])
        abort();
    ti->configs_n++;
}

/* Overrides (source DYNAMIC_TOPIC_CONFIG) of every topic, in one call. */
static int topics_fetch_configs(rd_kafka_t *rk, const topics_args *a, topics_info *info, int n)
{
    if (n == 0)
        return 0;
    rd_kafka_ConfigResource_t **res = calloc((size_t)n, sizeof *res);
    if (!res)
        abort();
    for (int k = 0; k < n; k++)
        res[k] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, info[k].md->topic);
    int rc = -1;
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (!opts)
        goto out;
    rd_kafka_DescribeConfigs(rk, res, (size_t)n, opts, q);
    rd_kafka_event_t *ev = tool_admin_wait(q, &a->o);
    if (!ev)
        goto out;
    size_t rn = 0;
    const rd_kafka_ConfigResource_t **rr =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &rn);
    for (size_t r = 0; r < rn; r++) {
        topics_info *ti = NULL;
        for (int k = 0; k < n && !ti; k++)
            if (strcmp(info[k].md->topic, rd_kafka_ConfigResource_name(rr[r])) == 0)
                ti = &info[k];
        if (!ti || rd_kafka_ConfigResource_error(rr[r]))
            continue;
        size_t cn = 0;
        const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rr[r], &cn);
        for (size_t c = 0; c < cn; c++) {
            if (rd_kafka_ConfigEntry_source(ce[c]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
                continue;
            const char *v = rd_kafka_ConfigEntry_is_sensitive(ce[c]) ? "null" : rd_kafka_ConfigEntry_value(ce[c]);
            topics_add_config(ti, rd_kafka_ConfigEntry_name(ce[c]), v);
        }
    }
    rd_kafka_event_destroy(ev);
    rc = 0;
out:
    rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy_array(res, (size_t)n);
    free(res);
    return rc;
}

static void topics_print_ids(FILE *f, const int32_t *ids, int n)
{
    for (int k = 0; k < n; k++)
        fprintf(f, "%s%d", k ? "," : "", ids[k]);
}

static bool topics_partition_shown(const topics_args *a, const rd_kafka_metadata_partition_t *p,
                                   int rf)
{
    if (a->unavailable && p->leader >= 0)
        return false;
    if (a->under_replicated && p->isr_cnt >= rf)
        return false;
    return true;
}

static void topics_describe_text(const topics_args *a, const topics_info *ti)
{
    const rd_kafka_metadata_topic_t *mt = ti->md;
    int rf = mt->partition_cnt > 0 ? mt->partitions[0].replica_cnt : 0;
    bool filter = a->under_replicated || a->unavailable;
    if (!filter) {
        printf("Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: ",
               mt->topic, ti->topic_id, mt->partition_cnt, rf);
        for (int c = 0; c < ti->configs_n; c++)
            printf("%s%s=%s", c ? "," : "", ti->keys[c], ti->values[c]);
        printf("\n");
    }
    if (a->with_overrides)
        return;
    for (int p = 0; p < mt->partition_cnt; p++) {
        const rd_kafka_metadata_partition_t *mp = &mt->partitions[p];
        if (!topics_partition_shown(a, mp, rf))
            continue;
        printf("\tTopic: %s\tPartition: %d\tLeader: ", mt->topic, mp->id);
        if (mp->leader >= 0)
            printf("%d", mp->leader);
        else
            printf("none");
        printf("\tReplicas: ");
        topics_print_ids(stdout, mp->replicas, mp->replica_cnt);
        printf("\tIsr: ");
        topics_print_ids(stdout, mp->isrs, mp->isr_cnt);
        printf("\n");
    }
}

static void topics_json_ids(const int32_t *ids, int n)
{
    printf("[");
    for (int k = 0; k < n; k++)
        printf("%s%d", k ? "," : "", ids[k]);
    printf("]");
}

static void topics_describe_json(const topics_args *a, const topics_info *ti, bool first)
{
    const rd_kafka_metadata_topic_t *mt = ti->md;
    int rf = mt->partition_cnt > 0 ? mt->partitions[0].replica_cnt : 0;
    printf("%s{\"name\":", first ? "" : ",");
    tool_json_str(stdout, mt->topic);
    printf(",\"topic_id\":\"%s\",\"internal\":%s,\"partition_count\":%d,\"replication_factor\":%d,"
           "\"configs\":{", ti->topic_id, ti->internal ? "true" : "false", mt->partition_cnt, rf);
    for (int c = 0; c < ti->configs_n; c++) {
        printf("%s", c ? "," : "");
        tool_json_str(stdout, ti->keys[c]);
        printf(":");
        tool_json_str(stdout, ti->values[c]);
    }
    printf("},\"partitions\":[");
    bool firstp = true;
    for (int p = 0; p < mt->partition_cnt; p++) {
        const rd_kafka_metadata_partition_t *mp = &mt->partitions[p];
        if (!topics_partition_shown(a, mp, rf))
            continue;
        printf("%s{\"partition\":%d,\"leader\":%d,\"replicas\":", firstp ? "" : ",", mp->id, mp->leader);
        topics_json_ids(mp->replicas, mp->replica_cnt);
        printf(",\"isr\":");
        topics_json_ids(mp->isrs, mp->isr_cnt);
        printf("}");
        firstp = false;
    }
    printf("]}");
}

static int topics_cmp_partition(const void *x, const void *y)
{
    const rd_kafka_metadata_partition_t *p = x, *q = y;
    return (p->id > q->id) - (p->id < q->id);
}

static int topics_describe(rd_kafka_t *rk, const topics_args *a)
{
    const struct rd_kafka_metadata *md;
    static const rd_kafka_metadata_topic_t *sel[TOPICS_NAMES_MAX];
    if (topics_metadata(rk, a, &md) < 0)
        return 1;
    int rc = 1;
    if (a->topic && !a->if_exists && topics_report_missing(a, md) > 0)
        goto out_md;
    int n = topics_select(a, md, sel);
    if (n < 0)
        goto out_md;
    topics_info *info = calloc((size_t)n + 1, sizeof *info);
    if (!info)
        abort();
    for (int k = 0; k < n; k++) {
        info[k].md = sel[k];
        info[k].internal = topics_name_internal(sel[k]->topic);
        strcpy(info[k].topic_id, "AAAAAAAAAAAAAAAAAAAAAA");
        /* librdkafka keeps the broker's order; Kafka prints by partition id */
        qsort(sel[k]->partitions, (size_t)sel[k]->partition_cnt, sizeof *sel[k]->partitions,
              topics_cmp_partition);
    }
    topics_fetch_ids(a, info, n);
    if (topics_fetch_configs(rk, a, info, n) < 0)
        goto out_info;
    if (a->o.json)
        printf("[");
    bool first = true;
    for (int k = 0; k < n; k++) {
        if (a->with_overrides && info[k].configs_n == 0)
            continue;
        if (a->o.json)
            topics_describe_json(a, &info[k], first);
        else
            topics_describe_text(a, &info[k]);
        first = false;
    }
    if (a->o.json)
        printf("]\n");
    rc = 0;
out_info:
    for (int k = 0; k < n; k++) {
        for (int c = 0; c < info[k].configs_n; c++) {
            free(info[k].keys[c]);
            free(info[k].values[c]);
        }
        free(info[k].keys);
        free(info[k].values);
    }
    free(info);
out_md:
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* ---- delete, alter ---- */

static int topics_delete(rd_kafka_t *rk, const topics_args *a)
{
    const struct rd_kafka_metadata *md;
    static const rd_kafka_metadata_topic_t *sel[TOPICS_NAMES_MAX];
    static rd_kafka_DeleteTopic_t *dt[TOPICS_NAMES_MAX];
    if (topics_metadata(rk, a, &md) < 0)
        return 1;
    int rc = 1;
    if (!a->if_exists && topics_report_missing(a, md) > 0)
        goto out_md;
    int n = topics_select(a, md, sel);
    if (n < 0)
        goto out_md;
    for (int k = 0; k < n; k++) {
        if (topics_name_internal(sel[k]->topic)) {
            tool_err("topics", "Topic %s is a kafka internal topic and is not allowed to be marked for deletion.",
                     sel[k]->topic);
            goto out_md;
        }
    }
    if (n == 0) {
        rc = 0;
        goto out_md;
    }
    for (int k = 0; k < n; k++)
        dt[k] = rd_kafka_DeleteTopic_new(sel[k]->topic);
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (opts) {
        rd_kafka_DeleteTopics(rk, dt, (size_t)n, opts, q);
        rd_kafka_event_t *ev = tool_admin_wait(q, &a->o);
        if (ev) {
            size_t rn = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &rn);
            rc = 0;
            for (size_t r = 0; r < rn; r++) {
                rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[r]);
                if (!err || (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && a->if_exists))
                    continue;
                const char *msg = rd_kafka_topic_result_error_string(res[r]);
                tool_err("topics", "cannot delete topic %s: %s", rd_kafka_topic_result_name(res[r]),
                         msg && *msg ? msg : rd_kafka_err2str(err));
                rc = 1;
            }
            if (rc == 0 && a->o.json) {
                printf("{\"deleted\":[");
                for (int k = 0; k < n; k++) {
                    printf(k ? "," : "");
                    tool_json_str(stdout, sel[k]->topic);
                }
                printf("]}\n");
            }
            rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
out_md:
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int topics_alter(rd_kafka_t *rk, const topics_args *a)
{
    const struct rd_kafka_metadata *md;
    static const rd_kafka_metadata_topic_t *sel[TOPICS_NAMES_MAX];
    static rd_kafka_NewPartitions_t *np[TOPICS_NAMES_MAX];
    char errstr[512];
    if (topics_metadata(rk, a, &md) < 0)
        return 1;
    int rc = 1;
    if (!a->if_exists && topics_report_missing(a, md) > 0)
        goto out_md;
    int n = topics_select(a, md, sel);
    if (n <= 0) {
        rc = n < 0;
        goto out_md;
    }
    for (int k = 0; k < n; k++) {
        np[k] = rd_kafka_NewPartitions_new(sel[k]->topic, (size_t)a->partitions, errstr, sizeof errstr);
        if (!np[k]) {
            tool_err("topics", "%s", errstr);
            rd_kafka_NewPartitions_destroy_array(np, (size_t)k);
            goto out_md;
        }
    }
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (opts) {
        rd_kafka_CreatePartitions(rk, np, (size_t)n, opts, q);
        rd_kafka_event_t *ev = tool_admin_wait(q, &a->o);
        if (ev) {
            size_t rn = 0;
            const rd_kafka_topic_result_t **res = rd_kafka_CreatePartitions_result_topics(
                rd_kafka_event_CreatePartitions_result(ev), &rn);
            rc = 0;
            for (size_t r = 0; r < rn; r++) {
                rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[r]);
                if (!err)
                    continue;
                const char *msg = rd_kafka_topic_result_error_string(res[r]);
                tool_err("topics", "%s", msg && *msg ? msg : rd_kafka_err2str(err));
                rc = 1;
            }
            if (rc == 0 && a->o.json)
                printf("{\"altered\":true,\"partitions\":%d}\n", a->partitions);
            rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy_array(np, (size_t)n);
out_md:
    rd_kafka_metadata_destroy(md);
    return rc;
}

int tool_topics_main(int argc, char **argv)
{
    topics_args a;
    tool_set_cmd("topics");
    int prc = topics_parse(&a, argc, argv);
    if (prc == 1) {
        topics_usage(stdout);
        return 0;
    }
    if (prc != 0)
        return 2;
    tool_install_signals();
    rd_kafka_t *rk = tool_admin_new(&a.o);
    if (!rk)
        return 1;
    int rc;
    switch (a.action) {
    case TA_CREATE: rc = topics_create(rk, &a); break;
    case TA_LIST: rc = topics_list(rk, &a); break;
    case TA_DESCRIBE: rc = topics_describe(rk, &a); break;
    case TA_DELETE: rc = topics_delete(rk, &a); break;
    default: rc = topics_alter(rk, &a); break;
    }
    rd_kafka_destroy(rk);
    return rc;
}
