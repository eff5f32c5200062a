"""The files the chart embeds are the project's single sources, byte for byte.

Helm's .Files cannot read outside the chart, so deploy/helm/sync-files.sh copies
deploy/prometheus/alerts.yaml and deploy/grafana/selftaught-consumer.json into the chart's
files/. These tests fail when a copy drifts, and check what the rendered objects carry.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.deploy import CHART, DEPLOY, all_on_objects, one, yaml_module

pytestmark = pytest.mark.timeout(1800)

COPIES = {
    DEPLOY / "prometheus" / "alerts.yaml": CHART / "files" / "alerts.yaml",
    DEPLOY / "grafana" / "selftaught-consumer.json": CHART / "files" / "selftaught-consumer.json",
}


@pytest.mark.parametrize("source", list(COPIES), ids=lambda p: p.name)
def test_chart_copy_is_byte_identical_to_its_source(source: object) -> None:
    copy = COPIES[source]  # type: ignore[index]
    assert source.is_file(), f"{source} is missing"  # type: ignore[attr-defined]
    assert copy.is_file(), f"{copy} is missing: run deploy/helm/sync-files.sh"
    assert copy.read_bytes() == source.read_bytes(), (  # type: ignore[attr-defined]
        f"{copy} differs from {source}: run deploy/helm/sync-files.sh"
    )


def test_sync_script_check_mode_agrees() -> None:
    proc = subprocess.run(
        ["bash", str(DEPLOY / "helm" / "sync-files.sh"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_prometheus_rule_carries_exactly_the_tested_rules() -> None:
    rule = one(all_on_objects(), "PrometheusRule")
    source = yaml_module().safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    # and those are the rules promtool's unit tests load
    tests = yaml_module().safe_load((DEPLOY / "prometheus" / "alerts.test.yaml").read_text())
    assert tests["rule_files"] == ["alerts.yaml"]


def test_dashboard_config_map_holds_the_dashboard_file() -> None:
    cm = one(all_on_objects(), "ConfigMap")
    source = DEPLOY / "grafana" / "selftaught-consumer.json"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Kafka"}
    assert list(cm["data"]) == [source.name]
    assert cm["data"][source.name] == source.read_text(encoding="utf-8")
    json.loads(cm["data"][source.name])
