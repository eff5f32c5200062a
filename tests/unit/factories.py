"""Values for unit tests: events as the contract describes them."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro

from consumer.events import MemoryCard, ScoreData, ScoreEvent, TraceEvent
from consumer.generate.rules import RulesGenerator
from consumer.pipeline import Pipeline
from consumer.stages.cards import CardPolicy
from consumer.stages.qualify import Criteria, Scale
from consumer.wire import schemas
from consumer.wire.codec import CardEncoder, EventDecoder, without_logical_types


def score_data(phi_before: float = 3.0, phi_after: float = 6.0, **kw: Any) -> ScoreData:
    base: dict[str, Any] = {
        "state_before": "3 tests failing",
        "action_name": "edit_file",
        "state_after": "1 test failing",
        "phi_before": phi_before,
        "phi_after": phi_after,
        "reasoning": "Two of three failures are fixed; one remains.",
    }
    base.update(kw)
    return ScoreData(**base)


def trace_event(kind: str = "score", event_id: str = "ev-1", **score_kw: Any) -> TraceEvent:
    return TraceEvent(
        event_id=event_id,
        trace_id="tr-1",
        kind=kind,
        purpose="make the suite pass",
        step=2,
        timestamp_ms=1_700_000_000_000,
        agent_id=None,
        score=score_data(**score_kw) if kind == "score" else None,
    )


def score_event(
    event_id: str = "ev-1", phi_before: float = 3.0, phi_after: float = 6.0
) -> ScoreEvent:
    e = trace_event(event_id=event_id, phi_before=phi_before, phi_after=phi_after)
    assert e.score is not None
    return ScoreEvent(
        event_id=e.event_id,
        trace_id=e.trace_id,
        purpose=e.purpose,
        step=e.step,
        timestamp_ms=e.timestamp_ms,
        agent_id=e.agent_id,
        score=e.score,
    )


def event_record(event_id: str = "ev-1", kind: str = "score", **score: Any) -> dict[str, Any]:
    s = {
        "state_before": "before",
        "action_name": "act",
        "state_after": "after",
        "phi_before": 2.0,
        "phi_after": 5.0,
        "reasoning": "because",
    }
    s.update(score)
    return {
        "event_id": event_id,
        "trace_id": "tr-" + event_id,
        "kind": kind,
        "purpose": "purpose",
        "step": 1,
        "timestamp_ms": 1_700_000_000_000,
        "agent_id": None,
        "score": s if kind == "score" else None,
    }


def avro(schema_json: dict[str, Any], record: dict[str, Any], schema_id: int) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(without_logical_types(schema_json)), record
    )
    return buf.getvalue()


def evolved_schema() -> dict[str, Any]:
    """The input schema with one more optional field, as a newer producer would write it."""
    s = json.loads(schemas.text(schemas.TRACE_EVENT))
    s["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    return s


class MemorySchemas:
    """An in-process schema source (for unit tests of the codec: no network)."""

    def __init__(self, by_id: dict[int, str]) -> None:
        self.by_id = by_id
        self.fetches = 0

    def schema_text(self, schema_id: int) -> str:
        from consumer.errors import DecodeError

        self.fetches += 1
        if schema_id not in self.by_id:
            raise DecodeError(reason="unknown_schema_id", message=f"no schema {schema_id}")
        return self.by_id[schema_id]

    def register(self, subject: str, schema_text: str, compatibility: str | None = None) -> int:
        for i, t in self.by_id.items():
            if t == schema_text:
                return i
        new = max(self.by_id, default=0) + 1
        self.by_id[new] = schema_text
        return new


def card_record(card: MemoryCard) -> dict[str, Any]:
    """The card as the Avro record dict that fastavro writes and decoded cards compare with."""
    return {
        "card_id": card.card_id,
        "pair_id": card.pair_id,
        "kind": card.kind,
        "status": card.status,
        "content": card.content,
        "pattern": card.pattern,
        "strategy": card.strategy,
        "trust_score": card.trust_score,
        "purpose": card.purpose,
        "source_trace_id": card.source_trace_id,
        "source_event_id": card.source_event_id,
        "created_by": card.created_by,
        "created_at_ms": card.created_at_ms,
        "scope": None if card.scope is None else {"agent_roles": list(card.scope.agent_roles)},
        "mistake_type": card.mistake_type,
        "phi_before": card.phi_before,
        "phi_after": card.phi_after,
        "generator": card.generator,
        "action_name": card.action_name,
        "state_before": card.state_before,
        "state_after": card.state_after,
        "why_wrong": card.why_wrong,
        "contrast": card.contrast,
        "difficulty": card.difficulty,
        "judge": card.judge,
        "prompt_version": card.prompt_version,
    }


def pipeline(generator: object | None = None) -> Pipeline:
    """A pipeline with the rules generator (or ``generator``), fetching schemas from memory:
    1 and 3 are the trace event schema, 2 the card schema."""
    src = MemorySchemas(
        {
            1: schemas.text(schemas.TRACE_EVENT),
            2: schemas.text(schemas.MEMORY_CARD),
            3: schemas.text(schemas.TRACE_EVENT),
        }
    )
    return Pipeline(
        decoder=EventDecoder(source=src),
        criteria=Criteria(Scale(0, 10), 0.5, 1.0, 1000),
        generator=generator or RulesGenerator(scale=Scale(0, 10), min_contrast=1.0),  # type: ignore[arg-type]
        encoder=CardEncoder(schema_id=2),
        policy=CardPolicy(0.7, 16_000),
        min_contrast=1.0,
        clock_ms=lambda: 99,
    )
