/*
 * handle_metadata.c - Metadata and DescribeCluster: who the brokers are,
 * which topics exist, and who leads each partition, as the committed
 * metadata image says (the same answer from every broker that has applied
 * the same log).
 * Metadata may auto-create topics (auto.create.topics.enable and the
 * request's allow_auto_topic_creation); the answer then waits until the
 * TopicRecords are committed and applied (the topic is in the table).
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

/* Which brokers are alive (registered, unfenced) in the image. */
static bool alive(const mimage *im, int32_t id)
{
    const mi_broker *br = mimage_broker(im, id);
    return br && !br->fenced;
}

/* A partition as the committed image has it: leader, epochs, replicas, ISR,
 * the replicas whose broker is not alive as offline (Kafka's
 * KRaftMetadataCache). */
static void fill_partition(req *rq, const mimage *im, const mi_partition *mp, int32_t i,
                           kp_metadata_resp_partition *out)
{
    kp_metadata_resp_partition_init(out);
    out->partition_index = i;
    out->leader_id = mp->leader;
    out->leader_epoch = mp->leader_epoch;
    out->error_code = mp->leader < 0 ? KERR_LEADER_NOT_AVAILABLE : KERR_NONE;
    int32_t *rep = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(mp->nreplicas + 1));
    int32_t *isr = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(mp->nisr + 1));
    int32_t *off = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(mp->nreplicas + 1));
    if (!rep || !isr || !off)
        return;
    memcpy(rep, mp->replicas, sizeof(int32_t) * (size_t)mp->nreplicas);
    memcpy(isr, mp->isr, sizeof(int32_t) * (size_t)mp->nisr);
    int noff = 0;
    for (int k = 0; k < mp->nreplicas; k++)
        if (!alive(im, mp->replicas[k]))
            off[noff++] = mp->replicas[k];
    out->replica_nodes = rep;
    out->replica_nodes_n = mp->nreplicas;
    out->isr_nodes = isr;
    out->isr_nodes_n = mp->nisr;
    out->offline_replicas = off;
    out->offline_replicas_n = noff;
}

static void fill_topic(broker *b, req *rq, const mimage *im, topic *tp, kp_metadata_resp_topic *mt)
{
    (void)b;
    kp_metadata_resp_topic_init(mt);
    mt->error_code = KERR_NONE;
    mt->name = (kp_str){ tp->name, tp->name_len };
    mt->topic_id = tp->id;
    mt->is_internal = tp->internal;
    const mi_topic *it = mimage_topic_by_id(im, tp->id);
    int32_t n = it ? it->nparts : 0;
    mt->partitions = arena_alloc(&rq->arena, sizeof(*mt->partitions) * (size_t)(n ? n : 1));
    mt->partitions_n = mt->partitions ? n : 0;
    for (int32_t i = 0; i < mt->partitions_n; i++)
        fill_partition(rq, im, &it->parts[i], i, &mt->partitions[i]);
}

/* The brokers a client may talk to: the alive ones, each with its endpoint
 * of this listener's name. */
static int fill_brokers(broker *b, req *rq, const mimage *im, bool with_fenced, kp_metadata_resp_broker **out)
{
    *out = arena_alloc(&rq->arena, sizeof(**out) * (size_t)(im->nbrokers + 1));
    int n = 0;
    for (int i = 0; i < im->nbrokers && *out; i++) {
        const mi_broker *br = &im->brokers[i];
        if (br->fenced && !with_fenced)
            continue;
        const mi_endpoint *ep = broker_client_endpoint(b, br);
        if (!ep)
            continue;
        kp_metadata_resp_broker *mb = &(*out)[n++];
        kp_metadata_resp_broker_init(mb);
        mb->node_id = br->id;
        mb->host = arena_kstr(&rq->arena, ep->host);
        mb->port = ep->port;
        mb->rack = br->rack ? arena_kstr(&rq->arena, br->rack) : KP_STR_NULL;
    }
    return n;
}

/* The controller id clients see: Kafka's brokers name a broker (requests
 * for the controller are forwarded); here the active controller when it is
 * also an alive broker, else the lowest alive broker. */
static int32_t client_controller_id(broker *b, const mimage *im)
{
    int32_t ctl = metalog_controller_id(b->meta);
    if (ctl >= 0 && alive(im, ctl))
        return ctl;
    for (int i = 0; i < im->nbrokers; i++)
        if (!im->brokers[i].fenced)
            return im->brokers[i].id;
    return -1;
}

static void md_respond(broker *b, req *rq, const kp_metadata_req *body)
{
    int16_t ver = rq->hdr.api_version;
    kp_metadata_resp resp;
    kp_metadata_resp_init(&resp);
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    resp.brokers_n = fill_brokers(b, rq, im, false, &resp.brokers);
    resp.cluster_id = kp_str_c(b->cluster_id);
    resp.controller_id = client_controller_id(b, im);
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
            fill_topic(b, rq, im, held[i], &resp.topics[resp.topics_n++]);
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
                fill_topic(b, rq, im, tp, mt);
                continue;
            }
            kp_metadata_resp_topic_init(mt);
            mt->name = rt->name;
            mt->topic_id = rt->topic_id;
            const char *why;
            if (rt->name.len >= 0 && !topic_name_valid(rt->name.ptr, rt->name.len, &why))
                mt->error_code = KERR_INVALID_TOPIC_EXCEPTION;
            else if (rt->name.len >= 0 && body->allow_auto_topic_creation && b->auto_create && b->nvoters > 0 &&
                     broker_controller_elsewhere(b))
                mt->error_code = KERR_LEADER_NOT_AVAILABLE; /* asked of the controller: being created */
            else
                mt->error_code = rt->name.len >= 0 ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_UNKNOWN_TOPIC_ID;
            mt->partitions_n = 0;
        }
    }
    metalog_read_unlock(b->meta);
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
        if (b->nvoters > 0 && broker_controller_elsewhere(b)) {
            /* Kafka's brokers ask the controller (AutoTopicCreationManager)
             * and answer LEADER_NOT_AVAILABLE meanwhile; the client asks again. */
            broker_forward_create_topic(b, cname, (int32_t)config_get_num(&b->cfg, BCFG_NUM_PARTITIONS),
                                        (int16_t)config_get_num(&b->cfg, BCFG_DEFAULT_REPLICATION_FACTOR));
            continue;
        }
        int16_t code = metalog_create_topic(b->meta, cname,
                                            (int32_t)config_get_num(&b->cfg, BCFG_NUM_PARTITIONS),
                                            (int16_t)config_get_num(&b->cfg, BCFG_DEFAULT_REPLICATION_FACTOR),
                                            NULL, NULL, 0, false, &id, &end, msg, sizeof(msg));
        if (code == KERR_NONE)
            wait_offset = end;
        else if (code != KERR_TOPIC_ALREADY_EXISTS)
            glog(GLOG_WARN, "meta", "auto-creating topic %s failed: %s", cname, kerr_name(code));
    }
    if (wait_offset >= 0) {
        metalog_wait_applied(b->meta, wait_offset, conn_reactor(rq->conn), md_created, op);
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
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    resp.controller_id = client_controller_id(b, im);
    if (body.endpoint_type == 2 && rq->via_controller && b->nvoters > 0) {
        /* asked of a controller for the controllers (Kafka's
         * --bootstrap-controller): the voters, and the active one */
        resp.controller_id = metalog_controller_id(b->meta);
        resp.brokers = arena_alloc(&rq->arena, sizeof(*resp.brokers) * (size_t)b->nvoters);
        resp.brokers_n = resp.brokers ? b->nvoters : 0;
        for (int i = 0; i < resp.brokers_n; i++) {
            kp_describe_cluster_resp_broker_init(&resp.brokers[i]);
            resp.brokers[i].broker_id = b->voters[i].id;
            resp.brokers[i].host = kp_str_c(b->voters[i].host);
            resp.brokers[i].port = b->voters[i].port;
            resp.brokers[i].rack = KP_STR_NULL;
        }
    } else if (body.endpoint_type != 1) {
        resp.error_code = KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = kp_str_c(rq->via_controller ? "This controller serves controller endpoints (type 2) only in a cluster."
                                                         : "Only broker endpoints (type 1) are served on this listener.");
        resp.brokers_n = 0;
    } else if (rq->via_controller) {
        resp.error_code = KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = kp_str_c("The controller listener serves controller endpoints (type 2).");
        resp.brokers_n = 0;
    } else {
        kp_metadata_resp_broker *mb;
        int n = fill_brokers(b, rq, im, body.include_fenced_brokers, &mb);
        resp.brokers = arena_alloc(&rq->arena, sizeof(*resp.brokers) * (size_t)(n + 1));
        resp.brokers_n = resp.brokers ? n : 0;
        for (int i = 0; i < resp.brokers_n; i++) {
            kp_describe_cluster_resp_broker_init(&resp.brokers[i]);
            resp.brokers[i].broker_id = mb[i].node_id;
            resp.brokers[i].host = mb[i].host;
            resp.brokers[i].port = mb[i].port;
            resp.brokers[i].rack = mb[i].rack;
            const mi_broker *br = mimage_broker(im, mb[i].node_id);
            resp.brokers[i].is_fenced = br && br->fenced;
        }
    }
    metalog_read_unlock(b->meta);
    conn_resp_begin(rq);
    kp_describe_cluster_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    conn_req_complete(rq);
}
