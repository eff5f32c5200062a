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

Transaction threads are reported separately: send_offsets, commit.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GROUPS = (
    "poll",
    "decode",
    "validate",
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


@cache
def _statements(path: str) -> list[tuple[int, int, str]]:
    """(first line, last line, source) of every simple statement in a file, innermost first."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.stmt) and not isinstance(
            node,
            ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef
            | ast.If
            | ast.For
            | ast.While
            | ast.Try
            | ast.With,
        ):
            seg = ast.get_source_segment(text, node) or ""
            out.append((node.lineno, node.end_lineno or node.lineno, seg))
    out.sort(key=lambda s: s[1] - s[0])  # smallest span first
    return out


def statement(path: str, line: int) -> str:
    for lo, hi, seg in _statements(path):
        if lo <= line <= hi:
            return seg
    return ""


# mypyc's C names: CPyDef_<module>___<function> (or CPyPy_, the Python-callable wrapper),
# where a method is <Class>___<method>.
_NATIVE = re.compile(r"CPy(?:Def|Py)_(\w+?)___(\w+)")
_NATIVE_STAGE = {
    "qualify": "validate",
    "validate": "validate",
    "rules": "generate",
    "cards": "cards",
    "pipeline": "pipeline",
}


def _native_stage(name: str) -> str | None:
    m = _NATIVE.fullmatch(name)
    if m is None:
        return None
    module, function = m.group(1), m.group(2).rsplit("___", 1)[-1]
    if module == "avro":
        return "decode" if function.startswith("read_") else "encode"
    if module == "codec":
        return "encode" if function == "encode" and "CardEncoder" in m.group(2) else "decode"
    return _NATIVE_STAGE.get(module)


def _stage_of(frame: dict[str, Any]) -> str | None:
    """The group a frame names, or None when it says nothing about the stage."""
    name, path, line = frame["name"], frame.get("file") or "", frame.get("line") or 0
    if name.startswith("CPy"):
        return _native_stage(name)
    if "/consumer/" not in path:
        if path.endswith("selectors.py") and name.endswith("select"):
            return "idle"
        return None
    mod = path.rsplit("/consumer/", 1)[1]
    if mod == "wire/codec.py":
        if name in (
            "EventDecoder.decode",
            "_to_event",
            "read_header",
            "read_trace_event",
            "decode",
        ):
            return "decode"
        if name in ("CardEncoder.encode", "encode"):
            return "encode"
    if mod == "wire/avro.py":
        # By the function itself: sampling without pausing the process sometimes reads a
        # torn stack whose outer frames are stale, but the innermost frame is right.
        return "decode" if name.startswith("read_") else "encode"
    if mod == "stages/qualify.py":
        return "validate"
    if mod == "stages/validate.py":
        return "validate"
    if mod.startswith("generate/"):
        return "generate"
    if mod == "stages/cards.py":
        return "cards"
    if mod == "runner/kafka.py" and name == "to_ref":
        return "poll"
    if mod == "pipeline.py":
        stmt = statement(path, line)
        if "self._decoder.decode" in stmt or "read_header" in stmt or "knows(" in stmt:
            return "decode"
        if "qualify(" in stmt or "ensure_contrast" in stmt:
            return "validate"
        if "generate_now" in stmt or "self._generator.generate" in stmt:
            return "generate"
        if "build_cards" in stmt or "ContrastPair(" in stmt:
            return "cards"
        if "encode(" in stmt:
            return "encode"
        return None
    if mod.startswith("runner/"):
        return _runner_stage(mod, name, path, line)
    if mod == "observe/metrics.py":
        return None  # counted where it is called from
    return None


def _runner_stage(mod: str, name: str, path: str, line: int) -> str | None:
    """The group of a frame in ``consumer/runner/``."""
    short = name.rsplit(".", 1)[-1]
    if mod == "runner/threads.py":
        # Starting a thread for a call: the caller says which stage it is, except the
        # commit's own thread.
        return None if short == "off_loop" else "commit"
    if mod == "runner/calls.py" and short == "call":
        return None  # a thread for a call, or its retries: the caller says which
    if mod == "runner/transaction.py":
        if short in ("_produce", "_produce_outcome", "_write"):
            return "produce"
        if short == "transact":
            return "produce" if "_write" in statement(path, line) else "commit"
        return "commit"
    if mod in ("runner/window.py", "runner/observation.py"):
        if short == "queue_for" or (short == "add" and mod == "runner/window.py"):
            return "loop"
        return "commit"
    if mod == "runner/intake.py":
        if short == "poll":
            return "poll"
        if short == "accept":
            return "poll" if "to_ref" in statement(path, line) else "loop"
        return "loop"
    if mod in (
        "runner/commit.py",
        "runner/calls.py",
        "runner/metadata.py",
        "runner/producers.py",
        "runner/rewind.py",
    ):
        return "commit"
    return "loop"


def _txn_part(frames: list[dict[str, Any]]) -> str:
    for f in reversed(frames):
        if (f.get("file") or "").endswith("/consumer/runner/transaction.py"):
            short = f["name"].rsplit(".", 1)[-1]
            stmt = statement(f["file"], f.get("line") or 0)
            if short in ("_produce", "_produce_outcome"):
                return "produce"
            if short in ("transact", "_end"):
                for key, part in (
                    ("begin_transaction", "begin"),
                    ("_produce_outcome", "produce"),
                    ("send_offsets_to_transaction", "send_offsets"),
                    ("commit_transaction", "commit"),
                ):
                    if key in stmt:
                        return part
                return "other"
    return "other"


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    groups: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    txn: Counter[str] = Counter()
    txn_threads = 0
    main_samples = 0
    other_threads: Counter[str] = Counter()
    interval = None
    for prof in data["profiles"]:
        name = prof.get("name", "")
        samples, weights = prof.get("samples", []), prof.get("weights", [])
        if weights:
            interval = weights[0]
        if '"MainThread"' in name:
            for stack in samples:
                main_samples += 1
                fs = [frames[i] for i in stack]
                group = None
                for f in reversed(fs):  # innermost first
                    group = _stage_of(f)
                    if group is not None:
                        break
                if group == "validate" and any(
                    "/consumer/generate/" in (f.get("file") or "") for f in fs
                ):
                    group = "generate"  # the generator checking its own proposals
                groups[group or "loop"] += 1
                if fs and group != "idle":
                    leaf = fs[-1]
                    leaves[f"{leaf['name']} ({_short_path(leaf.get('file'))})"] += 1
                for key in {
                    f"{f['name']} ({_short_path(f.get('file'))})"
                    for f in fs
                    if "/consumer/" in (f.get("file") or "")
                }:
                    inclusive[key] += 1
        elif '"kafka-' in name:
            txn_threads += 1
            for stack in samples:
                txn[_txn_part([frames[i] for i in stack])] += 1
        else:
            other_threads[name.split('"')[1] if '"' in name else name] += len(samples)
    total = max(main_samples, 1)
    return {
        "file": str(path),
        "sample_interval_s": interval,
        "main_thread_samples": main_samples,
        "seconds": round(main_samples * (interval or 0.01), 1),
        "groups_pct": {g: round(100 * groups[g] / total, 1) for g in GROUPS if groups[g]},
        "busy_groups_pct": _busy_split(groups),
        "top_leaf_frames_pct": [
            {"frame": k, "pct": round(100 * v / total, 1)} for k, v in leaves.most_common(top)
        ],
        "top_inclusive_consumer_frames_pct": [
            {"frame": k, "pct": round(100 * v / total, 1)} for k, v in inclusive.most_common(top)
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
