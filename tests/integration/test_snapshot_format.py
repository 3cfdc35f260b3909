"""
KRaft metadata snapshot files (.checkpoint): Gregor writes what Apache
Kafka 4.4.0 reads, and reads what Kafka writes. Kafka is the oracle: its
own DumpLogSegments (--cluster-metadata-decoder) judges Gregor's file, and
a checkpoint made by a real Kafka node is fed to Gregor's reader.

Proves:
- test_kafka_reads_gregor_checkpoint: the sample checkpoint Gregor's
  snapshot writer makes (`test_snapfile --write-sample`, beside GREGOR_BIN:
  src/metadata/snapfile.c writing an image of 3 brokers, 3 topics with 2
  partitions and a config each, a metadata.version and a producer-id block)
  is read by Kafka's DumpLogSegments with no error: "Snapshot end offset:
  100, epoch: 5", every batch with partitionLeaderEpoch 5 and valid CRC,
  offsets 0..N contiguous, the SnapshotHeader (with the
  lastContainedLogTimestamp given) first, the SnapshotFooter last, and the
  topics' TopicRecord names, partitions, configs and brokers as written.
  `gregor dump-log --cluster-metadata-decoder` on the same file prints the
  same batch lines, the same control record lines and the same record
  lines for the record types it decodes in full.
- test_gregor_reads_kafka_checkpoint[static|dynamic]: a Kafka 4.4 node that
  snapshots every 1000 bytes of metadata
  (metadata.log.max.record.bytes.between.snapshots) gets 5 topics; its
  newest checkpoint holding all of them is copied. Twice: with a static
  quorum (controller.quorum.voters, kraft.version 0), whose checkpoints hold
  the SnapshotHeader alone in the first batch, and with a dynamic one
  (KIP-853: controller.quorum.bootstrap.servers, formatted --standalone,
  kraft.version 1), whose first batch holds the SnapshotHeader, then
  KRaftVersion {kRaftVersion: 1} and KRaftVoters control records.
  `gregor dump-log --cluster-metadata-decoder` on it exits 0 (it checks the
  file with Gregor's snapshot reader, snapfile_read: framing, CRCs, header
  first, footer last, contiguous offsets, epochs; other control records
  skipped) and lists the same TopicRecord names as Kafka's tool, with the
  same batch lines, control lines, and records (type and version of every one; the whole line for
  the types it decodes). The same holds for the bootstrap checkpoint
  (00000000000000000000-0000000000.checkpoint) `kafka-storage format` wrote.

Both are gregor_only: each runs a Gregor binary (the snapshot writer, or
gregor dump-log) against Kafka's tool or Kafka's files; nothing here
depends on the --broker choice.

Run (about 25 s, most of it Kafka's start-ups):
    GREGOR_BIN=build-snap/gregor /usr/bin/python3 -m pytest \\
        tests/integration/test_snapshot_format.py -q -p no:cacheprovider
(the writer test needs `make O=build-snap build-snap/tests/test_snapfile`.)
"""

import glob
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import GREGOR_BIN

import kafkaref

DUMP_LOG = "org.apache.kafka.tools.DumpLogSegments"
TOOL_TIMEOUT = 180          # seconds: a bound on one tool run
SNAPSHOT_DEADLINE = 120     # seconds Kafka may take to write the checkpoint
TOPICS = ["snapfmt-%d" % i for i in range(5)]
# The record types gregor dump-log decodes in full (the others: type and
# version only).
DECODED = {"TOPIC_RECORD", "REMOVE_TOPIC_RECORD", "CONFIG_RECORD", "FEATURE_LEVEL_RECORD",
           "PRODUCER_IDS_RECORD"}

BATCH_LINE = re.compile(
    r"^baseOffset: (?P<base>\d+) lastOffset: (?P<last>\d+) count: (?P<count>\d+) .*"
    r"partitionLeaderEpoch: (?P<ple>-?\d+) isTransactional: false isControl: (?P<control>true|false) "
    r".* isvalid: (?P<valid>true|false)$")
RECORD_LINE = re.compile(r"^\| offset: (?P<offset>\d+) CreateTime: -?\d+ keySize: -?\d+ valueSize: \d+ "
                         r"sequence: -1 headerKeys: \[\] (?P<rest>.*)$")


def kafka_dump(path):
    r = kafkaref.run_tool(DUMP_LOG, ["--cluster-metadata-decoder", "--files", path],
                          timeout=TOOL_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert "Exception" not in r.stdout + r.stderr and "Error" not in r.stdout + r.stderr, describe(r)
    return r.stdout


def gregor_dump(path):
    r = subprocess.run([GREGOR_BIN, "dump-log", "--cluster-metadata-decoder", "--files", path],
                       capture_output=True, text=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stderr == "", describe(r)
    return r.stdout


def describe(r):
    return "exit %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        r.returncode, r.stdout[-4000:], r.stderr[-4000:])


def parse(text):
    """(snapshot line, [batch]) of one file's dump; batch = the BATCH_LINE
    groups, its "line" and its "records": (offset, kind, payload, line) with
    kind "SnapshotHeader"/"SnapshotFooter"/... for control records and the
    metadata type for data records, payload the decoded JSON."""
    lines = text.splitlines()
    assert lines[0].startswith("Dumping "), text[:2000]
    assert lines[1].startswith("Snapshot end offset: "), text[:2000]
    batches = []
    for line in lines[2:]:
        m = BATCH_LINE.match(line)
        if m:
            batches.append(dict(m.groupdict(), line=line, records=[]))
            continue
        m = RECORD_LINE.match(line)
        assert m and batches, "not a line of the dump: %r" % line
        rest = m.group("rest")
        if rest.startswith("payload: "):
            payload = json.loads(rest[len("payload: "):])
            kind = payload["type"]
        else:
            kind, _, js = rest.partition(" ")
            payload = json.loads(js)
        batches[-1]["records"].append((int(m.group("offset")), kind, payload, line))
    return lines[1], batches


def check_snapshot_shape(batches, epoch):
    """Kafka's shape: offsets 0.. contiguous, every batch valid and in the
    snapshot's epoch, header first, footer last, nothing else in control
    batches but Kafka's own control records."""
    offsets = [r[0] for b in batches for r in b["records"]]
    assert offsets == list(range(len(offsets)))
    for b in batches:
        assert b["valid"] == "true" and int(b["ple"]) == epoch, b["line"]
        assert int(b["count"]) == len(b["records"]), b["line"]
    records = [r for b in batches for r in b["records"]]
    assert batches[0]["control"] == "true" and records[0][1] == "SnapshotHeader", records[0][3]
    assert batches[-1]["control"] == "true" and records[-1][1] == "SnapshotFooter", records[-1][3]
    assert records[-1][2] == {"version": 0}
    for b in batches[1:-1]:
        for r in b["records"]:
            assert r[1] not in ("SnapshotHeader", "SnapshotFooter"), r[3]
            assert (b["control"] == "true") == (" payload: " not in r[3]), r[3]
    return records


def topic_names(records):
    return [r[2]["data"]["name"] for r in records if r[1] == "TOPIC_RECORD"]


def compare_dumps(kafka_text, gregor_text):
    """gregor dump-log prints what Kafka's tool prints: the snapshot line,
    every batch line, every control record line, the type and version of
    every metadata record and the whole line of those it decodes."""
    k_snap, k_batches = parse(kafka_text)
    g_snap, g_batches = parse(gregor_text)
    assert g_snap == k_snap
    assert [b["line"] for b in g_batches] == [b["line"] for b in k_batches]
    for kb, gb in zip(k_batches, g_batches):
        assert len(gb["records"]) == len(kb["records"]), kb["line"]
        for (ko, kk, kp, kl), (go, gk, gp, gl) in zip(kb["records"], gb["records"]):
            assert (go, gk) == (ko, kk), (kl, gl)
            if kb["control"] == "true" or kk in DECODED:
                assert gl == kl
            else:
                assert gp["version"] == kp["version"], (kl, gl)
                assert gl.split(" payload: ")[0] == kl.split(" payload: ")[0]
    return [r for b in k_batches for r in b["records"]]


@pytest.mark.gregor_only("Gregor's snapshot writer (test_snapfile --write-sample) judged by Kafka's tool")
@pytest.mark.timeout(300)
def test_kafka_reads_gregor_checkpoint(tmp_path):
    writer = os.path.join(os.path.dirname(GREGOR_BIN), "tests", "test_snapfile")
    assert os.access(writer, os.X_OK), \
        "%s is missing: build it with make O=<dir> <dir>/tests/test_snapfile" % writer
    r = subprocess.run([writer, "--write-sample", str(tmp_path)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, describe(r)
    path = r.stdout.strip()
    assert path == str(tmp_path / "00000000000000000100-0000000005.checkpoint"), describe(r)
    assert not glob.glob(str(tmp_path / "*.part"))

    text = kafka_dump(path)
    snap, batches = parse(text)
    assert snap == "Snapshot end offset: 100, epoch: 5"
    records = check_snapshot_shape(batches, 5)
    assert records[0][2] == {"version": 0, "lastContainedLogTimestamp": 1796593497909}
    assert [r[1] for r in records].count("SnapshotHeader") == 1
    # what the sample holds (tests/unit/test_snapfile.c sample_records)
    assert topic_names(records) == ["snap-topic-0", "snap-topic-1", "snap-topic-2"]
    ids = {r[2]["data"]["topicId"]: r[2]["data"]["name"] for r in records if r[1] == "TOPIC_RECORD"}
    parts = sorted((ids[r[2]["data"]["topicId"]], r[2]["data"]["partitionId"], r[2]["data"]["leader"])
                   for r in records if r[1] == "PARTITION_RECORD")
    assert parts == [("snap-topic-%d" % t, p, 1 + p % 2) for t in range(3) for p in range(2)]
    configs = [(r[2]["data"]["resourceName"], r[2]["data"]["name"], r[2]["data"]["value"])
               for r in records if r[1] == "CONFIG_RECORD"]
    assert configs == [("snap-topic-%d" % t, "retention.ms", "86400000") for t in range(3)]
    brokers = [(r[2]["data"]["brokerId"], r[2]["data"]["rack"], r[2]["data"]["fenced"])
               for r in records if r[1] == "REGISTER_BROKER_RECORD"]
    assert brokers == [(1, None, False), (2, "rack-b", False), (3, None, True)]
    features = [r[2]["data"] for r in records if r[1] == "FEATURE_LEVEL_RECORD"]
    assert features == [{"name": "metadata.version", "featureLevel": 21}]
    pids = [r[2]["data"]["nextProducerId"] for r in records if r[1] == "PRODUCER_IDS_RECORD"]
    assert pids == [5000]

    compare_dumps(text, gregor_dump(path))


class DynamicQuorumNode(kafkaref.KafkaNode):
    """A node of a dynamic quorum (KIP-853): controller.quorum.bootstrap.servers
    instead of controller.quorum.voters, formatted with --standalone (it is
    the first voter), so kraft.version is 1."""

    def properties(self):
        props = super().properties()
        del props["controller.quorum.voters"]
        props["controller.quorum.bootstrap.servers"] = "127.0.0.1:%d" % self.controller_port
        return props

    def format(self):
        cfg = os.path.join(self.dir, "tools-log4j2.yaml")
        kafkaref.tool_log4j_config(cfg)
        cmd = kafkaref.java_cmd("kafka.tools.StorageTool",
                                ["format", "-t", self.cluster.cluster_id, "-c", self.props_path,
                                 "--standalone"],
                                extra_jvm=["-Xmx256m", "-XX:TieredStopAtLevel=1"], log_config=cfg)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, describe(r)


def wait_checkpoint_with(meta_dir, names, dest):
    """Copy the newest checkpoint of meta_dir into dest once one exists
    whose records name every topic in names; its path."""
    deadline = time.monotonic() + SNAPSHOT_DEADLINE
    seen = []
    while time.monotonic() < deadline:
        files = sorted(glob.glob(os.path.join(meta_dir, "*.checkpoint")))
        if files:
            newest = files[-1]
            copy = os.path.join(dest, os.path.basename(newest))
            try:
                shutil.copyfile(newest, copy)
            except FileNotFoundError:  # Kafka deleted it for a newer one
                continue
            if all(n.encode() in open(copy, "rb").read() for n in names):
                return copy
            seen.append(os.path.basename(newest))
            os.unlink(copy)
        time.sleep(1)
    raise AssertionError("no checkpoint naming all of %s in %s within %d s (saw %s)"
                         % (names, meta_dir, SNAPSHOT_DEADLINE, sorted(set(seen))))


@pytest.mark.gregor_only("Gregor's snapshot reader (gregor dump-log) on a checkpoint a Kafka node wrote")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("quorum", ["static", "dynamic"])
def test_gregor_reads_kafka_checkpoint(tmp_path, quorum):
    from kafka.admin import KafkaAdminClient, NewTopic
    cluster = kafkaref.KafkaCluster(str(tmp_path / "kafka"), nodes=1, heap="512m",
                                    overrides={"metadata.log.max.record.bytes.between.snapshots": 1000})
    if quorum == "dynamic":
        n = cluster.nodes[0]
        cluster.nodes[0] = DynamicQuorumNode(cluster, n.node_id, n.port, n.controller_port)
    copies = tmp_path / "copies"
    copies.mkdir()
    try:
        cluster.start()
        meta = os.path.join(cluster.nodes[0].data_dir, "__cluster_metadata-0")
        # the bootstrap snapshot `kafka-storage format` wrote, before Kafka
        # may clean it away
        (tmp_path / "bootstrap").mkdir()
        boot_copy = str(tmp_path / "bootstrap" / "00000000000000000000-0000000000.checkpoint")
        shutil.copyfile(os.path.join(meta, os.path.basename(boot_copy)), boot_copy)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=60000)
        try:
            admin.create_topics([NewTopic(t, 3, 1) for t in TOPICS], timeout_ms=60000)
        finally:
            admin.close()
        path = wait_checkpoint_with(meta, TOPICS, str(copies))
    finally:
        cluster.stop()
        cluster.kill()

    text = kafka_dump(path)
    snap, batches = parse(text)
    end, epoch = (int(x) for x in re.match(r"Snapshot end offset: (\d+), epoch: (\d+)$", snap).groups())
    assert os.path.basename(path) == "%020d-%010d.checkpoint" % (end, epoch)
    check_snapshot_shape(batches, epoch)
    check_header_batch(batches, quorum, cluster.nodes[0].controller_port)
    records = compare_dumps(text, gregor_dump(path))
    assert sorted(topic_names(records)) == sorted(TOPICS)

    boot_text = kafka_dump(boot_copy)
    snap, batches = parse(boot_text)
    assert snap == "Snapshot end offset: 0, epoch: 0"
    check_snapshot_shape(batches, 0)
    check_header_batch(batches, quorum, cluster.nodes[0].controller_port)
    records = compare_dumps(boot_text, gregor_dump(boot_copy))
    assert topic_names(records) == []
    assert any(r[1] == "FEATURE_LEVEL_RECORD" for r in records)


def check_header_batch(batches, quorum, controller_port):
    """What Kafka 4.4 puts in a checkpoint's first batch: the header alone
    with a static quorum; with a dynamic one, also the kraft.version and
    the voter set (this node alone)."""
    kinds = [r[1] for r in batches[0]["records"]]
    if quorum == "static":
        assert kinds == ["SnapshotHeader"]
        return
    assert kinds == ["SnapshotHeader", "KRaftVersion", "KRaftVoters"]
    assert batches[0]["records"][1][2] == {"version": 0, "kRaftVersion": 1}
    voters = batches[0]["records"][2][2]["voters"]
    assert [(v["voterId"], v["endpoints"]) for v in voters] == \
        [(1, [{"name": "CONTROLLER", "host": "127.0.0.1", "port": controller_port}])]
