/*
 * clock.h - the one place Gregor reads the time.
 *
 * Wall-clock milliseconds for timestamps that leave the process (record
 * timestamps, log lines); monotonic time for every timeout and interval,
 * since the wall clock may step. Keeping all reads here lets a test or the
 * simulator substitute its own clock later without touching callers.
 *
 * Thread-safe; no state.
 */
#ifndef GREGOR_BASE_CLOCK_H
#define GREGOR_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
int64_t clock_now_ms(void);
/* CLOCK_MONOTONIC in milliseconds; only differences mean anything. */
int64_t clock_mono_ms(void);
/* CLOCK_MONOTONIC in nanoseconds; only differences mean anything. */
int64_t clock_mono_ns(void);
/* The CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
struct timespec clock_deadline_in(int64_t ms);

#endif
