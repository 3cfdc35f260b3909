/*
 * batch_build.h - build record batches v2 for the broker's own logs
 * (__cluster_metadata, later __consumer_offsets). Uncompressed only.
 *
 * Usage: batch_build_begin(); batch_build_add() per record;
 * batch_build_end() fills in the lengths, count and CRC. The batch's bytes
 * are w->buf[start, start + total) of the caller's writer.
 */
#ifndef GREGOR_PROTO_BATCH_BUILD_H
#define GREGOR_PROTO_BATCH_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "proto/codec.h"

typedef struct batch_builder {
    kp_writer *w;          /* borrowed */
    size_t start;          /* offset of the batch in w->buf */
    int32_t count;
    int64_t base_ts, max_ts;
    int64_t producer_id;   /* -1 unless batch_build_producer was called */
    int16_t producer_epoch;
    int32_t base_sequence;
    int16_t attributes;    /* BATCH_ATTR_TRANSACTIONAL / BATCH_ATTR_CONTROL */
} batch_builder;

void batch_build_begin(batch_builder *b, kp_writer *w, int64_t base_timestamp_ms);
/* key/value with len < 0 are null. */
void batch_build_add(batch_builder *b, int64_t timestamp_ms, const void *key, int32_t key_len,
                     const void *value, int32_t value_len);
/* The batch belongs to a producer (idempotent, transactional, or a
 * transaction marker with attributes BATCH_ATTR_CONTROL). Any time before
 * batch_build_end. */
void batch_build_producer(batch_builder *b, int64_t producer_id, int16_t epoch, int32_t base_sequence,
                          int16_t attributes);
/* Returns the batch length in bytes (0 on allocation failure). */
size_t batch_build_end(batch_builder *b);

#endif
