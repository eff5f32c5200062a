import math

import pytest

from consumer.errors import InvalidEvent
from consumer.events import ScoreEvent
from consumer.stages.qualify import Criteria, Scale, Skip, in_sample, qualify
from tests.unit.factories import trace_event

CRIT = Criteria(Scale(0, 10), min_delta=0.5, sample_rate=1.0, max_text_chars=1000)


def test_score_with_enough_delta_qualifies() -> None:
    out = qualify(trace_event(phi_before=3, phi_after=6), CRIT)
    assert isinstance(out, ScoreEvent)
    assert out.delta == 3


@pytest.mark.parametrize("kind", ["action", "observation", "Score", ""])
def test_other_kinds_are_skipped(kind: str) -> None:
    assert qualify(trace_event(kind=kind), CRIT) is Skip.NOT_SCORE


def test_score_kind_without_score_is_skipped() -> None:
    e = trace_event(kind="action")._replace(kind="score", score=None)
    assert qualify(e, CRIT) is Skip.NOT_SCORE


@pytest.mark.parametrize(("before", "after"), [(3, 3.4), (3, 2.6), (5, 5)])
def test_small_change_is_below_delta(before: float, after: float) -> None:
    assert qualify(trace_event(phi_before=before, phi_after=after), CRIT) is Skip.BELOW_DELTA


@pytest.mark.parametrize(("before", "after"), [(0.1, 0.6), (7.0, 7.5), (0.3, -0.0 + 0.8), (6, 5.5)])
def test_delta_exactly_at_threshold_qualifies_despite_float_rounding(
    before: float, after: float
) -> None:
    assert isinstance(qualify(trace_event(phi_before=before, phi_after=after), CRIT), ScoreEvent)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["phi_before", "phi_after"])
def test_non_finite_phi_is_invalid(field: str, bad: float) -> None:
    with pytest.raises(InvalidEvent) as exc:
        qualify(trace_event(**{field: bad}), CRIT)
    assert exc.value.reason == "phi_not_finite"
    assert exc.value.stage == "validate"


@pytest.mark.parametrize("bad", [-0.01, 10.01, 1e300])
def test_off_scale_phi_is_invalid(bad: float) -> None:
    with pytest.raises(InvalidEvent) as exc:
        qualify(trace_event(phi_after=bad), CRIT)
    assert exc.value.reason == "phi_off_scale"


def test_scale_edges_are_on_the_scale() -> None:
    assert isinstance(qualify(trace_event(phi_before=0, phi_after=10), CRIT), ScoreEvent)


def test_custom_scale() -> None:
    crit = Criteria(Scale(-1, 1), 0.5, 1.0, 1000)
    assert isinstance(qualify(trace_event(phi_before=-1, phi_after=0.5), crit), ScoreEvent)
    with pytest.raises(InvalidEvent):
        qualify(trace_event(phi_before=0, phi_after=3), crit)


def test_oversized_text_is_invalid() -> None:
    with pytest.raises(InvalidEvent) as exc:
        qualify(trace_event(state_after="x" * 1001), CRIT)
    assert exc.value.reason == "field_too_large"
    assert "state_after" in exc.value.message


def test_empty_reasoning_is_invalid() -> None:
    with pytest.raises(InvalidEvent) as exc:
        qualify(trace_event(reasoning="  "), CRIT)
    assert exc.value.reason == "missing_reasoning"


def test_sampling_is_stable_and_close_to_the_rate() -> None:
    ids = [f"event-{i}" for i in range(20_000)]
    first = [in_sample(i, 0.25) for i in ids]
    assert first == [in_sample(i, 0.25) for i in ids]  # same decision every time
    assert 0.23 < sum(first) / len(ids) < 0.27
    # A lower rate keeps a subset of a higher one: raising the rate never drops an event.
    assert all(in_sample(i, 0.5) for i, kept in zip(ids, first, strict=True) if kept)


def test_sampled_out_events_are_skipped() -> None:
    crit = Criteria(Scale(0, 10), 0.5, 0.0, 1000)
    assert qualify(trace_event(), crit) is Skip.SAMPLED_OUT
    assert in_sample("anything", 1.0) and not in_sample("anything", 0.0)
