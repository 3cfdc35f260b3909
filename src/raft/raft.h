/*
 * raft.h - KRaft's Raft (Kafka's org.apache.kafka.raft) as a pure state machine.
 *
 * One `raft` is one node's view of the metadata quorum (__cluster_metadata-0):
 * its role (unattached, prospective, candidate, leader, follower, resigned),
 * epoch, vote, the log tail since the latest snapshot (in memory: metadata
 * logs are small) and the epoch cache (epoch -> start offset, Kafka's
 * LeaderEpochFileCache). It does no I/O, reads no clock and owns no
 * randomness but a PRNG seeded by the caller: events go in (raft_tick,
 * raft_receive, raft_durable, raft_propose, raft_snapshot_created,
 * raft_shutdown) and actions come out in a raft_actions list that the caller
 * (the glue in src/metadata, or tests/sim) executes IN ORDER:
 *
 *   RAFT_ACT_PERSIST   write quorum-state {epoch, leader id, voted id}
 *                      durably (write + fsync) before executing any later
 *                      action: a vote must be on disk before it is sent.
 *   RAFT_ACT_TRUNCATE  drop the log from `offset` on (synchronously).
 *   RAFT_ACT_APPEND    write `entries` at entries[0].offset (after truncating
 *                      from that offset), then fsync when it likes and report
 *                      raft_durable(r, write_seq) once it is on disk.
 *   RAFT_ACT_SEND      send `msg` to node `to`. A response names the request
 *                      it answers only by kind; the glue pairs them by
 *                      correlation id, fills raft_fetch_resp.req_* from the
 *                      paired Fetch, and drops what it cannot deliver. The
 *                      core answers a Fetch at once; a long poll (MaxWaitMs)
 *                      is the glue's: hold the request until the leader's
 *                      log end or HW moves, then hand it to the core.
 *   RAFT_ACT_COMMIT    the high watermark is now `offset`: apply committed
 *                      entries [applied, offset) (raft_entries reads them).
 *   RAFT_ACT_SNAPSHOT_WRITE  write chunk `bytes` of snapshot `snapshot` at
 *                      `position` (a follower downloading with FetchSnapshot;
 *                      bytes point into the received message).
 *   RAFT_ACT_INSTALL   snapshot `snapshot` is complete: make it durable, load
 *                      it as the state machine's image (applied = its end
 *                      offset) and drop the whole log (it now starts at the
 *                      snapshot's end offset, empty).
 *   RAFT_ACT_ROLE      informational: the role/epoch/leader changed (the
 *                      controller above needs "became leader in epoch E").
 *
 * Semantics are KRaft's (KIP-595, KIP-996 pre-vote, KIP-630 snapshots):
 * - Log positions are Kafka offsets; an entry is one record batch: base
 *   offset, record count, epoch, an opaque payload. Entries are contiguous
 *   (next.offset == prev.offset + prev.count).
 * - Static voter set (node ids); any other node id is an observer.
 * - Elections: a voter that hears no leader for a random election timeout in
 *   [T, 2T) becomes Prospective and sends Vote{pre_vote=true, epoch+1}; with
 *   a majority of pre-votes it becomes Candidate (epoch+1, votes for itself,
 *   PERSIST) and sends Vote{pre_vote=false}. A vote is granted only if the
 *   candidate's (last epoch, end offset) is at least ours, once per epoch.
 *   Pre-votes are refused by a follower that heard from its leader within
 *   fetch timeout, and never change anyone's epoch or vote. A candidate that
 *   times out (or loses, after a random election.backoff.max) pre-votes
 *   again. Answers name a leader only while it is live to the answerer
 *   (leading, or followed); a Prospective that lost leader L follows L again
 *   only when L itself answers.
 * - A new leader appends a LeaderChange control batch in its epoch first and
 *   sends BeginQuorumEpoch to the voters (again every request timeout to the
 *   voters that have not fetched in the new epoch yet).
 * - Replication is pull: followers and observers send Fetch{fetch_offset,
 *   last_fetched_epoch}; the leader answers entries, its high watermark, a
 *   diverging epoch (the follower truncates and refetches) or a snapshot id
 *   (fetch_offset is below the leader's log start: use FetchSnapshot).
 *   A follower's fetch_offset is its DURABLE end: it sends the next Fetch
 *   only once what it appended is on disk. An answer to a position the
 *   fetcher has left (late, duplicated) is ignored. A DivergingEpoch end
 *   inside one of the follower's batches truncates to that batch's start.
 * - High watermark: the largest offset that a majority of voters hold
 *   durably, counted only once an entry of the leader's epoch is in it; it
 *   never goes backwards. Followers take min(leader's HW, own log end).
 * - Check-quorum: a leader that has no Fetch from a majority of voters
 *   (itself included) within 1.5 x fetch timeout resigns. A follower that
 *   has no successful Fetch answer within fetch timeout becomes Prospective
 *   (voters) or forgets the leader (observers).
 * - Graceful shutdown: the leader sends EndQuorumEpoch with the voters
 *   sorted by log end offset as preferred candidates, and resigns.
 * - Observers fetch from the leader, or from a random voter while they do
 *   not know it, and learn it from the answer's leader id and epoch.
 *
 * Memory: raft_new copies the config; the raft owns copies of all entry
 * payloads. Everything an action or accessor points to (messages, entries,
 * payloads) is BORROWED: valid until the next call into the same raft that
 * is not an accessor (raft_role..raft_describe). The caller copies what it
 * keeps (a network queue must deep-copy messages). Any number of rafts live
 * in one process; there are no globals.
 *
 * Threads: none of its own; the caller serialises calls into one raft.
 */
#ifndef GREGOR_RAFT_RAFT_H
#define GREGOR_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_VOTERS_MAX 16
#define RAFT_OBSERVERS_MAX 64  /* observers tracked by a leader for DescribeQuorum */
#define RAFT_NO_NODE (-1)      /* Kafka's -1 for "no leader", "no vote" */

/* Kafka error codes the core puts in responses (values are Kafka's). */
enum raft_error {
    RAFT_OK = 0,
    RAFT_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    RAFT_ERR_FENCED_LEADER_EPOCH = 74,
    RAFT_ERR_UNKNOWN_LEADER_EPOCH = 75,
    RAFT_ERR_INCONSISTENT_VOTER_SET = 94,
    RAFT_ERR_SNAPSHOT_NOT_FOUND = 98,
    RAFT_ERR_POSITION_OUT_OF_RANGE = 99,
};

enum raft_role {
    RAFT_UNATTACHED = 0, /* no leader known in this epoch (maybe voted) */
    RAFT_PROSPECTIVE,    /* KIP-996: collecting pre-votes, epoch unchanged */
    RAFT_CANDIDATE,      /* voted for itself in this epoch, collecting votes */
    RAFT_LEADER,
    RAFT_FOLLOWER,       /* knows the leader of this epoch, fetches from it */
    RAFT_RESIGNED,       /* was leader of this epoch, stepped down */
};
const char *raft_role_name(int role); /* "Unattached", "Prospective", ... */

typedef struct raft_bytes {
    const uint8_t *ptr;
    int32_t len;
} raft_bytes;

/* One record batch. */
typedef struct raft_entry {
    int64_t offset;      /* base offset */
    int32_t count;       /* records in the batch, >= 1 */
    int32_t epoch;       /* partition leader epoch */
    bool control;        /* a control batch (LeaderChange) */
    raft_bytes payload;  /* opaque to the core */
} raft_entry;

typedef struct raft_snapshot_id {
    int64_t end_offset;  /* 0 with epoch 0: no snapshot */
    int32_t epoch;       /* epoch of the last entry before end_offset */
} raft_snapshot_id;

/* quorum-state (Kafka's QuorumStateData: LeaderId, LeaderEpoch, VotedId). */
typedef struct raft_quorum_state {
    int32_t epoch;
    int32_t leader_id;   /* RAFT_NO_NODE when none */
    int32_t voted_id;    /* RAFT_NO_NODE when none */
} raft_quorum_state;

/* ---- messages: Kafka's request/response shapes for one partition ---- */

enum raft_msg_type {
    RAFT_MSG_VOTE_REQ = 1,
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_BEGIN_EPOCH_REQ,   /* BeginQuorumEpoch */
    RAFT_MSG_BEGIN_EPOCH_RESP,
    RAFT_MSG_END_EPOCH_REQ,     /* EndQuorumEpoch */
    RAFT_MSG_END_EPOCH_RESP,
    RAFT_MSG_FETCH_REQ,
    RAFT_MSG_FETCH_RESP,
    RAFT_MSG_FETCH_SNAPSHOT_REQ,
    RAFT_MSG_FETCH_SNAPSHOT_RESP,
};
const char *raft_msg_name(int type);

typedef struct raft_vote_req {
    int32_t candidate_epoch;   /* proposed epoch (current + 1) also for a pre-vote */
    int32_t candidate_id;
    int32_t last_offset_epoch; /* epoch of the candidate's last entry */
    int64_t last_offset;       /* the candidate's log end offset */
    bool pre_vote;             /* KIP-996 */
} raft_vote_req;

typedef struct raft_vote_resp {
    int16_t error;
    int32_t leader_id;         /* the responder's view */
    int32_t leader_epoch;
    bool vote_granted;
} raft_vote_resp;

typedef struct raft_begin_epoch_req {
    int32_t leader_id;
    int32_t leader_epoch;
} raft_begin_epoch_req;

typedef struct raft_end_epoch_req {
    int32_t leader_id;
    int32_t leader_epoch;
    int32_t preferred[RAFT_VOTERS_MAX]; /* PreferredSuccessors, best first */
    int npreferred;
} raft_end_epoch_req;

/* BeginQuorumEpoch and EndQuorumEpoch responses. */
typedef struct raft_epoch_resp {
    int16_t error;
    int32_t leader_id;
    int32_t leader_epoch;
} raft_epoch_resp;

typedef struct raft_fetch_req {
    int32_t replica_id;
    int32_t current_leader_epoch;
    int64_t fetch_offset;      /* the fetcher's durable log end */
    int32_t last_fetched_epoch;/* epoch of the entry before fetch_offset (0: none) */
} raft_fetch_req;

typedef struct raft_fetch_resp {
    int16_t error;
    int32_t leader_id;         /* CurrentLeader */
    int32_t leader_epoch;
    int64_t high_watermark;    /* -1 on error */
    int64_t log_start_offset;
    int32_t diverging_epoch;   /* DivergingEpoch: -1 when none */
    int64_t diverging_end_offset;
    raft_snapshot_id snapshot_id; /* SnapshotId: end_offset -1 when none */
    const raft_entry *entries; /* Records: borrowed */
    int nentries;
    /*
     * Not on the wire: the FetchOffset and LastFetchedEpoch of the request
     * this response answers. The core fills them when it answers; the glue
     * fills them from the request it pairs the response with (correlation
     * id). The fetcher ignores an answer to a position it has left (a late
     * or duplicated response must not truncate or append).
     */
    int64_t req_fetch_offset;
    int32_t req_last_fetched_epoch;
} raft_fetch_resp;

typedef struct raft_fetch_snapshot_req {
    int32_t replica_id;
    int32_t current_leader_epoch;
    raft_snapshot_id snapshot_id;
    int64_t position;
    int32_t max_bytes;
} raft_fetch_snapshot_req;

/*
 * The leader's core does not hold snapshot bytes: in a FETCH_SNAPSHOT_RESP
 * it SENDs, `chunk` is empty and the glue fills UnalignedRecords with the
 * `chunk_len` bytes of snapshot `snapshot_id` at `position`. A follower
 * receiving one passes the bytes in `chunk`.
 */
typedef struct raft_fetch_snapshot_resp {
    int16_t error;
    int32_t leader_id;
    int32_t leader_epoch;
    raft_snapshot_id snapshot_id;
    int64_t size;              /* the whole snapshot's size in bytes */
    int64_t position;
    int32_t chunk_len;
    raft_bytes chunk;
} raft_fetch_snapshot_resp;

typedef struct raft_msg {
    int type;                  /* enum raft_msg_type */
    union {
        raft_vote_req vote_req;
        raft_vote_resp vote_resp;
        raft_begin_epoch_req begin_req;
        raft_end_epoch_req end_req;
        raft_epoch_resp epoch_resp;    /* BEGIN_EPOCH_RESP, END_EPOCH_RESP */
        raft_fetch_req fetch_req;
        raft_fetch_resp fetch_resp;
        raft_fetch_snapshot_req snap_req;
        raft_fetch_snapshot_resp snap_resp;
    } u;
} raft_msg;

/* ---- actions ---- */

enum raft_action_kind {
    RAFT_ACT_PERSIST = 1,
    RAFT_ACT_TRUNCATE,
    RAFT_ACT_APPEND,
    RAFT_ACT_SEND,
    RAFT_ACT_COMMIT,
    RAFT_ACT_SNAPSHOT_WRITE,
    RAFT_ACT_INSTALL,
    RAFT_ACT_ROLE,
};

typedef struct raft_action {
    int kind;
    /* PERSIST; also ROLE (the new state) */
    raft_quorum_state state;
    int role;                  /* ROLE */
    /* TRUNCATE (truncate from), COMMIT (the new high watermark) */
    int64_t offset;
    /* APPEND: borrowed; report raft_durable(r, write_seq) once on disk */
    const raft_entry *entries;
    int nentries;
    uint64_t write_seq;
    /* SEND */
    int32_t to;
    raft_msg msg;
    /* SNAPSHOT_WRITE, INSTALL */
    raft_snapshot_id snapshot;
    int64_t position;
    raft_bytes bytes;
    int64_t snapshot_size;
} raft_action;

/* Actions accumulate here; the caller resets n between calls. */
typedef struct raft_actions {
    raft_action *v;
    int n, cap;
} raft_actions;
void raft_actions_reset(raft_actions *a);
void raft_actions_free(raft_actions *a);

/* ---- configuration and life cycle ---- */

typedef struct raft raft;

typedef struct raft_config {
    int32_t node_id;                  /* node.id */
    int32_t voters[RAFT_VOTERS_MAX];  /* controller.quorum.voters' ids */
    int nvoters;                      /* 1..RAFT_VOTERS_MAX */
    int32_t election_timeout_ms;      /* controller.quorum.election.timeout.ms, 1000 */
    int32_t election_backoff_max_ms;  /* controller.quorum.election.backoff.max.ms, 1000 */
    int32_t fetch_timeout_ms;         /* controller.quorum.fetch.timeout.ms, 2000 */
    int32_t request_timeout_ms;       /* controller.quorum.request.timeout.ms, 2000:
                                         resend an unanswered Fetch/Vote/Begin */
    int32_t fetch_idle_ms;            /* wait before refetching after an empty
                                         answer; 0 when the leader long-polls */
    int32_t retry_backoff_ms;         /* controller.quorum.retry.backoff.ms, 20:
                                         refetch after an error answer */
    int32_t fetch_entries_max;        /* batches per Fetch answer, 0: 64 */
    int32_t snapshot_chunk_bytes;     /* FetchSnapshot MaxBytes, 0: 1 MiB */
    uint64_t seed;                    /* the PRNG for election timeouts */
    /* The LeaderChange control batch a new leader appends (Kafka encodes a
     * LeaderChangeMessage); the core copies the bytes. NULL: empty payload. */
    raft_bytes (*leader_change_payload)(void *ctx, int32_t leader_id, int32_t epoch);
    void *ctx;
} raft_config;

void raft_config_defaults(raft_config *c); /* Kafka's defaults, no voters */

/*
 * What the node's disk holds at start: quorum-state (zeroes and
 * RAFT_NO_NODE if none), the latest snapshot (end_offset 0: none) and the
 * log from the snapshot's end offset on (entries are copied). The core takes
 * all of it as durable: the glue recovers the log (drops a torn last batch)
 * and fsyncs it before raft_new.
 */
typedef struct raft_disk {
    raft_quorum_state state;
    raft_snapshot_id snapshot;
    int64_t snapshot_size;
    const raft_entry *entries;
    int nentries;
} raft_disk;

/*
 * Create a node at time now_ms from its disk (NULL: empty). Returns NULL on a
 * bad config or an inconsistent disk (entries not contiguous from the
 * snapshot's end, epochs decreasing, epoch beyond quorum-state's).
 */
raft *raft_new(const raft_config *cfg, const raft_disk *disk, int64_t now_ms);
void raft_free(raft *r);

/* ---- inputs ---- */

/* The passage of time: election, fetch, check-quorum and resend timers. */
void raft_tick(raft *r, int64_t now_ms, raft_actions *out);
/* The earliest time raft_tick has something to do (INT64_MAX: nothing). */
int64_t raft_next_deadline_ms(const raft *r);

/* A message from node `from` (the glue decoded it). */
void raft_receive(raft *r, int32_t from, const raft_msg *msg, int64_t now_ms,
                  raft_actions *out);

/* Every APPEND with write_seq <= seq is on disk (fsync done). */
void raft_durable(raft *r, uint64_t seq, int64_t now_ms, raft_actions *out);

enum raft_propose_result {
    RAFT_PROPOSE_OK = 0,
    RAFT_PROPOSE_NOT_LEADER,   /* *leader_id tells the known leader or -1 */
    RAFT_PROPOSE_TOO_LARGE,    /* count < 1 */
};
/*
 * Leader only: append one batch of `count` records in the current epoch;
 * *offset gets its base offset. It commits when the HW passes it (COMMIT).
 */
int raft_propose(raft *r, raft_bytes payload, int32_t count, int64_t now_ms,
                 int64_t *offset, int32_t *leader_id, raft_actions *out);

/*
 * The state machine made a snapshot at `id` (end offset on an entry
 * boundary, at most the HW; epoch must be the epoch of the entry before it)
 * of `size` bytes, durable. The core drops the log before id.end_offset and
 * serves this snapshot to fetchers below it. Returns 0, -1 if id is invalid.
 */
int raft_snapshot_created(raft *r, raft_snapshot_id id, int64_t size);

/* Graceful shutdown: a leader sends EndQuorumEpoch and resigns. */
void raft_shutdown(raft *r, int64_t now_ms, raft_actions *out);

/* ---- accessors (borrowed results, no state change) ---- */

int raft_role(const raft *r);
int32_t raft_node_id(const raft *r);
int32_t raft_epoch(const raft *r);
int32_t raft_leader_id(const raft *r);      /* RAFT_NO_NODE when unknown */
int32_t raft_voted_id(const raft *r);
bool raft_is_voter(const raft *r, int32_t node_id);
int64_t raft_high_watermark(const raft *r);
int64_t raft_log_start(const raft *r);      /* the latest snapshot's end offset */
int64_t raft_log_end(const raft *r);
int64_t raft_durable_end(const raft *r);
raft_snapshot_id raft_latest_snapshot(const raft *r);
/* The epoch of the entry before `offset` (0 if none; -1 if unknown: below
 * the log start and not the snapshot's end). */
int32_t raft_epoch_before(const raft *r, int64_t offset);
/* Entries from the one containing `offset` on; NULL with n = 0 if none.
 * Borrowed: valid until the next non-accessor call. */
const raft_entry *raft_entries(const raft *r, int64_t offset, int *n);

/* DescribeQuorum (the leader's view; others fill leader/epoch/hw only). */
typedef struct raft_replica_state {
    int32_t replica_id;
    int64_t log_end_offset;          /* -1 when unknown */
    int64_t last_fetch_timestamp;    /* -1 when unknown */
    int64_t last_caught_up_timestamp;/* -1 when unknown */
} raft_replica_state;

typedef struct raft_quorum_info {
    int16_t error;                   /* NOT_LEADER_OR_FOLLOWER when not leader */
    int32_t leader_id;
    int32_t leader_epoch;
    int64_t high_watermark;
    raft_replica_state voters[RAFT_VOTERS_MAX];
    int nvoters;
    raft_replica_state observers[RAFT_OBSERVERS_MAX];
    int nobservers;
} raft_quorum_info;
void raft_describe(const raft *r, int64_t now_ms, raft_quorum_info *out);

/* Check every invariant (see raft.c's header); abort with a message if one
 * fails. Called after every input in debug builds and by the tests. */
void raft_check(const raft *r);

#endif
