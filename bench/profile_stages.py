"""Which pipeline stage a py-spy frame of the service names (the groups of
``bench/profile.py``): by module and function, by mypyc's C names for the compiled build, and
by the statement executing in ``pipeline.py`` and ``runner/``."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["stage_of", "statement", "transaction_part"]


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
    # consumer/redact/ (mypyc names a module by its last part)
    "patterns": "redact",
    "safe": "redact",
    "scan": "redact",
    "text": "redact",
    "words": "redact",
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


def stage_of(frame: dict[str, Any]) -> str | None:
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
    if mod.startswith("redact/"):
        return "redact"
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
        if "safe_event(" in stmt or "unsafe(" in stmt:
            return "redact"
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


def transaction_part(frames: list[dict[str, Any]]) -> str:
    """The part of a transaction a ``kafka-*`` thread's sample is in: begin, produce,
    send_offsets, commit or other."""
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
