"""
What the cluster tests share (not a test file): the one mark for what
Gregor cannot do yet, waits, and the clients: confluent-kafka and
kafka-python from Debian's interpreter, the newest of both from build/venv,
kcat, Kafka's own command-line tools, and raw requests where a request must
go to one node in particular.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import localcluster
from localcluster import ClusterNotFormed

REPO = Path(__file__).resolve().parent.parent.parent
VENV_PYTHON = REPO / "build" / "venv" / "bin" / "python"

QUORUM_REASON = "issue 11: Gregor runs one node; the quorum is being built"

# On Gregor: a strict expected failure that must fail with ClusterNotFormed,
# the cluster-forming wait's error (a node lists fewer brokers than there
# are); any other failure is red, and so is a pass. On Kafka: an ordinary
# test. Every test had it while the quorum was built; none needs it now.
needs_quorum = pytest.mark.xfail("config.getoption('--broker') == 'gregor'",
                                 reason="Gregor: " + QUORUM_REASON, raises=ClusterNotFormed,
                                 strict=True)


REPLICATION_REASON = ("issue 12: data replication (a follower replica in the ISR) comes "
                      "after the quorum")


class ReplicaNotInIsr(AssertionError):
    """A follower replica never joined a partition's ISR (wait_isr_full)."""


# For what needs data replication as well (the issue after the quorum): on
# Gregor the test must fail where the cluster does not form or where a
# follower never joins the ISR.
needs_replication = pytest.mark.xfail("config.getoption('--broker') == 'gregor'",
                                      reason="Gregor: " + REPLICATION_REASON,
                                      raises=(ClusterNotFormed, ReplicaNotInIsr), strict=True)


class RecordsLost(AssertionError):
    """Records acknowledged before a restart are not all there after it."""


def produce_each(bootstrap, topic, partitions, n, timeout=60):
    """n records to each partition with acks=all; {partition: [values]}."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 30000})
    sent, errors = {q: [] for q in partitions}, []

    def dr(err, msg):
        if err is not None:
            errors.append(err)
        else:
            sent[msg.partition()].append(msg.value())
    for q in partitions:
        for i in range(n):
            p.produce(topic, value=("%d-%d" % (q, i)).encode(), partition=q, on_delivery=dr)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0 and not errors, "produce: %d left, errors %s" % (left, errors[:3])
    return sent


def consume_each(bootstrap, topic, expected, timeout=30):
    """Reads every partition of `expected` ({partition: [values]}) from its
    beginning; raises RecordsLost unless each holds exactly those values."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("cluster-read"),
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    got = {q: [] for q in expected}
    try:
        c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in expected])
        deadline = time.monotonic() + timeout
        while any(len(got[q]) < len(v) for q, v in expected.items()) \
                and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    got[m.partition()].append(m.value())
    finally:
        c.close()
    short = {q: (len(got[q]), len(v)) for q, v in expected.items() if got[q] != v}
    if short:
        raise RecordsLost("%s: partitions whose records differ after the restart "
                          "{partition: (read, acknowledged)}: %s" % (topic, short))


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def wait_until(what, fn, timeout, interval=0.2):
    """Calls fn() until it returns something true; returns (value, seconds).
    Fails with `what` and the last value after `timeout` seconds."""
    t0 = time.monotonic()
    last = None
    while True:
        try:
            last = fn()
        except Exception as e:  # a node that does not answer yet
            last = e
        else:
            if last:
                return last, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError("%s: not after %.0f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


def node_topics(node):
    """The topic names in this one node's Metadata (raw request to its port)."""
    md = localcluster.metadata(node.client_port)
    return {t for t, err in md["topics"].items() if err == 0}


def node_brokers(node):
    return sorted(localcluster.metadata(node.client_port)["brokers"])


def wait_topics_everywhere(cluster, topics, nodes=None, timeout=30):
    """Until every node of `nodes` (default: every broker) lists all `topics`."""
    nodes = nodes or cluster.brokers()
    for n in nodes:
        wait_until("node %d's Metadata lists %s" % (n.node_id, sorted(topics)),
                   lambda n=n: set(topics) <= node_topics(n), timeout)


def wait_leader(cluster, timeout=30, not_in=()):
    """DescribeQuorum until a controller not in `not_in` says it leads;
    returns (quorum description, seconds)."""
    def leader():
        q = cluster.quorum()
        return q if q and q["leader"] not in not_in else None
    return wait_until("a metadata quorum leader other than %s" % list(not_in), leader, timeout,
                      interval=0.1)


def wait_isr_full(node, topic, replicas, timeout=30):
    """Until this node's Metadata shows every partition of `topic` with
    exactly `replicas` in its ISR; raises ReplicaNotInIsr (with the last
    {partition: (leader, replicas, isr)} seen)."""
    seen = {}

    def full():
        p = localcluster.metadata(node.client_port)["partitions"].get(topic)
        seen["last"] = p
        return p if p and all(sorted(v[2]) == sorted(replicas) for v in p.values()) else None
    try:
        return wait_until("%s: every partition's ISR is %s in node %d's Metadata"
                          % (topic, sorted(replicas), node.node_id), full, timeout)[0]
    except AssertionError:
        raise ReplicaNotInIsr("%s: every partition's ISR is %s in node %d's Metadata: not after "
                              "%.0f s; last seen {partition: (leader, replicas, isr)}: %s"
                              % (topic, sorted(replicas), node.node_id, timeout,
                                 seen.get("last")))


def create_until_ok(node, prefix, limit):
    """CreateTopics sent to this node, again and again, until it succeeds
    (while the metadata quorum elects a leader). Kafka holds the request
    until a controller is known, or answers with an error code; a closed
    connection or no answer at all is a failure here. Returns (topic,
    [(error, message) of every attempt])."""
    deadline = time.monotonic() + limit
    attempts = []
    while True:
        name = unique(prefix)
        try:
            err, msg = create_topic_raw(node.client_port, name, timeout_ms=3000)
        except OSError as e:
            raise AssertionError("CreateTopics through node %d: %s (after %d attempt(s): %s); "
                                 "Kafka answers it" % (node.node_id, e, len(attempts),
                                                       attempts[-3:]))
        attempts.append((err, msg))
        if err == 0:
            return name, attempts
        if time.monotonic() > deadline:
            raise AssertionError("CreateTopics through node %d still fails %.0f s after the "
                                 "kill: %s" % (node.node_id, limit, attempts[-5:]))
        time.sleep(0.1)


# ---------------------------------------------------------------- raw CreateTopics

def create_topic_raw(port, name, partitions=1, replication=1, timeout_ms=15000, wait_s=None):
    """CreateTopics v4 sent to this one port (clients send it to the broker
    that Metadata calls the controller; this goes where the test says).
    Returns (error_code, error_message); socket.timeout (an OSError) when
    no answer comes within wait_s (default: timeout_ms plus 10 s)."""
    wait_s = timeout_ms / 1000 + 10 if wait_s is None else wait_s
    cid = b"cluster-tests"
    n = name.encode()
    body = (struct.pack(">i", 1) + struct.pack(">h", len(n)) + n
            + struct.pack(">ihii", partitions, replication, 0, 0)   # no assignments, configs
            + struct.pack(">ib", timeout_ms, 0))
    payload = struct.pack(">hhih", 19, 4, 21, len(cid)) + cid + body
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.settimeout(wait_s)
        s.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", localcluster._recv_exact(s, 4))
        r = localcluster._Reader(localcluster._recv_exact(s, size))
    r.take(">i")          # correlation id
    r.take(">i")          # throttle
    r.take(">i")          # one topic
    r.string()
    err = r.take(">h")
    return err, r.string()


# ---------------------------------------------------------------- clients

def confluent_admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def confluent_create(bootstrap, name, partitions=1, replication=1, timeout=30):
    from confluent_kafka.admin import NewTopic
    a = confluent_admin(bootstrap)  # kept alive until the result is in
    fs = a.create_topics([NewTopic(name, partitions, replication)], operation_timeout=timeout,
                         request_timeout=timeout)
    fs[name].result(timeout=timeout + 10)


def confluent_delete(bootstrap, name, timeout=30):
    a = confluent_admin(bootstrap)
    fs = a.delete_topics([name], operation_timeout=timeout, request_timeout=timeout)
    fs[name].result(timeout=timeout + 10)


def confluent_describe(bootstrap, name, timeout=15):
    """{partition: (leader, [replicas], [isr])} from confluent-kafka's Metadata."""
    md = confluent_admin(bootstrap).list_topics(topic=name, timeout=timeout)
    tm = md.topics[name]
    assert tm.error is None, "%s: %s" % (name, tm.error)
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in tm.partitions.values()}


def kafka_python_admin(bootstrap):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cluster-tests",
                            request_timeout_ms=30000)


def venv_run(code, *args, timeout=120):
    """Runs Python code with build/venv's newest clients (confluent-kafka 2.x,
    kafka-python 3.x); returns its stdout parsed as JSON."""
    if not VENV_PYTHON.exists():
        pytest.fail("%s missing: run scripts/venv" % VENV_PYTHON, pytrace=False)
    r = subprocess.run([str(VENV_PYTHON), "-c", code] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "venv client failed (exit %d):\n%s%s" % (r.returncode, r.stdout,
                                                                      r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def kcat_metadata(bootstrap, timeout=60):
    """kcat -L -J: {"brokers": [{"id", "name"}], "topics": [...]}."""
    r = subprocess.run(["kcat", "-b", bootstrap, "-L", "-J", "-m", "15"], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "kcat -L failed (exit %d): %s" % (r.returncode, r.stderr)
    return json.loads(r.stdout)


def kafka_tool(main_class, args, timeout=120):
    """One of Kafka's command-line tools (the JVM client), e.g.
    org.apache.kafka.tools.MetadataQuorumCommand."""
    sys.path.insert(0, str(REPO / "tests" / "reference"))
    import kafkaref
    kafkaref.fetch(quiet=True)
    r = kafkaref.run_tool(main_class, args, timeout=timeout)
    assert r.returncode == 0, "%s %s failed (exit %d):\n%s%s" % (
        main_class, " ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


def quorum_leader_by_tool(bootstrap):
    """kafka-metadata-quorum.sh --bootstrap-server B describe --status:
    the LeaderId line."""
    out = kafka_tool("org.apache.kafka.tools.MetadataQuorumCommand",
                     ["--bootstrap-server", bootstrap, "describe", "--status"])
    for line in out.splitlines():
        k, _, v = line.partition(":")
        if k.strip() == "LeaderId":
            return int(v.strip())
    raise AssertionError("no LeaderId in kafka-metadata-quorum's output:\n" + out)
