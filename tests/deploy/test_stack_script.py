"""deploy/local/stack.sh as a new user meets it: a missing prerequisite stops it within seconds,
named on one line with where to get it, before any download; a failed start leaves nothing
running. Every run here uses its own state dir and free ports, beside any other stack."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import DEPLOY, ROOT

STACK_SH = DEPLOY / "local" / "stack.sh"
PROMPT = 15.0  # "within seconds": generous for a busy 2-core machine


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def stack_env(base: Path, **extra: str) -> dict[str, str]:
    kafka, controller, registry, management = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REGISTRY_"))}
    env.update(
        SELFTAUGHT_STACK_DIR=str(base / "state"),
        KAFKA_PORT=str(kafka),
        KAFKA_CONTROLLER_PORT=str(controller),
        REGISTRY_PORT=str(registry),
        REGISTRY_MANAGEMENT_PORT=str(management),
        STACK_TIMEOUT="400",
    )
    env.update(extra)
    return env


def run_stack(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(STACK_SH), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stderr, time.monotonic() - t0


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (a test's own temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def stack_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[stack]")]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    leftover = processes_mentioning(str(tmp_path))
    if leftover:  # clean up for the next test, then fail this one
        subprocess.run(["bash", str(STACK_SH), "down"], env=stack_env(tmp_path), check=False)
    assert not leftover, f"processes left running: {leftover}"


def maven_line_expected() -> bool:
    return shutil.which("mvn") is None


def test_a_missing_java_stops_up_before_any_download(base: Path) -> None:
    cache = base / "cache"
    cache.mkdir()
    env = stack_env(base, SELFTAUGHT_CACHE=str(cache), REGISTRY_JAVA=str(base / "no-java"))
    rc, err, took = run_stack(env, "up")
    assert rc != 0
    assert took < PROMPT, f"took {took:.1f}s"
    lines = stack_lines(err)
    java = [line for line in lines if "Java 21+" in line]
    assert len(java) == 1, err
    assert "REGISTRY_JAVA" in java[0] and "adoptium.net" in java[0]
    assert len(lines) == 1 + maven_line_expected(), err
    assert list(cache.iterdir()) == [], "something was downloaded"
    assert not (base / "state" / "run").exists(), "something was started"


def test_a_taken_port_is_named(base: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stack_env(base, SELFTAUGHT_CACHE=str(base / "cache"), KAFKA_CONTROLLER_PORT=str(port))
        rc, err, took = run_stack(env, "up")
    assert rc != 0
    assert took < PROMPT, f"took {took:.1f}s"
    lines = [line for line in stack_lines(err) if "Maven" not in line]
    assert len(lines) == 1, err
    assert f"port {port} (KAFKA_CONTROLLER_PORT)" in lines[0]
    assert not (base / "cache").exists(), "something was downloaded"


def test_each_missing_tool_is_named_on_its_own_line(base: Path) -> None:
    """A PATH with everything but curl and Maven, and an empty cache (so Maven is needed)."""
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = bin_dir / name
            if name not in ("curl", "mvn") and not target.exists():
                target.symlink_to(Path(d) / name)
    env = stack_env(base, SELFTAUGHT_CACHE=str(base / "cache"), PATH=str(bin_dir))
    rc, err, took = run_stack(env, "up")
    assert rc != 0
    assert took < PROMPT, f"took {took:.1f}s"
    lines = stack_lines(err)
    assert len(lines) == 2, err
    assert "missing: curl" in lines[0] and "apt-get install curl" in lines[0]
    assert "missing: Maven (mvn)" in lines[1] and "maven.apache.org" in lines[1]


def test_a_missing_python_stops_the_setup_before_a_virtualenv_is_made(base: Path) -> None:
    venv = base / "venv"
    env = {
        **os.environ,
        "PYTHON": str(base / "no-python"),
        "SELFTAUGHT_VENV": str(venv),
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", "-c", f"source {DEPLOY / 'local' / 'env.sh'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert time.monotonic() - t0 < PROMPT
    lines = stack_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Python 3.11+" in lines[0] and "set PYTHON" in lines[0]
    assert not venv.exists()


def test_a_failed_up_stops_what_it_started(base: Path) -> None:
    """Kafka starts, then the registry's JVM refuses its options: `up` fails, Kafka is stopped."""
    env = stack_env(base, REGISTRY_EXTRA_OPTS="-XX:+NoSuchOptionForThisTest")
    rc, err, _ = run_stack(env, "up", timeout=900)
    assert rc != 0
    assert "kafka: up at" in err, err  # it did get as far as starting Kafka
    assert "stopping what this run started (kafka registry)" in err, err
    assert processes_mentioning(str(base)) == []
    rc, _, _ = run_stack(env, "status")
    assert rc == 3


def free_port_block(n: int) -> int:
    """A port p with p..p+n-1 all free (a cluster's nodes take consecutive ports)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no block of {n} free ports")


def test_three_brokers_replicate_as_production_and_each_node_can_be_faulted(base: Path) -> None:
    """`--brokers 3` (here KAFKA_BROKERS=3, Kafka alone): every topic three copies, two in sync;
    one node paused, killed and restarted through the commands the fault tests use."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    port = free_port_block(6)
    env = stack_env(
        base, KAFKA_BROKERS="3", KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(port + 1)
    )
    try:
        rc, err, _ = run_stack(env, "start-kafka", timeout=600)
        assert rc == 0, err
        bootstrap = subprocess.run(
            ["bash", str(STACK_SH), "bootstrap"], env=env, capture_output=True, text=True
        ).stdout.strip()
        assert bootstrap == ",".join(f"127.0.0.1:{port + 2 * i}" for i in range(3))

        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("rf-default", num_partitions=3)])["rf-default"].result(60)
        topic = ConfigResource("topic", "rf-default")
        # The controller answers the create before every broker has the topic's metadata; the
        # describe goes to any broker, so it may say "unknown topic" for a moment.
        deadline = time.monotonic() + 30
        while True:
            try:
                described = admin.describe_configs([topic])[topic].result(30)
                break
            except KafkaException as e:
                if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                assert time.monotonic() < deadline, "rf-default unknown to a broker after 30 s"
                time.sleep(0.5)
        assert described["min.insync.replicas"].value == "2"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = admin.list_topics("rf-default", timeout=10).topics["rf-default"].partitions
            if parts and all(len(p.isrs) == 3 for p in parts.values()):
                break
            time.sleep(0.5)
        assert [sorted(p.replicas) for p in parts.values()] == [[1, 2, 3]] * 3
        broker = ConfigResource("broker", "1")
        conf = admin.describe_configs([broker])[broker].result(30)
        for key, want in {
            "default.replication.factor": "3",
            "offsets.topic.replication.factor": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
        }.items():
            assert conf[key].value == want, key

        def status() -> str:
            return subprocess.run(
                ["bash", str(STACK_SH), "status"], env=env, capture_output=True, text=True
            ).stdout

        assert run_stack(env, "pause-kafka", "2")[0] == 0
        assert re.search(r"^kafka-2 +paused", status(), re.M), status()
        assert run_stack(env, "resume-kafka", "2")[0] == 0
        assert run_stack(env, "kill-kafka", "3")[0] == 0
        assert re.search(r"^kafka-3 +stopped", status(), re.M), status()
        assert not [a for a in processes_mentioning(str(base)) if "kafka-server-3" in a]
        rc, err, _ = run_stack(env, "start-kafka", "3", timeout=300)
        assert rc == 0, err
        assert len(re.findall(r"^kafka-\d +running", status(), re.M)) == 3, status()
    finally:
        run_stack(env, "down", timeout=120)
