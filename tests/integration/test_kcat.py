"""
kcat (librdkafka 2.0.2) end to end: 100,000 keyed messages with headers into
a 3-partition topic, consumed back with partition/offset/key/value/headers.

Proves: Produce and Fetch through a real client at volume, keyed partitioning
(same key -> same partition), per-partition order, contiguous offsets from 0,
headers preserved, nothing lost or duplicated.
"""

import random
import subprocess
from collections import defaultdict

import pytest

from conftest import create_topic, scaled

N = scaled(100_000)
HEADERS = [("h1", "v1"), ("hdr-two", "value2")]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def make_messages(n, seed=1234):
    """(key, value) pairs made of [a-z0-9] only: safe with ':' and tab delimiters."""
    rnd = random.Random(seed)
    msgs = []
    for i in range(n):
        key = "k%04d" % rnd.randrange(500)
        body = "".join(rnd.choice(ALNUM) for _ in range(rnd.randrange(0, 40)))
        msgs.append((key, "m%06d%s" % (i, body)))
    return msgs


@pytest.mark.timeout(600)
def test_kcat_roundtrip_keys_headers(broker, tmp_path):
    topic = "kcat-roundtrip"
    create_topic(broker.bootstrap, topic, partitions=3)

    msgs = make_messages(N)
    infile = tmp_path / "in.txt"
    infile.write_text("".join("%s:%s\n" % kv for kv in msgs))

    hdr_args = []
    for k, v in HEADERS:
        hdr_args += ["-H", "%s=%s" % (k, v)]
    with open(infile, "rb") as f:
        prod = subprocess.run(
            ["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-K:", "-q",
             "-X", "acks=all", "-X", "linger.ms=5", "-X", "message.timeout.ms=60000"]
            + hdr_args,
            stdin=f, capture_output=True, timeout=300)
    perr = prod.stderr.decode(errors="replace")
    assert prod.returncode == 0, "kcat -P failed (%d): %s" % (prod.returncode, perr[-3000:])
    assert "delivery failed" not in perr.lower(), "kcat -P reported failures: %s" % perr[-3000:]

    cons = subprocess.run(
        ["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-e", "-q",
         "-o", "beginning", "-f", r"%p\t%o\t%k\t%s\t%h\n"],
        capture_output=True, timeout=300)
    assert cons.returncode == 0, "kcat -C failed: %s" % cons.stderr.decode(errors="replace")[-3000:]

    lines = cons.stdout.decode().splitlines()
    assert len(lines) == N, "consumed %d lines, produced %d" % (len(lines), N)

    expected_hdrs = ",".join("%s=%s" % kv for kv in HEADERS)
    per_part = defaultdict(list)   # partition -> [(offset, key, value)]
    for ln in lines:
        fields = ln.split("\t")
        assert len(fields) == 5, "bad kcat line %r" % ln
        p, o, k, v, h = fields
        assert h == expected_hdrs, "headers %r != %r" % (h, expected_hdrs)
        per_part[int(p)].append((int(o), k, v))

    assert set(per_part) <= {0, 1, 2}
    # Same content, byte for byte, as a multiset.
    consumed = sorted((k, v) for recs in per_part.values() for _, k, v in recs)
    assert consumed == sorted(msgs), "consumed content differs from produced content"

    key_part = {}
    for p, recs in per_part.items():
        offsets = [o for o, _, _ in recs]
        assert offsets == list(range(len(recs))), \
            "partition %d offsets not contiguous from 0 (first bad at %s)" % (
                p, next(i for i, o in enumerate(offsets) if o != i))
        for _, k, _ in recs:
            assert key_part.setdefault(k, p) == p, "key %s in partitions %d and %d" % (k, key_part[k], p)

    # Per partition, order equals produced order (kcat sends the file in order,
    # one partition per key, so each partition sees a subsequence of the file).
    for p, recs in per_part.items():
        produced_here = [(k, v) for k, v in msgs if key_part.get(k) == p]
        assert [(k, v) for _, k, v in recs] == produced_here, "partition %d order differs" % p

    # With 500 random keys, all 3 partitions are used.
    assert len(per_part) == 3, "only partitions %s used" % sorted(per_part)
