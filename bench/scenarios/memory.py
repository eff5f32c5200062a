"""2 and 5. Where the time goes (py-spy) and peak memory, on one backlog drain."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench import profile
from bench.load import (
    delete_topics,
    produce_backlog,
)
from bench.procs import Committed, watch_drain
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx, rounded
from bench.scenarios.overhead import drain_result
from testkit.stack import Topics, create_topics


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
        "peak_rss_mib": rounded((hwm or 0) / 1024, 1),
        "rss_at_ready_mib": rounded((rss_ready or 0) / 1024, 1),
        "max_sampled_rss_mib": rounded(max((v for _, v in rss), default=0) / 1024, 1),
        "target": "< 300 MiB",
        "drain": drain_result(drain, cpu, metrics),
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
