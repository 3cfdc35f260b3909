"""
Metadata snapshots on one node (KRaft's KIP-630 snapshots of the metadata
image; the cluster side is tests/cluster/test_snapshots.py).

Proves, on Gregor and on Apache Kafka alike: with a small
metadata.log.max.record.bytes.between.snapshots the node writes
<offset>-<epoch>.checkpoint files into __cluster_metadata-0 as topics are
created, deleted and reconfigured; after kill -9 and a restart every topic,
partition count and config override is back, and the topics take records.
Kafka's own DumpLogSegments --cluster-metadata-decoder reads the newest
checkpoint of either broker: the header, the footer, and a TopicRecord for
every live topic.

Gregor only (Kafka keeps its metadata segments for metadata.max.retention.*
and requires 8 MiB segments): with 16 KiB metadata segments the segments
wholly before the newest snapshot are gone, and the restart says it loaded
the snapshot and replayed only the log after it.
"""

import re
import time

import pytest

import kafka_tools_run
from conftest import admin_client, broker_kind, create_topic, list_topics, produce_all, watermarks

DUMP_LOG = "org.apache.kafka.tools.DumpLogSegments"
CHECKPOINT = re.compile(r"^(\d{20})-(\d{10})\.checkpoint$")


def checkpoints(broker):
    d = broker.data_dir / "__cluster_metadata-0"
    found = []
    for f in d.iterdir() if d.exists() else []:
        m = CHECKPOINT.match(f.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), f))
    return sorted(found)


def topic_configs(bootstrap, topic):
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", topic)
    a = admin_client(bootstrap)
    got = a.describe_configs([res])[res].result(timeout=30)
    return {k: v.value for k, v in got.items() if not v.is_default}


def snapshot_overrides(kind):
    o = {"metadata.log.max.record.bytes.between.snapshots": "2000"}
    if kind == "gregor":
        o["metadata.log.segment.bytes"] = "16384"
    return o


@pytest.mark.timeout(600)
def test_snapshot_restart_and_kafka_reads_it(start_broker, request):
    kind = broker_kind(request.config)
    b = start_broker(**snapshot_overrides(kind))
    names = ["snap-%03d" % i for i in range(100)]
    for i, t in enumerate(names):
        create_topic(b.bootstrap, t, partitions=1 + i % 3,
                     config={"retention.ms": str(100000 + i)} if i % 5 == 0 else None)
    deleted = names[1:4]
    a = admin_client(b.bootstrap)
    for f in a.delete_topics(deleted, operation_timeout=30).values():
        f.result(timeout=30)
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", names[7], set_config={"cleanup.policy": "compact"})
    a.alter_configs([res])[res].result(timeout=30)
    live = sorted(set(names) - set(deleted))

    deadline = time.monotonic() + 60
    while not checkpoints(b):
        assert time.monotonic() < deadline, "no .checkpoint in %s after 60 s" % (
            b.data_dir / "__cluster_metadata-0")
        time.sleep(0.5)
    before = {t: topic_configs(b.bootstrap, t) for t in (names[0], names[7], names[10])}

    b.kill9()
    b.restart()
    deadline = time.monotonic() + 60
    while sorted(t for t in list_topics(b.bootstrap) if t.startswith("snap-")) != live:
        assert time.monotonic() < deadline, sorted(list_topics(b.bootstrap))
        time.sleep(0.5)
    md = admin_client(b.bootstrap).list_topics(timeout=30)
    for i, t in enumerate(names):
        if t in live:
            assert len(md.topics[t].partitions) == 1 + i % 3, t
    after = {t: topic_configs(b.bootstrap, t) for t in before}
    assert after == before
    assert after[names[7]].get("cleanup.policy") == "compact"
    assert after[names[0]].get("retention.ms") == "100000"
    for d in produce_all(b.bootstrap, names[-1], [{"value": b"after-restart", "partition": 0}]):
        assert d.error() is None
    assert watermarks(b.bootstrap, names[-1], 0) == (0, 1)

    newest = checkpoints(b)[-1][2]
    r = kafka_tools_run.run(DUMP_LOG, ["--cluster-metadata-decoder", "--files", newest])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "SnapshotHeader" in out and "SnapshotFooter" in out, out[:3000]
    shown = set(re.findall(r'"name":"(snap-\d\d\d)"', out))
    # the newest snapshot holds the topics committed before it: at least
    # every one created before the deletions' snapshot, none deleted after
    assert shown, out[:3000]
    assert shown <= set(names)

    if kind == "gregor":
        log = b.log_text()
        assert "loaded the metadata snapshot" in log, log[-3000:]
        end = checkpoints(b)[-1][0]
        segs = sorted(int(f.name[:20]) for f in (b.data_dir / "__cluster_metadata-0").iterdir()
                      if f.name.endswith(".log"))
        assert segs and segs[0] > 0, segs  # segment 0 was behind a snapshot: deleted
        assert segs[0] <= end, (segs, end)
