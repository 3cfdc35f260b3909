/*
 * quorum.h - the Raft core (raft/raft.h) wired to the disk and the network:
 * the replicated metadata log of a cluster.
 *
 * The core decides; this file carries out its actions. quorum-state goes to
 * <partition dir>/quorum-state (Kafka's JSON, written and fsynced before any
 * message that depends on it), entries to the __cluster_metadata-0 log (one
 * record batch each, fsynced by the flusher, reported back as durable),
 * messages to the other nodes through one outbound client per peer
 * (net/client.h, on the quorum's own reactor) in Kafka's RPCs (raftwire.h).
 * Requests from peers arrive on the controller listener and are stepped at
 * once; a Fetch with nothing new waits (long poll) until the leader appends
 * or its high watermark moves, or MaxWaitMs passes. The committed entries
 * and role changes go up to the metadata layer through the env callbacks.
 *
 * Threads: one mutex serialises every call into the core, whichever thread
 * it comes from (a reactor answering a peer, the flusher reporting a sync,
 * the quorum reactor's tick and client callbacks, a controller proposing).
 * The env callbacks run under it: they must not call back into the quorum.
 */
#ifndef GREGOR_METADATA_QUORUM_H
#define GREGOR_METADATA_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/flusher.h"
#include "net/reactor.h"
#include "proto/codec.h"
#include "raft/raft.h"
#include "storage/log.h"

typedef struct quorum quorum;

typedef struct quorum_voter {
    int32_t id;
    char host[256];
    int port;
} quorum_voter;

typedef struct quorum_env {
    plog *log;                 /* __cluster_metadata-0 */
    flusher *flusher;
    reactor *r;                /* the quorum's reactor (timers, clients) */
    const char *cluster_id;
    /* Entries committed, in order; hw the new high watermark. */
    void (*on_commit)(void *ctx, const raft_entry *e, int n, int64_t hw);
    /* The role changed; log_end: the leader's log end at that moment. */
    void (*on_role)(void *ctx, int role, int32_t epoch, int32_t leader, int64_t log_end);
    /* A snapshot downloaded from the leader is in place at path (durable,
     * the log emptied to start at its end): the image becomes its contents. */
    void (*on_install)(void *ctx, raft_snapshot_id id, const char *path);
    void *ctx;
    /* The latest snapshot on disk (end_offset 0: none), loaded by the
     * metadata layer before quorum_new; the log is read from its end. */
    raft_snapshot_id snapshot;
    int64_t snapshot_size;
} quorum_env;

/* Parse controller.quorum.voters ("1@host:port,2@host:port"): the number of
 * voters, or -1 with err. */
int quorum_parse_voters(const char *s, quorum_voter *out, int max, char *err, size_t errlen);

/*
 * Read quorum-state and the log into a new core (cfg: timeouts and seed
 * set, node id and voters filled here from the arguments). The core starts
 * stepping once quorum_start runs.
 */
quorum *quorum_new(const quorum_env *env, int32_t node_id, const quorum_voter *voters, int nvoters,
                   const raft_config *timeouts, char *err, size_t errlen);
/* Connect to the peers and start ticking (on env->r, which must run). */
int quorum_start(quorum *q);
/* Graceful: a leader resigns with EndQuorumEpoch; then the clients close. */
void quorum_stop(quorum *q);
void quorum_free(quorum *q);

/*
 * A request from a peer (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch of
 * __cluster_metadata, FetchSnapshot). done(arg, body, len) is called once
 * with the response body - now, or later from another thread for a long
 * poll (the caller moves it to the connection's reactor).
 */
typedef void (*quorum_done_fn)(void *arg, const uint8_t *body, size_t len);
void quorum_handle(quorum *q, int16_t api_key, int16_t version, kp_reader *body, quorum_done_fn done, void *arg);

/* Leader only: append one batch of count records (payload: a whole record
 * batch). 0 and *end (base offset + count); -1 when not the leader. */
int quorum_propose(quorum *q, const uint8_t *batch, size_t len, int32_t count, int64_t *end);

/*
 * Send a request body (api_key/version, encoded by someone else) to voter
 * `to` and call fn(arg, status, body, len) with its response body (status
 * CLIENT_OK) or an error (net/client.h's statuses, or -100: no such voter),
 * on the quorum reactor. Forwarding to the active controller uses it.
 */
typedef void (*quorum_forward_fn)(void *arg, int status, const uint8_t *body, size_t len);
void quorum_forward(quorum *q, int32_t to, int16_t api_key, int16_t version, const uint8_t *body, size_t len,
                    quorum_forward_fn fn, void *arg);

/* The metadata layer wrote snapshot id (size bytes, durable, in the log's
 * directory): the core serves it to fetchers behind it and the log before
 * its end is dropped. 0, or -1 when the core refuses the id. */
int quorum_snapshot_created(quorum *q, raft_snapshot_id id, int64_t size);
/* The epoch of the entry before offset (-1: unknown). */
int32_t quorum_epoch_before(quorum *q, int64_t offset);

/* The leader as this node knows it (-1: none), its epoch, our role. */
void quorum_leader(quorum *q, int32_t *leader, int32_t *epoch, int *role);
/* DescribeQuorum (the leader's view). */
void quorum_describe(quorum *q, raft_quorum_info *out);
int32_t quorum_node_id(const quorum *q);

#endif
