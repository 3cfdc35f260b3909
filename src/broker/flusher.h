/*
 * flusher.h - the group-commit thread.
 *
 * Requests that must not be answered before their data is on disk (acks=all
 * with flush.messages=1, metadata changes) register a waiter: (log, offset,
 * reactor, callback). The flusher thread takes every waiter queued so far,
 * fsyncs each distinct log once (covering everything appended up to that
 * moment, so concurrent producers share one fsync), and posts each waiter's
 * callback to its reactor with the outcome. Waiters that arrive during an
 * fsync go into the next round.
 *
 * The fsyncs of one round's distinct logs run in parallel: the flusher
 * thread and the broker's I/O pool (num.io.threads - 1 workers).
 *
 * A failed fsync is reported to the waiters (KAFKA_STORAGE_ERROR upstream);
 * the log itself has entered its sticky failed state.
 */
#ifndef GREGOR_BROKER_FLUSHER_H
#define GREGOR_BROKER_FLUSHER_H

#include <stdint.h>

#include "base/workpool.h"
#include "net/reactor.h"
#include "storage/log.h"

typedef struct flusher flusher;

/* Runs on the waiter's reactor; rc is LOG_OK or the flush error. */
typedef void (*flusher_done_fn)(reactor *r, void *arg, int rc);

/* pool (borrowed, may be NULL) runs a round's fsyncs in parallel. */
flusher *flusher_new(workpool *pool);
int flusher_start(flusher *f);
/* Flush what is pending, then stop the thread. */
void flusher_stop(flusher *f);
void flusher_free(flusher *f);

/* Thread-safe. Call fn on reactor r once log is durable up to offset
 * (exclusive); with r NULL, fn (if any) runs on the flusher's thread. */
void flusher_wait(flusher *f, plog *log, int64_t offset, reactor *r, flusher_done_fn fn, void *arg);
/* Thread-safe. Ask for a flush of log without waiting for it. */
void flusher_kick(flusher *f, plog *log);
/* Flushes performed and waiters served, for the logs and the benchmarks. */
void flusher_stats(flusher *f, int64_t *flushes, int64_t *waiters);

#endif
