"""The benchmark report's sections: each turns one section's results into its lines."""

from __future__ import annotations

from typing import Any

__all__ = [
    "eval_section",
    "latency_section",
    "llm_section",
    "memory_section",
    "profile_section",
    "scale_out_section",
    "throughput_section",
]


def _fmt(x: Any, nd: int = 0) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != int(x) and abs(x) < 100:
            return f"{x:,.2f}" if abs(x) < 10 else f"{x:,.1f}"
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _ok(cond: bool | None) -> str:
    return "" if cond is None else ("  [ok]" if cond else "  [MISSED]")


def _sdk(p: dict[str, Any]) -> str:
    sdk = p.get("sdk_alone")
    return f"{sdk['calls_per_s']} ({sdk['pct_of_ideal']}%)" if sdk else "-"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [
        [_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def throughput_section(thr: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"1. Pipeline overhead: draining {thr['events']:,} score events "
        f"({thr['qualifying']:,} qualifying), rules generator, exactly-once, 100 ms commits"
    )
    rows = []
    for name, key in (("service", "service_runs"), ("bare loop", "bare_runs")):
        for i, r in enumerate(thr[key]):
            rows.append(
                [
                    f"{name} #{i}",
                    r["events_per_s"],
                    r["steady_10_90_events_per_s"],
                    r["cpu_cores"],
                    r["cpu_us_per_event"],
                    r["transactions"],
                    r["mean_transaction_ms"],
                ]
            )
    out.append(
        _table(
            ["run", "events/s", "10-90% ev/s", "cpu cores", "cpu us/event", "txns", "ms/txn"],
            rows,
        )
    )
    out.append(
        f"  service / bare = {thr['service_events_per_s']:,} / {thr['bare_events_per_s']:,} "
        f"= {thr['ratio'] * 100:.0f}%  (target >= 50%){_ok(thr['ratio'] >= 0.5)}"
    )
    short = min(r["seconds"] for r in thr["bare_runs"])
    if short < 2:
        out.append(
            f"  (the bare loop drained it in {short} s: too short for a stable ratio; "
            "the default size is the figure to quote)"
        )
    two = thr.get("two_instances") or {}
    if two.get("steady_10_90_events_per_s") and two.get("vs_one_instance"):
        out.append(
            f"  two instances in one group (for sizing; 10-90% rates): "
            f"{two['steady_10_90_events_per_s']:,} ev/s, x{two['vs_one_instance']} one "
            f"instance's {two['one_instance_steady_10_90_events_per_s']:,}; "
            f"{two['ratio_to_bare'] * 100:.0f}% of the bare loop"
        )
    if thr.get("pipeline_in_process_us_per_event"):
        out.append(
            f"  Pipeline.start alone, in process (no Kafka): "
            f"{thr['pipeline_in_process_us_per_event']} us/event"
        )
    out.append("")
    return out


def profile_section(prof: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"2. Where the time goes (py-spy, {prof['seconds']} s of the service's main thread "
        "while draining the memory backlog; % of wall-clock samples)"
    )
    g = prof["groups_pct"]
    out.append("  " + "  ".join(f"{k} {v}%" for k, v in g.items()))
    out.append(
        "  busy time only: " + "  ".join(f"{k} {v}%" for k, v in prof["busy_groups_pct"].items())
    )
    tx = prof["transactions"]["pct_of_wall"]
    if tx:
        out.append(
            "  transaction threads (wall; the loop goes on meanwhile): "
            + "  ".join(f"{k} {v}%" for k, v in tx.items())
        )
    out.append("  top frames (self, % of wall):")
    for f in prof["top_leaf_frames_pct"][:10]:
        out.append(f"    {f['pct']:5.1f}%  {f['frame']}")
    out.append("")
    return out


def llm_section(llm: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append("3. LLM-bound throughput (fake Messages API in its own process)")
    rows = []
    for p in llm["points"]:
        seq = llm["sequential"][str(p["latency_s"])]["calls_per_s"]
        rows.append(
            [
                f"c={p['concurrency']} @ {p['latency_s'] * 1000:.0f} ms",
                p["ideal_qualifying_per_s"],
                p["qualifying_per_s"],
                f"{p['pct_of_ideal']}%",
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
    out.append(
        _table(
            [
                "point",
                "ideal pairs/s",
                "pairs/s",
                "% ideal",
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
    )
    worst = min(p["pct_of_ideal"] for p in llm["points"])
    out.append(f"  worst point {worst}% of ideal (target >= 90%){_ok(worst >= 90)}")
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
    st = llm.get("startup_stall") or {}
    if st:
        out.append(
            f"  start-up on a backlog (c={st['concurrency']} @ {st['latency_s'] * 1000:.0f} ms, no primer): "
            f"commits stood still for {st['longest_commit_stall_s']} s while calls went on; after "
            f"{st['seconds']} s {st['qualifying_committed']:,} pairs committed of {st['calls_made']:,} calls made; "
            f"transactions slower than 0.5 / 1 / 2.5 s: "
            + " / ".join(str(v) for v in (st.get("slow_transactions") or {}).values())
        )
        readings = st.get("longest_stall_readings") or []
        if len(readings) >= 2:
            first, last = readings[0], readings[-1]
            out.append(
                f"    during it: transactions {first['transactions']} -> {last['transactions']}, "
                f"offsets {first['offsets']} -> {last['offsets']}, records in flight "
                f"{[r['in_flight'] for r in readings]}, paused {[r['paused'] for r in readings]}"
            )
    out.append("")
    return out


def latency_section(lat: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"4. Latency added at {lat['rate_events_per_s']:.0f} events/s for {lat['seconds']:.0f} s "
        f"(achieved {lat['achieved_rate']}/s), rules generator, event timestamp -> card readable"
    )
    out.append(
        _table(
            [
                "cards",
                "expected",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "p99.9 ms",
                "max ms",
                "svc cores",
            ],
            [
                [
                    lat["cards_measured"],
                    lat["cards_expected"],
                    lat["p50_ms"],
                    lat["p90_ms"],
                    lat["p99_ms"],
                    lat["p999_ms"],
                    lat["max_ms"],
                    lat["service_cpu_cores"],
                ]
            ],
        )
    )
    p99 = lat["p99_ms"]
    out.append(f"  p99 {p99} ms (target < 1000 ms){_ok(p99 is not None and p99 < 1000)}")
    waited = lat.get("service_cpu_wait")
    if waited:
        out.append(
            f"  the service's loop was ready to run {waited['run_s'] + waited['wait_s']:.1f} s "
            f"of it and waited for a CPU {waited['wait_share']:.0%} of that "
            f"(ran {waited['run_s']} s, waited {waited['wait_s']} s)"
        )
    out.append("")
    return out


def memory_section(mem: dict[str, Any]) -> list[str]:
    out: list[str] = []
    d = mem["drain"]
    out.append(
        f"5. Memory: draining {mem['events']:,} events: peak RSS (VmHWM) {mem['peak_rss_mib']} MiB "
        f"(at ready {mem['rss_at_ready_mib']} MiB; target < 300){_ok(mem['peak_rss_mib'] < 300)}; "
        f"{d['events_per_s']:,} events/s with the profiler attached"
    )
    out.append("")
    return out


def scale_out_section(sc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"6. Scale-out: {sc['partitions']} partitions, fake LLM at {sc['latency_s'] * 1000:.0f} ms, "
        f"concurrency {sc['concurrency_per_instance']} per instance"
    )
    rows = [
        [
            r["instances"],
            r["ideal_qualifying_per_s"],
            r["qualifying_per_s"],
            f"{r['pct_of_ideal']}%",
            r["events_per_s"],
            f"{r['efficiency_per_instance'] * 100:.0f}%",
            str(r["assigned"]),
            str(r["service_cpu_cores"]),
            r["fake_cpu_cores"],
        ]
        for r in sc["rows"]
    ]
    out.append(
        _table(
            [
                "instances",
                "ideal pairs/s",
                "pairs/s",
                "% ideal",
                "events/s",
                "efficiency",
                "partitions",
                "svc cores",
                "fake cores",
            ],
            rows,
        )
    )
    out.append("")
    return out


def eval_section(ev: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "skipped" in ev:
        out.append(f"eval: {ev['skipped']}")
        out.append("")
    else:
        for mode in ("memoryci", "similar"):
            m = ev.get(mode) or {}
            if "error" in m:
                out.append(f"eval {mode}: FAILED: {m['error'][:300]}")
            elif "lift" in m:
                low, high = m["lift_95"]
                out.append(
                    f"eval {mode}: {m['model']}, {m['judged']} pairs judged, accuracy "
                    f"{_fmt(m['accuracy_without'], 3)} -> {_fmt(m['accuracy_with'], 3)}, lift "
                    f"{_fmt(m['lift'], 3)} [{_fmt(low, 3)}, {_fmt(high, 3)}], McNemar p "
                    f"{_fmt(m['mcnemar_p'], 3)}, ${_fmt(m['cost_usd'], 3)}"
                    + (f" ({m['stopped']})" if m.get("stopped") else "")
                )
        out.append("")
    return out
