"""How hard the generator may push the API: an AIMD concurrency limit, backoff, rate headers.

One ``AimdLimiter`` is shared by every call of a generator. It halves its limit when the API
throttles (429) or is overloaded (529), and adds one after each window of successes as
large as the limit (one "round trip" of the whole window, as TCP does). A throttle counts
once per halving: the calls that were already in flight when the limit fell were started
under the old limit, so their 429s say nothing new.

The ``anthropic-ratelimit-*`` headers slow it before a 429 does: while the remaining requests
(or tokens, in average calls) are fewer than the limit, at most that many calls run until
the reported reset; at zero, new calls wait for the reset.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: A header-driven hold never lasts longer than this, whatever the reset says.
_MAX_HOLD_S = 60.0


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the rate-limit headers of one response say is left before the limit."""

    requests: int | None
    tokens: int | None
    reset_in_s: float | None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _seconds_until(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def headroom(headers: Mapping[str, str], now: datetime | None = None) -> Headroom | None:
    """Read the ``anthropic-ratelimit-*`` headers; ``None`` when there are none."""
    now = now or datetime.now(UTC)
    p = "anthropic-ratelimit-"
    requests = _int(headers.get(p + "requests-remaining"))
    token_kinds = ("tokens", "input-tokens", "output-tokens")
    tokens_left = [_int(headers.get(f"{p}{k}-remaining")) for k in token_kinds]
    tokens = min((t for t in tokens_left if t is not None), default=None)
    if requests is None and tokens is None:
        return None
    resets = [_seconds_until(headers.get(f"{p}{k}-reset"), now) for k in ("requests", *token_kinds)]
    reset = max((r for r in resets if r is not None), default=None)
    return Headroom(requests, tokens, reset)


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits about ``base * 2**n``, capped."""

    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``; ``retry_after`` from the server wins."""
        if retry_after is not None:
            # The server knows when it will take us again; waiting less only earns another
            # 429. A little jitter on top keeps a crowd of waiters from returning together.
            return retry_after + rng.uniform(0, min(retry_after * 0.1, 1.0))
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(attempt, 30))
        # "Equal jitter": at least half the ceiling, so retries do spread out but never
        # collapse to zero and hammer a struggling API.
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class AimdLimiter:
    """An asyncio concurrency limit: additive increase, multiplicative decrease."""

    def __init__(
        self,
        *,
        max_limit: int,
        min_limit: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        """
        :param max_limit: the limit it starts at and grows back to
        :param min_limit: the limit it never halves below
        :param clock: monotonic seconds (tests move it instead of waiting)
        :param on_change: told (limit, in flight) whenever either changes (the gauges)
        """
        if not 1 <= min_limit <= max_limit:
            raise ValueError("need 1 <= min_limit <= max_limit")
        self.max_limit, self.min_limit = max_limit, min_limit
        self.limit = max_limit
        self.in_flight = 0
        self._epoch = 0
        self._successes = 0
        self._cap: int | None = None
        self._cap_until = 0.0
        self._hold_until = 0.0
        self._clock = clock
        self._on_change = on_change
        # Waiting calls, lowest priority value first: (priority, arrival, future). A cancelled
        # waiter stays in the heap until it reaches the top and is skipped; _queued counts
        # the live ones.
        self._waiters: list[tuple[float, int, asyncio.Future[int]]] = []
        self._queued = 0
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    # -- decisions (pure, synchronous) -------------------------------------------------------

    def allowed(self) -> int:
        """How many calls may run right now."""
        now = self._clock()
        if now < self._hold_until:
            return 0
        if self._cap is not None and now < self._cap_until:
            return max(min(self.limit, self._cap), 1)
        return self.limit

    def throttled(self, epoch: int) -> None:
        """A call started in ``epoch`` was throttled: halve the limit once per epoch."""
        if epoch != self._epoch:
            return
        self.limit = max(self.min_limit, self.limit // 2)
        self._epoch += 1
        self._successes = 0
        self._changed()

    def succeeded(self) -> None:
        """A call succeeded: one step toward the next additive increase."""
        if self._cap is not None and self._clock() < self._cap_until:
            return  # close to the account's limit: hold steady, do not grow into it
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.max_limit:
            self.limit += 1
            self._successes = 0
            self._changed()
            self._wake()

    def observe(self, room: Headroom, tokens_per_call: float) -> None:
        """Follow the rate-limit headers: cap concurrency to what is left until the reset."""
        left = []
        if room.requests is not None:
            left.append(room.requests)
        if room.tokens is not None:
            left.append(int(room.tokens // max(tokens_per_call, 1.0)))
        if not left:
            return
        now = self._clock()
        until = now + min(room.reset_in_s if room.reset_in_s is not None else 1.0, _MAX_HOLD_S)
        room_now = min(left)
        if room_now <= 0:
            self._hold_until = max(self._hold_until, until)
            self._cap = None
        elif room_now < self.limit:
            self._cap, self._cap_until = room_now, until
        else:
            self._cap = None
        self._changed()
        self._wake()

    def hold(self, seconds: float) -> None:
        """Start no call for ``seconds`` (the server's retry-after applies to the account)."""
        self._hold_until = max(self._hold_until, self._clock() + min(seconds, _MAX_HOLD_S))

    def holding_s(self) -> float:
        """Seconds until a header-driven hold ends (0 when there is none)."""
        return max(self._hold_until - self._clock(), 0.0)

    # -- slots ---------------------------------------------------------------------------------

    async def acquire(self, priority: float | None = None) -> int:
        """Wait for a slot; returns the epoch to report a throttle with.

        Waiters get slots lowest ``priority`` first (the clock's time of the call when
        none is given), in arrival order among equals. The generator passes the time its
        event first asked, so a retry keeps its place: at the back of the queue, behind
        thousands of later events, its partition would commit nothing until they were done.
        """
        if self._queued == 0 and self.in_flight < self.allowed():
            return self._grant()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        key = self._clock() if priority is None else priority
        heapq.heappush(self._waiters, (key, next(self._arrivals), future))
        self._queued += 1
        self._arm_timer()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as we were cancelled: hand it on
            else:
                self._queued -= 1  # left in the heap; _wake skips it
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._changed()
        self._wake()

    def _grant(self) -> int:
        self.in_flight += 1
        self._changed()
        return self._epoch

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.allowed():
            _, _, future = heapq.heappop(self._waiters)
            if future.done():
                continue  # cancelled while waiting; it has un-counted itself
            self._queued -= 1
            future.set_result(self._grant())
        self._arm_timer()

    def _arm_timer(self) -> None:
        # While a hold or a cap keeps waiters out, wake them when it ends: no release may
        # come to do it (nothing is in flight during a hold).
        if not self._queued or self._timer is not None:
            return
        now = self._clock()
        ends = [t for t in (self._hold_until, self._cap_until) if t > now]
        if not ends:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(min(ends) - now + 0.001, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.limit, self.in_flight)
