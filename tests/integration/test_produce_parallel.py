"""
Large Produce requests: the partitions' appends run at the same time on the
broker's I/O pool (a request of 128 KiB or more over several partitions).

Proves: every partition of such a request gets its own offsets and its own
error (a bad batch in one partition refuses that partition only); records
land intact and in order; a request naming the same partition twice is
appended in request order (it is not spread over threads); repeated
requests keep offsets contiguous.
"""

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
            assert [(t, p) for t, p, _, _ in res] == [(topic, p) for p in range(PARTS)]
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


def test_same_partition_twice_keeps_request_order(start_broker):
    broker = start_broker()
    topic = "twice"
    create_topic(broker.bootstrap, topic, partitions=2)
    with w.connect(broker.port) as s:
        parts = [(0, batch(b"a")), (1, batch(b"b")), (0, batch(b"c")), (0, batch(b"d"))]
        res = produce(s, 7, topic, parts)
    assert [(p, err, base) for _, p, err, base in res] == \
        [(0, 0, 0), (1, 0, 0), (0, 0, RECS), (0, 0, 2 * RECS)]
    got = consume_partitions(broker.bootstrap, topic, {0: 3 * RECS, 1: RECS}, timeout=60)
    tags = [m.value()[:1] for m in got[0]]
    assert tags == [b"a"] * RECS + [b"c"] * RECS + [b"d"] * RECS
    assert broker.alive()
