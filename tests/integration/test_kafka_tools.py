"""
Apache Kafka's own command-line tools (the classes behind bin/kafka-*.sh, from
the pinned 4.4.0 jars, run with kafkaref.run_tool) against the broker under
test: Gregor by default, Apache Kafka with --broker=kafka. The same tests pass
on both; what Gregor lacks is a strict expected failure that asserts the
tool's exact error.

What is shown, each output parsed and the effect cross-checked with
confluent-kafka where it is on the broker:
  * the quick start: kafka-topics --create prints "Created topic test-topic.";
    kafka-console-producer with keys and headers (Java's murmur2 partitioner
    decides the partitions, so the test knows where each line goes);
    kafka-console-consumer --partition 0 --offset earliest prints exactly
    partition 0's records with offsets, headers, keys and values;
  * the console producer and kafka-producer-perf-test with their defaults:
    the Java producer is idempotent by default (enable.idempotence=true with
    acks=all), so it asks for a producer id (InitProducerId) and its
    batches in the partition's segment files carry that id; with
    idempotence off (explicitly, or implied by acks=1) they carry none;
  * kafka-topics --list/--describe/--alter --partitions/--delete and Kafka's
    errors (existing topic, missing topic); shrinking is refused by both,
    but Gregor's message is older Kafka's (strict expected failure);
  * kafka-consumer-groups --list/--describe/--state/--reset-offsets
    --to-earliest --execute/--delete on a group the Java console consumer
    made;
  * kafka-configs --alter --add-config/--delete-config and --describe on a
    topic, --describe (and --all) on a broker; --alter on a broker is
    refused by Gregor (strict expected failure);
  * kafka-get-offsets for latest, earliest, max-timestamp (-3) and a
    timestamp;
  * kafka-producer-perf-test (20,000 x 100 bytes, acks=1) and
    kafka-consumer-perf-test reading them back;
  * kafka-log-dirs --describe, sizes checked against the segment files.

The on-disk format, both ways (gregor_only: the tests start their own Gregor
AND their own Kafka whatever --broker says, so they run once, in the gregor
run): the same records (keys, null key, null value, repeated headers,
explicit timestamps, three batches, the middle one zstd, an index entry
after every batch) are produced to both, both are stopped with SIGTERM, and
  * Kafka's kafka-dump-log (DumpLogSegments) reads Gregor's segment: every
    record, valid CRCs;
  * `gregor dump-log` reads Kafka's segment, and its .index and .timeindex
    the way kafka-dump-log does, and finds them sane;
  * the four dumps (two tools x two brokers' files) agree line for line,
    offsets, keys, values, header keys, timestamps, sizes and CRCs
    included, and the two .log files are byte-identical;
  * kafka-dump-log's index checks on Gregor's files: --index-sanity-check
    and --verify-index-only pass (a .timeindex entry names the batch's last
    offset, as Kafka's do).

Each JVM start costs a second or more: kafka_tools_run.py limits the JIT to
C1 and keeps a class-data archive per tool class, which together take the
start-up of these short-lived tools to a third.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import (GregorGap, gregor_gap, GREGOR_BIN, Broker, KafkaBroker, admin_client, consume_partitions,
                      create_topic, list_topics, make_consumer, make_producer, produce_all,
                      wait_for_topic, wait_topic_absent, watermarks)
import kafkaref
import kafka_tools_run

TOOL_TIMEOUT = 120        # seconds: a bound on any single tool run
CONSUME_TIMEOUT_MS = 60000  # console/perf consumers: give up after this

TOPICS = "org.apache.kafka.tools.TopicCommand"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
CONFIGS = "org.apache.kafka.tools.ConfigCommand"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"
PRODUCER_PERF = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_PERF = "org.apache.kafka.tools.ConsumerPerformance"
LOG_DIRS = "org.apache.kafka.tools.LogDirsCommand"
DUMP_LOG = "org.apache.kafka.tools.DumpLogSegments"


@pytest.fixture(scope="module", autouse=True)
def reference_jars():
    """The tools come from build/reference/libs; a missing reference is an
    error (fetching is cheap once Maven has cached the jars)."""
    kafkaref.fetch(quiet=True)




# ---------------------------------------------------------------- running tools

def kafka_tool(main_class, *args, input=None, timeout=TOOL_TIMEOUT):
    """Run one of Kafka's tool classes (kafka_tools_run: C1 only, a class-data
    archive per tool); CompletedProcess with text output."""
    return kafka_tools_run.run(main_class, args, input=input, timeout=timeout)


def describe(r):
    return "exit %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        r.returncode, r.stdout[-4000:], r.stderr[-4000:])


def ok(main_class, *args, **kw):
    r = kafka_tool(main_class, *args, **kw)
    assert r.returncode == 0, "%s %s -> %s" % (main_class, " ".join(map(str, args)), describe(r))
    return r


def fails(main_class, *args, **kw):
    r = kafka_tool(main_class, *args, **kw)
    assert r.returncode != 0, "%s %s succeeded:\n%s" % (main_class, " ".join(map(str, args)),
                                                       describe(r))
    return r


def gregor_tool(*args, timeout=TOOL_TIMEOUT):
    """Run `build/gregor <args>` (dump-log); CompletedProcess with text output."""
    return subprocess.run([GREGOR_BIN] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def stderr_lines(r):
    """stderr's non-blank lines, without the Java consumer's hint that the
    KIP-848 protocol exists (printed whenever it joins a classic group)."""
    return [l for l in r.stderr.splitlines()
            if l.strip() and "KIP-848" not in l]


# ---------------------------------------------------------------- Java's partitioner

def murmur2(data):
    """org.apache.kafka.common.utils.Utils.murmur2 (32-bit, seed 0x9747b28c)."""
    m, r = 0x5bd1e995, 24
    length = len(data)
    h = (0x9747b28c ^ length) & 0xffffffff
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    tail = length & ~3
    extra = length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def java_partition(key, partitions):
    """The partition the Java producer's default partitioner picks for a key."""
    return (murmur2(key) & 0x7fffffff) % partitions


# ---------------------------------------------------------------- the quick start

def test_quickstart_create_produce_consume(broker):
    bs = broker.bootstrap
    r = ok(TOPICS, "--create", "--topic", "test-topic", "--partitions", 3,
           "--replication-factor", 1, "--bootstrap-server", bs)
    assert r.stdout == "Created topic test-topic.\n", describe(r)
    wait_for_topic(bs, "test-topic", 3)

    # Keyed lines with headers, in the console producer's default format:
    # "h1:v1,h2:v2<TAB>key<TAB>value".
    rows = [("user-%d" % i, "event %d" % i, "seq:%d,src:cli" % i) for i in range(12)]
    lines = "".join("%s\t%s\t%s\n" % (h, k, v) for k, v, h in rows)
    r = ok(CONSOLE_PRODUCER, "--bootstrap-server", bs, "--topic", "test-topic",
           "--reader-property", "parse.key=true", "--reader-property", "parse.headers=true",
           # Idempotence off, the plain path; test_console_producer_defaults
           # has the default (idempotent) one.
           "--command-property", "enable.idempotence=false",
           input=lines)
    assert r.stdout == "" and stderr_lines(r) == [], describe(r)

    expect = {p: [row for row in rows if java_partition(row[0].encode(), 3) == p]
              for p in range(3)}
    assert all(expect.values()), "the keys should cover all 3 partitions: %s" % expect

    # The broker holds each record where Java's partitioner put it, in order.
    got = consume_partitions(bs, "test-topic", {p: len(v) for p, v in expect.items()})
    for p in range(3):
        assert [(m.key().decode(), m.value().decode(),
                 ",".join("%s:%s" % (hk, hv.decode()) for hk, hv in m.headers()))
                for m in got[p]] == expect[p]
        assert [m.offset() for m in got[p]] == list(range(len(expect[p])))

    n0 = len(expect[0])
    r = ok(CONSOLE_CONSUMER, "--bootstrap-server", bs, "--topic", "test-topic",
           "--partition", 0, "--offset", "earliest", "--max-messages", n0,
           "--timeout-ms", CONSUME_TIMEOUT_MS,
           "--formatter-property", "print.partition=true",
           "--formatter-property", "print.offset=true",
           "--formatter-property", "print.headers=true",
           "--formatter-property", "print.key=true")
    assert r.stdout.splitlines() == [
        "Partition:0\tOffset:%d\t%s\t%s\t%s" % (i, h, k, v)
        for i, (k, v, h) in enumerate(expect[0])], describe(r)
    assert "Processed a total of %d messages" % n0 in r.stderr.splitlines(), describe(r)


def batch_producer_ids(partition_dir):
    """The producer id of every record batch (v2) in a partition's segment
    files, in file order."""
    ids = []
    for seg in sorted(partition_dir.glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
            if length <= 0:
                break   # a preallocated, unwritten tail
            assert data[pos + 16] == 2, "batch at %d of %s: magic %d" % (pos, seg, data[pos + 16])
            ids.append(int.from_bytes(data[pos + 43:pos + 51], "big", signed=True))
            pos += 12 + length
    return ids


def test_console_producer_defaults(broker):
    """The tutorial verbatim: no producer settings at all."""
    bs = broker.bootstrap
    create_topic(bs, "quickstart-events", 1)
    r = kafka_tool(CONSOLE_PRODUCER, "--topic", "quickstart-events", "--bootstrap-server", bs,
                   input="first event\nsecond event\nthird event\n")
    assert r.returncode == 0 and r.stdout == "" and stderr_lines(r) == [], describe(r)
    assert watermarks(bs, "quickstart-events", 0) == (0, 3)
    # Idempotent by default: every batch carries the one producer id it got.
    ids = batch_producer_ids(broker.partition_dir("quickstart-events", 0))
    assert ids and len(set(ids)) == 1 and ids[0] >= 0, ids
    r = ok(CONSOLE_CONSUMER, "--topic", "quickstart-events", "--from-beginning",
           "--bootstrap-server", bs, "--max-messages", 3, "--timeout-ms", CONSUME_TIMEOUT_MS)
    assert r.stdout == "first event\nsecond event\nthird event\n", describe(r)
    assert "Processed a total of 3 messages" in r.stderr.splitlines(), describe(r)


# ---------------------------------------------------------------- kafka-topics

DESCRIBE_HEAD = re.compile(r"^Topic: (\S+)\tTopicId: ([A-Za-z0-9_-]{22})\tPartitionCount: (\d+)"
                           r"\tReplicationFactor: (\d+)\tConfigs: (.*)$")
DESCRIBE_PART = re.compile(r"^\tTopic: (\S+)\tPartition: (\d+)\tLeader: (-?\d+)\tReplicas: ([\d,]*)"
                           r"\tIsr: ([\d,]*)\t")


def parse_topic_describe(text):
    """{topic: {"id", "partitions", "rf", "configs": {k: v},
    "leaders": {p: (leader, replicas, isr)}}}"""
    out = {}
    for line in text.splitlines():
        m = DESCRIBE_HEAD.match(line)
        if m:
            cfg = dict(kv.split("=", 1) for kv in m.group(5).split(",") if kv)
            out[m.group(1)] = {"id": m.group(2), "partitions": int(m.group(3)),
                               "rf": int(m.group(4)), "configs": cfg, "leaders": {}}
            continue
        m = DESCRIBE_PART.match(line)
        assert m, "unexpected describe line %r in:\n%s" % (line, text)
        out[m.group(1)]["leaders"][int(m.group(2))] = (m.group(3), m.group(4), m.group(5))
    return out


def test_topics_list_describe_alter_delete(broker):
    bs = broker.bootstrap
    r = ok(TOPICS, "--bootstrap-server", bs, "--create", "--topic", "orders",
           "--partitions", 2, "--replication-factor", 1, "--config", "retention.ms=3600000")
    assert r.stdout == "Created topic orders.\n", describe(r)
    create_topic(bs, "payments", 1)

    # Every topic the broker has, and nothing else.
    r = ok(TOPICS, "--bootstrap-server", bs, "--list")
    listed = r.stdout.splitlines()
    assert listed == sorted(listed) and {"orders", "payments"} <= set(listed), describe(r)
    assert set(listed) == set(list_topics(bs)), describe(r)

    r = ok(TOPICS, "--bootstrap-server", bs, "--describe", "--topic", "orders")
    d = parse_topic_describe(r.stdout)
    assert list(d) == ["orders"], describe(r)
    o = d["orders"]
    assert (o["partitions"], o["rf"]) == (2, 1), describe(r)
    assert o["configs"].get("retention.ms") == "3600000", describe(r)
    assert o["leaders"] == {0: ("1", "1", "1"), 1: ("1", "1", "1")}, describe(r)

    # Describing every topic gives the same topic id.
    r = ok(TOPICS, "--bootstrap-server", bs, "--describe")
    d_all = parse_topic_describe(r.stdout)
    assert {"orders", "payments"} <= set(d_all), describe(r)
    assert d_all["orders"]["id"] == o["id"] and d_all["payments"]["id"] != o["id"]

    r = ok(TOPICS, "--bootstrap-server", bs, "--alter", "--topic", "orders", "--partitions", 4)
    assert r.stdout == "", describe(r)
    wait_for_topic(bs, "orders", 4)
    r = ok(TOPICS, "--bootstrap-server", bs, "--describe", "--topic", "orders")
    o4 = parse_topic_describe(r.stdout)["orders"]
    assert o4["partitions"] == 4 and sorted(o4["leaders"]) == [0, 1, 2, 3], describe(r)
    assert o4["id"] == o["id"], "adding partitions must keep the topic id"
    # The new partitions take records.
    d = produce_all(bs, "orders", [{"value": b"to-%d" % p, "partition": p} for p in (2, 3)])
    assert sorted((m.partition(), m.offset()) for m in d) == [(2, 0), (3, 0)]

    r = fails(TOPICS, "--bootstrap-server", bs, "--create", "--topic", "orders",
              "--partitions", 1, "--replication-factor", 1)
    assert r.stdout == "Error while executing topic command : Topic 'orders' already exists.\n", \
        describe(r)

    r = ok(TOPICS, "--bootstrap-server", bs, "--delete", "--topic", "orders")
    assert r.stdout == "", describe(r)
    wait_topic_absent(bs, "orders")
    assert "payments" in list_topics(bs)

    r = fails(TOPICS, "--bootstrap-server", bs, "--describe", "--topic", "orders")
    assert r.stdout == ("Error while executing topic command : "
                        "Topic 'orders' does not exist as expected\n"), describe(r)


def test_topics_alter_cannot_shrink(broker):
    bs = broker.bootstrap
    create_topic(bs, "shrink", 3)
    r = fails(TOPICS, "--bootstrap-server", bs, "--alter", "--topic", "shrink", "--partitions", 2)
    wait_for_topic(bs, "shrink", 3)   # nothing changed
    # Both brokers answer INVALID_PARTITIONS, with the same words.
    assert ("ERROR org.apache.kafka.common.errors.InvalidPartitionsException: "
            in r.stderr), describe(r)
    assert r.stdout == ("Error while executing topic command : The topic shrink currently "
                        "has 3 partition(s); 2 would not be an increase.\n"), describe(r)


# ---------------------------------------------------------------- kafka-consumer-groups

def parse_table(text):
    """Kafka's tool tables: a header row of upper-case names, then rows split
    on runs of spaces. Returns a list of dicts. Cells never hold spaces here,
    except COORDINATOR (ID), which is 'host:port  (id)'."""
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, "no table in %r" % text
    head = re.split(r"\s{2,}|\s(?=[A-Z#])", lines[0].strip())
    rows = []
    for l in lines[1:]:
        cells = re.split(r"\s+", l.strip())
        if head[1:2] == ["COORDINATOR (ID)"]:
            cells = [cells[0], cells[1] + " " + cells[2]] + cells[3:]
        assert len(cells) == len(head), "row %r does not fit header %r" % (l, head)
        rows.append(dict(zip(head, cells)))
    return rows


def committed(bs, group, topic, partitions):
    from confluent_kafka import TopicPartition
    c = make_consumer(bs, **{"group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_consumer_groups_list_describe_reset_delete(broker):
    bs = broker.bootstrap
    create_topic(bs, "clicks", 3)
    produce_all(bs, "clicks", [{"value": b"c%d" % i, "partition": i % 3} for i in range(12)])

    # A group made by the Java console consumer: it reads all 12 and commits
    # its position when it closes.
    r = ok(CONSOLE_CONSUMER, "--bootstrap-server", bs, "--topic", "clicks", "--group", "billing",
           "--from-beginning", "--max-messages", 12, "--timeout-ms", CONSUME_TIMEOUT_MS)
    assert sorted(r.stdout.splitlines()) == sorted("c%d" % i for i in range(12)), describe(r)
    assert committed(bs, "billing", "clicks", range(3)) == {0: 4, 1: 4, 2: 4}

    r = ok(GROUPS, "--bootstrap-server", bs, "--list")
    assert r.stdout.splitlines() == ["billing"], describe(r)

    produce_all(bs, "clicks", [{"value": b"late", "partition": 1}])   # lag 1 on partition 1
    r = ok(GROUPS, "--bootstrap-server", bs, "--describe", "--group", "billing")
    assert stderr_lines(r) == ["Consumer group 'billing' has no active members."], describe(r)
    rows = parse_table(r.stdout)
    assert sorted((x["TOPIC"], int(x["PARTITION"]), int(x["CURRENT-OFFSET"]),
                   int(x["LOG-END-OFFSET"]), int(x["LAG"]), x["CONSUMER-ID"])
                  for x in rows) == [("clicks", 0, 4, 4, 0, "-"), ("clicks", 1, 4, 5, 1, "-"),
                                     ("clicks", 2, 4, 4, 0, "-")], describe(r)
    assert {x["GROUP"] for x in rows} == {"billing"}

    r = ok(GROUPS, "--bootstrap-server", bs, "--describe", "--group", "billing", "--state")
    (st,) = parse_table(r.stdout)
    assert (st["GROUP"], st["COORDINATOR (ID)"].endswith(":%d (1)" % broker.port),
            st["STATE"], st["#MEMBERS"]) == ("billing", True, "Empty", "0"), describe(r)

    r = ok(GROUPS, "--bootstrap-server", bs, "--reset-offsets", "--group", "billing",
           "--topic", "clicks", "--to-earliest", "--execute")
    rows = parse_table(r.stdout)
    assert sorted((x["TOPIC"], int(x["PARTITION"]), int(x["NEW-OFFSET"])) for x in rows) == \
        [("clicks", p, 0) for p in range(3)], describe(r)
    assert committed(bs, "billing", "clicks", range(3)) == {0: 0, 1: 0, 2: 0}

    r = ok(GROUPS, "--bootstrap-server", bs, "--delete", "--group", "billing")
    assert r.stdout.strip() == \
        "Deletion of requested consumer groups ('billing') was successful.", describe(r)
    r = ok(GROUPS, "--bootstrap-server", bs, "--list")
    assert r.stdout.splitlines() == [], describe(r)
    from confluent_kafka import OFFSET_INVALID
    assert committed(bs, "billing", "clicks", range(3)) == {p: OFFSET_INVALID for p in range(3)}


# ---------------------------------------------------------------- kafka-configs

CONFIG_LINE = re.compile(r"^  ([a-z0-9._]+)=(.*) sensitive=(true|false) synonyms=\{(.*)\}$")


def parse_configs(text, header):
    lines = text.splitlines()
    assert lines and lines[0] == header, "want %r first in:\n%s" % (header, text)
    out = {}
    for l in lines[1:]:
        m = CONFIG_LINE.match(l)
        assert m, "unexpected config line %r" % l
        out[m.group(1)] = (m.group(2), m.group(4))
    return out


def test_configs_topic_and_broker(broker):
    bs = broker.bootstrap
    create_topic(bs, "audit", 1)
    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "audit",
           "--alter", "--add-config", "retention.ms=86400000,max.message.bytes=2000000")
    assert r.stdout == "Completed updating config for topic audit.\n", describe(r)

    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "audit",
           "--describe")
    cfg = parse_configs(r.stdout, "Dynamic configs for topic audit are:")
    assert sorted(cfg) == ["max.message.bytes", "retention.ms"], describe(r)
    assert cfg["retention.ms"][0] == "86400000"
    assert cfg["retention.ms"][1].startswith("DYNAMIC_TOPIC_CONFIG:retention.ms=86400000")
    assert cfg["max.message.bytes"][0] == "2000000"
    assert cfg["max.message.bytes"][1].startswith("DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000")

    from confluent_kafka.admin import ConfigResource
    admin = admin_client(bs)   # kept alive until the result is in
    fs = admin.describe_configs([ConfigResource("topic", "audit")], request_timeout=15)
    seen = list(fs.values())[0].result(timeout=15)
    assert (seen["retention.ms"].value, seen["max.message.bytes"].value) == \
        ("86400000", "2000000")

    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "audit",
           "--alter", "--delete-config", "retention.ms")
    assert r.stdout == "Completed updating config for topic audit.\n", describe(r)
    r = ok(CONFIGS, "--bootstrap-server", bs, "--topic", "audit", "--describe")
    cfg = parse_configs(r.stdout, "Dynamic configs for topic audit are:")
    assert sorted(cfg) == ["max.message.bytes"], describe(r)

    # A broker: no dynamic configs; with --all, its static ones.
    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", 1,
           "--describe")
    assert r.stdout == "Dynamic configs for broker 1 are:\n", describe(r)
    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", 1,
           "--describe", "--all")
    cfg = parse_configs(r.stdout, "All configs for broker 1 are:")
    assert cfg["log.dirs"] == (str(broker.data_dir),
                               "STATIC_BROKER_CONFIG:log.dirs=%s" % broker.data_dir), describe(r)
    assert cfg["auto.create.topics.enable"][0] == "true"


@gregor_gap("kafka-configs --alter on a broker (dynamic broker configs) is refused: "
            "Dynamic broker configs are not supported yet; set them in server.properties.")
def test_configs_alter_broker(broker):
    bs = broker.bootstrap
    r = kafka_tool(CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers",
                   "--entity-name", 1, "--alter", "--add-config", "log.cleaner.threads=2")
    gregor_says = ("org.apache.kafka.common.errors.InvalidRequestException: Dynamic broker "
                   "configs are not supported yet; set them in server.properties.")
    if r.returncode != 0 and gregor_says in r.stderr:
        raise GregorGap(describe(r))
    assert r.returncode == 0 and r.stdout == "Completed updating config for broker 1.\n", \
        describe(r)
    r = ok(CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", 1,
           "--describe")
    cfg = parse_configs(r.stdout, "Dynamic configs for broker 1 are:")
    assert cfg["log.cleaner.threads"][0] == "2", describe(r)
    assert cfg["log.cleaner.threads"][1].startswith(
        "DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2"), describe(r)


# ---------------------------------------------------------------- kafka-get-offsets

def offsets_lines(r):
    out = {}
    for l in r.stdout.splitlines():
        t, p, o = l.rsplit(":", 2)
        out[(t, int(p))] = int(o) if o else None
    return out


def test_get_offsets(broker):
    bs = broker.bootstrap
    create_topic(bs, "ticks", 2)
    # Partition 0: one batch whose highest timestamp is in the middle.
    # Partition 1: three records, each in a batch of its own.
    ts0 = 1700000000000
    produce_all(bs, "ticks", [{"value": b"a", "partition": 0, "timestamp": ts0 + 1000},
                              {"value": b"b", "partition": 0, "timestamp": ts0 + 5000},
                              {"value": b"c", "partition": 0, "timestamp": ts0 + 2000}],
                linger__ms=1000)
    for i in range(3):
        produce_all(bs, "ticks", [{"value": b"x", "partition": 1, "timestamp": ts0 + 100 * i}])
    assert watermarks(bs, "ticks", 0) == (0, 3) and watermarks(bs, "ticks", 1) == (0, 3)

    def get(*extra):
        r = ok(GET_OFFSETS, "--bootstrap-server", bs, "--topic", "ticks", *extra)
        return offsets_lines(r), r

    got, r = get()
    assert got == {("ticks", 0): 3, ("ticks", 1): 3}, describe(r)
    assert r.stdout == "ticks:0:3\nticks:1:3\n", describe(r)
    got, r = get("--time", -2)
    assert got == {("ticks", 0): 0, ("ticks", 1): 0}, describe(r)
    got, r = get("--time", -1, "--partitions", 1)
    assert got == {("ticks", 1): 3}, describe(r)
    # max-timestamp: the offset of the record with the highest timestamp.
    got, r = get("--time", -3)
    assert got == {("ticks", 0): 1, ("ticks", 1): 2}, describe(r)
    # A timestamp: the first offset whose timestamp is at or after it.
    got, r = get("--time", ts0 + 1500)
    assert got[("ticks", 0)] == 1, describe(r)
    from confluent_kafka import TopicPartition
    c = make_consumer(bs)
    try:
        want = c.offsets_for_times([TopicPartition("ticks", 0, ts0 + 1500),
                                    TopicPartition("ticks", 1, ts0 + 150)], timeout=15)
    finally:
        c.close()
    got, r = get("--time", ts0 + 150, "--partitions", 1)
    assert got == {("ticks", 1): 2} and want[0].offset == 1 and want[1].offset == 2, describe(r)


# ---------------------------------------------------------------- perf tools

PERF_SUMMARY = re.compile(
    r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$")

PERF_RECORDS = 20000
PERF_SIZE = 100


def test_producer_and_consumer_performance(broker):
    bs = broker.bootstrap
    create_topic(bs, "perf", 1)
    # acks=1: the Java producer turns idempotence off by itself when acks is
    # not all and enable.idempotence is not set.
    r = ok(PRODUCER_PERF, "--bootstrap-server", bs, "--topic", "perf",
           "--num-records", PERF_RECORDS, "--record-size", PERF_SIZE, "--throughput", -1,
           "--command-property", "acks=1")
    summary = [m for m in map(PERF_SUMMARY.match, r.stdout.splitlines()) if m]
    assert len(summary) == 1, describe(r)
    s = summary[0]
    assert int(s.group(1)) == PERF_RECORDS, describe(r)
    assert float(s.group(2)) > 0 and float(s.group(5)) >= float(s.group(4)) >= 0, describe(r)
    assert int(s.group(6)) <= int(s.group(7)) <= int(s.group(8)) <= int(s.group(9)), describe(r)
    assert stderr_lines(r) == [], describe(r)

    # Every record is there: 100 random upper-case letters each.
    assert watermarks(bs, "perf", 0) == (0, PERF_RECORDS)
    got = consume_partitions(bs, "perf", {0: PERF_RECORDS})[0]
    assert len(got) == PERF_RECORDS
    assert all(re.fullmatch(rb"[A-Z]{%d}" % PERF_SIZE, m.value()) and m.key() is None
               for m in got)

    r = ok(CONSUMER_PERF, "--bootstrap-server", bs, "--topic", "perf",
           "--num-records", PERF_RECORDS, "--timeout", CONSUME_TIMEOUT_MS)
    lines = r.stdout.splitlines()
    head = [h.strip() for h in lines[0].split(",")]
    assert head == ["start.time", "end.time", "data.consumed.in.MB", "MB.sec",
                    "data.consumed.in.nMsg", "nMsg.sec", "rebalance.time.ms", "fetch.time.ms",
                    "fetch.MB.sec", "fetch.nMsg.sec"], describe(r)
    assert len(lines) == 2, describe(r)
    row = dict(zip(head, (v.strip() for v in lines[1].split(","))))
    assert int(row["data.consumed.in.nMsg"]) == PERF_RECORDS, describe(r)
    assert row["data.consumed.in.MB"] == "%.4f" % (PERF_RECORDS * PERF_SIZE / 1024 / 1024), \
        describe(r)


def test_producer_performance_defaults(broker):
    """acks=all and so idempotent: the batches carry a producer id."""
    bs = broker.bootstrap
    create_topic(bs, "perf-defaults", 1)
    r = ok(PRODUCER_PERF, "--bootstrap-server", bs, "--topic", "perf-defaults",
           "--num-records", 2000, "--record-size", PERF_SIZE, "--throughput", -1)
    summary = [m for m in map(PERF_SUMMARY.match, r.stdout.splitlines()) if m]
    assert len(summary) == 1 and int(summary[0].group(1)) == 2000, describe(r)
    assert stderr_lines(r) == [], describe(r)
    assert watermarks(bs, "perf-defaults", 0) == (0, 2000)
    ids = batch_producer_ids(broker.partition_dir("perf-defaults", 0))
    assert ids and len(set(ids)) == 1 and ids[0] >= 0, ids


# ---------------------------------------------------------------- kafka-log-dirs

def test_log_dirs_describe(broker):
    bs = broker.bootstrap
    create_topic(bs, "sized", 2)
    produce_all(bs, "sized", [{"value": b"v" * 100, "partition": 0} for _ in range(10)])
    r = kafka_tool(LOG_DIRS, "--bootstrap-server", bs, "--describe", "--topic-list", "sized")
    assert r.returncode == 0, describe(r)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Querying brokers for log directories information",
                         "Received log directory information from brokers 1"], describe(r)
    doc = json.loads(lines[2])
    (b,) = doc["brokers"]
    (d,) = b["logDirs"]
    assert (b["broker"], d["logDir"], d["error"]) == (1, str(broker.data_dir), None), describe(r)
    sizes = {p["partition"]: p["size"] for p in d["partitions"]}
    assert sorted(sizes) == ["sized-0", "sized-1"], describe(r)
    # A partition's size is the bytes of its segment files.
    for p in (0, 1):
        on_disk = sum(f.stat().st_size for f in broker.partition_dir("sized", p).glob("*.log"))
        assert sizes["sized-%d" % p] == on_disk, describe(r)
    assert sizes["sized-0"] > 1000 and sizes["sized-1"] == 0


# ---------------------------------------------------------------- the on-disk format, both ways

def ondisk_records():
    """Three batches for partition 0: plain, zstd, plain; keys, a null key, a
    null value, repeated header keys, explicit timestamps (so both brokers
    get identical batches)."""
    ts0 = 1700000000000
    batches = []
    for b in range(3):
        batch = []
        for i in range(4):
            n = 4 * b + i
            batch.append({"key": b"key-%d" % n, "value": b"value %d" % n,
                          "headers": [("h1", b"x%d" % n), ("trace", b"t"), ("h1", b"again")],
                          "timestamp": ts0 + 1000 * n, "partition": 0})
        batches.append(batch)
    batches[2][1]["key"] = None
    batches[2][2]["value"] = None
    batches[1][3]["headers"] = []
    return batches


ONDISK_CODECS = ["none", "zstd", "none"]


def produce_ondisk(bs):
    # index.interval.bytes=1: an index entry after every batch but the first,
    # so .index and .timeindex have something to check.
    create_topic(bs, "ondisk", 1, config={"index.interval.bytes": "1"})
    for codec, batch in zip(ONDISK_CODECS, ondisk_records()):
        produce_one_batch(bs, "ondisk", batch, codec)


def produce_one_batch(bs, topic, records, codec):
    """The records as exactly one batch: the producer learns the topic's
    metadata first (otherwise the first message can leave on its own when
    the metadata arrives), then lingers until the flush sends them all."""
    p = make_producer(bs, **{"linger.ms": 5000, "compression.type": codec})
    p.list_topics(topic, timeout=15)
    delivered, errors = [], []

    def dr(err, msg):
        (errors if err is not None else delivered).append(err if err is not None else msg)

    for m in records:
        p.produce(topic, on_delivery=dr, **{k: v for k, v in m.items() if v is not None})
    assert p.flush(60) == 0 and not errors, errors
    offs = [m.offset() for m in delivered]
    assert offs == list(range(offs[0], offs[0] + len(records))), offs


JAVA_CODECS = ["gzip", "snappy", "lz4"]
JAVA_ROWS = 3


def java_rows(codec):
    return [("h1:%s-%d,trace:t" % (codec, i), "key-%s-%d" % (codec, i), "java %s %d" % (codec, i))
            for i in range(JAVA_ROWS)]


def produce_java_codecs(bs):
    """One batch per codec from the Java console producer (its own framing
    of snappy and lz4), timestamps its own."""
    create_topic(bs, "javacodecs", 1)
    for codec in JAVA_CODECS:
        ok(CONSOLE_PRODUCER, "--bootstrap-server", bs, "--topic", "javacodecs",
           "--compression-codec", codec, "--command-property", "enable.idempotence=false",
           "--reader-property", "parse.key=true", "--reader-property", "parse.headers=true",
           input="".join("%s\t%s\t%s\n" % row for row in java_rows(codec)))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The same records written by a Gregor and by an Apache Kafka, both
    stopped with SIGTERM: {topic: {"gregor": base path, "kafka": base path}}
    (base + ".log"/".index"/".timeindex") for topics "ondisk" (confluent-kafka,
    identical on both) and "javacodecs" (the Java producer)."""
    base = tmp_path_factory.mktemp("ondisk")
    g = Broker(base / "gregor")
    k = KafkaBroker(base / "kafka")
    try:
        g.start()
        produce_ondisk(g.bootstrap)
        produce_java_codecs(g.bootstrap)
        assert g.stop() == 0, g.log_tail()
        k.start()
        produce_ondisk(k.bootstrap)
        produce_java_codecs(k.bootstrap)
        assert k.stop() == 0, k.log_tail()
    finally:
        g.kill9()
        k.kill9()
    name = "%020d" % 0
    yield {t: {"gregor": str(g.partition_dir(t, 0) / name),
               "kafka": str(k.partition_dir(t, 0) / name)} for t in ("ondisk", "javacodecs")}


@pytest.fixture
def segments(written):
    return written["ondisk"]


def expected_dump_records():
    """The '| offset: ...' lines both tools print for ondisk_records() with
    --deep-iteration --print-data-log."""
    out = []
    off = 0
    for batch in ondisk_records():
        for rec in batch:
            keys = ",".join(h for h, _ in rec["headers"])
            line = ("| offset: %d CreateTime: %d keySize: %d valueSize: %d sequence: -1 "
                    "headerKeys: [%s]" % (off, rec["timestamp"],
                                          len(rec["key"]) if rec["key"] is not None else -1,
                                          len(rec["value"]) if rec["value"] is not None else -1,
                                          keys))
            if rec["key"] is not None:
                line += " key: " + rec["key"].decode()
            if rec["value"] is not None:
                line += " payload: " + rec["value"].decode()
            out.append(line)
            off += 1
    return out


BATCH_LINE = re.compile(
    r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: -1 lastSequence: -1 "
    r"producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false "
    r"isControl: false deleteHorizonMs: OptionalLong.empty position: (\d+) CreateTime: (\d+) "
    r"size: (\d+) magic: 2 compresscodec: (\w+) crc: (\d+) isvalid: (true|false)$")


def check_log_dump(text, path):
    """A --deep-iteration --print-data-log dump of the ondisk segment: every
    record as produced, three valid batches with the codecs used. Returns the
    dump with the file name taken out (for comparisons) and the batches'
    positions."""
    lines = text.splitlines()
    assert lines[:2] == ["Dumping " + path, "Log starting offset: 0"], text
    batches = [BATCH_LINE.match(l) for l in lines if l.startswith("baseOffset:")]
    assert all(batches), text
    assert [(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(7), m.group(9))
            for m in batches] == [(0, 3, 4, "none", "true"), (4, 7, 4, "zstd", "true"),
                                  (8, 11, 4, "none", "true")], text
    pos = 0
    for m in batches:   # batches follow each other in the file
        assert int(m.group(4)) == pos, text
        pos += int(m.group(6))
    assert pos == os.path.getsize(path), "the batches must cover the whole file:\n" + text
    assert [l for l in lines if l.startswith("| ")] == expected_dump_records(), text
    return "\n".join(lines[1:]), [int(m.group(4)) for m in batches]


@pytest.mark.gregor_only("needs both brokers; runs once, in the gregor run")
@pytest.mark.timeout(300)
def test_kafka_dump_log_reads_gregor_segment(segments):
    log = segments["gregor"] + ".log"
    r = ok(DUMP_LOG, "--files", log, "--deep-iteration", "--print-data-log")
    check_log_dump(r.stdout, log)
    assert r.stderr == "", describe(r)


@pytest.mark.gregor_only("needs both brokers; runs once, in the gregor run")
@pytest.mark.timeout(300)
def test_gregor_dump_log_reads_kafka_segment(segments):
    base = segments["kafka"]
    r = gregor_tool("dump-log", "--files", base + ".log", "--deep-iteration", "--print-data-log")
    assert r.returncode == 0 and r.stderr == "", describe(r)
    _, positions = check_log_dump(r.stdout, base + ".log")

    # Kafka's indexes: gregor's reading of them is Kafka's, and they pass its checks.
    files = base + ".index," + base + ".timeindex"
    mine = gregor_tool("dump-log", "--files", files)
    assert mine.returncode == 0 and mine.stderr == "", describe(mine)
    theirs = ok(DUMP_LOG, "--files", files)
    assert mine.stdout == theirs.stdout, "gregor:\n%s\nkafka:\n%s" % (mine.stdout, theirs.stdout)
    # One entry after each batch but the first (index.interval.bytes=1):
    # the batch's last offset and its position; its max timestamp and last offset.
    assert mine.stdout.splitlines() == [
        "Dumping %s.index" % base,
        "offset: 7 position: %d" % positions[1],
        "offset: 11 position: %d" % positions[2],
        "Dumping %s.timeindex" % base,
        "timestamp: 1700000007000 offset: 7",
        "timestamp: 1700000011000 offset: 11"], describe(mine)
    r = gregor_tool("dump-log", "--files", base + ".log," + files, "--index-sanity-check")
    assert r.returncode == 0, describe(r)
    assert "%s.index passed sanity check." % base in r.stdout.splitlines(), describe(r)
    assert "%s.timeindex passed sanity check." % base in r.stdout.splitlines(), describe(r)
    r = gregor_tool("dump-log", "--files", base + ".log," + files, "--verify-index-only")
    assert r.returncode == 0 and r.stderr == "", describe(r)


@pytest.mark.gregor_only("needs both brokers; runs once, in the gregor run")
@pytest.mark.timeout(300)
def test_dumps_agree(segments):
    """Both tools on both brokers' segments print the same batches and
    records: offsets, positions, sizes, CRCs, timestamps, keys, values."""
    dumps = {}
    for who, base in sorted(segments.items()):
        log = base + ".log"
        r = ok(DUMP_LOG, "--files", log, "--deep-iteration", "--print-data-log")
        dumps["kafka-dump-log on %s's segment" % who] = check_log_dump(r.stdout, log)[0]
        r = gregor_tool("dump-log", "--files", log, "--deep-iteration", "--print-data-log")
        assert r.returncode == 0, describe(r)
        dumps["gregor dump-log on %s's segment" % who] = check_log_dump(r.stdout, log)[0]
    first = next(iter(dumps.values()))
    for name, text in dumps.items():
        assert text == first, "%s differs:\n%s\n---\n%s" % (name, text, first)
    with open(segments["gregor"] + ".log", "rb") as a, open(segments["kafka"] + ".log", "rb") as b:
        assert a.read() == b.read(), "the two segments should be byte-identical"


@pytest.mark.gregor_only("needs both brokers; runs once, in the gregor run")
@pytest.mark.timeout(300)
def test_kafka_dump_log_checks_gregor_indexes(segments):
    """Kafka's index checks (--index-sanity-check, and the --verify-index-only
    comparison of every entry with the log) on Gregor's files, as on Kafka's."""
    results = {}
    for who in ("kafka", "gregor"):
        base = segments[who]
        files = "%s.log,%s.index,%s.timeindex" % (base, base, base)
        r = ok(DUMP_LOG, "--files", files, "--index-sanity-check")
        assert "%s.index passed sanity check." % base in r.stdout.splitlines(), describe(r)
        assert "%s.timeindex passed sanity check." % base in r.stdout.splitlines(), describe(r)
        assert r.stderr == "", describe(r)
        results[who] = ok(DUMP_LOG, "--files", files, "--verify-index-only")
        # The offset index is the same on both: an entry after each batch but
        # the first, naming its last offset and its position.
        r = ok(DUMP_LOG, "--files", base + ".log," + base + ".index", "--deep-iteration",
               "--print-data-log")
        _, positions = check_log_dump(r.stdout.split("\nDumping %s.index" % base)[0],
                                      base + ".log")
        assert r.stdout.splitlines()[-3:] == [
            "Dumping %s.index" % base, "offset: 7 position: %d" % positions[1],
            "offset: 11 position: %d" % positions[2]], describe(r)
    assert results["kafka"].stderr == "", describe(results["kafka"])
    g = results["gregor"]
    assert g.stderr == "", describe(g)


@pytest.mark.gregor_only("needs both brokers; runs once, in the gregor run")
@pytest.mark.timeout(300)
def test_java_compressed_batches_dump_alike(written):
    """Batches the Java producer compressed (gzip, snappy and lz4 in its own
    framing), as each broker stored them: kafka-dump-log and gregor dump-log
    print the same lines, and every record is there."""
    want = []
    for codec in JAVA_CODECS:
        for h, k, v in java_rows(codec):
            want.append((k, v, "[%s]" % ",".join(kv.split(":")[0] for kv in h.split(","))))
    rec = re.compile(r"^\| offset: (\d+) CreateTime: \d+ keySize: \d+ valueSize: \d+ "
                     r"sequence: -1 headerKeys: (\[.*\]) key: (\S+) payload: (.*)$")
    for who, base in sorted(written["javacodecs"].items()):
        log = base + ".log"
        theirs = ok(DUMP_LOG, "--files", log, "--deep-iteration", "--print-data-log")
        mine = gregor_tool("dump-log", "--files", log, "--deep-iteration", "--print-data-log")
        assert mine.returncode == 0 and mine.stderr == "", describe(mine)
        assert theirs.stderr == "", describe(theirs)
        assert mine.stdout == theirs.stdout, "%s's segment:\ngregor:\n%s\nkafka:\n%s" % (
            who, mine.stdout, theirs.stdout)
        lines = mine.stdout.splitlines()
        batches = [BATCH_LINE.match(l) for l in lines if l.startswith("baseOffset:")]
        assert all(batches), mine.stdout
        assert [(m.group(7), m.group(9), int(m.group(3))) for m in batches] == \
            [(c, "true", JAVA_ROWS) for c in JAVA_CODECS], mine.stdout
        recs = [rec.match(l) for l in lines if l.startswith("| ")]
        assert all(recs), mine.stdout
        assert [int(m.group(1)) for m in recs] == list(range(len(want))), mine.stdout
        assert [(m.group(3), m.group(4), m.group(2)) for m in recs] == want, mine.stdout
