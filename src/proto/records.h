/*
 * records.h - the one record iterator: the records of a v2 batch, one by
 * one, whatever its codec. Every place that needs records rather than
 * batches (the coordinators' loaders, ListOffsets by timestamp, the log
 * cleaner, dump-log, recompression) walks them with this.
 *
 * An uncompressed batch is walked in place. A compressed one is inflated
 * whole into the iterator's buffer first (zreader.h), refusing to grow it
 * past max_bytes: the caller says how much memory one batch may take.
 *
 * Records borrow from the batch or from the iterator's buffer: valid until
 * the next rec_iter_init or rec_iter_deinit on that iterator. Reusing one
 * iterator for many batches keeps its buffer.
 */
#ifndef GREGOR_PROTO_RECORDS_H
#define GREGOR_PROTO_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/batch.h"
#include "proto/codec.h"

typedef struct krecord {
    int64_t offset;          /* the batch's base offset + offset delta */
    int64_t timestamp;       /* base timestamp + delta; the batch's max for LogAppendTime */
    int64_t timestamp_delta;
    int32_t offset_delta;
    const uint8_t *key;      /* NULL when null */
    int32_t key_len;         /* -1: null */
    const uint8_t *value;
    int32_t value_len;       /* -1: null (a tombstone) */
    int32_t header_count;
    const uint8_t *headers;  /* header_count headers as they are encoded */
    size_t headers_len;
    const uint8_t *raw;      /* the whole record, its length varint first */
    size_t raw_len;
    const uint8_t *after_ts; /* the record from its offset delta to its end */
    size_t after_ts_len;
} krecord;

typedef struct rec_iter {
    const uint8_t *batch;
    size_t batch_len;
    batch_info info;
    int64_t base_offset;
    uint8_t *buf;            /* inflated records of a compressed batch; owned */
    size_t buf_cap;
    const uint8_t *pos, *end;
    int32_t left;            /* records the header says remain */
    const char *err;         /* static; why the walk stopped early */
} rec_iter;

void rec_iter_setup(rec_iter *it);
/* Start on the batch at p (len bytes available, header already checked by
 * the caller: it was validated on its way into the log). 0, or -1 with
 * it->err set (bad header, unknown codec, does not inflate, larger than
 * max_bytes inflated). */
int rec_iter_init(rec_iter *it, const uint8_t *p, size_t len, size_t max_bytes);
/* 1 and *out filled; 0 after the last record; -1 with it->err when a record
 * does not parse. */
int rec_iter_next(rec_iter *it, krecord *out);
void rec_iter_deinit(rec_iter *it);

/* Call fn for each record's key and value (len -1: null); stops at fn's
 * first non-zero and returns it; -1 when the batch cannot be walked. */
int records_each(const uint8_t *p, size_t len, size_t max_bytes,
                 int (*fn)(void *arg, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen),
                 void *arg);
/* ListOffsets by timestamp within one batch: the first record whose
 * timestamp is >= ts_ms (its offset and timestamp). */
bool records_find_timestamp(const uint8_t *p, size_t len, size_t max_bytes, int64_t ts_ms,
                            int64_t *offset_out, int64_t *ts_out);

/* Batch p (len bytes, validated) with its records compressed anew with
 * codec (0: none) at level (zwriter.h), every other header field kept,
 * appended to out: a topic's compression.type at work. 0, or -1 with *err. */
int records_recompress(const uint8_t *p, size_t len, int codec, int level, kp_writer *out, const char **err);

/* Encode one record (length varint
 * first) with the given deltas, key, value and raw headers into out
 * (at least rec_encoded_max bytes); returns the bytes written. */
size_t rec_encoded_max(int32_t key_len, int32_t value_len, size_t headers_len);
size_t rec_encode(uint8_t *out, int64_t timestamp_delta, int32_t offset_delta, const uint8_t *key,
                  int32_t key_len, const uint8_t *value, int32_t value_len, int32_t header_count,
                  const uint8_t *headers, size_t headers_len);

/* One batch's records inflated may take this much by default (Kafka's
 * broker caps a batch at message.max.bytes before compression; ratios of
 * 50 are rare, 256 MiB is far past any sane batch). */
#define RECORDS_MAX_INFLATED (256u << 20)

#endif
