/*
 * lifecycle.c - a broker's life as the controller sees it: registration,
 * heartbeats, fencing (Kafka's BrokerLifecycleManager), and the active
 * controller's session checks.
 *
 * A single node registers itself once at start-up, unfenced, straight into
 * its own metadata log. In a cluster a broker registers with the active
 * controller (BrokerRegistration: its client listener, rack, a new
 * incarnation id each start), then heartbeats every
 * broker.heartbeat.interval.ms with how far it has applied the metadata
 * log; the controller unfences it once it has caught up with its own
 * registration, and fences it when heartbeats stop for
 * broker.session.timeout.ms. When this node's controller is the active one
 * the same calls go straight to it, not over the network. Everything runs
 * on the quorum's reactor: one request in flight at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "kafka_msgs.h"
#include "metadata/metalog.h"
#include "net/client.h"

#define LC_TICK_MS 100
#define LC_EXPIRE_EVERY_MS 250

struct lifecycle {
    broker *b;
    reactor_timer timer;
    kp_uuid incarnation;
    int64_t epoch;               /* -1: not registered */
    bool fenced;
    bool inflight;
    int32_t inflight_to;         /* the controller the request in flight went to */
    uint32_t gen;                /* answers of an older generation are ignored */
    bool stopping;
    atomic_bool shutdown_ok;     /* the controller answered should_shut_down */
    int64_t next_heartbeat_ms;
    int64_t next_expire_ms;
    int64_t rebalance_every_ms;  /* leader.imbalance.check.interval.seconds; 0: auto rebalance off */
    int64_t next_rebalance_ms;
    int rebalance_pct;
    int64_t interval_ms, session_ms;
};

static void random_uuid(kp_uuid *id)
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(id->b, 1, 16, f) != 16) {
        uint64_t x = (uint64_t)clock_mono_ns();
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            id->b[i] = (uint8_t)(x >> 56);
        }
    }
    if (f)
        fclose(f);
    id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);
    id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
}

/* This broker's listener as the registration carries it. */
static void own_endpoint(broker *b, mi_endpoint *ep)
{
    ep->name = b->client_listener[0] ? b->client_listener : "PLAINTEXT";
    ep->host = b->adv_host;
    ep->port = b->adv_port;
    ep->security_protocol = 0; /* PLAINTEXT */
}

int broker_register_self(broker *b, char *err, size_t errlen)
{
    mi_endpoint ep;
    own_endpoint(b, &ep);
    kp_uuid inc;
    random_uuid(&inc);
    ctl_registration r = { b->node_id, inc, &ep, 1, config_get_str(&b->cfg, BCFG_BROKER_RACK) };
    int64_t epoch, end;
    char msg[256] = "";
    int16_t code = metalog_register_broker(b->meta, &r, true, &epoch, &end, msg, sizeof msg);
    if (code != KERR_NONE) {
        snprintf(err, errlen, "registering broker %d in the metadata log failed: %s %s", b->node_id, kerr_name(code),
                 msg);
        return -1;
    }
    if (end >= 0)
        metalog_wait_applied(b->meta, end, NULL, NULL, NULL);
    return 0;
}

/* ---- over the network ---- */

static void on_answer(void *arg, int status, const uint8_t *body, size_t len);

typedef struct lc_call {
    lifecycle *lc;
    bool heartbeat;
    int16_t version;
    uint32_t gen;
} lc_call;

static void send_to_controller(lifecycle *lc, int32_t ctl, bool heartbeat)
{
    broker *b = lc->b;
    kp_writer w;
    kp_writer_init(&w);
    int16_t version;
    if (heartbeat) {
        kp_broker_heartbeat_req m;
        kp_broker_heartbeat_req_init(&m);
        m.broker_id = b->node_id;
        m.broker_epoch = lc->epoch;
        m.current_metadata_offset = metalog_applied(b->meta);
        m.want_fence = false;
        m.want_shut_down = atomic_load(&b->shutting_down);
        version = 0;
        kp_broker_heartbeat_req_encode(&w, version, &m);
    } else {
        kp_broker_registration_req m;
        kp_broker_registration_req_init(&m);
        kp_broker_registration_req_listener l;
        kp_broker_registration_req_listener_init(&l);
        mi_endpoint ep;
        own_endpoint(b, &ep);
        l.name = kp_str_c(ep.name);
        l.host = kp_str_c(ep.host);
        l.port = (uint16_t)ep.port;
        l.security_protocol = ep.security_protocol;
        m.broker_id = b->node_id;
        m.cluster_id = kp_str_c(b->cluster_id);
        m.incarnation_id = lc->incarnation;
        m.listeners = &l;
        m.listeners_n = 1;
        m.features_n = 0;
        const char *rack = config_get_str(&b->cfg, BCFG_BROKER_RACK);
        m.rack = rack ? kp_str_c(rack) : KP_STR_NULL;
        version = 1;
        kp_broker_registration_req_encode(&w, version, &m);
    }
    lc_call *call = malloc(sizeof(*call));
    if (!call || w.err) {
        free(call);
        kp_writer_deinit(&w);
        return;
    }
    *call = (lc_call){ lc, heartbeat, version, lc->gen };
    lc->inflight = true;
    lc->inflight_to = ctl;
    quorum_forward(metalog_quorum(b->meta), ctl, heartbeat ? KP_API_BROKER_HEARTBEAT : KP_API_BROKER_REGISTRATION,
                   version, w.buf, w.len, on_answer, call);
    kp_writer_deinit(&w);
}

static void set_fenced(lifecycle *lc, bool fenced)
{
    if (fenced != lc->fenced)
        glog(GLOG_INFO, "broker", "broker %d is %s by the controller", lc->b->node_id, fenced ? "fenced" : "unfenced");
    lc->fenced = fenced;
}

static void on_answer(void *arg, int status, const uint8_t *body, size_t len)
{
    lc_call *call = arg;
    lifecycle *lc = call->lc;
    if (call->gen != lc->gen) { /* sent to a controller given up on: see tick */
        free(call);
        return;
    }
    lc->inflight = false;
    if (status != CLIENT_OK) {
        free(call);
        return; /* the next tick tries again */
    }
    arena a;
    arena_init(&a, 4096);
    kp_reader r;
    kp_reader_init(&r, body, len, &a);
    if (call->heartbeat) {
        kp_broker_heartbeat_resp resp;
        kp_broker_heartbeat_resp_init(&resp);
        if (kp_broker_heartbeat_resp_decode(&r, call->version, &resp) == 0) {
            if (resp.error_code == KERR_STALE_BROKER_EPOCH) {
                glog(GLOG_WARN, "broker", "broker %d: the controller no longer knows epoch %lld; registering again",
                     lc->b->node_id, (long long)lc->epoch);
                lc->epoch = -1;
            } else if (resp.error_code == KERR_NONE) {
                set_fenced(lc, resp.is_fenced);
                if (resp.should_shut_down)
                    atomic_store(&lc->shutdown_ok, true);
            }
        }
    } else {
        kp_broker_registration_resp resp;
        kp_broker_registration_resp_init(&resp);
        if (kp_broker_registration_resp_decode(&r, call->version, &resp) == 0) {
            if (resp.error_code == KERR_NONE) {
                lc->epoch = resp.broker_epoch;
                lc->next_heartbeat_ms = 0;
                glog(GLOG_INFO, "broker", "broker %d registered with the controller (broker epoch %lld)",
                     lc->b->node_id, (long long)lc->epoch);
            } else {
                glog(GLOG_WARN, "broker", "broker %d: registration refused: %s", lc->b->node_id,
                     kerr_name(resp.error_code));
            }
        }
    }
    arena_deinit(&a);
    free(call);
}

static void local_step(lifecycle *lc, bool heartbeat)
{
    broker *b = lc->b;
    if (!heartbeat) {
        mi_endpoint ep;
        own_endpoint(b, &ep);
        ctl_registration r = { b->node_id, lc->incarnation, &ep, 1, config_get_str(&b->cfg, BCFG_BROKER_RACK) };
        int64_t epoch, end;
        char msg[256] = "";
        if (metalog_register_broker(b->meta, &r, false, &epoch, &end, msg, sizeof msg) == KERR_NONE) {
            lc->epoch = epoch;
            lc->next_heartbeat_ms = 0;
            glog(GLOG_INFO, "broker", "broker %d registered with its own controller (broker epoch %lld)",
                 b->node_id, (long long)epoch);
        }
        return;
    }
    bool fenced = true, shutdown = false;
    int64_t end;
    int16_t code = metalog_broker_heartbeat(b->meta, b->node_id, lc->epoch, metalog_applied(b->meta), false,
                                            atomic_load(&b->shutting_down), &fenced, &shutdown, &end);
    if (code == KERR_STALE_BROKER_EPOCH)
        lc->epoch = -1;
    else if (code == KERR_NONE)
        set_fenced(lc, fenced);
    if (code == KERR_NONE && shutdown)
        atomic_store(&lc->shutdown_ok, true);
}

static void tick(reactor *r, void *arg)
{
    lifecycle *lc = arg;
    broker *b = lc->b;
    if (lc->stopping)
        return;
    int64_t now = clock_mono_ms();
    bool active = metalog_is_active(b->meta);
    if (active && now >= lc->next_expire_ms) {
        metalog_expire_sessions(b->meta, lc->session_ms);
        lc->next_expire_ms = now + LC_EXPIRE_EVERY_MS;
    }
    if (!active || lc->rebalance_every_ms == 0) {
        lc->next_rebalance_ms = now + lc->rebalance_every_ms; /* the first check an interval after taking over */
    } else if (now >= lc->next_rebalance_ms) {
        metalog_rebalance_leaders(b->meta, lc->rebalance_pct);
        lc->next_rebalance_ms = now + lc->rebalance_every_ms;
    }
    int32_t now_ctl = active ? b->node_id : metalog_controller_id(b->meta);
    if (lc->inflight && now_ctl >= 0 && now_ctl != lc->inflight_to) {
        /* A new controller: a request to the old one may hang until its
         * timeout; heartbeat the new one now (it fences a broker it has
         * not heard from within two intervals of taking over). */
        lc->gen++;
        lc->inflight = false;
        lc->next_heartbeat_ms = 0;
    }
    if (b->is_broker && !lc->inflight && (lc->epoch < 0 || now >= lc->next_heartbeat_ms)) {
        bool heartbeat = lc->epoch >= 0;
        int32_t ctl = metalog_controller_id(b->meta);
        if (active) {
            lc->inflight_to = b->node_id;
            local_step(lc, heartbeat);
        }
        else if (ctl >= 0 && ctl != b->node_id)
            send_to_controller(lc, ctl, heartbeat);
        /* registered and unfenced: the interval; else retry soon */
        lc->next_heartbeat_ms = now + (lc->epoch >= 0 && !lc->fenced ? lc->interval_ms : 2 * LC_TICK_MS);
    }
    reactor_timer_arm(r, &lc->timer, now + LC_TICK_MS);
}

static void start_on_reactor(reactor *r, void *arg)
{
    lifecycle *lc = arg;
    reactor_timer_init(&lc->timer, tick, lc);
    reactor_timer_arm(r, &lc->timer, clock_mono_ms() + LC_TICK_MS);
}

lifecycle *lifecycle_start(broker *b)
{
    lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return NULL;
    lc->b = b;
    lc->epoch = -1;
    lc->fenced = true;
    lc->interval_ms = config_get_num(&b->cfg, BCFG_BROKER_HEARTBEAT_INTERVAL_MS);
    lc->session_ms = config_get_num(&b->cfg, BCFG_BROKER_SESSION_TIMEOUT_MS);
    if (config_get_num(&b->cfg, BCFG_AUTO_LEADER_REBALANCE_ENABLE))
        lc->rebalance_every_ms = config_get_num(&b->cfg, BCFG_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS) * 1000;
    lc->rebalance_pct = (int)config_get_num(&b->cfg, BCFG_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE);
    random_uuid(&lc->incarnation);
    reactor_post(b->qreactor, start_on_reactor, lc);
    return lc;
}

static void heartbeat_now(reactor *r, void *arg)
{
    (void)r;
    lifecycle *lc = arg;
    lc->next_heartbeat_ms = 0;
}

bool lifecycle_controlled_shutdown(lifecycle *lc, int64_t timeout_ms)
{
    if (!lc || !lc->b->is_broker)
        return false;
    /* b->shutting_down is set: the next heartbeat asks to shut down */
    reactor_post(lc->b->qreactor, heartbeat_now, lc);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (!atomic_load(&lc->shutdown_ok) && clock_mono_ms() < deadline)
        usleep(20 * 1000);
    bool ok = atomic_load(&lc->shutdown_ok);
    glog(ok ? GLOG_INFO : GLOG_WARN, "broker", "broker %d: controlled shutdown %s", lc->b->node_id,
         ok ? "done: the controller moved its leaderships and fenced it"
            : "not confirmed by a controller in time; stopping anyway (the session expires)");
    return ok;
}

static void stop_on_reactor(reactor *r, void *arg)
{
    lifecycle *lc = arg;
    lc->stopping = true;
    reactor_timer_cancel(r, &lc->timer);
}

void lifecycle_stop(lifecycle *lc)
{
    if (lc)
        reactor_post(lc->b->qreactor, stop_on_reactor, lc);
}

void lifecycle_free(lifecycle *lc) { free(lc); }
