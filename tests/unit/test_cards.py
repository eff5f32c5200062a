import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from consumer.events import ContrastPair, MistakeType, ScoreData, ScoreEvent, WrongEvaluation
from consumer.stages.cards import CALIBRATION, FAILURE, CardPolicy, _uuid5, build_cards
from consumer.stages.excerpts import ELISION, TRUNCATION_MARKER, excerpt, one_line, shorten
from tests.unit.factories import score_event

POLICY = CardPolicy(trust_score=0.7, text_limit=16_000)


def pair(reasoning: str = "It merely tried.") -> ContrastPair:
    return ContrastPair(
        event=score_event("ev-42", 3, 6),
        wrong=WrongEvaluation(
            9.0,
            reasoning,
            MistakeType.SYCOPHANCY,
            "It rewards effort over the state after.",
            "The wrong evaluation praised effort; score the state after.",
        ),
        generator="rules/1",
        prompt_version="rules-v2",
    )


def situation(
    purpose: str, action: str, before: str, after: str, reasoning: str, event_id: str = "ev-7"
) -> ContrastPair:
    score = ScoreData(before, action, after, 2.0, 6.5, reasoning)
    event = ScoreEvent(event_id, "tr-7", purpose, 3, 0, None, score)
    wrong = WrongEvaluation(3.0, "Nothing shows progress.", MistakeType.IGNORED_EVIDENCE)
    return ContrastPair(event, wrong, "rules/1", "rules-v2")


def line_tokens(card: object) -> int:
    """The card's cost by MemoryCI's PromptCompiler: its line's length over 4."""
    c: Any = card
    if c.kind == CALIBRATION:
        return len(f"- Scoring note: {c.content}") // 4
    return len(f"- Avoid: {c.pattern} — {c.strategy}") // 4


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
        assert c.purpose == p.event.purpose != ""
        assert c.prompt_version == "rules-v2" and c.contrast == 3.0
        assert c.difficulty is None and c.judge is None
        assert c.action_name == p.event.score.action_name
        assert c.state_before and c.state_after
    assert "Two of three failures are fixed" in ok.content and "6" in ok.content
    assert "It merely tried." in bad.content and "9" in bad.content
    assert ok.why_wrong is None and bad.why_wrong == "It rewards effort over the state after."
    assert bad.strategy == "The wrong evaluation praised effort; score the state after."
    assert ok.pattern == bad.pattern


def test_a_card_read_alone_is_the_whole_situation() -> None:
    p = situation(
        "Get the nightly export inside its window",
        "add_index",
        "export runs 2 h 10 min",
        "export runs 1 h 20 min; upload still slow",
        "The index cut 50 minutes.",
    )
    ok, bad = build_cards(p, POLICY, now_ms=1)
    for text in (ok.content, bad.content):
        for part in ("nightly export", "add_index", "2 h 10 min", "1 h 20 min", "Φ 2"):
            assert part in text
    assert "Φ after 6.5, because The index cut 50 minutes." in ok.content
    assert "Φ after 3 where 6.5 is right, because Nothing shows progress." in bad.content
    assert ok.pattern.startswith("add_index toward 'Get the nightly export")
    assert ok.pattern.endswith("(state after: progress)")
    # no lesson from the generator: the mistake's principle, with the step's specifics
    assert (
        "add_index" in bad.strategy and "6.5" in bad.strategy and "read the state" in bad.strategy
    )


def test_patterns_differ_within_the_compilers_50_characters_across_situations() -> None:
    steps = [
        ("run_deploy", "Deploy 2.4"),
        ("run_deploy", "Ship the invoice fix"),
        ("search_flights", "Book Lisbon trip"),
        ("query_sql", "Weekly revenue report"),
        # one kind of task for different users: the specifics start 22 characters in
        ("verify_identity", "Reset MFA for account 20981 after an identity check"),
        ("verify_identity", "Reset MFA for account 67858 after an identity check"),
    ]
    patterns = {
        build_cards(situation(purpose, act, "b", "a", "r"), POLICY, 1)[0].pattern[:50].lower()
        for act, purpose in steps
    }
    assert len(patterns) == len(steps)


def test_a_cards_line_stays_within_150_tokens_whatever_the_text() -> None:
    huge = "word " * 20_000
    p = situation(huge, "x" * 5000, huge, huge + " FINAL ERROR", huge)
    for card in build_cards(p, POLICY, now_ms=1):
        assert line_tokens(card) <= 150, card
        assert len(card.state_after or "") <= POLICY.excerpt_chars
    assert build_cards(p, POLICY, 1)[0].state_after.endswith("FINAL ERROR")  # type: ignore[union-attr]


def test_excerpts_keep_head_and_tail_around_a_marker() -> None:
    text = "START " + "middle " * 100 + "END"
    short = excerpt(text, 60)
    assert len(short) <= 60 and short.startswith("START") and short.endswith("END")
    assert ELISION in short
    assert excerpt("a\n  b", 60) == "a b"


def test_long_purpose_is_shortened_with_a_marker_never_dropped() -> None:
    assert shorten("p" * 50_000, 1000).endswith(TRUNCATION_MARKER)
    assert len(shorten("p" * 50_000, 1000)) == 1000
    assert shorten("short", 1000) == "short"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_fast_uuid5_is_the_standard_uuid5(name: str) -> None:
    # The ids are a public contract (MemoryCI dedupes on them): the fast path must give
    # exactly what uuid.uuid5 gives, for any event id text.
    assert _uuid5(name) == str(uuid.uuid5(uuid.NAMESPACE_URL, name))


@given(
    st.lists(
        st.sampled_from(["a", "word", " ", "  ", "\t", "\n", "\u2003", "\x00", "\u200b", "Φ"])
        | st.text(max_size=6),
        max_size=20,
    ).map("".join)
)
def test_one_line_is_split_and_joined(text: str) -> None:
    assert one_line(text) == " ".join(text.split())
