"""
The bin/kafka-*.sh shims: Kafka's script names and flags, served by the
gregor binary.

Proves:
- every shim finds the binary ($GREGOR_BIN, else <repo>/build/gregor through
  a symlink to the script, else `gregor` on PATH) and says clearly when it
  cannot;
- the quick-start commands of Kafka's documentation work verbatim (only the
  replication factor is 1): kafka-topics.sh --create, kafka-console-producer.sh
  with lines on stdin, kafka-console-consumer.sh --partition 0 --offset
  earliest; with --replication-factor 2 the user gets Kafka's
  INVALID_REPLICATION_FACTOR message;
- kafka-server-start.sh runs a broker from a properties file (foreground:
  the script becomes the broker; -daemon: in the background, output in
  $LOG_DIR/server.log) and kafka-server-stop.sh stops it cleanly, selecting
  only the broker named by $GREGOR_STOP_MATCH; "No kafka server to stop"
  (exit 1) when there is none;
- kafka-storage.sh random-uuid / format (and --ignore-formatted);
- kafka-consumer-groups.sh, kafka-configs.sh, kafka-get-offsets.sh,
  kafka-producer-perf-test.sh, kafka-consumer-perf-test.sh and
  kafka-dump-log.sh each run once with their output checked.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GREGOR_BIN, REPO, free_port, wait_for_topic

pytestmark = pytest.mark.gregor_only("the bin/kafka-*.sh shims run the gregor binary")

BIN = REPO / "bin"
SHIMS = ["kafka-server-start.sh", "kafka-server-stop.sh", "kafka-storage.sh", "kafka-topics.sh",
         "kafka-console-producer.sh", "kafka-console-consumer.sh", "kafka-consumer-groups.sh",
         "kafka-configs.sh", "kafka-get-offsets.sh", "kafka-producer-perf-test.sh",
         "kafka-consumer-perf-test.sh", "kafka-dump-log.sh", "kafka-features.sh"]
RUN_TIMEOUT_S = 90


def shim_env(**extra):
    env = dict(os.environ)
    env["GREGOR_BIN"] = GREGOR_BIN
    env.update(extra)
    return env


def run(script, *args, input=None, env=None, check=None, timeout=RUN_TIMEOUT_S):
    """Run bin/<script> ARGS; returns CompletedProcess (text). check=N
    asserts the exit code."""
    path = script if os.sep in str(script) else str(BIN / script)
    r = subprocess.run([path] + [str(a) for a in args], input=input, capture_output=True,
                       text=True, env=env or shim_env(), timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check is not None:
        assert r.returncode == check, "%s %s -> %d\nstdout:\n%s\nstderr:\n%s" % (
            script, " ".join(map(str, args)), r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


def gregor_pids(text):
    """Pids of this user's `gregor server` processes whose command line
    contains text."""
    out = subprocess.run(["ps", "-u", str(os.getuid()), "-o", "pid=,args="], capture_output=True,
                         text=True, check=True).stdout
    pids = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and os.path.basename(parts[1]) == "gregor" and parts[2] == "server" \
                and text in line:
            pids.append(int(parts[0]))
    return pids


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listening on %d after %s s" % (port, timeout))


def wait_gone(pids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists("/proc/%d" % p)
                 and "zombie" not in _proc_state(p)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError("processes %s still running after %s s" % (pids, timeout))


def _proc_state(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        pass
    return "zombie"


def write_config(path, port, data_dir, node_id=1):
    path.write_text("# test broker\nnode.id=%d\nlisteners=PLAINTEXT://127.0.0.1:%d\n"
                    "log.dirs=%s\nnum.partitions=1\n" % (node_id, port, data_dir))
    return path


# ---------------------------------------------------------------------------
# finding the binary
# ---------------------------------------------------------------------------

def test_every_shim_is_an_executable_script():
    for name in SHIMS:
        p = BIN / name
        assert p.is_file() and os.access(p, os.X_OK), "%s missing or not executable" % p
        assert p.read_text().startswith("#!/usr/bin/env bash"), name


def test_shims_find_the_binary(tmp_path):
    if not os.access(GREGOR_BIN, os.X_OK):
        pytest.fail("build gregor first (make)", pytrace=False)
    # $GREGOR_BIN
    r = run("kafka-topics.sh", "--help", check=0)
    assert "gregor topics" in r.stdout
    # a symlink elsewhere, no GREGOR_BIN: <repo>/build/gregor (when it is the binary under test)
    env = shim_env()
    del env["GREGOR_BIN"]
    link = tmp_path / "kcg.sh"
    link.symlink_to(BIN / "kafka-consumer-groups.sh")
    if Path(GREGOR_BIN) == REPO / "build" / "gregor":
        r = run(str(link), "--help", env=env, check=0)
        assert "gregor groups" in r.stdout
    # a copy of bin/ in a tree without build/: `gregor` from PATH
    (tmp_path / "tree" / "bin").mkdir(parents=True)
    for f in ("gregor-shim-lib.sh", "kafka-get-offsets.sh"):
        shutil.copy2(BIN / f, tmp_path / "tree" / "bin" / f)
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "gregor").symlink_to(GREGOR_BIN)
    env["PATH"] = "%s:/usr/bin:/bin" % (tmp_path / "path")
    r = run(str(tmp_path / "tree" / "bin" / "kafka-get-offsets.sh"), "--help", env=env, check=0)
    assert "gregor offsets" in r.stdout
    # nowhere: a clear error
    env["PATH"] = "/usr/bin:/bin"
    r = run(str(tmp_path / "tree" / "bin" / "kafka-get-offsets.sh"), "--help", env=env, check=1)
    assert "kafka-get-offsets.sh: cannot find the gregor binary" in r.stderr
    # a bad $GREGOR_BIN is not silently ignored
    r = run("kafka-topics.sh", "--help", env=shim_env(GREGOR_BIN="/nonexistent/gregor"), check=1)
    assert "GREGOR_BIN=/nonexistent/gregor is not an executable file" in r.stderr


# ---------------------------------------------------------------------------
# Kafka's quick start, verbatim (replication factor 1)
# ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_quickstart_topics_producer_consumer(broker):
    bs = "localhost:%d" % broker.port
    r = run("kafka-topics.sh", "--create", "--topic", "test-topic", "--partitions", "3",
            "--replication-factor", "1", "--bootstrap-server", bs, check=0)
    assert r.stdout.strip() == "Created topic test-topic."
    wait_for_topic(broker.bootstrap, "test-topic", 3)

    r = run("kafka-topics.sh", "--describe", "--topic", "test-topic", "--bootstrap-server", bs, check=0)
    assert "PartitionCount: 3" in r.stdout and "ReplicationFactor: 1" in r.stdout
    r = run("kafka-topics.sh", "--list", "--bootstrap-server", bs, check=0)
    assert "test-topic" in r.stdout.split()

    lines = ["event %d" % i for i in range(60)]
    run("kafka-console-producer.sh", "--topic", "test-topic", "--bootstrap-server", bs,
        input="".join(ln + "\n" for ln in lines), check=0)

    r = run("kafka-get-offsets.sh", "--bootstrap-server", bs, "--topic", "test-topic", check=0)
    ends = {}
    for ln in r.stdout.split():
        t, p, o = ln.rsplit(":", 2)
        assert t == "test-topic"
        ends[int(p)] = int(o)
    assert sorted(ends) == [0, 1, 2] and sum(ends.values()) == len(lines), r.stdout

    # the seed document's consumer command, bounded by --max-messages
    n0 = ends[0]
    if n0 > 0:
        r = run("kafka-console-consumer.sh", "--topic", "test-topic", "--partition", "0", "--offset",
                "earliest", "--bootstrap-server", bs, "--max-messages", n0, check=0)
    else:
        r = run("kafka-console-consumer.sh", "--topic", "test-topic", "--partition", "0", "--offset",
                "earliest", "--bootstrap-server", bs, "--timeout-ms", "3000", check=0)
    got0 = r.stdout.splitlines()
    assert len(got0) == n0 and set(got0) <= set(lines)
    assert got0 == sorted(got0, key=lines.index)  # in production order
    assert "Processed a total of %d messages" % n0 in r.stderr

    # every partition, from the beginning, through a group
    r = run("kafka-console-consumer.sh", "--topic", "test-topic", "--from-beginning", "--bootstrap-server",
            bs, "--max-messages", len(lines), "--group", "qs-group", check=0)
    assert sorted(r.stdout.splitlines()) == sorted(lines)

    # the group it left behind, through kafka-consumer-groups.sh
    r = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--list", check=0)
    assert "qs-group" in r.stdout.split()
    r = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--describe", "--group", "qs-group",
            check=0)
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("qs-group")]
    # librdkafka's sticky partitioner may put all 60 records in one
    # partition; an inactive group shows the partitions it committed, i.e.
    # those that had records (Kafka's tool does the same)
    assert sorted((x[1], x[2], x[3], x[4], x[5]) for x in rows) == \
        [("test-topic", str(p), str(ends[p]), str(ends[p]), "0") for p in range(3) if ends[p] > 0]


@pytest.mark.timeout(60)
def test_replication_factor_beyond_brokers(broker):
    bs = "localhost:%d" % broker.port
    r = run("kafka-topics.sh", "--create", "--topic", "test-topic", "--partitions", "3",
            "--replication-factor", "2", "--bootstrap-server", bs, check=1)
    assert ("Unable to replicate the partition 2 time(s): The target replication factor of 2 "
            "cannot be reached because only 1 broker(s) are registered.") in r.stderr
    r = run("kafka-topics.sh", "--list", "--bootstrap-server", bs, check=0)
    assert "test-topic" not in r.stdout.split()


# ---------------------------------------------------------------------------
# kafka-server-start.sh / kafka-server-stop.sh
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_server_start_daemon_and_stop(tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / ("server-%d.properties" % port), port, tmp_path / "data")
    logs = tmp_path / "logs"
    env = shim_env(LOG_DIR=str(logs), GREGOR_STOP_MATCH=str(cfg))
    pids = []
    try:
        run("kafka-server-start.sh", "-daemon", cfg, env=env, check=0)
        pids = gregor_pids(str(cfg))
        assert len(pids) == 1, pids
        wait_port(port)
        r = run("kafka-topics.sh", "--bootstrap-server", "127.0.0.1:%d" % port, "--create",
                "--topic", "daemon-t", check=0)
        assert "Created topic daemon-t." in r.stdout

        r = run("kafka-server-stop.sh", env=env, check=0)
        wait_gone(pids)
        log = (logs / "server.log").read_text()
        assert "received SIGTERM" in log and "clean shutdown recorded" in log
        r = run("kafka-server-stop.sh", env=env, check=1)
        assert r.stdout.strip() == "No kafka server to stop"
    finally:
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.timeout(120)
def test_server_start_foreground_with_overrides(tmp_path):
    port = free_port()
    # the file names a port that is not used; --override wins
    cfg = write_config(tmp_path / "fg.properties", free_port(), tmp_path / "data")
    proc = subprocess.Popen([str(BIN / "kafka-server-start.sh"), str(cfg), "--override",
                             "listeners=PLAINTEXT://127.0.0.1:%d" % port],
                            env=shim_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        assert gregor_pids(str(cfg)) == [proc.pid]  # the script became the broker
        # another broker of this user, which the stop script must leave alone
        other_port = free_port()
        other_cfg = write_config(tmp_path / "other.properties", other_port, tmp_path / "data2")
        other = subprocess.Popen([GREGOR_BIN, "server", str(other_cfg)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_port(other_port)
            run("kafka-server-stop.sh", env=shim_env(GREGOR_STOP_MATCH=str(cfg)), check=0)
            assert proc.wait(timeout=30) == 0
            assert "stopped" in proc.stdout.read().decode()
            time.sleep(0.3)
            assert other.poll() is None, "the stop script stopped a broker it was not asked to"
            run("kafka-server-stop.sh", env=shim_env(GREGOR_STOP_MATCH=str(other_cfg)), check=0)
            assert other.wait(timeout=30) == 0
        finally:
            if other.poll() is None:
                other.kill()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_server_start_usage_and_bad_config(tmp_path):
    r = run("kafka-server-start.sh", check=1)
    assert "USAGE:" in r.stderr and "server.properties" in r.stderr
    bad = tmp_path / "bad.properties"
    bad.write_text("no.such.key=1\n")
    r = run("kafka-server-start.sh", "-daemon", bad, env=shim_env(LOG_DIR=str(tmp_path / "logs")), check=1)
    assert "the broker exited at start-up" in r.stderr and "no.such.key" in r.stderr


# ---------------------------------------------------------------------------
# kafka-storage.sh
# ---------------------------------------------------------------------------

def test_storage_random_uuid_and_format(tmp_path):
    r = run("kafka-storage.sh", "random-uuid", check=0)
    uuid = r.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", uuid), uuid
    assert run("kafka-storage.sh", "random-uuid", check=0).stdout.strip() != uuid

    data = tmp_path / "data"
    cfg = write_config(tmp_path / "s.properties", free_port(), data, node_id=3)
    r = run("kafka-storage.sh", "format", "-t", uuid, "-c", cfg, check=0)
    meta = (data / "meta.properties").read_text()
    assert "cluster.id=%s" % uuid in meta and "node.id=3" in meta
    r = run("kafka-storage.sh", "format", "-t", uuid, "-c", cfg, check=1)
    assert "already formatted" in (r.stdout + r.stderr).lower() or r.stderr.strip()
    run("kafka-storage.sh", "format", "-t", uuid, "-c", cfg, "--ignore-formatted", check=0)


# ---------------------------------------------------------------------------
# configs, perf tests, dump-log
# ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_configs_perf_and_dump_log(broker):
    bs = "localhost:%d" % broker.port
    run("kafka-topics.sh", "--bootstrap-server", bs, "--create", "--topic", "perf-t", "--partitions", "1",
        check=0)
    wait_for_topic(broker.bootstrap, "perf-t", 1)

    r = run("kafka-configs.sh", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name",
            "perf-t", "--alter", "--add-config", "retention.ms=86400000", check=0)
    r = run("kafka-configs.sh", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name",
            "perf-t", "--describe", check=0)
    assert "retention.ms=86400000" in r.stdout

    r = run("kafka-producer-perf-test.sh", "--topic", "perf-t", "--num-records", "2000", "--record-size",
            "100", "--throughput", "-1", "--producer-props", "bootstrap.servers=%s" % bs, "acks=all",
            check=0)
    assert re.search(r"^2000 records sent, .* records/sec \(.* MB/sec\), .* ms avg latency",
                     r.stdout, re.M), r.stdout

    r = run("kafka-consumer-perf-test.sh", "--bootstrap-server", bs, "--topic", "perf-t", "--messages",
            "2000", check=0)
    out = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert out[0].startswith("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg"), out
    cells = [c.strip() for c in out[1].split(",")]
    assert cells[4] == "2000", out

    r = run("kafka-get-offsets.sh", "--bootstrap-server", bs, "--topic", "perf-t", check=0)
    assert r.stdout.split() == ["perf-t:0:2000"]

    seg = broker.partition_dir("perf-t", 0) / ("%020d.log" % 0)
    r = run("kafka-dump-log.sh", "--files", seg, "--print-data-log", check=0)
    assert "Dumping %s" % seg in r.stdout
    assert re.search(r"baseOffset: 0 lastOffset: \d+ count: \d+", r.stdout), r.stdout[:2000]
    assert "offset: 1999" in r.stdout


# ---------------------------------------------------------------------------
# Kafka flags the shims translate for the console clients
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_console_clients_translated_flags(broker, tmp_path):
    bs = "localhost:%d" % broker.port
    run("kafka-topics.sh", "--bootstrap-server", bs, "--create", "--topic", "tr", "--partitions", "1",
        check=0)
    wait_for_topic(broker.bootstrap, "tr", 1)
    reader_cfg = tmp_path / "reader.properties"
    reader_cfg.write_text("# Kafka's reader config\nparse.key=true\nkey.separator=:\n")
    run("kafka-console-producer.sh", "--bootstrap-server", bs, "--topic", "tr",
        "--message-send-max-retries", "3", "--retry-backoff-ms=100", "--request-timeout-ms", "5000",
        "--metadata-expiry-ms", "60000", "--socket-buffer-size", "102400", "--max-memory-bytes",
        "33554432", "--max-partition-memory-bytes", "16384", "--max-block-ms", "60000",
        "--line-reader", "kafka.tools.ConsoleProducer$LineMessageReader",
        "--reader-config", reader_cfg, input="k1:v1\nk2:v2\n", check=0)

    fmt_cfg = tmp_path / "formatter.properties"
    fmt_cfg.write_text("print.key=true\nkey.separator=|\n")
    r = run("kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", "tr", "--from-beginning",
            "--max-messages", "2", "--formatter", "kafka.tools.DefaultMessageFormatter",
            "--formatter-config", fmt_cfg, "--enable-systest-events",
            "--key-deserializer", "org.apache.kafka.common.serialization.StringDeserializer",
            "--value-deserializer=org.apache.kafka.common.serialization.StringDeserializer", check=0)
    assert r.stdout.splitlines() == ["k1|v1", "k2|v2"]

    r = run("kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", "tr",
            "--formatter", "kafka.tools.LoggingMessageFormatter", check=1)
    assert "only Kafka's DefaultMessageFormatter is supported" in r.stderr
    r = run("kafka-console-producer.sh", "--bootstrap-server", bs, "--topic", "tr",
            "--line-reader", "com.example.MyReader", input="", check=1)
    assert "only Kafka's default line reader is supported" in r.stderr
