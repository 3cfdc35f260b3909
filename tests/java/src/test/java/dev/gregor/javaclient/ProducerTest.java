package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java producer: with its defaults (acks=all and idempotence, as every
 * Java application gets since Kafka 3.0), without idempotence, keyed records
 * on the partition the Java default partitioner picks, each compression
 * codec round-tripping through the broker, acks=0 and 1, a record over the
 * topic's max.message.bytes, transactions and read_committed.
 */
class ProducerTest extends BrokerTest {

    /** Produces keyed records and checks partition choice, offsets and content. */
    private static void produceKeyedAndCheck(KafkaProducer<String, String> producer, String topic, int partitions)
            throws Exception {
        int n = 60;
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(producer.send(new ProducerRecord<>(topic, "key-" + i, "value-" + i)));
        }
        producer.flush();
        Map<Integer, List<String>> expectedValues = new HashMap<>();
        for (int i = 0; i < n; i++) {
            RecordMetadata md = futures.get(i).get(30, TimeUnit.SECONDS);
            byte[] key = ("key-" + i).getBytes(StandardCharsets.UTF_8);
            // The Java default partitioner for a keyed record: murmur2 of the serialized key.
            int want = Utils.toPositive(Utils.murmur2(key)) % partitions;
            assertEquals(want, md.partition(), "partition of key-" + i);
            List<String> vals = expectedValues.computeIfAbsent(want, p -> new ArrayList<>());
            assertEquals(vals.size(), md.offset(), "offset of key-" + i + " in partition " + want);
            vals.add("value-" + i);
        }
        assertTrue(expectedValues.size() > 1, "60 keys spread over more than one partition");
        for (Map.Entry<Integer, List<String>> e : expectedValues.entrySet()) {
            List<ConsumerRecord<String, String>> got =
                    readPartition(new TopicPartition(topic, e.getKey()), e.getValue().size());
            List<String> vals = new ArrayList<>();
            for (ConsumerRecord<String, String> r : got) {
                vals.add(r.value());
                int want = Utils.toPositive(Utils.murmur2(r.key().getBytes(StandardCharsets.UTF_8))) % partitions;
                assertEquals(want, r.partition());
            }
            assertEquals(e.getValue(), vals, "values in partition " + e.getKey());
        }
    }

    @Test
    void defaultsIdempotentAcksAll(TestInfo info) throws Exception {
        String topic = unique("prod-defaults", info);
        createTopic(topic, 4);
        // The default producer asks for a producer id (InitProducerId) first.
        try (KafkaProducer<String, String> p = new KafkaProducer<>(producerProps())) {
            produceKeyedAndCheck(p, topic, 4);
        }
    }

    @Test
    void withoutIdempotenceKeyedPartitioning(TestInfo info) throws Exception {
        String topic = unique("prod-plain", info);
        createTopic(topic, 6);
        try (KafkaProducer<String, String> p = plainProducer()) {
            produceKeyedAndCheck(p, topic, 6);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gzip", "snappy", "lz4", "zstd"})
    void compressionRoundTrips(String codec, TestInfo info) throws Exception {
        String topic = unique("prod-" + codec, info);
        createTopic(topic, 1);
        Properties props = producerProps();
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        // Big enough batches that the codec has something to squeeze.
        props.put(ProducerConfig.LINGER_MS_CONFIG, "50");
        int n = 500;
        List<String> values = new ArrayList<>();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String v = codec + " record " + i + " " + "abcdefgh".repeat(1 + i % 40);
                values.add(v);
                RecordHeaders h = new RecordHeaders();
                h.add("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                fs.add(p.send(new ProducerRecord<>(topic, null, "k" + i, v, h)));
            }
            p.flush();
            for (int i = 0; i < n; i++) assertEquals(i, fs.get(i).get(30, TimeUnit.SECONDS).offset());
        }
        List<ConsumerRecord<String, String>> got = readPartition(new TopicPartition(topic, 0), n);
        for (int i = 0; i < n; i++) {
            ConsumerRecord<String, String> r = got.get(i);
            assertEquals(i, r.offset());
            assertEquals("k" + i, r.key());
            assertEquals(values.get(i), r.value());
            assertArrayEquals(Integer.toString(i).getBytes(StandardCharsets.UTF_8), r.headers().lastHeader("i").value());
        }
        // From an offset inside a compressed batch: the broker answers with the whole
        // batch and the client drops the records before the asked offset.
        try (KafkaConsumer<String, String> c = consumer(null)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seek(tp, 251);
            List<ConsumerRecord<String, String>> rest = pollExactly(c, n - 251, 30_000);
            assertEquals(251, rest.get(0).offset());
            assertEquals(values.get(251), rest.get(0).value());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "1"})
    void acksZeroAndOne(String acks, TestInfo info) throws Exception {
        String topic = unique("prod-acks" + acks, info);
        createTopic(topic, 1);
        Properties props = producerProps();
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        props.put(ProducerConfig.ACKS_CONFIG, acks);
        try (KafkaProducer<String, String> p = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < 20; i++) fs.add(p.send(new ProducerRecord<>(topic, "k", "v" + i)));
            p.flush();
            for (int i = 0; i < 20; i++) {
                RecordMetadata md = fs.get(i).get(30, TimeUnit.SECONDS);
                // With acks=0 no answer comes back, so the client cannot know the offset.
                assertEquals(acks.equals("0") ? -1 : i, md.offset());
            }
        }
        List<ConsumerRecord<String, String>> got = readPartition(new TopicPartition(topic, 0), 20);
        assertEquals("v19", got.get(19).value());
    }

    @Test
    void recordLargerThanTheTopicAllowsIsRefused(TestInfo info) throws Exception {
        String topic = unique("prod-large", info);
        createTopic(topic, 1, Map.of("max.message.bytes", "10000"));
        Properties props = producerProps();
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        try (KafkaProducer<String, String> p = new KafkaProducer<>(props)) {
            ExecutionException e = assertThrows(ExecutionException.class, () ->
                    p.send(new ProducerRecord<>(topic, "k", "x".repeat(20_000))).get(30, TimeUnit.SECONDS));
            // The client allows it (max.request.size is 1 MiB): the broker refuses it with
            // MESSAGE_TOO_LARGE. (The message text is the broker's own and may differ.)
            assertInstanceOf(RecordTooLargeException.class, e.getCause(), e.getCause().toString());
            // A record that fits still goes through.
            assertEquals(0, p.send(new ProducerRecord<>(topic, "k", "x".repeat(5_000))).get(30, TimeUnit.SECONDS).offset());
        }
    }

    @Test
    void transactionalProducerCommitsAndAborts(TestInfo info) throws Exception {
        String topic = unique("prod-txn", info);
        createTopic(topic, 1);
        Properties props = producerProps();
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, unique("txn", info));
        try (KafkaProducer<String, String> p = new KafkaProducer<>(props)) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "aborted"));
            // Flushed, so the aborted record is in the log (the producer would
            // drop a batch it has not sent yet and write no marker).
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "committed"));
            p.commitTransaction();
        }
        // read_committed sees only the committed record; the offsets also hold
        // the markers: aborted 0, abort marker 1, committed 2, commit marker 3.
        Properties cp = consumerProps(null);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            List<ConsumerRecord<String, String>> got = pollExactly(c, 1, 30_000);
            assertEquals("committed", got.get(0).value());
            assertEquals(2L, got.get(0).offset());
            // No open transaction: the last stable offset is past the commit marker.
            assertEquals(4L, c.endOffsets(List.of(tp)).get(tp));
        }
    }

    @Test
    void readCommittedConsumerSeesPlainRecords(TestInfo info) throws Exception {
        String topic = unique("prod-rc", info);
        createTopic(topic, 1);
        try (KafkaProducer<String, String> p = plainProducer()) {
            for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, "k", "v" + i));
            p.flush();
        }
        Properties cp = consumerProps(null);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            assertEquals("v9", pollExactly(c, 10, 30_000).get(9).value());
            // Without transactions the last stable offset is the high watermark.
            assertEquals(10L, c.endOffsets(List.of(tp)).get(tp));
        }
    }
}
