"""The transaction: begin, produce, send the offsets, commit on a thread; abort; the watchdog.

One transaction is open at a time. The loop begins it and produces its outputs (local calls:
librdkafka sends them in the background); the two calls that wait for the broker, sending
the offsets and committing, run on a thread (``start``) while the loop goes on reading and
finishing records, and ``settle`` waits for them. An aborted transaction is written again
from the same outcomes, which are still in the window: no generation is redone. Only when
the same work aborts ``ABORTS_BEFORE_REWIND`` times in a row does the loop rewind.

librdkafka's errors are sorted here into three kinds: retriable (the call is retried in
place), abortable (``Abort``: abort the transaction and write it again) and fatal (``Fatal``:
the process exits and its restart fences what was open). A call that never returns
(``Stuck``) leaves its producer behind: ``replace`` makes a new one, which fences it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer, TopicPartition

from consumer.errors import Fatal
from consumer.observe import metrics as m
from consumer.observe.health import Health
from consumer.pipeline import DeadLetter, Disputed, Produced
from consumer.runner.kafka import ClientErrors, dead_letter_headers, kafka_error
from consumer.runner.status import Status
from consumer.runner.threads import off_loop, on_thread
from consumer.runner.window import Batch, Entry
from consumer.selection.seam import SelectionSeam
from consumer.wire import offset_notes

__all__ = [
    "ABORTS_BEFORE_REWIND",
    "CALL_STUCK_S",
    "TXN_TIMEOUT_S",
    "Abort",
    "Committing",
    "Stuck",
    "Transaction",
]

log = logging.getLogger(__name__)

# One attempt of a librdkafka transactional call; a retriable error (a timeout included) is
# retried, or, for the offsets, aborts the transaction. A coordinator that moves answers
# within a few seconds; 10 s keeps a partition's longest stall under 30 s (CALL_STUCK_S, then
# a new producer's start).
TXN_TIMEOUT_S = 10.0
ABORTS_BEFORE_REWIND = 3
# An attempt still blocked this long after it began is stuck, not slow: librdkafka's
# send_offsets_to_transaction ignores its timeout (confluentinc/librdkafka#5456) and waits
# for ever for a group coordinator whose broker left the cluster's metadata, as a broker
# shut down cleanly does in a rolling restart (#5511; both open in librdkafka 2.16). Nothing
# from the client wakes it, so the producer is replaced (``Transaction.replace``).
CALL_STUCK_S = TXN_TIMEOUT_S + 5.0
# Each replacement leaves a thread blocked in librdkafka with its producer; past this many a
# restart is cleaner.
REPLACEMENTS_BEFORE_EXIT = 5
ABORT_GIVE_UP_S = 90.0  # an abort still failing this long after the broker came back


class Abort(Exception):
    """The transaction must be aborted (librdkafka said txn_requires_abort)."""


class Stuck(Fatal):
    """A transactional call blocked far past its timeout: the producer must be replaced
    (where nothing replaces it, the process exits, as for any ``Fatal``)."""


def classify(exc: KafkaException, what: str) -> Exception:
    """A librdkafka error that is not retried: abort the transaction, or exit."""
    err = kafka_error(exc)
    if err.txn_requires_abort():
        return Abort(f"{what}: {err.str()}")
    return Fatal(f"{what}: {err.str()}")


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
        offset_note: Callable[[], str] | None = None,
        new_producer: Callable[[], Producer] | None = None,
        selection: SelectionSeam | None = None,
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
        :param offset_note: state committed with every transaction's offsets, as a section
            of each partition's offset metadata (the difficulty curriculum's levels); read on
            the loop
        :param new_producer: makes a producer like ``producer`` (the same transactional.id)
            to replace one stuck inside librdkafka; without it a stuck call is ``Fatal``
        :param selection: gives each offset its section of metadata (the pair budget's
            spending)
        """
        self._producer = producer
        self._disputed_topic = disputed_topic
        self._offset_note = offset_note
        self._selection = selection
        self._new_producer = new_producer
        self._abandoned: list[Producer] = []  # replaced while stuck; never closed (replace)
        # A producer was replaced inside a rebalance callback: the loop rewinds next.
        self.rewind_due = False
        self._output_topic = output_topic
        self._dlq_topic = dlq_topic
        self._health = health
        self._status = status
        self._client_errors = client_errors
        self.in_call: tuple[str, float] | None = None  # the librdkafka call under way, since
        self.committing: Committing | None = None  # at most one transaction at a time
        self.aborts_in_a_row = 0

    @property
    def producer(self) -> Producer:
        """The producer in use (a replaced one is not)."""
        return self._producer

    async def init(self) -> bool:
        """``init_transactions``, for as long as the broker takes; False if stopped meanwhile."""
        work = off_loop(self.call, self._producer.init_transactions, TXN_TIMEOUT_S)
        return await self.wait(work, stop_aware=True)

    # -- one transaction -------------------------------------------------------------------

    def start(self, batch: Batch, group_metadata: Any) -> None:
        """Write the batch in a new transaction and leave its offsets and commit to a thread.

        Raises ``Abort`` when the writing already failed (nothing is under way then).
        """
        started = time.monotonic()
        self._write(batch)
        done = on_thread(self._end, batch, group_metadata, self._offsets(batch))
        self.committing = Committing(batch, done, started)

    async def settle(self) -> Batch | None:
        """Wait for the commit under way, if any; the batch it committed.

        Raises ``Abort`` when the broker refused it; the transaction is then no longer under
        way but still open: ``abort_and_retry`` it.
        """
        committing = self.committing
        if committing is None:
            return None
        try:
            await self.wait(asyncio.wrap_future(committing.done))
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
            ended = self._wait_unless_stuck(committing.done)
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
        self._wait_unless_stuck(on_thread(self._end, batch, group_metadata, self._offsets(batch)))
        m.COMMIT_SECONDS.observe(time.monotonic() - started)

    def abort(self, why: str, *, give_up_s: float | None = None) -> None:
        """Abort the open transaction (blocking). Nothing of it is visible to readers."""
        m.TRANSACTIONS.labels("aborted").inc()
        log.warning("transaction aborted: %s", why)
        self.call(self._producer.abort_transaction, TXN_TIMEOUT_S, give_up_s=give_up_s)

    async def abort_and_retry(self, why: str) -> bool:
        """Abort off the loop; the same outcomes are written by the next transaction.

        True when the same work has now aborted ``ABORTS_BEFORE_REWIND`` times in a row:
        the caller rewinds to the committed offsets instead.
        """
        self.aborts_in_a_row += 1
        # An abort that keeps timing out after the broker is back means librdkafka's
        # coordinator state is stuck (a broker restart can leave it so): exit, the restart
        # fences it.
        await self.wait(
            off_loop(
                functools.partial(
                    self.abort,
                    f"{why} ({self.aborts_in_a_row} in a row)",
                    give_up_s=ABORT_GIVE_UP_S,
                )
            )
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
        self._swap(why)
        await self.wait(off_loop(self.call, self._producer.init_transactions, TXN_TIMEOUT_S))

    def replace_now(self, why: str) -> None:
        """``replace`` inside a rebalance callback; the loop rewinds next (``rewind_due``)."""
        self._swap(why)
        self.call(self._producer.init_transactions, TXN_TIMEOUT_S)
        self.rewind_due = True

    def _swap(self, why: str) -> None:
        if self._new_producer is None or len(self._abandoned) >= REPLACEMENTS_BEFORE_EXIT:
            raise Fatal(why)
        m.TRANSACTIONS.labels("aborted").inc()
        log.warning("%s (librdkafka#5511): replacing the producer, rewinding to the commit", why)
        # Not closed: its stuck call holds it, and closing would wait for that call. Kept
        # referenced, so it is not freed (and flushed) under that thread either.
        self._abandoned.append(self._producer)
        self._producer = self._new_producer()
        self.in_call = None
        self.committing = None
        self.aborts_in_a_row = 0

    def _commit_returned(self, committing: Committing, ended: float) -> Batch:
        m.COMMIT_SECONDS.observe(ended - committing.started)
        self.aborts_in_a_row = 0
        return committing.batch

    def _write(self, batch: Batch) -> None:
        """Begin a transaction and produce the batch's outputs into it: local, no waiting
        for the broker (librdkafka sends them in the background)."""
        self.call(self._producer.begin_transaction)
        for _, entries, _ in batch:
            for entry in entries:
                self._produce_outcome(entry)

    def _offsets(self, batch: Batch) -> list[TopicPartition]:
        """The batch's offsets, each with its partition's metadata: the pair budget's
        spending (consumer/selection/ledger.py) and the curriculum's levels
        (consumer/judge/curriculum.py), each its own section (consumer/wire/offset_notes.py), in
        the same transaction as the outcomes they count. Built on the loop, which owns both."""
        note = self._offset_note() if self._offset_note is not None else None
        offsets = []
        for (topic, part), _, offset in batch:
            spent = self._selection.metadata((topic, part), offset) if self._selection else None
            meta = offset_notes.join((spent, note))
            if meta is None:
                offsets.append(TopicPartition(topic, part, offset))
            else:
                offsets.append(TopicPartition(topic, part, offset, metadata=meta))
        return offsets

    def _end(self, batch: Batch, group_metadata: Any, offsets: list[TopicPartition]) -> float:
        """Add the batch's offsets to the open transaction and commit it (blocking, on a
        thread: the producer is not used by anything else until this returns); returns when
        the commit returned."""
        p = self._producer
        # Not retried in place: a failure here (the broker restarted, the group moved on)
        # leaves stale group metadata; abort, poll (which rejoins the group), write again.
        self.call(
            p.send_offsets_to_transaction, offsets, group_metadata, TXN_TIMEOUT_S, retry=False
        )
        self.call(p.commit_transaction, TXN_TIMEOUT_S)
        return time.monotonic()

    def _produce_outcome(self, entry: Entry) -> None:
        out, ref = entry.outcome, entry.ref
        if isinstance(out, Produced):
            for value in out.cards:
                self._produce(self._output_topic, out.key, value, None)
        elif isinstance(out, DeadLetter):
            self._produce(self._dlq_topic, ref.key, ref.value, dead_letter_headers(ref, out))
        elif isinstance(out, Disputed) and self._disputed_topic:
            self._produce(self._disputed_topic, out.key, out.value, None)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any] | None
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain
            except KafkaException as exc:
                raise classify(exc, "produce") from exc

    # -- librdkafka's calls ----------------------------------------------------------------

    def call(
        self, fn: Callable[..., Any], *args: Any, retry: bool = True, give_up_s: float | None = None
    ) -> Any:
        """A transactional call, retried while librdkafka says it is retriable.

        :param retry: False: a retriable error aborts the transaction instead
        :param give_up_s: how long a retried call may keep failing before the process exits
        """
        delay = 0.1
        first = time.monotonic()
        while True:
            call = self.in_call = (fn.__name__, time.monotonic())
            try:
                return fn(*args)
            except KafkaException as exc:
                err = kafka_error(exc)
                if not retry and err.retriable() and not err.fatal():
                    raise Abort(f"{fn.__name__}: {err.str()}") from exc
                if give_up_s is not None and time.monotonic() - first > give_up_s:
                    raise Fatal(
                        f"{fn.__name__} still failing after {give_up_s:.0f}s: {err.str()}"
                    ) from exc
                if err.retriable() and not err.fatal() and not err.txn_requires_abort():
                    log.warning("%s: %s (retrying)", fn.__name__, err.str())
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise classify(exc, fn.__name__) from exc
            finally:
                if self.in_call is call:  # else a replaced producer's call, ending late
                    self.in_call = None

    async def wait(self, work: Awaitable[Any], *, stop_aware: bool = False) -> bool:
        """Await a call made on a thread, with the watchdog: True once it returned.

        A commit waits for the broker, for as long as it is down. That is not a stuck loop:
        /healthz stays alive while the loop itself stays responsive. A single call blocked far
        past its own timeout is stuck, though (``CALL_STUCK_S``): ``Stuck``.

        :param stop_aware: give up (False) when a stop is requested meanwhile; the thread is
            left to the process's exit
        """
        task = asyncio.ensure_future(work)
        while True:
            done, _ = await asyncio.wait({task}, timeout=1.0)
            self._health.polled()
            if done:
                task.result()
                return True
            if stop_aware and self._status.stopping:
                return False
            # The producer's error_cb runs only when it is polled: a refused login while a
            # call waits for the broker (init_transactions at start) shows nowhere else.
            self._producer.poll(0)
            self.check_login()
            self._raise_if_stuck(task)

    def _raise_if_stuck(self, waiting: asyncio.Future[Any] | None = None) -> None:
        call = self.in_call
        if call is not None and time.monotonic() - call[1] > CALL_STUCK_S:
            if waiting is not None:
                waiting.cancel()  # nobody awaits it now; should the call ever end, it is moot
            raise Stuck(f"{call[0]} has not returned after {CALL_STUCK_S:.0f}s")

    def _wait_unless_stuck(self, done: concurrent.futures.Future[float]) -> float:
        """``done``'s result, waited for without the event loop (in a rebalance callback)."""
        while True:
            try:
                return done.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                self._raise_if_stuck()

    def check_login(self) -> None:
        """``Fatal`` when Kafka refused our credentials.

        Wrong credentials do not fix themselves: exit (1) with the reason instead of retrying
        for ever, so the crash loop shows the cause.
        """
        why = self._client_errors.auth_failure if self._client_errors is not None else None
        if why is not None:
            raise Fatal(f"Kafka refused our credentials: {why}")
