"""Process-wide tuning for a process that runs the service and nothing else
(``selftaught run``): the garbage collector and the GIL's switch interval."""

from __future__ import annotations

import gc
import sys

__all__ = ["GC_YOUNG_THRESHOLD", "SWITCH_INTERVAL_S", "tune_gc", "tune_switch_interval"]

#: Allocations between young collections (CPython's default is 700); see tune_gc.
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Fewer and shorter garbage collections, for a process holding thousands of records.

    With CPython's default thresholds the records, tasks and calls in flight outlive the
    young generations, so full collections over hundreds of thousands of objects stop the
    event loop often (the figures are in bench/README.md). What start-up built (modules,
    classes, clients) is never garbage: frozen, no collection scans it again. A larger young
    generation lets most per-record objects die by reference count before a collection
    ever sees them. Cycles are still collected: the SDK's HTTP stack leaves cyclic objects
    behind each call, and they go in the young collections.
    """
    gc.collect()  # nothing that is already garbage gets frozen
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


#: How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
SWITCH_INTERVAL_S = 0.0005


def tune_switch_interval() -> None:
    """Hand the GIL over within half a millisecond instead of five.

    The loop keeps reading and finishing records while a transaction commits on a thread
    (runner/). At full speed the loop always holds the GIL; the commit thread needs it back
    after the broker answers each of its two calls, and waits up to a switch interval each
    time: with the default, reading on during a commit gains nothing (bench/README.md has the
    figures). Idle, or waiting on the LLM, nothing contends for the GIL.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
