/*
 * tools.h - the `gregor <command>` client tools. Each command is a
 * `tool_<name>_main(argc, argv)` (argv[0] is the command name) returning
 * the process exit code: 0 on success, 1 on a failure with a one-line
 * reason on stderr, 2 on a usage error. They are clients: built on Debian's
 * librdkafka (rdkafka.h), except where librdkafka lacks an API.
 */
#ifndef GREGOR_TOOLS_TOOLS_H
#define GREGOR_TOOLS_TOOLS_H

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

#endif
