"""Exact repeats: the outline a situation is hashed by, and the memory's check on that hash,
which must find exactly what the MinHash comparison would find at similarity 1 and age with
the memory."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.events import ScoreData, ScoreEvent
from consumer.selection import HOUR_MS, Policy, Selector, Unselected
from consumer.selection.memory import SituationMemory
from consumer.selection.situation import normalise, outline, shingles

T0 = 492_000 * HOUR_MS

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


# -- the memory's check -------------------------------------------------------------------


def remembered(capacity: int, n: int, *, ts: int = T0) -> SituationMemory:
    m = SituationMemory(capacity=capacity, max_age_ms=HOUR_MS, threshold=0.7)
    for i in range(n):
        keys, sig = m.sketch("p", shingles(f"step {i} of the walk"))
        m.remember(keys, sig, owner=i, ts_ms=ts + i, outline=outline_of(i))
    return m


def outline_of(i: int) -> int:
    return (i + 1) * 0x9E3779B97F4A7C15 % 2**64


def test_a_remembered_outline_is_a_repeat_except_for_its_own_event() -> None:
    m = remembered(100, 10)
    assert all(m.repeated(outline_of(i), owner=-1) for i in range(10))
    assert not m.repeated(outline_of(3), owner=3)  # the same event, read again
    assert not m.repeated(outline_of(10), owner=-1)
    # Another hash whose low half is the same: the high half tells them apart.
    assert not m.repeated(outline_of(3) ^ (1 << 40), owner=-1)


def test_repeats_are_forgotten_with_their_situations_by_count_and_stay_bounded() -> None:
    m = remembered(50, 200)
    before = m.nbytes
    assert len(m) == 50
    assert not any(m.repeated(outline_of(i), owner=-1) for i in range(150))
    assert all(m.repeated(outline_of(i), owner=-1) for i in range(150, 200))
    assert m.nbytes == before  # the buffers are allocated once, at the configured size


def test_repeats_are_forgotten_by_age_in_event_time() -> None:
    m = remembered(100, 5)
    keys, sig = m.sketch("p", shingles("much later"))
    m.remember(keys, sig, owner=99, ts_ms=T0 + HOUR_MS + 10_000, outline=outline_of(99))
    assert len(m) == 1
    assert not m.repeated(outline_of(0), owner=-1)
    assert m.repeated(outline_of(99), owner=-1)


def test_a_million_situations_fit_in_under_100_mb() -> None:
    m = SituationMemory(capacity=10_000, max_age_ms=HOUR_MS, threshold=0.7)
    assert m.nbytes / 10_000 * 1_000_000 < 100 * 2**20  # the buffers grow with the capacity


def test_a_capacity_the_table_cannot_address_is_refused() -> None:
    with pytest.raises(ValueError, match="situations"):
        SituationMemory(capacity=800_000_000, max_age_ms=HOUR_MS, threshold=0.7)


# -- in the selector ------------------------------------------------------------------------


def event(i: int, state: str, *, purpose: str = "p", delta: float = 2.0) -> ScoreEvent:
    score = ScoreData(state, "act", "page shown", 3.0, 3.0 + delta, "why")
    return ScoreEvent(f"e{i}", f"t{i}", purpose, 1, T0 + HOUR_MS - 5000 + i, None, score)


def test_an_exact_repeat_is_a_duplicate_without_a_sketch(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Selector(policy=Policy(budget_per_hour=100))
    s.assign({("in", 0): None}, 1)
    assert s.decide(event(0, "user u1 opened order 17"), ("in", 0), 0, T0) is None

    def no_sketch(*_: object) -> object:
        raise AssertionError("sketched")

    monkeypatch.setattr(s.memory, "sketch", no_sketch)
    again = event(1, "User u9  opened order 20931")
    assert s.decide(again, ("in", 0), 1, T0) is Unselected.DUPLICATE


def test_events_over_the_budget_or_their_share_are_skipped_without_reading_their_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []

    def counted(text: str) -> tuple[str, ...]:
        read.append(text)
        return outline(text)

    monkeypatch.setattr("consumer.selection.selector.outline", counted)
    s = Selector(policy=Policy(budget_per_hour=2))
    s.assign({("in", 0): None}, 1)
    got = [s.decide(event(i, f"state {_word(i)}"), ("in", 0), i, T0) for i in range(3)]
    assert got == [None, None, Unselected.OVER_BUDGET]
    assert len(read) == 2 * 2  # two states each of the two taken
    # Early in an hour a purpose's share is a few pairs; 200 new situations come at once.
    read.clear()
    s = Selector(policy=Policy(budget_per_hour=100))
    s.assign({("in", 0): None}, 1)
    got = []
    for i in range(200):
        ev = ScoreEvent(f"x{i}", "t", "p", 1, T0 + i, None, event(i, f"step {_word(i)}").score)
        got.append(s.decide(ev, ("in", 0), i, ev.timestamp_ms))
    assert got.count(Unselected.OVER_SHARE) > 150
    assert len(read) < 2 * 50


def _word(i: int) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyz"[i // 26**d % 26] for d in range(3))


def test_the_exact_check_changes_no_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    # Template states with fresh ids and numbers: most repeats are exact.
    templates = [f"queue {w} holds item id-{w}7f3 after step" for w in ("ab", "cd", "ef", "gh")]

    def run(exact: bool) -> list[object]:
        s = Selector(policy=Policy(budget_per_hour=40, duplicate_similarity=0.7))
        s.assign({("in", 0): None}, 1)
        if not exact:
            monkeypatch.setattr(s.memory, "repeated", lambda *_: False)
        out = []
        for i in range(600):
            state = templates[i * 7 % 4].replace("7f3", f"{i:x}") + f" {i * 13}"
            ev = ScoreEvent(
                f"e{i}",
                "t",
                f"p{i % 3}",
                1,
                T0 + i * 6000,
                None,
                ScoreData(state, f"a{i % 5}", f"done {i}", 1.0, 1.0 + i % 4, "w"),
            )
            out.append(s.decide(ev, ("in", 0), i, ev.timestamp_ms))
        return out

    with_check, without = run(True), run(False)
    assert with_check == without
    assert Unselected.DUPLICATE in with_check
