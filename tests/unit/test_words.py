"""Words.found: exactly the words of its set that a text holds, as ``in`` tests would say."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.redact.words import Words

_ALPHABET = st.sampled_from(list("ab-:?Φ eé\u2003"))
_WORD = st.text(_ALPHABET, min_size=1, max_size=4)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORD, min_size=1, max_size=12), st.text(_ALPHABET, max_size=80))
def test_found_is_every_word_in_the_text_overlaps_included(words: list[str], text: str) -> None:
    assert Words(words=words).found(text) == {w for w in words if w in text}


def test_a_word_inside_another_and_single_characters_are_found() -> None:
    words = Words(words=["eval", "evaluation", "-", "system:", "@"])
    assert words.found("an evaluation - no system here") == {"eval", "evaluation", "-"}
    assert words.found("") == set()
    assert Words(words=[]).found("anything") == set()
