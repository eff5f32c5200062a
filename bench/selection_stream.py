"""The selection benchmark's stream, made in memory: situations from templates per purpose,
purposes and templates Zipf-distributed, texts varying in ids, numbers and timestamps."""

from __future__ import annotations

import random
from typing import Any

from consumer.events import ScoreData, ScoreEvent
from consumer.selection import HOUR_MS

__all__ = [
    "HOURS",
    "PURPOSES",
    "T0",
    "TEMPLATES",
    "VOCAB",
    "Template",
    "make_stream",
    "record",
    "zipf_weights",
]

PURPOSES = 30
TEMPLATES = 2000
HOURS = 4
T0 = 492_000 * HOUR_MS

#: Made-up words: a situation's text, varied by the templates' slots.
VOCAB = [
    f"{a}{b}{c}{d}" for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst" for d in "aeiou"
]
_ACTIONS = [
    f"{v}_{o}"
    for v in ("open", "edit", "run", "read", "send", "delete", "search", "fetch")
    for o in ("file", "test", "mail", "page", "record")
]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (k**s) for k in range(1, n + 1)]


class Template:
    """A situation's text with slots, at fixed places, for what varies between occurrences."""

    __slots__ = ("action", "after", "before")

    def __init__(self, rng: random.Random) -> None:
        self.action = rng.choice(_ACTIONS)
        self.before = self._words(rng, rng.randint(10, 22), ("{id}", "{n}", "{ts}", "{user}"))
        self.after = self._words(rng, rng.randint(6, 14), ("{n}", "{ts}"))

    @staticmethod
    def _words(rng: random.Random, n: int, slots: tuple[str, ...]) -> list[str]:
        words = [rng.choice(VOCAB) for _ in range(n)]
        for slot in slots:
            words.insert(rng.randrange(len(words)), slot)
        return words

    def fill(self, rng: random.Random, words: list[str]) -> str:
        values = {
            "{id}": f"id-{rng.getrandbits(40):x}",
            "{n}": str(rng.randint(1, 99999)),
            "{ts}": f"at 2026-12-0{rng.randint(1, 9)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:00Z",
            "{user}": f"user u{rng.randint(1, 5000)}",
        }
        out = [values.get(w, w) for w in words]
        return "  ".join(out) if rng.random() < 0.1 else " ".join(out)


def make_stream(n: int, seed: int = 21) -> list[tuple[ScoreEvent, tuple[int, int]]]:
    rng = random.Random(seed)
    purposes = [
        f"purpose {p}: {' '.join(rng.choice(VOCAB) for _ in range(5))}" for p in range(PURPOSES)
    ]
    templates = [[Template(rng) for _ in range(TEMPLATES)] for _ in range(PURPOSES)]
    p_of = rng.choices(range(PURPOSES), weights=zipf_weights(PURPOSES, 1.2), k=n)
    t_weights = zipf_weights(TEMPLATES, 1.1)
    times = sorted(rng.randrange(HOURS * HOUR_MS) for _ in range(n))
    out = []
    for i in range(n):
        p = p_of[i]
        t = rng.choices(range(TEMPLATES), weights=t_weights)[0]
        tpl = templates[p][t]
        before = rng.uniform(0, 6)
        delta = rng.choice((0.5, 1.0, 1.5, 2.0, 3.0, 5.0))
        score = ScoreData(
            tpl.fill(rng, tpl.before),
            tpl.action,
            tpl.fill(rng, tpl.after),
            before,
            before + delta,
            "why",
        )
        out.append(
            (
                ScoreEvent(
                    f"ev-{i}",
                    f"tr-{i}",
                    purposes[p],
                    1,
                    T0 + times[i],
                    f"agent-{rng.randint(0, 99)}",
                    score,
                ),
                (p, t),
            )
        )
    return out


def record(e: ScoreEvent, ts: int) -> dict[str, Any]:
    """The event as a trace record for the real service (its own timestamp)."""
    s = e.score
    return {
        "event_id": e.event_id,
        "trace_id": e.trace_id,
        "kind": "score",
        "purpose": e.purpose,
        "step": 1,
        "timestamp_ms": ts,
        "agent_id": e.agent_id,
        "score": {
            "state_before": s.state_before,
            "action_name": s.action_name,
            "state_after": s.state_after,
            "phi_before": s.phi_before,
            "phi_after": s.phi_after,
            "reasoning": "the step helps",
        },
    }
