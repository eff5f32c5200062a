"""Fuzz the decoder: whatever bytes arrive, it returns an event or raises DecodeError.

Bounded in time (a few seconds) so it runs in every suite; raise HYPOTHESIS_PROFILE=long for
a deeper run.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.errors import DecodeError
from consumer.wire import schemas
from consumer.wire.codec import EventDecoder
from tests.unit.factories import MemorySchemas, avro, event_record

settings.register_profile(
    "suite", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=200_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

DECODER = EventDecoder(source=MemorySchemas({1: schemas.text(schemas.TRACE_EVENT)}))
DECODER.load(1)
VALID = avro(json.loads(schemas.text(schemas.TRACE_EVENT)), event_record("fuzz"), 1)


def decodes_or_rejects(raw: bytes) -> None:
    try:
        event = DECODER.decode(raw)
    except DecodeError as exc:
        assert exc.reason and exc.stage == "decode"
    else:
        assert isinstance(event.event_id, str)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_after_a_known_header(body: bytes) -> None:
    decodes_or_rejects(VALID[:5] + body)


@given(st.integers(0, len(VALID) - 1), st.integers(0, 255))
def test_single_byte_corruptions_of_a_valid_record(at: int, byte: int) -> None:
    raw = bytearray(VALID)
    raw[at] = byte
    if at < 5 and bytes(raw[:5]) != VALID[:5]:
        return  # another header is a different test (unknown id or bad magic)
    decodes_or_rejects(bytes(raw))


@given(st.integers(1, len(VALID) - 1), st.binary(max_size=64))
def test_truncations_and_extensions(cut: int, tail: bytes) -> None:
    raw = VALID[:cut] + tail
    if len(raw) >= 5 and raw[:5] != VALID[:5]:
        return  # the pipeline loads a header's schema before decoding; see test_pipeline
    decodes_or_rejects(raw)
