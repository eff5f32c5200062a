"""A fake Anthropic Messages API for the tests and the benchmarks: stdlib HTTP, programmable
failures.

It speaks ``POST /v1/messages`` the way the real SDK expects, so tests drive the real
``anthropic.AsyncAnthropic`` against it (``base_url=fake.base_url``). By default it answers a
valid wrong evaluation computed from the request: it reads the step inside ``<step>`` tags
and the mistake inside ``<requested_mistake>`` tags, and returns a Φ at least the minimum
contrast away from the correct one, on the scale, with the requested mistake type.

Behaviours (``then`` = the next N requests, ``during`` = for the next T seconds, ``ok`` by
default; judge requests have their own) are listed in ``testkit/anthropic_rules.py``; what
each answers is ``testkit/anthropic_answers.py``, the HTTP side ``testkit/anthropic_http.py``.

In a test::

    with FakeAnthropic() as fake:
        fake.then("throttle", times=2, retry_after=0.1)
        fake.during("overloaded", seconds=1.0)
        client = AsyncAnthropic(base_url=fake.base_url, api_key="test-key")

From another process: ``python -m testkit.anthropic_server --port 8089``, driven through
``/_control`` (``testkit/anthropic_http.py``).

A scripted model for other prompts (the critic ``selftaught eval`` asks): ``fake.script(fn)``
makes every ``ok`` answer ``fn(user_text)``, a JSON-able object, instead of a wrong
evaluation; ``fake.script(None)`` or ``reset`` turns it off.

Every ``/v1/messages`` request is recorded (``fake.requests``: body, lower-cased headers, the
behaviour it got), so tests can assert what was sent. ``fake.configure`` sets the latency,
the ``usage`` answered and the ``anthropic-ratelimit-*`` headers; ``fake.reset`` forgets all
of it and ends hangs in progress; ``fake.max_in_flight`` is the concurrency high-water mark.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from testkit import anthropic_answers as answers
from testkit.anthropic_answers import CACHE_MIN_TOKENS, Recorded, text_usage
from testkit.anthropic_http import Handler, serve
from testkit.anthropic_rules import BEHAVIOURS, Rule, Rules

__all__ = ["BEHAVIOURS", "CACHE_MIN_TOKENS", "FakeAnthropic", "Recorded", "main", "text_usage"]


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
        """
        :param host: the address to listen on.
        :param port: the port to listen on; 0 picks a free one (see ``base_url``).
        :param latency_s: how long each answer takes, until ``configure`` or ``reset``.
        :param phi_min: the low end of the scale the wrong evaluations keep to.
        :param phi_max: the high end of that scale.
        :param min_contrast: how far a wrong Φ must be from the correct one (the fake
            answers one and a half times that).
        """
        self._host, self._port = host, port
        self._default_latency = latency_s
        self.scale = (phi_min, phi_max)
        self.min_contrast = min_contrast
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set by reset: ends hangs and latencies in progress
        self._generation = 0  # in-flight counts only requests since the last reset
        self._rules = Rules()
        self._requests: list[Recorded] = []
        self._judge_requests = 0
        self._cached: set[int] = set()  # hashes of the cached prefixes written so far
        self._state = answers.Conditions(latency_s=latency_s)
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._script: Callable[[str], Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        self._server = serve(self, self._host, self._port)
        return self

    def stop(self) -> None:
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
        with self._lock:
            self._rules.then(behaviour, times, params, judge=False)

    def during(self, behaviour: str, seconds: float, **params: Any) -> None:
        """Every request in the next ``seconds`` gets ``behaviour``."""
        with self._lock:
            self._rules.during(behaviour, seconds, params, judge=False)

    def judge_then(self, behaviour: str, times: int = 1, **params: Any) -> None:
        """The next ``times`` judge requests get ``behaviour`` (the generator's are not
        counted)."""
        with self._lock:
            self._rules.then(behaviour, times, params, judge=True)

    def judge_by(self, text: str, behaviour: str, **params: Any) -> None:
        """Every judge request whose ``<pair>`` contains ``text`` gets ``behaviour``."""
        with self._lock:
            self._rules.judge_by(text, behaviour, params)

    def judge_during(self, behaviour: str, seconds: float, **params: Any) -> None:
        """Every judge request in the next ``seconds`` gets ``behaviour``."""
        with self._lock:
            self._rules.during(behaviour, seconds, params, judge=True)

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
            self._requests.clear()
            self._judge_requests = 0
            self._cached.clear()
            self._state = answers.Conditions(latency_s=self._default_latency)
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

    def stats(self) -> dict[str, Any]:
        """What ``GET /_control`` answers: the request counts, the in-flight high-water mark,
        the latency and the generator's rules."""
        with self._lock:
            return {
                "requests": len(self._requests),
                "judge_requests": self._judge_requests,
                "in_flight": self._in_flight,
                "max_in_flight": self.max_in_flight,
                "latency_s": self._state.latency_s,
                **self._rules.summary(),
            }

    # -- serving ---------------------------------------------------------------------------

    def messages(self, h: Handler, body: dict[str, Any]) -> None:
        """Answer one ``POST /v1/messages`` on ``h``, as the rules say."""
        pair = answers.judged_pair(body)
        with self._lock:
            rule = self._rules.next(judging=pair is not None, pair=pair or "")
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
            state = self._state.copy()
            generation, wake = self._generation, self._wake
        try:
            status, payload, headers = self._response(rule, body, pair, state, wake)
        finally:
            # Out of flight before the answer is written: once the client has read it, it
            # may send its next request before this thread would get to count down.
            with self._lock:
                if generation == self._generation:
                    self._in_flight -= 1
        h.reply(status, payload, headers)

    def _response(
        self,
        rule: Rule,
        body: dict[str, Any],
        pair: str | None,
        state: answers.Conditions,
        wake: threading.Event,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        b, p = rule.behaviour, rule.params
        if b == "hang":
            wake.wait(float(p.get("seconds", 30.0)))
        elif state.latency_s > 0:
            wake.wait(state.latency_s)
        headers = answers.ratelimit_headers(state.ratelimit)
        if b in answers.ERRORS:
            status, error = answers.error_reply(rule, headers)
            return status, error, headers
        script = self._script
        answer: Any
        if pair is not None:
            wrong_when = p.get("when_right_is") if b == "prefer_wrong" else None
            answer = answers.verdict_for(pair, b != "prefer_wrong", wrong_when)
        elif script is not None and b == "ok":
            answer = script("\n".join(answers.texts(body, "user")))
        else:
            answer = self.answer_for(body)
            if b == "answer":
                answer = answers.given_answer(rule, answer)
        usage = (
            (lambda text: self._text_usage(body, text)) if state.usage_from_text else state.usage
        )
        return 200, answers.message(rule, body, answer, usage), headers

    def _text_usage(self, body: dict[str, Any], answer: str) -> dict[str, int]:
        with self._lock:
            return text_usage(body, answer, self._cached)

    verdict_for = staticmethod(answers.verdict_for)

    def answer_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """A valid wrong evaluation of the step in ``body``, of the requested type."""
        return answers.wrong_evaluation(body, self.scale, self.min_contrast)


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
