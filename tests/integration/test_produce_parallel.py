"""
Large Produce requests: a request of 128 KiB or more is appended on the
broker's append lanes (one thread per core, a partition always on the same
lane) while the reactor reads the connection's next requests.

Proves: every partition of such a request gets its own offsets and its own
error (a bad batch in one partition refuses that partition only); records
land intact and in order; a request naming the same partition several
times stores only the last batch for it, as Kafka does; a small request
right behind a large one for the same partition does not overtake it;
answers come back in request order; SIGTERM while the lanes are busy exits
0 and keeps every answered record.
"""

import signal
import time

import pytest

import kafka_wire as w
from conftest import consume_partitions, create_topic

CORRUPT_MESSAGE = 2
PARTS = 4
RECS = 64          # records per batch
VALUE = 1024       # bytes per record: 64 KiB batches, 256 KiB per request


def batch(tag, bad_crc=False):
    recs = [(None, b"%s-%04d-" % (tag, i) + b"x" * (VALUE - 16), ()) for i in range(RECS)]
    return w.record_batch(recs, bad_crc=bad_crc)


def produce(sock, corr, topic, parts, acks=-1):
    sock.sendall(w.produce_v3_multi(corr, topic, parts, acks=acks))
    rcorr, res = w.parse_produce_v3_list(w.recv_response(sock))
    assert rcorr == corr
    return res


def test_large_request_spreads_over_partitions(start_broker):
    broker = start_broker()
    topic = "par"
    create_topic(broker.bootstrap, topic, partitions=PARTS)
    with w.connect(broker.port) as s:
        for rnd in range(3):
            parts = [(p, batch(b"r%dp%d" % (rnd, p), bad_crc=(p == 3 and rnd == 1)))
                     for p in range(PARTS)]
            res = produce(s, 10 + rnd, topic, parts, acks=1 if rnd == 2 else -1)
            # one answer per partition, in no particular order (Kafka's is a hash order)
            assert sorted((t, p) for t, p, _, _ in res) == [(topic, p) for p in range(PARTS)]
            for t, p, err, base in res:
                if p == 3 and rnd == 1:
                    assert err == CORRUPT_MESSAGE, res
                    continue
                assert err == 0, res
                # partition 3 missed round 1's batch
                want = RECS * (rnd - 1 if p == 3 and rnd == 2 else rnd)
                assert base == want, (rnd, p, base, want)
    counts = {p: RECS * (2 if p == 3 else 3) for p in range(PARTS)}
    got = consume_partitions(broker.bootstrap, topic, counts, timeout=60)
    for p in range(PARTS):
        vals = [m.value() for m in got[p]]
        assert [m.offset() for m in got[p]] == list(range(counts[p]))
        rounds = [0, 2] if p == 3 else [0, 1, 2]
        want = [b"r%dp%d-%04d-" % (r, p, i) + b"x" * (VALUE - 16) for r in rounds for i in range(RECS)]
        assert vals == want, "partition %d: records differ" % p
    assert broker.alive()


def test_same_partition_named_twice_last_batch_wins(start_broker):
    """A Produce request that names a partition more than once: Kafka reads
    the partitions into a map, so the last batch for the partition replaces
    the earlier ones; it appends that one and answers once per partition."""
    broker = start_broker()
    topic = "twice"
    create_topic(broker.bootstrap, topic, partitions=2)
    with w.connect(broker.port) as s:
        parts = [(0, batch(b"a")), (1, batch(b"b")), (0, batch(b"c")), (0, batch(b"d"))]
        res = produce(s, 7, topic, parts)
    assert sorted((p, err, base) for _, p, err, base in res) == [(0, 0, 0), (1, 0, 0)]
    got = consume_partitions(broker.bootstrap, topic, {0: RECS, 1: RECS}, timeout=60)
    assert [m.value()[:1] for m in got[0]] == [b"d"] * RECS
    assert [m.value()[:1] for m in got[1]] == [b"b"] * RECS
    assert broker.alive()


def test_pipelined_large_and_small_keep_order(start_broker):
    """Large appends run on an append lane off the reactor; a small request
    sent right behind a large one for the same partition must not overtake
    it. Requests go out back to back on one connection before any answer is
    read; answers come back in request order with contiguous offsets."""
    broker = start_broker()
    topic = "lanes"
    create_topic(broker.bootstrap, topic, partitions=3)
    plan = []  # (partition, tag, records)
    for i in range(60):
        p = (i // 2) % 3            # pairs: a large request, then a tiny one, same partition
        if i % 2 == 0:
            plan.append((p, b"L%02d" % i, RECS * 8))    # ~520 KiB: to a lane
        else:
            plan.append((p, b"s%02d" % i, 1))           # right behind it
    with w.connect(broker.port) as s:
        for corr, (p, tag, n) in enumerate(plan):
            recs = [(None, tag + b"-%04d-" % k + b"y" * 1000, ()) for k in range(n)]
            s.sendall(w.produce_v3_multi(100 + corr, topic, [(p, w.record_batch(recs))],
                                         acks=-1 if corr % 2 else 1))
        next_off = {0: 0, 1: 0, 2: 0}
        for corr, (p, tag, n) in enumerate(plan):
            rcorr, res = w.parse_produce_v3_list(w.recv_response(s, timeout=30))
            assert rcorr == 100 + corr, "answers out of request order"
            assert res == [(topic, p, 0, next_off[p])], (corr, res, next_off)
            next_off[p] += n
    got = consume_partitions(broker.bootstrap, topic, next_off, timeout=60)
    for p in range(3):
        tags = []
        for m in got[p]:
            t = m.value().split(b"-")[0]
            if not tags or tags[-1] != t:
                tags.append(t)
        assert tags == [tag for q, tag, _ in plan if q == p], "partition %d out of order" % p
    assert broker.alive()


def test_sigterm_while_lanes_are_busy(start_broker):
    """SIGTERM while one connection streams large pipelined requests: the
    broker finishes what the lanes hold, exits 0, and every answered
    request's records are there after the restart."""
    import threading

    broker = start_broker()
    topic = "lanestop"
    create_topic(broker.bootstrap, topic, partitions=3)
    acked = []          # (partition, base, count, tag)
    sent = []
    stop = threading.Event()

    def reader(sock):
        try:
            while len(acked) < len(sent) or not stop.is_set():
                if len(acked) >= len(sent):
                    time.sleep(0.001)
                    continue
                rcorr, res = w.parse_produce_v3_list(w.recv_response(sock, timeout=30))
                p, tag, n = sent[rcorr - 1000]
                assert res[0][:3] == (topic, p, 0), res
                acked.append((p, res[0][3], n, tag))
        except (OSError, ConnectionError, AssertionError, EOFError):
            return

    sock = w.connect(broker.port)
    th = threading.Thread(target=reader, args=(sock,), daemon=True)
    th.start()
    try:
        for i in range(400):
            p, tag, n = i % 3, b"T%03d" % i, RECS * 8
            sent.append((p, tag, n))
            recs = [(None, tag + b"-" + b"z" * 1000, ())] * n
            try:
                sock.sendall(w.produce_v3_multi(1000 + i, topic, [(p, w.record_batch(recs))], acks=1))
            except OSError:
                break
            if i == 60:
                while len(acked) < 20:
                    time.sleep(0.01)
                broker.proc.send_signal(signal.SIGTERM)
        stop.set()
        th.join(timeout=60)
    finally:
        sock.close()
    assert broker.wait_exit(timeout=60) == 0, broker.log_tail()
    assert len(acked) >= 20
    broker.restart()
    ends = {}
    for p, base, n, tag in acked:
        ends[p] = max(ends.get(p, 0), base + n)
    got = consume_partitions(broker.bootstrap, topic, ends, timeout=120)
    for p, base, n, tag in acked:
        vals = got[p][base:base + n]
        assert len(vals) == n and all(m.value().startswith(tag + b"-") for m in vals), \
            "partition %d offsets %d..%d do not hold %r" % (p, base, base + n - 1, tag)
    assert broker.stop() == 0
