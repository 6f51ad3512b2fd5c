"""An unexpected error answers a 500 problem and leaves the connection open, so that the next
request on it (the gateway pools connections) is served normally. Against a real server."""

import asyncio

import httpx
import uvicorn
from fastapi import APIRouter

from prm_platform.app import create_service_app
from prm_platform.http import ServiceRoute
from prm_platform.security import Principal, PrincipalKind
from prm_platform.settings import ServiceSettings
from prm_stack.embedded import free_port
from prm_stack.testing import principal_headers


def local_address(response: httpx.Response) -> tuple[str, int]:
    return response.extensions["network_stream"].get_extra_info("client_addr")


async def test_a_500_keeps_the_connection_for_the_next_request(prm_infra, caplog):
    router = APIRouter(prefix="/v1/checks", tags=["checks"], route_class=ServiceRoute)

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    @router.get("/fine")
    async def fine() -> dict[str, str]:
        return {"status": "fine"}

    settings = ServiceSettings(internal_secret=prm_infra.internal_secret)
    app = create_service_app(title="checks", description="checks", schema="public",
                             settings=settings, routers=[router], tags=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    serving = asyncio.create_task(server.serve())
    headers = principal_headers(Principal(subject="k", kind=PrincipalKind.vendor),
                                prm_infra.internal_secret)
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.05)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                     headers=headers, trust_env=False) as client:
            failed = await client.get("/v1/checks/boom", headers={"X-Request-Id": "req-42"})
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/problem+json"
            assert failed.json()["type"] == "/problems/internal-error"
            assert failed.json()["request_id"] == "req-42", failed.text
            assert "a bug" not in failed.text  # never a stack trace or message to the client
            # Without a request id of the client's, the answer and the log line share one.
            anonymous = await client.get("/v1/checks/boom")
            assert anonymous.status_code == 500
            rid = anonymous.json()["request_id"]
            assert rid and anonymous.headers["x-request-id"] == rid
            assert any(rid in r.getMessage() and r.exc_info for r in caplog.records
                       if r.name == "prm.problems"), "the log line names the request id"
            # A failure below every route (keys cannot be checked) is a problem with the id too.
            # (this app's schema has no key directory: looking a key up fails)
            lookup = client.build_request("GET", "/v1/checks/fine",
                                          headers={"Authorization": "Bearer prm_unknown"})
            del lookup.headers["x-prm-principal"]
            broken = await client.send(lookup)
            assert broken.headers["content-type"] == "application/problem+json"
            assert broken.status_code == 503, broken.text
            assert broken.json()["request_id"] == broken.headers["x-request-id"]
            served = await client.get("/v1/checks/fine")
            assert served.status_code == 200 and served.json() == {"status": "fine"}
            assert local_address(served) == local_address(failed), "the same connection"
    finally:
        server.should_exit = True
        await serving
