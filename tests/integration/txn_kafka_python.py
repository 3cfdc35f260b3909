"""
kafka-python's transactional producer, run by test_transactions.py as a
subprocess under build/venv/bin/python (kafka-python 3.x; Debian's 2.0.2
has no transactions).

One producer (transactional_id given) writes three transactions to
partition 0 of TOPIC: "c1-0".."c1-{n-1}" committed, "a-0".. aborted,
"c2-0".. committed. Then two consumers read the partition from the start
to its end, one read_committed and one read_uncommitted.

Prints one JSON object on stdout:
  {"ok": true, "read_committed": [[offset, value], ...],
   "read_uncommitted": [...], "end": <end offset>}
or, when a client call raises, {"ok": false, "step": ..., "error": str(e),
"type": <exception class>} and exits 0 (the test reports it).

Usage: txn_kafka_python.py BOOTSTRAP TOPIC TRANSACTIONAL_ID N MAX_BLOCK_MS
(MAX_BLOCK_MS bounds init_transactions, which waits for the coordinator.)
"""

import json
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

TIMEOUT_MS = 30000


def read_all(bootstrap, topic, isolation, end):
    """(offset, value) of every record the consumer returns up to `end`."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation,
                      enable_auto_commit=False, group_id=None,
                      request_timeout_ms=TIMEOUT_MS + 1000)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + 60
        while c.position(tp) < end:
            if time.monotonic() > deadline:
                raise RuntimeError("%s consumer at %d of %d after 60 s"
                                   % (isolation, c.position(tp), end))
            for records in c.poll(timeout_ms=500).values():
                out += [[r.offset, r.value.decode()] for r in records]
        return out
    finally:
        c.close()


def main():
    bootstrap, topic, txn_id = sys.argv[1:4]
    n, max_block_ms = int(sys.argv[4]), int(sys.argv[5])
    step = "KafkaProducer"
    try:
        p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id,
                          max_block_ms=max_block_ms, request_timeout_ms=TIMEOUT_MS)
        step = "init_transactions"
        p.init_transactions()
        for prefix, end_txn in (("c1", "commit_transaction"), ("a", "abort_transaction"),
                                ("c2", "commit_transaction")):
            step = "transaction " + prefix
            p.begin_transaction()
            futures = [p.send(topic, value=b"%s-%d" % (prefix.encode(), i), partition=0)
                       for i in range(n)]
            p.flush(timeout=TIMEOUT_MS / 1000)
            for f in futures:
                f.get(timeout=TIMEOUT_MS / 1000)
            step = end_txn + " " + prefix
            getattr(p, end_txn)()
        p.close(timeout=10)
        step = "end offset"
        probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        end = probe.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
        probe.close()
        step = "read"
        result = {"ok": True, "kafka_python": kafka.__version__, "end": end,
                  "read_committed": read_all(bootstrap, topic, "read_committed", end),
                  "read_uncommitted": read_all(bootstrap, topic, "read_uncommitted", end)}
    except Exception as e:  # reported to the test, which names the expected ones
        result = {"ok": False, "kafka_python": kafka.__version__, "step": step,
                  "type": type(e).__name__, "error": str(e)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
