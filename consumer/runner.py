"""The loop: poll, keep a window of records in flight, commit finished prefixes exactly once.

One asyncio event loop owns all state. Per assigned partition, a queue holds the records
read, in offset order; a record's outcome (two cards, a dead letter, or nothing) is filled in
when known. Every ``commit_interval_ms`` the contiguous finished prefix of each queue is
written in one transaction with the offsets that move past it. No transaction is ever open
while anything slow (the LLM, the registry) is awaited.

The loop begins each transaction and produces its outputs (local calls); the two calls that
wait for the broker, sending the offsets and committing, run on a thread while the loop goes
on reading and finishing records. Those wait in the queues for the next transaction: one is
open at a time, and the producer is not touched until its commit is settled. The entries
being committed stay at the front of their queues until then, so an aborted commit writes
them again, and a revoke waits for the commit under way before it commits (docs/design.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from consumer import metrics as m
from consumer.errors import AuthFailure, Fatal
from consumer.events import SourceRef
from consumer.kafka import ClientErrors, dead_letter_headers, kafka_error, to_ref
from consumer.metrics import Health
from consumer.pipeline import DeadLetter, Outcome, Pending, Pipeline, Produced, Skipped
from consumer.settings import Settings

log = logging.getLogger(__name__)

TP = tuple[str, int]
_BATCH = 500  # records taken per consume() call
_IDLE_TICK_S = 0.005  # sleep when consume() returned nothing: latency vs idle CPU
_TXN_TIMEOUT_S = 30.0  # per librdkafka transactional call; retriable errors are retried
_ABORTS_BEFORE_REWIND = 3
# A transactional call still blocked this long after its own timeout is stuck, not slow:
# librdkafka's send_offsets_to_transaction can ignore its timeout while the group
# coordinator is unreachable (confluentinc/librdkafka#5456) and never return. The process
# exits; the restart's init_transactions fences and aborts what was open.
_CALL_STUCK_S = 3 * _TXN_TIMEOUT_S
# How long the loop reads on while a commit waits for the broker (they take 7-30 ms at full
# speed). A commit slower than this means the broker is slow or away: reading on would only
# fill the window, and a rebalance taken meanwhile is worse. Seen in the fault suite (broker
# stopped for 20 s): the session timed out, consume() delivered the lost assignment and then
# the new one while send_offsets_to_transaction still waited with the old generation, and it
# never returned. Waiting for the commit, as before, leaves the rebalance for after it.
_READ_DURING_COMMIT_S = 1.0
_LAG_EVERY_S = 5.0
_SETTLED = (Produced, DeadLetter, Skipped)  # a tuple: isinstance on an X | Y is slower
_DLQ_LOGS_PER_MINUTE = 100


def _on_thread(fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """Run a blocking librdkafka call on a daemon thread; its result, to await
    (``asyncio.wrap_future``) or, in a rebalance callback, to wait for.

    Not ``asyncio.to_thread``: a call stuck inside librdkafka would then keep the process
    from exiting (the default executor is joined at shutdown), and a fatal exit must exit.
    """
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever waits
            future.set_exception(exc)

    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "call")
    threading.Thread(target=run, name=f"kafka-{name}", daemon=True).start()
    return future


def _off_loop(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run a blocking librdkafka call on a daemon thread and await its result."""
    return asyncio.wrap_future(_on_thread(fn, *args))


@dataclass(slots=True)
class Entry:
    ref: SourceRef
    outcome: Outcome | None = None
    task: asyncio.Task[Outcome] | None = None


class _Abort(Exception):
    """The transaction must be aborted (librdkafka said txn_requires_abort)."""


Batch = list[tuple[TP, list[Entry], int]]


@dataclass(slots=True)
class _Committing:
    """A transaction whose outputs are written: its offsets and commit run on a thread."""

    batch: Batch
    done: concurrent.futures.Future[float]  # when the commit returned (monotonic)
    started: float


class Runner:
    """Consume-generate-produce, exactly once. See docs/design.md for the reasoning."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        consumer: Consumer,
        producer: Producer,
        health: Health,
        on_commit: Callable[[dict[TP, int]], None] | None = None,
        client_errors: ClientErrors | None = None,
    ) -> None:
        self._s = settings
        self._pipeline = pipeline
        self._consumer = consumer
        self._producer = producer
        self._health = health
        self._on_commit = on_commit
        self._client_errors = client_errors
        self._queues: dict[TP, deque[Entry]] = {}
        self._paused: set[TP] = set()
        self._in_flight = 0
        self._ready = 0  # records in flight whose outcome is known
        self._stopping = False
        self._fatal: str | None = None
        self._auth_failure: str | None = None
        self._aborts_in_a_row = 0
        self.committed: dict[TP, int] = {}
        self._seen: dict[TP, int] = {}  # per partition, the offset after the last record read
        self._redelivered = 0
        self._dlq_log_window, self._dlq_logged, self._dlq_unlogged = time.monotonic(), 0, 0
        self._in_call: tuple[str, float] | None = None  # the librdkafka call under way, since
        self._lag_task: asyncio.Future[None] | None = None
        self._committing: _Committing | None = None  # at most one transaction at a time

    # -- lifecycle ---------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful stop (SIGTERM): the loop drains and returns."""
        if not self._stopping:
            log.info("stop requested: draining in-flight work")
        self._stopping = True

    async def run(self) -> None:
        """Run until ``request_stop``; raises ``Fatal`` when exactly-once cannot continue.

        On stop, in-flight work gets ``drain_timeout_s`` to finish; keep that inside the pod's
        terminationGracePeriodSeconds minus one commit (the Helm chart derives it).
        """
        started = await self._while_alive(
            _off_loop(self._call, self._producer.init_transactions, _TXN_TIMEOUT_S),
            stop_aware=True,
        )
        if not started:
            # Stopped while waiting for the broker at start: nothing was read or written.
            log.info("stopped before the producer was initialised")
            self._health.stop("shut down")
            return
        self._health.producer_ready = True
        self._consumer.subscribe(
            [self._s.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            await self._loop()
            await self._drain()
        except BaseException as exc:
            self._fatal = self._fatal or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if self._lag_task is not None:
                self._lag_task.cancel()
            self._close()

    async def _loop(self) -> None:
        interval = self._s.commit_interval_ms / 1000
        # Commit early once this many more records are finished: at full speed the interval
        # alone let a partition's queue reach its limit, and every pause drops what librdkafka
        # had fetched for it (re-fetched on resume), which left the loop idle.
        early = max(1, min(self._s.max_in_flight, self._s.max_in_flight_per_partition) // 2)
        next_commit = time.monotonic() + interval
        ready_after_commit = 0
        next_lag = 0.0
        while not self._stopping:
            msgs = self._poll()
            for msg in msgs:
                self._accept(msg)
            committing = self._committing
            if committing is not None and (
                committing.done.done()
                or self._window_full()
                or time.monotonic() - committing.started > _READ_DURING_COMMIT_S
            ):
                # A full window waits for the commit under way, which empties it, instead of
                # pausing partitions (a pause drops what librdkafka fetched for them). So does
                # a slow commit: see _READ_DURING_COMMIT_S.
                await self._settle_commit()
            self._apply_backpressure()
            now = time.monotonic()
            due = now >= next_commit or self._ready - ready_after_commit >= early
            if due and self._committing is None:
                # The loop goes on reading and finishing records while the broker commits.
                written = await self._start_commit()
                next_commit = time.monotonic() + interval
                # Finished records behind an unfinished one stay; only new ones count (the
                # ones being committed leave _ready when their commit is done).
                ready_after_commit = self._ready - written
            if now >= next_lag and (self._lag_task is None or self._lag_task.done()):
                # In the background: a paused partition's watermark is a broker round trip,
                # and the loop must not stop committing for a metric.
                self._lag_task = asyncio.ensure_future(self._refresh_lag())
                next_lag = now + _LAG_EVERY_S
            await asyncio.sleep(0 if msgs else _IDLE_TICK_S)

    async def _drain(self) -> None:
        waiting = self._unfinished()
        log.info(
            "draining: %d records in flight, %d still generating; up to %.0fs",
            self._in_flight,
            waiting,
            self._s.drain_timeout_s,
        )
        self._pause(list(self._queues))
        # Before the first poll below: no rebalance is taken while a commit waits (each
        # _commit_cycle then ends settled).
        await self._settle_commit()
        deadline = time.monotonic() + self._s.drain_timeout_s
        interval = self._s.commit_interval_ms / 1000
        while self._unfinished() and time.monotonic() < deadline:
            # Keep polling: group membership depends on it. Records that still arrive are not
            # taken (their offsets are never committed, so the next owner reads them).
            self._poll()
            await self._commit_cycle()
            await asyncio.sleep(interval)
        await self._commit_cycle()
        abandoned = self._unfinished()
        if abandoned:
            log.warning(
                "drain deadline reached: %d records abandoned, the next owner redoes them",
                abandoned,
            )
        self._drop(list(self._queues))

    def _close(self) -> None:
        # close() revokes the assignment (our callback commits what is done unless we are
        # fatal) and leaves the group at once, so the partitions move without a timeout.
        # (A static member, group.instance.id set, does not leave: its partitions wait for
        # the session timeout or for the same pod to come back, which is the point of it.)
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer close: %s", exc)
        self._producer.flush(10)
        self._health.stop("shut down")

    # -- intake --------------------------------------------------------------------------

    def _poll(self) -> list[Message]:
        msgs: list[Message] = self._consumer.consume(_BATCH, 0)
        self._health.polled()
        if self._fatal:
            raise Fatal(self._fatal)
        self._check_login()
        good = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.fatal():
                raise Fatal(f"consumer: {err.str()}")
            else:
                log.warning("consumer: %s", err.str())
        return good if not self._stopping else []

    def _accept(self, msg: Message) -> None:
        tp = (msg.topic() or "", msg.partition() or 0)
        queue = self._queues.get(tp)
        if queue is None:
            return  # fetched before its partition was revoked; the new owner reads it
        seen = self._seen.get(tp)
        if seen is not None and (msg.offset() or 0) < seen:
            # Offsets only move forward between rewinds; a record at or behind one we already
            # took is a redelivery, and taking it again would write its cards twice.
            self._redelivered += 1
            if self._redelivered in (1, 10, 100, 1000) or self._redelivered % 10000 == 0:
                log.warning(
                    "ignored %d redelivered records (latest %s[%d]@%d, already read to %d)",
                    self._redelivered,
                    tp[0],
                    tp[1],
                    msg.offset(),
                    seen,
                )
            return
        ref = to_ref(msg)
        entry = Entry(ref)
        result = self._pipeline.start(ref)
        if isinstance(result, _SETTLED):
            entry.outcome = result
            self._ready += 1
        else:
            entry.task = asyncio.get_running_loop().create_task(self._guard(result, ref))
            entry.task.add_done_callback(functools.partial(self._settle, entry))
        queue.append(entry)
        self._in_flight += 1
        self._seen[(ref.topic, ref.partition)] = ref.offset + 1

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

    def _settle(self, entry: Entry, task: asyncio.Task[Outcome]) -> None:
        if task.cancelled() or entry.task is not task:
            return  # cancelled, or its partition was dropped before this callback ran
        exc = task.exception()
        if isinstance(exc, AuthFailure):
            self._stop_for_auth(str(exc))
        elif isinstance(exc, Fatal):
            self._fatal = str(exc)
        elif exc is None:
            entry.outcome = task.result()
            self._ready += 1

    def _stop_for_auth(self, why: str) -> None:
        # Offsets stay where they are: nothing behind the refused call is committed, and
        # the topic is not dead-lettered for a wrong key. Operators fix the key and restart.
        if self._auth_failure is None:
            log.error("LLM credentials refused, consumption stopped: %s", why)
        self._auth_failure = why
        self._health.stop(f"LLM authentication failed: {why}")
        self._pause(list(self._queues))

    def _unfinished(self) -> int:
        return sum(1 for q in self._queues.values() for e in q if e.outcome is None)

    # -- backpressure --------------------------------------------------------------------

    def _apply_backpressure(self) -> None:
        if self._auth_failure or self._stopping:
            return
        per_tp = self._s.max_in_flight_per_partition
        total_full = self._in_flight >= self._s.max_in_flight
        total_low = self._in_flight <= self._s.max_in_flight // 2
        pause, resume = [], []
        for tp, q in self._queues.items():
            if tp in self._paused:
                if total_low and len(q) <= per_tp // 2:
                    resume.append(tp)
            elif total_full or len(q) >= per_tp:
                pause.append(tp)
        if pause and not self._paused:
            log.info(
                "backpressure: pausing %d partitions (%d records in flight)",
                len(pause),
                self._in_flight,
            )
        self._pause(pause)
        if resume:
            self._consumer.resume([TopicPartition(t, p) for t, p in resume])
            self._paused.difference_update(resume)
            if not self._paused:
                log.info("backpressure: all partitions resumed (%d in flight)", self._in_flight)
        m.PAUSED.set(len(self._paused))
        m.IN_FLIGHT.set(self._in_flight)

    def _pause(self, tps: list[TP]) -> None:
        fresh = [tp for tp in tps if tp not in self._paused]
        if fresh:
            self._consumer.pause([TopicPartition(t, p) for t, p in fresh])
            self._paused.update(fresh)
            m.PAUSED.set(len(self._paused))

    # -- committing ----------------------------------------------------------------------

    def _collect(self, only: set[TP] | None = None, positions: bool = True) -> Batch:
        """Per partition, the finished prefix and the offset to commit after it.

        With ``positions``, a partition where everything read is settled commits the
        consumer's position (see _past_control_records): only where every record consume()
        has returned was taken, since the position is already past the rest.
        """
        batch: Batch = []
        settled: list[TP] = []
        for tp, q in self._queues.items():
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
                settled.append(tp)
        if positions and settled and not self._stopping:
            self._past_control_records(batch, settled)
        return batch

    def _past_control_records(self, batch: Batch, settled: list[TP]) -> None:
        # A transactional producer's commit marker takes an offset but is never returned as
        # a record, so "last record + 1" stops one short of the end for ever: the lag never
        # reaches zero. Where everything read from a partition is settled, commit the
        # consumer's position instead, which librdkafka moves past control records. (Not
        # while stopping: records read then are dropped, and the position moved past them.)
        planned = {tp: i for i, (tp, _, _) in enumerate(batch)}
        positions = self._consumer.position([TopicPartition(t, p) for t, p in settled])
        for pos in positions:
            tp = (pos.topic, pos.partition)
            i = planned.get(tp)
            end = batch[i][2] if i is not None else self.committed.get(tp)
            if end is None or self._seen.get(tp) != end or pos.offset <= end:
                continue
            if i is not None:
                batch[i] = (tp, batch[i][1], pos.offset)
            else:
                batch.append((tp, [], pos.offset))

    async def _commit_cycle(self) -> None:
        """Commit what is finished now and wait until that is done."""
        await self._settle_commit()
        await self._start_commit()
        await self._settle_commit()

    async def _start_commit(self) -> int:
        """Write the finished prefixes in a new transaction and leave its commit to a
        thread; the number of records written (0: nothing was finished)."""
        batch = self._collect()
        if not batch:
            return 0
        started = time.monotonic()
        try:
            self._write(batch)
        except _Abort as exc:
            await self._abort(str(exc))
            return 0
        done = _on_thread(self._end_transaction, batch, self._consumer.consumer_group_metadata())
        self._committing = _Committing(batch, done, started)
        return sum(len(entries) for _, entries, _ in batch)

    async def _settle_commit(self) -> None:
        """Wait for the commit under way, if any; then count it done, or abort it."""
        committing = self._committing
        if committing is None:
            return
        try:
            await self._while_alive(asyncio.wrap_future(committing.done))
        except _Abort as exc:
            self._committing = None
            await self._abort(str(exc))
            return
        self._committing = None
        self._commit_done(committing, committing.done.result())

    def _settle_commit_now(self) -> None:
        """``_settle_commit`` inside a rebalance callback, where nothing can be awaited."""
        committing, self._committing = self._committing, None
        if committing is None:
            return
        try:
            ended = committing.done.result(timeout=_CALL_STUCK_S)
        except concurrent.futures.TimeoutError as exc:
            raise Fatal(f"a commit has not returned after {_CALL_STUCK_S:.0f}s") from exc
        except _Abort as exc:
            # Its outcomes are still queued: whatever the revoke commits next includes them.
            m.TRANSACTIONS.labels("aborted").inc()
            log.warning("transaction aborted: %s", exc)
            self._call(self._producer.abort_transaction, _TXN_TIMEOUT_S)
            return
        self._commit_done(committing, ended)

    def _commit_done(self, committing: _Committing, ended: float) -> None:
        m.COMMIT_SECONDS.observe(ended - committing.started)
        self._aborts_in_a_row = 0
        self._committed(committing.batch)

    def _window_full(self) -> bool:
        per_tp = self._s.max_in_flight_per_partition
        return self._in_flight >= self._s.max_in_flight or any(
            len(q) >= per_tp for q in self._queues.values()
        )

    async def _while_alive(self, work: Awaitable[Any], stop_aware: bool = False) -> bool:
        # A commit waits for the broker, for as long as it is down. That is not a stuck
        # loop: keep /healthz alive while the loop itself stays responsive. A single call
        # blocked far past its own timeout is stuck, though (see _CALL_STUCK_S).
        task = asyncio.ensure_future(work)
        while True:
            done, _ = await asyncio.wait({task}, timeout=1.0)
            self._health.polled()
            if done:
                task.result()
                return True
            if stop_aware and self._stopping:
                return False  # the daemon thread is left to the process's exit
            # The producer's error_cb runs only when it is polled: a refused login while a
            # call waits for the broker (init_transactions at start) shows nowhere else.
            self._producer.poll(0)
            self._check_login()
            call = self._in_call
            if call is not None and time.monotonic() - call[1] > _CALL_STUCK_S:
                raise Fatal(f"{call[0]} has not returned after {_CALL_STUCK_S:.0f}s")

    def _check_login(self) -> None:
        # Wrong credentials do not fix themselves: exit (1) with the reason instead of
        # retrying for ever, so the crash loop shows the cause.
        why = self._client_errors.auth_failure if self._client_errors is not None else None
        if why is not None:
            raise Fatal(f"Kafka refused our credentials: {why}")

    def _transact(self, batch: Batch) -> None:
        """One transaction: the batch's outputs and its offsets, or nothing (blocking)."""
        started = time.monotonic()
        self._write(batch)
        self._end_transaction(batch, self._consumer.consumer_group_metadata())
        m.COMMIT_SECONDS.observe(time.monotonic() - started)

    def _write(self, batch: Batch) -> None:
        """Begin a transaction and produce the batch's outputs into it: local, no waiting
        for the broker (librdkafka sends them in the background)."""
        self._call(self._producer.begin_transaction)
        for _, entries, _ in batch:
            for entry in entries:
                self._produce_outcome(entry)

    def _end_transaction(self, batch: Batch, group_metadata: Any) -> float:
        """Add the batch's offsets to the open transaction and commit it (blocking, on a
        thread: the producer is not used by anything else until this returns); returns when
        the commit returned."""
        p = self._producer
        offsets = [TopicPartition(t, part, offset) for (t, part), _, offset in batch]
        # Not retried in place: a failure here (the broker restarted, the group moved on)
        # leaves stale group metadata; abort, poll (which rejoins the group), write again.
        self._call(
            p.send_offsets_to_transaction, offsets, group_metadata, _TXN_TIMEOUT_S, retry=False
        )
        self._call(p.commit_transaction, _TXN_TIMEOUT_S)
        return time.monotonic()

    def _produce_outcome(self, entry: Entry) -> None:
        out, ref = entry.outcome, entry.ref
        if isinstance(out, Produced):
            for value in out.cards:
                self._produce(self._s.output_topic, out.key, value, None)
        elif isinstance(out, DeadLetter):
            self._produce(self._s.dlq_topic, ref.key, ref.value, dead_letter_headers(ref, out))

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
                raise self._classify(exc, "produce") from exc

    def _call(
        self, fn: Callable[..., Any], *args: Any, retry: bool = True, give_up_s: float | None = None
    ) -> Any:
        """A transactional call, retried while librdkafka says it is retriable.

        With ``retry=False`` a retriable error aborts the transaction instead.
        """
        delay = 0.1
        first = time.monotonic()
        while True:
            self._in_call = (fn.__name__, time.monotonic())
            try:
                return fn(*args)
            except KafkaException as exc:
                err = kafka_error(exc)
                if not retry and err.retriable() and not err.fatal():
                    raise _Abort(f"{fn.__name__}: {err.str()}") from exc
                if give_up_s is not None and time.monotonic() - first > give_up_s:
                    raise Fatal(
                        f"{fn.__name__} still failing after {give_up_s:.0f}s: {err.str()}"
                    ) from exc
                if err.retriable() and not err.fatal() and not err.txn_requires_abort():
                    log.warning("%s: %s (retrying)", fn.__name__, err.str())
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise self._classify(exc, fn.__name__) from exc
            finally:
                self._in_call = None

    @staticmethod
    def _classify(exc: KafkaException, what: str) -> Exception:
        err = kafka_error(exc)
        if err.txn_requires_abort():
            return _Abort(f"{what}: {err.str()}")
        return Fatal(f"{what}: {err.str()}")

    async def _abort(self, why: str) -> None:
        """Abort the open transaction; retry the same outcomes, or rewind if that keeps failing.

        The outcomes are still in memory and nothing of the aborted transaction is visible,
        so the next cycle simply writes them again: no generation is redone. Only when the
        same work aborts repeatedly do we rewind to the committed offsets (docs/design.md).
        """
        m.TRANSACTIONS.labels("aborted").inc()
        self._aborts_in_a_row += 1
        log.warning("transaction aborted (%d in a row): %s", self._aborts_in_a_row, why)
        # An abort that keeps timing out after the broker is back is librdkafka's coordinator
        # state stuck (seen here after a broker restart): exit, the restart fences it.
        await self._while_alive(
            _off_loop(
                functools.partial(self._call, give_up_s=_CALL_STUCK_S),
                self._producer.abort_transaction,
                _TXN_TIMEOUT_S,
            )
        )
        if self._aborts_in_a_row >= _ABORTS_BEFORE_REWIND:
            self._rewind()
            self._aborts_in_a_row = 0

    def _rewind(self) -> None:
        tps = list(self._queues)
        self._drop(tps)
        for tp in tps:
            self._queues[tp] = deque()
        if not tps:
            return
        committed = self._consumer.committed([TopicPartition(t, p) for t, p in tps], 30)
        reset = (
            OFFSET_END
            if self._s.kafka_extra.get("auto.offset.reset") == "latest"
            else OFFSET_BEGINNING
        )
        for c in committed:
            target = TopicPartition(c.topic, c.partition, c.offset if c.offset >= 0 else reset)
            try:
                self._consumer.seek(target)
            except KafkaException as exc:
                # A partition not fetching yet cannot seek; re-assigning it at the committed
                # offset has the same effect.
                log.warning("seek %s[%d]: %s; re-assigning", c.topic, c.partition, exc)
                self._consumer.incremental_unassign([TopicPartition(c.topic, c.partition)])
                self._consumer.incremental_assign([target])
        log.warning("rewound %d partitions to their committed offsets", len(tps))

    def _committed(self, batch: Batch) -> None:
        now = time.time()
        for tp, entries, offset in batch:
            q = self._queues.get(tp)
            # A partition lost while its commit was under way was dropped, and its records
            # uncounted, then; it may even be assigned again, with a new queue. Only the
            # queue that holds these very entries gives them up.
            if q is not None and (not entries or (q and q[0] is entries[0])):
                for _ in entries:
                    q.popleft()
                self._in_flight -= len(entries)
                self._ready -= len(entries)
                self.committed[tp] = offset
                if self._seen.get(tp, -1) < offset:
                    self._seen[tp] = offset
            _count(entries, now)
            for entry in entries:
                if isinstance(entry.outcome, DeadLetter):
                    self._log_dead_letter(entry.ref, entry.outcome)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "committed %s",
                ", ".join(f"{t}[{p}] {e[0].ref.offset if e else o}..{o}" for (t, p), e, o in batch),
            )
        m.TRANSACTIONS.labels("committed").inc()
        m.LAST_PROGRESS.set(now)
        m.IN_FLIGHT.set(self._in_flight)
        if self._on_commit is not None:
            self._on_commit(dict(self.committed))

    def _log_dead_letter(self, ref: SourceRef, dl: DeadLetter) -> None:
        # One line per dead letter, but a flood of poison must not drown the log: at most
        # _DLQ_LOGS_PER_MINUTE lines a minute, then a count of the ones not logged.
        now = time.monotonic()
        if now - self._dlq_log_window >= 60:
            if self._dlq_unlogged:
                log.warning(
                    "%d more dead letters not logged in the last minute", self._dlq_unlogged
                )
            self._dlq_log_window, self._dlq_logged, self._dlq_unlogged = now, 0, 0
        if self._dlq_logged >= _DLQ_LOGS_PER_MINUTE:
            self._dlq_unlogged += 1
            return
        self._dlq_logged += 1
        log.warning(
            "dead-lettered %s[%d]@%d: %s/%s: %s",
            ref.topic,
            ref.partition,
            ref.offset,
            dl.stage,
            dl.reason,
            dl.message[:300],
            extra={"stage": dl.stage, "reason": dl.reason},
        )

    async def _refresh_lag(self) -> None:
        """Lag per assigned partition: high watermark minus the committed position.

        Watermarks come with every fetch response, so the cached ones are fresh even when
        idle; a paused partition does not fetch, so its watermark is asked for (off the loop).
        """
        self._health.ready()  # keeps the selftaught_ready gauge current without a probe
        tps = list(self._queues)
        try:
            positions = {
                (p.topic, p.partition): p.offset
                for p in self._consumer.position([TopicPartition(t, n) for t, n in tps])
            }
        except KafkaException as exc:
            log.debug("lag not refreshed: %s", exc)
            return
        for topic, part in tps:
            tp = TopicPartition(topic, part)
            try:
                if (topic, part) in self._paused:
                    _, high = await _off_loop(self._consumer.get_watermark_offsets, tp, 2.0, False)
                else:
                    _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if (topic, part) not in self._queues:
                continue  # revoked meanwhile: its series is gone and stays gone
            pos = self.committed.get((topic, part), positions.get((topic, part), -1))
            if high >= 0 and pos is not None and pos >= 0:
                m.LAG.labels(topic, str(part)).set(max(0, high - pos))

    # -- rebalances (called from inside consume) --------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("assigned").inc()
        self._health.group_joined = True
        for tp in partitions:
            self._queues.setdefault((tp.topic, tp.partition), deque())
        m.ASSIGNED.set(len(self._queues))
        if partitions:
            log.info("assigned %s", _names(partitions))
            if log.isEnabledFor(logging.DEBUG):
                got = consumer.committed(partitions, 10)
                log.debug("committed at assignment: %s", [(c.partition, c.offset) for c in got])
        if self._auth_failure or self._stopping:
            self._pause([(tp.topic, tp.partition) for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        m.REBALANCES.labels("revoked").inc()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if not self._fatal and self._health.producer_ready:
            # Commit what is done for the partitions leaving us; the next owner starts
            # from there and redoes only the rest. The commit under way goes first: what it
            # wrote is done, or, aborted, is written again here.
            # Not the positions: this runs inside consume(), which may already hold records of
            # these partitions that will never be taken; the next owner must read them.
            try:
                self._settle_commit_now()
            except Fatal as exc:
                self._fatal = str(exc)
            batch = self._collect(only=revoked, positions=False) if not self._fatal else []
            if batch:
                try:
                    self._transact(batch)
                    self._committed(batch)
                except _Abort as exc:
                    m.TRANSACTIONS.labels("aborted").inc()
                    log.warning("commit on revoke aborted, the next owner redoes it: %s", exc)
                    self._call(self._producer.abort_transaction, _TXN_TIMEOUT_S)
                except Fatal as exc:
                    self._fatal = str(exc)
        self._drop(list(revoked))
        if partitions:
            log.info("revoked %s", _names(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The session expired: another instance may own these already. Nothing of theirs
        # may be committed; a late commit would be fenced by the broker anyway.
        m.REBALANCES.labels("lost").inc()
        log.warning("assignment lost: %s", _names(partitions))
        self._drop([(tp.topic, tp.partition) for tp in partitions])

    def _drop(self, tps: list[TP]) -> None:
        for tp in tps:
            q = self._queues.pop(tp, None)
            self._paused.discard(tp)
            self._seen.pop(tp, None)
            if not q:
                continue
            for entry in q:
                if entry.task is not None and not entry.task.done():
                    entry.task.cancel()
                if entry.outcome is not None:
                    self._ready -= 1
                entry.task = None
            self._in_flight -= len(q)
            with contextlib.suppress(KeyError):
                m.LAG.remove(tp[0], str(tp[1]))
        m.ASSIGNED.set(len(self._queues))
        m.IN_FLIGHT.set(self._in_flight)
        m.PAUSED.set(len(self._paused))


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)


def _count(entries: list[Entry], now: float) -> None:
    """Count committed outcomes: tallied here, then one increment per label set.

    A commit carries thousands of records at full speed; a labelled increment per record
    (a dict lookup and a lock each) was a visible part of the service's CPU, and so was one
    histogram observation per record: the latencies go in as one batch.
    """
    pairs: Counter[tuple[str, str]] = Counter()
    others: Counter[tuple[Any, tuple[str, ...]]] = Counter()
    latencies = []
    for entry in entries:
        out = entry.outcome
        if isinstance(out, Produced):
            pairs[out.generator, out.mistake_type] += 1
        elif isinstance(out, DeadLetter):
            others[m.RECORDS, ("dead_lettered" if out.stage == "generate" else "invalid",)] += 1
            others[m.DEAD_LETTERS, (out.stage, out.reason)] += 1
        elif isinstance(out, Skipped):
            others[m.RECORDS, (out.why.value,)] += 1
        ts = entry.ref.timestamp_ms
        if ts > 0:
            latency = now - ts / 1000
            latencies.append(latency if latency > 0.0 else 0.0)  # clocks differ
    m.LATENCY.observe_all(latencies)
    for (metric, labels), n in others.items():
        metric.labels(*labels).inc(n)
    for labels, n in pairs.items():
        m.PAIRS.labels(*labels).inc(n)
    qualified = pairs.total()
    if qualified:
        m.RECORDS.labels("qualified").inc(qualified)
        m.CARDS.labels("critic_calibration").inc(qualified)
        m.CARDS.labels("failure_pattern").inc(qualified)
