"""The runner's commits, aborts and revokes in an order we choose, with scripted clients.

What the broker would see is kept by the scripted producer: only committed transactions
count, and it is strict like librdkafka (a second transaction cannot begin while one is
open). The real clients run the same paths in tests/faults (group 1->3->1, SIGKILLs, broker
down), where the order is not ours to choose.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from consumer.observe.metrics import Health
from consumer.runner import Runner
from consumer.runner import commit as commit_module
from consumer.settings import load
from consumer.wire import schemas
from consumer.wire.codec import decode_card
from tests.unit.factories import avro, event_record, pipeline

TOPIC = "agent.trace-events"
TRACE = json.loads(schemas.text(schemas.TRACE_EVENT))


def message(partition: int, offset: int) -> Message:
    record = event_record(f"p{partition}-{offset}", phi_before=2.0, phi_after=6.0)
    return Message(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=b"k",
        value=avro(TRACE, record, 1),
        headers=None,
        timestamp=(1, 1_700_000_000_000),
    )


class ScriptedConsumer:
    """Hands over the records it is given; fires a revoke when told, from consume()."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.records: list[Message] = []
        self.revoke: list[int] = []  # partitions to revoke at the next consume()
        self.revoked = threading.Event()
        self._cb: dict[str, Any] = {}
        self._assigned = False
        self._position: dict[int, int] = {}

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self._cb = callbacks

    def consume(self, n: int, timeout: float) -> list[Message]:
        if not self._assigned:
            self._assigned = True
            self._cb["on_assign"](self, [TopicPartition(TOPIC, p) for p in range(self.partitions)])
        if self.revoke:
            tps = [TopicPartition(TOPIC, p) for p in self.revoke]
            self.revoke = []
            self._cb["on_revoke"](self, tps)
            self.revoked.set()
            return []
        got, self.records = self.records[:n], self.records[n:]
        for msg in got:
            self._position[msg.partition() or 0] = (msg.offset() or 0) + 1
        return got

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self._position.get(tp.partition, -1001))
            for tp in tps
        ]

    def get_watermark_offsets(self, tp: TopicPartition, *args: Any, **kw: Any) -> tuple[int, int]:
        return 0, self._position.get(tp.partition, 0)

    def consumer_group_metadata(self) -> object:
        return object()

    def pause(self, tps: list[TopicPartition]) -> None:
        pass

    def resume(self, tps: list[TopicPartition]) -> None:
        pass

    def close(self) -> None:
        if self._assigned:
            self._assigned = False
            self._cb["on_revoke"](self, [TopicPartition(TOPIC, p) for p in range(self.partitions)])


class ScriptedProducer:
    """A transactional producer whose commits wait for ``gate``; keeps what was committed."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.committing = threading.Event()  # set when a commit has started waiting
        self.abort_next_commit = False
        self.committed_cards: list[bytes] = []
        self.committed_offsets: dict[int, int] = {}
        self.transactions = Counter[str]()
        self._open: list[bytes] | None = None
        self._offsets: list[TopicPartition] = []
        self._lock = threading.Lock()

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        with self._lock:
            if self._open is not None:
                raise KafkaException(KafkaError(KafkaError._STATE, "a transaction is open"))
            self._open, self._offsets = [], []

    def produce(self, topic: str, value: bytes, key: bytes, headers: Any = None) -> None:
        assert self._open is not None, "produce outside a transaction"
        self._open.append(value)

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], *args: Any) -> None:
        assert self._open is not None
        self._offsets = offsets

    def commit_transaction(self, timeout: float = -1) -> None:
        assert self._open is not None
        self.committing.set()
        self.gate.wait(10)
        with self._lock:
            if self.abort_next_commit:
                self.abort_next_commit = False
                raise KafkaException(
                    KafkaError(KafkaError._FENCED, "the broker said no", txn_requires_abort=True)
                )
            self.committed_cards.extend(self._open)
            for tp in self._offsets:
                self.committed_offsets[tp.partition] = tp.offset
            self.transactions["committed"] += 1
            self._open = None

    def abort_transaction(self, timeout: float = -1) -> None:
        with self._lock:
            self._open = None
            self.transactions["aborted"] += 1

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def runner(consumer: ScriptedConsumer, producer: ScriptedProducer) -> Runner:
    settings = load({"SELFTAUGHT_COMMIT_INTERVAL_MS": "50"})
    return Runner(
        settings=settings,
        pipeline=pipeline(),
        consumer=consumer,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        health=Health(),
    )


def cards_per_event(producer: ScriptedProducer) -> Counter[str]:
    text = schemas.text(schemas.MEMORY_CARD)
    return Counter(
        decode_card(raw, lambda _id: text)["source_event_id"] for raw in producer.committed_cards
    )


async def run_until(r: Runner, done: Any, timeout: float = 10) -> None:
    task = asyncio.create_task(r.run())
    try:
        for _ in range(int(timeout / 0.01)):
            if done():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("timed out")
    finally:
        r.request_stop()
        await asyncio.wait_for(task, 10)


def revoke_after_a_slow_commit(abort: bool) -> tuple[ScriptedProducer, Runner]:
    consumer, producer = ScriptedConsumer(partitions=2), ScriptedProducer()
    r = runner(consumer, producer)
    consumer.records = [message(p, o) for o in range(20) for p in (0, 1)]
    producer.gate.clear()  # the first commit waits, as on a slow broker
    producer.abort_next_commit = abort

    async def scenario() -> None:
        async def later() -> None:
            # While the first commit waits for the broker, ask for partition 0's revoke;
            # the broker answers a little later, and the revoke comes at the next poll.
            while not producer.committing.is_set():
                await asyncio.sleep(0.005)
            consumer.revoke = [0]
            threading.Timer(0.3, producer.gate.set).start()

        helper = asyncio.create_task(later())
        await run_until(
            r, lambda: consumer.revoked.is_set() and producer.committed_offsets.get(1) == 20
        )
        await helper

    asyncio.run(scenario())
    return producer, r


def test_a_revoke_after_a_slow_commit_leaves_every_record_written_once() -> None:
    producer, r = revoke_after_a_slow_commit(abort=False)
    per_event = cards_per_event(producer)
    assert set(per_event) == {f"p{p}-{o}" for o in range(20) for p in (0, 1)}
    assert set(per_event.values()) == {2}  # two cards each, none twice
    assert producer.committed_offsets == {0: 20, 1: 20}
    assert producer.transactions["aborted"] == 0
    assert r.committed == {(TOPIC, 0): 20, (TOPIC, 1): 20}


def test_an_aborted_commit_is_written_again_by_the_revoke_and_only_once() -> None:
    producer, r = revoke_after_a_slow_commit(abort=True)
    per_event = cards_per_event(producer)
    assert set(per_event) == {f"p{p}-{o}" for o in range(20) for p in (0, 1)}
    assert set(per_event.values()) == {2}
    assert producer.committed_offsets == {0: 20, 1: 20}
    assert producer.transactions["aborted"] == 1
    assert r.committed == {(TOPIC, 0): 20, (TOPIC, 1): 20}


def test_records_read_while_a_commit_waits_are_written_by_the_next_transaction() -> None:
    consumer, producer = ScriptedConsumer(partitions=1), ScriptedProducer()
    r = runner(consumer, producer)
    consumer.records = [message(0, o) for o in range(10)]
    producer.gate.clear()  # the first commit waits for the broker
    read_meanwhile: list[bool] = []

    async def scenario() -> None:
        async def later() -> None:
            while not producer.committing.is_set():
                await asyncio.sleep(0.005)
            consumer.records += [message(0, o) for o in range(10, 20)]
            for _ in range(100):  # the loop reads them while the commit still waits
                if consumer._position.get(0) == 20:
                    break
                await asyncio.sleep(0.005)
            read_meanwhile.append(
                consumer._position.get(0) == 20 and producer.transactions["committed"] == 0
            )
            producer.gate.set()

        helper = asyncio.create_task(later())
        await run_until(r, lambda: producer.committed_offsets.get(0) == 20)
        await helper

    asyncio.run(scenario())
    assert read_meanwhile == [True]
    assert cards_per_event(producer) == Counter({f"p0-{o}": 2 for o in range(20)})
    assert producer.transactions["committed"] >= 2  # one transaction open at a time
    assert r.committed == {(TOPIC, 0): 20}


def test_a_slow_commit_stops_reading_until_it_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    # A commit this slow means the broker is slow or away: no rebalance may be taken
    # while it waits (runner.commit.READ_DURING_COMMIT_S).
    monkeypatch.setattr(commit_module, "READ_DURING_COMMIT_S", 0.05)
    consumer, producer = ScriptedConsumer(partitions=1), ScriptedProducer()
    r = runner(consumer, producer)
    consumer.records = [message(0, o) for o in range(10)]
    producer.gate.clear()
    positions: list[int | None] = []

    async def scenario() -> None:
        async def later() -> None:
            while not producer.committing.is_set():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.2)
            consumer.records += [message(0, o) for o in range(10, 20)]
            await asyncio.sleep(0.3)
            positions.append(consumer._position.get(0))  # not read: the loop waits
            producer.gate.set()

        helper = asyncio.create_task(later())
        await run_until(r, lambda: producer.committed_offsets.get(0) == 20)
        await helper

    asyncio.run(scenario())
    assert positions == [10]
    assert cards_per_event(producer) == Counter({f"p0-{o}": 2 for o in range(20)})
