/*
 * reassign.h - what the files of `gregor reassign-partitions` share:
 * reassign_partitions.c (arguments, --execute, --verify, --cancel, --list,
 * the requests), reassign_generate.c (--generate: Kafka 4.4's replica
 * placement) and reassign_configs.c (log directories, throttles).
 * Internal to them; main thread only.
 */
#ifndef GREGOR_TOOLS_REASSIGN_H
#define GREGOR_TOOLS_REASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "tools/json.h"

#define RP_CMD "reassign-partitions"

/* One partition of a reassignment file or of a broker's answer. */
typedef struct rp_tp {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int32_t *replicas;     /* target (file) or current (broker) replicas */
    size_t replicas_n;
    int32_t *current;      /* --verify: the replicas now */
    size_t current_n;
    bool done;             /* --verify: no reassignment under way */
    int16_t error;         /* --execute/--cancel: the answer */
    const char *message;   /* its message, NULL for the code's default */
    size_t message_len;
    size_t idx;            /* --list: the index of its answer */
    const char **dirs;     /* replicas' log directories (NULL: "any"), or NULL */
    size_t *dir_lens;
} rp_tp;

typedef struct rp_ctx {
    tool_opts o;
    arena ar;
    kp_api_versions_resp av;
    bool av_done;
} rp_ctx;

/* Zeroed memory from the tool's arena; out of memory ends the process. */
void *rp_alloc(rp_ctx *c, size_t n);
/* Kafka's main: "Error: " + the exception's message on stdout; returns 1. */
int rp_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "Error: <what><node as Jackson prints it>"; returns -1. */
int rp_fail_node(const char *what, const tj_json *j);

/* Integers reordered as a HashSet<Integer> filled in their order. */
void rp_int_java_order(int32_t *v, size_t n);
/* The distinct values of v, first occurrences in order; the count. */
size_t rp_int_unique(int32_t *v, size_t n);
/* "1,2,3" (Collectors.joining(",")) or "[1, 2, 3]" (List.toString). */
void rp_buf_ints(tj_buf *b, const int32_t *v, size_t n, bool java_list);

/* Metadata for the n topics (none: the brokers only). 0, or -1 after a
 * message. The answer lives in the tool's arena. */
int rp_metadata(rp_ctx *c, const char *const *names, const size_t *lens, size_t n, kp_metadata_resp *md);
const kp_metadata_resp_topic *rp_md_topic(const kp_metadata_resp *md, const char *name, size_t len);
const kp_metadata_resp_partition *rp_md_partition(const kp_metadata_resp_topic *t, int32_t p);
/* Kafka's describeTopics errors ("Topic X not found."); 0 when usable. */
int rp_topic_error(const kp_metadata_resp_topic *t, const char *name, size_t len);

enum { RP_JSON_OK, RP_JSON_INVALID, RP_JSON_MISSING /* blank */, RP_JSON_EMPTY };
/* The JSON file at path, or NULL: after Kafka's "Error: Unable to read
 * file <path>" (*invalid RP_JSON_OK), or with nothing printed when it holds
 * no JSON (*invalid says how). */
const tj_json *rp_read_json(rp_ctx *c, const char *path, int *invalid);
/* The "version" field: absent is 1; 0, or -1 after Kafka's sentence. */
int rp_json_version(const tj_json *js);
/* Kafka 4.4's getReplicaToLogDir: each replica's log directory, asked
 * with DescribeLogDirs from each broker of md holding replicas of v, into
 * v[i].dirs (NULL where unknown). 0, or -1 after a message. */
int rp_log_dirs(rp_ctx *c, const kp_metadata_resp *md, rp_tp *v, size_t n);
/* Kafka's formatAsReassignmentJson on stdout (no newline); v is sorted;
 * "log_dirs" from v[i].dirs, "any" where unknown. */
void rp_print_json(rp_tp *v, size_t n);

/* ApiVersions of the bootstrap broker, once (0, or -1 after a message);
 * the version of api to use, or -1 after Kafka's "Error: ...
 * UnsupportedVersionException: The node does not support <java_name>". */
int rp_versions(rp_ctx *c);
int rp_version(rp_ctx *c, int16_t api, const char *java_name, int16_t *ver);
/* The cluster's broker ids, in Metadata's order (md keeps the answer). */
int rp_broker_ids(rp_ctx *c, int32_t **ids, size_t *n, kp_metadata_resp *md);
/* p's entry in a ListPartitionReassignments answer, or NULL. */
const kp_list_partition_reassignments_resp_partition *
rp_list_find(const kp_list_partition_reassignments_resp *r, const rp_tp *p);

/* reassign_configs.c: Kafka's clearAllThrottles (the "Clearing ..." lines,
 * then the deletions), and Kafka's modifyReassignmentThrottle and
 * modifyLogDirThrottle for --execute (cur: the reassignments under way;
 * v: the proposal with each partition's current replicas). 0, or -1 after
 * "Error: ...". */
int rp_clear_throttles(rp_ctx *c, const rp_tp *targets, size_t n);
int rp_set_throttles(rp_ctx *c, const kp_list_partition_reassignments_resp *cur, rp_tp *v, size_t n,
                     int64_t inter_broker, int64_t log_dir);

/* --generate (reassign_generate.c): the exit status. */
int rp_generate(rp_ctx *c, const char *path, const char *broker_list, bool rack_aware);

#endif
