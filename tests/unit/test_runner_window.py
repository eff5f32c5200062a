"""The runner's window: queues in offset order, the finished prefix, what was read."""

from __future__ import annotations

import asyncio

from consumer.events import SourceRef
from consumer.outcomes import DeadLetter, Skipped
from consumer.runner.window import Entry, Window
from consumer.stages.qualify import Skip

TP0 = ("t", 0)
TP1 = ("t", 1)
DONE = Skipped(Skip.BELOW_DELTA)


def ref(tp: tuple[str, int], offset: int) -> SourceRef:
    return SourceRef(tp[0], tp[1], offset, None, b"v", (), 1)


def take(w: Window, tp: tuple[str, int], offset: int, finished: bool = False) -> Entry | None:
    queue = w.queue_for(tp, offset)
    if queue is None:
        return None
    entry = Entry(ref(tp, offset), DONE if finished else None)
    w.add(queue, entry)
    return entry


def test_the_finished_prefix_stops_at_the_first_unfinished_record() -> None:
    w = Window()
    w.open([TP0, TP1])
    take(w, TP0, 0, finished=True)
    slow = take(w, TP0, 1)
    take(w, TP0, 2, finished=True)
    take(w, TP1, 7, finished=True)
    batch, finished = w.prefixes()
    assert [(tp, [e.ref.offset for e in entries], end) for tp, entries, end in batch] == [
        (TP0, [0], 1),
        (TP1, [7], 8),
    ]
    assert finished == [TP1]
    assert (w.in_flight, w.ready, w.unfinished()) == (4, 3, 1)
    assert slow is not None
    w.finish(slow, DeadLetter("generate", "x", "y"))
    batch, finished = w.prefixes(only={TP0})
    assert [(tp, end) for tp, _, end in batch] == [(TP0, 3)]
    assert finished == [TP0]


def test_a_record_behind_one_already_read_is_not_taken_again() -> None:
    w = Window()
    w.open([TP0])
    take(w, TP0, 5, finished=True)
    assert take(w, TP0, 5) is None
    assert take(w, TP0, 3) is None
    assert w.redelivered == 2
    assert take(w, TP0, 6) is not None
    assert take(w, TP1, 0) is None  # not assigned: the owner reads it
    assert w.in_flight == 2


def test_a_commit_pops_its_entries_and_moves_committed_and_seen() -> None:
    w = Window()
    w.open([TP0])
    for offset in range(3):
        take(w, TP0, offset, finished=True)
    batch, _ = w.prefixes()
    take(w, TP0, 3)
    w.pop_committed(batch)
    assert w.committed == {TP0: 3}
    assert [e.ref.offset for e in w.queues[TP0]] == [3]
    assert (w.in_flight, w.ready) == (1, 0)


def test_a_commit_for_a_partition_dropped_meanwhile_leaves_the_new_queue_alone() -> None:
    w = Window()
    w.open([TP0])
    take(w, TP0, 0, finished=True)
    batch, _ = w.prefixes()
    assert w.drop([TP0]) == [TP0]
    w.open([TP0])  # assigned again while the commit was under way
    take(w, TP0, 0, finished=True)
    w.pop_committed(batch)
    assert len(w.queues[TP0]) == 1
    assert w.committed == {}
    assert (w.in_flight, w.ready) == (1, 1)


def test_dropping_a_partition_cancels_its_unfinished_work() -> None:
    async def scenario() -> tuple[bool, Window]:
        w = Window()
        w.open([TP0])
        entry = take(w, TP0, 0)
        assert entry is not None
        task = asyncio.ensure_future(asyncio.sleep(10))
        entry.task = task  # type: ignore[assignment]
        take(w, TP0, 1, finished=True)
        w.drop([TP0])
        await asyncio.sleep(0)
        return task.cancelled(), w

    cancelled, w = asyncio.run(scenario())
    assert cancelled
    assert (w.queues, w.seen, w.in_flight, w.ready) == ({}, {}, 0, 0)


def test_the_position_is_committed_only_where_everything_read_was_taken() -> None:
    w = Window()
    w.open([TP0, TP1])
    take(w, TP0, 4, finished=True)
    take(w, TP1, 9, finished=True)
    batch, _ = w.prefixes()
    # TP0: a commit marker at 5 puts the position at 6; TP1's position is the end already.
    w.past_control_records(batch, {TP0: 6, TP1: 10})
    assert [(tp, end) for tp, _, end in batch] == [(TP0, 6), (TP1, 10)]
    w.pop_committed(batch)
    # Nothing new read: an idle partition's commit moves to the position past a marker.
    batch = []
    w.past_control_records(batch, {TP1: 11})
    assert [(tp, entries, end) for tp, entries, end in batch] == [(TP1, [], 11)]
    w.seen[TP0] = 8  # read on past what is committed: the position is not ours to commit
    batch = []
    w.past_control_records(batch, {TP0: 9})
    assert batch == []
