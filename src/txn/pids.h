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

/* node_id: this broker (a cluster's brokers that are not the active
 * controller ask it for blocks with AllocateProducerIds). */
pids *pids_new(struct metalog *m, int32_t node_id);
void pids_free(pids *p);

/*
 * A fresh producer id in *pid. *durable_at is the metadata log offset that
 * must be durable before the id is used (wait on the metadata partition).
 * Returns 0 or a Kafka error code (the metadata log could not be written;
 * COORDINATOR_LOAD_IN_PROGRESS while a block is asked of the controller).
 */
int16_t pids_next(pids *p, int64_t *pid, int64_t *durable_at);

/* The block whose record was to be durable at durable_at was not committed
 * (this node's controller lost its leadership first): its ids are never
 * handed out again; the next call takes a new block. */
void pids_forget(pids *p, int64_t durable_at);

#endif
