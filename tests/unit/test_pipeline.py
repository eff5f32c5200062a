import asyncio
import json
import math

from consumer import schemas
from consumer.cards import CardPolicy
from consumer.codec import CardEncoder, EventDecoder, decode_card
from consumer.events import SourceRef
from consumer.generate.rules import RulesGenerator
from consumer.pipeline import DeadLetter, Pipeline, Produced, Skipped
from consumer.qualify import Criteria, Scale, Skip
from tests.unit.factories import MemorySchemas, avro, event_record

TRACE = json.loads(schemas.text(schemas.TRACE_EVENT))


def pipeline() -> Pipeline:
    src = MemorySchemas(
        {1: schemas.text(schemas.TRACE_EVENT), 2: schemas.text(schemas.MEMORY_CARD)}
    )
    return Pipeline(
        decoder=EventDecoder(src),
        criteria=Criteria(Scale(0, 10), 0.5, 1.0, 1000),
        generator=RulesGenerator(Scale(0, 10), 1.0),
        encoder=CardEncoder(2),
        policy=CardPolicy(0.7, 16_000),
        min_contrast=1.0,
        clock_ms=lambda: 99,
    )


def ref(value: bytes | None) -> SourceRef:
    return SourceRef("in", 0, 5, b"k", value, (), 1)


def outcome(p: Pipeline, value: bytes | None) -> object:
    result = p.start(ref(value))
    if asyncio.iscoroutine(result):
        return asyncio.run(result)
    return result


def test_qualifying_event_becomes_two_encoded_cards() -> None:
    p = pipeline()
    out = outcome(p, avro(TRACE, event_record("e-1", phi_before=2, phi_after=5), 1))
    assert isinstance(out, Produced)
    assert out.key == b"tr-e-1" and out.generator == "rules/1"
    cards = [decode_card(v, lambda _i: schemas.text(schemas.MEMORY_CARD)) for v in out.cards]
    assert [c["kind"] for c in cards] == ["critic_calibration", "failure_pattern"]
    assert cards[1]["mistake_type"] == out.mistake_type


def test_first_record_of_a_schema_waits_for_it_then_the_rest_are_immediate() -> None:
    p = pipeline()
    raw = avro(TRACE, event_record("e-1"), 1)
    first = p.start(ref(raw))
    assert asyncio.iscoroutine(first)
    asyncio.run(first)
    assert isinstance(p.start(ref(raw)), Produced)


def test_outcomes_for_every_kind_of_record() -> None:
    p = pipeline()
    asyncio.run(p.start(ref(avro(TRACE, event_record("warm"), 1))))  # type: ignore[arg-type]
    assert outcome(p, avro(TRACE, event_record("a", kind="action"), 1)) == Skipped(Skip.NOT_SCORE)
    assert outcome(p, avro(TRACE, event_record("b", phi_after=2.2), 1)) == Skipped(Skip.BELOW_DELTA)
    nan = outcome(p, avro(TRACE, event_record("c", phi_after=math.nan), 1))
    assert isinstance(nan, DeadLetter) and (nan.stage, nan.reason) == ("validate", "phi_not_finite")
    junk = outcome(p, b"junk record")
    assert isinstance(junk, DeadLetter) and (junk.stage, junk.reason) == (
        "decode",
        "bad_magic_byte",
    )
    unknown = outcome(p, avro(TRACE, event_record("d"), 77))
    assert isinstance(unknown, DeadLetter) and unknown.reason == "unknown_schema_id"
