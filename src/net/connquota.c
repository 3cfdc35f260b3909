/*
 * connquota.c - connections per client address (see connquota.h).
 *
 * A chained hash of the addresses that hold at least one connection; an
 * entry is freed when its count drops to zero, so the table never holds more
 * entries than there are open connections (bounded by max.connections).
 * Overrides are a small array searched linearly at accept time.
 */
#include "net/connquota.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNQUOTA_BUCKETS 1024
#define CONNQUOTA_OVERRIDES_MAX 256

typedef struct connquota_entry {
    connquota_addr addr;
    int32_t count;
    struct connquota_entry *next;
} connquota_entry;

typedef struct connquota_override {
    connquota_addr addr;
    int32_t max;
} connquota_override;

struct connquota {
    int32_t per_ip_max;
    int n_overrides;
    connquota_override overrides[CONNQUOTA_OVERRIDES_MAX];
    pthread_mutex_t lock;
    connquota_entry *buckets[CONNQUOTA_BUCKETS]; /* guarded by lock */
};

connquota_addr connquota_addr_of(const struct sockaddr *sa)
{
    connquota_addr a;
    memset(&a, 0, sizeof a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(a.bytes, &in->sin_addr, 4);
        a.family = 4;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memcpy(a.bytes, in6->sin6_addr.s6_addr + 12, 4);
            a.family = 4;
        } else {
            memcpy(a.bytes, in6->sin6_addr.s6_addr, 16);
            a.family = 6;
        }
    }
    return a;
}

static int addr_eq(const connquota_addr *x, const connquota_addr *y)
{
    return x->family == y->family && memcmp(x->bytes, y->bytes, 16) == 0;
}

static unsigned addr_hash(const connquota_addr *a)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ a->bytes[i]) * 16777619u;
    return (h ^ a->family) % CONNQUOTA_BUCKETS;
}

/* "host:count" into q->overrides; the host may be a bracketed IPv6 literal. */
static int parse_override(connquota *q, char *item, char *err, size_t errlen)
{
    char *colon = strrchr(item, ':');
    if (!colon || colon == item || !colon[1]) {
        snprintf(err, errlen, "max.connections.per.ip.overrides: '%s' is not host:count", item);
        return -1;
    }
    *colon = 0;
    char *end = NULL;
    long max = strtol(colon + 1, &end, 10);
    if (*end || max < 0 || max > 2147483647L) {
        snprintf(err, errlen, "max.connections.per.ip.overrides: '%s' is not a count for %s",
                 colon + 1, item);
        return -1;
    }
    char *host = item;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        host++;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "max.connections.per.ip.overrides: cannot resolve '%s': %s", host,
                 gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        if (q->n_overrides == CONNQUOTA_OVERRIDES_MAX) {
            freeaddrinfo(ai);
            snprintf(err, errlen, "max.connections.per.ip.overrides: more than %d addresses",
                     CONNQUOTA_OVERRIDES_MAX);
            return -1;
        }
        connquota_addr a = connquota_addr_of(p->ai_addr);
        int dup = 0;
        for (int i = 0; i < q->n_overrides && !dup; i++)
            dup = addr_eq(&q->overrides[i].addr, &a);
        if (!dup)
            q->overrides[q->n_overrides++] = (connquota_override){ a, (int32_t)max };
    }
    freeaddrinfo(ai);
    return 0;
}

connquota *connquota_new(int32_t per_ip_max, const char *overrides, char *err, size_t errlen)
{
    connquota *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->per_ip_max = per_ip_max;
    pthread_mutex_init(&q->lock, NULL);
    if (overrides && *overrides) {
        char *copy = strdup(overrides), *save = NULL;
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            connquota_free(q);
            return NULL;
        }
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            while (*item == ' ')
                item++;
            size_t n = strlen(item);
            while (n && item[n - 1] == ' ')
                item[--n] = 0;
            if (!*item)
                continue;
            if (parse_override(q, item, err, errlen) != 0) {
                free(copy);
                connquota_free(q);
                return NULL;
            }
        }
        free(copy);
    }
    return q;
}

void connquota_free(connquota *q)
{
    if (!q)
        return;
    for (int i = 0; i < CONNQUOTA_BUCKETS; i++) {
        connquota_entry *e = q->buckets[i];
        while (e) {
            connquota_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static int32_t max_for(const connquota *q, const connquota_addr *a)
{
    for (int i = 0; i < q->n_overrides; i++)
        if (addr_eq(&q->overrides[i].addr, a))
            return q->overrides[i].max;
    return q->per_ip_max;
}

int connquota_acquire(connquota *q, const connquota_addr *a, int32_t *max_out)
{
    if (!q || a->family == 0)
        return 0;
    int32_t max = max_for(q, a);
    unsigned h = addr_hash(a);
    int rc = 1;
    pthread_mutex_lock(&q->lock);
    connquota_entry *e = q->buckets[h];
    while (e && !addr_eq(&e->addr, a))
        e = e->next;
    if ((e ? e->count : 0) >= max) {
        rc = -1;
    } else if (e) {
        e->count++;
    } else if ((e = calloc(1, sizeof(*e))) != NULL) {
        e->addr = *a;
        e->count = 1;
        e->next = q->buckets[h];
        q->buckets[h] = e;
    } else {
        rc = 0; /* out of memory: let it in uncounted rather than refuse it */
    }
    pthread_mutex_unlock(&q->lock);
    if (rc < 0 && max_out)
        *max_out = max;
    return rc;
}

void connquota_release(connquota *q, const connquota_addr *a)
{
    if (!q || a->family == 0)
        return;
    unsigned h = addr_hash(a);
    pthread_mutex_lock(&q->lock);
    connquota_entry **pp = &q->buckets[h];
    while (*pp && !addr_eq(&(*pp)->addr, a))
        pp = &(*pp)->next;
    connquota_entry *e = *pp;
    if (e && --e->count <= 0) {
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&q->lock);
}

int32_t connquota_count(connquota *q, const connquota_addr *a)
{
    if (!q)
        return 0;
    int32_t n = 0;
    pthread_mutex_lock(&q->lock);
    for (connquota_entry *e = q->buckets[addr_hash(a)]; e; e = e->next)
        if (addr_eq(&e->addr, a))
            n = e->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}
