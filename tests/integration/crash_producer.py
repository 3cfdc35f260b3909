"""
Helper for test_crash.py (not a test): produce continuously with acks=all and
append "partition offset value" to OUT for every *successful* delivery report,
flushing the file after each line. Stops on SIGTERM/SIGINT or after
--max-seconds, without waiting for outstanding messages.

usage: crash_producer.py BOOTSTRAP TOPIC PARTITIONS OUT [--max-seconds S]
"""

import argparse
import os
import signal
import sys
import time

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("partitions", type=int)
    ap.add_argument("out")
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    out = open(args.out, "w", buffering=1)
    p = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 2,
                  "message.timeout.ms": 60000, "queue.buffering.max.messages": 20000,
                  "log_level": 3})

    def on_delivery(err, msg):
        if err is None:
            out.write("%d %d %s\n" % (msg.partition(), msg.offset(), msg.value().decode()))
            out.flush()

    deadline = time.monotonic() + args.max_seconds
    seq = 0
    while not stop and time.monotonic() < deadline:
        value = "v%09d" % seq
        try:
            p.produce(args.topic, value=value.encode(), key=b"k%d" % (seq % 17),
                      partition=seq % args.partitions, on_delivery=on_delivery)
            seq += 1
        except BufferError:
            p.poll(0.05)
            continue
        if seq % 100 == 0:
            p.poll(0)
            time.sleep(0.001)  # keep the pace moderate: many batches, not one huge one
    p.poll(0)
    out.flush()
    os.fsync(out.fileno())
    out.close()
    sys.stdout.write("produced %d\n" % seq)
    sys.stdout.flush()
    os._exit(0)  # do not wait for undelivered messages


if __name__ == "__main__":
    main()
