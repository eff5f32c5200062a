"""Which memory cards a critic sees for a test pair: as MemoryCI would show them, or the k
most similar. Both choose from the admissible memory only (``dataset.admissible``).

``memoryci`` puts the memory through purpose-agent's own ``MemoryCI`` (immune scan, then
promotion of what passed) and ``PromptCompiler`` (its retrieval, one card per distinct
start of ``pattern``, a token budget, its one-line format): exactly the text a critic behind
MemoryCI reads. ``similar`` takes the ``k`` cards of the same purpose first, then the rest,
each ranked by BM25 (``bm25s``) between the test step's action and states and the card's;
measured against rapidfuzz's token ratios on synthetic steps, BM25 found more cards of the
same kind of step (precision at 4: 0.25 against at most 0.21) in a thirtieth of the time.
It shows its cards in MemoryCI's format, so the two modes differ only in the choosing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import bm25s  # type: ignore[import-untyped]
from purpose_agent.compiler import PromptCompiler  # type: ignore[import-untyped]
from purpose_agent.memory import (  # type: ignore[import-untyped]
    MemoryCard,
    MemoryKind,
    MemoryStatus,
    MemoryStore,
)
from purpose_agent.memory_ci import MemoryCI  # type: ignore[import-untyped]
from purpose_agent.v2_types import MemoryScope  # type: ignore[import-untyped]

from consumer.eval.dataset import CALIBRATION, Card, Pair

__all__ = ["MEMORY_TOKENS", "MemoryCIRetriever", "Retriever", "Shown", "SimilarRetriever"]

Mode = Literal["memoryci", "similar"]

# Both log every card they index or scan (INFO, DEBUG): thousands of lines per run.
for _name in ("bm25s", "purpose_agent"):
    logging.getLogger(_name).setLevel(logging.WARNING)

#: The memory's share of a critic's prompt under MemoryCI (its homeostasis keeps about 500).
MEMORY_TOKENS = 500
_CRITIC = MemoryScope(agent_roles=["critic"])


@dataclass(frozen=True, slots=True)
class Shown:
    """What the critic is shown for one test pair: the cards, and the text that carries them."""

    card_ids: tuple[str, ...]
    text: str


NOTHING = Shown((), "")


class Retriever(Protocol):
    def shown(self, test: Pair) -> Shown: ...


def line(card: Card) -> str:
    """A card as PromptCompiler writes it into a prompt (for the two kinds we make)."""
    if card.kind == CALIBRATION:
        return f"- Scoring note: {card.content or card.strategy}"
    return f"- Avoid: {card.pattern} — {card.strategy}"


def query_text(test: Pair) -> str:
    s = test.situation
    return " ".join(t for t in (s.action_name, s.state_before, s.state_after) if t)


def _card_text(card: Card) -> str:
    parts = (card.action_name, card.state_before, card.state_after)
    if any(parts):
        return " ".join(p for p in parts if p)
    return f"{card.pattern} {card.content}"  # version 1: the action is in the content


class SimilarRetriever:
    """The ``k`` most relevant cards: same purpose first, then BM25 on action and states."""

    def __init__(self, *, memory: Sequence[Card], k: int = 4) -> None:
        """
        :param memory: the cards to choose from (the training pairs' cards)
        :param k: how many cards each test pair is shown
        """
        self._cards = list(memory)
        self._k = k
        self._bm25: bm25s.BM25 | None = None
        if self._cards:
            self._bm25 = bm25s.BM25()
            corpus = [_card_text(c) for c in self._cards]
            self._bm25.index(
                bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
            )

    def shown(self, test: Pair) -> Shown:
        if self._bm25 is None or self._k <= 0:
            return NOTHING
        words = bm25s.tokenize(
            [query_text(test)], stopwords="en", return_ids=False, show_progress=False
        )[0]
        scores = self._bm25.get_scores(words) if words else [0.0] * len(self._cards)
        ranked = sorted(
            (
                (c.purpose != test.purpose, -float(scores[i]), c.card_id, c)
                for i, c in enumerate(self._cards)
            ),
            key=lambda t: t[:3],
        )
        chosen = [c for *_, c in ranked[: self._k]]
        if not chosen:
            return NOTHING
        return Shown(tuple(c.card_id for c in chosen), "\n".join(line(c) for c in chosen))


class MemoryCIRetriever:
    """The memory through purpose-agent's MemoryCI and PromptCompiler.

    Every memory card is submitted (immune scan) and what passes is promoted, as
    ``selftaught memoryci sync`` and a reviewer would; the compiler then chooses per test pair
    from the promoted cards, with the test step as its task.
    """

    def __init__(self, *, memory: Sequence[Card], token_budget: int = MEMORY_TOKENS) -> None:
        """
        :param memory: the cards submitted to MemoryCI (the training pairs' cards)
        :param token_budget: what the compiler may spend on memory in one prompt
        """
        self._store = MemoryStore()
        self._ci = MemoryCI(self._store)
        self.rejected = 0
        for card in {c.card_id: c for c in memory}.values():
            submitted = self._ci.submit(_to_purpose_agent(card))
            if submitted.status == MemoryStatus.QUARANTINED:
                self._ci.promote(submitted.id)
            else:
                self.rejected += 1
        self._compiler = PromptCompiler(self._store, token_budget=token_budget)

    def shown(self, test: Pair) -> Shown:
        compiled = self._compiler.compile(task=query_text(test), base_prompt="", scope=_CRITIC)
        ids = tuple(str(i) for i in compiled.included_memory_ids)
        if not ids:
            return NOTHING
        return Shown(ids, "\n".join(s for s in compiled.system_sections if s))


def _to_purpose_agent(card: Card) -> MemoryCard:
    return MemoryCard(
        id=card.card_id,
        kind=MemoryKind(card.kind),
        scope=MemoryScope(agent_roles=list(card.agent_roles)),
        content=card.content,
        pattern=card.pattern,
        strategy=card.strategy,
        trust_score=card.trust_score,
        source_trace_id=card.source_trace_id,
        created_at=card.created_at_ms / 1000,
        created_by="self_taught",
    )


def retriever(mode: Mode, memory: Sequence[Card], *, k: int) -> Retriever:
    """The retriever for ``mode`` over the (admissible) memory cards."""
    if mode == "memoryci":
        return MemoryCIRetriever(memory=memory)
    return SimilarRetriever(memory=memory, k=k)
