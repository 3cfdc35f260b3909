"""
`gregor transactions`, bin/kafka-transactions.sh and Kafka's own
TransactionsCommand (kafka-transactions.sh of Apache Kafka 4.4) against a
real broker, Gregor or Apache Kafka, with real transactional producers
(confluent-kafka 1.7 on Debian's librdkafka 2.0.2, in this process).

The scene: topic `hang` with three partitions. `t-before` commits one record
to each partition (offset 0, its commit marker at 1); `t-p0`, `t-p1`, `t-p2`
each write two records to their own partition (offsets 2 and 3) and leave
the transaction open (flushed, never committed, a 10-minute
transaction.timeout.ms); `t-after` then commits one record to each partition
(offset 4). A read_committed consumer is stuck behind the open transactions
(it sees only the `before` records).

Proves:
- `list`, `describe-producers`, `find-hanging` print exactly what Kafka's
  tool prints on the same broker (headers, cells, padding, tabs), through
  `gregor transactions` and through the shim with Kafka's flags; `describe`
  too, apart from TransactionDurationMs (it is "now" minus the start); the
  values are right: t-p0 Ongoing on `hang-0` with its 600000 ms timeout,
  the open producer's CurrentTransactionStartOffset is 2, the others None;
  `--duration-filter` and `--transactional-id-pattern` filter `list`;
  `--output json` carries the same values;
- `abort` ends a hanging transaction: by `--start-offset` with
  `gregor transactions`, by `--producer-id/--producer-epoch/
  --coordinator-epoch` through the shim, and by `--start-offset` with
  Kafka's own tool; afterwards no producer has an open transaction on those
  partitions and a read_committed consumer gets past them: it reads every
  committed record (before and after) and none of the aborted ones;
- `find-hanging` finds a real hanging transaction: a transactional batch
  written (raw Produce, by a producer id from InitProducerId) to a partition
  its coordinator never added to the transaction, the coordinator's state
  Empty. Both tools print the same row (Duration aside), the shim too;
  `abort --start-offset` ends it and read_committed gets past it. This
  needs transaction.partition.verification.enable=false on both brokers
  (KIP-890's check refuses such a batch: next point);
- such a batch is refused with INVALID_TXN_STATE by both (partition
  verification, on by default);
- failures are one line on stderr, exit 1, with Kafka's sentence (no open
  transaction at that offset, unknown transactional id, unknown partition);
  usage errors exit 2; an unreachable broker is reported within the
  timeout;
- `gregor transactions` works against Apache Kafka too (--broker=kafka),
  and Kafka's tool works against Gregor, except `list
  --transactional-id-pattern`, which Kafka 4.4's tool sends as
  ListTransactions v2 (a strict expected failure on Gregor, which serves
  v0-1, with the tool's exact message).

Run:
    /usr/bin/python3 -m pytest tests/integration/test_tools_transactions.py \\
        -q -p no:cacheprovider [--broker=kafka]
"""

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import kafka_wire as kw
import kafkaref
from conftest import create_topic, quiet_logger

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GREGOR = str(REPO / "build" / "gregor")
SHIM = str(REPO / "bin" / "kafka-transactions.sh")
TOOL = "org.apache.kafka.tools.TransactionsCommand"

TOPIC = "hang"
OPEN_IDS = ["t-p0", "t-p1", "t-p2"]    # t-pN's transaction is open on partition N
OPEN_START = 2                         # its first record's offset
TXN_TIMEOUT_MS = 600000
RUN_TIMEOUT = 120                      # bound on one tool run (a JVM on a busy machine)

LIST_HDR = ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
DESCRIBE_HDR = ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch",
                "TransactionState", "TransactionTimeoutMs", "CurrentTransactionStartTimeMs",
                "TransactionDurationMs", "TopicPartitions"]
PRODUCERS_HDR = ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                 "LastTimestamp", "CurrentTransactionStartOffset"]
HANGING_HDR = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
               "StartOffset", "LastTimestamp", "Duration(min)"]



# --------------------------------------------------------------------------
# running the three tools
# --------------------------------------------------------------------------

def gregor_tx(bootstrap, *args, timeout=RUN_TIMEOUT):
    return subprocess.run([GREGOR, "transactions", "--bootstrap-server", bootstrap] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def shim_tx(bootstrap, *args):
    """Kafka's command line shape: global flags first, then the command."""
    env = dict(os.environ, GREGOR_BIN=GREGOR)
    return subprocess.run([SHIM, "--bootstrap-server", bootstrap] + list(args),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)


def kafka_tx(bootstrap, *args):
    return kafkaref.run_tool(TOOL, ["--bootstrap-server", bootstrap] + list(args),
                             timeout=RUN_TIMEOUT)


def ok(r, what):
    assert r.returncode == 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s" % (
        what, r.returncode, r.stdout, r.stderr)
    return r.stdout


def table(out, header):
    """Kafka's table: every cell padded and followed by a tab. Rows of
    stripped cells, header checked and dropped."""
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        assert cells[-1] == "", "a row must end with a tab: %r" % line
        rows.append([c.rstrip() for c in cells[:-1]])
    assert rows and rows[0] == header, out
    return rows[1:]


def one_line_error(r):
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def kafka_error(r):
    """The last line of a Kafka tool's stderr (log lines come before it)."""
    assert r.returncode == 1, "exit %d\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    return r.stderr.strip().splitlines()[-1]


# --------------------------------------------------------------------------
# the scene
# --------------------------------------------------------------------------

def txn_producer(bootstrap, txn_id):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                  "transaction.timeout.ms": TXN_TIMEOUT_MS,
                  # the open ones are still connected when the broker is
                  # killed at the end: keep their disconnect noise out
                  "logger": quiet_logger()})
    p.init_transactions(60)
    return p


def committed_txn(bootstrap, txn_id, value):
    p = txn_producer(bootstrap, txn_id)
    p.begin_transaction()
    for part in range(3):
        p.produce(TOPIC, value, partition=part)
    p.commit_transaction(60)
    return p


def wait_list_settled(bootstrap, want_ids, timeout=60):
    """Until `list` shows every id in want_ids and none in a Prepare state
    (Kafka completes a commit's markers after EndTxn has answered)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = table(ok(gregor_tx(bootstrap, "list"), "list"), LIST_HDR)
        ids = {r[0] for r in rows}
        if want_ids <= ids and not any(r[3].startswith("Prepare") for r in rows):
            return rows
        assert time.monotonic() < deadline, "list not settled: %r" % rows
        time.sleep(0.3)


@pytest.fixture
def scene(broker):
    bs = broker.bootstrap
    create_topic(bs, TOPIC, partitions=3)
    producers = [committed_txn(bs, "t-before", b"before")]
    for part, txn_id in enumerate(OPEN_IDS):
        p = txn_producer(bs, txn_id)
        p.begin_transaction()
        p.produce(TOPIC, b"open-%d-a" % part, partition=part)
        p.produce(TOPIC, b"open-%d-b" % part, partition=part)
        assert p.flush(30) == 0
        producers.append(p)
    producers.append(committed_txn(bs, "t-after", b"after"))
    rows = wait_list_settled(bs, {"t-before", "t-after"} | set(OPEN_IDS))
    pids = {r[0]: int(r[2]) for r in rows}
    yield {"bootstrap": bs, "pids": pids, "node": rows[0][1], "producers": producers}


def read_committed(bootstrap, expect, settle=3.0, timeout=30):
    """Values a read_committed consumer gets from every partition of TOPIC:
    waits for `expect` values, then `settle` seconds more for any extra."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tools-txn-check",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
        got = []
        deadline = time.monotonic() + timeout
        until = None
        while time.monotonic() < (until or deadline):
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.partition(), m.offset(), m.value()))
            if until is None and len(got) >= expect:
                until = time.monotonic() + settle
        return sorted(got)
    finally:
        c.close()


def producers_rows(bootstrap, part):
    return table(ok(gregor_tx(bootstrap, "describe-producers", "--topic", TOPIC,
                              "--partition", str(part)), "describe-producers"), PRODUCERS_HDR)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

@pytest.mark.timeout(600)
def test_views_match_kafkas_tool(scene):
    bs, pids, node = scene["bootstrap"], scene["pids"], scene["node"]

    # list: the same bytes from all three; the open ones Ongoing
    out = ok(gregor_tx(bs, "list"), "gregor list")
    assert ok(shim_tx(bs, "list"), "shim list") == out
    assert ok(kafka_tx(bs, "list"), "Kafka list") == out
    rows = {r[0]: r for r in table(out, LIST_HDR)}
    assert set(rows) == {"t-before", "t-after"} | set(OPEN_IDS)
    for txn_id in OPEN_IDS:
        assert rows[txn_id][1:] == [node, str(pids[txn_id]), "Ongoing"]
    for txn_id in ("t-before", "t-after"):
        assert rows[txn_id][3] == "CompleteCommit"

    # describe: equal apart from the duration, which is the tool's "now"
    mine = table(ok(gregor_tx(bs, "describe", "--transactional-id", "t-p0"), "describe"),
                 DESCRIBE_HDR)
    shim = table(ok(shim_tx(bs, "describe", "--transactional-id", "t-p0"), "shim describe"),
                 DESCRIBE_HDR)
    ref = table(ok(kafka_tx(bs, "describe", "--transactional-id", "t-p0"), "Kafka describe"),
                DESCRIBE_HDR)
    assert len(mine) == len(shim) == len(ref) == 1
    duration = DESCRIBE_HDR.index("TransactionDurationMs")
    for r in (mine[0], shim[0]):
        assert r[:duration] + r[duration + 1:] == ref[0][:duration] + ref[0][duration + 1:]
        assert int(r[duration]) >= 0
    row = dict(zip(DESCRIBE_HDR, mine[0]))
    assert row["CoordinatorId"] == node and row["TransactionalId"] == "t-p0"
    assert row["ProducerId"] == str(pids["t-p0"]) and row["TransactionState"] == "Ongoing"
    assert row["TransactionTimeoutMs"] == str(TXN_TIMEOUT_MS)
    assert row["TopicPartitions"] == "%s-0" % TOPIC
    start = int(row["CurrentTransactionStartTimeMs"])
    assert abs(time.time() * 1000 - start) < 600000

    # describe-producers: the same bytes; the open producer's start offset
    for part, txn_id in enumerate(OPEN_IDS):
        args = ("describe-producers", "--topic", TOPIC, "--partition", str(part))
        out = ok(gregor_tx(bs, *args), "gregor describe-producers")
        assert ok(shim_tx(bs, *args), "shim describe-producers") == out
        if part == 0:
            assert ok(kafka_tx(bs, *args), "Kafka describe-producers") == out
        start_offsets = {int(r[0]): r[5] for r in table(out, PRODUCERS_HDR)}
        assert start_offsets == {pids["t-before"]: "None", pids[txn_id]: str(OPEN_START),
                                 pids["t-after"]: "None"}
    # --broker-id names the replica to ask: the one node
    assert ok(gregor_tx(bs, "describe-producers", "--topic", TOPIC, "--partition", "0",
                        "--broker-id", node), "--broker-id") == out_p0(bs)

    # find-hanging: every open transaction is still known to its
    # coordinator with its partition, so none is hanging, on either tool
    args = ("find-hanging", "--broker-id", node, "--max-transaction-timeout", "0")
    out = ok(gregor_tx(bs, *args), "gregor find-hanging")
    assert table(out, HANGING_HDR) == []
    assert ok(kafka_tx(bs, *args), "Kafka find-hanging") == out
    assert table(ok(gregor_tx(bs, "find-hanging", "--topic", TOPIC, "--partition", "1",
                              "--max-transaction-timeout", "0"), "find-hanging --topic"),
                 HANGING_HDR) == []


def out_p0(bs):
    return ok(gregor_tx(bs, "describe-producers", "--topic", TOPIC, "--partition", "0"),
              "describe-producers")


@pytest.mark.timeout(600)
def test_list_filters_and_json(scene):
    bs, pids = scene["bootstrap"], scene["pids"]
    rows = table(ok(gregor_tx(bs, "list", "--transactional-id-pattern", "t-p[01]"),
                    "pattern"), LIST_HDR)
    assert sorted(r[0] for r in rows) == ["t-p0", "t-p1"]
    # the whole id must match, as in Kafka
    assert table(ok(gregor_tx(bs, "list", "--transactional-id-pattern", "t-p"), "pattern"),
                 LIST_HDR) == []

    # nothing has run for an hour; with no bound, everything is listed
    long_out = ok(gregor_tx(bs, "list", "--duration-filter", "3600000"), "duration")
    assert table(long_out, LIST_HDR) == []
    assert ok(kafka_tx(bs, "list", "--duration-filter", "3600000"), "Kafka duration") == long_out
    all_out = ok(gregor_tx(bs, "list", "--duration-filter", "-1"), "duration -1")
    assert all_out == ok(gregor_tx(bs, "list"), "list")

    listed = json.loads(ok(gregor_tx(bs, "list", "--output", "json"), "list json"))
    assert {t["transactional_id"]: (t["producer_id"], t["state"]) for t in listed} == {
        k: (v, "Ongoing" if k in OPEN_IDS else "CompleteCommit") for k, v in pids.items()}
    d = json.loads(ok(gregor_tx(bs, "describe", "--transactional-id", "t-p2", "--output", "json"),
                      "describe json"))
    assert d["producer_id"] == pids["t-p2"] and d["state"] == "Ongoing"
    assert d["topic_partitions"] == [{"topic": TOPIC, "partition": 2}]
    assert d["transaction_timeout_ms"] == TXN_TIMEOUT_MS
    prods = json.loads(ok(gregor_tx(bs, "describe-producers", "--topic", TOPIC, "--partition", "2",
                                    "--output", "json"), "producers json"))
    assert {p["producer_id"]: p["current_transaction_start_offset"] for p in prods} == {
        pids["t-before"]: None, pids["t-p2"]: OPEN_START, pids["t-after"]: None}


@pytest.mark.timeout(600)
def test_kafka_tool_list_pattern(scene):
    """Kafka's tool sends the pattern in ListTransactions v2 (KIP-1152)."""
    bs = scene["bootstrap"]
    r = kafka_tx(bs, "list", "--transactional-id-pattern", "t-p[01]")
    assert r.stdout == ok(gregor_tx(bs, "list", "--transactional-id-pattern", "t-p[01]"), "list")


@pytest.mark.timeout(600)
def test_abort_hanging_transactions(scene):
    bs, pids = scene["bootstrap"], scene["pids"]
    before = sorted((p, 0, b"before") for p in range(3))
    # stuck behind the open transactions: only the first committed records
    assert read_committed(bs, 3) == before

    # partition 0: `gregor transactions abort --start-offset`
    r = gregor_tx(bs, "abort", "--topic", TOPIC, "--partition", "0",
                  "--start-offset", str(OPEN_START))
    assert ok(r, "gregor abort") == "" and r.stderr == ""

    # partition 1: the shim, with the older brokers' flags, from describe-producers
    rows = {int(r[0]): r for r in producers_rows(bs, 1)}
    mine = rows[pids["t-p1"]]
    assert mine[5] == str(OPEN_START)
    ok(shim_tx(bs, "abort", "--topic", TOPIC, "--partition", "1",
               "--producer-id", mine[0], "--producer-epoch", mine[1],
               "--coordinator-epoch", mine[2]), "shim abort")

    # partition 2: Kafka's own tool
    ok(kafka_tx(bs, "abort", "--topic", TOPIC, "--partition", "2",
                "--start-offset", str(OPEN_START)), "Kafka abort")

    # no open transaction is left, and the same view from Kafka's tool
    for part in range(3):
        rows = producers_rows(bs, part)
        assert [r[5] for r in rows] == ["None"] * 3, rows
    assert ok(kafka_tx(bs, "describe-producers", "--topic", TOPIC, "--partition", "0"),
              "Kafka describe-producers") == out_p0(bs)

    # the LSO moved: every committed record, no aborted one
    after = sorted(before + [(p, OPEN_START + 2, b"after") for p in range(3)])
    assert read_committed(bs, 6) == after

    # a second abort of the same offset finds nothing (Kafka's sentence)
    r = gregor_tx(bs, "abort", "--topic", TOPIC, "--partition", "0",
                  "--start-offset", str(OPEN_START))
    assert r.returncode == 1
    assert one_line_error(r) == ("gregor transactions: Could not find any open transactions "
                                 "starting at offset %d on partition %s-0" % (OPEN_START, TOPIC))


@pytest.mark.timeout(600)
def test_errors(broker):
    bs = broker.bootstrap
    create_topic(bs, "quiet", partitions=1)

    r = gregor_tx(bs, "abort", "--topic", "quiet", "--partition", "0", "--start-offset", "0")
    mine = one_line_error(r)
    assert r.returncode == 1
    ref = kafka_error(kafka_tx(bs, "abort", "--topic", "quiet", "--partition", "0",
                               "--start-offset", "0"))
    assert mine == "gregor transactions: " + ref
    assert ref == "Could not find any open transactions starting at offset 0 on partition quiet-0"

    r = gregor_tx(bs, "describe", "--transactional-id", "nobody", "--timeout-ms", "30000")
    assert r.returncode == 1
    ref = kafka_error(kafka_tx(bs, "describe", "--transactional-id", "nobody"))
    # Kafka's tool adds a hint about its debug log; the sentence is the same
    assert one_line_error(r) == "gregor transactions: " + ref.replace(
        ". Enable debug logging for additional detail.", "")

    r = gregor_tx(bs, "describe-producers", "--topic", "quiet", "--partition", "5")
    assert r.returncode == 1
    assert one_line_error(r).startswith("gregor transactions: Failed to describe producers for "
                                        "partition quiet-5 on leader: UNKNOWN_TOPIC_OR_PARTITION")
    r = gregor_tx(bs, "describe-producers", "--topic", "no-such-topic", "--partition", "0")
    assert r.returncode == 1
    assert one_line_error(r) == ("gregor transactions: Failed to describe producers for "
                                 "partition no-such-topic-0 on leader: UNKNOWN_TOPIC_OR_PARTITION")

    r = gregor_tx(bs, "abort", "--topic", "quiet", "--partition", "0")
    assert r.returncode == 1
    assert "must be identified either with --start-offset" in one_line_error(r)
    r = gregor_tx(bs, "find-hanging")
    assert r.returncode == 1
    assert "requires either --topic or --broker-id" in one_line_error(r)


def test_usage_errors():
    for args in ([], ["describe"], ["describe-producers", "--topic", "t"], ["frobnicate"],
                 ["list", "--partition", "x"], ["list", "--bogus"]):
        r = gregor_tx("127.0.0.1:1", *args, timeout=30)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("gregor transactions: ") and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([GREGOR, "transactions", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "describe-producers" in r.stdout and r.stderr == ""


def test_unreachable_broker():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = gregor_tx("127.0.0.1:%d" % port, "list", "--timeout-ms", "2000", timeout=30)
    assert r.returncode == 1
    assert one_line_error(r).startswith("gregor transactions: cannot reach the broker at 127.0.0.1:%d"
                                        % port)
    assert time.monotonic() - t0 < 10


# --------------------------------------------------------------------------
# a real hanging transaction, made with raw requests
# --------------------------------------------------------------------------

INVALID_TXN_STATE = 48
RETRIABLE = (14, 15, 16, 51)  # coordinator loading / not available / not coordinator; concurrent txns


def rpc(port, payload):
    s = kw.connect(port)
    try:
        s.sendall(payload)
        return kw.recv_response(s)
    finally:
        s.close()


def raw_txn_producer(port, txn_id, timeout=60):
    """FindCoordinator (key type 1) until it answers, then InitProducerId v0
    for txn_id: (producer id, epoch). The broker is its own coordinator."""
    deadline = time.monotonic() + timeout
    for api, body in ((10, kw.string(txn_id) + struct.pack(">b", 1)),
                      (22, kw.string(txn_id) + struct.pack(">i", TXN_TIMEOUT_MS))):
        while True:
            r = kw.Reader(rpc(port, kw.frame(kw.request_header_v1(api, api == 10 and 1 or 0, 7)
                                             + body)))
            _corr, _throttle, err = r.take(">iih")
            if err == 0:
                break
            assert err in RETRIABLE and time.monotonic() < deadline, (api, err)
            time.sleep(0.3)
    return r.take(">qh")


def transactional_batch(pid, epoch, seq, value):
    """A record batch v2 with the transactional bit, pid, epoch, sequence."""
    b = bytearray(kw.record_batch([(None, value, ())]))
    # attributes at byte 21 (after baseOffset, length, leaderEpoch, magic, crc)
    struct.pack_into(">h", b, 21, 0x10)
    struct.pack_into(">qhi", b, 43, pid, epoch, seq)
    struct.pack_into(">I", b, 17, kw.crc32c(bytes(b[21:])))
    return bytes(b)


def raw_transactional_produce(port, txn_id, topic, partition, batch):
    """Produce v3 with the transactional id: (error code, base offset)."""
    body = (kw.string(txn_id) + struct.pack(">hi", -1, 10000)
            + struct.pack(">i", 1) + kw.string(topic)
            + struct.pack(">i", 1) + struct.pack(">i", partition) + kw.nbytes(batch))
    _corr, res = kw.parse_produce_v3(rpc(port, kw.frame(kw.request_header_v1(0, 3, 8) + body)))
    return res[(topic, partition)]


@pytest.fixture
def lax_broker(start_broker, request):
    """KIP-890's partition verification off, so that a hanging transaction
    can be made at all."""
    return start_broker(transaction__partition__verification__enable="false")


@pytest.mark.timeout(600)
def test_find_hanging_and_abort(lax_broker):
    bs, port = lax_broker.bootstrap, lax_broker.port
    create_topic(bs, "lost", partitions=2)
    pid, epoch = raw_txn_producer(port, "t-lost")
    err, base = raw_transactional_produce(port, "t-lost", "lost", 0,
                                          transactional_batch(pid, epoch, 0, b"lost"))
    assert (err, base) == (0, 0)
    p = txn_producer(bs, "t-later")
    p.begin_transaction()
    p.produce("lost", b"later", partition=0)
    p.commit_transaction(60)

    d = dict(zip(DESCRIBE_HDR, table(ok(gregor_tx(bs, "describe", "--transactional-id", "t-lost"),
                                        "describe"), DESCRIBE_HDR)[0]))
    assert (d["ProducerId"], d["TransactionState"], d["TopicPartitions"]) == (str(pid), "Empty", "")
    assert d["CurrentTransactionStartTimeMs"] == d["TransactionDurationMs"] == "None"

    args = ("find-hanging", "--topic", "lost", "--max-transaction-timeout", "0")
    out = ok(gregor_tx(bs, *args), "gregor find-hanging")
    rows = table(out, HANGING_HDR)
    assert len(rows) == 1, out
    assert rows[0][:6] == ["lost", "0", str(pid), str(epoch), "-1", "0"]
    assert int(rows[0][7]) == (int(time.time() * 1000) - int(rows[0][6])) // 60000
    ref = table(ok(kafka_tx(bs, *args), "Kafka find-hanging"), HANGING_HDR)
    assert [r[:7] for r in ref] == [r[:7] for r in rows]
    node = table(ok(gregor_tx(bs, "list"), "list"), LIST_HDR)[0][1]
    assert [r[:7] for r in table(ok(shim_tx(bs, "find-hanging", "--broker-id", node,
                                             "--max-transaction-timeout", "0"), "shim"),
                                 HANGING_HDR)] == [r[:7] for r in rows]
    # within the default 15 minutes it is not a candidate yet
    assert table(ok(gregor_tx(bs, "find-hanging", "--topic", "lost"), "default"),
                 HANGING_HDR) == []
    # read_committed is stuck behind it
    c = Consumer({"bootstrap.servers": bs, "group.id": "lost-check",
                  "isolation.level": "read_committed", "enable.partition.eof": False})
    try:
        assert poll_values(c, "lost", 0, settle=5.0) == []
        ok(gregor_tx(bs, "abort", "--topic", "lost", "--partition", "0", "--start-offset", "0"),
           "abort")
        assert table(ok(gregor_tx(bs, *args), "find-hanging after"), HANGING_HDR) == []
        assert poll_values(c, "lost", 1) == [b"later"]
    finally:
        c.close()


def poll_values(consumer, topic, expect, settle=1.0, timeout=30):
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + timeout
    until = time.monotonic() + settle if expect == 0 else None
    while time.monotonic() < (until or deadline):
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m.value())
        if until is None and len(got) >= expect:
            until = time.monotonic() + settle
    return got


@pytest.mark.timeout(300)
def test_unverified_transactional_produce_refused(broker):
    create_topic(broker.bootstrap, "strict", partitions=1)
    pid, epoch = raw_txn_producer(broker.port, "t-strict")
    err, base = raw_transactional_produce(broker.port, "t-strict", "strict", 0,
                                          transactional_batch(pid, epoch, 0, b"unverified"))
    assert (err, base) == (INVALID_TXN_STATE, -1)

