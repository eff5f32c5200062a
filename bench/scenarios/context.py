"""What every scenario shares: the sizes of a run, its context, the topic shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import CpuAccount
from testkit.service import Service
from testkit.stack import Stack, Topics

QUALIFYING = 0.8


PARTITIONS = 6


@dataclass(frozen=True)
class Sizes:
    throughput_n: int
    throughput_rounds: int
    memory_n: int
    profile_s: float
    llm_measure_s: float
    seq_s: float
    latency_s: float
    scale_measure_s: float
    stall_limit_s: float

    @staticmethod
    def for_mode(quick: bool) -> Sizes:
        if quick:
            return Sizes(20_000, 1, 200_000, 8, 6, 4, 15, 6, 30)
        return Sizes(200_000, 2, 1_000_000, 20, 12, 10, 30, 12, 45)


@dataclass
class Ctx:
    stack: Stack
    sizes: Sizes
    log_dir: Path
    out_dir: Path
    stamp: str
    cpu: CpuAccount
    log: Any  # print-like progress callback

    def service(self, t: Topics, instance: str, env: dict[str, str] | None = None) -> Service:
        # A short drain: a benchmark stops its services once it has its figures.
        env = {"SELFTAUGHT_DRAIN_TIMEOUT_S": "3", **(env or {})}
        svc = Service(
            self.stack, t, self.log_dir, instance, env, log_prefix=f"{t.group}-", own_session=True
        )
        svc.start()
        self.cpu.mark(svc.pid, f"service {instance}")
        return svc


def rounded(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)
