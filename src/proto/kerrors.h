/*
 * kerrors.h - Kafka's error codes as the exceptions Kafka's Java client
 * makes of them (org.apache.kafka.common.protocol.Errors of Kafka 4.4.0):
 * the tools print what Kafka's tools print, the broker answers Kafka's
 * default message where Kafka sends one. Read-only; any thread.
 */
#ifndef GREGOR_PROTO_KERRORS_H
#define GREGOR_PROTO_KERRORS_H

#include <stddef.h>
#include <stdint.h>

/* The exception's class, "org.apache.kafka.common.errors.X"; an unknown
 * code is UNKNOWN_SERVER_ERROR's (as Errors.forCode). Static storage. */
const char *kerr_exception_class(int16_t code);
/* The exception's default message (Errors' own text). Static storage. */
const char *kerr_message(int16_t code);
/* Errors.forCode(code).exception(msg).toString() into buf: "class: msg",
 * msg NULL for the default message. Truncated to len - 1 bytes. */
void kerr_exception(int16_t code, const char *msg, size_t msg_len, char *buf, size_t len);

#endif
