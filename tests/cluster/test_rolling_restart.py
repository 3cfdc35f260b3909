"""
Rolling restart of all three brokers while producing and consuming: the
application sees no error other than retried ones, nothing lost.

3 combined nodes (Kafka's default timeouts); a topic of 6 partitions with
replication factor 3 and min.insync.replicas=2; __consumer_offsets has
replication factor 3 (localcluster.py). With Debian's confluent-kafka
(1.7, librdkafka 2.0):

- a producer thread: an idempotent producer with acks=all writes numbered
  records ("r0", "r1", ...; record i to partition i % 6) about 200 a
  second until the roll is over (bounded in time), then flushes;
- a consumer thread: one member of a consumer group (subscribe) reads
  them and commits synchronously after every COMMIT_EVERY records.

Each node in turn (a random order; the seed is printed, and
GREGOR_ROLLING_SEED sets it): SIGTERM (node.stop(): it must exit by itself
within 30 s), DOWN_S seconds down while the others carry on, started
again; before the next node, every node's Metadata must show it back in
the ISR of every partition of the topic and of __consumer_offsets.

Then the producer stops and the consumer reads up to the partitions' end
offsets and commits. Checked: no delivery error (every record produced is
acknowledged); the errors the clients met (error callbacks, consume and
commit errors) are only retriable ones, counted and printed, and none is
fatal; every acknowledged record is read at the offset it was
acknowledged at (a record read twice after a rebalance is counted, not an
error; a record at two offsets would be a duplicate the idempotent
producer must prevent); the group's committed offsets are the end
offsets. Printed: the seed and order, each node's stop and way back to the
ISR, the longest gap between consecutive acknowledgements.

Passes on Apache Kafka 4.4.0 (--broker=kafka) and on Gregor.
"""

import os
import random
import threading
import time

import pytest

import localcluster
from clustertest import ReplicaNotInIsr, unique, wait_until

pytestmark = pytest.mark.timeout(240)

PARTITIONS = 6
COMMIT_EVERY = 200          # records between synchronous commits
PRODUCE_INTERVAL_S = 0.005  # about 200 records a second
DOWN_S = 3.0                # how long each node stays down
PRODUCE_LIMIT_S = 180.0     # the producer stops by then whatever happens
ISR_TIMEOUT_S = 60.0

# What a client may meet while a broker restarts and which it retries by
# itself (librdkafka retries these; the application carries on): a broken
# connection, a request timed out, a leader or coordinator that moved or
# is not ready, a commit refused while the group rebalances or before the
# coordinator is known. librdkafka flags few of them retriable() in the
# error callback (a _TRANSPORT error there is "disconnected, reconnecting").
RETRIABLE = {
    "_TRANSPORT", "_TIMED_OUT", "_MSG_TIMED_OUT", "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION",
    "_WAIT_COORD", "NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS", "REBALANCE_IN_PROGRESS", "NOT_LEADER_OR_FOLLOWER",
    "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "UNKNOWN_TOPIC_OR_PARTITION",
}


def retriable(err):
    return not err.fatal() and (err.retriable() or err.name() in RETRIABLE)


class ClientErrors:
    """The errors one client met: [(seconds since the start, where, name,
    retriable, fatal, text)]."""

    def __init__(self, t0):
        self.t0, self.items, self.lock = t0, [], threading.Lock()

    def add(self, where, err):
        with self.lock:
            self.items.append((round(time.monotonic() - self.t0, 2), where, err.name(),
                               err.retriable(), err.fatal(), err.str()))

    def exception(self, where, e):
        with self.lock:
            self.items.append((round(time.monotonic() - self.t0, 2), where,
                               type(e).__name__, False, True, repr(e)))

    def counts(self):
        out = {}
        for _t, where, name, *_ in self.items:
            out["%s %s" % (where, name)] = out.get("%s %s" % (where, name), 0) + 1
        return out

    def bad(self):
        """Fatal ones and those no client retries."""
        return [e for e in self.items
                if e[4] or not (e[3] or e[2] in RETRIABLE)]


class ProducerThread(threading.Thread):
    def __init__(self, bootstrap, topic, t0):
        super().__init__(daemon=True, name="rolling-producer")
        from confluent_kafka import Producer
        self.errors = ClientErrors(t0)
        self.t0 = t0
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                           "acks": "all", "linger.ms": 5, "message.timeout.ms": 120000,
                           "error_cb": lambda err: self.errors.add("producer", err)})
        self.topic = topic
        self.stop_at = time.monotonic() + PRODUCE_LIMIT_S
        self.halt = threading.Event()
        self.sent = 0
        self.acked = {}          # value: (partition, offset)
        self.ack_times = []      # (monotonic, partition) of every acknowledgement
        self.delivery_errors = []
        self.left = None
        self.crashed = None

    def _dr(self, err, msg):
        if err is not None:
            self.delivery_errors.append((msg.value().decode(), err.name(), err.str()))
            return
        self.ack_times.append((time.monotonic(), msg.partition()))
        self.acked[msg.value().decode()] = (msg.partition(), msg.offset())

    def run(self):
        try:
            i = 0
            while not self.halt.is_set() and time.monotonic() < self.stop_at:
                self.p.produce(self.topic, value=("r%d" % i).encode(), partition=i % PARTITIONS,
                               on_delivery=self._dr)
                i += 1
                self.sent = i
                self.p.poll(PRODUCE_INTERVAL_S)
            self.left = self.p.flush(60)
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.crashed = repr(e)
            self.errors.exception("producer", e)

    def stalls(self):
        """The longest gap between consecutive acknowledgements (s, ending
        at seconds since t0), overall and per partition."""
        times = sorted(t for t, _q in self.ack_times)
        gaps = [(b - a, b - self.t0) for a, b in zip(times, times[1:])]
        per = {}
        for q in range(PARTITIONS):
            ts = sorted(t for t, p in self.ack_times if p == q)
            per[q] = round(max((b - a for a, b in zip(ts, ts[1:])), default=0.0), 2)
        return max(gaps, default=(0.0, 0.0)), per


class ConsumerThread(threading.Thread):
    """One member of the group: reads, commits synchronously every
    COMMIT_EVERY records; once told the end offsets, reads up to them,
    commits and leaves."""

    def __init__(self, bootstrap, topic, group, t0):
        super().__init__(daemon=True, name="rolling-consumer")
        from confluent_kafka import Consumer
        self.errors = ClientErrors(t0)
        self.t0 = t0
        self.topic = topic
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "error_cb": lambda err: self.errors.add("consumer", err)})
        self.read = {}           # (partition, offset): value
        self.reads = 0           # every record read, duplicates included
        self.duplicates = 0      # (partition, offset) read again (after a rebalance)
        self.next = {}           # partition: the offset after the last one read
        self.assignments = []    # (seconds, "assign"/"revoke", partitions)
        self.commits = 0
        self.last_commit = None  # seconds since t0 of the last successful commit
        self.ends = None         # set by the test: {partition: end offset}
        self.halt = threading.Event()
        self.done = threading.Event()
        self.final_commit = None
        self.crashed = None

    def _commit(self, where):
        """One synchronous commit; True when it succeeded (or there was
        nothing new to commit)."""
        from confluent_kafka import KafkaError, KafkaException
        try:
            res = self.c.commit(asynchronous=False)
        except KafkaException as e:
            err = e.args[0]
            if err.code() == KafkaError._NO_OFFSET:
                return True
            self.errors.add(where, err)
            return False
        bad = [tp for tp in (res or []) if tp.error is not None]
        for tp in bad:
            self.errors.add(where, tp.error)
        if bad:
            return False
        self.commits += 1
        self.last_commit = round(time.monotonic() - self.t0, 2)
        return True

    def caught_up(self):
        return self.ends is not None and all(self.next.get(q, 0) >= end
                                             for q, end in self.ends.items())

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.crashed = repr(e)
            self.errors.exception("consumer", e)
        finally:
            try:
                self.c.close()
            except Exception as e:  # noqa: BLE001
                self.errors.exception("close", e)
            self.done.set()

    def _run(self):
        def on_assign(_c, ps):
            self.assignments.append((round(time.monotonic() - self.t0, 2), "assign",
                                     sorted(p.partition for p in ps)))

        def on_revoke(_c, ps):
            self.assignments.append((round(time.monotonic() - self.t0, 2), "revoke",
                                     sorted(p.partition for p in ps)))
        self.c.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
        since_commit = 0
        while not self.halt.is_set():
            for m in self.c.consume(num_messages=200, timeout=0.2):
                if m.error() is not None:
                    self.errors.add("consume", m.error())
                    continue
                key = (m.partition(), m.offset())
                if key in self.read:
                    self.duplicates += 1
                self.read[key] = m.value().decode()
                self.reads += 1
                self.next[m.partition()] = max(self.next.get(m.partition(), 0), m.offset() + 1)
                since_commit += 1
            if since_commit >= COMMIT_EVERY:
                if self._commit("commit"):
                    since_commit = 0
            if self.caught_up():
                # Everything is read: commit until it is taken (bounded by the test).
                if since_commit == 0 or self._commit("final commit"):
                    self.final_commit = round(time.monotonic() - self.t0, 2)
                    return


def create_topic(bootstrap, name):
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(name, PARTITIONS, 3,
                                   config={"min.insync.replicas": "2"})],
                         operation_timeout=30, request_timeout=30)
    fs[name].result(timeout=40)
    res = ConfigResource("topic", name)

    def min_isr():
        got = a.describe_configs([res])[res].result(timeout=10)
        return got["min.insync.replicas"].value == "2"
    wait_until("%s: min.insync.replicas=2 in DescribeConfigs" % name, min_isr, 30)


def end_offsets(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("rolling-ends")})
    try:
        return {q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=30)[1]
                for q in range(PARTITIONS)}
    finally:
        c.close()


def committed_offsets(bootstrap, topic, group):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        r = c.committed([TopicPartition(topic, q) for q in range(PARTITIONS)], timeout=30)
        assert all(tp.error is None for tp in r), [str(tp.error) for tp in r]
        return {tp.partition: tp.offset for tp in r}
    finally:
        c.close()


def wait_all_isrs_full(c, topic, timeout):
    """Until every node's Metadata shows [1, 2, 3] as the ISR of every
    partition of `topic` and of __consumer_offsets (one deadline for all);
    raises ReplicaNotInIsr with the partitions that were not."""
    seen = {}

    def full():
        short = {}
        for n in c.brokers():
            parts = localcluster.metadata(n.client_port)["partitions"]
            for t in (topic, "__consumer_offsets"):
                p = parts.get(t) or {}
                bad = {q: v for q, v in p.items() if sorted(v[2]) != [1, 2, 3]}
                if bad or not p:
                    short["node %d: %s" % (n.node_id, t)] = bad or "no partitions"
        seen["last"] = short
        return not short
    try:
        wait_until("every ISR full", full, timeout)
    except AssertionError:
        raise ReplicaNotInIsr("not after %.0f s: every node's Metadata shows [1, 2, 3] as the "
                              "ISR of every partition of %s and __consumer_offsets; last seen "
                              "{node: topic: {partition: (leader, replicas, isr)}}: %s"
                              % (timeout, topic, seen.get("last")))


def in_isr(node, broker, topic):
    """{topic: how many of its partitions have `broker` in their ISR} in
    this node's Metadata."""
    parts = localcluster.metadata(node.client_port)["partitions"]
    return {t: sum(1 for _l, _r, isr in parts.get(t, {}).values() if broker in isr)
            for t in (topic, "__consumer_offsets")}


def test_rolling_restart_while_producing_and_consuming(start_cluster, measured):
    seed = int(os.environ.get("GREGOR_ROLLING_SEED") or random.SystemRandom().randrange(10 ** 6))
    order = [1, 2, 3]
    random.Random(seed).shuffle(order)
    measured("seed %d (GREGOR_ROLLING_SEED): restart order %s" % (seed, order))

    c = start_cluster("combined", nodes=3)
    topic, group = unique("rolling"), unique("rolling-group")
    create_topic(c.bootstrap, topic)
    t0 = time.monotonic()
    consumer = ConsumerThread(c.bootstrap, topic, group, t0)
    producer = ProducerThread(c.bootstrap, topic, t0)
    try:
        consumer.start()
        # The member has all 6 partitions (its group created __consumer_offsets),
        # and every replica of both topics is in sync before the roll.
        wait_until("the group member is assigned all %d partitions" % PARTITIONS,
                   lambda: consumer.assignments and consumer.assignments[-1][1:] ==
                   ("assign", list(range(PARTITIONS))), 60)
        wait_all_isrs_full(c, topic, ISR_TIMEOUT_S)
        producer.start()
        wait_until("records acknowledged and read before the roll",
                   lambda: len(producer.acked) >= 300 and consumer.reads >= 300, 60)

        for i in order:
            n = c.node(i)
            t = time.monotonic()
            acked_before = len(producer.acked)
            clean = n.stop()
            stopped = time.monotonic() - t
            assert clean, "node %d did not exit within %.0f s of SIGTERM (killed)\n%s" \
                % (i, localcluster.STOP_TIMEOUT_S, n.log_tail())
            time.sleep(DOWN_S)
            acked_down = len(producer.acked) - acked_before
            still = in_isr(c.node(next(j for j in order if j != i)), i, topic)
            t_start = time.monotonic()
            c.start_node(i)
            c.wait_formed(nodes=[n])
            up = time.monotonic() - t_start
            wait_all_isrs_full(c, topic, ISR_TIMEOUT_S)
            back = time.monotonic() - t_start
            measured("node %d: exited %.2f s after SIGTERM; %d records acknowledged while it "
                     "stopped and was down; still in the ISR of %s partitions at the end of "
                     "its %.0f s down; restarted, it lists every broker after %.2f s, is in "
                     "every ISR (topic, __consumer_offsets) after %.2f s"
                     % (i, stopped, acked_down, still, DOWN_S, up, back))
            assert producer.is_alive() and consumer.is_alive(), \
                (producer.crashed, consumer.crashed)

        # A few more seconds of traffic with every node back, then stop.
        time.sleep(2)
        producer.halt.set()
        producer.join(70)
        assert not producer.is_alive(), "the producer's flush did not end"
        ends = end_offsets(c.bootstrap, topic)
        consumer.ends = ends
        consumer.done.wait(60)
        consumer.halt.set()
        consumer.join(30)
    finally:
        producer.halt.set()
        consumer.halt.set()

    worst, per_partition = producer.stalls()
    measured("%d records sent, %d acknowledged in %.1f s; longest gap between "
             "acknowledgements %.2f s (ending %.1f s after the start); per partition %s"
             % (producer.sent, len(producer.acked), time.monotonic() - t0, worst[0], worst[1],
                per_partition))
    measured("producer errors %s; consumer errors %s" % (producer.errors.counts(),
                                                         consumer.errors.counts()))
    measured("consumer: %d reads, %d read again, %d successful commits, assignments %s"
             % (consumer.reads, consumer.duplicates, consumer.commits, consumer.assignments))

    assert producer.crashed is None, producer.crashed
    assert not producer.delivery_errors, "delivery errors (%d): %s" \
        % (len(producer.delivery_errors), producer.delivery_errors[:5])
    assert producer.left == 0 and len(producer.acked) == producer.sent, \
        "%d sent, %d acknowledged, %s left in the queue" % (producer.sent, len(producer.acked),
                                                            producer.left)
    bad = producer.errors.bad() + consumer.errors.bad()
    assert not bad, "errors other than retriable ones: %s" % bad[:10]
    assert consumer.crashed is None, consumer.crashed

    # Nothing acknowledged is lost, and each record is where it was acknowledged.
    at = {}
    for v, (q, off) in producer.acked.items():
        at.setdefault((q, off), []).append(v)
    doubled = {k: vs for k, vs in at.items() if len(vs) > 1}
    assert not doubled, "acknowledged at the same offset: %s" % list(doubled.items())[:5]
    lost = sorted(((q, off), v) for v, (q, off) in producer.acked.items()
                  if (q, off) not in consumer.read)
    moved = sorted(((q, off), v, consumer.read[(q, off)]) for v, (q, off) in
                   producer.acked.items() if consumer.read.get((q, off), v) != v)
    assert not lost, "%d acknowledged records never read (end offsets %s, read up to %s): %s" \
        % (len(lost), ends, consumer.next, lost[:10])
    assert not moved, "records read at an offset other than their acknowledged one: %s" \
        % moved[:10]
    # Nothing but the acknowledged records in the log: no duplicate written.
    extra = sorted((k, v) for k, v in consumer.read.items() if k not in at)
    assert not extra, "records in the log that were not acknowledged there: %s" % extra[:10]
    want_ends = {q: 1 + max((off for (p, off) in at if p == q), default=-1)
                 for q in range(PARTITIONS)}
    assert ends == want_ends, "end offsets %s, acknowledged up to %s" % (ends, want_ends)
    assert consumer.final_commit is not None, \
        "the consumer did not read up to the end offsets %s and commit (read up to %s) " \
        "within 60 s" % (ends, consumer.next)

    got = committed_offsets(c.bootstrap, topic, group)
    assert got == ends, "committed %s, end offsets %s" % (got, ends)
