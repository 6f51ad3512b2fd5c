"""deploy/k8s/*.yaml: the workloads run modules that exist, probe real endpoints and wire up.

Every file may hold several documents; no cluster is needed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

NAMESPACE = "prm"
NAMESPACED = {"Deployment", "Service", "ConfigMap", "Secret", "Job", "Ingress"}
PROBE_PATHS = {"/healthz", "/readyz"}
REQUIRED_ENV = ("PRM_DATABASE_URL", "PRM_KAFKA_BOOTSTRAP", "PRM_INTERNAL_SECRET")


@pytest.fixture(scope="module")
def manifests(repo, load_yaml) -> list[tuple[str, dict]]:
    files = sorted((repo / "deploy" / "k8s").glob("*.yaml"))
    assert files, "deploy/k8s holds no manifests"
    docs = [(path.name, doc) for path in files for doc in load_yaml(path)]
    return [(name, doc) for name, doc in docs if doc.get("kind") != "Kustomization"]


def of_kind(manifests, kind: str) -> list[dict]:
    return [doc for _, doc in manifests if doc["kind"] == kind]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def job(manifests, name: str) -> dict:
    (found,) = [j for j in of_kind(manifests, "Job") if j["metadata"]["name"] == name]
    return found


def app_workloads(manifests) -> list[dict]:
    """Deployments and Jobs that run our image (the kafka-access Job runs Kafka's tools)."""
    return [*of_kind(manifests, "Deployment"), job(manifests, "prm-migrate")]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def command_of(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def is_api(deployment: dict, deploy) -> bool:
    return any("prm_platform.serve" in argv for c in containers(deployment)
               for argv in deploy.split_command(command_of(c)))


def test_every_document_is_well_formed(manifests):
    for filename, doc in manifests:
        assert doc.get("apiVersion") and doc.get("kind"), filename
        assert doc.get("metadata", {}).get("name"), filename
        if doc["kind"] in NAMESPACED:
            assert doc["metadata"].get("namespace") == NAMESPACE, (filename, doc["kind"])


def test_expected_workloads(manifests, deploy, declared):
    deployments = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment")}
    assert deployments == declared.workloads
    apis = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment") if is_api(d, deploy)}
    assert apis == declared.apis
    assert {s["metadata"]["name"] for s in of_kind(manifests, "Service")} == apis
    assert sorted(j["metadata"]["name"] for j in of_kind(manifests, "Job")) == [
        "prm-kafka-access", "prm-migrate"]
    assert of_kind(manifests, "Namespace")[0]["metadata"]["name"] == NAMESPACE


def test_deployment_commands_run_existing_modules(manifests, deploy, repo):
    for deployment in of_kind(manifests, "Deployment"):
        name = deployment["metadata"]["name"]
        for container in containers(deployment):
            argvs = deploy.split_command(command_of(container))
            assert argvs, f"{name}: relies on the image's default command"
            for argv in argvs:
                main = deploy.dash_m_module(argv)
                assert argv[0] == "python" and main, f"{name}: {argv}"
                if main.startswith("prm_"):
                    assert deploy.runnable_with_dash_m(main), f"{name}: python -m {main}"
                named = deploy.modules_named(argv)
                assert named, f"{name}: runs none of our modules"
                for module, attribute in named:
                    path = deploy.module_file(module)
                    assert path is not None, f"{name}: module {module} not found"
                    # A service's own module, or the platform's launcher (prm_platform.serve).
                    assert path.relative_to(repo).parts[0] == "services" or \
                        module == "prm_platform.serve", f"{name}: {module}"
                    if attribute:
                        assert f"def {attribute}(" in path.read_text(), f"{name}: {attribute}"


def test_probes_point_at_health_endpoints(manifests, deploy):
    for deployment in of_kind(manifests, "Deployment"):
        name = deployment["metadata"]["name"]
        for container in containers(deployment):
            ports = {p.get("name") for p in container.get("ports", [])} | {
                p["containerPort"] for p in container.get("ports", [])}
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                if "exec" in probe:  # a worker's heartbeat check, on the file it is told to touch
                    command = probe["exec"]["command"]
                    assert command[:3] == ["python", "-m", "prm_events.heartbeat"], name
                    env = {e["name"]: e.get("value") for e in container.get("env", [])}
                    assert env.get("PRM_WORKER_HEARTBEAT_FILE") == command[3], name
                    assert deploy.runnable_with_dash_m("prm_events.heartbeat")
                    continue
                assert "httpGet" in probe, f"{name} {kind}: HTTP or heartbeat probes only"
                assert probe["httpGet"]["path"] in PROBE_PATHS, f"{name} {kind}"
                assert probe["httpGet"]["port"] in ports, f"{name} {kind}: undeclared port"
        if is_api(deployment, deploy):
            api = pod_spec(deployment)["containers"][0]
            assert api["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            readiness = "/readyz" if name == "gateway" else "/healthz"
            assert api["readinessProbe"]["httpGet"]["path"] == readiness, name
        elif name.endswith("-worker"):
            worker = pod_spec(deployment)["containers"][0]
            assert "exec" in worker["livenessProbe"], f"{name}: a hung worker must be restarted"


def test_workloads_have_requests_and_limits(manifests):
    for workload in [*of_kind(manifests, "Deployment"), *of_kind(manifests, "Job")]:
        for container in containers(workload):
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section, {})), (
                    workload["metadata"]["name"], section)


def test_workloads_run_as_non_root(manifests):
    for workload in [*of_kind(manifests, "Deployment"), *of_kind(manifests, "Job")]:
        security = pod_spec(workload).get("securityContext", {})
        assert security.get("runAsNonRoot") is True, workload["metadata"]["name"]
        assert security.get("runAsUser", 0) != 0, workload["metadata"]["name"]


def test_selectors_match_their_pods(manifests):
    for deployment in of_kind(manifests, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]


def test_services_select_one_api_and_its_port(manifests):
    deployments = of_kind(manifests, "Deployment")
    for service in of_kind(manifests, "Service"):
        selector = service["spec"]["selector"]
        targets = [d for d in deployments
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(targets) == 1, service["metadata"]["name"]
        container_ports = pod_spec(targets[0])["containers"][0]["ports"]
        names = {p.get("name") for p in container_ports} | {p["containerPort"]
                                                             for p in container_ports}
        for port in service["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in names, service["metadata"]["name"]


def test_env_sources_exist_and_cover_the_runtime_interface(manifests):
    config_maps = {c["metadata"]["name"]: c.get("data", {}) for c in of_kind(manifests,
                                                                             "ConfigMap")}
    secrets = {s["metadata"]["name"]: {**s.get("data", {}), **s.get("stringData", {})}
               for s in of_kind(manifests, "Secret")}
    for workload in app_workloads(manifests):
        name = workload["metadata"]["name"]
        for container in containers(workload):
            keys = {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    keys |= set(config_maps[source["configMapRef"]["name"]])
                if "secretRef" in source:
                    keys |= set(secrets[source["secretRef"]["name"]])
            for key in REQUIRED_ENV:
                assert key in keys, f"{name} lacks {key}"
    assert all(c.get("PRM_KAFKA_IDEMPOTENCE") == "true" for c in config_maps.values())
    # Only the ingress controller may name the client (X-Forwarded-For); uvicorn leaves the
    # header to the platform edge.
    assert all(c.get("PRM_TRUSTED_PROXIES") for c in config_maps.values())
    for workload in app_workloads(manifests):
        for container in containers(workload):
            argv = command_of(container)
            if "prm_platform.serve" in argv:
                assert "--no-proxy-headers" in argv, workload["metadata"]["name"]
    # Secret values never sit in a ConfigMap.
    assert not any("PRM_INTERNAL_SECRET" in c or "PRM_DATABASE_URL" in c
                   for c in config_maps.values())


def test_gateway_upstreams_are_cluster_services(manifests, declared):
    services = {s["metadata"]["name"]: s for s in of_kind(manifests, "Service")}
    config = {k: v for c in of_kind(manifests, "ConfigMap") for k, v in c["data"].items()}
    for key, target in declared.upstreams.items():
        url = urlsplit(config[key])
        assert url.hostname.split(".")[0] == target, key
        assert url.port in {p["port"] for p in services[target]["spec"]["ports"]}, key


def test_migrate_job_upgrades_every_service_schema(manifests, deploy, repo, declared):
    migrate = job(manifests, "prm-migrate")
    assert pod_spec(migrate)["restartPolicy"] in {"Never", "OnFailure"}
    argvs = deploy.split_command(command_of(pod_spec(migrate)["containers"][0]))
    configs = {c for argv in argvs for c in deploy.alembic_configs(argv)}
    assert configs >= declared.migrations
    assert configs >= deploy.service_alembic_configs()
    for config in configs:
        assert (repo / config).is_file(), config
    assert all(argv[-2:] == ["upgrade", "head"] for argv in argvs)


def test_one_image_everywhere(manifests):
    images = {c["image"] for w in app_workloads(manifests) for c in containers(w)}
    assert len(images) == 1, images


def test_kustomization_lists_the_long_lived_resources(repo, load_yaml, manifests):
    (kustomization,) = load_yaml(repo / "deploy" / "k8s" / "kustomization.yaml")
    resources = kustomization["resources"]
    for resource in resources:
        assert (repo / "deploy" / "k8s" / resource).is_file(), resource
    files_with = {kind: {f for f, doc in manifests if doc["kind"] == kind}
                  for kind in ("Deployment", "Service", "ConfigMap", "Namespace")}
    for kind, files in files_with.items():
        assert files <= set(resources), f"{kind} manifests missing from kustomization.yaml"
    # The Secret is a template and the Job runs once per release: both are applied by hand.
    assert not {"secret.example.yaml", "migrate-job.yaml", "kafka-access-job.yaml"} & set(resources)
    (image,) = {c["image"] for w in of_kind(manifests, "Deployment") for c in containers(w)}
    assert image.split(":")[0] in {i["name"] for i in kustomization["images"]}


def test_the_ingress_routes_each_declared_prefix_to_its_service(manifests):
    from prm_platform.declaration import services as declarations

    services = {s["metadata"]["name"]: s for s in of_kind(manifests, "Service")}
    (ingress,) = of_kind(manifests, "Ingress")
    [rule] = ingress["spec"]["rules"]
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    for declaration in declarations():
        target = "gateway" if declaration.edge else f"{declaration.name}-api"
        for route in declaration.routes:
            if declaration.edge:
                continue  # served by the gateway, the default
            path = paths[route.prefix]
            assert path["pathType"] == "Prefix"
            backend = path["backend"]["service"]
            assert backend["name"] == target, route.prefix
            ports = {p["port"] for p in services[target]["spec"]["ports"]}
            assert backend["port"]["number"] in ports, route.prefix
    assert paths["/"]["backend"]["service"]["name"] == "gateway"
    assert ingress["spec"]["defaultBackend"]["service"]["name"] == "gateway"


def test_the_edge_routes_are_generated_from_the_declarations(repo):
    """nginx (compose) and the Ingress route what the declarations say: `make edge-routes`."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(repo / "scripts" / "generate_edge_routes.py"),
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
