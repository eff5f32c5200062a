"""Pure: one turn of the generator's conversation read back, a wrong evaluation or why the
answer is unusable, and the corrective turn that says what was wrong."""

from __future__ import annotations

from dataclasses import dataclass

from anthropic.types import MessageParam

from consumer.events import ScoreEvent, WrongEvaluation
from consumer.generate.anthropic_answer import UnreadableAnswer, parse_answer
from consumer.generate.anthropic_prompt import correction
from consumer.generate.anthropic_reply import Reply
from consumer.redact import safe_wrong
from consumer.stages.qualify import Scale
from consumer.stages.validate import contrast_problem

__all__ = ["OUTCOMES", "Unusable", "corrected", "read_reply"]

#: The request outcome counted for each kind of unusable answer.
OUTCOMES = {
    "refusal": "refusal",
    "max_tokens": "max_tokens",
    "parse_error": "parse_error",
    "invalid_contrast": "invalid",
    "unsafe_content": "unsafe",
}


@dataclass(frozen=True, slots=True)
class Unusable:
    """Why an answer cannot be used: a ``GenerationFailed`` reason (refusal, max_tokens,
    parse_error, invalid_contrast, unsafe_content) and what was wrong."""

    reason: str
    detail: str


def read_reply(
    event: ScoreEvent, reply: Reply, scale: Scale, c: float, max_tokens: int
) -> WrongEvaluation | Unusable:
    """The reply to ``event`` as a wrong evaluation, or why it is unusable: a refusal, a
    cut-off (``max_tokens`` was the limit asked), unreadable JSON, no contrast of at least
    ``c`` on ``scale``, or unsafe content."""
    if reply.stop_reason == "refusal":
        why = f": {reply.refusal}" if reply.refusal else ""
        return Unusable("refusal", f"the model declined to answer{why}")
    if reply.stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return Unusable("max_tokens", f"the answer was cut off ({reply.stop_reason}, {max_tokens})")
    try:
        wrong = parse_answer(reply.text)
    except UnreadableAnswer as exc:
        return Unusable("parse_error", str(exc))
    problem = contrast_problem(event, wrong, scale, c)
    if problem is not None:
        return Unusable("invalid_contrast", problem)
    checked = safe_wrong(wrong)
    if isinstance(checked, str):
        return Unusable("unsafe_content", checked)
    return checked


def corrected(
    first: str, reply: Reply, bad: Unusable, scale: Scale, c: float
) -> list[MessageParam]:
    """The conversation for the corrective turn: the answer and what was wrong with it."""
    note = correction(bad.reason, bad.detail, scale, c)
    said = reply.text.rstrip()
    if said:
        return [
            {"role": "user", "content": first},
            {"role": "assistant", "content": said},
            {"role": "user", "content": note},
        ]
    # Nothing to show as the assistant's turn (an empty refusal): one user turn.
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": first}, {"type": "text", "text": note}],
        }
    ]
