/*
 * config.h - typed, table-driven configuration in Kafka's properties format.
 *
 * A config_def table (one per scope: broker, topic) names every key, its type,
 * default and bounds, and a one-line doc. A config_set holds the values for
 * one table; it starts with the defaults and takes `key=value` assignments
 * from a server.properties file, from --override, or from a CreateTopics
 * request. An unknown key or a value that does not parse or is out of range
 * is refused with a message naming the key; nothing is silently ignored.
 *
 * A config_set is a value type: copy it with config_set_copy. Its strings are
 * owned by the set. Not thread-safe: callers that share one lock around it.
 */
#ifndef GREGOR_BASE_CONFIG_H
#define GREGOR_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_type {
    CONFIG_BOOLEAN = 1, /* numbers match DescribeConfigs' ConfigType */
    CONFIG_STRING = 2,
    CONFIG_INT = 3,
    CONFIG_SHORT = 4,
    CONFIG_LONG = 5,
    CONFIG_DOUBLE = 6,
    CONFIG_LIST = 7,
    CONFIG_CLASS = 8,
    CONFIG_PASSWORD = 9,
};

#define CONFIG_F_NO_EFFECT 0x1 /* accepted for compatibility, no effect yet */
#define CONFIG_F_READ_ONLY 0x2 /* cannot be altered at run time */
#define CONFIG_F_NULLABLE  0x4 /* default is null (no value) */

typedef struct config_def {
    const char *name;
    int type;                  /* enum config_type */
    const char *default_value; /* NULL: null default */
    int64_t min, max;          /* for numeric types */
    const char *const *choices;/* for strings: NULL-terminated allowed values, or NULL */
    int flags;
    const char *doc;
} config_def;

typedef struct config_value {
    char *str;        /* NULL = null; owned */
    int64_t num;      /* parsed number (bool: 0/1) for numeric types */
    int source;       /* enum config_source */
} config_value;

enum config_source {
    CONFIG_SOURCE_DEFAULT = 5,        /* numbers match DescribeConfigs' ConfigSource */
    CONFIG_SOURCE_STATIC_BROKER = 4,
    CONFIG_SOURCE_DYNAMIC_BROKER = 2,
    CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    CONFIG_SOURCE_TOPIC = 1,
};

typedef struct config_set {
    const config_def *defs;
    int n;
    config_value *values; /* n entries, owned */
} config_set;

int config_set_init(config_set *cs, const config_def *defs, int n);
void config_set_deinit(config_set *cs);
int config_set_copy(config_set *dst, const config_set *src);

/* Index of name in the table, or -1. */
int config_find(const config_def *defs, int n, const char *name);

/*
 * Check and parse value for def without storing it. On error, writes a
 * message naming the key into err and returns -1.
 */
int config_validate(const config_def *def, const char *value, int64_t *num_out,
                    char *err, size_t errlen);

/* Assign key=value with the given source. -1 with a message on error. */
int config_set_value(config_set *cs, const char *key, const char *value,
                     int source, char *err, size_t errlen);
/* Reset a key to its default. */
int config_reset(config_set *cs, const char *key);

/*
 * Parse a Java-properties text (key=value or key:value, # and ! comments,
 * backslash line continuations and escapes) and assign every entry. Stops at
 * the first bad entry with "file:line: message" in err.
 */
int config_load_properties(config_set *cs, const char *text, const char *origin,
                           int source, char *err, size_t errlen);
int config_load_file(config_set *cs, const char *path, int source, char *err, size_t errlen);

int64_t config_get_num(const config_set *cs, int idx);
const char *config_get_str(const config_set *cs, int idx); /* may be NULL */
const config_value *config_get(const config_set *cs, int idx);

#endif
