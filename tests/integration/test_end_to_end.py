"""End to end against the real broker and registry: exactly two cards per qualifying event."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit.offsets import wait_until_committed
from testkit.produce import EventProducer, event, produce_mixed
from tests.integration.harness import ROOT, Service, Stack, Topics, check_exactly_once, read_output

pytestmark = pytest.mark.integration


def test_5000_events_become_exactly_two_cards_per_qualifying_event(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    sent = produce_mixed(stack, topics, 5000, poison_every=500)
    service = Service(stack, topics, tmp_path).start()
    try:
        took = wait_until_committed(stack, topics, timeout=180, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    out = read_output(stack, topics)
    check_exactly_once(out, sent)
    print(
        f"\n[e2e] {sent.total} records ({len(sent.qualifying)} qualifying, {len(sent.poison)} poison) "
        f"committed in {took:.1f}s incl. start-up: {sent.total / took:.0f} records/s"
    )
    kinds = {c["mistake_type"] for c in out.cards if c["kind"] == "failure_pattern"}
    assert kinds == {
        "intention_credit",
        "sycophancy",
        "ignored_evidence",
        "scale_inconsistency",
        "purpose_drift",
    }


def test_sigkill_three_times_mid_stream_still_exactly_once(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    sent = produce_mixed(stack, topics, 5000, poison_every=500, seed=11)
    # Smaller commits and window so each kill lands with work in flight and uncommitted.
    env = {"SELFTAUGHT_MAX_IN_FLIGHT": "300", "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "100"}
    service = Service(stack, topics, tmp_path, instance_id="crashy", env=env).start()
    rng = random.Random(3)
    for _ in range(3):
        time.sleep(rng.uniform(2.5, 5.0))
        service.kill()
        service.start()  # same instance id: fences the dead one's open transaction at once
    try:
        wait_until_committed(stack, topics, timeout=240, services=[service])
    finally:
        assert service.stop() == 0
    check_exactly_once(read_output(stack, topics), sent)


def test_events_from_a_newer_writer_schema_are_processed(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    schema = json.loads((ROOT / "schemas/trace_event.avsc").read_text())
    schema["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    old = EventProducer(stack, topics.input)
    new = EventProducer(stack, topics.input, json.dumps(schema))
    old.send(event("old-1", "score", 2, 6))
    new.send({**event("new-1", "score", 2, 6), "tenant": "acme"})
    new.send({**event("new-2", "score", 8, 3), "tenant": None})
    old.flush()
    new.flush()
    service = Service(stack, topics, tmp_path).start()
    try:
        wait_until_committed(stack, topics, timeout=90, services=[service])
    finally:
        service.stop()
    out = read_output(stack, topics)
    assert sorted({c["source_event_id"] for c in out.cards}) == ["new-1", "new-2", "old-1"]
    assert len(out.cards) == 6 and not out.dead


@pytest.mark.partitions(1)
def test_each_poison_record_is_dead_lettered_and_the_partition_moves_on(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    p = EventProducer(stack, topics.input)
    good = p.send(event("before-1", "score", 1, 4))
    poison = [
        (b"no-magic", b"plain text, no header"),
        (b"unknown-id", b"\x00\x00\x0f\x42\x3f" + good[5:]),
        (b"truncated", good[:-9]),
    ]
    for key, value in poison:
        p.raw(key, value)
    from confluent_kafka.serialization import MessageField, SerializationContext

    ctx = SerializationContext(topics.input, MessageField.VALUE)
    for key, rec in [
        (b"nan", event("nan-1", "score", 1, float("nan"))),
        (b"off-scale", event("off-1", "score", 1, 11)),
        (b"five-mb", {**event("big-1", "score", 1, 6), "purpose": "x" * (5 * 1024 * 1024)}),
    ]:
        value = p.serializer(rec, ctx)
        assert value is not None
        p.raw(key, value)
        poison.append((key, value))
    p.send(event("after-1", "score", 9, 2))
    p.flush()
    service = Service(stack, topics, tmp_path).start()
    try:
        wait_until_committed(stack, topics, timeout=90, services=[service])
    finally:
        service.stop()
    out = read_output(stack, topics)
    assert {c["source_event_id"] for c in out.cards} == {"before-1", "after-1"}
    assert [(k, v) for k, v, _ in out.dead] == poison  # same bytes, same order
    reasons = [dict(h)["selftaught.error.class"].decode() for _, _, h in out.dead]
    assert reasons == [
        "bad_magic_byte",
        "unknown_schema_id",
        "bad_avro",
        "phi_not_finite",
        "phi_off_scale",
        "field_too_large",
    ]


def test_sigterm_drains_commits_and_exits_zero(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    sent = produce_mixed(stack, topics, 3000, seed=5)
    service = Service(stack, topics, tmp_path, env={"SELFTAUGHT_DRAIN_TIMEOUT_S": "10"}).start()
    # Draining is the subject: the SIGTERM comes once the service is up and working (on a
    # loaded machine its imports alone can take longer than a fixed sleep).
    service.wait_ready(120)
    time.sleep(2)
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    assert time.monotonic() - started < 20
    assert "stopped cleanly" in service.logs()
    # A second instance finishes the rest; together they are exactly once.
    rest = Service(stack, topics, tmp_path, instance_id="test-1").start()
    try:
        wait_until_committed(stack, topics, timeout=120, services=[rest])
    finally:
        rest.stop()
    check_exactly_once(read_output(stack, topics), sent)


def test_a_kafka_setting_librdkafka_refuses_stops_the_start_with_one_line(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    env = {"SELFTAUGHT_KAFKA_LINGER_MSS": "5"}  # a typo: linger.ms
    service = Service(stack, topics, tmp_path, env=env).start()
    assert service.wait(60) == 2
    logs = service.logs()
    assert (
        "selftaught: configuration error: SELFTAUGHT_KAFKA_*: the Kafka consumer refused its "
        'settings: No such configuration property: "linger.mss"'
    ) in logs
    assert "Traceback" not in logs


def test_demo_command_runs_on_the_local_stack(stack: Stack) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SELFTAUGHT_BOOTSTRAP_SERVERS": stack.bootstrap,
        "SELFTAUGHT_SCHEMA_REGISTRY_URL": stack.registry,
        "SELFTAUGHT_GROUP_ID": "demo-test",
    }
    import os

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SELFTAUGHT_")}, **env}
    run = subprocess.run(
        [sys.executable, "-m", "consumer", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "contrast pairs" in run.stdout
    assert "trace-demo-1/1/score" in run.stdout
    assert "phi_off_scale" in run.stdout and "bad_magic_byte" in run.stdout


def test_lag_reads_zero_for_every_partition_once_drained(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    # The gauge autoscaling (KEDA) and the SelftaughtLagGrowing alert read: once everything
    # is committed it must say 0 for each assigned partition, not stay at 1 or go missing.
    import urllib.request

    produce_mixed(stack, topics, 600, seed=51)
    service = Service(stack, topics, tmp_path).start()

    def lag() -> dict[str, float]:
        url = f"http://127.0.0.1:{service.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        return {
            line.split('partition="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("selftaught_consumer_lag_records{")
        }

    try:
        wait_until_committed(stack, topics, timeout=120, services=[service])
        deadline = time.monotonic() + 30  # refreshed every 5 s
        while True:
            got = lag()
            if len(got) == topics.partitions and all(v == 0 for v in got.values()):
                break
            assert time.monotonic() < deadline, f"lag after the drain: {got}"
            time.sleep(0.5)
    finally:
        assert service.stop() == 0
