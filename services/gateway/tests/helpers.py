"""Helpers for the gateway tests."""

import uuid
from pathlib import Path

import httpx

from prm_contracts import PartnerSnapshot, PartnerStatusChangedV1
from prm_events.envelope import new_event
from prm_gateway.api_keys import service
from prm_gateway.standing.handlers import HANDLERS as STANDING_HANDLERS
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


async def known_partner(client: httpx.AsyncClient, partner_id: str | uuid.UUID | None = None,
                        status: str = "active", version: int = 1) -> str:
    """A partner as the gateway's worker knows it from the partners' events (its standing),
    put into the gateway's (rolled-back) database the way the worker does; its id."""
    partner_id = uuid.UUID(str(partner_id)) if partner_id else uuid.uuid4()
    snapshot = PartnerSnapshot(id=partner_id, name="Known Partner GmbH", type="msp",
                               country="DE", status=status, version=version)
    event = new_event(PartnerStatusChangedV1(partner=snapshot, previous_status="onboarding"),
                      source="/prm/partners", subject=str(partner_id), partner_id=partner_id)
    async with client.app.state.sessionmaker() as session:
        await STANDING_HANDLERS[event.type](session, event)
        await session.commit()
    return str(partner_id)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body
