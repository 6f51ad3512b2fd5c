"""What launches bring back: opens, clicks, form fills and conversions, reported through the
API (the vendor, or the partner for its own launches) or by the marketing tools' signed intake.

Each is recorded once per launch and reporter's id (``external_id``): the same report again is
a ``duplicate`` and changes nothing. A form fill becomes a lead of the launching partner's
(``source: partner``), received and routed by the leads' own rules, its contact kept on the
lead alone. Every new engagement is announced (``prm.campaign.engaged.v1``, without personal
data), which attribution makes a touchpoint of when it names the company's domain.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.campaigns.listing import ENGAGEMENTS
from prm_deals.campaigns.models import CampaignEngagement
from prm_deals.campaigns.schemas import (
    CampaignEngagementCompany,
    CampaignEngagementIn,
    CampaignEngagementKind,
    CampaignEngagementOut,
    CampaignEngagementOutcome,
    CampaignEngagementReceipt,
    CampaignIntakeIn,
    CampaignIntakeOut,
)
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import (
    CAMPAIGN_ENGAGEMENT_READ,
    CAMPAIGN_ENGAGEMENT_WRITE,
    CAMPAIGN_INTAKE,
    LEADS_WRITE,
)
from prm_deals.leads import service as leads
from prm_deals.leads.schemas import LeadCompany, LeadIn
from prm_events import outbox
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Forbidden,
    NotFound,
    ProblemError,
    Unprocessable,
    field_error,
    field_errors,
    problem_body,
)
from prm_platform.security import Principal, PrincipalKind


class IntakeNotConfigured(Forbidden):
    """The campaign intake has no signing secret: every delivery is refused (fail closed)."""

    slug = "campaign-intake-not-configured"


def out(row: CampaignEngagement) -> CampaignEngagementOut:
    company = None if row.company_domain is None else CampaignEngagementCompany(
        domain=row.company_domain, name=row.company_name, country=row.company_country)
    return CampaignEngagementOut(
        id=row.id, launch_id=row.launch_id, campaign_id=row.campaign_id,
        partner_id=row.partner_id, external_id=row.external_id, kind=row.kind,
        occurred_at=row.occurred_at, asset=row.asset, link=row.link, company=company,
        lead_id=row.lead_id, received_at=row.received_at)


@dataclass(frozen=True)
class _Launch:
    """What recording an engagement needs of its launch. Launches never change once made, so
    these are kept per process (by id and by ref) instead of read for every engagement."""

    id: uuid.UUID
    ref: str
    campaign_id: uuid.UUID
    partner_id: uuid.UUID
    mdf_request_id: uuid.UUID | None
    language: str
    assets: frozenset[str]
    links: frozenset[str]


_KNOWN: dict[str, _Launch] = {}
_KNOWN_AT_MOST = 50_000
_FACTS = ("SELECT id, ref, campaign_id, partner_id, mdf_request_id, language, "
          "ARRAY(SELECT a->>'key' FROM jsonb_array_elements(assets) a) AS assets, "
          "ARRAY(SELECT jsonb_object_keys(links)) AS links FROM campaign_launches WHERE ")
_BY_ID = text(_FACTS + "id = :key")
_BY_REF = text(_FACTS + "ref = :key")


async def _launch(session: AsyncSession, principal: Principal, data: CampaignEngagementIn
                  ) -> _Launch:
    key = str(data.launch_id) if data.launch_id is not None else str(data.ref)
    launch = _KNOWN.get(key)
    if launch is None:
        row = (await session.execute(_BY_ID if data.launch_id is not None else _BY_REF,
                                     {"key": data.launch_id or data.ref})).first()
        if row is not None:
            launch = _Launch(row.id, row.ref, row.campaign_id, row.partner_id,
                             row.mdf_request_id, row.language, frozenset(row.assets),
                             frozenset(row.links))
            if len(_KNOWN) >= _KNOWN_AT_MOST:
                _KNOWN.clear()
            _KNOWN[str(launch.id)] = _KNOWN[launch.ref] = launch
    if launch is None or not principal.can_see_partner(launch.partner_id):
        raise NotFound("campaign launch not found")
    if data.asset is not None and data.asset not in launch.assets:
        raise Unprocessable(f"the launch has no asset {data.asset!r}",
                            errors=[field_error("body.asset", "unknown")])
    if data.link is not None and data.link not in launch.links:
        raise Unprocessable(f"the launch has no link {data.link!r}",
                            errors=[field_error("body.link", "unknown")])
    return launch


_INSERT = """
    INSERT INTO campaign_engagements (id, launch_id, campaign_id, partner_id, external_id, kind,
        occurred_at, asset, link, company_domain, company_name, company_country, lead_id,
        source, received_at)
    VALUES (:id, :launch_id, :campaign_id, :partner_id, :external_id, :kind, :occurred_at,
        :asset, :link, :company_domain, :company_name, :company_country, NULL, :source, :now)
    ON CONFLICT (launch_id, external_id) DO NOTHING
    RETURNING id
"""
# An engagement and its event in one statement (neither when it was recorded before).
_RECORD = text(f"WITH engagement AS ({_INSERT}), {outbox.insert_cte(after='engagement')} "
               "SELECT id FROM engagement")
# A form fill: recorded first, its event once its lead is known.
_CLAIM = text(_INSERT)
_LEAD = text("WITH engagement AS (UPDATE campaign_engagements SET lead_id = :lead_id "
             f"WHERE id = :id RETURNING id), {outbox.insert_cte(after='engagement')} "
             "SELECT id FROM engagement")


async def _lead(session: AsyncSession, principal: Principal, launch: _Launch,
                engagement_id: uuid.UUID, data: CampaignEngagementIn) -> uuid.UUID:
    """The form fill's lead: the launching partner's, received like any other lead."""
    assert data.company is not None and data.company.name and data.company.country
    # The lead is received on the vendor's behalf for the partner whose launch brought it.
    receiver = Principal(subject=principal.subject, kind=PrincipalKind.vendor,
                         scopes=frozenset({LEADS_WRITE}))
    row, _ = await leads.submit(session, receiver, LeadIn(
        external_id=f"campaign-engagement:{engagement_id}", source_partner_id=launch.partner_id,
        company=LeadCompany(name=data.company.name, domain=data.company.domain,
                            country=data.company.country),
        language=launch.language, contact=data.contact,
        notes=f"Form fill of campaign launch {launch.ref} ({data.asset or 'no asset named'})"),
        intake=False)
    return uuid.UUID(str(row.id))


def _event(launch: _Launch, engagement_id: uuid.UUID, data: CampaignEngagementIn,
           lead_id: uuid.UUID | None) -> dict[str, object]:
    company = data.company
    return outbox.event_params(contracts.CampaignEngagedV1(
        engagement_id=engagement_id, launch_id=launch.id, campaign_id=launch.campaign_id,
        partner_id=launch.partner_id, kind=data.kind.value, occurred_at=data.occurred_at,
        asset=data.asset, link=data.link,
        company=None if company is None else contracts.EngagedCompany(
            domain=company.domain.lower(), name=company.name, country=company.country),
        lead_id=lead_id, mdf_request_id=launch.mdf_request_id),
        source=EVENT_SOURCE, aggregate_id=launch.id, partner_id=launch.partner_id)


async def record(session: AsyncSession, principal: Principal, data: CampaignEngagementIn, *,
                 source: str) -> tuple[CampaignEngagementOut, CampaignEngagementOutcome]:
    """Record one engagement: a statement, or for a form fill three (the engagement, its lead,
    then the lead's id on it with its event)."""
    launch = await _launch(session, principal, data)
    engagement_id, now = new_id(), dt.datetime.now(dt.UTC)
    company = data.company
    values = {
        "id": engagement_id, "launch_id": launch.id, "campaign_id": launch.campaign_id,
        "partner_id": launch.partner_id, "external_id": data.external_id,
        "kind": data.kind.value, "occurred_at": data.occurred_at, "asset": data.asset,
        "link": data.link, "company_domain": company.domain.lower() if company else None,
        "company_name": company.name if company else None,
        "company_country": company.country if company else None, "source": source,
        "now": now}
    filled = data.kind is CampaignEngagementKind.form_fill
    inserted = (await session.execute(
        _CLAIM if filled else _RECORD,
        values if filled else {**values, **_event(launch, engagement_id, data, None)})).first()
    if inserted is None:
        existing = (await session.execute(select(CampaignEngagement).where(
            CampaignEngagement.launch_id == launch.id,
            CampaignEngagement.external_id == data.external_id))).scalar_one()
        return out(existing), CampaignEngagementOutcome.duplicate
    lead_id = None
    if filled:
        lead_id = await _lead(session, principal, launch, engagement_id, data)
        await session.execute(_LEAD, {"id": engagement_id, "lead_id": lead_id,
                                      **_event(launch, engagement_id, data, lead_id)})
    await outbox.wake_relay(session)
    return CampaignEngagementOut(
        id=engagement_id, launch_id=launch.id, campaign_id=launch.campaign_id,
        partner_id=launch.partner_id, external_id=data.external_id, kind=data.kind,
        occurred_at=data.occurred_at, asset=data.asset, link=data.link,
        company=None if company is None else CampaignEngagementCompany(
            domain=values["company_domain"], name=company.name, country=company.country),
        lead_id=lead_id, received_at=now), CampaignEngagementOutcome.recorded


async def report(session: AsyncSession, principal: Principal, data: CampaignEngagementIn
                 ) -> tuple[CampaignEngagementOut, CampaignEngagementOutcome]:
    principal.require(CAMPAIGN_ENGAGEMENT_WRITE)
    return await record(session, principal, data, source="api")


async def intake(session: AsyncSession, principal: Principal, body: CampaignIntakeIn
                 ) -> CampaignIntakeOut:
    """The marketing tools' signed deliveries: each engagement on its own (a savepoint each),
    so one bad item refuses nothing else."""
    principal.require(CAMPAIGN_INTAKE)
    principal.ensure_vendor()
    items = []
    failed = CampaignEngagementOutcome.error
    for index, raw in enumerate(body.events):
        try:
            data = CampaignEngagementIn.model_validate(raw)
            # One statement writes a lone engagement that is no form fill: there is nothing a
            # failure would need undoing apart from the rest.
            if len(body.events) == 1 and data.kind is not CampaignEngagementKind.form_fill:
                done, outcome = await record(session, principal, data, source="intake")
            else:
                async with session.begin_nested():
                    done, outcome = await record(session, principal, data, source="intake")
            items.append(CampaignEngagementReceipt(outcome=outcome, engagement=done))
        except ValidationError as error:
            items.append(CampaignEngagementReceipt(outcome=failed, problem=problem_body(
                422, "validation-error", f"events[{index}] is not valid",
                errors=[{**e, "field": f"events[{index}].{e['field']}"}
                        for e in field_errors(error.errors())])))
        except ProblemError as error:
            items.append(CampaignEngagementReceipt(outcome=failed, problem=problem_body(
                error.status, error.slug, error.detail, **error.extra)))
    return CampaignIntakeOut(items=items)


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[CampaignEngagementOut], str | None, int | None]:
    principal.require(CAMPAIGN_ENGAGEMENT_READ)
    statement = select(CampaignEngagement)
    if principal.is_partner:
        statement = statement.where(CampaignEngagement.partner_id == principal.partner_id)
    rows, cursor, total = await ENGAGEMENTS.page(session, statement, query)
    return [out(r) for r in rows], cursor, total
