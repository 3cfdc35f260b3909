"""
Transactions in a cluster (issue 12, item 5: the transaction coordinator
follows the leadership of __transaction_state, and its markers reach
partitions led by other brokers).

3 combined nodes; a topic with 3 partitions and replication factor 3 whose
leaders are spread over the 3 brokers, so that every transaction touches
partitions led by the coordinator's broker and by the two others;
__transaction_state has replication factor 3 and min ISR 2
(localcluster.py).

test_transactions_survive_coordinator_kill, in one confluent-kafka 2.x
script (build/venv):
- producer A (transactional.id T) commits and aborts transactions
  alternately, each writing to all 3 partitions; a read_committed consumer
  then reads exactly the committed records, once each, and none of the
  aborted ones;
- A begins one more transaction, writes to all 3 partitions and flushes,
  leaving it open;
- the broker leading T's __transaction_state partition
  (abs(javaHash(T)) % partitions, its leader in the metadata) is killed
  with kill -9;
- producer B with the same transactional.id initialises through the
  survivors (the new coordinator loads T from the replicated log and fences
  A: A's open transaction is aborted), A's commit fails as fenced, B
  commits and aborts more transactions;
- a read_committed consumer through the survivors reads every committed
  record exactly once, nothing aborted and nothing of A's open transaction.

test_only_the_coordinator_answers_for_an_id: a producer commits one
transaction and leaves a second one open; DescribeTransactions (raw v0)
sent to each broker is answered by the leader of the id's
__transaction_state partition alone (state Ongoing, the open transaction's
partitions), the two others answer
NOT_COORDINATOR (16); ListTransactions (raw v0) sent to each broker lists
the id on that broker only (the admin client asks every broker).

Passes on Apache Kafka 4.4.0 (--broker=kafka) and on Gregor.
"""

import json
import struct

import localcluster

import pytest

from clustertest import confluent_create, confluent_describe, unique, venv_run, wait_isr_full

pytestmark = pytest.mark.timeout(900)

# Fencing in seconds rather than Kafka's default 9 s (as test_coordinators.py).
FAST_FAILOVER = dict(broker__session__timeout__ms=4000, broker__heartbeat__interval__ms=1000,
                     replica__lag__time__max__ms=5000)

SCRIPT = r"""
import json, os, signal, sys, time
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

boot, topic, txn_id = sys.argv[1], sys.argv[2], sys.argv[3]
nodes = {int(k): v for k, v in json.loads(sys.argv[4]).items()}   # id: [pid, bootstrap]
n1, n2 = int(sys.argv[5]), int(sys.argv[6])
PARTS = (0, 1, 2)
out = {"errors": []}


def java_hash(s):
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def producer(b):
    return Producer({"bootstrap.servers": b, "transactional.id": txn_id,
                     "transaction.timeout.ms": 60000, "socket.timeout.ms": 10000,
                     "message.timeout.ms": 60000})


def retry(what, fn, limit=120):
    # a retriable error (the coordinator moves) is met again until it passes
    t0 = time.monotonic()
    while True:
        try:
            return fn()
        except KafkaException as e:
            err = e.args[0]
            out["errors"].append([what, err.name(), err.retriable(), round(time.monotonic() - t0, 2)])
            if not err.retriable() or time.monotonic() - t0 > limit:
                raise
            time.sleep(0.5)


def transactions(p, tag, n, committed, aborted):
    for t in range(n):
        commit = t % 2 == 0
        retry("begin", p.begin_transaction)
        vals = ["%s:%s:%d:%d:%d" % ("c" if commit else "a", tag, t, q, i) for q in PARTS
                for i in range(3)]
        for v in vals:
            p.produce(topic, value=v.encode(), partition=int(v.split(":")[3]))
        if commit:
            retry("commit", lambda: p.commit_transaction(60))
            committed.extend(vals)
        else:
            retry("abort", lambda: p.abort_transaction(60))
            aborted.extend(vals)


def read_committed(b, expect, idle=3.0, limit=120):
    c = Consumer({"bootstrap.servers": b, "group.id": "rc-" + txn_id,
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, q, 0) for q in PARTS])
    got, errs = [], []
    deadline, quiet = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        ms = c.consume(num_messages=100, timeout=0.5)
        for m in ms:
            if m.error() is not None:
                errs.append(m.error().str())
            else:
                got.append(m.value().decode())
        if len(got) >= expect:
            quiet = quiet or time.monotonic()
            if time.monotonic() - quiet > idle:   # nothing more may come
                break
    c.close()
    return got, errs


committed, aborted = [], []
t0 = time.monotonic()
a = producer(boot)
retry("init A", lambda: a.init_transactions(60))
transactions(a, "A", n1, committed, aborted)
out["phase1_s"] = round(time.monotonic() - t0, 2)
got, errs = read_committed(boot, len(committed))
out["phase1"] = {"got": got, "errors": errs, "committed": list(committed), "aborted": list(aborted)}

# an open transaction of A across the kill
a.begin_transaction()
open_vals = ["o:A:%d:%d" % (q, i) for q in PARTS for i in range(2)]
for v in open_vals:
    a.produce(topic, value=v.encode(), partition=int(v.split(":")[2]))
a.flush(60)

md = AdminClient({"bootstrap.servers": boot}).list_topics(topic="__transaction_state", timeout=30)
tparts = md.topics["__transaction_state"].partitions
h = java_hash(txn_id)
k = 0 if h == -(1 << 31) else abs(h) % len(tparts)
victim = tparts[k].leader
out.update(victim=victim, state_partition=k, state_partitions=len(tparts))
os.kill(nodes[victim][0], signal.SIGKILL)
killed = time.monotonic()
survivors = ",".join(b for i, (pid, b) in nodes.items() if i != victim)

b = producer(survivors)
retry("init B", lambda: b.init_transactions(60))
out["init_after_kill_s"] = round(time.monotonic() - killed, 2)
try:
    a.commit_transaction(30)
    out["a_commit"] = "committed"
except KafkaException as e:
    err = e.args[0]
    out["a_commit"] = err.name()
    out["a_commit_fatal"] = err.fatal()
transactions(b, "B", n2, committed, aborted)
out["phase2_after_kill_s"] = round(time.monotonic() - killed, 2)
aborted.extend(open_vals)
got, errs = read_committed(survivors, len(committed))
out["final"] = {"got": got, "errors": errs, "committed": committed, "aborted": aborted}
out["seconds"] = round(time.monotonic() - t0, 2)
print(json.dumps(out))
"""


def check_read(what, r):
    got, committed, aborted = r["got"], r["committed"], set(r["aborted"])
    dups = sorted({v for v in got if got.count(v) > 1})
    assert not dups, "%s: records read more than once: %s" % (what, dups[:10])
    stray = sorted(v for v in got if v in aborted)
    assert not stray, "%s: aborted records read with read_committed: %s" % (what, stray[:10])
    missing = sorted(set(committed) - set(got))
    assert not missing, "%s: committed records not read: %s" % (what, missing[:10])
    unknown = sorted(set(got) - set(committed))
    assert not unknown, "%s: records nobody committed: %s" % (what, unknown[:10])
    assert not r["errors"], "%s: consumer errors %s" % (what, r["errors"][:5])


def test_transactions_survive_coordinator_kill(start_cluster, measured):
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    topic, txn_id = unique("txn"), unique("txn-id")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    leaders = {q: v[0] for q, v in confluent_describe(c.bootstrap, topic).items()}
    assert sorted(leaders.values()) == [1, 2, 3], "leaders not spread: %s" % leaders
    nodes = json.dumps({n.node_id: [n.pid(), n.bootstrap] for n in c.brokers()})

    out = venv_run(SCRIPT, c.bootstrap, topic, txn_id, nodes, "6", "6", timeout=600)
    victim = out["victim"]
    measured("transactions: 6 before the kill in %.1f s; coordinator %s (__transaction_state-%d "
             "of %d) killed: new producer initialised %.2f s after, 6 more done %.2f s after; "
             "old producer's commit: %s; retried errors %s; %.1f s in all"
             % (out["phase1_s"], victim, out["state_partition"], out["state_partitions"],
                out["init_after_kill_s"], out["phase2_after_kill_s"], out["a_commit"],
                sorted({e[1] for e in out["errors"]}), out["seconds"]))
    check_read("before the kill", out["phase1"])
    assert len(out["phase1"]["committed"]) == 27 and len(out["phase1"]["aborted"]) == 27
    assert victim in (1, 2, 3), out
    # The old producer is fenced: its open transaction was aborted by B's
    # initialisation, its commit fails (librdkafka's fatal _FENCED).
    assert out["a_commit"] != "committed", out
    assert out["a_commit"] in ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"), out
    not_retriable = [e for e in out["errors"] if not e[2]]
    assert not not_retriable, "errors other than retriable ones: %s" % not_retriable
    check_read("after the kill", out["final"])
    assert len(out["final"]["committed"]) == 54
    assert len(out["final"]["aborted"]) == 54 + 6


COMMIT_ONE = r"""
import json, sys
from confluent_kafka import Producer
boot, topic, txn_id = sys.argv[1], sys.argv[2], sys.argv[3]
p = Producer({"bootstrap.servers": boot, "transactional.id": txn_id,
              "transaction.timeout.ms": 300000})
p.init_transactions(60)
p.begin_transaction()
for q in (0, 1, 2):
    p.produce(topic, value=b"one", partition=q)
p.commit_transaction(60)
# a second one left open: Ongoing with its partitions when described
p.begin_transaction()
for q in (0, 2):
    p.produce(topic, value=b"two", partition=q)
p.flush(60)
print(json.dumps({"ok": True}))
"""


def _flexible_request(api_key, body):
    """Request header v2 (client id, no tags) + body, for a raw round trip."""
    cid = b"txn-cluster-test"
    return struct.pack(">hhih", api_key, 0, 7, len(cid)) + cid + b"\x00" + body


def _compact_str(s):
    b = s.encode()
    return bytes([len(b) + 1]) + b


def describe_transactions_raw(port, txn_id):
    """DescribeTransactions v0 for one id to this one broker: (error,
    state, producer id, {topic: sorted partitions})."""
    body = b"\x02" + _compact_str(txn_id) + b"\x00"
    r = localcluster._Reader(localcluster._roundtrip(port, _flexible_request(65, body), 10))
    r.take(">i")
    r.skip_tags()
    r.take(">i")                                   # throttle
    assert r.uvarint() == 2
    err = r.take(">h")
    r.compact_string()
    state = r.compact_string()
    r.take(">i")                                   # timeout
    r.take(">q")                                   # start time
    pid = r.take(">q")
    r.take(">h")
    topics = {}
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        topics[name] = sorted(r.take(">i") for _ in range(r.uvarint() - 1))
        r.skip_tags()
    return err, state, pid, topics


def list_transactions_raw(port):
    """ListTransactions v0 (no filters) to this one broker: (error,
    {transactional id: [producer id, state]})."""
    body = b"\x01" + b"\x01" + b"\x00"
    r = localcluster._Reader(localcluster._roundtrip(port, _flexible_request(66, body), 10))
    r.take(">i")
    r.skip_tags()
    r.take(">i")
    err = r.take(">h")
    for _ in range(r.uvarint() - 1):
        r.compact_string()
    out = {}
    for _ in range(r.uvarint() - 1):
        tid = r.compact_string()
        pid = r.take(">q")
        out[tid] = [pid, r.compact_string()]
        r.skip_tags()
    return err, out


def java_hash(s):
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def test_only_the_coordinator_answers_for_an_id(start_cluster):
    c = start_cluster("combined", nodes=3)
    topic, txn_id = unique("txn-d"), unique("txn-d-id")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    venv_run(COMMIT_ONE, c.bootstrap, topic, txn_id)
    parts = localcluster.metadata(c.node(1).client_port)["partitions"]["__transaction_state"]
    h = java_hash(txn_id)
    k = 0 if h == -(1 << 31) else abs(h) % len(parts)
    coordinator = parts[k][0]
    described, listed = {}, {}
    for n in c.brokers():
        described[n.node_id] = describe_transactions_raw(n.client_port, txn_id)
        err, ids = list_transactions_raw(n.client_port)
        assert err == 0, (n.node_id, err)
        listed[n.node_id] = ids.get(txn_id)
    err, state, pid, topics = described[coordinator]
    assert (err, state, topics) == (0, "Ongoing", {topic: [0, 2]}), described
    for i, d in described.items():
        if i != coordinator:
            assert d[0] == 16, "broker %d (coordinator %d) answered %s" % (i, coordinator, d)
    assert listed[coordinator] == [pid, "Ongoing"], listed
    assert [i for i, v in listed.items() if v is not None] == [coordinator], listed
