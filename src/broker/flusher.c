/* flusher.c - see flusher.h. */
#include "broker/flusher.h"

#include <pthread.h>
#include <stdatomic.h>
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

/* One distinct log of a round and the outcome of its flush. */
typedef struct flush_item {
    plog *log;
    int rc;
} flush_item;

/* A round's distinct logs, shared by the flusher thread and the workers. */
typedef struct flush_job {
    flush_item *items;
    int n;
    atomic_int next;            /* the next item to take */
    int done;                   /* items finished; guarded by the flusher lock */
    int users;                  /* workers holding the job; guarded by the lock */
} flush_job;

struct flusher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* the flusher thread: waiters queued, or stop */
    pthread_cond_t work_cond;   /* workers: a job was published, or stop */
    pthread_cond_t done_cond;   /* the flusher thread: a job's items are done */
    waiter *queue;
    bool stopping, started;
    int64_t flushes, served;
    int nworkers;
    pthread_t *workers;
    flush_job *job;             /* the round in flight, NULL between rounds */
    uint64_t job_gen;
};

flusher *flusher_new(int threads)
{
    flusher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    /* The flusher thread itself takes items too: threads - 1 workers. */
    f->nworkers = threads > 1 ? threads - 1 : 0;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    pthread_cond_init(&f->work_cond, NULL);
    pthread_cond_init(&f->done_cond, NULL);
    return f;
}

static void deliver(reactor *r, void *arg)
{
    waiter *w = arg;
    if (w->fn)
        w->fn(r, w->arg, w->rc);
    free(w);
}

/* Take and flush items of j until none are left. */
static void job_run(flusher *f, flush_job *j)
{
    for (;;) {
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            return;
        int64_t flushed = 0;
        flush_item *it = &j->items[i];
        it->rc = plog_flush(it->log, &flushed);
        if (it->rc != LOG_OK)
            glog(GLOG_ERROR, "log", "fsync failed: %s",
                 plog_failure(it->log) ? plog_failure(it->log) : "?");
        pthread_mutex_lock(&f->lock);
        if (++j->done == j->n)
            pthread_cond_signal(&f->done_cond);
        pthread_mutex_unlock(&f->lock);
    }
}

static void *worker_main(void *arg)
{
    flusher *f = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        if (!f->job || f->job_gen == seen) {
            if (f->stopping && !f->job)
                break;
            pthread_cond_wait(&f->work_cond, &f->lock);
            continue;
        }
        flush_job *j = f->job;
        seen = f->job_gen;
        j->users++;
        pthread_mutex_unlock(&f->lock);
        job_run(f, j);
        pthread_mutex_lock(&f->lock);
        if (--j->users == 0)
            pthread_cond_signal(&f->done_cond);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/*
 * One round: flush each distinct log among the waiters once. With workers
 * the fsyncs of different logs run at the same time: the file system can
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
    flush_job j = { .items = items, .n = k };
    atomic_init(&j.next, 0);
    if (k > 1 && f->nworkers > 0) {
        pthread_mutex_lock(&f->lock);
        f->job = &j;
        f->job_gen++;
        /* Wake only as many workers as there are other items: on a small
         * machine every needless wake-up is a context switch stolen from
         * the reactors. */
        for (int i = 0; i < k - 1 && i < f->nworkers; i++)
            pthread_cond_signal(&f->work_cond);
        pthread_mutex_unlock(&f->lock);
        job_run(f, &j);
        pthread_mutex_lock(&f->lock);
        while (j.done < j.n || j.users > 0)
            pthread_cond_wait(&f->done_cond, &f->lock);
        f->job = NULL;
        pthread_mutex_unlock(&f->lock);
    } else {
        job_run(f, &j);
    }
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
    if (f->nworkers > 0) {
        f->workers = calloc((size_t)f->nworkers, sizeof(*f->workers));
        if (!f->workers)
            return -1;
        for (int i = 0; i < f->nworkers; i++)
            if (pthread_create(&f->workers[i], NULL, worker_main, f) != 0) {
                f->nworkers = i;    /* fewer workers; the rounds still complete */
                break;
            }
    }
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
    /* The flusher thread has finished its last round: no job is left. */
    pthread_mutex_lock(&f->lock);
    pthread_cond_broadcast(&f->work_cond);
    pthread_mutex_unlock(&f->lock);
    for (int i = 0; i < f->nworkers; i++)
        pthread_join(f->workers[i], NULL);
    free(f->workers);
    f->workers = NULL;
    f->nworkers = 0;
}

void flusher_free(flusher *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    pthread_cond_destroy(&f->work_cond);
    pthread_cond_destroy(&f->done_cond);
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
