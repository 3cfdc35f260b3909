/*
 * StringsCheck.java - Kafka's Java client (kafka-clients of the reference
 * Kafka) with strings that hold NUL characters, for test_strings_bytes.py.
 * Run as a single source file: java -cp <kafka libs>/* StringsCheck.java ...
 * Strings go in as hex of their UTF-8 bytes and come out the same way.
 *
 *   commit BOOTSTRAP GROUP TOPIC PARTITION OFFSET METADATA
 *       commitSync one offset with that metadata, then committed(): prints
 *       "committed OFFSET METADATA"
 *   fetch BOOTSTRAP GROUP TOPIC PARTITION      committed(): the same line
 *   txn BOOTSTRAP TXNID TOPIC [GROUP METADATA]
 *       a transactional producer sends one record (and, given a group, the
 *       offset 3 of TOPIC-0 with that metadata for the group:
 *       sendOffsetsToTransaction); while its transaction is open
 *       Admin.describeTransactions and listTransactions see the id ("open
 *       STATE ID", "listed ID"); then it commits ("committed STATE ID")
 *   describe-txn BOOTSTRAP TXNID              "described STATE ID", or
 *       "error CLASS" when the Admin call fails
 */
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class StringsCheck {
    static String unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++)
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return new String(b, StandardCharsets.UTF_8);
    }

    static String hex(String s) {
        if (s == null)
            return "-";
        StringBuilder sb = new StringBuilder();
        for (byte x : s.getBytes(StandardCharsets.UTF_8))
            sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static void printCommitted(KafkaConsumer<String, String> c, TopicPartition tp) {
        OffsetAndMetadata m = c.committed(Collections.singleton(tp), Duration.ofSeconds(30)).get(tp);
        System.out.println(m == null ? "committed - -" : "committed " + m.offset() + " " + hex(m.metadata()));
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    static String describe(Admin a, String id) throws Exception {
        try {
            TransactionDescription d = a.describeTransactions(Collections.singleton(id)).description(id)
                    .get(30, TimeUnit.SECONDS);
            return d.state() + " " + hex(id);
        } catch (ExecutionException e) {
            return "error " + e.getCause().getClass().getSimpleName();
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0], bootstrap = args[1];
        switch (mode) {
        case "commit":
        case "fetch": {
            TopicPartition tp = new TopicPartition(args[3], Integer.parseInt(args[4]));
            try (KafkaConsumer<String, String> c = consumer(bootstrap, unhex(args[2]))) {
                if (mode.equals("commit"))
                    c.commitSync(Collections.singletonMap(tp, new OffsetAndMetadata(Long.parseLong(args[5]), unhex(args[6]))),
                                 Duration.ofSeconds(30));
                printCommitted(c, tp);
            }
            break;
        }
        case "txn": {
            String id = unhex(args[2]);
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> pr = new KafkaProducer<>(p); Admin a = admin(bootstrap)) {
                pr.initTransactions();
                pr.beginTransaction();
                pr.send(new ProducerRecord<>(args[3], "k", "v")).get(30, TimeUnit.SECONDS);
                if (args.length > 4) /* GROUP METADATA: offsets in the transaction (AddOffsetsToTxn, TxnOffsetCommit) */
                    pr.sendOffsetsToTransaction(
                        Collections.singletonMap(new TopicPartition(args[3], 0), new OffsetAndMetadata(3, unhex(args[5]))),
                        new ConsumerGroupMetadata(unhex(args[4])));
                System.out.println("open " + describe(a, id));
                for (TransactionListing l : a.listTransactions().all().get(30, TimeUnit.SECONDS))
                    System.out.println("listed " + hex(l.transactionalId()));
                pr.commitTransaction();
                for (int i = 0; i < 100; i++) { /* the markers complete it a moment later */
                    String d = describe(a, id);
                    if (!d.startsWith("PrepareCommit") || i == 99) {
                        System.out.println("committed " + d);
                        break;
                    }
                    Thread.sleep(100);
                }
            }
            break;
        }
        case "describe-txn": {
            try (Admin a = admin(bootstrap)) {
                String d = describe(a, unhex(args[2]));
                System.out.println((d.startsWith("error") ? "" : "described ") + d);
            }
            break;
        }
        default:
            throw new IllegalArgumentException(mode);
        }
    }
}
