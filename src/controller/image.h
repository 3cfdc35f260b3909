/*
 * image.h - the metadata image: what the committed metadata log says exists.
 *
 * Topics with their partitions (replicas, ISR, leader, epochs) and config
 * overrides, the registered brokers, the next producer-id block, feature
 * levels. Nothing here is runtime state (no open logs, no waiters): that is
 * the broker's topic table (broker/topics.h), which a listener keeps in step
 * with the image. The image changes only by mimage_apply() of one record
 * frame (mrec.h); each apply reports what changed in an mdelta so that the
 * listeners do their side effects (open a log, delete one) without comparing
 * images. Replaying the committed log from the start (or from a snapshot,
 * which is this image written as records by mimage_write) gives an equal
 * image: mimage_equal compares two by those records.
 *
 * Pure: no locks (the owner guards it), no I/O, no globals. Several images
 * live in one process: the controller keeps its own (ahead of the committed
 * one by what it has written and not yet seen committed), the simulator one
 * per node.
 */
#ifndef GREGOR_CONTROLLER_IMAGE_H
#define GREGOR_CONTROLLER_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/mrec.h"
#include "proto/codec.h"

typedef struct mi_partition {
    int32_t *replicas;      /* malloc'd; replicas[0] is the preferred leader */
    int32_t nreplicas;
    int32_t *isr;
    int32_t nisr;
    int32_t leader;         /* -1: none */
    int32_t leader_epoch;
    int32_t partition_epoch;
    /* A reassignment in progress (Kafka's KIP-455): replicas holds the
     * target replicas then those to remove; adding are the targets not in
     * the original set, removing the original ones not in the target.
     * Both empty: none. */
    int32_t *removing;      /* malloc'd */
    int32_t nremoving;
    int32_t *adding;        /* malloc'd */
    int32_t nadding;
} mi_partition;

typedef struct mi_config {
    char *name;
    char *value;
} mi_config;

typedef struct mi_topic {
    char *name;
    kp_uuid id;
    int32_t nparts;
    mi_partition *parts;
    int ncfg;
    mi_config *cfg;         /* overrides, sorted by name */
} mi_topic;

typedef struct mi_endpoint {
    char *name;             /* listener name */
    char *host;
    int32_t port;
    int16_t security_protocol;
} mi_endpoint;

typedef struct mi_broker {
    int32_t id;
    int64_t epoch;          /* the offset of its registration record */
    kp_uuid incarnation;
    char *rack;             /* NULL: none */
    mi_endpoint *eps;
    int neps;
    bool fenced;
    bool shutting_down;     /* controlled shutdown in progress */
} mi_broker;

typedef struct mimage {
    mi_topic **by_name;     /* sorted by name */
    mi_topic **by_id;       /* the same topics sorted by id */
    int ntopics, cap;
    mi_broker *brokers;     /* sorted by id */
    int nbrokers;
    int64_t next_producer_id;
    int16_t metadata_version;  /* FeatureLevelRecord metadata.version; 0: none */
    int16_t transaction_version; /* FeatureLevelRecord transaction.version; 0: not finalized (Kafka's absent) */
} mimage;

#define MI_FEATURE_METADATA_VERSION "metadata.version"
#define MI_FEATURE_TRANSACTION_VERSION "transaction.version"

/* What one apply changed. */
typedef enum mdelta_kind {
    MD_TOPIC_CREATED,       /* topic, name */
    MD_PARTITION_ADDED,     /* topic, partition */
    MD_PARTITION_CHANGED,   /* topic, partition: replicas, ISR or leader */
    MD_TOPIC_CONFIG,        /* topic: an override set or removed */
    MD_TOPIC_REMOVED,       /* topic id, name, partitions it had */
    MD_BROKER_CHANGED,      /* broker: registered, fenced, unfenced, gone */
    MD_PRODUCER_IDS,
    MD_FEATURE,             /* a finalized feature level set (FeatureLevelRecord) */
    MD_CAUGHT_UP,           /* a cluster node's image reached the quorum's (metalog.c, after a start) */
} mdelta_kind;

typedef struct mdelta_event {
    mdelta_kind kind;
    kp_uuid topic_id;
    char *name;             /* topic name (malloc'd), or NULL */
    int32_t partition;      /* MD_PARTITION_*; MD_TOPIC_REMOVED: its partition count */
    int32_t broker;
} mdelta_event;

typedef struct mdelta {
    mdelta_event *ev;
    int n, cap;
    /* The offset of the last record the image holds after these changes
     * (Kafka's image offset, which ApiVersions sends as the finalized
     * features' epoch); -1: not known. Set by the metadata log (metalog.c)
     * before it publishes; apply and diff leave it. */
    int64_t offset;
} mdelta;

void mdelta_init(mdelta *d);
void mdelta_clear(mdelta *d);
void mdelta_deinit(mdelta *d);
void mdelta_add_caught_up(mdelta *d);

void mimage_init(mimage *im);
void mimage_deinit(mimage *im);
/* A deep copy into dst (initialised here); -1 when out of memory. */
int mimage_copy(mimage *dst, const mimage *src);

/*
 * Apply one record frame. 0: applied (or skipped: a type or version this
 * code does not know, a record about something that does not exist, as
 * Kafka's loaders skip them), events appended to d (may be NULL); -1: the
 * frame does not decode, err says why and the image is unchanged.
 */
int mimage_apply(mimage *im, const uint8_t *val, int32_t len, mdelta *d, char *err, size_t errlen);

/* Lookups; the results are valid until the next apply. */
const mi_topic *mimage_topic(const mimage *im, const char *name, int len);
const mi_topic *mimage_topic_by_id(const mimage *im, kp_uuid id);
const mi_broker *mimage_broker(const mimage *im, int32_t id);
/* The topic's override of name, or NULL. */
const char *mi_topic_config(const mi_topic *t, const char *name);

/* The image as records (a snapshot's contents): features, brokers, topics
 * with their configs and partitions, the producer-id block. */
void mimage_write(const mimage *im, mrec_list *out);
/* Same records, so same image. */
bool mimage_equal(const mimage *a, const mimage *b);
/* What changed from one image to another (a follower that installs a
 * snapshot replaces its image): the events a listener needs to go from
 * `from` to `to` - removed topics first, then created ones with their
 * partitions and configs, changed partitions, configs, brokers, producer
 * ids, features. */
void mimage_diff(const mimage *from, const mimage *to, mdelta *d);

#endif
