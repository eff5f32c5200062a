"""``python -m bench --only eval``: the lift a critic gets from the cards, where a model is.

A realistic stream (the harness's mixed events) goes through the service to a cards topic;
then ``selftaught eval`` judges the held-out pairs in both retrieval modes against whatever
Messages API model the environment reaches (``ANTHROPIC_API_KEY``, or ``ANTHROPIC_BASE_URL``
for a local server that speaks the API). With neither, the section says so and records no
figure: a number from a scripted critic would measure the script, not a critic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from testkit.offsets import wait_until_committed
from testkit.produce import produce_mixed
from testkit.stack import ROOT, Topics, create_topics

#: Events in the stream (about half qualify), and the spend limit per retrieval mode.
EVENTS = 600
MAX_USD = float(os.environ.get("BENCH_EVAL_MAX_USD", "2.0"))


def reachable() -> str | None:
    """Why no model can be reached, or ``None`` when one may be."""
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
        return None
    return (
        "no Messages API model is reachable (neither ANTHROPIC_API_KEY nor ANTHROPIC_BASE_URL "
        "is set): no lift measured"
    )


def lift(ctx: Any) -> dict[str, Any]:
    why = reachable()
    if why is not None:
        ctx.log(f"eval: {why}")
        return {"skipped": why}
    t = Topics.fresh("bench-eval", 3)
    create_topics(ctx.stack, t)
    produce_mixed(ctx.stack, t, EVENTS)
    svc = ctx.service(t, "eval-0")
    try:
        wait_until_committed(ctx.stack, t, 600, [svc])
    finally:
        svc.stop()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SELFTAUGHT_")},
        "SELFTAUGHT_BOOTSTRAP_SERVERS": ctx.stack.bootstrap,
        "SELFTAUGHT_SCHEMA_REGISTRY_URL": ctx.stack.registry,
        "SELFTAUGHT_OUTPUT_TOPIC": t.output,
    }
    out: dict[str, Any] = {"events": EVENTS, "max_usd_per_mode": MAX_USD}
    for mode in ("memoryci", "similar"):
        done = subprocess.run(
            [sys.executable, "-m", "consumer", "eval", "--json", "--retrieval", mode,
             "--max-usd", str(MAX_USD)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        if done.returncode != 0:
            out[mode] = {"error": done.stderr[-2000:]}
            continue
        r = json.loads(done.stdout)
        o = r["overall"]
        out[mode] = {
            "model": r["setup"]["model"],
            "test_pairs": r["setup"]["test_pairs"],
            "judged": o["n"],
            "accuracy_without": o["accuracy_without"],
            "accuracy_with": o["accuracy_with"],
            "lift": o["lift"],
            "lift_95": [o["lift_low"], o["lift_high"]],
            "mcnemar_p": o["mcnemar_p"],
            "cost_usd": r["cost_usd"],
            "stopped": r["stopped"],
        }
        ctx.log(f"eval {mode}: lift {o['lift']} [{o['lift_low']}, {o['lift_high']}]")
    return out
