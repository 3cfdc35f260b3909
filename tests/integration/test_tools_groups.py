"""
`gregor groups` (kafka-consumer-groups.sh) against a real broker, with
real consumer groups (confluent-kafka members in child processes, from
test_groups_support) and the committed offsets read back through
confluent_kafka's Consumer.committed, never through the tool under test.

Proves:
- --list names every group; --list --state shows GROUP STATE and filters by
  state; --output json gives the same facts;
- --describe shows Kafka's columns GROUP TOPIC PARTITION CURRENT-OFFSET
  LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID for a live group (the member's
  id, host and client id on its partitions, lag after more records arrive),
  "-" where there is no committed offset, and "has no active members" once
  the member leaves; --members [--verbose] and --state views; an unknown
  group is an error (exit 1);
- --reset-offsets: the plan (GROUP TOPIC PARTITION NEW-OFFSET) with
  --dry-run, or with neither flag (plus Kafka's WARN), changes nothing;
  --execute moves the committed offsets, for --to-earliest, --to-latest,
  --to-current, --to-offset (clamped into the log, with Kafka's message),
  --shift-by, --to-datetime (UTC, or with a zone offset) and --by-duration,
  for --topic T, --topic T:p,q and --all-topics; it is refused with Kafka's
  message while the group has members;
- --delete removes empty groups and refuses one with members; --delete-offsets
  removes the named partitions' offsets only;
- usage errors exit 2, an unreachable broker exits 1 within the timeout.
"""

import json
import subprocess
import time

import pytest

from conftest import GREGOR_BIN, create_topic, produce_all
from test_groups_support import (  # noqa: F401  (fixtures)
    group_broker, member_conf, members, wait_group_settled,
)

pytestmark = pytest.mark.gregor_only("the output and exit codes of `gregor groups`")

T0_MS = 1704067200000  # 2024-01-01T00:00:00Z
TOOL_TIMEOUT_S = 60


def gregor_groups(bootstrap, *args, check=None):
    """Run `gregor groups --bootstrap-server B ARGS`; returns CompletedProcess
    (text). check=N asserts the exit code."""
    cmd = [GREGOR_BIN, "groups", "--bootstrap-server", bootstrap, "--timeout-ms", "10000"]
    cmd += [str(a) for a in args]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TOOL_TIMEOUT_S)
    if check is not None:
        assert r.returncode == check, "%s -> %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(cmd), r.returncode, r.stdout, r.stderr)
    return r


def table(stdout):
    """Rows of the (last) whitespace-aligned table in stdout as dicts keyed
    by the header. Cells never contain spaces in these tests, except the
    'COORDINATOR (ID)' header and cell, which are joined back."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    hdr_idx = max(i for i, ln in enumerate(lines) if ln.startswith("GROUP") or ln.startswith("TOPIC"))
    header = lines[hdr_idx].replace("COORDINATOR (ID)", "COORDINATOR(ID)").split()
    rows = []
    for ln in lines[hdr_idx + 1:]:
        cells = ln.split()
        if "COORDINATOR(ID)" in header and len(cells) == len(header) + 1:
            cells[1:3] = [cells[1] + " " + cells[2]]
        assert len(cells) == len(header), "row %r does not fit header %r" % (ln, header)
        rows.append(dict(zip(header, cells)))
    return rows


def committed(bootstrap, group, topic, partitions):
    """{partition: committed offset or None}, read with confluent_kafka."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        res = c.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in res}
    finally:
        c.close()


def simple_commit(bootstrap, group, topic, offsets):
    """Commit {partition: offset} from outside any generation (assign only)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        c.commit(offsets=tps, asynchronous=False)
    finally:
        c.close()


def produce_timed(bootstrap, topic, partitions, n, t0_ms=T0_MS, step_ms=1000):
    """n records per partition, record i stamped t0_ms + i*step_ms."""
    msgs = [{"value": b"v%d" % i, "partition": p, "timestamp": t0_ms + i * step_ms}
            for p in range(partitions) for i in range(n)]
    produce_all(bootstrap, topic, msgs)


def wait_state(bootstrap, group, state, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        r = gregor_groups(bootstrap, "--describe", "--group", group, "--state", "--output", "json")
        if r.returncode == 0 and json.loads(r.stdout)[0]["state"] == state:
            return
        if time.monotonic() > deadline:
            raise AssertionError("group %s not %s after %s s: %s %s" % (group, state, timeout,
                                                                        r.stdout, r.stderr))
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# list / describe with a live group
# ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_list_and_describe_live_group(group_broker, members):
    b = group_broker.bootstrap
    topic = "gt-live"
    create_topic(b, topic, 3)
    produce_timed(b, topic, 3, 10)
    m = members("m1", member_conf(b, "live", client__id="live-client"), [topic])
    wait_group_settled([m], {(topic, p) for p in range(3)}, timeout=60)
    m.wait(lambda mm: mm.processed_count() >= 30, 60, "30 records consumed and committed")
    m.pause()
    simple_commit(b, "idle", topic, {0: 4})
    wait_state(b, "live", "Stable")

    r = gregor_groups(b, "--list", check=0)
    assert r.stdout.split() == ["idle", "live"], r.stdout
    r = gregor_groups(b, "list", "--state", check=0)  # positional action form
    assert {(x["GROUP"], x["STATE"]) for x in table(r.stdout)} == {("idle", "Empty"), ("live", "Stable")}
    r = gregor_groups(b, "--list", "--state", "stable", check=0)
    assert [x["GROUP"] for x in table(r.stdout)] == ["live"]
    r = gregor_groups(b, "--list", "--output", "json", check=0)
    assert json.loads(r.stdout) == [{"group": "idle", "state": "Empty"},
                                    {"group": "live", "state": "Stable"}]

    # 5 more records on partition 0: lag 5 there.
    produce_all(b, topic, [{"value": b"late", "partition": 0} for _ in range(5)])
    r = gregor_groups(b, "--describe", "--group", "live", check=0)
    first = [ln for ln in r.stdout.splitlines() if ln.strip()][0]
    assert first.split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                             "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    rows = table(r.stdout)
    assert [(x["TOPIC"], x["PARTITION"]) for x in rows] == [(topic, "0"), (topic, "1"), (topic, "2")]
    for x in rows:
        assert x["GROUP"] == "live" and x["CURRENT-OFFSET"] == "10"
        assert x["CLIENT-ID"] == "live-client" and x["HOST"] == "/127.0.0.1"
        assert x["CONSUMER-ID"].startswith("live-client-")
    assert [(x["LOG-END-OFFSET"], x["LAG"]) for x in rows] == [("15", "5"), ("10", "0"), ("10", "0")]

    j = json.loads(gregor_groups(b, "describe", "--group", "live", "--output", "json", check=0).stdout)
    assert [(o["partition"], o["current_offset"], o["log_end_offset"], o["lag"]) for o in j] == \
        [(0, 10, 15, 5), (1, 10, 10, 0), (2, 10, 10, 0)]

    r = gregor_groups(b, "--describe", "--group", "live", "--members", check=0)
    (mem,) = table(r.stdout)
    assert mem["CLIENT-ID"] == "live-client" and mem["#PARTITIONS"] == "3"
    assert "ASSIGNMENT" not in mem
    r = gregor_groups(b, "--describe", "--group", "live", "--members", "--verbose", check=0)
    (mem,) = table(r.stdout)
    assert mem["ASSIGNMENT"] == "%s(0,1,2)" % topic and mem["GROUP-INSTANCE-ID"] == "-"

    r = gregor_groups(b, "--describe", "--group", "live", "--state", check=0)
    (st,) = table(r.stdout)
    assert st["STATE"] == "Stable" and st["#MEMBERS"] == "1" and st["ASSIGNMENT-STRATEGY"] == "range"
    assert st["COORDINATOR(ID)"] == "127.0.0.1:%d (1)" % group_broker.port

    # a group with offsets on partition 0 only: the others show "-"
    r = gregor_groups(b, "--describe", "--group", "idle", check=0)
    assert "Consumer group 'idle' has no active members." in r.stderr
    (row,) = table(r.stdout)
    assert (row["PARTITION"], row["CURRENT-OFFSET"], row["LAG"], row["CONSUMER-ID"]) == ("0", "4", "11", "-")

    # --all-groups describes both
    r = gregor_groups(b, "--describe", "--all-groups", "--state", "--output", "json", check=0)
    assert sorted((g["group"], g["state"], g["members"]) for g in json.loads(r.stdout)) == \
        [("idle", "Empty", 0), ("live", "Stable", 1)]

    r = gregor_groups(b, "--describe", "--group", "no-such-group", check=1)
    assert "Error: Consumer group 'no-such-group' does not exist." in r.stderr

    # an active group: reset refused, delete refused, offsets unchanged
    r = gregor_groups(b, "--reset-offsets", "--group", "live", "--topic", topic, "--to-earliest",
                      "--execute", check=1)
    assert ("Error: Assignments can only be reset if the group 'live' is inactive, but the "
            "current state is Stable.") in r.stderr
    r = gregor_groups(b, "--delete", "--group", "live", check=1)
    assert "Group 'live' could not be deleted" in r.stderr and "NON_EMPTY_GROUP" in r.stderr
    assert committed(b, "live", topic, range(3)) == {0: 10, 1: 10, 2: 10}

    m.close()
    wait_state(b, "live", "Empty")
    r = gregor_groups(b, "--describe", "--group", "live", check=0)
    assert "Consumer group 'live' has no active members." in r.stderr
    assert {x["CONSUMER-ID"] for x in table(r.stdout)} == {"-"}
    r = gregor_groups(b, "--describe", "--group", "live", "--members", check=0)
    assert "GROUP" not in r.stdout  # nothing to show, as Kafka does


# ---------------------------------------------------------------------------
# reset-offsets
# ---------------------------------------------------------------------------

@pytest.fixture
def reset_setup(group_broker):
    """A 3-partition topic, 10 records per partition stamped T0 + i s, and
    group 'rg' with offset 5 committed on each partition."""
    b = group_broker.bootstrap
    topic = "gt-reset"
    create_topic(b, topic, 3)
    produce_timed(b, topic, 3, 10)
    simple_commit(b, "rg", topic, {0: 5, 1: 5, 2: 5})
    return b, topic


def plan(stdout):
    return {int(x["PARTITION"]): int(x["NEW-OFFSET"]) for x in table(stdout)}


@pytest.mark.timeout(120)
def test_reset_dry_run_changes_nothing(reset_setup):
    b, topic = reset_setup
    r = gregor_groups(b, "--reset-offsets", "--group", "rg", "--topic", topic, "--to-earliest",
                      "--dry-run", check=0)
    assert [ln.split() for ln in r.stdout.splitlines() if ln.strip()][0] == \
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    assert plan(r.stdout) == {0: 0, 1: 0, 2: 0}
    assert {x["GROUP"] for x in table(r.stdout)} == {"rg"}
    assert committed(b, "rg", topic, range(3)) == {0: 5, 1: 5, 2: 5}

    # neither --dry-run nor --execute: Kafka's warning, still a plan only
    r = gregor_groups(b, "reset-offsets", "--group", "rg", "--topic", topic, "--to-latest", check=0)
    assert "WARN: No action will be performed as the --execute option is missing" in r.stderr
    assert plan(r.stdout) == {0: 10, 1: 10, 2: 10}
    assert committed(b, "rg", topic, range(3)) == {0: 5, 1: 5, 2: 5}

    r = gregor_groups(b, "--reset-offsets", "--group", "rg", "--all-topics", "--shift-by", "2",
                      "--dry-run", "--output", "json", check=0)
    assert json.loads(r.stdout) == [{"group": "rg", "topic": topic, "partition": p, "new_offset": 7}
                                    for p in range(3)]
    assert committed(b, "rg", topic, range(3)) == {0: 5, 1: 5, 2: 5}


@pytest.mark.timeout(120)
def test_reset_execute_moves_committed_offsets(reset_setup):
    b, topic = reset_setup

    def reset(*args):
        r = gregor_groups(b, "--reset-offsets", "--group", "rg", *args, "--execute", check=0)
        return r

    reset("--topic", topic, "--to-earliest")
    assert committed(b, "rg", topic, range(3)) == {0: 0, 1: 0, 2: 0}
    reset("--topic", topic, "--to-latest")
    assert committed(b, "rg", topic, range(3)) == {0: 10, 1: 10, 2: 10}
    r = reset("--topic", "%s:1" % topic, "--to-offset", "3")
    assert plan(r.stdout) == {1: 3}
    assert committed(b, "rg", topic, range(3)) == {0: 10, 1: 3, 2: 10}
    reset("--topic", "%s:0,2" % topic, "--shift-by", "-4")
    assert committed(b, "rg", topic, range(3)) == {0: 6, 1: 3, 2: 6}
    reset("--all-topics", "--shift-by", "1")
    assert committed(b, "rg", topic, range(3)) == {0: 7, 1: 4, 2: 7}
    r = reset("--topic", "%s:1" % topic, "--shift-by", "-100")
    assert ("New offset (-96) is lower than earliest offset for topic partition %s-1. "
            "Value will be set to 0" % topic) in r.stderr
    r = reset("--topic", "%s:2" % topic, "--to-offset", "1000")
    assert ("New offset (1000) is higher than latest offset for topic partition %s-2. "
            "Value will be set to 10" % topic) in r.stderr
    assert committed(b, "rg", topic, range(3)) == {0: 7, 1: 0, 2: 10}
    r = reset("--topic", topic, "--to-current")
    assert plan(r.stdout) == {0: 7, 1: 0, 2: 10}
    assert committed(b, "rg", topic, range(3)) == {0: 7, 1: 0, 2: 10}


@pytest.mark.timeout(120)
def test_reset_by_time(reset_setup):
    b, topic = reset_setup

    def reset(*args):
        return plan(gregor_groups(b, "--reset-offsets", "--group", "rg", "--topic", topic, *args,
                                  "--execute", check=0).stdout)

    # record i of each partition is stamped 2024-01-01T00:00:0i (UTC)
    assert reset("--to-datetime", "2024-01-01T00:00:03.500") == {0: 4, 1: 4, 2: 4}
    assert committed(b, "rg", topic, range(3)) == {0: 4, 1: 4, 2: 4}
    assert reset("--to-datetime", "2024-01-01T02:00:02.000+02:00") == {0: 2, 1: 2, 2: 2}
    assert reset("--to-datetime", "2023-12-31T19:00:06.000-0500") == {0: 6, 1: 6, 2: 6}
    assert reset("--to-datetime", "2024-01-01T00:00:00Z") == {0: 0, 1: 0, 2: 0}
    # after the last record: the log end
    assert reset("--to-datetime", "2030-01-01T00:00:00.000") == {0: 10, 1: 10, 2: 10}
    assert committed(b, "rg", topic, range(3)) == {0: 10, 1: 10, 2: 10}

    # five recent records on partition 0, stamped two hours ago
    now_ms = int(time.time() * 1000)
    produce_all(b, topic, [{"value": b"recent", "partition": 0, "timestamp": now_ms - 2 * 3600 * 1000}
                           for _ in range(5)])
    assert reset("--by-duration", "PT3H") == {0: 10, 1: 10, 2: 10}
    assert reset("--by-duration", "PT1H30M") == {0: 15, 1: 10, 2: 10}
    # 10000 days back is before 2024: every record qualifies
    assert reset("--by-duration", "P10000D") == {0: 0, 1: 0, 2: 0}
    assert committed(b, "rg", topic, range(3)) == {0: 0, 1: 0, 2: 0}

    for bad in (["--to-datetime", "yesterday"], ["--to-datetime", "2024-13-01T00:00:00.000"],
                ["--by-duration", "1h"], ["--by-duration", "PT"]):
        gregor_groups(b, "--reset-offsets", "--group", "rg", "--topic", topic, *bad, check=2)


# ---------------------------------------------------------------------------
# delete, delete-offsets
# ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_delete_offsets_and_groups(group_broker):
    b = group_broker.bootstrap
    topic = "gt-del"
    create_topic(b, topic, 3)
    produce_timed(b, topic, 3, 4)
    for g in ("d1", "d2", "d3"):
        simple_commit(b, g, topic, {0: 1, 1: 2, 2: 3})

    r = gregor_groups(b, "--delete-offsets", "--group", "d1", "--topic", "%s:0,2" % topic, check=0)
    assert "Request succeed for deleting offsets with topic %s group d1" % topic in r.stdout
    assert {(x["PARTITION"], x["STATUS"]) for x in table(r.stdout)} == {("0", "Successful"),
                                                                        ("2", "Successful")}
    assert committed(b, "d1", topic, range(3)) == {0: None, 1: 2, 2: None}
    r = gregor_groups(b, "--delete-offsets", "--group", "d2", "--topic", topic, "--output", "json", check=0)
    assert json.loads(r.stdout) == [{"topic": topic, "partition": p, "error": None} for p in range(3)]
    assert committed(b, "d2", topic, range(3)) == {0: None, 1: None, 2: None}
    r = gregor_groups(b, "--delete-offsets", "--group", "nope", "--topic", topic, check=1)
    assert "GROUP_ID_NOT_FOUND" in r.stderr

    r = gregor_groups(b, "--delete", "--group", "d1", "--group", "d3", check=0)
    assert r.stdout.strip() == "Deletion of requested consumer groups ('d1', 'd3') was successful."
    assert committed(b, "d3", topic, range(3)) == {0: None, 1: None, 2: None}
    assert "d1" not in gregor_groups(b, "--list", check=0).stdout.split()
    r = gregor_groups(b, "--delete", "--group", "d3", check=1)
    assert "* Group 'd3' could not be deleted due to: GROUP_ID_NOT_FOUND" in r.stderr


# ---------------------------------------------------------------------------
# usage and reachability
# ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_usage_errors_and_unreachable(group_broker):
    b = group_broker.bootstrap
    r = gregor_groups(b, "--help", check=0)
    assert "example:" in r.stdout and "--reset-offsets" in r.stdout
    for args in ([], ["--describe"], ["--list", "--describe"], ["--reset-offsets", "--group", "g"],
                 ["--reset-offsets", "--group", "g", "--all-topics"],
                 ["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-latest"],
                 ["--reset-offsets", "--group", "g", "--all-topics", "--to-offset", "x"],
                 ["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--dry-run",
                  "--execute"],
                 ["--delete-offsets", "--group", "g"], ["--list", "--state", "Happy"],
                 ["--describe", "--group", "g", "--members", "--state"], ["--bogus"]):
        r = gregor_groups(b, *args)
        assert r.returncode == 2, "%s -> %d: %s" % (args, r.returncode, r.stderr)
        assert r.stderr.strip(), args

    t = time.monotonic()
    r = subprocess.run([GREGOR_BIN, "groups", "--bootstrap-server", "127.0.0.1:1", "--timeout-ms",
                        "2000", "--list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot reach" in r.stderr, r.stderr
    assert time.monotonic() - t < 10
