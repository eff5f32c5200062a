"""Pure: a validated contrast pair -> the contract's two memory cards, ids included."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Final

from consumer.events import ContrastPair, MemoryCard, MemoryScope, MistakeType, phi_text

CALIBRATION: Final = "critic_calibration"
FAILURE: Final = "failure_pattern"
CREATED_BY: Final = "self_taught"
STATUS: Final = "candidate"
PATTERN: Final = "When evaluating state transitions"
TRUNCATION_MARKER: Final = " …[truncated by selftaught]"

_AVOID: Final = {
    MistakeType.INTENTION_CREDIT: "score the state change that happened, not what the "
    "action was meant to achieve",
    MistakeType.SYCOPHANCY: "do not inflate a score to encourage; score the evidence",
    MistakeType.IGNORED_EVIDENCE: "read the state after and let what it shows decide the score",
    MistakeType.SCALE_INCONSISTENCY: "keep to the scale's direction and its usual steps",
    MistakeType.OTHER: "check the score against the evidence in the state after",
}


# SHA-1 over the namespace, once; each id copies it and adds its name.
_NAMESPACED: Final = hashlib.sha1(uuid.NAMESPACE_URL.bytes)
# The RFC 4122 variant keeps the top two bits of the hex digit at 17 as 10: 8, 9, a or b.
_VARIANT: Final = {c: "89ab"[int(c, 16) & 0x3] for c in "0123456789abcdef"}


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, name))``, in a sixth of the time.

    Three ids per pair at tens of thousands of pairs a second: the ``uuid.UUID`` object
    (an int, then formatted back) was a tenth of the service's CPU. Same hash, same text:
    the version digit is set to 5 and the variant digit's top bits to 10, in the hex.
    """
    h = _NAMESPACED.copy()
    h.update(name.encode("utf-8"))
    x = h.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


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


_CRITIC: Final = MemoryScope(agent_roles=("critic",))


def build_cards(
    pair: ContrastPair, policy: CardPolicy, now_ms: int
) -> tuple[MemoryCard, MemoryCard]:
    """The calibration card and the failure-pattern card, in that order."""
    e, w = pair.event, pair.wrong
    s = e.score
    lim = policy.text_limit
    mistake = w.mistake_type.value
    pid = pair_id(e.event_id)
    purpose = shorten(e.purpose, lim)
    action = shorten(s.action_name, lim)
    before, after = shorten(s.state_before, lim), shorten(s.state_after, lim)
    contrast = abs(w.phi_after - s.phi_after)
    # Positional, each argument named by its field: built from keywords, a MemoryCard cost
    # about as much as its three ids (a dict of 18 keywords per card, two cards per event).
    # The failure card shares the pair's fields (ids, purpose, source, time, Φ before).
    correct = MemoryCard(
        card_id(e.event_id, CALIBRATION),  # card_id
        pid,  # pair_id
        CALIBRATION,  # kind
        STATUS,  # status
        shorten(  # content
            f"CORRECT scoring example: after '{s.action_name}', Φ went from "
            f"{phi_text(s.phi_before)} to {phi_text(s.phi_after)}. Reasoning: {s.reasoning}",
            lim,
        ),
        PATTERN,  # pattern
        shorten(f"Score like this: {s.reasoning}", lim),  # strategy
        policy.trust_score,  # trust_score
        purpose,  # purpose
        e.trace_id,  # source_trace_id
        e.event_id,  # source_event_id
        CREATED_BY,  # created_by
        now_ms,  # created_at_ms
        None,  # scope
        None,  # mistake_type
        s.phi_before,  # phi_before
        s.phi_after,  # phi_after
        pair.generator,  # generator
        action,  # action_name
        before,  # state_before
        after,  # state_after
        None,  # why_wrong
        contrast,  # contrast
        pair.difficulty,  # difficulty
        pair.judge,  # judge
        pair.prompt_version,  # prompt_version
    )
    wrong = MemoryCard(
        card_id(e.event_id, FAILURE),  # card_id
        pid,  # pair_id
        FAILURE,  # kind
        STATUS,  # status
        shorten(  # content
            f"WRONG scoring example ({mistake}): after '{s.action_name}', "
            f"Φ_after was scored {phi_text(w.phi_after)} where {phi_text(s.phi_after)} was "
            f"right. Flawed reasoning: {w.reasoning}",
            lim,
        ),
        PATTERN,  # pattern
        shorten(f"AVOID {mistake}: {_AVOID[w.mistake_type]}.", lim),  # strategy
        policy.trust_score,  # trust_score
        purpose,  # purpose
        e.trace_id,  # source_trace_id
        e.event_id,  # source_event_id
        CREATED_BY,  # created_by
        now_ms,  # created_at_ms
        _CRITIC,  # scope
        mistake,  # mistake_type
        s.phi_before,  # phi_before
        w.phi_after,  # phi_after
        pair.generator,  # generator
        action,  # action_name
        before,  # state_before
        after,  # state_after
        shorten(w.why_wrong, lim) or None,  # why_wrong
        contrast,  # contrast
        pair.difficulty,  # difficulty
        pair.judge,  # judge
        pair.prompt_version,  # prompt_version
    )
    return correct, wrong
