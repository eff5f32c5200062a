"""Observability: the alert rules, their unit tests, and the dashboard against real data.

promtool checks and unit-tests ``deploy/prometheus/alerts.yaml``; a real Prometheus (Debian's,
installed by ``deploy/local/tools.sh``) scrapes the real service while it processes a mixed
workload, evaluates the alert rules, and answers every query of the Grafana dashboard.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.offsets import wait_until_committed
from testkit.produce import Sent, produce_mixed
from tests.integration.harness import ROOT, Service, Stack, Topics, free_port

pytestmark = pytest.mark.integration

ALERTS = ROOT / "deploy/prometheus/alerts.yaml"
ALERT_TESTS = ROOT / "deploy/prometheus/alerts.test.yaml"
DASHBOARD = ROOT / "deploy/grafana/selftaught-consumer.json"
JOB = "selftaught-consumer"  # the scrape job; SelftaughtNotReady's `up` matcher needs "selftaught"

# With SELFTAUGHT_LLM_BACKEND=rules no LLM call is ever made. A prometheus_client counter with
# labels exports a series only once one of its label values is used, so these three have no
# series at all, and the panels built only on them are empty (their queries must still be
# valid). The unlabelled LLM metrics (cost, spend cap, concurrency, in flight, the latency
# histogram) are exported from the start and their panels must return data like the rest.
LLM_LABELLED_COUNTERS = (
    "selftaught_llm_requests_total",
    "selftaught_llm_tokens_total",
    "selftaught_llm_mistake_types_total",
)
# Labelled series of features this test's service runs without (no budget, no judge, and a
# workload with nothing to redact): they exist once the feature counts something.
OFF_FEATURE_SERIES = (
    "selftaught_pairs_selected_total",
    "selftaught_judge_verdicts_total",
    "selftaught_judge_difficulty",
    "selftaught_judge_unjudged_total",
    "selftaught_curriculum_",
    "selftaught_redactions_total",
    "selftaught_redacted_event_chars_total",
)
MAY_BE_EMPTY = {
    "LLM attempts by outcome": "selftaught_llm_requests_total has no outcome yet",
    "LLM throttling and errors": "selftaught_llm_requests_total has no outcome yet",
    "Tokens per hour": "selftaught_llm_tokens_total has no kind yet",
    "Mistake types the LLM achieved": "selftaught_llm_mistake_types_total has no type yet",
    "Pairs selected per key in range": "no budget: nothing is selected per key",
    "Pairs by judge verdict": "no judge",
    "Judge difficulty by mistake type": "no judge",
    "Subtlety level by mistake type": "no judge: no curriculum",
    "Curriculum: judge's mean difficulty by mistake type": "no judge: no curriculum",
    "Judged pairs by difficulty": "no judge",
    "Unjudged pairs, by reason": "no judge",
    "Redactions by kind": "the workload has nothing to redact",
    "Text kept in redacted events": "the workload has nothing to redact",
}

# What Grafana substitutes. `All` is the regex .*, which also matches the labels a static
# scrape config lacks (pod); the selected values are those label_values() offers locally.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "10m"}
ALL = {"namespace": ".*", "job": ".*", "pod": ".*"}
SELECTED = {"namespace": "test", "job": JOB, "pod": ".*"}


def load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - a clear failure, not a skip
        pytest.fail("PyYAML is needed to read the rule files: pip install pyyaml")
    return yaml.safe_load(path.read_text())


# -- tools ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    prometheus: str
    promtool: str


@pytest.fixture(scope="session")
def tools() -> Tools:
    run = subprocess.run(
        ["bash", str(ROOT / "deploy/local/tools.sh")], capture_output=True, text=True
    )
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    if run.returncode != 0 or not all(found.values()):
        pytest.fail(
            "prometheus and promtool are needed (deploy/local/tools.sh installs Debian's "
            f"`prometheus` package); tools.sh exited {run.returncode}, found {found}:\n"
            f"{run.stdout}{run.stderr}"
        )
    print(run.stdout.strip())
    return Tools(prometheus=str(found["prometheus"]), promtool=str(found["promtool"]))


def promtool(tools: Tools, *args: str) -> str:
    run = subprocess.run(
        [tools.promtool, *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"promtool {' '.join(args)} failed:\n{out}"
    return out


# -- the rules on their own ----------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(ALERTS)["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_alert_rules_pass_promtool_check_and_unit_tests(tools: Tools) -> None:
    assert "SUCCESS" in promtool(tools, "check", "rules", str(ALERTS))
    assert "SUCCESS" in promtool(tools, "test", "rules", str(ALERT_TESTS))


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    spec = load_yaml(ALERT_TESTS)
    assert [Path(f).name for f in spec["rule_files"]] == [ALERTS.name]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            expected = check.get("exp_alerts") or []
            (fires if expected else silent).add(check["alertname"])
            for alert in expected:
                assert "severity" in alert.get("exp_labels", {}), (case["name"], alert)
                assert alert.get("exp_annotations"), (case["name"], alert)
    unknown = (fires | silent) - set(names)
    assert not unknown, f"tests name alerts that alerts.yaml does not define: {unknown}"
    assert not set(names) - fires, f"alerts without a firing test: {set(names) - fires}"
    assert not set(names) - silent, f"alerts without a silent test: {set(names) - silent}"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        notes = rule.get("annotations", {})
        assert notes.get("summary") and notes.get("description"), name
        assert notes.get("runbook_url") == f"README.md#runbook-{name.lower()}", name


def test_the_dashboard_shows_every_metric_the_service_exports() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    from consumer.observe import metrics

    suffix = {"counter": "_total", "histogram": "_bucket", "gauge": "", "info": "_info"}
    exported = sorted(
        family.name + suffix[family.type]
        for value in vars(metrics).values()
        if isinstance(value, MetricWrapperBase | metrics.BatchHistogram)
        for family in value.collect()
    )
    assert "selftaught_end_to_end_latency_seconds_bucket" in exported
    assert exported, "consumer.observe.metrics defines no metric?"
    queries = " ".join(expr for _, _, expr in panel_targets())
    missing = [name for name in exported if not re.search(rf"\b{name}\b", queries)]
    assert not missing, f"metrics no dashboard panel shows: {missing}"


# -- a real Prometheus ---------------------------------------------------------------------


class Prometheus:
    """Debian's Prometheus on a free loopback port, scraping one target every second."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    # What a PodMonitor would add besides pod; `pod` stays absent on purpose.
                    "static_configs": [{"targets": [target], "labels": {"namespace": "test"}}],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited:\n{self.logs()}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {timeout}s:\n{self.logs()}")

    def api(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body: dict[str, Any] = json.load(r)
        except urllib.error.HTTPError as exc:  # 400/422: the error is in the JSON body
            body = json.loads(exc.read() or b"{}")
        return body

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


# Each batch reaches every non-LLM panel: qualifying and skipped events, and poison records
# of every decode and validate reason, 5 in every 55 records (about 9%).
WARM_UP, WORKLOAD, POISON_EVERY = 500, 3000, 50


@pytest.fixture
def service(stack: Stack, topics: Topics, tmp_path: Path) -> Iterator[tuple[Service, Sent]]:
    """The service, started on a warm-up batch that is there before it starts."""
    sent = produce_mixed(stack, topics, WARM_UP, poison_every=POISON_EVERY, seed=13)
    logs = tmp_path / "service"
    logs.mkdir()
    svc = Service(stack, topics, logs).start()
    try:
        yield svc, sent
    finally:
        assert svc.stop() == 0, svc.logs()[-3000:]


@pytest.fixture
def prometheus(tools: Tools, service: tuple[Service, Sent], tmp_path: Path) -> Iterator[Prometheus]:
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    prom = Prometheus(tools.prometheus, workdir, f"127.0.0.1:{service[0].port}")
    try:
        prom.wait_ready()
        yield prom
    finally:
        prom.stop()


def probe_ready(svc: Service, timeout: float) -> None:
    """Poll /readyz as the kubelet's readiness probe would; selftaught_ready reflects it."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        assert svc.proc is not None and svc.proc.poll() is None, svc.logs()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{svc.port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise AssertionError(f"/readyz not ready within {timeout}s: {last}")


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        known = {**BUILTINS, **values}
        assert name in known, f"unknown template variable ${name} in {expr}"
        return known[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def panel_targets() -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) for every query of every panel, rows included."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for t in panel["targets"]:
            out.append((panel["title"], t["refId"], t["expr"]))
    return out


def series_count(result: dict[str, Any]) -> int:
    data = result.get("data", {})
    if data.get("resultType") == "scalar":
        return 1
    return len(data.get("result", []))


def test_dashboard_and_alerts_against_a_real_prometheus_scraping_the_service(
    service: tuple[Service, Sent], prometheus: Prometheus, stack: Stack, topics: Topics
) -> None:
    svc, warm_up = service
    prom = prometheus
    targets = panel_targets()
    for title in MAY_BE_EMPTY:
        exprs = [e for t, _, e in targets if t == title]
        assert exprs, f"MAY_BE_EMPTY names a panel the dashboard lacks: {title!r}"
        assert all(
            any(c in e for c in (*LLM_LABELLED_COUNTERS, *OFF_FEATURE_SERIES)) for e in exprs
        ), title

    total = f'sum(selftaught_records_consumed_total{{job="{JOB}", namespace="test"}})'

    def wait_scraped(records: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = prom.query(total)["data"]["result"]
            if got and float(got[0]["value"][1]) == records:
                return
            time.sleep(0.5)
        raise AssertionError(f"scraped {prom.query(total)}, expected {records} records")

    probe_ready(svc, timeout=60)
    wait_until_committed(stack, topics, timeout=120, services=[svc])
    # The warm-up made every labelled series (each outcome, reason, mistake type) exist before
    # the workload: rate() and increase() see a series from its first scrape on, and the
    # workload's counts must all fall after that for the alert check below.
    wait_scraped(warm_up.total)
    sent = produce_mixed(stack, topics, WORKLOAD, poison_every=POISON_EVERY, seed=17)
    wait_until_committed(stack, topics, timeout=120, services=[svc])
    wait_scraped(warm_up.total + sent.total)

    # Every panel query is valid with both `All` and the selected values, and returns data
    # (series appear over a few scrapes, so poll, bounded).
    def check_panels() -> list[str]:
        problems = []
        for values in (ALL, SELECTED):
            for title, ref, expr in targets:
                q = substitute(expr, values)
                r = prom.query(q)
                if r.get("status") != "success":
                    problems.append(f"{title}/{ref} invalid: {r.get('error')}: {q}")
                elif series_count(r) == 0 and title not in MAY_BE_EMPTY:
                    problems.append(f"{title}/{ref} returned no series: {q}")
        return problems

    deadline = time.monotonic() + 30
    while (problems := check_panels()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not problems, "\n".join(problems)
    empty = sorted({t for t, _, e in targets if series_count(prom.query(substitute(e, ALL))) == 0})
    print(f"\n[observability] {len(targets)} panel queries valid; empty (features off): {empty}")

    # The template variables' label_values() offer the local labels (a static scrape config
    # has no pod label: its variable offers only All).
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    offered = {}
    for var in variables:
        if var["type"] != "query":
            continue
        assert var["includeAll"] and var["allValue"] == ".*", var["name"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["definition"])
        assert m, var["definition"]
        match = substitute(m.group(1), SELECTED)
        offered[var["name"]] = prom.api(f"label/{m.group(2)}/values", **{"match[]": match})["data"]
    assert offered == {"namespace": ["test"], "job": [JOB], "pod": []}, offered

    # The rule group is loaded and evaluated: every rule healthy, every expression valid.
    names = [r["alert"] for r in alert_rules()]
    deadline = time.monotonic() + 30
    while True:
        groups = prom.api("rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if all(r["health"] == "ok" for r in rules) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(r["name"] for r in rules) == sorted(names)
    unhealthy = [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy, unhealthy
    for r in rules:
        result = prom.query(r["query"])
        assert result["status"] == "success", (r["name"], result)

    # The alert expressions match the real series: 9% dead letters make the ratio alert
    # pending (its `for` is 5 minutes); a ready instance raises no readiness alert.
    def state(name: str) -> str:
        groups = prom.api("rules")["data"]["groups"]
        return next(str(r["state"]) for g in groups for r in g["rules"] if r["name"] == name)

    deadline = time.monotonic() + 30
    while state("SelftaughtDeadLetterRatioHigh") == "inactive" and time.monotonic() < deadline:
        time.sleep(1)
    assert state("SelftaughtDeadLetterRatioHigh") in ("pending", "firing")
    for quiet in ("SelftaughtNotReady", "SelftaughtAuthFailure", "SelftaughtNoProgress"):
        assert state(quiet) == "inactive", quiet
