/*
 * appender.h - append lanes: threads that take large appends off the
 * reactors.
 *
 * On a reactor, a 1 MiB append is a 1 MiB copy into the page cache during
 * which none of that reactor's connections is served, and all of one
 * connection's appends run on one core. An appender has one thread per core
 * ("lane"), each with a FIFO queue. A produce handler submits an item to the
 * lane chosen by a key (the partition): items with the same key run in
 * submission order, one at a time, so a partition's appends keep their
 * order while different partitions' appends run on different cores.
 *
 * The item is intrusive: embed an appender_item in the caller's own struct;
 * fn receives it back on the lane thread.
 */
#ifndef GREGOR_BROKER_APPENDER_H
#define GREGOR_BROKER_APPENDER_H

#include <stdint.h>

typedef struct appender appender;

typedef struct appender_item {
    struct appender_item *next;
    void (*fn)(struct appender_item *item);
} appender_item;

/* lanes < 1 gives NULL (no lanes: callers append inline). */
appender *appender_new(int lanes);
int appender_lanes(const appender *a);
/* Thread-safe. Queue item on key's lane; item->fn(item) runs on that lane. */
void appender_submit(appender *a, uint64_t key, appender_item *item, void (*fn)(appender_item *));
/* Run what is queued, then stop the threads. */
void appender_stop(appender *a);
void appender_free(appender *a);

#endif
