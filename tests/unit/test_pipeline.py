import asyncio
import gc
import json
import math
import random

from consumer.events import ScoreEvent, SourceRef, WrongEvaluation
from consumer.generate.rules import RulesGenerator
from consumer.outcomes import DeadLetter, Produced, Skipped
from consumer.pipeline import Pipeline
from consumer.places import FairPlaces
from consumer.stages.qualify import Scale, Skip
from consumer.wire import schemas
from consumer.wire.codec import decode_card
from tests.unit.factories import avro, event_record, pipeline

TRACE = json.loads(schemas.text(schemas.TRACE_EVENT))


class Recording:
    """A generator that waits (like an LLM) and records the order it was asked in."""

    name = "rules/1"
    prompt_version = "rules-v2"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.places: dict[str, float | None] = {}
        self._rules = RulesGenerator(scale=Scale(0, 10), min_contrast=1.0)

    async def generate(self, event: ScoreEvent, place: float | None = None) -> WrongEvaluation:
        self.asked.append(event.event_id)
        self.places[event.event_id] = place
        await asyncio.sleep(0)
        return self._rules.generate_now(event)

    async def aclose(self) -> None:
        return None


def ref(value: bytes | None) -> SourceRef:
    return SourceRef("in", 0, 5, b"k", value, (), 1)


def outcome(p: Pipeline, value: bytes | None) -> object:
    return asyncio.run(outcomes(p, [value]))[0]


async def outcomes(p: Pipeline, values: list[bytes | None]) -> list[object]:
    """Start every record in order, each pending one as a task (as the runner does)."""
    started = [p.start(ref(v)) for v in values]
    tasks = [asyncio.ensure_future(r) if asyncio.iscoroutine(r) else r for r in started]
    return [await r if isinstance(r, asyncio.Future) else r for r in tasks]


def test_qualifying_event_becomes_two_encoded_cards() -> None:
    p = pipeline()
    out = outcome(p, avro(TRACE, event_record("e-1", phi_before=2, phi_after=5), 1))
    assert isinstance(out, Produced)
    assert out.key == b"tr-e-1" and out.generator == "rules/1"
    cards = [decode_card(v, lambda _i: schemas.text(schemas.MEMORY_CARD)) for v in out.cards]
    assert [c["kind"] for c in cards] == ["critic_calibration", "failure_pattern"]
    assert cards[1]["mistake_type"] == out.mistake_type


def test_trace_text_reaches_the_cards_redacted_and_an_unsafe_pair_is_skipped() -> None:
    p = pipeline()
    raw = avro(
        TRACE,
        event_record("e-2", phi_before=2, phi_after=5, state_after="mailed bob@example.com: done"),
        1,
    )
    out = outcome(p, raw)
    assert isinstance(out, Produced)
    for v in out.cards:
        card = decode_card(v, lambda _i: schemas.text(schemas.MEMORY_CARD))
        assert "bob@example.com" not in card["content"] and "[redacted:email]" in card["content"]
        assert card["state_after"] == "mailed [redacted:email]: done"
        assert card["prompt_version"] == "rules-v2"
    bare = avro(TRACE, event_record("e-3", phi_before=2, phi_after=5, reasoning="bob@x.io"), 1)
    skipped = outcome(pipeline(), bare)
    assert isinstance(skipped, Skipped) and skipped.why.value == "unsafe_content"


def test_first_record_of_a_schema_waits_for_it_then_the_rest_are_immediate() -> None:
    p = pipeline()
    raw = avro(TRACE, event_record("e-1"), 1)

    async def go() -> None:
        first = p.start(ref(raw))
        assert asyncio.iscoroutine(first)
        await first
        assert isinstance(p.start(ref(raw)), Produced)

    asyncio.run(go())


def test_records_behind_a_schema_fetch_are_generated_in_order() -> None:
    # e-1 needs writer schema 3 fetched; e-2 and e-3 have a cached one. Were they let past,
    # they would take the LLM's slots first and the partition's commit would wait on e-1.
    gen = Recording()
    p = pipeline(gen)
    asyncio.run(outcomes(p, [avro(TRACE, event_record("warm"), 1)]))
    gen.asked.clear()
    values = [
        avro(TRACE, event_record("e-1"), 3),
        avro(TRACE, event_record("e-2"), 1),
        avro(TRACE, event_record("e-3"), 1),
    ]
    results = asyncio.run(outcomes(p, values))
    assert gen.asked == ["e-1", "e-2", "e-3"]
    assert all(isinstance(r, Produced) for r in results)


def test_an_unknown_schema_id_dead_letters_only_its_own_record() -> None:
    p = pipeline()
    values = [
        avro(TRACE, event_record("e-1"), 77),
        avro(TRACE, event_record("e-2"), 1),
    ]
    bad, good = asyncio.run(outcomes(p, values))
    assert isinstance(bad, DeadLetter) and bad.reason == "unknown_schema_id"
    assert isinstance(good, Produced)


def test_outcomes_for_every_kind_of_record() -> None:
    p = pipeline()
    outcome(p, avro(TRACE, event_record("warm"), 1))
    assert outcome(p, avro(TRACE, event_record("a", kind="action"), 1)) == Skipped(Skip.NOT_SCORE)
    assert outcome(p, avro(TRACE, event_record("b", phi_after=2.2), 1)) == Skipped(Skip.BELOW_DELTA)
    nan = outcome(p, avro(TRACE, event_record("c", phi_after=math.nan), 1))
    assert isinstance(nan, DeadLetter) and (nan.stage, nan.reason) == ("validate", "phi_not_finite")
    junk = outcome(p, b"junk record")
    assert isinstance(junk, DeadLetter) and (junk.stage, junk.reason) == (
        "decode",
        "bad_magic_byte",
    )
    unknown = outcome(p, avro(TRACE, event_record("d"), 77))
    assert isinstance(unknown, DeadLetter) and unknown.reason == "unknown_schema_id"


def test_records_read_while_a_fetch_ends_keep_their_order() -> None:
    # The runner reads in polls of many records, one loop iteration or more apart, and the
    # writer schema's fetch ends between two of them. Records read just before it ended wait
    # for it; those read just after must not overtake them (seen in a benchmark: the first
    # records of a partition then waited behind its later ones for the LLM, and it committed
    # nothing for seconds). When the fetch ends varies with the thread it runs in, so: many
    # fresh pipelines, polls a varying number of iterations apart.
    ids = [f"e-{i}" for i in range(240)]
    values = [avro(TRACE, event_record(i), 1) for i in ids]

    async def trial(pauses: list[int]) -> None:
        gen = Recording()
        p = pipeline(gen)
        tasks = []
        for poll, pause in enumerate(pauses):
            for v in values[poll * 20 : poll * 20 + 20]:
                r = p.start(ref(v))
                tasks.append(asyncio.ensure_future(r) if asyncio.iscoroutine(r) else r)
            for _ in range(pause):
                await asyncio.sleep(0)  # the runner's next poll
        results = [await t if isinstance(t, asyncio.Future) else t for t in tasks]
        assert gen.asked == ids
        assert all(isinstance(r, Produced) for r in results)

    rng = random.Random(7)
    for _ in range(200):
        asyncio.run(trial([rng.choice((1, 1, 2, 3, 5)) for _ in range(12)]))


def test_a_record_cancelled_while_waiting_for_its_schema_is_never_generated() -> None:
    # Its partition was revoked: the new owner redoes it, so no LLM call is spent on it here.
    gen = Recording()
    p = pipeline(gen)

    async def go() -> None:
        held = p.start(ref(avro(TRACE, event_record("gone"), 3)))
        assert asyncio.iscoroutine(held)
        task = asyncio.ensure_future(held)
        await asyncio.sleep(0)
        task.cancel()
        kept = p.start(ref(avro(TRACE, event_record("kept"), 3)))
        assert asyncio.iscoroutine(kept)
        assert isinstance(await kept, Produced)

    asyncio.run(go())
    assert gen.asked == ["kept"]


def test_fair_places_interleave_partitions_and_keep_each_in_read_order() -> None:
    places = FairPlaces()
    backlog = [places.take("in", 0) for _ in range(4)]  # partition 0 read first, in a run
    other = [places.take("in", 1) for _ in range(4)]  # then partition 1's run
    assert backlog == other == [0, 1, 2, 3]  # side by side, not partition 1 behind 0
    for p in (0, 0, 1, 1):
        places.done(p)  # the first two of each
    # A partition that comes later starts at the front of the line, beside the backlogs,
    # not behind them.
    assert places.take("in", 2) == 2
    assert places.take("in", 0) == 4  # a partition's places only grow


def test_a_record_done_far_back_in_line_does_not_move_the_front() -> None:
    # One that fails at once (no contrast possible) finishes long before its turn.
    places = FairPlaces()
    backlog = [places.take("in", 0) for _ in range(100)]
    places.done(backlog[-1])
    assert places.take("in", 1) == 0
    for p in backlog[:-1]:
        places.done(p)
    places.done(0)
    assert places.front() == 99  # everything taken is done: the line is at the last one


def test_the_generator_gets_each_partitions_records_side_by_side() -> None:
    gen = Recording()
    p = pipeline(gen)
    asyncio.run(outcomes(p, [avro(TRACE, event_record("warm"), 1)]))  # schema cached

    async def go() -> None:
        refs = [
            SourceRef("in", part, off, b"k", avro(TRACE, event_record(f"p{part}-{off}"), 1), (), 1)
            for part in (1, 2)  # not 0: the warm-up record took partition 0's first place
            for off in range(3)
        ]
        started = [p.start(r) for r in refs]
        await asyncio.gather(*(r for r in started if asyncio.iscoroutine(r)))

    asyncio.run(go())
    by_place = sorted((place, n) for n, place in gen.places.items() if n != "warm")
    assert [n for _, n in by_place] == ["p1-0", "p2-0", "p1-1", "p2-1", "p1-2", "p2-2"]


def test_a_record_cancelled_before_it_starts_does_not_hold_the_line() -> None:
    # Its partition was revoked in the same loop iteration it was read. Had it taken a place,
    # the line's front would stay there for ever and every newcomer would jump the queue.
    gen = Recording()
    p = pipeline(gen)
    asyncio.run(outcomes(p, [avro(TRACE, event_record("warm"), 1)]))

    def record(part: int, name: str) -> SourceRef:
        return SourceRef("in", part, 0, b"k", avro(TRACE, event_record(name), 1), (), 1)

    async def go() -> None:
        gone = p.start(record(1, "gone"))
        assert asyncio.iscoroutine(gone)
        asyncio.ensure_future(gone).cancel()  # before its first step
        done = [p.start(record(1, f"p1-{i}")) for i in range(5)]
        await asyncio.gather(*(d for d in done if asyncio.iscoroutine(d)))
        late = p.start(record(2, "p2-0"))
        assert asyncio.iscoroutine(late)
        await late

    asyncio.run(go())
    assert "gone" not in gen.places
    assert gen.places["p2-0"] == gen.places["p1-4"]  # at the front: where the line ended


def test_an_unknown_schema_of_a_cancelled_record_logs_no_unretrieved_error() -> None:
    # A broker killed mid-stream revokes the partition of a record waiting for an unknown
    # writer schema: its task is cancelled and nobody asks the fetch for its DecodeError any
    # more. The fetch's failure is handled (the record is the new owner's now), so asyncio
    # must not report "Task exception was never retrieved" at error level when it is freed.
    reported: list[str] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, ctx: reported.append(str(ctx.get("message")))
        )
        p = pipeline(Recording())
        held = p.start(ref(avro(TRACE, event_record("gone"), 77)))
        assert asyncio.iscoroutine(held)
        task = asyncio.ensure_future(held)
        await asyncio.sleep(0)
        task.cancel()
        for _ in range(20):
            await asyncio.sleep(0.01)
        del p, held, task
        gc.collect()

    asyncio.run(go())
    assert reported == []
