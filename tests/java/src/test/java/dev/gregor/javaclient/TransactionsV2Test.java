package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Transactions version 2 (KIP-890 part 2), as Kafka's Java client 4.4 uses
 * them with a broker that finalizes {@code transaction.version}=2: no
 * AddPartitionsToTxn from the client (Produce v12+ adds the partition at its
 * leader), no AddOffsetsToTxn (TxnOffsetCommit v5+ adds the group's
 * partition), and EndTxn v5, whose answer carries the epoch the coordinator
 * moved to: it bumps the producer epoch at every commit and abort. Judged
 * from the broker's side: describeFeatures, describeTransactions (the
 * coordinator's state, epoch and partitions), describeProducers (the
 * partition's producer state), listOffsets at both isolation levels, the
 * group's committed offsets, and what consumers read.
 *
 * Every number asserted here is what Kafka 4.4.0 does; epochs are counted
 * from the first describe after initTransactions. The broker runs with
 * transaction.abort.timed.out.transaction.cleanup.interval.ms=500 so that a
 * 3 s transaction timeout is acted on within a second of expiring.
 */
@BrokerConfig({"transaction.abort.timed.out.transaction.cleanup.interval.ms=500"})
class TransactionsV2Test extends BrokerTest {
    private static final long T = 30;   // seconds for one admin or client call

    private static KafkaProducer<String, String> txnProducer(String txnId, Map<String, String> extra) {
        Properties p = producerProps();
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        p.putAll(extra);
        return new KafkaProducer<>(p);
    }

    private static KafkaProducer<String, String> txnProducer(String txnId) {
        return txnProducer(txnId, Map.of());
    }

    private static TransactionDescription describeTxn(String txnId) throws Exception {
        return admin.describeTransactions(List.of(txnId)).description(txnId).get(T, TimeUnit.SECONDS);
    }

    private static List<ProducerState> producers(TopicPartition tp) throws Exception {
        return admin.describeProducers(List.of(tp)).partitionResult(tp).get(T, TimeUnit.SECONDS).activeProducers();
    }

    /** The one state the partition holds for this producer id. */
    private static ProducerState producerOn(TopicPartition tp, long producerId) throws Exception {
        List<ProducerState> all = producers(tp);
        List<ProducerState> found = new ArrayList<>();
        for (ProducerState s : all) if (s.producerId() == producerId) found.add(s);
        assertEquals(1, found.size(), "producer " + producerId + " on " + tp + ": " + all);
        return found.get(0);
    }

    private static long endOffset(TopicPartition tp, IsolationLevel iso) throws Exception {
        return admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(iso))
                .partitionResult(tp).get(T, TimeUnit.SECONDS).offset();
    }

    private static long lso(TopicPartition tp) throws Exception {
        return endOffset(tp, IsolationLevel.READ_COMMITTED);
    }

    private static long hw(TopicPartition tp) throws Exception {
        return endOffset(tp, IsolationLevel.READ_UNCOMMITTED);
    }

    /** Waits until the coordinator shows the transactional id in this state, and returns that description. */
    private static TransactionDescription awaitTxnState(String txnId, TransactionState state) throws Exception {
        TransactionDescription[] last = new TransactionDescription[1];
        long deadline = System.currentTimeMillis() + 30_000;
        while (true) {
            last[0] = describeTxn(txnId);
            if (last[0].state() == state) return last[0];
            assertTrue(System.currentTimeMillis() < deadline, txnId + " not " + state + " within 30 s: " + last[0]);
            Thread.sleep(50);
        }
    }

    /**
     * Waits until the transaction is complete at the coordinator (its
     * markers are all written: the coordinator logs CompleteCommit or
     * CompleteAbort only then), and checks what it shows.
     */
    private static TransactionDescription awaitEnded(String txnId, boolean committed, long producerId, int epoch)
            throws Exception {
        TransactionDescription d = awaitTxnState(txnId,
                committed ? TransactionState.COMPLETE_COMMIT : TransactionState.COMPLETE_ABORT);
        assertEquals(producerId, d.producerId(), d.toString());
        assertEquals(epoch, d.producerEpoch(), "the coordinator's epoch after the " + (committed ? "commit" : "abort") + ": " + d);
        assertEquals(Set.of(), d.topicPartitions(), d.toString());
        return d;
    }

    /**
     * Everything a consumer with this isolation level reads from the
     * partitions, from their beginnings until its position reaches their high
     * watermarks (past the last marker), by partition.
     */
    private static Map<TopicPartition, List<ConsumerRecord<String, String>>> readAll(
            List<TopicPartition> tps, String isolation) throws Exception {
        Map<TopicPartition, Long> end = new HashMap<>();
        for (TopicPartition tp : tps) end.put(tp, hw(tp));
        Properties cp = consumerProps(null);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        Map<TopicPartition, List<ConsumerRecord<String, String>>> got = new LinkedHashMap<>();
        for (TopicPartition tp : tps) got.put(tp, new ArrayList<>());
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 30_000;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) if (c.position(tp) < end.get(tp)) done = false;
                if (done) break;
                assertTrue(System.currentTimeMillis() < deadline,
                        isolation + " consumer did not reach " + end + " in 30 s; read " + got);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    got.get(new TopicPartition(r.topic(), r.partition())).add(r);
                }
            }
            for (TopicPartition tp : tps) assertEquals(end.get(tp), c.position(tp), isolation + " position on " + tp);
        }
        return got;
    }

    private static List<String> values(List<ConsumerRecord<String, String>> rs) {
        List<String> v = new ArrayList<>();
        for (ConsumerRecord<String, String> r : rs) v.add(r.value());
        return v;
    }

    private static List<Long> offsets(List<ConsumerRecord<String, String>> rs) {
        List<Long> v = new ArrayList<>();
        for (ConsumerRecord<String, String> r : rs) v.add(r.offset());
        return v;
    }

    private static Map<TopicPartition, OffsetAndMetadata> groupOffsets(String group, boolean requireStable) throws Exception {
        return admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(requireStable))
                .partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS);
    }

    // ---------------------------------------------------------------------

    /**
     * The broker finalizes transaction.version 2, and the client uses it: the
     * partition the transaction writes appears in the coordinator's
     * transaction without an AddPartitionsToTxn, and every commit moves the
     * producer to the next epoch, both at the coordinator and in the
     * partition's producer state (written by the commit marker, which carries
     * the new epoch). Version 1 keeps the epoch from initTransactions.
     */
    @Test
    void epochBumpedAtEveryCommit(TestInfo info) throws Exception {
        FinalizedVersionRange tv = admin.describeFeatures().featureMetadata().get(T, TimeUnit.SECONDS)
                .finalizedFeatures().get("transaction.version");
        assertNotNull(tv, "the broker finalizes transaction.version");
        assertEquals(2, tv.minVersionLevel(), tv.toString());
        assertEquals(2, tv.maxVersionLevel(), tv.toString());

        String topic = unique("tv2-epoch", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        String txnId = unique("tv2-epoch-txn", info);
        int n = 5;
        try (KafkaProducer<String, String> p = txnProducer(txnId)) {
            p.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            assertEquals(TransactionState.EMPTY, d0.state(), d0.toString());
            assertEquals(Set.of(), d0.topicPartitions(), d0.toString());
            long pid = d0.producerId();
            int e0 = d0.producerEpoch();
            for (int i = 0; i < n; i++) {
                p.beginTransaction();
                assertEquals(2L * i, p.send(new ProducerRecord<>(topic, "k", "v" + i)).get(T, TimeUnit.SECONDS).offset());
                // Open: the produce added the partition (no AddPartitionsToTxn),
                // the batch carries the epoch of this transaction at sequence 0.
                TransactionDescription open = describeTxn(txnId);
                assertEquals(TransactionState.ONGOING, open.state(), open.toString());
                assertEquals(Set.of(tp), open.topicPartitions(), open.toString());
                assertEquals(pid, open.producerId(), open.toString());
                assertEquals(e0 + i, open.producerEpoch(), "epoch of transaction " + i + ": " + open);
                ProducerState ps = producerOn(tp, pid);
                assertEquals(e0 + i, ps.producerEpoch(), ps.toString());
                assertEquals(0, ps.lastSequence(), "a new epoch starts at sequence 0: " + ps);
                assertEquals(2L * i, ps.currentTransactionStartOffset().orElse(-1), ps.toString());
                assertEquals(2L * i, lso(tp), "last stable offset while transaction " + i + " is open");
                assertEquals(2L * i + 1, hw(tp));

                p.commitTransaction();
                awaitEnded(txnId, true, pid, e0 + i + 1);
                // The commit marker, at the bumped epoch, is the producer's last entry on the
                // partition: the new epoch has no data batch yet (last sequence -1).
                ProducerState after = producerOn(tp, pid);
                assertEquals(e0 + i + 1, after.producerEpoch(), "partition's epoch after commit " + i + ": " + after);
                assertEquals(-1, after.lastSequence(), after.toString());
                assertTrue(after.currentTransactionStartOffset().isEmpty(), after.toString());
                assertEquals(2L * i + 2, lso(tp));
                assertEquals(2L * i + 2, hw(tp));
            }
            assertEquals(e0 + n, describeTxn(txnId).producerEpoch(), "the epoch advanced by the number of commits");
        }
        List<ConsumerRecord<String, String>> rc = readAll(List.of(tp), "read_committed").get(tp);
        assertEquals(List.of("v0", "v1", "v2", "v3", "v4"), values(rc));
        assertEquals(List.of(0L, 2L, 4L, 6L, 8L), offsets(rc));
    }

    /**
     * Commits and aborts in turn, each transaction writing three records to
     * each of three partitions of two topics: read_committed reads exactly the
     * committed records, in order, read_uncommitted all of them; while a
     * transaction is open its first offset holds each partition's last stable
     * offset back; at the end the last stable offsets are the high watermarks.
     */
    @Test
    void commitAbortAlternationAcrossTopics(TestInfo info) throws Exception {
        String a = unique("tv2-alt-a", info);
        String b = unique("tv2-alt-b", info);
        createTopic(a, 2);
        createTopic(b, 1);
        List<TopicPartition> tps = List.of(new TopicPartition(a, 0), new TopicPartition(a, 1), new TopicPartition(b, 0));
        Map<TopicPartition, List<String>> committed = new LinkedHashMap<>();
        Map<TopicPartition, List<String>> all = new LinkedHashMap<>();
        for (TopicPartition tp : tps) {
            committed.put(tp, new ArrayList<>());
            all.put(tp, new ArrayList<>());
        }
        String txnId = unique("tv2-alt-txn", info);
        int txns = 6;
        int perPartition = 3;
        try (KafkaProducer<String, String> p = txnProducer(txnId)) {
            p.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            long pid = d0.producerId();
            int e0 = d0.producerEpoch();
            for (int t = 0; t < txns; t++) {
                boolean commit = t % 2 == 0;
                p.beginTransaction();
                for (int j = 0; j < perPartition; j++) {
                    for (TopicPartition tp : tps) {
                        String v = tp.topic().substring(0, 8) + "-" + tp.partition() + "/t" + t + "/" + j + (commit ? "/c" : "/a");
                        p.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k", v));
                        all.get(tp).add(v);
                        if (commit) committed.get(tp).add(v);
                    }
                }
                // Flushed: the aborted transactions' records are in the logs too.
                p.flush();
                long first = (long) t * (perPartition + 1);   // each earlier transaction: 3 records and a marker
                TransactionDescription open = describeTxn(txnId);
                assertEquals(TransactionState.ONGOING, open.state(), open.toString());
                assertEquals(Set.copyOf(tps), open.topicPartitions(), open.toString());
                assertEquals(e0 + t, open.producerEpoch(), open.toString());
                for (TopicPartition tp : tps) {
                    assertEquals(first, lso(tp), "last stable offset of " + tp + " while transaction " + t + " is open");
                    assertEquals(first + perPartition, hw(tp), "high watermark of " + tp + " in transaction " + t);
                }
                if (commit) p.commitTransaction();
                else p.abortTransaction();
                awaitEnded(txnId, commit, pid, e0 + t + 1);
            }
        }
        for (TopicPartition tp : tps) {
            long end = (long) txns * (perPartition + 1);
            assertEquals(end, hw(tp), "high watermark of " + tp);
            assertEquals(end, lso(tp), "last stable offset of " + tp);
        }
        Map<TopicPartition, List<ConsumerRecord<String, String>>> rc = readAll(tps, "read_committed");
        Map<TopicPartition, List<ConsumerRecord<String, String>>> ru = readAll(tps, "read_uncommitted");
        for (TopicPartition tp : tps) {
            assertEquals(committed.get(tp), values(rc.get(tp)), "read_committed " + tp);
            assertEquals(all.get(tp), values(ru.get(tp)), "read_uncommitted " + tp);
        }
    }

    /**
     * Consume-transform-produce: each transaction writes transformed records
     * and the input offsets (sendOffsetsToTransaction: under version 2 the
     * group's __consumer_offsets partition joins the transaction through
     * TxnOffsetCommit, no AddOffsetsToTxn). The group's committed offset
     * moves only when the transaction commits; an aborted one leaves it, so a
     * restarted consumer of the group reads the aborted input again, and the
     * output holds each input once for read_committed.
     */
    @Test
    void consumeTransformProduceOffsetsOnlyOnCommit(TestInfo info) throws Exception {
        String in = unique("tv2-ctp-in", info);
        String out = unique("tv2-ctp-out", info);
        String group = unique("tv2-ctp-group", info);
        createTopic(in, 1);
        createTopic(out, 1);
        TopicPartition inTp = new TopicPartition(in, 0);
        TopicPartition outTp = new TopicPartition(out, 0);
        TopicPartition offsetsTp = new TopicPartition("__consumer_offsets", Utils.abs(group.hashCode()) % 50);
        int inputs = 15;
        try (KafkaProducer<String, String> plain = plainProducer()) {
            for (int i = 0; i < inputs; i++) plain.send(new ProducerRecord<>(in, "k" + i, "in" + i));
            plain.flush();
        }
        String txnId = unique("tv2-ctp-txn", info);
        Properties cp = consumerProps(group);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5");
        List<String> expectedOut = new ArrayList<>();
        List<String> allOut = new ArrayList<>();
        try (KafkaProducer<String, String> p = txnProducer(txnId)) {
            p.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            long pid = d0.producerId();
            int epoch = d0.producerEpoch();
            // Rounds of 5 inputs: commit [0,5), abort [5,10), then a new consumer of the
            // group starts again at 5: commit [5,10), commit [10,15).
            boolean[] commits = {true, false, true, true};
            long[] firstOffsets = {0, 5, 5, 10};
            KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
            try {
                c.subscribe(List.of(in));
                for (int round = 0; round < commits.length; round++) {
                    if (round == 2) {
                        // After the abort: a restarted member resumes from the group's committed offset.
                        c.close(Duration.ofSeconds(10));
                        c = new KafkaConsumer<>(cp);
                        c.subscribe(List.of(in));
                    }
                    List<ConsumerRecord<String, String>> batch = pollExactly(c, 5, 30_000);
                    assertEquals(firstOffsets[round], batch.get(0).offset(), "round " + round + " starts at");
                    Map<TopicPartition, OffsetAndMetadata> before = groupOffsets(group, false);
                    p.beginTransaction();
                    for (ConsumerRecord<String, String> r : batch) {
                        String v = "out-" + r.value();
                        p.send(new ProducerRecord<>(out, r.key(), v));
                        allOut.add(v);
                        if (commits[round]) expectedOut.add(v);
                    }
                    long next = batch.get(batch.size() - 1).offset() + 1;
                    p.sendOffsetsToTransaction(Map.of(inTp, new OffsetAndMetadata(next)), c.groupMetadata());
                    p.flush();
                    TransactionDescription open = describeTxn(txnId);
                    assertEquals(TransactionState.ONGOING, open.state(), open.toString());
                    assertEquals(Set.of(outTp, offsetsTp), open.topicPartitions(),
                            "the output partition and the group's offsets partition: " + open);
                    // Pending offsets are not the group's yet.
                    assertEquals(before, groupOffsets(group, false), "group offsets before the end of round " + round);
                    if (commits[round]) p.commitTransaction();
                    else p.abortTransaction();
                    awaitEnded(txnId, commits[round], pid, ++epoch);
                    Map<TopicPartition, OffsetAndMetadata> now = groupOffsets(group, true);
                    if (commits[round]) {
                        assertEquals(Map.of(inTp, new OffsetAndMetadata(next)), now, "after commit of round " + round);
                    } else {
                        assertEquals(before, now, "an aborted transaction's offsets are dropped");
                    }
                    if (round == 0) assertNull(before.get(inTp), "no offset before the first commit: " + before);
                }
            } finally {
                c.close(Duration.ofSeconds(10));
            }
        }
        assertEquals(Map.of(inTp, new OffsetAndMetadata(inputs)), groupOffsets(group, true));
        List<String> want = new ArrayList<>();
        for (int i = 0; i < inputs; i++) want.add("out-in" + i);
        assertEquals(want, expectedOut);
        assertEquals(want, values(readAll(List.of(outTp), "read_committed").get(outTp)), "each input once, in order");
        assertEquals(allOut, values(readAll(List.of(outTp), "read_uncommitted").get(outTp)));
        assertEquals(inputs + 5 + 4, hw(outTp), "20 records and 4 markers");
    }

    /**
     * An abort right after the sends, before the batches left the producer
     * (a long linger keeps them there): each send fails with
     * TransactionAbortedException, nothing reaches the partitions, and the
     * client still ends the transaction at the coordinator (EndTxn: the epoch
     * moves on). Transactions with no sends end in the client alone: neither
     * an empty abort nor an empty commit changes the coordinator's state.
     * The producer then commits a transaction normally.
     */
    @Test
    void abortWithoutFlushAndEmptyTransactions(TestInfo info) throws Exception {
        String topic = unique("tv2-abort", info);
        createTopic(topic, 2);
        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        String txnId = unique("tv2-abort-txn", info);
        try (KafkaProducer<String, String> p = txnProducer(txnId, Map.of(
                ProducerConfig.LINGER_MS_CONFIG, "30000", ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000"))) {
            p.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            long pid = d0.producerId();
            int e0 = d0.producerEpoch();

            p.beginTransaction();
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < 6; i++) fs.add(p.send(new ProducerRecord<>(topic, i % 2, "k", "aborted" + i)));
            p.abortTransaction();
            for (Future<RecordMetadata> f : fs) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(T, TimeUnit.SECONDS));
                assertEquals("org.apache.kafka.common.errors.TransactionAbortedException: "
                        + "Failing batch since transaction was aborted", e.getCause().toString());
            }
            TransactionDescription aborted = awaitEnded(txnId, false, pid, e0 + 1);

            p.beginTransaction();
            p.abortTransaction();
            assertEquals(aborted, describeTxn(txnId), "an empty abort sends nothing");
            p.beginTransaction();
            p.commitTransaction();
            assertEquals(aborted, describeTxn(txnId), "an empty commit sends nothing");
            for (TopicPartition tp : tps) {
                assertEquals(0L, hw(tp), tp + ": nothing was written");
                assertEquals(List.of(), producers(tp), tp + ": no producer state");
            }

            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "committed0"));
            p.send(new ProducerRecord<>(topic, 1, "k", "committed1"));
            p.commitTransaction();
            awaitEnded(txnId, true, pid, e0 + 2);
            for (TopicPartition tp : tps) {
                assertEquals(2L, hw(tp), tp + ": the record and the commit marker");
                assertEquals(2L, lso(tp), tp.toString());
                assertEquals(e0 + 2, producerOn(tp, pid).producerEpoch());
            }
        }
        for (String iso : List.of("read_committed", "read_uncommitted")) {
            Map<TopicPartition, List<ConsumerRecord<String, String>>> got = readAll(tps, iso);
            assertEquals(List.of("committed0"), values(got.get(tps.get(0))), iso);
            assertEquals(List.of("committed1"), values(got.get(tps.get(1))), iso);
        }
    }

    /**
     * A second producer with the same transactional.id fences the first: its
     * initTransactions aborts the first one's open transaction (one epoch
     * for the fence, one for itself). The first one's next send fails with
     * InvalidProducerEpochException (the partition has seen the newer
     * epoch), and so does its commit; a producer fenced while its
     * transaction is open gets ProducerFencedException from commit. The
     * newest producer commits; only its record is read_committed.
     */
    @Test
    void secondProducerFencesTheFirst(TestInfo info) throws Exception {
        String topic = unique("tv2-fence", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        String txnId = unique("tv2-fence-txn", info);
        KafkaProducer<String, String> p1 = txnProducer(txnId);
        KafkaProducer<String, String> p2 = txnProducer(txnId);
        KafkaProducer<String, String> p3 = txnProducer(txnId);
        try {
            p1.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            long pid = d0.producerId();
            int e0 = d0.producerEpoch();
            p1.beginTransaction();
            p1.send(new ProducerRecord<>(topic, "k", "p1-a")).get(T, TimeUnit.SECONDS);

            p2.initTransactions();
            TransactionDescription d2 = describeTxn(txnId);
            assertEquals(TransactionState.EMPTY, d2.state(), d2.toString());
            assertEquals(pid, d2.producerId(), d2.toString());
            assertEquals(e0 + 2, d2.producerEpoch(), "fenced (+1) and initialized (+1): " + d2);
            assertEquals(e0 + 1, producerOn(tp, pid).producerEpoch(), "the fence's abort marker");
            assertEquals(2L, lso(tp), "p1's transaction is aborted");

            ExecutionException se = assertThrows(ExecutionException.class,
                    () -> p1.send(new ProducerRecord<>(topic, "k", "p1-b")).get(T, TimeUnit.SECONDS));
            assertEquals("org.apache.kafka.common.errors.InvalidProducerEpochException: "
                    + "Producer attempted to produce with an old epoch.", se.getCause().toString());
            // The client completes the send's future before its transaction
            // manager records the error (Sender.failBatch), so a commit right
            // after get() may meet either: the manager's own wording once it
            // recorded it, or the batch's error itself while it is completing.
            KafkaException ce = assertThrows(KafkaException.class, p1::commitTransaction);
            assertTrue(Set.of("org.apache.kafka.common.errors.InvalidProducerEpochException: Producer with transactionalId '"
                    + txnId + "' and (producerId=" + pid + ", epoch=" + e0 + ") attempted to produce with an old epoch",
                    "org.apache.kafka.common.errors.InvalidProducerEpochException: "
                    + "Producer attempted to produce with an old epoch.").contains(ce.toString()), ce.toString());

            p2.beginTransaction();
            p2.send(new ProducerRecord<>(topic, "k", "p2-a")).get(T, TimeUnit.SECONDS);
            p3.initTransactions();
            assertEquals(e0 + 4, describeTxn(txnId).producerEpoch());
            KafkaException fe = assertThrows(KafkaException.class, p2::commitTransaction);
            assertEquals("org.apache.kafka.common.errors.ProducerFencedException: "
                    + "There is a newer producer with the same transactionalId which fences the current one.", fe.toString());

            p3.beginTransaction();
            p3.send(new ProducerRecord<>(topic, "k", "p3-a"));
            p3.commitTransaction();
            awaitEnded(txnId, true, pid, e0 + 5);
        } finally {
            p1.close(Duration.ZERO);
            p2.close(Duration.ZERO);
            p3.close(Duration.ZERO);
        }
        // p1-a, abort marker, p2-a, abort marker, p3-a, commit marker.
        assertEquals(6L, hw(tp));
        assertEquals(6L, lso(tp));
        assertEquals(List.of("p3-a"), values(readAll(List.of(tp), "read_committed").get(tp)));
        assertEquals(List.of("p1-a", "p2-a", "p3-a"), values(readAll(List.of(tp), "read_uncommitted").get(tp)));
    }

    /**
     * A transaction left open past its transaction.timeout.ms (3 s) is
     * aborted by the coordinator, which bumps the epoch (the abort marker
     * carries it). The producer's late commitTransaction then fails with
     * InvalidTxnStateException, fatally (abort and every later transactional
     * call fail too; a new producer with the same transactional.id carries
     * on). Its late abortTransaction instead succeeds (version 2 takes it for
     * a retry of the abort that happened), and the producer commits its next
     * transaction. read_committed never sees the timed-out records.
     */
    @Test
    void timedOutTransactionIsAborted(TestInfo info) throws Exception {
        String topic = unique("tv2-timeout", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        int timeoutMs = 3000;
        Map<String, String> timeout = Map.of(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, Integer.toString(timeoutMs));
        List<String> committed = new ArrayList<>();
        List<String> all = new ArrayList<>();
        for (String end : List.of("commit", "abort")) {
            String txnId = unique("tv2-timeout-" + end, info);
            long pid;
            int e0;
            try (KafkaProducer<String, String> p = txnProducer(txnId, timeout)) {
                p.initTransactions();
                TransactionDescription d0 = describeTxn(txnId);
                pid = d0.producerId();
                e0 = d0.producerEpoch();
                p.beginTransaction();
                long sent = System.currentTimeMillis();
                p.send(new ProducerRecord<>(topic, "k", "timed-out-" + end)).get(T, TimeUnit.SECONDS);
                all.add("timed-out-" + end);
                TransactionDescription open = describeTxn(txnId);
                if (System.currentTimeMillis() - sent < timeoutMs / 2) {
                    // (Unless the machine stalled: then it may have timed out already.)
                    assertEquals(TransactionState.ONGOING, open.state(), open.toString());
                }

                // The coordinator aborts it once the timeout has passed, at the next epoch.
                TransactionDescription d = awaitEnded(txnId, false, pid, e0 + 1);
                assertEquals(timeoutMs, d.transactionTimeoutMs());
                long started = d.transactionStartTimeMs().orElseThrow();
                ProducerState ps = producerOn(tp, pid);
                assertEquals(e0 + 1, ps.producerEpoch(), "the abort marker's epoch: " + ps);
                assertTrue(ps.currentTransactionStartOffset().isEmpty(), ps.toString());
                long abortedAfter = ps.lastTimestamp() - started;
                assertTrue(abortedAfter >= timeoutMs && abortedAfter < timeoutMs + 15_000,
                        "the abort marker written " + abortedAfter + " ms after the transaction started");

                if (end.equals("commit")) {
                    KafkaException e = assertThrows(KafkaException.class, p::commitTransaction);
                    assertEquals("org.apache.kafka.common.errors.InvalidTxnStateException: "
                            + "The producer attempted a transactional operation in an invalid state.", e.toString());
                    assertEquals(d, describeTxn(txnId), "the refused commit changed nothing");
                    // Fatal: the producer can neither abort nor start again.
                    KafkaException ae = assertThrows(KafkaException.class, p::abortTransaction);
                    assertEquals("org.apache.kafka.common.KafkaException: "
                            + "Cannot execute transactional method because we are in an error state", ae.toString());
                    assertEquals(e.toString(), String.valueOf(ae.getCause()));
                    KafkaException be = assertThrows(KafkaException.class, p::beginTransaction);
                    assertEquals(ae.toString(), be.toString());
                } else {
                    p.abortTransaction();
                    assertEquals(d, describeTxn(txnId), "the late abort is a retry of the one that happened");
                    p.beginTransaction();
                    p.send(new ProducerRecord<>(topic, "k", "after-" + end)).get(T, TimeUnit.SECONDS);
                    all.add("after-" + end);
                    committed.add("after-" + end);
                    p.commitTransaction();
                    awaitEnded(txnId, true, pid, e0 + 2);
                }
            }
            if (end.equals("commit")) {
                // A new producer with the transactional.id carries on.
                try (KafkaProducer<String, String> p = txnProducer(txnId, timeout)) {
                    p.initTransactions();
                    TransactionDescription d = describeTxn(txnId);
                    assertEquals(TransactionState.EMPTY, d.state(), d.toString());
                    assertEquals(pid, d.producerId(), d.toString());
                    assertEquals(e0 + 2, d.producerEpoch(), d.toString());
                    p.beginTransaction();
                    p.send(new ProducerRecord<>(topic, "k", "after-" + end)).get(T, TimeUnit.SECONDS);
                    all.add("after-" + end);
                    committed.add("after-" + end);
                    p.commitTransaction();
                    awaitEnded(txnId, true, pid, e0 + 3);
                }
            }
        }
        assertEquals(hw(tp), lso(tp));
        assertEquals(8L, hw(tp), "4 records and 4 markers");
        assertEquals(committed, values(readAll(List.of(tp), "read_committed").get(tp)));
        assertEquals(all, values(readAll(List.of(tp), "read_uncommitted").get(tp)));
    }

    /**
     * 300 transactions of one record each, back to back, within a minute
     * (Kafka: about 5 s): read_committed reads every record once, in order,
     * and the producer's epoch has grown by 300, at the coordinator and on
     * the partition, under the same producer id.
     */
    @Test
    void manyShortTransactions(TestInfo info) throws Exception {
        String topic = unique("tv2-many", info);
        createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        String txnId = unique("tv2-many-txn", info);
        int n = 300;
        long pid;
        int e0;
        try (KafkaProducer<String, String> p = txnProducer(txnId)) {
            p.initTransactions();
            TransactionDescription d0 = describeTxn(txnId);
            pid = d0.producerId();
            e0 = d0.producerEpoch();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                p.beginTransaction();
                p.send(new ProducerRecord<>(topic, "k", "m" + i));
                p.commitTransaction();
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 60_000, n + " transactions took " + ms + " ms");
            awaitEnded(txnId, true, pid, e0 + n);
        }
        ProducerState ps = producerOn(tp, pid);
        assertEquals(e0 + n, ps.producerEpoch(), ps.toString());
        assertEquals(2L * n, hw(tp));
        assertEquals(2L * n, lso(tp));
        List<ConsumerRecord<String, String>> rc = readAll(List.of(tp), "read_committed").get(tp);
        assertEquals(n, rc.size());
        for (int i = 0; i < n; i++) {
            assertEquals("m" + i, rc.get(i).value());
            assertEquals(2L * i, rc.get(i).offset());
        }
    }
}
