#!/usr/bin/env python3
"""A local multi-node cluster on loopback: Gregor, or Apache Kafka 4.4.0
from the very same server.properties files (the proof the files are right).

This is the engine of scripts/cluster and the harness of tests/cluster/.
Every node gets one server.properties with Kafka's KRaft keys (process.roles,
node.id, controller.quorum.voters, listeners, advertised.listeners,
controller.listener.names, listener.security.protocol.map,
inter.broker.listener.name, log.dirs), is formatted with one cluster id
(`gregor storage format` or Kafka's kafka-storage, through
tests/reference/kafkaref.py), and is started (`gregor server FILE` or Kafka's
kafka.Kafka class). Then we wait, bounded in time, until every broker node
answers Metadata listing every broker node, and every controller accepts
connections on its CONTROLLER listener.

Layout of the folder (D):
  D/cluster.json              kind, cluster id, nodes with roles and ports
  D/node-N/server.properties  the node's configuration
  D/node-N/data               its log.dirs
  D/node-N/server.log         its log (Gregor: stdout+stderr; Kafka: log4j)
  D/node-N/stdout.log         Kafka only: the JVM's stdout/stderr
  D/node-N/pid                the running process

Port numbering with a base port P: node N has its client (PLAINTEXT) port
at P + 2(N-1) and its CONTROLLER port at P + 2(N-1) + 1, as Kafka's examples
use 9092/9093 for node 1. Without a base port every port is a free one.

Node ids: combined nodes 1..N; split layout controllers 1..C, brokers
C+1..C+B.

Running as root, each node runs with a group id of its own (NODE_GID_BASE +
node id) so that cut_off() can drop one node's traffic to and from its peers
with nftables (the socket owner's group tells the node's packets apart
from the test's own client connections, which stay untouched).

Nothing here is Gregor's code under test.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
import kafkaref  # noqa: E402  (Apache Kafka, the reference: fetch, JVM command lines)

GREGOR_BIN = os.path.abspath(os.path.join(REPO, os.environ.get("GREGOR_BIN", "build/gregor")))
STATE_FILE = "cluster.json"
GREGOR_FORM_TIMEOUT_S = 30.0   # a C process starts in milliseconds; the quorum in seconds
KAFKA_FORM_TIMEOUT_S = 120.0   # five JVMs on a busy two-core machine take their time
STOP_TIMEOUT_S = 30.0
NODE_GID_BASE = 47000
LOG_TAIL_LINES = 40


def default_dir():
    """${XDG_STATE_HOME:-~/.local/state}/gregor/cluster: a cluster's data is
    state that should outlive a reboot (unlike /tmp), must not land in the
    source tree (./cluster-data would show in every `git status` and be
    swept by `git clean`), and stays the same wherever the command is run
    from, so `scripts/cluster status` finds it from any folder."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".local", "state")
    return os.path.join(base, "gregor", "cluster")


class ClusterError(Exception):
    pass


class ClusterNotFormed(ClusterError):
    """The cluster-forming wait failed: some node does not see every broker,
    a controller does not listen, or a node exited while starting. The
    first line of the message says which, the node logs' tails follow."""


# ---------------------------------------------------------------- wire

def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def _roundtrip(port, payload, timeout):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        return _recv_exact(s, size)


roundtrip = _roundtrip  # one request frame to one node, its response frame (tests' raw requests)


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            n = self.uvarint()  # read first: "self.pos += self.uvarint()" would lose the varint
            self.pos += n


def metadata(port, timeout=3.0):
    """A Metadata v1 request for all topics, on a raw socket (no client
    library: it works from any Python). Returns {"brokers": {id: (host,
    port)}, "controller": id, "topics": {name: error_code}, "partitions":
    {name: {index: (leader, replicas, isr)}}}; raises
    OSError/ValueError/struct.error when the node does not answer."""
    cid = b"localcluster"
    body = struct.pack(">hhih", 3, 1, 11, len(cid)) + cid + struct.pack(">i", -1)
    r = _Reader(_roundtrip(port, body, timeout))
    r.take(">i")                                  # correlation id
    brokers = {}
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        host = r.string()
        bport = r.take(">i")
        r.string()                                # rack
        brokers[node_id] = (host, bport)
    controller = r.take(">i")
    topics, partitions = {}, {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        r.take(">b")                              # is_internal
        parts = {}
        for _ in range(r.take(">i")):
            _perr, index, leader = r.take(">hii")
            replicas = [r.take(">i") for _ in range(r.take(">i"))]
            isr = [r.take(">i") for _ in range(r.take(">i"))]
            parts[index] = (leader, replicas, isr)
        topics[name] = err
        partitions[name] = parts
    return {"brokers": brokers, "controller": controller, "topics": topics,
            "partitions": partitions}


def describe_quorum(port, timeout=3.0):
    """DescribeQuorum v1 for __cluster_metadata-0 on a raw socket. Sent to a
    CONTROLLER listener it is answered by the Raft layer itself (KRaft:
    only the leader answers; the others say NOT_LEADER_OR_FOLLOWER). Returns
    {"error", "leader", "epoch", "high_watermark", "voters": {id: leo},
    "observers": {id: leo}}; raises when the node does not answer."""
    cid = b"localcluster"
    hdr = struct.pack(">hhih", 55, 1, 12, len(cid)) + cid + b"\x00"
    name = b"__cluster_metadata"
    body = (b"\x02" + bytes([len(name) + 1]) + name      # 1 topic
            + b"\x02" + struct.pack(">i", 0) + b"\x00"   # 1 partition: 0
            + b"\x00" + b"\x00")                         # topic, request tags
    r = _Reader(_roundtrip(port, hdr + body, timeout))
    r.take(">i")                                  # correlation id
    r.skip_tags()                                 # response header v1
    out = {"error": r.take(">h")}
    for _ in range(r.uvarint() - 1):              # topics
        r.compact_string()
        for _ in range(r.uvarint() - 1):          # partitions
            r.take(">i")
            perr = r.take(">h")
            out["error"] = out["error"] or perr
            out["leader"], out["epoch"], out["high_watermark"] = r.take(">iiq")
            for key in ("voters", "observers"):
                reps = {}
                for _ in range(r.uvarint() - 1):
                    rid, leo, _fetch_ts, _caught_up_ts = r.take(">iqqq")
                    r.skip_tags()
                    reps[rid] = leo
                out[key] = reps
            r.skip_tags()
        r.skip_tags()
    return out


def port_open(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- nodes

class Node:
    def __init__(self, cluster, node_id, roles, client_port, controller_port):
        self.cluster = cluster
        self.node_id = node_id
        self.roles = list(roles)                 # ["broker"], ["controller"] or both
        self.client_port = client_port           # None on a controller-only node
        self.controller_port = controller_port   # None on a broker-only node
        self.dir = os.path.join(cluster.dir, "node-%d" % node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.props_path = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "server.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.pid_path = os.path.join(self.dir, "pid")
        self.proc = None

    @property
    def is_broker(self):
        return "broker" in self.roles

    @property
    def is_controller(self):
        return "controller" in self.roles

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.client_port if self.client_port else None

    @property
    def gid(self):
        return NODE_GID_BASE + self.node_id

    def describe(self):
        return {"id": self.node_id, "roles": self.roles, "client_port": self.client_port,
                "controller_port": self.controller_port}

    # -- configuration ---------------------------------------------------
    def properties(self):
        """Kafka 4.4's KRaft keys, as its config/server.properties (combined),
        config/broker.properties and config/controller.properties have them."""
        c = self.cluster
        listeners, advertised = [], []
        if self.is_broker:
            listeners.append("PLAINTEXT://127.0.0.1:%d" % self.client_port)
            advertised.append("PLAINTEXT://127.0.0.1:%d" % self.client_port)
        if self.is_controller:
            listeners.append("CONTROLLER://127.0.0.1:%d" % self.controller_port)
            advertised.append("CONTROLLER://127.0.0.1:%d" % self.controller_port)
        p = {
            "process.roles": ",".join(self.roles),
            "node.id": str(self.node_id),
            "controller.quorum.voters": c.voters(),
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }
        if self.is_broker:
            p["inter.broker.listener.name"] = "PLAINTEXT"
        p["log.dirs"] = self.data_dir
        # Kafka's stock files set these; the internal topics' replication
        # cannot exceed the number of brokers (Kafka's default is 3).
        rf = min(3, len(c.brokers()))
        p.update({
            "num.partitions": "1",
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(min(2, rf)),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(min(2, rf)),
            "group.initial.rebalance.delay.ms": "0",
        })
        p.update(c.overrides)
        return p

    def write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.props_path, "w") as f:
            f.write("# node %d of a %s cluster written by scripts/cluster "
                    "(tests/cluster/localcluster.py)\n" % (self.node_id, self.cluster.layout))
            for k, v in self.properties().items():
                f.write("%s=%s\n" % (k, v))

    def format(self):
        c = self.cluster
        if c.kind == "kafka":
            r = kafkaref.run_tool("kafka.tools.StorageTool",
                                  ["format", "-t", c.cluster_id, "-c", self.props_path])
        else:
            r = subprocess.run([GREGOR_BIN, "storage", "format", "-t", c.cluster_id,
                                "-c", self.props_path], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            # The node refused its server.properties: the cluster cannot form.
            raise ClusterNotFormed("formatting node %d failed (exit %d): %s"
                                   % (self.node_id, r.returncode,
                                      (r.stderr.strip() or r.stdout.strip())))

    # -- processes -------------------------------------------------------
    def command(self):
        c = self.cluster
        if c.kind == "kafka":
            cfg = os.path.join(self.dir, "log4j2.yaml")
            kafkaref.log4j_config(cfg)
            return kafkaref.java_cmd("kafka.Kafka", [self.props_path], heap=c.heap,
                                     extra_jvm=["-Dkafka.logs.dir=" + self.dir] + c.jvm_opts,
                                     log_config=cfg)
        return [GREGOR_BIN, "server", self.props_path]

    def launch(self):
        if self.alive():
            raise ClusterError("node %d is already running (pid %d)" % (self.node_id, self.pid()))
        c = self.cluster
        if c.kind == "gregor" and not os.access(GREGOR_BIN, os.X_OK):
            raise ClusterError("%s not found or not executable (run make, or set GREGOR_BIN)"
                               % GREGOR_BIN)
        out_path = self.stdout_path if c.kind == "kafka" else self.log_path
        out = open(out_path, "ab")
        kw = {}
        if os.geteuid() == 0:
            kw["group"] = self.gid   # see cut_off()
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=c.detach, **kw)
        finally:
            out.close()
        with open(self.pid_path, "w") as f:
            f.write("%d\n" % self.proc.pid)

    def pid(self):
        if self.proc is not None:
            return self.proc.pid
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        # A pid file from another boot may name an unrelated process.
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.props_path.encode() in f.read()
        except OSError:
            return False

    def exit_code(self):
        return self.proc.returncode if self.proc is not None else None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid(), sig)

    def wait_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def kill9(self):
        self.signal(signal.SIGKILL)
        if not self.wait_gone(10):
            raise ClusterError("node %d survived SIGKILL for 10 s" % self.node_id)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, SIGKILL after timeout. True when it stopped by itself."""
        self.signal(signal.SIGTERM)
        if self.wait_gone(timeout):
            return True
        self.kill9()
        return False

    def last_line(self):
        """The last non-empty line the process wrote (its reason to exit)."""
        for p in (self.stdout_path, self.log_path):
            try:
                with open(p, "rb") as f:
                    lines = [x for x in f.read().decode("utf-8", "replace").splitlines()
                             if x.strip()]
            except OSError:
                continue
            if lines:
                return lines[-1].strip()
        return "(nothing)"

    def log_tail(self, lines=LOG_TAIL_LINES):
        out = []
        for p in (self.stdout_path, self.log_path):
            try:
                with open(p, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            tail = text.splitlines()[-lines:]
            out.append("--- node %d: %s (last %d lines) ---\n%s"
                       % (self.node_id, p, len(tail), "\n".join(tail)))
        return "\n".join(out)


# ---------------------------------------------------------------- the cluster

class Cluster:
    """N nodes on loopback. layout "combined": `nodes` nodes that are broker
    and controller; "split": `controllers` controller-only nodes and
    `brokers` broker-only nodes. kind "gregor" or "kafka"."""

    def __init__(self, directory, kind="gregor", layout="combined", nodes=3, controllers=3,
                 brokers=2, base_port=None, overrides=None, heap="512m", jvm_opts=None,
                 detach=False):
        if kind not in ("gregor", "kafka"):
            raise ClusterError("kind must be gregor or kafka, not %r" % kind)
        self.dir = os.path.abspath(directory)
        self.kind = kind
        self.layout = layout
        self.heap = heap
        self.jvm_opts = list(jvm_opts or [])
        self.detach = detach
        self.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        self.cluster_id = None
        if layout == "combined":
            roles = [["broker", "controller"]] * nodes
        elif layout == "split":
            roles = [["controller"]] * controllers + [["broker"]] * brokers
        else:
            raise ClusterError("layout must be combined or split, not %r" % layout)
        if not roles or not any("controller" in r for r in roles) \
                or not any("broker" in r for r in roles):
            raise ClusterError("a cluster needs at least one controller and one broker")
        self.nodes = []
        for i, r in enumerate(roles):
            if base_port:
                cp, kp = base_port + 2 * i, base_port + 2 * i + 1
            else:
                cp, kp = kafkaref.free_port(), kafkaref.free_port()
            self.nodes.append(Node(self, i + 1, r, cp if "broker" in r else None,
                                   kp if "controller" in r else None))

    # -- views -----------------------------------------------------------
    def node(self, node_id):
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise ClusterError("no node %d (nodes: %s)" % (node_id, [n.node_id for n in self.nodes]))

    def brokers(self):
        return [n for n in self.nodes if n.is_broker]

    def controllers(self):
        return [n for n in self.nodes if n.is_controller]

    def voters(self):
        return ",".join("%d@127.0.0.1:%d" % (n.node_id, n.controller_port)
                        for n in self.controllers())

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.brokers())

    def bootstrap_of(self, node_ids):
        return ",".join(self.node(i).bootstrap for i in node_ids)

    # -- state file --------------------------------------------------------
    def save(self):
        os.makedirs(self.dir, exist_ok=True)
        state = {"kind": self.kind, "layout": self.layout, "cluster_id": self.cluster_id,
                 "heap": self.heap, "jvm_opts": self.jvm_opts, "overrides": self.overrides,
                 "nodes": [n.describe() for n in self.nodes]}
        with open(os.path.join(self.dir, STATE_FILE), "w") as f:
            json.dump(state, f, indent=1)

    @classmethod
    def load(cls, directory, detach=True):
        path = os.path.join(os.path.abspath(directory), STATE_FILE)
        try:
            with open(path) as f:
                st = json.load(f)
        except OSError:
            raise ClusterError("no cluster in %s (no %s)" % (directory, STATE_FILE))
        c = cls.__new__(cls)
        c.dir = os.path.abspath(directory)
        c.kind, c.layout, c.cluster_id = st["kind"], st["layout"], st["cluster_id"]
        c.heap, c.jvm_opts, c.overrides = st["heap"], st["jvm_opts"], st["overrides"]
        c.detach = detach
        c.nodes = [Node(c, n["id"], n["roles"], n["client_port"], n["controller_port"])
                   for n in st["nodes"]]
        return c

    # -- life cycle --------------------------------------------------------
    def form_timeout(self):
        return KAFKA_FORM_TIMEOUT_S if self.kind == "kafka" else GREGOR_FORM_TIMEOUT_S

    def up(self, timeout=None):
        """Write, format, start every node, wait until the cluster is formed."""
        if self.kind == "kafka":
            kafkaref.fetch(quiet=True)
        busy = [p for n in self.nodes for p in (n.client_port, n.controller_port)
                if p and port_open(p, 0.2)]
        if busy:
            raise ClusterError("port(s) %s already in use (another cluster? choose "
                               "--base-port)" % ", ".join(map(str, busy)))
        os.makedirs(self.dir, exist_ok=True)
        self.cluster_id = self._new_cluster_id()
        self.save()
        for n in self.nodes:
            n.write_config()
        for n in self.nodes:
            n.format()
        for n in self.nodes:
            n.launch()
        self.wait_formed(timeout)
        return self

    def _new_cluster_id(self):
        if self.kind == "gregor":
            r = subprocess.run([GREGOR_BIN, "storage", "random-uuid"], capture_output=True,
                               text=True, timeout=30)
            if r.returncode == 0 and r.stdout.strip():
                return r.stdout.strip()
            raise ClusterError("gregor storage random-uuid failed (exit %d): %s"
                               % (r.returncode, r.stderr))
        return kafkaref._cluster_id()

    def start_node(self, node_id):
        self.node(node_id).launch()

    def kill9(self, node_id):
        self.node(node_id).kill9()

    def down(self):
        """SIGTERM every node: broker-only nodes first, and the controllers
        once they are gone, so that the brokers' controlled shutdown still
        has a quorum to talk to (else Kafka's brokers wait for it)."""
        first = [n for n in self.nodes if not n.is_controller]   # broker-only nodes
        then = [n for n in self.nodes if n.is_controller]
        clean = []
        for group in (first, then):
            for n in group:
                n.signal(signal.SIGTERM)
            clean += [n.stop() for n in group]
        for n in self.nodes:
            try:
                os.unlink(n.pid_path)
            except OSError:
                pass
        return clean

    def kill_all(self):
        for n in self.nodes:
            try:
                n.kill9()
            except ClusterError:
                pass

    def logs(self, nodes=None):
        return "\n".join(n.log_tail() for n in (nodes or self.nodes))

    # -- waiting -----------------------------------------------------------
    def view(self, node):
        """What one node shows: for a broker node the broker ids its Metadata
        lists (None if it does not answer); for a controller-only node
        whether its CONTROLLER listener accepts connections."""
        if node.is_broker:
            try:
                return sorted(metadata(node.client_port)["brokers"])
            except (OSError, ValueError, struct.error, IndexError):
                return None
        return port_open(node.controller_port)

    def wait_formed(self, timeout=None, nodes=None, expect_brokers=None):
        """Until every running node of `nodes` (default: all) is up: each
        broker lists exactly the brokers `expect_brokers` (default: every
        broker node) in Metadata and each controller listens. Raises
        ClusterNotFormed, with every node's log tail, after `timeout`
        seconds or as soon as a node exits."""
        timeout = self.form_timeout() if timeout is None else timeout
        nodes = list(nodes or self.nodes)
        expect = sorted(expect_brokers if expect_brokers is not None
                        else [n.node_id for n in self.brokers()])
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            for n in nodes:
                if not n.alive():
                    code = n.exit_code()
                    raise ClusterNotFormed(
                        "node %d exited%s before the cluster formed (%.0f s after the wait "
                        "began); its last words: %s\n%s"
                        % (n.node_id, "" if code is None else " with code %s" % code,
                           time.monotonic() - t0, n.last_line(), self.logs()))
            views = {n.node_id: self.view(n) for n in nodes}
            bad = [n for n in nodes
                   if (n.is_broker and views[n.node_id] != expect)
                   or (not n.is_broker and not views[n.node_id])]
            if not bad:
                return time.monotonic() - t0
            if time.monotonic() >= deadline:
                raise ClusterNotFormed("%s\n%s" % (self._why(bad[0], views, expect, timeout),
                                                   self.logs()))
            time.sleep(0.25)

    def _why(self, n, views, expect, timeout):
        v = views[n.node_id]
        if n.is_broker and v is None:
            return ("node %d does not answer Metadata on %s after %.0f s"
                    % (n.node_id, n.bootstrap, timeout))
        if n.is_broker:
            return ("node %d lists %d broker(s) of %d after %.0f s (it lists %s, expected %s)"
                    % (n.node_id, len(v), len(expect), timeout, v, expect))
        return ("controller node %d does not accept connections on its CONTROLLER listener "
                "127.0.0.1:%d after %.0f s" % (n.node_id, n.controller_port, timeout))

    def quorum(self, timeout=3.0):
        """DescribeQuorum from the running controllers: the answer of the one
        that says it leads, or None when none does (an election is on)."""
        for n in self.controllers():
            if not n.alive():
                continue
            try:
                q = describe_quorum(n.controller_port, timeout)
            except (OSError, ValueError, struct.error, IndexError):
                continue
            if q.get("error") == 0 and q.get("leader", -1) >= 0:
                return q
        return None


# ---------------------------------------------------------------- partitions

class CutOff:
    """Drops one node's traffic to and from its peers with nftables, in a
    table of its own (removed by heal(), which is safe to call twice).

    How the node's packets are told apart: every node runs with a group id
    of its own (Node.launch, as root), and nftables' `meta skgid` matches the
    group of the socket that sends a packet. So the cut node's packets to any
    peer port are dropped, and so are the peers' packets to the cut node's
    ports; the connection is marked (conntrack) so that the answers on it
    are dropped too. The test's own clients (group 0) still reach every
    node: that is how the test reads the cut node's Metadata."""

    MARK = 0x6e11

    def __init__(self, cluster, node_id):
        if os.geteuid() != 0:
            raise ClusterError("cutting a node off needs root (nftables)")
        if shutil.which("nft") is None:
            raise ClusterError("nft not found (apt-get install nftables)")
        self.table = "gregor_cluster_cut_%d_%d" % (os.getpid(), node_id)
        node = cluster.node(node_id)
        peers = [n for n in cluster.nodes if n.node_id != node_id]
        own_ports = [p for p in (node.client_port, node.controller_port) if p]
        peer_ports = [p for n in peers for p in (n.client_port, n.controller_port) if p]
        peer_gids = [n.gid for n in peers]
        fmt = lambda xs: "{ %s }" % ", ".join(map(str, xs))  # noqa: E731
        m = "0x%x" % self.MARK
        rules = """table inet %(t)s {
  chain out {
    type filter hook output priority -10; policy accept;
    ct mark %(m)s drop
    meta skgid %(g)d tcp dport %(pp)s ct mark set %(m)s drop
    meta skgid %(pg)s tcp dport %(op)s ct mark set %(m)s drop
  }
  chain in {
    type filter hook input priority -10; policy accept;
    ct mark %(m)s drop
  }
}
""" % {"t": self.table, "m": m, "g": node.gid, "pp": fmt(peer_ports), "pg": fmt(peer_gids),
       "op": fmt(own_ports)}
        self.active = False
        r = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise ClusterError("nft refused the rules (exit %d): %s" % (r.returncode, r.stderr))
        self.active = True
        self.rules = rules

    def heal(self):
        if self.active:
            r = subprocess.run(["nft", "delete", "table", "inet", self.table],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise ClusterError("nft could not delete table %s: %s" % (self.table, r.stderr))
            self.active = False


# ---------------------------------------------------------------- command line

def _print_status(c):
    print("%s cluster in %s (%s layout, cluster id %s)" % (c.kind, c.dir, c.layout,
                                                             c.cluster_id))
    for n in c.nodes:
        alive = n.alive()
        line = "  node %d  %-18s" % (n.node_id, ",".join(n.roles))
        if n.client_port:
            line += "  PLAINTEXT 127.0.0.1:%-5d" % n.client_port
        if n.controller_port:
            line += "  CONTROLLER 127.0.0.1:%-5d" % n.controller_port
        line += "  %s" % ("running, pid %d" % n.pid() if alive else "stopped")
        if alive and n.is_broker:
            v = c.view(n)
            line += ("  Metadata lists brokers %s" % v) if v is not None else \
                "  Metadata: no answer"
        print(line)
    q = c.quorum()
    if q:
        print("  metadata quorum: leader %d, epoch %d, high watermark %d, voters %s"
              % (q["leader"], q["epoch"], q["high_watermark"], sorted(q["voters"])))
    else:
        print("  metadata quorum: no controller answers DescribeQuorum as leader")
    if any(n.alive() for n in c.brokers()):
        print("bootstrap.servers=%s" % c.bootstrap)


def main(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/cluster",
        description="A local Gregor cluster on loopback (or Apache Kafka's, with --kafka, "
                    "from the same server.properties files). Default folder: %s" % default_dir())
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="write, format and start a cluster; wait until it forms")
    u.add_argument("n", type=int, nargs="?", default=None,
                   help="number of nodes (combined layout; in the split layout C+B if given)")
    u.add_argument("--dir", default=default_dir())
    u.add_argument("--base-port", type=int, default=9092,
                   help="node N listens on P+2(N-1) (PLAINTEXT) and P+2(N-1)+1 (CONTROLLER); "
                        "0: free ports (default 9092)")
    u.add_argument("--layout", choices=("combined", "split"), default="combined")
    u.add_argument("--controllers", type=int, default=3)
    u.add_argument("--brokers", type=int, default=2)
    u.add_argument("--kafka", action="store_true", help="Apache Kafka 4.4.0 instead of Gregor")
    u.add_argument("--heap", default="512m", help="JVM heap per Kafka node")
    u.add_argument("--timeout", type=float, default=None, help="seconds to wait for forming")
    u.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="one more key for every node's server.properties")
    for name, hlp in (("status", "show the nodes, their Metadata and the quorum leader"),
                      ("down", "stop every node (SIGTERM, SIGKILL after 30 s)")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--dir", default=default_dir())
    for name, hlp in (("kill", "kill -9 one node"), ("start", "start one stopped node")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("node", type=int)
        s.add_argument("--dir", default=default_dir())
    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            return _cmd_up(a)
        c = Cluster.load(a.dir)
        if a.cmd == "status":
            _print_status(c)
        elif a.cmd == "down":
            running = [n.node_id for n in c.nodes if n.alive()]
            clean = c.down()
            print("stopped node(s) %s%s" % (running, "" if all(clean) else
                                            " (some had to be killed)"))
        elif a.cmd == "kill":
            c.kill9(a.node)
            print("node %d killed (SIGKILL)" % a.node)
        elif a.cmd == "start":
            c.start_node(a.node)
            n = c.node(a.node)
            t = c.wait_formed(nodes=[n])
            print("node %d started, up after %.1f s" % (a.node, t))
    except ClusterError as e:
        print("cluster: %s" % e, file=sys.stderr)
        return 1
    return 0


def _cmd_up(a):
    overrides = {}
    for kv in a.override:
        if "=" not in kv:
            raise ClusterError("--override wants key=value, got %r" % kv)
        k, v = kv.split("=", 1)
        overrides[k] = v
    if a.layout == "split" and a.n is not None and a.n != a.controllers + a.brokers:
        raise ClusterError("split layout: N (%d) is not --controllers + --brokers (%d + %d)"
                           % (a.n, a.controllers, a.brokers))
    if os.path.exists(os.path.join(a.dir, STATE_FILE)):
        old = Cluster.load(a.dir)
        if any(n.alive() for n in old.nodes):
            raise ClusterError("a cluster is running in %s: scripts/cluster down --dir %s"
                               % (a.dir, a.dir))
    shutil.rmtree(a.dir, ignore_errors=True)
    c = Cluster(a.dir, kind="kafka" if a.kafka else "gregor", layout=a.layout,
                nodes=a.n if a.n is not None else 3, controllers=a.controllers,
                brokers=a.brokers, base_port=a.base_port or None, overrides=overrides,
                heap=a.heap, detach=True)
    t0 = time.monotonic()
    try:
        c.up(a.timeout)
    except ClusterError:
        c.kill_all()
        raise
    print("%s cluster of %d node(s) formed after %.1f s; data and logs in %s"
          % (c.kind, len(c.nodes), time.monotonic() - t0, c.dir))
    for n in c.nodes:
        print("  node %d: %s" % (n.node_id, n.props_path))
    print("bootstrap.servers=%s" % c.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
