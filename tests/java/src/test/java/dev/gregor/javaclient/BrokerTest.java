package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInfo;

/**
 * A fresh broker for each test class (with the class's {@link BrokerConfig}
 * settings, if any), an Admin client on it, and the client
 * settings every test shares. Timeouts are well below the client defaults so
 * that an expected failure costs seconds, not minutes.
 */
public abstract class BrokerTest {
    protected static Broker broker;
    protected static Admin admin;
    private static final AtomicInteger SEQ = new AtomicInteger();

    @BeforeAll
    static void startBroker(TestInfo info) throws Exception {
        Map<String, String> overrides = new LinkedHashMap<>();
        BrokerConfig cfg = info.getTestClass().map(c -> c.getAnnotation(BrokerConfig.class)).orElse(null);
        if (cfg != null) {
            for (String kv : cfg.value()) {
                int eq = kv.indexOf('=');
                if (eq <= 0) throw new IllegalArgumentException("@BrokerConfig wants key=value, got " + kv);
                overrides.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        broker = Broker.start(info.getTestClass().map(Class::getSimpleName).orElse("?"), overrides);
        admin = Admin.create(adminProps());
    }

    @AfterAll
    static void stopBroker() {
        try {
            if (admin != null) admin.close(Duration.ofSeconds(5));
        } finally {
            admin = null;
            if (broker != null) broker.close();
            broker = null;
        }
    }

    /** A topic or group name no other test uses. */
    protected static String unique(String prefix, TestInfo info) {
        String m = info.getTestMethod().map(x -> x.getName()).orElse("t");
        return prefix + "-" + m + "-" + SEQ.incrementAndGet() + "-" + System.nanoTime() % 100000;
    }

    protected static Properties adminProps() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        return p;
    }

    /** The producer's defaults (acks=all, idempotence on) except for shorter timeouts. */
    protected static Properties producerProps() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
        return p;
    }

    /** A producer that does not ask for idempotence (no producer id: batches carry -1). */
    protected static KafkaProducer<String, String> plainProducer() {
        Properties p = producerProps();
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return new KafkaProducer<>(p);
    }

    protected static Properties consumerProps(String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return p;
    }

    protected static KafkaConsumer<String, String> consumer(String group) {
        return new KafkaConsumer<>(consumerProps(group));
    }

    protected static void createTopic(String topic, int partitions) throws Exception {
        createTopic(topic, partitions, Map.of());
    }

    protected static void createTopic(String topic, int partitions, Map<String, String> configs) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(configs)))
                .all().get(30, TimeUnit.SECONDS);
        // Metadata for a new topic may lag the CreateTopics answer on Kafka.
        waitUntil("topic " + topic + " is described with " + partitions + " partitions", 30_000, () -> {
            try {
                return admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS)
                        .get(topic).partitions().size() == partitions;
            } catch (Exception e) {
                return false;
            }
        });
    }

    /** Reads exactly {@code n} records from the assigned partitions, within a time limit. */
    protected static List<ConsumerRecord<String, String>> pollExactly(KafkaConsumer<String, String> c, int n, long timeoutMs) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (got.size() < n && System.currentTimeMillis() < deadline) {
            c.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        assertEquals(n, got.size(), "records read within " + timeoutMs + " ms");
        return got;
    }

    protected static List<ConsumerRecord<String, String>> readPartition(TopicPartition tp, int n) {
        try (KafkaConsumer<String, String> c = consumer(null)) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            return pollExactly(c, n, 30_000);
        }
    }

    protected static void waitUntil(String what, long timeoutMs, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            if (cond.getAsBoolean()) return;
            Thread.sleep(100);
        }
        fail("not within " + timeoutMs + " ms: " + what);
    }
}
