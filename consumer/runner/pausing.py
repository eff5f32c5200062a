"""Pausing: which assigned partitions are paused, what pauses them and what resumes them.

Two things pause a partition:

- **backpressure** (``Pausing.apply``, deciding with ``backpressure``): its queue reaches
  ``max_in_flight_per_partition``, or the records in flight reach ``max_in_flight`` in total.
  It resumes when its queue is down to half its limit and the total to half of the total's.
- **a hold** (``Pausing.hold``): the service is stopping, or the LLM refused our credentials.
  Every partition stays paused, and so does each one assigned meanwhile; backpressure no
  longer resumes anything.

A paused partition is still polled: group membership and the rebalance callbacks depend on
``consume()``. Pausing drops what librdkafka had fetched for the partition (it is fetched
again on resume), which is why the loop would rather wait for a commit than pause.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sized

from confluent_kafka import Consumer, TopicPartition

from consumer.observe import metrics as m
from consumer.runner.window import TP, Window

__all__ = ["Pausing", "backpressure"]

log = logging.getLogger(__name__)


def backpressure(
    queues: Mapping[TP, Sized],
    paused: set[TP],
    *,
    in_flight: int,
    max_in_flight: int,
    per_partition: int,
) -> tuple[list[TP], list[TP]]:
    """The partitions to pause and the ones to resume, given how full each queue is.

    :param queues: each assigned partition's queue of records in flight
    :param paused: the partitions paused now
    :param in_flight: the records in flight, all partitions together
    :param max_in_flight: the limit on ``in_flight``
    :param per_partition: the limit on one partition's queue
    """
    total_full = in_flight >= max_in_flight
    total_low = in_flight <= max_in_flight // 2
    pause, resume = [], []
    for tp, q in queues.items():
        if tp in paused:
            if total_low and len(q) <= per_partition // 2:
                resume.append(tp)
        elif total_full or len(q) >= per_partition:
            pause.append(tp)
    return pause, resume


class Pausing:
    """The paused partitions of one consumer, kept in step with librdkafka's."""

    def __init__(self, *, consumer: Consumer, max_in_flight: int, per_partition: int) -> None:
        """
        :param consumer: the consumer whose partitions are paused and resumed
        :param max_in_flight: records in flight, all partitions together, that pause them all
        :param per_partition: records in flight in one partition that pause it
        """
        self._consumer = consumer
        self._max_in_flight = max_in_flight
        self._per_partition = per_partition
        self.paused: set[TP] = set()
        self.held = False

    def hold(self, tps: Iterable[TP] = ()) -> None:
        """Pause ``tps`` and every partition assigned from now on, for good."""
        self.held = True
        self.pause(tps)

    def pause(self, tps: Iterable[TP]) -> None:
        fresh = [tp for tp in tps if tp not in self.paused]
        if fresh:
            self._consumer.pause([TopicPartition(t, p) for t, p in fresh])
            self.paused.update(fresh)
            m.PAUSED.set(len(self.paused))

    def assigned(self, tps: Iterable[TP]) -> None:
        """Newly assigned partitions start paused while a hold is on."""
        if self.held:
            self.pause(tps)

    def apply(self, window: Window) -> None:
        """Pause the partitions that are full and resume the ones that have room again."""
        if self.held:
            return
        pause, resume = backpressure(
            window.queues,
            self.paused,
            in_flight=window.in_flight,
            max_in_flight=self._max_in_flight,
            per_partition=self._per_partition,
        )
        if pause and not self.paused:
            log.info(
                "backpressure: pausing %d partitions (%d records in flight)",
                len(pause),
                window.in_flight,
            )
        self.pause(pause)
        if resume:
            self._consumer.resume([TopicPartition(t, p) for t, p in resume])
            self.paused.difference_update(resume)
            if not self.paused:
                log.info("backpressure: all partitions resumed (%d in flight)", window.in_flight)
        m.PAUSED.set(len(self.paused))
        m.IN_FLIGHT.set(window.in_flight)

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions no longer assigned are no longer paused (librdkafka forgot them too)."""
        self.paused.difference_update(tps)
        m.PAUSED.set(len(self.paused))
