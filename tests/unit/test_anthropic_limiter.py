import asyncio
import random
from datetime import UTC, datetime

import pytest

from consumer.generate.anthropic_limiter import (
    AimdLimiter,
    Backoff,
    Headroom,
    headroom,
    retry_after_s,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_headroom_reads_remaining_and_the_latest_reset() -> None:
    room = headroom(
        {
            "anthropic-ratelimit-requests-remaining": "12",
            "anthropic-ratelimit-requests-reset": "2026-01-01T12:00:05Z",
            "anthropic-ratelimit-tokens-remaining": "90000",
            "anthropic-ratelimit-input-tokens-remaining": "40000",
            "anthropic-ratelimit-tokens-reset": "2026-01-01T12:00:20Z",
        },
        now=NOW,
    )
    assert room == Headroom(requests=12, tokens=40000, reset_in_s=20.0)


def test_no_rate_headers_no_headroom() -> None:
    assert headroom({"content-type": "application/json"}, now=NOW) is None
    assert headroom({"anthropic-ratelimit-requests-remaining": "many"}, now=NOW) is None


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "0.25"}) == 0.25
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_s({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now=NOW) == 30.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    b, rng = Backoff(base_s=1.0, max_s=10.0), random.Random(7)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (40, 10.0)]:
        for _ in range(50):
            d = b.delay(attempt, rng)
            assert ceiling / 2 <= d <= ceiling


def test_backoff_honours_retry_after() -> None:
    b, rng = Backoff(base_s=0.01, max_s=0.02), random.Random(1)
    for _ in range(50):
        d = b.delay(0, rng, retry_after=5.0)
        assert 5.0 <= d <= 5.5


def test_throttle_halves_once_per_epoch_and_respects_the_floor() -> None:
    lim = AimdLimiter(max_limit=16, min_limit=3)
    epoch = lim._epoch
    lim.throttled(epoch)
    assert lim.limit == 8
    lim.throttled(epoch)  # a call started before the halving: no new information
    assert lim.limit == 8
    lim.throttled(lim._epoch)
    lim.throttled(lim._epoch)
    assert lim.limit == 3


def test_success_windows_grow_the_limit_back_to_the_max() -> None:
    seen: list[int] = []
    lim = AimdLimiter(max_limit=8, on_change=lambda limit, _: seen.append(limit))
    lim.throttled(lim._epoch)
    assert lim.limit == 4
    for _ in range(3):
        lim.succeeded()
    assert lim.limit == 4  # a full window (4) of successes is needed
    lim.succeeded()
    assert lim.limit == 5
    for _ in range(100):
        lim.succeeded()
    assert lim.limit == 8 and 8 in seen


def test_headers_cap_concurrency_until_the_reset() -> None:
    clock = Clock()
    lim = AimdLimiter(max_limit=32, clock=clock)
    lim.observe(Headroom(requests=5, tokens=None, reset_in_s=10.0), tokens_per_call=1000)
    assert lim.allowed() == 5
    for _ in range(100):
        lim.succeeded()
    assert lim.limit == 32  # no growth while close to the account's limit
    clock.t += 11
    assert lim.allowed() == 32


def test_token_headroom_counts_in_average_calls() -> None:
    lim = AimdLimiter(max_limit=32, clock=Clock())
    lim.observe(Headroom(requests=None, tokens=6000, reset_in_s=5.0), tokens_per_call=2000)
    assert lim.allowed() == 3


def test_nothing_left_holds_every_call_until_the_reset() -> None:
    clock = Clock()
    lim = AimdLimiter(max_limit=32, clock=clock)
    lim.observe(Headroom(requests=0, tokens=None, reset_in_s=4.0), tokens_per_call=1000)
    assert lim.allowed() == 0 and lim.holding_s() == pytest.approx(4.0)
    clock.t += 4.5
    assert lim.allowed() == 32 and lim.holding_s() == 0


def test_a_retry_after_holds_every_call() -> None:
    clock = Clock()
    lim = AimdLimiter(max_limit=8, clock=clock)
    lim.hold(2.0)
    lim.hold(1.0)  # a shorter hold does not cut a longer one
    assert lim.allowed() == 0 and lim.holding_s() == pytest.approx(2.0)
    lim.hold(3600)
    assert lim.holding_s() == pytest.approx(60.0)  # bounded, whatever the server says
    clock.t += 61
    assert lim.allowed() == 8


def test_plenty_of_headroom_lifts_a_cap() -> None:
    lim = AimdLimiter(max_limit=8, clock=Clock())
    lim.observe(Headroom(requests=2, tokens=None, reset_in_s=30.0), tokens_per_call=1)
    assert lim.allowed() == 2
    lim.observe(Headroom(requests=500, tokens=None, reset_in_s=30.0), tokens_per_call=1)
    assert lim.allowed() == 8


def test_slots_are_limited_and_handed_on_in_order() -> None:
    async def scenario() -> None:
        lim = AimdLimiter(max_limit=2)
        await lim.acquire()
        await lim.acquire()
        third = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        assert not third.done() and lim.in_flight == 2
        lim.release()
        await asyncio.sleep(0)
        assert third.done() and lim.in_flight == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("release_first", [False, True])
def test_a_cancelled_waiter_leaves_no_trace(release_first: bool) -> None:
    # release_first: the waiter's future is cancelled with its task, and a release pops it
    # before the task runs its handler (seen at shutdown with thousands waiting: ValueError).
    async def scenario() -> None:
        lim = AimdLimiter(max_limit=1)
        await lim.acquire()
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        if release_first:
            lim.release()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        if not release_first:
            lim.release()
        assert lim.in_flight == 0
        await asyncio.wait_for(lim.acquire(), 1)  # not stuck behind the dead entry
        assert lim.in_flight == 1

    asyncio.run(scenario())


def test_waiters_are_served_by_priority_so_a_retry_keeps_its_place() -> None:
    # An event that asked first and retries must not queue behind every event read since:
    # its partition commits nothing until it is done.
    async def scenario() -> None:
        lim = AimdLimiter(max_limit=1)
        await lim.acquire()
        order: list[str] = []

        async def call(name: str, priority: float) -> None:
            await lim.acquire(priority)
            order.append(name)
            lim.release()

        later = [asyncio.ensure_future(call(f"later-{i}", 10.0 + i)) for i in range(3)]
        await asyncio.sleep(0)
        retry = asyncio.ensure_future(call("retry-of-first", 1.0))
        await asyncio.sleep(0)
        lim.release()
        await asyncio.gather(retry, *later)
        assert order == ["retry-of-first", "later-0", "later-1", "later-2"]

    asyncio.run(scenario())


def test_a_hold_releases_waiters_when_it_ends() -> None:
    async def scenario() -> None:
        lim = AimdLimiter(max_limit=4)
        lim.observe(Headroom(requests=0, tokens=None, reset_in_s=0.05), tokens_per_call=1)
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()  # held: nothing in flight could release it
        await asyncio.wait_for(waiter, 5)
        assert lim.in_flight == 1

    asyncio.run(scenario())


def test_limits_must_be_a_range() -> None:
    with pytest.raises(ValueError):
        AimdLimiter(max_limit=2, min_limit=3)
