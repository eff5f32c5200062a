import pytest

from consumer.generate.anthropic_cost import Prices, SpendMeter, Tokens
from consumer.settings import load


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_cost_per_kind_per_million() -> None:
    t = Tokens(input=1_000_000, output=100_000, cache_read=2_000_000, cache_write=400_000)
    assert t.cost(Prices()) == pytest.approx(3.0 + 1.5 + 0.6 + 1.5)
    assert t.total == 3_500_000
    assert Tokens().cost(Prices()) == 0


def test_spend_rolls_out_of_the_window() -> None:
    clock = Clock()
    meter = SpendMeter(cap_usd=0, window_s=3600, clock=clock)
    meter.add(0.5)
    clock.t = 1800
    meter.add(0.25)
    assert meter.spent() == pytest.approx(0.75)
    clock.t = 3600
    assert meter.spent() == pytest.approx(0.25)
    assert meter.until_room_s() == pytest.approx(1800)
    clock.t = 5400
    assert meter.spent() == 0


def test_no_cap_never_caps() -> None:
    meter = SpendMeter(cap_usd=0, clock=Clock())
    meter.add(1e6)
    assert not meter.capped() and meter.reserve() == 0


def test_the_cap_counts_spend_and_reservations() -> None:
    clock = Clock()
    meter = SpendMeter(cap_usd=1.0, window_s=3600, clock=clock, first_estimate_usd=0.4)
    assert not meter.capped()
    a = meter.reserve()
    b = meter.reserve()
    assert not meter.capped()  # 0.8 reserved
    c = meter.reserve()
    assert meter.capped()  # 1.2 reserved: no further call may start
    for r in (a, b, c):
        meter.release(r)
    assert not meter.capped()
    meter.add(1.0)
    assert meter.capped()
    clock.t = 3600
    assert not meter.capped()


def test_reservations_follow_real_costs() -> None:
    meter = SpendMeter(cap_usd=10, clock=Clock(), first_estimate_usd=1.0)
    for _ in range(60):
        meter.add(0.01)
    assert meter.reserve() == pytest.approx(0.01, rel=0.1)


def test_settings_prices_default_to_the_default_model() -> None:
    s = load({})
    assert s.anthropic_model == "claude-sonnet-5-5"
    assert (
        s.llm_price_input_per_mtok,
        s.llm_price_output_per_mtok,
        s.llm_price_cache_read_per_mtok,
        s.llm_price_cache_write_per_mtok,
    ) == (Prices().input, Prices().output, Prices().cache_read, Prices().cache_write)
