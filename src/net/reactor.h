/*
 * reactor.h - one epoll event loop on its own thread.
 *
 * A reactor owns the connections it accepted (listening sockets use
 * SO_REUSEPORT, one per reactor, so the kernel spreads connections), a timer
 * heap for delayed operations, and an inbox other threads post work to.
 * Everything a reactor owns is touched only by its thread; other threads talk
 * to it only through reactor_post(), which is thread-safe and wakes the loop
 * through an eventfd.
 */
#ifndef GREGOR_NET_REACTOR_H
#define GREGOR_NET_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

typedef struct reactor reactor;
typedef void (*reactor_fn)(reactor *r, void *arg);

/* An fd watched by a reactor. The callback runs on the reactor thread. */
typedef struct reactor_io {
    int fd;
    void (*on_event)(reactor *r, struct reactor_io *io, uint32_t events);
} reactor_io;

/* A timer embedded in its owner; fires once on the reactor thread. */
typedef struct reactor_timer {
    int64_t deadline_ms;   /* monotonic */
    int heap_idx;          /* -1 when not armed */
    reactor_fn fn;
    void *arg;
} reactor_timer;

reactor *reactor_new(int id);
void reactor_free(reactor *r);
int reactor_id(const reactor *r);
/* Start the loop thread. */
int reactor_start(reactor *r);
/* Ask the loop to exit after the current iteration and join it. */
void reactor_stop_join(reactor *r);

/* Thread-safe: run fn(r, arg) on r's thread soon. Never fails (the inbox
 * grows; posters are bounded by the requests they serve). */
void reactor_post(reactor *r, reactor_fn fn, void *arg);

/* Reactor thread only. */
int reactor_io_add(reactor *r, reactor_io *io, uint32_t events);
int reactor_io_mod(reactor *r, reactor_io *io, uint32_t events);
void reactor_io_del(reactor *r, reactor_io *io);
void reactor_timer_init(reactor_timer *t, reactor_fn fn, void *arg);
void reactor_timer_arm(reactor *r, reactor_timer *t, int64_t deadline_ms);
void reactor_timer_cancel(reactor *r, reactor_timer *t);
static inline bool reactor_timer_armed(const reactor_timer *t) { return t->heap_idx >= 0; }

/* The reactor whose thread is running the caller, or NULL. */
reactor *reactor_current(void);

#endif
