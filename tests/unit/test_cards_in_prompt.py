"""The cards as MemoryCI's PromptCompiler picks them for a critic's prompt.

Its store ranks cards by a trigram embedding that hashes with Python's ``hash``, which is
salted per process: which 30 cards it over-fetches changes with ``PYTHONHASHSEED``. The
compiler then keeps one card per first 50 characters of ``pattern``. A prompt has to show
many situations whatever the salt, so each salt runs in its own interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit.stack import ROOT

_DISTINCT_PAIRS = """
from consumer.commands.memoryci import compiled_prompt, submit_all
from consumer.events import ContrastPair
from consumer.generate.rules import PROMPT_VERSION, RulesGenerator
from consumer.redact import safe_event
from consumer.stages.cards import CardPolicy, build_cards
from consumer.stages.qualify import Scale
from purpose_agent.memory import MemoryStore
from testkit.streams import realistic_events, score_event
from tests.unit.factories import card_record

gen = RulesGenerator(scale=Scale(0, 10), min_contrast=1.0)
cards = []
for record in realistic_events(120, seed=5):
    e = safe_event(score_event(record)).event
    pair = ContrastPair(e, gen.generate_now(e), gen.name, PROMPT_VERSION)
    cards += [card_record(c) for c in build_cards(pair, CardPolicy(0.7, 16_000), 0)]
store = MemoryStore()
submit_all(store, cards)
pair_of = {c["card_id"]: c["pair_id"] for c in cards}
prompt = compiled_prompt(store, task="score this step of an agent's work")
print(len({pair_of[i] for i in prompt.included_memory_ids}))
"""


@pytest.mark.parametrize("salt", ["0", "3", "8", "17"])
def test_a_compiled_prompt_shows_many_situations_whatever_the_hash_salt(salt: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": salt}
    run = subprocess.run(
        [sys.executable, "-c", _DISTINCT_PAIRS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # 15 is the compiler's most; one situation per first 50 characters of pattern
    assert int(run.stdout) >= 12, run.stdout
