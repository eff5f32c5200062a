"""Pure: what an LLM point spent per pair, from the service's metrics and the fake's counts,
and how a point with the judge on compares with the same point without it.

The service counts tokens and estimated dollars per answered call (``selftaught_llm_*``, the
judge's share also in ``selftaught_judge_*``), each generation as its answer is read
(``selftaught_llm_mistake_types``) and each verdict as its two answers are
(``selftaught_judge_verdicts``); the fake counts the requests it received, judge requests
apart. A point reads both every half second or so, and each figure is a ratio of
least-squares slopes over the window. The generator's tokens are divided by the generations
and the judge's by the verdicts, counters that move at the same moments as the tokens: the
fake answers every call after exactly its latency, so the service runs in lockstep (with the
judge on, a wave of generator calls, then waves of judge calls) and any count taken at
another moment, such as pairs committed, is off by where the window cuts the cycle. The
calls per committed pair are kept as measured, with that error.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["KINDS", "comparison", "per_pair", "reading", "slope"]

#: Token kinds, as the service labels them.
KINDS = ("input", "output", "cache_read", "cache_write")


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, count) readings: a rate, robust to waves."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mc = statistics.fmean(c for _, c in points)
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (c - mc) for t, c in points) / var if var else 0.0


def _sum(metrics: Mapping[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def reading(metrics: Mapping[str, float], fake: Mapping[str, Any]) -> dict[str, float]:
    """One reading's counters: pairs committed, the fake's requests by kind, and the
    tokens and dollars of the generator's calls and of the judge's (the service's LLM
    totals include the judge's, so the generator's are the difference)."""
    out = {
        "pairs": _sum(metrics, "selftaught_pairs_generated_total"),
        "generations": _sum(metrics, "selftaught_llm_mistake_types_total"),
        "verdicts": _sum(metrics, "selftaught_judge_verdicts_total"),
        "calls.generator": float(fake["requests"] - fake.get("judge_requests", 0)),
        "calls.judge": float(fake.get("judge_requests", 0)),
        "usd.judge": _sum(metrics, "selftaught_judge_cost_usd_total"),
    }
    out["usd.generator"] = _sum(metrics, "selftaught_llm_cost_usd_total") - out["usd.judge"]
    for kind in KINDS:
        label = f'{{kind="{kind}"}}'
        judge = metrics.get("selftaught_judge_tokens_total" + label, 0.0)
        out[f"tokens.judge.{kind}"] = judge
        out[f"tokens.generator.{kind}"] = (
            metrics.get("selftaught_llm_tokens_total" + label, 0.0) - judge
        )
    return out


def per_pair(samples: Sequence[tuple[float, Mapping[str, float]]]) -> dict[str, Any] | None:
    """Over timed ``reading``s: the calls per committed pair (as the fake saw them), and the
    tokens and dollars of a pair: the generator's per generation plus the judge's per
    verdict (zero without a judge). ``None`` when no pair was committed over them."""
    pairs = slope([(t, r["pairs"]) for t, r in samples])
    if pairs <= 0:
        return None

    def rate(key: str) -> float:
        return slope([(t, r.get(key, 0.0)) for t, r in samples])

    out: dict[str, Any] = {"pairs_per_s": round(pairs, 1)}
    calls = {who: rate(f"calls.{who}") / pairs for who in ("generator", "judge")}
    out["calls"] = {k: round(v, 2) for k, v in calls.items()} | {
        "all": round(sum(calls.values()), 2)
    }
    for who, per in (("generator", "generations"), ("judge", "verdicts")):
        done = rate(per)
        tokens = {k: rate(f"tokens.{who}.{k}") / done if done > 0 else 0.0 for k in KINDS}
        out[who] = {k: round(v) for k, v in tokens.items()} | {
            "total": round(sum(tokens.values())),
            "usd": round(rate(f"usd.{who}") / done, 6) if done > 0 else 0.0,
        }
    out["usd"] = round(out["generator"]["usd"] + out["judge"]["usd"], 6)
    return out


def comparison(judged: Mapping[str, Any], plain: Mapping[str, Any]) -> dict[str, Any]:
    """A point with the judge on against the same concurrency and latency without it:
    the ratio of qualifying events committed per second, the service's CPU per pair with and
    without, and the ratios of cost and tokens per pair."""
    out: dict[str, Any] = {
        "qualifying_per_s_ratio": _ratio(judged["qualifying_per_s"], plain["qualifying_per_s"]),
        "cpu_ms_per_pair": [_cpu_ms(judged), _cpu_ms(plain)],
    }
    a, b = judged.get("per_pair"), plain.get("per_pair")
    if a and b:
        out["usd_per_pair_ratio"] = _ratio(a["usd"], b["usd"])
        out["tokens_per_pair_ratio"] = _ratio(
            a["generator"]["total"] + a["judge"]["total"],
            b["generator"]["total"] + b["judge"]["total"],
        )
    return out


def _cpu_ms(p: Mapping[str, Any]) -> float | None:
    rate = p["qualifying_per_s"]
    return round(1000 * sum(p["service_cpu_cores"]) / rate, 2) if rate else None


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None
