"""Cards for the evaluation's tests: real contrast pairs through ``cards.build_cards``.

Each pair's texts carry a tag ``<purpose>/<mistake>`` (in its action, so in its cards'
content and pattern), so a scripted critic can tell which cards it was shown. The pattern
is made specific to the step, as the contract asks of cards (a constant pattern would make
MemoryCI's compiler keep a single card of all of them).
"""

from __future__ import annotations

from typing import Any

from consumer.events import (
    ContrastPair,
    MemoryCard,
    MistakeType,
    ScoreData,
    ScoreEvent,
    WrongEvaluation,
)
from consumer.stages.cards import CardPolicy, build_cards

POLICY = CardPolicy(trust_score=0.7, text_limit=600)


def tag(purpose: str, mistake: str) -> str:
    return f"{purpose}/{mistake}"


def pair_cards(
    i: int,
    purpose: str,
    mistake: MistakeType,
    *,
    event_id: str | None = None,
    trace_id: str | None = None,
    action: str | None = None,
    phi_before: float = 3.0,
    created_at_ms: int | None = None,
) -> tuple[MemoryCard, MemoryCard]:
    """The two cards of pair ``i`` (calibration first): correct Φ after 6, wrong 9."""
    event_id = event_id or f"ev-{i}"
    action = action or f"step{i}-{tag(purpose, mistake.value)}"
    score = ScoreData(
        f"build {i} red: {2 + i % 3} tests failing",
        action,
        "build green: all tests pass" if i % 2 else "1 test failing",
        phi_before,
        6.0,
        f"Case {i}: the failures the step fixed show in the state after.",
    )
    event = ScoreEvent(
        event_id, trace_id or f"tr-{i}", purpose, i, 1_700_000_000_000 + i, None, score
    )
    wrong = WrongEvaluation(9.0, f"Case {i}: great effort by the agent, so a high score.", mistake)
    cal, fail = build_cards(
        ContrastPair(event, wrong, "rules/1"), POLICY, created_at_ms or 1_700_000_000_000 + i
    )
    pattern = f"a {action} step toward {purpose}"
    return cal._replace(pattern=pattern), fail._replace(pattern=pattern)


def record(card: MemoryCard, **v2: Any) -> dict[str, Any]:
    """The card as the codec decodes it (a dict); ``v2``: version 2 fields to add."""
    r = card._asdict()
    r["scope"] = None if card.scope is None else {"agent_roles": list(card.scope.agent_roles)}
    r.update(v2)
    return r
