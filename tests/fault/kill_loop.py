#!/usr/bin/env python3
"""
kill -9 loop (issue 17): a broker killed at random moments under a
continuous acks=all producer, round after round, with every acknowledged
record checked after every restart.

Each round produces numbered records (tests/integration/crash_producer.py:
values v000000000, v000000001, ... to a topic of its own, 3 partitions),
kills the broker with SIGKILL after a random 1-5 s, stops the producer,
restarts the broker and times its recovery (until a Metadata request lists
every topic), then reads every topic of every round so far from the start
and checks each record acknowledged in any round: present, at its
acknowledged partition and offset, with its value. It reports per round:
acknowledged, lost (must be 0), duplicates (records written twice, which
acks=all without idempotence allows: a retry after a lost acknowledgement),
and the recovery time. Exit status 1 if anything acknowledged was lost.

    tests/fault/kill_loop.py [--rounds N] [--seed S] [--gregor PATH]

Everything runs on 127.0.0.1; each round is bounded in time.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PRODUCER = os.path.join(REPO, "tests", "integration", "crash_producer.py")
PARTITIONS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gregor:
    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.proc = None
        self.runs = 0

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        log = open(os.path.join(self.workdir, "broker-run%d.log" % self.runs), "wb")
        self.runs += 1
        self.proc = subprocess.Popen(
            [self.binary, "server", "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
             "--override", "log.dirs=" + os.path.join(self.workdir, "data"),
             "--override", "log.segment.bytes=1048576"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def wait_serving(bootstrap, topics, timeout=60):
    """Seconds until the broker lists every topic with a leader. The port is
    polled first, so that a client's reconnect backoff is not counted."""
    from confluent_kafka.admin import AdminClient
    t0 = time.monotonic()
    host, port = bootstrap.split(":")
    while time.monotonic() - t0 < timeout:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.01)
    while time.monotonic() - t0 < timeout:
        try:
            md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
            if all(t in md.topics and len(md.topics[t].partitions) == PARTITIONS and
                   all(p.leader >= 0 for p in md.topics[t].partitions.values()) for t in topics):
                return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("broker not serving %d s after restart" % timeout)


def read_acks(path):
    acks = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            p, o, v = line.split()
            acks.append((int(p), int(o), v))
    return acks


def read_topic(bootstrap, topic, timeout=60):
    """{(partition, offset): value} of everything in topic."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kill-loop-check",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    got, eof = {}, set()
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTITIONS)}
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + timeout
        while any(ends[p] > 0 and p not in eof for p in range(PARTITIONS)):
            if time.monotonic() > deadline:
                raise RuntimeError("reading %s timed out" % topic)
            for m in c.consume(num_messages=2000, timeout=0.5):
                if m.error() is not None:
                    if m.error().code() == -191:  # _PARTITION_EOF
                        if m.offset() >= ends[m.partition()]:
                            eof.add(m.partition())
                        continue
                    raise RuntimeError("consumer error: %s" % m.error())
                got[(m.partition(), m.offset())] = m.value().decode()
    finally:
        c.close()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--gregor", default=os.path.join(REPO, "build", "gregor"))
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="gregor-kill-loop-")
    print("kill -9 loop: %d rounds, seed %d, work dir %s" % (a.rounds, a.seed, work), flush=True)
    g = Gregor(a.gregor, work)
    g.start()
    wait_serving(g.bootstrap, [])
    from confluent_kafka.admin import AdminClient, NewTopic
    rounds, all_acks, total_lost = [], {}, 0
    print("%-6s %-8s %10s %6s %10s %10s" % ("round", "kill at", "acked", "lost", "duplicates",
                                           "recovery"))
    try:
        for r in range(a.rounds):
            topic = "kill-r%02d" % r
            admin = AdminClient({"bootstrap.servers": g.bootstrap})
            admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
            del admin
            wait_serving(g.bootstrap, [topic])
            acks_file = os.path.join(work, "acks-%02d.txt" % r)
            prod = subprocess.Popen([sys.executable, PRODUCER, g.bootstrap, topic,
                                     str(PARTITIONS), acks_file, "--max-seconds", "60"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            kill_after = rnd.uniform(1.0, 5.0)
            time.sleep(kill_after)
            g.kill9()
            prod.send_signal(signal.SIGTERM)
            try:
                prod.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prod.kill()
            all_acks[topic] = read_acks(acks_file)
            g.start()
            recovery_s = wait_serving(g.bootstrap, list(all_acks))
            lost = dups = 0
            for t, acks in all_acks.items():
                got = read_topic(g.bootstrap, t)
                for p, o, v in acks:
                    if got.get((p, o)) != v:
                        lost += 1
                if t == topic:
                    values = list(got.values())
                    dups = len(values) - len(set(values))
            total_lost += lost
            rounds.append((r, kill_after, len(all_acks[topic]), lost, dups, recovery_s))
            print("%-6d %7.2fs %10d %6d %10d %9.2fs" % rounds[-1], flush=True)
    finally:
        g.stop()
    acked = sum(x[2] for x in rounds)
    rec = sorted(x[5] for x in rounds)
    print("total: %d rounds, %d acknowledged, %d lost, %d duplicates; recovery median %.2f s, "
          "max %.2f s" % (len(rounds), acked, total_lost, sum(x[4] for x in rounds),
                          rec[len(rec) // 2] if rec else 0, rec[-1] if rec else 0))
    if total_lost == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("LOST acknowledged records; broker logs kept in %s" % work)
    return 1 if total_lost else 0


if __name__ == "__main__":
    sys.exit(main())
