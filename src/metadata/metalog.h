/*
 * metalog.h - the metadata log: where the controller's records go, and how
 * committed records reach the image and the listeners.
 *
 * A change - a topic created or deleted, partitions added, a config set, a
 * producer-id block - is decided by the controller (controller/controller.h),
 * which turns it into Kafka metadata records; they are appended as one batch
 * to the `__cluster_metadata-0` log. A record is applied to the committed
 * image (controller/image.h) only once it is committed - on this one-voter
 * quorum, once it is durable (the flusher's fsync) - and then the listeners
 * run with the image and what changed (an mdelta): the broker's publisher
 * opens and deletes partition logs, copies configs, tells the coordinators
 * (broker/publisher.c). Callers answer their clients from
 * metalog_wait_applied, so a client that was told "created" finds the topic.
 * At start-up the log is replayed from the beginning through the same
 * apply-and-publish path.
 *
 * Threads: writes from any thread (one mutex orders them: the controller is
 * single-writer); the apply-and-publish runs on the metadata thread (or on
 * the caller's thread before metalog_start, and during replay). The image is
 * read under metalog_read_lock.
 */
#ifndef GREGOR_METADATA_METALOG_H
#define GREGOR_METADATA_METALOG_H

/* The metadata log's topic; its one partition lives in the log directory. */
#define METALOG_TOPIC "__cluster_metadata"

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "cluster/partition.h"
#include "controller/controller.h"
#include "controller/image.h"
#include "metadata/quorum.h"
#include "net/reactor.h"
#include "storage/log.h"
#include "storage/logmgr.h"

typedef struct metalog metalog;

/* A listener: runs after each committed batch is applied, on the metadata
 * thread (during replay: the replaying thread), the image stable meanwhile.
 * A non-zero return stops a replay (start-up fails with err); on the live
 * path it is logged. */
typedef int (*metalog_listener_fn)(void *ctx, const mimage *im, const mdelta *d, char *err, size_t errlen);

/*
 * Snapshots (Kafka's KRaft snapshots, KIP-630): the committed image is
 * written as a <end offset>-<epoch>.checkpoint file in the metadata log's
 * directory (metadata/snapfile.h) once snapshot_max_bytes of record batches
 * were applied since the last one (metadata.log.max.record.bytes.between.
 * snapshots), or snapshot_interval_ms after the first record not in one
 * (metadata.log.max.snapshot.interval.ms; 0: never by time). The log's
 * segments wholly before it are then deleted; a start loads the latest
 * snapshot and reads the log from its end; a cluster node too far behind
 * the leader fetches the leader's snapshot (FetchSnapshot) and installs it.
 */
typedef struct metalog_config {
    int32_t segment_bytes;          /* metadata.log.segment.bytes */
    int64_t snapshot_max_bytes;
    int64_t snapshot_interval_ms;
} metalog_config;

/* Open <dir>/__cluster_metadata-0 (recovering it as every log). Nothing is
 * applied until metalog_replay. node_id: this node (the controller). */
metalog *metalog_open(logmgr *logs, const partition_env *env, bool clean, int32_t node_id,
                      const metalog_config *cfg, char *err, size_t errlen);
void metalog_add_listener(metalog *m, metalog_listener_fn fn, void *ctx);
/* Load the latest snapshot, then replay the log from its end into the
 * image, publishing each batch. */
int metalog_replay(metalog *m, char *err, size_t errlen);
/*
 * A cluster: the log is replicated by a Raft quorum (quorum.h) instead of
 * being committed by this node's fsync alone. Instead of metalog_replay:
 * the image is built as the quorum commits (from the log's start, after
 * every restart: the high watermark is learned from the leader), and this
 * node's controller writes only while it is the quorum's leader, once the
 * image has caught up with the log it leads (Kafka's active controller).
 * Other nodes' writes answer KERR_NOT_CONTROLLER (the caller forwards).
 */
typedef struct metalog_cluster {
    reactor *r;                 /* the quorum's reactor */
    flusher *flusher;
    const char *cluster_id;
    const quorum_voter *voters;
    int nvoters;
    raft_config timeouts;       /* raft_config_defaults + the controller.quorum.* keys */
} metalog_cluster;
int metalog_join_quorum(metalog *m, const metalog_cluster *c, char *err, size_t errlen);
/* The quorum (NULL on a single node). */
quorum *metalog_quorum(metalog *m);
/* The active controller's node id as this node knows it (-1: unknown);
 * this node on a single node. */
int32_t metalog_controller_id(metalog *m);
/* A metalog_wait_applied rc: the write was not committed by this
 * controller (it lost the leadership first); the client should retry. */
#define METALOG_NOT_CONTROLLER (-100)

/* Start the metadata thread: from now on commits are applied there. */
int metalog_start(metalog *m, char *err, size_t errlen);
/* Stop the metadata thread after it applied what is committed (call after
 * the flusher's last flush); waiters left get an error. */
void metalog_stop(metalog *m);
/* metalog_stop if needed, and free. */
void metalog_close(metalog *m);

plog *metalog_plog(metalog *m);
partition *metalog_partition(metalog *m);

/* The committed image: valid between lock and unlock. */
void metalog_read_lock(metalog *m);
void metalog_read_unlock(metalog *m);
const mimage *metalog_image(metalog *m);

/*
 * Call fn(r, arg, rc) on reactor r once the records up to offset
 * (exclusive) are applied and published; rc is LOG_OK or the flush error.
 * r NULL: fn runs on the metadata thread. fn NULL: block until then
 * (not from the metadata thread or a listener).
 */
void metalog_wait_applied(metalog *m, int64_t offset, reactor *r, void (*fn)(reactor *r, void *arg, int rc),
                          void *arg);

/* Topic config checks, for the controller and the handlers. */
int16_t metalog_check_configs(const ctl_config *cfgs, int ncfgs, char *msg, size_t msglen);

/*
 * Changes. Each returns a Kafka error code (0 on success) with msg saying
 * why, and in *end_offset the offset to hand to metalog_wait_applied (-1
 * when nothing was written, as for validate_only).
 */
int16_t metalog_create_topic(metalog *m, const char *name, int32_t nparts, int16_t rf,
                             const ctl_assignment *assignments, const ctl_config *cfgs, int ncfgs,
                             bool validate_only, kp_uuid *id_out, int64_t *end_offset, char *msg, size_t msglen);
int16_t metalog_delete_topic(metalog *m, kp_uuid id, int64_t *end_offset, char *msg, size_t msglen);
int16_t metalog_create_partitions(metalog *m, const char *name, int32_t new_total,
                                  const ctl_assignment *assignments, int nassignments, bool validate_only,
                                  int64_t *end_offset, char *msg, size_t msglen);
int16_t metalog_set_topic_configs(metalog *m, const char *name, const ctl_config *cfgs, int ncfgs,
                                  int64_t *end_offset, char *msg, size_t msglen);
/* UpdateFeatures (controller_update_features). A new cluster's first
 * active controller, finding the log empty, writes the bootstrap records
 * itself (controller_bootstrap): a single node at metalog_replay, a
 * cluster's first leader once it takes over. */
int16_t metalog_update_features(metalog *m, const ctl_feature_update *u, int n, bool validate_only,
                                int64_t *end_offset, char *msg, size_t msglen);
/*
 * Brokers (the controller's side of BrokerRegistration and BrokerHeartbeat,
 * controller/controller.h). A registration answers once committed; a
 * heartbeat's records (unfence, controlled shutdown) likewise, through
 * *end_offset. A broker is caught up (may be unfenced) once its metadata
 * offset reaches the end of its registration record.
 */
int16_t metalog_register_broker(metalog *m, const ctl_registration *r, bool unfenced, int64_t *epoch,
                                int64_t *end_offset, char *msg, size_t msglen);
int16_t metalog_broker_heartbeat(metalog *m, int32_t id, int64_t epoch, int64_t metadata_offset, bool want_fence,
                                 bool want_shutdown, bool *fenced, bool *shutdown, int64_t *end_offset);
/* The active controller's side of a broker's heartbeat connection closing
 * (controller_broker_disconnected); nothing on other nodes. */
void metalog_broker_disconnected(metalog *m, int32_t id, int64_t session_ms, int64_t grace_ms);
/* controller_set_takeover_grace, for whenever this node becomes active. */
void metalog_set_takeover_grace(metalog *m, int64_t grace_ms);
void metalog_set_unclean_default(metalog *m, bool enable);
/* The active controller's auto leader rebalance (controller_rebalance_leaders). */
void metalog_rebalance_leaders(metalog *m, int pct);
/* AlterPartition from a partition's leader (controller_alter_partition). */
int16_t metalog_alter_partition(metalog *m, int32_t broker_id, int64_t broker_epoch, kp_uuid topic_id,
                                int32_t index, int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                                int nisr, ctl_partition_state *st, int64_t *end_offset);
/* ElectLeaders for one partition (controller_elect_leader). */
int16_t metalog_elect_leader(metalog *m, kp_uuid topic_id, int32_t index, bool unclean, int64_t *end_offset,
                             char *msg, size_t msglen);
/* AlterPartitionReassignments for one partition (controller_reassign). */
int16_t metalog_reassign(metalog *m, kp_uuid topic_id, int32_t index, const int32_t *target, int ntarget,
                         bool allow_rf_change, int64_t *end_offset, char *msg, size_t msglen);
/* The active controller fences the brokers whose session expired. */
void metalog_expire_sessions(metalog *m, int64_t session_ms);
/* This node's controller is the active one. */
bool metalog_is_active(metalog *m);
/* Records below this offset are applied to the image (a broker's
 * CurrentMetadataOffset). */
int64_t metalog_applied(metalog *m);
/* The latest snapshot's id (end_offset 0: none). */
raft_snapshot_id metalog_snapshot_id(metalog *m);

/*
 * Producer ids come in blocks recorded in the metadata log (Kafka's
 * ProducerIdsRecord, NextProducerId = the first id after the block), so an
 * id is never handed out twice, across restarts too. The block
 * [*first_out, *first_out + count) may be used once *end_offset is applied.
 */
int16_t metalog_allocate_producer_ids(metalog *m, int32_t count, int64_t *first_out, int64_t *end_offset);

#endif
