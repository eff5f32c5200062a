"""What each hour of event time has spent of the pair budget, per input partition.

The group's budget for an hour is split among the input topic's partitions in whole pairs
(``partition_budget``: the shares add up to the budget exactly), and a pair is charged to
the partition its event came from. An instance may spend what the partitions it holds have
left, so instances together never exceed the group's budget, whatever moves where: a
partition carries its spending with it. That spending is written as the partition's offset
metadata in the transaction that commits the offset (``metadata``), so it is exactly as
durable as the outcomes it counts: a restart or the next owner reads it back on assignment
(``assign``), and what was not committed is neither counted nor done.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from consumer.wire import offset_notes

__all__ = ["HOUR_MS", "KEEP_HOURS", "TAG", "Ledger", "decode", "encode", "partition_budget"]

HOUR_MS: Final = 3_600_000
#: Hours of event time kept per partition; an event older than the newest kept hour by
#: this many is late: its hour's spending is no longer known, so nothing is spent on it.
KEEP_HOURS: Final = 4
#: How the budget's section of a partition's offset metadata starts (consumer/wire/offset_notes.py).
TAG: Final = "selftaught.budget/1 "

TP = tuple[str, int]


def partition_budget(budget: int, partition: int, partitions: int) -> int:
    """Partition ``partition``'s whole share of ``budget`` among ``partitions``."""
    return (partition + 1) * budget // partitions - partition * budget // partitions


def encode(spent: dict[int, int]) -> str:
    """Offset metadata for one partition: its spending per hour (hour = ms // HOUR_MS)."""
    return TAG + ",".join(f"{hour}:{n}" for hour, n in sorted(spent.items()))


def decode(metadata: str | None) -> dict[int, int]:
    """Spending per hour from offset metadata (its budget section; other sections are
    passed over); nothing from metadata that is not ours."""
    ours = offset_notes.section(metadata, TAG)
    if ours is None:
        return {}
    spent: dict[int, int] = {}
    for item in ours[len(TAG) :].split(","):
        hour, sep, n = item.partition(":")
        if sep and hour.isdigit() and n.isdigit():
            spent[int(hour)] = int(n)
    return spent


class _Partition:
    __slots__ = ("budget", "committed", "pending", "spent")

    def __init__(self, *, budget: int, committed: dict[int, int]) -> None:
        """
        :param budget: the partition's pairs per hour
        :param committed: per hour, the pairs spent as committed with its offset
        """
        self.budget = budget
        self.committed = committed  # per hour, as committed with the offset
        self.spent = dict(committed)  # per hour, committed or not
        self.pending: deque[tuple[int, int]] = deque()  # (offset, hour), not yet committed


class Ledger:
    """Spending per partition and hour, for the partitions this instance holds."""

    def __init__(self, *, budget: int) -> None:
        """:param budget: the group's pairs per hour of event time."""
        self._budget = budget
        self._parts: dict[TP, _Partition] = {}
        self._held = 0  # the partitions' shares, asked for every event
        self._newest = 0  # the newest hour seen

    def assign(self, tp: TP, metadata: str | None, partitions: int) -> None:
        """Take a partition, with the spending its committed offset carries."""
        spent = decode(metadata)
        self._newest = max(self._newest, *spent, 0)
        self._parts[tp] = _Partition(
            budget=partition_budget(self._budget, tp[1], partitions), committed=spent
        )
        self._reshare()

    def resize(self, partitions: int) -> None:
        """The input topic now has ``partitions`` partitions: every share changes."""
        for (_, p), part in self._parts.items():
            part.budget = partition_budget(self._budget, p, partitions)
        self._reshare()

    def revoke(self, tp: TP) -> None:
        self._parts.pop(tp, None)
        self._reshare()

    def _reshare(self) -> None:
        self._held = sum(part.budget for part in self._parts.values())

    def held(self) -> list[TP]:
        return list(self._parts)

    def budget(self) -> int:
        """This instance's pairs per hour: its partitions' shares."""
        return self._held

    def spent(self, hour: int) -> int:
        """What this instance's partitions have spent of ``hour``."""
        return sum(part.spent.get(hour, 0) for part in self._parts.values())

    def late(self, hour: int) -> bool:
        return hour <= self._newest - KEEP_HOURS

    def room(self, tp: TP, hour: int) -> bool:
        """Whether the partition has budget left in ``hour``."""
        part = self._parts.get(tp)
        return part is not None and part.spent.get(hour, 0) < part.budget and not self.late(hour)

    def spend(self, tp: TP, hour: int, offset: int) -> None:
        part = self._parts[tp]
        part.spent[hour] = part.spent.get(hour, 0) + 1
        part.pending.append((offset, hour))
        if hour > self._newest:
            self._newest = hour
            for other in self._parts.values():
                _trim(other.spent, hour)
                _trim(other.committed, hour)

    def metadata(self, tp: TP, upto: int) -> str | None:
        """The offset metadata to commit with offset ``upto`` (None: not ours to write)."""
        part = self._parts.get(tp)
        if part is None:
            return None
        spent = dict(part.committed)
        for offset, hour in part.pending:
            if offset >= upto:
                break
            spent[hour] = spent.get(hour, 0) + 1
        _trim(spent, self._newest)
        return encode(spent)

    def committed(self, tp: TP, upto: int) -> None:
        """Offset ``upto`` was committed: what was spent before it is durable."""
        part = self._parts.get(tp)
        if part is None:
            return
        while part.pending and part.pending[0][0] < upto:
            _, hour = part.pending.popleft()
            part.committed[hour] = part.committed.get(hour, 0) + 1
        _trim(part.committed, self._newest)

    def rewind(self, tp: TP) -> None:
        """The partition goes back to its committed offset: what was spent past it is
        spent again when its records are read again."""
        part = self._parts.get(tp)
        if part is None:
            return
        for _, hour in part.pending:
            if part.spent.get(hour, 0) > 0:
                part.spent[hour] -= 1
        part.pending.clear()


def _trim(spent: dict[int, int], newest: int) -> None:
    for hour in [h for h in spent if h <= newest - KEEP_HOURS]:
        del spent[hour]
