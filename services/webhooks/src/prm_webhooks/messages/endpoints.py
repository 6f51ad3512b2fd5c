import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query

from prm_platform.http import Caller, IdempotencyKeyHeader, ServiceRoute, Session
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses
from prm_webhooks.messages import service
from prm_webhooks.messages.schemas import (
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookMessageOut,
    WebhookResend,
)

router = APIRouter(prefix="/v1/webhook-messages", tags=["webhook messages"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))


def message_out(row: Any, deliveries: list[Any]) -> WebhookMessageOut:
    return WebhookMessageOut(id=row.id, event_id=row.event_id, event_type=row.event_type,
                             partner_id=row.partner_id, payload=orjson.loads(row.payload),
                             created_at=row.created_at,
                             deliveries=[WebhookDeliveryOut.of(d) for d in deliveries])


@router.get("", summary="List webhook messages",
            description="Messages delivered (or being delivered) to the caller's endpoints, "
            "oldest first, cursor-paginated, each with its deliveries to them.")
async def list_messages(
    session: Session, caller: Caller, page: Annotated[PageRequest, Depends(page_request)],
    event_type: Annotated[str | None, Query(max_length=200, description="Only this type, "
                                            "e.g. prm.deal.approved.v1")] = None,
    endpoint_id: Annotated[uuid.UUID | None, Query(description="Only to this endpoint")] = None,
) -> Page[WebhookMessageOut]:
    rows = await service.list_page(session, caller, page, event_type=event_type,
                                   endpoint_id=endpoint_id)
    items, next_cursor = page.page(rows)
    found = await service.deliveries(session, caller, [r.id for r in items])
    return Page[WebhookMessageOut](items=[message_out(r, found.get(r.id, [])) for r in items],
                                   next_cursor=next_cursor)


@router.get("/{message_id:uuid}", summary="Get a webhook message",
            description="The payload as signed and sent, and its deliveries to the caller's "
            "endpoints.", responses=problem_responses(404))
async def get_message(message_id: uuid.UUID, session: Session, caller: Caller
                      ) -> WebhookMessageOut:
    row = await service.get(session, caller, message_id)
    found = await service.deliveries(session, caller, [message_id])
    return message_out(row, found.get(row.id, []))


@router.get("/{message_id:uuid}/attempts", summary="List a webhook message's attempts",
            description="Every attempt to deliver it to the caller's endpoints (status, "
            "latency, the first 4 KiB of the answer), oldest first, cursor-paginated.",
            responses=problem_responses(404))
async def list_message_attempts(
    message_id: uuid.UUID, session: Session, caller: Caller,
    page: Annotated[PageRequest, Depends(page_request)],
    endpoint_id: Annotated[uuid.UUID | None, Query(description="Only to this endpoint")] = None,
) -> Page[WebhookAttemptOut]:
    rows = await service.attempts_of_message(session, caller, message_id, page,
                                             endpoint_id=endpoint_id)
    items, next_cursor = page.page(rows)
    return Page[WebhookAttemptOut](items=[WebhookAttemptOut.of(r) for r in items],
                                   next_cursor=next_cursor)


@router.post("/{message_id:uuid}/resend", summary="Resend a webhook message",
             description="Sends the message again to one of the caller's endpoints, now, with "
             "the same `webhook-id` (receivers that saw it already drop it).",
             responses=problem_responses(404, 409))
async def resend_message(message_id: uuid.UUID, body: WebhookResend, session: Session,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.of(await service.resend(session, caller, message_id,
                                                      body.endpoint_id))
