"""Interleaved A/B of the service draining one backlog, for two copies of the code.

    python -m bench.ab TREE_A TREE_B [--events 200000] [--rounds 3]

Each TREE is a directory holding a ``consumer/`` package and ``schemas/`` (e.g. a copy of the
checkout with one change). The service from each tree drains the same backlog with its own
group, alternating A, B, B, A, ... so machine load falls on both alike; prints and writes
(bench/results/ab-<time>.json) the median events/s and CPU microseconds per event of each.
Uses the benchmark stack (see bench/cli.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs
from bench.cli import RESULTS, _stack
from bench.load import delete_topics, produce_backlog
from testkit.service import Service
from testkit.stack import Stack, Topics, create_topics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab")
    ap.add_argument("trees", nargs=2, type=Path)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    stack = _stack()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = RESULTS / "logs" / f"ab-{stamp}"
    t = Topics.fresh("bench-ab", 6)
    create_topics(stack, t)
    runs: dict[str, list[dict[str, float]]] = {str(tree): [] for tree in args.trees}
    try:
        produce_backlog(stack, t.input, 6, args.events)
        for rnd in range(args.rounds):
            for tree in args.trees if rnd % 2 == 0 else args.trees[::-1]:
                group = Topics(t.input, t.output, t.dlq, f"{t.group}-{rnd}-{tree.name}", 6)
                runs[str(tree)].append(_drain(stack, group, tree, log_dir, args.events))
                print(tree, runs[str(tree)][-1], flush=True)
    finally:
        delete_topics(stack, t)
    summary = _summary(runs, args.trees)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ab-{stamp}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


def _drain(stack: Stack, group: Topics, tree: Path, log_dir: Path, events: int) -> dict[str, float]:
    """The service from ``tree`` drains the backlog with a group of its own: its rate and CPU."""
    committed = procs.Committed(stack, group.group, group.input, 6)
    svc = Service(
        stack,
        group,
        log_dir,
        f"ab-{tree.name}",
        {"SELFTAUGHT_DRAIN_TIMEOUT_S": "3"},
        cwd=tree.resolve(),  # the service runs from this tree
        log_prefix=f"{group.group}-",
    ).start()
    try:
        svc.wait_ready()
        cpu0 = svc.cpu_s() or 0.0
        drain = procs.watch_drain(committed, events, time.monotonic(), 600, [svc.alive])
        cpu = (svc.cpu_s() or 0.0) - cpu0
    finally:
        svc.stop()
        committed.close()
    return {
        "events_per_s": round(drain.events_per_s),
        "cpu_us_per_event": round(1e6 * cpu / events, 1),
    }


def _summary(runs: dict[str, list[dict[str, float]]], trees: list[Path]) -> dict[str, Any]:
    """Each tree's medians and runs, and B's rate over A's."""
    summary: dict[str, Any] = {
        tree: {
            "median_events_per_s": statistics.median(r["events_per_s"] for r in rs),
            "median_cpu_us_per_event": statistics.median(r["cpu_us_per_event"] for r in rs),
            "runs": rs,
        }
        for tree, rs in runs.items()
    }
    a, b = (summary[str(tree)] for tree in trees)
    summary["b_over_a_events_per_s"] = round(b["median_events_per_s"] / a["median_events_per_s"], 3)
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
