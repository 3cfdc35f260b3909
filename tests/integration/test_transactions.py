"""
Transactions (KIP-98, KIP-447): what a transactional producer, a
consume-transform-produce program and read_committed consumers see, with
real clients against a real broker, on Apache Kafka and on Gregor.

Proves, with confluent-kafka-python (Debian's 1.7 on librdkafka 2.0.2, in
this process, unless said otherwise):
- visibility: records of a committed transaction are seen by a
  read_committed consumer, those of an aborted one never; a
  read_uncommitted consumer sees both. While a transaction is open, a
  read_committed consumer sees nothing of it (nor anything after it) and a
  read_uncommitted one sees its records. Control records (the commit and
  abort markers) never reach the application: each transaction leaves a
  one-offset gap after its records in each partition it wrote, exactly
  where its marker sits, and no consumer gets a message at that offset;
- exactly once under crashes: a consume-transform-produce program
  (txn_processor.py, a subprocess; send_offsets_to_transaction commits the
  input offsets inside each transaction) is killed with SIGKILL at seeded
  random moments, 20 times (during start-up, at any moment while working,
  and just after a transaction's records reached the broker), and started
  again each time. Afterwards the output topic, read read_committed, holds
  each input record exactly once and in input order per partition; the
  group's committed offsets are the end of the input; and some killed
  transactions left records that only read_uncommitted sees (the kills
  really landed mid-transaction);
- zombie fencing: a second producer with the same transactional.id fences
  the first one. The first one's next produce fails, and so does its
  commit: a fatal error, code _FENCED (the broker answered the produce
  with INVALID_PRODUCER_EPOCH, the EndTxn with a fenced epoch); its open
  transaction is aborted, the new producer's committed one is visible;
- broker killed with SIGKILL mid-transaction: after a restart, a
  transaction whose commit_transaction had returned is visible; an open
  one whose producer is gone is aborted when a new producer with its
  transactional.id calls init_transactions (read_uncommitted shows its
  records were written); an open one whose producer lives on, and one whose
  commit_transaction was waiting for the broker's answer when it was killed
  (frozen with SIGSTOP first), are all or nothing across both partitions, visible if the client says committed
  (when it reports a failure, a new instance completes the transaction as
  the coordinator had decided); until the open ones are completed,
  read_committed consumers see only the first;
- the broker killed with SIGKILL at seeded random moments (3 times) while
  one producer commits transactions back to back: afterwards each
  transaction is in both partitions whole or not at all, once, in order;
  those the client saw committed are there, those it aborted are not; and a
  read_committed consumer reading all along, across the crashes, was given
  exactly that final content;
- transaction timeout: a transaction left open past the producer's
  transaction.timeout.ms is aborted by the coordinator (its records never
  reach read_committed; the producer's late commit is fenced, as the abort
  bumped its epoch). While it hangs, Kafka's own TransactionsCommand
  (kafka-transactions.sh) `list` shows it Ongoing, afterwards
  CompleteAbort;
- kafka-python 3.x (build/venv, run as a subprocess: txn_kafka_python.py):
  commit visible, abort never visible to read_committed, visible to
  read_uncommitted. Debian's kafka-python 2.0.2 has no transactions at
  all: its KafkaProducer rejects transactional_id ("Unrecognized configs")
  and has no init_transactions.

Every test is an ordinary one on both brokers (Gregor serves transactions,
docs/transactions.md); Kafka's own TransactionsCommand is the tool the
timeout test runs on both. After a commit returns, the test waits (bounded)
for the last stable offset to reach the high watermark before reading:
commit_transaction returns once the coordinator has logged the decision,
the markers follow.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_transactions.py \
        -q -p no:cacheprovider [--broker=kafka]
(the kafka-python test needs build/venv: scripts/venv). The kill schedules
are seeded (printed with -s); GREGOR_TXN_SEED=N draws other ones, and
GREGOR_TXN_BROKER_KILLS=N kills the broker N times instead of 3.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import (KafkaError, KafkaException, OFFSET_BEGINNING, Producer,
                             TopicPartition)

import kafkaref
from conftest import QUICK, create_topic, make_consumer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV_PYTHON = REPO / "build" / "venv" / "bin" / "python"
PROCESSOR = HERE / "txn_processor.py"
KAFKA_PYTHON_TXN = HERE / "txn_kafka_python.py"
TRANSACTIONS_TOOL = "org.apache.kafka.tools.TransactionsCommand"

TXN_TIMEOUT = 60          # init/commit/abort/send_offsets bound (seconds)

# What librdkafka says when a fenced producer's produce fails (the broker
# answered INVALID_PRODUCER_EPOCH), and when its EndTxn does.
FENCED_PRODUCE = re.compile(
    r'KafkaError\{FATAL,code=_FENCED,val=-144,str="ProduceRequest for txn-fence \[0\] with 1 '
    r'message\(s\) failed: Broker: Producer attempted an operation with an old epoch '
    r'\(broker 1 PID\{Id:\d+,Epoch:0\}, base seq 1\): transactional producer fenced by '
    r'newer producer instance"\}$')
FENCED_COMMIT = ('KafkaError{FATAL,code=_FENCED,val=-144,str="Failed to end transaction: '
                 'Local: This instance has been fenced by a newer instance"}')


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def txn_producer(broker, txn_id, **conf):
    """A transactional producer, init_transactions done."""
    c = {"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    c.update(conf)
    producer = Producer(c)
    producer.init_transactions(TXN_TIMEOUT)
    return producer


def produce_flushed(producer, topic, values_by_partition):
    """Produce {partition: [value, ...]} inside the open transaction and
    wait until every record is on the broker (flush inside a transaction
    sends, it does not commit)."""
    for p, values in sorted(values_by_partition.items()):
        for v in values:
            producer.produce(topic, value=v, partition=p)
    left = producer.flush(TXN_TIMEOUT)
    assert left == 0, "%d records not sent within %d s" % (left, TXN_TIMEOUT)


def read_partition(bootstrap, topic, partition, isolation, quiet=1.0, timeout=60):
    """(offset, value) of every message a consumer with this isolation
    level gets from the start of the partition, until it reports the end
    of the partition and then nothing more for `quiet` seconds. Returns
    (messages, offset of the last end-of-partition event)."""
    c = make_consumer(bootstrap, **{"isolation.level": isolation,
                                    "enable.partition.eof": True,
                                    "group.id": "txn-reader-" + isolation})
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got, eof, last = [], None, time.monotonic()
        deadline = time.monotonic() + timeout
        while eof is None or time.monotonic() - last < quiet:
            assert time.monotonic() < deadline, (
                "%s reader of %s-%d: no end of partition within %d s (got %d, eof %s)"
                % (isolation, topic, partition, timeout, len(got), eof))
            m = c.poll(0.2)
            if m is None:
                continue
            last = time.monotonic()
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof = m.offset()
                    continue
                raise AssertionError("%s reader: %s" % (isolation, m.error()))
            got.append((m.offset(), m.value()))
        return got, eof
    finally:
        c.close()


def offsets(bootstrap, topic, partition, isolation):
    """(low, high) as ListOffsets answers at this isolation level: for
    read_committed the high one is the last stable offset (librdkafka's
    default isolation level is read_committed)."""
    c = make_consumer(bootstrap, **{"isolation.level": isolation})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    finally:
        c.close()


def wait_stable(bootstrap, topic, partitions, timeout=60):
    """Until no transaction is open in these partitions: the last stable
    offset has reached the high watermark. A commit (or abort) returns once
    the coordinator has logged its decision; the markers that make it
    visible to read_committed consumers are written right after."""
    deadline = time.monotonic() + timeout
    for p in partitions:
        while True:
            lso = offsets(bootstrap, topic, p, "read_committed")
            hw = offsets(bootstrap, topic, p, "read_uncommitted")
            if lso == hw:
                break
            assert time.monotonic() < deadline, (
                "%s-%d: last stable offset %s, high watermark %s after %d s"
                % (topic, p, lso[1], hw[1], timeout))
            time.sleep(0.1)


def values(pairs):
    return [v for _o, v in pairs]


def batch(prefix, partition, n):
    return [b"%s-%d-%d" % (prefix.encode(), partition, i) for i in range(n)]


# --------------------------------------------------------------------------
# 1. visibility: committed, aborted, open; markers
# --------------------------------------------------------------------------

def test_committed_aborted_and_open_visibility(broker):
    topic = "txn-vis"
    create_topic(broker.bootstrap, topic, partitions=2)
    p = txn_producer(broker, "vis")

    # In each partition: 5 committed, marker, 4 aborted, marker, 3
    # committed, marker; then 2 in an open transaction.
    sizes = {"c1": 5, "a": 4, "c2": 3, "open": 2}
    for prefix, end in (("c1", p.commit_transaction), ("a", p.abort_transaction),
                        ("c2", p.commit_transaction)):
        p.begin_transaction()
        produce_flushed(p, topic, {q: batch(prefix, q, sizes[prefix]) for q in (0, 1)})
        end(TXN_TIMEOUT)
    c1 = list(range(0, 5))
    a = list(range(6, 10))
    c2 = list(range(11, 14))
    open_ = [15, 16]
    p.begin_transaction()
    produce_flushed(p, topic, {q: batch("open", q, 2) for q in (0, 1)})

    for q in (0, 1):
        assert offsets(broker.bootstrap, topic, q, "read_uncommitted") == (0, 17)
        assert offsets(broker.bootstrap, topic, q, "read_committed") == (0, 15)
        # Open transaction: read_committed stops at its first offset (the
        # last stable offset) and sees none of it.
        rc, eof = read_partition(broker.bootstrap, topic, q, "read_committed")
        assert rc == list(zip(c1 + c2, batch("c1", q, 5) + batch("c2", q, 3))), rc
        assert eof == 15, eof
        ru, eof = read_partition(broker.bootstrap, topic, q, "read_uncommitted")
        assert ru == list(zip(c1 + a + c2 + open_,
                              batch("c1", q, 5) + batch("a", q, 4) + batch("c2", q, 3)
                              + batch("open", q, 2))), ru
        assert eof == 17, eof

    p.commit_transaction(TXN_TIMEOUT)
    wait_stable(broker.bootstrap, topic, (0, 1))
    markers = [5, 10, 14, 17]
    for q in (0, 1):
        assert offsets(broker.bootstrap, topic, q, "read_uncommitted") == (0, 18)
        assert offsets(broker.bootstrap, topic, q, "read_committed") == (0, 18)
        rc, eof = read_partition(broker.bootstrap, topic, q, "read_committed")
        assert rc == list(zip(c1 + c2 + open_, batch("c1", q, 5) + batch("c2", q, 3)
                              + batch("open", q, 2))), rc
        assert eof == 18, eof
        ru, eof = read_partition(broker.bootstrap, topic, q, "read_uncommitted")
        assert eof == 18, eof
        # Every offset below the end is a record the consumer got or a
        # marker it did not: one after each transaction, nothing else.
        seen = [o for o, _v in ru]
        assert seen == sorted(c1 + a + c2 + open_), seen
        assert sorted(set(range(18)) - set(seen)) == markers
        assert not set(markers) & {o for o, _v in rc}


# --------------------------------------------------------------------------
# 2. consume-transform-produce, processor killed 20 times
# --------------------------------------------------------------------------

KILLS = 5 if QUICK else 20
CHUNK = 200              # input records added before each start
PAUSE_MS = 50            # processor: pause inside each transaction
# The kill schedules' seed; GREGOR_TXN_SEED=N runs other schedules.
SEED = int(os.environ.get("GREGOR_TXN_SEED", "20261206"))


class Processor:
    """One run of txn_processor.py, its stdout and stderr in files."""

    def __init__(self, workdir, run, bootstrap, args):
        self.out_path = workdir / ("processor-%02d.out" % run)
        self.err_path = workdir / ("processor-%02d.err" % run)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(PROCESSOR), bootstrap] + args,
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def lines(self):
        return self.out_path.read_text().splitlines()

    def report(self):
        return "exit %s; stdout tail %s; stderr: %s" % (
            self.proc.poll(), self.lines()[-5:], self.err_path.read_text()[-2000:])

    def wait_for(self, pred, what, timeout=60):
        """Until pred(lines) holds; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        while not pred(self.lines()):
            assert self.proc.poll() is None, "processor exited before %s: %s" % (
                what, self.report())
            assert time.monotonic() < deadline, "no %s within %d s: %s" % (
                what, timeout, self.report())
            time.sleep(0.01)

    def kill9(self):
        assert self.proc.poll() is None, "processor exited by itself: " + self.report()
        self.proc.kill()
        self.proc.wait(timeout=30)


def committed_offsets(bootstrap, group, topic, partitions):
    c = make_consumer(bootstrap, **{"group.id": group, "isolation.level": "read_committed"})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


@pytest.mark.timeout(420)
def test_consume_transform_produce_killed(broker, tmp_path):
    src, dst, group, txn_id = "txn-in", "txn-out", "txn-proc", "txn-proc-1"
    create_topic(broker.bootstrap, src, partitions=2)
    create_topic(broker.bootstrap, dst, partitions=2)
    rng = random.Random(SEED)
    feeder = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                       "linger.ms": 5})
    inputs = {0: [], 1: []}   # partition -> [(offset, value)]

    def feed(n):
        delivered, errors = [], []
        first = sum(len(v) for v in inputs.values())
        for i in range(first, first + n):
            feeder.produce(src, key=b"k%d" % i, value=b"in-%06d" % i, partition=i % 2,
                           on_delivery=lambda err, m: (errors if err else delivered).append(
                               err or m))
        assert feeder.flush(60) == 0 and not errors, errors[:3]
        for m in sorted(delivered, key=lambda m: (m.partition(), m.offset())):
            inputs[m.partition()].append((m.offset(), m.value()))

    args = [src, dst, group, txn_id, "--pause-ms", str(PAUSE_MS)]
    # Where each kill lands: a seeded shuffle with each kind in it
    plan = (["startup", "working", "working", "mid-txn", "mid-txn"] * KILLS)[:KILLS]
    rng.shuffle(plan)
    runs, kinds = [], []
    started = time.monotonic()
    try:
        for run, kind in enumerate(plan):
            feed(CHUNK)
            proc = Processor(tmp_path, run, broker.bootstrap, args)
            runs.append(proc)
            if kind == "startup":
                # anywhere in start-up: init_transactions, reading the
                # committed offsets, the first transactions
                time.sleep(rng.uniform(0, 1.0))
            elif kind == "working":
                proc.wait_for(lambda ls: ls and ls[0].startswith("ready"), "ready")
                time.sleep(rng.uniform(0, 1.5))
            else:
                # just after the k-th transaction's records reached the
                # broker, inside the processor's pause before the commit
                k = rng.randint(1, 6)
                proc.wait_for(lambda ls: sum(l.startswith("sent") for l in ls) >= k,
                              "sent line %d" % k)
            proc.kill9()
            last = (proc.lines() or ["(nothing)"])[-1]
            kinds.append((kind, last))
        feed(CHUNK)
        final = Processor(tmp_path, KILLS, broker.bootstrap, args)
        runs.append(final)
        end = {p: v[-1][0] + 1 for p, v in inputs.items()}
        deadline = time.monotonic() + 180
        while True:
            got = committed_offsets(broker.bootstrap, group, src, [0, 1])
            if got == end:
                break
            assert final.proc.poll() is None, "final processor exited: " + final.report()
            assert time.monotonic() < deadline, (
                "committed offsets %s, input end %s after 180 s: %s" % (got, end, final.report()))
            time.sleep(0.5)
        final.proc.send_signal(signal.SIGTERM)
        assert final.proc.wait(timeout=60) == 0, final.report()
    finally:
        for r in runs:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait(timeout=30)
    loop_seconds = time.monotonic() - started

    # The committed offsets are the end of the input (checked above, with
    # require_stable: no transactional offset commit pending).
    wait_stable(broker.bootstrap, dst, (0, 1))
    aborted = 0
    for p in (0, 1):
        want = [v + b"@%d-%d" % (p, o) for o, v in inputs[p]]
        rc, eof = read_partition(broker.bootstrap, dst, p, "read_committed")
        assert values(rc) == want, (
            "partition %d: %d records read_committed for %d inputs; first difference at %s"
            % (p, len(rc), len(want), next((i for i, (x, y) in enumerate(zip(values(rc), want))
                                             if x != y), min(len(rc), len(want)))))
        ru, _eof = read_partition(broker.bootstrap, dst, p, "read_uncommitted")
        aborted += len(ru) - len(rc)
    mid_txn = sum(1 for _k, last in kinds if last.startswith("sent"))
    print("%d kills in %.0f s (%s); %d killed between sending and committing; "
          "%d aborted output records; %d input records"
          % (KILLS, loop_seconds, ", ".join(k for k, _l in kinds), mid_txn, aborted,
             sum(len(v) for v in inputs.values())))
    assert mid_txn >= 1, kinds
    assert aborted > 0, "no kill left an aborted transaction behind: %s" % kinds


# --------------------------------------------------------------------------
# 3. zombie fencing
# --------------------------------------------------------------------------

def test_zombie_fenced(broker):
    topic = "txn-fence"
    create_topic(broker.bootstrap, topic, partitions=1)

    # The zombie's next produce fails: the broker refuses the old epoch.
    zombie = txn_producer(broker, "fence-1")
    zombie.begin_transaction()
    produce_flushed(zombie, topic, {0: [b"zombie-1a"]})
    fresh = txn_producer(broker, "fence-1")
    zombie.produce(topic, value=b"zombie-1b", partition=0)
    with pytest.raises(KafkaException) as ei:
        zombie.flush(TXN_TIMEOUT)
    err = ei.value.args[0]
    assert err.code() == KafkaError._FENCED and err.fatal(), repr(err)
    assert FENCED_PRODUCE.match(repr(err)), repr(err)
    with pytest.raises(KafkaException) as ei:
        zombie.commit_transaction(TXN_TIMEOUT)
    assert FENCED_PRODUCE.match(repr(ei.value.args[0])), repr(ei.value.args[0])
    fresh.begin_transaction()
    produce_flushed(fresh, topic, {0: [b"fresh-1"]})
    fresh.commit_transaction(TXN_TIMEOUT)

    # The zombie's commit fails: the coordinator refuses its EndTxn.
    zombie2 = txn_producer(broker, "fence-2")
    zombie2.begin_transaction()
    produce_flushed(zombie2, topic, {0: [b"zombie-2"]})
    fresh2 = txn_producer(broker, "fence-2")
    with pytest.raises(KafkaException) as ei:
        zombie2.commit_transaction(TXN_TIMEOUT)
    err = ei.value.args[0]
    assert repr(err) == FENCED_COMMIT, repr(err)
    assert err.code() == KafkaError._FENCED and err.fatal() and not err.txn_requires_abort()
    fresh2.begin_transaction()
    produce_flushed(fresh2, topic, {0: [b"fresh-2"]})
    fresh2.commit_transaction(TXN_TIMEOUT)
    wait_stable(broker.bootstrap, topic, (0,))

    rc, _ = read_partition(broker.bootstrap, topic, 0, "read_committed")
    assert values(rc) == [b"fresh-1", b"fresh-2"], rc
    ru, _ = read_partition(broker.bootstrap, topic, 0, "read_uncommitted")
    # the zombies' records were written, in transactions the new
    # producers' init_transactions aborted; zombie-1b never got in
    assert values(ru) == [b"zombie-1a", b"fresh-1", b"zombie-2", b"fresh-2"], ru


# --------------------------------------------------------------------------
# 4. broker killed with SIGKILL mid-transaction
# --------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_broker_killed_mid_transaction(broker):
    topic = "txn-crash"
    create_topic(broker.bootstrap, topic, partitions=2)
    both = (0, 1)
    # A: committed (commit_transaction returned) before the kill.
    pa = txn_producer(broker, "crash-a")
    pa.begin_transaction()
    produce_flushed(pa, topic, {q: batch("a", q, 3) for q in both})
    pa.commit_transaction(TXN_TIMEOUT)
    # B: open; its producer is gone after the crash (a new instance takes
    # over its transactional.id).
    pb = txn_producer(broker, "crash-b")
    pb.begin_transaction()
    produce_flushed(pb, topic, {q: batch("b", q, 3) for q in both})
    # C: open; its producer lives on and commits after the restart.
    pc = txn_producer(broker, "crash-c")
    pc.begin_transaction()
    produce_flushed(pc, topic, {q: batch("c", q, 3) for q in both})
    # D: commit_transaction in flight when the broker dies: called while
    # the broker is frozen (SIGSTOP), so its EndTxn waits unanswered in the
    # broker's socket when the SIGKILL comes.
    pd = txn_producer(broker, "crash-d")
    pd.begin_transaction()
    produce_flushed(pd, topic, {q: batch("d", q, 3) for q in both})
    d_result = {}

    def commit_d():
        try:
            pd.commit_transaction(120)
            d_result["committed"] = True
        except KafkaException as e:
            d_result["error"] = e.args[0]

    t = threading.Thread(target=commit_d)
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        t.start()
        time.sleep(1.0)
        assert not d_result, "commit_transaction answered by a frozen broker: %s" % d_result
    finally:
        broker.kill9()
    broker.restart()

    # B and C are still open (B until its transactional.id is taken over,
    # C until its producer commits): read_committed sees A and stops at
    # B's first record, whatever became of D, which was written after B.
    for q in both:
        rc, _ = read_partition(broker.bootstrap, topic, q, "read_committed")
        assert values(rc) == batch("a", q, 3), rc

    t.join(150)
    assert not t.is_alive(), "commit_transaction of D still running 150 s after the restart"
    c_committed = True
    try:
        pc.commit_transaction(TXN_TIMEOUT)
    except KafkaException as e:
        c_committed = False
        err = e.args[0]
        if err.txn_requires_abort():
            pc.abort_transaction(TXN_TIMEOUT)
        else:
            txn_producer(broker, "crash-c")
    if "error" in d_result:
        # whatever the client heard, a new instance completes D as the
        # coordinator's log says (commit if it was prepared, else abort)
        txn_producer(broker, "crash-d")
    txn_producer(broker, "crash-b")
    wait_stable(broker.bootstrap, topic, both)

    outcome = {}
    for q in both:
        rc, _ = read_partition(broker.bootstrap, topic, q, "read_committed")
        ru, _ = read_partition(broker.bootstrap, topic, q, "read_uncommitted")
        got = values(rc)
        assert len(got) == len(set(got)) and set(got) <= set(values(ru)), rc
        for name in "abcd":
            n = sum(1 for v in got if v in batch(name, q, 3))
            assert n in (0, 3), "transaction %s partly visible in partition %d: %s" % (name, q, rc)
            outcome.setdefault(name, set()).add(n == 3)
            # every transaction's records reached the log before the kill
            assert set(batch(name, q, 3)) <= set(values(ru)), (name, q, ru)
    print("after the restart: C %s, D %s; visible: %s"
          % ("committed" if c_committed else "failed", d_result, outcome))
    assert all(len(s) == 1 for s in outcome.values()), (
        "a transaction visible in one partition and not the other: %s" % outcome)
    assert outcome["a"] == {True}
    assert outcome["b"] == {False}
    assert outcome["c"] == {c_committed}
    if d_result.get("committed"):
        assert outcome["d"] == {True}


# GREGOR_TXN_BROKER_KILLS=N for a longer soak
BROKER_KILLS = int(os.environ.get("GREGOR_TXN_BROKER_KILLS", 2 if QUICK else 3))
TXN_RECORDS = 5           # per partition, per transaction of the committer


class Committer(threading.Thread):
    """One transactional.id writing transactions t0, t1, ... (TXN_RECORDS
    records to each of two partitions) back to back until stopped, through
    broker crashes, as an application would: a retriable error repeats the
    call, an abortable one aborts, a fatal one gets a new producer instance.
    Records what the client said became of each transaction: committed,
    aborted, or unknown (a fatal error while committing: the coordinator
    decides, and the next instance's init_transactions completes it)."""

    def __init__(self, broker, topic):
        super().__init__(daemon=True)
        self.broker, self.topic = broker, topic
        self.outcome = {}
        self.errors = []
        self.stop = threading.Event()
        self.failure = None
        self.at = "init"          # the transaction and step it is in

    def committed(self):
        return sum(1 for o in list(self.outcome.values()) if o == "committed")

    def run(self):
        try:
            self._run()
        except BaseException as e:  # reported by the test
            self.failure = e

    def _retry(self, what, call):
        deadline = time.monotonic() + 120
        while True:
            try:
                return call()
            except KafkaException as e:
                err = e.args[0]
                if not err.retriable() or time.monotonic() > deadline:
                    raise
                self.errors.append((what, repr(err)))
                time.sleep(0.2)

    def _new_producer(self):
        p = Producer({"bootstrap.servers": self.broker.bootstrap,
                      "transactional.id": "crash-loop", "linger.ms": 5})
        self._retry("init", lambda: p.init_transactions(TXN_TIMEOUT))
        return p

    def _run(self):
        p = self._new_producer()
        seq = 0
        while not self.stop.is_set():
            step = "begin"
            try:
                p.begin_transaction()
                step = self.at = "t%d produce" % seq
                for q in (0, 1):
                    for v in batch("t%d" % seq, q, TXN_RECORDS):
                        p.produce(self.topic, value=v, partition=q)
                step = "commit"
                self.at = "t%d commit" % seq
                self._retry("t%d commit" % seq, lambda: p.commit_transaction(TXN_TIMEOUT))
                self.outcome[seq] = "committed"
            except KafkaException as e:
                err = e.args[0]
                self.errors.append(("t%d %s" % (seq, step), repr(err)))
                if err.txn_requires_abort():
                    self._retry("t%d abort" % seq, lambda: p.abort_transaction(TXN_TIMEOUT))
                    self.outcome[seq] = "aborted"
                else:
                    # EndTxn(commit) never sent: the next instance aborts it
                    self.outcome[seq] = "unknown" if step == "commit" else "aborted"
                    p = self._new_producer()
            seq += 1


class LiveReader(threading.Thread):
    """A read_committed consumer reading both partitions from the start for
    as long as the test runs, broker crashes included: what it was given,
    in order, per partition."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.got = {0: [], 1: []}
        self.errors = []
        self.stop = threading.Event()
        self.c = make_consumer(bootstrap, **{"isolation.level": "read_committed",
                                             "group.id": "txn-live-reader"})
        self.c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in (0, 1)])

    def run(self):
        try:
            while not self.stop.is_set():
                m = self.c.poll(0.2)
                if m is None:
                    continue
                if m.error() is not None:
                    self.errors.append(repr(m.error()))
                    continue
                self.got[m.partition()].append(m.value())
        finally:
            self.c.close()


@pytest.mark.timeout(480)
def test_broker_killed_during_transactions(broker):
    """The broker killed with SIGKILL at seeded random moments while one
    producer commits transactions back to back (BROKER_KILLS times, each
    after at least two more commits): afterwards every transaction is in
    both partitions completely or not at all, once, in order; each one the
    client saw committed is there, each one it aborted is not. A
    read_committed consumer reading throughout, across the crashes, was
    given exactly the final committed content: never a record of a
    transaction that was aborted later, never a duplicate."""
    topic = "txn-crash-loop"
    create_topic(broker.bootstrap, topic, partitions=2)
    rng = random.Random(SEED + 1)
    live = LiveReader(broker.bootstrap, topic)
    committer = Committer(broker, topic)
    live.start()
    committer.start()

    def wait_commits(n, what):
        deadline = time.monotonic() + 150
        while committer.committed() < n:
            assert committer.is_alive(), "committer died %s: %r; errors %s" % (
                what, committer.failure, committer.errors[-5:])
            assert time.monotonic() < deadline, "committed %d of %d %s; errors %s" % (
                committer.committed(), n, what, committer.errors[-5:])
            time.sleep(0.01)

    kills = []   # where the committer was at each kill
    try:
        for i in range(BROKER_KILLS):
            wait_commits(committer.committed() + 2, "before kill %d" % (i + 1))
            time.sleep(rng.uniform(0, 0.5))
            broker.kill9()
            kills.append(committer.at)
            broker.restart()
        wait_commits(committer.committed() + 2, "after the last restart")
    finally:
        committer.stop.set()
        committer.join(200)
    assert not committer.is_alive() and committer.failure is None, (
        committer.failure, committer.errors[-5:])
    txn_producer(broker, "crash-loop")   # completes what an instance left open
    wait_stable(broker.bootstrap, topic, (0, 1))

    visible = {}
    final = {}
    for q in (0, 1):
        rc, _ = read_partition(broker.bootstrap, topic, q, "read_committed")
        final[q] = values(rc)
        seqs = []
        for i in range(0, len(final[q]), TXN_RECORDS):
            chunk = final[q][i:i + TXN_RECORDS]
            seq = int(chunk[0].split(b"-")[0][1:])
            assert chunk == batch("t%d" % seq, q, TXN_RECORDS), (
                "partition %d: a transaction not whole or not alone at record %d: %s"
                % (q, i, chunk))
            seqs.append(seq)
        assert seqs == sorted(set(seqs)), "partition %d: duplicates or disorder: %s" % (q, seqs)
        visible[q] = set(seqs)
    assert visible[0] == visible[1], "transactions in one partition only: %s" % (
        visible[0] ^ visible[1])
    shown = visible[0]
    outcome = committer.outcome
    assert {s for s, o in outcome.items() if o == "committed"} <= shown
    assert not {s for s, o in outcome.items() if o == "aborted"} & shown
    assert shown <= set(outcome), "a transaction the committer never finished: %s" % (
        shown - set(outcome))

    deadline = time.monotonic() + 60
    while any(len(live.got[q]) < len(final[q]) for q in (0, 1)):
        assert time.monotonic() < deadline, "live reader behind: %s of %s" % (
            {q: len(v) for q, v in live.got.items()}, {q: len(v) for q, v in final.items()})
        time.sleep(0.2)
    time.sleep(1)
    live.stop.set()
    live.join(30)
    assert live.got == final, "the live read_committed consumer saw something else"
    print("%d broker kills (at %s): %d transactions, %s; client errors: %s"
          % (BROKER_KILLS, ", ".join(kills), len(outcome),
             {o: sum(1 for x in outcome.values() if x == o) for o in set(outcome.values())},
             sorted({e for _w, e in committer.errors})[:6]))


# --------------------------------------------------------------------------
# 5. a transaction left open past its timeout
# --------------------------------------------------------------------------

def list_transactions(bootstrap):
    """Kafka's TransactionsCommand list: [[cell, ...], ...], header first."""
    r = kafkaref.run_tool(TRANSACTIONS_TOOL, ["--bootstrap-server", bootstrap, "list"],
                          timeout=120)
    assert r.returncode == 0, "TransactionsCommand list: exit %d\n%s\n%s" % (
        r.returncode, r.stdout, r.stderr)
    return [[cell.strip() for cell in line.split("\t")][:-1]
            for line in r.stdout.splitlines()]


@pytest.mark.timeout(240)
def test_transaction_timeout_aborts(broker):
    topic, txn_id = "txn-hang", "hang-1"
    kafkaref.fetch(quiet=True)
    create_topic(broker.bootstrap, topic, partitions=1)
    # 6 s, not 3: the tool is a JVM that takes a few seconds to start on a
    # busy machine, and must find the transaction still open.
    p = txn_producer(broker, txn_id, **{"transaction.timeout.ms": 6000})
    p.begin_transaction()
    produce_flushed(p, topic, {0: [b"hang-0", b"hang-1", b"hang-2"]})
    opened = time.monotonic()

    rows = list_transactions(broker.bootstrap)
    assert rows[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"], rows
    assert len(rows) == 2 and rows[1][0] == txn_id and rows[1][1] == "1" \
        and rows[1][2].isdigit() and rows[1][3] == "Ongoing", (
            "%.1f s after the records were sent: %s" % (time.monotonic() - opened, rows))
    producer_id = rows[1][2]

    # The coordinator aborts it: the abort marker lands after the records.
    deadline = time.monotonic() + 60
    while offsets(broker.bootstrap, topic, 0, "read_committed") != (0, 4):
        assert time.monotonic() < deadline, "no abort marker within 60 s: %s" % (
            offsets(broker.bootstrap, topic, 0, "read_committed"),)
        time.sleep(0.5)
    assert list_transactions(broker.bootstrap)[1:] == [
        [txn_id, "1", producer_id, "CompleteAbort"]]
    rc, eof = read_partition(broker.bootstrap, topic, 0, "read_committed")
    assert rc == [] and eof == 4, (rc, eof)
    ru, _ = read_partition(broker.bootstrap, topic, 0, "read_uncommitted")
    assert values(ru) == [b"hang-0", b"hang-1", b"hang-2"], ru

    # The abort bumped the producer's epoch: its late commit is fenced.
    with pytest.raises(KafkaException) as ei:
        p.commit_transaction(TXN_TIMEOUT)
    assert repr(ei.value.args[0]) == FENCED_COMMIT, repr(ei.value.args[0])
    rc, _ = read_partition(broker.bootstrap, topic, 0, "read_committed")
    assert rc == [], rc


# --------------------------------------------------------------------------
# 6. kafka-python 3.x (build/venv)
# --------------------------------------------------------------------------

def pinned_kafka_python():
    for line in (HERE / "requirements-clients.txt").read_text().splitlines():
        if line.startswith("kafka-python=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("no kafka-python pin in requirements-clients.txt")


@pytest.mark.timeout(180)
def test_kafka_python_transactions(broker):
    assert VENV_PYTHON.exists(), "%s missing: make it with scripts/venv" % VENV_PYTHON
    topic, n = "txn-kp", 4
    create_topic(broker.bootstrap, topic, partitions=1)
    r = subprocess.run([str(VENV_PYTHON), str(KAFKA_PYTHON_TXN), broker.bootstrap, topic,
                        "kp-1", str(n), str(TXN_TIMEOUT * 1000)],
                       capture_output=True, text=True, timeout=150)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout, r.stderr[-3000:])
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["kafka_python"] == pinned_kafka_python(), result
    assert result["ok"], "kafka-python failed at %s: %s: %s\n%s" % (
        result["step"], result["type"], result["error"], r.stderr[-3000:])
    c1 = [[i, "c1-%d" % i] for i in range(n)]
    a = [[n + 1 + i, "a-%d" % i] for i in range(n)]
    c2 = [[2 * n + 2 + i, "c2-%d" % i] for i in range(n)]
    assert result["end"] == 3 * n + 3, result
    assert result["read_committed"] == c1 + c2, result
    assert result["read_uncommitted"] == c1 + a + c2, result
