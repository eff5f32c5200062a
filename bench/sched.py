"""How long a process's main thread waited for a CPU: the kernel's scheduler statistics.

``/proc/<pid>/schedstat`` holds, for the process's main thread (the service's loop, where
its pipeline runs), the nanoseconds it ran and the nanoseconds it was ready to run but
waited on a run queue. On a machine short of cores the second grows: the service then waits
for a CPU, not for the broker, and its latency says more about the machine than about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Sched", "parse", "read", "waited"]


@dataclass(frozen=True)
class Sched:
    """One reading: seconds run and seconds waited for a CPU, since the thread began."""

    run_s: float
    wait_s: float


def parse(text: str) -> Sched:
    """A ``/proc/<pid>/schedstat`` line: run ns, run-queue wait ns, time slices."""
    run_ns, wait_ns, _slices = text.split()
    return Sched(int(run_ns) / 1e9, int(wait_ns) / 1e9)


def read(pid: int) -> Sched | None:
    """The reading of ``pid``'s main thread now; None once it is gone (or without schedstats)."""
    try:
        return parse(Path(f"/proc/{pid}/schedstat").read_text())
    except (OSError, ValueError):
        return None


def waited(before: Sched | None, after: Sched | None) -> dict[str, Any] | None:
    """Between two readings: seconds run, seconds waited for a CPU, and the waiting share of
    the time the thread was ready to run (0: it always had a CPU; 0.7: it waited 70% of it).
    """
    if before is None or after is None:
        return None
    run = after.run_s - before.run_s
    wait = after.wait_s - before.wait_s
    ready = run + wait
    return {
        "run_s": round(run, 2),
        "wait_s": round(wait, 2),
        "wait_share": round(wait / ready, 2) if ready > 0 else 0.0,
    }
