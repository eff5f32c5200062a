"""A transactional call stuck inside librdkafka (librdkafka#5456, #5511: the group
coordinator's broker shut down cleanly) does not stop the service: the producer is replaced,
which fences the stuck one, and every partition is read again from its committed offset.

The real clients run this in tests/cluster (a rolling restart of three brokers).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from consumer.errors import Fatal
from consumer.observe.metrics import Health
from consumer.runner import Runner
from consumer.runner import calls as calls_module
from consumer.runner.calls import Stuck
from consumer.runner.status import Status
from consumer.runner.transaction import Transaction
from consumer.settings import load
from tests.unit.factories import pipeline
from tests.unit.test_runner_commit import (
    ScriptedConsumer,
    ScriptedProducer,
    cards_per_event,
    message,
    run_until,
)

N = 30


class RewindableConsumer(ScriptedConsumer):
    """Reads one partition of N records; answers committed() from what ``broker`` committed
    and seeks by handing the records over again from there."""

    def __init__(self, broker: dict[int, int]) -> None:
        super().__init__(partitions=1)
        self.broker = broker
        self.seeks: list[int] = []

    def committed(self, tps: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.broker.get(0, -1001)) for tp in tps]

    def seek(self, tp: TopicPartition) -> None:
        offset = max(tp.offset, 0)
        self.seeks.append(offset)
        self.records = [message(0, o) for o in range(offset, N)]


class StuckProducer(ScriptedProducer):
    """send_offsets_to_transaction never returns (until the test ends), whatever its timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stuck = threading.Event()

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], *args: Any) -> None:
        self.stuck.set()
        self.release.wait(30)


def run(new_producer: bool) -> tuple[StuckProducer, list[ScriptedProducer], RewindableConsumer]:
    broker: dict[int, int] = {}
    consumer, stuck = RewindableConsumer(broker), StuckProducer()
    consumer.records = [message(0, o) for o in range(N)]
    made: list[ScriptedProducer] = []

    def make() -> ScriptedProducer:
        made.append(ScriptedProducer())
        broker_view = made[-1].committed_offsets
        consumer.broker = broker_view  # the new producer's commits are what the broker has
        return made[-1]

    settings = load({"SELFTAUGHT_COMMIT_INTERVAL_MS": "50"})
    r = Runner(
        settings=settings,
        pipeline=pipeline(),
        consumer=consumer,  # type: ignore[arg-type]
        producer=stuck,  # type: ignore[arg-type]
        health=Health(),
        new_producer=make if new_producer else None,  # type: ignore[arg-type]
    )
    try:
        asyncio.run(run_until(r, lambda: bool(made) and made[0].committed_offsets.get(0) == N))
    finally:
        stuck.release.set()
    return stuck, made, consumer


def test_a_stuck_commit_is_left_to_a_new_producer_and_every_record_is_written_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calls_module, "CALL_STUCK_S", 0.5)
    stuck, made, consumer = run(new_producer=True)
    assert stuck.committed_cards == []  # fenced: nothing of it counts
    assert len(made) == 1
    assert cards_per_event(made[0]) == Counter({f"p0-{o}": 2 for o in range(N)})
    assert made[0].committed_offsets == {0: N}
    assert consumer.seeks == [0]  # rewound to the committed offset (none: the beginning)


def test_a_stuck_commit_without_a_way_to_replace_the_producer_ends_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calls_module, "CALL_STUCK_S", 0.5)
    with pytest.raises(Fatal, match="send_offsets_to_transaction has not returned"):
        run(new_producer=False)


def test_in_a_rebalance_callback_a_stuck_commit_is_replaced_and_the_loop_rewinds_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Inside consume() nothing can be awaited: the new producer starts there, and the loop
    # rewinds at its next turn (what was in flight may have been committed by the old one).
    monkeypatch.setattr(calls_module, "CALL_STUCK_S", 0.3)
    stuck, fresh = StuckProducer(), ScriptedProducer()
    t = Transaction(
        producer=stuck,  # type: ignore[arg-type]
        output_topic="cards",
        dlq_topic="dlq",
        health=Health(),
        status=Status(),
        new_producer=lambda: fresh,  # type: ignore[arg-type,return-value]
    )
    try:
        t.start([], object())
        with pytest.raises(Stuck, match="send_offsets_to_transaction has not returned"):
            t.settle_now()
        t.replace_now("stuck")
    finally:
        stuck.release.set()
    assert t.producer is fresh  # type: ignore[comparison-overlap]
    assert t.rewind_due and t.committing is None
