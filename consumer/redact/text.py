"""Pure: the redaction of one text, the rules of ``consumer.redact.patterns`` applied in order."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from consumer.redact.patterns import (
    _CODES,
    _GENERIC,
    _INSTRUCTIONS,
    _NEUTRAL,
    _RUN,
    _RUN_TABLE,
    _SECRET_GATES,
    _SECRETS,
    _SENTENCE_END,
    _SSN_DASHES,
    _SSN_HINT,
    GATES,
    Gate,
)
from consumer.redact.words import Words

__all__ = ["Redacted", "redact", "worth_a_look"]


class Redacted(NamedTuple):
    """The safe text, and what was done to it: counts by kind, characters removed."""

    text: str
    counts: dict[str, int]
    removed: int


_NOTHING: Final[dict[str, int]] = {}


def _marker(kind: str) -> str:
    return f"[redacted:{kind}]"


# Every word a gate asks for (GATES holds every rule's), found in one pass over the
# lower-cased text.
_WORDS: Final = Words(words=(w for gate in GATES for w in gate.words))


# (for ... else rather than any(): a generator costs a third of the gates' time.)
def _opens(gate: Gate, text: str, present: set[str]) -> bool:
    """``present``: the gates' words the lower-cased text holds."""
    chars, words = gate
    if chars:
        for c in chars:
            if c in text:
                break
        else:
            return False
    for w in words:
        if w in present:
            break
    else:
        return False
    return True


def _any_opens(gates: tuple[Gate, ...], text: str, present: set[str]) -> bool:
    for gate in gates:
        if _opens(gate, text, present):
            break
    else:
        return False
    return True


def _long_run(text: str) -> bool:
    return _RUN in text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE)


def _id_number(text: str) -> bool:
    return (
        "-" in text and _SSN_DASHES.search(text) is not None and _SSN_HINT.search(text) is not None
    )


def worth_a_look(text: str, lower: str) -> bool:
    """Whether any rule could change ``text`` (``lower``: it lower-cased): ``False`` for nearly
    every text. Of several texts joined by a character no rule looks for ("\\x00"), whether any
    of them."""
    return _worth(text, _WORDS.found(lower))


def _worth(text: str, present: set[str]) -> bool:
    return _any_opens(GATES, text, present) or _id_number(text) or _long_run(text)


def redact(text: str) -> Redacted:
    """The text with every secret, address, home path, instruction and command replaced by a
    marker, and trigger-looking forms neutralised."""
    lower = text.lower()
    present = _WORDS.found(lower)
    if not _worth(text, present):  # nearly every text: no rule has anything to look at
        return Redacted(text, _NOTHING, 0)
    counts: dict[str, int] = {}
    removed = 0
    out = text
    long_run = _long_run(text)
    for kind, pattern in _SECRETS:
        if pattern is _GENERIC:
            if not long_run:
                continue
        elif kind == "id_number":
            if not _id_number(lower):
                continue
        elif not _any_opens(_SECRET_GATES[kind], out, present):
            continue
        if kind == "secret":
            out, n, gone = _sub_secret_values(pattern, out)
        else:
            out, n, gone = _sub(pattern, _marker(kind), out)
        if n:
            counts[kind] = counts.get(kind, 0) + n
            removed += gone
            lower = out.lower()
            present = _WORDS.found(lower)
    found = [p for gate, p in _INSTRUCTIONS if _opens(gate, out, present)]
    if found:
        out, n, gone = _sub_sentences(out, found)
        if n:
            counts["instruction"] = n
            removed += gone
            lower = out.lower()
            present = _WORDS.found(lower)
    for gate, pattern in _CODES:
        if _opens(gate, out, present):
            out, n, gone = _sub(pattern, _marker("code"), out)
            if n:
                counts["code"] = counts.get("code", 0) + n
                removed += gone
                lower = out.lower()
                present = _WORDS.found(lower)
    neutralised = 0
    for gate, pattern, repl in _NEUTRAL:
        if _opens(gate, out, present):
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
