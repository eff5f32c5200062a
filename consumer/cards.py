"""Pure: a validated contrast pair -> the contract's two memory cards, ids included."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from consumer.events import ContrastPair, MemoryCard, MemoryScope, MistakeType

CALIBRATION = "critic_calibration"
FAILURE = "failure_pattern"
CREATED_BY = "self_taught"
STATUS = "candidate"
PATTERN = "When evaluating state transitions"
TRUNCATION_MARKER = " …[truncated by selftaught]"

_AVOID = {
    MistakeType.INTENTION_CREDIT: "score the state change that happened, not what the "
    "action was meant to achieve",
    MistakeType.SYCOPHANCY: "do not inflate a score to encourage; score the evidence",
    MistakeType.IGNORED_EVIDENCE: "read the state after and let what it shows decide the score",
    MistakeType.SCALE_INCONSISTENCY: "keep to the scale's direction and its usual steps",
    MistakeType.OTHER: "check the score against the evidence in the state after",
}


_NAMESPACE = uuid.NAMESPACE_URL.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, name))``, in a third of the time.

    Three ids per pair at tens of thousands of pairs a second: the ``uuid.UUID`` object
    (an int, then formatted back) was a tenth of the service's CPU. Same bytes, same text.
    """
    b = bytearray(hashlib.sha1(_NAMESPACE + name.encode("utf-8")).digest()[:16])
    b[6] = b[6] & 0x0F | 0x50  # version 5
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def pair_id(source_event_id: str) -> str:
    return _uuid5("selftaught/pair/" + source_event_id)


def card_id(source_event_id: str, kind: str) -> str:
    return _uuid5(f"selftaught/card/{source_event_id}/{kind}")


def shorten(text: str, limit: int) -> str:
    """The text, or its head with a marker when it is longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


@dataclass(frozen=True, slots=True)
class CardPolicy:
    trust_score: float
    text_limit: int


def build_cards(
    pair: ContrastPair, policy: CardPolicy, now_ms: int
) -> tuple[MemoryCard, MemoryCard]:
    """The calibration card and the failure-pattern card, in that order."""
    e, w = pair.event, pair.wrong
    s = e.score
    lim = policy.text_limit
    pid = pair_id(e.event_id)

    def card(kind: str, **fields: object) -> MemoryCard:
        return MemoryCard(
            card_id=card_id(e.event_id, kind),
            pair_id=pid,
            kind=kind,
            status=STATUS,
            pattern=PATTERN,
            trust_score=policy.trust_score,
            purpose=shorten(e.purpose, lim),
            source_trace_id=e.trace_id,
            source_event_id=e.event_id,
            created_by=CREATED_BY,
            created_at_ms=now_ms,
            phi_before=s.phi_before,
            generator=pair.generator,
            **fields,  # type: ignore[arg-type]
        )

    correct = card(
        CALIBRATION,
        content=shorten(
            f"CORRECT scoring example: after '{s.action_name}', Φ went from "
            f"{s.phi_before:g} to {s.phi_after:g}. Reasoning: {s.reasoning}",
            lim,
        ),
        strategy=shorten(f"Score like this: {s.reasoning}", lim),
        scope=None,
        mistake_type=None,
        phi_after=s.phi_after,
    )
    wrong = card(
        FAILURE,
        content=shorten(
            f"WRONG scoring example ({w.mistake_type.value}): after '{s.action_name}', "
            f"Φ_after was scored {w.phi_after:g} where {s.phi_after:g} was right. "
            f"Flawed reasoning: {w.reasoning}",
            lim,
        ),
        strategy=shorten(f"AVOID {w.mistake_type.value}: {_AVOID[w.mistake_type]}.", lim),
        scope=MemoryScope(agent_roles=("critic",)),
        mistake_type=w.mistake_type.value,
        phi_after=w.phi_after,
    )
    return correct, wrong
