"""The Anthropic judge: both orderings of a pair to a (cheaper) model, concurrently.

Its calls go through the generator's ``Transport`` machinery and, when the generator is the
Anthropic one too, share its AIMD limiter and spend meter: one concurrency limit, one spend
cap, one set of failure outcomes for both. An outage waits as for the generator; past the
judge's time budget, or when an ordering gets no usable answer (a refusal, a cut-off, an
unreadable one), the pair is ``unjudged``: published without a verdict, never given one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import anthropic
from anthropic.types import MessageParam

from consumer.errors import GenerationFailed
from consumer.events import ScoreEvent, WrongEvaluation
from consumer.generate.anthropic import SdkClient
from consumer.generate.anthropic_cost import Prices, SpendMeter, Tokens
from consumer.generate.anthropic_limiter import AimdLimiter, Backoff
from consumer.generate.anthropic_reply import Reply
from consumer.generate.anthropic_transport import Transport
from consumer.judge.prompt import (
    ANSWER_SCHEMA,
    UnreadableVerdict,
    parse_answer,
    system_prompt,
    user_prompt,
)
from consumer.judge.verdict import ORDERINGS, Answer, Verdict, combine, unjudged
from consumer.observe import metrics as m
from consumer.settings import Settings
from consumer.settings_llm import TextLimits, text_limits
from consumer.stages.qualify import Scale

__all__ = ["DEFAULT_JUDGE_MODEL", "JUDGE_PRICES", "AnthropicJudge"]

#: Cheaper than the generator's: telling two evaluations apart is an easier task than
#: writing a convincing wrong one, and the judge makes two calls a pair.
DEFAULT_JUDGE_MODEL: Final = "claude-haiku-4-5"
#: Haiku-class list prices per million tokens.
JUDGE_PRICES: Final = Prices(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25)
_LIMITS, _BACKOFF = TextLimits(), Backoff()


def _count(tokens: Tokens, cost: float) -> None:
    for kind in ("input", "output", "cache_read", "cache_write"):
        m.JUDGE_TOKENS.labels(kind).inc(getattr(tokens, kind))
    m.JUDGE_COST.inc(cost)


def _read(reply: Reply) -> Answer | str:
    """The ordering's answer, or why there is none (a request outcome)."""
    if reply.stop_reason == "refusal":
        return "refusal"
    if reply.stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return "max_tokens"
    try:
        return parse_answer(reply.text)
    except UnreadableVerdict:
        return "parse_error"


class AnthropicJudge:
    """Verdicts from the Anthropic Messages API (``anthropic/<model>``).

    :param scale: the Φ scale, for the system prompt.
    :param model: the judge's model.
    :param client: the SDK client (by default one reading ``ANTHROPIC_*`` from the
        environment, closed by ``aclose``).
    :param limiter: the AIMD limiter to share (the generator's); a new one otherwise.
    :param spend: the spend meter to share (the generator's, so one cap covers both).
    :param prices: the judge model's prices per million tokens.
    :param max_tokens: the longest verdict.
    :param limits: what is sent of each text field.
    :param request_timeout_s: one attempt's timeout.
    :param time_budget_s: how long an ordering may wait out failures before the pair is
        published unjudged.
    :param backoff: the delays between attempts.
    :param max_concurrency: the limit of a limiter of its own (when none is shared).
    """

    # The generator's knobs (generate/anthropic.py) written out again rather than shared: the
    # judge's defaults differ (a verdict is shorter and cheaper than a wrong evaluation), and
    # its limiter and spend may be the generator's own.
    def __init__(
        self,
        *,
        scale: Scale,
        model: str = DEFAULT_JUDGE_MODEL,
        client: anthropic.AsyncAnthropic | None = None,
        limiter: AimdLimiter | None = None,
        spend: SpendMeter | None = None,
        prices: Prices = JUDGE_PRICES,
        max_tokens: int = 256,
        limits: TextLimits = _LIMITS,
        request_timeout_s: float = 60.0,
        time_budget_s: float = 300.0,
        backoff: Backoff = _BACKOFF,
        max_concurrency: int = 64,
    ) -> None:
        self._model = model
        self._limits = limits
        self._client = SdkClient(given=client, request_timeout_s=request_timeout_s)
        self._transport = Transport(
            client=self._client.calls,
            model=model,
            max_tokens=max_tokens,
            system=system_prompt(scale),
            output_schema=ANSWER_SCHEMA,
            request_timeout_s=request_timeout_s,
            time_budget_s=time_budget_s,
            backoff=backoff,
            limiter=limiter or AimdLimiter(max_limit=max_concurrency, min_limit=1),
            spend=spend or SpendMeter(cap_usd=0.0, window_s=3600.0, clock=time.monotonic),
            prices=prices,
            on_usage=_count,
        )

    @classmethod
    def from_settings(
        cls,
        s: Settings,
        *,
        shared: Transport | None = None,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> AnthropicJudge:
        """The judge the settings describe; ``shared``: the generator's transport, whose
        limiter and spend meter it shares."""
        return cls(
            scale=Scale(s.phi_min, s.phi_max),
            model=s.judge_model,
            client=client,
            limiter=shared.limiter if shared is not None else None,
            spend=shared.spend
            if shared is not None
            else SpendMeter(
                cap_usd=s.llm_spend_cap_usd_per_hour, window_s=3600.0, clock=time.monotonic
            ),
            prices=Prices(
                input=s.judge_price_input_per_mtok,
                output=s.judge_price_output_per_mtok,
                cache_read=s.judge_price_input_per_mtok / 10,
                cache_write=s.judge_price_input_per_mtok * 1.25,
            ),
            limits=text_limits(s),
            request_timeout_s=s.llm_request_timeout_s,
            time_budget_s=s.judge_time_budget_s,
            max_concurrency=s.llm_max_concurrency,
        )

    @property
    def name(self) -> str:
        return f"anthropic/{self._model}"

    async def judge(
        self, event: ScoreEvent, wrong: WrongEvaluation, place: float | None = None
    ) -> Verdict:
        asked = time.monotonic() if place is None else place
        tasks = [
            asyncio.ensure_future(self._ask(event, wrong, ordering, asked))
            for ordering in range(len(ORDERINGS))
        ]
        try:
            first, second = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()  # the other ordering, when one raised (refused credentials)
        if isinstance(first, Answer) and isinstance(second, Answer):
            return combine(self.name, (first, second))
        why = first if isinstance(first, str) else second
        assert isinstance(why, str)
        return unjudged(
            why,
            (
                first if isinstance(first, Answer) else None,
                second if isinstance(second, Answer) else None,
            ),
        )

    async def _ask(
        self, event: ScoreEvent, wrong: WrongEvaluation, ordering: int, place: float
    ) -> Answer | str:
        messages: list[MessageParam] = [
            {"role": "user", "content": user_prompt(event, wrong, ordering, self._limits)}
        ]
        try:
            reply = await self._transport.send(messages, priority=place)
        except GenerationFailed as exc:  # the time budget spent, or a request refused (400)
            return exc.reason
        answer = _read(reply)
        m.LLM_REQUESTS.labels("ok" if isinstance(answer, Answer) else answer).inc()
        return answer

    async def aclose(self) -> None:
        """Close the SDK client if this judge made it (idempotent)."""
        await self._client.aclose()
