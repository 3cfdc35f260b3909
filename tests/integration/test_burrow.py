"""Burrow (linkedin/Burrow, Debian's 1.2.1: /usr/bin/Burrow) reports a
consumer group's lag over its HTTP API.

Burrow 1.2.1 learns a group's committed offsets by reading
__consumer_offsets itself (its consumer module: Fetch, and its own decoder
of the record values, which knows OffsetCommitValue versions 0, 1 and 3)
and each partition's end by sending ListOffsets v0 every offset-refresh
(its cluster module builds sarama.OffsetRequest{} without a Version). Its
client profile's kafka-version is "2.1.0", the newest 1.2.1 knows: with it
Debian's sarama 1.22.1 fetches with Fetch v4 and asks the first offset with
ListOffsets v1. Anything older than "0.11.0" makes it fetch with Fetch v0-3
(the pre-0.11 message formats), which Kafka 4 removed (KIP-896) and Gregor
refuses as Kafka 4 does.

Burrow 1.2.1 will not start without ZooKeeper: its zookeeper coordinator
(Burrow's own coordination: the notifier's lock) is configured
unconditionally and panics with "No Zookeeper servers specified"; no
setting avoids it. The test runs Debian's ZooKeeper 3.8
(ZooKeeperServerMain, loopback only, one per test); the Kafka brokers never
see it.

A group of two sarama members (tests/go/sarama) consumes and commits 90
records, 30 more are produced, and Burrow must list the group with each
partition's committed offset and lag (the 30 records spread over the
partitions). Two ways of committing:

- "default": sarama's default Version (2.8): OffsetCommit v8, no retention
  time. Kafka 4.4 writes OffsetCommitValue v4 (with the topic id; Burrow
  1.2.1 cannot decode it: "value version 4"); Gregor writes v3, as Kafka 3.9
  did.
- "retention": sarama at 2.0.0 with Consumer.Offsets.Retention = 1h:
  OffsetCommit v4 with retention_time_ms set. Both brokers write
  OffsetCommitValue v1 (with the expire timestamp), which Burrow 1.2.1
  decodes.

The versions each broker wrote are read back with Kafka's own
DumpLogSegments --offsets-decoder on the broker's __consumer_offsets
partition (Gregor's files are Kafka's format).

Against Gregor Burrow lists the group with the right offsets and lags.
Against Apache Kafka 4.4 it cannot: Kafka closes the connection on
ListOffsets v0 ("Received request for api with key 2 (ListOffsets) and
unsupported version 0"; Burrow logs "failed to fetch offsets from broker"
with sarama_error EOF), so Burrow never learns the topic's offsets and
never lists the group. The Kafka run asserts that failure and prints it.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import create_topic, free_port  # noqa: E402
from test_go_clients import SARAMA, go_bins, run  # noqa: E402,F401  (go_bins: fixture)
from test_groups_support import offsets_partition, wait_coordinator_ready  # noqa: E402
import kafka_tools_run  # noqa: E402
import kafkaref  # noqa: E402

BURROW = "/usr/bin/Burrow"
ZOOKEEPER_CP = "/usr/share/java/zookeeper.jar"  # Debian's zookeeper package
CLUSTER = "test"
GROUP = "burrow-group"
TOPIC = "burrow-lag"

COMMIT_STYLES = {
    "default": {},
    "retention": {"version": "2.0.0", "retention": "1h"},
}
# OffsetCommitValue version each broker writes for each style (see above).
VALUE_VERSION = {
    ("default", "kafka"): 4, ("default", "gregor"): 3,
    ("retention", "kafka"): 1, ("retention", "gregor"): 1,
}


def _wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("%s exited with %s before listening on %d" % (what, proc.returncode, port),
                        pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("%s not listening on %d after %d s" % (what, port, timeout), pytrace=False)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def zookeeper(tmp_path):
    """Debian's ZooKeeper 3.8 on a loopback port, for Burrow's own use."""
    for f in (BURROW, ZOOKEEPER_CP):
        if not os.path.exists(f):
            pytest.fail("%s missing: scripts/deps test installs Debian's burrow and zookeeper" % f,
                        pytrace=False)
    d = tmp_path / "zookeeper"
    (d / "data").mkdir(parents=True)
    port = free_port()
    (d / "zoo.cfg").write_text("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                               "admin.enableServer=false\nmaxClientCnxns=60\n" % (d / "data", port))
    log = open(d / "zookeeper.log", "wb")
    proc = subprocess.Popen(["java", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                             "-cp", ZOOKEEPER_CP, "org.apache.zookeeper.server.ZooKeeperServerMain",
                             str(d / "zoo.cfg")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc, "ZooKeeper")
        yield "127.0.0.1:%d" % port
    finally:
        _stop(proc)
        log.close()


class Burrow:
    def __init__(self, workdir, bootstrap, zk):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # topic-refresh / offset-refresh 1 s so the test does not wait for
        # the defaults (60 s, 10 s); start-latest=false: read
        # __consumer_offsets from the beginning.
        (self.dir / "burrow.toml").write_text("""\
[general]
pidfile="{dir}/burrow.pid"

[logging]
level="info"

[zookeeper]
servers=["{zk}"]
timeout=6
root-path="/burrow"

[client-profile.test]
client-id="burrow-test"
kafka-version="2.1.0"

[cluster.{cluster}]
class-name="kafka"
servers=["{bootstrap}"]
client-profile="test"
topic-refresh=1
offset-refresh=1

[consumer.{cluster}]
class-name="kafka"
cluster="{cluster}"
servers=["{bootstrap}"]
client-profile="test"
offsets-topic="__consumer_offsets"
start-latest=false

[httpserver.default]
address="127.0.0.1:{port}"

[storage.default]
class-name="inmemory"
workers=2
intervals=10
expire-group=604800
min-distance=1
""".format(dir=self.dir, zk=zk, cluster=CLUSTER, bootstrap=bootstrap, port=self.port))
        self.log_path = self.dir / "burrow.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BURROW, "--config-dir", str(self.dir)], cwd=str(self.dir),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, "Burrow")

    def get(self, path):
        """The JSON answer (Burrow answers 404 with a JSON body for an
        unknown group or topic)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            return json.loads(e.read())

    def log_lines(self):
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self):
        _stop(self.proc)
        self._log.close()


def dump_offsets_values(broker, group):
    """(value version, offset) of every offset commit of `group` in the
    broker's __consumer_offsets, read by Kafka's DumpLogSegments."""
    n = int(broker.overrides.get("offsets.topic.num.partitions", 50))
    pdir = broker.partition_dir("__consumer_offsets", offsets_partition(group, n))
    logs = sorted(str(p) for p in Path(pdir).glob("*.log"))
    assert logs, "no segment in %s" % pdir
    r = kafka_tools_run.run("org.apache.kafka.tools.DumpLogSegments",
                            ["--offsets-decoder", "--files", ",".join(logs)], timeout=120)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        m = re.search(r"key: (\{.*\}) payload: (\{.*\})$", line)
        if not m:
            continue
        key, payload = json.loads(m.group(1)), json.loads(m.group(2))
        if key["type"] == "1" and key["data"]["group"] == group:
            out.append((int(payload["version"]), payload["data"]["offset"],
                        key["data"]["partition"], payload["data"]))
    return out


# offsets.topic.num.partitions=5: Burrow's consumer (sarama 1.22) adds the
# __consumer_offsets partitions one at a time, each ListOffsets v1 waiting
# behind the previous long-poll Fetch (250 ms) on the same connection; with
# Kafka's 50 partitions Burrow needs some 12 s to read them all.
@pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0, offsets__topic__num__partitions=5)
@pytest.mark.parametrize("style", sorted(COMMIT_STYLES))
def test_burrow_group_lag(go_bins, broker, zookeeper, tmp_path, style):
    kafkaref.fetch(quiet=True)  # DumpLogSegments
    create_topic(broker.bootstrap, TOPIC, partitions=3)
    if broker.kind == "kafka":
        wait_coordinator_ready(broker)
    g = run(SARAMA, broker.bootstrap, "group", topic=TOPIC, group=GROUP, n=90,
            **COMMIT_STYLES[style]).ok()
    committed = {c["partition"]: c["offset"] for c in g.events("committed")
                 if c["via"] == "ListConsumerGroupOffsets"}
    assert sum(committed.values()) == 90, committed
    p = run(SARAMA, broker.bootstrap, "produce", topic=TOPIC, n=30).ok()
    lag = defaultdict(int)
    for x in p.events("produced"):
        lag[x["partition"]] += 1
    ends = {q: committed[q] + lag[q] for q in committed}

    values = dump_offsets_values(broker, GROUP)
    versions = sorted({v for v, _, _, _ in values})
    print("%s commits: OffsetCommitValue version(s) %s written by %s, e.g. %s"
          % (style, versions, broker.kind, json.dumps(values[-1][3])))
    latest = {}
    for v, off, q, data in values:
        latest[q] = off
        if v == 1:  # the retention time given in the commit, from the commit's time
            assert data["expireTimestamp"] - data["commitTimestamp"] == 3600 * 1000, data
    assert latest == committed, (latest, committed)
    assert versions == [VALUE_VERSION[(style, broker.kind)]], versions

    burrow = Burrow(tmp_path / "burrow", broker.bootstrap, zookeeper)
    try:
        if broker.kind == "gregor":
            _burrow_reports_lag(burrow, committed, ends, lag)
        else:
            _burrow_fails_on_kafka(burrow, broker, style)
    finally:
        burrow.stop()
        print("Burrow's log (warnings and errors):")
        for l in burrow.log_lines():
            if l.get("level") != "info":
                print("  " + json.dumps(l)[:400])


def _burrow_reports_lag(burrow, committed, ends, lag, timeout=30):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        consumers = burrow.get("/v3/kafka/%s/consumer" % CLUSTER)
        status = burrow.get("/v3/kafka/%s/consumer/%s/lag" % (CLUSTER, GROUP))["status"]
        parts = {x["partition"]: x for x in status.get("partitions") or []}
        last = (consumers, status)
        if (GROUP in consumers.get("consumers", [])
                and sorted(parts) == sorted(committed)
                and all(parts[q]["end"]["offset"] == committed[q] and parts[q]["current_lag"] == lag[q]
                        for q in committed)):
            break
        assert time.monotonic() < deadline, \
            "Burrow did not report the group's lag within %d s; last answers: %s" % (
                timeout, json.dumps(last)[:3000])
        time.sleep(0.5)
    print("Burrow: %s" % json.dumps(status))
    assert status["group"] == GROUP and status["cluster"] == CLUSTER, status
    assert status["totallag"] == 30 and status["partition_count"] == 3, status
    for q, x in parts.items():
        assert x["topic"] == TOPIC and x["end"]["lag"] == lag[q], x
    topic = burrow.get("/v3/kafka/%s/topic/%s" % (CLUSTER, TOPIC))
    assert topic["error"] is False and topic["offsets"] == [ends[q] for q in sorted(ends)], topic
    logs = burrow.log_lines()
    assert not [l for l in logs if l.get("level") == "error"], "Burrow logged errors"
    # Burrow 1.2.1 decodes Gregor's offset commits (only the group
    # metadata values, v3 as Kafka 3.9 and 4.4 write them, are beyond it).
    undecoded = [l for l in logs if l.get("msg") == "failed to decode" and l.get("message_type") == "offset"]
    assert not undecoded, undecoded[:3]


def _burrow_fails_on_kafka(burrow, broker, style, timeout=20):
    """Kafka 4.4 refuses ListOffsets v0 by closing the connection: Burrow
    never learns the topic's offsets, and never lists the group."""
    deadline = time.monotonic() + timeout
    while True:
        logs = burrow.log_lines()
        failures = [l for l in logs if l.get("msg") == "failed to fetch offsets from broker"]
        undecoded = [l for l in logs if l.get("msg") == "failed to decode" and l.get("message_type") == "offset"]
        # for "default" commits, also until Burrow has read (and failed to
        # decode) them
        if len(failures) >= 3 and (undecoded or style != "default"):
            break
        assert time.monotonic() < deadline, \
            "in %d s Burrow logged %d ListOffsets failures and %d undecodable offset commits" % (
                timeout, len(failures), len(undecoded))
        time.sleep(0.5)
    assert all(f.get("sarama_error") == "EOF" and f.get("coordinator") == "cluster" for f in failures), failures
    refusal = "UnsupportedVersionException: Received request for api with key 2 (ListOffsets) " \
              "and unsupported version 0"
    assert refusal in broker.log_text(), "Kafka's log does not say it refused ListOffsets v0"
    consumers = burrow.get("/v3/kafka/%s/consumer" % CLUSTER)
    status = burrow.get("/v3/kafka/%s/consumer/%s/lag" % (CLUSTER, GROUP))["status"]
    topic = burrow.get("/v3/kafka/%s/topic/%s" % (CLUSTER, TOPIC))
    print("Burrow against Kafka 4.4: %d 'failed to fetch offsets from broker' (sarama_error EOF); "
          "Kafka: %s" % (len(failures), refusal))
    print("  consumers: %s\n  lag: %s\n  topic: %s" % (json.dumps(consumers), json.dumps(status),
                                                        json.dumps(topic)))
    assert consumers["consumers"] == [], consumers
    assert status["status"] == "NOTFOUND" and status["partitions"] == [], status
    assert topic["error"] is True and topic["message"] == "cluster or topic not found", topic
    if style == "default":
        # and the commits it reads are beyond its decoder
        assert undecoded and all(l.get("version") == 4 and l.get("reason") == "value version"
                                 for l in undecoded), undecoded[:3]
    else:
        assert not undecoded, undecoded[:3]
