"""The six measurements. Each returns a plain dict that goes into the JSON as it is."""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profile
from bench.load import (
    TRACE_SCHEMA_TEXT,
    delete_topics,
    encode,
    produce_backlog,
    produce_paced,
    produce_primer,
    score_record,
)
from bench.machine import CpuAccount
from bench.procs import ROOT, Committed, FakeLLM, Service, metric_sum, watch_drain
from tests.integration.harness import Stack, Topics, create_topics

QUALIFYING = 0.8
PARTITIONS = 6


@dataclass(frozen=True)
class Sizes:
    throughput_n: int
    throughput_rounds: int
    memory_n: int
    profile_s: float
    llm_measure_s: float
    seq_s: float
    latency_s: float
    scale_measure_s: float
    stall_limit_s: float

    @staticmethod
    def for_mode(quick: bool) -> Sizes:
        if quick:
            return Sizes(20_000, 1, 200_000, 8, 6, 4, 15, 6, 30)
        return Sizes(200_000, 2, 1_000_000, 20, 12, 10, 30, 12, 45)


@dataclass
class Ctx:
    stack: Stack
    sizes: Sizes
    log_dir: Path
    out_dir: Path
    stamp: str
    cpu: CpuAccount
    log: Any  # print-like progress callback

    def service(self, t: Topics, instance: str, env: dict[str, str] | None = None) -> Service:
        svc = Service(self.stack, t, self.log_dir, instance, env)
        svc.start()
        self.cpu.mark(svc.pid, f"service {instance}")
        return svc


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def pipeline_in_process(n: int = 20_000) -> dict[str, Any]:
    """``Pipeline.start`` alone, in this process, on this benchmark's events: the pure cost
    of decode, qualify, generate, validate, cards and encode per event, without Kafka (and
    the mean size of the cards, for the bare loop)."""
    from consumer.cards import CardPolicy
    from consumer.codec import CardEncoder, EventDecoder
    from consumer.events import SourceRef
    from consumer.generate.rules import RulesGenerator
    from consumer.pipeline import Pipeline, Produced
    from consumer.qualify import Criteria, Scale

    class _Source:
        def schema_text(self, schema_id: int) -> str:
            return TRACE_SCHEMA_TEXT

        def register(self, subject: str, schema_text: str, compatibility: str | None = None) -> int:
            return 1

    decoder = EventDecoder(_Source())
    decoder.load(1)
    pipe = Pipeline(
        decoder,
        Criteria(Scale(0, 10), 0.5, 1.0, 1_000_000),
        RulesGenerator(Scale(0, 10), 1.0),
        CardEncoder(1),
        CardPolicy(0.7, 16000),
        1.0,
    )
    rng = random.Random(3)
    now = int(time.time() * 1000)
    refs = [
        SourceRef(
            "t",
            0,
            i,
            b"k",
            encode(score_record(i, rng.random() < QUALIFYING, rng, now, "m"), 1),
            (),
            0,
        )
        for i in range(n)
    ]
    sizes = []
    for ref in refs[:1000]:
        out = pipe.start(ref)
        if isinstance(out, Produced):
            sizes.extend(len(c) for c in out.cards)
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for ref in refs:
            pipe.start(ref)
        best = min(best, time.perf_counter() - started)
    return {"us_per_event": round(1e6 * best / n, 1), "card_bytes": round(statistics.mean(sizes))}


# -- 1. pipeline overhead ---------------------------------------------------------------------


def throughput(ctx: Ctx) -> dict[str, Any]:
    n = ctx.sizes.throughput_n
    t = Topics.fresh("bench-thr", PARTITIONS)
    create_topics(ctx.stack, t)
    ctx.log(f"throughput: producing a backlog of {n} score events to {t.input}")
    backlog = produce_backlog(ctx.stack, t.input, PARTITIONS, n, qualifying_share=QUALIFYING)
    micro = pipeline_in_process()
    card_bytes = micro["card_bytes"]
    service_runs, bare_runs, two_runs = [], [], []
    try:
        for rnd in range(ctx.sizes.throughput_rounds):
            # alternate which goes first, so neither always gets the warmer page cache
            order = ("bare", "service") if rnd % 2 == 0 else ("service", "bare")
            for kind in order:
                if kind == "service":
                    service_runs.append(_drain_service(ctx, t, backlog.n, f"thr-{rnd}"))
                    ctx.log(f"  service round {rnd}: {service_runs[-1]['events_per_s']:.0f} ev/s")
                else:
                    bare_runs.append(_drain_bare(ctx, t, backlog.n, card_bytes, rnd))
                    ctx.log(f"  bare    round {rnd}: {bare_runs[-1]['events_per_s']:.0f} ev/s")
            two_runs.append(_drain_two_services(ctx, n, rnd))
            ctx.log(
                f"  two instances round {rnd}: "
                f"{two_runs[-1]['steady_10_90_events_per_s'] or 0:.0f} ev/s (10-90%)"
            )
    finally:
        delete_topics(ctx.stack, t)
    svc = statistics.median(r["events_per_s"] for r in service_runs)
    bare = statistics.median(r["events_per_s"] for r in bare_runs)
    two = statistics.median(r["steady_10_90_events_per_s"] or 0 for r in two_runs)
    one = statistics.median(r["steady_10_90_events_per_s"] or 0 for r in service_runs)
    return {
        "events": n,
        "qualifying": backlog.n_qualifying,
        "partitions": PARTITIONS,
        "card_bytes": card_bytes,
        "pipeline_in_process_us_per_event": micro["us_per_event"],
        "service_events_per_s": round(svc),
        "bare_events_per_s": round(bare),
        "ratio": round(svc / bare, 3),
        "target": ">= 0.50",
        "service_runs": service_runs,
        "bare_runs": bare_runs,
        "method": "each drains the same backlog with its own group; rate = records / time from "
        "the consumer's assignment (service: /readyz ready; bare: on_assign) to every offset "
        "committed (offsets polled every 20 ms); median of the rounds",
        # For sizing: what a second process adds. Rates between 10% and 90% of the backlog
        # committed, for both: the two instances' backlog is produced while they read it.
        "two_instances": {
            "runs": two_runs,
            "steady_10_90_events_per_s": round(two),
            "one_instance_steady_10_90_events_per_s": round(one),
            "vs_one_instance": round(two / one, 2) if one else None,
            "ratio_to_bare": round(two / bare, 3),
        },
    }


def _drain_service(ctx: Ctx, t: Topics, n: int, instance: str) -> dict[str, Any]:
    group_t = Topics(t.input, t.output, t.dlq, f"{t.group}-{instance}", t.partitions)
    committed = Committed(ctx.stack, group_t.group, t.input, t.partitions)
    svc = ctx.service(group_t, instance)
    cpu: dict[str, float | None] = {}
    try:
        svc.wait_ready()
        cpu["first"] = svc.cpu_s()
        drain = watch_drain(committed, n, time.monotonic(), 600, [svc.alive])
        cpu["done"] = svc.cpu_s()
        metrics = svc.metrics()
    finally:
        svc.stop()
        committed.close()
    return _drain_result(drain, cpu, metrics)


def _drain_two_services(ctx: Ctx, n: int, rnd: int) -> dict[str, Any]:
    """Two instances in one group, both holding their partitions before any record exists,
    then a backlog of ``n`` produced at once (faster than they read it); the rate between
    10% and 90% of it committed. (On a backlog that is already there, the first instance
    drains half of it alone while the second joins.)"""
    t = Topics.fresh(f"bench-thr2-{rnd}", PARTITIONS)
    create_topics(ctx.stack, t)
    committed = Committed(ctx.stack, t.group, t.input, t.partitions)
    svcs = [ctx.service(t, f"two-{rnd}-{i}") for i in range(2)]
    try:
        for svc in svcs:
            svc.wait_ready()
        deadline = time.monotonic() + 60
        held: list[float] = []
        while time.monotonic() < deadline:
            held = [metric_sum(svc.metrics(), "selftaught_assigned_partitions") for svc in svcs]
            if min(held) > 0 and sum(held) == t.partitions:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the two instances did not share the partitions: {held}")
        started = time.monotonic()
        produce_backlog(ctx.stack, t.input, PARTITIONS, n, qualifying_share=QUALIFYING)
        produced_s = time.monotonic() - started
        first = [svc.cpu_s() for svc in svcs]
        drain = watch_drain(committed, n, started, 600, [svc.alive for svc in svcs])
        done = [svc.cpu_s() for svc in svcs]
    finally:
        for svc in svcs:
            svc.stop()
        committed.close()
        delete_topics(ctx.stack, t)
    spent = [d - f for d, f in zip(done, first, strict=True) if d is not None and f is not None]
    cpu_s = sum(spent) if len(spent) == len(svcs) else None
    after = drain.done_at - started - produced_s
    return {
        "steady_10_90_events_per_s": _r(drain.window_rate(), 0),
        "produced_in_s": round(produced_s, 2),
        "seconds": round(drain.seconds, 2),
        "cpu_cores_after_producing": _r(cpu_s / after, 2)
        if cpu_s is not None and after > 0
        else None,
    }


def _drain_result(
    drain: Any, cpu: dict[str, float | None], metrics: dict[str, float]
) -> dict[str, Any]:
    cpu_s = (
        cpu["done"] - cpu["first"]
        if cpu.get("done") is not None and cpu.get("first") is not None
        else None
    )
    txn = metric_sum(metrics, "selftaught_transaction_duration_seconds_count")
    txn_sum = metric_sum(metrics, "selftaught_transaction_duration_seconds_sum")
    return {
        "events_per_s": round(drain.events_per_s),
        "after_first_commit_events_per_s": _r(drain.after_first_commit_per_s, 0),
        "steady_10_90_events_per_s": _r(drain.window_rate(), 0),
        "seconds": round(drain.seconds, 2),
        "cpu_cores": _r(cpu_s / drain.seconds, 2) if cpu_s is not None and drain.seconds else None,
        "cpu_us_per_event": _r(1e6 * cpu_s / drain.n, 1) if cpu_s is not None else None,
        "transactions": int(txn),
        "mean_transaction_ms": _r(1000 * txn_sum / txn, 1) if txn else None,
    }


def _drain_bare(ctx: Ctx, t: Topics, n: int, card_bytes: int, rnd: int) -> dict[str, Any]:
    group = f"{t.group}-bare-{rnd}"
    committed = Committed(ctx.stack, group, t.input, t.partitions)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.bare",
            "--bootstrap",
            ctx.stack.bootstrap,
            "--topic",
            t.input,
            "--out-topic",
            t.output,
            "--group",
            group,
            "--records",
            str(n),
            "--card-bytes",
            str(card_bytes),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(ctx.log_dir / f"{group}.log", "ab"),  # noqa: SIM115
    )
    ctx.cpu.mark(proc.pid, "bare loop")
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if line.strip() != b"assigned":
            raise RuntimeError(f"the bare loop did not start: {line!r}")
        drain = watch_drain(committed, n, time.monotonic(), 600, [lambda: proc.poll() in (None, 0)])
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        committed.close()
    own = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "events_per_s": round(drain.events_per_s),
        "after_first_commit_events_per_s": _r(drain.after_first_commit_per_s, 0),
        "steady_10_90_events_per_s": _r(drain.window_rate(), 0),
        "seconds": round(drain.seconds, 2),
        "cpu_cores": _r(own["cpu_s_draining"] / drain.seconds, 2) if drain.seconds else None,
        "cpu_us_per_event": _r(1e6 * own["cpu_s_draining"] / n, 1),
        "transactions": own["transactions"],
        "mean_transaction_ms": _r(own["mean_commit_ms"], 1),
    }


# -- 2 and 5. profile and memory, on one backlog drain ----------------------------------------


def memory_and_profile(ctx: Ctx, expected_rate: float | None, do_profile: bool) -> dict[str, Any]:
    n = ctx.sizes.memory_n
    t = Topics.fresh("bench-mem", PARTITIONS)
    create_topics(ctx.stack, t)
    ctx.log(f"memory: producing a backlog of {n} score events")
    produce_backlog(ctx.stack, t.input, PARTITIONS, n, qualifying_share=QUALIFYING, seed=9)
    committed = Committed(ctx.stack, t.group, t.input, t.partitions)
    svc = ctx.service(t, "mem-0")
    rss: list[tuple[float, int]] = []
    stop = threading.Event()
    spy: dict[str, Any] = {}
    est = n / expected_rate if expected_rate else 30.0
    spy_s = max(3.0, min(ctx.sizes.profile_s, 0.6 * est - 1))
    spy_out = ctx.out_dir / f"profile-{ctx.stamp}.speedscope.json"
    # The service runs what this process imports (both start from ROOT): compiled modules
    # are C, visible to py-spy only with --native.
    from consumer import build

    compiled = bool(build.compiled_modules())

    def sample_rss() -> None:
        t0 = time.monotonic()
        while not stop.wait(0.2):
            v = svc.rss_kib()
            if v is not None:
                rss.append((round(time.monotonic() - t0, 1), v))

    cpu: dict[str, float | None] = {}

    def on_sample(now: float, total: int) -> None:
        if total > 0 and "first" not in cpu:
            cpu["first"] = svc.cpu_s()
            cpu["first_at"] = now
        if (
            do_profile
            and "proc" not in spy
            and "first_at" in cpu
            and now - (cpu["first_at"] or now) >= 1.0
        ):
            spy["proc"] = profile.record(svc.pid, spy_s, spy_out, native=compiled)
            ctx.cpu.mark(spy["proc"].pid, "py-spy")
            spy["started_at_events"] = total

    try:
        svc.wait_ready()
        rss_ready = svc.rss_kib()
        threading.Thread(target=sample_rss, daemon=True).start()
        ctx.log(
            f"memory: draining {n} events" + (f", py-spy for {spy_s:.0f}s" if do_profile else "")
        )
        drain = watch_drain(
            committed, n, time.monotonic(), 1200, [svc.alive], every=0.2, on_sample=on_sample
        )
        cpu["done"] = svc.cpu_s()
        hwm = svc.hwm_kib()
        metrics = svc.metrics()
    finally:
        stop.set()
        svc.stop()
        committed.close()
        delete_topics(ctx.stack, t)
    result: dict[str, Any] = {
        "events": n,
        "peak_rss_mib": _r((hwm or 0) / 1024, 1),
        "rss_at_ready_mib": _r((rss_ready or 0) / 1024, 1),
        "max_sampled_rss_mib": _r(max((v for _, v in rss), default=0) / 1024, 1),
        "target": "< 300 MiB",
        "drain": _drain_result(drain, cpu, metrics),
        "rss_timeline_mib": [(s, round(v / 1024)) for s, v in rss[:: max(1, len(rss) // 40)]],
        "note": "peak is VmHWM from /proc/<pid>/status read after the drain; the drain rate "
        "here has py-spy attached (non-blocking, or pausing the process for each sample with "
        "--native for the compiled build) and is not the throughput figure",
    }
    if do_profile:
        proc = spy.get("proc")
        if proc is None:
            result["profile"] = {"error": "the drain ended before the profiler started"}
        else:
            _, err = proc.communicate(timeout=ctx.sizes.profile_s + 60)
            if proc.returncode == 0 and spy_out.exists():
                result["profile"] = profile.summarise(spy_out)
            else:
                result["profile"] = {"error": err.decode(errors="replace")[-500:]}
    return result


# -- 3. LLM-bound throughput ------------------------------------------------------------------


LLM_POINTS = ((16, 0.25), (64, 0.25), (256, 0.25), (16, 1.0), (64, 1.0), (256, 1.0), (64, 0.5))


def _anthropic_env(fake: FakeLLM, concurrency: int) -> dict[str, str]:
    return {
        "SELFTAUGHT_LLM_BACKEND": "anthropic",
        "ANTHROPIC_API_KEY": "x",
        "ANTHROPIC_BASE_URL": fake.base_url,
        "SELFTAUGHT_LLM_MAX_CONCURRENCY": str(concurrency),
        "SELFTAUGHT_DRAIN_TIMEOUT_S": "1",
    }


def _sample_request() -> tuple[Any, str]:
    """The system blocks and user message the service would send for one sample event."""
    from consumer.events import MistakeType, ScoreData, ScoreEvent
    from consumer.generate.anthropic_prompt import TextLimits, system_prompt, user_prompt
    from consumer.qualify import Scale

    scale = Scale(0, 10)
    event = ScoreEvent(
        "sample-1",
        "trace-sample",
        "Make the failing billing test pass without touching its assertions",
        1,
        int(time.time() * 1000),
        "agent-bench",
        ScoreData("3 tests failing", "edit_file", "1 test failing", 3.0, 6.0, "Two fixed."),
    )
    system = [
        {"type": "text", "text": system_prompt(scale, 1.0), "cache_control": {"type": "ephemeral"}}
    ]
    return system, user_prompt(event, MistakeType.SYCOPHANCY, scale, 1.0, TextLimits())


def sequential(
    ctx: Ctx, fake: FakeLLM, latency_s: float, seconds: float | None = None
) -> dict[str, Any]:
    """One call at a time, as the seed did: the same SDK and request, against the fake."""
    import anthropic

    fake.reset(latency_s)
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="x", max_retries=0)
    system, user = _sample_request()
    calls = 0
    for _ in range(3):  # connection set-up and first-call costs are not the loop's
        _seq_call(client, system, user)
    started = time.monotonic()
    while time.monotonic() - started < (seconds or ctx.sizes.seq_s) or calls < 3:
        _seq_call(client, system, user)
        calls += 1
    elapsed = time.monotonic() - started
    client.close()
    return {
        "latency_s": latency_s,
        "calls": calls,
        "ideal_calls_per_s": round(1 / latency_s, 3) if latency_s else None,
        "seconds": round(elapsed, 2),
        "calls_per_s": round(calls / elapsed, 3),
    }


def sdk_alone(
    fake: FakeLLM, concurrency: int, latency_s: float, seconds: float = 4.0
) -> dict[str, Any]:
    """The SDK by itself (the service's client, aiohttp transport, the answer read as the
    service reads it) keeping ``concurrency`` calls in flight against the fake, in this
    process: no Kafka, no pipeline. What one Python process's event loop gets through the
    SDK at this point is the ceiling the service's figure is read against."""
    import asyncio

    from consumer.generate.anthropic import sdk_client
    from consumer.generate.anthropic_transport import read_answer

    fake.reset(latency_s)
    request = _request(*_sample_request())

    async def run() -> tuple[list[float], float]:
        client = sdk_client(60.0, base_url=fake.base_url, api_key="x")
        durations: list[float] = []
        counting = False
        stop_at = time.monotonic() + 1.0 + latency_s + seconds

        async def worker() -> None:
            while time.monotonic() < stop_at:
                counted, started = counting, time.monotonic()
                raw = await client.messages.with_raw_response.create(**request)
                read_answer(await raw.json())
                if counted:
                    durations.append(time.monotonic() - started)

        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        await asyncio.sleep(1.0 + latency_s)  # warm-up: connections, first calls
        counting, cpu0 = True, time.process_time()
        await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu0
        await client.close()
        return durations, cpu

    durations, cpu = asyncio.run(run())
    # Every worker always has a call in flight, so by Little's law the rate is concurrency
    # over the mean call time: exact in a steady state, where counting calls in a window
    # would be off by up to a whole wave of the fake's fixed-latency answers.
    mean_s = statistics.fmean(durations) if durations else math.inf
    rate = concurrency / mean_s
    return {
        "calls_per_s": round(rate, 1),
        "pct_of_ideal": round(100 * rate / (concurrency / latency_s), 1),
        "mean_call_ms": round(1000 * mean_s, 1),
        "cpu_ms_per_call": round(1000 * cpu / max(len(durations), 1), 2),
    }


def _request(system: Any, user: str) -> dict[str, Any]:
    """The Messages API arguments of one call, as the service makes it."""
    from consumer.generate.anthropic_prompt import ANSWER_SCHEMA

    return {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1024,
        "system": system,
        "messages": [{"role": "user", "content": user}],
        "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    }


def _seq_call(client: Any, system: Any, user: str) -> None:
    client.messages.create(**_request(system, user))


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


def _steady(
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
    svc = ctx.service(t, f"llm-{concurrency}", _anthropic_env(fake, concurrency))
    try:
        svc.wait_ready()
        got = _steady(ctx, t, n, [svc], fake, warmup, measure, seed=concurrency)
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


def call_floor(ctx: Ctx, fake: FakeLLM) -> dict[str, Any]:
    """What one call costs the SDK and the fake at zero latency: the part of 'ideal' no
    service can reach. Also with Nagle's algorithm on (the fake before 9e1e4ba), for the
    record."""
    nodelay = sequential(ctx, fake, 0.0, seconds=2.0)
    shipped = FakeLLM(ctx.log_dir, nagle=True)
    ctx.cpu.mark(shipped.proc.pid, "fake anthropic (nagle)")
    try:
        nagle = sequential(ctx, shipped, 0.0, seconds=2.0)
    finally:
        shipped.stop()
    return {
        "ms_per_call_tcp_nodelay": round(1000 * nodelay["seconds"] / nodelay["calls"], 2),
        "ms_per_call_with_nagle": round(1000 * nagle["seconds"] / nagle["calls"], 2),
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
    svc = ctx.service(t, "stall-0", _anthropic_env(fake, concurrency))
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


# -- 4. latency added -------------------------------------------------------------------------


def latency(ctx: Ctx, rate: float = 1000.0, warmup_s: float = 2.0) -> dict[str, Any]:
    seconds = ctx.sizes.latency_s
    t = Topics.fresh("bench-lat", PARTITIONS)
    create_topics(ctx.stack, t)
    svc = ctx.service(t, "lat-0")
    out_file = ctx.log_dir / f"{t.group}-reader.json"
    reader = None
    try:
        svc.wait_ready()
        deadline = time.monotonic() + 30
        while metric_sum(svc.metrics(), "selftaught_assigned_partitions") < PARTITIONS:
            if time.monotonic() > deadline:
                raise RuntimeError("the service was not assigned the partitions")
            time.sleep(0.1)
        reader = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.reader",
                "--bootstrap",
                ctx.stack.bootstrap,
                "--topic",
                t.output,
                "--partitions",
                str(PARTITIONS),
                "--idle-s",
                "5",
                "--out",
                str(out_file),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        ctx.cpu.mark(reader.pid, "latency reader")
        assert reader.stdout is not None
        reader.stdout.readline()  # "ready"
        ctx.log(f"latency: {rate:.0f} events/s for {seconds:.0f}s")
        cpu0 = svc.cpu_s()
        t0 = time.monotonic()
        paced = produce_paced(
            ctx.stack, t.input, PARTITIONS, rate, seconds, qualifying_share=QUALIFYING
        )
        produced_s = time.monotonic() - t0
        cpu1 = svc.cpu_s()
        reader.wait(60)
    finally:
        if reader is not None and reader.poll() is None:
            reader.terminate()
            reader.wait(10)
        svc.stop()
        delete_topics(ctx.stack, t)
    got = json.loads(out_file.read_text())
    first_ts = min(paced.sent_ms.values())
    lat_ms, per_key = [], {}
    for key, recv in zip(got["keys"], got["recv_ms"], strict=True):
        sent = paced.sent_ms.get(key)
        if sent is None:
            continue
        per_key[key] = per_key.get(key, 0) + 1
        if sent >= first_ts + warmup_s * 1000:
            lat_ms.append(recv - sent)
    lat_ms.sort()
    expected = 2 * sum(
        1
        for k, ts in paced.sent_ms.items()
        if k.startswith("q") and ts >= first_ts + warmup_s * 1000
    )

    def pct(p: float) -> float | None:
        if not lat_ms:
            return None
        return float(lat_ms[min(len(lat_ms) - 1, math.ceil(p / 100 * len(lat_ms)) - 1)])

    return {
        "rate_events_per_s": rate,
        "achieved_rate": round(paced.total / produced_s, 1),
        "producer_worst_lag_ms": round(paced.late_s * 1000, 1),
        "seconds": seconds,
        "events": paced.total,
        "qualifying": paced.qualifying,
        "cards_measured": len(lat_ms),
        "cards_expected": expected,
        "duplicates": sum(1 for v in per_key.values() if v > 2),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": float(lat_ms[-1]) if lat_ms else None,
        "mean_ms": round(statistics.mean(lat_ms), 1) if lat_ms else None,
        "service_cpu_cores": round(((cpu1 or 0) - (cpu0 or 0)) / produced_s, 2),
        "target": "p99 < 1000 ms",
        "method": f"event timestamp_ms (= produce time) to receive time of each card by a "
        f"read_committed reader process; the first {warmup_s:g} s are warm-up and not counted",
    }


# -- 6. scale-out -----------------------------------------------------------------------------


def scale_out(
    ctx: Ctx, fake: FakeLLM, latency_s: float = 0.5, concurrency: int = 64
) -> dict[str, Any]:
    rows = []
    measure = ctx.sizes.scale_measure_s
    warmup = 3.0
    for n_inst in (1, 2, 3):
        ideal = n_inst * concurrency / latency_s
        n = math.ceil(ideal / QUALIFYING * (warmup + measure + 15) * 1.3)
        t = Topics.fresh(f"bench-scale{n_inst}", PARTITIONS)
        create_topics(ctx.stack, t)
        fake.reset(latency_s)
        services = [
            ctx.service(t, f"scale{n_inst}-{i}", _anthropic_env(fake, concurrency))
            for i in range(n_inst)
        ]
        try:
            for s in services:
                s.wait_ready()
            deadline = time.monotonic() + 60
            while True:
                assigned = [
                    metric_sum(s.metrics(), "selftaught_assigned_partitions") for s in services
                ]
                if sum(assigned) == PARTITIONS and all(a > 0 for a in assigned):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"partitions not spread over the instances: {assigned}")
                time.sleep(0.2)
            got = _steady(ctx, t, n, services, fake, warmup, measure, seed=n_inst)
            got["assigned"] = [
                int(metric_sum(s.metrics(), "selftaught_assigned_partitions")) for s in services
            ]
            got["rebalances"] = [
                int(metric_sum(s.metrics(), "selftaught_rebalances_total")) for s in services
            ]
        finally:
            for s in services:
                if s.proc is not None and s.proc.poll() is None:
                    s.proc.terminate()
            for s in services:
                s.stop()
            delete_topics(ctx.stack, t)
        row = {
            "instances": n_inst,
            "ideal_qualifying_per_s": ideal,
            **got,
            "pct_of_ideal": round(100 * got["qualifying_per_s"] / ideal, 1),
        }
        rows.append(row)
        ctx.log(
            f"  {n_inst} instance(s): {row['qualifying_per_s']} pairs/s ({row['pct_of_ideal']}% of ideal)"
        )
    base = rows[0]["qualifying_per_s"] or 1
    for row in rows:
        row["efficiency_per_instance"] = round(
            row["qualifying_per_s"] / (row["instances"] * base), 3
        )
    return {
        "latency_s": latency_s,
        "concurrency_per_instance": concurrency,
        "partitions": PARTITIONS,
        "rows": rows,
        "method": "n instances share one group on a six-partition topic; measured once every "
        "instance holds partitions, after a 3 s warm-up; efficiency = rate(n) / (n x rate(1))",
    }
