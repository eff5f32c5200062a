"""The bare consume-transform-produce loop the service is compared with (run as a process).

The same exactly-once shape as the service: read_committed, a transactional producer, one
transaction every ``--interval-ms`` with the outputs and the offsets that move past them. Per
qualifying input (trace id key starting with ``q``) it writes two fixed-size records; it
decodes nothing and generates nothing. It is what the client library and the broker allow
from one Python process, which is the ceiling the service's own work is measured against.

    python -m bench.bare --bootstrap H:P --topic IN --out-topic OUT --group G --records N
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out-topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--records", type=int, required=True, help="stop once this many are done")
    ap.add_argument("--card-bytes", type=int, default=560)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--batch", type=int, default=500)
    return ap.parse_args(argv)


def _clients(args: argparse.Namespace) -> tuple[Consumer, Producer]:
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": 16384,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "transactional.id": f"{args.group}-bare",
            "enable.idempotence": True,
            "transaction.timeout.ms": 60000,
            "linger.ms": 5,
        }
    )
    return consumer, producer


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class _Assignment:
    """Says "assigned" once the first partitions arrive (the harness times the drain from
    there) and notes the CPU spent until then."""

    def __init__(self) -> None:
        self.cpu_at_assign = 0.0
        self._announced = False

    def on_assign(self, c: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and not self._announced:
            print("assigned", flush=True)
            self._announced = True
            self.cpu_at_assign = _cpu_s()


def _commit(consumer: Consumer, producer: Producer, topic: str, ends: dict[int, int]) -> float:
    """Commit the transaction with the offsets past ``ends``; how long it took."""
    started = time.monotonic()
    producer.send_offsets_to_transaction(
        [TopicPartition(topic, p, o) for p, o in ends.items()],
        consumer.consumer_group_metadata(),
        30,
    )
    producer.commit_transaction(30)
    return time.monotonic() - started


def _drain(consumer: Consumer, producer: Producer, args: argparse.Namespace) -> dict[str, Any]:
    """Read, write and commit until ``args.records`` are done; the drain's figures."""
    card_a = b"\x00" * args.card_bytes
    card_b = b"\x01" * args.card_bytes
    out = args.out_topic
    interval = args.interval_ms / 1000

    def produce(key: bytes, value: bytes) -> None:
        while True:
            try:
                producer.produce(out, value=value, key=key)
                return
            except BufferError:
                producer.poll(0.05)

    done = 0
    transactions = 0
    commit_s = 0.0
    ends: dict[int, int] = {}
    first = None
    producer.begin_transaction()
    next_commit = time.monotonic() + interval
    while True:
        msgs = consumer.consume(args.batch, 0.005)
        for msg in msgs:
            if msg.error() is not None:
                continue
            if first is None:
                first = time.monotonic()
            key = msg.key()
            if key is not None and key[:1] == b"q":
                produce(key, card_a)
                produce(key, card_b)
            ends[msg.partition()] = msg.offset() + 1
            done += 1
        now = time.monotonic()
        finished = done >= args.records
        if ends and (now >= next_commit or finished):
            commit_s += _commit(consumer, producer, args.topic, ends)
            transactions += 1
            ends = {}
            if finished:
                break
            producer.begin_transaction()
            next_commit = time.monotonic() + interval
    elapsed = time.monotonic() - (first or time.monotonic())
    return {
        "records": done,
        "seconds": elapsed,
        "events_per_s": done / elapsed if elapsed else None,
        "transactions": transactions,
        "mean_commit_ms": 1000 * commit_s / transactions if transactions else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    consumer, producer = _clients(args)
    producer.init_transactions(30)
    assignment = _Assignment()
    consumer.subscribe([args.topic], on_assign=assignment.on_assign)
    figures = _drain(consumer, producer, args)
    consumer.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            **figures,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "cpu_s_draining": ru.ru_utime + ru.ru_stime - assignment.cpu_at_assign,
            "max_rss_kib": ru.ru_maxrss,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
