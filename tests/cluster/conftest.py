"""A three-broker cluster of its own for tests/cluster: ``deploy/local/stack.sh --brokers 3``.

Every topic replicated three times with ``min.insync.replicas`` 2, the transaction state log
and the offsets topic likewise (stack.sh sets that from three nodes on). Started once for the
session on free ports, with its state under pytest's tmp, and torn down at the end; the
one-node stack of the other suites is left alone. ``SELFTAUGHT_TEST_CLUSTER=env`` uses the
ports and state dir of this environment's variables instead (KAFKA_PORT, REGISTRY_PORT,
SELFTAUGHT_STACK_DIR) and leaves the cluster running, to iterate on a scenario.

These scenarios take minutes, so they run as their own step of deploy/local/test.sh
(``SELFTAUGHT_CLUSTER_TESTS=1 python -m pytest tests/cluster``); elsewhere they are skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from tests.integration.conftest import topics  # noqa: F401  (fresh topics on this cluster)
from tests.integration.harness import ROOT, Stack, free_port

STACK_SH = ROOT / "deploy/local/stack.sh"
BROKERS = 3
TXN_LOG = "__transaction_state"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SELFTAUGHT_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="three-broker scenarios: SELFTAUGHT_CLUSTER_TESTS=1")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_run(n: int) -> int:
    """The first of n consecutive free ports (a broker and a controller port per node)."""
    for _ in range(200):
        base = free_port()
        if all(_port_free(base + i) for i in range(n)):
            return base
    raise RuntimeError(f"no {n} consecutive free ports")


@dataclass
class Cluster:
    """The cluster's addresses and its nodes' lifecycle (node i has node.id i)."""

    stack: Stack
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def cmd(self, *args: str) -> None:
        self.log.append(" ".join(args))
        subprocess.run(["bash", str(STACK_SH), *args], env=self.env, check=True, timeout=600)

    def stop(self, *nodes: int) -> None:
        """A clean shutdown (SIGTERM, controlled: leaders move first); data kept."""
        self.cmd("stop-kafka", *map(str, nodes))

    def start(self, *nodes: int) -> None:
        """Start the nodes on their data and wait until they answer."""
        self.cmd("start-kafka", *map(str, nodes))

    def kill(self, node: int) -> None:
        self.cmd("kill-kafka", str(node))

    def pause(self, node: int) -> None:
        self.cmd("pause-kafka", str(node))

    def resume(self, node: int) -> None:
        self.cmd("resume-kafka", str(node))

    def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> the node leading it now."""
        admin = AdminClient({"bootstrap.servers": self.stack.bootstrap})
        meta = admin.list_topics(topic, timeout=15).topics[topic]
        return {p: part.leader for p, part in meta.partitions.items()}

    def transaction_coordinator(self, transactional_id: str) -> int:
        """The node coordinating a transactional id: the leader of its transaction state log
        partition (Kafka picks abs(String.hashCode) mod the log's partition count)."""
        h = 0
        for ch in transactional_id:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        leaders = self.leaders(TXN_LOG)
        return leaders[(h & 0x7FFFFFFF) % len(leaders)]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.environ.get("SELFTAUGHT_TEST_CLUSTER") == "env":
        env = dict(os.environ)
        own = False
    else:
        registry = free_port()
        while not _port_free(registry + 1000):
            registry = free_port()
        kafka = _free_run(2 * BROKERS)
        env = {
            **os.environ,
            "KAFKA_PORT": str(kafka),
            "KAFKA_CONTROLLER_PORT": str(kafka + 1),
            "REGISTRY_PORT": str(registry),
            "SELFTAUGHT_STACK_DIR": str(tmp_path_factory.mktemp("cluster-stack")),
        }
        own = True
    env["KAFKA_BROKERS"] = str(BROKERS)
    # A node restarted mid-test replays its log and catches up on two others' replication:
    # on a busy two-core machine that took over stack.sh's default 120 s.
    env.setdefault("STACK_TIMEOUT", "300")
    subprocess.run(["bash", str(STACK_SH), "up"], env=env, check=True, timeout=900)
    bootstrap = subprocess.run(
        ["bash", str(STACK_SH), "bootstrap"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    registry_url = f"http://127.0.0.1:{env.get('REGISTRY_PORT', '8081')}/apis/ccompat/v7"
    try:
        yield Cluster(Stack(bootstrap=bootstrap, registry=registry_url), env)
    finally:
        if own:
            subprocess.run(["bash", str(STACK_SH), "down"], env=env, check=False, timeout=300)


@pytest.fixture(scope="session")
def stack(cluster: Cluster) -> Stack:
    """The integration fixtures' stack, here the cluster (so ``topics`` makes its topics)."""
    return cluster.stack
