/*
 * raft_int.h - the inside of a `raft` (raft.h), shared by raft.c (the state
 * machine) and raft_view.c (accessors, DescribeQuorum, invariants). Not for
 * anyone else: the glue and the tests use raft.h only.
 */
#ifndef GREGOR_RAFT_RAFT_INT_H
#define GREGOR_RAFT_RAFT_INT_H

#include "raft/raft.h"

#include <stdint.h>

#define RAFT_NEVER_MS INT64_MAX

typedef struct ecache_ent {
    int32_t epoch;
    int64_t start;     /* first offset of that epoch */
} ecache_ent;

typedef struct replica {
    int32_t id;
    int64_t end;                 /* last valid FetchOffset in this epoch, -1 */
    int64_t last_fetch_ms;       /* -1 when never */
    int64_t last_caught_up_ms;   /* -1 when never */
    int64_t last_fetch_leader_end; /* leader's log end at the last fetch */
    bool fetched;                /* has fetched in this epoch (BeginQuorumEpoch acked) */
} replica;

struct raft {
    raft_config cfg;
    int role;
    int32_t epoch, leader_id, voted_id;
    bool voter;
    uint64_t rng;
    int64_t now_ms;

    /* the log tail */
    raft_entry *log;             /* payloads owned */
    uint64_t *log_seq;           /* write_seq of each entry */
    int nlog, caplog;
    int64_t log_start;
    raft_snapshot_id snap;
    int64_t snap_size;
    int64_t hw;
    int64_t durable_end;
    uint64_t write_seq;          /* last one handed out */
    ecache_ent *ecache;
    int necache, capecache;

    /* timers */
    int64_t election_deadline_ms;  /* unattached voter, prospective, candidate, resigned */
    int64_t fetch_deadline_ms;     /* follower: leader silent that long -> election */
    int64_t next_fetch_ms;         /* follower/observer: send the next Fetch */
    int64_t fetch_retry_ms;        /* an in-flight Fetch is resent then */
    bool fetch_inflight;
    int64_t resend_ms;             /* votes, BeginQuorumEpoch */
    int64_t check_quorum_ms;       /* leader */
    int64_t leader_contact_ms;     /* follower: last good answer from the leader */

    /* elections */
    bool granted[RAFT_VOTERS_MAX];
    bool answered[RAFT_VOTERS_MAX];

    /* leader */
    replica voters[RAFT_VOTERS_MAX];
    replica observers[RAFT_OBSERVERS_MAX];
    int nobservers;
    int64_t epoch_start;           /* offset of this epoch's LeaderChange batch */

    /* follower downloading a snapshot */
    bool snap_dl;
    raft_snapshot_id snap_dl_id;
    int64_t snap_dl_pos;

    void **garbage;
    int ngarbage, capgarbage;
};

static inline int64_t log_end(const raft *r)
{
    if (r->nlog == 0)
        return r->log_start;
    const raft_entry *e = &r->log[r->nlog - 1];
    return e->offset + e->count;
}

/* Index of the entry containing offset, or nlog if offset >= log end. */
static inline int log_index(const raft *r, int64_t offset)
{
    int lo = 0, hi = r->nlog;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const raft_entry *e = &r->log[mid];
        if (e->offset + e->count <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int voter_index(const raft *r, int32_t id)
{
    for (int i = 0; i < r->cfg.nvoters; i++)
        if (r->cfg.voters[i] == id)
            return i;
    return -1;
}

#endif
