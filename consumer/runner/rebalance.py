"""The rebalance: what assign, revoke and lost do to the window and the transaction.

librdkafka calls these from inside ``consume()`` (cooperative-sticky: only the partitions
that move). A revoke, unless the assignment was lost, commits the revoked partitions'
finished prefix first, after the commit under way; the next owner starts from there and
redoes only the rest. A lost assignment commits nothing: another instance may own it
already, and a late commit from here would be fenced by the broker anyway. A rewind (after
repeated aborts) drops every queue and reads again from the committed offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from consumer.errors import Fatal
from consumer.observe import metrics as m
from consumer.observe.health import Health
from consumer.runner.observation import Observer
from consumer.runner.pausing import Pausing
from consumer.runner.status import Status
from consumer.runner.transaction import Abort, Stuck, Transaction
from consumer.runner.window import TP, Batch, Window
from consumer.selection.seam import SelectionSeam

__all__ = ["Rebalance"]

log = logging.getLogger(__name__)


class Rebalance:
    """The consumer's rebalance callbacks, and the other ways partitions leave the window."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        window: Window,
        pausing: Pausing,
        transaction: Transaction,
        observer: Observer,
        health: Health,
        status: Status,
        on_committed: Callable[[Batch], None],
        selection: SelectionSeam | None = None,
        reset_to_latest: bool = False,
        on_assigned_notes: Callable[[list[str | None]], None] | None = None,
    ) -> None:
        """
        :param consumer: the consumer whose assignment this follows
        :param window: gets a queue per assigned partition, loses it on revoke or loss
        :param pausing: new partitions are paused while it holds
        :param transaction: commits what is finished on revoke
        :param observer: drops a partition's lag series when it leaves
        :param health: the group is joined at the first assignment
        :param status: nothing is committed once fatal
        :param on_committed: what the loop does after any commit (pop, count, report)
        :param selection: the pair budget follows the partitions: their shares and spending
        :param reset_to_latest: where a rewind goes for a partition with no committed offset
            (``auto.offset.reset=latest``; else the beginning)
        :param on_assigned_notes: given the offset metadata committed for partitions as they
            are assigned, so that state kept there follows its partitions
        """
        self._consumer = consumer
        self._window = window
        self._pausing = pausing
        self._txn = transaction
        self._observer = observer
        self._health = health
        self._status = status
        self._on_committed = on_committed
        self._on_assigned_notes = on_assigned_notes
        self._selection = selection
        self._reset = OFFSET_END if reset_to_latest else OFFSET_BEGINNING

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("assigned").inc()
        self._health.group_joined = True
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._window.open(tps)
        m.ASSIGNED.set(len(self._window.queues))
        if self._selection is not None:
            self._selection.assigned(consumer, partitions)
        if partitions:
            log.info("assigned %s", _names(partitions))
            if self._on_assigned_notes is not None:
                try:
                    noted = consumer.committed(partitions, 10)
                    self._on_assigned_notes([c.metadata for c in noted])
                except KafkaException as exc:
                    log.warning("committed offsets' notes not read at assignment: %s", exc)
            if log.isEnabledFor(logging.DEBUG):
                got = consumer.committed(partitions, 10)
                log.debug("committed at assignment: %s", [(c.partition, c.offset) for c in got])
        self._pausing.assigned(tps)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("revoked").inc()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if not self._status.fatal and self._health.producer_ready:
            self._commit_revoked(revoked)
        self.drop(list(revoked))
        if self._selection is not None:
            self._selection.revoked(list(revoked))
        if partitions:
            log.info("revoked %s", _names(partitions))

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The session expired: another instance may own these already. Nothing of theirs
        # may be committed; a late commit would be fenced by the broker anyway.
        m.REBALANCES.labels("lost").inc()
        log.warning("assignment lost: %s", _names(partitions))
        self.drop([(tp.topic, tp.partition) for tp in partitions])
        if self._selection is not None:
            self._selection.revoked([(tp.topic, tp.partition) for tp in partitions])

    def _commit_revoked(self, revoked: set[TP]) -> None:
        """Commit what is done for the partitions leaving us, blocking (inside consume()).

        The commit under way goes first: what it wrote is done, or, aborted, is written again
        here. Not the positions: consume() may already hold records of these partitions that
        will never be taken; the next owner must read them.
        """
        try:
            batch = self._txn.settle_now()
            if batch is not None:
                self._on_committed(batch)
        except Stuck as exc:
            self._replace(str(exc))
            return
        except Fatal as exc:
            self._status.fatal = str(exc)
            return
        batch, _ = self._window.prefixes(only=revoked)
        if not batch:
            return
        try:
            self._txn.transact(batch, self._consumer.consumer_group_metadata())
            self._on_committed(batch)
        except Stuck as exc:
            self._replace(str(exc))
        except Abort as exc:
            self._txn.abort(f"commit on revoke, the next owner redoes it: {exc}")
        except Fatal as exc:
            self._status.fatal = str(exc)

    def _replace(self, why: str) -> None:
        # Nothing more is committed here: what was in flight may be committed already. The
        # next owner reads from the committed offsets; the loop rewinds the rest.
        try:
            self._txn.replace_now(why)
        except Fatal as exc:
            self._status.fatal = str(exc)

    def drop(self, tps: list[TP]) -> None:
        """Partitions leave the window: their queues, pauses and lag series go."""
        dropped = self._window.drop(tps)
        self._pausing.forget(tps)
        self._observer.dropped(dropped)

    def rewind(self) -> None:
        """Drop every queue and seek each assigned partition back to its committed offset."""
        tps = list(self._window.queues)
        # The partitions stay assigned, so librdkafka keeps their pauses: pausing keeps its
        # record of them too (``drop`` would forget it), and resumes them as the emptied
        # queues allow. Forgotten, a partition paused by backpressure stays paused for good.
        self._observer.dropped(self._window.drop(tps))
        if self._selection is not None:
            self._selection.rewound(tps)  # what was spent past the committed offsets
        self._window.open(tps)
        if not tps:
            return
        committed = self._consumer.committed([TopicPartition(t, p) for t, p in tps], 30)
        for c in committed:
            target = TopicPartition(
                c.topic, c.partition, c.offset if c.offset >= 0 else self._reset
            )
            try:
                self._consumer.seek(target)
            except KafkaException as exc:
                # A partition not fetching yet cannot seek; re-assigning it at the committed
                # offset has the same effect.
                log.warning("seek %s[%d]: %s; re-assigning", c.topic, c.partition, exc)
                self._consumer.incremental_unassign([TopicPartition(c.topic, c.partition)])
                self._consumer.incremental_assign([target])
        log.warning("rewound %d partitions to their committed offsets", len(tps))


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
