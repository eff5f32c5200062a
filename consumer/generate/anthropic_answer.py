"""Pure: the answer the Anthropic generator asks for, and how it is read back."""

from __future__ import annotations

from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from consumer.events import MistakeType, WrongEvaluation

_Model = TypeVar("_Model", bound=BaseModel)

#: The JSON schema the answer must follow (structured output).
ANSWER_SCHEMA: Final[dict[str, object]] = {
    "type": "object",
    "properties": {
        "wrong_phi_after": {"type": "number"},
        "wrong_reasoning": {"type": "string"},
        "mistake_type": {"type": "string", "enum": [m.value for m in MistakeType]},
        "why_wrong": {"type": "string"},
        "lesson": {"type": "string"},
    },
    "required": ["wrong_phi_after", "wrong_reasoning", "mistake_type", "why_wrong", "lesson"],
    "additionalProperties": False,
}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    wrong_phi_after: float = Field(strict=True, allow_inf_nan=False)
    wrong_reasoning: str = Field(strict=True)
    mistake_type: str = Field(strict=True)
    why_wrong: str = Field(strict=True, min_length=1)
    lesson: str = Field(strict=True, min_length=1)


class UnreadableAnswer(ValueError):
    """The model's text is not the JSON object asked for."""


def validated(text: str, model: type[_Model], unreadable: type[Exception]) -> _Model:
    """A model's JSON answer as ``model``; ``unreadable`` says what is missing or wrong
    (nothing is filled in). A fenced block, should the model add one, is read inside."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    if not body:
        raise unreadable("the answer was empty")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        raise unreadable(problems) from exc


def parse_answer(text: str) -> WrongEvaluation:
    """The answer as a typed value; ``UnreadableAnswer`` says what is missing or wrong.

    Nothing is filled in: a missing field is an error, never a default.
    """
    answer = validated(text, _Answer, UnreadableAnswer)
    return WrongEvaluation(
        answer.wrong_phi_after,
        answer.wrong_reasoning.strip(),
        MistakeType.parse(answer.mistake_type),
        " ".join(answer.why_wrong.split()),
        " ".join(answer.lesson.split()),
    )
