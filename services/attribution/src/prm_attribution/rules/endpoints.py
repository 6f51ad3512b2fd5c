from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from prm_attribution.rules import service
from prm_attribution.rules.listing import RULES
from prm_attribution.rules.models import AttributionRuleSet
from prm_attribution.rules.schemas import AttributionRulesIn, AttributionRulesOut
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

router = APIRouter(prefix="/v1/attribution-rules", tags=["attribution rules"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))


def _out(row: AttributionRuleSet, response: Response) -> AttributionRulesOut:
    response.headers["ETag"] = etag(row.version)
    return AttributionRulesOut.model_validate(row)


@router.post("", status_code=201, summary="Publish a new version of the attribution rules",
             description="Vendor keys only. Versions are never changed: results computed by "
             "an earlier version keep it; deals are computed by this version from their next "
             "change (or `POST /v1/attributed-deals/{deal_id}/recompute`). Send the ETag of "
             "`GET /v1/attribution-rules/current` in If-Match so that a version published "
             "meanwhile is not overlooked (412).",
             responses={**problem_responses(409, 412), **resource_headers(201, location=True)})
async def publish_attribution_rules(body: AttributionRulesIn, response: Response,
                                    session: Session, caller: Caller,
                                    if_match: IfMatchHeader = None,
                                    idempotency_key: IdempotencyKeyHeader = None
                                    ) -> AttributionRulesOut:
    row = await service.publish(session, caller, body, if_match)
    response.headers["Location"] = f"/v1/attribution-rules/{row.version}"
    return _out(row, response)


@router.get("", summary="List every version of the attribution rules",
            description="Oldest first (`sort=-version`: newest first); filters on the version "
            "and ranges on it and on `published_at`. Published versions never change, so there "
            "is no change feed: `published_at[gte]` pulls the new ones. Readable by partner "
            "keys too (the rules that credit them are public to them).")
async def list_attribution_rules(session: Session, caller: Caller,
                                 query: Annotated[ListQuery, Depends(RULES.query)]
                                 ) -> Page[AttributionRulesOut]:
    rows, cursor, total = await service.list_page(session, caller, query)
    return Page[AttributionRulesOut](
        items=[AttributionRulesOut.model_validate(r) for r in rows], next_cursor=cursor,
        total_count=total)


@router.get("/current", summary="The newest version of the attribution rules",
            description="What new results are computed by; its ETag is the version, for "
            "If-Match when publishing the next one.",
            responses={**problem_responses(404), **resource_headers()})
async def get_current_attribution_rules(response: Response, session: Session, caller: Caller
                                        ) -> AttributionRulesOut:
    return _out(await service.get(session, caller, None), response)


@router.get("/{version}", summary="One version of the attribution rules",
            description="Published versions never change: each result names the version "
            "it was computed by.",
            responses={**problem_responses(404), **resource_headers()})
async def get_attribution_rules(version: Annotated[int, Path(ge=1, le=2**31 - 1)],
                                response: Response, session: Session, caller: Caller
                                ) -> AttributionRulesOut:
    return _out(await service.get(session, caller, version), response)
