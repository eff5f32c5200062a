"""Pure: the two orderings' answers -> the pair's verdict.

The judge sees the pair twice: the right evaluation as A (ordering 0), then as B (ordering
1); a judge with a position bias gets one of them wrong. ``difficulty`` is the share of the
orderings it got wrong (J1's rule: right only when right in both orders):

- right in both: ``right``, kept, difficulty 0;
- right in one: ``split``, kept, difficulty 0.5;
- wrong in both: ``wrong``: the judge prefers the wrong evaluation; not published, sent for a
  person to look at (the production critic may have been the one that was wrong);
- no usable answer in an ordering (a refusal, unreadable, the time budget spent):
  ``unjudged``, published with no difficulty and no judge, never a made-up verdict.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

__all__ = ["ORDERINGS", "Answer", "Outcome", "Verdict", "combine", "unjudged"]

#: Which letter the right evaluation has in each ordering.
ORDERINGS: Final[tuple[str, str]] = ("A", "B")


class Outcome(StrEnum):
    RIGHT = "right"
    SPLIT = "split"
    WRONG = "wrong"
    UNJUDGED = "unjudged"


class Answer(NamedTuple):
    """One ordering's answer: the letter the judge prefers and its one-sentence reason."""

    better: str
    reason: str


class Verdict(NamedTuple):
    outcome: Outcome
    difficulty: float | None
    judge: str | None  # the judge's name when it checked the pair
    answers: tuple[Answer | None, Answer | None]
    why: str = ""  # for unjudged: why there is no verdict (refusal, llm_unavailable, ...)

    @property
    def published(self) -> bool:
        return self.outcome is not Outcome.WRONG


def unjudged(why: str, answers: tuple[Answer | None, Answer | None] = (None, None)) -> Verdict:
    return Verdict(Outcome.UNJUDGED, None, None, answers, why)


def combine(judge: str, answers: tuple[Answer, Answer]) -> Verdict:
    """The verdict from both orderings' answers."""
    wrong = sum(1 for right, a in zip(ORDERINGS, answers, strict=True) if a.better != right)
    if wrong == 0:
        return Verdict(Outcome.RIGHT, 0.0, judge, answers)
    if wrong == 1:
        return Verdict(Outcome.SPLIT, 0.5, judge, answers)
    return Verdict(Outcome.WRONG, 1.0, judge, answers)
