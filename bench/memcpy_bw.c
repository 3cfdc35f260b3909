/*
 * memcpy_bw.c - the machine's memory copy bandwidth, for bench/run.
 *
 *   memcpy_bw [SECONDS] [MIB]
 *
 * Copies a MIB-MiB buffer (default 64, well past the caches) into another
 * with memcpy() for about SECONDS seconds (default 1) after one warm-up copy,
 * and prints {"mib_per_s":...,"gib_per_s":...} counting bytes copied (read
 * once, written once) per second. The best of the 1/10th-second slices is
 * reported as "best_mib_per_s".
 *
 * Build: cc -O2 -o memcpy_bw memcpy_bw.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 64;
    if (secs <= 0 || mib == 0) {
        fprintf(stderr, "usage: memcpy_bw [SECONDS] [MIB]\n");
        return 2;
    }
    size_t n = mib << 20;
    char *src = malloc(n), *dst = malloc(n);
    if (!src || !dst) {
        fprintf(stderr, "memcpy_bw: out of memory\n");
        return 1;
    }
    memset(src, 0x5a, n);
    memset(dst, 0xa5, n);
    memcpy(dst, src, n); /* warm-up: fault every page in */

    double t0 = now_s(), end = t0 + secs, best = 0;
    size_t copies = 0;
    while (now_s() < end) {
        double s0 = now_s();
        size_t k = 0;
        do {
            memcpy(dst, src, n);
            /* keep the compiler from dropping the copy */
            __asm__ volatile("" : : "r"(dst) : "memory");
            k++;
        } while (now_s() - s0 < secs / 10);
        double rate = (double)k * (double)mib / (now_s() - s0);
        if (rate > best)
            best = rate;
        copies += k;
    }
    double el = now_s() - t0;
    double rate = (double)copies * (double)mib / el;
    printf("{\"mib\":%zu,\"copies\":%zu,\"secs\":%.3f,\"mib_per_s\":%.1f,\"gib_per_s\":%.2f,"
           "\"best_mib_per_s\":%.1f}\n",
           mib, copies, el, rate, rate / 1024.0, best);
    free(src);
    free(dst);
    return 0;
}
