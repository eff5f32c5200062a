"""Waiting until what a transactional writer committed can be read (the demo's read-back),
over scripted watermark readings: nothing running."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from types import TracebackType

import pytest

from consumer.commands import demo
from consumer.errors import TimedOut
from consumer.runner.readback import behind, wait_stable
from consumer.settings import Settings


class Script:
    """Readings returned in order (the last one repeats), and a clock moved only by pauses."""

    def __init__(self, readings: list[dict[int, int]]) -> None:
        self.readings = readings
        self.asked = 0
        self.now = 0.0
        self.pauses: list[float] = []

    def stable(self) -> dict[int, int]:
        got = self.readings[min(self.asked, len(self.readings) - 1)]
        self.asked += 1
        return got

    def clock(self) -> float:
        return self.now

    def pause(self, s: float) -> None:
        self.pauses.append(s)
        self.now += s

    def wait(self, target: Mapping[int, int], timeout_s: float = 30.0) -> None:
        wait_stable(
            "cards", target, self.stable, timeout_s=timeout_s, clock=self.clock, pause=self.pause
        )


def test_behind_names_each_partition_short_of_its_target() -> None:
    assert behind({0: 12, 1: 5, 2: 0}, {0: 3, 1: 5, 2: 0}) == {0: (3, 12)}
    # A partition the reading does not mention has nothing readable yet.
    assert behind({0: 4, 1: 2}, {0: 4}) == {1: (0, 2)}
    assert behind({0: 4}, {0: 9}) == {}


def test_returns_at_once_when_everything_written_is_readable() -> None:
    script = Script([{0: 12, 1: 5}])
    script.wait({0: 12, 1: 5})
    assert script.asked == 1 and script.pauses == []


def test_waits_while_the_last_transaction_markers_are_on_their_way() -> None:
    # Right after the commit returned, a read_committed reader stops below the committed
    # cards: the demo that read then found none of them.
    script = Script([{0: 0, 1: 5}, {0: 0, 1: 5}, {0: 12, 1: 5}])
    script.wait({0: 12, 1: 5})
    assert script.asked == 3
    assert len(script.pauses) == 2


def test_gives_up_after_its_bound_saying_what_it_waited_for() -> None:
    script = Script([{0: 3, 1: 5}])
    with pytest.raises(TimedOut) as caught:
        script.wait({0: 12, 1: 5}, timeout_s=2.0)
    message = str(caught.value)
    assert "within 2s" in message
    assert "cards[0] at 3 of 12" in message and "cards[1]" not in message
    assert "still open" in message
    assert 2.0 <= script.now <= 2.2  # bounded: polled until the deadline, not beyond


class ScriptedEnds:
    """Stands in for readback.TopicEnds in the demo: the log's end, then stable readings."""

    def __init__(self, script: Script, written: dict[int, int]) -> None:
        self.script = script
        self._written = written

    def __call__(self, *, settings: Settings, topic: str) -> ScriptedEnds:
        return self

    def __enter__(self) -> ScriptedEnds:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def written(self) -> dict[int, int]:
        return dict(self._written)

    def stable(self) -> dict[int, int]:
        return self.script.stable()


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[ScriptedEnds], None]]:
    def apply(ends: ScriptedEnds) -> None:
        monkeypatch.setattr(demo, "TopicEnds", ends)
        paced = partial(wait_stable, clock=ends.script.clock, pause=ends.script.pause)
        monkeypatch.setattr(demo, "wait_stable", paced)

    yield apply


def test_the_demo_reads_back_only_once_its_output_is_readable(
    patched: Callable[[ScriptedEnds], None],
) -> None:
    script = Script([{0: 2, 1: 0, 2: 4}, {0: 2, 1: 0, 2: 4}, {0: 8, 1: 0, 2: 6}])
    patched(ScriptedEnds(script, {0: 8, 1: 0, 2: 6}))
    assert demo._settled(Settings(), "cards") == {0: 8, 1: 0, 2: 6}
    assert script.asked == 3


def test_the_demo_says_what_it_waited_for_when_output_stays_unreadable(
    patched: Callable[[ScriptedEnds], None],
) -> None:
    script = Script([{0: 2}])
    patched(ScriptedEnds(script, {0: 8}))
    with pytest.raises(TimedOut, match=r"cards\[0\] at 2 of 8"):
        demo._settled(Settings(), "cards")
    assert script.now >= demo.SETTLE_S
