"""
Topic configs that make the broker rewrite or refuse what a producer sends.

Proves, on Gregor and on Apache Kafka alike:
  * compression.type=zstd on a topic produced to uncompressed: the batches on
    disk are zstd (each broker's own dump-log tool says so: gregor dump-log,
    Kafka's DumpLogSegments) and consumers read identical records, keys,
    values and headers; compression.type=uncompressed undoes a producer's
    gzip the same way;
  * message.timestamp.type=LogAppendTime: consumers see the broker's clock
    and the LogAppendTime type, whatever the producer stamped;
  * message.timestamp.after.max.ms (Kafka 4's default: one hour) and
    message.timestamp.before.max.ms: a record outside the window is refused
    with INVALID_TIMESTAMP and nothing is written; inside it, accepted;
  * a compacted topic refuses a record without a key (INVALID_RECORD).
"""

import subprocess
import time

import pytest

from conftest import GREGOR_BIN, create_topic, make_consumer, make_producer, watermarks

import kafkaref


def produce_one(bootstrap, topic, **kw):
    """Produce one record; returns the delivery error (None when written)."""
    conf = {"compression.type": kw.pop("codec", "none"), "linger.ms": 0, "message.timeout.ms": 10000}
    p = make_producer(bootstrap, **conf)
    out = []
    p.produce(topic, on_delivery=lambda err, msg: out.append(err), **kw)
    p.flush(15)
    assert out, "no delivery report"
    return out[0]


def read(bootstrap, topic, n, timeout=30):
    from confluent_kafka import TopicPartition
    c = make_consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == n, "read %d of %d" % (len(got), n)
        return got
    finally:
        c.close()


def dump_codecs(broker, topic):
    """compresscodec of every batch in the partition's first segment, by the
    broker's own tool."""
    seg = str(broker.partition_dir(topic, 0) / ("%020d.log" % 0))
    if broker.kind == "kafka":
        r = kafkaref.run_tool("org.apache.kafka.tools.DumpLogSegments", ["--files", seg])
    else:
        r = subprocess.run([GREGOR_BIN, "dump-log", "--files", seg], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [w.split("compresscodec: ")[1].split()[0] for w in r.stdout.splitlines() if "compresscodec: " in w]


@pytest.mark.parametrize("topic_codec,producer_codec,expect", [("zstd", "none", "zstd"),
                                                               ("uncompressed", "gzip", "none")])
def test_compression_type_recompresses(broker, topic_codec, producer_codec, expect):
    topic = "rc-" + topic_codec
    create_topic(broker.bootstrap, topic, config={"compression.type": topic_codec})
    sent = [(b"k%d" % i, b"value-%d-" % i + b"abc" * 200, [("h", b"%d" % i)]) for i in range(50)]
    p = make_producer(broker.bootstrap, **{"compression.type": producer_codec, "linger.ms": 20})
    for k, v, h in sent:
        p.produce(topic, key=k, value=v, headers=h)
    assert p.flush(30) == 0
    got = read(broker.bootstrap, topic, len(sent))
    assert [(m.key(), m.value(), m.headers()) for m in got] == sent
    codecs = dump_codecs(broker, topic)
    assert codecs and set(codecs) == {expect}, codecs


def test_log_append_time(broker):
    topic = "lat"
    create_topic(broker.bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    assert produce_one(broker.bootstrap, topic, value=b"v", timestamp=1000) is None
    after = int(time.time() * 1000)
    (m,) = read(broker.bootstrap, topic, 1)
    ts_type, ts = m.timestamp()
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME
    assert ts_type == TIMESTAMP_LOG_APPEND_TIME
    assert before - 1000 <= ts <= after + 1000, (before, ts, after)


def test_timestamp_window(broker):
    from confluent_kafka import KafkaError
    now = int(time.time() * 1000)
    create_topic(broker.bootstrap, "tsdef")
    # Kafka 4's default message.timestamp.after.max.ms is one hour.
    err = produce_one(broker.bootstrap, "tsdef", value=b"future", timestamp=now + 2 * 3600 * 1000)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    assert produce_one(broker.bootstrap, "tsdef", value=b"old", timestamp=now - 365 * 86400 * 1000) is None
    assert produce_one(broker.bootstrap, "tsdef", value=b"soon", timestamp=now + 60 * 1000) is None
    assert watermarks(broker.bootstrap, "tsdef", 0) == (0, 2)

    create_topic(broker.bootstrap, "tsnarrow", config={"message.timestamp.before.max.ms": "60000",
                                                        "message.timestamp.after.max.ms": str(10 * 3600 * 1000)})
    err = produce_one(broker.bootstrap, "tsnarrow", value=b"old", timestamp=now - 3600 * 1000)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    assert produce_one(broker.bootstrap, "tsnarrow", value=b"future", timestamp=now + 2 * 3600 * 1000) is None
    assert watermarks(broker.bootstrap, "tsnarrow", 0) == (0, 1)


def test_compacted_topic_needs_keys(broker):
    from confluent_kafka import KafkaError
    create_topic(broker.bootstrap, "ck", config={"cleanup.policy": "compact"})
    err = produce_one(broker.bootstrap, "ck", value=b"no key")
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    assert produce_one(broker.bootstrap, "ck", key=b"k", value=b"v") is None
    assert watermarks(broker.bootstrap, "ck", 0) == (0, 1)
