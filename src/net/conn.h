/*
 * conn.h - client connections: framing, the in-order request pipeline and
 * the zero-copy write path.
 *
 * A connection reads frames (int32 size + body), turns each into a req and
 * hands it to the request handler. Several requests may be in flight; their
 * responses leave in request order: a completed request waits behind any
 * earlier one still in progress (a long-poll fetch, an acks=all produce
 * waiting for fsync). Responses are sent with writev() for memory and
 * sendfile() for file ranges of segments.
 *
 * Lifetime: a conn is referenced by its socket and by each live req; it is
 * freed when the socket is closed and the last req is gone. A req is owned
 * by its conn's queue until its response is sent (or the conn is closed and
 * the req's handler has completed it).
 *
 * Thread: everything here runs on the reactor thread that owns the conn.
 */
#ifndef GREGOR_NET_CONN_H
#define GREGOR_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "net/connquota.h"
#include "net/reactor.h"
#include "proto/codec.h"
#include "kafka_msgs.h"

typedef struct conn conn;
typedef struct req req;
typedef struct listener listener;

struct req {
    conn *conn;            /* borrowed; kept alive by this req's reference */
    req *next;             /* next in the conn's response order */
    uint8_t *frame;        /* owned: the request bytes after the size prefix */
    int32_t frame_len;
    arena arena;           /* decoded structures and handler state */
    kp_req_header hdr;
    kp_reader body;        /* positioned at the request body */
    kp_writer out;         /* response frame: size, header, body */
    int64_t recv_ms;       /* monotonic time of arrival */
    bool done;             /* response complete (or none to send) */
    bool no_response;      /* acks=0 produce */
    void *op;              /* the handler's delayed-operation state, if parked */
    void (*on_free)(req *rq); /* releases what the response references (segments) */
    int32_t seq;           /* position in the connection's request order */
    const uint8_t *body_start; /* where the body begins (set by the dispatcher: forwarding resends it) */
    bool via_controller;   /* arrived on a controller listener */
};

/* What a listener needs from the layer above. */
typedef struct conn_handler {
    /* A complete request frame; hdr is decoded. The handler must eventually
     * call conn_req_complete(req) (now or later, on the conn's reactor). */
    void (*on_request)(void *ctx, req *rq);
    /* Check a header: 0 to go on; -1 to close the connection (the handler
     * logs why). */
    int (*check_header)(void *ctx, conn *c, const kp_req_header *hdr);
    void *ctx;
    /* A connection that named its peer node (conn_set_peer_node) closed; may
     * be NULL. On the conn's reactor. */
    void (*on_close)(void *ctx, conn *c);
} conn_handler;

typedef struct conn_limits {
    int32_t request_bytes_max;     /* socket.request.max.bytes */
    int32_t inflight_max;          /* queued.max.requests, per connection */
    int64_t queued_bytes_max;      /* queued.max.request.bytes, all connections; -1 none */
    int64_t idle_ms_max;           /* connections.max.idle.ms */
    int32_t connections_max;       /* max.connections */
    connquota *quota;              /* max.connections.per.ip; borrowed, shared; may be NULL */
    int32_t sndbuf, rcvbuf;        /* -1: OS default */
} conn_limits;

/*
 * Listen on host:port (empty host: all interfaces) for reactor r; with
 * share, use share's socket instead (the reactors of one broker share one
 * listening socket, so another process cannot bind the same port).
 */
listener *listener_new(reactor *r, const listener *share, const char *host, int port,
                       const conn_limits *lim, const conn_handler *h, char *err, size_t errlen);
/* Start accepting: run on the listener's reactor (post it there). */
void listener_start(reactor *r, void *arg);
/* Stop accepting (reactor thread of the listener). */
void listener_close(listener *l);
/* Close every connection of this listener at once (shutdown). */
void listener_close_conns(listener *l);
/* Free a closed listener whose reactor has stopped. */
void listener_free(listener *l);
/* The bound port (useful with port 0). */
int listener_port(const listener *l);

/* Mark rq complete; flushes responses that are now at the head. */
void conn_req_complete(req *rq);
/* Begin a response: writes the size placeholder and the response header. */
void conn_resp_begin(req *rq);
/* Close the connection after the responses already complete are sent (or at
 * once if hard). reason is logged. */
void conn_close(conn *c, bool hard, const char *reason);
const char *conn_peer(const conn *c);
reactor *conn_reactor(const conn *c);
/* A small integer the layer above keeps per connection (the broker: which
 * client software the connection named in ApiVersions); 0 until set. */
void conn_set_tag(conn *c, int tag);
int conn_tag(const conn *c);
bool conn_is_closed(const conn *c);
/* The node at the other end (a broker's heartbeats name it); -1 unknown. */
void conn_set_peer_node(conn *c, int32_t node);
int32_t conn_peer_node(const conn *c);

/* Global counters (all reactors). */
int64_t conn_count_open(const listener *l);
int64_t conn_inflight_requests(const listener *l);

#endif
