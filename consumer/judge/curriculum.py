"""Pure: each mistake type's subtlety level, moved to keep the judge's difficulty in a band.

With a judge on, the generator is asked for each mistake type at a subtlety level, from 0
(an obvious mistake) to ``LEVELS - 1`` (a subtle one). Each judged pair's difficulty (the
share of answer orders the judge got wrong; 1 for a pair it got wrong in both, which is not
published) goes into its type's window. Once a window is full at the current level, its
mean decides: below the band, the type gets one level subtler; above it, one level more
obvious; inside it, the level stays. The window then starts again, so each decision is
made on pairs of one level only. Levels are bounded by 0 and ``LEVELS - 1``. Unjudged pairs
say nothing about difficulty and are not counted.

Why the default band is 0.15-0.35 (``SELFTAUGHT_TARGET_DIFFICULTY``): a pair the judge gets
right in both orders (0) teaches a critic little it does not already know; one it gets wrong
in both (1) is beyond reach, and Selective DPO (arXiv 2502.09650) finds such pairs hurt, as
ELSPR finds ambiguous ones are noise. A mean near 0.25 means about half the published pairs
fool the judge in one order (0.5) and few in both: hard enough to teach, still decidable.
The band is wide enough that one window's noise (about 0.05 at 40 pairs) rarely moves a level.

Where the levels last: with the offsets. ``encode`` writes them as a section (``TAG``) of the
offset metadata of every partition in each transaction (the runner's ``offset_note``, joined
with the pair budget's section by ``consumer/wire/offset_notes.py``), and ``decode`` reads them
back from the committed offsets of the partitions assigned, at start or after a rebalance;
the newest snapshot wins. So they are committed exactly when the offsets are,
survive a restart and follow the partitions to their next owner, with no other store.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Final

from consumer.events import CURRICULUM, MistakeType
from consumer.generate.subtlety import LEVELS
from consumer.wire import offset_notes

__all__ = ["TAG", "WINDOW", "DifficultyCurriculum", "decode"]

#: Judged pairs per type behind each decision.
WINDOW: Final = 40
_FORMAT: Final = 1
#: How the levels' section of a partition's offset metadata starts: ``encode``'s first key.
TAG: Final = '{"selftaught_levels":'


class DifficultyCurriculum:
    """The levels and the recent difficulties, per mistake type.

    :param band: the target band of mean difficulty, (low, high).
    :param window: judged pairs per type behind each decision.
    :param levels: a snapshot to start from (``decode``'s), else every type at 0.
    :param at_ms: when that snapshot was taken (a newer one found later replaces it).
    """

    def __init__(
        self,
        *,
        band: tuple[float, float],
        window: int = WINDOW,
        levels: Mapping[MistakeType, int] | None = None,
        at_ms: int = 0,
    ) -> None:
        self._low, self._high = band
        self._window = window
        self._levels: dict[MistakeType, int] = dict.fromkeys(CURRICULUM, 0)
        self._recent: dict[MistakeType, deque[float]] = {
            m: deque(maxlen=window) for m in CURRICULUM
        }
        self._at_ms = -1
        if levels is not None:
            self.restore(levels, at_ms)

    def level(self, mistake: MistakeType) -> int:
        """The level to ask for (0 for a type outside the curriculum, ``other``)."""
        return self._levels.get(mistake, 0)

    def levels(self) -> dict[MistakeType, int]:
        return dict(self._levels)

    def mean(self, mistake: MistakeType) -> float | None:
        """The mean difficulty of the type's current window, ``None`` when it is empty."""
        recent = self._recent.get(mistake)
        return sum(recent) / len(recent) if recent else None

    def record(self, mistake: MistakeType, difficulty: float, now_ms: int = 0) -> int:
        """Count one judged pair (difficulty 0, 0.5, or 1 for one not published); returns
        the type's level after it."""
        recent = self._recent.get(mistake)
        if recent is None:
            return 0
        recent.append(difficulty)
        if len(recent) < self._window:
            return self._levels[mistake]
        mean = sum(recent) / len(recent)
        level = self._levels[mistake]
        if mean < self._low and level < LEVELS - 1:
            level += 1
        elif mean > self._high and level > 0:
            level -= 1
        recent.clear()
        if level != self._levels[mistake]:
            self._levels[mistake] = level
            self._at_ms = max(self._at_ms, now_ms)
        return level

    def restore(self, levels: Mapping[MistakeType, int], at_ms: int) -> bool:
        """Adopt a snapshot newer than the levels held; whether it was adopted."""
        if at_ms <= self._at_ms:
            return False
        for mistake, level in levels.items():
            if mistake in self._levels:
                self._levels[mistake] = min(max(int(level), 0), LEVELS - 1)
                self._recent[mistake].clear()
        self._at_ms = at_ms
        return True

    def adopt_newest(self, texts: Iterable[str | None]) -> bool:
        """Adopt the newest snapshot among committed offsets' metadata (any not ours, or
        unreadable, is passed over); whether one was adopted."""
        found = [d for d in (decode(t) for t in texts) if d is not None]
        if not found:
            return False
        at_ms, levels = max(found, key=lambda d: d[0])
        return self.restore(levels, at_ms)

    def encode(self) -> str:
        """The levels as offset metadata (a few hundred bytes, far below the broker's
        offset.metadata.max.bytes of 4096), stamped with when they last changed: levels
        never moved carry 0, so any snapshot that did wins over them."""
        body = {m.value: n for m, n in self._levels.items()}
        return json.dumps(
            {"selftaught_levels": _FORMAT, "at": max(self._at_ms, 0), "levels": body},
            separators=(",", ":"),
        )


def decode(text: str | None) -> tuple[int, dict[MistakeType, int]] | None:
    """``encode``'s text, alone or as a section of offset metadata, back to (at_ms, levels);
    ``None`` for anything else."""
    ours = offset_notes.section(text, TAG)
    if ours is None:
        return None
    try:
        data = json.loads(ours)
        if data.get("selftaught_levels") != _FORMAT:
            return None
        levels = {MistakeType(k): int(v) for k, v in data["levels"].items()}
        return int(data["at"]), levels
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
