"""The LLM's settings, a part of ``Settings``: the Anthropic generator's and the judge's.

Model, concurrency, time budgets, prices and what is sent of each text field, validated with
the rest at start (``consumer/settings.py`` reads them from the environment). The values the
generator and the judge both build from them are made here once (``text_limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

__all__ = ["LlmSettings", "TextLimits", "parse_band", "text_limits"]


@dataclass(frozen=True, slots=True)
class TextLimits:
    """Per-field character limits for what is sent; longer text keeps its head and tail."""

    state: int = 6000
    reasoning: int = 3000
    purpose: int = 1500
    action: int = 500


class LlmSettings(BaseModel):
    """The settings of the LLM generator and of the judge (``SELFTAUGHT_LLM_*``,
    ``SELFTAUGHT_ANTHROPIC_*``, ``SELFTAUGHT_JUDGE_*``)."""

    # The Anthropic generator. The SDK reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL itself.
    anthropic_model: str = Field("claude-sonnet-5-5", min_length=1)
    # A wrong evaluation is a short JSON object; 1024 leaves room for its reasoning.
    anthropic_max_tokens: int = Field(1024, ge=64, le=64_000)
    # The AIMD limit on concurrent calls starts at the maximum, halves on 429/529 and never
    # goes below the minimum.
    llm_max_concurrency: int = Field(64, ge=1, le=4096)
    llm_min_concurrency: int = Field(1, ge=1)
    # One attempt's timeout. An answer takes seconds; a minute tells a hung connection from a
    # slow answer without giving up on a busy API too early.
    llm_request_timeout_s: float = Field(60.0, gt=0, allow_inf_nan=False)
    # How long one event may keep failing to reach the model (throttled, overloaded, down)
    # before it is dead-lettered as llm_unavailable. It starts at the event's first failed
    # attempt, so a queue behind the concurrency limit alone never counts, and time paused
    # by the spend cap never does. 0 waits for as long as the outage lasts.
    llm_time_budget_s: float = Field(900.0, ge=0, allow_inf_nan=False)
    # Estimated USD per rolling hour; when reached, calls wait (no spending past it). 0: off.
    llm_spend_cap_usd_per_hour: float = Field(0.0, ge=0, allow_inf_nan=False)
    # USD per million tokens, for the cost estimate (defaults: Sonnet-class list prices;
    # set them when changing the model).
    llm_price_input_per_mtok: float = Field(3.0, ge=0, allow_inf_nan=False)
    llm_price_output_per_mtok: float = Field(15.0, ge=0, allow_inf_nan=False)
    llm_price_cache_read_per_mtok: float = Field(0.30, ge=0, allow_inf_nan=False)
    llm_price_cache_write_per_mtok: float = Field(3.75, ge=0, allow_inf_nan=False)
    # What is sent of each text field: longer text keeps its head and tail around a marker.
    # A few thousand characters keep a state's meaning and bound the cost of a call.
    llm_max_state_chars: int = Field(6000, ge=200)
    llm_max_reasoning_chars: int = Field(3000, ge=200)
    llm_max_purpose_chars: int = Field(1500, ge=200)

    # The judge: checks each pair in both answer orders before it is published.
    judge_backend: Literal["off", "anthropic"] = "off"
    # Cheaper than the generator's model: choosing between two evaluations is easier than
    # writing a convincing wrong one, and a pair costs two judge calls.
    judge_model: str = Field("claude-haiku-4-5", min_length=1)
    judge_price_input_per_mtok: float = Field(1.0, ge=0, allow_inf_nan=False)
    judge_price_output_per_mtok: float = Field(5.0, ge=0, allow_inf_nan=False)
    # How long a judge call may keep failing before its pair is published unjudged: the pair
    # is made and paid for, and its partition's commits wait behind it.
    judge_time_budget_s: float = Field(300.0, ge=0, allow_inf_nan=False)
    # The band of the judge's recent mean difficulty the curriculum keeps each mistake type
    # in, "LOW-HIGH" (see consumer/judge/curriculum.py for why 0.15-0.35).
    target_difficulty: str = "0.15-0.35"
    # Where pairs the judge gets wrong in both orders go, for a person to look at; unset:
    # counted and logged only.
    disputed_topic: str | None = Field(None, min_length=1)

    @property
    def difficulty_band(self) -> tuple[float, float]:
        """``target_difficulty`` as (low, high); validated at start."""
        return parse_band(self.target_difficulty)

    @model_validator(mode="after")
    def _band_is_a_range(self) -> Self:
        parse_band(self.target_difficulty)
        return self

    @model_validator(mode="after")
    def _llm_concurrency_is_a_range(self) -> Self:
        if self.llm_min_concurrency > self.llm_max_concurrency:
            raise ValueError(
                "SELFTAUGHT_LLM_MIN_CONCURRENCY cannot exceed SELFTAUGHT_LLM_MAX_CONCURRENCY"
            )
        return self


def text_limits(s: LlmSettings) -> TextLimits:
    """What is sent of each text field, for the generator and the judge alike (an action's
    name is bounded like a purpose)."""
    return TextLimits(
        state=s.llm_max_state_chars,
        reasoning=s.llm_max_reasoning_chars,
        purpose=s.llm_max_purpose_chars,
        action=s.llm_max_purpose_chars,
    )


def parse_band(text: str) -> tuple[float, float]:
    """``"0.15-0.35"`` -> (0.15, 0.35): a band inside [0, 1], low below high."""
    low, sep, high = text.replace(",", "-").partition("-")
    try:
        band = (float(low), float(high))
    except ValueError:
        band = (-1.0, -1.0)
    if not sep or not 0.0 <= band[0] < band[1] <= 1.0:
        raise ValueError(
            f"SELFTAUGHT_TARGET_DIFFICULTY must be LOW-HIGH within [0, 1], got {text!r}"
        )
    return band
