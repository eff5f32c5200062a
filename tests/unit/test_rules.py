from collections import Counter

import pytest

from consumer.events import CURRICULUM, MistakeType
from consumer.generate import ImmediateGenerator
from consumer.generate.rules import RulesGenerator
from consumer.stages.qualify import Scale
from consumer.stages.validate import contrast_problem
from tests.unit.factories import score_event

SCALE = Scale(0, 10)
GEN = RulesGenerator(scale=SCALE, min_contrast=1.0)


def grid() -> list[tuple[float, float]]:
    steps = [x / 2 for x in range(21)]
    return [(b, a) for b in steps for a in steps if abs(a - b) >= 0.5]


def test_it_is_an_immediate_generator() -> None:
    assert isinstance(GEN, ImmediateGenerator)
    assert GEN.name == "rules/1"


@pytest.mark.parametrize(("before", "after"), grid())
def test_every_qualifying_step_gets_a_valid_contrast(before: float, after: float) -> None:
    e = score_event(phi_before=before, phi_after=after)
    wrong = GEN.generate_now(e)
    assert contrast_problem(e, wrong, SCALE, 1.0) is None
    assert wrong.mistake_type in CURRICULUM


def test_deterministic_per_event_id() -> None:
    e = score_event("same-id", 2, 7)
    assert (
        GEN.generate_now(e)
        == GEN.generate_now(e)
        == RulesGenerator(scale=SCALE, min_contrast=1.0).generate_now(e)
    )


def test_types_stay_balanced_over_400_events() -> None:
    counts = Counter(
        GEN.generate_now(score_event(f"evt-{i}", 3, 5.5)).mistake_type for i in range(400)
    )
    assert set(counts) == set(CURRICULUM)
    assert max(counts.values()) <= 1.5 * min(counts.values())


def test_sycophancy_inflates_toward_the_top() -> None:
    e = score_event(phi_before=3, phi_after=4)
    w = GEN.propose(e, MistakeType.SYCOPHANCY)
    assert w is not None and w.phi_after >= 4 + 1 and w.phi_after > 7
    # At the top of the scale it cannot inflate any further: not applicable.
    assert GEN.propose(score_event(phi_before=8, phi_after=9.5), MistakeType.SYCOPHANCY) is None


def test_intention_credit_scores_the_action_not_the_change() -> None:
    # The step made things worse; crediting the intention scores it as progress.
    e = score_event(phi_before=6, phi_after=4)
    w = GEN.propose(e, MistakeType.INTENTION_CREDIT)
    assert w is not None and w.phi_after > 6
    assert "edit_file" in w.reasoning


def test_ignored_evidence_contradicts_the_state_after() -> None:
    up = GEN.propose(score_event(phi_before=3, phi_after=6), MistakeType.IGNORED_EVIDENCE)
    down = GEN.propose(score_event(phi_before=6, phi_after=3), MistakeType.IGNORED_EVIDENCE)
    assert up is not None and up.phi_after <= 3  # progress read as none or worse
    assert down is not None and down.phi_after >= 6  # a regression read as progress


def test_scale_inconsistency_inverts_or_leaves_the_usual_spacing() -> None:
    inv = GEN.propose(score_event(phi_before=6, phi_after=8), MistakeType.SCALE_INCONSISTENCY)
    assert inv is not None and inv.phi_after == 2  # read upside down
    mid = GEN.propose(score_event(phi_before=4.5, phi_after=5), MistakeType.SCALE_INCONSISTENCY)
    assert mid is not None and (mid.phi_after * 2) % 1 != 0  # off the half-point grid


def test_reasoning_differs_from_the_correct_reasoning() -> None:
    e = score_event()
    for t in CURRICULUM:
        w = GEN.propose(e, t)
        if w is not None:
            assert w.reasoning.strip() and w.reasoning != e.score.reasoning


def test_larger_min_contrast_is_respected() -> None:
    gen = RulesGenerator(scale=SCALE, min_contrast=3.0)
    for before, after in [(0, 1), (5, 6), (9, 10), (4, 4.5)]:
        e = score_event(phi_before=before, phi_after=after)
        w = gen.generate_now(e)
        assert abs(w.phi_after - after) >= 3.0
        assert 0 <= w.phi_after <= 10
