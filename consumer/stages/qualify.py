"""Pure: which decoded events qualify for a contrast pair (kind, validity, delta, sampling)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consumer.errors import InvalidEvent
from consumer.events import ScoreEvent, TraceEvent

# Φ values arrive as doubles; 7.5 - 7.0 is exact but 0.3 - 0.1 is not. A delta this close to
# the threshold counts as meeting it, so a critic's "+0.5" is never lost to rounding.
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Scale:
    """The Φ scale, ``[low, high]``."""

    low: float
    high: float

    def contains(self, phi: float) -> bool:
        return self.low <= phi <= self.high


@dataclass(frozen=True, slots=True)
class Criteria:
    scale: Scale
    min_delta: float
    sample_rate: float
    max_text_chars: int


class Skip(StrEnum):
    """Why a valid event yields nothing (each is counted, none is an error)."""

    NOT_SCORE = "not_score"
    BELOW_DELTA = "below_delta"
    SAMPLED_OUT = "sampled_out"
    # What is left after redaction would still fail MemoryCI's immune scan, or is nothing
    # but markers: known before any LLM call, so none is made (consumer/redact/).
    UNSAFE_CONTENT = "unsafe_content"


def in_sample(event_id: str, rate: float) -> bool:
    """A stable decision per event id: a retry or another replica decides the same way."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def qualify(event: TraceEvent, criteria: Criteria) -> ScoreEvent | Skip:
    """The score event to pair, or why there is none. Raises ``InvalidEvent`` for bad content."""
    score = event.score
    if event.kind != "score" or score is None:
        return Skip.NOT_SCORE
    for name, phi in (("phi_before", score.phi_before), ("phi_after", score.phi_after)):
        if not math.isfinite(phi):
            raise InvalidEvent(reason="phi_not_finite", message=f"{name} is {phi}")
        if not criteria.scale.contains(phi):
            raise InvalidEvent(
                reason="phi_off_scale",
                message=f"{name} {phi} is outside [{criteria.scale.low}, {criteria.scale.high}]",
            )
    if not event.event_id:
        raise InvalidEvent(reason="missing_id", message="event_id is empty")
    texts = {
        "purpose": event.purpose,
        "state_before": score.state_before,
        "action_name": score.action_name,
        "state_after": score.state_after,
        "reasoning": score.reasoning,
    }
    for name, text in texts.items():
        if len(text) > criteria.max_text_chars:
            raise InvalidEvent(
                reason="field_too_large",
                message=f"{name} has {len(text)} characters, over the limit of {criteria.max_text_chars}",
            )
    if not score.reasoning.strip():
        raise InvalidEvent(
            reason="missing_reasoning", message="the correct evaluation has no reasoning"
        )
    if abs(score.phi_after - score.phi_before) + _EPSILON < criteria.min_delta:
        return Skip.BELOW_DELTA
    if not in_sample(event.event_id, criteria.sample_rate):
        return Skip.SAMPLED_OUT
    # Positional: a NamedTuple built from keywords costs twice as much, per qualifying event.
    return ScoreEvent(
        event.event_id,
        event.trace_id,
        event.purpose,
        event.step,
        event.timestamp_ms,
        event.agent_id,
        score,
    )
