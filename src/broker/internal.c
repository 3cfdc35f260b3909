/*
 * internal.c - the internal topics (__consumer_offsets, __transaction_state):
 * created through the controller when a coordinator first needs one, and
 * the broker that coordinates a key (the leader of its partition).
 *
 * Creation never blocks a reactor on the network. A single node (or the
 * only voter of a quorum) commits a metadata record with its own disk, so
 * it waits for the topic as before and the first FindCoordinator finds it.
 * In a cluster the record needs the other voters' fetches, which may be
 * served by the very reactor asking: there the request is proposed (on the
 * active controller) or sent as CreateTopics to the active controller, and
 * the caller answers COORDINATOR_NOT_AVAILABLE until the committed topic
 * reaches the table, as Kafka's brokers do. One creation per topic is in
 * flight, asked again at most once a second.
 *
 * The replication factor is offsets.topic.replication.factor or
 * transaction.state.log.replication.factor (Kafka's default 3); a cluster
 * with fewer brokers refuses it (INVALID_REPLICATION_FACTOR, logged), as
 * Kafka does. A node without controller.quorum.voters uses 1.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "controller/image.h"
#include "kafka_msgs.h"
#include "metadata/metalog.h"
#include "net/client.h"

#define ASK_AGAIN_MS 1000

static int slot_of(const char *name)
{
    return strcmp(name, "__transaction_state") == 0 ? 1 : 0;
}

static int16_t internal_rf(broker *b, const char *name)
{
    if (b->nvoters == 0)
        return 1;
    return (int16_t)config_get_num(&b->cfg, slot_of(name) ? BCFG_TXN_STATE_LOG_REPLICATION_FACTOR
                                                          : BCFG_OFFSETS_TOPIC_REPLICATION_FACTOR);
}

typedef struct ask {
    broker *b;
    int slot;
    char name[64];
} ask;

static void on_created(void *arg, int status, const uint8_t *body, size_t len)
{
    ask *a = arg;
    static glog_limit lim = GLOG_LIMIT_INIT;
    if (status != CLIENT_OK) {
        glog_limited(&lim, GLOG_WARN, "broker", "creating %s: the active controller did not answer (%d); asked again",
                     a->name, status);
    } else {
        arena ar;
        arena_init(&ar, 4096);
        kp_reader r;
        kp_reader_init(&r, body, len, &ar);
        kp_create_topics_resp resp;
        kp_create_topics_resp_init(&resp);
        if (kp_create_topics_resp_decode(&r, 7, &resp) == 0 && resp.topics_n == 1) {
            int16_t code = resp.topics[0].error_code;
            if (code != KERR_NONE && code != KERR_TOPIC_ALREADY_EXISTS)
                glog_limited(&lim, GLOG_WARN, "broker", "cannot create %s: %s %.*s", a->name, kerr_name(code),
                             resp.topics[0].error_message.len > 0 ? resp.topics[0].error_message.len : 0,
                             resp.topics[0].error_message.ptr ? resp.topics[0].error_message.ptr : "");
        }
        arena_deinit(&ar);
    }
    if (a->slot >= 0)
        atomic_store(&a->b->icreate[a->slot].inflight, false);
    free(a);
}

/* CreateTopics to the active controller, answered on the quorum reactor
 * (slot: the internal topic whose in-flight flag it clears, or -1). */
static void forward_create(broker *b, int slot, const char *name, int32_t nparts, int16_t rf,
                           const char *const *cfgs, int ncfgs)
{
    int32_t ctl = metalog_controller_id(b->meta);
    quorum *q = metalog_quorum(b->meta);
    ask *a = calloc(1, sizeof(*a));
    if (ctl < 0 || !q || !a) {
        free(a);
        return;
    }
    *a = (ask){ .b = b, .slot = slot };
    snprintf(a->name, sizeof a->name, "%s", name);
    kp_create_topics_req_config cv[16];
    if (ncfgs > 16)
        ncfgs = 16;
    for (int i = 0; i < ncfgs; i++)
        cv[i] = (kp_create_topics_req_config){ kp_str_c(cfgs[2 * i]), kp_str_c(cfgs[2 * i + 1]) };
    kp_create_topics_req_topic t;
    kp_create_topics_req_topic_init(&t);
    t.name = kp_str_c(name);
    t.num_partitions = nparts;
    t.replication_factor = rf;
    t.configs = cv;
    t.configs_n = ncfgs;
    kp_create_topics_req cr;
    kp_create_topics_req_init(&cr);
    cr.topics = &t;
    cr.topics_n = 1;
    cr.timeout_ms = 30000;
    kp_writer w;
    kp_writer_init(&w);
    kp_create_topics_req_encode(&w, 7, &cr);
    if (w.err) {
        free(a);
    } else {
        if (slot >= 0)
            atomic_store(&b->icreate[slot].inflight, true);
        quorum_forward(q, ctl, KP_API_CREATE_TOPICS, 7, w.buf, w.len, on_created, a);
    }
    kp_writer_deinit(&w);
}

int16_t broker_create_internal_topic(void *ctx, const char *name, int32_t nparts, const char *const *cfgs,
                                     int ncfgs, char *msg, size_t msglen)
{
    broker *b = ctx;
    if (msglen > 0)
        msg[0] = '\0';
    if (broker_fd_budget(b, nparts, msg, msglen) != KERR_NONE)
        return KERR_POLICY_VIOLATION;
    int slot = slot_of(name);
    int16_t rf = internal_rf(b, name);
    bool own_disk = b->nvoters <= 1 && metalog_is_active(b->meta);
    if (!own_disk) {
        int64_t now = clock_mono_ms();
        if (atomic_load(&b->icreate[slot].inflight) || now - atomic_load(&b->icreate[slot].asked_ms) < ASK_AGAIN_MS)
            return KERR_NONE; /* asked; the topic is on its way */
        atomic_store(&b->icreate[slot].asked_ms, now);
        glog(GLOG_INFO, "broker", "asking the controller for %s (%d partitions, replication factor %d)", name,
             nparts, rf);
        if (!metalog_is_active(b->meta)) {
            forward_create(b, slot, name, nparts, rf, cfgs, ncfgs);
            return KERR_NONE;
        }
    }
    ctl_config mc[16];
    if (ncfgs > 16)
        ncfgs = 16;
    for (int i = 0; i < ncfgs; i++)
        mc[i] = (ctl_config){ cfgs[2 * i], cfgs[2 * i + 1] };
    kp_uuid id;
    int64_t end;
    int16_t code = metalog_create_topic(b->meta, name, nparts, rf, NULL, mc, ncfgs, false, &id, &end, msg, msglen);
    if (code == KERR_NONE && own_disk) /* the caller looks the topic up next: wait until it is in the table */
        metalog_wait_applied(b->meta, end, NULL, NULL, NULL);
    return code;
}

const mi_endpoint *broker_client_endpoint(const broker *b, const mi_broker *br)
{
    for (int k = 0; br && k < br->neps; k++)
        if (strcmp(br->eps[k].name, b->client_listener) == 0)
            return &br->eps[k];
    return NULL;
}

int16_t broker_coordinator_of(broker *b, const char *tname, int32_t part, int32_t *node, kp_str *host,
                              int32_t *port, arena *a)
{
    if (b->nvoters == 0) {
        *node = b->node_id;
        *host = kp_str_c(b->adv_host);
        *port = b->adv_port;
        return KERR_NONE;
    }
    int16_t code = KERR_COORDINATOR_NOT_AVAILABLE;
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    const mi_topic *mt = mimage_topic(im, tname, (int)strlen(tname));
    int32_t leader = mt && part < mt->nparts ? mt->parts[part].leader : -1;
    const mi_broker *br = leader >= 0 ? mimage_broker(im, leader) : NULL;
    const mi_endpoint *ep = br && !br->fenced ? broker_client_endpoint(b, br) : NULL;
    if (ep) {
        *node = leader;
        *host = arena_kstr(a, ep->host);
        *port = ep->port;
        code = KERR_NONE;
    }
    metalog_read_unlock(b->meta);
    return code;
}

int32_t broker_committed_partitions(void *ctx, const char *name)
{
    broker *b = ctx;
    metalog_read_lock(b->meta);
    const mi_topic *mt = mimage_topic(metalog_image(b->meta), name, (int)strlen(name));
    int32_t n = mt ? mt->nparts : -1;
    metalog_read_unlock(b->meta);
    return n;
}

int broker_leader_hints(broker *b, arena *a, kp_str tname, int32_t part, int32_t *leader, int32_t *epoch,
                        broker_endpoint *eps, int *neps, int cap)
{
    *leader = -1;
    *epoch = -1;
    if (b->nvoters == 0 || tname.len <= 0)
        return 0;
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    const mi_topic *mt = mimage_topic(im, tname.ptr, tname.len);
    if (mt && part >= 0 && part < mt->nparts && mt->parts[part].leader >= 0) {
        *leader = mt->parts[part].leader;
        *epoch = mt->parts[part].leader_epoch;
        bool known = false;
        for (int i = 0; i < *neps; i++)
            known |= eps[i].node_id == *leader;
        const mi_broker *br = mimage_broker(im, *leader);
        const mi_endpoint *ep = br && !br->fenced ? broker_client_endpoint(b, br) : NULL;
        if (!known && ep && *neps < cap)
            eps[(*neps)++] = (broker_endpoint){ *leader, arena_kstr(a, ep->host), ep->port,
                                                br->rack ? arena_kstr(a, br->rack) : KP_STR_NULL };
    }
    metalog_read_unlock(b->meta);
    return *leader >= 0;
}

void broker_forward_create_topic(broker *b, const char *name, int32_t nparts, int16_t rf)
{
    forward_create(b, -1, name, nparts, rf, NULL, 0);
}
