/*
 * reassign_configs.c - what `gregor reassign-partitions` asks and sets
 * besides the reassignments themselves: each replica's log directory
 * (DescribeLogDirs to the broker holding it, for the current assignments
 * Kafka 4.4 prints) and the replication throttles Kafka's tool sets and
 * clears (IncrementalAlterConfigs, a broker's configs to that broker).
 * Gregor does not throttle replication yet: a config the broker refuses is
 * reported on stderr as not supported, and the command goes on (see
 * reassign_partitions.c). Main thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/javaorder.h"
#include "proto/kerrors.h"
#include "tools/reassign.h"

#define CMD RP_CMD
#define RP_TEXT_MAX 4096

/* ---- log directories (DescribeLogDirs) ---- */

/* The replicas of broker id among v, as a DescribeLogDirs topic list. */
static int32_t rp_log_dirs_request(rp_ctx *c, int32_t id, const rp_tp *v, size_t n, kp_describe_log_dirs_req *req)
{
    kp_describe_log_dirs_req_init(req);
    req->topics = rp_alloc(c, sizeof *req->topics * n);
    req->topics_n = 0;
    for (size_t i = 0; i < n; i++) {
        bool hosts = false;
        for (size_t r = 0; r < v[i].replicas_n && !hosts; r++)
            hosts = v[i].replicas[r] == id;
        if (!hosts)
            continue;
        kp_describe_log_dirs_req_describable_log_dir_topic *t = NULL;
        for (int32_t k = 0; k < req->topics_n && !t; k++)
            if ((size_t)req->topics[k].topic.len == v[i].topic_len &&
                memcmp(req->topics[k].topic.ptr, v[i].topic, v[i].topic_len) == 0)
                t = &req->topics[k];
        if (!t) {
            t = &req->topics[req->topics_n++];
            kp_describe_log_dirs_req_describable_log_dir_topic_init(t);
            t->topic.ptr = v[i].topic;
            t->topic.len = (int32_t)v[i].topic_len;
            t->partitions = rp_alloc(c, sizeof *t->partitions * n);
        }
        t->partitions[t->partitions_n++] = v[i].partition;
    }
    return req->topics_n;
}

/* The current (not future) directories of broker id's answer, into v. */
static void rp_log_dirs_take(int32_t id, const kp_describe_log_dirs_resp *resp, rp_tp *v, size_t n)
{
    for (int32_t d = 0; d < resp->results_n; d++) {
        const kp_describe_log_dirs_resp_describe_log_dirs_result *dr = &resp->results[d];
        if (dr->error_code || dr->log_dir.len < 0)
            continue; /* an offline directory tells nothing */
        for (int32_t t = 0; t < dr->topics_n; t++)
            for (int32_t p = 0; p < dr->topics[t].partitions_n; p++) {
                if (dr->topics[t].partitions[p].is_future_key)
                    continue;
                for (size_t i = 0; i < n; i++) {
                    if (v[i].partition != dr->topics[t].partitions[p].partition_index ||
                        (size_t)dr->topics[t].name.len != v[i].topic_len ||
                        memcmp(dr->topics[t].name.ptr, v[i].topic, v[i].topic_len) != 0)
                        continue;
                    for (size_t r = 0; r < v[i].replicas_n; r++)
                        if (v[i].replicas[r] == id) {
                            v[i].dirs[r] = dr->log_dir.ptr;
                            v[i].dir_lens[r] = (size_t)dr->log_dir.len;
                        }
                }
            }
    }
}

int rp_log_dirs(rp_ctx *c, const kp_metadata_resp *md, rp_tp *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i].dirs = rp_alloc(c, sizeof *v[i].dirs * v[i].replicas_n);
        v[i].dir_lens = rp_alloc(c, sizeof *v[i].dir_lens * v[i].replicas_n);
    }
    int16_t ver = -1;
    for (int32_t b = 0; b < md->brokers_n; b++) {
        const kp_metadata_resp_broker *br = &md->brokers[b];
        kp_describe_log_dirs_req req;
        if (!rp_log_dirs_request(c, br->node_id, v, n, &req))
            continue; /* no replica there: Kafka's Node.isEmpty filter leaves out unknown brokers too */
        if (ver < 0 && rp_version(c, KP_API_DESCRIBE_LOG_DIRS, "DESCRIBE_LOG_DIRS", &ver) < 0)
            return -1;
        char *host = arena_strndup(&c->ar, br->host.ptr ? br->host.ptr : "", br->host.len > 0 ? (size_t)br->host.len : 0);
        if (!host)
            return rp_fail("out of memory"), -1;
        kp_describe_log_dirs_resp resp;
        char err[512];
        if (tool_raw_request_at(&c->o, host, br->port, KP_API_DESCRIBE_LOG_DIRS, ver, &req, &resp, &c->ar, err,
                                sizeof err) < 0) {
            tool_err(CMD, "DescribeLogDirs on broker %" PRId32 ": %s", br->node_id, err);
            return -1;
        }
        if (resp.error_code) {
            char buf[RP_TEXT_MAX];
            kerr_exception(resp.error_code, NULL, 0, buf, sizeof buf);
            return rp_fail("%s", buf), -1;
        }
        rp_log_dirs_take(br->node_id, &resp, v, n);
    }
    return 0;
}

/* ---- throttles (IncrementalAlterConfigs) ---- */

typedef struct rp_cfg_res {
    int8_t type;           /* 2 topic, 4 broker */
    char name[256];
    const char *keys[3];
    const char *values[3]; /* NULL: DELETE */
    int nkeys;
} rp_cfg_res;

/* One IncrementalAlterConfigs of res[0..n) to host:port (host NULL: the
 * bootstrap broker); a resource the broker refuses is reported on stderr
 * as "not supported" and skipped (Gregor does not throttle replication
 * yet). what names the change for that line. */
static void rp_configs_send(rp_ctx *c, const char *host, int32_t port, int16_t ver, const rp_cfg_res *res,
                            size_t n, const char *what)
{
    kp_incremental_alter_configs_req req;
    kp_incremental_alter_configs_req_init(&req);
    req.resources = rp_alloc(c, sizeof *req.resources * n);
    req.resources_n = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        kp_incremental_alter_configs_req_resource *r = &req.resources[i];
        kp_incremental_alter_configs_req_resource_init(r);
        r->resource_type = res[i].type;
        r->resource_name.ptr = res[i].name;
        r->resource_name.len = (int32_t)strlen(res[i].name);
        r->configs = rp_alloc(c, sizeof *r->configs * (size_t)res[i].nkeys);
        r->configs_n = res[i].nkeys;
        for (int k = 0; k < res[i].nkeys; k++) {
            kp_incremental_alter_configs_req_config_init(&r->configs[k]);
            r->configs[k].name.ptr = res[i].keys[k];
            r->configs[k].name.len = (int32_t)strlen(res[i].keys[k]);
            r->configs[k].config_operation = res[i].values[k] ? 0 : 1; /* SET, DELETE */
            r->configs[k].value.ptr = res[i].values[k];
            r->configs[k].value.len = res[i].values[k] ? (int32_t)strlen(res[i].values[k]) : -1;
        }
    }
    kp_incremental_alter_configs_resp resp;
    char err[512];
    if (tool_raw_request_at(&c->o, host, port, KP_API_INCREMENTAL_ALTER_CONFIGS, ver, &req, &resp, &c->ar, err,
                            sizeof err) < 0) {
        tool_err(CMD, "%s: IncrementalAlterConfigs: %s; throttling is not supported, going on without it", what, err);
        return;
    }
    for (int32_t i = 0; i < resp.responses_n; i++) {
        const kp_incremental_alter_configs_resp_resource *r = &resp.responses[i];
        if (!r->error_code)
            continue;
        char buf[RP_TEXT_MAX];
        kerr_exception(r->error_code, r->error_message.len >= 0 ? r->error_message.ptr : NULL,
                             r->error_message.len > 0 ? (size_t)r->error_message.len : 0, buf, sizeof buf);
        tool_err(CMD, "%s: the broker refused them for %s %.*s (%s); throttling is not supported, going on "
                      "without it", what, r->resource_type == 4 ? "broker" : "topic", (int)r->resource_name.len,
                 r->resource_name.ptr, buf);
    }
}

/* Kafka's incrementalAlterConfigs(...).all().get(): a broker's configs go
 * to that broker, the topics' to the bootstrap broker. A broker the
 * cluster does not have is Kafka's failure (its admin client waits 60 s
 * for the node first; this fails at once). 0, or -1 after "Error: ...". */
static int rp_configs(rp_ctx *c, const rp_cfg_res *res, size_t n, const char *what)
{
    if (!n)
        return 0;
    int16_t ver;
    if (rp_versions(c) < 0 || tool_api_version(&c->av, KP_API_INCREMENTAL_ALTER_CONFIGS, &ver) < 0) {
        tool_err(CMD, "%s: the broker does not serve IncrementalAlterConfigs; throttling is not supported, "
                      "going on without it", what);
        return 0;
    }
    size_t ntopics = 0;
    for (size_t i = 0; i < n; i++)
        ntopics += res[i].type != 4;
    kp_metadata_resp md;
    const kp_metadata_resp_broker **at = rp_alloc(c, sizeof *at * n);
    if (ntopics < n && rp_metadata(c, NULL, NULL, 0, &md) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (res[i].type != 4)
            continue;
        for (int32_t b = 0; b < md.brokers_n && !at[i]; b++) {
            char id[16];
            snprintf(id, sizeof id, "%" PRId32, md.brokers[b].node_id);
            if (strcmp(id, res[i].name) == 0)
                at[i] = &md.brokers[b];
        }
        if (!at[i])
            return rp_fail("org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node "
                           "assignment. Call: incrementalAlterConfigs"), -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].type != 4)
            continue;
        char *host = arena_strndup(&c->ar, at[i]->host.ptr ? at[i]->host.ptr : "",
                                   at[i]->host.len > 0 ? (size_t)at[i]->host.len : 0);
        if (!host)
            return rp_fail("out of memory"), -1;
        rp_configs_send(c, host, at[i]->port, ver, &res[i], 1, what);
    }
    if (ntopics) {
        rp_cfg_res *t = rp_alloc(c, sizeof *t * ntopics);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (res[i].type != 4)
                t[k++] = res[i];
        rp_configs_send(c, NULL, 0, ver, t, k, what);
    }
    return 0;
}

static const char *const rp_broker_throttles[] = { "leader.replication.throttled.rate",
                                                   "follower.replication.throttled.rate",
                                                   "replica.alter.log.dirs.io.max.bytes.per.second" };
static const char *const rp_topic_throttles[] = { "leader.replication.throttled.replicas",
                                                  "follower.replication.throttled.replicas" };

/* Kafka's clearAllThrottles: every broker of the cluster and of the
 * targets, every topic of the targets. 0, or -1 after a message. */
int rp_clear_throttles(rp_ctx *c, const rp_tp *targets, size_t n)
{
    kp_metadata_resp md;
    int32_t *ids;
    size_t nids;
    if (rp_broker_ids(c, &ids, &nids, &md) < 0)
        return -1;
    size_t total = nids;
    for (size_t i = 0; i < n; i++)
        total += targets[i].replicas_n;
    int32_t *b = rp_alloc(c, sizeof *b * (total + 1));
    memcpy(b, ids, sizeof *b * nids);
    size_t k = nids;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < targets[i].replicas_n; j++)
            b[k++] = targets[i].replicas[j];
    k = rp_int_unique(b, k);
    rp_int_java_order(b, k);
    tj_buf line = { .cmd = CMD };
    rp_buf_ints(&line, b, k, false);
    printf("Clearing broker-level throttles on broker%s %s\n", k == 1 ? "" : "s", line.p ? line.p : "");
    free(line.p);
    fflush(stdout);
    rp_cfg_res *res = rp_alloc(c, sizeof *res * (k + n));
    for (size_t i = 0; i < k; i++) {
        res[i].type = 4;
        snprintf(res[i].name, sizeof res[i].name, "%" PRId32, b[i]);
        res[i].nkeys = 3;
        for (int j = 0; j < 3; j++)
            res[i].keys[j] = rp_broker_throttles[j];
    }
    if (rp_configs(c, res, k, "Clearing broker-level throttles") < 0)
        return -1;
    /* topics: a HashSet<String> filled in the targets' order */
    rp_tp *topics = rp_alloc(c, sizeof *topics * n);
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nt; j++)
            if (topics[j].topic_len == targets[i].topic_len &&
                memcmp(topics[j].topic, targets[i].topic, targets[i].topic_len) == 0)
                break;
        if (j == nt)
            topics[nt++] = targets[i];
    }
    int32_t *hash = rp_alloc(c, sizeof *hash * nt);
    for (size_t i = 0; i < nt; i++)
        hash[i] = jo_string_hash(topics[i].topic, topics[i].topic_len);
    if (jo_put_reorder(topics, sizeof *topics, nt, hash, 16) < 0)
        return rp_fail("out of memory"), -1;
    line = (tj_buf){ .cmd = CMD };
    tj_buf_str(&line, "");
    for (size_t i = 0; i < nt; i++) {
        if (i)
            tj_buf_str(&line, ",");
        tj_buf_add(&line, topics[i].topic, topics[i].topic_len);
    }
    printf("Clearing topic-level throttles on topic%s %s\n", nt == 1 ? "" : "s", line.p);
    free(line.p);
    fflush(stdout);
    size_t nres = 0;
    for (size_t i = 0; i < nt; i++) {
        if (topics[i].topic_len >= sizeof res[0].name)
            continue;
        res[nres].type = 2;
        memcpy(res[nres].name, topics[i].topic, topics[i].topic_len);
        res[nres].name[topics[i].topic_len] = 0;
        res[nres].nkeys = 2;
        for (int j = 0; j < 2; j++) {
            res[nres].keys[j] = rp_topic_throttles[j];
            res[nres].values[j] = NULL;
        }
        nres++;
    }
    if (rp_configs(c, res, nres, "Clearing topic-level throttles") < 0)
        return -1;
    return 0;
}

/* Kafka's modifyReassignmentThrottle and modifyLogDirThrottle, sent as
 * Kafka sends them; refused ones are reported by rp_configs. */
int rp_set_throttles(rp_ctx *c, const kp_list_partition_reassignments_resp *cur, rp_tp *v, size_t n,
                             int64_t inter_broker, int64_t log_dir)
{
    if (inter_broker >= 0) {
        /* topic configs: "partition:broker" of the sources (leader) and of
         * the new replicas (follower), sorted as strings (a TreeSet) */
        rp_cfg_res *res = rp_alloc(c, sizeof *res * (n + 1));
        size_t nres = 0;
        char **leader = rp_alloc(c, sizeof *leader * n), **follower = rp_alloc(c, sizeof *follower * n);
        for (size_t i = 0; i < n; i++) {
            size_t t;
            for (t = 0; t < nres; t++)
                if (strlen(res[t].name) == v[i].topic_len && memcmp(res[t].name, v[i].topic, v[i].topic_len) == 0)
                    break;
            if (t == nres) {
                if (v[i].topic_len >= sizeof res[0].name)
                    continue;
                memcpy(res[nres].name, v[i].topic, v[i].topic_len);
                res[nres].type = 2;
                leader[nres] = rp_alloc(c, RP_TEXT_MAX);
                follower[nres] = rp_alloc(c, RP_TEXT_MAX);
                nres++;
            }
            const kp_list_partition_reassignments_resp_partition *r = rp_list_find(cur, &v[i]);
            const int32_t *src = r ? r->replicas : v[i].current;
            size_t nsrc = r ? (size_t)r->replicas_n : v[i].current_n;
            for (size_t s = 0; s < nsrc; s++) {
                bool adding = false;
                for (int32_t a = 0; r && a < r->adding_replicas_n; a++)
                    adding |= r->adding_replicas[a] == src[s];
                if (adding)
                    continue;
                size_t l = strlen(leader[t]);
                snprintf(leader[t] + l, RP_TEXT_MAX - l, "%s%" PRId32 ":%" PRId32, l ? "," : "", v[i].partition, src[s]);
            }
            for (size_t d = 0; d < v[i].replicas_n; d++) {
                bool source = false;
                for (size_t s = 0; s < nsrc; s++)
                    source |= src[s] == v[i].replicas[d];
                if (source)
                    continue;
                size_t l = strlen(follower[t]);
                snprintf(follower[t] + l, RP_TEXT_MAX - l, "%s%" PRId32 ":%" PRId32, l ? "," : "", v[i].partition,
                         v[i].replicas[d]);
            }
        }
        for (size_t t = 0; t < nres; t++) {
            res[t].nkeys = 2;
            res[t].keys[0] = rp_topic_throttles[0];
            res[t].values[0] = leader[t];
            res[t].keys[1] = rp_topic_throttles[1];
            res[t].values[1] = follower[t];
        }
        if (rp_configs(c, res, nres, "Setting the topic-level throttles") < 0)
            return -1;
        /* broker configs: every broker of the moves */
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += v[i].replicas_n + v[i].current_n;
        int32_t *b = rp_alloc(c, sizeof *b * (total + 1));
        size_t nb = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t r = 0; r < v[i].replicas_n; r++)
                b[nb++] = v[i].replicas[r];
            for (size_t r = 0; r < v[i].current_n; r++)
                b[nb++] = v[i].current[r];
        }
        nb = rp_int_unique(b, nb);
        char rate[32];
        snprintf(rate, sizeof rate, "%" PRId64, inter_broker);
        rp_cfg_res *bres = rp_alloc(c, sizeof *bres * (nb + 1));
        for (size_t i = 0; i < nb; i++) {
            bres[i].type = 4;
            snprintf(bres[i].name, sizeof bres[i].name, "%" PRId32, b[i]);
            bres[i].nkeys = 2;
            bres[i].keys[0] = rp_broker_throttles[0];
            bres[i].values[0] = rate;
            bres[i].keys[1] = rp_broker_throttles[1];
            bres[i].values[1] = rate;
        }
        if (rp_configs(c, bres, nb, "Setting the inter-broker throttle") < 0)
            return -1;
        printf("The inter-broker throttle limit was set to %" PRId64 " B/s\n", inter_broker);
        fflush(stdout);
    }
    if (log_dir >= 0) {
        /* no log directory moves are made (rp_parse_reassignment refuses
         * them), so Kafka's set of moving brokers is empty */
        printf("The replica-alter-dir throttle limit was set to %" PRId64 " B/s\n", log_dir);
        fflush(stdout);
    }
    return 0;
}

