"""The randomized nemesis: a seeded schedule of faults (tests/cluster/nemesis.py) against
three instances with the LLM generator behind the fake Anthropic server, while a stream with
poison records is produced; then the read_committed checker.

A few minutes in CI (NEMESIS_S, default 90); longer from bench/ or by hand. A failure names
its seed: ``NEMESIS_SEED=<seed> SELFTAUGHT_CLUSTER_TESTS=1 pytest tests/cluster -k nemesis``
repeats the same schedule.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.anthropic_server import FakeAnthropic
from testkit.produce import BackgroundProducer
from tests.cluster.conftest import Cluster
from tests.cluster.nemesis import Nemesis, schedule
from tests.cluster.test_cluster import finish, stop
from tests.cluster.watch import Watch
from tests.faults.report import figures
from tests.integration.harness import Service, Topics, check_exactly_once, read_output

pytestmark = [pytest.mark.faults, pytest.mark.partitions(6)]

INSTANCES = 3


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(latency_s=0.05) as server:
        yield server


def test_seeded_faults_leave_every_event_written_once(
    cluster: Cluster, topics: Topics, tmp_path: Path, fake: FakeAnthropic
) -> None:
    seed = int(os.environ.get("NEMESIS_SEED") or random.SystemRandom().randrange(1, 10**6))
    run_s = float(os.environ.get("NEMESIS_S", "90"))
    steps = schedule(seed, run_s, INSTANCES)
    repeat = f"NEMESIS_SEED={seed} NEMESIS_S={run_s:g}"
    print(f"\n[nemesis] {repeat}: " + "; ".join(map(str, steps)))
    env = {
        "SELFTAUGHT_LLM_BACKEND": "anthropic",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "ANTHROPIC_BASE_URL": fake.base_url,
        "SELFTAUGHT_ANTHROPIC_MODEL": "claude-test-model",
        "SELFTAUGHT_LLM_MAX_CONCURRENCY": "32",
        "SELFTAUGHT_MAX_IN_FLIGHT": "300",
        "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "60",
    }
    services = [
        Service(cluster.stack, topics, tmp_path, instance_id=f"n{i}", env=env).start()
        for i in range(INSTANCES)
    ]
    producing = BackgroundProducer(
        cluster.stack, topics, int(20 * run_s), run_s, poison_every=40, seed=seed
    )
    watch = Watch(cluster.stack, topics, services)
    nemesis = Nemesis(cluster, services, fake)
    producing.start()
    watch.start()
    try:
        try:
            nemesis.run(steps)
        finally:
            cluster.start(1, 2, 3)  # whatever a step left down is back (a no-op otherwise)
            cluster.cmd("start-registry")
        healed = time.monotonic()
        sent = producing.finish()
        finish(cluster, topics, services, timeout=600)
        took = time.monotonic() - healed
    except BaseException:
        print(f"[nemesis] FAILED, repeat with {repeat}; steps:\n  " + "\n  ".join(nemesis.log))
        raise
    finally:
        stop(watch, services)
    out = read_output(cluster.stack, topics)
    figures(f"nemesis seed {seed}, {len(steps)} faults", sent, out, took, watch.line())
    try:
        check_exactly_once(out, sent)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nrepeat with {repeat}") from exc
