"""
The cleaner's segment swap survives a crash at each of its steps.

Gregor's swap (src/storage/log.c, plog_swap_cleaned) follows Kafka's
.cleaned/.swap protocol. A random kill -9 rarely lands inside the few
milliseconds of a swap, so this test stops the broker dead (as kill -9
would: _exit, no cleanup) at each step through the test hook
GREGOR_TEST_SWAP_CRASH=<step>:
  1  the cleaned segment is written and fsynced as *.cleaned
  2  it is renamed *.swap (the swap is now decided)
  3  the old segments' files are gone, the *.swap not yet renamed
  4  its index files are renamed, its .log not yet
and proves that the restarted broker holds, for every key, its latest
acknowledged value (tombstoned keys: nothing newer than the tombstone),
offsets strictly increasing, no record twice, that it says what it did with
the interrupted swap, and that cleaning then completes.
"""

import time

import pytest

from conftest import BrokerError, create_topic, produce_all

KEYS = 300
RECORDS = 12000
DELETED = 30  # the first DELETED keys end with a tombstone


def produce_table(bootstrap, topic):
    msgs = [{"key": b"k%d" % (i % KEYS), "value": b"v%d-" % i + b"x" * 40} for i in range(RECORDS)]
    msgs += [{"key": b"k%d" % k, "value": None} for k in range(DELETED)]
    # Unique keys after the table, so that all of it lies in closed segments
    # (the active one is never cleaned).
    msgs += [{"key": b"f%d" % i, "value": b"filler" + b"y" * 60} for i in range(3000)]
    produce_all(bootstrap, topic, msgs, **{"batch.size": 4096, "linger.ms": 2})
    latest = {}
    for m in msgs:
        latest[m["key"]] = m["value"]
    return latest


def read_all(bootstrap, topic, timeout=30):
    """Every record from offset 0 to the high watermark: [(offset, key, value)]."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-check", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, 0)])
        out, deadline = [], time.monotonic() + timeout
        while (not out or out[-1][0] < hi - 1) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.offset(), m.key(), m.value()))
        assert out and out[-1][0] == hi - 1, "read %d records, high watermark %d" % (len(out), hi)
        return out
    finally:
        c.close()


def check_table(records, latest):
    offsets = [o for o, _, _ in records]
    assert offsets == sorted(set(offsets)), "offsets not strictly increasing"
    last = {}
    for _, k, v in records:
        last[k] = v
    for k, v in latest.items():
        if v is None:
            assert last.get(k) is None, "deleted key %r came back with %r" % (k, last.get(k))
        else:
            assert last.get(k) == v, "key %r: latest value %r, read %r" % (k, v, last.get(k))


@pytest.mark.gregor_only("Gregor's crash-point test hook inside its segment swap")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_crash_inside_swap(start_broker, monkeypatch, step):
    # The table goes in while the cleaner sleeps (it looks once at start,
    # then every backoff); the next start cleans at once, and stops dead.
    b = start_broker(log__cleaner__backoff__ms=3600000)
    topic = "swapcrash"
    create_topic(b.bootstrap, topic, config={"cleanup.policy": "compact", "segment.bytes": "65536",
                                              "min.cleanable.dirty.ratio": "0.01"})
    latest = produce_table(b.bootstrap, topic)
    assert b.stop() == 0
    monkeypatch.setenv("GREGOR_TEST_SWAP_CRASH", str(step))
    b.overrides["log.cleaner.backoff.ms"] = "100"
    try:
        b.start()  # once: restart() would retry a start that stops dead
    except BrokerError:
        pass  # it may stop dead before it listens
    rc = b.wait_exit(timeout=60)
    assert rc == 137, "the broker did not stop at swap step %d (exit %r):\n%s" % (step, rc, b.log_tail())
    assert "stopping dead at swap step %d" % step in b.log_text()
    files = sorted(p.name for p in b.partition_dir(topic, 0).iterdir())
    leftover = {1: ".log.cleaned", 2: ".log.swap", 3: ".log.swap", 4: ".log.swap"}[step]
    assert any(f.endswith(leftover) for f in files), files

    monkeypatch.delenv("GREGOR_TEST_SWAP_CRASH")
    b.start()
    log = b.log_text()
    if step == 1:
        assert "leftover of an interrupted operation" in log, log
    else:
        assert "completed the swap of cleaned segment" in log, log
    assert "corrupt" not in log.lower(), log
    check_table(read_all(b.bootstrap, topic), latest)

    # The cleaner goes on from there and finishes: one record per key in
    # the closed segments, the latest values still.
    deadline = time.monotonic() + 60
    while True:
        recs = read_all(b.bootstrap, topic)
        check_table(recs, latest)
        keys = [k for _, k, _ in recs if k.startswith(b"k")]
        if len(keys) == len(set(keys)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(keys) == len(set(keys)) == KEYS, "after cleaning: %d records of %d keys" % (len(keys), len(set(keys)))
    # The swap is visible to readers before the pass writes its checkpoint
    # and its log line: give the line a moment (slow under the sanitizers).
    while "cleaned offsets" not in b.log_text(all_runs=True) and time.monotonic() < deadline + 10:
        time.sleep(0.2)
    assert "cleaned offsets" in b.log_text(all_runs=True)


@pytest.mark.gregor_only("counts the passes in Gregor's cleaner log lines")
@pytest.mark.timeout(300)
def test_dirty_part_larger_than_the_key_map(start_broker):
    """A dirty part with more keys than the key map holds
    (log.cleaner.dedupe.buffer.size at its 1 MiB minimum: about 39,000
    keys) is cleaned in several passes, each starting where the last one's
    map ended, and ends with one record per key, every key's latest value."""
    b = start_broker(**{"log.cleaner.enable": False, "log.cleaner.dedupe.buffer.size": 1048576,
                        "log.cleaner.backoff.ms": 100})
    topic = "bigmap"
    create_topic(b.bootstrap, topic, config={"cleanup.policy": "compact", "segment.bytes": "1048576",
                                              "min.cleanable.dirty.ratio": "0.01"})
    keys = 60000
    msgs = [{"key": b"key-%06d" % (i % keys), "value": b"v%d" % i} for i in range(2 * keys)]
    msgs += [{"key": b"f%d" % i, "value": b"x" * 200} for i in range(6000)]  # closes the table's segments
    produce_all(b.bootstrap, topic, msgs, **{"batch.size": 65536, "linger.ms": 5})
    latest = {}
    for m in msgs:
        latest[m["key"]] = m["value"]
    b.restart(**{"log.cleaner.enable": True})
    deadline = time.monotonic() + 120
    while True:
        recs = read_all(b.bootstrap, topic, timeout=60)
        check_table(recs, latest)
        table = [k for _, k, _ in recs if k.startswith(b"key-")]
        if len(table) == keys or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(table) == len(set(table)) == keys, "%d records of %d keys" % (len(table), len(set(table)))
    passes = [l for l in b.log_text().splitlines() if "bigmap-0: cleaned offsets" in l]
    assert len(passes) >= 2, passes
