"""librdkafka's transactional calls: retried, sorted into kinds, and watched while they wait.

Each error is one of three kinds: retriable (the call is retried in place), abortable
(``Abort``: abort the transaction and write it again) and fatal (``Fatal``: the process exits
and its restart fences what was open). A call still blocked ``CALL_STUCK_S`` after it began
is ``Stuck``: nothing from the client wakes it, and the producer is replaced (producers.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka import KafkaException

from consumer.errors import Fatal
from consumer.observe.health import Health
from consumer.runner.kafka import ClientErrors, kafka_error
from consumer.runner.producers import Producers
from consumer.runner.status import Status

__all__ = ["CALL_STUCK_S", "TXN_TIMEOUT_S", "Abort", "Calls", "Stuck", "classify"]

log = logging.getLogger(__name__)

# One attempt of a librdkafka transactional call; a retriable error (a timeout included) is
# retried, or, for the offsets, aborts the transaction. A coordinator that moves answers
# within a few seconds; 10 s keeps a partition's longest stall under 30 s (CALL_STUCK_S, then
# a new producer's start).
TXN_TIMEOUT_S = 10.0
# An attempt still blocked this long after it began is stuck, not slow: librdkafka's
# send_offsets_to_transaction ignores its timeout (confluentinc/librdkafka#5456) and waits
# for ever for a group coordinator whose broker left the cluster's metadata, as a broker
# shut down cleanly does in a rolling restart (#5511; both open in librdkafka 2.16). Nothing
# from the client wakes it, so the producer is replaced (``Transaction.replace``).
CALL_STUCK_S = TXN_TIMEOUT_S + 5.0


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


class Calls:
    """The producer's transactional calls, and the one under way (what the watchdog reads)."""

    def __init__(
        self,
        *,
        producers: Producers,
        health: Health,
        status: Status,
        client_errors: ClientErrors | None = None,
    ) -> None:
        """
        :param producers: polled while a call waits, so its error callback runs
        :param health: kept alive while a call waits for the broker
        :param status: read for a stop while waiting at start
        :param client_errors: the clients' error callback, read for refused credentials
        """
        self._producers = producers
        self._health = health
        self._status = status
        self._client_errors = client_errors
        self.in_call: tuple[str, float] | None = None  # the librdkafka call under way, since

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
            self._producers.current.poll(0)
            self.check_login()
            self._raise_if_stuck(task)

    def wait_unless_stuck(self, done: concurrent.futures.Future[float]) -> float:
        """``done``'s result, waited for without the event loop (in a rebalance callback)."""
        while True:
            try:
                return done.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                self._raise_if_stuck()

    def _raise_if_stuck(self, waiting: asyncio.Future[Any] | None = None) -> None:
        call = self.in_call
        if call is not None and time.monotonic() - call[1] > CALL_STUCK_S:
            if waiting is not None:
                waiting.cancel()  # nobody awaits it now; should the call ever end, it is moot
            raise Stuck(f"{call[0]} has not returned after {CALL_STUCK_S:.0f}s")

    def check_login(self) -> None:
        """``Fatal`` when Kafka refused our credentials.

        Wrong credentials do not fix themselves: exit (1) with the reason instead of retrying
        for ever, so the crash loop shows the cause.
        """
        why = self._client_errors.auth_failure if self._client_errors is not None else None
        if why is not None:
            raise Fatal(f"Kafka refused our credentials: {why}")
