/* pids.c - see pids.h. */
#include "txn/pids.h"

#include <pthread.h>
#include <stdlib.h>

#include "metadata/metalog.h"

struct pids {
    pthread_mutex_t lock;
    struct metalog *meta;
    int64_t next, end;      /* the current block: [next, end) left */
    int64_t durable_at;     /* the block's record is durable below this metadata offset */
};

pids *pids_new(struct metalog *m)
{
    pids *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->meta = m;
    return p;
}

void pids_free(pids *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int16_t pids_next(pids *p, int64_t *pid, int64_t *durable_at)
{
    pthread_mutex_lock(&p->lock);
    if (p->next >= p->end) {
        int64_t first, end_offset;
        int16_t code = metalog_allocate_producer_ids(p->meta, PIDS_BLOCK_SIZE, &first, &end_offset);
        if (code != 0) {
            pthread_mutex_unlock(&p->lock);
            return code;
        }
        p->next = first;
        p->end = first + PIDS_BLOCK_SIZE;
        p->durable_at = end_offset;
    }
    *pid = p->next++;
    *durable_at = p->durable_at;
    pthread_mutex_unlock(&p->lock);
    return 0;
}
