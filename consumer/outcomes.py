"""What one record comes to: two cards, a dead letter, a skip, or a disputed pair.

The pipeline returns one of these for every record (or a coroutine that will); the runner
writes it in the transaction that commits the record's offset. The two made for nearly every
record are NamedTuples, the cheapest value to build (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NamedTuple

from consumer.errors import BadRecord
from consumer.selection import Unselected
from consumer.stages.qualify import Skip

__all__ = [
    "DeadLetter",
    "Disputed",
    "Outcome",
    "Pending",
    "Produced",
    "Skipped",
    "dead_letter",
]


class Produced(NamedTuple):
    """Two encoded cards for one pair, keyed by the source trace id (a NamedTuple: one is
    made for every qualifying record)."""

    key: bytes
    cards: tuple[bytes, bytes]
    mistake_type: str
    generator: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot become cards, for the dead-letter topic: which stage refused
    it, a short reason (a metric label) and the message."""

    stage: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that does not become a pair, and why (a metric label)."""

    why: Skip | Unselected


class Disputed(NamedTuple):
    """A pair the judge got wrong in both orders: not published; ``value`` is the record
    for the disputed topic (``judge.check.disputed_record``)."""

    key: bytes
    value: bytes
    mistake_type: str
    generator: str


Outcome = Produced | DeadLetter | Skipped | Disputed
Pending = Coroutine[Any, Any, Outcome]


def dead_letter(exc: BadRecord) -> DeadLetter:
    return DeadLetter(stage=exc.stage, reason=exc.reason, message=exc.message)
