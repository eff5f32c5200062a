"""Input for the benchmarks: score events encoded once with fastavro and produced fast.

Every event is a score event; a share of them (80% by default) moves Φ by at least the
minimum delta and so qualifies for a pair, the rest barely moves and is skipped. The trace id,
which is also the record key, starts with ``q`` for a qualifying event and ``s`` for the
others: the bare loop (``bench.bare``) decides on that byte alone, without decoding.

Records are spread round-robin over the partitions by an idempotent producer, so the k-th
record sent to partition p has offset k there: a committed offset says exactly how many
qualifying events are behind it (``Backlog.qualifying``).
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.wire.codec import without_logical_types
from testkit.stack import Stack, Topics

ROOT = Path(__file__).resolve().parents[1]
TRACE_SCHEMA_TEXT = (ROOT / "schemas/trace_event.avsc").read_text()
_PARSED = fastavro.parse_schema(without_logical_types(json.loads(TRACE_SCHEMA_TEXT)))
_HEADER = struct.Struct(">bi")

PURPOSE = "Make the failing billing test pass without touching its assertions"
STATE_BEFORE = "3 tests failing: test_totals, test_tax, test_fx"
STATE_AFTER = "1 test failing: test_fx"
ACTIONS = ("edit_file", "run_tests", "read_file", "apply_patch")
_QUALIFYING_AFTER = {b: [x / 2 for x in range(21) if abs(x / 2 - b / 2) >= 0.5] for b in range(21)}


def delete_topics(stack: Stack, t: Topics) -> None:
    """Best effort: keeps the benchmark stack's disk and page cache small between sections."""
    admin = AdminClient({"bootstrap.servers": stack.bootstrap, "log_level": 3})
    try:
        for f in admin.delete_topics([t.input, t.output, t.dlq], operation_timeout=30).values():
            f.result()
    except KafkaException:
        pass


def register_input_schema(stack: Stack, topic: str) -> int:
    client = SchemaRegistryClient({"url": stack.registry})
    return int(client.register_schema(f"{topic}-value", Schema(TRACE_SCHEMA_TEXT, "AVRO")))


def score_record(
    i: int, qualifies: bool, rng: random.Random, ts_ms: int, tag: str
) -> dict[str, Any]:
    b = rng.randint(0, 20)
    before = b / 2
    if qualifies:
        after = rng.choice(_QUALIFYING_AFTER[b])
    else:
        after = min(10.0, before + rng.choice((0.0, 0.25)))
    eid = f"{tag}-{i}"
    return {
        "event_id": eid,
        "trace_id": f"{'q' if qualifies else 's'}{tag}-{i // 4}",
        "kind": "score",
        "purpose": PURPOSE,
        "step": i % 50,
        "timestamp_ms": ts_ms,
        "agent_id": "agent-bench",
        "score": {
            "state_before": STATE_BEFORE,
            "action_name": ACTIONS[i % len(ACTIONS)],
            "state_after": STATE_AFTER,
            "phi_before": before,
            "phi_after": after,
            "reasoning": f"Two failures fixed, one remains (step {i}).",
        },
    }


def encode(record: dict[str, Any], schema_id: int) -> bytes:
    buf = io.BytesIO()
    buf.write(_HEADER.pack(0, schema_id))
    fastavro.schemaless_writer(buf, _PARSED, record)
    return buf.getvalue()


@dataclass
class Backlog:
    """What was produced to a topic: per partition, how many qualifying events precede k."""

    topic: str
    partitions: int
    n: int = 0
    n_qualifying: int = 0
    # _qcum[p][k]: qualifying events among the first k records of partition p
    _qcum: list[array] = field(default_factory=list)

    def qualifying(self, committed: dict[int, int]) -> int:
        total = 0
        for p, off in committed.items():
            cum = self._qcum[p]
            total += cum[min(max(off, 0), len(cum) - 1)]
        return total


def _producer(stack: Stack, linger_ms: int) -> Producer:
    return Producer(
        {
            "bootstrap.servers": stack.bootstrap,
            "log_level": 3,  # the coordinator-loading retries of a fresh stack are noise here
            "enable.idempotence": True,  # keeps each partition in send order
            "linger.ms": linger_ms,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )


def _send(p: Producer, topic: str, partition: int, key: bytes, value: bytes) -> None:
    while True:
        try:
            p.produce(topic, value=value, key=key, partition=partition)
            return
        except BufferError:
            p.poll(0.05)


def produce_backlog(
    stack: Stack,
    topic: str,
    partitions: int,
    n: int,
    *,
    qualifying_share: float = 0.8,
    seed: int = 7,
    tag: str = "b",
    after_primer: bool = False,
) -> Backlog:
    """``n`` score events, all at once (a backlog for the service to drain).

    ``after_primer``: each partition already holds one skipped record (``produce_primer``).
    """
    schema_id = register_input_schema(stack, topic)
    rng = random.Random(seed)
    p = _producer(stack, linger_ms=50)
    base = 1 if after_primer else 0
    backlog = Backlog(
        topic, partitions, _qcum=[array("l", [0] * (base + 1)) for _ in range(partitions)]
    )
    ts = int(time.time() * 1000)
    for i in range(n):
        q = rng.random() < qualifying_share
        rec = score_record(i, q, rng, ts + i // 1000, tag)
        part = i % partitions
        _send(p, topic, part, rec["trace_id"].encode(), encode(rec, schema_id))
        cum = backlog._qcum[part]
        cum.append(cum[-1] + q)
        backlog.n_qualifying += q
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    if left:
        raise RuntimeError(f"{left} records not delivered to {topic}")
    backlog.n = n + base * partitions
    return backlog


def produce_primer(stack: Stack, topic: str, partitions: int) -> int:
    """One skipped event per partition, so every instance has loaded the writer schema before
    a backlog arrives (what happens without this is measured on its own: the start-up stall).
    Returns how many records that is."""
    schema_id = register_input_schema(stack, topic)
    rng = random.Random(0)
    p = _producer(stack, linger_ms=0)
    for part in range(partitions):
        rec = score_record(part, False, rng, int(time.time() * 1000), "primer")
        _send(p, topic, part, rec["trace_id"].encode(), encode(rec, schema_id))
    p.flush(30)
    return partitions


@dataclass
class Paced:
    """Events produced at a steady rate: their timestamps, by trace id (one event per key)."""

    sent_ms: dict[str, int] = field(default_factory=dict)
    qualifying: int = 0
    total: int = 0
    late_s: float = 0.0  # how far behind schedule the producer fell at worst


def produce_paced(
    stack: Stack,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    *,
    qualifying_share: float = 0.8,
    seed: int = 11,
    tag: str = "lat",
    should_stop: Callable[[], bool] = lambda: False,
) -> Paced:
    """Produce at ``rate`` events/s for ``seconds``; ``timestamp_ms`` is the produce time.

    linger.ms is 5, as a latency-minded producer would set; that wait is part of what is
    measured, as it would be in production.
    """
    schema_id = register_input_schema(stack, topic)
    rng = random.Random(seed)
    p = _producer(stack, linger_ms=5)
    out = Paced()
    n = int(rate * seconds)
    started = time.monotonic()
    for i in range(n):
        if should_stop():
            break
        due = started + i / rate
        ahead = due - time.monotonic()
        if ahead > 0:
            p.poll(ahead)
        else:
            out.late_s = max(out.late_s, -ahead)
        q = rng.random() < qualifying_share
        ts = int(time.time() * 1000)
        rec = score_record(i, q, rng, ts, tag)
        rec["trace_id"] = f"{'q' if q else 's'}{tag}-{i}"  # one event per key: key -> sent time
        _send(p, topic, i % partitions, rec["trace_id"].encode(), encode(rec, schema_id))
        out.sent_ms[rec["trace_id"]] = ts
        out.qualifying += q
        out.total += 1
    p.flush(60)
    return out
