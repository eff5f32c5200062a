"""The benchmark report's sections: each turns one section's results into its lines (the
LLM-bound ones, 3 and 3b, in ``report_llm.py``)."""

from __future__ import annotations

from typing import Any

from bench.report_table import fmt, ok, table

__all__ = [
    "eval_section",
    "latency_section",
    "memory_section",
    "profile_section",
    "scale_out_section",
    "throughput_section",
]


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
        table(
            ["run", "events/s", "10-90% ev/s", "cpu cores", "cpu us/event", "txns", "ms/txn"],
            rows,
        )
    )
    out.append(
        f"  service / bare = {thr['service_events_per_s']:,} / {thr['bare_events_per_s']:,} "
        f"= {thr['ratio'] * 100:.0f}%  (target >= 50%){ok(thr['ratio'] >= 0.5)}"
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


def latency_section(lat: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"4. Latency added at {lat['rate_events_per_s']:.0f} events/s for {lat['seconds']:.0f} s "
        f"(achieved {lat['achieved_rate']}/s), rules generator, event timestamp -> card readable"
    )
    out.append(
        table(
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
    out.append(f"  p99 {p99} ms (target < 1000 ms){ok(p99 is not None and p99 < 1000)}")
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
        f"(at ready {mem['rss_at_ready_mib']} MiB; target < 300){ok(mem['peak_rss_mib'] < 300)}; "
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
        table(
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
                    f"{fmt(m['accuracy_without'], 3)} -> {fmt(m['accuracy_with'], 3)}, lift "
                    f"{fmt(m['lift'], 3)} [{fmt(low, 3)}, {fmt(high, 3)}], McNemar p "
                    f"{fmt(m['mcnemar_p'], 3)}, ${fmt(m['cost_usd'], 3)}"
                    + (f" ({m['stopped']})" if m.get("stopped") else "")
                )
        out.append("")
    return out
