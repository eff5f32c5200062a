"""Pure: cards read from the topic -> contrast pairs, the held-out split, and what may be shown.

A pair is its two cards (same ``pair_id``): the calibration card carries the correct Φ after
and reasoning, the failure card the wrong ones and the mistake type. Cards of either schema
version are read: version 2's state excerpts and action describe the situation when present;
on version 1 cards the action is read from the content and the states are unknown.

Leakage: a test pair's own cards, any card from the same source event, and any card from the
same trace step are never shown (for it, nor for any other test pair: the test set is held
out whole). Cards carry no step number, so a step is known by
its trace, its action, its state before and its Φ before; two steps of one trace that agree
on all of those count as one step (the rule errs toward showing less).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Card",
    "Evaluation",
    "Pair",
    "Situation",
    "admissible",
    "card_from_record",
    "memory_cards",
    "pairs_from_cards",
    "split",
]

CALIBRATION = "critic_calibration"
FAILURE = "failure_pattern"
Holdout = Literal["newest", "hash"]

# Version 1 cards: "... after '<action>', Φ went from ..." and "... Reasoning: <text>".
_ACTION = re.compile(r"after '(.*?)',", re.S)
_REASONING = re.compile(r"(?:^|[\s.])(?:Flawed reasoning|Reasoning|reasoning):\s*(.*)\Z", re.S)
_LABELS = ("Score like this:", "AVOID")
# Version 2 cards: "... Correct: Φ after <x>, because <text>" and
# "... Wrong (<mistake>): Φ after <x> where <y> is right, because <text>" (consumer/stages/cards.py).
_REASONING_V2 = re.compile(r"(?:Correct|Wrong \([a-z_]+\)): Φ after [^,]*?, because (.*)\Z", re.S)


@dataclass(frozen=True, slots=True)
class Card:
    """A memory card as the evaluation reads it (either schema version).

    Not ``events.MemoryCard``, whose fields it repeats: that one is what the service writes
    (version 2, every field); this one is read back from either version, with only what the
    evaluation uses and version 2's fields optional (``card_from_record``).
    """

    card_id: str
    pair_id: str
    kind: str
    content: str
    pattern: str
    strategy: str
    trust_score: float
    purpose: str
    source_trace_id: str
    source_event_id: str
    created_at_ms: int
    agent_roles: tuple[str, ...]
    mistake_type: str | None
    phi_before: float
    phi_after: float
    action_name: str | None = None
    state_before: str | None = None
    state_after: str | None = None


def card_from_record(r: Mapping[str, Any]) -> Card:
    """A decoded card record (a dict, version 1 or 2 fields) as a ``Card``.

    The same field-by-field shape as the codec's ``_to_event``, for another record: the
    codec's reads events on the hot path, this one cards of either version for the eval.
    """
    scope = r.get("scope")
    return Card(
        card_id=r["card_id"],
        pair_id=r["pair_id"],
        kind=r["kind"],
        content=r["content"],
        pattern=r["pattern"],
        strategy=r["strategy"],
        trust_score=float(r["trust_score"]),
        purpose=r["purpose"],
        source_trace_id=r["source_trace_id"],
        source_event_id=r["source_event_id"],
        created_at_ms=int(r["created_at_ms"]),
        agent_roles=tuple(scope["agent_roles"]) if scope else (),
        mistake_type=r.get("mistake_type"),
        phi_before=float(r["phi_before"]),
        phi_after=float(r["phi_after"]),
        action_name=r.get("action_name"),
        state_before=r.get("state_before"),
        state_after=r.get("state_after"),
    )


@dataclass(frozen=True, slots=True)
class Situation:
    """The step both evaluations judge."""

    purpose: str
    action_name: str
    state_before: str | None
    state_after: str | None
    phi_before: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    phi_after: float
    reasoning: str


@dataclass(frozen=True, slots=True)
class Pair:
    """A contrast pair rebuilt from its two cards."""

    pair_id: str
    mistake_type: str
    situation: Situation
    correct: Evaluation
    wrong: Evaluation
    calibration: Card
    failure: Card

    @property
    def purpose(self) -> str:
        return self.situation.purpose

    @property
    def created_at_ms(self) -> int:
        return max(self.calibration.created_at_ms, self.failure.created_at_ms)


def action_of(card: Card) -> str:
    """The step's action: version 2's field, else read from version 1's content."""
    if card.action_name is not None:
        return card.action_name
    m = _ACTION.search(card.content)
    return m.group(1) if m else ""


def _reasoning(card: Card) -> str:
    """The evaluation's reasoning, without the card's own labels (they would give it away)."""
    m = _REASONING_V2.search(card.content) or _REASONING.search(card.content)
    if m and m.group(1).strip():
        return m.group(1).strip()
    text = card.strategy if card.kind == CALIBRATION else card.content
    for label in _LABELS:
        text = text.removeprefix(label)
    return text.strip()


def step_key(card: Card) -> tuple[str, str, str, float]:
    """What identifies a card's trace step (see the module's docstring)."""
    return (card.source_trace_id, action_of(card), card.state_before or "", card.phi_before)


def pairs_from_cards(cards: Iterable[Card]) -> list[Pair]:
    """Every complete pair, oldest first; a card seen twice (a re-delivery) counts once, and
    a pair missing one of its cards is left out."""
    by_pair: dict[str, dict[str, Card]] = {}
    for card in cards:
        if card.kind in (CALIBRATION, FAILURE):
            by_pair.setdefault(card.pair_id, {}).setdefault(card.kind, card)
    pairs = []
    for pair_id, kinds in by_pair.items():
        cal, fail = kinds.get(CALIBRATION), kinds.get(FAILURE)
        if cal is None or fail is None:
            continue
        situation = Situation(
            purpose=cal.purpose,
            action_name=action_of(cal),
            state_before=cal.state_before,
            state_after=cal.state_after,
            phi_before=cal.phi_before,
        )
        pairs.append(
            Pair(
                pair_id=pair_id,
                mistake_type=fail.mistake_type or "other",
                situation=situation,
                correct=Evaluation(cal.phi_after, _reasoning(cal)),
                wrong=Evaluation(fail.phi_after, _reasoning(fail)),
                calibration=cal,
                failure=fail,
            )
        )
    pairs.sort(key=lambda p: (p.created_at_ms, p.pair_id))
    return pairs


def _share(pair_id: str) -> float:
    """A stable place in [0, 1) for a pair id (the same on every run and machine)."""
    digest = hashlib.sha256(pair_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split(pairs: Sequence[Pair], holdout: float, by: Holdout) -> tuple[list[Pair], list[Pair]]:
    """(test pairs, memory pairs): the newest ``holdout`` share of the pairs, or the pairs
    whose id hashes into that share. The memory is everything else."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"the holdout share must be between 0 and 1, not {holdout:g}")
    if by == "hash":
        test = [p for p in pairs if _share(p.pair_id) < holdout]
    else:
        ordered = sorted(pairs, key=lambda p: (p.created_at_ms, p.pair_id))
        n = min(len(ordered), math.ceil(holdout * len(ordered)))
        test = ordered[len(ordered) - n :]
    chosen = {p.pair_id for p in test}
    return test, [p for p in pairs if p.pair_id not in chosen]


def admissible(memory: Sequence[Card], test: Sequence[Pair]) -> list[Card]:
    """The memory cards that may be shown while judging the test pairs: none of a test
    pair's own cards, none from a test pair's source event, none from a test pair's trace
    step. The whole test set is held out, so what holds for each pair holds for all."""
    pair_ids = {p.pair_id for p in test}
    events = {c.source_event_id for p in test for c in (p.calibration, p.failure)}
    steps = {step_key(c) for p in test for c in (p.calibration, p.failure)}
    return [
        c
        for c in memory
        if c.pair_id not in pair_ids
        and c.source_event_id not in events
        and step_key(c) not in steps
    ]


def memory_cards(memory: Sequence[Pair]) -> list[Card]:
    """The cards the memory pairs contribute, both kinds."""
    return [c for p in memory for c in (p.calibration, p.failure)]
