"""
unclean.leader.election.enable: availability over data, and exactly what
is lost.

3 combined nodes; a topic with one partition on two replicas (leader L,
follower F), min.insync.replicas=1. 10 records reach both. F is stopped
(SIGSTOP) until L drops it from the ISR; 5 more records are acknowledged
by L alone. L is killed (kill -9) while F is still stopped, then F
resumes. The only in-sync replica is gone:
- with the topic's unclean.leader.election.enable=false (the default) the
  partition stays without a leader;
- with true, F leads it with an ISR of itself; the 5 records only L had
  are lost, the first 10 and everything produced after are there.
Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import signal
import time

import pytest

from clustertest import confluent_create, confluent_describe, produce_each, unique, wait_isr_full, wait_until

pytestmark = pytest.mark.timeout(300)

LAG_MS = 2000


def read_all(bootstrap, topic, timeout=30):
    from confluent_kafka import Consumer, OFFSET_BEGINNING, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unclean-" + topic, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, deadline, idle = [], time.monotonic() + timeout, 0
    while time.monotonic() < deadline and idle < 5:
        ms = c.consume(100, 1.0)
        idle = idle + 1 if not ms else 0
        got += [m.value().decode() for m in ms if m.error() is None]
    c.close()
    return got


def lose_the_isr(c, topic):
    """L acknowledges 5 records alone, then dies; F is back. -> (L, F)."""
    (leader, replicas, _) = confluent_describe(c.bootstrap, topic)[0]
    follower = next(r for r in replicas if r != leader)
    wait_isr_full(c.node(leader), topic, sorted(replicas))
    produce_each(c.bootstrap, topic, [0], 10)
    c.node(follower).signal(signal.SIGSTOP)
    try:
        wait_until("the stopped follower leaves the ISR",
                   lambda: confluent_describe(c.bootstrap, topic)[0][2] == [leader], 30)
        boot = c.bootstrap_of([n for n in (1, 2, 3) if n != follower])
        sent = produce_each(boot, topic, [0], 5)
        assert len(sent[0]) == 5
        c.kill9(leader)
    finally:
        c.node(follower).signal(signal.SIGCONT)
    return leader, follower


@pytest.mark.parametrize("unclean", [False, True], ids=["clean", "unclean"])
def test_last_isr_member_lost(start_cluster, measured, unclean):
    c = start_cluster("combined", nodes=3, broker__session__timeout__ms=10000,
                      broker__heartbeat__interval__ms=1000, replica__lag__time__max__ms=LAG_MS)
    topic = unique("unclean")
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    nt = NewTopic(topic, num_partitions=1, replication_factor=2,
                  config={"min.insync.replicas": "1", "unclean.leader.election.enable": str(unclean).lower()})
    a.create_topics([nt])[topic].result(timeout=30)
    leader, follower = lose_the_isr(c, topic)
    t0 = time.monotonic()
    survivors = [n for n in (1, 2, 3) if n != leader]
    boot = c.bootstrap_of(survivors)
    if not unclean:
        # Fenced (within its 10 s session), the dead leader leaves the
        # partition without one, and so it stays.
        wait_until("the partition without a leader", lambda: confluent_describe(boot, topic)[0][0] == -1, 60)
        measured("clean: no leader %.2f s after the leader %d was killed" % (time.monotonic() - t0, leader))
        time.sleep(5)
        assert confluent_describe(boot, topic)[0][0] == -1, confluent_describe(boot, topic)
        return
    wait_until("the out-of-sync replica leads", lambda: confluent_describe(boot, topic)[0][0] == follower, 60)
    measured("unclean election: %d leads %.2f s after its leader %d was killed"
             % (follower, time.monotonic() - t0, leader))
    assert confluent_describe(boot, topic)[0][2] == [follower]
    produce_each(boot, topic, [0], 3)
    got = read_all(boot, topic)
    assert got == ["0-%d" % i for i in range(10)] + ["0-%d" % i for i in range(3)], got
