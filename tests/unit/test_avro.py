"""The field-by-field writer and reader: fastavro's bytes and values, and a clear refusal
otherwise."""

from __future__ import annotations

import io
import math

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.events import MemoryCard, MemoryScope, ScoreData, TraceEvent
from consumer.wire import avro, schemas
from consumer.wire.codec import (
    MEMORY_CARD_LAYOUT,
    TRACE_EVENT_LAYOUT,
    CardEncoder,
    EventDecoder,
    _to_event,
    decode_card,
    read_trace_event,
    without_logical_types,
)
from tests.unit.factories import card_record

SCHEMA = fastavro.parse_schema(without_logical_types(schemas.parsed_json(schemas.MEMORY_CARD)))
TRACE = fastavro.parse_schema(without_logical_types(schemas.parsed_json(schemas.TRACE_EVENT)))
HEADER = b"\x00\x00\x00\x00\x07"

texts = st.text(max_size=300)  # past 63 bytes a length takes two varint bytes
doubles = st.floats(allow_nan=True, allow_infinity=True)
cards = st.builds(
    MemoryCard,
    card_id=texts,
    pair_id=texts,
    kind=texts,
    status=texts,
    content=st.text(max_size=20_000),  # lengths over 16,383 bytes take three
    pattern=texts,
    strategy=texts,
    trust_score=doubles,
    purpose=texts,
    source_trace_id=texts,
    source_event_id=texts,
    created_by=texts,
    created_at_ms=st.integers(-(2**63), 2**63 - 1),
    scope=st.none() | st.builds(MemoryScope, st.lists(texts, max_size=4).map(tuple)),
    mistake_type=st.none() | texts,
    phi_before=doubles,
    phi_after=doubles,
    generator=texts,
    action_name=st.none() | texts,
    state_before=st.none() | texts,
    state_after=st.none() | texts,
    why_wrong=st.none() | texts,
    contrast=st.none() | doubles,
    difficulty=st.none() | doubles,
    judge=st.none() | texts,
    prompt_version=st.none() | texts,
)


def fastavro_bytes(card: MemoryCard) -> bytes:
    buf = io.BytesIO()
    buf.write(HEADER)
    fastavro.schemaless_writer(buf, SCHEMA, card_record(card))
    return buf.getvalue()


@given(cards)
def test_the_same_bytes_as_fastavro(card: MemoryCard) -> None:
    assert CardEncoder(schema_id=7).encode(card) == fastavro_bytes(card)


@given(cards)
def test_a_card_reads_back_through_its_schema(card: MemoryCard) -> None:
    raw = CardEncoder(schema_id=7).encode(card)
    back = decode_card(raw, lambda _id: schemas.text(schemas.MEMORY_CARD))
    expected = card_record(card)
    for name in ("trust_score", "phi_before", "phi_after", "contrast", "difficulty"):
        a, b = back.pop(name), expected.pop(name)  # nan != nan
        assert a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))
    assert back == expected


@pytest.mark.parametrize("n", [0, 1, -1, 63, -64, 64, 8191, -8193, 2**62, 2**63 - 1, -(2**63)])
def test_longs_are_zigzag_varints(n: int) -> None:
    expected = io.BytesIO()
    fastavro.schemaless_writer(expected, "long", n)
    assert avro.long_bytes(n) == expected.getvalue()


def test_a_string_that_utf8_cannot_hold_fails_as_it_does_in_fastavro() -> None:
    card = MemoryCard(
        *(["x"] * 7), 0.5, *(["x"] * 4), 1, None, None, 1.0, 2.0, "\ud800", *([None] * 8)
    )
    with pytest.raises(UnicodeEncodeError):
        fastavro_bytes(card)
    with pytest.raises(UnicodeEncodeError):
        CardEncoder(schema_id=7).encode(card)


def test_a_type_the_encoder_does_not_know_fails_at_start() -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "a", "type": "bytes"}]}
    with pytest.raises(ValueError, match="field a: the codec cannot handle 'bytes'"):
        avro.layout(schema, ["a"])


def test_fields_in_another_order_than_the_cards_fail_at_start() -> None:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "b", "type": "string"}, {"name": "a", "type": "string"}],
    }
    with pytest.raises(ValueError, match="are not"):
        avro.layout(schema, ["a", "b"])


def test_the_contract_schemas_have_the_layouts_the_codecs_are_written_for() -> None:
    card = avro.layout(SCHEMA, MemoryCard._fields)
    assert card == MEMORY_CARD_LAYOUT
    assert card[MemoryCard._fields.index("scope")] == avro.OPTIONAL_STRINGS_RECORD
    assert card[MemoryCard._fields.index("created_at_ms")] == avro.LONG
    event = avro.layout(TRACE, TraceEvent._fields, {"score": ScoreData._fields})
    assert event == TRACE_EVENT_LAYOUT
    assert event[TraceEvent._fields.index("score")] == (0, 0, 0, 1, 1, 0)


def test_a_schema_changed_under_the_codec_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A field's type changes (int -> long): the names still match, the bytes would not.
    changed = schemas.parsed_json(schemas.TRACE_EVENT)
    step = next(f for f in changed["fields"] if f["name"] == "step")
    step["type"] = "long"
    monkeypatch.setattr(schemas, "parsed_json", lambda name: changed)
    with pytest.raises(ValueError, match=r"TraceEvent schema's layout .* is not the one"):
        EventDecoder(source=None)  # type: ignore[arg-type]


# -- reading trace events ----------------------------------------------------------------

scores = st.builds(
    dict,
    state_before=texts,
    action_name=texts,
    state_after=texts,
    phi_before=doubles,
    phi_after=doubles,
    reasoning=texts,
)
events = st.builds(
    dict,
    event_id=texts,
    trace_id=texts,
    kind=texts,
    purpose=st.text(max_size=20_000),
    step=st.integers(-(2**31), 2**31 - 1),
    timestamp_ms=st.integers(-(2**63), 2**63 - 1),
    agent_id=st.none() | texts,
    score=st.none() | scores,
)


def fastavro_read(body: bytes) -> tuple[TraceEvent, int]:
    buf = io.BytesIO(body)
    record = fastavro.schemaless_reader(buf, TRACE, None)
    assert isinstance(record, dict)
    return _to_event(record), buf.tell()


def same(a: object, b: object) -> bool:
    """Equal, with nan equal to nan (the values are NamedTuples of plain values)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@given(events)
def test_reads_what_fastavro_reads(record: dict[str, object]) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, TRACE, record)
    body = buf.getvalue()
    event, end = read_trace_event(body, 0)
    assert end == len(body)
    assert same(event, fastavro_read(body)[0])


def reads_nothing_fastavro_would_not(body: bytes) -> None:
    # Stricter is allowed (see the next test); a different value or an unknown error is not.
    try:
        ours, end = read_trace_event(body, 0)
    except (ValueError, EOFError, IndexError):
        return
    event, fastavro_end = fastavro_read(body)
    assert same(ours, event)
    assert end == fastavro_end


@given(st.binary(max_size=300))
def test_on_any_bytes_it_reads_nothing_fastavro_would_not(body: bytes) -> None:
    reads_nothing_fastavro_would_not(body)


@given(events, st.integers(0, 2**16), st.integers(0, 255))
def test_nor_on_a_record_with_one_byte_changed(
    record: dict[str, object], at: int, byte: int
) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, TRACE, record)
    body = bytearray(buf.getvalue())
    body[at % len(body)] = byte
    reads_nothing_fastavro_would_not(bytes(body))


STRINGS = b"\x02a\x02b\x0ascore\x02p"  # event_id, trace_id, kind, purpose


@pytest.mark.parametrize(
    ("step", "why"),
    [
        (b"\xfe\xff\xff\xff\x1f", "does not fit an Avro int"),  # 2**32 - 1
        (b"\xff" * 10 + b"\x01", "longer than ten bytes"),
        (b"\xff" * 9 + b"\x7f", "larger than a long"),
    ],
)
def test_numbers_fastavro_would_truncate_are_errors(step: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_trace_event(STRINGS + step + b"\x02\x00\x00", 0)


@pytest.mark.parametrize(
    ("body", "error", "why"),
    [
        (STRINGS + b"\x02\x02\x04", ValueError, "union branch 2 does not exist"),
        (b"\x03", ValueError, "negative length"),
        (b"\x06ab", EOFError, "a string of 3 bytes runs past the record's end"),
        (b"\x02\xff", UnicodeDecodeError, "utf-8"),
        (STRINGS + b"\x02\x02\x00\x02" + b"\x00" * 6 + b"\x01\x02", EOFError, "a double runs"),
        (STRINGS + b"\x02", IndexError, None),
    ],
)
def test_broken_records_raise_what_the_decoder_turns_into_bad_avro(
    body: bytes, error: type[Exception], why: str | None
) -> None:
    with pytest.raises(error, match=why):
        read_trace_event(body, 0)
