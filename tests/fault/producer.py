"""
One producer of tests/fault, run with build/venv/bin/python (confluent-kafka
2.16): acks=all, enable.idempotence=true, numbered records at a steady rate
until SIGTERM (or --max-seconds), then a bounded flush.

Record number `seq` (0, 1, 2, ...) goes to partition seq % partitions with
value "<name>:<seq>" and key "<name>": per producer and partition the
sequence numbers rise, so a reader can check the order.

Prints "ready" on stdout once the first record is acknowledged. At the end
writes --out as JSON:
  {"name", "sent", "acked": [[seq, partition, offset, t_enqueued, t_acked]],
   "failed": [[seq, partition, error]], "unresolved": n (no delivery report
   before the flush limit), "errors": [error_cb texts], "fatal": [...]}
Times are time.time() (the test process compares them with its own).
"""

import argparse
import json
import signal
import sys
import time

from confluent_kafka import KafkaException, Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--rate", type=float, default=100.0, help="records per second")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--flush-seconds", type=float, default=150.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--client", action="append", default=[], metavar="KEY=VALUE",
                    help="one more librdkafka property")
    a = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(time.time()))

    acked, failed, errors, fatal = [], [], [], []
    enqueued = {}                    # seq -> time.time() at produce()

    def on_error(err):
        errors.append(str(err))
        if err.fatal():
            fatal.append(str(err))

    def on_delivery(err, msg):
        seq = int(msg.value().decode().rsplit(":", 1)[1])
        if err is None:
            acked.append([seq, msg.partition(), msg.offset(), enqueued[seq], time.time()])
        else:
            failed.append([seq, msg.partition(), str(err)])

    p = Producer({
        "bootstrap.servers": a.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        # Bounded: a record not acknowledged within 2 minutes is a failed
        # delivery (reported), not a hang. Kafka's failovers take seconds.
        "message.timeout.ms": 120000,
        "error_cb": on_error,
        **dict(kv.split("=", 1) for kv in a.client),
    })
    key = a.name.encode()
    seq = 0
    t0 = time.time()
    ready = False
    while not stop and time.time() - t0 < a.max_seconds:
        due = t0 + seq / a.rate
        now = time.time()
        if due > now:
            p.poll(min(due - now, 0.05))
            if not ready and acked:
                print("ready", flush=True)
                ready = True
            continue
        value = ("%s:%d" % (a.name, seq)).encode()
        try:
            enqueued[seq] = time.time()
            p.produce(a.topic, value=value, key=key, partition=seq % a.partitions,
                      on_delivery=on_delivery)
        except BufferError:
            del enqueued[seq]
            p.poll(0.1)
            continue
        except KafkaException as e:   # a fatal idempotence error: nothing more goes out
            del enqueued[seq]
            fatal.append("produce: %s" % e)
            break
        seq += 1
        p.poll(0)
    unresolved = p.flush(a.flush_seconds)
    with open(a.out, "w") as f:
        json.dump({"name": a.name, "sent": seq, "acked": acked, "failed": failed,
                   "unresolved": unresolved, "errors": errors[-20:], "fatal": fatal}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
