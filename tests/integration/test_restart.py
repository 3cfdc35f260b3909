"""
Clean restart: data written before a SIGTERM is all there after the restart.

Proves: clean shutdown exits 0; topics (names, partition counts, configs) and
every record (offset, key, value, headers, timestamp) survive; the log end
offset is restored so new produces continue where the old run stopped; this
holds over several restarts and with small segments (many segment files).
"""

import time

import pytest

from conftest import (consume_partitions, create_topic, list_topics, produce_all, scaled,
                      watermarks)

TOPICS = {"restart-a": 3, "restart-b": 1, "restart-c": 2}
N_PER_TOPIC = scaled(6000)
TS0 = int(time.time() * 1000) - 3_600_000


def produce_round(bootstrap, round_no, n=N_PER_TOPIC):
    """Produce n messages to every topic; returns {(topic, p): [(offset, key, value, headers, ts)]}."""
    written = {}
    for topic, parts in TOPICS.items():
        msgs = [{"key": b"r%d-k%d" % (round_no, i % 13),
                 "value": b"%s/r%d/%d/" % (topic.encode(), round_no, i) + b"x" * (i % 300),
                 "headers": [("round", str(round_no).encode()), ("i", str(i).encode())],
                 "timestamp": TS0 + round_no * 1_000_000 + i,
                 "partition": i % parts} for i in range(n)]
        by_value = {m["value"]: m for m in msgs}
        # Batches stay below the small-segment case's segment.bytes: like
        # Kafka, the broker refuses a batch larger than a segment.
        for d in produce_all(bootstrap, topic, msgs, **{"batch.size": 16384}):
            m = by_value[d.value()]
            assert d.partition() == m["partition"]
            written.setdefault((topic, d.partition()), []).append(
                (d.offset(), m["key"], m["value"], m["headers"], m["timestamp"]))
    for recs in written.values():
        recs.sort()
    return written


def check_all_there(bootstrap, written):
    for topic, parts in TOPICS.items():
        expected = {p: len(written.get((topic, p), [])) for p in range(parts)}
        got = consume_partitions(bootstrap, topic, expected, timeout=120)
        for p in range(parts):
            want = written.get((topic, p), [])
            have = [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in got[p]]
            assert len(have) == len(want), "%s-%d: %d records, want %d" % (topic, p, len(have), len(want))
            for w, h in zip(want, have):
                assert h == w, "%s-%d: record differs at offset %d:\n have %r\n want %r" % (
                    topic, p, w[0], h, w)
            assert watermarks(bootstrap, topic, p) == (0, len(want))


def restart_clean(broker, **overrides):
    rc = broker.stop()
    assert rc == 0, "SIGTERM: exit code %s\n%s" % (rc, broker.log_tail())
    broker.restart(**overrides)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("segment_bytes", [None, 64 * 1024], ids=["default-segments", "small-segments"])
def test_restart_keeps_everything(start_broker, small_segments, segment_bytes):
    overrides, seg_config = small_segments(segment_bytes) if segment_bytes else ({}, {})
    broker = start_broker(**overrides)
    for topic, parts in TOPICS.items():
        config = dict(seg_config)
        if topic == "restart-a":
            config["retention.ms"] = "86400000"
        create_topic(broker.bootstrap, topic, partitions=parts, config=config)
    written = produce_round(broker.bootstrap, 0)
    check_all_there(broker.bootstrap, written)
    ends = {tp: len(recs) for tp, recs in written.items()}

    restart_clean(broker)

    topics = list_topics(broker.bootstrap)
    for topic, parts in TOPICS.items():
        assert topic in topics, "topic %s lost over restart" % topic
        assert len(topics[topic].partitions) == parts
    check_all_there(broker.bootstrap, written)

    if segment_bytes:
        seg_files = sorted(broker.partition_dir("restart-b", 0).glob("*.log"))
        assert len(seg_files) >= 2, "expected several segments of %d bytes, got %s" % (
            segment_bytes, seg_files)

    # new produces continue at the old end offsets
    more = produce_round(broker.bootstrap, 1, n=max(1, N_PER_TOPIC // 3))
    for tp, recs in more.items():
        assert recs[0][0] == ends.get(tp, 0), "%s-%d continued at %d, previous end %d" % (
            tp[0], tp[1], recs[0][0], ends.get(tp, 0))
        written.setdefault(tp, []).extend(recs)

    # and once more, including the topic config
    restart_clean(broker)
    check_all_there(broker.bootstrap, written)
    from conftest import admin_client
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", "restart-a")
    admin = admin_client(broker.bootstrap)  # keep the handle alive until the result arrives
    cfg = admin.describe_configs([res], request_timeout=30)[res].result(timeout=30)
    assert cfg["retention.ms"].value == "86400000"

    assert broker.stop() == 0


def test_restart_empty_topic_and_empty_broker(start_broker):
    broker = start_broker()
    restart_clean(broker)                       # nothing at all
    create_topic(broker.bootstrap, "restart-empty", partitions=2)
    restart_clean(broker)                       # a topic with no records
    topics = list_topics(broker.bootstrap)
    assert "restart-empty" in topics and len(topics["restart-empty"].partitions) == 2
    assert watermarks(broker.bootstrap, "restart-empty", 0) == (0, 0)
    d = produce_all(broker.bootstrap, "restart-empty", [{"value": b"first", "partition": 1}])
    assert (d[0].partition(), d[0].offset()) == (1, 0)
    assert broker.stop() == 0
