"""Pure: is a proposed wrong evaluation a real contrast? One validator for every generator."""

from __future__ import annotations

import math
from typing import Final

from consumer.errors import GenerationFailed
from consumer.events import ScoreEvent, WrongEvaluation
from consumer.stages.qualify import Scale

_EPSILON: Final = 1e-9
_GLANCE: Final = 48  # characters of each text normalised first by same_text


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def same_text(a: str, b: str) -> bool:
    """Whether the two texts are the same up to whitespace and case."""
    # Normalising both whole texts was a visible part of the CPU per event. The normalised
    # head of a text is a prefix of the whole normalised text (case folding maps each
    # character on its own and never yields whitespace), so two texts that are the same have
    # one normalised head inside the other: a glance at the heads rules out nearly every
    # proposal.
    head_a, head_b = _normalised(a[:_GLANCE]), _normalised(b[:_GLANCE])
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    return _normalised(a) == _normalised(b)


def contrast_problem(
    event: ScoreEvent, wrong: WrongEvaluation, scale: Scale, min_contrast: float
) -> str | None:
    """What is wrong with the proposal, or ``None`` when it is a valid contrast."""
    problem = score_problem(event, wrong.phi_after, scale, min_contrast)
    if problem is not None:
        return problem
    if not wrong.reasoning.strip():
        return "the wrong reasoning is empty"
    if same_text(wrong.reasoning, event.score.reasoning):
        return "the wrong reasoning repeats the correct reasoning"
    return None


def score_problem(event: ScoreEvent, phi: float, scale: Scale, min_contrast: float) -> str | None:
    """What is wrong with ``phi`` as the wrong Φ_after, or ``None``: the numeric half of
    ``contrast_problem``, for a generator choosing between candidate scores."""
    if not math.isfinite(phi):
        return f"the wrong Φ_after is {phi}"
    if not scale.contains(phi):
        return f"the wrong Φ_after {phi:g} is outside [{scale.low:g}, {scale.high:g}]"
    gap = abs(phi - event.score.phi_after)
    if gap + _EPSILON < min_contrast:
        return (
            f"the wrong Φ_after {phi:g} is only {gap:g} from the correct "
            f"{event.score.phi_after:g} (at least {min_contrast:g} needed)"
        )
    return None


def ensure_contrast(
    event: ScoreEvent, wrong: WrongEvaluation, scale: Scale, min_contrast: float
) -> WrongEvaluation:
    """The proposal unchanged if valid; ``GenerationFailed`` otherwise."""
    problem = contrast_problem(event, wrong, scale, min_contrast)
    if problem is not None:
        raise GenerationFailed(reason="invalid_contrast", message=problem)
    return wrong
