import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends

from prm_platform.http import Caller, IdempotencyKeyHeader, ServiceRoute, Session
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_webhooks.messages import service
from prm_webhooks.messages.listing import MESSAGE_ATTEMPTS, MESSAGES
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
                             partner_id=row.partner_id, partner_name=row.partner_name,
                             payload=orjson.loads(row.payload),
                             created_at=row.created_at,
                             deliveries=[WebhookDeliveryOut.of(d) for d in deliveries])


@router.get("", summary="List webhook messages",
            description="Messages delivered (or being delivered) to the caller's endpoints, "
            "each with its deliveries to them, in creation order unless sorted (`sort="
            "-created_at`: newest first); filter by event type, partner, event, endpoint and "
            "delivery status (`status=failed`), and by when they were created. Messages are "
            "kept for the retention period, then forgotten.")
async def list_messages(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(MESSAGES.query)]
                        ) -> Page[WebhookMessageOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    found = await service.deliveries(session, caller, [r.id for r in rows])
    return Page[WebhookMessageOut](items=[message_out(r, found.get(r.id, [])) for r in rows],
                                   next_cursor=next_cursor, total_count=total)


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
            "latency, the first 4 KiB of the answer), oldest first unless sorted; filter by "
            "endpoint, outcome, response status and time.",
            responses=problem_responses(404))
async def list_message_attempts(message_id: uuid.UUID, session: Session, caller: Caller,
                                query: Annotated[ListQuery, Depends(MESSAGE_ATTEMPTS.query)]
                                ) -> Page[WebhookAttemptOut]:
    rows, next_cursor, total = await service.attempts_of_message(session, caller, message_id,
                                                                 query)
    return Page[WebhookAttemptOut](items=[WebhookAttemptOut.of(r) for r in rows],
                                   next_cursor=next_cursor, total_count=total)


@router.post("/{message_id:uuid}/resend", summary="Resend a webhook message",
             description="Sends the message again to one of the caller's endpoints, now, with "
             "the same `webhook-id` (receivers that saw it already drop it).",
             responses=problem_responses(404, 409))
async def resend_message(message_id: uuid.UUID, body: WebhookResend, session: Session,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.of(await service.resend(session, caller, message_id,
                                                      body.endpoint_id))
