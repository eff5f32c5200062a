"""The chart README's values tables and the main README's Deploying section stay in step with the chart."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy import CHART, DEPLOY, chart_values

# chart_values() may install the tools first (minutes, once per machine).
pytestmark = pytest.mark.timeout(1800)


def _leaves(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in d.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out += _leaves(value, path)
        else:
            out.append(path)
    return out


def _nodes(d: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in d.items():
        path = f"{prefix}.{key}" if prefix else key
        out.add(path)
        if isinstance(value, dict):
            out |= _nodes(value, path)
    return out


def _documented() -> set[str]:
    """Every `key` in the first column of the README's tables."""
    keys: set[str] = set()
    for line in (CHART / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            keys |= set(re.findall(r"`([^`]+)`", first))
    return keys


def test_every_value_is_in_the_readme_table() -> None:
    values = chart_values()
    documented = _documented()
    for leaf in _leaves(values):
        parts = leaf.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        assert prefixes & documented, f"{leaf} is not in the chart README's values table"


def test_the_readme_table_names_only_real_values() -> None:
    nodes = _nodes(chart_values())
    for key in _documented():
        assert key in nodes, f"the chart README names {key}, which values.yaml lacks"


def test_the_readme_config_defaults_are_the_charts() -> None:
    config = chart_values()["config"]
    rows = 0
    for line in (CHART / "README.md").read_text().splitlines():
        m = re.match(r"\| `config\.(\w+)` \| `(SELFTAUGHT_\w+)` \| `([^`]*)` \|", line)
        if m:
            rows += 1
            key, var, default = m.groups()
            # YAML spells an unset value null.
            assert ("null" if config[key] is None else str(config[key])) == default, key
            assert var == "SELFTAUGHT_" + re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()
    assert rows == len(config)


def test_deploying_section_exists_and_links_the_chart() -> None:
    readme = (DEPLOY.parent / "README.md").read_text()
    assert "\n## Deploying\n" in readme
    text = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    assert "deploy/helm/selftaught-consumer/README.md" in text
    assert (DEPLOY.parent / text.split("](", 1)[1].split(")", 1)[0]).is_file()
    for needle in (
        "compose.yaml",
        "StatefulSet",
        "terminationGracePeriodSeconds",
        "SELFTAUGHT_DRAIN_TIMEOUT_S",
    ):
        assert needle in text
