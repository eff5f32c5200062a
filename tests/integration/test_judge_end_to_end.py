"""The judge end to end: the service with SELFTAUGHT_JUDGE_BACKEND=anthropic, the real SDK
against the fake Messages API, the real broker and registry. Each scripted verdict lands
where the contract says, exactly once, across a SIGKILL; the curriculum's levels survive a
restart in the committed offsets."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.events import CURRICULUM
from consumer.judge.curriculum import decode
from testkit.anthropic_server import FakeAnthropic
from testkit.offsets import committed, wait_until_committed
from testkit.produce import EventProducer, event
from tests.integration.harness import Service, Stack, Topics, read_all, read_output
from tests.integration.llm import llm_env

pytestmark = pytest.mark.integration

JUDGE = "judge-test-model"
#: What the fake judge does with a pair whose critic reasoning carries the marker.
SCRIPT = {
    "[judge:split]": ("prefer_wrong", {"when_right_is": "A"}),
    "[judge:wrong]": ("prefer_wrong", {}),
    "[judge:refuse]": ("refusal", {}),
    "[judge:down]": ("server_error", {}),
}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(latency_s=0.02) as server:
        for text, (behaviour, params) in SCRIPT.items():
            server.judge_by(text, behaviour, **params)
        yield server


def disputed_topic(stack: Stack, topics: Topics) -> str:
    name = topics.input.replace("trace-events", "disputed")
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    for f in admin.create_topics([NewTopic(name, 1)], operation_timeout=30).values():
        f.result()
    return name


def judged_service(
    stack: Stack, topics: Topics, tmp_path: Path, fake: FakeAnthropic, **env: str
) -> Service:
    return Service(
        stack,
        topics,
        tmp_path,
        instance_id="judge-0",
        env={
            **llm_env(fake, "gen-test-model"),
            "SELFTAUGHT_JUDGE_BACKEND": "anthropic",
            "SELFTAUGHT_JUDGE_MODEL": JUDGE,
            "SELFTAUGHT_LLM_MAX_CONCURRENCY": "8",
            **env,
        },
    )


def scripted(i: int) -> tuple[str, dict[str, Any]]:
    marker = ["", "", *SCRIPT][i % (len(SCRIPT) + 2)]
    e = event(f"j-{i}", "score", 2.0, 6.0)
    e["score"]["reasoning"] += f" {marker}".rstrip()
    return marker, e


def test_each_verdict_lands_where_it_should_exactly_once_across_a_kill(
    stack: Stack, topics: Topics, tmp_path: Path, fake: FakeAnthropic
) -> None:
    disputed = disputed_topic(stack, topics)
    fake.judge_during("overloaded", seconds=2)  # an outage at the start: the judge waits
    producer = EventProducer(stack, topics.input)
    markers = {}
    for i in range(90):
        marker, e = scripted(i)
        markers[e["event_id"]] = marker
        producer.send(e)
    producer.flush()
    env = {"SELFTAUGHT_DISPUTED_TOPIC": disputed, "SELFTAUGHT_JUDGE_TIME_BUDGET_S": "2"}
    fake.configure(latency_s=0.15)  # slow enough to kill it half-way
    service = judged_service(stack, topics, tmp_path, fake, **env).start()
    deadline = time.monotonic() + 120
    while sum(max(o, 0) for o in committed(stack, topics).values()) < 20:
        assert time.monotonic() < deadline, service.logs()[-3000:]
        time.sleep(0.2)
    service.kill()
    fake.configure(latency_s=0.02)
    service.start()
    try:
        wait_until_committed(stack, topics, timeout=180, services=[service])
    finally:
        assert service.stop() == 0

    out = read_output(stack, topics)
    assert not out.dead
    by_event: dict[str, list[dict[str, Any]]] = {}
    for card in out.cards:
        by_event.setdefault(card["source_event_id"], []).append(card)
    kept = {e for e, mk in markers.items() if mk != "[judge:wrong]"}
    assert set(by_event) == kept
    assert len({c["card_id"] for c in out.cards}) == len(out.cards) == 2 * len(kept)
    want = {
        "": (0.0, f"anthropic/{JUDGE}"),
        "[judge:split]": (0.5, f"anthropic/{JUDGE}"),
        "[judge:refuse]": (None, None),  # unjudged: never a made-up verdict
        "[judge:down]": (None, None),  # past the judge's time budget
    }
    for event_id, cards in by_event.items():
        for card in cards:
            assert (card["difficulty"], card["judge"]) == want[markers[event_id]], card

    records = [json.loads(m.value()) for m in read_all(stack, disputed)]
    wrong = sorted(e for e, mk in markers.items() if mk == "[judge:wrong]")
    assert sorted(r["source_event_id"] for r in records) == wrong  # each once, none lost
    for r in records:
        assert r["reason"] == "judge_prefers_wrong" and r["judge"] == f"anthropic/{JUDGE}"
        assert r["critic"]["phi_after"] == 6.0 and "[judge:wrong]" in r["critic"]["reasoning"]
        assert r["generated"]["reasoning"].startswith("(fake")
        assert [a["chose"] for a in r["answers"]] == ["B", "A"]  # the wrong one, both orders
    assert "judge_prefers_wrong" in service.logs()


def committed_notes(stack: Stack, topics: Topics) -> list[str | None]:
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": topics.group})
    try:
        tps = [TopicPartition(topics.input, p) for p in range(topics.partitions)]
        return [tp.metadata for tp in c.committed(tps, timeout=10)]
    finally:
        c.close()


def levels_metric(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("selftaught_curriculum_level{"):
            name = line.split('mistake_type="', 1)[1].split('"', 1)[0]
            out[name] = float(line.rsplit(" ", 1)[1])
    return out


def test_the_curriculum_levels_survive_a_restart_in_the_committed_offsets(
    stack: Stack, topics: Topics, tmp_path: Path, fake: FakeAnthropic
) -> None:
    producer = EventProducer(stack, topics.input)
    for i in range(260):  # a judge right every time: too easy, so every type gets subtler
        producer.send(event(f"c-{i}", "score", float(i % 4), 6.0 + (i % 3)))
    producer.flush()
    service = judged_service(stack, topics, tmp_path, fake).start()
    try:
        wait_until_committed(stack, topics, timeout=180, services=[service])
    finally:
        assert service.stop() == 0
    snapshots = [decode(n) for n in committed_notes(stack, topics)]
    assert all(s is not None for s in snapshots)
    at, levels = max((s for s in snapshots if s is not None), key=lambda s: s[0])
    assert at > 0 and set(levels) == set(CURRICULUM)
    assert sum(levels.values()) >= 3, levels  # most types moved up a level

    fake.reset()
    service.start()  # restarted: no pairs judged yet, the levels come from the offsets
    try:
        producer.send(event("c-after", "score", 2.0, 6.0))
        producer.flush()
        wait_until_committed(stack, topics, timeout=120, services=[service])
        assert levels_metric(service.port) == {m.value: float(n) for m, n in levels.items()}
    finally:
        assert service.stop() == 0
    [asked] = [r for r in fake.requests if not r.is_judge]
    mistake = asked.user_text.split("<requested_mistake>", 1)[1].split("<", 1)[0]
    level = next(n for m, n in levels.items() if m.value == mistake)
    assert f"<subtlety>{level} of 4</subtlety>" in asked.user_text
    assert "curriculum levels resumed" in service.logs()
