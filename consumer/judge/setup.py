"""The judge and the curriculum the settings describe, and how the runner keeps the levels."""

from __future__ import annotations

import logging
from collections.abc import Callable

from consumer.generate import ContrastGenerator
from consumer.judge.check import PairCheck
from consumer.judge.curriculum import DifficultyCurriculum
from consumer.observe import metrics as m
from consumer.settings import Settings

__all__ = ["make_check", "make_curriculum", "restorer"]

log = logging.getLogger(__name__)


def make_curriculum(s: Settings) -> DifficultyCurriculum | None:
    """The difficulty curriculum when a judge is on; without one, levels mean nothing and
    the generators keep today's type balance."""
    if s.judge_backend == "off":
        return None
    curriculum = DifficultyCurriculum(band=s.difficulty_band)
    _show(curriculum)
    return curriculum


def make_check(
    s: Settings, generator: ContrastGenerator, curriculum: DifficultyCurriculum | None
) -> PairCheck | None:
    """The judging stage (``None`` when the judge is off). The Anthropic judge shares the
    Anthropic generator's limiter and spend meter when there is one."""
    if s.judge_backend == "off":
        return None
    from consumer.generate.anthropic import AnthropicGenerator
    from consumer.judge.anthropic import AnthropicJudge

    shared = generator.transport if isinstance(generator, AnthropicGenerator) else None
    judge = AnthropicJudge.from_settings(s, shared=shared)
    log.info(
        "judging every pair with %s in both orders; target difficulty %g-%g; pairs it gets "
        "wrong in both go to %s",
        judge.name,
        *s.difficulty_band,
        s.disputed_topic or "no topic (counted and logged only)",
    )
    return PairCheck(judge=judge, curriculum=curriculum)


def restorer(curriculum: DifficultyCurriculum) -> Callable[[list[str | None]], None]:
    """For the runner: adopt the newest levels committed with the partitions assigned."""

    def restore(notes: list[str | None]) -> None:
        if curriculum.adopt_newest(notes):
            log.info(
                "curriculum levels resumed from the committed offsets: %s",
                {k.value: v for k, v in curriculum.levels().items()},
            )
            _show(curriculum)

    return restore


def _show(curriculum: DifficultyCurriculum) -> None:
    for mistake, level in curriculum.levels().items():
        m.SUBTLETY_LEVEL.labels(mistake.value).set(level)
