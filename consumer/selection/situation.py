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

# Tokens keep the punctuation that dates, times, numbers and ids carry; only the few that
# hold a digit are looked at further (a loop over words with str methods is several times
# faster than substituting a pattern with alternatives at every position of the text).
_TOKEN: Final = re.compile(r"[\w:.+-]+")
_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:t[\d:.]+)?(?:z|[+-][\d:]+)?|\d{1,2}:\d{2}(?::[\d.]+)?z?"
)
_NUMBER: Final = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?%?")
_PART: Final = re.compile(r"[^\W_]+")
_DIGIT: Final = re.compile(r"\d")


def normalise(text: str) -> list[str]:
    """The words of ``text``, lower-cased, with each timestamp, number and id (a word with
    a digit in it: user42, 9f86d081, req-7f3) as a placeholder."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token.isalpha():
            out.append(token)
            continue
        token = token.strip(".:+-")
        if not token:
            continue
        if _DIGIT.search(token) is None:
            out.extend(_PART.findall(token))  # snake_case, kebab-case, dotted.names
        elif _TIME.fullmatch(token):
            if not out or out[-1] != "<ts>":  # a date and its time are one timestamp
                out.append("<ts>")
        elif _NUMBER.fullmatch(token):
            out.append("<n>")
        else:
            out.append("<id>")
    return out


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
