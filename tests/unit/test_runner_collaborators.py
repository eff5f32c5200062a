"""The runner's small collaborators, each alone and without Kafka: the commit schedule, the
offsets' metadata, the rewind and the intake."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException, TopicPartition

from consumer.errors import Fatal
from consumer.events import SourceRef
from consumer.observe.metrics import Health
from consumer.outcomes import Skipped
from consumer.runner.commit import READ_DURING_COMMIT_S, CommitSchedule
from consumer.runner.intake import Intake
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.observation import Observer
from consumer.runner.pausing import Pausing
from consumer.runner.rewind import Rewind
from consumer.runner.status import Status
from consumer.runner.transaction import Committing
from consumer.runner.window import TP, Batch, Entry, Window
from consumer.stages.qualify import Skip

A, B = ("t", 0), ("t", 1)
DONE = Skipped(Skip.BELOW_DELTA)


def entry(tp: TP, offset: int) -> Entry:
    return Entry(SourceRef(tp[0], tp[1], offset, None, b"v", (), 1), DONE)


# -- the commit schedule ---------------------------------------------------------------------


def schedule() -> CommitSchedule:
    s = CommitSchedule(interval_s=0.1, max_in_flight=100, per_partition=10)
    s.begin(now=50.0)
    return s


def test_a_commit_is_due_every_interval_and_early_once_half_a_window_is_finished() -> None:
    s = schedule()
    assert s.early == 5  # half the smaller of the two limits
    assert not s.due(50.05, ready=4)
    assert s.due(50.05, ready=5)  # early: half a partition's window finished
    assert s.due(50.1, ready=0)  # the interval
    s.started(50.1, ready=7, written=3)  # 4 stay behind an unfinished record
    assert s.next_at == pytest.approx(50.2)
    assert not s.due(50.15, ready=8)  # only one new since: not early
    assert s.due(50.15, ready=9)


def committing(done: bool, started: float) -> Committing:
    future: concurrent.futures.Future[float] = concurrent.futures.Future()
    if done:
        future.set_result(started)
    return Committing([], future, started)


def test_the_loop_waits_for_a_commit_that_is_done_slow_or_holding_a_full_window() -> None:
    s, w = schedule(), Window()
    w.open([A])
    assert not s.waits(committing(False, 10.0), w, now=10.0)  # reads on meanwhile
    assert s.waits(committing(True, 10.0), w, now=10.0)
    assert s.waits(committing(False, 10.0), w, now=10.0 + READ_DURING_COMMIT_S + 0.01)
    for offset in range(10):
        w.add(w.queues[A], entry(A, offset))
    assert s.waits(committing(False, 10.0), w, now=10.0)  # the commit empties it


# -- the offsets' metadata -------------------------------------------------------------------


class Seam:
    """The selection seam's side the runner sees, recording what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, Any]] = []

    def metadata(self, tp: TP, offset: int) -> str | None:
        return f"budget {tp[1]}@{offset}" if tp == A else None

    def assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.told.append(("assigned", [tp.partition for tp in partitions]))

    def revoked(self, tps: list[TP]) -> None:
        self.told.append(("revoked", tps))

    def committed(self, offsets: dict[TP, int]) -> None:
        self.told.append(("committed", offsets))

    def rewound(self, tps: list[TP]) -> None:
        self.told.append(("rewound", tps))


BATCH: Batch = [(A, [entry(A, 4)], 5), (B, [], 9)]


def test_each_offset_carries_its_partitions_sections_and_the_shared_note() -> None:
    seam = Seam()
    meta = OffsetMetadata(selection=seam, note=lambda: "levels x")  # type: ignore[arg-type]
    offsets = meta.offsets(BATCH)
    assert [(o.partition, o.offset, o.metadata) for o in offsets] == [
        (0, 5, "budget 0@5\nlevels x"),
        (1, 9, "levels x"),
    ]
    assert [(o.partition, o.offset, o.metadata) for o in OffsetMetadata().offsets(BATCH)] == [
        (0, 5, None),
        (1, 9, None),
    ]


def test_the_selection_follows_the_partitions_and_the_commits() -> None:
    seam = Seam()
    meta = OffsetMetadata(selection=seam)  # type: ignore[arg-type]
    meta.assigned(object(), [TopicPartition("t", 0)])  # type: ignore[arg-type]
    meta.committed(BATCH)
    meta.revoked([B])
    meta.rewound([A])
    assert seam.told == [
        ("assigned", [0]),
        ("committed", {A: 5, B: 9}),
        ("revoked", [B]),
        ("rewound", [A]),
    ]


class CommittedConsumer:
    """Answers committed() with the metadata it holds, or fails as a broker away would."""

    def __init__(self, metadata: dict[int, str | None], fail: bool = False) -> None:
        self.metadata = metadata
        self.fail = fail

    def committed(self, tps: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "no coordinator"))
        out = []
        for tp in tps:
            note = self.metadata.get(tp.partition)
            if note is None:
                out.append(TopicPartition(tp.topic, tp.partition, 3))
            else:
                out.append(TopicPartition(tp.topic, tp.partition, 3, metadata=note))
        return out


def test_the_notes_committed_with_assigned_partitions_are_handed_back() -> None:
    got: list[list[str | None]] = []
    meta = OffsetMetadata(on_assigned=got.append)
    parts = [TopicPartition("t", 0), TopicPartition("t", 1)]
    meta.assigned(CommittedConsumer({0: "levels a"}), parts)  # type: ignore[arg-type]
    meta.assigned(CommittedConsumer({}), [])  # type: ignore[arg-type]
    assert got == [["levels a", None]]  # nothing assigned: nothing to read
    meta.assigned(CommittedConsumer({}, fail=True), parts)  # type: ignore[arg-type]
    assert got == [["levels a", None]]  # not read: the state starts afresh, no exit


# -- the rewind ------------------------------------------------------------------------------


class SeekingConsumer:
    def __init__(self, committed: dict[int, int], unseekable: frozenset[int] = frozenset()):
        self.committed_at = committed
        self.unseekable = unseekable
        self.calls: list[tuple[str, int, int]] = []

    def committed(self, tps: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_at.get(tp.partition, -1001))
            for tp in tps
        ]

    def seek(self, tp: TopicPartition) -> None:
        if tp.partition in self.unseekable:
            raise KafkaException(KafkaError(KafkaError._STATE, "not fetching yet"))
        self.calls.append(("seek", tp.partition, tp.offset))

    def incremental_unassign(self, tps: list[TopicPartition]) -> None:
        self.calls += [("unassign", tp.partition, tp.offset) for tp in tps]

    def incremental_assign(self, tps: list[TopicPartition]) -> None:
        self.calls += [("assign", tp.partition, tp.offset) for tp in tps]

    def pause(self, tps: list[TopicPartition]) -> None:
        pass


def rewind(consumer: SeekingConsumer, w: Window, latest: bool = False) -> tuple[Rewind, Seam]:
    seam = Seam()
    pausing = Pausing(consumer=consumer, max_in_flight=100, per_partition=10)  # type: ignore[arg-type]
    observer = Observer(consumer=consumer, window=w, pausing=pausing, health=Health())  # type: ignore[arg-type]
    r = Rewind(
        consumer=consumer,  # type: ignore[arg-type]
        window=w,
        observer=observer,
        metadata=OffsetMetadata(selection=seam),  # type: ignore[arg-type]
        reset_to_latest=latest,
    )
    return r, seam


def test_a_rewind_empties_the_window_and_seeks_each_partition_to_its_commit() -> None:
    w = Window()
    w.open([A, B])
    for offset in range(3):
        w.add(w.queues[A], entry(A, 10 + offset))
    consumer = SeekingConsumer({0: 10})
    r, seam = rewind(consumer, w)
    r.to_committed()
    assert (w.in_flight, w.ready, list(w.queues)) == (0, 0, [A, B])  # still assigned
    assert w.queue_for(A, 10) is not None  # read again, not a redelivery
    assert consumer.calls == [("seek", 0, 10), ("seek", 1, OFFSET_BEGINNING)]
    assert seam.told == [("rewound", [A, B])]
    consumer, w2 = SeekingConsumer({}), Window()
    w2.open([A])
    rewind(consumer, w2, latest=True)[0].to_committed()
    assert consumer.calls == [("seek", 0, OFFSET_END)]  # auto.offset.reset=latest


def test_a_partition_that_cannot_seek_yet_is_assigned_again_at_its_commit() -> None:
    w = Window()
    w.open([A])
    consumer = SeekingConsumer({0: 7}, unseekable=frozenset({0}))
    rewind(consumer, w)[0].to_committed()
    assert consumer.calls == [("unassign", 0, -1001), ("assign", 0, 7)]


# -- the intake ------------------------------------------------------------------------------


class Record:
    def __init__(self, offset: int, error: KafkaError | None = None) -> None:
        self._offset, self._error = offset, error

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return 1, 1


class PolledConsumer:
    def __init__(self, records: list[Record]) -> None:
        self.records = records

    def consume(self, n: int, timeout: float) -> list[Record]:
        got, self.records = self.records[:n], self.records[n:]
        return got

    def pause(self, tps: list[TopicPartition]) -> None:
        pass


class Calls:
    def check_login(self) -> None:
        pass


class Pipeline:
    def __init__(self) -> None:
        self.started: list[int] = []

    def start(self, ref: SourceRef) -> Skipped:
        self.started.append(ref.offset)
        return DONE


def intake(records: list[Record], status: Status | None = None) -> tuple[Intake, Window, Pipeline]:
    consumer, w, pipeline = PolledConsumer(records), Window(), Pipeline()
    w.open([A])
    i = Intake(
        consumer=consumer,  # type: ignore[arg-type]
        pipeline=pipeline,  # type: ignore[arg-type]
        window=w,
        pausing=Pausing(consumer=consumer, max_in_flight=100, per_partition=10),  # type: ignore[arg-type]
        calls=Calls(),  # type: ignore[arg-type]
        health=Health(),
        status=status or Status(),
    )
    return i, w, pipeline


def test_records_are_taken_in_offset_order_only_and_a_known_outcome_is_ready_at_once() -> None:
    i, w, pipeline = intake([Record(0), Record(1), Record(1), Record(0), Record(2)])

    async def take() -> None:
        for msg in i.poll():
            i.accept(msg)  # type: ignore[arg-type]

    asyncio.run(take())
    assert pipeline.started == [0, 1, 2]  # the redeliveries are not started again
    assert (w.in_flight, w.ready, w.redelivered) == (3, 3, 2)


def test_a_poll_leaves_out_errors_ends_on_a_fatal_one_and_takes_nothing_while_stopping() -> None:
    warned = KafkaError(KafkaError._TRANSPORT, "broker went away")
    i, _, _ = intake([Record(0), Record(1, warned)])
    assert [m.offset() for m in i.poll()] == [0]
    i, _, _ = intake([Record(0, KafkaError(KafkaError._FENCED, "fenced", fatal=True))])
    with pytest.raises(Fatal, match="consumer: "):
        i.poll()
    status = Status(stopping=True)
    assert intake([Record(0)], status)[0].poll() == []
    status.fatal = "the transaction says so"
    with pytest.raises(Fatal, match="the transaction says so"):
        intake([Record(0)], status)[0].poll()
