"""Which behaviour the fake Messages API gives the next request: the scripted rules.

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
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
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


@dataclass
class Rule:
    behaviour: str
    params: dict[str, Any]
    times: int | None = None  # for ``then``: requests left
    until: float | None = None  # for ``during``: monotonic end


def check(behaviour: str) -> None:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; one of {sorted(BEHAVIOURS)}")


class Rules:
    """The generator's and the judge's scripted rules. Not locked: the fake calls it under
    its own lock."""

    def __init__(self) -> None:
        self._rules: deque[Rule] = deque()
        self._windows: list[Rule] = []
        self._judge_rules: deque[Rule] = deque()
        self._judge_windows: list[Rule] = []
        self._judge_by: dict[str, Rule] = {}

    def then(self, behaviour: str, times: int, params: dict[str, Any], *, judge: bool) -> None:
        check(behaviour)
        (self._judge_rules if judge else self._rules).append(Rule(behaviour, params, times=times))

    def during(
        self, behaviour: str, seconds: float, params: dict[str, Any], *, judge: bool
    ) -> None:
        check(behaviour)
        (self._judge_windows if judge else self._windows).append(
            Rule(behaviour, params, until=time.monotonic() + seconds)
        )

    def judge_by(self, text: str, behaviour: str, params: dict[str, Any]) -> None:
        check(behaviour)
        self._judge_by[text] = Rule(behaviour, params)

    def clear(self) -> None:
        self._rules.clear()
        self._windows.clear()
        self._judge_rules.clear()
        self._judge_windows.clear()
        self._judge_by.clear()

    def next(self, *, judging: bool, pair: str) -> Rule:
        """The rule for the next request (a judge request's ``pair`` is its ``<pair>`` text):
        a ``judge_by`` match first, then the newest open window, then the queue, else ok."""
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

    def summary(self) -> dict[str, Any]:
        """The generator's queued and open rules, as ``GET /_control`` shows them."""
        now = time.monotonic()
        return {
            "then": [{"behaviour": r.behaviour, "times": r.times} for r in self._rules],
            "during": [
                {"behaviour": r.behaviour, "seconds_left": round(r.until - now, 3)}
                for r in self._windows
                if r.until is not None and r.until > now
            ],
        }
