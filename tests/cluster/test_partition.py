"""
A minority partition: one of 3 combined nodes, a follower of the metadata
quorum, is cut off from its two peers with nftables (localcluster.CutOff: a
table of its own, removed in the end whatever happens). The test's own
client connections still reach every node, so we can watch the cut node.

- the majority goes on: CreateTopics through each of its two nodes
  succeeds, and they fence the cut node (their Metadata no longer lists it);
- the minority does not change and cannot commit: for longer than a broker
  session the cut node's Metadata stays the same (same brokers, same
  topics: its image is frozen at the cut), and a CreateTopics sent to it
  does not succeed (it cannot reach a controller that leads);
- after healing it catches up: its Metadata shows the topics the majority
  created, the majority lists it again (unfenced), and its copy of the
  metadata log reaches the leader's high watermark.

Needs root and nftables (apt-get install nftables): without them the test
is skipped with the reason. Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import os
import shutil
import subprocess
import time

import pytest

import localcluster
from clustertest import (confluent_create, create_topic_raw, node_brokers,
                         node_topics, unique, wait_topics_everywhere, wait_until)

pytestmark = pytest.mark.timeout(600)

# Kafka's default broker.session.timeout.ms is 9 s; a cut node is fenced
# 13-15 s after the cut (its last heartbeats were in flight). The watch
# lasts longer than that, so the unchanged Metadata outlives the fencing.
WATCH_S = 20.0


def nftables_usable():
    """None when this process can add and delete an nftables table, else why not."""
    if os.geteuid() != 0:
        return "needs root to install nftables rules (running as uid %d)" % os.geteuid()
    if shutil.which("nft") is None:
        return "nft not found (apt-get install nftables)"
    table = "gregor_cluster_probe_%d" % os.getpid()
    r = subprocess.run(["nft", "add", "table", "inet", table], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        return "nft cannot add a table here: %s" % r.stderr.strip()
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, timeout=30)
    return None


def test_minority_partition(start_cluster, request, measured):
    why = nftables_usable()
    if why:
        pytest.skip("minority partition: " + why)
    c = start_cluster("combined", nodes=3)
    q0 = c.quorum()
    assert q0 is not None
    cut_id = max(n.node_id for n in c.nodes if n.node_id != q0["leader"])
    cut = c.node(cut_id)
    majority = [n for n in c.brokers() if n.node_id != cut_id]

    base = unique("before-cut")
    confluent_create(c.bootstrap, base, partitions=2)
    wait_topics_everywhere(c, [base])
    frozen = (node_brokers(cut), node_topics(cut))
    assert frozen[0] == [1, 2, 3]

    cutoff = localcluster.CutOff(c, cut_id)
    request.addfinalizer(cutoff.heal)
    t0 = time.monotonic()

    # The majority goes on. (Each request goes to the node named: a client
    # would send it where Metadata says the controller is, and Kafka names
    # any live broker there, the cut node too: the test's own connections
    # reach it.)
    created = []
    for n in majority:
        name = unique("majority-via-node%d" % n.node_id)
        err, msg = create_topic_raw(n.client_port, name, partitions=2)
        assert err == 0, "CreateTopics through node %d: %s %s" % (n.node_id, err, msg)
        created.append(name)
    wait_topics_everywhere(c, created, nodes=majority)
    majority_s = time.monotonic() - t0

    # The cut node's Metadata stays as it was for longer than a broker
    # session, while the majority fences it.
    fenced_s = None
    while time.monotonic() - t0 < WATCH_S:
        now = (node_brokers(cut), node_topics(cut))
        assert now == frozen, "the cut node's Metadata changed: %s -> %s" % (frozen, now)
        if fenced_s is None and all(cut_id not in node_brokers(n) for n in majority):
            fenced_s = time.monotonic() - t0
        time.sleep(0.5)
    if fenced_s is None:
        wait_until("the majority fences node %d" % cut_id,
                   lambda: all(cut_id not in node_brokers(n) for n in majority), 30)
        fenced_s = time.monotonic() - t0

    # The minority cannot commit: CreateTopics sent to it does not succeed.
    lost = unique("minority")
    try:
        err, msg = create_topic_raw(cut.client_port, lost, timeout_ms=5000, wait_s=8)
        outcome = "error %d %s" % (err, msg)
    except OSError as e:  # no answer: the broker still waits for a controller
        err, outcome = None, "no answer in 8 s (%s)" % e
    assert err != 0, "CreateTopics through the cut node succeeded"
    assert (node_brokers(cut), node_topics(cut)) == frozen
    for n in majority:
        assert lost not in node_topics(n), "the minority's topic reached node %d" % n.node_id
    lag = c.quorum()
    assert lag["voters"][cut_id] < lag["high_watermark"], lag
    measured("node %d cut off: the majority created %d topics in %.1f s and fenced it after "
             "%.1f s; its Metadata unchanged for %.0f s; CreateTopics through it: %s"
             % (cut_id, len(created), majority_s, fenced_s, time.monotonic() - t0, outcome))

    # Heal: it catches up.
    cutoff.heal()
    t1 = time.monotonic()
    wait_topics_everywhere(c, [base] + created, nodes=[cut], timeout=60)
    caught_s = time.monotonic() - t1
    c.wait_formed(timeout=60)
    target = c.quorum()["high_watermark"]
    wait_until("node %d's metadata log reaches %d" % (cut_id, target),
               lambda: (lambda q: q and q["voters"].get(cut_id, -1) >= target)(c.quorum()), 60)
    # Not asserted (Kafka's broker may or may not still forward the request
    # it held); reported for whoever compares the two brokers.
    measured("healed: node %d shows the majority's topics after %.1f s and is listed by "
             "every node after %.1f s; the topic asked of the minority %s"
             % (cut_id, caught_s, time.monotonic() - t1,
                "exists now" if lost in node_topics(majority[0]) else "does not exist"))
