"""Routes of the enablement resource library: resources and their lifecycle, their files,
signed download links and downloads, and the uses partners' people make of them."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from prm_partners.resources import service
from prm_partners.resources.files import FILE_TYPES, MAX_FILE_BYTES, stores
from prm_partners.resources.listing import RESOURCES, USES
from prm_partners.resources.models import EnablementResource
from prm_partners.resources.schemas import (
    EnablementFileOut,
    EnablementKpisOut,
    EnablementLinkOut,
    EnablementResourceIn,
    EnablementResourceOut,
    EnablementResourcePatch,
    EnablementResourceUseOut,
)
from prm_platform.http import (
    Autocommit,
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.objects import ObjectStores, content_disposition
from prm_platform.problems import problem_responses
from prm_platform.types import LanguageTag, Name

router = service_router("/v1/enablement-resources", "enablement")
downloads_router = service_router("/v1/enablement-downloads", "enablement")
uses_router = service_router("/v1/enablement-resource-uses", "enablement")
kpis_router = service_router("/v1/enablement-kpis", "enablement")
routers = (router, downloads_router, uses_router, kpis_router)

_STATES = problem_responses(404, 409, 412, 422)
LanguageQuery = Annotated[LanguageTag | None, Query(
    description="The language wanted (BCP 47); before `Accept-Language`")]
AcceptLanguage = Annotated[str | None, Header(
    description="The languages wanted, by preference (RFC 9110)", max_length=500)]


def _stores(request: Request) -> ObjectStores:
    found: ObjectStores | None = getattr(request.app.state, "enablement_stores", None)
    if found is None:
        found = request.app.state.enablement_stores = stores(request.app.state.settings)
    return found


@contextlib.asynccontextmanager
async def _closing_stores(app: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        found: ObjectStores | None = getattr(app.state, "enablement_stores", None)
        if found is not None:
            await found.close()


router.lifespan_context = _closing_stores


def _answer(row: EnablementResource, caller: Caller, response: Response, language: str | None,
            accept_language: str | None) -> EnablementResourceOut:
    response.headers["ETag"] = etag(row.version)
    response.headers["Vary"] = "Accept-Language"
    wanted = service.wanted_languages(language, accept_language, caller)
    return service.out(row, caller, wanted)


@router.post("", status_code=201, summary="Add a resource to the library",
             description="Vendor keys (`enablement:write`). A draft: its kind, default "
             "language, audience (roles, tiers, partner types, countries, certifications "
             "held; each list given must hold, an empty one admits anyone) and its variants, "
             "one per language, each a file of the resource (`file_id`, uploaded with `POST "
             "/v1/enablement-resources/{id}/files`) or an https `url`. See docs/enablement.md.",
             responses={**problem_responses(422), **resource_headers(201, location=True)})
async def create_resource(body: EnablementResourceIn, response: Response, session: Session,
                          caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                          ) -> EnablementResourceOut:
    row = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/enablement-resources/{row.id}"
    return _answer(row, caller, response, None, None)


@router.get("", summary="List resources",
            description="Vendor keys: every resource, as drafted. Partner callers: the "
            "published resources their audience admits (a partner key: any role of its org), "
            "each in the caller's language (`language=`, else `Accept-Language`) or its "
            "default (`fallback`). Find by title (`q`).")
async def list_resources(session: Session, caller: Caller,
                         query: Annotated[ListQuery, Depends(RESOURCES.query)],
                         language: LanguageQuery = None,
                         accept_language: AcceptLanguage = None
                         ) -> Page[EnablementResourceOut]:
    rows, cursor, total = await service.list_page(session, caller, query)
    wanted = service.wanted_languages(language, accept_language, caller)
    return Page[EnablementResourceOut](items=[service.out(r, caller, wanted) for r in rows],
                                       next_cursor=cursor, total_count=total)


@router.get("/{resource_id:uuid}", summary="Get a resource",
            description="Vendor keys see the draft with every variant; partner callers the "
            "newest published version in their language, when their audience admits them (a "
            "404 otherwise). A partner's view is recorded (`prm.enablement.resource_used.v1`).",
            responses={**problem_responses(404), **resource_headers()})
async def get_resource(resource_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller, connection: Autocommit, language: LanguageQuery = None,
                       accept_language: AcceptLanguage = None) -> EnablementResourceOut:
    row = await service.get_row(session, caller, resource_id)
    answer = _answer(row, caller, response, language, accept_language)
    if caller.is_partner and row.published_version is not None:
        await service.record_use(connection, caller, await service.contact_of(session, caller),
                                 row.id, row.published_version, answer.language, "view")
    return answer


@router.patch("/{resource_id:uuid}", summary="Edit a resource's draft",
              description="Vendor keys, with `If-Match`: a JSON merge patch of the draft "
              "(variants and audience replaced whole). Partners go on seeing the published "
              "version until the draft is published.",
              responses={**_STATES, **resource_headers()})
async def change_resource(resource_id: uuid.UUID, body: EnablementResourcePatch,
                          response: Response, session: Session, caller: Caller,
                          if_match: IfMatchHeader = None) -> EnablementResourceOut:
    row = await service.change(session, caller, resource_id, body, if_match)
    return _answer(row, caller, response, None, None)


@router.post("/{resource_id:uuid}/publish", summary="Publish a resource's draft",
             description="Vendor keys, with `If-Match`: the draft becomes the next numbered "
             "version, which never changes; partners in its audience see it. Every variant "
             "needs a file or a url. Publishing a draft equal to the newest version changes "
             "nothing.", responses={**_STATES, **resource_headers()})
async def publish_resource(resource_id: uuid.UUID, response: Response, session: Session,
                           caller: Caller, if_match: IfMatchHeader = None,
                           idempotency_key: IdempotencyKeyHeader = None
                           ) -> EnablementResourceOut:
    row = await service.publish(session, caller, resource_id, if_match)
    return _answer(row, caller, response, None, None)


@router.post("/{resource_id:uuid}/retire", summary="Retire a resource",
             description="Vendor keys, with `If-Match`: partners see it no more, and its "
             "download links stop working. Final.",
             responses={**_STATES, **resource_headers()})
async def retire_resource(resource_id: uuid.UUID, response: Response, session: Session,
                          caller: Caller, if_match: IfMatchHeader = None,
                          idempotency_key: IdempotencyKeyHeader = None
                          ) -> EnablementResourceOut:
    row = await service.retire(session, caller, resource_id, if_match)
    return _answer(row, caller, response, None, None)


_UPLOAD_BODY = {"required": True, "description": f"The file's bytes, at most "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MiB. Its type is read from its bytes, "
                f"whatever `Content-Type` says: one of {', '.join(FILE_TYPES)} (text is CSV "
                "when its name ends in .csv or it is sent as text/csv).",
                "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}}}}


@router.post("/{resource_id:uuid}/files", status_code=201, summary="Upload a resource's file",
             description="Vendor keys: the body is the file itself; `filename` names it. "
             "Stored with its SHA-256 in the configured store (PostgreSQL by default, or the "
             "S3-compatible one); a variant of the resource names it by `file_id`. 415 for a "
             "file of another type, 413 over the limit, 503 with `Retry-After` if the store "
             "is unavailable.", openapi_extra={"requestBody": _UPLOAD_BODY},
             responses={**problem_responses(404, 409, 413, 415, 503),
                        **resource_headers(201, etag=False)})
async def upload_resource_file(resource_id: uuid.UUID, filename: Annotated[Name, Query()],
                               request: Request, session: Session, caller: Caller,
                               idempotency_key: IdempotencyKeyHeader = None
                               ) -> EnablementFileOut:
    caller.require(service.ENABLEMENT_WRITE)
    caller.ensure_vendor()
    content = bytearray()
    async for chunk in request.stream():
        content.extend(chunk)
        if len(content) > MAX_FILE_BYTES:
            break
    row = await service.upload(session, caller, resource_id, bytes(content), filename,
                               request.headers.get("content-type"), _stores(request).writer)
    return EnablementFileOut.model_validate(row)


@router.get("/{resource_id:uuid}/links", summary="Sign a download link",
            description="A link to the resource's file (or URL) in the caller's language, "
            "valid for a short while (`expires_at`, 15 minutes by default) and for the "
            "caller's org alone; fetching it still takes the caller's credentials. A partner's "
            "link names the published version; a vendor's the draft.",
            responses=problem_responses(404))
async def get_resource_link(resource_id: uuid.UUID, request: Request, response: Response,
                            session: Session, caller: Caller, language: LanguageQuery = None,
                            accept_language: AcceptLanguage = None) -> EnablementLinkOut:
    response.headers["Cache-Control"] = "no-store"
    wanted = service.wanted_languages(language, accept_language, caller)
    return await service.link(session, caller, request.app.state.settings, resource_id, wanted)


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes",
          "content": {t: {"schema": {"type": "string", "format": "binary"}}
                      for t in FILE_TYPES}},
    307: {"description": "A resource hosted elsewhere: `Location` is its https URL"}}


@downloads_router.get("/{token}", summary="Download a resource",
                      response_class=Response,
                      description="What a signed link names: the file with its content type "
                      "(`X-Content-SHA256` its SHA-256, checked as it streams), or a redirect "
                      "(307) to the URL of a resource hosted elsewhere. Needs the credentials "
                      "of the org the link was made for; an expired, forged or another org's "
                      "link, or a resource the caller no longer sees, is a 404. A partner's "
                      "download is recorded (`prm.enablement.resource_used.v1`).",
                      responses={**problem_responses(404, 503), **_FILE_RESPONSES})
async def download_resource(token: Annotated[str, Path(max_length=600)],
                            request: Request, session: Session, caller: Caller,
                            connection: Autocommit) -> Response:
    found = await service.download(session, caller, request.app.state.settings, token)
    contact = await service.contact_of(session, caller)
    answer: Response
    if found.file is None:
        assert found.url is not None
        answer = RedirectResponse(found.url, status_code=307)
    else:
        row = found.file
        # Opened before answering, so a store that cannot serve it is a 503, not a cut stream.
        chunks = await _stores(request).open(row)
        answer = StreamingResponse(chunks, media_type=row.content_type, headers={
            "Content-Length": str(row.size),
            "Content-Disposition": content_disposition(row.filename, row.id, "resource"),
            "X-Content-SHA256": row.sha256, "X-Content-Type-Options": "nosniff"})
    answer.headers["Cache-Control"] = "private, no-store"
    await service.record_use(connection, caller, contact, found.resource_id, found.version,
                             found.language, "download")
    return answer


@uses_router.get("", summary="List resource uses",
                 description="Views and downloads of the library: vendor keys every partner's, "
                 "partner callers their own org's. `contact_id` is the person when a portal "
                 "user was matched to a contact of its org by e-mail.")
async def list_resource_uses(session: Session, caller: Caller,
                             query: Annotated[ListQuery, Depends(USES.query)]
                             ) -> Page[EnablementResourceUseOut]:
    items, cursor, total = await service.uses_page(session, caller, query)
    return Page[EnablementResourceUseOut](items=items, next_cursor=cursor, total_count=total)


@kpis_router.get("", summary="Get the resource library's KPIs",
                 description="Per resource (uses, views, downloads, people, partners, "
                 "adoption among the partners its audience admits, time to first use), per "
                 "partner (resources used, time from activation to first use) and in total, "
                 "over the whole programme or one partner (`partner_id`); a partner caller "
                 "over its own org and the resources it sees. Definitions in "
                 "docs/enablement.md.", responses=problem_responses(404))
async def get_enablement_kpis(
    session: Session, caller: Caller,
    partner_id: Annotated[uuid.UUID | None, Query(description="One partner's.")] = None,
    resource_id: Annotated[uuid.UUID | None, Query(description="One resource's.")] = None,
) -> EnablementKpisOut:
    return await service.kpis(session, caller, partner_id, resource_id)
