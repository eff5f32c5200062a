"""Contrast generators behind one Protocol; the runner never knows which one it has."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from consumer.events import ScoreEvent, WrongEvaluation


@runtime_checkable
class ContrastGenerator(Protocol):
    """Proposes one plausible but wrong evaluation of a step.

    ``generate`` may wait (an LLM call, with its own retries); it raises
    ``GenerationFailed`` when the event can never get a valid contrast, ``Retryable`` never
    escapes it (it waits instead), and ``AuthFailure`` when the credentials are refused. Its
    answer is validated again by the pipeline, whatever the generator checked itself.
    """

    @property
    def name(self) -> str:
        """Backend and model, as written to the cards' ``generator`` field."""
        ...

    @property
    def prompt_version(self) -> str:
        """The version of its prompt or rules, as written to the cards' ``prompt_version``."""
        ...

    async def generate(self, event: ScoreEvent, place: float | None = None) -> WrongEvaluation:
        """``place``: where the event stands in line for the generator's capacity (an LLM's
        concurrency), lowest first, kept through its retries. The pipeline gives them (see
        ``FairPlaces``); without one, the event stands where it first asked."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ImmediateGenerator(ContrastGenerator, Protocol):
    """A generator that never waits; the runner calls it inline, without a task per event."""

    def generate_now(self, event: ScoreEvent) -> WrongEvaluation: ...
