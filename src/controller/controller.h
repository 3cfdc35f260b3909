/*
 * controller.h - the controller: decides metadata changes and writes them
 * as records.
 *
 * Admin requests (create/delete topics, add partitions, set configs,
 * producer-id blocks) are checked against the controller's own image and,
 * when accepted, become metadata records in an mrec_list for the caller to
 * append to the metadata log. The controller applies its records to its
 * image at once (as Kafka's active controller does), so the next request
 * sees them before they are committed; when it stops being the active
 * controller its image is reset to the committed one (controller_reset),
 * dropping whatever it wrote that never committed. Replica placement of new
 * partitions is here too: round robin over the unfenced registered brokers,
 * alternating racks (Kafka's rack-aware assignment), from a random start.
 *
 * Pure: no I/O, no clock, no randomness of its own (the caller seeds it),
 * no globals; not thread-safe (the metadata layer holds its lock).
 */
#ifndef GREGOR_CONTROLLER_CONTROLLER_H
#define GREGOR_CONTROLLER_CONTROLLER_H

#include <stdint.h>

#include "controller/image.h"
#include "controller/mrec.h"

typedef struct controller controller;

/* A topic config assignment (value NULL: remove the override). */
typedef struct ctl_config {
    const char *name;
    const char *value;
} ctl_config;

/* An explicit replica assignment of one partition (CreateTopics'
 * assignments, CreatePartitions' assignments). */
typedef struct ctl_assignment {
    const int32_t *brokers;
    int n;
} ctl_assignment;

/* node_id: this controller's node, also the broker of a single node that
 * has registered no broker (a one-node log written before registration). */
controller *controller_new(int32_t node_id, uint64_t seed);
/* A controller of a cluster: no fallback to its own node when no broker
 * has registered (new partitions then need registered brokers, as in
 * Kafka: "only 0 broker(s) are registered"). */
void controller_set_cluster(controller *c);
void controller_free(controller *c);
/* The image the controller decides against (its own, possibly ahead of the
 * committed one). */
const mimage *controller_image(const controller *c);
/* Replace the controller's image by a copy of committed. -1: out of memory. */
int controller_reset(controller *c, const mimage *committed);
/* Apply records that someone else wrote (replay at start-up, a follower
 * catching up): the image follows the log. */
int controller_replay(controller *c, const uint8_t *val, int32_t len, char *err, size_t errlen);

/* A config check hook: 0 (KERR_NONE) or a Kafka error code with a message.
 * Set by the caller; NULL accepts every config. */
typedef int16_t (*ctl_config_check_fn)(const ctl_config *cfgs, int n, char *msg, size_t msglen);
void controller_set_config_check(controller *c, ctl_config_check_fn fn);

/*
 * Each returns a Kafka error code (0 on success) with msg saying why, and on
 * success appends its records to out (and applies them to the controller's
 * image). assignments (NULL: placed here) has nparts entries.
 */
int16_t controller_create_topic(controller *c, const char *name, int32_t nparts, int16_t rf,
                                const ctl_assignment *assignments, const ctl_config *cfgs, int ncfgs,
                                bool validate_only, kp_uuid *id_out, mrec_list *out, char *msg, size_t msglen);
int16_t controller_delete_topic(controller *c, kp_uuid id, mrec_list *out, char *msg, size_t msglen);
int16_t controller_create_partitions(controller *c, const char *name, int32_t new_total,
                                     const ctl_assignment *assignments, int nassignments, bool validate_only,
                                     mrec_list *out, char *msg, size_t msglen);
int16_t controller_set_topic_configs(controller *c, const char *name, const ctl_config *cfgs, int ncfgs,
                                     mrec_list *out, char *msg, size_t msglen);
/* A block [*first, *first + count) of producer ids. */
int16_t controller_allocate_producer_ids(controller *c, int32_t broker_id, int32_t count, int64_t *first,
                                         mrec_list *out);

/* ---- finalized features (controller/features.h) ---- */

typedef struct ctl_feature_update {
    const char *name;         /* name_len bytes, not NUL-terminated */
    int name_len;
    int16_t level;            /* 0: not finalized */
    int8_t upgrade_type;      /* FEATURE_UPGRADE, FEATURE_SAFE_DOWNGRADE, FEATURE_UNSAFE_DOWNGRADE */
} ctl_feature_update;

/*
 * UpdateFeatures (Kafka's FeatureControlManager.updateFeatures): the
 * updates as Kafka's map of them - the last one of a feature named twice
 * wins - each checked against the image (features_check_update). The first
 * refused one refuses them all: INVALID_UPDATE_VERSION, msg its reason,
 * nothing written. Else one FeatureLevelRecord per feature (also at the
 * level it has: the finalized epoch moves, as in Kafka), unless
 * validate_only.
 */
int16_t controller_update_features(controller *c, const ctl_feature_update *u, int n, bool validate_only,
                                   mrec_list *out, char *msg, size_t msglen);
/* The records a new cluster's metadata log starts with, written by its
 * first active controller into an empty log (Kafka's bootstrap metadata,
 * from `kafka-storage format`): every known feature at its bootstrap
 * level. A log that has records never gets them (an upgraded cluster keeps
 * what it had: transaction.version 0, as Kafka). */
void controller_bootstrap(controller *c, mrec_list *out);

/* ---- brokers: registration, heartbeats, fencing ---- */

typedef struct ctl_registration {
    int32_t id;
    kp_uuid incarnation;
    const mi_endpoint *eps;   /* the broker's listeners */
    int neps;
    const char *rack;         /* NULL: none */
} ctl_registration;

/*
 * A broker (re)registers: a RegisterBrokerRecord with a new broker epoch
 * (one above every epoch the image holds), fenced unless `unfenced` (a
 * single node registers itself unfenced). *epoch_out: its epoch. The same
 * incarnation registering again gets its current epoch back and nothing is
 * written (a retried request).
 */
int16_t controller_register_broker(controller *c, const ctl_registration *r, bool unfenced, int64_t now_ms,
                                   int64_t *epoch_out, mrec_list *out, char *msg, size_t msglen);
/*
 * A heartbeat from broker id at epoch: its session is renewed. A fenced
 * broker whose metadata offset has reached `caught_up_offset` (the log end
 * when it registered) is unfenced, and leads again the partitions left
 * without a leader whose ISR holds it. want_shutdown: controlled shutdown -
 * it is fenced, its leaderships move. Answers: STALE_BROKER_EPOCH for an
 * unknown (id, epoch); *fenced / *shutdown what the broker should know.
 */
int16_t controller_heartbeat(controller *c, int32_t id, int64_t epoch, int64_t metadata_offset,
                             int64_t caught_up_offset, bool want_fence, bool want_shutdown, int64_t now_ms,
                             bool *fenced, bool *shutdown, mrec_list *out);
/* Fence every unfenced broker whose last heartbeat is older than
 * session_ms; its leaderships move to another live ISR member or none. */
/*
 * AlterPartition from a partition's leader (Kafka's ISR change, KIP-497):
 * the new ISR must hold the leader, replicas only, each alive; the leader
 * and partition epochs must be the current ones. Writes a
 * PartitionChangeRecord unless the ISR is already that; *st gets the
 * partition as it is then. A Kafka error code.
 */
#define CTL_BROKERS_MAX 1024 /* brokers in a placement, replicas of a partition */
typedef struct ctl_partition_state {
    int32_t leader, leader_epoch, partition_epoch;
    int32_t isr[CTL_BROKERS_MAX];
    int nisr;
} ctl_partition_state;
int16_t controller_alter_partition(controller *c, int32_t broker_id, int64_t broker_epoch, kp_uuid topic_id,
                                   int32_t index, int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                                   int nisr, mrec_list *out, ctl_partition_state *st);
/* ElectLeaders for one partition: the preferred replica (the first)
 * leads when it is alive and in the ISR (PREFERRED_LEADER_NOT_AVAILABLE
 * otherwise; ELECTION_NOT_NEEDED when it leads). Unclean elections are not
 * done yet. A Kafka error code; msg may say why. */
int16_t controller_elect_leader(controller *c, kp_uuid topic_id, int32_t index, bool unclean, mrec_list *out,
                                char *msg, size_t msglen);
void controller_expire_sessions(controller *c, int64_t now_ms, int64_t session_ms, mrec_list *out);
/* A controller that just became active gives a broker it has not heard
 * from grace_ms (not a whole session) to heartbeat it: a live broker
 * heartbeats the new controller within its interval, and one that died
 * with the old controller is fenced sooner. 0: a whole session (Kafka). */
void controller_set_takeover_grace(controller *c, int64_t grace_ms);
/* The cluster's unclean.leader.election.enable (a topic's override wins):
 * when a partition's last in-sync replica goes, another live replica
 * leads it with an ISR of itself, and what the old ISR had beyond that
 * replica's log end is lost (Kafka's trade: availability over data). */
void controller_set_unclean_default(controller *c, bool enable);
/* Kafka's auto leader rebalance: a live broker whose preferred partitions
 * (it is their first replica) are led by others in more than pct percent
 * of cases gets back those where it is in the ISR. Returns how many. */
int controller_rebalance_leaders(controller *c, int pct, mrec_list *out);
/* The connection broker id heartbeats on closed (a killed process closes
 * its sockets): its session now ends grace_ms from now unless a heartbeat
 * comes first, instead of a whole session after its last heartbeat. */
void controller_broker_disconnected(controller *c, int32_t id, int64_t now_ms, int64_t session_ms, int64_t grace_ms);
/* This controller became active at now_ms: every registered broker's
 * session starts now (Kafka gives them a full session to reach it). */
void controller_sessions_reset(controller *c, int64_t now_ms);

/*
 * AlterPartitionReassignments for one partition (KIP-455): target NULL
 * cancels the one in progress (NO_REASSIGNMENT_IN_PROGRESS when none; the
 * replicas and ISR go back to the original ones). Otherwise the replicas
 * become the target then the originals leaving, with the adding and
 * removing sets; once every adding replica is in the ISR (now, or at an
 * AlterPartition that puts the last one there) the replicas become the
 * target, the removing ones leave the ISR and the leader epoch moves (a
 * removed leader hands over). allow_rf_change false: a target of another
 * size than the original is INVALID_REPLICATION_FACTOR (KIP-860).
 */
int16_t controller_reassign(controller *c, kp_uuid topic_id, int32_t index, const int32_t *target, int ntarget,
                            bool allow_rf_change, mrec_list *out, char *msg, size_t msglen);
/* The brokers new replicas may go to (unfenced, registered; or this node
 * alone when none registered): ids sorted, n returned. */
int controller_usable_brokers(const controller *c, int32_t *ids, const char **racks, int max);

#endif
