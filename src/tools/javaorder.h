/*
 * javaorder.h - Java's hash codes and java.util.HashMap iteration order, for
 * the tools that print what a Kafka tool prints.
 *
 * Kafka's command-line tools (kafka-log-dirs.sh, kafka-delete-records.sh,
 * kafka-dump-log.sh) print lists in the iteration order of the Java HashMaps
 * and HashSets they collect them in. That order is not sorted and not the
 * input order: it follows the keys' hash codes and the table's size. To give
 * the same bytes as Kafka's tools for the same broker answer, our tools
 * compute those hash codes (String, Integer, TopicPartition) and replay how
 * the map fills its table.
 *
 * Not reproduced: Java turns a bucket of 8 or more colliding keys into a
 * tree (once the table has 64 buckets), whose order depends on identity hash
 * codes; no realistic set of partitions or paths gets there.
 */
#ifndef GREGOR_TOOLS_JAVAORDER_H
#define GREGOR_TOOLS_JAVAORDER_H

#include <stddef.h>
#include <stdint.h>

/* Java's String.hashCode of the string Java decodes from these UTF-8 bytes:
 * over UTF-16 code units; a byte that does not start a valid sequence counts
 * as one U+FFFD. */
int32_t jo_string_hash(const char *s, size_t n);

/* Kafka's TopicPartition.hashCode (Integer.hashCode is the value itself). */
int32_t jo_tp_hash(const char *topic, size_t n, int32_t partition);

/* Java's HashMap.tableSizeFor: the smallest power of two >= c (1 for 0). */
size_t jo_table_size_for(size_t c);

/* The table a HashMap/HashSet copy constructor starts with for a collection
 * of n: tableSizeFor(max(n / .75f + 1, 16)). */
size_t jo_copy_table_size(size_t n);

/*
 * The order in which a HashMap (or HashSet) of initial table size cap0 (16
 * for `new HashMap<>()`, tableSizeFor(n) for `new HashMap<>(n)`) iterates n
 * distinct keys with these hash codes, put (HashMap.put: at the tail of its
 * bucket) in index order: out[k] is the index of the k-th key. The table
 * doubles whenever the size passes 3/4 of it; a resize keeps each bucket's
 * order. 0, or -1 when out of memory.
 */
int jo_put_order(const int32_t *hash, size_t n, size_t cap0, size_t *out);

/* The same order applied to v (n elements of size bytes each), in place. */
int jo_put_reorder(void *v, size_t size, size_t n, const int32_t *hash, size_t cap0);

/*
 * The order in which a `new HashMap<>()` filled only by computeIfAbsent
 * iterates n distinct keys with these hash codes: key i is asked for calls[i]
 * times (at least once), all before key i + 1. computeIfAbsent puts a new key
 * at the head of its bucket (the newest first, which resizes keep) and grows
 * the table at the start of a call that finds it past 3/4 full, or when a
 * bucket reaches 8 keys while the table is under 64. out[k] is the index of
 * the k-th key. 0, or -1 when out of memory.
 */
int jo_compute_if_absent_order(const int32_t *hash, const int *calls, size_t n, size_t *out);

#endif
