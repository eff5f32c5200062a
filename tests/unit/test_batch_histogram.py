"""BatchHistogram: what a scrape shows is what prometheus_client's Histogram would show."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from consumer.observe.metrics import BatchHistogram

BUCKETS = (0.001, 0.01, 0.1, 1, 2.5, 60)
# Values on the bounds themselves too: a value equal to a bound is inside that bucket.
VALUES = st.one_of(
    st.sampled_from([0.0, *BUCKETS]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)


def _exposed(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("h_") and not line.startswith("h_created")
    ]


@given(st.lists(st.lists(VALUES, max_size=40), max_size=5))
def test_the_same_exposition_as_a_histogram_observing_one_by_one(
    batches: list[list[float]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram(name="h", documentation="doc", buckets=BUCKETS, registry=ours)
    single = Histogram("h", "doc", buckets=BUCKETS, registry=theirs)
    for values in batches:
        batch.observe_all(values)
        for v in values:
            single.observe(v)
    mine, reference = _exposed(ours), _exposed(theirs)
    assert [line.rsplit(" ", 1)[0] for line in mine] == [
        line.rsplit(" ", 1)[0] for line in reference
    ]
    for a, b in zip(mine, reference, strict=True):
        assert math.isclose(float(a.rsplit(" ", 1)[1]), float(b.rsplit(" ", 1)[1]))


def test_help_and_type_say_histogram() -> None:
    registry = CollectorRegistry()
    BatchHistogram(name="h", documentation="what it measures", buckets=BUCKETS, registry=registry)
    text = generate_latest(registry).decode()
    assert "# HELP h what it measures" in text and "# TYPE h histogram" in text
    assert 'h_bucket{le="+Inf"} 0.0' in text and "h_count 0.0" in text
