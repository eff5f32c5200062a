"""1. Pipeline overhead: the service and a bare consume-transform-produce loop drain the same
backlog; also two instances in one group."""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.load import (
    TRACE_SCHEMA_TEXT,
    delete_topics,
    encode,
    produce_backlog,
    score_record,
)
from bench.procs import Committed, watch_drain
from bench.scenarios.context import PARTITIONS, QUALIFYING, Ctx, rounded
from testkit.service import metric_sum
from testkit.stack import ROOT, Topics, create_topics


def pipeline_in_process(n: int = 20_000) -> dict[str, Any]:
    """``Pipeline.start`` alone, in this process, on this benchmark's events: the pure cost
    of decode, qualify, generate, validate, cards and encode per event, without Kafka (and
    the mean size of the cards, for the bare loop)."""
    from consumer.events import SourceRef
    from consumer.generate.rules import RulesGenerator
    from consumer.outcomes import Produced
    from consumer.pipeline import Pipeline
    from consumer.stages.cards import CardPolicy
    from consumer.stages.qualify import Criteria, Scale
    from consumer.wire.codec import CardEncoder, EventDecoder

    class _Source:
        def schema_text(self, schema_id: int) -> str:
            return TRACE_SCHEMA_TEXT

        def register(self, subject: str, schema_text: str, compatibility: str | None = None) -> int:
            return 1

    decoder = EventDecoder(source=_Source())
    decoder.load(1)
    pipe = Pipeline(
        decoder=decoder,
        criteria=Criteria(Scale(0, 10), 0.5, 1.0, 1_000_000),
        generator=RulesGenerator(scale=Scale(0, 10), min_contrast=1.0),
        encoder=CardEncoder(schema_id=1),
        policy=CardPolicy(0.7, 16000),
        min_contrast=1.0,
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
    return drain_result(drain, cpu, metrics)


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
        "steady_10_90_events_per_s": rounded(drain.window_rate(), 0),
        "produced_in_s": round(produced_s, 2),
        "seconds": round(drain.seconds, 2),
        "cpu_cores_after_producing": rounded(cpu_s / after, 2)
        if cpu_s is not None and after > 0
        else None,
    }


def drain_result(
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
        "after_first_commit_events_per_s": rounded(drain.after_first_commit_per_s, 0),
        "steady_10_90_events_per_s": rounded(drain.window_rate(), 0),
        "seconds": round(drain.seconds, 2),
        "cpu_cores": rounded(cpu_s / drain.seconds, 2)
        if cpu_s is not None and drain.seconds
        else None,
        "cpu_us_per_event": rounded(1e6 * cpu_s / drain.n, 1) if cpu_s is not None else None,
        "transactions": int(txn),
        "mean_transaction_ms": rounded(1000 * txn_sum / txn, 1) if txn else None,
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
        "after_first_commit_events_per_s": rounded(drain.after_first_commit_per_s, 0),
        "steady_10_90_events_per_s": rounded(drain.window_rate(), 0),
        "seconds": round(drain.seconds, 2),
        "cpu_cores": rounded(own["cpu_s_draining"] / drain.seconds, 2) if drain.seconds else None,
        "cpu_us_per_event": rounded(1e6 * own["cpu_s_draining"] / n, 1),
        "transactions": own["transactions"],
        "mean_transaction_ms": rounded(own["mean_commit_ms"], 1),
    }
