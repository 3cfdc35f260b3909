"""
Transactions V2 (KIP-890 part 2) in a cluster, with Kafka's own Java client
4.4: a new cluster finalizes transaction.version=2, so the client sends
EndTxn v5 (the producer epoch moves at every end), Produce v12+ whose
partitions the partition's LEADER adds to the transaction (AddPartitionsToTxn
v5 to the coordinator's broker when that is another one) and TxnOffsetCommit
v5+ (the group coordinator adds the group's __consumer_offsets partition the
same way).

3 combined nodes; an input and an output topic, each of 3 partitions and
replication factor 3 with leaders on the 3 brokers, so two of the three
output partitions are led by brokers other than the transactional id's
coordinator (T). The consumer group is chosen so that its coordinator (G) is
not T: every TxnOffsetCommit makes G ask T to add the group's partition.

The workload is Kafka's own org.apache.kafka.tools.TransactionalMessageCopier
(the tool of Kafka's system tests): in group mode it consumes the input
topic (read_committed), copies each batch it polls to the same partition of
the output topic in one transaction, and sends the consumer's positions to
the transaction (sendOffsetsToTransaction with the group metadata) before
committing. It prints its progress as JSON: every commit is a new
totalProcessed.

test_copier_uses_transactions_v2_across_brokers:
- the copier copies 3 x 400 records, 50 per transaction at most;
- V2 was used: kafka-transactions.sh describe (Kafka's TransactionsCommand)
  shows the id's producer epoch at exactly the number of transactions
  committed (V1 leaves a new id's epoch at 0 whatever the number of
  transactions; an aborted one would move it once more), and
  describe-producers shows the producer at a bumped epoch on every output
  partition, remote leaders included;
- exactly once: read with isolation.level=read_committed (confluent-kafka
  2.x), every output partition holds its input partition's records, in
  order, once each; the group's committed offsets are the input's end
  offsets; the last stable offset equals the high watermark on every
  output partition and on the group's __consumer_offsets partition.

test_copier_survives_coordinator_kill (broker.session.timeout.ms 4 s): the
same with 3 x 1500 records; the coordinator's broker T is killed with
kill -9 once a quarter is copied. The copier goes on through the survivors
(or, if it stops, a second instance with the same transactional id and
group finishes the copy), and waits at most 20 s between two commits
(Kafka: about 8 s; Gregor waited 30 s, a leader's AddPartitionsToTxn to the
dead coordinator held until its request timed out, before c63f85b); the
outcome is still exactly once, read through the survivors, and the epoch
covers every commit.

Printed (measured): the coordinators and leaders, the copier's times, the
producer's epoch, and the produce errors the Java client retried (an add
that meets the previous transaction's markers being written waits up to
100 ms: at the coordinator on Gregor, at the leader on Kafka
(add.partitions.to.txn.retry.backoff.max.ms), so the client sees none but
after a failover).

Passes on Apache Kafka 4.4.0 (--broker=kafka) and on Gregor.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time

import localcluster

import pytest

from clustertest import REPO, confluent_describe, unique, venv_run, wait_isr_full, wait_until

sys.path.insert(0, str(REPO / "tests" / "reference"))
import kafkaref  # noqa: E402

pytestmark = pytest.mark.timeout(600)

COPIER = "org.apache.kafka.tools.TransactionalMessageCopier"
TXN_TOOL = "org.apache.kafka.tools.TransactionsCommand"
PARTS = (0, 1, 2)
TXN_SIZE = 50
MAX_GAP_S = 20.0   # the longest wait between two commits across the kill

# Fencing in seconds rather than Kafka's default 9 s (as test_transactions_cluster.py).
FAST_FAILOVER = dict(broker__session__timeout__ms=4000, broker__heartbeat__interval__ms=1000,
                     replica__lag__time__max__ms=5000)


def java_hash(s):
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def coordinator_of(node, internal_topic, key):
    """The leader of key's partition of __transaction_state or
    __consumer_offsets in this node's Metadata: (leader, partition)."""
    parts = localcluster.metadata(node.client_port)["partitions"][internal_topic]
    h = java_hash(key)
    k = 0 if h == -(1 << 31) else abs(h) % len(parts)
    return parts[k][0], k


# Both internal topics exist once a transactional producer has initialised
# and a group has committed (FindCoordinator creates them).
WARM_UP = r"""
import json, sys, time
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
boot, topic, txn_id, group = sys.argv[1:5]
p = Producer({"bootstrap.servers": boot, "transactional.id": txn_id})
p.init_transactions(60)
c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False})
errors = []
for _ in range(60):   # NOT_COORDINATOR while the new topic's coordinators load
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        break
    except KafkaException as e:
        errors.append(e.args[0].name())
        time.sleep(0.5)
else:
    raise SystemExit("commit: %s" % errors)
c.close()
print(json.dumps({"ok": True, "retried": errors}))
"""

PRODUCE = r"""
import json, sys
from confluent_kafka import Producer
boot, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": True,
              "linger.ms": 5})
errors = []
def dr(err, msg):
    if err is not None:
        errors.append(str(err))
for q in (0, 1, 2):
    for i in range(n):
        p.produce(topic, key=b"k%d" % i, value=("%d-%d" % (q, i)).encode(), partition=q,
                  on_delivery=dr)
        if i % 500 == 0:
            p.poll(0)
left = p.flush(60)
print(json.dumps({"left": left, "errors": errors[:5]}))
"""

# The outcome, read with confluent-kafka 2.x: the output read_committed, the
# group's committed offsets, LSO and high watermark of the output partitions
# and of the group's __consumer_offsets partition.
VERIFY = r"""
import json, sys, time
from confluent_kafka import Consumer, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
boot, src, dst, group, gpart, n = sys.argv[1:7]
gpart, n = int(gpart), int(n)
PARTS = (0, 1, 2)
out = {}

c = Consumer({"bootstrap.servers": boot, "group.id": "verify-" + group,
              "isolation.level": "read_committed", "enable.auto.commit": False,
              "auto.offset.reset": "earliest"})
c.assign([TopicPartition(dst, q, 0) for q in PARTS])
got = {q: [] for q in PARTS}
errs = []
deadline, quiet = time.monotonic() + 60, None
while time.monotonic() < deadline:
    for m in c.consume(num_messages=500, timeout=0.5):
        if m.error() is not None:
            if not m.error().name().endswith("PARTITION_EOF"):
                errs.append(m.error().str())
        else:
            got[m.partition()].append(m.value().decode())
    if sum(len(v) for v in got.values()) >= 3 * n:
        quiet = quiet or time.monotonic()
        if time.monotonic() - quiet > 2.0:   # nothing more may come
            break
c.close()
out["read"] = {str(q): v for q, v in got.items()}
out["read_errors"] = errs[:5]

# the group's committed offsets (librdkafka asks with require_stable: a
# pending transactional commit would be retried, not answered)
g = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False})
committed = g.committed([TopicPartition(src, q) for q in PARTS], timeout=30)
out["committed"] = {str(tp.partition): tp.offset for tp in committed}
out["input_end"] = {str(q): g.get_watermark_offsets(TopicPartition(src, q), timeout=10)[1]
                    for q in PARTS}
g.close()

a = AdminClient({"bootstrap.servers": boot})
tps = [TopicPartition(dst, q) for q in PARTS] + [TopicPartition("__consumer_offsets", gpart)]
def ends(level):
    fs = a.list_offsets({tp: OffsetSpec.latest() for tp in tps}, isolation_level=level,
                        request_timeout=15)
    return {"%s-%d" % (tp.topic, tp.partition): f.result().offset for tp, f in fs.items()}
deadline = time.monotonic() + 20
while True:
    lso, hw = ends(IsolationLevel.READ_COMMITTED), ends(IsolationLevel.READ_UNCOMMITTED)
    if lso == hw or time.monotonic() > deadline:
        break
    time.sleep(0.5)
out["lso"], out["hw"] = lso, hw
print(json.dumps(out))
"""


class Copier:
    """One TransactionalMessageCopier process (Kafka's JVM client 4.4, the
    reference classpath); its stdout (JSON progress lines) and stderr
    (the client's warnings) in files beside the cluster."""

    def __init__(self, cluster, tag, args):
        kafkaref.fetch(quiet=True)
        cfg = os.path.join(os.path.dirname(kafkaref.LIBS), "tools-log4j2.yaml")
        if not os.path.exists(cfg):
            kafkaref.tool_log4j_config(cfg)
        cmd = kafkaref.java_cmd(COPIER, args, extra_jvm=["-Xmx256m"], log_config=cfg)
        self.out_path = os.path.join(cluster.dir, "copier-%s.out" % tag)
        self.err_path = os.path.join(cluster.dir, "copier-%s.err" % tag)
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.t0 = time.monotonic()

    def lines(self):
        rows = []
        with open(self.out_path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
        return rows

    def processed(self):
        return max([r.get("totalProcessed", 0) for r in self.lines()] or [0])

    def commits(self):
        """Transactions committed: each one is a new totalProcessed."""
        return len({r["totalProcessed"] for r in self.lines() if "totalProcessed" in r} - {0})

    def longest_gap(self):
        """The longest time between two commits (the copier's own clock,
        its "time" field): (seconds, records copied before it)."""
        stamps, prev = [], None
        for r in self.lines():
            t = r.get("totalProcessed")
            if t != prev and "time" in r:
                stamps.append((datetime.datetime.strptime(r["time"], "%Y/%m/%d %H:%M:%S:%f"), t))
                prev = t
        return max((((b[0] - a[0]).total_seconds(), a[1]) for a, b in zip(stamps, stamps[1:])),
                   default=(0.0, 0))

    def client_retries(self):
        """The producer's warnings of produce errors it retried, by error
        (Kafka's broker retries CONCURRENT_TRANSACTIONS itself for 100 ms)."""
        n = {}
        with open(self.err_path, errors="replace") as f:
            for line in f:
                m = re.search(r"Got error produce response .* Error: ([A-Z_]+)", line)
                if m:
                    n[m.group(1)] = n.get(m.group(1), 0) + 1
        return n

    def tail(self, n=30):
        text = []
        for p in (self.out_path, self.err_path):
            with open(p, errors="replace") as f:
                text.append("--- %s ---\n%s" % (p, "\n".join(f.read().splitlines()[-n:])))
        return "\n".join(text)

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("the copier did not finish within %.0f s:\n%s"
                                 % (timeout, self.tail()))
        return rc, time.monotonic() - self.t0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def copier_args(boot, src, dst, group, txn_id):
    return ["--broker-list", boot, "--input-topic", src, "--input-partition", "0",
            "--output-topic", dst, "--consumer-group", group, "--transactional-id", txn_id,
            "--transaction-size", str(TXN_SIZE), "--transaction-timeout", "60000",
            "--group-mode", "--use-group-metadata"]


def txn_tool(boot, args, timeout=90):
    r = kafkaref.run_tool(TXN_TOOL, ["--bootstrap-server", boot] + args, timeout=timeout)
    assert r.returncode == 0, "kafka-transactions %s failed (exit %d):\n%s%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


def table(text):
    """kafka-transactions' table (a header line, rows of whitespace-separated
    columns; the last column may be empty) as a list of dicts."""
    lines = [x for x in text.splitlines() if x.strip()]
    head = lines[0].split()
    return [dict(zip(head, x.split())) for x in lines[1:]]


def describe_txn(boot, txn_id):
    rows = table(txn_tool(boot, ["describe", "--transactional-id", txn_id]))
    assert len(rows) == 1, rows
    return rows[0]


def describe_producers(boot, topic, partition):
    return table(txn_tool(boot, ["describe-producers", "--topic", topic,
                                 "--partition", str(partition)]))


def setup_topics(c, measured):
    """Input and output topics with leaders spread over the 3 brokers, both
    internal topics in place; the transactional id, its coordinator T, a
    group whose coordinator G is not T."""
    src, dst = unique("v2-in"), unique("v2-out")
    for t in (src, dst):
        venv_run(r"""
import json, sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
a.create_topics([NewTopic(sys.argv[2], 3, 3)], operation_timeout=30)[sys.argv[2]].result(40)
print(json.dumps({"ok": True}))
""", c.bootstrap, t)
    for t in (src, dst):
        wait_isr_full(c.node(1), t, [1, 2, 3])
    leaders = {t: {q: v[0] for q, v in confluent_describe(c.bootstrap, t).items()}
               for t in (src, dst)}
    for t in (src, dst):
        assert sorted(leaders[t].values()) == [1, 2, 3], "leaders not spread: %s" % leaders
    venv_run(WARM_UP, c.bootstrap, src, unique("warm-txn"), unique("warm-group"))
    wait_until("both internal topics listed",
               lambda: {"__transaction_state", "__consumer_offsets"}
               <= set(localcluster.metadata(c.node(1).client_port)["topics"]), 30)
    wait_isr_full(c.node(1), "__transaction_state", [1, 2, 3], timeout=60)
    wait_isr_full(c.node(1), "__consumer_offsets", [1, 2, 3], timeout=60)
    txn_id = unique("v2-copier")
    coord, state_part = coordinator_of(c.node(1), "__transaction_state", txn_id)
    for _ in range(100):
        group = unique("v2-group")
        gcoord, gpart = coordinator_of(c.node(1), "__consumer_offsets", group)
        if gcoord != coord:
            break
    assert coord in (1, 2, 3) and gcoord in (1, 2, 3) and gcoord != coord, (coord, gcoord)
    remote = [q for q, l in leaders[dst].items() if l != coord]
    assert remote, "every output partition is led by the coordinator %d: %s" % (coord, leaders)
    measured("transaction coordinator %d (__transaction_state-%d), group coordinator %d "
             "(__consumer_offsets-%d), output leaders %s: partitions %s led elsewhere"
             % (coord, state_part, gcoord, gpart, leaders[dst], remote))
    return dict(src=src, dst=dst, txn_id=txn_id, coord=coord, group=group, gcoord=gcoord,
                gpart=gpart, leaders=leaders)


def produce_input(boot, src, n):
    r = venv_run(PRODUCE, boot, src, str(n))
    assert r["left"] == 0 and not r["errors"], r


def check_exactly_once(boot, s, n):
    out = venv_run(VERIFY, boot, s["src"], s["dst"], s["group"], str(s["gpart"]), str(n),
                   timeout=180)
    assert not out["read_errors"], out["read_errors"]
    for q in PARTS:
        want = ["%d-%d" % (q, i) for i in range(n)]
        got = out["read"][str(q)]
        dups = len(got) - len(set(got))
        assert got == want, ("output partition %d read_committed: %d records (%d distinct, %d "
                             "duplicates), %d expected; first differences: %s"
                             % (q, len(got), len(set(got)), dups, n,
                                [(i, a, b) for i, (a, b) in enumerate(zip(got, want))
                                 if a != b][:5] or sorted(set(want) - set(got))[:5]))
    assert out["committed"] == out["input_end"] == {str(q): n for q in PARTS}, \
        "the group's committed offsets %s, the input's end offsets %s" % (out["committed"],
                                                                          out["input_end"])
    assert out["lso"] == out["hw"], "last stable offsets %s, high watermarks %s" % (out["lso"],
                                                                                    out["hw"])
    return out


def check_epoch(boot, s, commits, at_most_more):
    """The id's producer epoch has moved once per transaction (V2); V1 would
    leave a new id at epoch 0. Returns (producer id, epoch)."""
    d = describe_txn(boot, s["txn_id"])
    epoch, pid = int(d["ProducerEpoch"]), int(d["ProducerId"])
    assert d["TransactionState"] in ("CompleteCommit", "Empty"), d
    assert epoch > 1, "producer epoch %d after %d transactions: transactions V1?" % (epoch,
                                                                                   commits)
    assert commits <= epoch <= commits + at_most_more, (
        "producer epoch %d after %d committed transactions (at most %d more expected)"
        % (epoch, commits, at_most_more))
    for q in PARTS:
        rows = [r for r in describe_producers(boot, s["dst"], q) if int(r["ProducerId"]) == pid]
        assert rows, "output partition %d (leader %d) does not know producer %d" % (
            q, s["leaders"][s["dst"]][q], pid)
        pe = int(rows[0]["ProducerEpoch"])
        assert 1 < pe <= epoch, ("output partition %d (leader %d): producer %d at epoch %d "
                                 "(coordinator: %d)" % (q, s["leaders"][s["dst"]][q], pid, pe,
                                                        epoch))
    return pid, epoch


def test_copier_uses_transactions_v2_across_brokers(start_cluster, measured):
    c = start_cluster("combined", nodes=3)
    s = setup_topics(c, measured)
    n = 400
    produce_input(c.bootstrap, s["src"], n)
    cp = Copier(c, "1", copier_args(c.bootstrap, s["src"], s["dst"], s["group"], s["txn_id"]))
    try:
        rc, took = cp.wait(180)
    finally:
        cp.kill()
    assert rc == 0, "the copier exited with %d:\n%s" % (rc, cp.tail())
    assert cp.processed() == 3 * n, cp.tail()
    commits = cp.commits()
    assert commits >= 3 * n // TXN_SIZE, commits
    # no fault, no abort: one epoch per commit exactly (an abort would be a
    # KafkaException inside the copier's transaction)
    pid, epoch = check_epoch(c.bootstrap, s, commits, 0)
    check_exactly_once(c.bootstrap, s, n)
    measured("copier: %d records in %d transactions in %.1f s (JVM start included); producer "
             "%d at epoch %d; produce errors the client retried: %s"
             % (3 * n, commits, took, pid, epoch, cp.client_retries()))


def test_copier_survives_coordinator_kill(start_cluster, measured):
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    s = setup_topics(c, measured)
    n = 1500
    produce_input(c.bootstrap, s["src"], n)
    args = copier_args(c.bootstrap, s["src"], s["dst"], s["group"], s["txn_id"])
    first = Copier(c, "1", args)
    copiers = [first]
    try:
        _, waited = wait_until("the copier has copied a quarter of the input",
                               lambda: first.processed() >= 3 * n // 4 or first.proc.poll()
                               is not None, 120, interval=0.05)
        assert first.proc.poll() is None, "the copier ended before the kill:\n%s" % first.tail()
        before = first.processed()
        victim = s["coord"]
        os.kill(c.node(victim).pid(), signal.SIGKILL)
        killed = time.monotonic()
        c.node(victim).wait_gone(10)
        rc, _ = first.wait(240)
        after = time.monotonic() - killed
        gap, at = first.longest_gap()
        how = ("the copier went on and finished %.1f s after the kill (exit %d), its longest "
               "wait between two commits %.1f s (after %d records)" % (after, rc, gap, at))
        if rc != 0 or first.processed() < 3 * n:
            # A second instance with the same id and group finishes the copy
            # (it fences the first and resumes at the committed offsets).
            survivors = ",".join(x.bootstrap for x in c.brokers() if x.node_id != victim)
            second = Copier(c, "2", copier_args(survivors, s["src"], s["dst"], s["group"],
                                                s["txn_id"]))
            copiers.append(second)
            rc2, took2 = second.wait(240)
            assert rc2 == 0, "the second copier exited with %d:\n%s\n%s" % (
                rc2, first.tail(), second.tail())
            how = ("the copier stopped (exit %d after %d records); a second one finished the "
                   "copy %.1f s after the kill" % (rc, first.processed(),
                                                   time.monotonic() - killed))
        elif gap > MAX_GAP_S:
            # The copier waits out the fencing of the dead broker (4 s) and
            # the move of its leaderships; Kafka: about 8 s. A leader that
            # keeps the producer's partitions waiting for the dead
            # coordinator's answer until its request times out (Gregor
            # before its marker connections failed unsent requests at once:
            # 30 s) is too long: it is as long as the producer's own
            # request timeout.
            raise AssertionError("the copier waited %.1f s between two commits (after %d "
                                 "records; the kill came after %d)" % (gap, at, before))
    finally:
        for cp in copiers:
            cp.kill()
    survivors = ",".join(x.bootstrap for x in c.brokers() if x.node_id != victim)
    commits = sum(cp.commits() for cp in copiers)
    # the kill may cost aborted transactions (each moves the epoch too) and
    # a second instance's initialisation
    pid, epoch = check_epoch(survivors, s, commits, 20)
    check_exactly_once(survivors, s, n)
    measured("copier: %d of %d records copied when coordinator %d was killed (after %.1f s); "
             "%s; %d commits, producer %d at epoch %d; produce errors the client retried: %s"
             % (before, 3 * n, victim, waited, how, commits, pid, epoch,
                [cp.client_retries() for cp in copiers]))
