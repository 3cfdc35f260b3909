package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.function.Executable;

/**
 * Consumer-group scenarios of the Java consumer, written once and run with
 * each group protocol by the subclasses: partitions split between two
 * members and moved on join and on leave, commitSync and commitAsync read
 * back with committed(), auto-commit on close, seek, pause/resume,
 * offsetsForTimes.
 */
abstract class GroupScenarios extends BrokerTest {
    private static final long REBALANCE_TIMEOUT_MS = 60_000;

    /** "classic" or "consumer" (KIP-848). */
    protected abstract String protocol();

    /** Runs one scenario: plainly, or as the protocol's expected failure on Gregor. */
    protected abstract void scenario(Executable body) throws Throwable;

    KafkaConsumer<String, String> groupConsumer(String group) {
        Properties p = consumerProps(group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol());
        return new KafkaConsumer<>(p);
    }

    static void produce(String topic, int partition, int n, long firstTimestamp, long step) throws Exception {
        try (KafkaProducer<String, String> p = plainProducer()) {
            for (int i = 0; i < n; i++) {
                Long ts = firstTimestamp < 0 ? null : firstTimestamp + i * step;
                p.send(new ProducerRecord<>(topic, partition, ts, "k" + i, "p" + partition + "-" + i));
            }
            p.flush();
        }
    }

    /** Polls until the consumer holds {@code n} partitions; the records polled meanwhile are kept. */
    static List<ConsumerRecord<String, String>> pollUntilAssigned(KafkaConsumer<String, String> c, int n)
            throws InterruptedException {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + REBALANCE_TIMEOUT_MS;
        while (c.assignment().size() != n && System.currentTimeMillis() < deadline) {
            c.poll(Duration.ofMillis(100)).forEach(got::add);
        }
        assertEquals(n, c.assignment().size(), "partitions assigned within " + REBALANCE_TIMEOUT_MS + " ms: " + c.assignment());
        return got;
    }

    @Test
    void partitionsSplitOnJoinAndMoveOnLeave(TestInfo info) throws Throwable {
        String topic = unique("split", info);
        String group = unique("g-split", info);
        createTopic(topic, 4);
        for (int p = 0; p < 4; p++) produce(topic, p, 5, -1, 0);
        scenario(() -> {
            try (KafkaConsumer<String, String> a = groupConsumer(group)) {
                a.subscribe(List.of(topic));
                pollUntilAssigned(a, 4);
                try (KafkaConsumer<String, String> b = groupConsumer(group)) {
                    b.subscribe(List.of(topic));
                    // Both members poll while the group rebalances; each must end with two
                    // partitions and together they hold all four, once each.
                    long deadline = System.currentTimeMillis() + REBALANCE_TIMEOUT_MS;
                    while (System.currentTimeMillis() < deadline
                            && !(a.assignment().size() == 2 && b.assignment().size() == 2
                                 && disjoint(a.assignment(), b.assignment()))) {
                        a.poll(Duration.ofMillis(100));
                        b.poll(Duration.ofMillis(100));
                    }
                    assertEquals(2, a.assignment().size(), "first member after the join: " + a.assignment());
                    assertEquals(2, b.assignment().size(), "second member after the join: " + b.assignment());
                    assertTrue(disjoint(a.assignment(), b.assignment()), a.assignment() + " vs " + b.assignment());
                }
                // The second member left (close sends LeaveGroup): all four return to the first.
                pollUntilAssigned(a, 4);
                assertEquals(Set.of(tp(topic, 0), tp(topic, 1), tp(topic, 2), tp(topic, 3)), a.assignment());
            }
        });
    }

    static boolean disjoint(Set<TopicPartition> x, Set<TopicPartition> y) {
        Set<TopicPartition> all = new HashSet<>(x);
        all.addAll(y);
        return all.size() == x.size() + y.size();
    }

    static TopicPartition tp(String topic, int p) {
        return new TopicPartition(topic, p);
    }

    @Test
    void commitSyncAndAsyncAreReadBack(TestInfo info) throws Throwable {
        String topic = unique("commit", info);
        String group = unique("g-commit", info);
        createTopic(topic, 2);
        produce(topic, 0, 10, -1, 0);
        produce(topic, 1, 10, -1, 0);
        TopicPartition p0 = tp(topic, 0);
        TopicPartition p1 = tp(topic, 1);
        scenario(() -> {
            try (KafkaConsumer<String, String> c = groupConsumer(group)) {
                c.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> got = pollUntilAssigned(c, 2);
                long deadline = System.currentTimeMillis() + 30_000;
                while (got.size() < 20 && System.currentTimeMillis() < deadline) {
                    c.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                assertEquals(20, got.size());
                // Without arguments: the positions of every assigned partition.
                c.commitSync();
                Map<TopicPartition, OffsetAndMetadata> positions = c.committed(Set.of(p0, p1));
                assertEquals(10, positions.get(p0).offset());
                assertEquals(10, positions.get(p1).offset());
                c.commitSync(Map.of(p0, new OffsetAndMetadata(10, "sync")));
                AtomicReference<Object> done = new AtomicReference<>();
                c.commitAsync(Map.of(p1, new OffsetAndMetadata(7, "async")),
                        (offsets, err) -> done.set(err != null ? err : offsets));
                // The callback runs inside a later poll (or commitSync) of the same consumer.
                deadline = System.currentTimeMillis() + 30_000;
                while (done.get() == null && System.currentTimeMillis() < deadline) {
                    c.poll(Duration.ofMillis(100));
                }
                assertEquals(Map.of(p1, new OffsetAndMetadata(7, "async")), done.get());
                Map<TopicPartition, OffsetAndMetadata> committed = c.committed(Set.of(p0, p1));
                assertEquals(10, committed.get(p0).offset());
                assertEquals("sync", committed.get(p0).metadata());
                assertEquals(7, committed.get(p1).offset());
                assertEquals("async", committed.get(p1).metadata());
            }
            // A new member of the group resumes at the committed offsets: p0 is done,
            // p1 goes on at 7.
            try (KafkaConsumer<String, String> c = groupConsumer(group)) {
                c.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> got = pollUntilAssigned(c, 2);
                long deadline = System.currentTimeMillis() + 30_000;
                while (got.size() < 3 && System.currentTimeMillis() < deadline) {
                    c.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                c.poll(Duration.ofMillis(500)).forEach(got::add);   // nothing more may come
                List<String> vals = new ArrayList<>();
                for (ConsumerRecord<String, String> r : got) vals.add(r.value());
                assertEquals(List.of("p1-7", "p1-8", "p1-9"), vals);
            }
        });
    }

    @Test
    void autoCommitCommitsThePositionsOnClose(TestInfo info) throws Throwable {
        String topic = unique("autocommit", info);
        String group = unique("g-autocommit", info);
        createTopic(topic, 1);
        produce(topic, 0, 8, -1, 0);
        TopicPartition p0 = tp(topic, 0);
        scenario(() -> {
            Properties props = consumerProps(group);
            props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol());
            props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
            props.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "60000");   // only the commit on close
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(props)) {
                c.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> got = pollUntilAssigned(c, 1);
                long deadline = System.currentTimeMillis() + 30_000;
                while (got.size() < 8 && System.currentTimeMillis() < deadline) {
                    c.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                assertEquals(8, got.size());
            }
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            assertEquals(8, committed.get(p0).offset());
        });
    }

    @Test
    void seekMovesThePosition(TestInfo info) throws Throwable {
        String topic = unique("seek", info);
        String group = unique("g-seek", info);
        createTopic(topic, 1);
        produce(topic, 0, 10, -1, 0);
        TopicPartition p0 = tp(topic, 0);
        scenario(() -> {
            try (KafkaConsumer<String, String> c = groupConsumer(group)) {
                c.subscribe(List.of(topic));
                pollUntilAssigned(c, 1);
                c.seek(p0, 5);
                assertEquals(5, c.position(p0));
                List<ConsumerRecord<String, String>> got = pollExactly(c, 5, 30_000);
                assertEquals(5, got.get(0).offset());
                assertEquals("p0-5", got.get(0).value());
                c.seekToBeginning(List.of(p0));
                assertEquals(0, c.position(p0));
                assertEquals(0, pollExactly(c, 10, 30_000).get(0).offset());
                c.seekToEnd(List.of(p0));
                assertEquals(10, c.position(p0));
            }
        });
    }

    @Test
    void pauseHoldsBackAPartitionUntilResume(TestInfo info) throws Throwable {
        String topic = unique("pause", info);
        String group = unique("g-pause", info);
        createTopic(topic, 2);
        produce(topic, 0, 5, -1, 0);
        produce(topic, 1, 5, -1, 0);
        TopicPartition p0 = tp(topic, 0);
        TopicPartition p1 = tp(topic, 1);
        scenario(() -> {
            try (KafkaConsumer<String, String> c = groupConsumer(group)) {
                // Pause p1 the moment it is assigned, before any fetch of it.
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) { }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        if (parts.contains(p1)) c.pause(List.of(p1));
                    }
                });
                List<ConsumerRecord<String, String>> got = pollUntilAssigned(c, 2);
                assertEquals(Set.of(p1), c.paused());
                long deadline = System.currentTimeMillis() + 30_000;
                while (got.size() < 5 && System.currentTimeMillis() < deadline) {
                    c.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                for (int i = 0; i < 5; i++) c.poll(Duration.ofMillis(200)).forEach(got::add);
                assertEquals(5, got.size(), "only p0's records while p1 is paused");
                for (ConsumerRecord<String, String> r : got) assertEquals(0, r.partition());
                c.resume(List.of(p1));
                assertEquals(Set.of(), c.paused());
                List<ConsumerRecord<String, String>> rest = pollExactly(c, 5, 30_000);
                for (ConsumerRecord<String, String> r : rest) assertEquals(1, r.partition());
            }
        });
    }

    @Test
    void offsetsForTimesFindsTheFirstLaterRecord(TestInfo info) throws Throwable {
        String topic = unique("times", info);
        String group = unique("g-times", info);
        createTopic(topic, 1);
        long base = System.currentTimeMillis() - 600_000;
        produce(topic, 0, 10, base, 1000);
        TopicPartition p0 = tp(topic, 0);
        scenario(() -> {
            try (KafkaConsumer<String, String> c = groupConsumer(group)) {
                c.subscribe(List.of(topic));
                pollUntilAssigned(c, 1);
                Map<TopicPartition, OffsetAndTimestamp> at = c.offsetsForTimes(Map.of(p0, base + 3500));
                assertNotNull(at.get(p0));
                assertEquals(4, at.get(p0).offset());
                assertEquals(base + 4000, at.get(p0).timestamp());
                assertEquals(0, c.offsetsForTimes(Map.of(p0, 0L)).get(p0).offset());
                assertNull(c.offsetsForTimes(Map.of(p0, base + 60_000)).get(p0), "no record that late");
                c.seek(p0, at.get(p0).offset());
                ConsumerRecord<String, String> first = pollExactly(c, 6, 30_000).get(0);
                assertEquals(4, first.offset());
                assertEquals(base + 4000, first.timestamp());
            }
        });
    }
}
