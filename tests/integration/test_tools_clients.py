"""
The client tools of `gregor`, part B: produce, consume, perf, dump-log.

Each test runs the real `gregor <command>` binary as a subprocess against a
real broker (and dump-log against that broker's files after a SIGTERM stop),
checking exact output where Kafka's tools define it, and cross-checking with
confluent-kafka where the tool's effect is on the broker (committed offsets,
end offsets, group state).

Compressed batches: librdkafka 2.0.2 only compresses with codecs whose
Produce version range it sees the broker support, and it checks gzip, snappy
and lz4 against Produce v0, which Gregor (like Kafka 4.0) no longer serves.
So zstd batches come from `gregor produce`, and gzip, snappy (raw and
xerial-framed, as the Java producer writes it) and lz4 batches are built
here and sent with a raw Produce v3 request.
"""

import ctypes
import gzip
import json
import os
import re
import select
import signal
import struct
import subprocess
import time

import pytest

from conftest import (GREGOR_BIN, create_topic, free_port, make_consumer, produce_all,
                      scaled, watermarks)
import kafka_wire as kw

pytestmark = pytest.mark.gregor_only("the output and exit codes of the `gregor` client tools "
                                     "and dump-log of Gregor's files")

TOOL_TIMEOUT = 120  # seconds: a bound on any single tool run


def gregor(*args, input=None, timeout=TOOL_TIMEOUT, check=None):
    """Run `gregor args...`; returns CompletedProcess with text stdout/stderr."""
    p = subprocess.run([GREGOR_BIN] + [str(a) for a in args], input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    res = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check is not None:
        assert p.returncode == check, "gregor %s -> %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(str(a) for a in args), p.returncode, out[-3000:], err[-3000:])
    return res


def seg_files(broker, topic, partition=0):
    d = broker.partition_dir(topic, partition)
    base = d / ("%020d" % 0)
    return str(base) + ".log", str(base) + ".index", str(base) + ".timeindex"


BATCH_RE = re.compile(r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* position: (\d+) "
                      r"CreateTime: (\d+) size: (\d+) magic: 2 compresscodec: (\w+) crc: (\d+) "
                      r"isvalid: (true|false)$")


def batches_of(dump_stdout):
    """[(base, last, count, position, codec, valid)] from dump-log output."""
    out = []
    for line in dump_stdout.splitlines():
        m = BATCH_RE.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                        m.group(7), m.group(9) == "true"))
    return out


# --------------------------------------------------------------------------
# produce + consume
# --------------------------------------------------------------------------

def test_produce_keys_headers_then_consume_exact(broker):
    b = broker.bootstrap
    create_topic(b, "kh", 1)
    lines = ("h1:v1,h2:v2\tk1:hello\n"
             "h3:x\tk2:world\n"
             "h4:\tk3:with:colon\n")
    gregor("produce", "--bootstrap-server", b, "--topic", "kh",
           "--property", "parse.key=true", "--property", "key.separator=:",
           "--property", "parse.headers=true", input=lines.encode(), check=0)
    r = gregor("consume", "--bootstrap-server", b, "--topic", "kh", "--from-beginning",
               "--max-messages", 3, "--property", "print.key=true",
               "--property", "print.headers=true", "--property", "print.partition=true",
               "--property", "print.offset=true", check=0)
    assert r.stdout == ("Partition:0\tOffset:0\th1:v1,h2:v2\tk1\thello\n"
                        "Partition:0\tOffset:1\th3:x\tk2\tworld\n"
                        "Partition:0\tOffset:2\th4:\tk3\twith:colon\n")
    assert "Processed a total of 3 messages" in r.stderr

    # other separators, a timestamp column, no value column
    r = gregor("consume", "--bootstrap-server", b, "--topic", "kh", "--partition", 0,
               "--offset", 1, "--max-messages", 2, "--property", "print.timestamp=true",
               "--property", "print.key=true", "--property", "print.value=false",
               "--property", "key.separator=|", "--property", "line.separator=;", check=0)
    parts = r.stdout.split(";")
    assert parts[-1] == "" and len(parts) == 3, r.stdout
    assert re.fullmatch(r"CreateTime:\d{13}\|k2", parts[0]), parts[0]
    assert re.fullmatch(r"CreateTime:\d{13}\|k3", parts[1]), parts[1]


def test_produce_static_headers_and_json_output(broker):
    b = broker.bootstrap
    create_topic(b, "js", 1)
    gregor("produce", "--bootstrap-server", b, "--topic", "js", "--key-separator", "=",
           "--header", "app=gregor", "--header", "n=1",
           input=b"a=1\nb=2\n=empty-key\n", check=0)
    r = gregor("consume", "--bootstrap-server", b, "--topic", "js", "--from-beginning",
               "--max-messages", 3, "--output", "json", check=0)
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["key"], x["value"]) for x in recs] == [("a", "1"), ("b", "2"), ("", "empty-key")]
    for i, x in enumerate(recs):
        assert x["topic"] == "js" and x["partition"] == 0 and x["offset"] == i
        assert x["timestamp_type"] == "CreateTime" and x["timestamp"] > 1500000000000
        assert x["headers"] == [["app", "gregor"], ["n", "1"]]

    # null.marker makes a null key; parse.key without a separator is an error
    gregor("produce", "--bootstrap-server", b, "--topic", "js", "--key-separator", ":",
           "--property", "null.marker=NULL", input=b"NULL:v\n", check=0)
    r = gregor("consume", "--bootstrap-server", b, "--topic", "js", "--partition", 0,
               "--offset", 3, "--max-messages", 1, "--output", "json", check=0)
    x = json.loads(r.stdout)
    assert x["key"] is None and x["value"] == "v" and x["headers"] == []
    r = gregor("produce", "--bootstrap-server", b, "--topic", "js", "--key-separator", ":",
               input=b"k:ok\nno separator here\n", check=1)
    assert "No key separator found on line number 2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_consume_partition_and_offsets(broker):
    b = broker.bootstrap
    create_topic(b, "po", 2)
    produce_all(b, "po", [{"value": b"p0-%d" % i, "partition": 0} for i in range(3)] +
                [{"value": b"p1-%d" % i, "partition": 1} for i in range(4)])
    r = gregor("consume", "--bootstrap-server", b, "--topic", "po", "--partition", 1,
               "--offset", "earliest", "--max-messages", 4, check=0)
    assert r.stdout.splitlines() == ["p1-0", "p1-1", "p1-2", "p1-3"]
    r = gregor("consume", "--bootstrap-server", b, "--topic", "po", "--partition", 1,
               "--offset", 2, "--max-messages", 2, check=0)
    assert r.stdout.splitlines() == ["p1-2", "p1-3"]
    # --timeout-ms: exit 0 once nothing more arrives
    t0 = time.monotonic()
    r = gregor("consume", "--bootstrap-server", b, "--topic", "po", "--partition", 0,
               "--from-beginning", "--timeout-ms", 2000, check=0)
    assert r.stdout.splitlines() == ["p0-0", "p0-1", "p0-2"]
    assert time.monotonic() - t0 < 30
    # --offset latest: nothing old
    r = gregor("consume", "--bootstrap-server", b, "--topic", "po", "--partition", 0,
               "--offset", "latest", "--timeout-ms", 1500, check=0)
    assert r.stdout == "" and "Processed a total of 0 messages" in r.stderr
    # Kafka's usage rules
    assert gregor("consume", "--bootstrap-server", b, "--topic", "po", "--offset", "1").returncode == 2
    assert gregor("consume", "--bootstrap-server", b, "--topic", "po", "--partition", 0,
                  "--offset", 1, "--from-beginning").returncode == 2
    assert gregor("consume", "--bootstrap-server", b).returncode == 2


def test_consume_group_commits_offsets(broker):
    from confluent_kafka import TopicPartition
    b = broker.bootstrap
    create_topic(b, "gc", 1)
    produce_all(b, "gc", [{"value": b"m%d" % i} for i in range(5)])
    r = gregor("consume", "--bootstrap-server", b, "--topic", "gc", "--group", "tools-g1",
               "--from-beginning", "--max-messages", 5, check=0)
    assert r.stdout.splitlines() == ["m%d" % i for i in range(5)]
    c = make_consumer(b, **{"group.id": "tools-g1"})
    try:
        (tp,) = c.committed([TopicPartition("gc", 0)], timeout=10)
        assert tp.offset == 5
    finally:
        c.close()
    # the same group goes on from its committed offset
    produce_all(b, "gc", [{"value": b"m5"}])
    r = gregor("consume", "--bootstrap-server", b, "--topic", "gc", "--group", "tools-g1",
               "--max-messages", 1, check=0)
    assert r.stdout == "m5\n"


def test_produce_max_rate(broker):
    b = broker.bootstrap
    create_topic(b, "rate", 1)
    lines = "".join("r%d\n" % i for i in range(20)).encode()
    t0 = time.monotonic()
    gregor("produce", "--bootstrap-server", b, "--topic", "rate", "--max-rate", 10,
           input=lines, check=0)
    elapsed = time.monotonic() - t0
    assert 1.6 <= elapsed < 20, elapsed  # 20 records at 10/s: the last leaves after 1.9 s
    assert watermarks(b, "rate", 0) == (0, 20)


def test_produce_from_file_sync_and_acks(broker, tmp_path):
    b = broker.bootstrap
    create_topic(b, "ff", 1)
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\r\ntwo\nthree")  # CRLF and no final newline
    gregor("produce", "--bootstrap-server", b, "--topic", "ff", "--file", f, "--sync",
           "--acks", "1", "--compression-codec", "zstd", "--producer-property", "linger.ms=0",
           check=0)
    r = gregor("consume", "--bootstrap-server", b, "--topic", "ff", "--from-beginning",
               "--max-messages", 3, check=0)
    assert r.stdout == "one\ntwo\nthree\n"
    assert gregor("produce", "--bootstrap-server", b, "--topic", "ff", "--acks", "2").returncode == 2
    assert gregor("produce", "--bootstrap-server", b).returncode == 2
    r = gregor("produce", "--bootstrap-server", b, "--topic", "ff", "--file", tmp_path / "nope")
    assert r.returncode == 1 and "nope" in r.stderr


def test_produce_ctrl_c_flushes_what_was_read(broker):
    b = broker.bootstrap
    create_topic(b, "pc", 1)
    proc = subprocess.Popen([GREGOR_BIN, "produce", "--bootstrap-server", b, "--topic", "pc"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"a\nb\nc\n")
        proc.stdin.flush()  # stdin stays open: the producer waits for more
        deadline = time.monotonic() + 20
        while watermarks(b, "pc", 0)[1] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=15)
        assert rc == 0, proc.stderr.read()
        assert watermarks(b, "pc", 0) == (0, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# perf
# --------------------------------------------------------------------------

PERF_SUMMARY_RE = re.compile(
    r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$")


def test_perf_produce_and_consume(broker):
    b = broker.bootstrap
    create_topic(b, "perf", 1)
    n = scaled(20000)
    r = gregor("perf", "produce", "--bootstrap-server", b, "--topic", "perf", "--num-records", n,
               "--record-size", 100, "--throughput", -1, "--producer-props", "acks=all",
               "linger.ms=5", check=0)
    last = r.stdout.strip().splitlines()[-1]
    m = PERF_SUMMARY_RE.match(last)
    assert m, r.stdout
    assert int(m.group(1)) == n
    p50, p95, p99, p999 = (int(m.group(k)) for k in range(6, 10))
    assert p50 <= p95 <= p99 <= p999 <= float(m.group(5))
    assert watermarks(b, "perf", 0) == (0, n)

    r = gregor("perf", "consume", "--bootstrap-server", b, "--topic", "perf", "--messages", n,
               "--timeout", 20000, check=0)
    head, row = r.stdout.strip().splitlines()[-2:]
    assert head == ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
                    "nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
    cols = [c.strip() for c in row.split(",")]
    assert len(cols) == 10
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}", cols[0])
    assert int(cols[4]) == n
    assert abs(float(cols[2]) - n * 100 / 1048576) < 0.001
    assert int(cols[6]) >= 0 and int(cols[7]) >= 0

    # JSON and throttling
    r = gregor("perf", "produce", "--bootstrap-server", b, "--topic", "perf", "--num-records", 200,
               "--record-size", 10, "--throughput", 100, "--output", "json", check=0)
    j = json.loads(r.stdout)
    assert j["records"] == 200 and j["failed"] == 0 and j["records_per_sec"] < 150
    assert gregor("perf", "produce", "--topic", "x").returncode == 2
    assert gregor("perf", "bogus").returncode == 2


# --------------------------------------------------------------------------
# dump-log
# --------------------------------------------------------------------------

def _stopped_segment_with_batches(start_broker, topic, counts):
    """A broker with an index entry per batch; one `gregor produce` run per
    entry of counts (one batch each); then a SIGTERM stop."""
    br = start_broker(log__index__interval__bytes=1)
    create_topic(br.bootstrap, topic, 1)
    k = 0
    for n in counts:
        lines = "".join("key%d:value-%d\n" % (k + i, k + i) for i in range(n)).encode()
        gregor("produce", "--bootstrap-server", br.bootstrap, "--topic", topic,
               "--key-separator", ":", "--linger-ms", 100, input=lines, check=0)
        k += n
    assert br.stop() == 0
    return br


def test_dump_log_lists_batches_and_records(start_broker):
    counts = [1, 2, 3, 4, 5]
    br = _stopped_segment_with_batches(start_broker, "dl", counts)
    log, index, timeindex = seg_files(br, "dl")
    r = gregor("dump-log", "--files", log, check=0)
    lines = r.stdout.splitlines()
    assert lines[0] == "Dumping " + log
    assert lines[1] == "Log starting offset: 0"
    got = batches_of(r.stdout)
    want, base = [], 0
    for n in counts:
        want.append((base, base + n - 1, n))
        base += n
    assert [(g[0], g[1], g[2]) for g in got] == want
    assert all(g[4] == "none" and g[5] for g in got)
    assert got[0][3] == 0
    sizes = [got[i + 1][3] - got[i][3] for i in range(len(got) - 1)]
    assert sizes == [int(BATCH_RE.match(l).group(6)) for l in lines if BATCH_RE.match(l)][:-1]
    assert got[-1][3] + int(BATCH_RE.match([l for l in lines if BATCH_RE.match(l)][-1]).group(6)) \
        == os.path.getsize(log)
    assert "invalid bytes" not in r.stdout

    r = gregor("dump-log", "--print-data-log", "--files", log, check=0)
    recs = [l for l in r.stdout.splitlines() if l.startswith("| offset: ")]
    assert len(recs) == sum(counts)
    for i, l in enumerate(recs):
        assert re.fullmatch(r"\| offset: %d CreateTime: \d+ keySize: %d valueSize: %d "
                            r"sequence: -1 headerKeys: \[\] key: key%d payload: value-%d"
                            % (i, len("key%d" % i), len("value-%d" % i), i, i), l), l

    # the indexes: an entry per batch after the first (as in Kafka, an entry is
    # due once more than index.interval.bytes were written before the batch),
    # each naming the batch's last offset and its position
    r = gregor("dump-log", "--files", "%s,%s" % (index, timeindex), check=0)
    idx = re.findall(r"^offset: (\d+) position: (\d+)$", r.stdout, re.M)
    assert [(int(o), int(p)) for o, p in idx] == [(g[1], g[3]) for g in got[1:]]
    assert re.search(r"^timestamp: \d+ offset: \d+$", r.stdout, re.M)
    assert r.stderr == ""
    r = gregor("dump-log", "--verify-index-only", "--files", "%s,%s" % (index, timeindex), check=0)
    assert r.stderr == "" and "offset:" not in r.stdout
    r = gregor("dump-log", "--index-sanity-check", "--files", "%s,%s" % (index, timeindex), check=0)
    assert "%s passed sanity check." % index in r.stdout
    assert "%s passed sanity check." % timeindex in r.stdout


def test_dump_log_tampered_index_and_torn_tail(start_broker, tmp_path):
    br = _stopped_segment_with_batches(start_broker, "tamper", [2, 2, 2])
    log, index, timeindex = seg_files(br, "tamper")
    # entries name batches 2..3 and 4..5; the first now points one byte past
    # its batch's start
    data = bytearray(open(index, "rb").read())
    assert len(data) == 2 * 8
    assert struct.unpack(">i", data[0:4])[0] == 3
    pos = struct.unpack(">i", data[4:8])[0]
    data[4:8] = struct.pack(">i", pos + 1)
    bad_index = tmp_path / ("%020d.index" % 0)
    bad_index.write_bytes(bytes(data))
    bad_log = tmp_path / ("%020d.log" % 0)
    good = open(log, "rb").read()
    bad_log.write_bytes(good)
    r = gregor("dump-log", "--verify-index-only", "--files", bad_index, check=1)
    assert "Mismatches in :%s" % bad_index in r.stderr
    assert "Index offset: 3, log offset: -1" in r.stderr
    r = gregor("dump-log", "--index-sanity-check", "--files", bad_index, check=1)
    assert "failed sanity check" in r.stdout
    # a plain dump still prints every entry and exits 0, reporting the mismatch
    r = gregor("dump-log", "--files", bad_index, check=0)
    assert "offset: 3 position: %d" % (pos + 1) in r.stdout and "Mismatches" in r.stderr

    # a torn tail: half a batch appended; the valid batches are still listed
    bad_log.write_bytes(good + good[:40])
    r = gregor("dump-log", "--deep-iteration", "--files", bad_log, check=0)
    assert [(g[0], g[2]) for g in batches_of(r.stdout)] == [(0, 2), (2, 2), (4, 2)]
    assert "Found 40 invalid bytes at the end of %s (position %d" % (bad_log.name, len(good)) \
        in r.stdout
    # a flipped byte inside a batch: shown as isvalid: false, walk goes on
    flipped = bytearray(good)
    flipped[70] ^= 0xFF
    bad_log.write_bytes(bytes(flipped))
    r = gregor("dump-log", "--files", bad_log, check=0)
    assert [g[5] for g in batches_of(r.stdout)] == [False, True, True]


# -- compressed batches, built here (see the module docstring) --

def _lz4_frame(data):
    lib = ctypes.CDLL("liblz4.so.1")
    lib.LZ4F_compressFrameBound.restype = ctypes.c_size_t
    lib.LZ4F_compressFrameBound.argtypes = [ctypes.c_size_t, ctypes.c_void_p]
    lib.LZ4F_compressFrame.restype = ctypes.c_size_t
    lib.LZ4F_compressFrame.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p,
                                       ctypes.c_size_t, ctypes.c_void_p]
    cap = lib.LZ4F_compressFrameBound(len(data), None)
    out = ctypes.create_string_buffer(cap)
    n = lib.LZ4F_compressFrame(out, cap, data, len(data), None)
    assert 0 < n <= cap
    return out.raw[:n]


def _snappy_raw(data):
    lib = ctypes.CDLL("libsnappy.so.1")
    lib.snappy_max_compressed_length.restype = ctypes.c_size_t
    lib.snappy_max_compressed_length.argtypes = [ctypes.c_size_t]
    lib.snappy_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_size_t)]
    cap = lib.snappy_max_compressed_length(len(data))
    out = ctypes.create_string_buffer(cap)
    n = ctypes.c_size_t(cap)
    assert lib.snappy_compress(data, len(data), out, ctypes.byref(n)) == 0
    return out.raw[:n.value]


def _snappy_xerial(data, block=100):
    out = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    for i in range(0, len(data), block):
        blk = _snappy_raw(data[i:i + block])
        out += struct.pack(">i", len(blk)) + blk
    return out


CODECS = {"gzip": (1, gzip.compress), "snappy": (2, _snappy_raw),
          "snappy-xerial": (2, _snappy_xerial), "lz4": (3, _lz4_frame)}


def _compressed_batch(codec, records):
    attr, compress = CODECS[codec]
    base_ts = int(time.time() * 1000)
    raw = b"".join(kw.encode_record(i, i, k, v, h) for i, (k, v, h) in enumerate(records))
    after_crc = struct.pack(">hiqqqhii", attr, len(records) - 1, base_ts,
                            base_ts + len(records) - 1, -1, -1, -1, len(records)) + compress(raw)
    body = struct.pack(">ibI", -1, 2, kw.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def test_dump_log_decodes_compressed_batches(start_broker):
    br = start_broker()
    b = br.bootstrap
    create_topic(b, "cz", 1)
    expect = []  # (codec name in the dump, [(key, value)])
    sock = kw.connect(br.port)
    try:
        for cid, codec in enumerate(CODECS):
            recs = [(b"k-%s-%d" % (codec.encode(), i), (b"%s payload %d " % (codec.encode(), i)) * 20,
                     [("h", b"x")]) for i in range(3)]
            sock.sendall(kw.produce_v3(cid + 1, "cz", 0, _compressed_batch(codec, recs)))
            corr, res = kw.parse_produce_v3(kw.recv_response(sock))
            assert corr == cid + 1 and res[("cz", 0)][0] == 0, res
            expect.append((codec.split("-")[0], [(k, v) for k, v, _ in recs]))
    finally:
        sock.close()
    big = "zstd-" + "z" * 500
    gregor("produce", "--bootstrap-server", b, "--topic", "cz", "--compression-codec", "zstd",
           "--key-separator", ":", input=("kz0:%s0\nkz1:%s1\n" % (big, big)).encode(), check=0)
    expect.append(("zstd", [(b"kz0", (big + "0").encode()), (b"kz1", (big + "1").encode())]))
    assert br.stop() == 0

    log, _, _ = seg_files(br, "cz")
    r = subprocess.run([GREGOR_BIN, "dump-log", "--print-data-log", "--files", log],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    got = batches_of(out.decode())
    assert [g[4] for g in got] == [c for c, _ in expect]
    assert all(g[5] for g in got)
    recs = [l for l in out.split(b"\n") if l.startswith(b"| offset: ")]
    want = [kv for _, kvs in expect for kv in kvs]
    assert len(recs) == len(want)
    for i, (l, (k, v)) in enumerate(zip(recs, want)):
        assert l.startswith(b"| offset: %d " % i), l
        assert l.endswith(b" key: " + k + b" payload: " + v), l[:200]
    assert b"could not be" not in out


def test_dump_log_usage_and_missing_files(tmp_path):
    assert gregor("dump-log").returncode == 2
    r = gregor("dump-log", "--help", check=0)
    assert "Example" in r.stdout
    r = gregor("dump-log", "--files", tmp_path / "00000000000000000000.log", check=1)
    assert "No such file" in r.stderr
    r = gregor("dump-log", "--files", tmp_path / "x.txt", check=0)
    assert "Ignoring unknown file" in r.stderr
    empty = tmp_path / "00000000000000000042.index"
    empty.write_bytes(b"")
    r = gregor("dump-log", "--files", empty, check=0)
    assert "is empty" in r.stdout


# --------------------------------------------------------------------------
# reachability, usage, Ctrl-C
# --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["produce", "--topic", "t"],
    ["consume", "--topic", "t"],
    ["consume", "--topic", "t", "--group", "g"],
    ["perf", "produce", "--topic", "t", "--num-records", "10", "--record-size", "10"],
    ["perf", "consume", "--topic", "t", "--messages", "10"],
])
def test_unreachable_broker_is_reported_in_time(argv):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    r = gregor(*(argv + ["--bootstrap-server", "127.0.0.1:%d" % port, "--timeout-ms", "2000"]),
               input=b"x\n", timeout=30)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "cannot reach the broker at 127.0.0.1:%d" % port in r.stderr
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("cmd", [["produce"], ["consume"], ["perf"], ["perf", "produce"],
                                 ["perf", "consume"], ["dump-log"]])
def test_help_and_unknown_options(cmd):
    r = gregor(*(cmd + ["--help"]), check=0)
    assert "Example" in r.stdout and "usage" in r.stdout
    r = gregor(*(cmd + ["--no-such-option", "1"]))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr


def _read_lines(proc, n, timeout):
    """n lines from proc.stdout within timeout (raw fd reads, no blocking)."""
    buf, deadline = b"", time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while buf.count(b"\n") < n:
        left = deadline - time.monotonic()
        assert left > 0, "only got %r" % buf
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, "consumer exited early: %r" % buf
            buf += chunk
    return buf.decode().splitlines()


def test_ctrl_c_leaves_the_group(start_broker):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient
    br = start_broker(group__initial__rebalance__delay__ms=0)
    b = br.bootstrap
    create_topic(b, "cc", 1)
    produce_all(b, "cc", [{"value": b"c%d" % i} for i in range(3)])
    proc = subprocess.Popen([GREGOR_BIN, "consume", "--bootstrap-server", b, "--topic", "cc",
                             "--group", "tools-ctrl-c", "--from-beginning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _read_lines(proc, 3, 30) == ["c0", "c1", "c2"]
        a = AdminClient({"bootstrap.servers": b})
        (g,) = a.list_groups(group="tools-ctrl-c", timeout=10)
        assert g.state == "Stable" and len(g.members) == 1
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rc = proc.wait(timeout=15)
        err = proc.stderr.read().decode()
        assert rc == 0, err
        assert "Processed a total of 3 messages" in err
        # left the group on the way out: Empty at once, not after a session timeout
        deadline = t0 + 5
        while True:
            (g,) = a.list_groups(group="tools-ctrl-c", timeout=10)
            if g.state == "Empty" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert g.state == "Empty" and not g.members, (g.state, g.members)
        c = make_consumer(b, **{"group.id": "tools-ctrl-c"})
        try:
            (tp,) = c.committed([TopicPartition("cc", 0)], timeout=10)
            assert tp.offset == 3
        finally:
            c.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
