/*
 * client.c - one outbound Kafka-protocol connection on a reactor (see
 * client.h; docs/architecture.md, "Outbound connections").
 *
 * States: BACKOFF (waiting to reconnect) -> CONNECTING (non-blocking
 * connect, connect_timeout_ms) -> HANDSHAKE (our ApiVersions v3 in flight;
 * on UNSUPPORTED_VERSION retried at the peer's newest, or v0, as Kafka's
 * NetworkClient does) -> READY. Any failure closes the socket and goes to
 * BACKOFF; CLOSED is final.
 *
 * Requests: client_send encodes the request header and body into one
 * frame and puts it on `pending`. In READY, up to max_in_flight frames
 * move to `inflight` and are written, each with a fresh correlation id, so
 * a request still pending when a connection fails is simply sent on the
 * next one (with fail_unsent_on_failure it fails instead, DISCONNECTED).
 * Responses come back in request order (Kafka answers a
 * connection's requests in order): a response must carry the correlation
 * id of the oldest request in flight, otherwise the connection is broken
 * and is closed. When a connection fails, every request in flight fails
 * with DISCONNECTED (it may have been processed: only the caller knows if
 * it is safe to retry). Each request has one deadline, request_timeout_ms
 * after client_send: a pending request past it fails with TIMED_OUT; an
 * in-flight one too, and then the connection is closed as Kafka does (a
 * peer that does not answer in time is dead to us). Every request is
 * unlinked from its list before its callback runs, so it is failed or
 * answered exactly once; callbacks may send, and may close the client.
 *
 * Reconnect backoff is Kafka's ExponentialBackoff(reconnect.backoff.ms, 2,
 * reconnect.backoff.max.ms, 0.2): after the n-th failure in a row (n >= 1)
 * wait min(max, base * 2^(n-1) * U(0.8, 1.2)), U from a splitmix64 PRNG
 * the caller seeds (tests and the simulator are deterministic). Reaching
 * READY resets n.
 *
 * Memory: a client is freed by a reactor_post from client_close, after the
 * current event (and any callback on the stack) has returned.
 */
#include "net/client.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "proto/codec.h"
#include "kafka_msgs.h"

#define CLIENT_SOFTWARE_NAME "gregor"
#define CLIENT_SOFTWARE_VERSION "0.1.0"
#define API_VERSIONS_NEWEST 3
#define READ_CHUNK 65536

enum cstate { ST_BACKOFF, ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_CLOSED };

typedef struct creq {
    struct creq *next;
    int16_t api_key, api_version;
    int32_t correlation_id;   /* -1 until written */
    int64_t deadline_ms;
    client_cb cb;
    void *arg;
    bool internal;            /* our ApiVersions handshake */
    uint8_t *frame;           /* size prefix, header, body */
    size_t frame_len;
} creq;

typedef struct rlist {
    creq *head, *tail;
    int n;
} rlist;

typedef struct peer_range {
    int16_t min, max;         /* max -1: not listed */
} peer_range;

struct client {
    reactor *r;
    char *host;
    int port;
    char *client_id;
    client_options o;
    enum cstate state;
    reactor_io io;            /* fd -1 when none */
    uint32_t io_events;
    reactor_timer timer;
    int64_t connect_deadline_ms, retry_at_ms;
    int failures_in_row;
    uint64_t prng;
    int32_t next_corr;
    rlist pending, inflight;
    int user_requests;        /* pending + inflight, not counting the handshake */
    uint8_t *wbuf;            /* bytes to write */
    size_t wlen, woff, wcap;
    uint8_t *rbuf;
    size_t rlen, rcap;
    int16_t av_version;       /* the ApiVersions version being tried */
    peer_range peer[128];     /* by api key, from the peer's ApiVersions */
    char last_error[256];
    client_stats stats;
};

const char *client_status_str(int status)
{
    switch (status) {
    case CLIENT_OK: return "ok";
    case CLIENT_ERR_DISCONNECTED: return "disconnected";
    case CLIENT_ERR_TIMED_OUT: return "timed out";
    case CLIENT_ERR_CLOSED: return "closed";
    case CLIENT_ERR_QUEUE_FULL: return "queue full";
    case CLIENT_ERR_UNSUPPORTED: return "unsupported version";
    default: return "unknown";
    }
}

void client_options_init(client_options *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 10000;
    o->request_timeout_ms = 30000;
    o->reconnect_backoff_ms = 50;
    o->reconnect_backoff_max_ms = 1000;
    o->max_in_flight = 5;
    o->max_queued = 1000;
    o->max_frame_bytes = 100 * 1024 * 1024;
    o->seed = 1;
}

/* ------------------------------------------------------------------ lists */

static void rl_push(rlist *l, creq *q)
{
    q->next = NULL;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

static void rl_push_front(rlist *l, creq *q)
{
    q->next = l->head;
    l->head = q;
    if (!l->tail)
        l->tail = q;
    l->n++;
}

static creq *rl_pop(rlist *l)
{
    creq *q = l->head;
    if (q) {
        l->head = q->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
        q->next = NULL;
    }
    return q;
}

static rlist rl_take(rlist *l)
{
    rlist all = *l;
    l->head = l->tail = NULL;
    l->n = 0;
    return all;
}

/* ------------------------------------------------------------------ misc */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Kafka's ExponentialBackoff.backoff(attempts), multiplier 2, jitter 0.2:
 * the term base * 2^attempts stops growing at max, the jitter applies to
 * it, and the result is capped at max again. */
static int32_t backoff_ms(client *c, int attempts)
{
    double base = c->o.reconnect_backoff_ms, max = c->o.reconnect_backoff_max_ms;
    if (base <= 0)
        return 0;
    double term = base;
    for (int i = 0; i < attempts && term < max; i++)
        term *= 2;
    if (term > max)
        term = max;
    double u = (double)(splitmix64(&c->prng) >> 11) / (double)(1ULL << 53); /* [0, 1) */
    double v = term * (0.8 + 0.4 * u);
    return v > max ? (int32_t)max : (int32_t)v;
}

static void creq_free(creq *q)
{
    if (q) {
        free(q->frame);
        free(q);
    }
}

static void set_error(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
}

/* Run q's callback (q already unlinked), then free q. */
static void complete(client *c, creq *q, int status, const uint8_t *body, size_t len,
                     const char *reason)
{
    if (!q->internal) {
        c->user_requests--;
        client_response resp = { status, q->api_key, q->api_version, q->correlation_id,
                                 body, len, status == CLIENT_OK ? NULL : reason };
        q->cb(c, &resp, q->arg);
    }
    creq_free(q);
}

static void fail_list(client *c, rlist *l, int status, const char *reason)
{
    creq *q;
    while ((q = rl_pop(l)))
        complete(c, q, status, NULL, 0, reason);
}

static void arm_timer(client *c);
static void start_connect(client *c);
static void flush_pending(client *c);
static void do_write(client *c);

/* ------------------------------------------------------- connection loss */

static void close_socket(client *c)
{
    if (c->io.fd >= 0) {
        reactor_io_del(c->r, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
    c->wlen = c->woff = 0;
    c->rlen = 0;
}

/* The connection failed (reason already in last_error): requests in flight
 * fail with DISCONNECTED (timed_out, if any, with TIMED_OUT), the rest stay
 * pending for the next connection, which waits out the backoff. */
static void connection_failed(client *c, creq *timed_out)
{
    bool was_ready = c->state == ST_READY;
    glog(GLOG_WARN, "net", "connection to %s:%d (client %s) %s: %s; reconnecting", c->host, c->port,
         c->client_id, was_ready ? "lost" : "failed", c->last_error);
    close_socket(c);
    c->stats.failures++;
    c->failures_in_row++;
    c->state = ST_BACKOFF;
    int32_t wait = backoff_ms(c, c->failures_in_row - 1);
    c->stats.last_backoff_ms = wait;
    if (c->stats.n_backoffs < (int)(sizeof(c->stats.backoffs_ms) / sizeof(c->stats.backoffs_ms[0])))
        c->stats.backoffs_ms[c->stats.n_backoffs++] = wait;
    c->retry_at_ms = clock_mono_ms() + wait;
    rlist lost = rl_take(&c->inflight);
    char reason[600];
    snprintf(reason, sizeof(reason), "connection to %s:%d: %s", c->host, c->port, c->last_error);
    if (timed_out) {
        complete(c, timed_out, CLIENT_ERR_TIMED_OUT, NULL, 0, reason);
        if (c->state == ST_CLOSED) {
            fail_list(c, &lost, CLIENT_ERR_CLOSED, "client closed");
            return;
        }
    }
    fail_list(c, &lost, CLIENT_ERR_DISCONNECTED, reason);
    if (c->state == ST_CLOSED)
        return;
    /* A handshake request left pending (never written) is dropped: the next
     * connection starts its own. */
    if (c->pending.head && c->pending.head->internal)
        creq_free(rl_pop(&c->pending));
    if (c->o.fail_unsent_on_failure && c->pending.head) {
        rlist unsent = rl_take(&c->pending);
        char why[700];
        snprintf(why, sizeof(why), "%s (not sent)", reason);
        fail_list(c, &unsent, CLIENT_ERR_DISCONNECTED, why);
        if (c->state == ST_CLOSED)
            return;
    }
    if (was_ready && c->o.on_state)
        c->o.on_state(c, false, c->o.state_arg);
    if (c->state != ST_CLOSED)
        arm_timer(c);
}

/* ------------------------------------------------------------------ frames */

static creq *make_request(client *c, int16_t key, int16_t ver, const uint8_t *body, size_t len)
{
    int16_t hv = kp_out_req_header_version(key, ver);
    if (hv < 0)
        return NULL;
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0);
    kp_write_int16(&w, key);
    kp_write_int16(&w, ver);
    kp_write_int32(&w, -1); /* correlation id: set when written */
    kp_write_string(&w, kp_str_c(c->client_id), false);
    if (hv >= 2)
        kp_write_uvarint(&w, 0); /* no tagged fields */
    kp_write_raw(&w, body, len);
    creq *q = calloc(1, sizeof(*q));
    if (w.err || !q || w.len - 4 > INT32_MAX) {
        kp_writer_deinit(&w);
        free(q);
        return NULL;
    }
    kp_writer_patch_int32(&w, 0, (int32_t)(w.len - 4));
    q->frame = malloc(w.len);
    if (!q->frame) {
        kp_writer_deinit(&w);
        free(q);
        return NULL;
    }
    memcpy(q->frame, w.buf, w.len);
    q->frame_len = w.len;
    kp_writer_deinit(&w);
    q->api_key = key;
    q->api_version = ver;
    q->correlation_id = -1;
    return q;
}

static void queue_handshake(client *c)
{
    kp_api_versions_req av;
    kp_api_versions_req_init(&av);
    av.client_software_name = kp_str_c(CLIENT_SOFTWARE_NAME);
    av.client_software_version = kp_str_c(CLIENT_SOFTWARE_VERSION);
    kp_writer w;
    kp_writer_init(&w);
    kp_api_versions_req_encode(&w, c->av_version, &av);
    creq *q = w.err ? NULL : make_request(c, KP_API_API_VERSIONS, c->av_version, w.buf, w.len);
    kp_writer_deinit(&w);
    if (!q) {
        set_error(c, "out of memory for ApiVersions");
        connection_failed(c, NULL);
        return;
    }
    q->internal = true;
    q->deadline_ms = clock_mono_ms() + c->o.request_timeout_ms;
    rl_push_front(&c->pending, q);
    flush_pending(c);
}

static int append_wbuf(client *c, const uint8_t *p, size_t n)
{
    if (c->woff > 0 && c->woff == c->wlen)
        c->wlen = c->woff = 0;
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + n)
            cap *= 2;
        uint8_t *b = realloc(c->wbuf, cap);
        if (!b)
            return -1;
        c->wbuf = b;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

static bool peer_supports(const client *c, int16_t key, int16_t ver)
{
    if (key < 0 || key >= (int)(sizeof(c->peer) / sizeof(c->peer[0])))
        return false;
    const peer_range *p = &c->peer[key];
    return p->max >= 0 && ver >= p->min && ver <= p->max;
}

/* Move pending requests to the wire while the window allows. */
static void flush_pending(client *c)
{
    bool wrote = false;
    while (c->pending.head && c->inflight.n < c->o.max_in_flight) {
        creq *q = c->pending.head;
        if (!q->internal && c->state != ST_READY)
            break;
        if (q->internal && c->state != ST_HANDSHAKE)
            break;
        rl_pop(&c->pending);
        if (!q->internal && !peer_supports(c, q->api_key, q->api_version)) {
            char why[160];
            const kp_api_info *api = kp_api_find(q->api_key);
            const peer_range *p = q->api_key >= 0 && q->api_key < 128 ? &c->peer[q->api_key] : NULL;
            if (p && p->max >= 0)
                snprintf(why, sizeof(why), "%s:%d serves %s v%d-v%d, not v%d", c->host, c->port,
                         api ? api->name : "?", p->min, p->max, q->api_version);
            else
                snprintf(why, sizeof(why), "%s:%d does not serve %s (key %d)", c->host, c->port,
                         api ? api->name : "?", q->api_key);
            complete(c, q, CLIENT_ERR_UNSUPPORTED, NULL, 0, why);
            if (c->state == ST_CLOSED)
                return;
            continue;
        }
        q->correlation_id = c->next_corr;
        c->next_corr = c->next_corr == INT32_MAX ? 0 : c->next_corr + 1;
        uint32_t corr = (uint32_t)q->correlation_id;
        q->frame[8] = (uint8_t)(corr >> 24);
        q->frame[9] = (uint8_t)(corr >> 16);
        q->frame[10] = (uint8_t)(corr >> 8);
        q->frame[11] = (uint8_t)corr;
        if (append_wbuf(c, q->frame, q->frame_len) != 0) {
            rl_push_front(&c->pending, q);
            set_error(c, "out of memory for the write buffer");
            connection_failed(c, NULL);
            return;
        }
        rl_push(&c->inflight, q);
        wrote = true;
    }
    if (wrote)
        do_write(c);
}

static void want_events(client *c, uint32_t ev)
{
    if (c->io.fd >= 0 && ev != c->io_events) {
        reactor_io_mod(c->r, &c->io, ev);
        c->io_events = ev;
    }
}

static void do_write(client *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->io.fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_events(c, EPOLLIN | EPOLLOUT);
            return;
        }
        set_error(c, "write: %s", n < 0 ? strerror(errno) : "no progress");
        connection_failed(c, NULL);
        return;
    }
    c->wlen = c->woff = 0;
    want_events(c, EPOLLIN);
}

/* ------------------------------------------------------------- responses */

static void handshake_done(client *c, creq *q, const uint8_t *body, size_t len)
{
    arena a;
    arena_init(&a, 1 << 20);
    kp_api_versions_resp resp;
    kp_reader rd;
    kp_reader_init(&rd, body, len, &a);
    int rc = kp_api_versions_resp_decode(&rd, q->api_version, &resp);
    if ((rc != 0 || kp_reader_left(&rd) != 0) && q->api_version != 0) {
        /* KIP-511: an ApiVersions version the peer does not know is
         * answered in v0's shape. */
        kp_reader_init(&rd, body, len, &a);
        rc = kp_api_versions_resp_decode(&rd, 0, &resp);
    }
    int16_t sent = q->api_version;
    creq_free(q);
    if (rc != 0) {
        arena_deinit(&a);
        set_error(c, "malformed ApiVersions v%d response (%zu bytes)", sent, len);
        connection_failed(c, NULL);
        return;
    }
    if (resp.error_code == KERR_UNSUPPORTED_VERSION && sent > 0) {
        int16_t next = 0;
        for (int32_t i = 0; i < resp.api_keys_n; i++)
            if (resp.api_keys[i].api_key == KP_API_API_VERSIONS)
                next = resp.api_keys[i].max_version < sent ? resp.api_keys[i].max_version : 0;
        if (next < 0 || next >= sent)
            next = 0;
        arena_deinit(&a);
        glog(GLOG_INFO, "net", "%s:%d does not serve ApiVersions v%d; retrying with v%d", c->host,
             c->port, sent, next);
        c->av_version = next;
        queue_handshake(c);
        return;
    }
    if (resp.error_code != 0) {
        set_error(c, "ApiVersions v%d answered %s", sent, kerr_name(resp.error_code));
        arena_deinit(&a);
        connection_failed(c, NULL);
        return;
    }
    for (size_t i = 0; i < sizeof(c->peer) / sizeof(c->peer[0]); i++)
        c->peer[i].min = c->peer[i].max = -1;
    for (int32_t i = 0; i < resp.api_keys_n; i++) {
        const kp_api_versions_resp_api_version *v = &resp.api_keys[i];
        if (v->api_key >= 0 && v->api_key < (int)(sizeof(c->peer) / sizeof(c->peer[0]))) {
            c->peer[v->api_key].min = v->min_version;
            c->peer[v->api_key].max = v->max_version;
        }
    }
    arena_deinit(&a);
    c->stats.api_versions_version = sent;
    c->stats.ready++;
    c->state = ST_READY;
    c->failures_in_row = 0;
    glog(GLOG_DEBUG, "net", "connection to %s:%d (client %s) ready (ApiVersions v%d)", c->host,
         c->port, c->client_id, sent);
    if (c->o.on_state) {
        c->o.on_state(c, true, c->o.state_arg);
        if (c->state != ST_READY)
            return;
    }
    flush_pending(c);
}

/* One complete response frame (without its size). */
static void on_frame(client *c, const uint8_t *p, size_t n)
{
    creq *q = c->inflight.head;
    int32_t corr = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    if (!q) {
        set_error(c, "response with correlation id %d but no request in flight", corr);
        connection_failed(c, NULL);
        return;
    }
    if (corr != q->correlation_id) {
        set_error(c, "response correlation id %d, expected %d (the oldest request in flight)",
                  corr, q->correlation_id);
        connection_failed(c, NULL);
        return;
    }
    kp_reader rd;
    kp_reader_init(&rd, p + 4, n - 4, NULL);
    if (kp_out_resp_header_version(q->api_key, q->api_version) >= 1) {
        kp_skip_tagged(&rd);
        if (rd.err) {
            set_error(c, "malformed response header (correlation id %d)", corr);
            connection_failed(c, NULL);
            return;
        }
    }
    rl_pop(&c->inflight);
    if (q->internal) {
        handshake_done(c, q, rd.pos, kp_reader_left(&rd));
        return;
    }
    complete(c, q, CLIENT_OK, rd.pos, kp_reader_left(&rd), NULL);
    if (c->state == ST_READY)
        flush_pending(c);
}

static void do_read(client *c)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        if (c->rcap - c->rlen < READ_CHUNK) {
            size_t cap = c->rcap ? c->rcap * 2 : 2 * READ_CHUNK;
            uint8_t *b = realloc(c->rbuf, cap);
            if (!b) {
                set_error(c, "out of memory for the read buffer");
                connection_failed(c, NULL);
                return;
            }
            c->rbuf = b;
            c->rcap = cap;
        }
        ssize_t n = recv(c->io.fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n == 0) {
            set_error(c, "connection closed by the peer");
            connection_failed(c, NULL);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            set_error(c, "read: %s", strerror(errno));
            connection_failed(c, NULL);
            return;
        }
        c->rlen += (size_t)n;
        size_t off = 0;
        while (c->rlen - off >= 4) {
            const uint8_t *p = c->rbuf + off;
            int32_t size = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                     (uint32_t)p[2] << 8 | p[3]);
            if (size < 4 || size > c->o.max_frame_bytes) {
                set_error(c, "bad response frame size %d (4 to %d): not a Kafka response", size,
                          c->o.max_frame_bytes);
                connection_failed(c, NULL);
                return;
            }
            if (c->rlen - off - 4 < (size_t)size)
                break;
            enum cstate before = c->state;
            on_frame(c, p + 4, (size_t)size);
            if (c->state != before && c->state != ST_READY)
                return; /* failed or closed: the buffer is gone */
            if (c->io.fd < 0)
                return;
            off += 4 + (size_t)size;
        }
        if (off > 0) {
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
        }
        /* A frame larger than the buffer: grow to fit it next round. */
        if (c->rlen >= 4) {
            uint32_t want = ((uint32_t)c->rbuf[0] << 24 | (uint32_t)c->rbuf[1] << 16 |
                             (uint32_t)c->rbuf[2] << 8 | c->rbuf[3]) + 4;
            if (want > c->rcap) {
                uint8_t *b = realloc(c->rbuf, want + READ_CHUNK);
                if (!b) {
                    set_error(c, "out of memory for a %u-byte response", want);
                    connection_failed(c, NULL);
                    return;
                }
                c->rbuf = b;
                c->rcap = want + READ_CHUNK;
            }
        }
    }
}

/* -------------------------------------------------------------- the socket */

static void on_event(reactor *r, reactor_io *io, uint32_t events)
{
    client *c = (client *)((char *)io - offsetof(client, io));
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            set_error(c, "connect: %s", strerror(err ? err : ECONNREFUSED));
            connection_failed(c, NULL);
            return;
        }
        c->state = ST_HANDSHAKE;
        want_events(c, EPOLLIN);
        c->av_version = API_VERSIONS_NEWEST;
        queue_handshake(c);
        arm_timer(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        do_read(c);
        if (c->io.fd < 0 || c->state == ST_CLOSED)
            return;
    }
    if (events & EPOLLOUT)
        do_write(c);
    if (c->state != ST_CLOSED)
        arm_timer(c);
}

static void start_connect(client *c)
{
    c->stats.connect_attempts++;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->port);
    int gai = getaddrinfo(c->host, port, &hints, &res);
    if (gai != 0 || !res) {
        set_error(c, "cannot resolve %s: %s", c->host, gai_strerror(gai));
        c->state = ST_CONNECTING;
        connection_failed(c, NULL);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        set_error(c, "socket: %s", strerror(errno));
        c->state = ST_CONNECTING;
        connection_failed(c, NULL);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    int err = errno;
    freeaddrinfo(res);
    c->io.fd = fd;
    c->state = ST_CONNECTING;
    c->connect_deadline_ms = clock_mono_ms() + c->o.connect_timeout_ms;
    if (rc != 0 && err != EINPROGRESS) {
        c->io.fd = -1;
        close(fd);
        set_error(c, "connect: %s", strerror(err));
        connection_failed(c, NULL);
        return;
    }
    c->io_events = EPOLLOUT;
    if (reactor_io_add(c->r, &c->io, EPOLLOUT) != 0) {
        c->io.fd = -1;
        close(fd);
        set_error(c, "epoll: %s", strerror(errno));
        connection_failed(c, NULL);
        return;
    }
    arm_timer(c);
}

/* ------------------------------------------------------------------ timers */

static void arm_timer(client *c)
{
    if (c->state == ST_CLOSED)
        return;
    int64_t at = INT64_MAX;
    if (c->state == ST_BACKOFF)
        at = c->retry_at_ms;
    else if (c->state == ST_CONNECTING)
        at = c->connect_deadline_ms;
    for (creq *q = c->pending.head; q; q = q->next)
        if (q->deadline_ms < at)
            at = q->deadline_ms;
    for (creq *q = c->inflight.head; q; q = q->next)
        if (q->deadline_ms < at)
            at = q->deadline_ms;
    if (at == INT64_MAX)
        reactor_timer_cancel(c->r, &c->timer);
    else
        reactor_timer_arm(c->r, &c->timer, at);
}

static void on_timer(reactor *r, void *arg)
{
    client *c = arg;
    int64_t now = clock_mono_ms();
    /* Requests in flight past their deadline: the connection is dead to us. */
    for (creq *q = c->inflight.head, *prev = NULL; q; prev = q, q = q->next) {
        if (q->deadline_ms > now)
            continue;
        if (prev)
            prev->next = q->next;
        else
            c->inflight.head = q->next;
        if (c->inflight.tail == q)
            c->inflight.tail = prev;
        c->inflight.n--;
        q->next = NULL;
        set_error(c, "%s v%d (correlation id %d) got no response within %d ms",
                  q->internal ? "ApiVersions" : (kp_api_find(q->api_key) ? kp_api_find(q->api_key)->name : "?"),
                  q->api_version, q->correlation_id, c->o.request_timeout_ms);
        connection_failed(c, q);
        if (c->state == ST_CLOSED)
            return;
        break;
    }
    /* Requests that never left: fail them, the connection may be fine. */
    for (;;) {
        creq *q = c->pending.head, *prev = NULL;
        while (q && q->deadline_ms > now) {
            prev = q;
            q = q->next;
        }
        if (!q)
            break;
        if (prev)
            prev->next = q->next;
        else
            c->pending.head = q->next;
        if (c->pending.tail == q)
            c->pending.tail = prev;
        c->pending.n--;
        q->next = NULL;
        char why[512];
        snprintf(why, sizeof(why), "not sent within %d ms: %s:%d %s", c->o.request_timeout_ms,
                 c->host, c->port,
                 c->state == ST_READY ? "has too many requests in flight"
                 : c->last_error[0]   ? c->last_error
                                      : "is not connected yet");
        complete(c, q, CLIENT_ERR_TIMED_OUT, NULL, 0, why);
        if (c->state == ST_CLOSED)
            return;
    }
    if (c->state == ST_CONNECTING && now >= c->connect_deadline_ms) {
        set_error(c, "connect timed out after %d ms", c->o.connect_timeout_ms);
        connection_failed(c, NULL);
        if (c->state == ST_CLOSED)
            return;
    }
    if (c->state == ST_BACKOFF && now >= c->retry_at_ms)
        start_connect(c);
    if (c->state != ST_CLOSED)
        arm_timer(c);
}

/* ------------------------------------------------------------------- API */

static void on_start(reactor *r, void *arg)
{
    client *c = arg;
    if (c->state == ST_BACKOFF && c->stats.connect_attempts == 0)
        start_connect(c);
}

static void on_free(reactor *r, void *arg)
{
    client *c = arg;
    free(c->wbuf);
    free(c->rbuf);
    free(c->host);
    free(c->client_id);
    free(c);
}

client *client_new(reactor *r, const char *host, int port, const char *client_id,
                   const client_options *o)
{
    client_options def;
    if (!o) {
        client_options_init(&def);
        o = &def;
    }
    if (!r || !host || port <= 0 || port > 65535 || o->connect_timeout_ms <= 0 ||
        o->request_timeout_ms <= 0 || o->reconnect_backoff_ms < 0 ||
        o->reconnect_backoff_max_ms < o->reconnect_backoff_ms || o->max_in_flight < 1 ||
        o->max_queued < 1 || o->max_frame_bytes < 8)
        return NULL;
    client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->host = strdup(host);
    c->client_id = strdup(client_id ? client_id : "gregor");
    if (!c->host || !c->client_id) {
        on_free(r, c);
        return NULL;
    }
    c->r = r;
    c->port = port;
    c->o = *o;
    c->io.fd = -1;
    c->io.on_event = on_event;
    c->state = ST_BACKOFF;
    c->retry_at_ms = INT64_MAX; /* on_start makes the first attempt */
    c->prng = o->seed;
    c->stats.api_versions_version = -1;
    for (size_t i = 0; i < sizeof(c->peer) / sizeof(c->peer[0]); i++)
        c->peer[i].min = c->peer[i].max = -1;
    reactor_timer_init(&c->timer, on_timer, c);
    reactor_post(r, on_start, c);
    return c;
}

int client_send(client *c, int16_t api_key, int16_t version, const uint8_t *body, size_t len,
                client_cb cb, void *arg)
{
    assert(reactor_current() == c->r);
    if (c->state == ST_CLOSED)
        return CLIENT_ERR_CLOSED;
    if (c->user_requests >= c->o.max_queued)
        return CLIENT_ERR_QUEUE_FULL;
    creq *q = make_request(c, api_key, version, body, len);
    if (!q)
        return CLIENT_ERR_UNSUPPORTED;
    q->cb = cb;
    q->arg = arg;
    q->deadline_ms = clock_mono_ms() + c->o.request_timeout_ms;
    rl_push(&c->pending, q);
    c->user_requests++;
    if (c->state == ST_READY)
        flush_pending(c);
    if (c->state != ST_CLOSED)
        arm_timer(c);
    return 0;
}

int client_send_msg(client *c, int16_t api_key, int16_t version, const void *msg, client_cb cb,
                    void *arg)
{
    const kp_api_info *api = kp_api_find(api_key);
    if (!api || version < api->codec_min_version || version > api->codec_max_version)
        return CLIENT_ERR_UNSUPPORTED;
    kp_writer w;
    kp_writer_init(&w);
    api->req_encode(&w, version, msg);
    int rc = w.err || w.nchunks ? CLIENT_ERR_UNSUPPORTED
                                : client_send(c, api_key, version, w.buf, w.len, cb, arg);
    kp_writer_deinit(&w);
    return rc;
}

bool client_ready(const client *c)
{
    return c->state == ST_READY;
}

int16_t client_version(const client *c, int16_t api_key)
{
    const kp_api_info *api = kp_api_find(api_key);
    if (c->state != ST_READY || !api || api_key >= (int)(sizeof(c->peer) / sizeof(c->peer[0])))
        return -1;
    const peer_range *p = &c->peer[api_key];
    if (p->max < 0)
        return -1;
    int16_t hi = p->max < api->codec_max_version ? p->max : api->codec_max_version;
    int16_t lo = p->min > api->codec_min_version ? p->min : api->codec_min_version;
    return hi >= lo ? hi : -1;
}

const char *client_last_error(const client *c)
{
    return c->last_error;
}

void client_get_stats(const client *c, client_stats *out)
{
    *out = c->stats;
}

void client_close(client *c)
{
    if (!c || c->state == ST_CLOSED)
        return;
    assert(reactor_current() == c->r);
    c->state = ST_CLOSED;
    close_socket(c);
    reactor_timer_cancel(c->r, &c->timer);
    rlist inflight = rl_take(&c->inflight);
    rlist pending = rl_take(&c->pending);
    fail_list(c, &inflight, CLIENT_ERR_CLOSED, "client closed");
    fail_list(c, &pending, CLIENT_ERR_CLOSED, "client closed");
    reactor_post(c->r, on_free, c);
}
