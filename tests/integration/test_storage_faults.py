"""
Damaged or impossible files in the log directory (issue 17): what the
broker does with them at start, and what it says.

- A log-start-offset-checkpoint entry beyond the log end (1,000,000,000 for
  a log ending at 300) is ignored with a warning naming the value, every
  record stays readable, and the value is not written back at the next
  shutdown.
- A brand-new log directory is reported as new, not as "unclean shutdown
  before".

Gregor-only: these tamper with Gregor's files and read its log.
"""
import re

import pytest

from conftest import consume_partitions, create_topic, produce_all, watermarks

pytestmark = pytest.mark.gregor_only("tampers with Gregor's log directory and reads its log")

CKPT = "log-start-offset-checkpoint"


def read_ckpt(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "0", lines
    n = int(lines[1])
    out = {}
    for line in lines[2:2 + n]:
        topic, part, off = line.rsplit(" ", 2)
        out[(topic, int(part))] = int(off)
    return out


def write_ckpt(path, entries):
    text = "0\n%d\n" % len(entries) + "".join(
        "%s %d %d\n" % (t, p, o) for (t, p), o in sorted(entries.items()))
    path.write_text(text)


def test_impossible_log_start_checkpoint(broker):
    create_topic(broker.bootstrap, "hidden", 1)
    produce_all(broker.bootstrap, "hidden",
                [{"value": b"v%d" % i, "partition": 0} for i in range(300)])
    assert broker.stop() == 0
    path = broker.data_dir / CKPT
    entries = read_ckpt(path)
    assert entries[("hidden", 0)] == 0
    entries[("hidden", 0)] = 1000000000
    write_ckpt(path, entries)

    broker.restart()
    log = broker.log_text()
    assert re.search(r"checkpointed log start offset 1000000000 is beyond the log end 300; "
                     r"ignoring it", log), log
    assert watermarks(broker.bootstrap, "hidden", 0) == (0, 300)
    got = consume_partitions(broker.bootstrap, "hidden", {0: 300})[0]
    assert [m.value() for m in got] == [b"v%d" % i for i in range(300)]

    assert broker.stop() == 0
    assert read_ckpt(path)[("hidden", 0)] == 0


def test_new_log_directory_is_reported_as_new(broker):
    log = broker.log_text()
    assert "opened (new)" in log, log
    assert "unclean shutdown before" not in log
    assert broker.stop() == 0
    broker.restart()
    assert "(clean shutdown before)" in broker.log_text()
