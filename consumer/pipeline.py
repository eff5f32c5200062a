"""Composes the pure stages for one record: decode, qualify, generate, validate, build, encode.

No Kafka here. ``Pipeline.start`` returns the record's outcome when it is known at once
(the common case: the writer schema is cached and the generator never waits), or a coroutine
that the runner awaits as a task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from consumer.cards import CardPolicy, build_cards
from consumer.codec import CardEncoder, EventDecoder, read_header
from consumer.errors import BadRecord, RegistryUnavailable
from consumer.events import ContrastPair, ScoreEvent, SourceRef, WrongEvaluation
from consumer.generate import ContrastGenerator, ImmediateGenerator
from consumer.qualify import Criteria, Skip, qualify
from consumer.validate import ensure_contrast

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Produced:
    """Two encoded cards for one pair, keyed by the source trace id."""

    key: bytes
    cards: tuple[bytes, bytes]
    mistake_type: str
    generator: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Skipped:
    why: Skip


Outcome = Produced | DeadLetter | Skipped
Pending = Coroutine[Any, Any, Outcome]


def dead_letter(exc: BadRecord) -> DeadLetter:
    return DeadLetter(stage=exc.stage, reason=exc.reason, message=exc.message)


class Pipeline:
    """One record in, one outcome out."""

    def __init__(
        self,
        decoder: EventDecoder,
        criteria: Criteria,
        generator: ContrastGenerator,
        encoder: CardEncoder,
        policy: CardPolicy,
        min_contrast: float,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._decoder = decoder
        self._criteria = criteria
        self._generator = generator
        self._immediate = generator if isinstance(generator, ImmediateGenerator) else None
        self._encoder = encoder
        self._policy = policy
        self._min_contrast = min_contrast
        self._clock_ms = clock_ms
        self._loads: dict[int, asyncio.Task[None]] = {}  # writer schemas being fetched

    def start(self, ref: SourceRef) -> Outcome | Pending:
        try:
            schema_id = read_header(ref.value)
            if not self._decoder.knows(schema_id):
                self._begin_load(schema_id)
            if self._loads:
                # Records keep their order across a writer-schema fetch: one behind a record
                # that waits for its schema waits too. Otherwise later records take the
                # generator's capacity (the LLM's slots) first and the committed offset
                # stands still until they are all done (seen at start-up on a backlog).
                own = self._loads.get(schema_id)
                return self._after_loads(ref, own, list(self._loads.values()))
            return self._decoded(ref)
        except BadRecord as exc:
            return dead_letter(exc)

    def _decoded(self, ref: SourceRef) -> Outcome | Pending:
        assert ref.value is not None  # read_header checked it
        event = self._decoder.decode(ref.value)
        verdict = qualify(event, self._criteria)
        if isinstance(verdict, Skip):
            return Skipped(verdict)
        if self._immediate is not None:
            return self._finish(verdict, self._immediate.generate_now(verdict))
        return self._generate(verdict)

    def _begin_load(self, schema_id: int) -> None:
        # One fetch per unknown id, however many records wait for it; started here, at
        # once, so that every record read after this one sees it pending.
        if schema_id in self._loads:
            return
        task = asyncio.get_running_loop().create_task(self._fetch_until_available(schema_id))
        self._loads[schema_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._loads.get(schema_id) is done:
                del self._loads[schema_id]

        task.add_done_callback(forget)

    async def _after_loads(
        self, ref: SourceRef, own: asyncio.Task[None] | None, earlier: list[asyncio.Task[None]]
    ) -> Outcome:
        # asyncio.wait neither raises another record's error nor cancels the fetches when
        # this record is cancelled (its partition revoked); waiters wake in arrival order.
        await asyncio.wait(earlier)
        try:
            if own is not None:
                own.result()  # this record's own writer schema: its DecodeError, if any
            outcome = self._decoded(ref)
            return outcome if not asyncio.iscoroutine(outcome) else await outcome
        except BadRecord as exc:
            return dead_letter(exc)

    async def _fetch_until_available(self, schema_id: int) -> None:
        # A registry outage is not bad input: wait for it, with capped exponential backoff.
        # The partition's queue fills behind this record and pauses; nothing is lost.
        delay = 0.5
        while True:
            try:
                await asyncio.to_thread(self._decoder.load, schema_id)
                return
            except RegistryUnavailable as exc:
                log.warning(
                    "registry unavailable, waiting to decode schema id %d: %s (retry in %.1fs)",
                    schema_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _generate(self, event: ScoreEvent) -> Outcome:
        try:
            wrong = await self._generator.generate(event)
            return self._finish(event, wrong)
        except BadRecord as exc:
            return dead_letter(exc)

    def _finish(self, event: ScoreEvent, wrong: WrongEvaluation) -> Outcome:
        try:
            ensure_contrast(event, wrong, self._criteria.scale, self._min_contrast)
        except BadRecord as exc:
            return dead_letter(exc)
        pair = ContrastPair(event=event, wrong=wrong, generator=self._generator.name)
        correct, failure = build_cards(pair, self._policy, self._clock_ms())
        return Produced(
            key=event.trace_id.encode("utf-8", "surrogatepass"),
            cards=(self._encoder.encode(correct), self._encoder.encode(failure)),
            mistake_type=wrong.mistake_type.value,
            generator=self._generator.name,
        )
