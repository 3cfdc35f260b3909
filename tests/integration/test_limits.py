"""
Resource limits: every bound has a config key, and hitting it is handled the
way a Kafka user expects — the broker stays up and other clients are fine.
Kafka's keys behave as in Kafka (queued.max.requests, max.connections,
socket.request.max.bytes, connections.max.idle.ms, message.max.bytes); the
same-port start-up error and the open-files check are Gregor's own.
"""
import socket
import struct
import subprocess
import time

import pytest

import kafka_wire as w
from conftest import create_topic, roundtrip_check, scaled


def test_pipelined_requests_past_queued_max_requests(start_broker):
    """With queued.max.requests=1 the broker stops reading a connection that
    has a request in flight and resumes when it is answered — including the
    frames already sitting in its read buffer (a regression: those once
    waited for an EPOLLIN that never came)."""
    broker = start_broker(queued__max__requests=1)
    n = scaled(50000)
    lines = "".join("%d\n" % i for i in range(n)).encode()
    p = subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", "pipe",
                        "-X", "linger.ms=0", "-X", "batch.num.messages=10"],
                       input=lines, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    c = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "pipe", "-e", "-q",
                        "-o", "beginning"], capture_output=True, timeout=120)
    assert c.returncode == 0, c.stderr
    got = c.stdout.decode().split()
    assert got == [str(i) for i in range(n)]


def test_max_connections_extra_waits_for_a_slot(start_broker):
    """Past max.connections Kafka stops accepting: the extra connection is
    not closed, its request gets no answer while the limit holds, and it is
    served as soon as another connection closes."""
    broker = start_broker(max__connections=3)
    time.sleep(0.5)  # let the broker see the readiness probe's connection close
    socks = [socket.create_connection(("127.0.0.1", broker.port), timeout=5) for _ in range(3)]
    for i, s in enumerate(socks):
        s.sendall(w.api_versions(i + 1, 0))
        w.recv_response(s, 10)
    extra = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    extra.sendall(w.api_versions(99, 0))
    extra.settimeout(2)
    try:
        got = extra.recv(1)
        raise AssertionError("the connection past max.connections got %r instead of waiting"
                             % got)
    except socket.timeout:
        pass
    socks[0].close()
    payload = w.recv_response(extra, 15)
    assert struct.unpack_from(">i", payload)[0] == 99
    extra.close()
    for s in socks[1:]:
        s.close()
    time.sleep(0.3)
    roundtrip_check(broker.bootstrap)


def test_frame_over_socket_request_max_bytes(start_broker):
    broker = start_broker(socket__request__max__bytes=4096)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(struct.pack(">i", 5000) + b"\0" * 64)
        s.settimeout(5)
        assert s.recv(1) == b""
    if broker.kind == "gregor":  # the words of the log are Gregor's own
        assert "exceeds socket.request.max.bytes (4096)" in broker.log_text()
    roundtrip_check(broker.bootstrap)


def test_idle_connection_closed(start_broker):
    broker = start_broker(connections__max__idle__ms=1000)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.settimeout(10)
        t0 = time.monotonic()
        assert s.recv(1) == b""
        assert time.monotonic() - t0 < 5
    if broker.kind == "gregor":  # the words of the log are Gregor's own
        assert "connections.max.idle.ms" in broker.log_text()


def test_message_max_bytes(start_broker):
    from confluent_kafka import Producer
    broker = start_broker(message__max__bytes=10000)
    create_topic(broker.bootstrap, "big")
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 1000000,
                  "compression.type": "none", "linger.ms": 0})
    p.produce("big", b"x" * 50000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].name() == "MSG_SIZE_TOO_LARGE", errors[0]


@pytest.mark.gregor_only("a second gregor process on the port: the binary's start-up error")
def test_second_broker_on_same_port_fails(start_broker, tmp_path):
    """The reactors share one listening socket; another process must get
    EADDRINUSE instead of silently splitting the connections."""
    from conftest import GREGOR_BIN
    broker = start_broker()
    p = subprocess.run([GREGOR_BIN, "server", "--override", "log.dirs=%s" % (tmp_path / "other"),
                        "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % broker.port],
                       capture_output=True, timeout=30)
    assert p.returncode == 1
    assert b"Address already in use" in p.stderr
    roundtrip_check(broker.bootstrap)


@pytest.mark.gregor_only("Gregor's own check of the open-files limit (Kafka has none)")
def test_partitions_beyond_open_files_limit_refused(tmp_path):
    """Each partition keeps its active segment's three files open. A topic
    that would not fit in the open-files limit is refused up front with
    POLICY_VIOLATION and a message saying what to raise — never created
    half-way (which once left a metadata log the broker could not replay)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from conftest import GREGOR_BIN, free_port
    port = free_port()
    log = open(tmp_path / "broker.log", "wb")
    proc = subprocess.Popen(["prlimit", "--nofile=400:400", GREGOR_BIN, "server",
                             "--override", "log.dirs=%s" % (tmp_path / "data"),
                             "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "broker did not start"
                time.sleep(0.1)
        admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % port})
        admin.create_topics([NewTopic("fits", 30, 1)])["fits"].result(15)
        with pytest.raises(Exception) as e:
            admin.create_topics([NewTopic("too-many", 200, 1)])["too-many"].result(15)
        assert "POLICY_VIOLATION" in str(e.value) and "open-files limit" in str(e.value)
        assert "too-many" not in admin.list_topics(timeout=10).topics
        proc.terminate()
        assert proc.wait(30) == 0
        # and it restarts: nothing half-created in the metadata log
        proc = subprocess.Popen(["prlimit", "--nofile=400:400", GREGOR_BIN, "server",
                                 "--override", "log.dirs=%s" % (tmp_path / "data"),
                                 "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "broker did not restart"
                assert time.monotonic() < deadline, "broker did not restart"
                time.sleep(0.1)
        assert len(admin.list_topics(timeout=10).topics["fits"].partitions) == 30
    finally:
        proc.kill()
        proc.wait()
        log.close()
