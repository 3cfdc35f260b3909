/*
 * fetcher.c - see fetcher.h.
 *
 * Everything here runs on the replicas' reactor: the sources (one per
 * leader broker, each with its client and the partitions fetched from it)
 * are touched by that thread only; follow/unfollow requests from other
 * threads are posted to it.
 *
 * A source sends one Fetch for all its partitions, each at its log end;
 * the answer's batches are checked (batch_validate, as produced batches
 * are) and appended unchanged. Then the next Fetch goes at once; after an
 * answer with errors only, or a lost connection, after replica.fetch.
 * backoff.ms.
 */
#include "replica/fetcher.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/log.h"
#include "broker/topics.h"
#include "cluster/partition.h"
#include "kafka_msgs.h"
#include "net/client.h"
#include "proto/batch.h"

#define FETCH_VERSION_MAX 16    /* the versions Gregor's leaders serve (4-16) */

typedef struct fpart {
    topic *tp;                  /* referenced */
    int32_t index;
    int32_t epoch;              /* the leader epoch it is followed in */
    int32_t last_epoch;         /* the epoch of the local log's last batch (LastFetchedEpoch); -2: look it up */
} fpart;

typedef struct source {
    struct replicas *rm;
    int32_t leader;
    int slot;                   /* which of num.replica.fetchers connections to it */
    char host[256];
    int port;
    client *c;
    fpart *parts;
    int n, cap;
    bool in_flight;
    bool backing_off;
    reactor_timer retry;
} source;

struct replicas {
    reactor *r;
    replicas_config cfg;
    source **src;
    int nsrc;
    bool stopped;
};

/* ---- sources ---- */

static void send_fetch(source *s);

static void on_state(client *c, bool ready, void *arg)
{
    (void)c;
    source *s = arg;
    if (ready)
        send_fetch(s);
}

static void retry_fire(reactor *r, void *arg)
{
    (void)r;
    source *s = arg;
    s->backing_off = false;
    send_fetch(s);
}

static void backoff(source *s)
{
    if (s->backing_off)
        return;
    s->backing_off = true;
    reactor_timer_arm(s->rm->r, &s->retry, clock_mono_ms() + s->rm->cfg.backoff_ms);
}

static void source_connect(replicas *rm, source *s)
{
    client_options o;
    client_options_init(&o);
    o.on_state = on_state;
    o.state_arg = s;
    o.request_timeout_ms = rm->cfg.wait_max_ms + 30000; /* replica.socket.timeout.ms: 30 s */
    o.max_frame_bytes = rm->cfg.response_max_bytes + (64 << 20);
    o.seed = (uint64_t)rm->cfg.node_id * 104729u + (uint64_t)s->leader;
    char cid[64];
    if (s->slot > 0)
        snprintf(cid, sizeof cid, "replica-fetcher-%d-%d", rm->cfg.node_id, s->slot);
    else
        snprintf(cid, sizeof cid, "replica-fetcher-%d", rm->cfg.node_id);
    s->c = client_new(rm->r, s->host, s->port, cid, &o);
    if (!s->c)
        glog(GLOG_ERROR, "replica", "cannot create the fetcher's connection to broker %d at %s:%d", s->leader,
             s->host, s->port);
}

/* The source for a leader at host:port, connected; created when missing. */
/* The connection a partition is fetched on: Kafka's fetcher id, a hash of
 * the topic and the partition modulo num.replica.fetchers. */
static int fetcher_slot(const replicas *rm, kp_uuid id, int32_t index)
{
    if (rm->cfg.fetchers <= 1)
        return 0;
    uint32_t h = (uint32_t)index;
    for (int i = 0; i < 16; i++)
        h = h * 31 + id.b[i];
    return (int)(h % (uint32_t)rm->cfg.fetchers);
}

static source *source_get(replicas *rm, int32_t leader, int slot, const char *host, int port)
{
    source *s = NULL;
    for (int i = 0; i < rm->nsrc && !s; i++)
        if (rm->src[i]->leader == leader && rm->src[i]->slot == slot)
            s = rm->src[i];
    if (s && (strcmp(s->host, host) != 0 || s->port != port)) {
        /* the leader registered again elsewhere: a new connection */
        if (s->c)
            client_close(s->c);
        s->c = NULL;
        s->in_flight = false;
    }
    if (!s) {
        source **v = realloc(rm->src, sizeof(*v) * (size_t)(rm->nsrc + 1));
        if (!v)
            return NULL;
        rm->src = v;
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        rm->src[rm->nsrc++] = s;
        s->rm = rm;
        s->leader = leader;
        s->slot = slot;
        reactor_timer_init(&s->retry, retry_fire, s);
    }
    if (!s->c) {
        snprintf(s->host, sizeof s->host, "%s", host);
        s->port = port;
        source_connect(rm, s);
    }
    return s;
}

static int part_find(const source *s, kp_uuid id, int32_t index)
{
    for (int i = 0; i < s->n; i++)
        if (memcmp(s->parts[i].tp->id.b, id.b, 16) == 0 && s->parts[i].index == index)
            return i;
    return -1;
}

static void part_remove(source *s, int i)
{
    topic_unref(s->parts[i].tp);
    s->parts[i] = s->parts[--s->n];
}

/* ---- fetching ---- */

typedef struct fetch_ctx {
    source *s;
    int16_t version;
} fetch_ctx;

static void on_fetch(client *c, const client_response *resp, void *arg);

static void send_fetch(source *s)
{
    replicas *rm = s->rm;
    if (rm->stopped || s->in_flight || s->backing_off || s->n == 0 || !s->c || !client_ready(s->c))
        return;
    int16_t v = client_version(s->c, KP_API_FETCH);
    if (v > FETCH_VERSION_MAX)
        v = FETCH_VERSION_MAX;
    if (v < 4) {
        glog(GLOG_WARN, "replica", "broker %d serves no Fetch version Gregor speaks", s->leader);
        backoff(s);
        return;
    }
    /* one topic entry per partition: simple, and Kafka accepts repeats */
    kp_fetch_req_topic *fts = calloc((size_t)s->n, sizeof(*fts));
    kp_fetch_req_partition *parts = calloc((size_t)s->n, sizeof(*parts));
    fetch_ctx *fc = malloc(sizeof(*fc));
    if (!fts || !parts || !fc) {
        free(fts);
        free(parts);
        free(fc);
        backoff(s);
        return;
    }
    for (int i = 0; i < s->n; i++) {
        fpart *fp = &s->parts[i];
        partition *p = topic_partition(fp->tp, fp->index);
        kp_fetch_req_topic_init(&fts[i]);
        kp_fetch_req_partition_init(&parts[i]);
        fts[i].topic = (kp_str){ fp->tp->name, fp->tp->name_len };
        fts[i].topic_id = fp->tp->id;
        fts[i].partitions = &parts[i];
        fts[i].partitions_n = 1;
        parts[i].partition = fp->index;
        parts[i].current_leader_epoch = fp->epoch;
        parts[i].fetch_offset = p ? plog_end_offset(p->log) : 0;
        if (p && fp->last_epoch == -2)
            fp->last_epoch = partition_last_epoch(p);
        parts[i].last_fetched_epoch = fp->last_epoch;
        parts[i].log_start_offset = p ? plog_start_offset(p->log) : -1;
        parts[i].partition_max_bytes = rm->cfg.max_bytes;
    }
    kp_fetch_req req;
    kp_fetch_req_init(&req);
    req.replica_id = rm->cfg.node_id;
    req.replica_state.replica_id = rm->cfg.node_id;
    req.replica_state.replica_epoch = -1;
    req.replica_state_present = true;
    req.max_wait_ms = rm->cfg.wait_max_ms;
    req.min_bytes = rm->cfg.min_bytes;
    req.max_bytes = rm->cfg.response_max_bytes;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = fts;
    req.topics_n = s->n;
    req.forgotten_topics_data_n = 0;
    *fc = (fetch_ctx){ s, v };
    int rc = client_send_msg(s->c, KP_API_FETCH, v, &req, on_fetch, fc);
    free(fts);
    free(parts);
    if (rc != 0) {
        free(fc);
        backoff(s);
        return;
    }
    s->in_flight = true;
}

/* Check the leader's batches before they touch the log: whole, valid
 * batches, offsets increasing. Returns the bytes of whole batches (a
 * partial last batch, cut by max bytes, is dropped), or -1; *last_epoch
 * gets the last whole batch's leader epoch. */
static int64_t check_batches(const uint8_t *buf, int64_t len, int64_t from, int32_t *last_epoch)
{
    int64_t pos = 0, next = from;
    while (pos + BATCH_HEADER_BYTES <= len) {
        int64_t blen = (int64_t)batch_length(buf + pos) + BATCH_LOG_OVERHEAD;
        if (blen < BATCH_HEADER_BYTES)
            return -1;
        if (pos + blen > len)
            break;
        batch_info bi;
        if (batch_validate(buf + pos, (size_t)blen, &bi) != BATCH_OK)
            return -1;
        if (batch_base_offset(buf + pos) < next)
            return -1;
        next = batch_base_offset(buf + pos) + bi.last_offset_delta + 1;
        *last_epoch = batch_leader_epoch(buf + pos);
        pos += blen;
    }
    return pos;
}

/* One partition's answer. Returns true when it made progress or is fine. */
static bool take_partition(source *s, fpart *fp, const kp_fetch_resp_partition *pr)
{
    partition *p = topic_partition(fp->tp, fp->index);
    if (!p)
        return false;
    int64_t end = plog_end_offset(p->log);
    switch (pr->error_code) {
    case KERR_NONE:
        if (pr->diverging_epoch.end_offset >= 0 && pr->diverging_epoch.end_offset < end) {
            /* Kafka's follower: no further than where this log has that
             * epoch end too (it may not hold the epoch at all: then where
             * its own later epoch starts); the next fetch, with the epoch
             * the log then ends in, goes on with the search. */
            int64_t to = pr->diverging_epoch.end_offset;
            int32_t found;
            int64_t mine = partition_epoch_end(p, pr->diverging_epoch.epoch, &found);
            if (mine >= 0 && mine < to)
                to = mine;
            glog(GLOG_WARN, "replica", "%s-%d: this replica's log diverged from its leader's after epoch %d: "
                 "truncated from %lld to %lld", fp->tp->name, fp->index, pr->diverging_epoch.epoch,
                 (long long)end, (long long)to);
            plog_truncate(p->log, to);
            partition_follower_truncated(p);
            fp->last_epoch = -2;
            return true;
        }
        break;
    case KERR_OFFSET_OUT_OF_RANGE:
        if (pr->log_start_offset > end) {
            glog(GLOG_WARN, "replica", "%s-%d: the leader's log starts at %lld, after this replica's end %lld: "
                 "starting again there", fp->tp->name, fp->index, (long long)pr->log_start_offset, (long long)end);
            plog_reset(p->log, pr->log_start_offset);
            fp->last_epoch = -2;
        } else if (pr->high_watermark >= 0 && pr->high_watermark < end) {
            glog(GLOG_WARN, "replica", "%s-%d: this replica (end %lld) is ahead of its leader: truncated to the "
                 "leader's high watermark %lld", fp->tp->name, fp->index, (long long)end,
                 (long long)pr->high_watermark);
            plog_truncate(p->log, pr->high_watermark);
            partition_follower_truncated(p);
            fp->last_epoch = -2;
        }
        return false;
    default:
        return false; /* not the leader (yet), epoch moved: the publisher will tell */
    }
    if (pr->records.len <= 0 || !pr->records.ptr) {
        partition_follower_hw(p, pr->high_watermark);
        return true;
    }
    int32_t last_epoch = fp->last_epoch;
    int64_t n = check_batches(pr->records.ptr, pr->records.len, end, &last_epoch);
    if (n < 0) {
        glog(GLOG_ERROR, "replica", "%s-%d: broker %d sent batches that do not check at offset %lld; fetching "
             "again", fp->tp->name, fp->index, s->leader, (long long)end);
        return false;
    }
    if (n == 0)
        return true;
    uint8_t *copy = malloc((size_t)n);
    if (!copy)
        return false;
    memcpy(copy, pr->records.ptr, (size_t)n);
    part_result res;
    partition_append_follower(p, copy, (size_t)n, clock_now_ms(), &res);
    free(copy);
    if (res.log_rc != LOG_OK) {
        glog(GLOG_ERROR, "replica", "%s-%d: appending the leader's batches at %lld failed: %s", fp->tp->name,
             fp->index, (long long)end, plog_failure(p->log) ? plog_failure(p->log) : "out of step");
        return false;
    }
    fp->last_epoch = last_epoch; /* the next LastFetchedEpoch */
    partition_follower_hw(p, pr->high_watermark);
    return true;
}

static void on_fetch(client *c, const client_response *resp, void *arg)
{
    (void)c;
    fetch_ctx *fc = arg;
    source *s = fc->s;
    int16_t v = fc->version;
    free(fc);
    s->in_flight = false;
    if (resp->status != CLIENT_OK) {
        if (resp->status != CLIENT_ERR_CLOSED)
            backoff(s);
        return;
    }
    arena a; /* the decoded answer: a few structs per partition (records stay in the body) */
    arena_init(&a, (1 << 16) + 8 * resp->body_len);
    kp_reader r;
    kp_reader_init(&r, resp->body, resp->body_len, &a);
    kp_fetch_resp fr;
    kp_fetch_resp_init(&fr);
    bool ok = false;
    if (kp_fetch_resp_decode(&r, v, &fr) != 0) {
        glog(GLOG_WARN, "replica", "a Fetch answer of broker %d does not decode: %s", s->leader, kp_err_str(r.err));
    } else if (fr.error_code != KERR_NONE) {
        glog(GLOG_WARN, "replica", "broker %d refused the replica Fetch: error %d", s->leader, fr.error_code);
    } else {
        for (int i = 0; i < fr.responses_n; i++) {
            const kp_fetch_resp_topic *t = &fr.responses[i];
            for (int j = 0; j < t->partitions_n; j++) {
                const kp_fetch_resp_partition *pr = &t->partitions[j];
                int k = -1;
                for (int x = 0; x < s->n && k < 0; x++) {
                    fpart *fp = &s->parts[x];
                    bool same = v >= 13 ? memcmp(fp->tp->id.b, t->topic_id.b, 16) == 0
                                        : (t->topic.len == fp->tp->name_len &&
                                           memcmp(t->topic.ptr, fp->tp->name, (size_t)t->topic.len) == 0);
                    if (same && fp->index == pr->partition_index)
                        k = x;
                }
                if (k >= 0 && take_partition(s, &s->parts[k], pr))
                    ok = true;
            }
        }
    }
    arena_deinit(&a);
    if (ok)
        send_fetch(s);
    else
        backoff(s);
}

/* ---- follow / unfollow (posted) ---- */

typedef struct follow_job {
    replicas *rm;
    topic *tp;                  /* follow: referenced; unfollow: NULL */
    kp_uuid id;
    int32_t index;
    int32_t leader, epoch;
    char host[256];
    int port;
} follow_job;

static void unfollow_everywhere(replicas *rm, kp_uuid id, int32_t index, const source *except)
{
    for (int i = 0; i < rm->nsrc; i++) {
        source *s = rm->src[i];
        if (s == except)
            continue;
        for (int k = s->n - 1; k >= 0; k--)
            if (memcmp(s->parts[k].tp->id.b, id.b, 16) == 0 && (index < 0 || s->parts[k].index == index))
                part_remove(s, k);
    }
}

static void follow_on_reactor(reactor *r, void *arg)
{
    (void)r;
    follow_job *j = arg;
    replicas *rm = j->rm;
    if (!j->tp || rm->stopped) {
        unfollow_everywhere(rm, j->id, j->index, NULL);
        if (j->tp)
            topic_unref(j->tp);
        free(j);
        return;
    }
    source *s = source_get(rm, j->leader, fetcher_slot(rm, j->id, j->index), j->host, j->port);
    unfollow_everywhere(rm, j->id, j->index, s);
    int k = s ? part_find(s, j->id, j->index) : -1;
    if (!s) {
        topic_unref(j->tp);
    } else if (k >= 0) {
        s->parts[k].epoch = j->epoch;
        if (s->parts[k].tp != j->tp) { /* the table's object for the topic changed: hold the new one */
            topic_unref(s->parts[k].tp);
            s->parts[k].tp = j->tp;
        } else {
            topic_unref(j->tp);
        }
    } else {
        if (s->n == s->cap) {
            int cap = s->cap ? s->cap * 2 : 16;
            fpart *v = realloc(s->parts, sizeof(*v) * (size_t)cap);
            if (!v) {
                topic_unref(j->tp);
                free(j);
                return;
            }
            s->parts = v;
            s->cap = cap;
        }
        s->parts[s->n++] = (fpart){ j->tp, j->index, j->epoch, -2 };
        glog(GLOG_DEBUG, "replica", "%s-%d: following broker %d in epoch %d", j->tp->name, j->index, j->leader,
             j->epoch);
        send_fetch(s);
    }
    free(j);
}

void replicas_follow(replicas *rm, topic *tp, int32_t index, int32_t leader, const char *host, int port,
                     int32_t epoch)
{
    follow_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    topic_ref(tp);
    *j = (follow_job){ .rm = rm, .tp = tp, .id = tp->id, .index = index, .leader = leader, .epoch = epoch,
                       .port = port };
    snprintf(j->host, sizeof j->host, "%s", host);
    reactor_post(rm->r, follow_on_reactor, j);
}

void replicas_unfollow(replicas *rm, kp_uuid topic_id, int32_t index)
{
    follow_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    *j = (follow_job){ .rm = rm, .id = topic_id, .index = index };
    reactor_post(rm->r, follow_on_reactor, j);
}

/* ---- life cycle ---- */

replicas *replicas_new(reactor *r, const replicas_config *cfg)
{
    replicas *rm = calloc(1, sizeof(*rm));
    if (!rm)
        return NULL;
    rm->r = r;
    rm->cfg = *cfg;
    return rm;
}

static void stop_on_reactor(reactor *r, void *arg)
{
    replicas *rm = arg;
    rm->stopped = true;
    for (int i = 0; i < rm->nsrc; i++) {
        source *s = rm->src[i];
        reactor_timer_cancel(r, &s->retry);
        while (s->n > 0)
            part_remove(s, s->n - 1);
        if (s->c)
            client_close(s->c);
        s->c = NULL;
    }
}

void replicas_stop(replicas *rm)
{
    if (rm)
        reactor_post(rm->r, stop_on_reactor, rm);
}

void replicas_free(replicas *rm)
{
    if (!rm)
        return;
    for (int i = 0; i < rm->nsrc; i++) {
        source *s = rm->src[i];
        while (s->n > 0)
            part_remove(s, s->n - 1);
        free(s->parts);
        free(s);
    }
    free(rm->src);
    free(rm);
}
