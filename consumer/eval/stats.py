"""Pure: the statistics of a paired evaluation, from each test pair's outcomes.

A critic judges every test pair twice per condition (without cards, with cards), once with
the correct evaluation as A and once as B. A pair counts **right** only when the critic
picks the correct evaluation in both orders: a critic that always answers "A" is right in
one order by position alone, and scores 0. It is **consistent** when it picks the same
evaluation in both orders (right twice or wrong twice).

The lift (accuracy with cards minus without) is paired: each pair is its own control. Its
95% interval is a percentile bootstrap over pairs (seeded, so a report can be reproduced),
and McNemar's exact test asks whether the pairs that changed changed more one way than the
other.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Comparison",
    "Judged",
    "Outcome",
    "bootstrap_lift",
    "compare",
    "grouped",
    "mcnemar_p",
    "wilson",
]

#: Bootstrap resamples: enough that the interval's ends move by well under a point between seeds.
BOOTSTRAP_ROUNDS = 2000


@dataclass(frozen=True, slots=True)
class Judged:
    """One condition's two answers for a pair: did the critic pick the correct evaluation
    when it was shown as A, and when it was shown as B."""

    correct_as_a: bool
    correct_as_b: bool

    @property
    def right(self) -> bool:
        return self.correct_as_a and self.correct_as_b

    @property
    def consistent(self) -> bool:
        return self.correct_as_a == self.correct_as_b


@dataclass(frozen=True, slots=True)
class Outcome:
    """A test pair judged in both conditions, with what it is grouped by."""

    pair_id: str
    purpose: str
    mistake_type: str
    without: Judged
    with_cards: Judged


@dataclass(frozen=True, slots=True)
class Comparison:
    """Accuracy and consistency without and with cards, and the lift between them."""

    n: int
    accuracy_without: float
    accuracy_with: float
    consistency_without: float
    consistency_with: float
    lift: float
    lift_low: float  # the bootstrap 95% interval
    lift_high: float
    only_with: int  # pairs right with cards and wrong without (McNemar's b)
    only_without: int  # right without and wrong with (c)
    mcnemar_p: float


def _mean(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else math.nan


def mcnemar_p(only_with: int, only_without: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at one half.

    Exact rather than the chi-squared approximation, which is poor at the small counts an
    evaluation of a few dozen pairs has. No discordant pair: nothing changed, p = 1.
    """
    n = only_with + only_without
    if n == 0:
        return 1.0
    k = min(only_with, only_without)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_lift(
    diffs: Sequence[int], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap 95% interval of the mean of paired differences (-1, 0, 1).

    When every difference is the same, every resample's mean is that value and the interval
    collapses onto it.
    """
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan
    if all(d == diffs[0] for d in diffs):
        return float(diffs[0]), float(diffs[0])
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(rounds))
    low = means[int(0.025 * (rounds - 1))]
    high = means[math.ceil(0.975 * (rounds - 1))]
    return low, high


def compare(outcomes: Sequence[Outcome], *, seed: int = 0) -> Comparison:
    """The comparison over ``outcomes`` (all of them, or one group's)."""
    diffs = [int(o.with_cards.right) - int(o.without.right) for o in outcomes]
    low, high = bootstrap_lift(diffs, seed=seed)
    only_with = sum(1 for d in diffs if d > 0)
    only_without = sum(1 for d in diffs if d < 0)
    without = _mean(o.without.right for o in outcomes)
    with_cards = _mean(o.with_cards.right for o in outcomes)
    return Comparison(
        n=len(outcomes),
        accuracy_without=without,
        accuracy_with=with_cards,
        consistency_without=_mean(o.without.consistent for o in outcomes),
        consistency_with=_mean(o.with_cards.consistent for o in outcomes),
        lift=with_cards - without if outcomes else math.nan,
        lift_low=low,
        lift_high=high,
        only_with=only_with,
        only_without=only_without,
        mcnemar_p=mcnemar_p(only_with, only_without),
    )


def grouped(
    outcomes: Sequence[Outcome], key: Callable[[Outcome], str], *, seed: int = 0
) -> dict[str, Comparison]:
    """The comparison per group (per mistake type, per purpose), groups in name order."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o), []).append(o)
    return {name: compare(groups[name], seed=seed) for name in sorted(groups)}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion (for an accuracy alone, in the plot).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n.
    """
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # min/max with p: at k = 0 or n, rounding would otherwise leave p a hair outside.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))
