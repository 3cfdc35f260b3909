"""
A TCP proxy on 127.0.0.1 between Kafka clients and one broker that loses
responses on purpose (not a test file; used by test_idempotence.py).

The broker must advertise the proxy's address (advertised.listeners =
PLAINTEXT://127.0.0.1:<proxy.port>), or clients connect straight to the
broker after their first Metadata. The proxy's port is known before the
broker starts; its upstream (the broker's port) is given to start().

Both directions are parsed as Kafka frames (int32 size + payload). Client
to broker: the request header (api key, version, correlation id); for
Produce also each partition's batch (producer id, epoch, base sequence,
record count). Broker to client: the correlation id, and for Produce the
per-partition error code and base offset.

Cutting. A rule picks requests of one API key:
  cut_every(api_key, n)   every n-th such request (counted over all connections)
  cut_next(api_key, k)    the next k such requests
and a mode says when to cut:
  "after_response" (default): the request is forwarded, the proxy forwards
      nothing more from that client, waits for the broker's response to that
      request (so the broker has handled it: for Produce with acks=all, the
      batch is in the log), drops that response and closes both sockets.
      The client never learns the request succeeded: the written-then-lost
      case a retry must not duplicate.
  "after_request": both sockets are closed right after the request is
      forwarded, so the response (if the broker writes one) goes nowhere.
  "mixed": the two in turn, starting with "after_response".
hold() makes the proxy close every new client connection at once (and,
with hold(after_next_cut=True), it starts doing so at the next cut, in the
same moment, so no retry can slip through); release() ends that.

Records (under .lock): produce_requests, a list of ProduceRecord with what
each Produce request carried and, once known, what the broker answered
and whether the proxy dropped that answer; counters requests[api_key],
cut[api_key], connections. Read them with produce_snapshot(),
produce_requests_seen() and cuts(api_key).

Everything is bounded: sockets have timeouts, threads are daemons and
close() stops the accept loop and closes every socket it opened.
"""

import socket
import struct
import threading
import time

PRODUCE = 0


class ProduceRecord:
    """One Produce request seen by the proxy."""

    def __init__(self, conn_id, correlation_id, version, batches):
        self.conn_id = conn_id
        self.correlation_id = correlation_id
        self.version = version
        # [(topic, partition, producer_id, producer_epoch, base_sequence, record_count)]
        self.batches = batches
        self.time = time.monotonic()
        self.cut = False            # the proxy cut the connection at this request
        self.response = None        # {(topic, partition): (error_code, base_offset)}
        self.response_dropped = False

    def __repr__(self):
        return ("ProduceRecord(conn=%d corr=%d v%d batches=%s cut=%s response=%s dropped=%s)"
                % (self.conn_id, self.correlation_id, self.version, self.batches, self.cut,
                   self.response, self.response_dropped))


class KafkaProxy:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.upstream_port = None
        self.lock = threading.Lock()
        self.requests = {}
        self.cut = {}
        self.connections = 0
        self.produce_requests = []
        self._rules = {}          # api_key -> {"every": n, "next": k, "mode": m, "seen": c}
        self._holding = False
        self._hold_at_cut = False
        self._closing = False
        self._socks = set()
        self._threads = []
        self._accept_thread = None

    # -- control ------------------------------------------------------------
    def start(self, upstream_port):
        self.upstream_port = upstream_port
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name="kafka-proxy-accept")
        self._accept_thread.start()
        return self

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def advertised(self):
        """The advertised.listeners value a broker behind this proxy needs."""
        return "PLAINTEXT://%s:%d" % (self.host, self.port)

    def cut_every(self, api_key, n, mode="after_response"):
        with self.lock:
            self._rules[api_key] = {"every": n, "next": 0, "mode": mode, "seen": 0}

    def cut_next(self, api_key, k=1, mode="after_response"):
        with self.lock:
            self._rules[api_key] = {"every": 0, "next": k, "mode": mode, "seen": 0}

    def no_cuts(self):
        with self.lock:
            self._rules.clear()

    def hold(self, after_next_cut=False):
        with self.lock:
            if after_next_cut:
                self._hold_at_cut = True
            else:
                self._holding = True

    def release(self):
        with self.lock:
            self._holding = False
            self._hold_at_cut = False

    def cuts(self, api_key=PRODUCE):
        with self.lock:
            return self.cut.get(api_key, 0)

    def produce_requests_seen(self):
        with self.lock:
            return self.requests.get(PRODUCE, 0)

    def produce_snapshot(self):
        with self.lock:
            return list(self.produce_requests)

    def close(self):
        self._closing = True
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)
        try:
            self.lsock.close()
        except OSError:
            pass
        for t in list(self._threads):
            t.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing -----------------------------------------------------------
    def _accept_loop(self):
        while not self._closing:
            try:
                client, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                holding = self._holding
                self.connections += 1
                conn_id = self.connections
            if holding:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                _close(client)  # broker down: the client sees a dropped connection
                continue
            Connection(self, conn_id, client, upstream).start()

    def _decide(self, api_key):
        """Under the lock: count the request and say whether to cut it (mode or None)."""
        self.requests[api_key] = self.requests.get(api_key, 0) + 1
        rule = self._rules.get(api_key)
        if rule is None:
            return None
        rule["seen"] += 1
        if rule["next"] > 0:
            rule["next"] -= 1
        elif not (rule["every"] and rule["seen"] % rule["every"] == 0):
            return None
        mode = rule["mode"]
        if mode == "mixed":
            rule["mixed"] = rule.get("mixed", 0) + 1
            mode = "after_response" if rule["mixed"] % 2 else "after_request"
        return mode

    def _count_cut(self, api_key):
        """Under the lock: a cut happened; a pending hold starts now."""
        self.cut[api_key] = self.cut.get(api_key, 0) + 1
        if self._hold_at_cut:
            self._hold_at_cut = False
            self._holding = True


class Connection:
    """One client connection and its broker connection: two pump threads."""

    IO_TIMEOUT = 1.0

    def __init__(self, proxy, conn_id, client, upstream):
        self.proxy = proxy
        self.id = conn_id
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.cut_corr = None        # correlation id whose response is dropped, then cut
        self.cut_api = None
        self.pending = {}           # correlation id -> (api_key, version, ProduceRecord|None)
        for s in (client, upstream):
            s.settimeout(self.IO_TIMEOUT)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with proxy.lock:
            proxy._socks.update((client, upstream))

    def start(self):
        for target, name in ((self._client_to_broker, "c2b"), (self._broker_to_client, "b2c")):
            t = threading.Thread(target=target, daemon=True,
                                 name="kafka-proxy-%d-%s" % (self.id, name))
            self.proxy._threads.append(t)
            t.start()

    def shut(self):
        if not self.closed.is_set():
            self.closed.set()
            for s in (self.client, self.upstream):
                _close(s)
            with self.proxy.lock:
                self.proxy._socks.discard(self.client)
                self.proxy._socks.discard(self.upstream)

    def _read_frame(self, sock):
        """One frame (size + payload) or None when the connection ends."""
        head = self._recv(sock, 4)
        if head is None:
            return None
        (size,) = struct.unpack(">i", head)
        if size < 0 or size > 256 * 1024 * 1024:
            return None
        payload = self._recv(sock, size)
        if payload is None:
            return None
        return head + payload

    def _recv(self, sock, n):
        buf = bytearray()
        while len(buf) < n:
            if self.closed.is_set() or self.proxy._closing:
                return None
            try:
                chunk = sock.recv(n - len(buf))
            except socket.timeout:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _send(self, sock, data):
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    def _client_to_broker(self):
        p = self.proxy
        try:
            while True:
                frame = self._read_frame(self.client)
                if frame is None:
                    return
                api_key, version, corr = struct.unpack_from(">hhi", frame, 4)
                record = None
                if api_key == PRODUCE:
                    record = ProduceRecord(self.id, corr, version,
                                           parse_produce_request(frame[4:]))
                with p.lock:
                    mode = p._decide(api_key)
                    if record is not None:
                        record.cut = mode is not None
                        p.produce_requests.append(record)
                    self.pending[corr] = (api_key, version, record)
                    if mode == "after_response":
                        self.cut_corr, self.cut_api = corr, api_key
                if not self._send(self.upstream, frame):
                    return
                if mode == "after_request":
                    with p.lock:
                        p._count_cut(api_key)
                    return
                if mode == "after_response":
                    # Nothing more from this client reaches the broker: the
                    # response pump cuts the connection when the answer comes.
                    self.closed.wait(timeout=120)
                    return
        finally:
            self.shut()

    def _broker_to_client(self):
        p = self.proxy
        try:
            while True:
                frame = self._read_frame(self.upstream)
                if frame is None:
                    return
                (corr,) = struct.unpack_from(">i", frame, 4)
                with p.lock:
                    api_key, version, record = self.pending.pop(corr, (None, None, None))
                    if record is not None:
                        record.response = parse_produce_response(frame[4:], version)
                    drop = corr == self.cut_corr
                    if drop:
                        if record is not None:
                            record.response_dropped = True
                        p._count_cut(self.cut_api)
                if drop:
                    return
                if not self._send(self.client, frame):
                    return
        finally:
            self.shut()


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


# ---------------------------------------------------------------------------
# Produce request / response parsing (versions 3 to 12; 9+ are flexible)
# ---------------------------------------------------------------------------

class _R:
    def __init__(self, data, pos=0):
        self.d, self.pos = data, pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.pos)
        self.pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.d[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            n = self.uvarint()  # read first: "self.pos += self.uvarint()" would lose the varint
            self.pos += n

    def string(self, flexible):
        if flexible:
            n = self.uvarint() - 1
        else:
            n = self.take(">h")
        if n < 0:
            return None
        s = self.d[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.take(">i")

    def bytes_(self, flexible):
        n = self.uvarint() - 1 if flexible else self.take(">i")
        if n < 0:
            return None
        b = self.d[self.pos:self.pos + n]
        self.pos += n
        return b


def parse_produce_request(payload):
    """[(topic, partition, producer_id, epoch, base_sequence, record_count)]
    for each batch of a Produce request (payload without the size); topics
    named by id (v13+) are given as the id's hex. [] if it does not parse."""
    try:
        r = _R(payload)
        _key, version, _corr = r.take(">hhi")
        flexible = version >= 9
        r.string(False)                       # client id: always int16-length
        if flexible:
            r.skip_tags()
        r.string(flexible)                    # transactional id
        r.take(">hi")                         # acks, timeout
        out = []
        for _ in range(r.array_len(flexible)):
            if version >= 13:
                topic = r.d[r.pos:r.pos + 16].hex()
                r.pos += 16
            else:
                topic = r.string(flexible)
            for _ in range(r.array_len(flexible)):
                partition = r.take(">i")
                records = r.bytes_(flexible)
                if flexible:
                    r.skip_tags()
                pos = 0
                while records is not None and pos + 61 <= len(records):
                    (length,) = struct.unpack_from(">i", records, pos + 8)
                    pid, epoch, seq, count = struct.unpack_from(">qhii", records, pos + 43)
                    out.append((topic, partition, pid, epoch, seq, count))
                    pos += 12 + length
            if flexible:
                r.skip_tags()
        return out
    except (struct.error, IndexError):
        return []


def parse_produce_response(payload, version):
    """{(topic, partition): (error_code, base_offset)} from a Produce
    response (payload without the size); None if it does not parse."""
    try:
        flexible = version >= 9
        r = _R(payload)
        r.take(">i")                          # correlation id
        if flexible:
            r.skip_tags()
        out = {}
        for _ in range(r.array_len(flexible)):
            if version >= 13:
                topic = r.d[r.pos:r.pos + 16].hex()
                r.pos += 16
            else:
                topic = r.string(flexible)
            for _ in range(r.array_len(flexible)):
                partition, err, base = r.take(">ihq")
                r.take(">q")                  # log append time
                if version >= 5:
                    r.take(">q")              # log start offset
                if version >= 8:
                    for _ in range(r.array_len(flexible)):   # record errors
                        r.take(">i")
                        r.string(flexible)
                    r.string(flexible)        # error message
                if flexible:
                    r.skip_tags()
                out[(topic, partition)] = (err, base)
            if flexible:
                r.skip_tags()
        return out
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
