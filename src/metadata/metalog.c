/*
 * metalog.c - see metalog.h.
 *
 * The live path and the replay path are the same: a change is encoded as
 * records, appended, and applied (to the image, then published) by decoding
 * the bytes written, so what a restart rebuilds is exactly what the running
 * broker had. The controller applies its own records to its own image when
 * it writes them; the committed image follows when the batch is durable.
 *
 * Batches written and not yet applied wait in `pending`, in log order (the
 * writer lock orders the append and the queueing alike). The flusher tells
 * the metadata thread how far the log is durable; the thread applies the
 * pending batches up to there, runs the listeners, then completes waiters.
 */
#include "metadata/metalog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/flusher.h"
#include "broker/topic_config.h"
#include "kafka_msgs.h"
#include "metadata/snapfile.h"
#include "proto/batch.h"
#include "proto/batch_build.h"
#include "proto/records.h"

#define META_TOPIC METALOG_TOPIC
#define REPLAY_CHUNK (1 << 20)
#define LISTENERS_MAX 8

typedef struct pending_batch {
    struct pending_batch *next;
    int64_t end;            /* last offset + 1 */
    bool install;           /* not a batch: the snapshot `snap` ending at end replaces the image */
    raft_snapshot_id snap;
    size_t len;
    uint8_t bytes[];
} pending_batch;

typedef struct waiter {
    struct waiter *next;
    int64_t offset;
    reactor *r;
    void (*fn)(reactor *r, void *arg, int rc);
    void *arg;
    int rc;
} waiter;

struct metalog {
    pthread_mutex_t wlock;      /* writers: the controller and the append */
    controller *ctl;            /* guarded by wlock */
    plog *log;                  /* owned by the log manager */
    partition *part;            /* the only writer of log */
    const partition_env *env;
    int32_t node_id;

    pthread_rwlock_t ilock;     /* the committed image: written by the applier only */
    mimage image;

    struct { metalog_listener_fn fn; void *ctx; } listeners[LISTENERS_MAX];
    int nlisteners;

    pthread_mutex_t qlock;      /* pending, durable, applied, waiters, flags */
    pthread_cond_t qcond;
    pending_batch *pending, **pending_tail;
    int64_t durable;            /* the log is durable below this offset */
    int64_t applied;            /* records below this offset are applied */
    int flush_rc;               /* LOG_OK or the first flush failure */
    waiter *waiters;
    bool running, stopping;
    pthread_t thread;

    /* a cluster (NULL: a single node, committing by its own fsync) */
    quorum *q;
    int role;                   /* the quorum role, under qlock */
    int32_t leader;             /* the quorum leader, under qlock */
    int64_t activate_at;        /* leader: the controller takes over once applied reaches it */
    bool active;                /* this node's controller may write (under qlock; a single node: always) */
    bool reset_pending;         /* the controller's image must be reset before writing */
    /* A cluster node that starts catches up before its listeners see
     * anything (Kafka's MetadataLoader): replaying the log's history one
     * batch at a time would have its broker act, for a moment, on every
     * old state - lead partitions in epochs long gone, take their high
     * watermarks from ISRs long changed. The image follows the commits;
     * the listeners get one difference from `base` (what they saw before:
     * the loaded snapshot) once the image reaches the quorum's high
     * watermark as first learned. */
    atomic_bool catching_up;    /* written by the metadata thread (set before it starts) */
    int64_t catch_up_to;        /* under qlock; -1: not learned yet */
    mimage base;
    struct { int32_t id; int64_t end; } regs[64]; /* where each broker's registration ends */
    int nregs;                  /* guarded by wlock */

    /* snapshots: the metadata thread's (or the replaying caller's) */
    metalog_config cfg;
    raft_snapshot_id snap;      /* the latest (end_offset 0: none); under qlock */
    int64_t snap_bytes;         /* batch bytes applied since it */
    int64_t snap_due_ms;        /* snapshot_interval_ms after the first of them (mono; 0: none) */
    int32_t applied_epoch;      /* the epoch of the last applied batch (a single node's snapshot id) */
    bool has_records;           /* a metadata record or a snapshot was applied: the log is not a new
                                 * cluster's (applier, or the caller before metalog_start) */
    int64_t applied_ts;         /* its max timestamp: the snapshot's LastContainedLogTimestamp */
};

plog *metalog_plog(metalog *m) { return m->log; }
partition *metalog_partition(metalog *m) { return m->part; }
const mimage *metalog_image(metalog *m) { return &m->image; }
void metalog_read_lock(metalog *m) { pthread_rwlock_rdlock(&m->ilock); }
void metalog_read_unlock(metalog *m) { pthread_rwlock_unlock(&m->ilock); }

void metalog_add_listener(metalog *m, metalog_listener_fn fn, void *ctx)
{
    if (m->nlisteners < LISTENERS_MAX) {
        m->listeners[m->nlisteners].fn = fn;
        m->listeners[m->nlisteners].ctx = ctx;
        m->nlisteners++;
    }
}

/* ---- apply and publish ---- */

/* Run the listeners after a change to the image (rc: the change's own
 * result; they run only when it is 0). */
static int publish(metalog *m, const mdelta *d, int rc, char *err, size_t errlen)
{
    if (m->catching_up)
        return rc; /* the listeners get it all at the end of the catch-up */
    /* The listeners read the image without the lock: only this thread
     * changes it. */
    for (int i = 0; i < m->nlisteners && rc == 0; i++)
        if (m->listeners[i].fn(m->listeners[i].ctx, &m->image, d, err, errlen) != 0)
            rc = -1;
    return rc;
}

/*
 * Apply one batch's records to the committed image (and, in a replay, to
 * the controller's), then run the listeners. end: the offset after the
 * batch in the log (the leader's own batches come back from the quorum as
 * proposed, their base offset not patched). Applier thread, or the
 * replaying / not-yet-started caller. 0, or -1 with err.
 */
static int apply_batch(metalog *m, const uint8_t *p, size_t len, int64_t end, bool replay, char *err,
                       size_t errlen)
{
    rec_iter it;
    rec_iter_setup(&it);
    if (rec_iter_init(&it, p, len, 64u << 20) != 0) {
        snprintf(err, errlen, "metadata batch at offset %lld does not decode: %s",
                 (long long)batch_base_offset(p), it.err ? it.err : "?");
        rec_iter_deinit(&it);
        return -1;
    }
    mdelta d;
    mdelta_init(&d);
    int rc = 0;
    krecord kr;
    int more;
    pthread_rwlock_wrlock(&m->ilock);
    while ((more = rec_iter_next(&it, &kr)) == 1) {
        m->has_records = true;
        if (mimage_apply(&m->image, kr.value, kr.value_len, &d, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (replay)
            controller_replay(m->ctl, kr.value, kr.value_len, err, errlen);
    }
    pthread_rwlock_unlock(&m->ilock);
    if (more < 0) {
        snprintf(err, errlen, "metadata batch at offset %lld: %s", (long long)batch_base_offset(p),
                 it.err ? it.err : "a record does not parse");
        rc = -1;
    }
    rec_iter_deinit(&it);
    d.offset = end - 1;
    rc = publish(m, &d, rc, err, errlen);
    mdelta_deinit(&d);
    if (rc == 0) {
        m->applied_epoch = batch_leader_epoch(p);
        batch_info bi;
        batch_peek(p, &bi);
        m->applied_ts = bi.max_timestamp;
        if (m->snap_bytes == 0 && m->cfg.snapshot_interval_ms > 0)
            m->snap_due_ms = clock_mono_ms() + m->cfg.snapshot_interval_ms;
        m->snap_bytes += (int64_t)len;
    }
    return rc;
}

/* The image reached the quorum's high watermark: the listeners see what
 * changed since they last looked. Metadata thread. */
static void end_catch_up(metalog *m, int64_t applied)
{
    mdelta d;
    mdelta_init(&d);
    mimage_diff(&m->base, &m->image, &d);
    d.offset = applied - 1;
    mdelta_add_caught_up(&d);
    m->catching_up = false;
    char err[512];
    if (publish(m, &d, 0, err, sizeof err) != 0)
        glog(GLOG_ERROR, "meta", "publishing the caught-up metadata image: %s", err);
    glog(GLOG_INFO, "meta", "caught up with the metadata quorum at offset %lld: %d topics, %d brokers (%d changes "
         "published at once)", (long long)metalog_applied(m), m->image.ntopics, m->image.nbrokers, d.n);
    mdelta_deinit(&d);
    mimage_deinit(&m->base);
    mimage_init(&m->base);
}

/* qlock held (dropped and taken again around the publishing). */
static void maybe_end_catch_up_locked(metalog *m)
{
    if (m->catching_up && m->catch_up_to >= 0 && m->applied >= m->catch_up_to) {
        int64_t applied = m->applied;
        pthread_mutex_unlock(&m->qlock);
        end_catch_up(m, applied);
        pthread_mutex_lock(&m->qlock);
    }
}

/* ---- snapshots ---- */

typedef struct snap_load {
    metalog *m;
    mimage *im;
    mdelta *d;
    bool controller;            /* the controller's image follows (a start) */
    char err[512];
} snap_load;

static int load_record(void *ctx, const uint8_t *val, int32_t len)
{
    snap_load *l = ctx;
    if (mimage_apply(l->im, val, len, l->d, l->err, sizeof l->err) != 0)
        return -1;
    if (l->controller) {
        char ignore[256];
        controller_replay(l->m->ctl, val, len, ignore, sizeof ignore);
    }
    return 0;
}

/*
 * At start: the latest snapshot becomes the image (published), the log is
 * read from its end. 1 loaded, 0 none, -1 with err.
 */
static int load_snapshot(metalog *m, char *err, size_t errlen)
{
    const char *dir = plog_dir(m->log);
    raft_snapshot_id id;
    int64_t size;
    char path[4200];
    int rc = snapfile_latest(dir, &id, &size, path, sizeof path, err, errlen);
    if (rc <= 0)
        return rc;
    mdelta d;
    mdelta_init(&d);
    snap_load l = { .m = m, .im = &m->image, .d = &d, .controller = true };
    char why[512] = "";
    pthread_rwlock_wrlock(&m->ilock);
    rc = snapfile_read(path, load_record, &l, why, sizeof why);
    pthread_rwlock_unlock(&m->ilock);
    if (rc != 0) {
        snprintf(err, errlen, "metadata snapshot %s: %s", path, l.err[0] ? l.err : why);
        mdelta_deinit(&d);
        return -1;
    }
    m->has_records = true;
    d.offset = id.end_offset - 1;
    rc = publish(m, &d, 0, err, errlen);
    mdelta_deinit(&d);
    if (rc != 0)
        return -1;
    /* the log behind it goes; a log that ends before it starts again at its end */
    if (plog_end_offset(m->log) < id.end_offset)
        rc = plog_reset(m->log, id.end_offset) == LOG_OK ? 0 : -1;
    else if (plog_start_offset(m->log) < id.end_offset)
        plog_advance_start(m->log, id.end_offset);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the metadata log at the snapshot's end offset %lld",
                 (long long)id.end_offset);
        return -1;
    }
    pthread_mutex_lock(&m->qlock);
    m->snap = id;
    m->applied = m->durable = id.end_offset;
    pthread_mutex_unlock(&m->qlock);
    m->applied_epoch = id.epoch;
    glog(GLOG_INFO, "meta", "loaded the metadata snapshot %s (%lld bytes): %d topics, %d brokers", path,
         (long long)size, m->image.ntopics, m->image.nbrokers);
    return 1;
}

/* A follower's downloaded snapshot replaces the image: the listeners see
 * the difference. Metadata thread. */
static void install_snapshot(metalog *m, raft_snapshot_id id)
{
    char path[4200], why[512] = "";
    snapfile_path(path, sizeof path, plog_dir(m->log), id, false);
    mimage fresh;
    mimage_init(&fresh);
    snap_load l = { .m = m, .im = &fresh };
    if (snapfile_read(path, load_record, &l, why, sizeof why) != 0) {
        glog(GLOG_ERROR, "meta", "the metadata snapshot %s does not load (%s): the image stays at offset %lld", path,
             l.err[0] ? l.err : why, (long long)metalog_applied(m));
        mimage_deinit(&fresh);
        return;
    }
    mdelta d;
    mdelta_init(&d);
    mimage_diff(&m->image, &fresh, &d);
    pthread_rwlock_wrlock(&m->ilock);
    mimage old = m->image;
    m->image = fresh;
    pthread_rwlock_unlock(&m->ilock);
    mimage_deinit(&old);
    m->has_records = true;
    d.offset = id.end_offset - 1;
    if (publish(m, &d, 0, why, sizeof why) != 0)
        glog(GLOG_ERROR, "meta", "publishing the metadata snapshot: %s", why);
    mdelta_deinit(&d);
    pthread_mutex_lock(&m->qlock);
    m->snap = id;
    pthread_mutex_unlock(&m->qlock);
    m->applied_epoch = id.epoch;
    m->snap_bytes = 0;
    m->snap_due_ms = 0;
    glog(GLOG_INFO, "meta", "the metadata image is now the leader's snapshot at offset %lld: %d topics, %d brokers",
         (long long)id.end_offset, m->image.ntopics, m->image.nbrokers);
}

/* Time for a snapshot of what is applied? Metadata thread (or before it
 * starts), after an apply or when the interval ran out. */
static void maybe_snapshot(metalog *m)
{
    if (m->snap_bytes == 0)
        return;
    int64_t now = clock_mono_ms();
    if (m->snap_bytes < m->cfg.snapshot_max_bytes && !(m->snap_due_ms > 0 && now >= m->snap_due_ms))
        return;
    pthread_mutex_lock(&m->qlock);
    int64_t end = m->applied;
    raft_snapshot_id last = m->snap;
    pthread_mutex_unlock(&m->qlock);
    int32_t epoch = end > last.end_offset ? (m->q ? quorum_epoch_before(m->q, end) : m->applied_epoch) : -1;
    if (epoch < 0) { /* nothing new, or not known yet: later */
        m->snap_due_ms = m->cfg.snapshot_interval_ms > 0 ? now + m->cfg.snapshot_interval_ms : 0;
        return;
    }
    raft_snapshot_id id = { end, epoch };
    mrec_list recs;
    mrec_list_init(&recs);
    mimage_write(&m->image, &recs); /* only this thread changes the image */
    const char *dir = plog_dir(m->log);
    char err[512] = "";
    int64_t size = 0;
    int64_t ts = m->applied_ts > 0 ? m->applied_ts : clock_now_ms();
    int rc = recs.oom ? -1 : snapfile_write(dir, id, ts, &recs, &size, err, sizeof err);
    mrec_list_deinit(&recs);
    m->snap_bytes = 0;
    m->snap_due_ms = 0;
    if (rc != 0) {
        glog(GLOG_ERROR, "meta", "cannot write the metadata snapshot at offset %lld: %s", (long long)end,
             err[0] ? err : "out of memory");
        return;
    }
    if (m->q) {
        if (quorum_snapshot_created(m->q, id, size) != 0)
            glog(GLOG_WARN, "meta", "the quorum refused the snapshot at offset %lld epoch %d", (long long)end, epoch);
    } else {
        plog_advance_start(m->log, end);
    }
    snapfile_remove_older(dir, id);
    pthread_mutex_lock(&m->qlock);
    m->snap = id;
    pthread_mutex_unlock(&m->qlock);
    glog(GLOG_INFO, "meta", "metadata snapshot at offset %lld (epoch %d): %lld bytes, %d topics", (long long)end,
         epoch, (long long)size, m->image.ntopics);
}

raft_snapshot_id metalog_snapshot_id(metalog *m)
{
    pthread_mutex_lock(&m->qlock);
    raft_snapshot_id id = m->snap;
    pthread_mutex_unlock(&m->qlock);
    return id;
}

static void waiter_fire(reactor *r, void *arg)
{
    waiter *w = arg;
    w->fn(r, w->arg, w->rc);
    free(w);
}

/* Complete the waiters that applied has passed. Caller holds qlock. */
static waiter *take_ready_locked(metalog *m)
{
    waiter *ready = NULL, **pp = &m->waiters;
    while (*pp) {
        waiter *w = *pp;
        if (w->offset <= m->applied) {
            *pp = w->next;
            w->rc = m->flush_rc;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    return ready;
}

static void fire_all(waiter *w)
{
    while (w) {
        waiter *next = w->next;
        if (w->r)
            reactor_post(w->r, waiter_fire, w);
        else
            waiter_fire(NULL, w);
        w = next;
    }
}

static void write_bootstrap(metalog *m);

/* The leader's controller takes over once the committed image has caught
 * up with the log it leads. Metadata thread; qlock not held. */
static void maybe_activate(metalog *m)
{
    pthread_mutex_lock(&m->qlock);
    bool go = m->q && m->role == RAFT_LEADER && !m->active && m->applied >= m->activate_at;
    pthread_mutex_unlock(&m->qlock);
    if (!go)
        return;
    pthread_mutex_lock(&m->wlock);
    pthread_rwlock_rdlock(&m->ilock);
    int rc = controller_reset(m->ctl, &m->image);
    pthread_rwlock_unlock(&m->ilock);
    pthread_mutex_lock(&m->qlock);
    bool activated = rc == 0 && m->role == RAFT_LEADER;
    if (activated) {
        m->active = true;
        controller_sessions_reset(m->ctl, clock_mono_ms());
        glog(GLOG_INFO, "meta", "node %d is the active controller (metadata applied to offset %lld)", m->node_id,
             (long long)m->applied);
    }
    pthread_mutex_unlock(&m->qlock);
    /* Everything the log held before this leader is applied: nothing at
     * all means a new cluster (has_records is this thread's). */
    if (activated && !m->has_records)
        write_bootstrap(m);
    pthread_mutex_unlock(&m->wlock);
}

static void *applier_main(void *arg)
{
    metalog *m = arg;
    pthread_mutex_lock(&m->qlock);
    for (;;) {
        bool snap_due = false;
        while (!m->stopping && !(m->pending && m->pending->end <= m->durable) &&
               !(!m->pending && m->durable > m->applied) && !m->reset_pending) {
            if (m->snap_due_ms <= 0) {
                pthread_cond_wait(&m->qcond, &m->qlock);
                continue;
            }
            int64_t wait = m->snap_due_ms - clock_mono_ms();
            if (wait <= 0) {
                snap_due = true; /* metadata.log.max.snapshot.interval.ms */
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait / 1000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&m->qcond, &m->qlock, &ts);
        }
        if (snap_due) {
            pthread_mutex_unlock(&m->qlock);
            maybe_snapshot(m);
            pthread_mutex_lock(&m->qlock);
            continue;
        }
        if (m->reset_pending) {
            m->reset_pending = false;
            pthread_mutex_unlock(&m->qlock);
            maybe_activate(m);
            pthread_mutex_lock(&m->qlock);
            continue;
        }
        if (!m->pending && m->durable > m->applied) {
            /* committed control batches (LeaderChange): nothing to apply */
            m->applied = m->durable;
            maybe_end_catch_up_locked(m);
            waiter *ready = take_ready_locked(m);
            pthread_cond_broadcast(&m->qcond);
            pthread_mutex_unlock(&m->qlock);
            fire_all(ready);
            maybe_activate(m);
            pthread_mutex_lock(&m->qlock);
            continue;
        }
        if (!(m->pending && m->pending->end <= m->durable))
            break; /* stopping, and nothing more is committed */
        pending_batch *pb = m->pending;
        m->pending = pb->next;
        if (!m->pending)
            m->pending_tail = &m->pending;
        pthread_mutex_unlock(&m->qlock);
        char err[512];
        if (pb->install)
            install_snapshot(m, pb->snap);
        else if (apply_batch(m, pb->bytes, pb->len, pb->end, false, err, sizeof err) != 0)
            glog(GLOG_ERROR, "meta", "applying committed metadata: %s", err);
        pthread_mutex_lock(&m->qlock);
        if (pb->end > m->applied)
            m->applied = pb->end;
        free(pb);
        maybe_end_catch_up_locked(m);
        waiter *ready = take_ready_locked(m);
        pthread_cond_broadcast(&m->qcond);
        pthread_mutex_unlock(&m->qlock);
        fire_all(ready);
        maybe_snapshot(m);
        maybe_activate(m);
        pthread_mutex_lock(&m->qlock);
    }
    pthread_mutex_unlock(&m->qlock);
    return NULL;
}

typedef struct durable_note {
    metalog *m;
    int64_t end;
} durable_note;

/* The flusher: the log is durable up to n->end. */
static void on_durable(reactor *r, void *arg, int rc)
{
    (void)r;
    durable_note *n = arg;
    metalog *m = n->m;
    if (rc != LOG_OK)
        glog(GLOG_ERROR, "meta", "metadata log fsync failed; the change may not survive a power cut");
    pthread_mutex_lock(&m->qlock);
    if (rc != LOG_OK && m->flush_rc == LOG_OK)
        m->flush_rc = rc;
    if (n->end > m->durable)
        m->durable = n->end;
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
    free(n);
}

void metalog_wait_applied(metalog *m, int64_t offset, reactor *r, void (*fn)(reactor *r, void *arg, int rc),
                          void *arg)
{
    pthread_mutex_lock(&m->qlock);
    if (!fn) {
        while (m->applied < offset && m->running)
            pthread_cond_wait(&m->qcond, &m->qlock);
        pthread_mutex_unlock(&m->qlock);
        return;
    }
    waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        pthread_mutex_unlock(&m->qlock);
        fn(r, arg, LOG_ERR_IO);
        return;
    }
    *w = (waiter){ .offset = offset, .r = r, .fn = fn, .arg = arg, .rc = LOG_OK };
    if (m->applied >= offset || !m->running) {
        w->rc = m->flush_rc;
        pthread_mutex_unlock(&m->qlock);
        fire_all(w);
        return;
    }
    w->next = m->waiters;
    m->waiters = w;
    pthread_mutex_unlock(&m->qlock);
}

/* ---- replay ---- */

int metalog_replay(metalog *m, char *err, size_t errlen)
{
    uint8_t *buf = malloc(REPLAY_CHUNK);
    if (!buf) {
        snprintf(err, errlen, "out of memory replaying the metadata log");
        return -1;
    }
    int rc = load_snapshot(m, err, errlen);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    int64_t off = plog_start_offset(m->log), end = plog_end_offset(m->log), batches = 0;
    if (off < m->snap.end_offset)
        off = m->snap.end_offset; /* a batch boundary: the snapshot ended there */
    int64_t first = off;
    rc = 0;
    while (off < end && rc == 0) {
        plog_slice s;
        if (plog_read(m->log, off, REPLAY_CHUNK, false, &s) != LOG_OK || s.len == 0) {
            if (s.len == 0 && plog_read(m->log, off, REPLAY_CHUNK, true, &s) == LOG_OK && s.len > 0) {
                /* a batch larger than the chunk: metadata batches never are */
                log_segment_unref(s.seg);
            }
            snprintf(err, errlen, "metadata log unreadable at offset %lld", (long long)off);
            rc = -1;
            break;
        }
        ssize_t n = pread(s.fd, buf, (size_t)s.len, s.pos);
        log_segment_unref(s.seg);
        if (n != s.len) {
            snprintf(err, errlen, "reading metadata log: %s", n < 0 ? strerror(errno) : "short read");
            rc = -1;
            break;
        }
        size_t pos = 0;
        while (pos + BATCH_HEADER_BYTES <= (size_t)n) {
            const uint8_t *bp = buf + pos;
            size_t blen = (size_t)batch_length(bp) + BATCH_LOG_OVERHEAD;
            if (pos + blen > (size_t)n)
                break;
            char why[900] = "";
            int32_t lod = (int32_t)((uint32_t)bp[23] << 24 | (uint32_t)bp[24] << 16 | (uint32_t)bp[25] << 8 | bp[26]);
            int64_t bend = batch_base_offset(bp) + lod + 1;
            if (apply_batch(m, bp, blen, bend, true, why, sizeof why) != 0) {
                snprintf(err, errlen, "replaying the metadata log at offset %lld: %s",
                         (long long)batch_base_offset(bp), why);
                rc = -1;
                break;
            }
            batches++;
            off = bend;
            pos += blen;
        }
    }
    free(buf);
    pthread_mutex_lock(&m->qlock);
    m->applied = m->durable = off;
    pthread_mutex_unlock(&m->qlock);
    if (rc == 0)
        glog(GLOG_INFO, "meta", "replayed %lld metadata batches (offsets %lld..%lld): %d topics",
             (long long)batches, (long long)first, (long long)end - 1, m->image.ntopics);
    if (rc == 0 && !m->has_records) { /* a new single node: its controller is active now */
        pthread_mutex_lock(&m->wlock);
        write_bootstrap(m);
        pthread_mutex_unlock(&m->wlock);
    }
    if (rc == 0)
        maybe_snapshot(m);
    return rc;
}

/* ---- a cluster ---- */

/* The quorum committed entries (under the quorum's mutex: copy and go). */
static void on_commit(void *ctx, const raft_entry *e, int n, int64_t hw)
{
    metalog *m = ctx;
    pthread_mutex_lock(&m->qlock);
    for (int i = 0; i < n; i++) {
        if (e[i].control)
            continue;
        pending_batch *pb = malloc(sizeof(*pb) + (size_t)e[i].payload.len);
        if (!pb) {
            glog(GLOG_ERROR, "meta", "out of memory: committed metadata at %lld not applied", (long long)e[i].offset);
            continue;
        }
        pb->next = NULL;
        pb->install = false;
        pb->end = e[i].offset + e[i].count;
        pb->len = (size_t)e[i].payload.len;
        memcpy(pb->bytes, e[i].payload.ptr, pb->len);
        *m->pending_tail = pb;
        m->pending_tail = &pb->next;
    }
    if (hw > m->durable)
        m->durable = hw;
    if (m->catching_up && m->catch_up_to < 0)
        m->catch_up_to = hw;
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
}

/* The quorum installed the leader's snapshot (under the quorum's mutex):
 * queued behind the committed batches before it. */
static void on_install(void *ctx, raft_snapshot_id id, const char *path)
{
    (void)path;
    metalog *m = ctx;
    pending_batch *pb = calloc(1, sizeof(*pb));
    if (!pb) {
        glog(GLOG_ERROR, "meta", "out of memory: the snapshot at %lld is applied at the next start",
             (long long)id.end_offset);
        return;
    }
    pb->end = id.end_offset;
    pb->install = true;
    pb->snap = id;
    pthread_mutex_lock(&m->qlock);
    *m->pending_tail = pb;
    m->pending_tail = &pb->next;
    if (id.end_offset > m->durable)
        m->durable = id.end_offset;
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
}

static void on_role(void *ctx, int role, int32_t epoch, int32_t leader, int64_t log_end)
{
    (void)epoch;
    metalog *m = ctx;
    pthread_mutex_lock(&m->qlock);
    bool was_active = m->active;
    m->role = role;
    m->leader = leader;
    m->active = false;
    waiter *lost = NULL;
    if (role == RAFT_LEADER) {
        m->activate_at = log_end;
        m->reset_pending = true; /* the metadata thread activates once caught up */
    } else if (was_active) {
        /* what this controller wrote and the quorum has not committed may
         * never be: its waiters are told to retry */
        waiter **pp = &m->waiters;
        while (*pp) {
            waiter *w = *pp;
            *pp = w->next;
            w->rc = METALOG_NOT_CONTROLLER;
            w->next = lost;
            lost = w;
        }
        glog(GLOG_INFO, "meta", "node %d is no longer the active controller", m->node_id);
    }
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
    for (waiter *w = lost; w;) { /* posted to reactors: no quorum re-entry */
        waiter *next = w->next;
        w->next = NULL;
        if (w->r)
            reactor_post(w->r, waiter_fire, w);
        else
            waiter_fire(NULL, w);
        w = next;
    }
}

int metalog_join_quorum(metalog *m, const metalog_cluster *c, char *err, size_t errlen)
{
    quorum_env env = {
        .log = m->log,
        .flusher = c->flusher,
        .r = c->r,
        .cluster_id = c->cluster_id,
        .on_commit = on_commit,
        .on_role = on_role,
        .on_install = on_install,
        .ctx = m,
    };
    if (load_snapshot(m, err, errlen) < 0)
        return -1;
    if (mimage_copy(&m->base, &m->image) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->catching_up = true;
    m->catch_up_to = -1;
    env.snapshot = m->snap;
    if (m->snap.end_offset > 0) {
        char path[4200];
        struct stat st;
        snapfile_path(path, sizeof path, plog_dir(m->log), m->snap, false);
        env.snapshot_size = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    }
    m->q = quorum_new(&env, m->node_id, c->voters, c->nvoters, &c->timeouts, err, errlen);
    if (!m->q)
        return -1;
    controller_set_cluster(m->ctl);
    int32_t leader, epoch;
    int role;
    quorum_leader(m->q, &leader, &epoch, &role); /* restored from quorum-state: no role change reports it */
    pthread_mutex_lock(&m->qlock);
    int64_t from = plog_start_offset(m->log);
    if (m->snap.end_offset > from)
        from = m->snap.end_offset;
    m->applied = m->durable = from;
    m->leader = leader;
    m->role = role;
    pthread_mutex_unlock(&m->qlock);
    return 0;
}

quorum *metalog_quorum(metalog *m) { return m->q; }

int32_t metalog_controller_id(metalog *m)
{
    if (!m->q)
        return m->node_id;
    pthread_mutex_lock(&m->qlock);
    int32_t id = m->leader;
    pthread_mutex_unlock(&m->qlock);
    return id;
}

/* ---- open, start, close ---- */

static int16_t check_configs_hook(const ctl_config *cfgs, int n, char *msg, size_t msglen)
{
    return metalog_check_configs(cfgs, n, msg, msglen);
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&s, 1, sizeof s, f) != sizeof s)
        s = (uint64_t)clock_mono_ns() ^ ((uint64_t)getpid() << 32);
    if (f)
        fclose(f);
    return s;
}

metalog *metalog_open(logmgr *logs, const partition_env *env, bool clean, int32_t node_id,
                      const metalog_config *cfg, char *err, size_t errlen)
{
    metalog *m = calloc(1, sizeof(*m));
    if (!m || !(m->ctl = controller_new(node_id, random_seed()))) {
        snprintf(err, errlen, "out of memory");
        free(m);
        return NULL;
    }
    controller_set_config_check(m->ctl, check_configs_hook);
    pthread_mutex_init(&m->wlock, NULL);
    pthread_rwlock_init(&m->ilock, NULL);
    pthread_mutex_init(&m->qlock, NULL);
    pthread_cond_init(&m->qcond, NULL);
    m->pending_tail = &m->pending;
    m->flush_rc = LOG_OK;
    mimage_init(&m->image);
    mimage_init(&m->base);
    m->node_id = node_id;
    m->env = env;
    m->cfg = *cfg;
    if (m->cfg.snapshot_max_bytes <= 0)
        m->cfg.snapshot_max_bytes = INT64_MAX;
    log_config lc;
    log_config_defaults(&lc);
    lc.segment_bytes = cfg->segment_bytes > 0 ? cfg->segment_bytes : 100 << 20;
    lc.verify_on_open = true; /* small, and every topic depends on it */
    char report[1024] = "";
    if (logmgr_partition_open(logs, META_TOPIC, 0, &lc, &m->log, report, sizeof(report)) != 0) {
        snprintf(err, errlen, "cannot open the metadata log: %s", report);
        metalog_close(m);
        return NULL;
    }
    if (report[0] && strstr(report, "recover"))
        glog(GLOG_INFO, "meta", "recovery of %s-0: %s", META_TOPIC, report);
    char why[256];
    m->part = partition_open(NULL, META_TOPIC, 0, m->log, 0, env, clean, why, sizeof why);
    if (!m->part) {
        snprintf(err, errlen, "out of memory");
        metalog_close(m);
        return NULL;
    }
    return m;
}

int metalog_start(metalog *m, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->qlock);
    m->running = true;
    pthread_mutex_unlock(&m->qlock);
    if (pthread_create(&m->thread, NULL, applier_main, m) != 0) {
        m->running = false;
        snprintf(err, errlen, "cannot start the metadata thread");
        return -1;
    }
    if (m->q && quorum_start(m->q) != 0) {
        snprintf(err, errlen, "cannot start the metadata quorum");
        return -1;
    }
    return 0;
}

void metalog_stop(metalog *m)
{
    if (m->q)
        quorum_stop(m->q);
    pthread_mutex_lock(&m->qlock);
    bool was_running = m->running;
    m->stopping = true;
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
    if (was_running)
        pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->qlock);
    m->running = false;
    waiter *left = m->waiters;
    m->waiters = NULL;
    pthread_cond_broadcast(&m->qcond);
    pthread_mutex_unlock(&m->qlock);
    for (waiter *w = left; w; w = w->next)
        w->rc = LOG_ERR_IO; /* not applied: the change is in the log for the next start */
    fire_all(left);
}

void metalog_close(metalog *m)
{
    if (!m)
        return;
    metalog_stop(m);
    while (m->pending) {
        pending_batch *pb = m->pending;
        m->pending = pb->next;
        free(pb);
    }
    if (m->part)
        partition_free(m->part);
    quorum_free(m->q);
    controller_free(m->ctl);
    mimage_deinit(&m->image);
    mimage_deinit(&m->base);
    pthread_cond_destroy(&m->qcond);
    pthread_mutex_destroy(&m->qlock);
    pthread_rwlock_destroy(&m->ilock);
    pthread_mutex_destroy(&m->wlock);
    free(m);
}

/* ---- writing ---- */

/*
 * Append the records of out as one batch. Caller holds wlock. Before
 * metalog_start the batch is flushed and applied here; after, the flusher
 * and the metadata thread do it. *end_offset: where to wait.
 */
static int16_t commit_records(metalog *m, const mrec_list *out, int64_t *end_offset)
{
    *end_offset = -1;
    if (out->n == 0)
        return KERR_NONE;
    kp_writer bw;
    kp_writer_init(&bw);
    batch_builder bb;
    int64_t now = clock_now_ms();
    batch_build_begin(&bb, &bw, now);
    for (int i = 0; i < out->n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(out, i, &len);
        batch_build_add(&bb, now, NULL, -1, v, len);
    }
    size_t blen = batch_build_end(&bb);
    int16_t code = KERR_NONE;
    if (blen == 0 || bw.err || out->oom) {
        code = KERR_UNKNOWN_SERVER_ERROR;
        goto out;
    }
    if (m->q) {
        int64_t end;
        if (quorum_propose(m->q, bw.buf, blen, out->n, &end) != 0) {
            code = KERR_NOT_CONTROLLER;
            pthread_rwlock_rdlock(&m->ilock);
            controller_reset(m->ctl, &m->image);
            pthread_rwlock_unlock(&m->ilock);
        } else {
            *end_offset = end; /* the batch reaches pending when the quorum commits it */
        }
        goto out;
    }
    part_result res;
    partition_append(m->part, bw.buf, blen, now, PART_ORIGIN_COORDINATOR, &res);
    if (res.log_rc != LOG_OK) {
        glog(GLOG_ERROR, "meta", "metadata log append failed: %s", plog_failure(m->log) ? plog_failure(m->log) : "?");
        code = KERR_KAFKA_STORAGE_ERROR;
        /* The controller's image is ahead of the log now: back to the committed one. */
        pthread_rwlock_rdlock(&m->ilock);
        controller_reset(m->ctl, &m->image);
        pthread_rwlock_unlock(&m->ilock);
        goto out;
    }
    int64_t end = res.last + 1;
    *end_offset = end;
    pthread_mutex_lock(&m->qlock);
    bool running = m->running;
    pthread_mutex_unlock(&m->qlock);
    if (!running) {
        int64_t flushed;
        int frc = plog_flush(m->log, &flushed);
        char err[512] = "";
        /* bw.buf holds the batch with its offset patched by the append */
        if (apply_batch(m, bw.buf, blen, end, false, err, sizeof err) != 0)
            glog(GLOG_ERROR, "meta", "applying metadata records: %s", err);
        pthread_mutex_lock(&m->qlock);
        m->applied = m->durable = end;
        if (frc != LOG_OK && m->flush_rc == LOG_OK)
            m->flush_rc = frc;
        pthread_mutex_unlock(&m->qlock);
        goto out;
    }
    pending_batch *pb = malloc(sizeof(*pb) + blen);
    durable_note *dn = malloc(sizeof(*dn));
    if (!pb || !dn) {
        free(pb);
        free(dn);
        glog(GLOG_ERROR, "meta", "out of memory queueing a metadata batch; it applies at the next start");
        code = KERR_UNKNOWN_SERVER_ERROR;
        goto out;
    }
    pb->next = NULL;
    pb->install = false;
    pb->end = end;
    pb->len = blen;
    memcpy(pb->bytes, bw.buf, blen);
    pthread_mutex_lock(&m->qlock);
    *m->pending_tail = pb;
    m->pending_tail = &pb->next;
    pthread_mutex_unlock(&m->qlock);
    *dn = (durable_note){ m, end };
    partition_wait_durable(m->part, end, NULL, on_durable, dn);
out:
    kp_writer_deinit(&bw);
    return code;
}

int16_t metalog_check_configs(const ctl_config *cfgs, int ncfgs, char *msg, size_t msglen)
{
    config_set tmp;
    if (topic_config_overrides_init(&tmp) != 0)
        return KERR_UNKNOWN_SERVER_ERROR;
    int16_t code = KERR_NONE;
    for (int i = 0; i < ncfgs && code == KERR_NONE; i++) {
        if (!cfgs[i].value) {
            if (config_find(tmp.defs, tmp.n, cfgs[i].name) < 0) {
                snprintf(msg, msglen, "Unknown topic config name: %s", cfgs[i].name);
                code = KERR_INVALID_CONFIG;
            }
            continue;
        }
        if (config_set_value(&tmp, cfgs[i].name, cfgs[i].value, CONFIG_SOURCE_TOPIC, msg, msglen) != 0)
            code = KERR_INVALID_CONFIG;
    }
    config_set_deinit(&tmp);
    return code;
}

static bool controller_active(metalog *m)
{
    pthread_mutex_lock(&m->qlock);
    bool a = !m->q || m->active;
    pthread_mutex_unlock(&m->qlock);
    return a;
}

/* Run one controller decision and commit its records (NOT_CONTROLLER on a
 * node whose controller is not the active one). */
#define WRITE(m, end_offset, call)                                \
    do {                                                          \
        mrec_list out_;                                           \
        mrec_list_init(&out_);                                    \
        pthread_mutex_lock(&(m)->wlock);                          \
        mrec_list *out = &out_;                                   \
        int16_t code_ = controller_active(m) ? (call) : KERR_NOT_CONTROLLER; \
        if (code_ == KERR_NONE)                                   \
            code_ = commit_records((m), out, (end_offset));       \
        pthread_mutex_unlock(&(m)->wlock);                        \
        mrec_list_deinit(&out_);                                  \
        return code_;                                             \
    } while (0)

int16_t metalog_create_topic(metalog *m, const char *name, int32_t nparts, int16_t rf,
                             const ctl_assignment *assignments, const ctl_config *cfgs, int ncfgs,
                             bool validate_only, kp_uuid *id_out, int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_create_topic(m->ctl, name, nparts, rf, assignments, cfgs, ncfgs,
                                                 validate_only, id_out, out, msg, msglen));
}

int16_t metalog_delete_topic(metalog *m, kp_uuid id, int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_delete_topic(m->ctl, id, out, msg, msglen));
}

int16_t metalog_create_partitions(metalog *m, const char *name, int32_t new_total,
                                  const ctl_assignment *assignments, int nassignments, bool validate_only,
                                  int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_create_partitions(m->ctl, name, new_total, assignments, nassignments,
                                                      validate_only, out, msg, msglen));
}

int16_t metalog_set_topic_configs(metalog *m, const char *name, const ctl_config *cfgs, int ncfgs,
                                  int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_set_topic_configs(m->ctl, name, cfgs, ncfgs, out, msg, msglen));
}

int16_t metalog_allocate_producer_ids(metalog *m, int32_t count, int64_t *first_out, int64_t *end_offset)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_allocate_producer_ids(m->ctl, m->node_id, count, first_out, out));
}

/* A new cluster's first records (controller_bootstrap), written by its
 * first active controller into an empty log. wlock held. */
static void write_bootstrap(metalog *m)
{
    mrec_list out;
    mrec_list_init(&out);
    controller_bootstrap(m->ctl, &out);
    int64_t end;
    int16_t code = commit_records(m, &out, &end);
    if (code == KERR_NONE)
        glog(GLOG_INFO, "meta", "a new cluster's metadata log: finalized %s=%d (the bootstrap records, %d)",
             MI_FEATURE_TRANSACTION_VERSION, controller_image(m->ctl)->transaction_version, out.n);
    else
        glog(GLOG_WARN, "meta", "the bootstrap records of a new cluster were not written (%s); the next active "
             "controller writes them", kerr_name(code));
    mrec_list_deinit(&out);
}

int16_t metalog_update_features(metalog *m, const ctl_feature_update *u, int n, bool validate_only,
                                int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_update_features(m->ctl, u, n, validate_only, out, msg, msglen));
}

/* ---- brokers ---- */

int16_t metalog_register_broker(metalog *m, const ctl_registration *r, bool unfenced, int64_t *epoch,
                                int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    mrec_list out;
    mrec_list_init(&out);
    pthread_mutex_lock(&m->wlock);
    int16_t code = controller_active(m)
                       ? controller_register_broker(m->ctl, r, unfenced, clock_mono_ms(), epoch, &out, msg, msglen)
                       : KERR_NOT_CONTROLLER;
    if (code == KERR_NONE)
        code = commit_records(m, &out, end_offset);
    if (code == KERR_NONE && *end_offset >= 0) {
        int i = 0;
        while (i < m->nregs && m->regs[i].id != r->id)
            i++;
        if (i < 64) {
            m->regs[i].id = r->id;
            m->regs[i].end = *end_offset;
            if (i == m->nregs)
                m->nregs++;
        }
    }
    pthread_mutex_unlock(&m->wlock);
    mrec_list_deinit(&out);
    return code;
}

int16_t metalog_alter_partition(metalog *m, int32_t broker_id, int64_t broker_epoch, kp_uuid topic_id,
                                int32_t index, int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                                int nisr, ctl_partition_state *st, int64_t *end_offset)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_alter_partition(m->ctl, broker_id, broker_epoch, topic_id, index, leader_epoch,
                                                    partition_epoch, isr, nisr, out, st));
}

int16_t metalog_elect_leader(metalog *m, kp_uuid topic_id, int32_t index, bool unclean, int64_t *end_offset,
                             char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_elect_leader(m->ctl, topic_id, index, unclean, out, msg, msglen));
}

int16_t metalog_reassign(metalog *m, kp_uuid topic_id, int32_t index, const int32_t *target, int ntarget,
                         bool allow_rf_change, int64_t *end_offset, char *msg, size_t msglen)
{
    *end_offset = -1;
    WRITE(m, end_offset, controller_reassign(m->ctl, topic_id, index, target, ntarget, allow_rf_change, out, msg,
                                             msglen));
}

int16_t metalog_broker_heartbeat(metalog *m, int32_t id, int64_t epoch, int64_t metadata_offset, bool want_fence,
                                 bool want_shutdown, bool *fenced, bool *shutdown, int64_t *end_offset)
{
    *end_offset = -1;
    mrec_list out;
    mrec_list_init(&out);
    pthread_mutex_lock(&m->wlock);
    int16_t code = KERR_NOT_CONTROLLER;
    if (controller_active(m)) {
        int64_t caught_up = 0;
        for (int i = 0; i < m->nregs; i++)
            if (m->regs[i].id == id)
                caught_up = m->regs[i].end;
        code = controller_heartbeat(m->ctl, id, epoch, metadata_offset, caught_up, want_fence, want_shutdown,
                                    clock_mono_ms(), fenced, shutdown, &out);
        if (code == KERR_NONE && out.n > 0)
            code = commit_records(m, &out, end_offset);
    }
    pthread_mutex_unlock(&m->wlock);
    mrec_list_deinit(&out);
    return code;
}

void metalog_broker_disconnected(metalog *m, int32_t id, int64_t session_ms, int64_t grace_ms)
{
    pthread_mutex_lock(&m->wlock);
    if (controller_active(m))
        controller_broker_disconnected(m->ctl, id, clock_mono_ms(), session_ms, grace_ms);
    pthread_mutex_unlock(&m->wlock);
}

void metalog_set_takeover_grace(metalog *m, int64_t grace_ms)
{
    pthread_mutex_lock(&m->wlock);
    if (m->ctl)
        controller_set_takeover_grace(m->ctl, grace_ms);
    pthread_mutex_unlock(&m->wlock);
}

void metalog_set_unclean_default(metalog *m, bool enable)
{
    pthread_mutex_lock(&m->wlock);
    if (m->ctl)
        controller_set_unclean_default(m->ctl, enable);
    pthread_mutex_unlock(&m->wlock);
}

void metalog_rebalance_leaders(metalog *m, int pct)
{
    mrec_list out;
    mrec_list_init(&out);
    pthread_mutex_lock(&m->wlock);
    if (controller_active(m)) {
        int n = controller_rebalance_leaders(m->ctl, pct, &out);
        int64_t end;
        if (n > 0 && commit_records(m, &out, &end) == KERR_NONE)
            glog(GLOG_INFO, "meta", "auto leader rebalance: %d partitions back to their preferred replica", n);
    }
    pthread_mutex_unlock(&m->wlock);
    mrec_list_deinit(&out);
}

void metalog_expire_sessions(metalog *m, int64_t session_ms)
{
    mrec_list out;
    mrec_list_init(&out);
    pthread_mutex_lock(&m->wlock);
    if (controller_active(m)) {
        controller_expire_sessions(m->ctl, clock_mono_ms(), session_ms, &out);
        int64_t end;
        if (out.n > 0 && commit_records(m, &out, &end) == KERR_NONE)
            glog(GLOG_INFO, "meta", "broker session expired: fenced (%d metadata records)", out.n);
    }
    pthread_mutex_unlock(&m->wlock);
    mrec_list_deinit(&out);
}

bool metalog_is_active(metalog *m) { return controller_active(m); }

int64_t metalog_applied(metalog *m)
{
    pthread_mutex_lock(&m->qlock);
    /* while catching up nothing is published: the broker is not caught up */
    int64_t a = atomic_load(&m->catching_up) ? 0 : m->applied;
    pthread_mutex_unlock(&m->qlock);
    return a;
}
