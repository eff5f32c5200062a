"""4. Latency added: from each event's timestamp to its cards at a read_committed reader."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import sched
from bench.load import (
    delete_topics,
    produce_paced,
)
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx
from testkit.service import metric_sum
from testkit.stack import ROOT, Topics, create_topics


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
        sched0 = sched.read(svc.pid)
        t0 = time.monotonic()
        paced = produce_paced(
            ctx.stack, t.input, PARTITIONS, rate, seconds, qualifying_share=QUALIFYING
        )
        produced_s = time.monotonic() - t0
        cpu1 = svc.cpu_s()
        sched1 = sched.read(svc.pid)
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
        # Its loop's thread while the events were produced: a latency measured while it
        # mostly waited for a CPU is the machine's, not the service's.
        "service_cpu_wait": sched.waited(sched0, sched1),
        "target": "p99 < 1000 ms",
        "method": f"event timestamp_ms (= produce time) to receive time of each card by a "
        f"read_committed reader process; the first {warmup_s:g} s are warm-up and not counted",
    }
