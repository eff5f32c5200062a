"""The measuring window of an LLM-bound point (one or more instances against the fake):
qualifying events committed per second after a warm-up, with the backlog never running dry,
and what the calls cost per pair."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.load import produce_backlog, produce_primer
from bench.procs import Committed, FakeLLM
from bench.scenarios.context import QUALIFYING, Ctx
from bench.scenarios.llm_usage import per_pair, reading, slope
from testkit.service import Service
from testkit.stack import Topics


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
    usage: bool = False,
) -> dict[str, Any]:
    """Throughput over a window after a warm-up, with the backlog never running dry.

    The instances are up and have each committed a primer record (so they have the writer
    schema) before the backlog is produced: the start-up stall is measured separately.
    ``usage``: also read the services' metrics and the fake's counts every half second,
    for the calls, tokens and dollars per pair (``llm_usage.per_pair``).
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
        spent: list[tuple[float, dict[str, float]]] = []
        turn = 0
        while time.monotonic() - t0 < measure_s:
            got = committed.get()
            if got is not None:
                samples.append((time.monotonic() - t0, sum(got.values()), backlog.qualifying(got)))
            if usage and turn % 5 == 0:
                spent.append((time.monotonic() - t0, _usage_reading(services, fake)))
            turn += 1
            time.sleep(0.1)
        c1, stats = committed.get(), fake.control()
        t1 = time.monotonic()
        cpu1 = [s.cpu_s() or 0.0 for s in services]
        fcpu1 = fake.cpu_s() or 0.0
    finally:
        committed.close()
    assert c0 is not None and c1 is not None
    dt = t1 - t0
    events = slope([(t, e) for t, e, _ in samples]) * dt
    qual = slope([(t, q) for t, _, q in samples]) * dt
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
        **({"per_pair": per_pair(spent)} if usage else {}),
    }


def _usage_reading(services: list[Service], fake: FakeLLM) -> dict[str, float]:
    merged: Counter[str] = Counter()
    for s in services:
        merged.update(s.metrics())
    return reading(merged, fake.control())
