"""
Group administration (Kafka semantics), through the client libraries' admin
APIs and raw requests (test_groups_support.GroupConn).

Proves:
- ListGroups/DescribeGroups: confluent-kafka AdminClient.list_groups (the 1.7
  API), kafka-python's admin (2.0 and 3.x, through kafka_python_compat), and raw
  DescribeGroups v1/v4 report every group with its state (Stable, Empty, Dead
  for an unknown group), protocol type and protocol, and members with client
  id, host, subscription and assignment; ListGroups v4's states filter
  selects by state;
- DeleteGroups (kafka-python's admin): an empty group and its
  offsets go away, a group with members is refused with NON_EMPTY_GROUP (68),
  an unknown one gets GROUP_ID_NOT_FOUND (69);
- OffsetDelete removes only the named partitions' offsets, is refused for a
  topic the group's members are subscribed to (GROUP_SUBSCRIBED_TO_TOPIC,
  86), and answers GROUP_ID_NOT_FOUND for an unknown group;
- commits from outside the group (generation -1, no member id; a confluent
  consumer that only assign()s) are stored and read back; commit metadata
  strings round-trip (kafka-python OffsetAndMetadata, raw OffsetFetch);
- OffsetFetch with no partitions listed returns all of a group's offsets,
  and OffsetFetch v8 answers several groups in one request.
"""

import time

import pytest

import kafka_python_compat as kpc
from conftest import create_topic, make_consumer, produce_all
from test_groups_support import (  # noqa: F401  (fixtures)
    GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC, NON_EMPTY_GROUP, NONE,
    GroupConn, group_broker, member_conf, members, parse_consumer_assignment,
    parse_consumer_subscription, stable_member, wait_group_settled,
)


def kp_admin(bootstrap):
    return kpc.admin_client(bootstrap, 30)


def simple_commit(port, group, offsets):
    """A commit from outside any group generation (generation -1, member "")."""
    with GroupConn(port) as c:
        res = c.offset_commit(group, offsets, generation=-1, member_id="", version=2)
    assert res == {tp: NONE for tp in offsets}, res


# ---------------------------------------------------------------------------
# list / describe
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_list_and_describe_groups(group_broker, members):
    b, port = group_broker.bootstrap, group_broker.port
    topic = "adm-list"
    create_topic(b, topic, 3)
    m1 = members("m1", member_conf(b, "real-group", client__id="real-client-1"), [topic])
    m2 = members("m2", member_conf(b, "real-group", client__id="real-client-2"), [topic])
    wait_group_settled([m1, m2], {(topic, p) for p in range(3)}, timeout=60)
    simple_commit(port, "simple-group", {(topic, 0): 5})

    # confluent-kafka 1.7: AdminClient.list_groups (ListGroups + DescribeGroups)
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": b})
    deadline = time.monotonic() + 15
    while True:  # a member may still be syncing right after the callbacks
        groups = {g.id: g for g in a.list_groups(timeout=10)}
        real = groups.get("real-group")
        if real is not None and real.state == "Stable" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "real-group" in groups and "simple-group" in groups, sorted(groups)
    assert real.error is None
    assert real.state == "Stable"
    assert real.protocol_type == "consumer"
    assert real.protocol in ("range", "roundrobin")
    assert sorted(m.client_id for m in real.members) == ["real-client-1", "real-client-2"]
    assigned = set()
    for m in real.members:
        assert m.id and "127.0.0.1" in m.client_host
        assert parse_consumer_subscription(m.metadata) == [topic]
        for t, ps in parse_consumer_assignment(m.assignment).items():
            assigned |= {(t, p) for p in ps}
    assert assigned == {(topic, p) for p in range(3)}
    simple = groups["simple-group"]
    assert simple.state == "Empty" and not simple.members
    only = a.list_groups(group="real-group", timeout=10)
    assert [g.id for g in only] == ["real-group"]

    # kafka-python: ListGroups, DescribeGroups (the newest versions each
    # kafka-python release and the broker share)
    admin = kp_admin(b)
    try:
        listed = kpc.list_groups(admin)
        assert listed.get("real-group") == "consumer", listed
        assert "simple-group" in listed
        desc = kpc.describe_group(admin, "real-group")
        assert desc["error"] is None and desc["group"] == "real-group"
        assert desc["state"] == "Stable" and desc["protocol_type"] == "consumer"
        assert desc["protocol"] == real.protocol
        assert len(desc["members"]) == 2
        assert sorted(m["client_id"] for m in desc["members"]) == ["real-client-1", "real-client-2"]
        kp_assigned = set()
        for m in desc["members"]:
            assert m["member_id"] and "127.0.0.1" in m["client_host"]
            assert m["subscription"] == [topic]
            for t, ps in m["assignment"].items():
                kp_assigned |= {(t, p) for p in ps}
        assert kp_assigned == assigned
    finally:
        admin.close()

    # raw DescribeGroups v1 and v4: several groups, an unknown group is Dead
    with GroupConn(port) as c:
        for v in (1, 4):
            d = {g["group_id"]: g for g in c.describe_groups(
                ["real-group", "simple-group", "no-such-group"], version=v)}
            assert d["real-group"]["error"] == NONE and d["real-group"]["state"] == "Stable"
            assert len(d["real-group"]["members"]) == 2
            if v >= 4:
                assert all(m["instance_id"] is None for m in d["real-group"]["members"])
            assert d["simple-group"]["state"] == "Empty"
            assert d["simple-group"]["members"] == []
            ghost = d["no-such-group"]
            assert ghost["error"] == NONE and ghost["state"] == "Dead" and ghost["members"] == []
    m1.close()
    m2.close()


@pytest.mark.timeout(60)
def test_list_groups_states_filter(group_broker):
    b, port = group_broker.bootstrap, group_broker.port
    topic = "adm-states"
    create_topic(b, topic, 2)
    conn, member, gen = stable_member(port, "g-stable", topic, [0, 1])
    try:
        simple_commit(port, "g-empty", {(topic, 0): 1})
        with GroupConn(port) as c:
            err, every = c.list_groups_v4([])
            assert err == NONE
            assert every["g-stable"] == ("consumer", "Stable")
            assert every["g-empty"] == ("", "Empty")
            err, stable = c.list_groups_v4(["Stable"])
            assert err == NONE and "g-stable" in stable and "g-empty" not in stable
            assert all(st == "Stable" for _pt, st in stable.values())
            err, empty = c.list_groups_v4(["Empty"])
            assert err == NONE and "g-empty" in empty and "g-stable" not in empty
            err, both = c.list_groups_v4(["Empty", "Stable"])
            assert {"g-empty", "g-stable"} <= set(both)
            err, none = c.list_groups_v4(["Dead"])
            assert err == NONE and not ({"g-empty", "g-stable"} & set(none))
            # ListGroups v2 (no states) lists both
            err, v2 = c.list_groups()
            assert err == NONE and v2.get("g-stable") == "consumer" and v2.get("g-empty") == ""
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# delete groups / delete offsets
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_delete_groups(group_broker):
    import kafka.errors as E
    b, port = group_broker.bootstrap, group_broker.port
    topic = "adm-del"
    create_topic(b, topic, 2)
    simple_commit(port, "del-empty", {(topic, 0): 7, (topic, 1): 8})
    conn, member, gen = stable_member(port, "del-busy", topic, [0, 1])
    admin = kp_admin(b)
    try:
        res = kpc.delete_groups(admin, ["del-empty", "del-busy", "del-unknown"])
        assert res["del-empty"] is E.NoError, res
        assert res["del-busy"] is E.NonEmptyGroupError, res          # 68
        assert res["del-unknown"] is E.GroupIdNotFoundError, res     # 69
        assert E.NonEmptyGroupError.errno == NON_EMPTY_GROUP
        assert E.GroupIdNotFoundError.errno == GROUP_ID_NOT_FOUND

        # the deleted group and its offsets are gone
        listed = kpc.list_groups(admin)
        assert "del-empty" not in listed and "del-busy" in listed
        with GroupConn(port) as c:
            top, offs = c.offset_fetch("del-empty", {topic: [0, 1]})
            assert top == NONE
            assert {tp: v[0] for tp, v in offs.items()} == {(topic, 0): -1, (topic, 1): -1}
            # deleting it again: it no longer exists
            assert c.delete_groups(["del-empty"]) == {"del-empty": GROUP_ID_NOT_FOUND}

        # once its member leaves, the busy group is empty and can be deleted
        assert conn.leave_v1("del-busy", member) == NONE
        res = kpc.delete_groups(admin, ["del-busy"])
        assert res == {"del-busy": E.NoError}, res
        assert "del-busy" not in kpc.list_groups(admin)
    finally:
        admin.close()
        conn.close()


@pytest.mark.timeout(60)
def test_offset_delete(group_broker):
    b, port = group_broker.bootstrap, group_broker.port
    topic, other = "adm-odel", "adm-odel-other"
    create_topic(b, topic, 3)
    create_topic(b, other, 1)
    simple_commit(port, "od-group", {(topic, 0): 10, (topic, 1): 11, (topic, 2): 12,
                                     (other, 0): 13})
    with GroupConn(port) as c:
        err, parts = c.offset_delete("od-group", {topic: [0, 2]})
        assert err == NONE and parts == {(topic, 0): NONE, (topic, 2): NONE}
        top, offs = c.offset_fetch("od-group", None)
        assert top == NONE
        assert {tp: v[0] for tp, v in offs.items()} == {(topic, 1): 11, (other, 0): 13}

        err, parts = c.offset_delete("od-unknown", {topic: [0]})
        assert err == GROUP_ID_NOT_FOUND and parts == {}  # a group error lists no topics

    # a group whose (consumer protocol) members subscribe to the topic
    conn, member, gen = stable_member(port, "od-busy", topic, [0, 1, 2])
    try:
        res = conn.offset_commit("od-busy", {(topic, 0): 3, (other, 0): 4}, generation=gen,
                                 member_id=member)
        assert set(res.values()) == {NONE}, res
        with GroupConn(port) as c:
            err, parts = c.offset_delete("od-busy", {topic: [0], other: [0]})
            assert err == NONE
            assert parts[(topic, 0)] == GROUP_SUBSCRIBED_TO_TOPIC, parts
            assert parts[(other, 0)] == NONE, parts  # not subscribed to it
            top, offs = c.offset_fetch("od-busy", {topic: [0], other: [0]})
            assert offs[(topic, 0)][0] == 3 and offs[(other, 0)][0] == -1
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# commits from outside the group, metadata
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_simple_consumer_commit_confluent(group_broker):
    """A consumer that assign()s and never subscribes commits with generation
    -1 and an empty member id; the offsets are stored."""
    from confluent_kafka import TopicPartition
    b, port = group_broker.bootstrap, group_broker.port
    topic = "adm-simple"
    create_topic(b, topic, 2)
    produce_all(b, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(20)])
    c = make_consumer(b, **{"group.id": "simple-c"})
    try:
        c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
        got = 0
        deadline = time.monotonic() + 20
        while got < 20 and time.monotonic() < deadline:
            got += len([m for m in c.consume(20, 0.5) if m.error() is None])
        assert got == 20
        res = c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 9)],
                       asynchronous=False)
        assert all(tp.error is None for tp in res), res
        back = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)
        assert {tp.partition: tp.offset for tp in back} == {0: 4, 1: 9}
    finally:
        c.close()
    with GroupConn(port) as g:
        top, offs = g.offset_fetch("simple-c", {topic: [0, 1]})
        assert top == NONE and {tp: v[0] for tp, v in offs.items()} == {(topic, 0): 4, (topic, 1): 9}
        (d,) = g.describe_groups(["simple-c"])
        assert d["state"] == "Empty" and d["members"] == []
        # a fresh consumer in that group starts at the committed offsets
    c = make_consumer(b, **{"group.id": "simple-c"})
    try:
        c.subscribe([topic])
        firsts = {}
        deadline = time.monotonic() + 30
        while len(firsts) < 2 and time.monotonic() < deadline:
            for m in c.consume(20, 0.5):
                if m.error() is None:
                    firsts.setdefault(m.partition(), m.offset())
        assert firsts == {0: 4, 1: 9}
    finally:
        c.close()


@pytest.mark.timeout(60)
def test_commit_metadata_roundtrip_kafka_python(group_broker):
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    b, port = group_broker.bootstrap, group_broker.port
    topic = "adm-meta"
    create_topic(b, topic, 2)
    kc = KafkaConsumer(bootstrap_servers=b, group_id="meta-group", enable_auto_commit=False,
                       request_timeout_ms=30000)
    try:
        tp0, tp1 = KTP(topic, 0), KTP(topic, 1)
        kc.assign([tp0, tp1])
        kc.commit({tp0: OffsetAndMetadata(42, "meta-42"),
                   tp1: OffsetAndMetadata(7, "k\u00e4se \u2603 {json: 1}")})
        assert kc.committed(tp0) == 42 and kc.committed(tp1) == 7
    finally:
        kc.close()
    admin = kp_admin(b)
    try:
        offs = kpc.group_offsets(admin, "meta-group")
    finally:
        admin.close()
    # committed without a leader epoch: kafka-python 3.x reads back -1
    # (2.0 does not report it: None)
    epoch = -1 if kpc.KP3 else None
    assert offs == {KTP(topic, 0): (42, "meta-42", epoch),
                    KTP(topic, 1): (7, "k\u00e4se \u2603 {json: 1}", epoch)}
    with GroupConn(port) as c:
        # raw: empty metadata stays empty, a long one survives, a new commit replaces
        assert c.offset_commit("meta-group", {(topic, 0): (43, ""), (topic, 1): (8, "x" * 1000)},
                               version=7) == {(topic, 0): NONE, (topic, 1): NONE}
        top, offs = c.offset_fetch("meta-group", {topic: [0, 1]})
        assert offs[(topic, 0)] == (43, "", NONE)
        assert offs[(topic, 1)] == (8, "x" * 1000, NONE)


# ---------------------------------------------------------------------------
# OffsetFetch: all partitions, several groups
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_offset_fetch_all_partitions_and_multi_group_v8(group_broker):
    b, port = group_broker.bootstrap, group_broker.port
    ta, tb = "adm-of-a", "adm-of-b"
    create_topic(b, ta, 3)
    create_topic(b, tb, 1)
    with GroupConn(port) as c:
        assert set(c.offset_commit("of-1", {(ta, 0): (3, "a0"), (ta, 1): (4, "a1"),
                                            (tb, 0): (5, "b0")}).values()) == {NONE}
        assert set(c.offset_commit("of-2", {(ta, 2): (9, "two")}).values()) == {NONE}

        # v5 with topics = null: everything the group has
        top, offs = c.offset_fetch("of-1", None)
        assert top == NONE
        assert offs == {(ta, 0): (3, "a0", NONE), (ta, 1): (4, "a1", NONE),
                        (tb, 0): (5, "b0", NONE)}
        top, offs = c.offset_fetch("of-none", None)
        assert top == NONE and offs == {}
        # a partition without an offset: -1, no error
        top, offs = c.offset_fetch("of-1", {ta: [2]})
        assert offs == {(ta, 2): (-1, "", NONE)} or offs == {(ta, 2): (-1, None, NONE)}

        # v8: several groups in one request
        res = c.offset_fetch_v8([("of-1", None), ("of-2", {ta: [2, 0]}), ("of-none", None)])
        assert set(res) == {"of-1", "of-2", "of-none"}
        err, offs = res["of-1"]
        assert err == NONE
        assert offs == {(ta, 0): (3, "a0", NONE), (ta, 1): (4, "a1", NONE),
                        (tb, 0): (5, "b0", NONE)}
        err, offs = res["of-2"]
        assert err == NONE
        assert offs[(ta, 2)] == (9, "two", NONE)
        assert offs[(ta, 0)][0] == -1 and offs[(ta, 0)][2] == NONE
        err, offs = res["of-none"]
        assert err == NONE and offs == {}
