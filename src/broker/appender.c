/* appender.c - see appender.h. */
#include "broker/appender.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct lane {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    appender_item *head, *tail;
    bool stopping, started;
} lane;

struct appender {
    int nlanes;
    lane *lanes;
};

static void *lane_main(void *arg)
{
    lane *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->head && !l->stopping)
            pthread_cond_wait(&l->cond, &l->lock);
        if (!l->head)
            break;          /* stopping, and nothing left */
        appender_item *it = l->head;
        l->head = it->next;
        if (!l->head)
            l->tail = NULL;
        pthread_mutex_unlock(&l->lock);
        it->fn(it);         /* may free or reuse it */
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

appender *appender_new(int lanes)
{
    if (lanes < 1)
        return NULL;
    appender *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->lanes = calloc((size_t)lanes, sizeof(*a->lanes));
    if (!a->lanes) {
        free(a);
        return NULL;
    }
    for (int i = 0; i < lanes; i++) {
        lane *l = &a->lanes[i];
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->cond, NULL);
        l->started = pthread_create(&l->thread, NULL, lane_main, l) == 0;
        if (!l->started) {
            pthread_mutex_destroy(&l->lock);
            pthread_cond_destroy(&l->cond);
            break;
        }
        a->nlanes++;
    }
    if (a->nlanes == 0) {
        appender_free(a);
        return NULL;
    }
    return a;
}

int appender_lanes(const appender *a)
{
    return a ? a->nlanes : 0;
}

void appender_submit(appender *a, uint64_t key, appender_item *item, void (*fn)(appender_item *))
{
    /* Fibonacci hashing spreads keys that differ only in their low bits. */
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    lane *l = &a->lanes[(h >> 32) % (uint64_t)a->nlanes];
    item->next = NULL;
    item->fn = fn;
    pthread_mutex_lock(&l->lock);
    if (l->tail)
        l->tail->next = item;
    else
        l->head = item;
    l->tail = item;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void appender_stop(appender *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->nlanes; i++) {
        lane *l = &a->lanes[i];
        pthread_mutex_lock(&l->lock);
        l->stopping = true;
        pthread_cond_signal(&l->cond);
        pthread_mutex_unlock(&l->lock);
    }
    for (int i = 0; i < a->nlanes; i++) {
        lane *l = &a->lanes[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        l->started = false;
    }
}

void appender_free(appender *a)
{
    if (!a)
        return;
    appender_stop(a);
    for (int i = 0; i < a->nlanes; i++) {
        pthread_mutex_destroy(&a->lanes[i].lock);
        pthread_cond_destroy(&a->lanes[i].cond);
    }
    free(a->lanes);
    free(a);
}
