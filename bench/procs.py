"""The processes a benchmark runs: the service, the fake Anthropic API, helpers around them.

Each runs as its own OS process, so none shares a GIL with the measuring harness. Only
processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import contextlib
import json
import os
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

from tests.integration.harness import Stack, Topics, free_port, proc_status_kib, service_env

ROOT = Path(__file__).resolve().parents[1]
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class Service:
    """``python -m consumer run`` as a real process (as tests/integration/harness.py does)."""

    def __init__(
        self,
        stack: Stack,
        t: Topics,
        log_dir: Path,
        instance_id: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.instance_id = instance_id
        self.log_path = log_dir / f"{t.group}-{instance_id}.log"
        self.env = {
            **service_env(stack, t, instance_id, self.port),
            "SELFTAUGHT_DRAIN_TIMEOUT_S": "3",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=timeout
            ) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"service exited at start:\n{self.log_tail()}")
            if self._get("/readyz")[0] == 200:
                return
            time.sleep(0.02)
        raise RuntimeError(f"service not ready after {timeout}s:\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        """The Prometheus text exposition, as {"name{labels}": value} (selftaught_* only)."""
        status, text = self._get("/metrics", timeout=5.0)
        out: dict[str, float] = {}
        if status != 200:
            return out
        for line in text.splitlines():
            if line.startswith("selftaught_"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.pid)

    def rss_kib(self) -> int | None:
        return proc_status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int | None:
        return proc_status_kib(self.pid, "VmHWM")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def metric_sum(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


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
    """tests/fakes/anthropic_server.py as its own process, reconfigured through /_control."""

    def __init__(self, log_dir: Path, latency_s: float = 0.0, nagle: bool = False) -> None:
        self.port = free_port()
        self.nagle = nagle
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_dir / "fake-anthropic.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.fake_llm",  # tests/fakes/anthropic_server.py with TCP_NODELAY
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
        self.control({"op": "reset"})
        self.control({"op": "configure", "latency_s": latency_s})

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
