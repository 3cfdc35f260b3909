/*
 * fetcher.h - followers copy their leaders' logs (Kafka's replica fetcher).
 *
 * On a cluster, a broker that holds a replica of a partition it does not
 * lead fetches the leader's batches with Fetch, as Kafka's followers do
 * (ReplicaId / ReplicaState = this broker, so the leader answers beyond its
 * high watermark), and appends them unchanged: same offsets, same leader
 * epochs, same bytes (partition_append_follower). One fetcher per source
 * broker carries every partition this broker follows there, on one
 * outbound connection (net/client.h), one Fetch in flight at a time, long
 * polled by the leader (replica.fetch.wait.max.ms).
 *
 * The publisher (broker/publisher.c) tells it what to follow as the
 * metadata image changes: replicas_follow when a local replica's leader is
 * another alive broker, replicas_unfollow when this broker leads it, stops
 * being a replica, or the topic goes.
 *
 * Not yet (issue 12's next steps): the follower's high watermark and the
 * leader's ISR; truncation by leader epoch (OffsetForLeaderEpoch) - a
 * follower ahead of its leader truncates to the leader's high watermark,
 * and one behind the leader's log start starts again there.
 *
 * Threads: replicas_follow/unfollow from any thread (posted); the fetching
 * runs on the reactor given to replicas_new.
 */
#ifndef GREGOR_REPLICA_FETCHER_H
#define GREGOR_REPLICA_FETCHER_H

#include <stdint.h>

#include "net/reactor.h"
#include "proto/codec.h"

struct topic;
typedef struct replicas replicas;

typedef struct replicas_config {
    int32_t node_id;
    int32_t wait_max_ms;        /* replica.fetch.wait.max.ms: 500 */
    int32_t min_bytes;          /* replica.fetch.min.bytes: 1 */
    int32_t max_bytes;          /* replica.fetch.max.bytes (per partition): 1 MiB */
    int32_t response_max_bytes; /* replica.fetch.response.max.bytes: 10 MiB */
    int32_t backoff_ms;         /* replica.fetch.backoff.ms: 1000 */
    int32_t fetchers;           /* num.replica.fetchers: connections per source broker (1) */
} replicas_config;

replicas *replicas_new(reactor *r, const replicas_config *cfg);
/* Unfollow everything and close the connections (on the reactor; returns
 * once posted); the reactor must still run until it is stopped. */
void replicas_stop(replicas *rm);
/* After the reactor stopped. */
void replicas_free(replicas *rm);

/* Follow partition `index` of topic tp (referenced while followed) on
 * broker `leader` at host:port, in leader epoch `epoch`. Following the same
 * partition again moves it (a new leader or epoch). */
void replicas_follow(replicas *rm, struct topic *tp, int32_t index, int32_t leader, const char *host, int port,
                     int32_t epoch);
/* Stop following it (no-op when not followed). index -1: every partition
 * of the topic. */
void replicas_unfollow(replicas *rm, kp_uuid topic_id, int32_t index);

#endif
