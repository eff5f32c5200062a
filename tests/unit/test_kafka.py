"""The Kafka edge: a consumed record becomes a SourceRef field for field (what a dead letter
carries on); a client setting librdkafka refuses is a configuration error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from consumer.errors import ConfigError
from consumer.events import SourceRef
from consumer.runner.kafka import make_consumer, make_producer, to_ref


def test_a_record_becomes_its_source_ref() -> None:
    msg = Message(
        topic="agents.trace-events",
        partition=3,
        offset=1207,
        key=b"trace-9",
        value=b"\x00\x00\x00\x00\x01body",
        headers=[("traceparent", b"00-ab"), ("note", "text"), ("empty", None)],
        timestamp=(TIMESTAMP_CREATE_TIME, 1_795_000_000_123),
    )
    assert to_ref(msg) == SourceRef(
        topic="agents.trace-events",
        partition=3,
        offset=1207,
        key=b"trace-9",
        value=b"\x00\x00\x00\x00\x01body",
        headers=(("traceparent", b"00-ab"), ("note", b"text"), ("empty", b"")),
        timestamp_ms=1_795_000_000_123,
    )


def test_a_record_without_a_timestamp_or_headers() -> None:
    msg = Message(
        topic="t",
        partition=0,
        offset=0,
        key=None,
        value=None,
        timestamp=(TIMESTAMP_NOT_AVAILABLE, 0),
    )
    ref = to_ref(msg)
    assert (ref.timestamp_ms, ref.headers, ref.key, ref.value) == (-1, (), None, None)


@pytest.mark.parametrize(
    ("make", "config", "needle"),
    [
        (
            make_consumer,
            {"group.id": "g", "linger.mss": "5"},
            'No such configuration property: "linger.mss"',
        ),
        (make_producer, {"linger.ms": "soon"}, "Invalid value for configuration property"),
        (make_producer, {"delivery.report.only.error": "true"}, "to be bool type, not str"),
    ],
)
def test_a_client_setting_librdkafka_refuses_is_a_configuration_error(
    make: Callable[[dict[str, Any]], object], config: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        make({"bootstrap.servers": "127.0.0.1:1", **config})
    (line,) = exc.value.lines
    assert line.startswith("SELFTAUGHT_KAFKA_*: the Kafka ") and needle in line
