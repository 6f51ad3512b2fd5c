"""Through-channel marketing: the vendor's campaign library, partners' brand profiles, and
launches that render a published campaign version under the partner's brand.

The vendor edits a campaign's draft and publishes it as a numbered, unchanging version;
partners launch the newest published version when its audience (tier, type, country,
certifications, from the partner directory) admits them and their brand profile fills every
merge field its templates use. A launch keeps what it rendered, so later edits to the
campaign or the brand never change assets already out in the world.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.campaigns import rendering
from prm_deals.campaigns.listing import CAMPAIGNS, LAUNCHES, VERSIONS
from prm_deals.campaigns.models import (
    BrandProfile,
    Campaign,
    CampaignEngagement,
    CampaignLaunch,
    CampaignVersion,
    MdfFundRequest,
)
from prm_deals.campaigns.schemas import (
    BrandProfileIn,
    BrandProfileOut,
    CampaignAsset,
    CampaignAudience,
    CampaignAvailability,
    CampaignEngagementCounts,
    CampaignLaunchIn,
    CampaignLaunchOut,
    MarketingCampaignIn,
    MarketingCampaignOut,
    MarketingCampaignPatch,
    MarketingCampaignVersionOut,
    RenderedCampaignAsset,
)
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import (
    CAMPAIGN_LAUNCHES_READ,
    CAMPAIGN_LAUNCHES_WRITE,
    CAMPAIGNS_READ,
    CAMPAIGNS_WRITE,
)
from prm_deals.directory import repository as directory
from prm_events import outbox
from prm_platform import publishing
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

# The fund requests a launch may name: still to be decided, or approved (not yet claimed).
FUNDABLE = frozenset({"submitted", "approved", "changes_requested"})
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class CampaignNotAvailable(Forbidden):
    slug = "campaign-not-available"


class BrandProfileIncomplete(Unprocessable):
    slug = "brand-profile-incomplete"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the library -----------------------------------------------------------------------------

def _content(data: MarketingCampaignIn | dict[str, Any]) -> dict[str, Any]:
    raw = data.model_dump(mode="json", exclude={"name"}) if isinstance(data, MarketingCampaignIn) \
        else data
    return {k: raw.get(k) for k in ("description", "audience", "links", "default_language",
                                    "assets")}


def _sources(asset: dict[str, Any]) -> list[str]:
    return [asset[part] for part in ("subject", "html", "text") if asset.get(part)]


def check_content(content: dict[str, Any]) -> None:
    """Every template merge fields only, over the campaign's own links; asset keys unique per
    language. A refusal names the asset and the line."""
    links = frozenset(content.get("links") or {})
    seen: set[tuple[str, str]] = set()
    errors = []
    for index, asset in enumerate(content.get("assets") or []):
        if (asset["key"], asset["language"]) in seen:
            errors.append(field_error(f"body.assets.{index}.key", "the campaign already has "
                                      f"{asset['key']!r} in {asset['language']}"))
        seen.add((asset["key"], asset["language"]))
        for part in ("subject", "html", "text"):
            if not asset.get(part):
                continue
            try:
                rendering.check(asset[part], links)
            except rendering.TemplateRefused as refused:
                where = f" (line {refused.line})" if refused.line else ""
                errors.append(field_error(f"body.assets.{index}.{part}", f"{refused}{where}"))
    if errors:
        raise Unprocessable("a template is not merge fields only", errors=errors)


def brand_fields(content: dict[str, Any]) -> list[str]:
    used: set[str] = set()
    for asset in content.get("assets") or []:
        for source in _sources(asset):
            used |= rendering.fields_used(source)
    return sorted(used)


def languages(content: dict[str, Any]) -> list[str]:
    return sorted({a["language"] for a in content.get("assets") or []})


async def create(session: AsyncSession, principal: Principal, data: MarketingCampaignIn
                 ) -> Campaign:
    principal.require(CAMPAIGNS_WRITE)
    principal.ensure_vendor()
    content = _content(data)
    check_content(content)
    now = _now()
    row = Campaign(id=new_id(), name=data.name, status="draft", content=content,
                   published_version=None, created_by=principal.actor, version=1,
                   created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return row


async def _row(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *,
               lock: bool = False) -> Campaign:
    principal.require(CAMPAIGNS_READ)
    statement = select(Campaign).where(Campaign.id == campaign_id)
    row = (await session.execute(statement.with_for_update() if lock else statement)
           ).scalar_one_or_none()
    # Partners see the library as published: a draft never was.
    if row is None or (principal.is_partner and row.published_version is None):
        raise NotFound("campaign not found")
    return row


async def _published(session: AsyncSession, row: Campaign) -> CampaignVersion:
    assert row.published_version is not None
    version = await session.get(CampaignVersion, (row.id, row.published_version))
    assert version is not None
    return version


async def change(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID,
                 data: MarketingCampaignPatch, if_match: str | None) -> Campaign:
    principal.require(CAMPAIGNS_WRITE)
    principal.ensure_vendor()
    row = await _row(session, principal, campaign_id, lock=True)
    check_if_match(if_match, row.version)
    if row.status == "retired":
        raise InvalidTransition("a retired campaign is not edited")
    given = data.model_dump(mode="json", exclude_unset=True)
    content = dict(row.content)
    for key, value in given.items():
        if key != "name":
            content[key] = value if key != "audience" or value is not None \
                else CampaignAudience().model_dump(mode="json")
    check_content(content)
    name = given.get("name") or row.name
    if content == row.content and name == row.name:
        return row
    row.content, row.name = content, name
    publishing.changed(row)
    return row


async def publish(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID,
                  if_match: str | None) -> Campaign:
    """The draft becomes the next published version (nothing new when it is the newest
    already)."""
    principal.require(CAMPAIGNS_WRITE)
    principal.ensure_vendor()
    row = await _row(session, principal, campaign_id, lock=True)
    check_if_match(if_match, row.version)
    if row.status == "retired":
        raise InvalidTransition("a retired campaign is not published again")
    if not row.content.get("assets"):
        raise Unprocessable("a campaign is published with at least one asset",
                            errors=[field_error("body.assets", "none")])
    if row.published_version is not None:
        newest = await _published(session, row)
        if newest.content == row.content and newest.name == row.name:
            return row
    number = (row.published_version or 0) + 1
    now = _now()
    session.add(CampaignVersion(campaign_id=row.id, number=number, name=row.name,
                                content=row.content, published_by=principal.actor,
                                published_at=now))
    row.published_version, row.status = number, "published"
    row.version += 1
    row.updated_at = now
    # Sessions do not autoflush: the version must be written before it is read back.
    await session.flush()
    await _announce(session, row, number)
    return row


async def retire(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID,
                 if_match: str | None) -> Campaign:
    principal.require(CAMPAIGNS_WRITE)
    principal.ensure_vendor()
    row = await _row(session, principal, campaign_id, lock=True)
    check_if_match(if_match, row.version)
    publishing.retire(row, "campaign")
    assert row.published_version is not None
    await _announce(session, row, row.published_version)
    return row


async def _announce(session: AsyncSession, row: Campaign, number: int) -> None:
    version = await session.get(CampaignVersion, (row.id, number))
    content = version.content if version is not None else row.content
    await outbox.publish(session, contracts.CampaignChangedV1(
        campaign_id=row.id, name=row.name, version=number, status=row.status,
        languages=languages(content)), source=EVENT_SOURCE, aggregate_id=row.id)


def availability(audience: dict[str, Any], partner: Any) -> CampaignAvailability:
    """What of the audience a partner (its directory entry, or None) does not meet."""
    if partner is None or partner.status != "active":
        return CampaignAvailability(available=False,
                                    unavailable_because=["the partner is not active"])
    because = []
    tiers = audience.get("tiers") or []
    if tiers and (partner.tier or "").casefold() not in {t.casefold() for t in tiers}:
        because.append(f"tier {partner.tier or 'none'} is not one of {', '.join(tiers)}")
    types = audience.get("partner_types") or []
    if types and partner.type.casefold() not in {t.casefold() for t in types}:
        because.append(f"type {partner.type} is not one of {', '.join(types)}")
    countries = audience.get("countries") or []
    if countries and partner.country not in countries:
        because.append(f"country {partner.country} is not one of {', '.join(countries)}")
    held = {c.casefold() for c in partner.certifications or []}
    lacking = [c for c in audience.get("certifications") or [] if c.casefold() not in held]
    if lacking:
        because.append(f"lacks the certifications {', '.join(lacking)}")
    return CampaignAvailability(available=not because, unavailable_because=because)


async def out(session: AsyncSession, principal: Principal, row: Campaign) -> MarketingCampaignOut:
    content, name = row.content, row.name
    unpublished = True
    if row.published_version is not None:
        newest = await _published(session, row)
        unpublished = newest.content != row.content or newest.name != row.name
        if principal.is_partner:
            content, name = newest.content, newest.name
    available = None
    if principal.is_partner:
        assert principal.partner_id is not None
        partner = await directory.get(session, principal.partner_id)
        available = availability(content.get("audience") or {}, partner)
        if row.status != "published":
            available = CampaignAvailability(available=False,
                                     unavailable_because=["the campaign is retired"])
    return MarketingCampaignOut(
        id=row.id, name=name, description=content.get("description"), status=row.status,
        audience=CampaignAudience.model_validate(content.get("audience") or {}),
        links=content.get("links") or {}, default_language=content["default_language"],
        languages=languages(content),
        assets=[CampaignAsset.model_validate(a) for a in content.get("assets") or []],
        brand_fields=brand_fields(content), published_version=row.published_version,
        unpublished_changes=unpublished, availability=available, version=row.version,
        created_at=row.created_at, updated_at=row.updated_at)


async def get(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    return await _row(session, principal, campaign_id)


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Campaign], str | None, int | None]:
    principal.require(CAMPAIGNS_READ)
    statement = select(Campaign)
    if principal.is_partner:
        statement = statement.where(Campaign.published_version.is_not(None))
    return await CAMPAIGNS.page(session, statement, query)


async def versions(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID,
                   query: ListQuery
                   ) -> tuple[list[MarketingCampaignVersionOut], str | None, int | None]:
    await _row(session, principal, campaign_id)
    rows, cursor, total = await VERSIONS.page(session, select(CampaignVersion).where(
        CampaignVersion.campaign_id == campaign_id), query)
    return [MarketingCampaignVersionOut(campaign_id=r.campaign_id, number=r.number, name=r.name,
                               content=r.content, published_by=r.published_by,
                               published_at=r.published_at) for r in rows], cursor, total


# --- brand profiles --------------------------------------------------------------------------

def _brand_out(partner_id: uuid.UUID, row: BrandProfile | None) -> BrandProfileOut:
    fields = row.fields if row is not None else {}
    return BrandProfileOut(partner_id=partner_id, **fields,
                    filled=[f for f in rendering.BRAND_FIELDS if fields.get(f)],
                    missing=[f for f in rendering.BRAND_FIELDS if not fields.get(f)],
                    version=row.version if row is not None else 0,
                    updated_at=row.updated_at if row is not None else None)


def _brand_owner(principal: Principal, partner_id: uuid.UUID, scope: str) -> None:
    principal.require(scope)
    principal.ensure_visible(partner_id, "brand profile")


async def brand(session: AsyncSession, principal: Principal, partner_id: uuid.UUID
                ) -> BrandProfileOut:
    _brand_owner(principal, partner_id, CAMPAIGN_LAUNCHES_READ)
    return _brand_out(partner_id, await session.get(BrandProfile, partner_id))


async def put_brand(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                    data: BrandProfileIn, if_match: str | None) -> BrandProfileOut:
    """Replace the profile (``If-Match`` on its version; version 0 before the first)."""
    _brand_owner(principal, partner_id, CAMPAIGN_LAUNCHES_WRITE)
    if not principal.is_partner and await directory.get(session, partner_id) is None:
        raise NotFound("partner not found")
    row = await session.get(BrandProfile, partner_id, with_for_update=True)
    check_if_match(if_match, row.version if row is not None else 0)
    fields = data.model_dump(mode="json", exclude_none=True)
    if row is None:
        row = BrandProfile(partner_id=partner_id, fields=fields, version=1,
                           updated_by=principal.actor, updated_at=_now())
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict("the brand profile was made meanwhile: read it and send it again "
                           "with If-Match") from None
    elif row.fields != fields:
        row.fields, row.updated_by, row.updated_at = fields, principal.actor, _now()
        row.version += 1
    return _brand_out(partner_id, row)


# --- launches --------------------------------------------------------------------------------

def choose_assets(content: dict[str, Any], language: str) -> list[dict[str, Any]]:
    """Each asset key in the language asked for, else its primary language, else the
    campaign's default language."""
    by_key: dict[str, dict[str, dict[str, Any]]] = {}
    for asset in content.get("assets") or []:
        by_key.setdefault(asset["key"], {})[asset["language"]] = asset
    primary, default = language.split("-")[0], content["default_language"]
    chosen = []
    for variants in by_key.values():
        pick = variants.get(language) or next(
            (a for lang, a in sorted(variants.items()) if lang.split("-")[0] == primary),
            None) or variants.get(default)
        if pick is not None:
            chosen.append(pick)
    return chosen


def _launch_language(content: dict[str, Any], asked: str | None) -> str:
    if asked is None:
        return str(content["default_language"])
    offered = languages(content)
    if asked in offered or any(lang.split("-")[0] == asked.split("-")[0] for lang in offered):
        return asked
    raise Unprocessable(f"the campaign is in {', '.join(offered)}, not {asked}",
                        errors=[field_error("body.language", f"one of {', '.join(offered)}")])


def _new_ref() -> str:
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(12))


def render_assets(chosen: list[dict[str, Any]], *, brand: dict[str, Any], name: str,
                  targets: dict[str, str], ref: str, slug: str) -> list[dict[str, Any]]:
    out = []
    for asset in chosen:
        links = {key: rendering.tracked(url, ref=ref, campaign=slug, asset=asset["key"])
                 for key, url in targets.items()}
        done = rendering.render(asset, brand=brand, campaign_name=name, links=links)
        out.append({"key": asset["key"], "kind": asset["kind"], "language": asset["language"],
                    "subject": done.subject, "html": done.html, "text": done.text})
    return out


async def _fund(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                request_id: uuid.UUID | None) -> None:
    if request_id is None:
        return
    request = await session.get(MdfFundRequest, request_id)
    if request is None or request.partner_id != partner_id:
        if principal.is_partner:
            raise NotFound("MDF fund request not found")
        raise Unprocessable("no MDF fund request of this partner has that id",
                            errors=[field_error("body.mdf_request_id", "unknown")])
    if request.status not in FUNDABLE:
        raise InvalidTransition(f"the fund request is {request.status}: only a submitted or "
                                "approved one pays for a launch")


async def launch(session: AsyncSession, principal: Principal, data: CampaignLaunchIn
                 ) -> CampaignLaunch:
    principal.require(CAMPAIGN_LAUNCHES_WRITE)
    if principal.is_partner:
        if data.partner_id not in (None, principal.partner_id):
            raise Forbidden("partner keys launch for their own organisation")
        partner_id = principal.partner_id
    elif data.partner_id is None:
        raise Unprocessable("vendor keys name the partner it is launched for",
                            errors=[field_error("body.partner_id", "required")])
    else:
        partner_id = data.partner_id
    assert partner_id is not None
    campaign = await _row(session, principal, data.campaign_id)
    if campaign.status != "published":
        raise InvalidTransition(f"a {campaign.status} campaign is not launched")
    version = await _published(session, campaign)
    content = version.content
    partner = await directory.get(session, partner_id)
    if partner is None and not principal.is_partner:
        raise NotFound("partner not found")
    allowed = availability(content.get("audience") or {}, partner)
    if not allowed.available:
        raise CampaignNotAvailable("the campaign is not available to this partner: "
                                   + "; ".join(allowed.unavailable_because),
                                   unavailable_because=allowed.unavailable_because)
    language = _launch_language(content, data.language)
    chosen = choose_assets(content, language)
    profile = await session.get(BrandProfile, partner_id)
    fields = profile.fields if profile is not None else {}
    needed = {f for a in chosen for s in _sources(a) for f in rendering.fields_used(s)}
    missing = sorted(f for f in needed if not fields.get(f))
    if missing:
        raise BrandProfileIncomplete(
            "the brand profile lacks what the campaign's templates use: " + ", ".join(missing),
            missing=missing, errors=[field_error(f"brand_profile.{f}", "missing")
                                     for f in missing])
    await _fund(session, principal, partner_id, data.mdf_request_id)
    ref, now = _new_ref(), _now()
    slug = f"{campaign.id.hex[:8]}-v{version.number}"
    targets = content.get("links") or {}
    row = CampaignLaunch(
        id=new_id(), campaign_id=campaign.id, campaign_version=version.number,
        partner_id=partner_id, language=language, ref=ref, mdf_request_id=data.mdf_request_id,
        brand=fields,
        links={k: rendering.tracked(u, ref=ref, campaign=slug, asset="link")
               for k, u in targets.items()},
        assets=render_assets(chosen, brand=fields, name=version.name, targets=targets, ref=ref,
                             slug=slug),
        launched_by=principal.actor, launched_at=now)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("that MDF fund request already pays for another launch") from None
    await outbox.publish(session, contracts.CampaignLaunchedV1(
        launch_id=row.id, campaign_id=campaign.id, campaign_name=version.name,
        campaign_version=version.number, partner_id=partner_id, ref=ref, language=language,
        mdf_request_id=data.mdf_request_id, launched_at=now),
        source=EVENT_SOURCE, aggregate_id=row.id, partner_id=partner_id)
    return row


async def launch_row(session: AsyncSession, principal: Principal, launch_id: uuid.UUID
                     ) -> CampaignLaunch:
    principal.require(CAMPAIGN_LAUNCHES_READ)
    row = await session.get(CampaignLaunch, launch_id)
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("campaign launch not found")
    return row


async def counts(session: AsyncSession, launch_ids: list[uuid.UUID]
                 ) -> dict[uuid.UUID, CampaignEngagementCounts]:
    found: dict[uuid.UUID, dict[str, int]] = {}
    if launch_ids:
        rows = await session.execute(
            select(CampaignEngagement.launch_id, CampaignEngagement.kind, func.count())
            .where(CampaignEngagement.launch_id.in_(launch_ids))
            .group_by(CampaignEngagement.launch_id, CampaignEngagement.kind))
        for launch_id, kind, n in rows:
            found.setdefault(launch_id, {})[kind] = n
    return {i: CampaignEngagementCounts(**found.get(i, {})) for i in launch_ids}


def launch_out(row: CampaignLaunch, engagement: CampaignEngagementCounts) -> CampaignLaunchOut:
    return CampaignLaunchOut(
        id=row.id, campaign_id=row.campaign_id, campaign_version=row.campaign_version,
        partner_id=row.partner_id, language=row.language, ref=row.ref,
        mdf_request_id=row.mdf_request_id, links=row.links,
        assets=[RenderedCampaignAsset(
            **a, pdf=f"/v1/campaign-launches/{row.id}/assets/{a['key']}/pdf") for a in row.assets],
        engagement=engagement, launched_by=row.launched_by, launched_at=row.launched_at)


async def launches(session: AsyncSession, principal: Principal, query: ListQuery
                   ) -> tuple[list[CampaignLaunchOut], str | None, int | None]:
    principal.require(CAMPAIGN_LAUNCHES_READ)
    statement = select(CampaignLaunch)
    if principal.is_partner:
        statement = statement.where(CampaignLaunch.partner_id == principal.partner_id)
    rows, cursor, total = await LAUNCHES.page(session, statement, query)
    engaged = await counts(session, [r.id for r in rows])
    return [launch_out(r, engaged[r.id]) for r in rows], cursor, total
