"""The state kept in the committed offsets' metadata, which follows its partitions.

Two owners keep state there, each its own section (``consumer/wire/offset_notes.py`` joins them):
the pair budget's spending (``consumer/selection``, through its seam) and the curriculum's
levels (``consumer/judge/curriculum.py``). Written with every transaction's offsets, so it is
exactly as durable as the outcomes it counts; read back when partitions are assigned, so a
restart or a rebalance forgets nothing and counts nothing that was not committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumer.runner.window import TP, Batch
from consumer.selection.seam import SelectionSeam
from consumer.wire import offset_notes

__all__ = ["OffsetMetadata"]

log = logging.getLogger(__name__)

_COMMITTED_TIMEOUT_S = 10.0  # reading the committed offsets inside a rebalance callback


class OffsetMetadata:
    """Each offset's metadata on the way out; the partitions' comings and goings for its
    owners (the selection seam is told what is assigned, revoked, committed and rewound)."""

    def __init__(
        self,
        *,
        selection: SelectionSeam | None = None,
        note: Callable[[], str] | None = None,
        on_assigned: Callable[[list[str | None]], None] | None = None,
    ) -> None:
        """
        :param selection: the pair budget's seam: writes each partition's spending as its
            section of that partition's metadata. None: no budget.
        :param note: state committed with every transaction's offsets, the same section for
            each partition (the curriculum's levels); called on the loop
        :param on_assigned: given the metadata committed for partitions as they are
            assigned, so that ``note``'s state follows its partitions
        """
        self._selection = selection
        self._note = note
        self._on_assigned = on_assigned

    def offsets(self, batch: Batch) -> list[TopicPartition]:
        """The batch's offsets, each with its partition's metadata (built on the loop,
        which owns both sections' state)."""
        note = self._note() if self._note is not None else None
        selection = self._selection
        offsets = []
        for (topic, part), _, offset in batch:
            spent = selection.metadata((topic, part), offset) if selection is not None else None
            meta = offset_notes.join((spent, note))
            if meta is None:
                offsets.append(TopicPartition(topic, part, offset))
            else:
                offsets.append(TopicPartition(topic, part, offset, metadata=meta))
        return offsets

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken: each owner reads its state back from their committed offsets."""
        if self._selection is not None:
            self._selection.assigned(consumer, partitions)
        if partitions and self._on_assigned is not None:
            try:
                noted = consumer.committed(partitions, _COMMITTED_TIMEOUT_S)
                self._on_assigned([c.metadata for c in noted])
            except KafkaException as exc:
                log.warning("committed offsets' notes not read at assignment: %s", exc)

    def revoked(self, tps: list[TP]) -> None:
        """Partitions gone (revoked or lost): the budget's shares follow them."""
        if self._selection is not None:
            self._selection.revoked(tps)

    def committed(self, batch: Batch) -> None:
        """A batch committed: what it spent is now spent for good."""
        if self._selection is not None:
            self._selection.committed({tp: offset for tp, _, offset in batch})

    def rewound(self, tps: list[TP]) -> None:
        """Partitions read again from their committed offsets: what was spent past those
        is spent no more."""
        if self._selection is not None:
            self._selection.rewound(tps)
