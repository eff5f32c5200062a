"""Helpers for integration tests: topics, an independent event producer, the service as a
real process, and a read_committed reader that checks the outputs."""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer

try:
    from confluent_kafka.schema_registry import topic_subject_name_strategy
except ImportError:  # older layout
    from confluent_kafka.schema_registry.serde import topic_subject_name_strategy  # type: ignore
from confluent_kafka.serialization import MessageField, SerializationContext

import testkit.service

# Shared with bench/ (testkit), imported by the tests from here as before.
from testkit.stack import ROOT as ROOT
from testkit.stack import Stack as Stack
from testkit.stack import Topics as Topics
from testkit.stack import create_topics as create_topics
from testkit.stack import free_port as free_port
from testkit.stack import proc_status_kib as proc_status_kib
from testkit.stack import service_env as service_env

TRACE_SCHEMA = (ROOT / "schemas/trace_event.avsc").read_text()


# -- input ------------------------------------------------------------------------------------


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


# -- the service ------------------------------------------------------------------------------

# A killed instance's group membership must expire quickly in tests (the broker's minimum is
# 6 s); production keeps librdkafka's 45 s.
FAST_SESSION = {
    "SELFTAUGHT_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "SELFTAUGHT_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
}


class Service(testkit.service.Service):
    """``python -m consumer run`` as a real process, whose group session expires quickly."""

    base_env = FAST_SESSION


# -- output -----------------------------------------------------------------------------------


def input_ends(stack: Stack, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "ends-" + uuid.uuid4().hex})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def committed(stack: Stack, t: Topics) -> dict[int, int]:
    """The group's committed offsets ({} while the group coordinator is still loading)."""
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": t.group})
    try:
        tps = [TopicPartition(t.input, p) for p in range(t.partitions)]
        return {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
    except KafkaException as exc:
        if exc.args[0].retriable() or exc.args[0].code() == KafkaError.NOT_COORDINATOR:
            return {}
        raise
    finally:
        c.close()


def wait_until_committed(
    stack: Stack, t: Topics, timeout: float, services: list[Service] | None = None
) -> float:
    """Seconds until the group's committed offsets reach the input's end."""
    ends = input_ends(stack, t.input)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        got = committed(stack, t)
        if all(got.get(p, -1) >= end for p, end in ends.items() if end > 0):
            return time.monotonic() - started
        for s in services or []:
            if s.proc is not None and s.proc.poll() is not None and s.proc.returncode != 0:
                raise AssertionError(
                    f"service exited with {s.proc.returncode}:\n{s.logs()[-4000:]}"
                )
        time.sleep(0.5)
    raise AssertionError(
        f"not committed to the end within {timeout}s: {committed(stack, t)} < {ends}"
    )


@dataclass
class Output:
    cards: list[dict[str, Any]]
    dead: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]


def read_all(stack: Stack, topic: str) -> list[Any]:
    """Every committed record of a topic, read with isolation.level=read_committed."""
    ends = input_ends(stack, topic)
    c = Consumer(
        {
            "bootstrap.servers": stack.bootstrap,
            "group.id": "reader-" + uuid.uuid4().hex,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    out: list[Any] = []
    try:
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msg in c.consume(1000, 0.5):
                if msg.error() is None:
                    out.append(msg)
            pos = {
                tp.partition: tp.offset
                for tp in c.position([TopicPartition(topic, p) for p in ends])
            }
            if all(pos.get(p, -1) >= end for p, end in ends.items() if end > 0):
                break
    finally:
        c.close()
    return out


def read_output(stack: Stack, t: Topics) -> Output:
    from consumer.wire.codec import decode_card

    registry = SchemaRegistryClient({"url": stack.registry})

    def schema_text(i: int) -> str:
        return str(registry.get_schema(i).schema_str)

    cards = [decode_card(m.value(), schema_text) for m in read_all(stack, t.output)]
    dead = [(m.key(), m.value(), list(m.headers() or [])) for m in read_all(stack, t.dlq)]
    return Output(cards, dead)


def check_exactly_once(out: Output, sent: Sent) -> None:
    """Two cards per qualifying event, none for the rest, no duplicates, every poison once."""
    from consumer.stages.cards import card_id, pair_id

    ids = Counter(c["card_id"] for c in out.cards)
    dups = [k for k, n in ids.items() if n > 1]
    assert not dups, f"{len(dups)} duplicate card ids, e.g. {dups[:3]}"
    by_event = Counter(c["source_event_id"] for c in out.cards)
    assert set(by_event) == sent.qualifying, (
        f"missing {len(sent.qualifying - set(by_event))}, unexpected {len(set(by_event) - sent.qualifying)}"
    )
    assert all(n == 2 for n in by_event.values())
    for c in out.cards:
        assert c["card_id"] == card_id(c["source_event_id"], c["kind"])
        assert c["pair_id"] == pair_id(c["source_event_id"])
    assert not (set(by_event) & sent.skipped)
    dead = Counter((k, v) for k, v, _ in out.dead)
    want = Counter((k, v) for k, v, _ in sent.poison)
    assert dead == want, f"DLQ: {sum(dead.values())} records, expected {sum(want.values())}"
    stages = {(k, v): s for k, v, s in sent.poison}
    for key, value, headers in out.dead:
        h = dict((k, v.decode()) for k, v in headers if k.startswith("selftaught."))
        assert h["selftaught.error.stage"] == stages[(key, value)]
        for name in ("class", "message"):
            assert h[f"selftaught.error.{name}"]
        assert h["selftaught.original.topic"] and int(h["selftaught.original.offset"]) >= 0
        assert int(h["selftaught.original.partition"]) >= 0
        assert int(h["selftaught.original.timestamp"]) > 0
        assert ("origin", b"test") in headers  # original headers kept


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:3000]
