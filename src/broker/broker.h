/*
 * broker.h - the broker: what a running `gregor server` is made of, and the
 * request handlers' shared context.
 *
 * One broker per process. It owns the configuration, the log manager, the
 * topic table (applied from the metadata log), the group-commit flusher and
 * the reactors with their listeners. Handlers (handle_*.c) run on reactor
 * threads and receive the broker as their context; they never block: work
 * that must wait (long-poll fetch, fsync before ack) is parked as a delayed
 * operation and completed on the same reactor.
 */
#ifndef GREGOR_BROKER_BROKER_H
#define GREGOR_BROKER_BROKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "broker/broker_config.h"
#include "broker/flusher.h"
#include "broker/topics.h"
#include "metadata/quorum.h"
#include "net/conn.h"
#include "net/reactor.h"
#include "storage/logmgr.h"

typedef struct metalog metalog;
struct coordinator;

typedef struct broker {
    config_set cfg;               /* static after start-up */
    const char *config_path;      /* borrowed from argv; may be NULL */
    int32_t node_id;
    char cluster_id[32];          /* base64url of 16 bytes, 22 chars */
    char adv_host[256];           /* advertised listener */
    int adv_port;
    logmgr *logs;
    partition_env part_env;       /* what every partition gets: the flusher, fetch wake-ups */
    metalog *meta;                /* the metadata log, its image and the controller */
    bool clean_start;             /* the last shutdown was clean */
    topics *topics;
    flusher *flusher;
    workpool *iopool;             /* num.io.threads - 1 helpers: the flusher's fsyncs */
    struct appender *appender;    /* append lanes, one per core; NULL on one core */
    struct coordinator *coord;    /* consumer groups */
    struct pids *pids;            /* producer ids for InitProducerId */
    struct tcoord *tcoord;        /* transactions */
    struct reqstats *reqstats;    /* GREGOR_REQUEST_STATS counters; usually NULL */
    struct scrubber *scrubber;    /* log.scrub.interval.ms; NULL when off */
    struct cleaner *cleaner;      /* the log cleaner (log.cleaner.enable); NULL when off */
    int nreactors;
    reactor **reactors;
    listener **listeners;
    connquota *quota;             /* max.connections.per.ip, shared by the listeners */
    struct fetch_op *fetch_parked[TOPICS_REACTORS_MAX];     /* long-poll fetches, per reactor */
    atomic_bool fetch_wake_pending[TOPICS_REACTORS_MAX];
    /* A cluster: controller.quorum.voters set (nvoters 0: a single node). */
    bool is_broker, is_controller;          /* process.roles */
    quorum_voter voters[RAFT_VOTERS_MAX];
    int nvoters;
    char controller_listener[64];           /* its name, from controller.listener.names */
    char client_listener[64];               /* the client listener's name (PLAINTEXT) */
    struct lifecycle *lifecycle;            /* registration and heartbeats (lifecycle.c) */
    struct replicas *replicas;              /* follower fetchers (replica/fetcher.h); a cluster's brokers */
    reactor *rreactor;                      /* their reactor */
    struct isr_mgr *isr;                    /* the leader's ISR checks (isr.c) */
    reactor *qreactor;                      /* the quorum's reactor (clients, ticks) */
    listener **ctl_listeners;               /* the controller listener, per reactor (or NULL) */
    atomic_bool shutting_down;
    struct {                                /* internal topics being created (internal.c) */
        atomic_bool inflight;
        _Atomic int64_t asked_ms;
    } icreate[2];
    int64_t next_producer_expiry_ms;  /* housekeeping (main thread) */
    /* cached limits */
    int32_t fetch_bytes_max;
    bool auto_create;
    bool txn_verify;              /* transaction.partition.verification.enable */
    /* The finalized features of the image last published (publisher.c):
     * transaction.version's level in the low 16 bits, the image's offset
     * + 1 in the 48 above (0: nothing published yet). One word, so that a
     * reader on any thread gets a level with the epoch it came with. */
    _Atomic uint64_t features_published;
} broker;

/* Start-up and shutdown, in main.c's order. */
int broker_init(broker *b, char *err, size_t errlen);
int broker_start(broker *b, char *err, size_t errlen);
void broker_shutdown(broker *b);
/* Frees everything; true when the logs were closed cleanly (the clean
 * shutdown was recorded), which main turns into its exit status. */
bool broker_deinit(broker *b);

/* The conn_handler callbacks (dispatch.c). */
void broker_on_request(void *ctx, req *rq);
int broker_check_header(void *ctx, conn *c, const kp_req_header *hdr);

/* Handlers: decode rq->body, answer (now or later) with conn_req_complete. */
void handle_api_versions(broker *b, req *rq);
void handle_metadata(broker *b, req *rq);
void handle_produce(broker *b, req *rq);
void handle_fetch(broker *b, req *rq);
void handle_list_offsets(broker *b, req *rq);
void handle_offset_for_leader_epoch(broker *b, req *rq);
void handle_create_topics(broker *b, req *rq);
void handle_delete_topics(broker *b, req *rq);
void handle_create_partitions(broker *b, req *rq);
void handle_elect_leaders(broker *b, req *rq);
void handle_alter_partition_reassignments(broker *b, req *rq);
void broker_set_aside_strays(broker *b, bool hosted_only);
void handle_list_partition_reassignments(broker *b, req *rq);
void handle_describe_configs(broker *b, req *rq);
void handle_describe_cluster(broker *b, req *rq);
void handle_alter_configs(broker *b, req *rq);
void handle_init_producer_id(broker *b, req *rq);
void handle_describe_log_dirs(broker *b, req *rq);
void handle_delete_records(broker *b, req *rq);
void handle_incremental_alter_configs(broker *b, req *rq);
/* Consumer groups (src/group/group_api.c). */
void handle_find_coordinator(broker *b, req *rq);
void handle_join_group(broker *b, req *rq);
void handle_sync_group(broker *b, req *rq);
void handle_heartbeat(broker *b, req *rq);
void handle_leave_group(broker *b, req *rq);
void handle_offset_commit(broker *b, req *rq);
void handle_offset_fetch(broker *b, req *rq);
void handle_describe_groups(broker *b, req *rq);
void handle_list_groups(broker *b, req *rq);
void handle_delete_groups(broker *b, req *rq);
void handle_offset_delete(broker *b, req *rq);
void handle_txn_offset_commit(broker *b, req *rq);
/* Transactions (handle_txn.c). */
void handle_add_partitions_to_txn(broker *b, req *rq);
void handle_add_offsets_to_txn(broker *b, req *rq);
void handle_end_txn(broker *b, req *rq);
void handle_describe_transactions(broker *b, req *rq);
void handle_list_transactions(broker *b, req *rq);
void handle_describe_producers(broker *b, req *rq);
void handle_write_txn_markers(broker *b, req *rq);
/* Finalized features (handle_features.c). */
void handle_update_features(broker *b, req *rq);
/* ApiVersions v3+: the supported features, the finalized ones and their
 * epoch into resp (nothing for v0-2 or an error answer). */
void broker_api_versions_features(broker *b, req *rq, int16_t ver, kp_api_versions_resp *resp);

/*
 * The finalized level of transaction.version in the metadata image this
 * broker has published (0: not finalized, or no image yet): the
 * transaction coordinator runs transactions V2 (KIP-890) when it is >= 2.
 * Any thread, one atomic load.
 */
int16_t broker_transaction_version(broker *b);
/* The same level and its epoch, for ApiVersions: the offset of the
 * published image's last record (Kafka's finalized-features epoch: it
 * only grows), -1 when none is published. Any thread. */
void broker_finalized_features(broker *b, int16_t *txn_version, int64_t *epoch);

/* Served APIs with their version ranges (for ApiVersions and the tools). */
typedef struct broker_api {
    int16_t key;
    void (*handle)(broker *b, req *rq);
} broker_api;
const broker_api *broker_api_find(int16_t key);
int broker_apis(const broker_api **out);

/* Fetch long-poll: wake parked fetches on partition p (any thread). */
void fetch_partition_appended(broker *b, partition *p);
/* Shutdown: post to every reactor (arg: the broker) to answer its parked fetches now. */
void fetch_expire_all(reactor *r, void *arg);

/* Internal topics (internal.c). Ask for __consumer_offsets or
 * __transaction_state (configs as name/value pairs): KERR_NONE when asked
 * or created - the caller looks for the topic in the table, which in a
 * cluster it reaches later (never waited for on a reactor) - else a Kafka
 * error code, msg says why. */
int16_t broker_create_internal_topic(void *b, const char *name, int32_t nparts, const char *const *cfgs,
                                     int ncfgs, char *msg, size_t msglen);
/* The broker coordinating keys of partition `partition` of internal topic
 * `topic`: its leader's id and client endpoint (strings in a), or
 * COORDINATOR_NOT_AVAILABLE when it has none. A single node: itself. */
/* KIP-951: a partition answered NOT_LEADER_OR_FOLLOWER or
 * FENCED_LEADER_EPOCH carries the leader this broker knows (Produce v10+,
 * Fetch v16+), and the response that leader's endpoint, so that clients
 * move without a Metadata round trip. broker_leader_hints fills *leader and
 * *epoch (-1: none known) and appends the leader's endpoint to eps (at
 * most cap, each node once); true when a leader is known. */
typedef struct broker_endpoint {
    int32_t node_id;
    kp_str host;
    int32_t port;
    kp_str rack;
} broker_endpoint;
int broker_leader_hints(broker *b, arena *a, kp_str tname, int32_t part, int32_t *leader, int32_t *epoch,
                        broker_endpoint *eps, int *neps, int cap);
/* Ask the active controller for a topic (auto-creation on a broker that
 * is not it), without waiting: CreateTopics, its answer only logged. */
void broker_forward_create_topic(broker *b, const char *name, int32_t nparts, int16_t rf);
/* Broker br's endpoint on this node's client listener (NULL: none). */
struct mi_broker;
struct mi_endpoint;
const struct mi_endpoint *broker_client_endpoint(const broker *b, const struct mi_broker *br);
/* A topic's partition count in the committed image (-1: none). */
int32_t broker_committed_partitions(void *b, const char *name);
int16_t broker_coordinator_of(broker *b, const char *tname, int32_t part, int32_t *node, kp_str *host,
                              int32_t *port, arena *a);

/* The metadata listener (publisher.c): keeps the topic table in step with
 * the committed image; and the table's destructor, deleting a removed
 * topic's logs. */
struct mimage;
struct mdelta;
int broker_publish(void *ctx, const struct mimage *im, const struct mdelta *d, char *err, size_t errlen);
/* Answer rq with encode(b, rq, resp) once the metadata records below
 * wait_offset are committed and applied (at once when wait_offset < 0);
 * when the controller lost its leadership first, the request runs again
 * (handle_admin.c). resp must live in rq's arena. */
typedef void (*broker_encode_fn)(broker *b, req *rq, void *resp);
void broker_answer_applied(broker *b, req *rq, int64_t wait_offset, broker_encode_fn encode, void *resp);
void broker_topic_gone(topic *tp, void *ctx);

/* Registration with the controller (lifecycle.c). A single node registers
 * itself at start; a cluster's nodes run a lifecycle on the quorum reactor. */
typedef struct lifecycle lifecycle;
/* isr.c: a partition leader's ISR shrink/expand, on the fetchers' reactor. */
typedef struct isr_mgr isr_mgr;
isr_mgr *isr_start(broker *b);
void isr_stop(isr_mgr *m);
void isr_free(isr_mgr *m);
int broker_register_self(broker *b, char *err, size_t errlen);
lifecycle *lifecycle_start(broker *b);
/* SIGTERM on a cluster's broker: ask the controller to move its
 * leaderships and fence it (heartbeat want_shut_down), waiting up to
 * timeout_ms for the answer; true when it came. */
bool lifecycle_controlled_shutdown(lifecycle *lc, int64_t timeout_ms);
void lifecycle_stop(lifecycle *lc);
void lifecycle_free(lifecycle *lc);

/* The controller listener (handle_quorum.c). */
void broker_on_controller_request(void *ctx, req *rq);
int broker_controller_check_header(void *ctx, conn *c, const kp_req_header *hdr);
void broker_controller_conn_closed(void *ctx, conn *c);
void handle_describe_quorum(broker *b, req *rq);
/* This node's controller is not the active one (another node's is, or an
 * election or catching up is on): admin handlers forward, or wait. */
bool broker_controller_elsewhere(broker *b);
/* Send rq's body to the active controller and answer with its answer; false
 * when it cannot be forwarded (no quorum, it came from a controller
 * listener, this node is the controller): the handler answers itself. */
bool broker_forward(broker *b, req *rq);

/* Helpers shared by handlers. */
/* Partition index of tp when this broker leads it; else NULL and *code:
 * NOT_LEADER_OR_FOLLOWER (it exists, another broker leads it or none
 * does), UNKNOWN_TOPIC_OR_PARTITION (no such partition). */
partition *broker_led_partition(topic *tp, int32_t index, int16_t *code);
/* The same, and the caller's current_leader_epoch (-1: none) must be the
 * partition's: else NULL, *code UNKNOWN_LEADER_EPOCH (newer) or
 * FENCED_LEADER_EPOCH (older). */
partition *broker_led_partition_at(topic *tp, int32_t index, int32_t current_leader_epoch, int16_t *code);
/* Close rq's connection with a logged reason when its body does not decode. */
void broker_bad_request(req *rq, const char *why);
/* The topic's flush.messages: 1 means acks=all waits for fsync; N > 1
 * means a background flush every N records. */
int64_t broker_flush_messages(broker *b, topic *tp);
kp_str arena_kstr(arena *a, const char *s);
/* n bytes of s, NULs and all, copied into a. */
kp_str arena_kstr_n(arena *a, const char *s, int32_t n);
/* POLICY_VIOLATION with a message when new_partitions would not fit in the
 * open-files limit (each partition keeps its active segment's files open). */
int16_t broker_fd_budget(broker *b, int64_t new_partitions, char *msg, size_t msglen);

#endif
