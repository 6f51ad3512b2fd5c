"""Broker users and ACLs: every service authenticates as its own user and may write only to its
own topics, in the compose file and in the Kubernetes manifests alike.

The provisioning script (deploy/k8s/kafka-access.sh) is run for real, against stand-ins for
Kafka's two command-line tools that record what they were asked to do.
"""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from prm_contracts import dead_letter_topic
from prm_events.access import kafka_user, password_variable, render
from prm_platform.declaration import services
from prm_stack.supervisor import process_table

SCRIPT = "deploy/k8s/kafka-access.sh"
RECORDER = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "$RECORD"
"""


@pytest.fixture(scope="module")
def declarations():
    return {d.name: d for d in services()}


@pytest.fixture(scope="module")
def owner() -> dict[str, str]:
    """Workload (compose service, Deployment) -> the declared service it belongs to."""
    return {p.name: p.service for p in process_table()}


def run_script(repo: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    base = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir),
            "RECORD": str(tmp_path / "calls"), "KAFKA_BOOTSTRAP": "kafka:9092",
            "KAFKA_ADMIN_USER": "admin", "KAFKA_ADMIN_PASSWORD": "adminpw"}
    return subprocess.run(["sh", str(repo / SCRIPT)], env=base | env, capture_output=True,
                          text=True, timeout=60)


def passwords(declarations) -> dict[str, str]:
    return {password_variable(name): f"pw-{name}-0123456789" for name in declarations}


def test_the_committed_script_is_generated_from_the_declarations(repo):
    assert (repo / SCRIPT).read_text() == render(services()), (
        "deploy/k8s/kafka-access.sh is stale: run `make kafka-access`")


def test_each_service_gets_its_user_and_only_its_own_topics(repo, tmp_path, declarations):
    result = run_script(repo, tmp_path, passwords(declarations))
    assert result.returncode == 0, result.stderr
    calls = [line.split() for line in (tmp_path / "calls").read_text().splitlines()]
    assert all(c[c.index("--command-config") + 1] for c in calls), "the admin's config is used"

    users = {c[c.index("--entity-name") + 1]: c[c.index("--add-config") + 1]
             for c in calls if c[0] == "kafka-configs.sh"}
    acls: dict[str, set[tuple[str, str, str, bool]]] = {}
    for c in (c for c in calls if c[0] == "kafka-acls.sh"):
        principal = c[c.index("--allow-principal") + 1]
        resource = "topic" if "--topic" in c else "group"
        name = c[c.index(f"--{resource}") + 1]
        prefixed = "prefixed" in c
        for i, token in enumerate(c):
            if token == "--operation":
                acls.setdefault(principal, set()).add((resource, name, c[i + 1], prefixed))

    for name, declaration in declarations.items():
        user = kafka_user(name)
        assert users[user] == f"SCRAM-SHA-512=[password=pw-{name}-0123456789]"
        granted = acls.get(f"User:{user}", set())
        writes = {n for r, n, op, _ in granted if r == "topic" and op == "Write"}
        reads = {n for r, n, op, _ in granted if r == "topic" and op == "Read"}
        groups = {(n, p) for r, n, op, p in granted if r == "group"}
        dead_letters = {dead_letter_topic(t) for t in declaration.consumes}
        assert writes == set(declaration.publishes) | dead_letters, name
        assert reads == set(declaration.consumes), name
        assert groups == ({(f"{name}.", True)} if declaration.consumes else set()), name
        assert not {op for *_, op, _ in granted} & {"All", "Alter", "AlterConfigs",
                                                    "ClusterAction"}, name
    # Nobody else may write a topic that a service publishes.
    for name, declaration in declarations.items():
        for other, other_grants in acls.items():
            if other != f"User:{kafka_user(name)}":
                assert not {t for r, t, op, _ in other_grants
                            if op == "Write"} & set(declaration.publishes), (other, name)


def test_the_script_refuses_a_missing_or_unsafe_password(repo, tmp_path, declarations):
    env = passwords(declarations)
    victim = password_variable(next(iter(declarations)))
    missing = run_script(repo, tmp_path, {k: v for k, v in env.items() if k != victim})
    assert missing.returncode != 0 and victim in missing.stderr
    unsafe = run_script(repo, tmp_path, env | {victim: "a],SCRAM-SHA-256=[password=x"})
    assert unsafe.returncode != 0 and "letters, digits" in unsafe.stderr


def test_workers_create_and_use_only_what_their_user_may(monkeypatch, declarations):
    monkeypatch.setenv("PRM_INTERNAL_SECRET", "k" * 40)
    for name, declaration in declarations.items():
        if not declaration.worker:
            continue
        spec = importlib.import_module(declaration.worker).spec()
        consumed = {t for sub in spec.subscriptions for t in sub.topics}
        assert spec.publishes == declaration.publishes, name
        assert consumed == set(declaration.consumes), name
        allowed = set(declaration.publishes) | consumed | {dead_letter_topic(t) for t in consumed}
        assert set(spec.topics()) <= allowed, name


def compose_env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_compose_gives_each_service_its_own_broker_user(repo, declarations, owner):
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]
    access = compose["kafka-access"]
    assert f"./{SCRIPT}:" in " ".join(access["volumes"])
    assert access["entrypoint"][-1] == "/etc/prm/" + Path(SCRIPT).name
    assert access["depends_on"]["kafka"]["condition"] == "service_healthy"
    access_env = compose_env(access)
    for name in declarations:
        assert access_env[password_variable(name)] == (
            f"${{{password_variable(name)}:?set {password_variable(name)}}}")
    for workload, service in owner.items():
        env = compose_env(compose[workload])
        assert env["PRM_KAFKA_SECURITY_PROTOCOL"].startswith("SASL_"), workload
        assert env["PRM_KAFKA_USERNAME"] == kafka_user(service), workload
        assert env["PRM_KAFKA_PASSWORD"].startswith(f"${{{password_variable(service)}:?"), (
            workload)


def test_kubernetes_gives_each_service_its_own_broker_user(repo, load_yaml, declarations,
                                                           owner):
    k8s = repo / "deploy" / "k8s"
    docs = [doc for path in sorted(k8s.glob("*.yaml")) for doc in load_yaml(path)]
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap")
    assert config["PRM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for workload, service in owner.items():
        (container,) = deployments[workload]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        uses_kafka = workload.endswith("-worker") or workload == "gateway"
        if not uses_kafka:  # an API without a Kafka client holds no broker password
            assert "PRM_KAFKA_PASSWORD" not in env, workload
            continue
        assert env["PRM_KAFKA_USERNAME"]["value"] == kafka_user(service), workload
        ref = env["PRM_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("prm-kafka-users", service), workload

    job = next(d for d in docs if d["kind"] == "Job"
               and d["metadata"]["name"] == "prm-kafka-access")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["sh", "/etc/prm/" + Path(SCRIPT).name]
    env = {e["name"]: e for e in container["env"]}
    for name in declarations:
        ref = env[password_variable(name)]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("prm-kafka-users", name)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/prm")
    config_map = volumes[mount["name"]]["configMap"]["name"]
    (kustomization,) = load_yaml(k8s / "kustomization.yaml")
    generated = {g["name"]: g["files"] for g in kustomization["configMapGenerator"]}
    assert generated[config_map] == [Path(SCRIPT).name]
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True
