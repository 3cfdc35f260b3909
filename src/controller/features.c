/*
 * features.c - see features.h.
 *
 * The messages are Kafka 4.4's, byte for byte (FeatureControlManager's
 * invalidUpdateVersion and QuorumFeatures.reasonNotSupported), as Kafka 4.4
 * answered them to the same UpdateFeatures requests.
 */
#include "controller/features.h"

#include <stdio.h>
#include <string.h>

#include "kafka_msgs.h"

/* transaction.version: levels 0-2, a new cluster at 2 (Kafka 4.4's
 * format). At 2, Kafka 4 Java clients run transactions V2 (KIP-890 part
 * 2: no AddPartitionsToTxn, Produce v12+, EndTxn v5), which the transaction
 * coordinator must serve (it reads the level: broker_transaction_version);
 * a bootstrap level of 1 keeps new clusters on V1. */
static const feature_def known[] = {
    { MI_FEATURE_TRANSACTION_VERSION, 0, 2, 2 },
};

int features_known(const feature_def **out)
{
    *out = known;
    return (int)(sizeof(known) / sizeof(known[0]));
}

const feature_def *features_find(const char *name, int name_len)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (name_len >= 0 && strlen(known[i].name) == (size_t)name_len && memcmp(known[i].name, name, (size_t)name_len) == 0)
            return &known[i];
    return NULL;
}

int16_t features_level(const mimage *im, const feature_def *f)
{
    if (strcmp(f->name, MI_FEATURE_TRANSACTION_VERSION) == 0)
        return im->transaction_version;
    return 0;
}

/* "Invalid update version <level> for feature <name>. <why>" */
static int16_t invalid(char *msg, size_t msglen, const char *name, int name_len, int16_t level, const char *why)
{
    snprintf(msg, msglen, "Invalid update version %d for feature %.*s. %s", level, name_len > 0 ? name_len : 0,
             name ? name : "", why);
    return KERR_INVALID_UPDATE_VERSION;
}

int16_t features_check_update(const mimage *im, int32_t node_id, const char *name, int name_len, int16_t level,
                              int8_t upgrade_type, char *msg, size_t msglen)
{
    char why[128];
    if (upgrade_type < FEATURE_UPGRADE || upgrade_type > FEATURE_UNSAFE_DOWNGRADE)
        return invalid(msg, msglen, name, name_len, level, "The controller does not support the given upgrade type.");
    if (level < 0)
        return invalid(msg, msglen, name, name_len, level, "A feature version cannot be less than 0.");
    const feature_def *f = features_find(name, name_len);
    if (!f && level == 0) {
        /* Kafka's range for a feature it does not know is 0-0: level 0
         * passes that check and fails when the feature is looked up */
        snprintf(why, sizeof why, "Feature %.*s not found.", name_len > 0 ? name_len : 0, name ? name : "");
        return invalid(msg, msglen, name, name_len, level, why);
    }
    if (!f) {
        snprintf(why, sizeof why, "Local controller %d does not support this feature.", node_id);
        return invalid(msg, msglen, name, name_len, level, why);
    }
    if (level < f->level_min || level > f->level_max) {
        snprintf(why, sizeof why, "Local controller %d only supports versions %d-%d", node_id, f->level_min,
                 f->level_max);
        return invalid(msg, msglen, name, name_len, level, why);
    }
    int16_t current = features_level(im, f);
    if (level < current && upgrade_type == FEATURE_UPGRADE)
        return invalid(msg, msglen, name, name_len, level,
                       "Can't downgrade the version of this feature without setting the upgrade type to either "
                       "safe or unsafe downgrade.");
    if (level > current && upgrade_type != FEATURE_UPGRADE)
        return invalid(msg, msglen, name, name_len, level, "Can't downgrade to a newer version.");
    return KERR_NONE;
}
