"""Pure: tokens to dollars, and the rolling spend an optional hourly cap is held against.

Prices are estimates from settings (USD per million tokens); the bill is the truth. The cap
is checked before each call and every admitted call reserves an estimate of its cost until
its real usage is known, so concurrent calls cannot all slip under the cap together.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from consumer.settings_llm import LlmSettings


# Prices and Tokens name the same four kinds of token, and settings_llm.TextLimits has their
# shape: kept as three records because they hold three units (USD per million, counts,
# characters), and a type of its own keeps one from being passed for another.
@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens, per kind (defaults: Claude Sonnet 4.5 list prices)."""

    input: float = 3.0
    output: float = 15.0
    cache_read: float = 0.30
    cache_write: float = 3.75


def generator_prices(s: LlmSettings) -> Prices:
    """The generator's model's prices, as the settings give them (the eval's critic, on the
    same model by default, is priced alike)."""
    return Prices(
        input=s.llm_price_input_per_mtok,
        output=s.llm_price_output_per_mtok,
        cache_read=s.llm_price_cache_read_per_mtok,
        cache_write=s.llm_price_cache_write_per_mtok,
    )


@dataclass(frozen=True, slots=True)
class Tokens:
    """One response's ``usage``."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
        )

    def cost(self, prices: Prices) -> float:
        return (
            self.input * prices.input
            + self.output * prices.output
            + self.cache_read * prices.cache_read
            + self.cache_write * prices.cache_write
        ) / 1_000_000


class SpendMeter:
    """Estimated spend over a rolling window (an hour), against an optional cap.

    ``cap_usd`` 0 turns the cap off; the spend is still tracked. ``clock`` is injectable so
    tests can move time instead of waiting for it.
    """

    def __init__(
        self,
        *,
        cap_usd: float = 0.0,
        window_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        first_estimate_usd: float = 0.005,
    ) -> None:
        """
        :param cap_usd: the most spent in any window; 0: no cap, the spend is only tracked
        :param window_s: the rolling window the cap applies to
        :param clock: monotonic seconds (tests move it instead of waiting)
        :param first_estimate_usd: what a call is reserved at before any has been priced
        """
        self.cap_usd = cap_usd
        self.window_s = window_s
        self._clock = clock
        self._spent: deque[tuple[float, float]] = deque()
        self._total = 0.0
        self._reserved = 0.0
        # What one call costs, for reservations: starts from a guess, then follows the
        # recent calls (an exponential moving average).
        self.estimate_usd = first_estimate_usd

    def _expire(self) -> None:
        horizon = self._clock() - self.window_s
        while self._spent and self._spent[0][0] <= horizon:
            self._total -= self._spent.popleft()[1]
        if not self._spent:
            self._total = 0.0  # no float drift once the window is empty

    def spent(self) -> float:
        """Estimated USD spent in the window."""
        self._expire()
        return max(self._total, 0.0)

    def capped(self) -> bool:
        """True when no new call may start: spend plus reservations reach the cap."""
        return self.cap_usd > 0 and self.spent() + self._reserved >= self.cap_usd

    def until_room_s(self) -> float:
        """How long until the oldest spend leaves the window (a hint for sleeping)."""
        self._expire()
        if not self._spent:
            return 0.0
        return max(self._spent[0][0] + self.window_s - self._clock(), 0.0)

    def reserve(self) -> float:
        amount = self.estimate_usd if self.cap_usd > 0 else 0.0
        self._reserved += amount
        return amount

    def release(self, reserved: float) -> None:
        self._reserved = max(self._reserved - reserved, 0.0)

    def add(self, cost: float) -> None:
        """Record a call's estimated cost now; it counts until it leaves the window."""
        if cost <= 0:
            return
        self._spent.append((self._clock(), cost))
        self._total += cost
        self.estimate_usd = 0.8 * self.estimate_usd + 0.2 * cost
