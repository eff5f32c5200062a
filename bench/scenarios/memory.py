"""2 and 5. Where the time goes (py-spy) and peak memory, on one backlog drain."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench import profile
from bench.load import (
    delete_topics,
    produce_backlog,
)
from bench.procs import Committed, watch_drain
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx, rounded
from bench.scenarios.overhead import drain_result
from testkit.service import Service
from testkit.stack import Topics, create_topics


def memory_and_profile(ctx: Ctx, expected_rate: float | None, do_profile: bool) -> dict[str, Any]:
    n = ctx.sizes.memory_n
    t = Topics.fresh("bench-mem", PARTITIONS)
    create_topics(ctx.stack, t)
    ctx.log(f"memory: producing a backlog of {n} score events")
    produce_backlog(ctx.stack, t.input, PARTITIONS, n, qualifying_share=QUALIFYING, seed=9)
    committed = Committed(ctx.stack, t.group, t.input, t.partitions)
    svc = ctx.service(t, "mem-0")
    spy: dict[str, Any] = {}
    rss = _RssSampler(svc)
    est = n / expected_rate if expected_rate else 30.0
    spy_s = max(3.0, min(ctx.sizes.profile_s, 0.6 * est - 1))
    spy_out = ctx.out_dir / f"profile-{ctx.stamp}.speedscope.json"
    # The service runs what this process imports (both start from ROOT): compiled modules
    # are C, visible to py-spy only with --native.
    from consumer import build

    compiled = bool(build.compiled_modules())

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
        rss.start()
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
        rss.stop()
        svc.stop()
        committed.close()
        delete_topics(ctx.stack, t)
    result: dict[str, Any] = {
        "events": n,
        "peak_rss_mib": rounded((hwm or 0) / 1024, 1),
        "rss_at_ready_mib": rounded((rss_ready or 0) / 1024, 1),
        "max_sampled_rss_mib": rounded(max((v for _, v in rss.samples), default=0) / 1024, 1),
        "target": "< 300 MiB",
        "drain": drain_result(drain, cpu, metrics),
        "rss_timeline_mib": rss.timeline_mib(),
        "note": "peak is VmHWM from /proc/<pid>/status read after the drain; the drain rate "
        "here has py-spy attached (non-blocking, or pausing the process for each sample with "
        "--native for the compiled build) and is not the throughput figure",
    }
    if do_profile:
        result["profile"] = _profile(spy.get("proc"), spy_out, ctx.sizes.profile_s + 60)
    return result


class _RssSampler:
    """The service's resident set size every 0.2 s, on a thread of its own."""

    def __init__(self, svc: Service) -> None:
        self._svc = svc
        self.samples: list[tuple[float, int]] = []  # (seconds since start, KiB)
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(0.2):
            v = self._svc.rss_kib()
            if v is not None:
                self.samples.append((round(time.monotonic() - t0, 1), v))

    def timeline_mib(self) -> list[tuple[float, int]]:
        """About 40 samples, in MiB."""
        rss = self.samples
        return [(s, round(v / 1024)) for s, v in rss[:: max(1, len(rss) // 40)]]


def _profile(
    proc: subprocess.Popen[bytes] | None, spy_out: Path, timeout_s: float
) -> dict[str, Any]:
    """py-spy's recording summarised, or why there is none."""
    if proc is None:
        return {"error": "the drain ended before the profiler started"}
    _, err = proc.communicate(timeout=timeout_s)
    if proc.returncode == 0 and spy_out.exists():
        return profile.summarise(spy_out)
    return {"error": err.decode(errors="replace")[-500:]}
