"""The real stack for integration tests: Kafka and the registry, started once per session.

``bash deploy/local/stack.sh up`` is idempotent, so a stack that is already running (the
README's test command starts it) is reused. Point at another cluster with
``SELFTAUGHT_TEST_BOOTSTRAP`` and ``SELFTAUGHT_TEST_REGISTRY``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.anthropic_server import FakeAnthropic
from tests.integration.harness import Stack, Topics, create_topics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    bootstrap = os.environ.get("SELFTAUGHT_TEST_BOOTSTRAP")
    registry = os.environ.get("SELFTAUGHT_TEST_REGISTRY")
    if not bootstrap:
        # The same port variables as deploy/local/stack.sh, so a second stack can run beside.
        subprocess.run(["bash", str(ROOT / "deploy/local/stack.sh"), "up"], check=True)
        bootstrap = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
        registry = f"http://127.0.0.1:{os.environ.get('REGISTRY_PORT', '8081')}/apis/ccompat/v7"
    assert registry, "set SELFTAUGHT_TEST_REGISTRY with SELFTAUGHT_TEST_BOOTSTRAP"
    yield Stack(bootstrap=bootstrap, registry=registry)


@pytest.fixture
def topics(stack: Stack, request: pytest.FixtureRequest) -> Topics:
    """Fresh topics and a fresh group for one test (3 input partitions unless marked)."""
    marker = request.node.get_closest_marker("partitions")
    partitions = marker.args[0] if marker else 3
    t = Topics.fresh("t", partitions)
    create_topics(stack, t)
    return t


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropic]:
    """One fake Messages API per test module (a module that configures its own defines its
    own ``fake``)."""
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    """The module's fake, with no rule or request left from the test before."""
    server.reset()
    yield server
    server.reset()
