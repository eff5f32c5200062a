"""The typed domain: what flows between the stages. Frozen values, no behaviour with I/O.

The values made for every record (SourceRef, TraceEvent, ScoreData, ScoreEvent,
WrongEvaluation, ContrastPair, MemoryCard and its MemoryScope) are NamedTuples: as immutable
as a frozen dataclass and several times cheaper to build, which shows at tens of thousands of
records a second. The hot path builds them positionally: from keywords, a NamedTuple costs a
dict of them first (about twice the time; for an 18-field card, as much as its three ids).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple


class MistakeType(StrEnum):
    """The common critic mistakes a wrong evaluation may make (the contract's vocabulary)."""

    INTENTION_CREDIT = "intention_credit"
    SYCOPHANCY = "sycophancy"
    IGNORED_EVIDENCE = "ignored_evidence"
    SCALE_INCONSISTENCY = "scale_inconsistency"
    PURPOSE_DRIFT = "purpose_drift"
    OTHER = "other"

    @classmethod
    def parse(cls, text: str) -> MistakeType:
        """Map free text to a known type; anything outside the five becomes ``other``."""
        try:
            return cls(text.strip().lower().replace("-", "_").replace(" ", "_"))
        except ValueError:
            return cls.OTHER


_PHI_TEXTS: Final[dict[float, str]] = {}
_PHI_TEXTS_MAX: Final = 4096


def phi_text(phi: float) -> str:
    """``f"{phi:g}"``, as card texts and generated reasonings write a Φ.

    Remembered (for the first few thousand values): Φ values repeat, mostly on the scale's
    half points, and formatting a float was a visible part of the CPU per event, where a
    card pair and its wrong reasoning write five of them.
    """
    text = _PHI_TEXTS.get(phi)
    if text is None or phi == 0.0:  # 0.0 and -0.0 are one key with two texts
        text = f"{phi:g}"
        if len(_PHI_TEXTS) < _PHI_TEXTS_MAX:
            _PHI_TEXTS[phi] = text
    return text


#: The five named mistakes, in the order the rules generator cycles through them.
CURRICULUM: Final[tuple[MistakeType, ...]] = (
    MistakeType.INTENTION_CREDIT,
    MistakeType.SYCOPHANCY,
    MistakeType.IGNORED_EVIDENCE,
    MistakeType.SCALE_INCONSISTENCY,
    MistakeType.PURPOSE_DRIFT,
)


class SourceRef(NamedTuple):
    """Where a record came from, with its raw bytes, so it can be dead-lettered untouched."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


class ScoreData(NamedTuple):
    state_before: str
    action_name: str
    state_after: str
    phi_before: float
    phi_after: float
    reasoning: str


class TraceEvent(NamedTuple):
    """A decoded input event, resolved to our reader schema."""

    event_id: str
    trace_id: str
    kind: str
    purpose: str
    step: int
    timestamp_ms: int
    agent_id: str | None
    score: ScoreData | None


class ScoreEvent(NamedTuple):
    """A score event that passed validation: the step a contrast is generated for."""

    event_id: str
    trace_id: str
    purpose: str
    step: int
    timestamp_ms: int
    agent_id: str | None
    score: ScoreData

    @property
    def delta(self) -> float:
        return self.score.phi_after - self.score.phi_before


class WrongEvaluation(NamedTuple):
    """What a generator proposes: a plausible but wrong score for the same step.

    ``why_wrong`` (one sentence: where the evaluation goes astray) and ``lesson`` (what the
    wrong evaluation did and the principle that avoids it, read alone) become the failure
    card's ``why_wrong`` and ``strategy``; empty when the generator gave none, and the card
    then says it in the mistake type's own words.
    """

    phi_after: float
    reasoning: str
    mistake_type: MistakeType
    why_wrong: str = ""
    lesson: str = ""


class ContrastPair(NamedTuple):
    """A validated pair: the event's correct evaluation and a wrong one.

    ``prompt_version``: the generator's prompt or rules version. ``difficulty`` and
    ``judge``: what a judge found checking the pair (the share of orderings it got wrong,
    and which judge), ``None`` when none checked it; both go to the two cards as they are.
    """

    event: ScoreEvent
    wrong: WrongEvaluation
    generator: str
    prompt_version: str | None = None
    difficulty: float | None = None
    judge: str | None = None


class MemoryScope(NamedTuple):
    agent_roles: tuple[str, ...]


class MemoryCard(NamedTuple):
    """One output card, field for field the contract's MemoryCard."""

    card_id: str
    pair_id: str
    kind: str
    status: str
    content: str
    pattern: str
    strategy: str
    trust_score: float
    purpose: str
    source_trace_id: str
    source_event_id: str
    created_by: str
    created_at_ms: int
    scope: MemoryScope | None
    mistake_type: str | None
    phi_before: float
    phi_after: float
    generator: str
    # version 2 (optional in the schema: a version 1 card has none of them)
    action_name: str | None
    state_before: str | None
    state_after: str | None
    why_wrong: str | None
    contrast: float | None
    difficulty: float | None
    judge: str | None
    prompt_version: str | None
