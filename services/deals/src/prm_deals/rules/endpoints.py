import uuid
from typing import Annotated, Any

from fastapi import Depends, Response
from pydantic import BaseModel, Field

from prm_deals.declaration import DEALS_READ
from prm_deals.matching import conflicts
from prm_deals.registrations import service as registrations
from prm_deals.registrations.schemas import Decision
from prm_deals.rules import service
from prm_deals.rules.evaluate import decide, facts_of
from prm_deals.rules.listing import RULES, VERSIONS
from prm_deals.rules.schemas import (
    MAX_RULES,
    DryRun,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleTrace,
    RuleVersion,
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
from prm_platform.problems import problem_responses

router = service_router("/v1/engagement-rules", "engagement rules")



class DryRunResult(BaseModel):
    decision: Decision
    conflicts: int = Field(description="How many conflicts the check found (see "
                           "`POST /v1/deals/conflict-check` for them).")
    rules: list[RuleTrace] = Field(description="Each enabled rule in order until one fired, "
                                   "with the conditions that did not hold.")


def _out(row: Any, response: Response) -> RuleOut:
    response.headers["ETag"] = etag(row.version)
    return RuleOut.model_validate(row)


@router.post("", status_code=201, summary="Create a rule of engagement",
             description="Vendor keys only. Rules decide a new registration in order of "
             "`position`: the first whose conditions all hold fires (`approve`, `reject` or "
             "`review`). A true conflict with another partner's earlier registration is "
             "rejected before any rule (first come, first served); when no rule fires, a "
             "conflict goes to review and anything else is `submitted`.",
             responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_rule(body: RuleIn, response: Response, session: Session, caller: Caller,
                      idempotency_key: IdempotencyKeyHeader = None) -> RuleOut:
    row = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/engagement-rules/{row.id}"
    return _out(row, response)


@router.get("", summary="List the rules of engagement",
            description=f"Vendor keys only. In evaluation order (`position`, then id) unless "
            f"sorted; at most {MAX_RULES} rules exist. A deleted rule leaves the list; its "
            "versions stay readable.")
async def list_rules(session: Session, caller: Caller,
                     query: Annotated[ListQuery, Depends(RULES.query)]) -> Page[RuleOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[RuleOut](items=[RuleOut.model_validate(r) for r in rows],
                         next_cursor=next_cursor, total_count=total)


@router.post("/dry-run", summary="Which rule would decide this registration",
             description="Vendor keys only. Runs the conflict check and the rules on a "
             "registration without registering it, and shows each rule evaluated with the "
             "conditions that did not hold.",
             responses=problem_responses(422))
async def dry_run(body: DryRun, session: Session, caller: Caller,
                  idempotency_key: IdempotencyKeyHeader = None) -> DryRunResult:
    caller.require(DEALS_READ)
    caller.ensure_vendor()
    data = body.registration
    partner_id = registrations.registering_partner(caller, data.partner_id)
    found = await conflicts.find(session, conflicts.customer(
        data.customer.name, data.customer.domain, data.customer.country))
    rules, partners = await service.for_decisions(session, [partner_id])
    decided = decide(partner_id, found, facts_of(data, partners.get(str(partner_id))), rules)
    return DryRunResult(decision=Decision.model_validate(decided.record()),
                        conflicts=len(found),
                        rules=[RuleTrace.model_validate(t) for t in decided.trace])


@router.get("/{rule_id:uuid}", summary="Get a rule of engagement",
            description="Vendor keys only; the ETag is its version.",
            responses={**problem_responses(404), **resource_headers()})
async def get_rule(rule_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> RuleOut:
    return _out(await service.get(session, caller, rule_id), response)


@router.patch("/{rule_id:uuid}", summary="Change a rule of engagement",
              description="Only the fields sent change; a new version, the old one kept "
              "(`/versions`). Registrations keep the version that decided them.",
              responses={**problem_responses(404, 412), **resource_headers()})
async def update_rule(rule_id: uuid.UUID, body: RulePatch, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None
                      ) -> RuleOut:
    return _out(await service.update(session, caller, rule_id, body, if_match), response)


@router.delete("/{rule_id:uuid}", status_code=204, summary="Delete a rule of engagement",
               description="Its versions stay readable.",
               responses=problem_responses(404, 412))
async def delete_rule(rule_id: uuid.UUID, session: Session, caller: Caller,
                      if_match: IfMatchHeader = None) -> Response:
    await service.delete(session, caller, rule_id, if_match)
    return Response(status_code=204)


@router.get("/{rule_id:uuid}/versions", summary="Every version of a rule",
            description="Oldest first, cursor-paginated (the `{items, next_cursor}` envelope "
            "of every list).", responses=problem_responses(404))
async def rule_versions(rule_id: uuid.UUID, session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(VERSIONS.query)]
                        ) -> Page[RuleVersion]:
    rows, next_cursor, total = await service.versions(session, caller, rule_id, query)
    return Page[RuleVersion](items=[RuleVersion.model_validate(r, from_attributes=True)
                                    for r in rows], next_cursor=next_cursor, total_count=total)
