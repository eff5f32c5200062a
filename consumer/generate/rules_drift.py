"""Pure: the rules generator's ``purpose_drift``, from a small documented set of rewrites.

The Self-Taught Evaluators construction (arXiv 2408.02666): the wrong evaluation is a
careful evaluation of the step against a neighbouring but different purpose, so it reads as
well as the right one and is wrong only in what it measures. Each rewrite below turns the
event's purpose into such a neighbour, with the direction the neighbour moves the score:

``part_for_whole``
    Only the first part of a compound purpose ("deploy X *and* confirm Y" -> "deploy X").
    The part is further along than the whole: the score rises.
``caution_for_progress``
    "Keep things stable while working toward the purpose" instead of the purpose: a step
    that undid or held back its change looks prudent (the score rises), one that moved the
    state looks like a risk taken (the score falls).
``method_for_result``
    "Work on the purpose by a sound method": a well-chosen action is credited whatever the
    state after shows: the score rises.

A rewrite is chosen from a stable hash of the event id among those that apply (the first
needs a compound purpose), so a retry or another replica writes the same pair.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import Final

from consumer.events import MistakeType, ScoreEvent, WrongEvaluation, phi_text

__all__ = ["DRIFTS", "drifted_purpose", "purpose_drift"]

_EXCERPT: Final = 100
# Where a compound purpose splits into its first part: " and ", ", then", ";" or " so that ".
_JOINS: Final = re.compile(r"\s+and\s+|,\s*then\s+|;\s*|\s+so that\s+", re.IGNORECASE)


def _flat(text: str, limit: int = _EXCERPT) -> str:
    flat = " ".join(text.split()).rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _first_part(purpose: str) -> str | None:
    parts = _JOINS.split(" ".join(purpose.split()), maxsplit=1)
    if len(parts) < 2 or len(parts[0]) < 8 or not parts[1].strip():
        return None
    return parts[0].rstrip(" ,.")


def drifted_purpose(kind: str, purpose: str) -> str | None:
    """The neighbouring purpose a rewrite makes of ``purpose``; ``None`` where it does not apply."""
    if kind == "part_for_whole":
        part = _first_part(purpose)
        return None if part is None else _flat(part)
    if kind == "caution_for_progress":
        return f"keep the system stable while working on '{_flat(purpose)}'"
    if kind == "method_for_result":
        return f"work on '{_flat(purpose)}' by a sound, well-chosen method"
    return None


def _part_for_whole(e: ScoreEvent, aim: str, phi: float) -> str:
    s = e.score
    return (
        f"What this step has to deliver is to {aim[:1].lower()}{aim[1:]}. Judged against "
        f"that, '{s.action_name}' leaves the state close to done: the part of the work this "
        f"step is responsible for is largely in place, and what remains is follow-up rather "
        f"than the task itself. Φ_after is {phi_text(phi)}."
    )


def _caution(e: ScoreEvent, aim: str, phi: float) -> str:
    s = e.score
    if s.phi_after <= s.phi_before:
        how = (
            f"'{s.action_name}' kept the system in a known, recoverable state instead of "
            f"pushing a change through, which is exactly what a careful operator wants"
        )
    else:
        how = (
            f"'{s.action_name}' changed a working system in one step, without a sign that the "
            f"change was staged or can be rolled back"
        )
    return f"The priority here is to {aim}. Seen that way, {how}. Φ_after is {phi_text(phi)}."


def _method(e: ScoreEvent, aim: str, phi: float) -> str:
    s = e.score
    return (
        f"The question is whether the agent went about this the right way: to {aim}. "
        f"'{s.action_name}' is the step an experienced engineer would take at this point, "
        f"taken in the right order and for the right reason. Φ_after is {phi_text(phi)}."
    )


_Text = Callable[[ScoreEvent, str, float], str]

#: The rewrites in a fixed order (the hash indexes into it), each with its reasoning's text.
DRIFTS: Final[tuple[tuple[str, _Text], ...]] = (
    ("part_for_whole", _part_for_whole),
    ("caution_for_progress", _caution),
    ("method_for_result", _method),
)


def _index(event_id: str) -> int:
    digest = hashlib.blake2b(
        ("drift/" + event_id).encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def _direction(kind: str, e: ScoreEvent) -> float:
    if kind == "caution_for_progress":
        return 1.0 if e.score.phi_after <= e.score.phi_before else -1.0
    return 1.0


def purpose_drift(e: ScoreEvent, low: float, high: float, gap: float) -> WrongEvaluation | None:
    """A ``purpose_drift`` wrong evaluation ``gap`` or more from the correct Φ_after, on
    [``low``, ``high``]; ``None`` when no rewrite applies with room for it on the scale.

    The score goes the rewrite's way when there is room, else the other way (a neighbouring
    purpose can miss on either side; the reasoning states the number, not a direction).
    """
    a = e.score.phi_after
    first = _index(e.event_id)
    for i in range(len(DRIFTS)):
        kind, text = DRIFTS[(first + i) % len(DRIFTS)]
        aim = drifted_purpose(kind, e.purpose)
        if aim is None:
            continue
        up = math.ceil((a + gap) * 2 - 1e-9) / 2
        down = math.floor((a - gap) * 2 + 1e-9) / 2
        sides = (up, down) if _direction(kind, e) > 0 else (down, up)
        for phi in sides:
            if low - 1e-9 <= phi <= high + 1e-9:
                return WrongEvaluation(phi, text(e, aim, phi), MistakeType.PURPOSE_DRIFT)
    return None
