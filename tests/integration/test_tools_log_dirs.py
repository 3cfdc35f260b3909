"""
`gregor log-dirs`, `gregor delete-records`, their shims bin/kafka-log-dirs.sh
and bin/kafka-delete-records.sh, and Kafka 4.4's own LogDirsCommand and
DeleteRecordsCommand, against a real broker: Gregor, or Apache Kafka with
--broker=kafka. The tests that take a `tool` parameter run with our tool and
with Kafka's on whichever broker, with the same expectations (where the two
tools differ on purpose, the test says so), so each broker is checked by
Kafka's own tool and each tool by both brokers.

Proves:
- log-dirs prints Kafka's three lines: "Querying brokers for log directories
  information", "Received log directory information from brokers <id>", and
  the JSON, one log directory (the broker's data directory, no error) with
  one entry per partition (offsetLag 0, isFuture false); a partition's size
  is 0 when empty, grows when records are produced to it, and the others'
  stay as they were; --topic-list and --broker-list filter; after
  delete-records up to the high watermark the broker's retention pass
  removes the segments below it and the size drops to the active segment;
- `gregor log-dirs` prints the same bytes as Kafka's tool on the same broker
  (the JSON's key order and the order of 40 partitions of three topics,
  filtered or not, which is Java's HashMap order);
- a --broker-list id the cluster lacks is Kafka's error ("ERROR: The given
  brokers do not exist from --broker-list: 99. Current existent brokers: 1"),
  and --describe is required;
- delete-records moves the low watermark: Kafka's lines ("Executing records
  delete operation", "Records delete operation completed:", "partition:
  T-P<TAB>low_watermark: N"), offset -1 deletes up to the high watermark;
  ListOffsets earliest (a client's watermarks) then answers the new offset,
  and a consumer at an offset below it gets OFFSET_OUT_OF_RANGE and resets
  by auto.offset.reset (earliest: the new low watermark; latest: the end;
  error: the client's _AUTO_OFFSET_RESET error);
- per-partition errors are Kafka's exceptions, the same line from both tools:
  an offset above the high watermark or below zero
  (OffsetOutOfRangeException), a compact topic (PolicyViolationException),
  an internal topic (InvalidTopicException); our tool exits 1 then, Kafka's 0;
- an unknown topic or partition: our tool says UnknownTopicOrPartitionException
  at once, Kafka's tool retries until its API timeout (set to 3 s here) and
  says TimeoutException;
- a bad offset file is Kafka's sentence (not valid JSON, missing partitions,
  unsupported version, a duplicate partition, a missing field, a wrong type),
  exit 1, nothing on stdout; our tool prints it as one line;
- the shims take Kafka's flags (--bootstrap-server, --describe,
  --topic-list, --broker-list, --offset-json-file, --command-config) and
  print what `gregor` prints.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_tools_log_dirs.py \\
        -q -p no:cacheprovider [--broker=kafka]
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

import kafka_tools_run
from conftest import (GREGOR_BIN, admin_client, create_topic, list_topics, produce_all,
                      quiet_logger, wait_for_topic, watermarks)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHIM_LOG_DIRS = str(REPO / "bin" / "kafka-log-dirs.sh")
SHIM_DELETE = str(REPO / "bin" / "kafka-delete-records.sh")
LOG_DIRS_CLASS = "org.apache.kafka.tools.LogDirsCommand"
DELETE_CLASS = "org.apache.kafka.tools.DeleteRecordsCommand"
RUN_TIMEOUT = 180      # one tool run (a JVM on a busy machine; Kafka's unknown-topic retries)

QUERYING = "Querying brokers for log directories information"
EXECUTING = "Executing records delete operation"
COMPLETED = "Records delete operation completed:"
OUT_OF_RANGE = ("org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset "
                "is not within the range of offsets maintained by the server.")

TOOLS = ["gregor", "kafka"]


# --------------------------------------------------------------------------
# running the tools
# --------------------------------------------------------------------------

def run_log_dirs(tool, bootstrap, *args):
    args = ["--bootstrap-server", bootstrap] + [str(a) for a in args]
    if tool == "kafka":
        return kafka_tools_run.run(LOG_DIRS_CLASS, args, timeout=RUN_TIMEOUT)
    if tool == "shim":
        return subprocess.run([SHIM_LOG_DIRS] + args, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=dict(os.environ, GREGOR_BIN=GREGOR_BIN))
    return subprocess.run([GREGOR_BIN, "log-dirs"] + args, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def run_delete(tool, bootstrap, offsets_file, *extra):
    args = ["--bootstrap-server", bootstrap, "--offset-json-file", str(offsets_file)] + list(extra)
    if tool == "kafka":
        return kafka_tools_run.run(DELETE_CLASS, args, timeout=RUN_TIMEOUT)
    if tool == "shim":
        return subprocess.run([SHIM_DELETE] + args, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=dict(os.environ, GREGOR_BIN=GREGOR_BIN))
    return subprocess.run([GREGOR_BIN, "delete-records"] + args, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def show(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


def node_id(bootstrap):
    brokers = list(admin_client(bootstrap).list_topics(timeout=10).brokers)
    assert len(brokers) == 1, brokers
    return brokers[0]


def parse_log_dirs(r, node):
    """Kafka's three lines; returns (the JSON text, the parsed JSON)."""
    assert r.returncode == 0, show(r)
    lines = r.stdout.split("\n")
    assert len(lines) == 4 and lines[3] == "", show(r)
    assert lines[0] == QUERYING
    assert lines[1] == "Received log directory information from brokers %d" % node
    raw = lines[2]
    assert raw.startswith('{"brokers":[{"broker":%d,"logDirs":[{"partitions":[' % node), raw
    assert raw.endswith('],"version":1}'), raw
    return raw, json.loads(raw)


def sizes(doc, broker):
    """{partition name: size} of the broker's one log directory, checking
    everything else in it."""
    assert doc["version"] == 1
    assert len(doc["brokers"]) == 1
    b = doc["brokers"][0]
    assert len(b["logDirs"]) == 1, b
    d = b["logDirs"][0]
    assert list(d) == ["partitions", "error", "logDir"]
    assert d["error"] is None
    assert os.path.realpath(d["logDir"]) == os.path.realpath(str(broker.data_dir))
    out = {}
    for p in d["partitions"]:
        assert list(p) == ["partition", "size", "offsetLag", "isFuture"], p
        assert p["offsetLag"] == 0 and p["isFuture"] is False, p
        assert p["partition"] not in out
        out[p["partition"]] = p["size"]
    return out


def write_offsets(path, entries, version=1):
    doc = {"partitions": [{"topic": t, "partition": p, "offset": o} for t, p, o in entries]}
    if version is not None:
        doc["version"] = version
    path.write_text(json.dumps(doc))
    return path


def delete_lines(r):
    """The partition lines after Kafka's two lines, as a set (Kafka's tool
    prints them in an order that changes from run to run)."""
    lines = r.stdout.split("\n")
    assert lines[0] == EXECUTING and lines[1] == COMPLETED and lines[-1] == "", show(r)
    body = lines[2:-1]
    assert len(set(body)) == len(body), show(r)
    return set(body)


def produce_n(bootstrap, topic, partition, n, tag="m"):
    produce_all(bootstrap, topic, [{"value": b"%s-%d" % (tag.encode(), i), "partition": partition}
                                   for i in range(n)])


# --------------------------------------------------------------------------
# log-dirs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("tool", TOOLS)
def test_log_dirs_sizes_grow(broker, tool):
    bs = broker.bootstrap
    node = node_id(bs)
    create_topic(bs, "ld", partitions=3)
    create_topic(bs, "ld-other", partitions=2)

    _, doc = parse_log_dirs(run_log_dirs(tool, bs, "--describe"), node)
    all_sizes = sizes(doc, broker)
    assert {"ld-0", "ld-1", "ld-2", "ld-other-0", "ld-other-1"} <= set(all_sizes), all_sizes
    _, doc = parse_log_dirs(run_log_dirs(tool, bs, "--describe", "--topic-list", "ld"), node)
    before = sizes(doc, broker)
    assert before == {"ld-0": 0, "ld-1": 0, "ld-2": 0}

    produce_n(bs, "ld", 0, 50)
    produce_n(bs, "ld", 1, 5)
    _, doc = parse_log_dirs(run_log_dirs(tool, bs, "--describe", "--topic-list", "ld,ld-other",
                                         "--broker-list", node), node)
    after = sizes(doc, broker)
    assert set(after) == {"ld-0", "ld-1", "ld-2", "ld-other-0", "ld-other-1"}
    assert after["ld-0"] > 0 and after["ld-1"] > 0, after
    assert after["ld-2"] == 0 and after["ld-other-0"] == 0 and after["ld-other-1"] == 0, after

    produce_n(bs, "ld", 0, 50, tag="more")
    _, doc = parse_log_dirs(run_log_dirs(tool, bs, "--describe", "--topic-list", "ld"), node)
    again = sizes(doc, broker)
    assert again["ld-0"] > after["ld-0"], (after, again)
    assert again["ld-1"] == after["ld-1"] and again["ld-2"] == 0, (after, again)


def test_log_dirs_same_bytes_as_kafkas_tool(broker):
    """Byte for byte, on the same broker: the JSON's key order and the
    partitions' order (Java's HashMap order, table resizes included)."""
    bs = broker.bootstrap
    node = node_id(bs)
    create_topic(bs, "orders", partitions=20)
    create_topic(bs, "payments", partitions=13)
    create_topic(bs, "a.b_c-d", partitions=7)
    produce_n(bs, "orders", 3, 10)
    produce_n(bs, "payments", 12, 3)
    # the clients' group made __consumer_offsets: all of it is there before
    # the two tools look (nothing else changes the broker in between)
    wait_for_topic(bs, "__consumer_offsets")
    for args in (["--describe"],
                 ["--describe", "--topic-list", "orders"],
                 ["--describe", "--topic-list", "payments,a.b_c-d,nosuch"],
                 ["--describe", "--broker-list", str(node), "--topic-list", ",a.b_c-d,"]):
        ours = run_log_dirs("gregor", bs, *args)
        theirs = run_log_dirs("kafka", bs, *args)
        parse_log_dirs(ours, node)
        parse_log_dirs(theirs, node)
        assert ours.stdout == theirs.stdout, "%s\n--- ours:\n%s\n--- Kafka's:\n%s" % (
            args, ours.stdout, theirs.stdout)


@pytest.mark.parametrize("tool", TOOLS)
def test_log_dirs_errors(broker, tool):
    bs = broker.bootstrap
    node = node_id(bs)
    r = run_log_dirs(tool, bs, "--describe", "--broker-list", "%d,99" % node)
    assert r.returncode == 1 and r.stdout == "", show(r)
    msg = ("ERROR: The given brokers do not exist from --broker-list: 99. "
           "Current existent brokers: %d" % node)
    last = r.stderr.strip().splitlines()[-1]
    if tool == "kafka":
        assert last == msg, show(r)
    else:
        assert r.stderr == "gregor log-dirs: %s\n" % msg, show(r)

    r = run_log_dirs(tool, bs)
    # Kafka's tool prints the sentence and its usage, exit 1; ours the
    # sentence on one line, exit 2 (a usage error)
    assert r.returncode == (1 if tool == "kafka" else 2) and r.stdout == "", show(r)
    assert 'Missing required argument "[describe]"' in r.stderr.splitlines()[0], show(r)


# --------------------------------------------------------------------------
# delete-records
# --------------------------------------------------------------------------

def poll_first(consumer, timeout=30):
    """The first message or error event within timeout, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None:
            return m
    return None


def consumer_at(bootstrap, topic, partition, offset, reset):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dr-%s" % reset,
                  "enable.auto.commit": False, "auto.offset.reset": reset,
                  "logger": quiet_logger()})
    c.assign([TopicPartition(topic, partition, offset)])
    return c


@pytest.mark.parametrize("tool", TOOLS)
def test_delete_records_moves_low_watermark(broker, tool, tmp_path):
    bs = broker.bootstrap
    create_topic(bs, "dr", partitions=3)
    for p in range(3):
        produce_n(bs, "dr", p, 10)
    f = write_offsets(tmp_path / "offsets.json", [("dr", 0, 4), ("dr", 1, -1), ("dr", 2, 0)])
    r = run_delete(tool, bs, f)
    assert r.returncode == 0, show(r)
    assert delete_lines(r) == {"partition: dr-0\tlow_watermark: 4",
                               "partition: dr-1\tlow_watermark: 10",
                               "partition: dr-2\tlow_watermark: 0"}
    # ListOffsets earliest / latest
    assert watermarks(bs, "dr", 0) == (4, 10)
    assert watermarks(bs, "dr", 1) == (10, 10)
    assert watermarks(bs, "dr", 2) == (0, 10)

    # an offset below the current low watermark changes nothing (no error):
    # the answer is the low watermark as it is; the version field may be left out
    f2 = write_offsets(tmp_path / "again.json", [("dr", 0, 2)], version=None)
    r = run_delete(tool, bs, f2)
    assert r.returncode == 0, show(r)
    assert delete_lines(r) == {"partition: dr-0\tlow_watermark: 4"}

    # a consumer below the low watermark: OFFSET_OUT_OF_RANGE, then its reset policy
    c = consumer_at(bs, "dr", 0, 1, "earliest")
    try:
        m = poll_first(c)
        assert m is not None and m.error() is None, m and m.error()
        assert (m.offset(), m.value()) == (4, b"m-4")
    finally:
        c.close()
    c = consumer_at(bs, "dr", 0, 2, "error")
    try:
        m = poll_first(c)
        assert m is not None and m.error() is not None, m
        assert m.error().code() == KafkaError._AUTO_OFFSET_RESET, m.error()
        assert "Offset out of range" in m.error().str(), m.error()
    finally:
        c.close()
    c = consumer_at(bs, "dr", 0, 3, "latest")
    try:
        assert poll_first(c, timeout=3) is None  # reset to the end: nothing yet
        # the first record it gets is one produced after the reset (on a busy
        # machine the reset may come after the first of them: produce again)
        deadline = time.monotonic() + 60
        m = None
        while m is None and time.monotonic() < deadline:
            produce_all(bs, "dr", [{"value": b"after", "partition": 0}])
            m = poll_first(c, timeout=5)
        assert m is not None and m.error() is None, m and m.error()
        assert m.offset() >= 10 and m.value() == b"after", (m.offset(), m.value())
    finally:
        c.close()
    # dr-1 is empty from 10 on: a consumer from the start reads nothing old
    c = consumer_at(bs, "dr", 1, 0, "earliest")
    try:
        assert poll_first(c, timeout=3) is None
    finally:
        c.close()


def make_offsets_topic(bootstrap):
    """__consumer_offsets exists once a group has committed (Kafka's admin
    client waits for a topic that does not exist)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dr-commit",
                  "enable.auto.commit": False, "logger": quiet_logger()})
    try:
        c.commit(offsets=[TopicPartition("dr", 0, 1)], asynchronous=False)
    finally:
        c.close()
    wait_for_topic(bootstrap, "__consumer_offsets")


@pytest.mark.parametrize("tool", TOOLS)
def test_delete_records_partition_errors(broker, tool, tmp_path):
    bs = broker.bootstrap
    create_topic(bs, "dr", partitions=2)
    create_topic(bs, "dr-compact", partitions=1, config={"cleanup.policy": "compact"})
    produce_n(bs, "dr", 0, 5)
    produce_n(bs, "dr", 1, 5)
    produce_all(bs, "dr-compact", [{"key": b"k%d" % i, "value": b"v"} for i in range(5)])
    make_offsets_topic(bs)
    f = write_offsets(tmp_path / "offsets.json",
                      [("dr", 0, 6), ("dr", 1, -7), ("dr-compact", 0, 2),
                       ("__consumer_offsets", 0, 0)])
    r = run_delete(tool, bs, f)
    # Kafka's tool exits 0 whatever the partitions' fate; ours 1 when one failed
    assert r.returncode == (0 if tool == "kafka" else 1), show(r)
    assert delete_lines(r) == {
        "partition: dr-0\terror: " + OUT_OF_RANGE,
        "partition: dr-1\terror: " + OUT_OF_RANGE,
        "partition: dr-compact-0\terror: org.apache.kafka.common.errors.PolicyViolationException:"
        " Request parameters do not satisfy the configured policy.",
        "partition: __consumer_offsets-0\terror: org.apache.kafka.common.errors."
        "InvalidTopicException: The request attempted to perform an operation on an invalid topic.",
    }, show(r)
    assert watermarks(bs, "dr", 0) == (0, 5)
    assert watermarks(bs, "dr", 1) == (0, 5)
    assert watermarks(bs, "dr-compact", 0)[0] == 0


@pytest.mark.parametrize("tool", TOOLS)
def test_delete_records_unknown_topic(broker, tool, tmp_path):
    bs = broker.bootstrap
    create_topic(bs, "dr", partitions=1)
    produce_n(bs, "dr", 0, 5)
    f = write_offsets(tmp_path / "offsets.json", [("nosuch", 0, 1), ("dr", 7, 1), ("dr", 0, 2)])
    if tool == "kafka":
        # Kafka's admin client looks an unknown partition up again until its
        # API timeout: 3 s here instead of 60
        props = tmp_path / "admin.properties"
        props.write_text("default.api.timeout.ms=3000\nrequest.timeout.ms=3000\n")
        r = run_delete(tool, bs, f, "--command-config", props)
        assert r.returncode == 0, show(r)
        lines = delete_lines(r)
        assert "partition: dr-0\tlow_watermark: 2" in lines, show(r)
        for tp in ("nosuch-0", "dr-7"):
            assert any(ln.startswith("partition: %s\terror: org.apache.kafka.common.errors."
                                     "TimeoutException: " % tp) for ln in lines), show(r)
        assert len(lines) == 3
    else:
        t0 = time.monotonic()
        r = run_delete(tool, bs, f)
        assert time.monotonic() - t0 < 5, "an unknown topic is reported at once"
        assert r.returncode == 1, show(r)
        unknown = ("\terror: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: "
                   "This server does not host this topic-partition.")
        assert delete_lines(r) == {"partition: nosuch-0" + unknown, "partition: dr-7" + unknown,
                                   "partition: dr-0\tlow_watermark: 2"}, show(r)
    assert watermarks(bs, "dr", 0) == (2, 5)
    assert "nosuch" not in list_topics(bs), "the tool must not create topics"


BAD_FILES = [
    ("not json", "The input string is not a valid JSON"),
    ('{"partitions":[{"topic":"dr","partition":0,"offset":1}]', "The input string is not a valid JSON"),
    ("", "The input string is not a valid JSON"),
    ('{"version":1}', "Missing partitions field"),
    ('{"partitions":[{"topic":"dr","partition":0,"offset":1}],"version":2}',
     "Not supported version field value 2"),
    ('{"partitions":[{"topic":"dr","partition":0,"offset":1},{"topic":"dr","partition":0,"offset":2}]}',
     "Offset json file contains duplicate topic partitions: dr-0"),
    ('{"partitions":[{"topic":"dr","partition":0}]}', "No such field exists: `offset`"),
    ('{"partitions":[{"topic":"dr","partition":"x","offset":1}]}',
     'Expected `Integer` value, received "x"'),
    ('{"partitions":[{"topic":"dr","partition":1.0,"offset":1}]}',
     "Expected `Integer` value, received 1.0"),
    ('{"partitions":[{"topic":null,"partition":0,"offset":1}]}',
     "Expected `String` value, received null"),
    ('{"partitions":[{"topic":"dr","partition":0,"offset":"1"}]}',
     'Expected `Long` value, received "1"'),
    ('{"partitions":{"a":[1, 2.50, true]}}', 'Expected JSON array, received {"a":[1,2.5,true]}'),
    ('[1, 2]', "Expected JSON object, received [1,2]"),
]


@pytest.mark.parametrize("tool", TOOLS)
def test_delete_records_bad_files(broker, tool, tmp_path):
    bs = broker.bootstrap
    create_topic(bs, "dr", partitions=1)
    produce_n(bs, "dr", 0, 3)
    for k, (text, sentence) in enumerate(BAD_FILES):
        f = tmp_path / ("bad%d.json" % k)
        f.write_text(text)
        r = run_delete(tool, bs, f)
        assert r.returncode == 1 and r.stdout == "", "%r\n%s" % (text, show(r))
        if tool == "kafka":
            # the sentence, then the exception's stack trace
            assert r.stderr.splitlines()[0] == sentence, "%r\n%s" % (text, show(r))
        else:
            assert r.stderr == "gregor delete-records: %s\n" % sentence, "%r\n%s" % (text, show(r))
    r = run_delete(tool, bs, tmp_path / "missing.json")
    assert r.returncode == 1 and r.stdout == "", show(r)
    assert "Unable to read file %s" % (tmp_path / "missing.json") in r.stderr.splitlines()[0], show(r)
    assert watermarks(bs, "dr", 0) == (0, 3)


# --------------------------------------------------------------------------
# the shims
# --------------------------------------------------------------------------

def test_shims_take_kafkas_flags(broker, tmp_path):
    bs = broker.bootstrap
    node = node_id(bs)
    create_topic(bs, "sh", partitions=2)
    produce_n(bs, "sh", 0, 8)
    props = tmp_path / "admin.properties"
    props.write_text("client.id=shim-test\nrequest.timeout.ms=30000\n")

    args = ["--describe", "--topic-list", "sh", "--broker-list", str(node),
            "--command-config", props]
    shim = run_log_dirs("shim", bs, *args)
    ours = run_log_dirs("gregor", bs, *args)
    _, doc = parse_log_dirs(shim, node)
    assert shim.stdout == ours.stdout
    s = sizes(doc, broker)
    assert set(s) == {"sh-0", "sh-1"} and s["sh-0"] > 0 and s["sh-1"] == 0, s

    f = write_offsets(tmp_path / "offsets.json", [("sh", 0, 5)])
    r = run_delete("shim", bs, f, "--command-config", props)
    assert r.returncode == 0, show(r)
    assert delete_lines(r) == {"partition: sh-0\tlow_watermark: 5"}
    assert watermarks(bs, "sh", 0) == (5, 8)

    for shim_path in (SHIM_LOG_DIRS, SHIM_DELETE):
        r = subprocess.run([shim_path, "--help"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, GREGOR_BIN=GREGOR_BIN))
        assert r.returncode == 0 and "Example:" in r.stdout, show(r)


def test_log_dirs_size_shrinks_after_delete_records(start_broker, small_segments, tmp_path):
    """Whole segments below the new low watermark are removed by the
    broker's retention pass (every second here; Kafka's first pass comes
    30 s after start-up): the partition's size drops to (at most) its
    active segment. Kafka's tool reads the sizes before and after, ours
    deletes and watches."""
    overrides, topic_config = small_segments(4096)
    overrides["log.retention.check.interval.ms"] = 1000
    broker = start_broker(**overrides)
    bs = broker.bootstrap
    node = node_id(bs)
    create_topic(bs, "shrink", partitions=1, config=topic_config)
    value = b"x" * 200
    # batches of at most 5 records (about 1.1 KB): several to a segment
    produce_all(bs, "shrink", [{"value": value, "partition": 0} for _ in range(200)],
                batch__num__messages=5)
    _, doc = parse_log_dirs(run_log_dirs("kafka", bs, "--describe", "--topic-list", "shrink"), node)
    full = sizes(doc, broker)["shrink-0"]
    assert full > 3 * 4096, full
    f = write_offsets(tmp_path / "offsets.json", [("shrink", 0, -1)])
    r = run_delete("gregor", bs, f)
    assert r.returncode == 0, show(r)
    assert delete_lines(r) == {"partition: shrink-0\tlow_watermark: 200"}
    deadline = time.monotonic() + 120
    while True:
        _, doc = parse_log_dirs(run_log_dirs("gregor", bs, "--describe", "--topic-list", "shrink"),
                                node)
        now = sizes(doc, broker)["shrink-0"]
        if now <= 4096:
            break
        assert time.monotonic() < deadline, "size still %d (was %d) 120 s after delete-records" % (
            now, full)
        time.sleep(1)
    _, doc = parse_log_dirs(run_log_dirs("kafka", bs, "--describe", "--topic-list", "shrink"), node)
    assert sizes(doc, broker)["shrink-0"] <= 4096
    assert watermarks(bs, "shrink", 0) == (200, 200)
