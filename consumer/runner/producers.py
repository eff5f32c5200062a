"""The transactional producer in use, and its replacement when a call is stuck inside it.

A call blocked far past its timeout (calls.py's watchdog) cannot be woken: librdkafka's
``send_offsets_to_transaction`` ignores its timeout (confluentinc/librdkafka#5456) and waits
for ever for a group coordinator whose broker left the cluster's metadata (#5511). The way
on is a new producer with the same ``transactional.id``: its ``init_transactions`` fences the
stuck one, and the partitions rewind to their committed offsets (rewind.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Producer

from consumer.errors import Fatal
from consumer.observe import metrics as m

__all__ = ["REPLACEMENTS_BEFORE_EXIT", "Producers"]

log = logging.getLogger(__name__)

# Each replacement leaves a thread blocked in librdkafka with its producer; past this many a
# restart is cleaner.
REPLACEMENTS_BEFORE_EXIT = 5


class Producers:
    """The producer in use, and the stuck ones it replaced (kept, never closed)."""

    def __init__(
        self, *, producer: Producer, new_producer: Callable[[], Producer] | None = None
    ) -> None:
        """
        :param producer: a transactional producer (``transactional.id`` set)
        :param new_producer: makes a producer like ``producer`` (the same transactional.id);
            without it a stuck producer cannot be replaced and ``replace`` is ``Fatal``
        """
        self.current = producer
        self._new_producer = new_producer
        self._abandoned: list[Producer] = []

    def replace(self, why: str) -> Producer:
        """Leave the producer in use to its stuck call and make a new one (not initialised).

        ``Fatal`` when there is no way to make one, or after ``REPLACEMENTS_BEFORE_EXIT``.
        """
        if self._new_producer is None or len(self._abandoned) >= REPLACEMENTS_BEFORE_EXIT:
            raise Fatal(why)
        m.TRANSACTIONS.labels("aborted").inc()
        log.warning("%s (librdkafka#5511): replacing the producer, rewinding to the commit", why)
        # Not closed: its stuck call holds it, and closing would wait for that call. Kept
        # referenced, so it is not freed (and flushed) under that thread either.
        self._abandoned.append(self.current)
        self.current = self._new_producer()
        return self.current
