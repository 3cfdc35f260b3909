/* broker_config.c - the broker key table (see broker_config.h). */
#include "broker/broker_config.h"

#include <stddef.h>
#include <string.h>

static const char *const ts_type_choices[] = { "CreateTime", "LogAppendTime", NULL };
static const char *const cleanup_choices[] = { "delete", "compact", "compact,delete", "delete,compact", NULL };
static const char *const compression_choices[] = { "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", NULL };

const config_def broker_config_defs[BCFG_COUNT] = {
#define X(id, name, type, def, min, max, choices, flags, doc) { name, type, def, min, max, choices, flags, doc },
    BROKER_CONFIGS(X)
#undef X
};

int64_t broker_config_retention_ms(const config_set *cs)
{
    if (config_get_str(cs, BCFG_LOG_RETENTION_MS))
        return config_get_num(cs, BCFG_LOG_RETENTION_MS);
    if (config_get_str(cs, BCFG_LOG_RETENTION_MINUTES)) {
        int64_t m = config_get_num(cs, BCFG_LOG_RETENTION_MINUTES);
        return m < 0 ? -1 : m * 60000;
    }
    int64_t h = config_get_num(cs, BCFG_LOG_RETENTION_HOURS);
    return h < 0 ? -1 : h * 3600000;
}

int64_t broker_config_roll_ms(const config_set *cs)
{
    if (config_get_str(cs, BCFG_LOG_ROLL_MS))
        return config_get_num(cs, BCFG_LOG_ROLL_MS);
    return config_get_num(cs, BCFG_LOG_ROLL_HOURS) * 3600000;
}

const char *broker_config_log_dir(const config_set *cs)
{
    const char *dirs = config_get_str(cs, BCFG_LOG_DIRS);
    if (dirs && *dirs)
        return dirs;
    return config_get_str(cs, BCFG_LOG_DIR);
}
