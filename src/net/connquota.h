/*
 * connquota.h - connections per client address: Kafka's
 * max.connections.per.ip and max.connections.per.ip.overrides.
 *
 * One table per broker, shared by the listeners of every reactor. A
 * connection takes a slot for its peer's address when it is accepted and
 * gives it back when it is closed; an address at its maximum is refused, so
 * one client holding thousands of idle connections cannot lock the others
 * out. IPv4-mapped IPv6 addresses count as their IPv4 address.
 *
 * Thread-safe: a mutex guards the table (taken once per accept and once per
 * close, never per request).
 */
#ifndef GREGOR_NET_CONNQUOTA_H
#define GREGOR_NET_CONNQUOTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct connquota connquota;

/* A peer address reduced to what the quota counts. */
typedef struct connquota_addr {
    uint8_t bytes[16];            /* IPv4 in the first 4 */
    uint8_t family;               /* 4 or 6; 0 for an address not counted (unix) */
} connquota_addr;

/*
 * per_ip_max: max.connections.per.ip; overrides: the overrides list
 * ("host:count,host2:count"; hosts are IP literals or names resolved now),
 * may be NULL or "". NULL with err filled when the list does not parse or a
 * name does not resolve.
 */
connquota *connquota_new(int32_t per_ip_max, const char *overrides, char *err, size_t errlen);
void connquota_free(connquota *q);

connquota_addr connquota_addr_of(const struct sockaddr *sa);

/* Take a slot for addr: 1 taken (give it back with connquota_release), 0
 * let in uncounted (q is NULL, an address not counted, or no memory for a
 * new entry), -1 refused: addr already holds its maximum (*max_out = that
 * maximum). */
int connquota_acquire(connquota *q, const connquota_addr *addr, int32_t *max_out);
/* Give back a slot connquota_acquire took (returned 1). */
void connquota_release(connquota *q, const connquota_addr *addr);

/* Connections counted for addr now (tests). */
int32_t connquota_count(connquota *q, const connquota_addr *addr);

#endif
