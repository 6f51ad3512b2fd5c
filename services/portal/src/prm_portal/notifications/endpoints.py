import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from prm_platform.http import Caller, IdempotencyKeyHeader, ServiceRoute, Session
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_portal.declaration import PORTAL_READ
from prm_portal.notifications import service, stream
from prm_portal.notifications.listing import NOTIFICATIONS
from prm_portal.notifications.schemas import MarkedCount, NotificationOut

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))


def notification_out(row: Any) -> NotificationOut:
    return NotificationOut(
        id=row.id, event_id=row.event_id, audience=row.audience, partner_id=row.partner_id,
        kind=row.kind, title=row.title, body=row.body, data=row.data,
        subject_type=row.subject_type, subject_id=row.subject_id, occurred_at=row.occurred_at,
        read_at=row.read_at, dismissed_at=row.dismissed_at)


@router.get("", summary="List my notifications",
            description="What the caller must act on: for a partner's people, their org's "
            "(a registration approved or whose protection ends soon, a fund request sent back "
            "for changes, a claim decided, a payout paid, a tier changed...); for the "
            "vendor's staff, what waits for them (a registration or claim to review, an "
            "extension requested). Only notifications about records the caller may read at "
            "their source. Newest first; `state=unread` (or `read`, `dismissed`; default "
            "`active`: all but dismissed). Read and dismissed are the caller's own marks.")
async def list_notifications(
        session: Session, caller: Caller,
        query: Annotated[ListQuery, Depends(NOTIFICATIONS.query)],
) -> Page[NotificationOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[NotificationOut](items=[notification_out(r) for r in rows],
                                 next_cursor=next_cursor, total_count=total)


class UnreadCount(BaseModel):
    unread: int = Field(description="The caller's unread notifications")


@router.get("/unread-count", summary="Count my unread notifications",
            description="For a badge: how many of the caller's notifications are unread.")
async def count_unread(session: Session, caller: Caller) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(session, caller))


_STREAM_DESCRIPTION = (
    "Server-sent events (`text/event-stream`): each new notification of the caller, as "
    "`event: notification` with the notification as JSON in `data` and its position in `id`. "
    "Reconnect with the last `id` seen in the `Last-Event-ID` header to miss nothing; without "
    "it the stream starts now. Comment lines (`: keep-alive`) come when nothing happens; the "
    "server closes a stream after 15 minutes (resume as after a drop). Authenticated like "
    "every call (`Authorization`): read it with `fetch`, as a browser's EventSource cannot "
    "send that header.")


@router.get("/stream", summary="Stream my notifications (server-sent events)",
            description=_STREAM_DESCRIPTION, response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {
                "type": "string", "description": "Server-sent events, each `id:`, "
                "`event: notification` and `data:` the notification as JSON"}}}}})
async def stream_notifications(
        request: Request, caller: Caller,
        last_event_id: Annotated[str | None, Header(
            alias="Last-Event-ID", max_length=64,
            description="The `id` of the last event received, to resume after it")] = None,
) -> StreamingResponse:
    caller.require(PORTAL_READ)
    state = request.app.state
    if last_event_id:
        position = stream.parse_position(last_event_id)
    else:
        position = await stream.start_position(state.read_sessionmaker)
    settings = state.settings
    body = stream.events(
        state.read_sessionmaker, state.waker, caller, position,
        render=lambda row: notification_out(row).model_dump(mode="json"),
        heartbeat=settings.stream_heartbeat_seconds, poll=settings.stream_poll_seconds,
        lasting=settings.stream_max_seconds)
    return StreamingResponse(body, media_type="text/event-stream", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class NotificationIds(BaseModel):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{
        "ids": ["5b0e1f0c-9a53-5f55-9f0e-3f7c8d1e2a4b"]}]}}

    ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


@router.get("/{notification_id:uuid}", summary="Get a notification",
            description="One of the caller's notifications, with the caller's marks.",
            responses=problem_responses(404))
async def get_notification(notification_id: uuid.UUID, session: Session, caller: Caller
                           ) -> NotificationOut:
    return notification_out(await service.get(session, caller, notification_id))


async def _marked(session: Any, caller: Any, notification_id: uuid.UUID, field: str,
                  on: bool) -> NotificationOut:
    await service.get(session, caller, notification_id)  # 404 when not the caller's
    await service.mark(session, caller, [notification_id], field, on)
    return notification_out(await service.get(session, caller, notification_id))


@router.post("/{notification_id:uuid}/read", summary="Mark a notification read",
             description="The caller's own mark; marking again keeps the first time.",
             responses=problem_responses(404))
async def mark_read(notification_id: uuid.UUID, session: Session, caller: Caller,
                    idempotency_key: IdempotencyKeyHeader = None) -> NotificationOut:
    return await _marked(session, caller, notification_id, "read_at", True)


@router.post("/{notification_id:uuid}/unread", summary="Mark a notification unread",
             description="Clears the caller's read mark.", responses=problem_responses(404))
async def mark_unread(notification_id: uuid.UUID, session: Session, caller: Caller,
                      idempotency_key: IdempotencyKeyHeader = None) -> NotificationOut:
    return await _marked(session, caller, notification_id, "read_at", False)


@router.post("/{notification_id:uuid}/dismiss", summary="Dismiss a notification",
             description="Hidden from the caller's active notifications (`state=dismissed` "
             "still lists it).", responses=problem_responses(404))
async def dismiss(notification_id: uuid.UUID, session: Session, caller: Caller,
                  idempotency_key: IdempotencyKeyHeader = None) -> NotificationOut:
    return await _marked(session, caller, notification_id, "dismissed_at", True)


@router.post("/read", summary="Mark notifications read",
             description="Several at once (at most 100); ids the caller cannot see are "
             "ignored.")
async def mark_many_read(body: NotificationIds, session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> MarkedCount:
    return MarkedCount(marked=await service.mark(session, caller, body.ids, "read_at", True))


@router.post("/read-all", summary="Mark all my notifications read",
             description="Every unread notification of the caller (at most 10,000 at once; "
             "call again for more).")
async def mark_all_read(session: Session, caller: Caller,
                        idempotency_key: IdempotencyKeyHeader = None) -> MarkedCount:
    return MarkedCount(marked=await service.mark_all_read(session, caller))
