/*
 * raft.c - KRaft's Raft as a pure state machine (raft.h).
 *
 * Owns one node's quorum view: role, epoch, leader, vote, the in-memory log
 * tail since the latest snapshot (entries own their payloads), the epoch
 * cache, timers (absolute ms deadlines computed from the caller's now_ms) and
 * the leader's view of every replica. No I/O, no clock, no globals: the PRNG
 * state lives in the struct.
 *
 * Invariants (raft_check asserts them after every input):
 *  1. Entries are contiguous from log_start; epochs never decrease along the
 *     log and never exceed the current epoch.
 *  2. log_start <= hw <= log end; log_start <= durable_end <= log end, and
 *     durable_end is an entry boundary.
 *  3. The epoch cache equals the one recomputed from the log (plus the
 *     snapshot's epoch at its head when the log starts at a snapshot).
 *  4. Role and quorum-state agree: a leader (and a resigned leader) names
 *     itself as leader and voted for itself; a candidate voted for itself and
 *     knows no leader; a follower knows a leader other than itself; an
 *     unattached node knows no leader. Only voters are prospective,
 *     candidates or leaders.
 *
 * The struct is in raft_int.h; the accessors, DescribeQuorum and raft_check
 * (the invariants below) are in raft_view.c.
 *
 * Memory: whatever a call lets go of (truncated payloads, arrays that
 * actions point to) goes on a garbage list freed at the start of the next
 * non-accessor call; that is what makes "borrowed until the next call" hold.
 */
#include "raft/raft.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"


/* ---- small helpers ---- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "raft: out of memory\n");
        abort();
    }
    return q;
}

static void garbage_add(raft *r, void *p)
{
    if (!p)
        return;
    if (r->ngarbage == r->capgarbage) {
        r->capgarbage = r->capgarbage ? r->capgarbage * 2 : 16;
        r->garbage = xrealloc(r->garbage, sizeof(void *) * (size_t)r->capgarbage);
    }
    r->garbage[r->ngarbage++] = p;
}

static void garbage_free(raft *r)
{
    for (int i = 0; i < r->ngarbage; i++)
        free(r->garbage[i]);
    r->ngarbage = 0;
}

static uint64_t rng_next(raft *r)
{
    /* splitmix64: small, good enough for timeouts, seeded by the caller */
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t rng_below(raft *r, int64_t n)
{
    return n <= 0 ? 0 : (int64_t)(rng_next(r) % (uint64_t)n);
}

static int64_t election_timeout(raft *r)
{
    return r->cfg.election_timeout_ms + rng_below(r, r->cfg.election_timeout_ms);
}

static int majority(const raft *r)
{
    return r->cfg.nvoters / 2 + 1;
}

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_UNATTACHED: return "Unattached";
    case RAFT_PROSPECTIVE: return "Prospective";
    case RAFT_CANDIDATE: return "Candidate";
    case RAFT_LEADER: return "Leader";
    case RAFT_FOLLOWER: return "Follower";
    case RAFT_RESIGNED: return "Resigned";
    }
    return "?";
}

const char *raft_msg_name(int type)
{
    switch (type) {
    case RAFT_MSG_VOTE_REQ: return "VoteRequest";
    case RAFT_MSG_VOTE_RESP: return "VoteResponse";
    case RAFT_MSG_BEGIN_EPOCH_REQ: return "BeginQuorumEpochRequest";
    case RAFT_MSG_BEGIN_EPOCH_RESP: return "BeginQuorumEpochResponse";
    case RAFT_MSG_END_EPOCH_REQ: return "EndQuorumEpochRequest";
    case RAFT_MSG_END_EPOCH_RESP: return "EndQuorumEpochResponse";
    case RAFT_MSG_FETCH_REQ: return "FetchRequest";
    case RAFT_MSG_FETCH_RESP: return "FetchResponse";
    case RAFT_MSG_FETCH_SNAPSHOT_REQ: return "FetchSnapshotRequest";
    case RAFT_MSG_FETCH_SNAPSHOT_RESP: return "FetchSnapshotResponse";
    }
    return "?";
}

void raft_actions_reset(raft_actions *a)
{
    a->n = 0;
}

void raft_actions_free(raft_actions *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static raft_action *act_push(raft_actions *a, int kind)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xrealloc(a->v, sizeof(raft_action) * (size_t)a->cap);
    }
    raft_action *x = &a->v[a->n++];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    return x;
}

static raft_msg *act_send(raft_actions *a, int32_t to, int type)
{
    raft_action *x = act_push(a, RAFT_ACT_SEND);
    x->to = to;
    x->msg.type = type;
    return &x->msg;
}

/* ---- the log and the epoch cache ---- */


static int32_t last_epoch(const raft *r)
{
    if (r->nlog)
        return r->log[r->nlog - 1].epoch;
    return r->log_start > 0 ? r->snap.epoch : 0;
}


static void ecache_push(raft *r, int32_t epoch, int64_t start)
{
    if (r->necache && r->ecache[r->necache - 1].epoch >= epoch)
        return;
    if (r->necache == r->capecache) {
        r->capecache = r->capecache ? r->capecache * 2 : 8;
        r->ecache = xrealloc(r->ecache, sizeof(ecache_ent) * (size_t)r->capecache);
    }
    r->ecache[r->necache++] = (ecache_ent){epoch, start};
}

/* Append one entry (copying the payload); returns its write_seq slot. */
static void log_push(raft *r, const raft_entry *e, uint64_t seq)
{
    assert(e->offset == log_end(r));
    assert(e->count >= 1);
    assert(e->epoch >= last_epoch(r));
    if (r->nlog == r->caplog) {
        r->caplog = r->caplog ? r->caplog * 2 : 64;
        r->log = xrealloc(r->log, sizeof(raft_entry) * (size_t)r->caplog);
        r->log_seq = xrealloc(r->log_seq, sizeof(uint64_t) * (size_t)r->caplog);
    }
    raft_entry *d = &r->log[r->nlog];
    *d = *e;
    uint8_t *p = NULL;
    if (e->payload.len > 0) {
        p = xrealloc(NULL, (size_t)e->payload.len);
        memcpy(p, e->payload.ptr, (size_t)e->payload.len);
    }
    d->payload.ptr = p;
    d->payload.len = e->payload.len > 0 ? e->payload.len : 0;
    r->log_seq[r->nlog] = seq;
    r->nlog++;
    ecache_push(r, e->epoch, e->offset);
}

/* Drop entries from offset on (an entry boundary). */
static void log_truncate(raft *r, int64_t offset)
{
    int i = log_index(r, offset);
    assert(i == r->nlog || r->log[i].offset == offset);
    for (int j = i; j < r->nlog; j++)
        garbage_add(r, (void *)r->log[j].payload.ptr);
    r->nlog = i;
    while (r->necache && r->ecache[r->necache - 1].start >= offset &&
           !(r->log_start > 0 && r->necache == 1))
        r->necache--;
    if (r->durable_end > offset)
        r->durable_end = offset;
}

/* Drop entries before offset (an entry boundary): a snapshot covers them. */
static void log_drop_prefix(raft *r, int64_t offset)
{
    int i = log_index(r, offset);
    for (int j = 0; j < i; j++)
        garbage_add(r, (void *)r->log[j].payload.ptr);
    memmove(r->log, r->log + i, sizeof(raft_entry) * (size_t)(r->nlog - i));
    memmove(r->log_seq, r->log_seq + i, sizeof(uint64_t) * (size_t)(r->nlog - i));
    r->nlog -= i;
    int k = 0;
    while (k + 1 < r->necache && r->ecache[k + 1].start < offset)
        k++;
    memmove(r->ecache, r->ecache + k, sizeof(ecache_ent) * (size_t)(r->necache - k));
    r->necache -= k;
}

typedef struct epoch_end {
    bool known;
    int32_t epoch;
    int64_t end;
} epoch_end;

/*
 * Kafka's endOffsetForEpoch: the largest epoch <= `epoch` this log knows and
 * the offset where it ends (the next epoch's start or the log end).
 */
static epoch_end end_offset_for_epoch(const raft *r, int32_t epoch)
{
    int i = r->necache - 1;
    while (i >= 0 && r->ecache[i].epoch > epoch)
        i--;
    if (i < 0) {
        if (r->log_start > 0)
            return (epoch_end){false, -1, -1};
        return (epoch_end){true, 0, 0};
    }
    int64_t end = i + 1 < r->necache ? r->ecache[i + 1].start : log_end(r);
    return (epoch_end){true, r->ecache[i].epoch, end};
}

int32_t raft_epoch_before(const raft *r, int64_t offset)
{
    if (offset <= 0)
        return 0;
    if (offset == r->log_start)
        return r->snap.epoch;
    if (offset < r->log_start || offset > log_end(r))
        return -1;
    int i = log_index(r, offset - 1);
    return r->log[i].epoch;
}

/* The leader this node vouches for in its answers: itself while leading, the
 * leader it follows; not a leader it lost or a leadership it resigned. */
static int32_t known_leader(const raft *r)
{
    return r->role == RAFT_LEADER || r->role == RAFT_FOLLOWER ? r->leader_id : RAFT_NO_NODE;
}

/* ---- quorum-state transitions ---- */

static void emit_persist(raft *r, raft_actions *out)
{
    raft_action *a = act_push(out, RAFT_ACT_PERSIST);
    a->state = (raft_quorum_state){r->epoch, r->leader_id, r->voted_id};
}

static void emit_role(raft *r, raft_actions *out)
{
    raft_action *a = act_push(out, RAFT_ACT_ROLE);
    a->state = (raft_quorum_state){r->epoch, r->leader_id, r->voted_id};
    a->role = r->role;
}

static void set_state(raft *r, int role, int32_t epoch, int32_t leader, int32_t voted,
                      raft_actions *out)
{
    bool persist = epoch != r->epoch || leader != r->leader_id || voted != r->voted_id;
    bool changed = persist || role != r->role;
    assert(epoch >= r->epoch);
    r->role = role;
    r->epoch = epoch;
    r->leader_id = leader;
    r->voted_id = voted;
    r->fetch_inflight = false;
    r->snap_dl = false;
    r->election_deadline_ms = RAFT_NEVER_MS;
    r->fetch_deadline_ms = RAFT_NEVER_MS;
    r->next_fetch_ms = RAFT_NEVER_MS;
    r->fetch_retry_ms = RAFT_NEVER_MS;
    r->resend_ms = RAFT_NEVER_MS;
    r->check_quorum_ms = RAFT_NEVER_MS;
    memset(r->granted, 0, sizeof(r->granted));
    memset(r->answered, 0, sizeof(r->answered));
    if (persist)
        emit_persist(r, out);
    if (changed)
        emit_role(r, out);
}

static void become_unattached(raft *r, int32_t epoch, raft_actions *out)
{
    set_state(r, RAFT_UNATTACHED, epoch, RAFT_NO_NODE, RAFT_NO_NODE, out);
    if (r->voter)
        r->election_deadline_ms = r->now_ms + election_timeout(r);
    else
        r->next_fetch_ms = r->now_ms; /* observers look for the leader */
}

/*
 * heard: the leader itself told us (BeginQuorumEpoch, EndQuorumEpoch, its
 * Fetch answer). Only then does the follower refuse pre-votes: a leader
 * named by a third party may be long gone.
 */
static void become_follower(raft *r, int32_t epoch, int32_t leader, bool heard, raft_actions *out)
{
    assert(leader != r->cfg.node_id);
    int32_t voted = epoch == r->epoch ? r->voted_id : RAFT_NO_NODE;
    set_state(r, RAFT_FOLLOWER, epoch, leader, voted, out);
    r->fetch_deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms;
    r->leader_contact_ms = heard ? r->now_ms : INT64_MIN / 2;
    r->next_fetch_ms = r->now_ms;
}

static void send_votes(raft *r, bool pre_vote, raft_actions *out)
{
    for (int i = 0; i < r->cfg.nvoters; i++) {
        if (r->cfg.voters[i] == r->cfg.node_id || r->answered[i])
            continue;
        raft_msg *m = act_send(out, r->cfg.voters[i], RAFT_MSG_VOTE_REQ);
        m->u.vote_req.candidate_epoch = pre_vote ? r->epoch + 1 : r->epoch;
        m->u.vote_req.candidate_id = r->cfg.node_id;
        m->u.vote_req.last_offset_epoch = last_epoch(r);
        m->u.vote_req.last_offset = log_end(r);
        m->u.vote_req.pre_vote = pre_vote;
    }
    r->resend_ms = r->now_ms + r->cfg.request_timeout_ms;
}

static int count_granted(const raft *r)
{
    int n = 0;
    for (int i = 0; i < r->cfg.nvoters; i++)
        n += r->granted[i];
    return n;
}

static int count_rejected(const raft *r)
{
    int n = 0;
    for (int i = 0; i < r->cfg.nvoters; i++)
        n += r->answered[i] && !r->granted[i];
    return n;
}

static void become_candidate(raft *r, raft_actions *out);
static void become_leader(raft *r, raft_actions *out);

static void become_prospective(raft *r, raft_actions *out)
{
    assert(r->voter);
    /* the epoch, leader and vote stay: a pre-vote changes nothing durable */
    set_state(r, RAFT_PROSPECTIVE, r->epoch, r->leader_id, r->voted_id, out);
    int self = voter_index(r, r->cfg.node_id);
    r->granted[self] = r->answered[self] = true;
    r->election_deadline_ms = r->now_ms + election_timeout(r);
    if (count_granted(r) >= majority(r)) {
        become_candidate(r, out);
        return;
    }
    send_votes(r, true, out);
}

static void become_candidate(raft *r, raft_actions *out)
{
    set_state(r, RAFT_CANDIDATE, r->epoch + 1, RAFT_NO_NODE, r->cfg.node_id, out);
    int self = voter_index(r, r->cfg.node_id);
    r->granted[self] = r->answered[self] = true;
    r->election_deadline_ms = r->now_ms + election_timeout(r);
    if (count_granted(r) >= majority(r)) {
        become_leader(r, out);
        return;
    }
    send_votes(r, false, out);
}

static void update_hw(raft *r, raft_actions *out);

static void append_local(raft *r, const raft_entry *e, raft_actions *out)
{
    uint64_t seq = ++r->write_seq;
    log_push(r, e, seq);
    raft_entry *copy = xrealloc(NULL, sizeof(raft_entry));
    *copy = r->log[r->nlog - 1];
    garbage_add(r, copy);
    raft_action *a = act_push(out, RAFT_ACT_APPEND);
    a->entries = copy;
    a->nentries = 1;
    a->write_seq = seq;
}

static void send_begin_epoch(raft *r, raft_actions *out)
{
    for (int i = 0; i < r->cfg.nvoters; i++) {
        if (r->cfg.voters[i] == r->cfg.node_id || r->voters[i].fetched)
            continue;
        raft_msg *m = act_send(out, r->cfg.voters[i], RAFT_MSG_BEGIN_EPOCH_REQ);
        m->u.begin_req.leader_id = r->cfg.node_id;
        m->u.begin_req.leader_epoch = r->epoch;
    }
    r->resend_ms = r->now_ms + r->cfg.request_timeout_ms;
}

static void become_leader(raft *r, raft_actions *out)
{
    set_state(r, RAFT_LEADER, r->epoch, r->cfg.node_id, r->cfg.node_id, out);
    for (int i = 0; i < r->cfg.nvoters; i++) {
        r->voters[i] = (replica){r->cfg.voters[i], -1, -1, -1, -1, false};
        /* check-quorum grace: every voter counts as heard from at the start */
        r->voters[i].last_fetch_ms = r->now_ms;
    }
    r->voters[voter_index(r, r->cfg.node_id)].fetched = true;
    r->nobservers = 0;
    r->epoch_start = log_end(r);
    raft_bytes payload = {NULL, 0};
    if (r->cfg.leader_change_payload)
        payload = r->cfg.leader_change_payload(r->cfg.ctx, r->cfg.node_id, r->epoch);
    raft_entry lc = {r->epoch_start, 1, r->epoch, true, payload};
    append_local(r, &lc, out);
    r->check_quorum_ms = r->now_ms + r->cfg.fetch_timeout_ms / 2;
    send_begin_epoch(r, out);
}

/* The leader's voters sorted by log end offset, best first (EndQuorumEpoch). */
static int preferred_successors(const raft *r, int32_t *ids)
{
    int n = 0;
    for (int i = 0; i < r->cfg.nvoters; i++) {
        if (r->cfg.voters[i] == r->cfg.node_id)
            continue;
        int j = n++;
        while (j > 0 && r->voters[voter_index(r, ids[j - 1])].end < r->voters[i].end) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = r->cfg.voters[i];
    }
    return n;
}

static void become_resigned(raft *r, raft_actions *out)
{
    int32_t ids[RAFT_VOTERS_MAX];
    int n = preferred_successors(r, ids);
    for (int i = 0; i < n; i++) {
        raft_msg *m = act_send(out, ids[i], RAFT_MSG_END_EPOCH_REQ);
        m->u.end_req.leader_id = r->cfg.node_id;
        m->u.end_req.leader_epoch = r->epoch;
        memcpy(m->u.end_req.preferred, ids, sizeof(int32_t) * (size_t)n);
        m->u.end_req.npreferred = n;
    }
    set_state(r, RAFT_RESIGNED, r->epoch, r->leader_id, r->voted_id, out);
    r->election_deadline_ms = r->now_ms + election_timeout(r);
}

/* ---- the high watermark ---- */

static void set_hw(raft *r, int64_t hw, raft_actions *out)
{
    if (hw <= r->hw)
        return;
    assert(hw <= log_end(r));
    r->hw = hw;
    raft_action *a = act_push(out, RAFT_ACT_COMMIT);
    a->offset = hw;
}

static void update_hw(raft *r, raft_actions *out)
{
    if (r->role != RAFT_LEADER)
        return;
    int64_t ends[RAFT_VOTERS_MAX];
    for (int i = 0; i < r->cfg.nvoters; i++) {
        ends[i] = r->cfg.voters[i] == r->cfg.node_id ? r->durable_end : r->voters[i].end;
        for (int j = i; j > 0 && ends[j - 1] < ends[j]; j--) {
            int64_t t = ends[j];
            ends[j] = ends[j - 1];
            ends[j - 1] = t;
        }
    }
    int64_t hw = ends[majority(r) - 1];
    /* Raft's rule: only an entry of the leader's own epoch commits by count */
    if (hw > r->epoch_start)
        set_hw(r, hw, out);
}

/* ---- fetching (followers and observers) ---- */

static int32_t fetch_target(raft *r)
{
    if (r->leader_id != RAFT_NO_NODE && r->role == RAFT_FOLLOWER)
        return r->leader_id;
    if (r->voter)
        return RAFT_NO_NODE;
    /* an observer without a leader asks a random voter */
    return r->cfg.voters[rng_below(r, r->cfg.nvoters)];
}

static void maybe_fetch(raft *r, raft_actions *out)
{
    bool fetcher = r->role == RAFT_FOLLOWER || (!r->voter && r->role == RAFT_UNATTACHED);
    if (!fetcher || r->now_ms < r->next_fetch_ms)
        return;
    if (r->fetch_inflight && r->now_ms < r->fetch_retry_ms)
        return;
    /* the fetch offset is the durable end: wait for the disk */
    if (!r->snap_dl && r->durable_end != log_end(r))
        return;
    int32_t to = fetch_target(r);
    if (to == RAFT_NO_NODE)
        return;
    if (r->snap_dl) {
        raft_msg *m = act_send(out, to, RAFT_MSG_FETCH_SNAPSHOT_REQ);
        m->u.snap_req.replica_id = r->cfg.node_id;
        m->u.snap_req.current_leader_epoch = r->epoch;
        m->u.snap_req.snapshot_id = r->snap_dl_id;
        m->u.snap_req.position = r->snap_dl_pos;
        m->u.snap_req.max_bytes = r->cfg.snapshot_chunk_bytes;
    } else {
        raft_msg *m = act_send(out, to, RAFT_MSG_FETCH_REQ);
        m->u.fetch_req.replica_id = r->cfg.node_id;
        m->u.fetch_req.current_leader_epoch = r->epoch;
        m->u.fetch_req.fetch_offset = r->durable_end;
        m->u.fetch_req.last_fetched_epoch = raft_epoch_before(r, r->durable_end);
    }
    r->fetch_inflight = true;
    r->fetch_retry_ms = r->now_ms + r->cfg.request_timeout_ms;
    r->next_fetch_ms = r->now_ms;
}

/* ---- inputs: time ---- */

static void leader_tick(raft *r, raft_actions *out)
{
    if (r->now_ms >= r->check_quorum_ms) {
        int n = 0;
        int64_t window = (int64_t)r->cfg.fetch_timeout_ms * 3 / 2;
        for (int i = 0; i < r->cfg.nvoters; i++)
            n += r->cfg.voters[i] == r->cfg.node_id ||
                 (r->voters[i].last_fetch_ms >= 0 && r->now_ms - r->voters[i].last_fetch_ms < window);
        if (n < majority(r)) {
            become_resigned(r, out);
            return;
        }
        r->check_quorum_ms = r->now_ms + r->cfg.fetch_timeout_ms / 2;
    }
    if (r->now_ms >= r->resend_ms)
        send_begin_epoch(r, out);
}

static void step_tick(raft *r, raft_actions *out)
{
    switch (r->role) {
    case RAFT_LEADER:
        leader_tick(r, out);
        break;
    case RAFT_UNATTACHED:
    case RAFT_RESIGNED:
        if (r->voter && r->now_ms >= r->election_deadline_ms)
            become_prospective(r, out);
        break;
    case RAFT_PROSPECTIVE:
        if (r->now_ms >= r->election_deadline_ms)
            become_prospective(r, out); /* a new pre-vote round */
        else if (r->now_ms >= r->resend_ms)
            send_votes(r, true, out);
        break;
    case RAFT_CANDIDATE:
        if (r->now_ms >= r->election_deadline_ms)
            become_prospective(r, out); /* Kafka 4: a failed candidate pre-votes again */
        else if (r->now_ms >= r->resend_ms && count_rejected(r) < majority(r))
            send_votes(r, false, out);
        break;
    case RAFT_FOLLOWER:
        if (r->now_ms >= r->fetch_deadline_ms) {
            if (r->voter)
                become_prospective(r, out);
            else
                become_unattached(r, r->epoch, out);
        }
        break;
    }
    maybe_fetch(r, out);
}

void raft_tick(raft *r, int64_t now_ms, raft_actions *out)
{
    garbage_free(r);
    if (now_ms > r->now_ms)
        r->now_ms = now_ms;
    step_tick(r, out);
    raft_check(r);
}

int64_t raft_next_deadline_ms(const raft *r)
{
    int64_t d = RAFT_NEVER_MS;
    int64_t c[6] = {r->election_deadline_ms, r->fetch_deadline_ms, r->resend_ms,
                    r->check_quorum_ms, RAFT_NEVER_MS, RAFT_NEVER_MS};
    bool fetcher = r->role == RAFT_FOLLOWER || (!r->voter && r->role == RAFT_UNATTACHED);
    if (fetcher && (r->snap_dl || r->durable_end == log_end(r)))
        c[4] = r->fetch_inflight ? r->fetch_retry_ms
                                 : r->next_fetch_ms;
    if (r->role == RAFT_CANDIDATE && count_rejected(r) >= majority(r))
        c[2] = RAFT_NEVER_MS;
    for (int i = 0; i < 6; i++)
        if (c[i] < d)
            d = c[i];
    return d;
}

/* ---- inputs: messages ---- */

/* A response or request told us of a newer epoch: follow it. */
static void observe_epoch(raft *r, int32_t epoch, int32_t leader, bool heard, raft_actions *out)
{
    if (epoch < r->epoch)
        return;
    if (epoch == r->epoch) {
        /* learn the leader of our epoch if we did not know it */
        if (leader != RAFT_NO_NODE && leader != r->cfg.node_id && r->leader_id == RAFT_NO_NODE &&
            r->role != RAFT_CANDIDATE && r->role != RAFT_LEADER)
            become_follower(r, epoch, leader, heard, out);
        return;
    }
    if (leader != RAFT_NO_NODE && leader != r->cfg.node_id)
        become_follower(r, epoch, leader, heard, out);
    else
        become_unattached(r, epoch, out);
}

static bool log_up_to_date(const raft *r, int32_t last_offset_epoch, int64_t last_offset)
{
    int32_t e = last_epoch(r);
    return last_offset_epoch > e || (last_offset_epoch == e && last_offset >= log_end(r));
}

static void on_vote_req(raft *r, int32_t from, const raft_vote_req *q, raft_actions *out)
{
    bool grant = false;
    int16_t err = RAFT_OK;
    if (voter_index(r, q->candidate_id) < 0 || !r->voter) {
        err = RAFT_ERR_INCONSISTENT_VOTER_SET;
    } else if (q->pre_vote) {
        bool leader_alive = r->role == RAFT_LEADER ||
            (r->role == RAFT_FOLLOWER && r->now_ms - r->leader_contact_ms < r->cfg.fetch_timeout_ms);
        grant = q->candidate_epoch > r->epoch && !leader_alive &&
                log_up_to_date(r, q->last_offset_epoch, q->last_offset);
    } else if (q->candidate_epoch >= r->epoch) {
        if (q->candidate_epoch > r->epoch)
            become_unattached(r, q->candidate_epoch, out);
        if (r->role == RAFT_UNATTACHED || r->role == RAFT_PROSPECTIVE) {
            if (r->leader_id == RAFT_NO_NODE &&
                (r->voted_id == q->candidate_id ||
                 (r->voted_id == RAFT_NO_NODE && log_up_to_date(r, q->last_offset_epoch, q->last_offset)))) {
                grant = true;
                if (r->voted_id != q->candidate_id) {
                    set_state(r, RAFT_UNATTACHED, r->epoch, RAFT_NO_NODE, q->candidate_id, out);
                    r->election_deadline_ms = r->now_ms + election_timeout(r);
                }
            }
        }
    }
    raft_msg *m = act_send(out, from, RAFT_MSG_VOTE_RESP);
    m->u.vote_resp.error = err;
    m->u.vote_resp.leader_id = known_leader(r);
    m->u.vote_resp.leader_epoch = r->epoch;
    m->u.vote_resp.vote_granted = grant;
}

static void on_vote_resp(raft *r, int32_t from, const raft_vote_resp *p, raft_actions *out)
{
    int i = voter_index(r, from);
    if (i < 0 || p->error != RAFT_OK)
        return;
    if (p->leader_epoch > r->epoch) {
        observe_epoch(r, p->leader_epoch, p->leader_id, false, out);
        return;
    }
    if (r->role == RAFT_PROSPECTIVE) {
        /* pre-vote answers carry the voter's epoch, which may lag ours */
        r->answered[i] = true;
        r->granted[i] = p->vote_granted;
        bool named = p->leader_epoch == r->epoch && p->leader_id != RAFT_NO_NODE &&
                     p->leader_id != r->cfg.node_id;
        if (named && from == p->leader_id && r->leader_id == p->leader_id)
            become_follower(r, r->epoch, from, true, out); /* the lost leader is alive */
        else if (named && r->leader_id == RAFT_NO_NODE)
            observe_epoch(r, p->leader_epoch, p->leader_id, false, out); /* KIP-996: follow it */
        else if (count_granted(r) >= majority(r))
            become_candidate(r, out);
    } else if (r->role == RAFT_CANDIDATE && p->leader_epoch == r->epoch) {
        r->answered[i] = true;
        r->granted[i] = p->vote_granted;
        if (count_granted(r) >= majority(r))
            become_leader(r, out);
        else if (count_rejected(r) >= majority(r))
            /* lost: back off, then pre-vote again */
            r->election_deadline_ms = r->now_ms + rng_below(r, r->cfg.election_backoff_max_ms);
    }
}

static void on_begin_epoch(raft *r, int32_t from, const raft_begin_epoch_req *q, raft_actions *out)
{
    int16_t err = RAFT_OK;
    if (q->leader_epoch < r->epoch) {
        err = RAFT_ERR_FENCED_LEADER_EPOCH;
    } else if (q->leader_id == r->cfg.node_id) {
        err = RAFT_ERR_INCONSISTENT_VOTER_SET;
    } else if (q->leader_epoch > r->epoch || r->leader_id == RAFT_NO_NODE ||
               r->role != RAFT_FOLLOWER) {
        if (q->leader_epoch > r->epoch || r->leader_id == RAFT_NO_NODE || r->leader_id == q->leader_id)
            become_follower(r, q->leader_epoch, q->leader_id, true, out);
    } else if (r->leader_id == q->leader_id) {
        r->leader_contact_ms = r->now_ms;
    }
    raft_msg *m = act_send(out, from, RAFT_MSG_BEGIN_EPOCH_RESP);
    m->u.epoch_resp.error = err;
    m->u.epoch_resp.leader_id = known_leader(r);
    m->u.epoch_resp.leader_epoch = r->epoch;
}

static void on_end_epoch(raft *r, int32_t from, const raft_end_epoch_req *q, raft_actions *out)
{
    if (q->leader_epoch > r->epoch && q->leader_id != r->cfg.node_id)
        become_follower(r, q->leader_epoch, q->leader_id, true, out);
    if (q->leader_epoch == r->epoch && r->leader_id == q->leader_id && r->role == RAFT_FOLLOWER &&
        r->voter) {
        /* the leader is going: the best preferred successor runs first */
        int pos = r->cfg.nvoters;
        for (int i = 0; i < q->npreferred && i < RAFT_VOTERS_MAX; i++)
            if (q->preferred[i] == r->cfg.node_id)
                pos = i;
        int64_t delay = pos == 0 ? 0 : (int64_t)pos * r->cfg.election_backoff_max_ms / 2 +
                                            rng_below(r, r->cfg.election_backoff_max_ms / 2 + 1);
        r->fetch_deadline_ms = r->now_ms + delay;
        r->leader_contact_ms = INT64_MIN / 2; /* grant pre-votes now */
    }
    raft_msg *m = act_send(out, from, RAFT_MSG_END_EPOCH_RESP);
    m->u.epoch_resp.error = q->leader_epoch < r->epoch ? RAFT_ERR_FENCED_LEADER_EPOCH : RAFT_OK;
    m->u.epoch_resp.leader_id = known_leader(r);
    m->u.epoch_resp.leader_epoch = r->epoch;
}

static replica *track_replica(raft *r, int32_t id)
{
    int i = voter_index(r, id);
    if (i >= 0)
        return &r->voters[i];
    for (int j = 0; j < r->nobservers; j++)
        if (r->observers[j].id == id)
            return &r->observers[j];
    if (r->nobservers == RAFT_OBSERVERS_MAX)
        return NULL; /* bounded: further observers are served but not listed */
    replica *o = &r->observers[r->nobservers++];
    *o = (replica){id, -1, -1, -1, -1, false};
    return o;
}

/* Leader-only requests: the error for a request in epoch `epoch`, or 0. */
static int16_t leader_check(const raft *r, int32_t epoch)
{
    if (r->role != RAFT_LEADER)
        return epoch > r->epoch ? RAFT_ERR_UNKNOWN_LEADER_EPOCH : RAFT_ERR_NOT_LEADER_OR_FOLLOWER;
    if (epoch < r->epoch)
        return RAFT_ERR_FENCED_LEADER_EPOCH;
    if (epoch > r->epoch)
        return RAFT_ERR_UNKNOWN_LEADER_EPOCH;
    return RAFT_OK;
}

static void on_fetch_req(raft *r, int32_t from, const raft_fetch_req *q, raft_actions *out)
{
    raft_msg *m = act_send(out, from, RAFT_MSG_FETCH_RESP);
    raft_fetch_resp *p = &m->u.fetch_resp;
    p->leader_id = known_leader(r);
    p->leader_epoch = r->epoch;
    p->high_watermark = -1;
    p->log_start_offset = r->log_start;
    p->diverging_epoch = -1;
    p->diverging_end_offset = -1;
    p->snapshot_id = (raft_snapshot_id){-1, -1};
    p->req_fetch_offset = q->fetch_offset;
    p->req_last_fetched_epoch = q->last_fetched_epoch;
    p->error = leader_check(r, q->current_leader_epoch);
    if (p->error)
        return;
    replica *rep = track_replica(r, q->replica_id);
    int64_t end = log_end(r);
    if (rep) {
        if (q->fetch_offset >= end)
            rep->last_caught_up_ms = r->now_ms;
        else if (rep->last_fetch_leader_end >= 0 && q->fetch_offset >= rep->last_fetch_leader_end)
            rep->last_caught_up_ms = rep->last_fetch_ms;
        rep->last_fetch_ms = r->now_ms;
        rep->last_fetch_leader_end = end;
        rep->fetched = true;
    }
    p->high_watermark = r->hw;
    bool snapshot = false, valid = true;
    int64_t fo = q->fetch_offset;
    if (fo < r->log_start) {
        snapshot = true;
    } else if (fo == 0 || (fo == r->log_start && q->last_fetched_epoch == r->snap.epoch)) {
        valid = true;
    } else {
        epoch_end ee = end_offset_for_epoch(r, q->last_fetched_epoch);
        if (!ee.known || ee.epoch != q->last_fetched_epoch || ee.end < fo) {
            valid = false;
            if (!ee.known || ee.end < r->log_start) {
                snapshot = true;
            } else {
                p->diverging_epoch = ee.epoch;
                p->diverging_end_offset = ee.end;
            }
        }
    }
    if (snapshot) {
        p->snapshot_id = r->snap;
        return;
    }
    if (!valid)
        return;
    if (rep)
        rep->end = fo;
    if (rep && voter_index(r, q->replica_id) >= 0) {
        update_hw(r, out);
        p->high_watermark = r->hw;
    }
    int i = log_index(r, fo);
    int n = r->nlog - i;
    int max = r->cfg.fetch_entries_max > 0 ? r->cfg.fetch_entries_max : 64;
    if (n > max)
        n = max;
    if (n > 0) {
        raft_entry *copy = xrealloc(NULL, sizeof(raft_entry) * (size_t)n);
        memcpy(copy, &r->log[i], sizeof(raft_entry) * (size_t)n);
        garbage_add(r, copy);
        p->entries = copy;
        p->nentries = n;
    }
}

/* A follower's answer from the leader of its epoch: it is alive. */
static void leader_heard(raft *r)
{
    r->fetch_inflight = false;
    r->leader_contact_ms = r->now_ms;
    r->fetch_deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms;
}

static void follower_truncate(raft *r, int32_t epoch, int64_t end, raft_actions *out)
{
    epoch_end own = end_offset_for_epoch(r, epoch);
    int64_t to = end;
    if (own.known && own.end < to)
        to = own.end;
    if (to >= log_end(r))
        return;
    /* Kafka truncates records; we truncate batches: round down to our batch
     * boundary (the next Fetch validates again from there) */
    int i = log_index(r, to);
    if (i < r->nlog && r->log[i].offset < to)
        to = r->log[i].offset;
    /* only uncommitted entries may go (Raft's leader completeness) */
    if (to < r->hw) {
        fprintf(stderr, "raft %d: truncation to %" PRId64 " below hw %" PRId64 "\n",
                r->cfg.node_id, to, r->hw);
        abort();
    }
    log_truncate(r, to);
    raft_action *a = act_push(out, RAFT_ACT_TRUNCATE);
    a->offset = to;
}

static void follower_append(raft *r, const raft_entry *v, int n, raft_actions *out)
{
    int i = 0;
    int64_t end = log_end(r);
    /* skip what we already hold (a duplicate or late answer) */
    while (i < n && v[i].offset < end)
        i++;
    if (i == n || v[i].offset != end)
        return;
    if (v[i].epoch < last_epoch(r) || v[i].epoch > r->epoch)
        return;
    uint64_t seq = ++r->write_seq;
    int first = r->nlog;
    for (; i < n; i++) {
        if (v[i].offset != log_end(r) || v[i].count < 1 || v[i].epoch < last_epoch(r) ||
            v[i].epoch > r->epoch)
            break;
        log_push(r, &v[i], seq);
    }
    int k = r->nlog - first;
    raft_entry *copy = xrealloc(NULL, sizeof(raft_entry) * (size_t)k);
    memcpy(copy, &r->log[first], sizeof(raft_entry) * (size_t)k);
    garbage_add(r, copy);
    raft_action *a = act_push(out, RAFT_ACT_APPEND);
    a->entries = copy;
    a->nentries = k;
    a->write_seq = seq;
}

static bool fetch_answer_usable(raft *r, int32_t from, int32_t epoch, int32_t leader,
                                raft_actions *out)
{
    if (epoch > r->epoch || (epoch == r->epoch && r->leader_id == RAFT_NO_NODE)) {
        observe_epoch(r, epoch, leader, from == leader, out);
        return false;
    }
    return r->role == RAFT_FOLLOWER && epoch == r->epoch && from == r->leader_id;
}

static void on_fetch_resp(raft *r, int32_t from, const raft_fetch_resp *p, raft_actions *out)
{
    if (!fetch_answer_usable(r, from, p->leader_epoch, p->leader_id, out)) {
        if (!r->voter && r->role == RAFT_UNATTACHED && r->fetch_inflight) {
            /* an observer asking around: try another voter soon */
            r->fetch_inflight = false;
            r->next_fetch_ms = r->now_ms + r->cfg.retry_backoff_ms;
        }
        return;
    }
    if (p->error != RAFT_OK) {
        r->fetch_inflight = false;
        r->next_fetch_ms = r->now_ms + r->cfg.retry_backoff_ms;
        return;
    }
    if (p->req_fetch_offset != log_end(r) ||
        p->req_last_fetched_epoch != raft_epoch_before(r, log_end(r))) {
        /* an answer to a position we have left: only proof of life */
        r->leader_contact_ms = r->now_ms;
        r->fetch_deadline_ms = r->now_ms + r->cfg.fetch_timeout_ms;
        return;
    }
    leader_heard(r);
    r->next_fetch_ms = r->now_ms;
    if (p->snapshot_id.end_offset >= 0) {
        if (p->snapshot_id.end_offset > log_end(r) || p->snapshot_id.end_offset > r->hw) {
            r->snap_dl = true;
            r->snap_dl_id = p->snapshot_id;
            r->snap_dl_pos = 0;
        }
        maybe_fetch(r, out);
        return;
    }
    if (p->diverging_epoch >= 0) {
        follower_truncate(r, p->diverging_epoch, p->diverging_end_offset, out);
        maybe_fetch(r, out);
        return;
    }
    if (p->nentries > 0)
        follower_append(r, p->entries, p->nentries, out);
    else
        r->next_fetch_ms = r->now_ms + r->cfg.fetch_idle_ms;
    if (p->high_watermark >= 0) {
        int64_t hw = p->high_watermark < log_end(r) ? p->high_watermark : log_end(r);
        set_hw(r, hw, out);
    }
    maybe_fetch(r, out);
}

static void on_fetch_snapshot_req(raft *r, int32_t from, const raft_fetch_snapshot_req *q,
                                  raft_actions *out)
{
    raft_msg *m = act_send(out, from, RAFT_MSG_FETCH_SNAPSHOT_RESP);
    raft_fetch_snapshot_resp *p = &m->u.snap_resp;
    p->leader_id = known_leader(r);
    p->leader_epoch = r->epoch;
    p->snapshot_id = q->snapshot_id;
    p->position = q->position;
    p->error = leader_check(r, q->current_leader_epoch);
    if (p->error)
        return;
    replica *rep = track_replica(r, q->replica_id);
    if (rep) {
        rep->last_fetch_ms = r->now_ms;
        rep->fetched = true;
    }
    if (r->log_start == 0 || q->snapshot_id.end_offset != r->snap.end_offset ||
        q->snapshot_id.epoch != r->snap.epoch) {
        p->error = RAFT_ERR_SNAPSHOT_NOT_FOUND;
        return;
    }
    if (q->position < 0 || q->position > r->snap_size) {
        p->error = RAFT_ERR_POSITION_OUT_OF_RANGE;
        return;
    }
    int64_t max = q->max_bytes > 0 ? q->max_bytes : (1 << 20);
    int64_t left = r->snap_size - q->position;
    p->size = r->snap_size;
    p->chunk_len = (int32_t)(left < max ? left : max);
}

static void install_snapshot(raft *r, raft_snapshot_id id, int64_t size, raft_actions *out)
{
    log_truncate(r, r->log_start);
    r->necache = 0;
    r->log_start = id.end_offset;
    r->snap = id;
    r->snap_size = size;
    ecache_push(r, id.epoch, id.end_offset);
    r->durable_end = id.end_offset;
    r->hw = id.end_offset;
    raft_action *a = act_push(out, RAFT_ACT_INSTALL);
    a->snapshot = id;
    a->snapshot_size = size;
}

static void on_fetch_snapshot_resp(raft *r, int32_t from, const raft_fetch_snapshot_resp *p,
                                   raft_actions *out)
{
    if (!fetch_answer_usable(r, from, p->leader_epoch, p->leader_id, out))
        return;
    if (!r->snap_dl || p->snapshot_id.end_offset != r->snap_dl_id.end_offset ||
        p->snapshot_id.epoch != r->snap_dl_id.epoch || p->position != r->snap_dl_pos)
        return; /* late or duplicate */
    leader_heard(r);
    if (p->error != RAFT_OK) {
        /* the leader has a newer snapshot: start over with a Fetch */
        r->snap_dl = false;
        r->next_fetch_ms = r->now_ms + r->cfg.retry_backoff_ms;
        return;
    }
    if (p->chunk.len != p->chunk_len || p->chunk.len < 0 || p->position + p->chunk.len > p->size)
        return;
    raft_action *a = act_push(out, RAFT_ACT_SNAPSHOT_WRITE);
    a->snapshot = p->snapshot_id;
    a->position = p->position;
    a->bytes = p->chunk;
    a->snapshot_size = p->size;
    r->snap_dl_pos += p->chunk.len;
    r->next_fetch_ms = r->now_ms;
    if (r->snap_dl_pos == p->size) {
        r->snap_dl = false;
        install_snapshot(r, p->snapshot_id, p->size, out);
    } else if (p->chunk.len == 0) {
        return; /* no progress: wait for the retry timer */
    }
    maybe_fetch(r, out);
}

void raft_receive(raft *r, int32_t from, const raft_msg *msg, int64_t now_ms, raft_actions *out)
{
    garbage_free(r);
    if (now_ms > r->now_ms)
        r->now_ms = now_ms;
    if (from == r->cfg.node_id)
        return;
    switch (msg->type) {
    case RAFT_MSG_VOTE_REQ:
        on_vote_req(r, from, &msg->u.vote_req, out);
        break;
    case RAFT_MSG_VOTE_RESP:
        on_vote_resp(r, from, &msg->u.vote_resp, out);
        break;
    case RAFT_MSG_BEGIN_EPOCH_REQ:
        on_begin_epoch(r, from, &msg->u.begin_req, out);
        break;
    case RAFT_MSG_BEGIN_EPOCH_RESP:
    case RAFT_MSG_END_EPOCH_RESP:
        if (msg->u.epoch_resp.error == RAFT_OK || msg->u.epoch_resp.leader_epoch > r->epoch)
            observe_epoch(r, msg->u.epoch_resp.leader_epoch, msg->u.epoch_resp.leader_id,
                          from == msg->u.epoch_resp.leader_id, out);
        break;
    case RAFT_MSG_END_EPOCH_REQ:
        on_end_epoch(r, from, &msg->u.end_req, out);
        break;
    case RAFT_MSG_FETCH_REQ:
        on_fetch_req(r, from, &msg->u.fetch_req, out);
        break;
    case RAFT_MSG_FETCH_RESP:
        on_fetch_resp(r, from, &msg->u.fetch_resp, out);
        break;
    case RAFT_MSG_FETCH_SNAPSHOT_REQ:
        on_fetch_snapshot_req(r, from, &msg->u.snap_req, out);
        break;
    case RAFT_MSG_FETCH_SNAPSHOT_RESP:
        on_fetch_snapshot_resp(r, from, &msg->u.snap_resp, out);
        break;
    }
    step_tick(r, out);
    raft_check(r);
}

/* ---- inputs: disk, proposals, snapshots, shutdown ---- */

void raft_durable(raft *r, uint64_t seq, int64_t now_ms, raft_actions *out)
{
    garbage_free(r);
    if (now_ms > r->now_ms)
        r->now_ms = now_ms;
    int i = log_index(r, r->durable_end);
    while (i < r->nlog && r->log_seq[i] <= seq) {
        r->durable_end = r->log[i].offset + r->log[i].count;
        i++;
    }
    update_hw(r, out);
    step_tick(r, out);
    raft_check(r);
}

int raft_propose(raft *r, raft_bytes payload, int32_t count, int64_t now_ms, int64_t *offset,
                 int32_t *leader_id, raft_actions *out)
{
    garbage_free(r);
    if (now_ms > r->now_ms)
        r->now_ms = now_ms;
    if (leader_id)
        *leader_id = known_leader(r);
    if (r->role != RAFT_LEADER)
        return RAFT_PROPOSE_NOT_LEADER;
    if (count < 1)
        return RAFT_PROPOSE_TOO_LARGE;
    raft_entry e = {log_end(r), count, r->epoch, false, payload};
    if (offset)
        *offset = e.offset;
    append_local(r, &e, out);
    raft_check(r);
    return RAFT_PROPOSE_OK;
}

int raft_snapshot_created(raft *r, raft_snapshot_id id, int64_t size)
{
    garbage_free(r);
    if (id.end_offset <= r->log_start || id.end_offset > r->hw || size < 0)
        return -1;
    int i = log_index(r, id.end_offset - 1);
    if (i >= r->nlog || r->log[i].offset + r->log[i].count != id.end_offset ||
        r->log[i].epoch != id.epoch)
        return -1;
    r->snap = id;
    r->snap_size = size;
    r->log_start = id.end_offset;
    log_drop_prefix(r, id.end_offset);
    /* the snapshot is durable: so is everything it covers */
    if (r->durable_end < r->log_start)
        r->durable_end = r->log_start;
    raft_check(r);
    return 0;
}

void raft_shutdown(raft *r, int64_t now_ms, raft_actions *out)
{
    garbage_free(r);
    if (now_ms > r->now_ms)
        r->now_ms = now_ms;
    if (r->role == RAFT_LEADER)
        become_resigned(r, out);
    raft_check(r);
}

/* ---- life cycle ---- */

void raft_config_defaults(raft_config *c)
{
    memset(c, 0, sizeof(*c));
    c->node_id = RAFT_NO_NODE;
    c->election_timeout_ms = 1000;
    c->election_backoff_max_ms = 1000;
    c->fetch_timeout_ms = 2000;
    c->request_timeout_ms = 2000;
    c->retry_backoff_ms = 20;
    c->fetch_idle_ms = 0;
    c->fetch_entries_max = 64;
    c->snapshot_chunk_bytes = 1 << 20;
}

static bool config_ok(const raft_config *c)
{
    if (c->nvoters < 1 || c->nvoters > RAFT_VOTERS_MAX || c->node_id < 0)
        return false;
    if (c->election_timeout_ms < 1 || c->fetch_timeout_ms < 1 || c->request_timeout_ms < 1 ||
        c->election_backoff_max_ms < 1 || c->retry_backoff_ms < 0 || c->fetch_idle_ms < 0)
        return false;
    for (int i = 0; i < c->nvoters; i++) {
        if (c->voters[i] < 0)
            return false;
        for (int j = 0; j < i; j++)
            if (c->voters[i] == c->voters[j])
                return false;
    }
    return true;
}

static bool disk_ok(const raft_disk *d)
{
    int64_t at = d->snapshot.end_offset;
    int32_t e = d->snapshot.end_offset > 0 ? d->snapshot.epoch : 0;
    if (at < 0 || d->nentries < 0 || (d->nentries && !d->entries))
        return false;
    for (int i = 0; i < d->nentries; i++) {
        const raft_entry *x = &d->entries[i];
        if (x->offset != at || x->count < 1 || x->epoch < e || x->epoch > d->state.epoch)
            return false;
        at += x->count;
        e = x->epoch;
    }
    return d->state.epoch >= 0;
}

raft *raft_new(const raft_config *cfg, const raft_disk *disk, int64_t now_ms)
{
    raft_disk empty = {{0, RAFT_NO_NODE, RAFT_NO_NODE}, {0, 0}, 0, NULL, 0};
    if (!disk)
        disk = &empty;
    if (!config_ok(cfg) || !disk_ok(disk))
        return NULL;
    raft *r = xrealloc(NULL, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->cfg = *cfg;
    r->voter = voter_index(r, cfg->node_id) >= 0;
    r->rng = cfg->seed;
    r->now_ms = now_ms;
    r->epoch = disk->state.epoch;
    r->leader_id = disk->state.leader_id;
    r->voted_id = disk->state.voted_id;
    r->log_start = disk->snapshot.end_offset;
    if (r->log_start > 0) {
        r->snap = disk->snapshot;
        r->snap_size = disk->snapshot_size;
        ecache_push(r, r->snap.epoch, r->log_start);
    }
    for (int i = 0; i < disk->nentries; i++)
        log_push(r, &disk->entries[i], 0);
    r->durable_end = log_end(r);
    r->hw = r->log_start;
    r->election_deadline_ms = r->fetch_deadline_ms = r->next_fetch_ms = RAFT_NEVER_MS;
    r->fetch_retry_ms = r->resend_ms = r->check_quorum_ms = RAFT_NEVER_MS;
    /*
     * Kafka resumes from quorum-state: a follower of a known leader goes on
     * following it; a leader or candidate of the old epoch cannot go on
     * leading (its in-memory view is gone) and waits an election timeout as
     * "resigned"/unattached keeping its vote.
     */
    if (r->leader_id != RAFT_NO_NODE && r->leader_id != cfg->node_id) {
        r->role = RAFT_FOLLOWER;
        r->fetch_deadline_ms = now_ms + cfg->fetch_timeout_ms;
        r->leader_contact_ms = INT64_MIN / 2; /* not heard since the restart */
        r->next_fetch_ms = now_ms;
    } else if (r->leader_id == cfg->node_id && r->voter) {
        r->role = RAFT_RESIGNED;
        r->voted_id = cfg->node_id;
        r->election_deadline_ms = now_ms + election_timeout(r);
    } else if (r->voted_id == cfg->node_id && r->voter) {
        /* our own candidacy: we hold our vote, and retry after a timeout */
        r->role = RAFT_UNATTACHED;
        r->leader_id = RAFT_NO_NODE;
        r->election_deadline_ms = now_ms + election_timeout(r);
    } else {
        r->role = RAFT_UNATTACHED;
        r->leader_id = RAFT_NO_NODE;
        if (r->voter)
            r->election_deadline_ms = now_ms + election_timeout(r);
        else
            r->next_fetch_ms = now_ms;
    }
    raft_check(r);
    return r;
}

void raft_free(raft *r)
{
    if (!r)
        return;
    garbage_free(r);
    for (int i = 0; i < r->nlog; i++)
        free((void *)r->log[i].payload.ptr);
    free(r->log);
    free(r->log_seq);
    free(r->ecache);
    free(r->garbage);
    free(r);
}
