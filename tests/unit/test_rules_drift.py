"""purpose_drift from the rules generator, and the subtlety levels it takes."""

from __future__ import annotations

import pytest
from purpose_agent.immune import scan_memory
from purpose_agent.memory import MemoryCard as CiCard

from consumer.events import ContrastPair, MistakeType, ScoreEvent
from consumer.generate.rules import RulesGenerator
from consumer.generate.rules_drift import DRIFTS, drifted_purpose, purpose_drift
from consumer.generate.subtlety import LEVELS, closer_reasoning, subtle_phi
from consumer.stages.cards import CardPolicy, build_cards
from consumer.stages.qualify import Scale
from consumer.stages.validate import contrast_problem
from tests.unit.factories import score_event

SCALE = Scale(0, 10)
DRIFT = MistakeType.PURPOSE_DRIFT
PURPOSES = (
    "Deploy release 2.4 to staging and confirm its health check passes",
    "make the suite pass",
    "Migrate the billing tables; then drop the old columns",
)


def grid() -> list[tuple[float, float]]:
    steps = [x / 2 for x in range(21)]
    return [(b, a) for b in steps for a in steps if abs(a - b) >= 0.5]


def with_purpose(e: ScoreEvent, purpose: str, event_id: str) -> ScoreEvent:
    return e._replace(purpose=purpose, event_id=event_id)


def passes_memoryci(e: ScoreEvent, gen: RulesGenerator, mistake: MistakeType) -> None:
    wrong = gen.propose(e, mistake)
    assert wrong is not None
    for card in build_cards(ContrastPair(e, wrong, gen.name), CardPolicy(0.7, 600), 0):
        scan = scan_memory(
            CiCard(content=card.content, pattern=card.pattern, strategy=card.strategy)
        )
        assert scan.passed, (scan.threats, card.content)


@pytest.mark.parametrize(("before", "after"), grid())
def test_purpose_drift_is_a_valid_contrast_for_every_step(before: float, after: float) -> None:
    gen = RulesGenerator(scale=SCALE, min_contrast=1.0)
    for i, purpose in enumerate(PURPOSES):
        e = with_purpose(score_event(phi_before=before, phi_after=after), purpose, f"d-{i}")
        wrong = gen.propose(e, DRIFT)
        assert wrong is not None and wrong.mistake_type is DRIFT
        assert contrast_problem(e, wrong, SCALE, 1.0) is None


def test_each_rewrite_names_a_neighbouring_purpose_not_the_stated_one() -> None:
    whole = PURPOSES[0]
    assert drifted_purpose("part_for_whole", whole) == "Deploy release 2.4 to staging"
    assert drifted_purpose("part_for_whole", "make the suite pass") is None  # not compound
    for kind, _ in DRIFTS:
        aim = drifted_purpose(kind, whole)
        assert aim is not None and aim != whole
    # Every rewrite is used over many events, and each reasoning states the drifted aim.
    seen = set()
    for i in range(60):
        e = with_purpose(score_event(phi_before=3, phi_after=6), whole, f"ev-{i}")
        wrong = purpose_drift(e, 0, 10, 1.0)
        assert wrong is not None
        for kind, _ in DRIFTS:
            aim = drifted_purpose(kind, whole)
            if aim is not None and aim in wrong.reasoning:
                seen.add(kind)
    assert seen == {kind for kind, _ in DRIFTS}


@pytest.mark.parametrize("level", range(LEVELS))
def test_every_type_at_every_level_passes_memoryci_immune_scan(level: int) -> None:
    gen = RulesGenerator(scale=SCALE, min_contrast=1.0, levels=lambda m: level)
    for i, purpose in enumerate(PURPOSES):
        for before, after in ((2, 7), (7, 2), (0, 9.5), (5, 4.5)):
            e = with_purpose(score_event(phi_before=before, phi_after=after), purpose, f"s{i}")
            for mistake in (m for m in MistakeType if m is not MistakeType.OTHER):
                if gen.propose(e, mistake) is not None:
                    passes_memoryci(e, gen, mistake)


def test_a_higher_level_is_a_smaller_contrast_down_to_the_minimum() -> None:
    e = score_event(phi_before=2, phi_after=3)
    for mistake in (MistakeType.SYCOPHANCY, MistakeType.IGNORED_EVIDENCE, DRIFT):
        gaps = []
        for level in range(LEVELS):
            w = RulesGenerator(
                scale=SCALE, min_contrast=1.0, levels=lambda m, lv=level: lv
            ).propose(e, mistake)
            assert w is not None and contrast_problem(e, w, SCALE, 1.0) is None
            gaps.append(abs(w.phi_after - 3))
        assert gaps == sorted(gaps, reverse=True), (mistake, gaps)
        assert gaps[0] > gaps[-1] == 1.0, (mistake, gaps)


def test_without_levels_the_rules_are_as_written() -> None:
    e = score_event(phi_before=2, phi_after=3)
    w = RulesGenerator(scale=SCALE, min_contrast=1.0).propose(e, MistakeType.SYCOPHANCY)
    assert w is not None and w.phi_after == 7.5  # 3 + 0.6 * (10 - 3), on a half point


def test_the_stated_score_follows_the_subtler_one() -> None:
    e = score_event(phi_before=2, phi_after=3)
    top = RulesGenerator(scale=SCALE, min_contrast=1.0, levels=lambda m: LEVELS - 1)
    w = top.propose(e, MistakeType.SYCOPHANCY)
    assert w is not None and w.phi_after == 4.0
    assert w.reasoning.endswith("a strong 4.")
    w = RulesGenerator(scale=SCALE, min_contrast=1.0, levels=lambda m: 0).propose(
        e, MistakeType.SYCOPHANCY
    )
    assert w is not None and w.phi_after == 10.0 and w.reasoning.endswith("a strong 10.")


def test_from_the_middle_level_the_reasoning_shares_the_right_ones_facts() -> None:
    e = score_event(phi_before=3, phi_after=6)  # "Two of three failures are fixed; ..."
    low = RulesGenerator(scale=SCALE, min_contrast=1.0, levels=lambda m: 1).propose(
        e, MistakeType.SYCOPHANCY
    )
    high = RulesGenerator(scale=SCALE, min_contrast=1.0, levels=lambda m: 3).propose(
        e, MistakeType.SYCOPHANCY
    )
    assert low is not None and high is not None
    assert not low.reasoning.startswith("Two of three failures")
    assert high.reasoning.startswith("Two of three failures are fixed; one remains. ")
    assert closer_reasoning("x", "", 4) == "x"


def test_subtle_phi_keeps_the_side_and_the_minimum() -> None:
    top = LEVELS - 1
    assert subtle_phi(5, 9, 1.0, 0, 0, 10) == 10  # obvious: the far end of its side
    assert subtle_phi(5, 1, 1.0, 0, 0, 10) == 0
    assert subtle_phi(5, 9, 1.0, top, 0, 10) == 6
    assert subtle_phi(5, 1, 1.0, top, 0, 10) == 4
    assert subtle_phi(5, 1, 1.0, 99, 0, 10) == 4  # bounded
    assert subtle_phi(9.5, 10, 1.0, 2, 0, 10) == 10  # no room on its side: unchanged
    for level in range(LEVELS):
        assert abs(subtle_phi(5, 9, 1.0, level, 0, 10) - 5) >= 1.0
