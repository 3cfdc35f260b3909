"""
The split layout: 3 controller-only nodes (process.roles=controller, ids
1-3) and 2 broker-only nodes (process.roles=broker, ids 4 and 5): one
cluster for the first two tests, one of its own for each fencing test, with
broker.session.timeout.ms=6000 and broker.heartbeat.interval.ms=1000.

- roles: the brokers' Metadata (and kcat -L) lists brokers 4 and 5 only;
  the quorum's voters are the controllers 1-3 and the brokers follow the
  metadata log as observers; new partitions are placed on both brokers;
- kill -9 the active controller (a controller-only node): another one is
  elected, the brokers go on creating topics (a CreateTopics sent
  meanwhile is answered, never dropped); restarted, it catches up;
- a restarted broker keeps its records: kill -9 broker 5 and start it
  again; every record it acknowledged (acks=all, one replica) is read back
  (Gregor set them aside as strays before 04166fd);
- broker fencing: kill -9 broker 5; within the session timeout (plus the
  time a busy machine needs, FENCE_SLACK_S) broker 4's Metadata no longer
  lists it and no partition is led by it (its one-replica partitions have
  no leader); a topic created meanwhile is placed on broker 4 only;
  restarted, broker 5 is unfenced (listed again), leads its partitions
  again, and is given partitions of new topics;
- with replication factor 2 (data replication, issue 12): the fenced
  broker's partitions move to broker 4; back, broker 5 rejoins the ISR
  (its leader's AlterPartition) and leads its preferred partitions again
  after a preferred leader election (confluent-kafka 2.x's elect_leaders);
  the same with `gregor leader-election --election-type preferred
  --path-to-json-file` (kafka-leader-election.sh), which prints Kafka's
  lines: "Successfully completed leader election (PREFERRED) for partitions
  ..." for broker 5's preferred partitions, "Valid replica already elected
  for partitions ..." for broker 4's.

Every test passes on Apache Kafka 4.4.0 and on Gregor.
"""

import json
import subprocess
import time

import pytest

from clustertest import (confluent_create, consume_each, create_topic_raw, create_until_ok,
                         kcat_metadata, node_brokers,
                         produce_each, unique, venv_run, wait_isr_full,
                         wait_leader, wait_topics_everywhere, wait_until)
import localcluster

pytestmark = pytest.mark.timeout(600)

SESSION_S = 6.0
FENCE_SLACK_S = 10.0
FAILOVER_LIMIT_S = 20.0


def partitions_seen_by(node, topic):
    """{partition: (leader, replicas, isr)} in this one node's Metadata."""
    return localcluster.metadata(node.client_port)["partitions"].get(topic, {})


def test_split_layout_roles(split_cluster):
    c = split_cluster
    c.wait_formed()
    assert [n.node_id for n in c.controllers()] == [1, 2, 3]
    assert [n.node_id for n in c.brokers()] == [4, 5]
    for n in c.brokers():
        assert node_brokers(n) == [4, 5]
        md = kcat_metadata(n.bootstrap)
        assert sorted(b["id"] for b in md["brokers"]) == [4, 5], md["brokers"]
    q = c.quorum()
    assert q is not None and q["leader"] in (1, 2, 3), q
    assert sorted(q["voters"]) == [1, 2, 3], q
    assert {4, 5} <= set(q["observers"]), q

    name = unique("split")
    err, msg = create_topic_raw(c.node(4).client_port, name, partitions=4)
    assert err == 0, (err, msg)
    wait_topics_everywhere(c, [name])
    parts, _ = wait_until("all 4 partitions of %s with a leader on broker 5" % name,
                          lambda: (lambda p: p if len(p) == 4 and
                                   all(v[0] in (4, 5) for v in p.values()) else None)(
                              partitions_seen_by(c.node(5), name)), 30)
    assert {leader for leader, _, _ in parts.values()} == {4, 5}, parts


def test_split_kill_active_controller(split_cluster, measured):
    c = split_cluster
    c.wait_formed()
    q0 = c.quorum()
    old = q0["leader"]
    t0 = time.monotonic()
    c.kill9(old)
    q1, elected_s = wait_leader(c, timeout=60, not_in=(old,))
    assert q1["epoch"] > q0["epoch"]
    name, attempts = create_until_ok(c.node(4), "after-controller-kill", 60)
    create_s = time.monotonic() - t0
    measured("controller %d killed: %d leads epoch %d after %.2f s; CreateTopics through "
             "broker 4 after %.2f s (%d attempt(s))"
             % (old, q1["leader"], q1["epoch"], elected_s, create_s, len(attempts)))
    assert elected_s < FAILOVER_LIMIT_S and create_s < FAILOVER_LIMIT_S
    wait_topics_everywhere(c, [name])

    c.start_node(old)
    c.wait_formed()
    target = c.quorum()["high_watermark"]
    wait_until("controller %d's metadata log reaches %d" % (old, target),
               lambda: (lambda q: q and q["voters"].get(old, -1) >= target)(c.quorum()), 60)


def test_restarted_broker_keeps_its_records(split_cluster):
    """kill -9 broker 5 and start it again: the records it had acknowledged
    (acks=all, one replica, so only broker 5 has them) are all still there."""
    c = split_cluster
    c.wait_formed()
    name = unique("keeps")
    confluent_create(c.bootstrap, name, partitions=4)
    # Both brokers apply the new topic a moment after CreateTopics returns;
    # the producer asks either of them.
    for b in c.brokers():
        parts, _ = wait_until("%s: 4 partitions led by brokers 4 and 5 in broker %d's Metadata"
                              % (name, b.node_id),
                              lambda b=b: (lambda p: p if len(p) == 4 and
                                           {v[0] for v in p.values()} == {4, 5} else None)(
                                  partitions_seen_by(b, name)), 30)
    sent = produce_each(c.bootstrap, name, sorted(parts), 50)
    c.kill9(5)
    c.start_node(5)
    c.wait_formed()
    wait_until("broker 5 leads its partitions of %s again" % name,
               lambda: all(partitions_seen_by(c.node(4), name)[p][0] == v[0]
                           for p, v in parts.items()), 30)
    consume_each(c.bootstrap, name, sent)


def start_fencing_cluster(start_cluster):
    return start_cluster("split", controllers=3, brokers=2,
                         broker__session__timeout__ms=int(SESSION_S * 1000),
                         broker__heartbeat__interval__ms=1000)


def wait_fenced(c, dead, topic, t0):
    """Until broker 4's Metadata no longer lists `dead` and no partition of
    `topic` is led by it; returns the seconds since t0."""
    b4 = c.node(4)
    wait_until("broker %d fenced (not in broker 4's Metadata, leading nothing)" % dead,
               lambda: (lambda md: dead not in md["brokers"] and all(
                   v[0] != dead for v in md["partitions"].get(topic, {}).values()))(
                   localcluster.metadata(b4.client_port)),
               SESSION_S + FENCE_SLACK_S, interval=0.1)
    return time.monotonic() - t0


def test_broker_fencing(start_cluster, measured):
    c = start_fencing_cluster(start_cluster)
    b4, b5 = c.node(4), c.node(5)
    name = unique("fencing")
    confluent_create(b4.bootstrap, name, partitions=4)
    parts, _ = wait_until("%s: 4 partitions led by brokers 4 and 5" % name,
                          lambda: (lambda p: p if len(p) == 4 and {v[0] for v in p.values()}
                                   == {4, 5} else None)(partitions_seen_by(b4, name)), 30)
    on5 = sorted(p for p, v in parts.items() if v[0] == 5)

    t0 = time.monotonic()
    c.kill9(5)
    fenced_s = wait_fenced(c, 5, name, t0)
    measured("broker 5 killed: fenced after %.2f s (broker.session.timeout.ms=%d)"
             % (fenced_s, SESSION_S * 1000))
    # Its partitions (one replica) have no leader now.
    seen = partitions_seen_by(b4, name)
    assert all(seen[p][0] == -1 for p in on5), seen
    # A fenced broker is no candidate for new partitions.
    while_fenced = unique("while-fenced")
    err, msg = create_topic_raw(b4.client_port, while_fenced, partitions=4)
    assert err == 0, (err, msg)
    placed, _ = wait_until("%s in broker 4's Metadata" % while_fenced,
                           lambda: (lambda p: p if len(p) == 4 else None)(
                               partitions_seen_by(b4, while_fenced)), 30)
    assert all(v[1] == [4] for v in placed.values()), placed

    t1 = time.monotonic()
    c.start_node(5)
    c.wait_formed()               # broker 4 lists [4, 5] again: unfenced
    unfenced_s = time.monotonic() - t1
    wait_until("broker 5 leads partitions %s of %s again" % (on5, name),
               lambda: all(partitions_seen_by(b4, name).get(p, (None,))[0] == 5 for p in on5),
               30)
    fresh = unique("after-unfence")
    confluent_create(b4.bootstrap, fresh, partitions=4)
    wait_until("broker 5 leads a partition of the new topic %s" % fresh,
               lambda: 5 in {v[0] for v in partitions_seen_by(b5, fresh).values()}, 30)
    measured("broker 5 restarted: unfenced (listed again) after %.2f s" % unfenced_s)


def test_fenced_broker_leads_again_after_preferred_election(start_cluster, measured):
    """Replication factor 2: the fenced broker's partitions move to broker 4
    (the other replica in the ISR); back, broker 5 rejoins the ISR and a
    preferred leader election gives it its partitions again."""
    c = start_fencing_cluster(start_cluster)
    b4 = c.node(4)
    name = unique("fencing-rf2")
    confluent_create(b4.bootstrap, name, partitions=4, replication=2)
    parts = wait_isr_full(b4, name, [4, 5])
    assert {leader for leader, _, _ in parts.values()} == {4, 5}, parts
    preferred5 = sorted(p for p, (_, replicas, _) in parts.items() if replicas[0] == 5)
    assert preferred5, parts

    t0 = time.monotonic()
    c.kill9(5)
    fenced_s = wait_fenced(c, 5, name, t0)
    seen = partitions_seen_by(b4, name)
    assert all(v[0] == 4 for v in seen.values()), seen
    measured("broker 5 killed: fenced after %.2f s, its partitions led by broker 4"
             % fenced_s)

    c.start_node(5)
    c.wait_formed()
    wait_isr_full(b4, name, [4, 5], timeout=60)
    out = venv_run(VENV_ELECT, b4.bootstrap, name, *map(str, preferred5))
    assert all(e is None for e in out.values()), out
    wait_until("broker 5 leads partitions %s of %s again" % (preferred5, name),
               lambda: all(partitions_seen_by(b4, name)[p][0] == 5 for p in preferred5), 30)


def test_leader_election_tool_moves_leadership_back(start_cluster, tmp_path):
    """As above, with `gregor leader-election` sent to broker 4 (which
    forwards ElectLeaders to the active controller, on Gregor as on Kafka)."""
    c = start_fencing_cluster(start_cluster)
    b4 = c.node(4)
    name = unique("elect-tool")
    confluent_create(b4.bootstrap, name, partitions=4, replication=2)
    parts = wait_isr_full(b4, name, [4, 5])
    preferred5 = sorted(p for p, (_, replicas, _) in parts.items() if replicas[0] == 5)
    preferred4 = sorted(p for p, (_, replicas, _) in parts.items() if replicas[0] == 4)
    assert preferred5 and preferred4, parts

    c.kill9(5)
    wait_fenced(c, 5, name, time.monotonic())
    c.start_node(5)
    c.wait_formed()
    wait_isr_full(b4, name, [4, 5], timeout=60)
    assert all(v[0] == 4 for v in partitions_seen_by(b4, name).values())

    f = tmp_path / "elect.json"
    f.write_text(json.dumps({"partitions": [{"topic": name, "partition": p} for p in range(4)]}))
    r = subprocess.run([localcluster.GREGOR_BIN, "leader-election", "--bootstrap-server",
                        b4.bootstrap, "--election-type", "preferred", "--path-to-json-file",
                        str(f)], capture_output=True, text=True, timeout=120)
    shown = "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)
    assert (r.returncode, r.stderr) == (0, ""), shown
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and r.stdout.endswith("\n"), shown
    elected = "Successfully completed leader election (PREFERRED) for partitions "
    already = "Valid replica already elected for partitions "
    # each list is in Java's HashSet order (test_tools_leader_election checks
    # the order against Kafka's own tool); here: which partitions are in it
    assert lines[0].startswith(elected), shown
    assert sorted(lines[0][len(elected):].split(", ")) == \
        sorted("%s-%d" % (name, p) for p in preferred5), shown
    assert lines[1].startswith(already), shown
    assert sorted(lines[1][len(already):].split(", ")) == \
        sorted("%s-%d" % (name, p) for p in preferred4), shown
    wait_until("broker 5 leads partitions %s of %s again" % (preferred5, name),
               lambda: all(partitions_seen_by(b4, name)[p][0] == 5 for p in preferred5), 30)


VENV_ELECT = r"""
import json, sys
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient
bootstrap, topic = sys.argv[1:3]
admin = AdminClient({"bootstrap.servers": bootstrap})
tps = [TopicPartition(topic, int(p)) for p in sys.argv[3:]]
res = admin.elect_leaders(ElectionType.PREFERRED, tps).result(timeout=60)
print(json.dumps({"%s-%d" % (tp.topic, tp.partition): (None if e is None else str(e))
                  for tp, e in res.items()}))
"""
