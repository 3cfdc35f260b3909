"""
The group APIs' newer (and oldest) versions, raw, on both brokers (issue 18,
part 3): FindCoordinator v5-6, DescribeGroups v6, ListGroups v5,
DeleteGroups v3, OffsetCommit v9-10, OffsetFetch v9-10, TxnOffsetCommit v4,
and OffsetCommit v0-1 / OffsetFetch v0, which Kafka 4 dropped: there the
Kafka side checks Kafka 4.4's refusal (the connection closed, as for every
version it does not serve) and the Gregor side the answers Kafka 3.9.1 gave
in KRaft mode (recorded in sweep_expected.json): OffsetCommit v0 and
OffsetFetch v0 UNSUPPORTED_VERSION for every partition (3.9 kept v0 offsets
in ZooKeeper only), OffsetCommit v1 a commit like v2's with the client's
commit timestamp.
"""

import struct
import time
import uuid

import pytest

import kafka_wire as w
from conftest import create_topic
from test_groups_support import (  # noqa: F401  (fixtures)
    NONE, GroupConn, group_broker, stable_member,
)

UNSUPPORTED_VERSION = 35
GROUP_ID_NOT_FOUND = 69
UNKNOWN_TOPIC_ID = 100
INVALID_REQUEST = 42

API_OFFSET_COMMIT, API_OFFSET_FETCH, API_FIND_COORDINATOR = 8, 9, 10
API_DESCRIBE_GROUPS, API_LIST_GROUPS, API_DELETE_GROUPS = 15, 16, 42
API_METADATA = 3

TAGS = b"\x00"


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


cstr = w.compact_string


def carr(items, enc):
    if items is None:
        return w.uvarint(0)
    items = list(items)
    return w.uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


def r_cstr(r):
    return r.compact_string()


def r_carr(r, fn):
    return r.compact_array(fn)


def r_cbytes(r):
    n = r.uvarint() - 1
    if n < 0:
        return None
    b = bytes(r.data[r.pos:r.pos + n])
    r.pos += n
    return b


def r_uuid(r):
    b = bytes(r.data[r.pos:r.pos + 16])
    r.pos += 16
    return b


def topic_id(port, topic):
    """The topic's id from Metadata v12 (flexible)."""
    with GroupConn(port) as c:
        body = carr([topic], lambda t: b"\x00" * 16 + cstr(t) + TAGS) + i8(0) + i8(0) + TAGS
        r = c.call(API_METADATA, 12, body, flexible=True)
        r.take(">i")
        r_carr(r, lambda r: (r.take(">i"), r_cstr(r), r.take(">i"), r_cstr(r), r.skip_tags()))
        r_cstr(r)
        r.take(">i")

        def t(r):
            err, name, tid = r.take(">h"), r_cstr(r), r_uuid(r)
            r.take(">b")
            r_carr(r, lambda r: (r.take(">hii"), r.compact_array(lambda r: r.take(">i")),
                                 r.compact_array(lambda r: r.take(">i")),
                                 r.compact_array(lambda r: r.take(">i")), r.skip_tags()))
            r.take(">i")
            r.skip_tags()
            return name, err, tid
        ts = r_carr(r, t)
    [(name, err, tid)] = ts
    assert name == topic and err == NONE, ts
    return tid


def closed_without_answer(port, api, version, body, flexible):
    """Kafka's answer to a version it does not serve: the connection closes."""
    with GroupConn(port, timeout=10) as c:
        c.send(api, version, body, flexible=flexible)
        return w.closed_by_peer(c.sock, timeout=10)


# ---------------------------------------------------------------------------
# FindCoordinator v5, v6
# ---------------------------------------------------------------------------

def find_v(c, version, keys, key_type):
    body = i8(key_type) + carr(keys, cstr) + TAGS
    r = c.call(API_FIND_COORDINATOR, version, body, flexible=True)
    r.take(">i")

    def co(r):
        d = dict(key=r_cstr(r), node_id=r.take(">i"), host=r_cstr(r), port=r.take(">i"),
                 error=r.take(">h"), message=r_cstr(r))
        r.skip_tags()
        return d
    return r_carr(r, co)


@pytest.mark.timeout(120)
def test_find_coordinator_v5_v6(group_broker):
    """v5 answers as v4; v6's key type 2 (a share group's
    "groupId:topicId:partition") while share groups are not enabled (Kafka
    4.4's default): every key INVALID_REQUEST, no node, an empty message -
    and its group keys still work."""
    b = group_broker
    with GroupConn(b.port) as c:
        for v in (5, 6):
            assert find_v(c, v, ["fc-group", "fc-other"], 0) == [
                dict(key=k, node_id=1, host="127.0.0.1", port=b.port, error=NONE, message="")
                for k in ("fc-group", "fc-other")]
        keys = ["fc-share:%s:0" % uuid.uuid4(), "fc-share:%s:3" % uuid.uuid4()]
        assert find_v(c, 6, keys, 2) == [
            dict(key=k, node_id=-1, host="", port=-1, error=INVALID_REQUEST, message="") for k in keys]


# ---------------------------------------------------------------------------
# DescribeGroups v6, ListGroups v5, DeleteGroups v3
# ---------------------------------------------------------------------------

def describe_v6(c, groups):
    body = carr(groups, cstr) + i8(0) + TAGS
    r = c.call(API_DESCRIBE_GROUPS, 6, body, flexible=True)
    r.take(">i")

    def member(r):
        m = dict(member_id=r_cstr(r), instance_id=r_cstr(r), client_id=r_cstr(r), client_host=r_cstr(r),
                 metadata=r_cbytes(r), assignment=r_cbytes(r))
        r.skip_tags()
        return m

    def group(r):
        g = dict(error=r.take(">h"), message=r_cstr(r), group_id=r_cstr(r), state=r_cstr(r),
                 protocol_type=r_cstr(r), protocol=r_cstr(r), members=r_carr(r, member),
                 authorized_operations=r.take(">i"))
        r.skip_tags()
        return g
    return r_carr(r, group)


def list_v5(c, states=(), types=()):
    body = carr(states, cstr) + carr(types, cstr) + TAGS
    r = c.call(API_LIST_GROUPS, 5, body, flexible=True)
    r.take(">i")
    err = r.take(">h")

    def group(r):
        g = (r_cstr(r), r_cstr(r), r_cstr(r), r_cstr(r))
        r.skip_tags()
        return g
    return err, {g[0]: g[1:] for g in r_carr(r, group)}


def delete_v3(c, groups):
    r = c.call(API_DELETE_GROUPS, 3, carr(groups, cstr) + TAGS, flexible=True)
    r.take(">i")

    def res(r):
        d = (r_cstr(r), r.take(">h"), r_cstr(r))
        r.skip_tags()
        return d
    return {g: (e, m) for g, e, m in r_carr(r, res)}


@pytest.mark.timeout(120)
def test_describe_list_delete_newest(group_broker):
    """DescribeGroups v6: an unknown group is GROUP_ID_NOT_FOUND with "Group
    <id> not found." (KIP-1043), a known one as in v5 with a null message.
    ListGroups v5: group_type "classic", types_filter by type name in any
    case, no consumer or share groups. DeleteGroups v3: a null error
    message whatever the error; "" is a group that is not found."""
    b = group_broker
    topic = "gv-dld"
    create_topic(b.bootstrap, topic, 1)
    conn, member, gen = stable_member(b.port, "gv-stable", topic, [0])
    try:
        with GroupConn(b.port) as c:
            got = {g["group_id"]: g for g in describe_v6(c, ["gv-stable", "gv-nobody"])}
            known, unknown = got["gv-stable"], got["gv-nobody"]  # Kafka answers in its own order
            assert known["error"] == NONE and known["message"] is None and known["state"] == "Stable"
            assert known["protocol_type"] == "consumer" and known["protocol"] == "range"
            assert [m["member_id"] for m in known["members"]] == [member]
            assert unknown == dict(error=GROUP_ID_NOT_FOUND, message="Group gv-nobody not found.",
                                   group_id="gv-nobody", state="Dead", protocol_type="", protocol="",
                                   members=[], authorized_operations=-(1 << 31))
            classic = (NONE, {"gv-stable": ("consumer", "Stable", "classic")})
            assert list_v5(c) == classic
            assert list_v5(c, types=["classic"]) == classic
            assert list_v5(c, types=["Classic", "share"]) == classic
            assert list_v5(c, states=["stable"], types=["CLASSIC"]) == classic
            for types in (["consumer"], ["share"], ["nonsense"]):
                assert list_v5(c, types=types) == (NONE, {})
            assert delete_v3(c, ["gv-stable", "gv-nobody", ""]) == {
                "gv-stable": (68, None), "gv-nobody": (GROUP_ID_NOT_FOUND, None), "": (GROUP_ID_NOT_FOUND, None)}
            for v in (0, 1):  # and "" at the older versions too
                assert c.delete_groups([""], version=v) == {"": GROUP_ID_NOT_FOUND}
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# OffsetCommit v9-10, OffsetFetch v9-10
# ---------------------------------------------------------------------------

def commit_flex(c, version, group, generation, member, instance, topics):
    """topics: [(name or 16-byte id, [(partition, offset, metadata)])] -> [(topic, [(p, err)])]"""
    def part(x):
        p, off, meta = x
        return i32(p) + i64(off) + i32(-1) + cstr(meta) + TAGS

    def topic(t):
        name, parts = t
        return (name if version >= 10 else cstr(name)) + carr(parts, part) + TAGS
    body = cstr(group) + i32(generation) + cstr(member) + cstr(instance) + carr(topics, topic) + TAGS
    r = c.call(API_OFFSET_COMMIT, version, body, flexible=True)
    r.take(">i")

    def rtopic(r):
        t = r_uuid(r) if version >= 10 else r_cstr(r)

        def rp(r):
            x = r.take(">ih")
            r.skip_tags()
            return x
        ps = r_carr(r, rp)
        r.skip_tags()
        return t, ps
    out = r_carr(r, rtopic)
    r.skip_tags()
    return out


def fetch_flex(c, version, groups, require_stable=False):
    """groups: [(group, member_id, member_epoch, [(name or id, [p])] or None)]
    -> [(group, error, [(topic, [(p, offset, epoch, metadata, error)])])]"""
    def topic(t):
        name, parts = t
        return (name if version >= 10 else cstr(name)) + carr(parts, i32) + TAGS

    def grp(g):
        gid, member, epoch, topics = g
        return cstr(gid) + cstr(member) + i32(epoch) + carr(topics, topic) + TAGS
    body = carr(groups, grp) + i8(1 if require_stable else 0) + TAGS
    r = c.call(API_OFFSET_FETCH, version, body, flexible=True)
    r.take(">i")

    def rpart(r):
        x = (r.take(">i"), r.take(">q"), r.take(">i"), r_cstr(r), r.take(">h"))
        r.skip_tags()
        return x

    def rtopic(r):
        t = r_uuid(r) if version >= 10 else r_cstr(r)
        ps = r_carr(r, rpart)
        r.skip_tags()
        return t, ps

    def rgroup(r):
        gid = r_cstr(r)
        ts = r_carr(r, rtopic)
        err = r.take(">h")
        r.skip_tags()
        return gid, err, ts
    out = r_carr(r, rgroup)
    r.skip_tags()
    return out


def by_topic(answer):
    """[(topic, [(partition, ...)])] -> {(topic, partition): rest}; Kafka
    answers unknown topic ids first, not in the request's order."""
    out = {}
    for t, parts in answer:
        for x in parts:
            out[(t, x[0])] = x[1:] if len(x) > 2 else x[1]
    return out


@pytest.mark.timeout(120)
def test_offset_commit_fetch_v9_v10(group_broker):
    """OffsetCommit v9 with a classic group's generation (a consumer-protocol
    member epoch would go there; Gregor has classic groups only): as v8,
    ILLEGAL_GENERATION for a wrong one. v10 names topics by id: offsets
    committed and fetched by id, an unknown id UNKNOWN_TOPIC_ID. OffsetFetch
    v9's member id and epoch do not matter to a classic group; v10 answers
    with topic ids, also for "every committed topic"."""
    b = group_broker
    topic = "gv-oc"
    create_topic(b.bootstrap, topic, 2)
    tid = topic_id(b.port, topic)
    nobody = uuid.uuid4().bytes
    conn, member, gen = stable_member(b.port, "gv-oc-g", topic, [0, 1])
    try:
        with GroupConn(b.port) as c:
            assert commit_flex(c, 9, "gv-oc-g", gen, member, None, [(topic, [(0, 11, "m9")])]) == \
                [(topic, [(0, NONE)])]
            assert commit_flex(c, 9, "gv-oc-g", gen + 5, member, None, [(topic, [(0, 12, "x")])]) == \
                [(topic, [(0, 22)])]
            got = commit_flex(c, 10, "gv-oc-g", gen, member, None, [(tid, [(1, 21, "m10")]), (nobody, [(0, 1, "x")])])
            assert by_topic(got) == {(tid, 1): NONE, (nobody, 0): UNKNOWN_TOPIC_ID}
            # the unknown id is refused before the group is looked at
            got = commit_flex(c, 10, "gv-oc-g", gen + 5, member, None, [(tid, [(1, 22, "x")]), (nobody, [(0, 1, "x")])])
            assert by_topic(got) == {(tid, 1): 22, (nobody, 0): UNKNOWN_TOPIC_ID}
            assert commit_flex(c, 10, "gv-oc-simple", -1, "", None, [(tid, [(0, 5, "s")])]) == [(tid, [(0, NONE)])]
            committed = [(topic, [(0, 11, -1, "m9", NONE), (1, 21, -1, "m10", NONE)])]
            for member_id, epoch in ((member, gen), (None, -1), ("nobody", 3)):
                assert fetch_flex(c, 9, [("gv-oc-g", member_id, epoch, [(topic, [0, 1])])]) == \
                    [("gv-oc-g", NONE, committed)]
            assert fetch_flex(c, 9, [("gv-oc-g", None, -1, None)]) == [("gv-oc-g", NONE, committed)]
            got = fetch_flex(c, 10, [("gv-oc-g", None, -1, [(tid, [0, 1]), (nobody, [0])]),
                                     ("gv-oc-simple", None, -1, None), ("gv-oc-g", None, -1, None)])
            assert [(g, e) for g, e, _ in got] == [("gv-oc-g", NONE), ("gv-oc-simple", NONE), ("gv-oc-g", NONE)]
            assert by_topic(got[0][2]) == {(tid, 0): (11, -1, "m9", NONE), (tid, 1): (21, -1, "m10", NONE),
                                           (nobody, 0): (-1, -1, "", UNKNOWN_TOPIC_ID)}
            assert got[1][2] == [(tid, [(0, 5, -1, "s", NONE)])]
            assert by_topic(got[2][2]) == {(tid, 0): (11, -1, "m9", NONE), (tid, 1): (21, -1, "m10", NONE)}
    finally:
        conn.close()


def parse_commit_v0_v1(r):
    return {(t, p): e for t, ps in r.array(lambda r: (r.string(), r.array(lambda r: r.take(">ih"))))
            for p, e in ps}


@pytest.mark.timeout(120)
def test_oldest_versions(group_broker):
    """OffsetCommit v0-1 and OffsetFetch v0. Kafka 4.4 does not serve them:
    it closes the connection. Gregor answers as Kafka 3.9.1 did in KRaft
    mode: v0 commits and fetches UNSUPPORTED_VERSION for every partition
    (3.9 kept v0 offsets in ZooKeeper, which KRaft has not), a v1 commit is
    stored as a v2 one (the commit timestamp the client's) and read back."""
    b = group_broker
    topic = "gv-old"
    create_topic(b.bootstrap, topic, 2)
    s = w.string
    body0 = s("gv-old-g") + i32(1) + s(topic) + i32(2) + i32(0) + i64(3) + s("v0") + i32(1) + i64(4) + s("")
    body1 = (s("gv-old-g") + i32(-1) + s("") + i32(1) + s(topic) + i32(1)
             + i32(0) + i64(4) + i64(1234567) + s("v1"))
    fetch0 = s("gv-old-g") + i32(1) + s(topic) + i32(2) + i32(0) + i32(1)
    if b.kind == "kafka":
        for api, v, body in ((API_OFFSET_COMMIT, 0, body0), (API_OFFSET_COMMIT, 1, body1),
                             (API_OFFSET_FETCH, 0, fetch0)):
            assert closed_without_answer(b.port, api, v, body, False), (api, v)
        return
    with GroupConn(b.port) as c:
        r = c.call(API_OFFSET_COMMIT, 0, body0)
        assert parse_commit_v0_v1(r) == {(topic, 0): UNSUPPORTED_VERSION, (topic, 1): UNSUPPORTED_VERSION}
        r = c.call(API_OFFSET_FETCH, 0, fetch0)
        got = {(t, p): (off, meta, e) for t, ps in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.take(">iq") + (r.string(), r.take(">h")))))) for p, off, meta, e in ps}
        assert got == {(topic, 0): (-1, "", UNSUPPORTED_VERSION), (topic, 1): (-1, "", UNSUPPORTED_VERSION)}
        assert r.remaining() == 0
        r = c.call(API_OFFSET_COMMIT, 1, body1)
        assert parse_commit_v0_v1(r) == {(topic, 0): NONE}
        # v1 fetches (v1 is Kafka 4.4's oldest OffsetFetch too) see it
        assert c.offset_fetch("gv-old-g", {topic: [0, 1]}, version=1) == (
            NONE, {(topic, 0): (4, "v1", NONE), (topic, 1): (-1, "", NONE)})


# ---------------------------------------------------------------------------
# TxnOffsetCommit v3-4: the transaction coordinator's verification
# ---------------------------------------------------------------------------

API_TXN_OFFSET_COMMIT, API_DESCRIBE_TRANSACTIONS = 28, 65
INVALID_PRODUCER_ID_MAPPING, INVALID_TXN_STATE, TRANSACTION_ABORTABLE = 49, 48, 120


def txn_offset_commit(c, version, txn_id, group, pid, epoch, topic, partition, offset):
    part = i32(partition) + i64(offset) + i32(-1) + cstr("") + TAGS
    body = (cstr(txn_id) + cstr(group) + i64(pid) + i16(epoch) + i32(-1) + cstr("") + cstr(None)
            + carr([topic], lambda t: cstr(t) + carr([part], lambda p: p) + TAGS) + TAGS)
    r = c.call(API_TXN_OFFSET_COMMIT, version, body, flexible=True)
    r.take(">i")

    def rt(r):
        name = r_cstr(r)
        ps = r_carr(r, lambda r: (r.take(">ih"), r.skip_tags())[0])
        r.skip_tags()
        return name, ps
    return r_carr(r, rt)


def describe_txn(c, txn_id):
    """-> (error, state, producer_id, producer_epoch)"""
    r = c.call(API_DESCRIBE_TRANSACTIONS, 0, carr([txn_id], cstr) + TAGS, flexible=True)
    r.take(">i")

    def st(r):
        err, tid, state = r.take(">h"), r_cstr(r), r_cstr(r)
        r.take(">iq")
        pid, epoch = r.take(">qh")
        r_carr(r, lambda r: (r_cstr(r), r.compact_array(lambda r: r.take(">i")), r.skip_tags()))
        r.skip_tags()
        return err, state, pid, epoch
    [s] = r_carr(r, st)
    return s


@pytest.mark.timeout(120)
def test_txn_offset_commit_verified(group_broker):
    """Kafka checks with the transaction coordinator that the group's
    __consumer_offsets partition is part of the producer's transaction:
    an unknown transactional id or another producer id is
    INVALID_PRODUCER_ID_MAPPING (no offset committed); an ongoing
    transaction without AddOffsetsToTxn is INVALID_TXN_STATE at v3 and
    TRANSACTION_ABORTABLE at v4 (KIP-890); after send_offsets_to_transaction
    (AddOffsetsToTxn, then TxnOffsetCommit) the commit goes through."""
    from confluent_kafka import Producer, TopicPartition
    b = group_broker
    topic, group, tid = "gv-txn", "gv-txn-g", "gv-txn-id"
    create_topic(b.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"v")
    assert p.flush(30) == 0
    with GroupConn(b.port) as c:
        err, state, pid, epoch = describe_txn(c, tid)
        assert err == NONE and state == "Ongoing", (err, state)
        for v in (3, 4):
            assert txn_offset_commit(c, v, "gv-txn-nobody", group, pid, epoch, topic, 0, 1) == \
                [(topic, [(0, INVALID_PRODUCER_ID_MAPPING)])]
            assert txn_offset_commit(c, v, tid, group, pid + 1, epoch, topic, 0, 1) == \
                [(topic, [(0, INVALID_PRODUCER_ID_MAPPING)])]
        assert txn_offset_commit(c, 3, tid, group, pid, epoch, topic, 0, 1) == [(topic, [(0, INVALID_TXN_STATE)])]
        assert txn_offset_commit(c, 4, tid, group, pid, epoch, topic, 0, 1) == [(topic, [(0, TRANSACTION_ABORTABLE)])]
        top, offs = c.offset_fetch(group, {topic: [0]})
        assert offs == {(topic, 0): (-1, "", NONE)}
    # the client's way: AddOffsetsToTxn first
    from confluent_kafka import Consumer
    cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    try:
        meta = cons.consumer_group_metadata()
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], meta, 30)
        p.commit_transaction(30)
    finally:
        cons.close()
    deadline = time.monotonic() + 15  # the COMMIT marker reaches the group a moment later
    with GroupConn(b.port) as c:
        while True:
            top, offs = c.offset_fetch(group, {topic: [0]})
            if offs[(topic, 0)][0] != -1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert offs == {(topic, 0): (7, "", NONE)}
