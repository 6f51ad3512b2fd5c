"""The service registry: every service folder declares itself, and every route a service
declares is reachable through the gateway and answered by that service."""

from pathlib import Path

from prm_platform.declaration import services

from .helpers import SERVICES, issue_key


def test_every_service_folder_is_declared():
    folders = {p.parent.name for p in Path(SERVICES).glob("*/pyproject.toml")}
    declared = {d.name: d for d in services()}
    assert set(declared) == folders
    for name, declaration in declared.items():
        assert declaration.package == f"prm_{name}"
        assert declaration.migrations == Path(SERVICES) / name / "alembic.ini"
        assert declaration.migrations.is_file()
    assert [d.name for d in services() if d.edge] == ["gateway"]


async def test_every_declared_route_is_reachable_through_the_gateway(gateway, admin):
    routed = [(d, route) for d in services() for route in d.routes if route.lists]
    assert {route.prefix for _, route in routed} >= {"/v1/partners", "/v1/deals",
                                                      "/v1/api-keys"}
    for declaration, route in routed:
        response = await gateway.get(route.prefix, headers=admin, params={"limit": 1})
        assert response.status_code == 200, (declaration.name, route.prefix, response.text)
        assert set(response.json()) == {"items", "next_cursor", "total_count"}, route.prefix


async def test_gateway_demands_each_routes_declared_scopes(gateway):
    for declaration in services():
        for route in declaration.routes:
            if not route.lists:
                continue
            reader = await issue_key(gateway, scopes=[route.read])
            assert (await gateway.get(route.prefix, headers=reader)).status_code == 200
            others = [s.name for d in services() for s in d.scopes
                      if s.name not in (route.read, route.write)]
            outsider = await issue_key(gateway, scopes=others[:1])
            refused = await gateway.get(route.prefix, headers=outsider)
            assert refused.status_code == 403, (route.prefix, refused.text)
