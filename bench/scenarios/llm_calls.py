"""The LLM points and the calls measured without the service: the sync SDK one call at a
time, the service's client alone, the per-call floor of the fake."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from bench.procs import FakeLLM
from bench.scenarios.context import Ctx

LLM_POINTS = ((16, 0.25), (64, 0.25), (256, 0.25), (16, 1.0), (64, 1.0), (256, 1.0), (64, 0.5))
#: The points measured again with the judge on (each is also in LLM_POINTS, for the ratio).
JUDGE_POINTS = ((64, 0.25), (256, 0.25), (64, 1.0))


def anthropic_env(fake: FakeLLM, concurrency: int, judge: bool = False) -> dict[str, str]:
    return {
        "SELFTAUGHT_LLM_BACKEND": "anthropic",
        "ANTHROPIC_API_KEY": "x",
        "ANTHROPIC_BASE_URL": fake.base_url,
        "SELFTAUGHT_LLM_MAX_CONCURRENCY": str(concurrency),
        "SELFTAUGHT_DRAIN_TIMEOUT_S": "1",
        **({"SELFTAUGHT_JUDGE_BACKEND": "anthropic"} if judge else {}),
    }


def _sample_request() -> tuple[Any, str]:
    """The system blocks and user message the service would send for one sample event."""
    from consumer.events import MistakeType, ScoreData, ScoreEvent
    from consumer.generate.anthropic_prompt import system_prompt, user_prompt
    from consumer.settings_llm import TextLimits
    from consumer.stages.qualify import Scale

    scale = Scale(0, 10)
    event = ScoreEvent(
        "sample-1",
        "trace-sample",
        "Make the failing billing test pass without touching its assertions",
        1,
        int(time.time() * 1000),
        "agent-bench",
        ScoreData("3 tests failing", "edit_file", "1 test failing", 3.0, 6.0, "Two fixed."),
    )
    system = [
        {"type": "text", "text": system_prompt(scale, 1.0), "cache_control": {"type": "ephemeral"}}
    ]
    return system, user_prompt(event, MistakeType.SYCOPHANCY, scale, 1.0, TextLimits())


def sequential(
    ctx: Ctx, fake: FakeLLM, latency_s: float, seconds: float | None = None
) -> dict[str, Any]:
    """One call at a time, as the seed did: the same SDK and request, against the fake."""
    import anthropic

    fake.reset(latency_s)
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="x", max_retries=0)
    system, user = _sample_request()
    calls = 0
    for _ in range(3):  # connection set-up and first-call costs are not the loop's
        _seq_call(client, system, user)
    started = time.monotonic()
    while time.monotonic() - started < (seconds or ctx.sizes.seq_s) or calls < 3:
        _seq_call(client, system, user)
        calls += 1
    elapsed = time.monotonic() - started
    client.close()
    return {
        "latency_s": latency_s,
        "calls": calls,
        "ideal_calls_per_s": round(1 / latency_s, 3) if latency_s else None,
        "seconds": round(elapsed, 2),
        "calls_per_s": round(calls / elapsed, 3),
    }


def sdk_alone(
    fake: FakeLLM, concurrency: int, latency_s: float, seconds: float = 4.0
) -> dict[str, Any]:
    """The SDK by itself (the service's client, aiohttp transport, the answer read as the
    service reads it) keeping ``concurrency`` calls in flight against the fake, in this
    process: no Kafka, no pipeline. What one Python process's event loop gets through the
    SDK at this point is the ceiling the service's figure is read against."""
    import asyncio

    from consumer.generate.anthropic import sdk_client
    from consumer.generate.anthropic_reply import read_answer

    fake.reset(latency_s)
    request = _request(*_sample_request())

    async def run() -> tuple[list[float], float]:
        client = sdk_client(60.0, base_url=fake.base_url, api_key="x")
        durations: list[float] = []
        counting = False
        stop_at = time.monotonic() + 1.0 + latency_s + seconds

        async def worker() -> None:
            while time.monotonic() < stop_at:
                counted, started = counting, time.monotonic()
                raw = await client.messages.with_raw_response.create(**request)
                read_answer(await raw.json())
                if counted:
                    durations.append(time.monotonic() - started)

        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        await asyncio.sleep(1.0 + latency_s)  # warm-up: connections, first calls
        counting, cpu0 = True, time.process_time()
        await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu0
        await client.close()
        return durations, cpu

    durations, cpu = asyncio.run(run())
    # Every worker always has a call in flight, so by Little's law the rate is concurrency
    # over the mean call time: exact in a steady state, where counting calls in a window
    # would be off by up to a whole wave of the fake's fixed-latency answers.
    mean_s = statistics.fmean(durations) if durations else math.inf
    rate = concurrency / mean_s
    return {
        "calls_per_s": round(rate, 1),
        "pct_of_ideal": round(100 * rate / (concurrency / latency_s), 1),
        "mean_call_ms": round(1000 * mean_s, 1),
        "cpu_ms_per_call": round(1000 * cpu / max(len(durations), 1), 2),
    }


def _request(system: Any, user: str) -> dict[str, Any]:
    """The Messages API arguments of one call, as the service makes it."""
    from consumer.generate.anthropic_prompt import ANSWER_SCHEMA

    return {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1024,
        "system": system,
        "messages": [{"role": "user", "content": user}],
        "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    }


def _seq_call(client: Any, system: Any, user: str) -> None:
    client.messages.create(**_request(system, user))


def call_floor(ctx: Ctx, fake: FakeLLM) -> dict[str, Any]:
    """What one call costs the SDK and the fake at zero latency: the part of 'ideal' no
    service can reach. Also with Nagle's algorithm on (the fake before 9e1e4ba), for the
    record."""
    nodelay = sequential(ctx, fake, 0.0, seconds=2.0)
    shipped = FakeLLM(ctx.log_dir, nagle=True)
    ctx.cpu.mark(shipped.proc.pid, "fake anthropic (nagle)")
    try:
        nagle = sequential(ctx, shipped, 0.0, seconds=2.0)
    finally:
        shipped.stop()
    return {
        "ms_per_call_tcp_nodelay": round(1000 * nodelay["seconds"] / nodelay["calls"], 2),
        "ms_per_call_with_nagle": round(1000 * nagle["seconds"] / nagle["calls"], 2),
    }
