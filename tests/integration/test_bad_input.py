"""
Hostile and malformed input on raw sockets.

Proves: the broker closes connections that send garbage, absurd frame sizes,
unknown API keys or unsupported versions; answers ApiVersions with an
unsupported version the way Kafka does (v0-shaped, UNSUPPORTED_VERSION, with
only the ApiVersions range) so clients can downgrade; rejects a record batch with a bad CRC
with CORRUPT_MESSAGE and accepts the same batch with a good CRC; survives huge
array counts and half-sent frames. After every case the process is alive and
a real client (confluent-kafka) can still produce and consume.
"""

import struct
import time

import pytest

import kafka_wire as w
from conftest import consume_partitions, create_topic, roundtrip_check

UNSUPPORTED_VERSION = 35
CORRUPT_MESSAGE = 2


def assert_healthy(broker):
    assert broker.alive(), "broker died (exit code %s)" % broker.proc.returncode
    roundtrip_check(broker.bootstrap)
    assert broker.alive()


def send_expect_close(broker, data, timeout=5):
    with w.connect(broker.port) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while we were still sending: fine
        assert w.closed_by_peer(s, timeout), "connection still open %s s after %r" % (timeout, data[:32])


# ---------------------------------------------------------------------------
# framing
# ---------------------------------------------------------------------------

GARBAGE = {
    "http-request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "negative-api-key": b"\x00\x00\x00\x08" + b"\xde\xad\xbe\xef" * 2,
    "zero-length-frame": b"\x00\x00\x00\x00",
    "frame-shorter-than-header": b"\x00\x00\x00\x03\x00\x12\x00",
    "client-id-past-frame-end": w.frame(struct.pack(">hhih", 18, 0, 1, 200) + b"abc"),
    "tls-client-hello": bytes.fromhex("1603010200010001fc0303") + bytes(range(64)),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_closes_connection(broker, name):
    send_expect_close(broker, GARBAGE[name])
    assert_healthy(broker)


@pytest.mark.parametrize("size", [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7FFFFFF0],
                         ids=["2GiB-1", "2GiB-negative", "minus-one", "just-under-2GiB"])
def test_huge_frame_length_closes_connection(broker, size):
    send_expect_close(broker, struct.pack(">I", size) + b"\x00\x12\x00\x00\x00\x00\x00\x01")
    assert_healthy(broker)


def test_frame_over_socket_request_max_bytes_closes(start_broker):
    broker = start_broker(socket__request__max__bytes=1024 * 1024)
    payload = w.request_header_v1(18, 0, 1) + b"\x00" * (2 * 1024 * 1024)
    send_expect_close(broker, struct.pack(">i", len(payload)) + payload[:4096])
    assert_healthy(broker)


def test_truncated_frame_then_close(broker):
    # a frame announcing 100 bytes, 10 sent, then the client goes away
    with w.connect(broker.port) as s:
        s.sendall(struct.pack(">i", 100) + w.request_header_v1(3, 1, 1)[:10])
    # a half-sent frame held open must not block other clients
    with w.connect(broker.port) as s:
        s.sendall(struct.pack(">i", 100) + b"\x00\x03")
        assert_healthy(broker)
    time.sleep(0.5)
    assert_healthy(broker)


def test_many_connections_churn(broker):
    socks = [w.connect(broker.port) for _ in range(200)]
    for i, s in enumerate(socks):
        if i % 2:
            s.sendall(struct.pack(">i", 50))  # partial frame
        s.close()
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# API keys and versions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("api_key,version", [(9999, 0), (-1, 0), (0, 99), (3, 9999)],
                         ids=["unknown-9999", "negative", "produce-v99", "metadata-v9999"])
def test_unknown_api_or_version_closes(broker, api_key, version):
    send_expect_close(broker, w.frame(w.request_header_v1(api_key, version, 77) + b"\x00" * 16))
    assert_healthy(broker)


def test_api_versions_unsupported_version(broker):
    with w.connect(broker.port) as s:
        s.sendall(w.api_versions(4242, 99))
        corr, err, apis = w.parse_api_versions_v0(w.recv_response(s))
        assert corr == 4242
        assert err == UNSUPPORTED_VERSION
        # ApiVersions itself, from v0 up to at least v3 (the flexible version
        # clients ask for first); Gregor's top is 3, Kafka 4.4's is 5
        assert 18 in apis and apis[18][0] == 0 and apis[18][1] >= 3, apis.get(18)
        # the client can now downgrade on the same connection (what librdkafka does)
        s.sendall(w.api_versions(4243, 0))
        corr, err, apis0 = w.parse_api_versions_v0(w.recv_response(s))
        assert (corr, err) == (4243, 0)
        assert apis0[18] == apis[18]
        for key in (0, 1, 2, 3, 18, 19, 20):   # Produce Fetch ListOffsets Metadata ApiVersions Create/DeleteTopics
            assert key in apis0, "api %d not advertised" % key
            lo, hi = apis0[key]
            assert 0 <= lo <= hi
    assert_healthy(broker)


def test_api_versions_unsupported_version_lists_only_itself(broker):
    """KIP-511: the answer to an ApiVersions version the broker does not know
    carries just the ApiVersions range, which is all a client needs to retry."""
    with w.connect(broker.port) as s:
        s.sendall(w.api_versions(4244, 99))
        corr, err, apis = w.parse_api_versions_v0(w.recv_response(s))
    assert (corr, err) == (4244, UNSUPPORTED_VERSION)
    assert list(apis) == [18], apis


# ---------------------------------------------------------------------------
# Produce with a hand-built record batch
# ---------------------------------------------------------------------------

def raw_produce(broker, topic, batch, corr):
    with w.connect(broker.port) as s:
        s.sendall(w.produce_v3(corr, topic, 0, batch))
        rcorr, parts = w.parse_produce_v3(w.recv_response(s))
    assert rcorr == corr
    assert list(parts) == [(topic, 0)]
    return parts[(topic, 0)]


def test_produce_bad_crc_is_corrupt_message(broker):
    topic = "raw-produce"
    create_topic(broker.bootstrap, topic, partitions=1)
    recs = [(b"key-%d" % i, b"value-%d" % i, [("h", b"%d" % i)]) for i in range(3)]
    ts = int(time.time() * 1000)

    err, _ = raw_produce(broker, topic, w.record_batch(recs, base_ts=ts, bad_crc=True), 1)
    assert err == CORRUPT_MESSAGE
    assert_healthy(broker)

    # sanity: the same batch with the right CRC is accepted, at offset 0
    err, base = raw_produce(broker, topic, w.record_batch(recs, base_ts=ts), 2)
    assert (err, base) == (0, 0)
    got = consume_partitions(broker.bootstrap, topic, {0: 3})[0]
    assert [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in got] == \
        [(i, k, v, h, ts) for i, (k, v, h) in enumerate(recs)]
    assert_healthy(broker)


def test_produce_batch_length_lies(broker):
    topic = "raw-produce-len"
    create_topic(broker.bootstrap, topic, partitions=1)
    good = bytearray(w.record_batch([(None, b"x" * 100, [])]))
    # batchLength claims more bytes than the records field holds
    bad = bytearray(good)
    struct.pack_into(">i", bad, 8, len(good) - 12 + 1000)
    try:
        err, _ = raw_produce(broker, topic, bytes(bad), 3)
    except OSError:  # ConnectionError, timeout: closing the connection is also acceptable
        err = None
    assert err != 0, "batch with a lying batchLength was accepted"
    assert_healthy(broker)
    err, base = raw_produce(broker, topic, bytes(good), 4)
    assert (err, base) == (0, 0)


# ---------------------------------------------------------------------------
# absurd array counts
# ---------------------------------------------------------------------------

METADATA_BODIES = {
    "v1-1e9-topics": w.request_header_v1(3, 1, 5) + struct.pack(">i", 10**9),
    "v1-1e9-topics-some-data": w.request_header_v1(3, 1, 5) + struct.pack(">i", 10**9) + w.string("t") * 3,
    "v1-count-minus-2": w.request_header_v1(3, 1, 5) + struct.pack(">i", -2),
    "v12-compact-1e9": w.request_header_v2(3, 12, 5) + w.uvarint(10**9 + 1),
    "v12-varint-overlong": w.request_header_v2(3, 12, 5) + b"\xff" * 12,
}


@pytest.mark.parametrize("name", sorted(METADATA_BODIES))
def test_metadata_huge_array_count(broker, name):
    with w.connect(broker.port) as s:
        s.sendall(w.frame(METADATA_BODIES[name]))
        # closing is fine; an answer is fine too (it must then be a complete frame)
        try:
            size = struct.unpack(">i", w.recv_exact(s, 4, timeout=10))[0]
            assert 0 <= size < 10 * 1024 * 1024, "response size %d" % size
            w.recv_exact(s, size, timeout=10)
        except (ConnectionError, OSError):
            pass
    assert_healthy(broker)


def test_produce_huge_partition_count(broker):
    body = (w.string(None) + struct.pack(">hi", -1, 1000) + struct.pack(">i", 1) + w.string("t")
            + struct.pack(">i", 10**9) + struct.pack(">i", 0))
    with w.connect(broker.port) as s:
        s.sendall(w.frame(w.request_header_v1(0, 3, 9) + body))
        try:
            w.recv_response(s, timeout=10)
        except (ConnectionError, OSError):
            pass
    assert_healthy(broker)
