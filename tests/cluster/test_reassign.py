"""
Partition reassignment on a 4-node cluster (AlterPartitionReassignments and
ListPartitionReassignments, KIP-455), driven by Kafka 4.4's own
kafka-reassign-partitions.sh (ReassignPartitionsCommand) as an operator
would run it.

Proves:
- replicas {1,2,3} move to {2,3,4} (and another partition's to {3,1,4})
  while an idempotent acks=all producer writes: --execute starts it,
  --verify reports it completed, Metadata then lists the target replicas
  all in the ISR, the leader left node 1, every acknowledged record is
  read back exactly once in order from the new leaders, and the moved-away
  replicas' directories are gone from nodes 1 and 2 (renamed for deletion);
- the replication factor changes both ways: 1 -> 3 (the new replicas
  catch up and join the ISR) and 3 -> 2;
- a reassignment to a broker that is shut down stays in progress: --list
  shows it with its adding and removing replicas, and --cancel puts the
  original replicas back;
- a broker that was down while its replica moved away sets the old
  directory aside once it has caught up;
- CreatePartitions through a node that is not the active controller: new
  partitions placed (or as assigned) with every replica in sync;
- [3,4,1] -> [3,4,2] completes with broker 4 stopped (only the added
  replica must be in sync);
- a group's __consumer_offsets partition moved with its leader: the new
  coordinator serves the committed offsets and takes new commits.

Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import json
import os
import struct
import threading
import time

import pytest

import localcluster
from clustertest import confluent_describe, kafka_tool, unique, wait_until

pytestmark = pytest.mark.timeout(420)

TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"


def create(bootstrap, topic, assignment):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment)])[topic].result(timeout=60)


def plan_file(tmp_path, topic, targets):
    f = tmp_path / ("%s.json" % unique("plan"))
    f.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "replicas": r} for p, r in targets.items()]}))
    return str(f)


def reassign(bootstrap, *args):
    return kafka_tool(TOOL, ["--bootstrap-server", bootstrap] + list(args))


def wait_completed(bootstrap, plan, timeout=180):
    def done():
        out = reassign(bootstrap, "--verify", "--reassignment-json-file", plan)
        return out if "still in progress" not in out and "is completed" in out else None
    out, secs = wait_until("reassignment completed (--verify)", done, timeout, interval=2.0)
    return out, secs


def wait_isr(bootstrap, topic, targets, timeout=60, ordered=True):
    def ok():
        d = confluent_describe(bootstrap, topic)
        return d if all((d[p][1] if ordered else sorted(d[p][1])) == r and sorted(d[p][2]) == sorted(r)
                        for p, r in targets.items()) else None
    return wait_until("replicas and ISR of %s = %s" % (topic, targets), ok, timeout, interval=0.5)[0]


def partition_dir_gone(node, topic, p):
    # Both brokers rename a removed replica's directory to <topic>-<p>.<id>-delete
    # at once and remove it later (Kafka after file.delete.delay.ms).
    return not os.path.isdir(os.path.join(node.data_dir, "%s-%d" % (topic, p)))


class Writer(threading.Thread):
    """Idempotent acks=all producer writing numbered records to each
    partition until stopped; keeps what was acknowledged."""

    def __init__(self, bootstrap, topic, partitions):
        super().__init__(daemon=True)
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 5, "message.timeout.ms": 120000})
        self.topic, self.partitions = topic, partitions
        self.acked = {q: [] for q in partitions}
        self.errors = []
        self.stop = threading.Event()

    def dr(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acked[msg.partition()].append((msg.offset(), msg.value()))

    def run(self):
        i = 0
        deadline = time.monotonic() + 300  # bounded, whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            for q in self.partitions:
                try:
                    self.p.produce(self.topic, value=b"%d-%08d" % (q, i), partition=q, on_delivery=self.dr)
                except BufferError:
                    self.p.poll(0.05)
            i += 1
            self.p.poll(0)
            if i % 200 == 0:
                time.sleep(0.01)
        self.left = self.p.flush(120)


def read_back(bootstrap, topic, acked):
    """Every partition from its start: the acknowledged records at their
    offsets, each once, in order."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reassign-read"),
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    want = {q: dict(v) for q, v in acked.items()}
    last = {q: max(want[q]) if want[q] else -1 for q in want}
    got = {q: {} for q in want}
    try:
        c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in want])
        deadline = time.monotonic() + 90
        while any(max(got[q], default=-1) < last[q] for q in want) and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is None:
                    assert m.offset() not in got[m.partition()], "offset %d read twice" % m.offset()
                    got[m.partition()][m.offset()] = m.value()
    finally:
        c.close()
    for q in want:
        lost = [o for o, v in want[q].items() if got[q].get(o) != v]
        assert not lost, "partition %d: %d acknowledged records not read back at their offsets (first %s)" % (
            q, len(lost), lost[:3])
        values = [got[q][o] for o in sorted(got[q])]
        assert len(values) == len(set(values)), "partition %d: duplicates" % q
        assert values == sorted(values), "partition %d: out of order" % q


def test_move_replicas_under_load(start_cluster, tmp_path, measured):
    c = start_cluster("combined", nodes=4)
    topic = unique("move")
    create(c.bootstrap, topic, [[1, 2, 3], [1, 2, 3]])
    wait_isr(c.bootstrap, topic, {0: [1, 2, 3], 1: [1, 2, 3]})
    w = Writer(c.bootstrap, topic, [0, 1])
    w.start()
    wait_until("records acknowledged before the move",
               lambda: min(len(v) for v in w.acked.values()) > 20000, 120, interval=0.5)
    targets = {0: [2, 3, 4], 1: [3, 1, 4]}
    plan = plan_file(tmp_path, topic, targets)
    out = reassign(c.bootstrap, "--execute", "--reassignment-json-file", plan)
    assert "Successfully started partition reassignment" in out, out
    t0 = time.monotonic()
    _, secs = wait_completed(c.bootstrap, plan)
    measured("{1,2,3} -> {2,3,4} and {1,2,3} -> {3,1,4} under acks=all load, %d and %d records before: "
             "completed after %.1f s" % (len(w.acked[0]), len(w.acked[1]), time.monotonic() - t0))
    d = wait_isr(c.bootstrap, topic, targets)
    assert d[0][0] in (2, 3, 4) and d[1][0] in (3, 1, 4), d
    time.sleep(2)  # more records with the new replica sets
    w.stop.set()
    w.join(150)
    assert w.left == 0 and not w.errors, (w.left, w.errors[:3])
    read_back(c.bootstrap, topic, w.acked)
    measured("%d records acknowledged in all, every one read back at its offset"
             % sum(len(v) for v in w.acked.values()))
    wait_until("the moved-away replicas' directories removed",
               lambda: partition_dir_gone(c.node(1), topic, 0) and partition_dir_gone(c.node(2), topic, 1),
               90, interval=1.0)
    assert os.path.isdir(os.path.join(c.node(4).data_dir, "%s-0" % topic))
    assert os.path.isdir(os.path.join(c.node(4).data_dir, "%s-1" % topic))
    assert "No partition reassignments found." in reassign(c.bootstrap, "--list")


def test_replication_factor_up_and_down(start_cluster, tmp_path):
    c = start_cluster("combined", nodes=3)
    topic = unique("rf")
    create(c.bootstrap, topic, [[1]])
    from clustertest import produce_each, consume_each
    sent = produce_each(c.bootstrap, topic, [0], 3000)
    up = plan_file(tmp_path, topic, {0: [1, 2, 3]})
    assert "Successfully started" in reassign(c.bootstrap, "--execute", "--reassignment-json-file", up)
    wait_completed(c.bootstrap, up)
    wait_isr(c.bootstrap, topic, {0: [1, 2, 3]})
    more = produce_each(c.bootstrap, topic, [0], 1000)
    down = plan_file(tmp_path, topic, {0: [2, 3]})
    assert "Successfully started" in reassign(c.bootstrap, "--execute", "--reassignment-json-file", down)
    wait_completed(c.bootstrap, down)
    wait_isr(c.bootstrap, topic, {0: [2, 3]})
    consume_each(c.bootstrap, topic, {0: sent[0] + more[0]})
    wait_until("node 1's replica directory removed", lambda: partition_dir_gone(c.node(1), topic, 0), 90,
               interval=1.0)


def alter_raw(port, topic, partition, replicas):
    """AlterPartitionReassignments v0 to one node (any node forwards it to
    the active controller); Kafka's tool refuses a target broker that is
    not alive, this does not. Returns the partition's (error, message)."""
    def uv(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])
    name = topic.encode()
    reps = b"\0" if replicas is None else \
        uv(len(replicas) + 1) + b"".join(struct.pack(">i", r) for r in replicas)
    body = (struct.pack(">i", 30000) + uv(2) + uv(len(name) + 1) + name + uv(2)
            + struct.pack(">i", partition) + reps + b"\0" + b"\0" + b"\0")
    cid = b"cluster-tests"
    payload = struct.pack(">hhih", 45, 0, 7, len(cid)) + cid + b"\0" + body
    r = localcluster._Reader(localcluster.roundtrip(port, payload, 40))
    r.take(">i")                # correlation id
    r.skip_tags()               # response header v1
    r.take(">i")                # throttle
    top = r.take(">h")
    r.compact_string()
    assert top == 0, top
    assert r.uvarint() == 2     # one topic
    r.compact_string()
    assert r.uvarint() == 2     # one partition
    r.take(">i")
    return r.take(">h"), r.compact_string()


def test_cancel_a_stuck_reassignment(start_cluster, tmp_path):
    c = start_cluster("combined", nodes=4)
    topic = unique("cancel")
    create(c.bootstrap, topic, [[1, 2]])
    wait_isr(c.bootstrap, topic, {0: [1, 2]})
    # The new replica: node 4, shut down (registered, fenced): it cannot
    # catch up, so the reassignment stays in progress.
    assert c.node(4).stop()
    live = c.bootstrap_of([1, 2, 3])
    err, msg = alter_raw(c.node(1).client_port, topic, 0, [2, 4])
    assert err == 0, (err, msg)
    time.sleep(2)
    listed = reassign(live, "--list")
    assert "Current partition reassignments:" in listed and \
        "%s-0: replicas: 2,4,1. adding: 4. removing: 1." % topic in listed, listed
    plan = plan_file(tmp_path, topic, {0: [2, 4]})
    out = reassign(live, "--verify", "--reassignment-json-file", plan)
    assert "Reassignment of partition %s-0 is still in progress." % topic in out, out
    # --preserve-throttles: clearing them would ask the stopped broker too
    out = reassign(live, "--cancel", "--preserve-throttles", "--reassignment-json-file", plan)
    assert "Successfully cancelled partition reassignment for: %s-0" % topic in out, out
    # back to the original replicas (their order as the reassignment left
    # it: target first, then the leaving ones, less those being added)
    wait_isr(live, topic, {0: [1, 2]}, ordered=False)
    assert "No partition reassignments found." in reassign(live, "--list")
    assert alter_raw(c.node(2).client_port, topic, 0, None)[0] == 85  # NO_REASSIGNMENT_IN_PROGRESS


def test_replica_moved_away_while_down(start_cluster, tmp_path):
    """A broker that was down while its replica moved elsewhere does not
    keep serving or adopting that replica's directory when it comes back:
    after catching up it sets the directory aside (Kafka: a stray log)."""
    c = start_cluster("combined", nodes=3)
    topic = unique("away")
    create(c.bootstrap, topic, [[1, 2]])
    wait_isr(c.bootstrap, topic, {0: [1, 2]})
    from clustertest import produce_each
    produce_each(c.bootstrap, topic, [0], 500)
    assert c.node(2).stop()
    live = c.bootstrap_of([1, 3])
    plan = plan_file(tmp_path, topic, {0: [1, 3]})
    assert "Successfully started" in reassign(live, "--execute", "--reassignment-json-file", plan)
    wait_isr(live, topic, {0: [1, 3]})
    c.start_node(2)
    c.wait_formed()
    wait_until("node 2's old replica directory set aside",
               lambda: partition_dir_gone(c.node(2), topic, 0), 60, interval=0.5)


def test_create_partitions_on_a_cluster(start_cluster):
    """CreatePartitions through a node that is not the active controller:
    the new partitions get three replicas (placed, or as assigned), all in
    sync, and take records like the old ones."""
    c = start_cluster("combined", nodes=3)
    topic = unique("grow")
    create(c.bootstrap, topic, [[1, 2, 3], [2, 3, 1]])
    from confluent_kafka.admin import AdminClient, NewPartitions
    from clustertest import consume_each, produce_each, wait_leader
    leader = wait_leader(c)[0]["leader"]
    other = [n for n in (1, 2, 3) if n != leader][0]
    a = AdminClient({"bootstrap.servers": c.bootstrap_of([other])})
    a.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=60)
    a.create_partitions([NewPartitions(topic, 5, replica_assignment=[[3, 1, 2]])])[topic].result(timeout=60)
    d = wait_until("5 partitions, each with 3 replicas in sync",
                   lambda: (lambda d: d if len(d) == 5 and all(len(v[1]) == 3 and sorted(v[2]) == [1, 2, 3]
                                                               for v in d.values()) else None)(
                       confluent_describe(c.bootstrap, topic)), 60, interval=0.5)[0]
    assert d[4][1] == [3, 1, 2], d
    sent = produce_each(c.bootstrap, topic, range(5), 200)
    consume_each(c.bootstrap, topic, sent)


def test_completes_while_a_target_replica_is_down(start_cluster):
    """[3,4,1] -> [3,4,2] with broker 4 stopped: broker 2 catches up and the
    reassignment completes without 4 (Kafka needs only the added replicas
    in the ISR). Gregor's leader once offered the stopped broker for the
    ISR too, from its last fetch; the controller refused the whole change
    (INELIGIBLE_REPLICA) and 2 never joined."""
    c = start_cluster("combined", nodes=4)
    topic = unique("down")
    create(c.bootstrap, topic, [[3, 4, 1]])
    wait_isr(c.bootstrap, topic, {0: [3, 4, 1]})
    assert c.node(4).stop()
    live = c.bootstrap_of([1, 2, 3])
    err, msg = alter_raw(c.node(1).client_port, topic, 0, [3, 4, 2])
    assert err == 0, (err, msg)
    d, secs = wait_until("[3,4,2] with 3 and 2 in sync",
                         lambda: (lambda d: d if d[0][1] == [3, 4, 2] and sorted(d[0][2]) == [2, 3] else None)(
                             confluent_describe(live, topic)), 60, interval=0.5)
    assert "No partition reassignments found." in reassign(live, "--list")


def committed_offset(cons, topic, timeout=60):
    """Consumer.committed, asked again while the coordinator moves
    (librdkafka hands NOT_COORDINATOR to the application here, on Kafka as
    on Gregor)."""
    from confluent_kafka import KafkaException, TopicPartition
    def ask():
        try:
            got = cons.committed([TopicPartition(topic, 0)], timeout=10)[0]
            return got if got.error is None else None
        except KafkaException:
            return None
    return wait_until("the committed offset of %s-0" % topic, ask, timeout, interval=0.5)[0].offset


def test_move_a_consumer_offsets_partition(start_cluster, tmp_path):
    """The __consumer_offsets partition of a group moves to other brokers,
    its leader with it: the group's committed offsets are served by the new
    coordinator, and commits go on there."""
    from confluent_kafka import Consumer, TopicPartition
    from test_coordinators import offsets_partition
    c = start_cluster("combined", nodes=4)
    topic, group = unique("data"), unique("grp")
    create(c.bootstrap, topic, [[1, 2, 3]])
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        for off in (5, 10, 15):
            cons.commit(offsets=[TopicPartition(topic, 0, off)], asynchronous=False)
        p = offsets_partition(group)
        d = wait_until("__consumer_offsets-%d with every replica in sync" % p,
                       lambda: (lambda d: d if len(d[p][2]) == len(d[p][1]) else None)(
                           confluent_describe(c.bootstrap, "__consumer_offsets")), 60)[0]
        leader, replicas = d[p][0], d[p][1]
        target = [x for x in (1, 2, 3, 4) if x != leader]
        plan = plan_file(tmp_path, "__consumer_offsets", {p: target})
        assert "Successfully started" in reassign(c.bootstrap, "--execute", "--reassignment-json-file", plan)
        wait_completed(c.bootstrap, plan)
        d = wait_isr(c.bootstrap, "__consumer_offsets", {p: target})
        assert d[p][0] != leader, (leader, replicas, d[p])
        assert committed_offset(cons, topic) == 15
        cons.commit(offsets=[TopicPartition(topic, 0, 20)], asynchronous=False)
    finally:
        cons.close()
    fresh = Consumer({"bootstrap.servers": c.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        assert committed_offset(fresh, topic) == 20
    finally:
        fresh.close()
