/*
 * cluster.c - `gregor cluster`: the cluster id, the brokers, the controller
 * and the API versions the broker serves.
 *
 * Id, brokers and controller come from librdkafka (rd_kafka_clusterid,
 * rd_kafka_metadata, rd_kafka_controllerid); the API versions from one
 * ApiVersions v3 request of our own, since librdkafka keeps its answer to
 * itself. `gregor cluster cluster-id` prints Kafka's kafka-cluster.sh line.
 *
 * Fenced brokers: when the broker serves DescribeCluster v2 (KIP-1073,
 * Kafka 4.0 and later), the broker list comes from DescribeCluster v2 with
 * IncludeFencedBrokers, so that it shows every registered broker, fenced ones
 * included (Metadata leaves them out), with a FENCED column ("fenced" in
 * JSON). A broker that serves DescribeCluster 0-1 only (Gregor today) cannot
 * say which brokers are fenced: the column is left out then, and the output
 * is as it always was. librdkafka 2.0 does not speak v2, and our schema
 * stops at v1 (Kafka's JSON of our copy does), so the request is encoded and
 * decoded here (tool_flexible_request).
 * Main thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/tools.h"

enum cluster_what { CW_ALL, CW_ID, CW_BROKERS, CW_APIS };

/* One broker of DescribeCluster v2. */
typedef struct cluster_broker {
    int32_t id;
    char *host;
    int32_t port;
    bool fenced;
} cluster_broker;

typedef struct cluster_fenced_list {
    bool known; /* the broker served DescribeCluster v2 */
    cluster_broker *brokers;
    int32_t n;
} cluster_fenced_list;

static void cluster_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor cluster [describe | cluster-id | brokers | api-versions] [options]\n"
        "  describe      (default) cluster id, controller, brokers and the API versions served\n"
        "  cluster-id    only the cluster id, as kafka-cluster.sh cluster-id prints it\n"
        "  brokers       only the brokers (with FENCED when the broker serves DescribeCluster v2)\n"
        "  api-versions  only the API versions (NAME KEY MIN MAX)\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         client properties\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor cluster --bootstrap-server localhost:9092 --output json\n");
}

static int cluster_cmp_broker(const void *x, const void *y)
{
    const rd_kafka_metadata_broker_t *p = x, *q = y;
    return (p->id > q->id) - (p->id < q->id);
}

static int cluster_cmp_api(const void *x, const void *y)
{
    const kp_api_versions_resp_api_version *p = x, *q = y;
    return (p->api_key > q->api_key) - (p->api_key < q->api_key);
}

static const char *cluster_api_name(int16_t key, char *buf, size_t len)
{
    const kp_api_info *api = kp_api_find(key);
    if (api)
        return api->name;
    snprintf(buf, len, "Unknown(%d)", key);
    return buf;
}

/* ApiVersions v3 of our own; the answer lives in ar. */
static int cluster_api_versions(const tool_opts *o, arena *ar, kp_api_versions_resp *resp)
{
    kp_api_versions_req req;
    char err[256];
    kp_api_versions_req_init(&req);
    req.client_software_name = kp_str_c("gregor-tools");
    req.client_software_version = kp_str_c("1.0");
    if (tool_raw_request(o, KP_API_API_VERSIONS, 3, &req, resp, ar, err, sizeof err) < 0) {
        tool_err("cluster", "ApiVersions: %s", err);
        return -1;
    }
    if (resp->error_code) {
        tool_err("cluster", "ApiVersions: %s", kerr_name(resp->error_code));
        return -1;
    }
    if (resp->api_keys_n > 0)
        qsort(resp->api_keys, (size_t)resp->api_keys_n, sizeof *resp->api_keys, cluster_cmp_api);
    return 0;
}

static int cluster_cmp_fenced(const void *x, const void *y)
{
    const cluster_broker *p = x, *q = y;
    return (p->id > q->id) - (p->id < q->id);
}

/* DescribeCluster v2's request body: no authorized operations, the
 * brokers (endpoint type 1), fenced ones included. */
static void cluster_encode_v2(kp_writer *w, const void *unused)
{
    kp_write_bool(w, false);
    kp_write_int8(w, 1);
    kp_write_bool(w, true);
    kp_write_uvarint(w, 0);
}

static char *cluster_strdup(arena *ar, kp_str s)
{
    return arena_strndup(ar, s.len > 0 && s.ptr ? s.ptr : "", s.len > 0 ? (size_t)s.len : 0);
}

/* The brokers with their fenced state, from DescribeCluster v2 to the
 * broker that answered Metadata, if the bootstrap broker serves v2; fl->known
 * stays false otherwise. 0, or -1 after a one-line message. */
static int cluster_fenced(const tool_opts *o, arena *ar, const kp_api_versions_resp *av,
                          const struct rd_kafka_metadata *md, cluster_fenced_list *fl)
{
    memset(fl, 0, sizeof *fl);
    int16_t max = -1;
    for (int32_t k = 0; k < av->api_keys_n; k++)
        if (av->api_keys[k].api_key == KP_API_DESCRIBE_CLUSTER)
            max = av->api_keys[k].max_version;
    if (max < 2)
        return 0;
    const rd_kafka_metadata_broker_t *to = NULL;
    for (int b = 0; b < md->broker_cnt; b++)
        if (md->brokers[b].id == md->orig_broker_id || !to)
            to = &md->brokers[b];
    if (!to) {
        tool_err("cluster", "DescribeCluster: no broker to ask");
        return -1;
    }
    kp_reader r;
    if (tool_flexible_request(to->host, to->port, o->timeout_ms, KP_API_DESCRIBE_CLUSTER, 2,
                              cluster_encode_v2, NULL, ar, &r) < 0) {
        tool_err("cluster", "DescribeCluster v2: no answer from %s:%d within %d ms", to->host, to->port,
                 o->timeout_ms);
        return -1;
    }
    kp_read_int32(&r); /* throttle_time_ms */
    int16_t err = kp_read_int16(&r);
    kp_str msg = kp_read_string(&r, true);
    kp_read_int8(&r); /* endpoint_type */
    kp_read_string(&r, true); /* cluster_id */
    kp_read_int32(&r); /* controller_id */
    int32_t n = kp_read_array_len(&r, true, 8);
    if (r.err || n < 0) {
        tool_err("cluster", "DescribeCluster v2: cannot decode the answer");
        return -1;
    }
    if (err) {
        tool_err("cluster", "DescribeCluster v2: %s%s%.*s", kerr_name(err), msg.len > 0 ? ": " : "",
                 msg.len > 0 ? (int)msg.len : 0, msg.len > 0 ? msg.ptr : "");
        return -1;
    }
    fl->brokers = n ? arena_alloc(ar, sizeof *fl->brokers * (size_t)n) : NULL;
    if (n && !fl->brokers) {
        tool_err("cluster", "out of memory");
        return -1;
    }
    for (int32_t k = 0; k < n; k++) {
        cluster_broker *b = &fl->brokers[k];
        b->id = kp_read_int32(&r);
        b->host = cluster_strdup(ar, kp_read_string(&r, true));
        b->port = kp_read_int32(&r);
        kp_read_string(&r, true); /* rack */
        b->fenced = kp_read_bool(&r);
        kp_skip_tagged(&r);
    }
    if (r.err) {
        tool_err("cluster", "DescribeCluster v2: cannot decode the answer");
        return -1;
    }
    if (n > 1)
        qsort(fl->brokers, (size_t)n, sizeof *fl->brokers, cluster_cmp_fenced);
    fl->n = n;
    fl->known = true;
    return 0;
}

static void cluster_print_text(int what, const char *cluster_id, int32_t controller,
                               const struct rd_kafka_metadata *md, const kp_api_versions_resp *av,
                               const cluster_fenced_list *fl)
{
    if (what == CW_ID) {
        printf("Cluster ID: %s\n", cluster_id);
        return;
    }
    if (what == CW_ALL) {
        printf("Cluster ID: %s\n", cluster_id);
        printf("Controller: %d\n\n", controller);
    }
    if ((what == CW_ALL || what == CW_BROKERS) && fl->known) {
        static const char *const hdr[] = { "ID", "HOST", "PORT", "FENCED", "CONTROLLER" };
        tool_table *t = tool_table_new(5, hdr);
        for (int32_t b = 0; b < fl->n; b++) {
            tool_table_addf(t, 0, "%d", fl->brokers[b].id);
            tool_table_addf(t, 1, "%s", fl->brokers[b].host);
            tool_table_addf(t, 2, "%d", fl->brokers[b].port);
            tool_table_addf(t, 3, "%s", fl->brokers[b].fenced ? "yes" : "no");
            tool_table_addf(t, 4, "%s", fl->brokers[b].id == controller ? "yes" : "");
            tool_table_row_end(t);
        }
        tool_table_print(t, stdout);
        tool_table_free(t);
    } else if (what == CW_ALL || what == CW_BROKERS) {
        static const char *const hdr[] = { "ID", "HOST", "PORT", "CONTROLLER" };
        tool_table *t = tool_table_new(4, hdr);
        for (int b = 0; b < md->broker_cnt; b++) {
            tool_table_addf(t, 0, "%d", md->brokers[b].id);
            tool_table_addf(t, 1, "%s", md->brokers[b].host);
            tool_table_addf(t, 2, "%d", md->brokers[b].port);
            tool_table_addf(t, 3, "%s", md->brokers[b].id == controller ? "yes" : "");
            tool_table_row_end(t);
        }
        tool_table_print(t, stdout);
        tool_table_free(t);
    }
    if (what == CW_ALL)
        printf("\n");
    if (what == CW_ALL || what == CW_APIS) {
        static const char *const hdr[] = { "NAME", "KEY", "MIN", "MAX" };
        tool_table *t = tool_table_new(4, hdr);
        for (int k = 0; k < av->api_keys_n; k++) {
            char buf[32];
            const kp_api_versions_resp_api_version *v = &av->api_keys[k];
            tool_table_addf(t, 0, "%s", cluster_api_name(v->api_key, buf, sizeof buf));
            tool_table_addf(t, 1, "%d", v->api_key);
            tool_table_addf(t, 2, "%d", v->min_version);
            tool_table_addf(t, 3, "%d", v->max_version);
            tool_table_row_end(t);
        }
        tool_table_print(t, stdout);
        tool_table_free(t);
    }
}

static void cluster_print_json(int what, const char *cluster_id, int32_t controller,
                               const struct rd_kafka_metadata *md, const kp_api_versions_resp *av,
                               const cluster_fenced_list *fl)
{
    printf("{\"cluster_id\":");
    tool_json_str(stdout, cluster_id);
    printf(",\"controller_id\":%d", controller);
    if ((what == CW_ALL || what == CW_BROKERS) && fl->known) {
        printf(",\"brokers\":[");
        for (int32_t b = 0; b < fl->n; b++) {
            printf("%s{\"id\":%d,\"host\":", b ? "," : "", fl->brokers[b].id);
            tool_json_str(stdout, fl->brokers[b].host);
            printf(",\"port\":%d,\"fenced\":%s}", fl->brokers[b].port,
                   fl->brokers[b].fenced ? "true" : "false");
        }
        printf("]");
    } else if (what == CW_ALL || what == CW_BROKERS) {
        printf(",\"brokers\":[");
        for (int b = 0; b < md->broker_cnt; b++) {
            printf("%s{\"id\":%d,\"host\":", b ? "," : "", md->brokers[b].id);
            tool_json_str(stdout, md->brokers[b].host);
            printf(",\"port\":%d}", md->brokers[b].port);
        }
        printf("]");
    }
    if (what == CW_ALL || what == CW_APIS) {
        printf(",\"api_versions\":[");
        for (int k = 0; k < av->api_keys_n; k++) {
            char buf[32];
            const kp_api_versions_resp_api_version *v = &av->api_keys[k];
            printf("%s{\"name\":", k ? "," : "");
            tool_json_str(stdout, cluster_api_name(v->api_key, buf, sizeof buf));
            printf(",\"key\":%d,\"min\":%d,\"max\":%d}", v->api_key, v->min_version, v->max_version);
        }
        printf("]");
    }
    printf("}\n");
}

int tool_cluster_main(int argc, char **argv)
{
    tool_opts o;
    int what = CW_ALL;
    bool what_set = false;
    tool_set_cmd("cluster");
    tool_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = tool_opts_parse(&o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        int w = -1;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cluster_usage(stdout);
            return 0;
        } else if (strcmp(arg, "describe") == 0 || strcmp(arg, "--describe") == 0) {
            w = CW_ALL;
        } else if (strcmp(arg, "cluster-id") == 0 || strcmp(arg, "--cluster-id") == 0) {
            w = CW_ID;
        } else if (strcmp(arg, "brokers") == 0 || strcmp(arg, "--brokers") == 0) {
            w = CW_BROKERS;
        } else if (strcmp(arg, "api-versions") == 0 || strcmp(arg, "--api-versions") == 0) {
            w = CW_APIS;
        } else {
            tool_err("cluster", "unknown option %s (see gregor cluster --help)", arg);
            return 2;
        }
        if (what_set && w != what) {
            tool_err("cluster", "only one of describe, cluster-id, brokers, api-versions");
            return 2;
        }
        what = w;
        what_set = true;
    }
    tool_install_signals();
    rd_kafka_t *rk = tool_admin_new(&o);
    if (!rk)
        return 1;
    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    char *cluster_id = rd_kafka_clusterid(rk, o.timeout_ms);
    int32_t controller = rd_kafka_controllerid(rk, o.timeout_ms);
    arena ar;
    kp_api_versions_resp av;
    arena_init(&ar, 64u << 20);
    kp_api_versions_resp_init(&av);
    av.api_keys_n = 0;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, o.timeout_ms);
    if (err) {
        tool_err("cluster", "cannot get metadata from %s: %s", o.bootstrap, rd_kafka_err2str(err));
        goto out;
    }
    if (what != CW_ID && cluster_api_versions(&o, &ar, &av) < 0)
        goto out;
    cluster_fenced_list fl = { 0 };
    if ((what == CW_ALL || what == CW_BROKERS) && cluster_fenced(&o, &ar, &av, md, &fl) < 0)
        goto out;
    /* the metadata is ours to sort: librdkafka hands out a private copy */
    qsort(md->brokers, (size_t)md->broker_cnt, sizeof *md->brokers, cluster_cmp_broker);
    if (o.json)
        cluster_print_json(what, cluster_id ? cluster_id : "", controller, md, &av, &fl);
    else
        cluster_print_text(what, cluster_id ? cluster_id : "", controller, md, &av, &fl);
    rc = 0;
out:
    arena_deinit(&ar);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (cluster_id)
        rd_kafka_mem_free(rk, cluster_id);
    rd_kafka_destroy(rk);
    return rc;
}
