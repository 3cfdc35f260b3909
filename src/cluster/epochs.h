/*
 * epochs.h - a partition's leader-epoch cache: which leader epoch started
 * at which offset (Kafka's LeaderEpochFileCache, in
 * storage/.../internals/epoch/LeaderEpochFileCache.java), persisted as
 * Kafka's `leader-epoch-checkpoint` file in the partition directory.
 *
 * Followers use it to find where their log diverged from a new leader's
 * (OffsetForLeaderEpoch, key 23; Fetch's LastFetchedEpoch / DivergingEpoch).
 *
 * The entries are kept sorted by epoch; Kafka's assign() keeps both the
 * epochs and the start offsets strictly increasing. No locking inside: the
 * partition's lock guards it. No I/O except epochs_load / epochs_save.
 *
 * Differences from Kafka's Java API, on purpose:
 * - assign returns whether the cache changed (Kafka then writes the file
 *   synchronously; the caller here calls epochs_save) and refuses a
 *   negative epoch or offset with -1 (Kafka throws IllegalArgumentException);
 * - the truncations return the number of entries removed (Kafka flushes the
 *   file asynchronously after a truncation that removed something);
 * - Kafka's endOffsetFor returns (epoch, offset): here the offset is the
 *   result and the epoch goes to *epoch_out.
 */
#ifndef GREGOR_CLUSTER_EPOCHS_H
#define GREGOR_CLUSTER_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

/* OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET */
#define EPOCHS_UNDEFINED_EPOCH (-1)
#define EPOCHS_UNDEFINED_OFFSET (-1LL)

/* The file's name in a partition directory, and its one known version. */
#define EPOCHS_FILE_NAME "leader-epoch-checkpoint"
#define EPOCHS_FILE_VERSION 0

typedef struct epochs epochs;

epochs *epochs_new(void);
void epochs_free(epochs *e);
void epochs_clear(epochs *e);

/* Reads a leader-epoch-checkpoint file into e, replacing its entries, the
 * way Kafka's cache constructor does: every entry of the file goes through
 * assign, in file order. A missing file, an empty file, or one with only a
 * version line is an empty cache (Kafka reads those as no entries).
 * A malformed file is refused with -1 and Kafka's message in err (e is then
 * left as it was). */
int epochs_load(epochs *e, const char *path, char *err, size_t errlen);

/* Writes the file as Kafka's CheckpointFile.write does: "<path>.tmp"
 * written, fsynced, closed, renamed over path, then the parent directory
 * fsynced. 0 or -1 with err. */
int epochs_save(const epochs *e, const char *path, char *err, size_t errlen);

/* The text of the file for the current entries (malloc'd, NUL-terminated). */
char *epochs_format(const epochs *e, size_t *len_out);
/* Parses a file's text (len bytes). `where` names it in the messages. */
int epochs_parse(epochs *e, const char *text, size_t len, const char *where, char *err, size_t errlen);

/* Kafka's assign(epoch, startOffset). Nothing changes when the latest
 * entry has the same epoch and a start offset <= start_offset. Otherwise
 * every entry, from the newest down, whose epoch >= epoch or whose start
 * offset >= start_offset is removed, and (epoch, start_offset) appended.
 * So an epoch below the latest is NOT ignored: it removes the newer ones.
 * Returns 1 when the cache changed, 0 when not, -1 on a negative
 * argument (refused, nothing changed). */
int epochs_assign(epochs *e, int32_t epoch, int64_t start_offset);

/* Kafka's endOffsetFor(requestedEpoch, logEndOffset): the answer to
 * OffsetForLeaderEpoch, and Fetch's DivergingEpoch.
 * - requested == -1, or the cache is empty, or requested > latest:
 *   (-1, -1);
 * - requested == latest: (requested, log_end);
 * - requested below the first epoch: (requested, first entry's start)
 *   (Kafka's code; its javadoc's "UNDEFINED_EPOCH_OFFSET" is stale);
 * - else (largest epoch <= requested, start of the first epoch >
 *   requested).
 * Returns the offset; *epoch_out (may be NULL) gets the epoch. */
int64_t epochs_end_offset_for(const epochs *e, int32_t requested, int64_t log_end, int32_t *epoch_out);

/* Kafka's truncateFromEnd: a follower truncating its log to end_offset
 * drops every entry starting at or after it. Nothing when end_offset < 0
 * or the latest entry starts before end_offset. Returns entries removed. */
int epochs_truncate_from_end(epochs *e, int64_t end_offset);

/* Kafka's truncateFromStart (retention, DeleteRecords): entries starting at
 * or before start_offset are removed, and the last of them comes back with
 * start_offset as its start. truncate_from_start(6) keeps an entry at 6
 * (unchanged). Returns entries removed (the re-added one counts). */
int epochs_truncate_from_start(epochs *e, int64_t start_offset);

/* The latest epoch, -1 when empty. */
int32_t epochs_latest(const epochs *e);
/* Kafka's epochForOffset: the epoch of the last entry starting at or
 * before offset; -1 when offset is before the first entry or empty. */
int32_t epochs_epoch_for(const epochs *e, int64_t offset);
/* The start offset of exactly this epoch, -1 when not cached. */
int64_t epochs_start_of(const epochs *e, int32_t epoch);

/* Rebuilding from a log's batch headers (partitionLeaderEpoch, base
 * offset), in log order, as Kafka's LogSegment.recover does: a batch whose
 * epoch is >= 0 and greater than the latest cached one is assigned; the
 * others change nothing. rebuild_begin empties the cache.
 * rebuild_batch returns 1 when the batch started an epoch.
 * Kafka applies this rule only to the segments it recovers after an
 * unclean shutdown. With the file deleted after a clean shutdown, Kafka
 * 4.4.0 starts with an empty cache and the new leader epoch at the log
 * end (observed: "0 0 / 2 5" became "4 8"). Rebuilding from the whole log
 * keeps the older epochs, so OffsetForLeaderEpoch then answers the old
 * epochs where Kafka would answer (requested epoch, first start). */
void epochs_rebuild_begin(epochs *e);
int epochs_rebuild_batch(epochs *e, int32_t epoch, int64_t base_offset);

int epochs_n(const epochs *e);
void epochs_get(const epochs *e, int i, int32_t *epoch, int64_t *start);

#endif
