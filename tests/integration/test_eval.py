"""``selftaught eval`` end to end: cards on a real topic (transactions, the real registry),
scripted critics behind the fake Messages API over HTTP with the real SDK, and purpose-agent's
real MemoryCI for ``--retrieval memoryci``. The command runs in this process (its imports
cost seconds per process on a busy machine), except once as ``python -m consumer eval``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from consumer import settings
from consumer.commands import cli
from consumer.eval import command
from consumer.events import MemoryCard, MistakeType
from consumer.wire import schemas
from consumer.wire.codec import CardEncoder
from consumer.wire.registry import RegistryClient
from testkit.anthropic_server import FakeAnthropic
from tests.integration.harness import Stack
from tests.unit.eval_factories import pair_cards, tag

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PURPOSES = ("ship", "docs")
MEMORY_MISTAKES = (
    MistakeType.SYCOPHANCY,
    MistakeType.IGNORED_EVIDENCE,
    MistakeType.INTENTION_CREDIT,
)
TEST_MISTAKES = (*MEMORY_MISTAKES, MistakeType.SCALE_INCONSISTENCY)  # one the memory lacks
CORRECT_PHI = 6.0  # eval_factories: every correct Φ after is 6, every wrong one 9


def _topic(stack: Stack) -> str:
    name = f"eval-{uuid.uuid4().hex[:8]}.memory-cards"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    for f in admin.create_topics([NewTopic(name, 2)], operation_timeout=30).values():
        f.result()
    return name


def _produce(
    stack: Stack, topic: str, cards: list[MemoryCard], *, aborted: Sequence[MemoryCard] = ()
) -> None:
    """The cards in one committed transaction, ``aborted`` in one that is rolled back."""
    schema_id = RegistryClient(url=stack.registry).register(
        schemas.subject(topic), schemas.text(schemas.MEMORY_CARD)
    )
    enc = CardEncoder(schema_id=schema_id)
    p = Producer({"bootstrap.servers": stack.bootstrap, "transactional.id": f"t-{topic}"})
    p.init_transactions(30)
    for batch, commit in ((cards, True), (list(aborted), False)):
        if not batch:
            continue
        p.begin_transaction()
        for c in batch:
            p.produce(topic, key=c.source_trace_id.encode(), value=enc.encode(c))
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)
            p.abort_transaction(30)


@pytest.fixture(scope="module")
def cards_topic(stack: Stack) -> Iterator[tuple[str, dict[str, tuple[str, str]]]]:
    """30 memory pairs (three mistake types), then 10 newer test pairs (four types), and an
    aborted transaction's cards that must never be read. Also: card id -> its pair's tag."""
    memory = [pair_cards(i, PURPOSES[i % 2], MEMORY_MISTAKES[i % 3]) for i in range(30)]
    test = [pair_cards(i, PURPOSES[i % 2], TEST_MISTAKES[i % 4]) for i in range(30, 40)]
    aborted = [c for i in range(40, 44) for c in pair_cards(i, "ship", MistakeType.SYCOPHANCY)]
    cards = [c for pair in (*memory, *test) for c in pair]
    topic = _topic(stack)
    _produce(stack, topic, cards, aborted=aborted)
    tags = {}
    for i, (cal, fail) in enumerate((*memory, *test)):
        t = (PURPOSES[i % 2], (MEMORY_MISTAKES[i % 3] if i < 30 else TEST_MISTAKES[i % 4]).value)
        tags[cal.card_id] = tags[fail.card_id] = t
    yield topic, tags


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as f:
        yield f


def _env(stack: Stack, fake: FakeAnthropic, topic: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SELFTAUGHT_", "ANTHROPIC_"))},
        "SELFTAUGHT_BOOTSTRAP_SERVERS": stack.bootstrap,
        "SELFTAUGHT_SCHEMA_REGISTRY_URL": stack.registry,
        "SELFTAUGHT_OUTPUT_TOPIC": topic,
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "test-key",
    }


def _eval(
    stack: Stack, fake: FakeAnthropic, topic: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """The command as a process."""
    return subprocess.run(
        [sys.executable, "-m", "consumer", "eval", "--holdout", "0.25", *args],
        env=_env(stack, fake, topic), cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def run_eval(stack, fake, monkeypatch, capsys):
    """The command in this process: (exit code, stdout) for a topic and arguments."""

    def run(topic: str, *args: str) -> tuple[int, str]:
        env = _env(stack, fake, topic)
        for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
            monkeypatch.setenv(name, env[name])
        parsed = cli._parser().parse_args(["eval", "--holdout", "0.25", *args])
        code = command.main(settings.load(env), parsed)
        return code, capsys.readouterr().out

    return run


# -- scripted critics: each reads the prompt the way a model would ---------------------------


def _step(text: str) -> dict[str, Any]:
    body = re.search(r"<step>(.*?)</step>", text, re.S)
    assert body, "the step travels inside <step> tags"
    return json.loads(body.group(1))


def _memory(text: str) -> str:
    body = re.search(r"<memory>(.*?)</memory>", text, re.S)
    return json.loads(body.group(1))["notes"] if body else ""


def _right(text: str) -> str:
    evaluations = _step(text)["evaluations"]
    return "A" if evaluations["A"]["phi_after"] == CORRECT_PHI else "B"


def always_a(text: str) -> dict[str, str]:
    return {"better": "A"}


def oracle(text: str) -> dict[str, str]:
    return {"better": _right(text)}


def card_aware(text: str) -> dict[str, str]:
    """Right only when a card in context shares the pair's purpose and mistake type."""
    own_tag = _step(text)["action_name"].split("-", 1)[1]
    right = _right(text)
    return {"better": right if own_tag in _memory(text) else "AB".replace(right, "")}


def _run(run_eval, fake, topic, critic: Callable[[str], Any], *args: str) -> dict[str, Any]:
    fake.script(critic)
    code, out = run_eval(topic, "--json", *args)
    assert code == 0
    return json.loads(out)


def test_a_critic_that_always_answers_a_scores_zero(run_eval, fake, cards_topic) -> None:
    topic, _ = cards_topic
    r = _run(run_eval, fake, topic, always_a, "--retrieval", "similar")
    assert r["setup"]["cards"] == 80 and r["setup"]["test_pairs"] == 10  # nothing aborted read
    o = r["overall"]
    assert o["n"] == 10
    assert (o["accuracy_without"], o["accuracy_with"]) == (0.0, 0.0)
    assert (o["consistency_without"], o["consistency_with"]) == (0.0, 0.0)
    assert r["calls"] == len(fake.requests) == 40
    assert r["tokens"]["input"] == 900 * 40 and r["cost_usd"] > 0


def test_an_oracle_has_no_lift_and_the_report_files_are_written(
    run_eval, fake, cards_topic, tmp_path
) -> None:
    topic, _ = cards_topic
    md, png = tmp_path / "eval.md", tmp_path / "eval.png"
    r = _run(run_eval, fake, topic, oracle, "--markdown", str(md), "--plot", str(png))
    o = r["overall"]
    assert (o["accuracy_without"], o["accuracy_with"], o["lift"]) == (1.0, 1.0, 0.0)
    assert (o["lift_low"], o["lift_high"]) == (0.0, 0.0)
    assert "| all pairs | 10 | 100.0% | 100.0% |" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # What the critic was sent: structured output, the data inside its tags, a cached system.
    req = fake.requests[0]
    assert req.body["output_config"]["format"]["schema"]["properties"]["better"]["enum"] == [
        "A",
        "B",
    ]
    assert req.body["system"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize("mode", ["similar", "memoryci"])
def test_lift_is_the_share_of_pairs_shown_a_card_of_their_kind(
    run_eval, fake, cards_topic, mode
) -> None:
    topic, tags = cards_topic
    r = _run(run_eval, fake, topic, card_aware, "--retrieval", mode)
    o = r["overall"]
    matched = [
        any(tags[c] == (p["purpose"], p["mistake_type"]) for c in p["shown"]) for p in r["pairs"]
    ]
    share = sum(matched) / len(matched)
    assert len(matched) == 10 and o["accuracy_without"] == 0.0
    assert o["lift"] == pytest.approx(share)
    assert o["lift_low"] <= share <= o["lift_high"]
    assert share > 0
    if mode == "similar":
        # The pairs whose mistake type no memory card has can never be matched.
        assert share == 0.7
    for p in r["pairs"]:
        assert p["mistake_type"] in {m.value for m in TEST_MISTAKES}
        assert not any(tags[c] == (p["purpose"], "scale_inconsistency") for c in p["shown"])


def test_cards_of_the_test_pairs_events_and_steps_are_never_shown(stack, run_eval, fake) -> None:
    """The memory holds only cards of the test pairs' own events and trace steps: none shows."""
    test = [
        pair_cards(i, "ship", MistakeType.SYCOPHANCY, created_at_ms=2_000_000_000_000 + i)
        for i in range(4)
    ]
    # Older pairs from the same trace steps (a score re-sent with a new event id), and one
    # more for each test pair's own source event under another generator's pair id.
    # (Version 2 cards carry the step's state before: an echo has the test step's own.)
    echoes = [
        tuple(
            c._replace(state_before=test[i][0].state_before)
            for c in pair_cards(100 + i, "ship", MistakeType.SYCOPHANCY, trace_id=f"tr-{i}",
                                action=f"step{i}-{tag('ship', 'sycophancy')}")
        )
        for i in range(4)
    ]  # fmt: skip
    same_event = [
        tuple(
            c._replace(pair_id=f"other-{i}", card_id=f"other-{i}-{c.kind}")
            for c in pair_cards(200 + i, "ship", MistakeType.SYCOPHANCY, event_id=f"ev-{i}")
        )
        for i in range(4)
    ]
    topic = _topic(stack)
    _produce(stack, topic, [c for pair in (*echoes, *same_event, *test) for c in pair])
    for mode in ("similar", "memoryci"):
        fake.reset()
        r = _run(run_eval, fake, topic, oracle, "--holdout", "0.333", "--retrieval", mode)
        assert r["setup"]["test_pairs"] == 4 and r["setup"]["memory_cards"] == 0
        assert r["pairs_shown_cards"] == 0 and all(p["shown"] == [] for p in r["pairs"])
        assert not any("<memory>" in q.user_text for q in fake.requests)


def test_the_spend_limit_stops_the_run_before_the_call_that_would_pass_it(
    run_eval, fake, cards_topic
) -> None:
    topic, _ = cards_topic
    # The fake's usage: 900 input, 120 output, 600 cache-read tokens = $0.00468 a call.
    per_call = (900 * 3.0 + 120 * 15.0 + 600 * 0.30) / 1e6
    r = _run(run_eval, fake, topic, oracle, "--max-usd", "0.02", "--concurrency", "1")
    assert len(fake.requests) == r["calls"] == 4  # a fifth would have spent $0.0234
    assert r["cost_usd"] == pytest.approx(4 * per_call) and r["cost_usd"] <= 0.02
    assert "--max-usd" in r["stopped"]
    assert r["unanswered"]["spend_limit"] == 10 - r["overall"]["n"]
    fake.reset()
    code, out = run_eval(topic, "--max-usd", "0.02", "--concurrency", "1")
    assert code == 0 and "STOPPED EARLY: stopped by --max-usd 0.02" in out


def test_a_dry_run_estimates_and_calls_nothing(stack, fake, cards_topic) -> None:
    """As a process: ``python -m consumer eval`` is wired to the command."""
    topic, _ = cards_topic
    done = _eval(stack, fake, topic, "--dry-run", "--retrieval", "similar")
    assert done.returncode == 0, done.stderr
    assert re.search(r"would make 40 calls to anthropic/\S+: about \$\d+\.\d{4}", done.stdout)
    assert fake.requests == []
