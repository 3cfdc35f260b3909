/*
 * handle_quorum.c - the controller listener, the quorum's RPCs,
 * DescribeQuorum, and forwarding to the active controller.
 *
 * A node with the controller role in a cluster binds the listener named in
 * controller.listener.names. It serves what Kafka's controllers serve to
 * their peers and to the brokers: ApiVersions, the Raft RPCs (Vote,
 * BeginQuorumEpoch, EndQuorumEpoch, Fetch of __cluster_metadata-0,
 * FetchSnapshot: stepped by the quorum, metadata/quorum.h), DescribeQuorum,
 * DescribeCluster, and the admin requests brokers forward (CreateTopics,
 * DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs,
 * UpdateFeatures). Its ApiVersions lists exactly those, with the finalized
 * features as a broker's does.
 *
 * Forwarding: an admin request reaching a broker whose controller is not
 * the active one is sent, body unchanged, to the active controller's
 * listener, and its answer handed back to the client as is (Kafka's
 * brokers forward the same way, KIP-590). A request that arrived on a
 * controller listener is never forwarded again: it answers NOT_CONTROLLER.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "proto/kerrors.h"
#include "txn/pids.h"
#include "metadata/metalog.h"
#include "net/client.h"
#include "broker/reqstats.h"

/* ---- answering with bytes that arrive on another thread ---- */

typedef struct raw_answer {
    req *rq;
    size_t len;
    uint8_t body[];
} raw_answer;

static void raw_complete(reactor *r, void *arg)
{
    (void)r;
    raw_answer *a = arg;
    req *rq = a->rq;
    conn_resp_begin(rq);
    uint8_t *p = a->len ? kp_writer_reserve(&rq->out, a->len) : NULL;
    if (p)
        memcpy(p, a->body, a->len);
    conn_req_complete(rq);
    free(a);
}

/* Complete rq with an encoded response body, on its connection's reactor. */
static void answer_raw(req *rq, const uint8_t *body, size_t len)
{
    raw_answer *a = malloc(sizeof(*a) + len);
    if (!a) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    a->rq = rq;
    a->len = len;
    if (len)
        memcpy(a->body, body, len);
    reactor *r = conn_reactor(rq->conn);
    if (reactor_current() == r)
        raw_complete(r, a);
    else
        reactor_post(r, raw_complete, a);
}

static void rpc_done(void *arg, const uint8_t *body, size_t len) { answer_raw(arg, body, len); }

static void handle_raft_rpc(broker *b, req *rq)
{
    quorum *q = metalog_quorum(b->meta);
    if (!q) {
        broker_bad_request(rq, "this node is not in a metadata quorum");
        return;
    }
    quorum_handle(q, rq->hdr.api_key, rq->hdr.api_version, &rq->body, rpc_done, rq);
}

/* ---- forwarding ---- */

/* A forwarded request whose controller failed, or none is known yet
 * (an election), is tried again every FWD_RETRY_MS until a controller
 * answers, for up to FWD_DEADLINE_MS from its arrival: Kafka's brokers keep
 * a forwarded request until the new controller takes it. */
#define FWD_RETRY_MS 100
#define FWD_DEADLINE_MS 30000
#define FWD_VIA_CONTROLLER_MS 3000 /* below the forwarder's request timeout (5 s) */

typedef struct fwd {
    req *rq;
    broker *b;
    int32_t failed;             /* the controller that failed it, -1: none */
    reactor_timer timer;
} fwd;

static void fwd_retry_now(reactor *r, void *arg)
{
    (void)r;
    fwd *f = arg;
    req *rq = f->rq;
    int32_t ctl = metalog_controller_id(f->b->meta);
    if (clock_mono_ms() - rq->recv_ms > (rq->via_controller ? FWD_VIA_CONTROLLER_MS : FWD_DEADLINE_MS)) {
        broker_bad_request(rq, rq->via_controller ? "this node is not the active controller"
                                                  : "no metadata controller answered the forwarded request within 30 s");
        return;
    }
    if (ctl < 0 || (ctl == f->failed && ctl != f->b->node_id && !rq->via_controller)) {
        reactor_timer_arm(r, &f->timer, clock_mono_ms() + FWD_RETRY_MS);
        return;
    }
    /* a controller to try: run the request again from its body (it is
     * forwarded to it, or answered here if this node became the active one) */
    rq->body.pos = rq->body_start;
    broker_api_find(rq->hdr.api_key)->handle(f->b, rq);
}

static void fwd_schedule(reactor *r, void *arg)
{
    fwd *f = arg;
    reactor_timer_init(&f->timer, fwd_retry_now, f);
    reactor_timer_arm(r, &f->timer, clock_mono_ms() + FWD_RETRY_MS);
}

static void fwd_done(void *arg, int status, const uint8_t *body, size_t len)
{
    fwd *f = arg;
    if (status != CLIENT_OK) {
        glog(GLOG_INFO, "meta", "forwarding %s to controller %d failed (%s); waiting for a controller",
             kp_api_find(f->rq->hdr.api_key)->name, f->failed, client_status_str(status));
        reactor_post(conn_reactor(f->rq->conn), fwd_schedule, f);
        return;
    }
    answer_raw(f->rq, body, len);
}

bool broker_forward(broker *b, req *rq)
{
    quorum *q = metalog_quorum(b->meta);
    if (!q || metalog_is_active(b->meta))
        return false; /* this node's controller answers */
    if (rq->via_controller && clock_mono_ms() - rq->recv_ms > FWD_VIA_CONTROLLER_MS) {
        /* forwarded here, and this node did not become the active
         * controller: the forwarder tries again with the one it learns */
        broker_bad_request(rq, "this node is not the active controller");
        return true;
    }
    int32_t ctl = metalog_controller_id(b->meta);
    fwd *f = arena_alloc(&rq->arena, sizeof(*f));
    if (!f) {
        broker_bad_request(rq, "out of memory");
        return true;
    }
    memset(f, 0, sizeof(*f));
    f->rq = rq;
    f->b = b;
    f->failed = ctl;
    if (ctl < 0 || ctl == b->node_id || rq->via_controller) {
        /* an election, this node's controller catching up before it takes
         * over, or a forwarded request here: wait (Kafka's brokers hold a
         * request until a controller takes it; answering NOT_CONTROLLER made
         * confluent-kafka's CreateTopics fail in the fault schedules) */
        fwd_schedule(conn_reactor(rq->conn), f);
        return true;
    }
    const uint8_t *start = rq->body_start ? rq->body_start : rq->body.pos;
    size_t len = (size_t)(rq->frame + rq->frame_len - start);
    quorum_forward(q, ctl, rq->hdr.api_key, rq->hdr.api_version, start, len, fwd_done, f);
    return true;
}

bool broker_controller_elsewhere(broker *b)
{
    return metalog_quorum(b->meta) && !metalog_is_active(b->meta);
}

/* ---- DescribeQuorum ---- */

static void fill_replica(const raft_replica_state *s, int64_t mono_now, int64_t wall_now, int32_t *id, int64_t *leo,
                         int64_t *fetch_ts, int64_t *caught_ts)
{
    *id = s->replica_id;
    *leo = s->log_end_offset;
    *fetch_ts = s->last_fetch_timestamp < 0 ? -1 : s->last_fetch_timestamp - mono_now + wall_now;
    *caught_ts = s->last_caught_up_timestamp < 0 ? -1 : s->last_caught_up_timestamp - mono_now + wall_now;
}

void handle_describe_quorum(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_describe_quorum_req body;
    kp_describe_quorum_req_init(&body);
    if (kp_describe_quorum_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    quorum *q = metalog_quorum(b->meta);
    raft_quorum_info info;
    memset(&info, 0, sizeof info);
    if (q) {
        quorum_describe(q, &info);
        if (info.error != 0 && info.leader_id >= 0 && info.leader_id != b->node_id && broker_forward(b, rq))
            return;
    } else {
        /* A single node: the only voter, leader of its log. */
        info.leader_id = b->node_id;
        info.leader_epoch = 0;
        info.high_watermark = plog_end_offset(metalog_plog(b->meta));
        info.nvoters = 1;
        info.voters[0] = (raft_replica_state){ b->node_id, info.high_watermark, -1, -1 };
    }
    int64_t mono = clock_mono_ms(), wall = clock_now_ms();
    kp_describe_quorum_resp resp;
    kp_describe_quorum_resp_init(&resp);
    kp_describe_quorum_resp_topic *t = arena_alloc(&rq->arena, sizeof(*t));
    kp_describe_quorum_resp_partition *p = arena_alloc(&rq->arena, sizeof(*p));
    kp_describe_quorum_resp_topic_init(t);
    kp_describe_quorum_resp_partition_init(p);
    t->topic_name = kp_str_c(METALOG_TOPIC);
    t->partitions = p;
    t->partitions_n = 1;
    resp.topics = t;
    resp.topics_n = 1;
    p->partition_index = 0;
    p->error_code = info.error;
    if (info.error) {
        p->error_message = kp_str_c("This node is not the metadata quorum's leader.");
    }
    /* Kafka answers only for __cluster_metadata-0: any other topic or
     * partition asked is UNKNOWN_TOPIC_OR_PARTITION, with no quorum. */
    bool asked_ours = body.topics_n == 1 && kp_str_eq(body.topics[0].topic_name, METALOG_TOPIC) &&
                      body.topics[0].partitions_n == 1 && body.topics[0].partitions[0].partition_index == 0;
    if (!asked_ours) {
        if (body.topics_n == 1)
            t->topic_name = body.topics[0].topic_name;
        if (body.topics_n == 1 && body.topics[0].partitions_n == 1)
            p->partition_index = body.topics[0].partitions[0].partition_index;
        p->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        p->error_message = kp_str_c(kerr_message(KERR_UNKNOWN_TOPIC_OR_PARTITION));
        info.nvoters = info.nobservers = 0;
        info.leader_id = -1;
        info.leader_epoch = -1;
        info.high_watermark = -1;
    }
    p->leader_id = info.leader_id;
    p->leader_epoch = info.leader_epoch;
    p->high_watermark = info.high_watermark;
    p->current_voters = arena_alloc(&rq->arena, sizeof(*p->current_voters) * (size_t)(info.nvoters + 1));
    p->current_voters_n = info.nvoters;
    for (int i = 0; i < info.nvoters; i++) {
        kp_describe_quorum_resp_voter *v = &p->current_voters[i];
        kp_describe_quorum_resp_voter_init(v);
        fill_replica(&info.voters[i], mono, wall, &v->replica_id, &v->log_end_offset, &v->last_fetch_timestamp,
                     &v->last_caught_up_timestamp);
    }
    p->observers = arena_alloc(&rq->arena, sizeof(*p->observers) * (size_t)(info.nobservers + 1));
    p->observers_n = info.nobservers;
    for (int i = 0; i < info.nobservers; i++) {
        kp_describe_quorum_resp_observer *o = &p->observers[i];
        kp_describe_quorum_resp_observer_init(o);
        fill_replica(&info.observers[i], mono, wall, &o->replica_id, &o->log_end_offset, &o->last_fetch_timestamp,
                     &o->last_caught_up_timestamp);
    }
    /* v2: the voters' controller endpoints; a single node, the only voter,
     * answers on its client listener. */
    resp.nodes_n = 0;
    if (ver >= 2 && !q && asked_ours) {
        resp.nodes = arena_alloc(&rq->arena, sizeof(*resp.nodes));
        kp_describe_quorum_resp_listener *l = arena_alloc(&rq->arena, sizeof(*l));
        if (resp.nodes && l) {
            kp_describe_quorum_resp_node_init(resp.nodes);
            kp_describe_quorum_resp_listener_init(l);
            resp.nodes->node_id = b->node_id;
            l->name = kp_str_c(b->client_listener[0] ? b->client_listener : "PLAINTEXT");
            l->host = kp_str_c(b->adv_host);
            l->port = (uint16_t)b->adv_port;
            resp.nodes->listeners = l;
            resp.nodes->listeners_n = 1;
            resp.nodes_n = 1;
        }
    } else if (ver >= 2 && asked_ours) {
        resp.nodes = arena_alloc(&rq->arena, sizeof(*resp.nodes) * (size_t)(b->nvoters + 1));
        for (int i = 0; i < b->nvoters && resp.nodes; i++) {
            kp_describe_quorum_resp_node *n = &resp.nodes[resp.nodes_n++];
            kp_describe_quorum_resp_node_init(n);
            n->node_id = b->voters[i].id;
            n->listeners = arena_alloc(&rq->arena, sizeof(*n->listeners));
            kp_describe_quorum_resp_listener_init(n->listeners);
            n->listeners->name = kp_str_c(b->controller_listener[0] ? b->controller_listener : "CONTROLLER");
            n->listeners->host = kp_str_c(b->voters[i].host);
            n->listeners->port = (uint16_t)b->voters[i].port;
            n->listeners_n = 1;
        }
    }
    conn_resp_begin(rq);
    kp_describe_quorum_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}

/* ---- BrokerRegistration, BrokerHeartbeat (the active controller) ---- */

typedef struct reg_wait {
    req *rq;
    int16_t error;
    int64_t epoch;
    bool fenced, shutdown, heartbeat;
} reg_wait;

static void reg_answer(reactor *r, void *arg, int rc)
{
    (void)r;
    reg_wait *w = arg;
    req *rq = w->rq;
    int16_t error = rc == METALOG_NOT_CONTROLLER ? KERR_NOT_CONTROLLER : w->error;
    conn_resp_begin(rq);
    if (w->heartbeat) {
        kp_broker_heartbeat_resp resp;
        kp_broker_heartbeat_resp_init(&resp);
        resp.error_code = error;
        resp.is_caught_up = error == KERR_NONE && !w->fenced;
        resp.is_fenced = error != KERR_NONE || w->fenced;
        resp.should_shut_down = error == KERR_NONE && w->shutdown;
        kp_broker_heartbeat_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    } else {
        kp_broker_registration_resp resp;
        kp_broker_registration_resp_init(&resp);
        resp.error_code = error;
        resp.broker_epoch = error == KERR_NONE ? w->epoch : -1;
        kp_broker_registration_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    }
    conn_req_complete(rq);
}

static void reg_finish(broker *b, reg_wait *w, int64_t end)
{
    if (w->error == KERR_NONE && end >= 0)
        metalog_wait_applied(b->meta, end, conn_reactor(w->rq->conn), reg_answer, w);
    else
        reg_answer(NULL, w, 0);
}

static void handle_broker_registration(broker *b, req *rq)
{
    kp_broker_registration_req body;
    kp_broker_registration_req_init(&body);
    if (kp_broker_registration_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    reg_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    memset(w, 0, sizeof(*w));
    w->rq = rq;
    int64_t end = -1;
    if (!kp_str_eq(body.cluster_id, b->cluster_id)) {
        w->error = KERR_INCONSISTENT_CLUSTER_ID;
        glog(GLOG_WARN, "meta", "broker %d registers with cluster id %.*s; this cluster is %s", body.broker_id,
             body.cluster_id.len > 0 ? body.cluster_id.len : 0, body.cluster_id.ptr, b->cluster_id);
    } else {
        int n = body.listeners_n > 0 ? body.listeners_n : 0;
        mi_endpoint *eps = arena_alloc(&rq->arena, sizeof(*eps) * (size_t)(n ? n : 1));
        for (int i = 0; i < n && eps; i++) {
            const kp_broker_registration_req_listener *l = &body.listeners[i];
            eps[i].name = arena_strndup(&rq->arena, l->name.ptr, l->name.len > 0 ? (size_t)l->name.len : 0);
            eps[i].host = arena_strndup(&rq->arena, l->host.ptr, l->host.len > 0 ? (size_t)l->host.len : 0);
            eps[i].port = l->port;
            eps[i].security_protocol = l->security_protocol;
        }
        char *rack = body.rack.len >= 0 ? arena_strndup(&rq->arena, body.rack.ptr, (size_t)body.rack.len) : NULL;
        ctl_registration r = { body.broker_id, body.incarnation_id, eps, n, rack };
        char msg[256] = "";
        w->error = metalog_register_broker(b->meta, &r, false, &w->epoch, &end, msg, sizeof msg);
        if (w->error == KERR_NONE)
            glog(GLOG_INFO, "meta", "broker %d registered (epoch %lld, %s:%d)", r.id, (long long)w->epoch,
                 n ? eps[0].host : "?", n ? eps[0].port : 0);
    }
    reg_finish(b, w, end);
}

static void handle_broker_heartbeat(broker *b, req *rq)
{
    kp_broker_heartbeat_req body;
    kp_broker_heartbeat_req_init(&body);
    if (kp_broker_heartbeat_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    reg_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    memset(w, 0, sizeof(*w));
    w->rq = rq;
    w->heartbeat = true;
    if (body.broker_id >= 0) /* its close is news: see broker_controller_conn_closed */
        conn_set_peer_node(rq->conn, body.broker_id);
    int64_t end = -1;
    w->error = metalog_broker_heartbeat(b->meta, body.broker_id, body.broker_epoch, body.current_metadata_offset,
                                        body.want_fence, body.want_shut_down, &w->fenced, &w->shutdown, &end);
    reg_finish(b, w, end);
}

/* ---- AlterPartition (a partition leader's ISR change; the active controller) ---- */

typedef struct alter_wait {
    req *rq;
    kp_alter_partition_resp resp;
} alter_wait;

static void alter_answer(reactor *r, void *arg, int rc)
{
    (void)r;
    alter_wait *w = arg;
    if (rc == METALOG_NOT_CONTROLLER) {
        w->resp.error_code = KERR_NOT_CONTROLLER;
        w->resp.topics_n = 0;
    }
    conn_resp_begin(w->rq);
    kp_alter_partition_resp_encode(&w->rq->out, w->rq->hdr.api_version, &w->resp);
    conn_req_complete(w->rq);
}

static void handle_alter_partition(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_alter_partition_req body;
    kp_alter_partition_req_init(&body);
    if (kp_alter_partition_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    alter_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    if (!w) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    w->rq = rq;
    kp_alter_partition_resp_init(&w->resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    w->resp.topics = arena_alloc(&rq->arena, sizeof(*w->resp.topics) * (size_t)(nt ? nt : 1));
    w->resp.topics_n = w->resp.topics ? nt : 0;
    int64_t wait_for = -1;
    for (int i = 0; i < w->resp.topics_n; i++) {
        const kp_alter_partition_req_topic *t = &body.topics[i];
        kp_alter_partition_resp_topic *rt = &w->resp.topics[i];
        kp_alter_partition_resp_topic_init(rt);
        rt->topic_id = t->topic_id;
        int np = t->partitions_n > 0 ? t->partitions_n : 0;
        rt->partitions = arena_alloc(&rq->arena, sizeof(*rt->partitions) * (size_t)(np ? np : 1));
        rt->partitions_n = rt->partitions ? np : 0;
        for (int j = 0; j < rt->partitions_n; j++) {
            const kp_alter_partition_req_partition *p = &t->partitions[j];
            kp_alter_partition_resp_partition *rp = &rt->partitions[j];
            kp_alter_partition_resp_partition_init(rp);
            rp->partition_index = p->partition_index;
            int n = ver >= 3 ? p->new_isr_with_epochs_n : p->new_isr_n;
            int32_t *isr = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
            for (int k = 0; isr && k < n; k++)
                isr[k] = ver >= 3 ? p->new_isr_with_epochs[k].broker_id : p->new_isr[k];
            ctl_partition_state *st = arena_alloc(&rq->arena, sizeof(*st));
            int64_t end = -1;
            rp->error_code = !isr || !st ? KERR_UNKNOWN_SERVER_ERROR
                                         : metalog_alter_partition(b->meta, body.broker_id, body.broker_epoch,
                                                                   t->topic_id, p->partition_index, p->leader_epoch,
                                                                   p->partition_epoch, isr, n > 0 ? n : 0, st, &end);
            if (rp->error_code == KERR_NONE) {
                rp->leader_id = st->leader;
                rp->leader_epoch = st->leader_epoch;
                rp->partition_epoch = st->partition_epoch;
                rp->isr = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)st->nisr);
                if (rp->isr) {
                    memcpy(rp->isr, st->isr, sizeof(int32_t) * (size_t)st->nisr);
                    rp->isr_n = st->nisr;
                }
            } else {
                rp->leader_id = -1;
                rp->leader_epoch = -1;
            }
            if (end > wait_for)
                wait_for = end;
        }
    }
    if (wait_for >= 0)
        metalog_wait_applied(b->meta, wait_for, conn_reactor(rq->conn), alter_answer, w);
    else
        alter_answer(NULL, w, 0);
}

/* ---- AllocateProducerIds (a broker's producer-id block; the active controller) ---- */

typedef struct pid_block_wait {
    req *rq;
    kp_allocate_producer_ids_resp resp;
} pid_block_wait;

static void pid_block_answer(reactor *r, void *arg, int rc)
{
    (void)r;
    pid_block_wait *w = arg;
    if (rc == METALOG_NOT_CONTROLLER) {
        w->resp.error_code = KERR_NOT_CONTROLLER;
        w->resp.producer_id_start = -1;
        w->resp.producer_id_len = 0;
    }
    conn_resp_begin(w->rq);
    kp_allocate_producer_ids_resp_encode(&w->rq->out, w->rq->hdr.api_version, &w->resp);
    conn_req_complete(w->rq);
}

static void handle_allocate_producer_ids(broker *b, req *rq)
{
    kp_allocate_producer_ids_req body;
    kp_allocate_producer_ids_req_init(&body);
    if (kp_allocate_producer_ids_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    pid_block_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    if (!w) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    w->rq = rq;
    kp_allocate_producer_ids_resp_init(&w->resp);
    int64_t first = -1, end = -1;
    w->resp.error_code = metalog_allocate_producer_ids(b->meta, PIDS_BLOCK_SIZE, &first, &end);
    w->resp.producer_id_start = w->resp.error_code == KERR_NONE ? first : -1;
    w->resp.producer_id_len = w->resp.error_code == KERR_NONE ? PIDS_BLOCK_SIZE : 0;
    if (w->resp.error_code == KERR_NONE && end >= 0)
        metalog_wait_applied(b->meta, end, conn_reactor(rq->conn), pid_block_answer, w);
    else
        pid_block_answer(NULL, w, 0);
}

/* ---- the controller listener's dispatch ---- */

static const broker_api ctl_apis[] = {
    { KP_API_FETCH, handle_raft_rpc },
    { KP_API_CREATE_TOPICS, handle_create_topics },
    { KP_API_DELETE_TOPICS, handle_delete_topics },
    { KP_API_API_VERSIONS, NULL },
    { KP_API_ALTER_CONFIGS, handle_alter_configs },
    { KP_API_CREATE_PARTITIONS, handle_create_partitions },
    { KP_API_ELECT_LEADERS, handle_elect_leaders },
    { KP_API_ALTER_PARTITION_REASSIGNMENTS, handle_alter_partition_reassignments },
    { KP_API_LIST_PARTITION_REASSIGNMENTS, handle_list_partition_reassignments },
    { KP_API_INCREMENTAL_ALTER_CONFIGS, handle_incremental_alter_configs },
    { KP_API_VOTE, handle_raft_rpc },
    { KP_API_BEGIN_QUORUM_EPOCH, handle_raft_rpc },
    { KP_API_END_QUORUM_EPOCH, handle_raft_rpc },
    { KP_API_DESCRIBE_QUORUM, handle_describe_quorum },
    { KP_API_FETCH_SNAPSHOT, handle_raft_rpc },
    { KP_API_DESCRIBE_CLUSTER, handle_describe_cluster },
    { KP_API_BROKER_REGISTRATION, handle_broker_registration },
    { KP_API_BROKER_HEARTBEAT, handle_broker_heartbeat },
    { KP_API_ALTER_PARTITION, handle_alter_partition },
    { KP_API_ALLOCATE_PRODUCER_IDS, handle_allocate_producer_ids },
    { KP_API_UPDATE_FEATURES, handle_update_features },
};
#define NCTL ((int)(sizeof(ctl_apis) / sizeof(ctl_apis[0])))

static const broker_api *ctl_find(int16_t key)
{
    for (int i = 0; i < NCTL; i++)
        if (ctl_apis[i].key == key)
            return &ctl_apis[i];
    return NULL;
}

/* The versions served on the controller listener: what the codecs handle
 * (Fetch up to the codec's newest: the quorum's fetches are Gregor's own). */
static void ctl_range(const kp_api_info *info, int16_t *min, int16_t *max)
{
    *min = info->codec_min_version;
    *max = info->codec_max_version;
    if (info->key == KP_API_API_VERSIONS || info->key == KP_API_CREATE_TOPICS ||
        info->key == KP_API_DELETE_TOPICS || info->key == KP_API_ALTER_CONFIGS ||
        info->key == KP_API_CREATE_PARTITIONS || info->key == KP_API_INCREMENTAL_ALTER_CONFIGS ||
        info->key == KP_API_ELECT_LEADERS || info->key == KP_API_ALTER_PARTITION_REASSIGNMENTS ||
        info->key == KP_API_LIST_PARTITION_REASSIGNMENTS || info->key == KP_API_DESCRIBE_CLUSTER ||
        info->key == KP_API_UPDATE_FEATURES) {
        *min = info->min_version; /* the handlers' ranges */
        *max = info->max_version;
    }
}

/*
 * A broker's heartbeat connection closed. A process that dies (kill -9,
 * a crash, OOM) has its sockets closed by the kernel at once, so the
 * active controller ends its session one heartbeat interval from now
 * instead of broker.session.timeout.ms after its last heartbeat: a live
 * broker reconnects and heartbeats within that interval; a dead one is
 * fenced and its partitions get new leaders seconds sooner than Kafka's
 * controller, which waits the whole session. A broker cut off the network
 * closes nothing: its session runs out as in Kafka.
 */
void broker_controller_conn_closed(void *ctx, conn *c)
{
    broker *b = ctx;
    int32_t id = conn_peer_node(c);
    if (id < 0 || id == b->node_id || !metalog_is_active(b->meta))
        return;
    int64_t grace = config_get_num(&b->cfg, BCFG_BROKER_HEARTBEAT_INTERVAL_MS);
    glog(GLOG_INFO, "meta", "broker %d's heartbeat connection closed: fenced in %lld ms unless it heartbeats", id,
         (long long)grace);
    metalog_broker_disconnected(b->meta, id, config_get_num(&b->cfg, BCFG_BROKER_SESSION_TIMEOUT_MS), grace);
}

int broker_controller_check_header(void *ctx, conn *c, const kp_req_header *hdr)
{
    (void)ctx;
    const broker_api *api = ctl_find(hdr->api_key);
    const kp_api_info *info = kp_api_find(hdr->api_key);
    if (!api || !info) {
        glog(GLOG_WARN, "net", "closing controller connection from %s: API key %d is not served to controllers",
             conn_peer(c), hdr->api_key);
        return -1;
    }
    int16_t min, max;
    ctl_range(info, &min, &max);
    if ((hdr->api_version < min || hdr->api_version > max) && hdr->api_key != KP_API_API_VERSIONS) {
        glog(GLOG_WARN, "net", "closing controller connection from %s: %s v%d is not supported (v%d-v%d)",
             conn_peer(c), info->name, hdr->api_version, min, max);
        return -1;
    }
    return 0;
}

static void ctl_api_versions(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    const kp_api_info *self = kp_api_find(KP_API_API_VERSIONS);
    kp_api_versions_resp resp;
    kp_api_versions_resp_init(&resp);
    if (ver > self->max_version) {
        resp.error_code = KERR_UNSUPPORTED_VERSION;
        ver = 0;
    } else {
        kp_api_versions_req body;
        kp_api_versions_req_init(&body);
        if (kp_api_versions_req_decode(&rq->body, ver, &body) != 0)
            resp.error_code = KERR_INVALID_REQUEST;
    }
    resp.api_keys = arena_alloc(&rq->arena, sizeof(*resp.api_keys) * NCTL);
    resp.api_keys_n = 0;
    for (int16_t key = 0; key < 32767 && resp.api_keys && resp.api_keys_n < NCTL; key++) {
        if (!ctl_find(key))
            continue;
        if (resp.error_code == KERR_UNSUPPORTED_VERSION && key != KP_API_API_VERSIONS)
            continue;
        const kp_api_info *info = kp_api_find(key);
        kp_api_versions_resp_api_version *av = &resp.api_keys[resp.api_keys_n++];
        av->api_key = key;
        ctl_range(info, &av->min_version, &av->max_version);
    }
    broker_api_versions_features(b, rq, ver, &resp);
    rq->hdr.api_version = ver;
    conn_resp_begin(rq);
    kp_api_versions_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}

void broker_on_controller_request(void *ctx, req *rq)
{
    broker *b = ctx;
    rq->via_controller = true;
    rq->body_start = rq->body.pos;
    const broker_api *api = ctl_find(rq->hdr.api_key);
    glog(GLOG_DEBUG, "broker", "controller conn %s: %s v%d correlation id %d", conn_peer(rq->conn),
         kp_api_find(rq->hdr.api_key)->name, rq->hdr.api_version, rq->hdr.correlation_id);
    if (rq->hdr.api_key == KP_API_API_VERSIONS)
        ctl_api_versions(b, rq);
    else
        api->handle(b, rq);
}
