"""The Go clients: IBM/sarama 1.61.1 and segmentio/kafka-go 0.4.51 (pinned
in tests/go/go.mod), each with produce, consume, a consumer group with
commits, and their admin calls, against the broker under test.

The clients are Go programs (tests/go/sarama, tests/go/kafkago, built into
build/go/ by scripts/gobuild, which the `go_bins` fixture runs) taking the
bootstrap address and a scenario name and printing JSON lines; this file
runs them and checks what they saw: records back exactly (partition,
offset, key, value, header), offsets contiguous per partition, committed
offsets equal to what was consumed (read back through two APIs), the group
described while its two members hold the partitions, admin results and
errors.

sarama runs twice: at its default Version (sarama 1.61.1 defaults to Kafka
2.8, what a user who never sets Config.Version gets) and at 4.0.0 with an
idempotent producer. Where a client speaks a version Kafka 4 removed
(KIP-896) the Kafka side asserts the refusal, and Gregor must refuse it the
same way (`test_sarama_pre_kip896_versions_refused`).
"""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
from conftest import create_topic, scaled  # noqa: E402
from test_groups_support import wait_coordinator_ready  # noqa: E402

GO_BIN = REPO / "build" / "go"
SARAMA = GO_BIN / "sarama-check"
KAFKAGO = GO_BIN / "kafkago-check"

N = scaled(300)


@pytest.fixture(scope="session")
def go_bins():
    """Builds build/go/* with scripts/gobuild (a second or two once Go's
    caches are warm); without Go this fails, saying what is missing."""
    r = subprocess.run([str(REPO / "scripts" / "gobuild")], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        pytest.fail("scripts/gobuild failed (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr),
                    pytrace=False)
    for b in (SARAMA, KAFKAGO):
        assert os.access(b, os.X_OK), b


class Run:
    def __init__(self, cmd, proc):
        self.cmd, self.rc, self.stderr = cmd, proc.returncode, proc.stderr
        self.lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]

    def events(self, name):
        return [l for l in self.lines if l["event"] == name]

    def one(self, name):
        ev = self.events(name)
        assert len(ev) == 1, "%d %r lines in %s" % (len(ev), name, self.describe())
        return ev[0]

    def describe(self):
        tail = [l for l in self.lines if l["event"] not in ("produced", "consumed", "record")]
        return "%s (exit %s)\n%s\nstderr:\n%s" % (
            " ".join(self.cmd), self.rc, "\n".join(json.dumps(l) for l in tail[-40:]),
            self.stderr[-3000:])

    def ok(self):
        assert self.rc == 0 and self.lines and self.lines[-1]["event"] == "done", self.describe()
        return self


def run(prog, bootstrap, scenario, timeout=75, **flags):
    cmd = [str(prog), "-brokers", bootstrap, "-timeout", "%ds" % (timeout - 10)]
    for k, v in flags.items():
        if isinstance(v, bool):  # Go's flag package: -name=false, never "-name false"
            cmd.append("-%s=%s" % (k, "true" if v else "false"))
        elif v is not None:
            cmd += ["-" + k, str(v)]
    cmd.append(scenario)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return Run(cmd, p)


def _ready(broker):
    if broker.kind == "kafka":
        wait_coordinator_ready(broker)


# ---------------------------------------------------------------------------
# checks shared by both clients
# ---------------------------------------------------------------------------

def check_records(produced, consumed, n, ends=None):
    """produced: [(partition, offset, key, value)] or None (kafka-go's Writer
    does not return offsets); consumed: "record" lines of a consume run."""
    got = sorted((r["partition"], r["offset"], r["key"], r["value"]) for r in consumed)
    assert len(got) == n, "consumed %d records, produced %d" % (len(got), n)
    by_part = defaultdict(list)
    for p, o, k, v in got:
        by_part[p].append(o)
    for p, offs in by_part.items():
        assert offs == list(range(len(offs))), "partition %d offsets %s" % (p, offs[:20])
    key_part = {}
    for p, o, k, v in got:
        assert key_part.setdefault(k, p) == p, "key %s in partitions %d and %d" % (k, key_part[k], p)
    assert len(by_part) > 1, "all records in one partition: %s" % dict(by_part).keys()
    values = sorted(int(v.split("-")[1]) for _, _, _, v in got)
    assert values == list(range(n))
    for r in consumed:
        i = int(r["value"].split("-")[1])
        assert r["key"] == "key-%d" % (i % 17), r
        assert r["headers"] == {"i": str(i)}, r
    if produced is not None:
        assert sorted(produced) == got, "records read differ from the records acknowledged"
    if ends is not None:
        assert {p: len(o) for p, o in by_part.items()} == {p: e for p, e in ends.items() if e}


def check_group(r, n, partitions, commit_views):
    """A group run: both members held partitions in one generation, every
    record consumed once, the commits equal the partitions' ends."""
    stable = r.one("stable")
    desc = r.one("described")
    assert desc["error"] is None and desc["state"] == "Stable", desc
    assert len(desc["members"]) == 2, desc
    held = sorted(p for m in desc["members"] for p in m["assignment"])
    assert held == list(range(partitions)), desc
    assert all(m["assignment"] for m in desc["members"]), desc
    tot = r.one("consumed_total")
    assert tot == {"event": "consumed_total", "unique": n, "duplicates": 0}, tot
    consumed = r.events("consumed")
    ends = defaultdict(int)
    for c in consumed:
        ends[c["partition"]] = max(ends[c["partition"]], c["offset"] + 1)
    assert sum(ends.values()) == n and len(ends) > 1, dict(ends)
    for via in commit_views:
        got = {c["partition"]: c["offset"] for c in r.events("committed") if c["via"] == via}
        errs = [c for c in r.events("committed") if c["via"] == via and c.get("error")]
        assert not errs, errs
        assert got == {p: ends.get(p, -1) for p in range(partitions)}, (via, got, dict(ends))
    after = r.one("described_after")
    assert after["state"] == "Empty" and after["members"] == 0, after
    return stable, desc


# ---------------------------------------------------------------------------
# sarama
# ---------------------------------------------------------------------------

SARAMA_VERSIONS = [
    # what a user who never sets Config.Version gets: sarama 1.61.1's
    # DefaultVersion, Kafka 2.8
    pytest.param({"version": "default"}, id="default"),
    pytest.param({"version": "4.0.0", "idempotent": True}, id="v4.0.0-idempotent"),
]


@pytest.mark.parametrize("ver", SARAMA_VERSIONS)
def test_sarama_produce_consume(go_bins, broker, ver):
    """SyncProducer (acks all; idempotent at 4.0.0), then a partition
    consumer per partition reads every record back."""
    topic = "sarama-pc"
    create_topic(broker.bootstrap, topic, partitions=3)
    p = run(SARAMA, broker.bootstrap, "produce", topic=topic, n=N, **ver).ok()
    cfg = p.one("config")
    if ver["version"] == "default":
        assert cfg["version"] == cfg["sarama_default"] == "2.8.0", cfg
    assert cfg["idempotent"] == bool(ver.get("idempotent")), cfg
    produced = [(x["partition"], x["offset"], x["key"], x["value"]) for x in p.events("produced")]
    c = run(SARAMA, broker.bootstrap, "consume", topic=topic, version=ver["version"]).ok()
    ends = {w["partition"]: w["high"] for w in c.events("watermarks")}
    assert all(w["low"] == 0 for w in c.events("watermarks"))
    check_records(produced, c.events("record"), N, ends)


@pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
@pytest.mark.parametrize("ver", SARAMA_VERSIONS)
def test_sarama_consumer_group(go_bins, broker, ver):
    """Two ConsumerGroup members split 3 partitions, consume and commit every
    record; ClusterAdmin.ListConsumerGroupOffsets and an OffsetManager both
    read back the partitions' ends; ListConsumerGroups and
    DescribeConsumerGroups (Stable with two members, then Empty)."""
    topic, group = "sarama-grp", "sarama-group-" + ver["version"]
    create_topic(broker.bootstrap, topic, partitions=3)
    _ready(broker)
    t0 = time.monotonic()
    r = run(SARAMA, broker.bootstrap, "group", topic=topic, group=group, n=N, **ver).ok()
    print("sarama group run: %.1f s" % (time.monotonic() - t0))
    check_group(r, N, 3, ["ListConsumerGroupOffsets", "OffsetManager"])
    assert r.one("listed")["groups"].get(group) == "consumer", r.one("listed")


@pytest.mark.parametrize("ver", SARAMA_VERSIONS)
def test_sarama_admin(go_bins, broker, ver):
    """ClusterAdmin: CreateTopic with a config, TOPIC_ALREADY_EXISTS,
    DescribeTopics/ListTopics, CreatePartitions (grow; shrink refused),
    DescribeConfig, AlterConfig (replaces the topic's configs: retention.ms
    goes back to its default), IncrementalAlterConfig, DeleteRecords (low
    watermark moves), DescribeCluster, DeleteTopic (gone; unknown topic
    refused)."""
    _ready(broker)
    r = run(SARAMA, broker.bootstrap, "admin", topic="sarama-admin", **ver).ok()
    assert r.one("CreateTopic")["error"] is None
    again = r.one("CreateTopic_again")
    assert again["is_exists"] and "already exists" in again["error"], again
    d = r.one("DescribeTopics")
    assert d["error"] is None and not d["internal"] and [p["id"] for p in d["partitions"]] == [0, 1], d
    assert all(p["replicas"] == p["isr"] and len(p["replicas"]) == 1 for p in d["partitions"]), d
    lt = r.one("ListTopics")
    assert lt["found"] and lt["partitions"] == 2 and lt["retention.ms"] == "3600000", lt
    assert r.one("CreatePartitions")["error"] is None
    shrink = r.one("CreatePartitions_shrink")
    assert shrink["is_invalid"], shrink
    assert [p["id"] for p in r.one("DescribeTopics_after")["partitions"]] == [0, 1, 2]

    def cfg(step):
        return r.one(step)["entries"]
    c = cfg("DescribeConfig")
    assert c["retention.ms"]["value"] == "3600000" and c["retention.ms"]["source"] == "Topic", c
    assert not c["retention.ms"]["default"]
    assert c["cleanup.policy"]["value"] == "delete" and c["cleanup.policy"]["default"], c
    assert c["max.message.bytes"]["value"] == "1048588" and c["max.message.bytes"]["default"], c
    assert r.one("AlterConfig")["error"] is None
    c = cfg("DescribeConfig_altered")
    assert c["max.message.bytes"]["value"] == "2000000" and c["max.message.bytes"]["source"] == "Topic", c
    assert c["retention.ms"]["default"] and c["retention.ms"]["value"] == "604800000", c
    assert r.one("IncrementalAlterConfig")["error"] is None
    c = cfg("DescribeConfig_incremental")
    assert c["retention.ms"]["value"] == "7200000" and c["max.message.bytes"]["value"] == "2000000", c
    assert r.one("DeleteRecords")["error"] is None
    assert r.one("offsets_after_delete") == {"event": "offsets_after_delete", "low": 4, "high": 10}
    dc = r.one("DescribeCluster")
    assert dc["brokers"] == 1, dc
    assert r.one("DeleteTopic")["error"] is None
    assert r.one("ListTopics_after_delete")["gone"]
    assert r.one("DeleteTopic_unknown")["is_unknown"], r.one("DeleteTopic_unknown")


# ---------------------------------------------------------------------------
# kafka-go
# ---------------------------------------------------------------------------

def test_kafkago_produce_consume(go_bins, broker):
    """Writer (RequiredAcks all, Hash balancer), then a partition Reader per
    partition reads every record back."""
    topic = "kafkago-pc"
    create_topic(broker.bootstrap, topic, partitions=3)
    w = run(KAFKAGO, broker.bootstrap, "produce", topic=topic, n=N).ok()
    assert w.one("written")["messages"] == N and w.one("written")["errors"] == 0
    c = run(KAFKAGO, broker.bootstrap, "consume", topic=topic).ok()
    ends = {x["partition"]: x["high"] for x in c.events("watermarks")}
    assert all(x["low"] == 0 for x in c.events("watermarks"))
    check_records(None, c.events("record"), N, ends)


@pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
def test_kafkago_consumer_group(go_bins, broker):
    """Two group Readers split 3 partitions, FetchMessage and CommitMessages
    every record; Client.OffsetFetch reads back the partitions' ends;
    ListGroups and DescribeGroups (Stable with two members, then Empty)."""
    topic, group = "kafkago-grp", "kafkago-group"
    create_topic(broker.bootstrap, topic, partitions=3)
    _ready(broker)
    t0 = time.monotonic()
    r = run(KAFKAGO, broker.bootstrap, "group", topic=topic, group=group, n=N).ok()
    print("kafka-go group run: %.1f s" % (time.monotonic() - t0))
    check_group(r, N, 3, ["OffsetFetch"])
    listed = r.one("listed")
    assert listed["error"] is None and listed["groups"].get(group) == "consumer", listed


def test_kafkago_admin(go_bins, broker):
    """Client: ApiVersions, CreateTopics with a config, TOPIC_ALREADY_EXISTS,
    Metadata, CreatePartitions (grow; shrink refused), DescribeConfigs,
    AlterConfigs, IncrementalAlterConfigs, ListOffsets, DeleteTopics (gone;
    unknown topic refused)."""
    _ready(broker)
    r = run(KAFKAGO, broker.bootstrap, "admin", topic="kafkago-admin").ok()
    av = r.one("ApiVersions")
    assert av["error"] is None and av["apis"] > 20, av
    assert r.one("CreateTopics")["error"] is None
    assert r.one("CreateTopics_again")["is_exists"], r.one("CreateTopics_again")
    m = r.one("Metadata")
    assert m["error"] is None and [p["id"] for p in m["partitions"]] == [0, 1], m
    assert m["brokers"] == 1 and all(p["replicas"] == p["isr"] == 1 for p in m["partitions"]), m
    assert r.one("CreatePartitions")["error"] is None
    assert r.one("CreatePartitions_shrink")["is_invalid"], r.one("CreatePartitions_shrink")
    assert [p["id"] for p in r.one("Metadata_after")["partitions"]] == [0, 1, 2]

    def cfg(step):
        return r.one(step)["entries"]
    TOPIC, DEFAULT = 1, 5  # DescribeConfigs config_source: DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG
    c = cfg("DescribeConfigs")
    assert (c["retention.ms"]["value"], c["retention.ms"]["source"]) == ("3600000", TOPIC), c
    assert (c["cleanup.policy"]["value"], c["cleanup.policy"]["source"]) == ("delete", DEFAULT), c
    assert r.one("AlterConfigs")["error"] is None
    c = cfg("DescribeConfigs_altered")
    assert (c["max.message.bytes"]["value"], c["max.message.bytes"]["source"]) == ("2000000", TOPIC), c
    assert (c["retention.ms"]["value"], c["retention.ms"]["source"]) == ("604800000", DEFAULT), c
    assert r.one("IncrementalAlterConfigs")["error"] is None
    c = cfg("DescribeConfigs_incremental")
    assert (c["retention.ms"]["value"], c["retention.ms"]["source"]) == ("7200000", TOPIC), c
    assert c["max.message.bytes"]["value"] == "2000000", c
    lo = r.one("ListOffsets")["partitions"]
    assert lo == [{"partition": 0, "first": 0, "last": 10}, {"partition": 1, "first": 0, "last": 0},
                  {"partition": 2, "first": 0, "last": 0}], lo
    dt = r.one("DeleteTopics")
    assert dt["error"] is None and dt["unknown_is_unknown"], dt
    assert r.one("Metadata_after_delete")["gone"]


# ---------------------------------------------------------------------------
# sarama pinned to a pre-0.11 Kafka
# ---------------------------------------------------------------------------

def test_sarama_pre_kip896_versions_refused(go_bins, broker):
    """sarama with Config.Version = 0.10.2.0 (an old pin, and Burrow's
    default client profile) speaks the pre-0.11 message formats: Fetch v3
    and Produce v2 with magic-1 message sets (headers need 0.11, so none).

    Fetch v3: Kafka 4.4 removed it (KIP-896) and closes the connection;
    Gregor does the same ("Fetch v3 is not supported (we serve v4-v18)").
    sarama reports "error while consuming <topic>/0: EOF" on both.

    Produce v2: Kafka 4.4 advertises Produce from v0 but closes the
    connection on v0-2 (sarama: "EOF"); Gregor serves Produce v0-2 for v2
    record batches (librdkafka <= 2.11 reads the Produce floor to decide
    whether it may compress; docs/protocol.md) and refuses magic 0 and 1
    per partition with UNSUPPORTED_FOR_MESSAGE_FORMAT. Refused on both,
    each in its own way; nothing is written on either."""
    topic = "sarama-old"
    create_topic(broker.bootstrap, topic, partitions=1)
    run(SARAMA, broker.bootstrap, "produce", topic=topic, n=3).ok()  # at 2.8: something to fetch

    c = run(SARAMA, broker.bootstrap, "consume", topic=topic, version="0.10.2.0")
    assert c.rc == 1, c.describe()
    assert c.one("error") == {"event": "error", "step": "ConsumePartition",
                              "error": "kafka: error while consuming %s/0: EOF" % topic}, c.describe()
    assert not c.events("record")

    p = run(SARAMA, broker.bootstrap, "produce", topic=topic, version="0.10.2.0", headers=False, n=1)
    assert p.rc == 1, p.describe()
    err = p.one("error")
    if broker.kind == "kafka":
        assert err == {"event": "error", "step": "SendMessage", "error": "EOF"}, err
    else:
        assert err == {"event": "error", "step": "SendMessage", "error":
                       "kafka server: The requested operation is not supported by the message format "
                       "version"}, err
    assert not p.events("produced")

    log = broker.log_text()
    if broker.kind == "kafka":
        for api in ("key 1 (Fetch) and unsupported version 3", "key 0 (Produce) and unsupported version 2"):
            assert "UnsupportedVersionException: Received request for api with " + api in log, api
    else:
        assert "Fetch v3 is not supported (we serve v4-v18)" in log
        assert "refused (UNSUPPORTED_FOR_MESSAGE_FORMAT): record batch at byte 0: batch magic is not 2" in log
    c = run(SARAMA, broker.bootstrap, "consume", topic=topic).ok()
    assert [r["offset"] for r in c.events("record")] == [0, 1, 2]
