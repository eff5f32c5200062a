"""The six measurements, a module each. Each returns a plain dict that goes into the JSON as it is."""

from bench.scenarios.context import Ctx, Sizes
from bench.scenarios.latency_added import latency
from bench.scenarios.llm import llm_bound
from bench.scenarios.memory import memory_and_profile
from bench.scenarios.overhead import throughput
from bench.scenarios.scaling import scale_out

__all__ = ["Ctx", "Sizes", "latency", "llm_bound", "memory_and_profile", "scale_out", "throughput"]
