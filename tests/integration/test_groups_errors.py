"""
Group-coordinator error codes, provoked with raw requests (Kafka semantics).

Mostly non-flexible versions (JoinGroup v1/v5, SyncGroup v3, Heartbeat v3,
LeaveGroup v1/v3, OffsetCommit v2/v7, OffsetFetch v5, FindCoordinator v2,
DeleteGroups v1), encoded by test_groups_support.GroupConn.

Proves, each with at least one request that provokes it:
  ILLEGAL_GENERATION (22), UNKNOWN_MEMBER_ID (25), REBALANCE_IN_PROGRESS (27),
  INCONSISTENT_GROUP_PROTOCOL (23), INVALID_SESSION_TIMEOUT (26),
  MEMBER_ID_REQUIRED (79), GROUP_MAX_SIZE_REACHED (81), FENCED_INSTANCE_ID (82),
  GROUP_ID_NOT_FOUND (69), NON_EMPTY_GROUP (68), INVALID_GROUP_ID (24),
  OFFSET_METADATA_TOO_LARGE (12), UNKNOWN_TOPIC_OR_PARTITION (3).
FindCoordinator for a transactional id (key_type=1) names this broker, after
COORDINATOR_NOT_AVAILABLE (15) while the transaction log is created.
NOT_COORDINATOR (16) cannot be provoked on one node once the coordinator is
ready (every group maps to the only broker; the test asserts that
FindCoordinator says so).
COORDINATOR_LOAD_IN_PROGRESS (14) is only possible while offsets are loaded at
startup, which is not deterministic; the test asserts that right after a
restart OffsetFetch answers either "not ready yet" (14, or on Kafka also 16
before the broker leads the offsets partitions again) or the right offsets,
never wrong ones.
"""

import socket
import time

import pytest

from conftest import create_topic
from test_groups_support import (  # noqa: F401  (fixture)
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, FENCED_INSTANCE_ID,
    GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL,
    INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, MEMBER_ID_REQUIRED, NON_EMPTY_GROUP, NONE,
    NOT_COORDINATOR, OFFSET_METADATA_TOO_LARGE, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
    UNKNOWN_TOPIC_OR_PARTITION, GroupConn, consumer_assignment, group_broker,
    parse_consumer_assignment, range_protocols, stable_member, wait_for_error,
)

TOPIC = "err-topic"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gb(group_broker):
    """The group broker with a 2-partition topic TOPIC."""
    create_topic(group_broker.bootstrap, TOPIC, 2)
    return group_broker


# ---------------------------------------------------------------------------
# generation and membership
# ---------------------------------------------------------------------------

def test_illegal_generation(gb):
    conn, member, gen = stable_member(gb.port, "g-gen", TOPIC, [0, 1])
    with conn:
        bad = gen + 7
        assert conn.heartbeat("g-gen", bad, member) == ILLEGAL_GENERATION
        assert conn.offset_commit("g-gen", {(TOPIC, 0): 1}, generation=bad, member_id=member) \
            == {(TOPIC, 0): ILLEGAL_GENERATION}
        assert conn.offset_commit("g-gen", {(TOPIC, 0): 1}, generation=bad, member_id=member,
                                  version=2) == {(TOPIC, 0): ILLEGAL_GENERATION}
        assert conn.sync("g-gen", bad, member)["error"] == ILLEGAL_GENERATION
        # the right generation still works
        assert conn.heartbeat("g-gen", gen, member) == NONE
        assert conn.offset_commit("g-gen", {(TOPIC, 0): 1}, generation=gen, member_id=member) \
            == {(TOPIC, 0): NONE}
    # a group-managed commit (generation >= 0) to a group that does not exist
    with GroupConn(gb.port) as c:
        assert c.offset_commit("g-gen-none", {(TOPIC, 0): 1}, generation=3, member_id="m",
                               version=7) == {(TOPIC, 0): ILLEGAL_GENERATION}


def test_unknown_member_id(gb):
    conn, member, gen = stable_member(gb.port, "g-unk", TOPIC, [0, 1])
    with conn, GroupConn(gb.port) as c:
        assert c.heartbeat("g-unk", gen, "no-such-member") == UNKNOWN_MEMBER_ID
        assert c.offset_commit("g-unk", {(TOPIC, 0): 1}, generation=gen,
                               member_id="no-such-member") == {(TOPIC, 0): UNKNOWN_MEMBER_ID}
        assert c.sync("g-unk", gen, "no-such-member")["error"] == UNKNOWN_MEMBER_ID
        assert c.join("g-unk", member_id="no-such-member", topics=[TOPIC])["error"] \
            == UNKNOWN_MEMBER_ID
        assert c.leave_v1("g-unk", "no-such-member") == UNKNOWN_MEMBER_ID
        err, res = c.leave_v3("g-unk", [("no-such-member", None)])
        assert err == NONE and res == [("no-such-member", None, UNKNOWN_MEMBER_ID)]
        # a commit from outside the group (generation -1) while it has members
        assert c.offset_commit("g-unk", {(TOPIC, 0): 1}, generation=-1, member_id="") \
            == {(TOPIC, 0): UNKNOWN_MEMBER_ID}
        # after leaving, the member is unknown
        assert conn.leave_v1("g-unk", member) == NONE
        assert conn.heartbeat("g-unk", gen, member) == UNKNOWN_MEMBER_ID
        assert c.offset_commit("g-unk", {(TOPIC, 0): 1}, generation=gen, member_id=member) \
            == {(TOPIC, 0): UNKNOWN_MEMBER_ID}
        # and the now empty group takes simple commits again
        assert c.offset_commit("g-unk", {(TOPIC, 0): 1}, generation=-1, member_id="") \
            == {(TOPIC, 0): NONE}


def test_rebalance_in_progress(gb):
    group = "g-reb"
    a, member_a, gen = stable_member(gb.port, group, TOPIC, [0, 1], rebalance_timeout_ms=15000)
    bconn = GroupConn(gb.port)
    try:
        # B joins (v1: no member-id round trip); its JoinGroup parks until A rejoins
        bconn.send_join(group, member_id="", version=1, topics=[TOPIC])
        assert wait_for_error(lambda: a.heartbeat(group, gen, member_a), REBALANCE_IN_PROGRESS) \
            == REBALANCE_IN_PROGRESS
        # PreparingRebalance: the current generation may still commit (what
        # consumers do in their revocation callback)
        assert a.offset_commit(group, {(TOPIC, 0): 5}, generation=gen, member_id=member_a) \
            == {(TOPIC, 0): NONE}

        # A rejoins; both JoinGroups complete with the next generation
        ja = a.join(group, member_id=member_a, version=5, topics=[TOPIC])
        jb = bconn.recv_join()
        assert ja["error"] == NONE and jb["error"] == NONE, (ja, jb)
        assert ja["generation"] == jb["generation"] > gen
        gen2 = ja["generation"]
        leader_conn, leader, follower_conn, follower = (
            (a, member_a, bconn, jb["member_id"]) if ja["leader"] == member_a
            else (bconn, jb["member_id"], a, member_a))
        assert {ja["leader"], jb["leader"]} == {leader}
        assert len((ja if leader == member_a else jb)["members"]) == 2

        # CompletingRebalance (joined, not yet synced): commits are refused
        assert follower_conn.offset_commit(group, {(TOPIC, 0): 6}, generation=gen2,
                                           member_id=follower) == {(TOPIC, 0): REBALANCE_IN_PROGRESS}
        # ... while heartbeats are fine
        assert follower_conn.heartbeat(group, gen2, follower) == NONE

        # the follower's SyncGroup waits for the leader's
        follower_conn.send_sync(group, gen2, follower)
        time.sleep(0.2)
        ls = leader_conn.sync(group, gen2, leader,
                              [(leader, consumer_assignment({TOPIC: [0]})),
                               (follower, consumer_assignment({TOPIC: [1]}))])
        fs = follower_conn.recv_sync()
        assert ls["error"] == NONE and fs["error"] == NONE
        assert parse_consumer_assignment(ls["assignment"]) == {TOPIC: [0]}
        assert parse_consumer_assignment(fs["assignment"]) == {TOPIC: [1]}
        assert follower_conn.offset_commit(group, {(TOPIC, 0): 6}, generation=gen2,
                                           member_id=follower) == {(TOPIC, 0): NONE}
    finally:
        a.close()
        bconn.close()


def test_fenced_instance_id(gb):
    group = "g-static"
    a, m1, gen = stable_member(gb.port, group, TOPIC, [0, 1], instance_id="inst-1")
    with a, GroupConn(gb.port) as c:
        # a second member with the same group.instance.id replaces the first
        j = c.join(group, member_id="", instance_id="inst-1", version=5, topics=[TOPIC])
        assert j["error"] == NONE, j
        m2 = j["member_id"]
        assert m2 and m2 != m1
        assert j["generation"] == gen  # a Stable group: no rebalance for the replacement
        assert c.heartbeat(group, gen, m2, instance_id="inst-1") == NONE

        # the old member id is fenced everywhere
        assert a.heartbeat(group, gen, m1, instance_id="inst-1") == FENCED_INSTANCE_ID
        assert a.offset_commit(group, {(TOPIC, 0): 1}, generation=gen, member_id=m1,
                               instance_id="inst-1", version=7) == {(TOPIC, 0): FENCED_INSTANCE_ID}
        assert a.sync(group, gen, m1, instance_id="inst-1")["error"] == FENCED_INSTANCE_ID
        assert a.join(group, member_id=m1, instance_id="inst-1", version=5,
                      topics=[TOPIC])["error"] == FENCED_INSTANCE_ID
        err, res = a.leave_v3(group, [(m1, "inst-1")])
        assert err == NONE and res == [(m1, "inst-1", FENCED_INSTANCE_ID)]
        # the replacement gets the partitions without a new generation
        s = c.sync(group, gen, m2, instance_id="inst-1")
        assert s["error"] == NONE
        assert parse_consumer_assignment(s["assignment"]) == {TOPIC: [0, 1]}
        assert c.heartbeat(group, gen, m2, instance_id="inst-1") == NONE


# ---------------------------------------------------------------------------
# JoinGroup validation
# ---------------------------------------------------------------------------

def test_member_id_required(gb):
    with GroupConn(gb.port) as c:
        first = c.join("g-mid", member_id="", version=5, topics=[TOPIC])
        assert first["error"] == MEMBER_ID_REQUIRED
        assert first["member_id"], "MEMBER_ID_REQUIRED must carry the assigned member id"
        assert first["generation"] == -1
        second = c.join("g-mid", member_id=first["member_id"], version=5, topics=[TOPIC])
        assert second["error"] == NONE
        assert second["member_id"] == first["member_id"]
        assert second["leader"] == first["member_id"] and second["generation"] >= 1
        # before v4 there is no such round trip
        v1 = c.join("g-mid-v1", member_id="", version=1, topics=[TOPIC])
        assert v1["error"] == NONE and v1["member_id"]
        # a static member (instance id) is not asked either
        st = c.join("g-mid-static", member_id="", instance_id="i", version=5, topics=[TOPIC])
        assert st["error"] == NONE and st["member_id"]


def test_invalid_session_timeout(gb):
    # broker defaults: group.min.session.timeout.ms=6000, max=1800000
    with GroupConn(gb.port) as c:
        for v in (1, 5):
            lo = c.join_new("g-sess", version=v, session_timeout_ms=5999, topics=[TOPIC])
            assert lo["error"] == INVALID_SESSION_TIMEOUT, (v, lo)
            hi = c.join_new("g-sess", version=v, session_timeout_ms=1800001, topics=[TOPIC])
            assert hi["error"] == INVALID_SESSION_TIMEOUT, (v, hi)
        ok = c.join_new("g-sess", version=5, session_timeout_ms=6000, topics=[TOPIC])
        assert ok["error"] == NONE


@pytest.mark.broker_overrides(group__min__session__timeout__ms=10000)
def test_invalid_session_timeout_configured_minimum(gb):
    with GroupConn(gb.port) as c:
        assert c.join_new("g-sess2", version=5, session_timeout_ms=9999,
                          topics=[TOPIC])["error"] == INVALID_SESSION_TIMEOUT
        assert c.join_new("g-sess2", version=5, session_timeout_ms=10000,
                          topics=[TOPIC])["error"] == NONE


def test_inconsistent_group_protocol(gb):
    with GroupConn(gb.port) as c:
        # no protocols at all, or an empty protocol type
        assert c.join_new("g-proto-0", protocols=[], topics=[TOPIC])["error"] \
            == INCONSISTENT_GROUP_PROTOCOL
        assert c.join_new("g-proto-0", protocol_type="", topics=[TOPIC])["error"] \
            == INCONSISTENT_GROUP_PROTOCOL
    conn, member, gen = stable_member(gb.port, "g-proto", TOPIC, [0, 1])
    with conn, GroupConn(gb.port) as c:
        # another protocol type than the group's
        for v in (1, 5):
            r = c.join_new("g-proto", version=v, protocol_type="connect",
                           protocols=range_protocols([TOPIC]))
            assert r["error"] == INCONSISTENT_GROUP_PROTOCOL, (v, r)
        # no protocol in common with the members
        r = c.join_new("g-proto", version=5, protocols=[("my-assignor", b"\x00\x00")])
        assert r["error"] == INCONSISTENT_GROUP_PROTOCOL, r
        # the group is untouched
        assert conn.heartbeat("g-proto", gen, member) == NONE


@pytest.mark.broker_overrides(group__max__size=1)
def test_group_max_size_reached(gb):
    conn, member, gen = stable_member(gb.port, "g-max", TOPIC, [0, 1])
    with conn, GroupConn(gb.port) as c:
        for v in (1, 5):
            r = c.join_new("g-max", version=v, topics=[TOPIC])
            assert r["error"] == GROUP_MAX_SIZE_REACHED, (v, r)
        # the existing member is not disturbed, and may rejoin
        assert conn.heartbeat("g-max", gen, member) == NONE
        again = conn.join("g-max", member_id=member, version=5, topics=[TOPIC])
        assert again["error"] == NONE
    # another group is not affected by this group's size
    c2, m2, _ = stable_member(gb.port, "g-max-other", TOPIC, [0, 1])
    c2.close()


def test_invalid_group_id(gb):
    with GroupConn(gb.port) as c:
        assert c.join_new("", topics=[TOPIC])["error"] == INVALID_GROUP_ID
        assert c.heartbeat("", 1, "m") == INVALID_GROUP_ID
        assert c.sync("", 1, "m")["error"] == INVALID_GROUP_ID


# ---------------------------------------------------------------------------
# DeleteGroups
# ---------------------------------------------------------------------------

def test_delete_groups_errors(gb):
    conn, member, gen = stable_member(gb.port, "g-busy", TOPIC, [0, 1])
    with conn, GroupConn(gb.port) as c:
        assert c.delete_groups(["g-never-existed"]) == {"g-never-existed": GROUP_ID_NOT_FOUND}
        assert c.delete_groups(["g-busy"]) == {"g-busy": NON_EMPTY_GROUP}
        assert c.delete_groups(["g-busy"], version=0) == {"g-busy": NON_EMPTY_GROUP}
        assert conn.heartbeat("g-busy", gen, member) == NONE  # untouched
        assert conn.leave_v1("g-busy", member) == NONE
        assert c.delete_groups(["g-busy", "g-never-existed"]) == {
            "g-busy": NONE, "g-never-existed": GROUP_ID_NOT_FOUND}
        assert c.delete_groups(["g-busy"]) == {"g-busy": GROUP_ID_NOT_FOUND}


# ---------------------------------------------------------------------------
# OffsetCommit validation
# ---------------------------------------------------------------------------

def test_offset_commit_validation(gb):
    with GroupConn(gb.port) as c:
        # offset.metadata.max.bytes defaults to 4096
        res = c.offset_commit("g-oc", {(TOPIC, 0): (1, "m" * 4097), (TOPIC, 1): (2, "m" * 4096)})
        assert res == {(TOPIC, 0): OFFSET_METADATA_TOO_LARGE, (TOPIC, 1): NONE}
        res = c.offset_commit("g-oc", {("no-such-topic", 0): 1, (TOPIC, 5): 1, (TOPIC, 0): 3})
        assert res == {("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION,
                       (TOPIC, 5): UNKNOWN_TOPIC_OR_PARTITION, (TOPIC, 0): NONE}
        top, offs = c.offset_fetch("g-oc", {TOPIC: [0, 1]})
        assert offs[(TOPIC, 0)][:2] == (3, "") and offs[(TOPIC, 1)][:2] == (2, "m" * 4096)


# ---------------------------------------------------------------------------
# coordinators
# ---------------------------------------------------------------------------

def test_find_coordinator_transaction_key(gb):
    """FindCoordinator for a transactional id (key_type=1) names this broker.
    Kafka first creates __transaction_state and answers
    COORDINATOR_NOT_AVAILABLE (15) meanwhile, which clients retry; Gregor
    creates it before answering."""
    deadline = time.monotonic() + 20  # Kafka needs a second or two
    with GroupConn(gb.port) as c:
        while True:
            r = c.find_coordinator("some-transactional-id", key_type=1)
            if r["error"] != COORDINATOR_NOT_AVAILABLE or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r["error"] == NONE, r
        assert (r["node_id"], r["port"]) == (1, gb.port), r
        r = c.find_coordinator("some-group", key_type=0)
        assert r["error"] == NONE


def test_not_coordinator_cannot_happen_on_one_node(gb):
    """NOT_COORDINATOR (16) is the answer of a broker that does not own the
    group's __consumer_offsets partition. On a single node every group maps to
    the only broker, so the error cannot be provoked; what can be checked is
    that FindCoordinator sends every group here, and that group requests sent
    here are served (never answered with NOT_COORDINATOR)."""
    with GroupConn(gb.port) as c:
        for i in range(60):  # covers all 50 offsets partitions many times over
            g = "g-coord-%d" % i
            r = c.find_coordinator(g)
            assert r["error"] == NONE, r
            assert (r["node_id"], r["host"], r["port"]) == (1, "127.0.0.1", gb.port), r
            top, _ = c.offset_fetch(g, None)
            assert top == NONE
        r1 = c.find_coordinator("g-coord-v1", version=1)
        assert r1["error"] == NONE and r1["port"] == gb.port
        v4 = c.find_coordinators_v4(["g-a", "g-b", "g-c"])
        assert sorted(x["key"] for x in v4) == ["g-a", "g-b", "g-c"]
        assert all(x["error"] == NONE and x["node_id"] == 1 and x["port"] == gb.port for x in v4), v4


@pytest.mark.timeout(120)
def test_coordinator_load_in_progress_or_correct_offsets_after_restart(gb):
    """COORDINATOR_LOAD_IN_PROGRESS (14) is what a coordinator answers while it
    is still reading __consumer_offsets at startup; whether a request lands in
    that window is not deterministic. Checked instead: from the first moment
    the restarted broker accepts connections, OffsetFetch answers either 14
    (top-level or per partition; on Kafka also 16, see below) or exactly the
    committed offsets -- never missing or stale ones -- and the right answer
    comes within 10 s (60 s for Kafka's JVM)."""
    parts = 2
    expected = {}
    with GroupConn(gb.port) as c:
        for i in range(200):
            g = "g-load-%d" % (i % 20)
            off = {(TOPIC, (i // 20) % parts): 1000 + i}
            assert set(c.offset_commit(g, off).values()) == {NONE}
            expected.setdefault(g, {}).update(off)
    gb.kill9()
    gb.restart()
    answers = []
    # Kafka first elects itself leader of the 50 offsets partitions again,
    # which takes seconds more on a busy machine; until then it answers 16
    not_ready = {COORDINATOR_LOAD_IN_PROGRESS}
    if gb.kind == "kafka":
        not_ready.add(NOT_COORDINATOR)
    deadline = time.monotonic() + (10 if gb.kind == "gregor" else 60)
    pending = dict(expected)
    while pending:
        assert time.monotonic() < deadline, "offsets not served 10 s after restart: %s" % pending
        try:
            with GroupConn(gb.port, timeout=5) as c:
                for g in list(pending):
                    top, offs = c.offset_fetch(g, {TOPIC: list(range(parts))})
                    answers.append(top)
                    if top in not_ready or any(v[2] in not_ready for v in offs.values()):
                        continue
                    assert top == NONE, (g, top)
                    got = {tp: v[0] for tp, v in offs.items() if v[0] >= 0}
                    assert got == pending[g], "group %s: offsets %s, expected %s" % (
                        g, got, pending[g])
                    del pending[g]
        except (ConnectionError, socket.timeout):
            time.sleep(0.05)
    print("OffsetFetch answers after restart: %d load-in-progress, %d ok"
          % (answers.count(COORDINATOR_LOAD_IN_PROGRESS), answers.count(NONE)))
