"""tune_gc: start-up objects frozen, a larger young generation, cycles still collected; and
tune_switch_interval.

In a child process: the collector's settings are the whole process's, and this one runs
every other test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import gc, json, sys, weakref
    from consumer.commands import app, tuning  # app: what the service has imported at start-up

    before = gc.get_threshold()
    tuning.tune_gc()
    tuning.tune_switch_interval()

    class Node:
        pass

    # A reference cycle made after start-up, as the SDK's HTTP stack makes per call: it must
    # still be collected, by the young collections alone.
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    for _ in range(3):  # enough new containers for young collections to run
        junk = [[] for _ in range(tuning.GC_YOUNG_THRESHOLD + 1)]
        del junk
    print(json.dumps({
        "before": before,
        "after": gc.get_threshold(),
        "frozen": gc.get_freeze_count(),
        "cycle_collected": gone() is None,
        "switch_interval": sys.getswitchinterval(),
    }))
    """
)


def test_tune_gc_freezes_start_up_and_still_collects_cycles() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["after"][0] == 20_000 and got["after"][1:] == got["before"][1:]
    assert got["frozen"] > 10_000  # the imported modules, classes and functions
    assert got["cycle_collected"]
    assert got["switch_interval"] == 0.0005  # from CPython's 0.005
