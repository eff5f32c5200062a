"""A read_committed reader that notes when each card becomes readable (run as a process).

It assigns every partition of the output topic from the start (no group, so no rebalance
delay), prints ``ready`` once it is fetching, and records (key, wall-clock receive time in
ms) for each record until it has ``--expect`` records, ``--idle-s`` pass without one after
the first, or SIGTERM. It then writes them as JSON to ``--out``.

    python -m bench.reader --bootstrap H:P --topic OUT --partitions 6 --expect N --out F
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, TopicPartition


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--expect", type=int, default=0, help="stop after this many (0: never)")
    ap.add_argument("--idle-s", type=float, default=0.0, help="stop after this long without one")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    c = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": "bench-reader-" + uuid.uuid4().hex,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,  # the reader must not add its own batching delay
            "fetch.min.bytes": 1,
        }
    )
    c.assign([TopicPartition(args.topic, p, 0) for p in range(args.partitions)])
    keys: list[str] = []
    recv_ms: list[int] = []
    c.consume(1, 0.2)  # starts fetching; nothing can be there yet
    print("ready", flush=True)
    last = time.monotonic()
    while not stop:
        msgs = c.consume(1000, 0.05)
        now_ms = int(time.time() * 1000)
        for m in msgs:
            if m.error() is None:
                keys.append((m.key() or b"").decode())
                recv_ms.append(now_ms)
        if msgs:
            last = time.monotonic()
        if args.expect and len(keys) >= args.expect:
            break
        if args.idle_s and keys and time.monotonic() - last > args.idle_s:
            break
    c.close()
    with open(args.out, "w") as f:
        json.dump({"keys": keys, "recv_ms": recv_ms}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
