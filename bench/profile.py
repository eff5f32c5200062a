"""Where the service's time goes: a py-spy recording, summarised by pipeline stage.

py-spy samples every thread of the running service (``--idle`` so that waiting counts as
wall-clock time). The asyncio loop runs on the main thread; each transaction's offsets and
commit run on a short-lived ``kafka-*`` thread while the loop goes on. Each main-thread sample
is put in one group by the innermost frame that names a stage (the statement executing in
``pipeline.py`` and ``runner/`` says which stage it is).

The compiled build's hot modules are C: py-spy sees them only with ``--native``, which pauses
the process for each sample (``--nonblocking`` cannot read native stacks), a few per cent of
its time at 100 samples a second. Their functions are named by mypyc, ``CPyDef_<module>___
<function>``, which says the stage; C below them (freeing objects, UTF-8, SHA-1) counts for
the stage that called it. Groups:

    poll      Runner._poll (consumer.consume) and turning messages into SourceRefs
    decode    EventDecoder.decode: header, read_trace_event (or fastavro), the TraceEvent
    validate  qualify() and ensure_contrast()
    redact    safe_event() (the event's texts) and unsafe() (the card check)
    generate  the generator (the rules generator checks its own proposals: counted here)
    cards     build_cards (ids, texts)
    encode    CardEncoder.encode (avro.put_*)
    pipeline  (compiled) Pipeline.start's own work between the stages
    produce   beginning a transaction and Producer.produce of the outcomes
    commit    collecting finished prefixes, starting the commit's thread, settling it,
              bookkeeping and metrics after commit
    loop      the rest of the runner's loop and asyncio's own work
    idle      the loop waiting in select(): nothing to read, or a full window waiting for
              the commit under way

Transaction threads are reported separately: send_offsets, commit. Which group a frame
belongs to is ``bench/profile_stages.py``'s to say.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.profile_stages import stage_of, transaction_part

ROOT = Path(__file__).resolve().parents[1]
GROUPS = (
    "poll",
    "decode",
    "validate",
    "redact",
    "generate",
    "cards",
    "encode",
    "pipeline",
    "produce",
    "commit",
    "loop",
    "idle",
)


def record(
    pid: int, seconds: float, out: Path, rate: int = 100, native: bool = False
) -> subprocess.Popen[bytes]:
    """Start py-spy on ``pid`` for ``seconds``; returns the py-spy process (wait on it).
    ``native``: C frames too (the compiled build), pausing the process for each sample."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "speedscope",
            "--output",
            str(out),
            "--idle",
            *(["--native"] if native else ["--nonblocking"]),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class _MainThread:
    """The main thread's samples counted: by group, by leaf frame and by consumer frame."""

    def __init__(self) -> None:
        self.samples = 0
        self.groups: Counter[str] = Counter()
        self.leaves: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()

    def add(self, fs: list[dict[str, Any]]) -> None:
        self.samples += 1
        group = None
        for f in reversed(fs):  # innermost first
            group = stage_of(f)
            if group is not None:
                break
        if group == "validate" and any("/consumer/generate/" in (f.get("file") or "") for f in fs):
            group = "generate"  # the generator checking its own proposals
        self.groups[group or "loop"] += 1
        if fs and group != "idle":
            leaf = fs[-1]
            self.leaves[f"{leaf['name']} ({_short_path(leaf.get('file'))})"] += 1
        for key in {
            f"{f['name']} ({_short_path(f.get('file'))})"
            for f in fs
            if "/consumer/" in (f.get("file") or "")
        }:
            self.inclusive[key] += 1


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    main = _MainThread()
    txn: Counter[str] = Counter()
    txn_threads = 0
    other_threads: Counter[str] = Counter()
    interval = None
    for prof in data["profiles"]:
        name = prof.get("name", "")
        samples, weights = prof.get("samples", []), prof.get("weights", [])
        if weights:
            interval = weights[0]
        if '"MainThread"' in name:
            for stack in samples:
                main.add([frames[i] for i in stack])
        elif '"kafka-' in name:
            txn_threads += 1
            for stack in samples:
                txn[transaction_part([frames[i] for i in stack])] += 1
        else:
            other_threads[name.split('"')[1] if '"' in name else name] += len(samples)
    total = max(main.samples, 1)
    groups = main.groups
    return {
        "file": str(path),
        "sample_interval_s": interval,
        "main_thread_samples": main.samples,
        "seconds": round(main.samples * (interval or 0.01), 1),
        "groups_pct": {g: round(100 * groups[g] / total, 1) for g in GROUPS if groups[g]},
        "busy_groups_pct": _busy_split(groups),
        "top_leaf_frames_pct": [
            {"frame": k, "pct": round(100 * v / total, 1)} for k, v in main.leaves.most_common(top)
        ],
        "top_inclusive_consumer_frames_pct": [
            {"frame": k, "pct": round(100 * v / total, 1)}
            for k, v in main.inclusive.most_common(top)
        ],
        # Transaction threads: wall-clock seconds of each part (the loop waits meanwhile)
        "transactions": {
            "threads": txn_threads,
            "seconds": {k: round(v * (interval or 0.01), 2) for k, v in txn.most_common()},
            "pct_of_wall": {k: round(100 * v / total, 1) for k, v in txn.most_common()},
        },
        "other_threads_samples": dict(other_threads.most_common(8)),
    }


def _busy_split(groups: Counter[str]) -> dict[str, float]:
    busy = sum(v for k, v in groups.items() if k != "idle") or 1
    return {g: round(100 * groups[g] / busy, 1) for g in GROUPS if g != "idle" and groups[g]}


def _short_path(path: str | None) -> str:
    if not path:
        return "?"
    for marker in ("/consumer/", "/site-packages/", "/lib/python3"):
        if marker in path:
            return marker.strip("/").split("/")[0] + "/" + path.rsplit(marker, 1)[1]
    return path.rsplit("/", 1)[-1]
