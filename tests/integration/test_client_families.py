"""
Client families: the suite's client scenarios run with two families of Python
clients, and this file holds what is specific to which family is running.

- Debian's (/usr/bin/python3): python3-confluent-kafka 1.7 on the system's
  librdkafka 2.0.2, python3-kafka (kafka-python 2.0.2);
- PyPI's (build/venv/bin/python, made by scripts/venv): the versions pinned
  in requirements-clients.txt, confluent-kafka 2.16 with the librdkafka 2.16
  its wheel carries, and kafka-python 3.

Proves:
- the run uses the family it claims: under build/venv, confluent-kafka,
  its librdkafka and kafka-python are exactly the pinned versions and are
  imported from the venv; under Debian's interpreter they are the Debian
  packages' versions, imported from /usr/lib/python3/dist-packages (so a
  pip-installed copy shadowing them turns the run red). The test id names
  the family and its versions;
- kafka-python's default producer: from 3.0 on it is idempotent (KIP-679:
  enable_idempotence and acks=all by default), so its first send asks for a
  producer id (InitProducerId). On both brokers the records are stored in
  batches that carry that producer id and sequence numbers starting at 0,
  read back from the partition's segment file. kafka-python
  2.0.2's default producer is not idempotent: its batches carry producer
  id -1 on both brokers;
- with idempotence switched off (enable_idempotence=False, kafka-python 3's
  own way out, which 2.0.2 does not need) records go through on both
  brokers in batches without a producer id;
- confluent-kafka 2.x's admin APIs, which 1.7 does not have (so these tests
  exist only where the library has them, i.e. in the venv run; the family
  test's id says which run this is): ListOffsets by earliest, latest,
  max-timestamp and timestamp; list_consumer_groups with and without a
  states filter, describe_consumer_groups (state, assignor, member, its
  assignment; an unknown group is Dead), list/alter/delete of a group's
  offsets; describe_cluster, describe_topics (an unknown topic is
  UNKNOWN_TOPIC_OR_PART); incremental_alter_configs SET and DELETE;
- KIP-430: asked for them, Kafka (without an authorizer) reports the
  operations allowed on a cluster and a group; Gregor reports none yet, a
  strict expected failure.

Run with the newer family:
    scripts/venv
    build/venv/bin/python -m pytest tests/integration/test_client_families.py \
        -q -p no:cacheprovider [--broker=kafka]
"""

import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import confluent_kafka
from confluent_kafka.admin import AdminClient
import kafka

from conftest import GregorGap, gregor_gap, admin_client, create_topic, make_consumer, produce_all

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REQUIREMENTS = HERE / "requirements-clients.txt"
VENV = REPO / "build" / "venv"
DEBIAN_SITE = "/usr/lib/python3/dist-packages/"
TIMEOUT = 30

IN_VENV = sys.prefix != sys.base_prefix
KAFKA_PYTHON_MAJOR = int(kafka.__version__.split(".")[0])


def pins():
    """{name: version} from requirements-clients.txt, the bundled librdkafka
    (a '# bundled: name==version' comment) included."""
    out = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.strip()
        if line.startswith("# bundled:"):
            line = line[len("# bundled:"):].strip()
        elif line.startswith("#") or not line:
            continue
        name, _, version = line.partition("==")
        out[name.strip().lower()] = version.strip()
    return out


def debian_version(package):
    """The upstream part of an installed Debian package's version (1.7.0-4 -> 1.7.0)."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, "dpkg-query %s: %s" % (package, r.stderr)
    version = r.stdout.split(":", 1)[-1]          # no epoch
    return version.rsplit("-", 1)[0].split("+", 1)[0]  # no Debian revision, no +dfsg


FAMILY = "pypi" if IN_VENV else "debian"
# confluent_kafka.__version__, not version(): version() was a (str, int)
# tuple in 1.7 and is a plain string in 2.16.
FAMILY_ID = "%s: confluent-kafka %s (librdkafka %s), kafka-python %s" % (
    FAMILY, confluent_kafka.__version__, confluent_kafka.libversion()[0], kafka.__version__)




# ---------------------------------------------------------------------------
# the family is what it claims
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("family", [FAMILY_ID])
def test_client_family(family):
    print(family)
    modules = {"confluent_kafka": confluent_kafka.__file__, "kafka": kafka.__file__}
    if IN_VENV:
        assert Path(sys.prefix).resolve() == VENV.resolve(), (
            "a venv other than %s: %s" % (VENV, sys.prefix))
        want = pins()
        assert confluent_kafka.__version__ == want["confluent-kafka"]
        assert confluent_kafka.libversion()[0] == want["librdkafka"]
        assert kafka.__version__ == want["kafka-python"]
        for name, path in modules.items():
            assert Path(path).resolve().is_relative_to(VENV.resolve()), (name, path)
    else:
        assert sys.executable == "/usr/bin/python3" or Path(sys.executable).resolve() == \
            Path("/usr/bin/python3").resolve(), sys.executable
        assert confluent_kafka.__version__ == debian_version("python3-confluent-kafka")
        assert confluent_kafka.libversion()[0] == debian_version("librdkafka1")
        assert kafka.__version__ == debian_version("python3-kafka")
        for name, path in modules.items():
            assert path.startswith(DEBIAN_SITE), (name, path)


# ---------------------------------------------------------------------------
# kafka-python's default producer: idempotent from 3.0 on
# ---------------------------------------------------------------------------

def segment_batches(partition_dir):
    """(baseOffset, producerId, baseSequence, records) of every v2 batch in
    the partition's segment files, in file order."""
    out = []
    segs = sorted(Path(partition_dir).glob("*.log"))
    assert segs, "no .log segment in %s" % partition_dir
    for seg in segs:
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base_offset, length = struct.unpack_from(">qi", data, pos)
            if length <= 0:
                break   # preallocated, unwritten tail
            magic = data[pos + 16]
            assert magic == 2, "batch at %d of %s: magic %d" % (pos, seg, magic)
            producer_id, _epoch, base_seq, count = struct.unpack_from(">qhii", data, pos + 43)
            out.append((base_offset, producer_id, base_seq, count))
            pos += 12 + length
    return out


def kafka_python_send(broker, topic, n, **conf):
    """n records to partition 0 with a KafkaProducer of the given config
    (else the library's defaults); returns the producer's effective config
    and the (partition, offset) of each."""
    p = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=TIMEOUT * 1000,
                            request_timeout_ms=TIMEOUT * 1000, **conf)
    try:
        config = dict(p.config)
        futs = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(n)]
        p.flush(timeout=TIMEOUT)
        got = [(md.partition, md.offset) for md in (f.get(timeout=TIMEOUT) for f in futs)]
        return config, got
    finally:
        p.close(timeout=5)


def test_kafka_python_default_producer(broker):
    topic = "kp-default"
    create_topic(broker.bootstrap, topic, partitions=1)
    config, got = kafka_python_send(broker, topic, 20)
    assert got == [(0, i) for i in range(20)]
    batches = segment_batches(broker.partition_dir(topic, 0))
    assert sum(b[3] for b in batches) == 20, batches
    if KAFKA_PYTHON_MAJOR >= 3:
        assert config["enable_idempotence"] is True and config["acks"] == -1
        producer_ids = {b[1] for b in batches}
        assert len(producer_ids) == 1 and min(producer_ids) >= 0, batches
        # One producer from offset 0: each batch's first sequence number is
        # its base offset.
        assert all(b[2] == b[0] for b in batches), batches
    else:
        assert "enable_idempotence" not in config
        assert all(b[1] == -1 and b[2] == -1 for b in batches), batches


def test_kafka_python_producer_without_idempotence(broker):
    topic = "kp-no-idempotence"
    create_topic(broker.bootstrap, topic, partitions=1)
    # kafka-python 2.0.2 has no such option (it is never idempotent).
    conf = {"enable_idempotence": False} if KAFKA_PYTHON_MAJOR >= 3 else {}
    _config, got = kafka_python_send(broker, topic, 20, acks="all", **conf)
    assert got == [(0, i) for i in range(20)]
    batches = segment_batches(broker.partition_dir(topic, 0))
    assert sum(b[3] for b in batches) == 20, batches
    assert all(b[1] == -1 and b[2] == -1 for b in batches), batches


# ---------------------------------------------------------------------------
# confluent-kafka 2.x admin APIs (not in 1.7)
# ---------------------------------------------------------------------------

# Defined below only where the library has these APIs (confluent-kafka 2.x):
# Debian's 1.7 cannot call them at all, so under /usr/bin/python3 they do
# not exist rather than being skipped.
CONFLUENT_2 = hasattr(AdminClient, "list_consumer_groups")


def consume_in_group(bootstrap, topic, group, n):
    """A subscribed consumer that has read n records and committed them
    synchronously; returned open (a live member) for the caller to close."""
    c = make_consumer(bootstrap, **{"group.id": group, "client.id": group + "-client"})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < n:
        assert time.monotonic() < deadline, "group consumer read %d of %d" % (got, n)
        m = c.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            got += 1
    c.commit(asynchronous=False)
    return c


def group_offsets(a, group):
    from confluent_kafka import ConsumerGroupTopicPartitions
    [f] = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                        request_timeout=TIMEOUT).values()
    return sorted((tp.topic, tp.partition, tp.offset) for tp in f.result().topic_partitions)


def listed_groups(a, states=None):
    kw = {"states": states} if states else {}
    res = a.list_consumer_groups(request_timeout=TIMEOUT, **kw).result()
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


if CONFLUENT_2:
    from confluent_kafka import (ConsumerGroupState, ConsumerGroupTopicPartitions, TopicCollection,
                                 TopicPartition, KafkaError, KafkaException)
    from confluent_kafka.admin import (AclOperation, AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource, OffsetSpec, ResourceType)

    def test_confluent2_list_offsets(broker):
        topic = "c2-offsets"
        create_topic(broker.bootstrap, topic, partitions=1)
        base = int(time.time() * 1000) - 100_000
        # offset 5 has the largest timestamp although later records follow
        produce_all(broker.bootstrap, topic,
                    [{"value": b"v%d" % i, "partition": 0,
                      "timestamp": base + (50_000 if i == 5 else 1000 * i)} for i in range(10)])
        a = admin_client(broker.bootstrap)
        tp = TopicPartition(topic, 0)

        def offset_for(spec):
            [f] = a.list_offsets({tp: spec}, request_timeout=TIMEOUT).values()
            return f.result()

        assert offset_for(OffsetSpec.earliest()).offset == 0
        assert offset_for(OffsetSpec.latest()).offset == 10
        top = offset_for(OffsetSpec.max_timestamp())
        assert (top.offset, top.timestamp) == (5, base + 50_000)
        assert offset_for(OffsetSpec.for_timestamp(base + 3000)).offset == 3

    @pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
    def test_confluent2_group_admin(broker):
        topic, group = "c2-groups", "c2-group"
        create_topic(broker.bootstrap, topic, partitions=2)
        produce_all(broker.bootstrap, topic, [{"value": b"v%d" % i, "partition": 0} for i in range(10)])
        a = admin_client(broker.bootstrap)
        member = consume_in_group(broker.bootstrap, topic, group, 10)
        try:
            g = listed_groups(a)[group]
            assert g.state == ConsumerGroupState.STABLE and not g.is_simple_consumer_group
            assert group in listed_groups(a, states={ConsumerGroupState.STABLE})
            assert group not in listed_groups(a, states={ConsumerGroupState.EMPTY})

            fs = a.describe_consumer_groups([group, "c2-no-such-group"], request_timeout=TIMEOUT)
            d = fs[group].result()
            assert d.state == ConsumerGroupState.STABLE and d.partition_assignor == "range"
            assert not d.is_simple_consumer_group and d.coordinator.id == 1
            [m] = d.members
            assert m.client_id == group + "-client" and "127.0.0.1" in m.host
            assert sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions) == \
                [(topic, 0), (topic, 1)]
            ghost = fs["c2-no-such-group"].result()
            assert ghost.state == ConsumerGroupState.DEAD and not ghost.members

            # partition 1 had no records: nothing was committed for it
            assert group_offsets(a, group) == [(topic, 0, 10)]
        finally:
            member.close()

        [f] = a.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 3)])],
            request_timeout=TIMEOUT).values()
        assert [(tp.partition, tp.offset, tp.error) for tp in f.result().topic_partitions] == \
            [(0, 3, None)]
        assert group_offsets(a, group) == [(topic, 0, 3)]
        assert listed_groups(a)[group].state == ConsumerGroupState.EMPTY

        a.delete_consumer_groups([group], request_timeout=TIMEOUT)[group].result()
        assert group not in listed_groups(a)

    def test_confluent2_cluster_topics_configs(broker):
        topic = "c2-describe"
        create_topic(broker.bootstrap, topic, partitions=2)
        a = admin_client(broker.bootstrap)

        c = a.describe_cluster(request_timeout=TIMEOUT).result()
        assert c.cluster_id and [n.id for n in c.nodes] == [1]
        assert c.controller is not None and c.controller.id == 1

        t = a.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT)[topic].result()
        assert t.name == topic and not t.is_internal and str(t.topic_id)
        assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr])
                for p in t.partitions] == [(0, 1, [1], [1]), (1, 1, [1], [1])]
        with pytest.raises(KafkaException) as ei:
            a.describe_topics(TopicCollection(["c2-no-such-topic"]),
                              request_timeout=TIMEOUT)["c2-no-such-topic"].result()
        assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART

        res = ConfigResource(ResourceType.TOPIC, topic)

        def alter(op, value, want):
            """Apply one change; return what DescribeConfigs says once it
            says `want`, or after 15 s (Kafka applies a change through its
            metadata log, so a describe right after may still see the old
            value)."""
            entry = ConfigEntry("retention.ms", value, incremental_operation=op)
            r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
            [f] = a.incremental_alter_configs([r]).values()
            f.result(timeout=TIMEOUT)
            deadline = time.monotonic() + 15
            while True:
                [f] = a.describe_configs([res], request_timeout=TIMEOUT).values()
                e = f.result(timeout=TIMEOUT)["retention.ms"]
                seen = (e.value, ConfigSource(e.source))
                if seen == want or time.monotonic() > deadline:
                    return seen
                time.sleep(0.2)

        want = ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
        assert alter(AlterConfigOpType.SET, "3600000", want) == want
        want = ("604800000", ConfigSource.DEFAULT_CONFIG)
        assert alter(AlterConfigOpType.DELETE, "", want) == want

    @gregor_gap("KIP-430 authorized operations are not reported: DescribeCluster and "
                "DescribeGroups answer authorized_operations = none when asked for them")
    @pytest.mark.broker_overrides(group__initial__rebalance__delay__ms=0)
    def test_confluent2_authorized_operations(broker):
        topic, group = "c2-ops", "c2-ops-group"
        create_topic(broker.bootstrap, topic, partitions=1)
        produce_all(broker.bootstrap, topic, [{"value": b"x", "partition": 0}])
        a = admin_client(broker.bootstrap)
        member = consume_in_group(broker.bootstrap, topic, group, 1)
        try:
            cluster_ops = a.describe_cluster(include_authorized_operations=True,
                                             request_timeout=TIMEOUT).result().authorized_operations
            group_ops = a.describe_consumer_groups([group], include_authorized_operations=True,
                                                   request_timeout=TIMEOUT)[group].result() \
                .authorized_operations
        finally:
            member.close()
        if broker.kind == "gregor" and cluster_ops is None and group_ops is None:
            raise GregorGap("authorized_operations: cluster None, group None")
        # Without an authorizer every operation a resource has is allowed.
        assert {AclOperation.DESCRIBE, AclOperation.ALTER_CONFIGS,
                AclOperation.IDEMPOTENT_WRITE} <= set(cluster_ops), cluster_ops
        assert {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE} <= set(group_ops), \
            group_ops
