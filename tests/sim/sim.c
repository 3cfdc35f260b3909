/*
 * sim.c - the deterministic simulator of the Raft core (src/raft) carrying
 * the controller and the metadata image (src/controller).
 *
 * Runs N voters (3 or 5) and one observer, each a real `raft` from
 * src/raft/raft.c, against a fake network (drop, delay, duplicate, reorder,
 * partitions, heal), a fake disk per node (APPENDs become durable only when a
 * simulated fsync completes; a crash loses what is not durable except for a
 * random prefix of it, the torn tail; quorum-state and snapshots are written
 * durably at once) and a fake clock. Everything comes from ONE seed:
 * `sim --seed S` replays exactly one run, and `--trace` prints every event,
 * byte-identical for the same seed.
 *
 * Each node's state machine is Gregor's metadata layer in miniature: a
 * controller (controller.h, seeded from the run's PRNG) and an image
 * (image.h). Whoever leads, once its controller is active (it has applied
 * the log it leads, then controller_reset to its committed image, as
 * metalog.c does), decides a random admin change every 20-320 ms; the
 * records become one record batch (batch_build.h), the entry's payload.
 * Every node applies committed entries to its own image; snapshots hold the
 * image as records.
 *
 * A run is a chaos phase (crashes, restarts, graceful leader shutdowns,
 * partitions, lossy links, random proposals by whoever leads, snapshots)
 * followed by a healed phase in which every node is up and the network is
 * perfect: a proposal made then must commit within 30 simulated seconds.
 *
 * After EVERY call into a raft the simulator checks:
 *  - at most one leader per epoch, ever, and it holds every committed entry
 *    when it takes office; at most one vote per node and epoch,
 *    ever, on disk (quorum-state) before the answer granting it is sent;
 *  - entries with the same (offset, epoch) have the same payload, on every
 *    node and across time (log matching);
 *  - every node's log below its HW equals the global committed log, which
 *    only grows (a committed entry is never lost or changed);
 *  - a node's HW never goes backwards unless it crashed; a leader's new HW
 *    is on a majority of voters' disks, synced;
 *  - every node's applied state (offset, running hash of what it applied)
 *    equals the replay of the committed log to that offset, and so does its
 *    metadata image (built from the entries it applied, from its snapshot,
 *    or after a restart from both) against one image replaying the
 *    committed log;
 *  - the active controller's image equals its committed image at activation
 *    plus every batch it proposed since, and the committed image itself once
 *    all of those are applied;
 *  - raft_check (the core's own invariants).
 * A violation prints the seed, the step, the trace tail and exits 1.
 */
#include "raft/raft.h"
#include "controller/controller.h"
#include "controller/image.h"
#include "controller/mrec.h"
#include "base/crc32c.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES_MAX 8
#define MSGS_MAX 4096
#define FSYNCS_MAX 256
#define TRACE_TAIL 48
#define TRACE_LINE 200
#define EPOCHS_MAX 100000
#define SNAP_HEAD 16          /* a snapshot: applied offset, running hash, then the image */
#define SNAP_CHUNK 32
#define TOPIC_NAMES 8         /* the controller's topics are t0..t7: images stay small */
#define PARTS_MAX 8
#define BROKERS 6             /* broker ids the simulated admin registers: 1..6 */
#define SESSION_MS 9000       /* Kafka's broker.session.timeout.ms */
#define HEALED_MAX 4096
#define SNAP_EVERY 24         /* offsets applied beyond the last snapshot */
#define LIVENESS_MS 30000
#define MATCH_CAP (1 << 16)

/* ---- the run's one PRNG ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t rnd_below(int64_t n)
{
    return n <= 0 ? 0 : (int64_t)(rnd() % (uint64_t)n);
}

static bool chance(int per_mille)
{
    return rnd_below(1000) < per_mille;
}

/* FNV-1a over 8-byte words (then the tail bytes): payloads are record
 * batches now, and every step hashes every node's log below its HW. */
static uint64_t hash_bytes(const uint8_t *p, int32_t n, uint64_t h)
{
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h ^= w;
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return hash_bytes((const uint8_t *)&v, (int32_t)sizeof(v), h);
}

/* ---- trace ---- */

static uint64_t seed;
static bool trace_all;
static int64_t now_ms;
static uint64_t step;
static char trace_ring[TRACE_TAIL][TRACE_LINE];
static uint64_t trace_n;

static void trace(const char *fmt, ...)
{
    char *line = trace_ring[trace_n++ % TRACE_TAIL];
    int k = snprintf(line, TRACE_LINE, "%8" PRId64 " ", now_ms);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, (size_t)(TRACE_LINE - k), fmt, ap);
    va_end(ap);
    if (trace_all)
        printf("%s\n", line);
}

static void fail(const char *fmt, ...)
{
    fflush(stdout);
    fprintf(stderr, "sim: seed %" PRIu64 ": invariant violated at step %" PRIu64 ", t=%" PRId64
            " ms: ", seed, step, now_ms);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nlast events:\n");
    uint64_t from = trace_n > TRACE_TAIL ? trace_n - TRACE_TAIL : 0;
    for (uint64_t i = from; i < trace_n; i++)
        fprintf(stderr, "  %s\n", trace_ring[i % TRACE_TAIL]);
    fprintf(stderr, "replay: sim --seed %" PRIu64 " --trace\n", seed);
    exit(1);
}

/* The core aborts on a broken invariant: show the seed and the trace tail. */
static void on_abort(int sig)
{
    (void)sig;
    fprintf(stderr, "sim: seed %" PRIu64 ": the core aborted at step %" PRIu64 ", t=%" PRId64 " ms\nlast events:\n",
            seed, step, now_ms);
    uint64_t from = trace_n > TRACE_TAIL ? trace_n - TRACE_TAIL : 0;
    for (uint64_t i = from; i < trace_n; i++)
        fprintf(stderr, "  %s\n", trace_ring[i % TRACE_TAIL]);
    fprintf(stderr, "replay: sim --seed %" PRIu64 " --trace\n", seed);
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* ---- the global truth ---- */

typedef struct gentry {
    int64_t offset;
    int32_t count, epoch;
    uint64_t hash;        /* of payload, count and control */
    uint64_t image_after; /* the running hash of the entries up to it */
    uint64_t digest;      /* the metadata image replayed up to it (mimage_digest) */
    raft_entry e;         /* a copy, payload owned: logs are compared with it */
    int32_t commit_epoch; /* the epoch of the node that first applied it */
} gentry;

static gentry *committed;
static int ncommitted, capcommitted;
static int32_t leader_of_epoch[EPOCHS_MAX];
static int8_t vote_of[EPOCHS_MAX][NODES_MAX]; /* real votes granted: candidate id, 0 */
static const raft_msg *answering;             /* the request being delivered */
static int32_t answering_from;

typedef struct match_slot {
    int64_t offset;
    int32_t epoch;
    bool used;
    uint64_t hash;
} match_slot;
static match_slot *match; /* (offset, epoch) -> payload hash, ever appended */
static int nmatch;

static uint64_t entry_hash(const raft_entry *e)
{
    uint64_t h = hash_bytes(e->payload.ptr, e->payload.len, 0xcbf29ce484222325ull);
    return mix(mix(h, (uint64_t)e->count), (uint64_t)e->control);
}

static uint64_t image_step(uint64_t image, const raft_entry *e)
{
    return mix(mix(image, (uint64_t)e->offset), entry_hash(e));
}

/* Byte for byte (cheaper than hashing every log below every HW each step). */
static bool same_entry(const raft_entry *a, const raft_entry *b)
{
    return a->offset == b->offset && a->epoch == b->epoch && a->count == b->count &&
           a->control == b->control && a->payload.len == b->payload.len &&
           (a->payload.len == 0 || memcmp(a->payload.ptr, b->payload.ptr, (size_t)a->payload.len) == 0);
}

static int64_t committed_end(void)
{
    if (!ncommitted)
        return 0;
    return committed[ncommitted - 1].offset + committed[ncommitted - 1].count;
}

static int committed_find(int64_t offset)
{
    int lo = 0, hi = ncommitted;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (committed[mid].offset + committed[mid].count <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The committed entry ending at `offset` (an entry boundary), or -1 for 0. */
static int committed_before(int64_t offset)
{
    if (offset == 0)
        return -1;
    int i = committed_find(offset - 1);
    if (i >= ncommitted || committed[i].offset + committed[i].count != offset)
        fail("image asked at %" PRId64 ", not a committed entry boundary", offset);
    return i;
}

/* The running hash after applying everything before `offset`. */
static uint64_t committed_image(int64_t offset)
{
    int i = committed_before(offset);
    return i < 0 ? 0 : committed[i].image_after;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return s ? hash_bytes((const uint8_t *)s, (int32_t)strlen(s) + 1, h) : mix(h, 0x5eed);
}

static uint64_t hash_ints(uint64_t h, const int32_t *v, int n)
{
    h = mix(h, (uint64_t)n);
    for (int i = 0; i < n; i++)
        h = mix(h, (uint64_t)(uint32_t)v[i]);
    return h;
}

/*
 * The metadata images. An image is compared by what mimage_write makes of
 * it (mimage_equal's own definition: same records, same image) and, so that
 * a field the snapshot writer forgot is not forgotten by the comparison too,
 * by every field of the struct; a digest of both is kept beside every image
 * the simulator holds, recomputed whenever that image changes, so that every
 * step can compare them cheaply.
 */
static uint64_t mimage_digest(const mimage *im)
{
    mrec_list l;
    mrec_list_init(&l);
    mimage_write(im, &l);
    if (l.oom)
        abort();
    uint64_t h = hash_bytes(l.w.buf, (int32_t)l.w.len, 0xcbf29ce484222325ull);
    mrec_list_deinit(&l);
    h = mix(mix(mix(h, (uint64_t)im->ntopics), (uint64_t)im->next_producer_id), (uint64_t)im->metadata_version);
    for (int i = 0; i < im->ntopics; i++) {
        const mi_topic *t = im->by_name[i];
        h = hash_bytes(im->by_id[i]->id.b, 16, hash_bytes(t->id.b, 16, hash_str(h, t->name)));
        h = mix(h, (uint64_t)t->nparts);
        for (int32_t k = 0; k < t->nparts; k++) {
            const mi_partition *q = &t->parts[k];
            h = hash_ints(hash_ints(h, q->replicas, q->nreplicas), q->isr, q->nisr);
            h = mix(mix(mix(h, (uint64_t)q->leader), (uint64_t)q->leader_epoch), (uint64_t)q->partition_epoch);
        }
        for (int k = 0; k < t->ncfg; k++)
            h = hash_str(hash_str(h, t->cfg[k].name), t->cfg[k].value);
    }
    h = mix(h, (uint64_t)im->nbrokers);
    for (int i = 0; i < im->nbrokers; i++) {
        const mi_broker *b = &im->brokers[i];
        h = hash_bytes(b->incarnation.b, 16, mix(mix(h, (uint64_t)b->id), (uint64_t)b->epoch));
        h = mix(mix(hash_str(h, b->rack), (uint64_t)b->fenced), (uint64_t)b->shutting_down);
        for (int k = 0; k < b->neps; k++)
            h = mix(mix(hash_str(hash_str(h, b->eps[k].name), b->eps[k].host), (uint64_t)b->eps[k].port),
                    (uint64_t)b->eps[k].security_protocol);
    }
    return h;
}

static mimage ref_image;        /* the committed log replayed, entry by entry */
static int nactivations, ninstalls, nloads, nrefused; /* for the summary */
static uint64_t empty_digest;   /* of an empty image */

/*
 * What every committed image must satisfy, whatever the controller decided:
 * both indexes sorted and unique, partitions' replicas unique with one
 * replication factor per topic, the ISR within the replicas, the leader in
 * the ISR (or none), epochs never negative; brokers sorted by id; a leader
 * that is a registered broker is not fenced.
 */
static void check_image(const mimage *im, int64_t offset)
{
    for (int i = 0; i < im->ntopics; i++) {
        const mi_topic *t = im->by_name[i];
        if (i > 0 && (strcmp(im->by_name[i - 1]->name, t->name) >= 0 ||
                      memcmp(im->by_id[i - 1]->id.b, im->by_id[i]->id.b, 16) >= 0))
            fail("image at %" PRId64 ": topics not sorted or not unique at %s", offset, t->name);
        for (int32_t k = 0; k < t->nparts; k++) {
            const mi_partition *q = &t->parts[k];
            bool leader_ok = q->leader < 0;
            /* replication factors may differ by partition (a reassignment) */
            if (q->nreplicas < 1 || q->leader_epoch < 0 || q->partition_epoch < 0)
                fail("image at %" PRId64 ": %s-%d has %d replicas, epochs %d/%d", offset, t->name, k, q->nreplicas,
                     q->leader_epoch, q->partition_epoch);
            for (int a = 0; a < q->nadding + q->nremoving; a++) {
                int32_t x = a < q->nadding ? q->adding[a] : q->removing[a - q->nadding];
                bool in = false;
                for (int b = 0; b < q->nreplicas; b++)
                    in |= q->replicas[b] == x;
                for (int b = 0; a < q->nadding && b < q->nremoving; b++)
                    in &= q->removing[b] != x;
                if (!in)
                    fail("image at %" PRId64 ": %s-%d: adding/removing replica %d is not a replica (or both)",
                         offset, t->name, k, x);
            }
            for (int a = 0; a < q->nreplicas; a++)
                for (int b = 0; b < a; b++)
                    if (q->replicas[a] == q->replicas[b])
                        fail("image at %" PRId64 ": %s-%d lists replica %d twice", offset, t->name, k,
                             q->replicas[a]);
            for (int a = 0; a < q->nisr; a++) {
                bool in = false;
                for (int b = 0; b < q->nreplicas; b++)
                    in |= q->isr[a] == q->replicas[b];
                if (!in)
                    fail("image at %" PRId64 ": %s-%d has %d in its ISR, not a replica", offset, t->name, k,
                         q->isr[a]);
                leader_ok |= q->isr[a] == q->leader;
            }
            if (!leader_ok)
                fail("image at %" PRId64 ": %s-%d is led by %d, not in its ISR", offset, t->name, k, q->leader);
            const mi_broker *b = q->leader >= 0 ? mimage_broker(im, q->leader) : NULL;
            if (b && b->fenced)
                fail("image at %" PRId64 ": %s-%d is led by fenced broker %d", offset, t->name, k, q->leader);
        }
    }
    for (int i = 1; i < im->nbrokers; i++)
        if (im->brokers[i - 1].id >= im->brokers[i].id)
            fail("image at %" PRId64 ": brokers not sorted by id", offset);
}

/* The replay's digest after applying everything before `offset`. */
static uint64_t committed_digest(int64_t offset)
{
    int i = committed_before(offset);
    return i < 0 ? empty_digest : committed[i].digest;
}

static void match_record(int node, const raft_entry *e)
{
    uint64_t h = entry_hash(e);
    uint64_t k = mix(mix(0, (uint64_t)e->offset), (uint64_t)e->epoch) % MATCH_CAP;
    for (;;) {
        match_slot *s = &match[k];
        if (!s->used) {
            if (nmatch > MATCH_CAP * 7 / 10)
                fail("match table full (run too long)");
            *s = (match_slot){e->offset, e->epoch, true, h};
            nmatch++;
            return;
        }
        if (s->offset == e->offset && s->epoch == e->epoch) {
            if (s->hash != h)
                fail("log matching: node %d appended offset %" PRId64 " epoch %d with another payload",
                     node, e->offset, e->epoch);
            return;
        }
        k = (k + 1) % MATCH_CAP;
    }
}

static uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- nodes, disks ---- */

typedef struct dentry {
    raft_entry e;      /* payload owned */
    uint64_t seq;
    bool synced;
} dentry;

typedef struct node {
    int32_t id;
    raft *r;
    bool up;
    uint32_t incarnation;
    /* disk */
    raft_quorum_state qs;
    dentry *log;
    int nlog, caplog;
    raft_snapshot_id snap;
    uint8_t *snap_bytes;               /* malloc'd, snap_len bytes */
    int64_t snap_len;
    uint8_t *dl_bytes;                 /* a snapshot being downloaded */
    int64_t dl_cap;
    int64_t fsync_last_ms;
    int32_t fsync_delay_max_ms;        /* 20, or up to 600 on a slow disk */
    /* state machine */
    int64_t applied;
    uint64_t image;                    /* running hash of the entries applied */
    mimage img;                        /* the metadata image they make */
    uint64_t img_digest;
    /* the controller: active once the leader has applied its log as it
     * was when it took office (metalog.c's activate_at) */
    controller *ctl;
    bool active;
    int64_t activate_at;
    mimage ahead;                      /* img at activation + every batch proposed since */
    uint64_t ctl_digest, ahead_digest; /* of those two, taken whenever they change */
    int64_t hw_seen;                   /* -1 after a crash */
    int64_t restart_at_ms;
    uint64_t proposals;
} node;

static node nodes[NODES_MAX];
static int nnodes, nvoters;
static raft_actions acts;

static void disk_truncate(node *n, int64_t offset)
{
    while (n->nlog && n->log[n->nlog - 1].e.offset >= offset) {
        n->nlog--;
        free((void *)n->log[n->nlog].e.payload.ptr);
    }
}

static void disk_append(node *n, const raft_entry *e, uint64_t seq)
{
    int64_t end = n->nlog ? n->log[n->nlog - 1].e.offset + n->log[n->nlog - 1].e.count
                          : n->snap.end_offset;
    if (e->offset != end)
        fail("node %d: APPEND at %" PRId64 " but the disk ends at %" PRId64, n->id, e->offset, end);
    if (n->nlog == n->caplog) {
        n->caplog = n->caplog ? n->caplog * 2 : 64;
        n->log = realloc(n->log, sizeof(dentry) * (size_t)n->caplog);
        if (!n->log)
            abort();
    }
    dentry *d = &n->log[n->nlog++];
    d->e = *e;
    uint8_t *p = malloc((size_t)e->payload.len + 1);
    if (!p)
        abort();
    if (e->payload.len)
        memcpy(p, e->payload.ptr, (size_t)e->payload.len);
    d->e.payload.ptr = p;
    d->seq = seq;
    d->synced = false;
}

/* Drop disk entries a snapshot covers. */
static void disk_drop_prefix(node *n, int64_t offset)
{
    int k = 0;
    while (k < n->nlog && n->log[k].e.offset < offset) {
        free((void *)n->log[k].e.payload.ptr);
        k++;
    }
    memmove(n->log, n->log + k, sizeof(dentry) * (size_t)(n->nlog - k));
    n->nlog -= k;
}

/* A snapshot: the applied offset, the running hash, then the image as
 * records (mimage_write), each frame preceded by its 4-byte length. */
static void image_to_bytes(node *n)
{
    mrec_list l;
    mrec_list_init(&l);
    mimage_write(&n->img, &l);
    if (l.oom)
        abort();
    int64_t len = SNAP_HEAD + 4 * (int64_t)l.n + (int64_t)l.w.len;
    uint8_t *b = malloc((size_t)len);
    if (!b)
        abort();
    memcpy(b, &n->applied, 8);
    memcpy(b + 8, &n->image, 8);
    int64_t at = SNAP_HEAD;
    for (int i = 0; i < l.n; i++) {
        int32_t flen;
        const uint8_t *f = mrec_get(&l, i, &flen);
        memcpy(b + at, &flen, 4);
        memcpy(b + at + 4, f, (size_t)flen);
        at += 4 + flen;
    }
    mrec_list_deinit(&l);
    free(n->snap_bytes);
    n->snap_bytes = b;
    n->snap_len = len;
}

/* Load node n's state machine from its snapshot: a fresh image built by
 * applying the snapshot's records. */
static void image_from_bytes(node *n)
{
    const uint8_t *b = n->snap_bytes;
    if (n->snap_len < SNAP_HEAD)
        fail("node %d: snapshot of %" PRId64 " bytes", n->id, n->snap_len);
    memcpy(&n->applied, b, 8);
    memcpy(&n->image, b + 8, 8);
    mimage_deinit(&n->img);
    mimage_init(&n->img);
    int64_t at = SNAP_HEAD;
    while (at < n->snap_len) {
        int32_t flen;
        memcpy(&flen, b + at, 4);
        if (flen < 0 || at + 4 + flen > n->snap_len)
            fail("node %d: snapshot frame at %" PRId64 " overruns it", n->id, at);
        char err[256];
        if (mimage_apply(&n->img, b + at + 4, flen, NULL, err, sizeof err) != 0)
            fail("node %d: snapshot record does not apply: %s", n->id, err);
        at += 4 + flen;
    }
    n->img_digest = mimage_digest(&n->img);
}

/* ---- network ---- */

typedef struct netmsg {
    int64_t at_ms;
    uint64_t order;
    int32_t from, to;
    raft_msg msg;        /* entries and chunk deep-copied */
    raft_entry *entries;
    uint8_t *bytes;
} netmsg;

static netmsg msgs[MSGS_MAX];
static int nmsgs;
static uint64_t msg_order;
static bool blocked[NODES_MAX][NODES_MAX];
static int drop_per_mille, dup_per_mille, delay_max_ms;
static int crash_point_per_mille;

static int node_index(int32_t id)
{
    for (int i = 0; i < nnodes; i++)
        if (nodes[i].id == id)
            return i;
    return -1;
}

static void msg_free(netmsg *m)
{
    if (m->entries) {
        for (int i = 0; i < m->msg.u.fetch_resp.nentries; i++)
            free((void *)m->entries[i].payload.ptr);
        free(m->entries);
    }
    free(m->bytes);
}

static void net_enqueue(int32_t from, int32_t to, const raft_msg *msg, const uint8_t *chunk)
{
    if (nmsgs == MSGS_MAX) {
        trace("net full: drop %s %d->%d", raft_msg_name(msg->type), from, to);
        return;
    }
    netmsg *m = &msgs[nmsgs++];
    memset(m, 0, sizeof(*m));
    m->at_ms = now_ms + 1 + rnd_below(delay_max_ms);
    m->order = msg_order++;
    m->from = from;
    m->to = to;
    m->msg = *msg;
    if (msg->type == RAFT_MSG_FETCH_RESP && msg->u.fetch_resp.nentries > 0) {
        int n = msg->u.fetch_resp.nentries;
        m->entries = malloc(sizeof(raft_entry) * (size_t)n);
        if (!m->entries)
            abort();
        for (int i = 0; i < n; i++) {
            m->entries[i] = msg->u.fetch_resp.entries[i];
            uint8_t *p = malloc((size_t)m->entries[i].payload.len + 1);
            if (!p)
                abort();
            if (m->entries[i].payload.len)
                memcpy(p, m->entries[i].payload.ptr, (size_t)m->entries[i].payload.len);
            m->entries[i].payload.ptr = p;
        }
        m->msg.u.fetch_resp.entries = m->entries;
    }
    if (msg->type == RAFT_MSG_FETCH_SNAPSHOT_RESP && chunk) {
        int32_t n = msg->u.snap_resp.chunk_len;
        m->bytes = malloc((size_t)n + 1);
        if (!m->bytes)
            abort();
        memcpy(m->bytes, chunk, (size_t)n);
        m->msg.u.snap_resp.chunk = (raft_bytes){m->bytes, n};
    }
}

static void net_send(int32_t from, int32_t to, const raft_msg *msg, const uint8_t *chunk)
{
    int a = node_index(from), b = node_index(to);
    if (a < 0 || b < 0)
        fail("send to unknown node %d", to);
    if (blocked[a][b] || chance(drop_per_mille)) {
        trace("n%d -> n%d %s dropped", from, to, raft_msg_name(msg->type));
        return;
    }
    net_enqueue(from, to, msg, chunk);
    if (chance(dup_per_mille))
        net_enqueue(from, to, msg, chunk);
}

/* ---- fsyncs ---- */

typedef struct fsync_ev {
    int64_t at_ms;
    int node;
    uint32_t incarnation;
    uint64_t seq;
} fsync_ev;

static fsync_ev fsyncs[FSYNCS_MAX];
static int nfsyncs;

/* ---- checks ---- */

static void check_node(node *n)
{
    if (!n->up)
        return;
    raft_check(n->r);
    int64_t hw = raft_high_watermark(n->r);
    int64_t start = raft_log_start(n->r);
    if (hw > committed_end())
        fail("node %d: hw %" PRId64 " beyond the committed end %" PRId64, n->id, hw, committed_end());
    int cnt;
    const raft_entry *v = raft_entries(n->r, start, &cnt);
    for (int i = 0; i < cnt && v[i].offset < hw; i++) {
        int k = committed_find(v[i].offset);
        if (k >= ncommitted || committed[k].offset != v[i].offset ||
            !same_entry(&committed[k].e, &v[i]))
            fail("node %d: entry at %" PRId64 " (epoch %d) below hw %" PRId64
                 " differs from the committed log", n->id, v[i].offset, v[i].epoch, hw);
    }
    if (n->applied > hw && n->applied > start)
        fail("node %d: applied %" PRId64 " beyond hw %" PRId64, n->id, n->applied, hw);
    if (committed_image(n->applied) != n->image)
        fail("node %d: applied image at %" PRId64 " differs from the committed replay", n->id,
             n->applied);
    if (committed_digest(n->applied) != n->img_digest)
        fail("node %d: metadata image at %" PRId64 " differs from the committed log replayed", n->id,
             n->applied);
}

static void check_all(void)
{
    for (int i = 0; i < nnodes; i++)
        check_node(&nodes[i]);
}

/* ---- executing actions ---- */

/* Does node k's disk hold, synced, the entry containing `offset` with `epoch`
 * (or a snapshot past it)? */
static bool disk_holds(const node *n, int64_t offset, int32_t epoch)
{
    if (n->snap.end_offset > offset)
        return true;
    for (int j = 0; j < n->nlog; j++) {
        const raft_entry *e = &n->log[j].e;
        if (e->offset <= offset && offset < e->offset + e->count)
            return n->log[j].synced && e->epoch == epoch;
    }
    return false;
}

/*
 * Leader completeness: the leader of epoch T holds every entry committed in
 * an epoch before T (an entry committed in a later epoch need not be in the
 * log of a stale leader elected meanwhile: it cannot commit anything).
 */
static void check_leader_complete(node *n)
{
    int32_t t = raft_epoch(n->r);
    int64_t start = raft_log_start(n->r);
    for (int k = committed_find(start); k < ncommitted; k++) {
        if (committed[k].commit_epoch >= t)
            continue;
        int cnt;
        const raft_entry *v = raft_entries(n->r, committed[k].offset, &cnt);
        if (cnt == 0 || v[0].offset != committed[k].offset || v[0].epoch != committed[k].epoch ||
            entry_hash(&v[0]) != committed[k].hash)
            fail("node %d leads epoch %d without the entry at offset %" PRId64
                 " committed in epoch %d", n->id, t, committed[k].offset, committed[k].commit_epoch);
    }
}

/* A leader's new HW must be on a majority of voters' disks, synced. */
static void check_commit_durable(node *n, int64_t hw)
{
    int cnt;
    const raft_entry *v = raft_entries(n->r, hw - 1, &cnt);
    if (cnt == 0)
        fail("node %d: committed %" PRId64 " beyond its log", n->id, hw);
    int on = 0;
    for (int i = 0; i < nvoters; i++)
        on += disk_holds(&nodes[i], hw - 1, v[0].epoch);
    if (on < nvoters / 2 + 1)
        fail("node %d: hw %" PRId64 " is on %d synced disks of %d voters", n->id, hw, on, nvoters);
}

static bool healed;               /* the chaos is over */
static bool liveness_ok;
/* the batches proposed after healing: one of them must commit */
typedef struct healed_prop {
    int64_t offset;
    int32_t epoch;
} healed_prop;
static healed_prop healed_props[HEALED_MAX];
static int nhealed_props;

/* Apply a committed batch's records (a record batch v2 as metalog.c writes
 * it: uncompressed, one metadata record per value) to im. The walk is here
 * rather than records.c's iterator, which links every compression codec
 * (and their loading would double the soak's time). */
static void apply_batch(mimage *im, const raft_entry *e, const char *who, int32_t id)
{
    if (e->control)
        return; /* LeaderChange: no metadata */
    const uint8_t *p = e->payload.ptr;
    int32_t len = e->payload.len;
    if (len < BATCH_HEADER_BYTES || p[16] != 2 || 12 + (int64_t)rd_be32(p + 8) != len ||
        rd_be32(p + 17) != crc32c(0, p + 21, (size_t)len - 21) ||
        (p[22] & BATCH_ATTR_COMPRESSION_MASK) || (int32_t)rd_be32(p + 57) != e->count)
        fail("%s %d: batch at %" PRId64 " is not an uncompressed v2 batch of %d records with its CRC", who, id,
             e->offset, e->count);
    kp_reader r;
    kp_reader_init(&r, p + BATCH_HEADER_BYTES, (size_t)len - BATCH_HEADER_BYTES, NULL);
    for (int k = 0; k < e->count; k++) {
        int32_t rlen = kp_read_varint(&r);
        if (r.err || rlen < 1 || (size_t)rlen > kp_reader_left(&r))
            fail("%s %d: record %d of the batch at %" PRId64 " overruns it", who, id, k, e->offset);
        kp_reader rec;
        kp_reader_init(&rec, r.pos, (size_t)rlen, NULL);
        r.pos += rlen;
        rec.pos++; /* attributes */
        kp_read_varlong(&rec); /* timestamp delta */
        int32_t delta = kp_read_varint(&rec);
        int32_t klen = kp_read_varint(&rec);
        int32_t vlen = rec.err || klen != -1 ? -1 : kp_read_varint(&rec);
        if (rec.err || delta != k || vlen < 0 || (size_t)vlen > kp_reader_left(&rec))
            fail("%s %d: record %d of the batch at %" PRId64 " does not parse", who, id, k, e->offset);
        char err[256];
        if (mimage_apply(im, rec.pos, vlen, NULL, err, sizeof err) != 0)
            fail("%s %d: record %d of the batch at %" PRId64 " does not apply: %s", who, id, k, e->offset, err);
    }
    if (kp_reader_left(&r) != 0)
        fail("%s %d: batch at %" PRId64 " has bytes after its %d records", who, id, e->offset, e->count);
}

/*
 * The leader's controller takes over once its committed image has caught
 * up with the log it leads (metalog.c's maybe_activate): reset to a copy of
 * that image; `ahead` starts there too and follows every batch it proposes.
 */
static void maybe_activate(node *n)
{
    if (n->active || raft_role(n->r) != RAFT_LEADER || n->applied < n->activate_at)
        return;
    if (controller_reset(n->ctl, &n->img) != 0)
        abort();
    controller_sessions_reset(n->ctl, now_ms);
    mimage_deinit(&n->ahead);
    if (mimage_copy(&n->ahead, &n->img) != 0)
        abort();
    n->active = true;
    /* by digest, not mimage_equal: that memcmp()s two NULL buffers when
     * both images are empty (undefined; UBSan stops there) */
    n->ctl_digest = mimage_digest(controller_image(n->ctl));
    n->ahead_digest = mimage_digest(&n->ahead);
    if (n->ctl_digest != n->img_digest || n->ahead_digest != n->img_digest)
        fail("node %d: the controller reset to its committed image differs from it", n->id);
    trace("n%d controller active at %" PRId64, n->id, n->applied);
    nactivations++;
}

/* The active controller's image against what it must be: the committed
 * image plus what it proposed since; once everything it proposed has
 * committed and been applied, the committed image itself. */
static void check_controller(node *n)
{
    if (!n->active)
        return;
    if (n->ctl_digest != n->ahead_digest)
        fail("node %d: the controller's image differs from its committed image plus its proposals", n->id);
    if (n->applied == raft_log_end(n->r) && n->ctl_digest != n->img_digest)
        fail("node %d: all it proposed is applied at %" PRId64 " but the controller's image differs "
             "from the committed one", n->id, n->applied);
}

static void apply_to(node *n, int64_t hw)
{
    while (n->applied < hw) {
        int cnt;
        const raft_entry *v = raft_entries(n->r, n->applied, &cnt);
        if (cnt == 0 || v[0].offset != n->applied)
            fail("node %d: cannot apply at %" PRId64, n->id, n->applied);
        const raft_entry *e = &v[0];
        int64_t end = committed_end();
        if (e->offset == end) {
            /* a newly committed entry */
            if (ncommitted == capcommitted) {
                capcommitted = capcommitted ? capcommitted * 2 : 256;
                committed = realloc(committed, sizeof(gentry) * (size_t)capcommitted);
                if (!committed)
                    abort();
            }
            uint64_t prev = ncommitted ? committed[ncommitted - 1].image_after : 0;
            apply_batch(&ref_image, e, "replay at node", n->id);
            check_image(&ref_image, e->offset + e->count);
            raft_entry copy = *e;
            uint8_t *p = malloc((size_t)e->payload.len + 1);
            if (!p)
                abort();
            if (e->payload.len)
                memcpy(p, e->payload.ptr, (size_t)e->payload.len);
            copy.payload.ptr = p;
            committed[ncommitted++] = (gentry){e->offset, e->count, e->epoch, entry_hash(e),
                                               image_step(prev, e), mimage_digest(&ref_image), copy,
                                               raft_epoch(n->r)};
            trace("commit %" PRId64 "+%d e%d by n%d", e->offset, e->count, e->epoch, n->id);
            for (int i = 0; healed && i < nhealed_props; i++)
                if (healed_props[i].offset == e->offset && healed_props[i].epoch == e->epoch)
                    liveness_ok = true;
        } else if (e->offset > end) {
            fail("node %d: commits %" PRId64 " past the committed end %" PRId64, n->id, e->offset, end);
        }
        n->image = image_step(n->image, e);
        apply_batch(&n->img, e, "node", n->id);
        n->img_digest = mimage_digest(&n->img);
        n->applied = e->offset + e->count;
        if (committed_image(n->applied) != n->image)
            fail("node %d: applied %" PRId64 "+%d differs from the committed log", n->id, e->offset,
                 e->count);
        if (committed_digest(n->applied) != n->img_digest)
            fail("node %d: metadata image after %" PRId64 "+%d differs from the committed log replayed",
                 n->id, e->offset, e->count);
    }
    maybe_activate(n);
    check_controller(n);
}

static void maybe_snapshot(node *n)
{
    if (n->applied - raft_log_start(n->r) < SNAP_EVERY || n->applied > raft_high_watermark(n->r))
        return;
    raft_snapshot_id id = {n->applied, raft_epoch_before(n->r, n->applied)};
    image_to_bytes(n);
    if (raft_snapshot_created(n->r, id, n->snap_len) != 0)
        fail("node %d: snapshot at %" PRId64 " refused", n->id, n->applied);
    n->snap = id;
    disk_drop_prefix(n, id.end_offset);
    trace("n%d snapshot at %" PRId64 " e%d", n->id, id.end_offset, id.epoch);
}

static void node_crash(node *n);

static void run_actions(node *n)
{
    bool crash_point = false; /* a vote, an epoch change or a commit: crash right after? */
    for (int i = 0; i < acts.n; i++) {
        raft_action *a = &acts.v[i];
        switch (a->kind) {
        case RAFT_ACT_PERSIST:
            n->qs = a->state;
            crash_point = true;
            break;
        case RAFT_ACT_TRUNCATE:
            trace("n%d truncate %" PRId64, n->id, a->offset);
            disk_truncate(n, a->offset);
            break;
        case RAFT_ACT_APPEND: {
            for (int j = 0; j < a->nentries; j++) {
                match_record(n->id, &a->entries[j]);
                disk_append(n, &a->entries[j], a->write_seq);
            }
            if (nfsyncs == FSYNCS_MAX)
                fail("too many fsyncs in flight");
            int64_t at = now_ms + 1 + rnd_below(n->fsync_delay_max_ms);
            if (at < n->fsync_last_ms)
                at = n->fsync_last_ms; /* fsyncs complete in order */
            n->fsync_last_ms = at;
            fsyncs[nfsyncs++] = (fsync_ev){at, (int)(n - nodes), n->incarnation, a->write_seq};
            break;
        }
        case RAFT_ACT_SEND: {
            const uint8_t *chunk = NULL;
            if (a->msg.type == RAFT_MSG_FETCH_SNAPSHOT_RESP && a->msg.u.snap_resp.error == RAFT_OK) {
                const raft_fetch_snapshot_resp *p = &a->msg.u.snap_resp;
                if (p->snapshot_id.end_offset != n->snap.end_offset ||
                    p->position + p->chunk_len > n->snap_len || p->size != n->snap_len)
                    fail("node %d: serves a snapshot it does not have", n->id);
                chunk = n->snap_bytes + p->position;
            }
            if (a->msg.type == RAFT_MSG_VOTE_RESP && a->msg.u.vote_resp.vote_granted && answering &&
                answering->type == RAFT_MSG_VOTE_REQ && !answering->u.vote_req.pre_vote &&
                a->to == answering_from) {
                /* one vote per epoch, ever, and on disk before the answer */
                int32_t e = a->msg.u.vote_resp.leader_epoch;
                int k = (int)(n - nodes);
                if (e < 0 || e >= EPOCHS_MAX)
                    fail("vote in epoch %d", e);
                if (n->qs.epoch != e || n->qs.voted_id != a->to)
                    fail("node %d: granted its vote in epoch %d to %d before quorum-state said so "
                         "(disk: epoch %d voted %d)", n->id, e, a->to, n->qs.epoch, n->qs.voted_id);
                if (vote_of[e][k] && vote_of[e][k] != a->to)
                    fail("node %d: voted twice in epoch %d: for %d and %d", n->id, e, vote_of[e][k], a->to);
                vote_of[e][k] = (int8_t)a->to;
            }
            net_send(n->id, a->to, &a->msg, chunk);
            break;
        }
        case RAFT_ACT_COMMIT:
            if (a->offset <= n->hw_seen)
                fail("node %d: hw went from %" PRId64 " back to %" PRId64, n->id, n->hw_seen,
                     a->offset);
            n->hw_seen = a->offset;
            if (raft_role(n->r) == RAFT_LEADER)
                check_commit_durable(n, a->offset);
            apply_to(n, a->offset);
            crash_point = true;
            break;
        case RAFT_ACT_SNAPSHOT_WRITE:
            if (a->position < 0 || a->position + a->bytes.len > a->snapshot_size)
                fail("node %d: snapshot chunk out of range", n->id);
            if (a->snapshot_size > n->dl_cap) {
                n->dl_bytes = realloc(n->dl_bytes, (size_t)a->snapshot_size);
                if (!n->dl_bytes)
                    abort();
                n->dl_cap = a->snapshot_size;
            }
            memcpy(n->dl_bytes + a->position, a->bytes.ptr, (size_t)a->bytes.len);
            break;
        case RAFT_ACT_INSTALL:
            if (a->snapshot_size > n->dl_cap)
                fail("node %d: installs a snapshot of %" PRId64 " bytes it never received", n->id,
                     a->snapshot_size);
            free(n->snap_bytes);
            n->snap_bytes = malloc((size_t)a->snapshot_size + 1);
            if (!n->snap_bytes)
                abort();
            memcpy(n->snap_bytes, n->dl_bytes, (size_t)a->snapshot_size);
            n->snap_len = a->snapshot_size;
            n->snap = a->snapshot;
            disk_truncate(n, INT64_MIN);
            image_from_bytes(n);
            ninstalls++;
            if (n->applied != a->snapshot.end_offset)
                fail("node %d: installed snapshot image is at %" PRId64 " not %" PRId64, n->id,
                     n->applied, a->snapshot.end_offset);
            if (n->hw_seen > a->snapshot.end_offset)
                fail("node %d: snapshot install moved hw back", n->id);
            n->hw_seen = a->snapshot.end_offset;
            trace("n%d installs snapshot %" PRId64 " e%d", n->id, a->snapshot.end_offset,
                  a->snapshot.epoch);
            break;
        case RAFT_ACT_ROLE:
            trace("n%d %s e%d leader %d voted %d", n->id, raft_role_name(a->role), a->state.epoch,
                  a->state.leader_id, a->state.voted_id);
            if (a->role == RAFT_LEADER) {
                if (a->state.epoch >= EPOCHS_MAX)
                    fail("epoch %d too large", a->state.epoch);
                if (leader_of_epoch[a->state.epoch] && leader_of_epoch[a->state.epoch] != n->id)
                    fail("two leaders in epoch %d: %d and %d", a->state.epoch,
                         leader_of_epoch[a->state.epoch], n->id);
                leader_of_epoch[a->state.epoch] = n->id;
                check_leader_complete(n);
            }
            /* every role change ends the controller's term; a new leader's
             * controller waits until it has applied the log it leads */
            n->active = false;
            n->activate_at = raft_log_end(n->r);
            break;
        }
    }
    raft_actions_reset(&acts);
    step++;
    maybe_snapshot(n);
    check_all();
    /* the dangerous moments, after the answers went out: what the disk had
     * not synced is lost (votes and quorum-state were synced at once) */
    if (crash_point && !healed && chance(crash_point_per_mille)) {
        node_crash(n);
        n->restart_at_ms = now_ms + 1 + rnd_below(1500);
    }
}

/* ---- node life ---- */

/* The cluster's timeouts and limits, drawn once per run (every node has
 * the same server.properties): Kafka's defaults or tighter ones. */
static raft_config cluster_cfg;

static void draw_cluster_config(void)
{
    raft_config_defaults(&cluster_cfg);
    if (chance(500)) {
        cluster_cfg.election_timeout_ms = 200 + (int32_t)rnd_below(1000);
        cluster_cfg.election_backoff_max_ms = 100 + (int32_t)rnd_below(1000);
        cluster_cfg.fetch_timeout_ms = cluster_cfg.election_timeout_ms * 2;
    }
    cluster_cfg.request_timeout_ms = 200 + (int32_t)rnd_below(800);
    cluster_cfg.fetch_idle_ms = 10 + (int32_t)rnd_below(100);
    static const int32_t batches[] = {1, 2, 8, 64};
    cluster_cfg.fetch_entries_max = batches[rnd_below(4)];
    cluster_cfg.snapshot_chunk_bytes = chance(500) ? SNAP_CHUNK : 1 + (int32_t)rnd_below(2048);
}

static raft_config node_config(node *n)
{
    raft_config c = cluster_cfg;
    c.node_id = n->id;
    c.nvoters = nvoters;
    for (int i = 0; i < nvoters; i++)
        c.voters[i] = i + 1;
    c.seed = rnd();
    return c;
}

static void node_start(node *n)
{
    raft_entry *v = malloc(sizeof(raft_entry) * (size_t)(n->nlog + 1));
    if (!v)
        abort();
    /* the glue fsyncs the recovered log before raft_new (raft.h: raft_disk) */
    for (int i = 0; i < n->nlog; i++) {
        v[i] = n->log[i].e;
        n->log[i].synced = true;
    }
    raft_disk d = {n->qs, n->snap, n->snap.end_offset ? n->snap_len : 0, v, n->nlog};
    raft_config c = node_config(n);
    n->r = raft_new(&c, &d, now_ms);
    free(v);
    if (!n->r)
        fail("node %d: raft_new refused its own disk", n->id);
    n->up = true;
    n->hw_seen = -1;
    /* the state machine restarts from the snapshot (or empty) and replays
     * the committed entries as the core reports them */
    if (n->snap.end_offset) {
        image_from_bytes(n);
        nloads++;
    } else {
        n->applied = 0, n->image = 0;
        mimage_deinit(&n->img);
        n->img_digest = empty_digest;
    }
    n->ctl = controller_new(n->id, rnd());
    if (n->ctl)
        controller_set_cluster(n->ctl); /* no single-node fallback: brokers must register */
    if (!n->ctl)
        abort();
    n->active = false;
    n->fsync_last_ms = now_ms;
    if (n->fsync_delay_max_ms == 0)
        n->fsync_delay_max_ms = 20;
    trace("n%d starts: epoch %d leader %d voted %d, log [%" PRId64 ", +%d entries)", n->id,
          n->qs.epoch, n->qs.leader_id, n->qs.voted_id, n->snap.end_offset, n->nlog);
    step++;
    check_all();
}

static void node_crash(node *n)
{
    /* the disk keeps what was synced and a random prefix of the rest (torn) */
    int keep = 0;
    while (keep < n->nlog && n->log[keep].synced)
        keep++;
    int unsynced = n->nlog - keep;
    int torn = (int)rnd_below(unsynced + 1);
    disk_truncate(n, keep + torn < n->nlog ? n->log[keep + torn].e.offset : INT64_MAX);
    raft_free(n->r);
    n->r = NULL;
    controller_free(n->ctl);
    n->ctl = NULL;
    n->active = false;
    mimage_deinit(&n->img);
    mimage_deinit(&n->ahead);
    n->up = false;
    n->incarnation++;
    trace("n%d crashes (kept %d synced + %d of %d unsynced entries)", n->id, keep, torn, unsynced);
}

/* ---- the run ---- */

static void deliver(netmsg *m)
{
    int b = node_index(m->to);
    node *n = &nodes[b];
    if (!n->up || blocked[node_index(m->from)][b])
        return;
    const raft_msg *g = &m->msg;
    if (g->type == RAFT_MSG_FETCH_REQ)
        trace("n%d -> n%d Fetch e%d offset %" PRId64 " last epoch %d", m->from, m->to,
              g->u.fetch_req.current_leader_epoch, g->u.fetch_req.fetch_offset,
              g->u.fetch_req.last_fetched_epoch);
    else if (g->type == RAFT_MSG_FETCH_RESP)
        trace("n%d -> n%d FetchResponse err %d e%d leader %d hw %" PRId64 " diverging %d/%" PRId64
              " snapshot %" PRId64 " entries %d%s%" PRId64, m->from, m->to, g->u.fetch_resp.error,
              g->u.fetch_resp.leader_epoch, g->u.fetch_resp.leader_id, g->u.fetch_resp.high_watermark,
              g->u.fetch_resp.diverging_epoch, g->u.fetch_resp.diverging_end_offset,
              g->u.fetch_resp.snapshot_id.end_offset, g->u.fetch_resp.nentries,
              g->u.fetch_resp.nentries ? " from " : "",
              g->u.fetch_resp.nentries ? g->u.fetch_resp.entries[0].offset : (int64_t)0);
    else if (g->type == RAFT_MSG_VOTE_REQ)
        trace("n%d -> n%d %s e%d last %d/%" PRId64, m->from, m->to,
              g->u.vote_req.pre_vote ? "PreVote" : "Vote", g->u.vote_req.candidate_epoch,
              g->u.vote_req.last_offset_epoch, g->u.vote_req.last_offset);
    else if (g->type == RAFT_MSG_VOTE_RESP)
        trace("n%d -> n%d VoteResponse e%d leader %d granted %d", m->from, m->to,
              g->u.vote_resp.leader_epoch, g->u.vote_resp.leader_id, g->u.vote_resp.vote_granted);
    else
        trace("n%d -> n%d %s", m->from, m->to, raft_msg_name(g->type));
    raft_receive(n->r, m->from, &m->msg, now_ms, &acts);
    answering = &m->msg;
    answering_from = m->from;
    run_actions(n);
    answering = NULL;
}

/* The simulated admin's brokers: what a broker process knows of itself. */
static struct {
    kp_uuid incarnation;
    bool started;
    int64_t caught_up;    /* the log end after its registration (metalog.c's regs) */
} sim_brokers[BROKERS + 1];

static void random_uuid(kp_uuid *u)
{
    uint64_t a = rnd(), b = rnd();
    memcpy(u->b, &a, 8);
    memcpy(u->b + 8, &b, 8);
}

/*
 * The leader's controller decides one random admin change against its own
 * image (create/delete topics, add partitions, set or remove a config,
 * producer ids, register brokers, heartbeats, session expiry); its records
 * go to out. A refusal or a no-op writes nothing: then a producer-id block,
 * so that every proposal writes something. *registered: the broker id whose
 * registration out holds, or 0.
 */
static void decide(node *L, mrec_list *out, int32_t *registered)
{
    controller *c = L->ctl;
    const mimage *im = controller_image(c);
    char msg[400] = "", name[16];
    int16_t code = 0;
    const char *what = "?";
    *registered = 0;
    const mi_topic *t = im->ntopics ? im->by_name[rnd_below(im->ntopics)] : NULL;
    switch ((int)rnd_below(13)) {
    case 0:
    case 1: {
        what = "create topic";
        snprintf(name, sizeof name, "t%d", (int)rnd_below(TOPIC_NAMES));
        /* with no broker registered this is refused (a cluster's controller
         * has no single-node fallback; seed 881 found the fallback leading
         * a partition from a fenced broker) */
        ctl_config cfg = {"retention.ms", "3600000"};
        kp_uuid id;
        code = controller_create_topic(c, name, 1 + (int32_t)rnd_below(4), (int16_t)(1 + rnd_below(3)), NULL,
                                       &cfg, (int)rnd_below(2), false, &id, out, msg, sizeof msg);
        break;
    }
    case 2:
        what = "delete topic";
        if (t)
            code = controller_delete_topic(c, t->id, out, msg, sizeof msg);
        break;
    case 3:
        what = "create partitions";
        if (t && t->nparts < PARTS_MAX)
            code = controller_create_partitions(c, t->name, t->nparts + 1 + (int32_t)rnd_below(2), NULL, 0, false,
                                                out, msg, sizeof msg);
        break;
    case 4: {
        what = "set config";
        char v[24];
        snprintf(v, sizeof v, "%d", (int)rnd_below(100000));
        ctl_config cfg = {chance(500) ? "retention.ms" : "segment.bytes", chance(300) ? NULL : v};
        if (t)
            code = controller_set_topic_configs(c, t->name, &cfg, 1, out, msg, sizeof msg);
        break;
    }
    case 5: {
        what = "producer ids";
        int64_t first;
        code = controller_allocate_producer_ids(c, (int32_t)(1 + rnd_below(BROKERS)), 1000, &first, out);
        break;
    }
    case 6: {
        what = "register broker";
        int32_t id = (int32_t)(1 + rnd_below(BROKERS));
        if (!sim_brokers[id].started || chance(300)) { /* a (re)started broker process */
            random_uuid(&sim_brokers[id].incarnation);
            sim_brokers[id].started = true;
        }
        static const char *racks[] = {"a", "b", "c"};
        mi_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092 + id, 0};
        ctl_registration r = {id, sim_brokers[id].incarnation, &ep, 1, racks[id % 3]};
        int64_t epoch;
        code = controller_register_broker(c, &r, false, now_ms, &epoch, out, msg, sizeof msg);
        if (code == 0 && out->n)
            *registered = id;
        break;
    }
    case 7:
    case 8:
    case 9: {
        what = "heartbeat";
        if (!im->nbrokers)
            break;
        const mi_broker *b = &im->brokers[rnd_below(im->nbrokers)];
        int32_t id = b->id;
        int64_t epoch = chance(100) ? b->epoch - 1 : b->epoch; /* a stale process */
        int64_t offset = chance(700) ? L->applied : rnd_below(L->applied + 1);
        bool want_fence = chance(20), want_shutdown = chance(50), fenced, shutdown;
        code = controller_heartbeat(c, id, epoch, offset, id <= BROKERS ? sim_brokers[id].caught_up : 0,
                                    want_fence, want_shutdown, now_ms, &fenced, &shutdown, out);
        break;
    }
    case 10:
        what = "expire sessions";
        controller_expire_sessions(c, now_ms, SESSION_MS, out);
        break;
    case 11: {
        /* KIP-455: a new target for one partition (its adding and removing
         * sets go through the log, snapshots and every image), or a cancel */
        what = "reassign";
        if (!t || t->nparts == 0)
            break;
        int32_t target[3];
        int n = 1 + (int)rnd_below(3);
        for (int i = 0; i < n; i++)
            target[i] = (int32_t)(1 + (rnd_below(BROKERS) + (uint64_t)i * 2) % BROKERS);
        code = controller_reassign(c, t->id, (int32_t)rnd_below((uint64_t)t->nparts), chance(200) ? NULL : target, n,
                                   !chance(100), out, msg, sizeof msg);
        break;
    }
    default:
        what = "validate only";
        snprintf(name, sizeof name, "t%d", (int)rnd_below(TOPIC_NAMES));
        code = controller_create_topic(c, name, 2, 1, NULL, NULL, 0, true, NULL, out, msg, sizeof msg);
        if (out->n)
            fail("node %d: a validate-only CreateTopics wrote %d records", L->id, out->n);
        break;
    }
    trace("n%d controller: %s: error %d, %d records%s%s", L->id, what, code, out->n, msg[0] ? ": " : "", msg);
    nrefused += code != 0;
    if (code != 0 && out->n)
        fail("node %d: %s refused (error %d) but wrote %d records", L->id, what, code, out->n);
    if (out->n == 0) {
        int64_t first;
        controller_allocate_producer_ids(c, L->id, 1000, &first, out);
    }
}

static void propose(void)
{
    node *leader = NULL;
    for (int i = 0; i < nnodes; i++)
        if (nodes[i].up && raft_role(nodes[i].r) == RAFT_LEADER) {
            leader = &nodes[i];
            break;
        }
    if (!leader || !leader->active)
        return; /* no active controller: Kafka's answer is NOT_CONTROLLER */
    mrec_list out;
    mrec_list_init(&out);
    int32_t registered;
    decide(leader, &out, &registered);
    /* the batch as metalog.c writes it: one record per frame, no key */
    kp_writer bw;
    kp_writer_init(&bw);
    batch_builder bb;
    batch_build_begin(&bb, &bw, now_ms);
    for (int i = 0; i < out.n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(&out, i, &len);
        batch_build_add(&bb, now_ms, NULL, -1, v, len);
        char err[256];
        if (mimage_apply(&leader->ahead, v, len, NULL, err, sizeof err) != 0)
            fail("node %d: its controller wrote a record that does not apply: %s", leader->id, err);
    }
    size_t blen = batch_build_end(&bb);
    if (blen == 0 || bw.err || out.oom)
        abort();
    int64_t off;
    int32_t lid;
    int rc = raft_propose(leader->r, (raft_bytes){bw.buf, (int32_t)blen}, out.n, now_ms, &off, &lid, &acts);
    if (rc == RAFT_PROPOSE_OK) {
        trace("n%d proposes %" PRId64 "+%d", leader->id, off, out.n);
        if (registered)
            sim_brokers[registered].caught_up = off + out.n;
        if (healed && nhealed_props < HEALED_MAX)
            healed_props[nhealed_props++] = (healed_prop){off, raft_epoch(leader->r)};
    } else {
        /* what it decided will never be written: back to the committed image */
        if (controller_reset(leader->ctl, &leader->img) != 0)
            abort();
        mimage_deinit(&leader->ahead);
        if (mimage_copy(&leader->ahead, &leader->img) != 0)
            abort();
    }
    leader->ctl_digest = mimage_digest(controller_image(leader->ctl));
    leader->ahead_digest = mimage_digest(&leader->ahead);
    check_controller(leader);
    kp_writer_deinit(&bw);
    mrec_list_deinit(&out);
    run_actions(leader);
}

static void chaos(void)
{
    int k = (int)rnd_below(nnodes);
    node *n = &nodes[k];
    int what = (int)rnd_below(11);
    switch (what) {
    case 0:
    case 1:
        if (n->up) {
            node_crash(n);
            n->restart_at_ms = now_ms + 200 + rnd_below(4000);
        }
        break;
    case 2:
        if (n->up && raft_role(n->r) == RAFT_LEADER) {
            trace("n%d shuts down gracefully", n->id);
            raft_shutdown(n->r, now_ms, &acts);
            run_actions(n);
            node_crash(n);
            n->restart_at_ms = now_ms + 200 + rnd_below(2000);
        }
        break;
    case 3:
        trace("isolate n%d", n->id);
        for (int i = 0; i < nnodes; i++)
            blocked[k][i] = blocked[i][k] = i != k;
        break;
    case 4: {
        trace("split the network");
        bool side[NODES_MAX];
        for (int i = 0; i < nnodes; i++)
            side[i] = chance(500);
        for (int i = 0; i < nnodes; i++)
            for (int j = 0; j < nnodes; j++)
                blocked[i][j] = side[i] != side[j];
        break;
    }
    case 5:
    case 6:
        trace("heal the network");
        memset(blocked, 0, sizeof(blocked));
        break;
    case 7:
        crash_point_per_mille = chance(500) ? 0 : (int)rnd_below(60);
        drop_per_mille = (int)rnd_below(200);
        dup_per_mille = (int)rnd_below(100);
        delay_max_ms = 1 + (int)rnd_below(100);
        trace("links: drop %d/1000, dup %d/1000, delay < %d ms; crash points %d/1000",
              drop_per_mille, dup_per_mille, delay_max_ms, crash_point_per_mille);
        break;
    case 8:
        /* a slow disk: the leader's own fsync may lag its followers' */
        n->fsync_delay_max_ms = chance(500) ? 20 : 50 + (int32_t)rnd_below(550);
        trace("n%d disk: fsync < %d ms", n->id, n->fsync_delay_max_ms);
        break;
    case 9:
        /* lose the leader: elections are where safety is won or lost */
        for (int i = 0; i < nnodes; i++)
            if (nodes[i].up && raft_role(nodes[i].r) == RAFT_LEADER) {
                node_crash(&nodes[i]);
                nodes[i].restart_at_ms = now_ms + 1 + rnd_below(3000);
                break;
            }
        break;
    default:
        break; /* quiet */
    }
}

static void heal_all(void)
{
    trace("HEAL: network perfect, every node up");
    healed = true;
    memset(blocked, 0, sizeof(blocked));
    drop_per_mille = dup_per_mille = 0;
    delay_max_ms = 5;
    for (int i = 0; i < nnodes; i++)
        if (!nodes[i].up)
            node_start(&nodes[i]);
}

static int run(int voters, int64_t chaos_ms)
{
    nvoters = voters;
    nnodes = voters + 1; /* and one observer */
    draw_cluster_config();
    trace("config: election %d ms, backoff < %d ms, fetch timeout %d ms, request timeout %d ms, "
          "fetch idle %d ms, %d batches a Fetch, snapshot chunks of %d bytes",
          cluster_cfg.election_timeout_ms, cluster_cfg.election_backoff_max_ms,
          cluster_cfg.fetch_timeout_ms, cluster_cfg.request_timeout_ms, cluster_cfg.fetch_idle_ms,
          cluster_cfg.fetch_entries_max, cluster_cfg.snapshot_chunk_bytes);
    for (int i = 0; i < nnodes; i++) {
        node *n = &nodes[i];
        memset(n, 0, sizeof(*n));
        n->id = i + 1;
        n->qs = (raft_quorum_state){0, RAFT_NO_NODE, RAFT_NO_NODE};
        node_start(n);
    }
    drop_per_mille = 0;
    dup_per_mille = 0;
    delay_max_ms = 10;
    int64_t next_chaos = 500 + rnd_below(1000);
    int64_t next_propose = 100;
    int64_t heal_at = chaos_ms;
    int64_t end_at = chaos_ms + LIVENESS_MS;
    while (now_ms <= end_at) {
        /* the next event */
        int64_t t = next_propose < next_chaos ? next_propose : next_chaos;
        if (!healed && heal_at < t)
            t = heal_at;
        for (int i = 0; i < nmsgs; i++)
            if (msgs[i].at_ms < t)
                t = msgs[i].at_ms;
        for (int i = 0; i < nfsyncs; i++)
            if (fsyncs[i].at_ms < t)
                t = fsyncs[i].at_ms;
        for (int i = 0; i < nnodes; i++) {
            node *n = &nodes[i];
            int64_t d = n->up ? raft_next_deadline_ms(n->r) : n->restart_at_ms;
            if (d < t)
                t = d;
        }
        if (t > now_ms)
            now_ms = t;
        if (now_ms > end_at)
            break;
        /* one event at a time, in a fixed order: messages, fsyncs, timers */
        int best = -1;
        for (int i = 0; i < nmsgs; i++)
            if (msgs[i].at_ms <= now_ms && (best < 0 || msgs[i].order < msgs[best].order))
                best = i;
        if (best >= 0) {
            netmsg m = msgs[best];
            msgs[best] = msgs[--nmsgs];
            deliver(&m);
            msg_free(&m);
            continue;
        }
        int fi = -1;
        for (int i = 0; i < nfsyncs; i++)
            if (fsyncs[i].at_ms <= now_ms && (fi < 0 || fsyncs[i].at_ms < fsyncs[fi].at_ms))
                fi = i;
        if (fi >= 0) {
            fsync_ev f = fsyncs[fi];
            memmove(fsyncs + fi, fsyncs + fi + 1, sizeof(fsync_ev) * (size_t)(nfsyncs - fi - 1));
            nfsyncs--;
            node *n = &nodes[f.node];
            if (!n->up || n->incarnation != f.incarnation)
                continue;
            for (int i = 0; i < n->nlog; i++)
                if (n->log[i].seq <= f.seq)
                    n->log[i].synced = true;
            raft_durable(n->r, f.seq, now_ms, &acts);
            run_actions(n);
            continue;
        }
        bool did = false;
        for (int i = 0; i < nnodes && !did; i++) {
            node *n = &nodes[i];
            if (n->up && raft_next_deadline_ms(n->r) <= now_ms) {
                raft_tick(n->r, now_ms, &acts);
                run_actions(n);
                did = true;
            } else if (!n->up && n->restart_at_ms <= now_ms) {
                node_start(n);
                did = true;
            }
        }
        if (did)
            continue;
        if (!healed && now_ms >= heal_at) {
            heal_all();
            continue;
        }
        if (now_ms >= next_chaos) {
            if (!healed)
                chaos();
            next_chaos = now_ms + 100 + rnd_below(1500);
            continue;
        }
        if (now_ms >= next_propose) {
            propose();
            next_propose = now_ms + 20 + rnd_below(300);
            if (liveness_ok)
                break;
            continue;
        }
    }
    if (!liveness_ok)
        fail("liveness: no proposal made after healing (t=%" PRId64 ") committed within %d ms",
             heal_at, LIVENESS_MS);
    return 0;
}

static void cleanup(void)
{
    for (int i = 0; i < nnodes; i++) {
        raft_free(nodes[i].r);
        controller_free(nodes[i].ctl);
        mimage_deinit(&nodes[i].img);
        mimage_deinit(&nodes[i].ahead);
        free(nodes[i].snap_bytes);
        free(nodes[i].dl_bytes);
        disk_truncate(&nodes[i], INT64_MIN);
        free(nodes[i].log);
    }
    mimage_deinit(&ref_image);
    for (int i = 0; i < nmsgs; i++)
        msg_free(&msgs[i]);
    for (int i = 0; i < ncommitted; i++)
        free((void *)committed[i].e.payload.ptr);
    free(committed);
    free(match);
    raft_actions_free(&acts);
}

int main(int argc, char **argv)
{
    int voters = 0;
    int64_t chaos_ms = 60000;
    bool quiet = false;
    seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--voters") && i + 1 < argc)
            voters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chaos-ms") && i + 1 < argc)
            chaos_ms = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--trace"))
            trace_all = true;
        else if (!strcmp(argv[i], "--quiet"))
            quiet = true;
        else {
            fprintf(stderr, "usage: sim [--seed S] [--voters 3|5] [--chaos-ms MS] [--trace] [--quiet]\n");
            return 2;
        }
    }
    rng_state = seed;
    signal(SIGABRT, on_abort);
    empty_digest = mimage_digest(&ref_image);
    if (voters == 0)
        voters = chance(500) ? 3 : 5;
    if (voters < 1 || voters > NODES_MAX - 1) {
        fprintf(stderr, "sim: --voters must be 1..%d\n", NODES_MAX - 1);
        return 2;
    }
    match = calloc(MATCH_CAP, sizeof(match_slot));
    if (!match)
        abort();
    if (!quiet)
        printf("sim: seed %" PRIu64 ", %d voters + 1 observer, chaos %" PRId64 " ms\n", seed,
               voters, chaos_ms);
    run(voters, chaos_ms);
    if (!quiet)
        printf("sim: seed %" PRIu64 " ok: %" PRIu64 " steps, %" PRId64 " ms simulated, committed end %"
               PRId64 ", max epoch %d\n", seed, step, now_ms, committed_end(),
               raft_epoch(nodes[0].r));
    if (!quiet)
        printf("sim: image: %d topics, %d brokers, next producer id %" PRId64 "; %d controller activations, "
               "%d decisions refused, %d snapshots installed, %d loaded at restart\n", ref_image.ntopics,
               ref_image.nbrokers, ref_image.next_producer_id, nactivations, nrefused, ninstalls, nloads);
    cleanup();
    return 0;
}
