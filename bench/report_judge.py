"""The report's lines for section 3's points with the judge on: throughput against the same
point without the judge, and the calls, tokens and dollars per pair with and without it."""

from __future__ import annotations

from typing import Any

from bench.report_sections import _fmt, _table

__all__ = ["judge_section"]


def _point(p: dict[str, Any]) -> str:
    return f"c={p['concurrency']} @ {p['latency_s'] * 1000:.0f} ms"


def _usage_row(p: dict[str, Any], judged: bool, ratio: float | None) -> list[Any]:
    pp = p.get("per_pair") or {}
    gen, jud = pp.get("generator") or {}, pp.get("judge") or {}
    calls = pp.get("calls") or {}
    return [
        _point(p),
        "on" if judged else "off",
        f"{_fmt(calls.get('generator'))} + {_fmt(calls.get('judge'))}",
        " / ".join(_fmt(gen.get(k)) for k in ("input", "output", "cache_read", "cache_write")),
        " / ".join(_fmt(jud.get(k)) for k in ("input", "output")),
        _fmt((gen.get("total") or 0) + (jud.get("total") or 0)) if pp else "-",
        f"{gen.get('usd', 0):.5f} + {jud.get('usd', 0):.5f} = {pp['usd']:.5f}" if pp else "-",
        f"x{ratio}" if ratio is not None else "",
    ]


def judge_section(llm: dict[str, Any]) -> list[str]:
    judged = [p for p in llm.get("judge_points") or [] if "concurrency" in p]
    if not judged:
        return []
    out = [
        "3b. LLM-bound with the judge on (SELFTAUGHT_JUDGE_BACKEND=anthropic, the same fake; "
        "a pair is the generator's call, then the judge's two at once: ideal = c / (3 x latency))"
    ]
    rows = []
    for p in judged:
        vs = p.get("vs_without_judge") or {}
        verdicts = ", ".join(f"{k} {v:,}" for k, v in (p.get("judge_verdicts") or {}).items())
        rows.append(
            [
                _point(p),
                p["ideal_qualifying_per_s"],
                p["qualifying_per_s"],
                f"{p['pct_of_ideal']}%",
                f"x{vs.get('qualifying_per_s_ratio')}",
                "{} ({})".format(*(_fmt(x) for x in vs.get("cpu_ms_per_pair") or (None, None))),
                _fmt(((p.get("per_pair") or {}).get("calls") or {}).get("all")),
                p["fake_max_in_flight"],
                p["service_cpu_cores"][0],
                verdicts or "-",
                "yes" if p["backlog_ran_dry"] else "",
            ]
        )
    out.append(
        _table(
            [
                "point",
                "ideal pairs/s",
                "pairs/s",
                "% ideal",
                "vs no judge",
                "svc CPU ms a pair (no judge)",
                "calls a pair",
                "max in flight",
                "svc cores",
                "judge verdicts (whole run)",
                "dry",
            ],
            rows,
        )
    )
    out.append(
        "  per pair, from the service's metrics over the window: the generator's tokens and USD "
        "per generation, the judge's per verdict; calls as the fake counted them, per pair "
        "committed (a few % off: the fake's exact latency makes calls and commits move in "
        "waves). The fake's usage is ~4 characters a token of what it was sent: the size of "
        "the prompts, not a tokenizer; its verdicts are one short sentence."
    )
    plain = {(p["concurrency"], p["latency_s"]): p for p in llm.get("points") or []}
    urows = []
    for p in judged:
        q = plain.get((p["concurrency"], p["latency_s"]))
        if q is not None:
            urows.append(_usage_row(q, False, None))
        urows.append(
            _usage_row(p, True, (p.get("vs_without_judge") or {}).get("usd_per_pair_ratio"))
        )
    out.append(
        _table(
            [
                "point",
                "judge",
                "calls (gen + judge)",
                "generator in / out / cache read / write",
                "judge in / out",
                "tokens",
                "USD (gen + judge)",
                "USD vs no judge",
            ],
            urows,
        )
    )
    out.append("")
    return out
