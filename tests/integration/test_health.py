"""/healthz and /readyz against a running service, and secrets kept out of everything it shows."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from consumer import build, settings
from consumer.commands import app
from consumer.observe import metrics
from testkit.anthropic_server import FakeAnthropic
from testkit.offsets import wait_until_committed
from testkit.produce import produce_mixed
from tests.integration.harness import Service, Stack, Topics, free_port, read_output

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError as err:
        return 0, str(err)


def wait_for(port: int, path: str, code: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    got = (0, "")
    while time.monotonic() < deadline:
        got = get(port, path)
        if got[0] == code:
            return got[1]
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer {code} within {timeout}s: {got}")


def test_a_wedged_loop_fails_healthz_and_recovers(stack: Stack, topics: Topics) -> None:
    port = free_port()
    s = settings.load(
        {
            "SELFTAUGHT_BOOTSTRAP_SERVERS": stack.bootstrap,
            "SELFTAUGHT_SCHEMA_REGISTRY_URL": stack.registry,
            "SELFTAUGHT_INPUT_TOPIC": topics.input,
            "SELFTAUGHT_OUTPUT_TOPIC": topics.output,
            "SELFTAUGHT_DLQ_TOPIC": topics.dlq,
            "SELFTAUGHT_GROUP_ID": topics.group,
            "SELFTAUGHT_HTTP_PORT": str(port),
            "SELFTAUGHT_HEALTH_STUCK_AFTER_S": "2",
            "SELFTAUGHT_LLM_BACKEND": "rules",
        }
    )
    loop = asyncio.new_event_loop()
    runners: list[object] = []
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            loop.run_until_complete(
                app.serve(s, {}, health=metrics.Health(), on_runner=runners.append)
            )
        ),
        daemon=True,
    )
    thread.start()
    try:
        assert wait_for(port, "/readyz", 200, 60).strip() == "ready"
        assert get(port, "/healthz")[0] == 200
        # A bug that blocks the event loop: the loop stops polling, the HTTP thread notices.
        loop.call_soon_threadsafe(time.sleep, 6)
        body = wait_for(port, "/healthz", 503, 5)
        assert "has not polled" in body
        wait_for(port, "/healthz", 200, 10)  # unwedged, healthy again
        assert get(port, "/metrics")[0] == 200 and get(port, "/nope")[0] == 404
    finally:
        loop.call_soon_threadsafe(runners[0].request_stop)  # type: ignore[attr-defined]
        thread.join(60)
    assert result == [0]


def test_secrets_never_leave_the_process(stack: Stack, topics: Topics, tmp_path: Path) -> None:
    key = "sk-ant-SECRET-4c0ffee-never-log-me"
    sasl = "sasl-SECRET-hunter2"
    reg = "registry-SECRET-pw"
    sent = produce_mixed(stack, topics, 300, poison_every=100, seed=41)
    with FakeAnthropic() as fake:
        fake.then("bad_request", times=1, message="rejected request")
        service = Service(
            stack,
            topics,
            tmp_path,
            env={
                "SELFTAUGHT_LLM_BACKEND": "anthropic",
                "ANTHROPIC_API_KEY": key,
                "ANTHROPIC_BASE_URL": fake.base_url,
                "SELFTAUGHT_ANTHROPIC_MODEL": "claude-test",
                # Set but unused by a PLAINTEXT listener: librdkafka warns, nothing fails.
                "SELFTAUGHT_KAFKA_SASL_PASSWORD": sasl,
                "SELFTAUGHT_SCHEMA_REGISTRY_USER": "calibrator",
                "SELFTAUGHT_SCHEMA_REGISTRY_PASSWORD": reg,
                "SELFTAUGHT_LOG_LEVEL": "DEBUG",
            },
        ).start()
        try:
            wait_until_committed(stack, topics, timeout=120, services=[service])
            shown = [get(service.port, p)[1] for p in ("/metrics", "/readyz", "/healthz")]
        finally:
            service.stop()
    out = read_output(stack, topics)
    assert len(out.dead) >= len(sent.poison)
    headers = [v.decode("utf-8", "replace") for _, _, hs in out.dead for _, v in hs]
    logs = service.logs()
    assert "starting selftaught-consumer" in logs
    # What this run executes: the compiled pass of deploy/local/test.sh runs all hot modules
    # compiled, the checkout none.
    n = len(build.HOT_MODULES)
    compiled = n if os.environ.get("SELFTAUGHT_EXPECT_COMPILED") == "1" else 0
    assert re.search(rf'selftaught_build_info{{[^}}]*compiled="{compiled}/{n}"', shown[0])
    for secret in (key, sasl, reg):
        assert secret not in logs, "a secret reached the log"
        assert all(secret not in text for text in shown), "a secret reached an endpoint"
        assert all(secret not in h for h in headers), "a secret reached a dead letter"
