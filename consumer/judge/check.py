"""The pipeline's judging stage: a judge's verdict on a valid pair, the curriculum told, the
verdict counted, and the record a person reads for a pair the judge got wrong in both orders.

No Kafka here; the pipeline turns a verdict into its outcome (cards with ``difficulty`` and
``judge``, or a disputed record) and the runner writes it in the offset's transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from consumer.events import ScoreEvent, WrongEvaluation
from consumer.judge import Judge
from consumer.judge.curriculum import DifficultyCurriculum
from consumer.judge.verdict import Outcome, Verdict
from consumer.observe import metrics as m

__all__ = ["JUDGE_PREFERS_WRONG", "PairCheck", "disputed_record"]

log = logging.getLogger(__name__)

#: The reason a pair the judge got wrong in both orders is not published (a metric label,
#: the log line's reason).
JUDGE_PREFERS_WRONG = "judge_prefers_wrong"


def _now_ms() -> int:
    return int(time.time() * 1000)


class PairCheck:
    """Judges each pair and keeps the curriculum informed.

    :param judge: the judge.
    :param curriculum: the difficulty curriculum, told each judged pair's difficulty.
    :param clock_ms: wall-clock milliseconds, to date the curriculum's moves.
    """

    def __init__(
        self,
        *,
        judge: Judge,
        curriculum: DifficultyCurriculum | None,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.judge = judge
        self.curriculum = curriculum
        self._clock_ms = clock_ms

    async def check(
        self, event: ScoreEvent, wrong: WrongEvaluation, place: float | None = None
    ) -> Verdict:
        verdict = await self.judge.judge(event, wrong, place)
        mistake = wrong.mistake_type
        m.JUDGE_VERDICTS.labels(verdict.outcome.value, mistake.value).inc()
        if verdict.outcome is Outcome.UNJUDGED:
            m.JUDGE_UNJUDGED.labels(verdict.why).inc()
            return verdict
        assert verdict.difficulty is not None
        m.JUDGE_DIFFICULTY.labels(mistake.value).observe(verdict.difficulty)
        if self.curriculum is not None:
            level = self.curriculum.record(mistake, verdict.difficulty, self._clock_ms())
            m.SUBTLETY_LEVEL.labels(mistake.value).set(level)
            mean = self.curriculum.mean(mistake)
            if mean is not None:
                m.CURRICULUM_MEAN_DIFFICULTY.labels(mistake.value).set(mean)
        if verdict.outcome is Outcome.WRONG:
            log.warning(
                "%s: the judge chose the wrong evaluation in both orders; pair for event %s "
                "(%s) not published",
                JUDGE_PREFERS_WRONG,
                event.event_id,
                mistake.value,
                extra={"reason": JUDGE_PREFERS_WRONG, "event_id": event.event_id},
            )
        return verdict


def disputed_record(
    event: ScoreEvent, wrong: WrongEvaluation, generator: str, verdict: Verdict
) -> bytes:
    """The disputed topic's value: JSON (UTF-8) for a person to read, with the step, both
    evaluations and both of the judge's answers. The critic's own score may be the wrong
    one; that is what a person decides."""
    s = event.score
    answers = [
        None
        if a is None
        else {"right_evaluation_was": right, "chose": a.better, "reason": a.reason}
        for right, a in zip(("A", "B"), verdict.answers, strict=True)
    ]
    record = {
        "reason": JUDGE_PREFERS_WRONG,
        "source_event_id": event.event_id,
        "source_trace_id": event.trace_id,
        "purpose": event.purpose,
        "action_name": s.action_name,
        "state_before": s.state_before,
        "state_after": s.state_after,
        "phi_before": s.phi_before,
        "critic": {"phi_after": s.phi_after, "reasoning": s.reasoning},
        "generated": {
            "phi_after": wrong.phi_after,
            "reasoning": wrong.reasoning,
            "mistake_type": wrong.mistake_type.value,
            "generator": generator,
        },
        "judge": verdict.judge,
        "answers": answers,
    }
    return json.dumps(record, ensure_ascii=False).encode("utf-8")
