"""Reading back what a transactional writer committed to a topic: the demo's last step.

A transaction's commit returns to its producer once the coordinator has logged the decision;
the markers that make its records readable are written to each partition afterwards, and on a
replicated topic (``min.insync.replicas`` 2) a marker counts only once the in-sync replicas
hold it. Until then a read_committed reader stops at the partition's last stable offset, below
the committed records, and finds nothing to read. So whoever reads right after the writer
stopped takes the log's end first (the high watermark: every record written so far), waits
until the last stable offset has reached it on every partition, and then reads up to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType

from confluent_kafka import Consumer, Message, TopicPartition

from consumer.errors import TimedOut
from consumer.settings import Settings

__all__ = ["TopicEnds", "behind", "read_range", "wait_stable"]

#: How often a wait asks the broker again: a marker lands within milliseconds of the commit
#: on a healthy cluster, and asking costs one ListOffsets round trip per partition.
POLL_S = 0.1


def behind(target: Mapping[int, int], stable: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """The partitions whose stable end is short of the target: partition -> (stable, target)."""
    return {p: (stable.get(p, 0), end) for p, end in target.items() if stable.get(p, 0) < end}


def _describe(topic: str, lagging: Mapping[int, tuple[int, int]]) -> str:
    return ", ".join(f"{topic}[{p}] at {at} of {end}" for p, (at, end) in sorted(lagging.items()))


def wait_stable(
    topic: str,
    target: Mapping[int, int],
    stable: Callable[[], Mapping[int, int]],
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``stable()`` (the read_committed end of each partition) has reached the
    target on every partition; raise ``TimedOut`` naming those still short after timeout_s."""
    deadline = clock() + timeout_s
    while True:
        lagging = behind(target, stable())
        if not lagging:
            return
        if clock() >= deadline:
            raise TimedOut(
                f"what was committed to {topic} did not become readable within {timeout_s:g}s "
                f"(read_committed end short of the log's end: {_describe(topic, lagging)}); "
                "a transaction on it is still open"
            )
        pause(POLL_S)


class TopicEnds:
    """A topic's two ends per partition, read from the partition leaders as often as asked.

    ``written()`` is the high watermark (the end of what every in-sync replica holds),
    ``stable()`` the last stable offset (where a read_committed reader stops). Clients are
    made on entering and closed on leaving.
    """

    def __init__(self, *, settings: Settings, topic: str, timeout_s: float = 30.0) -> None:
        """
        :param settings: the service's settings (connection and security)
        :param topic: the topic, which must exist
        :param timeout_s: the bound on finding its partitions (a topic just created on a
            cluster is not known to every broker at once) and on each watermark request
        """
        self._settings = settings
        self._topic = topic
        self._timeout_s = timeout_s
        self._committed: Consumer | None = None
        self._uncommitted: Consumer | None = None
        self._partitions: list[int] = []

    def __enter__(self) -> TopicEnds:
        group = "selftaught-demo-reader"
        self._committed = Consumer(self._settings.reader_config(group))
        self._uncommitted = Consumer(self._settings.reader_config(group, uncommitted=True))
        self._partitions = _partitions(self._committed, self._topic, self._timeout_s)
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for c in (self._committed, self._uncommitted):
            if c is not None:
                c.close()
        self._committed = self._uncommitted = None

    @property
    def partitions(self) -> list[int]:
        return list(self._partitions)

    def written(self) -> dict[int, int]:
        assert self._uncommitted is not None, "use TopicEnds as a context manager"
        return self._high(self._uncommitted)

    def stable(self) -> dict[int, int]:
        assert self._committed is not None, "use TopicEnds as a context manager"
        return self._high(self._committed)

    def _high(self, c: Consumer) -> dict[int, int]:
        # A ListOffsets request at the client's isolation level: read_committed answers with
        # the last stable offset, read_uncommitted with the high watermark.
        return {
            p: c.get_watermark_offsets(TopicPartition(self._topic, p), timeout=self._timeout_s)[1]
            for p in self._partitions
        }


def _partitions(c: Consumer, topic: str, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        meta = c.list_topics(topic, timeout=timeout_s).topics[topic]
        if meta.error is None and meta.partitions:
            return sorted(meta.partitions)
        if time.monotonic() >= deadline:
            raise TimedOut(f"the brokers did not know topic {topic} within {timeout_s:g}s")
        time.sleep(POLL_S)


def read_range(
    s: Settings, topic: str, start: Mapping[int, int], end: Mapping[int, int], timeout_s: float
) -> list[Message]:
    """The committed records of [start, end) on each partition, in the order read; end must
    be readable already (``wait_stable``). Transaction markers and aborted records in the
    range are skipped, so a partition is done when the reader's position reaches its end."""
    pending = {p for p, e in end.items() if e > start.get(p, 0)}
    out: list[Message] = []
    if not pending:
        return out
    c = Consumer(s.reader_config("selftaught-demo-reader"))
    deadline = time.monotonic() + timeout_s
    try:
        c.assign([TopicPartition(topic, p, start.get(p, 0)) for p in sorted(pending)])
        while pending:
            if time.monotonic() >= deadline:
                at = {tp.partition: tp.offset for tp in c.position(_tps(topic, pending))}
                lagging = {p: (at[p], end[p]) for p in pending}
                raise TimedOut(
                    f"reading {topic} back did not reach its committed end within "
                    f"{timeout_s:g}s ({_describe(topic, lagging)})"
                )
            for msg in c.consume(500, POLL_S):
                if msg.error() is None and (msg.offset() or 0) < end[msg.partition() or 0]:
                    out.append(msg)
            for tp in c.position(_tps(topic, pending)):
                if tp.offset >= end[tp.partition]:
                    pending.discard(tp.partition)
    finally:
        c.close()
    return out


def _tps(topic: str, partitions: set[int]) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(partitions)]
