"""
Gregor's outbound Kafka-protocol client (src/net/client.c, what brokers and
controllers use to talk to each other) against a real broker: Gregor, and
Apache Kafka 4.4 with --broker=kafka.

Proves that the client interoperates with both: the ApiVersions v3
handshake (flexible request header v2, response header v0), the ranges it
learns (Metadata 12, Fetch 16 on Gregor and 17 on Kafka - the newest the
schema encodes -, no Vote on a broker listener), ApiVersions and Metadata
answers that decode with the generated codecs (the broker's own port
listed), 20 requests pipelined five at a time answered once each and in
order, and a request at a version the broker does not advertise refused
before it is sent, without losing the connection.

The checks are in C: `test_client --bootstrap HOST:PORT`, built by
`make unit` beside the broker binary (<dir of GREGOR_BIN>/tests/test_client;
`make unit` alone runs the rest of it against a gregor server it starts,
kills and restarts itself, and against scripted peers).
"""

import os
import subprocess
from pathlib import Path

from conftest import GREGOR_BIN

TEST_CLIENT = Path(GREGOR_BIN).parent / "tests" / "test_client"


def test_outbound_client_interop(broker):
    assert os.access(TEST_CLIENT, os.X_OK), \
        "%s not found: build it with `make unit` (or `make %s`)" % (TEST_CLIENT, TEST_CLIENT)
    r = subprocess.run([str(TEST_CLIENT), "--bootstrap", broker.bootstrap],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout)
    assert r.returncode == 0, "test_client failed (%d)\nstdout: %s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr[-4000:])
    assert "interop %s: Metadata v13, Fetch v18" % broker.bootstrap in r.stdout, r.stdout
    assert ", 0 failed" in r.stdout, r.stdout
