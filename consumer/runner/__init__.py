"""The Kafka edge and the runner: the loop and the collaborators that own its state.

``kafka`` makes the clients and turns records into values and outcomes into records (the
dead letters' headers included); ``loop`` drives the rest, built by ``wiring`` (see loop.py
and docs/architecture.md). The layer imports the pipeline, the selection's seam, the observation
and the layers beneath them, never the commands (tests/unit/test_layers.py keeps it so).
"""

from consumer.runner.loop import Runner
from consumer.runner.window import TP, Batch, Entry

__all__ = ["TP", "Batch", "Entry", "Runner"]
