"""Figures for the cards as MemoryCI reads them (bench/README.md, "Cards for MemoryCI").

On the realistic stream of testkit/streams.py (six kinds of agents, states carrying e-mail
addresses, home paths, key-like tokens, code and instruction-like text), through the pure
stages in this process (no Kafka: what is measured is the cards and the redaction):

- the share of pairs whose two cards pass purpose-agent's immune scan,
- distinct pairs per prompt compiled by its PromptCompiler (over 40 prompts, each over a
  fresh store of 60 promoted pairs drawn from the stream),
- tokens per card by the compiler's estimate (its line's length over 4), mean and max,
- the redaction's CPU per event, and detect-secrets' on the same texts (when installed) with
  what each catches of the planted secrets.

Run: ``.venv/bin/python -m bench.cards [N]``.
"""

from __future__ import annotations

import random
import sys
import time
from statistics import mean
from typing import Any

from consumer.events import ContrastPair, ScoreEvent
from consumer.generate.rules import PROMPT_VERSION, RulesGenerator
from consumer.redact import safe_event
from consumer.stages.cards import CardPolicy, build_cards
from consumer.stages.qualify import Scale
from testkit.streams import PLANTED, realistic_events, score_event


def _record(card: Any) -> dict[str, Any]:
    return {**card._asdict(), "scope": None if card.scope is None else {"agent_roles": ["critic"]}}


def main(n: int = 1500) -> None:
    from purpose_agent.compiler import PromptCompiler
    from purpose_agent.immune import scan_memory
    from purpose_agent.memory import MemoryStore

    from consumer.commands.memoryci import compiled_prompt, submit_all, to_memoryci

    events = [score_event(r) for r in realistic_events(n, seed=11)]
    gen, policy = RulesGenerator(scale=Scale(0, 10), min_contrast=1.0), CardPolicy(0.7, 16_000)

    t0 = time.process_time()
    safe = [safe_event(e) for e in events]
    redact_cpu = (time.process_time() - t0) / n
    removed = sum(s.removed for s in safe if s.counts)
    read = sum(s.total for s in safe if s.counts)
    changed = sum(1 for s in safe if s.counts)
    skipped = sum(1 for s in safe if s.event is None)

    pairs, passed = [], 0
    for s in safe:
        if s.event is None:
            continue
        cards = build_cards(
            ContrastPair(s.event, gen.generate_now(s.event), gen.name, PROMPT_VERSION), policy, 0
        )
        ok = all(scan_memory(to_memoryci(_record(c))).passed for c in cards)
        passed += ok
        pairs.append(cards)
    compiler = PromptCompiler(MemoryStore())
    tokens = [len(compiler._format_memory(to_memoryci(_record(c)))) // 4 for p in pairs for c in p]
    leaked = sum(
        1
        for p in pairs
        for c in p
        for x in PLANTED
        if x in f"{c.content} {c.pattern} {c.strategy} {c.why_wrong}"
    )

    rng = random.Random(3)
    per_prompt = []
    for _ in range(40):
        store = MemoryStore()
        chosen = rng.sample(pairs, 60)
        submit_all(store, [_record(c) for p in chosen for c in p])
        by_id = {c.card_id: c.pair_id for p in chosen for c in p}
        prompt = compiled_prompt(store, task="score one step of an agent's work")
        per_prompt.append(len({by_id[i] for i in prompt.included_memory_ids}))

    print(
        f"events {n}; changed by redaction {changed} ({changed / n:.0%}); "
        f"skipped unsafe_content {skipped}"
    )
    print(
        f"pairs passing MemoryCI's immune scan: {passed}/{len(pairs)} "
        f"({passed / max(len(pairs), 1):.1%}); planted strings in cards: {leaked}"
    )
    print(f"text kept in the events redaction changed: {1 - removed / max(read, 1):.1%}")
    print(
        f"distinct pairs per compiled prompt (40 prompts): mean {mean(per_prompt):.1f}, "
        f"min {min(per_prompt)}, max {max(per_prompt)}"
    )
    print(f"tokens per card line: mean {mean(tokens):.0f}, max {max(tokens)}")
    print(f"redaction CPU per event: {redact_cpu * 1e6:.0f} µs")
    _detect_secrets(events)


def _detect_secrets(events: list[ScoreEvent]) -> None:
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        print("detect-secrets not installed: pip install detect-secrets to compare")
        return
    with default_settings():
        t0 = time.process_time()
        caught: set[str] = set()
        for e in events:
            s = e.score
            for text in (e.purpose, s.state_before, s.action_name, s.state_after, s.reasoning):
                for found in scan_line(text):
                    caught.add(found.secret_value or "")
        cpu = (time.process_time() - t0) / len(events)
    hits = [x for x in PLANTED if any(x in c or (len(c) >= 8 and c in x) for c in caught)]
    print(
        f"detect-secrets: {cpu * 1e6:.0f} µs per event; of the {len(PLANTED)} planted "
        f"strings it flags {len(hits)}: {', '.join(hits)}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)
