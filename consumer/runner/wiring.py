"""The runner's collaborators built from the settings and the clients, and who is handed
whom: the window, pausing, the transaction, observation, the commit cycle with its rewind,
the rebalance and the intake (docs/architecture.md draws them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer

from consumer.observe.health import Health
from consumer.pipeline import Pipeline
from consumer.runner.commit import Commits, CommitSchedule
from consumer.runner.intake import Intake
from consumer.runner.kafka import ClientErrors
from consumer.runner.metadata import OffsetMetadata
from consumer.runner.observation import Observer
from consumer.runner.pausing import Pausing
from consumer.runner.rebalance import Rebalance
from consumer.runner.rewind import Rewind
from consumer.runner.status import Status
from consumer.runner.transaction import Transaction
from consumer.runner.window import TP, Window
from consumer.settings import Settings

__all__ = ["Collaborators", "collaborators"]


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What the loop delegates to, each owning its own state."""

    status: Status
    window: Window
    pausing: Pausing
    transaction: Transaction
    observer: Observer
    commits: Commits
    rebalance: Rebalance
    intake: Intake


def collaborators(
    settings: Settings,
    pipeline: Pipeline,
    consumer: Consumer,
    producer: Producer,
    health: Health,
    *,
    on_commit: Callable[[dict[TP, int]], None] | None,
    client_errors: ClientErrors | None,
    new_producer: Callable[[], Producer] | None,
    metadata: OffsetMetadata,
) -> Collaborators:
    """The collaborators of one runner (the parameters are ``Runner``'s)."""
    s = settings
    status, window = Status(), Window()
    pausing = Pausing(
        consumer=consumer,
        max_in_flight=s.max_in_flight,
        per_partition=s.max_in_flight_per_partition,
    )
    txn = Transaction(
        producer=producer,
        output_topic=s.output_topic,
        dlq_topic=s.dlq_topic,
        health=health,
        status=status,
        client_errors=client_errors,
        disputed_topic=s.disputed_topic,
        metadata=metadata,
        new_producer=new_producer,
    )
    observer = Observer(consumer=consumer, window=window, pausing=pausing, health=health)
    commits = _commits(s, consumer, window, txn, observer, metadata, status, on_commit)
    rebalance = Rebalance(
        consumer=consumer,
        window=window,
        pausing=pausing,
        transaction=txn,
        commits=commits,
        observer=observer,
        metadata=metadata,
        health=health,
        status=status,
    )
    intake = Intake(
        consumer=consumer,
        pipeline=pipeline,
        window=window,
        pausing=pausing,
        calls=txn.calls,
        health=health,
        status=status,
    )
    return Collaborators(status, window, pausing, txn, observer, commits, rebalance, intake)


def _commits(
    s: Settings,
    consumer: Consumer,
    window: Window,
    txn: Transaction,
    observer: Observer,
    metadata: OffsetMetadata,
    status: Status,
    on_commit: Callable[[dict[TP, int]], None] | None,
) -> Commits:
    """The commit cycle on the settings' interval and window limits, with its rewind."""
    return Commits(
        consumer=consumer,
        window=window,
        transaction=txn,
        rewind=Rewind(
            consumer=consumer,
            window=window,
            observer=observer,
            metadata=metadata,
            reset_to_latest=s.offset_reset == "latest",
        ),
        observer=observer,
        metadata=metadata,
        status=status,
        schedule=CommitSchedule(
            interval_s=s.commit_interval_ms / 1000,
            max_in_flight=s.max_in_flight,
            per_partition=s.max_in_flight_per_partition,
        ),
        on_commit=on_commit,
    )
