/*
 * scrubber.h - the background scrubber: finds silent corruption in closed
 * segments before a consumer does.
 *
 * Every log.scrub.interval.ms each closed segment of every partition is read
 * again and its batches checked (header, CRC32C, offsets in order), at most
 * log.scrub.bytes.per.second on average. A damaged segment is logged with
 * its file, position and offset, and plog_read refuses its bytes from the
 * bad batch on (KAFKA_STORAGE_ERROR to the consumer) instead of serving
 * wrong data. Kafka serves such data as it is; see docs/storage.md.
 *
 * Thread: its own. It reads the topic table and partition logs through
 * their locks and references, never blocking a reactor.
 */
#ifndef GREGOR_BROKER_SCRUBBER_H
#define GREGOR_BROKER_SCRUBBER_H

#include <stdint.h>

#include "broker/topics.h"

typedef struct scrubber scrubber;

/* NULL when interval_ms is 0 (the scrubber is off) or on failure (logged).
 * t is borrowed and must outlive the scrubber. */
scrubber *scrubber_start(topics *t, int64_t interval_ms, int64_t bytes_per_second);
/* Stop the thread (after the segment it is reading) and free; NULL is fine. */
void scrubber_stop(scrubber *s);
/* Segments found damaged since the start (tests, logs). */
int64_t scrubber_damaged(const scrubber *s);

#endif
