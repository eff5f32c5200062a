"""The rebalance: what assign, revoke and lost do to the window and the transaction.

librdkafka calls these from inside ``consume()`` (cooperative-sticky: only the partitions
that move). A revoke, unless the assignment was lost, commits the revoked partitions'
finished prefix first, after the commit under way; the next owner starts from there and
redoes only the rest. A lost assignment commits nothing: another instance may own it
already, and a late commit from here would be fenced by the broker anyway.
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, TopicPartition

from consumer.errors import Fatal
from consumer.observe import metrics as m
from consumer.observe.health import Health
from consumer.runner.calls import Abort, Stuck
from consumer.runner.commit import Commits
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.observation import Observer
from consumer.runner.pausing import Pausing
from consumer.runner.status import Status
from consumer.runner.transaction import Transaction
from consumer.runner.window import TP, Window

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
        commits: Commits,
        observer: Observer,
        metadata: OffsetMetadata,
        health: Health,
        status: Status,
    ) -> None:
        """
        :param consumer: the consumer whose assignment this follows
        :param window: gets a queue per assigned partition, loses it on revoke or loss
        :param pausing: new partitions are paused while it holds
        :param transaction: commits what is finished on revoke
        :param commits: records what a revoke committed, as after any commit
        :param observer: drops a partition's lag series when it leaves
        :param metadata: the state kept with the offsets follows the partitions
        :param health: the group is joined at the first assignment
        :param status: nothing is committed once fatal
        """
        self._consumer = consumer
        self._window = window
        self._pausing = pausing
        self._txn = transaction
        self._commits = commits
        self._observer = observer
        self._metadata = metadata
        self._health = health
        self._status = status

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("assigned").inc()
        self._health.group_joined = True
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._window.open(tps)
        m.ASSIGNED.set(len(self._window.queues))
        if partitions:
            log.info("assigned %s", _names(partitions))
        self._metadata.assigned(consumer, partitions)
        if partitions and log.isEnabledFor(logging.DEBUG):
            got = consumer.committed(partitions, 10)
            log.debug("committed at assignment: %s", [(c.partition, c.offset) for c in got])
        self._pausing.assigned(tps)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("revoked").inc()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if not self._status.fatal and self._health.producer_ready:
            self._commit_revoked(revoked)
        self.drop(list(revoked))
        self._metadata.revoked(list(revoked))
        if partitions:
            log.info("revoked %s", _names(partitions))

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The session expired: another instance may own these already. Nothing of theirs
        # may be committed; a late commit would be fenced by the broker anyway.
        m.REBALANCES.labels("lost").inc()
        log.warning("assignment lost: %s", _names(partitions))
        lost = [(tp.topic, tp.partition) for tp in partitions]
        self.drop(lost)
        self._metadata.revoked(lost)

    def _commit_revoked(self, revoked: set[TP]) -> None:
        """Commit what is done for the partitions leaving us, blocking (inside consume()).

        The commit under way goes first: what it wrote is done, or, aborted, is written again
        here. Not the positions: consume() may already hold records of these partitions that
        will never be taken; the next owner must read them.
        """
        try:
            batch = self._txn.settle_now()
            if batch is not None:
                self._commits.recorded(batch)
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
            self._commits.recorded(batch)
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


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
