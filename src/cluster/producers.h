/*
 * producers.h - one partition's producer state: for every producer id that
 * wrote to it, the epoch, the sequence ranges and offsets of its last five
 * batches, and the first offset of its open transaction.
 *
 * This is what makes a retried batch a duplicate instead of a second copy
 * (Kafka's ProducerStateManager). The rules (producers_check) are Kafka's:
 * - an epoch older than the producer's is INVALID_PRODUCER_EPOCH;
 * - a new epoch must start at sequence 0 unless the producer is unknown;
 * - in the same epoch the batch must follow the last one (sequence + 1,
 *   wrapping at INT32_MAX), or be one of the last five batches again (a
 *   duplicate: answered with the original offsets, not written again);
 *   anything else is OUT_OF_ORDER_SEQUENCE_NUMBER;
 * - a producer whose state is gone (expired, or never seen) may start at
 *   any sequence, as in Kafka since KIP-360.
 *
 * The snapshot file is Kafka's `<offset>.snapshot` (version 1: int16
 * version, uint32 CRC-32C of what follows, then int32 count and per producer
 * id, epoch, last sequence, last offset, offset delta, timestamp, coordinator
 * epoch and open transaction's first offset), so Kafka's DumpLogSegments
 * reads Gregor's snapshots. It keeps only the last batch of each producer,
 * as Kafka's does: after a restart a duplicate of the last batch is still
 * caught, older ones are out of order.
 *
 * Not thread-safe: the partition that owns the table holds its lock.
 */
#ifndef GREGOR_CLUSTER_PRODUCERS_H
#define GREGOR_CLUSTER_PRODUCERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRODUCERS_BATCHES_KEPT 5   /* Kafka's NUM_BATCHES_TO_RETAIN */

typedef struct prod_batch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
    int64_t max_ts;
} prod_batch;

typedef struct prod_entry {
    int64_t pid;
    int16_t epoch;              /* -1: no epoch known (state rebuilt without batches) */
    int32_t coordinator_epoch;  /* of the last transaction marker, -1 if none */
    int64_t txn_first_offset;   /* first offset of the open transaction, -1 if none */
    int64_t last_ts;            /* max timestamp of its last batch (client clock) */
    int nbatches;               /* 0..PRODUCERS_BATCHES_KEPT, oldest first */
    prod_batch batches[PRODUCERS_BATCHES_KEPT];
} prod_entry;

/* What the check needs of a batch (from its header). */
typedef struct prod_batch_in {
    int64_t pid;
    int16_t epoch;
    int32_t base_seq;
    int32_t last_offset_delta;
    int64_t max_ts;
    bool transactional;
    bool control;
} prod_batch_in;

typedef struct producers producers;

producers *producers_new(void);
void producers_free(producers *t);
int producers_count(const producers *t);
prod_entry *producers_get(producers *t, int64_t pid);
/* The entry of pid, created empty (epoch -1) when absent; NULL without memory. */
prod_entry *producers_put(producers *t, int64_t pid);
void producers_remove(producers *t, int64_t pid);
/* Put back a saved copy of an entry (undo of producers_apply). */
int producers_restore(producers *t, const prod_entry *saved);
/* Visit every entry (in no particular order); fn may not add or remove. */
void producers_each(producers *t, void (*fn)(void *arg, prod_entry *e), void *arg);

enum prod_verdict {
    PROD_APPEND = 0,     /* in order: append it */
    PROD_DUPLICATE,      /* already written; *dup names the original */
    PROD_REFUSE,         /* *error is the Kafka error code, why says it */
};

/* Kafka's rules, above. e may be NULL (unknown producer). */
int producers_check(const prod_entry *e, const prod_batch_in *b, int64_t at_offset, int16_t *error,
                    const prod_batch **dup, char *why, size_t why_len);
/* Record a written batch at [first_offset, last_offset] in e. */
void producers_apply(prod_entry *e, const prod_batch_in *b, int64_t first_offset, int64_t last_offset);

/* Drop producers idle since before now - max_idle_ms with no open
 * transaction (producer.id.expiration.ms). Returns how many. */
int producers_expire(producers *t, int64_t now_ms, int64_t max_idle_ms);

/* Kafka's sequence arithmetic: seq + n, wrapping past INT32_MAX to 0. */
int32_t producers_seq_add(int32_t seq, int32_t n);

/* ---- snapshot files: <dir>/<20-digit offset>.snapshot ---- */

/* Serialise into a malloc'd buffer (*len bytes), Kafka's format v1. */
uint8_t *producers_snapshot_encode(producers *t, size_t *len);
/* Replace t's contents with a snapshot's; -1 with why on a bad file. */
int producers_snapshot_decode(producers *t, const uint8_t *buf, size_t len, char *why, size_t why_len);

/* Write t as dir's snapshot at offset (tmp file, then rename; no fsync: a
 * lost or torn snapshot fails its CRC and an older one or the log is used). */
int producers_snapshot_write(producers *t, const char *dir, int64_t offset, char *why, size_t why_len);
/* The snapshot offsets in dir, ascending; *out malloc'd. Returns the count or -1. */
int producers_snapshot_list(const char *dir, int64_t **out);
/* Read dir's snapshot at offset into t. */
int producers_snapshot_read(producers *t, const char *dir, int64_t offset, char *why, size_t why_len);
/* Delete dir's snapshots with offset < below, or > above (-1: none of the kind). */
void producers_snapshot_delete(const char *dir, int64_t below, int64_t above);

#endif
