"""Composes the pure stages for one record: decode, qualify, generate, validate, build, encode.

No Kafka here. ``Pipeline.start`` returns the record's outcome when it is known at once
(the common case: the writer schema is cached and the generator never waits), or a coroutine
that the runner awaits as a task.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable

from consumer.errors import BadRecord, RegistryUnavailable
from consumer.events import ContrastPair, ScoreEvent, SourceRef, WrongEvaluation
from consumer.generate import ContrastGenerator, ImmediateGenerator
from consumer.judge.check import PairCheck, disputed_record
from consumer.outcomes import (
    Disputed,
    Outcome,
    Pending,
    Produced,
    Skipped,
    dead_letter,
)
from consumer.places import FairPlaces
from consumer.redact import card_text, safe_event, unsafe
from consumer.selection import Selector, Unselected, Wait
from consumer.stages.cards import CALIBRATION, CardPolicy, build_cards
from consumer.stages.qualify import Criteria, Skip, qualify
from consumer.stages.validate import ensure_contrast
from consumer.wire.codec import CardEncoder, EventDecoder, read_header

log = logging.getLogger(__name__)


_Held = tuple[
    SourceRef, "asyncio.Task[None] | None", "asyncio.Future[Outcome | asyncio.Task[Outcome]]"
]


class Pipeline:
    """One record in, one outcome out."""

    def __init__(
        self,
        *,
        decoder: EventDecoder,
        criteria: Criteria,
        generator: ContrastGenerator,
        encoder: CardEncoder,
        policy: CardPolicy,
        min_contrast: float,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        check: PairCheck | None = None,
        on_redacted: Callable[[dict[str, int], int, int], None] | None = None,
        selector: Selector | None = None,
        on_selected: Callable[[ScoreEvent], None] | None = None,
    ) -> None:
        """
        :param decoder: wire bytes to events, with the writer schemas it has fetched
        :param criteria: which events qualify (the scale, the delta, sampling, text limits)
        :param generator: makes the wrong evaluation of a qualifying event
        :param encoder: cards to wire bytes, under the output schema's id
        :param policy: what a card carries and its bounds
        :param min_contrast: how far the wrong Φ_after must be from the right one
        :param clock_ms: the cards' creation time and the selection's clock (tests set it)
        :param check: the judge's stage, when a judge is on: every valid pair is judged
            before its cards are made (so even an immediate generator's pairs become tasks)
        :param on_redacted: called with (counts by kind, characters removed, characters read)
            for each event whose texts redaction changed (the metrics)
        :param selector: which qualifying events become pairs; None: all of them
        :param on_selected: called for each event the selector selects (the metrics)
        """
        self._decoder = decoder
        self._check = check
        self._criteria = criteria
        self._generator = generator
        self._immediate = generator if isinstance(generator, ImmediateGenerator) else None
        self._encoder = encoder
        self._policy = policy
        self._min_contrast = min_contrast
        self._clock_ms = clock_ms
        self._on_redacted = on_redacted
        self._loads: dict[int, asyncio.Task[None]] = {}  # writer schemas being fetched
        # Records read while a fetch was pending, in read order, with their own fetch.
        self._held: deque[_Held] = deque()
        self._places = FairPlaces()
        # Which qualifying events become pairs (None: all of them, no budget is set).
        self._selector = selector
        self._on_selected = on_selected

    def start(self, ref: SourceRef) -> Outcome | Pending:
        try:
            schema_id = read_header(ref.value)
            if not self._decoder.knows(schema_id):
                self._begin_load(schema_id)
            if self._loads or self._held:
                # Records keep their order across a writer-schema fetch: one read behind a
                # record that waits for its schema waits too, and their generation starts
                # when the fetches end, in read order (see _loaded). Otherwise later records
                # take the generator's capacity (the LLM's slots) first and the committed
                # offset stands still until they are all done.
                started: asyncio.Future[Outcome | asyncio.Task[Outcome]]
                started = asyncio.get_running_loop().create_future()
                self._held.append((ref, self._loads.get(schema_id), started))
                return self._after_loads(started)
            return self._decoded(ref)
        except BadRecord as exc:
            return dead_letter(exc)

    def _decoded(self, ref: SourceRef) -> Outcome | Pending:
        assert ref.value is not None  # read_header checked it
        event = self._decoder.decode(ref.value)
        verdict = qualify(event, self._criteria)
        if isinstance(verdict, Skip):
            return Skipped(verdict)
        # Trace text is untrusted: made safe before any generator (or LLM) sees it. Made
        # safe before selection too, so an event skipped as unsafe spends no budget.
        safe = safe_event(verdict)
        if safe.counts and self._on_redacted is not None:
            self._on_redacted(safe.counts, safe.removed, safe.total)
        if safe.event is None:
            log.info("event %s skipped: %s", verdict.event_id, safe.problem)
            return Skipped(Skip.UNSAFE_CONTENT)
        verdict = safe.event
        if self._selector is not None:
            choice = self._selector.decide(
                verdict, (ref.topic, ref.partition), ref.offset, self._clock_ms()
            )
            if isinstance(choice, Unselected):
                return Skipped(choice)
            if isinstance(choice, Wait):
                return self._after_wait(verdict, ref, choice)
            if self._on_selected is not None:
                self._on_selected(verdict)
        if self._immediate is not None and self._check is None:
            return self._finish(verdict, self._immediate.generate_now(verdict))
        return self._generate(verdict, ref.topic, ref.partition)

    async def _after_wait(self, event: ScoreEvent, ref: SourceRef, wait: Wait) -> Outcome:
        # The budget's wait mode: the hour is spent; ask again when the next one starts.
        # The partition's queue fills behind this record and pauses, as with the spend cap.
        assert self._selector is not None
        while True:
            await asyncio.sleep(max(0.0, (wait.until_ms - self._clock_ms()) / 1000))
            tp = (ref.topic, ref.partition)
            choice = self._selector.decide(event, tp, ref.offset, self._clock_ms())
            if isinstance(choice, Unselected):
                return Skipped(choice)
            if choice is None:
                break
            wait = choice
        if self._on_selected is not None:
            self._on_selected(event)
        if self._immediate is not None and self._check is None:
            return self._finish(event, self._immediate.generate_now(event))
        return await self._generate(event, ref.topic, ref.partition)

    def _begin_load(self, schema_id: int) -> None:
        # One fetch per unknown id, however many records wait for it; started here, at
        # once, so that every record read after this one sees it pending.
        if schema_id in self._loads:
            return
        task = asyncio.get_running_loop().create_task(self._fetch_until_available(schema_id))
        self._loads[schema_id] = task
        task.add_done_callback(functools.partial(self._loaded, schema_id))

    def _loaded(self, schema_id: int, done: asyncio.Task[None]) -> None:
        if self._loads.get(schema_id) is done:
            del self._loads[schema_id]
        if not done.cancelled():
            # Its DecodeError is each waiting record's, re-raised by own.result() below; when
            # every one of them was cancelled (their partition revoked) nobody asks, and
            # asyncio would report the handled failure as an error when the task is freed.
            done.exception()
        if self._loads:
            return
        # The last fetch ended: every held record starts now, in read order, in this one
        # callback: its generation becomes a task here, so it is scheduled ahead of any
        # record read from now on. (Letting each record's own task resume instead would
        # leave the order to the event loop: a task not yet at its first await overtakes
        # the ones woken here.)
        loop = asyncio.get_running_loop()
        while self._held:
            ref, own, started = self._held.popleft()
            if started.done():
                continue  # its record was cancelled (its partition revoked)
            try:
                if own is not None:
                    own.result()  # this record's own writer schema: its DecodeError, if any
                outcome = self._decoded(ref)
            except BadRecord as exc:
                outcome = dead_letter(exc)
            except Exception as exc:  # a bug: the runner's guard logs and dead-letters it
                started.set_exception(exc)
                continue
            started.set_result(
                loop.create_task(outcome) if asyncio.iscoroutine(outcome) else outcome
            )

    @staticmethod
    async def _after_loads(started: asyncio.Future[Outcome | asyncio.Task[Outcome]]) -> Outcome:
        # Cancelled (its partition revoked) while generating: awaiting the task cancels it.
        # Cancelled just after it started, before this resumed: cancel it here.
        try:
            got = await started
        except asyncio.CancelledError:
            if started.done() and not started.cancelled() and started.exception() is None:
                late = started.result()
                if isinstance(late, asyncio.Task):
                    late.cancel()
            raise
        return await got if isinstance(got, asyncio.Task) else got

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

    async def _generate(self, event: ScoreEvent, topic: str, partition: int) -> Outcome:
        # The place is taken when generation starts, not when the record is read: a task
        # cancelled before its first step never runs this, and would hold the line's front
        # for ever. Generation starts in read order all the same: each record's task is
        # created as it is read, or, behind a schema fetch, in read order in _loaded.
        place = self._places.take(topic, partition)
        try:
            wrong = await self._generator.generate(event, place)
            if self._check is None:
                return self._finish(event, wrong)
            return await self._judged(event, wrong, place)
        except BadRecord as exc:
            return dead_letter(exc)
        finally:
            self._places.done(place)

    async def _judged(self, event: ScoreEvent, wrong: WrongEvaluation, place: float) -> Outcome:
        # Only a valid pair is worth the judge's two calls.
        ensure_contrast(event, wrong, self._criteria.scale, self._min_contrast)
        assert self._check is not None
        verdict = await self._check.check(event, wrong, place)
        if not verdict.published:
            generator = self._generator.name
            key = event.trace_id.encode("utf-8", "surrogatepass")
            record = disputed_record(event, wrong, generator, verdict)
            return Disputed(key, record, wrong.mistake_type.value, generator)
        return self._finish(event, wrong, verdict.difficulty, verdict.judge)

    def _finish(
        self,
        event: ScoreEvent,
        wrong: WrongEvaluation,
        difficulty: float | None = None,
        judge: str | None = None,
    ) -> Outcome:
        try:
            ensure_contrast(event, wrong, self._criteria.scale, self._min_contrast)
        except BadRecord as exc:
            return dead_letter(exc)
        generator = self._generator.name
        pair = ContrastPair(
            event, wrong, generator, self._generator.prompt_version, difficulty, judge
        )
        correct, failure = build_cards(pair, self._policy, self._clock_ms())
        # The cards as MemoryCI's scan reads them: a pair it would reject is never published.
        # (Generated text was checked where it was generated: the LLM generator asks once
        # more for an answer that carries what redaction removes.)
        for card in (correct, failure):
            if unsafe(card_text(card), card.kind == CALIBRATION):
                return Skipped(Skip.UNSAFE_CONTENT)
        key = event.trace_id.encode("utf-8", "surrogatepass")
        cards = (self._encoder.encode(correct), self._encoder.encode(failure))
        return Produced(key, cards, wrong.mistake_type.value, generator)
