/*
 * reqstats.h - which requests the broker served, by client software.
 *
 * Test instrumentation behind the compatibility ledger
 * (docs/compatibility.md): when the environment variable
 * GREGOR_REQUEST_STATS names a file, the broker counts every request by
 * (client software, API key, version) and, at shutdown, appends one JSON line
 * to that file. The client software is what the connection named in its
 * ApiVersions v3+ request (KIP-511: "librdkafka" 2.0.2, "apache-kafka-java"
 * 4.4.0, ...); "unknown" for a connection that never sent one. Requests the
 * broker refused for an unknown key or an unsupported version are counted
 * too, as refused.
 *
 * Without the variable nothing is allocated and every call returns at once.
 *
 * Threads: reqstats_count and reqstats_refused run on any reactor (relaxed
 * atomic counters); reqstats_software takes a mutex (once per ApiVersions);
 * reqstats_dump runs once, after the reactors have stopped.
 */
#ifndef GREGOR_BROKER_REQSTATS_H
#define GREGOR_BROKER_REQSTATS_H

#include <stdint.h>

#include "proto/codec.h"

typedef struct reqstats reqstats;

/* NULL when GREGOR_REQUEST_STATS is unset or empty (or out of memory, which
 * is logged): every function below accepts NULL. */
reqstats *reqstats_new(void);
void reqstats_free(reqstats *s);

/* The index of a client software name/version (1..), registered on first
 * sight; 0 ("unknown") when the table is full or s is NULL. */
int reqstats_software(reqstats *s, kp_str name, kp_str version);

/* For a connection that never named its software (ApiVersions v0-2, or
 * none): an entry "client.id <prefix>" from its client id up to the first
 * digit ("kafka-python-2.0.2" -> "client.id kafka-python-"), so that a
 * few entries cover the tests' many ids; 0 when there is none. */
int reqstats_software_by_client_id(reqstats *s, kp_str client_id);

/* One request served (handler called) / refused (connection closed). */
void reqstats_count(reqstats *s, int software, int16_t api_key, int16_t api_version);
void reqstats_refused(reqstats *s, int software, int16_t api_key, int16_t api_version);

/* Append the JSON line to the file; logs (and returns -1) on failure. */
int reqstats_dump(reqstats *s);

#endif
