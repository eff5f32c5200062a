"""``selftaught demo`` against three brokers (RF 3, min ISR 2) prints every card it committed.

On a replicated topic the markers of the service's last transaction reach the output
partitions' replicas after the commit returned; a read-back that does not wait for them finds
fewer cards than were committed, or none. Each run's printed count must equal what a separate
read_committed reader finds added to the cards topic by that run; the demo runs a few times,
since how late the markers land varies from run to run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.cluster.conftest import Cluster
from tests.integration.harness import Topics, read_all

RUNS = 2


def _demo(cluster: Cluster, t: Topics) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SELFTAUGHT_", "ANTHROPIC_"))},
        "SELFTAUGHT_BOOTSTRAP_SERVERS": cluster.stack.bootstrap,
        "SELFTAUGHT_SCHEMA_REGISTRY_URL": cluster.stack.registry,
        "SELFTAUGHT_INPUT_TOPIC": t.input,
        "SELFTAUGHT_OUTPUT_TOPIC": t.output,
        "SELFTAUGHT_DLQ_TOPIC": t.dlq,
        "SELFTAUGHT_GROUP_ID": t.group,
        "SELFTAUGHT_LLM_BACKEND": "rules",
    }
    return subprocess.run(
        [sys.executable, "-m", "consumer", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_each_demo_run_prints_every_card_it_committed(cluster: Cluster) -> None:
    t = Topics.fresh("demo3", 3)  # the demo makes the topics itself, as a user's first run does
    cards_before = dead_before = 0
    for run in range(RUNS):
        done = _demo(cluster, t)
        assert done.returncode == 0, done.stdout + done.stderr
        printed = re.search(
            r"^(\d+) memory cards written to \S+, (\d+) contrast pairs", done.stdout, re.M
        )
        dead = re.search(r"^dead-lettered: (\d+)$", done.stdout, re.M)
        assert printed and dead, done.stdout
        cards, pairs = int(printed[1]), int(printed[2])
        cards_now, dead_now = (
            len(read_all(cluster.stack, t.output)),
            len(read_all(cluster.stack, t.dlq)),
        )
        assert cards == cards_now - cards_before, f"run {run + 1}:\n{done.stdout}"
        assert int(dead[1]) == dead_now - dead_before, f"run {run + 1}:\n{done.stdout}"
        assert pairs > 0 and cards == 2 * pairs, done.stdout
        assert "trace-demo-1/1/score" in done.stdout
        cards_before, dead_before = cards_now, dead_now


# The demo's read-back right after a commit, on three brokers too.
from tests.integration.test_readback import (  # noqa: E402, F401
    test_every_committed_record_is_read_back_right_after_the_commit,
)
