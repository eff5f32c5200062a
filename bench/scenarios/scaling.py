"""6. Scale-out: one, two and three instances on six partitions, against the fake LLM."""

from __future__ import annotations

import math
import time
from typing import Any

from bench.load import (
    delete_topics,
)
from bench.procs import FakeLLM
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx
from bench.scenarios.llm_calls import anthropic_env
from bench.scenarios.steady import steady
from testkit.service import metric_sum
from testkit.stack import Topics, create_topics


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
            ctx.service(t, f"scale{n_inst}-{i}", anthropic_env(fake, concurrency))
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
            got = steady(ctx, t, n, services, fake, warmup, measure, seed=n_inst)
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
