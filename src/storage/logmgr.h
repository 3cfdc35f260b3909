/*
 * logmgr.h - the log directory (log.dirs): its lock, its checkpoints, the
 * clean-shutdown marker, and the partition logs living in it.
 *
 * Layout of <dir>:
 *   .lock                               flock()ed while a broker uses the dir
 *   .kafka_cleanshutdown                present only after a clean shutdown;
 *                                       removed at open so a crash leaves it absent
 *   recovery-point-offset-checkpoint    per partition: offset below which data is fsynced
 *   log-start-offset-checkpoint         per partition: log start offset
 *   <topic>-<partition>/                one plog each (see log.h)
 *   <topic>-<partition>.<32 hex>-delete/  a partition being deleted; removed at open
 *
 * Thread model: called from the reactor threads and one flusher thread; an
 * internal mutex guards the partition table. Flushes run outside it; a
 * partition being flushed is pinned, and delete waits for the pin to go.
 */
#ifndef GREGOR_STORAGE_LOGMGR_H
#define GREGOR_STORAGE_LOGMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/log.h"

typedef struct logmgr logmgr;

#define LOGMGR_CLEAN_SHUTDOWN_FILE ".kafka_cleanshutdown"
#define LOGMGR_RECOVERY_CHECKPOINT "recovery-point-offset-checkpoint"
#define LOGMGR_START_CHECKPOINT "log-start-offset-checkpoint"

/*
 * Create dir if needed (mkdir -p), lock it, read both checkpoints (missing =
 * empty; malformed = empty, with a warning, which only costs a longer
 * recovery), note and remove the clean-shutdown marker, remove leftover
 * *-delete directories. Returns 0, or -1 with the reason in err.
 * *out is owned by the caller: release with logmgr_close.
 */
int logmgr_open(const char *dir, logmgr **out, char *err, size_t errlen);
/* Did the previous run leave the clean-shutdown marker? */
bool logmgr_was_clean(logmgr *m);
/* Recovery cuts corruption off instead of refusing to open the partition
 * (log.recovery.truncate.corrupt); set before opening partitions. */
void logmgr_set_truncate_corrupt(logmgr *m, bool on);

/* The directory; borrowed, valid until logmgr_close. */
const char *logmgr_dir(logmgr *m);

/*
 * Open (creating if needed) <dir>/<topic>-<partition> with the checkpointed
 * log start and recovery point, and register it. Opening an already open
 * partition returns the same plog. *out is borrowed: valid until
 * logmgr_partition_delete of that partition or logmgr_close. Returns a
 * log_result; report receives plog_open's sentence (may be NULL).
 */
int logmgr_partition_open(logmgr *m, const char *topic, int32_t partition,
                          const log_config *cfg, plog **out, char *report, size_t report_len);
/* The open plog for topic/partition, or NULL. Borrowed, as above. */
plog *logmgr_partition_get(logmgr *m, const char *topic, int32_t partition);
/*
 * Close the partition (if open; waits for a running flush of it), rename its
 * directory to <topic>-<partition>.<32 hex>-delete and remove that
 * recursively; also forget its checkpoint entries. Callers must have stopped
 * using the borrowed plog. Returns a log_result (LOG_OK if nothing existed).
 */
int logmgr_partition_delete(logmgr *m, const char *topic, int32_t partition);

/*
 * A partition directory no topic in the metadata owns: rename it to
 * "<topic>-<partition>.<32 hex>-stray" (Kafka's name for such a directory)
 * and say so, so that a later topic of that name never adopts its data.
 * Refuses (LOG_ERR_OUT_OF_RANGE) a partition that is open.
 */
int logmgr_partition_set_aside(logmgr *m, const char *topic, int32_t partition);

/* Write both checkpoint files for every known partition, atomically. */
int logmgr_checkpoint(logmgr *m);
/* plog_flush every open partition (outside the table lock). Returns the first error. */
int logmgr_flush_all(logmgr *m);
/*
 * Flush and checkpoint, close every partition, and if clean (and every step
 * succeeded) write the clean-shutdown marker (file and directory fsynced).
 * Releases the directory lock and frees m. logmgr_close(NULL, x) is a no-op.
 * Returns true when the marker was written: the next open will trust the
 * logs as they are; false when clean was false or a step failed (the next
 * open recovers from the recovery points).
 */
bool logmgr_close(logmgr *m, bool clean);

/*
 * Call cb for every <topic>-<partition> directory on disk (open or not),
 * skipping directories being deleted and names that do not parse. cb runs
 * without the table lock held. Returns the number of calls, or -1 on error.
 */
int logmgr_list_partition_dirs(logmgr *m, void (*cb)(void *arg, const char *topic,
                                                     int32_t partition), void *arg);

#endif
