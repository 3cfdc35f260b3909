/*
 * isr.c - a partition leader keeps its ISR true (Kafka's ISR shrink and
 * expand, KIP-497's AlterPartition).
 *
 * Every ISR_TICK_MS, on the replica fetchers' reactor, the broker looks at
 * the replicated partitions it leads: a member that has not caught up
 * with the leader for replica.lag.time.max.ms leaves the ISR, a follower
 * that reached the high watermark joins it (partition_isr_check). The
 * changes go to the active controller in one AlterPartition request
 * (straight to the metadata log when this node's controller is the active
 * one); the ISR a partition uses is the one the committed image then shows
 * (the publisher sets it), so the high watermark and acks=all follow the
 * controller's decision, never a local guess. One request in flight at a
 * time. The same tick answers acks=all appends whose timeout passed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "kafka_msgs.h"
#include "metadata/metalog.h"
#include "net/client.h"

#define ISR_TICK_MS 200
#define ISR_CHANGES_MAX 256

typedef struct isr_change {
    kp_uuid topic_id;
    char name[256];
    int32_t index, leader_epoch, partition_epoch;
    int32_t isr[PART_REPLICAS_MAX];
    int nisr;
} isr_change;

struct isr_mgr {
    broker *b;
    reactor_timer timer;
    int64_t lag_max_ms;
    atomic_bool inflight;
    bool stopping;
    isr_change ch[ISR_CHANGES_MAX];
};

static void fmt_ids(char *buf, size_t len, const int32_t *v, int n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%d", i ? "," : "", v[i]);
}

/* The partitions whose ISR should change, from the image. */
static int collect(isr_mgr *im_, int64_t now)
{
    broker *b = im_->b;
    int n = 0;
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    /* KIP-841: a fenced broker, or one shutting down, does not join an ISR */
    int32_t gone[1024];
    int ngone = 0;
    for (int i = 0; i < im->nbrokers && ngone < (int)(sizeof gone / sizeof gone[0]); i++)
        if (im->brokers[i].fenced || im->brokers[i].shutting_down)
            gone[ngone++] = im->brokers[i].id;
    for (int t = 0; t < im->ntopics && n < ISR_CHANGES_MAX; t++) {
        const mi_topic *mt = im->by_id[t];
        topic *tp = NULL;
        for (int32_t k = 0; k < mt->nparts && n < ISR_CHANGES_MAX; k++) {
            const mi_partition *mp = &mt->parts[k];
            if (mp->leader != b->node_id || mp->nreplicas < 2)
                continue;
            if (!tp && !(tp = topics_get_by_id(b->topics, mt->id)))
                break;
            partition *p = topic_partition(tp, k);
            isr_change *c = &im_->ch[n];
            if (!p || !partition_isr_check(p, now, im_->lag_max_ms, gone, ngone, c->isr, &c->nisr))
                continue;
            c->topic_id = mt->id;
            snprintf(c->name, sizeof c->name, "%s", mt->name);
            c->index = k;
            c->leader_epoch = mp->leader_epoch;
            c->partition_epoch = mp->partition_epoch;
            char from[128], to[128];
            fmt_ids(from, sizeof from, mp->isr, mp->nisr);
            fmt_ids(to, sizeof to, c->isr, c->nisr);
            glog(GLOG_INFO, "replica", "%s-%d: ISR [%s] -> [%s] (asking the controller)", mt->name, k, from, to);
            n++;
        }
        if (tp)
            topic_unref(tp);
    }
    metalog_read_unlock(b->meta);
    return n;
}

static void on_answer(void *arg, int status, const uint8_t *body, size_t len)
{
    isr_mgr *m = arg;
    if (status == CLIENT_OK) {
        arena a; /* an answer for up to ISR_CHANGES_MAX partitions */
        arena_init(&a, 4096 + 8 * len);
        kp_reader r;
        kp_reader_init(&r, body, len, &a);
        kp_alter_partition_resp resp;
        kp_alter_partition_resp_init(&resp);
        if (kp_alter_partition_resp_decode(&r, 2, &resp) != 0)
            glog(GLOG_WARN, "replica", "an AlterPartition answer does not decode");
        else if (resp.error_code != KERR_NONE)
            glog(GLOG_WARN, "replica", "AlterPartition refused: %s", kerr_name(resp.error_code));
        else
            for (int i = 0; i < resp.topics_n; i++)
                for (int j = 0; j < resp.topics[i].partitions_n; j++)
                    if (resp.topics[i].partitions[j].error_code != KERR_NONE)
                        glog(GLOG_INFO, "replica", "AlterPartition of partition %d refused: %s",
                             resp.topics[i].partitions[j].partition_index,
                             kerr_name(resp.topics[i].partitions[j].error_code));
        arena_deinit(&a);
    }
    atomic_store(&m->inflight, false);
}

static void send_changes(isr_mgr *m, int n)
{
    broker *b = m->b;
    if (metalog_is_active(b->meta)) {
        for (int i = 0; i < n; i++) {
            isr_change *c = &m->ch[i];
            ctl_partition_state st;
            int64_t end;
            int16_t code = metalog_alter_partition(b->meta, b->node_id, -1, c->topic_id, c->index, c->leader_epoch,
                                                   c->partition_epoch, c->isr, c->nisr, &st, &end);
            if (code != KERR_NONE)
                glog(GLOG_INFO, "replica", "%s-%d: ISR change refused: %s", c->name, c->index, kerr_name(code));
        }
        return;
    }
    int32_t ctl = metalog_controller_id(b->meta);
    quorum *q = metalog_quorum(b->meta);
    if (ctl < 0 || !q)
        return;
    kp_alter_partition_req ar;
    kp_alter_partition_req_init(&ar);
    kp_alter_partition_req_topic *ts = calloc((size_t)n, sizeof(*ts));
    kp_alter_partition_req_partition *ps = calloc((size_t)n, sizeof(*ps));
    if (!ts || !ps) {
        free(ts);
        free(ps);
        return;
    }
    for (int i = 0; i < n; i++) { /* one topic entry per partition: the controller takes repeats */
        kp_alter_partition_req_topic_init(&ts[i]);
        kp_alter_partition_req_partition_init(&ps[i]);
        ts[i].topic_id = m->ch[i].topic_id;
        ts[i].partitions = &ps[i];
        ts[i].partitions_n = 1;
        ps[i].partition_index = m->ch[i].index;
        ps[i].leader_epoch = m->ch[i].leader_epoch;
        ps[i].partition_epoch = m->ch[i].partition_epoch;
        ps[i].new_isr = m->ch[i].isr;
        ps[i].new_isr_n = m->ch[i].nisr;
    }
    ar.broker_id = b->node_id;
    ar.broker_epoch = -1;
    ar.topics = ts;
    ar.topics_n = n;
    kp_writer w;
    kp_writer_init(&w);
    kp_alter_partition_req_encode(&w, 2, &ar);
    free(ts);
    free(ps);
    if (!w.err) {
        atomic_store(&m->inflight, true);
        quorum_forward(q, ctl, KP_API_ALTER_PARTITION, 2, w.buf, w.len, on_answer, m);
    }
    kp_writer_deinit(&w);
}

static void tick(reactor *r, void *arg)
{
    isr_mgr *m = arg;
    if (m->stopping)
        return;
    if (!atomic_load(&m->inflight)) {
        int n = collect(m, clock_mono_ms());
        if (n > 0)
            send_changes(m, n);
    }
    reactor_timer_arm(r, &m->timer, clock_mono_ms() + ISR_TICK_MS);
}

static void start_on_reactor(reactor *r, void *arg)
{
    isr_mgr *m = arg;
    reactor_timer_init(&m->timer, tick, m);
    reactor_timer_arm(r, &m->timer, clock_mono_ms() + ISR_TICK_MS);
}

isr_mgr *isr_start(broker *b)
{
    isr_mgr *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->b = b;
    m->lag_max_ms = config_get_num(&b->cfg, BCFG_REPLICA_LAG_TIME_MAX_MS);
    reactor_post(b->rreactor, start_on_reactor, m);
    return m;
}

static void stop_on_reactor(reactor *r, void *arg)
{
    isr_mgr *m = arg;
    m->stopping = true;
    reactor_timer_cancel(r, &m->timer);
}

void isr_stop(isr_mgr *m)
{
    if (m)
        reactor_post(m->b->rreactor, stop_on_reactor, m);
}

void isr_free(isr_mgr *m)
{
    free(m);
}
