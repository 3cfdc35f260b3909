"""
The protocol version sweep: every (API, version) the broker advertises gets
a valid request and an answer that decodes, with the error codes and the
shape Apache Kafka gives for the same request.

`sweep` (tests/integration/sweep.c, built by `make unit` beside the broker
binary: <dir of GREGOR_BIN>/tests/sweep) asks ApiVersions, creates its
topics, and for every advertised API the codec table (kp_apis[], generated
from src/proto/kafka.schema) knows, for every advertised version, sends a
request built with the generated struct and decodes the answer with the
generated codec of that version, strictly (the last byte consumed). It
prints per (API, version) every error_code of the answer, top-level and
nested, in order, the length of every array in it (the number of topics,
partitions, members ... answered), and per field the null strings and the
tagged fields present: a walk of the bytes driven by the schema file, which
must also end on the last byte. Most APIs are also swept with one thing
wrong (the "error case": an unknown topic, group or transactional id, or an
existing topic for CreateTopics), and some in more named cases (a stale
generation, an offset out of range, three replicas on one broker, an
unknown config, an EndTxn from another epoch, a new producer's first
sequence 5, ...), so that the error paths are compared too.

Kafka's answers are recorded in sweep_expected.json (beside this file; CI
runs only Gregor) by `python3 tests/integration/sweep_record.py`, which runs
the same sweep against a fresh Apache Kafka 4.4.0 and a fresh Kafka 3.9.1.
Kafka 3.9.1 (tests/reference/pom-3.9.xml; `tests/reference/kafkaref.py
fetch --version 3.9`) is served by Maven Central and runs here in KRaft
mode; it is the reference for the versions Kafka 4 no longer serves
(KIP-896: ListOffsets v0, OffsetCommit v0-1, OffsetFetch v0, CreateTopics
v0-1, DeleteTopics v0, DescribeConfigs v0, DescribeLogDirs v0,
OffsetForLeaderEpoch v0-1, WriteTxnMarkers v0, and Produce v0-2, which
Kafka 4.4 still advertises but answers by closing the connection).

On Gregor, test_version_sweep checks: the sweep ends within 60 s; no
advertised API or version is missing from the codecs or from sweep.c's
fillers; every answer decodes; and every answer has Kafka's errors and
array lengths, null strings and tagged fields - Kafka 4.4's where Kafka
4.4 answers that version, else Kafka 3.9's. Differences Gregor does not fix
yet are listed in EXCEPTIONS below, each with what differs; an entry that no
longer differs fails the test (remove it), and so does any other
difference. test_version_sweep_identical is the strict expected
failure that names them in the run's summary.

With --broker=kafka the test sweeps Kafka 4.4's advertised versions and
checks that its answers are the recorded ones (so the file is current and
the sweep deterministic).

The KRaft and controller APIs (Vote, BeginQuorumEpoch, EndQuorumEpoch,
FetchSnapshot, BrokerRegistration, BrokerHeartbeat, AlterPartition,
AllocateProducerIds) and those that would change the single node's quorum
or registration (AddRaftVoter, RemoveRaftVoter, UpdateRaftVoter,
UnregisterBroker) are listed by the sweep as left out, with the reason,
when a broker advertises them.
"""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import GREGOR_BIN, GregorGap, gregor_gap
from sweep_record import EXPECTED, SCHEMA, answer_key, run_sweep

SWEEP = Path(GREGOR_BIN).parent / "tests" / "sweep"
KAFKA = "4.4.0"
OLD_KAFKA = "3.9.1"
SWEEP_LIMIT_S = 60

# Parts of an answer that are not Kafka behaviour, so not compared:
# (api, top-level field) -> why. Arrays, nulls and tagged fields under it.
UNCOMPARED_ARRAYS = {
    ("ApiVersions", "api_keys"): "each broker lists the APIs it has",
    ("ApiVersions", "supported_features"): "Kafka's own features (kraft.version, ...)",
    ("ApiVersions", "finalized_features"): "Kafka's own features (metadata.version, ...)",
    ("ApiVersions", "finalized_features_epoch"): "sent with Kafka's finalized features",
    ("ListGroups", "groups"): "every group the sweep made so far: one per swept version "
                              "of the group APIs, so it follows each broker's ranges",
}

# Where Gregor's answer differs from Kafka's and Gregor does not fix it yet:
# "Api vN" or "Api vN (error case)" -> [(the starts of the differences as
# compare() words them, why)]. Each must still differ (else the test fails:
# remove it; versions the broker does not serve are not checked), and a
# version's other differences are not excused.
EXCEPTIONS = {}


def known(api, versions, what, why, error_case=False, case=None):
    case = "error" if error_case else case
    for v in versions:
        name = "%s v%d%s" % (api, v, " (%s case)" % case if case else "")
        EXCEPTIONS.setdefault(name, []).append((what, why))


# CreateTopics v5+ answers with the new topic's configs: Kafka 4.4 lists 37
# (3.9.1: 36), Gregor 26. Kafka's other 11: errors.deadletterqueue.group.enable,
# follower.replication.throttled.replicas, leader.replication.throttled.replicas,
# local.retention.bytes, local.retention.ms, max.decompressed.message.bytes,
# remote.copy.lag.bytes, remote.copy.lag.ms, remote.log.copy.disable,
# remote.log.delete.on.disable, remote.storage.enable.
known("CreateTopics", range(5, 8), "topics.configs lengths",
      "Gregor lists 26 topic configs, Kafka 4.4 37")
# The error cases (sweep.c's er_* functions: an unknown topic, group or
# transactional id):
# Metadata v0-3 may create the topic it names (auto.create.topics.enable):
# Kafka answers UNKNOWN_TOPIC_OR_PARTITION with no partitions while the
# creation goes on; Gregor creates the topic first and answers it.
known("Metadata", range(0, 4), ("errors", "topics.partitions"),
      "auto-created topic: NONE with its partition at once, Kafka "
      "UNKNOWN_TOPIC_OR_PARTITION and no partitions", error_case=True)


def _prefixes(what):
    return what if isinstance(what, tuple) else (what,)


def _excused(name, diff):
    return any(diff.startswith(p) for what, _ in EXCEPTIONS.get(name, ()) for p in _prefixes(what))


def _exceptions_summary():
    """One line per API: the versions and what differs."""
    by = {}
    for name, items in EXCEPTIONS.items():
        api, v, _, case = answer_key(name)
        for what, why in items:
            by.setdefault((api, case, why), []).append(v)
    return "; ".join("%s v%s%s: %s" % (api, ",".join(map(str, sorted(vs))),
                                        " (%s case)" % case if case else "", why)
                     for (api, case, why), vs in sorted(by.items()))


def load_expected():
    with open(EXPECTED) as f:
        return json.load(f)


def compare(api, got, want):
    """The differences between an answer and Kafka's, as sentences."""
    if "skipped" in got or "skipped" in want:
        if got.get("skipped") == want.get("skipped"):
            return []
        return ["swept: %s, Kafka: %s" % (got.get("skipped", "yes"), want.get("skipped", "yes"))]
    if not want.get("decoded"):
        if not got.get("decoded"):
            return []
        return ["Kafka gives no answer (%s); this broker answers %s"
                % (want.get("failure"), got["errors"])]
    if not got.get("decoded"):
        return ["no decodable answer: %s" % got.get("failure")]
    diffs = []
    if got["errors"] != want["errors"] or got["error_fields"] != want["error_fields"]:
        diffs.append("errors %s, Kafka %s" % (
            list(zip(got["error_fields"], got["errors"])),
            list(zip(want["error_fields"], want["errors"]))))
    for path in sorted(set(got["arrays"]) | set(want["arrays"])):
        if (api, path.split(".")[0]) in UNCOMPARED_ARRAYS:
            continue
        if got["arrays"].get(path) != want["arrays"].get(path):
            diffs.append("%s lengths %s, Kafka %s" % (path, got["arrays"].get(path),
                                                       want["arrays"].get(path)))
    for what, label in (("nulls", "null"), ("tagged", "tagged fields present")):
        g, w = got.get(what, {}), want.get(what, {})
        for path in sorted(set(g) | set(w)):
            if (api, path.split(".")[0]) in UNCOMPARED_ARRAYS:
                continue
            if g.get(path, 0) != w.get(path, 0):
                diffs.append("%s %s: %d, Kafka %d" % (path, label, g.get(path, 0),
                                                      w.get(path, 0)))
    return diffs


def reference_for(name, expected):
    """Kafka's answer to compare with: Kafka 4.4's where it answered, else
    Kafka 3.9's, else 4.4's refusal; (None, None) when neither advertised it."""
    refs = [(KAFKA, expected["kafka"][KAFKA]), (OLD_KAFKA, expected["kafka"][OLD_KAFKA])]
    for version, ref in refs:
        a = ref["answers"].get(name)
        if a is not None and a.get("decoded"):
            return version, a
    for version, ref in refs:
        a = ref["answers"].get(name)
        if a is not None and "skipped" not in a:
            return version, a
    return None, None


def sweep(broker):
    assert os.access(SWEEP, os.X_OK), \
        "%s not found: build it with `make unit` (or `make %s`)" % (SWEEP, SWEEP)
    advertised, answers, others, done, stderr = run_sweep(broker.bootstrap, SWEEP, SCHEMA,
                                                          timeout=SWEEP_LIMIT_S + 30)
    print(stderr)
    assert done is not None, "the sweep did not finish:\n%s" % stderr
    assert done["seconds"] < SWEEP_LIMIT_S, "the sweep took %.1f s" % done["seconds"]
    return advertised, answers, others


def gregor_differences(advertised, answers, others, expected):
    """(problems, differences): what is wrong whatever Kafka does, and the
    answers that differ from Kafka's, by "Api vN"."""
    problems, diffs = [], {}
    for o in others:
        if o.get("skipped"):
            problems.append("API key %d advertised %s but not in the codec table"
                            % (o["key"], o["advertised"]))
        elif o.get("left_out"):
            print("left out: %s (%s)" % (o["api"], o["left_out"]))
    swept = set()
    for name, got in sorted(answers.items(), key=lambda kv: answer_key(kv[0])):
        api, version, step, case = answer_key(name)
        swept.add((api, version))
        if "skipped" in got:
            problems.append("%s: %s" % (name, got["skipped"]))
            continue
        ref_version, want = reference_for(name, expected)
        if want is None:
            problems.append("%s: neither Kafka %s nor %s answered it (re-record with "
                            "sweep_record.py, or explain the version)" % (name, KAFKA, OLD_KAFKA))
            continue
        d = compare(api, got, want)
        print("%-32s vs Kafka %s: %s" % (name, ref_version, "; ".join(d) if d else "same"))
        if d:
            diffs.setdefault(re.sub(r" #\d+", "", name), []).extend(d)
    # A second step Kafka took (JoinGroup's rejoin after MEMBER_ID_REQUIRED)
    # that this broker did not.
    for ref in (expected["kafka"][KAFKA], expected["kafka"][OLD_KAFKA]):
        for name in ref["answers"]:
            api, version, step, case = answer_key(name)
            if step > 1 and (api, version) in swept and name not in answers:
                diffs.setdefault("%s v%d" % (api, version), []).append("no step %d" % step)
    problems += unswept(advertised, answers, others)
    return problems, diffs


def unswept(advertised, answers, others):
    """Advertised versions with no line at all (the sweep prints one for
    every version of every advertised API, or says why the API is left out
    or unknown to the codecs)."""
    versions, accounted = {}, set()
    for d in answers.values():
        versions.setdefault(d["key"], set()).add(d["version"])
    for o in others:
        accounted.add(o["key"])
    out = []
    for key, (lo, hi) in sorted(advertised.items()):
        if key in accounted:
            continue
        missing = [v for v in range(lo, hi + 1) if v not in versions.get(key, ())]
        if missing:
            out.append("API key %d: advertised versions %s have no answer" % (key, missing))
    return out


@pytest.mark.timeout(180)
@pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
def test_version_sweep(broker):
    expected = load_expected()
    advertised, answers, others = sweep(broker)
    if broker.kind == "kafka":
        rec = expected["kafka"][KAFKA]
        problems = []
        if {str(k): v for k, v in advertised.items()} != rec["advertised"]:
            problems.append("Kafka advertises %s, recorded %s" % (advertised, rec["advertised"]))
        for name, got in answers.items():
            want = rec["answers"].get(name)
            if want is None:
                problems.append("%s: not recorded" % name)
            elif compare(answer_key(name)[0], got, want):
                problems.append("%s: %s" % (name, "; ".join(compare(answer_key(name)[0], got, want))))
        for name in rec["answers"]:
            if name not in answers:
                problems.append("%s: recorded but not swept now" % name)
        problems += unswept(advertised, answers, others)
        assert not problems, ("Kafka's answers are not the recorded ones (re-record with "
                              "sweep_record.py if Kafka or sweep.c changed):\n"
                              + "\n".join(problems))
        return
    problems, diffs = gregor_differences(advertised, answers, others, expected)
    for name, d in sorted(diffs.items()):
        for x in d:
            if _excused(name, x):
                print("known difference %s: %s" % (name, x))
            else:
                problems.append("%s differs from Kafka: %s" % (name, x))
    for name, items in sorted(EXCEPTIONS.items()):
        if name not in answers:
            continue  # a version this broker does not advertise (yet)
        for what, why in items:
            if not any(x.startswith(p) for x in diffs.get(name, ()) for p in _prefixes(what)):
                problems.append("%s: EXCEPTIONS says %r (%s) but it answers as Kafka does "
                                "now: remove it" % (name, what, why))
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(180)
@pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
@gregor_gap("answers that differ from Kafka's in the version sweep: " + _exceptions_summary())
def test_version_sweep_identical(broker):
    """Every advertised (API, version) answers exactly as Kafka does: on
    Gregor an expected failure while EXCEPTIONS is not empty (the failure it
    expects is exactly those differences); on Kafka the recorded answers."""
    expected = load_expected()
    advertised, answers, others = sweep(broker)
    if broker.kind == "kafka":
        rec = expected["kafka"][KAFKA]["answers"]
        bad = [n for n, got in answers.items()
               if n not in rec or compare(answer_key(n)[0], got, rec[n])]
        assert not bad, "Kafka's answers are not the recorded ones: %s" % bad
        return
    problems, diffs = gregor_differences(advertised, answers, others, expected)
    assert not problems, "\n".join(problems)
    if diffs and all(_excused(n, x) for n, d in diffs.items() for x in d):
        raise GregorGap("differs from Kafka: %s" % "; ".join(sorted(diffs)))
    assert not diffs, "differs from Kafka: %s" % diffs
