"""What the service shows about itself: metrics, health and logs.

``metrics`` defines every metric once; ``histogram`` is the batch histogram the hot path
observes into; ``health`` answers /healthz and /readyz and serves them with /metrics; ``logs``
writes JSON lines or text. The generators, the judge, the selection, the runner and the
commands import this layer; it imports nothing above it, only the vocabulary and
``consumer.redact`` (the redaction kinds that label its counters) (tests/unit/test_layers.py
keeps it so).
"""
