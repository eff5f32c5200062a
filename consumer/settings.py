"""Settings: one frozen model read from the environment and validated once, at start.

This is the only module that turns our settings into librdkafka dictionaries.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumer.errors import ConfigError
from consumer.kafka_properties import CONSUMER_ONLY, OWNED_KAFKA_KEYS, PRODUCER_ONLY
from consumer.settings_llm import LlmSettings

PREFIX = "SELFTAUGHT_"
KAFKA_PREFIX = PREFIX + "KAFKA_"
_SECRET_HINTS = ("password", "secret", "key", "token", "jaas")


class Settings(LlmSettings, BaseSettings):
    """Every setting of the service (the LLM's in ``LlmSettings``). Names map to
    ``SELFTAUGHT_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    schema_registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    schema_registry_user: str | None = None
    schema_registry_password: SecretStr | None = None
    input_topic: str = Field("agent.trace-events", min_length=1)
    output_topic: str = Field("agent.memory-cards", min_length=1)
    dlq_topic: str = Field("agent.trace-events.dlq", min_length=1)
    group_id: str = Field("selftaught-calibrator", min_length=1)
    instance_id: str | None = None

    llm_backend: Literal["auto", "anthropic", "rules"] = "auto"
    min_delta: float = Field(0.5, ge=0, allow_inf_nan=False)
    phi_min: float = Field(0.0, allow_inf_nan=False)
    phi_max: float = Field(10.0, allow_inf_nan=False)
    sample_rate: float = Field(1.0, ge=0, le=1, allow_inf_nan=False)
    min_contrast: float = Field(1.0, gt=0, allow_inf_nan=False)
    trust_score: float = Field(0.7, ge=0, le=1, allow_inf_nan=False)
    http_port: int = Field(9400, ge=0, le=65535)

    # How often completed work is committed. The broker needs ~20 ms per transaction to
    # write its markers, so much more often buys nothing; much less adds latency.
    commit_interval_ms: int = Field(100, ge=10, le=10_000)
    # The in-flight window: records read but not yet committed. Bounds memory whatever the
    # backlog; partitions pause when full and resume below half.
    max_in_flight: int = Field(5000, ge=1)
    max_in_flight_per_partition: int = Field(2000, ge=1)
    # SIGTERM: time in-flight work gets to finish before the last commit. Keep it below the
    # pod's terminationGracePeriodSeconds minus a commit (the Helm chart derives it).
    drain_timeout_s: float = Field(20.0, ge=0)
    # Input text fields longer than this are invalid input (dead-lettered, stage validate):
    # they cannot be sent to a model whole, and would make oversized cards.
    max_text_chars: int = Field(1_000_000, ge=1)
    # Card text fields are shortened past this, with a marker, so a card always fits in a
    # broker's default 1 MB message.
    card_text_chars: int = Field(16_000, ge=200)
    # A card is one line in a critic's prompt (MemoryCI's PromptCompiler counts a line's
    # length over 4 as its tokens): these defaults keep each card's line under 150 tokens.
    # content: the situation and the reasoning; excerpt: each state, head and tail kept;
    # pattern and strategy: a failure card's line, "- Avoid: <pattern> — <strategy>".
    card_content_chars: int = Field(560, ge=120)
    card_excerpt_chars: int = Field(110, ge=20)
    card_pattern_chars: int = Field(150, ge=60)
    card_strategy_chars: int = Field(420, ge=80)

    # Selection (consumer/selection, README "Which events are paired"): the group's pairs per
    # hour of event time (0: no budget, every qualifying event is paired, no selection).
    pair_budget_per_hour: int = Field(0, ge=0)
    # select: an event over the budget is skipped and committed, so lag stays at zero;
    # wait: it waits for the next hour (of wall time), as the spend cap makes calls wait.
    budget_mode: Literal["select", "wait"] = "select"
    fair_share_key: Literal["purpose", "agent_id", "none"] = "purpose"
    # The estimated Jaccard similarity of two situations' normalised states (same purpose
    # and action) at which the later is a duplicate; measured in bench/README.md.
    duplicate_similarity: float = Field(0.7, gt=0, le=1, allow_inf_nan=False)
    # Situations remembered per instance: ~84 bytes each (17 MB at the default), and
    # forgotten after this much event time.
    situation_memory: int = Field(200_000, ge=1, le=10_000_000)
    situation_max_age_s: float = Field(86_400.0, gt=0, allow_inf_nan=False)

    # /healthz fails when the consumer loop has not polled for this long: well below
    # librdkafka's max.poll.interval.ms (300 s), so a wedged pod is restarted before the
    # group evicts it, and well above the slowest commit we tolerate.
    health_stuck_after_s: float = Field(60.0, gt=0, allow_inf_nan=False)

    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Read by the Anthropic SDK too; here only to choose the backend and to mask it in logs.
    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")

    kafka_extra: dict[str, str] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _scale_is_a_range(self) -> Self:
        if self.phi_max <= self.phi_min:
            raise ValueError("SELFTAUGHT_PHI_MAX must be greater than SELFTAUGHT_PHI_MIN")
        if self.min_contrast > self.phi_max - self.phi_min:
            raise ValueError("SELFTAUGHT_MIN_CONTRAST cannot exceed the width of the Φ scale")
        return self

    @property
    def backend(self) -> Literal["anthropic", "rules"]:
        """The generator backend after resolving ``auto``."""
        if self.llm_backend == "auto":
            return "anthropic" if self.anthropic_api_key else "rules"
        return self.llm_backend

    def transactional_id(self, instance_id: str) -> str:
        return f"{self.group_id}-{instance_id}"

    def _common_kafka(self, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
        # librdkafka warns at every start about (and ignores) the other role's properties:
        # SELFTAUGHT_KAFKA_* reaches each client without them.
        extra = {k: v for k, v in self.kafka_extra.items() if k not in drop}
        return {"bootstrap.servers": self.bootstrap_servers, **extra}

    def consumer_config(self, group_id: str | None = None) -> dict[str, Any]:
        """The service's consumer; ``group_id``: another group's (MemoryCI's reader of the
        cards), with the same guarantees."""
        return {
            **self._common_kafka(drop=PRODUCER_ONLY),
            "group.id": group_id or self.group_id,
            # Offsets move only inside our transactions.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # Never read another producer's aborted output (the librdkafka default; stated
            # because exactly-once depends on it).
            "isolation.level": "read_committed",
            # Incremental rebalancing: a joining or leaving instance does not stop the others.
            "partition.assignment.strategy": "cooperative-sticky",
            "auto.offset.reset": self.offset_reset,
            # Bound the prefetch buffer: the in-flight window bounds the rest of memory.
            "queued.max.messages.kbytes": int(
                self.kafka_extra.get("queued.max.messages.kbytes", 16384)
            ),
        }

    def producer_config(self, instance_id: str) -> dict[str, Any]:
        return {
            **self._common_kafka(drop=CONSUMER_ONLY),
            # Stable per instance, so a restarted pod fences its predecessor at once.
            "transactional.id": self.transactional_id(instance_id),
            "enable.idempotence": True,
            # A transaction lives for one produce-and-commit burst (milliseconds); a minute
            # leaves room for a slow broker without letting a zombie hold partitions long.
            "transaction.timeout.ms": int(self.kafka_extra.get("transaction.timeout.ms", 60000)),
            # Cards are small; batching for a few ms costs nothing since we commit every
            # commit_interval_ms anyway.
            "linger.ms": int(self.kafka_extra.get("linger.ms", 5)),
            # Dead letters carry the original value untouched, which may be larger than a card.
            "message.max.bytes": int(self.kafka_extra.get("message.max.bytes", 16 * 1024 * 1024)),
        }

    def admin_config(self, logger: logging.Logger | None = None) -> dict[str, Any]:
        """An admin client's; ``logger``: where librdkafka's own lines go (else stderr)."""
        config = self._common_kafka(drop=CONSUMER_ONLY)  # an admin client is a producer handle
        return config if logger is None else {**config, "logger": logger}

    def plain_producer_config(self) -> dict[str, Any]:
        """A producer outside any transaction (the demo's sample records)."""
        return self._common_kafka(drop=CONSUMER_ONLY)

    @property
    def offset_reset(self) -> str:
        """Where a partition with no committed offset starts (``auto.offset.reset``)."""
        return str(self.kafka_extra.get("auto.offset.reset", "earliest"))

    def reader_config(self, group_id: str, *, uncommitted: bool = False) -> dict[str, Any]:
        """A consumer of committed records that assigns its partitions itself (the DLQ
        replay, the demo's read-back): offsets move only in a transaction, if at all.
        ``uncommitted``: of every record instead (the read-back compares the two ends)."""
        return {
            **self._common_kafka(drop=PRODUCER_ONLY),
            "group.id": group_id,
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted" if uncommitted else "read_committed",
            "auto.offset.reset": "earliest",
        }

    def replay_producer_config(self, group_id: str) -> dict[str, Any]:
        """The DLQ replay's transactional producer: its transactional id is its group's, so
        a replay run again fences one that is still running."""
        return {**self.producer_config(group_id), "transactional.id": group_id}

    def masked(self) -> dict[str, Any]:
        """The settings as they may be logged: every secret masked."""
        out = self.model_dump(mode="json", exclude={"kafka_extra"})
        for name in ("schema_registry_password", "anthropic_api_key"):
            if out.get(name):
                out[name] = "***"
        out["kafka"] = {k: mask_kafka_value(k, v) for k, v in self.kafka_extra.items()}
        return out


def mask_kafka_value(key: str, value: str) -> str:
    return "***" if any(h in key for h in _SECRET_HINTS) else value


def kafka_passthrough(environ: Mapping[str, str]) -> dict[str, str]:
    """``SELFTAUGHT_KAFKA_<NAME>`` -> ``{"<name>": value}``, lower-cased, ``_`` as ``.``."""
    out: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(KAFKA_PREFIX) and len(name) > len(KAFKA_PREFIX):
            out[name[len(KAFKA_PREFIX) :].lower().replace("_", ".")] = value
    return out


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise ``ConfigError`` with one line per mistake."""
    env = dict(os.environ if environ is None else environ)
    extra = kafka_passthrough(env)
    problems = [
        f"SELFTAUGHT_KAFKA_{k.upper().replace('.', '_')}: {k} is set by the service itself "
        "and cannot be overridden"
        for k in sorted(extra.keys() & OWNED_KAFKA_KEYS)
    ]
    known = {PREFIX + n.upper() for n in Settings.model_fields}
    for name in sorted(env):
        if name.startswith(PREFIX) and not name.startswith(KAFKA_PREFIX) and name not in known:
            problems.append(f"{name}: unknown setting (see the README's configuration table)")
    try:
        settings = _from_env(env, extra)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            var = "ANTHROPIC_API_KEY" if field == "anthropic_api_key" else PREFIX + field.upper()
            got = env.get(var)
            shown = f" (got {got!r})" if got is not None and "key" not in var.lower() else ""
            where = f"{var}: " if field else ""
            problems.append(f"{where}{err['msg']}{shown}")
    if problems:
        raise ConfigError(lines=problems)
    return settings


def _from_env(env: dict[str, str], extra: dict[str, str]) -> Settings:
    # pydantic-settings reads os.environ; pass the mapping explicitly so tests and the
    # demo can hand in their own without touching the process environment.
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        var = "ANTHROPIC_API_KEY" if name == "anthropic_api_key" else PREFIX + name.upper()
        if var in env and name != "kafka_extra":
            values[name if name != "anthropic_api_key" else "ANTHROPIC_API_KEY"] = env[var]
    return Settings.model_validate({**values, "kafka_extra": extra})


def resolve_instance_id(settings: Settings, environ: Mapping[str, str]) -> tuple[str, str]:
    """The instance's stable identity and where it came from (for the start-up log).

    Stable across restarts of one pod, so the restart fences its predecessor; unique among
    live instances, because two sharing a transactional.id fence each other in a loop.
    """
    if settings.instance_id:
        return settings.instance_id, "SELFTAUGHT_INSTANCE_ID"
    if environ.get("POD_NAME"):
        return environ["POD_NAME"], "POD_NAME"
    if environ.get("KUBERNETES_SERVICE_HOST") and environ.get("HOSTNAME"):
        return environ["HOSTNAME"], "HOSTNAME (the pod's name)"
    unique = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return (
        unique,
        "generated, unique to this process (set SELFTAUGHT_INSTANCE_ID to make it stable)",
    )
