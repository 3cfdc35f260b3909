"""
A full disk (issue 17, item 3): the log directory is a 32 MiB tmpfs, a
filler file takes part of it, and a producer with acks=all writes until
the broker answers KAFKA_STORAGE_ERROR.

- While the partition cannot write, every acknowledged record stays
  readable (Kafka would take the whole log directory offline here, so this
  is Gregor-only).
- Once the filler is deleted, writes resume without a restart: the next
  records are acknowledged, at the offsets after the last acknowledged one.
- Nothing acknowledged is lost, and nothing unacknowledged appears twice.

Needs root (it mounts a tmpfs); the harness runs as root in CI.
"""
import os
import subprocess
import time

import pytest

from conftest import Broker, consume_partitions, create_topic, make_producer

pytestmark = pytest.mark.gregor_only(
    "Kafka takes the log directory offline on a full disk; Gregor keeps serving reads")

TMPFS_MIB = 32
FILLER_MIB = 12


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MIB, "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.fail("cannot mount a tmpfs for the disk-full test (needs root): %s"
                    % r.stderr.strip(), pytrace=False)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def produce_until_full(bootstrap, topic, start, limit, value):
    """Produce numbered records until one fails; returns the delivered
    (number, offset) pairs and the first error."""
    p = make_producer(bootstrap, **{"acks": "all", "linger.ms": 2, "retries": 0,
                                    "message.timeout.ms": 10000})
    delivered, errors = [], []

    def dr(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append((int(msg.key()), msg.offset()))

    n = start
    deadline = time.monotonic() + 60
    while not errors and n < start + limit and time.monotonic() < deadline:
        p.produce(topic, key=b"%d" % n, value=value, partition=0, on_delivery=dr)
        n += 1
        if n % 200 == 0:
            p.flush(10)
    p.flush(30)
    return delivered, errors


def test_full_disk_keeps_reads_and_resumes_writes(small_disk, tmp_path):
    filler = small_disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (FILLER_MIB << 20))
    broker = Broker(tmp_path / "b", {"log.dirs": str(small_disk / "data"),
                                      "log.segment.bytes": 4 << 20}).start()
    try:
        create_topic(broker.bootstrap, "full", 1)
        value = os.urandom(1000)
        acked, errors = produce_until_full(broker.bootstrap, "full", 0, 100000, value)
        assert errors, "the disk never filled up"
        assert any("storage" in str(e).lower() or "KAFKA_STORAGE_ERROR" in str(e)
                   for e in errors), errors[:3]
        assert len(acked) > 1000
        acked.sort(key=lambda x: x[1])
        assert [o for _, o in acked] == list(range(len(acked)))
        assert "is out of space, refusing writes" in broker.log_text()

        # Reads go on while the partition cannot write.
        got = consume_partitions(broker.bootstrap, "full", {0: len(acked)})[0]
        assert [(int(m.key()), m.offset()) for m in got] == acked

        # Space comes back: writes resume, no restart.
        filler.unlink()
        time.sleep(1.2)  # past the broker's one-probe-a-second interval
        more, errors2 = produce_until_full(broker.bootstrap, "full", 1000000, 500, value)
        if errors2:  # the first one may meet the probe interval; one more round
            time.sleep(1.2)
            more2, errors2 = produce_until_full(broker.bootstrap, "full", 2000000, 500, value)
            more += more2
        assert not errors2, errors2[:3]
        assert len(more) >= 500
        assert "space is available again, writes resume" in broker.log_text()
        total = acked + sorted(more, key=lambda x: x[1])
        got = consume_partitions(broker.bootstrap, "full", {0: len(total)})[0]
        keys = [int(m.key()) for m in got]
        assert [m.offset() for m in got] == list(range(len(got)))
        assert set(k for k, _ in total) <= set(keys), "acknowledged records lost"
        assert len(keys) == len(set(keys)), "a record appears twice"
        assert broker.alive()
    finally:
        broker.kill9()
