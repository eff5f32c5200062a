import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.errors import GenerationFailed
from consumer.events import MistakeType, WrongEvaluation
from consumer.stages.qualify import Scale
from consumer.stages.validate import contrast_problem, ensure_contrast, same_text
from tests.unit.factories import score_event

E = score_event(phi_before=3, phi_after=6)
S = Scale(0, 10)


def wrong(phi: float, reasoning: str = "flawed") -> WrongEvaluation:
    return WrongEvaluation(phi, reasoning, MistakeType.OTHER)


@pytest.mark.parametrize(
    ("w", "needle"),
    [
        (wrong(math.nan), "nan"),
        (wrong(11), "outside"),
        (wrong(-1), "outside"),
        (wrong(6.5), "only 0.5"),
        (wrong(9, "   "), "empty"),
        (wrong(9, "two of THREE failures are fixed;  one remains."), "repeats"),
    ],
)
def test_problems_are_named(w: WrongEvaluation, needle: str) -> None:
    problem = contrast_problem(E, w, S, 1.0)
    assert problem is not None and needle in problem.lower()
    with pytest.raises(GenerationFailed) as exc:
        ensure_contrast(E, w, S, 1.0)
    assert exc.value.reason == "invalid_contrast" and exc.value.stage == "generate"


@pytest.mark.parametrize("phi", [5.0, 7.0, 0.0, 10.0])
def test_a_real_contrast_passes(phi: float) -> None:
    assert contrast_problem(E, wrong(phi), S, 1.0) is None


def test_unknown_mistake_text_maps_to_other() -> None:
    assert MistakeType.parse("Sycophancy") is MistakeType.SYCOPHANCY
    assert MistakeType.parse("ignored evidence") is MistakeType.IGNORED_EVIDENCE
    assert MistakeType.parse("overconfidence") is MistakeType.OTHER


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


# Words from a small alphabet (so that texts often agree), with every kind of whitespace,
# letters whose case folding changes their length (ß and ŉ fold to two), and long texts whose
# difference is past the first glance.
words = st.text(alphabet="aAbBßSsŉ", min_size=1, max_size=6)
spaces = st.text(alphabet=" \t\n\u00a0\u2003\u3000", min_size=1, max_size=3)
texts = st.builds(
    lambda head, ws, tail: head + "".join(w + s for w, s in zip(tail, ws, strict=False)),
    st.sampled_from(["", " ", "\t"]),
    st.lists(spaces, max_size=40),
    st.lists(words, max_size=40),
)


@given(texts, texts)
def test_same_text_is_equality_up_to_whitespace_and_case(a: str, b: str) -> None:
    assert same_text(a, b) == (normalised(a) == normalised(b))


@given(texts, st.data())
def test_a_text_rewritten_in_other_case_and_spacing_is_the_same(
    a: str, data: st.DataObject
) -> None:
    b = "  ".join(w.upper() if data.draw(st.booleans()) else w for w in a.split())
    assert same_text(a, b) and same_text(b, a)
