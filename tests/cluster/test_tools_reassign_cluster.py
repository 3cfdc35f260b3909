"""
`gregor reassign-partitions` beside Kafka 4.4's ReassignPartitionsCommand on
a 4-node combined cluster, where replicas really move
(tests/integration/test_tools_reassign.py has the single-node cases).

Proves, both tools printing the same bytes where both run:
- --generate: the current assignment with every replica's log directory
  (each node's own, from DescribeLogDirs to that node), and a proposal of
  Kafka's shape: every partition of the topic, the replication factor
  kept, distinct brokers of the list;
- --execute (ours) moves a partition's replicas; --verify then says it
  completed;
- a reassignment stuck on a stopped broker: --list prints its replicas,
  adding and removing replicas; --verify says "still in progress" for it
  and "completed" for another; --execute refuses to start another without
  --additional (Kafka's sentence, exit 1); --cancel (ours) cancels it and
  --list then finds none.

Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import json
import os
import subprocess

import pytest

import localcluster
from clustertest import unique, wait_until
from test_reassign import alter_raw, create, wait_isr

pytestmark = pytest.mark.timeout(600)

CLASS = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"


def kafkas(bootstrap, *args):
    import sys
    sys.path.insert(0, os.path.join(localcluster.REPO, "tests", "reference"))
    import kafkaref
    kafkaref.fetch(quiet=True)
    return kafkaref.run_tool(CLASS, ["--bootstrap-server", bootstrap] + [str(a) for a in args], timeout=180)


def ours(bootstrap, *args):
    return subprocess.run([localcluster.GREGOR_BIN, "reassign-partitions", "--bootstrap-server", bootstrap] +
                          [str(a) for a in args], capture_output=True, text=True, timeout=120)


def show(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


def same(bootstrap, *args):
    """Both tools, the same exit status and stdout; ours says nothing on
    stderr. Returns our stdout."""
    k, g = kafkas(bootstrap, *args), ours(bootstrap, *args)
    assert (g.returncode, g.stdout) == (k.returncode, k.stdout), \
        "%s\nours:\n%s\nKafka's:\n%s" % (args, show(g), show(k))
    assert g.returncode == 0 and g.stderr == "", show(g)
    return g.stdout


def plan(tmp_path, topic, targets):
    f = tmp_path / ("%s.json" % unique("plan"))
    f.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "replicas": r} for p, r in targets.items()]}))
    return f


def test_generate_execute_list_verify_cancel(start_cluster, tmp_path):
    c = start_cluster("combined", nodes=4)
    topic = unique("rtool")
    assignment = [[1, 2, 3], [2, 3, 4], [1, 2, 3]]
    create(c.bootstrap, topic, assignment)
    wait_isr(c.bootstrap, topic, {p: r for p, r in enumerate(assignment)})
    dirs = {n: c.node(n).data_dir for n in (1, 2, 3, 4)}

    # --generate: the current assignment, byte for byte; the proposal's shape
    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"topics": [{"topic": topic}]}))
    for r in (kafkas(c.bootstrap, "--generate", "--topics-to-move-json-file", topics, "--broker-list", "1,2,3,4"),
              ours(c.bootstrap, "--generate", "--topics-to-move-json-file", topics, "--broker-list", "1,2,3,4")):
        assert r.returncode == 0, show(r)
        lines = r.stdout.split("\n")
        assert lines[0] == "Current partition replica assignment" and lines[2] == "", show(r)
        assert lines[3] == "Proposed partition reassignment configuration" and lines[5:] == [""], show(r)
        current = json.loads(lines[1])
        assert current == {"version": 1, "partitions": [
            {"topic": topic, "partition": p, "replicas": rs, "log_dirs": [dirs[n] for n in rs]}
            for p, rs in enumerate(assignment)]}, show(r)
        proposed = json.loads(lines[4])["partitions"]
        assert [(e["topic"], e["partition"]) for e in proposed] == [(topic, p) for p in range(3)], show(r)
        for e in proposed:
            assert len(e["replicas"]) == 3 and len(set(e["replicas"])) == 3, show(r)
            assert set(e["replicas"]) <= {1, 2, 3, 4} and e["log_dirs"] == ["any"] * 3, show(r)

    # --execute (ours) really moves partition 0; --verify sees it completed
    move = plan(tmp_path, topic, {0: [2, 3, 4]})
    r = ours(c.bootstrap, "--execute", "--reassignment-json-file", move)
    assert r.returncode == 0, show(r)
    assert r.stdout.endswith("Successfully started partition reassignment for %s-0\n" % topic), show(r)
    wait_isr(c.bootstrap, topic, {0: [2, 3, 4]})
    done = "Status of partition reassignment:\nReassignment of partition %s-0 is completed.\n\n" % topic
    wait_until("--verify says completed",
               lambda: ours(c.bootstrap, "--verify", "--reassignment-json-file", move,
                            "--preserve-throttles").stdout == done, 60, interval=1.0)
    assert same(c.bootstrap, "--verify", "--reassignment-json-file", move, "--preserve-throttles") == done

    # a reassignment that cannot finish: the broker it adds is down (raw
    # request: both tools refuse a target broker that is not alive)
    assert c.node(4).stop()
    live = c.bootstrap_of([1, 2, 3])
    err, msg = alter_raw(c.node(1).client_port, topic, 2, [2, 4, 3])
    assert err == 0, (err, msg)
    listed = "Current partition reassignments:\n%s-2: replicas: 2,4,3,1. adding: 4. removing: 1.\n" % topic
    wait_until("--list shows it", lambda: ours(live, "--list").stdout == listed, 60, interval=1.0)
    assert same(live, "--list") == listed
    stuck = plan(tmp_path, topic, {2: [2, 4, 3], 1: [2, 3, 4]})
    # (--preserve-throttles: clearing them would ask the stopped broker too)
    assert same(live, "--verify", "--reassignment-json-file", stuck, "--preserve-throttles") == (
        "Status of partition reassignment:\n"
        "Reassignment of partition %s-1 is completed.\n"
        "Reassignment of partition %s-2 is still in progress.\n\n" % (topic, topic))
    r = ours(live, "--execute", "--reassignment-json-file", plan(tmp_path, topic, {0: [1, 2, 3]}))
    assert r.returncode == 1 and r.stdout.startswith("Cannot execute because there is an existing partition "
                                                     "assignment.  Use --additional"), show(r)
    r = ours(live, "--cancel", "--reassignment-json-file", stuck, "--preserve-throttles")
    assert (r.returncode, r.stdout) == (0, "Successfully cancelled partition reassignment for: %s-2\n"
                                           "None of the specified partition moves are active." % topic), show(r)
    wait_until("--list finds none", lambda: ours(live, "--list").stdout == "No partition reassignments found.\n",
               60, interval=1.0)
    assert same(live, "--list") == "No partition reassignments found.\n"
