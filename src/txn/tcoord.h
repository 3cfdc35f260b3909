/*
 * tcoord.h - the transaction coordinator of this node: every transactional
 * id, its durable form in __transaction_state, and the markers that end
 * transactions.
 *
 * One pure state machine (txn.h) per __transaction_state partition decides;
 * this layer owns the lock, the thread that drives time (timeouts, expiry)
 * and completions, and turns the machines' actions into effects:
 * - RESPOND: encode the answer into the waiting request, post it to its
 *   reactor;
 * - PERSIST: a TransactionLogKey/Value record (Kafka's formats: key version
 *   0, value version 0, or 1 when the cluster's transaction.version is at
 *   least 1, as Kafka 4.4 writes them) appended to the id's partition of
 *   __transaction_state; once acknowledged (durable, and on a replicated
 *   partition under the high watermark: partition_wait_acked, 30 s) the
 *   machine hears of it; a lost leadership is NOT_COORDINATOR, a timeout
 *   COORDINATOR_NOT_AVAILABLE, and the transition is not applied (Kafka's
 *   TransactionStateManager);
 * - WRITE_MARKERS: a COMMIT or ABORT control batch into every partition of
 *   the transaction: partition_write_marker into those this broker leads
 *   (for __consumer_offsets partitions the group coordinator then commits
 *   or drops the transaction's offsets), WriteTxnMarkers to the leader of
 *   the others (tmark.h); once all are acknowledged the machine hears of
 *   it. A marker that cannot be written (storage, no leader, leadership
 *   moving) is retried every second.
 *
 * A transactional id maps to partition abs(javaHashCode(id)) %
 * transaction.state.log.num.partitions, as in Kafka. The topic is created
 * on first use (FindCoordinator or InitProducerId) and read back at start.
 * A machine exists exactly for the partitions this broker leads (all of
 * them on a single node), loaded from the partition's log when it becomes
 * leader (coordinator epoch: its leader epoch) and dropped when it stops
 * (waiting requests: NOT_COORDINATOR); requests for ids of the others are
 * answered NOT_COORDINATOR.
 *
 * Threads: requests come from reactors; acknowledgement callbacks (the
 * flusher, whichever thread moves a high watermark) and WriteTxnMarkers
 * answers (the replica reactor) take the lock and call the machine; the
 * coordinator's thread runs the ticks, the marker retries and the
 * reconciliation after a leadership change. One mutex guards everything here; lock order: tcoord, then the
 * group coordinator (markers of offsets), then partitions.
 */
#ifndef GREGOR_TXN_TCOORD_H
#define GREGOR_TXN_TCOORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "kafka_msgs.h"
#include "net/conn.h"
#include "txn/tmark.h"

struct topics;
typedef struct tcoord tcoord;

typedef struct tcoord_env {
    struct topics *topics;
    const config_set *cfg;
    /* Create an internal topic; a Kafka error code (see coord_env). */
    int16_t (*create_topic)(void *ctx, const char *name, int32_t nparts, const char *const *cfgs,
                            int ncfgs, char *msg, size_t msglen);
    /* A marker reached __consumer_offsets partition part (group coordinator). */
    void (*offsets_marker)(void *ctx, int32_t part, int64_t pid, bool commit);
    /* The __consumer_offsets partition of a group (AddOffsetsToTxn). */
    int32_t (*offsets_partition)(void *ctx, const char *group_id);
    /* The cluster's finalized transaction.version (the metadata image's
     * FeatureLevelRecord; 0 when none): the value version written, and how
     * the coordinator's own aborts go. NULL: 0. */
    int16_t (*transaction_version)(void *ctx);
    void *ctx;
} tcoord_env;

#define TCOORD_TOPIC "__transaction_state"

tcoord *tcoord_new(const tcoord_env *env);
/* Rebuild the transactional ids of the __transaction_state partitions led
 * here if the topic exists; transactions found prepared get their markers
 * written again. */
int tcoord_load(tcoord *c, char *err, size_t errlen);
int tcoord_start(tcoord *c);
/* Shutdown: waiting requests are answered NOT_COORDINATOR. */
void tcoord_stop(tcoord *c);
void tcoord_free(tcoord *c);

/* FindCoordinator key type 1: creates the topic on first use. 0 or
 * COORDINATOR_NOT_AVAILABLE. */
int16_t tcoord_ready(tcoord *c);
/* The __transaction_state partition of txn_id (whoever leads it), asking
 * for the topic on first use; -1 while the topic is not there. */
int32_t tcoord_partition_of(tcoord *c, const char *txn_id, int32_t len);
/* The leadership of a __transaction_state partition moved (the metadata
 * publisher, any thread; c may be NULL): the coordinator's thread loads
 * the partitions led here now and drops the others. */
void tcoord_leadership_changed(tcoord *c);

/* The request handlers' halves: each answers rq (now or later). fresh_pid
 * is a producer id the caller allocated (durable) for the machine to take. */
void tcoord_init_producer_id(tcoord *c, req *rq, const kp_init_producer_id_req *body, int64_t fresh_pid);
/* A producer id some earlier request allocated and no machine took: the
 * next InitProducerId may go ahead without allocating (fresh_pid -1). */
bool tcoord_has_spare_pid(tcoord *c);
/* body must live until rq is answered (the answer names its partitions). */
void tcoord_add_partitions(tcoord *c, req *rq, const kp_add_partitions_to_txn_req *body);
/* AddPartitionsToTxn v4+ (brokers; KIP-890): several transactions, each
 * verify-only (a partition in the transaction NONE, else
 * TRANSACTION_ABORTABLE) or added as v3 adds; decided[i] non-NULL: that
 * transaction's per-partition answers are already known (an unknown topic),
 * it is not asked. One answer when the last is decided. */
void tcoord_add_partitions_batch(tcoord *c, req *rq, const kp_add_partitions_to_txn_req *body, int16_t **decided);
void tcoord_add_offsets(tcoord *c, req *rq, const kp_add_offsets_to_txn_req *body);
/* fresh_pid: as InitProducerId's, for a V2 EndTxn (v5+) whose epochs ran out. */
void tcoord_end_txn(tcoord *c, req *rq, const kp_end_txn_req *body, int64_t fresh_pid);
/*
 * Transactions V2 (KIP-890): the partition leader adds the partitions a
 * transactional Produce v12+ writes to (or the group's partition of a
 * TxnOffsetCommit v5+) to txn_id's transaction before appending, as
 * Kafka's AddPartitionsToTxnManager does with ADD_PARTITION: through the
 * machine here when this broker coordinates txn_id, else with
 * AddPartitionsToTxn v5 to the broker that does. cb is called exactly once
 * with the add's error (0: the partitions are in the ongoing transaction),
 * possibly before this returns, on any thread, possibly holding the
 * coordinator's lock: it must not call into tcoord (post the work on).
 * Everything is copied.
 */
typedef void (*tcoord_add_cb)(void *arg, int16_t error);
void tcoord_add_implicit(tcoord *c, const char *txn_id, int32_t txn_id_len, int64_t pid, int16_t epoch,
                         const char *const *tnames, const int32_t *partitions, int n, tcoord_add_cb cb, void *arg);
/* KIP-890's check of a transactional batch: is topic/partition part of
 * txn_id's ongoing transaction, at producer pid and epoch? 0, or the error
 * to answer (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH, ...). An id another
 * broker coordinates is 0 here: tcoord_verify_remote asks that broker. */
int16_t tcoord_verify(tcoord *c, const char *txn_id, int txn_id_len, int64_t pid, int16_t epoch,
                      const char *tname, int32_t pidx);
/* The same check when another broker coordinates txn_id (Kafka's leader
 * asks it with AddPartitionsToTxn, verify only): true when asked, cb then
 * called once as tmark_add_partitions' (the replica reactor's thread, no
 * lock held), with each partition's answer (NONE, TRANSACTION_ABORTABLE,
 * PRODUCER_FENCED, ...); false when the id is coordinated here (or by
 * nobody yet): tcoord_verify decides, at once. */
bool tcoord_verify_remote(tcoord *c, const char *txn_id, int32_t txn_id_len, int64_t pid, int16_t epoch,
                          const char *const *tnames, const int32_t *partitions, int n, tmark_add_cb cb, void *arg);
/* TxnOffsetCommit's check (Kafka's transaction verification of the group's
 * __consumer_offsets partition, as the transaction coordinator answers it):
 * 0, INVALID_PRODUCER_ID_MAPPING (an id it does not know, another producer
 * id), INVALID_PRODUCER_EPOCH (another epoch), CONCURRENT_TRANSACTIONS (the
 * transaction is ending), or - the partition not in an ongoing transaction
 * (no AddOffsetsToTxn) - TRANSACTION_ABORTABLE from TxnOffsetCommit v4 on,
 * INVALID_TXN_STATE before. An id another broker coordinates, or one whose
 * machine is not there (loading), is not checked (0). */
int16_t tcoord_verify_offsets(tcoord *c, const char *txn_id, int txn_id_len, int64_t pid, int16_t epoch,
                              int32_t offsets_part, int16_t api_version);
/* Fill the operator answers (into rq's arena). */
void tcoord_describe(tcoord *c, req *rq, const kp_describe_transactions_req *body,
                     kp_describe_transactions_resp *out);
void tcoord_list(tcoord *c, req *rq, const kp_list_transactions_req *body, kp_list_transactions_resp *out);

#endif
