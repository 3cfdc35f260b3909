/*
 * tmark.h - the transaction layer's requests to other brokers: the
 * coordinator's WriteTxnMarkers to the leaders of partitions it does not
 * lead (Kafka's TransactionMarkerChannelManager, one marker per request),
 * and a partition leader's AddPartitionsToTxn v5 to the coordinator of a
 * transactions V2 producer (Kafka's AddPartitionsToTxnManager, one
 * transaction per request): one outbound connection per broker, on the
 * broker's replica reactor.
 *
 * The leader and its client endpoint come from the committed metadata
 * image at each send, so a retry after NOT_LEADER_OR_FOLLOWER goes to the
 * new leader. Retrying is the caller's (tcoord.c, every MARKER_RETRY_MS).
 */
#ifndef GREGOR_TXN_TMARK_H
#define GREGOR_TXN_TMARK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tmark tmark;

/* Called exactly once per tmark_send, on the replica reactor's thread,
 * holding no lock: the partition's error code from the leader's answer,
 * or COORDINATOR_NOT_AVAILABLE (no leader known, or it is this broker),
 * NETWORK_EXCEPTION (no answer), NOT_COORDINATOR (stopping). */
typedef void (*tmark_cb)(void *arg, int16_t error);

/* ctx: the broker (tcoord_env.ctx). NULL on a single node: every partition
 * is local there. */
tmark *tmark_new(void *ctx);
/* Any thread. topic is copied. */
/* tv: the transaction's version, sent as WriteTxnMarkers v2's
 * transaction_version (KIP-1228). */
void tmark_send(tmark *m, const char *tname, int32_t part, int64_t pid, int16_t epoch,
                int32_t coordinator_epoch, bool commit, int16_t tv, tmark_cb cb, void *arg);
/* AddPartitionsToTxn v5 for one transaction to the leader of
 * __transaction_state partition state_part: adding its partitions (a V2
 * producer's, verify_only false) or asking whether they are in it (a V1
 * producer's batch, KIP-890 part 1). cb, once, on the replica reactor's
 * thread holding no lock: error is the answer's top-level error, or
 * COORDINATOR_NOT_AVAILABLE / NETWORK_EXCEPTION / NOT_COORDINATOR when
 * there was no answer; codes (NULL then) the partitions' errors in the
 * order given. Any thread; everything is copied. */
typedef void (*tmark_add_cb)(void *arg, int16_t error, const int16_t *codes);
void tmark_add_partitions(tmark *m, int32_t state_part, const char *txn_id, int32_t txn_id_len, int64_t pid,
                          int16_t epoch, const char *const *tnames, const int32_t *partitions, int n,
                          bool verify_only, tmark_add_cb cb, void *arg);
/* Shutdown, while the reactor runs: the connections close and every send
 * outstanding or later is answered NOT_COORDINATOR. m may be NULL. */
void tmark_stop(tmark *m);
/* After the replica reactor is joined. m may be NULL. */
void tmark_free(tmark *m);

#endif
