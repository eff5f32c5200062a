"""Pure: a step's situation as text with the accidents of one occurrence taken out.

Two transitions are the same situation when an agent did the same kind of step on the same
kind of state; the ids, numbers, timestamps and spacing that differ from one occurrence to
the next say nothing about what a critic should learn from it. They are replaced by a
placeholder each, so that a template repeated with fresh values normalises to one text.

``outline`` is the cheap form the selector hashes for every event it looks at: the words
split at whitespace, with each word that holds a digit replaced by its placeholder. Two
texts with the same outline normalise to the same words (``normalise`` is computed from the
outline), so an equal outline is an exact repeat; the converse need not hold (``"a, b"``
and ``"a b"`` normalise alike but outline differently), which only sends such a pair on to
the MinHash comparison.
"""

from __future__ import annotations

import itertools
import operator
import re
from typing import Final

__all__ = ["normalise", "outline", "shingles"]

# A token keeps the punctuation that dates, times, numbers and ids carry.
_TOKEN: Final = re.compile(r"[\w:.+-]+")
_TIME_RE: Final = r"\d{4}-\d{2}-\d{2}(?:t[\d:.]+)?(?:z|[+-][\d:]+)?|\d{1,2}:\d{2}(?::[\d.]+)?z?"
_TIME: Final = re.compile(_TIME_RE)
_NUMBER: Final = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?%?")
_PART: Final = re.compile(r"[^\W_]+")
_DIGIT: Final = re.compile(r"\d")
# Most words with a digit are one token as they stand: word characters at both ends (so
# nothing is stripped) and only token characters between. One match tells such a word's
# kind: a timestamp, a number (a sign or a comma cannot occur in it), any other (an id);
# or it has no digit at all. A word it does not match is taken apart token by token.
_WORD: Final = re.compile(
    rf"(?=\w)(?:({_TIME_RE})|(\d+(?:\.\d+)*(?:e[-+]?\d+)?)|([\w:.+-]*\d[\w:.+-]*))(?<=\w)|(\D*)"
)
# An outline's placeholders start with a tab, which no word split at whitespace holds.
_MARK: Final = "\t"
_KINDS: Final = ("", _MARK + "<ts>", _MARK + "<n>", _MARK + "<id>")


def _tokens(word: str) -> list[str]:
    """The placeholders and parts of a word with a digit, token by token."""
    out: list[str] = []
    for token in _TOKEN.findall(word):
        token = token.strip(".:+-")
        if not token:
            continue
        if _DIGIT.search(token) is None:
            out.extend(_PART.findall(token))  # snake_case, kebab-case, dotted.names
        elif _TIME.fullmatch(token):
            out.append("<ts>")
        elif _NUMBER.fullmatch(token):
            out.append("<n>")
        else:
            out.append("<id>")
    return out


def _placeholder(word: str) -> str:
    m = _WORD.fullmatch(word)
    if m is None:
        return _MARK + " ".join(_tokens(word))
    kind = m.lastindex or 0
    return word if kind == 4 else _KINDS[kind]


def outline(text: str) -> tuple[str, ...]:
    """The words of ``text``, lower-cased and split at whitespace, each word with a digit
    replaced by a tab and its placeholders (``\\t<id>``, ``\\t<n>``, ``\\t<ts>``)."""
    words = text.lower().split()
    # Only the words that are not all letters are looked at one by one (a few in a state).
    for i in itertools.compress(itertools.count(), map(operator.not_, map(str.isalpha, words))):
        words[i] = _placeholder(words[i])
    return tuple(words)


def normalise(text: str) -> list[str]:
    """The words of ``text``, lower-cased, with each timestamp, number and id (a word with
    a digit in it: user42, 9f86d081, req-7f3) as a placeholder."""
    out: list[str] = []
    for word in outline(text):
        if word.isalpha():
            out.append(word)
            continue
        for part in word[1:].split() if word[0] == _MARK else _PART.findall(word):
            if part != "<ts>" or not out or out[-1] != "<ts>":  # a date and its time: one
                out.append(part)
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
