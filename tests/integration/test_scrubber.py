"""
The scrubber (issue 17, item 8): silent damage to data that was written
cleanly is found before a consumer reads it.

A partition with small segments gets 2,000 numbered records; one bit is
flipped in a closed segment on disk while the broker runs (Kafka would
serve the damaged batch as it is: a record with a wrong byte under
librdkafka's default check.crcs=false). With log.scrub.interval.ms=1000
the scrubber finds it within one pass and logs the file and position, and
a consumer then reads every record before the damaged batch, unchanged,
and none of the damaged batch: the broker refuses it (KAFKA_STORAGE_ERROR)
instead of serving wrong bytes. Gregor-only: Kafka has no scrubber.
"""
import struct
import time

import pytest

from conftest import create_topic, make_consumer, produce_all

pytestmark = pytest.mark.gregor_only("Kafka has no scrubber: it serves damaged batches as they are")


def test_scrubber_finds_a_flipped_bit(start_broker):
    broker = start_broker(log__segment__bytes=16384, log__scrub__interval__ms=1000)
    create_topic(broker.bootstrap, "scrubbed", 1)
    # One record per request, so batches are small and many.
    for chunk in range(0, 2000, 100):
        produce_all(broker.bootstrap, "scrubbed",
                    [{"key": b"%d" % i, "value": b"value-%06d" % i, "partition": 0}
                     for i in range(chunk, chunk + 100)], linger__ms=0)
    segs = sorted((broker.partition_dir("scrubbed", 0)).glob("*.log"))
    assert len(segs) >= 3, segs
    victim = segs[1]  # closed: not the active (last) one
    data = victim.read_bytes()
    # Walk to the third batch of that segment and flip a bit in its records.
    pos = 0
    for _ in range(2):
        pos += 12 + struct.unpack(">i", data[pos + 8:pos + 12])[0]
    bad_base = struct.unpack(">q", data[pos:pos + 8])[0]
    with open(victim, "r+b") as f:
        f.seek(pos + 70)
        b = f.read(1)
        f.seek(pos + 70)
        f.write(bytes([b[0] ^ 0x20]))

    deadline = time.monotonic() + 15
    while "is damaged at position %d" % pos not in broker.log_text():
        assert time.monotonic() < deadline, "the scrubber did not find it:\n" + broker.log_tail()
        time.sleep(0.2)
    assert victim.name in broker.log_text()

    from confluent_kafka import TopicPartition
    c = make_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition("scrubbed", 0, 0)])
        got = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    got.append(m)
        offsets = [m.offset() for m in got]
        assert offsets == list(range(bad_base)), (offsets[-3:], bad_base)
        for m in got:
            assert m.value() == b"value-%06d" % int(m.key())
    finally:
        c.close()
    assert broker.alive()
