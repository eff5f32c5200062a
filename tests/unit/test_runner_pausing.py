"""What pauses a partition and what resumes it, decided without Kafka."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from consumer.events import SourceRef
from consumer.runner.pausing import Pausing, backpressure
from consumer.runner.window import Entry, Window

A, B = ("t", 0), ("t", 1)


def decide(sizes: dict[tuple[str, int], int], paused: set[tuple[str, int]]) -> Any:
    return backpressure(
        {tp: range(n) for tp, n in sizes.items()},
        paused,
        in_flight=sum(sizes.values()),
        max_in_flight=100,
        per_partition=10,
    )


def test_a_full_partition_pauses_alone() -> None:
    assert decide({A: 10, B: 3}, set()) == ([A], [])


def test_a_full_window_pauses_every_partition() -> None:
    assert decide({A: 9, B: 91}, set()) == ([A, B], [])


def test_a_paused_partition_resumes_at_half_its_limit_and_half_the_total() -> None:
    assert decide({A: 6, B: 0}, {A}) == ([], [])
    assert decide({A: 5, B: 0}, {A}) == ([], [A])
    assert decide({A: 5, B: 46}, {A, B}) == ([], [])  # the total is above half


class RecordingConsumer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def pause(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("pause", [tp.partition for tp in tps]))

    def resume(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("resume", [tp.partition for tp in tps]))


def fill(w: Window, tp: tuple[str, int], n: int) -> None:
    queue = w.queues[tp]
    for _ in range(n):
        w.add(queue, Entry(SourceRef(tp[0], tp[1], len(queue), None, None, (), 0)))


def test_pausing_follows_the_window_and_tells_the_consumer_once() -> None:
    consumer = RecordingConsumer()
    p = Pausing(consumer=consumer, max_in_flight=100, per_partition=4)  # type: ignore[arg-type]
    w = Window()
    w.open([A, B])
    fill(w, A, 4)
    p.apply(w)
    p.apply(w)
    assert p.paused == {A}
    w.queues[A].clear()
    w.in_flight = 0
    p.apply(w)
    assert p.paused == set()
    assert consumer.calls == [("pause", [0]), ("resume", [0])]


def test_a_hold_pauses_new_assignments_and_nothing_resumes() -> None:
    consumer = RecordingConsumer()
    p = Pausing(consumer=consumer, max_in_flight=100, per_partition=4)  # type: ignore[arg-type]
    p.hold([A])
    p.assigned([B])
    w = Window()
    w.open([A, B])
    p.apply(w)
    assert p.paused == {A, B}
    p.forget([A])
    assert p.paused == {B}
    assert consumer.calls == [("pause", [0]), ("pause", [1])]


class RewindingConsumer(RecordingConsumer):
    """Pauses as librdkafka does: a seek keeps them; answers committed() with offset 0."""

    def __init__(self) -> None:
        super().__init__()
        self.paused: set[int] = set()

    def pause(self, tps: list[TopicPartition]) -> None:
        super().pause(tps)
        self.paused.update(tp.partition for tp in tps)

    def resume(self, tps: list[TopicPartition]) -> None:
        super().resume(tps)
        self.paused.difference_update(tp.partition for tp in tps)

    def committed(self, tps: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 0) for tp in tps]

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", [tp.partition]))


def test_a_partition_paused_by_backpressure_is_resumed_after_a_rewind() -> None:
    from consumer.observe.metrics import Health
    from consumer.runner.metadata import OffsetMetadata
    from consumer.runner.observation import Observer
    from consumer.runner.rewind import Rewind

    consumer = RewindingConsumer()
    w = Window()
    w.open([A])
    p = Pausing(consumer=consumer, max_in_flight=100, per_partition=4)  # type: ignore[arg-type]
    health = Health()
    rewind = Rewind(
        consumer=consumer,  # type: ignore[arg-type]
        window=w,
        observer=Observer(consumer=consumer, window=w, pausing=p, health=health),  # type: ignore[arg-type]
        metadata=OffsetMetadata(),
    )
    fill(w, A, 6)
    p.apply(w)
    assert consumer.paused == {0}
    rewind.to_committed()  # e.g. after a stuck producer was replaced: the partition stays assigned
    assert w.in_flight == 0
    p.apply(w)
    assert consumer.paused == set(), consumer.calls
