"""
Fault schedules on 3 combined nodes (issue 12): nothing acknowledged with
acks=all is lost, duplicated or reordered, whatever happens to one broker.

Each test is one schedule on the run's cluster (conftest.py: --schedules N,
kinds in turn, seed S + i). It creates a topic of its own: 3 partitions,
replication factor 3 (a replica assignment in which one node, "the
follower", leads no partition), min.insync.replicas=2, and checks first
(faulttest.precheck, NeedsReplication otherwise) that every partition's ISR
lists the 3 nodes within 30 s, and, once per cluster, that an idempotent
acks=all producer gets records acknowledged. A broker without replication
fails there, fast.

Then two idempotent acks=all producers (confluent-kafka 2.16 in build/venv,
tests/fault/producer.py) send 100 numbered records per second each while
the schedule runs, with random timings from its seed:

  kill_leader       kill -9 the leader of a random partition; once the
                    survivors name new leaders, restart it
  kill_follower     kill -9 the follower (a node that leads no partition of
                    the topic) and restart it a few seconds later
  sigstop_follower  SIGSTOP the follower for 2-6 s, then SIGCONT
  cut_leader        cut the leader of a random partition off its peers
                    (nftables, localcluster.CutOff; skipped, saying why,
                    when not root or without nft); once the majority names
                    other leaders, wait 1-3 s and heal
  rolling_restart   SIGTERM each node in turn (random order), restart it,
                    wait until it is back in every ISR

After every fault the test waits until the ISR holds the 3 nodes again, and
the producers go on for 1-2 s: every partition must acknowledge records
produced after the schedule. The producers stop and flush: no delivery may
fail (message.timeout.ms is 2 minutes; retries are the client's job), no
fatal idempotence error. Then checker.py reads every partition back from
offset 0 to its high watermark and counts acknowledged records lost,
misplaced (not at their acknowledged offset), duplicated and out of order
per producer and partition: all must be 0.

Failover time (kill_leader, and cut_leader separately): from the kill -9
(the cut) to the first acknowledgement of a record produced after the
leader was gone (dead, or its nftables rules in place), on each partition
it led; the worst of them per schedule. On a cut, the test's clients still
reach the cut node (only its traffic with its peers is dropped): on Kafka
the producer's requests to it are answered only once it is healed and
learns it lost the leadership (or after request.timeout.ms, 30 s), so that
failover ends with the heal. The run's summary prints every schedule's line and the median and
max failover of the kill_leader schedules (and of the cut_leader ones).
"""

import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import checker
import localcluster
from faulttest import (PARTITIONS, Load, assignment, create_topic, leader_of, partitions_of,
                       precheck, read_back, restore, unique, wait_isr_back, wait_new_leaders)


# ---------------------------------------------------------------- schedules
# Each takes the cluster, the topic, the follower and the schedule's random
# generator, runs while the producers produce, and returns what it did:
# {"what": text, "t_fault": time.time() of the fault, "t_gone": when the
# leader was surely gone (None: no leader was hit), "led": partitions the
# victim led}. Each leaves every node running and in every ISR.

def kill_leader(c, topic, follower, rng):
    time.sleep(rng.uniform(1, 3))
    q = rng.randrange(PARTITIONS)
    victim = leader_of(c, topic, q)
    led = sorted(p for p, v in partitions_of(c, topic).items() if v[0] == victim)
    t_fault = time.time()
    c.kill9(victim)                       # returns once the process is gone
    t_gone = time.time()
    moved_s = wait_new_leaders(c, topic, victim, led)
    time.sleep(rng.uniform(0.5, 3))
    c.start_node(victim)
    up_s = c.wait_formed()
    back_s = wait_isr_back(c, topic)
    return {"what": "kill -9 leader %d of %s, new leaders named after %.1f s, restarted: "
                    "up after %.1f s, in every ISR %.1f s later" % (victim, led, moved_s, up_s,
                                                                   back_s),
            "t_fault": t_fault, "t_gone": t_gone, "led": led}


def kill_follower(c, topic, follower, rng):
    time.sleep(rng.uniform(1, 3))
    t_fault = time.time()
    c.kill9(follower)
    down = rng.uniform(2, 6)
    time.sleep(down)
    c.start_node(follower)
    up_s = c.wait_formed()
    back_s = wait_isr_back(c, topic)
    return {"what": "kill -9 follower %d, restarted after %.1f s: up after %.1f s, in every "
                    "ISR %.1f s later" % (follower, down, up_s, back_s),
            "t_fault": t_fault, "t_gone": None, "led": []}


def sigstop_follower(c, topic, follower, rng):
    time.sleep(rng.uniform(1, 3))
    node = c.node(follower)
    t_fault = time.time()
    node.signal(signal.SIGSTOP)
    stopped = rng.uniform(2, 6)
    try:
        time.sleep(stopped)
    finally:
        node.signal(signal.SIGCONT)
    back_s = wait_isr_back(c, topic)
    return {"what": "SIGSTOP follower %d for %.1f s, in every ISR %.1f s after SIGCONT"
                    % (follower, stopped, back_s), "t_fault": t_fault, "t_gone": None,
            "led": []}


def cut_leader(c, topic, follower, rng):
    time.sleep(rng.uniform(1, 3))
    q = rng.randrange(PARTITIONS)
    victim = leader_of(c, topic, q)
    led = sorted(p for p, v in partitions_of(c, topic).items() if v[0] == victim)
    t_fault = time.time()
    cut = localcluster.CutOff(c, victim)
    t_cut = time.time()                   # the rules are in place: nothing gets through now
    try:
        # The majority fences the cut node once its broker session expires
        # (broker.session.timeout.ms; longer when the cut node was the
        # active controller: an election comes first) and elects leaders.
        moved_s = wait_new_leaders(c, topic, victim, led)
        time.sleep(rng.uniform(1, 3))
    finally:
        cut.heal()
    held = time.time() - t_fault
    back_s = wait_isr_back(c, topic)
    return {"what": "leader %d of %s cut off, new leaders named after %.1f s, healed after "
                    "%.1f s, in every ISR %.1f s later" % (victim, led, moved_s, held, back_s),
            "t_fault": t_fault, "t_gone": t_cut, "led": led}


def rolling_restart(c, topic, follower, rng):
    order = rng.sample([n.node_id for n in c.nodes], len(c.nodes))
    time.sleep(rng.uniform(1, 3))
    t_fault = time.time()
    steps = []
    for node_id in order:
        t0 = time.monotonic()
        clean = c.node(node_id).stop()    # SIGTERM; SIGKILL after 30 s
        c.start_node(node_id)
        c.wait_formed()
        wait_isr_back(c, topic)
        steps.append("%d%s %.0fs" % (node_id, "" if clean else " (SIGKILLed)",
                                     time.monotonic() - t0))
        time.sleep(rng.uniform(0.5, 2))
    return {"what": "rolling restart (SIGTERM) %s" % ", ".join(steps), "t_fault": t_fault,
            "t_gone": None, "led": []}


SCHEDULES = {f.__name__: f for f in (kill_leader, kill_follower, sigstop_follower, cut_leader,
                                     rolling_restart)}


def nftables_usable():
    """None when this process can add and delete an nftables table, else why not."""
    if os.geteuid() != 0:
        return "needs root to install nftables rules (running as uid %d)" % os.geteuid()
    if shutil.which("nft") is None:
        return "nft not found (apt-get install nftables)"
    table = "gregor_fault_probe_%d" % os.getpid()
    r = subprocess.run(["nft", "add", "table", "inet", table], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        return "nft cannot add a table here: %s" % r.stderr.strip()
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, timeout=30)
    return None


# ---------------------------------------------------------------- the test

def failover_times(results, fault):
    """{partition: seconds from the fault to the first acknowledgement of a
    record produced after t_gone} for the partitions the victim led (None
    where no such record was acknowledged)."""
    out = {}
    for q in fault["led"]:
        acks = [a[4] for r in results.values() for a in r["acked"]
                if a[1] == q and a[3] > fault["t_gone"]]
        out[q] = min(acks) - fault["t_fault"] if acks else None
    return out


def test_schedule(schedule, fault_cluster, fault_report):
    index, kind, seed = schedule
    if kind == "cut_leader":
        why = nftables_usable()
        if why:
            pytest.skip("cut_leader: " + why)
    rng = random.Random(seed)
    c = fault_cluster.cluster
    restore(c)
    topic = unique("fault-%02d-%s" % (index, kind.replace("_", "-")))
    follower = rng.choice([n.node_id for n in c.nodes])
    create_topic(c, topic, assignment(rng, follower))
    precheck(fault_cluster, topic)

    t0 = time.monotonic()
    load = Load(c, topic, fault_cluster.workdir, fault_cluster.client)
    try:
        load.wait_ready()
        fault = SCHEDULES[kind](c, topic, follower, rng)
        t_after = time.time()
        time.sleep(rng.uniform(1, 2))
        results = load.stop()
    finally:
        load.kill()
    read = read_back(c.bootstrap, topic, PARTITIONS)
    acked = [(name, a[0], a[1], a[2]) for name, r in results.items() for a in r["acked"]]
    report = checker.check(acked, read)
    failed = [f for r in results.values() for f in r["failed"]]
    unresolved = sum(r["unresolved"] for r in results.values())
    fatal = [f for r in results.values() for f in r["fatal"]]
    fo = failover_times(results, fault) if fault["t_gone"] is not None else {}
    worst = None if not fo or None in fo.values() else max(fo.values())
    line = "%02d %-16s seed %d: %s; failed deliveries %d; %s%s; %.0f s" % (
        index, kind, seed, checker.summary(report), len(failed) + unresolved, fault["what"],
        "; failover %s" % ", ".join("p%d %s" % (q, "none" if s is None else "%.2f s" % s)
                                    for q, s in sorted(fo.items())) if fo else "",
        time.monotonic() - t0)
    fault_report(line, kind, worst)

    assert checker.ok(report), "%s: %s; examples: %s" % (topic, checker.summary(report),
                                                        report.examples)
    assert not fatal, "fatal producer errors: %s" % fatal
    assert not failed and not unresolved, (
        "deliveries failed (%d, first: %s) or never reported (%d)"
        % (len(failed), failed[:3], unresolved))
    for q, s in fo.items():
        assert s is not None, "partition %d: no record produced after the fault was " \
                              "acknowledged" % q
    after = {q: sum(1 for r in results.values() for a in r["acked"]
                    if a[1] == q and a[3] > t_after) for q in range(PARTITIONS)}
    assert all(after.values()), ("records produced after the schedule ended acknowledged "
                                 "per partition: %s" % after)
