"""One change per version, route by route: for every update and action of the service (every
route taking If-Match; a new one without a case here fails this file), 20 concurrent calls with
the same If-Match give one success and 412s (or 404s once deleted), and 20 without it each
apply at their own version. Endpoint changes announce nothing, so the outbox must stay as it
was. Each call runs on its own connection and transaction, committed for real; what the cases
create belongs to a partner of their own and is deleted afterwards."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from prm_stack.testing import (
    check_one_success_per_version,
    check_only_allowed_changes,
    committing_client,
    if_match_routes,
    partner_headers,
    race,
)
from prm_webhooks.config import Settings
from prm_webhooks.main import create_app


@dataclass
class Target:
    url: str
    version: int
    aggregate: str  # the outbox key its events would carry
    headers: dict[str, str]
    body: dict | None = None


@dataclass
class Case:
    method: str
    prepare: Callable[["World"], Awaitable[Target]]
    event: str | None  # the event type one applied change emits, if any
    read: str | None = None  # where to read the version afterwards (None: the target's url)


@dataclass
class World:
    client: object
    owner: dict[str, str]
    created: list[str]

    async def endpoint(self) -> Target:
        word = uuid.uuid4().hex[:12]
        response = await self.client.post("/v1/webhook-endpoints", headers=self.owner, json={
            "url": f"https://race-{word}.partner.example/hooks", "description": f"race {word}"})
        assert response.status_code == 201, response.text
        found = response.json()
        self.created.append(found["id"])
        return Target(f"/v1/webhook-endpoints/{found['id']}", found["version"], found["id"],
                      self.owner)


def endpoint_change(method: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        target = await world.endpoint()
        return Target(target.url, target.version, target.aggregate, target.headers, body)
    return Case(method, prepare, None)


def endpoint_action(action: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        target = await world.endpoint()
        return Target(f"{target.url}/{action}", target.version, target.aggregate,
                      target.headers, body)
    return Case("POST", prepare, None, read="endpoint")


CASES = {
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): endpoint_change(
        "PATCH", {"description": "renamed in a race"}),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): endpoint_change("DELETE"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): endpoint_action(
        "rotate-secret", {"overlap_hours": 1}),
}


@pytest.fixture(scope="module")
async def world(prm_infra, app):
    fresh = create_app(Settings())
    partner_id = uuid.uuid4()
    created: list[str] = []
    owner = partner_headers(prm_infra.internal_secret, partner_id,
                            ("webhooks:read", "webhooks:write"))
    try:
        async with committing_client(fresh) as client:
            yield World(client, owner, created)
    finally:
        # Committed for real: other tests list endpoints and fan events out to every one.
        async with app.state.engine.begin() as connection:
            await connection.execute(text(
                "DELETE FROM webhook_endpoints WHERE partner_id = :owner"),
                {"owner": partner_id})


def test_every_update_and_action_has_a_case(app):
    assert set(CASES) == if_match_routes(app)


async def version_now(world: World, case: Case, target: Target) -> int | None:
    url = target.url.rsplit("/", 1)[0] if case.read == "endpoint" else target.url
    seen = await world.client.get(url, headers=world.owner)
    return None if seen.status_code == 404 else seen.json()["version"]


def checked(world, case, target) -> dict:
    async def version_of() -> int | None:
        return await version_now(world, case, target)
    return dict(version=target.version, aggregate=target.aggregate, headers=target.headers,
                body=target.body, event=case.event, version_now=version_of)


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_one_success_per_version(world, app, route):
    case = CASES[route]
    target = await case.prepare(world)
    await check_one_success_per_version(world.client, app.state.engine, case.method,
                                        target.url, **checked(world, case, target))


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_without_if_match_only_allowed_changes(world, app, route):
    case = CASES[route]
    target = await case.prepare(world)
    await check_only_allowed_changes(world.client, app.state.engine, case.method, target.url,
                                     **checked(world, case, target))


async def test_concurrent_rotations_leave_the_last_secret_signing(world, app):
    """Twenty rotations without overlap at once: each at its own version, and the one secret
    left without an end is the one the last of them answered."""
    target = await world.endpoint()
    result = await race(world.client, "POST", f"{target.url}/rotate-secret",
                        json={"overlap_hours": 0}, headers=world.owner)
    assert len(result.succeeded) == 20, result.statuses
    answers = sorted((r.json()["version"], r.json()["secret"]) for r in result.succeeded)
    assert [version for version, _ in answers] == list(range(target.version + 1,
                                                             target.version + 21))
    async with app.state.engine.connect() as connection:
        open_ended = (await connection.execute(text(
            "SELECT secret FROM webhook_endpoint_secrets WHERE endpoint_id = :id "
            "AND expires_at IS NULL"), {"id": target.aggregate})).scalars().all()
    assert open_ended == [answers[-1][1]]
