"""The latency benchmark says how long the service waited for a CPU, and a service it starts
in a session of its own keeps the niceness the benchmark runs at."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import sched
from bench.report_sections import latency_section
from testkit.stack import ROOT


def test_a_schedstat_line_is_seconds_run_and_seconds_waited() -> None:
    assert sched.parse("4410000000 11360000000 5321\n") == sched.Sched(4.41, 11.36)


def test_the_waiting_share_is_of_the_time_the_thread_was_ready_to_run() -> None:
    before, after = sched.Sched(10.0, 3.0), sched.Sched(14.41, 14.36)
    assert sched.waited(before, after) == {"run_s": 4.41, "wait_s": 11.36, "wait_share": 0.72}
    idle = sched.Sched(1.0, 1.0)
    assert sched.waited(idle, idle) == {"run_s": 0.0, "wait_s": 0.0, "wait_share": 0.0}
    assert sched.waited(None, after) is None
    assert sched.waited(before, None) is None


def test_a_live_process_has_a_reading_and_a_gone_one_none() -> None:
    reading = sched.read(1)
    if not Path("/proc/1/schedstat").exists():
        pytest.skip("this kernel keeps no scheduler statistics")
    assert reading is not None and reading.run_s >= 0 and reading.wait_s >= 0
    assert sched.read(2**22 + 12345) is None


def _latency(wait: dict[str, float] | None) -> dict[str, object]:
    return {
        "rate_events_per_s": 1000.0,
        "seconds": 15,
        "achieved_rate": 920.3,
        "cards_measured": 21160,
        "cards_expected": 21160,
        "p50_ms": 13363.0,
        "p90_ms": 14027.0,
        "p99_ms": 14507.0,
        "p999_ms": 14612.0,
        "max_ms": 14776.0,
        "service_cpu_cores": 0.07,
        "service_cpu_wait": wait,
    }


def test_the_latency_section_says_how_long_the_service_waited_for_a_cpu() -> None:
    lines = latency_section(_latency({"run_s": 4.41, "wait_s": 11.36, "wait_share": 0.72}))
    assert any("[MISSED]" in line for line in lines)
    assert (
        "  the service's loop was ready to run 15.8 s of it and waited for a CPU 72% of that "
        "(ran 4.41 s, waited 11.36 s)"
    ) in lines
    # A run without the reading (an older result, a kernel without schedstats) says nothing.
    assert not any("waited for a CPU" in line for line in latency_section(_latency(None)))


def test_a_service_in_its_own_session_weighs_as_much_as_the_session_that_started_it() -> None:
    if not Path("/proc/self/autogroup").exists():
        pytest.skip("this kernel has no autogroup scheduling")
    # A session of its own whose group is lowered to 7, as a niced benchmark's could be; it
    # starts a child in another new session, which the kernel makes at "nice 0".
    script = textwrap.dedent(
        """
        import subprocess
        from pathlib import Path
        from testkit.stack import same_cpu_weight
        Path("/proc/self/autogroup").write_text("7")
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
        made = Path(f"/proc/{child.pid}/autogroup").read_text().split()[-1]
        same_cpu_weight(child.pid)
        print(made, Path(f"/proc/{child.pid}/autogroup").read_text().split()[-1])
        child.kill()
        """
    )
    out = subprocess.run(
        ["setsid", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert out.split() == ["0", "7"], out
