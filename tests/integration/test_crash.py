"""
Crash consistency: kill -9 the broker under a continuous acks=all producer.

Proves: every message whose delivery was acknowledged (acks=all) before the
crash is, after restart, readable at the acknowledged partition/offset with an
identical value, in production order; it accepts new writes right after
the acknowledged data; a Gregor broker also reports in its log that it ran
recovery.
"""

import signal
import subprocess
import sys
import time

import pytest

from conftest import HERE, consume_partitions, create_topic, produce_all, watermarks

PARTITIONS = 3


def read_acks(path):
    """[(partition, offset, value)] from complete lines of the producer's file."""
    acks = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn last line
            p, o, v = line.split()
            acks.append((int(p), int(o), v))
    return acks


@pytest.mark.timeout(300)
@pytest.mark.parametrize("run", [0, 1], ids=["crash1", "crash2"])
def test_kill9_keeps_acknowledged_writes(start_broker, small_segments, tmp_path, run):
    # run 0: one segment, fsyncs of the partitions in parallel (num.io.threads
    # 8); run 1: many segments (rolls, index files), fsyncs one at a time.
    overrides, seg_config = small_segments(256 * 1024) if run else ({}, {})
    broker = start_broker(num__io__threads=1 if run else 8, **overrides)
    topic = "crash"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS, config=seg_config)

    acks_file = tmp_path / "acks.txt"
    prod = subprocess.Popen([sys.executable, str(HERE / "crash_producer.py"), broker.bootstrap,
                             topic, str(PARTITIONS), str(acks_file), "--max-seconds", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # let it run ~3 s (and until at least some acks exist, up to 20 s)
        t0 = time.monotonic()
        while True:
            time.sleep(0.2)
            assert prod.poll() is None, "producer died: %s" % prod.stderr.read().decode()[-2000:]
            elapsed = time.monotonic() - t0
            n = len(read_acks(acks_file)) if acks_file.exists() else 0
            if elapsed >= 3 and n >= 100:
                break
            assert elapsed < 20, "producer got only %d acks in 20 s" % n
        broker.kill9()
        time.sleep(0.5)  # let in-flight reports (there can be none) drain
        prod.send_signal(signal.SIGTERM)
        out, err = prod.communicate(timeout=30)
    finally:
        if prod.poll() is None:
            prod.kill()
            prod.wait(timeout=10)

    acks = read_acks(acks_file)
    assert acks, "no acknowledged messages before the crash"
    print("acknowledged before crash: %d (%s)" % (len(acks), out.decode().strip()))

    broker.restart()
    if broker.kind == "gregor":  # the words of the log are Gregor's own
        log = broker.log_text()
        assert any("recovery" in ln.lower() for ln in log.splitlines()), \
            "no 'recovery' in broker log after kill -9:\n%s" % log[-3000:]

    # What each partition must hold: at least up to the highest acked offset.
    acked = {}  # partition -> {offset: value}
    for p, o, v in acks:
        assert o not in acked.setdefault(p, {}), "offset %d in partition %d acked twice" % (o, p)
        acked[p][o] = v
    ends = {}
    for p in range(PARTITIONS):
        lo, hi = watermarks(broker.bootstrap, topic, p)
        assert lo == 0
        need = max(acked.get(p, {-1: None})) + 1
        assert hi >= need, "partition %d: log end %d, but offset %d was acknowledged" % (p, hi, need - 1)
        ends[p] = hi

    got = consume_partitions(broker.bootstrap, topic, ends, timeout=120)
    for p in range(PARTITIONS):
        log_p = got[p]
        assert [m.offset() for m in log_p] == list(range(ends[p])), "partition %d has offset gaps" % p
        values = [m.value().decode() for m in log_p]
        for o, v in acked.get(p, {}).items():
            assert values[o] == v, "partition %d offset %d: %r, acknowledged %r" % (p, o, values[o], v)
        # production order: sequence numbers increase with the offset
        seqs = [int(v[1:]) for v in values]
        assert seqs == sorted(seqs), "partition %d: records out of production order" % p
        assert len(set(seqs)) == len(seqs), "partition %d: duplicated records" % p

    # the broker goes on from the recovered end
    d = produce_all(broker.bootstrap, topic, [{"value": b"after-crash", "partition": p}
                                               for p in range(PARTITIONS)])
    for m in d:
        assert m.offset() == ends[m.partition()]
    assert broker.stop() == 0
