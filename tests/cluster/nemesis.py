"""A seeded schedule of faults for the three-broker cluster: the same seed, the same faults.

Each step picks one fault at random, lets it last a random while, heals it, and waits a
random while before the next: a broker killed or frozen, a service instance killed or
frozen, the registry restarted, the LLM overloaded (the fake Anthropic server). One fault at
a time, so a majority of brokers is always there between steps.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from testkit.anthropic_server import FakeAnthropic
from tests.cluster.conftest import BROKERS, Cluster
from tests.integration.harness import Service

FAULTS = (
    "kill-broker",
    "pause-broker",
    "kill-instance",
    "pause-instance",
    "restart-registry",
    "llm-outage",
)


@dataclass(frozen=True)
class Step:
    fault: str
    target: int  # a node (1..BROKERS) or an instance's index; unused for the others
    lasts_s: float
    then_s: float  # quiet time after the heal

    def __str__(self) -> str:
        return f"{self.fault}({self.target}) {self.lasts_s:.1f}s, then {self.then_s:.1f}s"


def schedule(seed: int, run_s: float, instances: int) -> list[Step]:
    """The steps of a run of about ``run_s`` seconds; a pure function of its arguments."""
    rng = random.Random(seed)
    steps: list[Step] = []
    total = 0.0
    while total < run_s:
        fault = rng.choice(FAULTS)
        target = rng.randint(1, BROKERS) if "broker" in fault else rng.randrange(instances)
        step = Step(fault, target, round(rng.uniform(3, 15), 1), round(rng.uniform(2, 8), 1))
        steps.append(step)
        total += step.lasts_s + step.then_s
    return steps


@dataclass
class Nemesis:
    cluster: Cluster
    services: list[Service]
    fake: FakeAnthropic
    log: list[str] = field(default_factory=list)

    def run(self, steps: list[Step], sleep: Callable[[float], None] = time.sleep) -> None:
        for step in steps:
            self.log.append(f"{time.strftime('%H:%M:%S')} {step}")
            heal = self._inflict(step)
            try:
                sleep(step.lasts_s)
            finally:
                heal()
            sleep(step.then_s)

    def _inflict(self, step: Step) -> Callable[[], None]:
        c, n = self.cluster, step.target
        if step.fault == "kill-broker":
            c.kill(n)
            return lambda: c.start(n)
        if step.fault == "pause-broker":
            c.pause(n)
            return lambda: c.resume(n)
        if step.fault == "restart-registry":
            c.cmd("stop-registry")
            return lambda: c.cmd("start-registry")
        if step.fault == "llm-outage":
            self.fake.during("overloaded", seconds=step.lasts_s)
            return lambda: None
        svc = self.services[n]
        if step.fault == "kill-instance":
            if svc.proc is not None and svc.proc.poll() is None:
                svc.kill()
            return svc.start  # as Kubernetes would restart it
        assert step.fault == "pause-instance"
        if svc.proc is None or svc.proc.poll() is not None:
            return lambda: None
        svc.signal(signal.SIGSTOP)
        return lambda: svc.signal(signal.SIGCONT)
