from collections import Counter

from consumer.events import CURRICULUM, MistakeType
from consumer.generate.anthropic_curriculum import Curriculum, feasible
from consumer.stages.qualify import Scale
from tests.unit.factories import score_event


def test_ties_are_broken_by_the_event_id_deterministically() -> None:
    firsts = {Curriculum().choose(f"ev-{i}") for i in range(200)}
    assert firsts == set(CURRICULUM)  # the hash spreads first choices over all five
    assert Curriculum().choose("ev-7") == Curriculum().choose("ev-7")


def test_asks_for_the_type_produced_least() -> None:
    c = Curriculum()
    for m in (
        MistakeType.SYCOPHANCY,
        MistakeType.INTENTION_CREDIT,
        MistakeType.IGNORED_EVIDENCE,
        MistakeType.PURPOSE_DRIFT,
    ):
        c.done(c.choose("x"), m)
    assert c.choose("anything") is MistakeType.SCALE_INCONSISTENCY


def test_pending_requests_count_so_a_burst_spreads() -> None:
    c = Curriculum()
    burst = [c.choose(f"ev-{i}") for i in range(2 * len(CURRICULUM))]
    assert Counter(burst) == dict.fromkeys(CURRICULUM, 2)


def test_failures_release_the_request_without_counting() -> None:
    c = Curriculum()
    m = c.choose("ev")
    c.done(m, None)
    assert sum(c.counts().values()) == 0
    assert c.choose("ev") == m


def test_stays_balanced_when_the_model_sometimes_makes_another_mistake() -> None:
    c = Curriculum(window=200)
    achieved: Counter[MistakeType] = Counter()
    for i in range(400):
        m = c.choose(f"ev-{i}")
        got = MistakeType.INTENTION_CREDIT if i % 5 == 0 else m  # a model with a favourite
        c.done(m, got)
        achieved[got] += 1
    counts = [achieved[m] for m in CURRICULUM]
    assert max(counts) / min(counts) <= 1.5


def test_the_window_forgets_old_results() -> None:
    c = Curriculum(window=4)
    for _ in range(4):
        c.done(c.choose("x"), MistakeType.SYCOPHANCY)
    for m in (MistakeType.INTENTION_CREDIT, MistakeType.IGNORED_EVIDENCE) * 2:
        c.done(c.choose("x"), m)
    counts = c.counts()
    assert counts[MistakeType.SYCOPHANCY] == 0
    assert counts[MistakeType.INTENTION_CREDIT] == 2 and sum(counts.values()) == 4


def test_only_allowed_types_are_requested() -> None:
    c = Curriculum()
    allowed = (MistakeType.IGNORED_EVIDENCE, MistakeType.SCALE_INCONSISTENCY)
    assert {c.choose(f"e{i}", allowed) for i in range(20)} <= set(allowed)


def test_sycophancy_needs_room_above() -> None:
    scale = Scale(0, 10)
    top = score_event(phi_before=8.0, phi_after=9.5)
    assert not feasible(MistakeType.SYCOPHANCY, top, scale, 1.0)
    assert feasible(MistakeType.SYCOPHANCY, score_event(phi_after=9.0), scale, 1.0)
    assert feasible(MistakeType.IGNORED_EVIDENCE, top, scale, 1.0)
