"""The runner: the loop and the collaborators that own its state (see loop.py)."""

from consumer.runner.loop import Runner
from consumer.runner.window import TP, Batch, Entry

__all__ = ["TP", "Batch", "Entry", "Runner"]
