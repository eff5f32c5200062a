"""What the runner's collaborators share about the service as a whole: stopping, or done for."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Status"]


@dataclass(slots=True)
class Status:
    """Written by whoever finds out, read by the loop, the rebalance and the transaction."""

    #: A graceful stop was asked for (SIGTERM): take nothing new, drain, commit, leave.
    stopping: bool = False
    #: Why exactly-once cannot continue; the loop raises ``Fatal`` with it at its next poll.
    fatal: str | None = None
    #: The LLM refused our credentials: consumption stays paused until an operator restarts.
    auth_failure: str | None = None
