"""Pure: which words of a fixed set a text holds, found in one pass over it.

The redaction's gates (about seventy-five words) and the card check (about a hundred and
thirty) each ask which of their words are in a text, for every text the service handles. One
``in`` test costs most of a microsecond on a card (about 700 characters), so asking them one by
one cost more than every other stage; an Aho-Corasick automaton (``ahocorasick-rs``, in Rust)
finds them all in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from ahocorasick_rs import AhoCorasick, Implementation

__all__ = ["Words"]


class Words:
    """A fixed set of words, and which of them a text holds.

    :param words: the words looked for (repeats are fine; case matters).
    """

    __slots__ = ("_chars", "_finder")

    def __init__(self, *, words: Iterable[str]) -> None:
        every = sorted(set(words))
        longer = [w for w in every if len(w) > 1]
        # A single character is found by ``in`` at memchr's speed, and in the automaton it
        # would be reported at every occurrence (":" and "-" are in most texts).
        self._chars: tuple[str, ...] = tuple(w for w in every if len(w) == 1)
        # A DFA: the same speed for forty words or a hundred and thirty (the default, an NFA,
        # took two and a half times as long with the card check's words).
        self._finder: AhoCorasick | None = (
            AhoCorasick(longer, implementation=Implementation.DFA) if longer else None
        )

    def found(self, text: str) -> set[str]:
        """The words ``text`` holds (every one of them, overlapping ones included)."""
        found: set[str] = (
            set(self._finder.find_matches_as_strings(text, overlapping=True))
            if self._finder is not None
            else set()
        )
        for c in self._chars:
            if c in text:
                found.add(c)
        return found
