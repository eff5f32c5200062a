"""Places in line for the generator, fair across partitions (start-time fair queuing)."""

from __future__ import annotations

import heapq
from collections import Counter

__all__ = ["FairPlaces"]


class FairPlaces:
    """Places in line for the generator: each partition's records in read order, and the
    partitions interleaved, so one partition's backlog does not hold the others behind it.

    Start-time fair queuing with a unit cost: a record's place is the later of its
    partition's next place and the front of the line (the lowest place taken and not yet
    done). A partition with a backlog takes consecutive places; one that comes later starts
    at the front, beside it, not behind it. Within a partition places only grow, so its
    first records, the ones its committed offset waits for, go first. (Read order alone
    served whole partitions one after another: librdkafka hands over a partition's records
    in long runs.) The front is the lowest place outstanding, not the latest one done: a
    record that fails at once, far back in line, does not move the front.
    """

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], float] = {}
        self._taken: list[float] = []  # a heap of places taken; done ones leave it lazily
        self._done: Counter[float] = Counter()
        self._last_done = 0.0

    def take(self, topic: str, partition: int) -> float:
        tp = (topic, partition)
        place = max(self._next.get(tp, 0.0), self.front())
        self._next[tp] = place + 1.0
        heapq.heappush(self._taken, place)
        return place

    def done(self, place: float) -> None:
        self._done[place] += 1
        self._last_done = max(self._last_done, place)

    def front(self) -> float:
        taken, done = self._taken, self._done
        while taken and taken[0] in done:
            place = heapq.heappop(taken)
            done[place] -= 1
            if not done[place]:
                del done[place]
        return taken[0] if taken else self._last_done
