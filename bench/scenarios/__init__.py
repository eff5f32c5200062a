"""The six measurements, a module each. Each returns a plain dict that goes into the JSON as it is."""

from bench.scenarios.context import Ctx, Sizes
from bench.scenarios.latency import latency
from bench.scenarios.llm import llm_bound
from bench.scenarios.memory import memory_and_profile
from bench.scenarios.scale_out import scale_out
from bench.scenarios.throughput import throughput

__all__ = ["Ctx", "Sizes", "latency", "llm_bound", "memory_and_profile", "scale_out", "throughput"]
