/*
 * rawproduce.c - produce at wire speed, for bench/run (W1 raw).
 *
 *   rawproduce HOST PORT TOPIC PARTITIONS COUNT SIZE [ACKS] [BATCH_RECORDS] [DEPTH]
 *
 * Speaks Kafka's Produce v7 itself over one connection. It builds one record
 * batch v2 of BATCH_RECORDS (default 1000) records, each with a null key and
 * a SIZE-byte value, no headers, no compression, producer id -1, and one
 * Produce request carrying that batch for each of partitions
 * 0..PARTITIONS-1, once; then it sends the same request bytes again and
 * again, patching only the correlation id (the broker assigns offsets in its
 * own copy of the batch), with up to DEPTH (default 8) requests in flight,
 * until COUNT records (rounded up to whole requests) are acknowledged.
 * ACKS is 1 (default) or all (-1). Every partition's error code must be 0
 * and the correlation ids must come back in order.
 *
 * There is no per-record work on the client: this measures what the broker
 * can ingest, without librdkafka's cost. Compare with the librdkafka
 * producer (kload produce).
 *
 * Prints one line of JSON; exit status 0 only if every request was
 * acknowledged without error.
 *
 * Build: cc -O2 -o rawproduce rawproduce.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#define RBUF (1 << 20) /* response read buffer */

static void die(const char *msg) {
    fprintf(stderr, "rawproduce: %s\n", msg);
    exit(1);
}

/* Zigzag varint, as record v2 fields use. */
static uint8_t *putvar(uint8_t *p, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

static int varlen(int64_t v) {
    uint8_t tmp[10];
    return (int)(putvar(tmp, v) - tmp);
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table. */
static uint32_t crc_table[256];

static uint32_t crc32c(const uint8_t *p, size_t n) {
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static const char *err_name(int e) {
    switch (e) {
    case 2: return "CORRUPT_MESSAGE";
    case 3: return "UNKNOWN_TOPIC_OR_PARTITION";
    case 6: return "NOT_LEADER_OR_FOLLOWER";
    case 7: return "REQUEST_TIMED_OUT";
    case 10: return "MESSAGE_TOO_LARGE";
    case 19: return "NOT_ENOUGH_REPLICAS";
    case 21: return "INVALID_REQUIRED_ACKS";
    case 29: return "TOPIC_AUTHORIZATION_FAILED";
    case 32: return "INVALID_TIMESTAMP";
    case 35: return "UNSUPPORTED_VERSION";
    case 87: return "INVALID_RECORD";
    default: return "see the Kafka protocol's error codes";
    }
}

/* One record batch v2 of nrec records with SIZE-byte values; returns its length. */
static uint8_t *build_batch(int nrec, int size, size_t *len) {
    size_t cap = 61;
    for (int i = 0; i < nrec; i++) {
        int64_t body = 1 + 1 + varlen(i) + 1 + varlen(size) + size + 1;
        cap += (size_t)(varlen(body) + body);
    }
    if (cap > INT32_MAX / 2)
        die("batch too large");
    uint8_t *b = malloc(cap), *p = b + 61;
    if (!b)
        die("out of memory");
    for (int i = 0; i < nrec; i++) {
        int64_t body = 1 + 1 + varlen(i) + 1 + varlen(size) + size + 1;
        p = putvar(p, body);
        *p++ = 0;             /* attributes */
        p = putvar(p, 0);     /* timestampDelta */
        p = putvar(p, i);     /* offsetDelta */
        p = putvar(p, -1);    /* key: null */
        p = putvar(p, size);  /* value length */
        memset(p, 'x', (size_t)size);
        p += size;
        p = putvar(p, 0);     /* headers */
    }
    if ((size_t)(p - b) != cap)
        die("internal error: batch size");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    uint8_t *h = b;
    h = put64(h, 0);                      /* baseOffset */
    h = put32(h, (int32_t)(cap - 12));    /* batchLength */
    h = put32(h, -1);                     /* partitionLeaderEpoch */
    *h++ = 2;                             /* magic */
    h += 4;                               /* crc, below */
    h = put16(h, 0);                      /* attributes */
    h = put32(h, nrec - 1);               /* lastOffsetDelta */
    h = put64(h, now_ms);                 /* firstTimestamp */
    h = put64(h, now_ms);                 /* maxTimestamp */
    h = put64(h, -1);                     /* producerId */
    h = put16(h, -1);                     /* producerEpoch */
    h = put32(h, -1);                     /* baseSequence */
    put32(h, nrec);                       /* recordCount */
    put32(b + 17, (int32_t)crc32c(b + 21, cap - 21));
    *len = cap;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: rawproduce HOST PORT TOPIC PARTITIONS COUNT SIZE [ACKS] "
                        "[BATCH_RECORDS] [DEPTH]\n"
                        "  ACKS 1 (default) or all; BATCH_RECORDS per partition per request "
                        "(default 1000); DEPTH requests in flight (default 8)\n");
        return 2;
    }
    const char *topic = argv[3];
    int np = atoi(argv[4]);
    long long count = atoll(argv[5]);
    int size = atoi(argv[6]);
    const char *acks_s = argc > 7 ? argv[7] : "1";
    int nrec = argc > 8 ? atoi(argv[8]) : 1000;
    int depth = argc > 9 ? atoi(argv[9]) : 8;
    int acks;
    if (strcmp(acks_s, "1") == 0)
        acks = 1, acks_s = "1";
    else if (strcmp(acks_s, "all") == 0 || strcmp(acks_s, "-1") == 0)
        acks = -1, acks_s = "all";
    else
        die("ACKS must be 1 or all");
    if (np < 1 || np > MAXP)
        die("bad partition count");
    if (count < 1)
        die("bad COUNT");
    if (size < 0 || size > 64 << 20)
        die("bad SIZE");
    if (nrec < 1 || nrec > 10000000)
        die("bad BATCH_RECORDS");
    if (depth < 1 || depth > 1024)
        die("bad DEPTH");
    size_t tlen = strlen(topic);
    if (tlen == 0 || tlen > 249)
        die("bad topic name");

    /* The request, built once. */
    size_t blen;
    uint8_t *batch = build_batch(nrec, size, &blen);
    size_t rlen = 4 + 2 + 2 + 4 + 2 + 10 + 2 + 2 + 4 + 4 + 2 + tlen + 4 + (size_t)np * (4 + 4 + blen);
    if (rlen > INT32_MAX)
        die("request too large: lower BATCH_RECORDS, SIZE or PARTITIONS");
    uint8_t *req = malloc(rlen), *p = req + 4;
    if (!req)
        die("out of memory");
    p = put16(p, 0); /* Produce */
    p = put16(p, 7); /* v7 */
    p = put32(p, 0); /* correlation id, patched per send */
    p = put_str(p, "rawproduce", 10);
    p = put16(p, -1);    /* transactional id: null */
    p = put16(p, acks);
    p = put32(p, 30000); /* timeout ms */
    p = put32(p, 1);
    p = put_str(p, topic, tlen);
    p = put32(p, np);
    for (int i = 0; i < np; i++) {
        p = put32(p, i);
        p = put32(p, (int32_t)blen);
        memcpy(p, batch, blen);
        p += blen;
    }
    if ((size_t)(p - req) != rlen)
        die("internal error: request size");
    put32(req, (int32_t)(rlen - 4));
    free(batch);
    const size_t corr_at = 4 + 2 + 2; /* size, api_key, api_version */

    long long per_req = (long long)np * nrec;
    long long needed = (count + per_req - 1) / per_req;

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (fd < 0)
        die("socket failed");
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
        die("HOST must be an IPv4 address");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect failed");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        die("fcntl O_NONBLOCK failed");

    uint8_t *rbuf = malloc(RBUF);
    if (!rbuf)
        die("out of memory");
    size_t rfill = 0;
    long long started = 0, acked = 0; /* requests */
    size_t woff = 0;
    int writing = 0;
    double t0 = now_s(), c0 = cpu_s(), deadline = t0 + 300;
    while (acked < needed) {
        if (!writing && started < needed && started - acked < depth) {
            put32(req + corr_at, (int32_t)(started + 1));
            started++;
            writing = 1;
            woff = 0;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN | (writing ? POLLOUT : 0)};
        int pr = poll(&pf, 1, 1000);
        if (pr < 0 && errno != EINTR)
            die("poll failed");
        if (now_s() > deadline)
            die("timed out");
        if (pr <= 0)
            continue;
        if (writing && (pf.revents & (POLLOUT | POLLERR | POLLHUP))) {
            while (woff < rlen) {
                ssize_t w = send(fd, req + woff, rlen - woff, MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        break;
                    die("send failed (connection closed by the broker?)");
                }
                woff += (size_t)w;
            }
            if (woff == rlen)
                writing = 0;
        }
        if (!(pf.revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        for (;;) {
            if (rfill == RBUF)
                die("response too large");
            ssize_t r = recv(fd, rbuf + rfill, RBUF - rfill, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                if (errno == EINTR)
                    continue;
                die("recv failed");
            }
            if (r == 0)
                die("connection closed by the broker");
            rfill += (size_t)r;
        }
        /* Every whole response in the buffer. */
        size_t at = 0;
        while (rfill - at >= 4) {
            int32_t sz = get32(rbuf + at);
            if (sz < 12 || sz > RBUF - 4)
                die("bad response size");
            if (rfill - at < (size_t)sz + 4)
                break;
            const uint8_t *q = rbuf + at + 4, *end = q + sz;
            if (get32(q) != (int32_t)(acked + 1)) {
                fprintf(stderr, "rawproduce: response correlation id %d, want %lld\n", get32(q),
                        acked + 1);
                return 1;
            }
            int32_t ntopics = get32(q + 4);
            q += 8;
            int nparts_seen = 0;
            for (int t = 0; t < ntopics; t++) {
                if (end - q < 2 || end - q < 2 + get16(q) + 4)
                    die("truncated response");
                q += 2 + get16(q);
                int32_t nparts = get32(q);
                q += 4;
                for (int i = 0; i < nparts; i++) {
                    if (end - q < 30)
                        die("truncated response");
                    int32_t part = get32(q);
                    int16_t err = get16(q + 4);
                    if (err) {
                        fprintf(stderr, "rawproduce: topic %s partition %d: error %d (%s)\n", topic,
                                part, err, err_name(err));
                        return 1;
                    }
                    q += 4 + 2 + 8 + 8 + 8;
                    nparts_seen++;
                }
            }
            if (nparts_seen != np) {
                fprintf(stderr, "rawproduce: response %lld has %d partitions, want %d\n", acked + 1,
                        nparts_seen, np);
                return 1;
            }
            acked++;
            at += (size_t)sz + 4;
        }
        memmove(rbuf, rbuf + at, rfill - at);
        rfill -= at;
    }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    long long records = needed * per_req;
    printf("{\"mode\":\"rawproduce\",\"topic\":\"%s\",\"partitions\":%d,\"acks\":\"%s\",\"size\":%d,"
           "\"batch_records\":%d,\"depth\":%d,\"records\":%lld,\"requests\":%lld,"
           "\"request_bytes\":%zu,\"secs\":%.4f,\"records_per_s\":%.1f,\"mib_per_s\":%.2f,"
           "\"client_cpu_s\":%.3f}\n",
           topic, np, acks_s, size, nrec, depth, records, needed, rlen, secs, records / secs,
           (double)records * size / 1048576.0 / secs, cpu);
    close(fd);
    free(req);
    free(rbuf);
    return 0;
}
