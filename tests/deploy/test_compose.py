"""docker-compose.yml: every process can start, finds its dependencies and is supervised.

Compose itself is not needed: the file is parsed with PyYAML (merge keys and anchors resolved)
and checked against the code it runs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml

REQUIRED_ENV = ("PRM_DATABASE_URL", "PRM_KAFKA_BOOTSTRAP", "PRM_INTERNAL_SECRET")
LONG_RUNNING_RESTART = {"always", "unless-stopped", "on-failure"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def app_services(declared) -> set[str]:
    return {"migrate", *declared.workloads}


@pytest.fixture(scope="module")
def compose(repo) -> dict:
    with (repo / "docker-compose.yml").open() as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def default_of(value: str) -> str:
    """Resolve compose interpolation the way an unset variable would (`${X:-d}` -> d)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)


def is_one_shot(name: str, services: dict[str, dict]) -> bool:
    """Runs to completion: never restarted, and awaited as `service_completed_successfully`."""
    service = services[name]
    waited_for = [depends_on(other).get(name) for other in services.values()]
    return (str(service.get("restart", "no")) == "no" and not service.get("ports")
            and "service_completed_successfully" in waited_for
            and all(c in (None, "service_completed_successfully") for c in waited_for))


def is_app(service: dict) -> bool:
    build = service.get("build") or {}
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    return dockerfile == "deploy/Dockerfile"


def listen_port(service: dict, deploy) -> str | None:
    for argv in deploy.split_command(service.get("command")):
        if "prm_platform.serve" in argv and "--port" in argv:
            return argv[argv.index("--port") + 1]
    return None


def test_expected_services(services, app_services):
    assert {"postgres", "kafka", *app_services} <= set(services)
    assert {name for name, service in services.items() if is_app(service)} == app_services


def test_official_infrastructure_images(services):
    assert services["postgres"]["image"] == "postgres:18"
    assert services["kafka"]["image"].split(":")[0] == "apache/kafka"


def test_every_service_has_a_healthcheck_or_is_a_one_shot(services):
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        if healthcheck is None:
            assert is_one_shot(name, services), f"{name}: no healthcheck and not a one-shot"
            continue
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test"), name
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_migrate_is_a_one_shot(services):
    assert is_one_shot("migrate", services)
    assert "healthcheck" not in services["migrate"]


def test_long_running_services_restart(services):
    for name, service in services.items():
        if not is_one_shot(name, services):
            assert service.get("restart") in LONG_RUNNING_RESTART, name


def test_api_healthchecks_probe_the_api_without_curl(services, deploy, declared):
    apis = [name for name, service in services.items() if listen_port(service, deploy)]
    assert set(apis) == declared.apis
    for name in apis:
        service = services[name]
        test = " ".join(service["healthcheck"]["test"])
        assert "curl" not in test and "wget" not in test, f"{name}: slim images lack curl/wget"
        assert test.split()[1] == "python", name
        port = listen_port(service, deploy)
        # The gateway is healthy once ready (/readyz: database, Kafka and both APIs answer).
        path = "/readyz" if name == "gateway" else "/healthz"
        assert f"127.0.0.1:{port}{path}" in test or f"localhost:{port}{path}" in test, name


def test_app_services_get_database_kafka_and_secret(services):
    for name, service in services.items():
        if not is_app(service):
            continue
        env = environment(service)
        for key in REQUIRED_ENV:
            assert env.get(key), f"{name} lacks {key}"
        assert env.get("PRM_KAFKA_IDEMPOTENCE") == "true", f"{name}: real Kafka, idempotence on"


def test_internal_secret_is_required_not_hardcoded(services):
    for name, service in services.items():
        if is_app(service):
            secret = environment(service)["PRM_INTERNAL_SECRET"]
            assert secret.startswith("${PRM_INTERNAL_SECRET:?"), name


def test_database_url_points_at_the_compose_postgres(services):
    pg_env = environment(services["postgres"])
    for name, service in services.items():
        if not is_app(service):
            continue
        url = urlsplit(default_of(environment(service)["PRM_DATABASE_URL"]))
        assert url.scheme == "postgresql+asyncpg", name
        assert url.hostname == "postgres" and (url.port or 5432) == 5432, name
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.password == default_of(pg_env["POSTGRES_PASSWORD"]), name
        assert url.path.lstrip("/") == pg_env["POSTGRES_DB"], name


def properties(path) -> dict[str, str]:
    """A Java properties file as written here: ``key=value`` lines and ``#`` comments."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@pytest.fixture(scope="module")
def kafka_config(services, repo) -> dict[str, str]:
    """deploy/kafka/server.properties, which the kafka service mounts and starts on."""
    kafka = services["kafka"]
    mounts = [v.split(":") for v in kafka["volumes"] if v.startswith("./")]
    files = [(source, target) for source, target, *_ in mounts if source.endswith(".properties")]
    assert len(files) == 1, "the kafka service mounts one server.properties"
    source, target = files[0]
    script = "\n".join(kafka["command"])
    assert f"cp {target} /tmp/server.properties" in script
    assert "kafka-server-start.sh /tmp/server.properties" in script
    return properties(repo / source)


def listener_map(value: str) -> dict[str, str]:
    return {item.split("://")[0]: item.split("://")[1] for item in value.split(",")}


def test_kafka_is_single_node_kraft(kafka_config, services):
    config = kafka_config
    assert environment(services["kafka"])["CLUSTER_ID"]
    assert set(config["process.roles"].split(",")) == {"broker", "controller"}
    node_id = config["node.id"]
    voters = dict(v.split("@", 1) for v in config["controller.quorum.voters"].split(","))
    assert set(voters) == {node_id}, "the single node must be the only controller voter"

    listeners = listener_map(config["listeners"])
    protocol_map = dict(pair.split(":") for pair in config["listener.security.protocol.map"]
                        .split(","))
    controller = config["controller.listener.names"]
    assert controller in listeners and controller in protocol_map
    assert voters[node_id].endswith(":" + listeners[controller].rsplit(":", 1)[1])
    assert set(listeners) <= set(protocol_map)
    advertised = listener_map(config["advertised.listeners"])
    assert controller not in advertised, "the controller listener is never advertised"
    assert config["inter.broker.listener.name"] in advertised

    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert config[key] == "1", key
    # Topics are created by the workers with PRM_KAFKA_PARTITIONS partitions.
    assert config["auto.create.topics.enable"] == "false"


def test_kafka_authenticates_every_client_and_authorises_by_acl(kafka_config, services):
    config = kafka_config
    protocol_map = dict(pair.split(":") for pair in config["listener.security.protocol.map"]
                        .split(","))
    listeners = listener_map(config["listeners"])
    controller = config["controller.listener.names"]
    for name in listener_map(config["advertised.listeners"]):
        assert protocol_map[name].startswith("SASL_"), f"{name}: clients must authenticate"
    # The one unauthenticated listener (the controller's) is reachable from the container only.
    assert listeners[controller].startswith("127.0.0.1:"), "controller listener on loopback"
    assert config["sasl.enabled.mechanisms"].startswith("SCRAM-SHA-")
    assert config["authorizer.class.name"].endswith("StandardAuthorizer")
    assert config["allow.everyone.if.no.acl.found"] == "false"
    super_users = set(config["super.users"].split(";"))
    assert super_users <= {"User:admin", "User:ANONYMOUS"}
    # The admin's password comes from the environment, never from the committed file.
    script = "\n".join(services["kafka"]["command"])
    assert "--add-scram" in script and "$$KAFKA_ADMIN_PASSWORD" in script
    assert environment(services["kafka"])["KAFKA_ADMIN_PASSWORD"].startswith(
        "${PRM_KAFKA_ADMIN_PASSWORD:?")
    assert "password" not in " ".join(config).lower()


def test_apps_bootstrap_from_an_advertised_kafka_listener(kafka_config, services):
    advertised = set(listener_map(kafka_config["advertised.listeners"]).values())
    for name, service in services.items():
        if is_app(service):
            bootstrap = environment(service)["PRM_KAFKA_BOOTSTRAP"]
            assert set(bootstrap.split(",")) <= advertised, name


def test_commands_refer_to_modules_that_exist(services, deploy, repo):
    for name, service in services.items():
        if not is_app(service):
            continue
        argvs = deploy.split_command(service.get("command"))
        assert argvs, f"{name}: the image's default command is not meant to be relied on"
        for argv in argvs:
            assert argv[0] == "python", f"{name}: {argv}"
            main = deploy.dash_m_module(argv)
            assert main in {"uvicorn", "alembic"} or main.startswith("prm_"), f"{name}: {argv}"
            if main.startswith("prm_"):
                assert deploy.runnable_with_dash_m(main), f"{name}: python -m {main} runs nothing"
            for module, attribute in deploy.modules_named(argv):
                path = deploy.module_file(module)
                assert path is not None, f"{name}: module {module} not found"
                # A service's own module, or the platform's launcher (prm_platform.serve).
                assert path.relative_to(repo).parts[0] == "services" or \
                    module == "prm_platform.serve", f"{name}: {module} is not in services/*/src"
                if attribute:
                    assert re.search(rf"^def {attribute}\b", path.read_text(), re.M), (
                        f"{name}: {module} has no {attribute}()")


def test_uvicorn_commands_bind_all_interfaces_on_8000(services, deploy):
    for name, service in services.items():
        for argv in deploy.split_command(service.get("command")):
            if "prm_platform.serve" in argv:
                assert "--factory" in argv, name
                assert argv[argv.index("--host") + 1] == "0.0.0.0", name
                assert argv[argv.index("--port") + 1] == "8000", name


def test_migrate_upgrades_every_service_schema(services, deploy, repo, declared):
    configs = [c for argv in deploy.split_command(services["migrate"]["command"])
               for c in deploy.alembic_configs(argv)]
    for argv in deploy.split_command(services["migrate"]["command"]):
        assert argv[-2:] == ["upgrade", "head"], argv
    assert set(configs) >= declared.migrations
    for config in configs:
        assert (repo / config).is_file(), f"{config} does not exist"
        assert (repo / config).parent.joinpath("migrations", "env.py").is_file(), config
    assert set(configs) >= deploy.service_alembic_configs(), "a service's migrations are skipped"


def test_depends_on_targets_exist_with_valid_conditions(services):
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert is_one_shot(target, services), f"{target} is not a one-shot"


def test_depends_on_has_no_cycle(services):
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert state.get(name) != "open", f"cycle: {' -> '.join((*path, name))}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for target in depends_on(services[name]):
            visit(target, (*path, name))
        state[name] = "done"

    for name in services:
        visit(name, ())


def test_startup_order(services, declared, app_services):
    for name in app_services - {"migrate"}:
        deps = depends_on(services[name])
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("migrate") == "service_completed_successfully", name
        if name.endswith("-worker") or name == "gateway":
            assert deps.get("kafka-access") == "service_completed_successfully", name
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    gateway = depends_on(services["gateway"])
    for api in declared.upstreams.values():
        assert gateway.get(api) == "service_healthy", api


def test_the_edge_is_published_and_routes_each_prefix_to_its_service(services, deploy, declared,
                                                                     repo):
    edge = services["edge"]
    assert edge["image"].split(":")[0] == "nginx"
    assert any(str(p).startswith("${PRM_GATEWAY_PORT:-8000}:") for p in edge.get("ports", []))
    published = [name for name, service in services.items() if service.get("ports")
                 and "observability" not in service.get("profiles", [])]
    assert published == ["edge"], "only the edge is reachable from outside"
    for name, service in services.items():  # Prometheus and Grafana: this machine only
        if "observability" in service.get("profiles", []):
            assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
    [mount] = [v for v in edge["volumes"] if v.startswith("./deploy/nginx/")]
    conf = (repo / mount.split(":")[0].removeprefix("./")).read_text()
    upstreams = dict(re.findall(r"upstream (\S+)\s*\{\s*server ([^;\s]+);", conf))
    routes = dict(re.findall(r"location (?:=|\^~) (\S+) \{ proxy_pass http://(\S+);[^}]*\}", conf))
    from prm_platform.declaration import services as declarations

    for declaration in declarations():
        if declaration.edge or not declaration.app:
            continue
        target = f"{declaration.name}-api"
        for route in declaration.routes:
            for path in (route.prefix, route.prefix + "/"):
                port = listen_port(services[target], deploy)
                assert upstreams[routes[path]] == f"{target}:{port}", path
    assert re.search(r"location / \{ proxy_pass http://gateway; \}", conf)
    # A bulk upload's prefix takes the larger body its service allows (8 MiB for accounts,
    # 4 MiB for a delivery of engagements, 25 MiB and some for an enablement file), no other
    # does.
    larger = re.findall(r"location (?:=|\^~) (\S+) \{[^}]*client_max_body_size (\S+); \}", conf)
    assert sorted(larger) == [("/v1/campaign-intake", "4m"), ("/v1/campaign-intake/", "4m"),
                              ("/v1/enablement-resources", "26m"),
                              ("/v1/enablement-resources/", "26m"),
                              ("/v1/mapped-accounts", "8m"), ("/v1/mapped-accounts/", "8m")]
    assert upstreams["gateway"] == "gateway:8000"
    assert 'proxy_set_header X-PRM-Principal "";' in conf, "the edge strips the principal header"
    assert "application/problem+json" in conf
    assert depends_on(edge) == {"gateway": "service_healthy", **{
        f"{d.name}-api": "service_healthy" for d in declarations() if d.app and not d.edge}}
    for api in declared.upstreams.values():  # several replicas of each API behind the edge
        assert services[api].get("deploy", {}).get("replicas", 1) >= 2, api


def test_gateway_routes_to_the_apis(services, deploy, declared):
    env = environment(services["gateway"])
    for key, target in declared.upstreams.items():
        url = urlsplit(env[key])
        assert url.scheme == "http" and url.hostname == target, key
        assert str(url.port) == listen_port(services[target], deploy), key


def test_client_addresses_come_only_from_the_edge(compose, services, deploy):
    """The failed-authentication limit is per client: uvicorn leaves X-Forwarded-For alone
    (the platform edge reads it), and only the edge's fixed address is trusted to set it."""
    import ipaddress
    import json

    edge = services["edge"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(edge) in ipaddress.ip_network(subnet)
    for name, service in services.items():
        for argv in deploy.split_command(service.get("command")):
            if "prm_platform.serve" in argv:
                assert "--no-proxy-headers" in argv, name
                trusted = json.loads(environment(service)["PRM_TRUSTED_PROXIES"])
                assert [ipaddress.ip_network(t) for t in trusted] == [
                    ipaddress.ip_network(f"{edge}/32")], name
