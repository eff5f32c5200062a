"""3. LLM-bound throughput: qualifying events committed per second against the fake Messages
API at each concurrency and latency; the start-up stall."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from bench.load import (
    delete_topics,
    produce_backlog,
    produce_primer,
)
from bench.procs import Committed, FakeLLM
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx
from bench.scenarios.llm_calls import LLM_POINTS, anthropic_env, call_floor, sdk_alone, sequential
from testkit.service import Service, metric_sum
from testkit.stack import Topics, create_topics


def _wait_committed(
    committed: Committed, services: list[Service], at_least: int = 1, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (committed.total() or 0) >= at_least:
            return
        for s in services:
            if not s.alive():
                raise RuntimeError(f"service exited:\n{s.log_tail()}")
        time.sleep(0.1)
    raise RuntimeError("no commit within the timeout:\n" + services[0].log_tail())


def steady(
    ctx: Ctx,
    t: Topics,
    backlog_n: int,
    services: list[Service],
    fake: FakeLLM,
    warmup_s: float,
    measure_s: float,
    seed: int,
) -> dict[str, Any]:
    """Throughput over a window after a warm-up, with the backlog never running dry.

    The instances are up and have each committed a primer record (so they have the writer
    schema) before the backlog is produced: the start-up stall is measured separately.
    """
    committed = Committed(ctx.stack, t.group, t.input, t.partitions)
    try:
        primed = produce_primer(ctx.stack, t.input, t.partitions)
        _wait_committed(committed, services, primed)
        backlog = produce_backlog(
            ctx.stack,
            t.input,
            t.partitions,
            backlog_n,
            qualifying_share=QUALIFYING,
            seed=seed,
            after_primer=True,
        )
        time.sleep(warmup_s)
        c0, r0 = committed.get(), fake.control()["requests"]
        t0 = time.monotonic()
        cpu0 = [s.cpu_s() or 0.0 for s in services]
        fcpu0 = fake.cpu_s() or 0.0
        # The fake answers after exactly the configured latency, so calls complete, and
        # commits move, in waves: two readings at the window's ends can miss or gain a whole
        # wave. The rates are the least-squares slopes of readings every 100 ms instead.
        samples: list[tuple[float, int, int]] = []
        while time.monotonic() - t0 < measure_s:
            got = committed.get()
            if got is not None:
                samples.append((time.monotonic() - t0, sum(got.values()), backlog.qualifying(got)))
            time.sleep(0.1)
        c1, stats = committed.get(), fake.control()
        t1 = time.monotonic()
        cpu1 = [s.cpu_s() or 0.0 for s in services]
        fcpu1 = fake.cpu_s() or 0.0
    finally:
        committed.close()
    assert c0 is not None and c1 is not None
    dt = t1 - t0
    events = _slope([(t, e) for t, e, _ in samples]) * dt
    qual = _slope([(t, q) for t, _, q in samples]) * dt
    outcomes: dict[str, float] = {}
    for s in services:
        for k, v in s.metrics().items():
            if k.startswith("selftaught_llm_requests_total{"):
                key = k.split('outcome="', 1)[1].split('"', 1)[0]
                outcomes[key] = outcomes.get(key, 0) + v
    return {
        "seconds": round(dt, 2),
        "events_per_s": round(events / dt, 1),
        "qualifying_per_s": round(qual / dt, 1),
        "llm_calls_per_s": round((stats["requests"] - r0) / dt, 1),
        "fake_max_in_flight": stats["max_in_flight"],
        "service_cpu_cores": [round((b - a) / dt, 2) for a, b in zip(cpu0, cpu1, strict=True)],
        "fake_cpu_cores": round((fcpu1 - fcpu0) / dt, 2),
        "backlog_ran_dry": sum(c1.values()) >= backlog.n,
        "llm_outcomes": {k: int(v) for k, v in sorted(outcomes.items()) if v},
    }


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, count) readings: a rate, robust to waves."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mc = statistics.fmean(c for _, c in points)
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (c - mc) for t, c in points) / var if var else 0.0


def llm_point(ctx: Ctx, fake: FakeLLM, concurrency: int, latency_s: float) -> dict[str, Any]:
    ideal = concurrency / latency_s
    warmup = 1.5 + 2 * latency_s
    measure = ctx.sizes.llm_measure_s
    n = math.ceil(ideal / QUALIFYING * (warmup + measure + 6 + latency_s) * 1.3)
    t = Topics.fresh(f"bench-llm{concurrency}", PARTITIONS)
    create_topics(ctx.stack, t)
    fake.reset(latency_s)
    svc = ctx.service(t, f"llm-{concurrency}", anthropic_env(fake, concurrency))
    try:
        svc.wait_ready()
        got = steady(ctx, t, n, [svc], fake, warmup, measure, seed=concurrency)
    finally:
        svc.stop()
        delete_topics(ctx.stack, t)
    return {
        "concurrency": concurrency,
        "latency_s": latency_s,
        "ideal_qualifying_per_s": round(ideal, 1),
        **got,
        "pct_of_ideal": round(100 * got["qualifying_per_s"] / ideal, 1),
    }


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
    stall = startup_stall(ctx, fake)
    ctx.log(
        f"  start-up: longest commit stall {stall['longest_commit_stall_s']} s; "
        f"{stall['qualifying_committed']} committed of {stall['calls_made']} calls"
    )
    return {
        "points": points,
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
