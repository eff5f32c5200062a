"""The selection rules, one by one, on values: duplicates, the event-time budget, its share
per partition, the fair share and the informativeness order."""

from __future__ import annotations

import itertools

import pytest

from consumer.events import ScoreData, ScoreEvent
from consumer.selection import HOUR_MS, Policy, Selector, Unselected, Wait, partition_budget
from consumer.selection.fair import informativeness, water_level
from consumer.selection.ledger import decode, encode
from consumer.selection.memory import SituationMemory
from consumer.selection.situation import normalise, shingles

T0 = 492_000 * HOUR_MS  # an hour boundary in 2026
_ids = itertools.count()


def ev(
    state: str = "cart holds 3 items for user u17, total 41.50",
    *,
    after: str = "checkout page shown at 2026-12-06T10:00:00Z",
    purpose: str = "buy the book",
    action: str = "open_checkout",
    ts: int = T0,
    delta: float = 2.0,
    agent: str | None = None,
) -> ScoreEvent:
    n = next(_ids)
    score = ScoreData(state, action, after, 4.0, 4.0 + delta, "checkout is the next step")
    return ScoreEvent(f"e{n}", f"t{n}", purpose, 1, ts, agent, score)


def selector(budget: int = 0, partitions: int = 1, **kw: object) -> Selector:
    s = Selector(policy=Policy(budget_per_hour=budget, **kw))  # type: ignore[arg-type]
    s.assign({("in", p): None for p in range(partitions)}, partitions)
    return s


def take(s: Selector, e: ScoreEvent, p: int = 0, offset: int = 0) -> object:
    return s.decide(e, ("in", p), offset, now_ms=e.timestamp_ms)


# -- duplicates -----------------------------------------------------------------------


def test_ids_numbers_timestamps_and_spacing_normalise_away() -> None:
    a = normalise("User u17  paid 41.50 at 2026-12-06T10:00:00Z for order 9f86d081884c7d65")
    b = normalise("user u9 paid 7 at 2025-01-01 09:12 for order 0a1b2c3d4e5f6a7b\n")
    assert a == b


def test_a_repeat_with_other_ids_and_numbers_is_a_duplicate() -> None:
    s = selector(budget=1000)
    assert take(s, ev("cart holds 3 items for user u17, total 41.50")) is None
    again = ev("cart  holds 12 items for user u2048, total 7.99", ts=T0 + 5000)
    assert take(s, again) is Unselected.DUPLICATE


def test_a_different_step_is_not_a_duplicate() -> None:
    s = selector(budget=1000)
    assert take(s, ev()) is None
    assert take(s, ev("search results list five novels by the author", ts=T0 + 1)) is None
    assert take(s, ev(action="apply_coupon", ts=T0 + 2)) is None  # same states, other action
    assert take(s, ev(purpose="return the book", ts=T0 + 3)) is None


def test_one_word_changed_in_a_long_state_is_still_a_duplicate() -> None:
    words = " ".join(f"word{c}" for c in "abcdefghijklmnopqrstuvwxyz")
    long_state = "the agent opened the settings page and read the notification options " * 3
    s = selector(budget=1000, duplicate_similarity=0.6)
    assert take(s, ev(long_state + words)) is None
    changed = long_state.replace("read", "checked", 1) + words
    assert take(s, ev(changed, ts=T0 + 1)) is Unselected.DUPLICATE


def test_the_same_event_read_again_after_a_rewind_is_not_its_own_duplicate() -> None:
    s = selector(budget=1000)
    e = ev()
    assert take(s, e, offset=5) is None
    s.rewind([("in", 0)])
    assert take(s, e, offset=5) is None


def test_memory_is_bounded_by_count_and_forgets_the_oldest_first() -> None:
    m = SituationMemory(capacity=50, max_age_ms=HOUR_MS, threshold=0.8)
    sketches = [m.sketch("p", shingles(f"step number {w} of the walk")) for w in _words(120)]
    for i, (keys, sig) in enumerate(sketches):
        m.remember(keys, sig, owner=i, ts_ms=T0, outline=i)
    assert len(m) == 50
    assert m.near(*sketches[0], owner=-1) < 0.8  # forgotten
    assert all(m.near(k, s, owner=-1) >= 0.8 for k, s in sketches[-50:])  # the newest stay
    assert m.nbytes < 50 * 100


def test_memory_forgets_by_age_in_event_time() -> None:
    m = SituationMemory(capacity=100, max_age_ms=HOUR_MS, threshold=0.8)
    old = m.sketch("p", shingles("an old situation about the invoice"))
    m.remember(*old, owner=1, ts_ms=T0, outline=1)
    m.remember(
        *m.sketch("p", shingles("a new one about the refund")),
        owner=2,
        ts_ms=T0 + HOUR_MS + 2000,
        outline=2,
    )
    assert len(m) == 1
    assert m.near(*old, owner=3) == 0.0


def _word(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(letters[(i // 26**d) % 26] for d in range(4))


def _words(n: int) -> list[str]:
    return [_word(i) for i in range(n)]


# -- the budget -----------------------------------------------------------------------


def distinct(i: int, **kw: object) -> ScoreEvent:
    return ev(f"situation {_word(i)} {_word(7 * i + 3)} unique", **kw)  # type: ignore[arg-type]


def test_the_budget_counts_hours_of_event_time_across_a_boundary() -> None:
    s = selector(budget=3, fair_share_key="none")
    late_in_hour = T0 + HOUR_MS - 10  # past the pace: the whole budget is open
    got = [take(s, distinct(i, ts=late_in_hour + i)) for i in range(5)]
    assert got == [None, None, None, Unselected.OVER_BUDGET, Unselected.OVER_BUDGET]
    # The next hour of event time has its own budget, however little wall time passed.
    assert take(s, distinct(9, ts=T0 + 2 * HOUR_MS - 10)) is None
    # And a late event of the spent hour is still over it.
    assert take(s, distinct(10, ts=late_in_hour + 8)) is Unselected.OVER_BUDGET


def test_the_hour_is_paced_so_its_start_does_not_spend_it_all() -> None:
    s = selector(budget=100, fair_share_key="none")
    got = [take(s, distinct(i, ts=T0 + i)) for i in range(50)]
    taken = got.count(None)
    assert 1 <= taken <= 100 * 0.10 + 1  # the lead: at most a tenth of the hour ahead


def test_shares_follow_the_partitions_held_and_move_with_their_spending() -> None:
    assert [partition_budget(10, p, 3) for p in range(3)] == [3, 3, 4]
    assert sum(partition_budget(7, p, 4) for p in range(4)) == 7
    late = T0 + HOUR_MS - 10
    a = selector(budget=10, partitions=2, fair_share_key="none")  # holds both: 5 + 5
    assert a.ledger.budget() == 10
    for i in range(4):
        assert a.decide(distinct(i, ts=late), ("in", 0), i, late) is None
    meta = a.metadata(("in", 0), upto=4)
    assert decode(meta) == {T0 // HOUR_MS: 4}
    # A rebalance: partition 0 moves to b with what it spent; a keeps partition 1 only.
    a.revoke([("in", 0)])
    assert a.ledger.budget() == 5
    b = Selector(policy=Policy(budget_per_hour=10, fair_share_key="none"))
    b.assign({("in", 0): meta}, 2)
    got = [b.decide(distinct(10 + i, ts=late), ("in", 0), 10 + i, late) for i in range(3)]
    assert got == [None, Unselected.OVER_BUDGET, Unselected.OVER_BUDGET]


def test_only_the_committed_prefix_is_written_as_spent() -> None:
    s = selector(budget=10, fair_share_key="none")
    late = T0 + HOUR_MS - 10
    for off in range(3):
        assert take(s, distinct(off, ts=late), offset=off) is None
    assert decode(s.metadata(("in", 0), upto=2)) == {T0 // HOUR_MS: 2}
    s.committed(("in", 0), 2)
    assert decode(s.metadata(("in", 0), upto=3)) == {T0 // HOUR_MS: 3}
    s.rewind([("in", 0)])  # offset 2 will be read and decided again
    assert decode(s.metadata(("in", 0), upto=3)) == {T0 // HOUR_MS: 2}


def test_metadata_that_is_not_ours_is_no_spending() -> None:
    assert decode(None) == {}
    assert decode("") == {}
    assert decode("written by another tool") == {}
    assert decode(encode({5: 2, 6: 9})) == {5: 2, 6: 9}


def test_wait_mode_waits_for_the_next_hour_instead_of_skipping() -> None:
    s = selector(budget=1, mode="wait")
    now = T0 + 10
    assert s.decide(distinct(0), ("in", 0), 0, now) is None
    assert s.decide(distinct(1), ("in", 0), 1, now) == Wait(T0 + HOUR_MS)
    assert s.decide(distinct(1), ("in", 0), 1, T0 + HOUR_MS) is None


# -- fair shares and the informativeness order ---------------------------------------------


def test_water_level_is_max_min_fair() -> None:
    assert water_level([100, 5, 1], 20) == 14  # 1 + 5 + 14: the two small ones whole
    assert water_level([100, 50, 10], 60) == 25  # 10 + 25 + 25
    assert water_level([10, 10], 30) == float("inf")
    assert water_level([], 5) == float("inf")


def test_a_dominant_key_cannot_take_a_rare_keys_share() -> None:
    s = selector(budget=40)
    # Within the hour, events interleaved: 30 of the big purpose for each rare one.
    got: dict[str, list[object]] = {"big": [], "rare": []}
    for i in range(620):
        purpose = "rare" if i % 31 == 30 else "big"
        t = T0 + i * (HOUR_MS // 620)
        got[purpose].append(take(s, distinct(i, purpose=purpose, ts=t)))
    big, rare = got["big"].count(None), got["rare"].count(None)
    # The fair shares are 20 and 20 (the rare one asks for 20 in all); the big one's lead
    # runs a little ahead of the rare one's events still to come.
    assert big + rare <= 40
    assert rare >= 16
    assert big <= 24


def test_a_rare_key_that_comes_late_in_the_hour_keeps_its_share() -> None:
    s = selector(budget=40)
    # The hour before: both purposes offered new situations.
    for i in range(10):
        take(s, distinct(5000 + i, purpose="rare", ts=T0 - 1000))
        take(s, distinct(6000 + i, purpose="big", ts=T0 - 1000))
    end = T0 + HOUR_MS - 1000
    outcomes: dict[str, list[object]] = {"big": [], "rare": []}
    # 300 new situations of the big purpose arrive before the rare one's 10.
    for i in range(300):
        outcomes["big"].append(take(s, distinct(i, purpose="big", ts=end + i % 900)))
    for i in range(10):
        outcomes["rare"].append(take(s, distinct(1000 + i, purpose="rare", ts=end + 950)))
    big, rare = outcomes["big"].count(None), outcomes["rare"].count(None)
    assert rare == 10  # its whole demand: it asked for less than a fair share
    assert big + rare <= 40
    assert Unselected.OVER_SHARE in outcomes["big"]


def test_informativeness_prefers_large_changes_rare_actions_new_situations() -> None:
    base = informativeness(1.0, 10.0, seen_action=10, similarity=0.5)
    assert informativeness(5.0, 10.0, seen_action=10, similarity=0.5) > base
    assert informativeness(1.0, 10.0, seen_action=0, similarity=0.5) > base
    assert informativeness(1.0, 10.0, seen_action=10, similarity=0.0) > base


def test_at_the_pace_an_informative_event_goes_first() -> None:
    s = selector(budget=100, fair_share_key="none")
    t = T0 + HOUR_MS // 2  # pace: 50 pairs
    for i in range(200):
        take(s, distinct(i, ts=t, delta=0.5, action="scroll"))
    routine = take(s, distinct(500, ts=t, delta=0.5, action="scroll"))
    telling = take(s, distinct(501, ts=t, delta=9.0, action="delete_account"))
    assert routine is Unselected.OVER_BUDGET
    assert telling is None


@pytest.mark.parametrize("key", ["purpose", "agent_id", "none"])
def test_the_fair_share_key(key: str) -> None:
    s = selector(budget=10, fair_share_key=key)
    e = ev(purpose="p", agent="a7")
    assert s.key_of(e) == {"purpose": "p", "agent_id": "a7", "none": ""}[key]
