"""
`gregor reassign-partitions`, its shim bin/kafka-reassign-partitions.sh, and
Kafka 4.4's own ReassignPartitionsCommand, against one real broker: Gregor,
or Apache Kafka with --broker=kafka. The tests that take a `tool` parameter
run our tool and Kafka's on whichever broker with the same expected bytes,
so each broker is checked by Kafka's own tool and each tool by both brokers.

On one node every replica is on the one broker, so what is checked here is
the answering side of AlterPartitionReassignments (API 45) and
ListPartitionReassignments (API 46) for reassignments that change nothing,
and the tool's words; moving replicas between brokers is for tests/cluster.

Proves:
- --generate prints Kafka's two JSON documents: the current assignment of
  the topics of the file (with each replica's log directory, which Kafka
  4.4 asks with DescribeLogDirs), and a valid proposal over the brokers
  listed (Kafka 4.4 places replicas with its controller's
  StripedReplicaPlacer from a random offset: its shape and validity are
  checked; on one broker there is only one proposal, compared byte for
  byte);
- --generate's errors: an unknown topic, a broker list that is not numbers
  or names a broker twice, no usable broker listed;
- --execute of the current assignment prints the rollback JSON and
  "Successfully started partition reassignments for ...", and the
  reassignment completes at once: --verify says "completed", --list finds
  none, --cancel has nothing to cancel; with
  --disallow-replication-factor-change too (AlterPartitionReassignments v1);
- --verify's "There is no active reassignment of partition t-0, but replica
  set is 1 rather than 2." for a partition not where the file says, also
  for an unknown topic (an empty replica set); --verify's and --cancel's
  throttle-clearing lines in Kafka's HashSet order (both brokers take the
  deletions);
- a reassignment to a broker that does not exist is Kafka's "Error: Unknown
  broker id 5", an unknown topic or partition Kafka's exception, a bad file
  Kafka's sentences; all exit 1 (Kafka prints a stack trace after the
  "Error:" line; ours does not);
- --throttle: Kafka's warning and "The inter-broker throttle limit was set
  to N B/s" on stdout; on Gregor, which does not throttle replication, our
  tool says on stderr that the broker refused the throttle configs and goes
  on; Kafka's tool fails there (a gregor_gap test);
- flag errors are Kafka's sentences in Kafka's order of checks, exit 1;
- the shim takes Kafka's flags and prints what `gregor` prints.

Run:
    GREGOR_BIN=build-reassign/gregor /usr/bin/python3 -m pytest \\
        tests/integration/test_tools_reassign.py -q -p no:cacheprovider [--broker=kafka]
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import kafka_tools_run
from conftest import GREGOR_BIN, GregorGap, admin_client, create_topic, gregor_gap

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHIM = str(REPO / "bin" / "kafka-reassign-partitions.sh")
CLASS = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
RUN_TIMEOUT = 180   # one tool run (a JVM on a busy machine)
PREFIX = "gregor reassign-partitions: "
TOOLS = ["gregor", "kafka"]
UTOPE = "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: "
ROLLBACK = "Save this to use as the --reassignment-json-file option during rollback\n"
WARNING = ("Warning: You must run --verify periodically, until the reassignment completes, "
           "to ensure the throttle is removed.\n")


def gregor_refuses_throttles(r):
    """Kafka's tool failed where Gregor refused a throttle config: dynamic
    broker configs, or the topic-level throttled-replicas lists."""
    errors = [l for l in r.stdout.splitlines() if l.startswith("Error: ")]
    return r.returncode == 1 and len(errors) == 1 and \
        errors[0].startswith("Error: org.apache.kafka.common.errors.Invalid") and \
        ("Dynamic broker configs are not supported yet" in errors[0] or "not supported by Gregor" in errors[0])


def run_tool(tool, *args):
    args = [str(a) for a in args]
    if tool == "kafka":
        return kafka_tools_run.run(CLASS, args, timeout=RUN_TIMEOUT)
    return subprocess.run([GREGOR_BIN, "reassign-partitions"] + args, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


def show(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


def flag_message(tool, r):
    """A flag error: Kafka's tool prints the sentence as the first line of
    stderr, then its usage (or, for what joptsimple refuses, the uncaught
    exception's line and stack trace); ours prints one prefixed line."""
    if tool == "kafka":
        first = r.stderr.splitlines()[0] if r.stderr else ""
        return re.sub(r'^Exception in thread "main" [\w.$]+: ', "", first)
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, show(r)
    assert r.stderr.startswith(PREFIX), show(r)
    return r.stderr[len(PREFIX):-1]


def error_line(tool, r):
    """A failure: Kafka's tool prints "Error: <message>" on stdout, then a
    stack trace; ours prints that line alone."""
    assert r.returncode == 1, show(r)
    if tool == "kafka":
        return r.stdout.splitlines()[0] if r.stdout else ""
    assert r.stdout.count("\n") == 1, show(r)
    return r.stdout[:-1]


def reassignment(parts, version=1):
    """Kafka's reassignment JSON for [(topic, partition, replicas)]."""
    doc = {"partitions": [{"topic": t, "partition": p, "replicas": r} for t, p, r in parts]}
    if version is not None:
        doc["version"] = version
    return json.dumps(doc)


def kafka_json(parts, log_dir="any"):
    """What Kafka's tool prints for [(topic, partition, replicas)]: Jackson's
    compact form, sorted by topic then partition, every log dir log_dir
    (a current assignment: the broker's log directory, which Kafka 4.4
    asks with DescribeLogDirs; a proposal: "any")."""
    return json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r, "log_dirs": [log_dir] * len(r)}
        for t, p, r in sorted(parts)]}, separators=(",", ":"))


def broker_ids(bootstrap):
    return sorted(admin_client(bootstrap).list_topics(timeout=10).brokers)


@pytest.fixture
def topics(broker):
    create_topic(broker.bootstrap, "move-a", partitions=3)
    create_topic(broker.bootstrap, "move-b", partitions=1)
    return broker.bootstrap


# ---------------------------------------------------------------- --generate

@pytest.mark.parametrize("tool", TOOLS)
def test_generate_one_broker(broker, topics, tool, tmp_path):
    (node,) = broker_ids(topics)
    f = tmp_path / "topics.json"
    f.write_text('{"topics":[{"topic":"move-b"},{"topic":"move-a"}],"version":1}')
    r = run_tool(tool, "--bootstrap-server", topics, "--generate", "--topics-to-move-json-file", f,
                 "--broker-list", node)
    assert r.returncode == 0, show(r)
    current = [("move-a", p, [node]) for p in range(3)] + [("move-b", 0, [node])]
    assert r.stdout == ("Current partition replica assignment\n%s\n\n"
                        "Proposed partition reassignment configuration\n%s\n"
                        % (kafka_json(current, str(broker.data_dir)), kafka_json(current))), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_generate_proposal_shape(topics, tool, tmp_path):
    """Brokers listed that the cluster does not have are left out (Kafka's
    describeCluster filter); the proposal is valid JSON of Kafka's shape.
    (Kafka 4.4 places replicas as its controller does, with
    StripedReplicaPlacer, from a random offset.)"""
    (node,) = broker_ids(topics)
    f = tmp_path / "topics.json"
    f.write_text('{"topics":[{"topic":"move-a"}]}')
    r = run_tool(tool, "--bootstrap-server", topics, "--generate", "--topics-to-move-json-file", f,
                 "--broker-list", "%d,%d" % (node, node + 100), "--disable-rack-aware")
    assert r.returncode == 0, show(r)
    lines = r.stdout.split("\n")
    assert lines[0] == "Current partition replica assignment" and lines[2] == "", show(r)
    assert lines[3] == "Proposed partition reassignment configuration" and lines[5:] == [""], show(r)
    proposed = json.loads(lines[4])
    assert list(proposed) == ["version", "partitions"] and proposed["version"] == 1, show(r)
    assert [(p["topic"], p["partition"]) for p in proposed["partitions"]] == \
        [("move-a", 0), ("move-a", 1), ("move-a", 2)], show(r)
    for p in proposed["partitions"]:
        assert list(p) == ["topic", "partition", "replicas", "log_dirs"], show(r)
        assert p["replicas"] == [node] and p["log_dirs"] == ["any"], show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_generate_errors(topics, tool, tmp_path):
    (node,) = broker_ids(topics)
    good = tmp_path / "topics.json"
    good.write_text('{"topics":[{"topic":"move-a"}],"version":1}')
    nope = tmp_path / "nope.json"
    nope.write_text('{"topics":[{"topic":"nope"}]}')
    twice = tmp_path / "twice.json"
    twice.write_text('{"topics":[{"topic":"move-a"},{"topic":"move-a"}]}')
    v2 = tmp_path / "v2.json"
    v2.write_text('{"topics":[{"topic":"move-a"}],"version":2}')
    hello = tmp_path / "hello.json"
    hello.write_text("hello")
    blank = tmp_path / "blank.json"
    blank.write_text(" \n")
    for f, brokers, line in [
        (nope, node, "Error: " + UTOPE + "Topic nope not found."),
        (good, "%d,x" % node, 'Error: For input string: "x"'),
        (good, "%d,%d" % (node, node), "Error: Broker list contains duplicate entries: [%d]" % node),
        (good, node + 100, "Error: All brokers are currently fenced, or have all their log directories cordoned."),
        (twice, node, "Error: List of topics to reassign contains duplicate entries: [move-a]"),
        (v2, node, "Error: Not supported version field value 2"),
        (hello, node, "Error: The input string is not a valid JSON"),
        (blank, node, "Error: Expected JSON object, received "),
    ]:
        r = run_tool(tool, "--bootstrap-server", topics, "--generate", "--topics-to-move-json-file", f,
                     "--broker-list", brokers)
        assert error_line(tool, r) == line, "%s %s\n%s" % (f.name, brokers, show(r))


# ---------------------------------------------------------------- --execute, --verify, --list, --cancel

@pytest.mark.parametrize("tool", TOOLS)
def test_execute_current_assignment(broker, topics, tool, tmp_path):
    """Moving partitions to where they are: started, and at once completed."""
    (node,) = broker_ids(topics)
    parts = [("move-b", 0, [node]), ("move-a", 2, [node]), ("move-a", 0, [node])]
    f = tmp_path / "plan.json"
    f.write_text(reassignment(parts))
    r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", f)
    assert r.returncode == 0, show(r)
    assert r.stdout == ("Current partition replica assignment\n\n%s\n\n" % kafka_json(parts, str(broker.data_dir)) +
                        ROLLBACK +
                        "Successfully started partition reassignments for move-a-0,move-a-2,move-b-0\n"), \
        show(r)
    r = run_tool(tool, "--bootstrap-server", topics, "--verify", "--reassignment-json-file", f,
                 "--preserve-throttles")
    assert r.returncode == 0, show(r)
    assert r.stdout == ("Status of partition reassignment:\n"
                        "Reassignment of partition move-a-0 is completed.\n"
                        "Reassignment of partition move-a-2 is completed.\n"
                        "Reassignment of partition move-b-0 is completed.\n\n"), show(r)
    r = run_tool(tool, "--bootstrap-server", topics, "--list")
    assert (r.returncode, r.stdout) == (0, "No partition reassignments found.\n"), show(r)
    r = run_tool(tool, "--bootstrap-server", topics, "--cancel", "--reassignment-json-file", f,
                 "--preserve-throttles")
    assert r.returncode == 0, show(r)
    # Kafka's tool prints the second sentence without a newline
    assert r.stdout == ("None of the specified partition reassignments are active.\n"
                        "None of the specified partition moves are active."), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_execute_one_partition_disallowing_rf_change(broker, topics, tool, tmp_path):
    (node,) = broker_ids(topics)
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-a", 1, [node])], version=None))
    r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", f,
                 "--disallow-replication-factor-change")
    assert r.returncode == 0, show(r)
    assert r.stdout == ("Current partition replica assignment\n\n%s\n\n"
                        % kafka_json([("move-a", 1, [node])], str(broker.data_dir)) +
                        ROLLBACK + "Successfully started partition reassignment for move-a-1\n"), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_verify_replicas_elsewhere(topics, tool, tmp_path):
    (node,) = broker_ids(topics)
    other = node + 1
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-a", 1, [other, node]), ("nope", 0, [node]), ("move-b", 0, [node])]))
    r = run_tool(tool, "--bootstrap-server", topics, "--verify", "--reassignment-json-file", f,
                 "--preserve-throttles")
    assert r.returncode == 0, show(r)
    assert r.stdout == (
        "Status of partition reassignment:\n"
        "There is no active reassignment of partition move-a-1, but replica set is %d rather than %d,%d.\n"
        "Reassignment of partition move-b-0 is completed.\n"
        "There is no active reassignment of partition nope-0, but replica set is  rather than %d.\n\n"
        % (node, other, node, node)), show(r)


def clearing_lines(brokers, topics):
    return ("Clearing broker-level throttles on broker%s %s\n" % ("" if len(brokers) == 1 else "s",
                                                                  ",".join(map(str, brokers))) +
            "Clearing topic-level throttles on topic%s %s\n" % ("" if len(topics) == 1 else "s",
                                                                ",".join(topics)))


def test_clearing_throttles_on_an_unknown_broker(topics, tmp_path):
    """Our tool: a broker's throttle configs go to that broker, as Kafka's
    admin client sends them; a broker the cluster does not have is Kafka's
    failure, at once (Kafka's tool waits 60 s for the node first, so it is
    not run here)."""
    (node,) = broker_ids(topics)
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-a", 1, [7])]))
    r = run_tool("gregor", "--bootstrap-server", topics, "--verify", "--reassignment-json-file", f)
    assert r.returncode == 1, show(r)
    assert r.stdout == (
        "Status of partition reassignment:\n"
        "There is no active reassignment of partition move-a-1, but replica set is %d rather than 7.\n\n"
        "Clearing broker-level throttles on brokers %d,7\n"
        "Error: org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. "
        "Call: incrementalAlterConfigs\n" % (node, node)), show(r)


def check_throttle_notice(broker, r):
    """Our tool on Gregor, which does not throttle replication: a stderr
    line for each refused resource; on Kafka the throttle configs are taken
    and stderr is empty."""
    if broker.kind == "kafka":
        assert r.stderr == "", show(r)
        return
    lines = r.stderr.splitlines()
    assert lines, show(r)
    for line in lines:
        assert line.startswith(PREFIX) and "throttling is not supported, going on without it" in line, show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_verify_and_cancel_clear_throttles(broker, topics, tool, tmp_path):
    """Kafka's lines, the topics in the order of Kafka's HashSet; the
    deletions of the throttle configs are taken by both brokers (Gregor has
    none to delete). (Every broker named must exist: Kafka's admin client
    sends a broker's configs to that broker.)"""
    (node,) = broker_ids(topics)
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-b", 0, [node]), ("move-a", 0, [node]), ("move-a", 1, [node])]))
    r = run_tool(tool, "--bootstrap-server", topics, "--verify", "--reassignment-json-file", f)
    assert r.returncode == 0, show(r)
    brokers = [node]
    status = ("Status of partition reassignment:\n"
              "Reassignment of partition move-a-0 is completed.\n"
              "Reassignment of partition move-a-1 is completed.\n"
              "Reassignment of partition move-b-0 is completed.\n\n")
    # a HashSet<String>: "move-b" falls in bucket 5 of 16, "move-a" in bucket 6
    topic_order = ["move-b", "move-a"]
    assert r.stdout == status + clearing_lines(brokers, topic_order), show(r)
    if tool == "gregor":
        assert r.stderr == "", show(r)
    r = run_tool(tool, "--bootstrap-server", topics, "--cancel", "--reassignment-json-file", f)
    assert r.returncode == 0, show(r)
    assert r.stdout == ("None of the specified partition reassignments are active.\n"
                        "None of the specified partition moves are active." +
                        clearing_lines(brokers, topic_order)), show(r)
    if tool == "gregor":
        assert r.stderr == "", show(r)


def throttled_execute(tool, bootstrap, node, tmp_path):
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-a", 2, [node])]))
    return run_tool(tool, "--bootstrap-server", bootstrap, "--execute", "--reassignment-json-file", f,
                    "--throttle", 1048576)


def throttled_stdout(broker, node):
    return ("Current partition replica assignment\n\n%s\n\n"
            % kafka_json([("move-a", 2, [node])], str(broker.data_dir)) +
            ROLLBACK + WARNING + "The inter-broker throttle limit was set to 1048576 B/s\n"
            "Successfully started partition reassignment for move-a-2\n")


def test_execute_with_throttle(broker, topics, tmp_path):
    """Our tool: Kafka's lines; on Gregor a notice on stderr that the
    throttle configs were refused, and the reassignment goes on."""
    (node,) = broker_ids(topics)
    r = throttled_execute("gregor", topics, node, tmp_path)
    assert (r.returncode, r.stdout) == (0, throttled_stdout(broker, node)), show(r)
    check_throttle_notice(broker, r)


@gregor_gap("Kafka's tool sets the throttle as topic and broker configs, which Gregor refuses: "
            "replication throttling is not supported yet")
def test_kafkas_tool_execute_with_throttle(broker, topics, tmp_path):
    (node,) = broker_ids(topics)
    r = throttled_execute("kafka", topics, node, tmp_path)
    if gregor_refuses_throttles(r):
        raise GregorGap(show(r))
    assert (r.returncode, r.stdout) == (0, throttled_stdout(broker, node)), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_execute_errors(topics, tool, tmp_path):
    (node,) = broker_ids(topics)
    f = tmp_path / "plan.json"
    for parts, line in [
        ([("move-a", 0, [node, 5])], "Error: Unknown broker id 5"),
        ([("nope", 0, [node])], "Error: " + UTOPE + "Topic nope not found."),
        ([("move-a", 7, [node])], "Error: " + UTOPE + "Unable to find partition: move-a-7"),
        ([], "Error: Partition reassignment list cannot be empty"),
        ([("move-a", 0, [])], "Error: Partition replica list cannot be empty"),
        ([("move-a", 0, [node]), ("move-a", 0, [node])],
         "Error: Partition reassignment contains duplicate topic partitions: move-a-0"),
        ([("move-a", 0, [node, node]), ("move-b", 0, [node])],
         "Error: Partition replica lists may not contain duplicate entries: move-a-0 contains multiple "
         "entries for %d" % node),
    ]:
        f.write_text(reassignment(parts))
        r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", f)
        assert error_line(tool, r) == line, "%s\n%s" % (parts, show(r))
    for text, line in [
        ("", "Error: The input string shouldn't be empty"),
        (" \n", "Error: Expected JSON object, received "),   # Jackson's MissingNode
        ('{"version":2,"partitions":[]}', "Error: Not supported version field value 2"),
        ('[1]', "Error: Expected JSON object, received [1]"),
        ('{"partitions":{"topic":"t"}}', 'Error: Expected JSON array, received {"topic":"t"}'),
        ('{"partitions":[{"topic":"t","partition":0}]}', "Error: No such field exists: `replicas`"),
        ('{"partitions":[{"topic":"t","partition":"0","replicas":[1]}]}',
         'Error: Expected `Integer` value, received "0"'),
        ('{"partitions":[{"topic":"move-a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}',
         "Error: Size of replicas list [1, 2] is different from size of log dirs list [any] for "
         "partition move-a-0"),
    ]:
        f.write_text(text)
        r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", f)
        assert error_line(tool, r) == line, "%s\n%s" % (text, show(r))
    missing = tmp_path / "missing.json"
    r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", missing)
    assert error_line(tool, r) == "Error: Unable to read file %s" % missing, show(r)


# ---------------------------------------------------------------- flags

ONE_ACTION = "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list"
# (arguments, Kafka's sentence); "BS" is replaced by --bootstrap-server and the broker
FLAG_ERRORS = [
    (["BS"], ONE_ACTION),
    (["BS", "--list", "--verify"], ONE_ACTION),
    (["--list"], "Please specify either --bootstrap-server or --bootstrap-controller"),
    (["BS", "--bootstrap-controller", "localhost:1", "--list"],
     "Please don't specify both --bootstrap-server and --bootstrap-controller"),
    (["BS", "--verify"], 'Missing required argument "[reassignment-json-file]"'),
    (["BS", "--execute"], 'Missing required argument "[reassignment-json-file]"'),
    (["BS", "--cancel"], 'Missing required argument "[reassignment-json-file]"'),
    (["BS", "--generate", "--broker-list", "1"], 'Missing required argument "[topics-to-move-json-file]"'),
    (["BS", "--generate", "--topics-to-move-json-file", "t.json"], 'Missing required argument "[broker-list]"'),
    (["BS", "--verify", "--reassignment-json-file", "f.json", "--throttle", "5"],
     'Option "[throttle]" can\'t be used with action "[verify]"'),
    (["BS", "--list", "--additional"], 'Option "[additional]" can\'t be used with action "[list]"'),
    (["BS", "--generate", "--topics-to-move-json-file", "t.json", "--broker-list", "1", "--preserve-throttles"],
     'Option "[preserve-throttles]" can\'t be used with action "[generate]"'),
    (["--bootstrap-controller", "localhost:1", "--execute", "--reassignment-json-file", "f.json"],
     'Option "[bootstrap-controller]" can\'t be used with action "[execute]"'),
    (["BS", "--list", "--bogus"], "bogus is not a recognized option"),
    (["BS", "--lis"], "lis is not a recognized option"),  # no abbreviations
]


@pytest.mark.parametrize("tool", TOOLS)
def test_flag_errors(broker, tool):
    for args, sentence in FLAG_ERRORS:
        argv = []
        for a in args:
            argv += ["--bootstrap-server", broker.bootstrap] if a == "BS" else [a]
        r = run_tool(tool, *argv)
        assert (r.returncode, r.stdout) == (1, ""), "%s\n%s" % (args, show(r))
        assert flag_message(tool, r) == sentence, "%s\n%s" % (args, show(r))
    # no arguments at all: the usage on stderr, exit 1
    r = run_tool(tool)
    assert (r.returncode, r.stdout) == (1, ""), show(r)
    assert "--reassignment-json-file" in r.stderr and "--generate" in r.stderr, show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_bad_values(topics, tool, tmp_path):
    """Values Kafka reads when it runs the action: "Error: ..." on stdout."""
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-a", 0, [1])]))
    r = run_tool(tool, "--bootstrap-server", topics, "--execute", "--reassignment-json-file", f,
                 "--throttle", "fast")
    assert error_line(tool, r) == "Error: Cannot parse argument 'fast' of option throttle", show(r)
    # Kafka 4.4's --bootstrap-server takes an optional argument: without
    # one, Kafka's tool fails putting null in its properties
    r = run_tool(tool, "--list", "--bootstrap-server")
    assert error_line(tool, r) == "Error: null", show(r)
    missing = tmp_path / "missing.properties"
    r = run_tool(tool, "--bootstrap-server", topics, "--list", "--command-config", missing)
    assert error_line(tool, r) == "Error: %s" % missing, show(r)
    props = tmp_path / "admin.properties"
    props.write_text("client.id=reassign-test\n")
    r = run_tool(tool, "--bootstrap-server", topics, "--list", "--command-config", props)
    assert (r.returncode, r.stdout) == (0, "No partition reassignments found.\n"), show(r)


def test_shim_takes_kafkas_flags(topics, tmp_path):
    env = dict(os.environ, GREGOR_BIN=GREGOR_BIN)
    (node,) = broker_ids(topics)
    f = tmp_path / "plan.json"
    f.write_text(reassignment([("move-b", 0, [node])]))
    for args, rc, out, err in [
        (["--list"], 0, "No partition reassignments found.\n", ""),
        (["--verify", "--reassignment-json-file", str(f), "--preserve-throttles"], 0,
         "Status of partition reassignment:\nReassignment of partition move-b-0 is completed.\n\n", ""),
        (["--list", "--verify"], 1, "", PREFIX + ONE_ACTION + "\n"),
    ]:
        r = subprocess.run([SHIM, "--bootstrap-server", topics] + args, capture_output=True,
                           text=True, timeout=RUN_TIMEOUT, env=env)
        assert (r.returncode, r.stdout, r.stderr) == (rc, out, err), "%s\n%s" % (args, show(r))
