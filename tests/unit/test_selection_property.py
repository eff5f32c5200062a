"""Properties: whatever the stream and however partitions move between instances, the
group never pairs more than its budget in an hour of event time; and the fair share's cheap
answer is never a skip that the fresh one would not make."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.events import ScoreData, ScoreEvent
from consumer.selection import HOUR_MS, Policy, Selector, partition_budget
from consumer.selection.fair import HourShares, water_level

T0 = 492_000 * HOUR_MS

events = st.tuples(
    st.integers(0, 3),  # partition (modulo the topic's)
    st.integers(0, 4 * HOUR_MS),  # event time, over four hours, in any order
    st.sampled_from(["a", "b", "c"]),  # purpose
    st.integers(0, 60),  # situation
)
steps = st.lists(st.one_of(events, st.just("rebalance"), st.just("restart")), max_size=200)


# No deadline or speed check: a busy CI machine is slow, not wrong.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=st.integers(1, 25),
    partitions=st.integers(1, 4),
    key=st.sampled_from(["purpose", "none"]),
    script=steps,
)
def test_the_group_never_exceeds_its_budget_in_an_hour(
    budget: int, partitions: int, key: str, script: list[object]
) -> None:
    policy = Policy(budget_per_hour=budget, fair_share_key=key, memory_size=500)  # type: ignore[arg-type]
    tps = [("in", p) for p in range(partitions)]
    committed: dict[tuple[str, int], tuple[int, str | None]] = dict.fromkeys(tps, (0, None))
    instances = [Selector(policy=policy), Selector(policy=policy)]
    owner = {tp: i % 2 for i, tp in enumerate(tps)}
    for i, inst in enumerate(instances):
        inst.assign({tp: None for tp in tps if owner[tp] == i}, partitions)
    next_offset = dict.fromkeys(tps, 0)
    paired: dict[tuple[str, int], list[tuple[int, int]]] = {tp: [] for tp in tps}
    moves = 0

    def commit(tp: tuple[str, int]) -> None:
        inst = instances[owner[tp]]
        upto = next_offset[tp]
        committed[tp] = (upto, inst.metadata(tp, upto))
        inst.committed(tp, upto)

    for n, step in enumerate(script):
        if step == "rebalance":
            tp = tps[moves % partitions]
            moves += 1
            commit(tp)
            instances[owner[tp]].revoke([tp])
            owner[tp] = 1 - owner[tp]
            instances[owner[tp]].assign({tp: committed[tp][1]}, partitions)
        elif step == "restart":
            # Instance 0 dies: nothing uncommitted survives; it reads its partitions back.
            fresh = Selector(policy=policy)
            mine = {tp: committed[tp][1] for tp in tps if owner[tp] == 0}
            fresh.assign(mine, partitions)
            for tp in mine:
                next_offset[tp] = committed[tp][0]  # redone from the committed offset
                paired[tp] = [(o, h) for o, h in paired[tp] if o < committed[tp][0]]
            instances[0] = fresh
        else:
            assert isinstance(step, tuple)
            p, t, purpose, situation = step
            tp = tps[p % partitions]
            offset = next_offset[tp]
            next_offset[tp] += 1
            words = f"state {chr(97 + situation % 26)}{chr(97 + situation // 26)} step"
            score = ScoreData(words, "act", "after", 2.0, 5.0, "why")
            event = ScoreEvent(f"e{n}", "t", purpose, 0, T0 + t, None, score)
            hour = (T0 + t) // HOUR_MS
            if instances[owner[tp]].decide(event, tp, offset, T0 + t) is None:
                paired[tp].append((offset, hour))
        if n % 7 == 0:
            for tp in tps:
                commit(tp)
    # Every pair that is or will be published (a restart drops what was not committed).
    per_hour: Counter[int] = Counter(h for pairs in paired.values() for _, h in pairs)
    assert all(n <= budget for n in per_hour.values()), (per_hour, budget)
    for tp, pairs in paired.items():
        share = partition_budget(budget, tp[1], partitions)
        assert all(n <= share for n in Counter(h for _, h in pairs).values())


_KEYS = st.sampled_from("abc")
shares_steps = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), _KEYS),
        st.tuples(st.just("take"), _KEYS),
        st.tuples(st.just("advance"), st.floats(0.0, 1.2)),
        st.tuples(st.just("ask"), _KEYS, st.floats(1.0, 12.0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    prior=st.dictionaries(st.sampled_from("abcd"), st.integers(0, 10), max_size=4),
    script=shares_steps,
)
def test_a_key_skipped_without_a_rebuild_is_over_its_fresh_share(
    prior: dict[str, int], script: list[tuple[object, ...]]
) -> None:
    """The cheap question (a level built some offers ago) never skips an event the fair
    share computed afresh would take: demands only grow, so an old level is never lower."""
    shares = HourShares(prior=dict(prior))
    demand: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    pace = 0.0
    for step in script:
        kind, key = step[0], str(step[1]) if step[0] != "advance" else ""
        if kind == "offer":
            shares.offer(shares.key(key), "act")
            demand[key] += 1
        elif kind == "take":
            shares.key(key)
            shares.take(key)
            taken[key] += 1
        elif kind == "advance":
            assert isinstance(step[1], float)
            shares.advance(step[1])
            pace = max(pace, step[1])
        else:
            assert isinstance(step[2], float)
            shares.key(key)
            demands = {k: float(demand[k]) for k in {*demand, key}}
            for k, before in prior.items():
                demands[k] = max(demands.get(k, 0.0), before * min(1.0, pace))
            fresh = taken[key] >= water_level(demands.values(), step[2])
            if shares.over(key, step[2], sure=True):
                assert fresh
