"""Pure: how a subtlety level changes a rules-made wrong evaluation.

Only with a judge on (the curriculum sets the levels). Level 0 is an obvious mistake: the
wrong Φ at the far end of the scale from the right one, on the side the rule chose. Each
level up moves it toward the right one, down to the minimum contrast at the top level, and
from the middle level up the wrong reasoning opens with the right reasoning's
first sentence, so it agrees with the right evaluation on the facts and parts from it only
where the mistake is. A subtler pair is harder for a judge (and a critic) to tell apart.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["LEVELS", "closer_reasoning", "subtle_phi", "subtlety_request"]

#: Subtlety levels 0 (obvious) .. LEVELS - 1 (subtle).
LEVELS: Final = 5
_SHARED_FROM: Final = 2  # the level from which the wrong reasoning shares the right one's facts
_LEAD_MAX: Final = 160
_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+")


def subtle_phi(
    correct: float, proposed: float, min_contrast: float, level: int, low: float, high: float
) -> float:
    """The wrong Φ for ``level`` on the side of ``correct`` that ``proposed`` takes: at level
    0 the far end of that side of the scale (an obvious mistake), at the top level
    ``min_contrast`` away, linearly between, on the scale's half points (rounded toward the
    right Φ, never closer than ``min_contrast``). ``proposed`` unchanged when its side has
    no room for the minimum contrast."""
    side = 1.0 if proposed >= correct else -1.0
    room = high - correct if side > 0 else correct - low
    if room < min_contrast:
        return proposed
    share = min(max(level, 0), LEVELS - 1) / (LEVELS - 1)
    target = room - (room - min_contrast) * share
    gap = math.floor(target * 2 + 1e-9) / 2
    if gap < min_contrast:
        gap = min_contrast
    return correct + side * gap


def closer_reasoning(wrong: str, correct: str, level: int) -> str:
    """``wrong`` as it is below the middle level; from there, opened with the first sentence
    of ``correct`` (clipped), so both evaluations read the evidence alike."""
    if level < _SHARED_FROM:
        return wrong
    first = _SENTENCE.split(" ".join(correct.split()), maxsplit=1)[0]
    if not first:
        return wrong
    if len(first) > _LEAD_MAX:
        first = first[: _LEAD_MAX - 1].rstrip() + "…"
    return f"{first} {wrong}"


#: What each level asks of a model, in its words.
_ASKS: Final = (
    "an obvious mistake: a wrong score far from the correct one, with a flaw a careful "
    "reader sees at once",
    "a clear mistake: the wrong score well away from the correct one",
    "a moderate mistake: the wrong score nearer the correct one, the reasoning right about "
    "most of the facts",
    "a subtle mistake: the wrong score close to the correct one, the reasoning agreeing "
    "with the correct one on the facts and going astray at one point",
    "a very subtle mistake: the wrong score as close to the correct one as allowed, the "
    "reasoning as careful as the correct one and wrong in one step only",
)


def subtlety_request(level: int) -> str:
    """The line that asks the generator's model for a level (bounded to the known ones)."""
    level = min(max(level, 0), LEVELS - 1)
    return f"Subtlety: <subtlety>{level} of {LEVELS - 1}</subtlety>. Make it {_ASKS[level]}.\n"
