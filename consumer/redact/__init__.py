"""Pure: untrusted trace text made safe to send to an LLM and to put in a card.

Cards end up in other agents' prompts, and the same text goes to the model that writes the
wrong evaluation, so what a trace carries must not travel on: secrets and key- or
token-like strings, e-mail addresses, home-directory paths, identity numbers, text that
reads as instructions to a model, and code that reads as a command to run. Each is replaced
by a marker (``[redacted:email]``, ``[redacted:instruction]``, ...). What only looks like a
trigger (a log line ``system: query timed out``, ``confidence=1.0``, a method called
``retrieval(``) keeps its meaning and loses its form (``[system] query timed out``): a
situation that is mostly markers teaches nothing.

The table is ours, written against what MemoryCI's immune scan rejects
(``purpose_agent/immune.py``) and the formats of the major providers' keys; detect-secrets
was measured against it (bench/README.md): it finds the keys this table finds and none of the
rest (addresses, paths, instructions, code), at about fifty times the CPU per event. ``unsafe`` is the final check the pipeline and the generators apply: what
would still fail the scan after redaction.
"""

from __future__ import annotations

from consumer.redact.patterns import KINDS
from consumer.redact.safe import SafeEvent, safe_event, safe_wrong
from consumer.redact.scan import card_text, unsafe
from consumer.redact.text import Redacted, redact

__all__ = [
    "KINDS",
    "Redacted",
    "SafeEvent",
    "card_text",
    "redact",
    "safe_event",
    "safe_wrong",
    "unsafe",
]
