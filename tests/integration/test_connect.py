"""
Kafka Connect 4.4.0 (the reference jars, build/reference/libs) against the
broker under test (Gregor, or Apache Kafka with --broker=kafka): the file
connectors FileStreamSource and FileStreamSink copy a file through a topic,
and the copy must equal the input byte for byte.

  standalone   ConnectStandalone with the two connectors' property files;
  distributed  ConnectDistributed, one worker, its config/offset/status
               topics (replication factor 1) on the broker, the connectors
               created through the REST API (POST /connectors), their status
               RUNNING through REST, deleted through REST (DELETE) at the end.

The input (a few thousand lines of ASCII and UTF-8: Latin accents, CJK,
4-byte emoji) is written here; each line becomes one record (StringConverter),
the sink writes each record back as a line. One partition keeps the order.
Both workers' REST APIs listen on a free 127.0.0.1 port; every wait is bounded
and the worker process is stopped (then killed) at the end of each test.

With the worker defaults Connect's worker builds its task producers with
enable.idempotence=false (Worker.baseProducerConfigs), so nothing asks for
a producer id. Two more runs use the producer-id and transaction APIs:

  * standalone with producer.enable.idempotence=true: the source task's
    producer asks for a producer id (InitProducerId), and the topic's
    batches carry it;
  * distributed with exactly.once.source.support=enabled: the leader
    writes the config topic with a transactional ("fencable") producer and
    the source task writes its records and offsets in transactions, so the
    topic's batches carry a producer id and commit markers follow the
    records (the end offset is past the last record).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, create_topic, free_port
import kafkaref

LOG4J = REPO / "tests" / "streams" / "log4j2.yaml"
COMPAT_SRC = (REPO / "tests" / "streams" / "compat" / "org" / "apache" / "kafka" / "common"
              / "utils" / "AppInfoParser.java")
COMPAT_CLASSES = REPO / "build" / "streams" / "connect-compat"
TOPIC = "connect-lines"
READY_TIMEOUT_S = 90      # worker process up, REST answering
COPY_TIMEOUT_S = 90       # output file complete
STOP_TIMEOUT_S = 30





def compile_compat():
    """javac the connect-file 4.3.1 bridge (see its source) into
    build/streams/connect-compat when the source is newer than the class."""
    target = COMPAT_CLASSES / "org" / "apache" / "kafka" / "common" / "utils" / "AppInfoParser.class"
    if target.exists() and target.stat().st_mtime >= COMPAT_SRC.stat().st_mtime:
        return
    tmp = COMPAT_CLASSES.parent / ("connect-compat.tmp%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    r = subprocess.run(["javac", "--release", "17", "-cp", kafkaref.classpath(),
                        "-d", str(tmp), str(COMPAT_SRC)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, "javac failed:\n%s%s" % (r.stdout, r.stderr)
    shutil.rmtree(COMPAT_CLASSES, ignore_errors=True)
    tmp.rename(COMPAT_CLASSES)


def write_props(path, props):
    Path(path).write_text("".join("%s=%s\n" % kv for kv in props.items()))


def input_text(lines=3000):
    """Deterministic lines of ASCII and multi-byte UTF-8, '\\n'-terminated."""
    rnd = random.Random(2001)
    pieces = ["kafka", "connect", "gregor", "Grüße", "café", "naïve", "Łódź",
              "日本語のテキスト", "数据流", "ελληνικά", "🚀", "😀👍", "a=b;c", "tab\there",
              "{\"json\": [1, 2]}", "x" * 40]
    out = []
    for i in range(lines):
        words = [rnd.choice(pieces) for _ in range(rnd.randint(1, 12))]
        out.append("%05d %s\n" % (i, " ".join(words)))
    return "".join(out).encode("utf-8")


class ConnectWorker:
    """A Connect worker process (standalone or distributed) with its REST
    API on a free loopback port; stdout and stderr in files."""

    def __init__(self, workdir, mode, bootstrap, extra=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.port = free_port()
        self.props = {
            "bootstrap.servers": bootstrap,
            "listeners": "http://127.0.0.1:%d" % self.port,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            # commit source offsets and flush the sink file every second
            "offset.flush.interval.ms": "1000",
        }
        if mode == "standalone":
            self.props["offset.storage.file.filename"] = str(self.workdir / "offsets")
        else:
            self.props.update({
                "group.id": "connect-check",
                "config.storage.topic": "connect-check-configs",
                "offset.storage.topic": "connect-check-offsets",
                "status.storage.topic": "connect-check-status",
                "config.storage.replication.factor": "1",
                "offset.storage.replication.factor": "1",
                "status.storage.replication.factor": "1",
            })
        self.props.update(extra or {})
        self.proc = None
        self.out_path = self.workdir / "worker.out"
        self.err_path = self.workdir / "worker.err"

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, connector_files=()):
        cfg = self.workdir / "worker.properties"
        write_props(cfg, self.props)
        main = ("org.apache.kafka.connect.cli.ConnectStandalone" if self.mode == "standalone"
                else "org.apache.kafka.connect.cli.ConnectDistributed")
        compile_compat()
        cmd = ["java", "-Xmx384m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-Dlog4j2.configurationFile=" + str(LOG4J),
               "-cp", "%s:%s" % (COMPAT_CLASSES, kafkaref.classpath()),
               main, str(cfg)] + [str(f) for f in connector_files]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=str(self.workdir))
        self.wait_rest()
        return self

    def wait_rest(self, timeout=READY_TIMEOUT_S):
        """Until GET / answers (the REST server is up and the herder started)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("Connect worker exited with %s during start-up:\n%s"
                                     % (self.proc.returncode, self.report()))
            try:
                code, body = self.request("GET", "/connectors")
                if code == 200:
                    return
                last = (code, body)
            except OSError as e:
                last = e
            time.sleep(0.5)
        raise AssertionError("Connect REST not ready after %d s (last: %r):\n%s"
                             % (timeout, last, self.report()))

    def request(self, method, path, body=None, timeout=15):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode("utf-8", "replace")

    def status(self, name):
        code, body = self.request("GET", "/connectors/%s/status" % name)
        return body if code == 200 else None

    def stop(self):
        """SIGTERM (Connect stops its connectors and exits), SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def report(self, lines=40):
        err = self.err_path.read_text("utf-8", "replace").splitlines() \
            if self.err_path.exists() else []
        return "--- worker stderr (tail) ---\n%s" % "\n".join(l[:400] for l in err[-lines:])


@pytest.fixture
def workers():
    started = []

    def _make(*args, **kw):
        w = ConnectWorker(*args, **kw)
        started.append(w)
        return w

    yield _make
    for w in started:
        w.kill()


def connector_configs(tmp_path):
    src, dst = tmp_path / "input.txt", tmp_path / "output.txt"
    data = input_text()
    src.write_bytes(data)
    source = {"name": "file-source",
              "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
              "tasks.max": "1", "file": str(src), "topic": TOPIC}
    sink = {"name": "file-sink",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1", "file": str(dst), "topics": TOPIC}
    return data, dst, source, sink


def failed_task_error(worker, names):
    """(connector, the last line of its failed task's trace), or None."""
    for name in names:
        st = worker.status(name)
        for t in (st or {}).get("tasks", []):
            if t.get("state") == "FAILED":
                trace = t.get("trace", "")
                causes = [l for l in trace.splitlines()
                          if l and not l[0].isspace() and not l.startswith("...")]
                return name, causes[-1].replace("Caused by: ", "") if causes else trace
        if st and st["connector"].get("state") == "FAILED":
            return name, st["connector"].get("trace", "")
    return None


def wait_copy(worker, data, dst, names, timeout=COPY_TIMEOUT_S):
    """Until the output file has as many bytes as the input. Fails as soon
    as a task fails or the worker exits."""
    deadline = time.monotonic() + timeout
    next_status = 0
    while True:
        size = dst.stat().st_size if dst.exists() else 0
        if size >= len(data):
            return
        if worker.proc.poll() is not None:
            raise AssertionError("Connect worker exited with %s:\n%s"
                                 % (worker.proc.returncode, worker.report()))
        if time.monotonic() >= next_status:
            err = failed_task_error(worker, names)
            if err is not None:
                raise AssertionError("connector %s failed: %s\n%s"
                                     % (err[0], err[1], worker.report()))
            next_status = time.monotonic() + 1
        if time.monotonic() > deadline:
            raise AssertionError("output has %d of %d bytes after %d s:\n%s"
                                 % (size, len(data), timeout, worker.report()))
        time.sleep(0.2)


def check_running(worker, names, timeout=30):
    """The REST status of each connector and its task is RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        sts = {n: worker.status(n) for n in names}
        states = {n: (st["connector"]["state"], [t["state"] for t in st["tasks"]])
                  if st else None for n, st in sts.items()}
        if all(s == ("RUNNING", ["RUNNING"]) for s in states.values()):
            for n, st in sts.items():
                assert st["name"] == n
                assert st["type"] == ("source" if n == "file-source" else "sink")
            return
        if time.monotonic() > deadline:
            raise AssertionError("connector states after %d s: %s" % (timeout, states))
        time.sleep(0.5)


def run_standalone(broker, workers, tmp_path, extra=None):
    """Copies the input file through TOPIC; returns the input (bytes)."""
    create_topic(broker.bootstrap, TOPIC, 1)
    data, dst, source, sink = connector_configs(tmp_path)
    write_props(tmp_path / "source.properties", source)
    write_props(tmp_path / "sink.properties", sink)
    w = workers(tmp_path / "worker", "standalone", broker.bootstrap, extra)
    w.start([tmp_path / "source.properties", tmp_path / "sink.properties"])
    names = ["file-source", "file-sink"]
    wait_copy(w, data, dst, names)
    check_running(w, names)
    time.sleep(1.5)          # one more sink flush: nothing extra may follow
    assert dst.read_bytes() == data
    w.stop()
    assert dst.read_bytes() == data
    return data


def post_connector(worker, body, timeout=90):
    """POST /connectors, in a thread so that the worker's exit shows at once
    and the wait is bounded. Returns (code, body)."""
    result = {}

    def post():
        try:
            result["r"] = worker.request("POST", "/connectors", body, timeout=timeout)
        except Exception as e:  # a timeout: reported below
            result["e"] = e

    t = threading.Thread(target=post, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout + 5
    while t.is_alive() and time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            break
        t.join(0.5)
    if "r" in result:
        return result["r"]
    raise AssertionError("POST /connectors %s: no answer (%r):\n%s"
                         % (body["name"], result.get("e"), worker.report()))


def run_distributed(broker, workers, tmp_path, extra=None):
    """Copies the input file through TOPIC; returns the input (bytes)."""
    create_topic(broker.bootstrap, TOPIC, 1)
    data, dst, source, sink = connector_configs(tmp_path)
    w = workers(tmp_path / "worker", "distributed", broker.bootstrap, extra).start()
    names = []
    for conf in (source, sink):
        name = conf["name"]
        code, body = post_connector(w, {"name": name,
                                        "config": {k: v for k, v in conf.items()
                                                   if k != "name"}})
        assert code == 201, "POST /connectors %s: %s %s\n%s" % (name, code, body, w.report())
        assert body["name"] == name and body["config"]["file"] == conf["file"]
        names.append(name)
    code, body = w.request("GET", "/connectors")
    assert code == 200 and sorted(body) == sorted(names)
    wait_copy(w, data, dst, names)
    check_running(w, names)
    time.sleep(1.5)
    assert dst.read_bytes() == data
    for name in names:
        code, body = w.request("DELETE", "/connectors/%s" % name, timeout=60)
        assert code == 204, "DELETE %s: %s %s" % (name, code, body)
    deadline = time.monotonic() + 30
    while True:
        code, body = w.request("GET", "/connectors")
        if code == 200 and body == []:
            break
        assert time.monotonic() < deadline, "connectors still listed: %s" % body
        time.sleep(0.5)
    code, _ = w.request("GET", "/connectors/file-source/status")
    assert code == 404
    w.stop()
    assert dst.read_bytes() == data
    return data


def batch_producer_ids(partition_dir):
    """The producer id of every record batch (v2) in a partition's segment
    files, in file order."""
    ids = []
    for seg in sorted(Path(partition_dir).glob("*.log")):
        raw = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(raw):
            length = int.from_bytes(raw[pos + 8:pos + 12], "big", signed=True)
            if length <= 0:
                break   # a preallocated, unwritten tail
            assert raw[pos + 16] == 2, "batch at %d of %s: magic %d" % (pos, seg, raw[pos + 16])
            ids.append(int.from_bytes(raw[pos + 43:pos + 51], "big", signed=True))
            pos += 12 + length
    return ids


IDEMPOTENT = {"producer.enable.idempotence": "true"}


@pytest.mark.timeout(200)
def test_standalone(broker, workers, tmp_path):
    run_standalone(broker, workers, tmp_path)


@pytest.mark.timeout(240)
def test_distributed(broker, workers, tmp_path):
    run_distributed(broker, workers, tmp_path)


@pytest.mark.timeout(200)
def test_standalone_idempotent_producer(broker, workers, tmp_path):
    run_standalone(broker, workers, tmp_path, extra=IDEMPOTENT)
    # One source task, one producer: every batch carries its producer id.
    ids = batch_producer_ids(broker.partition_dir(TOPIC, 0))
    assert ids and len(set(ids)) == 1 and ids[0] >= 0, ids


@pytest.mark.timeout(240)
def test_distributed_exactly_once_source(broker, workers, tmp_path):
    from conftest import watermarks
    data = run_distributed(broker, workers, tmp_path,
                           extra={"exactly.once.source.support": "enabled"})
    # The source task's transactional producer: its batches carry a producer
    # id, and each commit wrote a marker after its records (one record per
    # line), so the end offset is past the last record.
    ids = batch_producer_ids(broker.partition_dir(TOPIC, 0))
    assert ids and min(ids) >= 0, ids
    low, high = watermarks(broker.bootstrap, TOPIC, 0)
    assert low == 0 and high > data.count(b"\n"), (low, high, data.count(b"\n"))
