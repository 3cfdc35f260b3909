/*
 * client.h - one outbound Kafka-protocol connection (broker to broker,
 * controller to controller): the Raft RPCs, broker registration and
 * heartbeats, follower fetches. The design is in client.c's first lines
 * and in docs/architecture.md ("Outbound connections").
 *
 * A client lives on one reactor. client_new may be called from any
 * thread; everything else, and every callback, runs on that reactor's
 * thread (other threads use reactor_post).
 *
 * Every request given to client_send that returns 0 gets exactly one
 * callback: its response, or an error (disconnected, timed out, closed,
 * unsupported by the peer). A send that returns non-zero gets none.
 */
#ifndef GREGOR_NET_CLIENT_H
#define GREGOR_NET_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/reactor.h"

typedef struct client client;

enum client_status {
    CLIENT_OK = 0,
    CLIENT_ERR_DISCONNECTED = -1, /* the connection failed with the request written
                                     (or being written): it may have been processed */
    CLIENT_ERR_TIMED_OUT = -2,    /* no response within request_timeout_ms of client_send */
    CLIENT_ERR_CLOSED = -3,       /* client_close came first */
    CLIENT_ERR_QUEUE_FULL = -4,   /* client_send only: max_queued requests are waiting */
    CLIENT_ERR_UNSUPPORTED = -5,  /* no codec for (api, version) here, or the peer's
                                     ApiVersions does not list it (never sent) */
};

/* "disconnected", "timed out", ... */
const char *client_status_str(int status);

/* Kafka's client settings, by Kafka's names; client_options_init gives
 * Kafka's defaults. */
typedef struct client_options {
    int32_t connect_timeout_ms;       /* socket.connection.setup.timeout.ms: 10000 */
    int32_t request_timeout_ms;       /* request.timeout.ms: 30000 */
    int32_t reconnect_backoff_ms;     /* reconnect.backoff.ms: 50 */
    int32_t reconnect_backoff_max_ms; /* reconnect.backoff.max.ms: 1000 */
    int32_t max_in_flight;            /* max.in.flight.requests.per.connection: 5 */
    int32_t max_queued;               /* requests waiting or in flight: 1000 */
    int32_t max_frame_bytes;          /* largest response frame accepted: 100 MiB
                                         (socket.request.max.bytes) */
    uint64_t seed;                    /* the backoff jitter's PRNG (+-20%) */
    /* Requests not yet written fail (DISCONNECTED) when a connection fails
     * or a connect is refused, instead of waiting for the next connection
     * until their deadline: Kafka's InterBrokerSendThread (the transaction
     * marker channel, AddPartitionsToTxnManager) completes its unsent
     * requests once NetworkClient.connectionFailed(node), so that the
     * caller can look for the node again. Default false. */
    bool fail_unsent_on_failure;
    /* Called when the connection becomes ready (after ApiVersions) or is
     * lost; may be NULL. */
    void (*on_state)(client *c, bool ready, void *arg);
    void *state_arg;
} client_options;

void client_options_init(client_options *o);

typedef struct client_response {
    int status;                 /* CLIENT_OK or an error above */
    int16_t api_key, api_version;
    int32_t correlation_id;     /* -1 if never written */
    const uint8_t *body;        /* status OK: the response body, header parsed away; */
    size_t body_len;            /*   valid until the callback returns */
    const char *reason;         /* status not OK: why, for logs */
} client_response;

typedef void (*client_cb)(client *c, const client_response *r, void *arg);

/* Starts connecting to host:port (an IP literal or a name in /etc/hosts:
 * the lookup blocks the reactor thread). client_id is copied. NULL on bad
 * options or out of memory. */
client *client_new(reactor *r, const char *host, int port, const char *client_id,
                   const client_options *o);

/* Queue a request: body is the encoded request body (copied). The client
 * writes the header (v1, or v2 for flexible versions) with its own
 * correlation id. 0, or CLIENT_ERR_QUEUE_FULL / _UNSUPPORTED / _CLOSED and
 * no callback. */
int client_send(client *c, int16_t api_key, int16_t version, const uint8_t *body, size_t len,
                client_cb cb, void *arg);
/* The same with a generated struct (kp_<api>_req), encoded here. */
int client_send_msg(client *c, int16_t api_key, int16_t version, const void *msg, client_cb cb,
                    void *arg);

/* Ready: connected and ApiVersions answered. */
bool client_ready(const client *c);
/* The newest version of api_key both we (the schema's codecs) and the peer
 * (its ApiVersions) support; -1 if none, or not ready. */
int16_t client_version(const client *c, int16_t api_key);
/* Why the last connection failed ("" if none did). */
const char *client_last_error(const client *c);

typedef struct client_stats {
    int64_t connect_attempts;   /* sockets opened */
    int64_t ready;              /* connections that reached ready */
    int64_t failures;           /* connections lost or failed */
    int32_t last_backoff_ms;    /* the wait before the latest reconnect */
    int16_t api_versions_version; /* the ApiVersions version the peer answered */
    int32_t backoffs_ms[16];    /* the first 16 reconnect waits, in order */
    int n_backoffs;
} client_stats;
void client_get_stats(const client *c, client_stats *out);

/* Cancel everything: each outstanding request's callback runs now, with
 * CLIENT_ERR_CLOSED; the socket closes; the memory is freed later on the
 * reactor thread. Safe inside a callback of this client. */
void client_close(client *c);

#endif
