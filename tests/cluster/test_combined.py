"""
Three combined nodes (process.roles=broker,controller), one cluster for the
module: the cluster is one cluster whichever node a client talks to.

- kcat -L lists the 3 brokers with their advertised listeners;
- a topic created through any node (a CreateTopics sent to that node's
  port; and through confluent-kafka and kafka-python, Debian's and the
  newest, each bootstrapped from a different node) appears in every node's
  Metadata;
- describe and delete through confluent-kafka and kafka-python: the deletion
  reaches every node; kafka-python's DescribeCluster lists the 3 brokers and
  the formatted cluster id on every node;
- CreateTopics with replication factor 3 on 3 brokers: Metadata shows 3
  distinct replicas per partition on every node; a factor of 4 is refused
  with INVALID_REPLICATION_FACTOR;
- transaction.version: the new cluster finalizes it at 2 (every node's
  ApiVersions), and an UpdateFeatures sent to any node (forwarded to the
  active controller) reaches every node's ApiVersions with a larger epoch.

Every test passes on Apache Kafka 4.4.0 (--broker=kafka) and on Gregor.
"""

import sys
from pathlib import Path

import pytest

from clustertest import (confluent_create, confluent_delete, confluent_describe,
                         create_topic_raw, kafka_python_admin, kcat_metadata,
                         node_brokers, node_topics, unique, venv_run, wait_topics_everywhere,
                         wait_until)

pytestmark = pytest.mark.timeout(600)


def test_kcat_lists_three_brokers(combined_cluster):
    c = combined_cluster
    for n in c.brokers():
        md = kcat_metadata(n.bootstrap)
        got = sorted((b["id"], b["name"]) for b in md["brokers"])
        want = sorted((m.node_id, m.bootstrap) for m in c.brokers())
        assert got == want, "kcat -L -b %s lists %s, expected %s" % (n.bootstrap, got, want)


def test_topic_created_through_any_node_appears_on_every_node(combined_cluster):
    c = combined_cluster
    created = []
    for n in c.brokers():
        # A request to this very node: a broker forwards it to the active
        # controller, whichever node that is.
        name = unique("via-node%d-raw" % n.node_id)
        err, msg = create_topic_raw(n.client_port, name, partitions=2)
        assert err == 0, "CreateTopics through node %d: error %d %s" % (n.node_id, err, msg)
        created.append(name)
    nodes = c.brokers()
    # The clients send CreateTopics where Metadata says the controller is;
    # each is bootstrapped from another node.
    name = unique("confluent17")
    confluent_create(nodes[0].bootstrap, name, partitions=2)
    created.append(name)

    name = unique("kafka-python2")
    from kafka.admin import NewTopic
    a = kafka_python_admin(nodes[1].bootstrap)
    try:
        r = a.create_topics([NewTopic(name, 2, 1)], timeout_ms=30000)
        errs = [t for t in r.topic_errors if t[1] != 0]
        assert not errs, "kafka-python CreateTopics: %s" % errs
    finally:
        a.close()
    created.append(name)

    newest = venv_run(VENV_CREATE, nodes[2].bootstrap, unique("confluent2"),
                      unique("kafka-python3"))
    created += newest["created"]

    wait_topics_everywhere(c, created)
    for n in c.brokers():
        missing = set(created) - node_topics(n)
        assert not missing, "node %d's Metadata lacks %s" % (n.node_id, sorted(missing))


VENV_CREATE = r"""
import json, sys
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic
bootstrap, a, b = sys.argv[1:4]
admin = AdminClient({"bootstrap.servers": bootstrap})
fs = admin.create_topics([NewTopic(a, 2, 1)], operation_timeout=30, request_timeout=30)
fs[a].result(timeout=40)
k = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
k.create_topics([KNewTopic(b, 2, 1)], timeout_ms=30000, raise_errors=True)
k.close()
print(json.dumps({"created": [a, b]}))
"""


def test_describe_and_delete_from_any_node(combined_cluster):
    c = combined_cluster
    n1, n2, n3 = c.brokers()
    a, b = unique("describe-delete-a"), unique("describe-delete-b")
    confluent_create(n1.bootstrap, a, partitions=3)
    confluent_create(n1.bootstrap, b, partitions=3)
    wait_topics_everywhere(c, [a, b])

    # Described through another node, by both libraries.
    parts = confluent_describe(n2.bootstrap, a)
    assert sorted(parts) == [0, 1, 2]
    assert all(leader in (1, 2, 3) for leader, _, _ in parts.values()), parts
    k = kafka_python_admin(n3.bootstrap)
    try:
        (desc,) = k.describe_topics([b])
        assert desc["error_code"] == 0 and len(desc["partitions"]) == 3, desc
        cl = k.describe_cluster()
        assert sorted(x["node_id"] for x in cl["brokers"]) == [1, 2, 3], cl
        assert cl["cluster_id"] == c.cluster_id, cl
        # Delete one through kafka-python, the other through confluent-kafka.
        r = k.delete_topics([b], timeout_ms=30000)
        errs = [t for t in r.topic_error_codes if t[1] != 0]
        assert not errs, "kafka-python DeleteTopics: %s" % errs
    finally:
        k.close()
    confluent_delete(n2.bootstrap, a)
    for n in c.brokers():
        wait_until("node %d's Metadata no longer lists %s, %s" % (n.node_id, a, b),
                   lambda n=n: not ({a, b} & node_topics(n)), 30)
    for n in c.brokers():
        assert node_brokers(n) == [1, 2, 3]


def test_replication_factor_three_on_three_brokers(combined_cluster):
    c = combined_cluster
    name = unique("rf3")
    confluent_create(c.bootstrap, name, partitions=6, replication=3)
    wait_topics_everywhere(c, [name])
    for n in c.brokers():
        parts = confluent_describe(n.bootstrap, name)
        assert sorted(parts) == list(range(6))
        for p, (leader, replicas, _isr) in parts.items():
            assert sorted(replicas) == [1, 2, 3], "partition %d replicas %s" % (p, replicas)
            assert leader in replicas
    # Placement spreads the leaders (Kafka: round robin over the brokers).
    leaders = {leader for leader, _, _ in parts.values()}
    assert leaders == {1, 2, 3}, "leaders %s" % leaders

    too_many = unique("rf4")
    err, msg = create_topic_raw(c.brokers()[0].client_port, too_many, replication=4)
    assert err == 38, "replication factor 4 on 3 brokers: error %d %s" % (err, msg)  # INVALID_REPLICATION_FACTOR


def test_transaction_version_through_any_node(combined_cluster):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
    import kafka_wire as w
    tv = "transaction.version"
    c = combined_cluster
    nodes = c.brokers()

    def features(port):
        s = w.connect(port)
        try:
            s.sendall(w.api_versions(1, 4))
            av = w.parse_api_versions_v3(w.recv_response(s))
        finally:
            s.close()
        assert av["supported"].get(tv) == (0, 2), av["supported"]
        return av["finalized"].get(tv), av["epoch"]

    def everywhere(level, after):
        """Every node's (level, epoch) once each has the level at an epoch
        above its own before (the epoch only grows)."""
        got = [features(n.client_port) for n in nodes]
        return got if all(g[0] == level and g[1] > a for g, a in zip(got, after)) else None

    got, _ = wait_until("transaction.version finalized at 2 on every node",
                        lambda: everywhere((2, 2), [-1] * len(nodes)), 30)
    epochs = [e for _, e in got]
    # downgrade to 1 through node 1, disable through node 2, upgrade through node 3
    for n, level, upgrade_type, want in zip(nodes, (1, 0, 2), (2, 2, 1), ((1, 1), None, (2, 2))):
        s = w.connect(n.client_port, timeout=40)
        try:
            s.sendall(w.update_features(5, 1, [(tv, level, upgrade_type)]))
            answer = w.parse_update_features(w.recv_response(s, timeout=40), 1)
        finally:
            s.close()
        assert answer == (0, None, [(tv, 0, "NONE")]), "through node %d: %r" % (n.node_id, answer)
        got, _ = wait_until("transaction.version %s on every node" % (want,),
                            lambda: everywhere(want, epochs), 30)
        epochs = [e for _, e in got]
