/*
 * topic_config.h - per-topic configuration keys and their broker defaults.
 *
 * A topic stores only its overrides (set by CreateTopics or AlterConfigs,
 * recorded as ConfigRecords in the metadata log). The effective value of a
 * key is the override, else the broker key it falls back to (its synonym,
 * e.g. retention.ms -> log.retention.ms), else the built-in default.
 */
#ifndef GREGOR_BROKER_TOPIC_CONFIG_H
#define GREGOR_BROKER_TOPIC_CONFIG_H

#include "base/config.h"
#include "broker/broker_config.h"
#include "storage/log.h"

/* X(id, name, type, min, max, broker synonym id or -1, flags, doc) */
#define TOPIC_CONFIGS(X) \
    X(CLEANUP_POLICY, "cleanup.policy", CONFIG_LIST, 0, 0, BCFG_LOG_CLEANUP_POLICY, 0, "delete, compact or both. Retention (retention.ms, retention.bytes) trims only logs whose policy includes delete; the log cleaner compacts those whose policy includes compact.") \
    X(COMPRESSION_TYPE, "compression.type", CONFIG_STRING, 0, 0, BCFG_COMPRESSION_TYPE, 0, "producer keeps each batch's codec; uncompressed, gzip, snappy, lz4 or zstd: batches in another codec are recompressed on append.") \
    X(COMPRESSION_GZIP_LEVEL, "compression.gzip.level", CONFIG_INT, -1, 9, BCFG_COMPRESSION_GZIP_LEVEL, 0, "Level of the broker's gzip recompression.") \
    X(COMPRESSION_LZ4_LEVEL, "compression.lz4.level", CONFIG_INT, 1, 17, BCFG_COMPRESSION_LZ4_LEVEL, 0, "Level of the broker's lz4 recompression.") \
    X(COMPRESSION_ZSTD_LEVEL, "compression.zstd.level", CONFIG_INT, -131072, 22, BCFG_COMPRESSION_ZSTD_LEVEL, 0, "Level of the broker's zstd recompression.") \
    X(DELETE_RETENTION_MS, "delete.retention.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_CLEANER_DELETE_RETENTION_MS, 0, "How long the cleaner keeps a tombstone (and a transaction marker with nothing left) after it first cleans it.") \
    X(FILE_DELETE_DELAY_MS, "file.delete.delay.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_SEGMENT_DELETE_DELAY_MS, 0, "How long the files of a removed segment (retention, DeleteRecords, cleaning) stay as *.deleted before they are unlinked.") \
    X(FLUSH_MESSAGES, "flush.messages", CONFIG_LONG, 1, I64MAX, BCFG_LOG_FLUSH_INTERVAL_MESSAGES, 0, "1: fsync before answering acks=all; Long.MAX: never on the produce path.") \
    X(FLUSH_MS, "flush.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_FLUSH_INTERVAL_MS, 0, "fsync data older than this.") \
    X(INDEX_INTERVAL_BYTES, "index.interval.bytes", CONFIG_INT, 0, I32MAX, BCFG_LOG_INDEX_INTERVAL_BYTES, 0, "Bytes between offset-index entries.") \
    X(MAX_COMPACTION_LAG_MS, "max.compaction.lag.ms", CONFIG_LONG, 1, I64MAX, BCFG_LOG_CLEANER_MAX_COMPACTION_LAG_MS, 0, "A record stays uncompacted at most this long: a log holding older dirty records is cleaned whatever its dirty ratio.") \
    X(MAX_MESSAGE_BYTES, "max.message.bytes", CONFIG_INT, 0, I32MAX, BCFG_MESSAGE_MAX_BYTES, 0, "Largest record batch accepted.") \
    X(MESSAGE_TIMESTAMP_TYPE, "message.timestamp.type", CONFIG_STRING, 0, 0, BCFG_LOG_MESSAGE_TIMESTAMP_TYPE, 0, "CreateTime or LogAppendTime.") \
    X(MESSAGE_TIMESTAMP_BEFORE_MAX_MS, "message.timestamp.before.max.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS, 0, "CreateTime: a record older than this (by the broker's clock) is refused with INVALID_TIMESTAMP.") \
    X(MESSAGE_TIMESTAMP_AFTER_MAX_MS, "message.timestamp.after.max.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS, 0, "CreateTime: a record this far in the future is refused with INVALID_TIMESTAMP.") \
    X(MIN_CLEANABLE_DIRTY_RATIO, "min.cleanable.dirty.ratio", CONFIG_DOUBLE, 0, 1, BCFG_LOG_CLEANER_MIN_CLEANABLE_RATIO, 0, "The cleaner takes a log once its not-yet-cleaned bytes are this share of its cleanable bytes.") \
    X(MIN_COMPACTION_LAG_MS, "min.compaction.lag.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_CLEANER_MIN_COMPACTION_LAG_MS, 0, "A record stays uncompacted at least this long (segments with newer records are not cleaned).") \
    X(MIN_INSYNC_REPLICAS, "min.insync.replicas", CONFIG_INT, 1, I32MAX, BCFG_MIN_INSYNC_REPLICAS, 0, "Replicas that must have a write for acks=all.") \
    X(PREALLOCATE, "preallocate", CONFIG_BOOLEAN, 0, 0, BCFG_LOG_PREALLOCATE, 0, "Reserve segment.bytes of disk blocks for a new segment (fallocate, the file size unchanged); released at the roll.") \
    X(RETENTION_BYTES, "retention.bytes", CONFIG_LONG, -1, I64MAX, BCFG_LOG_RETENTION_BYTES, 0, "Bytes kept per partition; -1: no limit.") \
    X(RETENTION_MS, "retention.ms", CONFIG_LONG, -1, I64MAX, BCFG_LOG_RETENTION_MS, 0, "Time data is kept; -1: forever.") \
    X(SEGMENT_BYTES, "segment.bytes", CONFIG_INT, 14, I32MAX, BCFG_LOG_SEGMENT_BYTES, 0, "Segment file size before a roll.") \
    X(SEGMENT_INDEX_BYTES, "segment.index.bytes", CONFIG_INT, 4, I32MAX, BCFG_LOG_INDEX_SIZE_MAX_BYTES, 0, "Largest offset index per segment.") \
    X(SEGMENT_JITTER_MS, "segment.jitter.ms", CONFIG_LONG, 0, I64MAX, BCFG_LOG_ROLL_JITTER_MS, 0, "A segment rolls a random share of this (at most segment.ms) before segment.ms, so that partitions do not roll all at once.") \
    X(SEGMENT_MS, "segment.ms", CONFIG_LONG, 1, I64MAX, BCFG_LOG_ROLL_MS, 0, "Segment age before a roll.") \
    X(UNCLEAN_LEADER_ELECTION_ENABLE, "unclean.leader.election.enable", CONFIG_BOOLEAN, 0, 0, BCFG_UNCLEAN_LEADER_ELECTION_ENABLE, 0, "May an out-of-sync replica lead when no in-sync replica is left (the records only the lost ISR had are gone).")

enum topic_config_id {
#define X(id, ...) TCFG_##id,
    TOPIC_CONFIGS(X)
#undef X
    TCFG_COUNT
};

extern const config_def topic_config_defs[TCFG_COUNT];
extern const int topic_config_synonym[TCFG_COUNT]; /* broker key id or -1 */

/*
 * The effective value of topic key idx given the topic's overrides (may be
 * NULL) and the broker config. *source receives the config_source; the
 * returned string is borrowed from overrides/broker/static defaults.
 */
const char *topic_config_value(const config_set *overrides, const config_set *broker,
                               int idx, int *source);
/* Build the storage parameters for a topic. */
void topic_config_log(const config_set *overrides, const config_set *broker, log_config *out);
int64_t topic_config_num(const config_set *overrides, const config_set *broker, int idx);
/* A fresh override set: every key null/default with source DEFAULT (empty overrides). */
int topic_config_overrides_init(config_set *cs);
/* True when key idx is overridden for this topic. */
static inline int topic_config_is_set(const config_set *overrides, int idx)
{
    return overrides && overrides->values[idx].source == CONFIG_SOURCE_TOPIC;
}

#endif
