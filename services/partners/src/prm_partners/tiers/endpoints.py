"""Routes of the programme's tiers: their set-up (`/v1/tiers`) and each partner's tier and
tier history. The FX rates revenue is converted with are the incentives ledger's
(`/v1/ledger/fx-rates`), kept here as a projection of its events (``tiers.handlers``)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from prm_partners.tiers import service
from prm_partners.tiers.listing import TIER_HISTORY, TIERS
from prm_partners.tiers.models import Tier, TierProgramme
from prm_partners.tiers.schemas import (
    MAX_TIERS,
    PartnerTierOut,
    TierChangeOut,
    TierIn,
    TierOut,
    TierPatch,
    TierProgrammeIn,
    TierProgrammeOut,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.money import Money
from prm_platform.problems import problem_responses
from prm_platform.types import QueryDate

tiers = service_router("/v1/tiers", "tiers")
partner_tiers = service_router("/v1/partners", "tiers")

CONVERSION = ("Revenue is the sum of the partner's deals won over the trailing window, each "
              "converted to the base currency with the latest rate from its currency to the "
              "base currency effective on or before the day it closed, and rounded half-even "
              "(banker's rounding) to the base currency's minor unit (JPY 0 decimals, KWD 3) "
              "before summing. A deal in a currency without such a rate is not counted until "
              "one is recorded (`POST /v1/ledger/fx-rates`, the one owner of FX rates).")


def _tier_out(tier: Tier, response: Response | None = None) -> TierOut:
    if response is not None:
        response.headers["ETag"] = etag(tier.version)
    revenue = None
    if tier.min_revenue is not None and tier.min_revenue_currency is not None:
        revenue = Money.of(tier.min_revenue, tier.min_revenue_currency)
    return TierOut(id=tier.id, name=tier.name, rank=tier.rank, description=tier.description,
                   min_revenue=revenue, min_active_certifications=tier.min_certifications,
                   min_won_deals=tier.min_won_deals,
                   compliance_required=tier.compliance_required, version=tier.version,
                   created_at=tier.created_at, updated_at=tier.updated_at)


def _programme_out(settings: TierProgramme, response: Response) -> TierProgrammeOut:
    response.headers["ETag"] = etag(settings.version)
    return TierProgrammeOut.model_validate(settings)


# -- programme settings and tiers --------------------------------------------------------------

@tiers.get("/programme", summary="Get the tier programme's settings",
           description="The base currency revenue is converted to and tier minimums are "
           "stated in, the demotion grace period and the trailing window. " + CONVERSION,
           responses=resource_headers())
async def get_tier_programme(response: Response, session: Session, caller: Caller
                             ) -> TierProgrammeOut:
    return _programme_out(await service.get_programme(session, caller), response)


@tiers.put("/programme", summary="Change the tier programme's settings",
           description="Vendor keys only. A new base currency converts every won deal again "
           "(a tier whose minimum revenue is still in the old currency cannot be met until it "
           "is restated); any change makes every partner due for evaluation within minutes.",
           responses={**problem_responses(412), **resource_headers()})
async def put_tier_programme(body: TierProgrammeIn, response: Response, session: Session,
                             caller: Caller, if_match: IfMatchHeader = None) -> TierProgrammeOut:
    return _programme_out(await service.put_programme(session, caller, body, if_match),
                          response)


@tiers.post("", status_code=201, summary="Create a tier",
            description=f"Vendor keys only; at most {MAX_TIERS} tiers, names and ranks "
            "unique (409). A partner holds the highest-ranked tier whose criteria all hold: "
            "promoted at once, demoted only after the grace period. Every active partner is "
            "evaluated again within minutes.",
            responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_tier(body: TierIn, response: Response, session: Session, caller: Caller,
                      idempotency_key: IdempotencyKeyHeader = None) -> TierOut:
    tier = await service.create_tier(session, caller, body)
    response.headers["Location"] = f"/v1/tiers/{tier.id}"
    return _tier_out(tier, response)


@tiers.get("", summary="List the tiers",
           description="In creation order unless sorted: `sort=rank` lists them in the "
           "programme's order; filter by name. A deleted tier leaves the list (and the change "
           f"feed): there are at most {MAX_TIERS}, a sync reads them whole.")
async def list_tiers(session: Session, caller: Caller,
                     query: Annotated[ListQuery, Depends(TIERS.query)]) -> Page[TierOut]:
    rows, next_cursor, total = await service.list_tiers(session, caller, query)
    return Page[TierOut](items=[_tier_out(t) for t in rows], next_cursor=next_cursor,
                         total_count=total)


@tiers.get("/{tier_id:uuid}", summary="Get a tier",
           description="The ETag is its version, for If-Match on changes.",
           responses={**problem_responses(404), **resource_headers()})
async def get_tier(tier_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> TierOut:
    return _tier_out(await service.get_tier(session, caller, tier_id), response)


@tiers.patch("/{tier_id:uuid}", summary="Change a tier",
             description="Vendor keys only; only the fields sent change. A tier partners hold "
             "keeps its name (409). Every active partner is evaluated again within minutes.",
             responses={**problem_responses(404, 409, 412), **resource_headers()})
async def update_tier(tier_id: uuid.UUID, body: TierPatch, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None
                      ) -> TierOut:
    return _tier_out(await service.update_tier(session, caller, tier_id, body, if_match),
                     response)


@tiers.delete("/{tier_id:uuid}", status_code=204, summary="Delete a tier",
              description="Vendor keys only. A tier partners hold cannot be deleted (409).",
              responses=problem_responses(404, 409, 412))
async def delete_tier(tier_id: uuid.UUID, session: Session, caller: Caller,
                      if_match: IfMatchHeader = None) -> Response:
    await service.delete_tier(session, caller, tier_id, if_match)
    return Response(status_code=204)


# -- a partner's tier -------------------------------------------------------------------------

AsOf = Annotated[QueryDate | None, Query(description="The day to read the criteria on "
                                         "(YYYY-MM-DD); today by default.")]


@partner_tiers.get("/{partner_id:uuid}/tier", summary="Get a partner's tier",
                   description="The tier it holds, the highest tier it qualifies for on "
                   "`as_of`, every criterion's value then (with the FX rates used), the "
                   "demotion pending and when it would take effect, and what the next tier "
                   "up lacks. A partner key reads its own org's. " + CONVERSION,
                   responses=problem_responses(404))
async def get_partner_tier(partner_id: uuid.UUID, session: Session, caller: Caller,
                           as_of: AsOf = None) -> PartnerTierOut:
    view = await service.tier_view(session, caller, partner_id, as_of or service.today())
    return PartnerTierOut.model_validate(view)


@partner_tiers.get("/{partner_id:uuid}/tier-history", summary="List a partner's tier changes",
                   description="Oldest first unless sorted (`sort=-created_at`: newest "
                   "first): each promotion and demotion with the values that decided it and "
                   "the reason in words; filter by direction and the tier moved to, ranges of "
                   "the day evaluated for and the time changed. Changes are never altered.",
                   responses=problem_responses(404))
async def list_partner_tier_history(
    partner_id: uuid.UUID, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(TIER_HISTORY.query)],
) -> Page[TierChangeOut]:
    rows, next_cursor, total = await service.history_page(session, caller, partner_id, query)
    return Page[TierChangeOut](items=[TierChangeOut.model_validate(c) for c in rows],
                               next_cursor=next_cursor, total_count=total)


@partner_tiers.post("/{partner_id:uuid}/tier/evaluate", summary="Evaluate a partner's tier now",
                    description="Vendor keys only; active partners only (409). Applies what "
                    "the evaluation decides (a promotion, a demotion past its grace period, a "
                    "pending demotion started or cleared) and answers the tier as `GET "
                    "/tier` reads it. `as_of` may be today or earlier.",
                    responses=problem_responses(404, 409))
async def evaluate_partner_tier(partner_id: uuid.UUID, session: Session, caller: Caller,
                                as_of: AsOf = None,
                                idempotency_key: IdempotencyKeyHeader = None) -> PartnerTierOut:
    view = await service.evaluate_now(session, caller, partner_id, as_of)
    return PartnerTierOut.model_validate(view)


routers: list[APIRouter] = [tiers, partner_tiers]
