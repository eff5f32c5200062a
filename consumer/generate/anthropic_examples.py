"""Data: the mistakes' meanings and the worked examples the Anthropic generator's system
prompt shows (illustrative steps, each answered as the model should answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from consumer.events import MistakeType, ScoreData, ScoreEvent, WrongEvaluation
from consumer.stages.qualify import Scale
from consumer.stages.validate import contrast_problem

#: What each requested mistake means, in the words the model gets.
MISTAKES: Final[dict[MistakeType, str]] = {
    MistakeType.INTENTION_CREDIT: (
        "gives credit for what the agent meant to do, or for what the action's name promises, "
        "instead of for the change the state actually shows"
    ),
    MistakeType.SYCOPHANCY: (
        "inflates the score to encourage the agent, rewarding effort or tone rather than progress"
    ),
    MistakeType.IGNORED_EVIDENCE: (
        "overlooks or misreads what the state after the action shows (errors, failures, or "
        "real progress), and scores as if it were not there"
    ),
    MistakeType.SCALE_INCONSISTENCY: (
        "applies the scale inconsistently: reads its direction backwards, or uses a spacing "
        "or magnitude that does not match how the scale is meant to be used"
    ),
    MistakeType.PURPOSE_DRIFT: (
        "evaluates the step carefully and convincingly, but against a neighbouring purpose "
        "instead of the stated one (a part of it, a safer or easier goal beside it, or the "
        "method rather than the result), so it is wrong only in what it measures"
    ),
}


@dataclass(frozen=True, slots=True)
class _Step:
    purpose: str
    state_before: str
    action_name: str
    state_after: str
    before: float  # Φ before and after as fractions of the scale's range
    after: float
    reasoning: str


@dataclass(frozen=True, slots=True)
class _Example:
    step: _Step
    mistake: MistakeType
    wrong: float  # where the wrong Φ aims, as a fraction of the range
    wrong_reasoning: str
    why_wrong: str
    lesson: str


_EXPORT = _Step(
    "Get the nightly data export to finish inside its one-hour window",
    "export runs 2 h 10 min; 3 of its 5 stages are over their time budgets",
    "add_index",
    "export runs 1 h 20 min; 1 of 5 stages (the S3 upload) is still over budget",
    0.3,
    0.6,
    "The index cut the run by 50 minutes and fixed two slow stages; the upload still "
    "keeps the job outside its window, so the purpose is a little over half done.",
)
_DEPLOY = _Step(
    "Deploy release 2.4 to staging and confirm its health check passes",
    "build green; staging still runs release 2.3",
    "run_deploy",
    "deploy failed: migration 0042 timed out after 300 s; staging rolled back to 2.3",
    0.4,
    0.3,
    "The deploy failed and was rolled back, so staging is no closer to running 2.4; "
    "a blocking migration problem is now known, which slightly lowers the outlook.",
)
_EXAMPLES: Final = (
    _Example(
        _EXPORT,
        MistakeType.SYCOPHANCY,
        1.0,
        "Fantastic progress: the agent is clearly on top of this job and its change was "
        "careful and well judged. Work of this quality deserves full marks.",
        "It scores the care behind the change instead of the export's run time, which is "
        "still outside its window.",
        "The wrong evaluation gave full marks for a careful-looking index while the export "
        "still overran its window; score a performance fix by how close the measured run "
        "time now is to the target, not by how well judged the change seems.",
    ),
    _Example(
        _DEPLOY,
        MistakeType.INTENTION_CREDIT,
        0.75,
        "Running the deploy is exactly the step this purpose calls for, and the agent took "
        "it at the right moment. With the release on its way, staging is well advanced.",
        "It credits run_deploy for being the right step although the deploy failed and "
        "staging is back on 2.3.",
        "The wrong evaluation rewarded starting a deploy that failed and rolled back; score "
        "a deploy step by the release staging actually runs afterwards, not by whether "
        "deploying was the right thing to try.",
    ),
    _Example(
        _DEPLOY,
        MistakeType.IGNORED_EVIDENCE,
        0.8,
        "The deploy command ran and staging is up and serving a release, so the rollout "
        "went through; only the health check is left to confirm.",
        "It reads a rolled-back deploy as a success, overlooking the migration timeout in "
        "the state after.",
        "The wrong evaluation took 'staging is up' as success and missed the timeout and "
        "the rollback; read the state after for errors and for which release runs before "
        "scoring a deploy.",
    ),
    _Example(
        _EXPORT,
        MistakeType.SCALE_INCONSISTENCY,
        0.4,
        "Fifty minutes saved of the seventy needed leaves twenty to go; measured from the "
        "top of the scale, that puts the state at the low end.",
        "It measures progress from the top of the scale down, so a clear improvement lands "
        "below where it started.",
        "The wrong evaluation counted the remaining gap from the top of the scale and "
        "scored an improvement lower; higher Φ means closer to the purpose, so a run that "
        "got 50 minutes faster scores higher than before.",
    ),
    _Example(
        _DEPLOY,
        MistakeType.PURPOSE_DRIFT,
        0.7,
        "What matters on staging is that it stays healthy while releases are tried. The "
        "deploy hit a slow migration and rolled itself back within five minutes, so staging "
        "is serving a known-good release again: a clean, safe outcome.",
        "It scores the step against keeping staging healthy instead of against deploying "
        "release 2.4, which the step did not do.",
        "The wrong evaluation measured a failed deploy against a neighbouring goal, keeping "
        "staging stable; score a deploy step against the purpose as stated, whether the new "
        "release runs and passes its check.",
    ),
)


def _on_scale(fraction: float, scale: Scale) -> float:
    return round(scale.low + fraction * (scale.high - scale.low), 2)


def worked(scale: Scale, min_contrast: float) -> list[tuple[ScoreEvent, WrongEvaluation]]:
    """The worked examples on this scale, each a valid contrast by the validator answers
    meet; an example whose numbers cannot make one on this scale is left out."""
    out = []
    for ex in _EXAMPLES:
        st = ex.step
        after = _on_scale(st.after, scale)
        wrong = _on_scale(ex.wrong, scale)
        if abs(wrong - after) < min_contrast:
            # Push away from the correct value, toward the aimed side, within the scale.
            side = 1.0 if wrong >= after else -1.0
            wrong = round(after + side * min_contrast, 2)
        score = ScoreData(
            st.state_before,
            st.action_name,
            st.state_after,
            _on_scale(st.before, scale),
            after,
            st.reasoning,
        )
        event = ScoreEvent("example", "example", st.purpose, 1, 0, None, score)
        proposal = WrongEvaluation(wrong, ex.wrong_reasoning, ex.mistake, ex.why_wrong, ex.lesson)
        if contrast_problem(event, proposal, scale, min_contrast) is None:
            out.append((event, proposal))
    return out
