"""Helpers for service and cross-service tests (used through the pytest plugin)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal
from prm_stack.migrate import command_line


@dataclass
class Infra:
    """The real PostgreSQL and broker the tests run against."""

    database_url: str
    kafka_bootstrap: str
    internal_secret: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PRM_DATABASE_URL": self.database_url,
            "PRM_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "PRM_INTERNAL_SECRET": self.internal_secret,
            **extra,
        }


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def migrate(service_dirs: Path | Sequence[Path], infra: Infra) -> None:
    """Apply services' Alembic migrations, in the order given, as ``make run`` does (one
    process for all of them: ``prm_stack.migrate``)."""
    dirs = [service_dirs] if isinstance(service_dirs, Path) else list(service_dirs)
    result = subprocess.run(command_line({d.name: d / "alembic.ini" for d in dirs}),
                            env=infra.env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"migrations failed:\n{result.stderr}")


def principal_headers(principal: Principal, secret: str) -> dict[str, str]:
    return {PRINCIPAL_HEADER: sign_principal(principal, secret)}


def vendor_headers(secret: str, scopes: Iterable[str], subject: str = "key-vendor"
                   ) -> dict[str, str]:
    principal = Principal(subject=subject, kind=PrincipalKind.vendor,
                          scopes=frozenset(scopes))
    return principal_headers(principal, secret)


def partner_headers(secret: str, partner_id: uuid.UUID, scopes: Iterable[str]
                    ) -> dict[str, str]:
    principal = Principal(subject=f"key-{partner_id}", kind=PrincipalKind.partner,
                          partner_id=partner_id, scopes=frozenset(scopes))
    return principal_headers(principal, secret)


def _api_routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    from fastapi.routing import APIRoute, iter_route_contexts

    # Included routers are resolved lazily by FastAPI, so app.routes alone does not list them.
    # Paths as the contract writes them: "{deal_id}", not the router's "{deal_id:uuid}".
    return {(method, re.sub(r"{(\w+):\w+}", r"{\1}", str(context.path))):
            context.original_route
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute)
            for method in context.methods or ()}


def if_match_routes(app: FastAPI) -> set[tuple[str, str]]:
    """The (method, path) of every route that takes ``If-Match``: the updates and actions that
    the one-success-per-version guarantee covers, for tests that must cover each of them."""
    def takes_if_match(route: Any) -> bool:
        params = route.dependant.header_params
        return any(getattr(p.field_info, "alias", None) == "If-Match" for p in params)
    return {key for key, route in _api_routes(app).items() if takes_if_match(route)}


@dataclass
class RaceResult:
    """What N concurrent calls of one request answered."""

    responses: list[httpx.Response]

    @property
    def statuses(self) -> list[int]:
        return sorted(r.status_code for r in self.responses)

    @property
    def succeeded(self) -> list[httpx.Response]:
        return [r for r in self.responses if r.is_success]

    def refused(self) -> list[tuple[int, str]]:
        """(status, problem type) of each refusal."""
        return sorted((r.status_code, r.json().get("type", "")) for r in self.responses
                      if not r.is_success)


async def race(client: httpx.AsyncClient, method: str, url: str, *, times: int = 20,
               headers: dict[str, str] | None = None, json: Any = None) -> RaceResult:
    """``times`` concurrent calls of one request, each on its own connection and transaction
    (``client`` must be on an app whose sessions really commit, not a rolled-back one)."""
    import asyncio

    # Each call gets its own Idempotency-Key when the caller sent none: the race is between
    # distinct requests, not retries of one.
    calls = [client.request(method, url, json=json, headers={**(headers or {})})
             for _ in range(times)]
    return RaceResult(list(await asyncio.gather(*calls)))


@contextlib.asynccontextmanager
async def committing_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` (a fresh instance, not one a rolled-back client patches) whose
    requests commit for real, each on its own pooled connection: for races between requests.
    What they write stays, so callers use unique names."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await app.state.engine.dispose()


async def outbox_types(engine: AsyncEngine, aggregate_id: Any, after_seq: int = 0
                       ) -> list[str]:
    """The types of the events the outbox holds for one aggregate (its key), in order."""
    from sqlalchemy import text

    async with engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT event_type FROM outbox WHERE key = :key AND seq > :after ORDER BY seq"),
            {"key": str(aggregate_id), "after": after_seq})
        return [row[0] for row in rows]


# The event types one applied change emits, in order: one, several or none.
Announced = str | tuple[str, ...] | None


def _announced(event: Announced) -> list[str]:
    if event is None:
        return []
    return [event] if isinstance(event, str) else list(event)


async def check_one_success_per_version(
        client: httpx.AsyncClient, engine: AsyncEngine, method: str, url: str, *,
        version: int, aggregate: Any, headers: dict[str, str], body: Any,
        event: Announced, version_now: Callable[[], Any]) -> None:
    """20 concurrent calls naming one version (If-Match): one success, 412 for the rest (or
    404 once a DELETE went through), the ``event`` (or events, or none) of one change, the
    version moved by one (``version_now`` reads it back; None once deleted)."""
    before = await outbox_types(engine, aggregate)
    result = await race(client, method, url, json=body,
                        headers={**headers, "If-Match": f'"{version}"'})
    assert len(result.succeeded) == 1, result.statuses
    # A deleted record may also answer 404 to the calls that come after its deletion.
    allowed = {412, 404} if method == "DELETE" else {412}
    assert {status for status, _ in result.refused()} <= allowed, result.refused()
    emitted = (await outbox_types(engine, aggregate))[len(before):]
    assert emitted == _announced(event), emitted
    assert await version_now() == (None if method == "DELETE" else version + 1)


async def check_only_allowed_changes(
        client: httpx.AsyncClient, engine: AsyncEngine, method: str, url: str, *,
        version: int, aggregate: Any, headers: dict[str, str], body: Any,
        event: Announced, version_now: Callable[[], Any]) -> None:
    """20 concurrent calls without If-Match: refusals only the state machine's (409) or the
    record gone (404), never a failure; every success that changed something did so at its
    own version (its ETag), announced by its ``event`` (or events) each."""
    before = await outbox_types(engine, aggregate)
    result = await race(client, method, url, json=body, headers=headers)
    assert {status for status, _ in result.refused()} <= {404, 409}, result.refused()
    assert result.succeeded
    emitted = (await outbox_types(engine, aggregate))[len(before):]
    if method == "DELETE":
        assert len(result.succeeded) == 1
        assert await version_now() is None
        return
    applied = {r.headers.get("etag") for r in result.succeeded}
    assert None not in applied
    now = await version_now()
    assert now is not None
    assert now - version == len(applied), (now, version, applied)
    assert emitted == _announced(event) * len(applied), emitted


_SAMPLE_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"


def _contract_sample(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A value of ``schema``: its first example, else one made from its type."""
    if schema.get("examples"):
        return schema["examples"][0]
    if "$ref" in schema:
        return _contract_sample(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    for alternatives in (schema.get("anyOf"), schema.get("oneOf")):
        if alternatives:
            chosen = next(s for s in alternatives if s.get("type") != "null")
            return _contract_sample(chosen, schemas)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        return {"uuid": _SAMPLE_ID, "date": dt.date.today().isoformat(),
                "date-time": dt.datetime.now(dt.UTC).isoformat()}.get(
                    schema.get("format", ""), "EUR" if schema.get("pattern") == "^[A-Z]{3}$"
                    else "x")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_contract_sample(schema.get("items", {}), schemas)]
    required = schema.get("required", ())
    return {name: _contract_sample(property_schema, schemas)
            for name, property_schema in schema.get("properties", {}).items()
            if name in required}


@dataclass
class SampleRequest:
    method: str
    url: str
    params: dict[str, Any]
    json: Any = None
    files: dict[str, Any] | None = None  # a multipart/form-data body
    content: bytes | None = None  # a raw file body (application/octet-stream)

    async def send(self, client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        return await client.request(self.method, self.url, params=self.params, json=self.json,
                                    files=self.files, content=self.content, headers=headers)


def sample_request(contract: dict[str, Any], method: str, path: str,
                   **path_values: str) -> SampleRequest:
    """A request of an operation built from its contract (``app.openapi()``) that passes its
    validation: the path parameters (``path_values``, else a fixed id or a value of their
    type), the required query parameters, and the body of the schema's first example (none
    when the body is optional). For tests that walk every route with varying credentials: a
    request refused for its shape would hide whether its scopes were checked."""
    operation = contract["paths"][path][method.lower()]
    schemas = contract.get("components", {}).get("schemas", {})
    url, params = path, {}
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            value = path_values.get(name, _contract_sample(parameter["schema"], schemas))
            url = url.replace("{" + name + "}", str(value))
        elif parameter["in"] == "query" and parameter.get("required"):
            params[name] = _contract_sample(parameter["schema"], schemas)
    if {"from", "to"} <= set(params):  # a period: from before to
        params["from"] = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    request = SampleRequest(method.upper(), url, params)
    body = operation.get("requestBody")
    if body and body.get("required"):
        content = body["content"]
        if "application/json" in content:
            request.json = _contract_sample(content["application/json"]["schema"], schemas)
        elif "application/octet-stream" in content:  # the file itself: a small PDF
            request.content = b"%PDF-1.4 sample"
        else:  # multipart/form-data: a small PDF in each file part
            schema = content["multipart/form-data"]["schema"]
            request.files = {
                name: ("sample.pdf", b"%PDF-1.4 sample", "application/pdf")
                for name, part in schema.get("properties", {}).items()
                if part.get("format") == "binary"}
    return request


def missing_scope(response: httpx.Response) -> str | None:
    """The scope a 403 says the credentials lack (``Principal.require``), if that is why it
    refused; None for any other answer (another 403 among them: a vendor-only action)."""
    if response.status_code != 403:
        return None
    scope = response.json().get("missing_scope")
    return None if scope is None else str(scope)


def role_scopes(role: str) -> frozenset[str]:
    """What a user with ``role`` holds by the declarations: a partner role's partner scopes,
    a vendor role's scopes (every one for admin)."""
    from prm_platform.declaration import (
        ADMIN_SCOPE,
        all_scopes,
        is_partner_role,
        partner_grantable,
    )
    from prm_platform.declaration import role_scopes as declared

    scopes = declared()[role]
    if is_partner_role(role):
        return scopes & partner_grantable()
    if ADMIN_SCOPE in scopes:
        return frozenset(scope.name for scope in all_scopes()) | {ADMIN_SCOPE}
    return scopes


def role_reaches(role: str, method: str, path: str) -> bool:
    """Whether a user with ``role`` holds every scope the operation needs, as the declarations
    (and so the contract) say."""
    from prm_platform.declaration import scopes_needed

    return set(scopes_needed(method, path)) <= role_scopes(role)


def by_role(routes: Iterable[tuple[str, str]], roles: Iterable[str]
            ) -> tuple[list[tuple[str, tuple[str, str]]], list[tuple[str, tuple[str, str]]]]:
    """(role, route) of every role and route: those the role's scopes cover, and the others.
    For the route-walking tests of portal users, one per role."""
    pairs = [(role, route) for role in roles for route in sorted(routes)]
    return ([pair for pair in pairs if role_reaches(pair[0], *pair[1])],
            [pair for pair in pairs if not role_reaches(pair[0], *pair[1])])


def role_route_id(value: Any) -> str:
    """pytest ids of by_role's pairs: ``partner_finance-GET /v1/...``."""
    return " ".join(value) if isinstance(value, tuple) else str(value)


def as_role_user(org: Any, issuer: Issuer, role: str) -> Any:
    """A route-walking test's org (a dataclass with ``partner_id`` and ``headers``, and
    perhaps ``scoped``: its headers with other scopes) as its user with ``role`` sees it,
    signed in by OIDC: every request the case makes as the org carries that user's token."""
    import dataclasses

    user = issuer.headers(role, partner_id=org.partner_id)
    names = {f.name for f in dataclasses.fields(org)}
    return dataclasses.replace(org, headers=user,
                               **({"scoped": lambda *_: user} if "scoped" in names else {}))


@contextlib.contextmanager
def signing_in(app: FastAPI, issuer: Issuer) -> Iterator[None]:
    """Make a service ``app`` (built without ``PRM_OIDC_*``) accept ``issuer``'s tokens for the
    block, as it would with the OIDC settings pointing at it: the same verifier and role
    mapping (``ServiceSettings.oidc``)."""
    from prm_platform.oidc import OidcVerifier

    verifier = issuer.verifiers.get(id(app))
    if verifier is None:  # one per app: its keys fetched once
        settings = app.state.settings.model_copy(update={
            "oidc_issuer": issuer.url, "oidc_jwks_url": issuer.jwks_url,
            "oidc_audience": ISSUER_AUDIENCE})
        verifier = issuer.verifiers[id(app)] = OidcVerifier(settings.oidc())
    previous = app.state.oidc
    app.state.oidc = verifier
    try:
        yield
    finally:
        app.state.oidc = previous


async def check_refused(client: httpx.AsyncClient, app: FastAPI, method: str, path: str,
                        headers: dict[str, str], **path_values: str) -> None:
    """A well-formed request of the operation (``sample_request``) is refused 403 with these
    credentials: what a role that lacks the operation's scopes gets, on every route."""
    request = sample_request(app.openapi(), method, path, **path_values)
    response = await request.send(client, headers)
    assert response.status_code == 403, (method, path, response.status_code, response.text)
    assert response.json()["type"] == "/problems/forbidden", response.text


def guarded_routes(app: FastAPI, public: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (method, path) of every API route but ``public``, after checking that each runs as
    a ServiceRoute (authentication and unit of work). For tests that must cover every route."""
    from prm_platform.http import ServiceRoute

    routes = _api_routes(app)
    guarded = {key: route for key, route in routes.items() if key not in public}
    unguarded = sorted(key for key, route in guarded.items()
                       if not isinstance(route, ServiceRoute))
    assert not unguarded, f"routes that are not ServiceRoutes: {unguarded}"
    return set(guarded)


@contextlib.asynccontextmanager
async def rolled_back_sessions(engine: AsyncEngine
                               ) -> AsyncIterator[tuple[AsyncConnection,
                                                        async_sessionmaker[AsyncSession]]]:
    """Sessions on one connection whose commits are savepoints of an outer transaction that is
    rolled back afterwards: the code under test commits for real and leaves nothing behind."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            yield connection, async_sessionmaker(
                # As the services' own sessions (prm_platform.db): no autoflush, so that code
                # reading back what it added without flushing fails here as it would there.
                bind=connection, class_=AsyncSession, expire_on_commit=False, autoflush=False,
                join_transaction_mode="create_savepoint",
            )
        finally:
            await outer.rollback()


@contextlib.asynccontextmanager
async def rolled_back_client(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` whose every database change is rolled back afterwards."""
    async with rolled_back_sessions(engine) as (connection, sessionmaker):
        app.state.sessionmaker = sessionmaker
        app.state.read_sessionmaker = sessionmaker  # reads see the test's uncommitted rows

        @contextlib.asynccontextmanager
        async def in_savepoint() -> AsyncIterator[AsyncConnection]:
            async with connection.begin_nested():
                yield connection

        app.state.autocommit = in_savepoint  # single-statement writes, rolled back alike
        app.state.transaction = in_savepoint
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.connection = connection  # type: ignore[attr-defined]  # for tests that read tables
            yield client


@contextlib.asynccontextmanager
async def scratch_schema(infra: Infra, *extra_ddl: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A throw-away schema holding the platform tables (and ``extra_ddl``), for library tests."""
    from sqlalchemy import text

    from prm_platform.db import make_engine
    from prm_platform.migrations import later_platform_ddl, platform_ddl

    schema = f"scratch_{secrets.token_hex(4)}"
    engine = make_engine(infra.database_url, schema, pool_size=5)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for statement in [*platform_ddl(schema), *later_platform_ddl(schema), *extra_ddl]:
            await connection.execute(text(statement))
    try:
        yield engine, schema
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def eventually(check: Callable[[], Any], what: str, timeout: float = 45) -> Any:
    """Poll until ``check`` returns something truthy (events travel through the broker); its
    result. Fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f}s"
        time.sleep(0.2)
    return found


def jwk_number(number: int) -> str:
    """Base64url of an unsigned big-endian integer, as JWKs carry key numbers."""
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


ISSUER_AUDIENCE = "prm-portal"


class Issuer:
    """A tiny OIDC identity provider for tests: publishes a JWKS over HTTP on a local port and
    signs tokens (RS256 and ES256) for the audience ``prm-portal``. ``server.shutdown()`` when
    done (the ``prm_issuer`` fixture of the pytest plugin does)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.url = ""
        numbers = self.rsa.public_key().public_numbers()
        ec_numbers = self.ec.public_key().public_numbers()
        self.jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": jwk_number(numbers.n), "e": jwk_number(numbers.e)},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": jwk_number(ec_numbers.x).rjust(43, "A"),
             "y": jwk_number(ec_numbers.y).rjust(43, "A")},
        ]}
        self.fetches = 0
        self.jwks_url = ""
        self.verifiers: dict[int, Any] = {}  # signing_in's, by app
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                issuer.fetches += 1
                body = json.dumps(issuer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.jwks_url = self.url + "/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def headers(self, *roles: str, partner_id: Any = None, sub: str | None = None
                ) -> dict[str, str]:
        """Authorization headers of a user holding ``roles``: vendor staff, or a user of the
        partner org ``partner_id`` (the ``prm_partner_id`` claim)."""
        claims: dict[str, Any] = {"roles": list(roles)}
        if partner_id is not None:
            claims["prm_partner_id"] = str(partner_id)
        subject = sub or "-".join([*roles, str(partner_id or "vendor")])
        return {"Authorization": f"Bearer {self.token(sub=subject, **claims)}"}

    def token(self, *, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": ISSUER_AUDIENCE, "sub": "user-42", "iat": now,
                "exp": now + 300, **claims}
        import jwt

        key: Any = self.rsa if alg == "RS256" else self.ec
        return jwt.encode(body, key, algorithm=alg,
                          headers={"kid": kid or ("rsa-1" if alg == "RS256" else "ec-1")})


# -- the list grammar (prm_platform.listing) ---------------------------------------------------

def list_routes(app: FastAPI) -> dict[str, Any]:
    """Path -> ``Listing`` of every list operation of ``app``. A GET answering a page that does
    not declare its grammar with a Listing, or answering a bare JSON array, fails: every list
    speaks the one grammar in the one envelope."""
    import typing

    from prm_platform.listing import Page

    found: dict[str, Any] = {}
    for (method, path), route in sorted(_api_routes(app).items()):
        if method != "GET" or route.response_model is None:
            continue
        model = route.response_model
        assert typing.get_origin(model) not in (list, tuple), (
            f"GET {path} answers a bare array: lists answer {{items, next_cursor}}")
        fields = getattr(model, "model_fields", {})
        if "items" not in fields or "next_cursor" not in fields:
            continue
        assert issubclass(model, Page), f"GET {path} answers a page that is not listing.Page"
        listings = [getattr(d.call, "listing", None) for d in route.dependant.dependencies]
        listings = [listing for listing in listings if listing is not None]
        assert len(listings) == 1, f"GET {path} declares no list grammar (prm_platform.listing)"
        found[path] = listings[0]
    return found


def _sample(column: Any) -> Any:
    import datetime as dt
    from decimal import Decimal

    from sqlalchemy.dialects.postgresql import ARRAY

    if isinstance(column.type, ARRAY):  # an element: the filter overlaps the array with it
        return "x"
    python_type = column.type.python_type
    samples = {str: "x", uuid.UUID: uuid.UUID(int=1), dt.date: dt.date(2027, 1, 1),
               dt.datetime: dt.datetime(2027, 1, 1, tzinfo=dt.UTC), Decimal: Decimal(1),
               int: 1, bool: True}
    return samples[python_type]


async def _plan(connection: AsyncConnection, statement: Any) -> str:
    compiled = statement.compile(dialect=connection.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    result = await connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
    return "\n".join(row[0] for row in result)


@dataclass(frozen=True)
class FilteringPlan:
    text: str
    served: bool  # a column of the filter is an index or recheck condition


async def filtering_plan(connection: AsyncConnection, statement: Any,
                          columns: list[str]) -> FilteringPlan:
    """The plan of a filtered read, and whether an index serves the filter. On tables this
    small two indexes can tie on cost: one with the filter's column, one that merely shares
    another of its conditions. On a table of real size the first costs far less, so when the
    plan's indexes do not serve the filter they are set aside (dropped in a savepoint that is
    rolled back, which also releases its locks) and the planner is asked again."""
    from sqlalchemy import text

    def served(plan: str) -> bool:
        return any(column in line for line in plan.splitlines()
                   if "Index Cond" in line or "Recheck Cond" in line for column in columns)

    plan = await _plan(connection, statement)
    if served(plan):
        return FilteringPlan(plan, True)
    savepoint = await connection.begin_nested()
    try:
        for _ in range(5):
            unhelpful = set(re.findall(r"Index (?:Only )?Scan (?:on|using) (\w+)", plan))
            if not unhelpful:
                break
            for index in unhelpful:
                owner = (await connection.execute(text(
                    "SELECT conname, conrelid::regclass::text FROM pg_constraint "
                    "WHERE conindid = to_regclass(:index)"), {"index": index})).first()
                await connection.execute(text(
                    f'ALTER TABLE {owner[1]} DROP CONSTRAINT "{owner[0]}" CASCADE'
                    if owner else f'DROP INDEX "{index}" CASCADE'))
            again = await _plan(connection, statement)
            if served(again):
                return FilteringPlan(f"{again}\n(once {', '.join(sorted(unhelpful))}, which "
                                      f"tied with it on this small table, were set aside)", True)
            plan = again
        return FilteringPlan(plan, False)
    finally:
        await savepoint.rollback()


async def check_lists_use_indexes(app: FastAPI, engine: AsyncEngine) -> dict[str, list[str]]:
    """Every declared filter, range, sort, search and change feed of every list of ``app``
    served by an index: EXPLAIN with sequential scans (and, for sorts, sorting) priced out, as
    the planner prices them on a table large enough that scanning it all would cost more. A
    filter must appear in an index or recheck condition (a scan of another index that filters
    row by row does not count), a sort must come out of an index without a Sort step. Answers
    what was checked, per path."""
    import dataclasses

    from sqlalchemy import select, text

    from prm_platform.listing import ListQuery

    checked: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        for path, listing in list_routes(app).items():
            table = listing.id_column.table
            # A nested list is read under its parent (a deal's activities): an index that
            # starts with the parent's columns serves it, whatever else it filters by.
            base = select(table).where(*(c == _sample(c) for c in listing.within))
            parents = [column.name for column in listing.within]
            done = checked.setdefault(path, [])
            cases: list[tuple[str, ListQuery, Any]] = []
            for name, part in listing.filters.items():
                cases.append((name, ListQuery(filters={name: [_sample(part.column)]}),
                              part.column))
            for name, bounded in listing.ranges.items():
                cases.append((f"{name}[gte]", ListQuery(ranges={(name, "gte"): _sample(
                    bounded.column)}), bounded.column))
            if listing.updated is not None:
                since = ListQuery(updated_since=_sample(listing.updated))
                cases.append(("updated_since", since, listing.updated))
            if listing.search is not None:
                cases.append(("q", ListQuery(words=("globex",)), listing.search))
            # Bitmap scans only: whatever the planner would pick on these small tables (an
            # index walk filtering row by row among them), a filter must be an index
            # condition to pass.
            await connection.execute(text("SET enable_indexscan = off"))
            for name, query, column in cases:
                filtered = await filtering_plan(connection, base.where(*listing.where(query)),
                                                [column.name, *parents])
                assert filtered.served, (
                    f"GET {path}: {name} is not served by an index:\n{filtered.text}")
                done.append(name)
            await connection.execute(text("SET enable_indexscan = on"))
            await connection.execute(text("SET enable_sort = off"))
            for name in listing.sorts:
                for descending in (False, True):
                    query = dataclasses.replace(ListQuery(sort=((name, descending),)), limit=10)
                    plan = await _plan(connection, listing.apply(base, query))
                    assert not re.search(r"(^|->\s*)Sort\b", plan, re.M), (
                        f"GET {path}: sort={'-' if descending else ''}{name} sorts rows an "
                        f"index should give in order:\n{plan}")
                done.append(f"sort={name}")
            await connection.execute(text("SET enable_sort = on"))
    return checked


async def list_page(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                    **params: Any) -> Any:
    """One page of a list (200 expected)."""
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                    **params: Any) -> list[Any]:
    """Every item of a list, page by page through next_cursor (at most 500 pages)."""
    items: list[Any] = []
    cursor = None
    for _ in range(500):
        page = await list_page(client, path, headers, **params,
                               **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items
    raise AssertionError(f"the pages of {path} never ended")


# -- traces (prm_platform.telemetry) -----------------------------------------------------------

@dataclass(frozen=True)
class ReceivedSpan:
    """A span as an OTLP exporter sent it: ids in hex, its process's ``service.name``."""

    service: str
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    attributes: dict[str, Any]
    links: tuple[str, ...]  # the span ids linked to
    error: bool


def _value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as Python: a scalar, or a tuple of an array's scalars."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


class OtlpReceiver:
    """A local OTLP/HTTP trace receiver (``POST /v1/traces``, protobuf) keeping every span it
    is sent: point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at ``url``. ``stop()`` when done."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                status = 200
                if self.path == "/v1/traces":
                    receiver.take(body)
                else:
                    status = 404  # metrics and logs are not ours to receive
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
        from opentelemetry.proto.trace.v1.trace_pb2 import Span

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value
                        for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    received.append(ReceivedSpan(
                        service=resource.get("service.name", ""), name=span.name,
                        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(), attributes=attributes,
                        links=tuple(link.span_id.hex() for link in span.links),
                        error=span.status.code == span.status.STATUS_CODE_ERROR))
        with self.lock:
            self.spans.extend(received)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def count(self) -> int:
        with self.lock:
            return len(self.spans)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
