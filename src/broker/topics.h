/*
 * topics.h - the broker's table of topics and their partitions.
 *
 * This is the in-memory image of what the metadata log says exists, plus the
 * runtime state of each partition (its log, who is waiting on it). It is
 * changed only by applying metadata records (metalog.c), under the table's
 * write lock; request handlers look topics up under the read lock and hold a
 * reference while they use one, so a concurrent DeleteTopics never frees a
 * log under a running append or fetch.
 *
 * Partition arrays grow by replacement (CreatePartitions): readers that
 * loaded the old array keep a valid one; retired arrays are freed with the
 * topic.
 */
#ifndef GREGOR_BROKER_TOPICS_H
#define GREGOR_BROKER_TOPICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "proto/codec.h"
#include "cluster/partition.h"
#include "storage/log.h"

#define TOPICS_REACTORS_MAX PARTITION_REACTORS_MAX

typedef struct topic topic;

struct topic {
    char *name;
    int name_len;
    kp_uuid id;
    atomic_int refs;
    _Atomic(partition **) parts;
    atomic_int nparts;
    int parts_cap;             /* entries allocated in parts; guarded by the table lock */
    config_set overrides;      /* guarded by the table lock */
    bool internal;
    bool deleted;              /* removed by DeleteTopics: its logs go with it */
    void *retired;             /* old partition arrays, freed with the topic */
    /* Set when this broker stopped hosting a partition (a reassignment moved
     * it away): a successor object took this one's place in the table with
     * the other partitions; this one owns only the dropped partition, whose
     * log goes at its last unref, and holds a reference to the successor
     * (freed after it). */
    int32_t dropped;           /* -1: none */
    struct topic *successor;
    bool drop_kept;            /* the partition came back here before this went: keep its log */
    struct topic *next_drop;   /* the table's list of topics with a dropped partition */
    struct topics *owner;      /* the table it was inserted into: its destructor runs at the last unref */
};

typedef struct topics topics;

topics *topics_new(void);
void topics_free(topics *t);

/* Lookups return a referenced topic or NULL. */
topic *topics_get(topics *t, const char *name, int name_len);
topic *topics_get_by_id(topics *t, kp_uuid id);
void topic_ref(topic *tp);
void topic_unref(topic *tp);
int topics_count(topics *t);
/* All topics, referenced, sorted by name; *out is malloc'd (free after unref). */
int topics_list(topics *t, topic ***out);

/* Partition i: NULL when out of range, or when another broker hosts it
 * (a cluster: the array holds this broker's replicas only, with holes).
 * Valid while tp is referenced. */
partition *topic_partition(topic *tp, int32_t i);
static inline int32_t topic_nparts(topic *tp) { return atomic_load(&tp->nparts); }
/* Does the topic have partition i (hosted here or not)? */
static inline bool topic_has_partition(topic *tp, int32_t i) { return tp && i >= 0 && i < topic_nparts(tp); }

/* --- mutation: the metadata applier only --- */
void topics_write_lock(topics *t);
void topics_write_unlock(topics *t);
void topics_read_lock(topics *t);
void topics_read_unlock(topics *t);
/* Insert a new topic with no partitions (takes the table's reference). */
topic *topics_insert_locked(topics *t, const char *name, kp_uuid id);
/* Remove from the table; the table's reference is dropped. on_last_unref
 * runs when the last reference goes (it closes and deletes the logs). */
void topics_remove_locked(topics *t, topic *tp);
/* Host partition p at p->index (the array grows, holes NULL). */
int topic_add_partition_locked(topic *tp, partition *p);
/*
 * This broker stops hosting partition `index` of tp (in the table): a new
 * topic object with the same name, id, overrides and partitions but that
 * one takes tp's place in the table. Requests that hold tp go on with it;
 * the dropped partition is freed, and the table's destructor runs for it
 * (deleting its log), at tp's last unref. Returns the successor (the
 * table's reference; the caller's reference to tp is untouched), or NULL
 * when out of memory (nothing changed).
 */
topic *topics_drop_partition_locked(topics *t, topic *tp, int32_t index);
/* Partition `index` of topic id is hosted here again: an older object that
 * dropped it and is still referenced keeps its log (the new replica's:
 * the log manager hands out the same open log). */
void topics_keep_dropped(topics *t, kp_uuid id, int32_t index);
/* The topic has n partitions (those another broker hosts stay NULL), so
 * topic_nparts is the topic's partition count on every broker. */
int topic_extend_locked(topic *tp, int32_t n);
void topics_set_destructor(topics *t, void (*fn)(topic *tp, void *ctx), void *ctx);

/* Topic names Kafka accepts: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
bool topic_name_valid(const char *name, int len, const char **why);

#endif
