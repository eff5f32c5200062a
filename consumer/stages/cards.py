"""Pure: a validated contrast pair -> the contract's two memory cards, ids included.

A card is read alone, in another agent's prompt: MemoryCI's ``PromptCompiler`` shows a
calibration card as ``- Scoring note: <content>`` and a failure card as ``- Avoid: <pattern>
— <strategy>``, keeps one card per distinct start of ``pattern`` (its first 50 characters),
and counts a card's cost as its line's length over 4. So ``content`` carries the whole
situation (purpose, action, both states, Φ before and after) and the reasoning; ``pattern``
starts with what is specific to the step (its action and its purpose); a failure card's
``strategy`` is its lesson read alone; and each is bounded so a card's line stays near 150
tokens. Excerpts keep a text's head and tail around a marker: a state's outcome (the final
error, the result) is often at its end.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Final, NamedTuple

from consumer.events import ContrastPair, MemoryCard, MemoryScope, MistakeType, phi_text
from consumer.stages.excerpts import cut, excerpt, one_line, shorten, with_tail

CALIBRATION: Final = "critic_calibration"
FAILURE: Final = "failure_pattern"
CREATED_BY: Final = "self_taught"
STATUS: Final = "candidate"

#: The principle behind each mistake type, for a failure card whose generator gave no lesson.
PRINCIPLES: Final = {
    MistakeType.INTENTION_CREDIT: "score the change the state after shows, not what the "
    "action was meant to achieve",
    MistakeType.SYCOPHANCY: "score the evidence of progress, never effort or tone",
    MistakeType.IGNORED_EVIDENCE: "read the state after first and let what it shows decide Φ",
    MistakeType.SCALE_INCONSISTENCY: "keep to the scale's direction (higher is closer to the "
    "purpose) and its usual steps",
    MistakeType.PURPOSE_DRIFT: "measure the step against the purpose as stated, not a "
    "neighbouring one",
    MistakeType.OTHER: "check the score against the evidence in the state after",
}


_NAMESPACE: Final = uuid.NAMESPACE_URL.bytes
# The RFC 4122 variant keeps the top two bits of the hex digit at 17 as 10: 8, 9, a or b.
_VARIANT: Final = {c: "89ab"[int(c, 16) & 0x3] for c in "0123456789abcdef"}


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, name))``, in a sixth of the time.

    Three ids per pair at tens of thousands of pairs a second: the ``uuid.UUID`` object
    (an int, then formatted back) was a tenth of the service's CPU. Same hash, same text:
    the version digit is set to 5 and the variant digit's top bits to 10, in the hex.
    """
    # One call over the namespace and the name: copying a hash object that had the namespace
    # already took twice as long as hashing both.
    x = hashlib.sha1(_NAMESPACE + name.encode("utf-8")).hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


def pair_id(source_event_id: str) -> str:
    return _uuid5("selftaught/pair/" + source_event_id)


def card_id(source_event_id: str, kind: str) -> str:
    return _uuid5(f"selftaught/card/{source_event_id}/{kind}")


@dataclass(frozen=True, slots=True)
class CardPolicy:
    """How cards are written and bounded (settings: ``SELFTAUGHT_TRUST_SCORE``,
    ``SELFTAUGHT_CARD_*``).

    :param trust_score: both cards' ``trust_score``.
    :param text_limit: the longest ``purpose`` field (a broker's message size bounds it).
    :param content_chars: the longest ``content``; with the prefix ``- Scoring note: ``,
        the default keeps a calibration card's line under 150 tokens.
    :param excerpt_chars: the longest excerpt of a state (``state_before``,
        ``state_after`` and inside ``content``).
    :param pattern_chars: the longest ``pattern``.
    :param strategy_chars: the longest ``strategy``; pattern and strategy together keep a
        failure card's line under 150 tokens.
    """

    trust_score: float
    text_limit: int
    content_chars: int = 560
    excerpt_chars: int = 110
    pattern_chars: int = 150
    strategy_chars: int = 420


_CRITIC: Final = MemoryScope(agent_roles=("critic",))


class _Flat(NamedTuple):
    """A pair's texts on one line, each flattened once for every excerpt taken of it."""

    purpose: str
    action: str
    before: str
    after: str
    reasoning: str
    wrong_reasoning: str


def _flat(pair: ContrastPair) -> _Flat:
    e, s = pair.event, pair.event.score
    return _Flat(
        one_line(e.purpose),
        one_line(s.action_name),
        one_line(s.state_before),
        one_line(s.state_after),
        one_line(s.reasoning),
        one_line(pair.wrong.reasoning),
    )


def _situation(pair: ContrastPair, policy: CardPolicy, f: _Flat, before: str, after: str) -> str:
    """``before`` and ``after``: the states' excerpts (``policy.excerpt_chars``)."""
    x = policy.excerpt_chars
    return (
        f"Purpose: {cut(f.purpose, x).rstrip('.')}. "
        f"Action: {cut(f.action, x // 2).rstrip('.')}. "
        f"Before (Φ {phi_text(pair.event.score.phi_before)}): {before.rstrip('.')}. "
        f"After: {after.rstrip('.')}."
    )


def _bounded(situation: str, judgement: str, limit: int) -> str:
    """The situation and as much of the judgement (on one line) as fits, its head and tail
    kept."""
    room = limit - len(situation) - 1
    if room < 40:  # a small limit: the situation gives way too, never the judgement
        return excerpt(situation + " " + judgement, limit)
    return situation + " " + cut(judgement, room)


def pattern(pair: ContrastPair, policy: CardPolicy, f: _Flat | None = None) -> str:
    """When the cards apply: the kind of step, in its own words. The compiler keeps one card
    per first 50 characters of ``pattern``, so those are the action and the purpose with no
    filler between them: a purpose's specifics (an account, a module, a city) often start
    past its 20th character, and a lead-in of stock words would push them out, folding many
    situations into one. Then it says which way the step went."""
    f = f or _flat(pair)
    s = pair.event.score
    went = "progress" if s.phi_after > s.phi_before else "a setback"
    text = f"{cut(f.action, 30)} toward '{cut(f.purpose, 60)}' (state after: {went})"
    return cut(text, policy.pattern_chars)


def calibration_strategy(pair: ContrastPair, policy: CardPolicy, f: _Flat | None = None) -> str:
    f = f or _flat(pair)
    s = pair.event.score
    went = "toward" if s.phi_after > s.phi_before else "away from"
    delta = s.phi_after - s.phi_before
    text = with_tail(
        f"Score such a step by how far what the state after shows moves {went} the purpose: "
        f"here Φ {phi_text(s.phi_before)} → {phi_text(s.phi_after)} "
        f"({'+' if delta > 0 else ''}{phi_text(round(delta, 6))}), because",
        cut(f.reasoning, policy.strategy_chars),
    )
    return cut(text, policy.strategy_chars)


def failure_strategy(pair: ContrastPair, policy: CardPolicy, f: _Flat | None = None) -> str:
    """The lesson read alone: the generator's own, else the mistake type's principle with
    this step's specifics."""
    w, s = pair.wrong, pair.event.score
    if w.lesson.strip():
        return excerpt(w.lesson, policy.strategy_chars)
    f = f or _flat(pair)
    text = (
        f"A {w.mistake_type.value.replace('_', ' ')} evaluation scored "
        f"'{cut(f.action, 40)}' Φ_after {phi_text(w.phi_after)} where the state "
        f"after supports {phi_text(s.phi_after)}: {PRINCIPLES[w.mistake_type]}."
    )
    return cut(text, policy.strategy_chars)


def build_cards(
    pair: ContrastPair, policy: CardPolicy, now_ms: int
) -> tuple[MemoryCard, MemoryCard]:
    """The calibration card and the failure-pattern card, in that order."""
    e, w = pair.event, pair.wrong
    s = e.score
    x = policy.excerpt_chars
    mistake = w.mistake_type.value
    pid = pair_id(e.event_id)
    purpose = shorten(e.purpose, policy.text_limit)
    # Every excerpt is taken of a text flattened once (texts and templates are on one line,
    # so what is built of them is too: only the generator's lesson and why_wrong are not).
    f = _flat(pair)
    action = cut(f.action, x)
    before, after = cut(f.before, x), cut(f.after, x)
    contrast = abs(w.phi_after - s.phi_after)
    situation = _situation(pair, policy, f, before, after)
    when = pattern(pair, policy, f)
    why_wrong = excerpt(w.why_wrong, policy.strategy_chars) if w.why_wrong.strip() else None
    right = phi_text(s.phi_after)
    # Positional, each argument named by its field: built from keywords, a MemoryCard cost
    # about as much as its three ids (a dict of 26 keywords per card, two cards per event).
    # The failure card shares the pair's fields (ids, purpose, source, time, Φ before).
    correct = MemoryCard(
        card_id(e.event_id, CALIBRATION),  # card_id
        pid,  # pair_id
        CALIBRATION,  # kind
        STATUS,  # status
        _bounded(  # content
            situation,
            with_tail(f"Correct: Φ after {right}, because", f.reasoning),
            policy.content_chars,
        ),
        when,  # pattern
        calibration_strategy(pair, policy, f),  # strategy
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
        _bounded(  # content
            situation,
            with_tail(
                f"Wrong ({mistake}): Φ after {phi_text(w.phi_after)} where {right} is right, "
                "because",
                f.wrong_reasoning,
            ),
            policy.content_chars,
        ),
        when,  # pattern
        failure_strategy(pair, policy, f),  # strategy
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
        why_wrong,  # why_wrong
        contrast,  # contrast
        pair.difficulty,  # difficulty
        pair.judge,  # judge
        pair.prompt_version,  # prompt_version
    )
    return correct, wrong
