"""
What the dump tools show of a compacted partition after the log cleaner ran
(issue 10), on Apache Kafka 4.4.0 and on Gregor.

The scenario (both tests): a compacted topic (cleanup.policy=compact,
delete.retention.ms of a day so tombstones stay, small segments) is written
with the cleaner off by two idempotent producers: A writes 20 keys twice
(two batches), B overwrites all 20 (one batch), then writes 5 of them again
and tombstones for 5 others (one batch). After segment.ms a third producer
appends a batch that rolls the segment: "roll" and "dup" three times, which
stays in the active segment. The closed segments are copied as they are,
then the broker restarts with the cleaner on and the test waits until the
closed segments hold one record per key.

Proves:
- test_cleaned_batches_as_kafka (both brokers, each with its own tool:
  Kafka's DumpLogSegments on Kafka's files, `gregor dump-log` on Gregor's;
  the same facts): of every batch written, as the uncleaned copy shows it,
  the cleaned log keeps exactly Kafka's (KIP-534 and idempotence rules):
  a batch keeping records keeps its baseOffset, lastOffset, sequences,
  producer and codec, with count the records kept and maxTimestamp theirs
  (an empty batch keeps the original's; offsets
  have gaps, inside batches and between them) and every record line as it
  was; a batch left with no record stays, as "count: 0", only when it is
  its producer's last batch (A's second one); a batch keeping a tombstone
  prints "deleteHorizonMs: OptionalLong[H]" with H the cleaning time plus
  delete.retention.ms, every other one "deleteHorizonMs: OptionalLong.empty";
  the record lines of the cleaned segments are exactly each key's latest
  record (tombstones with valueSize: -1 and no payload); the tool lists
  the offset gaps on stderr ("Non-consecutive offsets in <absolute path>",
  each file from -1). On the Gregor run, Kafka's DumpLogSegments on
  Gregor's cleaned segments prints exactly what gregor dump-log prints,
  stdout and stderr.
- test_key_map_shows_compaction (Gregor only: --key-map is Gregor's own
  flag): over the uncleaned copy the key map counts every record of each
  key (duplicates = records - keys); over the cleaned closed segments it
  has one line per key with its latest offset, count 1 and whether it is a
  tombstone, and "duplicates: 0"; over the active segment "dup" counts 3
  and duplicates > 0. --key-map adds its lines after the normal output,
  which stays as without it.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_tools_dump_log_compacted.py \
        -q -p no:cacheprovider [--broker=kafka]
"""

import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import GREGOR_BIN, create_topic, make_producer

import kafkaref

DUMP_LOG = "org.apache.kafka.tools.DumpLogSegments"
TOOL_TIMEOUT = 180          # seconds: a bound on one tool run
CLEAN_DEADLINE = 120        # seconds the cleaned state may take to appear
SEGMENT = 256 * 1024        # small segments (see conftest's small_segments)
ROLL_MS = 2000              # the topic's segment.ms: the roll batch closes the segment
RETENTION_MS = 86_400_000   # delete.retention.ms: tombstones stay for the test
MiB = 1024 * 1024
# What makes both brokers' cleaners prompt (Kafka's defaults: 15 s backoff,
# 128 MiB buffer, ratio 0.5). Written with the cleaner off, cleaned after a
# restart with it on.
CLEANER = {"log.cleaner.enable": False,
           "log.cleaner.threads": 1,
           "log.cleaner.backoff.ms": 500,
           "log.cleaner.dedupe.buffer.size": 16 * MiB,
           "log.cleaner.min.cleanable.ratio": "0.01",
           "log.cleaner.min.compaction.lag.ms": 0}
TOPIC = "dumpcompact"
KEYS = 20
FRESH = range(0, 5)         # keys B writes again in its second batch
DELETED = range(15, 20)     # keys B deletes in its second batch


def key(i):
    return b"k%02d" % i


# --------------------------------------------------------------------------
# the dump, parsed
# --------------------------------------------------------------------------

BATCH_LINE = re.compile(
    r"^baseOffset: (?P<base>-?\d+) lastOffset: (?P<last>-?\d+) count: (?P<count>\d+) "
    r"baseSequence: (?P<bseq>-?\d+) lastSequence: (?P<lseq>-?\d+) producerId: (?P<pid>-?\d+) "
    r"producerEpoch: (?P<epoch>-?\d+) partitionLeaderEpoch: (?P<ple>-?\d+) "
    r"isTransactional: (?P<txn>true|false) isControl: (?P<control>true|false) "
    r"deleteHorizonMs: (?P<horizon>OptionalLong\.empty|OptionalLong\[(?P<h>-?\d+)\]) "
    r"position: (?P<pos>\d+) (?P<tstype>CreateTime|LogAppendTime): (?P<maxts>-?\d+) "
    r"size: (?P<size>\d+) magic: 2 compresscodec: (?P<codec>\w+) crc: (?P<crc>\d+) "
    r"isvalid: (?P<valid>true|false)$")
RECORD_LINE = re.compile(
    r"^\| offset: (?P<offset>\d+) CreateTime: (?P<ts>-?\d+) keySize: (?P<ksize>-?\d+) "
    r"valueSize: (?P<vsize>-?\d+) sequence: (?P<seq>-?\d+) headerKeys: \[\]"
    r"(?: key: (?P<key>\S+))?(?: payload: (?P<value>.*))?$")
# The batch fields a cleaned batch keeps from the batch it was made from
# (maxTimestamp: see below).
KEPT_FIELDS = ("base", "last", "bseq", "lseq", "pid", "epoch", "ple", "txn", "control",
               "tstype", "codec")


def parse_dump(text, files):
    """{file: [batch]} from a --deep-iteration --print-data-log dump of files
    (in that order): batch = the BATCH_LINE groups plus "line" and "records"
    (its record lines, parsed, each with its "line"). Every line must be one
    of the tool's."""
    out, cur, batch = {}, None, None
    for line in text.splitlines():
        if line.startswith("Dumping "):
            cur = line[len("Dumping "):]
            assert cur in files and cur not in out, line
            out[cur] = []
            continue
        assert cur is not None, line
        if line.startswith("Log starting offset: "):
            assert not out[cur], line
            continue
        m = BATCH_LINE.match(line)
        if m:
            batch = dict(m.groupdict(), line=line, records=[])
            out[cur].append(batch)
            continue
        m = RECORD_LINE.match(line)
        assert m and batch is not None, "not a line of the dump: %r" % line
        batch["records"].append(dict(m.groupdict(), line=line))
    assert list(out) == list(files), text[-3000:]
    return out


def dump(broker, files, *extra):
    """The broker's own tool on files: Kafka's DumpLogSegments on Kafka,
    gregor dump-log on Gregor. CompletedProcess (text)."""
    args = ["--files", ",".join(files), "--deep-iteration", "--print-data-log"] + list(extra)
    if broker.kind == "kafka":
        return kafkaref.run_tool(DUMP_LOG, args, timeout=TOOL_TIMEOUT)
    return gregor_tool("dump-log", *args)


def gregor_tool(*args):
    return subprocess.run([GREGOR_BIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)


def describe(r):
    return "exit %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        r.returncode, r.stdout[-4000:], r.stderr[-4000:])


# --------------------------------------------------------------------------
# the scenario
# --------------------------------------------------------------------------

def send(producer, pairs):
    """Produce (key, value) pairs (None: a tombstone) to partition 0 and
    flush: one batch, as a rule (linger.ms is long). Returns
    [(offset, key, value, timestamp)] in offset order."""
    got, errors = [], []

    def dr(err, msg):
        if err is not None:
            errors.append(err)
        else:
            got.append((msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))
    for k, v in pairs:
        producer.produce(TOPIC, key=k, value=v, partition=0, on_delivery=dr)
    assert producer.flush(60) == 0, "records left unsent"
    assert not errors and len(got) == len(pairs), errors
    return sorted(got)


def partition_logs(broker):
    """The partition's .log files, in offset order."""
    return sorted(str(p) for p in broker.partition_dir(TOPIC, 0).glob("*.log"))


def scan_headers(path):
    """[(base, last, count, attributes)] of the batches of one .log file, from
    their headers; a batch cut short ends the scan."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length < 49 or pos + 12 + length > len(data):
            break
        attrs, last_delta = struct.unpack_from(">hi", data, pos + 21)
        count, = struct.unpack_from(">i", data, pos + 57)
        out.append((base, base + last_delta, count, attrs))
        pos += 12 + length
    return out


def cleaned_state(broker, roll_offset, keys_before_roll):
    """The closed segments' batch headers once they hold one record per key
    and a delete horizon (attribute 0x40) on some batch, else None. The
    cleaner swaps files while we look: only a scan that the next one repeats
    counts."""
    def scan():
        try:
            return [(p, scan_headers(p)) for p in partition_logs(broker)]
        except FileNotFoundError:
            return None
    a = scan()
    time.sleep(0.2)
    b = scan()
    if a is None or a != b:
        return None
    closed = [h for _p, hs in a for h in hs if h[1] < roll_offset]
    if sum(h[2] for h in closed) == keys_before_roll and any(h[3] & 0x40 for h in closed):
        return a
    return None


def run_scenario(start_broker, small_segments, tmp_path):
    """Write, copy, clean (see the module docstring). Returns a dict: broker
    (stopped), produced [(offset, key, value, ts)] before the roll,
    roll_offset, pids {"A": .., "B": ..}, uncleaned [copied .log paths],
    closed / active [.log paths after cleaning], t_clean (ms before the
    restart), t_done (ms when the cleaned state was seen)."""
    overrides, topic_conf = small_segments(SEGMENT)
    broker = start_broker(**dict(CLEANER, **overrides))
    conf = {"cleanup.policy": "compact", "segment.ms": str(ROLL_MS),
            "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": str(RETENTION_MS),
            "min.compaction.lag.ms": "0"}
    conf.update(topic_conf)
    create_topic(broker.bootstrap, TOPIC, 1, config=conf)

    idem = {"enable.idempotence": True, "linger.ms": 200}
    a = make_producer(broker.bootstrap, **idem)
    produced = send(a, [(key(i), b"a1-%02d" % i) for i in range(KEYS)])
    produced += send(a, [(key(i), b"a2-%02d" % i) for i in range(KEYS)])
    a.flush(10)
    b = make_producer(broker.bootstrap, **idem)
    produced += send(b, [(key(i), b"b1-%02d" % i) for i in range(KEYS)])
    produced += send(b, [(key(i), b"b2-%02d" % i) for i in FRESH] + [(key(i), None) for i in DELETED])
    b.flush(10)
    time.sleep(ROLL_MS / 1000 + 0.5)
    c = make_producer(broker.bootstrap, **{"linger.ms": 200})
    tail = send(c, [(b"roll", b"rolled")] + [(b"dup", b"dup-%d" % i) for i in range(3)])
    roll_offset = tail[0][0]
    assert roll_offset == len(produced), (roll_offset, len(produced))

    logs = partition_logs(broker)
    assert len(logs) >= 2, "the roll batch did not roll a segment: %s" % logs
    copy = tmp_path / "uncleaned"
    copy.mkdir()
    uncleaned = []
    for p in logs:   # no appends now and the cleaner is off: the files stand still
        dst = copy / p.rsplit("/", 1)[1]
        shutil.copyfile(p, dst)
        uncleaned.append(str(dst))

    t_clean = int(time.time() * 1000)
    broker.restart(**{"log.cleaner.enable": True})
    keys_before_roll = KEYS
    deadline = time.monotonic() + CLEAN_DEADLINE
    state = None
    while state is None:
        assert time.monotonic() < deadline, (
            "not cleaned within %d s: %r" % (CLEAN_DEADLINE, [
                (p, scan_headers(p)) for p in partition_logs(broker)]))
        time.sleep(0.5)
        state = cleaned_state(broker, roll_offset, keys_before_roll)
    t_done = int(time.time() * 1000)
    assert broker.stop() == 0, "the broker did not stop cleanly"
    logs = partition_logs(broker)
    return {"broker": broker, "produced": produced, "roll_offset": roll_offset, "tail": tail,
            "uncleaned": uncleaned, "closed": logs[:-1], "active": logs[-1:],
            "t_clean": t_clean, "t_done": t_done}


def latest(produced):
    """{offset: (key, value, ts)} of each key's last record."""
    last = {}
    for off, k, v, ts in produced:
        last[k] = (off, v, ts)
    return {off: (k, v, ts) for k, (off, v, ts) in last.items()}


# --------------------------------------------------------------------------
# 1. the batch lines of cleaned segments, on both brokers
# --------------------------------------------------------------------------

@pytest.mark.timeout(600)
def test_cleaned_batches_as_kafka(start_broker, small_segments, tmp_path):
    s = run_scenario(start_broker, small_segments, tmp_path)
    broker, roll_offset = s["broker"], s["roll_offset"]

    before = dump(broker, s["uncleaned"])
    assert before.returncode == 0, describe(before)
    orig = [b for bs in parse_dump(before.stdout, s["uncleaned"]).values() for b in bs]
    # The uncleaned log: every record as produced, in batches of two producers.
    recs = [(int(r["offset"]), r["key"].encode(), None if r["vsize"] == "-1" else r["value"].encode(),
             int(r["ts"])) for b in orig for r in b["records"]]
    assert recs[:roll_offset] == s["produced"], before.stdout[-3000:]
    assert all(b["horizon"] == "OptionalLong.empty" and b["valid"] == "true" for b in orig)
    pids = {}
    for b in orig:
        if int(b["base"]) < roll_offset:
            pids.setdefault(b["pid"], []).append(b)
    assert len(pids) == 2 and "-1" not in pids, pids.keys()

    after = dump(broker, s["closed"] + s["active"])
    assert after.returncode == 0, describe(after)
    per_file = parse_dump(after.stdout, s["closed"] + s["active"])
    for path, batches in per_file.items():     # batches fill each file, back to back
        pos = 0
        for b in batches:
            assert int(b["pos"]) == pos and b["valid"] == "true", b["line"]
            pos += int(b["size"])
        with open(path, "rb") as f:
            assert pos == len(f.read()), path
    cleaned = [b for p in s["closed"] for b in per_file[p]]
    active = per_file[s["active"][0]]
    # The active segment: the tail as written (in one batch or several: a new
    # producer may send before its linger is up).
    assert [int(r["offset"]) for b in active for r in b["records"]] == \
        [o for o, _k, _v, _ts in s["tail"]], after.stdout[-3000:]

    # Each original batch of the closed segments: kept with the records that
    # are their key's latest, as "count: 0" if it is its producer's last
    # batch, or gone.
    keep = latest(s["produced"])
    last_of = {pid: bs[-1]["base"] for pid, bs in pids.items()}
    want = []
    for b in orig:
        if int(b["base"]) >= roll_offset:
            continue
        kept = [r for r in b["records"] if int(r["offset"]) in keep]
        if kept or last_of[b["pid"]] == b["base"]:
            want.append((b, kept))
    got_shape = [(b["base"], b["last"], b["count"]) for b in cleaned]
    want_shape = [(b["base"], b["last"], str(len(kept))) for b, kept in want]
    assert got_shape == want_shape, "cleaned batches (base, last, count):\n%s\nexpected:\n%s\n%s" % (
        got_shape, want_shape, after.stdout[-4000:])
    empties = [b for b in cleaned if b["count"] == "0"]
    assert len(empties) == 1, after.stdout[-4000:]    # producer A's last batch

    horizons = []
    for got, (orig_b, kept) in zip(cleaned, want):
        for f in KEPT_FIELDS:
            assert got[f] == orig_b[f], "%s changed:\n%s\nwas\n%s" % (f, got["line"], orig_b["line"])
        # maxTimestamp (CreateTime): a batch rebuilt with the records it keeps
        # has theirs (Kafka's MemoryRecordsBuilder computes it, so it moves
        # when the latest record of a batch spanning two milliseconds is
        # dropped); an empty batch keeps the original's (writeEmptyHeader)
        want_maxts = max(int(r["ts"]) for r in kept) if kept else int(orig_b["maxts"])
        assert int(got["maxts"]) == want_maxts, (got["line"], orig_b["line"])
        # every record line as it was (offset, timestamp, sizes, sequence, key, value)
        assert [r["line"] for r in got["records"]] == [r["line"] for r in kept], got["line"]
        tombstones = any(r["vsize"] == "-1" for r in kept)
        if tombstones:
            assert got["h"] is not None, "a batch keeping tombstones without a delete horizon: " + got["line"]
            horizons.append(int(got["h"]))
        else:
            assert got["horizon"] == "OptionalLong.empty", got["line"]
    assert horizons, after.stdout[-4000:]
    for h in horizons:
        assert s["t_clean"] + RETENTION_MS - 5000 <= h <= s["t_done"] + RETENTION_MS, (
            h, s["t_clean"], s["t_done"])

    # The record lines of the closed segments: each key's latest, tombstones
    # without a payload; offsets with gaps.
    lines = [r for b in cleaned for r in b["records"]]
    assert [(int(r["offset"]), r["key"].encode(), None if r["vsize"] == "-1" else r["value"].encode(),
             int(r["ts"])) for r in lines] == sorted((o, k, v, ts) for o, (k, v, ts) in keep.items())
    for r in lines:
        assert (r["value"] is None) == (r["vsize"] == "-1"), r["line"]
    offsets = [int(r["offset"]) for r in lines]
    assert offsets[-1] - offsets[0] + 1 > len(offsets)
    # Both tools say where the offsets jump, on stderr, each file from -1
    # (so a first record past offset 0 counts) and under its absolute path.
    gaps = []
    for path in s["closed"] + s["active"]:
        prev, pairs = -1, []
        for b in per_file[path]:
            for r in b["records"]:
                if int(r["offset"]) != prev + 1:
                    pairs.append("  %d is followed by %s" % (prev, r["offset"]))
                prev = int(r["offset"])
        if pairs:
            gaps.append("\n".join(["Non-consecutive offsets in " + path] + pairs))
    assert len(gaps) >= 2, after.stdout[-3000:]     # the cleaned and the active segment
    # (the files in the order of the tool's HashMap: compared as a set)
    blocks = re.split(r"\n(?=Non-consecutive offsets in )", after.stderr.rstrip("\n"))
    assert sorted(blocks) == sorted(gaps), describe(after)

    if broker.kind == "gregor":
        # Kafka's own tool reads Gregor's cleaned segments as gregor dump-log does.
        theirs = kafkaref.run_tool(DUMP_LOG, ["--files", ",".join(s["closed"] + s["active"]),
                                              "--deep-iteration", "--print-data-log"],
                                   timeout=TOOL_TIMEOUT)
        assert theirs.returncode == 0, describe(theirs)
        assert after.stdout == theirs.stdout, "gregor:\n%s\nkafka:\n%s" % (
            after.stdout[-4000:], theirs.stdout[-4000:])
        # the same pairs, files in the same order (Kafka's HashMap order)
        assert after.stderr == theirs.stderr, "gregor:\n%s\nkafka:\n%s" % (
            after.stderr, theirs.stderr)


# --------------------------------------------------------------------------
# 2. --key-map (Gregor's own flag)
# --------------------------------------------------------------------------

KEY_LINE = re.compile(r"^key: (?P<key>\S*) offset: (?P<offset>\d+) count: (?P<count>\d+) "
                      r"tombstone: (?P<tomb>true|false)$")
SUMMARY = re.compile(r"^keys: (\d+) records: (\d+) duplicates: (\d+)$")


def key_map(files):
    """(normal output, {key: (offset, count, tombstone)} in line order,
    (keys, records, duplicates)) of gregor dump-log --key-map on files;
    the normal output must be what the same command prints without it."""
    r = gregor_tool("dump-log", "--files", ",".join(files), "--key-map")
    assert r.returncode == 0 and r.stderr == "", describe(r)
    plain = gregor_tool("dump-log", "--files", ",".join(files))
    assert plain.returncode == 0, describe(plain)
    assert r.stdout.startswith(plain.stdout), describe(r)
    lines = r.stdout[len(plain.stdout):].splitlines()
    m = SUMMARY.match(lines[-1])
    assert m, describe(r)
    keys = {}
    for line in lines[:-1]:
        k = KEY_LINE.match(line)
        assert k, "not a key-map line: %r" % line
        assert k["key"] not in keys, line
        keys[k["key"]] = (int(k["offset"]), int(k["count"]), k["tomb"] == "true")
    offsets = [o for o, _c, _t in keys.values()]
    assert offsets == sorted(offsets), "key lines not in offset order:\n" + r.stdout[-3000:]
    return plain.stdout, keys, tuple(int(g) for g in m.groups())


@pytest.mark.gregor_only("--key-map is gregor dump-log's own flag (not in Kafka's tool)")
@pytest.mark.timeout(600)
def test_key_map_shows_compaction(start_broker, small_segments, tmp_path):
    s = run_scenario(start_broker, small_segments, tmp_path)
    produced, roll_offset = s["produced"], s["roll_offset"]
    keep = latest(produced)
    want = {k.decode(): (off, 1, v is None) for off, (k, v, _ts) in sorted(keep.items())}

    # Uncleaned: every record counted, the latest of each key (the active
    # segment's "roll" and "dup" included).
    _, keys, totals = key_map(s["uncleaned"])
    everything = produced + s["tail"]
    counts = {}
    for _o, k, _v, _ts in everything:
        counts[k.decode()] = counts.get(k.decode(), 0) + 1
    assert {k: c for k, (_o, c, _t) in keys.items()} == counts
    assert {k: (o, t) for k, (o, _c, t) in keys.items()} == {
        k.decode(): (off, v is None) for off, (k, v, _ts) in latest(everything).items()}
    assert totals == (len(counts), len(everything), len(everything) - len(counts)), totals
    assert totals[2] > 0

    # Cleaned closed segments: compacted, one line per key, its latest record.
    _, keys, totals = key_map(s["closed"])
    assert keys == want
    assert list(keys) == [k.decode() for _o, (k, _v, _ts) in sorted(keep.items())]
    assert totals == (KEYS, KEYS, 0), totals
    assert [k for k, (_o, _c, t) in keys.items() if t] == [key(i).decode() for i in DELETED]

    # The active segment was not cleaned: "dup" three times.
    _, keys, totals = key_map(s["active"])
    assert keys == {"roll": (roll_offset, 1, False), "dup": (roll_offset + 3, 3, False)}
    assert totals == (2, 4, 2)

    # With the records printed too, the key map still comes last.
    r = gregor_tool("dump-log", "--files", ",".join(s["closed"]), "--print-data-log", "--key-map")
    assert r.returncode == 0, describe(r)
    tail = r.stdout.splitlines()[-(KEYS + 1):]
    assert tail[-1] == "keys: %d records: %d duplicates: 0" % (KEYS, KEYS)
    assert all(KEY_LINE.match(line) for line in tail[:-1]), r.stdout[-3000:]
