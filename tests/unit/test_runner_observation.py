"""What a commit counts, and the dead-letter log that a flood of poison cannot drown."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from consumer.events import SourceRef
from consumer.observe.health import Health
from consumer.outcomes import DeadLetter
from consumer.runner.observation import DLQ_LOGS_PER_MINUTE, Observer
from consumer.runner.pausing import Pausing
from consumer.runner.window import Entry, Window


def dead(offset: int) -> Entry:
    ref = SourceRef("t", 0, offset, None, b"x", (), 1)
    return Entry(ref, DeadLetter("decode", "bad_magic_byte", "magic byte 110"))


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_a_flood_of_dead_letters_logs_a_hundred_lines_a_minute_and_counts_them_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    window = Window()
    observer = Observer(
        consumer=None,  # type: ignore[arg-type]
        window=window,
        pausing=Pausing(consumer=None, max_in_flight=1, per_partition=1),  # type: ignore[arg-type]
        health=Health(),
    )
    before = sample("selftaught_dead_letters_total", stage="decode", reason="bad_magic_byte")
    n = DLQ_LOGS_PER_MINUTE + 50
    with caplog.at_level(logging.WARNING, logger="consumer.runner.observation"):
        observer.committed([(("t", 0), [dead(i) for i in range(n)], n)])
    lines = [r for r in caplog.records if r.getMessage().startswith("dead-lettered")]
    assert len(lines) == DLQ_LOGS_PER_MINUTE
    after = sample("selftaught_dead_letters_total", stage="decode", reason="bad_magic_byte")
    assert after - before == n
