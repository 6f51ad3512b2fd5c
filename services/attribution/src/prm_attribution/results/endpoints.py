import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from prm_attribution.results import reading
from prm_attribution.results.listing import ATTRIBUTED_DEALS, several
from prm_attribution.results.schemas import (
    AttributedDealOut,
    AttributionBasis,
    AttributionExplanation,
    AttributionModel,
)
from prm_platform.http import Caller, IdempotencyKeyHeader, ServiceRoute, Session
from prm_platform.listing import ListQuery, Page, ShownAs
from prm_platform.problems import problem_responses

router = APIRouter(prefix="/v1/attributed-deals", tags=["attribution"],
                   route_class=ServiceRoute, responses=problem_responses(400, 401, 403, 422))
RulesVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1, description=(
    "A rules version; the newest the deal has results of when left out."))]
RulesVersionValue = Annotated[int, Field(ge=1, le=2**31 - 1)]


@router.get("", summary="List attributed deals with their credits under one model",
            description="Deals with credits under `model`, in deal id (creation) order; each "
            "under the newest rules version it has results of (among `rules_version`, of "
            "`basis`), with its credits (each partner's name beside its id). Filters: the "
            "partners holding a credit, status, currency, deal type, customer; ranges on the "
            "amount, `closed_on` and `registered_at`; `q` searches the customer's name and "
            "domain. `updated_since` pulls the deals whose data or credits changed (credits "
            "replaced by a recompute show as the deal's new set). A partner key sees the deals "
            "it holds a credit on, with its own credit only.")
async def list_attributed_deals(
    session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(ATTRIBUTED_DEALS.query)],
    model: Annotated[AttributionModel, Query(description="The attribution model")
                     ] = AttributionModel.linear,
    basis: Annotated[list[Annotated[str, ShownAs(AttributionBasis)]] | None, Query(description=(
        "`won` or `pipeline`: the results computed on that basis only. Several values: "
        "comma-separated or repeated."))] = None,
    rules_version: Annotated[list[str] | None, Query(description=(
        "Rules versions; the newest of them the deal has results of is shown (the newest of "
        "all when left out). Several values: comma-separated or repeated."))] = None,
) -> Page[AttributedDealOut]:
    items, cursor, total = await reading.list_page(
        session, caller, query, model=model,
        rules_versions=several("rules_version", rules_version, RulesVersionValue),
        bases=several("basis", basis, AttributionBasis))
    return Page[AttributedDealOut](items=items, next_cursor=cursor, total_count=total)


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
