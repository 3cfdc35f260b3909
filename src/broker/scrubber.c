/*
 * scrubber.c - see scrubber.h.
 *
 * Pacing: a byte credit grows by bytes_per_second each second (capped at
 * one second's worth) and each verified segment spends its size, so a large
 * segment is read in one go and the scrubber then rests until the credit is
 * positive again: the average rate holds, the burst is one segment.
 */
#include "broker/scrubber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "storage/log.h"

#define SCRUB_TICK_MS 1000

struct scrubber {
    topics *topics;
    int64_t interval_ms;
    int64_t rate;                 /* bytes per second */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;                    /* guarded by mu */
    atomic_llong damaged;
    int64_t pass_bytes;           /* bytes verified since the last pass report */
    int64_t pass_start_ms;
};

/* One tick: spend the credit on the partitions' segments due for a check.
 * Returns the credit left (negative after a big segment). */
static int64_t scrub_tick(scrubber *s, int64_t credit)
{
    topic **all;
    int n = topics_list(s->topics, &all);
    if (n < 0)
        return credit;
    int64_t now = clock_mono_ms();
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < topic_nparts(all[i]) && credit > 0; j++) {
            partition *p = topic_partition(all[i], j);
            if (!p || !p->log)
                continue;
            int64_t spent = 0;
            int damaged = 0;
            plog_scrub(p->log, now, s->interval_ms, &spent, credit, &damaged);
            credit -= spent;
            s->pass_bytes += spent;
            if (damaged)
                atomic_fetch_add(&s->damaged, damaged);
        }
        topic_unref(all[i]);
    }
    free(all);
    return credit;
}

static void *scrub_main(void *arg)
{
    scrubber *s = arg;
    int64_t credit = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SCRUB_TICK_MS / 1000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        credit += s->rate;
        if (credit > s->rate)
            credit = s->rate;
        if (credit > 0)
            credit = scrub_tick(s, credit);
        int64_t now = clock_mono_ms();
        if (s->pass_bytes > 0 && now - s->pass_start_ms >= s->interval_ms) {
            glog(GLOG_INFO, "log", "scrubber: verified %lld MiB of closed segments in the last "
                 "%lld s; %lld damaged segments found since the start",
                 (long long)(s->pass_bytes >> 20), (long long)((now - s->pass_start_ms) / 1000),
                 (long long)atomic_load(&s->damaged));
            s->pass_bytes = 0;
            s->pass_start_ms = now;
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

scrubber *scrubber_start(topics *t, int64_t interval_ms, int64_t bytes_per_second)
{
    if (interval_ms <= 0)
        return NULL;
    scrubber *s = calloc(1, sizeof(*s));
    if (!s) {
        glog(GLOG_WARN, "log", "scrubber: no memory; not scrubbing");
        return NULL;
    }
    s->topics = t;
    s->interval_ms = interval_ms;
    s->rate = bytes_per_second > 0 ? bytes_per_second : 1;
    s->pass_start_ms = clock_mono_ms();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, scrub_main, s) != 0) {
        glog(GLOG_WARN, "log", "scrubber: cannot start its thread; not scrubbing");
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    glog(GLOG_INFO, "log", "scrubber: re-verifying closed segments every %lld s at up to %lld KiB/s",
         (long long)(interval_ms / 1000), (long long)(s->rate >> 10));
    return s;
}

void scrubber_stop(scrubber *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int64_t scrubber_damaged(const scrubber *s)
{
    return s ? atomic_load(&s->damaged) : 0;
}
