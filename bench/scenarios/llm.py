"""3. LLM-bound throughput: qualifying events committed per second against the fake Messages
API at each concurrency and latency; the start-up stall."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from bench.load import delete_topics, produce_backlog
from bench.procs import Committed, FakeLLM
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx
from bench.scenarios.llm_calls import (
    JUDGE_POINTS,
    LLM_POINTS,
    anthropic_env,
    call_floor,
    sdk_alone,
    sequential,
)
from bench.scenarios.llm_usage import comparison
from bench.scenarios.steady import steady
from testkit.service import Service, metric_sum
from testkit.stack import Topics, create_topics


def llm_point(
    ctx: Ctx, fake: FakeLLM, concurrency: int, latency_s: float, judge: bool = False
) -> dict[str, Any]:
    """One point; with ``judge`` the service judges every pair (SELFTAUGHT_JUDGE_BACKEND
    anthropic, against the same fake): three calls a pair, the judge's two after the
    generator's, so the ideal is concurrency / (3 x latency)."""
    ideal = concurrency / latency_s / (3 if judge else 1)
    warmup = 1.5 + (4 if judge else 2) * latency_s
    measure = ctx.sizes.llm_measure_s
    n = math.ceil(ideal / QUALIFYING * (warmup + measure + 6 + latency_s) * 1.3)
    name = f"llm{concurrency}{'-judge' if judge else ''}"
    t = Topics.fresh(f"bench-{name}", PARTITIONS)
    create_topics(ctx.stack, t)
    fake.reset(latency_s)
    svc = ctx.service(t, name, anthropic_env(fake, concurrency, judge=judge))
    try:
        svc.wait_ready()
        got = steady(ctx, t, n, [svc], fake, warmup, measure, seed=concurrency, usage=True)
        if judge:
            got["judge_verdicts"] = _verdicts(svc.metrics())
    finally:
        svc.stop()
        delete_topics(ctx.stack, t)
    return {
        "concurrency": concurrency,
        "latency_s": latency_s,
        "judge": judge,
        "ideal_qualifying_per_s": round(ideal, 1),
        **got,
        "pct_of_ideal": round(100 * got["qualifying_per_s"] / ideal, 1),
    }


def _verdicts(metrics: dict[str, float]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for k, v in metrics.items():
        if k.startswith("selftaught_judge_verdicts_total{"):
            out[k.split('verdict="', 1)[1].split('"', 1)[0]] += int(v)
    return dict(sorted(out.items()))


def judge_points(ctx: Ctx, fake: FakeLLM, plain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The judge's points, each against the point of the same concurrency and latency
    without the judge measured earlier in the same run (``plain``)."""
    out = []
    for conc, latency in JUDGE_POINTS:
        p = llm_point(ctx, fake, conc, latency, judge=True)
        same = [q for q in plain if (q["concurrency"], q["latency_s"]) == (conc, latency)]
        if same:
            p["vs_without_judge"] = comparison(p, same[0])
        out.append(p)
        calls = (p.get("per_pair") or {}).get("calls", {})
        ctx.log(
            f"  judge on, c={conc:<3} @ {latency * 1000:.0f} ms: {p['qualifying_per_s']} pairs/s "
            f"({p['pct_of_ideal']}% of {p['ideal_qualifying_per_s']}; "
            f"x{(p.get('vs_without_judge') or {}).get('qualifying_per_s_ratio')} without the "
            f"judge; {calls.get('all')} calls a pair)"
        )
    return out


def startup_stall(
    ctx: Ctx, fake: FakeLLM, concurrency: int = 16, latency_s: float = 0.25
) -> dict[str, Any]:
    """A service started on a backlog: how long its commits stand still while it calls the LLM.

    Were records generated out of the order they were read (ones read behind a writer-schema
    fetch overtaken by ones read just after, or whole partitions served one after another),
    partitions would commit nothing while calls go on. The readings around the longest
    stall tell which partitions stood and whether the service went on committing.
    """
    n = math.ceil(6000 / QUALIFYING)
    t = Topics.fresh("bench-stall", PARTITIONS)
    create_topics(ctx.stack, t)
    backlog = produce_backlog(
        ctx.stack, t.input, PARTITIONS, n, qualifying_share=QUALIFYING, seed=5
    )
    fake.reset(latency_s)
    svc = ctx.service(t, "stall-0", anthropic_env(fake, concurrency))
    committed = Committed(ctx.stack, t.group, t.input, t.partitions)
    timeline: list[tuple[float, int, int]] = []
    # What the service said at each reading: to tell, should the count stand still, whether
    # it stopped committing or committed without moving, and which partitions stood.
    said: list[dict[str, Any]] = []
    try:
        svc.wait_ready()
        t0 = time.monotonic()
        while time.monotonic() - t0 < ctx.sizes.stall_limit_s:
            time.sleep(0.25)
            got, calls = committed.get(), fake.control()["requests"]
            if got is not None:
                timeline.append((round(time.monotonic() - t0, 2), backlog.qualifying(got), calls))
                said.append(_service_said(svc, got))
        # Whether a stall was the broker taking long to commit rather than the order of work.
        hist = svc.metrics()
        slow_txns = {
            f"over_{le}s": int(
                metric_sum(hist, "selftaught_transaction_duration_seconds_count")
                - hist.get(f'selftaught_transaction_duration_seconds_bucket{{le="{le}"}}', 0)
            )
            for le in ("0.5", "1.0", "2.5")
        }
    finally:
        svc.stop()
        committed.close()
        delete_topics(ctx.stack, t)
    # the longest stretch in which the committed count stood still while calls went on
    longest, start, worst = 0.0, None, (0, 0)
    for i in range(1, len(timeline)):
        if timeline[i][1] != timeline[i - 1][1]:
            start = None
            continue
        start = i - 1 if start is None else start
        if timeline[i][0] - timeline[start][0] > longest:
            longest, worst = timeline[i][0] - timeline[start][0], (start, i)
    end_at, end_q, end_calls = timeline[-1] if timeline else (0.0, 0, 0)
    return {
        "concurrency": concurrency,
        "latency_s": latency_s,
        "seconds": end_at,
        "longest_commit_stall_s": round(longest, 2),
        "slow_transactions": slow_txns,
        "calls_made": end_calls,
        "qualifying_committed": end_q,
        "timeline_s_committed_calls": timeline[:: max(1, len(timeline) // 24)],
        "longest_stall_readings": [
            {"s": timeline[i][0], "committed": timeline[i][1], "calls": timeline[i][2], **said[i]}
            for i in range(max(worst[0] - 1, 0), min(worst[1] + 2, len(timeline)))
        ]
        if longest
        else [],
        "note": "no primer: the service starts on a backlog; were records generated in the "
        "order they were read, the committed count would trail the calls by about one "
        "commit interval and never stand still",
    }


def _service_said(svc: Service, offsets: dict[int, int]) -> dict[str, Any]:
    try:
        got = svc.metrics()
    except OSError:
        got = {}
    return {
        "offsets": [offsets[p] for p in sorted(offsets)],
        "transactions": int(got.get('selftaught_transactions_total{result="committed"}', -1)),
        "in_flight": int(got.get("selftaught_in_flight_records", -1)),
        "paused": int(got.get("selftaught_paused_partitions", -1)),
        "llm_in_flight": int(got.get("selftaught_llm_in_flight", -1)),
    }


def llm_bound(ctx: Ctx, fake: FakeLLM) -> dict[str, Any]:
    floor = call_floor(ctx, fake)
    ctx.log(f"  per-call floor: {floor}")
    seq = {}
    for latency in sorted({lat for _, lat in LLM_POINTS}):
        seq[str(latency)] = sequential(ctx, fake, latency)
        ctx.log(
            f"  sequential @ {latency * 1000:.0f} ms: {seq[str(latency)]['calls_per_s']} calls/s"
        )
    points = []
    for conc, latency in LLM_POINTS:
        p = llm_point(ctx, fake, conc, latency)
        p["sdk_alone"] = sdk_alone(fake, conc, latency)
        p["pct_of_sdk_alone"] = round(
            100 * p["qualifying_per_s"] / max(p["sdk_alone"]["calls_per_s"], 1e-9), 1
        )
        p["x_sequential"] = round(p["qualifying_per_s"] / seq[str(latency)]["calls_per_s"], 1)
        floor_s = floor["ms_per_call_tcp_nodelay"] / 1000
        p["ideal_with_call_floor"] = round(conc / (latency + floor_s), 1)
        p["pct_of_ideal_with_call_floor"] = round(
            100 * p["qualifying_per_s"] / p["ideal_with_call_floor"], 1
        )
        points.append(p)
        ctx.log(
            f"  c={conc:<3} @ {latency * 1000:.0f} ms: {p['qualifying_per_s']} pairs/s "
            f"({p['pct_of_ideal']}% of {p['ideal_qualifying_per_s']}; the SDK alone "
            f"{p['sdk_alone']['calls_per_s']} calls/s = {p['sdk_alone']['pct_of_ideal']}%)"
        )
    judged = judge_points(ctx, fake, points)
    stall = startup_stall(ctx, fake)
    ctx.log(
        f"  start-up: longest commit stall {stall['longest_commit_stall_s']} s; "
        f"{stall['qualifying_committed']} committed of {stall['calls_made']} calls"
    )
    return {
        "points": points,
        "judge_points": judged,
        "sequential": seq,
        "call_floor": floor,
        "startup_stall": stall,
        "target": ">= 90% of concurrency / latency",
        "method": "per point: the service is started, commits one primer record per "
        "partition, then gets a backlog sized so it never runs dry; after a warm-up of "
        "1.5 s + 2 x latency, qualifying events committed over the window (exact, from the "
        "offsets) / its length. Ideal = concurrency / latency. The fake runs as its own "
        "process with TCP_NODELAY (bench/fake_llm.py); the sequential loop is the sync SDK "
        "calling it one at a time, as the seed did.",
    }
