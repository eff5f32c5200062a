"""Where the selector meets the Kafka loop: the partitions held, the offsets' metadata.

The runner calls five methods and nothing else: ``assigned`` and ``revoked`` (or ``lost``)
from its rebalance callbacks, ``metadata`` when it sends a transaction's offsets,
``committed`` when that transaction committed, and ``rewound`` when it goes back to the
committed offsets. Metrics of the selection are kept here too, so the selector stays pure.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from confluent_kafka import KafkaException, TopicPartition

from consumer.errors import Fatal
from consumer.events import ScoreEvent
from consumer.observe import metrics as m
from consumer.selection.ledger import TP
from consumer.selection.selector import Selector

__all__ = ["SelectionSeam"]

log = logging.getLogger(__name__)

_TIMEOUT_S: Final = 10.0  # a rebalance callback's broker calls: metadata and committed
_MAX_KEY_LABELS: Final = 100  # label values of the per-key counter; the rest are "other"
_GAUGES_EVERY: Final = 64  # selections between refreshes of the budget gauges


class SelectionSeam:
    """The runner's side of the selector."""

    def __init__(self, *, selector: Selector, topic: str) -> None:
        """:param selector: the selection stage the pipeline asks.
        :param topic: the input topic, whose partition count sets each share."""
        self.selector = selector
        self._topic = topic
        self._labels: set[str] = set()
        self._total = 0  # the input topic's partitions, as of the last assignment
        self._since_gauges = 0

    def assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions taken: read what their hours spent from the committed offsets'
        metadata, and the topic's partition count (each instance's share follows)."""
        if not partitions:
            return
        try:
            meta = consumer.list_topics(self._topic, timeout=_TIMEOUT_S)
            total = len(meta.topics[self._topic].partitions)
            got = consumer.committed(partitions, timeout=_TIMEOUT_S)
        except KafkaException as exc:
            # Without what the hours spent the budget cannot be kept: exit, and let the
            # restart read it (the broker answered this group's join a moment ago).
            raise Fatal(f"cannot read the pair budget's committed spending: {exc}") from exc
        owned = {(tp.topic, tp.partition): tp.metadata for tp in got}
        self.selector.assign(owned, total)
        self._total = total
        self._log_share()

    def revoked(self, tps: list[TP]) -> None:
        self.selector.revoke(tps)
        self._log_share()

    def _log_share(self) -> None:
        log.info(
            "pair budget: %d of the group's %d per hour for %d of %d partitions",
            self.selector.ledger.budget(),
            self.selector.policy.budget_per_hour,
            len(self.selector.ledger.held()),
            self._total,
        )
        self.refresh()

    def metadata(self, tp: TP, offset: int) -> str | None:
        """The budget's section of ``tp``'s offset metadata, to commit with ``offset``
        (consumer/wire/offset_notes.py joins it with the others); None: not ours to write."""
        return self.selector.metadata(tp, offset)

    def committed(self, offsets: dict[TP, int]) -> None:
        for tp, offset in offsets.items():
            self.selector.committed(tp, offset)

    def rewound(self, tps: list[TP]) -> None:
        self.selector.rewind(tps)

    def selected(self, event: ScoreEvent) -> None:
        """Count a selected event by its fair-share key (the pipeline's callback)."""
        key = self.selector.key_of(event) or "none"
        if key not in self._labels:
            if len(self._labels) >= _MAX_KEY_LABELS:
                key = "other"
            else:
                self._labels.add(key)
        m.PAIRS_SELECTED.labels(key).inc()
        self._since_gauges += 1
        if self._since_gauges >= _GAUGES_EVERY:
            self.refresh()

    def refresh(self) -> None:
        self._since_gauges = 0
        budget, spent = self.selector.hour_spent(int(time.time() * 1000))
        m.PAIR_BUDGET.set(budget)
        m.PAIR_BUDGET_SPENT.set(spent)
        m.SITUATIONS.set(len(self.selector.memory))
        m.SITUATIONS_BYTES.set(self.selector.memory.nbytes)
