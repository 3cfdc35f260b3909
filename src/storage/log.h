/*
 * log.h - one partition's log: an ordered list of segments on disk.
 *
 * Directory layout, as Kafka's: <dir>/<20-digit base offset>.log holding
 * record batches v2 back to back, .index (sparse: 8-byte entries of
 * relative offset int32 + file position int32, one per index.interval.bytes
 * of log), .timeindex (12-byte entries: timestamp int64 + relative offset
 * int32, appended when a batch raises the segment's max timestamp and the
 * index interval has passed). The active segment keeps its index entries in
 * memory (at most segment.index.bytes each) and writes the two index files
 * when it rolls and on close, so a partition holds one open file: the
 * active .log (older segments: their .log each).
 *
 * Thread model: a plog is shared by the reactor threads (append, read) and
 * the flusher thread (flush). An internal mutex guards its state; fsync runs
 * outside that mutex so appends go on while the disk syncs (group commit).
 *
 * Failure is sticky: after a failed write, truncate or fsync the plog enters
 * the failed state, every later append/flush answers LOG_ERR_FAILED, and the
 * reason is kept for the log line and for KAFKA_STORAGE_ERROR answers.
 * Except a full disk: a write that fails with ENOSPC (or EDQUOT) leaves the
 * segment at its last complete batch and puts the plog in the no-space
 * state, where appends answer LOG_ERR_NO_SPACE (one a second is let through
 * to see whether space is back, and the first that succeeds ends the
 * state) while reads and fsyncs go on.
 */
#ifndef GREGOR_STORAGE_LOG_H
#define GREGOR_STORAGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_result {
    LOG_OK = 0,
    LOG_ERR_IO,            /* a syscall failed; the plog is now failed */
    LOG_ERR_FAILED,        /* the plog failed earlier; see plog_failure() */
    LOG_ERR_OUT_OF_RANGE,  /* offset below log start or above log end */
    LOG_ERR_CORRUPT,       /* corruption (not a torn tail) found while opening; see the report */
    LOG_ERR_NOMEM,
    LOG_ERR_TOO_LARGE,     /* a single batch larger than segment.bytes */
    LOG_ERR_NO_SPACE,      /* the disk is full; see plog_no_space(); not sticky */
    LOG_ERR_DAMAGED,       /* a read reached a batch the scrubber found damaged */
    LOG_ERR_BUSY,          /* plog_scrub: the round's byte budget is spent */
};

typedef struct log_config {
    int64_t segment_bytes;          /* segment.bytes, default 1 GiB */
    int64_t segment_ms;             /* segment.ms, default 7 days */
    int32_t index_interval_bytes;   /* index.interval.bytes, default 4096 */
    int32_t segment_index_bytes;    /* segment.index.bytes, default 10 MiB */
    int64_t retention_ms;           /* retention.ms, -1 = forever */
    int64_t retention_bytes;        /* retention.bytes, -1 = no limit */
    bool delete_policy;             /* cleanup.policy includes delete: retention applies;
                                       a compact-only log is never trimmed by it */
    bool compact_policy;            /* cleanup.policy includes compact: the cleaner compacts it */
    double min_cleanable_ratio;     /* min.cleanable.dirty.ratio */
    int64_t min_compaction_lag_ms;  /* min.compaction.lag.ms */
    int64_t max_compaction_lag_ms;  /* max.compaction.lag.ms */
    int64_t delete_retention_ms;    /* delete.retention.ms */
    int64_t segment_jitter_ms;      /* segment.jitter.ms: a segment rolls up to this much before segment.ms */
    int64_t file_delete_delay_ms;   /* file.delete.delay.ms: a removed segment's files stay as *.deleted */
    bool preallocate;               /* preallocate: the active segment's blocks are reserved up front */
    bool truncate_corrupt;          /* recovery cuts corruption off like a torn tail
                                       (log.recovery.truncate.corrupt); else the open fails */
    bool verify_on_open;            /* a vital log (metadata): check every batch's CRC at
                                       every open, and take a whole last batch with a bad
                                       CRC for damage, not for a torn write */
} log_config;

void log_config_defaults(log_config *cfg);

typedef struct plog plog;
typedef struct log_segment log_segment;

/* A byte range of one segment file, for sendfile(). */
typedef struct plog_slice {
    log_segment *seg;   /* referenced; release with log_segment_unref() */
    int fd;             /* the segment's .log fd, valid while seg is referenced */
    int64_t pos;
    int32_t len;        /* 0: nothing to read */
} plog_slice;

/*
 * Open (or create) the log in dir. recovery_point: offset below which data
 * is known flushed (from the checkpoint; 0 if unknown). clean: the previous
 * run shut down cleanly (indexes are trusted, no rescan). On an unclean open
 * every segment from the one holding recovery_point on is re-validated batch
 * by batch (lengths, CRC); the log is truncated at the first bad batch and
 * the indexes of rescanned segments are rebuilt. What recovery did is
 * written into report (may be NULL) as one human sentence.
 */
int plog_open(const char *dir, const log_config *cfg, int64_t log_start_offset,
              int64_t recovery_point, bool clean, plog **out,
              char *report, size_t report_len);
/* Trim indexes, close files, free. Does not fsync (call plog_flush first). */
void plog_close(plog *l);
/*
 * For a clean shutdown: flush, trim the indexes, fsync them too, close and
 * free (always, whatever the result). LOG_OK only when everything reached the
 * disk; otherwise the caller must not write the clean-shutdown marker.
 */
int plog_shutdown(plog *l);
void plog_set_config(plog *l, const log_config *cfg);
void plog_get_config(plog *l, log_config *out);

/*
 * Append one or more validated batches lying back to back in buf (len bytes).
 * baseOffset and partitionLeaderEpoch of each batch are patched in buf, then
 * the bytes go to the active segment in one write (rolling first if needed).
 * *first_offset / *last_offset receive the offsets given to the first and
 * last record. now_ms drives segment.ms rolls.
 */
int plog_append(plog *l, uint8_t *buf, size_t len, int32_t leader_epoch,
                int64_t now_ms, int64_t *first_offset, int64_t *last_offset);
/* A follower's append: the leader's batches keep their offsets and leader
 * epochs (gaps where the leader compacted are kept); a batch below the log
 * end is refused (LOG_ERR_OUT_OF_RANGE) and nothing is written. */
int plog_append_as_follower(plog *l, uint8_t *buf, size_t len, int64_t now_ms, int64_t *first_offset,
                            int64_t *last_offset);

/*
 * fsync every segment holding data below the current log end, outside the
 * lock. *flushed_offset receives the offset up to which data is durable.
 */
int plog_flush(plog *l, int64_t *flushed_offset);

/*
 * The bytes to serve for a fetch at offset: starting at the batch containing
 * offset, whole batches up to max_bytes, or at least one batch if min_one
 * even when it is larger. Never past the log end. offset == log end gives an
 * empty slice; outside [log start, log end] gives LOG_ERR_OUT_OF_RANGE.
 */
int plog_read(plog *l, int64_t offset, int32_t max_bytes, bool min_one, plog_slice *out);
/* The same, never reaching the batch that holds max_offset (a batch
 * boundary, as the last stable offset is): read_committed fetches. */
int plog_read_upto(plog *l, int64_t offset, int64_t max_offset, int32_t max_bytes, bool min_one,
                   plog_slice *out);

/* For ListOffsets: the first offset with timestamp >= ts_ms (and its timestamp);
 * *offset_out = -1 when none. */
int plog_offset_for_timestamp(plog *l, int64_t ts_ms, int64_t *offset_out, int64_t *ts_out);
/* The offset and timestamp of the record with the largest timestamp (-1, -1 if empty). */
void plog_max_timestamp(plog *l, int64_t *offset_out, int64_t *ts_out);
/* For ListOffsets v0 (Kafka 3.9's legacyFetchOffsetsBefore): the base offsets
 * of the segments last modified at or before ts (ts -1: all, the log end
 * too; -2: the first only), and the log end when the active segment holds
 * data, at most max of them, largest first, into out (max slots). Returns
 * how many. */
int plog_legacy_offsets(plog *l, int64_t ts, int max, int64_t now_ms, int64_t *out);

int64_t plog_start_offset(plog *l);
int64_t plog_end_offset(plog *l);      /* next offset to assign */
int64_t plog_recovery_point(plog *l);  /* flushed so far */
/* The base offset of the segment that holds (or would hold) offset. */
int64_t plog_segment_base(plog *l, int64_t offset);
int64_t plog_size_bytes(plog *l);
int plog_segment_count(plog *l);
/* NULL when healthy; otherwise the reason the log failed (owned by the log). */
const char *plog_failure(plog *l);
/*
 * The scrubber: verify the closed segments not checked in the last every_ms
 * (CRCs, lengths, offset order), adding what it reads to *bytes_done and
 * stopping with LOG_ERR_BUSY once that reaches bytes_max. A damaged segment
 * is logged and, from the bad batch on, refused to readers (LOG_ERR_DAMAGED)
 * instead of served; *damaged counts the segments found damaged this call.
 * Runs on the scrubber thread; file reads happen outside the plog's mutex.
 */
int plog_scrub(plog *l, int64_t now_ms, int64_t every_ms, int64_t *bytes_done,
               int64_t bytes_max, int *damaged);

/* True while the plog is out of space; why (may be NULL) gets the reason. */
bool plog_no_space(plog *l, char *why, size_t why_len);

/* Delete whole segments older than retention.ms or beyond retention.bytes,
 * never the active one (when every record of it expired too, it rolls
 * first, running the roll hook: call this as appends are made, under the
 * partition's lock: partition_enforce_retention); advances the log start
 * offset. Nothing for a log
 * whose cleanup policy is compact only. Returns segments removed. Also
 * removes the *.deleted files whose file.delete.delay.ms has passed. */
int plog_enforce_retention(plog *l, int64_t now_ms);
/* Remove segments entirely below offset and raise the log start to it. */
int plog_advance_start(plog *l, int64_t offset);
/* Drop everything at and after offset (used by recovery and tests). */
int plog_truncate(plog *l, int64_t offset);
/* Make the log empty, starting at offset: whatever it held is dropped (a
 * follower installing a snapshot of everything below offset). */
int plog_reset(plog *l, int64_t offset);

/* fn(arg, base) runs when the log rolls to a new segment at offset base,
 * under the log's lock, before the append that caused the roll is written
 * (the partition snapshots its producer state there). */
void plog_set_roll_hook(plog *l, void (*fn)(void *arg, int64_t base_offset), void *arg);

/*
 * For the log cleaner (src/cluster/cleaner.c). The closed segments (every
 * one but the active), each referenced: their files stay readable through
 * fd whatever happens to the log meanwhile.
 */
typedef struct plog_segview {
    log_segment *seg;
    int fd;
    int64_t base, next, size;
    int64_t largest_ts;     /* the largest timestamp, or the file's mtime */
} plog_segview;
/* Count (>= 0, *out malloc'd) or -1 without memory. */
int plog_closed_segments(plog *l, plog_segview **out);
void plog_segviews_release(plog_segview *v, int n);
/* <dir>/<20-digit base><ext>, e.g. ext ".log.cleaned" for the cleaner's output. */
bool plog_cleaned_path(plog *l, int64_t base, const char *ext, char *buf, size_t len);
/*
 * Replace the consecutive closed segments old[0..n), which end at offset
 * end, by the cleaned segment the caller wrote and fsynced at
 * <old[0].base>.log.cleaned (and
 * .txnindex.cleaned when txnindex), crash-safe (Kafka's .cleaned/.swap
 * protocol, described at the definition). LOG_OK; LOG_ERR_BUSY when the
 * log changed meanwhile (retention, truncation): nothing changed and the
 * cleaned files are gone; LOG_ERR_IO with why.
 */
int plog_swap_cleaned(plog *l, const plog_segview *old, int n, int64_t end, bool txnindex, char *why,
                      size_t whylen);

/* The directory this log lives in; borrowed, valid until plog_close. */
const char *plog_dir(plog *l);

/* A slice's segment stays open (even if deleted) until its last unref.
 * log_segment_unref(NULL) is a no-op, so an empty slice may be released too. */
void log_segment_ref(log_segment *s);
void log_segment_unref(log_segment *s);

/* Test hooks: the next append's write tears (half written, then EIO); the
 * next flush's fsync fails with EIO. Both leave the log failed. */
void plog_test_fail_next_write(plog *l);
/* The same with a chosen errno (ENOSPC: the no-space state). */
void plog_test_fail_next_write_with(plog *l, int err);
void plog_test_fail_next_fsync(plog *l);

#endif
