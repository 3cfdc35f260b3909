"""
The checker of tests/fault: what the producers were told (their delivery
reports) against what the partitions hold when read back from the start.

Input:
  acked   - one entry per record whose delivery report said success:
            (producer, seq, partition, offset)
  read    - {partition: [(offset, value), ...]}, every record of every
            partition from offset 0 to the high watermark, in offset order.
            A value is "<producer>:<seq>" (tests/fault/producer.py).

What it counts (Report):
  acked        records acknowledged (delivery report without error)
  read         records read back
  lost         acknowledged records whose value is nowhere in the topic
               (must be 0: acks=all with min.insync.replicas=2 promises it)
  misplaced    acknowledged records that are in the topic, but not at the
               partition and offset their delivery report gave (must be 0:
               an acknowledged offset is where a reader finds the record).
               A delivery report without an offset (librdkafka acknowledges
               a record implicitly when the leader accepted a later
               sequence of the same idempotent producer: it was persisted,
               its offset was never sent) is checked for its partition
               only; the report counts those as "offset unknown".
  duplicates   extra copies: a value read k times counts k-1 (must be 0:
               the idempotent producer's retries are deduplicated by the
               leader, and a new leader keeps the producer state)
  out_of_order records of one producer in one partition that come after a
               record of that producer with a higher sequence number
               (duplicates are not counted again here); must be 0: the
               idempotent producer keeps its order per partition
  unacked_read records read whose delivery report said failure or never
               came: allowed (a produce the client gave up on can have been
               written); never counted as lost
  unparsable   values that are not "<producer>:<seq>" (must be 0: nobody
               else writes to the topic)

Nothing here talks to a broker: the functions take lists and return counts,
so they can be checked with hand-made data (see __main__).
"""

from collections import Counter, defaultdict, namedtuple

Report = namedtuple("Report", "acked read lost misplaced duplicates out_of_order "
                              "unacked_read unparsable no_offset examples")

FIELDS = ("lost", "misplaced", "duplicates", "out_of_order", "unparsable")


def parse(value):
    """b"p1:42" -> ("p1", 42); None when the value is not in that form."""
    try:
        text = value.decode() if isinstance(value, bytes) else value
        producer, seq = text.rsplit(":", 1)
        return producer, int(seq)
    except (AttributeError, UnicodeDecodeError, ValueError):
        return None


def check(acked, read):
    """Counts as the module docstring says; `examples` holds a few of each
    kind of fault ({kind: [...]}) for the failure message."""
    examples = defaultdict(list)

    def note(kind, what):
        if len(examples[kind]) < 5:
            examples[kind].append(what)

    where = defaultdict(list)          # (producer, seq) -> [(partition, offset)]
    copies = Counter()
    unparsable = 0
    out_of_order = 0
    total_read = 0
    for partition in sorted(read):
        highest = {}                   # producer -> highest seq read so far here
        seen_here = set()
        for offset, value in read[partition]:
            total_read += 1
            pv = parse(value)
            if pv is None:
                unparsable += 1
                note("unparsable", (partition, offset, value))
                continue
            producer, seq = pv
            where[pv].append((partition, offset))
            copies[pv] += 1
            if pv in seen_here:
                continue               # a duplicate: counted once, below
            seen_here.add(pv)
            if producer in highest and seq < highest[producer]:
                out_of_order += 1
                note("out_of_order", (partition, offset, "%s:%d after %s:%d"
                                      % (producer, seq, producer, highest[producer])))
            highest[producer] = max(seq, highest.get(producer, seq))

    duplicates = 0
    for pv, k in copies.items():
        if k > 1:
            duplicates += k - 1
            note("duplicates", ("%s:%d" % pv, where[pv]))

    lost = misplaced = 0
    acked_keys = set()
    no_offset = 0
    for producer, seq, partition, offset in acked:
        key = (producer, seq)
        acked_keys.add(key)
        found = where.get(key)
        if not found:
            lost += 1
            note("lost", ("%s:%d" % key, partition, offset))
        elif offset is None and any(q == partition for q, _ in found):
            no_offset += 1
        elif (partition, offset) not in found:
            misplaced += 1
            note("misplaced", ("%s:%d" % key, "acknowledged at", (partition, offset),
                               "found at", found))
    unacked_read = sum(1 for key in copies if key not in acked_keys)
    return Report(acked=len(acked), read=total_read, lost=lost, misplaced=misplaced,
                  duplicates=duplicates, out_of_order=out_of_order, unacked_read=unacked_read,
                  unparsable=unparsable, no_offset=no_offset, examples=dict(examples))


def ok(report):
    return all(getattr(report, f) == 0 for f in FIELDS)


def summary(report):
    return ("acked %d, read %d, lost %d, dup %d, ooo %d, misplaced %d, unacked-but-read %d"
            % (report.acked, report.read, report.lost, report.duplicates, report.out_of_order,
               report.misplaced, report.unacked_read)
            + (", unparsable %d" % report.unparsable if report.unparsable else "")
            + (", offset unknown %d" % report.no_offset if report.no_offset else ""))


if __name__ == "__main__":
    # The checker checked with hand-made data: each kind of fault once.
    good = {0: [(0, b"a:0"), (1, b"a:3"), (2, b"b:1")], 1: [(0, b"a:1"), (1, b"b:0")]}
    acks = [("a", 0, 0, 0), ("a", 3, 0, 1), ("b", 1, 0, 2), ("a", 1, 1, 0), ("b", 0, 1, 1)]
    r = check(acks, good)
    assert ok(r) and r.acked == 5 and r.read == 5, r
    bad = {0: [(0, b"a:0"), (1, b"a:3"), (2, b"a:2"), (3, b"a:3"), (4, b"zz")],
           1: [(0, b"b:0"), (1, b"a:9")]}
    acks = [("a", 0, 0, 0), ("a", 3, 0, 1), ("a", 2, 0, 2), ("a", 1, 1, 0), ("b", 0, 1, 0),
            ("a", 7, 1, 5)]
    r = check(acks, bad)
    assert (r.lost, r.misplaced, r.duplicates, r.out_of_order, r.unacked_read,
            r.unparsable) == (2, 0, 1, 1, 1, 1), r
    # An implicitly acknowledged record (no offset in its report): found
    # once in its partition is enough; in another partition it is misplaced.
    r = check([("a", 0, 0, None), ("a", 1, 1, None)], {0: [(0, b"a:0"), (1, b"a:1")]})
    assert (r.lost, r.misplaced, r.no_offset) == (0, 1, 1), r
    print("checker self-test: ok")
