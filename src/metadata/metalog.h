/*
 * metalog.h - metadata as a log: the single-node controller.
 *
 * Every change to what exists - a topic created or deleted, partitions
 * added, a topic config set - is first written as Kafka metadata records
 * (TopicRecord, PartitionRecord, ConfigRecord, RemoveTopicRecord, in Kafka's
 * frame: uvarint frame version 1, api key, record version, then the flexible
 * body) to the `__cluster_metadata-0` log, then applied to the topic table.
 * At start-up the log is replayed from the beginning to rebuild the table.
 * One mutex serializes writers: the metadata log has a single writer, as a
 * KRaft controller does. Callers make a change durable by waiting on the
 * flusher for the returned end offset.
 */
#ifndef GREGOR_METADATA_METALOG_H
#define GREGOR_METADATA_METALOG_H

/* The metadata log's topic; its one partition lives in the log directory. */
#define METALOG_TOPIC "__cluster_metadata"

#include <stdint.h>

#include "base/config.h"
#include "broker/topics.h"
#include "proto/codec.h"
#include "storage/log.h"
#include "storage/logmgr.h"

typedef struct metalog metalog;

/* A topic config assignment (value NULL: delete the override). */
typedef struct metalog_config {
    const char *name;
    const char *value;
} metalog_config;

/*
 * Open <dir>/__cluster_metadata-0 and replay it into t, opening every
 * partition's log through logs with configs from broker_cfg. clean: the last
 * shutdown was clean. Logs a line per recovery that did anything.
 */
metalog *metalog_open(const char *dir, bool clean, topics *t, logmgr *logs, const partition_env *env,
                      const config_set *broker_cfg, int32_t node_id, char *err, size_t errlen);
void metalog_close(metalog *m);
plog *metalog_plog(metalog *m);
/* The metadata log's partition: wait on it for durability. */
partition *metalog_partition(metalog *m);

/*
 * Producer ids come in blocks recorded in the metadata log (Kafka's
 * ProducerIdsRecord, NextProducerId = the first id after the block), so an
 * id is never handed out twice, across restarts too. The block
 * [*first_out, *first_out + count) may be used once *end_offset is durable.
 */
int16_t metalog_allocate_producer_ids(metalog *m, int32_t count, int64_t *first_out, int64_t *end_offset);

/* Each returns a Kafka error code (0 on success) and, in *end_offset, the
 * log end to wait for durability. msg receives a human reason on error. */
int16_t metalog_create_topic(metalog *m, const char *name, int32_t nparts, int16_t rf,
                             const metalog_config *cfgs, int ncfgs, kp_uuid *id_out,
                             int64_t *end_offset, char *msg, size_t msglen);
int16_t metalog_delete_topic(metalog *m, topic *tp, int64_t *end_offset);
int16_t metalog_add_partitions(metalog *m, topic *tp, int32_t new_total, int64_t *end_offset,
                               char *msg, size_t msglen);
int16_t metalog_set_topic_configs(metalog *m, topic *tp, const metalog_config *cfgs, int ncfgs,
                                  int64_t *end_offset, char *msg, size_t msglen);

/* Validate topic config assignments without applying them. */
int16_t metalog_check_configs(const metalog_config *cfgs, int ncfgs, char *msg, size_t msglen);

#endif
