/*
 * coordinator.h - the group coordinator: every consumer group on this node,
 * their committed offsets, and their durable form in __consumer_offsets.
 *
 * Groups run the pure state machine of group.h; this layer owns the
 * registry, the lock, the timer thread that drives session and rebalance
 * timeouts, the translation of state-machine actions into responses on the
 * requests' reactors, and the records written to __consumer_offsets
 * (Kafka's key/value formats: OffsetCommit key v1 / value v3, GroupMetadata
 * key v2 / value v3; a null value is a tombstone). A group maps to the
 * partition abs(javaHashCode(group id)) % offsets.topic.num.partitions, as
 * in Kafka, so a later cluster can move coordinators with partition leaders.
 *
 * Locking: one mutex around all groups and offsets. Requests from any
 * reactor take it briefly; parked JoinGroup and SyncGroup requests are
 * answered by encoding into the parked request and posting its completion
 * to its own reactor.
 */
#ifndef GREGOR_GROUP_COORDINATOR_H
#define GREGOR_GROUP_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

struct topics;
typedef struct coordinator coordinator;

/* What the coordinator needs from the node: narrow, so that it knows
 * nothing of the broker (and a simulator can host it). Copied by coord_new. */
typedef struct coord_env {
    struct topics *topics;
    const config_set *cfg;         /* the broker's keys (broker_config.h) */
    /* Create an internal topic (compacted, with the given configs as
     * name/value pairs); a Kafka error code, msg says why. */
    int16_t (*create_topic)(void *ctx, const char *name, int32_t nparts, const char *const *cfgs,
                            int ncfgs, char *msg, size_t msglen);
    /* The partition count of a topic in the committed metadata (-1: no
     * such topic); NULL: the table's count is complete. */
    int32_t (*committed_partitions)(void *ctx, const char *name);
    void *ctx;
} coord_env;

coordinator *coord_new(const coord_env *env);
/* Rebuild groups and offsets from __consumer_offsets if it exists. */
int coord_load(coordinator *c, char *err, size_t errlen);
int coord_start(coordinator *c);
/* Shutdown: answer parked JoinGroup/SyncGroup requests with NOT_COORDINATOR,
 * as Kafka does when a coordinator moves away. */
void coord_abort_pending(coordinator *c);
void coord_stop(coordinator *c);
void coord_free(coordinator *c);

/* A transaction marker was written to __consumer_offsets partition part:
 * the producer's pending transactional offsets there are committed or
 * dropped (called by the transaction coordinator). */
void coord_txn_marker(coordinator *c, int32_t part, int64_t pid, bool commit);

/* The __consumer_offsets partition of a group (creating the topic on
 * first use), or -1 when it cannot be created. */
int32_t coord_offsets_partition(coordinator *c, const char *group_id);

/* DeleteTopics: drop every group's committed offsets of that topic. */
void coord_topic_deleted(coordinator *c, const char *topic_name);

/* The leadership of a __consumer_offsets partition moved (the metadata
 * publisher, any thread): the coordinator loads the groups of partitions
 * this broker now leads and drops those of partitions it no longer leads
 * (their waiting members are answered NOT_COORDINATOR). */
void coord_leadership_changed(coordinator *c);

/* Kafka's partition for a group: abs(String.hashCode) % partitions, of the
 * string Java decodes from these len bytes. */
int32_t coord_partition_for(const char *group_id, int32_t len, int32_t partitions);

/* Kafka reads request strings as Java's new String(bytes, UTF_8) and writes
 * them back as UTF-8: malformed sequences become U+FFFD (EF BF BD), as the
 * JDK's decoder cuts them; NUL and every valid character stay. Writes the
 * bytes Kafka would keep to out (room for 3 * len) and returns their count;
 * coord_java_utf8_same says whether they equal the input. */
int32_t coord_java_utf8(const char *p, int32_t len, char *out);
bool coord_java_utf8_same(const char *p, int32_t len);
/* The length of that string in Java's chars (UTF-16 code units): what
 * Kafka compares with offset.metadata.max.bytes. */
int32_t coord_java_length(const char *p, int32_t len);

#endif
