"""Bad input, tried as an attacker would: every field of the input schema and the wire format.

All cases go through one service run on a single partition; each is identified by its key.
Each is dead-lettered with the documented stage and class, or handled as documented, and the
service keeps going (the last record, a valid one, still becomes cards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.settings import load
from consumer.stages.excerpts import ELISION
from testkit.offsets import wait_until_committed
from testkit.produce import EventProducer, event
from tests.integration.harness import Service, Stack, Topics, read_output

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    key: bytes
    expect: str  # "cards", "skip", or "<stage>/<class>"
    value: bytes | None = None
    record: dict[str, Any] | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


def score(eid: str, **score: Any) -> dict[str, Any]:
    rec = event(eid, "score", 2, 7)
    rec["score"].update(score)
    return rec


def with_(eid: str, **fields: Any) -> dict[str, Any]:
    return {**event(eid, "score", 2, 7), **fields}


def cases(valid: bytes) -> list[Case]:
    """``valid`` is a correctly framed record, to derive broken framings from."""
    body = valid[5:]
    return [
        # -- the wire format ----------------------------------------------------------------
        Case(b"magic-1", "decode/bad_magic_byte", b"\x01" + valid[1:]),
        Case(b"magic-json", "decode/bad_magic_byte", b'{"event_id": "x"}'),
        Case(b"empty-value", "decode/too_short", b""),
        Case(b"null-value", "decode/null_value", None),
        Case(b"header-only", "decode/bad_avro", valid[:5]),
        Case(b"unknown-id", "decode/unknown_schema_id", b"\x00\x00\x0f\x42\x3f" + body),
        Case(b"negative-id", "decode/unknown_schema_id", b"\x00\xff\xff\xff\xf0" + body),
        Case(b"truncated", "decode/bad_avro", valid[:-3]),
        Case(b"over-long", "decode/bad_avro", valid + b"\x00\x02"),
        Case(b"bad-utf8", "decode/bad_avro", valid.replace(b"bad-utf8-ok", b"bad-utf8-\xff\xfe")),
        Case(b"huge-length", "decode/bad_avro", valid[:5] + b"\xfe\xff\xff\xff\x0f" + body[1:]),
        # -- Φ --------------------------------------------------------------------------------
        Case(b"phi-nan", "validate/phi_not_finite", record=score("phi-nan", phi_after=math.nan)),
        Case(b"phi-inf", "validate/phi_not_finite", record=score("phi-inf", phi_before=math.inf)),
        Case(b"phi-ninf", "validate/phi_not_finite", record=score("phi-ninf", phi_after=-math.inf)),
        Case(b"phi-huge", "validate/phi_off_scale", record=score("phi-huge", phi_after=1e308)),
        Case(b"phi-neg", "validate/phi_off_scale", record=score("phi-neg", phi_before=-0.5)),
        Case(b"phi-small-delta", "skip", record=score("phi-small-delta", phi_after=2.2)),
        # -- strings --------------------------------------------------------------------------
        Case(b"empty-event-id", "validate/missing_id", record=with_("")),
        Case(b"empty-reasoning", "validate/missing_reasoning", record=score("er", reasoning="")),
        Case(b"empty-purpose", "cards", record=with_("empty-purpose", purpose="")),
        Case(b"empty-trace-id", "cards", record=with_("empty-trace-id", trace_id="")),
        Case(b"empty-action", "cards", record=score("empty-action", action_name="")),
        Case(
            b"big-state", "validate/field_too_large", record=score("bs", state_before="s" * 2 * MB)
        ),
        Case(b"big-purpose", "validate/field_too_large", record=with_("bp", purpose="p" * 3 * MB)),
        # Under the input limit, but a card carrying it whole would pass the broker's 1 MB:
        # the card is shortened with a marker, never dropped.
        Case(b"card-too-big", "cards", record=score("card-too-big", reasoning="r" * 900_000)),
        Case(b"unicode", "cards", record=score("unicode", reasoning="Φ rose 🚀 — naïve café ✓")),
        # -- other fields ---------------------------------------------------------------------
        Case(b"kind-upper", "skip", record={**event("kind-upper", "score", 2, 7), "kind": "SCORE"}),
        Case(b"kind-score-null", "skip", record={**event("ksn", "score", 2, 7), "score": None}),
        Case(b"neg-step", "cards", record=with_("neg-step", step=-5)),
        Case(b"neg-timestamp", "cards", record=with_("neg-timestamp", timestamp_ms=-1)),
        Case(b"agent-id", "cards", record=with_("agent-id", agent_id="a" * 1000)),
        # -- keys and headers -----------------------------------------------------------------
        Case(b"\xff\xfe\x00not-utf8", "cards", record=with_("not-utf8-key")),
        Case(b"\xff\xfe\x01not-utf8-bad", "decode/bad_magic_byte", b"garbage bytes"),
        Case(
            b"colliding-headers",
            "decode/bad_magic_byte",
            b"garbage",
            headers=(("selftaught.error.stage", b"forged"), ("selftaught.original.offset", b"-7")),
        ),
        # -- and the partition moves on ---------------------------------------------------------
        Case(b"last", "cards", record=with_("last")),
    ]


@pytest.mark.partitions(1)
def test_every_bad_input_is_handled_as_documented(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    p = EventProducer(stack, topics.input)
    ctx = SerializationContext(topics.input, MessageField.VALUE)
    valid = p.serializer(with_("bad-utf8-ok"), ctx)
    assert valid is not None
    table = cases(valid)
    for case in table:
        value = case.value
        if case.record is not None:
            value = p.serializer(case.record, ctx)
        p.raw(case.key, value, list(case.headers) or None)  # type: ignore[arg-type]
    p.flush()

    service = Service(stack, topics, tmp_path).start()
    try:
        wait_until_committed(stack, topics, timeout=120, services=[service])
    finally:
        assert service.stop() == 0
    out = read_output(stack, topics)

    dead = {key: dict(headers) for key, _, headers in out.dead}
    last_of = {key: headers for key, _, headers in out.dead}
    carded = {c["source_event_id"] for c in out.cards}
    for case in table:
        eid = case.record["event_id"] if case.record else None
        if case.expect == "cards":
            assert eid in carded, f"{case.key!r}: expected cards"
        elif case.expect == "skip":
            assert case.key not in dead and eid not in carded, f"{case.key!r}: expected a skip"
        else:
            stage, cls = case.expect.split("/")
            assert case.key in dead, f"{case.key!r}: expected a dead letter {case.expect}"
            h = dead[case.key]  # dict() keeps the last value of a repeated header: ours
            assert (h["selftaught.error.stage"].decode(), h["selftaught.error.class"].decode()) == (
                stage,
                cls,
            ), case.key
    assert len(out.dead) == sum(1 for c in table if "/" in c.expect)

    # Dead letters keep their value bytes untouched and the original headers, ours last.
    by_key = {key: value for key, value, _ in out.dead}
    assert by_key[b"truncated"] == valid[:-3]
    forged = last_of[b"colliding-headers"]
    assert ("selftaught.error.stage", b"forged") in forged
    assert [v for k, v in forged if k == "selftaught.error.stage"][-1] == b"decode"
    assert [v for k, v in forged if k == "selftaught.original.offset"][-1] != b"-7"

    big = [c for c in out.cards if c["source_event_id"] == "card-too-big"]
    assert len(big) == 2
    calibration = next(c for c in big if c["kind"] == "critic_calibration")
    # A card is bounded by its own limits (MemoryCard v2: a complete example within about
    # 150 tokens), the reasoning's head and tail kept around the elision marker.
    defaults = load({})
    assert ELISION in calibration["content"]
    assert calibration["content"].endswith("r")  # the tail of the reasoning is kept
    assert all(
        len(c["content"]) <= defaults.card_content_chars
        and len(c["strategy"]) <= defaults.card_strategy_chars
        for c in big
    )
