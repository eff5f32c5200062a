"""``python -m consumer run`` as a real process, watched from outside: signals, its HTTP
endpoints, ``/proc`` and its log. Only the process started here is ever signalled, by pid."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from testkit.stack import (
    ROOT,
    Stack,
    Topics,
    free_port,
    proc_cpu_s,
    proc_status_kib,
    same_cpu_weight,
    service_env,
)

__all__ = ["FAST_SESSION", "Service", "metric_sum"]

# A killed instance's group membership must expire quickly in tests (the broker's minimum is
# 6 s); production keeps librdkafka's 45 s.
FAST_SESSION = {
    "SELFTAUGHT_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "SELFTAUGHT_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
}


class Service:
    """One instance of the service on fresh topics, with its own HTTP port and log files."""

    #: Settings every instance of the class gets, under the ``env`` it is given.
    base_env: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        stack: Stack,
        t: Topics,
        log_dir: Path,
        instance_id: str = "test-0",
        env: dict[str, str] | None = None,
        *,
        cwd: Path = ROOT,
        log_prefix: str = "",
        own_session: bool = False,
    ) -> None:
        """
        :param stack: the broker and registry it uses
        :param t: its topics and group
        :param log_dir: where each start's log goes (``<log_prefix><instance_id>-<n>.log``)
        :param instance_id: its ``SELFTAUGHT_INSTANCE_ID``
        :param env: settings on top of ``service_env`` and ``base_env``
        :param cwd: the tree it runs from (``bench.ab`` runs another checkout)
        :param log_prefix: in front of each log file's name, for a log folder shared by many
        :param own_session: start it in a session of its own, weighing as much as the
            caller's. Linux's autogroup scheduling shares the CPUs between sessions first: in
            the caller's session the service would share one share with the caller's own work
            (a benchmark's producer and reader), while each node stack.sh starts has a whole
            one (a benchmark's service gets what its own pod would: its own share)
        """
        self.port = free_port()
        self.instance_id = instance_id
        self.env = {
            **service_env(stack, t, instance_id, self.port),
            **self.base_env,
            **(env or {}),
        }
        self.log_dir = log_dir
        self.cwd = cwd
        self._log_prefix = log_prefix
        self._own_session = own_session
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        """The log of the latest start."""
        return self.log_dir / f"{self._log_prefix}{self.instance_id}-{self.starts}.log"

    def start(self) -> Service:
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            start_new_session=self._own_session,
        )
        log.close()
        if self._own_session:
            same_cpu_weight(self.proc.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; killed, and ``TimeoutExpired`` raised, past ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

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

    def rss_peak_kib(self) -> int:
        """The process's peak resident memory so far (VmHWM), in KiB; 0 once it is gone."""
        if self.proc is None:
            return 0
        return proc_status_kib(self.proc.pid, "VmHWM") or 0

    def logs(self) -> str:
        """Every log in ``log_dir`` (all starts, all instances sharing it)."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def metric_sum(metrics: dict[str, float], name: str) -> float:
    """A metric's value summed over its label sets."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))
