/*
 * coordinator_int.h - the coordinator's internals, shared by coordinator.c
 * (registry, persistence, timers) and group_api.c (request handlers).
 * Everything here is guarded by coordinator.lock unless said otherwise.
 */
#ifndef GREGOR_GROUP_COORDINATOR_INT_H
#define GREGOR_GROUP_COORDINATOR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/topics.h"
#include "cluster/partition.h"
#include "group/coordinator.h"
#include "group/group.h"

typedef struct committed {
    char *topic;            /* owned */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;         /* owned, never NULL; NUL-terminated, but may hold NULs: */
    int32_t metadata_len;   /* the bytes committed (librdkafka counts a trailing NUL) */
    int64_t commit_ts_ms;
    int64_t expire_ts_ms;   /* -1: by offsets.retention.minutes */
} committed;

/* An offset committed inside a transaction (TxnOffsetCommit): it becomes
 * the group's committed offset when the transaction's COMMIT marker reaches
 * the group's __consumer_offsets partition, and is dropped on ABORT. */
typedef struct txn_committed {
    int64_t pid;
    committed c;
} txn_committed;

typedef struct cgroup {
    char *id;               /* owned; id_len bytes (any of them NUL), then a NUL */
    int32_t id_len;
    grp *g;                 /* owned; an offsets-only group is an Empty one */
    committed *offs;
    int noffs, capoffs;
    txn_committed *toffs;   /* pending transactional offsets */
    int ntoffs, captoffs;
    int32_t part;           /* its __consumer_offsets partition */
    int64_t empty_since_ms; /* wall clock when it last became Empty */
} cgroup;

struct coordinator {
    coord_env env;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stopping;
    cgroup **groups;        /* sorted by id */
    int n, cap;
    grp_limits lim;
    int32_t nparts;         /* offsets.topic.num.partitions */
    topic *offsets;         /* __consumer_offsets, referenced; NULL until created */
    grp_actions acts;       /* scratch for state-machine calls */
    int64_t retention_ms;
    int64_t retention_check_ms;
    int64_t next_expiry_ms;
    int32_t metadata_bytes_max;
    int64_t commit_timeout_ms;  /* offsets.commit.timeout.ms */
    /* Which groups this broker coordinates: those of the __consumer_offsets
     * partitions it leads, loaded from their logs. own[i] is the leader
     * epoch partition i was loaded at, -1 when another broker leads it. */
    int32_t *own;
    int32_t nown;
    atomic_bool moved;      /* leadership changed somewhere: reconcile */
};

#define COORD_TOPIC "__consumer_offsets"

cgroup *coord_group_find(coordinator *c, const char *id, int32_t id_len);
cgroup *coord_group_get_or_create(coordinator *c, const char *id, int32_t id_len);
void coord_group_remove(coordinator *c, cgroup *cg);
/* Execute and clear c->acts for group cg (responses, persistence, logs). */
void coord_run_actions(coordinator *c, cgroup *cg);
/* Ensure __consumer_offsets exists; 0 or a Kafka error code. */
int16_t coord_ensure_topic(coordinator *c);
/* Does this broker coordinate group gid? KERR_NONE, NOT_COORDINATOR (its
 * partition is led elsewhere) or COORDINATOR_NOT_AVAILABLE (no topic yet;
 * with create false, KERR_NONE then: the group does not exist anywhere,
 * and the topic is not asked for). */
int16_t coord_owner_check(coordinator *c, const char *gid, int32_t gid_len, bool create);
/* Wake the timer thread (deadlines may have moved). */
void coord_kick(coordinator *c);

committed *coord_offset_find(cgroup *cg, const char *tname, int tname_len, int32_t pidx);
/* Append records for these commits and apply them; *end receives the log
 * end to wait for. Returns 0 or a Kafka error. */
typedef struct commit_in {
    const char *topic;
    int topic_len;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    const char *metadata;
    int metadata_len;       /* -1: null */
    bool commit_ts_set;     /* OffsetCommit v1: the client's commit timestamp */
    int64_t commit_ts_ms;
} commit_in;
int16_t coord_commit(coordinator *c, cgroup *cg, const commit_in *in, int n, int64_t now_ms,
                     int64_t expire_ts_ms, int64_t *end_offset, partition **log_out);
/* TxnOffsetCommit: the records go to __consumer_offsets as a transactional
 * batch of producer pid/epoch and the offsets wait for the marker. */
int16_t coord_txn_commit(coordinator *c, cgroup *cg, int64_t pid, int16_t epoch, const commit_in *in, int n,
                         int64_t now_ms, int64_t *end_offset, partition **log_out, char *why, size_t why_len);
/* Is an offset of this partition waiting for a transaction to end? */
bool coord_txn_pending(cgroup *cg, const char *tname, int tname_len, int32_t pidx);
/* Tombstones for the given offsets (or all when n < 0) of cg. */
int16_t coord_delete_offsets(coordinator *c, cgroup *cg, const commit_in *which, int n,
                             int64_t *end_offset, partition **log_out);
/* Tombstone for the group metadata and all offsets; removes cg. */
int16_t coord_delete_group(coordinator *c, cgroup *cg);

/* Consumer protocol: does a member's subscription name this topic? */
bool coord_subscription_has(const uint8_t *p, int32_t len, const char *tname, int tname_len);


#endif
