"""Bulk push: up to ``MAX_BATCH`` registrations in one request, each validated and
conflict-checked on its own, with one result per item.

Set-based, so a batch costs a handful of statements, not one round trip per item: every item
is validated in Python; one transaction locks every customer's blocking keys, reads the
partners' standing, the partners' external ids already registered and the conflict candidates
of all items (``conflicts.find_many``), then writes every new registration, its event and its
timeline entry in one statement. Items are decided in order, each against the registrations
made before it in the same batch as well: an item of the same partner matching an earlier item
is a ``duplicate`` (not registered), one of another partner is decided first come, first
served like any conflict.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_WRITE
from prm_deals.matching import conflicts
from prm_deals.matching.score import Customer, compare
from prm_deals.reasons import reason
from prm_deals.registrations import service
from prm_deals.registrations.models import AnyDeal, Deal
from prm_deals.registrations.schemas import DealOut, DealRegistration
from prm_deals.rules import service as engagement
from prm_deals.rules.evaluate import decide, facts_of
from prm_events import outbox
from prm_platform import idempotency
from prm_platform.http import Transactions
from prm_platform.idempotency import IdempotentRequest
from prm_platform.ids import new_id
from prm_platform.problems import Conflict, ProblemError, field_errors, problem_body
from prm_platform.security import Principal

MAX_BATCH = 1000


class DealBatchOutcome(StrEnum):
    """What became of one registration of a bulk push."""

    created = "created"
    conflict = "conflict"
    existing = "existing"
    duplicate = "duplicate"
    error = "error"


class DealBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "registrations": [
            {"external_id": "opp-1001",
             "customer": {"name": "Globex Corporation", "domain": "globex.example",
                          "country": "FR"},
             "amount": {"amount": "48000.00", "currency": "EUR"},
             "expected_close_date": "2027-03-31"},
            {"external_id": "opp-1002",
             "customer": {"name": "Initech KK", "domain": "initech.example", "country": "JP"},
             "amount": {"amount": "5200000", "currency": "JPY"},
             "expected_close_date": "2027-06-30"}]}]})

    registrations: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} registrations, each as `POST /v1/deals` takes it; each "
        "is validated on its own, so one bad item does not refuse the others.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/DealRegistration"}})


class BatchItem(BaseModel):
    index: int = Field(description="The item's position in `registrations`, from 0.")
    outcome: DealBatchOutcome = Field(
        description="`created`: registered, `submitted`; `conflict`: registered with conflicts "
        "(`in_review` or `rejected`); `existing`: registered before under this `external_id`; "
        "`duplicate`: the same customer as an earlier item of the same partner in this batch, "
        "not registered; `error`: see `problem`.")
    deal: DealOut | None = None
    duplicate_of: int | None = Field(default=None, description="The earlier item's index.")
    problem: dict[str, Any] | None = Field(default=None, description="An RFC 9457 problem "
                                           "document, as the single endpoint would answer.")


class BatchResult(BaseModel):
    created: int
    conflicts: int
    existing: int
    duplicates: int
    errors: int
    items: list[BatchItem]


_EXISTING = text("""
    SELECT d.* FROM deals d
    JOIN unnest(CAST(:partners AS uuid[]), CAST(:external_ids AS varchar[])) AS e(p, x)
      ON d.partner_id = e.p AND d.external_id = e.x
""")
_ROW_TYPES = """id uuid, partner_id uuid, external_id varchar, customer_name varchar,
    customer_domain varchar, customer_country varchar, customer_address jsonb,
    customer_crm_ids jsonb, customer_name_key varchar, customer_core varchar,
    customer_blocks jsonb, customer_domain_key varchar,
    products jsonb, deal_type varchar, private_offer boolean, amount numeric, currency varchar,
    expected_close_date date, notes varchar, status varchar, protected_until date,
    conflicts jsonb, decision jsonb, created_at timestamptz, event_id uuid, envelope jsonb,
    activity_id uuid, activity_text varchar"""
_COLUMNS = """id, partner_id, external_id, customer_name, customer_domain, customer_country,
    customer_address, customer_crm_ids, customer_name_key, customer_core, customer_domain_key,
    products, deal_type, private_offer, amount, currency, expected_close_date, notes, status,
    protected_until, conflicts, decision"""
_INSERT = text(f"""
    WITH r AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_ROW_TYPES})),
    {idempotency.store_cte("TRUE")},
    deal AS (
        INSERT INTO deals ({_COLUMNS}, customer_blocks, version, created_at, updated_at)
        SELECT {_COLUMNS}, ARRAY(SELECT jsonb_array_elements_text(r.customer_blocks)), 1,
               created_at, created_at
        FROM r WHERE {idempotency.STORED}
        RETURNING id
    ),
    activity AS (
        INSERT INTO deal_activities (id, deal_id, kind, actor, text, at)
        SELECT r.activity_id, r.id, 'registered', CAST(:actor AS varchar), r.activity_text,
               r.created_at
        FROM r JOIN deal ON deal.id = r.id
    ),
    event AS (
        INSERT INTO outbox (event_id, topic, key, event_type, envelope)
        SELECT r.event_id, CAST(:topic AS varchar), CAST(r.id AS varchar),
               CAST(:event_type AS varchar), r.envelope
        FROM r JOIN deal ON deal.id = r.id
    )
    SELECT (SELECT count(*) FROM deal) AS written, EXISTS (SELECT 1 FROM stored) AS stored
""")


def _error(index: int, problem: ProblemError) -> BatchItem:
    return BatchItem(index=index, outcome="error", problem=problem_body(
        problem.status, problem.slug, problem.detail, **problem.extra))


def _blocks(customer: Customer) -> Iterable[str]:
    """Keys under which two items of a batch are compared (not every pair: a batch is
    compared within these blocks only)."""
    if customer.domain_key:
        yield f"d:{customer.domain_key}"
    if customer.name_key:
        yield f"n:{customer.name_key}"
        yield f"w:{customer.country}:{customer.name_key.split()[0]}"


def _row(deal: AnyDeal, principal: Principal) -> dict[str, Any]:
    event = outbox.envelope(service.registered_event(deal), source=EVENT_SOURCE,
                            aggregate_id=deal.id, partner_id=deal.partner_id)
    return {**service.insert_values(deal), "created_at": deal.created_at.isoformat(),
            "event_id": event["id"], "envelope": event, "activity_id": str(new_id()),
            "activity_text": service.activity_text(deal)}


async def push(begin: Transactions, principal: Principal, batch: DealBatch,
               request: IdempotentRequest | None, protection_days: int,
               render: Callable[[BatchResult], Response]) -> Response:
    principal.require(DEALS_WRITE)
    items: list[BatchItem | None] = [None] * len(batch.registrations)
    valid: list[tuple[int, DealRegistration, uuid.UUID, Customer]] = []
    for index, raw in enumerate(batch.registrations):
        try:
            data = DealRegistration.model_validate(raw)
            partner_id = service.registering_partner(principal, data.partner_id)
        except ValidationError as exc:
            items[index] = BatchItem(index=index, outcome="error", problem=problem_body(
                422, "validation-error", "the registration is not valid",
                errors=field_errors(exc.errors())))
            continue
        except ProblemError as exc:
            items[index] = _error(index, exc)
            continue
        valid.append((index, data, partner_id, conflicts.customer(
            data.customer.name, data.customer.domain, data.customer.country)))

    made: list[AnyDeal] = []
    async with begin() as connection:
        if valid:
            await conflicts.lock(connection, *(c for *_, c in valid))
            rules, partners = await engagement.for_decisions(
                connection, sorted({p for _, _, p, _ in valid}))
            keyed = [(p, d.external_id) for _, d, p, _ in valid if d.external_id]
            existing = {(row.partner_id, row.external_id): Deal(**row._mapping)
                        for row in await connection.execute(_EXISTING, {
                            "partners": [p for p, _ in keyed],
                            "external_ids": [x for _, x in keyed]})} if keyed else {}
            pending = []
            for index, data, partner_id, customer in valid:
                try:
                    service.refuse_ineligible(
                        partner_id, partners.get(str(partner_id), {}).get("status"))
                except ProblemError as exc:
                    items[index] = _error(index, exc)
                    continue
                if (partner_id, data.external_id) in existing:
                    items[index] = BatchItem(index=index, outcome="existing", deal=DealOut.of(
                        existing[(partner_id, data.external_id)], principal,
                        (partners.get(str(partner_id)) or {}).get("name")))
                    continue
                pending.append((index, data, partner_id, customer))
            found = await conflicts.find_many(connection, [c for *_, c in pending])
            earlier: dict[str, list[tuple[int, AnyDeal, Customer]]] = defaultdict(list)
            external_ids: dict[tuple[uuid.UUID, str], int] = {}
            for (index, data, partner_id, customer), known in zip(pending, found, strict=True):
                if data.external_id and (partner_id, data.external_id) in external_ids:
                    items[index] = BatchItem(index=index, outcome="duplicate",
                                             duplicate_of=external_ids[(partner_id,
                                                                        data.external_id)])
                    continue
                in_batch = _in_batch(customer, partner_id, earlier)
                same = [(i, c) for i, c in in_batch
                        if c.partner_id == partner_id and c.score >= conflicts.TRUE_CONFLICT]
                if same:
                    items[index] = BatchItem(index=index, outcome="duplicate",
                                             duplicate_of=same[0][0])
                    continue
                everything = sorted([*known, *(c for _, c in in_batch)],
                                    key=lambda c: (-c.score, c.kind, str(c.id)))
                everything = everything[:conflicts.MAX_CONFLICTS]
                decided = decide(partner_id, everything,
                                 facts_of(data, partners.get(str(partner_id))), rules)
                deal = service.new_deal(partner_id, data, customer, everything, decided,
                                        protection_days)
                made.append(deal)
                if data.external_id:
                    external_ids[(partner_id, data.external_id)] = index
                for block in set(_blocks(customer)):
                    earlier[block].append((index, deal, customer))
                items[index] = BatchItem(
                    index=index, outcome="created" if deal.status == "submitted"
                    else "conflict", deal=DealOut.of(
                        deal, principal, (partners.get(str(partner_id)) or {}).get("name")))
        done = [item for item in items if item is not None]
        result = BatchResult(
            created=sum(i.outcome == "created" for i in done),
            conflicts=sum(i.outcome == "conflict" for i in done),
            existing=sum(i.outcome == "existing" for i in done),
            duplicates=sum(i.outcome == "duplicate" for i in done),
            errors=sum(i.outcome == "error" for i in done), items=done)
        response = render(result)
        try:
            outcome = (await connection.execute(_INSERT, {
                "rows": orjson.dumps([_row(d, principal) for d in made]).decode(),
                "actor": principal.subject, "topic": contracts.DealRegisteredV1.topic,
                "event_type": contracts.DealRegisteredV1.event_type,
                **idempotency.store_params(request, response)})).one()
        except IntegrityError:
            raise Conflict("another push registered one of these external ids at the same "
                           "moment; send the batch again (registrations already made come "
                           "back as `existing`)") from None
        if outcome.written:
            await outbox.wake_relay(connection)
        if request is None or outcome.stored:
            return response
        # The key was taken already: the batch was pushed before; answer as then.
        return await idempotency.stored_response(connection, request)


def _in_batch(customer: Customer, partner_id: uuid.UUID,
              earlier: dict[str, list[tuple[int, AnyDeal, Customer]]]
              ) -> list[tuple[int, conflicts.Conflict]]:
    """Conflicts with the registrations made earlier in the same batch."""
    seen: set[int] = set()
    found = []
    for block in _blocks(customer):
        for index, deal, other in earlier.get(block, ()):
            if index in seen:
                continue
            seen.add(index)
            match = compare(customer, other)
            if match.conflict:
                found.append((index, conflicts.Conflict(
                    kind="registration", id=deal.id, score=match.score,
                    reasons=[*match.details, reason("earlier_in_batch", item=index)],
                    customer_name=deal.customer_name, partner_id=deal.partner_id,
                    status=deal.status, registered_at=deal.created_at,
                    protected_until=deal.protected_until)))
    return found
