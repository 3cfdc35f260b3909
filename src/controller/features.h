/*
 * features.h - the feature flags Gregor implements (Kafka's finalized
 * features, KIP-584), and the controller's check of a change to one.
 *
 * A cluster finalizes a feature at a level with a FeatureLevelRecord in the
 * metadata log; brokers list the levels in ApiVersions (v3+), and clients
 * choose protocol behaviour from them: Kafka's Java producer uses
 * transactions V2 (KIP-890) only where transaction.version >= 2 is
 * finalized. Level 0 means not finalized (Kafka drops such a feature from
 * its finalized map).
 *
 * Gregor implements one feature: transaction.version, levels 0-2; a new
 * cluster starts at 2, as `kafka-storage format` of Kafka 4.4 does.
 * Kafka 4.4 also lists metadata.version, kraft.version, group.version,
 * share.version, streams.version and eligible.leader.replicas.version;
 * Gregor does not implement them (a fixed set of metadata records; no
 * KIP-848 or share groups, Streams groups or eligible leader replicas;
 * KRaft version 0 with static voters), so it advertises none of them and
 * refuses to finalize them as a controller refuses a feature it does not
 * know (docs/protocol.md).
 *
 * Pure: no I/O; the table of features is constant.
 */
#ifndef GREGOR_CONTROLLER_FEATURES_H
#define GREGOR_CONTROLLER_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "controller/image.h"

typedef struct feature_def {
    const char *name;
    int16_t level_min, level_max;   /* the levels this code runs at (ApiVersions' supported range) */
    int16_t level_bootstrap;        /* what a new cluster finalizes */
} feature_def;

/* The features Gregor implements, in the order ApiVersions lists them:
 * their count, the constant table in *out. */
int features_known(const feature_def **out);
/* The feature named by name_len bytes of name, or NULL. */
const feature_def *features_find(const char *name, int name_len);
/* f's finalized level in im (0: not finalized). */
int16_t features_level(const mimage *im, const feature_def *f);

/* Kafka's FeatureUpdate.UpgradeType (UpdateFeatures v1+). */
#define FEATURE_UPGRADE 1
#define FEATURE_SAFE_DOWNGRADE 2
#define FEATURE_UNSAFE_DOWNGRADE 3

/*
 * May feature `name` (name_len bytes) go from its level in im to `level`
 * with this upgrade type? KERR_NONE, or INVALID_UPDATE_VERSION with
 * Kafka's reason in msg (FeatureControlManager.updateFeature, checked in
 * its order: the upgrade type, a negative level, a feature or level this
 * controller does not support - node_id names it, as Kafka's message does;
 * an unknown feature at level 0 is "not found" - then the direction). transaction.version may go down safely: Kafka
 * 4.4 refuses only metadata.version downgrades that lose metadata.
 */
int16_t features_check_update(const mimage *im, int32_t node_id, const char *name, int name_len, int16_t level,
                              int8_t upgrade_type, char *msg, size_t msglen);

#endif
