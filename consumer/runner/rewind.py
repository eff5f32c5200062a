"""The rewind: drop what is in flight and read again from the committed offsets.

Two things make the in-flight work untrustworthy: the same work aborting
``ABORTS_BEFORE_REWIND`` times in a row, and a producer replaced while its transaction was
open (whether that one committed shows only in the committed offsets). Either way every
assigned partition goes back to its committed offset: what was in flight and not committed
is done again, and what was committed lies behind that offset (nothing is written twice).
"""

from __future__ import annotations

import logging

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from consumer.runner.metadata import OffsetMetadata
from consumer.runner.observation import Observer
from consumer.runner.window import Window

__all__ = ["Rewind"]

log = logging.getLogger(__name__)

_COMMITTED_TIMEOUT_S = 30.0  # reading the committed offsets to go back to


class Rewind:
    """Seeks every assigned partition back to its committed offset."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        window: Window,
        observer: Observer,
        metadata: OffsetMetadata,
        reset_to_latest: bool = False,
    ) -> None:
        """
        :param consumer: the consumer whose partitions seek
        :param window: every queue is dropped and opened again, empty
        :param observer: the dropped partitions' series are reset
        :param metadata: told which partitions go back (what was spent past the committed
            offsets is not spent)
        :param reset_to_latest: where a partition with no committed offset goes
            (``auto.offset.reset=latest``; else the beginning)
        """
        self._consumer = consumer
        self._window = window
        self._observer = observer
        self._metadata = metadata
        self._reset = OFFSET_END if reset_to_latest else OFFSET_BEGINNING

    def to_committed(self) -> None:
        """Drop every queue and seek each assigned partition back to its committed offset."""
        tps = list(self._window.queues)
        # The partitions stay assigned, so librdkafka keeps their pauses: pausing keeps its
        # record of them too (``Rebalance.drop`` would forget it), and resumes them as the
        # emptied queues allow. Forgotten, a partition paused by backpressure stays paused.
        self._observer.dropped(self._window.drop(tps))
        self._metadata.rewound(tps)
        self._window.open(tps)
        if not tps:
            return
        wanted = [TopicPartition(t, p) for t, p in tps]
        for c in self._consumer.committed(wanted, _COMMITTED_TIMEOUT_S):
            target = TopicPartition(
                c.topic, c.partition, c.offset if c.offset >= 0 else self._reset
            )
            try:
                self._consumer.seek(target)
            except KafkaException as exc:
                # A partition not fetching yet cannot seek; re-assigning it at the committed
                # offset has the same effect.
                log.warning("seek %s[%d]: %s; re-assigning", c.topic, c.partition, exc)
                self._consumer.incremental_unassign([TopicPartition(c.topic, c.partition)])
                self._consumer.incremental_assign([target])
        log.warning("rewound %d partitions to their committed offsets", len(tps))
