"""
`gregor leader-election`, its shim bin/kafka-leader-election.sh, and Kafka
4.4's own LeaderElectionCommand, against one real broker: Gregor, or Apache
Kafka with --broker=kafka. The tests that take a `tool` parameter run with
our tool and with Kafka's on whichever broker with the same expected bytes,
so each broker is checked by Kafka's own tool and each tool by both brokers.

On one node every partition is already led by its preferred (its only)
replica, so what is checked here is the answering side of ElectLeaders
(API 43) and the tool's words; a real preferred election is in
tests/cluster.

Proves:
- --all-topic-partitions with every partition led by its preferred replica
  prints nothing and exits 0 (the controller leaves out the partitions that
  need no election when asked for all of them);
- --topic/--partition and a --path-to-json-file print Kafka's "Valid replica
  already elected for partitions t-0, ..." (ELECTION_NOT_NEEDED), the
  partitions in the order of Kafka's HashSet: for 23 partitions of three
  topics both tools print the same bytes;
- the election type is case-insensitive and printed as Kafka's enum
  (PREFERRED / UNCLEAN);
- an unknown topic or partition is Kafka's line, "Error completing leader
  election (PREFERRED) for partition: nope-0:
  org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such
  topic as nope" (the broker's message), "1 replica(s) could not be elected"
  on stderr, exit 1;
- an unclean election of a partition that has a leader is "Valid replica
  already elected" (ELECTION_NOT_NEEDED);
- flag errors and bad JSON files are Kafka's sentences, checked in Kafka's
  order, exit 1 (Kafka prints the sentence then a stack trace; ours prints
  "gregor leader-election: <sentence>");
- the shim takes Kafka's flags and prints what `gregor` prints.

Run:
    /usr/bin/python3 -m pytest tests/integration/test_tools_leader_election.py \\
        -q -p no:cacheprovider [--broker=kafka]
"""

import os
import subprocess
from pathlib import Path

import pytest

import kafka_tools_run
from conftest import GREGOR_BIN, create_topic

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHIM = str(REPO / "bin" / "kafka-leader-election.sh")
CLASS = "org.apache.kafka.tools.LeaderElectionCommand"
RUN_TIMEOUT = 180   # one tool run (a JVM on a busy machine)
PREFIX = "gregor leader-election: "
TOOLS = ["gregor", "kafka"]

ONE_AND_ONLY = ("One and only one of the following options is required: "
                "topic, all-topic-partitions, path-to-json-file")
JME = "com.fasterxml.jackson.databind.JsonMappingException: "


def run_tool(tool, *args):
    args = [str(a) for a in args]
    if tool == "kafka":
        return kafka_tools_run.run(CLASS, args, timeout=RUN_TIMEOUT)
    return subprocess.run([GREGOR_BIN, "leader-election"] + args, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


def show(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


def message(tool, r):
    """The error sentence: Kafka's tool prints it as the first line of
    stderr, before a stack trace; ours prints one prefixed line."""
    if tool == "kafka":
        return r.stderr.splitlines()[0] if r.stderr else ""
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, show(r)
    assert r.stderr.startswith(PREFIX), show(r)
    return r.stderr[len(PREFIX):-1]


def write_json(path, partitions):
    path.write_text('{"partitions":[%s]}' % ",".join(
        '{"topic":"%s","partition":%d}' % (t, p) for t, p in partitions))
    return path


@pytest.fixture
def topics(broker):
    create_topic(broker.bootstrap, "elect-a", partitions=3)
    create_topic(broker.bootstrap, "elect-b", partitions=1)
    return broker.bootstrap


@pytest.mark.parametrize("tool", TOOLS)
def test_all_partitions_already_elected(topics, tool):
    """Asked for every partition, the controller leaves out those that need
    no election (Kafka's behaviour): nothing is printed."""
    r = run_tool(tool, "--bootstrap-server", topics, "--election-type", "preferred",
                 "--all-topic-partitions")
    assert (r.returncode, r.stdout) == (0, ""), show(r)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("spelling", ["preferred", "PREFERRED", "Preferred"])
def test_one_partition_already_elected(topics, tool, spelling):
    r = run_tool(tool, "--bootstrap-server", topics, "--election-type", spelling,
                 "--topic", "elect-a", "--partition", "1")
    assert r.returncode == 0, show(r)
    assert r.stdout == "Valid replica already elected for partitions elect-a-1\n", show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_json_file_already_elected(topics, tool, tmp_path):
    f = write_json(tmp_path / "p.json", [("elect-a", 0), ("elect-b", 0), ("elect-a", 2)])
    r = run_tool(tool, "--bootstrap-server", topics, "--election-type", "preferred",
                 "--path-to-json-file", f)
    assert r.returncode == 0, show(r)
    # Kafka's HashSet order (TopicPartition hash codes), not the file's
    assert r.stdout == ("Valid replica already elected for partitions "
                        "elect-a-0, elect-b-0, elect-a-2\n"), show(r)


def test_same_bytes_as_kafkas_tool_many_partitions(broker, tmp_path):
    """23 partitions of three topics: the HashSet's table grows past 16 and
    buckets collide; both tools print the same bytes."""
    create_topic(broker.bootstrap, "order-x", partitions=10)
    create_topic(broker.bootstrap, "order-yy", partitions=8)
    create_topic(broker.bootstrap, "z", partitions=5)
    parts = ([("z", p) for p in range(5)] + [("order-x", p) for p in range(10)] +
             [("order-yy", p) for p in range(8)])
    f = write_json(tmp_path / "many.json", parts)
    ours = run_tool("gregor", "--bootstrap-server", broker.bootstrap, "--election-type",
                    "PREFERRED", "--path-to-json-file", f)
    kafkas = run_tool("kafka", "--bootstrap-server", broker.bootstrap, "--election-type",
                      "PREFERRED", "--path-to-json-file", f)
    assert (ours.returncode, ours.stdout) == (kafkas.returncode, kafkas.stdout), \
        "ours:\n%s\nKafka's:\n%s" % (show(ours), show(kafkas))
    assert ours.returncode == 0, show(ours)
    printed = ours.stdout[len("Valid replica already elected for partitions "):-1].split(", ")
    assert sorted(printed) == sorted("%s-%d" % tp for tp in parts), show(ours)


UNKNOWN = ("Error completing leader election (PREFERRED) for partition: %s: "
           "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: %s\n")
# UnknownTopicOrPartitionException's own message, used when the broker sends none
@pytest.mark.parametrize("tool", TOOLS)
def test_unknown_topic_and_partition(topics, tool):
    for topic, partition, broker_message in [("nope", 0, "No such topic as nope"),
                                             ("elect-a", 7, "No such partition as elect-a-7")]:
        r = run_tool(tool, "--bootstrap-server", topics, "--election-type", "preferred",
                     "--topic", topic, "--partition", partition)
        assert r.returncode == 1, show(r)
        assert message(tool, r) == "1 replica(s) could not be elected", show(r)
        tp = "%s-%d" % (topic, partition)
        assert r.stdout == UNKNOWN % (tp, broker_message), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_mixed_answers_in_one_file(topics, tool, tmp_path):
    """Led partitions and unknown ones in one request: Kafka's two kinds of
    lines, the errors one a line in the failed map's order."""
    f = write_json(tmp_path / "mixed.json",
                   [("elect-a", 0), ("nope", 1), ("elect-b", 0), ("elect-a", 9)])
    r = run_tool(tool, "--bootstrap-server", topics, "--election-type", "preferred",
                 "--path-to-json-file", f)
    assert r.returncode == 1, show(r)
    assert message(tool, r) == "2 replica(s) could not be elected", show(r)
    valid = "Valid replica already elected for partitions elect-a-0, elect-b-0\n"
    assert r.stdout == (valid + UNKNOWN % ("nope-1", "No such topic as nope") +
                        UNKNOWN % ("elect-a-9", "No such partition as elect-a-9")), show(r)


@pytest.mark.parametrize("tool", TOOLS)
def test_unclean_with_a_leader_is_not_needed(topics, tool):
    r = run_tool(tool, "--bootstrap-server", topics, "--election-type", "unclean",
                 "--topic", "elect-a", "--partition", "0")
    assert r.returncode == 0, show(r)
    assert r.stdout == "Valid replica already elected for partitions elect-a-0\n", show(r)


# (arguments after --bootstrap-server, Kafka's sentence); BS is replaced
FLAG_ERRORS = [
    (["--all-topic-partitions"], "Missing required option(s): election-type"),
    (["--election-type", "preferred", "--topic", "t"], "Missing required option(s): partition"),
    (["--election-type", "preferred", "--partition", "0"], ONE_AND_ONLY),
    (["--election-type", "preferred"], ONE_AND_ONLY),
    (["--election-type", "preferred", "--all-topic-partitions", "--topic", "t", "--partition", "0"],
     ONE_AND_ONLY),
    (["--election-type", "preferred", "--all-topic-partitions", "--path-to-json-file", "f.json"],
     ONE_AND_ONLY),
    (["--election-type", "bogus", "--all-topic-partitions"],
     "Cannot parse argument 'bogus' of option election-type"),
    (["--election-type", "preferred", "--topic", "t", "--partition", "x"],
     "Cannot parse argument 'x' of option partition"),
    (["--election-type", "preferred", "--all-topic-partitions", "--bogus"],
     "bogus is not a recognized option"),
    (["--election", "preferred", "--all-topic-partitions"],     # no abbreviations
     "election is not a recognized option"),
    (["--election-type", "preferred", "--topic", "t", "--partition", "1", "--partition", "3"],
     "Found multiple arguments for option partition, but you asked for only one"),
    (["--election-type", "preferred", "--all-topic-partitions", "--admin.config", os.devnull,
      "--command-config", os.devnull],
     'Option "[admin.config]" can\'t be used with option "[command-config]"'),
]


@pytest.mark.parametrize("tool", TOOLS)
def test_flag_errors(broker, tool, tmp_path):
    for args, sentence in FLAG_ERRORS:
        r = run_tool(tool, "--bootstrap-server", broker.bootstrap, *args)
        assert (r.returncode, r.stdout) == (1, ""), "%s\n%s" % (args, show(r))
        assert message(tool, r) == sentence, "%s\n%s" % (args, show(r))
    r = run_tool(tool, "--election-type", "preferred", "--all-topic-partitions")
    assert (r.returncode, r.stdout) == (1, ""), show(r)
    assert message(tool, r) == "Missing required option(s): bootstrap-server", show(r)
    # no arguments at all: the usage on stderr, exit 1
    r = run_tool(tool)
    assert (r.returncode, r.stdout) == (1, ""), show(r)
    assert "--election-type" in r.stderr and "--all-topic-partitions" in r.stderr, show(r)
    # a --command-config file that is not there (Kafka: NoSuchFileException, the path)
    missing = tmp_path / "missing.properties"
    r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                 "--all-topic-partitions", "--command-config", missing)
    assert (r.returncode, r.stdout) == (1, ""), show(r)
    assert message(tool, r) == str(missing), show(r)
    # --admin.config is Kafka's deprecated name for it: a notice on stdout first
    r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                 "--all-topic-partitions", "--admin.config", missing)
    assert r.returncode == 1, show(r)
    assert r.stdout == ("Option --admin.config has been deprecated and will be removed in a "
                        "future version. Use --command-config instead.\n"), show(r)
    assert message(tool, r) == str(missing), show(r)
    # an existing one is taken
    props = tmp_path / "admin.properties"
    props.write_text("client.id=elect-test\n")
    r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                 "--all-topic-partitions", "--command-config", props)
    assert (r.returncode, r.stdout) == (0, ""), show(r)


# (file text, Kafka's sentence)
BAD_FILES = [
    ("hello", "Replica election data is empty"),
    ('{"version":1}', 'Replica election data is missing "partitions" field'),
    ("[1]", JME + "Expected JSON object, received [1]"),
    ('{"partitions":{"topic":"t"}}', JME + 'Expected JSON array, received {"topic":"t"}'),
    ('{"partitions":[3]}', JME + "Expected JSON object, received 3"),
    ('{"partitions":[{"topic":"t"}]}', JME + "No such field exists: `partition`"),
    ('{"partitions":[{"partition":0}]}', JME + "No such field exists: `topic`"),
    ('{"partitions":[{"topic":5,"partition":0}]}', JME + "Expected `String` value, received 5"),
    ('{"partitions":[{"topic":"t","partition":"0"}]}',
     JME + 'Expected `Integer` value, received "0"'),
    ('{"partitions":[{"topic":"t","partition":0},{"topic":"t","partition":0}]}',
     "Replica election data contains duplicate partitions: [t-0]"),
]


@pytest.mark.parametrize("tool", TOOLS)
def test_bad_json_files(broker, tool, tmp_path):
    f = tmp_path / "bad.json"
    for text, sentence in BAD_FILES:
        f.write_text(text)
        r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                     "--path-to-json-file", f)
        assert (r.returncode, r.stdout) == (1, ""), "%r\n%s" % (text, show(r))
        assert message(tool, r) == sentence, "%r\n%s" % (text, show(r))
    missing = tmp_path / "missing.json"
    r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                 "--path-to-json-file", missing)
    assert (r.returncode, r.stdout) == (1, ""), show(r)
    assert message(tool, r) == "java.io.IOException: Unable to read file %s" % missing, show(r)
    # an empty list: nothing to elect, nothing printed
    f.write_text('{"partitions":[]}')
    r = run_tool(tool, "--bootstrap-server", broker.bootstrap, "--election-type", "preferred",
                 "--path-to-json-file", f)
    assert (r.returncode, r.stdout) == (0, ""), show(r)


def test_shim_takes_kafkas_flags(topics, tmp_path):
    env = dict(os.environ, GREGOR_BIN=GREGOR_BIN)
    f = write_json(tmp_path / "p.json", [("elect-b", 0)])
    for args, rc, out, err in [
        (["--election-type", "PREFERRED", "--topic", "elect-a", "--partition", "0"], 0,
         "Valid replica already elected for partitions elect-a-0\n", ""),
        (["--election-type", "preferred", "--path-to-json-file", str(f), "--command-config",
          os.devnull], 0, "Valid replica already elected for partitions elect-b-0\n", ""),
        (["--election-type", "preferred"], 1, "", PREFIX + ONE_AND_ONLY + "\n"),
    ]:
        r = subprocess.run([SHIM, "--bootstrap-server", topics] + args, capture_output=True,
                           text=True, timeout=RUN_TIMEOUT, env=env)
        assert (r.returncode, r.stdout, r.stderr) == (rc, out, err), "%s\n%s" % (args, show(r))
