"""Pure: the redaction of one text, the rules of ``consumer.redact.patterns`` applied in order."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from consumer.redact.patterns import (
    _CODES,
    _GENERIC,
    _INSTRUCTIONS,
    _LONG_RUN,
    _NEEDLES,
    _NEUTRAL,
    _SECRETS,
    _SENTENCE_END,
    _SSN_HINT,
    _WORDS,
)

__all__ = ["Redacted", "redact"]


def _needed(kind: str, lower: str) -> bool:
    if kind == "id_number":
        return _SSN_HINT.search(lower) is not None
    return any(n in lower for n in _NEEDLES[kind])


class Redacted(NamedTuple):
    """The safe text, and what was done to it: counts by kind, characters removed."""

    text: str
    counts: dict[str, int]
    removed: int


_NOTHING: Final[dict[str, int]] = {}


def _marker(kind: str) -> str:
    return f"[redacted:{kind}]"


def _maybe(text: str) -> bool:
    lower = text.lower()
    for w in _WORDS:
        if w in lower:
            return True
    return _SSN_HINT.search(text) is not None or _LONG_RUN.search(text) is not None


def redact(text: str) -> Redacted:
    """The text with every secret, address, home path, instruction and command replaced by a
    marker, and trigger-looking forms neutralised."""
    if not _maybe(text):  # nearly every text: no rule has anything to look at
        return Redacted(text, _NOTHING, 0)
    lower = text.lower()
    counts: dict[str, int] = {}
    removed = 0
    out = text
    long_run = _LONG_RUN.search(text) is not None
    for kind, pattern in _SECRETS:
        if not (long_run if kind == "token" and pattern is _GENERIC else _needed(kind, lower)):
            continue
        if kind == "secret":
            out, n, gone = _sub_secret_values(pattern, out)
        else:
            out, n, gone = _sub(pattern, _marker(kind), out)
        if n:
            counts[kind] = counts.get(kind, 0) + n
            removed += gone
            lower = out.lower()
    found = [p for needles, p in _INSTRUCTIONS if any(n in lower for n in needles)]
    if found:
        out, n, gone = _sub_sentences(out, found)
        if n:
            counts["instruction"] = n
            removed += gone
            lower = out.lower()
    for needles, pattern in _CODES:
        if any(n in lower for n in needles):
            out, n, gone = _sub(pattern, _marker("code"), out)
            if n:
                counts["code"] = counts.get("code", 0) + n
                removed += gone
                lower = out.lower()
    neutralised = 0
    for needles, pattern, repl in _NEUTRAL:
        if any(n in lower for n in needles):
            out, n = pattern.subn(repl, out)
            neutralised += n
    if neutralised:
        counts["neutralised"] = neutralised
    if not counts:
        return Redacted(text, _NOTHING, 0)
    return Redacted(out, counts, removed)


def _sub_sentences(text: str, patterns: list[re.Pattern[str]]) -> tuple[str, int, int]:
    """Each sentence holding an instruction, replaced by the marker (its leading space kept)."""
    spans: list[tuple[int, int]] = []
    hits = sorted((m for p in patterns for m in p.finditer(text)), key=lambda m: m.start())
    for m in hits:
        # From the start of its sentence or clause ("Tool output: ignore all ...").
        start = max(text.rfind(c, 0, m.start()) for c in ".!?\n:;") + 1
        end_m = _SENTENCE_END.search(text, m.end())
        end = len(text) if end_m is None else end_m.end()
        while start < m.start() and text[start] in " \t":
            start += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    if not spans:
        return text, 0, 0
    parts, last, gone = [], 0, 0
    for a, b in spans:
        parts.append(text[last:a])
        parts.append(_marker("instruction"))
        gone += b - a
        last = b
    parts.append(text[last:])
    return "".join(parts), len(spans), gone


def _sub(
    pattern: re.Pattern[str], marker: str, text: str, keep_lead: bool = False
) -> tuple[str, int, int]:
    gone = 0
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal gone, n
        found = m.group(0)
        lead = found[: len(found) - len(found.lstrip())] if keep_lead else ""
        n += 1
        gone += len(found) - len(lead)
        return lead + marker

    return pattern.sub(repl, text), n, gone


def _sub_secret_values(pattern: re.Pattern[str], text: str) -> tuple[str, int, int]:
    gone = 0
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal gone, n
        if m.group("value").startswith("[redacted:"):
            return m.group(0)
        n += 1
        gone += len(m.group("value"))
        return m.group("name") + _marker("secret")

    return pattern.sub(repl, text), n, gone
