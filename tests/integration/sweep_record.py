#!/usr/bin/env python3
"""Record Apache Kafka's answers to the protocol version sweep into
tests/integration/sweep_expected.json, the reference test_version_sweep.py
compares Gregor with (CI runs only Gregor, so Kafka's answers are recorded).

    scripts/kafka fetch                                  # Kafka 4.4.0, once
    python3 tests/reference/kafkaref.py fetch --version 3.9   # Kafka 3.9.1, once
    make O=build build/tests/sweep                       # or make unit
    /usr/bin/python3 tests/integration/sweep_record.py   # writes the file

It starts a fresh single-node KRaft Kafka 4.4.0, runs `sweep` against it,
stops it, then the same with Kafka 3.9.1 (the last release serving the
versions KIP-896 removed in Kafka 4: ListOffsets v0, OffsetCommit v0-1,
OffsetFetch v0, CreateTopics v0-1, ...), and writes both runs' answers with
the versions each broker advertised. GREGOR_BIN picks the build directory
whose tests/sweep is used, as in the tests. Run it again when sweep.c
changes what it sends, or when the schema learns new versions.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "reference"))
import kafkaref  # noqa: E402

GREGOR_BIN = (REPO / os.environ.get("GREGOR_BIN", "build/gregor")).resolve()
SWEEP = GREGOR_BIN.parent / "tests" / "sweep"
SCHEMA = REPO / "src" / "proto" / "kafka.schema"
EXPECTED = HERE / "sweep_expected.json"
SWEEP_TIMEOUT_S = 120


def answer_name(d):
    """ "Produce v3", "JoinGroup v4 #2" (a second step), "Produce v3 (error
    case)" (the API's request with one thing wrong)."""
    name = "%s v%d" % (d["api"], d["version"])
    if d.get("step", 1) > 1:
        name += " #%d" % d["step"]
    if d.get("case"):
        name += " (%s case)" % d["case"]
    return name


_NAME = re.compile(r"^(\S+) v(\d+)(?: #(\d+))?(?: \(([\w-]+) case\))?$")


def answer_key(name):
    """(api, version, step, case) of an answer_name."""
    m = _NAME.match(name)
    if not m:
        raise ValueError("not an answer name: %r" % name)
    return m.group(1), int(m.group(2)), int(m.group(3) or 1), m.group(4) or ""


def run_sweep(bootstrap, sweep=SWEEP, schema=SCHEMA, timeout=SWEEP_TIMEOUT_S):
    """Run the sweep; returns (advertised, answers, done, stdout, stderr).
    answers maps "Api vN" (or "Api vN #2" for a second step) to the line."""
    r = subprocess.run([str(sweep), "-b", bootstrap, "--schema", str(schema)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("sweep exited %d\nstdout:\n%s\nstderr:\n%s"
                           % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    advertised, answers, others, done = None, {}, [], None
    for line in r.stdout.splitlines():
        d = json.loads(line)
        if "advertised" in d and "key" not in d:
            advertised = {int(k): v for k, v in d["advertised"].items()}
        elif d.get("done"):
            done = d
        elif "version" in d:
            answers[answer_name(d)] = d
        else:
            others.append(d)
    return advertised, answers, others, done, r.stderr


def answer_record(d):
    """What the expected file keeps of one line."""
    if "skipped" in d:
        return {"skipped": d["skipped"]}
    if not d.get("decoded"):
        return {"decoded": False, "failure": d["failure"]}
    return {"decoded": True, "errors": d["errors"], "error_fields": d["error_fields"],
            "arrays": d["arrays"], "nulls": d["nulls"], "tagged": d["tagged"]}


def record(ref):
    version = kafkaref.REFERENCES[ref]["version"]
    kafkaref.fetch(quiet=True, ref=ref)
    d = tempfile.mkdtemp(prefix="sweep-kafka-%s-" % ref)
    c = kafkaref.KafkaCluster(d, nodes=1, heap="512m", ref=ref)
    try:
        t0 = time.monotonic()
        c.start()
        print("kafka %s serving after %.1f s on %s" % (version, time.monotonic() - t0,
                                                      c.bootstrap), flush=True)
        advertised, answers, others, done, err = run_sweep(c.bootstrap)
    finally:
        c.stop()
        c.cleanup()
        shutil.rmtree(d, ignore_errors=True)
    if done is None:
        raise RuntimeError("the sweep against Kafka %s did not finish:\n%s" % (version, err))
    print("kafka %s: %d answers in %.1f s, %d not decoded" % (
        version, len(answers), done["seconds"], done["failures"]), flush=True)
    return {
        "advertised": {str(k): v for k, v in sorted(advertised.items())},
        "answers": {k: answer_record(v) for k, v in answers.items()},
        "not_swept": [o for o in others],
    }


def dumps(out):
    """JSON with one line per answer, so that a change reads as a diff."""
    def line(v):
        return json.dumps(v, sort_keys=True)

    parts = ["{\n", ' "about": %s,\n' % line(out["about"]), ' "kafka": {\n']
    refs = sorted(out["kafka"], reverse=True)
    for i, ref in enumerate(refs):
        r = out["kafka"][ref]
        parts.append('  %s: {\n' % line(ref))
        parts.append('   "advertised": %s,\n' % line(r["advertised"]))
        parts.append('   "not_swept": %s,\n' % line(r["not_swept"]))
        parts.append('   "answers": {\n')
        keys = sorted(r["answers"], key=answer_key)
        for j, k in enumerate(keys):
            parts.append('    %s: %s%s\n' % (line(k), line(r["answers"][k]),
                                            "," if j + 1 < len(keys) else ""))
        parts.append('   }\n  }%s\n' % ("," if i + 1 < len(refs) else ""))
    parts.append(' }\n}\n')
    text = "".join(parts)
    assert json.loads(text) == out
    return text


def main():
    if not os.access(SWEEP, os.X_OK):
        print("%s not found: build it with `make %s`" % (SWEEP, SWEEP.relative_to(REPO)),
              file=sys.stderr)
        return 1
    out = {
        "about": "Apache Kafka's answers to tests/integration/sweep.c, one per (API, "
                 "version) each broker advertises; written by "
                 "`python3 tests/integration/sweep_record.py`, read by "
                 "tests/integration/test_version_sweep.py.",
        "kafka": {},
    }
    for ref in ("4.4", "3.9"):
        out["kafka"][kafkaref.REFERENCES[ref]["version"]] = record(ref)
    with open(EXPECTED, "w") as f:
        f.write(dumps(out))
    print("wrote %s" % EXPECTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
