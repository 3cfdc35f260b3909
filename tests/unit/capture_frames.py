#!/usr/bin/python3
"""capture_frames.py - record the first request frames real Kafka clients send.

Listens on 127.0.0.1 (a random port), points a client at it and prints each
captured frame (without its 4-byte length prefix) as a C byte array, ready to
paste into tests/unit/test_codec.c.

  kcat -L              librdkafka: ApiVersions v3, then (after our canned
                       ApiVersions answer) its Metadata request
  kafka-python         ApiVersions v0 probe; then, with api_version pinned,
                       its bootstrap Metadata request

Run with /usr/bin/python3 (kafka-python is the Debian package python3-kafka).
The canned ApiVersions answer advertises the ranges Gregor serves, so the
client picks the versions it would pick against Gregor.
"""

import socket
import struct
import subprocess
import sys
import threading

# key: (min, max), as in src/proto/kafka.schema
SERVED = {18: (0, 3), 3: (0, 12), 0: (3, 10), 1: (4, 16), 2: (1, 8), 19: (2, 7),
          20: (1, 6), 37: (0, 3), 32: (1, 4), 60: (0, 1), 44: (0, 1), 33: (0, 2),
          22: (0, 4), 10: (0, 4), 11: (0, 9), 14: (0, 5), 12: (0, 4), 13: (0, 5),
          8: (2, 8), 9: (1, 8), 15: (0, 5), 16: (0, 4), 42: (0, 2), 47: (0, 0)}


def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def api_versions_response(corr, version):
    """Header v0 (always, for ApiVersions) and a body at the asked version."""
    body = struct.pack(">h", 0)
    keys = sorted(SERVED.items())
    if version >= 3:
        body += uvarint(len(keys) + 1)
        for k, (lo, hi) in keys:
            body += struct.pack(">hhh", k, lo, hi) + b"\x00"
        body += struct.pack(">i", 0) + b"\x00"
    else:
        body += struct.pack(">i", len(keys))
        for k, (lo, hi) in keys:
            body += struct.pack(">hhh", k, lo, hi)
        if version >= 1:
            body += struct.pack(">i", 0)
    msg = struct.pack(">i", corr) + body
    return struct.pack(">i", len(msg)) + msg


def read_frame(conn):
    hdr = b""
    while len(hdr) < 4:
        chunk = conn.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">i", hdr)
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def capture(client_cmd, frames_wanted):
    """Run client_cmd (a list, '{port}' substituted) and collect frames."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(15)
    port = srv.getsockname()[1]
    frames = []

    def serve():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            return
        conn.settimeout(15)
        with conn:
            while len(frames) < frames_wanted:
                try:
                    f = read_frame(conn)
                except socket.timeout:
                    return
                if f is None:
                    return
                frames.append(f)
                key, ver, corr = struct.unpack(">hhi", f[:8])
                if key == 18 and len(frames) < frames_wanted:
                    conn.sendall(api_versions_response(corr, min(ver, 3)))

    t = threading.Thread(target=serve)
    t.start()
    cmd = [c.replace("{port}", str(port)) for c in client_cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.join()
    proc.kill()
    proc.wait()
    srv.close()
    return frames


KAFKA_PYTHON = r"""
import sys
from kafka import KafkaConsumer
kw = {}
if sys.argv[2] != "probe":
    kw["api_version"] = tuple(int(x) for x in sys.argv[2].split("."))
try:
    KafkaConsumer(bootstrap_servers="127.0.0.1:" + sys.argv[1], client_id="gregor-test",
                  request_timeout_ms=3000, api_version_auto_timeout_ms=3000, **kw).topics()
except Exception:
    pass
"""


def c_array(name, data):
    lines = ["static const uint8_t %s[] = {" % name]
    for i in range(0, len(data), 12):
        lines.append("    " + ", ".join("0x%02x" % b for b in data[i:i + 12]) + ",")
    lines.append("};")
    return "\n".join(lines)


def main():
    runs = [
        ("kcat", ["kcat", "-b", "127.0.0.1:{port}", "-L", "-m", "3"], 2),
        ("kpy_probe", ["/usr/bin/python3", "-c", KAFKA_PYTHON, "{port}", "probe"], 1),
        ("kpy_meta", ["/usr/bin/python3", "-c", KAFKA_PYTHON, "{port}", "1.0.0"], 1),
    ]
    for name, cmd, wanted in runs:
        frames = capture(cmd, wanted)
        if len(frames) < wanted:
            print("/* %s: captured %d of %d frames */" % (name, len(frames), wanted),
                  file=sys.stderr)
        for i, f in enumerate(frames):
            key, ver, corr = struct.unpack(">hhi", f[:8])
            print("/* %s frame %d: api key %d v%d, correlation id %d */" % (name, i, key, ver, corr))
            print(c_array("%s_frame%d" % (name, i), f))
            print()


if __name__ == "__main__":
    main()
