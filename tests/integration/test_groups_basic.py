"""
Consumer groups with real clients (Kafka semantics).

Proves:
- three confluent-kafka members on a 6-partition topic split it two partitions
  each, disjointly; with synchronous manual commits after every batch, a
  60,000-message stream produced while they run is processed exactly once
  across the group, also while one member leaves and another joins mid-stream;
- a member killed with SIGKILL loses its partitions to the others within
  session.timeout.ms (6 s) plus one rebalance, and a graceful close() hands
  its partitions over promptly (LeaveGroup, < 5 s);
- after a broker restart (SIGTERM, and kill -9) in the middle of consumption
  the committed offsets are intact and the group resumes exactly at them;
- kafka-python's KafkaConsumer with group_id and manual commit() consumes
  everything and its commits are visible to both libraries;
- cooperative-sticky (incremental) rebalancing: a joining member takes only
  the partitions that move, and the first member keeps the rest;
- static membership: a member with group.instance.id that restarts within the
  session timeout gets its partitions back with no rebalance for the others.

Members run as subprocesses (test_groups_support.Member) so they can be
killed; they commit after every consumed batch.
"""

import threading
import time
from collections import Counter, defaultdict

import pytest

import kafka_python_compat as kpc
from conftest import create_topic, make_consumer, make_producer, produce_all, scaled
from test_groups_support import (  # noqa: F401  (fixtures)
    group_broker, member_conf, members, wait_coordinator_ready, wait_group_settled,
)

FAST_GROUP = dict(group__initial__rebalance__delay__ms=100)


def all_parts(topic, n):
    return {(topic, p) for p in range(n)}


def produce_round_robin(bootstrap, topic, partitions, n, rate_per_s=None, **producer_conf):
    """Produce n messages, message i to partition i % partitions, value str(i);
    optionally throttled to about rate_per_s. Returns {partition: count}."""
    p = make_producer(bootstrap, **producer_conf)
    errors, counts = [], Counter()

    def dr(err, msg):
        if err is not None:
            errors.append(err)
        else:
            counts[msg.partition()] += 1

    started = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=str(i).encode(), partition=i % partitions, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.1)
        if i % 1000 == 999:
            p.poll(0)
            if rate_per_s:
                ahead = (i + 1) / rate_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    left = p.flush(60)
    assert left == 0, "%d messages not delivered" % left
    assert not errors, "delivery errors: %s" % errors[:5]
    return dict(counts)


def check_exactly_once(all_members, topic, counts):
    """Every (partition, offset) below counts[p] processed; a message processed
    twice is only allowed when an earlier delivery's commit failed (Kafka's
    at-least-once rule). Returns the processed list."""
    seen = Counter()
    failed_commit = set()
    for m in all_members:
        for t, p, o, ok in m.processed():
            assert t == topic
            seen[(p, o)] += 1
            if not ok:
                failed_commit.add((p, o))
    expected = {(p, o) for p, n in counts.items() for o in range(n)}
    missing = expected - set(seen)
    extra = set(seen) - expected
    dupes = {k: v for k, v in seen.items() if v > 1}
    unexplained = {k: v for k, v in dupes.items() if k not in failed_commit}
    assert not missing, "%d messages never processed, e.g. %s" % (len(missing), sorted(missing)[:10])
    assert not extra, "offsets beyond what was produced: %s" % sorted(extra)[:10]
    assert not unexplained, ("%d messages processed more than once although their commit "
                             "succeeded, e.g. %s" % (len(unexplained), sorted(unexplained.items())[:10]))
    return seen, dupes, failed_commit


def commit_failures(ms):
    return [(m.name, e["commit_err"]) for m in ms for e in m.of_kind("batch")
            if e["commit_err"] is not None]


# ---------------------------------------------------------------------------
# three members, exactly-once processing
# ---------------------------------------------------------------------------

@pytest.mark.timeout(240)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_three_members_split_partitions_and_process_exactly_once(group_broker, members):
    b = group_broker.bootstrap
    topic, nparts, total = "grp-eo", 6, scaled(60000)
    create_topic(b, topic, nparts)
    conf = member_conf(b, "eo-group")
    ms = [members("m%d" % i, conf, [topic], batch=200) for i in range(1, 4)]

    # after the group settles every partition has exactly one owner, 2 each
    owned = wait_group_settled(ms, all_parts(topic, nparts), timeout=60, per_member=2)
    assert len(set().union(*owned.values())) == nparts

    counts = {}
    prod_err = []

    def produce():
        try:
            counts.update(produce_round_robin(b, topic, nparts, total, rate_per_s=total / 8))
        except BaseException as e:  # noqa: BLE001
            prod_err.append(e)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()

    def processed():
        return sum(m.processed_count() for m in ms)

    # one member leaves gracefully at a third, a new one joins at two thirds
    deadline = time.monotonic() + 120
    while processed() < total // 3:
        assert time.monotonic() < deadline, "stalled at %d: %s" % (
            processed(), "\n".join(m.describe() for m in ms))
        time.sleep(0.05)
    ms[2].close()
    while processed() < 2 * total // 3:
        assert time.monotonic() < deadline, "stalled at %d: %s" % (
            processed(), "\n".join(m.describe() for m in ms))
        time.sleep(0.05)
    ms.append(members("m4", conf, [topic], batch=200))

    producer.join(90)
    assert not producer.is_alive(), "producer did not finish"
    assert not prod_err, prod_err
    assert sum(counts.values()) == total

    # wait until every message was processed by someone
    expected = {(p, o) for p, n in counts.items() for o in range(n)}
    while True:
        seen = {(p, o) for m in ms for _t, p, o, _ok in m.processed()}
        if expected <= seen:
            break
        assert time.monotonic() < deadline, (
            "only %d of %d messages processed\n%s"
            % (len(seen & expected), total, "\n".join(m.describe() for m in ms)))
        time.sleep(0.1)
    time.sleep(2)  # late duplicates would show up here

    live = [ms[0], ms[1], ms[3]]
    wait_group_settled(live, all_parts(topic, nparts), timeout=30, per_member=2)
    for m in live:
        m.close()

    seen, dupes, failed = check_exactly_once(ms, topic, counts)
    for m in ms:
        assert m.processed_count() > 0, "%s processed nothing:\n%s" % (m.name, m.describe())
    # Commits go to a live generation (Kafka accepts them while a rebalance is
    # being prepared), so none should fail in this scenario.
    assert not commit_failures(ms), commit_failures(ms)[:5]
    assert not dupes


# ---------------------------------------------------------------------------
# failure detection: kill -9 and graceful close
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_killed_member_partitions_taken_over_and_close_rebalances_promptly(group_broker, members):
    b = group_broker.bootstrap
    topic, nparts, session_s = "grp-fail", 6, 6
    create_topic(b, topic, nparts)
    conf = member_conf(b, "fail-group", session__timeout__ms=session_s * 1000,
                       heartbeat__interval__ms=1000)
    m1, m2, m3 = (members("m%d" % i, conf, [topic]) for i in range(1, 4))
    wait_group_settled([m1, m2, m3], all_parts(topic, nparts), timeout=60, per_member=2)

    # kill -9: the broker only notices through the session timeout
    t0 = time.monotonic()
    m3.kill9()
    wait_group_settled([m1, m2], all_parts(topic, nparts), timeout=session_s + 10, per_member=3)
    took = time.monotonic() - t0
    assert took <= session_s + 10, took

    # graceful close: LeaveGroup, the survivor is told at its next heartbeat
    t1 = time.monotonic()
    m2.send("close")
    wait_group_settled([m1], all_parts(topic, nparts), timeout=5)
    took_close = time.monotonic() - t1
    assert took_close < 5, "graceful close took %.1f s to rebalance" % took_close
    m2.close()
    print("kill -9 takeover %.1f s, close takeover %.1f s" % (took, took_close))


# ---------------------------------------------------------------------------
# broker restart in the middle of consumption
# ---------------------------------------------------------------------------

@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_broker_restart_resumes_from_committed_offsets(group_broker, members, how):
    from confluent_kafka import TopicPartition
    broker = group_broker
    b = broker.bootstrap
    topic, nparts, total = "grp-restart", 4, scaled(12000)
    create_topic(b, topic, nparts)
    # small record batches, so that fetches (and thus consumption) can
    # interleave the partitions
    counts = produce_round_robin(b, topic, nparts, total,
                                 **{"linger.ms": 0, "batch.num.messages": 50})
    group = "restart-group-" + how
    conf = member_conf(b, group, session__timeout__ms=10000)

    # small fetches, so that consumption interleaves the partitions
    # (librdkafka gives no ordering guarantee); a little processing time per
    # batch, so that the pause below lands part-way however fast the broker
    m1 = members("m1", dict(conf, **{"max.partition.fetch.bytes": 2048}), [topic], batch=50,
                 batch_delay=0.05)

    def partitions_started(m):
        ps = {p for _t, p, _o, _ok in m.processed()}
        return len(ps) == nparts and m.processed_count() >= total // 4
    m1.wait(partitions_started, 60, "a quarter processed, from every partition")
    m1.pause()  # finishes its current batch and commit, then stops consuming
    assert not commit_failures([m1]), commit_failures([m1])

    committed = {}
    for _t, p, o, ok in m1.processed():
        assert ok
        committed[p] = max(committed.get(p, 0), o + 1)
    assert sum(committed.values()) == m1.processed_count()
    print("committed before the restart:", committed, "of", counts)
    # at least one partition is part-way through (usually all are)
    assert any(0 < committed[p] < counts[p] for p in range(nparts)), (committed, counts)

    if how == "sigterm":
        assert broker.stop() == 0
    else:
        broker.kill9()
    broker.restart()
    wait_coordinator_ready(broker)

    # the broker's stored offsets are exactly the acknowledged commits
    c = make_consumer(b, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=30)
    finally:
        c.close()
    stored = {tp.partition: tp.offset for tp in got if tp.error is None and tp.offset >= 0}
    assert stored == committed, "committed before restart %s, broker has %s" % (committed, stored)

    # the paused member resumes, a second one joins (a rebalance: both fetch
    # committed offsets from the broker)
    mark = len(m1.snapshot())
    m1.resume()
    m2 = members("m2", conf, [topic], batch=200)
    deadline = time.monotonic() + 120
    expected = {(p, o) for p, n in counts.items() for o in range(n)}
    while True:
        seen = {(p, o) for m in (m1, m2) for _t, p, o, _ok in m.processed()}
        if expected <= seen:
            break
        assert time.monotonic() < deadline, ("only %d of %d processed\n%s\n%s"
                                             % (len(seen), total, m1.describe(), m2.describe()))
        time.sleep(0.1)

    after = defaultdict(list)
    for t, p, o, _ok in m1.processed(since=mark) + m2.processed():
        after[p].append(o)
    for p in range(nparts):
        start = committed.get(p, 0)
        if start >= counts[p]:
            assert not after[p]
            continue
        assert after[p], "partition %d: nothing consumed after the restart" % p
        assert min(after[p]) == start, (
            "partition %d: committed %d before the restart, but after it the first "
            "message seen has offset %d" % (p, start, min(after[p])))
    check_exactly_once([m1, m2], topic, counts)
    m1.close()
    m2.close()


# ---------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_kafka_python_group_consumer_commits(group_broker):
    from kafka import KafkaConsumer, TopicPartition as KTP
    from confluent_kafka import TopicPartition
    b = group_broker.bootstrap
    topic, nparts, total = "grp-kp", 3, scaled(3000)
    create_topic(b, topic, nparts)
    counts = produce_round_robin(b, topic, nparts, total)
    group = "kp-group"

    def kconsumer():
        return KafkaConsumer(topic, bootstrap_servers=b, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             session_timeout_ms=10000, heartbeat_interval_ms=1000,
                             request_timeout_ms=30000, consumer_timeout_ms=1000)

    kc = kconsumer()
    seen = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < total:
            assert time.monotonic() < deadline, "kafka-python consumed %d of %d" % (len(seen), total)
            batch = kc.poll(timeout_ms=500, max_records=500)
            recs = [r for rs in batch.values() for r in rs]
            if recs:
                seen.extend((r.partition, r.offset) for r in recs)
                kc.commit()  # synchronous, the consumed positions
        assert sorted(kc.assignment()) == sorted(KTP(topic, p) for p in range(nparts))
        for p in range(nparts):
            assert kc.committed(KTP(topic, p)) == counts[p]
    finally:
        kc.close()
    assert len(seen) == len(set(seen)) == total

    # visible to confluent-kafka (OffsetFetch) ...
    c = make_consumer(b, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=30)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in got} == counts
    # ... and to kafka-python's admin client
    admin = kpc.admin_client(b, 30)
    try:
        offs = kpc.group_offsets(admin, group)
    finally:
        admin.close()
    assert {tp.partition: om[0] for tp, om in offs.items() if tp.topic == topic} == counts

    # a new consumer in the group resumes at the committed end: only new messages
    more = produce_round_robin(b, topic, nparts, 30)
    kc = kconsumer()
    try:
        fresh = []
        deadline = time.monotonic() + 30
        while len(fresh) < 30 and time.monotonic() < deadline:
            for rs in kc.poll(timeout_ms=500).values():
                fresh.extend((r.partition, r.offset) for r in rs)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # nothing else may follow
            for rs in kc.poll(timeout_ms=300).values():
                fresh.extend((r.partition, r.offset) for r in rs)
    finally:
        kc.close()
    assert sorted(fresh) == sorted((p, counts[p] + i) for p, n in more.items() for i in range(n))


# ---------------------------------------------------------------------------
# cooperative-sticky (incremental rebalancing, KIP-429)
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_cooperative_sticky_moves_only_some_partitions(group_broker, members):
    b = group_broker.bootstrap
    topic, nparts = "grp-coop", 6
    create_topic(b, topic, nparts)
    produce_all(b, topic, [{"value": b"x%d" % i, "partition": i % nparts} for i in range(60)])
    # No assign() in the callbacks: confluent-kafka then does
    # incremental_assign / incremental_unassign itself for cooperative assignors.
    conf = member_conf(b, "coop-group", partition__assignment__strategy="cooperative-sticky")
    m1 = members("m1", conf, [topic])
    wait_group_settled([m1], all_parts(topic, nparts), timeout=60)
    n1 = len(m1.snapshot())

    m2 = members("m2", conf, [topic])
    owned = wait_group_settled([m1, m2], all_parts(topic, nparts), timeout=60, per_member=3)

    revokes = m1.of_kind("revoke", "lost", since=n1)
    assert revokes, "m1 was never asked to give partitions up:\n%s" % m1.describe()
    assert all(e["ev"] == "revoke" for e in revokes), "partitions lost, not revoked: %s" % revokes
    revoked = [tuple(p) for e in revokes for p in e["parts"]]
    assert len(revoked) == len(set(revoked)) == 3, \
        "incremental revoke must name only the 3 moving partitions: %s" % revokes
    assert set(revoked) == owned["m2"]
    # m1 keeps the rest without an intermediate revoke-all / re-assign
    later_assigns = [tuple(p) for e in m1.of_kind("assign", since=n1) for p in e["parts"]]
    assert not later_assigns, "m1 got partitions assigned again: %s" % later_assigns
    assert {tuple(p) for e in m2.of_kind("assign") for p in e["parts"]} == owned["m2"]
    assert not m2.of_kind("revoke", "lost")
    m1.close()
    m2.close()


# ---------------------------------------------------------------------------
# static membership (KIP-345)
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_static_member_restart_within_session_timeout_keeps_partitions(group_broker, members):
    b = group_broker.bootstrap
    topic, nparts, session_s = "grp-static", 4, 10
    create_topic(b, topic, nparts)

    def conf(instance):
        return member_conf(b, "static-group", session__timeout__ms=session_s * 1000,
                           heartbeat__interval__ms=1000, group__instance__id=instance)

    a = members("a", conf("inst-a"), [topic])
    bm = members("b", conf("inst-b"), [topic])
    owned = wait_group_settled([a, bm], all_parts(topic, nparts), timeout=60, per_member=2)
    time.sleep(1)  # let any trailing rebalance show itself
    owned = wait_group_settled([a, bm], all_parts(topic, nparts), timeout=5, per_member=2)
    na = len(a.snapshot())

    # librdkafka sends no LeaveGroup when a static member closes
    t0 = time.monotonic()
    bm.close()
    b2 = members("b2", conf("inst-b"), [topic])
    b2.wait(lambda m: m.of_kind("assign"), session_s, "the restarted static member's assignment")
    assert time.monotonic() - t0 < session_s
    first = {tuple(p) for p in b2.of_kind("assign")[0]["parts"]}
    assert first == owned["b"], "static member got %s back, had %s" % (sorted(first), sorted(owned["b"]))

    # no rebalance for the other member, also after the old session would have expired
    remaining = session_s + 3 - (time.monotonic() - t0)
    if remaining > 0:
        time.sleep(remaining)
    assert not a.of_kind("revoke", "lost", "assign", since=na), \
        "the other static member saw a rebalance:\n%s" % a.describe()
    assert a.owned() == owned["a"]
    assert b2.owned() == owned["b"]
    assert not b2.of_kind("revoke", "lost")
    a.close()
    b2.close()


# ---------------------------------------------------------------------------
# a frozen member (zombie) must not be able to commit after it was replaced
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_zombie_member_commit_is_fenced(group_broker, members):
    from confluent_kafka import TopicPartition
    b = group_broker.bootstrap
    topic, nparts, total, session_s = "grp-zombie", 2, scaled(4000), 6
    create_topic(b, topic, nparts)
    counts = produce_round_robin(b, topic, nparts, total)
    conf = member_conf(b, "zombie-group", session__timeout__ms=session_s * 1000,
                       heartbeat__interval__ms=1000, **{"max.partition.fetch.bytes": 2048})
    # m1 spends most of its time "processing" a batch it has not committed yet
    m1 = members("m1", conf, [topic], batch=20, batch_delay=0.4)
    m2 = members("m2", conf, [topic], batch=20, batch_delay=0.05)
    wait_group_settled([m1, m2], all_parts(topic, nparts), timeout=60, per_member=1)
    m1.wait(lambda m: len(m.of_kind("batch")) >= 2, 30, "m1 processing")
    time.sleep(0.2)  # into the next batch's processing time
    m1.stop()        # SIGSTOP: no heartbeats, no commits
    n1 = len(m1.snapshot())
    try:
        wait_group_settled([m2], all_parts(topic, nparts), timeout=session_s + 10)
        expected = {(p, o) for p, n in counts.items() for o in range(n)}
        deadline = time.monotonic() + 60
        while not expected <= {(p, o) for m in (m1, m2) for _t, p, o, _ok in m.processed()}:
            assert time.monotonic() < deadline, m2.describe()
            time.sleep(0.1)
    finally:
        m1.cont()
    # the zombie wakes up, finishes its batch and tries to commit it
    m1.wait(lambda m: any(e["ev"] in ("batch", "lost", "revoke") for e in m.events[n1:]), 20,
            "the zombie's next step")
    time.sleep(3)
    stale = m1.of_kind("batch", since=n1)
    print("zombie after SIGCONT:", [(e["ev"], e.get("commit_err"), len(e.get("msgs", [])))
                                    for e in m1.snapshot()[n1:]])
    m2.close()
    m1.close()

    seen, dupes, failed = check_exactly_once([m1, m2], topic, counts)
    for e in stale:
        if e["commit_err"] is None:
            # only legitimate if m1 rejoined first and was given the partition again
            assert all(tuple(x[:2]) in m1.owned(m1.snapshot()[:m1.snapshot().index(e)])
                       for x in e["msgs"]), "zombie commit accepted: %s" % e
    c = make_consumer(b, **{"group.id": "zombie-group"})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=30)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in got} == counts, \
        "final committed offsets regressed: %s, log ends %s" % (
            {tp.partition: tp.offset for tp in got}, counts)


# ---------------------------------------------------------------------------
# kcat's balanced consumer (-G)
# ---------------------------------------------------------------------------

def kcat_group_consume(bootstrap, group, topic, timeout=60):
    """`kcat -G group topic -e`: consume from the committed offsets (or the
    beginning) until every assigned partition is at its end, commit on exit.
    Returns [(partition, offset)]."""
    import subprocess
    out = subprocess.run(
        # not -o beginning: in -G mode kcat applies -o to every assigned
        # partition, overriding the committed offsets
        ["kcat", "-b", bootstrap, "-G", group, "-e", "-q", "-f", "%p %o\\n",
         "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", topic],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    assert out.returncode == 0, "kcat rc %s: %s" % (out.returncode, out.stderr.decode()[-2000:])
    return [tuple(map(int, line.split())) for line in out.stdout.decode().splitlines() if line]


@pytest.mark.timeout(120)
@pytest.mark.broker_overrides(**FAST_GROUP)
def test_kcat_balanced_consumer_resumes_from_commits(group_broker):
    from confluent_kafka import TopicPartition
    b = group_broker.bootstrap
    topic, nparts, total = "grp-kcat", 3, scaled(3000)
    create_topic(b, topic, nparts)
    counts = produce_round_robin(b, topic, nparts, total)

    got = kcat_group_consume(b, "kcat-group", topic)
    assert sorted(got) == sorted((p, o) for p, n in counts.items() for o in range(n))
    c = make_consumer(b, **{"group.id": "kcat-group"})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=30)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == counts

    assert kcat_group_consume(b, "kcat-group", topic) == []   # nothing new
    more = produce_round_robin(b, topic, nparts, 30)
    again = kcat_group_consume(b, "kcat-group", topic)
    assert sorted(again) == sorted((p, counts[p] + i) for p, n in more.items() for i in range(n))
