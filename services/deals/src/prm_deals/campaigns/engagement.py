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

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.campaigns.listing import ENGAGEMENTS
from prm_deals.campaigns.models import CampaignEngagement, CampaignLaunch
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


async def _launch(session: AsyncSession, principal: Principal, data: CampaignEngagementIn
                  ) -> CampaignLaunch:
    column = CampaignLaunch.id if data.launch_id is not None else CampaignLaunch.ref
    row = (await session.execute(select(CampaignLaunch).where(
        column == (data.launch_id or data.ref)))).scalar_one_or_none()
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("campaign launch not found")
    if data.asset is not None and data.asset not in {a["key"] for a in row.assets}:
        raise Unprocessable(f"the launch has no asset {data.asset!r}",
                            errors=[field_error("body.asset", "unknown")])
    if data.link is not None and data.link not in row.links:
        raise Unprocessable(f"the launch has no link {data.link!r}",
                            errors=[field_error("body.link", "unknown")])
    return row


_RECORD = text("""
    INSERT INTO campaign_engagements (id, launch_id, campaign_id, partner_id, external_id, kind,
        occurred_at, asset, link, company_domain, company_name, company_country, lead_id,
        source, received_at)
    VALUES (:id, :launch_id, :campaign_id, :partner_id, :external_id, :kind, :occurred_at,
        :asset, :link, :company_domain, :company_name, :company_country, NULL, :source, :now)
    ON CONFLICT (launch_id, external_id) DO NOTHING
    RETURNING id
""")


async def _lead(session: AsyncSession, principal: Principal, launch: CampaignLaunch,
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


async def record(session: AsyncSession, principal: Principal, data: CampaignEngagementIn, *,
                 source: str) -> tuple[CampaignEngagement, CampaignEngagementOutcome]:
    launch = await _launch(session, principal, data)
    engagement_id, now = new_id(), dt.datetime.now(dt.UTC)
    company = data.company
    inserted = (await session.execute(_RECORD, {
        "id": engagement_id, "launch_id": launch.id, "campaign_id": launch.campaign_id,
        "partner_id": launch.partner_id, "external_id": data.external_id,
        "kind": data.kind.value, "occurred_at": data.occurred_at, "asset": data.asset,
        "link": data.link, "company_domain": company.domain.lower() if company else None,
        "company_name": company.name if company else None,
        "company_country": company.country if company else None, "source": source,
        "now": now})).first()
    if inserted is None:
        existing = (await session.execute(select(CampaignEngagement).where(
            CampaignEngagement.launch_id == launch.id,
            CampaignEngagement.external_id == data.external_id))).scalar_one()
        return existing, CampaignEngagementOutcome.duplicate
    lead_id = None
    if data.kind is CampaignEngagementKind.form_fill:
        lead_id = await _lead(session, principal, launch, engagement_id, data)
        await session.execute(text("UPDATE campaign_engagements SET lead_id = :lead "
                                   "WHERE id = :id"), {"lead": lead_id, "id": engagement_id})
    await outbox.publish(session, contracts.CampaignEngagedV1(
        engagement_id=engagement_id, launch_id=launch.id, campaign_id=launch.campaign_id,
        partner_id=launch.partner_id, kind=data.kind.value, occurred_at=data.occurred_at,
        asset=data.asset, link=data.link,
        company=None if company is None else contracts.EngagedCompany(
            domain=company.domain.lower(), name=company.name, country=company.country),
        lead_id=lead_id, mdf_request_id=launch.mdf_request_id),
        source=EVENT_SOURCE, aggregate_id=launch.id, partner_id=launch.partner_id)
    row = await session.get(CampaignEngagement, engagement_id, populate_existing=True)
    assert row is not None
    return row, CampaignEngagementOutcome.recorded


async def report(session: AsyncSession, principal: Principal, data: CampaignEngagementIn
                 ) -> tuple[CampaignEngagement, CampaignEngagementOutcome]:
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
            async with session.begin_nested():
                row, outcome = await record(session, principal, data, source="intake")
            items.append(CampaignEngagementReceipt(outcome=outcome, engagement=out(row)))
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
