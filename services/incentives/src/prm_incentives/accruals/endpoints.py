"""The routes every kind of accrual has, added to its module's router: read one, and reverse
it. Each keeps its own operation id, tag and schemas, so the contract names them per kind."""

import uuid
from enum import Enum
from typing import Any, Protocol

from fastapi import APIRouter, Response
from pydantic import BaseModel

from prm_incentives.accruals import service
from prm_incentives.accruals.service import AccrualBook
from prm_incentives.directory.names import partner_name
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
)
from prm_platform.problems import problem_responses


class AccrualOut(Protocol):
    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> BaseModel: ...


def accrual_routes(router: APIRouter, book: AccrualBook, *, kind: str, out: type[AccrualOut],
                   reversal: type[BaseModel], tags: list[str | Enum] | None, title: str,
                   reverse_description: str) -> None:
    """``GET /accruals/{id}`` and ``POST /accruals/{id}/reverse`` for ``book``; ``kind`` names
    the operations (``get_<kind>_accrual``), ``title`` the summaries ("a rebate accrual")."""

    async def rendered(session: Session, row: Any, response: Response) -> BaseModel:
        response.headers["ETag"] = etag(row.version)
        return out.of(row, await partner_name(session, row.partner_id))

    async def get(accrual_id: uuid.UUID, response: Response, session: Session,
                  caller: Caller) -> Any:
        return await rendered(session, await service.get(session, caller, book, accrual_id),
                              response)

    async def reverse(accrual_id: uuid.UUID, body: Any, response: Response, session: Session,
                      caller: Caller, if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> Any:
        row = await service.reverse(session, caller, book, accrual_id, body.reason, if_match)
        return await rendered(session, row, response)

    # The body is read by the kind's own schema, whose name the contract keeps.
    reverse.__annotations__["body"] = reversal

    router.add_api_route(
        "/accruals/{accrual_id:uuid}", get, methods=["GET"], name=f"get_{kind}_accrual",
        tags=tags, summary=f"Get {title}", description="A partner key sees its own org's only.",
        response_model=out, responses={**problem_responses(404), **resource_headers()})
    router.add_api_route(
        "/accruals/{accrual_id:uuid}/reverse", reverse, methods=["POST"],
        name=f"reverse_{kind}_accrual", tags=tags, summary=f"Reverse {title}",
        description=reverse_description, response_model=out,
        responses={**problem_responses(404, 409, 412, 413), **resource_headers()})
