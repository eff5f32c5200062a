"""The difficulty curriculum, driven by the rules generator and a scripted judge whose
accuracy falls as the contrast shrinks."""

from __future__ import annotations

import random

from consumer.events import CURRICULUM, MistakeType
from consumer.generate.rules import RulesGenerator
from consumer.generate.subtlety import LEVELS
from consumer.judge.curriculum import DifficultyCurriculum, decode
from consumer.stages.qualify import Scale
from tests.unit.factories import score_event

SCALE = Scale(0, 10)
BAND = (0.15, 0.35)
MIN_CONTRAST = 1.0


def p_wrong(contrast: float) -> float:
    """The scripted judge's chance of choosing the wrong evaluation in one order: 45% at the
    minimum contrast, falling to none at a contrast of 5 and more."""
    return max(0.0, 0.45 * (1 - (contrast - MIN_CONTRAST) / 4))


def stream(n: int, seed: int = 1, offset: int = 0) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        before = rng.choice([x / 2 for x in range(21)])
        after = rng.choice([x / 2 for x in range(21) if abs(x / 2 - before) >= 0.5])
        out.append((f"ev-{offset + i}", before, after))
    return out


def run(
    cur: DifficultyCurriculum, events: list[tuple[str, float, float]], seed: int = 2
) -> list[float]:
    """Each event through the generator at the curriculum's levels, judged in two orders;
    the difficulties, in order."""
    gen = RulesGenerator(scale=SCALE, min_contrast=MIN_CONTRAST, levels=cur.level)
    rng = random.Random(seed)
    got = []
    for i, (event_id, before, after) in enumerate(events):
        e = score_event(event_id, phi_before=before, phi_after=after)
        wrong = gen.generate_now(e)
        p = p_wrong(abs(wrong.phi_after - after))
        difficulty = sum(rng.random() < p for _ in range(2)) / 2
        cur.record(wrong.mistake_type, difficulty, now_ms=1 + i)
        got.append(difficulty)
    return got


def block_means(ds: list[float], size: int = 200) -> list[float]:
    return [sum(ds[i : i + size]) / size for i in range(0, len(ds) - size + 1, size)]


def test_mean_difficulty_reaches_the_band_and_stays_there_over_2000_events() -> None:
    cur = DifficultyCurriculum(band=BAND)
    ds = run(cur, stream(2000))
    means = block_means(ds)
    assert means[0] < BAND[0]  # level 0 is too easy for this judge: the curriculum must move
    reached = next(i for i, m in enumerate(means) if BAND[0] <= m <= BAND[1])
    assert reached <= 4, means  # within the first 1,000 events
    assert all(BAND[0] <= m <= BAND[1] for m in means[reached:]), means
    assert all(0 < cur.level(m) <= LEVELS - 1 for m in CURRICULUM), cur.levels()


def test_levels_are_bounded_however_easy_or_hard_the_judge() -> None:
    easy = DifficultyCurriculum(band=BAND, window=10)
    hard = DifficultyCurriculum(band=BAND, window=10)
    for i in range(1000):
        mistake = CURRICULUM[i % len(CURRICULUM)]
        easy.record(mistake, 0.0, now_ms=i + 1)
        hard.record(mistake, 1.0, now_ms=i + 1)
    assert set(easy.levels().values()) == {LEVELS - 1}
    assert set(hard.levels().values()) == {0}
    assert easy.level(MistakeType.OTHER) == 0


def test_a_restart_mid_stream_resumes_at_the_levels_reached() -> None:
    events = stream(2000)
    cur = DifficultyCurriculum(band=BAND)
    run(cur, events[:1000])
    reached = cur.levels()
    assert any(reached.values())
    committed = cur.encode()  # as the offsets' metadata carries it
    assert len(committed.encode()) < 4096

    restarted = DifficultyCurriculum(band=BAND)
    assert restarted.adopt_newest([None, "", "someone else's note", committed])
    assert restarted.levels() == reached
    ds = run(restarted, events[1000:], seed=3)
    assert all(BAND[0] <= m <= BAND[1] for m in block_means(ds)), block_means(ds)


def test_the_newest_snapshot_wins_and_an_older_one_is_ignored() -> None:
    a = DifficultyCurriculum(band=BAND, window=1)
    a.record(MistakeType.SYCOPHANCY, 0.0, now_ms=100)
    b = DifficultyCurriculum(band=BAND, window=1)
    for t in (200, 300):
        b.record(MistakeType.SYCOPHANCY, 0.0, now_ms=t)
    older, newer = a.encode(), b.encode()
    fresh = DifficultyCurriculum(band=BAND)
    assert fresh.adopt_newest([older, newer])
    assert fresh.level(MistakeType.SYCOPHANCY) == 2
    assert not fresh.adopt_newest([older])  # older than what it holds
    assert fresh.level(MistakeType.SYCOPHANCY) == 2
    # Levels that never moved carry no date: any real snapshot replaces them.
    assert decode(DifficultyCurriculum(band=BAND).encode()) == (0, dict.fromkeys(CURRICULUM, 0))
    assert decode('{"selftaught_levels": 1, "at": 5, "levels": {"bogus": 1}}') is None
