"""
Minimal Kafka wire encoders/decoders for raw-socket tests (not a test file).

Only what test_bad_input.py needs: request framing (header v1/v2), a record
batch v2 builder with a pure-Python CRC32C, Produce v3, ApiVersions and
Metadata requests, and decoders for the ApiVersions and Produce v3 responses;
for test_features.py, ApiVersions v3+ with its feature fields, and
UpdateFeatures v0-2.
"""

import socket
import struct
import time

# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), reflected polynomial 0x82F63B78
# ---------------------------------------------------------------------------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# ---------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------

def zigzag(n):
    return (n << 1) ^ (n >> 63)


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    return uvarint(zigzag(n) & 0xFFFFFFFFFFFFFFFF)


def string(s):
    """int16-length string; None -> -1."""
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def nbytes(b):
    """int32-length bytes; None -> -1."""
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


# ---------------------------------------------------------------------------
# record batch v2
# ---------------------------------------------------------------------------

def encode_record(offset_delta, ts_delta, key, value, headers=()):
    body = bytearray()
    body += b"\x00"                        # attributes
    body += varint(ts_delta)
    body += varint(offset_delta)
    if key is None:
        body += varint(-1)
    else:
        body += varint(len(key)) + key
    if value is None:
        body += varint(-1)
    else:
        body += varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hk = hk.encode()
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def record_batch(records, base_ts=None, bad_crc=False):
    """records: [(key, value, headers)]. Returns the batch bytes (baseOffset 0)."""
    if base_ts is None:
        base_ts = int(time.time() * 1000)
    recs = b"".join(encode_record(i, 0, k, v, h) for i, (k, v, h) in enumerate(records))
    after_crc = struct.pack(">hiqqqhii",
                            0,                    # attributes: no compression, CreateTime
                            len(records) - 1,     # lastOffsetDelta
                            base_ts, base_ts,     # base / max timestamp
                            -1, -1, -1,           # producerId, producerEpoch, baseSequence
                            len(records)) + recs
    crc = crc32c(after_crc)
    if bad_crc:
        crc ^= 0xDEADBEEF
    # batchLength counts from partitionLeaderEpoch to the end
    body = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------

def request_header_v1(api_key, api_version, correlation_id, client_id="gregor-raw"):
    return struct.pack(">hhi", api_key, api_version, correlation_id) + string(client_id)


def request_header_v2(api_key, api_version, correlation_id, client_id="gregor-raw"):
    return request_header_v1(api_key, api_version, correlation_id, client_id) + b"\x00"


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def produce_v3(correlation_id, topic, partition, batch, acks=-1, timeout_ms=10000):
    body = (string(None)                             # transactional_id
            + struct.pack(">hi", acks, timeout_ms)
            + struct.pack(">i", 1) + string(topic)
            + struct.pack(">i", 1) + struct.pack(">i", partition) + nbytes(batch))
    return frame(request_header_v1(0, 3, correlation_id) + body)


def produce_v3_multi(correlation_id, topic, parts, acks=-1, timeout_ms=10000):
    """One Produce v3 request for `topic` with several partition entries:
    parts = [(partition, batch)], in that order (a partition may repeat)."""
    body = (string(None)
            + struct.pack(">hi", acks, timeout_ms)
            + struct.pack(">i", 1) + string(topic)
            + struct.pack(">i", len(parts))
            + b"".join(struct.pack(">i", p) + nbytes(b) for p, b in parts))
    return frame(request_header_v1(0, 3, correlation_id) + body)


def parse_produce_v3_list(payload):
    """-> (correlation_id, [(topic, partition, error_code, base_offset)]) in
    response order (repeated partitions keep one entry each)."""
    r = Reader(payload)
    corr = r.take(">i")
    out = []
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            p, err, base, _log_append = r.take(">ihqq")
            out.append((topic, p, err, base))
    r.take(">i")  # throttle_time_ms
    return corr, out


def api_versions(correlation_id, version):
    if version >= 3:
        body = compact_string("gregor-raw") + compact_string("1.0") + b"\x00"
        return frame(request_header_v2(18, version, correlation_id) + body)
    return frame(request_header_v1(18, version, correlation_id))


def metadata_v1(correlation_id, topics):
    body = struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
    return frame(request_header_v1(3, 1, correlation_id) + body)


# ---------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------

class Reader:
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

    def remaining(self):
        return len(self.data) - self.pos

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
            self.pos += self.uvarint()


def parse_api_versions_v0(payload):
    """-> (correlation_id, error_code, {api_key: (min, max)})"""
    r = Reader(payload)
    corr = r.take(">i")
    err = r.take(">h")
    n = r.take(">i")
    apis = {}
    for _ in range(max(n, 0)):
        k, lo, hi = r.take(">hhh")
        apis[k] = (lo, hi)
    return corr, err, apis


def parse_api_versions_v3(payload):
    """An ApiVersions v3+ answer (response header v0) -> dict: error,
    apis {key: (min, max)}, supported {name: (min, max)}, finalized
    {name: (max_level, min_level)}, epoch (-1 when absent), tags (the
    tagged fields present)."""
    r = Reader(payload)
    r.take(">i")                                  # correlation id
    out = {"error": r.take(">h"), "apis": {}, "supported": {}, "finalized": {},
           "epoch": -1, "tags": []}
    for _ in range(r.uvarint() - 1):
        k, lo, hi = r.take(">hhh")
        r.skip_tags()
        out["apis"][k] = (lo, hi)
    r.take(">i")                                  # throttle_time_ms
    for _ in range(r.uvarint()):
        tag, size = r.uvarint(), r.uvarint()
        end = r.pos + size
        out["tags"].append(tag)
        if tag in (0, 2):
            d = out["supported" if tag == 0 else "finalized"]
            for _ in range(r.uvarint() - 1):
                name = r.compact_string()
                d[name] = r.take(">hh")
                r.skip_tags()
        elif tag == 1:
            out["epoch"] = r.take(">q")
        r.pos = end
    assert r.remaining() == 0, "%d bytes after the ApiVersions answer" % r.remaining()
    return out


def update_features(correlation_id, version, updates, validate_only=False, timeout_ms=60000):
    """UpdateFeatures v0-2 (flexible): updates are (feature, level,
    upgrade_type) - v0 sends allow_downgrade = upgrade_type != 1 instead."""
    body = struct.pack(">i", timeout_ms) + uvarint(len(updates) + 1)
    for name, level, upgrade_type in updates:
        body += compact_string(name) + struct.pack(">h", level)
        body += struct.pack(">b", upgrade_type) if version >= 1 else struct.pack(">?", upgrade_type != 1)
        body += b"\x00"
    if version >= 1:
        body += struct.pack(">?", validate_only)
    body += b"\x00"
    return frame(request_header_v2(57, version, correlation_id) + body)


def parse_update_features(payload, version):
    """-> (error_code, error_message, [(feature, error_code, error_message)])"""
    r = Reader(payload)
    r.take(">i")                                  # correlation id
    r.skip_tags()                                 # response header v1
    r.take(">i")                                  # throttle_time_ms
    err = r.take(">h")
    msg = r.compact_string()
    results = []
    if version <= 1:
        for _ in range(r.uvarint() - 1):
            name = r.compact_string()
            e = r.take(">h")
            results.append((name, e, r.compact_string()))
            r.skip_tags()
    r.skip_tags()
    assert r.remaining() == 0, "%d bytes after the UpdateFeatures answer" % r.remaining()
    return err, msg, results


def parse_produce_v3(payload):
    """-> (correlation_id, {(topic, partition): (error_code, base_offset)})"""
    r = Reader(payload)
    corr = r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            p, err, base, _log_append = r.take(">ihqq")
            out[(topic, p)] = (err, base)
    r.take(">i")  # throttle_time_ms
    return corr, out


def parse_metadata_v1_topics(payload):
    """-> (correlation_id, {topic: error_code})"""
    r = Reader(payload)
    corr = r.take(">i")
    for _ in range(r.take(">i")):            # brokers
        r.take(">i"); r.string(); r.take(">i"); r.string()
    r.take(">i")                              # controller_id
    topics = {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        r.take(">b")                          # is_internal
        for _ in range(r.take(">i")):         # partitions
            r.take(">hii")
            for _ in range(2):                # replicas, isr
                n = r.take(">i")
                for _ in range(n):
                    r.take(">i")
        topics[name] = err
    return corr, topics


# ---------------------------------------------------------------------------
# socket helpers
# ---------------------------------------------------------------------------

def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(sock, n, timeout=10):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_response(sock, timeout=10):
    """One response frame's payload (without the size)."""
    size = struct.unpack(">i", recv_exact(sock, 4, timeout))[0]
    assert 0 <= size < 100 * 1024 * 1024, "absurd response size %d" % size
    return recv_exact(sock, size, timeout)


def closed_by_peer(sock, timeout=5):
    """True if the peer closes the connection within timeout (any bytes sent
    before the close are read and discarded), False if still open."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
