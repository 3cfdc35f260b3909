"""
The protocol range Gregor serves beyond Kafka 4.4's own (issue 18): the
versions Kafka 4 removed (KIP-896) that tools still send, and what the
newest versions carry, checked byte by byte with raw requests.

- ListOffsets v0 (Burrow's cluster module sends nothing else): Gregor
  answers as Kafka 3.9 did, a list of offsets ("old style"); Apache Kafka
  4.4 closes the connection. Both outcomes are asserted, so the difference
  stays visible.
- ListOffsets v9-v11: the tiered-storage timestamps (-5 latest tiered, -6
  earliest pending upload) answer offset -1 without an error where the
  version knows them, UNSUPPORTED_VERSION below it, as Kafka without
  tiered storage does.
- ApiVersions v5 (KIP-1242): a client naming the cluster and node it means
  to reach must name both (INVALID_REQUEST otherwise) and learns when this
  is not that node (REBOOTSTRAP_REQUIRED).
- Produce v13 (KIP-516): topics named by id; an unknown id answers
  UNKNOWN_TOPIC_ID.

All pass on Gregor and, with --broker=kafka, on Apache Kafka 4.4.0 (where
ListOffsets v0 is asserted refused).
"""

import struct
import time
import uuid

import pytest

import kafka_wire as w

UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
UNKNOWN_TOPIC_ID = 100
UNKNOWN_TOPIC_OR_PARTITION = 3
REBOOTSTRAP_REQUIRED = 129


def cstr(s):
    """A compact (flexible-version) nullable string."""
    if s is None:
        return b"\x00"
    b = s.encode()
    return w.uvarint(len(b) + 1) + b


def skip_cstr(r):
    n = r.uvarint()
    r.pos += max(n - 1, 0)


def roundtrip(broker, data, timeout=10):
    with w.connect(broker.port) as s:
        s.sendall(data)
        return w.recv_response(s, timeout)


def admin(broker):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def make_topic(broker, name, records=3):
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic
    a = admin(broker)
    for f in a.create_topics([NewTopic(name, 1, 1)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(records):
        p.produce(name, value=b"v%d" % i, partition=0)
    assert p.flush(30) == 0


def topic_id(broker, name):
    """The topic's id, from Metadata v12 (flexible, header v2)."""
    body = (w.uvarint(2) + (b"\x00" * 16) + cstr(name) + b"\x00"   # topics: [id zero, name]
            + b"\x00" + b"\x00" + b"\x00")   # allow_auto_topic_creation, include_topic_authorized_operations, tags
    payload = roundtrip(broker, w.frame(w.request_header_v2(3, 12, 5) + body))
    r = w.Reader(payload)
    r.take(">i")               # correlation id
    r.uvarint()                # response header tags
    r.take(">i")               # throttle
    for _ in range(r.uvarint() - 1):       # brokers
        r.take(">i")
        skip_cstr(r)                       # host
        r.take(">i")
        skip_cstr(r)                       # rack
        r.uvarint()
    skip_cstr(r)                           # cluster id
    r.take(">i")                           # controller id
    assert r.uvarint() - 1 == 1            # one topic
    err = r.take(">h")
    n = r.uvarint()
    got = r.data[r.pos:r.pos + n - 1].decode()
    r.pos += n - 1
    tid = r.data[r.pos:r.pos + 16]
    assert (err, got) == (0, name)
    return tid


# ---------------------------------------------------------------------------
# ListOffsets
# ---------------------------------------------------------------------------

def list_offsets_v0(topic, timestamp, max_num, replica_id=-1):
    body = (struct.pack(">i", replica_id) + struct.pack(">i", 1) + w.string(topic)
            + struct.pack(">i", 1) + struct.pack(">iqi", 0, timestamp, max_num))
    return w.frame(w.request_header_v1(2, 0, 11) + body)


def parse_list_offsets_v0(payload):
    r = w.Reader(payload)
    assert r.take(">i") == 11
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    part, err = r.take(">ih")
    offsets = [r.take(">q") for _ in range(r.take(">i"))]
    assert r.remaining() == 0
    return part, err, offsets


def test_list_offsets_v0_as_kafka_3_9(broker):
    """Burrow's request: latest offset, one of them, as a consumer."""
    make_topic(broker, "lo-v0", records=3)
    if broker.kind == "kafka":
        # KIP-896: Kafka 4 closes the connection (Burrow then sees no
        # offsets, and drops every group's as "unknown topic").
        assert _closed(broker, list_offsets_v0("lo-v0", -1, 1))
        return
    assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-v0", -1, 1))) == (0, 0, [3])
    # Up to 10: the log end (the high watermark, for a consumer) and the
    # base offset of the one segment, largest first.
    assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-v0", -1, 10))) == (0, 0, [3, 0])
    assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-v0", -2, 10))) == (0, 0, [0])
    # By time: segments last modified at or before it; none before 1970.
    assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-v0", 1, 10))) == (0, 0, [])
    # The timestamps of later versions (max -3, earliest local -4, latest
    # tiered -5) need v7, v8, v9: UNSUPPORTED_VERSION, as Kafka 3.9.1.
    for ts in (-3, -4, -5):
        assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-v0", ts, 10))) == (0, 35, [])
    # Unknown topic: the error, no offsets.
    assert parse_list_offsets_v0(roundtrip(broker, list_offsets_v0("lo-none", -1, 1))) == (0, 3, [])


def _closed(broker, data):
    with w.connect(broker.port) as s:
        s.sendall(data)
        return w.closed_by_peer(s)


def list_offsets_flex(version, topic, timestamp):
    body = (struct.pack(">ib", -1, 0) + w.uvarint(2) + cstr(topic) + w.uvarint(2)
            + struct.pack(">iiq", 0, -1, timestamp) + b"\x00" + b"\x00")
    if version >= 10:
        body += struct.pack(">i", 5000)
    body += b"\x00"
    return w.frame(w.request_header_v2(2, version, 12) + body)


def parse_list_offsets_flex(payload):
    r = w.Reader(payload)
    assert r.take(">i") == 12
    r.uvarint()
    r.take(">i")
    assert r.uvarint() - 1 == 1
    skip_cstr(r)
    assert r.uvarint() - 1 == 1
    part, err, ts, off, epoch = r.take(">ihqqi")
    return err, ts, off, epoch


@pytest.mark.parametrize("version", [8, 9, 10, 11])
def test_list_offsets_tiered_timestamps(broker, version):
    make_topic(broker, "lo-tiered", records=3)
    err, ts, off, epoch = parse_list_offsets_flex(roundtrip(broker, list_offsets_flex(version, "lo-tiered", -1)))
    assert (err, off) == (0, 3) and epoch >= 0
    for timestamp, since in ((-5, 9), (-6, 11)):
        got = parse_list_offsets_flex(roundtrip(broker, list_offsets_flex(version, "lo-tiered", timestamp)))
        if version >= since:
            assert got == (0, -1, -1, -1), (timestamp, got)
        else:
            assert got == (UNSUPPORTED_VERSION, -1, -1, -1), (timestamp, got)
    got = parse_list_offsets_flex(roundtrip(broker, list_offsets_flex(version, "lo-tiered", -7)))
    assert got == (UNSUPPORTED_VERSION, -1, -1, -1)


# ---------------------------------------------------------------------------
# ApiVersions v5
# ---------------------------------------------------------------------------

def api_versions_v5(cluster_id, node_id):
    body = cstr("gregor-raw") + cstr("1.0") + cstr(cluster_id) + struct.pack(">i", node_id) + b"\x00"
    return w.frame(w.request_header_v2(18, 5, 13) + body)


def api_versions_v5_answer(broker, cluster_id, node_id):
    r = w.Reader(roundtrip(broker, api_versions_v5(cluster_id, node_id)))
    assert r.take(">i") == 13
    err = r.take(">h")
    return err, r.uvarint() - 1


def cluster_and_node(broker):
    """The cluster id and the node id of the one broker under test. Not
    librdkafka's orig_broker_id: it is -1 when the answer came over the
    bootstrap connection, which has no node id yet (at random)."""
    a = admin(broker)
    md = a.list_topics(timeout=30)
    assert len(md.brokers) == 1, md.brokers
    return md.cluster_id, next(iter(md.brokers))


def test_api_versions_v5_checks_cluster_and_node(broker):
    cluster, node = cluster_and_node(broker)
    err, napis = api_versions_v5_answer(broker, None, -1)
    assert err == 0 and napis > 20
    err, napis = api_versions_v5_answer(broker, cluster, node)
    assert err == 0 and napis > 20
    assert api_versions_v5_answer(broker, "not-this-cluster-id00", node) == (REBOOTSTRAP_REQUIRED, 0)
    assert api_versions_v5_answer(broker, cluster, node + 1) == (REBOOTSTRAP_REQUIRED, 0)
    assert api_versions_v5_answer(broker, cluster, -1) == (INVALID_REQUEST, 0)
    assert api_versions_v5_answer(broker, None, node) == (INVALID_REQUEST, 0)


# ---------------------------------------------------------------------------
# Produce v13
# ---------------------------------------------------------------------------

def produce_v13(tid, batch):
    body = (cstr(None) + struct.pack(">hi", -1, 10000) + w.uvarint(2) + tid + w.uvarint(2)
            + struct.pack(">i", 0) + w.uvarint(len(batch) + 1) + batch + b"\x00" + b"\x00" + b"\x00")
    return w.frame(w.request_header_v2(0, 13, 14) + body)


def parse_produce_v13(payload):
    r = w.Reader(payload)
    assert r.take(">i") == 14
    r.uvarint()
    assert r.uvarint() - 1 == 1
    tid = r.data[r.pos:r.pos + 16]
    r.pos += 16
    assert r.uvarint() - 1 == 1
    part, err, base = r.take(">ihq")
    return tid, part, err, base


def test_produce_v13_by_topic_id(broker):
    make_topic(broker, "p13", records=2)
    tid = topic_id(broker, "p13")
    batch = w.record_batch([(b"k", b"by-id", ())])
    assert parse_produce_v13(roundtrip(broker, produce_v13(tid, batch))) == (tid, 0, 0, 2)
    unknown = uuid.uuid4().bytes
    got = parse_produce_v13(roundtrip(broker, produce_v13(unknown, batch)))
    assert got[:3] == (unknown, 0, UNKNOWN_TOPIC_ID), got


# ---------------------------------------------------------------------------
# AddPartitionsToTxn v4-5: the brokers' batched form (KIP-890)
# ---------------------------------------------------------------------------

def carray(items):
    return w.uvarint(len(items) + 1) + b"".join(items)


def init_producer_id(broker, txn_id):
    """InitProducerId v4, retried while the coordinator loads (Kafka
    creates __transaction_state on the first request)."""
    # FindCoordinator (v4, key type 1) is what makes Kafka create
    # __transaction_state; asked until the coordinator is there.
    find = w.frame(w.request_header_v2(10, 4, 20) + struct.pack(">b", 1) + carray([cstr(txn_id)]) + b"\x00")
    deadline = time.monotonic() + 60
    while True:
        r = w.Reader(roundtrip(broker, find))
        assert r.take(">i") == 20
        r.uvarint()
        r.take(">i")
        assert r.uvarint() - 1 == 1
        skip_cstr(r)
        r.take(">i")
        skip_cstr(r)
        r.take(">i")
        if r.take(">h") == 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    body = cstr(txn_id) + struct.pack(">iqh", 60000, -1, -1) + b"\x00"
    while True:
        r = w.Reader(roundtrip(broker, w.frame(w.request_header_v2(22, 4, 21) + body)))
        assert r.take(">i") == 21
        r.uvarint()
        r.take(">i")
        err, pid, epoch = r.take(">hqh")
        if err == 0:
            return pid, epoch
        assert err in (14, 15, 16) and time.monotonic() < deadline, err   # loading, not available, not coordinator
        time.sleep(0.2)


def add_partitions_v3(broker, txn_id, pid, epoch, topic, parts):
    topics = carray([cstr(topic) + carray([struct.pack(">i", p) for p in parts]) + b"\x00"])
    body = cstr(txn_id) + struct.pack(">qh", pid, epoch) + topics + b"\x00"
    r = w.Reader(roundtrip(broker, w.frame(w.request_header_v2(24, 3, 22) + body)))
    assert r.take(">i") == 22
    r.uvarint()
    r.take(">i")
    codes = []
    for _ in range(r.uvarint() - 1):
        skip_cstr(r)
        for _ in range(r.uvarint() - 1):
            codes.append(r.take(">ih")[1])
            r.uvarint()
        r.uvarint()
    return codes


def add_partitions_batch(broker, version, txns):
    """txns: [(txn_id, pid, epoch, verify_only, [(topic, [partitions])])] ->
    (top error, {txn_id: {(topic, partition): code}})"""
    items = []
    for tid, pid, epoch, verify, topics in txns:
        ts = carray([cstr(t) + carray([struct.pack(">i", p) for p in ps]) + b"\x00" for t, ps in topics])
        items.append(cstr(tid) + struct.pack(">qhb", pid, epoch, 1 if verify else 0) + ts + b"\x00")
    body = carray(items) + b"\x00"
    r = w.Reader(roundtrip(broker, w.frame(w.request_header_v2(24, version, 23) + body)))
    assert r.take(">i") == 23
    r.uvarint()
    r.take(">i")
    top = r.take(">h")
    out = {}
    for _ in range(r.uvarint() - 1):
        n = r.uvarint()
        tid = r.data[r.pos:r.pos + n - 1].decode()
        r.pos += n - 1
        res = out.setdefault(tid, {})
        for _ in range(r.uvarint() - 1):
            n = r.uvarint()
            topic = r.data[r.pos:r.pos + n - 1].decode()
            r.pos += n - 1
            for _ in range(r.uvarint() - 1):
                p, code = r.take(">ih")
                r.uvarint()
                res[(topic, p)] = code
            r.uvarint()
        r.uvarint()
    assert r.remaining() == 1   # the response's tags
    return top, out


TRANSACTION_ABORTABLE = 120
PRODUCER_FENCED = 90
INVALID_PRODUCER_ID_MAPPING = 49
OPERATION_NOT_ATTEMPTED = 55


@pytest.mark.parametrize("version", [4, 5])
def test_add_partitions_to_txn_batched(broker, version):
    """What a partition leader asks the transaction coordinator before it
    appends a transactional batch (verify only), and adds on a producer's
    behalf, several transactions in one request."""
    from confluent_kafka.admin import NewTopic
    a = admin(broker)
    for f in a.create_topics([NewTopic("apt", 3, 1)]).values():
        f.result(30)
    pid1, ep1 = init_producer_id(broker, "apt-1")
    pid2, ep2 = init_producer_id(broker, "apt-2")
    assert add_partitions_v3(broker, "apt-1", pid1, ep1, "apt", [0]) == [0]
    top, res = add_partitions_batch(broker, version, [
        ("apt-1", pid1, ep1, True, [("apt", [0, 1])]),
        ("apt-2", pid2, ep2, True, [("apt", [0])]),
        ("apt-none", 4242, 0, True, [("apt", [0])]),
    ])
    assert top == 0
    assert res == {
        "apt-1": {("apt", 0): 0, ("apt", 1): TRANSACTION_ABORTABLE},
        "apt-2": {("apt", 0): TRANSACTION_ABORTABLE},          # Empty: holds nothing
        "apt-none": {("apt", 0): INVALID_PRODUCER_ID_MAPPING},
    }
    # another epoch; and an unknown partition decides its transaction at once
    top, res = add_partitions_batch(broker, version, [
        ("apt-1", pid1, ep1 + 1, True, [("apt", [0])]),
        ("apt-2", pid2, ep2, True, [("apt", [0, 7])]),
    ])
    assert res == {
        "apt-1": {("apt", 0): PRODUCER_FENCED},
        "apt-2": {("apt", 0): OPERATION_NOT_ATTEMPTED, ("apt", 7): UNKNOWN_TOPIC_OR_PARTITION},
    }
    # not verify only: added, as v3 adds, several transactions answered together
    top, res = add_partitions_batch(broker, version, [
        ("apt-1", pid1, ep1, False, [("apt", [1, 2])]),
        ("apt-2", pid2, ep2, False, [("apt", [2])]),
    ])
    assert res == {"apt-1": {("apt", 1): 0, ("apt", 2): 0}, "apt-2": {("apt", 2): 0}}
    top, res = add_partitions_batch(broker, version, [
        ("apt-1", pid1, ep1, True, [("apt", [0, 1, 2])]),
        ("apt-2", pid2, ep2, True, [("apt", [0, 2])]),
    ])
    assert res == {"apt-1": {("apt", 0): 0, ("apt", 1): 0, ("apt", 2): 0},
                   "apt-2": {("apt", 0): TRANSACTION_ABORTABLE, ("apt", 2): 0}}
