package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The Java AdminClient: topics (create, describe, list, delete, add
 * partitions), topic configs (describe, incremental alter), listOffsets
 * (earliest, latest, max timestamp, by time; unknown topic), consumer groups
 * (list, describe, alter offsets, delete; refused while the group has a
 * member), describeCluster and deleteRecords.
 */
class AdminTest extends BrokerTest {
    private static final long T = 30;   // seconds for one admin call

    private static int brokerPort() {
        return Integer.parseInt(broker.bootstrap.substring(broker.bootstrap.lastIndexOf(':') + 1));
    }

    private static Set<String> topicNames() throws Exception {
        return admin.listTopics().names().get(T, TimeUnit.SECONDS);
    }

    @Test
    void describeClusterNamesThisBroker() throws Exception {
        DescribeClusterResult r = admin.describeCluster();
        Collection<Node> nodes = r.nodes().get(T, TimeUnit.SECONDS);
        assertEquals(1, nodes.size(), nodes.toString());
        Node n = nodes.iterator().next();
        assertEquals("127.0.0.1", n.host());
        assertEquals(brokerPort(), n.port());
        String clusterId = r.clusterId().get(T, TimeUnit.SECONDS);
        assertNotNull(clusterId);
        assertFalse(clusterId.isEmpty());
        // Clients see a broker as the controller (KRaft hides the real controllers).
        assertEquals(n.id(), r.controller().get(T, TimeUnit.SECONDS).id());
    }

    @Test
    void topicsCreateDescribeListDelete(TestInfo info) throws Exception {
        String a = unique("adm-a", info);
        String b = unique("adm-b", info);
        admin.createTopics(List.of(new NewTopic(a, 3, (short) 1),
                        new NewTopic(b, 1, (short) 1).configs(Map.of("retention.ms", "3600000"))))
                .all().get(T, TimeUnit.SECONDS);
        waitUntil("both topics listed", 30_000, () -> {
            try {
                return topicNames().containsAll(Set.of(a, b));
            } catch (Exception e) {
                return false;
            }
        });
        // Creating an existing topic is refused with TopicExistsException.
        ExecutionException dup = assertThrows(ExecutionException.class, () ->
                admin.createTopics(List.of(new NewTopic(a, 3, (short) 1))).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(TopicExistsException.class, dup.getCause());

        int nodeId = admin.describeCluster().nodes().get(T, TimeUnit.SECONDS).iterator().next().id();
        Map<String, TopicDescription> d = admin.describeTopics(List.of(a, b)).allTopicNames().get(T, TimeUnit.SECONDS);
        assertEquals(3, d.get(a).partitions().size());
        assertEquals(1, d.get(b).partitions().size());
        assertFalse(d.get(a).isInternal());
        assertNotNull(d.get(a).topicId());
        assertNotEquals(d.get(a).topicId(), d.get(b).topicId());
        for (int i = 0; i < 3; i++) {
            TopicPartitionInfo p = d.get(a).partitions().get(i);
            assertEquals(i, p.partition());
            assertEquals(nodeId, p.leader().id());
            assertEquals(List.of(nodeId), p.replicas().stream().map(Node::id).collect(Collectors.toList()));
            assertEquals(List.of(nodeId), p.isr().stream().map(Node::id).collect(Collectors.toList()));
        }

        admin.deleteTopics(List.of(a)).all().get(T, TimeUnit.SECONDS);
        waitUntil("deleted topic gone from listTopics", 30_000, () -> {
            try {
                Set<String> names = topicNames();
                return !names.contains(a) && names.contains(b);
            } catch (Exception e) {
                return false;
            }
        });
        ExecutionException gone = assertThrows(ExecutionException.class, () ->
                admin.describeTopics(List.of(a)).allTopicNames().get(T, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause());
    }

    @Test
    void createPartitionsAddsToATopic(TestInfo info) throws Exception {
        String topic = unique("adm-parts", info);
        createTopic(topic, 2);
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(T, TimeUnit.SECONDS);
        waitUntil("5 partitions described", 30_000, () -> {
            try {
                return admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS)
                        .get(topic).partitions().size() == 5;
            } catch (Exception e) {
                return false;
            }
        });
        // A producer writes to the new partitions.
        try (KafkaProducer<String, String> p = plainProducer()) {
            assertEquals(4, p.send(new ProducerRecord<>(topic, 4, "k", "v")).get(T, TimeUnit.SECONDS).partition());
        }
        // Fewer partitions than now is refused.
        ExecutionException e = assertThrows(ExecutionException.class, () ->
                admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidPartitionsException.class, e.getCause(), e.getCause().toString());
    }

    @Test
    void listOffsetsOfAnUnknownTopicFails(TestInfo info) throws Exception {
        TopicPartition tp = new TopicPartition(unique("adm-nosuch", info), 0);
        ExecutionException e = assertThrows(ExecutionException.class, () -> listOffset(tp, OffsetSpec.latest()));
        assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause(), e.getCause().toString());
    }

    private static Config topicConfig(String topic) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return admin.describeConfigs(List.of(r)).all().get(T, TimeUnit.SECONDS).get(r);
    }

    @Test
    void topicConfigsDescribeAndIncrementalAlter(TestInfo info) throws Exception {
        String topic = unique("adm-cfg", info);
        createTopic(topic, 1, Map.of("retention.ms", "3600000"));
        Config c = topicConfig(topic);
        assertEquals("3600000", c.get("retention.ms").value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("retention.ms").source());
        assertEquals("delete", c.get("cleanup.policy").value());
        assertNotEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("cleanup.policy").source());

        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        admin.incrementalAlterConfigs(Map.of(r, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET))))
                .all().get(T, TimeUnit.SECONDS);
        c = topicConfig(topic);
        assertEquals("7200000", c.get("retention.ms").value());
        assertEquals("2000000", c.get("max.message.bytes").value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("max.message.bytes").source());

        // DELETE returns the key to the broker's value: seven days.
        admin.incrementalAlterConfigs(Map.of(r, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(T, TimeUnit.SECONDS);
        c = topicConfig(topic);
        assertEquals("604800000", c.get("retention.ms").value());
        assertNotEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("retention.ms").source());
        assertEquals("2000000", c.get("max.message.bytes").value());
    }

    @Test
    void listOffsetsEarliestLatestMaxTimestampAndByTime(TestInfo info) throws Exception {
        String topic = unique("adm-offsets", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 600_000;
        long[] seconds = {3, 9, 4, 1, 5};   // the largest timestamp is at offset 1
        try (KafkaProducer<String, String> p = plainProducer()) {
            for (int i = 0; i < seconds.length; i++) {
                p.send(new ProducerRecord<>(topic, 0, base + seconds[i] * 1000, "k" + i, "v" + i)).get(T, TimeUnit.SECONDS);
            }
        }
        assertEquals(0, listOffset(tp, OffsetSpec.earliest()).offset());
        assertEquals(5, listOffset(tp, OffsetSpec.latest()).offset());
        ListOffsetsResultInfo max = listOffset(tp, OffsetSpec.maxTimestamp());
        assertEquals(1, max.offset());
        assertEquals(base + 9000, max.timestamp());
        // The first offset whose timestamp is at or after the given time.
        ListOffsetsResultInfo byTime = listOffset(tp, OffsetSpec.forTimestamp(base + 3500));
        assertEquals(1, byTime.offset());
        assertEquals(base + 9000, byTime.timestamp());
        assertEquals(0, listOffset(tp, OffsetSpec.forTimestamp(base + 3000)).offset());
    }

    private static ListOffsetsResultInfo listOffset(TopicPartition tp, OffsetSpec spec) throws Exception {
        return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get(T, TimeUnit.SECONDS);
    }

    @Test
    void consumerGroupsListDescribeAlterOffsetsDelete(TestInfo info) throws Exception {
        String topic = unique("adm-groups", info);
        String group = unique("g-adm", info);
        createTopic(topic, 2);
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (KafkaProducer<String, String> p = plainProducer()) {
            for (int i = 0; i < 5; i++) {
                p.send(new ProducerRecord<>(topic, 0, "k", "a" + i));
                p.send(new ProducerRecord<>(topic, 1, "k", "b" + i));
            }
            p.flush();
        }
        try (KafkaConsumer<String, String> c = consumer(group)) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (c.assignment().size() != 2 && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(100));
            }
            assertEquals(Set.of(p0, p1), c.assignment());
            c.commitSync(Map.of(p0, new OffsetAndMetadata(5)));

            // While the member is in the group: listed as Stable, described with its assignment.
            GroupListing listed = findGroup(group);
            assertNotNull(listed, "group " + group + " in listGroups(forConsumerGroups())");
            assertEquals(GroupState.STABLE, listed.groupState().orElseThrow());
            assertEquals("consumer", listed.protocol());
            // Listing every group type finds it too.
            assertTrue(admin.listGroups().all().get(T, TimeUnit.SECONDS).stream()
                    .anyMatch(l -> l.groupId().equals(group)));
            assertFalse(listed.isSimpleConsumerGroup());

            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all()
                    .get(T, TimeUnit.SECONDS).get(group);
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals("range", d.partitionAssignor());
            assertEquals(1, d.members().size());
            MemberDescription m = d.members().iterator().next();
            assertEquals(Set.of(p0, p1), m.assignment().topicPartitions());
            assertTrue(m.clientId().startsWith("consumer-" + group), m.clientId());
            assertEquals(brokerPort(), d.coordinator().port());

            // While it has a member: offsets cannot be set from outside, nor the group deleted.
            ExecutionException busy = assertThrows(ExecutionException.class, () ->
                    admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(1))).all().get(T, TimeUnit.SECONDS));
            assertInstanceOf(UnknownMemberIdException.class, busy.getCause(), busy.getCause().toString());
            ExecutionException notEmpty = assertThrows(ExecutionException.class, () ->
                    admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS));
            assertInstanceOf(GroupNotEmptyException.class, notEmpty.getCause(), notEmpty.getCause().toString());
        }

        // The member left: the group is Empty and keeps its committed offset.
        waitUntil("group Empty after the member left", 30_000, () -> {
            try {
                GroupListing l = findGroup(group);
                return l != null && l.groupState().orElse(null) == GroupState.EMPTY;
            } catch (Exception e) {
                return false;
            }
        });
        assertEquals(Map.of(p0, new OffsetAndMetadata(5)), groupOffsets(group));

        admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(2), p1, new OffsetAndMetadata(3, "set by admin")))
                .all().get(T, TimeUnit.SECONDS);
        assertEquals(Map.of(p0, new OffsetAndMetadata(2), p1, new OffsetAndMetadata(3, "set by admin")), groupOffsets(group));
        // A consumer of the group starts where the admin put it.
        try (KafkaConsumer<String, String> c = consumer(group)) {
            c.subscribe(List.of(topic));
            List<String> vals = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60_000;
            while (vals.size() < 5 && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(100)).forEach(r -> vals.add(r.value()));
            }
            vals.sort(null);
            assertEquals(List.of("a2", "a3", "a4", "b3", "b4"), vals);
        }

        admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS);
        assertEquals(null, findGroup(group), "deleted group still listed");
        assertEquals(Map.of(), groupOffsets(group));
        ExecutionException gone = assertThrows(ExecutionException.class, () ->
                admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(GroupIdNotFoundException.class, gone.getCause(), gone.getCause().toString());
    }

    @Test
    void listGroupsTellsTheGroupType(TestInfo info) throws Throwable {
        String topic = unique("adm-gtype", info);
        String group = unique("g-gtype", info);
        createTopic(topic, 1);
        try (KafkaConsumer<String, String> c = consumer(group)) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (c.assignment().isEmpty() && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(100));
            }
            assertEquals(1, c.assignment().size());
            GroupListing listed = findGroup(group);
            assertNotNull(listed);
            // The group type (classic, consumer, share, streams) came with ListGroups v5 (KIP-848).
            assertEquals(Optional.of(GroupType.CLASSIC), listed.type(), "group type in ListGroups");
        }
    }

    private static GroupListing findGroup(String group) throws Exception {
        for (GroupListing l : admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get(T, TimeUnit.SECONDS)) {
            if (l.groupId().equals(group)) return l;
        }
        return null;
    }

    private static Map<TopicPartition, OffsetAndMetadata> groupOffsets(String group) throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS);
    }

    @Test
    void deleteRecordsMovesTheLogStart(TestInfo info) throws Throwable {
        String topic = unique("adm-delrec", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = plainProducer()) {
            for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, 0, "k", "v" + i));
            p.flush();
        }
        long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp)
                .get(T, TimeUnit.SECONDS).lowWatermark();
        assertEquals(4, low);
        assertEquals(4, listOffset(tp, OffsetSpec.earliest()).offset());
        assertEquals("v4", readPartitionFromStart(tp).get(0));
    }

    private static List<String> readPartitionFromStart(TopicPartition tp) {
        try (KafkaConsumer<String, String> c = consumer(null)) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            List<String> vals = new ArrayList<>();
            pollExactly(c, 6, 30_000).forEach(r -> vals.add(r.value()));
            return vals;
        }
    }
}
