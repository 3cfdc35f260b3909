/*
 * mrec.h - metadata records in Kafka's frame, built and taken apart.
 *
 * A record value in the __cluster_metadata log is a frame: uvarint frame
 * version (1), uvarint api key, uvarint record version, then the record's
 * flexible body (the generated kp_*_record codecs, src/proto/kafka.schema).
 * The controller writes them (controller.c), the image reads them
 * (image.c), and a snapshot is the image written back as the same frames.
 *
 * An mrec_list collects frames back to back in one buffer with their end
 * positions, ready to become one record batch. Pure: no I/O, no globals.
 */
#ifndef GREGOR_CONTROLLER_MREC_H
#define GREGOR_CONTROLLER_MREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/codec.h"

/* ConfigRecord resource types (Kafka's ConfigResource.Type). */
#define MREC_RESOURCE_TOPIC 2
#define MREC_RESOURCE_BROKER 4

typedef struct mrec_list {
    kp_writer w;     /* the frames, back to back */
    size_t *ends;    /* ends[i]: end of frame i in w.buf */
    int n, cap;
    bool oom;
} mrec_list;

void mrec_list_init(mrec_list *l);
void mrec_list_deinit(mrec_list *l);
void mrec_list_clear(mrec_list *l);
/* Frame i's bytes. */
const uint8_t *mrec_get(const mrec_list *l, int i, int32_t *len);
/* Append frames from another list (the image's snapshot into a batch). */
void mrec_append_all(mrec_list *dst, const mrec_list *src);

/* The frame of one record; the body follows in w. Close with mrec_end. */
void mrec_begin(mrec_list *l, int api_key, int16_t version);
void mrec_end(mrec_list *l);

/* The records Gregor writes. Replica arrays are borrowed. */
void mrec_topic(mrec_list *l, const char *name, kp_uuid id);
void mrec_partition(mrec_list *l, kp_uuid id, int32_t index, const int32_t *replicas, int nreplicas,
                    const int32_t *isr, int nisr, const int32_t *removing, int nremoving, const int32_t *adding,
                    int nadding, int32_t leader, int32_t leader_epoch, int32_t partition_epoch);
/* value NULL: the override is removed. */
void mrec_config(mrec_list *l, int8_t resource_type, const char *resource, const char *name, const char *value);
void mrec_remove_topic(mrec_list *l, kp_uuid id);
void mrec_producer_ids(mrec_list *l, int32_t broker_id, int64_t broker_epoch, int64_t next_producer_id);
void mrec_feature_level(mrec_list *l, const char *name, int16_t level);

/* Broker registration (RegisterBrokerRecord v1: endpoints, rack, fenced,
 * controlled shutdown). */
struct mi_broker;
void mrec_register_broker(mrec_list *l, const struct mi_broker *b);
void mrec_unregister_broker(mrec_list *l, int32_t id, int64_t epoch);
/* FenceBrokerRecord or UnfenceBrokerRecord. */
void mrec_fence_broker(mrec_list *l, int32_t id, int64_t epoch, bool fenced);
/* BrokerRegistrationChangeRecord v1: in controlled shutdown. */
void mrec_broker_shutting_down(mrec_list *l, int32_t id, int64_t epoch);
/* PartitionChangeRecord v0: a new leader (-1: none; -2: unchanged) and/or
 * ISR (isr NULL: unchanged). */
void mrec_partition_change(mrec_list *l, kp_uuid id, int32_t index, int32_t leader, const int32_t *isr, int nisr);
/* PartitionChangeRecord v0 of a reassignment: the replicas, removing and
 * adding sets (all three written, empty ones too), leader and ISR as above. */
void mrec_partition_reassign(mrec_list *l, kp_uuid id, int32_t index, int32_t leader, const int32_t *isr, int nisr,
                             const int32_t *replicas, int nreplicas, const int32_t *removing, int nremoving,
                             const int32_t *adding, int nadding);

/* Read a frame's header: 0 and the key, version and body reader on
 * success; -1 when the frame is not one (wrong frame version, truncated). */
int mrec_open(kp_reader *r, const uint8_t *val, int32_t len, arena *a, int *key, int16_t *version);

#endif
