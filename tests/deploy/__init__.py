"""Shared helpers for the deployment tests: the tools, the chart's renders, the CRD schemas.

The tools (helm, docker-compose, kubernetes-validate, jsonschema) are installed by
``deploy/local/helm-tools.sh`` on first use and cached; nothing here is skipped for want of a
tool. Renders are cached per argument list, so each distinct ``helm template`` runs once.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "selftaught-consumer"
ALL_ON_VALUES = CHART / "ci" / "all-on-values.yaml"
# The custom resources' JSON schemas (KEDA, prometheus-operator); where they come from and how
# to refresh them: k8s-schemas/README.md.
K8S_SCHEMAS = Path(__file__).resolve().parent / "k8s-schemas"

RELEASE = "calibrator"
NAMESPACE = "agents"
# The values a user must set: the chart refuses to render without them.
REQUIRED = ("kafka.bootstrapServers=kafka:9092", "schemaRegistry.url=http://registry:8081")


@dataclass(frozen=True)
class Tools:
    helm: str
    docker_compose: str


@functools.cache
def tools() -> Tools:
    """Install (once, cached) and locate the tools; fail loudly if that is impossible."""
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(DEPLOY / "local" / "helm-tools.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"deploy/local/helm-tools.sh failed:\n{proc.stdout}\n{proc.stderr}")
    found = dict(
        line.split("=", 1)
        for line in proc.stdout.splitlines()
        if line.startswith(("HELM=", "DOCKER_COMPOSE="))
    )
    importlib.invalidate_caches()  # the script may just have pip-installed packages
    return Tools(helm=found["HELM"], docker_compose=found["DOCKER_COMPOSE"])


def yaml_module() -> Any:
    tools()
    return importlib.import_module("yaml")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [tools().helm, *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def template_args(*sets: str, values: tuple[Path, ...] = (), required: bool = True) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for v in values:
        args += ["-f", str(v)]
    for s in (*(REQUIRED if required else ()), *sets):
        # "json:key=value" sets a typed value (--set makes 90.5 a string).
        args += ["--set-json", s[5:]] if s.startswith("json:") else ["--set", s]
    return args


@functools.cache
def _render_text(args: tuple[str, ...]) -> str:
    return helm(*args).stdout


@functools.cache
def _strict_loader() -> Any:
    """A SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently; the API
    server's decoder refuses them)."""
    yaml = yaml_module()

    class Strict(yaml.SafeLoader):  # type: ignore[name-defined,misc]
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise AssertionError(f"duplicate keys {sorted(dupes)} at {node.start_mark}")
        return dict(yaml.SafeLoader.construct_mapping(loader, node, deep=deep))

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Strict


def render(*sets: str, values: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """The chart's objects for the given values (the required ones always set)."""
    text = _render_text(tuple(template_args(*sets, values=values)))
    return [d for d in yaml_module().load_all(text, Loader=_strict_loader()) if d]


def render_fails(*sets: str, values: tuple[Path, ...] = (), required: bool = True) -> str:
    """Render that must fail; returns helm's error output."""
    proc = helm(*template_args(*sets, values=values, required=required), check=False)
    assert proc.returncode != 0, f"expected helm template to fail for {sets}, it rendered"
    return proc.stderr


def default_objects() -> list[dict[str, Any]]:
    return render()


def all_on_objects() -> list[dict[str, Any]]:
    return render(values=(ALL_ON_VALUES,))


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]
    assert len(found) == 1, f"expected one workload, found {[o['kind'] for o in found]}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env_list(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = container(objects).get("env", [])
    return result


def env_values(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's literal env values (valueFrom entries left out)."""
    return {e["name"]: e["value"] for e in env_list(objects) if "value" in e}


def resolved_env(objects: list[dict[str, Any]], pod_name: str = f"{RELEASE}-0") -> dict[str, str]:
    """The environment the process would see, Secrets and the downward API filled in."""
    out: dict[str, str] = {}
    for e in env_list(objects):
        if "value" in e:
            out[e["name"]] = e["value"]
            continue
        ref = e["valueFrom"]
        if "fieldRef" in ref:
            assert ref["fieldRef"]["fieldPath"] == "metadata.name", ref
            out[e["name"]] = pod_name
        elif "secretKeyRef" in ref:
            s = ref["secretKeyRef"]
            out[e["name"]] = f"from-secret-{s['name']}-{s['key']}"
        else:
            raise AssertionError(f"unexpected valueFrom {ref}")
    return out


def chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml_module().safe_load((CHART / "values.yaml").read_text())
    return loaded


def chart_meta() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml_module().safe_load((CHART / "Chart.yaml").read_text())
    return loaded


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    path = K8S_SCHEMAS / group / f"{kind.lower()}_{version}.json"
    assert path.is_file(), f"no schema for {api_version} {kind} at {path}"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
