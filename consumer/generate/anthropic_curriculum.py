"""Pure: which mistake type to ask for next, so the cards stay balanced across the five.

The model does not always make the mistake it is asked for, so the curriculum counts what
was achieved over a recent window and asks for the type least produced there. Requests still
in flight count as if they had succeeded: a burst of concurrent calls spreads over the types
instead of all asking for the same one. Ties go in the rules generator's order from a stable
hash of the event id, so one event asks for the same type on a retry whenever the counts
allow it.
"""

from __future__ import annotations

from collections import Counter, deque

from consumer.events import CURRICULUM, MistakeType, ScoreEvent
from consumer.generate.rules import start_index
from consumer.stages.qualify import Scale


def feasible(mistake: MistakeType, event: ScoreEvent, scale: Scale, min_contrast: float) -> bool:
    """Whether the mistake can yield a valid contrast at all (sycophancy only inflates)."""
    if mistake is MistakeType.SYCOPHANCY:
        return event.score.phi_after + min_contrast <= scale.high + 1e-9
    return True


class Curriculum:
    """Balanced requests over the last ``window`` successes."""

    def __init__(self, *, window: int = 200) -> None:
        """:param window: how many recent successes the balance is kept over"""
        self._recent: deque[MistakeType] = deque(maxlen=window)
        self._achieved: Counter[MistakeType] = Counter()
        self._pending: Counter[MistakeType] = Counter()

    def choose(self, event_id: str, allowed: tuple[MistakeType, ...] = CURRICULUM) -> MistakeType:
        """The type to request for this event; marks it pending until ``done``."""
        candidates = allowed or CURRICULUM
        first = start_index(event_id)
        order = [CURRICULUM[(first + i) % len(CURRICULUM)] for i in range(len(CURRICULUM))]
        ranked = [m for m in order if m in candidates]
        mistake = min(ranked, key=lambda m: self._achieved[m] + self._pending[m])
        self._pending[mistake] += 1
        return mistake

    def done(self, requested: MistakeType, achieved: MistakeType | None) -> None:
        """Close a request: ``achieved`` is what the model made, ``None`` if it failed."""
        if self._pending[requested] > 0:
            self._pending[requested] -= 1
        if achieved is None:
            return
        if len(self._recent) == self._recent.maxlen:
            self._achieved[self._recent[0]] -= 1
        self._recent.append(achieved)
        self._achieved[achieved] += 1

    def counts(self) -> dict[MistakeType, int]:
        """What was achieved in the window, by type (``other`` included)."""
        return {m: self._achieved[m] for m in MistakeType}
