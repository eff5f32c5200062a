"""Pure: max-min fair shares and how informative an event is."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

__all__ = ["FairLevel", "informativeness", "water_level"]

#: A score change this large (as a share of the Φ scale) is as informative as it gets.
_BIG_DELTA_SHARE: Final = 0.25


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
            return float("inf")
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
