/*
 * conn.c - see conn.h.
 *
 * Read path: bytes land in a 64 KiB staging buffer; every complete frame in
 * it is copied once into its own allocation (the request owns its frame). A
 * frame larger than what the staging buffer holds is read straight into its
 * own allocation instead, so large produce requests are not copied at all.
 *
 * Write path: the head request's response is a memory buffer with file
 * ranges spliced in (kp_writer chunks). Memory goes out with writev(),
 * gathering the responses of several completed requests into one call;
 * file ranges go out with sendfile().
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#define CONN_INBUF_BYTES (64 * 1024)
/* Descriptors kept free for the broker's own files (checkpoints, segment
 * rolls, index lookups, the metadata log): a connection whose descriptor
 * would eat into them is closed at once. */
#define CONN_FDS_RESERVED 64
/* How long a listener stops accepting after accept() ran out of
 * descriptors or memory: the kernel keeps the pending connections in the
 * backlog meanwhile, and the reactor does not spin on a readable socket. */
#define CONN_ACCEPT_BACKOFF_MS 100
#define REQ_ARENA_BYTES_MAX (64u << 20)

/* Counters shared by the listeners of one server (the first listener
 * makes them, the ones sharing its socket borrow them): max.connections and
 * queued.max.request.bytes are limits of the whole server, not a process. */
typedef struct conn_counters {
    atomic_llong conns_open;
    atomic_llong inflight;
    atomic_llong queued_bytes;
    atomic_int refs;
} conn_counters;

struct listener {
    reactor_io io;
    reactor *r;
    conn_limits lim;
    conn_handler h;
    int port;
    int fd_ceiling;           /* accepted descriptors >= this are closed at once */
    bool accept_paused;       /* out of descriptors: io removed, accept_timer armed */
    reactor_timer idle_timer;
    reactor_timer accept_timer;
    conn *conns;              /* this listener's open connections */
    conn_counters *cnt;       /* shared with the listeners of the same server */
};

struct conn {
    reactor_io io;
    listener *lst;
    reactor *r;
    int refs;                 /* socket + live reqs */
    char peer[64];
    uint8_t *inbuf;
    size_t in_len;
    uint8_t *big;             /* frame being read directly (size known) */
    int32_t big_len, big_have;
    req *head, *tail;
    int inflight;
    int32_t next_seq;
    size_t send_off;          /* bytes of head's response already sent */
    uint32_t events;          /* current epoll interest */
    bool closed;              /* socket closed */
    bool close_after_flush;
    bool paused;              /* not reading: limits reached */
    bool parsing;             /* inside conn_parse_inbuf (no re-entry) */
    int64_t last_active_ms;
    connquota_addr qaddr;     /* the peer address as max.connections.per.ip counts it */
    bool quota_taken;         /* holds a slot of lim.quota for qaddr */
    int tag;                  /* conn_set_tag: the broker's client-software index */
    bool has_peer_node;       /* conn_set_peer_node was called */
    int32_t peer_node;
    conn *prev, *next;        /* listener's list */
};


int64_t conn_count_open(const listener *l) { return atomic_load(&l->cnt->conns_open); }
int64_t conn_inflight_requests(const listener *l) { return atomic_load(&l->cnt->inflight); }
const char *conn_peer(const conn *c) { return c->peer; }
reactor *conn_reactor(const conn *c) { return c->r; }
bool conn_is_closed(const conn *c) { return c->closed; }
void conn_set_tag(conn *c, int tag) { c->tag = tag; }
int conn_tag(const conn *c) { return c->tag; }
void conn_set_peer_node(conn *c, int32_t node) { c->has_peer_node = true, c->peer_node = node; }
int32_t conn_peer_node(const conn *c) { return c->has_peer_node ? c->peer_node : -1; }
int listener_port(const listener *l) { return l->port; }

typedef struct conn_accept_slot {
    connquota_addr addr;
    bool taken;               /* a max.connections.per.ip slot is held */
} conn_accept_slot;

static void conn_on_event(reactor *r, reactor_io *io, uint32_t events);
static void conn_send(conn *c);
static bool conn_parse_inbuf(conn *c);
static bool over_global_bytes(const conn *c);

static void conn_unref(conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    assert(c->closed && c->head == NULL);
    free(c->inbuf);
    free(c->big);
    free(c);
}

static void conn_set_events(conn *c)
{
    if (c->closed)
        return;
    uint32_t ev = 0;
    if (!c->paused && !c->close_after_flush)
        ev |= EPOLLIN;
    if (c->head && c->head->done)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        c->events = ev;
        reactor_io_mod(c->r, &c->io, ev);
    }
}

static void req_free(req *rq)
{
    if (rq->on_free)
        rq->on_free(rq);
    conn_counters *cnt = rq->conn->lst->cnt;
    atomic_fetch_sub(&cnt->queued_bytes, rq->frame_len);
    atomic_fetch_sub(&cnt->inflight, 1);
    kp_writer_deinit(&rq->out);
    arena_deinit(&rq->arena);
    free(rq->frame);
    free(rq);
}

/* Unlink and free rq, which must be done. */
static void conn_req_drop(conn *c, req *rq)
{
    req **pp = &c->head, *prev = NULL;
    while (*pp && *pp != rq) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    assert(*pp == rq);
    *pp = rq->next;
    if (c->tail == rq)
        c->tail = prev;
    c->inflight--;
    req_free(rq);
    conn_unref(c);
}

void conn_close(conn *c, bool hard, const char *reason)
{
    if (c->closed)
        return;
    if (!hard) {
        c->close_after_flush = true;
        glog(GLOG_DEBUG, "net", "conn %s: closing after pending responses: %s", c->peer, reason);
        conn_set_events(c);
        if (!c->head)
            conn_close(c, true, reason);
        return;
    }
    static glog_limit closing = GLOG_LIMIT_INIT;
    if (reason)
        glog_limited(&closing, GLOG_INFO, "net", "closing connection from %s: %s", c->peer, reason);
    reactor_io_del(c->r, &c->io);
    close(c->io.fd);
    c->io.fd = -1;
    c->closed = true;
    if (c->quota_taken)
        connquota_release(c->lst->lim.quota, &c->qaddr);
    c->quota_taken = false;
    atomic_fetch_sub(&c->lst->cnt->conns_open, 1);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->lst->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->has_peer_node && c->lst->h.on_close)
        c->lst->h.on_close(c->lst->h.ctx, c);
    /* Free what is complete; the rest is freed as it completes. */
    req *rq = c->head;
    c->refs++;
    while (rq) {
        req *next = rq->next;
        if (rq->done)
            conn_req_drop(c, rq);
        rq = next;
    }
    conn_unref(c); /* the extra ref above */
    conn_unref(c); /* the socket's */
}

void conn_resp_begin(req *rq)
{
    kp_write_int32(&rq->out, 0); /* size, patched in conn_req_complete */
    int16_t hv = kp_resp_header_version(rq->hdr.api_key, rq->hdr.api_version);
    kp_resp_header_encode(&rq->out, hv, rq->hdr.correlation_id);
}

void conn_req_complete(req *rq)
{
    conn *c = rq->conn;
    assert(!rq->done);
    rq->done = true;
    if (!rq->no_response) {
        assert(rq->out.len >= 4);
        kp_writer_patch_int32(&rq->out, 0, (int32_t)(kp_writer_size(&rq->out) - 4));
        if (rq->out.err) {
            glog(GLOG_ERROR, "net", "conn %s: out of memory encoding response to correlation id %d",
                 c->peer, rq->hdr.correlation_id);
            conn_close(c, true, "response encoding failed");
        }
    }
    if (c->closed) {
        conn_req_drop(c, rq);
        return;
    }
    if (c->head == rq)
        conn_send(c);
}

/* ---- write path ---- */

/* Build iovecs for done, file-less responses starting at the head. Returns
 * the iovec count; *file_next is set when the head's next piece is a file. */
static int gather_iov(conn *c, struct iovec *iov, int iov_max)
{
    int n = 0;
    size_t skip = c->send_off;
    for (req *rq = c->head; rq && rq->done && n < iov_max; rq = rq->next) {
        if (rq->no_response)
            continue;
        if (rq->out.nchunks > 0) {
            if (rq != c->head)
                break;
            /* memory up to the first unsent chunk */
            size_t mem_sent = 0, pos = 0;
            for (int i = 0; i < rq->out.nchunks; i++) {
                kp_file_chunk *ch = &rq->out.chunks[i];
                size_t mem_here = ch->mem_off - mem_sent;
                if (skip < pos + mem_here) {
                    iov[n].iov_base = rq->out.buf + mem_sent + (skip - pos);
                    iov[n].iov_len = mem_here - (skip - pos);
                    return n + 1;
                }
                pos += mem_here;
                if (skip < pos + (size_t)ch->len)
                    return n; /* a file piece is next */
                pos += (size_t)ch->len;
                mem_sent = ch->mem_off;
            }
            if (skip < pos + (rq->out.len - mem_sent)) {
                iov[n].iov_base = rq->out.buf + mem_sent + (skip - pos);
                iov[n].iov_len = rq->out.len - mem_sent - (skip - pos);
                n++;
            }
            break; /* keep file-bearing responses alone */
        }
        iov[n].iov_base = rq->out.buf + skip;
        iov[n].iov_len = rq->out.len - skip;
        n++;
        skip = 0;
    }
    return n;
}

/* The file chunk at the head's send_off, if the next piece is a file. */
static kp_file_chunk *head_file_piece(conn *c, int64_t *chunk_off)
{
    req *rq = c->head;
    size_t pos = 0, mem_sent = 0;
    for (int i = 0; i < rq->out.nchunks; i++) {
        kp_file_chunk *ch = &rq->out.chunks[i];
        pos += ch->mem_off - mem_sent;
        mem_sent = ch->mem_off;
        if (c->send_off >= pos && c->send_off < pos + (size_t)ch->len) {
            *chunk_off = (int64_t)(c->send_off - pos);
            return ch;
        }
        pos += (size_t)ch->len;
    }
    return NULL;
}

/* Account n sent bytes: pop responses that are fully sent. */
static void advance_sent(conn *c, size_t n)
{
    while (n > 0 || (c->head && c->head->done && c->head->no_response)) {
        req *rq = c->head;
        if (!rq || !rq->done)
            break;
        size_t total = rq->no_response ? 0 : (size_t)kp_writer_size(&rq->out);
        size_t left = total - c->send_off;
        if (n < left) {
            c->send_off += n;
            return;
        }
        n -= left;
        c->send_off = 0;
        conn_req_drop(c, rq);
    }
}

static void conn_send(conn *c)
{
    while (!c->closed && c->head && c->head->done) {
        if (c->head->no_response) {
            advance_sent(c, 0);
            continue;
        }
        int64_t chunk_off;
        kp_file_chunk *ch = head_file_piece(c, &chunk_off);
        ssize_t w;
        if (ch) {
            off_t pos = ch->pos + chunk_off;
            w = sendfile(c->io.fd, ch->fd, &pos, (size_t)(ch->len - chunk_off));
            if (w == 0) {
                /* The file shrank under us (truncation): the response would be
                 * short, so the connection cannot continue. */
                conn_close(c, true, "segment file shorter than the fetch response promised");
                return;
            }
        } else {
            struct iovec iov[64];
            int n = gather_iov(c, iov, 64);
            if (n == 0) {
                advance_sent(c, 0);
                continue;
            }
            w = writev(c->io.fd, iov, n);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            char why[128];
            snprintf(why, sizeof(why), "write failed: %s", strerror(errno));
            conn_close(c, true, errno == EPIPE || errno == ECONNRESET ? NULL : why);
            return;
        }
        c->last_active_ms = clock_mono_ms();
        advance_sent(c, (size_t)w);
    }
    if (c->closed)
        return;
    if (c->close_after_flush && !c->head) {
        conn_close(c, true, NULL);
        return;
    }
    if (c->paused && c->inflight < c->lst->lim.inflight_max && !over_global_bytes(c)) {
        c->paused = false;
        /* Frames already buffered get no new EPOLLIN: parse them now. */
        if (!c->parsing && c->in_len > 0 && !conn_parse_inbuf(c))
            return;
    }
    conn_set_events(c);
}

/* ---- read path ---- */

static bool over_global_bytes(const conn *c)
{
    int64_t max = c->lst->lim.queued_bytes_max;
    return max >= 0 && atomic_load(&c->lst->cnt->queued_bytes) > max;
}

/* Take ownership of frame and dispatch it. Returns false if the conn closed. */
static bool conn_dispatch(conn *c, uint8_t *frame, int32_t len)
{
    req *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        free(frame);
        conn_close(c, true, "out of memory for a request");
        return false;
    }
    rq->conn = c;
    rq->frame = frame;
    rq->frame_len = len;
    rq->recv_ms = clock_mono_ms();
    rq->seq = c->next_seq++;
    arena_init(&rq->arena, REQ_ARENA_BYTES_MAX);
    kp_writer_init(&rq->out);
    kp_reader_init(&rq->body, frame, (size_t)len, &rq->arena);
    atomic_fetch_add(&c->lst->cnt->queued_bytes, len);
    atomic_fetch_add(&c->lst->cnt->inflight, 1);
    c->refs++;
    if (c->tail)
        c->tail->next = rq;
    else
        c->head = rq;
    c->tail = rq;
    c->inflight++;
    if (kp_req_header_decode(&rq->body, &rq->hdr) != 0) {
        rq->done = true;
        rq->no_response = true;
        conn_close(c, true, "malformed request header");
        return false;
    }
    if (c->lst->h.check_header(c->lst->h.ctx, c, &rq->hdr) != 0) {
        rq->done = true;
        rq->no_response = true;
        conn_close(c, true, NULL);
        return false;
    }
    c->lst->h.on_request(c->lst->h.ctx, rq);
    return !c->closed;
}

static int32_t frame_size(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Check a size prefix; closes the connection and returns false when bad. */
static bool frame_size_ok(conn *c, int32_t size)
{
    char why[160];
    if (size < 8) {
        snprintf(why, sizeof(why), "invalid frame size %d", size);
        conn_close(c, true, why);
        return false;
    }
    if (size > c->lst->lim.request_bytes_max) {
        snprintf(why, sizeof(why), "frame size %d exceeds socket.request.max.bytes (%d)",
                 size, c->lst->lim.request_bytes_max);
        conn_close(c, true, why);
        return false;
    }
    return true;
}

/* Parse whole frames out of inbuf. Returns false if the conn closed. */
static bool conn_parse_inbuf_inner(conn *c);
static bool conn_parse_inbuf(conn *c)
{
    c->parsing = true;
    c->refs++;
    bool ok = conn_parse_inbuf_inner(c);
    c->parsing = false;
    bool closed = c->closed;
    conn_unref(c);
    return ok && !closed;
}

static bool conn_parse_inbuf_inner(conn *c)
{
    size_t off = 0;
    while (c->in_len - off >= 4 && !c->paused) {
        int32_t size = frame_size(c->inbuf + off);
        if (!frame_size_ok(c, size))
            return false;
        uint8_t *frame = malloc((size_t)size);
        if (!frame) {
            conn_close(c, true, "out of memory for a request frame");
            return false;
        }
        size_t have = c->in_len - off - 4;
        if (have < (size_t)size) {
            /* read the rest straight into the frame */
            memcpy(frame, c->inbuf + off + 4, have);
            c->big = frame;
            c->big_len = size;
            c->big_have = (int32_t)have;
            off = c->in_len;
            break;
        }
        memcpy(frame, c->inbuf + off + 4, (size_t)size);
        off += 4 + (size_t)size;
        if (!conn_dispatch(c, frame, size))
            return false;
        if (c->inflight >= c->lst->lim.inflight_max || over_global_bytes(c))
            c->paused = true;
    }
    memmove(c->inbuf, c->inbuf + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

static void conn_read(conn *c)
{
    ssize_t n;
    if (c->big) {
        n = read(c->io.fd, c->big + c->big_have, (size_t)(c->big_len - c->big_have));
    } else {
        n = read(c->io.fd, c->inbuf + c->in_len, CONN_INBUF_BYTES - c->in_len);
    }
    if (n == 0) {
        conn_close(c, true, NULL);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == EWOULDBLOCK)
            return;
        char why[128];
        snprintf(why, sizeof(why), "read failed: %s", strerror(errno));
        conn_close(c, true, errno == ECONNRESET ? NULL : why);
        return;
    }
    c->last_active_ms = clock_mono_ms();
    if (c->big) {
        c->big_have += (int32_t)n;
        if (c->big_have < c->big_len)
            return;
        uint8_t *frame = c->big;
        int32_t len = c->big_len;
        c->big = NULL;
        if (!conn_dispatch(c, frame, len))
            return;
        if (c->inflight >= c->lst->lim.inflight_max || over_global_bytes(c))
            c->paused = true;
    } else {
        c->in_len += (size_t)n;
    }
    if (!conn_parse_inbuf(c))
        return;
    conn_set_events(c);
}

static void conn_on_event(reactor *r, reactor_io *io, uint32_t events)
{
    conn *c = (conn *)io;
    (void)r;
    c->refs++;
    if (events & (EPOLLERR | EPOLLHUP)) {
        if (!(events & EPOLLIN))
            conn_close(c, true, NULL);
    }
    if (!c->closed && (events & EPOLLOUT))
        conn_send(c);
    if (!c->closed && (events & EPOLLIN) && !c->paused)
        conn_read(c);
    if (!c->closed && c->paused && c->inflight < c->lst->lim.inflight_max && !over_global_bytes(c)) {
        c->paused = false;
        if (!conn_parse_inbuf(c)) {
            conn_unref(c);
            return;
        }
        conn_set_events(c);
    }
    conn_unref(c);
}

/* ---- accept ---- */

static void listener_resume(reactor *r, void *arg)
{
    listener *l = arg;
    if (!l->accept_paused || l->io.fd < 0)
        return;
    l->accept_paused = false;
    if (reactor_io_add(r, &l->io, EPOLLIN | EPOLLEXCLUSIVE) != 0)
        glog(GLOG_ERROR, "net", "cannot watch listener again: %s", strerror(errno));
}

/* accept() failed for lack of descriptors or memory: stop polling the
 * listening socket for CONN_ACCEPT_BACKOFF_MS instead of waking at once on
 * the same readable socket (the connections wait in the backlog). */
static void listener_pause(reactor *r, listener *l, int err)
{
    static glog_limit out_of_fds = GLOG_LIMIT_INIT;
    glog_limited(&out_of_fds, GLOG_WARN, "net",
                 "cannot accept connections on port %d: %s (%lld open); pausing accepts for %d ms",
                 l->port, strerror(err), (long long)atomic_load(&l->cnt->conns_open),
                 CONN_ACCEPT_BACKOFF_MS);
    if (l->accept_paused)
        return;
    l->accept_paused = true;
    reactor_io_del(r, &l->io);
    reactor_timer_arm(r, &l->accept_timer, clock_mono_ms() + CONN_ACCEPT_BACKOFF_MS);
}

/* At max.connections: stop polling the listening socket; the accept timer
 * looks again in CONN_ACCEPT_BACKOFF_MS. */
static void listener_wait_for_slot(reactor *r, listener *l)
{
    static glog_limit full = GLOG_LIMIT_INIT;
    glog_limited(&full, GLOG_WARN, "net",
                 "max.connections (%d) reached: new connections wait until one closes",
                 l->lim.connections_max);
    if (l->accept_paused)
        return;
    l->accept_paused = true;
    reactor_io_del(r, &l->io);
    reactor_timer_arm(r, &l->accept_timer, clock_mono_ms() + CONN_ACCEPT_BACKOFF_MS);
}

/* Whether a just-accepted connection may stay; logs (rate-limited) why not. */
static bool accept_allowed(listener *l, int fd, const char *host, const char *serv,
                           const struct sockaddr *sa, conn_accept_slot *slot)
{
    static glog_limit refused_max = GLOG_LIMIT_INIT, refused_fds = GLOG_LIMIT_INIT,
                      refused_ip = GLOG_LIMIT_INIT;
    if (atomic_load(&l->cnt->conns_open) >= l->lim.connections_max) {
        glog_limited(&refused_max, GLOG_WARN, "net",
                     "refusing connection from %s:%s: max.connections (%d) reached", host, serv,
                     l->lim.connections_max);
        return false;
    }
    if (fd >= l->fd_ceiling) {
        glog_limited(&refused_fds, GLOG_WARN, "net",
                     "refusing connection from %s:%s: the open-files limit is near (descriptor %d; "
                     "%d are kept for the broker's own files; raise ulimit -n)",
                     host, serv, fd, CONN_FDS_RESERVED);
        return false;
    }
    slot->addr = connquota_addr_of(sa);
    int32_t max = 0;
    int rc = connquota_acquire(l->lim.quota, &slot->addr, &max);
    if (rc < 0) {
        glog_limited(&refused_ip, GLOG_WARN, "net",
                     "refusing connection from %s:%s: that address already has the maximum of %d "
                     "connections (max.connections.per.ip)", host, serv, max);
        return false;
    }
    slot->taken = rc > 0;
    return true;
}

static void listener_on_event(reactor *r, reactor_io *io, uint32_t events)
{
    listener *l = (listener *)io;
    (void)events;
    for (int i = 0; i < 64 && !l->accept_paused; i++) {
        if (atomic_load(&l->cnt->conns_open) >= l->lim.connections_max) {
            /* As Kafka's acceptor does: stop accepting, so new connections
             * wait in the backlog until one closes, instead of being shut. */
            listener_wait_for_slot(r, l);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            static glog_limit accept_failed = GLOG_LIMIT_INIT;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listener_pause(r, l, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                     errno != ECONNABORTED)
                glog_limited(&accept_failed, GLOG_WARN, "net", "accept: %s", strerror(errno));
            return;
        }
        char host[INET6_ADDRSTRLEN] = "?", serv[16] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        conn_accept_slot slot = { .taken = false };
        if (!accept_allowed(l, fd, host, serv, (struct sockaddr *)&ss, &slot)) {
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof(*c));
        uint8_t *inbuf = malloc(CONN_INBUF_BYTES);
        if (!c || !inbuf) {
            static glog_limit no_memory = GLOG_LIMIT_INIT;
            free(c);
            free(inbuf);
            close(fd);
            if (slot.taken)
                connquota_release(l->lim.quota, &slot.addr);
            glog_limited(&no_memory, GLOG_ERROR, "net", "out of memory accepting a connection");
            continue;
        }
        c->qaddr = slot.addr;
        c->quota_taken = slot.taken;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (l->lim.sndbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &l->lim.sndbuf, sizeof(int));
        if (l->lim.rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &l->lim.rcvbuf, sizeof(int));
        c->io.fd = fd;
        c->io.on_event = conn_on_event;
        c->lst = l;
        c->r = r;
        c->refs = 1;
        c->inbuf = inbuf;
        c->events = EPOLLIN;
        c->last_active_ms = clock_mono_ms();
        snprintf(c->peer, sizeof(c->peer), "%s:%s", host, serv);
        c->next = l->conns;
        if (l->conns)
            l->conns->prev = c;
        l->conns = c;
        atomic_fetch_add(&l->cnt->conns_open, 1);
        if (reactor_io_add(r, &c->io, EPOLLIN) != 0) {
            conn_close(c, true, "epoll_ctl failed");
            continue;
        }
        glog(GLOG_DEBUG, "net", "accepted connection from %s on reactor %d", c->peer, reactor_id(r));
    }
}

static void idle_check(reactor *r, void *arg)
{
    listener *l = arg;
    int64_t now = clock_mono_ms();
    conn *c = l->conns;
    while (c) {
        conn *next = c->next;
        if (!c->head && now - c->last_active_ms > l->lim.idle_ms_max)
            conn_close(c, true, "idle longer than connections.max.idle.ms");
        c = next;
    }
    reactor_timer_arm(r, &l->idle_timer, now + 1000);
}

/* A listening socket on host:port; -1 with err filled on failure. */
static int listen_socket(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listener host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* SO_REUSEADDR (restart over TIME_WAIT) but not SO_REUSEPORT: a second
     * broker on the same port must fail, not silently share connections. */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host && *host ? host : "*", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

listener *listener_new(reactor *r, const listener *share, const char *host, int port,
                       const conn_limits *lim, const conn_handler *h, char *err, size_t errlen)
{
    /* Reactors share one listening socket (each through its own dup), woken
     * one at a time by EPOLLEXCLUSIVE. */
    int fd = share ? fcntl(share->io.fd, F_DUPFD_CLOEXEC, 0) : listen_socket(host, port, err, errlen);
    if (fd < 0) {
        if (share)
            snprintf(err, errlen, "dup of the listening socket: %s", strerror(errno));
        return NULL;
    }
    listener *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    l->cnt = share ? share->cnt : calloc(1, sizeof(*l->cnt));
    if (!l->cnt) {
        close(fd);
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_fetch_add(&l->cnt->refs, 1);
    l->io.fd = fd;
    l->io.on_event = listener_on_event;
    l->r = r;
    l->lim = *lim;
    l->h = *h;
    struct rlimit rl;
    l->fd_ceiling = INT_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)INT_MAX)
        l->fd_ceiling = (int)rl.rlim_cur - CONN_FDS_RESERVED;
    reactor_timer_init(&l->idle_timer, idle_check, l);
    reactor_timer_init(&l->accept_timer, listener_resume, l);
    return l;
}

/* Split from listener_new so all listeners bind before any reactor runs. */
void listener_start(reactor *r, void *arg)
{
    listener *l = arg;
    if (reactor_io_add(r, &l->io, EPOLLIN | EPOLLEXCLUSIVE) != 0)
        glog(GLOG_ERROR, "net", "cannot watch listener: %s", strerror(errno));
    reactor_timer_arm(r, &l->idle_timer, clock_mono_ms() + 1000);
}

void listener_close(listener *l)
{
    if (l->io.fd < 0)
        return;
    reactor_timer_cancel(l->r, &l->accept_timer);
    if (!l->accept_paused)
        reactor_io_del(l->r, &l->io);
    l->accept_paused = false;
    close(l->io.fd);
    l->io.fd = -1;
}

void listener_close_conns(listener *l)
{
    while (l->conns)
        conn_close(l->conns, true, NULL);
    reactor_timer_cancel(l->r, &l->idle_timer);
}

void listener_free(listener *l)
{
    if (!l)
        return;
    if (l->io.fd >= 0)
        close(l->io.fd);
    if (atomic_fetch_sub(&l->cnt->refs, 1) == 1)
        free(l->cnt);
    free(l);
}
