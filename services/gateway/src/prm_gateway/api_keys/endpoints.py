import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from prm_gateway.api_keys import service
from prm_gateway.api_keys.listing import KEYS
from prm_gateway.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    Session,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses

router = service_router("/v1/api-keys", "api-keys")



class OneTimeSecretResponse(JSONResponse):
    """Sends the new secret to the client, while ``body`` - what ServiceRoute stores as the
    Idempotency-Key replay, before the response is sent - holds it as null. So the plaintext
    never reaches the database, not even for the 24 hours a replay is kept."""

    def __init__(self, content: dict[str, Any], secret: str, **kwargs: Any) -> None:
        super().__init__({**content, "key": None}, **kwargs)
        self._sent = self.render({**content, "key": secret})

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        self.body = self._sent
        self.headers["content-length"] = str(len(self._sent))
        await super().__call__(scope, receive, send)


@router.post("", status_code=201, summary="Create an API key",
             description="Takes `api_keys:write`, and gives at most the caller's own scopes. "
             "The vendor's credentials create any key; a partner's (its `partner_admin` "
             "users) only partner keys of its own org (403 otherwise). The secret (`key`) is in "
             "this response and nowhere else, ever; store it safely. A partner key needs a "
             "partner the gateway knows that is not offboarded, else a 422 "
             "`key-partner-not-eligible`. The gateway learns of partners from their events: "
             "one created a moment ago may not be known yet for a fraction of a second (the "
             "gateway waits up to five seconds for it, "
             "`PRM_GATEWAY_KEY_PARTNER_WAIT_SECONDS`); retry then.",
             response_model=ApiKeyCreated,
             responses={**problem_responses(409),
                        **resource_headers(201, location=True, etag=False)})
async def create_api_key(body: ApiKeyCreate, request: Request, session: Session,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> Response:
    key, secret = await service.create(
        session, caller, body,
        partner_wait=request.app.state.settings.key_partner_wait_seconds)
    content = ApiKeyOut.model_validate(key).model_dump(mode="json")
    return OneTimeSecretResponse(content, secret, status_code=201,
                                 headers={"Location": f"/v1/api-keys/{key.id}"})


@router.get("", summary="List API keys",
            description="In issue order unless sorted; filter by partner and kind, search key "
            "names, pull issues and revocations with `updated_since`. Secrets are never "
            "listed. A partner's credentials list their own org's keys only.")
async def list_api_keys(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(KEYS.query)]) -> Page[ApiKeyOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[ApiKeyOut](items=[ApiKeyOut.model_validate(k) for k in rows],
                           next_cursor=next_cursor, total_count=total)


@router.get("/{key_id}", summary="Get an API key",
            description="The secret is never shown again. A partner's credentials read their "
            "own org's keys only (another's is a 404).", responses=problem_responses(404))
async def get_api_key(key_id: uuid.UUID, session: Session, caller: Caller) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await service.get(session, caller, key_id))


@router.post("/{key_id}/revoke", summary="Revoke an API key",
             description="Final, and only of a key with no more scopes than the caller's (a "
             "partner's credentials: of their own org's keys). This gateway refuses the key at "
             "once; every service and "
             "every other gateway replica once the revocation event reached it and its key "
             "cache expired (`PRM_KEY_CACHE_SECONDS`, 0.5 s by default): within a second "
             "(about 0.5 s measured on the embedded stack). Revoking a revoked key changes "
             "nothing.",
             responses=problem_responses(404, 409))
async def revoke_api_key(key_id: uuid.UUID, request: Request, session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> ApiKeyOut:
    key = await service.revoke(session, caller, key_id)
    request.app.state.keys.forget(key.secret_hash)
    return ApiKeyOut.model_validate(key)
