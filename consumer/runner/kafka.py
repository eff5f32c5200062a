"""The Kafka edge: clients, records in and out, dead-letter records, topic creation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.errors import ConfigError
from consumer.events import SourceRef

__all__ = [
    "DLQ_HEADERS",
    "DLQ_MAX_MESSAGE_BYTES",
    "HEADER_PREFIX",
    "H_CLASS",
    "H_MESSAGE",
    "H_OFFSET",
    "H_PARTITION",
    "H_STAGE",
    "H_TIMESTAMP",
    "H_TOPIC",
    "ClientErrors",
    "Failure",
    "TopicSpec",
    "dead_letter_headers",
    "ensure_topics",
    "header",
    "kafka_error",
    "make_consumer",
    "make_producer",
    "original_headers",
    "record_headers",
    "service_topics",
    "to_ref",
]

log = logging.getLogger(__name__)
_Client = TypeVar("_Client", Consumer, Producer)

HEADER_PREFIX = "selftaught."  # every header this service adds to a dead letter
H_STAGE = HEADER_PREFIX + "error.stage"
H_CLASS = HEADER_PREFIX + "error.class"
H_MESSAGE = HEADER_PREFIX + "error.message"
H_TOPIC = HEADER_PREFIX + "original.topic"
H_PARTITION = HEADER_PREFIX + "original.partition"
H_OFFSET = HEADER_PREFIX + "original.offset"
H_TIMESTAMP = HEADER_PREFIX + "original.timestamp"
DLQ_HEADERS = (H_STAGE, H_CLASS, H_MESSAGE, H_TOPIC, H_PARTITION, H_OFFSET, H_TIMESTAMP)

# Dead letters keep the original value untouched, so the DLQ topic must take at least what
# the input topic takes; topics we create get this limit (16 MiB).
DLQ_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_MAX_ERROR_MESSAGE = 1000


def to_ref(msg: Message) -> SourceRef:
    ts_type, ts = msg.timestamp()
    # Positional, in the fields' order: from keywords it cost twice as much, at every record.
    return SourceRef(
        msg.topic() or "",  # topic
        msg.partition() or 0,  # partition
        msg.offset() or 0,  # offset
        msg.key(),  # key
        msg.value(),  # value
        record_headers(msg),  # headers
        ts if ts_type != 0 else -1,  # timestamp_ms
    )


def record_headers(msg: Message) -> tuple[tuple[str, bytes], ...]:
    """A consumed record's headers, in order, as bytes (a null header value becomes b"")."""
    raw = msg.headers()
    if not raw:
        return ()  # the common case, at every record: no generator to build
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (k, v.encode() if isinstance(v, str) else (v if v is not None else b"")) for k, v in pairs
    )


class Failure(Protocol):
    """Why a record is dead-lettered (the pipeline's ``DeadLetter`` is one): the Kafka edge
    knows the shape, not the pipeline."""

    @property
    def stage(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...


def dead_letter_headers(ref: SourceRef, dl: Failure) -> list[tuple[str, bytes]]:
    """The original headers, unchanged, then ours (so ours are the last of each name)."""
    ours = {
        H_STAGE: dl.stage,
        H_CLASS: dl.reason,
        H_MESSAGE: dl.message[:_MAX_ERROR_MESSAGE],
        H_TOPIC: ref.topic,
        H_PARTITION: str(ref.partition),
        H_OFFSET: str(ref.offset),
        H_TIMESTAMP: str(ref.timestamp_ms),
    }
    return [*ref.headers, *((k, v.encode("utf-8", "replace")) for k, v in ours.items())]


def original_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A dead letter's headers without the ones this service added (for replay)."""
    return [(k, v) for k, v in headers if k not in DLQ_HEADERS]


def header(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    """The last value of a header, decoded."""
    found = None
    for k, v in headers:
        if k == name:
            found = v.decode("utf-8", "replace")
    return found


def kafka_error(exc: KafkaException) -> KafkaError:
    err = exc.args[0]
    assert isinstance(err, KafkaError)
    return err


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: tuple[tuple[str, str], ...] = ()


def ensure_topics(admin_config: dict[str, Any], specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AdminClient(admin_config)
    existing = admin.list_topics(timeout=15).topics
    wanted = [
        NewTopic(s.name, num_partitions=s.partitions, config=dict(s.config))
        for s in specs
        if s.name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, fut in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if kafka_error(exc).code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def service_topics(
    input_topic: str, output_topic: str, dlq_topic: str, partitions: int
) -> list[TopicSpec]:
    return [
        TopicSpec(input_topic, partitions),
        TopicSpec(output_topic, partitions),
        TopicSpec(dlq_topic, 1, (("max.message.bytes", str(DLQ_MAX_MESSAGE_BYTES)),)),
    ]


class ClientErrors:
    """The clients' ``error_cb``: logs what librdkafka reports and keeps a refused login.

    librdkafka treats refused credentials like any broker connection failure: it reconnects
    for ever, and a call that needs the broker (init_transactions) times out and is retried.
    A wrong password does not fix itself, so the first authentication failure is kept here
    and the runner ends the process with it (``auth_failure``); it is not logged here, where
    every reconnect would repeat it, but once, as the reason the process exits.
    """

    def __init__(self) -> None:
        self.auth_failure: str | None = None

    def __call__(self, err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION:
            self.auth_failure = self.auth_failure or err.str()
            return
        _log_client_error(err)


class _LibrdkafkaLog:
    """librdkafka's own log lines, into ours; a broker connection failure at most a warning.

    librdkafka logs each failed connection (facility FAIL) at error level and reports the
    same failure to error_cb, which judges it: transient trouble is a warning there, and a
    refused login is the one error line the process exits with.
    """

    def log(self, level: int, msg: str, *args: Any) -> None:
        if args and args[0] == "FAIL":
            level = min(level, logging.WARNING)
        log.log(level, msg, *args)


def make_consumer(config: dict[str, Any], errors: ClientErrors | None = None) -> Consumer:
    return _client("consumer", Consumer, config, errors)


def make_producer(config: dict[str, Any], errors: ClientErrors | None = None) -> Producer:
    return _client("producer", Producer, config, errors)


def _client(
    role: str,
    make: Callable[[dict[str, Any]], _Client],
    config: dict[str, Any],
    errors: ClientErrors | None,
) -> _Client:
    try:
        return make({**config, "error_cb": errors or _log_client_error, "logger": _LibrdkafkaLog()})
    except KafkaException as exc:
        # An unknown property or a bad value, from SELFTAUGHT_KAFKA_*: a setting is wrong,
        # and the service refuses to start with one line, not a traceback.
        err = kafka_error(exc)
        if err.code() != KafkaError._INVALID_ARG:
            raise
        why = err.str()
    except (TypeError, ValueError) as exc:
        # The Python client's own properties (delivery.report.only.error wants a bool; a
        # SELFTAUGHT_KAFKA_* value is always a string).
        why = str(exc)
    raise ConfigError(lines=[f"SELFTAUGHT_KAFKA_*: the Kafka {role} refused its settings: {why}"])


def _log_client_error(err: KafkaError) -> None:
    # librdkafka reports transient broker trouble here and recovers by itself; only a fatal
    # error is acted on (by the runner, when the next call raises it), and a refused login
    # (ClientErrors).
    level = logging.ERROR if err.fatal() else logging.WARNING
    log.log(level, "kafka client: %s", err.str())
