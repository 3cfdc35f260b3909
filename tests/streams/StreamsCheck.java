/*
 * A small Kafka Streams 4.4.0 application that tests/integration/test_streams.py
 * runs against the broker under test (Gregor or Apache Kafka).
 *
 * Built with plain javac against build/reference/libs/* rather than as a Maven
 * project: those jars are already pinned by tests/reference/pom.xml
 * (kafka-streams 4.4.0, the same jars the reference broker runs from), javac
 * compiles this one file in a few seconds, and a Maven build would first have
 * to resolve its compiler plugins (network, and tens of seconds on this
 * machine). The test compiles it into build/streams/classes when the source is
 * newer than the class files.
 *
 * Usage: StreamsCheck wordcount|join|total CONFIG.properties DEADLINE_SECONDS
 *
 *   wordcount  words-in (value: a line of text, with an event timestamp)
 *              -> count per word in 10 s tumbling windows (groupBy: a
 *              repartition topic; count: a windowed store and its changelog)
 *              -> wordcount-out, key "word@windowStartMs", value the count.
 *   join       orders (key order id, value "customerId,amount") re-keyed by
 *              customer (repartition topic), left-joined with the KTable of
 *              customers (key customer id, value name)
 *              -> orders-enriched, key order id, value "customerId,amount,name"
 *              (name "-" when the customer is unknown).
 *   total      amounts (key account, value a decimal number) -> a processor
 *              keeping the running total per key in a KeyValueStore (with a
 *              changelog topic) -> totals-out, key account, value the total.
 *
 * The record caches are off (statestore.cache.max.bytes=0 is expected in the
 * config), so every input record yields exactly one output record and the
 * output is deterministic.
 *
 * What it prints on stdout (the test parses these lines):
 *   STATE <old> -> <new>           every KafkaStreams state change
 *   UNCAUGHT <class>: <message>    the exception that killed a stream thread
 *   CAUSE <class>: <message>       its causes, outermost first
 *   EXIT <code> <why>              just before exiting
 * Exit codes: 0 closed on SIGTERM (the test's "output complete"), 1 a stream
 * thread died or the client went to ERROR, 2 the deadline passed.
 */

import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

public class StreamsCheck {

    static final String TOTALS_STORE = "totals";

    static Topology wordcount() {
        StreamsBuilder b = new StreamsBuilder();
        b.stream("words-in", Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> java.util.Arrays.asList(line.toLowerCase(java.util.Locale.ROOT).split("\\s+")))
            .filter((k, w) -> !w.isEmpty())
            .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
            // A grace period far longer than the input's time span: with two
            // input partitions the repartitioned records interleave, and no
            // record may be dropped as late because of that interleaving.
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofHours(1)))
            .count()
            .toStream()
            .map((wk, n) -> KeyValue.pair(wk.key() + "@" + wk.window().start(), Long.toString(n)))
            .to("wordcount-out", Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    static Topology join() {
        StreamsBuilder b = new StreamsBuilder();
        KTable<String, String> customers =
            b.table("customers", Consumed.with(Serdes.String(), Serdes.String()));
        KStream<String, String> orders =
            b.stream("orders", Consumed.with(Serdes.String(), Serdes.String()));
        orders
            // keep the order id in the value while the stream is keyed by customer
            .map((orderId, v) -> KeyValue.pair(v.split(",")[0], orderId + "," + v))
            .repartition(Repartitioned.with(Serdes.String(), Serdes.String()))
            .leftJoin(customers, (ov, name) -> ov + "," + (name == null ? "-" : name))
            .map((customer, v) -> {
                int comma = v.indexOf(',');
                return KeyValue.pair(v.substring(0, comma), v.substring(comma + 1));
            })
            .to("orders-enriched", Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    /** Running total per key, kept in a persistent KeyValueStore. */
    static class Totals implements Processor<String, String, String, String> {
        private ProcessorContext<String, String> context;
        private KeyValueStore<String, Long> store;

        @Override
        public void init(ProcessorContext<String, String> context) {
            this.context = context;
            this.store = context.getStateStore(TOTALS_STORE);
        }

        @Override
        public void process(Record<String, String> r) {
            Long old = store.get(r.key());
            long total = (old == null ? 0 : old) + Long.parseLong(r.value());
            store.put(r.key(), total);
            context.forward(r.withValue(Long.toString(total)));
        }
    }

    static Topology total() {
        StreamsBuilder b = new StreamsBuilder();
        StoreBuilder<KeyValueStore<String, Long>> store = Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(TOTALS_STORE), Serdes.String(), Serdes.Long());
        b.addStateStore(store);
        b.stream("amounts", Consumed.with(Serdes.String(), Serdes.String()))
            .process(Totals::new, TOTALS_STORE)
            .to("totals-out", Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    static void printThrowable(String tag, Throwable e) {
        System.out.println(tag + " " + e.getClass().getName() + ": " + e.getMessage());
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            System.out.println("CAUSE " + c.getClass().getName() + ": " + c.getMessage());
        }
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: StreamsCheck wordcount|join|total CONFIG.properties DEADLINE_SECONDS");
            System.exit(64);
        }
        Topology topology;
        switch (args[0]) {
            case "wordcount": topology = wordcount(); break;
            case "join": topology = join(); break;
            case "total": topology = total(); break;
            default:
                System.err.println("unknown topology " + args[0]);
                System.exit(64);
                return;
        }
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[1])) {
            props.load(in);
        }
        long deadlineSeconds = Long.parseLong(args[2]);
        System.out.println("TOPOLOGY " + topology.describe().toString().replace('\n', ' '));

        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<String> why = new AtomicReference<>();
        streams.setStateListener((newState, oldState) -> {
            System.out.println("STATE " + oldState + " -> " + newState);
            System.out.flush();
            if (newState == KafkaStreams.State.ERROR) {
                why.compareAndSet(null, "error");
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            printThrowable("UNCAUGHT", e);
            why.compareAndSet(null, "error");
            done.countDown();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            why.compareAndSet(null, "signal");
            done.countDown();
            // Wait here so the JVM does not exit before main has closed the client.
            try {
                closed.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
            }
        }));

        streams.start();
        if (!done.await(deadlineSeconds, TimeUnit.SECONDS)) {
            why.compareAndSet(null, "deadline");
        }
        streams.close(Duration.ofSeconds(20));
        int code = "signal".equals(why.get()) ? 0 : "error".equals(why.get()) ? 1 : 2;
        System.out.println("EXIT " + code + " " + why.get());
        System.out.flush();
        closed.countDown();
        if (!"signal".equals(why.get())) {
            System.exit(code);
        }
        // On a signal the JVM is already shutting down; its exit code is the
        // signal's (143 for SIGTERM). The EXIT line above is what the test reads.
    }

    static final CountDownLatch closed = new CountDownLatch(1);
}
