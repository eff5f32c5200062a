"""The loop: poll, accept, commit what is finished, drain on stop. Exactly once.

It reads like librdkafka's ``examples/transactions.c``: subscribe with rebalance callbacks,
then until stopped: poll a batch, start each record's work, and every commit interval write
the finished prefixes in one transaction with the offsets that move past them. The state
lives in the collaborators, a module each (``window``, ``pausing``, ``transaction``,
``rebalance``, ``observation``; docs/architecture.md draws who owns what).

No transaction is open while anything slow (the LLM, the registry) is awaited. The commit's
two broker calls run on a thread while the loop goes on reading and finishing records; those
wait in the window for the next transaction (the README's "Exactly once" section).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from consumer.errors import AuthFailure, Fatal
from consumer.events import SourceRef
from consumer.observe.health import Health
from consumer.pipeline import DeadLetter, Disputed, Outcome, Pending, Pipeline, Produced, Skipped
from consumer.runner.kafka import ClientErrors, to_ref
from consumer.runner.observation import Observer
from consumer.runner.pausing import Pausing
from consumer.runner.rebalance import Rebalance
from consumer.runner.status import Status
from consumer.runner.transaction import Abort, Stuck, Transaction
from consumer.runner.window import TP, Batch, Entry, Window
from consumer.selection.seam import SelectionSeam
from consumer.settings import Settings

__all__ = ["Runner"]

log = logging.getLogger(__name__)

_BATCH = 500  # records taken per consume() call
_IDLE_TICK_S = 0.005  # sleep when consume() returned nothing: latency vs idle CPU
# How long the loop reads on while a commit waits for the broker (7-30 ms at full speed). A
# commit slower than this means the broker is slow or away: reading on would only fill the
# window, and a rebalance taken meanwhile is worse: once the session times out, consume()
# can deliver the lost assignment and then the new one while send_offsets_to_transaction
# still waits with the old generation, and it never returns. Waiting for the commit leaves
# the rebalance for after it.
_READ_DURING_COMMIT_S = 1.0
_LAG_EVERY_S = 5.0
# A tuple: isinstance on an X | Y is slower.
_KNOWN_AT_ONCE = (Produced, DeadLetter, Skipped, Disputed)


class Runner:
    """Consume-generate-produce, exactly once (the README's "Exactly once" says why)."""

    def __init__(
        self,
        *,
        settings: Settings,
        pipeline: Pipeline,
        consumer: Consumer,
        producer: Producer,
        health: Health,
        on_commit: Callable[[dict[TP, int]], None] | None = None,
        client_errors: ClientErrors | None = None,
        offset_note: Callable[[], str] | None = None,
        on_assigned_notes: Callable[[list[str | None]], None] | None = None,
        new_producer: Callable[[], Producer] | None = None,
        selection: SelectionSeam | None = None,
    ) -> None:
        """
        :param settings: topics, the window's limits, the commit interval, the drain timeout
        :param pipeline: turns each record into its outcome
        :param consumer: subscribed here; ``enable.auto.commit`` off, ``read_committed``
        :param producer: transactional; nothing else uses it
        :param health: what /healthz and /readyz report
        :param on_commit: called after each commit with every partition's committed offset
        :param client_errors: the clients' error callback, read for refused credentials
        :param offset_note: state committed with every transaction's offsets, as a section
            of each partition's offset metadata (the difficulty curriculum's levels;
            consumer/wire/offset_notes.py)
        :param on_assigned_notes: given the offset metadata committed for partitions as they
            are assigned, so that state follows its partitions across restarts and rebalances
        :param new_producer: makes a producer like ``producer`` (the same transactional.id),
            to replace one stuck inside librdkafka; without it a stuck call ends the process
        :param selection: the pair budget's seam (consumer/selection): told what is assigned,
            revoked, committed and rewound; writes each partition's spending as a section of
            its offset metadata. None: no budget.
        """
        self._s = settings
        self._selection = selection
        self._pipeline = pipeline
        self._consumer = consumer
        self._health = health
        self._on_commit = on_commit
        self._status = Status()
        self._window = Window()
        self._pausing = Pausing(
            consumer=consumer,
            max_in_flight=settings.max_in_flight,
            per_partition=settings.max_in_flight_per_partition,
        )
        self._txn = Transaction(
            producer=producer,
            output_topic=settings.output_topic,
            dlq_topic=settings.dlq_topic,
            health=health,
            status=self._status,
            client_errors=client_errors,
            disputed_topic=settings.disputed_topic,
            offset_note=offset_note,
            new_producer=new_producer,
            selection=selection,
        )
        self._observer = Observer(
            consumer=consumer, window=self._window, pausing=self._pausing, health=health
        )
        self._rebalance = Rebalance(
            consumer=consumer,
            window=self._window,
            pausing=self._pausing,
            transaction=self._txn,
            observer=self._observer,
            health=health,
            status=self._status,
            on_committed=self._record_commit,
            selection=selection,
            reset_to_latest=settings.offset_reset == "latest",
            on_assigned_notes=on_assigned_notes,
        )
        self._lag_task: asyncio.Future[None] | None = None

    @property
    def committed(self) -> dict[TP, int]:
        """Per partition, the offset this instance last committed."""
        return self._window.committed

    # -- lifecycle ---------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful stop (SIGTERM): the loop drains and returns."""
        if not self._status.stopping:
            log.info("stop requested: draining in-flight work")
        self._status.stopping = True
        self._pausing.hold()

    async def run(self) -> None:
        """Run until ``request_stop``; raises ``Fatal`` when exactly-once cannot continue.

        On stop, in-flight work gets ``drain_timeout_s`` to finish; keep that inside the pod's
        terminationGracePeriodSeconds minus one commit (the Helm chart derives it).
        """
        if not await self._txn.init():
            # Stopped while waiting for the broker at start: nothing was read or written.
            log.info("stopped before the producer was initialised")
            self._health.stop("shut down")
            return
        self._health.producer_ready = True
        self._consumer.subscribe(
            [self._s.input_topic],
            on_assign=self._rebalance.on_assign,
            on_revoke=self._rebalance.on_revoke,
            on_lost=self._rebalance.on_lost,
        )
        try:
            await self._loop()
            await self._drain()
        except BaseException as exc:
            self._status.fatal = self._status.fatal or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if self._lag_task is not None:
                self._lag_task.cancel()
            self._close()

    async def _loop(self) -> None:
        interval = self._s.commit_interval_ms / 1000
        max_total, per_tp = self._s.max_in_flight, self._s.max_in_flight_per_partition
        # Commit early once this many more records are finished: with the interval alone a
        # partition's queue reaches its limit at full speed, and every pause drops what
        # librdkafka had fetched for it (fetched again on resume), leaving the loop idle.
        early = max(1, min(max_total, per_tp) // 2)
        next_commit = time.monotonic() + interval
        ready_after_commit = 0
        next_lag = 0.0
        window = self._window
        while not self._status.stopping:
            msgs = self._poll()
            if self._txn.rewind_due:
                # The producer was replaced in a rebalance callback: what was in flight may be
                # committed already. Read again from the committed offsets (these records too).
                self._txn.rewind_due = False
                self._rebalance.rewind()
                continue
            for msg in msgs:
                self._accept(msg)
            committing = self._txn.committing
            if committing is not None and (
                committing.done.done()
                or window.full(max_in_flight=max_total, per_partition=per_tp)
                or time.monotonic() - committing.started > _READ_DURING_COMMIT_S
            ):
                # A full window waits for the commit under way, which empties it, instead of
                # pausing partitions. So does a slow commit: see _READ_DURING_COMMIT_S.
                await self._finish_commit()
            self._pausing.apply(window)
            now = time.monotonic()
            due = now >= next_commit or window.ready - ready_after_commit >= early
            if due and self._txn.committing is None:
                written = await self._start_commit()
                next_commit = time.monotonic() + interval
                # Finished records behind an unfinished one stay; only new ones count (the
                # ones being committed leave window.ready when their commit is done).
                ready_after_commit = window.ready - written
            if now >= next_lag and (self._lag_task is None or self._lag_task.done()):
                # In the background: a paused partition's watermark is a broker round trip,
                # and the loop must not stop committing for a metric.
                self._lag_task = asyncio.ensure_future(self._observer.refresh_lag())
                next_lag = now + _LAG_EVERY_S
            await asyncio.sleep(0 if msgs else _IDLE_TICK_S)

    async def _drain(self) -> None:
        log.info(
            "draining: %d records in flight, %d still generating; up to %.0fs",
            self._window.in_flight,
            self._window.unfinished(),
            self._s.drain_timeout_s,
        )
        self._pausing.hold(list(self._window.queues))
        # Before the first poll below: no rebalance is taken while a commit waits (each
        # _commit_cycle then ends with nothing under way).
        await self._finish_commit()
        deadline = time.monotonic() + self._s.drain_timeout_s
        interval = self._s.commit_interval_ms / 1000
        while self._window.unfinished() and time.monotonic() < deadline:
            # Keep polling: group membership depends on it. Records that still arrive are not
            # taken (their offsets are never committed, so the next owner reads them).
            self._poll()
            if self._txn.rewind_due:
                break  # the producer was replaced: the next owner reads from the commit
            await self._commit_cycle()
            await asyncio.sleep(interval)
        await self._commit_cycle()
        abandoned = self._window.unfinished()
        if abandoned:
            log.warning(
                "drain deadline reached: %d records abandoned, the next owner redoes them",
                abandoned,
            )
        self._rebalance.drop(list(self._window.queues))

    def _close(self) -> None:
        # close() revokes the assignment (on_revoke commits what is done unless we are
        # fatal) and leaves the group at once, so the partitions move without a timeout.
        # (A static member, group.instance.id set, does not leave: its partitions wait for
        # the session timeout or for the same pod to come back, which is the point of it.)
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer close: %s", exc)
        self._txn.producer.flush(10)
        self._health.stop("shut down")

    # -- intake --------------------------------------------------------------------------

    def _poll(self) -> list[Message]:
        msgs: list[Message] = self._consumer.consume(_BATCH, 0)
        self._health.polled()
        if self._status.fatal:
            raise Fatal(self._status.fatal)
        self._txn.check_login()
        good = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.fatal():
                raise Fatal(f"consumer: {err.str()}")
            else:
                log.warning("consumer: %s", err.str())
        return good if not self._status.stopping else []

    def _accept(self, msg: Message) -> None:
        queue = self._window.queue_for((msg.topic() or "", msg.partition() or 0), msg.offset() or 0)
        if queue is None:
            return
        ref = to_ref(msg)
        entry = Entry(ref)
        result = self._pipeline.start(ref)
        if isinstance(result, _KNOWN_AT_ONCE):
            entry.outcome = result
        else:
            entry.task = asyncio.get_running_loop().create_task(self._guard(result, ref))
            entry.task.add_done_callback(functools.partial(self._on_generated, entry))
        self._window.add(queue, entry)

    async def _guard(self, pending: Pending, ref: SourceRef) -> Outcome:
        try:
            return await pending
        except (Fatal, AuthFailure):
            raise
        except Exception as exc:
            # A bug, not bad input. It must neither crash the service on one record nor
            # pass silently: log it with its traceback, count it, and dead-letter the record
            # so it can be replayed once the bug is fixed.
            log.exception("internal error at %s[%d]@%d", ref.topic, ref.partition, ref.offset)
            return DeadLetter("generate", "internal_error", f"{type(exc).__name__}: {exc}")

    def _on_generated(self, entry: Entry, task: asyncio.Task[Outcome]) -> None:
        if task.cancelled() or entry.task is not task:
            return  # cancelled, or its partition was dropped before this callback ran
        exc = task.exception()
        if isinstance(exc, AuthFailure):
            self._stop_for_auth(str(exc))
        elif isinstance(exc, Fatal):
            self._status.fatal = str(exc)
        elif exc is None:
            self._window.finish(entry, task.result())

    def _stop_for_auth(self, why: str) -> None:
        # Offsets stay where they are: nothing behind the refused call is committed, and
        # the topic is not dead-lettered for a wrong key. Operators fix the key and restart.
        if self._status.auth_failure is None:
            log.error("LLM credentials refused, consumption stopped: %s", why)
        self._status.auth_failure = why
        self._health.stop(f"LLM authentication failed: {why}")
        self._pausing.hold(list(self._window.queues))

    # -- the commit cycle ----------------------------------------------------------------

    async def _commit_cycle(self) -> None:
        """Commit what is finished now and wait until that is done."""
        await self._finish_commit()
        await self._start_commit()
        await self._finish_commit()

    async def _start_commit(self) -> int:
        """Write the finished prefixes in a new transaction and leave its commit to a
        thread; the number of records written (0: nothing was finished)."""
        if self._txn.rewind_due:
            return 0  # what is queued may be committed already (see _loop)
        batch = self._collect()
        if not batch:
            return 0
        try:
            self._txn.start(batch, self._consumer.consumer_group_metadata())
        except Abort as exc:
            await self._abort(str(exc))
            return 0
        return sum(len(entries) for _, entries, _ in batch)

    async def _finish_commit(self) -> None:
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
            self._record_commit(batch)

    async def _abort(self, why: str) -> None:
        try:
            rewind = await self._txn.abort_and_retry(why)
        except Stuck as exc:
            await self._replace(str(exc))
            return
        if rewind:
            self._rebalance.rewind()

    async def _replace(self, why: str) -> None:
        # A new producer fences the stuck one; whether its transaction committed shows only
        # in the committed offsets, so every partition reads again from there.
        await self._txn.replace(why)
        self._rebalance.rewind()

    def _collect(self) -> Batch:
        batch, finished = self._window.prefixes()
        if finished and not self._status.stopping:
            # Where everything read is finished, commit the position (past control records).
            # Not while stopping: records read then are dropped, and the position is past them.
            tps = [TopicPartition(t, p) for t, p in finished]
            positions = {(p.topic, p.partition): p.offset for p in self._consumer.position(tps)}
            self._window.past_control_records(batch, positions)
        return batch

    def _record_commit(self, batch: Batch) -> None:
        """After a commit: its entries leave the window, its outcomes are counted."""
        self._window.pop_committed(batch)
        if self._selection is not None:
            self._selection.committed({tp: offset for tp, _, offset in batch})
        self._observer.committed(batch)
        if self._on_commit is not None:
            self._on_commit(dict(self._window.committed))
