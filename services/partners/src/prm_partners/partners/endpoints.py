import uuid
from typing import Annotated

from fastapi import Body, Depends, Path, Request, Response

from prm_partners.partners import service
from prm_partners.partners.listing import DIRECTORY
from prm_partners.partners.models import Partner
from prm_partners.partners.schemas import (
    ExternalId,
    PartnerCreate,
    PartnerOut,
    PartnerUpdate,
    StatusChange,
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
    single_statement,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses

router = service_router("/v1/partners", "partners")


def _out(partner: Partner, response: Response) -> PartnerOut:
    response.headers["ETag"] = etag(partner.version)
    return PartnerOut.model_validate(partner)


@router.post("", status_code=201, summary="Create a partner organisation",
             response_model=PartnerOut,
             description="Vendor keys only. The partner starts in `onboarding` (an approved "
             "application creates one too); emits `prm.partner.created.v1`. An `external_id` "
             "already in use is a 409: integrations upsert with "
             "`PUT /v1/partners-by-external-id/{external_id}`.",
             responses={**problem_responses(409), **resource_headers(201, location=True)})
@single_statement
async def create_partner(body: PartnerCreate, request: Request, connection: Autocommit,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> Response:
    def answer(partner: Partner) -> Response:
        return Response(PartnerOut.model_validate(partner).model_dump_json(), status_code=201,
                        media_type="application/json",
                        headers={"Location": f"/v1/partners/{partner.id}",
                                 "ETag": etag(partner.version)})

    return await service.register(connection, caller, body, request.state.idempotency, answer)


# Its own prefix: under /v1/partners/ the path would read like a partner id's sub-resource.
by_external_id = service_router("/v1/partners-by-external-id", "partners")


@by_external_id.put("/{external_id}", summary="Create or update a partner by CRM id",
            description="For integrations that sync the vendor's CRM: creates the partner "
            "(201, in `onboarding`) or changes the one with this `external_id` (200; only the "
            "fields that differ, `prm.partner.updated.v1` when something did). Vendor keys "
            "only.",
            responses={201: {"description": "Created", "model": PartnerOut},
                       **problem_responses(409), **resource_headers()})
async def upsert_partner(external_id: Annotated[ExternalId, Path()], body: PartnerCreate,
                         response: Response, session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> PartnerOut:
    partner, created = await service.upsert(session, caller, external_id, body)
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/v1/partners/{partner.id}"
    return _out(partner, response)


@router.get("", summary="List partner organisations",
            description="The partner directory, in creation order unless sorted; filter by "
            "status, type, tier, countries based in and served, specialisations and languages; "
            "search by name or website. A partner key sees its own org and, for a "
            "distributor, the resellers that granted it access.")
async def list_partners(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(DIRECTORY.query)]
                        ) -> Page[PartnerOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[PartnerOut](items=[PartnerOut.model_validate(p) for p in rows],
                            next_cursor=next_cursor, total_count=total)


@router.get("/{partner_id:uuid}", summary="Get a partner organisation",
            description="A partner key sees its own org (and a distributor the resellers "
            "that granted it access); another org's is a 404. The ETag is the partner's "
            "version, for If-Match on updates and actions.",
            responses={**problem_responses(404), **resource_headers()})
async def get_partner(partner_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> PartnerOut:
    return _out(await service.get(session, caller, partner_id), response)


@router.patch("/{partner_id:uuid}", summary="Update a partner organisation",
              description="Changes only the fields sent. A partner key may change its own "
              f"org's {', '.join(f'`{f}`' for f in sorted(service.PARTNER_EDITABLE))}; the "
              "rest is the vendor's. Emits `prm.partner.updated.v1` when something changed.",
              responses={**problem_responses(404, 409, 412), **resource_headers()})
async def update_partner(partner_id: uuid.UUID, body: PartnerUpdate, response: Response,
                         session: Session, caller: Caller, if_match: IfMatchHeader = None
                         ) -> PartnerOut:
    return _out(await service.update(session, caller, partner_id, body, if_match), response)


_ACTIONS = {
    "start-onboarding": ("Start a partner's onboarding", "From `applicant` to `onboarding`."),
    "activate": ("Activate a partner", "From `onboarding` or `suspended` to `active`."),
    "suspend": ("Suspend a partner", "From `onboarding` or `active` to `suspended`; its keys "
                "and users are refused until it is active again. A `reason` is required."),
    "offboard": ("Offboard a partner", "From any status but `offboarded` to `offboarded`; "
                 "its keys and users are refused. A `reason` is required."),
    "reinstate": ("Reinstate an offboarded partner", "From `offboarded` back to "
                  "`onboarding`. A `reason` is required."),
}


def _action(action: str, summary: str, description: str) -> None:
    async def endpoint(partner_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller,
                       body: Annotated[StatusChange | None, Body()] = None,
                       if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> PartnerOut:
        partner = await service.transition(session, caller, partner_id, action, if_match,
                                           body.reason if body else None)
        return _out(partner, response)

    router.add_api_route(
        f"/{{partner_id:uuid}}/{action}", endpoint, methods=["POST"],
        name=f"{action.replace('-', '_')}_partner", summary=summary,
        description=description + " Any other status is a 409 `invalid-transition` naming "
        "the statuses it is allowed from. Vendor keys only; emits "
        "`prm.partner.status_changed.v1` with the previous status and the reason.",
        response_model=PartnerOut,
        responses={**problem_responses(404, 409, 412), **resource_headers()},
    )


for _name, (_summary, _description) in _ACTIONS.items():
    _action(_name, _summary, _description)
