/* flusher.c - see flusher.h. */
#include "broker/flusher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/workpool.h"

typedef struct waiter {
    struct waiter *next;
    plog *log;
    int64_t offset;
    reactor *r;
    flusher_done_fn fn;
    void *arg;
    int rc;
} waiter;

/* One distinct log of a round and the outcome of its flush. */
typedef struct flush_item {
    plog *log;
    int rc;
} flush_item;

struct flusher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* waiters queued, or stop */
    waiter *queue;
    bool stopping, started;
    int64_t flushes, served;
    workpool *pool;             /* borrowed: runs a round's fsyncs in parallel */
};

flusher *flusher_new(workpool *pool)
{
    flusher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->pool = pool;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    return f;
}

static void deliver(reactor *r, void *arg)
{
    waiter *w = arg;
    if (w->fn)
        w->fn(r, w->arg, w->rc);
    free(w);
}

static void flush_one(void *ctx, int i)
{
    flush_item *it = (flush_item *)ctx + i;
    int64_t flushed = 0;
    it->rc = plog_flush(it->log, &flushed);
    if (it->rc != LOG_OK)
        glog(GLOG_ERROR, "log", "fsync failed: %s",
             plog_failure(it->log) ? plog_failure(it->log) : "?");
}

/*
 * One round: flush each distinct log among the waiters once. The fsyncs of
 * different logs run at the same time on the I/O pool: the file system can
 * then commit them together (ext4 joins concurrent fsyncs into one journal
 * commit), so a produce touching six partitions waits for about one disk
 * flush instead of six in a row.
 */
static void flush_round(flusher *f, waiter *batch)
{
    int n = 0;
    for (waiter *w = batch; w; w = w->next)
        n++;
    flush_item stack_items[64];
    flush_item *items = n <= 64 ? stack_items : malloc(sizeof(*items) * (size_t)n);
    if (!items) {
        glog(GLOG_ERROR, "log", "out of memory for a flush round");
        abort();
    }
    /* Distinct logs; small lists, so a quadratic pass beats hashing. */
    int k = 0;
    for (waiter *w = batch; w; w = w->next) {
        int i = 0;
        while (i < k && items[i].log != w->log)
            i++;
        if (i == k)
            items[k++] = (flush_item){ w->log, LOG_OK };
    }
    workpool_run(f->pool, k, flush_one, items, k - 1);
    for (waiter *w = batch; w; w = w->next)
        for (int i = 0; i < k; i++)
            if (items[i].log == w->log) {
                w->rc = items[i].rc;
                break;
            }
    if (items != stack_items)
        free(items);
    pthread_mutex_lock(&f->lock);
    f->flushes += k;
    f->served += n;
    pthread_mutex_unlock(&f->lock);
    while (batch) {
        waiter *next = batch->next;
        if (batch->r) {
            reactor_post(batch->r, deliver, batch);
        } else {
            /* No reactor: the callback runs here, outside the lock; it
             * must be quick (the transaction coordinator queues an event). */
            if (batch->fn)
                batch->fn(NULL, batch->arg, batch->rc);
            free(batch);
        }
        batch = next;
    }
}

static void *flusher_main(void *arg)
{
    flusher *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (!f->queue && !f->stopping)
            pthread_cond_wait(&f->cond, &f->lock);
        if (!f->queue && f->stopping)
            break;
        waiter *batch = f->queue;
        f->queue = NULL;
        pthread_mutex_unlock(&f->lock);
        flush_round(f, batch);
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int flusher_start(flusher *f)
{
    f->started = pthread_create(&f->thread, NULL, flusher_main, f) == 0;
    return f->started ? 0 : -1;
}

void flusher_stop(flusher *f)
{
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    if (f->started)
        pthread_join(f->thread, NULL);
    f->started = false;
}

void flusher_free(flusher *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
}

static void enqueue(flusher *f, waiter *w)
{
    pthread_mutex_lock(&f->lock);
    w->next = f->queue;
    f->queue = w;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void flusher_wait(flusher *f, plog *log, int64_t offset, reactor *r, flusher_done_fn fn, void *arg)
{
    waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        glog(GLOG_ERROR, "log", "out of memory queueing a flush");
        abort();
    }
    w->log = log;
    w->offset = offset;
    w->r = r;
    w->fn = fn;
    w->arg = arg;
    enqueue(f, w);
}

void flusher_kick(flusher *f, plog *log)
{
    flusher_wait(f, log, 0, NULL, NULL, NULL);
}

void flusher_stats(flusher *f, int64_t *flushes, int64_t *waiters)
{
    pthread_mutex_lock(&f->lock);
    *flushes = f->flushes;
    *waiters = f->served;
    pthread_mutex_unlock(&f->lock);
}
