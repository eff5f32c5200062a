"""The report's LLM-bound sections: 3, the service against the fake Messages API at each
concurrency and latency; 3b, the same points with the judge on: throughput against the same
point without the judge, and the calls, tokens and dollars per pair with and without it."""

from __future__ import annotations

from typing import Any

from bench.report_table import fmt, ok, table

__all__ = ["judge_section", "llm_section"]


def _sdk(p: dict[str, Any]) -> str:
    sdk = p.get("sdk_alone")
    return f"{sdk['calls_per_s']} ({sdk['pct_of_ideal']}%)" if sdk else "-"


#: The columns every table of LLM-bound points begins with (sections 3 and 3b).
LLM_POINT_HEADERS = ("point", "ideal pairs/s", "pairs/s", "% ideal")


def llm_point_label(p: dict[str, Any]) -> str:
    return f"c={p['concurrency']} @ {p['latency_s'] * 1000:.0f} ms"


def llm_point_cells(p: dict[str, Any]) -> list[Any]:
    """An LLM-bound point's first cells, under ``LLM_POINT_HEADERS``."""
    return [
        llm_point_label(p),
        p["ideal_qualifying_per_s"],
        p["qualifying_per_s"],
        f"{p['pct_of_ideal']}%",
    ]


def llm_section(llm: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append("3. LLM-bound throughput (fake Messages API in its own process)")
    out.append(_llm_points_table(llm))
    worst = min(p["pct_of_ideal"] for p in llm["points"])
    out.append(f"  worst point {worst}% of ideal (target >= 90%){ok(worst >= 90)}")
    out.append(
        "  SDK alone: the same client keeping as many calls in flight in one process, with "
        "no Kafka and no pipeline: the ceiling of one Python process at that point"
    )
    fl = llm.get("call_floor") or {}
    if fl:
        out.append(
            f"  per-call floor of SDK + fake at zero latency: {fl['ms_per_call_tcp_nodelay']} ms "
            f"(with Nagle on, as the fake was before 9e1e4ba: {fl['ms_per_call_with_nagle']} ms)"
        )
    out.extend(_startup_stall_lines(llm.get("startup_stall") or {}))
    out.append("")
    return out


def _llm_points_table(llm: dict[str, Any]) -> str:
    rows = []
    for p in llm["points"]:
        seq = llm["sequential"][str(p["latency_s"])]["calls_per_s"]
        rows.append(
            [
                *llm_point_cells(p),
                _sdk(p),
                p["events_per_s"],
                seq,
                f"x{p['x_sequential']}",
                p["fake_max_in_flight"],
                p["service_cpu_cores"][0],
                p["fake_cpu_cores"],
                "yes" if p["backlog_ran_dry"] else "",
            ]
        )
    return table(
        [
            *LLM_POINT_HEADERS,
            "SDK alone/s (% ideal)",
            "events/s",
            "sequential/s",
            "vs seq",
            "max in flight",
            "svc cores",
            "fake cores",
            "dry",
        ],
        rows,
    )


def _startup_stall_lines(st: dict[str, Any]) -> list[str]:
    """The start-up on a backlog: how long commits stood still while calls went on."""
    if not st:
        return []
    out = [
        f"  start-up on a backlog (c={st['concurrency']} @ {st['latency_s'] * 1000:.0f} ms, no primer): "
        f"commits stood still for {st['longest_commit_stall_s']} s while calls went on; after "
        f"{st['seconds']} s {st['qualifying_committed']:,} pairs committed of {st['calls_made']:,} calls made; "
        f"transactions slower than 0.5 / 1 / 2.5 s: "
        + " / ".join(str(v) for v in (st.get("slow_transactions") or {}).values())
    ]
    readings = st.get("longest_stall_readings") or []
    if len(readings) >= 2:
        first, last = readings[0], readings[-1]
        out.append(
            f"    during it: transactions {first['transactions']} -> {last['transactions']}, "
            f"offsets {first['offsets']} -> {last['offsets']}, records in flight "
            f"{[r['in_flight'] for r in readings]}, paused {[r['paused'] for r in readings]}"
        )
    return out


def _usage_row(p: dict[str, Any], judged: bool, ratio: float | None) -> list[Any]:
    pp = p.get("per_pair") or {}
    gen, jud = pp.get("generator") or {}, pp.get("judge") or {}
    calls = pp.get("calls") or {}
    return [
        llm_point_label(p),
        "on" if judged else "off",
        f"{fmt(calls.get('generator'))} + {fmt(calls.get('judge'))}",
        " / ".join(fmt(gen.get(k)) for k in ("input", "output", "cache_read", "cache_write")),
        " / ".join(fmt(jud.get(k)) for k in ("input", "output")),
        fmt((gen.get("total") or 0) + (jud.get("total") or 0)) if pp else "-",
        f"{gen.get('usd', 0):.5f} + {jud.get('usd', 0):.5f} = {pp['usd']:.5f}" if pp else "-",
        f"x{ratio}" if ratio is not None else "",
    ]


def judge_section(llm: dict[str, Any]) -> list[str]:
    judged = [p for p in llm.get("judge_points") or [] if "concurrency" in p]
    if not judged:
        return []
    return [
        "3b. LLM-bound with the judge on (SELFTAUGHT_JUDGE_BACKEND=anthropic, the same fake; "
        "a pair is the generator's call, then the judge's two at once: ideal = c / (3 x latency))",
        _throughput_table(judged),
        "  per pair, from the service's metrics over the window: the generator's tokens and USD "
        "per generation, the judge's per verdict; calls as the fake counted them, per pair "
        "committed (a few % off: the fake's exact latency makes calls and commits move in "
        "waves). The fake's usage is ~4 characters a token of what it was sent: the size of "
        "the prompts, not a tokenizer; its verdicts are one short sentence.",
        _usage_table(llm, judged),
        "",
    ]


def _throughput_table(judged: list[dict[str, Any]]) -> str:
    """Each judged point's pairs/s and CPU a pair against the same point without the judge."""
    rows = []
    for p in judged:
        vs = p.get("vs_without_judge") or {}
        verdicts = ", ".join(f"{k} {v:,}" for k, v in (p.get("judge_verdicts") or {}).items())
        rows.append(
            [
                *llm_point_cells(p),
                f"x{vs.get('qualifying_per_s_ratio')}",
                "{} ({})".format(*(fmt(x) for x in vs.get("cpu_ms_per_pair") or (None, None))),
                fmt(((p.get("per_pair") or {}).get("calls") or {}).get("all")),
                p["fake_max_in_flight"],
                p["service_cpu_cores"][0],
                verdicts or "-",
                "yes" if p["backlog_ran_dry"] else "",
            ]
        )
    return table(
        [
            *LLM_POINT_HEADERS,
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


def _usage_table(llm: dict[str, Any], judged: list[dict[str, Any]]) -> str:
    """Calls, tokens and USD a pair of each judged point, after the same point without it."""
    plain = {(p["concurrency"], p["latency_s"]): p for p in llm.get("points") or []}
    rows = []
    for p in judged:
        q = plain.get((p["concurrency"], p["latency_s"]))
        if q is not None:
            rows.append(_usage_row(q, False, None))
        rows.append(
            _usage_row(p, True, (p.get("vs_without_judge") or {}).get("usd_per_pair_ratio"))
        )
    return table(
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
        rows,
    )
