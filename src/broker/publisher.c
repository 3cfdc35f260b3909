/*
 * publisher.c - the broker's metadata listener: keeps the topic table (the
 * runtime side: open logs, config overrides in the form the hot paths read)
 * in step with the committed metadata image.
 *
 * Runs on the metadata thread after each committed batch (and during the
 * start-up replay) with what changed: a topic created gets a table entry,
 * a partition whose replicas include this node gets its log opened (and
 * recovered), a config change is copied into the topic's overrides and the
 * partitions' log configs, a removed topic leaves the table (its logs are
 * deleted when the last request holding it lets go) and its committed group
 * offsets go. Kafka's BrokerMetadataPublisher does the same job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "txn/tcoord.h"
#include "broker/topic_config.h"
#include "group/coordinator.h"
#include "metadata/metalog.h"
#include "replica/fetcher.h"

static bool is_replica(const mi_partition *p, int32_t node)
{
    for (int i = 0; i < p->nreplicas; i++)
        if (p->replicas[i] == node)
            return true;
    return false;
}

/* The topic's overrides as the image has them. Table write lock held. */
static void sync_overrides(topic *tp, const mi_topic *mt)
{
    for (int i = 0; i < TCFG_COUNT; i++) {
        const char *name = topic_config_defs[i].name;
        const char *v = mi_topic_config(mt, name);
        char err[256];
        if (!v)
            config_reset(&tp->overrides, name);
        else if (config_set_value(&tp->overrides, name, v, CONFIG_SOURCE_TOPIC, err, sizeof err) != 0)
            glog(GLOG_WARN, "meta", "topic %s: config %s ignored: %s", tp->name, name, err);
    }
}

static int open_partition(broker *b, topic *tp, const mi_partition *mp, int32_t index, char *err, size_t errlen)
{
    log_config lc;
    topics_read_lock(b->topics);
    topic_config_log(&tp->overrides, &b->cfg, &lc);
    topics_read_unlock(b->topics);
    char report[1024] = "";
    plog *log = NULL;
    if (logmgr_partition_open(b->logs, tp->name, index, &lc, &log, report, sizeof(report)) != 0) {
        snprintf(err, errlen, "cannot open partition %s-%d: %s%s", tp->name, index,
                 report[0] ? report : "unknown error",
                 strstr(report, "Too many open files") ? " (raise the open-files limit: ulimit -n / LimitNOFILE)" : "");
        glog(GLOG_ERROR, "log", "%s", err);
        return -1;
    }
    if (report[0] && strstr(report, "recover"))
        glog(strstr(report, "truncat") ? GLOG_WARN : GLOG_INFO, "log", "recovery of %s-%d: %s", tp->name, index, report);
    char why[512];
    partition *p = partition_open(tp, tp->name, index, log, mp->leader_epoch, &b->part_env, b->clean_start, why,
                                  sizeof why);
    if (!p) {
        snprintf(err, errlen, "cannot open partition %s-%d: out of memory", tp->name, index);
        return -1;
    }
    if (why[0])
        glog(GLOG_WARN, "log", "%s-%d: %s", tp->name, index, why);
    atomic_store(&p->leads, mp->leader == b->node_id);
    partition_set_replicas(p, b->node_id, mp->replicas, mp->nreplicas, mp->isr, mp->nisr, mp->leader == b->node_id);
    topics_write_lock(b->topics);
    int rc = topic_add_partition_locked(tp, p);
    topics_write_unlock(b->topics);
    if (rc != 0) {
        partition_free(p);
        snprintf(err, errlen, "cannot open partition %s-%d: out of memory", tp->name, index);
    }
    return rc;
}

/* A local replica of a partition another alive broker leads is fetched
 * from there; any other is not (this broker leads it, or it has no
 * leader, or it is not local). Brokers reach each other on the client
 * listener's name (inter.broker.listener.name is not read yet). */
static void sync_follow(broker *b, const mimage *im, topic *tp, int32_t index)
{
    if (!b->replicas)
        return;
    const mi_topic *mt = mimage_topic_by_id(im, tp->id);
    const mi_partition *mp = mt && index < mt->nparts ? &mt->parts[index] : NULL;
    const mi_broker *lb = mp && mp->leader >= 0 && mp->leader != b->node_id && is_replica(mp, b->node_id) &&
                                  topic_partition(tp, index)
                              ? mimage_broker(im, mp->leader)
                              : NULL;
    const mi_endpoint *ep = lb && !lb->fenced ? broker_client_endpoint(b, lb) : NULL;
    if (ep)
        replicas_follow(b->replicas, tp, index, mp->leader, ep->host, ep->port, mp->leader_epoch);
    else
        replicas_unfollow(b->replicas, tp->id, index);
}

/* A broker registered again, was fenced or unfenced: the partitions it
 * leads here are followed again (its address may have changed). */
static void sync_follow_leader(broker *b, const mimage *im, int32_t leader)
{
    if (!b->replicas || leader == b->node_id)
        return;
    for (int i = 0; i < im->ntopics; i++) {
        const mi_topic *mt = im->by_id[i];
        topic *tp = NULL;
        for (int32_t k = 0; k < mt->nparts; k++) {
            if (mt->parts[k].leader != leader || !is_replica(&mt->parts[k], b->node_id))
                continue;
            if (!tp && !(tp = topics_get_by_id(b->topics, mt->id)))
                break;
            sync_follow(b, im, tp, k);
        }
        if (tp)
            topic_unref(tp);
    }
}

static int on_partition(broker *b, const mimage *im, const mdelta_event *e, char *err, size_t errlen)
{
    const mi_topic *mt = mimage_topic_by_id(im, e->topic_id);
    if (!mt || e->partition >= mt->nparts)
        return 0; /* gone again later in the same batch */
    const mi_partition *mp = &mt->parts[e->partition];
    topic *tp = topics_get_by_id(b->topics, e->topic_id);
    if (!tp)
        return 0;
    if (!is_replica(mp, b->node_id)) { /* hosted elsewhere: a hole, counted */
        topics_write_lock(b->topics);
        int rc = topic_extend_locked(tp, e->partition + 1);
        topics_write_unlock(b->topics);
        topic_unref(tp);
        return rc;
    }
    int rc = 0;
    if (!topic_partition(tp, e->partition))
        rc = open_partition(b, tp, mp, e->partition, err, errlen);
    if (rc == 0)
        sync_follow(b, im, tp, e->partition);
    topic_unref(tp);
    return rc;
}

/* A reassignment took partition `index` away from this broker: it stops
 * following and serving it, acks=all appends waiting on it are answered
 * NOT_LEADER_OR_FOLLOWER, and the table gets a topic object without it
 * (topics_drop_partition_locked): the log is deleted once the last request
 * holding the old object is done (broker_topic_gone). */
static void drop_replica(broker *b, const mimage *im, topic *tp, const mi_partition *mp, int32_t index)
{
    partition *p = topic_partition(tp, index);
    if (b->replicas)
        replicas_unfollow(b->replicas, tp->id, index);
    atomic_store(&p->leads, false);
    partition_set_replicas(p, b->node_id, mp->replicas, mp->nreplicas, mp->isr, mp->nisr, false);
    partition_fail_hw_waiters(p);
    topics_write_lock(b->topics);
    topic *nt = topics_drop_partition_locked(b->topics, tp, index);
    topics_write_unlock(b->topics);
    if (!nt) {
        glog(GLOG_WARN, "replica", "%s-%d: no longer a replica here, but its log stays (out of memory)", tp->name,
             index);
        return;
    }
    glog(GLOG_INFO, "replica", "%s-%d: this broker is no longer one of its replicas (%d now); its log goes once "
         "no request holds it", tp->name, index, mp->nreplicas);
    /* The partitions followed from here hold the old object: give them the new one. */
    for (int32_t k = 0; k < topic_nparts(nt); k++)
        if (topic_partition(nt, k))
            sync_follow(b, im, nt, k);
}

static void on_config(broker *b, const mimage *im, const mdelta_event *e)
{
    const mi_topic *mt = mimage_topic_by_id(im, e->topic_id);
    topic *tp = mt ? topics_get_by_id(b->topics, e->topic_id) : NULL;
    if (!tp)
        return;
    log_config lc;
    topics_write_lock(b->topics);
    sync_overrides(tp, mt);
    topic_config_log(&tp->overrides, &b->cfg, &lc);
    topics_write_unlock(b->topics);
    for (int32_t i = 0; i < topic_nparts(tp); i++)
        if (topic_partition(tp, i))
            plog_set_config(topic_partition(tp, i)->log, &lc);
    topic_unref(tp);
}

static void on_removed(broker *b, const mdelta_event *e)
{
    topic *tp = topics_get_by_id(b->topics, e->topic_id);
    if (!tp)
        return;
    topics_write_lock(b->topics);
    tp->deleted = true;
    topics_remove_locked(b->topics, tp);
    topics_write_unlock(b->topics);
    if (b->coord)
        coord_topic_deleted(b->coord, tp->name);
    glog(GLOG_INFO, "meta", "deleted topic %s", tp->name);
    topic_unref(tp); /* the logs are deleted when the last user lets go */
}

/* ---- finalized features ---- */

#define FEATURES_LEVEL_BITS 16

/* The image at offset `offset` is published: its finalized features with
 * it. Metadata thread (the only writer). */
static void publish_features(broker *b, const mimage *im, int64_t offset)
{
    uint64_t old = atomic_load(&b->features_published);
    uint64_t at = (uint64_t)(offset + 1);
    if (offset < 0 || at < old >> FEATURES_LEVEL_BITS)
        return; /* not known, or older than what clients saw: the epoch only grows */
    uint16_t level = (uint16_t)(im->transaction_version > 0 ? im->transaction_version : 0);
    atomic_store(&b->features_published, at << FEATURES_LEVEL_BITS | level);
}

void broker_finalized_features(broker *b, int16_t *txn_version, int64_t *epoch)
{
    uint64_t v = atomic_load(&b->features_published);
    *txn_version = (int16_t)(v & 0xffff);
    *epoch = (int64_t)(v >> FEATURES_LEVEL_BITS) - 1;
}

/* Through broker_finalized_features: what ApiVersions answers is what the
 * transaction coordinator reads (test_features.py checks it there). */
int16_t broker_transaction_version(broker *b)
{
    int16_t level;
    int64_t epoch;
    broker_finalized_features(b, &level, &epoch);
    return level;
}

int broker_publish(void *ctx, const mimage *im, const mdelta *d, char *err, size_t errlen)
{
    broker *b = ctx;
    publish_features(b, im, d->offset);
    bool offsets_moved = false, txn_moved = false;
    for (int i = 0; i < d->n; i++) {
        const mdelta_event *e = &d->ev[i];
        if (e->kind == MD_PARTITION_ADDED || e->kind == MD_PARTITION_CHANGED) {
            const mi_topic *mt = mimage_topic_by_id(im, e->topic_id);
            offsets_moved |= mt && strcmp(mt->name, "__consumer_offsets") == 0;
            txn_moved |= mt && strcmp(mt->name, "__transaction_state") == 0;
        }
        switch (e->kind) {
        case MD_TOPIC_CREATED: {
            topics_write_lock(b->topics);
            topic *tp = topics_insert_locked(b->topics, e->name, e->topic_id);
            topics_write_unlock(b->topics);
            if (!tp)
                glog(GLOG_WARN, "meta", "topic %s is in the table already", e->name);
            break;
        }
        case MD_PARTITION_ADDED:
            if (on_partition(b, im, e, err, errlen) != 0)
                return -1;
            break;
        case MD_PARTITION_CHANGED: {
            /* leadership moved: this broker serves it or refuses it */
            const mi_topic *mt = mimage_topic_by_id(im, e->topic_id);
            topic *tp = mt && e->partition < mt->nparts ? topics_get_by_id(b->topics, e->topic_id) : NULL;
            partition *p = tp ? topic_partition(tp, e->partition) : NULL;
            bool mine = tp && is_replica(&mt->parts[e->partition], b->node_id);
            if (p && !mine) {
                drop_replica(b, im, tp, &mt->parts[e->partition], e->partition);
            } else if (!p && mine) { /* a reassignment added this broker: open the log, follow the leader */
                topics_keep_dropped(b->topics, e->topic_id, e->partition);
                if (on_partition(b, im, e, err, errlen) != 0)
                    glog(GLOG_ERROR, "replica", "%s", err);
            } else if (p) {
                const mi_partition *mp = &mt->parts[e->partition];
                atomic_store(&p->leads, mp->leader == b->node_id);
                p->leader_epoch = mp->leader_epoch;
                partition_set_replicas(p, b->node_id, mp->replicas, mp->nreplicas, mp->isr, mp->nisr,
                                       mp->leader == b->node_id);
                sync_follow(b, im, tp, e->partition);
            }
            if (tp)
                topic_unref(tp);
            break;
        }
        case MD_TOPIC_CONFIG:
            on_config(b, im, e);
            break;
        case MD_TOPIC_REMOVED:
            if (b->replicas)
                replicas_unfollow(b->replicas, e->topic_id, -1);
            on_removed(b, e);
            break;
        case MD_BROKER_CHANGED:
            sync_follow_leader(b, im, e->broker);
            break;
        case MD_CAUGHT_UP:
            broker_set_aside_strays(b, true);
            break;
        default:
            break;
        }
    }
    /* The coordinators follow the leadership of their partitions. */
    if (offsets_moved)
        coord_leadership_changed(b->coord);
    if (txn_moved)
        tcoord_leadership_changed(b->tcoord);
    return 0;
}

/* The table's destructor: a deleted topic's logs go with its last user. */
void broker_topic_gone(topic *tp, void *ctx)
{
    broker *b = ctx;
    if (!tp->deleted && tp->dropped >= 0 && !tp->drop_kept && topic_partition(tp, tp->dropped)) {
        if (logmgr_partition_delete(b->logs, tp->name, tp->dropped) != 0)
            glog(GLOG_ERROR, "log", "could not delete the log of %s-%d", tp->name, tp->dropped);
        else
            glog(GLOG_INFO, "log", "deleted the log of %s-%d (its replicas are on other brokers)", tp->name,
                 tp->dropped);
    }
    if (!tp->deleted)
        return;
    for (int i = 0; i < topic_nparts(tp); i++)
        if (topic_partition(tp, i) && logmgr_partition_delete(b->logs, tp->name, i) != 0)
            glog(GLOG_ERROR, "log", "could not delete the log of %s-%d", tp->name, i);
}
