"""The embedded rules generator: deterministic, free, and honest about each mistake type.

It is the default when no API key is set. Each event gets a mistake type from a stable hash
of its ``event_id`` (so a retry or another replica writes the same pair), the types taken in
curriculum order from there, so over many events the five stay balanced. A type that cannot
make a valid contrast for this step (sycophancy when Φ_after is already at the top) passes
to the next one.

With a judge on, each type has a subtlety level (``levels``, set by the service's difficulty
curriculum): the higher it is, the closer the wrong Φ and reasoning come to the right ones
(``subtlety``). ``purpose_drift`` is ``rules_drift``'s.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Final

from consumer.errors import GenerationFailed
from consumer.events import CURRICULUM, MistakeType, ScoreEvent, WrongEvaluation, phi_text
from consumer.generate.rules_drift import purpose_drift
from consumer.generate.subtlety import closer_reasoning, subtle_phi
from consumer.stages.excerpts import excerpt
from consumer.stages.qualify import Scale
from consumer.stages.validate import score_problem

NAME: Final = "rules/1"
#: The version of the rules' texts (the cards' ``prompt_version``): changes when they do.
PROMPT_VERSION: Final = "rules-v2"
_EXCERPT: Final = 120


def _up(x: float) -> float:
    """Round up to the scale's usual half-point spacing."""
    return math.ceil(x * 2 - 1e-9) / 2


def _down(x: float) -> float:
    return math.floor(x * 2 + 1e-9) / 2


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…"


def start_index(event_id: str) -> int:
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % len(CURRICULUM)


class RulesGenerator:
    """Rule-based wrong evaluations, one rule per mistake type.

    :param scale: the Φ scale.
    :param min_contrast: how far the wrong Φ_after must be from the right one.
    :param levels: each mistake type's subtlety level now, read for every event, when a
        judge's curriculum sets them; without, the rules as written.
    """

    def __init__(
        self,
        *,
        scale: Scale,
        min_contrast: float,
        levels: Callable[[MistakeType], int] | None = None,
    ) -> None:
        self._scale = scale
        self._c = min_contrast
        self._levels = levels
        self._rules: dict[MistakeType, Callable[[ScoreEvent], WrongEvaluation | None]] = {
            MistakeType.INTENTION_CREDIT: self._intention_credit,
            MistakeType.SYCOPHANCY: self._sycophancy,
            MistakeType.IGNORED_EVIDENCE: self._ignored_evidence,
            MistakeType.SCALE_INCONSISTENCY: self._scale_inconsistency,
            MistakeType.PURPOSE_DRIFT: self._purpose_drift,
        }

    @property
    def name(self) -> str:
        return NAME

    @property
    def prompt_version(self) -> str:
        return PROMPT_VERSION

    async def generate(self, event: ScoreEvent, place: float | None = None) -> WrongEvaluation:
        return self.generate_now(event)  # never waits: nothing to stand in line for

    async def aclose(self) -> None:
        return None

    def generate_now(self, event: ScoreEvent) -> WrongEvaluation:
        first = start_index(event.event_id)
        for i in range(len(CURRICULUM)):
            mistake = CURRICULUM[(first + i) % len(CURRICULUM)]
            wrong = self.propose(event, mistake)
            if wrong is not None:
                return wrong
        raise GenerationFailed(
            reason="no_contrast_possible",
            message=f"no mistake type yields a wrong Φ at least {self._c:g} from "
            f"{event.score.phi_after:g} on [{self._scale.low:g}, {self._scale.high:g}]",
        )

    def propose(self, event: ScoreEvent, mistake: MistakeType) -> WrongEvaluation | None:
        """The wrong evaluation of one type, or ``None`` where its score cannot apply.

        Only the score decides here. The reasoning is this module's own template, never
        empty, and whether it repeats the correct one is checked where every generator's
        proposal is, once: the pipeline's ``ensure_contrast`` (normalising both texts is a
        visible part of the CPU per event; tests/unit/test_rules.py checks every proposal
        against the whole of ``contrast_problem``).
        """
        wrong = self._rules[mistake](event)
        if wrong is None:
            return None
        if self._levels is not None:
            wrong = self._subtler(event, wrong, self._levels(mistake))
        if score_problem(event, wrong.phi_after, self._scale, self._c) is not None:
            return None
        why, lesson = _explained(event, wrong)
        return WrongEvaluation(wrong.phi_after, wrong.reasoning, wrong.mistake_type, why, lesson)

    def _subtler(self, e: ScoreEvent, wrong: WrongEvaluation, level: int) -> WrongEvaluation:
        # The rule's text states its Φ once, as phi_text writes it: the subtler Φ replaces it.
        a = e.score.phi_after
        phi = subtle_phi(a, wrong.phi_after, self._c, level, self._scale.low, self._scale.high)
        said = phi_text(wrong.phi_after)
        reasoning = wrong.reasoning
        if phi != wrong.phi_after:
            head, sep, tail = reasoning.rpartition(said)
            if sep:
                reasoning = head + phi_text(phi) + tail
        reasoning = closer_reasoning(reasoning, e.score.reasoning, level)
        return WrongEvaluation(phi, reasoning, wrong.mistake_type)

    def _purpose_drift(self, e: ScoreEvent) -> WrongEvaluation | None:
        # A careful evaluation against a neighbouring purpose (rules_drift's rewrites).
        gap = max(self._c, 2 * abs(e.delta))
        return purpose_drift(e, self._scale.low, self._scale.high, gap) or purpose_drift(
            e, self._scale.low, self._scale.high, self._c
        )

    def _sycophancy(self, e: ScoreEvent) -> WrongEvaluation | None:
        # Inflated toward the top of the scale to encourage, whatever happened.
        a, hi = e.score.phi_after, self._scale.high
        phi = min(hi, _up(a + max(self._c, 0.6 * (hi - a))))
        reasoning = (
            f"The agent is clearly working hard on '{_excerpt(e.purpose)}', and "
            f"'{e.score.action_name}' shows real initiative. This is excellent progress that "
            f"deserves encouragement; I'd rate the new state a strong {phi_text(phi)}."
        )
        return WrongEvaluation(phi, reasoning, MistakeType.SYCOPHANCY)

    def _intention_credit(self, e: ScoreEvent) -> WrongEvaluation | None:
        # Scores what the action's name promises, not the state change it produced.
        b, a = e.score.phi_before, e.score.phi_after
        d = a - b
        phi = _up(max(b + abs(d), a + self._c)) if d < 0 else _up(a + max(self._c, d))
        if phi > self._scale.high:
            phi = _up(a + self._c)
        reasoning = (
            f"The action '{e.score.action_name}' is exactly the right move for "
            f"'{_excerpt(e.purpose)}'. Since the agent chose the correct step, the state is "
            f"now much closer to the goal, so Φ_after should be {phi_text(phi)}."
        )
        return WrongEvaluation(phi, reasoning, MistakeType.INTENTION_CREDIT)

    def _ignored_evidence(self, e: ScoreEvent) -> WrongEvaluation | None:
        # Reads the step against what the state after shows: the change is reversed.
        b, a = e.score.phi_before, e.score.phi_after
        d = a - b
        gap = max(2 * abs(d), self._c)
        phi = _down(a - gap) if d > 0 else _up(a + gap)
        if d > 0:
            verdict = (
                f"Nothing after '{e.score.action_name}' shows real progress; the task looks "
                f"no further along than before, if anything worse. Φ_after is {phi_text(phi)}."
            )
        else:
            verdict = (
                f"'{e.score.action_name}' looks like it worked as intended and the task moved "
                f"forward cleanly; I see no sign of a problem. Φ_after is {phi_text(phi)}."
            )
        return WrongEvaluation(phi, verdict, MistakeType.IGNORED_EVIDENCE)

    def _scale_inconsistency(self, e: ScoreEvent) -> WrongEvaluation | None:
        # Either reads the scale upside down, or leaves its usual half-point spacing.
        a = e.score.phi_after
        lo, hi = self._scale.low, self._scale.high
        mirrored = hi + lo - a
        if abs(mirrored - a) >= self._c:
            reasoning = (
                f"Treating {phi_text(lo)} as the best outcome and {phi_text(hi)} as the worst, "
                f"the state after '{e.score.action_name}' sits at {phi_text(mirrored)}."
            )
            return WrongEvaluation(mirrored, reasoning, MistakeType.SCALE_INCONSISTENCY)
        step = round(self._c * 1.37, 2)
        phi = round(a + step, 2) if a + step <= hi else round(a - step, 2)
        reasoning = (
            f"Measured precisely, the step '{e.score.action_name}' changed about "
            f"{abs(phi - e.score.phi_before) / max(hi - lo, 1e-9):.0%} of the scale, which "
            f"maps to Φ_after {phi_text(phi)}."
        )
        return WrongEvaluation(phi, reasoning, MistakeType.SCALE_INCONSISTENCY)


def _explained(e: ScoreEvent, w: WrongEvaluation) -> tuple[str, str]:
    """Where the wrong evaluation goes astray (one sentence), and the lesson read alone:
    what it did and the principle that avoids it, with this step's specifics."""
    act = excerpt(e.score.action_name, 40)
    goal = excerpt(e.purpose, 60)
    wrong, right = phi_text(w.phi_after), phi_text(e.score.phi_after)
    t = w.mistake_type
    if t is MistakeType.SYCOPHANCY:
        return (
            f"It rewards the effort and tone of '{act}' instead of the progress the state "
            f"after shows, inflating Φ_after to {wrong}.",
            f"The wrong evaluation praised the effort behind '{act}' and inflated Φ_after to "
            f"{wrong} where {right} is right; score a step toward '{goal}' by the progress "
            f"its state after shows, never by effort or tone.",
        )
    if t is MistakeType.INTENTION_CREDIT:
        return (
            f"It credits what '{act}' was meant to achieve, not the change the state after shows.",
            f"The wrong evaluation gave '{act}' credit for being the right move ({wrong} for "
            f"Φ_after where {right} is right); score the change the state after shows toward "
            f"'{goal}', not what the action was meant to achieve.",
        )
    if t is MistakeType.IGNORED_EVIDENCE:
        return (
            f"It scores '{act}' without reading what the state after shows "
            f"('{excerpt(e.score.state_after, 50)}').",
            f"The wrong evaluation scored '{act}' as if the state after were not there "
            f"({wrong} where {right} is right); read the state after first and let what it "
            f"shows toward '{goal}' decide Φ.",
        )
    return (
        f"It applies the scale inconsistently to '{act}': backwards or off its usual steps.",
        f"The wrong evaluation put Φ_after for '{act}' at {wrong} where {right} is right, "
        f"misreading the scale; higher Φ means closer to '{goal}', in the scale's usual "
        f"half-point steps.",
    )
