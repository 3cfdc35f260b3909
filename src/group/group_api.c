/*
 * group_api.c - the consumer-group APIs: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * DescribeGroups, ListGroups, DeleteGroups, OffsetDelete.
 *
 * Each handler decodes on its reactor thread, then takes the coordinator
 * lock for the group work. JoinGroup and SyncGroup park their request as a
 * token in the state machine; coordinator.c answers it when the machine
 * says so. OffsetCommit answers once its records are durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "group/coordinator_int.h"
#include "txn/tcoord.h"

#define KEY_TYPE_GROUP 0
#define KEY_TYPE_TRANSACTION 1
#define KEY_TYPE_SHARE 2

static char *cstr(req *rq, kp_str s)
{
    return s.len < 0 ? NULL : arena_strndup(&rq->arena, s.ptr, (size_t)s.len);
}

/*
 * A request's string as Kafka keeps it: Java decodes it as UTF-8 (malformed
 * bytes become U+FFFD) and every byte else, NUL included, stays. In rq's
 * arena, NUL-terminated after its bytes for the log; null stays null (and so
 * does a string the arena has no room for: the request then fails as if
 * it were absent, which it cannot be in a well-formed request).
 */
static grp_str jstr(req *rq, kp_str s)
{
    if (s.len < 0)
        return GRP_STR_NULL;
    char *d = arena_alloc(&rq->arena, (size_t)s.len * 3 + 1);
    if (!d)
        return GRP_STR_NULL;
    int32_t n = coord_java_utf8(s.ptr, s.len, d);
    d[n] = '\0';
    return (grp_str){ d, n };
}

/* jstr, with null as "". */
static grp_str jstr_nn(req *rq, kp_str s)
{
    grp_str r = jstr(rq, s);
    return r.len >= 0 ? r : (grp_str){ "", 0 };
}

#define KSTR(s) ((kp_str){ (s).ptr, (s).len })
#define KSTR_NN(s) ((s).len >= 0 ? KSTR(s) : kp_str_c(""))

static void respond(req *rq, void (*enc)(kp_writer *, int16_t, const void *), const void *resp)
{
    conn_resp_begin(rq);
    enc(&rq->out, rq->hdr.api_version, resp);
    conn_req_complete(rq);
}

#define RESPOND(rq, api, resp) respond((rq), (void (*)(kp_writer *, int16_t, const void *))kp_##api##_resp_encode, (resp))

/* Kafka shows a member's host as "/address". */
static char *client_host(req *rq)
{
    const char *peer = conn_peer(rq->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *h = arena_alloc(&rq->arena, n + 2);
    if (h) {
        h[0] = '/';
        memcpy(h + 1, peer, n);
    }
    return h;
}

/* ---- FindCoordinator ---- */

static void find_one(broker *b, req *rq, int8_t key_type, kp_str key, int16_t *error, kp_str *msg, int32_t *node,
                     kp_str *host, int32_t *port)
{
    *node = -1;
    *host = kp_str_c("");
    *port = -1;
    *msg = KP_STR_NULL;
    const char *tname;
    int32_t part;
    if (key_type == KEY_TYPE_TRANSACTION) {
        if (key.len <= 0) {
            *error = KERR_INVALID_REQUEST;
            *msg = kp_str_c("Transactional id must be non-empty.");
            return;
        }
        tname = "__transaction_state";
        grp_str tid = jstr(rq, key);
        part = tcoord_partition_of(b->tcoord, tid.ptr, tid.len);
    } else if (key_type == KEY_TYPE_GROUP) {
        if (key.len <= 0) {
            *error = KERR_INVALID_GROUP_ID;
            return;
        }
        coordinator *c = b->coord;
        pthread_mutex_lock(&c->lock);
        int16_t code = coord_ensure_topic(c);
        grp_str gid = jstr(rq, key);
        part = code == KERR_NONE ? coord_partition_for(gid.ptr, gid.len, c->nparts) : -1;
        pthread_mutex_unlock(&c->lock);
        tname = COORD_TOPIC;
    } else {
        *error = KERR_INVALID_REQUEST;
        *msg = kp_str_c("Unknown coordinator key type.");
        return;
    }
    if (part < 0) {
        *error = KERR_COORDINATOR_NOT_AVAILABLE;
        *msg = arena_kstr(&rq->arena, key_type == KEY_TYPE_TRANSACTION
                                          ? "The __transaction_state topic is not there yet (or could not be created; see the broker log)."
                                          : "The __consumer_offsets topic is not there yet (or could not be created; see the broker log).");
        return;
    }
    *error = broker_coordinator_of(b, tname, part, node, host, port, &rq->arena);
    if (*error != KERR_NONE) {
        char m[128];
        snprintf(m, sizeof m, "%s-%d has no leader at the moment.", tname, part);
        *msg = arena_kstr(&rq->arena, m);
    }
}

void handle_find_coordinator(broker *b, req *rq)
{
    kp_find_coordinator_req body;
    kp_find_coordinator_req_init(&body);
    if (kp_find_coordinator_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_find_coordinator_resp resp;
    kp_find_coordinator_resp_init(&resp);
    if (rq->hdr.api_version < 4) {
        find_one(b, rq, body.key_type, body.key, &resp.error_code, &resp.error_message, &resp.node_id, &resp.host, &resp.port);
        if (resp.error_code == KERR_NONE)
            resp.error_message = kp_str_c("NONE"); /* Kafka: Errors.NONE.message() */
    } else {
        int n = body.coordinator_keys_n > 0 ? body.coordinator_keys_n : 0;
        resp.coordinators = arena_alloc(&rq->arena, sizeof(*resp.coordinators) * (size_t)(n ? n : 1));
        resp.coordinators_n = resp.coordinators ? n : 0;
        for (int i = 0; i < resp.coordinators_n; i++) {
            kp_find_coordinator_resp_coordinator *co = &resp.coordinators[i];
            kp_find_coordinator_resp_coordinator_init(co);
            co->key = body.coordinator_keys[i];
            if (body.key_type == KEY_TYPE_SHARE && rq->hdr.api_version >= 6) {
                /* Kafka 4.4 without share groups refuses the whole request:
                 * every key INVALID_REQUEST, no node, an empty message */
                co->error_code = KERR_INVALID_REQUEST;
                co->error_message = kp_str_c("");
                co->node_id = -1;
                co->host = kp_str_c("");
                co->port = -1;
                continue;
            }
            find_one(b, rq, body.key_type, co->key, &co->error_code, &co->error_message, &co->node_id, &co->host, &co->port);
            co->error_message = kp_str_c(""); /* Kafka 4.4 sets none from v4 on: the default "" */
        }
    }
    RESPOND(rq, find_coordinator, &resp);
}

/* ---- JoinGroup / SyncGroup ---- */

static void join_error_now(req *rq, int16_t code)
{
    kp_join_group_resp resp;
    kp_join_group_resp_init(&resp);
    resp.error_code = code;
    resp.protocol_name = rq->hdr.api_version >= 7 ? KP_STR_NULL : kp_str_c("");
    resp.leader = kp_str_c("");
    resp.member_id = kp_str_c("");
    resp.members_n = 0;
    RESPOND(rq, join_group, &resp);
}

void handle_join_group(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_join_group_req body;
    kp_join_group_req_init(&body);
    if (kp_join_group_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    if (body.group_id.len <= 0 || atomic_load(&b->shutting_down)) {
        join_error_now(rq, body.group_id.len <= 0 ? KERR_INVALID_GROUP_ID : KERR_NOT_COORDINATOR);
        return;
    }
    int np = body.protocols_n > 0 ? body.protocols_n : 0;
    grp_protocol *protos = arena_alloc(&rq->arena, sizeof(*protos) * (size_t)(np ? np : 1));
    for (int i = 0; i < np && protos; i++) {
        protos[i].name = jstr(rq, body.protocols[i].name);
        protos[i].metadata = (grp_bytes){ body.protocols[i].metadata.ptr, body.protocols[i].metadata.len };
    }
    grp_join_req jr = {
        .token = rq,
        .version = ver,
        .member_id = jstr_nn(rq, body.member_id),
        .group_instance_id = jstr(rq, body.group_instance_id),
        .client_id = jstr_nn(rq, rq->hdr.client_id),
        .client_host = grp_str_c(client_host(rq)),
        .session_timeout_ms = body.session_timeout_ms,
        .rebalance_timeout_ms = ver >= 1 ? body.rebalance_timeout_ms : body.session_timeout_ms,
        .protocol_type = jstr_nn(rq, body.protocol_type),
        .protocols = protos,
        .nprotocols = protos ? np : 0,
        .reason = cstr(rq, body.reason),
    };
    grp_str gid = jstr(rq, body.group_id);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    int16_t code = coord_owner_check(c, gid.ptr, gid.len, true);
    cgroup *cg = code == KERR_NONE ? coord_group_get_or_create(c, gid.ptr, gid.len) : NULL;
    if (!cg) {
        pthread_mutex_unlock(&c->lock);
        join_error_now(rq, code != KERR_NONE ? code : KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    grp_join(cg->g, &jr, clock_mono_ms(), &c->acts);
    coord_run_actions(c, cg);
    coord_kick(c);
    pthread_mutex_unlock(&c->lock);
}

static void sync_error_now(req *rq, int16_t code)
{
    kp_sync_group_resp resp;
    kp_sync_group_resp_init(&resp);
    resp.error_code = code;
    resp.assignment = (kp_bytes){ (const uint8_t *)"", 0 };
    RESPOND(rq, sync_group, &resp);
}

void handle_sync_group(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_sync_group_req body;
    kp_sync_group_req_init(&body);
    if (kp_sync_group_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    if (body.group_id.len <= 0 || atomic_load(&b->shutting_down)) {
        sync_error_now(rq, body.group_id.len <= 0 ? KERR_INVALID_GROUP_ID : KERR_NOT_COORDINATOR);
        return;
    }
    int na = body.assignments_n > 0 ? body.assignments_n : 0;
    grp_str *ids = arena_alloc(&rq->arena, sizeof(*ids) * (size_t)(na ? na : 1));
    grp_bytes *bytes = arena_alloc(&rq->arena, sizeof(*bytes) * (size_t)(na ? na : 1));
    for (int i = 0; i < na && ids && bytes; i++) {
        ids[i] = jstr(rq, body.assignments[i].member_id);
        bytes[i] = (grp_bytes){ body.assignments[i].assignment.ptr, body.assignments[i].assignment.len };
    }
    grp_sync_req sr = {
        .token = rq,
        .member_id = jstr_nn(rq, body.member_id),
        .group_instance_id = jstr(rq, body.group_instance_id),
        .generation_id = body.generation_id,
        .protocol_type = jstr(rq, body.protocol_type),
        .protocol_name = jstr(rq, body.protocol_name),
        .assign_member_ids = ids,
        .assign_bytes = bytes,
        .nassign = (ids && bytes) ? na : 0,
    };
    grp_str gid = jstr(rq, body.group_id);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    int16_t code = coord_owner_check(c, gid.ptr, gid.len, false);
    cgroup *cg = code == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
    if (!cg) {
        pthread_mutex_unlock(&c->lock);
        sync_error_now(rq, code != KERR_NONE ? code : KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    grp_sync(cg->g, &sr, clock_mono_ms(), &c->acts);
    coord_run_actions(c, cg);
    coord_kick(c);
    pthread_mutex_unlock(&c->lock);
}

/* ---- Heartbeat / LeaveGroup ---- */

void handle_heartbeat(broker *b, req *rq)
{
    kp_heartbeat_req body;
    kp_heartbeat_req_init(&body);
    if (kp_heartbeat_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_heartbeat_resp resp;
    kp_heartbeat_resp_init(&resp);
    grp_str gid = jstr(rq, body.group_id);
    if (gid.len <= 0) {
        resp.error_code = KERR_INVALID_GROUP_ID;
    } else {
        coordinator *c = b->coord;
        pthread_mutex_lock(&c->lock);
        int16_t code = coord_owner_check(c, gid.ptr, gid.len, false);
        cgroup *cg = code == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
        if (!cg) {
            resp.error_code = code != KERR_NONE ? code : KERR_UNKNOWN_MEMBER_ID;
        } else {
            resp.error_code = grp_heartbeat(cg->g, jstr_nn(rq, body.member_id), jstr(rq, body.group_instance_id),
                                            body.generation_id, clock_mono_ms(), &c->acts);
            coord_run_actions(c, cg);
        }
        pthread_mutex_unlock(&c->lock);
    }
    RESPOND(rq, heartbeat, &resp);
}

void handle_leave_group(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_leave_group_req body;
    kp_leave_group_req_init(&body);
    if (kp_leave_group_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_leave_group_resp resp;
    kp_leave_group_resp_init(&resp);
    grp_str gid = jstr(rq, body.group_id);
    int n = ver >= 3 ? (body.members_n > 0 ? body.members_n : 0) : 1;
    resp.members = arena_alloc(&rq->arena, sizeof(*resp.members) * (size_t)(n ? n : 1));
    resp.members_n = ver >= 3 && resp.members ? n : 0;
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    int16_t owner = gid.len > 0 ? coord_owner_check(c, gid.ptr, gid.len, false) : KERR_NONE;
    if (owner != KERR_NONE) {
        pthread_mutex_unlock(&c->lock);
        resp.error_code = owner;
        resp.members_n = 0;
        RESPOND(rq, leave_group, &resp);
        return;
    }
    cgroup *cg = gid.len > 0 ? coord_group_find(c, gid.ptr, gid.len) : NULL;
    for (int i = 0; i < n; i++) {
        grp_str mid = jstr_nn(rq, ver >= 3 ? body.members[i].member_id : body.member_id);
        grp_str iid = ver >= 3 ? jstr(rq, body.members[i].group_instance_id) : GRP_STR_NULL;
        int16_t code = gid.len <= 0 ? KERR_INVALID_GROUP_ID
                       : !cg ? KERR_UNKNOWN_MEMBER_ID
                             : grp_leave(cg->g, mid, iid, clock_mono_ms(), &c->acts);
        if (cg)
            coord_run_actions(c, cg);
        if (ver >= 3 && resp.members) {
            kp_leave_group_resp_member_init(&resp.members[i]);
            resp.members[i].member_id = KSTR(mid);
            resp.members[i].group_instance_id = KSTR(iid);
            resp.members[i].error_code = code;
        } else {
            resp.error_code = code;
        }
    }
    coord_kick(c);
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, leave_group, &resp);
}

/* ---- OffsetCommit ---- */

/* v10 names topics by id: each entry's name becomes its topic's (in rq's
 * arena), null when no topic has that id. The coordinator keeps offsets by
 * name, as Kafka does. Works on OffsetCommit's and OffsetFetch's topic
 * entries alike (name and topic_id at the same places). */
#define topics_by_id(b, rq, v, n)                                                    \
    do {                                                                             \
        for (int i_ = 0; i_ < (n); i_++) {                                           \
            topic *tp_ = topics_get_by_id((b)->topics, (v)[i_].topic_id);            \
            (v)[i_].name = tp_ ? arena_kstr_n(&(rq)->arena, tp_->name, tp_->name_len) \
                               : KP_STR_NULL;                                        \
            topic_unref(tp_);                                                        \
        }                                                                            \
    } while (0)

typedef struct commit_op {
    req *rq;
    kp_offset_commit_resp resp;
} commit_op;

/* A commit's write did not reach every in-sync replica: Kafka's mapping
 * of the append's error to the coordinator's. */
static int16_t commit_wait_error(int rc)
{
    return rc == PART_WAIT_NOT_LEADER ? KERR_NOT_COORDINATOR
           : rc == PART_WAIT_TIMEOUT  ? KERR_COORDINATOR_NOT_AVAILABLE
                                      : KERR_KAFKA_STORAGE_ERROR;
}

static void commit_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    commit_op *op = arg;
    if (rc != LOG_OK) {
        int16_t code = commit_wait_error(rc);
        for (int i = 0; i < op->resp.topics_n; i++)
            for (int j = 0; j < op->resp.topics[i].partitions_n; j++)
                if (op->resp.topics[i].partitions[j].error_code == KERR_NONE)
                    op->resp.topics[i].partitions[j].error_code = code;
    }
    RESPOND(op->rq, offset_commit, &op->resp);
}

/* Fill resp's shape from the request with every partition set to code. */
static void commit_shape(req *rq, const kp_offset_commit_req *body, kp_offset_commit_resp *resp, int16_t code)
{
    kp_offset_commit_resp_init(resp);
    int nt = body->topics_n > 0 ? body->topics_n : 0;
    resp->topics = arena_alloc(&rq->arena, sizeof(*resp->topics) * (size_t)(nt ? nt : 1));
    resp->topics_n = resp->topics ? nt : 0;
    for (int i = 0; i < resp->topics_n; i++) {
        kp_offset_commit_resp_topic *t = &resp->topics[i];
        kp_offset_commit_resp_topic_init(t);
        t->name = body->topics[i].name;
        t->topic_id = body->topics[i].topic_id;
        /* v10: a topic id no topic has (topics_by_id left its name null)
         * is UNKNOWN_TOPIC_ID whatever the group says, as in Kafka, where
         * KafkaApis answers it before the coordinator sees the request */
        bool unknown_id = rq->hdr.api_version >= 10 && body->topics[i].name.len < 0;
        int np = body->topics[i].partitions_n > 0 ? body->topics[i].partitions_n : 0;
        t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
        t->partitions_n = t->partitions ? np : 0;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_offset_commit_resp_partition_init(&t->partitions[j]);
            t->partitions[j].partition_index = body->topics[i].partitions[j].partition_index;
            t->partitions[j].error_code = unknown_id ? KERR_UNKNOWN_TOPIC_ID : code;
        }
    }
}

/* Per-partition checks; returns the commits that may go ahead. */
static int commit_collect(broker *b, req *rq, const kp_offset_commit_req *body, kp_offset_commit_resp *resp,
                          commit_in **out)
{
    int total = 0;
    for (int i = 0; i < resp->topics_n; i++)
        total += resp->topics[i].partitions_n;
    commit_in *in = arena_alloc(&rq->arena, sizeof(*in) * (size_t)(total ? total : 1));
    int n = 0;
    for (int i = 0; i < resp->topics_n && in; i++) {
        const kp_offset_commit_req_topic *rt = &body->topics[i];
        if (rq->hdr.api_version >= 10 && rt->name.len < 0)
            continue; /* UNKNOWN_TOPIC_ID already */
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        for (int j = 0; j < resp->topics[i].partitions_n; j++) {
            const kp_offset_commit_req_partition *rp = &rt->partitions[j];
            kp_offset_commit_resp_partition *pr = &resp->topics[i].partitions[j];
            if (!topic_has_partition(tp, rp->partition_index)) {
                pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            /* Kafka measures the metadata in Java chars, not bytes */
            if (rp->committed_metadata.len > b->coord->metadata_bytes_max &&
                coord_java_length(rp->committed_metadata.ptr, rp->committed_metadata.len) > b->coord->metadata_bytes_max) {
                pr->error_code = KERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            grp_str md = jstr(rq, rp->committed_metadata);
            /* v1: the client's commit timestamp, kept as Kafka 3.9 kept it */
            bool ts = rq->hdr.api_version == 1 && rp->commit_timestamp != -1;
            in[n++] = (commit_in){ rt->name.ptr, rt->name.len, rp->partition_index, rp->committed_offset,
                                   rp->committed_leader_epoch, md.ptr, md.len, ts, rp->commit_timestamp };
        }
        topic_unref(tp);
    }
    *out = in;
    return in ? n : 0;
}

void handle_offset_commit(broker *b, req *rq)
{
    kp_offset_commit_req body;
    kp_offset_commit_req_init(&body);
    if (kp_offset_commit_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    commit_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    op->rq = rq;
    if (rq->hdr.api_version == 0) {
        /* Kafka 3.9 (KRaft) kept v0 commits in ZooKeeper only: every
         * partition of a topic it knows UNSUPPORTED_VERSION, the others
         * UNKNOWN_TOPIC_OR_PARTITION (checked first). Kafka 4 serves v2 up. */
        commit_shape(rq, &body, &op->resp, KERR_UNSUPPORTED_VERSION);
        for (int i = 0; i < op->resp.topics_n; i++) {
            kp_str n = body.topics[i].name;
            topic *tp = n.len > 0 ? topics_get(b->topics, n.ptr, n.len) : NULL;
            for (int j = 0; j < op->resp.topics[i].partitions_n; j++)
                if (!topic_has_partition(tp, op->resp.topics[i].partitions[j].partition_index))
                    op->resp.topics[i].partitions[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            topic_unref(tp);
        }
        RESPOND(rq, offset_commit, &op->resp);
        return;
    }
    if (rq->hdr.api_version >= 10)
        topics_by_id(b, rq, body.topics, body.topics_n);
    grp_str gid = jstr(rq, body.group_id);
    if (gid.len <= 0) {
        commit_shape(rq, &body, &op->resp, KERR_INVALID_GROUP_ID);
        RESPOND(rq, offset_commit, &op->resp);
        return;
    }
    grp_str mid = jstr_nn(rq, body.member_id);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    int16_t code = coord_owner_check(c, gid.ptr, gid.len, true);
    cgroup *cg = code == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
    if (code == KERR_NONE && !cg) {
        if (body.generation_id_or_member_epoch < 0)
            cg = coord_group_get_or_create(c, gid.ptr, gid.len); /* a simple consumer's group */
        else
            code = KERR_ILLEGAL_GENERATION;
    }
    if (code == KERR_NONE && !cg)
        code = KERR_COORDINATOR_NOT_AVAILABLE;
    if (code == KERR_NONE)
        code = grp_validate_commit(cg->g, mid, jstr(rq, body.group_instance_id),
                                   body.generation_id_or_member_epoch, clock_mono_ms());
    commit_shape(rq, &body, &op->resp, code);
    int64_t end = -1;
    partition *log = NULL;
    if (code == KERR_NONE) {
        commit_in *in;
        int n = commit_collect(b, rq, &body, &op->resp, &in);
        int64_t now = clock_now_ms();
        int64_t expire = rq->hdr.api_version <= 4 && body.retention_time_ms >= 0 ? now + body.retention_time_ms : -1;
        int16_t wcode = n > 0 ? coord_commit(c, cg, in, n, now, expire, &end, &log) : KERR_NONE;
        if (wcode != KERR_NONE) {
            end = -1;
            for (int i = 0; i < op->resp.topics_n; i++)
                for (int j = 0; j < op->resp.topics[i].partitions_n; j++)
                    if (op->resp.topics[i].partitions[j].error_code == KERR_NONE)
                        op->resp.topics[i].partitions[j].error_code = wcode;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (end >= 0 && log)
        partition_wait_acked(log, end, clock_mono_ms() + c->commit_timeout_ms, conn_reactor(rq->conn), commit_durable,
                             op);
    else
        RESPOND(rq, offset_commit, &op->resp);
}

/* ---- TxnOffsetCommit ---- */

typedef struct txn_commit_op {
    req *rq;
    broker *b;
    kp_txn_offset_commit_req body;
    kp_txn_offset_commit_resp resp;
    int16_t code;               /* the verification's (or the implicit add's) answer */
} txn_commit_op;

static void txn_commit_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    txn_commit_op *op = arg;
    for (int i = 0; i < op->resp.topics_n; i++)
        for (int j = 0; j < op->resp.topics[i].partitions_n; j++)
            if (rc != LOG_OK && op->resp.topics[i].partitions[j].error_code == KERR_NONE)
                op->resp.topics[i].partitions[j].error_code = commit_wait_error(rc);
    req *rq = op->rq;
    RESPOND(rq, txn_offset_commit, &op->resp);
}

/* The group's part, once the transaction coordinator said the group's
 * __consumer_offsets partition is in the transaction (op->code 0). */
static void txn_commit_group(txn_commit_op *op)
{
    broker *b = op->b;
    req *rq = op->rq;
    kp_txn_offset_commit_req *body = &op->body;
    int16_t code = op->code;
    int nt = body->topics_n > 0 ? body->topics_n : 0, total = 0;
    for (int i = 0; i < nt; i++)
        total += body->topics[i].partitions_n > 0 ? body->topics[i].partitions_n : 0;
    commit_in *in = arena_alloc(&rq->arena, sizeof(*in) * (size_t)(total ? total : 1));
    op->resp.topics = arena_alloc(&rq->arena, sizeof(*op->resp.topics) * (size_t)(nt ? nt : 1));
    if (!in || !op->resp.topics) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    op->resp.topics_n = nt;
    grp_str gid = jstr(rq, body->group_id);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    cgroup *cg = NULL;
    if (code == KERR_NONE)
        code = coord_owner_check(c, gid.ptr, gid.len, true);
    if (code == KERR_NONE) {
        cg = coord_group_find(c, gid.ptr, gid.len);
        if (!cg && body->generation_id_or_member_epoch < 0)
            cg = coord_group_get_or_create(c, gid.ptr, gid.len);
        else if (!cg)
            code = KERR_ILLEGAL_GENERATION;
        if (cg && body->generation_id_or_member_epoch >= 0)
            code = grp_validate_commit(cg->g, jstr_nn(rq, body->member_id), jstr(rq, body->group_instance_id),
                                       body->generation_id_or_member_epoch, clock_mono_ms());
    }
    int n = 0;
    for (int i = 0; i < op->resp.topics_n; i++) {
        kp_txn_offset_commit_req_topic *rt = &body->topics[i];
        kp_txn_offset_commit_resp_topic *t = &op->resp.topics[i];
        kp_txn_offset_commit_resp_topic_init(t);
        t->name = rt->name;
        t->topic_id = rt->topic_id;
        /* v6: a topic id no topic has is UNKNOWN_TOPIC_ID */
        bool unknown_id = rq->hdr.api_version >= 6 && rt->name.len < 0;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
        t->partitions_n = t->partitions ? np : 0;
        topic *tp = code == KERR_NONE && rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_txn_offset_commit_req_partition *rp = &rt->partitions[j];
            kp_txn_offset_commit_resp_partition *pr = &t->partitions[j];
            kp_txn_offset_commit_resp_partition_init(pr);
            pr->partition_index = rp->partition_index;
            /* v6: an unknown topic id is answered before the transaction or the group is asked (KafkaApis) */
            pr->error_code = unknown_id ? KERR_UNKNOWN_TOPIC_ID : code;
            if (code != KERR_NONE || unknown_id)
                continue;
            if (!tp || rp->partition_index < 0 || rp->partition_index >= topic_nparts(tp)) {
                pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (rp->committed_metadata.len > c->metadata_bytes_max &&
                       coord_java_length(rp->committed_metadata.ptr, rp->committed_metadata.len) > c->metadata_bytes_max) {
                pr->error_code = KERR_OFFSET_METADATA_TOO_LARGE;
            } else {
                grp_str md = jstr(rq, rp->committed_metadata);
                in[n++] = (commit_in){ rt->name.ptr, rt->name.len, rp->partition_index, rp->committed_offset,
                                       rp->committed_leader_epoch, md.ptr, md.len, false, 0 };
            }
        }
        topic_unref(tp);
    }
    int64_t end = -1;
    partition *log = NULL;
    if (code == KERR_NONE && n > 0) {
        char why[256] = "";
        int16_t wcode = coord_txn_commit(c, cg, body->producer_id, body->producer_epoch, in, n, clock_now_ms(),
                                         &end, &log, why, sizeof why);
        if (wcode != KERR_NONE) {
            end = -1;
            if (why[0])
                glog(GLOG_INFO, "group", "TxnOffsetCommit of group %s refused: %s", gid.ptr, why);
            for (int i = 0; i < op->resp.topics_n; i++)
                for (int j = 0; j < op->resp.topics[i].partitions_n; j++)
                    if (op->resp.topics[i].partitions[j].error_code == KERR_NONE)
                        op->resp.topics[i].partitions[j].error_code = wcode;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (end >= 0 && log)
        partition_wait_acked(log, end, clock_mono_ms() + c->commit_timeout_ms, conn_reactor(rq->conn),
                             txn_commit_durable, op);
    else
        RESPOND(rq, txn_offset_commit, &op->resp);
}

static void txn_commit_added_on_reactor(reactor *r, void *arg)
{
    (void)r;
    txn_commit_op *op = arg;
    /* as Kafka's AddPartitionsToTxnManager and the group coordinator's
     * normalisation turn the coordinator's answer into the commit's */
    if (op->code == KERR_PRODUCER_FENCED)
        op->code = KERR_INVALID_PRODUCER_EPOCH;
    else if (op->code == KERR_NETWORK_EXCEPTION || op->code == KERR_COORDINATOR_LOAD_IN_PROGRESS ||
             op->code == KERR_NOT_COORDINATOR)
        op->code = KERR_COORDINATOR_NOT_AVAILABLE;
    txn_commit_group(op);
}

static void txn_commit_added(void *arg, int16_t error)
{
    txn_commit_op *op = arg;
    op->code = error;
    reactor_post(conn_reactor(op->rq->conn), txn_commit_added_on_reactor, op); /* never inline: a lock may be held */
}

/*
 * The offsets of a consume-transform-produce transaction: written to the
 * group's __consumer_offsets partition as a transactional batch of the
 * producer, and the group's committed offsets only when the transaction's
 * COMMIT marker lands there (coord_txn_marker). Before the group sees the
 * request, as in Kafka, the transaction coordinator checks that the
 * group's partition is in the producer's transaction (v0-4: AddOffsetsToTxn
 * put it there) or - v5+, transactions V2 - adds it.
 */
void handle_txn_offset_commit(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    txn_commit_op *op = arena_alloc(&rq->arena, sizeof(*op));
    if (!op) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    kp_txn_offset_commit_req_init(&op->body);
    if (kp_txn_offset_commit_req_decode(&rq->body, ver, &op->body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_txn_offset_commit_req *body = &op->body;
    op->rq = rq;
    op->b = b;
    kp_txn_offset_commit_resp_init(&op->resp);
    bool any_known = false;
    if (ver >= 6)
        topics_by_id(b, rq, body->topics, body->topics_n);
    for (int i = 0; i < body->topics_n; i++)
        any_known |= body->topics[i].name.len >= 0;
    grp_str gid = jstr(rq, body->group_id);
    op->code = gid.len <= 0 ? KERR_INVALID_GROUP_ID : KERR_NONE;
    if (!any_known) {
        txn_commit_group(op); /* nothing the coordinators need to see (Kafka answers at once) */
        return;
    }
    coordinator *c = b->coord;
    if (op->code == KERR_NONE) {
        pthread_mutex_lock(&c->lock);
        int32_t part = coord_ensure_topic(c) == KERR_NONE ? coord_partition_for(gid.ptr, gid.len, c->nparts) : -1;
        pthread_mutex_unlock(&c->lock);
        if (part >= 0 && ver >= 5) {
            const char *tname = "__consumer_offsets";
            tcoord_add_implicit(b->tcoord, body->transactional_id.ptr, body->transactional_id.len, body->producer_id,
                                body->producer_epoch, &tname, &part, 1, txn_commit_added, op);
            return;
        }
        if (part >= 0)
            op->code = tcoord_verify_offsets(b->tcoord, body->transactional_id.ptr, body->transactional_id.len,
                                             body->producer_id, body->producer_epoch, part, ver);
    }
    txn_commit_group(op);
}

/* ---- OffsetFetch ---- */

/* One group's answer, in the v8 shape (converted for older versions). */
static void fetch_group(coordinator *c, req *rq, grp_str gid, const kp_offset_fetch_req_group_topic *want,
                        int ntopics, bool require_stable, kp_offset_fetch_resp_group *out)
{
    kp_offset_fetch_resp_group_init(out);
    out->group_id = KSTR(gid);
    if (gid.len > 0 && (out->error_code = coord_owner_check(c, gid.ptr, gid.len, false)) != KERR_NONE) {
        out->topics_n = 0;
        return;
    }
    cgroup *cg = coord_group_find(c, gid.ptr, gid.len);
    if (ntopics < 0) {
        /* every committed partition, grouped by topic */
        int no = cg ? cg->noffs : 0;
        out->topics = arena_alloc(&rq->arena, sizeof(*out->topics) * (size_t)(no ? no : 1));
        out->topics_n = 0;
        for (int i = 0; i < no && out->topics; i++) {
            committed *o = &cg->offs[i];
            kp_offset_fetch_resp_group_topic *t = NULL;
            for (int k = 0; k < out->topics_n; k++)
                if (kp_str_eq(out->topics[k].name, o->topic))
                    t = &out->topics[k];
            if (!t) {
                t = &out->topics[out->topics_n++];
                kp_offset_fetch_resp_group_topic_init(t);
                t->name = arena_kstr(&rq->arena, o->topic);
                if (rq->hdr.api_version >= 10) { /* v10 names it by id */
                    topic *tp = topics_get(c->env.topics, o->topic, (int)strlen(o->topic));
                    if (tp)
                        t->topic_id = tp->id;
                    topic_unref(tp);
                }
                t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)no);
                t->partitions_n = 0;
            }
            kp_offset_fetch_resp_group_partition *p = &t->partitions[t->partitions_n++];
            kp_offset_fetch_resp_group_partition_init(p);
            p->partition_index = o->partition;
            p->committed_offset = o->offset;
            p->committed_leader_epoch = o->leader_epoch;
            p->metadata = arena_kstr_n(&rq->arena, o->metadata, o->metadata_len);
        }
        return;
    }
    out->topics = arena_alloc(&rq->arena, sizeof(*out->topics) * (size_t)(ntopics ? ntopics : 1));
    out->topics_n = out->topics ? ntopics : 0;
    for (int i = 0; i < out->topics_n; i++) {
        kp_offset_fetch_resp_group_topic *t = &out->topics[i];
        kp_offset_fetch_resp_group_topic_init(t);
        t->name = want[i].name;
        t->topic_id = want[i].topic_id;
        bool unknown_id = rq->hdr.api_version >= 10 && want[i].name.len < 0; /* topics_by_id */
        int np = want[i].partition_indexes_n > 0 ? want[i].partition_indexes_n : 0;
        t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
        t->partitions_n = t->partitions ? np : 0;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_offset_fetch_resp_group_partition *p = &t->partitions[j];
            kp_offset_fetch_resp_group_partition_init(p);
            p->partition_index = want[i].partition_indexes[j];
            if (unknown_id) {
                p->error_code = KERR_UNKNOWN_TOPIC_ID;
                p->committed_offset = -1;
                p->committed_leader_epoch = -1;
                p->metadata = kp_str_c("");
                continue;
            }
            if (require_stable && cg && coord_txn_pending(cg, t->name.ptr, t->name.len, p->partition_index)) {
                /* A transaction holding an offset for it is still open (KIP-447). */
                p->error_code = KERR_UNSTABLE_OFFSET_COMMIT;
                p->committed_offset = -1;
                p->committed_leader_epoch = -1;
                p->metadata = arena_kstr(&rq->arena, "");
                continue;
            }
            committed *o = cg ? coord_offset_find(cg, t->name.ptr, t->name.len, p->partition_index) : NULL;
            p->committed_offset = o ? o->offset : -1;
            p->committed_leader_epoch = o ? o->leader_epoch : -1;
            p->metadata = o ? arena_kstr_n(&rq->arena, o->metadata, o->metadata_len) : kp_str_c("");
        }
    }
}

void handle_offset_fetch(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_offset_fetch_req body;
    kp_offset_fetch_req_init(&body);
    if (kp_offset_fetch_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_offset_fetch_resp resp;
    kp_offset_fetch_resp_init(&resp);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    if (ver >= 8) {
        int ng = body.groups_n > 0 ? body.groups_n : 0;
        resp.groups = arena_alloc(&rq->arena, sizeof(*resp.groups) * (size_t)(ng ? ng : 1));
        resp.groups_n = resp.groups ? ng : 0;
        for (int i = 0; i < resp.groups_n; i++) {
            /* v9's member id and epoch matter to consumer-protocol groups
             * only; a classic group's offsets go to anyone (Kafka) */
            if (ver >= 10)
                topics_by_id(b, rq, body.groups[i].topics, body.groups[i].topics_n);
            fetch_group(c, rq, jstr_nn(rq, body.groups[i].group_id), body.groups[i].topics, body.groups[i].topics_n, body.require_stable,
                        &resp.groups[i]);
        }
    } else {
        /* older versions: convert the single-group request to the v8 shape */
        int nt = body.topics_n;
        kp_offset_fetch_req_group_topic *gt = NULL;
        if (nt > 0) {
            gt = arena_alloc(&rq->arena, sizeof(*gt) * (size_t)nt);
            for (int i = 0; i < nt && gt; i++) {
                gt[i].name = body.topics[i].name;
                gt[i].partition_indexes = body.topics[i].partition_indexes;
                gt[i].partition_indexes_n = body.topics[i].partition_indexes_n;
            }
        }
        kp_offset_fetch_resp_group g;
        if (ver == 0) {
            /* Kafka 3.9 (KRaft) read v0 offsets from ZooKeeper only: every
             * partition asked for is UNSUPPORTED_VERSION, offset -1 */
            kp_offset_fetch_resp_group_init(&g);
            g.topics = arena_alloc(&rq->arena, sizeof(*g.topics) * (size_t)(nt > 0 ? nt : 1));
            g.topics_n = g.topics && nt > 0 ? nt : 0;
            for (int i = 0; i < g.topics_n; i++) {
                kp_offset_fetch_resp_group_topic *t = &g.topics[i];
                kp_offset_fetch_resp_group_topic_init(t);
                t->name = gt[i].name;
                int np = gt[i].partition_indexes_n > 0 ? gt[i].partition_indexes_n : 0;
                t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
                t->partitions_n = t->partitions ? np : 0;
                for (int j = 0; j < t->partitions_n; j++) {
                    kp_offset_fetch_resp_group_partition_init(&t->partitions[j]);
                    t->partitions[j].partition_index = gt[i].partition_indexes[j];
                    t->partitions[j].committed_offset = -1;
                    t->partitions[j].metadata = kp_str_c("");
                    t->partitions[j].error_code = KERR_UNSUPPORTED_VERSION;
                }
            }
        } else {
            fetch_group(c, rq, jstr_nn(rq, body.group_id), gt, nt, ver >= 7 && body.require_stable, &g);
        }
        resp.error_code = g.error_code;
        resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(g.topics_n ? g.topics_n : 1));
        resp.topics_n = resp.topics ? g.topics_n : 0;
        for (int i = 0; i < resp.topics_n; i++) {
            kp_offset_fetch_resp_topic *t = &resp.topics[i];
            kp_offset_fetch_resp_topic_init(t);
            t->name = g.topics[i].name;
            t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(g.topics[i].partitions_n ? g.topics[i].partitions_n : 1));
            t->partitions_n = t->partitions ? g.topics[i].partitions_n : 0;
            for (int j = 0; j < t->partitions_n; j++) {
                kp_offset_fetch_resp_group_partition *s = &g.topics[i].partitions[j];
                kp_offset_fetch_resp_partition *p = &t->partitions[j];
                kp_offset_fetch_resp_partition_init(p);
                p->partition_index = s->partition_index;
                p->committed_offset = s->committed_offset;
                p->committed_leader_epoch = s->committed_leader_epoch;
                p->metadata = s->metadata;
                p->error_code = s->error_code;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, offset_fetch, &resp);
}

/* ---- DescribeGroups / ListGroups ---- */

void handle_describe_groups(broker *b, req *rq)
{
    kp_describe_groups_req body;
    kp_describe_groups_req_init(&body);
    if (kp_describe_groups_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_groups_resp resp;
    kp_describe_groups_resp_init(&resp);
    int n = body.groups_n > 0 ? body.groups_n : 0;
    resp.groups = arena_alloc(&rq->arena, sizeof(*resp.groups) * (size_t)(n ? n : 1));
    resp.groups_n = resp.groups ? n : 0;
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < resp.groups_n; i++) {
        kp_describe_groups_resp_group *out = &resp.groups[i];
        kp_describe_groups_resp_group_init(out);
        grp_str gid = jstr(rq, body.groups[i]);
        out->group_id = KSTR(gid);
        int16_t owner = gid.len > 0 ? coord_owner_check(c, gid.ptr, gid.len, false) : KERR_NONE;
        cgroup *cg = gid.len > 0 && owner == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
        if (gid.len <= 0)
            out->error_code = KERR_INVALID_GROUP_ID;
        else if (owner != KERR_NONE)
            out->error_code = owner;
        if (!cg || grp_state(cg->g) == GRP_DEAD) {
            out->group_state = kp_str_c("Dead");
            out->protocol_type = kp_str_c("");
            out->protocol_data = kp_str_c("");
            out->members_n = 0;
            if (rq->hdr.api_version >= 6 && out->error_code == KERR_NONE) {
                /* KIP-1043: an unknown group is GROUP_ID_NOT_FOUND, said so */
                out->error_code = KERR_GROUP_ID_NOT_FOUND;
                char *m = arena_alloc(&rq->arena, (size_t)gid.len + 20);
                if (m) {
                    memcpy(m, "Group ", 6);
                    memcpy(m + 6, gid.ptr, (size_t)gid.len);
                    memcpy(m + 6 + gid.len, " not found.", 11);
                    out->error_message = (kp_str){ m, gid.len + 17 };
                }
            }
            continue;
        }
        out->group_state = arena_kstr(&rq->arena, grp_state_name(grp_state(cg->g)));
        /* copies: the group may change once the lock is released */
        out->protocol_type = arena_kstr_n(&rq->arena, grp_protocol_type(cg->g).ptr, grp_protocol_type(cg->g).len);
        out->protocol_data = arena_kstr_n(&rq->arena, grp_protocol_name(cg->g).ptr, grp_protocol_name(cg->g).len);
        int nm;
        const grp_member_view *ms = grp_members(cg->g, &nm);
        bool stable = grp_state(cg->g) == GRP_STABLE; /* Kafka shows metadata only when Stable */
        out->members = arena_alloc(&rq->arena, sizeof(*out->members) * (size_t)(nm ? nm : 1));
        out->members_n = out->members ? nm : 0;
        for (int j = 0; j < out->members_n; j++) {
            kp_describe_groups_resp_member *m = &out->members[j];
            kp_describe_groups_resp_member_init(m);
            m->member_id = arena_kstr_n(&rq->arena, ms[j].member_id.ptr, ms[j].member_id.len);
            m->group_instance_id = ms[j].group_instance_id.len >= 0
                                       ? arena_kstr_n(&rq->arena, ms[j].group_instance_id.ptr, ms[j].group_instance_id.len)
                                       : KP_STR_NULL;
            m->client_id = arena_kstr_n(&rq->arena, ms[j].client_id.ptr, ms[j].client_id.len);
            m->client_host = arena_kstr_n(&rq->arena, ms[j].client_host.ptr, ms[j].client_host.len);
            /* copies: the group may change once the lock is released */
            uint8_t *md = arena_alloc(&rq->arena, (size_t)(ms[j].metadata.len > 0 ? ms[j].metadata.len : 1));
            uint8_t *as = arena_alloc(&rq->arena, (size_t)(ms[j].assignment.len > 0 ? ms[j].assignment.len : 1));
            if (md && ms[j].metadata.len > 0)
                memcpy(md, ms[j].metadata.ptr, (size_t)ms[j].metadata.len);
            if (as && ms[j].assignment.len > 0)
                memcpy(as, ms[j].assignment.ptr, (size_t)ms[j].assignment.len);
            m->member_metadata = (kp_bytes){ md, stable && ms[j].metadata.len > 0 ? ms[j].metadata.len : 0 };
            m->member_assignment = (kp_bytes){ as, stable && ms[j].assignment.len > 0 ? ms[j].assignment.len : 0 };
        }
    }
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, describe_groups, &resp);
}

void handle_list_groups(broker *b, req *rq)
{
    kp_list_groups_req body;
    kp_list_groups_req_init(&body);
    if (kp_list_groups_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_list_groups_resp resp;
    kp_list_groups_resp_init(&resp);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    resp.groups = arena_alloc(&rq->arena, sizeof(*resp.groups) * (size_t)(c->n ? c->n : 1));
    resp.groups_n = 0;
    for (int i = 0; i < c->n && resp.groups; i++) {
        cgroup *cg = c->groups[i];
        const char *state = grp_state_name(grp_state(cg->g));
        if (grp_state(cg->g) == GRP_DEAD)
            continue;
        bool keep = body.states_filter_n <= 0;
        for (int k = 0; k < body.states_filter_n && !keep; k++)
            keep = (int)strlen(state) == body.states_filter[k].len &&
                   strncasecmp(state, body.states_filter[k].ptr, (size_t)body.states_filter[k].len) == 0;
        /* v5: every group here is a classic one (Kafka's type names, any case) */
        bool typed = body.types_filter_n <= 0;
        for (int k = 0; k < body.types_filter_n && !typed; k++)
            typed = body.types_filter[k].len == 7 && strncasecmp(body.types_filter[k].ptr, "classic", 7) == 0;
        if (!keep || !typed)
            continue;
        kp_list_groups_resp_group *g = &resp.groups[resp.groups_n++];
        kp_list_groups_resp_group_init(g);
        g->group_id = arena_kstr_n(&rq->arena, cg->id, cg->id_len);
        g->protocol_type = arena_kstr_n(&rq->arena, grp_protocol_type(cg->g).ptr, grp_protocol_type(cg->g).len);
        g->group_state = arena_kstr(&rq->arena, state);
        g->group_type = kp_str_c("classic");
    }
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, list_groups, &resp);
}

/* ---- DeleteGroups / OffsetDelete ---- */

void handle_delete_groups(broker *b, req *rq)
{
    kp_delete_groups_req body;
    kp_delete_groups_req_init(&body);
    if (kp_delete_groups_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_delete_groups_resp resp;
    kp_delete_groups_resp_init(&resp);
    int n = body.groups_names_n > 0 ? body.groups_names_n : 0;
    resp.results = arena_alloc(&rq->arena, sizeof(*resp.results) * (size_t)(n ? n : 1));
    resp.results_n = resp.results ? n : 0;
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < resp.results_n; i++) {
        kp_delete_groups_resp_result *r = &resp.results[i];
        kp_delete_groups_resp_result_init(r);
        grp_str gid = jstr(rq, body.groups_names[i]);
        r->group_id = KSTR(gid);
        int16_t owner = gid.len > 0 ? coord_owner_check(c, gid.ptr, gid.len, false) : KERR_NONE;
        cgroup *cg = gid.len > 0 && owner == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
        if (owner != KERR_NONE)
            r->error_code = owner;
        else if (!cg || grp_state(cg->g) == GRP_DEAD)
            r->error_code = KERR_GROUP_ID_NOT_FOUND; /* "" too, as in Kafka 4.4 */
        else if ((r->error_code = grp_delete(cg->g)) == KERR_NONE)
            r->error_code = coord_delete_group(c, cg);
    }
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, delete_groups, &resp);
}

void handle_offset_delete(broker *b, req *rq)
{
    kp_offset_delete_req body;
    kp_offset_delete_req_init(&body);
    if (kp_offset_delete_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_offset_delete_resp resp;
    kp_offset_delete_resp_init(&resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nt ? nt : 1));
    resp.topics_n = resp.topics ? nt : 0;
    grp_str gid = jstr(rq, body.group_id);
    coordinator *c = b->coord;
    pthread_mutex_lock(&c->lock);
    int16_t owner = gid.len > 0 ? coord_owner_check(c, gid.ptr, gid.len, false) : KERR_NONE;
    cgroup *cg = gid.len > 0 && owner == KERR_NONE ? coord_group_find(c, gid.ptr, gid.len) : NULL;
    if (gid.len <= 0)
        resp.error_code = KERR_INVALID_GROUP_ID;
    else if (owner != KERR_NONE)
        resp.error_code = owner;
    else if (!cg || grp_state(cg->g) == GRP_DEAD)
        resp.error_code = KERR_GROUP_ID_NOT_FOUND;
    else if (grp_member_count(cg->g) > 0 && !grp_str_is(grp_protocol_type(cg->g), "consumer"))
        resp.error_code = KERR_NON_EMPTY_GROUP;
    int total = 0;
    for (int i = 0; i < nt; i++)
        total += body.topics[i].partitions_n > 0 ? body.topics[i].partitions_n : 0;
    commit_in *gone = arena_alloc(&rq->arena, sizeof(*gone) * (size_t)(total ? total : 1));
    int ngone = 0;
    int nm = 0;
    const grp_member_view *ms = cg ? grp_members(cg->g, &nm) : NULL;
    for (int i = 0; i < resp.topics_n; i++) {
        kp_offset_delete_req_topic *rt = &body.topics[i];
        kp_offset_delete_resp_topic *t = &resp.topics[i];
        kp_offset_delete_resp_topic_init(t);
        t->name = rt->name;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        t->partitions = arena_alloc(&rq->arena, sizeof(*t->partitions) * (size_t)(np ? np : 1));
        t->partitions_n = t->partitions ? np : 0;
        bool subscribed = false;
        for (int k = 0; k < nm && !subscribed; k++)
            subscribed = coord_subscription_has(ms[k].metadata.ptr, ms[k].metadata.len, rt->name.ptr, rt->name.len);
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        for (int j = 0; j < t->partitions_n; j++) {
            kp_offset_delete_resp_partition *p = &t->partitions[j];
            kp_offset_delete_resp_partition_init(p);
            p->partition_index = rt->partitions[j].partition_index;
            if (resp.error_code != KERR_NONE)
                continue;
            if (!topic_has_partition(tp, p->partition_index))
                p->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed)
                p->error_code = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (gone && coord_offset_find(cg, rt->name.ptr, rt->name.len, p->partition_index))
                gone[ngone++] = (commit_in){ rt->name.ptr, rt->name.len, p->partition_index, 0, 0, NULL, 0, false, 0 };
        }
        topic_unref(tp);
    }
    if (ngone > 0) {
        int64_t end;
        partition *log;
        int16_t code = coord_delete_offsets(c, cg, gone, ngone, &end, &log);
        if (code != KERR_NONE)
            resp.error_code = code;
    }
    if (resp.error_code != KERR_NONE)
        resp.topics_n = 0; /* a group-level error: Kafka lists no topics */
    pthread_mutex_unlock(&c->lock);
    RESPOND(rq, offset_delete, &resp);
}
