/*
 * bench_util.h - the little helpers every load generator under bench/ needs:
 * wall and CPU clocks, and big-endian integers for the tools that speak the
 * Kafka protocol themselves. Header-only (static inline), so each tool still
 * builds from its one .c file: cc -O2 -o rawfetch rawfetch.c.
 */
#ifndef GREGOR_BENCH_UTIL_H
#define GREGOR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* CLOCK_MONOTONIC, in seconds. */
static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This process's user + system CPU time, in seconds. */
static inline double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Big-endian writers return the position after what they wrote. */
static inline uint8_t *put16(uint8_t *p, int v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *put32(uint8_t *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24); p[1] = (uint8_t)(u >> 16); p[2] = (uint8_t)(u >> 8); p[3] = (uint8_t)u;
    return p + 4;
}

static inline uint8_t *put64(uint8_t *p, int64_t v) {
    put32(p, (int32_t)((uint64_t)v >> 32));
    return put32(p + 4, (int32_t)(uint32_t)v);
}

/* A Kafka STRING: int16 length, then the bytes. */
static inline uint8_t *put_str(uint8_t *p, const char *s, size_t len) {
    p = put16(p, (int)len);
    memcpy(p, s, len);
    return p + len;
}

static inline int16_t get16(const uint8_t *p) { return (int16_t)((p[0] << 8) | p[1]); }

static inline int32_t get32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static inline int64_t get64(const uint8_t *p) {
    return (int64_t)((uint64_t)(uint32_t)get32(p) << 32 | (uint32_t)get32(p + 4));
}

#endif
