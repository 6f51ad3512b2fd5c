"""A GET (and a HEAD, run as a GET) cannot change state: ServiceRoute runs it in a READ ONLY
transaction, so PostgreSQL refuses whatever write the code it reaches attempts."""

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text

from prm_platform.db import make_read_sessionmaker, make_sessionmaker
from prm_platform.http import HeadAsGet, ServiceRoute, request_session
from prm_platform.problems import install_problem_handlers
from prm_platform.security import Principal, PrincipalKind
from prm_stack.testing import principal_headers, scratch_schema

COUNTERS = "CREATE TABLE counters (name text PRIMARY KEY, n int NOT NULL)"


def make_app(engine, secret) -> FastAPI:
    router = APIRouter(route_class=ServiceRoute)

    async def bump(session) -> dict:
        await session.execute(text("UPDATE counters SET n = n + 1 WHERE name = 'c'"))
        return {"n": (await session.execute(text("SELECT n FROM counters"))).scalar_one()}

    @router.get("/counter")
    async def read_and_bump(session=Depends(request_session)):
        return await bump(session)

    @router.post("/counter")
    async def bump_counter(session=Depends(request_session)):
        return await bump(session)

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.add_middleware(HeadAsGet)
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_sessionmaker = make_read_sessionmaker(engine)
    app.state.internal_secret = secret
    return app


async def test_a_get_that_writes_is_refused_and_changes_nothing(prm_infra):
    async with scratch_schema(prm_infra, COUNTERS,
                              "INSERT INTO counters VALUES ('c', 0)") as (engine, _):
        app = make_app(engine, prm_infra.internal_secret)
        headers = principal_headers(Principal(subject="key-1", kind=PrincipalKind.vendor,
                                              scopes=frozenset()), prm_infra.internal_secret)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method in ("GET", "HEAD"):
                refused = await client.request(method, "/counter", headers=headers)
                assert refused.status_code == 500, refused.text
            written = await client.post("/counter", headers=headers)
            assert written.status_code == 200 and written.json() == {"n": 1}
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM counters"))).scalar_one() == 1
