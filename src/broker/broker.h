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
    metalog *meta;
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
    atomic_bool shutting_down;
    int64_t next_producer_expiry_ms;  /* housekeeping (main thread) */
    /* cached limits */
    int32_t fetch_bytes_max;
    bool auto_create;
    bool txn_verify;              /* transaction.partition.verification.enable */
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
void handle_create_topics(broker *b, req *rq);
void handle_delete_topics(broker *b, req *rq);
void handle_create_partitions(broker *b, req *rq);
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

/* Served APIs with their version ranges (for ApiVersions and the tools). */
typedef struct broker_api {
    int16_t key;
    void (*handle)(broker *b, req *rq);
} broker_api;
const broker_api *broker_api_find(int16_t key);
int broker_apis(const broker_api **out);

/* Fetch long-poll: wake parked fetches on partition p (any thread). */
void fetch_partition_appended(broker *b, partition *p);
/* Shutdown: post to every reactor to answer its parked fetches now. */
void fetch_expire_all(reactor *r, void *arg);

/* Create an internal topic (__consumer_offsets, __transaction_state) with
 * configs given as name/value pairs; a Kafka error code, msg says why. */
int16_t broker_create_internal_topic(void *b, const char *name, int32_t nparts, const char *const *cfgs,
                                     int ncfgs, char *msg, size_t msglen);

/* Helpers shared by handlers. */
/* Close rq's connection with a logged reason when its body does not decode. */
void broker_bad_request(req *rq, const char *why);
/* The topic's flush.messages: 1 means acks=all waits for fsync; N > 1
 * means a background flush every N records. */
int64_t broker_flush_messages(broker *b, topic *tp);
kp_str arena_kstr(arena *a, const char *s);
/* POLICY_VIOLATION with a message when new_partitions would not fit in the
 * open-files limit (each partition keeps its active segment's files open). */
int16_t broker_fd_budget(broker *b, int64_t new_partitions, char *msg, size_t msglen);

#endif
