/*
 * workpool.c - see workpool.h.
 *
 * Jobs in flight sit on a list under the pool lock. A job's items are taken
 * by an atomic counter, so the caller and its helpers never hand items to
 * each other; the lock is taken only to find a job, to count finished items
 * and to leave a job. A caller removes its job from the list once every item
 * is done and no helper still holds it (helpers read the job's counter after
 * their last item, so the job, which lives on the caller's stack, must
 * outlive them).
 */
#include "base/workpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct wp_job {
    struct wp_job *next;
    workpool_fn fn;
    void *ctx;
    int n;
    atomic_int take;            /* the next item to take */
    int done;                   /* items finished; guarded by the pool lock */
    int helpers;                /* workers inside the job; guarded by the lock */
    int helpers_max;            /* workers the job may still admit */
} wp_job;

struct workpool {
    pthread_mutex_t lock;
    pthread_cond_t work;        /* workers: a job with free items, or stop */
    pthread_cond_t done;        /* callers: an item or a helper finished */
    wp_job *jobs;
    int nworkers;
    int idle;                   /* workers waiting on `work` */
    bool stopping;
    pthread_t *threads;
};

/* Take items of j until none are left. */
static void job_work(workpool *p, wp_job *j)
{
    for (;;) {
        int i = atomic_fetch_add(&j->take, 1);
        if (i >= j->n)
            return;
        j->fn(j->ctx, i);
        pthread_mutex_lock(&p->lock);
        if (++j->done == j->n)
            pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

/* A job on the list that still has items to take and admits a helper. */
static wp_job *job_find_locked(workpool *p)
{
    for (wp_job *j = p->jobs; j; j = j->next)
        if (j->helpers < j->helpers_max && atomic_load(&j->take) < j->n)
            return j;
    return NULL;
}

static void *worker_main(void *arg)
{
    workpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        wp_job *j = job_find_locked(p);
        if (!j) {
            if (p->stopping)
                break;
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
            continue;
        }
        j->helpers++;
        pthread_mutex_unlock(&p->lock);
        job_work(p, j);
        pthread_mutex_lock(&p->lock);
        if (--j->helpers == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

workpool *workpool_new(int workers)
{
    workpool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (workers > 0) {
        p->threads = calloc((size_t)workers, sizeof(*p->threads));
        if (!p->threads) {
            workpool_free(p);
            return NULL;
        }
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;      /* fewer workers: jobs still complete on their callers */
        p->nworkers++;
    }
    return p;
}

void workpool_free(workpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p);
}

int workpool_workers(const workpool *p)
{
    return p ? p->nworkers : 0;
}

void workpool_run(workpool *p, int n, workpool_fn fn, void *ctx, int max_helpers)
{
    if (n <= 0)
        return;
    if (!p || n == 1 || max_helpers <= 0 || p->nworkers == 0) {
        for (int i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    wp_job j = { .fn = fn, .ctx = ctx, .n = n, .helpers_max = max_helpers };
    atomic_init(&j.take, 0);
    pthread_mutex_lock(&p->lock);
    j.next = p->jobs;
    p->jobs = &j;
    /* Wake only the helpers the job can use: on a small machine every
     * needless wake-up is a context switch taken from the reactors. */
    int wake = n - 1 < max_helpers ? n - 1 : max_helpers;
    if (wake > p->idle)
        wake = p->idle;
    for (int i = 0; i < wake; i++)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);

    job_work(p, &j);

    pthread_mutex_lock(&p->lock);
    while (j.done < j.n || j.helpers > 0)
        pthread_cond_wait(&p->done, &p->lock);
    wp_job **pp = &p->jobs;
    while (*pp != &j)
        pp = &(*pp)->next;
    *pp = j.next;
    pthread_mutex_unlock(&p->lock);
}
