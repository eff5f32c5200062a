"""The cards against their real reader: purpose-agent's MemoryCI (its immune scan, its prompt
compiler), on a realistic stream through the real service, broker and registry; and
``selftaught memoryci sync`` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from purpose_agent.compiler import PromptCompiler
from purpose_agent.immune import scan_memory
from purpose_agent.memory import MemoryStore

from consumer.commands.memoryci import compiled_prompt, submit_all, to_memoryci
from consumer.stages.cards import CardPolicy, build_cards
from consumer.wire import schemas
from testkit.anthropic_server import FakeAnthropic
from testkit.offsets import wait_until_committed
from testkit.produce import EventProducer
from testkit.streams import PLANTED, realistic_events
from tests.integration.harness import ROOT, Service, Stack, Topics, read_all, service_env
from tests.integration.llm import llm_env
from tests.unit.factories import card_record
from tests.unit.test_redact import PLANTED as UNIT_PLANTED
from tests.unit.test_redact import _text

pytestmark = pytest.mark.integration

N = 120  # 20 events from each of the six kinds of agents


def _produce(stack: Stack, t: Topics) -> list[dict[str, Any]]:
    events = realistic_events(N, seed=5)
    producer = EventProducer(stack, t.input)
    for e in events:
        producer.send(e)
    producer.flush()
    return events


def _cards(stack: Stack, t: Topics) -> list[dict[str, Any]]:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from consumer.wire.codec import decode_card

    registry = SchemaRegistryClient({"url": stack.registry})
    v2 = schemas.text(schemas.MEMORY_CARD)
    return [
        decode_card(m.value(), lambda i: str(registry.get_schema(i).schema_str), v2)
        for m in read_all(stack, t.output)
    ]


def _check_with_memoryci(cards: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every pair passes the immune scan; a compiled prompt shows at least 5 distinct pairs;
    no card's line costs over 150 tokens; nothing planted reaches a card."""
    store = MemoryStore()  # in memory: a persistent one rewrites its file on every change
    verdicts = submit_all(store, cards)
    rejected = [(v, c) for v, c in zip(verdicts, cards, strict=True) if v.status != "quarantined"]
    assert not rejected, [(v.threats, c["content"][:200]) for v, c in rejected[:3]]
    for c in cards:
        text = " ".join(str(c[k]) for k in ("content", "pattern", "strategy", "why_wrong"))
        for planted in PLANTED:
            assert planted not in text, (planted, text)
        assert c["prompt_version"] and c["action_name"] and c["state_after"] is not None
        assert c["difficulty"] is None and c["judge"] is None
        assert c["contrast"] >= 1.0
    lines = PromptCompiler(store)
    for card in store.get_all():
        assert len(lines._format_memory(card)) // lines.chars_per_token <= 150
    by_id = {c["card_id"]: c for c in cards}
    prompt = compiled_prompt(store, task="score this step of an agent's work")
    pairs = {by_id[i]["pair_id"] for i in prompt.included_memory_ids}
    assert len(pairs) >= 5, prompt.system_prompt
    print(f"\n[memoryci] {len(cards)} cards, all passed; {len(pairs)} distinct pairs in a prompt")


def test_rules_cards_pass_memoryci_and_sync_feeds_it_once(
    stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    events = _produce(stack, topics)
    service = Service(stack, topics, tmp_path).start()
    try:
        wait_until_committed(stack, topics, timeout=180, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    cards = _cards(stack, topics)
    # A pair is only ever skipped as unsafe_content; most of this stream is not.
    assert len({c["pair_id"] for c in cards}) >= 0.9 * len(events)
    _check_with_memoryci(cards, tmp_path)

    # The reference consumer, as a user runs it: every card once, then nothing more.
    env = {**service_env(stack, topics, "sync", 0)}
    store = tmp_path / "ci-store.json"
    cmd = [sys.executable, "-m", "consumer", "memoryci", "sync", "--store", str(store)]
    first = subprocess.run(
        [*cmd, "--idle-exit", "5"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count(": quarantined") == len(cards), first.stdout[-2000:]
    assert len(json.loads(store.read_text())) == len(cards)
    again = subprocess.run(
        [*cmd, "--idle-exit", "3"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert again.returncode == 0 and "read 0 cards" in again.stdout, again.stdout[-500:]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def test_llm_cards_pass_memoryci_and_no_request_carries_planted_text(
    stack: Stack, topics: Topics, tmp_path: Path, fake: FakeAnthropic
) -> None:
    _produce(stack, topics)
    service = Service(
        stack,
        topics,
        tmp_path,
        instance_id="llm-ci",
        env=llm_env(fake, "claude-test"),
    ).start()
    try:
        wait_until_committed(stack, topics, timeout=240, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    assert fake.requests
    for r in fake.requests:
        sent = json.dumps(r.body["messages"], ensure_ascii=False)
        for planted in PLANTED:
            assert planted not in sent, planted
    _check_with_memoryci(_cards(stack, topics), tmp_path)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(_text, _text, _text, _text)
def test_adversarial_text_never_reaches_the_llm_nor_a_card_memoryci_rejects(
    fake: FakeAnthropic, before: str, action: str, after: str, reasoning: str
) -> None:
    """Property: whatever a trace carries, the request the model gets and the cards made of
    its answer hold none of the planted text, and MemoryCI's scan passes both cards."""
    from consumer.events import ContrastPair, ScoreData, ScoreEvent
    from consumer.generate.anthropic import AnthropicGenerator, sdk_client
    from consumer.generate.anthropic_limiter import Backoff
    from consumer.redact import safe_event
    from consumer.stages.qualify import Scale

    fake.reset()
    score = ScoreData(before, action, after, 2.0, 7.0, reasoning)
    safe = safe_event(ScoreEvent("ev-p", "tr-p", "Fix the build", 1, 0, None, score))
    if safe.event is None:
        return  # skipped before any LLM call (unsafe_content)
    event = safe.event

    async def go() -> ContrastPair:
        client = sdk_client(5.0, base_url=fake.base_url, api_key="test-key")
        gen = AnthropicGenerator(
            scale=Scale(0, 10),
            min_contrast=1.0,
            client=client,
            model="claude-test",
            backoff=Backoff(base_s=0.01, max_s=0.05),
            time_budget_s=20.0,
        )
        try:
            wrong = await gen.generate(event)
            return ContrastPair(event, wrong, gen.name, gen.prompt_version)
        finally:
            await gen.aclose()
            await client.close()

    pair = asyncio.run(go())
    for r in fake.requests:
        sent = json.dumps(r.body["messages"], ensure_ascii=False)
        for planted in UNIT_PLANTED:
            assert planted not in sent
    for card in build_cards(pair, CardPolicy(0.7, 16_000), 1):
        assert scan_memory(to_memoryci(card_record(card))).passed, card
        for planted in UNIT_PLANTED:
            assert planted not in f"{card.content} {card.pattern} {card.strategy}"
