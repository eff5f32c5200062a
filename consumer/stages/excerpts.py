"""Pure: a text bounded for a card, on one line, its head and tail kept around a marker.

A state's outcome (the final error, the result) is often at its end, so an excerpt keeps the
head and the tail; a field that only has to fit (``purpose``) keeps its head.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ELISION", "TRUNCATION_MARKER", "cut", "excerpt", "one_line", "shorten", "with_tail"]

TRUNCATION_MARKER: Final = " …[truncated by selftaught]"

ELISION: Final = " … "  # where an excerpt's middle was left out


def shorten(text: str, limit: int) -> str:
    """The text, or its head with a marker when it is longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def excerpt(text: str, limit: int) -> str:
    """The text on one line, or its head and tail around an elision marker, within ``limit``
    characters (at least the marker and a character either side)."""
    return cut(one_line(text), limit)


def one_line(text: str) -> str:
    """``" ".join(text.split())``: each run of white space one space, none at either end."""
    # Most texts are so already. A printable text holds no white space but " ", so these
    # tests say it, in a third of the split's time on a long text.
    one_space = "  " not in text and not text.startswith(" ") and not text.endswith(" ")
    if one_space and text.isprintable():
        return text
    return " ".join(text.split())


def cut(flat: str, limit: int) -> str:
    """``excerpt`` of a text already on one line (single spaces, none at either end): what
    it returns is on one line too, for limits of 6 and more (the settings' bounds keep every
    limit here above that)."""
    if len(flat) <= limit:
        return flat
    keep = max(limit - len(ELISION), 2)
    head = (keep * 3 + 4) // 5
    return flat[:head].rstrip() + ELISION + flat[len(flat) - (keep - head) :].lstrip()


def with_tail(flat: str, tail: str) -> str:
    """``flat`` and ``tail`` joined by a space, on one line (``tail`` on one line or empty)."""
    return flat + " " + tail if tail else flat
