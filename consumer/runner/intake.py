"""The intake: what is taken from ``consume()``, and how each record's outcome arrives.

A record is taken in offset order only (the window refuses a redelivery), started through
the pipeline, and queued: with its outcome when that is known at once, else with the task
that makes it. A task's end fills the outcome in; a bug in it is dead-lettered, refused LLM
credentials hold every partition, and a fatal error ends the loop at its next poll.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from confluent_kafka import Consumer, Message

from consumer.errors import AuthFailure, Fatal
from consumer.events import SourceRef
from consumer.observe.health import Health
from consumer.outcomes import DeadLetter, Disputed, Outcome, Pending, Produced, Skipped
from consumer.pipeline import Pipeline
from consumer.runner.calls import Calls
from consumer.runner.kafka import to_ref
from consumer.runner.pausing import Pausing
from consumer.runner.status import Status
from consumer.runner.window import Entry, Window

__all__ = ["BATCH", "Intake"]

log = logging.getLogger(__name__)

BATCH = 500  # records taken per consume() call
# A tuple: isinstance on an X | Y is slower.
_KNOWN_AT_ONCE = (Produced, DeadLetter, Skipped, Disputed)


class Intake:
    """Polls the consumer and starts each record's work."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        pipeline: Pipeline,
        window: Window,
        pausing: Pausing,
        calls: Calls,
        health: Health,
        status: Status,
    ) -> None:
        """
        :param consumer: polled; its callbacks (the rebalance) run inside ``consume()``
        :param pipeline: turns each record into its outcome
        :param window: where each record taken waits for its outcome and its commit
        :param pausing: holds every partition when the LLM refuses our credentials
        :param calls: read at each poll for credentials Kafka refused
        :param health: told of each poll, and of a stop for refused LLM credentials
        :param status: a fatal error found anywhere is raised at the next poll
        """
        self._consumer = consumer
        self._pipeline = pipeline
        self._window = window
        self._pausing = pausing
        self._calls = calls
        self._health = health
        self._status = status

    def poll(self) -> list[Message]:
        """One ``consume()`` without waiting: its good records (none while stopping)."""
        msgs: list[Message] = self._consumer.consume(BATCH, 0)
        self._health.polled()
        if self._status.fatal:
            raise Fatal(self._status.fatal)
        self._calls.check_login()
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

    def accept(self, msg: Message) -> None:
        """Take a record into the window and start its work (unless it is not ours)."""
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
