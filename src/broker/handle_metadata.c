/*
 * handle_metadata.c - Metadata and DescribeCluster: who the brokers are,
 * which topics exist, and who leads each partition (always this node).
 * Metadata may auto-create topics (auto.create.topics.enable and the
 * request's allow_auto_topic_creation); the answer then waits until the
 * TopicRecords are durable in the metadata log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "metadata/metalog.h"

typedef struct md_op {
    broker *b;
    req *rq;
    kp_metadata_req body;
} md_op;

static void fill_partition(broker *b, req *rq, int16_t ver, topic *tp, int32_t i,
                           kp_metadata_resp_partition *mp)
{
    (void)ver;
    partition *p = topic_partition(tp, i);
    kp_metadata_resp_partition_init(mp);
    int32_t *nodes = arena_alloc(&rq->arena, sizeof(int32_t));
    if (nodes)
        nodes[0] = b->node_id;
    mp->error_code = KERR_NONE;
    mp->partition_index = i;
    mp->leader_id = b->node_id;
    mp->leader_epoch = p ? p->leader_epoch : 0;
    mp->replica_nodes = nodes;
    mp->replica_nodes_n = nodes ? 1 : 0;
    mp->isr_nodes = nodes;
    mp->isr_nodes_n = nodes ? 1 : 0;
    mp->offline_replicas_n = 0;
}

static void fill_topic(broker *b, req *rq, int16_t ver, topic *tp, kp_metadata_resp_topic *mt)
{
    kp_metadata_resp_topic_init(mt);
    mt->error_code = KERR_NONE;
    mt->name = (kp_str){ tp->name, tp->name_len };
    mt->topic_id = tp->id;
    mt->is_internal = tp->internal;
    int32_t n = topic_nparts(tp);
    mt->partitions = arena_alloc(&rq->arena, sizeof(*mt->partitions) * (size_t)(n ? n : 1));
    mt->partitions_n = mt->partitions ? n : 0;
    for (int32_t i = 0; i < mt->partitions_n; i++)
        fill_partition(b, rq, ver, tp, i, &mt->partitions[i]);
}

static void md_respond(broker *b, req *rq, const kp_metadata_req *body)
{
    int16_t ver = rq->hdr.api_version;
    kp_metadata_resp resp;
    kp_metadata_resp_init(&resp);
    resp.brokers = arena_alloc(&rq->arena, sizeof(*resp.brokers));
    resp.brokers_n = 1;
    kp_metadata_resp_broker_init(&resp.brokers[0]);
    resp.brokers[0].node_id = b->node_id;
    resp.brokers[0].host = kp_str_c(b->adv_host);
    resp.brokers[0].port = b->adv_port;
    resp.cluster_id = kp_str_c(b->cluster_id);
    resp.controller_id = b->node_id;
    /* References taken here are dropped after encoding. */
    topic **held = NULL;
    int nheld = 0;
    if (body->topics_n < 0 || (ver == 0 && body->topics_n == 0)) {
        nheld = topics_list(b->topics, &held);
        if (nheld < 0)
            nheld = 0;
        resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nheld ? nheld : 1));
        resp.topics_n = 0;
        for (int i = 0; i < nheld && resp.topics; i++)
            fill_topic(b, rq, ver, held[i], &resp.topics[resp.topics_n++]);
    } else {
        int n = body->topics_n;
        held = calloc((size_t)(n ? n : 1), sizeof(*held));
        resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(n ? n : 1));
        resp.topics_n = (held && resp.topics) ? n : 0;
        for (int i = 0; i < resp.topics_n; i++) {
            const kp_metadata_req_topic *rt = &body->topics[i];
            kp_metadata_resp_topic *mt = &resp.topics[i];
            topic *tp = rt->name.len >= 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len)
                                          : topics_get_by_id(b->topics, rt->topic_id);
            if (tp) {
                held[nheld++] = tp;
                fill_topic(b, rq, ver, tp, mt);
                continue;
            }
            kp_metadata_resp_topic_init(mt);
            mt->name = rt->name;
            mt->topic_id = rt->topic_id;
            const char *why;
            if (rt->name.len >= 0 && !topic_name_valid(rt->name.ptr, rt->name.len, &why))
                mt->error_code = KERR_INVALID_TOPIC_EXCEPTION;
            else
                mt->error_code = rt->name.len >= 0 ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_UNKNOWN_TOPIC_ID;
            mt->partitions_n = 0;
        }
    }
    conn_resp_begin(rq);
    kp_metadata_resp_encode(&rq->out, ver, &resp);
    for (int i = 0; i < nheld; i++)
        topic_unref(held[i]);
    free(held);
    conn_req_complete(rq);
}

static void md_created(reactor *r, void *arg, int rc)
{
    (void)r;
    md_op *op = arg;
    if (rc != LOG_OK)
        glog(GLOG_ERROR, "meta", "metadata log flush failed after auto-creating topics");
    md_respond(op->b, op->rq, &op->body);
}

void handle_metadata(broker *b, req *rq)
{
    md_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    op->b = b;
    op->rq = rq;
    kp_metadata_req_init(&op->body);
    if (kp_metadata_req_decode(&rq->body, rq->hdr.api_version, &op->body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    bool allow = op->body.allow_auto_topic_creation && b->auto_create;
    int64_t wait_offset = -1;
    for (int i = 0; allow && i < op->body.topics_n; i++) {
        kp_str name = op->body.topics[i].name;
        const char *why;
        if (name.len <= 0 || !topic_name_valid(name.ptr, name.len, &why))
            continue;
        topic *tp = topics_get(b->topics, name.ptr, name.len);
        if (tp) {
            topic_unref(tp);
            continue;
        }
        char *cname = arena_strndup(&rq->arena, name.ptr, (size_t)name.len);
        kp_uuid id;
        int64_t end;
        char msg[256];
        if (broker_fd_budget(b, config_get_num(&b->cfg, BCFG_NUM_PARTITIONS), msg, sizeof(msg)) != KERR_NONE) {
            glog(GLOG_WARN, "meta", "not auto-creating topic %s: %s", cname, msg);
            continue;
        }
        int16_t code = metalog_create_topic(b->meta, cname,
                                            (int32_t)config_get_num(&b->cfg, BCFG_NUM_PARTITIONS),
                                            (int16_t)config_get_num(&b->cfg, BCFG_DEFAULT_REPLICATION_FACTOR),
                                            NULL, 0, &id, &end, msg, sizeof(msg));
        if (code == KERR_NONE)
            wait_offset = end;
        else if (code != KERR_TOPIC_ALREADY_EXISTS)
            glog(GLOG_WARN, "meta", "auto-creating topic %s failed: %s", cname, kerr_name(code));
    }
    if (wait_offset >= 0) {
        flusher_wait(b->flusher, metalog_plog(b->meta), wait_offset, conn_reactor(rq->conn), md_created, op);
        return;
    }
    md_respond(b, rq, &op->body);
}

void handle_describe_cluster(broker *b, req *rq)
{
    kp_describe_cluster_req body;
    kp_describe_cluster_req_init(&body);
    if (kp_describe_cluster_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_cluster_resp resp;
    kp_describe_cluster_resp_init(&resp);
    resp.endpoint_type = body.endpoint_type;
    resp.cluster_id = kp_str_c(b->cluster_id);
    resp.controller_id = b->node_id;
    if (body.endpoint_type != 1) {
        resp.error_code = KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = kp_str_c("Only broker endpoints (type 1) are served.");
        resp.brokers_n = 0;
    } else {
        resp.brokers = arena_alloc(&rq->arena, sizeof(*resp.brokers));
        resp.brokers_n = resp.brokers ? 1 : 0;
        if (resp.brokers) {
            kp_describe_cluster_resp_broker_init(&resp.brokers[0]);
            resp.brokers[0].broker_id = b->node_id;
            resp.brokers[0].host = kp_str_c(b->adv_host);
            resp.brokers[0].port = b->adv_port;
        }
    }
    conn_resp_begin(rq);
    kp_describe_cluster_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}
