"""``python -m bench.selection [--quick] [--lag]``: the pair budget's selection scenario.

A stream like production's, made in memory (bench/selection_stream.py): 200,000 qualifying
events (``--quick`` 40,000) from 30 purposes with Zipf volumes (s 1.2), each purpose drawing its situations
Zipf-distributed from 2,000 templates of its own whose texts vary in ids, numbers and
timestamps, over four hours of event time; a budget of 2% of the events. The selector
decides every event (one instance holding the topic's only partition); uniform hash
sampling (``qualify.in_sample``) at the same number of pairs is the comparison. Then the
selector's CPU per event and the memory at 1,000,000 remembered situations, and how well
the duplicate threshold separates a repeat with words changed from another situation.

``--lag`` adds the live test on the local stack (``KAFKA_PORT`` / ``REGISTRY_PORT``):
1,000 events/s for 30 s through ``selftaught run`` with the budget on, the group's lag
sampled every half second. Nothing asserts; it prints figures for bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from collections import Counter
from typing import Any

from bench.selection_stream import HOURS, T0, VOCAB, make_stream, record
from consumer.selection import HOUR_MS, Policy, Selector
from consumer.selection.memory import SituationMemory
from consumer.selection.situation import shingles
from consumer.stages.qualify import in_sample

BUDGET_SHARE = 0.02
_LOW64 = (1 << 64) - 1


def scenario(n: int) -> dict[str, Any]:
    t = time.perf_counter()
    stream = make_stream(n)
    made = time.perf_counter() - t
    budget = int(n * BUDGET_SHARE / HOURS)
    sel = Selector(
        policy=Policy(budget_per_hour=budget, duplicate_similarity=0.7, memory_size=200_000)
    )
    sel.assign({("in", 0): None}, 1)
    gc.collect()
    cpu0 = time.process_time()
    picked = [sel.decide(e, ("in", 0), i, e.timestamp_ms) for i, (e, _) in enumerate(stream)]
    cpu = time.process_time() - cpu0
    taken = [i for i, c in enumerate(picked) if c is None]
    reasons = Counter(str(c) for c in picked if c is not None)
    rate = len(taken) / n
    uniform = [i for i, (e, _) in enumerate(stream) if in_sample(e.event_id, rate)]
    distinct_all = len({sit for _, sit in stream})
    events_per_purpose = Counter(sit[0] for _, sit in stream)

    def measure(idx: list[int]) -> dict[str, Any]:
        sits = [stream[i][1] for i in idx]
        seen: set[tuple[int, int]] = set()
        repeats = 0
        for s in sits:
            repeats += s in seen
            seen.add(s)
        per_hour = Counter((stream[i][0].timestamp_ms - T0) // HOUR_MS for i in idx)
        shares = Counter(stream[i][1][0] for i in idx)
        big_enough = [p for p, c in events_per_purpose.items() if c >= 50]
        got = [shares.get(p, 0) for p in big_enough]
        return {
            "pairs": len(idx),
            "coverage": len(seen) / min(len(idx), distinct_all),
            "repeat_share": repeats / max(1, len(idx)),
            "pairs_per_hour_vs_budget": [
                round(per_hour.get(h, 0) / budget, 3) for h in range(HOURS)
            ],
            "purposes_with_50": len(big_enough),
            "purposes_without_pairs": sum(1 for g in got if g == 0),
            "share_max_over_min": (max(got) / min(got)) if min(got) else float("inf"),
        }

    return {
        "events": n,
        "distinct_situations": distinct_all,
        "budget_per_hour": budget,
        "stream_built_s": round(made, 1),
        "selector_cpu_us_per_event": round(cpu / n * 1e6, 1),
        "skips": dict(reasons),
        "selector": measure(taken),
        "uniform": measure(uniform),
        "memory_remembered": len(sel.memory),
    }


def memory_at(count: int) -> dict[str, Any]:
    """Bytes and RSS of the near-duplicate memory holding ``count`` situations."""

    def rss_kib() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    gc.collect()
    before = rss_kib()
    m = SituationMemory(capacity=count, max_age_ms=HOURS * HOUR_MS * 10, threshold=0.7)
    rng = random.Random(5)
    t = time.perf_counter()
    for i in range(count):
        words = [rng.choice(VOCAB) for _ in range(12)]
        keys, sig = m.sketch("p\x1fa", shingles(" ".join(words)))
        m.remember(keys, sig, owner=i, ts_ms=T0 + i, outline=hash(tuple(words)) & _LOW64)
    fill = time.perf_counter() - t
    # Lookups and inserts at full memory: each insert also forgets the oldest.
    t = time.perf_counter()
    probes = 20_000
    for i in range(probes):
        words = [rng.choice(VOCAB) for _ in range(12)]
        keys, sig = m.sketch("p\x1fa", shingles(" ".join(words)))
        exact = hash(tuple(words)) & _LOW64
        m.repeated(exact, owner=-1)
        m.near(keys, sig, owner=-1)
        m.remember(keys, sig, owner=i, ts_ms=T0 + count + i, outline=exact)
    full = time.perf_counter() - t
    return {
        "situations": len(m),
        "buffers_mb": round(m.nbytes / 2**20, 1),
        "rss_growth_mb": round((rss_kib() - before) / 1024, 1),
        "fill_us_per_situation": round(fill / count * 1e6, 1),
        "sketch_lookup_insert_us_when_full": round(full / probes * 1e6, 1),
    }


def threshold_accuracy() -> dict[str, Any]:
    """Share flagged as duplicates: a repeat with k of ~30 words changed, and unrelated
    situations with the same purpose and action, for each threshold."""
    rng = random.Random(9)
    out: dict[str, Any] = {}
    bases = [[rng.choice(VOCAB) for _ in range(30)] for _ in range(400)]
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9):
        m = SituationMemory(capacity=1000, max_age_ms=HOUR_MS, threshold=threshold)
        for i, b in enumerate(bases[:200]):
            m.remember(*m.sketch("c", shingles(" ".join(b))), owner=i, ts_ms=T0, outline=i)
        row = {}
        for k in (1, 3, 6):
            hits = 0
            for b in bases[:200]:
                w = list(b)
                for _ in range(k):
                    w[rng.randrange(len(w))] = rng.choice(VOCAB)
                hits += m.is_duplicate(m.near(*m.sketch("c", shingles(" ".join(w))), owner=-1))
            row[f"{k}_changed"] = hits / 200
        row["unrelated"] = (
            sum(
                m.is_duplicate(m.near(*m.sketch("c", shingles(" ".join(b))), owner=-1))
                for b in bases[200:]
            )
            / 200
        )
        out[str(threshold)] = row
    return out


def lag(
    seconds: float = 30.0, rate: int = 1000, budget_share: float = BUDGET_SHARE
) -> dict[str, Any]:
    """The live stream at ``rate`` events/s through the service with a budget of
    ``budget_share`` of the events (0: no budget, every qualifying event paired)."""
    import tempfile
    from pathlib import Path

    from testkit.offsets import committed, input_ends
    from testkit.produce import EventProducer
    from testkit.service import FAST_SESSION, Service
    from testkit.stack import Stack, Topics, create_topics

    stack = Stack(
        f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}",
        f"http://127.0.0.1:{os.environ.get('REGISTRY_PORT', '8081')}/apis/ccompat/v7",
    )
    t = Topics.fresh("sel-lag", 3)
    create_topics(stack, t)
    logs = Path(tempfile.mkdtemp(prefix="sel-lag-"))
    svc = Service(
        stack,
        t,
        logs,
        instance_id="lag",
        env={
            **FAST_SESSION,
            "SELFTAUGHT_PAIR_BUDGET_PER_HOUR": str(int(rate * 3600 * budget_share)),
        },
    ).start()
    stream = [e for e, _ in make_stream(int(seconds * rate) + 1000, seed=3)]
    p = EventProducer(stack, t.input)
    p.send(record(stream[0], int(time.time() * 1000)))
    p.flush()
    time.sleep(15)  # start-up and the group join, before the clock starts
    samples: list[int] = []
    start = time.monotonic()
    sent = 1
    next_sample = start + 0.5
    while (now := time.monotonic()) < start + seconds:
        due = int((now - start) * rate)
        while sent <= due:
            p.send(record(stream[sent], int(time.time() * 1000)))
            sent += 1
        p.producer.poll(0) if hasattr(p, "producer") else None
        if now >= next_sample:
            p.flush()
            ends, got = input_ends(stack, t.input), committed(stack, t)
            samples.append(sum(max(0, e - got.get(q, 0)) for q, e in ends.items()))
            next_sample += 0.5
        time.sleep(0.002)
    p.flush()
    svc.stop()
    steady = samples[len(samples) // 5 :]
    return {
        "events_per_s": round(sent / seconds),
        "lag_records_median": statistics.median(steady),
        "lag_records_max": max(steady),
        "lag_seconds_median": round(statistics.median(steady) / rate, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lag", action="store_true")
    ap.add_argument("--memory", type=int, default=1_000_000)
    a = ap.parse_args()
    print("load averages at start:", os.getloadavg())
    import re
    import timeit

    ref = "bdla mose 3f2a9b77c1 tira 4821 at 2026-12-03 user u4411 kalo nire fuse pate rilo"
    took = timeit.timeit(lambda: re.sub(r"\d+", "n", ref), number=20_000) / 20_000
    print(f"calibration: re.sub(r'\\d+') on 80 characters: {took * 1e6:.1f} us")
    print("scenario:", scenario(40_000 if a.quick else 200_000))
    print("threshold accuracy:", threshold_accuracy())
    print("memory:", memory_at(100_000 if a.quick else a.memory))
    if a.lag:
        print("lag with the budget:", lag())
        print("lag without a budget (the same stream, every event paired):", lag(budget_share=0))
    print("load averages at end:", os.getloadavg())


if __name__ == "__main__":
    main()
