"""
Corrupted tail: after an unclean stop, damage the last record batch of the
active segment on disk and restart.

Proves: recovery validates batches (CRC) and truncates the log at the first
bad batch; everything before it is still served intact; the bad batch is gone
(the log end is its base offset); new produces continue at that offset.
Apache Kafka does the same with the same files; on Gregor the broker log
also says what recovery did.
"""

import re
import struct

import pytest

from conftest import consume_partitions, create_topic, produce_all, watermarks

TOPIC = "corrupt"
BATCHES = 6
PER_BATCH = 20


def walk_batches(data):
    """[(position, baseOffset, total_bytes, lastOffsetDelta)] of the v2 batches in a segment."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length <= 0:
            break  # preallocated zeros / end
        total = 12 + length
        if pos + total > len(data):
            break
        last_delta = struct.unpack_from(">i", data, pos + 23)[0]
        assert data[pos + 16] == 2, "batch at %d has magic %d" % (pos, data[pos + 16])
        out.append((pos, base, total, last_delta))
        pos += total
    return out


def produce_batches(bootstrap, start_index, n_batches):
    """n_batches flushes of PER_BATCH messages; returns the values in offset order."""
    values = []
    for b in range(n_batches):
        msgs = [{"key": b"k", "value": b"batch%02d-msg%02d-" % (start_index + b, i) + b"z" * 50,
                 "partition": 0} for i in range(PER_BATCH)]
        d = produce_all(bootstrap, TOPIC, msgs, linger__ms=100)
        d.sort(key=lambda m: m.offset())
        values += [m.value() for m in d]
    return values


@pytest.mark.timeout(180)
@pytest.mark.parametrize("where", ["records", "header-crc"])
def test_corrupt_last_batch_is_truncated(broker, where):
    create_topic(broker.bootstrap, TOPIC, partitions=1)
    values = produce_batches(broker.bootstrap, 0, BATCHES)
    assert len(values) == BATCHES * PER_BATCH

    broker.kill9()

    segs = sorted(broker.partition_dir(TOPIC, 0).glob("*.log"))
    assert segs, "no .log segment in %s" % broker.partition_dir(TOPIC, 0)
    active = segs[-1]
    data = bytearray(active.read_bytes())
    batches = walk_batches(data)
    assert len(batches) >= 2, "need at least two batches in %s, found %d" % (active.name, len(batches))
    end_of_batches = batches[-1][0] + batches[-1][2]
    assert batches[-1][1] + batches[-1][3] + 1 == len(values), "last batch does not end at the log end"

    pos, base, total, _ = batches[-1]
    if where == "records":
        # flip bytes inside the last record's value (covered by the CRC)
        for i in (total - 3, total - 10, total - 20):
            data[pos + i] ^= 0xFF
    else:
        # flip the stored CRC itself
        data[pos + 17] ^= 0x5A
    active.write_bytes(bytes(data))
    print("corrupted batch at position %d of %s: baseOffset %d, %d bytes (segment has %d batch bytes)"
          % (pos, active.name, base, total, end_of_batches))

    broker.restart()
    if broker.kind == "gregor":  # the words of the log are Gregor's own
        log = broker.log_text()
        lines = [ln for ln in log.splitlines() if "recovery" in ln.lower()]
        assert lines, "no recovery line in the broker log:\n%s" % log[-3000:]
        assert any(re.search(r"truncat", ln, re.I) for ln in lines), \
            "recovery did not report a truncation:\n%s" % "\n".join(lines)

    # everything before the bad batch is served; the bad batch is gone
    assert watermarks(broker.bootstrap, TOPIC, 0) == (0, base)
    got = consume_partitions(broker.bootstrap, TOPIC, {0: base}, timeout=60)[0]
    assert [m.offset() for m in got] == list(range(base))
    assert [m.value() for m in got] == values[:base]

    # the segment file no longer holds the damaged bytes
    assert active.stat().st_size >= pos
    tail = walk_batches(active.read_bytes())
    assert all(b[1] < base for b in tail), "damaged batch still in the segment after recovery"

    # new writes continue at the truncated end
    more = produce_batches(broker.bootstrap, 100, 2)
    got = consume_partitions(broker.bootstrap, TOPIC, {0: base + len(more)}, timeout=60)[0]
    assert [m.offset() for m in got] == list(range(base + len(more)))
    assert [m.value() for m in got] == values[:base] + more
    assert broker.stop() == 0
