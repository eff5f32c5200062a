"""The evaluation's statistics: the both-orders rule, the paired lift, its interval, McNemar."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.eval.stats import (
    Judged,
    Outcome,
    bootstrap_lift,
    compare,
    grouped,
    mcnemar_p,
    wilson,
)

RIGHT, WRONG, ALWAYS_A = Judged(True, True), Judged(False, False), Judged(True, False)


def _outcome(i: int, without: Judged, with_cards: Judged, purpose: str = "p", mistake: str = "m"):
    return Outcome(f"pair-{i}", purpose, mistake, without, with_cards)


def test_a_critic_that_always_answers_a_scores_zero_and_is_never_consistent() -> None:
    c = compare([_outcome(i, ALWAYS_A, ALWAYS_A) for i in range(10)])
    assert (c.accuracy_without, c.accuracy_with) == (0.0, 0.0)
    assert (c.consistency_without, c.consistency_with) == (0.0, 0.0)


def test_an_oracle_has_no_lift_and_its_interval_collapses_at_zero() -> None:
    c = compare([_outcome(i, RIGHT, RIGHT) for i in range(25)])
    assert (c.accuracy_without, c.accuracy_with, c.lift) == (1.0, 1.0, 0.0)
    assert (c.lift_low, c.lift_high) == (0.0, 0.0)
    assert c.mcnemar_p == 1.0


def test_lift_is_the_share_of_pairs_that_cards_made_right() -> None:
    outcomes = [_outcome(i, WRONG, RIGHT if i < 6 else WRONG) for i in range(20)]
    c = compare(outcomes)
    assert c.lift == 0.3
    assert c.lift_low <= 0.3 <= c.lift_high
    assert c.lift_low > 0  # six improvements and no loss: the interval excludes zero
    assert (c.only_with, c.only_without) == (6, 0)
    assert c.mcnemar_p == 2 / 2**6


def test_mcnemar_matches_the_binomial_tables() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(1, 1) == 1.0
    # b=2, c=8: 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * 56/1024
    assert math.isclose(mcnemar_p(2, 8), 112 / 1024)
    assert mcnemar_p(8, 2) == mcnemar_p(2, 8)


@given(st.integers(0, 40), st.integers(0, 40))
def test_mcnemar_is_a_probability_and_symmetric(b: int, c: int) -> None:
    p = mcnemar_p(b, c)
    assert 0.0 < p <= 1.0
    assert p == mcnemar_p(c, b)


@settings(deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=60), st.integers(0, 5))
def test_the_bootstrap_interval_holds_the_mean_and_stays_in_range(
    diffs: list[int], seed: int
) -> None:
    low, high = bootstrap_lift(diffs, rounds=400, seed=seed)
    mean = sum(diffs) / len(diffs)
    assert -1.0 <= low <= high <= 1.0
    assert min(diffs) <= low and high <= max(diffs)
    assert low <= mean + 1e-9 and mean - 1e-9 <= high


def test_the_bootstrap_is_reproducible_by_seed() -> None:
    diffs = [1, 0, 0, -1, 1, 1, 0, 0, 0, 1]
    assert bootstrap_lift(diffs, seed=3) == bootstrap_lift(diffs, seed=3)


def test_groups_compare_each_on_its_own_pairs() -> None:
    outcomes = [
        _outcome(0, WRONG, RIGHT, mistake="sycophancy"),
        _outcome(1, WRONG, RIGHT, mistake="sycophancy"),
        _outcome(2, RIGHT, RIGHT, mistake="ignored_evidence"),
    ]
    by_type = grouped(outcomes, lambda o: o.mistake_type)
    assert list(by_type) == ["ignored_evidence", "sycophancy"]
    assert by_type["sycophancy"].lift == 1.0 and by_type["sycophancy"].n == 2
    assert by_type["ignored_evidence"].lift == 0.0


def test_no_pairs_is_not_a_number_not_a_crash() -> None:
    c = compare([])
    assert c.n == 0 and math.isnan(c.accuracy_with) and math.isnan(c.lift_low)


@given(st.integers(0, 50), st.integers(1, 50))
def test_wilson_holds_the_observed_share(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
