/*
 * reactor.c - see reactor.h. Level-triggered epoll; timers in a binary
 * min-heap keyed by monotonic deadline; the inbox is a mutex-protected
 * singly linked list drained in FIFO order once per loop iteration.
 */
#include "net/reactor.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

typedef struct inbox_item {
    struct inbox_item *next;
    reactor_fn fn;
    void *arg;
} inbox_item;

struct reactor {
    int id;
    int epfd;
    reactor_io wake;          /* eventfd */
    pthread_t thread;
    atomic_bool stopping;
    pthread_mutex_t inbox_lock;
    inbox_item *inbox_head, *inbox_tail;
    reactor_timer **heap;     /* min-heap by deadline */
    int heap_n, heap_cap;
};

static __thread reactor *tls_current;

reactor *reactor_current(void) { return tls_current; }
int reactor_id(const reactor *r) { return r->id; }

static void wake_drain(reactor *r, reactor_io *io, uint32_t events)
{
    (void)r;
    (void)events;
    uint64_t v;
    while (read(io->fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

reactor *reactor_new(int id)
{
    reactor *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->id = id;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->wake.on_event = wake_drain;
    pthread_mutex_init(&r->inbox_lock, NULL);
    if (r->epfd < 0 || r->wake.fd < 0 || reactor_io_add(r, &r->wake, EPOLLIN) != 0) {
        reactor_free(r);
        return NULL;
    }
    return r;
}

void reactor_free(reactor *r)
{
    if (!r)
        return;
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->wake.fd >= 0)
        close(r->wake.fd);
    inbox_item *it = r->inbox_head;
    while (it) {
        inbox_item *next = it->next;
        free(it);
        it = next;
    }
    pthread_mutex_destroy(&r->inbox_lock);
    free(r->heap);
    free(r);
}

int reactor_io_add(reactor *r, reactor_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };
    return epoll_ctl(r->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int reactor_io_mod(reactor *r, reactor_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };
    return epoll_ctl(r->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void reactor_io_del(reactor *r, reactor_io *io)
{
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void reactor_post(reactor *r, reactor_fn fn, void *arg)
{
    inbox_item *it = malloc(sizeof(*it));
    if (!it) {
        glog(GLOG_ERROR, "net", "out of memory posting to reactor %d", r->id);
        abort(); /* losing a completion would hang a client forever */
    }
    it->next = NULL;
    it->fn = fn;
    it->arg = arg;
    pthread_mutex_lock(&r->inbox_lock);
    bool was_empty = r->inbox_head == NULL;
    if (r->inbox_tail)
        r->inbox_tail->next = it;
    else
        r->inbox_head = it;
    r->inbox_tail = it;
    pthread_mutex_unlock(&r->inbox_lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n;
        do {
            n = write(r->wake.fd, &one, sizeof(one));
        } while (n < 0 && errno == EINTR);
    }
}

static void inbox_run(reactor *r)
{
    pthread_mutex_lock(&r->inbox_lock);
    inbox_item *it = r->inbox_head;
    r->inbox_head = r->inbox_tail = NULL;
    pthread_mutex_unlock(&r->inbox_lock);
    while (it) {
        inbox_item *next = it->next;
        it->fn(r, it->arg);
        free(it);
        it = next;
    }
}

/* ---- timer heap ---- */

static void heap_swap(reactor *r, int a, int b)
{
    reactor_timer *t = r->heap[a];
    r->heap[a] = r->heap[b];
    r->heap[b] = t;
    r->heap[a]->heap_idx = a;
    r->heap[b]->heap_idx = b;
}

static void heap_up(reactor *r, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (r->heap[p]->deadline_ms <= r->heap[i]->deadline_ms)
            break;
        heap_swap(r, i, p);
        i = p;
    }
}

static void heap_down(reactor *r, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < r->heap_n && r->heap[l]->deadline_ms < r->heap[m]->deadline_ms)
            m = l;
        if (l + 1 < r->heap_n && r->heap[l + 1]->deadline_ms < r->heap[m]->deadline_ms)
            m = l + 1;
        if (m == i)
            break;
        heap_swap(r, i, m);
        i = m;
    }
}

void reactor_timer_init(reactor_timer *t, reactor_fn fn, void *arg)
{
    t->deadline_ms = 0;
    t->heap_idx = -1;
    t->fn = fn;
    t->arg = arg;
}

void reactor_timer_arm(reactor *r, reactor_timer *t, int64_t deadline_ms)
{
    if (t->heap_idx >= 0)
        reactor_timer_cancel(r, t);
    if (r->heap_n == r->heap_cap) {
        int cap = r->heap_cap ? r->heap_cap * 2 : 64;
        reactor_timer **h = realloc(r->heap, (size_t)cap * sizeof(*h));
        if (!h) {
            glog(GLOG_ERROR, "net", "out of memory arming a timer");
            abort();
        }
        r->heap = h;
        r->heap_cap = cap;
    }
    t->deadline_ms = deadline_ms;
    t->heap_idx = r->heap_n;
    r->heap[r->heap_n++] = t;
    heap_up(r, t->heap_idx);
}

void reactor_timer_cancel(reactor *r, reactor_timer *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    assert(i < r->heap_n && r->heap[i] == t);
    r->heap_n--;
    if (i != r->heap_n) {
        r->heap[i] = r->heap[r->heap_n];
        r->heap[i]->heap_idx = i;
        heap_down(r, i);
        heap_up(r, i);
    }
    t->heap_idx = -1;
}

static int timers_run(reactor *r)
{
    int64_t now = clock_mono_ms();
    while (r->heap_n > 0 && r->heap[0]->deadline_ms <= now) {
        reactor_timer *t = r->heap[0];
        reactor_timer_cancel(r, t);
        t->fn(r, t->arg);
    }
    if (r->heap_n == 0)
        return 1000;
    int64_t wait = r->heap[0]->deadline_ms - clock_mono_ms();
    return wait < 0 ? 0 : wait > 1000 ? 1000 : (int)wait;
}

static void *reactor_main(void *arg)
{
    reactor *r = arg;
    tls_current = r;
    struct epoll_event evs[128];
    while (!atomic_load(&r->stopping)) {
        int timeout = timers_run(r);
        int n = epoll_wait(r->epfd, evs, 128, timeout);
        if (n < 0 && errno != EINTR) {
            glog(GLOG_ERROR, "net", "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            reactor_io *io = evs[i].data.ptr;
            io->on_event(r, io, evs[i].events);
        }
        inbox_run(r);
    }
    inbox_run(r);
    tls_current = NULL;
    return NULL;
}

int reactor_start(reactor *r)
{
    return pthread_create(&r->thread, NULL, reactor_main, r);
}

void reactor_stop_join(reactor *r)
{
    atomic_store(&r->stopping, true);
    uint64_t one = 1;
    ssize_t n = write(r->wake.fd, &one, sizeof(one));
    (void)n;
    pthread_join(r->thread, NULL);
}
