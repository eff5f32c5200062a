"""Pure: max-min fair shares and how informative an event is."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

__all__ = ["FairLevel", "HourShares", "informativeness", "water_level"]

#: A score change this large (as a share of the Φ scale) is as informative as it gets.
_BIG_DELTA_SHARE: Final = 0.25
#: Keys and action counters tracked per hour; past these, new ones share one entry.
MAX_KEYS: Final = 10_000
MAX_ACTIONS: Final = 50_000
#: Offers between rebuilds of the fair level when it says take.
_REFRESH_EVERY: Final = 16
_OTHER: Final = "\x00other"
_INF: Final = float("inf")


def water_level(demands: Iterable[float], allowance: float) -> float:
    """The max-min fair level: each key gets ``min(demand, level)`` and the shares add up
    to ``allowance`` (infinite when every demand fits)."""
    return FairLevel(demands=demands).level(allowance)


class FairLevel:
    """``water_level`` for one set of demands and any allowance, in O(log keys)."""

    __slots__ = ("_prefix", "_sorted")

    def __init__(self, *, demands: Iterable[float]) -> None:
        """:param demands: each key's demand"""
        self._sorted = sorted(demands)
        self._prefix = [0.0]
        for d in self._sorted:
            self._prefix.append(self._prefix[-1] + d)

    def level(self, allowance: float) -> float:
        d, prefix, k = self._sorted, self._prefix, len(self._sorted)
        if k == 0 or prefix[-1] <= allowance:
            return _INF
        # The first j where giving the k - j largest demands d[j] each reaches the allowance.
        lo, hi = 0, k - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if prefix[mid] + d[mid] * (k - mid) >= allowance:
                hi = mid
            else:
                lo = mid + 1
        return (allowance - prefix[lo]) / (k - lo)


def informativeness(delta: float, width: float, seen_action: int, similarity: float) -> float:
    """How much a pair of this event would teach, from 0 to 1: the mean of how large the
    score change is, how rare the action has been (``seen_action``: times it came before in
    this hour for this key), and how unlike the nearest situation paired so far."""
    big = min(1.0, abs(delta) / (width * _BIG_DELTA_SHARE))
    rare = 1.0 / math.sqrt(1.0 + seen_action)
    novel = 1.0 - max(0.0, min(1.0, similarity))
    return (big + rare + novel) / 3.0


class HourShares:
    """One hour of event time: what each key offered and took, and their fair level.

    A key's demand is what it offered so far this hour (every event not skipped as a
    duplicate) or, if more, what it offered in the hour before times the share of this hour
    gone by: a key whose events come late in the hour keeps its share from the
    keys that come early. Demands only grow within an hour, and a level only falls as they
    grow, so a level built some offers ago is never below the current one: when it says a
    key has had its share, that is so without rebuilding it.
    """

    __slots__ = ("_actions", "_demand", "_level", "_pace", "_prior", "_since", "_taken")

    def __init__(self, *, prior: dict[str, int]) -> None:
        """:param prior: the demand per key of the hour before (empty if none)."""
        self._demand: dict[str, int] = {}
        self._taken: dict[str, int] = {}
        self._actions: dict[tuple[str, str], int] = {}
        self._prior = prior
        self._pace = 0.0  # the largest share of the hour gone by among its events
        self._level: FairLevel | None = None
        self._since = 0  # offers since the level was built

    @property
    def demand(self) -> dict[str, int]:
        return self._demand

    def key(self, key: str) -> str:
        """The key as counted: past ``MAX_KEYS`` in the hour, new keys share one."""
        if key not in self._demand:
            if len(self._demand) >= MAX_KEYS:
                key = _OTHER
            if key not in self._demand:
                self._level = None  # a new key changes every share
                self._demand[key] = 0
        return key

    def seen(self, key: str, action: str) -> int:
        """Times ``action`` was offered by ``key`` before, this hour."""
        return self._actions.get((key, action), 0)

    def offer(self, key: str, action: str) -> None:
        """Count an event of ``key`` not skipped as a duplicate."""
        self._demand[key] += 1
        pair = (key, action)
        seen = self._actions.get(pair, 0)
        if seen or len(self._actions) < MAX_ACTIONS:
            self._actions[pair] = seen + 1
        self._since += 1

    def advance(self, pace: float) -> None:
        """An event at ``pace`` (share of the hour gone by) arrived."""
        if pace > self._pace:
            self._pace = pace

    def take(self, key: str) -> None:
        self._taken[key] = self._taken.get(key, 0) + 1

    def over(self, key: str, allowance: float, *, sure: bool = False) -> bool:
        """Whether ``key`` has had its max-min fair share of ``allowance``. With ``sure`` the
        level as built answers (it is built only if there is none): a yes is then certain,
        a no may be stale."""
        taken = self._taken.get(key, 0)
        level = self._built().level(allowance)
        if taken >= level or sure:
            return taken >= level
        # Taken on a level a few offers old; an unbounded one (every demand fitted) is
        # rebuilt at once, since the next offer may be the one that no longer fits.
        if self._since < _REFRESH_EVERY and level < _INF:
            return False
        self._level = None
        return taken >= self._built().level(allowance)

    def _built(self) -> FairLevel:
        if self._level is None:
            share = min(1.0, self._pace)
            demands: dict[str, float] = dict(self._demand)
            for k, before in self._prior.items():
                demands[k] = max(demands.get(k, 0), before * share)
            self._level = FairLevel(demands=demands.values())
            self._since = 0
        return self._level
