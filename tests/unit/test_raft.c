/*
 * test_raft.c - scripted scenarios for the KRaft core (src/raft).
 *
 * A tiny cluster harness: rafts wired by an in-order network (links can be
 * cut), disks that become durable at once, a clock moved by hand. Each test
 * drives one scenario and checks roles, epochs, logs, high watermarks and
 * the actions the core emitted (the tests/sim simulator does the random
 * part): single voter, election and replication, refused votes, divergence
 * truncation, snapshot install, check-quorum, pre-vote against a stable
 * leader, observers, graceful resignation, DescribeQuorum.
 */
#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NODES 6
#define QMAX 4096
#define SNAP_SIZE 100

typedef struct qmsg {
    int32_t from, to;
    raft_msg msg;
    raft_entry *entries;   /* deep copies */
    uint8_t *bytes;
} qmsg;

typedef struct hnode {
    raft *r;
    bool up;
    int truncates;
    int64_t last_truncate;
    int installs;
    int commits;
    int persists;
    int64_t hw_commit;
    uint8_t dl[SNAP_SIZE];
    raft_quorum_state qs;   /* last PERSIST */
} hnode;

static hnode nodes[NODES + 1]; /* by node id, 1-based */
static int nnodes;
static bool cut[NODES + 1][NODES + 1];
static qmsg q[QMAX];
static int qhead, qtail;
static int64_t now = 1000;
static raft_actions acts;
static uint8_t snap_bytes[SNAP_SIZE];
static int sent[16];       /* messages sent, by type */

static raft_config config(int32_t id, int nvoters, uint64_t seed)
{
    raft_config c;
    raft_config_defaults(&c);
    c.node_id = id;
    c.nvoters = nvoters;
    for (int i = 0; i < nvoters; i++)
        c.voters[i] = i + 1;
    c.fetch_idle_ms = 50;
    c.request_timeout_ms = 500;
    c.snapshot_chunk_bytes = 32;
    c.seed = seed;
    return c;
}

static void enqueue(int32_t from, int32_t to, const raft_msg *m)
{
    sent[m->type]++;
    if (cut[from][to] || qtail - qhead >= QMAX)
        return;
    qmsg *x = &q[qtail++ % QMAX];
    memset(x, 0, sizeof(*x));
    x->from = from;
    x->to = to;
    x->msg = *m;
    if (m->type == RAFT_MSG_FETCH_RESP && m->u.fetch_resp.nentries) {
        int n = m->u.fetch_resp.nentries;
        x->entries = malloc(sizeof(raft_entry) * (size_t)n);
        for (int i = 0; i < n; i++) {
            x->entries[i] = m->u.fetch_resp.entries[i];
            uint8_t *p = malloc((size_t)x->entries[i].payload.len + 1);
            if (x->entries[i].payload.len)
                memcpy(p, x->entries[i].payload.ptr, (size_t)x->entries[i].payload.len);
            x->entries[i].payload.ptr = p;
        }
        x->msg.u.fetch_resp.entries = x->entries;
    }
    if (m->type == RAFT_MSG_FETCH_SNAPSHOT_RESP && m->u.snap_resp.error == 0) {
        /* the leader's glue fills the chunk from its snapshot file */
        int32_t n = m->u.snap_resp.chunk_len;
        x->bytes = malloc((size_t)n + 1);
        memcpy(x->bytes, snap_bytes + m->u.snap_resp.position, (size_t)n);
        x->msg.u.snap_resp.chunk = (raft_bytes){x->bytes, n};
    }
}

static void qmsg_free(qmsg *x)
{
    if (x->entries) {
        for (int i = 0; i < x->msg.u.fetch_resp.nentries; i++)
            free((void *)x->entries[i].payload.ptr);
        free(x->entries);
    }
    free(x->bytes);
}

/* Execute node id's actions; APPENDs are durable at once. */
static void run(int32_t id)
{
    hnode *h = &nodes[id];
    uint64_t seq = 0;
    for (int i = 0; i < acts.n; i++) {
        raft_action *a = &acts.v[i];
        switch (a->kind) {
        case RAFT_ACT_SEND:
            enqueue(id, a->to, &a->msg);
            break;
        case RAFT_ACT_APPEND:
            seq = a->write_seq;
            break;
        case RAFT_ACT_TRUNCATE:
            h->truncates++;
            h->last_truncate = a->offset;
            break;
        case RAFT_ACT_INSTALL:
            h->installs++;
            break;
        case RAFT_ACT_SNAPSHOT_WRITE:
            memcpy(h->dl + a->position, a->bytes.ptr, (size_t)a->bytes.len);
            break;
        case RAFT_ACT_COMMIT:
            h->commits++;
            h->hw_commit = a->offset;
            break;
        case RAFT_ACT_PERSIST:
            h->persists++;
            h->qs = a->state;
            break;
        }
    }
    raft_actions_reset(&acts);
    if (seq) {
        raft_durable(h->r, seq, now, &acts);
        run(id);
    }
}

static void deliver_all(void)
{
    for (int guard = 0; qhead < qtail && guard < 100000; guard++) {
        qmsg x = q[qhead++ % QMAX];
        if (nodes[x.to].up && !cut[x.from][x.to]) {
            raft_receive(nodes[x.to].r, x.from, &x.msg, now, &acts);
            run(x.to);
        }
        qmsg_free(&x);
    }
}

/* Move the clock by ms in 10 ms steps, ticking every node and delivering. */
static void advance(int64_t ms)
{
    for (int64_t t = 0; t < ms; t += 10) {
        now += 10;
        for (int id = 1; id <= nnodes; id++)
            if (nodes[id].up && raft_next_deadline_ms(nodes[id].r) <= now) {
                raft_tick(nodes[id].r, now, &acts);
                run(id);
            }
        deliver_all();
    }
}

static void cluster(int nvoters, int nobservers, uint64_t seed)
{
    for (int id = 1; id <= nnodes; id++)
        raft_free(nodes[id].r);
    memset(nodes, 0, sizeof(nodes));
    memset(cut, 0, sizeof(cut));
    while (qhead < qtail)
        qmsg_free(&q[qhead++ % QMAX]);
    nnodes = nvoters + nobservers;
    for (int id = 1; id <= nnodes; id++) {
        raft_config c = config(id, nvoters, seed * 31 + (uint64_t)id);
        nodes[id].r = raft_new(&c, NULL, now);
        nodes[id].up = nodes[id].r != NULL;
    }
}

static int leader(void)
{
    int found = 0;
    for (int id = 1; id <= nnodes; id++)
        if (nodes[id].up && raft_role(nodes[id].r) == RAFT_LEADER)
            found = found ? -1 : id;
    return found;
}

static void isolate(int32_t id, bool on)
{
    for (int j = 1; j <= NODES; j++)
        cut[id][j] = cut[j][id] = on && j != id;
}

static int64_t propose(int32_t id, const char *s)
{
    int64_t off = -1;
    int32_t lid;
    int rc = raft_propose(nodes[id].r, (raft_bytes){(const uint8_t *)s, (int32_t)strlen(s)}, 1, now,
                          &off, &lid, &acts);
    run(id);
    return rc == RAFT_PROPOSE_OK ? off : -1;
}

/* Same entries (offset, epoch, payload) from `from` on in both nodes. */
static bool logs_equal(int32_t a, int32_t b, int64_t from)
{
    int na, nb;
    const raft_entry *va = raft_entries(nodes[a].r, from, &na);
    const raft_entry *vb = raft_entries(nodes[b].r, from, &nb);
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (va[i].offset != vb[i].offset || va[i].epoch != vb[i].epoch ||
            va[i].payload.len != vb[i].payload.len ||
            (va[i].payload.len && memcmp(va[i].payload.ptr, vb[i].payload.ptr, (size_t)va[i].payload.len)))
            return false;
    return true;
}

/* ---- scenarios ---- */

static void test_single_voter_commits_at_once(void)
{
    cluster(1, 0, 1);
    CHECK_EQ_I64(raft_role(nodes[1].r), RAFT_UNATTACHED);
    advance(2000); /* past the election timeout [1000, 2000) */
    CHECK_EQ_I64(raft_role(nodes[1].r), RAFT_LEADER);
    CHECK_EQ_I64(raft_epoch(nodes[1].r), 1);
    CHECK_EQ_I64(nodes[1].qs.epoch, 1);
    CHECK_EQ_I64(nodes[1].qs.leader_id, 1);
    /* the LeaderChange batch at 0 committed as soon as it was durable */
    CHECK_EQ_I64(raft_high_watermark(nodes[1].r), 1);
    int n;
    const raft_entry *e = raft_entries(nodes[1].r, 0, &n);
    CHECK(n == 1 && e[0].control && e[0].epoch == 1);
    CHECK_EQ_I64(propose(1, "a"), 1);
    CHECK_EQ_I64(raft_high_watermark(nodes[1].r), 2);
    CHECK_EQ_I64(nodes[1].hw_commit, 2);
}

static void test_three_voters_elect_replicate_commit(void)
{
    cluster(3, 0, 2);
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    if (l <= 0)
        return;
    CHECK_EQ_I64(raft_epoch(nodes[l].r), 1);
    for (int id = 1; id <= 3; id++) {
        if (id == l)
            continue;
        CHECK_EQ_I64(raft_role(nodes[id].r), RAFT_FOLLOWER);
        CHECK_EQ_I64(raft_leader_id(nodes[id].r), l);
        CHECK_EQ_I64(nodes[id].qs.leader_id, l);
    }
    int64_t off = propose(l, "x");
    CHECK_EQ_I64(off, 1);
    /* not committed until a follower has it durably and says so in a Fetch */
    CHECK_EQ_I64(raft_high_watermark(nodes[l].r), 1);
    advance(200);
    for (int id = 1; id <= 3; id++) {
        CHECK_EQ_I64(raft_high_watermark(nodes[id].r), 2);
        CHECK(logs_equal(l, id, 0));
    }
    /* a non-leader refuses proposals and names the leader */
    int other = l == 1 ? 2 : 1;
    int32_t lid = -2;
    int64_t o;
    CHECK_EQ_I64(raft_propose(nodes[other].r, (raft_bytes){(const uint8_t *)"y", 1}, 1, now, &o, &lid,
                              &acts), RAFT_PROPOSE_NOT_LEADER);
    CHECK_EQ_I64(lid, l);
    raft_actions_reset(&acts);
}

static void test_stale_candidate_refused(void)
{
    raft_entry log[3] = {{0, 1, 1, true, {NULL, 0}}, {1, 5, 2, false, {NULL, 0}},
                         {6, 4, 2, false, {NULL, 0}}};
    raft_disk d = {{5, RAFT_NO_NODE, RAFT_NO_NODE}, {0, 0}, 0, log, 3};
    raft_config c = config(2, 3, 3);
    raft *r = raft_new(&c, &d, now);
    CHECK(r != NULL);
    if (!r)
        return;
    /* an older epoch */
    raft_msg m = {.type = RAFT_MSG_VOTE_REQ};
    m.u.vote_req = (raft_vote_req){4, 1, 2, 10, false};
    raft_receive(r, 1, &m, now, &acts);
    CHECK(acts.n >= 1 && acts.v[acts.n - 1].kind == RAFT_ACT_SEND);
    CHECK(!acts.v[acts.n - 1].msg.u.vote_resp.vote_granted);
    CHECK_EQ_I64(acts.v[acts.n - 1].msg.u.vote_resp.leader_epoch, 5);
    raft_actions_reset(&acts);
    /* a newer epoch but a shorter log: the epoch moves, the vote is refused */
    m.u.vote_req = (raft_vote_req){6, 1, 2, 8, false};
    raft_receive(r, 1, &m, now, &acts);
    CHECK_EQ_I64(raft_epoch(r), 6);
    CHECK_EQ_I64(raft_voted_id(r), RAFT_NO_NODE);
    CHECK(!acts.v[acts.n - 1].msg.u.vote_resp.vote_granted);
    raft_actions_reset(&acts);
    /* an older last epoch with a longer log: refused too */
    m.u.vote_req = (raft_vote_req){7, 1, 1, 50, false};
    raft_receive(r, 1, &m, now, &acts);
    CHECK(!acts.v[acts.n - 1].msg.u.vote_resp.vote_granted);
    raft_actions_reset(&acts);
    /* an up-to-date candidate: granted, the vote persisted before the answer */
    m.u.vote_req = (raft_vote_req){7, 3, 2, 10, false};
    raft_receive(r, 3, &m, now, &acts);
    int persist = -1, send = -1;
    for (int i = 0; i < acts.n; i++) {
        if (acts.v[i].kind == RAFT_ACT_PERSIST && acts.v[i].state.voted_id == 3)
            persist = i;
        if (acts.v[i].kind == RAFT_ACT_SEND)
            send = i;
    }
    CHECK(persist >= 0 && send > persist);
    CHECK(send >= 0 && acts.v[send].msg.u.vote_resp.vote_granted);
    raft_actions_reset(&acts);
    /* one vote per epoch: another candidate in epoch 7 is refused */
    m.u.vote_req = (raft_vote_req){7, 1, 2, 10, false};
    raft_receive(r, 1, &m, now, &acts);
    CHECK(!acts.v[acts.n - 1].msg.u.vote_resp.vote_granted);
    raft_actions_reset(&acts);
    /* a pre-vote changes neither epoch nor vote */
    m.u.vote_req = (raft_vote_req){9, 1, 2, 10, true};
    raft_receive(r, 1, &m, now, &acts);
    CHECK(acts.v[acts.n - 1].msg.u.vote_resp.vote_granted);
    CHECK_EQ_I64(raft_epoch(r), 7);
    CHECK_EQ_I64(raft_voted_id(r), 3);
    raft_actions_reset(&acts);
    raft_free(r);
}

static void test_divergence_truncation(void)
{
    /* 1 and 3 hold epoch 3 at offset 2; 2 holds an uncommitted epoch-2 tail */
    raft_entry good[3] = {{0, 1, 1, true, {NULL, 0}}, {1, 1, 1, false, {(const uint8_t *)"a", 1}},
                          {2, 1, 3, true, {NULL, 0}}};
    raft_entry bad[4] = {{0, 1, 1, true, {NULL, 0}}, {1, 1, 1, false, {(const uint8_t *)"a", 1}},
                         {2, 1, 2, true, {NULL, 0}}, {3, 1, 2, false, {(const uint8_t *)"z", 1}}};
    for (int id = 1; id <= nnodes; id++)
        raft_free(nodes[id].r);
    memset(nodes, 0, sizeof(nodes));
    memset(cut, 0, sizeof(cut));
    nnodes = 3;
    for (int id = 1; id <= 3; id++) {
        raft_disk d = {{3, RAFT_NO_NODE, RAFT_NO_NODE}, {0, 0}, 0, id == 2 ? bad : good, id == 2 ? 4 : 3};
        raft_config c = config(id, 3, (uint64_t)id);
        /* 1 times out first */
        c.election_timeout_ms = id == 1 ? 300 : 5000;
        nodes[id].r = raft_new(&c, &d, now);
        nodes[id].up = nodes[id].r != NULL;
        CHECK(nodes[id].up);
    }
    advance(1000);
    CHECK_EQ_I64(leader(), 1);
    CHECK_EQ_I64(raft_epoch(nodes[1].r), 4);
    CHECK_EQ_I64(nodes[2].truncates, 1);
    CHECK_EQ_I64(nodes[2].last_truncate, 2);
    CHECK(logs_equal(1, 2, 0));
    CHECK(logs_equal(1, 3, 0));
    CHECK_EQ_I64(raft_high_watermark(nodes[2].r), 4); /* through the epoch-4 LeaderChange */
}

static void test_snapshot_install(void)
{
    cluster(3, 0, 5);
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    if (l <= 0)
        return;
    int lag = l == 3 ? 2 : 3;
    isolate(lag, true);
    char buf[16];
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        propose(l, buf);
        advance(100);
    }
    int64_t hw = raft_high_watermark(nodes[l].r);
    CHECK_EQ_I64(hw, 11);
    raft_snapshot_id id = {hw, raft_epoch(nodes[l].r)};
    for (int i = 0; i < SNAP_SIZE; i++)
        snap_bytes[i] = (uint8_t)(i * 13);
    CHECK_EQ_I64(raft_snapshot_created(nodes[l].r, id, SNAP_SIZE), 0);
    CHECK_EQ_I64(raft_log_start(nodes[l].r), 11);
    /* a snapshot above the HW is refused */
    CHECK_EQ_I64(raft_snapshot_created(nodes[l].r, (raft_snapshot_id){hw + 1, id.epoch}, 1), -1);
    isolate(lag, false);
    int before = sent[RAFT_MSG_FETCH_SNAPSHOT_REQ];
    advance(3000);
    CHECK_EQ_I64(leader(), l);
    CHECK_EQ_I64(nodes[lag].installs, 1);
    /* 100 bytes in 32-byte chunks: 4 FetchSnapshot requests at least */
    CHECK(sent[RAFT_MSG_FETCH_SNAPSHOT_REQ] - before >= 4);
    CHECK(memcmp(nodes[lag].dl, snap_bytes, SNAP_SIZE) == 0);
    CHECK_EQ_I64(raft_log_start(nodes[lag].r), 11);
    CHECK_EQ_I64(raft_latest_snapshot(nodes[lag].r).epoch, id.epoch);
    propose(l, "after");
    advance(300);
    CHECK_EQ_I64(raft_high_watermark(nodes[lag].r), 12);
    CHECK(logs_equal(l, lag, 11));
}

static void test_check_quorum_resigns(void)
{
    cluster(3, 0, 6);
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    if (l <= 0)
        return;
    int32_t epoch = raft_epoch(nodes[l].r);
    isolate(l, true);
    advance(1000);
    CHECK_EQ_I64(raft_role(nodes[l].r), RAFT_LEADER); /* within 1.5 x fetch timeout */
    advance(2500);
    CHECK(raft_role(nodes[l].r) != RAFT_LEADER);
    CHECK_EQ_I64(raft_epoch(nodes[l].r) >= epoch, 1);
    /* the other two elect a new leader in a later epoch (both lost the
     * leader at the same tick: a split vote or two is possible) */
    advance(8000);
    int nl = leader();
    CHECK(nl > 0 && nl != l);
    if (nl > 0)
        CHECK(raft_epoch(nodes[nl].r) > epoch);
    isolate(l, false);
    advance(2000);
    CHECK_EQ_I64(raft_leader_id(nodes[l].r), nl);
}

static void test_prevote_does_not_disrupt(void)
{
    cluster(3, 0, 7);
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    if (l <= 0)
        return;
    int32_t epoch = raft_epoch(nodes[l].r);
    int lone = l == 3 ? 1 : 3;
    isolate(lone, true);
    advance(10000);
    /* it tried (pre-votes) but its epoch did not move */
    CHECK(raft_role(nodes[lone].r) == RAFT_PROSPECTIVE || raft_role(nodes[lone].r) == RAFT_FOLLOWER);
    CHECK_EQ_I64(raft_epoch(nodes[lone].r), epoch);
    int prevotes = sent[RAFT_MSG_VOTE_REQ];
    isolate(lone, false);
    advance(5000);
    /* healed: the leader and the epoch are unchanged, the lone node follows */
    CHECK(sent[RAFT_MSG_VOTE_REQ] >= prevotes);
    CHECK_EQ_I64(leader(), l);
    CHECK_EQ_I64(raft_epoch(nodes[l].r), epoch);
    CHECK_EQ_I64(raft_role(nodes[lone].r), RAFT_FOLLOWER);
    CHECK_EQ_I64(raft_leader_id(nodes[lone].r), l);
}

static void test_observer_learns_leader(void)
{
    cluster(3, 1, 8);
    CHECK(!raft_is_voter(nodes[4].r, 4));
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    CHECK_EQ_I64(raft_role(nodes[4].r), RAFT_FOLLOWER);
    CHECK_EQ_I64(raft_leader_id(nodes[4].r), l);
    if (l <= 0)
        return;
    propose(l, "seen by the observer");
    advance(300);
    CHECK(logs_equal(l, 4, 0));
    CHECK_EQ_I64(raft_high_watermark(nodes[4].r), raft_high_watermark(nodes[l].r));
    /* DescribeQuorum: three voters, one observer, all caught up */
    raft_quorum_info qi;
    raft_describe(nodes[l].r, now, &qi);
    CHECK_EQ_I64(qi.error, 0);
    CHECK_EQ_I64(qi.leader_id, l);
    CHECK_EQ_I64(qi.nvoters, 3);
    CHECK_EQ_I64(qi.nobservers, 1);
    CHECK_EQ_I64(qi.observers[0].replica_id, 4);
    CHECK_EQ_I64(qi.observers[0].log_end_offset, raft_log_end(nodes[l].r));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_I64(qi.voters[i].log_end_offset, raft_log_end(nodes[l].r));
        CHECK(qi.voters[i].last_caught_up_timestamp > now - 500);
    }
    raft_describe(nodes[4].r, now, &qi);
    CHECK_EQ_I64(qi.error, RAFT_ERR_NOT_LEADER_OR_FOLLOWER);
}

static void test_graceful_shutdown_elects_quickly(void)
{
    cluster(3, 0, 9);
    advance(3000);
    int l = leader();
    CHECK(l > 0);
    if (l <= 0)
        return;
    int32_t epoch = raft_epoch(nodes[l].r);
    int ends = sent[RAFT_MSG_END_EPOCH_REQ];
    raft_shutdown(nodes[l].r, now, &acts);
    run(l);
    CHECK_EQ_I64(sent[RAFT_MSG_END_EPOCH_REQ] - ends, 2);
    CHECK_EQ_I64(raft_role(nodes[l].r), RAFT_RESIGNED);
    nodes[l].up = false;
    deliver_all();
    /* the preferred successor runs at once: well before a fetch timeout */
    advance(300);
    int nl = leader();
    CHECK(nl > 0 && nl != l);
    if (nl > 0)
        CHECK_EQ_I64(raft_epoch(nodes[nl].r), epoch + 1);
}

static void test_restart_from_disk(void)
{
    /* a disk that breaks the rules is refused */
    raft_entry bad[2] = {{0, 1, 2, true, {NULL, 0}}, {2, 1, 2, false, {NULL, 0}}};
    raft_disk d = {{2, RAFT_NO_NODE, RAFT_NO_NODE}, {0, 0}, 0, bad, 2};
    raft_config c = config(1, 3, 1);
    CHECK(raft_new(&c, &d, now) == NULL);
    bad[1].offset = 1;
    d.state.epoch = 1; /* entries beyond quorum-state's epoch */
    CHECK(raft_new(&c, &d, now) == NULL);
    /* a follower of a known leader resumes following it */
    d.state = (raft_quorum_state){2, 2, RAFT_NO_NODE};
    raft *r = raft_new(&c, &d, now);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_I64(raft_role(r), RAFT_FOLLOWER);
        CHECK_EQ_I64(raft_leader_id(r), 2);
        CHECK_EQ_I64(raft_log_end(r), 2);
        CHECK_EQ_I64(raft_high_watermark(r), 0);
        raft_free(r);
    }
    /* a former leader comes back resigned, holding its vote */
    d.state = (raft_quorum_state){2, 1, 1};
    r = raft_new(&c, &d, now);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_I64(raft_role(r), RAFT_RESIGNED);
        raft_free(r);
    }
    /* a snapshot: the log starts at its end */
    raft_entry tail[1] = {{10, 2, 2, false, {NULL, 0}}};
    raft_disk s = {{2, RAFT_NO_NODE, RAFT_NO_NODE}, {10, 1}, 64, tail, 1};
    r = raft_new(&c, &s, now);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_I64(raft_log_start(r), 10);
        CHECK_EQ_I64(raft_high_watermark(r), 10);
        CHECK_EQ_I64(raft_epoch_before(r, 10), 1);
        CHECK_EQ_I64(raft_epoch_before(r, 12), 2);
        raft_free(r);
    }
}

/* ---- regression tests for bugs the simulator found (tests/sim/seeds.txt) ---- */

static int count_kind(int kind, int64_t *offset)
{
    int n = 0;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].kind == kind) {
            n++;
            if (offset)
                *offset = acts.v[i].offset;
        }
    return n;
}

static raft_msg diverging_answer(int64_t req_offset, int32_t req_epoch, int32_t epoch, int64_t end)
{
    raft_msg m = {.type = RAFT_MSG_FETCH_RESP};
    m.u.fetch_resp = (raft_fetch_resp){0, 1, 1, 0, 0, epoch, end, {-1, -1}, NULL, 0, req_offset, req_epoch};
    return m;
}

/* seed 56: a late DivergingEpoch answer to a position the follower has left
 * must not truncate (it cut an observer below its HW) */
static void test_late_diverging_answer_ignored(void)
{
    raft_entry log[3] = {{0, 1, 1, true, {NULL, 0}}, {1, 1, 1, false, {NULL, 0}}, {2, 1, 1, false, {NULL, 0}}};
    raft_disk d = {{1, 1, RAFT_NO_NODE}, {0, 0}, 0, log, 3};
    raft_config c = config(2, 3, 11);
    raft *r = raft_new(&c, &d, now);
    CHECK(r != NULL && raft_role(r) == RAFT_FOLLOWER);
    if (!r)
        return;
    raft_msg m = diverging_answer(2, 1, 1, 1); /* answers a Fetch at 2; we are at 3 */
    raft_receive(r, 1, &m, now, &acts);
    CHECK_EQ_I64(count_kind(RAFT_ACT_TRUNCATE, NULL), 0);
    CHECK_EQ_I64(raft_log_end(r), 3);
    raft_actions_reset(&acts);
    m = diverging_answer(3, 1, 1, 1); /* the answer to where we are */
    raft_receive(r, 1, &m, now, &acts);
    int64_t at = -1;
    CHECK_EQ_I64(count_kind(RAFT_ACT_TRUNCATE, &at), 1);
    CHECK_EQ_I64(at, 1);
    CHECK_EQ_I64(raft_log_end(r), 1);
    raft_actions_reset(&acts);
    raft_free(r);
}

/* seeds 588, 951: a DivergingEpoch end inside one of our batches truncates
 * to that batch's start (we cannot cut a batch) */
static void test_diverging_end_inside_batch(void)
{
    raft_entry log[2] = {{0, 1, 1, true, {NULL, 0}}, {1, 4, 1, false, {NULL, 0}}};
    raft_disk d = {{2, 1, RAFT_NO_NODE}, {0, 0}, 0, log, 2};
    raft_config c = config(2, 3, 12);
    raft *r = raft_new(&c, &d, now);
    CHECK(r != NULL);
    if (!r)
        return;
    raft_msg m = diverging_answer(5, 1, 1, 3);
    m.u.fetch_resp.leader_epoch = 2;
    raft_receive(r, 1, &m, now, &acts);
    int64_t at = -1;
    CHECK_EQ_I64(count_kind(RAFT_ACT_TRUNCATE, &at), 1);
    CHECK_EQ_I64(at, 1);
    raft_check(r);
    raft_actions_reset(&acts);
    raft_free(r);
}

/* seed 2: answers vouch only for a live leader; a node that lost its leader
 * follows it again only when the leader itself answers */
static void test_only_live_leaders_are_vouched_for(void)
{
    /* a former leader restarts resigned: its answers name no leader */
    raft_disk d = {{2, 1, 1}, {0, 0}, 0, NULL, 0};
    raft_config c = config(1, 3, 13);
    raft *r = raft_new(&c, &d, now);
    CHECK(r != NULL && raft_role(r) == RAFT_RESIGNED);
    if (!r)
        return;
    raft_msg m = {.type = RAFT_MSG_VOTE_REQ};
    m.u.vote_req = (raft_vote_req){3, 2, 0, 0, true};
    raft_receive(r, 2, &m, now, &acts);
    CHECK(acts.n >= 1 && acts.v[acts.n - 1].msg.type == RAFT_MSG_VOTE_RESP);
    CHECK_EQ_I64(acts.v[acts.n - 1].msg.u.vote_resp.leader_id, RAFT_NO_NODE);
    raft_actions_reset(&acts);
    raft_free(r);

    /* a follower of 1 in epoch 2 hears nothing: it pre-votes */
    d.state = (raft_quorum_state){2, 1, RAFT_NO_NODE};
    c = config(2, 3, 14);
    r = raft_new(&c, &d, now);
    CHECK(r != NULL && raft_role(r) == RAFT_FOLLOWER);
    if (!r)
        return;
    raft_tick(r, now + 2000, &acts);
    CHECK_EQ_I64(raft_role(r), RAFT_PROSPECTIVE);
    raft_actions_reset(&acts);
    raft_msg v = {.type = RAFT_MSG_VOTE_RESP};
    v.u.vote_resp = (raft_vote_resp){0, 1, 2, false};
    raft_receive(r, 3, &v, now + 2001, &acts); /* node 3 still names 1 */
    CHECK_EQ_I64(raft_role(r), RAFT_PROSPECTIVE);
    raft_actions_reset(&acts);
    raft_receive(r, 1, &v, now + 2002, &acts); /* 1 itself answers: alive */
    CHECK_EQ_I64(raft_role(r), RAFT_FOLLOWER);
    CHECK_EQ_I64(raft_leader_id(r), 1);
    CHECK_EQ_I64(raft_epoch(r), 2);
    raft_actions_reset(&acts);
    raft_free(r);
}

int main(void)
{
    test_single_voter_commits_at_once();
    test_three_voters_elect_replicate_commit();
    test_stale_candidate_refused();
    test_divergence_truncation();
    test_snapshot_install();
    test_check_quorum_resigns();
    test_prevote_does_not_disrupt();
    test_observer_learns_leader();
    test_graceful_shutdown_elects_quickly();
    test_restart_from_disk();
    test_late_diverging_answer_ignored();
    test_diverging_end_inside_batch();
    test_only_live_leaders_are_vouched_for();
    for (int id = 1; id <= nnodes; id++)
        raft_free(nodes[id].r);
    while (qhead < qtail)
        qmsg_free(&q[qhead++ % QMAX]);
    raft_actions_free(&acts);
    TEST_REPORT();
}
