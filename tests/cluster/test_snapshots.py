"""
Metadata snapshots across 3 combined nodes: a node that was down while the
quorum moved on comes back with the same metadata as the others.

With a small metadata.log.max.record.bytes.between.snapshots every node
writes <offset>-<epoch>.checkpoint files as topics are created. One follower
is killed; 60 topics are created and two deleted through the survivors; it
is restarted. Then it lists exactly the live topics (the deleted ones gone),
its copy of the metadata log reaches the leader's high watermark
(DescribeQuorum), it holds a checkpoint past the point where it was killed,
and a topic created after its return reaches it.

How it catches up differs, and both are KRaft's behaviour: Kafka keeps its
metadata segments for metadata.max.retention.* and the node fetches the
missing records; Gregor deletes the segments behind a snapshot (here 16 KiB
segments), so the leader answers the node's Fetch with its snapshot id and
the node downloads the snapshot (FetchSnapshot) and installs it - checked
on Gregor in the node's log. Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import os
import re
import time

import pytest

from clustertest import (confluent_create, confluent_delete, node_brokers, node_topics, unique, wait_topics_everywhere,
                         wait_until)

pytestmark = pytest.mark.timeout(600)

CHECKPOINT = re.compile(r"^(\d{20})-(\d{10})\.checkpoint$")


def newest_checkpoint(node):
    d = os.path.join(node.data_dir, "__cluster_metadata-0")
    ends = [int(m.group(1)) for m in (CHECKPOINT.match(f) for f in (os.listdir(d) if os.path.isdir(d) else []))
            if m]
    return max(ends) if ends else -1


def test_node_behind_snapshots_catches_up(start_cluster, cluster_kind, measured):
    overrides = {"metadata.log.max.record.bytes.between.snapshots": "3000"}
    if cluster_kind == "gregor":
        overrides["metadata.log.segment.bytes"] = "16384"
    c = start_cluster("combined", nodes=3, **overrides)
    q0 = c.quorum()
    assert q0 is not None, "no controller leads the quorum"
    victim = max(n for n in (1, 2, 3) if n != q0["leader"])
    survivors = [n for n in c.brokers() if n.node_id != victim]
    boot = c.bootstrap_of([n.node_id for n in survivors])

    early = [unique("snap-early") for _ in range(8)]
    for t in early:
        confluent_create(boot, t, partitions=2)
    wait_topics_everywhere(c, early)
    c.kill9(victim)
    killed_at = c.quorum()["high_watermark"]
    # Until its session expires the dead node may be named as the
    # controller in Metadata (Kafka names any alive broker): wait for it to
    # be fenced, as test_failover does.
    wait_until("the survivors fence node %d" % victim,
               lambda: all(victim not in node_brokers(n) for n in survivors), 30)

    later = [unique("snap-later") for _ in range(60)]
    for t in later:
        confluent_create(boot, t, partitions=1 + len(t) % 3)
    gone = early[:2]
    for t in gone:
        confluent_delete(boot, t)
    live = set(early[2:] + later)
    wait_topics_everywhere(c, sorted(live), nodes=survivors)
    wait_until("the survivors write a snapshot past offset %d" % killed_at,
               lambda: all(newest_checkpoint(n) > killed_at for n in survivors), 60)

    t0 = time.monotonic()
    c.start_node(victim)
    c.wait_formed()
    back = c.node(victim)
    wait_until("node %d lists exactly the live topics" % victim,
               lambda: {t for t in node_topics(back) if t.startswith("snap-")} == live, 60)
    caught_s = time.monotonic() - t0
    target = c.quorum()["high_watermark"]
    wait_until("node %d's metadata log reaches offset %d" % (victim, target),
               lambda: (lambda q: q is not None and q["voters"].get(victim, -1) >= target)(c.quorum()), 60)
    wait_until("node %d holds a snapshot past offset %d" % (victim, killed_at),
               lambda: newest_checkpoint(back) > killed_at, 60)
    after = unique("snap-after")
    confluent_create(boot, after)
    wait_topics_everywhere(c, [after], nodes=[back])
    measured("node %d, down for 60 topic creations, lists the same topics %.2f s after its restart"
             % (victim, caught_s))

    if cluster_kind == "gregor":
        with open(back.log_path, errors="replace") as f:
            log = f.read()
        assert "installed the metadata snapshot" in log, log[-3000:]
        assert "the metadata image is now the leader's snapshot" in log, log[-3000:]
