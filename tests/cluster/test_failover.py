"""
kill -9 the active controller of 3 combined nodes.

The active controller is found twice, and the two must agree: Kafka's own
kafka-metadata-quorum tool (describe --status: LeaderId) and a DescribeQuorum
request to the controllers. Then it is killed with SIGKILL, and the test
measures (and prints in the run's summary):
  - the time until another controller leads the metadata quorum in a
    higher epoch (DescribeQuorum);
  - the time until CreateTopics, sent to a surviving node, succeeds again
    (the node must answer meanwhile: Kafka holds the request until a
    controller is known; a closed connection fails the test).
Both must be under FAILOVER_LIMIT_S (Kafka: election timeout 1 s, fetch
timeout 2 s; the limit is generous for a shared machine). Once its broker
session expires the survivors fence the dead node, and a client
bootstrapped from them creates a topic. The killed node is restarted: every
node lists 3 brokers again, it serves the topics created before and while
it was down, its copy of the metadata log catches up with the leader's
(DescribeQuorum's log end offsets), and Kafka's tool names the same leader
as DescribeQuorum.

Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import time

import pytest

from clustertest import (confluent_create, create_until_ok, kafka_python_admin,
                         node_brokers, node_topics, quorum_leader_by_tool, unique, wait_leader,
                         wait_topics_everywhere, wait_until)

pytestmark = pytest.mark.timeout(600)

FAILOVER_LIMIT_S = 20.0


def test_kill_active_controller(start_cluster, measured):
    c = start_cluster("combined", nodes=3)
    q0 = c.quorum()
    assert q0 is not None, "no controller leads the quorum"
    old = q0["leader"]
    assert quorum_leader_by_tool(c.bootstrap) == old
    assert sorted(q0["voters"]) == [1, 2, 3]

    before = unique("before-kill")
    confluent_create(c.bootstrap, before, partitions=3)
    wait_topics_everywhere(c, [before])

    survivors = [n for n in c.brokers() if n.node_id != old]
    t0 = time.monotonic()
    c.kill9(old)
    q1, elected_s = wait_leader(c, timeout=60, not_in=(old,))
    assert q1["epoch"] > q0["epoch"], (q0, q1)
    while_down, attempts = create_until_ok(survivors[0], "while-down", 60)
    create_s = time.monotonic() - t0
    measured("controller %d killed: node %d leads epoch %d after %.2f s; CreateTopics "
             "works again after %.2f s (%d attempt(s))"
             % (old, q1["leader"], q1["epoch"], elected_s, create_s, len(attempts)))
    assert elected_s < FAILOVER_LIMIT_S, "election took %.1f s" % elected_s
    assert create_s < FAILOVER_LIMIT_S, "CreateTopics unavailable for %.1f s" % create_s

    # The dead node stays in Metadata until its broker session expires
    # (broker.session.timeout.ms, 9 s by default): a client would meanwhile
    # try it as a controller (Kafka names any live broker there) and time
    # out. Once it is fenced, a client works through the survivors.
    _, fenced_s = wait_until(
        "the survivors fence node %d" % old,
        lambda: all(old not in node_brokers(n) for n in survivors), 30)
    measured("node %d fenced %.1f s after the kill" % (old, time.monotonic() - t0))
    via_client = unique("after-failover")
    confluent_create(c.bootstrap_of([n.node_id for n in survivors]), via_client)
    wait_topics_everywhere(c, [before, while_down, via_client], nodes=survivors)

    # The killed node comes back, rejoins and catches up.
    t1 = time.monotonic()
    c.start_node(old)
    c.wait_formed()
    rejoin_s = time.monotonic() - t1
    back = c.node(old)
    wait_topics_everywhere(c, [before, while_down, via_client], nodes=[back])
    assert node_brokers(back) == [1, 2, 3]
    target = c.quorum()["high_watermark"]
    q2, _ = wait_until("node %d's metadata log reaches offset %d" % (old, target),
                       lambda: (lambda q: q if q and q["voters"].get(old, -1) >= target
                                else None)(c.quorum()), 60)
    measured("node %d restarted: lists 3 brokers after %.2f s; its metadata log at %d "
             "(leader %d's high watermark %d)"
             % (old, rejoin_s, q2["voters"][old], q2["leader"], q2["high_watermark"]))
    assert quorum_leader_by_tool(back.bootstrap) == q2["leader"]

    k = kafka_python_admin(back.bootstrap)
    try:
        cl = k.describe_cluster()
    finally:
        k.close()
    assert sorted(b["node_id"] for b in cl["brokers"]) == [1, 2, 3], cl
    assert {before, while_down, via_client} <= node_topics(back)
