"""One change per version: the gateway's own routes take no If-Match (a new one without a case
here fails this file), and its one action, revoking a key, is proven on its own: 20 concurrent
revocations of one key revoke it once, announced by one event, and answer every caller with
that one revocation. Each call runs on its own connection and transaction, committed for real;
the keys made here are deleted afterwards (other tests list keys)."""

import uuid

import pytest
from sqlalchemy import text

from prm_gateway.api_keys import service
from prm_gateway.config import Settings
from prm_gateway.main import create_app
from prm_stack.testing import committing_client, if_match_routes, outbox_types, race

from .helpers import MAX_BODY

# No route of the gateway takes If-Match today; a new one needs its case here.
CASES: dict[tuple[str, str], object] = {}


def test_every_update_and_action_has_a_case(migrated):
    app = create_app(Settings(max_body_bytes=MAX_BODY))
    assert set(CASES) == if_match_routes(app)


@pytest.fixture
async def committed(engines):
    """A gateway whose requests commit, an admin key's headers, and the ids of the keys made
    through it (deleted afterwards, with their events)."""
    app = create_app(Settings(max_body_bytes=MAX_BODY))
    engine = engines["gateway"]
    made: list[uuid.UUID] = []
    async with app.state.sessionmaker() as session:
        admin, secret = await service.issue(session, name=f"race admin {uuid.uuid4().hex[:8]}",
                                            kind="vendor", scopes=["admin"])
        await session.commit()
    made.append(admin.id)
    try:
        async with committing_client(app) as client:
            yield client, {"Authorization": f"Bearer {secret}"}, made, engine
    finally:
        async with engine.begin() as connection:
            ids = [str(key_id) for key_id in made]
            await connection.execute(text(
                "DELETE FROM outbox WHERE key = ANY(CAST(:ids AS text[]))"), {"ids": ids})
            await connection.execute(text(
                "DELETE FROM api_keys WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})


async def test_concurrent_revocations_revoke_once(committed):
    client, admin, made, engine = committed
    created = await client.post("/v1/api-keys", headers=admin, json={
        "name": f"race {uuid.uuid4().hex[:8]}", "scopes": ["partners:read"]})
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    made.append(uuid.UUID(key_id))
    before = await outbox_types(engine, key_id)
    assert before == ["prm.api_key.issued.v1"]

    result = await race(client, "POST", f"/v1/api-keys/{key_id}/revoke", headers=admin)
    # Revoking a revoked key changes nothing: every caller gets the one revocation.
    assert result.statuses == [200] * 20, result.refused()
    assert {r.json()["status"] for r in result.succeeded} == {"revoked"}
    assert len({r.json()["revoked_at"] for r in result.succeeded}) == 1
    emitted = (await outbox_types(engine, key_id))[len(before):]
    assert emitted == ["prm.api_key.revoked.v1"], emitted
    read = await client.get(f"/v1/api-keys/{key_id}", headers=admin)
    assert read.json()["revoked_at"] == result.succeeded[0].json()["revoked_at"]
