#!/usr/bin/env python3
"""The reference broker: Apache Kafka 4.4.0 in KRaft mode, fetched by Maven,
started on free loopback ports with its data in a temporary folder.

Used three ways:
  * `scripts/kafka ...` (a thin wrapper over this file's command line);
  * the integration suite's `--broker=kafka` (conftest.py imports KafkaCluster);
  * bench/run, which measures Kafka beside Gregor.

Command line (through scripts/kafka):
  fetch                      JDK and Maven from Debian, then the artifacts
                             named in tests/reference/pom.xml copied with
                             their dependencies into build/reference/libs
                             (once; a second fetch does nothing)
  fetch --version 3.9        the second reference, Apache Kafka 3.9.1
                             (tests/reference/pom-3.9.xml, the broker only)
                             into build/reference-3.9/libs: the last release
                             that serves the versions Kafka 4 removed
                             (KIP-896); start, classpath and run take the
                             same --version (default 4.4)
  classpath                  print the classpath of the fetched jars
  start [--nodes N] [--dir D] [--port P] [--heap 1G] [--override k=v]...
                             format and start a KRaft cluster of N combined
                             broker+controller nodes (default 1), wait until
                             every node serves, print the bootstrap servers;
                             the processes keep running after this exits
  stop [--dir D]             stop the cluster started in D (SIGTERM, then
                             SIGKILL after 30 s)
  run CLASS [ARGS...]        run one of Kafka's classes (a tool) with the
                             reference classpath, e.g.
                             run org.apache.kafka.tools.TopicCommand --list ...

The state of a started cluster (ports, pids, logs, data) is in its folder
(default /tmp/gregor-kafka): node-N/server.properties, node-N/data,
node-N/server.log, node-N/pid.

Nothing here is Gregor's code under test: it only runs the reference.
"""

import argparse
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
POM = os.path.join(HERE, "pom.xml")
LIBS = os.path.join(REPO, "build", "reference", "libs")
STAMP = os.path.join(REPO, "build", "reference", "fetched.stamp")
KAFKA_VERSION = "4.4.0"
DEFAULT_DIR = os.path.join(tempfile.gettempdir(), "gregor-kafka")
READY_TIMEOUT_S = 90.0

# The references: "4.4" (the default everywhere) and "3.9", Kafka 3.9.1,
# for the protocol versions Kafka 4 no longer serves (the version sweep,
# tests/integration/test_version_sweep.py). 3.9 logs with log4j 1 (reload4j).
REFERENCES = {
    "4.4": {"pom": POM, "libs": LIBS, "stamp": STAMP, "version": KAFKA_VERSION, "log4j": 2},
    "3.9": {"pom": os.path.join(HERE, "pom-3.9.xml"),
            "libs": os.path.join(REPO, "build", "reference-3.9", "libs"),
            "stamp": os.path.join(REPO, "build", "reference-3.9", "fetched.stamp"),
            "version": "3.9.1", "log4j": 1},
}
DEFAULT_REF = "4.4"


def _ref(ref):
    try:
        return REFERENCES[ref or DEFAULT_REF]
    except KeyError:
        raise KafkaError("unknown reference version %r (have %s)"
                         % (ref, ", ".join(sorted(REFERENCES))))
STOP_TIMEOUT_S = 30.0

# Kafka's bin/kafka-run-class.sh and kafka-server-start.sh defaults: the
# heap (-Xmx1G -Xms1G) and the G1 settings. The benchmark runs Kafka with
# exactly these; the tests may ask for a smaller heap.
JVM_GC_OPTS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]

# The settings of Kafka's own config/server.properties (KRaft, single node)
# that differ from the built-in defaults: internal topics with one replica,
# and no initial rebalance delay. Everything else stays Kafka's default.
STOCK_PROPERTIES = {
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.retention.hours": "168",
    "log.segment.bytes": "1073741824",
    "log.retention.check.interval.ms": "300000",
}


class KafkaError(Exception):
    pass


def log4j_config(path, ref=None):
    """A log4j2 file: INFO to the node's server.log, nothing to the console
    (a log4j 1 properties file for Kafka 3.9)."""
    if _ref(ref)["log4j"] == 1:
        with open(path, "w") as f:
            f.write("log4j.rootLogger=INFO, FILE\n"
                    "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
                    "log4j.appender.FILE.File=${kafka.logs.dir}/server.log\n"
                    "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.FILE.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
                    "log4j.logger.kafka.request.logger=WARN\n"
                    "log4j.logger.state.change.logger=WARN\n")
        return
    with open(path, "w") as f:
        f.write("""Configuration:
  name: gregor-reference
  Appenders:
    File:
      name: FILE
      fileName: "${sys:kafka.logs.dir}/server.log"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
      - name: state.change.logger
        level: WARN
""")


def tool_log4j_config(path, ref=None):
    """A log4j2 file for tools: warnings and errors to stderr, as Kafka's
    config/tools-log4j2.yaml does (log4j 1 properties for Kafka 3.9)."""
    if _ref(ref)["log4j"] == 1:
        with open(path, "w") as f:
            f.write("log4j.rootLogger=WARN, STDERR\n"
                    "log4j.appender.STDERR=org.apache.log4j.ConsoleAppender\n"
                    "log4j.appender.STDERR.Target=System.err\n"
                    "log4j.appender.STDERR.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.STDERR.layout.ConversionPattern=[%d] %p %m (%c)%n\n")
        return
    with open(path, "w") as f:
        f.write("""Configuration:
  name: gregor-reference-tools
  Appenders:
    Console:
      name: STDERR
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDERR
""")


# ---------------------------------------------------------------- fetching

def _pom_digest(ref=None):
    with open(_ref(ref)["pom"], "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetched(ref=None):
    """True when build/reference/libs (build/reference-3.9/libs for "3.9")
    holds the jars of the current pom."""
    r = _ref(ref)
    try:
        with open(r["stamp"]) as f:
            return f.read().strip() == _pom_digest(ref) and os.path.isdir(r["libs"])
    except OSError:
        return False


def fetch(quiet=False, ref=None):
    """Copy the reference jars into build/reference/libs (Maven caches the
    downloads in ~/.m2, so this is cheap after the first time)."""
    r_ = _ref(ref)
    libs, version = r_["libs"], r_["version"]
    if fetched(ref):
        if not quiet:
            print("kafka: reference %s already fetched in %s" % (version, libs))
        return
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise KafkaError("%s not found: run scripts/deps reference first" % tool)
    tmp = libs + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["mvn", "-B", "-q", "-f", r_["pom"], "dependency:copy-dependencies",
           "-DincludeScope=runtime", "-DoutputDirectory=" + tmp]
    print("kafka: fetching Apache Kafka %s and its dependencies (Maven)" % version,
          flush=True)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise KafkaError("maven failed (exit %d): %s" % (r.returncode, " ".join(cmd)))
    shutil.rmtree(libs, ignore_errors=True)
    os.rename(tmp, libs)
    with open(r_["stamp"], "w") as f:
        f.write(_pom_digest(ref) + "\n")
    print("kafka: %d jars in %s" % (len(os.listdir(libs)), libs))


def classpath(ref=None):
    if not fetched(ref):
        raise KafkaError("the reference %s is not fetched: run scripts/kafka fetch%s"
                         % (_ref(ref)["version"], " --version %s" % ref if ref and ref != DEFAULT_REF else ""))
    return os.path.join(_ref(ref)["libs"], "*")


def java_cmd(main_class, args, heap=None, extra_jvm=None, log_config=None, ref=None):
    cmd = ["java", "-server"]
    if heap:
        cmd += ["-Xmx" + heap, "-Xms" + heap]
    cmd += JVM_GC_OPTS + (extra_jvm or [])
    if log_config:
        if _ref(ref)["log4j"] == 1:
            cmd += ["-Dlog4j.configuration=file:" + log_config]
        else:
            cmd += ["-Dlog4j2.configurationFile=" + log_config]
    cmd += ["-cp", classpath(ref), main_class] + list(args)
    return cmd


def run_tool(main_class, args, timeout=120, heap="256m", input=None, env=None):
    """Run one of Kafka's command-line classes; returns CompletedProcess with
    text stdout/stderr. Tools log warnings to stderr as Kafka's scripts do."""
    cfg = os.path.join(os.path.dirname(LIBS), "tools-log4j2.yaml")
    if not os.path.exists(cfg):
        tool_log4j_config(cfg)
    cmd = java_cmd(main_class, args, heap=None, extra_jvm=["-Xmx" + heap], log_config=cfg)
    return subprocess.run(cmd, input=input, capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---------------------------------------------------------------- the cluster

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class KafkaNode:
    """One combined broker+controller process of a KafkaCluster."""

    def __init__(self, cluster, node_id, port, controller_port):
        self.cluster = cluster
        self.node_id = node_id
        self.port = port
        self.controller_port = controller_port
        self.dir = os.path.join(cluster.dir, "node-%d" % node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.props_path = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "server.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.pid_path = os.path.join(self.dir, "pid")
        self.proc = None
        self.runs = 0

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def properties(self):
        c = self.cluster
        props = dict(STOCK_PROPERTIES)
        props.update({
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": c.voters(),
            "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                         % (self.port, self.controller_port),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.data_dir,
        })
        if len(c.nodes) > 1:
            rf = str(min(3, len(c.nodes)))
            props.update({"offsets.topic.replication.factor": rf,
                          "transaction.state.log.replication.factor": rf,
                          "share.coordinator.state.topic.replication.factor": rf})
        props.update(c.overrides)
        return props

    def write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.props_path, "w") as f:
            f.write("# written by tests/reference/kafkaref.py\n")
            for k, v in self.properties().items():
                f.write("%s=%s\n" % (k, v))

    def format(self):
        ref = self.cluster.ref
        cfg = os.path.join(self.dir, "tools-log4j2.yaml" if _ref(ref)["log4j"] == 2
                           else "tools-log4j.properties")
        tool_log4j_config(cfg, ref)
        cmd = java_cmd("kafka.tools.StorageTool",
                       ["format", "-t", self.cluster.cluster_id, "-c", self.props_path,
                        "--ignore-formatted"],
                       extra_jvm=["-Xmx256m", "-XX:TieredStopAtLevel=1"], log_config=cfg, ref=ref)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise KafkaError("kafka-storage format failed for node %d (exit %d):\n%s%s"
                             % (self.node_id, r.returncode, r.stdout, r.stderr))

    def launch(self):
        if self.alive():
            raise KafkaError("node %d already running" % self.node_id)
        cfg = os.path.join(self.dir, "log4j2.yaml" if _ref(self.cluster.ref)["log4j"] == 2
                           else "log4j.properties")
        log4j_config(cfg, self.cluster.ref)
        cmd = java_cmd("kafka.Kafka", [self.props_path], heap=self.cluster.heap,
                       extra_jvm=["-Dkafka.logs.dir=" + self.dir] + self.cluster.jvm_opts,
                       log_config=cfg, ref=self.cluster.ref)
        out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=self.cluster.detach)
        out.close()
        self.runs += 1
        with open(self.pid_path, "w") as f:
            f.write("%d\n" % self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=60):
        out = []
        for p in (self.stdout_path, self.log_path):
            try:
                with open(p, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                out.append("--- %s ---\n%s" % (p, "\n".join(text.splitlines()[-lines:])))
            except OSError:
                pass
        return "\n".join(out)

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM (Kafka's controlled shutdown); SIGKILL if it hangs.
        Returns the exit code, None if it had to be killed."""
        self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.wait_exit(10)


class KafkaCluster:
    """N combined-mode KRaft nodes on loopback. The default is one node,
    which is what the conformance suite compares Gregor with."""

    def __init__(self, directory=None, nodes=1, overrides=None, heap="1G", port=None,
                 jvm_opts=None, detach=False, ref=None):
        self.ref = ref or DEFAULT_REF
        _ref(self.ref)
        if directory is None:
            directory = tempfile.mkdtemp(prefix="gregor-kafka-")
        self.dir = os.path.abspath(directory)
        self.heap = heap
        self.jvm_opts = list(jvm_opts or [])
        self.detach = detach
        self.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        self.cluster_id = _cluster_id()
        self.nodes = []
        for i in range(nodes):
            p = port if (port and i == 0) else free_port()
            self.nodes.append(KafkaNode(self, i + 1, p, free_port()))

    def voters(self):
        return ",".join("%d@127.0.0.1:%d" % (n.node_id, n.controller_port) for n in self.nodes)

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes)

    def start(self, timeout=READY_TIMEOUT_S):
        os.makedirs(self.dir, exist_ok=True)
        for n in self.nodes:
            n.write_config()
            n.format()
        for n in self.nodes:
            n.launch()
        self.wait_ready(timeout)
        return self

    def restart_node(self, node, timeout=READY_TIMEOUT_S, **overrides):
        if node.alive():
            node.stop()
        if overrides:
            self.overrides.update({k: str(v) for k, v in overrides.items()})
            node.write_config()
        node.launch()
        self.wait_ready(timeout)

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Until every node accepts connections and a Metadata request
        lists all of them as brokers (the broker is registered and
        unfenced: before that, clients get no brokers or timeouts)."""
        deadline = time.monotonic() + timeout
        pending = [n for n in self.nodes if n.alive() or n.proc is not None]
        while time.monotonic() < deadline:
            for n in pending:
                if not n.alive():
                    raise KafkaError("kafka node %d exited with %s during start-up:\n%s"
                                     % (n.node_id, n.proc.returncode, n.log_tail()))
            if all(_port_open(n.port) for n in pending) and \
                    all(_brokers_seen(n.port) >= len(self.nodes) for n in pending):
                return
            time.sleep(0.2)
        raise KafkaError("kafka not serving after %.0f s:\n%s"
                         % (timeout, "\n".join(n.log_tail() for n in self.nodes)))

    def stop(self):
        for n in self.nodes:
            n.signal(signal.SIGTERM)
        codes = [n.wait_exit(STOP_TIMEOUT_S) for n in self.nodes]
        return codes

    def kill(self):
        for n in self.nodes:
            n.kill9()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_id():
    """A KRaft cluster id: 16 random bytes in URL-safe base64, no padding;
    never starting with '-', which kafka-storage's argument parser would
    take for an option (as Kafka's own random-uuid also avoids)."""
    import base64
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _brokers_seen(port):
    """Number of brokers in a Metadata v1 response (raw socket, no client
    library, so it works from any Python); 0 on any error."""
    import struct
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            cid = b"kafkaref"
            body = struct.pack(">hhih", 3, 1, 7, len(cid)) + cid + struct.pack(">i", 0)
            s.sendall(struct.pack(">i", len(body)) + body)
            hdr = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", hdr)
            data = _recv_exact(s, size)
            (n,) = struct.unpack(">i", data[4:8])
            return n
    except (OSError, struct.error, ValueError):
        return 0


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ValueError("connection closed")
        buf += chunk
    return buf


# ---------------------------------------------------------------- command line

def _state_nodes(directory):
    out = []
    for d in sorted(glob.glob(os.path.join(directory, "node-*"))):
        try:
            with open(os.path.join(d, "pid")) as f:
                out.append((d, int(f.read().strip())))
        except (OSError, ValueError):
            pass
    return out


def cmd_start(a):
    fetch(quiet=True, ref=a.version)
    if _state_nodes(a.dir) and any(_pid_alive(p) for _, p in _state_nodes(a.dir)):
        raise KafkaError("a cluster is already running in %s: scripts/kafka stop --dir %s"
                         % (a.dir, a.dir))
    shutil.rmtree(a.dir, ignore_errors=True)
    overrides = {}
    for kv in a.override:
        if "=" not in kv:
            raise KafkaError("--override wants key=value, got %r" % kv)
        k, v = kv.split("=", 1)
        overrides[k] = v
    c = KafkaCluster(a.dir, nodes=a.nodes, overrides=overrides, heap=a.heap, port=a.port,
                     detach=True, ref=a.version)
    t0 = time.monotonic()
    try:
        c.start()
    except KafkaError:
        c.kill()
        raise
    print("kafka: %d node(s) serving after %.1f s; data and logs in %s"
          % (len(c.nodes), time.monotonic() - t0, c.dir))
    print("bootstrap.servers=%s" % c.bootstrap)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def cmd_stop(a):
    nodes = _state_nodes(a.dir)
    if not nodes:
        print("kafka: nothing started in %s" % a.dir)
        return
    for _, pid in nodes:
        if _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and any(_pid_alive(p) for _, p in nodes):
        time.sleep(0.2)
    for d, pid in nodes:
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            print("kafka: node in %s did not stop in %d s; killed" % (d, STOP_TIMEOUT_S))
        os.unlink(os.path.join(d, "pid"))
    print("kafka: stopped %d node(s) in %s" % (len(nodes), a.dir))


def main(argv):
    ap = argparse.ArgumentParser(prog="scripts/kafka",
                                 description="Apache Kafka %s, the reference broker" % KAFKA_VERSION)
    sub = ap.add_subparsers(dest="cmd", required=True)
    vhelp = "the reference: 4.4 (Kafka %s, default) or 3.9 (Kafka 3.9.1)" % KAFKA_VERSION
    s = sub.add_parser("fetch", help="copy the pinned jars into build/reference/libs")
    s.add_argument("--version", default=DEFAULT_REF, choices=sorted(REFERENCES), help=vhelp)
    s = sub.add_parser("classpath", help="print the reference classpath")
    s.add_argument("--version", default=DEFAULT_REF, choices=sorted(REFERENCES), help=vhelp)
    s = sub.add_parser("start", help="format and start a KRaft cluster")
    s.add_argument("--version", default=DEFAULT_REF, choices=sorted(REFERENCES), help=vhelp)
    s.add_argument("--nodes", type=int, default=1)
    s.add_argument("--dir", default=DEFAULT_DIR)
    s.add_argument("--port", type=int, default=None, help="first node's client port")
    s.add_argument("--heap", default="1G")
    s.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    s = sub.add_parser("stop", help="stop the cluster started in --dir")
    s.add_argument("--dir", default=DEFAULT_DIR)
    s = sub.add_parser("run", help="run a Kafka class with the reference classpath")
    s.add_argument("--version", default=DEFAULT_REF, choices=sorted(REFERENCES), help=vhelp)
    s.add_argument("main_class")
    s.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "fetch":
            fetch(ref=a.version)
        elif a.cmd == "classpath":
            print(classpath(a.version))
        elif a.cmd == "start":
            cmd_start(a)
        elif a.cmd == "stop":
            cmd_stop(a)
        elif a.cmd == "run":
            fetch(quiet=True, ref=a.version)
            cfg = os.path.join(os.path.dirname(_ref(a.version)["libs"]),
                               "tools-log4j2.yaml" if _ref(a.version)["log4j"] == 2
                               else "tools-log4j.properties")
            tool_log4j_config(cfg, a.version)
            os.execvp("java", java_cmd(a.main_class, a.args, log_config=cfg, ref=a.version))
    except KafkaError as e:
        print("kafka: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
