"""
Damaged or impossible files in the log directory (issue 17): what the
broker does with them at start, and what it says.

- A log-start-offset-checkpoint entry beyond the log end (1,000,000,000 for
  a log ending at 300) is ignored with a warning naming the value, every
  record stays readable, and the value is not written back at the next
  shutdown.
- A brand-new log directory is reported as new, not as "unclean shutdown
  before".
- One flipped bit in the metadata log (after a clean stop or a kill -9)
  stops the start with an error naming the file and the way out, and
  changes nothing; with log.recovery.truncate.corrupt=true it starts, and
  the partition directories of the topics it forgot are set aside.
- A partition directory no topic owns is set aside as
  <topic>-<partition>.<hex>-stray, never adopted by a new topic.

Gregor-only: these tamper with Gregor's files and read its log.
"""
import re
import shutil

import pytest

from conftest import consume_partitions, create_topic, list_topics, produce_all, watermarks

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


def _flip(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x10]))


def _metadata_segment(broker):
    return broker.data_dir / "__cluster_metadata-0" / ("%020d.log" % 0)


def _start_fails(broker):
    """Start the broker expecting it to refuse; returns its log."""
    try:
        broker.start()
    except Exception:
        return broker.log_text()
    pytest.fail("the broker started over a damaged metadata log:\n%s" % broker.log_tail())


@pytest.mark.parametrize("unclean", [False, True], ids=["clean", "killed"])
def test_flipped_bit_in_metadata_log_stops_the_start(broker, unclean):
    """One flipped bit in the only batch of the metadata log: the start stops
    with an error naming the file, instead of forgetting every topic."""
    create_topic(broker.bootstrap, "kept", 2)
    produce_all(broker.bootstrap, "kept", [{"value": b"v", "partition": 0}])
    if unclean:
        broker.kill9()
    else:
        assert broker.stop() == 0
    seg = _metadata_segment(broker)
    size = seg.stat().st_size
    _flip(seg, seg.read_bytes().index(b"kept") + 1)  # in the batch creating the topic
    log = _start_fails(broker)
    assert "corrupt data in" in log and "__cluster_metadata-0" in log, log
    assert "log.recovery.truncate.corrupt=true" in log
    assert seg.stat().st_size == size, "the damaged log was changed"
    assert (broker.data_dir / "kept-0").is_dir()

    # The operator's explicit choice: truncate and start. The topic is gone
    # from the metadata, and its directories are set aside, not adopted.
    broker.overrides["log.recovery.truncate.corrupt"] = "true"
    broker.start()
    assert "kept" not in list_topics(broker.bootstrap)
    strays = [p.name for p in broker.data_dir.iterdir()
              if p.name.endswith("-stray") and p.name.startswith("kept-")]
    assert len(strays) == 2, strays
    create_topic(broker.bootstrap, "kept", 2)
    assert watermarks(broker.bootstrap, "kept", 0) == (0, 0)


def test_stray_partition_directory_is_set_aside(broker):
    create_topic(broker.bootstrap, "real", 1)
    produce_all(broker.bootstrap, "real",
                [{"value": b"r%d" % i, "partition": 0} for i in range(50)])
    assert broker.stop() == 0
    shutil.copytree(broker.data_dir / "real-0", broker.data_dir / "ghost-0")
    broker.restart()
    log = broker.log_text()
    assert re.search(r"partition directory \S+ghost-0 is no partition the metadata has on this broker: "
                     r"set aside as \S+ghost-0\.[0-9a-f]{32}-stray", log), log
    assert not (broker.data_dir / "ghost-0").exists()
    # A topic of that name starts empty; the known topic is untouched.
    create_topic(broker.bootstrap, "ghost", 1)
    assert watermarks(broker.bootstrap, "ghost", 0) == (0, 0)
    assert watermarks(broker.bootstrap, "real", 0) == (0, 50)
