"""Observation: what a commit counts, the lag per partition, the dead-letter log.

Nothing here decides anything; it turns what the loop did into metrics and log lines.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumer.events import SourceRef
from consumer.observe import metrics as m
from consumer.observe.health import Health
from consumer.outcomes import DeadLetter, Disputed, Produced, Skipped
from consumer.runner.pausing import Pausing
from consumer.runner.threads import off_loop
from consumer.runner.window import TP, Batch, Entry, Window

__all__ = ["DLQ_LOGS_PER_MINUTE", "Observer", "count"]

log = logging.getLogger(__name__)

DLQ_LOGS_PER_MINUTE = 100


def count(entries: list[Entry], now: float) -> None:
    """Count committed outcomes: tallied here, then one increment per label set.

    A commit carries thousands of records at full speed, and a labelled increment per record
    costs a dict lookup and a lock each; so does a histogram observation per record: the
    latencies go in as one batch.
    """
    pairs: Counter[tuple[str, str]] = Counter()
    others: Counter[tuple[Any, tuple[str, ...]]] = Counter()
    latencies = []
    for entry in entries:
        out = entry.outcome
        if isinstance(out, Produced):
            pairs[out.generator, out.mistake_type] += 1
        elif isinstance(out, DeadLetter):
            others[m.RECORDS, ("dead_lettered" if out.stage == "generate" else "invalid",)] += 1
            others[m.DEAD_LETTERS, (out.stage, out.reason)] += 1
        elif isinstance(out, Skipped):
            others[m.RECORDS, (out.why.value,)] += 1
        elif isinstance(out, Disputed):
            others[m.RECORDS, ("judge_prefers_wrong",)] += 1
        ts = entry.ref.timestamp_ms
        if ts > 0:
            latency = now - ts / 1000
            latencies.append(latency if latency > 0.0 else 0.0)  # clocks differ
    m.LATENCY.observe_all(latencies)
    for (metric, labels), n in others.items():
        metric.labels(*labels).inc(n)
    for labels, n in pairs.items():
        m.PAIRS.labels(*labels).inc(n)
    qualified = pairs.total()
    if qualified:
        m.RECORDS.labels("qualified").inc(qualified)
        m.CARDS.labels("critic_calibration").inc(qualified)
        m.CARDS.labels("failure_pattern").inc(qualified)


class Observer:
    """Metrics and log lines for what the window committed and holds."""

    def __init__(
        self, *, consumer: Consumer, window: Window, pausing: Pausing, health: Health
    ) -> None:
        """
        :param consumer: asked for positions and watermarks
        :param window: the partitions whose lag is reported, and their committed offsets
        :param pausing: a paused partition's watermark must be asked for (it does not fetch)
        :param health: kept current by each lag refresh (the selftaught_ready gauge)
        """
        self._consumer = consumer
        self._window = window
        self._pausing = pausing
        self._health = health
        self._dlq_log_window, self._dlq_logged, self._dlq_unlogged = time.monotonic(), 0, 0

    def committed(self, batch: Batch) -> None:
        """Count a committed batch's outcomes and log its dead letters."""
        now = time.time()
        for _, entries, _ in batch:
            count(entries, now)
            for entry in entries:
                if isinstance(entry.outcome, DeadLetter):
                    self._log_dead_letter(entry.ref, entry.outcome)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "committed %s",
                ", ".join(f"{t}[{p}] {e[0].ref.offset if e else o}..{o}" for (t, p), e, o in batch),
            )
        m.TRANSACTIONS.labels("committed").inc()
        m.LAST_PROGRESS.set(now)
        m.IN_FLIGHT.set(self._window.in_flight)

    def dropped(self, tps: Iterable[TP]) -> None:
        """A partition no longer assigned has no lag series."""
        for topic, part in tps:
            with contextlib.suppress(KeyError):
                m.LAG.remove(topic, str(part))
        m.ASSIGNED.set(len(self._window.queues))
        m.IN_FLIGHT.set(self._window.in_flight)

    def _log_dead_letter(self, ref: SourceRef, dl: DeadLetter) -> None:
        # One line per dead letter, but a flood of poison must not drown the log: at most
        # DLQ_LOGS_PER_MINUTE lines a minute, then a count of the ones not logged.
        now = time.monotonic()
        if now - self._dlq_log_window >= 60:
            if self._dlq_unlogged:
                log.warning(
                    "%d more dead letters not logged in the last minute", self._dlq_unlogged
                )
            self._dlq_log_window, self._dlq_logged, self._dlq_unlogged = now, 0, 0
        if self._dlq_logged >= DLQ_LOGS_PER_MINUTE:
            self._dlq_unlogged += 1
            return
        self._dlq_logged += 1
        log.warning(
            "dead-lettered %s[%d]@%d: %s/%s: %s",
            ref.topic,
            ref.partition,
            ref.offset,
            dl.stage,
            dl.reason,
            dl.message[:300],
            extra={"stage": dl.stage, "reason": dl.reason},
        )

    async def refresh_lag(self) -> None:
        """Lag per assigned partition: high watermark minus the committed position.

        Watermarks come with every fetch response, so the cached ones are fresh even when
        idle; a paused partition does not fetch, so its watermark is asked for (off the loop).
        """
        self._health.ready()  # keeps the selftaught_ready gauge current without a probe
        queues = self._window.queues
        tps = list(queues)
        try:
            positions = {
                (p.topic, p.partition): p.offset
                for p in self._consumer.position([TopicPartition(t, n) for t, n in tps])
            }
        except KafkaException as exc:
            log.debug("lag not refreshed: %s", exc)
            return
        for topic, part in tps:
            tp = TopicPartition(topic, part)
            try:
                if (topic, part) in self._pausing.paused:
                    _, high = await off_loop(self._consumer.get_watermark_offsets, tp, 2.0, False)
                else:
                    _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if (topic, part) not in queues:
                continue  # revoked meanwhile: its series is gone and stays gone
            pos = self._window.committed.get((topic, part), positions.get((topic, part), -1))
            if high >= 0 and pos is not None and pos >= 0:
                m.LAG.labels(topic, str(part)).set(max(0, high - pos))
