"""deploy/compose.yaml: parsed by Docker Compose itself, and consistent with the chart.

``docker-compose config`` (the Compose v2+ binary, built by deploy/local/helm-tools.sh) needs no
Docker engine: it loads, interpolates and validates the file against the Compose
specification. The stack cannot run here; what can be checked statically is that it names
the same ports, topics, settings and files as the chart and the service.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consumer import settings as service_settings
from consumer.runner import kafka as service_kafka
from tests.deploy import (
    DEPLOY,
    ROOT,
    chart_meta,
    chart_values,
    container,
    default_objects,
    env_values,
    tools,
    workload,
    yaml_module,
)

pytestmark = pytest.mark.timeout(1800)

COMPOSE_FILE = DEPLOY / "compose.yaml"


def _compose_config(*extra_env: tuple[str, str]) -> dict[str, Any]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env.update(dict(extra_env))
    proc = subprocess.run(
        [tools().docker_compose, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _compose_config()


def _env(compose: dict[str, Any]) -> dict[str, str]:
    env = compose["services"]["consumer"]["environment"]
    return {k: v for k, v in env.items() if v is not None}


def _duration_s(text: str) -> float:
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def test_the_file_parses_and_validates(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "kafka",
        "topics",
        "registry",
        "consumer",
        "prometheus",
        "grafana",
    }
    quiet = subprocess.run(
        [tools().docker_compose, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert quiet.returncode == 0, quiet.stderr


def test_the_service_environment_is_valid_and_the_charts(compose: dict[str, Any]) -> None:
    env = _env(compose)
    s = service_settings.load(env)  # what the container would do at start: no exit code 2
    config = chart_values()["config"]
    chart_env = env_values(default_objects())
    for var in (
        "SELFTAUGHT_INPUT_TOPIC",
        "SELFTAUGHT_OUTPUT_TOPIC",
        "SELFTAUGHT_DLQ_TOPIC",
        "SELFTAUGHT_GROUP_ID",
        "SELFTAUGHT_HTTP_PORT",
        "SELFTAUGHT_DRAIN_TIMEOUT_S",
    ):
        assert env[var] == chart_env[var], var
    assert s.http_port == config["httpPort"]
    assert s.schema_registry_url.endswith("/apis/ccompat/v7")
    # The API key passes through from the calling shell, and only when set there.
    assert "ANTHROPIC_API_KEY" not in env
    with_key = _compose_config(("ANTHROPIC_API_KEY", "sk-ant-test"))
    assert with_key["services"]["consumer"]["environment"]["ANTHROPIC_API_KEY"] == "sk-ant-test"


def test_ports_probes_and_shutdown_match_the_chart(compose: dict[str, Any]) -> None:
    svc = compose["services"]["consumer"]
    port = chart_values()["config"]["httpPort"]
    (published,) = svc["ports"]
    assert published["target"] == port and int(published["published"]) == port
    assert f"127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])
    readiness = container(default_objects())["readinessProbe"]["httpGet"]["path"]
    assert readiness == "/readyz"
    grace = workload(default_objects())["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert math.isclose(_duration_s(svc["stop_grace_period"]), grace)
    # Pod security, as far as Compose has it.
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
    assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]


def test_the_service_is_built_from_the_dockerfile_as_the_charts_image(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]["consumer"]
    assert svc["build"]["context"] == str(ROOT) and svc["build"]["dockerfile"] == "Dockerfile"
    values = chart_values()["image"]
    assert svc["image"] == f"{values['repository']}:{chart_meta()['appVersion']}"


def test_topics_are_the_services(compose: dict[str, Any]) -> None:
    script = compose["services"]["topics"]["command"][0]
    created = dict(re.findall(r"--topic (\S+) --partitions (\d+)", script))
    env = _env(compose)
    assert set(created) == {
        env["SELFTAUGHT_INPUT_TOPIC"],
        env["SELFTAUGHT_OUTPUT_TOPIC"],
        env["SELFTAUGHT_DLQ_TOPIC"],
    }
    assert int(created[env["SELFTAUGHT_INPUT_TOPIC"]]) == chart_values()["inputTopicPartitions"]
    assert (
        f"--topic {env['SELFTAUGHT_DLQ_TOPIC']} --partitions 1 --config max.message.bytes={service_kafka.DLQ_MAX_MESSAGE_BYTES}"
        in script
    )
    depends = compose["services"]["consumer"]["depends_on"]
    assert depends["topics"]["condition"] == "service_completed_successfully"
    kafka_env = compose["services"]["kafka"]["environment"]
    assert env["SELFTAUGHT_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "INTERNAL://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"  # one broker


def test_prometheus_scrapes_the_service_with_the_projects_rules(compose: dict[str, Any]) -> None:
    svc = compose["services"]["prometheus"]
    mounts = {m["target"]: m["source"] for m in svc["volumes"]}
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert mounts["/etc/prometheus/rules/alerts.yaml"] == str(DEPLOY / "prometheus" / "alerts.yaml")
    prom = yaml_module().safe_load(Path(config_path).read_text())
    assert prom["rule_files"] == ["/etc/prometheus/rules/alerts.yaml"]
    (job,) = prom["scrape_configs"]
    assert "selftaught" in job["job_name"]  # SelftaughtNotReady finds `up` by it
    assert job["metrics_path"] == "/metrics"
    port = chart_values()["config"]["httpPort"]
    assert job["static_configs"][0]["targets"] == [f"consumer:{port}"]


def test_grafana_is_provisioned_with_the_dashboard_and_the_data_source(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]["grafana"]
    mounts = {m["target"]: m["source"] for m in svc["volumes"]}
    dashboards = mounts["/var/lib/grafana/dashboards"]
    assert dashboards == str(DEPLOY / "grafana")
    provisioning = DEPLOY / "compose" / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning"] == str(provisioning)
    y = yaml_module()
    (ds,) = y.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert ds["type"] == "prometheus" and ds["isDefault"] is True
    assert ds["url"] == "http://prometheus:9090"
    (provider,) = y.safe_load((provisioning / "dashboards" / "selftaught.yaml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    home = svc["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / home.rsplit("/", 1)[1]).is_file()
    # The dashboard chooses its data source through a variable, which the default one fills.
    dashboard = json.loads((DEPLOY / "grafana" / "selftaught-consumer.json").read_text())
    ds_vars = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert ds_vars and ds_vars[0]["query"] == ds["type"]
