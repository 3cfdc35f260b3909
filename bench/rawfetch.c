/*
 * rawfetch.c - catch-up read at wire speed, for bench/run (W4 raw).
 *
 *   rawfetch HOST PORT TOPIC PARTITIONS COUNT [MAX_BYTES]
 *
 * Speaks Kafka's Fetch v4 itself over one connection: asks for partitions
 * 0..PARTITIONS-1 from offset 0, MAX_BYTES (default 64 MiB) per response and
 * per partition, and walks only the record batch headers (baseOffset,
 * batchLength, lastOffsetDelta, record count) to find the next offsets; the
 * records themselves are never decoded. It stops once COUNT records have
 * arrived. This measures what the broker can serve from the page cache,
 * without librdkafka's per-record work: compare with the librdkafka
 * consumer (kload consume) and with iperf3.
 *
 * Prints one line of JSON; exit status 0 only if COUNT records arrived.
 *
 * Build: cc -O2 -o rawfetch rawfetch.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAXP 1024

static void die(const char *msg) {
    fprintf(stderr, "rawfetch: %s\n", msg);
    exit(1);
}

static void read_full(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            die("connection closed or failed");
        got += (size_t)r;
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: rawfetch HOST PORT TOPIC PARTITIONS COUNT [MAX_BYTES]\n");
        return 2;
    }
    const char *topic = argv[3];
    int np = atoi(argv[4]);
    long long count = atoll(argv[5]);
    int32_t max_bytes = argc > 6 ? atoi(argv[6]) : 64 << 20;
    if (np < 1 || np > MAXP)
        die("bad partition count");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
        die("HOST must be an IPv4 address");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect failed");
    int one = 1, rcvbuf = 4 << 20;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    int64_t next[MAXP] = {0};
    size_t tlen = strlen(topic), cap = (size_t)max_bytes + (1 << 20);
    uint8_t *req = malloc(64 + tlen + (size_t)np * 16), *resp = malloc(cap);
    if (!req || !resp)
        die("out of memory");
    long long records = 0, fetches = 0;
    double bytes = 0, wire = 0;
    double t0 = now_s(), c0 = cpu_s(), deadline = t0 + 300;
    while (records < count) {
        if (now_s() > deadline)
            die("timed out");
        uint8_t *p = req + 4;
        p = put16(p, 1);  /* Fetch */
        p = put16(p, 4);  /* v4 */
        p = put32(p, (int32_t)++fetches);
        p = put_str(p, "rawfetch", 8);
        p = put32(p, -1);        /* replica id */
        p = put32(p, 100);       /* max wait ms */
        p = put32(p, 1);         /* min bytes */
        p = put32(p, max_bytes); /* max bytes */
        *p++ = 0;                /* read uncommitted */
        p = put32(p, 1);
        p = put_str(p, topic, tlen);
        p = put32(p, np);
        for (int i = 0; i < np; i++) {
            p = put32(p, i);
            p = put64(p, next[i]);
            p = put32(p, max_bytes);
        }
        put32(req, (int32_t)(p - req - 4));
        if (send(fd, req, (size_t)(p - req), MSG_NOSIGNAL) != p - req)
            die("send failed");

        uint8_t szb[4];
        read_full(fd, szb, 4);
        int32_t sz = get32(szb);
        if (sz < 8 || (size_t)sz > cap)
            die("bad response size");
        read_full(fd, resp, (size_t)sz);
        wire += sz + 4;
        const uint8_t *q = resp + 8, *end = resp + sz; /* correlation id, throttle */
        int32_t ntopics = get32(q);
        q += 4;
        for (int t = 0; t < ntopics; t++) {
            q += 2 + get16(q);
            int32_t nparts = get32(q);
            q += 4;
            for (int i = 0; i < nparts; i++) {
                if (q + 30 > end) {
                    fprintf(stderr, "rawfetch: response %lld: %d bytes, topic %d/%d, partition %d/%d at %ld\n",
                            fetches, sz, t, ntopics, i, nparts, (long)(q - resp));
                    die("truncated response");
                }
                int32_t part = get32(q);
                int16_t err = get16(q + 4);
                q += 4 + 2 + 8 + 8;
                int32_t naborted = get32(q);
                q += 4 + (naborted > 0 ? naborted * 16 : 0);
                int32_t rlen = get32(q);
                q += 4;
                if (err) {
                    fprintf(stderr, "rawfetch: partition %d: error %d\n", part, err);
                    return 1;
                }
                if (rlen < 0)
                    rlen = 0;
                const uint8_t *b = q, *bend = q + rlen;
                while (bend - b >= 61) { /* whole batch headers only */
                    int64_t base = get64(b);
                    int32_t blen = get32(b + 8);
                    if (blen + 12 > bend - b)
                        break; /* partial batch at the end (KIP-74) */
                    int32_t last_delta = get32(b + 23);
                    int32_t nrec = get32(b + 57);
                    if (part >= 0 && part < np && base + last_delta + 1 > next[part])
                        next[part] = base + last_delta + 1;
                    records += nrec;
                    bytes += blen + 12;
                    b += blen + 12;
                }
                q = bend;
            }
        }
    }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    printf("{\"mode\":\"rawfetch\",\"topic\":\"%s\",\"partitions\":%d,\"count\":%lld,"
           "\"received\":%lld,\"fetches\":%lld,\"batch_bytes\":%.0f,\"wire_bytes\":%.0f,"
           "\"secs\":%.4f,\"records_per_s\":%.1f,\"wire_mib_per_s\":%.2f,\"client_cpu_s\":%.3f}\n",
           topic, np, count, records, fetches, bytes, wire, secs, records / secs,
           wire / 1048576.0 / secs, cpu);
    close(fd);
    free(req);
    free(resp);
    return 0;
}
