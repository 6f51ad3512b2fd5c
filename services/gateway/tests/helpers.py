"""Helpers for the gateway tests."""

from pathlib import Path

import httpx

from prm_gateway.api_keys import service
from prm_stack.embedded import free_port

SERVICES = Path(__file__).resolve().parents[2]
MAX_BODY = 4096


def dead_url() -> str:
    """An address where nothing listens: a real connection refusal."""
    return f"http://127.0.0.1:{free_port()}"


class Outage(httpx.AsyncBaseTransport):
    """Wraps an upstream's transport; while ``down`` it refuses connections."""

    def __init__(self, transport: httpx.AsyncBaseTransport, down: bool = False) -> None:
        self.transport, self.down = transport, down

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.transport.handle_async_request(request)


async def issue_key(client: httpx.AsyncClient, scopes=("admin",), kind="vendor",
                    partner_id=None) -> dict[str, str]:
    """Authorization headers of a key put straight into the gateway's (rolled-back) database."""
    async with client.app.state.sessionmaker() as session:
        _, secret = await service.issue(session, name="test", kind=kind, scopes=list(scopes),
                                        partner_id=partner_id)
        await session.commit()
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body
