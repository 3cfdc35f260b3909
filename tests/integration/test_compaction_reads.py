"""
Reads go on while the cleaner replaces segments under them.

A consumer reads a compacted partition from offset 0 again and again in
small fetches while the (throttled) cleaner rewrites its segments and swaps
them in. Proves, on Gregor and on Kafka: every record a reader gets is
exactly the record produced at that offset (key and value, from the
producer's delivery reports), offsets strictly increase within a pass, no
fetch fails, and once cleaning is done a pass still holds every key's latest
value. On Gregor this exercises fetches (sendfile included) holding a
segment whose files the swap renamed and deleted, and index lookups in
segments that were replaced meanwhile.
"""

import time

import pytest

from conftest import create_topic, make_consumer, make_producer, watermarks

MiB = 1024 * 1024
KEYS = 500
RECORDS = 40000
CLEANER = {"log.cleaner.threads": 1, "log.cleaner.backoff.ms": 200,
           "log.cleaner.dedupe.buffer.size": 16 * MiB, "log.cleaner.min.cleanable.ratio": "0.01"}


def produce(bootstrap, topic):
    """{offset: (key, value)} of every record, from the delivery reports."""
    p = make_producer(bootstrap, **{"linger.ms": 5, "batch.size": 16384})
    produced = {}

    def dr(err, msg):
        assert err is None, err
        produced[msg.offset()] = (msg.key(), msg.value())

    for i in range(RECORDS):
        while True:
            try:
                p.produce(topic, key=b"k%d" % (i % KEYS), value=b"%d:" % i + b"v" * 100, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0
    assert len(produced) == RECORDS
    return produced


def read_pass(bootstrap, topic, produced, end):
    """One pass from offset 0 to end in small fetches; returns the latest
    value read per key."""
    from confluent_kafka import TopicPartition
    c = make_consumer(bootstrap, **{"fetch.max.bytes": 32768, "message.max.bytes": 32768,
                                    "max.partition.fetch.bytes": 8192,
                                    "fetch.wait.max.ms": 50})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        last, latest, deadline = -1, {}, time.monotonic() + 60
        while last < end - 1:
            assert time.monotonic() < deadline, "pass stuck at offset %d of %d" % (last, end)
            m = c.poll(0.5)
            if m is None:
                continue
            assert not m.error(), m.error()
            o = m.offset()
            assert o > last, "offset %d after %d" % (o, last)
            assert produced.get(o) == (m.key(), m.value()), "offset %d: read %r" % (o, (m.key(), m.value()[:20]))
            last = o
            latest[m.key()] = m.value()
        return latest
    finally:
        c.close()


@pytest.mark.timeout(300)
def test_reads_during_cleaning(start_broker, small_segments):
    overrides, seg_config = small_segments(64 * 1024)
    b = start_broker(**dict(CLEANER, **overrides, **{"log.cleaner.enable": False}))
    topic = "readclean"
    create_topic(b.bootstrap, topic, config=dict(seg_config, **{"cleanup.policy": "compact",
                                                                "min.cleanable.dirty.ratio": "0.01"}))
    produced = produce(b.bootstrap, topic)
    want = {}
    for o in sorted(produced):
        k, v = produced[o]
        want[k] = v
    b.restart(**{"log.cleaner.enable": True, "log.cleaner.io.max.bytes.per.second": 2 * MiB})
    end = watermarks(b.bootstrap, topic, 0)[1]
    assert end == RECORDS
    # Passes while the cleaner works (about 2 s of throttled I/O per pass
    # over ~5 MB), then one after it has had time to finish.
    t0 = time.monotonic()
    passes = 0
    while time.monotonic() - t0 < 8 or passes < 3:
        assert read_pass(b.bootstrap, topic, produced, end) == want
        passes += 1
    time.sleep(3)
    assert read_pass(b.bootstrap, topic, produced, end) == want
    if b.kind == "gregor":
        assert "cleaned offsets" in b.log_text()
