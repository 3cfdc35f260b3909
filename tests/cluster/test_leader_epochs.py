"""
OffsetForLeaderEpoch (API key 23) across a leader change: where an epoch
ended, asked of the partition's leader, as consumers do after a failover
to detect a truncated log (KIP-320).

3 combined nodes, one partition with replication factor 3. 10 records in
epoch 0; the leader is killed; the new leader takes the partition at a
higher epoch and 5 more records go to it. Asked raw (OffsetForLeaderEpoch
v3, one request to one node):
- the new leader answers epoch 0 with (0, 10): epoch 0 ended where the
  next epoch's first record is;
- its own epoch with the log end (15);
- a request whose current_leader_epoch is the old one gets
  FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH;
- a follower answers NOT_LEADER_OR_FOLLOWER; an unknown partition
  UNKNOWN_TOPIC_OR_PARTITION.
The new leader's cache is in Kafka's leader-epoch-checkpoint file.
And KIP-951: a Produce v10 sent to a follower names the current leader
(id, epoch) and carries its endpoint.
Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import os
import struct
import sys
import time
from pathlib import Path

import pytest

from localcluster import roundtrip
from clustertest import confluent_create, confluent_describe, produce_each, unique, wait_isr_full, wait_until

pytestmark = pytest.mark.timeout(300)

NONE, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER = 0, 3, 6
FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH = 74, 75


def offset_for_leader_epoch(port, topic, partition, leader_epoch, current_leader_epoch=-1):
    """OffsetForLeaderEpoch v3 (replica_id -1: a consumer) for one
    partition -> (error_code, leader_epoch, end_offset)."""
    cid = b"epochs-test"
    t = topic.encode()
    body = (struct.pack(">hhih", 23, 3, 7, len(cid)) + cid
            + struct.pack(">i", -1)                              # replica_id
            + struct.pack(">ih", 1, len(t)) + t                  # 1 topic
            + struct.pack(">iiii", 1, partition, current_leader_epoch, leader_epoch))
    data = roundtrip(port, body, 10)
    pos = 4 + 4                                                  # correlation id, throttle
    (nt,) = struct.unpack_from(">i", data, pos)
    assert nt == 1
    pos += 4
    (tl,) = struct.unpack_from(">h", data, pos)
    pos += 2 + tl
    (np_,) = struct.unpack_from(">i", data, pos)
    assert np_ == 1
    pos += 4
    err, part, epoch, end = struct.unpack_from(">hiiq", data, pos)
    assert part == partition
    return err, epoch, end


def test_epoch_end_offsets_after_failover(start_cluster, measured):
    c = start_cluster("combined", nodes=3, broker__session__timeout__ms=4000,
                      broker__heartbeat__interval__ms=1000)
    topic = unique("epochs")
    confluent_create(c.bootstrap, topic, partitions=1, replication=3)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    produce_each(c.bootstrap, topic, [0], 10)
    first = confluent_describe(c.bootstrap, topic)[0][0]
    port = {n: c.node(n).client_port for n in (1, 2, 3)}
    assert offset_for_leader_epoch(port[first], topic, 0, 0) == (NONE, 0, 10)

    c.kill9(first)
    survivors = [n for n in (1, 2, 3) if n != first]
    boot = c.bootstrap_of(survivors)
    t0 = time.monotonic()
    wait_until("a new leader", lambda: confluent_describe(boot, topic)[0][0] in survivors, 60)
    leader = confluent_describe(boot, topic)[0][0]
    follower = next(n for n in survivors if n != leader)
    produce_each(boot, topic, [0], 5)
    measured("leader %d killed: %d leads, 5 more records after %.2f s" % (first, leader, time.monotonic() - t0))

    # Epoch 0 ended at 10; the new leader's epoch is the latest one.
    err, epoch, end = offset_for_leader_epoch(port[leader], topic, 0, 0)
    assert (err, epoch, end) == (NONE, 0, 10)
    new_epoch = None
    for e in range(1, 50):
        err, epoch, end = offset_for_leader_epoch(port[leader], topic, 0, e)
        if epoch == e and end == 15:
            new_epoch = e
            break
    assert new_epoch is not None, "no epoch of the new leader ends at the log end (15)"
    # A newer epoch than any the leader knows: (-1, -1).
    assert offset_for_leader_epoch(port[leader], topic, 0, new_epoch + 5) == (NONE, -1, -1)

    # Fencing by the caller's idea of the current epoch.
    assert offset_for_leader_epoch(port[leader], topic, 0, 0, current_leader_epoch=0)[0] == FENCED_LEADER_EPOCH
    assert offset_for_leader_epoch(port[leader], topic, 0, 0,
                                   current_leader_epoch=new_epoch + 5)[0] == UNKNOWN_LEADER_EPOCH
    assert offset_for_leader_epoch(port[leader], topic, 0, 0, current_leader_epoch=new_epoch) == (NONE, 0, 10)

    # Only the leader answers; no such partition is no such partition.
    assert offset_for_leader_epoch(port[follower], topic, 0, 0)[0] == NOT_LEADER_OR_FOLLOWER
    assert offset_for_leader_epoch(port[leader], topic, 7, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION

    # The cache is Kafka's leader-epoch-checkpoint file in the partition
    # directory: version 0, the entry count, "epoch start" lines.
    path = os.path.join(c.node(leader).data_dir, "%s-0" % topic, "leader-epoch-checkpoint")
    wait_until("the new leader's leader-epoch-checkpoint", lambda: os.path.exists(path), 30)
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[0] == "0" and lines[1] == "2" and lines[2:4] == ["0 0", "%d 10" % new_epoch], lines


def produce_v10_to(port, topic, partition):
    """One record with Produce v10 (flexible, KIP-951) to one node ->
    (error_code, current_leader (id, epoch) or None, {node: port})."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
    import kafka_wire as w
    batch = w.record_batch([(None, b"hint", ())])
    t = topic.encode()
    body = (struct.pack(">hhi", 0, 10, 9) + w.string("hints-test") + b"\x00"      # header v2
            + w.uvarint(0) + struct.pack(">hi", -1, 10000)                        # no txn id, acks, timeout
            + w.uvarint(2) + w.uvarint(len(t) + 1) + t                            # 1 topic
            + w.uvarint(2) + struct.pack(">i", partition)                          # 1 partition
            + w.uvarint(len(batch) + 1) + batch + b"\x00"                         # records, tags
            + b"\x00" + b"\x00")                                                  # topic tags, request tags
    r = w.Reader(roundtrip(port, body, 10))
    r.take(">i")                                      # correlation id
    skip_tags(r)                                      # response header v1
    err, leader = None, None
    for _ in range(r.uvarint() - 1):                  # topics
        n = r.uvarint() - 1                           # name (r.pos += r.uvarint() would lose the varint)
        r.pos += n
        for _ in range(r.uvarint() - 1):              # partitions
            _index, err = r.take(">ih")
            r.take(">qqq")                            # base offset, log append time, log start
            for _ in range(r.uvarint() - 1):          # record errors
                r.take(">i")
                n = r.uvarint() - 1
                r.pos += max(n, 0)
                skip_tags(r)
            n = r.uvarint() - 1                       # error message
            r.pos += max(n, 0)
            for _ in range(r.uvarint()):              # tagged fields
                tag, size = r.uvarint(), r.uvarint()
                if tag == 0:
                    leader = r.take(">ii")
                    skip_tags(r)
                else:
                    r.pos += size
        skip_tags(r)
    r.take(">i")                                      # throttle
    endpoints = {}
    for _ in range(r.uvarint()):
        tag, size = r.uvarint(), r.uvarint()
        if tag != 0:
            r.pos += size
            continue
        for _ in range(r.uvarint() - 1):
            node = r.take(">i")
            n = r.uvarint() - 1                       # host
            r.pos += n
            endpoints[node] = r.take(">i")
            n = r.uvarint() - 1                       # rack
            r.pos += max(n, 0)
            skip_tags(r)
    return err, leader, endpoints


def skip_tags(r):
    for _ in range(r.uvarint()):
        r.uvarint()
        n = r.uvarint()
        r.pos += n


def test_not_leader_answers_name_the_leader(start_cluster):
    """KIP-951: a Produce v10 to a follower is answered NOT_LEADER_OR_FOLLOWER
    with the partition's current leader and epoch, and the leader's endpoint
    in the response, so that a client moves without asking Metadata."""
    c = start_cluster("combined", nodes=3)
    topic = unique("hints")
    confluent_create(c.bootstrap, topic, partitions=1, replication=3)
    wait_isr_full(c.node(1), topic, [1, 2, 3])
    leader = confluent_describe(c.bootstrap, topic)[0][0]
    follower = next(n for n in (1, 2, 3) if n != leader)
    err, hint, endpoints = produce_v10_to(c.node(follower).client_port, topic, 0)
    assert err == NOT_LEADER_OR_FOLLOWER
    assert hint is not None and hint[0] == leader and hint[1] >= 0, hint
    assert endpoints == {leader: c.node(leader).client_port}, endpoints
    err, hint, endpoints = produce_v10_to(c.node(leader).client_port, topic, 0)
    assert (err, hint, endpoints) == (NONE, None, {})
