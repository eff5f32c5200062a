"""The benchmark on a cluster: it finds every node stack.sh starts, and its report says how
many brokers the figures come from and how their topics were replicated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench import report
from testkit.stack import ROOT, local_bootstrap


def test_the_bootstrap_list_is_the_one_stack_sh_prints(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
        "KAFKA_PORT": "39092",
        "SELFTAUGHT_STACK_DIR": str(tmp_path / "state"),
    }
    printed = subprocess.run(
        ["bash", str(ROOT / "deploy/local/stack.sh"), "--brokers", "3", "bootstrap"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert local_bootstrap(39092, 3) == printed
    assert local_bootstrap(39092) == "127.0.0.1:39092"


def test_the_report_names_the_brokers_under_the_machine() -> None:
    res = {
        "started_at": "20250101T000000Z",
        "mode": "quick",
        "machine": {
            "nproc": 2,
            "kafka": {"brokers": 3, "replication_factor": 3, "min_insync_replicas": 2},
        },
    }
    lines = report.render(res).splitlines()
    assert lines[1].startswith("machine: 2 cpus")
    assert lines[2] == (
        "kafka: 3 brokers on this machine, topics at replication factor 3, min.insync.replicas 2"
    )
    one = {
        **res,
        "machine": {"kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 1}},
    }
    assert "kafka: 1 broker on this machine" in report.render(one)
