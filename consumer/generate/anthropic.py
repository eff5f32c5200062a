"""The Anthropic generator: one plausible but wrong evaluation of a step, written by Claude.

Per event: the curriculum picks the mistake type produced least lately; the step goes to the
model as delimited data with a cached system prompt; the answer (structured JSON) is parsed
into a typed value and checked with the same validator as the rules generator. An unusable
answer (a refusal, a cut-off, unreadable JSON, an invalid contrast) gets one corrective turn
that says what was wrong (``anthropic_turns``); a second one is ``GenerationFailed``. Nothing
is ever made up to fill a gap.

Reaching the model (retries, backoff, the AIMD limit, the spend cap, cost) is
``anthropic_transport``'s job; the prompt is ``anthropic_prompt``'s.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
from anthropic.types import MessageParam

from consumer.errors import GenerationFailed
from consumer.events import CURRICULUM, MistakeType, ScoreEvent, WrongEvaluation
from consumer.generate.anthropic_answer import ANSWER_SCHEMA
from consumer.generate.anthropic_cost import Prices, SpendMeter, generator_prices
from consumer.generate.anthropic_curriculum import Curriculum, feasible
from consumer.generate.anthropic_limiter import AimdLimiter, Backoff
from consumer.generate.anthropic_prompt import prompt_version, system_prompt, user_prompt
from consumer.generate.anthropic_transport import Transport
from consumer.generate.anthropic_turns import OUTCOMES, corrected, read_reply
from consumer.generate.subtlety import subtlety_request
from consumer.observe import metrics as m
from consumer.settings import Settings
from consumer.settings_llm import TextLimits, text_limits
from consumer.stages.qualify import Scale

DEFAULT_MODEL = "claude-sonnet-5-5"
_LIMITS, _BACKOFF, _PRICES = TextLimits(), Backoff(), Prices()


def _limit_gauges(limit: int, in_flight: int) -> None:
    m.LLM_CONCURRENCY_LIMIT.set(limit)
    m.LLM_IN_FLIGHT.set(in_flight)


def sdk_client(request_timeout_s: float, **kw: Any) -> anthropic.AsyncAnthropic:
    """The SDK client the generator uses (``kw``: base_url, api_key; else the environment).

    On the SDK's aiohttp transport: about 0.6 ms of CPU a call against 1.5 ms on its default
    httpx transport (measured against the fake API), and per-call CPU is what bounds one
    process at hundreds of calls in flight. Retries are ours (anthropic_transport.py).
    """
    return anthropic.AsyncAnthropic(
        timeout=request_timeout_s,
        max_retries=0,
        http_client=anthropic.DefaultAioHttpClient(timeout=request_timeout_s),
        **kw,
    )


class SdkClient:
    """The SDK client a caller of the API calls through: the one it was given (its owner
    closes it), or one of its own (``sdk_client``) that ``aclose`` closes. The generator,
    the judge and the eval's critic each hold one."""

    def __init__(self, *, given: anthropic.AsyncAnthropic | None, request_timeout_s: float) -> None:
        """
        :param given: the caller's client, never closed here; None: one made here
        :param request_timeout_s: one attempt's timeout, for a client made here
        """
        self._owned: anthropic.AsyncAnthropic | None = None
        if given is None:
            given = self._owned = sdk_client(request_timeout_s)
        # Retries are the transport's own (anthropic_transport.py), so the SDK's stay off
        # even on a client given with them on.
        self.calls = given.with_options(max_retries=0)

    async def aclose(self) -> None:
        """Close the client if it was made here (idempotent)."""
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()


class AnthropicGenerator:
    """Wrong evaluations from the Anthropic Messages API (``anthropic/<model>``).

    ``client`` is for tests and special set-ups; by default the SDK's ``AsyncAnthropic``
    reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. The SDK's own retries are always
    off. ``spend_window_s`` and ``spend_clock`` exist so tests need not wait an hour.
    """

    def __init__(
        self,
        *,
        scale: Scale,
        min_contrast: float,
        client: anthropic.AsyncAnthropic | None = None,
        model: str = DEFAULT_MODEL,
        max_tokens: int = 1024,
        limits: TextLimits = _LIMITS,
        request_timeout_s: float = 60.0,
        time_budget_s: float = 900.0,
        backoff: Backoff = _BACKOFF,
        max_concurrency: int = 64,
        min_concurrency: int = 1,
        prices: Prices = _PRICES,
        spend_cap_usd_per_hour: float = 0.0,
        spend_window_s: float = 3600.0,
        spend_clock: Callable[[], float] = time.monotonic,
        curriculum_window: int = 200,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        levels: Callable[[MistakeType], int] | None = None,
    ) -> None:
        """
        :param scale: the Φ scale, for the prompt and for checking answers
        :param min_contrast: how far the wrong Φ_after must be from the right one
        :param client: the SDK's client; None: one of its own, closed by ``aclose``
        :param model: the model asked
        :param max_tokens: the longest answer
        :param limits: what is sent of each text field
        :param request_timeout_s: one attempt's timeout
        :param time_budget_s: how long one event may keep failing before it is
            dead-lettered as ``llm_unavailable``
        :param backoff: the delays between attempts
        :param max_concurrency: the AIMD limit's start and ceiling
        :param min_concurrency: its floor
        :param prices: what tokens cost, for the spend and its cap
        :param spend_cap_usd_per_hour: the most spent in a rolling window; 0: no cap
        :param spend_window_s: that window (tests shorten it)
        :param spend_clock: the spend's clock (tests move it)
        :param curriculum_window: the recent successes the mistake types are balanced over
        :param sleep: how a delay is waited out (tests pass their own)
        :param rng: the jitter's and the mistake choice's randomness (tests seed it)
        :param levels: each mistake type's subtlety level, asked of the model with every
            request when a judge's curriculum sets them (``generate.subtlety``)
        """
        self._scale = scale
        self._levels = levels
        self._c = min_contrast
        self._model = model
        self._max_tokens = max_tokens
        self._limits = limits
        self._client = SdkClient(given=client, request_timeout_s=request_timeout_s)
        self._curriculum = Curriculum(window=curriculum_window)
        self._limiter = AimdLimiter(
            max_limit=max_concurrency, min_limit=min_concurrency, on_change=_limit_gauges
        )
        _limit_gauges(self._limiter.limit, self._limiter.in_flight)
        self._transport = Transport(
            client=self._client.calls,
            model=model,
            max_tokens=max_tokens,
            system=system_prompt(scale, min_contrast),
            output_schema=ANSWER_SCHEMA,
            request_timeout_s=request_timeout_s,
            time_budget_s=time_budget_s,
            backoff=backoff,
            limiter=self._limiter,
            spend=SpendMeter(
                cap_usd=spend_cap_usd_per_hour, window_s=spend_window_s, clock=spend_clock
            ),
            prices=prices,
            sleep=sleep,
            rng=rng,
        )
        self._prompt_version = prompt_version(scale, min_contrast)

    @classmethod
    def from_settings(
        cls,
        s: Settings,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        levels: Callable[[MistakeType], int] | None = None,
    ) -> AnthropicGenerator:
        """The generator the settings describe (no network until the first ``generate``)."""
        return cls(
            scale=Scale(s.phi_min, s.phi_max),
            min_contrast=s.min_contrast,
            client=client,
            model=s.anthropic_model,
            max_tokens=s.anthropic_max_tokens,
            limits=text_limits(s),
            request_timeout_s=s.llm_request_timeout_s,
            time_budget_s=s.llm_time_budget_s,
            max_concurrency=s.llm_max_concurrency,
            min_concurrency=s.llm_min_concurrency,
            prices=generator_prices(s),
            spend_cap_usd_per_hour=s.llm_spend_cap_usd_per_hour,
            levels=levels,
        )

    @property
    def name(self) -> str:
        return f"anthropic/{self._model}"

    @property
    def transport(self) -> Transport:
        """The generator's way to the API: a judge shares its limiter and spend meter."""
        return self._transport

    @property
    def prompt_version(self) -> str:
        return self._prompt_version

    @property
    def concurrency_limit(self) -> int:
        """The AIMD limit on concurrent calls right now."""
        return self._limiter.limit

    def spent_usd(self) -> float:
        """Estimated spend in the rolling window (an hour unless set otherwise)."""
        return self._transport.spend.spent()

    def paused_because(self) -> str | None:
        """Why calls are paused (the spend cap), for readiness; ``None`` when they are not."""
        return self._transport.capped_reason() if self._transport.paused() else None

    async def generate(self, event: ScoreEvent, place: float | None = None) -> WrongEvaluation:
        allowed = tuple(t for t in CURRICULUM if feasible(t, event, self._scale, self._c))
        requested = self._curriculum.choose(event.event_id, allowed)
        achieved: MistakeType | None = None
        # Retries and the corrective turn keep this place in line for a slot.
        asked = time.monotonic() if place is None else place
        try:
            wrong = await self._generate(event, requested, asked)
            achieved = wrong.mistake_type
        finally:
            self._curriculum.done(requested, achieved)
        m.LLM_MISTAKE_TYPES.labels(wrong.mistake_type.value).inc()
        return wrong

    async def _generate(
        self, event: ScoreEvent, requested: MistakeType, asked: float
    ) -> WrongEvaluation:
        first = user_prompt(event, requested, self._scale, self._c, self._limits)
        if self._levels is not None:
            first = subtlety_request(self._levels(requested)) + first
        messages: list[MessageParam] = [{"role": "user", "content": first}]
        for turn in range(2):
            reply = await self._transport.send(messages, priority=asked)
            result = read_reply(event, reply, self._scale, self._c, self._max_tokens)
            if isinstance(result, WrongEvaluation):
                m.LLM_REQUESTS.labels("ok").inc()
                return result
            m.LLM_REQUESTS.labels(OUTCOMES[result.reason]).inc()
            if turn == 1:
                raise GenerationFailed(
                    reason=result.reason, message=f"after one corrective retry: {result.detail}"
                )
            messages = corrected(first, reply, result, self._scale, self._c)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the SDK client if this generator made it (idempotent)."""
        await self._client.aclose()
