/*
 * txn.h - the transaction coordinator of one __transaction_state partition as
 * a pure state machine (transactions V1 and V2, KIP-890: Apache Kafka 4.4's
 * TransactionCoordinator, TransactionMetadata and the parts of
 * TransactionStateManager that decide things).
 *
 * Transactions V2 is per request, as in Kafka: EndTxn v5+ and the brokers'
 * AddPartitionsToTxn v4+ adds (a Produce v12+ or TxnOffsetCommit v5+ adding
 * its partition) carry client_tv 2. Under V2 every EndTxn bumps the
 * producer epoch at Prepare (the markers carry the new epoch, the answer
 * the epoch - or, when the epochs ran out, the new producer id with epoch
 * 0 - the client goes on with), a retried EndTxn is recognised by its
 * epoch being one behind, and an abort with nothing open is a transaction
 * of no partitions. What the coordinator starts itself (timeouts, fencing
 * at InitProducerId) follows the cluster's finalized transaction.version
 * (txn_set_transaction_version), as Kafka's transactionVersionLevel.
 *
 * One txn_coord holds every transactional id that hashes to one partition of
 * __transaction_state, because that is Kafka's unit of ownership: a
 * partition is loaded, owned (at a coordinator epoch) and given up as a
 * whole, its records go to that one log, and COORDINATOR_LOAD_IN_PROGRESS /
 * NOT_COORDINATOR are answers about a partition. The caller routes an id to
 * its machine with abs(javaHashCode(id)) % transaction.state.log.num.partitions
 * (coord_partition_for in group/coordinator.h computes exactly that).
 *
 * States (Kafka's names and record ids): Empty 0, Ongoing 1, PrepareCommit 2,
 * PrepareAbort 3, CompleteCommit 4, CompleteAbort 5, Dead 6,
 * PrepareEpochFence 7. Dead and PrepareEpochFence are only ever "pending"
 * (the target of a transition in flight), never a state an id rests in.
 *
 * The machine takes requests (InitProducerId, AddPartitionsToTxn /
 * AddOffsetsToTxn, EndTxn), the results of the work it asked for (a record
 * written, markers written) and the passage of time, and emits actions:
 * RESPOND to a request token, PERSIST a TransactionLogValue (or a tombstone),
 * WRITE_MARKERS to the partitions of a transaction. It does no I/O, takes no
 * locks, reads no clock (now_ms is passed in) and draws no random numbers:
 * producer ids come from the caller (fresh_pid).
 *
 * Every request token is answered exactly once through a RESPOND action,
 * either during the call or later (after the record it waits for is written,
 * txn_persist_done). Each PERSIST must be answered by exactly one
 * txn_persist_done for that id, each WRITE_MARKERS by one txn_markers_done;
 * at most one PERSIST is outstanding per transactional id.
 *
 * Memory: the machine owns copies of everything it keeps. Action payloads
 * and query results borrow from the machine and are valid until the next
 * call into it (queries included); the caller copies what it keeps.
 */
#ifndef GREGOR_TXN_TXN_H
#define GREGOR_TXN_TXN_H

#include <stdbool.h>
#include <stdint.h>

enum txn_state {
    TXN_EMPTY = 0,
    TXN_ONGOING = 1,
    TXN_PREPARE_COMMIT = 2,
    TXN_PREPARE_ABORT = 3,
    TXN_COMPLETE_COMMIT = 4,
    TXN_COMPLETE_ABORT = 5,
    TXN_DEAD = 6,
    TXN_PREPARE_EPOCH_FENCE = 7,
};
#define TXN_STATE_COUNT 8
/* "Empty", "Ongoing", ... as DescribeTransactions/ListTransactions print them. */
const char *txn_state_name(int state);
/* The state with that name, or -1 (ListTransactions' unknownStateFilters). */
int txn_state_from_name(const char *name);

/* Kafka error codes the machine produces or reads (values are Kafka's). */
enum txn_error {
    TXN_OK = 0,
    TXN_ERR_UNKNOWN_SERVER_ERROR = -1,
    TXN_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,     /* append errors, mapped (txn_append_error) */
    TXN_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    TXN_ERR_REQUEST_TIMED_OUT = 7,
    TXN_ERR_MESSAGE_TOO_LARGE = 10,
    TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    TXN_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    TXN_ERR_NOT_COORDINATOR = 16,
    TXN_ERR_RECORD_LIST_TOO_LARGE = 18,
    TXN_ERR_NOT_ENOUGH_REPLICAS = 19,
    TXN_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    TXN_ERR_INVALID_REQUEST = 42,
    TXN_ERR_INVALID_PRODUCER_EPOCH = 47,
    TXN_ERR_INVALID_TXN_STATE = 48,
    TXN_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
    TXN_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
    TXN_ERR_CONCURRENT_TRANSACTIONS = 51,
    TXN_ERR_KAFKA_STORAGE_ERROR = 56,
    TXN_ERR_PRODUCER_FENCED = 90,
    TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND = 105,
};

/* The coordinator error a failed __transaction_state append turns into
 * (TransactionStateManager.appendTransactionToLog's table). */
int16_t txn_append_error(int16_t append_error);

typedef struct txn_limits {
    int32_t transaction_timeout_ms_max;      /* transaction.max.timeout.ms, 900000 */
    int64_t transactional_id_expiration_ms;  /* transactional.id.expiration.ms, 604800000 */
    int32_t abort_check_interval_ms;         /* transaction.abort.timed.out.transaction.cleanup.interval.ms, 10000 */
    int32_t expire_check_interval_ms;        /* transaction.remove.expired.transaction.cleanup.interval.ms, 3600000 */
} txn_limits;

/* A transactional id, byte for byte (any byte may be NUL): len bytes at
 * ptr; len -1 is null. The machine's own copies (actions, views) are also
 * NUL-terminated at ptr[len], for logs. */
typedef struct txn_str {
    const char *ptr;
    int32_t len;
} txn_str;
#define TXN_STR_NULL ((txn_str){ NULL, -1 })

typedef struct txn_partition {
    const char *topic;
    int32_t partition;
} txn_partition;

/*
 * A TransactionLogValue, field for field. Used both ways: the machine emits
 * one with PERSIST, the loader feeds one back with txn_load.
 * partitions are sorted by (topic, partition) without duplicates, so the
 * writer groups them into PartitionsSchema entries in one pass; when
 * partitions_null is set (state Empty, as Kafka writes it) the writer writes
 * a null TransactionPartitions array.
 * previous_producer_id, next_producer_id and client_transaction_version
 * are tagged fields of value version 1, which Kafka 4.4 writes when the
 * cluster's transaction.version is >= 1 (version 0, without them, below);
 * the writer picks the version, the machine always fills them.
 */
typedef struct txn_record {
    int64_t producer_id;
    int64_t previous_producer_id;     /* tagged, v1+ */
    int64_t next_producer_id;         /* tagged, v1+; always -1 under transactions V1 */
    int16_t producer_epoch;
    int32_t transaction_timeout_ms;
    int8_t transaction_status;        /* enum txn_state */
    bool partitions_null;
    const txn_partition *partitions;
    int npartitions;
    int64_t last_update_timestamp_ms;
    int64_t start_timestamp_ms;       /* -1 when no transaction has started */
    int16_t client_transaction_version; /* tagged, v1+; 0 under transactions V1 */
} txn_record;

/* Requests. version is the request's API version: it decides whether
 * PRODUCER_FENCED goes out as INVALID_PRODUCER_EPOCH (older clients). */
typedef struct txn_init_req {
    void *token;
    int16_t version;            /* InitProducerId: below 4 gets INVALID_PRODUCER_EPOCH */
    txn_str txn_id;             /* null: an idempotent producer (fresh_pid, epoch 0) */
    int32_t timeout_ms;
    int64_t expected_pid;       /* -1 and -1 when the client sent none (v0-2) */
    int16_t expected_epoch;
    int64_t fresh_pid;          /* a newly allocated producer id the machine may take; -1: none available */
} txn_init_req;

/* AddPartitionsToTxn for one transaction, and AddOffsetsToTxn (its one
 * partition being the group's __consumer_offsets partition). */
typedef struct txn_add_req {
    void *token;
    int16_t version;            /* below 2 gets INVALID_PRODUCER_EPOCH (both APIs) */
    int16_t client_tv;          /* 2: a broker's add for a V2 client (AddPartitionsToTxn v4+); else 0 */
    txn_str txn_id;
    int64_t producer_id;
    int16_t producer_epoch;
    const txn_partition *partitions;
    int npartitions;
} txn_add_req;

typedef struct txn_end_req {
    void *token;
    int16_t version;            /* EndTxn; below 2 gets INVALID_PRODUCER_EPOCH */
    int16_t client_tv;          /* 2 from EndTxn v5 on (transactions V2), else 0 */
    txn_str txn_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
    int64_t fresh_pid;          /* V2: a new producer id for when the epochs ran out; -1: none available */
} txn_end_req;

enum txn_action_kind {
    TXN_ACT_RESPOND = 1,      /* answer token: error, producer_id, producer_epoch (InitProducerId, V2 EndTxn) */
    TXN_ACT_PERSIST,          /* write txn_id's record (tombstone: a null value) */
    TXN_ACT_WRITE_MARKERS,    /* write commit/abort markers, then txn_markers_done */
};

typedef struct txn_action {
    int kind;
    void *token;                 /* RESPOND */
    int16_t error;               /* RESPOND: the final code for the request's version */
    int64_t producer_id;         /* RESPOND (InitProducerId, V2 EndTxn; -1 otherwise), WRITE_MARKERS */
    int16_t producer_epoch;      /* RESPOND (InitProducerId, V2 EndTxn; -1 otherwise), WRITE_MARKERS */
    int16_t transaction_version; /* WRITE_MARKERS: the transaction's client version (WriteTxnMarkers v2) */
    txn_str txn_id;              /* PERSIST, WRITE_MARKERS */
    bool tombstone;              /* PERSIST: write the key with a null value */
    txn_record record;           /* PERSIST, unless tombstone */
    bool commit;                 /* WRITE_MARKERS: COMMIT or ABORT markers */
    int32_t coordinator_epoch;   /* WRITE_MARKERS */
    const txn_partition *partitions; /* WRITE_MARKERS */
    int npartitions;
} txn_action;

/* Actions accumulate here; the caller resets n between calls. */
typedef struct txn_actions {
    txn_action *v;
    int n, cap;
} txn_actions;
void txn_actions_reset(txn_actions *a);
void txn_actions_free(txn_actions *a);

typedef struct txn_coord txn_coord;

/*
 * A machine for partition `partition` owned at `coordinator_epoch` (the
 * partition's leader epoch). It starts loading: requests are answered
 * COORDINATOR_LOAD_IN_PROGRESS until txn_load_done. NULL if lim is invalid.
 */
txn_coord *txn_coord_new(int32_t partition, int32_t coordinator_epoch, const txn_limits *lim);
/* Tokens still waiting are dropped unanswered (txn_resign answers them). */
void txn_coord_free(txn_coord *c);

/*
 * InitProducerId. Returns true when the machine took req->fresh_pid (a new
 * transactional id, or the epochs of the current producer id ran out);
 * otherwise the caller may offer the same id to the next call.
 */
bool txn_init_producer_id(txn_coord *c, const txn_init_req *req, int64_t now_ms, txn_actions *out);
void txn_add_partitions(txn_coord *c, const txn_add_req *req, int64_t now_ms, txn_actions *out);
/* Returns true when the machine took req->fresh_pid (V2: the epochs ran out). */
bool txn_end_txn(txn_coord *c, const txn_end_req *req, int64_t now_ms, txn_actions *out);

/* The cluster's finalized transaction.version (0 until set): decides how
 * the machine's own aborts (timeouts, InitProducerId fencing) go. */
void txn_set_transaction_version(txn_coord *c, int16_t level);

/*
 * The caller wrote (append_error 0) or failed to write the record of the
 * last PERSIST for txn_id; append_error is the produce error of the append
 * (NOT_ENOUGH_REPLICAS, KAFKA_STORAGE_ERROR, ...), mapped as Kafka maps it.
 * Returns 0, or -1 when no PERSIST was outstanding for txn_id.
 */
int txn_persist_done(txn_coord *c, txn_str txn_id, int16_t append_error, int64_t now_ms,
                     txn_actions *out);
/* Every marker of the last WRITE_MARKERS for txn_id is written: the
 * transaction completes (CompleteCommit/CompleteAbort is persisted).
 * Returns 0, or -1 when no markers were outstanding for txn_id. */
int txn_markers_done(txn_coord *c, txn_str txn_id, int64_t now_ms, txn_actions *out);

/* Time: when txn_tick next has work (INT64_MAX if never), and the step that
 * aborts timed-out transactions (fencing their producer), expires idle
 * transactional ids and retries a completion record that could not be
 * written. */
int64_t txn_next_deadline_ms(const txn_coord *c);
/* fresh_pid: a producer id for a V2 abort of a timed-out transaction whose
 * epochs ran out (-1: none; it is then fenced as V1 fences). Returns true
 * when the machine took it. */
bool txn_tick(txn_coord *c, int64_t now_ms, int64_t fresh_pid, txn_actions *out);

/*
 * Loading from __transaction_state, oldest record first: value NULL is a
 * tombstone. Returns 0, or -1 (record ignored) if the machine is not loading
 * or the value cannot be a record Kafka writes (state Dead or
 * PrepareEpochFence, negative producer id or epoch, timeout <= 0, Ongoing
 * without a start time, Complete* with partitions, a NULL topic or negative
 * partition). An Empty record's partitions are ignored, as Kafka ignores
 * them. The memory-only last epoch starts at -1. txn_load_done ends the
 * load: transactions found in PrepareCommit/PrepareAbort get their
 * WRITE_MARKERS again so that they complete.
 */
int txn_load(txn_coord *c, txn_str txn_id, const txn_record *value);
void txn_load_done(txn_coord *c, int64_t now_ms, txn_actions *out);

/* The partition moved away (or the broker stops): every waiting token is
 * answered NOT_COORDINATOR and every later request too. Outstanding
 * persists and markers may still be reported; they change nothing. */
void txn_resign(txn_coord *c, txn_actions *out);

/* ---- read-only queries (results borrowed until the next call) ---- */

typedef struct txn_view {
    txn_str txn_id;
    int64_t producer_id;
    int16_t producer_epoch;
    int state;
    int pending;                 /* the state a transition in flight goes to, -1 if none */
    int32_t timeout_ms;
    int64_t start_timestamp_ms;  /* -1 when none */
    int64_t last_update_timestamp_ms;
    const txn_partition *partitions; /* sorted by (topic, partition) */
    int npartitions;
} txn_view;

/* DescribeTransactions for one id: 0 and *out filled, or the error code
 * (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, INVALID_REQUEST for "",
 * TRANSACTIONAL_ID_NOT_FOUND). */
int16_t txn_describe(txn_coord *c, txn_str txn_id, txn_view *out);

typedef struct txn_list_filter {
    const int64_t *producer_ids; /* none: any */
    int nproducer_ids;
    bool filter_states;          /* false: any; true: only states in states_mask */
    uint32_t states_mask;        /* bit (1u << state); unknown names add no bit */
    int64_t duration_ms;         /* -1: any; else only now - start > duration_ms */
} txn_list_filter;

/* ListTransactions: 0 with the matching ids in *out (order unspecified), or
 * COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR. */
int16_t txn_list(txn_coord *c, const txn_list_filter *f, int64_t now_ms, const txn_view **out, int *n);

int txn_count(const txn_coord *c);          /* transactional ids held */
int32_t txn_coord_partition(const txn_coord *c);
int32_t txn_coord_epoch(const txn_coord *c);

#endif
