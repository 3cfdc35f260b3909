/*
 * mrec.c - see mrec.h.
 */
#include "controller/mrec.h"

#include <stdlib.h>
#include <string.h>

#include "controller/image.h"
#include "kafka_msgs.h"

void mrec_list_init(mrec_list *l)
{
    memset(l, 0, sizeof(*l));
    kp_writer_init(&l->w);
}

void mrec_list_deinit(mrec_list *l)
{
    kp_writer_deinit(&l->w);
    free(l->ends);
    memset(l, 0, sizeof(*l));
}

void mrec_list_clear(mrec_list *l)
{
    l->w.len = 0;
    l->n = 0;
}

const uint8_t *mrec_get(const mrec_list *l, int i, int32_t *len)
{
    size_t start = i > 0 ? l->ends[i - 1] : 0;
    *len = (int32_t)(l->ends[i] - start);
    return l->w.buf + start;
}

void mrec_begin(mrec_list *l, int api_key, int16_t version)
{
    kp_write_uvarint(&l->w, 1); /* frame version */
    kp_write_uvarint(&l->w, (uint32_t)api_key);
    kp_write_uvarint(&l->w, (uint32_t)version);
}

void mrec_end(mrec_list *l)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        size_t *e = realloc(l->ends, sizeof(*e) * (size_t)cap);
        if (!e) {
            l->oom = true;
            return;
        }
        l->ends = e;
        l->cap = cap;
    }
    l->ends[l->n++] = l->w.len;
    if (l->w.err)
        l->oom = true;
}

void mrec_append_all(mrec_list *dst, const mrec_list *src)
{
    for (int i = 0; i < src->n; i++) {
        int32_t len;
        const uint8_t *p = mrec_get(src, i, &len);
        uint8_t *d = kp_writer_reserve(&dst->w, (size_t)len);
        if (!d) {
            dst->oom = true;
            return;
        }
        memcpy(d, p, (size_t)len);
        mrec_end(dst);
    }
}

void mrec_topic(mrec_list *l, const char *name, kp_uuid id)
{
    kp_topic_record rec;
    kp_topic_record_init(&rec);
    rec.name = kp_str_c(name);
    rec.topic_id = id;
    mrec_begin(l, KP_REC_TOPIC_RECORD, 0);
    kp_topic_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

/* Written at version 0: no directories, no ELR. */
void mrec_partition(mrec_list *l, kp_uuid id, int32_t index, const int32_t *replicas, int nreplicas,
                    const int32_t *isr, int nisr, const int32_t *removing, int nremoving, const int32_t *adding,
                    int nadding, int32_t leader, int32_t leader_epoch, int32_t partition_epoch)
{
    kp_partition_record rec;
    kp_partition_record_init(&rec);
    rec.partition_id = index;
    rec.topic_id = id;
    rec.replicas = (int32_t *)replicas;
    rec.replicas_n = nreplicas;
    rec.isr = (int32_t *)isr;
    rec.isr_n = nisr;
    rec.removing_replicas = (int32_t *)removing;
    rec.removing_replicas_n = nremoving;
    rec.adding_replicas = (int32_t *)adding;
    rec.adding_replicas_n = nadding;
    rec.leader = leader;
    rec.leader_epoch = leader_epoch;
    rec.partition_epoch = partition_epoch;
    mrec_begin(l, KP_REC_PARTITION_RECORD, 0);
    kp_partition_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_config(mrec_list *l, int8_t resource_type, const char *resource, const char *name, const char *value)
{
    kp_config_record rec;
    kp_config_record_init(&rec);
    rec.resource_type = resource_type;
    rec.resource_name = kp_str_c(resource);
    rec.name = kp_str_c(name);
    rec.value = value ? kp_str_c(value) : KP_STR_NULL;
    mrec_begin(l, KP_REC_CONFIG_RECORD, 0);
    kp_config_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_remove_topic(mrec_list *l, kp_uuid id)
{
    kp_remove_topic_record rec;
    kp_remove_topic_record_init(&rec);
    rec.topic_id = id;
    mrec_begin(l, KP_REC_REMOVE_TOPIC_RECORD, 0);
    kp_remove_topic_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_producer_ids(mrec_list *l, int32_t broker_id, int64_t broker_epoch, int64_t next_producer_id)
{
    kp_producer_ids_record rec;
    kp_producer_ids_record_init(&rec);
    rec.broker_id = broker_id;
    rec.broker_epoch = broker_epoch;
    rec.next_producer_id = next_producer_id;
    mrec_begin(l, KP_REC_PRODUCER_IDS_RECORD, 0);
    kp_producer_ids_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_feature_level(mrec_list *l, const char *name, int16_t level)
{
    kp_feature_level_record rec;
    kp_feature_level_record_init(&rec);
    rec.name = kp_str_c(name);
    rec.feature_level = level;
    mrec_begin(l, KP_REC_FEATURE_LEVEL_RECORD, 0);
    kp_feature_level_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_register_broker(mrec_list *l, const mi_broker *b)
{
    kp_register_broker_record rec;
    kp_register_broker_record_init(&rec);
    kp_register_broker_record_broker_endpoint eps[16];
    int n = b->neps < 16 ? b->neps : 16;
    for (int i = 0; i < n; i++) {
        kp_register_broker_record_broker_endpoint_init(&eps[i]);
        eps[i].name = kp_str_c(b->eps[i].name);
        eps[i].host = kp_str_c(b->eps[i].host);
        eps[i].port = (uint16_t)b->eps[i].port;
        eps[i].security_protocol = b->eps[i].security_protocol;
    }
    rec.broker_id = b->id;
    rec.incarnation_id = b->incarnation;
    rec.broker_epoch = b->epoch;
    rec.end_points = eps;
    rec.end_points_n = n;
    rec.features_n = 0;
    rec.rack = b->rack ? kp_str_c(b->rack) : KP_STR_NULL;
    rec.fenced = b->fenced;
    rec.in_controlled_shutdown = b->shutting_down;
    mrec_begin(l, KP_REC_REGISTER_BROKER_RECORD, 1);
    kp_register_broker_record_encode(&l->w, 1, &rec);
    mrec_end(l);
}

void mrec_unregister_broker(mrec_list *l, int32_t id, int64_t epoch)
{
    kp_unregister_broker_record rec;
    kp_unregister_broker_record_init(&rec);
    rec.broker_id = id;
    rec.broker_epoch = epoch;
    mrec_begin(l, KP_REC_UNREGISTER_BROKER_RECORD, 0);
    kp_unregister_broker_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_fence_broker(mrec_list *l, int32_t id, int64_t epoch, bool fenced)
{
    if (fenced) {
        kp_fence_broker_record rec;
        kp_fence_broker_record_init(&rec);
        rec.id = id;
        rec.epoch = epoch;
        mrec_begin(l, KP_REC_FENCE_BROKER_RECORD, 0);
        kp_fence_broker_record_encode(&l->w, 0, &rec);
    } else {
        kp_unfence_broker_record rec;
        kp_unfence_broker_record_init(&rec);
        rec.id = id;
        rec.epoch = epoch;
        mrec_begin(l, KP_REC_UNFENCE_BROKER_RECORD, 0);
        kp_unfence_broker_record_encode(&l->w, 0, &rec);
    }
    mrec_end(l);
}

void mrec_broker_shutting_down(mrec_list *l, int32_t id, int64_t epoch)
{
    kp_broker_registration_change_record rec;
    kp_broker_registration_change_record_init(&rec);
    rec.broker_id = id;
    rec.broker_epoch = epoch;
    rec.in_controlled_shutdown = 1;
    mrec_begin(l, KP_REC_BROKER_REGISTRATION_CHANGE_RECORD, 1);
    kp_broker_registration_change_record_encode(&l->w, 1, &rec);
    mrec_end(l);
}

/* PartitionChangeRecord v0; an array NULL is left out (unchanged). */
static void partition_change(mrec_list *l, kp_uuid id, int32_t index, int32_t leader, const int32_t *isr, int nisr,
                             const int32_t *replicas, int nreplicas, const int32_t *removing, int nremoving,
                             const int32_t *adding, int nadding)
{
    kp_partition_change_record rec;
    kp_partition_change_record_init(&rec);
    rec.partition_id = index;
    rec.topic_id = id;
    rec.leader = leader;
    rec.isr = (int32_t *)isr;
    rec.isr_n = isr ? nisr : -1;
    rec.replicas = (int32_t *)replicas;
    rec.replicas_n = replicas ? nreplicas : -1;
    rec.removing_replicas = (int32_t *)removing;
    rec.removing_replicas_n = removing ? nremoving : -1;
    rec.adding_replicas = (int32_t *)adding;
    rec.adding_replicas_n = adding ? nadding : -1;
    mrec_begin(l, KP_REC_PARTITION_CHANGE_RECORD, 0);
    kp_partition_change_record_encode(&l->w, 0, &rec);
    mrec_end(l);
}

void mrec_partition_change(mrec_list *l, kp_uuid id, int32_t index, int32_t leader, const int32_t *isr, int nisr)
{
    partition_change(l, id, index, leader, isr, nisr, NULL, 0, NULL, 0, NULL, 0);
}

void mrec_partition_reassign(mrec_list *l, kp_uuid id, int32_t index, int32_t leader, const int32_t *isr, int nisr,
                             const int32_t *replicas, int nreplicas, const int32_t *removing, int nremoving,
                             const int32_t *adding, int nadding)
{
    static const int32_t none[1] = { 0 }; /* all three written, empty ones too */
    partition_change(l, id, index, leader, isr, nisr, replicas ? replicas : none, nreplicas,
                     removing ? removing : none, nremoving, adding ? adding : none, nadding);
}

int mrec_open(kp_reader *r, const uint8_t *val, int32_t len, arena *a, int *key, int16_t *version)
{
    if (len < 0)
        return -1;
    kp_reader_init(r, val, (size_t)len, a);
    uint32_t frame = kp_read_uvarint(r), k = kp_read_uvarint(r), v = kp_read_uvarint(r);
    if (r->err || frame != 1 || k > INT16_MAX || v > INT16_MAX)
        return -1;
    *key = (int)k;
    *version = (int16_t)v;
    return 0;
}
