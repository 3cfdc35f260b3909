"""
A consume-transform-produce program with exactly-once semantics, run as a
subprocess by test_transactions.py (which kills it with SIGKILL at random
moments and starts it again).

It reads every partition of the input topic (read_committed, assigned, not
subscribed: a killed instance must not hold a group membership the next one
waits for), and for each batch of records, in one transaction:
  - writes one record per input record to the same partition of the output
    topic: the input key, and as value  <input value>@<partition>-<offset>;
  - adds the consumer's next offsets to the transaction
    (send_offsets_to_transaction, the group given by --group; the group
    has no members, so TxnOffsetCommit carries generation -1 and an empty
    member id, which Kafka accepts for such a group);
  - commits.
At start, init_transactions fences any earlier instance with the same
transactional.id and aborts its open transaction; only then are the group's
committed offsets read (read_committed: OffsetFetch with require_stable,
so a commit still pending is waited for), and consuming starts there. So a record's output and
its input offset are committed together or not at all.

--pause-ms N sleeps N ms inside each transaction, after its records
reached the broker and before the commit: a window for the test to kill
the process in the middle of a transaction, the case it is about.

Prints (flushed at once; the test reads them from a file) "ready <partition>:
<offset> ..." once consuming starts, "sent <records>" when a transaction's
records are on the broker, "txn <records> <total>" after each commit. Runs
until killed or SIGTERM (exit 0). A client error ends it with exit code 3
and the error on stderr.

Usage: txn_processor.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID
       [--batch N] [--pause-ms N]
"""

import argparse
import signal
import sys
import time

from confluent_kafka import (Consumer, KafkaException, OFFSET_BEGINNING, Producer,
                             TopicPartition)

CLIENT_TIMEOUT = 60  # seconds for each blocking transactional call


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("group")
    ap.add_argument("transactional_id")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--pause-ms", type=int, default=0)
    args = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    producer = Producer({"bootstrap.servers": args.bootstrap,
                         "transactional.id": args.transactional_id,
                         "linger.ms": 5})
    producer.init_transactions(CLIENT_TIMEOUT)

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "enable.partition.eof": False})
    md = consumer.list_topics(args.input, timeout=CLIENT_TIMEOUT)
    partitions = sorted(md.topics[args.input].partitions)
    committed = consumer.committed([TopicPartition(args.input, p) for p in partitions],
                                   timeout=CLIENT_TIMEOUT)
    start = []
    for tp in committed:
        if tp.error is not None:
            raise KafkaException(tp.error)
        start.append(TopicPartition(args.input, tp.partition,
                                    tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
    consumer.assign(start)
    print("ready", " ".join("%d:%d" % (tp.partition, tp.offset) for tp in start), flush=True)

    total = 0
    while not stop:
        msgs = consumer.consume(num_messages=args.batch, timeout=0.2)
        if not msgs:
            continue
        for m in msgs:
            if m.error() is not None:
                raise KafkaException(m.error())
        producer.begin_transaction()
        next_offsets = {}
        for m in msgs:
            producer.produce(args.output, key=m.key(),
                             value=m.value() + b"@%d-%d" % (m.partition(), m.offset()),
                             partition=m.partition())
            next_offsets[m.partition()] = m.offset() + 1
        # Inside a transaction flush only sends: the records are on the
        # broker, uncommitted, when "sent" is printed.
        if producer.flush(CLIENT_TIMEOUT) != 0:
            raise RuntimeError("records not sent within %d s" % CLIENT_TIMEOUT)
        print("sent %d" % len(msgs), flush=True)
        if args.pause_ms:
            time.sleep(args.pause_ms / 1000.0)
        producer.send_offsets_to_transaction(
            [TopicPartition(args.input, p, o) for p, o in sorted(next_offsets.items())],
            consumer.consumer_group_metadata(), CLIENT_TIMEOUT)
        producer.commit_transaction(CLIENT_TIMEOUT)
        total += len(msgs)
        print("txn %d %d" % (len(msgs), total), flush=True)
    consumer.close()


if __name__ == "__main__":
    try:
        main()
    except (KafkaException, RuntimeError) as e:
        sys.stderr.write("txn_processor: %r\n" % (e.args[0] if e.args else e))
        sys.exit(3)
