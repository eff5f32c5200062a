"""The loop: poll, accept, commit what is finished, drain on stop. Exactly once.

It reads like librdkafka's ``examples/transactions.c``: subscribe with rebalance callbacks,
then until stopped: poll a batch, start each record's work, and every commit interval write
the finished prefixes in one transaction with the offsets that move past them. The state
lives in the collaborators, a module each, built from the settings in ``wiring.py``
(docs/architecture.md draws who owns what).

No transaction is open while anything slow (the LLM, the registry) is awaited. The commit's
two broker calls run on a thread while the loop goes on reading and finishing records; those
wait in the window for the next transaction (the README's "Exactly once" section).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Producer

from consumer.observe.health import Health
from consumer.pipeline import Pipeline
from consumer.runner.kafka import ClientErrors
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.window import TP
from consumer.runner.wiring import collaborators
from consumer.settings import Settings

__all__ = ["Runner"]

log = logging.getLogger(__name__)

_IDLE_TICK_S = 0.005  # sleep when consume() returned nothing: latency vs idle CPU
_LAG_EVERY_S = 5.0


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
        new_producer: Callable[[], Producer] | None = None,
        metadata: OffsetMetadata | None = None,
    ) -> None:
        """
        :param settings: topics, the window's limits, the commit interval, the drain timeout
        :param pipeline: turns each record into its outcome
        :param consumer: subscribed here; ``enable.auto.commit`` off, ``read_committed``
        :param producer: transactional; nothing else uses it
        :param health: what /healthz and /readyz report
        :param on_commit: called after each commit with every partition's committed offset
        :param client_errors: the clients' error callback, read for refused credentials
        :param new_producer: makes a producer like ``producer`` (the same transactional.id),
            to replace one stuck inside librdkafka; without it a stuck call ends the process
        :param metadata: the state committed in each offset's metadata, which follows its
            partitions (the pair budget's spending, the curriculum's levels); None: none
        """
        self._s = settings
        self._consumer = consumer
        self._health = health
        parts = collaborators(
            settings,
            pipeline,
            consumer,
            producer,
            health,
            on_commit=on_commit,
            client_errors=client_errors,
            new_producer=new_producer,
            metadata=metadata if metadata is not None else OffsetMetadata(),
        )
        self._status, self._window, self._pausing = parts.status, parts.window, parts.pausing
        self._txn, self._observer, self._commits = parts.transaction, parts.observer, parts.commits
        self._rebalance, self._intake = parts.rebalance, parts.intake
        self._lag_task: asyncio.Future[None] | None = None

    @property
    def committed(self) -> dict[TP, int]:
        """Per partition, the offset this instance last committed."""
        return self._window.committed

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
        intake, commits, window, pausing = self._intake, self._commits, self._window, self._pausing
        accept = intake.accept
        commits.schedule.begin(time.monotonic())
        next_lag = 0.0
        while not self._status.stopping:
            msgs = intake.poll()
            if commits.rewind_if_due():
                continue  # the records just polled are read again from the commit
            for msg in msgs:
                accept(msg)
            await commits.finish_if_due(time.monotonic())
            pausing.apply(window)
            now = time.monotonic()
            await commits.start_if_due(now)
            if now >= next_lag and (self._lag_task is None or self._lag_task.done()):
                # In the background: a paused partition's watermark is a broker round trip,
                # and the loop must not stop committing for a metric.
                self._lag_task = asyncio.ensure_future(self._observer.refresh_lag())
                next_lag = now + _LAG_EVERY_S
            await asyncio.sleep(0 if msgs else _IDLE_TICK_S)

    async def _drain(self) -> None:
        window, commits = self._window, self._commits
        log.info(
            "draining: %d records in flight, %d still generating; up to %.0fs",
            window.in_flight,
            window.unfinished(),
            self._s.drain_timeout_s,
        )
        self._pausing.hold(list(window.queues))
        # Before the first poll below: no rebalance is taken while a commit waits (each
        # cycle then ends with nothing under way).
        await commits.finish()
        deadline = time.monotonic() + self._s.drain_timeout_s
        interval = self._s.commit_interval_ms / 1000
        while window.unfinished() and time.monotonic() < deadline:
            # Keep polling: group membership depends on it. Records that still arrive are not
            # taken (their offsets are never committed, so the next owner reads them).
            self._intake.poll()
            if self._txn.rewind_due:
                break  # the producer was replaced: the next owner reads from the commit
            await commits.cycle()
            await asyncio.sleep(interval)
        await commits.cycle()
        abandoned = window.unfinished()
        if abandoned:
            log.warning(
                "drain deadline reached: %d records abandoned, the next owner redoes them",
                abandoned,
            )
        self._rebalance.drop(list(window.queues))

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
