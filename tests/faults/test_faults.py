"""Faults injected while the service works; afterwards a read_committed reader must see
exactly two cards per qualifying event, none for the rest, no duplicate card_id, every poison
record in the DLQ once with its headers, and the input offsets committed to the end.

Kafka's own exactly-once system tests bounce brokers and clients hard and clean; so do these.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testkit.offsets import wait_until_committed
from testkit.produce import (
    BackgroundProducer,
    EventProducer,
    event,
    evolved_schema_text,
    produce_mixed,
)
from tests.faults.report import figures
from tests.integration.harness import ROOT, Service, Stack, Topics, check_exactly_once, read_output

pytestmark = pytest.mark.faults

N = 3000  # events per scenario; with POISON_EVERY, 300 poison records among them
POISON_EVERY = 50
OVER_S = 15.0  # produced over this long, so every fault lands while the service works


def stack_cmd(*args: str) -> None:
    subprocess.run(["bash", str(ROOT / "deploy/local/stack.sh"), *args], check=True)


def finish(stack: Stack, t: Topics, services: list[Service], timeout: float = 240) -> float:
    """Wait for the end, restarting any instance that died (as Kubernetes would)."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        for s in services:
            if s.proc is not None and s.proc.poll() is not None:
                s.start()
        try:
            wait_until_committed(stack, t, timeout=min(10, deadline - time.monotonic()))
            return time.monotonic() - started
        except AssertionError:
            if time.monotonic() >= deadline:
                raise


def stop_all(services: list[Service]) -> None:
    for s in services:
        if s.proc is not None and s.proc.poll() is None:
            s.stop()


def test_sigkill_five_times(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    producing = BackgroundProducer(stack, topics, N, OVER_S, POISON_EVERY, seed=21)
    producing.start()
    env = {
        "SELFTAUGHT_MAX_IN_FLIGHT": "200",
        "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "60",
        "SELFTAUGHT_LOG_LEVEL": os.environ.get("FAULT_LOG_LEVEL", "INFO"),
    }
    svc = Service(stack, topics, tmp_path, instance_id="kill5", env=env).start()
    rng = random.Random(5)
    for _ in range(5):
        time.sleep(rng.uniform(1.0, 3.5))
        svc.kill()
        svc.start()
    sent = producing.finish()
    try:
        took = finish(stack, topics, [svc])
    finally:
        stop_all([svc])
    out = read_output(stack, topics)
    figures("sigkill x5", sent, out, took)
    check_exactly_once(out, sent)


@pytest.mark.partitions(6)
def test_group_scales_1_3_1_with_sigterm_and_sigkill(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    producing = BackgroundProducer(stack, topics, N, OVER_S, POISON_EVERY, seed=22)
    producing.start()
    env = {"SELFTAUGHT_MAX_IN_FLIGHT": "200", "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "40"}
    a = Service(stack, topics, tmp_path, instance_id="a", env=env).start()
    time.sleep(3)
    b = Service(stack, topics, tmp_path, instance_id="b", env=env).start()
    c = Service(stack, topics, tmp_path, instance_id="c", env=env).start()
    time.sleep(5)
    b.wait_ready(120)  # a scale-down of a running instance, not of one still starting
    b.signal(signal.SIGTERM)  # a clean scale-down
    assert b.wait(30) == 0
    c.kill()  # a crash
    sent = producing.finish()
    try:
        took = finish(stack, topics, [a])
    finally:
        stop_all([a, b, c])
    out = read_output(stack, topics)
    figures("group 1->3->1", sent, out, took)
    check_exactly_once(out, sent)


def test_broker_down_20s_mid_stream(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    producing = BackgroundProducer(stack, topics, N, OVER_S, POISON_EVERY, seed=23)
    producing.start()
    env = {"SELFTAUGHT_MAX_IN_FLIGHT": "300", "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "100"}
    svc = Service(stack, topics, tmp_path, instance_id="broker-bounce", env=env).start()
    time.sleep(5)
    stack_cmd("stop-kafka")
    time.sleep(20)
    assert svc.proc is not None and svc.proc.poll() is None, "the service must ride out the outage"
    back = time.monotonic()
    stack_cmd("start-kafka")
    sent = producing.finish()
    try:
        finish(stack, topics, [svc])
    finally:
        stop_all([svc])
    out = read_output(stack, topics)
    figures("broker down 20s", sent, out, time.monotonic() - back)
    check_exactly_once(out, sent)


def test_registry_down_20s_valid_events_wait(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    # Events written with a schema the service has never seen, so it must ask the registry
    # while the registry is down: they wait, none is dead-lettered for the outage.
    sent = produce_mixed(stack, topics, N // 2, poison_every=POISON_EVERY, seed=24)
    p = EventProducer(stack, topics.input, evolved_schema_text())
    for i in range(N // 2):
        rec = {**event(f"evolved-{i}-x", "score", 2, 7), "tenant": "acme"}
        p.send(rec)
        sent.qualifying.add(rec["event_id"])
    p.flush()
    stack_cmd("stop-registry")
    svc = Service(stack, topics, tmp_path, instance_id="registry-outage").start()
    try:
        time.sleep(20)
        assert svc.proc is not None and svc.proc.poll() is None
        back = time.monotonic()
        stack_cmd("start-registry")
        finish(stack, topics, [svc])
    finally:
        stack_cmd("start-registry")
        stop_all([svc])
    out = read_output(stack, topics)
    figures("registry down 20s", sent, out, time.monotonic() - back)
    check_exactly_once(out, sent)


def test_zombie_is_fenced(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    producing = BackgroundProducer(stack, topics, N, OVER_S, POISON_EVERY, seed=26)
    producing.start()
    env = {"SELFTAUGHT_MAX_IN_FLIGHT": "200", "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "60"}
    zombie = Service(stack, topics, tmp_path, instance_id="zombie", env=env).start()
    time.sleep(4)
    zombie.signal(signal.SIGSTOP)  # frozen mid-stream, as by a long GC pause or a node hiccup
    other = Service(stack, topics, tmp_path, instance_id="successor", env=env).start()
    time.sleep(12)  # past the 6 s session timeout: the partitions move to the successor
    zombie.signal(signal.SIGCONT)  # its late transaction must be fenced
    sent = producing.finish()
    try:
        took = finish(stack, topics, [other, zombie])
    finally:
        stop_all([zombie, other])
    out = read_output(stack, topics)
    figures("zombie (SIGSTOP)", sent, out, took)
    check_exactly_once(out, sent)


def test_backlog_of_100k_is_drained_with_bounded_reading_ahead(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    sent = produce_mixed(stack, topics, 100_000, poison_every=1000, seed=27)
    svc = Service(stack, topics, tmp_path, instance_id="backlog").start()
    peak = 0
    started = time.monotonic()
    try:
        while True:
            peak = max(peak, svc.rss_peak_kib())
            try:
                wait_until_committed(stack, topics, timeout=5, services=[svc])
                break
            except AssertionError:
                if time.monotonic() - started > 600:
                    raise
        took = time.monotonic() - started
        peak = max(peak, svc.rss_peak_kib())
    finally:
        stop_all([svc])
    out = read_output(stack, topics)
    figures(
        "backlog 100k",
        sent,
        out,
        took,
        f"({sent.total / took:.0f} records/s, peak RSS {peak / 1024:.0f} MiB)",
    )
    check_exactly_once(out, sent)


def test_healthz_stays_healthy_while_the_broker_is_down(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    from tests.integration.test_health import get, wait_for

    # Records keep arriving until the broker goes, so a commit is caught waiting on it.
    producing = BackgroundProducer(stack, topics, 1500, 8.0, 0, seed=28)
    svc = Service(
        stack, topics, tmp_path, instance_id="health", env={"SELFTAUGHT_HEALTH_STUCK_AFTER_S": "5"}
    ).start()
    try:
        wait_for(svc.port, "/readyz", 200, 60)
        producing.start()
        time.sleep(3)
        stack_cmd("stop-kafka")
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # 4x the stuck threshold, broker down throughout
                code, body = get(svc.port, "/healthz")
                assert code == 200, body
                time.sleep(0.5)
        finally:
            stack_cmd("start-kafka")
        sent = producing.finish()
        finish(stack, topics, [svc])
    finally:
        stop_all([svc])
    check_exactly_once(read_output(stack, topics), sent)
