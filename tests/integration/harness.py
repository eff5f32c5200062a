"""Helpers for integration tests: the service as a real process whose group session expires
quickly, and a read_committed reader that checks the outputs. The input side (testkit.produce),
the group's progress (testkit.offsets) and the stack (testkit.stack) are shared with bench/."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

import testkit.service
from testkit.offsets import input_ends
from testkit.produce import Sent

# Shared with bench/ (testkit), imported by the tests from here as before.
from testkit.stack import ROOT as ROOT
from testkit.stack import Stack as Stack
from testkit.stack import Topics as Topics
from testkit.stack import create_topics as create_topics
from testkit.stack import free_port as free_port
from testkit.stack import proc_status_kib as proc_status_kib
from testkit.stack import service_env as service_env


class Service(testkit.service.Service):
    """``python -m consumer run`` as a real process, whose group session expires quickly."""

    base_env = testkit.service.FAST_SESSION


# -- output -----------------------------------------------------------------------------------


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
