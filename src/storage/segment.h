/*
 * segment.h - one log segment: <base>.log, <base>.index, <base>.timeindex.
 *
 * Internal to src/storage (log.c is its only user); the struct is visible so
 * the partition log can read the bookkeeping fields under its own mutex.
 *
 * Files (Kafka's formats, all integers big-endian):
 *   .log        record batches v2 back to back.
 *   .index      8-byte entries: offset - base (int32), position (int32).
 *               An entry names a batch's LAST offset and that batch's start
 *               position, so the greatest entry <= target is a batch at or
 *               before the one holding target.
 *   .timeindex  12-byte entries: timestamp (int64), offset - base (int32).
 *               Entry (T, O): every record below offset O has timestamp <= T.
 *               O is the base offset of the batch holding T.
 *
 * Invariants (checked by asserts where cheap):
 *   1. base_offset <= every offset held; next_offset == base_offset when empty.
 *   2. 0 <= flushed_size, and bytes [0, size) are whole, valid batches.
 *   3. index_entries <= index_entries_max while active; entries' offsets and
 *      positions strictly increase; every position < size.
 *   4. refs >= 1 while the segment is in a plog's list; the .log fd closes on
 *      the last log_segment_unref, never earlier (readers hold refs).
 *   5. One open file per segment: the .log. While a segment is active its
 *      index entries live in memory (idx_mem, tidx_mem) and the index files
 *      on disk may be stale or missing; log_segment_deactivate (roll, close,
 *      shutdown) writes them. Nothing reads an active segment's index files:
 *      a crash leaves the active segment past the recovery point, and
 *      recovery rebuilds its indexes from the .log. Inactive segments'
 *      index files are complete and immutable (until truncation) and are
 *      opened only for the duration of one lookup.
 *
 *   6. no_index set: the index files must not be read (lookups scan the
 *      .log from 0). Set on a segment the cleaner replaced (its name now
 *      belongs to the cleaned segment, whose index may be renamed in at any
 *      moment) and on a cleaned segment until its index files are in place.
 *
 * Locking: the mutable fields below "guarded" belong to the owning plog's
 * mutex, including the in-memory index arrays (appends may move them).
 * refs is atomic. log_fd and the paths are immutable after creation.
 */
#ifndef GREGOR_STORAGE_SEGMENT_H
#define GREGOR_STORAGE_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/log.h"

#define SEG_INDEX_ENTRY_BYTES 8
#define SEG_TIMEINDEX_ENTRY_BYTES 12
#define SEG_NAME_DIGITS 20
#define SEG_SCAN_BUF_BYTES (1 << 20)    /* recovery reads the log in 1 MiB chunks */

struct log_segment {
    int64_t base_offset;
    char *path_log;             /* owned; also used to build the .deleted names */
    char *path_index;
    char *path_timeindex;
    int log_fd;
    atomic_int refs;
    atomic_bool no_index;       /* invariant 6 */

    /* guarded by the owning plog's mutex */
    int64_t size;               /* readable bytes: completed writes only */
    int64_t flushed_size;       /* bytes known to be on disk (fsync done) */
    int64_t next_offset;        /* one past the last offset held */
    int32_t index_entries;
    int32_t index_entries_max;  /* preallocated capacity while active */
    int32_t timeindex_entries;
    int32_t timeindex_entries_max;
    int64_t timeindex_last_ts;  /* timestamp of the last time index entry, -1 none */
    int64_t bytes_since_index;  /* log bytes written since the last index entry */
    int64_t max_ts;             /* largest batch maxTimestamp, -1 when none */
    int64_t max_ts_offset;      /* last offset of the batch holding max_ts (as Kafka's time index), -1 none */
    int64_t created_ms;         /* now_ms of the first append after open/create, -1 unset */
    int64_t jitter_ms;          /* segment.jitter.ms share of this segment: it rolls that much early */
    int64_t first_ts;           /* maxTimestamp of its first batch (segment.ms in record time), -1 none */
    bool preallocated;          /* blocks reserved past the data (preallocate): released at deactivate */
    uint8_t *idx_mem;           /* active only: index_entries entries of 8 bytes */
    uint8_t *tidx_mem;          /* active only: timeindex_entries entries of 12 bytes */
    int32_t idx_cap, tidx_cap;  /* entries allocated in idx_mem / tidx_mem */
    bool active;                /* appends go here; indexes in memory */
    bool index_dirty;           /* the index files differ from the entries (or are missing) */
    bool index_synced;          /* index files fsynced since they were last written */
    int64_t scrubbed_ms;        /* when the scrubber last verified it whole, -1 never */
    int64_t damaged_pos;        /* the scrubber found a bad batch here: reads stop before it; -1 none */
};

/* A buffered reader over a .log fd that never reads at or past limit. */
typedef struct seg_reader {
    int fd;
    int64_t limit;
    uint8_t *buf;
    size_t cap;
    size_t cap_max;             /* growth limit for whole-batch reads; == cap: fixed */
    bool owned;                 /* buf is malloc'd by the reader */
    int64_t buf_pos;
    size_t buf_len;
    int err;                    /* errno of a failed read, 0 otherwise */
} seg_reader;

void seg_reader_init(seg_reader *r, int fd, int64_t limit, uint8_t *buf, size_t cap);
/* Heap-backed reader starting at cap bytes, allowed to grow to cap_max. */
int seg_reader_init_heap(seg_reader *r, int fd, int64_t limit, size_t cap, size_t cap_max);
void seg_reader_deinit(seg_reader *r);
/* n bytes at pos, borrowed until the next call; NULL when they would cross
 * limit or the file is shorter (err == 0) or on an I/O error (err set). */
const uint8_t *seg_reader_get(seg_reader *r, int64_t pos, size_t n);

/* What a scan of a segment's .log found. */
typedef struct seg_scan_result {
    int64_t valid_bytes;        /* whole valid batches from position 0 */
    int64_t file_bytes;         /* size of the .log file */
    int64_t batches;
    const char *stop_reason;    /* NULL: every byte was a valid batch */
    int64_t bad_batch_bytes;    /* the first bad batch's length, when its header was sound; else 0 */
    int64_t bad_base_offset;    /* its base offset then; else -1 */
    bool tail_zero;             /* every byte from valid_bytes on is zero */
} seg_scan_result;

int64_t seg_be64(const uint8_t *p);
int32_t seg_be32(const uint8_t *p);
void seg_put_be64(uint8_t *p, int64_t v);
void seg_put_be32(uint8_t *p, int32_t v);

/* <dir>/<20 digits><ext> into buf; false when it does not fit. */
bool log_segment_path(char *buf, size_t len, const char *dir, int64_t base, const char *ext);
/* Parse "<20 digits><ext>"; true and *base_out when name matches exactly. */
bool log_segment_parse_name(const char *name, const char *ext, int64_t *base_out);

/*
 * Create a fresh, empty, active segment (files truncated) with indexes
 * preallocated per cfg. Returns 0 or an errno value.
 */
int log_segment_create(const char *dir, int64_t base, const log_config *cfg, log_segment **out);
/* A segment over an already open .log fd (the cleaner's .swap file, named
 * for dir/base): owns fd from now on; no_index is set until the caller
 * clears it. Bookkeeping unset, as log_segment_open. */
int log_segment_adopt(const char *dir, int64_t base, int fd, log_segment **out);
/* Open an existing segment's .log; the bookkeeping is unset until
 * log_segment_load_clean or log_segment_rebuild. */
int log_segment_open(const char *dir, int64_t base, log_segment **out);

/*
 * Trust the index files after a clean shutdown, with sanity checks; finds
 * next_offset by scanning batch headers after the last index entry. Returns
 * 0 or an errno; *trusted = false when something looks wrong (the caller then
 * rebuilds with verification).
 */
int log_segment_load_clean(log_segment *s, bool *trusted);
/*
 * Read the whole .log from position 0, rebuild both indexes from it and set
 * size, next_offset and max_ts. With verify, every batch's CRC is checked.
 * Stops at the first invalid batch (res->stop_reason) without truncating;
 * offsets must start at >= min_offset and increase. Returns 0 or an errno.
 */
int log_segment_rebuild(log_segment *s, bool verify, int64_t min_offset,
                        int32_t index_interval_bytes, seg_scan_result *res);
/*
 * The scrubber's check of a closed segment, read-only: every batch's
 * header, CRC and offset order in [0, size). 0 with *bad_pos = -1 when all
 * is well; 0 with *bad_pos, *bad_offset (-1 unknown) and *why (static) at
 * the first bad batch; an errno when the file cannot be read.
 */
int log_segment_verify(log_segment *s, int64_t size, int64_t *bad_pos, int64_t *bad_offset,
                       const char **why);
/* log_segment_rebuild with verification from its base offset, writing the
 * index files to the paths given (the cleaner's .swap names). */
int log_segment_rebuild_into(log_segment *s, int32_t index_interval_bytes, seg_scan_result *res,
                             const char *path_index, const char *path_timeindex);
/* Recompute max_ts / max_ts_offset from batch headers (indexes untouched). */
int log_segment_scan_max_ts(log_segment *s);

/* Make s the segment appends go to: its index entries are read into memory,
 * capped at segment.index.bytes. */
int log_segment_activate(log_segment *s, const log_config *cfg);
/* Stop being active: final time index entry, then (when they changed) both
 * index files are written from memory, not yet fsynced (index_synced false).
 * On a segment rebuilt by recovery (not active), only the final time index
 * entry is appended to its file. */
int log_segment_deactivate(log_segment *s);
/* fsync both index files (by path: they are not kept open); a file already
 * deleted is fine. Returns 0 or errno, *what names the file that failed. */
int log_segment_sync_indexes(log_segment *s, const char **what);
/* True when an append must roll first because an index is full. */
bool log_segment_index_full(const log_segment *s);

/*
 * Write len bytes of batches (offsets already patched) at the end of the
 * .log in one pwrite and update the indexes. On a failed write the file is
 * truncated back to its previous size and the errno is returned; *index_err
 * receives the errno of a failed index write after a successful log write.
 * fail_inject: the test hook: 0, or an errno (EIO, ENOSPC) to simulate a
 * torn write failing with.
 */
int log_segment_append(log_segment *s, const uint8_t *buf, size_t len, int64_t next_offset,
                       int32_t index_interval_bytes, int fail_inject, int *index_err);

/*
 * Under the owning plog's mutex: where to start looking for offset (or for
 * timestamps >= ts_ms), from the in-memory indexes of an active segment.
 * -1 when s is not active: pass -1 on and the lookup reads the index files.
 */
int64_t log_segment_find_hint_locked(const log_segment *s, int64_t offset, int64_t limit);
int64_t log_segment_time_hint_locked(const log_segment *s, int64_t ts_ms, int64_t limit);

/*
 * Locate the batch holding offset, reading no further than limit. The scan
 * starts at hint when hint >= 0, else at the index file's entry (index_count
 * entries are valid). *pos_out / *len_out: the batch; *pos_out = -1 when the
 * segment holds no batch ending at or after offset. Returns 0 or an errno.
 */
int log_segment_find(log_segment *s, int64_t offset, int64_t limit, int32_t index_count,
                     int64_t hint, int64_t *pos_out, int32_t *len_out);
/* Position to start scanning for timestamps >= ts_ms (0 when unknown);
 * hint as for log_segment_find. */
int log_segment_time_lookup(log_segment *s, int64_t ts_ms, int32_t tindex_count,
                            int32_t index_count, int64_t limit, int64_t hint, int64_t *pos_out);

/* Shrink the .log to pos bytes; rebuilds the indexes. Returns 0 or errno. */
int log_segment_truncate(log_segment *s, int64_t pos, int32_t index_interval_bytes);
/* Rename the files (those that exist) to *.deleted, then unlink them
 * unless keep (file.delete.delay.ms: the caller unlinks them later with
 * log_segment_unlink_deleted). Returns 0 or errno. */
int log_segment_delete_files(log_segment *s, bool keep);
void log_segment_unlink_deleted(const char *dir, int64_t base);
/* Largest timestamp for retention: max_ts, or the .log mtime when none. */
int64_t log_segment_largest_ts(log_segment *s);
int64_t log_segment_mtime_ms(log_segment *s); /* the .log file's, -1 when unknown */

/* fsync helpers that retry on EINTR; return 0 or errno. */
int seg_fsync_fd(int fd);
int seg_fsync_dir(const char *dir);

#endif
