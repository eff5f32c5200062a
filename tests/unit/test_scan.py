"""The final check is MemoryCI's immune scan, exactly: same tables, same verdict on any text."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from purpose_agent import immune
from purpose_agent.immune import scan_memory

from consumer.commands.memoryci import to_memoryci
from consumer.events import ContrastPair
from consumer.generate.rules import PROMPT_VERSION, RulesGenerator
from consumer.redact import card_text, safe_event, unsafe
from consumer.redact import scan as scan_module
from consumer.stages.cards import CALIBRATION, FAILURE, CardPolicy, build_cards
from consumer.stages.qualify import Scale
from testkit.streams import realistic_events, score_event
from tests.unit.factories import card_record


def _memoryci_passes(content: str, pattern: str, strategy: str, kind: str) -> bool:
    card = {
        "card_id": "c-1",
        "kind": kind,
        "scope": None,
        "content": content,
        "pattern": pattern,
        "strategy": strategy,
        "trust_score": 0.7,
        "source_trace_id": "t-1",
        "created_at_ms": 0,
        "created_by": "self_taught",
    }
    return bool(scan_memory(to_memoryci(card)).passed)


def _ours_passes(content: str, pattern: str, strategy: str, kind: str) -> bool:
    text = f"{content} {pattern} {strategy} "
    return unsafe(text, calibration=kind == CALIBRATION) is None


def test_the_tables_are_immunes_verbatim() -> None:
    assert tuple(immune._INJECTION_PATTERNS) == scan_module.INJECTION
    assert tuple(immune._SCORE_MANIPULATION_PATTERNS) == scan_module.SCORE_MANIPULATION
    assert tuple(immune._TOOL_MISUSE_PATTERNS) == scan_module.TOOL_MISUSE
    assert tuple(immune._PRIVACY_PATTERNS) == scan_module.PRIVACY


def test_what_lower_makes_of_each_character() -> None:
    # Lower-cased text holds no character lower() changes: the two patterns with capitals,
    # searched by MemoryCI in lower-cased text, never match there, and never run here. And
    # lower() makes ASCII of no character beyond ASCII but the two unsafe looks out for: the
    # words are looked for in an ASCII copy.
    into_ascii = []
    for code in range(sys.maxunicode + 1):
        lowered = chr(code).lower()
        for ch in lowered:
            assert ch.lower() == ch, hex(code)
        if code > 0x7F and any(ch.isascii() for ch in lowered):
            into_ascii.append(chr(code))
    assert into_ascii == ["\u0130", "\u212a"]


# The patterns' pieces, in the forms and with the spaces that decide a match.
_PIECES = st.sampled_from(
    [
        *("ignore", "Ignore", "IGNORE", "previous", "above", "all", "instructions", "prompts"),
        *("rules", "you", "are", "now", "system", "System", ":", "<|im_start|>", "<|system|>"),
        *("[INST]", "[inst]", "###", "instruction", "forget", "everything", "your"),
        *("override", "the", "purpose", "new", "disregard", "always", "must", "score", "rate"),
        *("give", "high", "10", "maximum", "perfect", "Φ", "φ", "=", "phi", "PHI", "delta"),
        *("should", "be", "positive", "never", "negative", "zero", "low", "rating"),
        *("confidence", "1.0", "1", "rm", "-rf", "/", "os.system", "os", ".", "(", "subprocess"),
        *(
            "call",
            "run",
            "Popen",
            "__import__",
            "eval",
            "Eval",
            "exec",
            "evaluation",
            "shutil.rmtree",
        ),
        *("open", "'", '"', "/etc", "etc", "proc", "sys", "dev", "curl", "|", "sh", "wget"),
        *("bash", "sk-", "hf_", "ghp_", "AKIA", "IOSFODNN7EXAMPLE", "abcdefghij0123456789"),
        *("123", "45", "6789", "-", "@", "jane.doe", "example.com", "/home/", "jdoe"),
        *("C:\\Users\\", "\\", "\u212a", "\u0130", "task", "x"),
    ]
)
_JOINERS = st.sampled_from(
    ["", " ", "  ", "\t", "\n", "\x1c", "\x85", "\u2003", "\u3000", "\u00a0", "\x00", "-", "_"]
)
_ADVERSARIAL = st.lists(st.tuples(_PIECES, _JOINERS), max_size=14).map(
    lambda parts: "".join(p + j for p, j in parts)
)
_TEXT = st.one_of(st.text(max_size=60), _ADVERSARIAL)
_KIND = st.sampled_from([CALIBRATION, FAILURE])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT, _TEXT, _TEXT, _KIND)
@example("you are\tnow", "", "", FAILURE)
@example("ignore all the prompts", "", "", FAILURE)
@example("[INST] Φ = 10", "", "", CALIBRATION)
@example("always", "rated high", "", CALIBRATION)
@example("SSN 123-45-6789", "", "", FAILURE)
def test_unsafe_is_none_exactly_when_memoryci_passes(
    content: str, pattern: str, strategy: str, kind: str
) -> None:
    ours = _ours_passes(content, pattern, strategy, kind)
    assert ours == _memoryci_passes(content, pattern, strategy, kind)


@pytest.mark.parametrize("redacted", [True, False])
def test_on_real_cards_unsafe_agrees_with_memoryci(redacted: bool) -> None:
    # Redacted, as published; and as they would be without redaction, which MemoryCI rejects
    # for every reason it has.
    gen, policy = RulesGenerator(scale=Scale(0, 10), min_contrast=1.0), CardPolicy(0.7, 16_000)
    rejected = 0
    for record in realistic_events(300, seed=5):
        event = score_event(record)
        if redacted:
            safe = safe_event(event).event
            if safe is None:
                continue
            event = safe
        pair = ContrastPair(event, gen.generate_now(event), gen.name, PROMPT_VERSION)
        for card in build_cards(pair, policy, 0):
            theirs = bool(scan_memory(to_memoryci(card_record(card))).passed)
            ours = unsafe(card_text(card), calibration=card.kind == CALIBRATION) is None
            assert ours == theirs, card
            rejected += not theirs
    assert (rejected == 0) if redacted else (rejected > 100)


_ONE_PASS = re.compile(
    "|".join(f"(?:{p})" for p in scan_module.INJECTION + scan_module.SCORE_MANIPULATION)
)


@settings(max_examples=500, deadline=None)
@given(_TEXT)
def test_the_reason_quotes_what_one_pass_of_the_patterns_finds(text: str) -> None:
    m = _ONE_PASS.search(text.lower())
    reason = unsafe(text)
    if m is None:
        assert reason is None or not reason.startswith("text that reads as")
    else:
        assert reason == f"text that reads as an instruction or a score rule ({m.group(0)[:40]!r})"
