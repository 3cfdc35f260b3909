"""
Log compaction (cleanup.policy=compact, issue 10), with real clients against
a real broker, on Apache Kafka 4.4.0 and on Gregor.

Proves:
- test_compacted_topic_keeps_latest_per_key: a compacted partition fed
  200,000 records over 1,000 keys, then tombstones for 100 of them, is
  cleaned to exactly one record per live key carrying its latest value, at
  the offset it was produced at (offsets strictly increase, with gaps);
  the deleted keys' tombstones go too once delete.retention.ms has passed;
  DescribeLogDirs reports the partition under a tenth of its size before
  cleaning;
- test_compaction_survives_kill9: the broker killed with SIGKILL while its
  (throttled) cleaner works, 10 times: after every restart each record read
  is the one produced at its offset, offsets increase, every key's latest
  value is there, and the broker's log says nothing about corruption; at
  the end one record per key;
- test_consumer_offsets_compacted: 1,000,000 offset commits of 50 groups
  (COMMITS; scaled() by GREGOR_TEST_QUICK) are cleaned out of
  __consumer_offsets (its DescribeLogDirs size falls under a hundredth of
  what the commits wrote), the latest offsets survive restarts; the
  restart-to-ready times are printed (not asserted);
- test_idle_group_keeps_offsets_past_retention: with a two-second
  log.retention.ms, a group's offsets committed in a segment that expired
  and was rolled away from are still there after a restart
  (__consumer_offsets is compact-only: retention never trims it), while a
  delete-policy topic beside it is trimmed;
- test_compaction_transactions: committed and aborted transactions on the
  same keys: after cleaning, read_uncommitted and read_committed both see
  exactly the latest committed value of each key and nothing of the aborted
  transactions; a transaction marker (read from the segment files) never
  disappears while a record of its transaction is left, and those of the
  aborted transactions go once delete.retention.ms has passed;
- test_compaction_min_lag: min.compaction.lag.ms of an hour keeps every
  record, while the same records on a topic with 0 are cleaned;
- test_segment_ms_rolls_across_restart: segment.ms rolls a segment that
  was active before a restart (kill -9 or SIGTERM): the age counts from
  the segment's first record, as in Kafka, so a compacted log's tail
  becomes cleanable after a restart too.

How the tests make Kafka clean promptly: log.cleaner.backoff.ms=500, a 16 MiB
dedupe buffer, log.cleaner.min.cleanable.ratio=0.01, small segments (the
small_segments fixture: internal.segment.bytes on Kafka) and segment.ms=2000
on the topics. Kafka cleans only closed segments, so after the last record
that matters each test waits past segment.ms and produces one record of a
key of its own ("roll"): that append rolls the segment, and everything
before it becomes cleanable (the roll record itself stays in the active
segment and is left out of the per-key checks). Kafka 4.4 also cleans a
log only when new data made it dirty enough (no pass for expired
tombstones or markers alone), so while waiting for those to go the tests
keep appending records of the roll key (nudger). Where a size "before" is
needed, the data is written with log.cleaner.enable=false and the broker
restarted with it true.

Every test passes on both brokers. Where Gregor could differ, gap() raises
GregorGap with the exact symptom (and start() turns a refused broker key
into one), so a strict expected failure (conftest's gregor_gap) can be put
on a test should Gregor lose what it proves; without the mark that is an
ordinary failure.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_compaction.py \
        -q -p no:cacheprovider [--broker=kafka]
(DescribeLogDirs goes through kafka-python 3 in build/venv: compact_log_dirs.py;
scripts/venv makes the venv if it is missing.) The kill schedule is seeded
(printed with -s); GREGOR_COMPACT_SEED=N draws another one and
GREGOR_COMPACT_KILLS=N kills N times instead of 10.
"""

import json
import os
import random
import re
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, OFFSET_BEGINNING, Producer, TopicPartition

from conftest import (BrokerError, GregorGap, create_topic, make_consumer, produce_all,
                      scaled, watermarks)
from test_groups_support import offsets_partition, wait_coordinator_ready

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV_PYTHON = REPO / "build" / "venv" / "bin" / "python"
LOG_DIRS_SCRIPT = HERE / "compact_log_dirs.py"

MiB = 1024 * 1024
SEGMENT = 256 * 1024        # small segments: many closed segments
ROLL_MS = 2000              # the topics' segment.ms (see roll())
CLEAN_DEADLINE = 120        # seconds a test waits for the cleaned state
# What makes Kafka's cleaner prompt (its defaults: 15 s backoff, 128 MiB
# buffer, ratio 0.5).
CLEANER = {"log.cleaner.enable": True,
           "log.cleaner.threads": 1,
           "log.cleaner.backoff.ms": 500,
           "log.cleaner.dedupe.buffer.size": 16 * MiB,
           "log.cleaner.min.cleanable.ratio": "0.01",
           "log.cleaner.min.compaction.lag.ms": 0}
PRODUCER_BATCH = {"batch.size": 32768}   # a batch must fit in a small segment
ROLL_KEY = b"roll"

UNKNOWN_KEY = re.compile(r"unknown configuration key '[^']+'")
CORRUPTION = re.compile(r"corrupt", re.IGNORECASE)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def gap(broker, message):
    """Where Gregor differs from Kafka: GregorGap on Gregor (the strict
    expected failure of a gregor_gap test), a plain failure on Kafka."""
    print("gap: " + message)
    if broker.kind == "gregor":
        raise GregorGap(message)
    raise AssertionError(message)


def start(start_broker, **overrides):
    """start_broker, with Gregor's refusal of one of Kafka's broker keys
    made the Gregor gap it is (GregorGap naming the key)."""
    try:
        return start_broker(**overrides)
    except BrokerError as e:
        m = UNKNOWN_KEY.search(str(e))
        if m:
            raise GregorGap("gregor refuses the override: " + m.group(0))
        raise


def compact_topic(broker, topic, small_segments, **config):
    conf = {"cleanup.policy": "compact", "segment.ms": str(ROLL_MS)}
    conf.update(small_segments(SEGMENT)[1])
    conf.update({k.replace("__", "."): str(v) for k, v in config.items()})
    create_topic(broker.bootstrap, topic, 1, config=conf)


def produce(broker, topic, pairs):
    """Produce (key, value) pairs (value None: a tombstone) to partition 0
    with acks=all; returns {offset: (key, value)}."""
    delivered = produce_all(broker.bootstrap, topic,
                            [{"key": k, "value": v, "partition": 0} for k, v in pairs],
                            flush_timeout=120, **PRODUCER_BATCH)
    return {m.offset(): (m.key(), m.value()) for m in delivered}


def roll(broker, topic):
    """Close the active segment: after segment.ms the next append rolls it,
    so that record (key "roll") starts a segment of its own. Returns
    {offset: (key, value)} of that one record."""
    time.sleep(ROLL_MS / 1000 + 0.5)
    rolled = produce(broker, topic, [(ROLL_KEY, b"rolled")])
    (off,) = rolled
    first = "%020d.log" % off
    logs = sorted(f.name for f in broker.partition_dir(topic, 0).glob("*.log"))
    if first not in logs:
        gap(broker, "segment.ms did not roll: the record appended %.1f s after the last one is "
            "at offset %d, in segment %s" % (ROLL_MS / 1000 + 0.5, off,
                                              [f for f in logs if f < first][-1]))
    return rolled


def read_log(bootstrap, topic, isolation="read_uncommitted", quiet=0.5, timeout=90):
    """(offset, key, value) of every record a consumer gets from the start of
    partition 0 until it reports the end of the partition and then nothing
    more for `quiet` seconds."""
    c = make_consumer(bootstrap, **{"isolation.level": isolation,
                                    "enable.partition.eof": True,
                                    "fetch.max.bytes": 8 * MiB,
                                    "group.id": "compaction-reader"})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got, eof, last = [], False, time.monotonic()
        deadline = time.monotonic() + timeout
        while not eof or time.monotonic() - last < quiet:
            assert time.monotonic() < deadline, (
                "%s reader of %s: no end of partition within %d s (got %d)"
                % (isolation, topic, timeout, len(got)))
            for m in c.consume(num_messages=5000, timeout=0.2):
                last = time.monotonic()
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof = True
                        continue
                    raise AssertionError("%s reader: %s" % (isolation, m.error()))
                got.append((m.offset(), m.key(), m.value()))
        return got
    finally:
        c.close()


def check_produced(records, produced):
    """Every record read is the one produced at its offset, and offsets
    strictly increase."""
    prev = -1
    for off, k, v in records:
        assert off > prev, "offset %d after %d" % (off, prev)
        prev = off
        assert produced.get(off) == (k, v), (
            "offset %d holds %r=%r, produced there: %r" % (off, k, v, produced.get(off)))


def latest(produced):
    """{key: (offset, value)} of each key's last record (value None: deleted)."""
    out = {}
    for off in sorted(produced):
        k, v = produced[off]
        out[k] = (off, v)
    return out


def compacted(produced, keep_tombstones=False):
    """The records a fully cleaned log holds: each key's last one, in offset
    order; tombstones only if keep_tombstones."""
    return sorted((off, k, v) for k, (off, v) in latest(produced).items()
                  if v is not None or keep_tombstones)


def log_bytes(broker, topic):
    """The bytes of the partition's segment files on disk."""
    total = 0
    for f in broker.partition_dir(topic, 0).glob("*.log"):
        try:
            total += f.stat().st_size
        except FileNotFoundError:   # swapped away by the cleaner meanwhile
            pass
    return total


_venv_checked = []


def log_dir_sizes(bootstrap):
    """{"topic-partition": bytes} from DescribeLogDirs (kafka-python 3's
    KafkaAdminClient in build/venv; scripts/venv makes it if missing)."""
    if not _venv_checked:
        check = subprocess.run([str(REPO / "scripts" / "venv"), "--check"], cwd=str(REPO),
                               capture_output=True, text=True, timeout=120)
        if check.returncode != 0:
            r = subprocess.run([str(REPO / "scripts" / "venv")], cwd=str(REPO),
                               capture_output=True, text=True, timeout=1300)
            assert r.returncode == 0, "scripts/venv failed (%d):\n%s%s" % (
                r.returncode, r.stdout[-3000:], r.stderr[-3000:])
        _venv_checked.append(True)
    r = subprocess.run([str(VENV_PYTHON), str(LOG_DIRS_SCRIPT), bootstrap],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "compact_log_dirs.py exited %d:\n%s%s" % (
        r.returncode, r.stdout, r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def poll(deadline_s, probe, interval=1.0, nudge=None):
    """Call probe() until it returns a true value or deadline_s pass (and
    nudge(), if given, after each false one); returns (value, seconds
    waited) - the last (false) value on timeout."""
    t0 = time.monotonic()
    while True:
        v = probe()
        if v or time.monotonic() - t0 > deadline_s:
            return v, time.monotonic() - t0
        if nudge is not None:
            nudge()
        time.sleep(interval)


NUDGE_VALUE = 4096


def nudger(broker, topic, produced):
    """A nudge for poll(): one 4 KiB record of the roll key. Kafka 4.4
    cleans a log only when its dirty part is over min.cleanable.dirty.ratio
    (there is no pass for tombstones or markers alone): a tombstone or a
    marker whose delete horizon has passed goes in the next pass, and that
    pass needs new data in closed segments. With segment.ms=2000 these
    appends roll a segment every 2 s, each holding a few of them."""
    n = [0]

    def nudge():
        n[0] += 1
        produced.update(produce(broker, topic, [(ROLL_KEY, (b"nudge %d " % n[0]).ljust(
            NUDGE_VALUE, b"."))]))
    return nudge


def without_roll(records):
    return [r for r in records if r[1] != ROLL_KEY]


# ---- the segment files, read directly (transaction markers are invisible
# ---- to consumers). Both brokers write Kafka's record batch v2.

def _varint(data, pos):
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _scan_once(partition_dir):
    batches = []
    for path in sorted(partition_dir.glob("*.log")):
        data = path.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length < 49 or pos + 12 + length > len(data):
                break           # the end (or a batch still being written)
            (_epoch, magic, _crc, attrs, last_delta, _bts, _mts, pid, _pepoch, _seq,
             count) = struct.unpack_from(">ibIhiqqqhii", data, pos + 12)
            assert magic == 2, "%s: magic %d at %d" % (path, magic, pos)
            control = None
            if attrs & 0x20 and count > 0:
                # the control record's key: version int16, type int16 (0 abort, 1 commit)
                p = pos + 61
                _len, p = _varint(data, p)
                p += 1                                  # attributes
                _tsd, p = _varint(data, p)
                _od, p = _varint(data, p)
                klen, p = _varint(data, p)
                assert klen >= 4, "%s: control key of %d bytes" % (path, klen)
                _ver, ctype = struct.unpack_from(">hh", data, p)
                control = {0: "abort", 1: "commit"}.get(ctype, "type%d" % ctype)
            elif attrs & 0x20:
                control = "empty"
            batches.append({"base": base, "last": base + last_delta, "count": count,
                            "pid": pid, "transactional": bool(attrs & 0x10),
                            "control": control})
            pos += 12 + length
    return batches


def scan_batches(partition_dir, timeout=30):
    """Every record batch of the partition's .log files in offset order, as
    dicts (base, last, count, pid, transactional, control: None for data,
    "commit"/"abort" for a marker). The cleaner swaps files while we read,
    so a scan is trusted only when the next one reads the same."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        try:
            cur = _scan_once(partition_dir)
        except FileNotFoundError:
            cur = None
        if cur is not None and cur == prev:
            return cur
        assert time.monotonic() < deadline, "no stable scan of %s in %d s" % (
            partition_dir, timeout)
        prev = cur
        time.sleep(0.1)


# --------------------------------------------------------------------------
# 1. one record per key
# --------------------------------------------------------------------------

KEYS = 1000
DELETED = 100                    # keys deleted by a tombstone at the end
RECORDS = scaled(200_000)


def key_of(i):
    return b"key-%04d" % i


@pytest.mark.timeout(900)
def test_compacted_topic_keeps_latest_per_key(start_broker, small_segments):
    """200,000 records over 1,000 keys (each value names its key and
    sequence number), then tombstones for the last 100 keys, in 256 KiB
    segments, written with the cleaner off. Restarted with the cleaner on,
    the partition is cleaned until a consumer from the beginning reads
    exactly one record per live key with its latest value, at the offset it
    was produced at, and nothing of the deleted keys (their tombstones are
    kept for delete.retention.ms=1000 after the first cleaning, then go).
    Every record but the roll record is in a closed segment, so the check
    is exact for all 1,000 keys (the roll key's records, written to keep
    the log dirty (see nudger), are only checked to be ones produced).
    DescribeLogDirs then reports under a tenth of the partition's size
    before cleaning (about 1/200 on Kafka)."""
    overrides, _ = small_segments(SEGMENT)
    broker = start(start_broker, **dict(CLEANER, **overrides, **{"log.cleaner.enable": False}))
    bs, topic = broker.bootstrap, "compacted"
    compact_topic(broker, topic, small_segments, delete__retention__ms=1000)

    pad = b"." * 100
    produced = produce(broker, topic, [(key_of(i % KEYS), b"%s:%07d:%s" % (key_of(i % KEYS), i,
                                                                          pad))
                                       for i in range(RECORDS)])
    produced.update(produce(broker, topic, [(key_of(k), None)
                                            for k in range(KEYS - DELETED, KEYS)]))
    produced.update(roll(broker, topic))
    assert len(produced) == RECORDS + DELETED + 1
    segments = len(list(broker.partition_dir(topic, 0).glob("*.log")))
    assert segments >= 8, "only %d segments" % segments
    size_before = log_dir_sizes(bs)["%s-0" % topic]
    assert size_before > RECORDS * 100, size_before

    broker.restart(**{"log.cleaner.enable": True})
    expected = without_roll(compacted(produced))
    assert len(expected) == KEYS - DELETED
    last = []

    def cleaned():
        # Reading 200,000 records is not free: only once the files shrank.
        if log_bytes(broker, topic) > size_before // 10:
            return False
        last[:] = read_log(bs, topic)
        return without_roll(last) == expected
    ok, waited = poll(CLEAN_DEADLINE, cleaned, nudge=nudger(broker, topic, produced))
    if not last:
        last[:] = read_log(bs, topic)
    check_produced(last, produced)
    if not ok:
        gap(broker, "not cleaned within %d s: %d records remain, expected %d and the roll key's"
            % (CLEAN_DEADLINE, len(without_roll(last)), len(expected)))
    print("cleaned %d records to %d in %.1f s" % (len(produced), len(last), waited))
    offsets = [off for off, _k, _v in last]
    assert offsets[-1] - offsets[0] + 1 > len(offsets)           # gaps
    assert ROLL_KEY in {k for _o, k, _v in last}

    size_after = log_dir_sizes(bs)["%s-0" % topic]
    print("DescribeLogDirs: %d bytes before cleaning, %d after" % (size_before, size_after))
    assert size_after < size_before / 10, (size_before, size_after)


# --------------------------------------------------------------------------
# 2. kill -9 while cleaning
# --------------------------------------------------------------------------

KILL_KEYS = 2000
KILL_VALUE = 1000
KILL_INITIAL_WAVES = 3            # ~6 MB, cleaned before the first kill
KILLS = int(os.environ.get("GREGOR_COMPACT_KILLS", "10"))
THROTTLE = 4 * MiB                # log.cleaner.io.max.bytes.per.second


def wave(n):
    """One new value for every key; the value names key and wave."""
    return [(key_of(k), (b"%s:wave%03d:" % (key_of(k), n)).ljust(KILL_VALUE, b"."))
            for k in range(KILL_KEYS)]


@pytest.mark.timeout(900)
def test_compaction_survives_kill9(start_broker, small_segments):
    """A compacted partition of 2,000 keys with 1 KB values, the cleaner
    throttled to 4 MiB/s, three waves of values for every key, cleaned
    first. Then 10 rounds (seeded): a new wave of values for every key
    (2 MB: a pass over the log takes a second or two at that rate), wait
    0.1-2 s while the cleaner works on it, kill -9, restart, read
    everything: each record is the one produced at its offset, offsets
    strictly increase, every key's latest value is present, and the
    broker's log says nothing about corruption. A pass that a kill cut
    short is started again after the restart, with the next wave on top.
    At the end (one more wave, segment rolled, one clean restart,
    unthrottled) one record per key, its latest."""
    seed = int(os.environ.get("GREGOR_COMPACT_SEED", "20261206"))
    rng = random.Random(seed)
    print("kill schedule seed %d" % seed)
    overrides, _ = small_segments(SEGMENT)
    broker = start(start_broker, **dict(CLEANER, **overrides,
                                        **{"log.cleaner.io.max.bytes.per.second": THROTTLE}))
    bs, topic = broker.bootstrap, "killed-while-cleaning"
    compact_topic(broker, topic, small_segments, delete__retention__ms=1000)
    produced = {}
    for n in range(KILL_INITIAL_WAVES):
        produced.update(produce(broker, topic, wave(n)))
    # Cleaned once before the kills: every round's pass then has about one
    # wave to do, and some finish before their kill, some do not.
    limit = (KILL_KEYS * KILL_VALUE * 3) // 2 + SEGMENT
    ok, _ = poll(CLEAN_DEADLINE, lambda: log_bytes(broker, topic) < limit)
    if not ok:
        gap(broker, "the first waves not cleaned within %d s: %d bytes of segments"
            % (CLEAN_DEADLINE, log_bytes(broker, topic)))

    waves = KILL_INITIAL_WAVES
    for r in range(KILLS):
        produced.update(produce(broker, topic, wave(waves)))
        waves += 1
        delay = rng.uniform(0.1, 2.0)
        time.sleep(delay)
        broker.kill9()
        t0 = time.monotonic()
        broker.restart()
        ready = time.monotonic() - t0
        assert not CORRUPTION.search(broker.log_text()), broker.log_tail()
        records = read_log(bs, topic)
        check_produced(records, produced)
        present = {(k, v) for _o, k, v in records}
        missing = [k for k, (_off, v) in latest(produced).items() if (k, v) not in present]
        assert not missing, "round %d: latest value of %d keys missing, e.g. %r" % (
            r, len(missing), missing[:3])
        print("round %d: killed %.2f s after the wave, restarted in %.1f s, %d of %d records"
              " left" % (r, delay, ready, len(records), len(produced)))

    # The last wave and the roll in one run of the broker (see
    # test_segment_ms_rolls_across_restart), then a clean restart unthrottled.
    produced.update(produce(broker, topic, wave(waves)))
    produced.update(roll(broker, topic))
    broker.restart(**{"log.cleaner.io.max.bytes.per.second": 1000 * MiB})
    assert not CORRUPTION.search(broker.log_text()), broker.log_tail()
    expected = compacted(produced)
    assert len(expected) == KILL_KEYS + 1
    last = []

    def cleaned():
        if log_bytes(broker, topic) > 3 * len(expected) * KILL_VALUE:
            return False
        last[:] = read_log(bs, topic)
        return last == expected
    ok, waited = poll(CLEAN_DEADLINE, cleaned)
    if not last:
        last[:] = read_log(bs, topic)
    check_produced(last, produced)
    if not ok:
        gap(broker, "not cleaned within %d s after the kills: %d records remain, expected %d"
            % (CLEAN_DEADLINE, len(last), len(expected)))
    print("final cleaning: %d records in %.1f s" % (len(last), waited))


# --------------------------------------------------------------------------
# 3. __consumer_offsets
# --------------------------------------------------------------------------

GROUPS = 50
COMMITS = scaled(1_000_000)
SRC_PARTITIONS = 4
# Kafka 4.4 refuses segment.bytes under 1 MiB for __consumer_offsets too
# (its creation fails with INVALID_CONFIG and no group coordinator ever
# becomes available), so: 1 MiB segments, and 5 offsets partitions so that
# each holds several of them.
OFFSETS_SEGMENT = MiB
OFFSETS_PARTITIONS = 5
SYNC_EVERY = 200                 # each group's every 200th commit is synchronous


def commit_all(bootstrap, commits):
    """commits offset commits, round-robin over the 50 groups, commit n
    storing offset n for partition (n // 50) % 4 of "src": asynchronous
    commits, each group's every 200th synchronous (its answer comes after
    those of the asynchronous ones before it on the same connection, which
    bounds what is in flight). Returns {(group, partition): offset}."""
    errors = []

    def on_commit(err, _partitions):
        if err is not None:
            errors.append(err)
    consumers = [make_consumer(bootstrap, **{"group.id": "cg-%02d" % g, "on_commit": on_commit})
                 for g in range(GROUPS)]
    expected = {}
    try:
        for n in range(commits):
            g, p = n % GROUPS, (n // GROUPS) % SRC_PARTITIONS
            c = consumers[g]
            sync = (n // GROUPS) % SYNC_EVERY == SYNC_EVERY - 1 or n >= commits - GROUPS
            c.commit(offsets=[TopicPartition("src", p, n)], asynchronous=not sync)
            expected[("cg-%02d" % g, p)] = n
            if sync:
                c.poll(0)       # serves the on_commit callbacks
            assert not errors, "commit errors: %s" % errors[:5]
        for c in consumers:
            c.poll(0)
        assert not errors, "commit errors: %s" % errors[:5]
        return expected
    finally:
        for c in consumers:
            c.close()


def committed_offsets(bootstrap, groups, timeout=60):
    out = {}
    for g in groups:
        c = make_consumer(bootstrap, **{"group.id": g})
        try:
            for tp in c.committed([TopicPartition("src", p) for p in range(SRC_PARTITIONS)],
                                  timeout=timeout):
                assert tp.error is None, (g, tp)
                if tp.offset >= 0:
                    out[(g, tp.partition)] = tp.offset
        finally:
            c.close()
    return out


def offsets_topic_bytes(bootstrap):
    return sum(size for name, size in log_dir_sizes(bootstrap).items()
               if name.startswith("__consumer_offsets-"))


def timed_restart(broker, **overrides):
    """Stop (SIGTERM), start again, and wait until the group coordinator
    answers; returns the seconds from the start to ready."""
    assert broker.stop() == 0
    t0 = time.monotonic()
    broker.restart(**overrides)
    wait_coordinator_ready(broker)
    return time.monotonic() - t0


@pytest.mark.timeout(1500)
def test_consumer_offsets_compacted(start_broker):
    """COMMITS (1,000,000; GREGOR_TEST_QUICK: 100,000) commits of the same
    50 groups' offsets (4 partitions each) into __consumer_offsets of 5
    partitions with 1 MiB segments (offsets.topic.segment.bytes; Kafka's
    least), written with the cleaner off, segments also rolled every 2 s
    (log.roll.ms). Restarted with the cleaner on, and each group's offsets
    committed once more after 2 s (that append closes the active segments),
    the offsets partitions shrink to under a hundredth of what the commits
    wrote (DescribeLogDirs), and every group's last committed offsets are
    there before and after another restart. The restart-to-ready times (the coordinator answering) with
    the uncleaned and the cleaned log are printed."""
    broker = start(start_broker, **dict(CLEANER, **{"log.cleaner.enable": False,
                                                     "offsets.topic.segment.bytes": OFFSETS_SEGMENT,
                                                     "offsets.topic.num.partitions":
                                                     OFFSETS_PARTITIONS,
                                                     "log.roll.ms": ROLL_MS}))
    bs = broker.bootstrap
    create_topic(bs, "src", SRC_PARTITIONS)
    wait_coordinator_ready(broker)
    t0 = time.monotonic()
    expected = commit_all(bs, COMMITS)
    took = time.monotonic() - t0
    print("%d commits in %.1f s (%.0f/s)" % (COMMITS, took, COMMITS / took))
    groups = sorted({g for g, _p in expected})
    assert committed_offsets(bs, groups) == expected
    size_before = offsets_topic_bytes(bs)
    assert size_before > COMMITS * 50, size_before

    ready_dirty = timed_restart(broker, **{"log.cleaner.enable": True})
    assert committed_offsets(bs, groups) == expected
    # Close the active segments (log.roll.ms): each group commits its last
    # offsets once more, past segment.ms.
    time.sleep(ROLL_MS / 1000 + 0.5)
    again = {}
    for (g, p), off in expected.items():
        again.setdefault(g, []).append(TopicPartition("src", p, off))
    for g, tps in sorted(again.items()):
        c = make_consumer(bs, **{"group.id": g})
        try:
            c.commit(offsets=tps, asynchronous=False)
        finally:
            c.close()

    sizes = []

    def cleaned():
        sizes[:] = [offsets_topic_bytes(bs)]
        return sizes[0] < size_before / 100
    ok, waited = poll(CLEAN_DEADLINE, cleaned, interval=2.0)
    if not ok:
        gap(broker, "__consumer_offsets not cleaned within %d s: %d bytes of %d remain"
            % (CLEAN_DEADLINE, sizes[0], size_before))
    ready_clean = timed_restart(broker)
    assert committed_offsets(bs, groups) == expected
    print("__consumer_offsets: %d bytes written, %d after cleaning (%.1f s); restart to ready: "
          "%.2f s uncleaned, %.2f s cleaned" % (size_before, sizes[0], waited, ready_dirty,
                                              ready_clean))


# --------------------------------------------------------------------------
# 4. retention never trims __consumer_offsets
# --------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_idle_group_keeps_offsets_past_retention(start_broker):
    """log.retention.ms=2000 checked every 500 ms, segments rolled after a
    second (log.roll.ms=1000), offsets.retention.minutes a week. A group
    commits offsets for src-0 and src-1, then 1.5 s later src-1 again (that
    append rolls the offsets partition's segment: the first commit now lies
    in a closed, expired segment). Meanwhile a delete-policy topic is
    trimmed by retention (its log start moves past its first ten records:
    retention really runs). After a restart the group's offsets are still src-0: 7,
    src-1: 5, because __consumer_offsets is compact-only."""
    broker = start_broker(**{"log.retention.ms": 2000,
                             "log.retention.check.interval.ms": 500,
                             "log.roll.ms": 1000,
                             "offsets.retention.minutes": 7 * 24 * 60})
    bs = broker.bootstrap
    create_topic(bs, "src", 2)
    produce_all(bs, "src", [{"value": b"v%d" % i, "partition": i % 2} for i in range(20)])
    time.sleep(1.5)
    # One more record each: the append rolls the segment of the first ten
    # (log.roll.ms), so retention can delete it on either broker (Kafka also
    # deletes an expired active segment, rolling first; Gregor does not).
    produce_all(bs, "src", [{"value": b"late", "partition": p} for p in (0, 1)])
    wait_coordinator_ready(broker)
    c = make_consumer(bs, **{"group.id": "idle-group"})
    try:
        c.commit(offsets=[TopicPartition("src", 0, 7), TopicPartition("src", 1, 3)],
                 asynchronous=False)
        time.sleep(1.5)
        c.commit(offsets=[TopicPartition("src", 1, 5)], asynchronous=False)
    finally:
        c.close()

    def trimmed():
        return all(watermarks(bs, "src", p)[0] >= 10 for p in (0, 1))
    ok, waited = poll(60, trimmed, interval=0.5)
    assert ok, "retention did not trim src: %s" % [watermarks(bs, "src", p) for p in (0, 1)]
    time.sleep(3)               # the offsets partitions saw retention checks too
    # The premise: the second commit rolled the segment, so the first one
    # lies in a closed segment, past retention.
    offsets_dir = broker.partition_dir("__consumer_offsets", offsets_partition("idle-group", 50))
    bases = sorted(int(f.name[:-4]) for f in offsets_dir.glob("*.log"))
    assert bases[-1] > 0, bases
    assert broker.stop() == 0
    broker.restart()
    wait_coordinator_ready(broker)
    assert committed_offsets_of(bs, "idle-group", 2) == {0: 7, 1: 5}
    assert bases[0] == 0, "retention deleted the offsets partition's segments below %d" % bases[0]


def committed_offsets_of(bootstrap, group, partitions):
    c = make_consumer(bootstrap, **{"group.id": group})
    try:
        tps = c.committed([TopicPartition("src", p) for p in range(partitions)], timeout=60)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


# --------------------------------------------------------------------------
# 5. transactions
# --------------------------------------------------------------------------

TXN_KEYS = 20
TXN_DELETE_RETENTION_MS = 3000
TXN_TIMEOUT = 60


def txn_key(i):
    return b"tk-%02d" % i


# (name, keys, commit?): T3 also deletes key 19 (a committed tombstone).
TRANSACTIONS = [("t1", range(0, 20), True),
                ("t2", range(0, 20), False),
                ("t3", list(range(0, 10)) + [19], True),
                ("t4", range(0, 5), False),
                ("t5", range(0, 3), True)]


@pytest.mark.timeout(600)
def test_compaction_transactions(start_broker, small_segments):
    """One transactional producer writes five transactions over 20 keys:
    t1 commits all, t2 aborts all, t3 commits keys 0-9 and a tombstone for
    key 19, t4 aborts keys 0-4, t5 commits keys 0-2. Then the segment is
    rolled (delete.retention.ms=3000). The cleaner removes the superseded
    and the aborted records: in the end read_uncommitted and read_committed
    consumers both read exactly keys 0-2 from t5, 3-9 from t3, 10-18 from
    t1 (and the roll record), nothing of t2 and t4, no key 19. Read from the
    segment files all along: a transaction's marker is never gone while any
    record of its transaction is left (so t1's, t3's and t5's stay), and
    the markers of the aborted transactions, whose records all go, are
    removed too, not before delete.retention.ms after their records went.
    (The roll key's records, written to keep the log dirty (see nudger),
    are only checked to be ones produced.)"""
    overrides, _ = small_segments(SEGMENT)
    broker = start(start_broker, **dict(CLEANER, **overrides))
    bs, topic = broker.bootstrap, "compacted-txn"
    compact_topic(broker, topic, small_segments,
                  delete__retention__ms=TXN_DELETE_RETENTION_MS)

    producer = Producer({"bootstrap.servers": bs, "transactional.id": "compaction-txn",
                         "linger.ms": 5})
    producer.init_transactions(TXN_TIMEOUT)
    produced, ranges, committed = {}, [], {}
    for name, keys, commit in TRANSACTIONS:
        delivered = []
        producer.begin_transaction()
        for k in keys:
            value = None if (name == "t3" and k == 19) else b"%s:%s" % (name.encode(), txn_key(k))
            producer.produce(topic, key=txn_key(k), value=value, partition=0,
                             on_delivery=lambda err, m: delivered.append((err, m)))
        assert producer.flush(TXN_TIMEOUT) == 0
        assert all(err is None for err, _m in delivered), delivered
        (producer.commit_transaction if commit else producer.abort_transaction)(TXN_TIMEOUT)
        offs = sorted(m.offset() for _e, m in delivered)
        ranges.append((name, offs[0], offs[-1], commit))
        for m in (m for _e, m in delivered):
            produced[m.offset()] = (m.key(), m.value())
            if commit:
                committed[m.offset()] = (m.key(), m.value())
    producer.flush(10)
    rolled = roll(broker, topic)      # waits for the markers too (a plain append after them)
    produced.update(rolled)
    committed.update(rolled)

    expected = without_roll(compacted(committed))
    assert sorted((k, v) for _o, k, v in expected) == (
        [(txn_key(k), b"t5:" + txn_key(k)) for k in range(0, 3)]
        + [(txn_key(k), b"t3:" + txn_key(k)) for k in range(3, 10)]
        + [(txn_key(k), b"t1:" + txn_key(k)) for k in range(10, 19)])

    # Each transaction's marker sits right after its last record.
    pdir = broker.partition_dir(topic, 0)
    first = {b["base"]: b for b in scan_batches(pdir)}
    for name, lo, hi, commit in ranges:
        m = first.get(hi + 1)
        assert m is not None and m["control"] == ("commit" if commit else "abort"), (name, m)
        pid = m["pid"]

    def state():
        """{txn: (records left, marker present)} from the files."""
        batches = scan_batches(pdir)
        out = {}
        for name, lo, hi, _commit in ranges:
            left = sum(b["count"] for b in batches
                       if b["control"] is None and b["pid"] == pid and lo <= b["base"] <= hi)
            marker = any(b["base"] == hi + 1 and b["control"] for b in batches)
            out[name] = (left, marker)
        return out

    data_gone, marker_gone, seen = {}, {}, {}
    reads = {}

    def settled():
        now = time.monotonic()
        st = state()
        seen.update(st)
        for name, (left, marker) in st.items():
            assert marker or left == 0, (
                "the marker of %s is gone while %d of its records are left: %s"
                % (name, left, st))
            if left == 0:
                data_gone.setdefault(name, now)
            if not marker:
                marker_gone.setdefault(name, now)
        if not all(n in marker_gone for n, _k, c in TRANSACTIONS if not c):
            return False
        reads["read_uncommitted"] = read_log(bs, topic, "read_uncommitted")
        reads["read_committed"] = read_log(bs, topic, "read_committed")
        uncommitted_ok = without_roll(reads["read_uncommitted"]) == expected
        committed_ok = without_roll(reads["read_committed"]) == expected
        # Both read the same finished transactions: read_committed that
        # stays different for 6 polls in a row is not just late.
        behind[0] = behind[0] + 1 if uncommitted_ok and not committed_ok else 0
        if behind[0] >= 6:
            return "read_committed stays behind"
        return uncommitted_ok and committed_ok
    behind = [0]
    ok, waited = poll(CLEAN_DEADLINE, settled, interval=0.5,
                      nudge=nudger(broker, topic, produced))
    if ok is not True:
        diff = {name: ([(k, v) for _o, k, v in without_roll(r) if (_o, k, v) not in expected],
                       [(k, v) for o, k, v in expected if (o, k, v) not in r])
                for name, r in reads.items()}
        gap(broker, "%s: records left and markers per transaction: %s; records read beyond "
            "the expected ones, and expected ones missing: %s"
            % (ok or "not cleaned within %d s" % CLEAN_DEADLINE, seen, diff))
    print("cleaned in %.1f s; records gone at %s, markers gone at %s" % (
        waited, {n: round(t - data_gone[n], 1) for n, t in data_gone.items()},
        {n: round(t - data_gone[n], 1) for n, t in marker_gone.items()}))
    st = state()
    for name, _keys, commit in TRANSACTIONS:
        if commit:
            assert st[name][0] > 0 and st[name][1], (name, st)
        else:
            assert st[name] == (0, False), (name, st)
            # The marker outlives its records by delete.retention.ms (less
            # the polling interval and a scan).
            assert marker_gone[name] - data_gone[name] >= TXN_DELETE_RETENTION_MS / 1000 - 1.5, (
                name, marker_gone[name] - data_gone[name])
    for r in reads.values():
        check_produced(r, produced)


# --------------------------------------------------------------------------
# 6. min.compaction.lag.ms
# --------------------------------------------------------------------------

@pytest.mark.timeout(600)
def test_compaction_min_lag(start_broker, small_segments):
    """The same 2,000 records over 50 keys on two compacted topics, rolled:
    with min.compaction.lag.ms=0 the cleaner brings one to one record per
    key; the other, min.compaction.lag.ms an hour, keeps every record
    (checked after the first was cleaned and another 3 s of cleaner
    passes)."""
    overrides, _ = small_segments(SEGMENT)
    broker = start(start_broker, **dict(CLEANER, **overrides))
    bs = broker.bootstrap
    pairs = [(b"lag-%02d" % (i % 50), b"value %d" % i) for i in range(2000)]
    produced = {}
    for topic, lag in (("lag-hour", 3_600_000), ("lag-zero", 0)):
        compact_topic(broker, topic, small_segments, min__compaction__lag__ms=lag)
        produced[topic] = produce(broker, topic, pairs)
    for topic in produced:
        produced[topic].update(roll(broker, topic))
    expected = compacted(produced["lag-zero"])
    last = []

    def cleaned():
        last[:] = read_log(bs, "lag-zero")
        return last == expected
    ok, waited = poll(CLEAN_DEADLINE, cleaned)
    check_produced(last, produced["lag-zero"])
    if not ok:
        gap(broker, "lag-zero not cleaned within %d s: %d records remain, expected %d"
            % (CLEAN_DEADLINE, len(last), len(expected)))
    time.sleep(3)
    kept = read_log(bs, "lag-hour")
    assert kept == sorted((o, k, v) for o, (k, v) in produced["lag-hour"].items()), (
        "lag-hour: %d records of %d" % (len(kept), len(produced["lag-hour"])))


# --------------------------------------------------------------------------
# 7. segment.ms across a restart
# --------------------------------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_segment_ms_rolls_across_restart(start_broker, how):
    """What makes a compacted log's tail cleanable: with segment.ms=2000, a
    record appended 2.5 s after the previous one starts a new segment, also
    when the broker was restarted (kill -9, or a clean stop) in between.
    Kafka measures the segment's age from its first record's timestamp,
    which the restart does not change."""
    broker = start_broker()
    topic = "rolled"
    create_topic(broker.bootstrap, topic, 1, config={"cleanup.policy": "compact",
                                                     "segment.ms": str(ROLL_MS)})
    produce(broker, topic, [(b"k", b"before the restart")])
    if how == "kill9":
        broker.kill9()
    broker.restart()
    roll(broker, topic)
