"""Pure: how a subtlety level changes a rules-made wrong evaluation.

Level 0 is the rule as it stands: an obvious mistake, its Φ far from the right one. Each
level up moves the wrong Φ toward the right one, down to the minimum contrast at the top
level, and from the middle level up the wrong reasoning opens with the right reasoning's
first sentence, so it agrees with the right evaluation on the facts and parts from it only
where the mistake is. A subtler pair is harder for a judge (and a critic) to tell apart.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["LEVELS", "closer_reasoning", "subtle_phi"]

#: Subtlety levels 0 (obvious) .. LEVELS - 1 (subtle).
LEVELS: Final = 5
_SHARED_FROM: Final = 2  # the level from which the wrong reasoning shares the right one's facts
_LEAD_MAX: Final = 160
_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+")


def subtle_phi(correct: float, proposed: float, min_contrast: float, level: int) -> float:
    """``proposed`` moved toward ``correct`` for ``level``: the gap shrinks linearly from the
    rule's own (level 0) to ``min_contrast`` (the top level), on the scale's half points,
    never closer than ``min_contrast``."""
    gap = abs(proposed - correct)
    if level <= 0 or gap <= min_contrast:
        return proposed
    share = min(level, LEVELS - 1) / (LEVELS - 1)
    target = gap - (gap - min_contrast) * share
    rounded = math.ceil(target * 2 - 1e-9) / 2  # half points, rounded away from the right Φ
    if rounded > gap:
        rounded = gap
    side = 1.0 if proposed >= correct else -1.0
    return correct + side * rounded


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
