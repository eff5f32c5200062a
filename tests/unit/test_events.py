"""Values of the domain: how a Φ is written in texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumer.events import phi_text


@given(st.lists(st.floats() | st.sampled_from([0.0, -0.0, 0.5, 7.0, 1e-300]), max_size=50))
def test_a_phi_is_written_as_format_g_writes_it_remembered_or_not(phis: list[float]) -> None:
    for phi in phis + phis:  # the second time, from what was remembered
        assert phi_text(phi) == f"{phi:g}"


def test_zero_and_negative_zero_keep_their_own_texts() -> None:
    assert [phi_text(0.0), phi_text(-0.0), phi_text(0.0)] == ["0", "-0", "0"]
