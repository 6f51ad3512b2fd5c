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
    committing_client,
    if_match_routes,
    outbox_types,
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


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_one_success_per_version(world, app, route):
    case = CASES[route]
    target = await case.prepare(world)
    before = await outbox_types(app.state.engine, target.aggregate)
    result = await race(world.client, case.method, target.url, json=target.body,
                        headers={**target.headers, "If-Match": f'"{target.version}"'})
    assert len(result.succeeded) == 1, result.statuses
    # A deleted record may also answer 404 to the calls that come after its deletion.
    allowed = {412, 404} if case.method == "DELETE" else {412}
    assert {status for status, _ in result.refused()} <= allowed, result.refused()
    emitted = (await outbox_types(app.state.engine, target.aggregate))[len(before):]
    assert emitted == ([case.event] if case.event else []), emitted
    if case.method == "DELETE":
        assert await version_now(world, case, target) is None
    else:
        assert await version_now(world, case, target) == target.version + 1


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_without_if_match_only_allowed_changes(world, app, route):
    case = CASES[route]
    target = await case.prepare(world)
    before = await outbox_types(app.state.engine, target.aggregate)
    result = await race(world.client, case.method, target.url, json=target.body,
                        headers=target.headers)
    # Refusals are the state's (409) or the record gone (404), never a failure.
    assert {status for status, _ in result.refused()} <= {404, 409}, result.refused()
    assert result.succeeded
    applied = {r.headers.get("etag") for r in result.succeeded}
    emitted = (await outbox_types(app.state.engine, target.aggregate))[len(before):]
    if case.method == "DELETE":
        assert len(result.succeeded) == 1
        assert await version_now(world, case, target) is None
        assert emitted == []
        return
    # Every success changed the endpoint at its own version.
    now = await version_now(world, case, target)
    assert now is not None
    assert now - target.version == len(applied), (now, target.version, applied)
    assert emitted == ([case.event] * len(applied) if case.event else []), emitted


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
