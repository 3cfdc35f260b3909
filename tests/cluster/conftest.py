"""
pytest plumbing for the multi-node tests (tests/cluster/README.md).

  --broker=gregor   the default: clusters of `gregor` processes
  --broker=kafka    the same clusters of Apache Kafka 4.4.0 nodes, started from
                    the very same server.properties files
  (GREGOR_TEST_BROKER sets the default, as in tests/integration.)

Fixtures:
  cluster_kind        "gregor" or "kafka"
  start_cluster       factory: start_cluster(layout="combined", nodes=3,
                      controllers=3, brokers=2, **overrides) -> a formed
                      localcluster.Cluster; every node is killed afterwards,
                      and the nodes' log tails are printed when the test failed
  combined_cluster    one 3-node combined cluster for a whole module (for
                      tests that leave it as they found it)
  split_cluster       3 controller-only nodes (1-3) and 2 broker-only nodes
                      (4, 5) for a whole module; tests that kill a node start
                      it again before they end

Clusters are started in the test (or the module fixture), so that a cluster
that does not form fails the test with the cluster-forming wait's
ClusterNotFormed, which is what the `needs_quorum` mark (clustertest.py)
expects.
"""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import localcluster  # noqa: E402

# Kafka's JVMs in the tests: a smaller heap (five nodes on a shared machine)
# and no C2 compiler (a test cluster lives a minute; C2 would only burn CPU).
KAFKA_HEAP = "512m"
KAFKA_JVM_OPTS = ["-XX:TieredStopAtLevel=1"]


def pytest_addoption(parser):
    try:
        parser.addoption("--broker", choices=("gregor", "kafka"),
                         default=os.environ.get("GREGOR_TEST_BROKER", "gregor"),
                         help="run against Gregor (default) or Apache Kafka 4.4.0")
    except ValueError:
        pass  # tests/integration's conftest already added it (both folders in one run)


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit")


def _kind(config):
    return config.getoption("--broker")


@pytest.fixture(scope="session")
def cluster_kind(request):
    return _kind(request.config)


def _new_cluster(config, directory, layout, nodes, controllers, brokers, overrides):
    return localcluster.Cluster(str(directory), kind=_kind(config), layout=layout, nodes=nodes,
                                controllers=controllers, brokers=brokers,
                                overrides={k.replace("__", "."): v for k, v in overrides.items()},
                                heap=KAFKA_HEAP, jvm_opts=KAFKA_JVM_OPTS)


def _teardown(c, failed):
    alive = [n.node_id for n in c.nodes if n.alive()]
    c.kill_all()
    if failed:
        sys.stderr.write("\n----- cluster in %s (running at the end: %s) -----\n%s\n"
                         % (c.dir, alive, c.logs()))


def _failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


_MEASURED = []


@pytest.fixture
def measured(request):
    """measured(text): a line printed in the run's summary (failover and
    fencing times), prefixed with the test's name."""
    def _add(text):
        _MEASURED.append("  %s: %s" % (request.node.name, text))
        sys.stderr.write("measured: %s\n" % text)
    return _add


@pytest.fixture
def start_cluster(tmp_path, request):
    clusters = []

    def _start(layout="combined", nodes=3, controllers=3, brokers=2, **overrides):
        c = _new_cluster(request.config, tmp_path / ("cluster%d" % len(clusters)), layout,
                         nodes, controllers, brokers, overrides)
        clusters.append(c)
        return c.up()

    yield _start
    for c in clusters:
        _teardown(c, _failed(request))


@pytest.fixture(scope="module")
def combined_cluster(tmp_path_factory, request):
    c = _new_cluster(request.config, tmp_path_factory.mktemp("combined"), "combined", 3, 0, 0,
                     {})
    try:
        c.up()
    except Exception:
        c.kill_all()
        raise
    yield c
    _teardown(c, False)


@pytest.fixture(scope="module")
def split_cluster(tmp_path_factory, request):
    c = _new_cluster(request.config, tmp_path_factory.mktemp("split"), "split", 0, 3, 2, {})
    try:
        c.up()
    except Exception:
        c.kill_all()
        raise
    yield c
    _teardown(c, False)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per expected failure of this folder with the error it met
    (on Gregor: the cluster-forming wait's first line)."""
    lines = []
    for rep in terminalreporter.stats.get("xfailed", []):
        if "tests/cluster/" not in rep.nodeid.replace("\\", "/") and \
                not str(rep.fspath).startswith(str(HERE)):
            continue
        crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
        msg = (getattr(crash, "message", "") or "").strip().splitlines()
        lines.append("  expected failure: %s: %s" % (rep.nodeid, msg[0] if msg else ""))
    _write_expected_failures(terminalreporter.stats.get("xfailed", []), _kind(config))
    if _MEASURED:
        terminalreporter.write_sep("=", "broker=%s: measured in tests/cluster" % _kind(config))
        for line in _MEASURED:
            terminalreporter.write_line(line)
    if lines:
        terminalreporter.write_sep("=", "broker=%s: expected failures of tests/cluster"
                                   % _kind(config))
        for line in lines:
            terminalreporter.write_line(line)


def _write_expected_failures(reps, kind):
    """With GREGOR_TEST_RESULTS set (scripts/test), this folder's expected
    failures on Gregor as JSON for the compatibility ledger, in the shape
    tests/integration writes (expected-failures-<GREGOR_TEST_RESULTS_NAME,
    default cluster>.json)."""
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
    name = os.environ.get("GREGOR_TEST_RESULTS_NAME", "cluster")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "expected-failures-%s.json" % name), "w") as f:
        json.dump(entries, f, indent=1)
