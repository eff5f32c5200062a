"""``selftaught dlq replay``: dead letters go back to the input once their cause is fixed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testkit.offsets import wait_until_committed
from testkit.produce import EventProducer, event
from tests.integration.harness import ROOT, Service, Stack, Topics, read_output

pytestmark = pytest.mark.integration


def replay(service: Service, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "consumer", "dlq", "replay", *args],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_replay_after_the_cause_is_fixed(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    p = EventProducer(stack, topics.input)
    for i in range(3):
        p.send(event(f"wide-{i}", "score", 4, 15))  # off a 0-10 scale, fine on 0-20
    p.send(event("fine-1", "score", 2, 6))
    p.raw(b"junk", b"not avro", [("origin", b"test")])
    p.flush()
    first = Service(stack, topics, tmp_path).start()
    try:
        wait_until_committed(stack, topics, 90, [first])
    finally:
        first.stop()
    assert len(read_output(stack, topics).dead) == 4

    assert "would replay 3 dead letters" in replay(first, "--reason", "phi_off_scale", "--dry-run")
    out = replay(first, "--reason", "phi_off_scale")
    assert "replayed 3 dead letters" in out and "passed over 1" in out
    assert "replayed 0 dead letters" in replay(first, "--reason", "phi_off_scale")  # remembered

    # The operator widens the scale: the replayed events now become pairs. (The replay wrote
    # them transactionally, so the input now ends in a commit marker: reaching the end below
    # also proves the service commits past control records.)
    fixed = Service(stack, topics, tmp_path, instance_id="fixed", env={"SELFTAUGHT_PHI_MAX": "20"})
    fixed.start()
    try:
        wait_until_committed(stack, topics, 90, [fixed])
    finally:
        fixed.stop()
    result = read_output(stack, topics)
    assert sorted({c["source_event_id"] for c in result.cards}) == [
        "fine-1",
        "wide-0",
        "wide-1",
        "wide-2",
    ]
    assert len(result.cards) == 8
    assert len(result.dead) == 4  # nothing new was dead-lettered
