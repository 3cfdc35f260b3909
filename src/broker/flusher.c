/* flusher.c - see flusher.h. */
#include "broker/flusher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/log.h"

typedef struct waiter {
    struct waiter *next;
    plog *log;
    int64_t offset;
    reactor *r;
    flusher_done_fn fn;
    void *arg;
    int rc;
} waiter;

struct flusher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    waiter *queue;
    bool stopping, started;
    int64_t flushes, served;
};

flusher *flusher_new(void)
{
    flusher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
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

/* One round: flush each distinct log among the waiters once. */
static void flush_round(flusher *f, waiter *batch)
{
    /* Small lists: a quadratic distinct pass is cheaper than hashing. */
    for (waiter *w = batch; w; w = w->next) {
        bool seen = false;
        for (waiter *p = batch; p != w; p = p->next)
            if (p->log == w->log) {
                seen = true;
                w->rc = p->rc;
                break;
            }
        if (seen)
            continue;
        int64_t flushed = 0;
        w->rc = plog_flush(w->log, &flushed);
        if (w->rc != LOG_OK)
            glog(GLOG_ERROR, "log", "fsync failed: %s", plog_failure(w->log) ? plog_failure(w->log) : "?");
        f->flushes++;
        /* later waiters on the same log share this result */
        for (waiter *p = w->next; p; p = p->next)
            if (p->log == w->log)
                p->rc = w->rc;
    }
    while (batch) {
        waiter *next = batch->next;
        f->served++;
        if (batch->r)
            reactor_post(batch->r, deliver, batch);
        else
            free(batch);
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
