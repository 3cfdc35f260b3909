"""
Helpers for the consumer-group tests (test_groups_*.py). No tests here.

1. Raw group-coordinator protocol (`GroupConn`): encoders and decoders for
   FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
   OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and OffsetDelete,
   mostly at non-flexible versions; ListGroups v4, OffsetFetch v8 and
   FindCoordinator v4 are flexible (compact strings/arrays, tagged fields).
   Builds on kafka_wire.py (framing, Reader).

2. Consumer-group members as subprocesses (`Member`, the `members` fixture):
   each runs a confluent-kafka Consumer that subscribes, reports its
   rebalance callbacks and every consumed batch as JSON lines on stdout,
   commits synchronously after each batch, and obeys commands on stdin
   (pause, resume, close). Being a process, a member can be killed with
   SIGKILL. Run as a script: `python3 test_groups_support.py member CONFIG`.

3. `group_broker` fixture: a broker with group.initial.rebalance.delay.ms=0
   (overridable with @pytest.mark.broker_overrides) that fails fast, with a
   clear message, when the broker does not advertise the group APIs, and
   waits until its group coordinator is ready (`wait_coordinator_ready`).
"""

import json
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import kafka_wire as w  # noqa: E402

# Kafka error codes used by the group tests.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

# API keys
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_LIST_GROUPS = 16
API_API_VERSIONS = 18
API_DELETE_GROUPS = 42
API_OFFSET_DELETE = 47

GROUP_APIS = {API_OFFSET_COMMIT: "OffsetCommit", API_OFFSET_FETCH: "OffsetFetch",
              API_FIND_COORDINATOR: "FindCoordinator", API_JOIN_GROUP: "JoinGroup",
              API_HEARTBEAT: "Heartbeat", API_LEAVE_GROUP: "LeaveGroup",
              API_SYNC_GROUP: "SyncGroup"}


# ---------------------------------------------------------------------------
# encoding primitives (non-flexible ones come from kafka_wire)
# ---------------------------------------------------------------------------

string = w.string
compact_string = w.compact_string
nbytes = w.nbytes


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def array(items, enc):
    """int32-count array; None -> -1 (null)."""
    if items is None:
        return i32(-1)
    items = list(items)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def compact_array(items, enc):
    """uvarint(count+1) array; None -> 0 (null)."""
    if items is None:
        return w.uvarint(0)
    items = list(items)
    return w.uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


NO_TAGS = b"\x00"


class Reader(w.Reader):
    """kafka_wire.Reader plus the flexible-version types."""

    def bytes_(self):
        n = self.take(">i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def array(self, fn):
        n = self.take(">i")
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def compact_array(self, fn):
        n = self.uvarint() - 1
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()               # tag
            size = self.uvarint()
            self.pos += size


# ---------------------------------------------------------------------------
# consumer protocol (subscription / assignment bytes of protocol type "consumer")
# ---------------------------------------------------------------------------

def consumer_subscription(topics, user_data=b""):
    """ConsumerProtocolSubscription v0."""
    return i16(0) + array(topics, string) + nbytes(user_data)


def consumer_assignment(assignment, user_data=b""):
    """ConsumerProtocolAssignment v0 from {topic: [partition, ...]}."""
    return (i16(0)
            + array(sorted(assignment.items()),
                    lambda tp: string(tp[0]) + array(tp[1], i32))
            + nbytes(user_data))


def parse_consumer_assignment(data):
    """-> {topic: [partition, ...]} ({} for empty bytes)."""
    if not data:
        return {}
    r = Reader(data)
    r.take(">h")
    out = {}
    for _ in range(r.take(">i")):
        t = r.string()
        out[t] = [r.take(">i") for _ in range(r.take(">i"))]
    return out


def parse_consumer_subscription(data):
    """-> [topic, ...]"""
    if not data:
        return []
    r = Reader(data)
    r.take(">h")
    return [r.string() for _ in range(r.take(">i"))]


def range_protocols(topics):
    return [("range", consumer_subscription(topics))]


# ---------------------------------------------------------------------------
# a raw connection
# ---------------------------------------------------------------------------

class GroupConn:
    """One TCP connection speaking raw Kafka requests. Requests may be sent
    without waiting (send) and their responses read later (recv), which is
    how a JoinGroup that parks until the rebalance completes is handled."""

    def __init__(self, port, timeout=20, client_id="gregor-group-test"):
        self.port = port
        self.client_id = client_id
        self.sock = w.connect(port, timeout)
        self.timeout = timeout
        self.corr = 0
        self.pending = []  # [(corr, flexible_response_header)]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, api_key, version, body, flexible=False):
        self.corr += 1
        hdr = (w.request_header_v2 if flexible else w.request_header_v1)(
            api_key, version, self.corr, self.client_id)
        self.sock.sendall(w.frame(hdr + body))
        # ApiVersions responses always use header v0
        self.pending.append((self.corr, flexible and api_key != API_API_VERSIONS))
        return self.corr

    def recv(self, timeout=None):
        corr, flexible = self.pending.pop(0)
        payload = w.recv_response(self.sock, timeout or self.timeout)
        r = Reader(payload)
        got = r.take(">i")
        assert got == corr, "correlation id %d, expected %d" % (got, corr)
        if flexible:
            r.skip_tags()
        return r

    def call(self, api_key, version, body, flexible=False, timeout=None):
        self.send(api_key, version, body, flexible)
        return self.recv(timeout)

    # -- ApiVersions --------------------------------------------------------
    def api_versions(self):
        r = self.call(API_API_VERSIONS, 0, b"")
        err = r.take(">h")
        apis = {}
        for _ in range(r.take(">i")):
            k, lo, hi = r.take(">hhh")
            apis[k] = (lo, hi)
        return err, apis

    # -- FindCoordinator ----------------------------------------------------
    def find_coordinator(self, key, key_type=0, version=2):
        """v1/v2 -> dict(error, message, node_id, host, port)."""
        body = string(key) + (i8(key_type) if version >= 1 else b"")
        r = self.call(API_FIND_COORDINATOR, version, body)
        if version >= 1:
            r.take(">i")  # throttle
        err = r.take(">h")
        msg = r.string() if version >= 1 else None
        node, host, port = r.take(">i"), r.string(), r.take(">i")
        return dict(error=err, message=msg, node_id=node, host=host, port=port)

    def find_coordinators_v4(self, keys, key_type=0):
        body = i8(key_type) + compact_array(keys, compact_string) + NO_TAGS
        r = self.call(API_FIND_COORDINATOR, 4, body, flexible=True)
        r.take(">i")

        def coord(r):
            d = dict(key=r.compact_string(), node_id=r.take(">i"), host=r.compact_string(),
                     port=r.take(">i"), error=r.take(">h"), message=r.compact_string())
            r.skip_tags()
            return d
        out = r.compact_array(coord)
        r.skip_tags()
        return out

    # -- JoinGroup ----------------------------------------------------------
    def _join_body(self, group, member_id, session_timeout_ms, rebalance_timeout_ms,
                   instance_id, protocol_type, protocols, version):
        body = string(group) + i32(session_timeout_ms)
        if version >= 1:
            body += i32(rebalance_timeout_ms)
        body += string(member_id)
        if version >= 5:
            body += string(instance_id)
        body += string(protocol_type)
        body += array(protocols, lambda p: string(p[0]) + nbytes(p[1]))
        return body

    def send_join(self, group, member_id="", session_timeout_ms=10000,
                  rebalance_timeout_ms=10000, instance_id=None, protocol_type="consumer",
                  protocols=None, version=5, topics=("t",)):
        """JoinGroup v1..v5 (non-flexible); the response is read by recv_join."""
        if protocols is None:
            protocols = range_protocols(list(topics))
        assert 1 <= version <= 5
        if version < 5:
            assert instance_id is None
        self.send(API_JOIN_GROUP, version,
                  self._join_body(group, member_id, session_timeout_ms, rebalance_timeout_ms,
                                  instance_id, protocol_type, protocols, version))
        self._join_version = version

    def recv_join(self, timeout=None):
        v = self._join_version
        r = self.recv(timeout)
        if v >= 2:
            r.take(">i")
        d = dict(error=r.take(">h"), generation=r.take(">i"), protocol_name=r.string(),
                 leader=r.string(), member_id=r.string())

        def member(r):
            m = dict(member_id=r.string())
            if v >= 5:
                m["instance_id"] = r.string()
            m["metadata"] = r.bytes_()
            return m
        d["members"] = r.array(member)
        return d

    def join(self, group, timeout=None, **kw):
        self.send_join(group, **kw)
        return self.recv_join(timeout)

    def join_new(self, group, version=5, timeout=None, **kw):
        """A new member's join. With v4+ and no instance id, Kafka first answers
        MEMBER_ID_REQUIRED with a member id; this does the second round. Any
        other first answer is returned as is. The result has `first_error`."""
        first = self.join(group, version=version, timeout=timeout, **kw)
        first_error = first["error"]
        if first_error == MEMBER_ID_REQUIRED and version >= 4 and kw.get("instance_id") is None:
            kw = dict(kw, member_id=first["member_id"])
            res = self.join(group, version=version, timeout=timeout, **kw)
        else:
            res = first
        res["first_error"] = first_error
        return res

    # -- SyncGroup ----------------------------------------------------------
    def send_sync(self, group, generation, member_id, assignments=(), instance_id=None,
                  version=3):
        """assignments: [(member_id, bytes)]. v1 or v3 (non-flexible)."""
        body = string(group) + i32(generation) + string(member_id)
        if version >= 3:
            body += string(instance_id)
        body += array(assignments, lambda a: string(a[0]) + nbytes(a[1]))
        self.send(API_SYNC_GROUP, version, body)

    def recv_sync(self, timeout=None):
        r = self.recv(timeout)
        r.take(">i")
        return dict(error=r.take(">h"), assignment=r.bytes_())

    def sync(self, group, generation, member_id, assignments=(), instance_id=None,
             version=3, timeout=None):
        self.send_sync(group, generation, member_id, assignments, instance_id, version)
        return self.recv_sync(timeout)

    # -- Heartbeat / LeaveGroup ---------------------------------------------
    def heartbeat(self, group, generation, member_id, instance_id=None, version=3):
        body = string(group) + i32(generation) + string(member_id)
        if version >= 3:
            body += string(instance_id)
        r = self.call(API_HEARTBEAT, version, body)
        r.take(">i")
        return r.take(">h")

    def leave_v1(self, group, member_id):
        r = self.call(API_LEAVE_GROUP, 1, string(group) + string(member_id))
        r.take(">i")
        return r.take(">h")

    def leave_v3(self, group, members):
        """members: [(member_id, instance_id)] -> (error, [(member_id, instance_id, error)])"""
        body = string(group) + array(members, lambda m: string(m[0]) + string(m[1]))
        r = self.call(API_LEAVE_GROUP, 3, body)
        r.take(">i")
        err = r.take(">h")
        res = r.array(lambda r: (r.string(), r.string(), r.take(">h")))
        return err, res

    # -- OffsetCommit / OffsetFetch / OffsetDelete ---------------------------
    def offset_commit(self, group, offsets, generation=-1, member_id="", instance_id=None,
                      version=7, retention_ms=-1):
        """offsets: {(topic, partition): offset or (offset, metadata)}.
        v2 or v7 (retention_ms: v2-v4 only, -1 = broker default).
        -> {(topic, partition): error}"""
        by_topic = {}
        for (t, p), v in sorted(offsets.items()):
            off, meta = v if isinstance(v, tuple) else (v, "")
            by_topic.setdefault(t, []).append((p, off, meta))

        def part(x):
            p, off, meta = x
            return i32(p) + i64(off) + (i32(-1) if version >= 6 else b"") + string(meta)
        body = string(group) + i32(generation) + string(member_id)
        if version >= 7:
            body += string(instance_id)
        if 2 <= version <= 4:
            body += i64(retention_ms)  # retention_time_ms
        body += array(sorted(by_topic.items()), lambda tp: string(tp[0]) + array(tp[1], part))
        r = self.call(API_OFFSET_COMMIT, version, body)
        if version >= 3:
            r.take(">i")
        out = {}
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, e = r.take(">ih")
                out[(t, p)] = e
        return out

    def offset_fetch(self, group, partitions=None, version=5):
        """partitions: {topic: [p, ...]} or None for all. v1..v5.
        -> (top_error, {(topic, partition): (offset, metadata, error)})"""
        topics = None if partitions is None else sorted(partitions.items())
        body = string(group) + array(topics, lambda tp: string(tp[0]) + array(tp[1], i32))
        r = self.call(API_OFFSET_FETCH, version, body)
        if version >= 3:
            r.take(">i")
        out = {}
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, off = r.take(">iq")
                if version >= 5:
                    r.take(">i")
                meta = r.string()
                out[(t, p)] = (off, meta, r.take(">h"))
        top = r.take(">h") if version >= 2 else NONE
        return top, out

    def offset_fetch_v8(self, groups, require_stable=False):
        """groups: [(group_id, {topic: [p, ...]} or None)].
        -> {group_id: (error, {(topic, partition): (offset, metadata, error)})}"""
        def grp(g):
            gid, parts = g
            topics = None if parts is None else sorted(parts.items())
            return (compact_string(gid)
                    + compact_array(topics, lambda tp: compact_string(tp[0])
                                    + compact_array(tp[1], i32) + NO_TAGS)
                    + NO_TAGS)
        body = compact_array(groups, grp) + i8(1 if require_stable else 0) + NO_TAGS
        r = self.call(API_OFFSET_FETCH, 8, body, flexible=True)
        r.take(">i")
        result = {}
        for _ in range(r.uvarint() - 1):
            gid = r.compact_string()
            offs = {}
            for _ in range(r.uvarint() - 1):
                t = r.compact_string()
                for _ in range(r.uvarint() - 1):
                    p, off, _epoch = r.take(">iqi")
                    meta = r.compact_string()
                    err = r.take(">h")
                    r.skip_tags()
                    offs[(t, p)] = (off, meta, err)
                r.skip_tags()
            err = r.take(">h")
            r.skip_tags()
            result[gid] = (err, offs)
        r.skip_tags()
        return result

    def offset_delete(self, group, partitions):
        """partitions: {topic: [p, ...]} -> (error, {(topic, p): error})"""
        body = string(group) + array(sorted(partitions.items()),
                                     lambda tp: string(tp[0]) + array(tp[1], i32))
        r = self.call(API_OFFSET_DELETE, 0, body)
        err = r.take(">h")
        r.take(">i")
        out = {}
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, e = r.take(">ih")
                out[(t, p)] = e
        return err, out

    # -- DescribeGroups / ListGroups / DeleteGroups --------------------------
    def describe_groups(self, groups, version=4):
        """v1 or v4 -> [dict(error, group_id, state, protocol_type, protocol, members)]"""
        body = array(groups, string) + (i8(0) if version >= 3 else b"")
        r = self.call(API_DESCRIBE_GROUPS, version, body)
        r.take(">i")

        def member(r):
            m = dict(member_id=r.string())
            if version >= 4:
                m["instance_id"] = r.string()
            m.update(client_id=r.string(), client_host=r.string(),
                     metadata=r.bytes_(), assignment=r.bytes_())
            return m

        def group(r):
            g = dict(error=r.take(">h"), group_id=r.string(), state=r.string(),
                     protocol_type=r.string(), protocol=r.string(), members=r.array(member))
            if version >= 3:
                g["authorized_operations"] = r.take(">i")
            return g
        return r.array(group)

    def list_groups(self):
        """v2 -> (error, {group_id: protocol_type})"""
        r = self.call(API_LIST_GROUPS, 2, b"")
        r.take(">i")
        err = r.take(">h")
        groups = dict(r.array(lambda r: (r.string(), r.string())))
        return err, groups

    def list_groups_v4(self, states_filter=()):
        """v4 (flexible) -> (error, {group_id: (protocol_type, state)})"""
        body = compact_array(states_filter, compact_string) + NO_TAGS
        r = self.call(API_LIST_GROUPS, 4, body, flexible=True)
        r.take(">i")
        err = r.take(">h")

        def group(r):
            g = (r.compact_string(), r.compact_string(), r.compact_string())
            r.skip_tags()
            return g
        groups = {g: (pt, st) for g, pt, st in r.compact_array(group)}
        r.skip_tags()
        return err, groups

    def delete_groups(self, groups, version=1):
        """v0/v1 -> {group_id: error}"""
        r = self.call(API_DELETE_GROUPS, version, array(groups, string))
        r.take(">i")
        return dict(r.array(lambda r: (r.string(), r.take(">h"))))


# ---------------------------------------------------------------------------
# raw group helpers
# ---------------------------------------------------------------------------

def stable_member(port, group, topic, partitions, session_timeout_ms=10000,
                  rebalance_timeout_ms=10000, instance_id=None, version=5):
    """Open a connection, join `group` as its only member and sync an
    assignment of all `partitions` of `topic`. Returns (conn, member_id,
    generation). The group is Stable afterwards."""
    c = GroupConn(port)
    j = c.join_new(group, version=version, session_timeout_ms=session_timeout_ms,
                   rebalance_timeout_ms=rebalance_timeout_ms, instance_id=instance_id,
                   topics=[topic])
    assert j["error"] == NONE, "join: %r" % j
    assert j["leader"] == j["member_id"], "the only member must lead: %r" % j
    s = c.sync(group, j["generation"], j["member_id"],
               [(j["member_id"], consumer_assignment({topic: list(partitions)}))],
               instance_id=instance_id)
    assert s["error"] == NONE, "sync: %r" % s
    assert parse_consumer_assignment(s["assignment"]) == {topic: list(partitions)}
    return c, j["member_id"], j["generation"]


def wait_for_error(fn, expected, timeout=10, interval=0.1):
    """Call fn() until it returns `expected` (the broker may need a moment to
    process an earlier request on another connection). Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v == expected or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def java_string_hash(s):
    """Java's String.hashCode (for ASCII), as a signed 32-bit int."""
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group, partitions):
    """The __consumer_offsets partition Apache Kafka keeps `group` in."""
    h = java_string_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


NOT_READY = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR)


def wait_coordinator_ready(broker, timeout=90):
    """Until the broker coordinates every group: FindCoordinator names it, and
    OffsetFetch for a group in each __consumer_offsets partition answers NONE.
    Apache Kafka creates __consumer_offsets on the first FindCoordinator and
    then loads its partitions; until then (and again after a restart) group
    requests get COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR or
    COORDINATOR_LOAD_IN_PROGRESS, which clients retry. Gregor's coordinator
    is ready when the broker accepts connections, so for it this returns at
    once. Any other answer fails."""
    n = int(broker.overrides.get("offsets.topic.num.partitions", 50))
    probes, i = {}, 0
    while len(probes) < n:
        g = "coordinator-probe-%d" % i
        probes.setdefault(offsets_partition(g, n), g)
        i += 1
    pending = sorted(probes.values())
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            with GroupConn(broker.port, timeout=10) as c:
                r = c.find_coordinator(pending[0])
                code, last = r["error"], ("FindCoordinator", r)
                if code == NONE:
                    assert r["port"] == broker.port, r
                    while pending:
                        code, _ = c.offset_fetch(pending[0], None)
                        last = ("OffsetFetch", pending[0], code)
                        if code != NONE:
                            break
                        pending.pop(0)
                    if not pending:
                        return
                assert code in NOT_READY, last
        except (ConnectionError, socket.timeout) as e:
            last = e
        assert time.monotonic() < deadline, \
            "group coordinator not ready after %s s; last answer: %r" % (timeout, last)
        time.sleep(0.2)


def broker_serves_groups(port):
    """(True, "") if ApiVersions advertises the classic group APIs."""
    try:
        with GroupConn(port, timeout=5) as c:
            err, apis = c.api_versions()
    except Exception as e:  # noqa: BLE001
        return False, "ApiVersions failed: %r" % e
    missing = [name for k, name in GROUP_APIS.items() if k not in apis]
    if err or missing:
        return False, ("broker does not advertise %s (ApiVersions error %d): consumer "
                       "groups are not implemented in this build" % (", ".join(missing), err))
    return True, ""


# ---------------------------------------------------------------------------
# member subprocesses
# ---------------------------------------------------------------------------

def member_conf(bootstrap, group, **extra):
    """librdkafka settings for a group member; extra keys use '.' or '__'."""
    conf = {"bootstrap.servers": bootstrap, "group.id": group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000, "socket.timeout.ms": 10000,
            "log.connection.close": False}
    for k, v in extra.items():
        conf[k.replace("__", ".")] = v
    return conf


class Member:
    """A confluent-kafka group member in a child process (see member_main).

    Events arrive as dicts with the parent's receive time in "t":
      assign/revoke/lost  parts=[[topic, partition], ...]   (callback arguments)
      batch               msgs=[[topic, partition, offset], ...], commit_err=str|None
      error               msg=str   (consumer error events; informational)
      paused / resumed / closed / started
    """

    def __init__(self, name, conf, topics, workdir, commit=True, batch=500, batch_delay=0.0):
        self.name = name
        self.conf = conf
        self.topics = list(topics)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / ("member-%s.stderr" % name)
        self.events = []
        self.cond = threading.Condition()
        self.eof = False
        cfg = dict(conf=conf, topics=self.topics, commit=commit, batch=batch,
                   batch_delay=batch_delay)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "member", json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=str(self.workdir))
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line.decode("utf-8", "replace")}
            ev["t"] = time.monotonic()
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    # -- state --------------------------------------------------------------
    def snapshot(self):
        with self.cond:
            return list(self.events)

    def owned(self, events=None):
        """Partitions currently owned: assign adds, revoke/lost remove (right
        for eager callbacks, which pass the full set, and for cooperative
        ones, which pass the increment)."""
        cur = set()
        for ev in (self.snapshot() if events is None else events):
            if ev["ev"] == "assign":
                cur |= {tuple(p) for p in ev["parts"]}
            elif ev["ev"] in ("revoke", "lost"):
                cur -= {tuple(p) for p in ev["parts"]}
        return cur

    def of_kind(self, *kinds, since=0):
        return [e for e in self.snapshot()[since:] if e["ev"] in kinds]

    def processed(self, since=0):
        """[(topic, partition, offset, committed_ok)] in delivery order."""
        out = []
        for ev in self.of_kind("batch", since=since):
            ok = ev["commit_err"] is None
            out.extend((t, p, o, ok) for t, p, o in ev["msgs"])
        return out

    def processed_count(self):
        return sum(len(e["msgs"]) for e in self.of_kind("batch"))

    def alive(self):
        return self.proc.poll() is None

    def describe(self, lines=25):
        evs = [e for e in self.snapshot() if e["ev"] != "batch"]
        try:
            err = self.stderr_path.read_bytes().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            err = []
        return ("member %s (pid %s, rc %s): owned=%s processed=%d\n  events: %s\n  stderr tail:\n    %s"
                % (self.name, self.proc.pid, self.proc.poll(), sorted(self.owned()),
                   self.processed_count(),
                   [(e["ev"], e.get("parts") or e.get("msg")) for e in evs[-20:]],
                   "\n    ".join(err)))

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %s s waiting for %s\n%s"
                                         % (timeout, what, self.describe()))
                if self.eof and not pred(self):
                    raise AssertionError("member exited while waiting for %s\n%s"
                                         % (what, self.describe()))
                self.cond.wait(min(left, 0.2))

    def wait_event(self, kind, timeout=30, since=0):
        self.wait(lambda m: any(e["ev"] == kind for e in m.events[since:]), timeout,
                  "event %r from %s" % (kind, self.name))
        return [e for e in self.snapshot()[since:] if e["ev"] == kind][0]

    # -- control ------------------------------------------------------------
    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def pause(self, timeout=30):
        """Stop consuming after the current batch (and its commit)."""
        n = len(self.snapshot())
        self.send("pause")
        self.wait_event("paused", timeout, since=n)

    def resume(self):
        self.send("resume")

    def close(self, timeout=30):
        """Graceful consumer.close(); waits for the process to exit."""
        if self.alive():
            self.send("close")
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("member %s did not close within %s s\n%s"
                                 % (self.name, timeout, self.describe()))
        self._reader.join(5)
        assert rc == 0, "member %s exited with %s\n%s" % (self.name, rc, self.describe())

    def stop(self):
        """SIGSTOP: the whole client freezes (no heartbeats), a zombie."""
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(5)
        self._stderr.close()


def wait_group_settled(members, partitions, timeout, per_member=None):
    """Wait until the members' owned partitions are pairwise disjoint, every
    member owns at least one (or exactly per_member), and together they own
    exactly `partitions` (a set of (topic, partition)). Returns {name: set}."""
    partitions = set(partitions)
    deadline = time.monotonic() + timeout
    while True:
        owned = {m.name: m.owned() for m in members}
        total = sum(len(s) for s in owned.values())
        union = set().union(*owned.values()) if owned else set()
        ok = (union == partitions and total == len(partitions)
              and all((len(s) == per_member) if per_member else s for s in owned.values()))
        if ok:
            return owned
        if time.monotonic() > deadline:
            raise AssertionError(
                "group not settled after %s s: owned=%s (want %d partitions%s)\n%s"
                % (timeout, {k: sorted(v) for k, v in owned.items()}, len(partitions),
                   ", %d each" % per_member if per_member else "",
                   "\n".join(m.describe() for m in members)))
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# fixtures (import them into a test module to use them)
# ---------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def group_broker(start_broker, request):
    """A running broker for group tests: group.initial.rebalance.delay.ms=0
    unless @pytest.mark.broker_overrides says otherwise. Fails at once, with a
    clear message, if the broker does not advertise the group APIs."""
    overrides = {"group.initial.rebalance.delay.ms": 0}
    m = request.node.get_closest_marker("broker_overrides")
    if m is not None:
        overrides.update({k.replace("__", "."): v for k, v in m.kwargs.items()})
    b = start_broker(**overrides)
    ok, why = broker_serves_groups(b.port)
    if not ok:
        pytest.fail(why, pytrace=False)
    wait_coordinator_ready(b)
    return b


@pytest.fixture
def members(tmp_path, request):
    """Factory: members(name, conf, topics, commit=True, batch=500,
    batch_delay=0) -> Member.
    Every member still running at teardown is killed; on failure their
    events and stderr tails are printed."""
    made = []

    def _make(name, conf, topics, **kw):
        m = Member(name, conf, topics, tmp_path / "members", **kw)
        made.append(m)
        return m

    yield _make

    from conftest import _test_failed
    failed = _test_failed(request)
    for m in made:
        if failed:
            sys.stderr.write("\n----- %s\n" % m.describe())
        try:
            m.kill9()
        except Exception:  # noqa: BLE001
            pass


def member_main(cfg):
    """The child process: a subscribing confluent-kafka consumer."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    lock = threading.Lock()

    def emit(ev, **kw):
        kw["ev"] = ev
        line = json.dumps(kw)
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    cmds = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            cmds.put(line.strip())
        cmds.put("close")  # parent went away

    threading.Thread(target=read_stdin, daemon=True).start()

    def parts(ps):
        return [[p.topic, p.partition] for p in ps]

    c = Consumer(cfg["conf"])
    c.subscribe(cfg["topics"],
                on_assign=lambda cons, ps: emit("assign", parts=parts(ps)),
                on_revoke=lambda cons, ps: emit("revoke", parts=parts(ps)),
                on_lost=lambda cons, ps: emit("lost", parts=parts(ps)))
    emit("started")
    paused = False
    while True:
        try:
            cmd = cmds.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "pause":
            paused = True
            emit("paused")
        elif cmd == "resume":
            paused = False
            emit("resumed")
        elif cmd == "close":
            c.close()
            emit("closed")
            return 0
        if paused:
            time.sleep(0.05)
            continue
        msgs = c.consume(num_messages=cfg["batch"], timeout=0.2)
        got = []
        for m in msgs:
            if m.error() is not None:
                emit("error", msg=str(m.error()))
                continue
            got.append([m.topic(), m.partition(), m.offset()])
        if not got:
            continue
        if cfg.get("batch_delay"):
            time.sleep(cfg["batch_delay"])  # "processing time", before the commit
        commit_err = None
        if cfg["commit"]:
            nxt = {}
            for t, p, o in got:
                nxt[(t, p)] = max(nxt.get((t, p), -1), o + 1)
            try:
                res = c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in nxt.items()],
                               asynchronous=False)
                errs = ["%s[%d]: %s" % (tp.topic, tp.partition, tp.error)
                        for tp in (res or []) if tp.error is not None]
                if errs:
                    commit_err = "; ".join(errs)
            except KafkaException as e:
                commit_err = str(e)
        emit("batch", msgs=got, commit_err=commit_err)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "member":
        sys.exit(member_main(json.loads(sys.argv[2])))
    sys.exit("usage: %s member CONFIG_JSON" % sys.argv[0])
