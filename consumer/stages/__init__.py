"""The pure stages of one record: plain values in, plain values out, nothing waits.

``qualify`` decides which events qualify (kind, delta, scale, sampling), ``validate`` whether a
proposed pair is a real contrast, ``cards`` turns a pair into its two memory cards, ids
included. The stages that are packages of their own sit beside this one (``redact/``) or above
it (``selection/``, ``generate/``, ``judge/``), and ``consumer.pipeline`` composes them all.
The layer imports only the vocabulary (``consumer.errors``, ``consumer.events``), never the
wire, the observation, the runner or the commands (tests/unit/test_layers.py keeps it so).
"""
