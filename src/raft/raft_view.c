/*
 * raft_view.c - what a `raft` shows without changing: the accessors of
 * raft.h, DescribeQuorum (raft_describe) and the invariants (raft_check,
 * listed at the head of raft.c).
 */
#include "raft/raft_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- accessors ---- */

int raft_role(const raft *r) { return r->role; }
int32_t raft_node_id(const raft *r) { return r->cfg.node_id; }
int32_t raft_epoch(const raft *r) { return r->epoch; }
int32_t raft_leader_id(const raft *r) { return r->leader_id; }
int32_t raft_voted_id(const raft *r) { return r->voted_id; }
bool raft_is_voter(const raft *r, int32_t node_id) { return voter_index(r, node_id) >= 0; }
int64_t raft_high_watermark(const raft *r) { return r->hw; }
int64_t raft_log_start(const raft *r) { return r->log_start; }
int64_t raft_log_end(const raft *r) { return log_end(r); }
int64_t raft_durable_end(const raft *r) { return r->durable_end; }
raft_snapshot_id raft_latest_snapshot(const raft *r) { return r->snap; }

const raft_entry *raft_entries(const raft *r, int64_t offset, int *n)
{
    int i = log_index(r, offset < r->log_start ? r->log_start : offset);
    *n = r->nlog - i;
    return *n > 0 ? &r->log[i] : NULL;
}

static raft_replica_state replica_view(const replica *p)
{
    return (raft_replica_state){p->id, p->end, p->last_fetch_ms, p->last_caught_up_ms};
}

void raft_describe(const raft *r, int64_t now_ms, raft_quorum_info *out)
{
    memset(out, 0, sizeof(*out));
    out->leader_id = r->leader_id;
    out->leader_epoch = r->epoch;
    out->high_watermark = r->hw;
    if (r->role != RAFT_LEADER) {
        out->error = RAFT_ERR_NOT_LEADER_OR_FOLLOWER;
        return;
    }
    for (int i = 0; i < r->cfg.nvoters; i++) {
        out->voters[i] = replica_view(&r->voters[i]);
        if (r->cfg.voters[i] == r->cfg.node_id) {
            out->voters[i].log_end_offset = log_end(r);
            out->voters[i].last_fetch_timestamp = now_ms;
            out->voters[i].last_caught_up_timestamp = now_ms;
        }
    }
    out->nvoters = r->cfg.nvoters;
    for (int i = 0; i < r->nobservers; i++)
        out->observers[i] = replica_view(&r->observers[i]);
    out->nobservers = r->nobservers;
}

/* ---- invariants ---- */

#define RAFT_REQUIRE(r, cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "raft %d: invariant failed: %s (%s:%d)\n", (r)->cfg.node_id, #cond, \
                __FILE__, __LINE__); \
        abort(); \
    } \
} while (0)

void raft_check(const raft *r)
{
    /* 1 */
    int64_t at = r->log_start;
    int32_t e = r->log_start > 0 ? r->snap.epoch : 0;
    for (int i = 0; i < r->nlog; i++) {
        RAFT_REQUIRE(r, r->log[i].offset == at && r->log[i].count >= 1);
        RAFT_REQUIRE(r, r->log[i].epoch >= e && r->log[i].epoch <= r->epoch);
        at += r->log[i].count;
        e = r->log[i].epoch;
    }
    /* 2 */
    RAFT_REQUIRE(r, r->log_start <= r->hw && r->hw <= log_end(r));
    RAFT_REQUIRE(r, r->log_start <= r->durable_end && r->durable_end <= log_end(r));
    int di = log_index(r, r->durable_end);
    RAFT_REQUIRE(r, di == r->nlog || r->log[di].offset == r->durable_end);
    /* 3 */
    int k = 0;
    if (r->log_start > 0) {
        RAFT_REQUIRE(r, r->necache >= 1 && r->ecache[0].epoch == r->snap.epoch);
        k = 1;
    }
    int32_t prev = r->log_start > 0 ? r->snap.epoch : -1;
    for (int i = 0; i < r->nlog; i++) {
        if (r->log[i].epoch == prev)
            continue;
        RAFT_REQUIRE(r, k < r->necache && r->ecache[k].epoch == r->log[i].epoch &&
                            r->ecache[k].start == r->log[i].offset);
        prev = r->log[i].epoch;
        k++;
    }
    RAFT_REQUIRE(r, k == r->necache);
    /* 4 */
    int32_t self = r->cfg.node_id;
    switch (r->role) {
    case RAFT_LEADER:
    case RAFT_RESIGNED:
        RAFT_REQUIRE(r, r->leader_id == self && r->voted_id == self && r->voter);
        break;
    case RAFT_CANDIDATE:
        RAFT_REQUIRE(r, r->leader_id == RAFT_NO_NODE && r->voted_id == self && r->voter);
        break;
    case RAFT_FOLLOWER:
        RAFT_REQUIRE(r, r->leader_id != RAFT_NO_NODE && r->leader_id != self);
        break;
    case RAFT_UNATTACHED:
        RAFT_REQUIRE(r, r->leader_id == RAFT_NO_NODE);
        break;
    case RAFT_PROSPECTIVE:
        /* may still name the leader it lost (or itself, after resigning) */
        RAFT_REQUIRE(r, r->voter);
        break;
    default:
        RAFT_REQUIRE(r, !"role");
    }
}
