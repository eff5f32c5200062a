"""The local stack's addresses, fresh topics on it, and a process's readings from ``/proc``."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

__all__ = [
    "ROOT",
    "Stack",
    "Topics",
    "create_topics",
    "free_port",
    "local_bootstrap",
    "proc_cpu_s",
    "proc_status_kib",
    "service_env",
]

ROOT = Path(__file__).resolve().parents[1]
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stack:
    bootstrap: str
    registry: str


def local_bootstrap(port: int, brokers: int = 1, host: str = "127.0.0.1") -> str:
    """The bootstrap list of deploy/local/stack.sh's nodes: node i listens on port + 2(i-1)."""
    return ",".join(f"{host}:{port + 2 * i}" for i in range(brokers))


@dataclass(frozen=True)
class Topics:
    input: str
    output: str
    dlq: str
    group: str
    partitions: int

    @staticmethod
    def fresh(tag: str, partitions: int) -> Topics:
        """New names for one test or benchmark run: the input, its outputs and the group."""
        name = f"{tag}-{uuid.uuid4().hex[:8]}"
        return Topics(
            input=f"{name}.trace-events",
            output=f"{name}.memory-cards",
            dlq=f"{name}.trace-events.dlq",
            group=f"{name}-calibrator",
            partitions=partitions,
        )


def create_topics(stack: Stack, t: Topics, input_config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    futs = admin.create_topics(
        [
            NewTopic(
                t.input, t.partitions, config=input_config or {"max.message.bytes": "8388608"}
            ),
            NewTopic(t.output, t.partitions),
            NewTopic(t.dlq, 1, config={"max.message.bytes": "16777216"}),
        ],
        operation_timeout=30,
    )
    for f in futs.values():
        f.result()


def proc_status_kib(pid: int, name: str) -> int | None:
    """A ``/proc/<pid>/status`` field in KiB (VmRSS, VmHWM); ``None`` once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def same_cpu_weight(pid: int) -> None:
    """Give the session ``pid`` leads the scheduling weight of this process's session.

    With Linux's autogroup scheduling the CPUs are shared between sessions first, each with
    the niceness of its group (``/proc/PID/autogroup``, 0 when made), whatever its processes'
    own: a process started in a session of its own would otherwise weigh as much as the whole
    session that started it, or more when that one was lowered. Nothing where the kernel has
    no autogroups, or where a raise is refused.
    """
    with contextlib.suppress(OSError, ValueError):
        niceness = int(Path("/proc/self/autogroup").read_text().split()[-1])
        if niceness != 0:
            Path(f"/proc/{pid}/autogroup").write_text(f"{niceness}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(stack: Stack, t: Topics, instance_id: str, http_port: int) -> dict[str, str]:
    """The environment of ``python -m consumer run`` on these topics (rules generator), with
    this process's environment minus any SELFTAUGHT_/ANTHROPIC_ settings of its own."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SELFTAUGHT_", "ANTHROPIC_"))},
        "SELFTAUGHT_BOOTSTRAP_SERVERS": stack.bootstrap,
        "SELFTAUGHT_SCHEMA_REGISTRY_URL": stack.registry,
        "SELFTAUGHT_INPUT_TOPIC": t.input,
        "SELFTAUGHT_OUTPUT_TOPIC": t.output,
        "SELFTAUGHT_DLQ_TOPIC": t.dlq,
        "SELFTAUGHT_GROUP_ID": t.group,
        "SELFTAUGHT_INSTANCE_ID": instance_id,
        "SELFTAUGHT_HTTP_PORT": str(http_port),
        "SELFTAUGHT_LOG_FORMAT": "json",
        "SELFTAUGHT_LLM_BACKEND": "rules",
    }
