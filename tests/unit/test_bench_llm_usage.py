"""The LLM bench's per-pair figures and the judge comparison (pure), and the fake's usage
counted from what it was sent."""

from __future__ import annotations

from typing import Any

import pytest

from bench.report_llm import judge_section
from bench.scenarios.llm_usage import comparison, per_pair, reading, slope
from testkit.anthropic_server import CACHE_MIN_TOKENS, text_usage


def metrics(
    pairs: float, llm: dict[str, float], judge: dict[str, float], usd: tuple[float, float]
) -> dict[str, float]:
    out = {
        'selftaught_pairs_generated_total{generator="anthropic/x",mistake_type="sycophancy"}': pairs
        / 2,
        'selftaught_pairs_generated_total{generator="anthropic/x",mistake_type="other"}': pairs / 2,
        'selftaught_llm_mistake_types_total{mistake_type="sycophancy"}': pairs + 3,
        'selftaught_judge_verdicts_total{verdict="right",mistake_type="other"}': pairs - 1,
        "selftaught_llm_cost_usd_total": usd[0],
        "selftaught_judge_cost_usd_total": usd[1],
        'selftaught_records_consumed_total{outcome="qualified"}': 10**6,  # not a pair count
    }
    for kind, v in llm.items():
        out[f'selftaught_llm_tokens_total{{kind="{kind}"}}'] = v
    for kind, v in judge.items():
        out[f'selftaught_judge_tokens_total{{kind="{kind}"}}'] = v
    return out


def test_slope_is_the_rate_through_waves() -> None:
    # a counter moving by 100 every second in one step: the rate is 100/s whichever
    # instant the readings start at
    for offset in (0.0, 0.3, 0.7):
        readings = [(t / 10 + offset, 100 * int(t / 10 + offset)) for t in range(120)]
        assert slope(readings) == pytest.approx(100, rel=0.05)
    assert slope([(1.0, 5)]) == 0.0
    assert slope([(1.0, 5), (1.0, 9)]) == 0.0


def test_a_reading_separates_the_generators_share_from_the_judges() -> None:
    r = reading(
        metrics(
            40,
            {"input": 1000, "output": 300, "cache_read": 5000, "cache_write": 0},
            {"input": 600, "output": 100, "cache_read": 0, "cache_write": 0},
            (0.05, 0.01),
        ),
        {"requests": 120, "judge_requests": 80},
    )
    assert (r["pairs"], r["generations"], r["verdicts"]) == (40, 43, 39)
    assert (r["calls.generator"], r["calls.judge"]) == (40, 80)
    assert (r["tokens.generator.input"], r["tokens.judge.input"]) == (400, 600)
    assert (r["tokens.generator.cache_read"], r["tokens.judge.output"]) == (5000, 100)
    assert r["usd.generator"] == pytest.approx(0.04) and r["usd.judge"] == 0.01


def test_per_pair_divides_each_counters_rate_by_the_pairs_rate() -> None:
    samples = []
    for i in range(10):
        t, pairs = i * 0.5, 50 * i  # 100 pairs/s
        r = {
            "pairs": float(pairs),
            "generations": float(pairs),
            "verdicts": float(pairs),
            "calls.generator": float(pairs),
            "calls.judge": 2.0 * pairs,
            "tokens.generator.input": 700.0 * pairs,
            "tokens.generator.output": 90.0 * pairs,
            "tokens.generator.cache_read": 2200.0 * pairs,
            "tokens.judge.input": 2 * 650.0 * pairs,
            "tokens.judge.output": 2 * 20.0 * pairs,
            "usd.generator": 0.004 * pairs,
            "usd.judge": 0.0015 * pairs,
        }
        samples.append((t, r))
    got = per_pair(samples)
    assert got is not None
    assert got["pairs_per_s"] == 100
    assert got["calls"] == {"generator": 1, "judge": 2, "all": 3}
    assert got["generator"]["input"] == 700 and got["generator"]["cache_write"] == 0
    assert got["generator"]["total"] == 700 + 90 + 2200
    assert got["judge"]["total"] == 1300 + 40
    assert got["usd"] == pytest.approx(0.0055)


def test_tokens_follow_generations_and_verdicts_not_the_commits_cycle() -> None:
    # Lockstep: generator answers in one wave, judge answers in the next two, commits after
    # them; the window ends mid-cycle. Tokens are divided by the counters that move with
    # them, so a pair still costs exactly one generation and one verdict.
    samples = []
    sent_gen = sent_judge = gen = judged = committed = 0
    for wave in range(14):
        phase = wave % 3
        if phase == 0:
            committed = judged  # the pairs judged in the last wave
            sent_gen += 60
        elif phase == 1:
            gen += 60
            sent_judge += 120
        else:
            judged += 60
        r = {
            "pairs": float(committed),
            "generations": float(gen),
            "verdicts": float(judged),
            "calls.generator": float(sent_gen),
            "calls.judge": float(sent_judge),
            "tokens.generator.input": 500.0 * gen,
            "tokens.judge.input": 800.0 * judged,
            "usd.generator": 0.002 * gen,
            "usd.judge": 0.001 * judged,
        }
        samples.append((float(wave), r))
    got = per_pair(samples)
    assert got is not None
    assert got["generator"]["input"] == 500 and got["judge"]["input"] == 800
    assert got["usd"] == pytest.approx(0.003)
    # against the commits, tokens and calls are off by where the window cuts the cycle
    naive = slope([(t, r["tokens.generator.input"]) for t, r in samples]) / slope(
        [(t, r["pairs"]) for t, r in samples]
    )
    assert abs(naive / 500 - 1) > 0.01
    assert got["calls"]["all"] != 3


def test_without_a_judge_the_judges_share_is_zero() -> None:
    samples = [
        (float(t), {"pairs": 10.0 * t, "generations": 10.0 * t, "usd.generator": 0.02 * t})
        for t in range(5)
    ]
    got = per_pair(samples)
    assert got is not None
    assert got["judge"]["total"] == 0 and got["judge"]["usd"] == 0.0
    assert got["usd"] == pytest.approx(0.002)


def test_no_pair_committed_gives_no_per_pair_figures() -> None:
    flat = {"pairs": 7.0, "tokens.generator.input": 100.0}
    assert per_pair([(0.0, flat), (1.0, {**flat, "tokens.generator.input": 900.0})]) is None


def point(c: int, rate: float, usd: float, tokens: int, judge: bool) -> dict[str, Any]:
    calls = {"generator": 1.0, "judge": 2.0 if judge else 0.0}
    return {
        "concurrency": c,
        "latency_s": 0.25,
        "ideal_qualifying_per_s": c / 0.25 / (3 if judge else 1),
        "qualifying_per_s": rate,
        "pct_of_ideal": 90.0,
        "fake_max_in_flight": c,
        "service_cpu_cores": [0.5],
        "backlog_ran_dry": False,
        "judge_verdicts": {"right": 500} if judge else {},
        "per_pair": {
            "calls": {**calls, "all": sum(calls.values())},
            "generator": {
                "input": tokens,
                "output": 0,
                "cache_read": 0,
                "cache_write": 0,
                "total": tokens,
                "usd": usd,
            },
            "judge": {"input": 0, "output": 0, "total": 0, "usd": 0.0},
            "usd": usd,
        },
    }


def test_the_comparison_is_judged_over_plain() -> None:
    vs = comparison(point(64, 80.0, 0.006, 4000, True), point(64, 240.0, 0.004, 3000, False))
    assert vs == {
        "qualifying_per_s_ratio": 0.333,
        "cpu_ms_per_pair": [6.25, 2.08],  # 0.5 cores at 80 and at 240 pairs/s
        "usd_per_pair_ratio": 1.5,
        "tokens_per_pair_ratio": 1.333,
    }
    idle = {"qualifying_per_s": 0.0, "service_cpu_cores": [0.1]}
    assert comparison({"qualifying_per_s": 5.0, "service_cpu_cores": [0.1]}, idle) == {
        "qualifying_per_s_ratio": None,
        "cpu_ms_per_pair": [20.0, None],
    }


def test_the_report_shows_each_judge_point_beside_the_same_point_without() -> None:
    judged = point(64, 80.0, 0.006, 4000, True)
    judged["vs_without_judge"] = comparison(judged, point(64, 240.0, 0.004, 3000, False))
    lines = "\n".join(
        judge_section({"points": [point(64, 240.0, 0.004, 3000, False)], "judge_points": [judged]})
    )
    assert "x0.333" in lines and "x1.5" in lines and "right 500" in lines
    assert "6.25 (2.08)" in lines  # CPU a pair, with (without) the judge
    assert "1 + 2" in lines and "1 + 0" in lines  # calls a pair, with and without
    assert judge_section({"points": [], "judge_points": []}) == []


def test_the_fakes_usage_counts_what_it_was_sent() -> None:
    cached: set[int] = set()
    long_system = "s" * (4 * CACHE_MIN_TOKENS)
    body = {
        "system": [{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "u" * 400}],
    }
    first = text_usage(body, "a" * 80, cached)
    assert first == {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_creation_input_tokens": CACHE_MIN_TOKENS,
        "cache_read_input_tokens": 0,
    }
    again = text_usage(body, "a" * 80, cached)
    assert (again["cache_creation_input_tokens"], again["cache_read_input_tokens"]) == (
        0,
        CACHE_MIN_TOKENS,
    )
    # a marked prefix below the minimum is not cached: it is input, as a real model bills it
    short = {**body, "system": [{**body["system"][0], "text": "s" * 1200}]}
    got = text_usage(short, "", cached)
    assert got["input_tokens"] == 300 + 100
    assert got["cache_read_input_tokens"] == got["cache_creation_input_tokens"] == 0
