"""
`gregor metadata-quorum`, its shim bin/kafka-metadata-quorum.sh, and Kafka
4.4's own kafka-metadata-quorum (org.apache.kafka.tools.MetadataQuorumCommand),
run side by side against the same broker: Gregor, or Apache Kafka with
--broker=kafka.

Proves:
- `describe --status` prints the same bytes as Kafka's tool against a single
  KRaft node (ClusterId, LeaderId, LeaderEpoch, HighWatermark, MaxFollowerLag,
  MaxFollowerLagTimeMs, CurrentVoters with the controller's endpoint,
  CurrentObservers), and `describe --replication` [--human-readable] the same
  table: the same header, the same rows (Leader, then Followers, then
  Observers), the same cells, each padded to its column's width and followed
  by a tab. What is normalised, and only that: the two timestamp columns
  (LastFetchTimestamp, LastCaughtUpTimestamp: each tool reads the clock when
  it runs) may hold other digits, but each cell must be a timestamp (or
  "N ms ago") padded exactly as Kafka pads the column; and --status's
  MaxFollowerLagTimeMs, a difference of two followers' timestamps, on three
  nodes. Everything else is compared byte for byte, including the log end
  offsets: Kafka's tool runs before and after ours and the comparison is
  made when its two runs agree. The Kafka nodes run with
  metadata.max.idle.interval.ms=0 (no NoOpRecord every 500 ms) so that the
  metadata log can stand still between the runs.
- a 3-node KRaft cluster (3 combined voters, no observers): --status and
  --replication through --bootstrap-server and through
  --bootstrap-controller (DescribeQuorum then goes to the active controller)
  are Kafka's bytes too;
- bad command lines get Kafka's words, on the same stream, with the same
  exit status (argparse4j's usage and "kafka-metadata-quorum: error: ..."
  wrapped and justified at 75 columns, its abbreviations and "Did you
  mean:" suggestions, and the tool's own sentences), and --help is Kafka's
  help; a bootstrap list Kafka's admin client refuses gets the first line
  of Kafka's error. (Kafka's admin client may log a WARN line about the
  unreachable address before the tool's own check fails, depending on
  timing: its log lines are dropped from Kafka's stderr before comparing.)
- an unreachable node: after default.api.timeout.ms (3 s here, from
  --command-config) both tools say "org.apache.kafka.common.errors.
  TimeoutException: Timed out waiting for a node assignment. Call: ..."
  (Kafka's tool adds a Java stack trace, which ours does not imitate: the
  first line Kafka prints after its log lines is compared with ours);
- remove-controller --dry-run prints Kafka's lines without contacting
  anyone; add-controller and a real remove-controller are refused (Gregor's
  quorum is static);
- the shim takes Kafka's flags and prints what `gregor metadata-quorum`
  prints;
- `gregor cluster brokers` on a broker that serves DescribeCluster v2 lists
  every broker with its fenced state (text and JSON): on three nodes, kill -9
  node 3 and it turns fenced within broker.session.timeout.ms (and leaves
  Metadata), restart it and it is unfenced again.

On Gregor (the default --broker) the broker does not serve DescribeQuorum
(API key 55) yet, and there is no multi-node cluster yet: those tests are
strict expected failures (gregor_gap) that must fail with exactly
"org.apache.kafka.common.errors.UnsupportedVersionException: The node does
not support DESCRIBE_QUORUM" (which Kafka's own tool prints against Gregor
too: the test checks that first) or, for the 3-node test, with the cluster
that does not form (tests/cluster/localcluster.py's ClusterNotFormed), for
the two 3-node tests.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_tools_metadata_quorum.py \\
        -q -p no:cacheprovider [--broker=kafka]
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kafka_tools_run
from conftest import GREGOR_BIN, GregorGap, admin_client, broker_kind, gregor_gap

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "cluster"))
import localcluster  # noqa: E402  (the 3-node cluster, Gregor's or Kafka's)

SHIM = str(REPO / "bin" / "kafka-metadata-quorum.sh")
QUORUM_CLASS = "org.apache.kafka.tools.MetadataQuorumCommand"
RUN_TIMEOUT = 180      # one tool run (a JVM on a busy machine)
SANDWICH_TRIES = 4     # Kafka's runs around ours until two agree

NO_DESCRIBE_QUORUM = ("org.apache.kafka.common.errors.UnsupportedVersionException: "
                      "The node does not support DESCRIBE_QUORUM")
GAP = "DescribeQuorum (API key 55) is not served yet (issue 11)"
CLUSTER_GAP = "no multi-node cluster yet: the 3 nodes do not form a quorum (issue 11)"

# Kafka only: no NoOpRecord every 500 ms, so the metadata log stands still.
KAFKA_QUIET_LOG = {"metadata.max.idle.interval.ms": "0"}

TS_COLUMNS = (4, 5)  # LastFetchTimestamp, LastCaughtUpTimestamp


# --------------------------------------------------------------------------
# running the tools
# --------------------------------------------------------------------------

def run_ours(*args):
    return subprocess.run([GREGOR_BIN, "metadata-quorum"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


def run_shim(*args):
    return subprocess.run([SHIM] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=dict(os.environ, GREGOR_BIN=GREGOR_BIN))


def run_kafka(*args):
    return kafka_tools_run.run(QUORUM_CLASS, [str(a) for a in args], timeout=RUN_TIMEOUT)


def show(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] ")


def kafka_error_line(r):
    """The first line Kafka's tool prints that is not one of its client's log
    lines: the exception's toString() (a stack trace follows)."""
    for line in r.stderr.splitlines():
        if line and not _LOG_LINE.match(line):
            return line
    return ""


def without_log_lines(stderr):
    """Kafka's tool's stderr without its admin client's log lines (the
    client starts connecting before the command line's last checks, and
    says so or not depending on timing)."""
    return "".join(line for line in stderr.splitlines(True) if not _LOG_LINE.match(line))


@pytest.fixture
def measured_time():
    """measured_time(text): a timing worth reading, on stderr (pytest -s)."""
    return lambda text: sys.stderr.write("measured: %s\n" % text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# comparing outputs
# --------------------------------------------------------------------------

def status_norm(text, lag_time=False):
    """--status as is; with lag_time, MaxFollowerLagTimeMs's digits masked
    (it is a difference of two followers' fetch times on several nodes)."""
    if lag_time:
        text = re.sub(r"^(MaxFollowerLagTimeMs:   )-?\d+$", r"\1<ms>", text, flags=re.M)
    return text


def table_norm(text, human):
    """--replication's table with its timestamp cells masked: every line
    must be 7 cells each followed by a tab; a timestamp cell must hold a
    timestamp (or "N ms ago", or -1) padded with spaces to exactly the
    column's width, the width of its longest cell or header, as Kafka's
    ToolsUtils.prettyPrintTable pads it. Returns the lines with those cells
    replaced by <ts>, the other cells untouched (padding included)."""
    assert text.endswith("\n"), repr(text)
    rows = [line.split("\t") for line in text[:-1].split("\n")]
    for r in rows:
        assert len(r) == 8 and r[7] == "", repr(text)
    pattern = re.compile(r"^(-1|\d+ ms ago)$" if human else r"^(-1|\d{13})$")
    out = [list(r) for r in rows]
    for c in TS_COLUMNS:
        width = max(len(r[c].rstrip(" ")) for r in rows)
        for i, r in enumerate(rows):
            cell = r[c].rstrip(" ")
            assert len(r[c]) == width, (c, repr(r[c]), width, text)
            if i == 0:
                assert cell in ("LastFetchTimestamp", "LastCaughtUpTimestamp"), text
            else:
                assert pattern.match(cell), (repr(cell), text)
                out[i][c] = "<ts>"
    return ["\t".join(r) for r in out]


def same_as_kafka(args, norm):
    """Kafka's tool, ours, Kafka's again, until Kafka's two runs agree after
    norm (the metadata log may move while the tools run); then ours must
    print what they print, byte for byte after norm, with exit 0."""
    for _ in range(SANDWICH_TRIES):
        k1 = run_kafka(*args)
        g = run_ours(*args)
        k2 = run_kafka(*args)
        assert k1.returncode == 0 and k2.returncode == 0, show(k1) + show(k2)
        if norm(k1.stdout) == norm(k2.stdout):
            break
    else:
        pytest.fail("Kafka's tool printed something else each time:\n%s\n%s"
                    % (k1.stdout, k2.stdout))
    assert g.returncode == 0 and g.stderr == "", show(g)
    assert norm(g.stdout) == norm(k1.stdout), "ours:\n%s\nKafka's:\n%s" % (g.stdout, k1.stdout)
    return g


def check_gregor_gap(args):
    """On Gregor: the error our tool prints, checked against the first line
    of Kafka's tool's own error on the same broker; raises GregorGap(it) when
    it is the DescribeQuorum gap (anything else fails the test)."""
    g = run_ours(*args)
    if g.returncode == 0:
        return  # served: the comparison decides
    k = run_kafka(*args)
    assert k.returncode == 1, show(k)
    assert g.returncode == 1 and g.stdout == "", show(g)
    assert g.stderr == kafka_error_line(k) + "\n", show(g) + show(k)
    if g.stderr == NO_DESCRIBE_QUORUM + "\n":
        raise GregorGap(NO_DESCRIBE_QUORUM)


# --------------------------------------------------------------------------
# a single node: the broker fixture
# --------------------------------------------------------------------------

@pytest.fixture
def node(start_broker, request):
    if broker_kind(request.config) == "kafka":
        return start_broker(**{k.replace(".", "__"): v for k, v in KAFKA_QUIET_LOG.items()})
    return start_broker()


@pytest.mark.timeout(900)
def test_describe_status_same_as_kafka(node, request):
    args = ["--bootstrap-server", node.bootstrap, "describe", "--status"]
    if broker_kind(request.config) == "gregor":
        check_gregor_gap(args)
    g = same_as_kafka(args, status_norm)
    lines = g.stdout.split("\n")
    assert lines[1] == "LeaderId:               1", g.stdout
    assert lines[4:6] == ["MaxFollowerLag:         0", "MaxFollowerLagTimeMs:   0"], g.stdout
    # one voter; its endpoint is its CONTROLLER listener (Kafka's node has one;
    # a Gregor node without a controller listener would list none)
    assert re.match(r'^CurrentVoters:          \[\{"id": 1(, "endpoints": '
                    r'\["[A-Z_]+://127\.0\.0\.1:\d+"\])?\}\]$', lines[6]), g.stdout
    assert lines[7:] == ["CurrentObservers:       []", ""], g.stdout


@pytest.mark.timeout(900)
@pytest.mark.parametrize("human", [False, True], ids=["timestamps", "human-readable"])
def test_describe_replication_same_as_kafka(node, request, human):
    args = ["--bootstrap-server", node.bootstrap, "describe", "--replication"]
    if human:
        args.append("--human-readable")
    if broker_kind(request.config) == "gregor":
        check_gregor_gap(args)
    g = same_as_kafka(args, lambda t: table_norm(t, human))
    rows = [line.split("\t") for line in g.stdout.splitlines()]
    assert rows[0][:7] == ["NodeId", "DirectoryId ".ljust(22), "LogEndOffset", "Lag",
                           "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"], g.stdout
    assert len(rows) == 2 and rows[1][0].strip() == "1" and rows[1][6] == "Leader", g.stdout
    assert rows[1][3].strip() == "0", g.stdout


@pytest.mark.timeout(300)
def test_shim_prints_what_gregor_prints(node):
    """The shim is the binary: same bytes, same exit status, on either
    broker (on Gregor both print the DescribeQuorum gap's line)."""
    for args in (["--bootstrap-server", node.bootstrap, "describe", "--status"],
                 ["--bootstrap-server", node.bootstrap, "describe", "--replication", "--human-readable"],
                 ["--help"]):
        s = run_shim(*args)
        g = run_ours(*args)
        assert s.returncode == g.returncode, show(s) + show(g)
        assert s.stderr == g.stderr, show(s) + show(g)
        if "--human-readable" in args and s.returncode == 0:
            assert table_norm(s.stdout, True) == table_norm(g.stdout, True), show(s) + show(g)
        else:
            assert s.stdout == g.stdout, show(s) + show(g)
    assert run_shim("--help").stdout.startswith("usage: kafka-metadata-quorum [-h]")


# --------------------------------------------------------------------------
# command lines: no broker needed (nothing is asked of one)
# --------------------------------------------------------------------------

NOWHERE = "127.0.0.1:%d" % free_port()
BAD_COMMAND_LINES = [
    [],
    ["--bootstrap-server", NOWHERE],
    ["describe", "--status"],
    ["--bootstrap-server", NOWHERE, "describe"],
    ["--bootstrap-server", NOWHERE, "describe", "--status", "--replication"],
    ["--bootstrap-server", NOWHERE, "describe", "--status", "--human-readable"],
    ["--bootstrap-server", NOWHERE, "--bootstrap-controller", NOWHERE, "describe", "--status"],
    ["--bootstrap-server", NOWHERE, "foo"],
    ["--bootstrap-server", NOWHERE, "--command-config", "/nonexistent/x.properties", "describe",
     "--status"],
    ["--bootstrap-server", NOWHERE, "describe", "--bogus"],
    ["--bootstrap-server", NOWHERE, "describe", "extra", "--status"],
    ["describe", "--status", "--bootstrap-server", NOWHERE],
    ["--bootstrap", NOWHERE, "describe", "--status"],
    ["--bootstrap-server"],
    ["--bootstrap-server", NOWHERE, "--command-config"],
    ["--bootstrap-server", NOWHERE, "remove-controller"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "-d", "x"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "-i", "x", "-d", "abc"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "-i", "-1", "-d", "abc"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "-i", "5", "-d", "abc"],
    ["--bootstrap-server", NOWHERE, "add-controller"],
    ["--bootstrap-server", NOWHERE, "add-controller", "--bogus"],
    # argparse4j's ways: abbreviations, "Did you mean", wrapping
    ["describe", "--bogus"],
    ["--bootstrap-server", NOWHERE, "describ", "--stat", "--rep"],
    ["--bootstrap-server", NOWHERE, "describe", "--status=1"],
    ["--bootstrap-server", NOWHERE, "describe", "--xy"],
    ["--bootstrap-server", NOWHERE, "describe", "-status"],
    ["--bootstrap-server", NOWHERE, "describe", "--statuss"],
    ["--bootstrap-server", NOWHERE, "descrbe"],
    ["--bootstrap-server", NOWHERE, "remove-controler"],
    ["--bootstrap-servr", NOWHERE, "describe"],
    ["--bootstrap-server", NOWHERE, "describe", "q:r", "/tmp/a/b", "-1", "foo"],
    ["--bootstrap-server", NOWHERE, "describe", "x" * 90],
]
HELP_COMMAND_LINES = [
    ["--help"],
    ["-h"],
    ["--bootstrap-server", NOWHERE, "describe", "--help"],
    ["--bootstrap-server", NOWHERE, "describe", "-h", "--status"],
    ["--bootstrap-server", NOWHERE, "add-controller", "-h"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "--help"],
    ["--bootstrap-server", NOWHERE, "remove-controller", "-i", "4", "-d",
     "AAAAAAAAAAAAAAAAAAAAAA", "--dry-run"],
    ["--bootstrap-controller", NOWHERE, "remove-controller", "-i", "4", "-d",
     "MvDxzVmcRsaTz33bUuRU6A", "--dry-run", "--unregister"],
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("args", BAD_COMMAND_LINES + HELP_COMMAND_LINES,
                         ids=lambda a: " ".join(a).replace(NOWHERE, "H:P") or "no-arguments")
def test_command_line_same_as_kafka(args):
    k = run_kafka(*args)
    g = run_ours(*args)
    assert (g.returncode, g.stdout, g.stderr) == (k.returncode, k.stdout,
                                                  without_log_lines(k.stderr)), \
        "ours:\n%s\nKafka's:\n%s" % (show(g), show(k))
    assert k.returncode == (0 if args in HELP_COMMAND_LINES else 1), show(k)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("args", [
    ["--bootstrap-server", "foo", "describe", "--status"],
    ["--bootstrap-server", "foo:x", "describe"],
    ["--bootstrap-controller", ",", "describe", "--replication"],
    ["--bootstrap-server", ",", "add-controller"],
], ids=["no-port", "bad-port-before-describe-checks", "empty-controllers", "empty-servers"])
def test_bad_bootstrap_list_as_kafka(args):
    """A list Kafka's admin client refuses when the tool creates it (before
    the describe sub-command's own checks): Kafka's tool prints the
    exception's message and a stack trace; ours the message."""
    k = run_kafka(*args)
    g = run_ours(*args)
    assert k.returncode == 1 and k.stdout == "", show(k)
    assert (g.returncode, g.stdout, g.stderr) == (1, "", kafka_error_line(k) + "\n"), \
        "ours:\n%s\nKafka's:\n%s" % (show(g), show(k))


@pytest.mark.timeout(60)
def test_voter_changes_refused():
    g = run_ours("--bootstrap-server", NOWHERE, "remove-controller", "-i", "4", "-d",
                 "AAAAAAAAAAAAAAAAAAAAAA")
    assert g.returncode == 1 and g.stdout == "", show(g)
    assert g.stderr.startswith("gregor metadata-quorum: remove-controller is not supported: "
                               "Gregor's controller quorum is static"), show(g)
    assert "\n" not in g.stderr.rstrip("\n"), show(g)
    cfg = Path(os.environ.get("TMPDIR", "/tmp")) / ("mq-controller-%d.properties" % os.getpid())
    cfg.write_text("node.id=4\nprocess.roles=controller\n")
    try:
        g = run_ours("--bootstrap-server", NOWHERE, "--command-config", cfg, "add-controller")
    finally:
        cfg.unlink()
    assert g.returncode == 1 and g.stdout == "", show(g)
    assert g.stderr.startswith("gregor metadata-quorum: add-controller is not supported: "), show(g)


# --------------------------------------------------------------------------
# an unreachable node
# --------------------------------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("connect,what,call", [
    ("--bootstrap-server", "--status", "listNodes"),
    ("--bootstrap-controller", "--replication", "describeMetadataQuorum"),
])
def test_unreachable_times_out_as_kafka(tmp_path, connect, what, call):
    cfg = tmp_path / "admin.properties"
    cfg.write_text("default.api.timeout.ms=3000\nrequest.timeout.ms=2000\n")
    args = [connect, "127.0.0.1:%d" % free_port(), "--command-config", cfg, "describe", what]
    expected = ("org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node "
                "assignment. Call: %s" % call)
    k = run_kafka(*args)
    assert k.returncode == 1 and kafka_error_line(k) == expected, show(k)
    t0 = time.monotonic()
    g = run_ours(*args)
    took = time.monotonic() - t0
    assert (g.returncode, g.stdout, g.stderr) == (1, "", expected + "\n"), show(g)
    assert 2.5 <= took < 20, took


# --------------------------------------------------------------------------
# three nodes
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three(tmp_path_factory, request):
    """The module's 3-node cluster (combined nodes 1-3: three voters, no
    observers), Gregor's or Kafka's after --broker. Started by the first
    test that asks (three_nodes), in the test, so that on Gregor the cluster
    that does not form is that test's expected failure; killed at the end."""
    holder = {"dir": tmp_path_factory.mktemp("three"), "kind": broker_kind(request.config),
              "cluster": None, "error": None}
    yield holder
    if holder["cluster"] is not None:
        holder["cluster"].kill_all()


def three_nodes(holder):
    if holder["cluster"] is None:
        kind = holder["kind"]
        c = localcluster.Cluster(str(holder["dir"]), kind=kind, nodes=3,
                                 overrides=KAFKA_QUIET_LOG if kind == "kafka" else {},
                                 heap="512m", jvm_opts=["-XX:TieredStopAtLevel=1"])
        holder["cluster"] = c
        try:
            c.up()
        except localcluster.ClusterNotFormed as e:
            holder["error"] = e
    e = holder["error"]
    if e is not None:
        if holder["kind"] == "gregor":
            raise GregorGap("ClusterNotFormed: %s" % str(e).splitlines()[0])
        raise e
    return holder["cluster"]


@pytest.mark.timeout(1200)
def test_three_voters_same_as_kafka(three, request):
    """--status and --replication [--human-readable], through the brokers
    and through the controllers, print Kafka's bytes."""
    kind = broker_kind(request.config)
    c = three_nodes(three)
    brokers = c.bootstrap
    controllers = ",".join("127.0.0.1:%d" % n.controller_port for n in c.controllers())
    for connect in (["--bootstrap-server", brokers], ["--bootstrap-controller", controllers]):
        args = connect + ["describe", "--status"]
        if kind == "gregor":
            check_gregor_gap(args)
        g = same_as_kafka(args, lambda t: status_norm(t, lag_time=True))
        voters = re.search(r"^CurrentVoters:          (.*)$", g.stdout, re.M).group(1)
        assert voters == "[%s]" % ", ".join(
            '{"id": %d, "endpoints": ["CONTROLLER://127.0.0.1:%d"]}' % (n.node_id, n.controller_port)
            for n in c.controllers()), g.stdout
        assert "\nCurrentObservers:       []\n" in g.stdout, g.stdout
        for human in (False, True):
            args = connect + ["describe", "--replication"] + (["--human-readable"] if human else [])
            g = same_as_kafka(args, lambda t, h=human: table_norm(t, h))
            rows = [line.split("\t") for line in g.stdout.splitlines()[1:]]
            assert [r[6].strip() for r in rows] == ["Leader", "Follower", "Follower"], g.stdout
            assert sorted(int(r[0]) for r in rows) == [1, 2, 3], g.stdout


def cluster_brokers(bootstrap, json_output=False):
    r = subprocess.run([GREGOR_BIN, "cluster", "brokers", "--bootstrap-server", bootstrap]
                       + (["--output", "json"] if json_output else []),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0 and r.stderr == "", show(r)
    if json_output:
        return json.loads(r.stdout)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "HOST", "PORT", "FENCED", "CONTROLLER"], r.stdout
    return {int(f[0]): f[3] for f in (line.split() for line in lines[1:])}


def metadata_brokers(bootstrap):
    return sorted(admin_client(bootstrap).list_topics(timeout=10).brokers)


@pytest.mark.timeout(600)
def test_cluster_brokers_shows_fenced(three, measured_time):
    """`gregor cluster brokers` with DescribeCluster v2: every broker and its
    fenced state. kill -9 node 3: within broker.session.timeout.ms (Kafka's
    default 9 s) the controller fences it; `gregor cluster` still lists it,
    as fenced, while Metadata no longer offers it. Restarted, it is
    unfenced. (Gregor serves DescribeCluster 0-1: there the column is left
    out; test_tools_admin.py checks that output.)"""
    c = three_nodes(three)
    survivors = c.bootstrap_of([1, 2])
    assert cluster_brokers(survivors) == {1: "no", 2: "no", 3: "no"}
    doc = cluster_brokers(survivors, json_output=True)
    assert [(b["id"], b["fenced"]) for b in doc["brokers"]] == [(1, False), (2, False), (3, False)], doc

    c.kill9(3)
    t0 = time.monotonic()
    deadline = t0 + 60
    while cluster_brokers(survivors).get(3) != "yes":
        assert time.monotonic() < deadline, cluster_brokers(survivors)
        time.sleep(0.5)
    measured_time("node 3 fenced %.1f s after kill -9" % (time.monotonic() - t0))
    assert cluster_brokers(survivors) == {1: "no", 2: "no", 3: "yes"}
    deadline = time.monotonic() + 10  # every broker applies the fencing in its turn
    while metadata_brokers(survivors) != [1, 2] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metadata_brokers(survivors) == [1, 2]

    c.start_node(3)
    deadline = time.monotonic() + 120
    while cluster_brokers(survivors) != {1: "no", 2: "no", 3: "no"}:
        assert time.monotonic() < deadline, cluster_brokers(survivors)
        time.sleep(0.5)
    # Each broker applies the unfencing as it follows the metadata log: the
    # one answering Metadata may be a moment behind the one that answered
    # DescribeCluster (on Kafka too).
    deadline = time.monotonic() + 10
    while metadata_brokers(survivors) != [1, 2, 3] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metadata_brokers(survivors) == [1, 2, 3]
