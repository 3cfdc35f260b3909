/*
 * dispatch.c - from a decoded request header to its handler, and
 * ApiVersions (KIP-511), whose table is built from what is dispatched here:
 * an API is advertised exactly when it has a handler, over the version range
 * the generated codec serves.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/reqstats.h"

static const broker_api apis[] = {
    { KP_API_PRODUCE, handle_produce },
    { KP_API_FETCH, handle_fetch },
    { KP_API_LIST_OFFSETS, handle_list_offsets },
    { KP_API_OFFSET_FOR_LEADER_EPOCH, handle_offset_for_leader_epoch },
    { KP_API_METADATA, handle_metadata },
    { KP_API_API_VERSIONS, handle_api_versions },
    { KP_API_CREATE_TOPICS, handle_create_topics },
    { KP_API_DELETE_TOPICS, handle_delete_topics },
    { KP_API_DESCRIBE_CONFIGS, handle_describe_configs },
    { KP_API_CREATE_PARTITIONS, handle_create_partitions },
    { KP_API_ELECT_LEADERS, handle_elect_leaders },
    { KP_API_ALTER_PARTITION_REASSIGNMENTS, handle_alter_partition_reassignments },
    { KP_API_LIST_PARTITION_REASSIGNMENTS, handle_list_partition_reassignments },
    { KP_API_DESCRIBE_CLUSTER, handle_describe_cluster },
    { KP_API_ALTER_CONFIGS, handle_alter_configs },
    { KP_API_INCREMENTAL_ALTER_CONFIGS, handle_incremental_alter_configs },
    { KP_API_FIND_COORDINATOR, handle_find_coordinator },
    { KP_API_JOIN_GROUP, handle_join_group },
    { KP_API_SYNC_GROUP, handle_sync_group },
    { KP_API_HEARTBEAT, handle_heartbeat },
    { KP_API_LEAVE_GROUP, handle_leave_group },
    { KP_API_OFFSET_COMMIT, handle_offset_commit },
    { KP_API_OFFSET_FETCH, handle_offset_fetch },
    { KP_API_DESCRIBE_GROUPS, handle_describe_groups },
    { KP_API_LIST_GROUPS, handle_list_groups },
    { KP_API_DELETE_GROUPS, handle_delete_groups },
    { KP_API_OFFSET_DELETE, handle_offset_delete },
    { KP_API_INIT_PRODUCER_ID, handle_init_producer_id },
    { KP_API_DESCRIBE_LOG_DIRS, handle_describe_log_dirs },
    { KP_API_DELETE_RECORDS, handle_delete_records },
    { KP_API_ADD_PARTITIONS_TO_TXN, handle_add_partitions_to_txn },
    { KP_API_ADD_OFFSETS_TO_TXN, handle_add_offsets_to_txn },
    { KP_API_END_TXN, handle_end_txn },
    { KP_API_TXN_OFFSET_COMMIT, handle_txn_offset_commit },
    { KP_API_DESCRIBE_PRODUCERS, handle_describe_producers },
    { KP_API_DESCRIBE_TRANSACTIONS, handle_describe_transactions },
    { KP_API_LIST_TRANSACTIONS, handle_list_transactions },
    { KP_API_WRITE_TXN_MARKERS, handle_write_txn_markers },
    { KP_API_DESCRIBE_QUORUM, handle_describe_quorum },
    { KP_API_UPDATE_FEATURES, handle_update_features },
};

const broker_api *broker_api_find(int16_t key)
{
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
        if (apis[i].key == key)
            return &apis[i];
    return NULL;
}

int broker_apis(const broker_api **out)
{
    *out = apis;
    return (int)(sizeof(apis) / sizeof(apis[0]));
}

int broker_check_header(void *ctx, conn *c, const kp_req_header *hdr)
{
    broker *b = ctx;
    const broker_api *api = broker_api_find(hdr->api_key);
    const kp_api_info *info = kp_api_find(hdr->api_key);
    if (!api || !info) {
        static glog_limit unknown_key = GLOG_LIMIT_INIT;
        reqstats_refused(b->reqstats, conn_tag(c), hdr->api_key, hdr->api_version);
        glog_limited(&unknown_key, GLOG_WARN, "net",
                     "closing connection from %s: unknown API key %d (correlation id %d)",
                     conn_peer(c), hdr->api_key, hdr->correlation_id);
        return -1;
    }
    if (hdr->api_version < info->min_version || hdr->api_version > info->max_version) {
        if (hdr->api_key == KP_API_API_VERSIONS)
            return 0; /* answered with UNSUPPORTED_VERSION and our ranges */
        static glog_limit bad_version = GLOG_LIMIT_INIT;
        reqstats_refused(b->reqstats, conn_tag(c), hdr->api_key, hdr->api_version);
        glog_limited(&bad_version, GLOG_WARN, "net",
                     "closing connection from %s: %s v%d is not supported (we serve v%d-v%d)",
                     conn_peer(c), info->name, hdr->api_version, info->min_version,
                     info->max_version);
        return -1;
    }
    return 0;
}

void broker_on_request(void *ctx, req *rq)
{
    broker *b = ctx;
    const broker_api *api = broker_api_find(rq->hdr.api_key);
    glog(GLOG_DEBUG, "broker", "conn %s: %s v%d correlation id %d, %d bytes", conn_peer(rq->conn),
         kp_api_find(rq->hdr.api_key)->name, rq->hdr.api_version, rq->hdr.correlation_id, rq->frame_len);
    if (b->reqstats && conn_tag(rq->conn) == 0 && rq->hdr.api_key != KP_API_API_VERSIONS)
        conn_set_tag(rq->conn, reqstats_software_by_client_id(b->reqstats, rq->hdr.client_id));
    if (rq->hdr.api_key != KP_API_API_VERSIONS) /* counted once it names the client */
        reqstats_count(b->reqstats, conn_tag(rq->conn), rq->hdr.api_key, rq->hdr.api_version);
    rq->body_start = rq->body.pos;
    api->handle(b, rq);
}

void broker_bad_request(req *rq, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "malformed %s v%d request (correlation id %d): %s",
             kp_api_find(rq->hdr.api_key)->name, rq->hdr.api_version, rq->hdr.correlation_id, why);
    static glog_limit malformed = GLOG_LIMIT_INIT;
    glog_limited(&malformed, GLOG_WARN, "net", "closing connection from %s: %s", conn_peer(rq->conn),
                 msg);
    rq->no_response = true;
    conn *c = rq->conn;
    conn_req_complete(rq);
    conn_close(c, true, NULL);
}

kp_str arena_kstr_n(arena *a, const char *s, int32_t n)
{
    char *p = arena_alloc(a, n > 0 ? (size_t)n : 1);
    if (p && n > 0)
        memcpy(p, s, (size_t)n);
    return (kp_str){ p, p ? (n > 0 ? n : 0) : -1 };
}

kp_str arena_kstr(arena *a, const char *s)
{
    if (!s)
        return KP_STR_NULL;
    size_t n = strlen(s);
    char *p = arena_strndup(a, s, n);
    return (kp_str){ p, p ? (int32_t)n : -1 };
}

void handle_api_versions(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    const kp_api_info *self = kp_api_find(KP_API_API_VERSIONS);
    kp_api_versions_resp resp;
    kp_api_versions_resp_init(&resp);
    if (ver > self->max_version) {
        /* KIP-511: answer in v0's shape so any client can read our range. */
        resp.error_code = KERR_UNSUPPORTED_VERSION;
        ver = 0;
    } else {
        kp_api_versions_req body;
        kp_api_versions_req_init(&body);
        if (kp_api_versions_req_decode(&rq->body, ver, &body) != 0) {
            /* KIP-511: a flexible body we cannot parse gets INVALID_REQUEST. */
            resp.error_code = KERR_INVALID_REQUEST;
        } else {
            if (ver >= 3)
                conn_set_tag(rq->conn, reqstats_software(b->reqstats, body.client_software_name,
                                                         body.client_software_version));
            /* KIP-1242 (v5): a client that names the cluster and node it
             * means to reach must name both, and learns when this is not
             * that node (REBOOTSTRAP_REQUIRED), as Kafka 4.4 answers. */
            bool has_cluster = body.cluster_id.len >= 0, has_node = body.node_id != -1;
            if (has_cluster != has_node)
                resp.error_code = KERR_INVALID_REQUEST;
            else if (has_cluster && (body.node_id != b->node_id || !kp_str_eq(body.cluster_id, b->cluster_id)))
                resp.error_code = KERR_REBOOTSTRAP_REQUIRED;
        }
    }
    int n = (int)(sizeof(apis) / sizeof(apis[0]));
    resp.api_keys = arena_alloc(&rq->arena, sizeof(*resp.api_keys) * (size_t)n);
    resp.api_keys_n = 0;
    for (int16_t key = 0; key < 32767 && resp.api_keys && resp.api_keys_n < n; key++) {
        const broker_api *api = broker_api_find(key);
        if (!api)
            continue;
        /* KIP-511 as Kafka answers it: a version it does not know gets just
         * the ApiVersions range, all a client needs to retry. */
        if (resp.error_code == KERR_UNSUPPORTED_VERSION && key != KP_API_API_VERSIONS)
            continue;
        if (resp.error_code != KERR_NONE && resp.error_code != KERR_UNSUPPORTED_VERSION)
            break; /* Kafka lists no API with INVALID_REQUEST or REBOOTSTRAP_REQUIRED */
        const kp_api_info *info = kp_api_find(key);
        kp_api_versions_resp_api_version *av = &resp.api_keys[resp.api_keys_n++];
        av->api_key = key;
        av->min_version = info->min_version;
        av->max_version = info->max_version;
    }
    broker_api_versions_features(b, rq, ver, &resp);
    reqstats_count(b->reqstats, conn_tag(rq->conn), KP_API_API_VERSIONS, rq->hdr.api_version);
    rq->hdr.api_version = ver; /* the response header version follows */
    conn_resp_begin(rq);
    kp_api_versions_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}
