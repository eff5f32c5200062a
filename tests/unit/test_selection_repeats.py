"""Exact repeats: the outline a situation is hashed by, and the memory's check on that hash,
which must find exactly what the MinHash comparison would find at similarity 1 and age with
the memory."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.selection.situation import normalise, outline

# The normalisation's definition, token by token, as the README states it: the words of the
# lower-cased text (runs of word characters and : . + -), ends stripped of : . + -, each
# with a digit a placeholder (a date and its time one <ts>), the others split at _ . : + -.
_TOKEN = re.compile(r"[\w:.+-]+")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:t[\d:.]+)?(?:z|[+-][\d:]+)?|\d{1,2}:\d{2}(?::[\d.]+)?z?")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?%?")


def by_token(text: str) -> list[str]:
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        token = token.strip(".:+-")
        if not token:
            continue
        if not re.search(r"\d", token):
            out.extend(re.findall(r"[^\W_]+", token))
        elif _TIME.fullmatch(token):
            if not out or out[-1] != "<ts>":
                out.append("<ts>")
        elif _NUMBER.fullmatch(token):
            out.append("<n>")
        else:
            out.append("<id>")
    return out


_PIECES = st.sampled_from(
    [
        *"ab tzeTZ09-+.:,_%/()\n\t",
        "é",
        "²",
        "٣",
        "İ",
        "2026-12-03T10:00:00Z",
        "10:00",
        "1e5",
        "3.14",
        "u17,",
        "-5",
        "1,000",
        "2025-01-01",
        "09:12",
        "snake_case",
        "a.b",
        "--",
        "id-9f86d0",
        "10:00:.",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(_PIECES, max_size=30).map("".join), st.text(max_size=40)))
def test_normalise_is_the_token_by_token_definition(text: str) -> None:
    assert normalise(text) == by_token(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=20).map("".join), st.lists(_PIECES, max_size=20).map("".join))
def test_texts_with_one_outline_normalise_alike(a: str, b: str) -> None:
    if outline(a) == outline(b):
        assert normalise(a) == normalise(b)


def test_a_template_with_fresh_values_has_one_outline() -> None:
    a = "Cart holds 3 items for user u17, total 41.50 at 2026-12-06T10:00:00Z id-9f86d081"
    b = "cart  holds 12 items for user u2048, total 7.99 at 2025-01-01T09:12:00Z id-0a1b2c"
    assert outline(a) == outline(b)
    assert outline(a) != outline(a.replace("holds", "lost"))
    assert outline("order 1,000") != outline("order 7")  # <n> <n> against <n>
    assert normalise("order 1,000") == ["order", "<n>", "<n>"]
