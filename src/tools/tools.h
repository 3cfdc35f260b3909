/*
 * tools.h - the `gregor <command>` client tools. Each command is a
 * `tool_<name>_main(argc, argv)` (argv[0] is the command name) returning
 * the process exit code: 0 on success, 1 on a failure with a one-line
 * reason on stderr, 2 on a usage error. They are clients: built on Debian's
 * librdkafka (rdkafka.h), except where librdkafka lacks an API.
 */
#ifndef GREGOR_TOOLS_TOOLS_H
#define GREGOR_TOOLS_TOOLS_H

#include <stdint.h>

int tool_topics_main(int argc, char **argv);
int tool_produce_main(int argc, char **argv);
int tool_consume_main(int argc, char **argv);
int tool_groups_main(int argc, char **argv);
int tool_configs_main(int argc, char **argv);
int tool_offsets_main(int argc, char **argv);
int tool_perf_main(int argc, char **argv);
int tool_dump_log_main(int argc, char **argv);
int tool_cluster_main(int argc, char **argv);
int tool_storage_main(int argc, char **argv);
int tool_transactions_main(int argc, char **argv);
int tool_log_dirs_main(int argc, char **argv);
int tool_delete_records_main(int argc, char **argv);
int tool_metadata_quorum_main(int argc, char **argv);
int tool_leader_election_main(int argc, char **argv);
int tool_reassign_partitions_main(int argc, char **argv);
int tool_features_main(int argc, char **argv);

/*
 * One request of a flexible version (request header v2, response header v1)
 * that the generated schema does not have: DescribeQuorum, DescribeCluster
 * v2. encode writes the request body; on success (0) body is positioned at
 * the response body, which lives in arena a. Everything, connect included,
 * is bounded by timeout_ms; -1 when the node did not answer in full.
 * In metadata_quorum.c (used by cluster.c too).
 */
struct kp_writer;
struct kp_reader;
struct arena;
int tool_flexible_request(const char *host, int32_t port, int timeout_ms, int16_t api_key,
                          int16_t version, void (*encode)(struct kp_writer *w, const void *req),
                          const void *req, struct arena *a, struct kp_reader *body);

#endif
