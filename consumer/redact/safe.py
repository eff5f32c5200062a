"""Pure: an event's and a generated wrong evaluation's texts redacted and checked together."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from consumer.events import ScoreData, ScoreEvent, WrongEvaluation
from consumer.redact.scan import unsafe
from consumer.redact.text import _NOTHING, redact, worth_a_look

__all__ = ["SafeEvent", "safe_event", "safe_wrong"]


def safe_wrong(wrong: WrongEvaluation) -> WrongEvaluation | str:
    """A generated wrong evaluation checked as trace text is: with trigger-looking forms
    neutralised, or what it carries that must not be stored (for a corrective turn)."""
    texts = (wrong.reasoning, wrong.why_wrong, wrong.lesson)
    done = [redact(t) for t in texts]
    if all(not d.counts for d in done):
        return wrong
    kinds = sorted({k for d in done for k in d.counts if k != "neutralised"})
    if kinds:
        return "it carries " + ", ".join(kinds).replace("_", " ")
    return WrongEvaluation(
        wrong.phi_after, done[0].text, wrong.mistake_type, done[1].text, done[2].text
    )


class SafeEvent(NamedTuple):
    """An event's texts made safe (``event``), or ``None`` with ``problem`` when what is left
    still cannot pass MemoryCI's scan or carries nothing to learn from; the counts by kind
    and how many characters were read and removed, for the metrics."""

    event: ScoreEvent | None
    problem: str | None
    counts: dict[str, int]
    removed: int
    total: int


_MARKERS: Final = re.compile(r"(?:\[redacted:\w+\]|[\W_])+")


def _empty(text: str) -> bool:
    return not _MARKERS.sub("", text)


def safe_event(event: ScoreEvent) -> SafeEvent:
    """The event with its five texts redacted (purpose, action, both states, reasoning)."""
    s = event.score
    texts = (event.purpose, s.state_before, s.action_name, s.state_after, s.reasoning)
    total = sum(len(t) for t in texts)
    # The five texts looked at together: one pass of the rules' gates instead of five.
    joined = "\x00".join(texts)
    if not worth_a_look(joined, joined.lower()):
        return SafeEvent(event, None, _NOTHING, 0, total)
    done = [redact(t) for t in texts]
    if all(d.removed == 0 and not d.counts for d in done):
        return SafeEvent(event, None, _NOTHING, 0, total)
    counts: dict[str, int] = {}
    for d in done:
        for kind, n in d.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    removed = sum(d.removed for d in done)
    purpose, before, action, after, reasoning = (d.text for d in done)
    problem = None
    for text in (purpose, before, action, after, reasoning):
        problem = unsafe(text, calibration=True)
        if problem is not None:
            break
    if problem is None and (_empty(reasoning) or _empty(after)):
        problem = "nothing but markers left of the state after or the reasoning"
    if problem is not None:
        return SafeEvent(None, problem, counts, removed, total)
    score = ScoreData(before, action, after, s.phi_before, s.phi_after, reasoning)
    safe = ScoreEvent(
        event.event_id,
        event.trace_id,
        purpose,
        event.step,
        event.timestamp_ms,
        event.agent_id,
        score,
    )
    return SafeEvent(safe, None, counts, removed, total)
