"""
The `gregor` admin tools (topics, configs, cluster, offsets, storage) against
a real broker. Each tool is a librdkafka 2.0 client, so every run is also a
compatibility check; the effects are verified with confluent-kafka.

Proves:
- every command answers --help with an example (exit 0) and an unknown flag
  with a one-line usage error (exit 2);
- topics: create (positional and --create forms, --config, --if-not-exists)
  shows up in confluent's metadata with the asked partitions and configs;
  list, describe in Kafka's shape (TopicId, PartitionCount, ReplicationFactor,
  override-only Configs, one line per partition), --topics-with-overrides,
  --output json; alter --partitions; delete; the broker's
  INVALID_REPLICATION_FACTOR message for --replication-factor 2, and Kafka's
  "does not exist" messages;
- configs: describe prints Kafka's "Dynamic configs for topic T are:" block
  with sources and synonyms, --all every config, brokers too; alter adds and
  deletes overrides (seen by confluent's describe_configs), keeps the others,
  and refuses to delete an unset key like Kafka ("Invalid config(s)");
- cluster: the cluster id confluent sees, the broker and controller, and the
  API table (Produce 0, Metadata 3, ...), also as JSON;
- offsets: latest, earliest, by timestamp and max-timestamp offsets match what
  was produced, in kafka-get-offsets' topic:partition:offset lines and JSON;
- storage: random-uuid, format writes meta.properties atomically and refuses
  an already formatted directory unless --ignore-formatted, and a broker
  started on the formatted directory reports that cluster id;
- an unreachable broker (refused, or accepting but silent) is reported in one
  line within --timeout-ms plus a small margin, exit 1.
"""

import json
import re
import socket
import subprocess
import time

import pytest

from conftest import (
    GREGOR_BIN, admin_client, create_topic, list_topics, produce_all,
    wait_for_topic, wait_topic_absent,
)

pytestmark = pytest.mark.gregor_only("the output and exit codes of the `gregor` admin tools")

TOOL_TIMEOUT = 60


def gregor(*args, timeout=TOOL_TIMEOUT):
    """Run `gregor <args>`; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([GREGOR_BIN] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(*args, **kw):
    r = gregor(*args, **kw)
    assert r.returncode == 0, "gregor %s -> %d\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
    return r


def fails(*args, code=1, **kw):
    r = gregor(*args, **kw)
    assert r.returncode == code, "gregor %s -> %d (wanted %d)\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), r.returncode, code, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, "want a one-line reason: %r" % r.stderr
    return r


def topic_configs(bootstrap, topic):
    """{name: (value, source)} of a topic, through confluent's AdminClient."""
    from confluent_kafka.admin import ConfigResource
    a = admin_client(bootstrap)
    fs = a.describe_configs([ConfigResource("topic", topic)], request_timeout=15)
    entries = list(fs.values())[0].result(timeout=15)
    return {k: (e.value, e.source) for k, e in entries.items()}


DYNAMIC_TOPIC_CONFIG = 1  # confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG


# ---------------------------------------------------------------------------
# usage
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("cmd", ["topics", "configs", "cluster", "offsets", "storage", "features"])
def test_help_and_usage_errors(cmd):
    r = ok(cmd, "--help")
    assert "Usage: gregor %s" % cmd in r.stdout
    assert "Example:" in r.stdout and "gregor %s" % cmd in r.stdout.split("Example:")[1]
    r = fails(cmd, "--no-such-flag", code=2)
    assert "--no-such-flag" in r.stderr
    assert r.stderr.startswith("gregor %s: " % cmd)


@pytest.mark.timeout(60)
def test_usage_errors_name_what_is_missing():
    assert "--topic" in fails("topics", "create", code=2).stderr
    assert "required" in fails("topics", code=2).stderr
    assert "--partitions" in fails("topics", "alter", "--topic", "x", code=2).stderr
    fails("configs", "alter", "--topic", "x", code=2)
    fails("configs", "describe", "--entity-type", "users", code=2)
    fails("offsets", "--time", "yesterday", code=2)
    fails("storage", "format", "-t", "x", code=2)
    fails("topics", "list", "--output", "yaml", code=2)


# ---------------------------------------------------------------------------
# topics
# ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_topics_lifecycle(broker):
    b = broker.bootstrap
    r = ok("topics", "create", "--topic", "tl-a", "--partitions", 3,
           "--config", "retention.ms=3600000", "--config", "segment.bytes=1048576",
           "--bootstrap-server", b)
    assert r.stdout == "Created topic tl-a.\n"
    # Kafka's flag form is the same command
    r = ok("topics", "--create", "--topic", "tl-b", "--bootstrap-server", b)
    assert r.stdout == "Created topic tl-b.\n"

    tm = wait_for_topic(b, "tl-a", partitions=3)
    assert sorted(tm.partitions) == [0, 1, 2]
    wait_for_topic(b, "tl-b", partitions=1)
    cfg = topic_configs(b, "tl-a")
    assert cfg["retention.ms"] == ("3600000", DYNAMIC_TOPIC_CONFIG)
    assert cfg["segment.bytes"] == ("1048576", DYNAMIC_TOPIC_CONFIG)

    # already there: the broker's message, exit 1; --if-not-exists: exit 0
    r = fails("topics", "create", "--topic", "tl-b", "--bootstrap-server", b)
    assert "already exists" in r.stderr
    ok("topics", "create", "--topic", "tl-b", "--if-not-exists", "--bootstrap-server", b)

    r = ok("topics", "list", "--bootstrap-server", b)
    names = r.stdout.split()
    assert "tl-a" in names and "tl-b" in names and names == sorted(names)
    assert set(json.loads(ok("topics", "--list", "--output", "json",
                             "--bootstrap-server", b).stdout)) == set(names)

    # describe: Kafka's shape, overrides only in Configs
    r = ok("topics", "describe", "--topic", "tl-a", "--bootstrap-server", b)
    lines = r.stdout.splitlines()
    assert len(lines) == 4, r.stdout
    m = re.fullmatch(r"Topic: tl-a\tTopicId: ([A-Za-z0-9_-]{22})\tPartitionCount: 3\t"
                     r"ReplicationFactor: 1\tConfigs: (.*)", lines[0])
    assert m, lines[0]
    topic_id = m.group(1)
    assert topic_id != "A" * 22
    assert sorted(m.group(2).split(",")) == ["retention.ms=3600000", "segment.bytes=1048576"]
    for p in range(3):
        assert lines[1 + p] == "\tTopic: tl-a\tPartition: %d\tLeader: 1\tReplicas: 1\tIsr: 1" % p

    # json: the same facts; the id is stable across calls
    d = json.loads(ok("topics", "describe", "--topic", "tl-a", "--output", "json",
                      "--bootstrap-server", b).stdout)
    assert len(d) == 1 and d[0]["name"] == "tl-a" and d[0]["topic_id"] == topic_id
    assert d[0]["partition_count"] == 3 and d[0]["replication_factor"] == 1
    assert d[0]["configs"] == {"retention.ms": "3600000", "segment.bytes": "1048576"}
    assert [p["partition"] for p in d[0]["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1]
               for p in d[0]["partitions"])

    # tl-b has no overrides: "Configs: " empty, and left out by --topics-with-overrides
    r = ok("topics", "describe", "--bootstrap-server", b)
    assert re.search(r"^Topic: tl-b\tTopicId: \S{22}\tPartitionCount: 1\t"
                     r"ReplicationFactor: 1\tConfigs: $", r.stdout, re.M), r.stdout
    r = ok("topics", "describe", "--topics-with-overrides", "--bootstrap-server", b)
    assert r.stdout.startswith("Topic: tl-a\t") and "tl-b" not in r.stdout
    assert "Partition:" not in r.stdout

    # alter: more partitions
    ok("topics", "alter", "--topic", "tl-a", "--partitions", 5, "--bootstrap-server", b)
    wait_for_topic(b, "tl-a", partitions=5)
    r = fails("topics", "--alter", "--topic", "tl-a", "--partitions", 2, "--bootstrap-server", b)
    assert "5" in r.stderr  # the broker says it has 5 already

    # delete
    ok("topics", "delete", "--topic", "tl-b", "--bootstrap-server", b)
    wait_topic_absent(b, "tl-b")
    assert "tl-a" in list_topics(b)
    r = fails("topics", "--delete", "--topic", "tl-b", "--bootstrap-server", b)
    assert r.stderr.strip() == "gregor topics: Topic 'tl-b' does not exist as expected"
    ok("topics", "delete", "--topic", "tl-b", "--if-exists", "--bootstrap-server", b)
    r = fails("topics", "describe", "--topic", "tl-b", "--bootstrap-server", b)
    assert "does not exist" in r.stderr


@pytest.mark.timeout(60)
def test_topics_replication_factor_error(broker):
    r = fails("topics", "create", "--topic", "rf2", "--replication-factor", 2,
              "--bootstrap-server", broker.bootstrap)
    assert ("Unable to replicate the partition 2 time(s): The target replication factor "
            "of 2 cannot be reached because only 1 broker(s) are registered.") in r.stderr
    assert "rf2" not in list_topics(broker.bootstrap)


# ---------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_configs_describe_and_alter(broker):
    b = broker.bootstrap
    create_topic(b, "cf", 1, config={"retention.ms": "7200000"})

    r = ok("configs", "--describe", "--entity-type", "topics", "--entity-name", "cf",
           "--bootstrap-server", b)
    lines = r.stdout.splitlines()
    assert lines[0] == "Dynamic configs for topic cf are:"
    assert lines[1].startswith("  retention.ms=7200000 sensitive=false "
                               "synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=7200000"), lines[1]
    assert len(lines) == 2

    # alter: add two (one list value in brackets), keep the existing one
    r = ok("configs", "alter", "--topic", "cf",
           "--add-config", "segment.bytes=2097152,cleanup.policy=[delete,compact]",
           "--bootstrap-server", b)
    assert r.stdout == "Completed updating config for topic cf.\n"
    cfg = topic_configs(b, "cf")
    assert cfg["segment.bytes"] == ("2097152", DYNAMIC_TOPIC_CONFIG)
    assert cfg["cleanup.policy"] == ("delete,compact", DYNAMIC_TOPIC_CONFIG)
    assert cfg["retention.ms"] == ("7200000", DYNAMIC_TOPIC_CONFIG)

    # delete one, change another in the same call
    ok("configs", "--alter", "--entity-type", "topics", "--entity-name", "cf",
       "--delete-config", "retention.ms", "--add-config", "segment.bytes=4194304",
       "--bootstrap-server", b)
    cfg = topic_configs(b, "cf")
    assert cfg["retention.ms"][1] != DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.bytes"] == ("4194304", DYNAMIC_TOPIC_CONFIG)
    assert cfg["cleanup.policy"] == ("delete,compact", DYNAMIC_TOPIC_CONFIG)

    # deleting a config that is not set fails, like kafka-configs.sh
    r = fails("configs", "alter", "--topic", "cf", "--delete-config", "retention.ms",
              "--bootstrap-server", b)
    assert "Invalid config(s): retention.ms" in r.stderr
    # an invalid value: the broker's message, nothing changed
    fails("configs", "alter", "--topic", "cf", "--add-config", "segment.bytes=banana",
          "--bootstrap-server", b)
    assert topic_configs(b, "cf")["segment.bytes"] == ("4194304", DYNAMIC_TOPIC_CONFIG)

    # describe json: only the overrides, with sources
    d = json.loads(ok("configs", "describe", "--topic", "cf", "--output", "json",
                      "--bootstrap-server", b).stdout)
    assert d[0]["entity_type"] == "topics" and d[0]["entity_name"] == "cf"
    got = {c["name"]: (c["value"], c["source"]) for c in d[0]["configs"]}
    assert got == {"segment.bytes": ("4194304", "DYNAMIC_TOPIC_CONFIG"),
                   "cleanup.policy": ("delete,compact", "DYNAMIC_TOPIC_CONFIG")}

    # --all: every config, defaults included
    r = ok("configs", "describe", "--topic", "cf", "--all", "--bootstrap-server", b)
    assert r.stdout.startswith("All configs for topic cf are:\n")
    assert re.search(r"^  retention\.ms=\S+ sensitive=false synonyms=\{", r.stdout, re.M)
    assert "  segment.bytes=4194304 sensitive=false" in r.stdout

    # brokers
    r = ok("configs", "describe", "--entity-type", "brokers", "--entity-name", 1, "--all",
           "--bootstrap-server", b)
    assert r.stdout.startswith("All configs for broker 1 are:\n")
    assert re.search(r"^  num\.partitions=1 sensitive=false", r.stdout, re.M), r.stdout
    r = ok("configs", "describe", "--broker", 1, "--bootstrap-server", b)
    assert r.stdout.startswith("Dynamic configs for broker 1 are:\n")

    r = fails("configs", "describe", "--topic", "no-such-topic", "--bootstrap-server", b)
    assert "no-such-topic" in r.stderr


# ---------------------------------------------------------------------------
# cluster
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_cluster(broker):
    b = broker.bootstrap
    cluster_id = admin_client(b).list_topics(timeout=10).cluster_id
    r = ok("cluster", "--bootstrap-server", b)
    assert r.stdout.startswith("Cluster ID: %s\nController: 1\n" % cluster_id), r.stdout
    assert re.search(r"^1\s+127\.0\.0\.1\s+%d\s+(no\s+)?yes$" % broker.port, r.stdout, re.M), r.stdout
    assert re.search(r"^NAME\s+KEY\s+MIN\s+MAX$", r.stdout, re.M)
    assert re.search(r"^Produce\s+0\s+\d+\s+\d+$", r.stdout, re.M)
    assert re.search(r"^Metadata\s+3\s+0\s+13$", r.stdout, re.M)
    assert re.search(r"^ApiVersions\s+18\s+0\s+5$", r.stdout, re.M)

    assert ok("cluster", "cluster-id", "--bootstrap-server", b).stdout == \
        "Cluster ID: %s\n" % cluster_id

    d = json.loads(ok("cluster", "--output", "json", "--bootstrap-server", b).stdout)
    assert d["cluster_id"] == cluster_id and d["controller_id"] == 1
    # "fenced" is there when the broker serves DescribeCluster v2 (KIP-1073)
    assert [{k: v for k, v in x.items() if k != "fenced"} for x in d["brokers"]] == \
        [{"id": 1, "host": "127.0.0.1", "port": broker.port}]
    assert all(x.get("fenced", False) is False for x in d["brokers"])
    keys = {a["key"]: a for a in d["api_versions"]}
    assert keys[0]["name"] == "Produce" and keys[3]["name"] == "Metadata"
    assert keys[3]["max"] == 13


# ---------------------------------------------------------------------------
# offsets
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_offsets(broker):
    b = broker.bootstrap
    create_topic(b, "of", 3)
    counts = {0: 7, 1: 3, 2: 0}
    msgs = []
    for p, n in counts.items():
        for i in range(n):
            msgs.append({"value": b"v%d" % i, "partition": p, "timestamp": 1_000_000 + 10 * i})
    produce_all(b, "of", msgs)

    r = ok("offsets", "--topic", "of", "--bootstrap-server", b)
    assert r.stdout == "of:0:7\nof:1:3\nof:2:0\n"
    r = ok("offsets", "--topic", "of", "--time", "-1", "--bootstrap-server", b)
    assert r.stdout == "of:0:7\nof:1:3\nof:2:0\n"
    r = ok("offsets", "--topic", "of", "--time", "earliest", "--bootstrap-server", b)
    assert r.stdout == "of:0:0\nof:1:0\nof:2:0\n"
    # by time: the first offset with a timestamp >= 1_000_025 (i = 3); none in p1/p2
    r = ok("offsets", "--topic", "of", "--time", 1_000_025, "--bootstrap-server", b)
    assert r.stdout == "of:0:3\nof:1:-1\nof:2:-1\n"
    r = ok("offsets", "--topic", "of", "--time", "max-timestamp", "--partitions", "0,1",
           "--bootstrap-server", b)
    assert r.stdout == "of:0:6\nof:1:2\n"
    r = ok("offsets", "--topic-partitions", "of:0,1", "--bootstrap-server", b)
    assert r.stdout == "of:0:7\nof:1:3\n"
    d = json.loads(ok("offsets", "--topic", "of", "--partitions", "1-3", "--output", "json",
                      "--bootstrap-server", b).stdout)
    assert d == [{"topic": "of", "partition": 1, "offset": 3},
                 {"topic": "of", "partition": 2, "offset": 0}]
    r = fails("offsets", "--topic", "nope", "--bootstrap-server", b)
    assert "Could not match any topic-partitions" in r.stderr


# ---------------------------------------------------------------------------
# storage
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_storage_format_then_broker(tmp_path, start_broker):
    uuid = ok("storage", "random-uuid").stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", uuid)
    assert ok("storage", "random-uuid").stdout.strip() != uuid

    log_dir = tmp_path / "formatted" / "logs"
    props = tmp_path / "server.properties"
    props.write_text("node.id=1\nlog.dirs=%s\nnum.partitions=2\n" % log_dir)
    r = ok("storage", "format", "-t", uuid, "-c", props)
    assert str(log_dir) in r.stdout
    meta = (log_dir / "meta.properties").read_text()
    kv = dict(l.split("=", 1) for l in meta.splitlines() if l and not l.startswith("#"))
    assert kv["version"] == "1" and kv["node.id"] == "1" and kv["cluster.id"] == uuid
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", kv["directory.id"])
    assert not list(log_dir.glob("*.tmp"))

    r = fails("storage", "format", "--cluster-id", uuid, "--config", props)
    assert "Log directory %s is already formatted" % log_dir in r.stderr
    ok("storage", "format", "-t", ok("storage", "random-uuid").stdout.strip(), "-c", props,
       "--ignore-formatted")
    assert (log_dir / "meta.properties").read_text() == meta

    fails("storage", "format", "-t", "not-a-uuid", "-c", tmp_path / "other.properties")

    # a broker on that directory takes the cluster id from meta.properties
    br = start_broker(**{"log.dirs": str(log_dir)})
    assert ok("cluster", "cluster-id", "--bootstrap-server", br.bootstrap).stdout == \
        "Cluster ID: %s\n" % uuid
    assert admin_client(br.bootstrap).list_topics(timeout=10).cluster_id == uuid


# ---------------------------------------------------------------------------
# unreachable brokers
# ---------------------------------------------------------------------------

UNREACHABLE_CMDS = [
    ["topics", "list"],
    ["topics", "describe"],
    ["topics", "create", "--topic", "x"],
    ["configs", "describe", "--topic", "x"],
    ["cluster"],
    ["offsets", "--topic", "x"],
]


def _bounded_failure(cmd, bootstrap, timeout_ms):
    t0 = time.monotonic()
    r = fails(*cmd, "--bootstrap-server", bootstrap, "--timeout-ms", timeout_ms)
    elapsed = time.monotonic() - t0
    assert elapsed < timeout_ms / 1000 + 5, "%s took %.1f s" % (cmd, elapsed)
    assert "cannot reach the broker at %s" % bootstrap in r.stderr, r.stderr
    return elapsed


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cmd", UNREACHABLE_CMDS, ids=lambda c: "-".join(c[:2]))
def test_unreachable_broker_refused(cmd):
    _bounded_failure(cmd, "127.0.0.1:1", 3000)


@pytest.mark.timeout(120)
def test_unreachable_broker_silent_and_default_timeout():
    """A listener that accepts but never answers: still bounded."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        bootstrap = "127.0.0.1:%d" % s.getsockname()[1]
        for cmd in (["topics", "list"], ["cluster"]):
            _bounded_failure(cmd, bootstrap, 2000)
    # the default bound is 10 s
    t0 = time.monotonic()
    fails("topics", "list", "--bootstrap-server", "127.0.0.1:1")
    assert time.monotonic() - t0 < 15


# ---------------------------------------------------------------------------
# --command-config
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_command_config(broker, tmp_path):
    good = tmp_path / "client.properties"
    # Kafka's format; Java-only keys (serializers, ...) are skipped
    good.write_text("# client settings\nclient.id = gregor-test\n"
                    "key.serializer=org.apache.kafka.common.serialization.StringSerializer\n"
                    "socket.keepalive.enable: true\n")
    ok("topics", "create", "--topic", "cc", "--command-config", good,
       "--bootstrap-server", broker.bootstrap)
    assert "cc" in ok("topics", "list", "--command-config", good,
                      "--bootstrap-server", broker.bootstrap).stdout.split()
    # an unknown key is a warning naming it, as Kafka's tools log "supplied
    # but isn't a known config"; an invalid value is an error
    unknown = tmp_path / "unknown.properties"
    unknown.write_text("no.such.property=1\n")
    r = ok("topics", "list", "--command-config", unknown, "--bootstrap-server", broker.bootstrap)
    assert "unknown.properties:1" in r.stderr and "no.such.property" in r.stderr
    bad = tmp_path / "bad.properties"
    bad.write_text("# comment\nsocket.timeout.ms=not-a-number\n")
    r = fails("topics", "list", "--command-config", bad, "--bootstrap-server", broker.bootstrap)
    assert "bad.properties:2" in r.stderr and "socket.timeout.ms" in r.stderr
    r = fails("cluster", "--command-config", tmp_path / "missing.properties",
              "--bootstrap-server", broker.bootstrap)
    assert "missing.properties" in r.stderr
