"""``python -m bench [--quick] [--only SECTION ...] [--label L]``

Runs against the local stack (``bench/run.sh`` starts one on the benchmark's own ports if
none answers). The stack is chosen with ``BENCH_BOOTSTRAP`` and ``BENCH_REGISTRY``, else the
ports ``KAFKA_PORT`` / ``REGISTRY_PORT`` as deploy/local/stack.sh reads them, else 39092 and
38081; ``BENCH_BROKERS`` is how many Kafka nodes the local stack has (stack.sh ``--brokers``,
default 1), and when it is set a cluster that answers with another count is refused. Prints a table and
writes the same figures to bench/results/latest.json (and a time-stamped copy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import lift, machine, report, scenarios
from bench.procs import FakeLLM
from testkit.stack import Stack, local_bootstrap

ROOT = Path(__file__).resolve().parents[1]
# bench/run.sh runs from a compiled copy and keeps the results in the checkout.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
SECTIONS = ("throughput", "profile", "llm", "latency", "memory", "scale_out", "eval")


def _brokers() -> int:
    return int(os.environ.get("BENCH_BROKERS") or 1)


def _stack() -> Stack:
    bootstrap = os.environ.get("BENCH_BOOTSTRAP") or local_bootstrap(
        int(os.environ.get("KAFKA_PORT", "39092")), _brokers()
    )
    registry = os.environ.get("BENCH_REGISTRY") or (
        f"http://127.0.0.1:{os.environ.get('REGISTRY_PORT', '38081')}/apis/ccompat/v7"
    )
    return Stack(bootstrap, registry)


def _check_stack(stack: Stack) -> dict[str, Any]:
    """The cluster's description (machine.cluster); raises if the stack does not answer, or
    has another number of brokers than BENCH_BROKERS asks for."""
    import urllib.request

    kafka = machine.cluster(stack.bootstrap)
    if os.environ.get("BENCH_BROKERS") and kafka["brokers"] != _brokers():
        raise RuntimeError(
            f"BENCH_BROKERS={_brokers()}, but the cluster at {stack.bootstrap} has "
            f"{kafka['brokers']} broker(s)"
        )
    with urllib.request.urlopen(stack.registry + "/subjects", timeout=10) as r:
        r.read()
    return kafka


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes: about 4 minutes")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    ap.add_argument("--skip", nargs="+", choices=SECTIONS, default=[], help="skip these")
    ap.add_argument("--label", default="", help="a note stored with the results (e.g. before)")
    return ap.parse_args(argv)


def _usable(stack: Stack) -> dict[str, Any] | None:
    """The cluster's description, or None (and how to start a stack) when it does not answer."""
    try:
        return _check_stack(stack)
    except Exception as exc:
        print(
            f"no usable stack at {stack.bootstrap} / {stack.registry}: {exc}\n"
            "start one with: bash bench/run.sh (BENCH_BROKERS=3 for a three-broker cluster; or "
            "KAFKA_PORT=39092 KAFKA_CONTROLLER_PORT=39093 REGISTRY_PORT=38081 "
            "SELFTAUGHT_STACK_DIR=/tmp/benchstack bash deploy/local/stack.sh up)"
        )
        return None


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    wanted = [s for s in (args.only or SECTIONS) if s not in args.skip]
    if wanted == ["eval"] and lift.reachable() is not None:
        print(f"eval: {lift.reachable()}")  # said before any stack is needed
        return 0
    stack = _stack()
    kafka = _usable(stack)
    if kafka is None:
        return 2

    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS / "logs" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    stack_dir = os.environ.get("SELFTAUGHT_STACK_DIR", "/tmp/benchstack")
    cpu = machine.CpuAccount(own_stack_dir=stack_dir)
    cpu.start()

    def log(msg: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {msg}", flush=True)

    ctx = scenarios.Ctx(
        stack=stack,
        sizes=scenarios.Sizes.for_mode(args.quick),
        log_dir=log_dir,
        out_dir=RESULTS,
        stamp=stamp,
        cpu=cpu,
        log=log,
    )
    res: dict[str, Any] = {
        "started_at": stamp,
        "mode": "quick" if args.quick else "default",
        "label": args.label,
        "stack": {"bootstrap": stack.bootstrap, "registry": stack.registry},
        "machine": {**machine.describe(), "kafka": kafka},
        "sizes": ctx.sizes.__dict__,
        "sections": wanted,
    }

    def run(name: str, fn: Any, *a: Any) -> Any:
        log(f"== {name}")
        try:
            out = fn(*a)
        except Exception as exc:
            log(f"{name} failed: {exc}")
            out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        cpu.snapshot(name)
        return out

    res.update(_sections(ctx, wanted, run))
    cpu.stop()
    res["cpu_accounting"] = cpu.report()
    res["machine"]["loadavg_at_end"] = machine.loadavg()
    res["duration_s"] = round(time.monotonic() - started, 1)
    _save(res, stamp, args.label)
    print()
    print(report.render(res))
    return 0


def _sections(ctx: scenarios.Ctx, wanted: list[str], run: Callable[..., Any]) -> dict[str, Any]:
    """Each wanted section's figures, in the order that lets later ones use earlier ones (the
    memory run paces its stream at the throughput measured)."""
    res: dict[str, Any] = {}
    expected_rate = None
    if "throughput" in wanted:
        res["throughput"] = run("throughput", scenarios.throughput, ctx)
        expected_rate = res["throughput"].get("service_events_per_s")
    if "memory" in wanted or "profile" in wanted:
        res["memory"] = run(
            "memory + profile",
            scenarios.memory_and_profile,
            ctx,
            expected_rate,
            "profile" in wanted,
        )
    if "latency" in wanted:
        res["latency"] = run("latency", scenarios.latency, ctx)
    if "llm" in wanted or "scale_out" in wanted:
        fake = FakeLLM(ctx.log_dir)
        ctx.cpu.mark(fake.proc.pid, "fake anthropic")
        try:
            if "llm" in wanted:
                res["llm"] = run("llm", scenarios.llm_bound, ctx, fake)
            if "scale_out" in wanted:
                res["scale_out"] = run("scale-out", scenarios.scale_out, ctx, fake)
        finally:
            fake.stop()
    if "eval" in wanted:
        res["eval"] = run("eval", lift.lift, ctx)
    return res


def _save(res: dict[str, Any], stamp: str, label: str) -> None:
    """The results as latest.json and a time-stamped copy."""
    latest = RESULTS / "latest.json"
    stamped = RESULTS / f"{stamp}{'-' + label if label else ''}.json"
    res["json_path"] = str(latest)
    text = json.dumps(res, indent=1, default=str)
    latest.write_text(text)
    stamped.write_text(text)
