"""
Committed-offset lifecycle and coordinator concurrency (Kafka semantics).

Proves:
- offsets.retention.minutes: the offsets of a group without members expire
  once the retention has passed (not before), the emptied group disappears
  from ListGroups, and the expiry survives a restart; a group with a live
  member keeps the offsets of the topics it subscribes to, but not of others
  (KIP-496);
- OffsetCommit v2-v4 retention_time_ms gives an offset its own expiry;
- deleting a topic removes the offsets committed for it (Kafka's
  onPartitionsDeleted), so a recreated topic of the same name does not
  inherit them;
- many connections committing, fetching, describing and listing groups at
  once (the broker has several reactor threads) get consistent answers:
  every group reads back exactly its own last commit.
"""

import random
import threading
import time

import pytest

from conftest import admin_client, create_topic, wait_topic_absent
from test_groups_support import (  # noqa: F401  (fixture)
    NONE, GroupConn, group_broker, stable_member, wait_coordinator_ready,
)


def fetch_offsets(port, group, topic, partitions):
    with GroupConn(port) as c:
        top, offs = c.offset_fetch(group, {topic: list(partitions)})
    assert top == NONE, top
    return {p: offs[(topic, p)][0] for p in partitions}


@pytest.mark.timeout(200)
@pytest.mark.broker_overrides(offsets__retention__minutes=1,
                              offsets__retention__check__interval__ms=500)
def test_offsets_of_empty_group_expire_after_retention(group_broker):
    broker, port = group_broker, group_broker.port
    topic, unsubscribed = "off-ret", "off-ret-other"
    create_topic(broker.bootstrap, topic, 2)
    create_topic(broker.bootstrap, unsubscribed, 1)

    # a group with a live member: its offsets must stay
    conn, member, gen = stable_member(port, "ret-active", topic, [0, 1], session_timeout_ms=10000)
    assert set(conn.offset_commit("ret-active", {(topic, 0): 11, (topic, 1): 12}, generation=gen,
                                  member_id=member).values()) == {NONE}
    # ... except for a topic its members do not subscribe to (KIP-496)
    assert set(conn.offset_commit("ret-active", {(unsubscribed, 0): 13}, generation=gen,
                                  member_id=member).values()) == {NONE}
    stop = threading.Event()
    hb_errors = []

    def heartbeats():
        while not stop.wait(1.0):
            err = conn.heartbeat("ret-active", gen, member)
            if err != NONE:
                hb_errors.append(err)

    hb = threading.Thread(target=heartbeats, daemon=True)
    hb.start()
    try:
        with GroupConn(port) as c:
            t0 = time.monotonic()
            assert set(c.offset_commit("ret-simple", {(topic, 0): 5, (topic, 1): 6}).values()) == {NONE}
        expired_after = None
        deadline = t0 + 120
        while time.monotonic() < deadline:
            if fetch_offsets(port, "ret-simple", topic, [0, 1]) == {0: -1, 1: -1}:
                expired_after = time.monotonic() - t0
                break
            time.sleep(0.5)
        assert expired_after is not None, "offsets of the empty group never expired"
        assert 59 <= expired_after <= 75, "expired after %.1f s (retention 60 s)" % expired_after
        assert fetch_offsets(port, "ret-active", topic, [0, 1]) == {0: 11, 1: 12}
        # the unsubscribed topic's offset was committed just before ret-simple's
        # (checked last, so that the rest is checked even if this fails)
        deadline = time.monotonic() + 10
        while fetch_offsets(port, "ret-active", unsubscribed, [0]) != {0: -1}:
            if time.monotonic() > deadline:
                unsubscribed_kept = True
                break
            time.sleep(0.5)
        else:
            unsubscribed_kept = False
        with GroupConn(port) as c:
            err, groups = c.list_groups()
        assert "ret-simple" not in groups and "ret-active" in groups
    finally:
        stop.set()
        hb.join(5)
        conn.close()
    assert not hb_errors, hb_errors

    # the expiry is durable
    broker.restart()
    wait_coordinator_ready(broker)
    assert fetch_offsets(port, "ret-simple", topic, [0, 1]) == {0: -1, 1: -1}
    assert fetch_offsets(port, "ret-active", topic, [0, 1]) == {0: 11, 1: 12}
    assert not unsubscribed_kept, \
        "a Stable group's offset for a topic it does not subscribe to did not expire"


@pytest.mark.timeout(90)
def test_deleting_a_topic_removes_its_committed_offsets(group_broker):
    broker, port, b = group_broker, group_broker.port, group_broker.bootstrap
    create_topic(b, "off-del", 2)
    create_topic(b, "off-keep", 1)
    with GroupConn(port) as c:
        assert set(c.offset_commit("od-g", {("off-del", 0): 7, ("off-del", 1): 8,
                                            ("off-keep", 0): 9}).values()) == {NONE}
    a = admin_client(b)
    a.delete_topics(["off-del"], operation_timeout=30)["off-del"].result(30)
    wait_topic_absent(b, "off-del")

    deadline = time.monotonic() + 10
    while True:
        with GroupConn(port) as c:
            top, offs = c.offset_fetch("od-g", None)
        assert top == NONE
        if set(offs) == {("off-keep", 0)} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {tp: v[0] for tp, v in offs.items()} == {("off-keep", 0): 9}, \
        "offsets of the deleted topic are still there: %s" % offs

    create_topic(b, "off-del", 2)
    assert fetch_offsets(port, "od-g", "off-del", [0, 1]) == {0: -1, 1: -1}
    broker.restart()
    wait_coordinator_ready(broker)
    assert fetch_offsets(port, "od-g", "off-del", [0, 1]) == {0: -1, 1: -1}
    assert fetch_offsets(port, "od-g", "off-keep", [0]) == {0: 9}


@pytest.mark.timeout(120)
def test_concurrent_commits_fetches_and_admin_requests(group_broker):
    broker, port = group_broker, group_broker.port
    topic, nparts, nthreads, rounds = "off-conc", 4, 8, 150
    create_topic(broker.bootstrap, topic, nparts)
    errors = []
    last = {}
    lock = threading.Lock()

    def committer(i):
        group = "conc-%d" % i
        rnd = random.Random(i)
        try:
            if i % 2:   # half of them are group members, half simple consumers
                conn, member, gen = stable_member(port, group, topic, range(nparts))
            else:
                conn, member, gen = GroupConn(port), "", -1
            with conn:
                for r in range(rounds):
                    offs = {(topic, p): r * 10 + rnd.randrange(10) for p in range(nparts)}
                    res = conn.offset_commit(group, offs, generation=gen, member_id=member)
                    if set(res.values()) != {NONE}:
                        raise AssertionError("%s round %d commit: %s" % (group, r, res))
                    top, got = conn.offset_fetch(group, {topic: list(range(nparts))})
                    got = {tp: v[0] for tp, v in got.items()}
                    if top != NONE or got != offs:
                        raise AssertionError("%s round %d: committed %s, read %s (%s)"
                                             % (group, r, offs, got, top))
                    if member and r % 20 == 0:
                        hb = conn.heartbeat(group, gen, member)
                        if hb != NONE:
                            raise AssertionError("%s heartbeat %s" % (group, hb))
                with lock:
                    last[group] = offs
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def admin_noise(stop):
        try:
            with GroupConn(port) as c:
                while not stop.is_set():
                    err, groups = c.list_groups()
                    assert err == NONE
                    for d in c.describe_groups(sorted(groups)[:8]):
                        assert d["error"] == NONE, d
                    c.offset_fetch_v8([(g, None) for g in sorted(groups)[:8]])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    stop = threading.Event()
    noise = [threading.Thread(target=admin_noise, args=(stop,), daemon=True) for _ in range(2)]
    workers = [threading.Thread(target=committer, args=(i,), daemon=True) for i in range(nthreads)]
    for t in noise + workers:
        t.start()
    for t in workers:
        t.join(100)
    stop.set()
    for t in noise:
        t.join(10)
    assert not errors, errors[:3]
    assert len(last) == nthreads
    assert broker.alive()

    # every group's last commit is what the broker has, also after a restart
    for attempt in ("live", "restarted"):
        with GroupConn(port) as c:
            for group, offs in last.items():
                top, got = c.offset_fetch(group, None)
                assert top == NONE
                assert {tp: v[0] for tp, v in got.items()} == offs, (attempt, group)
        if attempt == "live":
            broker.restart()
            wait_coordinator_ready(broker)


@pytest.mark.timeout(60)
@pytest.mark.broker_overrides(offsets__retention__check__interval__ms=200)
def test_offset_commit_v2_retention_time_is_honoured(group_broker):
    """OffsetCommit v2-v4 carry retention_time_ms; Kafka gives such an offset
    its own expiry time (commit time + retention), instead of
    offsets.retention.minutes."""
    port = group_broker.port
    topic = "off-rt"
    create_topic(group_broker.bootstrap, topic, 2)
    with GroupConn(port) as c:
        t0 = time.monotonic()
        assert c.offset_commit("rt-g", {(topic, 0): 3}, version=2, retention_ms=2000) \
            == {(topic, 0): NONE}
        assert c.offset_commit("rt-g", {(topic, 1): 4}, version=2) == {(topic, 1): NONE}
    assert fetch_offsets(port, "rt-g", topic, [0, 1]) == {0: 3, 1: 4}
    deadline = t0 + 15
    while fetch_offsets(port, "rt-g", topic, [0]) != {0: -1}:
        assert time.monotonic() < deadline, "offset with retention_time_ms=2000 never expired"
        time.sleep(0.2)
    took = time.monotonic() - t0
    assert took >= 1.9, "expired after %.1f s, retention 2 s" % took
    assert fetch_offsets(port, "rt-g", topic, [1]) == {1: 4}
