"""Input for a test or a benchmark: trace events produced as an independent producer would
(the stock confluent-kafka AvroSerializer, not our codec), mixed kinds, poison, at once or
spread over time; and what was sent, for the checks."""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer

try:
    from confluent_kafka.schema_registry import topic_subject_name_strategy
except ImportError:  # older layout
    from confluent_kafka.schema_registry.serde import topic_subject_name_strategy  # type: ignore
from confluent_kafka.serialization import MessageField, SerializationContext

from testkit.stack import ROOT, Stack, Topics

__all__ = [
    "TRACE_SCHEMA",
    "BackgroundProducer",
    "EventProducer",
    "Sent",
    "event",
    "evolved_schema_text",
    "mixed_events",
    "poison_records",
    "produce_mixed",
]

TRACE_SCHEMA = (ROOT / "schemas/trace_event.avsc").read_text()


@dataclass
class Sent:
    """What the test produced, and what it expects to come out."""

    qualifying: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    poison: list[tuple[bytes, bytes, str]] = field(default_factory=list)  # key, value, stage

    @property
    def total(self) -> int:
        return len(self.qualifying) + len(self.skipped) + len(self.poison)


def event(
    event_id: str, kind: str, phi_before: float, phi_after: float, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "trace_id": f"trace-{event_id.split('-')[1] if '-' in event_id else event_id}",
        "kind": kind,
        "purpose": "Make the failing billing test pass without touching its assertions",
        "step": 1,
        "timestamp_ms": int(time.time() * 1000),
        "agent_id": "agent-test",
        "score": None
        if kind != "score"
        else {
            "state_before": "3 tests failing: test_totals, test_tax, test_fx",
            "action_name": "edit_file",
            "state_after": "1 test failing: test_fx",
            "phi_before": phi_before,
            "phi_after": phi_after,
            "reasoning": f"Two failures fixed, one remains ({event_id}).",
        },
        **extra,
    }


class EventProducer:
    """A plain confluent-kafka producer with the stock AvroSerializer: independent of our codec."""

    def __init__(self, stack: Stack, topic: str, schema: str = TRACE_SCHEMA) -> None:
        self.topic = topic
        self.registry = SchemaRegistryClient({"url": stack.registry})
        self.serializer = AvroSerializer(
            self.registry,
            schema,
            conf={
                "auto.register.schemas": True,
                # 2.16 defaults to an association lookup; the contract names subjects by topic.
                "subject.name.strategy": topic_subject_name_strategy,
            },
        )
        self.producer = Producer(
            {
                "bootstrap.servers": stack.bootstrap,
                "linger.ms": 20,
                "message.max.bytes": 8388608,
                # A retried send after a broker is killed must not write an input record twice
                # (seen on three brokers): the checker counts cards per input record.
                "enable.idempotence": True,
                # Through logging, not stderr: fault tests stop the broker under it.
                "logger": logging.getLogger("test-producer"),
            }
        )

    def send(self, record: dict[str, Any]) -> bytes:
        value = self.serializer(record, SerializationContext(self.topic, MessageField.VALUE))
        assert value is not None
        self.producer.produce(self.topic, key=record["trace_id"].encode(), value=value)
        self.producer.poll(0)
        return value

    def raw(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.producer.produce(self.topic, key=key, value=value, headers=headers)

    def flush(self) -> None:
        # Generous: with two of three brokers down nothing is acknowledged until they are
        # back (librdkafka keeps each record for message.timeout.ms, 300 s).
        assert self.producer.flush(300) == 0


def evolved_schema_text() -> str:
    """The input schema plus an optional field, as a newer producer would write it."""
    schema = json.loads(TRACE_SCHEMA)
    schema["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    return json.dumps(schema)


def mixed_events(n: int, seed: int = 7, prefix: str = "e") -> list[tuple[dict[str, Any], bool]]:
    """``n`` events of mixed kinds: (record, qualifies)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        eid = f"{prefix}-{i // 5}-{i}-{uuid.uuid4().hex[:6]}"
        roll = rng.random()
        if roll < 0.25:
            out.append((event(eid, rng.choice(["action", "observation", "plan"]), 0, 0), False))
            continue
        before = rng.randint(0, 20) / 2
        if roll < 0.4:  # a score that barely moves
            after = min(10.0, before + rng.choice([0.0, 0.25]))
            out.append((event(eid, "score", before, after), False))
        else:
            after = rng.choice([x / 2 for x in range(21) if abs(x / 2 - before) >= 0.5])
            out.append((event(eid, "score", before, after), True))
    return out


def poison_records(producer: EventProducer, i: int) -> list[tuple[bytes, bytes, str]]:
    """Bad records of each kind the contract names: (key, value, expected stage)."""
    good = producer.serializer(
        event(f"p-{i}-ok", "score", 1, 5), SerializationContext(producer.topic, MessageField.VALUE)
    )
    assert good is not None
    return [
        (b"poison-%d-a" % i, b"not avro at all", "decode"),
        (b"poison-%d-b" % i, b"\x00\x00\x0f\x42\x3f" + good[5:], "decode"),  # unknown id 999999
        (b"poison-%d-c" % i, good[: len(good) - 7], "decode"),  # truncated
        (
            b"poison-%d-d" % i,
            producer.serializer(
                event(f"p-{i}-nan", "score", 1, math.nan),
                SerializationContext(producer.topic, MessageField.VALUE),
            )
            or b"",
            "validate",
        ),
        (
            b"poison-%d-e" % i,
            producer.serializer(
                event(f"p-{i}-off", "score", 1, 42.0),
                SerializationContext(producer.topic, MessageField.VALUE),
            )
            or b"",
            "validate",
        ),
    ]


def produce_mixed(
    stack: Stack,
    t: Topics,
    n: int,
    poison_every: int = 0,
    seed: int = 7,
    over_s: float = 0.0,
    sent: Sent | None = None,
) -> Sent:
    """Produce ``n`` mixed events (and poison), all at once or spread evenly over ``over_s``."""
    p = EventProducer(stack, t.input)
    sent = sent if sent is not None else Sent()
    started = time.monotonic()
    for i, (rec, qualifies) in enumerate(mixed_events(n, seed)):
        if over_s:
            ahead = started + over_s * i / n - time.monotonic()
            if ahead > 0:
                p.producer.poll(ahead)
        p.send(rec)
        (sent.qualifying if qualifies else sent.skipped).add(rec["event_id"])
        if poison_every and i % poison_every == poison_every - 1:
            for key, value, stage in poison_records(p, i):
                p.raw(key, value, [("origin", b"test")])
                sent.poison.append((key, value, stage))
    p.flush()
    return sent


class BackgroundProducer(threading.Thread):
    """Produces while the service works, so faults land mid-stream."""

    def __init__(
        self, stack: Stack, t: Topics, n: int, over_s: float, poison_every: int, seed: int
    ):
        super().__init__(daemon=True)
        self.args = (stack, t, n, poison_every, seed, over_s)
        self.sent = Sent()
        self.error: BaseException | None = None

    def run(self) -> None:
        stack, t, n, poison_every, seed, over_s = self.args
        try:
            produce_mixed(stack, t, n, poison_every, seed, over_s, self.sent)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> Sent:
        self.join(300)
        assert not self.is_alive(), "the producer did not finish"
        if self.error:
            raise self.error
        return self.sent
