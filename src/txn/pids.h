/*
 * pids.h - producer ids for InitProducerId.
 *
 * Ids are handed out from blocks of PIDS_BLOCK_SIZE (Kafka's 1000). Each
 * block is first written to the metadata log as a ProducerIdsRecord (see
 * metalog_allocate_producer_ids); an id may be given to a client only once
 * that record is durable, so a restart, even after kill -9, never hands an
 * id out twice. Thread-safe.
 */
#ifndef GREGOR_TXN_PIDS_H
#define GREGOR_TXN_PIDS_H

#include <stdint.h>

#define PIDS_BLOCK_SIZE 1000

struct metalog;
typedef struct pids pids;

pids *pids_new(struct metalog *m);
void pids_free(pids *p);

/*
 * A fresh producer id in *pid. *durable_at is the metadata log offset that
 * must be durable before the id is used (wait on the metadata partition).
 * Returns 0 or a Kafka error code (the metadata log could not be written).
 */
int16_t pids_next(pids *p, int64_t *pid, int64_t *durable_at);

#endif
