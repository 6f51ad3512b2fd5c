"""The Idempotency-Key mechanism on a small app, against the real PostgreSQL."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import text

from prm_platform.db import make_sessionmaker
from prm_platform.http import ServiceRoute, request_session
from prm_platform.problems import Conflict, install_problem_handlers
from prm_platform.security import Principal, PrincipalKind
from prm_stack.testing import principal_headers, scratch_schema

THINGS = "CREATE TABLE things (id uuid PRIMARY KEY, name text NOT NULL)"


class Thing(BaseModel):
    name: str
    delay: float = 0
    fail: bool = False


def make_app(engine, secret) -> FastAPI:
    router = APIRouter(route_class=ServiceRoute)

    @router.post("/things", status_code=201)
    async def create_thing(body: Thing, request: Request, session=Depends(request_session)):
        thing_id = uuid.uuid4()
        await session.execute(text("INSERT INTO things VALUES (:id, :name)"),
                              {"id": thing_id, "name": body.name})
        await asyncio.sleep(body.delay)
        if body.fail:
            raise Conflict("told to fail")
        return {"id": str(thing_id), "name": body.name}

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.internal_secret = secret
    return app


@pytest.fixture
async def setup(prm_infra):
    async with scratch_schema(prm_infra, THINGS) as (engine, _):
        app = make_app(engine, prm_infra.internal_secret)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, engine


def caller(prm_infra, subject="key-1"):
    principal = Principal(subject=subject, kind=PrincipalKind.vendor, scopes=frozenset())
    return principal_headers(principal, prm_infra.internal_secret)


async def count(engine) -> int:
    async with engine.connect() as c:
        return (await c.execute(text("SELECT count(*) FROM things"))).scalar_one()


async def test_same_key_and_body_replays_stored_response(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-1"}
    first = await client.post("/things", json={"name": "a"}, headers=headers)
    # the same JSON document with other key order / spacing is the same request
    again = await client.post("/things", content=b'{ "name" :"a" }',
                              headers={**headers, "content-type": "application/json"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count(engine) == 1


async def test_same_key_other_body_is_422(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-2"}
    await client.post("/things", json={"name": "a"}, headers=headers)
    other = await client.post("/things", json={"name": "b"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert await count(engine) == 1


async def test_concurrent_request_with_same_key_is_409(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-3"}
    slow = asyncio.create_task(client.post("/things", json={"name": "a", "delay": 1.0},
                                           headers=headers))
    await asyncio.sleep(0.3)
    busy = await client.post("/things", json={"name": "a", "delay": 1.0}, headers=headers)
    assert busy.status_code == 409
    assert busy.json()["type"] == "/problems/idempotency-key-in-use"
    assert (await slow).status_code == 201
    assert await count(engine) == 1


async def test_keys_are_scoped_to_the_caller(setup, prm_infra):
    client, engine = setup
    one = await client.post("/things", json={"name": "a"},
                            headers={**caller(prm_infra, "key-1"), "Idempotency-Key": "shared"})
    two = await client.post("/things", json={"name": "a"},
                            headers={**caller(prm_infra, "key-2"), "Idempotency-Key": "shared"})
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert await count(engine) == 2


async def test_failed_request_releases_its_key_and_changes_nothing(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-4"}
    failed = await client.post("/things", json={"name": "a", "fail": True}, headers=headers)
    assert failed.status_code == 409
    assert await count(engine) == 0  # rolled back with the request
    retried = await client.post("/things", json={"name": "a", "fail": True}, headers=headers)
    assert retried.status_code == 409  # executed again, not a replay
    assert "idempotent-replayed" not in retried.headers


async def test_expired_or_abandoned_keys_are_reusable(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-5"}
    await client.post("/things", json={"name": "a"}, headers=headers)
    async with engine.begin() as c:
        await c.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1s'"))
    fresh = await client.post("/things", json={"name": "b"}, headers=headers)
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    # a claim left in progress by a crashed process is taken over once its lease ended
    async with engine.begin() as c:
        await c.execute(text(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, "
            "expires_at) SELECT scope, 'k-6', fingerprint, 'in_progress', "
            "now() - interval '1s', now() + interval '1 day' FROM idempotency_keys "
            "WHERE key = 'k-5'"))
    taken_over = await client.post("/things", json={"name": "b"},
                                   headers={**headers, "Idempotency-Key": "k-6"})
    assert taken_over.status_code == 201
    assert await count(engine) == 3


async def test_invalid_key_is_a_400_problem(setup, prm_infra):
    client, _ = setup
    response = await client.post("/things", json={"name": "a"},
                                 headers={**caller(prm_infra), "Idempotency-Key": "x" * 300})
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed-request"


async def test_busy_key_says_how_long_its_lease_has_left(setup, prm_infra):
    client, _ = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-lease"}
    slow = asyncio.create_task(client.post("/things", json={"name": "a", "delay": 1.0},
                                           headers=headers))
    await asyncio.sleep(0.3)
    busy = await client.post("/things", json={"name": "a", "delay": 1.0}, headers=headers)
    assert busy.status_code == 409
    # The lease is 60 s from the claim: what is left of it, not a blind "1".
    assert 55 <= int(busy.headers["retry-after"]) <= 60
    await slow


async def test_a_request_that_lost_its_lease_cannot_complete_or_release(setup, prm_infra):
    client, engine = setup
    headers = {**caller(prm_infra), "Idempotency-Key": "k-owner"}
    stale = asyncio.create_task(client.post("/things", json={"name": "a", "delay": 1.5},
                                            headers=headers))
    await asyncio.sleep(0.3)
    async with engine.begin() as c:  # the first request outlives its lease (a long GC, a hang)
        await c.execute(text("UPDATE idempotency_keys SET locked_until = now() - interval '1s' "
                             "WHERE key = 'k-owner'"))
    retry = asyncio.create_task(client.post("/things", json={"name": "a", "delay": 1.5},
                                            headers=headers))
    lost, won = await stale, await retry
    assert lost.status_code == 409, lost.text  # its effect was rolled back
    assert lost.json()["type"] == "/problems/idempotency-key-in-use"
    assert won.status_code == 201, won.text
    assert await count(engine) == 1, "only the retry's effect counts"
    replay = await client.post("/things", json={"name": "a", "delay": 1.5}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == won.json()


def test_a_multipart_body_is_the_same_request_whatever_its_boundary():
    """A client draws a new boundary for each multipart body, a retry's too: the fingerprint
    reads the parts, not the boundary, and still tells other parts apart."""
    from starlette.requests import Request as StarletteRequest

    from prm_platform.idempotency import _fingerprint

    def fingerprint(boundary: str, content: bytes, quoted: bool = False) -> str:
        parameter = f'"{boundary}"' if quoted else boundary
        scope = {"type": "http", "method": "POST", "path": "/files", "query_string": b"",
                 "headers": [(b"content-type",
                              f"multipart/form-data; boundary={parameter}".encode())]}
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
        return _fingerprint(StarletteRequest(scope), body + content +
                            f"\r\n--{boundary}--\r\n".encode())

    first = fingerprint("a1b2c3", b"%PDF-1.4 one")
    assert fingerprint("zz9-other", b"%PDF-1.4 one") == first
    assert fingerprint("quoted boundary", b"%PDF-1.4 one", quoted=True) == first
    assert fingerprint("a1b2c3", b"%PDF-1.4 two") != first
    assert fingerprint("a1b2c3", b"%PDF-1.4 one\r\n") != first
