import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.declaration import LEAD_INTAKE, LEADS_WRITE
from prm_deals.leads import rules, service
from prm_deals.leads.listing import ASSIGNMENTS, LEADS, RULES, VERSIONS
from prm_deals.leads.schemas import (
    LeadAssignIn,
    LeadAssignmentOut,
    LeadBatch,
    LeadBatchItem,
    LeadBatchResult,
    LeadCapacityIn,
    LeadCapacityOut,
    LeadConvertIn,
    LeadDeclineIn,
    LeadDryRunOut,
    LeadIn,
    LeadOut,
    LeadReceipt,
    LeadRecommendation,
    LeadRecommendations,
    LeadRoutingRuleIn,
    LeadRoutingRuleOut,
    LeadRoutingRulePatch,
    LeadRoutingRuleVersionOut,
)
from prm_deals.registrations.schemas import DealOut
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
from prm_platform.problems import ProblemError, field_errors, problem_body, problem_responses
from prm_platform.security import Principal

router = service_router("/v1/leads", "leads")
batches_router = service_router("/v1/lead-batches", "leads")
intake_router = service_router("/v1/lead-intake", "leads")
rules_router = service_router("/v1/lead-routing-rules", "lead routing")
capacity_router = service_router("/v1/lead-capacity", "lead routing")

_STATES = problem_responses(404, 409, 412)


async def _out(session: AsyncSession, row: Any, response: Response, caller: Principal
               ) -> LeadOut:
    response.headers["ETag"] = etag(row.version)
    names = await service.partner_names(session, [row.partner_id])
    return LeadOut.seen_by(row, caller, names.get(row.partner_id))


async def _received(session: AsyncSession, caller: Principal, body: LeadIn, response: Response,
                    *, intake: bool) -> LeadOut:
    row, outcome = await service.submit(session, caller, body, intake=intake)
    response.status_code = 201 if outcome == "created" else 200
    response.headers["Location"] = f"/v1/leads/{row.id}"
    return await _out(session, row, response, caller)


_RECEIVE = """Routed at once (unless `route` is false): the first enabled routing rule whose
conditions the lead meets names the pool of partners it may go to; the partner whose turn it is
by weight (a deterministic, fair order: every partner within one lead of its weighted share at
every moment) is offered it, passing over partners at their cap, paused, or who declined it
before. The answer shows where it went; `GET /v1/leads/{id}/assignments` tells why.

Its company is checked like a registration's customer: a customer another partner registered,
or a named account of the vendor, flags the lead and puts it in the vendor's queue instead of
routing it. Sent again with the same `external_id`, it updates the lead (200) instead of
making another. Emits `prm.lead.received.v1` and `prm.lead.assigned.v1`."""


@router.post("", status_code=201, summary="Receive a lead",
             description="From a partner's system (a partner-sourced lead: partner keys, or "
             "vendor keys naming `source_partner_id`) or a vendor integration.\n\n" + _RECEIVE,
             responses={**problem_responses(403, 409), **resource_headers(201, location=True),
                        200: {"description": "Updated: a lead with this `external_id` was "
                              "received before", "model": LeadOut}})
async def receive_lead(body: LeadIn, response: Response, session: Session, caller: Caller,
                       idempotency_key: IdempotencyKeyHeader = None) -> LeadOut:
    return await _received(session, caller, body, response, intake=False)


@intake_router.post("", status_code=201, summary="Submit a lead (intake key)",
                    description="The vendor's own leads, from marketing automation or web "
                    "forms, with a key that may do nothing else (`lead_intake:write`): the "
                    "answer says the lead arrived, not where it went nor what the conflict "
                    "check found.\n\n" + _RECEIVE,
                    responses={**problem_responses(403, 409),
                               200: {"description": "Updated: a lead with this `external_id` "
                                     "was received before", "model": LeadReceipt}})
async def submit_lead(body: LeadIn, response: Response, session: Session, caller: Caller,
                      idempotency_key: IdempotencyKeyHeader = None) -> LeadReceipt:
    row, outcome = await service.submit(session, caller, body, intake=True)
    response.status_code = 201 if outcome == "created" else 200
    return LeadReceipt(id=row.id, external_id=row.external_id, received_at=row.created_at)


async def _batch(session: AsyncSession, caller: Principal, batch: LeadBatch, *, intake: bool
                 ) -> LeadBatchResult:
    caller.require(LEAD_INTAKE if intake else LEADS_WRITE)
    if intake:
        caller.ensure_vendor()
    items: list[LeadBatchItem] = []
    for index, raw in enumerate(batch.items):
        try:
            data = LeadIn.model_validate(raw)
        except ValidationError as exc:
            items.append(LeadBatchItem(index=index, outcome="error", problem=problem_body(
                422, "validation-error", "the lead is not valid",
                errors=field_errors(exc.errors()))))
            continue
        try:
            async with session.begin_nested():
                row, outcome = await service.submit(session, caller, data, intake=intake)
        except ProblemError as exc:
            items.append(LeadBatchItem(index=index, outcome="error", problem=problem_body(
                exc.status, exc.slug, exc.detail, **exc.extra)))
            continue
        items.append(LeadBatchItem(index=index, outcome=outcome, lead_id=row.id,
                                   status=None if intake else row.status))
    counts = {o: sum(1 for i in items if i.outcome == o)
              for o in ("created", "updated", "unchanged", "error")}
    return LeadBatchResult(created=counts["created"], updated=counts["updated"],
                       unchanged=counts["unchanged"], errors=counts["error"], items=items)


_BATCH = ("Up to 1,000 leads in one request, each received (and routed) as the single "
          "endpoint would, in its own savepoint: the answer gives each item's outcome, an "
          "invalid item a problem of its own. Idempotent per item by `external_id`, and as a "
          "whole under an `Idempotency-Key`.")


@batches_router.post("", summary="Receive leads in bulk", description=_BATCH,
                     responses=problem_responses(403))
async def receive_leads(body: LeadBatch, session: Session, caller: Caller,
                        idempotency_key: IdempotencyKeyHeader = None) -> LeadBatchResult:
    return await _batch(session, caller, body, intake=False)


@intake_router.post("/batch", summary="Submit leads in bulk (intake key)", description=_BATCH,
                    responses=problem_responses(403))
async def submit_leads(body: LeadBatch, session: Session, caller: Caller,
                       idempotency_key: IdempotencyKeyHeader = None) -> LeadBatchResult:
    return await _batch(session, caller, body, intake=True)


@router.get("", summary="List leads",
            description="Vendor keys see every lead (`status=queued` is the vendor's queue); "
            "partner keys the leads offered to, held by or passed on by their org.")
async def list_leads(session: Session, caller: Caller,
                     query: Annotated[ListQuery, Depends(LEADS.query)]) -> Page[LeadOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    names = await service.partner_names(session, [r.partner_id for r in rows])
    return Page[LeadOut](items=[LeadOut.seen_by(r, caller, names.get(r.partner_id))
                                for r in rows], next_cursor=next_cursor, total_count=total)


@router.get("/{lead_id:uuid}", summary="Get a lead",
            description="The ETag is its version, for If-Match on its actions.",
            responses={**problem_responses(404), **resource_headers()})
async def get_lead(lead_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> LeadOut:
    return await _out(session, await service.get(session, caller, lead_id), response, caller)


@router.get("/{lead_id:uuid}/assignments", summary="A lead's offers and why",
            description="Every offer of the lead, oldest first: to whom (or the vendor's "
            "queue), by which rule and version, how it ended, and for vendor readers the "
            "explanation: the pool, the candidates in turn order with their weights, counts and "
            "caps, and why each before the chosen one was passed over. A partner sees its own "
            "offers, without the explanation.",
            responses=problem_responses(404))
async def list_assignments(lead_id: uuid.UUID, session: Session, caller: Caller,
                           query: Annotated[ListQuery, Depends(ASSIGNMENTS.query)]
                           ) -> Page[LeadAssignmentOut]:
    rows, next_cursor, total = await service.assignments(session, caller, lead_id, query)
    return Page[LeadAssignmentOut](items=[LeadAssignmentOut.seen_by(r, caller) for r in rows],
                               next_cursor=next_cursor, total_count=total)


@router.get("/{lead_id:uuid}/recommendations", summary="Partners likeliest to win a lead",
            description="Vendor staff only. The active partners serving the lead's country, "
            "ranked by their estimated chance of winning this kind of deal (its country and "
            "product) from the closed deals: each with its sample size, and no estimate where "
            "the history is too thin to say (`basis: insufficient_history`).",
            responses=problem_responses(403, 404))
async def recommend_partners(lead_id: uuid.UUID, session: Session, caller: Caller,
                             limit: Annotated[int, Query(ge=1, le=100)] = 20
                             ) -> LeadRecommendations:
    ranked = await service.recommendations(session, caller, lead_id, limit)
    return LeadRecommendations(lead_id=lead_id, items=[LeadRecommendation(
        partner_id=partner, partner_name=name, probability=e.probability,
        sample_size=e.sample_size, segment=e.segment, basis=e.basis)
        for (partner, name), e in ranked])


@router.post("/{lead_id:uuid}/accept", summary="Accept a lead",
             description="The partner the lead is offered to takes it (or the vendor for "
             "it). Emits `prm.lead.accepted.v1`.",
             responses={**_STATES, **resource_headers()})
async def accept_lead(lead_id: uuid.UUID, response: Response, session: Session, caller: Caller,
                      if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> LeadOut:
    row = await service.accept(session, caller, lead_id, if_match)
    return await _out(session, row, response, caller)


@router.post("/{lead_id:uuid}/decline", summary="Decline a lead",
             description="The partner the lead is offered to turns it down, with a reason; it "
             "goes on at once to the next partner in turn (never back to this one), or to the "
             "vendor's queue. Emits `prm.lead.declined.v1`, then `prm.lead.assigned.v1`.",
             responses={**_STATES, **resource_headers()})
async def decline_lead(lead_id: uuid.UUID, body: LeadDeclineIn, response: Response,
                       session: Session, caller: Caller, if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> LeadOut:
    row = await service.decline(session, caller, lead_id, body, if_match)
    return await _out(session, row, response, caller)


@router.post("/{lead_id:uuid}/assign", summary="Assign a lead by hand, or route it again",
             description="Vendor keys only. Offer the lead to a named active partner (past "
             "the rules and caps), or with no partner route it again by the rules; an open "
             "offer is withdrawn first. From `new`, `offered` or `queued`.",
             responses={**_STATES, **problem_responses(403, 422), **resource_headers()})
async def assign_lead(lead_id: uuid.UUID, body: LeadAssignIn, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None,
                      idempotency_key: IdempotencyKeyHeader = None) -> LeadOut:
    row = await service.assign(session, caller, lead_id, body, if_match)
    return await _out(session, row, response, caller)


@router.post("/{lead_id:uuid}/convert", status_code=201,
             summary="Convert an accepted lead to a deal registration",
             description="One action: the partner holding the lead registers its company as a "
             "deal (through the conflict check and the rules of engagement, like any "
             "registration), and the registration keeps the lead as its source "
             "(`source_lead_id`; `lead_id` on `prm.deal.registered.v1`, attribution's "
             "sourcing touch). Emits `prm.lead.converted.v1`. Answers the registration.",
             responses={**_STATES, **problem_responses(422),
                        **resource_headers(201, location=True)})
async def convert_lead(lead_id: uuid.UUID, body: LeadConvertIn, request: Request,
                       response: Response, session: Session, caller: Caller,
                       if_match: IfMatchHeader = None,
                       idempotency_key: IdempotencyKeyHeader = None) -> DealOut:
    _, deal = await service.convert(session, caller, lead_id, body, if_match,
                                    request.app.state.settings.protection_days)
    response.headers["Location"] = f"/v1/deals/{deal.id}"
    response.headers["ETag"] = etag(deal.version)
    return DealOut.of(deal, caller)


# --- routing rules ---------------------------------------------------------------------------

def _rule(row: Any, response: Response) -> LeadRoutingRuleOut:
    response.headers["ETag"] = etag(row.version)
    return LeadRoutingRuleOut.of(row)


@rules_router.post("", status_code=201, summary="Create a lead routing rule",
                   description="Vendor keys only. Rules are tried in ascending `position`: the "
                   "first enabled one whose `conditions` the lead meets and whose `partners` "
                   "filter leaves anyone decides the pool; weights come from `weighting`, caps "
                   "from `capacity`, the answer-by time from `respond_within_hours`. Every "
                   "change is a new version (the old one kept), and a new version starts new "
                   "pools.",
                   responses={**problem_responses(403, 409),
                              **resource_headers(201, location=True)})
async def create_rule(body: LeadRoutingRuleIn, response: Response, session: Session,
                      caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                      ) -> LeadRoutingRuleOut:
    row = await rules.create(session, caller, body)
    response.headers["Location"] = f"/v1/lead-routing-rules/{row.id}"
    return _rule(row, response)


@rules_router.get("", summary="List lead routing rules",
                  description="Vendor keys only; in position order unless sorted.")
async def list_rules(session: Session, caller: Caller,
                     query: Annotated[ListQuery, Depends(RULES.query)]
                     ) -> Page[LeadRoutingRuleOut]:
    rows, next_cursor, total = await rules.list_page(session, caller, query)
    return Page[LeadRoutingRuleOut](items=[LeadRoutingRuleOut.of(r) for r in rows],
                                next_cursor=next_cursor, total_count=total)


@rules_router.post("/dry-run", summary="Route a lead without writing (dry run)",
                   description="Vendor keys only. What routing would do with this lead now: "
                   "the rule, the pool and the partner whose turn it is, with the "
                   "explanation. Nothing is written and no pool moves.",
                   responses=problem_responses(403))
async def dry_run_rules(body: LeadIn, session: Session, caller: Caller,
                        idempotency_key: IdempotencyKeyHeader = None) -> LeadDryRunOut:
    routed, flagged = await service.dry_run(session, caller, body)
    return LeadDryRunOut(status="offered" if routed.partner_id else "queued",
                     partner_id=routed.partner_id, reason=routed.reason, flagged=flagged,
                     explanation=routed.explanation)


@rules_router.get("/{rule_id:uuid}", summary="Get a lead routing rule",
                  description="Vendor keys only; the ETag is its version, for If-Match on "
                  "changes.",
                  responses={**problem_responses(403, 404), **resource_headers()})
async def get_rule(rule_id: uuid.UUID, response: Response, session: Session, caller: Caller
                   ) -> LeadRoutingRuleOut:
    return _rule(await rules.get(session, caller, rule_id), response)


@rules_router.patch("/{rule_id:uuid}", summary="Change a lead routing rule",
                    description="Only the fields sent change; a new version is kept.",
                    responses={**problem_responses(403, 404, 412), **resource_headers()})
async def update_rule(rule_id: uuid.UUID, body: LeadRoutingRulePatch, response: Response,
                      session: Session, caller: Caller, if_match: IfMatchHeader = None
                      ) -> LeadRoutingRuleOut:
    return _rule(await rules.update(session, caller, rule_id, body, if_match), response)


@rules_router.delete("/{rule_id:uuid}", status_code=204, summary="Delete a lead routing rule",
                     description="Its versions stay readable.",
                     responses=problem_responses(403, 404, 412))
async def delete_rule(rule_id: uuid.UUID, session: Session, caller: Caller,
                      if_match: IfMatchHeader = None) -> Response:
    await rules.delete(session, caller, rule_id, if_match)
    return Response(status_code=204)


@rules_router.get("/{rule_id:uuid}/versions", summary="A lead routing rule's versions",
                  description="Oldest first; kept after the rule is deleted.",
                  responses=problem_responses(403, 404))
async def list_rule_versions(rule_id: uuid.UUID, session: Session, caller: Caller,
                             query: Annotated[ListQuery, Depends(VERSIONS.query)]
                             ) -> Page[LeadRoutingRuleVersionOut]:
    rows, next_cursor, total = await rules.versions(session, caller, rule_id, query)
    return Page[LeadRoutingRuleVersionOut](
        items=[LeadRoutingRuleVersionOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor, total_count=total)


# --- partners' capacity ----------------------------------------------------------------------

def _settings(row: Any, response: Response) -> LeadCapacityOut:
    out = LeadCapacityOut.model_validate(row, from_attributes=not isinstance(row, dict))
    response.headers["ETag"] = etag(out.version)
    return out


@capacity_router.get("/{partner_id:uuid}", summary="A partner's lead capacity and pause",
                     description="Whether it is paused, its own cap on open offers, and the "
                     "offers awaiting its answer now. Partner keys: their own org.",
                     responses={**problem_responses(404), **resource_headers()})
async def get_capacity(partner_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller) -> LeadCapacityOut:
    return _settings(await service.settings(session, caller, partner_id), response)


@capacity_router.put("/{partner_id:uuid}", summary="Pause a partner's leads or cap them",
                     description="The vendor for any partner, a partner for its own org: "
                     "paused (until a time, or until resumed), routing passes it over and it "
                     "builds no claim on the pool meanwhile; `max_open` caps its open offers "
                     "below the rules' caps.",
                     responses={**problem_responses(404, 412), **resource_headers()})
async def put_capacity(partner_id: uuid.UUID, body: LeadCapacityIn, response: Response,
                       session: Session, caller: Caller, if_match: IfMatchHeader = None
                       ) -> LeadCapacityOut:
    row = await service.change_settings(session, caller, partner_id, body, if_match)
    return _settings(row, response)
