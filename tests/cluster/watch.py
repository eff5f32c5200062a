"""What the scenarios watch while faults land: instances that exit, partitions that stall."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaException

from testkit.offsets import committed, input_ends
from tests.integration.harness import Service, Stack, Topics


class Watch(threading.Thread):
    """Samples the group's committed offsets and the instances every ``every_s``.

    ``longest_stall_s`` is the longest time one partition's committed offset stood still
    while records were waiting behind it (its input end was past it); ``exits`` lists the
    instances that were found dead, with their exit codes.
    """

    def __init__(
        self, stack: Stack, t: Topics, services: list[Service], every_s: float = 1.0
    ) -> None:
        super().__init__(daemon=True)
        self.stack, self.t, self.services, self.every_s = stack, t, services, every_s
        self.longest_stall_s = 0.0
        self.stalled_partition: int | None = None
        self.exits: list[tuple[str, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        since: dict[int, tuple[int, float]] = {}  # partition -> (offset, since when)
        seen_dead: set[int] = set()
        while not self._done.wait(self.every_s):
            for s in self.services:
                proc = s.proc
                if proc is not None and proc.poll() is not None and id(proc) not in seen_dead:
                    seen_dead.add(id(proc))
                    self.exits.append((s.instance_id, proc.returncode))
            try:
                ends = input_ends(self.stack, self.t.input)
                got = committed(self.stack, self.t)
            except KafkaException:  # a broker down: sample again
                continue
            now = time.monotonic()
            for p, end in ends.items():
                offset = got.get(p, -1)
                last = since.get(p)
                if last is None or offset != last[0] or offset >= end:
                    since[p] = (offset, now)
                elif now - last[1] > self.longest_stall_s:
                    self.longest_stall_s = now - last[1]
                    self.stalled_partition = p

    def stop(self) -> None:
        self._done.set()
        self.join(30)

    def line(self) -> str:
        return (
            f"longest partition stall {self.longest_stall_s:.1f}s"
            f" (partition {self.stalled_partition}); exits {self.exits or 'none'}"
        )
