"""
The group coordinator follows leadership (issue 12: "a consumer group on the
replicated topic keeps consuming across the failover of the group
coordinator's broker, with no committed offset lost").

3 combined nodes; __consumer_offsets has replication factor 3
(localcluster.py sets offsets.topic.replication.factor), so an offset commit
acknowledged by the coordinator is on every in-sync replica of the group's
partition, and the broker that leads that partition next is the group's
next coordinator and has every commit.

- test_group_survives_coordinator_kill: a confluent-kafka 2.x consumer
  group member reads 3 x 1000 numbered records (replication factor 3,
  min.insync.replicas 2) and commits synchronously after every batch; the
  group's coordinator (FindCoordinator) is killed with kill -9 midway.
  Commits succeed again on another broker (the errors met meanwhile are
  retriable ones, counted and printed, as is the time from the kill to the
  first successful commit), every record is read, no successful commit
  ever goes backwards, the committed offsets read from the survivors are
  the partitions' ends, and a new member of the group started afterwards
  begins each partition exactly at the last committed offset.
- test_committed_offsets_survive_coordinator_kill_without_consumers:
  offsets (with metadata) committed for groups that have no members;
  kill -9 the coordinator of one of them; OffsetFetch through the
  survivors returns exactly what was committed, for every group.
- test_find_coordinator_while_offsets_topic_is_created: FindCoordinator
  requests to every node while __consumer_offsets is being created (the
  first one creates it): every node stays up, answers
  COORDINATOR_NOT_AVAILABLE or a coordinator meanwhile, and then, for 200
  group ids, the leader of partition abs(hashCode(group)) % 50, the broker
  whose DescribeGroups answers for the group.
- test_offset_metadata_kept_to_the_byte: metadata committed with raw
  OffsetCommit (NUL bytes, UTF-8) comes back byte for byte from the
  coordinator and, after kill -9, from its successor.
- test_kafka_python_group_survives_kill_and_restart: kafka-python 3.x's
  consumer group across the same kill; the killed broker is started again,
  rejoins the ISR of __consumer_offsets, and the group (a new member)
  resumes at the committed offsets.

Passes on Apache Kafka 4.4.0 (--broker=kafka) and on Gregor.
"""

import json
import struct
import threading
import time

import pytest

import localcluster
from clustertest import (confluent_create, produce_each, unique, venv_run, wait_isr_full,
                         wait_until)

pytestmark = pytest.mark.timeout(900)

# Fencing in seconds rather than Kafka's default 9 s (as test_replication.py).
FAST_FAILOVER = dict(broker__session__timeout__ms=4000, broker__heartbeat__interval__ms=1000,
                     replica__lag__time__max__ms=5000)

# Errors a committing member may meet while its coordinator moves: the
# coordinator is gone or not yet loaded, the request timed out, the
# connection broke, and, should the member have to join again, a rebalance.
RETRIABLE_COMMIT_ERRORS = {
    "NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS",
    "REQUEST_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_WAIT_COORD", "NETWORK_EXCEPTION",
    "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "REBALANCE_IN_PROGRESS",
    "_ALL_BROKERS_DOWN",
}


# FindCoordinator on a raw socket to the nodes the test names, here and in
# the venv scripts (defined once, as source for both). confluent-kafka's
# coordinator-bound admin calls (describe_consumer_groups,
# list_consumer_group_offsets) are not used: librdkafka 2.16 aborts the
# process ("rd_kafka_enq_once_del_source_return: Assertion `eonce->refcnt > 0'
# failed", librdkafka issue 4605, fix proposed in pull request 5397) when
# such a request fails on a dropped connection, as one did on Kafka while
# __consumer_offsets was created.
RAW_FIND = r'''
def find_coordinator(port, group, timeout=5.0):
    """FindCoordinator v1 (key type 0) to this one port: (error code, node id)."""
    import socket, struct
    g, cid = group.encode(), b"coordinator-tests"
    payload = (struct.pack(">hhih", 10, 1, 17, len(cid)) + cid + struct.pack(">h", len(g)) + g
               + b"\x00")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(payload)) + payload)

        def recv(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("connection closed")
                buf += chunk
            return buf
        data = recv(struct.unpack(">i", recv(4))[0])
    # correlation id, throttle, error code, error message, node id
    err, mlen = struct.unpack_from(">hh", data, 8)
    return err, struct.unpack_from(">i", data, 12 + max(mlen, 0))[0]


def coordinator_of(ports, group, timeout=60):
    """The coordinator named by the first of `ports` that answers without an
    error, asked again while the group's partition has no leader."""
    import time
    deadline, last = time.monotonic() + timeout, None
    while True:
        for port in ports:
            try:
                err, node = find_coordinator(port, group)
            except OSError as e:
                last = (port, repr(e))
                continue
            if err == 0:
                return node
            last = (port, err)
        if time.monotonic() > deadline:
            raise AssertionError("FindCoordinator(%s) through %s: no coordinator after %d s "
                                 "(last: %s)" % (group, ports, timeout, last))
        time.sleep(0.3)
'''
exec(RAW_FIND)

# OffsetFetch as a consumer sends it (confluent-kafka's Consumer.committed),
# through the brokers of `boot`, retried while the coordinator moves.
COMMITTED = r'''
def committed(boot, topic, partitions, group, timeout=60):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False,
                  "socket.timeout.ms": 10000})
    deadline, last = time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            try:
                r = c.committed([TopicPartition(topic, q) for q in range(partitions)], timeout=10)
                bad = [str(tp.error) for tp in r if tp.error is not None]
                if not bad:
                    return {tp.partition: [tp.offset, tp.metadata] for tp in r}
                last = bad
            except Exception as e:
                last = repr(e)
            time.sleep(0.5)
    finally:
        c.close()
    raise SystemExit("committed(%s) through %s: not after %d s: %s" % (group, boot, timeout, last))
'''

# One member reads everything, committing synchronously after every batch,
# and kills its coordinator after `kill_after` successful commits.
CONSUME_THROUGH_KILL = r"""
import json, os, signal, sys, time
from confluent_kafka import Consumer, KafkaException
""" + RAW_FIND + r"""
boot, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
nodes = {int(k): v for k, v in json.loads(sys.argv[4]).items()}   # id: [pid, port]
total, kill_after = int(sys.argv[5]), int(sys.argv[6])
c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "socket.timeout.ms": 10000})
events = []
c.subscribe([topic], on_assign=lambda c_, ps: events.append(["assign", [p.partition for p in ps]]),
            on_revoke=lambda c_, ps: events.append(["revoke", [p.partition for p in ps]]))
seen, reads = {}, 0
commits, errors = [], []
killed, victim, first_after = None, None, None
t0 = time.monotonic()
deadline = t0 + 240
while len(seen) < total and time.monotonic() < deadline:
    got = 0
    for m in c.consume(num_messages=20, timeout=1.0):
        if m.error() is not None:
            errors.append(["consume", m.error().name(), m.error().retriable(), m.error().str()])
            continue
        v = m.value().decode()
        seen[v] = seen.get(v, 0) + 1
        reads += 1
        got += 1
    if not got:
        continue
    t = time.monotonic()
    try:
        res = c.commit(asynchronous=False)
    except KafkaException as e:
        err = e.args[0]
        errors.append(["commit", err.name(), err.retriable(), err.str(),
                       None if killed is None else round(t - killed, 2)])
        continue
    bad = [[tp.partition, tp.error.name()] for tp in res if tp.error is not None]
    if bad:
        errors.append(["commit-partition", bad, None, "", None if killed is None else
                       round(t - killed, 2)])
        continue
    # (a partition not read yet has no position: it is not committed, offset -1001)
    commits.append([None if killed is None else round(time.monotonic() - killed, 3),
                    {tp.partition: tp.offset for tp in res if tp.offset >= 0}])
    if killed is not None and first_after is None:
        first_after = time.monotonic() - killed
    if killed is None and len(commits) >= kill_after:
        victim = coordinator_of([port for pid, port in nodes.values()], group)
        os.kill(nodes[victim][0], signal.SIGKILL)
        killed = time.monotonic()
    time.sleep(0.05)
c.close()
print(json.dumps({"read": reads, "distinct": len(seen), "missing": total - len(seen),
                  "dups": sum(n - 1 for n in seen.values()), "commits": commits,
                  "errors": errors, "victim": victim,
                  "first_commit_after_kill_s": first_after, "events": events,
                  "seconds": time.monotonic() - t0}))
"""

# The group's committed offsets of a topic, through the brokers of `boot`.
GROUP_OFFSETS = r"""
import json, sys, time
""" + COMMITTED + r"""
boot, topic, partitions, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
print(json.dumps(committed(boot, topic, partitions, group, float(sys.argv[5]))))
"""


def group_offsets(bootstrap, topic, group, partitions=3, timeout=60):
    """{partition: [committed offset, metadata]} (confluent-kafka 2.x)."""
    out = venv_run(GROUP_OFFSETS, bootstrap, topic, str(partitions), group, str(timeout),
                   timeout=timeout + 60)
    return {int(q): v for q, v in out.items()}


def coordinators(c, node_ids, group):
    """{node: the coordinator its FindCoordinator names} for these nodes."""
    return {i: coordinator_of([c.node(i).client_port], group, timeout=30) for i in node_ids}

# A new member of the group reads `expect` records; where does it begin?
RESUME = r"""
import json, sys, time
from confluent_kafka import Consumer
boot, topic, group, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest"})
c.subscribe([topic])
first, values, errors = {}, [], []
deadline = time.monotonic() + 120
while len(values) < expect and time.monotonic() < deadline:
    for m in c.consume(num_messages=100, timeout=1.0):
        if m.error() is not None:
            errors.append(m.error().str())
            continue
        first.setdefault(m.partition(), m.offset())
        values.append(m.value().decode())
# a little longer: nothing more may come
end = time.monotonic() + 2
while time.monotonic() < end:
    for m in c.consume(num_messages=100, timeout=0.5):
        if m.error() is None:
            values.append(m.value().decode())
c.commit(asynchronous=False)
c.close()
print(json.dumps({"first": first, "values": values, "errors": errors}))
"""


def set_min_isr(bootstrap, topic, n):
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource("topic", topic, set_config={"min.insync.replicas": str(n)})
    a.alter_configs([res])[res].result(timeout=30)


def end_offsets(bootstrap, topic, partitions):
    """{partition: high watermark} with confluent-kafka (Debian's)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ends")})
    try:
        return {q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=30)[1]
                for q in partitions}
    finally:
        c.close()


def offsets_topic_ready(c, group):
    """Creates __consumer_offsets (a FindCoordinator for the group) and
    waits until each of its partitions has all 3 replicas in its ISR:
    before that a commit is acknowledged by fewer brokers (on Kafka as
    well), and the kill would test nothing."""
    coordinator_of([n.client_port for n in c.brokers()], group)
    wait_isr_full(c.node(1), "__consumer_offsets", [1, 2, 3], timeout=120)


def node_map(c):
    return json.dumps({n.node_id: [n.pid(), n.client_port] for n in c.brokers()})


def test_group_survives_coordinator_kill(start_cluster, measured):
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    topic, group = unique("coord"), unique("coord-group")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    set_min_isr(c.bootstrap, topic, 2)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    offsets_topic_ready(c, group)
    sent = produce_each(c.bootstrap, topic, [0, 1, 2], 1000)
    values = {v.decode() for vs in sent.values() for v in vs}
    assert len(values) == 3000

    out = venv_run(CONSUME_THROUGH_KILL, c.bootstrap, topic, group, node_map(c), "3000", "15",
                   timeout=360)
    victim = out["victim"]
    errs = [e for e in out["errors"]]
    kinds = sorted({e[1] if isinstance(e[1], str) else json.dumps(e[1]) for e in errs})
    measured("coordinator %s killed: first successful commit after %.2f s; %d commits before, "
             "%d after; %d errors met %s; %d reads for 3000 records; %.1f s in all"
             % (victim, out["first_commit_after_kill_s"] or -1,
                sum(1 for t, _ in out["commits"] if t is None),
                sum(1 for t, _ in out["commits"] if t is not None), len(errs), kinds,
                out["read"], out["seconds"]))
    assert victim is not None, out
    assert out["missing"] == 0, "records never read: %s" % out
    assert out["first_commit_after_kill_s"] is not None, "no commit succeeded after the kill: %s" \
        % out["errors"][-5:]
    unexpected = [e for e in errs if not (isinstance(e[1], str) and
                                         (e[1] in RETRIABLE_COMMIT_ERRORS or e[2]))]
    assert not unexpected, "errors other than retriable ones: %s" % unexpected

    # No successful commit goes backwards.
    last = {}
    for t, offs in out["commits"]:
        for q, off in offs.items():
            q = int(q)
            assert off >= last.get(q, 0), "partition %d: commit %d after %d (t=%s)" \
                % (q, off, last.get(q, 0), t)
            last[q] = off
    assert sorted(last) == [0, 1, 2], last

    survivors = [n for n in (1, 2, 3) if n != victim]
    boot = c.bootstrap_of(survivors)
    ends = end_offsets(boot, topic, [0, 1, 2])
    assert ends == {0: 1000, 1: 1000, 2: 1000}, ends
    assert last == ends, "last successful commits %s, ends %s" % (last, ends)
    got = {q: v[0] for q, v in group_offsets(boot, topic, group).items()}
    assert got == last, "committed offsets through the survivors %s, last commits %s" \
        % (got, last)
    # The coordinator moved: both survivors name the same one of them.
    now = coordinators(c, survivors, group)
    assert len(set(now.values())) == 1 and set(now.values()) <= set(survivors), \
        "FindCoordinator {survivor: coordinator} after killing %d: %s" % (victim, now)

    # A new member begins exactly at the committed offsets.
    more = produce_each(boot, topic, [0, 1, 2], 50)
    res = venv_run(RESUME, boot, topic, group, "150", timeout=240)
    assert {int(k): v for k, v in res["first"].items()} == last, res["first"]
    assert sorted(res["values"]) == sorted(v.decode() for vs in more.values() for v in vs), \
        res["values"][:10]


COMMIT_EXPLICIT = r"""
import json, sys
from confluent_kafka import Consumer, TopicPartition
boot, topic = sys.argv[1], sys.argv[2]
want = json.loads(sys.argv[3])            # {group: {partition: [offset, metadata]}}
out = {}
for group, offs in want.items():
    c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False})
    tps = [TopicPartition(topic, int(q), o, m) for q, (o, m) in offs.items()]
    c.assign(tps)
    res = c.commit(offsets=tps, asynchronous=False)
    out[group] = {tp.partition: [tp.offset, tp.error.str() if tp.error else None] for tp in res}
    c.close()
print(json.dumps(out))
"""


def test_committed_offsets_survive_coordinator_kill_without_consumers(start_cluster, measured):
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    topic = unique("coord-idle")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    groups = [unique("idle-group") for _ in range(6)]
    offsets_topic_ready(c, groups[0])
    produce_each(c.bootstrap, topic, [0, 1, 2], 100)
    want = {g: {str(q): [7 * (i + 1) + q, "m-%d-%d" % (i, q)] for q in (0, 1, 2)}
            for i, g in enumerate(groups)}
    res = venv_run(COMMIT_EXPLICIT, c.bootstrap, topic, json.dumps(want))
    for g in groups:
        assert {q: v for q, v in res[g].items()} == \
            {q: [o, None] for q, (o, _m) in want[g].items()}, res[g]

    # What each coordinator answers, to the byte (confluent-kafka-python sends
    # the metadata string with its terminating NUL; Kafka keeps it).
    coord = {g: coordinator_of([c.node(1).client_port], g) for g in groups}
    before = {}
    for g in groups:
        offs = {q: v[0] for q, v in group_offsets(c.bootstrap, topic, g).items()}
        assert offs == {int(q): o for q, (o, _m) in want[g].items()}, ("before the kill", g, offs)
        before[g] = offset_fetch_raw(c.node(coord[g]).client_port, g, topic, 3)
        assert {q: (o, m.rstrip(b"\0")) for q, (o, m) in before[g].items()} == \
            {int(q): (o, m.encode()) for q, (o, m) in want[g].items()}, (g, before[g])

    victim = coord[groups[0]]
    c.kill9(victim)
    survivors = [n for n in (1, 2, 3) if n != victim]
    boot = c.bootstrap_of(survivors)
    expected = {int(q): o for q, (o, _m) in want[groups[0]].items()}
    seen = {}

    def fetched():
        seen["last"] = group_offsets(boot, topic, groups[0], timeout=10)
        return {q: v[0] for q, v in seen["last"].items()} == expected
    try:
        _, took = wait_until("the committed offsets of %s through the survivors" % groups[0],
                             fetched, 60, interval=0.5)
    except AssertionError as e:
        raise AssertionError("%s; committed %s, last fetched %s; FindCoordinator through the "
                             "survivors: %s" % (e, expected, seen.get("last"),
                                                {i: find_coordinator(c.node(i).client_port,
                                                                     groups[0])
                                                 for i in survivors}))
    measured("coordinator %d killed: OffsetFetch through the survivors answers the committed "
             "offsets after %.2f s (%d of 6 groups were on it)"
             % (victim, took, sum(1 for g in groups if coord[g] == victim)))
    # Every group, each from its coordinator now. (Kafka 4.4.0's new
    # coordinator may answer -1 without an error for a moment as it takes
    # over: the offsets must be there within a bounded time.)
    for g in groups:
        offs = {int(q): o for q, (o, _m) in want[g].items()}
        wait_until("%s's offsets through the survivors" % g, lambda g=g, offs=offs: {
            q: v[0] for q, v in group_offsets(boot, topic, g, timeout=10).items()} == offs, 30)
        now = coordinators(c, survivors, g)
        assert len(set(now.values())) == 1 and set(now.values()) <= set(survivors), \
            "%s (coordinator %d before): FindCoordinator {survivor: coordinator}: %s" \
            % (g, coord[g], now)
        port = c.node(now[survivors[0]]).client_port
        after = wait_until("OffsetFetch of %s from its coordinator %s" % (g, now),
                           lambda g=g, port=port, offs=offs: fetch_if(port, g, topic, offs),
                           30)[0]
        assert after == before[g], "%s: the new coordinator %s answers %s, the old one %s" \
            % (g, now, after, before[g])


def offset_fetch_raw(port, group, topic, partitions):
    """OffsetFetch v7 of partitions 0..n-1 to this one port: {partition:
    (committed offset, metadata bytes)}."""
    g, t, cid = group.encode(), topic.encode(), b"coordinator-tests"
    body = (bytes([len(g) + 1]) + g + b"\x02" + bytes([len(t) + 1]) + t
            + bytes([partitions + 1]) + b"".join(struct.pack(">i", q) for q in range(partitions))
            + b"\x00" + b"\x00" + b"\x00")          # topic tags, require_stable, tags
    r = localcluster._Reader(localcluster._roundtrip(
        port, struct.pack(">hhih", 9, 7, 19, len(cid)) + cid + b"\x00" + body, 5.0))
    r.take(">i")
    r.skip_tags()
    r.take(">i")                                          # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        r.compact_string()
        for _ in range(r.uvarint() - 1):
            q, off, _epoch = r.take(">iqi")
            n = r.uvarint() - 1
            md = r.data[r.pos:r.pos + max(n, 0)] if n >= 0 else None
            r.pos += max(n, 0)
            err = r.take(">h")
            r.skip_tags()
            assert err == 0, "OffsetFetch %s-%d: error %d" % (topic, q, err)
            out[q] = (off, md)
        r.skip_tags()
    err = r.take(">h")
    assert err == 0, "OffsetFetch %s: error %d" % (group, err)
    return out


def fetch_if(port, group, topic, offsets):
    """offset_fetch_raw when its offsets are `offsets` ({partition: offset}),
    else None (for waits)."""
    f = offset_fetch_raw(port, group, topic, len(offsets))
    return f if {q: o for q, (o, _m) in f.items()} == offsets else None


def offset_commit_raw(port, group, topic, offsets):
    """OffsetCommit v2 (generation -1: a group without members) of
    {partition: (offset, metadata bytes)} to this one port: {partition: error}."""
    g, t, cid = group.encode(), topic.encode(), b"coordinator-tests"
    parts = b"".join(struct.pack(">iqh", q, o, len(m)) + m for q, (o, m) in offsets.items())
    body = (struct.pack(">h", len(g)) + g + struct.pack(">ih", -1, 0) + struct.pack(">q", -1)
            + struct.pack(">ih", 1, len(t)) + t + struct.pack(">i", len(offsets)) + parts)
    r = _request(port, 8, 2, body)
    out = {}
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            q, err = r.take(">ih")
            out[q] = err
    return out


class MetadataNotKept(AssertionError):
    """OffsetFetch answers other metadata bytes than OffsetCommit stored."""


# Gregor failed here (MetadataNotKept) until aa245ae: it kept a committed
# offset's metadata as a C string, so it ended at its first NUL byte
# (confluent-kafka-python 2.x commits 'm' as b'm\0': Kafka answers b'm\0',
# Gregor answered b'm', and the client then read past the end of it).
def test_offset_metadata_kept_to_the_byte(start_cluster):
    """The metadata committed with an offset comes back byte for byte, from
    the coordinator and from its successor, NUL bytes included."""
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    topic, group = unique("coord-md"), unique("md-group")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    offsets_topic_ready(c, group)
    want = {0: (5, b"plain"), 1: (6, "nul\0inside\0".encode()), 2: (7, "caf\u00e9 \u2713".encode())}
    attempts = []

    def commit():
        k = coordinator_of([c.node(1).client_port], group)
        attempts.append((k, offset_commit_raw(c.node(k).client_port, group, topic, want)))
        return k if attempts[-1][1] == {0: 0, 1: 0, 2: 0} else None
    try:
        coord = wait_until("OffsetCommit", commit, 60, interval=0.5)[0]
    except AssertionError as e:
        raise AssertionError("%s: (coordinator, {partition: error}) %s" % (e, attempts[-5:]))
    got = offset_fetch_raw(c.node(coord).client_port, group, topic, 3)
    if got != want:
        raise MetadataNotKept("coordinator %d: committed %s, fetched %s" % (coord, want, got))
    c.kill9(coord)
    survivors = [n for n in (1, 2, 3) if n != coord]
    new = wait_until("a new coordinator for %s" % group,
                     lambda: (lambda k: k if k in survivors else None)(
                         coordinator_of([c.node(survivors[0]).client_port], group)), 60)[0]
    # (Kafka 4.4.0's new coordinator may answer -1 without an error for a
    # moment as it takes over.)
    offs = {q: o for q, (o, _m) in want.items()}
    got = wait_until("OffsetFetch from the new coordinator %d" % new,
                     lambda: fetch_if(c.node(new).client_port, group, topic, offs), 60)[0]
    if got != want:
        raise MetadataNotKept("new coordinator %d: committed %s, fetched %s" % (new, want, got))


# kafka-python 3.x: a member that commits after every poll; the test kills
# the coordinator (FindCoordinator) after `kill_after` commits.
KAFKA_PYTHON_THROUGH_KILL = r"""
import json, os, signal, sys, time
from kafka import KafkaConsumer
from kafka.errors import KafkaError
""" + RAW_FIND + r"""
boot, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
nodes = {int(k): v for k, v in json.loads(sys.argv[4]).items()}
total, kill_after = int(sys.argv[5]), int(sys.argv[6])
c = KafkaConsumer(topic, bootstrap_servers=boot, group_id=group, enable_auto_commit=False,
                  auto_offset_reset="earliest", max_poll_records=20, request_timeout_ms=30000)
seen, commits, errors = {}, [], []
killed, victim, first_after = None, None, None
t0 = time.monotonic()
while len(seen) < total and time.monotonic() - t0 < 240:
    batch = c.poll(timeout_ms=1000)
    n = 0
    for tp, msgs in batch.items():
        for m in msgs:
            seen[m.value.decode()] = 1
            n += 1
    if not n:
        continue
    try:
        c.commit()
    except KafkaError as e:
        errors.append([type(e).__name__, bool(getattr(e, "retriable", False)),
                       None if killed is None else round(time.monotonic() - killed, 2)])
        continue
    offs = {tp.partition: c.committed(tp) for tp in c.assignment()}
    offs = {q: o for q, o in offs.items() if o is not None}   # none yet: not read yet
    commits.append([None if killed is None else round(time.monotonic() - killed, 3), offs])
    if killed is not None and first_after is None:
        first_after = time.monotonic() - killed
    if killed is None and len(commits) >= kill_after:
        victim = coordinator_of([port for pid, port in nodes.values()], group)
        os.kill(nodes[victim][0], signal.SIGKILL)
        killed = time.monotonic()
    time.sleep(0.05)
c.close()
print(json.dumps({"distinct": len(seen), "missing": total - len(seen), "commits": commits,
                  "errors": errors, "victim": victim, "first_commit_after_kill_s": first_after,
                  "seconds": time.monotonic() - t0}))
"""


def test_kafka_python_group_survives_kill_and_restart(start_cluster, measured):
    c = start_cluster("combined", nodes=3, **FAST_FAILOVER)
    topic, group = unique("coord-kp"), unique("coord-kp-group")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    set_min_isr(c.bootstrap, topic, 2)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    offsets_topic_ready(c, group)
    produce_each(c.bootstrap, topic, [0, 1, 2], 500)

    out = venv_run(KAFKA_PYTHON_THROUGH_KILL, c.bootstrap, topic, group, node_map(c), "1500",
                   "10", timeout=360)
    victim = out["victim"]
    measured("kafka-python: coordinator %s killed: first successful commit after %.2f s; "
             "errors met %s; %.1f s in all" % (victim, out["first_commit_after_kill_s"] or -1,
                                              out["errors"], out["seconds"]))
    assert victim is not None and out["missing"] == 0, out
    assert out["first_commit_after_kill_s"] is not None, out["errors"][-5:]
    assert all(e[1] for e in out["errors"]), "errors other than retriable ones: %s" \
        % out["errors"]
    last = {}
    for t, offs in out["commits"]:
        for q, off in offs.items():
            assert off >= last.get(q, -1), (q, off, last, t)
            last[q] = off
    assert {int(q): v for q, v in last.items()} == {0: 500, 1: 500, 2: 500}, last

    # The killed broker comes back, rejoins every ISR, and may lead again.
    t0 = time.monotonic()
    c.start_node(victim)
    c.wait_formed()
    wait_isr_full(c.node(victim), "__consumer_offsets", [1, 2, 3], timeout=120)
    wait_isr_full(c.node(victim), topic, [1, 2, 3], timeout=120)
    measured("kafka-python: node %d restarted: back in every ISR after %.2f s"
             % (victim, time.monotonic() - t0))
    got = {q: v[0] for q, v in group_offsets(c.bootstrap, topic, group).items()}
    assert got == {0: 500, 1: 500, 2: 500}, got
    more = produce_each(c.bootstrap, topic, [0, 1, 2], 50)
    res = venv_run(RESUME, c.bootstrap, topic, group, "150", timeout=240)
    assert {int(k): v for k, v in res["first"].items()} == {0: 500, 1: 500, 2: 500}, res["first"]
    assert sorted(res["values"]) == sorted(v.decode() for vs in more.values() for v in vs)
    got = {q: v[0] for q, v in group_offsets(c.bootstrap, topic, group).items()}
    assert got == {0: 550, 1: 550, 2: 550}, got


# ---------------------------------------------------------------- creation race

class NodeDied(AssertionError):
    """A node exited while clients asked for coordinators."""


class WrongCoordinator(AssertionError):
    """A node's FindCoordinator or DescribeGroups disagrees with the leader
    of the group's __consumer_offsets partition."""


def java_hash(s):
    h = 0
    for ch in s.encode():
        h = (31 * h + (ch - 256 if ch >= 128 else ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group, partitions=50):
    """Kafka's partitionFor: Utils.abs(groupId.hashCode) % partitions."""
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def _request(port, key, version, body, timeout=5.0):
    cid = b"coordinator-tests"
    r = localcluster._Reader(localcluster._roundtrip(
        port, struct.pack(">hhih", key, version, 17, len(cid)) + cid + body, timeout))
    r.take(">i")   # correlation id
    return r


def describe_group_raw(port, group):
    """DescribeGroups v1 of one group to this one port: its error code."""
    g = group.encode()
    r = _request(port, 15, 1, struct.pack(">ih", 1, len(g)) + g)
    r.take(">i")                  # throttle
    r.take(">i")                  # one group
    return r.take(">h")


def check_alive(c):
    dead = [(n.node_id, n.exit_code()) for n in c.nodes if not n.alive()]
    if dead:
        raise NodeDied("nodes exited (node id, exit status; -8 is SIGFPE): %s; last lines: %s"
                       % (dead, {i: c.node(i).last_line() for i, _ in dead}))


# Gregor failed here until 036a096: the group coordinator took
# __consumer_offsets' partition count from a topic whose partitions the
# metadata publisher was still adding: 0 (abs(hash) % 0, SIGFPE: NodeDied)
# or a few (FindCoordinator named the leader of another partition for good,
# WrongCoordinator).
def test_find_coordinator_while_offsets_topic_is_created(start_cluster, measured):
    c = start_cluster("combined", nodes=3)
    answers = {n.node_id: {} for n in c.nodes}
    stop = time.monotonic() + 4

    def ask(n):
        k = 0
        while time.monotonic() < stop and n.alive():
            k += 1
            try:
                err, _node = find_coordinator(n.client_port, "creation-%d-%d" % (n.node_id, k))
            except OSError as e:
                err = type(e).__name__
            answers[n.node_id][err] = answers[n.node_id].get(err, 0) + 1
    threads = [threading.Thread(target=ask, args=(n,), daemon=True) for n in c.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    measured("FindCoordinator answers while __consumer_offsets is created {node: {error: "
             "count}}: %s" % answers)
    check_alive(c)
    for node, errs in answers.items():
        # 0 or COORDINATOR_NOT_AVAILABLE (15); a closed connection is not an answer
        assert set(errs) <= {0, 15}, "node %d answered %s" % (node, errs)

    groups = ["group-%d" % k for k in range(200)]
    wrong = {}

    def agree():
        wrong.clear()
        for n in c.nodes:
            md = localcluster.metadata(n.client_port)["partitions"].get("__consumer_offsets", {})
            if len(md) != 50:
                wrong[n.node_id] = "%d partitions of __consumer_offsets" % len(md)
                continue
            for g in groups:
                want = md[offsets_partition(g)][0]
                got = find_coordinator(n.client_port, g)
                if got != (0, want):
                    wrong.setdefault(n.node_id, []).append((g, offsets_partition(g), want, got))
        return not wrong
    try:
        _, took = wait_until("every node's FindCoordinator answers the leader of the group's "
                             "partition", agree, 30, interval=1)
    except AssertionError:
        check_alive(c)
        raise WrongCoordinator("FindCoordinator {node: [(group, partition, its leader, (error, "
                               "answer)), ...]}: %s" % {k: v[:5] if isinstance(v, list) else v
                                                      for k, v in wrong.items()})
    measured("every node names the right coordinator for 200 groups %.2f s after the storm"
             % took)
    # The named coordinator serves the group, and only it does.
    for g in groups[:30]:
        coord = find_coordinator(c.node(1).client_port, g)[1]
        codes = {n.node_id: describe_group_raw(n.client_port, g) for n in c.nodes}
        want = {n.node_id: 0 if n.node_id == coord else 16 for n in c.nodes}
        if codes != want:
            raise WrongCoordinator("DescribeGroups(%s), coordinator %d, partition %d: {node: "
                                   "error}: %s" % (g, coord, offsets_partition(g), codes))
    check_alive(c)
