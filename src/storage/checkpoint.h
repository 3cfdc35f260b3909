/*
 * checkpoint.h - Kafka's offset checkpoint files (recovery-point-offset-
 * checkpoint, log-start-offset-checkpoint):
 *
 *   0                      <- version
 *   2                      <- number of entries
 *   orders 0 1200          <- topic partition offset
 *   orders 1 980
 *
 * Writing is atomic: the text goes to <path>.tmp, which is fsynced, renamed
 * over <path>, and the directory is fsynced; a crash leaves the old file or
 * the new one, never a mix. Reading rejects anything malformed with a
 * message naming the file and line; it never guesses.
 *
 * Limits: CHECKPOINT_FILE_BYTES_MAX per file, CHECKPOINT_ENTRIES_MAX entries,
 * topic names of 1..249 characters of [a-zA-Z0-9._-].
 *
 * Thread-safety: no shared state; concurrent writers of the same path must be
 * serialized by the caller (they share the .tmp name).
 */
#ifndef GREGOR_STORAGE_CHECKPOINT_H
#define GREGOR_STORAGE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_FILE_BYTES_MAX (64 * 1024 * 1024)
#define CHECKPOINT_ENTRIES_MAX 1000000
#define CHECKPOINT_TOPIC_BYTES_MAX 249

enum checkpoint_result {
    CHECKPOINT_OK = 0,
    CHECKPOINT_ERR_MISSING,     /* the file does not exist */
    CHECKPOINT_ERR_IO,          /* a syscall failed */
    CHECKPOINT_ERR_MALFORMED,   /* the file exists but is not a valid checkpoint */
    CHECKPOINT_ERR_NOMEM,
};

typedef struct checkpoint_entry {
    char *topic;                /* owned by the checkpoint_file (or borrowed, for writes) */
    int32_t partition;
    int64_t offset;
} checkpoint_entry;

typedef struct checkpoint_file {
    checkpoint_entry *entries;  /* owned */
    size_t count;
} checkpoint_file;

/* True for a legal Kafka topic name (length and characters). */
int checkpoint_topic_valid(const char *topic);

/*
 * Read path into out (zeroed first). A missing file gives CHECKPOINT_ERR_MISSING
 * and an empty out; any other error leaves out empty and explains in err.
 */
int checkpoint_read(const char *path, checkpoint_file *out, char *err, size_t errlen);
/* Write count entries atomically (see above). Entries are borrowed. */
int checkpoint_write(const char *path, const checkpoint_entry *entries, size_t count,
                     char *err, size_t errlen);
void checkpoint_file_deinit(checkpoint_file *f);
/* The entry for topic/partition, or NULL. Borrowed from f. */
const checkpoint_entry *checkpoint_find(const checkpoint_file *f, const char *topic,
                                        int32_t partition);

#endif
