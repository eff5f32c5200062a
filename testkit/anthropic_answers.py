"""What the fake Messages API reads from a request and what it answers: a valid wrong
evaluation of the step it was sent, the judge's verdict, the errors, the ``usage`` and the
``anthropic-ratelimit-*`` headers. Pure functions over the request's JSON body.

Usage: by default every answer reports the same ``usage`` (900 input, 120 output, 600
cache-read tokens, or what ``configure(usage=...)`` set), which tests of the cost arithmetic
rely on. ``configure(usage_from_text=True)`` makes it count what was sent instead, at about
four characters a token (``text_usage``): the system blocks marked ``cache_control`` as one
cached prefix when it reaches ``CACHE_MIN_TOKENS`` (written the first time the fake sees it,
read after), everything else sent as input, the answer's text as output. It approximates the
size of the prompts, not a real model's tokenizer: the JSON schema of ``output_config`` and
the message framing are not counted, and a real tokenizer gives other numbers.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from testkit.anthropic_rules import Rule

ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "rate_limit_error", "Number of requests has exceeded your rate limit."),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "server_error": (500, "api_error", "Internal server error"),
    "unauthorized": (401, "authentication_error", "invalid x-api-key"),
    "forbidden": (403, "permission_error", "Your API key does not have permission."),
    "bad_request": (
        400,
        "invalid_request_error",
        "messages: text content blocks must be non-empty",
    ),
}
_STEP = re.compile(r"<step>(.*?)</step>", re.S)
PAIR = re.compile(r"<pair>(.*?)</pair>", re.S)
_MISTAKE = re.compile(r"<requested_mistake>\s*([a-z_]+)\s*</requested_mistake>")
#: A real model caches a marked prefix only from a minimum length (1,024 tokens for the
#: Sonnet-class models; 4,096 for Haiku 4.5, which the fake does not tell apart).
CACHE_MIN_TOKENS = 1024
_MISTAKES = (
    "intention_credit",
    "sycophancy",
    "ignored_evidence",
    "scale_inconsistency",
    "purpose_drift",
    "other",
)


@dataclass
class Conditions:
    """What every answer shares until reconfigured: latency, usage and rate-limit state."""

    latency_s: float = 0.0
    usage: dict[str, int] = field(
        default_factory=lambda: {
            "input_tokens": 900,
            "output_tokens": 120,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 600,
        }
    )
    ratelimit: dict[str, float] = field(
        default_factory=lambda: {
            "requests_limit": 4000,
            "requests_remaining": 3999,
            "tokens_limit": 2_000_000,
            "tokens_remaining": 1_999_000,
            "reset_in_s": 60.0,
        }
    )
    usage_from_text: bool = False

    def copy(self) -> Conditions:
        return Conditions(
            self.latency_s, dict(self.usage), dict(self.ratelimit), self.usage_from_text
        )


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    behaviour: str
    at: float

    @property
    def system_text(self) -> str:
        system = self.body.get("system", "")
        if isinstance(system, str):
            return system
        return "".join(b.get("text", "") for b in system)

    @property
    def user_text(self) -> str:
        return "\n".join(texts(self.body, "user"))

    @property
    def is_judge(self) -> bool:
        return PAIR.search(self.user_text) is not None


def texts(body: dict[str, Any], role: str) -> list[str]:
    """The text blocks of ``body``'s messages of ``role``, in order."""
    out = []
    for m in body.get("messages", []):
        if m.get("role") != role:
            continue
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        else:
            out.extend(b.get("text", "") for b in content if b.get("type") == "text")
    return out


def judged_pair(body: dict[str, Any]) -> str | None:
    """The ``<pair>`` a judge request carries, or None for a generator's request."""
    pair = PAIR.search("\n".join(texts(body, "user")))
    return pair.group(1) if pair else None


def error_reply(rule: Rule, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The status and body of an error behaviour (``headers`` gains a throttle's)."""
    status, kind, default = ERRORS[rule.behaviour]
    if rule.behaviour == "throttle":
        retry_after = float(rule.params.get("retry_after", 1.0))
        headers["retry-after"] = f"{retry_after:g}"
        headers["anthropic-ratelimit-requests-remaining"] = "0"
    message = str(rule.params.get("message", default))
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def given_answer(rule: Rule, answer: dict[str, Any]) -> dict[str, Any]:
    """The ``answer`` behaviour: ``answer`` with the fields the rule names replaced."""
    p = rule.params
    return {
        "wrong_phi_after": p.get("phi", answer["wrong_phi_after"]),
        "wrong_reasoning": p.get("reasoning", answer["wrong_reasoning"]),
        "mistake_type": p.get("mistake_type", answer["mistake_type"]),
        "why_wrong": p.get("why_wrong", answer["why_wrong"]),
        "lesson": p.get("lesson", answer["lesson"]),
    }


def message(rule: Rule, body: dict[str, Any], answer: Any, usage: Any) -> dict[str, Any]:
    """The 200 answer: ``answer`` as JSON text, or what ``malformed``, ``refusal``,
    ``max_tokens`` and ``no_usage`` make of it; ``usage`` is the usage, or a function of
    the text that counts it."""
    b, p = rule.behaviour, rule.params
    text = json.dumps(answer)
    stop_reason = "end_turn"
    if b == "malformed":
        text = str(p.get("text", "Sure! Here is a wrong evaluation: Φ is about 7, I think."))
    elif b == "refusal":
        text, stop_reason = str(p.get("text", "")), "refusal"
    elif b == "max_tokens":
        text, stop_reason = text[: max(1, len(text) // 2)], "max_tokens"
    out: dict[str, Any] = {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-sonnet-5-5"),
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(text) if callable(usage) else usage,
    }
    if b == "no_usage":
        del out["usage"]
    return out


def verdict_for(pair_json: str, right: bool, wrong_when: str | None = None) -> dict[str, Any]:
    """The judge's answer for a ``<pair>``: the right letter, or the other one (only when
    the right one is ``wrong_when``, if given)."""
    letter = "A"
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        pair = json.loads(pair_json)
        fake = [str(pair[x]["reasoning"]).startswith("(fake") for x in ("A", "B")]
        if fake == [True, False]:
            letter = "B"
    if wrong_when is not None and letter != wrong_when:
        right = True
    if not right:
        letter = "B" if letter == "A" else "A"
    return {"reason": f"(fake judge) {letter} scores what the state shows.", "better": letter}


def wrong_evaluation(
    body: dict[str, Any], scale: tuple[float, float], min_contrast: float
) -> dict[str, Any]:
    """A valid wrong evaluation of the step in ``body``, of the requested type."""
    text = "\n".join(texts(body, "user"))
    step_match, mistake_match = _STEP.search(text), _MISTAKE.search(text)
    lo, hi = scale
    correct = (lo + hi) / 2
    if step_match:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            correct = float(json.loads(step_match.group(1))["phi_after"])
    mistake = mistake_match.group(1) if mistake_match else "other"
    mistake = mistake if mistake in _MISTAKES else "other"
    gap = min_contrast * 1.5
    up, down = correct + gap, correct - gap
    prefer_up = mistake in ("sycophancy", "intention_credit")
    first, second = (up, down) if prefer_up else (down, up)
    if lo <= first <= hi:
        phi = first
    elif lo <= second <= hi:
        phi = second
    else:
        phi = hi if hi - correct >= correct - lo else lo
    return {
        "wrong_phi_after": round(phi, 2),
        "wrong_reasoning": f"(fake {mistake}) The step clearly deserves {phi:.2f}.",
        "mistake_type": mistake,
        "why_wrong": f"(fake) It makes the {mistake} mistake on this step.",
        "lesson": f"(fake) The wrong evaluation made the {mistake} mistake; score what "
        "the state after shows.",
    }


def _tokens(chars: int) -> int:
    return (chars + 3) // 4


def text_usage(body: dict[str, Any], answer: str, cached: set[int]) -> dict[str, int]:
    """A ``usage`` counted from the request at about four characters a token: the system
    blocks up to the last one marked ``cache_control`` are the cached prefix when it reaches
    ``CACHE_MIN_TOKENS`` (a write the first time its hash is not in ``cached``, which is
    then updated; a read after), the rest of the system and the messages' text are input,
    ``answer`` is the output."""
    system = body.get("system", "")
    blocks = [{"text": system}] if isinstance(system, str) else list(system)
    marked = [i for i, b in enumerate(blocks) if b.get("cache_control")]
    cut = marked[-1] + 1 if marked else 0
    prefix = "".join(str(b.get("text", "")) for b in blocks[:cut])
    rest = "".join(str(b.get("text", "")) for b in blocks[cut:])
    rest += "".join(texts(body, "user") + texts(body, "assistant"))
    write = read = 0
    if _tokens(len(prefix)) >= CACHE_MIN_TOKENS:
        key = hash(prefix)
        if key in cached:
            read = _tokens(len(prefix))
        else:
            cached.add(key)
            write = _tokens(len(prefix))
    else:
        rest = prefix + rest
    return {
        "input_tokens": _tokens(len(rest)),
        "output_tokens": _tokens(len(answer)),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def ratelimit_headers(rl: dict[str, float]) -> dict[str, str]:
    reset = (datetime.now(UTC) + timedelta(seconds=rl["reset_in_s"])).isoformat(timespec="seconds")
    reset = reset.replace("+00:00", "Z")
    return {
        "anthropic-ratelimit-requests-limit": str(int(rl["requests_limit"])),
        "anthropic-ratelimit-requests-remaining": str(int(rl["requests_remaining"])),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": str(int(rl["tokens_limit"])),
        "anthropic-ratelimit-tokens-remaining": str(int(rl["tokens_remaining"])),
        "anthropic-ratelimit-tokens-reset": reset,
    }
