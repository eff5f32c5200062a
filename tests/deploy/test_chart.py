"""The Helm chart: lint, render, validate offline, and check what matters to a user.

Renders with the chart's defaults (plus the two values a user must set) and with every optional
part on (ci/all-on-values.yaml). Kubernetes kinds are validated with kubernetes-validate in
strict mode, KEDA and prometheus-operator kinds with the JSON schemas in shared/k8s-schemas.
"""

from __future__ import annotations

import importlib
import math
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from consumer import settings as service_settings
from consumer.kafka_properties import OWNED_KAFKA_KEYS
from tests.deploy import (
    ALL_ON_VALUES,
    NAMESPACE,
    RELEASE,
    all_on_objects,
    chart_meta,
    chart_values,
    container,
    crd_schema,
    default_objects,
    env_list,
    env_values,
    helm,
    one,
    render,
    render_fails,
    resolved_env,
    workload,
)
from tests.deploy import CHART as CHART_DIR

# The first test to need a tool may build it (minutes, once per machine).
pytestmark = pytest.mark.timeout(1800)

CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
RENDERS = {
    "defaults": default_objects,
    "all-on": all_on_objects,
    "deployment": lambda: render("workload.kind=Deployment"),
}


def _k8s_validate() -> Any:
    return importlib.import_module("kubernetes_validate")


def _jsonschema() -> Any:
    return importlib.import_module("jsonschema")


# -- lint and offline validation ----------------------------------------------------------


@pytest.mark.parametrize("values", [(), (ALL_ON_VALUES,)], ids=["defaults", "all-on"])
def test_helm_lint_strict(values: tuple[Any, ...]) -> None:
    args = ["lint", "--strict", str(CHART_DIR)]
    for v in values:
        args += ["-f", str(v)]
    out = helm(*args)
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("name", list(RENDERS))
def test_kubernetes_kinds_validate_strictly(name: str) -> None:
    kv = _k8s_validate()
    versions = ["1.31.0", kv.utils.latest_version()]  # the chart's kubeVersion floor, the newest
    validated = set()
    for obj in RENDERS[name]():
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        for version in versions:
            try:
                kv.validate(obj, version, strict=True)
            except kv.utils.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                raise AssertionError(
                    f"{obj['kind']} {path}: {exc.message} (k8s {version})"
                ) from exc
        validated.add(obj["kind"])
    assert {"StatefulSet" if name != "deployment" else "Deployment", "Service"} <= validated


@pytest.mark.parametrize("name", list(RENDERS))
def test_crd_kinds_validate_against_shared_schemas(name: str) -> None:
    js = _jsonschema()
    crds = [o for o in RENDERS[name]() if o["apiVersion"].startswith(CRD_GROUPS)]
    if name == "all-on":
        kinds = sorted(o["kind"] for o in crds)
        assert kinds == ["PodMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"]
    else:
        assert crds == []
    for obj in crds:
        schema = crd_schema(obj["apiVersion"], obj["kind"])
        validator = js.validators.validator_for(schema, default=js.Draft7Validator)(schema)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, "\n".join(
            f"{obj['kind']} {'.'.join(map(str, e.path))}: {e.message}" for e in errors
        )


@pytest.mark.parametrize("name", list(RENDERS))
def test_names_labels_and_env_are_well_formed(name: str) -> None:
    dns = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    for obj in RENDERS[name]():
        assert dns.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63, obj
    names = [e["name"] for e in env_list(RENDERS[name]())]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"


# -- the service's settings -------------------------------------------------------------------


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


SPECIAL_FIELDS = {
    # field: where the chart takes it from
    "bootstrap_servers": "kafka.bootstrapServers",
    "schema_registry_url": "schemaRegistry.url",
    "schema_registry_user": "schemaRegistry.auth (Secret)",
    "schema_registry_password": "schemaRegistry.auth (Secret)",
    "instance_id": "instanceId (else the pod's name)",
    "drain_timeout_s": "derived from shutdown.*",
    "anthropic_api_key": "anthropic.existingSecret",
    "kafka_extra": "kafka.config / kafka.secretConfig / kafka.sasl / kafka.tls",
}


def test_every_service_setting_has_a_value() -> None:
    fields = set(service_settings.Settings.model_fields)
    config = {_snake(k) for k in chart_values()["config"]}
    assert config | set(SPECIAL_FIELDS) == fields, (
        f"settings without a chart value: {sorted(fields - config - set(SPECIAL_FIELDS))}; "
        f"chart values the service does not know: {sorted(config - fields)}"
    )
    assert not config & set(SPECIAL_FIELDS)


def test_config_defaults_are_the_services_defaults() -> None:
    for key, value in chart_values()["config"].items():
        default = service_settings.Settings.model_fields[_snake(key)].default
        if isinstance(default, float):
            assert math.isclose(float(value), default), key
        else:
            assert value == default, key


def test_values_schema_mirrors_the_settings() -> None:
    import json
    import typing

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    props = schema["properties"]["config"]["properties"]
    assert set(props) == set(chart_values()["config"])
    for key, prop in props.items():
        field = service_settings.Settings.model_fields[_snake(key)]
        ann = field.annotation
        if typing.get_origin(ann) is typing.Literal:
            assert prop["enum"] == list(typing.get_args(ann)), key
        elif ann == str | None:  # an optional setting: unset is null in the chart too
            assert prop["type"] == ["string", "null"], key
        else:
            assert prop["type"] == {str: "string", int: "integer", float: "number"}[ann], key
        for meta in field.metadata:
            for attr, kw in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum")):
                if getattr(meta, attr, None) is not None:
                    assert prop[kw] == getattr(meta, attr), (key, kw)


@pytest.mark.parametrize("name", list(RENDERS))
def test_the_pod_environment_is_valid_for_the_service(name: str) -> None:
    """The rendered env passes the service's own start-up validation (no exit code 2)."""
    objects = RENDERS[name]()
    env = resolved_env(objects)
    s = service_settings.load(env)
    values = chart_values()["config"]
    assert s.http_port == values["httpPort"]
    if name == "all-on":
        assert s.group_id == "calibrator-prod" and s.llm_backend == "anthropic"
        assert s.anthropic_api_key is not None
        assert s.schema_registry_password is not None
        assert s.kafka_extra["security.protocol"] == "SASL_SSL"
        assert s.kafka_extra["client.rack"] == "zone-a"


def test_every_setting_reaches_the_pod() -> None:
    """With everything configured, every Settings field has its variable in the pod spec."""
    names = {e["name"] for e in env_list(all_on_objects())}
    single = {e["name"] for e in env_list(render("instanceId=calibrator-main"))}
    for field in service_settings.Settings.model_fields:
        if field == "kafka_extra":
            assert any(n.startswith(service_settings.KAFKA_PREFIX) for n in names)
            continue
        var = "ANTHROPIC_API_KEY" if field == "anthropic_api_key" else f"SELFTAUGHT_{field.upper()}"
        assert var in names | single, f"{var} never reaches the pod"


def test_instance_id_is_the_pod_name_unless_one_pod() -> None:
    env = env_list(default_objects())
    pod_name = next(e for e in env if e["name"] == "POD_NAME")
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "SELFTAUGHT_INSTANCE_ID" not in {e["name"] for e in env}
    s = service_settings.load(resolved_env(default_objects()))
    assert (
        service_settings.resolve_instance_id(s, resolved_env(default_objects()))[0]
        == f"{RELEASE}-0"
    )
    assert "fence each other" in render_fails("instanceId=x", "workload.replicas=2")
    assert "fence each other" in render_fails("instanceId=x", "workload.kind=Deployment")


@pytest.mark.parametrize("key", sorted(OWNED_KAFKA_KEYS))
def test_pass_through_cannot_override_owned_kafka_settings(key: str) -> None:
    assert "owned by the service" in render_fails(
        f"kafka.config.{key.replace('.', chr(92) + '.')}=x"
    )


def test_kafka_pass_through_names() -> None:
    env = env_values(
        render("kafka.config.socket\\.keepalive\\.enable=true", "kafka.config.linger\\.ms=20")
    )
    assert env["SELFTAUGHT_KAFKA_SOCKET_KEEPALIVE_ENABLE"] == "true"
    assert env["SELFTAUGHT_KAFKA_LINGER_MS"] == "20"
    assert service_settings.kafka_passthrough(env) == {
        "socket.keepalive.enable": "true",
        "linger.ms": "20",
        "session.timeout.ms": "60000",
    }


def test_required_values_are_required() -> None:
    err = render_fails(required=False)
    assert "kafka.bootstrapServers is required" in err


# -- secrets --------------------------------------------------------------------------------


def test_secrets_are_referenced_never_inlined() -> None:
    objects = all_on_objects()
    assert not [o for o in objects if o["kind"] == "Secret"], "the chart must not create Secrets"
    by_name = {e["name"]: e for e in env_list(objects)}
    expected = {
        "ANTHROPIC_API_KEY": ("anthropic", "api-key"),
        "SELFTAUGHT_SCHEMA_REGISTRY_USER": ("registry-credentials", "username"),
        "SELFTAUGHT_SCHEMA_REGISTRY_PASSWORD": ("registry-credentials", "password"),
        "SELFTAUGHT_KAFKA_SASL_USERNAME": ("kafka-credentials", "username"),
        "SELFTAUGHT_KAFKA_SASL_PASSWORD": ("kafka-credentials", "password"),
        "SELFTAUGHT_KAFKA_SSL_KEY_PASSWORD": ("kafka-tls", "key-password"),
    }
    for var, (secret, key) in expected.items():
        assert "value" not in by_name[var], var
        assert by_name[var]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}, var
    pod = workload(objects)["spec"]["template"]["spec"]
    tls = next(v for v in pod["volumes"] if v["name"] == "kafka-tls")
    assert tls["secret"]["secretName"] == "kafka-tls"
    # The client key and certificates are files from the Secret, not values.
    env = env_values(objects)
    assert env["SELFTAUGHT_KAFKA_SSL_KEY_LOCATION"].startswith("/etc/selftaught/kafka-tls/")


def test_api_key_cannot_be_put_in_values() -> None:
    err = render_fails("anthropic.apiKey=sk-ant-leak")
    assert "apiKey" in err
    err = render_fails("kafka.config.sasl\\.oauthbearer\\.client\\.secret=leak")
    assert "sasl.oauthbearer.client.secret" in err
    assert "anthropic.existingSecret" in render_fails("config.llmBackend=anthropic")


# -- probes, shutdown, security --------------------------------------------------------------


def test_probes_point_at_the_paths_the_service_serves() -> None:
    from consumer.observe import metrics

    c = container(default_objects())
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(env_values(default_objects())["SELFTAUGHT_HTTP_PORT"])
    probes = {k: c[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {p["port"] for p in probes.values()} == {"http"}

    health = metrics.Health()
    server = metrics.serve(health, 0, host="127.0.0.1")
    try:
        port = server.server_address[1]

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status(probes["livenessProbe"]["path"]) == 200
        assert status(probes["startupProbe"]["path"]) == 200
        assert status(probes["readinessProbe"]["path"]) == 503  # not in the group yet
        health.producer_ready = health.group_joined = True
        assert status(probes["readinessProbe"]["path"]) == 200
        assert status("/no-such-path") == 404  # so a wrong probe path would show
    finally:
        server.shutdown()
        server.server_close()


def test_grace_period_covers_an_llm_call_and_a_commit() -> None:
    values = chart_values()
    spec = workload(default_objects())["spec"]["template"]["spec"]
    grace = spec["terminationGracePeriodSeconds"]
    timeout = service_settings.Settings.model_fields["llm_request_timeout_s"].default
    commit = values["shutdown"]["commitSeconds"]
    assert grace == math.ceil(timeout) + commit
    drain = float(env_values(default_objects())["SELFTAUGHT_DRAIN_TIMEOUT_S"])
    assert drain == grace - commit and drain >= timeout

    custom = render("json:config.llmRequestTimeoutS=90.5")
    assert (
        workload(custom)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 91 + commit
    )
    fixed = render("shutdown.terminationGracePeriodSeconds=300")
    assert workload(fixed)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 300
    assert env_values(fixed)["SELFTAUGHT_DRAIN_TIMEOUT_S"] == str(300 - commit)
    assert "must exceed" in render_fails("shutdown.terminationGracePeriodSeconds=10")


@pytest.mark.parametrize("name", list(RENDERS))
def test_pods_meet_the_restricted_profile(name: str) -> None:
    pods = []
    for obj in RENDERS[name]():
        if obj["kind"] in ("StatefulSet", "Deployment"):
            pods.append(obj["spec"]["template"]["spec"])
        elif obj["kind"] == "Pod":  # the helm test pod
            pods.append(obj["spec"])
    assert pods
    for pod in pods:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert not pod.get("hostNetwork") and not pod.get("hostPID")
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            assert sc.get("privileged") is not True
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and tmp[0]["name"] in tmp_volumes


def test_resources_are_set() -> None:
    res = container(default_objects())["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]


# -- workload kinds, identity, disruption ----------------------------------------------------


def test_statefulset_by_default_with_static_membership() -> None:
    objects = default_objects()
    sts = workload(objects)
    assert sts["kind"] == "StatefulSet"
    headless = one(objects, "Service")
    assert headless["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    by_name = {e["name"]: e for e in env_list(objects)}
    gid = by_name["SELFTAUGHT_KAFKA_GROUP_INSTANCE_ID"]
    assert gid["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert by_name["SELFTAUGHT_KAFKA_SESSION_TIMEOUT_MS"]["value"] == "60000"
    s = service_settings.load(resolved_env(objects))
    instance, _ = service_settings.resolve_instance_id(s, resolved_env(objects))
    assert s.consumer_config()["group.instance.id"] == instance == f"{RELEASE}-0"
    assert s.producer_config(instance)["transactional.id"] == f"selftaught-calibrator-{RELEASE}-0"


def test_deployment_switch_drops_static_membership() -> None:
    objects = render("workload.kind=Deployment")
    dep = workload(objects)
    assert dep["kind"] == "Deployment"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    names = {e["name"] for e in env_list(objects)}
    assert "SELFTAUGHT_KAFKA_GROUP_INSTANCE_ID" not in names
    assert "SELFTAUGHT_KAFKA_SESSION_TIMEOUT_MS" not in names


def test_pod_disruption_budget() -> None:
    objects = default_objects()
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("name", list(RENDERS))
def test_selectors_pick_the_consumer_pods_only(name: str) -> None:
    """The Service, the PodDisruptionBudget and the PodMonitor select the workload's pods, and
    not the `helm test` pod (which would ask itself, and count for the budget)."""
    objects = RENDERS[name]()
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    test_pods = [o for o in objects if o["kind"] == "Pod"]
    assert test_pods
    for obj in objects:
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
        elif obj["kind"] in ("PodDisruptionBudget", "PodMonitor"):
            selector = obj["spec"]["selector"]["matchLabels"]
        else:
            continue
        assert selector.items() <= pod_labels.items(), obj["kind"]
        for pod in test_pods:
            assert not selector.items() <= pod["metadata"]["labels"].items(), obj["kind"]


def test_optional_parts_are_off_by_default() -> None:
    kinds = sorted(o["kind"] for o in default_objects())
    assert kinds == ["Pod", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet"]


# -- monitoring and autoscaling ---------------------------------------------------------------


def test_pod_monitor_scrapes_the_metrics_port() -> None:
    objects = all_on_objects()
    pm = one(objects, "PodMonitor")
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The job (<namespace>/<name>) must contain "selftaught" for SelftaughtNotReady.
    assert "selftaught" in f"{NAMESPACE}/{pm['metadata']['name']}"
    renamed = one(render("fullnameOverride=calibrator", "podMonitor.enabled=true"), "PodMonitor")
    assert "selftaught" in renamed["metadata"]["name"]


def test_scaled_object_names_the_pods_group_and_topic() -> None:
    objects = all_on_objects()
    so = one(objects, "ScaledObject")
    env = env_values(objects)
    wl = workload(objects)
    assert so["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": wl["kind"],
        "name": wl["metadata"]["name"],
    }
    (trigger,) = so["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == env["SELFTAUGHT_GROUP_ID"] == "calibrator-prod"
    assert meta["topic"] == env["SELFTAUGHT_INPUT_TOPIC"] == "agents.trace-events"
    assert meta["bootstrapServers"] == env["SELFTAUGHT_BOOTSTRAP_SERVERS"]
    assert int(meta["lagThreshold"]) > 0
    assert so["spec"]["maxReplicaCount"] == 12  # inputTopicPartitions in ci/all-on-values.yaml
    assert "replicas" not in wl["spec"], "KEDA owns the replica count"
    # SASL/TLS: the same Secrets as the pods.
    assert meta["sasl"] == "scram_sha512" and meta["tls"] == "enable"
    auth = one(objects, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    pod_env = {e["name"]: e for e in env_list(objects)}
    sasl_ref = pod_env["SELFTAUGHT_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]
    assert refs["username"] == (sasl_ref["name"], sasl_ref["key"])
    assert refs["ca"] == ("kafka-tls", "ca.crt")
    assert set(refs) == {"username", "password", "ca", "cert", "key"}


def test_scaled_object_defaults_to_the_partition_count() -> None:
    so = one(render("keda.enabled=true", "inputTopicPartitions=24"), "ScaledObject")
    assert so["spec"]["maxReplicaCount"] == 24
    assert so["spec"]["triggers"][0]["metadata"]["consumerGroup"] == "selftaught-calibrator"
    assert "authenticationRef" not in so["spec"]["triggers"][0]
    assert so["spec"]["triggers"][0]["metadata"]["offsetResetPolicy"] == "earliest"


def test_notes_tell_how_to_check() -> None:
    out = helm(
        "install",
        RELEASE,
        str(CHART_DIR),
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        "--set",
        "kafka.bootstrapServers=kafka:9092",
        "--set",
        "schemaRegistry.url=http://r:8081",
    ).stdout
    notes = out.split("NOTES:", 1)[1]
    assert "/readyz" in notes and "helm test" in notes and "rollout status" in notes
    assert "rules" in notes  # no API key: says the rules generator is in use
    assert chart_meta()["appVersion"] in notes
