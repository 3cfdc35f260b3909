/*
 * cleaner.h - the log cleaner: compaction of logs whose cleanup.policy
 * includes compact, on threads of its own, as Kafka's LogCleaner.
 *
 * A pass over one log (a partition's) goes:
 *   1. Choose: every compacted log's dirty ratio, the bytes of closed
 *      segments not cleaned yet over all cleanable bytes; the dirtiest
 *      above min.cleanable.dirty.ratio wins, a log holding records older
 *      than max.compaction.lag.ms or a delete horizon that has passed
 *      goes first. Cleanable ends at the first uncleanable offset: the
 *      active segment, the last stable offset (open transactions), and
 *      segments with records newer than min.compaction.lag.ms.
 *   2. Map: from the first dirty offset, key -> latest offset of every
 *      committed record (XXH3-128 of the key, 24 bytes an entry), until the
 *      map is full (log.cleaner.dedupe.buffer.size / threads x the load
 *      factor): the rest waits for the next pass.
 *   3. Rewrite: every segment below the map's end, in groups that fit one
 *      segment, keeping a record when no later offset holds its key, and
 *      always the records past the map's end. Offsets stay (gaps); a batch
 *      keeps its base offset, last offset delta, producer fields and
 *      codec. Records of aborted transactions go; transaction markers go
 *      once their transaction has nothing left and their delete horizon
 *      passed; tombstones go once their batch's delete horizon (set on the
 *      first pass that keeps them: now + delete.retention.ms, KIP-534's
 *      batch attribute) passed. A producer's last batch stays, empty if
 *      need be, so its sequence survives a restart.
 *   4. Swap each group in (plog_swap_cleaned: crash-safe) and checkpoint
 *      the new first dirty offset (cleaner-offset-checkpoint, Kafka's
 *      name and format).
 * The active segment is never read or written; appends, fetches and
 * retention go on while a log is cleaned (a swap that finds the log
 * changed under it is dropped and the pass retried later).
 */
#ifndef GREGOR_CLUSTER_CLEANER_H
#define GREGOR_CLUSTER_CLEANER_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/partition.h"

typedef struct cleaner_config {
    int threads;                 /* log.cleaner.threads; 0: no cleaning */
    int64_t dedupe_buffer_bytes; /* log.cleaner.dedupe.buffer.size, all threads together */
    double load_factor;          /* log.cleaner.io.buffer.load.factor */
    int32_t io_buffer_bytes;     /* log.cleaner.io.buffer.size */
    double io_max_bytes_per_sec; /* log.cleaner.io.max.bytes.per.second; <= 0: no cap */
    int64_t backoff_ms;          /* log.cleaner.backoff.ms */
} cleaner_config;

/* The node's partitions, for a cleaner thread looking for work. */
typedef struct cleaner_env {
    /* Every partition, each kept alive (its topic referenced) until release. */
    int (*list)(void *ctx, partition ***out);
    void (*release)(void *ctx, partition **v, int n);
    void *ctx;
    const char *log_dir;         /* where cleaner-offset-checkpoint lives */
} cleaner_env;

/* What one pass did. */
typedef struct cleaner_pass {
    int64_t bytes_before, bytes_after;  /* of the segments rewritten */
    int64_t bytes_read, bytes_written;
    int64_t records_read, records_kept;
    int64_t batches_dropped;
    int64_t map_keys;
    int64_t first_dirty, end_offset;    /* the map covered [first_dirty, end_offset) */
    int segments_before, segments_after;
    int64_t duration_ms;
} cleaner_pass;

typedef struct cleaner cleaner;

cleaner *cleaner_new(const cleaner_config *cfg, const cleaner_env *env);
int cleaner_start(cleaner *c);
/* Stop the threads (a pass in progress stops at its next batch and drops
 * its unfinished output) and join them. */
void cleaner_stop(cleaner *c);
void cleaner_free(cleaner *c);

/* Totals since start, for metrics and the bench: passes, bytes read and
 * written, bytes the logs shrank by. */
void cleaner_totals(cleaner *c, int64_t *passes, int64_t *read, int64_t *written, int64_t *saved);

#endif
