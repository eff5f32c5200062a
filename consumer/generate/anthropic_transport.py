"""One Messages API call that waits out outages: retries, backoff, AIMD, spend cap, cost.

The SDK's own retries are off (``max_retries=0``): this loop sees every attempt, so the
per-event time budget, the concurrency limit and the metrics all count each one. What is
permanent is raised at once: refused credentials (``AuthFailure``, never retried) and a
request the API rejects (``GenerationFailed``, reason ``llm_bad_request``). Everything else that
fails (429, 529, 5xx, timeouts, connection errors) is retried until the event's time
budget runs out, then ``GenerationFailed`` with reason ``llm_unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence

import anthropic
from anthropic.types import MessageParam, TextBlockParam

from consumer.errors import AuthFailure, GenerationFailed
from consumer.generate.anthropic_cost import Prices, SpendMeter, Tokens
from consumer.generate.anthropic_limiter import AimdLimiter, Backoff, headroom, retry_after_s
from consumer.generate.anthropic_reply import Reply, read_answer
from consumer.observe import metrics as m

log = logging.getLogger(__name__)

#: A warning per failure outcome at most this often; every attempt is still counted.
_WARN_EVERY_S = 30.0


class _Budget:
    """One event's time budget: starts at its first failure; excused time does not count."""

    def __init__(self, *, budget_s: float) -> None:
        """:param budget_s: how long the event may keep failing; 0: for as long as it takes"""
        self._budget_s = budget_s
        self._started: float | None = None
        self._excused = 0.0

    def failed(self) -> None:
        if self._started is None:
            self._started = time.monotonic()

    def excuse(self, seconds: float) -> None:
        if self._started is not None:
            self._excused += seconds

    def remaining(self) -> float:
        if self._budget_s <= 0 or self._started is None:
            return math.inf
        return self._budget_s - (time.monotonic() - self._started - self._excused)


class Transport:
    """Sends a conversation and returns a 200 answer, however long the API takes to give one."""

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        model: str,
        max_tokens: int,
        system: str,
        output_schema: dict[str, object],
        request_timeout_s: float,
        time_budget_s: float,
        backoff: Backoff,
        limiter: AimdLimiter,
        spend: SpendMeter,
        prices: Prices,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_usage: Callable[[Tokens, float], None] | None = None,
    ) -> None:
        """
        :param client: the SDK's client, its own retries off
        :param model: the model asked
        :param max_tokens: the longest answer
        :param system: the system prompt, the same for every call (so it is cached)
        :param output_schema: the JSON schema the answer follows (structured output)
        :param request_timeout_s: one attempt's timeout
        :param time_budget_s: how long one event may keep failing before it is given up
        :param backoff: the delays between attempts
        :param limiter: the concurrency limit (AIMD), shared by whoever shares the transport
        :param spend: the spend meter and its cap, likewise shared
        :param prices: what the answers' tokens cost, for the spend
        :param sleep: how a delay is waited out (tests pass their own)
        :param rng: the jitter's randomness (tests seed it)
        :param on_usage: told each answer's tokens and cost, besides the LLM totals (the
            judge counts its own share with it)
        """
        self._client = client
        self._on_usage = on_usage
        self._model = model
        self._max_tokens = max_tokens
        # Static for the process, so the prefix is cached after the first call (a prefix
        # shorter than the model's minimum cacheable length is simply not cached).
        self._system: list[TextBlockParam] = [
            {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
        ]
        self._schema = output_schema
        self._timeout_s = request_timeout_s
        self._budget_s = time_budget_s
        self._backoff = backoff
        self.limiter = limiter
        self.spend = spend
        self._prices = prices
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._tokens_per_call = 2000.0  # for reading token headroom; follows real usage
        self.used = Tokens()  # every answered call's usage, summed
        self.answered = 0  # calls that returned a 200 with usage
        self._cap_waiters = 0
        self._warned: dict[str, float] = {}

    async def send(self, messages: Sequence[MessageParam], priority: float | None = None) -> Reply:
        """A 200 answer; ``priority`` orders the wait for a slot (see AimdLimiter.acquire)."""
        budget = _Budget(budget_s=self._budget_s)
        attempt = 0
        last = "no attempt finished"
        while True:
            await self._wait_for_spend(budget)
            remaining = budget.remaining()
            if remaining <= 0:
                raise GenerationFailed(
                    reason="llm_unavailable",
                    message=f"the LLM did not answer within the {self._budget_s:g}s budget; last: {last}",
                )
            try:
                epoch = await asyncio.wait_for(
                    self.limiter.acquire(priority), None if math.isinf(remaining) else remaining
                )
            except TimeoutError:
                continue  # the budget check above ends it
            outcome, retry_after = await self._attempt(messages, epoch)
            if isinstance(outcome, Reply):
                return outcome
            attempt += 1
            last = outcome
            budget.failed()
            delay = self._backoff.delay(attempt - 1, self._rng, retry_after)
            await self._sleep(max(min(delay, budget.remaining()), 0.0))

    async def _attempt(
        self, messages: Sequence[MessageParam], epoch: int
    ) -> tuple[Reply | str, float | None]:
        """One HTTP attempt, holding a slot: a reply, or the failure outcome and retry hint."""
        reserved = self.spend.reserve()
        started = time.perf_counter()
        try:
            raw = await self._client.messages.with_raw_response.create(
                model=self._model,
                max_tokens=self._max_tokens,
                system=self._system,
                messages=list(messages),
                output_config={"format": {"type": "json_schema", "schema": self._schema}},
                timeout=self._timeout_s,
            )
            reply, tokens = read_answer(await raw.json())
        except anthropic.APIStatusError as exc:
            outcome = self._status_outcome(exc)
            retry_after = retry_after_s(exc.response.headers)
            if outcome in ("throttled", "overloaded"):
                self.limiter.throttled(epoch)
                if retry_after:
                    # The limit is the account's, not this call's: no call starts sooner.
                    self.limiter.hold(retry_after)
            self._failed(outcome, exc)
            return outcome, retry_after
        except anthropic.APITimeoutError as exc:
            self._failed("timeout", exc)
            return "timeout", None
        except anthropic.APIConnectionError as exc:
            self._failed("connection_error", exc)
            return "connection_error", None
        except (anthropic.APIResponseValidationError, ValueError) as exc:
            # A 200 whose body is not a Messages API answer (ValueError: not JSON, or not
            # the shape): the server's fault, retried like a 500.
            self._failed("server_error", exc)
            return "server_error", None
        finally:
            m.LLM_REQUEST_SECONDS.observe(time.perf_counter() - started)
            self.limiter.release()
            self.spend.release(reserved)
        cost = self._count_usage(tokens, raw.request_id)
        if cost is not None:
            self.spend.add(cost)
        self.limiter.succeeded()
        room = headroom(raw.headers)
        if room is not None:
            self.limiter.observe(room, self._tokens_per_call)
        return reply, None

    def _status_outcome(self, exc: anthropic.APIStatusError) -> str:
        status, detail = exc.status_code, exc.api_message or exc.message
        if status in (401, 403):
            m.LLM_REQUESTS.labels("auth_error").inc()
            raise AuthFailure(
                f"the Anthropic API refused the credentials ({status}): {detail}"
            ) from exc
        if status == 429:
            return "throttled"
        if status == 529:
            return "overloaded"
        if status >= 500 or status in (408, 409):
            return "server_error"
        m.LLM_REQUESTS.labels("bad_request").inc()
        raise GenerationFailed(reason="llm_bad_request", message=f"{status}: {detail}") from exc

    def _failed(self, outcome: str, exc: Exception) -> None:
        m.LLM_REQUESTS.labels(outcome).inc()
        now = time.monotonic()
        if now - self._warned.get(outcome, -math.inf) >= _WARN_EVERY_S:
            self._warned[outcome] = now
            log.warning(
                "LLM call failed (%s), retrying with backoff: %s; concurrency limit %d",
                outcome,
                exc,
                self.limiter.limit,
            )
        else:
            log.debug("LLM call failed (%s): %s", outcome, exc)

    def _count_usage(self, tokens: Tokens | None, request_id: str | None) -> float | None:
        if tokens is None:
            m.LLM_NO_USAGE.inc()
            log.warning(
                "LLM response (request id %s) carried no usage: its cost is unknown and "
                "not counted",
                request_id or "?",
            )
            return None
        for kind in ("input", "output", "cache_read", "cache_write"):
            m.LLM_TOKENS.labels(kind).inc(getattr(tokens, kind))
        cost = tokens.cost(self._prices)
        m.LLM_COST.inc(cost)
        self.used += tokens
        self.answered += 1
        if self._on_usage is not None:
            self._on_usage(tokens, cost)
        self._tokens_per_call = 0.9 * self._tokens_per_call + 0.1 * tokens.total
        return cost

    async def _wait_for_spend(self, budget: _Budget) -> None:
        if not self.spend.capped():
            return
        started = time.monotonic()
        self._cap_waiters += 1
        if self._cap_waiters == 1:
            m.LLM_SPEND_CAPPED.set(1)
            log.warning("LLM spend cap reached, calls paused: %s", self.capped_reason())
        try:
            while self.spend.capped():
                # Poll: room comes back as spend ages out of the window, with no event to
                # wait on. Half a second is invisible against an hour.
                await asyncio.sleep(min(max(self.spend.until_room_s(), 0.05), 0.5))
        finally:
            self._cap_waiters -= 1
            if self._cap_waiters == 0:
                m.LLM_SPEND_CAPPED.set(0)
                log.warning("LLM spend back under the cap, calls resumed")
        budget.excuse(time.monotonic() - started)

    def paused(self) -> bool:
        return self._cap_waiters > 0

    def capped_reason(self) -> str:
        return (
            f"estimated LLM spend ${self.spend.spent():.4f} in the last "
            f"{self.spend.window_s:g}s reached the cap of ${self.spend.cap_usd:g}"
        )
