"""Pure: a step's situation as text with the accidents of one occurrence taken out.

Two transitions are the same situation when an agent did the same kind of step on the same
kind of state; the ids, numbers, timestamps and spacing that differ from one occurrence to
the next say nothing about what a critic should learn from it. They are replaced by a
placeholder each, so that a template repeated with fresh values normalises to one text.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

__all__ = ["normalise", "shingles"]

# Order matters: a timestamp holds numbers, a UUID holds hex runs.
_PATTERNS: Final = (
    (
        re.compile(
            r"\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?"
        ),
        " <ts> ",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), " <ts> "),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), " <id> "),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"), " <id> "),
    (re.compile(r"\b[a-z]+[-_]?\d+[a-z0-9_-]*\b"), " <id> "),  # user42, req-7f3, ord_1009
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?"), " <n> "),
)
_WORD: Final = re.compile(r"<\w+>|\w+", re.UNICODE)


def normalise(text: str) -> list[str]:
    """The words of ``text``, lower-cased, with ids, numbers and timestamps as placeholders."""
    text = text.lower()
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return _WORD.findall(text)


def shingles(*texts: str) -> list[str]:
    """Overlapping word pairs of each text (word order matters, a single changed word
    changes only two of them); a text of one word is its own shingle."""
    out: list[str] = []
    for field, text in enumerate(texts):
        words = normalise(text)
        if len(words) == 1:
            out.append(f"{field}:{words[0]}")
        out.extend(f"{field}:{a} {b}" for a, b in itertools.pairwise(words))
    return out
