"""
Kafka Streams 4.4.0 against the broker under test (Gregor, or Apache Kafka
with --broker=kafka): the application in tests/streams/StreamsCheck.java runs
as a subprocess with the broker's bootstrap.servers and three topologies:

  wordcount  a count per word over 10 s tumbling windows (groupBy makes a
             repartition topic, the windowed store a changelog topic);
  join       an orders stream, re-keyed by customer (repartition topic),
             left-joined with a customers KTable;
  total      a running total per key kept by a processor in a KeyValueStore
             (changelog topic).

The input is produced here with explicit keys, event timestamps and Java's
partitioner (murmur2), record caches are off, so every input record yields
exactly one output record: the test computes the expected output in Python,
independently of Streams, and compares it with what it consumes from the
output topics (keys, values, per-key order, and timestamps where Streams
defines them). Both brokers have to match the same expectation.

What is shown:
  * at_least_once with Streams' defaults: the Java producer in Streams is
    idempotent by default (enable.idempotence=true), so it asks for a
    producer id (InitProducerId) first;
  * at_least_once with producer.enable.idempotence=false (no producer id);
  * exactly_once_v2 with Streams' defaults: a transactional producer per
    stream thread (transaction coordinator, AddPartitionsToTxn,
    TxnOffsetCommit, EndTxn), the output read with read_committed; the
    commit markers take offsets, so each output partition's end offset is
    past its last record.
  * repartition topics purged: after the word count's output is complete,
    Streams deletes the processed records of its repartition topic
    (DeleteRecords); on Kafka each partition's start offset reaches its end.
    Gregor does not serve DeleteRecords: a strict expected failure asserting
    the client's error "UnsupportedVersionException: The node does not
    support DELETE_RECORDS" (logged by Streams at DEBUG only; the
    application keeps running and the repartition topic keeps growing).

Every run is bounded: the application has its own deadline, the test waits a
bounded time for the output and stops (then kills) the process.
"""

import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import GregorGap, REPO, create_topic, produce_all, make_consumer
import kafkaref

SRC = REPO / "tests" / "streams" / "StreamsCheck.java"
LOG4J = REPO / "tests" / "streams" / "log4j2.yaml"
CLASSES = REPO / "build" / "streams" / "classes"

APP_DEADLINE_S = 150      # the application closes itself after this
OUTPUT_TIMEOUT_S = 100    # the test waits this long for the complete output
STOP_TIMEOUT_S = 40       # SIGTERM -> exit (close() waits up to 20 s)
PARTITIONS = 2





# ---------------------------------------------------------------- the app

def compile_app():
    """javac the application into build/streams/classes when the source is
    newer than the class file (a temp dir renamed into place, so a broken
    compile leaves nothing half-written)."""
    target = CLASSES / "StreamsCheck.class"
    if target.exists() and target.stat().st_mtime >= SRC.stat().st_mtime:
        return
    tmp = CLASSES.parent / ("classes.tmp%d" % os.getpid())
    tmp.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["javac", "--release", "17", "-cp", kafkaref.classpath(),
                        "-d", str(tmp), str(SRC)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, "javac failed:\n%s%s" % (r.stdout, r.stderr)
    if CLASSES.exists():
        old = CLASSES.parent / ("classes.old%d" % os.getpid())
        CLASSES.rename(old)
        subprocess.run(["rm", "-rf", str(old)], timeout=60)
    tmp.rename(CLASSES)


class StreamsApp:
    """One run of StreamsCheck as a subprocess, stdout and stderr in files."""

    def __init__(self, workdir, topology, bootstrap, guarantee, extra=None, log4j=LOG4J):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.topology = topology
        self.log4j = log4j
        self.app_id = "streams-check-%s-%s" % (topology, uuid.uuid4().hex[:8])
        props = {
            "bootstrap.servers": bootstrap,
            "application.id": self.app_id,
            "processing.guarantee": guarantee,
            "commit.interval.ms": "100",
            # no record caches: one output record per input record
            "statestore.cache.max.bytes": "0",
            "num.stream.threads": "1",
            "state.dir": str(self.workdir / "state"),
        }
        props.update(extra or {})
        self.props_path = self.workdir / "app.properties"
        self.props_path.write_text("".join("%s=%s\n" % kv for kv in props.items()))
        self.out_path = self.workdir / "stdout.txt"
        self.err_path = self.workdir / "stderr.txt"
        self.proc = None

    def start(self):
        compile_app()
        cmd = ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-Dlog4j2.configurationFile=" + str(self.log4j),
               "-cp", "%s:%s" % (CLASSES, kafkaref.classpath()),
               "StreamsCheck", self.topology, str(self.props_path), str(APP_DEADLINE_S)]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=str(self.workdir))
        return self

    def exited(self):
        return self.proc.poll() is not None

    def lines(self):
        return self.out_path.read_text("utf-8", "replace").splitlines()

    def failure(self):
        """The UNCAUGHT line and its CAUSE lines, or [] if none was printed."""
        ls = self.lines()
        for i, line in enumerate(ls):
            if line.startswith("UNCAUGHT "):
                j = i + 1
                while j < len(ls) and ls[j].startswith("CAUSE "):
                    j += 1
                return ls[i:j]
        return []

    def wait_failure(self, timeout=15):
        """After an error: wait (bounded) until the app has printed its EXIT
        line or exited, then return failure() (the handler prints the
        exception before the client changes state)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.exited() and \
                not any(l.startswith("EXIT ") for l in self.lines()):
            time.sleep(0.2)
        return self.failure()

    def stop(self):
        """SIGTERM (the app closes KafkaStreams and prints EXIT), SIGKILL if
        it hangs. Returns the EXIT line or None."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        exits = [l for l in self.lines() if l.startswith("EXIT ")]
        return exits[-1] if exits else None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stderr_lines(self):
        return self.err_path.read_text("utf-8", "replace").splitlines()

    def report(self, lines=40):
        err = self.err_path.read_text("utf-8", "replace").splitlines()
        return ("--- app stdout ---\n%s\n--- app stderr (tail) ---\n%s"
                % ("\n".join(l[:400] for l in self.lines()),
                   "\n".join(l[:400] for l in err[-lines:])))


@pytest.fixture
def apps():
    """Starts StreamsApp runs; kills whatever is still running at teardown."""
    started = []

    def _start(*args, **kw):
        a = StreamsApp(*args, **kw).start()
        started.append(a)
        return a

    yield _start
    for a in started:
        a.kill()


def consume_output(bootstrap, topic, count, app, timeout=OUTPUT_TIMEOUT_S):
    """Read `topic` (all partitions, from the beginning, read_committed)
    until `count` records arrived, then half a second more (anything extra
    is a duplicate and fails the comparison). Returns
    [(partition, key, value, timestamp)] in arrival order, per-partition
    offset order. Fails as soon as the application dies."""
    from confluent_kafka import TopicPartition, OFFSET_BEGINNING
    # read_committed (librdkafka's default, said here because exactly_once_v2
    # depends on it): no record of an aborted or open transaction.
    c = make_consumer(bootstrap, **{"isolation.level": "read_committed"})
    got = []
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + timeout
        while len(got) < count:
            failure = app.failure()
            if app.exited() or failure:
                raise AssertionError("the Streams application failed after %d of %d "
                                     "output records:\n%s" % (len(got), count, app.report()))
            if time.monotonic() > deadline:
                raise AssertionError("only %d of %d output records after %d s:\n%s"
                                     % (len(got), count, timeout, app.report()))
            for m in c.consume(num_messages=500, timeout=0.5):
                assert m.error() is None, "consumer error: %s" % m.error()
                got.append((m.partition(), m.key().decode(), m.value().decode(),
                            m.timestamp()[1]))
        for m in c.consume(num_messages=500, timeout=0.5):
            if m.error() is None:
                got.append((m.partition(), m.key().decode(), m.value().decode(),
                            m.timestamp()[1]))
        return got
    finally:
        c.close()


def per_key(records, with_ts=False):
    """{key: [value, ...]} (or [(value, ts)]) in the order they arrived."""
    out = {}
    for _, k, v, ts in records:
        out.setdefault(k, []).append((v, ts) if with_ts else v)
    return out


def produce(bootstrap, topic, records):
    """records: (key, value, timestamp_ms) with str key/value. Java's
    murmur2 partitioner, so that keys land where Streams' own producer would
    put them (co-partitioning of the join)."""
    produce_all(bootstrap, topic,
                [{"key": k.encode(), "value": v.encode(), "timestamp": ts}
                 for k, v, ts in records],
                partitioner="murmur2_random")


# ---------------------------------------------------------------- the inputs

BASE_TS = 1_767_225_600_000   # 2026-01-01T00:00:00Z, a multiple of 10 s


def wordcount_case(bootstrap):
    """Lines of words over 65 s of event time: 7 windows of 10 s. Returns
    (output topic, expected {"word@windowStart": ["1", ..., "n"]})."""
    rnd = random.Random(1601)
    vocab = ["kafka", "gregor", "stream", "window", "tumbling", "count",
             "größe", "café", "日本"]
    lines, counts = [], {}
    for i in range(150):
        words = [rnd.choice(vocab) for _ in range(rnd.randint(1, 6))]
        words = [w.upper() if rnd.random() < 0.2 else w for w in words]
        ts = BASE_TS + i * 437           # not aligned with the windows
        lines.append(("line-%03d" % i, "  ".join(words) if i % 7 == 0 else " ".join(words),
                      ts))
        for w in words:
            # the app lower-cases (Locale.ROOT): "GRÖSSE" -> "grösse", as here
            key = "%s@%d" % (w.lower(), ts - ts % 10_000)
            counts[key] = counts.get(key, 0) + 1
    for t in ("words-in", "wordcount-out"):
        create_topic(bootstrap, t, PARTITIONS)
    produce(bootstrap, "words-in", lines)
    expected = {k: [str(i) for i in range(1, n + 1)] for k, n in counts.items()}
    return "wordcount-out", expected


def join_case(bootstrap):
    """Customers (earlier timestamps, produced first) and orders, some of
    them for customers that do not exist. Returns (output topic, expected
    {orderId: [("customerId,amount,name", orderTimestamp)]})."""
    rnd = random.Random(1602)
    names = ["Ada", "Zoë", "Łukasz", "José", "Søren", "Grace", "Linus", "Ines"]
    customers = [("c%d" % i, names[i], BASE_TS + i) for i in range(len(names))]
    orders, expected = [], {}
    for i in range(200):
        c = rnd.randrange(len(names) + 2)          # c8, c9: unknown customers
        amount = rnd.randint(1, 999)
        ts = BASE_TS + 60_000 + i * 10
        orders.append(("o%03d" % i, "c%d,%d" % (c, amount), ts))
        name = names[c] if c < len(names) else "-"
        expected["o%03d" % i] = [("c%d,%d,%s" % (c, amount, name), ts)]
    for t in ("customers", "orders", "orders-enriched"):
        create_topic(bootstrap, t, PARTITIONS)
    produce(bootstrap, "customers", customers)
    produce(bootstrap, "orders", orders)
    return "orders-enriched", expected


def total_case(bootstrap):
    """Amounts per account (negative ones too). Returns (output topic,
    expected {account: [(running total, timestamp), ...]})."""
    rnd = random.Random(1603)
    accounts = ["acct-%d" % i for i in range(6)] + ["konto-ø", "口座"]
    records, expected, totals = [], {}, {}
    for i in range(300):
        a = rnd.choice(accounts)
        amount = rnd.randint(-500, 1000)
        ts = BASE_TS + i * 25
        records.append((a, str(amount), ts))
        totals[a] = totals.get(a, 0) + amount
        expected.setdefault(a, []).append((str(totals[a]), ts))
    for t in ("amounts", "totals-out"):
        create_topic(bootstrap, t, PARTITIONS)
    produce(bootstrap, "amounts", records)
    return "totals-out", expected


CASES = {
    # topology: (input builder, compare timestamps too)
    "wordcount": (wordcount_case, False),   # a window's result carries the
                                            # max timestamp seen, which
                                            # depends on the interleaving
    "join": (join_case, True),              # the order's timestamp
    "total": (total_case, True),            # the input record's timestamp
}


def run_case(broker, apps, tmp_path, topology, guarantee, extra=None,
             log4j=LOG4J, while_running=None):
    """Runs the application on the topology's input; checks its output and
    its clean end. Returns the output records (see consume_output)."""
    build, with_ts = CASES[topology]
    topic, expected = build(broker.bootstrap)
    count = sum(len(v) for v in expected.values())
    app = apps(tmp_path / "app", topology, broker.bootstrap, guarantee, extra, log4j)
    try:
        got = consume_output(broker.bootstrap, topic, count, app)
        if while_running is not None:
            while_running(app)
    except GregorGap:
        app.kill()
        raise
    exit_line = app.stop()
    assert exit_line == "EXIT 0 signal", "unclean end (%s):\n%s" % (exit_line, app.report())
    assert app.failure() == [], app.report()
    got_per_key = per_key(got, with_ts)
    assert len(got) == count, "%d output records, expected %d" % (len(got), count)
    assert got_per_key == expected
    # every key in one partition (the output is keyed)
    parts = {}
    for p, k, _, _ in got:
        parts.setdefault(k, set()).add(p)
    assert all(len(s) == 1 for s in parts.values())
    return topic, got


TOPOLOGIES = ["wordcount", "join", "total"]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_at_least_once_defaults(broker, apps, tmp_path, topology):
    run_case(broker, apps, tmp_path, topology, "at_least_once")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_at_least_once_without_idempotence(broker, apps, tmp_path, topology):
    run_case(broker, apps, tmp_path, topology, "at_least_once",
             extra={"producer.enable.idempotence": "false"})


@pytest.mark.timeout(240)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_exactly_once_v2(broker, apps, tmp_path, topology):
    from conftest import watermarks
    topic, got = run_case(broker, apps, tmp_path, topology, "exactly_once_v2")
    # Transactional output: every commit wrote a marker after the records
    # it committed, so a partition's end offset is past its last record.
    for p in range(PARTITIONS):
        n = sum(1 for r in got if r[0] == p)
        low, high = watermarks(broker.bootstrap, topic, p)
        assert low == 0 and high > n, (p, n, low, high)


# Streams deletes the records of its repartition topics once they are
# processed and committed (DeleteRecords, every repartition.purge.interval.ms;
# Streams creates those topics with retention.ms=-1, so this is what bounds
# them). A failed purge is logged only at DEBUG (its TaskManager) and Streams
# keeps running while the topics grow: the test turns that logger on and
# fails with the client's own words if it sees one.
PURGE_FAILED = ("Previous delete-records request has failed: ")


def purge_log4j(path):
    path.write_text(LOG4J.read_text() +
                    "    Logger:\n"
                    "      - name: org.apache.kafka.streams.processor.internals.TaskManager\n"
                    "        level: DEBUG\n")
    return path


@pytest.mark.timeout(240)
def test_repartition_topic_purged(broker, apps, tmp_path):
    def purged(app):
        # after the complete output, every repartition partition's start
        # offset must reach its end: all of it consumed, committed, deleted
        from conftest import watermarks
        topic = app.app_id + "-KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition"
        deadline = time.monotonic() + 40
        while True:
            marks = [watermarks(broker.bootstrap, topic, p) for p in range(PARTITIONS)]
            if all(high > 0 and low == high for low, high in marks):
                return
            for line in app.stderr_lines():
                if PURGE_FAILED in line:
                    raise AssertionError(line[line.index(PURGE_FAILED):][:300])
            if time.monotonic() > deadline:
                raise AssertionError("repartition topic %s not purged after 40 s: (low, high) "
                                     "per partition %s\n%s" % (topic, marks, app.report()))
            time.sleep(0.5)

    run_case(broker, apps, tmp_path, "wordcount", "at_least_once",
             extra={"producer.enable.idempotence": "false",
                    "repartition.purge.interval.ms": "200"},
             log4j=purge_log4j(tmp_path / "log4j2-purge.yaml"), while_running=purged)
