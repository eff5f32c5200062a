"""The judge: checks each candidate pair by asking a model which evaluation is right.

``prompt`` (pure) is what it sends and how it reads the answer; ``verdict`` (pure) turns the
two orderings' answers into a verdict; ``anthropic`` makes the calls; ``curriculum`` (pure)
moves each mistake type's subtlety level from the verdicts.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from consumer.events import ScoreEvent, WrongEvaluation
from consumer.judge.verdict import Verdict

__all__ = ["Judge", "Verdict"]


@runtime_checkable
class Judge(Protocol):
    """Says which of a pair's two evaluations is right, in both orders.

    ``judge`` waits out outages like the generator; past its time budget, or when the
    model gives no usable answer, the verdict is ``unjudged`` (never a made-up one). It
    raises ``AuthFailure`` when the credentials are refused.
    """

    @property
    def name(self) -> str:
        """As written to the cards' ``judge`` field: ``anthropic/<model>``."""
        ...

    async def judge(
        self, event: ScoreEvent, wrong: WrongEvaluation, place: float | None = None
    ) -> Verdict: ...

    async def aclose(self) -> None: ...
