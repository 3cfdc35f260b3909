"""
The group APIs at the flexible versions that current Java clients send
(JoinGroup v9, SyncGroup v5, Heartbeat v4, LeaveGroup v5, OffsetCommit v8,
OffsetFetch v8, DescribeGroups v5, DeleteGroups v2). librdkafka 2.0 and
kafka-python 2.0 stop below these versions, so only raw requests reach them.

Proves:
- a full member life cycle at these versions: MEMBER_ID_REQUIRED round trip,
  JoinGroup v7+ protocol type/name in the response, SyncGroup v5 echoing them,
  heartbeat, commit and fetch, describe, leave with a reason, delete;
- SyncGroup v5 with a protocol name or type other than the group's gets
  INCONSISTENT_GROUP_PROTOCOL (23);
- KIP-814: a static leader that rejoins a Stable group under a new member id
  is told skip_assignment=true (with the member list) and keeps its
  assignment; the old member id is fenced (FENCED_INSTANCE_ID, 82).
"""

import struct

import pytest

from conftest import create_topic
from test_groups_support import (  # noqa: F401  (fixture)
    FENCED_INSTANCE_ID, GROUP_ID_NOT_FOUND, INCONSISTENT_GROUP_PROTOCOL, MEMBER_ID_REQUIRED,
    NONE, API_DELETE_GROUPS, API_DESCRIBE_GROUPS, API_HEARTBEAT, API_JOIN_GROUP,
    API_LEAVE_GROUP, API_OFFSET_COMMIT, API_SYNC_GROUP, NO_TAGS, GroupConn, compact_array,
    compact_string, consumer_assignment, consumer_subscription, group_broker, i8, i32, i64,
    parse_consumer_assignment, w,
)

TOPIC = "flex-topic"

pytestmark = pytest.mark.timeout(60)


def compact_bytes(b):
    return w.uvarint(0) if b is None else w.uvarint(len(b) + 1) + b


def r_compact_bytes(r):
    n = r.uvarint() - 1
    if n < 0:
        return None
    b = bytes(r.data[r.pos:r.pos + n])
    r.pos += n
    return b


class FlexConn(GroupConn):
    """GroupConn plus the flexible versions of the group APIs."""

    def join_v9(self, group, member_id="", instance_id=None, session_timeout_ms=10000,
                rebalance_timeout_ms=10000, protocol_type="consumer", protocols=None,
                reason=None, timeout=None):
        if protocols is None:
            protocols = [("range", consumer_subscription([TOPIC]))]
        body = (compact_string(group) + i32(session_timeout_ms) + i32(rebalance_timeout_ms)
                + compact_string(member_id) + compact_string(instance_id)
                + compact_string(protocol_type)
                + compact_array(protocols, lambda p: compact_string(p[0]) + compact_bytes(p[1])
                                + NO_TAGS)
                + compact_string(reason) + NO_TAGS)
        r = self.call(API_JOIN_GROUP, 9, body, flexible=True, timeout=timeout)
        d = dict(throttle=r.take(">i"), error=r.take(">h"), generation=r.take(">i"),
                 protocol_type=r.compact_string(), protocol_name=r.compact_string(),
                 leader=r.compact_string(), skip_assignment=bool(r.take(">b")),
                 member_id=r.compact_string())

        def member(r):
            m = dict(member_id=r.compact_string(), instance_id=r.compact_string(),
                     metadata=r_compact_bytes(r))
            r.skip_tags()
            return m
        d["members"] = r.compact_array(member)
        r.skip_tags()
        return d

    def sync_v5(self, group, generation, member_id, assignments=(), instance_id=None,
                protocol_type="consumer", protocol_name="range"):
        body = (compact_string(group) + i32(generation) + compact_string(member_id)
                + compact_string(instance_id) + compact_string(protocol_type)
                + compact_string(protocol_name)
                + compact_array(assignments, lambda a: compact_string(a[0]) + compact_bytes(a[1])
                                + NO_TAGS)
                + NO_TAGS)
        r = self.call(API_SYNC_GROUP, 5, body, flexible=True)
        d = dict(throttle=r.take(">i"), error=r.take(">h"), protocol_type=r.compact_string(),
                 protocol_name=r.compact_string(), assignment=r_compact_bytes(r))
        r.skip_tags()
        return d

    def heartbeat_v4(self, group, generation, member_id, instance_id=None):
        body = (compact_string(group) + i32(generation) + compact_string(member_id)
                + compact_string(instance_id) + NO_TAGS)
        r = self.call(API_HEARTBEAT, 4, body, flexible=True)
        r.take(">i")
        err = r.take(">h")
        r.skip_tags()
        return err

    def leave_v5(self, group, members):
        """members: [(member_id, instance_id, reason)]"""
        body = (compact_string(group)
                + compact_array(members, lambda m: compact_string(m[0]) + compact_string(m[1])
                                + compact_string(m[2]) + NO_TAGS)
                + NO_TAGS)
        r = self.call(API_LEAVE_GROUP, 5, body, flexible=True)
        r.take(">i")
        err = r.take(">h")

        def member(r):
            m = (r.compact_string(), r.compact_string(), r.take(">h"))
            r.skip_tags()
            return m
        res = r.compact_array(member)
        r.skip_tags()
        return err, res

    def offset_commit_v8(self, group, offsets, generation=-1, member_id="", instance_id=None):
        """offsets: {(topic, partition): (offset, metadata)} -> {(topic, partition): error}"""
        by_topic = {}
        for (t, p), (off, meta) in sorted(offsets.items()):
            by_topic.setdefault(t, []).append((p, off, meta))
        body = (compact_string(group) + i32(generation) + compact_string(member_id)
                + compact_string(instance_id)
                + compact_array(sorted(by_topic.items()), lambda tp: compact_string(tp[0])
                                + compact_array(tp[1], lambda x: i32(x[0]) + i64(x[1]) + i32(-1)
                                                + compact_string(x[2]) + NO_TAGS)
                                + NO_TAGS)
                + NO_TAGS)
        r = self.call(API_OFFSET_COMMIT, 8, body, flexible=True)
        r.take(">i")
        out = {}
        for _ in range(r.uvarint() - 1):
            t = r.compact_string()
            for _ in range(r.uvarint() - 1):
                p, e = r.take(">ih")
                r.skip_tags()
                out[(t, p)] = e
            r.skip_tags()
        r.skip_tags()
        return out

    def describe_v5(self, groups):
        body = compact_array(groups, compact_string) + i8(0) + NO_TAGS
        r = self.call(API_DESCRIBE_GROUPS, 5, body, flexible=True)
        r.take(">i")

        def member(r):
            m = dict(member_id=r.compact_string(), instance_id=r.compact_string(),
                     client_id=r.compact_string(), client_host=r.compact_string(),
                     metadata=r_compact_bytes(r), assignment=r_compact_bytes(r))
            r.skip_tags()
            return m

        def group(r):
            g = dict(error=r.take(">h"), group_id=r.compact_string(), state=r.compact_string(),
                     protocol_type=r.compact_string(), protocol=r.compact_string(),
                     members=r.compact_array(member), authorized_operations=r.take(">i"))
            r.skip_tags()
            return g
        out = r.compact_array(group)
        r.skip_tags()
        return out

    def delete_groups_v2(self, groups):
        body = compact_array(groups, compact_string) + NO_TAGS
        r = self.call(API_DELETE_GROUPS, 2, body, flexible=True)
        r.take(">i")

        def result(r):
            x = (r.compact_string(), r.take(">h"))
            r.skip_tags()
            return x
        out = dict(r.compact_array(result))
        r.skip_tags()
        return out


@pytest.fixture
def gb(group_broker):
    create_topic(group_broker.bootstrap, TOPIC, 2)
    return group_broker


def test_member_life_cycle_at_flexible_versions(gb):
    group = "flex-group"
    with FlexConn(gb.port, client_id="java-like-client") as c:
        first = c.join_v9(group, reason="starting")
        assert first["error"] == MEMBER_ID_REQUIRED and first["member_id"], first
        j = c.join_v9(group, member_id=first["member_id"])
        m = j["member_id"]
        assert j["error"] == NONE and m == first["member_id"], j
        assert j["generation"] == 1 and j["leader"] == m and not j["skip_assignment"]
        assert (j["protocol_type"], j["protocol_name"]) == ("consumer", "range")
        assert [x["member_id"] for x in j["members"]] == [m]
        assert j["members"][0]["instance_id"] is None

        # SyncGroup v5 must name the group's protocol type and name
        bad = c.sync_v5(group, 1, m, [(m, consumer_assignment({TOPIC: [0, 1]}))],
                        protocol_name="roundrobin")
        assert bad["error"] == INCONSISTENT_GROUP_PROTOCOL, bad
        bad = c.sync_v5(group, 1, m, [(m, consumer_assignment({TOPIC: [0, 1]}))],
                        protocol_type="connect")
        assert bad["error"] == INCONSISTENT_GROUP_PROTOCOL, bad
        s = c.sync_v5(group, 1, m, [(m, consumer_assignment({TOPIC: [0, 1]}))])
        assert s["error"] == NONE, s
        assert (s["protocol_type"], s["protocol_name"]) == ("consumer", "range")
        assert parse_consumer_assignment(s["assignment"]) == {TOPIC: [0, 1]}

        assert c.heartbeat_v4(group, 1, m) == NONE
        assert c.offset_commit_v8(group, {(TOPIC, 0): (17, "v8"), (TOPIC, 1): (18, None)},
                                  generation=1, member_id=m) == {(TOPIC, 0): NONE, (TOPIC, 1): NONE}
        res = c.offset_fetch_v8([(group, {TOPIC: [0, 1]})])
        err, offs = res[group]
        assert err == NONE
        assert offs[(TOPIC, 0)][:2] == (17, "v8") and offs[(TOPIC, 1)][0] == 18

        (d,) = c.describe_v5([group])
        assert d["error"] == NONE and d["state"] == "Stable" and d["protocol"] == "range"
        assert [(x["member_id"], x["client_id"]) for x in d["members"]] == [(m, "java-like-client")]
        assert parse_consumer_assignment(d["members"][0]["assignment"]) == {TOPIC: [0, 1]}

        err, res = c.leave_v5(group, [(m, None, "shutting down")])
        assert err == NONE and res == [(m, None, NONE)], res
        (d,) = c.describe_v5([group])
        assert d["state"] == "Empty" and d["members"] == []
        assert c.delete_groups_v2([group]) == {group: NONE}
        assert c.delete_groups_v2([group]) == {group: GROUP_ID_NOT_FOUND}


def test_static_leader_rejoin_skips_assignment_v9(gb):
    group = "flex-static"
    with FlexConn(gb.port) as a, FlexConn(gb.port) as b:
        j = a.join_v9(group, instance_id="s1")   # static members get no MEMBER_ID_REQUIRED
        assert j["error"] == NONE and j["leader"] == j["member_id"], j
        old, gen = j["member_id"], j["generation"]
        s = a.sync_v5(group, gen, old, [(old, consumer_assignment({TOPIC: [0, 1]}))],
                      instance_id="s1")
        assert s["error"] == NONE

        # the same instance comes back (a restarted process) with no member id
        j2 = b.join_v9(group, instance_id="s1")
        assert j2["error"] == NONE, j2
        new = j2["member_id"]
        assert new and new != old
        assert j2["generation"] == gen, "a Stable group must not rebalance for a static rejoin"
        assert j2["skip_assignment"] is True, j2
        assert [x["instance_id"] for x in j2["members"]] == ["s1"]

        s2 = b.sync_v5(group, gen, new, [], instance_id="s1")
        assert s2["error"] == NONE
        assert parse_consumer_assignment(s2["assignment"]) == {TOPIC: [0, 1]}
        assert b.heartbeat_v4(group, gen, new, instance_id="s1") == NONE
        assert a.heartbeat_v4(group, gen, old, instance_id="s1") == FENCED_INSTANCE_ID
