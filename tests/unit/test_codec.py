import json

import pytest

from consumer.errors import DecodeError
from consumer.events import ContrastPair, MistakeType, WrongEvaluation
from consumer.stages.cards import CardPolicy, build_cards
from consumer.wire import schemas
from consumer.wire.codec import CardEncoder, EventDecoder, decode_card, read_header
from tests.unit.factories import (
    MemorySchemas,
    avro,
    card_record,
    event_record,
    evolved_schema,
    score_event,
)

TRACE = json.loads(schemas.text(schemas.TRACE_EVENT))


def decoder(by_id: dict[int, str] | None = None) -> EventDecoder:
    d = EventDecoder(source=MemorySchemas(by_id or {1: schemas.text(schemas.TRACE_EVENT)}))
    for i in by_id or {1: ""}:
        d.load(i)
    return d


def test_round_trip_of_an_event() -> None:
    rec = event_record("e-1", phi_before=1.5, phi_after=4.0)
    ev = decoder().decode(avro(TRACE, rec, 1))
    assert ev.event_id == "e-1" and ev.timestamp_ms == rec["timestamp_ms"]
    assert ev.score is not None and ev.score.phi_after == 4.0


def test_newer_writer_schema_with_an_optional_field_resolves_to_ours() -> None:
    evolved = evolved_schema()
    d = decoder({7: json.dumps(evolved)})
    rec = {**event_record("e-2"), "tenant": "acme"}
    ev = d.decode(avro(evolved, rec, 7))
    assert ev.event_id == "e-2" and ev.score is not None


def test_writer_schemas_are_fetched_once() -> None:
    src = MemorySchemas({1: schemas.text(schemas.TRACE_EVENT)})
    d = EventDecoder(source=src)
    d.load(1)
    d.load(1)
    assert src.fetches == 1 and d.knows(1) and not d.knows(2)


def test_unknown_schema_id_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as exc:
        EventDecoder(source=MemorySchemas({})).load(99)
    assert exc.value.reason == "unknown_schema_id"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "null_value"),
        (b"", "too_short"),
        (b"\x00\x00\x00", "too_short"),
        (b'{"json": true}', "bad_magic_byte"),
        (b"\x00\xff\xff\xff\xfe rest", "unknown_schema_id"),
    ],
)
def test_bad_framing(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as exc:
        read_header(raw)
    assert exc.value.reason == reason


def test_truncated_and_overlong_avro_are_decode_errors() -> None:
    raw = avro(TRACE, event_record("e-3"), 1)
    d = decoder()
    for bad in (raw[:-4], raw[:12], raw + b"\x00"):
        with pytest.raises(DecodeError) as exc:
            d.decode(bad)
        assert exc.value.reason == "bad_avro" and exc.value.stage == "decode"


def test_invalid_utf8_is_a_decode_error() -> None:
    raw = bytearray(avro(TRACE, event_record("AAAA"), 1))
    raw[raw.index(b"AAAA")] = 0xFF
    with pytest.raises(DecodeError):
        decoder().decode(bytes(raw))


def test_card_round_trip_through_the_registered_schema() -> None:
    pair = ContrastPair(
        score_event(), WrongEvaluation(9, "flawed", MistakeType.SYCOPHANCY), "rules/1"
    )
    for card in build_cards(pair, CardPolicy(0.7, 16_000), 5):
        raw = CardEncoder(schema_id=12).encode(card)
        assert read_header(raw) == 12
        assert decode_card(raw, lambda _id: schemas.text(schemas.MEMORY_CARD)) == card_record(card)


def test_an_unreachable_registry_is_an_outage_not_bad_input() -> None:
    from consumer.errors import RegistryUnavailable
    from consumer.wire.registry import RegistryClient

    closed = RegistryClient(url="http://127.0.0.1:9/apis/ccompat/v7")  # discard port: refused
    with pytest.raises(RegistryUnavailable):
        closed.schema_text(1)
    with pytest.raises(RegistryUnavailable):
        closed.register("t-value", schemas.text(schemas.TRACE_EVENT))
