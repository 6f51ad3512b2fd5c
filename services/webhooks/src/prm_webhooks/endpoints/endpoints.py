import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    ServiceRoute,
    Session,
    etag,
    resource_headers,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_webhooks.endpoints import service
from prm_webhooks.endpoints.listing import ENDPOINTS
from prm_webhooks.endpoints.schemas import (
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookEndpointStats,
    WebhookRecovered,
    WebhookRecovery,
    WebhookSecretRotated,
    WebhookSecretRotation,
)
from prm_webhooks.messages import service as messages
from prm_webhooks.messages.endpoints import message_out
from prm_webhooks.messages.listing import ENDPOINT_ATTEMPTS
from prm_webhooks.messages.schemas import WebhookAttemptOut, WebhookMessageOut

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))


def _out(row: Any, response: Response) -> WebhookEndpointOut:
    response.headers["ETag"] = etag(row.version)
    return WebhookEndpointOut.of(row)


@router.post("", status_code=201, summary="Create a webhook endpoint",
             description="Registers a URL to receive events, signed per Standard Webhooks. "
             "A partner key's endpoint receives only its own org's events; a vendor key's "
             "receives every org's. The answer carries the signing secret, shown only this "
             "once.",
             responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_endpoint(body: WebhookEndpointIn, request: Request, response: Response,
                          session: Session, caller: Caller,
                          idempotency_key: IdempotencyKeyHeader = None) -> WebhookEndpointCreated:
    row, secret = await service.create(session, caller, request.app.state.settings, body)
    response.headers["Location"] = f"/v1/webhook-endpoints/{row.id}"
    response.headers["ETag"] = etag(row.version)
    return WebhookEndpointCreated(**WebhookEndpointOut.of(row).model_dump(), secret=secret)


@router.get("", summary="List webhook endpoints",
            description="The caller's endpoints (a vendor key sees every one), in creation "
            "order unless sorted; filter by enabled, partner org, why the service disabled it, "
            "event-type filter, and when it was created or began failing; search by URL or "
            "description; `updated_since` for what changed. A deleted endpoint leaves no "
            "trace: a sync finds deletions by the ids it no longer gets (at most 50 endpoints "
            "per owner).")
async def list_endpoints(session: Session, caller: Caller,
                         query: Annotated[ListQuery, Depends(ENDPOINTS.query)]
                         ) -> Page[WebhookEndpointOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[WebhookEndpointOut](items=[WebhookEndpointOut.of(r) for r in rows],
                                    next_cursor=next_cursor, total_count=total)


@router.get("/{endpoint_id:uuid}", summary="Get a webhook endpoint",
            description="The ETag is its version, for If-Match on changes. The secret is never "
            "shown again.",
            responses={**problem_responses(404), **resource_headers()})
async def get_endpoint(endpoint_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller) -> WebhookEndpointOut:
    return _out(await service.get(session, caller, endpoint_id), response)


@router.patch("/{endpoint_id:uuid}", summary="Update a webhook endpoint",
              description="Only the fields sent change. Send `If-Match` with the ETag. Enabling "
              "a disabled endpoint resumes its pending deliveries.",
              responses={**problem_responses(404, 412), **resource_headers()})
async def update_endpoint(endpoint_id: uuid.UUID, body: WebhookEndpointPatch, request: Request,
                          response: Response, session: Session, caller: Caller,
                          if_match: IfMatchHeader = None) -> WebhookEndpointOut:
    row = await service.update(session, caller, request.app.state.settings, endpoint_id, body,
                               if_match)
    return _out(row, response)


@router.delete("/{endpoint_id:uuid}", status_code=204, summary="Delete a webhook endpoint",
               description="Stops every delivery to it; its deliveries and attempts go too.",
               responses=problem_responses(404, 412))
async def delete_endpoint(endpoint_id: uuid.UUID, session: Session, caller: Caller,
                          if_match: IfMatchHeader = None) -> Response:
    await service.delete(session, caller, endpoint_id, if_match)
    return Response(status_code=204)


@router.post("/{endpoint_id:uuid}/rotate-secret", summary="Rotate a webhook endpoint's secret",
             description="A new secret, shown only now. The previous one keeps signing beside "
             "it for the overlap, so `webhook-signature` carries both until the receiver has "
             "switched.",
             responses={**problem_responses(404, 409, 412), **resource_headers()})
async def rotate_secret(endpoint_id: uuid.UUID, body: WebhookSecretRotation,
                        response: Response, session: Session, caller: Caller,
                        if_match: IfMatchHeader = None,
                        idempotency_key: IdempotencyKeyHeader = None) -> WebhookSecretRotated:
    secret, expires, version = await service.rotate_secret(session, caller, endpoint_id,
                                                           body.overlap_hours, if_match)
    response.headers["ETag"] = etag(version)
    return WebhookSecretRotated(secret=secret, previous_expires_at=expires, version=version)


@router.post("/{endpoint_id:uuid}/test", status_code=202, summary="Send a test ping",
             description="Queues a `prm.webhook.test.v1` message to this endpoint alone, "
             "delivered, signed and retried like any other; follow it in its attempts.",
             responses=problem_responses(404, 409))
async def send_test(endpoint_id: uuid.UUID, session: Session, caller: Caller,
                    idempotency_key: IdempotencyKeyHeader = None) -> WebhookMessageOut:
    message_id = await service.ping(session, caller, endpoint_id)
    row = await messages.get(session, caller, message_id)
    found = await messages.deliveries(session, caller, [message_id])
    return message_out(row, found.get(row.id, []))


@router.post("/{endpoint_id:uuid}/recover", summary="Recover failed messages",
             description="Every delivery to this endpoint that failed (no attempt left) and "
             "was created since the given time is due again, with the same `webhook-id`.",
             responses=problem_responses(404, 409))
async def recover_messages(endpoint_id: uuid.UUID, body: WebhookRecovery, session: Session,
                           caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                           ) -> WebhookRecovered:
    return WebhookRecovered(recovered=await service.recover(session, caller, endpoint_id,
                                                            body.since))


@router.get("/{endpoint_id:uuid}/stats", summary="Get a webhook endpoint's statistics",
            description="Its deliveries by status, and its attempts of the last 24 hours.",
            responses=problem_responses(404))
async def get_endpoint_stats(endpoint_id: uuid.UUID, session: Session, caller: Caller
                             ) -> WebhookEndpointStats:
    return await service.stats(session, caller, endpoint_id)


@router.get("/{endpoint_id:uuid}/attempts", summary="List a webhook endpoint's attempts",
            description="Every attempt to deliver to it (status, latency, the first 4 KiB of "
            "the answer), oldest first unless sorted (`sort=-created_at`: newest first); filter "
            "by outcome, response status, message and time.",
            responses=problem_responses(404))
async def list_endpoint_attempts(endpoint_id: uuid.UUID, session: Session, caller: Caller,
                                 query: Annotated[ListQuery, Depends(ENDPOINT_ATTEMPTS.query)]
                                 ) -> Page[WebhookAttemptOut]:
    rows, next_cursor, total = await messages.attempts_of_endpoint(session, caller,
                                                                   endpoint_id, query)
    return Page[WebhookAttemptOut](items=[WebhookAttemptOut.of(r) for r in rows],
                                   next_cursor=next_cursor, total_count=total)
