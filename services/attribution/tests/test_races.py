"""One change per version, route by route: for every update and action of the service (every
route taking If-Match; a new one without a case here fails this file), 20 concurrent calls with
the same If-Match give one success and 19 412s, and 20 without it each apply at their own
version. Each call runs on its own connection and transaction, committed for real.

The attribution rules are global: every version published here repeats the current rules
(nothing computed meanwhile would differ) and is deleted after its test, so the other tests
still find version 1 current."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from prm_attribution.config import Settings
from prm_attribution.main import create_app
from prm_stack.testing import committing_client, if_match_routes, race, vendor_headers


@dataclass
class Target:
    url: str
    version: int
    read: str  # where its version is read afterwards
    headers: dict[str, str]
    body: dict | None = None


@dataclass
class Case:
    method: str
    prepare: Callable[["World"], Awaitable[Target]]
    event: str | None  # the event type one applied change emits, if any


@dataclass
class World:
    client: object
    vendor: dict[str, str]


def publish_rules() -> Case:
    async def prepare(world: World) -> Target:
        current = await world.client.get("/v1/attribution-rules/current", headers=world.vendor)
        assert current.status_code == 200, current.text
        found = current.json()
        return Target("/v1/attribution-rules", found["version"],
                      "/v1/attribution-rules/current", world.vendor,
                      {"rules": found["rules"], "notes": "race: the same rules again"})
    return Case("POST", prepare, None)


CASES = {
    ("POST", "/v1/attribution-rules"): publish_rules(),
}


@pytest.fixture(scope="module")
async def world(prm_infra, app):
    fresh = create_app(Settings())
    async with committing_client(fresh) as client:
        yield World(client, vendor_headers(prm_infra.internal_secret,
                                           ("attribution:read", "attribution:write")))


@pytest.fixture
async def restored(app):
    """Whatever the test publishes is gone afterwards: other tests expect version 1 current."""
    async with app.state.engine.connect() as connection:
        latest = (await connection.execute(text(
            "SELECT max(version) FROM attribution_rules"))).scalar_one()
    yield
    async with app.state.engine.begin() as connection:
        await connection.execute(text("DELETE FROM attribution_rules WHERE version > :v"),
                                 {"v": latest})


async def outbox_since(app, seq: int) -> list[str]:
    """Every event the outbox took after ``seq`` (rules have no aggregate of their own)."""
    async with app.state.engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT event_type FROM outbox WHERE seq > :seq ORDER BY seq"), {"seq": seq})
        return [row[0] for row in rows]


async def outbox_end(app) -> int:
    async with app.state.engine.connect() as connection:
        return (await connection.execute(text(
            "SELECT COALESCE(max(seq), 0) FROM outbox"))).scalar_one()


def test_every_update_and_action_has_a_case(app):
    assert set(CASES) == if_match_routes(app)


async def version_now(world: World, target: Target) -> int | None:
    seen = await world.client.get(target.read, headers=world.vendor)
    return None if seen.status_code == 404 else seen.json()["version"]


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_one_success_per_version(world, app, restored, route):
    case = CASES[route]
    target = await case.prepare(world)
    before = await outbox_end(app)
    result = await race(world.client, case.method, target.url, json=target.body,
                        headers={**target.headers, "If-Match": f'"{target.version}"'})
    assert len(result.succeeded) == 1, result.statuses
    assert {status for status, _ in result.refused()} <= {412}, result.refused()
    assert await outbox_since(app, before) == ([case.event] if case.event else [])
    assert await version_now(world, target) == target.version + 1
    assert result.succeeded[0].headers["etag"] == f'"{target.version + 1}"'


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_without_if_match_only_allowed_changes(world, app, restored, route):
    case = CASES[route]
    target = await case.prepare(world)
    before = await outbox_end(app)
    result = await race(world.client, case.method, target.url, json=target.body,
                        headers=target.headers)
    # Refusals are the state's (409) or the record gone (404), never a failure.
    assert {status for status, _ in result.refused()} <= {404, 409}, result.refused()
    assert result.succeeded
    applied = {r.headers.get("etag") for r in result.succeeded}
    # Every success published its own version.
    now = await version_now(world, target)
    assert now is not None
    assert now - target.version == len(applied), (now, target.version, applied)
    emitted = await outbox_since(app, before)
    assert emitted == ([case.event] * len(applied) if case.event else []), emitted
