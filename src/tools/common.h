/*
 * common.h - what every `gregor` tool shares: option parsing helpers,
 * client configuration (--bootstrap-server, --command-config), bounded
 * waits, output as aligned tables or JSON, and Ctrl-C handling.
 *
 * Conventions (all tools):
 *   --bootstrap-server HOST:PORT   default localhost:9092
 *   --command-config FILE          client properties (librdkafka names, Kafka's format)
 *   --timeout-ms N                 bound on every wait for the broker, default 10000
 *   --output table|json            default table
 *   --help                         usage with an example, exit 0
 * An unreachable broker is reported within the timeout, never a hang.
 */
#ifndef GREGOR_TOOLS_COMMON_H
#define GREGOR_TOOLS_COMMON_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/arena.h"

typedef struct tool_opts {
    const char *bootstrap;      /* --bootstrap-server */
    const char *command_config; /* --command-config */
    int timeout_ms;             /* --timeout-ms */
    bool json;                  /* --output json */
} tool_opts;

void tool_opts_init(tool_opts *o);
/*
 * If argv[*i] is one of the common options, consume it (and its value,
 * advancing *i) and return 1; return 0 when it is not; -1 (after printing a
 * one-line reason) when its value is missing or invalid.
 */
int tool_opts_parse(tool_opts *o, int argc, char **argv, int *i);
/* argv word arg is option name, alone or as "name=value". */
bool tool_opt_is(const char *arg, const char *name);
/* The value of option argv[*i] (advancing *i), or NULL with a message. */
const char *tool_arg_value(int argc, char **argv, int *i);

/* A librdkafka configuration with bootstrap servers, the command config and
 * err_cb/log quieting applied. NULL with a one-line message on error. */
rd_kafka_conf_t *tool_conf_new(const tool_opts *o);
int tool_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value);
/* One client property from a file or a --X-property flag: Java-only keys
 * are skipped, unknown keys warned about, invalid values refused (-1).
 * where names the origin for messages ("file:line", "--producer-property"). */
int tool_conf_apply(rd_kafka_conf_t *conf, const char *key, const char *value, const char *where);
/* "key=value" from a --X-property flag, through tool_conf_apply. */
int tool_conf_apply_kv(rd_kafka_conf_t *conf, const char *kv, const char *flag);
/* Kafka's properties format (key=value or key: value, # and ! comments)
 * through tool_conf_apply; flag names the option for messages. */
int tool_conf_load_file(rd_kafka_conf_t *conf, const char *path, const char *flag);
/* Create a client of type (RD_KAFKA_PRODUCER/CONSUMER); conf is consumed. */
rd_kafka_t *tool_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* Fail within o->timeout_ms if the cluster cannot be reached: fetches
 * metadata once. Returns 0, or 1 with "cannot reach the broker at ...". */
int tool_check_reachable(rd_kafka_t *rk, const tool_opts *o);

/* One-line error to stderr: "gregor <cmd>: <message>". */
void tool_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ctrl-C / SIGTERM: sets a flag the loops check. */
void tool_install_signals(void);
extern volatile sig_atomic_t tool_stop;

/* ---- output: aligned tables ---- */
typedef struct tool_table tool_table;
tool_table *tool_table_new(int ncols, const char *const *headers);
void tool_table_add(tool_table *t, const char *const *cells); /* copies */
void tool_table_addf(tool_table *t, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tool_table_row_end(tool_table *t); /* after tool_table_addf for each column */
void tool_table_print(tool_table *t, FILE *f);
void tool_table_free(tool_table *t);

/* ---- output: JSON (no library needed for writing) ---- */
void tool_json_str(FILE *f, const char *s);              /* quoted, escaped */
void tool_json_strn(FILE *f, const char *s, size_t n);   /* bytes as a JSON string (invalid UTF-8 escaped as \ufffd) */

/* ---- additions (part A) ---- */

/* The command name used by tool_err-style messages from common helpers
 * (tool_opts_parse sets it from argv[0]; "gregor" until then). */
void tool_set_cmd(const char *cmd);
const char *tool_cmd(void);

/* The last error librdkafka reported through error_cb on a client made from
 * tool_conf_new ("" when none). Borrowed: valid until the next error. */
const char *tool_last_error(void);

/* Strict integer parse of the whole string; 0 or -1. */
int tool_parse_int64(const char *s, int64_t *out);

/*
 * One request without librdkafka, for what librdkafka 2.0 cannot ask
 * (Metadata v12 topic IDs, ApiVersions v3): connects to the first
 * --bootstrap-server, encodes req_struct (the kp_<api>_req of api_key) at
 * version, sends it, reads the answer and decodes it into resp_struct (the
 * kp_<api>_resp, initialised here). Everything, connect included, is bounded
 * by o->timeout_ms. Decoded strings and arrays live in arena a (the frame is
 * copied there), so they stay valid until arena_deinit(a).
 * Returns 0, or -1 with a one-line reason in err.
 */
int tool_raw_request(const tool_opts *o, int16_t api_key, int16_t version,
                     void *req_struct, void *resp_struct, arena *a,
                     char *err, size_t errlen);

/* tool_raw_request to host:port (an IPv6 host goes in brackets) instead of
 * the first --bootstrap-server; host NULL: to the bootstrap broker. For a
 * request meant for one broker, at the address its Metadata advertises. */
int tool_raw_request_at(const tool_opts *o, const char *host, int32_t port, int16_t api_key,
                        int16_t version, void *req_struct, void *resp_struct, arena *a,
                        char *err, size_t errlen);

struct kp_api_versions_resp;
/* ApiVersions v3 to the bootstrap broker, its answer decoded into av (in
 * arena a). 0, or -1 after a one-line message (tool_err, tool_cmd()). */
int tool_api_versions(const tool_opts *o, struct kp_api_versions_resp *av, arena *a);
/* The version of api_key to use with the broker that answered av: the
 * highest both it and our schema speak. 0, or -1 when there is none. */
int tool_api_version(const struct kp_api_versions_resp *av, int16_t api_key, int16_t *out);
/* The same, or -1 after "the broker at <bootstrap> does not serve <API>". */
int tool_api_version_or_err(const tool_opts *o, const struct kp_api_versions_resp *av,
                            int16_t api_key, int16_t *out);

/* A client for admin calls (a producer handle: librdkafka 2.0 has no
 * separate admin type) that has answered one Metadata request within
 * o->timeout_ms. NULL after a one-line message otherwise. Owned: free with
 * rd_kafka_destroy. */
rd_kafka_t *tool_admin_new(const tool_opts *o);
/* Admin options for op with request and operation timeouts of o->timeout_ms.
 * Owned: rd_kafka_AdminOptions_destroy. NULL after a message on error. */
rd_kafka_AdminOptions_t *tool_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                            const tool_opts *o);
/* Wait for the result event of the one admin call queued on q: bounded by
 * o->timeout_ms plus a small margin, cut short by Ctrl-C. NULL after a
 * one-line message; otherwise an event whose own error, if any, was
 * reported (then NULL is returned too). Owned: rd_kafka_event_destroy. */
rd_kafka_event_t *tool_admin_wait(rd_kafka_queue_t *q, const tool_opts *o);

/* Kafka's text form of a Uuid: 22 base64url characters, no padding. */
void tool_uuid_str(const uint8_t b[16], char out[23]);
/* 0 when s is such a form of 16 bytes (stored in b). */
int tool_uuid_parse(const char *s, uint8_t b[16]);
/* A random Uuid as Kafka's Uuid.randomUuid makes them (never zero, never
 * printed with a leading '-'). 0, or -1 when no randomness is available. */
int tool_uuid_random(uint8_t b[16]);

#endif
