"""
Kafka strings byte for byte (issue 18, part 1): what a client sends in a
string - committed-offset metadata, group ids, client ids, member and
instance ids, transactional ids - comes back with every byte, NUL included,
in every answer and after a restart (from __consumer_offsets and
__transaction_state).

"Every byte" is Kafka's rule, not a naive one: Kafka reads every request
string as Java does, new String(bytes, UTF_8), so a byte sequence that is
not UTF-8 comes back as U+FFFD (EF BF BD), as the JDK's decoder cuts it; a
NUL is an ordinary character. The expected values below are Kafka's
answers, and each test passes on Gregor and with --broker=kafka.

Clients: librdkafka's rd_kafka_commit()/rd_kafka_committed() through a small
C program (rdkafka_committed.c; confluent-kafka 1.7's TopicPartition has no
metadata), Kafka's Java client (StringsCheck.java, run as a source file on
the reference Kafka's jars), and raw requests (test_groups_support.GroupConn)
where no client can send the bytes (non-UTF-8 group, client and instance
ids).
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import create_topic
import kafkaref
from test_groups_support import (  # noqa: F401  (fixtures)
    NONE, GroupConn, Reader, consumer_assignment, group_broker, range_protocols,
    wait_coordinator_ready,
)

HERE = Path(__file__).resolve().parent
JAVA_SRC = HERE / "StringsCheck.java"
JAVA_TIMEOUT_S = 120
OFFSETS_PARTITIONS = 50

HELLO = b"Hello\x00world!"                       # 12 bytes, a NUL inside
NOT_UTF8 = b"\xff\xfeok\x00"                      # two bytes no UTF-8 has, then "ok\0"
NOT_UTF8_KEPT = b"\xef\xbf\xbd\xef\xbf\xbdok\x00"  # what Kafka keeps: U+FFFD for each


def java_string_hash(b):
    """Java's String.hashCode of the UTF-8 bytes b (valid UTF-8)."""
    h = 0
    for unit in b.decode("utf-8").encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group_bytes):
    h = java_string_hash(group_bytes)
    return (0 if h == -(1 << 31) else abs(h)) % OFFSETS_PARTITIONS


class BytesReader(Reader):
    """Strings as the raw bytes the broker sent."""

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return s


class BytesConn(GroupConn):
    def recv(self, timeout=None):
        r = super().recv(timeout)
        b = BytesReader(r.data)
        b.pos = r.pos
        return b


@pytest.fixture(scope="module")
def rdkafka_committed(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler (apt-get install gcc)"
    out = tmp_path_factory.mktemp("rdkafka_committed") / "rdkafka_committed"
    r = subprocess.run([cc, "-O1", "-o", str(out), str(HERE / "rdkafka_committed.c"), "-lrdkafka"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "compiling rdkafka_committed.c failed:\n%s" % r.stderr
    return out


def rd(prog, broker, group, topic, *args):
    r = subprocess.run([str(prog), broker.bootstrap, group, topic] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "rdkafka_committed failed: %s" % r.stderr
    out = {}
    for line in r.stdout.splitlines():
        p, off, meta = line.split()
        out[int(p)] = (int(off), None if meta == "-" else bytes.fromhex(meta))
    return out


def java(*args):
    cmd = ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
           "-cp", kafkaref.classpath(), str(JAVA_SRC)] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=JAVA_TIMEOUT_S)
    assert r.returncode == 0, "StringsCheck %s failed (%d):\n%s" % (args[0], r.returncode, r.stderr[-4000:])
    return [line.split() for line in r.stdout.splitlines() if line.strip()]


def restart(broker):
    broker.restart()
    wait_coordinator_ready(broker)


# ---------------------------------------------------------------------------
# committed-offset metadata
# ---------------------------------------------------------------------------

def raw_fetch(port, group, topic, partitions):
    with BytesConn(port) as c:
        top, offs = c.offset_fetch(group, {topic: partitions})
    assert top == NONE, top
    return {p: (off, meta) for (t, p), (off, meta, err) in offs.items() if err == NONE}


@pytest.mark.timeout(240)
def test_commit_metadata_librdkafka_committed(group_broker, rdkafka_committed):
    """rd_kafka_commit() with metadata "Hello\\0world!" (12 bytes) and
    "\\xff\\xfeok\\0". OffsetFetch answers the 12 bytes exactly and Kafka's
    decoding of the other (U+FFFD for each stray byte, the NUL kept), before
    and after a restart. rd_kafka_committed() reports both sizes right, but
    librdkafka 2.0.2 copies a fetched metadata string with strndup, so it
    hands back only the bytes before the first NUL (and then whatever
    follows its copy in memory): its view is checked up to the NUL."""
    b = group_broker
    topic, group = "sb-meta", "sb-rdkafka"
    create_topic(b.bootstrap, topic, 2)
    want = {0: (5, HELLO), 1: (7, NOT_UTF8_KEPT)}

    def check(got):
        assert got[0][0] == 5 and len(got[0][1]) == len(HELLO) and got[0][1][:6] == b"Hello\x00", got
        assert got[1] == (7, NOT_UTF8_KEPT), got  # its first NUL is its last byte
        assert raw_fetch(b.port, group, topic, [0, 1]) == want

    check(rd(rdkafka_committed, b, group, topic, "commit", "0:5:" + HELLO.hex(), "1:7:" + NOT_UTF8.hex()))
    restart(b)
    check(rd(rdkafka_committed, b, group, topic, "fetch", "0", "1"))


@pytest.mark.timeout(300)
def test_commit_metadata_java_client(group_broker):
    """The Java client's commitSync(OffsetAndMetadata(11, "Hello\\u0000world!"))
    for a group whose id holds a NUL too: committed() gives the 12 bytes
    back, ListGroups lists the whole group id, and both survive a restart."""
    b = group_broker
    topic, group = "sb-java", b"sb-java\x00group"
    create_topic(b.bootstrap, topic, 1)
    want = [["committed", "11", HELLO.hex()]]
    assert java("commit", b.bootstrap, group.hex(), topic, 0, 11, HELLO.hex()) == want
    with BytesConn(b.port) as c:
        err, groups = c.list_groups()
        assert err == NONE and group in groups and b"sb-java" not in groups
    restart(b)
    assert java("fetch", b.bootstrap, group.hex(), topic, 0) == want
    with BytesConn(b.port) as c:
        err, groups = c.list_groups()
        assert err == NONE and group in groups


# ---------------------------------------------------------------------------
# group, client and instance ids
# ---------------------------------------------------------------------------

RAW_GROUP = b"g\x00\xff-raw"
RAW_CLIENT = b"cl\x00\xffnt"
RAW_INSTANCE = b"in\x00\xfest"
KEPT_GROUP = b"g\x00\xef\xbf\xbd-raw"
KEPT_CLIENT = b"cl\x00\xef\xbf\xbdnt"
KEPT_INSTANCE = b"in\x00\xef\xbf\xbdst"


def check_raw_group(port, topic, member_id):
    with BytesConn(port) as c:
        err, groups = c.list_groups()
        assert err == NONE
        assert groups.get(KEPT_GROUP) == b"consumer", groups
        assert not any(g in groups for g in (b"g", RAW_GROUP))
        [d] = c.describe_groups([RAW_GROUP])
        assert d["error"] == NONE and d["group_id"] == KEPT_GROUP and d["state"] == b"Stable", d
        [m] = d["members"]
        assert m["member_id"] == member_id
        assert m["client_id"] == KEPT_CLIENT and m["instance_id"] == KEPT_INSTANCE, m
        # the group as sent and as kept are the same group; cut at the NUL, another
        for g in (RAW_GROUP, KEPT_GROUP):
            top, offs = c.offset_fetch(g, {topic: [0]})
            assert top == NONE and offs == {(topic.encode(), 0): (17, b"m\x00\xef\xbf\xbd", NONE)}, offs
        top, offs = c.offset_fetch(b"g", {topic: [0]})
        assert offs == {(topic.encode(), 0): (-1, b"", NONE)}, offs


@pytest.mark.timeout(240)
def test_group_client_instance_ids_raw(group_broker):
    """A static member joins group "g\\0\\xff-raw" as client "cl\\0\\xffnt" with
    instance id "in\\0\\xfest" (raw requests: no client sends such bytes) and
    commits: ListGroups, DescribeGroups and OffsetFetch show Kafka's
    decoding of every id, NUL kept; the member id is the kept instance id,
    "-" and a UUID; the records land in the __consumer_offsets partition of
    Java's hash of the decoded group id; all of it again after a restart
    (the member restored from its record)."""
    b = group_broker
    topic = "sb-raw"
    create_topic(b.bootstrap, topic, 1)
    with BytesConn(b.port, client_id=RAW_CLIENT) as c:
        j = c.join(RAW_GROUP, instance_id=RAW_INSTANCE, session_timeout_ms=60000,
                   rebalance_timeout_ms=10000, protocols=range_protocols([topic]), version=5)
        assert j["error"] == NONE, j
        member = j["member_id"]
        # a static member's id: "<instance id>-<uuid>" (Kafka's generateMemberId)
        assert member.startswith(KEPT_INSTANCE + b"-") and len(member) == len(KEPT_INSTANCE) + 37, member
        assert j["leader"] == member and j["protocol_name"] == b"range"
        s = c.sync(RAW_GROUP, j["generation"], member,
                   [(member, consumer_assignment({topic: [0]}))], instance_id=RAW_INSTANCE)
        assert s["error"] == NONE, s
        errs = c.offset_commit(RAW_GROUP, {(topic, 0): (17, b"m\x00\xff")}, generation=j["generation"],
                               member_id=member, instance_id=RAW_INSTANCE, version=7)
        assert errs == {(topic.encode(), 0): NONE}, errs
    check_raw_group(b.port, topic, member)
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "sb-watermarks"})
    try:
        ends = [cons.get_watermark_offsets(TopicPartition("__consumer_offsets", p), timeout=10)[1]
                for p in range(OFFSETS_PARTITIONS)]
    finally:
        cons.close()
    assert [p for p, e in enumerate(ends) if e > 0] == [offsets_partition(KEPT_GROUP)], ends
    restart(b)
    check_raw_group(b.port, topic, member)


# ---------------------------------------------------------------------------
# transactional ids
# ---------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_transactional_id_with_nul(group_broker):
    """A Java transactional producer with transactional.id "sb-tx\\u0000n":
    DescribeTransactions and ListTransactions name the whole id while the
    transaction is open and after its commit; "sb-tx" (the id cut at the
    NUL) is not found; after a restart (from __transaction_state) the id is
    still described whole. The producer's offsets go to a group whose id
    holds a NUL too (sendOffsetsToTransaction) and are committed whole."""
    b = group_broker
    topic, tid = "sb-txn", b"sb-tx\x00n"
    group, meta = b"sb-txn\x00group", b"t\x00m"
    create_topic(b.bootstrap, topic, 1)
    out = java("txn", b.bootstrap, tid.hex(), topic, group.hex(), meta.hex())
    assert out[0] == ["open", "Ongoing", tid.hex()], out
    assert ["listed", tid.hex()] in out, out
    assert out[-1] == ["committed", "CompleteCommit", tid.hex()], out
    assert java("describe-txn", b.bootstrap, b"sb-tx".hex()) == [["error", "TransactionalIdNotFoundException"]]
    # the transaction's offsets, for a group whose id holds a NUL (the
    # whole id hashed to its __consumer_offsets partition), once committed
    assert committed_eventually(b.port, group, topic) == (3, meta)
    restart(b)
    assert java("describe-txn", b.bootstrap, tid.hex()) == [["described", "CompleteCommit", tid.hex()]]
    assert committed_eventually(b.port, group, topic) == (3, meta)


def committed_eventually(port, group, topic, timeout=15):
    """The committed offset of partition 0, waiting (bounded) for the
    transaction's COMMIT marker to reach the group."""
    deadline = time.monotonic() + timeout
    while True:
        got = raw_fetch(port, group, topic, [0]).get(0)
        if (got and got[0] >= 0) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_metadata_limit_in_java_chars(group_broker):
    """offset.metadata.max.bytes (4096) is compared with the metadata's
    length in Java chars (UTF-16 units), not in bytes: 4096 euro signs
    (12,288 bytes) are committed and read back whole, 4097 are
    OFFSET_METADATA_TOO_LARGE; an emoji counts two."""
    b = group_broker
    topic, group = "sb-limit", "sb-limit-g"
    create_topic(b.bootstrap, topic, 1)
    TOO_LARGE = 12
    cases = [("\u20ac" * 4096, NONE), ("\u20ac" * 4097, TOO_LARGE), ("a" * 4097, TOO_LARGE),
             ("\U0001F600" * 2048, NONE), ("\U0001F600" * 2048 + "a", TOO_LARGE)]
    with GroupConn(b.port) as c:
        for meta, want in cases:
            assert c.offset_commit(group, {(topic, 0): (5, meta)}, version=7) == {(topic, 0): want}, \
                (len(meta), want)
            if want == NONE:
                top, offs = c.offset_fetch(group, {topic: [0]})
                assert offs == {(topic, 0): (5, meta, NONE)}
