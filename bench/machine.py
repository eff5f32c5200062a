"""What the machine was and what else ran on it while the benchmark did."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/run.sh runs the benchmark from a compiled copy of the checkout (no .git there); git
# is asked about the checkout it was copied from.
SOURCE_ROOT = Path(os.environ.get("BENCH_SOURCE_ROOT") or ROOT)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    # Read-only queries only: other engineers work in this checkout.
    try:
        return subprocess.run(
            ["git", *args], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    from consumer import build  # the build the services run: they start from ROOT too

    return {
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "mem_total_gib": _mem_total_gib(),
        "loadavg_at_start": loadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": {
            p: _version(p) for p in ("confluent-kafka", "fastavro", "anthropic", "httpx", "py-spy")
        },
        "compiled_hot_modules": build.info()["compiled"],
        "git_head": _git("rev-parse", "--short", "HEAD"),
        # Local changes to the service's code at the time of the run (the figures depend on it).
        "consumer_changes": _git("status", "--porcelain", "--", "consumer").splitlines(),
    }


def cluster(bootstrap: str) -> dict[str, Any]:
    """The Kafka cluster the benchmark ran on: how many brokers answer, and what a topic made
    without settings of its own gets (every topic the benchmark makes is made so)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    brokers = sorted(admin.list_topics(timeout=10).brokers)
    res = ConfigResource(ResourceType.BROKER, str(brokers[0]))
    configs = admin.describe_configs([res])[res].result(timeout=10)
    return {
        "brokers": len(brokers),
        "replication_factor": int(configs["default.replication.factor"].value),
        "min_insync_replicas": int(configs["min.insync.replicas"].value),
    }


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _cpu_ticks() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


def _summarise(cmd: str) -> str:
    """A short, secret-free label for a command line."""
    parts = cmd.split()
    if not parts:
        return "?"
    exe = os.path.basename(parts[0])
    if exe.startswith("java"):
        main = next(
            (p for p in parts if p in ("kafka.Kafka",) or p.endswith("quarkus-run.jar")), ""
        )
        port = next((p.split("=", 1)[1] for p in parts if p.startswith("-Dquarkus.http.port=")), "")
        conf = next((p for p in parts if p.endswith("kafka-server.properties")), "")
        if main == "kafka.Kafka":
            return f"kafka broker ({conf.rsplit('/run/', 1)[0] or '?'})"
        if main:
            return f"apicurio registry (port {port})"
        return "java " + " ".join(p for p in parts[1:] if not p.startswith("-"))[:80]
    return " ".join(parts[:6])[:120]


class CpuAccount:
    """CPU seconds used by every process between snapshots, summed per process.

    Snapshots are taken every few seconds (``start``) and at section boundaries; a process
    that starts and ends between two of them is not seen (a lower bound for "others").
    """

    def __init__(self, own_stack_dir: str | None = None) -> None:
        self._stack_dir = own_stack_dir
        self._section_others = 0
        self._section_started = time.monotonic()
        self._last = _cpu_ticks()
        self._cmd: dict[int, str] = {}
        self._used: dict[int, int] = {}
        self.started = time.monotonic()
        self.ours: dict[int, str] = {os.getpid(): "bench harness"}
        self.samples: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, every_s: float = 3.0) -> None:
        def run() -> None:
            while not self._stop.wait(every_s):
                with self._lock:
                    self._take()

        threading.Thread(target=run, name="cpu-account", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def mark(self, pid: int, label: str) -> None:
        self.ours[pid] = label

    def snapshot(self, label: str) -> None:
        with self._lock:
            self._take()
            now = time.monotonic()
            wall = now - self._section_started
            others = self._section_others / _CLK_TCK
            self.samples.append(
                {
                    "section": label,
                    "wall_s": round(wall, 1),
                    "loadavg": loadavg(),
                    # CPU used by processes that are not this benchmark's, in cores
                    "others_cores": round(others / wall, 2) if wall > 0 else None,
                }
            )
            self._section_others = 0
            self._section_started = now

    def _take(self) -> None:
        now = _cpu_ticks()
        for pid, ticks in now.items():
            delta = ticks - self._last.get(pid, 0) if pid in self._last else ticks
            if delta > 0:
                self._used[pid] = self._used.get(pid, 0) + delta
                if pid not in self._cmd:
                    self._cmd[pid] = _cmdline(pid)
                if self._label(pid) is None:
                    self._section_others += delta
        self._last = now

    def _label(self, pid: int) -> str | None:
        label = self.ours.get(pid)
        if label is None and self._stack_dir and self._stack_dir in self._cmd.get(pid, ""):
            label = "bench stack"
        return label

    def report(self, top: int = 12) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        rows = []
        for pid, ticks in sorted(self._used.items(), key=lambda kv: -kv[1]):
            cmd = self._cmd.get(pid, "?")
            label = self._label(pid)
            rows.append(
                {
                    "pid": pid,
                    "cpu_s": round(ticks / _CLK_TCK, 1),
                    "what": _summarise(cmd),
                    "ours": label,
                }
            )
        others = [r for r in rows if r["ours"] is None]
        return {
            "wall_s": round(wall, 1),
            "cpu_s_ours": round(sum(r["cpu_s"] for r in rows if r["ours"]), 1),
            "cpu_s_others": round(sum(r["cpu_s"] for r in others), 1),
            "top_others": others[:top],
            "by_section": self.samples,
        }
