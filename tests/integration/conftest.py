"""
Integration test harness for Gregor: start a real `gregor` process, talk to it
with real Kafka clients.

Which broker (see tests/integration/README.md, "Two brokers"):
  --broker=gregor     the default: a `gregor` process per test
  --broker=kafka      Apache Kafka 4.4.0 (tests/reference/kafkaref.py), a
                      single KRaft node per test; tests marked gregor_only
                      are deselected, gregor_xfail marks do not apply
  The environment variable GREGOR_TEST_BROKER sets the default.

Markers:
  gregor_only(reason)  checks what only Gregor has (its tools' output, its
                       crash and corruption handling, its limits, its logs)
  gregor_xfail(reason) Kafka behaviour Gregor does not have yet: on Gregor a
                       strict expected failure (passing turns the run red),
                       on Kafka an ordinary test

Environment:
  GREGOR_BIN          path of the broker binary (default <repo>/build/gregor)
  GREGOR_TEST_QUICK=1 divide message counts by 10 (local iteration only)
  GREGOR_TEST_TIMEOUT default per-test timeout in seconds (default 600)

Fixtures:
  broker        a running broker with default overrides; tests can pass
                overrides with  @pytest.mark.broker_overrides(key=value, ...)
  start_broker  factory: start_broker(**overrides) -> Broker (several allowed)
  small_segments  small_segments(n) -> (overrides, topic config) for n-byte
                segments on either broker
Both broker classes offer bootstrap, port, kind ("gregor" or "kafka"),
start/stop/wait_exit/kill9/restart, alive, data_dir, partition_dir and
log_text; a KafkaBroker's restart() returns once its partitions are served.

Override keys use Kafka spelling; since dots are not valid in Python keyword
names, a double underscore stands for a dot in keyword arguments:
    start_broker(num__partitions=3)  ==  --override num.partitions=3
A plain dict works too: start_broker(**{"num.partitions": 3}).
"""

import atexit
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "reference"))
import kafkaref  # noqa: E402  (the reference broker, Apache Kafka)
GREGOR_BIN = str((REPO / os.environ.get("GREGOR_BIN", "build/gregor")).resolve())
QUICK = os.environ.get("GREGOR_TEST_QUICK", "") not in ("", "0")
DEFAULT_TIMEOUT = int(os.environ.get("GREGOR_TEST_TIMEOUT", "600"))
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 80


def scaled(n):
    """Message count for a test: n, or n/10 with GREGOR_TEST_QUICK=1."""
    return max(1, n // 10) if QUICK else n


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _norm_key(k):
    return k.replace("__", ".")


class BrokerError(Exception):
    pass


class Broker:
    """One gregor process with its own data dir and port, restartable."""

    def __init__(self, workdir, overrides=None, port=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.overrides = {
            "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs": str(self.data_dir),
            "node.id": "1",
        }
        for k, v in (overrides or {}).items():
            self.overrides[_norm_key(k)] = _fmt(v)
        self.proc = None
        self.runs = 0          # how many times the process was started
        self.log_path = None   # stderr+stdout of the current run
        self._log_file = None

    # -- properties ---------------------------------------------------------
    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def partition_dir(self, topic, partition):
        return self.data_dir / ("%s-%d" % (topic, partition))

    # -- lifecycle ----------------------------------------------------------
    def command(self):
        cmd = [GREGOR_BIN, "server"]
        for k, v in self.overrides.items():
            cmd += ["--override", "%s=%s" % (k, v)]
        return cmd

    def start(self):
        if self.alive():
            raise BrokerError("broker already running")
        if not os.access(GREGOR_BIN, os.X_OK):
            pytest.fail("broker binary %s not found or not executable "
                        "(build it with `make`, or set GREGOR_BIN)" % GREGOR_BIN,
                        pytrace=False)
        self.log_path = self.workdir / ("broker-run%d.log" % self.runs)
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     cwd=str(self.workdir))
        self.runs += 1
        self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError("broker exited with code %s during startup:\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BrokerError("broker not accepting connections on %d after %.0f s:\n%s"
                          % (self.port, timeout, self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Clean shutdown. Returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._close_log()
                return None
        self._close_log()
        return self.proc.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for the process to exit by itself (after a signal the test
        sent); returns the exit code, None if it had to be killed."""
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            rc = None
        self._close_log()
        return rc

    def kill9(self):
        """Unclean stop: SIGKILL, then wait for the process to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def restart(self, **extra_overrides):
        """Start again with the same data dir and port (stops it first if needed)."""
        if self.alive():
            rc = self.stop()
            if rc != 0:
                raise BrokerError("broker exited with %s on SIGTERM" % rc)
        for k, v in extra_overrides.items():
            self.overrides[_norm_key(k)] = _fmt(v)
        # The port was ours a moment ago; give the kernel a moment if needed.
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.start()
            except BrokerError:
                if time.monotonic() > deadline or self.proc.poll() is None:
                    raise
                time.sleep(0.5)

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- logs ---------------------------------------------------------------
    def log_text(self, all_runs=False):
        """The broker's stderr of the current (latest) run, or of all runs."""
        paths = ([self.workdir / ("broker-run%d.log" % i) for i in range(self.runs)]
                 if all_runs else [self.log_path])
        out = []
        for p in paths:
            if p is not None and p.exists():
                if all_runs:
                    out.append("===== %s =====\n" % p.name)
                out.append(p.read_bytes().decode("utf-8", "replace"))
        return "".join(out)

    def log_tail(self, lines=LOG_TAIL_LINES, all_runs=False):
        return "\n".join(self.log_text(all_runs=all_runs).splitlines()[-lines:])


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class KafkaBroker:
    """Apache Kafka in Broker's shape: one KRaft node (broker and controller
    in one JVM) with its own ports and data dir, the same overrides (they
    are Kafka's keys), start/stop/kill9/restart. What only Gregor has (its
    binary, its log lines) is not here: tests that need it are gregor_only.

    A JVM per test is this mode's main cost, so what is the same in every
    test is prepared once (see _KafkaPrep): formatted storage to copy, and
    JVM start-up options. Kafka's own configuration is not changed."""

    kind = "kafka"
    HEAP = "512m"

    def __init__(self, workdir, overrides=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.overrides = {_norm_key(k): _fmt(v) for k, v in (overrides or {}).items()}
        self.cluster = kafkaref.KafkaCluster(str(self.workdir / "kafka"), nodes=1,
                                             overrides=self.overrides, heap=self.HEAP,
                                             jvm_opts=_KafkaPrep.jvm_opts())
        _usable_cluster_id(self.cluster)
        self.node = self.cluster.nodes[0]
        self.started = False
        self._clean_before = 0  # clean-shutdown lines in the log before this run

    @property
    def port(self):
        return self.node.port

    @property
    def bootstrap(self):
        return self.node.bootstrap

    @property
    def pid(self):
        return self.node.proc.pid if self.node.proc else None

    @property
    def proc(self):
        return self.node.proc

    @property
    def data_dir(self):
        return Path(self.node.data_dir)

    def partition_dir(self, topic, partition):
        return self.data_dir / ("%s-%d" % (topic, partition))

    def alive(self):
        return self.node.alive()

    def start(self):
        self._clean_before = self.log_text().count(self.CLEAN_SHUTDOWN)
        try:
            if not self.started:
                if _KafkaPrep.template_usable(self.overrides):
                    # cluster.start(), with a copy of the formatted storage
                    self.node.write_config()
                    shutil.copytree(_KafkaPrep.template(), self.node.data_dir)
                    self.node.launch()
                    self.cluster.wait_ready()
                else:
                    self.cluster.start()
                self.started = True
            else:
                self.node.launch()
                self.cluster.wait_ready()
        except kafkaref.KafkaError as e:
            raise BrokerError(str(e))
        return self

    CLEAN_SHUTDOWN = "[BrokerServer id=1] shut down completed"

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Like Broker.stop."""
        if self.node.proc is None:
            return None
        self.node.signal(sig)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Like Broker.wait_exit. The JVM exits with 143 (128 + SIGTERM)
        after the shutdown hook ran, however cleanly: that is reported as 0
        when this run's log says the broker shut down completely."""
        rc = self.node.wait_exit(timeout)
        if (rc == 128 + signal.SIGTERM
                and self.log_text().count(self.CLEAN_SHUTDOWN) > self._clean_before):
            return 0
        return rc

    def kill9(self):
        self.node.kill9()

    def restart(self, **extra_overrides):
        if self.alive():
            rc = self.stop()
            if rc != 0:
                raise BrokerError("broker exited with %s on SIGTERM" % rc)
        self._clean_before = self.log_text().count(self.CLEAN_SHUTDOWN)
        try:
            self.cluster.restart_node(self.node, **{_norm_key(k): _fmt(v)
                                                    for k, v in extra_overrides.items()})
        except kafkaref.KafkaError as e:
            raise BrokerError(str(e))
        self._wait_partitions_served()
        return self

    def _wait_partitions_served(self, timeout=60):
        """A restarted Kafka lists itself in metadata a moment before it
        leads its partitions again (ListOffsets answers NOT_LEADER_OR_FOLLOWER
        meanwhile); Gregor serves them once it accepts connections. Internal
        topics are left out: see test_groups_support.wait_coordinator_ready."""
        for name, tm in list_topics(self.bootstrap, timeout=30).items():
            if not name.startswith("__"):
                wait_partitions_serving(self.bootstrap, name, sorted(tm.partitions), timeout)

    def log_text(self, all_runs=False):
        try:
            return Path(self.node.log_path).read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=LOG_TAIL_LINES, all_runs=False):
        return self.node.log_tail(lines)


Broker.kind = "gregor"


def _usable_cluster_id(cluster):
    """kafka-storage's argument parser takes a cluster id that starts with
    '-' for an option (Kafka's own random-uuid never makes one): draw again."""
    while cluster.cluster_id.startswith("-"):
        cluster.cluster_id = kafkaref._cluster_id()


class _KafkaPrep:
    """What every Kafka test broker of a run shares, prepared once.

    - The storage. `kafka-storage format` is a JVM of its own (seconds on a
      busy machine). A formatted single-node data dir holds meta.properties
      (cluster id, node id 1) and the bootstrap metadata checkpoint: nothing
      that depends on ports or paths. So it is formatted once per run and
      copied into each broker's data dir (unless a test overrides a key the
      formatting depends on).
    - The JVM. A test broker lives for seconds, so C2 compilation is CPU
      spent for nothing: -XX:TieredStopAtLevel=1. And most of a start-up is
      loading and verifying Kafka's classes: a dynamic class-data archive,
      written by a broker that served a produce and a fetch, kept in
      build/reference/ under a name derived from the JDK and the jars (a
      different JDK or a new fetch makes a new one). Should the archive be
      unusable, the JVM starts without it; only slower."""

    BASE_OPTS = ["-XX:TieredStopAtLevel=1"]
    FORMAT_KEYS = ("node.id", "log.dirs", "log.dir", "metadata.log.dir", "process.roles",
                   "controller.quorum.voters", "controller.listener.names")
    _template = None
    _opts = None

    @classmethod
    def template_usable(cls, overrides):
        return not any(k in overrides for k in cls.FORMAT_KEYS)

    @classmethod
    def template(cls):
        """The data dir of a formatted node (formatted on first use)."""
        if cls._template is None:
            d = tempfile.mkdtemp(prefix="gregor-it-kafka-template-")
            atexit.register(shutil.rmtree, d, True)
            c = kafkaref.KafkaCluster(d, nodes=1)
            _usable_cluster_id(c)
            c.nodes[0].write_config()
            c.nodes[0].format()
            cls._template = c.nodes[0].data_dir
        return cls._template

    @classmethod
    def jvm_opts(cls):
        if cls._opts is None:
            opts = list(cls.BASE_OPTS)
            archive = cls._archive_path()
            if not os.path.exists(archive):
                cls._make_archive(archive)
            if os.path.exists(archive):
                opts.append("-XX:SharedArchiveFile=" + archive)
            cls._opts = opts
        return cls._opts

    @classmethod
    def _archive_path(cls):
        h = hashlib.sha256()
        java = shutil.which("java") or "java"
        h.update(os.path.realpath(java).encode())
        h.update(subprocess.run([java, "-version"], capture_output=True,
                                timeout=60).stderr)
        for name in sorted(os.listdir(kafkaref.LIBS)):
            st = os.stat(os.path.join(kafkaref.LIBS, name))
            h.update(("%s %d %d\n" % (name, st.st_size, st.st_mtime_ns)).encode())
        h.update(" ".join(kafkaref.JVM_GC_OPTS + cls.BASE_OPTS).encode())
        return os.path.join(os.path.dirname(kafkaref.LIBS),
                            "kafka-tests-%s.jsa" % h.hexdigest()[:16])

    @classmethod
    def _make_archive(cls, archive):
        tmp = "%s.%d.tmp" % (archive, os.getpid())
        d = tempfile.mkdtemp(prefix="gregor-it-kafka-cds-")
        c = kafkaref.KafkaCluster(d, nodes=1, heap=KafkaBroker.HEAP,
                                  jvm_opts=cls.BASE_OPTS + ["-XX:ArchiveClassesAtExit=" + tmp])
        n = c.nodes[0]
        try:
            n.write_config()
            shutil.copytree(cls.template(), n.data_dir)
            n.launch()
            c.wait_ready()
            roundtrip_check(n.bootstrap)
            if n.stop() is not None and os.path.getsize(tmp) > 0:  # exited by itself
                for old in glob.glob(os.path.join(os.path.dirname(archive), "kafka-tests-*.jsa")):
                    os.unlink(old)
                os.replace(tmp, archive)
        except Exception as e:  # the brokers still work without it, only slower
            sys.stderr.write("conftest: no class-data archive for the Kafka brokers: %s\n" % e)
        finally:
            c.kill()
            shutil.rmtree(d, ignore_errors=True)
            if os.path.exists(tmp):
                os.unlink(tmp)


# --------------------------------------------------------------------------
# pytest plumbing: failure reports, per-test timeouts, markers
# --------------------------------------------------------------------------

def pytest_addoption(parser):
    parser.addoption("--broker", choices=("gregor", "kafka"),
                     default=os.environ.get("GREGOR_TEST_BROKER", "gregor"),
                     help="run the suite against Gregor (default) or Apache Kafka 4.4.0")


def broker_kind(config):
    return config.getoption("--broker")


def pytest_configure(config):
    config.addinivalue_line("markers", "broker_overrides(**kv): overrides for the `broker` fixture")
    config.addinivalue_line("markers", "gregor_only(reason): checks what only Gregor has; "
                            "not run with --broker=kafka")
    config.addinivalue_line("markers", "gregor_xfail(reason): Kafka behaviour Gregor lacks; "
                            "a strict expected failure on Gregor")
    if broker_kind(config) == "kafka":
        try:
            kafkaref.fetch(quiet=True)
        except kafkaref.KafkaError as e:
            raise pytest.UsageError("--broker=kafka: %s" % e)
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): per-test time limit")


_deselected_gregor_only = []


class GregorGap(Exception):
    """The exact failure a gregor_gap test expects on Gregor."""


def gregor_gap(reason):
    """gregor_xfail plus pytest's own xfail with raises=GregorGap: on Gregor
    the test is an expected failure only if it fails with exactly the error
    it names (the test raises GregorGap when it sees that error); any other
    failure is red, and so is a pass (strict). The first xfail mark wins in
    pytest, and the decorator's comes before the one gregor_xfail adds, so
    raises= applies. On Kafka the test is an ordinary one."""
    def deco(f):
        f = pytest.mark.gregor_xfail(reason)(f)
        return pytest.mark.xfail("config.getoption('--broker') == 'gregor'",
                                 reason="Gregor: " + reason, raises=GregorGap,
                                 strict=True)(f)
    return deco


def pytest_collection_modifyitems(config, items):
    # Every test gets a time limit. With pytest-timeout the marker is enforced
    # by the plugin; without it, by the SIGALRM fallback below.
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))
    kind = broker_kind(config)
    if kind == "kafka":
        keep = []
        for item in items:
            (_deselected_gregor_only if item.get_closest_marker("gregor_only")
             else keep).append(item)
        if _deselected_gregor_only:
            config.hook.pytest_deselected(items=_deselected_gregor_only)
            items[:] = keep
    else:
        for item in items:
            m = item.get_closest_marker("gregor_xfail")
            if m is not None:
                reason = m.args[0] if m.args else m.kwargs.get("reason", "")
                item.add_marker(pytest.mark.xfail(strict=True, reason="Gregor: " + reason))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line for the broker this run was against: passed, failed,
    expected failures (each with its reason), Gregor-only tests not run."""
    st = terminalreporter.stats
    n = {k: len(st.get(k, [])) for k in ("passed", "failed", "error", "xfailed", "xpassed",
                                          "skipped")}
    kind = broker_kind(config)
    line = ("broker=%s: %d passed, %d failed, %d expected failures"
            % (kind, n["passed"], n["failed"] + n["error"] + n["xpassed"], n["xfailed"]))
    if n["skipped"]:
        line += ", %d skipped" % n["skipped"]
    if kind == "kafka":
        line += ", %d Gregor-only not run" % len(_deselected_gregor_only)
    terminalreporter.write_sep("=", line)
    for rep in st.get("xfailed", []):
        terminalreporter.write_line("  expected failure: %s: %s"
                                    % (rep.nodeid, getattr(rep, "wasxfail", "")))
    _write_expected_failures(st.get("xfailed", []), kind)


def _write_expected_failures(reps, kind):
    """With GREGOR_TEST_RESULTS set (scripts/test), the strict expected
    failures of a Gregor run as JSON, for the compatibility ledger
    (scripts/compat): the test, what Gregor lacks, the error it met."""
    out = os.environ.get("GREGOR_TEST_RESULTS")
    if not out or kind != "gregor":
        return
    import json
    entries = []
    for rep in reps:
        crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
        error = getattr(crash, "message", "") or ""
        entries.append({"test": rep.nodeid,
                        "reason": getattr(rep, "wasxfail", "").replace("Gregor: ", "", 1),
                        "error": error.strip().splitlines()[0][:400] if error.strip() else ""})
    name = os.environ.get("GREGOR_TEST_RESULTS_NAME", "pytest")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "expected-failures-%s.json" % name), "w") as f:
        json.dump(entries, f, indent=1)


@pytest.fixture(autouse=True)
def _name_the_test_for_gregor(request):
    """Every gregor a test starts (directly or through a tool) names the test
    in its request counts (GREGOR_TEST_CONTEXT; see src/broker/reqstats.h)."""
    os.environ["GREGOR_TEST_CONTEXT"] = request.node.nodeid
    yield
    os.environ.pop("GREGOR_TEST_CONTEXT", None)


class _FallbackTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if item.config.pluginmanager.hasplugin("timeout"):
        yield
        return
    marker = item.get_closest_marker("timeout")
    seconds = int(marker.args[0]) if marker and marker.args else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        raise _FallbackTimeout("test exceeded %d s" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _test_failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture
def start_broker(tmp_path, request):
    """Factory: start_broker(**overrides) -> running Broker. All are torn down."""
    brokers = []
    cls = KafkaBroker if broker_kind(request.config) == "kafka" else Broker

    def _start(**overrides):
        b = cls(tmp_path / ("broker%d" % len(brokers)), overrides)
        brokers.append(b)
        return b.start()

    yield _start

    failed = _test_failed(request)
    for b in brokers:
        was_alive = b.alive()
        if was_alive and os.environ.get("GREGOR_REQUEST_STATS") and getattr(b, "kind", "") == "gregor":
            # A clean stop makes gregor write the requests it served by client
            # software (the compatibility ledger's evidence); a few ms.
            b.stop(timeout=15)
        b.kill9()
        if failed:
            sys.stderr.write("\n----- broker %s (%s, %s) log tail -----\n%s\n"
                             % (b.bootstrap, b.workdir,
                                "was running" if was_alive else
                                "exit code %s" % (b.proc.returncode if b.proc else None),
                                b.log_tail(all_runs=True)))


@pytest.fixture
def small_segments(request):
    """small_segments(n) -> (broker overrides, topic config) for segments
    of n bytes. Apache Kafka 4 refuses log.segment.bytes below 1 MiB; its
    topic config internal.segment.bytes (there for tests) makes the same
    small segments."""
    def _settings(n):
        if broker_kind(request.config) == "kafka":
            return {}, {"internal.segment.bytes": str(n)}
        return {"log.segment.bytes": n}, {}
    return _settings


@pytest.fixture
def broker(start_broker, request):
    """A running broker; overrides from @pytest.mark.broker_overrides(...)."""
    overrides = {}
    m = request.node.get_closest_marker("broker_overrides")
    if m is not None:
        overrides.update(m.kwargs)
    return start_broker(**overrides)


# --------------------------------------------------------------------------
# client helpers shared by the tests (confluent-kafka based)
# --------------------------------------------------------------------------

def quiet_logger():
    import logging
    lg = logging.getLogger("librdkafka")
    lg.setLevel(logging.WARNING)
    return lg


def admin_client(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def list_topics(bootstrap, timeout=10):
    """All topics' metadata (a Metadata request for *all* topics, which never
    auto-creates anything). Returns {name: TopicMetadata}."""
    md = admin_client(bootstrap).list_topics(timeout=timeout)
    return md.topics


def wait_for_topic(bootstrap, topic, partitions=None, timeout=15):
    """Wait until `topic` is in metadata with a leader for every partition
    (and exactly `partitions` partitions if given). Returns its TopicMetadata."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            tm = list_topics(bootstrap, timeout=5).get(topic)
        except Exception as e:  # KafkaException on a timeout
            last = e
            tm = None
        if tm is not None and tm.error is None and tm.partitions:
            ok = all(p.leader >= 0 and p.error is None for p in tm.partitions.values())
            if ok and (partitions is None or len(tm.partitions) == partitions):
                return tm
            last = tm
        time.sleep(0.2)
    raise AssertionError("topic %s not ready (partitions=%s) after %s s; last: %r"
                         % (topic, partitions, timeout, last))


def wait_topic_absent(bootstrap, topic, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic not in list_topics(bootstrap, timeout=5):
            return
        time.sleep(0.2)
    raise AssertionError("topic %s still present after %s s" % (topic, timeout))


def create_topic(bootstrap, topic, partitions=1, config=None, timeout=30):
    """CreateTopics through confluent-kafka's AdminClient, then wait for metadata."""
    from confluent_kafka.admin import NewTopic
    a = admin_client(bootstrap)
    fs = a.create_topics([NewTopic(topic, partitions, 1, config=config or {})],
                         operation_timeout=timeout, request_timeout=timeout)
    fs[topic].result(timeout=timeout)
    tm = wait_for_topic(bootstrap, topic, partitions)
    wait_partitions_serving(bootstrap, topic, sorted(tm.partitions))
    return tm


def wait_partitions_serving(bootstrap, topic, partitions, timeout=30):
    """Until ListOffsets answers for each partition. Apache Kafka lists a
    new partition's leader in metadata a moment before the leader serves
    it; a produce in that moment gets NOT_LEADER_OR_FOLLOWER, and the
    client's retry can land behind later batches (no idempotence)."""
    from confluent_kafka import KafkaException, TopicPartition
    c = make_consumer(bootstrap)
    try:
        deadline = time.monotonic() + timeout
        for p in partitions:
            while True:
                try:
                    c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                    break
                except KafkaException as e:
                    if time.monotonic() > deadline:
                        raise AssertionError("%s-%d not served after %s s: %s"
                                             % (topic, p, timeout, e))
                    time.sleep(0.1)
    finally:
        c.close()


def make_producer(bootstrap, **conf):
    from confluent_kafka import Producer
    c = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
         "message.timeout.ms": 30000}
    c.update({k.replace("__", ".") if "." not in k else k: v for k, v in conf.items()})
    return Producer(c)


def make_consumer(bootstrap, **conf):
    from confluent_kafka import Consumer
    c = {"bootstrap.servers": bootstrap, "group.id": "gregor-it",
         "enable.auto.commit": False, "auto.offset.reset": "earliest",
         "enable.partition.eof": False}
    c.update({k.replace("__", ".") if "." not in k else k: v for k, v in conf.items()})
    return Consumer(c)


def produce_all(bootstrap, topic, messages, flush_timeout=60, **conf):
    """Produce (key, value, headers, partition, timestamp) dicts with acks=all;
    returns delivered Message objects in the order of the delivery reports.
    Fails if any report is an error or anything is left unflushed."""
    p = make_producer(bootstrap, **conf)
    delivered, errors = [], []

    def dr(err, msg):
        (errors if err is not None else delivered).append(err if err is not None else msg)

    for m in messages:
        kw = {k: v for k, v in m.items() if v is not None}
        while True:
            try:
                p.produce(topic, on_delivery=dr, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(flush_timeout)
    assert left == 0, "%d messages not delivered within %s s" % (left, flush_timeout)
    assert not errors, "delivery errors: %s" % errors[:5]
    return delivered


def consume_partitions(bootstrap, topic, expected, timeout=60, start=None, **conf):
    """Consume from the beginning of the given partitions until `expected`
    ({partition: count}) messages per partition arrived. Returns
    {partition: [Message, ...]} in offset order. Fails on timeout."""
    from confluent_kafka import TopicPartition, OFFSET_BEGINNING
    c = make_consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING))
                  for p in expected])
        got = {p: [] for p in expected}
        deadline = time.monotonic() + timeout
        while any(len(got[p]) < n for p, n in expected.items()):
            if time.monotonic() > deadline:
                raise AssertionError("consume timeout: got %s of %s"
                                     % ({p: len(v) for p, v in got.items()}, expected))
            msgs = c.consume(num_messages=1000, timeout=0.5)
            for m in msgs:
                if m.error() is not None:
                    raise AssertionError("consumer error: %s" % m.error())
                got[m.partition()].append(m)
        # anything extra arriving shortly after is a failure (duplicates)
        for m in c.consume(num_messages=1000, timeout=0.5):
            if m.error() is None:
                got[m.partition()].append(m)
        return got
    finally:
        c.close()


def watermarks(bootstrap, topic, partition, timeout=10):
    from confluent_kafka import TopicPartition
    c = make_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
    finally:
        c.close()


def roundtrip_check(bootstrap, topic="gregor-health", timeout=30):
    """A well-behaved client can produce one message and read it back."""
    import uuid
    value = uuid.uuid4().hex.encode()
    d = produce_all(bootstrap, topic, [{"value": value, "partition": 0}],
                    flush_timeout=timeout)
    off = d[0].offset()
    from confluent_kafka import TopicPartition
    c = make_consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, off)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            assert m.offset() == off and m.value() == value
            return
        raise AssertionError("health message not consumed within %s s" % timeout)
    finally:
        c.close()
