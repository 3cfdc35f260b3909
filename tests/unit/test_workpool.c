/*
 * test_workpool.c - the I/O pool: every item runs exactly once, jobs from
 * several threads at once, helpers limited as asked, and a job never waits
 * for another job's slow items (its caller does the work itself).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/workpool.h"

#include "check.h"

#define ITEMS 2000

typedef struct count_job {
    atomic_int runs[ITEMS];
    atomic_int total;
    pthread_t caller;
    atomic_int on_caller;
    atomic_int in_flight, max_in_flight;
    int sleep_us;
} count_job;

static void count_item(void *ctx, int i)
{
    count_job *j = ctx;
    int now = atomic_fetch_add(&j->in_flight, 1) + 1;
    int seen = atomic_load(&j->max_in_flight);
    while (now > seen && !atomic_compare_exchange_weak(&j->max_in_flight, &seen, now))
        ;
    if (j->sleep_us)
        usleep((useconds_t)j->sleep_us);
    atomic_fetch_add(&j->runs[i], 1);
    atomic_fetch_add(&j->total, 1);
    if (pthread_equal(pthread_self(), j->caller))
        atomic_fetch_add(&j->on_caller, 1);
    atomic_fetch_sub(&j->in_flight, 1);
}

static count_job *job_new(int sleep_us)
{
    count_job *j = calloc(1, sizeof(*j));
    for (int i = 0; i < ITEMS; i++)
        atomic_init(&j->runs[i], 0);
    atomic_init(&j->total, 0);
    atomic_init(&j->on_caller, 0);
    atomic_init(&j->in_flight, 0);
    atomic_init(&j->max_in_flight, 0);
    j->caller = pthread_self();
    j->sleep_us = sleep_us;
    return j;
}

/* 0 when every one of the first n items ran exactly once. */
static int runs_wrong(count_job *j, int n)
{
    int bad = 0;
    for (int i = 0; i < ITEMS; i++)
        if (atomic_load(&j->runs[i]) != (i < n ? 1 : 0))
            bad++;
    return bad;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_no_workers(void)
{
    workpool *p = workpool_new(0);
    CHECK(p != NULL);
    CHECK_EQ_I64(workpool_workers(p), 0);
    count_job *j = job_new(0);
    workpool_run(p, ITEMS, count_item, j, 8);
    CHECK_EQ_I64(runs_wrong(j, ITEMS), 0);
    CHECK_EQ_I64(atomic_load(&j->on_caller), ITEMS);   /* nobody else to run them */
    free(j);
    j = job_new(0);
    workpool_run(NULL, 7, count_item, j, 8);            /* no pool at all: inline */
    CHECK_EQ_I64(runs_wrong(j, 7), 0);
    free(j);
    workpool_run(p, 0, count_item, NULL, 8);            /* nothing to do */
    workpool_free(p);
}

static void test_helpers(void)
{
    workpool *p = workpool_new(3);
    CHECK_EQ_I64(workpool_workers(p), 3);
    count_job *j = job_new(200);
    workpool_run(p, 400, count_item, j, 3);
    CHECK_EQ_I64(runs_wrong(j, 400), 0);
    /* Items sleep: the caller alone cannot have run them all. */
    CHECK(atomic_load(&j->on_caller) < 400);
    CHECK(atomic_load(&j->max_in_flight) >= 2 && atomic_load(&j->max_in_flight) <= 4);
    free(j);

    /* max_helpers 1: at most the caller and one worker at a time. */
    j = job_new(200);
    workpool_run(p, 200, count_item, j, 1);
    CHECK_EQ_I64(runs_wrong(j, 200), 0);
    CHECK(atomic_load(&j->max_in_flight) <= 2);
    free(j);

    /* max_helpers 0: all on the caller. */
    j = job_new(0);
    workpool_run(p, 300, count_item, j, 0);
    CHECK_EQ_I64(atomic_load(&j->on_caller), 300);
    free(j);
    workpool_free(p);
}

typedef struct runner {
    workpool *p;
    int n, sleep_us, helpers;
    int wrong;
    double secs;
} runner;

static void *runner_main(void *arg)
{
    runner *r = arg;
    count_job *j = job_new(r->sleep_us);
    double t0 = now_s();
    workpool_run(r->p, r->n, count_item, j, r->helpers);
    r->secs = now_s() - t0;
    r->wrong = runs_wrong(j, r->n);
    free(j);
    return NULL;
}

static void test_concurrent_jobs(void)
{
    workpool *p = workpool_new(3);
    runner rs[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        rs[i] = (runner){ .p = p, .n = 100 + 300 * i, .sleep_us = i % 2 ? 50 : 0, .helpers = 3 };
        pthread_create(&th[i], NULL, runner_main, &rs[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_I64(rs[i].wrong, 0);
    }
    workpool_free(p);
}

/* Workers stuck in a slow job (as in fsyncs): a quick job finishes on its
 * caller without waiting for them. */
static void test_no_waiting_on_others(void)
{
    workpool *p = workpool_new(2);
    runner slow = { .p = p, .n = 3, .sleep_us = 400000, .helpers = 2 };
    pthread_t th;
    pthread_create(&th, NULL, runner_main, &slow);
    usleep(50000);      /* the slow job has taken both workers */
    runner quick = { .p = p, .n = 1000, .sleep_us = 0, .helpers = 2 };
    runner_main(&quick);
    CHECK_EQ_I64(quick.wrong, 0);
    CHECK(quick.secs < 0.2);
    pthread_join(th, NULL);
    CHECK_EQ_I64(slow.wrong, 0);
    CHECK(slow.secs >= 0.39);
    workpool_free(p);
}

int main(void)
{
    test_no_workers();
    test_helpers();
    test_concurrent_jobs();
    test_no_waiting_on_others();
    TEST_REPORT();
}
