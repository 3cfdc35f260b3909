#!/usr/bin/python3
"""capture_kraft.py - record the KRaft frames Apache Kafka 4.4.0 sends
between its controllers, for tests/unit/test_kraft_codec.c.

Starts a 3-node combined-mode KRaft cluster (tests/reference/kafkaref.py)
whose controller.quorum.voters point at a small TCP proxy per node instead
of the nodes' own CONTROLLER listeners, so every Raft RPC (Vote,
BeginQuorumEpoch, Fetch, ...) and every broker-to-controller RPC
(BrokerRegistration, BrokerHeartbeat) crosses the proxy. Then it runs
kafka-metadata-quorum's `describe --status` (DescribeQuorum) through a
proxy too, stops the leader with SIGSTOP for a few seconds (its followers'
fetches time out: they send pre-votes, KIP-996, then vote a new leader in),
lets it go on with SIGCONT, and stops the cluster with SIGTERM (the leader
resigns: EndQuorumEpoch) while the proxies still run.

The proxy can lower the maximum versions in the ApiVersions answers (CAP:
Kafka's clients pick min(their newest, the peer's newest)) to what
src/proto/kafka.schema decodes. Today its maxima are Kafka 4.4.0's (Vote
v2, Fetch v18, BrokerHeartbeat v2, AddRaftVoter v1), so nothing is lowered
and the frames are exactly what Kafka 4.4.0 sends. Nothing else is changed.

Writes the first frames of each (api, version, direction, phase) as JSON to
the file given (default /tmp/kraft_frames.json): hex of each frame without
its 4-byte length prefix, and for Vote requests the PreVote flag, epoch and
sender read from the frame. Run with /usr/bin/python3; takes about two
minutes.
"""

import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import kafkaref  # noqa: E402

# The newest versions src/proto/kafka.schema decodes, for the APIs where a
# newer Kafka could go further. Do not cap BrokerHeartbeat below v2: Kafka
# 4.4's broker cannot send v1 (it fails with "Attempted to write a
# non-default cordonedLogDirs at version 1" and never unfences).
CAP = {1: 18, 52: 2, 63: 2, 80: 1}
KEEP = 3  # frames kept per (api key, version, direction, phase)
# Vote, BeginQuorumEpoch, EndQuorumEpoch: rare and the point of the
# capture; kept up to this many per (api key, version, direction, phase).
KEEP_ELECTION = 30


def uvarint(buf, pos):
    shift = val = 0
    while True:
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, pos
        shift += 7


def cap_api_versions(body):
    """body: an ApiVersions response after the 4-byte correlation id (header
    v0), at a flexible version (3+): int16 error, compact array of (key, min,
    max, tagged fields). Rewrites max in place; returns the new bytes."""
    b = bytearray(body)
    n, pos = uvarint(b, 2)
    for _ in range(n - 1):
        key, lo, hi = struct.unpack_from(">hhh", b, pos)
        if key in CAP and hi > CAP[key]:
            struct.pack_into(">h", b, pos + 4, CAP[key])
        pos += 6
        ntag, pos = uvarint(b, pos)
        for _ in range(ntag):
            _, pos = uvarint(b, pos)
            size, pos = uvarint(b, pos)
            pos += size
    return bytes(b)


def vote_request_facts(frame, version):
    """PreVote, ReplicaEpoch and ReplicaId of a Vote v2 request frame (its
    first partition), read by hand so the choice of frames for the C test
    does not depend on the codec under test."""
    if version < 2:
        return {}
    pos = 8  # api key, version, correlation id
    # client id (int16 length), then the header's tagged fields
    (n,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + max(n, 0)
    ntag, pos = uvarint(frame, pos)
    for _ in range(ntag):
        _, pos = uvarint(frame, pos)
        size, pos = uvarint(frame, pos)
        pos += size
    n, pos = uvarint(frame, pos)  # cluster id, compact nullable
    pos += max(n - 1, 0)
    pos += 4  # voter id
    _, pos = uvarint(frame, pos)  # topics
    n, pos = uvarint(frame, pos)  # topic name
    pos += n - 1
    _, pos = uvarint(frame, pos)  # partitions
    _, epoch, rid = struct.unpack_from(">iii", frame, pos)
    pos += 12 + 16 + 16 + 4 + 8  # directory ids, last offset epoch, last offset
    return {"pre_vote": bool(frame[pos]), "epoch": epoch, "replica_id": rid}


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.frames = []
        self.count = {}
        self.big_fetches = 0
        self.phase = "startup"

    def add(self, proxy, direction, key, version, frame):
        with self.lock:
            k = (key, version, direction, self.phase)
            self.count[k] = self.count.get(k, 0) + 1
            # and the first Fetch responses that carry records (the
            # metadata log's batches, control records among them)
            big = key == 1 and direction == "response" and len(frame) > 200
            if big:
                self.big_fetches += 1
            keep = KEEP_ELECTION if key in (52, 53, 54) else KEEP
            if self.count[k] <= keep or (big and self.big_fetches <= KEEP):
                f = {"proxy": proxy, "dir": direction, "key": key, "version": version,
                     "phase": self.phase, "t": round(time.monotonic(), 3), "hex": frame.hex()}
                if key == 52 and direction == "request":
                    f.update(vote_request_facts(frame, version))
                self.frames.append(f)


class Proxy:
    """Listens on a free port, forwards to target; frames both ways."""

    def __init__(self, name, target_port, rec):
        self.name = name
        self.target = target_port
        self.rec = rec
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            pending = {}  # correlation id -> (key, version)
            threading.Thread(target=self.pump, args=(c, s, True, pending), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, False, pending), daemon=True).start()

    def pump(self, src, dst, is_request, pending):
        buf = b""
        src.settimeout(None)
        try:
            while not self.stop:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                out = b""
                while len(buf) >= 4:
                    (n,) = struct.unpack_from(">i", buf, 0)
                    if len(buf) < 4 + n:
                        break
                    frame = buf[4:4 + n]
                    buf = buf[4 + n:]
                    if is_request:
                        key, ver, corr = struct.unpack_from(">hhi", frame, 0)
                        pending[corr] = (key, ver)
                        self.rec.add(self.name, "request", key, ver, frame)
                    else:
                        (corr,) = struct.unpack_from(">i", frame, 0)
                        key, ver = pending.pop(corr, (-1, -1))
                        if key == 18 and ver >= 3:
                            frame = frame[:4] + cap_api_versions(frame[4:])
                        self.rec.add(self.name, "response", key, ver, frame)
                    out += struct.pack(">i", len(frame)) + frame
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class ProxiedCluster(kafkaref.KafkaCluster):
    """controller.quorum.voters names the proxies, and each node advertises
    its proxy as its CONTROLLER endpoint (what DescribeCluster tells the
    admin client, what BeginQuorumEpoch tells the followers)."""

    def voters(self):
        return ",".join("%d@127.0.0.1:%d" % (n.node_id, self.proxies[n.node_id].port)
                        for n in self.nodes)

    def proxy_nodes(self, rec):
        self.proxies = {n.node_id: Proxy("node%d" % n.node_id, n.controller_port, rec)
                        for n in self.nodes}
        for n in self.nodes:
            plain = n.properties

            def props(n=n, plain=plain):
                p = plain()
                p["advertised.listeners"] = "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (
                    n.port, self.proxies[n.node_id].port)
                return p
            n.properties = props


def set_phase(rec, phase):
    with rec.lock:
        rec.phase = phase
    print("phase:", phase, flush=True)


def describe_status(cluster):
    r = kafkaref.run_tool("org.apache.kafka.tools.MetadataQuorumCommand",
                          ["--bootstrap-controller", "127.0.0.1:%d" % cluster.proxies[1].port,
                           "describe", "--status"], timeout=120)
    print(r.stdout, r.stderr[-2000:])
    m = re.search(r"^LeaderId:\s+(\d+)", r.stdout, re.M)
    return int(m.group(1)) if m else None


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/kraft_frames.json"
    rec = Recorder()
    cluster = ProxiedCluster(nodes=3, heap="512m")
    cluster.proxy_nodes(rec)
    stopped = None
    try:
        cluster.start(timeout=180)
        set_phase(rec, "steady")
        time.sleep(5)  # some heartbeats and fetches at steady state
        leader = describe_status(cluster)
        time.sleep(1)
        if leader is None:
            raise SystemExit("no LeaderId in describe --status")
        # The followers' fetches time out (controller.quorum.fetch.timeout.ms,
        # 2 s): each becomes prospective and sends pre-votes, then the one
        # granted them votes for real in a new epoch.
        set_phase(rec, "leader-stopped")
        stopped = next(n for n in cluster.nodes if n.node_id == leader)
        stopped.signal(signal.SIGSTOP)
        time.sleep(8)
        stopped.signal(signal.SIGCONT)
        stopped = None
        set_phase(rec, "leader-back")
        time.sleep(10)
        describe_status(cluster)
        # SIGTERM with the proxies still running: the leader resigns
        # (EndQuorumEpoch) on its way out.
        set_phase(rec, "shutdown")
        cluster.stop()
    finally:
        if stopped is not None:
            stopped.signal(signal.SIGCONT)
        for p in cluster.proxies.values():
            p.stop = True
        cluster.cleanup()
    with rec.lock:
        frames = list(rec.frames)
        counts = {"%d v%d %s %s" % k: v for k, v in sorted(rec.count.items())}
    with open(out_path, "w") as f:
        json.dump({"counts": counts, "frames": frames}, f, indent=1)
    for k, v in counts.items():
        print(k, v)
    print("wrote", out_path)


if __name__ == "__main__":
    main()
