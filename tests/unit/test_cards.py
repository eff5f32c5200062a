import uuid

from hypothesis import given
from hypothesis import strategies as st

from consumer.cards import (
    CALIBRATION,
    FAILURE,
    PATTERN,
    TRUNCATION_MARKER,
    CardPolicy,
    _uuid5,
    build_cards,
    shorten,
)
from consumer.events import ContrastPair, MistakeType, WrongEvaluation
from tests.unit.factories import score_event

POLICY = CardPolicy(trust_score=0.7, text_limit=16_000)


def pair(reasoning: str = "It merely tried.") -> ContrastPair:
    return ContrastPair(
        event=score_event("ev-42", 3, 6),
        wrong=WrongEvaluation(9.0, reasoning, MistakeType.SYCOPHANCY),
        generator="rules/1",
    )


def test_ids_follow_the_contract_formula() -> None:
    ok, bad = build_cards(pair(), POLICY, now_ms=123)
    assert ok.pair_id == bad.pair_id == str(uuid.uuid5(uuid.NAMESPACE_URL, "selftaught/pair/ev-42"))
    assert ok.card_id == str(
        uuid.uuid5(uuid.NAMESPACE_URL, "selftaught/card/ev-42/critic_calibration")
    )
    assert bad.card_id == str(
        uuid.uuid5(uuid.NAMESPACE_URL, "selftaught/card/ev-42/failure_pattern")
    )


def test_the_two_cards_carry_the_contract_semantics() -> None:
    p = pair()
    ok, bad = build_cards(p, POLICY, now_ms=123)
    assert (ok.kind, bad.kind) == (CALIBRATION, FAILURE)
    assert ok.phi_after == 6 and bad.phi_after == 9
    assert ok.phi_before == bad.phi_before == 3
    assert ok.mistake_type is None and bad.mistake_type == "sycophancy"
    assert ok.scope is None and bad.scope is not None and bad.scope.agent_roles == ("critic",)
    for c in (ok, bad):
        assert c.trust_score == 0.7 and c.created_by == "self_taught" and c.status == "candidate"
        assert (
            c.generator == "rules/1"
            and c.source_event_id == "ev-42"
            and c.source_trace_id == "tr-1"
        )
        assert c.created_at_ms == 123
        assert c.pattern == PATTERN and c.purpose == p.event.purpose != ""
    assert "Two of three failures are fixed" in ok.content and "6" in ok.content
    assert "It merely tried." in bad.content and "9" in bad.content
    assert ok.strategy == "Score like this: " + p.event.score.reasoning
    assert bad.strategy.startswith("AVOID sycophancy")


def test_long_text_is_shortened_with_a_marker_never_dropped() -> None:
    _ok, bad = build_cards(pair("r" * 50_000), CardPolicy(0.7, 1000), now_ms=1)
    assert len(bad.content) == 1000 and bad.content.endswith(TRUNCATION_MARKER)
    assert shorten("short", 1000) == "short"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_fast_uuid5_is_the_standard_uuid5(name: str) -> None:
    # The ids are a public contract (MemoryCI dedupes on them): the fast path must give
    # exactly what uuid.uuid5 gives, for any event id text.
    assert _uuid5(name) == str(uuid.uuid5(uuid.NAMESPACE_URL, name))
