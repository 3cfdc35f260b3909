"""
Python clients: confluent-kafka-python (librdkafka) and kafka-python (pure
Python, its own protocol code), so the broker is exercised by two independent
protocol implementations. kafka-python 2.0 (Debian) and 3.x (PyPI) differ in
their admin answers and producer defaults; kafka_python_compat hides only the
shape, every error code is still asserted.

Proves: records (keys, headers, explicit timestamps, null key/value) round-trip
in every producer/consumer pairing; the admin APIs (CreateTopics with configs
and broker defaults, validate_only, DescribeConfigs values and sources,
DeleteTopics, CreatePartitions); ListOffsets by timestamp, earliest and
latest; topic auto-creation through Metadata and its switch.
"""

import time

import pytest
from confluent_kafka import (KafkaError, KafkaException, TopicPartition,
                             TIMESTAMP_CREATE_TIME)
from confluent_kafka.admin import (ConfigResource, ConfigSource, NewPartitions, NewTopic)

import kafka
import kafka.admin
import kafka.errors

import kafka_python_compat as kpc
from conftest import (admin_client, consume_partitions, create_topic, list_topics, make_consumer,
                      produce_all, wait_for_topic, wait_topic_absent, watermarks)

TIMEOUT = 30
BASE_TS = int(time.time() * 1000) - 3_600_000  # an hour ago, well inside retention


# ---------------------------------------------------------------------------
# record round trips, every producer x consumer pairing
# ---------------------------------------------------------------------------

def sample_records(n):
    """Records as dicts: key, value, headers (list of (str, bytes|None)), timestamp, partition."""
    recs = []
    for i in range(n):
        r = {
            "key": b"key-%d" % (i % 7),
            "value": b"value-%05d-" % i + bytes(range(i % 256)),
            "headers": [("h", b"x"), ("idx", str(i).encode()), ("dup", b"1"), ("dup", b"2")],
            "timestamp": BASE_TS + i * 10,
            "partition": i % 2,
        }
        if i % 10 == 3:
            r["key"] = None
        if i % 10 == 4:
            r["value"] = b""
        if i % 10 == 5:
            r["value"] = None          # tombstone
        if i % 10 == 6:
            r["headers"] = []
        recs.append(r)
    return recs


def produce_confluent(bootstrap, topic, recs):
    msgs = []
    for r in recs:
        m = dict(r)
        m["headers"] = list(r["headers"]) or None
        msgs.append(m)
    d = produce_all(bootstrap, topic, msgs, linger__ms=20)
    return {(m.partition(), m.offset()) for m in d}


def produce_kafka_python(bootstrap, topic, recs):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                            request_timeout_ms=TIMEOUT * 1000, max_block_ms=TIMEOUT * 1000,
                            **kpc.producer_options())
    try:
        futs = [p.send(topic, key=r["key"], value=r["value"], headers=list(r["headers"]),
                       timestamp_ms=r["timestamp"], partition=r["partition"]) for r in recs]
        p.flush(timeout=TIMEOUT)
        return {(md.partition, md.offset) for md in (f.get(timeout=TIMEOUT) for f in futs)}
    finally:
        p.close(timeout=5)


def consume_confluent(bootstrap, topic, counts):
    got = consume_partitions(bootstrap, topic, counts, timeout=TIMEOUT)
    out = {}
    for p, msgs in got.items():
        rows = []
        for m in msgs:
            ts_type, ts = m.timestamp()
            assert ts_type == TIMESTAMP_CREATE_TIME
            rows.append({"offset": m.offset(), "key": m.key(), "value": m.value(),
                         "headers": [(k, v) for k, v in (m.headers() or [])], "timestamp": ts})
        out[p] = rows
    return out


def consume_kafka_python(bootstrap, topic, counts):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", request_timeout_ms=TIMEOUT * 1000 + 5000)
    try:
        tps = [kafka.TopicPartition(topic, p) for p in counts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = {p: [] for p in counts}
        deadline = time.monotonic() + TIMEOUT
        while any(len(out[p]) < n for p, n in counts.items()):
            assert time.monotonic() < deadline, "kafka-python consume timeout: %s of %s" % (
                {p: len(v) for p, v in out.items()}, counts)
            for tp, records in c.poll(timeout_ms=500).items():
                for m in records:
                    assert m.timestamp_type == 0  # CreateTime
                    out[tp.partition].append({"offset": m.offset, "key": m.key, "value": m.value,
                                              "headers": list(m.headers), "timestamp": m.timestamp})
        return out
    finally:
        c.close()


PRODUCERS = {"confluent": produce_confluent, "kafka-python": produce_kafka_python}
CONSUMERS = {"confluent": consume_confluent, "kafka-python": consume_kafka_python}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_roundtrip_keys_headers_timestamps(broker, producer, consumer):
    topic = "rt-%s-%s" % (producer, consumer)
    create_topic(broker.bootstrap, topic, partitions=2)
    recs = sample_records(300)
    delivered = PRODUCERS[producer](broker.bootstrap, topic, recs)

    counts = {0: sum(1 for r in recs if r["partition"] == 0),
              1: sum(1 for r in recs if r["partition"] == 1)}
    assert delivered == {(p, o) for p in counts for o in range(counts[p])}

    got = CONSUMERS[consumer](broker.bootstrap, topic, counts)
    for p in counts:
        want = [r for r in recs if r["partition"] == p]
        have = got[p]
        assert len(have) == len(want), "partition %d: %d records, want %d" % (p, len(have), len(want))
        for off, (w, h) in enumerate(zip(want, have)):
            assert h["offset"] == off
            assert h["key"] == w["key"], (p, off)
            assert h["value"] == w["value"], (p, off)
            assert h["headers"] == w["headers"], (p, off)
            assert h["timestamp"] == w["timestamp"], (p, off)


# ---------------------------------------------------------------------------
# admin: confluent-kafka
# ---------------------------------------------------------------------------

def describe_topic_configs(bootstrap, topic):
    a = admin_client(bootstrap)
    res = ConfigResource("topic", topic)
    fs = a.describe_configs([res], request_timeout=TIMEOUT)
    return fs[res].result(timeout=TIMEOUT)   # {name: ConfigEntry}


def test_confluent_admin_create_describe(broker):
    a = admin_client(broker.bootstrap)
    topic = "adm-cfg"
    fs = a.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "3600000"})],
                         operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    fs[topic].result(timeout=TIMEOUT)
    tm = wait_for_topic(broker.bootstrap, topic, partitions=3)
    assert sorted(tm.partitions) == [0, 1, 2]
    for pm in tm.partitions.values():
        assert pm.leader == 1 and list(pm.replicas) == [1] and list(pm.isrs) == [1]

    cfg = describe_topic_configs(broker.bootstrap, topic)
    rm = cfg["retention.ms"]
    assert rm.value == "3600000"
    assert rm.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value or rm.source == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert not rm.is_default and not rm.is_read_only and not rm.is_sensitive

    cp = cfg["cleanup.policy"]
    assert cp.value == "delete"
    assert cp.is_default
    assert cp.source in (ConfigSource.DEFAULT_CONFIG, ConfigSource.DEFAULT_CONFIG.value)
    assert not cp.is_read_only and not cp.is_sensitive

    # Creating it again: TOPIC_ALREADY_EXISTS.
    fs = a.create_topics([NewTopic(topic, 1, 1)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.broker_overrides(num__partitions=4)
def test_confluent_admin_broker_defaults(broker):
    """num_partitions=-1 / replication_factor=-1: the broker's defaults apply."""
    a = admin_client(broker.bootstrap)
    topic = "adm-defaults"
    fs = a.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1)],
                         request_timeout=TIMEOUT)
    fs[topic].result(timeout=TIMEOUT)
    tm = wait_for_topic(broker.bootstrap, topic, partitions=4)
    assert all(list(p.replicas) == [1] for p in tm.partitions.values())


def test_confluent_admin_validate_only(broker):
    a = admin_client(broker.bootstrap)
    topic = "adm-validate-only"
    fs = a.create_topics([NewTopic(topic, 2, 1)], validate_only=True, request_timeout=TIMEOUT)
    fs[topic].result(timeout=TIMEOUT)           # validation passes...
    time.sleep(1.0)
    assert topic not in list_topics(broker.bootstrap)  # ...but nothing is created

    # An invalid request is rejected even in validate_only mode.
    fs = a.create_topics([NewTopic(topic, 0, 1)], validate_only=True, request_timeout=TIMEOUT)
    with pytest.raises(KafkaException):
        fs[topic].result(timeout=TIMEOUT)


def test_confluent_admin_delete_and_partitions(broker):
    a = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, "adm-grow", partitions=2)
    create_topic(broker.bootstrap, "adm-del", partitions=1)
    produce_all(broker.bootstrap, "adm-del", [{"value": b"x", "partition": 0}])

    fs = a.create_partitions([NewPartitions("adm-grow", 5)], request_timeout=TIMEOUT)
    fs["adm-grow"].result(timeout=TIMEOUT)
    wait_for_topic(broker.bootstrap, "adm-grow", partitions=5)
    # the new partitions are usable
    d = produce_all(broker.bootstrap, "adm-grow", [{"value": b"new", "partition": 4}])
    assert (d[0].partition(), d[0].offset()) == (4, 0)

    # shrinking is refused
    fs = a.create_partitions([NewPartitions("adm-grow", 3)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException):
        fs["adm-grow"].result(timeout=TIMEOUT)

    fs = a.delete_topics(["adm-del"], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    fs["adm-del"].result(timeout=TIMEOUT)
    wait_topic_absent(broker.bootstrap, "adm-del")
    assert "adm-grow" in list_topics(broker.bootstrap)

    # deleting an unknown topic: UNKNOWN_TOPIC_OR_PART
    fs = a.delete_topics(["adm-never-existed"], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as ei:
        fs["adm-never-existed"].result(timeout=TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_deleted_topic_can_be_recreated_empty(broker):
    a = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, "adm-recreate", partitions=1)
    produce_all(broker.bootstrap, "adm-recreate", [{"value": b"old", "partition": 0}] * 5)
    a.delete_topics(["adm-recreate"], request_timeout=TIMEOUT)["adm-recreate"].result(timeout=TIMEOUT)
    wait_topic_absent(broker.bootstrap, "adm-recreate")
    create_topic(broker.bootstrap, "adm-recreate", partitions=1)
    assert watermarks(broker.bootstrap, "adm-recreate", 0) == (0, 0)


# ---------------------------------------------------------------------------
# admin: kafka-python
# ---------------------------------------------------------------------------

def test_kafka_python_admin(broker):
    adm = kpc.admin_client(broker.bootstrap, TIMEOUT)
    try:
        errs = kpc.create_topics(adm, [kafka.admin.NewTopic(name="kp-adm", num_partitions=2,
                                                            replication_factor=1,
                                                            topic_configs={"retention.ms": "7200000"})],
                                 timeout_ms=TIMEOUT * 1000)
        assert errs == [("kp-adm", 0)]
        wait_for_topic(broker.bootstrap, "kp-adm", partitions=2)
        assert "kp-adm" in adm.list_topics()

        # validate_only does not create
        errs = kpc.create_topics(adm, [kafka.admin.NewTopic(name="kp-adm-vo", num_partitions=1,
                                                            replication_factor=1)],
                                 timeout_ms=TIMEOUT * 1000, validate_only=True)
        assert errs == [("kp-adm-vo", 0)]
        time.sleep(1.0)
        assert "kp-adm-vo" not in list_topics(broker.bootstrap)

        # describe configs: our value is there, and a default one
        entries = kpc.describe_topic_configs(adm, "kp-adm")
        assert entries["retention.ms"] == "7200000"
        assert entries["cleanup.policy"] == "delete"

        # create partitions: 2 -> 4
        errs = kpc.create_partitions(adm, {"kp-adm": kafka.admin.NewPartitions(total_count=4)},
                                     timeout_ms=TIMEOUT * 1000)
        assert errs == [("kp-adm", 0)]
        wait_for_topic(broker.bootstrap, "kp-adm", partitions=4)

        # delete
        errs = kpc.delete_topics(adm, ["kp-adm"], timeout_ms=TIMEOUT * 1000)
        assert errs == [("kp-adm", 0)]
        wait_topic_absent(broker.bootstrap, "kp-adm")
        deadline = time.monotonic() + 10
        while "kp-adm" in adm.list_topics():
            assert time.monotonic() < deadline, "kafka-python still lists deleted topic"
            time.sleep(0.2)
    finally:
        adm.close()


# ---------------------------------------------------------------------------
# ListOffsets: by timestamp, earliest, latest
# ---------------------------------------------------------------------------

TS_STEP = 1000


def produce_timestamped(bootstrap, topic, n=10):
    """Messages 0..n-1 with timestamps BASE_TS + i*TS_STEP; the first half one
    batch each (flush between), the rest in one batch."""
    half = n // 2
    for i in range(half):
        produce_all(bootstrap, topic, [{"value": b"t%d" % i, "partition": 0,
                                        "timestamp": BASE_TS + i * TS_STEP}])
    produce_all(bootstrap, topic, [{"value": b"t%d" % i, "partition": 0,
                                    "timestamp": BASE_TS + i * TS_STEP} for i in range(half, n)],
                linger__ms=200)


# (target timestamp, expected offset; -1 = none at or after it)
TS_CASES = [
    (BASE_TS - 100_000, 0),
    (BASE_TS, 0),
    (BASE_TS + 1, 1),
    (BASE_TS + 3 * TS_STEP, 3),
    (BASE_TS + 4 * TS_STEP + 500, 5),   # crosses from a single-record batch into the multi-record one
    (BASE_TS + 7 * TS_STEP, 7),          # inside the multi-record batch
    (BASE_TS + 7 * TS_STEP - 1, 7),
    (BASE_TS + 9 * TS_STEP, 9),
    (BASE_TS + 9 * TS_STEP + 1, -1),
]


def test_offsets_for_times_confluent(broker):
    topic = "oft-confluent"
    create_topic(broker.bootstrap, topic, partitions=1)
    produce_timestamped(broker.bootstrap, topic)
    c = make_consumer(broker.bootstrap)
    try:
        for ts, want in TS_CASES:
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=TIMEOUT)
            assert tp.error is None, tp.error
            assert tp.offset == want, "ts %+d: offset %d, want %d" % (ts - BASE_TS, tp.offset, want)
    finally:
        c.close()


def test_offsets_for_times_kafka_python(broker):
    topic = "oft-kafka-python"
    create_topic(broker.bootstrap, topic, partitions=1)
    produce_timestamped(broker.bootstrap, topic)
    c = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                            request_timeout_ms=TIMEOUT * 1000 + 5000)
    try:
        tp = kafka.TopicPartition(topic, 0)
        for ts, want in TS_CASES:
            res = c.offsets_for_times({tp: ts})[tp]
            if want == -1:
                assert res is None, "ts %+d: got %s, want none" % (ts - BASE_TS, res)
            else:
                assert res is not None, "ts %+d: got none, want %d" % (ts - BASE_TS, want)
                assert res.offset == want, "ts %+d: offset %d, want %d" % (ts - BASE_TS, res.offset, want)
                assert res.timestamp == BASE_TS + want * TS_STEP
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 10}
    finally:
        c.close()


def test_watermarks(broker):
    topic = "wm"
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_all(broker.bootstrap, topic, [{"value": b"a%d" % i, "partition": i % 2} for i in range(25)])
    assert watermarks(broker.bootstrap, topic, 0) == (0, 13)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 12)
    assert watermarks(broker.bootstrap, topic, 2) == (0, 0)
    # the consumer can start from OFFSET_END/BEGINNING resolved through ListOffsets
    got = consume_partitions(broker.bootstrap, topic, {1: 12})
    assert [m.value() for m in got[1]] == [b"a%d" % i for i in range(1, 25, 2)]


# ---------------------------------------------------------------------------
# topic auto-creation through Metadata
# ---------------------------------------------------------------------------

@pytest.mark.broker_overrides(num__partitions=2)
def test_auto_create_enabled(broker):
    topic = "auto-created"
    assert topic not in list_topics(broker.bootstrap)
    # retries: Kafka names the new partition's leader a moment before the
    # leader serves it (NOT_LEADER_OR_FOLLOWER, retriable); kafka-python's
    # default is not to retry at all
    p = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=5,
                            max_block_ms=TIMEOUT * 1000, request_timeout_ms=TIMEOUT * 1000,
                            **kpc.producer_options())
    try:
        md = p.send(topic, value=b"hello").get(timeout=TIMEOUT)
        assert md.offset == 0
    finally:
        p.close(timeout=5)
    tm = wait_for_topic(broker.bootstrap, topic, partitions=2)
    assert len(tm.partitions) == 2


@pytest.mark.broker_overrides(auto__create__topics__enable="false")
def test_auto_create_disabled(broker):
    topic = "not-auto-created"
    # not idempotent: the send waits for the topic's metadata alone, with
    # no InitProducerId round trip before it
    p = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                            max_block_ms=5000, request_timeout_ms=10000,
                            **kpc.producer_options())
    try:
        with pytest.raises(kafka.errors.KafkaError) as ei:
            p.send(topic, value=b"hello").get(timeout=10)
    finally:
        p.close(timeout=5)
    # the topic's metadata never comes (both kafka-python 2.0 and 3.x)
    assert isinstance(ei.value, kafka.errors.KafkaTimeoutError), repr(ei.value)
    assert "Failed to update metadata" in str(ei.value), repr(ei.value)

    # A Metadata request naming the topic explicitly (librdkafka sets
    # allow_auto_topic_creation for producers/admin) answers UNKNOWN_TOPIC_OR_PART.
    md = admin_client(broker.bootstrap).list_topics(topic=topic, timeout=10)
    tm = md.topics.get(topic)
    assert tm is not None and tm.error is not None
    assert tm.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    time.sleep(0.5)
    assert topic not in list_topics(broker.bootstrap)

    # explicit creation still works
    create_topic(broker.bootstrap, topic, partitions=1)
