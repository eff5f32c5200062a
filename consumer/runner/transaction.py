"""The transaction: begin, produce, send the offsets, commit on a thread; abort; replace.

One transaction is open at a time. The loop begins it and produces its outputs (local calls:
librdkafka sends them in the background); the two calls that wait for the broker, sending
the offsets and committing, run on a thread (``start``) while the loop goes on reading and
finishing records, and ``settle`` waits for them. An aborted transaction is written again
from the same outcomes, which are still in the window: no generation is redone. Only when
the same work aborts ``ABORTS_BEFORE_REWIND`` times in a row does the loop rewind.

How each librdkafka call is retried and watched is calls.py's; which producer makes it is
producers.py's (a stuck one is replaced); what each offset carries is metadata.py's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer, TopicPartition

from consumer.observe import metrics as m
from consumer.observe.health import Health
from consumer.outcomes import DeadLetter, Disputed, Produced
from consumer.runner.calls import TXN_TIMEOUT_S, Abort, Calls, classify
from consumer.runner.kafka import ClientErrors, dead_letter_headers
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.producers import Producers
from consumer.runner.status import Status
from consumer.runner.threads import off_loop, on_thread
from consumer.runner.window import Batch, Entry

__all__ = ["ABORTS_BEFORE_REWIND", "Committing", "Transaction"]

log = logging.getLogger(__name__)

ABORTS_BEFORE_REWIND = 3
ABORT_GIVE_UP_S = 90.0  # an abort still failing this long after the broker came back


@dataclass(slots=True)
class Committing:
    """A transaction whose outputs are written: its offsets and commit run on a thread."""

    batch: Batch
    done: concurrent.futures.Future[float]  # when the commit returned (monotonic)
    started: float


class Transaction:
    """The transactional producer's calls, one transaction at a time."""

    def __init__(
        self,
        *,
        producer: Producer,
        output_topic: str,
        dlq_topic: str,
        health: Health,
        status: Status,
        client_errors: ClientErrors | None = None,
        disputed_topic: str | None = None,
        metadata: OffsetMetadata | None = None,
        new_producer: Callable[[], Producer] | None = None,
    ) -> None:
        """
        :param producer: a transactional producer (``transactional.id`` set)
        :param output_topic: where a record's two cards go
        :param dlq_topic: where a record's dead letter goes
        :param health: kept alive while a call waits for the broker
        :param status: read for a stop while waiting at start
        :param client_errors: the clients' error callback, read for refused credentials
        :param disputed_topic: where a pair the judge got wrong in both orders goes (unset:
            nowhere)
        :param metadata: what each offset carries (the pair budget's spending, the
            curriculum's levels); None: nothing
        :param new_producer: makes a producer like ``producer`` (the same transactional.id)
            to replace one stuck inside librdkafka; without it a stuck call is ``Fatal``
        """
        self._producers = Producers(producer=producer, new_producer=new_producer)
        self.calls = Calls(
            producers=self._producers, health=health, status=status, client_errors=client_errors
        )
        self._metadata = metadata if metadata is not None else OffsetMetadata()
        self._output_topic = output_topic
        self._dlq_topic = dlq_topic
        self._disputed_topic = disputed_topic
        # A producer was replaced inside a rebalance callback: the loop rewinds next.
        self.rewind_due = False
        self.committing: Committing | None = None  # at most one transaction at a time
        self.aborts_in_a_row = 0

    @property
    def producer(self) -> Producer:
        """The producer in use (a replaced one is not)."""
        return self._producers.current

    async def init(self) -> bool:
        """``init_transactions``, for as long as the broker takes; False if stopped meanwhile."""
        calls = self.calls
        work = off_loop(calls.call, self.producer.init_transactions, TXN_TIMEOUT_S)
        return await calls.wait(work, stop_aware=True)

    # -- one transaction -------------------------------------------------------------------

    def start(self, batch: Batch, group_metadata: Any) -> None:
        """Write the batch in a new transaction and leave its offsets and commit to a thread.

        Raises ``Abort`` when the writing already failed (nothing is under way then).
        """
        started = time.monotonic()
        self._write(batch)
        offsets = self._metadata.offsets(batch)
        self.committing = Committing(batch, on_thread(self._end, offsets, group_metadata), started)

    async def settle(self) -> Batch | None:
        """Wait for the commit under way, if any; the batch it committed.

        Raises ``Abort`` when the broker refused it; the transaction is then no longer under
        way but still open: ``abort_and_retry`` it.
        """
        committing = self.committing
        if committing is None:
            return None
        try:
            await self.calls.wait(asyncio.wrap_future(committing.done))
        except Abort:
            self.committing = None
            raise
        self.committing = None
        return self._commit_returned(committing, committing.done.result())

    def settle_now(self) -> Batch | None:
        """``settle`` inside a rebalance callback, where nothing can be awaited; an abort is
        aborted here (its outcomes are still queued, so whatever is written next has them)."""
        committing, self.committing = self.committing, None
        if committing is None:
            return None
        try:
            ended = self.calls.wait_unless_stuck(committing.done)
        except Abort as exc:
            self.abort(str(exc))
            return None
        return self._commit_returned(committing, ended)

    def transact(self, batch: Batch, group_metadata: Any) -> None:
        """One whole transaction, blocking: the batch's outputs and its offsets, or nothing.

        Its broker calls run on a thread, so a stuck one is seen (``Stuck``).
        """
        started = time.monotonic()
        self._write(batch)
        offsets = self._metadata.offsets(batch)
        self.calls.wait_unless_stuck(on_thread(self._end, offsets, group_metadata))
        m.COMMIT_SECONDS.observe(time.monotonic() - started)

    def abort(self, why: str, *, give_up_s: float | None = None) -> None:
        """Abort the open transaction (blocking). Nothing of it is visible to readers."""
        m.TRANSACTIONS.labels("aborted").inc()
        log.warning("transaction aborted: %s", why)
        self.calls.call(self.producer.abort_transaction, TXN_TIMEOUT_S, give_up_s=give_up_s)

    async def abort_and_retry(self, why: str) -> bool:
        """Abort off the loop; the same outcomes are written by the next transaction.

        True when the same work has now aborted ``ABORTS_BEFORE_REWIND`` times in a row:
        the caller rewinds to the committed offsets instead.
        """
        self.aborts_in_a_row += 1
        # An abort that keeps timing out after the broker is back means librdkafka's
        # coordinator state is stuck (a broker restart can leave it so): exit, the restart
        # fences it.
        why = f"{why} ({self.aborts_in_a_row} in a row)"
        await self.calls.wait(
            off_loop(functools.partial(self.abort, why, give_up_s=ABORT_GIVE_UP_S))
        )
        if self.aborts_in_a_row >= ABORTS_BEFORE_REWIND:
            self.aborts_in_a_row = 0
            return True
        return False

    # -- a stuck producer --------------------------------------------------------------------

    async def replace(self, why: str) -> None:
        """Leave a producer whose call is stuck in librdkafka; go on with a new one.

        The new producer's init_transactions fences the old one: the broker ends its open
        transaction (committed, if its commit had reached the coordinator, else aborted) and
        accepts nothing more from it. Which one happened shows only in the committed offsets:
        the caller rewinds every partition to them, so what was in flight is done again.
        """
        fresh = self._swap(why)
        await self.calls.wait(off_loop(self.calls.call, fresh.init_transactions, TXN_TIMEOUT_S))

    def replace_now(self, why: str) -> None:
        """``replace`` inside a rebalance callback; the loop rewinds next (``rewind_due``)."""
        fresh = self._swap(why)
        self.calls.call(fresh.init_transactions, TXN_TIMEOUT_S)
        self.rewind_due = True

    def _swap(self, why: str) -> Producer:
        fresh = self._producers.replace(why)
        self.calls.in_call = None
        self.committing = None
        self.aborts_in_a_row = 0
        return fresh

    def _commit_returned(self, committing: Committing, ended: float) -> Batch:
        m.COMMIT_SECONDS.observe(ended - committing.started)
        self.aborts_in_a_row = 0
        return committing.batch

    def _write(self, batch: Batch) -> None:
        """Begin a transaction and produce the batch's outputs into it: local, no waiting
        for the broker (librdkafka sends them in the background)."""
        producer = self.producer
        self.calls.call(producer.begin_transaction)
        for _, entries, _ in batch:
            for entry in entries:
                self._produce_outcome(producer, entry)

    def _end(self, offsets: list[TopicPartition], group_metadata: Any) -> float:
        """Add the batch's offsets to the open transaction and commit it (blocking, on a
        thread: the producer is not used by anything else until this returns); returns when
        the commit returned."""
        p, call = self.producer, self.calls.call
        # Not retried in place: a failure here (the broker restarted, the group moved on)
        # leaves stale group metadata; abort, poll (which rejoins the group), write again.
        call(p.send_offsets_to_transaction, offsets, group_metadata, TXN_TIMEOUT_S, retry=False)
        call(p.commit_transaction, TXN_TIMEOUT_S)
        return time.monotonic()

    def _produce_outcome(self, producer: Producer, entry: Entry) -> None:
        out, ref = entry.outcome, entry.ref
        if isinstance(out, Produced):
            for value in out.cards:
                _produce(producer, self._output_topic, out.key, value, None)
        elif isinstance(out, DeadLetter):
            headers = dead_letter_headers(ref, out)
            _produce(producer, self._dlq_topic, ref.key, ref.value, headers)
        elif isinstance(out, Disputed) and self._disputed_topic:
            _produce(producer, self._disputed_topic, out.key, out.value, None)


def _produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[Any] | None,
) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)  # local queue full: let deliveries drain
        except KafkaException as exc:
            raise classify(exc, "produce") from exc
