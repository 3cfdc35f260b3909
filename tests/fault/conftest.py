"""
pytest plumbing for the fault schedules (tests/fault/README.md).

  --broker=gregor|kafka  as in tests/cluster (GREGOR_TEST_BROKER sets the
                         default): 3 combined nodes of Gregor or of Apache
                         Kafka 4.4.0 from the same server.properties files
  --schedules=N          how many schedules (default 20); schedule i is of
                         kind KINDS[i % 5], so every kind runs
  --kinds=K1,K2          only these kinds (in turn), e.g. --kinds=cut_leader
  --seed=S               the first schedule's seed (default: random, printed
                         in the header); schedule i uses S + i
  --override=KEY=VALUE   one more key in every node's server.properties
                         (repeatable), e.g. shorter broker sessions:
                         broker.session.timeout.ms=2000 and
                         broker.heartbeat.interval.ms=500
  --client=KEY=VALUE     one more property of every producer (repeatable),
                         e.g. retry.backoff.max.ms=100

Fixtures:
  schedule       (index, kind, seed) of this test (parametrized)
  fault_cluster  one 3-node combined cluster for the run (FaultCluster);
                 every node is killed at the end, and the log tails are
                 printed when a test failed
  fault_report   fault_report(line, kind, failover): a line of the run's
                 summary, and the schedule's failover seconds (None: none)
"""

import os
import random
import statistics
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import faulttest  # noqa: E402  (puts tests/cluster on sys.path)
import localcluster  # noqa: E402

KINDS = ("kill_leader", "kill_follower", "sigstop_follower", "cut_leader", "rolling_restart")

# As tests/cluster's conftest: Kafka nodes with a smaller heap and without
# the C2 compiler (a shared two-core machine).
KAFKA_HEAP = "512m"
KAFKA_JVM_OPTS = ["-XX:TieredStopAtLevel=1"]

_LINES = []
_FAILOVERS = {}                # kind -> [seconds]
_FAILED = []


def pytest_addoption(parser):
    try:
        parser.addoption("--broker", choices=("gregor", "kafka"),
                         default=os.environ.get("GREGOR_TEST_BROKER", "gregor"),
                         help="run against Gregor (default) or Apache Kafka 4.4.0")
    except ValueError:
        pass  # another folder's conftest already added it (several folders in one run)
    parser.addoption("--schedules", type=int, default=20,
                     help="number of fault schedules (tests/fault; default 20)")
    parser.addoption("--kinds", default=",".join(KINDS),
                     help="comma-separated schedule kinds to run in turn (tests/fault; "
                          "default: all of %s)" % ",".join(KINDS))
    parser.addoption("--seed", type=int, default=None,
                     help="seed of the first fault schedule (default: random)")
    parser.addoption("--override", action="append", default=[], metavar="KEY=VALUE",
                     help="one more key in every node's server.properties (tests/fault)")
    parser.addoption("--client", action="append", default=[], metavar="KEY=VALUE",
                     help="one more librdkafka property of every producer (tests/fault)")


def _seed(config):
    if not hasattr(config, "_fault_seed"):
        s = config.getoption("--seed")
        config._fault_seed = s if s is not None else random.SystemRandom().randrange(1, 10**6)
    return config._fault_seed


def pytest_report_header(config):
    return ("fault schedules: %d, seed %d (repeat with --seed %d)%s"
            % (config.getoption("--schedules"), _seed(config), _seed(config),
               "; overrides %s" % config.getoption("--override")
               if config.getoption("--override") else ""))


def pytest_generate_tests(metafunc):
    if "schedule" in metafunc.fixturenames:
        n, s = metafunc.config.getoption("--schedules"), _seed(metafunc.config)
        kinds = [k for k in metafunc.config.getoption("--kinds").split(",") if k]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise pytest.UsageError("--kinds: %s not among %s" % (unknown, list(KINDS)))
        cases = [(i, kinds[i % len(kinds)], s + i) for i in range(n)]
        metafunc.parametrize("schedule", cases, ids=["%02d-%s" % (i, k) for i, k, _ in cases])


class FaultCluster:
    def __init__(self, cluster, workdir, client=()):
        self.cluster = cluster
        self.workdir = workdir
        self.client = list(client)    # --client KEY=VALUE, for producer.py
        self.isr_never_full = False   # see faulttest.precheck
        self.probe = None             # faulttest.probe_cluster's answer, once known


@pytest.fixture(scope="session")
def fault_cluster(tmp_path_factory, request):
    d = tmp_path_factory.mktemp("fault")
    overrides = {}
    for kv in request.config.getoption("--override"):
        k, sep, v = kv.partition("=")
        if not sep:
            raise pytest.UsageError("--override wants KEY=VALUE, got %r" % kv)
        overrides[k] = v
    c = localcluster.Cluster(str(d / "cluster"), kind=request.config.getoption("--broker"),
                             nodes=3, overrides=overrides, heap=KAFKA_HEAP,
                             jvm_opts=KAFKA_JVM_OPTS)
    try:
        c.up()
        yield FaultCluster(c, str(d), request.config.getoption("--client"))
    finally:
        alive = [n.node_id for n in c.nodes if n.alive()]
        c.kill_all()
        if _FAILED:
            sys.stderr.write("\n----- cluster in %s (running at the end: %s; failed: %s) -----"
                             "\n%s\n" % (c.dir, alive, _FAILED, c.logs()))


@pytest.fixture
def fault_report(request):
    def _add(line, kind, failover):
        _LINES.append("  %s" % line)
        if failover is not None:
            _FAILOVERS.setdefault(kind, []).append(failover)
        sys.stderr.write("fault: %s\n" % line)
    return _add


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and str(HERE) in str(item.fspath):
        _FAILED.append(item.name)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    kind = config.getoption("--broker")
    if _LINES:
        terminalreporter.write_sep("=", "broker=%s: fault schedules (seed %d)"
                                   % (kind, _seed(config)))
        for line in _LINES:
            terminalreporter.write_line(line)
        for k, what in (("kill_leader", "kill -9 of a leader"),
                        ("cut_leader", "a leader cut off")):
            if k in _FAILOVERS:
                f = _FAILOVERS[k]
                terminalreporter.write_line(
                    "  failover (%s -> first acks=all record acknowledged on each partition it "
                    "led): median %.2f s, max %.2f s over %d schedule(s)"
                    % (what, statistics.median(f), max(f), len(f)))
    xfailed = [r for r in terminalreporter.stats.get("xfailed", [])
               if os.path.abspath(str(r.fspath)).startswith(str(HERE))]
    if xfailed:
        terminalreporter.write_sep("=", "broker=%s: expected failures of tests/fault" % kind)
        for rep in xfailed:
            crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
            msg = (getattr(crash, "message", "") or "").strip().splitlines()
            terminalreporter.write_line("  expected failure: %s: %s"
                                        % (rep.nodeid, msg[0] if msg else ""))
    _write_expected_failures(xfailed, kind)


def _write_expected_failures(reps, kind):
    """With GREGOR_TEST_RESULTS set (scripts/test), the expected failures on
    Gregor as JSON in tests/cluster's shape
    (expected-failures-<GREGOR_TEST_RESULTS_NAME, default fault>.json)."""
    out = os.environ.get("GREGOR_TEST_RESULTS")
    if not out or kind != "gregor":
        return
    import json
    entries = []
    for rep in reps:
        crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
        error = (getattr(crash, "message", "") or "").strip()
        entries.append({"test": rep.nodeid,
                        "reason": getattr(rep, "wasxfail", "").replace("Gregor: ", "", 1),
                        "error": error.splitlines()[0][:400] if error else ""})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "expected-failures-%s.json"
                           % os.environ.get("GREGOR_TEST_RESULTS_NAME", "fault")), "w") as f:
        json.dump(entries, f, indent=1)
