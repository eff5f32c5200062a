"""A fake Anthropic Messages API for the tests and the benchmarks: stdlib HTTP, programmable
failures.

It speaks ``POST /v1/messages`` the way the real SDK expects, so tests drive the real
``anthropic.AsyncAnthropic`` against it (``base_url=fake.base_url``). By default it answers a
valid wrong evaluation computed from the request: it reads the step inside ``<step>`` tags
and the mistake inside ``<requested_mistake>`` tags, and returns a Φ at least the minimum
contrast away from the correct one, on the scale, with the requested mistake type.

Behaviours (``then`` = the next N requests, ``during`` = for the next T seconds; a
``during`` window wins over queued ``then`` rules, and the default is ``ok``):

========================  ==================================================================
``ok``                    a valid answer (after ``latency_s``)
``answer``                200 with a given answer: ``phi``, ``reasoning``, ``mistake_type``,
                          ``why_wrong``, ``lesson``
``throttle``              429 ``rate_limit_error`` with ``retry-after`` (``retry_after`` s)
``overloaded``            529 ``overloaded_error``
``server_error``          500 ``api_error``
``hang``                  sleeps ``seconds`` (default 30) before answering: a client timeout
``malformed``             200 whose text is not JSON (``text`` to choose it)
``refusal``               200 with ``stop_reason`` ``refusal``
``max_tokens``            200 with ``stop_reason`` ``max_tokens`` and a truncated JSON text
``unauthorized``          401 ``authentication_error``
``forbidden``             403 ``permission_error``
``bad_request``           400 ``invalid_request_error`` with ``message``
``no_usage``              a valid answer without the ``usage`` object
``prefer_wrong``          (a judge request) the judge prefers the wrong evaluation
========================  ==================================================================

Judge requests (the judge's user message carries a ``<pair>``) have their own rules,
``judge_then`` and ``judge_during``, so a test scripts verdicts without disturbing the
generator's: by default the judge answers right, and ``prefer_wrong`` makes it choose the
other evaluation (with ``when_right_is="A"``, only in the order where the right one is A);
the error behaviours (``refusal``, ``overloaded``, ...) apply as they are. ``judge_by(text,
behaviour)`` gives every judge request whose pair contains ``text`` that behaviour, ahead of
the other rules: a verdict scripted per event, whatever order concurrent calls arrive in.
The fake knows which evaluation is right because it wrote the wrong one (its reasoning
starts with ``(fake``); where neither or both do, it takes A as right.

In a test::

    with FakeAnthropic() as fake:
        fake.then("throttle", times=2, retry_after=0.1)
        fake.during("overloaded", seconds=1.0)
        client = AsyncAnthropic(base_url=fake.base_url, api_key="test-key")

From another process: ``python -m testkit.anthropic_server --port 8089`` and
``POST /_control`` with one of::

    {"op": "then", "behaviour": "throttle", "times": 2, "params": {"retry_after": 1}}
    {"op": "during", "behaviour": "server_error", "seconds": 30, "params": {}}
    {"op": "configure", "latency_s": 0.2, "usage": {...}, "ratelimit": {...}}
    {"op": "reset"}

``GET /_control`` answers the request count (and how many were judge requests), the in-flight
high-water mark and the rules.

A scripted model for other prompts (the critic ``selftaught eval`` asks): ``fake.script(fn)``
makes every ``ok`` answer ``fn(user_text)``, a JSON-able object, instead of a wrong
evaluation; ``fake.script(None)`` or ``reset`` turns it off.

Every ``/v1/messages`` request is recorded (``fake.requests``: body, lower-cased headers, the
behaviour it got), so tests can assert what was sent. ``fake.configure`` sets the latency,
the ``usage`` answered and the ``anthropic-ratelimit-*`` headers; ``fake.reset`` forgets all
of it and ends hangs in progress; ``fake.max_in_flight`` is the concurrency high-water mark.

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

import argparse
import contextlib
import json
import re
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BEHAVIOURS = frozenset(
    {
        "ok",
        "answer",
        "throttle",
        "overloaded",
        "server_error",
        "hang",
        "malformed",
        "refusal",
        "max_tokens",
        "unauthorized",
        "forbidden",
        "bad_request",
        "no_usage",
        "prefer_wrong",
    }
)
_ERRORS: dict[str, tuple[int, str, str]] = {
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
_PAIR = re.compile(r"<pair>(.*?)</pair>", re.S)
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
class Rule:
    behaviour: str
    params: dict[str, Any]
    times: int | None = None  # for ``then``: requests left
    until: float | None = None  # for ``during``: monotonic end


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
        return "\n".join(_texts(self.body, "user"))

    @property
    def is_judge(self) -> bool:
        return _PAIR.search(self.user_text) is not None


def _texts(body: dict[str, Any], role: str) -> list[str]:
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


@dataclass
class _State:
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


class FakeAnthropic:
    """The fake server. Start it with ``with`` (or ``start``/``stop``); port 0 picks a free one."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        phi_min: float = 0.0,
        phi_max: float = 10.0,
        min_contrast: float = 1.0,
    ) -> None:
        self._host, self._port = host, port
        self._default_latency = latency_s
        self.scale = (phi_min, phi_max)
        self.min_contrast = min_contrast
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by reset: ends hangs and latencies in progress
        self._generation = 0  # in-flight counts only requests since the last reset
        self._rules: deque[Rule] = deque()
        self._windows: list[Rule] = []
        self._judge_rules: deque[Rule] = deque()
        self._judge_windows: list[Rule] = []
        self._judge_by: dict[str, Rule] = {}
        self._requests: list[Recorded] = []
        self._judge_requests = 0
        self._cached: set[int] = set()  # hashes of the cached prefixes written so far
        self._state = _State(latency_s=latency_s)
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._script: Callable[[str], Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        fake = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Hundreds of clients connect at once; the default backlog (5) would make the
            # kernel drop SYNs and serialise them behind one-second retransmits.
            request_queue_size = 1024

        class Handler(_Handler):
            owner = fake

        self._server = Server((self._host, self._port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()  # wakes hanging and sleeping handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scenarios -------------------------------------------------------------------------

    def then(self, behaviour: str, times: int = 1, **params: Any) -> None:
        """The next ``times`` requests (after those already queued) get ``behaviour``."""
        _check(behaviour)
        with self._lock:
            self._rules.append(Rule(behaviour, params, times=times))

    def during(self, behaviour: str, seconds: float, **params: Any) -> None:
        """Every request in the next ``seconds`` gets ``behaviour``."""
        _check(behaviour)
        with self._lock:
            self._windows.append(Rule(behaviour, params, until=time.monotonic() + seconds))

    def judge_then(self, behaviour: str, times: int = 1, **params: Any) -> None:
        """The next ``times`` judge requests get ``behaviour`` (the generator's are not
        counted)."""
        _check(behaviour)
        with self._lock:
            self._judge_rules.append(Rule(behaviour, params, times=times))

    def judge_by(self, text: str, behaviour: str, **params: Any) -> None:
        """Every judge request whose ``<pair>`` contains ``text`` gets ``behaviour``."""
        _check(behaviour)
        with self._lock:
            self._judge_by[text] = Rule(behaviour, params)

    def judge_during(self, behaviour: str, seconds: float, **params: Any) -> None:
        """Every judge request in the next ``seconds`` gets ``behaviour``."""
        _check(behaviour)
        with self._lock:
            self._judge_windows.append(Rule(behaviour, params, until=time.monotonic() + seconds))

    def configure(
        self,
        *,
        latency_s: float | None = None,
        usage: dict[str, int] | None = None,
        ratelimit: dict[str, float] | None = None,
        usage_from_text: bool | None = None,
    ) -> None:
        with self._lock:
            if usage_from_text is not None:
                self._state.usage_from_text = usage_from_text
            if latency_s is not None:
                self._state.latency_s = latency_s
            if usage is not None:
                self._state.usage = dict(usage)
            if ratelimit is not None:
                self._state.ratelimit.update(ratelimit)

    def script(self, answer: Callable[[str], Any] | None) -> None:
        """Answer every ``ok`` request with ``answer(user_text)`` (JSON) instead; ``None``
        goes back to wrong evaluations."""
        with self._lock:
            self._script = answer

    def reset(self) -> None:
        """Forget rules, recorded requests, configuration and the script."""
        with self._lock:
            self._script = None
            self._rules.clear()
            self._windows.clear()
            self._judge_rules.clear()
            self._judge_windows.clear()
            self._judge_by.clear()
            self._requests.clear()
            self._judge_requests = 0
            self._cached.clear()
            self._state = _State(latency_s=self._default_latency)
            self._wake.set()
            self._wake = threading.Event()
            self._generation += 1
            self._in_flight = 0
            self.max_in_flight = 0

    @property
    def requests(self) -> list[Recorded]:
        """Every ``/v1/messages`` request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What ``POST /_control`` does with its JSON body."""
        op = payload.get("op")
        if op == "then":
            self.then(
                payload["behaviour"], int(payload.get("times", 1)), **payload.get("params", {})
            )
        elif op == "during":
            self.during(
                payload["behaviour"], float(payload["seconds"]), **payload.get("params", {})
            )
        elif op == "judge_then":
            self.judge_then(
                payload["behaviour"], int(payload.get("times", 1)), **payload.get("params", {})
            )
        elif op == "judge_during":
            self.judge_during(
                payload["behaviour"], float(payload["seconds"]), **payload.get("params", {})
            )
        elif op == "configure":
            self.configure(
                latency_s=payload.get("latency_s"),
                usage=payload.get("usage"),
                ratelimit=payload.get("ratelimit"),
                usage_from_text=payload.get("usage_from_text"),
            )
        elif op == "reset":
            self.reset()
        elif op is not None:
            raise ValueError(f"unknown op {op!r}: then, during, configure or reset")
        return self.stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return {
                "requests": len(self._requests),
                "judge_requests": self._judge_requests,
                "in_flight": self._in_flight,
                "max_in_flight": self.max_in_flight,
                "latency_s": self._state.latency_s,
                "then": [{"behaviour": r.behaviour, "times": r.times} for r in self._rules],
                "during": [
                    {"behaviour": r.behaviour, "seconds_left": round(r.until - now, 3)}
                    for r in self._windows
                    if r.until is not None and r.until > now
                ],
            }

    # -- serving ---------------------------------------------------------------------------

    def _next_rule(self, judging: bool = False, pair: str = "") -> Rule:
        with self._lock:
            for text, rule in self._judge_by.items():
                if judging and text in pair:
                    return rule
            now = time.monotonic()
            windows = self._judge_windows if judging else self._windows
            windows[:] = [w for w in windows if w.until is not None and w.until > now]
            if windows:
                return windows[-1]
            rules = self._judge_rules if judging else self._rules
            while rules:
                rule = rules[0]
                assert rule.times is not None
                if rule.times <= 0:
                    rules.popleft()
                    continue
                rule.times -= 1
                if rule.times == 0:
                    rules.popleft()
                return rule
            return Rule("ok", {})

    def _messages(self, h: _Handler, body: dict[str, Any]) -> None:
        pair = _PAIR.search("\n".join(_texts(body, "user")))
        rule = self._next_rule(pair is not None, pair.group(1) if pair else "")
        with self._lock:
            self._requests.append(
                Recorded(
                    method="POST",
                    path=h.path,
                    headers={k.lower(): v for k, v in h.headers.items()},
                    body=body,
                    behaviour=rule.behaviour,
                    at=time.monotonic(),
                )
            )
            if pair is not None:
                self._judge_requests += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            state = _State(
                self._state.latency_s,
                dict(self._state.usage),
                dict(self._state.ratelimit),
                self._state.usage_from_text,
            )
            generation, wake = self._generation, self._wake
        try:
            status, payload, headers = self._response(rule, body, state, wake)
        finally:
            # Out of flight before the answer is written: once the client has read it, it
            # may send its next request before this thread would get to count down.
            with self._lock:
                if generation == self._generation:
                    self._in_flight -= 1
        h.reply(status, payload, headers)

    def _response(
        self, rule: Rule, body: dict[str, Any], state: _State, wake: threading.Event
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        b, p = rule.behaviour, rule.params
        if b == "hang":
            wake.wait(float(p.get("seconds", 30.0)))
        elif state.latency_s > 0:
            wake.wait(state.latency_s)
        headers = _ratelimit_headers(state.ratelimit)
        if b in _ERRORS:
            status, kind, default = _ERRORS[b]
            error_text = str(p.get("message", default))
            if b == "throttle":
                retry_after = float(p.get("retry_after", 1.0))
                headers["retry-after"] = f"{retry_after:g}"
                headers["anthropic-ratelimit-requests-remaining"] = "0"
            return (
                status,
                {"type": "error", "error": {"type": kind, "message": error_text}},
                headers,
            )
        text_in = "\n".join(_texts(body, "user"))
        pair = _PAIR.search(text_in)
        script = self._script
        if pair is not None:
            wrong_when = p.get("when_right_is") if b == "prefer_wrong" else None
            answer = self.verdict_for(pair.group(1), b != "prefer_wrong", wrong_when)
        elif script is not None and b == "ok":
            answer = script(text_in)
        else:
            answer = self.answer_for(body)
        if b == "answer" and pair is None:
            answer = {
                "wrong_phi_after": p.get("phi", answer["wrong_phi_after"]),
                "wrong_reasoning": p.get("reasoning", answer["wrong_reasoning"]),
                "mistake_type": p.get("mistake_type", answer["mistake_type"]),
                "why_wrong": p.get("why_wrong", answer["why_wrong"]),
                "lesson": p.get("lesson", answer["lesson"]),
            }
        text = json.dumps(answer)
        stop_reason = "end_turn"
        if b == "malformed":
            text = str(p.get("text", "Sure! Here is a wrong evaluation: Φ is about 7, I think."))
        elif b == "refusal":
            text, stop_reason = str(p.get("text", "")), "refusal"
        elif b == "max_tokens":
            text, stop_reason = text[: max(1, len(text) // 2)], "max_tokens"
        message: dict[str, Any] = {
            "id": "msg_" + uuid.uuid4().hex[:24],
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-5-5"),
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._text_usage(body, text) if state.usage_from_text else state.usage,
        }
        if b == "no_usage":
            del message["usage"]
        return 200, message, headers

    def _text_usage(self, body: dict[str, Any], answer: str) -> dict[str, int]:
        with self._lock:
            return text_usage(body, answer, self._cached)

    @staticmethod
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

    def answer_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """A valid wrong evaluation of the step in ``body``, of the requested type."""
        text = "\n".join(_texts(body, "user"))
        step_match, mistake_match = _STEP.search(text), _MISTAKE.search(text)
        lo, hi = self.scale
        correct = (lo + hi) / 2
        if step_match:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                correct = float(json.loads(step_match.group(1))["phi_after"])
        mistake = mistake_match.group(1) if mistake_match else "other"
        mistake = mistake if mistake in _MISTAKES else "other"
        gap = self.min_contrast * 1.5
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
    rest += "".join(_texts(body, "user") + _texts(body, "assistant"))
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


def _check(behaviour: str) -> None:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; one of {sorted(BEHAVIOURS)}")


def _ratelimit_headers(rl: dict[str, float]) -> dict[str, str]:
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # Small answers on a kept-alive connection otherwise wait ~40 ms for Nagle + delayed ACK.
    disable_nagle_algorithm = True
    owner: FakeAnthropic

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.reply(
                400,
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "body is not JSON"},
                },
            )
            return
        if path == "/v1/messages":
            self.owner._messages(self, body)
        elif path == "/_control":
            try:
                self.reply(200, self.owner.control(body))
            except (ValueError, KeyError, TypeError) as exc:
                self.reply(400, {"error": str(exc)})
        else:
            self.reply(
                404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
            )

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/_control":
            self.reply(200, self.owner.stats())
        else:
            self.reply(
                404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}
            )

    def reply(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def log_message(self, format: str, *args: object) -> None:
        return


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fake Anthropic Messages API for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    ap.add_argument("--phi-min", type=float, default=0.0)
    ap.add_argument("--phi-max", type=float, default=10.0)
    ap.add_argument("--min-contrast", type=float, default=1.0)
    args = ap.parse_args(argv)
    fake = FakeAnthropic(
        host=args.host,
        port=args.port,
        latency_s=args.latency,
        phi_min=args.phi_min,
        phi_max=args.phi_max,
        min_contrast=args.min_contrast,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with fake:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()


if __name__ == "__main__":
    main()
