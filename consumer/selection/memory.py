"""The situations paired recently, to recognise a near-duplicate: bounded by count and age.

A situation is sketched with MinHash (``rensa``: Rust, about 3 µs for a state's shingles,
and half a megabyte in the image; bench/README.md compares it with datasketch and simhash).
Candidates are found by locality-sensitive hashing over ``_BANDS`` bands of ``_ROWS``
MinHash values, and a candidate counts only when the low four bits of all the values
(b-bit MinHash, 16 bytes) agree well enough to estimate a Jaccard similarity at or over the
threshold.

Most duplicates are exact repeats once ids, numbers and timestamps are taken out, and an
exact repeat needs no sketch: each situation is also remembered by a 64-bit hash of its
outline (``situation.outline``), and ``repeated`` finds it by that alone. An equal outline
normalises to the same words, so a repeat found this way is exactly one that ``near``
would find at similarity 1.

The libraries' own LSH indexes keep a Python or Rust object per band per item (1-3 KB a
situation); at a million situations that is gigabytes. Here every remembered situation is a
few fixed-size slots in ``array`` buffers: one open-addressing table for all its keys (the
bands' and the outline's), whose entries point at the keys where they are kept, and a ring
of signatures, event times and keys in insertion order, so the oldest is forgotten first,
by count or by age (about 84 bytes a situation).
"""

from __future__ import annotations

import zlib
from array import array
from typing import Final

import rensa

__all__ = ["SituationMemory"]

_PERM: Final = 32  # MinHash values per situation: J estimated to within ~0.09 (one sd)
_BITS: Final = 4  # kept of each value: two differ by chance with p 1/16
_BANDS: Final = 5
_ROWS: Final = 3  # 5 bands of 3: a pair at J 0.8 shares a band with p 0.97, at J 0.3 with 0.13
_SEED: Final = 20_260_101
_KEYS: Final = _BANDS + 1  # a situation's keys in the table: its bands', then its outline's
_LOAD: Final = 1.3  # table slots per key: linear probing stays short below ~0.8 full
_GOLDEN: Final = 0x9E3779B1
_LOW32: Final = 0xFFFFFFFF
_LOW64: Final = (1 << 64) - 1
_NIBBLE: Final = (1 << _BITS) - 1
_FIRST_BITS: Final = int("0001" * _PERM, 2)  # the lowest bit of each 4-bit group
_CHANCE: Final = 1.0 / (1 << _BITS)


def _similarity(a: int, b: int) -> float:
    """Jaccard similarity estimated from 4-bit MinHash signatures: two values agree
    with probability J + (1 - J) / 16."""
    x = a ^ b
    x |= x >> 1
    x |= x >> 2
    agree = 1.0 - (x & _FIRST_BITS).bit_count() / _PERM
    return (agree - _CHANCE) / (1.0 - _CHANCE)


class SituationMemory:
    """Remembered situations: ``repeated`` and ``near`` ask, ``remember`` adds; the oldest
    go first."""

    def __init__(self, *, capacity: int, max_age_ms: int, threshold: float) -> None:
        """
        :param capacity: how many situations are remembered at most (under 700 million:
            a table entry is a 32-bit place among the keys).
        :param max_age_ms: a situation older than this, in event time, is forgotten.
        :param threshold: the estimated Jaccard similarity at which two are the same.
        """
        if not 0 < capacity * _KEYS < _LOW32:
            raise ValueError(f"a situation memory holds 1 to {_LOW32 // _KEYS - 1} situations")
        self._cap = capacity
        self._max_age = max_age_ms
        self._threshold = threshold
        self._size = int(capacity * _KEYS * _LOAD) + 1
        self._table = array("I", bytes(4 * self._size))  # a key's place in _keys + 1; 0 empty
        self._keys = array("I", bytes(4 * capacity * _KEYS))  # per slot: band keys, outline's low
        self._outline = array("I", bytes(4 * capacity))  # the outline hash's high 32 bits
        self._sig = array("Q", bytes(16 * capacity))  # two words a situation
        self._ts = array("I", bytes(4 * capacity))  # event time, seconds
        self._owner = array("I", bytes(4 * capacity))  # who remembered it (an event id hash)
        self._oldest = 0  # ring position of the oldest situation
        self._count = 0
        self._newest_ts = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held in the buffers (the whole of the memory's state)."""
        return sum(
            a.buffer_info()[1] * a.itemsize
            for a in (self._table, self._keys, self._outline, self._sig, self._ts, self._owner)
        )

    @staticmethod
    def sketch(context: str, shingles: list[str]) -> tuple[list[int], int]:
        """The band keys and the one-bit signature of a situation. ``context`` must match
        exactly (the purpose and the action), the shingles only nearly."""
        m = rensa.RMinHash(num_perm=_PERM, seed=_SEED)
        m.update(shingles or [""])
        values = m.digest()
        within = zlib.crc32(context.encode("utf-8", "surrogatepass"))
        keys = [
            hash((band, within, *values[band * _ROWS : (band + 1) * _ROWS])) & _LOW32
            for band in range(_BANDS)
        ]
        sig = 0
        for v in values:
            sig = (sig << _BITS) | (v & _NIBBLE)
        return keys, sig

    def repeated(self, outline: int, owner: int) -> bool:
        """Whether a situation with this outline hash (64 bits) is remembered, other than
        by ``owner`` itself (the same event, read again after a rewind)."""
        low, high = outline & _LOW32, outline >> 32 & _LOW32
        table, keys, size = self._table, self._keys, self._size
        i = (low * _GOLDEN) % size
        entry = table[i]
        while entry:
            if keys[entry - 1] == low and entry % _KEYS == 0:  # the slot's last key
                slot = entry // _KEYS - 1
                if self._outline[slot] == high and self._owner[slot] != owner:
                    return True
            i = i + 1 if i + 1 < size else 0
            entry = table[i]
        return False

    def near(self, keys: list[int], sig: int, owner: int) -> float:
        """The highest estimated similarity to a remembered situation sharing a band
        (0.0 when none does). A situation remembered by ``owner`` itself does not count."""
        best = 0.0
        table, kept, size = self._table, self._keys, self._size
        for key in keys:
            i = (key * _GOLDEN) % size
            entry = table[i]
            while entry:
                if kept[entry - 1] == key:
                    slot = (entry - 1) // _KEYS
                    if self._owner[slot] != owner:
                        had = self._sig[2 * slot] << 64 | self._sig[2 * slot + 1]
                        best = max(best, _similarity(sig, had))
                i = i + 1 if i + 1 < size else 0
                entry = table[i]
        return best

    def is_duplicate(self, similarity: float) -> bool:
        return similarity >= self._threshold

    def remember(self, keys: list[int], sig: int, *, owner: int, ts_ms: int, outline: int) -> None:
        """Remember a situation paired at event time ``ts_ms``, with its outline hash;
        forget what is too old, and the oldest when full."""
        self._newest_ts = max(self._newest_ts, ts_ms)
        self.expire(self._newest_ts)
        if self._count == self._cap:
            self._forget_oldest()
        slot = (self._oldest + self._count) % self._cap
        self._count += 1
        self._sig[2 * slot] = (sig >> 64) & _LOW64
        self._sig[2 * slot + 1] = sig & _LOW64
        self._ts[slot] = min(max(0, ts_ms // 1000), _LOW32)
        self._owner[slot] = owner
        self._outline[slot] = outline >> 32 & _LOW32
        place = slot * _KEYS
        for key in (*keys, outline & _LOW32):
            self._keys[place] = key
            self._insert(key, place)
            place += 1

    def expire(self, now_ms: int) -> None:
        """Forget the situations remembered more than the age limit before ``now_ms``."""
        oldest_kept = (now_ms - self._max_age) // 1000
        while self._count and self._ts[self._oldest] < oldest_kept:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        place = self._oldest * _KEYS
        for k in range(place, place + _KEYS):
            self._delete(self._keys[k], k)
        self._oldest = (self._oldest + 1) % self._cap
        self._count -= 1

    def _insert(self, key: int, place: int) -> None:
        table, size = self._table, self._size
        i = (key * _GOLDEN) % size
        while table[i]:
            i = i + 1 if i + 1 < size else 0
        table[i] = place + 1

    def _delete(self, key: int, place: int) -> None:
        # Linear probing's backward-shift deletion: no tombstones, so the table never
        # fills with the dead and a lookup stops at the first empty place.
        table, kept, size = self._table, self._keys, self._size
        wanted = place + 1
        i = (key * _GOLDEN) % size
        while table[i] != wanted:
            if not table[i]:
                return
            i = i + 1 if i + 1 < size else 0
        j = i
        while True:
            j = j + 1 if j + 1 < size else 0
            entry = table[j]
            if not entry:
                break
            home = (kept[entry - 1] * _GOLDEN) % size
            # Move the entry back into the hole unless its home lies cyclically in (i, j].
            if (i <= j and (home <= i or home > j)) or (i > j and home <= i and home > j):
                table[i] = entry
                i = j
        table[i] = 0
