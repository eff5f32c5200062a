"""Pure decisions over frozen events: which qualifying events become pairs.

Between qualifying and generating, each event is asked, in this order:

1. Is its situation a near-duplicate of one paired recently? Skip it (``duplicate``).
2. Has its partition's share of this hour's budget been spent, or is the hour so late
   that its spending is no longer known? Skip it (``over_budget``), or, in ``wait`` mode,
   wait for the next hour.
3. The budget is spread over the hour of event time: by a time in the hour, the share of
   the hour gone by is allowed, plus a lead that grows with the event's informativeness
   (``fair.informativeness``), so routine steps wait for the pace and informative ones go
   first. Has its key (purpose, agent) had its max-min fair share of that allowance, given
   how many new situations each key has offered this hour (or had offered by this time the
   hour before, if more)? ``over_share``. With no key, is the allowance spent?
   ``over_budget``.

Otherwise the event is taken: its partition is charged, its situation remembered.

The state (the memory of situations, the ledger, the hour's demands per key) is all the
selector keeps; each part is bounded by a count, and the memory also by age.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from consumer.events import ScoreEvent
from consumer.selection.fair import FairLevel, informativeness
from consumer.selection.ledger import HOUR_MS, KEEP_HOURS, TP, Ledger
from consumer.selection.memory import SituationMemory
from consumer.selection.situation import shingles

__all__ = ["Policy", "Selector", "Unselected", "Wait"]

#: Every event may run this far (a share of the hour) ahead of the pace ...
LEAD_MIN: Final = 0.02
#: ... and the most informative one this much further.
LEAD_INFO: Final = 0.08
#: Keys and action counters tracked per hour; past these, new ones share one entry.
MAX_KEYS: Final = 10_000
MAX_ACTIONS: Final = 50_000
_REFRESH_EVERY: Final = 16  # decisions between rebuilds of the fair level
_OTHER: Final = "\x00other"


class Unselected(StrEnum):
    """Why a qualifying event is not paired (each is counted, none is an error)."""

    DUPLICATE = "duplicate"
    OVER_BUDGET = "over_budget"
    OVER_SHARE = "over_share"


@dataclass(frozen=True, slots=True)
class Wait:
    """``wait`` mode: the event's hour is spent; ask again at ``until_ms`` (wall clock)."""

    until_ms: int


Choice = Unselected | Wait | None  # None: take it


@dataclass(frozen=True, slots=True)
class Policy:
    """:param budget_per_hour: the group's pairs per hour (event time in ``select`` mode,
    wall time in ``wait`` mode).
    :param fair_share_key: whose shares are max-min fair.
    :param duplicate_similarity: the estimated Jaccard similarity of two situations' states
    (same purpose and action) at which the later is a duplicate; over 1 turns it off.
    :param memory_size: situations remembered at most.
    :param memory_max_age_ms: event time after which a situation is forgotten.
    :param scale_width: the Φ scale's width, to weigh a score change.
    """

    budget_per_hour: int
    mode: Literal["select", "wait"] = "select"
    fair_share_key: Literal["purpose", "agent_id", "none"] = "purpose"
    duplicate_similarity: float = 0.8
    memory_size: int = 200_000
    memory_max_age_ms: int = 24 * HOUR_MS
    scale_width: float = 10.0


@dataclass(slots=True)
class _Hour:
    demand: dict[str, int] = field(default_factory=dict)  # new situations offered, per key
    taken: dict[str, int] = field(default_factory=dict)
    actions: dict[tuple[str, str], int] = field(default_factory=dict)
    prior: dict[str, int] = field(default_factory=dict)  # the hour before's demand
    level: FairLevel | None = None
    since_refresh: int = 0


class Selector:
    """Decides, per qualifying event, whether it becomes a pair (``decide``); told by the
    runner which partitions it holds and what their commits carry."""

    def __init__(self, *, policy: Policy) -> None:
        """:param policy: the settings the decisions follow."""
        self.policy = policy
        self.memory = SituationMemory(
            capacity=policy.memory_size,
            max_age_ms=policy.memory_max_age_ms,
            threshold=policy.duplicate_similarity,
        )
        self.ledger = Ledger(budget=policy.budget_per_hour)
        self._hours: dict[int, _Hour] = {}
        self._partitions = 0

    # -- the runner's seam ------------------------------------------------------------

    def assign(self, owned: dict[TP, str | None], partitions: int) -> None:
        """Partitions taken, with their committed offsets' metadata; ``partitions``: how
        many the input topic has (each holder's share follows from it)."""
        if partitions != self._partitions:
            self._partitions = partitions
            self.ledger.resize(partitions)
        for tp, metadata in owned.items():
            self.ledger.assign(tp, metadata, partitions)

    def revoke(self, tps: list[TP]) -> None:
        for tp in tps:
            self.ledger.revoke(tp)

    def metadata(self, tp: TP, upto: int) -> str | None:
        """What to commit as ``tp``'s offset metadata with offset ``upto``."""
        return self.ledger.metadata(tp, upto)

    def committed(self, tp: TP, upto: int) -> None:
        self.ledger.committed(tp, upto)

    def rewind(self, tps: list[TP]) -> None:
        for tp in tps:
            self.ledger.rewind(tp)

    # -- the decision -------------------------------------------------------------------

    def decide(self, event: ScoreEvent, tp: TP, offset: int, now_ms: int) -> Choice:
        """Take the event (None), skip it (why), or wait (``wait`` mode)."""
        p = self.policy
        score = event.score
        ts = event.timestamp_ms if p.mode == "select" else now_ms
        hour = ts // HOUR_MS
        owner = zlib.crc32(event.event_id.encode("utf-8", "surrogatepass"))
        keys, sig = self.memory.sketch(
            f"{event.purpose}\x1f{score.action_name}",
            shingles(score.state_before, score.state_after),
        )
        similarity = self.memory.near(keys, sig, owner)
        if self.memory.is_duplicate(similarity):
            return Unselected.DUPLICATE
        if self.ledger.late(hour):
            return Unselected.OVER_BUDGET
        h = self._hour(hour)
        key = self._key(event, h)
        h.demand[key] = h.demand.get(key, 0) + 1
        action = (key, score.action_name)
        seen = h.actions.get(action, 0)
        if seen or len(h.actions) < MAX_ACTIONS:
            h.actions[action] = seen + 1
        h.since_refresh += 1
        if p.mode == "wait":
            if not self.ledger.room(tp, hour):
                return Wait((hour + 1) * HOUR_MS)
        else:
            if not self.ledger.room(tp, hour):
                return Unselected.OVER_BUDGET
            u = informativeness(event.delta, p.scale_width, seen, similarity)
            ahead = (ts % HOUR_MS) / HOUR_MS + LEAD_MIN + LEAD_INFO * u
            allowance = max(1.0, self.ledger.budget() * min(1.0, ahead))
            if p.fair_share_key == "none":
                if self.ledger.spent(hour) >= allowance:
                    return Unselected.OVER_BUDGET
            elif h.taken.get(key, 0) >= self._level(h, key, allowance, ahead):
                # The keys' fair shares of the allowance add up to it: a key under its
                # share takes it even when others took the pace's latest pairs first.
                return Unselected.OVER_SHARE
        self.ledger.spend(tp, hour, offset)
        h.taken[key] = h.taken.get(key, 0) + 1
        self.memory.remember(keys, sig, owner, event.timestamp_ms)
        return None

    def key_of(self, event: ScoreEvent) -> str:
        """The event's fair-share key."""
        k = self.policy.fair_share_key
        if k == "purpose":
            return event.purpose
        if k == "agent_id":
            return event.agent_id or ""
        return ""

    def _key(self, event: ScoreEvent, h: _Hour) -> str:
        key = self.key_of(event)
        if key not in h.demand and len(h.demand) >= MAX_KEYS:
            return _OTHER
        if key not in h.demand:
            h.level = None  # a new key changes every share
        return key

    def _hour(self, hour: int) -> _Hour:
        h = self._hours.get(hour)
        if h is None:
            before = self._hours.get(hour - 1)
            h = self._hours[hour] = _Hour(prior=dict(before.demand) if before else {})
            for old in [k for k in self._hours if k <= hour - KEEP_HOURS]:
                del self._hours[old]
        return h

    @staticmethod
    def _level(h: _Hour, key: str, allowance: float, ahead: float) -> float:
        # A key's demand is what it has offered so far this hour or, if more, what it had
        # offered by this time in the hour before: a key whose events come late in the
        # hour keeps its share from the keys that come early. Rebuilt every few decisions,
        # and whenever the answer would be to skip or the level is unbounded.
        level = h.level.level(allowance) if h.level is not None else float("inf")
        if h.since_refresh < _REFRESH_EVERY and h.taken.get(key, 0) < level < float("inf"):
            return level  # a level a few decisions old still says take it
        share = min(1.0, ahead)
        demands: dict[str, float] = dict(h.demand)
        for k, before in h.prior.items():
            demands[k] = max(demands.get(k, 0), before * share)
        h.level = FairLevel(demands=demands.values())
        h.since_refresh = 0
        return h.level.level(allowance)

    def hour_spent(self, now_ms: int) -> tuple[int, int]:
        """This instance's budget and what the newest hour has spent of it (for metrics)."""
        newest = max(self._hours, default=now_ms // HOUR_MS)
        return self.ledger.budget(), self.ledger.spent(newest)
