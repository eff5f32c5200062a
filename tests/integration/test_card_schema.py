"""MemoryCard version 2 against the real registry: FULL compatibility on the card subject, and
cards of either version read by readers of either version."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import fastavro
import pytest

from consumer.errors import RegistryUnavailable
from consumer.events import ContrastPair, MistakeType, WrongEvaluation
from consumer.stages.cards import CardPolicy, build_cards
from consumer.wire import schemas
from consumer.wire.codec import CardEncoder, decode_card, without_logical_types
from consumer.wire.registry import RegistryClient
from tests.integration.harness import Stack
from tests.unit.factories import score_event

pytestmark = pytest.mark.integration

V1 = (Path(__file__).resolve().parents[1] / "data/memory_card_v1.avsc").read_text()
V2 = schemas.text(schemas.MEMORY_CARD)


def _pair() -> ContrastPair:
    wrong = WrongEvaluation(
        9.0, "Great effort.", MistakeType.SYCOPHANCY, "It rewards effort.", "Score the state."
    )
    return ContrastPair(score_event("ev-v2", 3, 6), wrong, "rules/1", "rules/2")


def test_v2_registers_over_v1_with_full_compatibility_and_both_readers_read_both(
    stack: Stack,
) -> None:
    registry = RegistryClient(url=stack.registry)
    subject = f"cards-{uuid.uuid4().hex[:8]}-value"
    v1_id = registry.register(subject, V1, schemas.MEMORY_CARD_COMPATIBILITY)
    v2_id = registry.register(subject, V2, schemas.MEMORY_CARD_COMPATIBILITY)
    assert v1_id != v2_id
    assert registry.compatibility(subject) == "FULL"

    # A version 2 card, read by a version 1 reader: version 1's fields, the same values.
    correct, failure = build_cards(_pair(), CardPolicy(0.7, 16_000), 5)
    raw_v2 = CardEncoder(schema_id=v2_id).encode(failure)
    as_v1 = decode_card(raw_v2, registry.schema_text, V1)
    v1_fields = [f["name"] for f in json.loads(V1)["fields"]]
    assert list(as_v1) == v1_fields
    assert as_v1["content"] == failure.content and as_v1["mistake_type"] == "sycophancy"
    as_v2 = decode_card(raw_v2, registry.schema_text, V2)
    assert as_v2["why_wrong"] == "It rewards effort." and as_v2["prompt_version"] == "rules/2"
    assert as_v2["contrast"] == 3.0 and as_v2["difficulty"] is None and as_v2["judge"] is None

    # A version 1 card (as the service wrote before), read by a version 2 reader: the new
    # fields take their defaults.
    v1_record = {
        k: v
        for k, v in decode_card(
            CardEncoder(schema_id=v2_id).encode(correct), registry.schema_text, V1
        ).items()
    }
    buf = io.BytesIO()
    buf.write(b"\x00" + v1_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(without_logical_types(json.loads(V1))), v1_record
    )
    old = decode_card(buf.getvalue(), registry.schema_text, V2)
    assert old["content"] == correct.content
    for name in (
        "action_name",
        "state_before",
        "state_after",
        "why_wrong",
        "contrast",
        "difficulty",
        "judge",
        "prompt_version",
    ):
        assert old[name] is None


def test_the_card_subject_refuses_a_version_that_breaks_full_compatibility(
    stack: Stack,
) -> None:
    registry = RegistryClient(url=stack.registry)
    subject = f"cards-{uuid.uuid4().hex[:8]}-value"
    registry.register(subject, V2, schemas.MEMORY_CARD_COMPATIBILITY)
    broken = json.loads(V2)
    broken["fields"].append({"name": "required_later", "type": "string"})  # no default
    with pytest.raises(RegistryUnavailable, match="409"):
        registry.register(subject, json.dumps(broken))
