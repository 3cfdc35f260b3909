"""
Record batches that pass the CRC but are not what they claim (issue 17,
item 2), sent with raw Produce v3 requests, against both brokers.

A batch with a compression codec's bits set over bytes that do not
decompress used to be stored by Gregor and then stopped every consumer of
the partition for good. Apache Kafka decompresses while validating and
refuses such a batch; these are the codes it answers (found by running
this file with --broker=kafka), and Gregor now gives the same:

  gzip, snappy, lz4 data that does not decompress   UNKNOWN_SERVER_ERROR (-1)
  zstd data that does not decompress                UNSUPPORTED_COMPRESSION_TYPE (76)
  a cut-short gzip stream                           UNKNOWN_SERVER_ERROR (-1)
  compression codec 5-7                             UNKNOWN_SERVER_ERROR (-1)
  valid compression, records that do not parse
  or a record count that does not match them        INVALID_RECORD (87)
  the same for an uncompressed batch                INVALID_RECORD (87)
  a CRC mismatch                                    CORRUPT_MESSAGE (2)

Records of random bytes are refused by Kafka with either INVALID_RECORD or,
when its parser trips over a malformed varint, UNKNOWN_SERVER_ERROR (an
exception it does not expect): for those cases the test accepts either
code. Gregor answers INVALID_RECORD for every record that does not parse.

After every refusal the partition takes good batches again and a consumer
reads all the good records, in order, past the refused ones.
"""
import gzip
import random
import struct
import time

import pytest

import kafka_wire as kw
from conftest import consume_partitions, create_topic

UNKNOWN_SERVER_ERROR = -1
CORRUPT_MESSAGE = 2
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

RANDOM = random.Random(17).randbytes(400)


def records(values, first_delta=0):
    return b"".join(kw.encode_record(first_delta + i, 0, None, v) for i, v in enumerate(values))


def batch(codec, payload, count):
    """A v2 batch with a correct CRC over whatever payload it is given."""
    ts = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", codec, count - 1, ts, ts, -1, -1, -1, count) + payload
    body = struct.pack(">ibI", -1, 2, kw.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce(port, topic, b, corr=1):
    with kw.connect(port) as s:
        s.sendall(kw.produce_v3(corr, topic, 0, b))
        _, parts = kw.parse_produce_v3_list(kw.recv_response(s))
    assert len(parts) == 1
    return parts[0][2], parts[0][3]


GOOD3 = records([b"a", b"b", b"c"])

CASES = [
    ("gzip-random", batch(1, RANDOM, 3), UNKNOWN_SERVER_ERROR),
    ("snappy-random", batch(2, RANDOM, 3), UNKNOWN_SERVER_ERROR),
    ("lz4-random", batch(3, RANDOM, 3), UNKNOWN_SERVER_ERROR),
    ("zstd-random", batch(4, RANDOM, 3), UNSUPPORTED_COMPRESSION_TYPE),
    ("gzip-cut-short", batch(1, gzip.compress(GOOD3)[:-10], 3), UNKNOWN_SERVER_ERROR),
    ("codec-5", batch(5, GOOD3, 3), UNKNOWN_SERVER_ERROR),
    ("codec-7", batch(7, GOOD3, 3), UNKNOWN_SERVER_ERROR),
    ("gzip-count-over", batch(1, gzip.compress(GOOD3), 5), INVALID_RECORD),
    ("gzip-count-under", batch(1, gzip.compress(GOOD3), 2), INVALID_RECORD),
    ("gzip-of-garbage", batch(1, gzip.compress(RANDOM), 3), (INVALID_RECORD, UNKNOWN_SERVER_ERROR)),
    ("plain-garbage", batch(0, RANDOM, 3), (INVALID_RECORD, UNKNOWN_SERVER_ERROR)),
    # The first record says it is 63 bytes long; 4 follow.
    ("plain-record-too-long", batch(0, b"\x7e" + GOOD3[1:5], 1), INVALID_RECORD),
    ("plain-count-over", batch(0, GOOD3, 5), INVALID_RECORD),
]


@pytest.mark.parametrize("name,bad,code", CASES, ids=[c[0] for c in CASES])
def test_refused_and_partition_stays_readable(broker, name, bad, code):
    topic = "bad-" + name
    create_topic(broker.bootstrap, topic, 1)
    assert produce(broker.port, topic, batch(0, records([b"before"]), 1)) == (0, 0)
    err, _ = produce(broker.port, topic, bad, 2)
    codes = code if isinstance(code, tuple) else (code,)
    assert err in codes, "%s: error %d, Kafka answers %s" % (name, err, codes)
    assert produce(broker.port, topic, batch(1, gzip.compress(records([b"gz1", b"gz2"])), 2),
                   3) == (0, 1)
    assert produce(broker.port, topic, batch(0, records([b"after"]), 1), 4) == (0, 3)
    got = consume_partitions(broker.bootstrap, topic, {0: 4})[0]
    assert [(m.offset(), m.value()) for m in got] == \
        [(0, b"before"), (1, b"gz1"), (2, b"gz2"), (3, b"after")]


def test_crc_mismatch_is_corrupt_message(broker):
    create_topic(broker.bootstrap, "crc", 1)
    b = bytearray(batch(0, GOOD3, 3))
    b[17] ^= 0x01
    assert produce(broker.port, "crc", bytes(b))[0] == CORRUPT_MESSAGE
