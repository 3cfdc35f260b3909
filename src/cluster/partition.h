/*
 * partition.h - one partition of a topic (or the metadata log): the only
 * path that writes its log, and the only place that says which of its
 * offsets are visible and which are durable.
 *
 * A partition owns, besides its log:
 * - the leader epoch stamped on every batch it appends;
 * - the producer state (producers.h): the sequence check of an idempotent
 *   batch runs under the partition's lock together with the append, on
 *   whatever thread appends (a reactor or an append lane), so two copies
 *   of a retried batch can never both pass it;
 * - the high watermark (what read_uncommitted consumers may see) and the
 *   last stable offset (what read_committed consumers may see). On one
 *   node the high watermark is the log end: a replicated partition will
 *   move it when the in-sync replicas have the data, here, without another
 *   rewrite of its callers;
 * - durability: partition_wait_durable() answers when an offset is on disk
 *   (the flusher's group commit).
 *
 * Writers: produce (partition_append with client batches), the group
 * coordinator (__consumer_offsets records), the metadata log
 * (__cluster_metadata) and, later, the transaction coordinator (markers).
 *
 * Threads: any. The lock is held for the check and the append's write()
 * (the page-cache copy), never for an fsync.
 */
#ifndef GREGOR_CLUSTER_PARTITION_H
#define GREGOR_CLUSTER_PARTITION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/producers.h"
#include "net/reactor.h"
#include "storage/log.h"

#define PARTITION_REACTORS_MAX 64
#define PART_REPLICAS_MAX 16

/* What the leader knows of one follower (Kafka's ReplicaState). */
typedef struct part_follower {
    int32_t id;
    int64_t leo;                 /* its log end: the offset of its last fetch (-1: not heard of) */
    int64_t caught_up_ms;        /* when it last had all the leader had (mono; 0: never) */
    int64_t last_fetch_ms;       /* Kafka's lastFetchTimeMs */
    int64_t last_fetch_leader_end; /* the leader's log end then (lastFetchLeaderLogEndOffset) */
} part_follower;

typedef struct part_hw_waiter part_hw_waiter;

struct topic;
struct flusher;
typedef struct partition partition;

/* What a partition needs from the node it lives in; borrowed, outlives it. */
typedef struct partition_env {
    struct flusher *flusher;
    /* After every append (fetch long-poll wake-ups); may be NULL. */
    void (*appended)(void *ctx, partition *p);
    void *ctx;
} partition_env;

struct partition {
    struct topic *topic;       /* borrowed back pointer; NULL for the metadata log */
    const char *name;          /* the topic's name, borrowed */
    int32_t index;
    plog *log;                 /* owned by the log manager */
    int32_t leader_epoch;
    int32_t partition_epoch;
    atomic_bool leads;         /* this broker is its leader (the metadata image says so) */
    const partition_env *env;
    atomic_llong unflushed_msgs;          /* records appended since the last flush */
    atomic_int lane_pending;              /* appends queued on an append lane, not done */
    int64_t last_flush_ms;                /* housekeeping's flush.ms clock (main thread) */
    atomic_int fetch_waiters[PARTITION_REACTORS_MAX]; /* parked fetches per reactor */
    /* The log cleaner's (cleaner.h): where the part not cleaned yet starts
     * (-1: not known yet), the earliest delete horizon (tombstones, empty
     * transactions' markers) it left behind (-1: none), and whether a
     * cleaner thread holds the log now. */
    atomic_llong clean_offset;
    atomic_llong clean_horizon_ms;
    atomic_bool cleaning;

    /* Guarded by lock. */
    pthread_mutex_t lock;
    producers *producers;
    int64_t snapshot_offset;   /* latest producer-state snapshot, -1 if none */
    struct part_open_txn *open_txns; /* (producer id, first offset) of open transactions */
    int nopen, capopen;
    struct part_aborted *aborted;    /* aborted transactions, by last offset (.txnindex) */
    int naborted, capaborted;
    /* The first offset of the oldest open transaction, -1 when none; read
     * without the lock by fetches (the last stable offset). */
    atomic_llong first_unstable;

    /* Replication (a cluster's partition with several replicas; guarded by
     * lock but hw, read by fetches without it). */
    atomic_llong hw;           /* the high watermark; -1: one copy, the log end is the HW */
    int32_t self;              /* this broker */
    bool replicated;
    bool leader;               /* this broker leads it (the replication view of `leads`) */
    int32_t isr[PART_REPLICAS_MAX]; /* the ISR in the committed image */
    int nisr;
    /* Followers this leader asked the controller to add to the ISR, not
     * yet in the image: the high watermark waits for them too (Kafka's
     * "maximal ISR", KIP-497), or the controller could name one of them
     * leader without records this leader acknowledged meanwhile. */
    int32_t isr_adding[PART_REPLICAS_MAX];
    int nisr_adding;
    part_follower followers[PART_REPLICAS_MAX]; /* the other replicas */
    int nfollowers;
    part_hw_waiter *hw_waiters;  /* acks=all appends waiting for the HW */
    struct epochs *epochs;       /* the leader-epoch cache, built when first needed */
    bool epochs_built;
};

typedef struct part_open_txn {
    int64_t pid, first;
} part_open_txn;

/* Kafka's AbortedTxn, as in the .txnindex files. */
typedef struct part_aborted {
    int64_t pid;
    int64_t first;       /* the transaction's first offset in this partition */
    int64_t last;        /* its abort marker's offset */
    int64_t lso;         /* the last stable offset once it was aborted */
} part_aborted;

/*
 * Wrap an open log (recovered by plog_open): load the producer state from
 * the latest snapshot and the log after it. tp NULL: the metadata log (no
 * producer state). clean: the last shutdown was clean. why gets a sentence
 * when loading had to skip a damaged snapshot.
 */
partition *partition_open(struct topic *tp, const char *name, int32_t index, plog *log,
                          int32_t leader_epoch, const partition_env *env, bool clean, char *why,
                          size_t why_len);
/* Free the partition, not its log (the log manager closes that). */
void partition_free(partition *p);
/* Clean shutdown: write the producer-state snapshot at the log end. */
int partition_checkpoint(partition *p);

/* The result of an append. */
typedef struct part_result {
    int log_rc;          /* LOG_OK, or plog_append's failure */
    int16_t error;       /* a Kafka error code for a refused batch, else 0 */
    char why[256];       /* what was refused and why */
    bool duplicate;      /* a retried batch already in the log: not written again */
    int64_t first, last; /* offsets of the first and last record (the original's if duplicate) */
    int64_t log_start;
} part_result;

/*
 * Append validated batches lying back to back in buf (len bytes): check
 * every batch with a producer id against the producer state, then patch
 * baseOffset and the leader epoch and write them (plog_append). A duplicate
 * answers the original's offsets and writes nothing; a refusal writes
 * nothing. On success parked fetches are woken.
 */
enum part_origin {
    PART_ORIGIN_CLIENT = 0,     /* produce: sequence numbers are checked */
    PART_ORIGIN_COORDINATOR,    /* the broker's own records: only the epoch is */
};
void partition_append(partition *p, uint8_t *buf, size_t len, int64_t now_ms, int origin,
                      part_result *out);

/*
 * A follower's append: the leader's batches (validated by the caller) go
 * to the log unchanged, offsets and leader epochs kept (storage/log.h's
 * plog_append_as_follower). The producer state is not maintained here
 * yet: it is rebuilt from the log when the partition is opened.
 */
void partition_append_follower(partition *p, uint8_t *buf, size_t len, int64_t now_ms, part_result *out);

/*
 * Write a transaction marker (a control batch: COMMIT or ABORT) for
 * producer pid at epoch, from the transaction coordinator. Ends the
 * producer's open transaction here; an abort is added to the aborted index.
 * An epoch older than the producer's is refused (INVALID_PRODUCER_EPOCH),
 * as is a coordinator epoch older than the last marker's
 * (TRANSACTION_COORDINATOR_FENCED). tv is the transaction's version
 * (WriteTxnMarkers v2's transaction_version): a V2 marker (tv >= 2) carries
 * the epoch its EndTxn bumped to, so one at the producer's own epoch while
 * its transaction is open is refused too, as Kafka 4.4 does (the same
 * epoch with nothing open is a marker written again: allowed).
 */
void partition_write_marker(partition *p, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
                            bool commit, int16_t tv, int64_t now_ms, part_result *out);

/*
 * The aborted transactions a read_committed fetch of [from, to) must list:
 * those whose range overlaps it. Up to max go to out; returns how many
 * there are in all (call again with more room if that is larger).
 */
int partition_aborted_txns(partition *p, int64_t from, int64_t to, part_aborted *out, int max);
/*
 * The cleaner is about to remove the ABORT marker at offset marker of
 * producer pid (its records went in an earlier pass): forget the aborted
 * transaction, so read_committed fetches stop listing it. Listed without its
 * marker, it would make a client skip the producer's later committed
 * batches. Called before the marker's segment is swapped out; until then the
 * marker alone, unlisted, is ignored by clients.
 */
void partition_aborted_forget(partition *p, int64_t pid, int64_t marker);

/*
 * Read the whole log, batch by batch (the coordinators' load at start-up):
 * fn gets each batch's bytes with its offset. Stops at fn's first non-zero.
 * Returns 0, fn's value, or -1 when the log could not be read (logged).
 */
int partition_scan(partition *p, int (*fn)(void *arg, const uint8_t *batch, size_t len), void *arg);

/* Where `epoch` ends in this log (Kafka's endOffsetFor on the leader-epoch
 * cache, cluster/epochs.h: the first offset of a later epoch, or the log
 * end) with the largest epoch <= it in *epoch_out; -1 when unknown. The
 * cache is built from the batch headers the first time (not persisted
 * yet). And the epoch of the last batch (-1: empty). */
int64_t partition_epoch_end(partition *p, int32_t epoch, int32_t *epoch_out);
int32_t partition_last_epoch(partition *p);

/* Copies of the producer entries (DescribeProducers); *out malloc'd. */
int partition_producers(partition *p, prod_entry **out);

/* Offsets below this are visible to read_uncommitted readers: the log end
 * for a partition with one copy; with replicas, what every ISR member has. */
int64_t partition_high_watermark(partition *p);

/*
 * Replication. The publisher sets the replicas and the ISR as the image
 * says (self: this broker; leads: it is the leader). On the leader, each
 * follower's fetch reports its log end (Kafka's ReplicaState); the high
 * watermark is the smallest log end in the ISR (leader included) and never
 * goes back; acks=all appends wait for it. A follower takes the leader's
 * high watermark from its fetch answers (bounded by its own log end).
 */
void partition_set_replicas(partition *p, int32_t self, const int32_t *replicas, int nreplicas, const int32_t *isr,
                            int nisr, bool leads);
/* The ISR's size and (replicas not NULL) the replica count; 1 and 1 for a
 * partition with one copy. */
int partition_isr_size(partition *p, int *replicas);
/* Shutdown: every acks=all append still waiting is answered NOT_LEADER. */
void partition_fail_hw_waiters(partition *p);
void partition_follower_fetched(partition *p, int32_t id, int64_t offset, int64_t now_ms);
void partition_follower_hw(partition *p, int64_t leader_hw);
/* A follower cut its log back: its high watermark is no more than the end. */
void partition_follower_truncated(partition *p);
#define PART_WAIT_NOT_LEADER (-200)
#define PART_WAIT_TIMEOUT (-201)
/* Call fn(r, arg, rc) on reactor r (NULL: on the thread that moves the
 * high watermark, holding no lock) once the high watermark passes offset
 * (rc LOG_OK), when this broker stops leading (PART_WAIT_NOT_LEADER), or
 * at deadline_ms (mono; PART_WAIT_TIMEOUT, by partition_isr_check). */
void partition_wait_hw(partition *p, int64_t offset, int64_t deadline_ms, reactor *r,
                       void (*fn)(reactor *r, void *arg, int rc), void *arg);
/* The leader's periodic check: waiters past their deadline are answered,
 * and the ISR it wants (members caught up within lag_max_ms, others that
 * reached the high watermark) goes to out; true when it differs from the
 * committed ISR (AlterPartition is due). Those it adds count for the high
 * watermark from now until the image changes or the next check. A broker
 * in `ineligible` (fenced or shutting down, KIP-841) is never added: its
 * last fetch may look caught up, but it is gone. */
bool partition_isr_check(partition *p, int64_t now_ms, int64_t lag_max_ms, const int32_t *ineligible,
                         int nineligible, int32_t *out, int *nout);
/* Offsets below this are visible to read_committed readers. */
int64_t partition_last_stable_offset(partition *p);

/* Call fn on reactor r (or on the flusher's thread when r is NULL) once
 * everything below offset is on disk; rc is LOG_OK or the flush error. */
void partition_wait_durable(partition *p, int64_t offset, reactor *r,
                            void (*fn)(reactor *r, void *arg, int rc), void *arg);

/* acks=all for the coordinators' own writes: durable, then (a replicated
 * partition) under the high watermark; rc as partition_wait_hw's. With r
 * NULL fn runs on whichever thread completes the wait, holding no lock. */
void partition_wait_acked(partition *p, int64_t offset, int64_t deadline_ms, reactor *r,
                          void (*fn)(reactor *r, void *arg, int rc), void *arg);

/* producer.id.expiration.ms: forget producers idle that long. */
int partition_expire_producers(partition *p, int64_t now_ms, int64_t max_idle_ms);
/* The cleaner merged segments: drop producer snapshots below offset
 * (Kafka removes those of segments that are gone), keeping the latest. */
void partition_snapshots_trim(partition *p, int64_t below);
/* retention.ms / retention.bytes (plog_enforce_retention) under the
 * partition's lock; returns the segments removed (snapshots below the new
 * start go too). */
int partition_enforce_retention(partition *p, int64_t now_ms);
/* Retention moved the log start: drop snapshots below it. */
void partition_log_start_moved(partition *p);

#endif
