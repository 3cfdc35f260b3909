/*
 * json.h - the tools' JSON reader (Jackson's strict defaults, as Kafka's
 * tools read their JSON files) and a growing text buffer that writes a node
 * as Jackson's JsonNode.toString does, so that Kafka's error sentences,
 * which quote the offending value, come out byte for byte.
 *
 * Used by `gregor delete-records` and `gregor leader-election`. Nodes and
 * strings are allocated from the arena the caller gives; messages name the
 * command given as `cmd` ("gregor <cmd>: ..." via tool_err). Main thread only.
 */
#ifndef GREGOR_TOOLS_JSON_H
#define GREGOR_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

#define TJ_DEPTH_MAX 512 /* nesting deeper than this is refused as bad JSON */

typedef enum tj_type { TJ_NULL, TJ_BOOL, TJ_INT, TJ_LONG, TJ_BIG, TJ_DOUBLE, TJ_STR,
                       TJ_ARR, TJ_OBJ } tj_type;

typedef struct tj_json tj_json;
struct tj_json {
    tj_type type;
    bool b;
    int64_t i;        /* TJ_INT (fits an int), TJ_LONG (fits a long) */
    double d;         /* TJ_DOUBLE */
    char *s;          /* TJ_STR: the decoded string (UTF-8); TJ_BIG: its digits */
    size_t slen;
    tj_json **items;  /* TJ_ARR: values; TJ_OBJ: values, with keys */
    char **keys;      /* TJ_OBJ */
    size_t *klens;
    size_t n;
};

/* The first JSON value of text[0..len) (Jackson reads the first value and
 * ignores what follows it), allocated from ar. NULL when the text is not
 * valid JSON, or when ar ran out (then *oom is set). */
tj_json *tj_parse(arena *ar, const char *text, size_t len, bool *oom);
/* The value of key in object obj (a key given twice keeps its first place
 * and its last value, as Jackson's ObjectNode); NULL when absent. */
const tj_json *tj_get(const tj_json *obj, const char *key);

/* A NUL-terminated text that grows with realloc; start it as
 * `tj_buf b = { .cmd = CMD };` and free(b.p) after. Out of memory prints
 * "gregor <cmd>: out of memory" and exits 1. */
typedef struct tj_buf {
    char *p;
    size_t len, cap;
    const char *cmd;
} tj_buf;

void tj_buf_add(tj_buf *b, const char *s, size_t n);
void tj_buf_str(tj_buf *b, const char *s);
/* s[0..n) as a JSON string, quoted and escaped as Jackson writes it. */
void tj_buf_json_str(tj_buf *b, const char *s, size_t n);
/* d as Java's Double.toString writes it. */
void tj_buf_double(tj_buf *b, double d);
/* j as Jackson's JsonNode.toString writes it. */
void tj_buf_node(tj_buf *b, const tj_json *j);

/* tool_err(cmd, "<what><node>") with the node as Jackson prints it. */
void tj_err_node(const char *cmd, const char *what, const tj_json *j);

/* The whole file at path (a pipe too, read in chunks), at most max bytes,
 * NUL-terminated in ar; its length in *len. NULL on failure: then
 * *open_errno is fopen's errno when the file could not be opened, else 0
 * (a read error, more than max bytes, or ar ran out), and *len is how much
 * was read. Prints nothing: the tools word the failure as Kafka does. */
char *tj_read_file(arena *ar, const char *path, size_t max, size_t *len, int *open_errno);

/* Kafka's DecodeJson: `Integer` is an int node, `Long` an int or long one.
 * 0, or -1 after Kafka's sentence ("Expected `Integer` value, received 1.5"). */
int tj_to_int(const char *cmd, const tj_json *j, int32_t *out);
int tj_to_long(const char *cmd, const tj_json *j, int64_t *out);
/* tj_get, or NULL after Kafka's "No such field exists: `key`". */
const tj_json *tj_field(const char *cmd, const tj_json *obj, const char *key);

#endif
