/*
 * workpool.h - a few threads that help a caller run the items of a job.
 *
 * workpool_run(pool, n, fn, ctx, max_helpers) calls fn(ctx, i) once for
 * every i in [0, n) and returns when all have returned. The caller takes
 * items itself; up to max_helpers idle workers are woken to take others at
 * the same time. Because the caller works too, a job always completes, even
 * when every worker is busy with another job (it then runs on the caller
 * alone): no job waits for another.
 *
 * Used by the flusher: the fsyncs of the distinct logs of a round, blocking
 * I/O, as many at once as there are logs.
 *
 * Thread-safe: any number of threads may run jobs at once. Items of one job
 * must be independent of each other; fn runs on an unspecified thread.
 */
#ifndef GREGOR_BASE_WORKPOOL_H
#define GREGOR_BASE_WORKPOOL_H

typedef struct workpool workpool;

typedef void (*workpool_fn)(void *ctx, int i);

/* A pool of `workers` threads (0: every job runs on its caller). NULL on failure. */
workpool *workpool_new(int workers);
/* Wait for the workers to finish their items, stop them, free. */
void workpool_free(workpool *p);
int workpool_workers(const workpool *p);

void workpool_run(workpool *p, int n, workpool_fn fn, void *ctx, int max_helpers);

#endif
