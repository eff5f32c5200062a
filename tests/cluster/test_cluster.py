"""Faults on a three-broker cluster (RF 3, min ISR 2) while two instances work; afterwards
the read_committed checker of tests/faults: exactly two cards per qualifying event, none for
the rest, no duplicate card_id, every poison record dead-lettered once, input offsets
committed to the end.

Kafka's own transactions_test.py bounces brokers hard and clean, then checks output against
input; Jepsen found aborted reads and lost writes in transactions under such faults.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testkit.produce import BackgroundProducer, Sent
from tests.cluster.conftest import Cluster
from tests.cluster.watch import Watch
from tests.faults.report import figures
from tests.integration.harness import Service, Topics, check_exactly_once, read_output

pytestmark = [pytest.mark.faults, pytest.mark.partitions(6)]

N = 3000  # events per scenario; with POISON_EVERY, 60 poison records among them
POISON_EVERY = 50
OVER_S = 20.0  # produced over this long, so every fault lands while the service works
ENV = {
    "SELFTAUGHT_MAX_IN_FLIGHT": "300",
    "SELFTAUGHT_MAX_IN_FLIGHT_PER_PARTITION": "60",
    "SELFTAUGHT_LOG_LEVEL": os.environ.get("FAULT_LOG_LEVEL", "INFO"),
}


@contextmanager
def working(
    cluster: Cluster, t: Topics, tmp_path: Path, seed: int, over_s: float = OVER_S
) -> Iterator[tuple[list[Service], Watch, BackgroundProducer]]:
    """Two instances at work on a stream produced meanwhile, watched; stopped at the end."""
    producing = BackgroundProducer(cluster.stack, t, N, over_s, POISON_EVERY, seed=seed)
    services = [
        Service(cluster.stack, t, tmp_path, instance_id=i, env=ENV).start() for i in ("a", "b")
    ]
    watch = Watch(cluster.stack, t, services)
    producing.start()
    watch.start()
    time.sleep(5)  # both in the group, records flowing
    try:
        yield services, watch, producing
    finally:
        stop(watch, services)


def stop(watch: Watch, services: list[Service]) -> None:
    """The watch, then every instance still running: none is left running, whatever failed."""
    try:
        watch.stop()
    finally:
        for s in services:
            if s.proc is not None and s.proc.poll() is None:
                s.stop()


def finish(cluster: Cluster, t: Topics, services: list[Service], timeout: float = 300) -> float:
    """Wait until the input is committed to its end; restart a dead instance (as Kubernetes
    would) so the checker still runs, and let the scenario judge the exit."""
    from testkit.offsets import wait_until_committed

    started = time.monotonic()
    while True:
        for s in services:
            if s.proc is not None and s.proc.poll() is not None:
                s.start()
        try:
            wait_until_committed(cluster.stack, t, timeout=10)
            return time.monotonic() - started
        except AssertionError:
            if time.monotonic() - started > timeout:
                raise


def check(scenario: str, cluster: Cluster, t: Topics, sent: Sent, took: float, w: Watch) -> None:
    out = read_output(cluster.stack, t)
    figures(scenario, sent, out, took, w.line())
    check_exactly_once(out, sent)


def busiest(cluster: Cluster, topic: str) -> int:
    """The node leading the most partitions of the topic."""
    return Counter(cluster.leaders(topic).values()).most_common(1)[0][0]


def test_leader_of_the_busiest_partitions_killed_and_restarted(
    cluster: Cluster, topics: Topics, tmp_path: Path
) -> None:
    with working(cluster, topics, tmp_path, seed=41) as (services, watch, producing):
        node = busiest(cluster, topics.input)
        cluster.kill(node)
        time.sleep(15)
        cluster.start(node)
        sent = producing.finish()
        took = finish(cluster, topics, services)
    check(f"SIGKILL leader node {node} 15s", cluster, topics, sent, took, watch)


def test_transaction_coordinator_of_an_instance_killed(
    cluster: Cluster, topics: Topics, tmp_path: Path
) -> None:
    with working(cluster, topics, tmp_path, seed=42) as (services, watch, producing):
        node = cluster.transaction_coordinator(f"{topics.group}-a")
        cluster.kill(node)
        time.sleep(20)
        cluster.start(node)
        sent = producing.finish()
        took = finish(cluster, topics, services)
    check(f"SIGKILL txn coordinator node {node} 20s", cluster, topics, sent, took, watch)


def test_clean_rolling_restart_makes_no_instance_exit(
    cluster: Cluster, topics: Topics, tmp_path: Path
) -> None:
    # The routine operation: each broker shut down cleanly and started again, one at a time.
    # librdkafka's send_offsets_to_transaction can wait for ever for a coordinator that shut
    # down cleanly (librdkafka#5511); the service must neither exit nor stall for long.
    with working(cluster, topics, tmp_path, seed=43, over_s=60) as (services, watch, producing):
        for node in range(1, 4):
            cluster.stop(node)
            time.sleep(3)
            cluster.start(node)
            time.sleep(3)
        sent = producing.finish()
        took = finish(cluster, topics, services)
        exits = list(watch.exits)
    check("clean rolling restart x3", cluster, topics, sent, took, watch)
    assert exits == [], f"instances exited during a rolling restart: {exits}"
    assert all(s.starts == 1 for s in services)


def test_a_broker_frozen_past_its_session_then_resumed(
    cluster: Cluster, topics: Topics, tmp_path: Path
) -> None:
    with working(cluster, topics, tmp_path, seed=44) as (services, watch, producing):
        node = busiest(cluster, topics.input)
        cluster.pause(node)  # past broker.session.timeout.ms (9 s): fenced, leaders move
        try:
            time.sleep(15)
        finally:
            cluster.resume(node)
        sent = producing.finish()
        took = finish(cluster, topics, services)
    check(f"SIGSTOP node {node} 15s", cluster, topics, sent, took, watch)


def test_two_of_three_brokers_down_the_service_waits_and_resumes(
    cluster: Cluster, topics: Topics, tmp_path: Path
) -> None:
    # Below min.insync.replicas (and the controller quorum) nothing can commit: the instances
    # wait, and nothing partial is visible (the checker); they resume when the nodes are back.
    with working(cluster, topics, tmp_path, seed=45) as (services, watch, producing):
        cluster.kill(2)
        cluster.kill(3)
        time.sleep(20)
        alive = [s.instance_id for s in services if s.proc is not None and s.proc.poll() is None]
        cluster.start(2, 3)
        sent = producing.finish()
        took = finish(cluster, topics, services)
    check("SIGKILL two of three 20s", cluster, topics, sent, took, watch)
    assert alive == ["a", "b"], "the instances must wait out the outage"
