/*
 * broker_config.h - every server.properties key Gregor knows, in one table.
 *
 * The X-macro list below is the single source for validation (config.c),
 * DescribeConfigs answers, `gregor server --help-config` and
 * docs/configuration.md. Keys keep Kafka's names; keys Gregor accepts but
 * does not act on yet carry CONFIG_F_NO_EFFECT and say so in their doc.
 */
#ifndef GREGOR_BROKER_BROKER_CONFIG_H
#define GREGOR_BROKER_BROKER_CONFIG_H

#include "base/config.h"

#define I32MAX 2147483647LL
#define I64MAX 9223372036854775807LL

/* X(id, name, type, default, min, max, choices, flags, doc) */
#define BROKER_CONFIGS(X) \
    X(NODE_ID, "node.id", CONFIG_INT, "1", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "The id of this node (KRaft's node.id).") \
    X(BROKER_ID, "broker.id", CONFIG_INT, "-1", -1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Legacy alias of node.id; when set it must equal node.id.") \
    X(PROCESS_ROLES, "process.roles", CONFIG_LIST, "broker,controller", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Roles of this process; a single node runs both.") \
    X(CONTROLLER_QUORUM_VOTERS, "controller.quorum.voters", CONFIG_LIST, "", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Metadata quorum voters (id@host:port, their controller listeners): a cluster. Empty: a single node, the only voter, with no quorum traffic.") \
    X(CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS, "controller.quorum.election.timeout.ms", CONFIG_INT, "1000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A voter that hears no leader for a random time in [T, 2T) starts an election.") \
    X(CONTROLLER_QUORUM_ELECTION_BACKOFF_MAX_MS, "controller.quorum.election.backoff.max.ms", CONFIG_INT, "1000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Longest wait before a failed election is retried.") \
    X(CONTROLLER_QUORUM_FETCH_TIMEOUT_MS, "controller.quorum.fetch.timeout.ms", CONFIG_INT, "2000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A follower without an answer from its leader this long starts an election; a leader without fetches from a majority for 1.5x this resigns (check-quorum).") \
    X(CONTROLLER_QUORUM_REQUEST_TIMEOUT_MS, "controller.quorum.request.timeout.ms", CONFIG_INT, "2000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Quorum requests (Vote, BeginQuorumEpoch, Fetch) unanswered this long are sent again.") \
    X(CONTROLLER_QUORUM_RETRY_BACKOFF_MS, "controller.quorum.retry.backoff.ms", CONFIG_INT, "20", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Wait before a quorum request that failed is retried.") \
    X(BROKER_SESSION_TIMEOUT_MS, "broker.session.timeout.ms", CONFIG_INT, "9000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A broker without a heartbeat to the active controller this long is fenced.") \
    X(BROKER_HEARTBEAT_INTERVAL_MS, "broker.heartbeat.interval.ms", CONFIG_INT, "2000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "How often a broker heartbeats to the active controller.") \
    X(REPLICA_FETCH_WAIT_MAX_MS, "replica.fetch.wait.max.ms", CONFIG_INT, "500", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A follower's Fetch waits at its leader this long for new data.") \
    X(REPLICA_FETCH_MIN_BYTES, "replica.fetch.min.bytes", CONFIG_INT, "1", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A follower's Fetch is answered once this many bytes are there (or the wait ends).") \
    X(REPLICA_FETCH_MAX_BYTES, "replica.fetch.max.bytes", CONFIG_INT, "1048576", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Bytes a follower asks per partition in one Fetch (the first batch comes whole even when larger).") \
    X(REPLICA_FETCH_RESPONSE_MAX_BYTES, "replica.fetch.response.max.bytes", CONFIG_INT, "10485760", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Bytes a follower asks in one Fetch in all.") \
    X(REPLICA_LAG_TIME_MAX_MS, "replica.lag.time.max.ms", CONFIG_LONG, "30000", 1, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "A follower that has not caught up with its leader for this long leaves the ISR; one that reaches the high watermark joins it.") \
    X(AUTO_LEADER_REBALANCE_ENABLE, "auto.leader.rebalance.enable", CONFIG_BOOLEAN, "true", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "The active controller gives partitions back to their preferred replica (the first) when a broker leads too few of its own (leader.imbalance.per.broker.percentage), every leader.imbalance.check.interval.seconds.") \
    X(LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS, "leader.imbalance.check.interval.seconds", CONFIG_LONG, "300", 1, I64MAX / 1000, NULL, CONFIG_F_READ_ONLY, \
      "How often the active controller looks for partitions led by a replica other than their preferred one.") \
    X(LEADER_IMBALANCE_PER_BROKER_PERCENTAGE, "leader.imbalance.per.broker.percentage", CONFIG_INT, "10", 0, 100, NULL, CONFIG_F_READ_ONLY, \
      "A broker's partitions go back to it when more than this percentage of those it is the preferred replica of are led by others.") \
    X(NUM_REPLICA_FETCHERS, "num.replica.fetchers", CONFIG_INT, "1", 1, 64, NULL, CONFIG_F_READ_ONLY, \
      "Fetch connections a follower opens to each source broker; a partition always uses the same one (Kafka's fetcher id: a hash of the topic and partition).") \
    X(REPLICA_FETCH_BACKOFF_MS, "replica.fetch.backoff.ms", CONFIG_INT, "1000", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "A follower whose Fetch failed waits this long before the next.") \
    X(BROKER_RACK, "broker.rack", CONFIG_STRING, NULL, 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NULLABLE, \
      "The rack of this broker: replicas of a new partition go to different racks first.") \
    X(CONTROLLER_QUORUM_BOOTSTRAP, "controller.quorum.bootstrap.servers", CONFIG_LIST, "", 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NO_EFFECT, \
      "Accepted for compatibility: the quorum is static (controller.quorum.voters); KIP-853's dynamic voters are not served yet.") \
    X(CONTROLLER_LISTENER_NAMES, "controller.listener.names", CONFIG_LIST, "CONTROLLER", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Names of controller listeners; listeners with these names are not served to clients.") \
    X(LISTENERS, "listeners", CONFIG_LIST, "PLAINTEXT://:9092", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Comma-separated NAME://host:port listeners. An empty host binds all interfaces.") \
    X(ADVERTISED_LISTENERS, "advertised.listeners", CONFIG_LIST, NULL, 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NULLABLE, \
      "Listeners handed to clients in Metadata; default: listeners, with an empty or 0.0.0.0 host advertised as localhost.") \
    X(LISTENER_SECURITY_PROTOCOL_MAP, "listener.security.protocol.map", CONFIG_LIST, \
      "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Listener name to security protocol. Only PLAINTEXT is served so far.") \
    X(INTER_BROKER_LISTENER_NAME, "inter.broker.listener.name", CONFIG_STRING, NULL, 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NULLABLE | CONFIG_F_NO_EFFECT, \
      "Accepted for compatibility: brokers (replica fetchers, transaction markers) reach each other on the one client listener Gregor serves; controllers use controller.listener.names.") \
    X(LOG_DIRS, "log.dirs", CONFIG_LIST, NULL, 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NULLABLE, \
      "Directory holding the partition logs (one directory so far). Overrides log.dir.") \
    X(LOG_DIR, "log.dir", CONFIG_STRING, "/tmp/kraft-combined-logs", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Log directory used when log.dirs is not set.") \
    X(METADATA_LOG_DIR, "metadata.log.dir", CONFIG_STRING, NULL, 0, 0, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NULLABLE, \
      "Directory of the __cluster_metadata log; default: the log directory.") \
    X(METADATA_LOG_SEGMENT_BYTES, "metadata.log.segment.bytes", CONFIG_INT, "1073741824", 16384, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Segment size of the __cluster_metadata log; whole segments before the latest snapshot are deleted. (Kafka requires at least 8 MiB; Gregor allows 16 KiB.)") \
    X(METADATA_LOG_MAX_RECORD_BYTES_BETWEEN_SNAPSHOTS, "metadata.log.max.record.bytes.between.snapshots", CONFIG_LONG, "20971520", 1, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Write a metadata snapshot (a .checkpoint file of the whole metadata image) once this many bytes of metadata records were committed since the last one.") \
    X(METADATA_LOG_MAX_SNAPSHOT_INTERVAL_MS, "metadata.log.max.snapshot.interval.ms", CONFIG_LONG, "3600000", 0, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Write a metadata snapshot at the latest this long after the first committed record it would contain; 0: by size only.") \
    X(NUM_PARTITIONS, "num.partitions", CONFIG_INT, "1", 1, 100000, NULL, 0, \
      "Partitions of an auto-created topic, and of CreateTopics with num_partitions -1.") \
    X(DEFAULT_REPLICATION_FACTOR, "default.replication.factor", CONFIG_SHORT, "1", 1, 32767, NULL, 0, \
      "Replication factor of auto-created topics and of CreateTopics with -1.") \
    X(AUTO_CREATE_TOPICS_ENABLE, "auto.create.topics.enable", CONFIG_BOOLEAN, "true", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Create a topic when a client asks Metadata for it and allows auto-creation.") \
    X(DELETE_TOPIC_ENABLE, "delete.topic.enable", CONFIG_BOOLEAN, "true", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Allow DeleteTopics.") \
    X(LOG_SEGMENT_BYTES, "log.segment.bytes", CONFIG_INT, "1073741824", 14, I32MAX, NULL, 0, \
      "Default segment.bytes: roll a new segment when the active one would exceed this size.") \
    X(LOG_ROLL_MS, "log.roll.ms", CONFIG_LONG, NULL, 1, I64MAX, NULL, CONFIG_F_NULLABLE, \
      "Default segment.ms; when unset, log.roll.hours.") \
    X(LOG_ROLL_HOURS, "log.roll.hours", CONFIG_INT, "168", 1, I32MAX, NULL, 0, \
      "Default segment age before a roll, in hours.") \
    X(LOG_RETENTION_MS, "log.retention.ms", CONFIG_LONG, NULL, -1, I64MAX, NULL, CONFIG_F_NULLABLE, \
      "Default retention.ms; -1 keeps data forever. When unset: log.retention.minutes, then log.retention.hours.") \
    X(LOG_RETENTION_MINUTES, "log.retention.minutes", CONFIG_INT, NULL, -1, I32MAX, NULL, CONFIG_F_NULLABLE, \
      "Retention in minutes, used when log.retention.ms is unset.") \
    X(LOG_RETENTION_HOURS, "log.retention.hours", CONFIG_INT, "168", -1, I32MAX, NULL, 0, \
      "Retention in hours, used when the ms and minutes keys are unset.") \
    X(LOG_RETENTION_BYTES, "log.retention.bytes", CONFIG_LONG, "-1", -1, I64MAX, NULL, 0, \
      "Default retention.bytes per partition; -1 means no size limit.") \
    X(LOG_RETENTION_CHECK_INTERVAL_MS, "log.retention.check.interval.ms", CONFIG_LONG, "300000", 1, I64MAX, NULL, 0, \
      "How often retention is enforced.") \
    X(LOG_INDEX_INTERVAL_BYTES, "log.index.interval.bytes", CONFIG_INT, "4096", 0, I32MAX, NULL, 0, \
      "Default index.interval.bytes: bytes of log between two offset-index entries.") \
    X(LOG_INDEX_SIZE_MAX_BYTES, "log.index.size.max.bytes", CONFIG_INT, "10485760", 4, I32MAX, NULL, 0, \
      "Default segment.index.bytes: the largest offset index; a full index rolls the segment.") \
    X(LOG_FLUSH_INTERVAL_MESSAGES, "log.flush.interval.messages", CONFIG_LONG, "1", 1, I64MAX, NULL, 0, \
      "Default flush.messages. 1 (Gregor's default): an acks=all produce is answered after its data is fsynced (group commit). " \
      "9223372036854775807 (Kafka's default): never fsync on the produce path; rely on log.flush.interval.ms and replication.") \
    X(LOG_FLUSH_INTERVAL_MS, "log.flush.interval.ms", CONFIG_LONG, NULL, 0, I64MAX, NULL, CONFIG_F_NULLABLE, \
      "Default flush.ms: fsync partitions whose oldest unflushed data is older than this. Unset: never by time.") \
    X(LOG_FLUSH_SCHEDULER_INTERVAL_MS, "log.flush.scheduler.interval.ms", CONFIG_LONG, "1000", 1, I64MAX, NULL, 0, \
      "How often partitions are checked for flush.ms; also how often acks=0/1 data of flush.messages=1 topics is fsynced.") \
    X(LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS, "log.flush.offset.checkpoint.interval.ms", CONFIG_INT, "60000", 1, I32MAX, NULL, 0, \
      "How often the recovery-point checkpoint file is rewritten.") \
    X(LOG_MESSAGE_TIMESTAMP_TYPE, "log.message.timestamp.type", CONFIG_STRING, "CreateTime", 0, 0, ts_type_choices, 0, \
      "Default message.timestamp.type: CreateTime keeps the producer's timestamps, LogAppendTime stamps batches on append.") \
    X(LOG_CLEANUP_POLICY, "log.cleanup.policy", CONFIG_LIST, "delete", 0, 0, cleanup_choices, 0, \
      "Default cleanup.policy: delete (retention), compact (the log cleaner keeps the latest record per key) or both.") \
    X(LOG_SEGMENT_DELETE_DELAY_MS, "log.segment.delete.delay.ms", CONFIG_LONG, "60000", 0, I64MAX, NULL, 0, \
      "Default file.delete.delay.ms: how long a removed segment's files stay as *.deleted before they are unlinked.") \
    X(LOG_PREALLOCATE, "log.preallocate", CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, \
      "Default preallocate: reserve a new segment's segment.bytes of disk blocks when it is created.") \
    X(LOG_ROLL_JITTER_MS, "log.roll.jitter.ms", CONFIG_LONG, "0", 0, I64MAX, NULL, 0, \
      "Default segment.jitter.ms.") \
    X(UNCLEAN_LEADER_ELECTION_ENABLE, "unclean.leader.election.enable", CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, \
      "Default unclean.leader.election.enable: when a partition's last in-sync replica is lost, may another live replica lead it (what only the lost ISR had is gone)? Read by the active controller.") \
    X(LOG_CLEANER_ENABLE, "log.cleaner.enable", CONFIG_BOOLEAN, "true", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Run the log cleaner. Off: compacted topics (__consumer_offsets too) grow without bound.") \
    X(LOG_CLEANER_THREADS, "log.cleaner.threads", CONFIG_INT, "1", 0, 64, NULL, CONFIG_F_READ_ONLY, \
      "Cleaner threads; each cleans one log at a time.") \
    X(LOG_CLEANER_DEDUPE_BUFFER_SIZE, "log.cleaner.dedupe.buffer.size", CONFIG_LONG, "134217728", 1048576, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Memory for the key -> offset maps of all cleaner threads together (24 bytes a key); a log whose dirty part has more keys is cleaned in several passes.") \
    X(LOG_CLEANER_IO_BUFFER_SIZE, "log.cleaner.io.buffer.size", CONFIG_INT, "524288", 4096, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Read and write buffer of each cleaner thread (a larger batch grows it for its own read).") \
    X(LOG_CLEANER_IO_BUFFER_LOAD_FACTOR, "log.cleaner.io.buffer.load.factor", CONFIG_DOUBLE, "0.9", 0, 1, NULL, CONFIG_F_READ_ONLY, \
      "How full a cleaner's key map may get before a pass stops reading dirty records.") \
    X(LOG_CLEANER_IO_MAX_BYTES_PER_SECOND, "log.cleaner.io.max.bytes.per.second", CONFIG_DOUBLE, "1.7976931348623157E308", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Cap on what the cleaner threads read and write together, bytes a second.") \
    X(LOG_CLEANER_BACKOFF_MS, "log.cleaner.backoff.ms", CONFIG_LONG, "15000", 0, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "How long an idle cleaner thread sleeps before looking for a dirty log again.") \
    X(LOG_CLEANER_MIN_CLEANABLE_RATIO, "log.cleaner.min.cleanable.ratio", CONFIG_DOUBLE, "0.5", 0, 1, NULL, 0, \
      "Default min.cleanable.dirty.ratio.") \
    X(LOG_CLEANER_DELETE_RETENTION_MS, "log.cleaner.delete.retention.ms", CONFIG_LONG, "86400000", 0, I64MAX, NULL, 0, \
      "Default delete.retention.ms.") \
    X(LOG_CLEANER_MIN_COMPACTION_LAG_MS, "log.cleaner.min.compaction.lag.ms", CONFIG_LONG, "0", 0, I64MAX, NULL, 0, \
      "Default min.compaction.lag.ms.") \
    X(LOG_CLEANER_MAX_COMPACTION_LAG_MS, "log.cleaner.max.compaction.lag.ms", CONFIG_LONG, "9223372036854775807", 1, I64MAX, NULL, 0, \
      "Default max.compaction.lag.ms.") \
    X(COMPRESSION_TYPE, "compression.type", CONFIG_STRING, "producer", 0, 0, compression_choices, 0, \
      "Default compression.type: producer stores batches as sent; uncompressed, gzip, snappy, lz4 or zstd recompresses batches in another codec on append.") \
    X(COMPRESSION_GZIP_LEVEL, "compression.gzip.level", CONFIG_INT, "-1", -1, 9, NULL, 0, \
      "Default compression.gzip.level (1..9, -1 zlib's default).") \
    X(COMPRESSION_LZ4_LEVEL, "compression.lz4.level", CONFIG_INT, "9", 1, 17, NULL, 0, \
      "Default compression.lz4.level (1..17).") \
    X(COMPRESSION_ZSTD_LEVEL, "compression.zstd.level", CONFIG_INT, "3", -131072, 22, NULL, 0, \
      "Default compression.zstd.level (-131072..22).") \
    X(LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS, "log.message.timestamp.before.max.ms", CONFIG_LONG, "9223372036854775807", 0, I64MAX, NULL, 0, \
      "Default message.timestamp.before.max.ms.") \
    X(LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS, "log.message.timestamp.after.max.ms", CONFIG_LONG, "3600000", 0, I64MAX, NULL, 0, \
      "Default message.timestamp.after.max.ms.") \
    X(MESSAGE_MAX_BYTES, "message.max.bytes", CONFIG_INT, "1048588", 0, I32MAX, NULL, 0, \
      "Default max.message.bytes: the largest record batch a partition accepts.") \
    X(MIN_INSYNC_REPLICAS, "min.insync.replicas", CONFIG_INT, "1", 1, I32MAX, NULL, 0, \
      "Default min.insync.replicas.") \
    X(SOCKET_REQUEST_MAX_BYTES, "socket.request.max.bytes", CONFIG_INT, "104857600", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Largest request frame; a larger size prefix closes the connection.") \
    X(SOCKET_SEND_BUFFER_BYTES, "socket.send.buffer.bytes", CONFIG_INT, "102400", -1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "SO_SNDBUF of client sockets; -1 leaves the OS default.") \
    X(SOCKET_RECEIVE_BUFFER_BYTES, "socket.receive.buffer.bytes", CONFIG_INT, "102400", -1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "SO_RCVBUF of client sockets; -1 leaves the OS default.") \
    X(MAX_CONNECTIONS, "max.connections", CONFIG_INT, "10000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Most client connections at once; past it the broker stops accepting (new connections wait in the listen backlog until one closes, as Kafka's acceptor does), with a rate-limited log line.") \
    X(MAX_CONNECTIONS_PER_IP, "max.connections.per.ip", CONFIG_INT, "2147483647", 0, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Most connections from one client address; further ones are accepted and closed at once, with a (rate-limited) log line.") \
    X(MAX_CONNECTIONS_PER_IP_OVERRIDES, "max.connections.per.ip.overrides", CONFIG_LIST, "", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Per-address exceptions to max.connections.per.ip: host:count,... (IP literals or names, resolved at start).") \
    X(CONNECTIONS_MAX_IDLE_MS, "connections.max.idle.ms", CONFIG_LONG, "600000", 1, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Close connections idle for longer than this.") \
    X(QUEUED_MAX_REQUESTS, "queued.max.requests", CONFIG_INT, "500", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "Requests a single connection may have in flight; past it the broker stops reading that socket.") \
    X(QUEUED_MAX_REQUEST_BYTES, "queued.max.request.bytes", CONFIG_LONG, "268435456", -1, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Bytes of requests held in memory across all connections; past it sockets are not read until some complete. -1: no limit.") \
    X(NUM_NETWORK_THREADS, "num.network.threads", CONFIG_INT, "0", 0, 256, NULL, CONFIG_F_READ_ONLY, \
      "Reactor threads; 0 means one per CPU core.") \
    X(NUM_IO_THREADS, "num.io.threads", CONFIG_INT, "8", 1, 256, NULL, CONFIG_F_READ_ONLY, \
      "Threads that fsync partition logs at once (the flusher and this many minus one helpers; group commit for acks=all). Requests are handled on the reactor threads, large appends on one append lane per core.") \
    X(NUM_RECOVERY_THREADS, "num.recovery.threads.per.data.dir", CONFIG_INT, "1", 1, 256, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NO_EFFECT, \
      "Accepted for compatibility: recovery runs on one thread.") \
    X(FETCH_MAX_BYTES, "fetch.max.bytes", CONFIG_INT, "57671680", 1024, I32MAX, NULL, 0, \
      "Upper bound on the bytes one Fetch response carries, whatever the client asks.") \
    X(OFFSETS_TOPIC_NUM_PARTITIONS, "offsets.topic.num.partitions", CONFIG_INT, "50", 1, 100000, NULL, CONFIG_F_READ_ONLY, \
      "Partitions of __consumer_offsets, fixed when the topic is first created.") \
    X(OFFSETS_TOPIC_SEGMENT_BYTES, "offsets.topic.segment.bytes", CONFIG_INT, "104857600", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "segment.bytes of __consumer_offsets when it is created (the cleaner compacts closed segments only).") \
    X(OFFSETS_TOPIC_REPLICATION_FACTOR, "offsets.topic.replication.factor", CONFIG_SHORT, "3", 1, 32767, NULL, CONFIG_F_READ_ONLY, \
      "Replication factor of __consumer_offsets when it is created; a cluster with fewer brokers refuses it (as Kafka). A node without controller.quorum.voters uses 1.") \
    X(OFFSETS_COMMIT_TIMEOUT_MS, "offsets.commit.timeout.ms", CONFIG_INT, "5000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "An offset commit on a replicated __consumer_offsets waits this long for every in-sync replica, then answers COORDINATOR_NOT_AVAILABLE (the client retries).") \
    X(OFFSETS_RETENTION_MINUTES, "offsets.retention.minutes", CONFIG_INT, "10080", 1, I32MAX, NULL, 0, \
      "Committed offsets of a group without members are deleted this long after the group became empty or the last commit.") \
    X(OFFSETS_RETENTION_CHECK_INTERVAL_MS, "offsets.retention.check.interval.ms", CONFIG_LONG, "600000", 1, I64MAX, NULL, 0, \
      "How often expired offsets are looked for.") \
    X(OFFSET_METADATA_MAX_BYTES, "offset.metadata.max.bytes", CONFIG_INT, "4096", 0, I32MAX, NULL, 0, \
      "Largest metadata string of a committed offset; larger gets OFFSET_METADATA_TOO_LARGE.") \
    X(GROUP_MIN_SESSION_TIMEOUT_MS, "group.min.session.timeout.ms", CONFIG_INT, "6000", 0, I32MAX, NULL, 0, \
      "Smallest session.timeout.ms a consumer may ask for (else INVALID_SESSION_TIMEOUT).") \
    X(GROUP_MAX_SESSION_TIMEOUT_MS, "group.max.session.timeout.ms", CONFIG_INT, "1800000", 0, I32MAX, NULL, 0, \
      "Largest session.timeout.ms a consumer may ask for.") \
    X(GROUP_MAX_SIZE, "group.max.size", CONFIG_INT, "2147483647", 1, I32MAX, NULL, 0, \
      "Most members in one group (else GROUP_MAX_SIZE_REACHED).") \
    X(GROUP_INITIAL_REBALANCE_DELAY_MS, "group.initial.rebalance.delay.ms", CONFIG_INT, "3000", 0, I32MAX, NULL, 0, \
      "How long the first rebalance of an empty group waits for more members to join.") \
    X(PRODUCER_ID_EXPIRATION_MS, "producer.id.expiration.ms", CONFIG_INT, "86400000", 1, I32MAX, NULL, 0, \
      "A partition forgets an idempotent producer this long after its last batch's timestamp (unless a transaction of it is open); a later retry of that producer is then not recognised as a duplicate.") \
    X(PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS, "producer.id.expiration.check.interval.ms", CONFIG_INT, "600000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "How often partitions look for expired producer ids.") \
    X(TXN_STATE_LOG_NUM_PARTITIONS, "transaction.state.log.num.partitions", CONFIG_INT, "50", 1, 100000, NULL, CONFIG_F_READ_ONLY, \
      "Partitions of __transaction_state, fixed when the topic is first created; a transactional id belongs to one of them.") \
    X(TXN_STATE_LOG_SEGMENT_BYTES, "transaction.state.log.segment.bytes", CONFIG_INT, "104857600", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "segment.bytes of __transaction_state when it is created.") \
    X(TXN_STATE_LOG_REPLICATION_FACTOR, "transaction.state.log.replication.factor", CONFIG_SHORT, "3", 1, 32767, NULL, CONFIG_F_READ_ONLY, \
      "Replication factor of __transaction_state when it is created; a cluster with fewer brokers refuses it (as Kafka). A node without controller.quorum.voters uses 1.") \
    X(TXN_STATE_LOG_MIN_ISR, "transaction.state.log.min.isr", CONFIG_INT, "2", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "min.insync.replicas of __transaction_state when it is created (capped at its replica count).") \
    X(TXN_PARTITION_VERIFICATION_ENABLE, "transaction.partition.verification.enable", CONFIG_BOOLEAN, "true", 0, 0, NULL, 0, \
      "A transactional batch is appended only to a partition its transaction added (AddPartitionsToTxn), else INVALID_TXN_STATE, so a stray write cannot leave a transaction hanging (KIP-890).") \
    X(TXN_MAX_TIMEOUT_MS, "transaction.max.timeout.ms", CONFIG_INT, "900000", 1, I32MAX, NULL, 0, \
      "Largest transaction.timeout.ms a producer may ask for (else INVALID_TRANSACTION_TIMEOUT).") \
    X(TXN_ID_EXPIRATION_MS, "transactional.id.expiration.ms", CONFIG_INT, "604800000", 1, I32MAX, NULL, 0, \
      "A transactional id with no transaction for this long is forgotten (its record tombstoned).") \
    X(TXN_ABORT_CHECK_INTERVAL_MS, "transaction.abort.timed.out.transaction.cleanup.interval.ms", CONFIG_INT, "10000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "How often transactions past their timeout are looked for and aborted.") \
    X(TXN_EXPIRE_CHECK_INTERVAL_MS, "transaction.remove.expired.transaction.cleanup.interval.ms", CONFIG_INT, "3600000", 1, I32MAX, NULL, CONFIG_F_READ_ONLY, \
      "How often expired transactional ids are looked for.") \
    X(SHARE_COORDINATOR_RF, "share.coordinator.state.topic.replication.factor", CONFIG_SHORT, "1", 1, 32767, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NO_EFFECT, \
      "Accepted for compatibility; share groups are not served yet.") \
    X(SHARE_COORDINATOR_MIN_ISR, "share.coordinator.state.topic.min.isr", CONFIG_SHORT, "1", 1, 32767, NULL, CONFIG_F_READ_ONLY | CONFIG_F_NO_EFFECT, \
      "Accepted for compatibility; share groups are not served yet.") \
    X(LOG_SCRUB_INTERVAL_MS, "log.scrub.interval.ms", CONFIG_LONG, "86400000", 0, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Gregor's own. How often every closed segment is read again and its batches checked (CRC, lengths, offset order); a damaged batch is logged and refused to consumers (KAFKA_STORAGE_ERROR) instead of served. 0 turns the scrubber off.") \
    X(LOG_SCRUB_BYTES_PER_SECOND, "log.scrub.bytes.per.second", CONFIG_LONG, "16777216", 1, I64MAX, NULL, CONFIG_F_READ_ONLY, \
      "Gregor's own. The scrubber's average read rate; it reads one segment at a time, then rests to keep this average.") \
    X(LOG_RECOVERY_TRUNCATE_CORRUPT, "log.recovery.truncate.corrupt", CONFIG_BOOLEAN, "false", 0, 0, NULL, CONFIG_F_READ_ONLY, \
      "Gregor's own. At start, recovery cuts a log at corrupt data (a bad batch that is not a torn last write) and starts, losing what follows; by default the start stops and names the file and position. Set it for one start, after reading why.") \
    X(LOG_DEBUG, "log.debug", CONFIG_LIST, "", 0, 0, NULL, 0, \
      "Gregor: subsystems whose debug lines are printed (net,log,broker,meta or all).")

enum broker_config_id {
#define X(id, ...) BCFG_##id,
    BROKER_CONFIGS(X)
#undef X
    BCFG_COUNT
};

extern const config_def broker_config_defs[BCFG_COUNT];

/* Effective values that depend on several keys (Kafka's fallbacks). */
int64_t broker_config_retention_ms(const config_set *cs);
int64_t broker_config_roll_ms(const config_set *cs);
const char *broker_config_log_dir(const config_set *cs);

#endif
