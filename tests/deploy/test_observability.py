"""The observability wiring: every API and worker is scraped where it serves /metrics (compose's
Prometheus, Kubernetes annotations and the PodMonitor), the collector is where the processes
send their traces, and the dashboard, the alert rules and docs/operations.md name only series
the code exports (and the docs name every one of them). No Prometheus or cluster is needed:
the files are parsed; `make alerts` runs promtool on the rules."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import yaml

from prm_platform import metrics

WORKER_PORT = "9100"
API_PORT = "8000"
# Series every scraped process has whatever the code: the target's own, and the client library's.
STANDARD = re.compile(r"^(up|process_\w+|python_\w+)$")


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name the PRM processes can export (the webhooks' own included)."""
    import prm_webhooks.delivery.dispatcher  # noqa: F401 - registers its metrics

    names = set()
    for family in metrics.REGISTRY.collect():
        if not family.name.startswith("prm_"):
            continue
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


@pytest.fixture(scope="module")
def compose(repo) -> dict:
    return yaml.safe_load((repo / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def prometheus(repo) -> dict:
    return yaml.safe_load((repo / "deploy/prometheus/prometheus.yml").read_text())


def series_in(expression: str) -> set[str]:
    return set(re.findall(r"\b((?:prm|process|python)_[a-z_]+|up)\b(?=\s*[{\[)]|\s*$)",
                          expression))


def test_compose_prometheus_scrapes_every_api_and_worker(compose, prometheus, declared):
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "prm"]
    by_port = {str(c["port"]): set(c["names"]) for c in job["dns_sd_configs"]}
    apis = declared.apis
    workers = declared.workloads - apis
    assert apis <= by_port[API_PORT], apis - by_port[API_PORT]
    assert workers <= by_port[WORKER_PORT], workers - by_port[WORKER_PORT]
    # The job label is the process's name, as the alerts and the dashboard expect.
    assert {"source_labels": ["__meta_dns_name"], "target_label": "job"} in job["relabel_configs"]
    env = compose["x-app-env"]
    assert str(env["PRM_METRICS_PORT"]) == WORKER_PORT
    assert env["PRM_TELEMETRY"] == "${PRM_TELEMETRY:-false}"  # off unless asked for
    for name in declared.workloads:  # every process gets the settings
        service_env = compose["services"][name]["environment"]
        assert "PRM_TELEMETRY" in service_env and "PRM_METRICS_PORT" in service_env, name


def test_compose_observability_profile(compose, prometheus, repo):
    services = compose["services"]
    for name in ("otel-collector", "prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"], name
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    for rules in prometheus["rule_files"]:
        source = next(s for s, target in mounts.items() if target == rules)
        assert (repo / source.removeprefix("./")).is_file(), source
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    [collector] = services["otel-collector"]["volumes"]
    config = yaml.safe_load((repo / collector.split(":")[0].removeprefix("./")).read_text())
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    endpoint = urlsplit(compose["x-app-env"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector" and http.endswith(f":{endpoint.port}")
    grafana = {target: source for source, target in
               (v.split(":")[:2] for v in services["grafana"]["volumes"])}
    provider = yaml.safe_load((repo / grafana["/etc/grafana/provisioning"].removeprefix("./")
                               / "dashboards/prm.yaml").read_text())["providers"][0]
    dashboards = repo / grafana[provider["options"]["path"]].removeprefix("./")
    assert any(dashboards.glob("*.json"))


def k8s_deployments(repo, load_yaml) -> list[dict]:
    return [doc for path in sorted((repo / "deploy/k8s").glob("*.yaml"))
            for doc in load_yaml(path) if doc.get("kind") == "Deployment"]


def test_every_k8s_process_is_scraped_where_it_serves_metrics(repo, load_yaml, declared):
    deployments = k8s_deployments(repo, load_yaml)
    assert {d["metadata"]["name"] for d in deployments} >= declared.workloads
    config = {k: v for path in (repo / "deploy/k8s").glob("*.yaml") for doc in load_yaml(path)
              if doc.get("kind") == "ConfigMap" for k, v in doc.get("data", {}).items()}
    assert config["PRM_METRICS_PORT"] == WORKER_PORT
    assert config["PRM_TELEMETRY"] in ("true", "false")
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/path") == "/metrics", name
        ports = {str(p["containerPort"]): p["name"] for c in template["spec"]["containers"]
                 for p in c.get("ports", [])}
        expected = API_PORT if name in declared.apis else WORKER_PORT
        assert annotations.get("prometheus.io/port") == expected, name
        # The PodMonitor's endpoints name these ports.
        assert ports.get(expected) == ("http" if name in declared.apis else "metrics"), name


def test_k8s_observability_kustomization(repo, load_yaml):
    base = repo / "deploy/k8s/observability"
    [kustomization] = load_yaml(base / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (base / resource).is_file(), resource
    for generator in kustomization["configMapGenerator"]:
        for entry in generator["files"]:
            assert (base / entry.split("=")[-1]).is_file(), entry
    docs = [doc for resource in kustomization["resources"] for doc in load_yaml(base / resource)]
    [monitor] = [d for d in docs if d["kind"] == "PodMonitor"]
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"http", "metrics"}
    [service] = [d for d in docs if d["kind"] == "Service"]
    config = {k: v for doc in load_yaml(repo / "deploy/k8s/configmap.yaml")
              for k, v in doc["data"].items()}
    endpoint = urlsplit(config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname.split(".")[0] == service["metadata"]["name"]
    assert endpoint.port in {p["port"] for p in service["spec"]["ports"]}


def test_dashboard_and_alerts_name_only_exported_series(repo, exported):
    dashboard = json.loads((repo / "deploy/grafana/dashboards/prm-overview.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((repo / "deploy/prometheus/alerts.yml").read_text())
    expressions += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*(series_in(e) for e in expressions))
    assert {s for s in used if not STANDARD.match(s)} <= exported, \
        {s for s in used if not STANDARD.match(s)} - exported
    # And they use most of what there is to see.
    assert len({s for s in used if s in exported}) >= 15


def test_operations_docs_name_every_series(repo, exported):
    docs = (repo / "docs/operations.md").read_text()
    documented = set(re.findall(r"`(prm_[a-z_]+)`", docs))
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in exported}
    missing = {f for f in families if f not in documented and f + "_total" not in documented}
    assert not missing, f"docs/operations.md does not describe {sorted(missing)}"
    assert "PRM_TELEMETRY" in docs and "PRM_METRICS_PORT" in docs
