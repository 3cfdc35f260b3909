package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.function.Executable;

/**
 * The group scenarios with group.protocol=classic (JoinGroup/SyncGroup/
 * Heartbeat), plus what only the classic protocol has: the client-side
 * cooperative-sticky assignor (incremental rebalances over several join
 * rounds) and static membership (group.instance.id, KIP-345).
 */
class ClassicGroupTest extends GroupScenarios {
    private static final long REBALANCE_TIMEOUT_MS = 60_000;

    @Override
    protected String protocol() {
        return "classic";
    }

    @Override
    protected void scenario(Executable body) throws Throwable {
        body.execute();
    }

    /** Records what the listener saw, so the test can tell an eager from a cooperative rebalance. */
    static final class Seen implements ConsumerRebalanceListener {
        final List<TopicPartition> revoked = new ArrayList<>();
        final List<TopicPartition> lost = new ArrayList<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            revoked.addAll(parts);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) { }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            lost.addAll(parts);
        }
    }

    private KafkaConsumer<String, String> consumerWith(String group, String key, String value) {
        Properties p = consumerProps(group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        p.put(key, value);
        return new KafkaConsumer<>(p);
    }

    @Test
    void cooperativeStickyMovesOnlyWhatMustMove(TestInfo info) throws Exception {
        String topic = unique("coop", info);
        String group = unique("g-coop", info);
        createTopic(topic, 4);
        String assignor = CooperativeStickyAssignor.class.getName();
        Seen seenA = new Seen();
        try (KafkaConsumer<String, String> a = consumerWith(group, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor)) {
            a.subscribe(List.of(topic), seenA);
            pollUntilAssigned(a, 4);
            Set<TopicPartition> before = new HashSet<>(a.assignment());
            try (KafkaConsumer<String, String> b = consumerWith(group, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor)) {
                b.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + REBALANCE_TIMEOUT_MS;
                boolean aEverEmpty = false;
                while (System.currentTimeMillis() < deadline
                        && !(a.assignment().size() == 2 && b.assignment().size() == 2)) {
                    a.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                    aEverEmpty |= a.assignment().isEmpty();
                }
                assertEquals(2, a.assignment().size(), "first member: " + a.assignment());
                assertEquals(2, b.assignment().size(), "second member: " + b.assignment());
                assertTrue(disjoint(a.assignment(), b.assignment()));
                // Cooperative: the first member gave up only the two partitions that moved
                // to the second one, and kept the others throughout.
                assertTrue(!aEverEmpty, "the first member was left with nothing during the rebalance");
                assertEquals(new HashSet<>(b.assignment()), new HashSet<>(seenA.revoked));
                Set<TopicPartition> kept = new HashSet<>(before);
                kept.removeAll(seenA.revoked);
                assertEquals(kept, a.assignment());
                assertEquals(List.of(), seenA.lost);
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                assertEquals("cooperative-sticky", d.partitionAssignor());
                assertEquals(2, d.members().size());
            }
        }
    }

    @Test
    void staticMemberKeepsItsPartitionsAcrossARestart(TestInfo info) throws Throwable {
        String topic = unique("static", info);
        String group = unique("g-static", info);
        createTopic(topic, 2);
        Seen seenB = new Seen();
        try (KafkaConsumer<String, String> b = consumerWith(group, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-b")) {
            Set<TopicPartition> aHad;
            try (KafkaConsumer<String, String> a = consumerWith(group, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a")) {
                a.subscribe(List.of(topic));
                pollUntilAssigned(a, 2);
                b.subscribe(List.of(topic), seenB);
                long deadline = System.currentTimeMillis() + REBALANCE_TIMEOUT_MS;
                while (System.currentTimeMillis() < deadline && !(a.assignment().size() == 1 && b.assignment().size() == 1)) {
                    a.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                }
                assertEquals(1, a.assignment().size());
                assertEquals(1, b.assignment().size());
                aHad = new HashSet<>(a.assignment());
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                Set<String> ids = new HashSet<>();
                for (MemberDescription m : d.members()) ids.add(m.groupInstanceId().orElse("none"));
                assertEquals(Set.of("instance-a", "instance-b"), ids);
            }
            // A static member does not leave the group on close: the group keeps it
            // (until its session times out) and does not rebalance.
            int revokedBefore = seenB.revoked.size();
            for (int i = 0; i < 10; i++) b.poll(Duration.ofMillis(100));
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            assertEquals(2, d.members().size(), "static member still in the group after close: " + d);
            // The same instance comes back and gets its partition again, with no
            // rebalance of the other member: Kafka (and Gregor) decide by the
            // protocol the group would select, not by the subscription bytes,
            // which the Java consumer changes at every restart.
            try (KafkaConsumer<String, String> a2 = consumerWith(group, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a")) {
                a2.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + REBALANCE_TIMEOUT_MS;
                while (System.currentTimeMillis() < deadline && a2.assignment().size() != 1) {
                    a2.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                }
                for (int i = 0; i < 10; i++) b.poll(Duration.ofMillis(100));
                assertEquals(revokedBefore, seenB.revoked.size(), "the other member was made to rebalance");
                assertEquals(aHad, a2.assignment());
                assertEquals(1, b.assignment().size());
            }
        }
    }
}
