"""One exception hierarchy; each branch says how the service recovers from it.

- ``BadRecord`` and its subclasses: the record itself is at fault. It is dead-lettered with
  its stage and reason, in the same transaction as its offset, and the partition moves on.
- ``Retryable``: something outside the record is unavailable (the registry). The record
  waits and is tried again with backoff; it is never dead-lettered for an outage. (An LLM
  that is throttled or down is retried inside the generator, within its time budget.)
- ``AuthFailure``: credentials are wrong. Consumption stops, offsets stay where they are.
- ``Fatal``: this process can no longer keep the exactly-once promise (fenced, producer
  dead). It exits non-zero and the orchestrator restarts it.
- ``ConfigError``: a setting is wrong; the process refuses to start.
- ``TimedOut``: a command (the demo) waited on the cluster past its bound; it says what it
  waited for and ends.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AuthFailure",
    "BadRecord",
    "ConfigError",
    "CredentialsRefused",
    "DecodeError",
    "Fatal",
    "GenerationFailed",
    "InvalidEvent",
    "RegistryUnavailable",
    "Retryable",
    "SelftaughtError",
    "Stage",
    "TimedOut",
]

Stage = Literal["decode", "validate", "generate"]


class SelftaughtError(Exception):
    """Root of every error this service raises on purpose."""


class ConfigError(SelftaughtError):
    """A setting is invalid. ``lines`` holds one human-readable line per mistake."""

    def __init__(self, *, lines: list[str]) -> None:
        """:param lines: one line per mistake, each shown on its own at start"""
        super().__init__("; ".join(lines))
        self.lines = lines


class BadRecord(SelftaughtError):
    """The record cannot become a pair: dead-letter it and move on.

    ``reason`` is a short, stable snake_case code (it becomes the
    ``selftaught.error.class`` header and a metric label, so the set stays small).
    """

    stage: Stage = "decode"

    def __init__(self, *, reason: str, message: str) -> None:
        """
        :param reason: the short, stable code (a header and a metric label)
        :param message: what was wrong, for the dead letter's header and the log
        """
        super().__init__(message)
        self.reason = reason
        self.message = message


class DecodeError(BadRecord):
    """The bytes are not a TraceEvent we can read (wire format, schema id, Avro)."""

    stage: Stage = "decode"


class InvalidEvent(BadRecord):
    """A schema-valid event whose content breaks the contract (NaN, off-scale, too large)."""

    stage: Stage = "validate"


class GenerationFailed(BadRecord):
    """The generator could not produce a valid contrast for this event, for good."""

    stage: Stage = "generate"


class Retryable(SelftaughtError):
    """A dependency is unavailable for now; whoever waits on it backs off and tries again."""


class RegistryUnavailable(Retryable):
    """The schema registry did not answer, or answered with a server error."""


class AuthFailure(SelftaughtError):
    """Credentials were refused (401/403). The service stops consuming and goes not-ready."""


class Fatal(SelftaughtError):
    """The process must exit; a restart (with the same transactional.id) recovers."""


class CredentialsRefused(Fatal):
    """Kafka or the schema registry refused our credentials: waiting will not fix it."""


class TimedOut(SelftaughtError):
    """A command waited on the cluster past its bound; the message says what for."""
