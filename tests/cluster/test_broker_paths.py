"""
Two paths librdkafka's own test suite found broken on a 3-node cluster
(scripts/librdkafka-tests --cluster) that work on one node:

- auto-creation: a producer bootstrapped from any single node writes to a
  topic that does not exist yet (auto.create.topics.enable): the node that
  is not the active controller asks it (Kafka's AutoTopicCreationManager)
  and answers LEADER_NOT_AVAILABLE until the topic is there;
- a leader of many partitions: 1,200 partitions with replication factor 3
  (every node follows hundreds of partitions of each other node, so every
  replica Fetch answer is large) and acks=all records still reach every
  in-sync replica promptly.

And num.replica.fetchers=3: each follower fetches a leader's partitions
over three connections; every replica joins the ISR.

Passes on Apache Kafka 4.4.0 and on Gregor.
"""

import time

import pytest

from clustertest import confluent_describe, unique, wait_until

pytestmark = pytest.mark.timeout(300)


def produce_one(bootstrap, topic, partition=None, timeout=60):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": timeout * 1000})
    res = []
    kw = {} if partition is None else {"partition": partition}
    p.produce(topic, b"x", on_delivery=lambda e, m: res.append(e), **kw)
    left = p.flush(timeout + 5)
    return left, res


def test_auto_create_through_every_node(start_cluster, measured):
    c = start_cluster("combined", nodes=3, num__partitions=2, default__replication__factor=3)
    for n in (1, 2, 3):
        topic = unique("auto-%d" % n)
        t0 = time.monotonic()
        left, res = produce_one(c.node(n).bootstrap, topic)
        assert left == 0 and res == [None], (n, left, res)
        measured("auto-created through node %d: first record acknowledged after %.2f s"
                 % (n, time.monotonic() - t0))
        d = confluent_describe(c.bootstrap, topic)
        assert sorted(d) == [0, 1] and all(len(v[1]) == 3 for v in d.values()), d


def test_leader_of_many_partitions(start_cluster, measured):
    c = start_cluster("combined", nodes=3)
    topic = unique("many")
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    t0 = time.monotonic()
    a.create_topics([NewTopic(topic, num_partitions=1200, replication_factor=3)])[topic].result(timeout=120)
    wait_until("every partition of %s with its 3 replicas in sync" % topic,
               lambda: all(len(v[2]) == 3 for v in confluent_describe(c.bootstrap, topic, timeout=30).values()),
               120, interval=1.0)
    measured("1,200 partitions x 3 replicas created and in sync after %.1f s" % (time.monotonic() - t0))
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "message.timeout.ms": 30000})
    res = []
    t1 = time.monotonic()
    for i in range(300):
        p.produce(topic, b"x", partition=(i * 7) % 1200, on_delivery=lambda e, m: res.append(e))
    left = p.flush(40)
    assert left == 0 and res == [None] * 300, (left, [e for e in res if e][:3])
    measured("300 acks=all records over 300 of the partitions: all acknowledged after %.2f s"
             % (time.monotonic() - t1))


def test_several_fetchers_per_source(start_cluster):
    """num.replica.fetchers=3: each follower fetches a leader's partitions
    over three connections (a partition always on the same one); every
    replica joins the ISR and acks=all records reach them all."""
    from clustertest import consume_each, produce_each
    c = start_cluster("combined", nodes=3, num__replica__fetchers=3)
    topic = unique("fetchers")
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    a.create_topics([NewTopic(topic, num_partitions=12, replication_factor=3)])[topic].result(timeout=60)
    wait_until("every partition of %s with its 3 replicas in sync" % topic,
               lambda: all(len(v[2]) == 3 for v in confluent_describe(c.bootstrap, topic, timeout=30).values()),
               60, interval=0.5)
    sent = produce_each(c.bootstrap, topic, range(12), 50)
    consume_each(c.bootstrap, topic, sent)
