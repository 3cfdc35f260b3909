"""
kafka-python 2.0 and 3.x side by side.

The suite runs with Debian's kafka-python 2.0.2 and with the newest one from
PyPI (3.x, in build/venv). 3.x changed the admin client's answers (dicts
instead of response objects, renamed group calls, errors raised by default)
and made the producer idempotent by default (InitProducerId first; the
suite's plain producers switch that off with producer_options()). These
helpers give the tests one plain shape for both, without hiding anything:
every error code the broker sent is still returned to the test, which
asserts on it.
"""

import kafka
import kafka.admin
import kafka.errors

KP_MAJOR = int(kafka.__version__.split(".")[0])
KP3 = KP_MAJOR >= 3


def producer_options():
    """KafkaProducer keyword arguments for a plain (not idempotent) producer.
    3.x defaults to enable_idempotence=True; 2.0.2 does not know the key."""
    return {"enable_idempotence": False} if KP3 else {}


def admin_client(bootstrap, timeout_s=30):
    return kafka.admin.KafkaAdminClient(bootstrap_servers=bootstrap,
                                        request_timeout_ms=timeout_s * 1000)


# ---------------------------------------------------------------------------
# topics
# ---------------------------------------------------------------------------

def create_topics(adm, new_topics, **kw):
    """[(topic, error_code)] as the broker answered (errors are not raised)."""
    if KP3:
        resp = adm.create_topics(new_topics, raise_errors=False, **kw)
        return [(t["name"], t["error_code"]) for t in resp["topics"]]
    resp = adm.create_topics(new_topics, **kw)
    return [(t[0], t[1]) for t in resp.topic_errors]


def delete_topics(adm, topics, **kw):
    """[(topic, error_code)] as the broker answered (errors are not raised)."""
    if KP3:
        resp = adm.delete_topics(topics, raise_errors=False, **kw)
        return [(t["name"], t["error_code"]) for t in resp["topics"]]
    resp = adm.delete_topics(topics, **kw)
    return [(t[0], t[1]) for t in resp.topic_error_codes]


def create_partitions(adm, topic_partitions, **kw):
    """[(topic, error_code)] as the broker answered (errors are not raised)."""
    if KP3:
        resp = adm.create_partitions(topic_partitions, raise_errors=False, **kw)
        return [(r.name, r.error_code) for r in resp.results]
    resp = adm.create_partitions(topic_partitions, **kw)
    return [(t[0], t[1]) for t in resp.topic_errors]


def describe_topic_configs(adm, topic):
    """{config name: value} of every config of the topic, defaults included
    (3.x lists only non-default ones unless asked for all). A resource error
    fails the caller's test (2.0 returns it, 3.x raises it)."""
    res = kafka.admin.ConfigResource(kafka.admin.ConfigResourceType.TOPIC, topic)
    if KP3:
        out = adm.describe_configs([res], config_filter="all")
        assert list(out) == ["topic"] and list(out["topic"]) == [topic], out
        return {name: e["value"] for name, e in out["topic"][topic].items()}
    entries = {}
    for r in adm.describe_configs([res]):
        for (err, msg, _rtype, rname, configs) in r.resources:
            assert err == 0 and rname == topic, (err, msg, rname)
            for e in configs:
                entries[e[0]] = e[1]
    return entries


# ---------------------------------------------------------------------------
# groups
# ---------------------------------------------------------------------------

def list_groups(adm):
    """{group id: protocol type} (ListGroups)."""
    if KP3:
        return {g["group_id"]: g["protocol_type"] for g in adm.list_groups()}
    return dict(adm.list_consumer_groups())


def describe_group(adm, group):
    """DescribeGroups for one group as a dict: group, error (None when the
    broker answered NONE), state, protocol_type, protocol, members; each
    member a dict: member_id, client_id, client_host, subscription (list of
    topics), assignment ({topic: [partitions]})."""
    if KP3:
        got = adm.describe_groups([group])
        assert list(got) == [group], got
        d = got[group]
        members = []
        for m in d["members"]:
            members.append({
                "member_id": m["member_id"], "client_id": m["client_id"],
                "client_host": m["client_host"],
                "subscription": list(m["member_metadata"]["topics"]),
                "assignment": {a["topic"]: list(a["partitions"])
                               for a in m["member_assignment"]["assigned_partitions"]},
            })
        return {"group": d["group_id"], "error": d["error"], "state": d["group_state"],
                "protocol_type": d["protocol_type"], "protocol": d["protocol_data"],
                "members": members}
    (d,) = adm.describe_consumer_groups([group])
    members = []
    for m in d.members:
        members.append({
            "member_id": m.member_id, "client_id": m.client_id, "client_host": m.client_host,
            "subscription": list(m.member_metadata.subscription),
            "assignment": {t: list(ps) for t, ps in m.member_assignment.assignment},
        })
    return {"group": d.group, "error": None if d.error_code == 0 else d.error_code,
            "state": d.state, "protocol_type": d.protocol_type, "protocol": d.protocol,
            "members": members}


def delete_groups(adm, groups):
    """{group id: kafka.errors class} (kafka.errors.NoError on success), as
    kafka-python maps the broker's error codes."""
    if KP3:
        res = adm.delete_groups(list(groups))
        return {g: kafka.errors.NoError if r == "OK" else getattr(kafka.errors, r)
                for g, r in res.items()}
    return dict(adm.delete_consumer_groups(list(groups)))


def group_offsets(adm, group):
    """{kafka.TopicPartition: (offset, metadata, leader_epoch)} committed by
    a group (OffsetFetch, all partitions); leader_epoch is None with 2.0,
    which does not report it."""
    if KP3:
        got = adm.list_group_offsets(group)
        assert list(got) == [group], got
        return {tp: (om.offset, om.metadata, om.leader_epoch) for tp, om in got[group].items()}
    return {tp: (om.offset, om.metadata, None)
            for tp, om in adm.list_consumer_group_offsets(group).items()}
