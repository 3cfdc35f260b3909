/* topic_config.c - see topic_config.h. */
#include "broker/topic_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ts_type_choices[] = { "CreateTime", "LogAppendTime", NULL };
static const char *const cleanup_choices[] = { "delete", "compact", "compact,delete", "delete,compact", NULL };
static const char *const compression_choices[] = { "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", NULL };

static const char *const *topic_choices(int idx)
{
    switch (idx) {
    case TCFG_CLEANUP_POLICY: return cleanup_choices;
    case TCFG_COMPRESSION_TYPE: return compression_choices;
    case TCFG_MESSAGE_TIMESTAMP_TYPE: return ts_type_choices;
    default: return NULL;
    }
}

/* Built-in defaults of keys with no broker synonym (Kafka's values). */
static const char *topic_builtin_default(int idx)
{
    switch (idx) {
    case TCFG_FLUSH_MS: return "9223372036854775807";
    default: return NULL;
    }
}

const config_def topic_config_defs[TCFG_COUNT] = {
#define X(id, name, type, min, max, syn, flags, doc) { name, type, NULL, min, max, NULL, (flags) | CONFIG_F_NULLABLE, doc },
    TOPIC_CONFIGS(X)
#undef X
};

const int topic_config_synonym[TCFG_COUNT] = {
#define X(id, name, type, min, max, syn, flags, doc) syn,
    TOPIC_CONFIGS(X)
#undef X
};

/* The table override sets validate against: topic_config_defs plus choices
 * (kept out of the X-macro table so it stays declarative). Built once;
 * topic_config_overrides_init runs on any reactor thread (CreateTopics). */
static config_def topic_override_defs[TCFG_COUNT];
static pthread_once_t topic_override_defs_once = PTHREAD_ONCE_INIT;

static void topic_override_defs_build(void)
{
    for (int i = 0; i < TCFG_COUNT; i++) {
        topic_override_defs[i] = topic_config_defs[i];
        topic_override_defs[i].choices = topic_choices(i);
    }
}

int topic_config_overrides_init(config_set *cs)
{
    pthread_once(&topic_override_defs_once, topic_override_defs_build);
    return config_set_init(cs, topic_override_defs, TCFG_COUNT);
}

/* Effective-value strings computed from several broker keys live here. */
static __thread char synth_buf[2][32];

const char *topic_config_value(const config_set *overrides, const config_set *broker,
                               int idx, int *source)
{
    if (topic_config_is_set(overrides, idx)) {
        *source = CONFIG_SOURCE_TOPIC;
        return overrides->values[idx].str;
    }
    int syn = topic_config_synonym[idx];
    if (syn < 0) {
        *source = CONFIG_SOURCE_DEFAULT;
        return topic_builtin_default(idx);
    }
    const config_value *bv = config_get(broker, syn);
    *source = bv->source == CONFIG_SOURCE_DEFAULT ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_STATIC_BROKER;
    if (idx == TCFG_RETENTION_MS || idx == TCFG_SEGMENT_MS) {
        int64_t v = idx == TCFG_RETENTION_MS ? broker_config_retention_ms(broker) : broker_config_roll_ms(broker);
        int which = idx == TCFG_RETENTION_MS;
        if (idx == TCFG_RETENTION_MS && !config_get_str(broker, BCFG_LOG_RETENTION_MS)) {
            int s2 = config_get(broker, BCFG_LOG_RETENTION_MINUTES)->str ? config_get(broker, BCFG_LOG_RETENTION_MINUTES)->source
                                                                       : config_get(broker, BCFG_LOG_RETENTION_HOURS)->source;
            *source = s2 == CONFIG_SOURCE_DEFAULT ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_STATIC_BROKER;
        }
        if (idx == TCFG_SEGMENT_MS && !config_get_str(broker, BCFG_LOG_ROLL_MS))
            *source = config_get(broker, BCFG_LOG_ROLL_HOURS)->source == CONFIG_SOURCE_DEFAULT
                          ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_STATIC_BROKER;
        snprintf(synth_buf[which], sizeof(synth_buf[which]), "%lld", (long long)v);
        return synth_buf[which];
    }
    if (!bv->str)
        return topic_builtin_default(idx);
    return bv->str;
}

int64_t topic_config_num(const config_set *overrides, const config_set *broker, int idx)
{
    int src;
    const char *s = topic_config_value(overrides, broker, idx, &src);
    if (!s)
        return 0;
    if (topic_config_defs[idx].type == CONFIG_BOOLEAN)
        return strcmp(s, "true") == 0;
    return strtoll(s, NULL, 10);
}

void topic_config_log(const config_set *overrides, const config_set *broker, log_config *out)
{
    log_config_defaults(out);
    out->segment_bytes = topic_config_num(overrides, broker, TCFG_SEGMENT_BYTES);
    out->segment_ms = topic_config_num(overrides, broker, TCFG_SEGMENT_MS);
    out->index_interval_bytes = (int32_t)topic_config_num(overrides, broker, TCFG_INDEX_INTERVAL_BYTES);
    out->segment_index_bytes = (int32_t)topic_config_num(overrides, broker, TCFG_SEGMENT_INDEX_BYTES);
    out->retention_ms = topic_config_num(overrides, broker, TCFG_RETENTION_MS);
    out->retention_bytes = topic_config_num(overrides, broker, TCFG_RETENTION_BYTES);
    int src;
    const char *policy = topic_config_value(overrides, broker, TCFG_CLEANUP_POLICY, &src);
    out->delete_policy = !policy || strstr(policy, "delete") != NULL;
    out->compact_policy = policy && strstr(policy, "compact") != NULL;
    const char *ratio = topic_config_value(overrides, broker, TCFG_MIN_CLEANABLE_DIRTY_RATIO, &src);
    out->min_cleanable_ratio = ratio ? strtod(ratio, NULL) : 0.5;
    out->min_compaction_lag_ms = topic_config_num(overrides, broker, TCFG_MIN_COMPACTION_LAG_MS);
    out->max_compaction_lag_ms = topic_config_num(overrides, broker, TCFG_MAX_COMPACTION_LAG_MS);
    out->delete_retention_ms = topic_config_num(overrides, broker, TCFG_DELETE_RETENTION_MS);
    out->segment_jitter_ms = topic_config_num(overrides, broker, TCFG_SEGMENT_JITTER_MS);
    out->file_delete_delay_ms = topic_config_num(overrides, broker, TCFG_FILE_DELETE_DELAY_MS);
    out->preallocate = topic_config_num(overrides, broker, TCFG_PREALLOCATE) != 0;
}
