/*
 * log.h - Gregor's own log lines (not the partition log: see storage/log.h).
 *
 * One line per call on stderr:
 *   2026-11-22T10:11:12.345Z INFO  [net] conn 12 closed: peer reset
 * UTC, millisecond precision. A line is formatted into a 2048-byte stack
 * buffer (longer messages are cut and end in "...") and written with one
 * write(), so lines from different threads never interleave.
 *
 * Levels: lines above the current level are dropped (default GLOG_INFO).
 * Debug lines are also printed, whatever the level, for the subsystems named
 * by glog_set_debug ("net,log,group", or "all"). A dropped line costs one
 * atomic load, plus evaluating the caller's arguments; wrap expensive
 * arguments in `if (glog_debug_enabled("net"))`.
 *
 * Thread-safe: any thread may log or change the settings.
 */
#ifndef GREGOR_BASE_LOG_H
#define GREGOR_BASE_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum { GLOG_ERROR = 0, GLOG_WARN = 1, GLOG_INFO = 2, GLOG_DEBUG = 3 };

#define GLOG_LINE_BYTES_MAX 2048
#define GLOG_SUBSYS_MAX 32        /* subsystems in a debug spec */
#define GLOG_SUBSYS_BYTES_MAX 31  /* length of one subsystem name */

/* subsys: a short constant name such as "net"; borrowed for the call. */
void glog(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Rate-limited lines, for what a client or a failing disk can make happen
 * thousands of times a second (refused connections, failed appends,
 * malformed requests). One glog_limit per kind of line, usually a static
 * in the function that logs it:
 *
 *     static glog_limit refused = GLOG_LIMIT_INIT;
 *     glog_limited(&refused, GLOG_WARN, "net", "refusing connection from %s", peer);
 *
 * At most GLOG_LIMIT_LINES lines per GLOG_LIMIT_WINDOW_MS are printed; the
 * rest are counted, and the first line printed after them says how many
 * were dropped. Returns whether this line was printed. Thread-safe.
 */
enum { GLOG_LIMIT_LINES = 5, GLOG_LIMIT_WINDOW_MS = 10000 };

typedef struct glog_limit {
    pthread_mutex_t lock;
    int64_t window_start_ms;     /* monotonic; 0 before the first line */
    int printed;                 /* lines printed in this window */
    long long suppressed;        /* lines dropped since the last printed one */
    int window_ms;               /* 0: GLOG_LIMIT_WINDOW_MS (tests set a short one) */
} glog_limit;

#define GLOG_LIMIT_INIT { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0 }

bool glog_limited(glog_limit *lim, int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Lines with level <= level are printed. Out-of-range values are clamped. */
void glog_set_level(int level);
int glog_get_level(void);

/*
 * Debug subsystems: a comma list of names ([a-z0-9_.-], at most
 * GLOG_SUBSYS_BYTES_MAX each, at most GLOG_SUBSYS_MAX of them; spaces around
 * names ignored), "all", or "none". Replaces the previous set. Returns 0, or
 * -1 for a NULL, empty or malformed spec (the previous set is kept).
 */
int glog_set_debug(const char *spec);

/* Would a GLOG_DEBUG line for subsys be printed? */
bool glog_debug_enabled(const char *subsys);
#define GLOG_DEBUG_ON(subsys) glog_debug_enabled(subsys)

#endif
