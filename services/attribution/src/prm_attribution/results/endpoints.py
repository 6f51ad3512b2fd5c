import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from prm_attribution.results import reading
from prm_attribution.results.schemas import AttributedDealOut, AttributionExplanation, Model
from prm_platform.http import Caller, IdempotencyKeyHeader, ServiceRoute, Session
from prm_platform.pagination import Page, PageRequest, page_request
from prm_platform.problems import problem_responses

router = APIRouter(prefix="/v1/attributed-deals", tags=["attribution"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))
RulesVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1, description=(
    "A rules version; the newest the deal has results of when left out."))]


@router.get("", summary="List attributed deals with their credits under one model",
            description="By deal id; each deal under the newest rules version it has results "
            "of (or `rules_version`). A partner key sees the deals it holds a credit on, with "
            "its own credit only.")
async def list_attributed_deals(
    session: Session, caller: Caller, page: Annotated[PageRequest, Depends(page_request)],
    model: Annotated[Model, Query(description="The attribution model")] = "linear",
    partner_id: Annotated[uuid.UUID | None, Query()] = None,
    basis: Annotated[str | None, Query(pattern="^(won|pipeline)$")] = None,
    rules_version: RulesVersion = None,
) -> Page[AttributedDealOut]:
    rows = await reading.list_page(session, caller, page, model=model, partner_id=partner_id,
                                   basis=basis, rules_version=rules_version)
    items, cursor = page.page(rows, key=lambda row: row.deal_id)
    return Page[AttributedDealOut](items=items, next_cursor=cursor)


@router.get("/{deal_id:uuid}/explanation", summary="Explain a deal's credits",
            description="Every touch counted, in order, and each partner's credit under each "
            "model side by side, with what each model used (history size, Markov removal "
            "effects, Shapley values and error bound when sampled) and the rules version. A "
            "partner key sees its own org's touches and credits, on a deal it touched.",
            responses=problem_responses(404))
async def explain_attributed_deal(deal_id: uuid.UUID, session: Session, caller: Caller,
                                  rules_version: RulesVersion = None
                                  ) -> AttributionExplanation:
    return await reading.explain(session, caller, deal_id, rules_version)


@router.post("/{deal_id:uuid}/recompute", summary="Recompute a deal under the newest rules",
             description="Vendor keys only. Results of earlier rules versions stay; nothing "
             "is published when no credit changed.",
             responses=problem_responses(404, 409))
async def recompute_attributed_deal(deal_id: uuid.UUID, session: Session, caller: Caller,
                                    idempotency_key: IdempotencyKeyHeader = None
                                    ) -> AttributionExplanation:
    return await reading.recompute(session, caller, deal_id)
