"""``selftaught memoryci sync``: a reference consumer that feeds the cards topic to
purpose-agent's MemoryCI (the optional extra ``selftaught-consumer[memoryci]``).

It reads ``read_committed`` (only cards whose transaction committed), submits each card to
``MemoryCI`` over a persistent ``MemoryStore`` (a JSON file), skips a card the store already
holds (the ids are deterministic, so a re-read card is the same card), and commits the
offsets only after the store is saved: a crash re-reads what was not saved, and the ids make
that harmless. It prints each verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from consumer.errors import ConfigError
from consumer.settings import Settings
from consumer.wire import schemas
from consumer.wire.registry import registry_client

if TYPE_CHECKING:  # the optional extra: imported where used
    from purpose_agent.memory import MemoryCard as CiCard  # type: ignore[import-untyped]
    from purpose_agent.memory import MemoryStore

log = logging.getLogger(__name__)

__all__ = ["SyncReport", "Verdict", "compiled_prompt", "submit_all", "sync", "to_memoryci"]

CRITIC_PROMPT = "You are a critic: score each step of an agent's work with Φ from 0 to 10."


def _purpose_agent() -> Any:
    try:
        import purpose_agent.memory as memory  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigError(
            lines=["purpose-agent is not installed: pip install 'selftaught-consumer[memoryci]'"]
        ) from exc
    return memory


def to_memoryci(card: dict[str, Any]) -> CiCard:
    """A decoded card (a record of either schema version) as MemoryCI's MemoryCard."""
    memory = _purpose_agent()
    from purpose_agent.v2_types import MemoryScope  # type: ignore[import-untyped]

    scope = card.get("scope")
    return memory.MemoryCard(
        id=card["card_id"],
        kind=memory.MemoryKind(card["kind"]),
        scope=MemoryScope(agent_roles=list(scope["agent_roles"])) if scope else MemoryScope(),
        content=card["content"],
        pattern=card["pattern"],
        strategy=card["strategy"],
        trust_score=card["trust_score"],
        source_trace_id=card["source_trace_id"],
        created_at=card["created_at_ms"] / 1000,
        created_by=card["created_by"],
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    card_id: str
    kind: str
    status: str  # quarantined (passed the immune scan), rejected, or already_held
    threats: tuple[str, ...]


def submit_all(store: MemoryStore, cards: Iterable[dict[str, Any]]) -> list[Verdict]:
    """Submit each card not yet in ``store`` to MemoryCI; the verdicts, in order."""
    from purpose_agent.memory_ci import MemoryCI  # type: ignore[import-untyped]

    ci = MemoryCI(store)
    out = []
    for card in cards:
        if store.get(card["card_id"]) is not None:
            out.append(Verdict(card["card_id"], card["kind"], "already_held", ()))
            continue
        done = ci.submit(to_memoryci(card))
        threats = tuple(done.immune_scan_result.get("threats", ()))
        out.append(Verdict(done.id, card["kind"], done.status.value, threats))
    return out


def compiled_prompt(
    store: MemoryStore, task: str, *, promote: Callable[[str], bool] | None = None
) -> Any:
    """What a critic reads: MemoryCI's PromptCompiler over the store's promoted cards, after
    promoting the quarantined ones (``promote``; MemoryCI's own replay test would decide)."""
    from purpose_agent.compiler import PromptCompiler  # type: ignore[import-untyped]
    from purpose_agent.memory import MemoryStatus
    from purpose_agent.memory_ci import MemoryCI

    ci = MemoryCI(store)
    for card in store.get_by_status(MemoryStatus.QUARANTINED):
        if promote is None or promote(card.id):
            ci.promote(card.id)
    return PromptCompiler(store).compile(task=task, base_prompt=CRITIC_PROMPT)


@dataclass
class SyncReport:
    read: int = 0
    quarantined: int = 0
    rejected: int = 0
    already_held: int = 0

    def count(self, v: Verdict) -> None:
        self.read += 1
        if v.status == "already_held":
            self.already_held += 1
        elif v.status == "rejected":
            self.rejected += 1
        else:
            self.quarantined += 1


def sync(
    s: Settings,
    store_path: str,
    *,
    idle_exit_s: float | None = 10.0,
    print_line: Callable[[str], None] = print,
) -> SyncReport:
    """Feed the cards topic to MemoryCI with a persistent store at ``store_path``.

    :param s: the service's settings (brokers, registry, the cards topic); the group is
        ``<group_id>-memoryci``.
    :param store_path: the MemoryStore's JSON file (created if missing).
    :param idle_exit_s: return after this long with nothing to read; ``None``: run until
        interrupted.
    :param print_line: where each verdict goes.
    """
    memory = _purpose_agent()
    from confluent_kafka import Consumer, TopicPartition

    store = memory.MemoryStore(persistence_path=store_path)
    registry = registry_client(s)
    reader = schemas.text(schemas.MEMORY_CARD)
    # read_committed (only cards whose transaction committed: an aborted attempt's never
    # count), offsets committed below once a batch is stored.
    consumer = Consumer(s.consumer_config(group_id=f"{s.group_id}-memoryci"))
    report = SyncReport()
    idle_since = time.monotonic()
    try:
        consumer.subscribe([s.output_topic])
        while True:
            cards, ends = _read(consumer.consume(500, 1.0), registry.schema_text, reader)
            if not cards:
                if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    return report
                continue
            idle_since = time.monotonic()
            for v in submit_all(store, cards):
                report.count(v)
                threats = f" ({', '.join(v.threats)})" if v.threats else ""
                print_line(f"{v.card_id} {v.kind}: {v.status}{threats}")
            # MemoryStore saves its file on every change: by now this batch is on disk, so
            # the offsets may move past it.
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()],
                asynchronous=False,
            )
    finally:
        consumer.close()


def _read(
    records: list[Any], schema_text: Callable[[int], str], reader: str
) -> tuple[list[dict[str, Any]], dict[tuple[str, int], int]]:
    """The cards among ``records``, and per partition the offset after the last one read
    (a record that is not a card is logged and passed over)."""
    from consumer.wire.codec import decode_card

    cards = []
    ends: dict[tuple[str, int], int] = {}
    for r in records:
        topic, partition, offset = r.topic(), r.partition(), r.offset()
        if r.error() is None and topic and partition is not None and offset is not None:
            ends[topic, partition] = max(ends.get((topic, partition), -1), offset + 1)
        value = r.value()
        if r.error() is not None or value is None:
            log.warning("cards topic: %s", r.error() or "a record without a value")
            continue
        cards.append(decode_card(value, schema_text, reader))
    return cards, ends
