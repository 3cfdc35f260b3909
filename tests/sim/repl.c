/*
 * repl.c - the deterministic simulator of partition replication: brokers,
 * replica fetchers, the controller, and producers and consumers as
 * simulated clients, in one process, from one seed.
 *
 * What is real and what is a model:
 *  - the controller is Gregor's (src/controller: registration, heartbeats,
 *    session expiry and fast fencing, AlterPartition, leader election from
 *    the ISR), with its image; its records form the metadata log, which each
 *    broker applies to its own image (src/controller/image.c) with a random
 *    delay, as brokers follow the metadata quorum. (The quorum itself is
 *    tests/sim/sim.c's subject; here the controller is always reachable
 *    unless a broker is cut off.)
 *  - each leader's epoch cache is Gregor's (src/cluster/epochs.c) and
 *    answers the followers' diverging-epoch questions;
 *  - the broker's data path is a model of src/cluster/partition.c,
 *    src/broker/handle_fetch.c, src/replica/fetcher.c and src/broker/isr.c,
 *    rule for rule: the high watermark is the smallest log end over the ISR
 *    and never moves back on a leader; a new leader's epoch starts at its
 *    log end; a follower fetches from its log end with its last epoch,
 *    truncates where the leader says its log diverged (or to the leader's
 *    high watermark when it is ahead), and takes the leader's high
 *    watermark bounded by its own end; a member leaves the ISR after
 *    LAG_MS without catching up, a follower that reached the high watermark
 *    joins it (AlterPartition to the controller, one at a time); acks=all
 *    needs min.insync.replicas members and is answered when the high
 *    watermark passes the record. A crash is kill -9: the log survives (the
 *    page cache does), the high watermark does not (not checkpointed).
 *
 * Faults: kill -9 and restart of a broker, a broker cut off the network
 * (brokers, controller, clients) and healed, lost and delayed fetches. A run
 * is a chaos phase followed by a healed phase (every broker up, nothing cut,
 * no loss) in which every partition must accept and acknowledge a record.
 *
 * Invariants, after every event:
 *  - an acknowledged record is, at its offset, in the log of every member
 *    of the partition's ISR (the controller's), whatever happened since;
 *  - what a consumer reads below a leader's high watermark never changes:
 *    the same offset always holds the same record, on every leader, ever;
 *  - a broker's high watermark never goes backwards (except across its own
 *    restart) and never passes its log end; a follower never truncates
 *    below its high watermark;
 *  - at the end: every acknowledged record is readable at its offset,
 *    exactly once, from the broker that leads.
 * A violation prints the seed and the trace tail and exits 1.
 *
 *   simrepl [--seed S] [--chaos-ms N] [--trace] [--quiet] [--bug maximal-isr|catch-up|follower-epoch]
 *
 * --bug leaves out one of the three fixes this simulator led to, to show it
 * finds what they fix: maximal-isr (the leader's high watermark ignores the
 * followers it asked to add to the ISR until the image shows them: the
 * controller can then elect one of them without records acknowledged
 * meanwhile) and catch-up (a restarted broker acts on every historical
 * metadata state while it replays the log: it leads old epochs and takes
 * a high watermark it must later truncate below) and follower-epoch (a
 * follower told its log diverged truncates to the leader's end of that
 * epoch without asking where its own log ends it: records of another epoch
 * below that point stay, and differ from the leader's).
 */
#include "cluster/epochs.h"
#include "controller/controller.h"
#include "controller/image.h"
#include "controller/mrec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB 3                /* brokers 1..3 */
#define NP 2                /* partitions of the one topic, replication factor 3 */
#define MIN_ISR 2
#define LOG_MAX 4096
#define LAG_MS 1000         /* replica.lag.time.max.ms */
#define SESSION_MS 2000     /* broker.session.timeout.ms */
#define HB_MS 250           /* broker.heartbeat.interval.ms */
#define ISR_TICK_MS 200
#define FETCH_MAX 16        /* records per fetch answer */
#define MSGS_MAX 1024
#define META_MAX 100000
#define ACKS_MAX (NP * LOG_MAX)
#define TRACE_TAIL 40
#define TRACE_LINE 160

typedef struct entry {
    int32_t epoch;
    int64_t rid;            /* the producer's record id */
} entry;

typedef struct follower {
    int64_t leo;            /* -1: not heard of in this leadership */
    int64_t caught_up_ms, last_fetch_ms, last_fetch_leader_end;
} follower;

typedef struct rep {        /* one broker's replica of one partition */
    entry log[LOG_MAX];
    int64_t end;
    epochs *ep;
    int64_t hw;             /* -1: unknown (just started) */
    bool open;              /* a replica here (the image says so) */
    bool leads;
    int32_t leader, leader_epoch;
    int32_t isr[NB], nisr;
    int32_t adding[NB], nadding; /* asked to join the ISR, not in the image yet (the maximal ISR) */
    follower f[NB + 1];     /* by broker id, on the leader */
    bool fetching;          /* a fetch in flight */
    int64_t next_fetch_ms;
    int64_t pend_off[64];   /* acks=all appends waiting for the HW */
    int64_t pend_rid[64];
    int npend;
} rep;

typedef struct broker {
    bool up, cut;
    int64_t epoch;          /* broker epoch (registration) */
    kp_uuid inc;
    mimage im;
    int applied;            /* metadata records applied */
    int catch_to;           /* after a restart: publish nothing before this (-2: learn it; -1: done) */
    int64_t caught_up;      /* metadata length at registration */
    bool registered;
    int64_t next_hb_ms, next_isr_ms;
    rep r[NP];
} broker;

typedef struct msg {
    int64_t at;
    int from, to;           /* broker ids */
    bool resp;
    int part;
    /* request */
    int64_t fetch_offset;
    int32_t last_epoch, leader_epoch;
    /* response */
    int err;                /* 0, 1 not leader / epoch, 2 diverging, 3 out of range */
    int64_t hw, div_end;
    int32_t div_epoch;
    entry e[FETCH_MAX];
    int ne;
    int64_t base;
} msg;

static uint64_t rng;
static int64_t now;
static bool trace, quiet;
static bool no_maximal_isr, no_catch_up, no_follower_epoch; /* --bug: leave a fix out, to see the simulator catch it */
static uint64_t seed;
static char tails[TRACE_TAIL][TRACE_LINE];
static int ntail;
static broker br[NB + 1];
static controller *ctl;
static kp_uuid topic_id;
static uint8_t *meta[META_MAX];
static int32_t meta_len[META_MAX];
static int nmeta;
static msg msgs[MSGS_MAX];
static int nmsgs;
static int64_t next_rid = 1;
static int64_t acked_off[ACKS_MAX], acked_rid[ACKS_MAX];
static int acked_part[ACKS_MAX];
static int nacked;
static int64_t seen[NP][LOG_MAX]; /* what consumers read below an HW at each offset (0: nothing yet) */
static int64_t stat_reads, stat_truncs, stat_elections, stat_produced;

static uint64_t rnd(void)
{
    uint64_t x = rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 2685821657736338717ULL;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }
static bool chance(int pct) { return (int)(rnd() % 100) < pct; }

static void tr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tr(const char *fmt, ...)
{
    char line[TRACE_LINE];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(line, sizeof line, "%8" PRId64 " ", now);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (trace)
        printf("%s\n", line);
    memcpy(tails[ntail++ % TRACE_TAIL], line, sizeof line);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "simrepl: seed %" PRIu64 " FAILED at %" PRId64 " ms: %s\n", seed, now, why);
    int from = ntail > TRACE_TAIL ? ntail - TRACE_TAIL : 0;
    for (int i = from; i < ntail; i++)
        fprintf(stderr, "  %s\n", tails[i % TRACE_TAIL]);
    fprintf(stderr, "replay: build/simrepl --seed %" PRIu64 " --trace\n", seed);
    exit(1);
}

/* ---- the controller and the metadata log ---- */

static bool full_due;              /* a truncation or an ISR change: check every record */
static int64_t max_acked[NP] = { -1, -1 };

static void commit(mrec_list *out)
{
    if (out->n > 0)
        full_due = true; /* the ISR may have changed */
    for (int i = 0; i < out->n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(out, i, &len);
        if (nmeta == META_MAX)
            fail("metadata log full");
        meta[nmeta] = malloc((size_t)len);
        memcpy(meta[nmeta], v, (size_t)len);
        meta_len[nmeta++] = len;
    }
    mrec_list_clear(out);
}

static const mi_partition *ctl_part(int p)
{
    const mi_topic *t = mimage_topic_by_id(controller_image(ctl), topic_id);
    return t ? &t->parts[p] : NULL;
}

static bool in(const int32_t *v, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* ---- a broker's replica (partition.c's rules) ---- */

static int32_t last_epoch(const rep *r) { return r->end > 0 ? r->log[r->end - 1].epoch : -1; }

static void rebuild_epochs(rep *r)
{
    epochs_clear(r->ep);
    for (int64_t o = 0; o < r->end; o++)
        if (o == 0 || r->log[o].epoch != r->log[o - 1].epoch)
            epochs_assign(r->ep, r->log[o].epoch, o);
}

static void set_hw(int b, rep *r, int p, int64_t hw, const char *why)
{
    if (hw < r->hw)
        fail("broker %d partition %d: high watermark back from %" PRId64 " to %" PRId64 " (%s)", b, p, r->hw, hw,
             why);
    if (hw > r->end)
        fail("broker %d partition %d: high watermark %" PRId64 " past its log end %" PRId64, b, p, hw, r->end);
    r->hw = hw;
}

/* The acks=all appends the HW now covers are acknowledged. */
static void acks(int b, rep *r, int p)
{
    int k = 0;
    for (int i = 0; i < r->npend; i++) {
        if (r->pend_off[i] < r->hw) {
            if (r->log[r->pend_off[i]].rid != r->pend_rid[i])
                fail("broker %d partition %d: offset %" PRId64 " acknowledged but holds another record", b, p,
                     r->pend_off[i]);
            if (r->pend_off[i] > max_acked[p])
                max_acked[p] = r->pend_off[i];
            acked_part[nacked] = p;
            acked_off[nacked] = r->pend_off[i];
            acked_rid[nacked++] = r->pend_rid[i];
            tr("ack p%d offset %" PRId64 " rid %" PRId64 " (leader %d, hw %" PRId64 ")", p, r->pend_off[i],
               r->pend_rid[i], b, r->hw);
        } else {
            r->pend_off[k] = r->pend_off[i];
            r->pend_rid[k++] = r->pend_rid[i];
        }
    }
    r->npend = k;
}

static void hw_update(int b, rep *r, int p)
{
    if (!r->leads)
        return;
    int64_t hw = r->end;
    for (int i = 0; i < r->nisr + r->nadding; i++) {
        int id = i < r->nisr ? r->isr[i] : r->adding[i - r->nisr];
        if (id != b && r->f[id].leo < hw)
            hw = r->f[id].leo;
    }
    if (hw > r->hw) {
        set_hw(b, r, p, hw, "leader");
        acks(b, r, p);
    }
}

static void fail_pending(rep *r) { r->npend = 0; }

/* The publisher: the image changed partition p. */
static void sync_partition(int b, int p)
{
    broker *x = &br[b];
    rep *r = &x->r[p];
    const mi_topic *t = mimage_topic_by_id(&x->im, topic_id);
    if (!t || p >= t->nparts)
        return;
    const mi_partition *mp = &t->parts[p];
    if (!in(mp->replicas, mp->nreplicas, b))
        return;
    bool was = r->leads;
    bool leads = mp->leader == b;
    if (!r->open) {
        r->open = true;
        if (r->hw < 0)
            r->hw = 0;
    }
    if (leads && !was) {
        epochs_assign(r->ep, mp->leader_epoch, r->end); /* a new leader's epoch starts at its log end */
        for (int i = 1; i <= NB; i++)
            r->f[i] = (follower){ -1, 0, 0, -1 };
        tr("broker %d leads p%d in epoch %d at end %" PRId64 ", hw %" PRId64, b, p, mp->leader_epoch, r->end, r->hw);
    }
    if (was && !leads)
        fail_pending(r);
    r->leads = leads;
    r->leader = mp->leader;
    r->leader_epoch = mp->leader_epoch;
    r->nisr = 0;
    for (int i = 0; i < mp->nisr; i++)
        r->isr[r->nisr++] = mp->isr[i];
    r->nadding = 0;
    hw_update(b, r, p);
}

static void apply_meta(int b, int upto)
{
    broker *x = &br[b];
    if (x->catch_to == -2)
        x->catch_to = nmeta; /* the quorum's high watermark, first learned */
    while (x->applied < upto) {
        mdelta d;
        mdelta_init(&d);
        char err[256];
        if (mimage_apply(&x->im, meta[x->applied], meta_len[x->applied], &d, err, sizeof err) != 0)
            fail("broker %d: metadata record %d: %s", b, x->applied, err);
        x->applied++;
        if (x->catch_to >= 0) { /* catching up (metalog.c): the listeners wait */
            if (x->applied >= x->catch_to) {
                x->catch_to = -1;
                for (int p = 0; p < NP; p++)
                    sync_partition(b, p);
            }
            mdelta_deinit(&d);
            continue;
        }
        for (int i = 0; i < d.n; i++)
            if ((d.ev[i].kind == MD_PARTITION_ADDED || d.ev[i].kind == MD_PARTITION_CHANGED) &&
                memcmp(d.ev[i].topic_id.b, topic_id.b, 16) == 0)
                sync_partition(b, d.ev[i].partition);
        mdelta_deinit(&d);
    }
}

/* ---- network ---- */

static bool reachable(int a, int b) { return br[a].up && br[b].up && !br[a].cut && !br[b].cut; }

static void send(msg *m)
{
    if (!reachable(m->from, m->to) || chance(3))
        return; /* lost */
    if (nmsgs == MSGS_MAX)
        return;
    m->at = now + rnd_in(1, 15);
    msgs[nmsgs++] = *m;
}

static void send_fetch(int b, int p)
{
    rep *r = &br[b].r[p];
    msg m = { .from = b, .to = r->leader, .part = p, .fetch_offset = r->end, .last_epoch = last_epoch(r),
              .leader_epoch = r->leader_epoch };
    r->fetching = true;
    r->next_fetch_ms = now + 500; /* a lost fetch is sent again then */
    send(&m);
}

/* The leader answers a follower's fetch (handle_fetch.c's read_partition). */
static void on_fetch(const msg *q)
{
    int b = q->to, p = q->part;
    rep *r = &br[b].r[p];
    msg a = { .from = b, .to = q->from, .resp = true, .part = p, .hw = -1, .base = q->fetch_offset };
    if (!r->open || !r->leads) {
        a.err = 1;
    } else {
        if (q->leader_epoch == r->leader_epoch && q->last_epoch >= 0 && q->last_epoch < r->leader_epoch &&
            q->fetch_offset > 0) {
            int32_t found;
            int64_t end = epochs_end_offset_for(r->ep, q->last_epoch, r->end, &found);
            if (end >= 0 && end < q->fetch_offset) {
                a.err = 2;
                a.div_end = end;
                a.div_epoch = found;
                a.hw = r->hw;
                send(&a);
                return;
            }
        }
        if (q->fetch_offset <= r->end && q->leader_epoch == r->leader_epoch) {
            follower *f = &r->f[q->from];
            f->leo = q->fetch_offset;
            if (q->fetch_offset >= r->end)
                f->caught_up_ms = now;
            else if (f->last_fetch_leader_end >= 0 && q->fetch_offset >= f->last_fetch_leader_end)
                f->caught_up_ms = f->last_fetch_ms;
            f->last_fetch_ms = now;
            f->last_fetch_leader_end = r->end;
            hw_update(b, r, p);
        }
        a.hw = r->hw;
        if (q->leader_epoch != r->leader_epoch)
            a.err = 1;
        else if (q->fetch_offset > r->end)
            a.err = 3;
        else
            for (int64_t o = q->fetch_offset; o < r->end && a.ne < FETCH_MAX; o++)
                a.e[a.ne++] = r->log[o];
    }
    send(&a);
}

static void truncate_to(int b, int p, int64_t to, const char *why)
{
    rep *r = &br[b].r[p];
    if (to >= r->end)
        return;
    if (to < r->hw)
        fail("broker %d partition %d: truncated to %" PRId64 " below its high watermark %" PRId64 " (%s)", b, p, to,
             r->hw, why);
    tr("broker %d truncates p%d from %" PRId64 " to %" PRId64 " (%s)", b, p, r->end, to, why);
    r->end = to;
    epochs_truncate_from_end(r->ep, to);
    stat_truncs++;
    full_due = true;
}

/* The follower takes the answer (fetcher.c's take_partition). */
static void on_fetch_resp(const msg *a)
{
    int b = a->to, p = a->part;
    rep *r = &br[b].r[p];
    r->fetching = false;
    r->next_fetch_ms = now + (a->err || a->ne == 0 ? rnd_in(20, 100) : 0);
    if (!r->open || r->leads || a->from != r->leader)
        return;
    if (a->err == 2) {
        /* Kafka's follower: no further than where its own log has that
         * epoch end (its log may not hold the epoch at all); the next
         * fetch, with the epoch it then ends in, goes on searching. */
        int64_t to = a->div_end;
        int32_t found;
        int64_t mine = no_follower_epoch ? -1 : epochs_end_offset_for(r->ep, a->div_epoch, r->end, &found);
        if (mine >= 0 && mine < to)
            to = mine;
        if (to < r->end)
            truncate_to(b, p, to, "diverging epoch");
        return;
    }
    if (a->err == 3) {
        if (a->hw >= 0 && a->hw < r->end)
            truncate_to(b, p, a->hw, "ahead of its leader");
        return;
    }
    if (a->err)
        return;
    if (a->base != r->end)
        return; /* an answer to an older fetch */
    for (int i = 0; i < a->ne; i++) {
        if (r->end == LOG_MAX)
            fail("log full");
        if (r->end == 0 || a->e[i].epoch != r->log[r->end - 1].epoch)
            epochs_assign(r->ep, a->e[i].epoch, r->end);
        r->log[r->end++] = a->e[i];
    }
    int64_t hw = a->hw < r->end ? a->hw : r->end;
    if (hw > r->hw)
        set_hw(b, r, p, hw, "follower");
}

/* ---- the ISR (isr.c) and heartbeats ---- */

static void isr_tick(int b)
{
    broker *x = &br[b];
    for (int p = 0; p < NP; p++) {
        rep *r = &x->r[p];
        if (!r->open || !r->leads)
            continue;
        int32_t want[NB];
        int n = 0;
        bool differs = false;
        want[n++] = b;
        const mi_partition *mp = &mimage_topic_by_id(&x->im, topic_id)->parts[p];
        for (int k = 0; k < mp->nreplicas; k++) {
            int id = mp->replicas[k];
            if (id == b)
                continue;
            follower *f = &r->f[id];
            bool member = in(r->isr, r->nisr, id);
            bool stays = member ? f->caught_up_ms > 0 && now - f->caught_up_ms <= LAG_MS
                                : f->leo >= 0 && f->leo >= r->hw && now - f->caught_up_ms <= LAG_MS;
            const mi_broker *fb = mimage_broker(&x->im, id); /* KIP-841: not a fenced one */
            if (!member && (!fb || fb->fenced || fb->shutting_down))
                stays = false;
            if (member && f->caught_up_ms == 0) {
                f->caught_up_ms = now;
                stays = true;
            }
            if (stays)
                want[n++] = id;
            differs |= stays != member;
        }
        r->nadding = 0;
        if (!no_maximal_isr)
            for (int i = 0; i < n; i++)
                if (!in(r->isr, r->nisr, want[i]))
                    r->adding[r->nadding++] = want[i];
        if (!differs || x->cut)
            continue;
        mrec_list out;
        mrec_list_init(&out);
        ctl_partition_state st;
        int16_t code = controller_alter_partition(ctl, b, x->epoch, topic_id, p, mp->leader_epoch,
                                                  mp->partition_epoch, want, n, &out, &st);
        tr("broker %d AlterPartition p%d isr of %d -> %d: error %d", b, p, r->nisr, n, code);
        commit(&out);
        mrec_list_deinit(&out);
    }
}

static void heartbeat(int b)
{
    broker *x = &br[b];
    mrec_list out;
    mrec_list_init(&out);
    char m[256];
    if (!x->registered) {
        mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9090 + b, 0 };
        ctl_registration reg = { b, x->inc, &ep, 1, NULL };
        if (controller_register_broker(ctl, &reg, false, now, &x->epoch, &out, m, sizeof m) == 0) {
            x->registered = true;
            x->caught_up = nmeta + out.n;
            tr("broker %d registered, epoch %" PRId64, b, x->epoch);
        }
    } else {
        bool fenced, shut;
        controller_heartbeat(ctl, b, x->epoch, x->catch_to == -1 ? x->applied : 0, x->caught_up, false, false, now,
                             &fenced, &shut, &out);
    }
    if (out.n)
        stat_elections++;
    commit(&out);
    mrec_list_deinit(&out);
}

/* ---- clients ---- */

static void produce(int p)
{
    const mi_partition *mp = ctl_part(p);
    if (!mp || mp->leader < 0)
        return;
    int b = mp->leader;
    broker *x = &br[b];
    if (!x->up || x->cut)
        return; /* the client cannot reach it */
    rep *r = &x->r[p];
    if (!r->open || !r->leads || r->leader_epoch != mp->leader_epoch)
        return; /* NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH: the client asks Metadata again */
    if (r->nisr < MIN_ISR || r->npend == 64 || r->end == LOG_MAX)
        return; /* NOT_ENOUGH_REPLICAS */
    int64_t rid = next_rid++;
    if (r->end == 0 || r->log[r->end - 1].epoch != r->leader_epoch)
        epochs_assign(r->ep, r->leader_epoch, r->end);
    r->log[r->end] = (entry){ r->leader_epoch, rid };
    r->pend_off[r->npend] = r->end;
    r->pend_rid[r->npend++] = rid;
    r->end++;
    stat_produced++;
    hw_update(b, r, p);
}

static void consume(int p)
{
    const mi_partition *mp = ctl_part(p);
    if (!mp || mp->leader < 0 || !br[mp->leader].up || br[mp->leader].cut)
        return;
    rep *r = &br[mp->leader].r[p];
    if (!r->open || !r->leads)
        return;
    for (int64_t o = 0; o < r->hw; o++) { /* a consumer reads below the HW only */
        int64_t v = r->log[o].rid;
        if (seen[p][o] && seen[p][o] != v)
            fail("p%d offset %" PRId64 ": read %" PRId64 " from leader %d, read %" PRId64 " before", p, o, v,
                 mp->leader, seen[p][o]);
        seen[p][o] = v;
        stat_reads++;
    }
}

/* ---- invariants ---- */

static void check_full(void)
{
    full_due = false;
    for (int i = 0; i < nacked; i++) {
        int p = acked_part[i];
        const mi_partition *mp = ctl_part(p);
        for (int k = 0; k < mp->nisr; k++) {
            rep *r = &br[mp->isr[k]].r[p];
            if (r->end <= acked_off[i] || r->log[acked_off[i]].rid != acked_rid[i])
                fail("p%d offset %" PRId64 " (rid %" PRId64 ") acknowledged, but ISR member %d (end %" PRId64
                     ") does not hold it", p, acked_off[i], acked_rid[i], mp->isr[k], r->end);
        }
        if (seen[p][acked_off[i]] && seen[p][acked_off[i]] != acked_rid[i])
            fail("p%d offset %" PRId64 " acknowledged with rid %" PRId64 " but read as %" PRId64, p, acked_off[i],
                 acked_rid[i], seen[p][acked_off[i]]);
    }
}

/* After every event: every ISR member's log reaches the last acknowledged
 * offset (cheap); the records themselves after any truncation or ISR change
 * and every 100 ms. */
static void check(void)
{
    for (int p = 0; p < NP; p++) {
        const mi_partition *mp = ctl_part(p);
        for (int k = 0; mp && k < mp->nisr; k++)
            if (br[mp->isr[k]].r[p].end <= max_acked[p])
                full_due = true;
    }
    if (full_due || now % 100 == 0)
        check_full();
}

/* ---- faults ---- */

static void crash(int b)
{
    broker *x = &br[b];
    tr("broker %d killed (-9)", b);
    x->up = false;
    for (int p = 0; p < NP; p++) {
        x->r[p].npend = 0;
        x->r[p].fetching = false;
    }
    controller_broker_disconnected(ctl, b, now, SESSION_MS, HB_MS); /* its sockets close */
}

static void restart(int b)
{
    broker *x = &br[b];
    tr("broker %d restarts", b);
    x->up = true;
    x->registered = false;
    x->inc.b[1]++;
    mimage_deinit(&x->im);
    mimage_init(&x->im);
    x->applied = 0;
    x->catch_to = no_catch_up ? -1 : -2;
    for (int p = 0; p < NP; p++) {
        rep *r = &x->r[p];
        r->hw = -1; /* not checkpointed: learned again */
        r->open = r->leads = false;
        r->leader = -1;
        r->nisr = 0;
        r->npend = 0;
        rebuild_epochs(r);
    }
    x->next_hb_ms = now;
}

/* ---- the run ---- */

static void setup(void)
{
    ctl = controller_new(100, rnd()); /* a controller-only node: it fences every broker */
    controller_set_cluster(ctl);
    controller_set_takeover_grace(ctl, 2 * HB_MS);
    mrec_list out;
    mrec_list_init(&out);
    for (int b = 1; b <= NB; b++) {
        br[b].up = true;
        br[b].inc.b[0] = (uint8_t)b;
        br[b].catch_to = -1;
        mimage_init(&br[b].im);
        for (int p = 0; p < NP; p++) {
            br[b].r[p].ep = epochs_new();
            br[b].r[p].hw = -1;
            br[b].r[p].leader = -1;
        }
        heartbeat(b);
        heartbeat(b);
    }
    apply_meta(1, nmeta);
    for (int b = 1; b <= NB; b++)
        heartbeat(b);
    int32_t a0[] = { 1, 2, 3 }, a1[] = { 2, 3, 1 };
    ctl_assignment as[NP] = { { a0, 3 }, { a1, 3 } };
    char m[256];
    if (controller_create_topic(ctl, "t", NP, 3, as, NULL, 0, false, &topic_id, &out, m, sizeof m) != 0)
        fail("create topic: %s", m);
    commit(&out);
    mrec_list_deinit(&out);
}

static void step(bool chaos)
{
    now++;
    /* deliver messages due */
    for (int i = 0; i < nmsgs;) {
        if (msgs[i].at > now) {
            i++;
            continue;
        }
        msg m = msgs[i];
        msgs[i] = msgs[--nmsgs];
        if (!reachable(m.from, m.to))
            continue;
        if (m.resp)
            on_fetch_resp(&m);
        else
            on_fetch(&m);
        check();
    }
    for (int b = 1; b <= NB; b++) {
        broker *x = &br[b];
        if (!x->up)
            continue;
        if (!x->cut && x->applied < nmeta && chance(30)) { /* the metadata reaches it, late */
            apply_meta(b, x->applied + (int)rnd_in(1, nmeta - x->applied));
            check();
        }
        if (now >= x->next_hb_ms && !x->cut) {
            x->next_hb_ms = now + HB_MS;
            heartbeat(b);
        }
        if (now >= x->next_isr_ms) {
            x->next_isr_ms = now + ISR_TICK_MS;
            isr_tick(b);
            check();
        }
        for (int p = 0; p < NP; p++) {
            rep *r = &x->r[p];
            if (r->open && !r->leads && r->leader > 0 && r->leader != b && now >= r->next_fetch_ms)
                send_fetch(b, p);
        }
    }
    /* the controller fences brokers whose session ran out */
    if (now % 50 == 0) {
        mrec_list out;
        mrec_list_init(&out);
        controller_expire_sessions(ctl, now, SESSION_MS, &out);
        if (out.n) {
            tr("controller: %d records (sessions expired)", out.n);
            stat_elections++;
        }
        commit(&out);
        mrec_list_deinit(&out);
        check();
    }
    if (now % 3 == 0)
        produce((int)(rnd() % NP));
    if (now % 7 == 0)
        consume((int)(rnd() % NP));
    check();
    if (!chaos)
        return;
    if (chance(1) && chance(10)) { /* a fault every ~1 s */
        int b = (int)rnd_in(1, NB);
        int down = 0, cut = 0;
        for (int i = 1; i <= NB; i++) {
            down += !br[i].up;
            cut += br[i].cut;
        }
        if (!br[b].up)
            restart(b);
        else if (br[b].cut) {
            tr("broker %d healed", b);
            br[b].cut = false;
        } else if (down + cut == 0 && chance(50))
            crash(b);
        else if (down + cut == 0) {
            tr("broker %d cut off", b);
            br[b].cut = true;
        }
    }
}

int main(int argc, char **argv)
{
    int64_t chaos_ms = 20000;
    seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--chaos-ms") == 0 && i + 1 < argc)
            chaos_ms = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--trace") == 0)
            trace = true;
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--bug") == 0 && i + 1 < argc) {
            i++;
            no_maximal_isr |= strcmp(argv[i], "maximal-isr") == 0;
            no_catch_up |= strcmp(argv[i], "catch-up") == 0;
            no_follower_epoch |= strcmp(argv[i], "follower-epoch") == 0;
        }
        else {
            fprintf(stderr, "usage: simrepl [--seed S] [--chaos-ms N] [--trace] [--quiet] "
                    "[--bug maximal-isr|catch-up|follower-epoch]\n");
            return 2;
        }
    }
    rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    setup();
    while (now < chaos_ms)
        step(true);
    /* heal: everyone up and connected */
    for (int b = 1; b <= NB; b++) {
        if (!br[b].up)
            restart(b);
        br[b].cut = false;
    }
    tr("healed");
    int64_t healed_at = now, acked_before = nacked;
    bool got[NP] = { false };
    while (now < healed_at + 20000) {
        step(false);
        for (int i = (int)acked_before; i < nacked; i++)
            got[acked_part[i]] = true;
        if (got[0] && got[1] && now > healed_at + 5000)
            break;
    }
    for (int p = 0; p < NP; p++)
        if (!got[p])
            fail("healed for 20 s and partition %d acknowledged nothing", p);
    /* quiesce: no more producing; followers catch up */
    for (int i = 0; i < 3000; i++) {
        now++;
        for (int k = 0; k < nmsgs;) {
            if (msgs[k].at > now) {
                k++;
                continue;
            }
            msg m = msgs[k];
            msgs[k] = msgs[--nmsgs];
            if (m.resp)
                on_fetch_resp(&m);
            else
                on_fetch(&m);
        }
        for (int b = 1; b <= NB; b++) {
            apply_meta(b, nmeta);
            for (int p = 0; p < NP; p++) {
                rep *r = &br[b].r[p];
                if (r->open && !r->leads && r->leader > 0 && now >= r->next_fetch_ms)
                    send_fetch(b, p);
            }
        }
        check();
    }
    /* every acknowledged record, at its offset, exactly once, from the leader */
    for (int p = 0; p < NP; p++) {
        const mi_partition *mp = ctl_part(p);
        if (mp->leader < 0)
            fail("partition %d has no leader after healing", p);
        rep *r = &br[mp->leader].r[p];
        for (int i = 0; i < nacked; i++) {
            if (acked_part[i] != p)
                continue;
            if (acked_off[i] >= r->hw || r->log[acked_off[i]].rid != acked_rid[i])
                fail("p%d offset %" PRId64 " rid %" PRId64 " acknowledged, not readable from leader %d (hw %" PRId64
                     ")", p, acked_off[i], acked_rid[i], mp->leader, r->hw);
            for (int64_t o = 0; o < r->hw; o++)
                if (o != acked_off[i] && r->log[o].rid == acked_rid[i])
                    fail("p%d rid %" PRId64 " at offsets %" PRId64 " and %" PRId64, p, acked_rid[i], acked_off[i], o);
        }
    }
    if (!quiet)
        printf("simrepl: seed %" PRIu64 " ok: %" PRId64 " ms, %" PRId64 " records produced, %d acknowledged, "
               "%" PRId64 " truncations, %" PRId64 " controller changes, %d metadata records\n",
               seed, now, stat_produced, nacked, stat_truncs, stat_elections, nmeta);
    return 0;
}
