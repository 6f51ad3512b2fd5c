"""Published attribution rules: append-only versions. Publishing a version changes nothing
already computed: results keep the version they were computed by, and a deal gets results of
the new version when it is next recomputed (a touch, a deal change, or the recompute action)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_attribution.rules.listing import RULES
from prm_attribution.rules.models import AttributionRuleSet
from prm_attribution.rules.schemas import AttributionRulesIn
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import NotFound
from prm_platform.security import Principal


async def publish(session: AsyncSession, principal: Principal, data: AttributionRulesIn,
                  if_match: str | None) -> AttributionRuleSet:
    principal.require(ATTRIBUTION_WRITE)
    principal.ensure_vendor()
    # Publishers queue here, so two cannot both publish "the next" version.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("attribution_rules"))))
    latest = (await session.execute(select(func.max(AttributionRuleSet.version)))).scalar_one()
    check_if_match(if_match, latest)
    row = AttributionRuleSet(id=new_id(), version=latest + 1,
                             rules=data.rules.model_dump(mode="json"), notes=data.notes,
                             published_by=principal.subject,
                             published_at=dt.datetime.now(dt.UTC))
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, principal: Principal, version: int | None
              ) -> AttributionRuleSet:
    principal.require(ATTRIBUTION_READ)
    query = select(AttributionRuleSet).order_by(AttributionRuleSet.version.desc()).limit(1)
    if version is not None:
        query = select(AttributionRuleSet).where(AttributionRuleSet.version == version)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound("attribution rules version not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[AttributionRuleSet], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)  # public to every partner: the rules that credit them
    return await RULES.page(session, select(AttributionRuleSet), query)
