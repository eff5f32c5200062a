"""Selection on the real stack: a pair budget per hour of event time, its share per
instance, its spending kept in the committed offsets' metadata, exactly once throughout."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer.judge.curriculum import decode as levels_of
from consumer.selection import HOUR_MS
from consumer.selection.ledger import decode
from testkit.anthropic_server import FakeAnthropic
from testkit.offsets import committed, wait_until_committed
from testkit.produce import EventProducer
from testkit.produce import Sent as _Sent
from tests.integration.harness import (
    Service,
    Stack,
    Topics,
    check_exactly_once,
    read_all,
    read_output,
)

pytestmark = pytest.mark.integration

# Two whole hours of event time well in the past: a replayed backlog.
HOUR0 = (int(time.time() * 1000) // HOUR_MS - 30) * HOUR_MS
PURPOSES = ("Fix the failing billing test", "Answer the refund e-mail", "Tidy the release notes")
_WORDS = [f"{a}{b}{c}" for a in "bcdfgh" for b in "aeiou" for c in "klmnprst"]


def situation(i: int) -> str:
    """A state of its own for each i below 57,600 (numbers would be normalised away: the
    words differ; the first two spell i in base 240, the rest scatter)."""
    n = len(_WORDS)
    picks = (i % n, i // n + 17, i * 7 + 3, i * 11 + 5, i * 13 + i // n)
    return " ".join(_WORDS[k % n] for k in picks)


def score_event(i: int, hour: int, repeat_of: int | None = None) -> dict[str, Any]:
    n = i if repeat_of is None else repeat_of
    # Late in the hour: the pace allows the whole budget, so what is tested is the budget.
    ts = HOUR0 + hour * HOUR_MS + HOUR_MS - 60_000 + i % 50_000
    return {
        "event_id": f"sel-{uuid.uuid4().hex[:6]}-{i}",
        "trace_id": f"trace-{i}",
        "kind": "score",
        "purpose": PURPOSES[n % len(PURPOSES)],
        "step": 1,
        "timestamp_ms": ts,
        "agent_id": f"agent-{i % 4}",
        "score": {
            # The same situation again reads with other ids and numbers.
            "state_before": f"order {i * 7919} for user u{i}: {situation(n)}",
            "action_name": "edit_file",
            "state_after": f"{situation(n + 1)} at 2026-01-01T10:{i % 60:02d}:00Z",
            "phi_before": 3.0,
            "phi_after": 6.0,
            "reasoning": f"The step moved the work forward ({i}).",
        },
    }


def produce(stack: Stack, t: Topics, events: list[dict[str, Any]]) -> set[str]:
    p = EventProducer(stack, t.input)
    for e in events:
        p.send(e)
    p.flush()
    return {e["event_id"] for e in events}


def committed_metadata(stack: Stack, t: Topics) -> dict[int, dict[int, int]]:
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": t.group})
    try:
        tps = [TopicPartition(t.input, p) for p in range(t.partitions)]
        return {tp.partition: decode(tp.metadata) for tp in c.committed(tps, timeout=10)}
    finally:
        c.close()


def pairs_by_hour(cards: list[dict[str, Any]], sent: dict[str, dict[str, Any]]) -> Counter[int]:
    return Counter(
        sent[c["source_event_id"]]["timestamp_ms"] // HOUR_MS
        for c in cards
        if c["kind"] == "critic_calibration"
    )


def budget_env(budget: int, **extra: str) -> dict[str, str]:
    return {"SELFTAUGHT_PAIR_BUDGET_PER_HOUR": str(budget), **extra}


def test_a_budgeted_stream_pairs_at_most_its_share_and_commits_every_offset(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    events = [score_event(i, hour=0) for i in range(150)]
    events += [score_event(1000 + i, hour=0, repeat_of=i) for i in range(40)]  # repeats
    events += [score_event(2000 + i, hour=1) for i in range(60)]
    by_id = {e["event_id"]: e for e in events}
    produce(stack, topics, events)
    service = Service(stack, topics, tmp_path, env=budget_env(30)).start()
    try:
        wait_until_committed(stack, topics, timeout=120, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    out = read_output(stack, topics)
    per_hour = pairs_by_hour(out.cards, by_id)
    hours = HOUR0 // HOUR_MS, HOUR0 // HOUR_MS + 1
    # Plenty of new situations in each hour: each spends its budget, never more.
    assert per_hour[hours[0]] == 30, per_hour
    assert per_hour[hours[1]] == 30, per_hour
    paired = {c["source_event_id"] for c in out.cards}
    sent = _Sent(qualifying=paired, skipped=set(by_id) - paired)
    check_exactly_once(out, sent)  # two cards per selected event, once; the rest nothing
    # What each partition spent is what its committed offset's metadata says.
    meta = committed_metadata(stack, topics)
    want: dict[int, Counter[int]] = {p: Counter() for p in range(topics.partitions)}
    partition_of = _partitions_of(stack, topics)
    for eid in paired:
        want[partition_of[eid]][by_id[eid]["timestamp_ms"] // HOUR_MS] += 1
    assert meta == {p: dict(c) for p, c in want.items()}, (meta, want)


@pytest.mark.partitions(4)
def test_two_instances_in_one_group_stay_within_the_groups_budget(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    a = Service(stack, topics, tmp_path, instance_id="sel-a", env=budget_env(20)).start()
    b = Service(stack, topics, tmp_path, instance_id="sel-b", env=budget_env(20)).start()
    try:
        # Both in the group, the partitions shared, each with half the budget.
        for service in (a, b):
            wait_for_log(service, "pair budget: 10 of the group's 20 per hour for 2 of 4")
        events = [score_event(i, hour=0) for i in range(400)]
        by_id = {e["event_id"]: e for e in events}
        produce(stack, topics, events)
        wait_until_committed(stack, topics, timeout=120, services=[a, b])
    finally:
        assert a.stop() == 0, a.logs()[-3000:]
        assert b.stop() == 0, b.logs()[-3000:]
    out = read_output(stack, topics)
    per_hour = pairs_by_hour(out.cards, by_id)
    assert sum(per_hour.values()) == 20, per_hour  # 4 partitions x 5, however shared
    paired = {c["source_event_id"] for c in out.cards}
    check_exactly_once(out, _Sent(qualifying=paired, skipped=set(by_id) - paired))


def test_a_restart_mid_stream_keeps_exactly_once_and_the_hours_spending(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    env = budget_env(
        300, SELFTAUGHT_MAX_IN_FLIGHT="200", SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION="60"
    )
    events = [score_event(i, hour=0) for i in range(3000)]
    by_id = {e["event_id"]: e for e in events}
    service = Service(stack, topics, tmp_path, instance_id="sel-crashy", env=env).start()
    wait_for_log(service, "pair budget: 300 of the group's 300 per hour for 3 of 3")
    produce(stack, topics, events)
    deadline = time.monotonic() + 60
    while not any(o > 0 for o in committed(stack, topics).values()):
        assert time.monotonic() < deadline, service.logs()[-3000:]
        time.sleep(0.2)
    service.kill()  # mid-stream: some selected, some committed, some neither
    service.start()  # the same id: reads each partition's spending back from its offset
    try:
        wait_until_committed(stack, topics, timeout=180, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    out = read_output(stack, topics)
    paired = {c["source_event_id"] for c in out.cards}
    check_exactly_once(out, _Sent(qualifying=paired, skipped=set(by_id) - paired))
    assert sum(pairs_by_hour(out.cards, by_id).values()) == 300
    spent = committed_metadata(stack, topics)
    assert sum(s.get(HOUR0 // HOUR_MS, 0) for s in spent.values()) == 300


def test_the_budget_and_the_curriculum_share_each_committed_offsets_metadata(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    # Both keep state in the same offsets' metadata (consumer/wire/offset_notes.py): neither
    # overwrites the other. The judge (the fake API) says every pair is right.
    events = [score_event(i, hour=0) for i in range(45)]
    by_id = {e["event_id"]: e for e in events}
    produce(stack, topics, events)
    with FakeAnthropic(latency_s=0.01) as fake:
        env = budget_env(
            20,
            SELFTAUGHT_LLM_BACKEND="rules",
            ANTHROPIC_API_KEY="sk-ant-test-0123456789",
            ANTHROPIC_BASE_URL=fake.base_url,
            SELFTAUGHT_JUDGE_BACKEND="anthropic",
        )
        service = Service(stack, topics, tmp_path, env=env).start()
        try:
            wait_until_committed(stack, topics, timeout=120, services=[service])
        finally:
            assert service.stop() == 0, service.logs()[-3000:]
        assert any(r.is_judge for r in fake.requests)
    out = read_output(stack, topics)
    assert sum(pairs_by_hour(out.cards, by_id).values()) == 20
    assert all(c["judge"] is not None for c in out.cards)
    notes = committed_notes(stack, topics)
    assert sum(decode(n).get(HOUR0 // HOUR_MS, 0) for n in notes) == 20
    assert all(levels_of(n) is not None for n in notes), notes


def committed_notes(stack: Stack, t: Topics) -> list[str | None]:
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": t.group})
    try:
        tps = [TopicPartition(t.input, p) for p in range(t.partitions)]
        return [tp.metadata for tp in c.committed(tps, timeout=10)]
    finally:
        c.close()


def wait_for_log(service: Service, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(
            text in p.read_text(errors="replace")
            for p in service.log_dir.glob(f"{service.instance_id}-*.log")
        ):
            return
        time.sleep(0.5)
    raise AssertionError(f"{service.instance_id} never logged {text!r}:\n{service.logs()[-3000:]}")


def _partitions_of(stack: Stack, t: Topics) -> dict[str, int]:
    out: dict[str, int] = {}
    for msg in read_all(stack, t.input):
        value = msg.value()
        # event_id is the record's first field: a string, zig-zag varint length then bytes.
        body = value[5:]
        n, shift, i = 0, 0, 0
        while True:
            b = body[i]
            n |= (b & 0x7F) << shift
            i += 1
            shift += 7
            if not b & 0x80:
                break
        length = (n >> 1) ^ -(n & 1)
        out[body[i : i + length].decode()] = msg.partition()
    return out
