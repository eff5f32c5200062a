"""Wire bytes <-> typed events and cards: Confluent framing, fastavro, the reader schema.

The framing is read by hand and fastavro is called with cached parsed schemas: several times
faster than confluent-kafka's AvroDeserializer, which matters at tens of thousands of records
a second. Writer schemas come from a ``SchemaSource``: the registry's client
(``consumer/wire/registry.py``) is the only part of the wire that touches the network.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, Final, Protocol, cast

import fastavro

from consumer.errors import DecodeError
from consumer.events import MemoryCard, ScoreData, TraceEvent
from consumer.wire import avro, schemas

_HEADER: Final = struct.Struct(">bi")  # magic byte, signed 32-bit schema id (as Java writes it)
MAGIC: Final = 0

# What fastavro raises on bytes that are not the Avro they claim to be. Input is untrusted,
# so each of these is a property of the record, never of the service.
_AVRO_ERRORS: Final = (
    EOFError,
    ValueError,  # includes UnicodeDecodeError
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    MemoryError,
    StopIteration,
    struct.error,
)


class SchemaSource(Protocol):
    """What the codec needs from a schema registry."""

    def schema_text(self, schema_id: int) -> str: ...

    def register(self, subject: str, schema_text: str, compatibility: str | None = None) -> int: ...


def without_logical_types(schema: Any) -> Any:
    """The schema with ``logicalType`` removed: timestamps stay plain longs (no datetimes)."""
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(s) for s in schema]
    return schema


def _parse(schema_json: Any) -> Any:
    # Keep fastavro's "already parsed" mark (the default _write_hint): without it,
    # schemaless_reader and schemaless_writer parse the schema again on every record, which
    # was about half of what decoding and encoding cost.
    return fastavro.parse_schema(without_logical_types(schema_json))


def read_header(raw: bytes | None) -> int:
    """The schema id from the 5-byte Confluent header; ``DecodeError`` if there is none."""
    if raw is None:
        raise DecodeError(reason="null_value", message="the record has no value")
    if len(raw) < _HEADER.size:
        raise DecodeError(
            reason="too_short", message=f"{len(raw)} bytes, shorter than the 5-byte header"
        )
    magic, schema_id = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise DecodeError(reason="bad_magic_byte", message=f"magic byte {magic}, expected {MAGIC}")
    if schema_id < 0:
        raise DecodeError(reason="unknown_schema_id", message=f"negative schema id {schema_id}")
    return int(schema_id)


# The schemas' layouts the field-by-field codecs below are written for (avro.layout):
# the codec refuses at start-up a schema with any other, rather than read or write it wrong.
_S, _D, _L, _I = avro.STRING, avro.DOUBLE, avro.LONG, avro.INT
_OS, _OD = avro.OPTIONAL_STRING, avro.OPTIONAL_DOUBLE
TRACE_EVENT_LAYOUT: Final = (_S, _S, _S, _S, _I, _L, avro.OPTIONAL_STRING, (_S, _S, _S, _D, _D, _S))
MEMORY_CARD_LAYOUT: Final = (
    *(_S, _S, _S, _S, _S, _S, _S, _D, _S, _S, _S, _S, _L),
    *(avro.OPTIONAL_STRINGS_RECORD, avro.OPTIONAL_STRING, _D, _D, _S),
    # version 2: action_name, state_before, state_after, why_wrong, contrast, difficulty,
    # judge, prompt_version
    *(_OS, _OS, _OS, _OS, _OD, _OD, _OS, _OS),
)


def _check_layout(record: str, schema: avro.Layout, codec: avro.Layout) -> None:
    if schema != codec:
        raise ValueError(
            f"the {record} schema's layout {schema} is not the one its codec is written for, "
            f"{codec}: the schema changed, and the codec must change with it"
        )


def read_trace_event(raw: bytes, pos: int) -> tuple[TraceEvent, int]:
    """A TraceEvent written with our reader schema at ``raw[pos:]``, and the position after
    it. Raises what the ``avro.read_*`` functions raise on bytes that do not fit."""
    event_id, pos = avro.read_string(raw, pos)
    trace_id, pos = avro.read_string(raw, pos)
    kind, pos = avro.read_string(raw, pos)
    purpose, pos = avro.read_string(raw, pos)
    step, pos = avro.read_int(raw, pos)
    timestamp_ms, pos = avro.read_long(raw, pos)
    agent_id, pos = avro.read_optional_string(raw, pos)
    present, pos = avro.read_present(raw, pos)
    score = None
    if present:
        state_before, pos = avro.read_string(raw, pos)
        action_name, pos = avro.read_string(raw, pos)
        state_after, pos = avro.read_string(raw, pos)
        phi_before, pos = avro.read_double(raw, pos)
        phi_after, pos = avro.read_double(raw, pos)
        reasoning, pos = avro.read_string(raw, pos)
        score = ScoreData(state_before, action_name, state_after, phi_before, phi_after, reasoning)
    event = TraceEvent(event_id, trace_id, kind, purpose, step, timestamp_ms, agent_id, score)
    return event, pos


class EventDecoder:
    """Decodes TraceEvents written with any registered writer schema into our reader schema."""

    def __init__(self, *, source: SchemaSource) -> None:
        """:param source: where writer schemas are fetched by id (the registry)"""
        self._source = source
        self._reader_json = without_logical_types(schemas.parsed_json(schemas.TRACE_EVENT))
        self._reader = _parse(self._reader_json)
        _check_layout(
            "TraceEvent",
            avro.layout(self._reader, TraceEvent._fields, {"score": ScoreData._fields}),
            TRACE_EVENT_LAYOUT,
        )
        # Per schema id, the writer schema when it is not ours (fastavro resolves it to
        # ours), or None when it is ours (read_trace_event reads it).
        self._cache: dict[int, Any] = {}

    def knows(self, schema_id: int) -> bool:
        return schema_id in self._cache

    def load(self, schema_id: int) -> None:
        """Fetch and cache a writer schema (blocking: call it off the event loop)."""
        if schema_id in self._cache:
            return
        text = self._source.schema_text(schema_id)
        try:
            writer_json = without_logical_types(_json_loads(text))
            writer = _parse(writer_json)
        except (ValueError, TypeError, fastavro.schema.SchemaParseException) as exc:
            raise DecodeError(
                reason="bad_writer_schema", message=f"schema id {schema_id}: {exc}"
            ) from exc
        same = fastavro.schema.to_parsing_canonical_form(
            writer
        ) == fastavro.schema.to_parsing_canonical_form(self._reader)
        self._cache[schema_id] = None if same else writer

    def decode(self, raw: bytes) -> TraceEvent:
        """Decode a record whose writer schema is loaded (see ``knows``/``load``)."""
        writer = self._cache[read_header(raw)]
        try:
            if writer is None:
                event, end = read_trace_event(raw, _HEADER.size)
            else:
                buf = io.BytesIO(raw)
                buf.seek(_HEADER.size)
                record = fastavro.schemaless_reader(buf, writer, self._reader)
                event, end = _to_event(cast(dict[str, Any], record)), buf.tell()
        except _AVRO_ERRORS as exc:
            raise DecodeError(
                reason="bad_avro", message=f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        except fastavro.read.SchemaResolutionError as exc:
            raise DecodeError(reason="schema_mismatch", message=str(exc)[:300]) from exc
        if end != len(raw):
            raise DecodeError(
                reason="bad_avro", message=f"{len(raw) - end} trailing bytes after the Avro record"
            )
        return event


def _json_loads(text: str) -> Any:
    import json

    return json.loads(text)


def _to_event(r: dict[str, Any]) -> TraceEvent:
    s = r.get("score")
    return TraceEvent(
        event_id=r["event_id"],
        trace_id=r["trace_id"],
        kind=r["kind"],
        purpose=r["purpose"],
        step=r["step"],
        timestamp_ms=r["timestamp_ms"],
        agent_id=r.get("agent_id"),
        score=None
        if s is None
        else ScoreData(
            state_before=s["state_before"],
            action_name=s["action_name"],
            state_after=s["state_after"],
            phi_before=s["phi_before"],
            phi_after=s["phi_after"],
            reasoning=s["reasoning"],
        ),
    )


class CardEncoder:
    """Encodes cards against the output schema registered under its id."""

    def __init__(self, *, schema_id: int) -> None:
        """:param schema_id: the output schema's id in the registry, written in every card's
        header"""
        self._header = _HEADER.pack(MAGIC, schema_id)
        schema = _parse(schemas.parsed_json(schemas.MEMORY_CARD))
        _check_layout("MemoryCard", avro.layout(schema, MemoryCard._fields), MEMORY_CARD_LAYOUT)

    def encode(self, card: MemoryCard) -> bytes:
        out = [self._header]
        avro.put_string(out, card.card_id)
        avro.put_string(out, card.pair_id)
        avro.put_string(out, card.kind)
        avro.put_string(out, card.status)
        avro.put_string(out, card.content)
        avro.put_string(out, card.pattern)
        avro.put_string(out, card.strategy)
        avro.put_double(out, card.trust_score)
        avro.put_string(out, card.purpose)
        avro.put_string(out, card.source_trace_id)
        avro.put_string(out, card.source_event_id)
        avro.put_string(out, card.created_by)
        avro.put_long(out, card.created_at_ms)
        scope = card.scope
        avro.put_optional_strings(out, None if scope is None else scope.agent_roles)
        avro.put_optional_string(out, card.mistake_type)
        avro.put_double(out, card.phi_before)
        avro.put_double(out, card.phi_after)
        avro.put_string(out, card.generator)
        avro.put_optional_string(out, card.action_name)
        avro.put_optional_string(out, card.state_before)
        avro.put_optional_string(out, card.state_after)
        avro.put_optional_string(out, card.why_wrong)
        avro.put_optional_double(out, card.contrast)
        avro.put_optional_double(out, card.difficulty)
        avro.put_optional_string(out, card.judge)
        avro.put_optional_string(out, card.prompt_version)
        return b"".join(out)


def decode_card(
    raw: bytes, schema_text: Callable[[int], str], reader_text: str | None = None
) -> dict[str, Any]:
    """Decode a card record (for tools and tests that read the output topic): with the
    writer schema as it is, or resolved to the reader schema ``reader_text`` (a version 1
    reader gets version 1's fields of a version 2 card; a version 2 reader gets the new
    fields' defaults from a version 1 card)."""
    schema_id = read_header(raw)
    writer = _parse(_json_loads(schema_text(schema_id)))
    reader = None if reader_text is None else _parse(_json_loads(reader_text))
    buf = io.BytesIO(raw)
    buf.seek(_HEADER.size)
    record: dict[str, Any] = fastavro.schemaless_reader(buf, writer, reader)  # type: ignore[assignment]
    return record
