/*
 * snapfile.h - KRaft metadata snapshot files (Kafka's .checkpoint), written
 * and read.
 *
 * A snapshot of the metadata image lives in the metadata log directory
 * (<log.dirs>/__cluster_metadata-0/) as %020lld-%010d.checkpoint: the
 * snapshot id's end offset and epoch. Its contents are record batches v2
 * exactly as in a .log segment, base offsets 0, 1, ... contiguous, every
 * batch's partitionLeaderEpoch the snapshot id's epoch (what Kafka 4.4
 * writes):
 *   1. a control batch with one SNAPSHOT_HEADER record (control type 3,
 *      SnapshotHeaderRecord v0 {version 0, lastContainedLogTimestamp});
 *   2. data batches of metadata record frames (mrec.h), keys null;
 *   3. a control batch with one SNAPSHOT_FOOTER record (type 4, v0).
 * Kafka with a dynamic quorum also puts KRAFT_VERSION (5) and KRAFT_VOTERS
 * (6) control records after the header; the reader skips every control
 * record it does not know.
 *
 * A file is written as <name>.part, fsynced, renamed and the directory
 * fsynced, so a crash leaves either no file or a whole one; a leftover
 * .part is deleted by snapfile_latest. Files are never modified after the
 * rename.
 *
 * No globals, no threads of its own: every function is a blocking call on
 * the caller's thread (disk I/O: not the reactor's).
 */
#ifndef GREGOR_METADATA_SNAPFILE_H
#define GREGOR_METADATA_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/mrec.h"
#include "raft/raft.h"

/* Data batches are cut after the record that takes them past this. */
#define SNAPFILE_BATCH_BYTES_MAX (1u << 20)
/* A batch longer than this is refused when reading (Kafka's own batches
 * stay below 8 MiB; this leaves room and bounds what one read allocates). */
#define SNAPFILE_READ_BATCH_BYTES_MAX (64u << 20)

/* <dir>/%020lld-%010d.checkpoint, or .checkpoint.part when part. */
void snapfile_path(char *buf, size_t len, const char *dir, raft_snapshot_id id, bool part);

/* Write the frames of recs (in order; borrowed) as a checkpoint for id;
 * durable on return: write .part, fsync, rename, fsync dir. Data batches of
 * at most ~SNAPFILE_BATCH_BYTES_MAX each. *size_out (may be NULL): the
 * file's size. 0, or -1 with err (no file left). */
int snapfile_write(const char *dir, raft_snapshot_id id, int64_t last_contained_ts_ms, const mrec_list *recs,
                   int64_t *size_out, char *err, size_t errlen);

/* Validate a checkpoint and call fn(ctx, value, len) for every DATA record
 * value in order (control records skipped; value borrowed for the call); fn
 * may be NULL (validate only). Checks: batch framing and CRCs, the header
 * record first and the footer last, nothing after the footer, base offsets
 * contiguous from 0, and when path is named after a snapshot id, every
 * batch's partitionLeaderEpoch that id's epoch. 0 ok; a non-zero return of fn stops and is returned;
 * -1 malformed (or unreadable), with err saying where. Note that fn sees
 * records before the whole file is known to be valid. */
int snapfile_read(const char *path, int (*fn)(void *ctx, const uint8_t *val, int32_t len), void *ctx, char *err,
                  size_t errlen);

/* The newest valid checkpoint in dir (by end offset, then epoch): 1 with id,
 * *size and path filled; 0 none; an invalid newest one is renamed to
 * <name>.bad with a glog warning and the next is tried; leftover
 * *.checkpoint.part files are deleted. -1 only when dir is unreadable. */
int snapfile_latest(const char *dir, raft_snapshot_id *id, int64_t *size, char *path, size_t pathlen, char *err,
                    size_t errlen);

/* Delete every checkpoint older than id (end offset below id's). Returns
 * how many. */
int snapfile_remove_older(const char *dir, raft_snapshot_id id);

/* Parse a file name (no directory); 0 and id when it is a checkpoint name
 * (exactly 20 digits, '-', 10 digits, ".checkpoint"), else -1. */
int snapfile_parse_name(const char *name, raft_snapshot_id *id);

#endif
