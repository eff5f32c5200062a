"""The window: per assigned partition, the records read and not yet committed, in offset order.

Plain state, no Kafka. A record joins its partition's queue when it is read; its outcome is
filled in when known; the contiguous prefix of known outcomes is what a transaction writes,
and it leaves the queue only once that transaction committed. Everything here is counted
so the loop can ask "how full?" without walking the queues.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from consumer.events import SourceRef
from consumer.outcomes import Outcome

__all__ = ["TP", "Batch", "Entry", "Window"]

log = logging.getLogger(__name__)

TP = tuple[str, int]


@dataclass(slots=True)
class Entry:
    """One record in flight: where it came from, its outcome once known, the task making it."""

    ref: SourceRef
    outcome: Outcome | None = None
    task: asyncio.Task[Outcome] | None = None


#: Per partition: the finished entries to write, and the offset to commit after them.
Batch = list[tuple[TP, list[Entry], int]]


class Window:
    """The records in flight, per partition, and what has been read and committed."""

    def __init__(self) -> None:
        self.queues: dict[TP, deque[Entry]] = {}
        self.in_flight = 0  # records in the queues
        self.ready = 0  # records in the queues whose outcome is known
        # Per partition, the offset after the last record taken; a record behind it is a
        # redelivery (offsets only move forward between rewinds).
        self.seen: dict[TP, int] = {}
        # Per partition, the offset this instance last committed (what the group resumes from).
        self.committed: dict[TP, int] = {}
        self.redelivered = 0

    def open(self, tps: Iterable[TP]) -> None:
        """Start an empty queue for each newly assigned partition."""
        for tp in tps:
            self.queues.setdefault(tp, deque())

    def queue_for(self, tp: TP, offset: int) -> deque[Entry] | None:
        """The queue a record read at ``offset`` joins; None when it is not ours to take.

        Not ours: its partition was revoked after it was fetched (the new owner reads it), or
        it is at or behind a record already taken, a redelivery that would be written twice.
        """
        queue = self.queues.get(tp)
        if queue is None:
            return None
        seen = self.seen.get(tp)
        if seen is not None and offset < seen:
            self.redelivered += 1
            n = self.redelivered
            if n in (1, 10, 100, 1000) or n % 10000 == 0:
                log.warning(
                    "ignored %d redelivered records (latest %s[%d]@%d, already read to %d)",
                    n,
                    tp[0],
                    tp[1],
                    offset,
                    seen,
                )
            return None
        return queue

    def add(self, queue: deque[Entry], entry: Entry) -> None:
        """Append a record taken from ``queue``'s partition (its outcome may be known)."""
        queue.append(entry)
        self.in_flight += 1
        if entry.outcome is not None:
            self.ready += 1
        ref = entry.ref
        self.seen[(ref.topic, ref.partition)] = ref.offset + 1

    def finish(self, entry: Entry, outcome: Outcome) -> None:
        """Fill in the outcome of an entry whose task has finished."""
        entry.outcome = outcome
        self.ready += 1

    def unfinished(self) -> int:
        """Records still waiting for their outcome."""
        return sum(1 for q in self.queues.values() for e in q if e.outcome is None)

    def full(self, *, max_in_flight: int, per_partition: int) -> bool:
        """Whether the records in flight reach the window, in total or in any partition."""
        return self.in_flight >= max_in_flight or any(
            len(q) >= per_partition for q in self.queues.values()
        )

    def prefixes(self, only: set[TP] | None = None) -> tuple[Batch, list[TP]]:
        """Per partition, the finished prefix and the offset after it; and the partitions
        where every record read is finished (see ``past_control_records``)."""
        batch: Batch = []
        finished: list[TP] = []
        for tp, q in self.queues.items():
            if only is not None and tp not in only:
                continue
            n = 0
            for entry in q:
                if entry.outcome is None:
                    break
                n += 1
            if n:
                entries = list(itertools.islice(q, n))
                batch.append((tp, entries, entries[-1].ref.offset + 1))
            if n == len(q):
                finished.append(tp)
        return batch, finished

    def past_control_records(self, batch: Batch, positions: dict[TP, int]) -> None:
        """Move the offsets in ``batch`` to the consumer's positions where that is safe.

        A transactional producer's commit marker takes an offset but is never returned as a
        record, so "last record + 1" stops one short of the end for ever: the lag never
        reaches zero. Where everything read from a partition is finished (``positions`` holds
        only those), commit the consumer's position instead, which librdkafka moves past
        control records; only where every record consume() returned was taken, since the
        position is already past the rest.
        """
        planned = {tp: i for i, (tp, _, _) in enumerate(batch)}
        for tp, position in positions.items():
            i = planned.get(tp)
            end = batch[i][2] if i is not None else self.committed.get(tp)
            if end is None or self.seen.get(tp) != end or position <= end:
                continue
            if i is not None:
                batch[i] = (tp, batch[i][1], position)
            else:
                batch.append((tp, [], position))

    def pop_committed(self, batch: Batch) -> None:
        """Take a committed batch's entries off the front of their queues."""
        for tp, entries, offset in batch:
            q = self.queues.get(tp)
            # A partition lost while its commit was under way was dropped, and its records
            # uncounted, then; it may even be assigned again, with a new queue. Only the
            # queue that holds these very entries gives them up.
            if q is not None and (not entries or (q and q[0] is entries[0])):
                for _ in entries:
                    q.popleft()
                self.in_flight -= len(entries)
                self.ready -= len(entries)
                self.committed[tp] = offset
                if self.seen.get(tp, -1) < offset:
                    self.seen[tp] = offset

    def drop(self, tps: Iterable[TP]) -> list[TP]:
        """Forget partitions: their queues, what was read; cancel their unfinished tasks.

        Returns the partitions that held records. Their records are not committed here: the
        next owner (or this instance, after a rewind) reads them again.
        """
        dropped = []
        for tp in tps:
            q = self.queues.pop(tp, None)
            self.seen.pop(tp, None)
            if not q:
                continue
            dropped.append(tp)
            for entry in q:
                if entry.task is not None and not entry.task.done():
                    entry.task.cancel()
                if entry.outcome is not None:
                    self.ready -= 1
                entry.task = None
            self.in_flight -= len(q)
        return dropped
