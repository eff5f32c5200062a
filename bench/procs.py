"""The processes a benchmark runs beside the service (testkit.service): the fake Anthropic
API, and readers of the group's progress.

Each runs as its own OS process, so none shares a GIL with the measuring harness. Only
processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from testkit.stack import ROOT, Stack, free_port, proc_cpu_s


class Committed:
    """The committed offsets of a consumer group on a topic, read without joining the group."""

    def __init__(self, stack: Stack, group: str, topic: str, partitions: int) -> None:
        self._c = Consumer(
            {"bootstrap.servers": stack.bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]

    def get(self) -> dict[int, int] | None:
        try:
            got = self._c.committed(self._tps, timeout=5)
        except KafkaException:
            return None  # the coordinator is loading: ask again
        return {tp.partition: max(tp.offset, 0) for tp in got}

    def total(self) -> int | None:
        got = self.get()
        return None if got is None else sum(got.values())

    def close(self) -> None:
        self._c.close()


@dataclass
class Drain:
    """A backlog drained to the end, timed from the consumer's assignment to the last commit.

    ``started_at`` is when the consumer had its partitions (the service's /readyz turning
    ready, the bare loop's on_assign); ``done_at`` the first poll that sees every offset
    committed. Offsets are polled every 20 ms.
    """

    n: int
    started_at: float  # monotonic
    done_at: float
    first_commit_at: float
    first_commit_total: int
    samples: list[tuple[float, int]]

    @property
    def seconds(self) -> float:
        return self.done_at - self.started_at

    @property
    def events_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def after_first_commit_per_s(self) -> float | None:
        dt = self.done_at - self.first_commit_at
        return (self.n - self.first_commit_total) / dt if dt > 0 else None

    def window_rate(self, lo: float = 0.1, hi: float = 0.9) -> float | None:
        """The rate between the samples nearest lo*n and hi*n committed (steady state)."""
        a = next(((t, c) for t, c in self.samples if c >= lo * self.n), None)
        b = next(((t, c) for t, c in self.samples if c >= hi * self.n), None)
        if a is None or b is None or b[0] <= a[0]:
            return None
        return (b[1] - a[1]) / (b[0] - a[0])


def watch_drain(
    committed: Committed,
    n: int,
    started_at: float,
    timeout: float,
    alive: list[Any] | None = None,
    every: float = 0.02,
    on_sample: Any = None,
) -> Drain:
    """Poll the committed offsets until they reach ``n`` records in all."""
    samples: list[tuple[float, int]] = []
    first: tuple[float, int] | None = None
    while time.monotonic() - started_at < timeout:
        total = committed.total()
        now = time.monotonic()
        if total is not None:
            samples.append((now, total))
            if on_sample is not None:
                on_sample(now, total)
            if first is None and total > 0:
                first = (now, total)
            if total >= n:
                assert first is not None
                return Drain(n, started_at, now, first[0], first[1], samples)
        for a in alive or []:
            if not a():
                raise RuntimeError("a process under test exited before the backlog was drained")
        time.sleep(every)
    raise RuntimeError(f"backlog of {n} not drained within {timeout:.0f}s (at {samples[-1:]})")


class FakeLLM:
    """testkit/anthropic_server.py as its own process, reconfigured through /_control."""

    def __init__(self, log_dir: Path, latency_s: float = 0.0, nagle: bool = False) -> None:
        self.port = free_port()
        self.nagle = nagle
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_dir / "fake-anthropic.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.fake_llm",  # testkit/anthropic_server.py with TCP_NODELAY
                "--port",
                str(self.port),
                "--latency",
                str(latency_s),
                *(["--nagle"] if nagle else []),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not re.match(r"^http://", line):
            raise RuntimeError(f"the fake Anthropic server did not start: {line!r}")
        self.base_url = line

    def control(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base_url + "/_control",
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Content-Type": "application/json"},
            method="POST" if payload is not None else "GET",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out

    def reset(self, latency_s: float) -> None:
        """Forget everything, then answer after ``latency_s`` with usage counted from what
        was sent (about four characters a token: the size of the prompts, not a tokenizer)."""
        self.control({"op": "reset"})
        self.control({"op": "configure", "latency_s": latency_s, "usage_from_text": True})

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
