"""
Partition data reaches the followers (issue 12, its first step: followers
fetch from their leaders).

3 combined nodes, a topic with replication factor 3 and 3 partitions (each
node leads one). Records produced with acks=all reach every replica, and
the followers' copies are the leader's bytes: every node's segment file of
every partition becomes byte-identical to the leader's, as a follower
appends the leader's batches unchanged (offsets, leader epochs, CRCs). A
follower killed with kill -9 misses records while it is down; restarted,
it fetches them and its copies are identical again.

kill -9 the leader of a partition while an idempotent producer sends
numbered records with acks=all (replication factor 3, min.insync.replicas
2): the controller fences it and elects another ISR member, the producer
moves on, and every acknowledged record is read back once, at the offset
it was acknowledged at; the failover time (kill to the first acknowledged
record on that partition after it) is printed. Restarted, the old leader
rejoins the ISR and its copy equals the new leader's.

tests/fault runs many such schedules; this is the one that must hold in
every run. Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import hashlib
import os
import time

import pytest

from clustertest import (confluent_create, confluent_describe, produce_each, unique, venv_run, wait_isr_full,
                         wait_until)

pytestmark = pytest.mark.timeout(600)


def segment_digests(node, topic, partition):
    """{segment file name: sha256} of one partition's .log files on a node."""
    d = os.path.join(node.data_dir, "%s-%d" % (topic, partition))
    out = {}
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.endswith(".log"):
            with open(os.path.join(d, f), "rb") as fh:
                out[f] = hashlib.sha256(fh.read()).hexdigest()
    return out


def wait_identical(c, topic, partitions, nodes, timeout=60):
    """Every node's copy of every partition equals the leader's, byte for byte."""
    def same():
        for q in partitions:
            leader = c.node(partitions[q])
            want = segment_digests(leader, topic, q)
            if not want or any(segment_digests(n, topic, q) != want for n in nodes):
                return False
        return True
    wait_until("every replica of %s is byte-identical to its leader's" % topic, same, timeout)


def leaders(bootstrap, topic):
    return {p: v[0] for p, v in confluent_describe(bootstrap, topic).items()}


def test_followers_copy_the_leaders_bytes(start_cluster, measured):
    c = start_cluster("combined", nodes=3)
    topic = unique("replicated")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    lead = leaders(c.bootstrap, topic)
    assert sorted(lead.values()) == [1, 2, 3], lead
    t0 = time.monotonic()
    produce_each(c.bootstrap, topic, [0, 1, 2], 2000)
    wait_identical(c, topic, lead, c.brokers())
    measured("3 x 2000 records: every follower's copy identical %.2f s after the first send"
             % (time.monotonic() - t0))

    # A follower misses records while it is down and fetches them back.
    q = 0
    follower = next(n for n in (1, 2, 3) if n != lead[q])
    c.kill9(follower)
    survivors = [n for n in (1, 2, 3) if n != follower]
    boot = c.bootstrap_of(survivors)
    alive_parts = [p for p in (0, 1, 2) if lead[p] != follower]
    produce_each(boot, topic, alive_parts, 1000)
    before = segment_digests(c.node(follower), topic, q)
    assert before != segment_digests(c.node(lead[q]), topic, q)
    t1 = time.monotonic()
    c.start_node(follower)
    c.wait_formed()
    wait_identical(c, topic, {p: lead[p] for p in alive_parts}, c.brokers())
    measured("follower %d restarted: its copies identical again after %.2f s"
             % (follower, time.monotonic() - t1))


PRODUCE_THROUGH_KILL = r"""
import json, os, signal, sys, time
from confluent_kafka import Consumer, OFFSET_BEGINNING, Producer, TopicPartition
boot, topic, victim_pid, part = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
              "message.timeout.ms": 90000})
acked, errors, first_after = {}, [], [None]
t0 = time.monotonic()
killed_at = [None, None]  # when, and the first record sent after
def dr(err, msg):
    if err is not None:
        errors.append(str(err))
        return
    v = msg.value().decode()
    acked[v] = (msg.partition(), msg.offset())
    # the failover time: to the first acknowledgement of a record sent after the kill
    if killed_at[0] is not None and msg.partition() == part and first_after[0] is None and \
            int(v[1:]) >= killed_at[1]:
        first_after[0] = time.monotonic() - killed_at[0]
i = 0
while time.monotonic() - t0 < 8:
    p.produce(topic, value=("r%d" % i).encode(), partition=i % 3, on_delivery=dr)
    i += 1
    p.poll(0)
    if killed_at[0] is None and time.monotonic() - t0 > 2:
        os.kill(victim_pid, signal.SIGKILL)
        killed_at[0], killed_at[1] = time.monotonic(), i
    time.sleep(0.001)
left = p.flush(90)
c = Consumer({"bootstrap.servers": boot, "group.id": "check-" + topic, "enable.auto.commit": False})
c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(3)])
seen, dups = {}, 0
deadline = time.monotonic() + 120
while len(seen) < len(acked) and time.monotonic() < deadline:
    for m in c.consume(500, 1.0):
        if m.error() is None:
            v = m.value().decode()
            dups += v in seen
            seen[v] = (m.partition(), m.offset())
c.close()
print(json.dumps({"sent": i, "acked": len(acked), "read": len(seen), "errors": errors[:3], "left": left,
                  "lost": sorted(v for v in acked if v not in seen)[:10],
                  "moved": sorted(v for v in acked if v in seen and seen[v] != acked[v])[:10],
                  "dups": dups, "failover_s": first_after[0]}))
"""


def test_leader_killed_nothing_acknowledged_lost(start_cluster, measured):
    c = start_cluster("combined", nodes=3, broker__session__timeout__ms=4000,
                      broker__heartbeat__interval__ms=1000, replica__lag__time__max__ms=5000)
    topic = unique("failover")
    confluent_create(c.bootstrap, topic, partitions=3, replication=3)
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    res = ConfigResource("topic", topic, set_config={"min.insync.replicas": "2"})
    a.alter_configs([res])[res].result(timeout=30)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    victim = leaders(c.bootstrap, topic)[0]
    out = venv_run(PRODUCE_THROUGH_KILL, c.bootstrap, topic, str(c.node(victim).pid()), "0", timeout=240)
    measured("leader %d of partition 0 killed: %d records acknowledged, first ack on it after the kill "
             "%.2f s" % (victim, out["acked"], out["failover_s"] or -1))
    assert out["left"] == 0 and not out["errors"], out
    assert out["acked"] == out["sent"], out
    assert out["lost"] == [] and out["moved"] == [] and out["dups"] == 0, out
    assert out["failover_s"] is not None, out

    c.start_node(victim)
    c.wait_formed()
    wait_isr_full(c.node(1), topic, [1, 2, 3], timeout=60)
    lead = leaders(c.bootstrap, topic)
    wait_identical(c, topic, lead, c.brokers())
