"""Kafka over SASL/SCRAM-SHA-512 with TLS, and registry basic auth, configured by env only.

The stack is this package's own (see conftest.py): its broker has a SASL_SSL listener with a
certificate from a CA made here, its registry wants HTTP basic auth.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.offsets import committed, wait_until_committed
from testkit.produce import produce_mixed
from tests.integration.harness import Service, Stack, Topics, check_exactly_once, read_output
from tests.security.conftest import SecureStack

pytestmark = [pytest.mark.integration, pytest.mark.security]


def _lines(service: Service) -> list[dict[str, object]]:
    return [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]


def _http_status(url: str, auth: tuple[str, str] | None = None) -> int:
    req = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_service_is_exactly_once_over_sasl_ssl_with_registry_basic_auth(
    secure_stack: SecureStack, stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    sent = produce_mixed(stack, topics, 600, poison_every=200, seed=5)
    service = Service(stack, topics, tmp_path, env=secure_stack.service_env()).start()
    try:
        took = wait_until_committed(stack, topics, timeout=90, services=[service])
    finally:
        assert service.stop() == 0, service.logs()[-3000:]
    check_exactly_once(read_output(stack, topics), sent)
    lines = _lines(service)
    start = next(r for r in lines if r["msg"] == "starting selftaught-consumer")
    kafka = start["settings"]["kafka"]  # type: ignore[index]
    assert kafka["security.protocol"] == "SASL_SSL" and kafka["sasl.password"] == "***"
    assert not [r for r in lines if r["level"] == "error"]
    logs = service.logs()
    for secret in (secure_stack.kafka_password, secure_stack.registry_password):
        assert secret not in logs
    print(f"\n[sasl_ssl] {sent.total} records committed over SASL_SSL in {took:.1f}s")


def test_a_wrong_kafka_password_ends_the_process_with_one_clear_line(
    secure_stack: SecureStack, stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    wrong = "not-the-" + secure_stack.kafka_password
    env = {**secure_stack.service_env(), "SELFTAUGHT_KAFKA_SASL_PASSWORD": wrong}
    service = Service(stack, topics, tmp_path, env=env).start()
    started = time.monotonic()
    try:
        code = service.wait(60)
    finally:
        service.stop()
    took = time.monotonic() - started
    assert code == 1, service.logs()[-3000:]
    errors = [r for r in _lines(service) if r["level"] == "error"]
    assert len(errors) == 1, errors
    msg = str(errors[0]["msg"])
    assert "Kafka refused our credentials" in msg and "SASL authentication" in msg, msg
    logs = service.logs()
    assert wrong not in logs and secure_stack.kafka_password not in logs
    assert committed(stack, topics) in ({}, {p: -1001 for p in range(topics.partitions)})
    print(f"\n[sasl_ssl] wrong password: exit {code} after {took:.1f}s: {msg}")


def test_the_registry_refuses_requests_without_the_right_credentials(
    secure_stack: SecureStack,
) -> None:
    url = secure_stack.registry + "/subjects"
    user = secure_stack.registry_user
    assert _http_status(url) == 401
    assert _http_status(url, (user, "wrong-" + secure_stack.registry_password)) == 401
    assert _http_status(url, (user, secure_stack.registry_password)) == 200


def test_a_wrong_registry_password_fails_at_start_with_one_clear_line(
    secure_stack: SecureStack, stack: Stack, topics: Topics, tmp_path: Path
) -> None:
    # The service reaches the registry before Kafka (it registers the output schema). Refused
    # credentials are not an outage that waiting would end: one error line, exit code 1.
    wrong = "not-the-" + secure_stack.registry_password
    env = {**secure_stack.service_env(), "SELFTAUGHT_SCHEMA_REGISTRY_PASSWORD": wrong}
    service = Service(stack, topics, tmp_path, env=env).start()
    try:
        assert service.wait(60) == 1, service.logs()[-3000:]
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.proc.kill()
    logs = service.logs()
    assert wrong not in logs and secure_stack.registry_password not in logs
    errors = [r for r in _lines(service) if r["level"] == "error"]
    assert len(errors) == 1, errors
    assert "schema registry refused our credentials (401)" in str(errors[0]["msg"])
