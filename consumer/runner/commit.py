"""The commit cycle: when to commit, and what follows a commit, an abort or a stuck call.

Every commit interval, or earlier once half a partition's window of new records is finished,
the finished prefixes go out in one transaction (transaction.py) whose commit runs on a
thread while the loop reads on. The loop waits for that commit once it is done, or when
reading on would do harm (``CommitSchedule.waits``). After a commit its entries leave the
window and their outcomes are counted; an abort is aborted and the same outcomes are written
again, the third in a row rewinds; a stuck call replaces the producer and rewinds
(rewind.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from consumer.runner.calls import Abort, Stuck
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.observation import Observer
from consumer.runner.rewind import Rewind
from consumer.runner.status import Status
from consumer.runner.transaction import Committing, Transaction
from consumer.runner.window import TP, Batch, Window

__all__ = ["READ_DURING_COMMIT_S", "CommitSchedule", "Commits"]

# How long the loop reads on while a commit waits for the broker (7-30 ms at full speed). A
# commit slower than this means the broker is slow or away: reading on would only fill the
# window, and a rebalance taken meanwhile is worse: once the session times out, consume()
# can deliver the lost assignment and then the new one while send_offsets_to_transaction
# still waits with the old generation, and it never returns. Waiting for the commit leaves
# the rebalance for after it.
READ_DURING_COMMIT_S = 1.0


@dataclass(slots=True)
class CommitSchedule:
    """When a commit starts and when the loop waits for one: pure, the clock is given."""

    interval_s: float
    max_in_flight: int
    per_partition: int
    next_at: float = 0.0  # the interval's next commit (monotonic seconds)
    ready_after: int = 0  # finished records in the window after the last commit started

    @property
    def early(self) -> int:
        """Commit early once this many more records are finished: with the interval alone a
        partition's queue reaches its limit at full speed, and every pause drops what
        librdkafka had fetched for it (fetched again on resume), leaving the loop idle."""
        return max(1, min(self.max_in_flight, self.per_partition) // 2)

    def begin(self, now: float) -> None:
        """The loop starts at ``now``: the first commit is an interval away."""
        self.next_at = now + self.interval_s
        self.ready_after = 0

    def due(self, now: float, ready: int) -> bool:
        """Whether a commit is due, with ``ready`` finished records in the window."""
        return now >= self.next_at or ready - self.ready_after >= self.early

    def started(self, now: float, ready: int, written: int) -> None:
        """A commit started at ``now`` with ``written`` of the ``ready`` finished records;
        the rest stay behind an unfinished one, and only new ones count towards the next."""
        self.next_at = now + self.interval_s
        self.ready_after = ready - written

    def waits(self, committing: Committing, window: Window, now: float) -> bool:
        """Whether the loop waits for the commit under way now: it is done, or the window is
        full (which the commit empties, rather than pausing partitions), or it is slow
        (``READ_DURING_COMMIT_S``)."""
        return (
            committing.done.done()
            or window.full(max_in_flight=self.max_in_flight, per_partition=self.per_partition)
            or now - committing.started > READ_DURING_COMMIT_S
        )


class Commits:
    """Starts and finishes the loop's commits; recovers from aborts and stuck calls."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        window: Window,
        transaction: Transaction,
        rewind: Rewind,
        observer: Observer,
        metadata: OffsetMetadata,
        status: Status,
        schedule: CommitSchedule,
        on_commit: Callable[[dict[TP, int]], None] | None = None,
    ) -> None:
        """
        :param consumer: gives the group's metadata and, where a partition is fully
            finished, its position
        :param window: where the finished prefixes come from and committed entries leave
        :param transaction: writes them, one transaction at a time
        :param rewind: after repeated aborts or a replaced producer
        :param observer: counts what a commit committed
        :param metadata: told what a commit committed
        :param status: positions are not committed while stopping
        :param schedule: when a commit is due and when the loop waits for one
        :param on_commit: called after each commit with every partition's committed offset
        """
        self._consumer = consumer
        self._window = window
        self._txn = transaction
        self._rewind = rewind
        self._observer = observer
        self._metadata = metadata
        self._status = status
        self.schedule = schedule
        self._on_commit = on_commit

    async def start_if_due(self, now: float) -> None:
        """Start a commit when one is due and none is under way."""
        window = self._window
        if self._txn.committing is None and self.schedule.due(now, window.ready):
            written = await self.start()
            self.schedule.started(time.monotonic(), window.ready, written)

    async def finish_if_due(self, now: float) -> None:
        """Finish the commit under way when it is done or must be waited for."""
        committing = self._txn.committing
        if committing is not None and self.schedule.waits(committing, self._window, now):
            await self.finish()

    async def cycle(self) -> None:
        """Commit what is finished now and wait until that is done."""
        await self.finish()
        await self.start()
        await self.finish()

    async def start(self) -> int:
        """Write the finished prefixes in a new transaction and leave its commit to a
        thread; the number of records written (0: nothing was finished)."""
        if self._txn.rewind_due:
            return 0  # what is queued may be committed already (see ``rewind_if_due``)
        batch = self._collect()
        if not batch:
            return 0
        try:
            self._txn.start(batch, self._consumer.consumer_group_metadata())
        except Abort as exc:
            await self._abort(str(exc))
            return 0
        return sum(len(entries) for _, entries, _ in batch)

    async def finish(self) -> None:
        """Wait for the commit under way, if any; then record it, or abort it."""
        try:
            batch = await self._txn.settle()
        except Abort as exc:
            await self._abort(str(exc))
            return
        except Stuck as exc:
            await self._replace(str(exc))
            return
        if batch is not None:
            self.recorded(batch)

    def rewind_if_due(self) -> bool:
        """Rewind when the producer was replaced inside a rebalance callback: what was in
        flight may be committed already. True: the loop reads again from the commit."""
        if not self._txn.rewind_due:
            return False
        self._txn.rewind_due = False
        self._rewind.to_committed()
        return True

    def recorded(self, batch: Batch) -> None:
        """After a commit: its entries leave the window, its outcomes are counted."""
        self._window.pop_committed(batch)
        self._metadata.committed(batch)
        self._observer.committed(batch)
        if self._on_commit is not None:
            self._on_commit(dict(self._window.committed))

    async def _abort(self, why: str) -> None:
        try:
            rewind = await self._txn.abort_and_retry(why)
        except Stuck as exc:
            await self._replace(str(exc))
            return
        if rewind:
            self._rewind.to_committed()

    async def _replace(self, why: str) -> None:
        # A new producer fences the stuck one; whether its transaction committed shows only
        # in the committed offsets, so every partition reads again from there.
        await self._txn.replace(why)
        self._rewind.to_committed()

    def _collect(self) -> Batch:
        batch, finished = self._window.prefixes()
        if finished and not self._status.stopping:
            # Where everything read is finished, commit the position (past control records).
            # Not while stopping: records read then are dropped, and the position is past them.
            tps = [TopicPartition(t, p) for t, p in finished]
            positions = {(p.topic, p.partition): p.offset for p in self._consumer.position(tps)}
            self._window.past_control_records(batch, positions)
        return batch
