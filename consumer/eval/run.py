"""The evaluation's loop: each test pair judged in both orders, without and with its cards.

A pair for which nothing may be shown has the same prompt in both conditions, so it is judged
once and that outcome stands for both: no money spent to ask the same question twice. A pair
is counted only when all of its judgments were answered; one the critic could not answer, or
that the spend limit stopped, is left out and counted on its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consumer.errors import GenerationFailed
from consumer.eval.critic import Critic, JudgmentFailed, SpendLimitReached
from consumer.eval.dataset import Pair
from consumer.eval.retrieve import Retriever, Shown
from consumer.eval.stats import Judged, Outcome

__all__ = ["Judgment", "Run", "evaluate"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Judgment:
    """A test pair, what it was shown, and its outcome (``None``: not judged in full)."""

    pair: Pair
    shown: Shown
    outcome: Outcome | None


@dataclass(frozen=True, slots=True)
class Run:
    judgments: tuple[Judgment, ...]
    unanswered: dict[str, int]  # why pairs were left out, and how many
    stopped: str | None  # why the run stopped early (the spend limit), if it did

    @property
    def outcomes(self) -> list[Outcome]:
        return [j.outcome for j in self.judgments if j.outcome is not None]


def calls_for(shown: Sequence[Shown]) -> int:
    """How many calls judging pairs with these memories takes."""
    return sum(4 if s.text else 2 for s in shown)


async def evaluate(
    test: Sequence[Pair],
    retriever: Retriever,
    critic: Critic,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> Run:
    """Judge every test pair; stops starting calls once the spend limit is reached."""
    shown = [retriever.shown(p) for p in test]
    total, done = calls_for(shown), 0
    slots = asyncio.Semaphore(concurrency)
    unanswered: Counter[str] = Counter()

    async def call(pair: Pair, memory: str, correct_first: bool, place: int) -> bool:
        nonlocal done
        async with slots:
            try:
                return await critic.judge(pair, memory, correct_first=correct_first, priority=place)
            finally:
                done += 1
                if progress is not None:
                    progress(done, total)

    async def one(place: int, pair: Pair, memory: Shown) -> Judgment:
        conditions = [""] + ([memory.text] if memory.text else [])
        calls = [call(pair, text, first, place) for text in conditions for first in (True, False)]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        for a in answers:
            if isinstance(a, BaseException) and not isinstance(
                a, SpendLimitReached | JudgmentFailed | GenerationFailed
            ):
                raise a
        return _judgment(pair, memory, answers, unanswered)

    judgments = await asyncio.gather(
        *(one(i, p, s) for i, (p, s) in enumerate(zip(test, shown, strict=True)))
    )
    if critic.stopped is not None:
        unanswered["spend_limit"] = sum(1 for j in judgments if j.outcome is None) - sum(
            unanswered.values()
        )
    return Run(tuple(judgments), dict(unanswered), critic.stopped)


def _judgment(
    pair: Pair, memory: Shown, answers: Sequence[object], unanswered: Counter[str]
) -> Judgment:
    """A pair's answers (in both orders, without and then with its cards) as its judgment;
    none when a call failed, counted in ``unanswered`` by why unless the spend limit
    stopped it (those are counted at the end)."""
    failed = [a for a in answers if isinstance(a, BaseException)]
    if failed:
        if not any(isinstance(a, SpendLimitReached) for a in failed):
            first_failure = failed[0]
            reason = (
                first_failure.reason
                if isinstance(first_failure, GenerationFailed)
                else "unreadable_answer"
            )
            unanswered[reason] += 1
        return Judgment(pair, memory, None)
    flags = [bool(a) for a in answers]
    without = Judged(flags[0], flags[1])
    with_cards = Judged(flags[2], flags[3]) if memory.text else without
    outcome = Outcome(pair.pair_id, pair.purpose, pair.mistake_type, without, with_cards)
    return Judgment(pair, memory, outcome)
