"""Pure decisions over frozen events: which qualifying events become pairs.

Between qualifying and generating, each event is asked, cheapest question first:

1. Has its partition's share of this hour's budget been spent, or is the hour so late that
   its spending is no longer known? Skip it (``over_budget``), or, in ``wait`` mode, wait
   for the next hour (in that mode the duplicate question comes first, so that a duplicate
   never waits).
2. The budget is spread over the hour of event time: by a time in the hour, the share of
   the hour gone by is allowed, plus a lead that grows with the event's informativeness
   (``fair.informativeness``), so routine steps wait for the pace and informative ones go
   first. Has its key (purpose, agent) had its max-min fair share of that allowance
   (``fair.HourShares``)? ``over_share``. With no key, is the allowance spent?
   ``over_budget``. Asked first with the largest lead the event could have (its
   situation's novelty is not known yet), so that an event over it needs no sketch.
3. Is its situation a repeat of one paired recently, or near one? Skip it (``duplicate``).
   An exact repeat (the same outline) is found by a hash; only the others are sketched.
4. The fair share again, with the event's own informativeness.

Otherwise the event is taken: its partition is charged, its situation remembered.

The state (the memory of situations, the ledger, the hour's demands per key) is all the
selector keeps; each part is bounded by a count, and the memory also by age.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from consumer.events import ScoreEvent
from consumer.selection.fair import HourShares, informativeness
from consumer.selection.ledger import HOUR_MS, KEEP_HOURS, TP, Ledger
from consumer.selection.memory import SituationMemory
from consumer.selection.situation import outline, shingles

__all__ = ["Policy", "Selector", "Unselected", "Wait"]

#: Every event may run this far (a share of the hour) ahead of the pace ...
LEAD_MIN: Final = 0.02
#: ... and the most informative one this much further.
LEAD_INFO: Final = 0.08
_LOW64: Final = (1 << 64) - 1


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


@dataclass(frozen=True, slots=True)
class _Situation:
    """A situation found new: what remembering it takes, and how near the nearest was."""

    keys: list[int]
    sig: int
    exact: int
    owner: int
    similarity: float

    def remember(self, memory: SituationMemory, ts_ms: int) -> None:
        memory.remember(self.keys, self.sig, owner=self.owner, ts_ms=ts_ms, outline=self.exact)


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
        self._hours: dict[int, HourShares] = {}
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
        if self.policy.mode == "wait":
            return self._decide_waiting(event, tp, offset, now_ms)
        ts = event.timestamp_ms
        hour = ts // HOUR_MS
        if self.ledger.late(hour):
            return Unselected.OVER_BUDGET
        shares = self._hour(hour)
        key = shares.key(self.key_of(event))
        action = event.score.action_name
        pace = (ts % HOUR_MS) / HOUR_MS + LEAD_MIN
        shares.advance(pace)
        if not self.ledger.room(tp, hour):
            shares.offer(key, action)
            return Unselected.OVER_BUDGET
        width, delta, seen = self.policy.scale_width, event.delta, shares.seen(key, action)
        most = informativeness(delta, width, seen, 0.0)
        if over := self._over(shares, key, hour, pace + LEAD_INFO * most, sure=True):
            shares.offer(key, action)
            return over
        found = self._situation(event)
        if found is None:
            return Unselected.DUPLICATE
        shares.offer(key, action)
        u = informativeness(delta, width, seen, found.similarity)
        if over := self._over(shares, key, hour, pace + LEAD_INFO * u):
            return over
        self.ledger.spend(tp, hour, offset)
        shares.take(key)
        found.remember(self.memory, ts)
        return None

    def _decide_waiting(self, event: ScoreEvent, tp: TP, offset: int, now_ms: int) -> Choice:
        hour = now_ms // HOUR_MS
        found = self._situation(event)
        if found is None:
            return Unselected.DUPLICATE
        if self.ledger.late(hour):
            return Unselected.OVER_BUDGET
        shares = self._hour(hour)
        key = shares.key(self.key_of(event))
        shares.offer(key, event.score.action_name)
        if not self.ledger.room(tp, hour):
            return Wait((hour + 1) * HOUR_MS)
        self.ledger.spend(tp, hour, offset)
        shares.take(key)
        found.remember(self.memory, event.timestamp_ms)
        return None

    def _over(
        self, shares: HourShares, key: str, hour: int, ahead: float, *, sure: bool = False
    ) -> Unselected | None:
        """Whether the key (or, with no key, the instance) has had its share of what is
        allowed ``ahead`` (a share of the hour) into the hour."""
        allowance = max(1.0, self.ledger.budget() * min(1.0, ahead))
        if self.policy.fair_share_key == "none":
            return Unselected.OVER_BUDGET if self.ledger.spent(hour) >= allowance else None
        # The keys' fair shares of the allowance add up to it: a key under its share takes
        # it even when others took the pace's latest pairs first.
        return Unselected.OVER_SHARE if shares.over(key, allowance, sure=sure) else None

    def _situation(self, event: ScoreEvent) -> _Situation | None:
        """The event's situation, or None when it repeats one remembered or is near one."""
        score = event.score
        owner = zlib.crc32(event.event_id.encode("utf-8", "surrogatepass"))
        context = f"{event.purpose}\x1f{score.action_name}"
        exact = hash((context, outline(score.state_before), outline(score.state_after)))
        exact &= _LOW64
        memory = self.memory
        if memory.is_duplicate(1.0) and memory.repeated(exact, owner):
            return None
        keys, sig = memory.sketch(context, shingles(score.state_before, score.state_after))
        similarity = memory.near(keys, sig, owner)
        if memory.is_duplicate(similarity):
            return None
        return _Situation(keys, sig, exact, owner, similarity)

    def key_of(self, event: ScoreEvent) -> str:
        """The event's fair-share key."""
        k = self.policy.fair_share_key
        if k == "purpose":
            return event.purpose
        if k == "agent_id":
            return event.agent_id or ""
        return ""

    def _hour(self, hour: int) -> HourShares:
        h = self._hours.get(hour)
        if h is None:
            before = self._hours.get(hour - 1)
            h = self._hours[hour] = HourShares(prior=dict(before.demand) if before else {})
            for old in [k for k in self._hours if k <= hour - KEEP_HOURS]:
                del self._hours[old]
        return h

    def hour_spent(self, now_ms: int) -> tuple[int, int]:
        """This instance's budget and what the newest hour has spent of it (for metrics)."""
        newest = max(self._hours, default=now_ms // HOUR_MS)
        return self.ledger.budget(), self.ledger.spent(newest)
