"""The enablement resource library: the vendor's resources (documents, videos, links, sales
tools) in language variants, with an audience, published as unchanging numbered versions; what
a partner's people see of it; signed download links; and the uses they make of it.

What a partner caller gets is exactly what its audience allows: published (not retired)
resources whose audience admits its org (tier, type, country, active certifications, from this
service's own tables) and its role. A portal user has its roles; a partner API key has none,
and sees what any role of its org would see. Anything else is a 404 and absent from lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import prm_contracts as contracts
from prm_events import outbox
from prm_partners.config import EVENT_SOURCE, Settings
from prm_partners.declaration import ENABLEMENT_READ, ENABLEMENT_WRITE
from prm_partners.partners.service import ensure_visible
from prm_partners.resources import links
from prm_partners.resources.files import FILE_TYPES, MAX_FILE_BYTES, sniff
from prm_partners.resources.listing import RESOURCES, USES
from prm_partners.resources.models import (
    EnablementFile,
    EnablementResource,
    EnablementResourceUse,
    EnablementResourceVersion,
)
from prm_partners.resources.schemas import (
    EnablementAudience,
    EnablementKpisOut,
    EnablementKpiTotal,
    EnablementLinkOut,
    EnablementPartnerKpi,
    EnablementResourceIn,
    EnablementResourceKpi,
    EnablementResourceOut,
    EnablementResourcePatch,
    EnablementResourceUseOut,
    EnablementVariantOut,
)
from prm_platform import publishing
from prm_platform.bodies import UnsupportedMediaType
from prm_platform.declaration import PARTNER_ROLES
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.objects import ObjectStore
from prm_platform.problems import (
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

_AUDIENCE_COLUMNS = ("roles", "tiers", "partner_types", "countries", "certifications")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- who is asking ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Viewer:
    """A partner caller as an audience sees it."""

    partner_id: uuid.UUID
    tier: str | None
    partner_type: str
    country: str
    certifications: tuple[str, ...]
    roles: tuple[str, ...]


async def viewer(session: AsyncSession, principal: Principal) -> Viewer | None:
    """The partner caller's org and roles (None for the vendor)."""
    principal.require(ENABLEMENT_READ)
    if not principal.is_partner:
        return None
    assert principal.partner_id is not None
    row = (await session.execute(text(
        "SELECT p.tier, p.type, p.country, ARRAY(SELECT DISTINCT lower(c.code) "
        "FROM certifications c WHERE c.partner_id = p.id AND c.status = 'active') AS held "
        "FROM partners p WHERE p.id = :id"), {"id": principal.partner_id})).first()
    if row is None:
        raise NotFound("resource not found")
    # A portal user has its roles; a partner key has none and stands for the whole org.
    roles = tuple(r for r in principal.roles if r in PARTNER_ROLES) if principal.is_user \
        else PARTNER_ROLES
    return Viewer(partner_id=principal.partner_id, tier=(row.tier or "").lower() or None,
                  partner_type=row.type, country=row.country,
                  certifications=tuple(row.held), roles=roles)


def _admits(v: Viewer) -> ColumnElement[bool]:
    """A partner caller's audience rule in SQL. Written with the operators PostgreSQL estimates
    from the columns' statistics (``= '{}'``, ``@>``, ``&&``, ``<@`` against constants) rather
    than ``cardinality() = 0`` and ``= ANY()``, which it guesses at 0.5 % each: with such
    guesses it expected two admitted rows of 100,000 and sorted the whole library for a first
    page instead of walking the id index (docs/benchmarks.md, "Enablement")."""
    r = EnablementResource
    return and_(
        r.status == "published",
        _anyone_or(r.audience_roles,
                   r.audience_roles.overlap(list(v.roles)) if v.roles else false_()),
        _anyone_or(r.audience_tiers,
                   r.audience_tiers.contains([v.tier]) if v.tier is not None else false_()),
        _anyone_or(r.audience_partner_types, r.audience_partner_types.contains([v.partner_type])),
        _anyone_or(r.audience_countries, r.audience_countries.contains([v.country])),
        # Empty is contained by any list: said apart so that a generic plan (its parameters
        # unknown) still estimates the open resources from the statistics.
        _anyone_or(r.audience_certifications,
                   r.audience_certifications.contained_by(list(v.certifications))))


def _anyone_or(column: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """An empty list (anyone), or ``condition``."""
    return or_(column == literal_column("'{}'", column.type), condition)


def false_() -> ColumnElement[bool]:
    return ~true()


def admits(audience: dict[str, Any], v: Viewer) -> bool:
    """The same rule as ``_admits``, in Python (for a version a link names)."""
    folded = _fold(audience)
    return ((not folded["roles"] or bool(set(folded["roles"]) & set(v.roles)))
            and (not folded["tiers"] or v.tier in folded["tiers"])
            and (not folded["partner_types"] or v.partner_type in folded["partner_types"])
            and (not folded["countries"] or v.country in folded["countries"])
            and set(folded["certifications"]) <= set(v.certifications))


def _fold(audience: dict[str, Any]) -> dict[str, list[str]]:
    return {"roles": sorted(set(audience.get("roles") or [])),
            "tiers": sorted({t.lower() for t in audience.get("tiers") or []}),
            "partner_types": sorted(set(audience.get("partner_types") or [])),
            "countries": sorted({c.upper() for c in audience.get("countries") or []}),
            "certifications": sorted({c.lower() for c in audience.get("certifications") or []})}


# --- languages -------------------------------------------------------------------------------

def wanted_languages(language: str | None, accept_language: str | None,
                     principal: Principal) -> list[str]:
    """The languages asked for, best first: ``language=``, else ``Accept-Language`` (by its
    q-values), else the user's locale."""
    if language:
        return [language]
    found: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            found.append((-q, index, tag))
    if found:
        return [tag for _, _, tag in sorted(found)]
    return [principal.locale] if principal.locale else []


def choose(content: dict[str, Any], wanted: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """The variant in the language asked for, else in its primary subtag (``de`` for
    ``de-AT``, or ``de-DE`` for ``de``), else the default language's (``fallback``)."""
    variants = content["variants"]
    by_tag = {v["language"].lower(): v for v in variants}
    for tag in wanted:
        if tag.lower() in by_tag:
            return by_tag[tag.lower()], False
    for tag in wanted:
        primary = tag.lower().split("-")[0]
        if primary in by_tag:
            return by_tag[primary], False
        for variant in variants:
            if variant["language"].lower().split("-")[0] == primary:
                return variant, False
    default = by_tag.get(content["default_language"].lower(), variants[0])
    return default, bool(wanted) and default["language"].lower() not in {
        w.lower() for w in wanted}


# --- the library -----------------------------------------------------------------------------

def _content(data: EnablementResourceIn | dict[str, Any]) -> dict[str, Any]:
    raw = data.model_dump(mode="json", exclude={"kind"}) \
        if isinstance(data, EnablementResourceIn) else data
    return {k: raw[k] for k in ("default_language", "audience", "variants")}


def _titles(content: dict[str, Any]) -> str:
    return " ".join(v["title"] for v in content["variants"])


async def _check_content(session: AsyncSession, resource_id: uuid.UUID,
                         content: dict[str, Any]) -> None:
    errors = []
    seen: set[str] = set()
    for index, variant in enumerate(content["variants"]):
        if variant["language"].lower() in seen:
            errors.append(field_error(f"body.variants.{index}.language",
                                      f"{variant['language']} is given twice"))
        seen.add(variant["language"].lower())
    if content["default_language"].lower() not in seen:
        errors.append(field_error("body.default_language", "no variant is in the default "
                                  "language"))
    file_ids = {v["file_id"] for v in content["variants"] if v.get("file_id")}
    if file_ids:
        known = {str(i) for i in (await session.execute(
            select(EnablementFile.id).where(EnablementFile.resource_id == resource_id,
                                            EnablementFile.id.in_(file_ids)))).scalars()}
        for index, variant in enumerate(content["variants"]):
            if variant.get("file_id") and variant["file_id"] not in known:
                errors.append(field_error(f"body.variants.{index}.file_id",
                                          "no file of this resource has this id"))
    if errors:
        raise Unprocessable("the resource's variants are not valid", errors=errors)


async def create(session: AsyncSession, principal: Principal, data: EnablementResourceIn
                 ) -> EnablementResource:
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    content = _content(data)
    resource_id = new_id()
    # A new resource has no files yet: its variants start with URLs, files come with PATCH.
    await _check_content(session, resource_id, content)
    now = _now()
    row = EnablementResource(
        id=resource_id, kind=data.kind.value, status="draft", content=content, published=None,
        published_version=None, **{f"audience_{k}": [] for k in _AUDIENCE_COLUMNS},
        titles=_titles(content), created_by=principal.actor, version=1, created_at=now,
        updated_at=now)
    session.add(row)
    await session.flush()
    return row


async def get_row(session: AsyncSession, principal: Principal, resource_id: uuid.UUID, *,
                  lock: bool = False, seen_by: Viewer | None = None) -> EnablementResource:
    """The resource as the caller may see it: any for the vendor, for a partner only what
    its audience admits (a 404 otherwise)."""
    principal.require(ENABLEMENT_READ)
    statement = select(EnablementResource).where(EnablementResource.id == resource_id)
    if principal.is_partner:
        who = seen_by or await viewer(session, principal)
        assert who is not None
        statement = statement.where(_admits(who))
    row = (await session.execute(statement.with_for_update() if lock else statement)
           ).scalar_one_or_none()
    if row is None:
        raise NotFound("resource not found")
    return row


async def change(session: AsyncSession, principal: Principal, resource_id: uuid.UUID,
                 data: EnablementResourcePatch, if_match: str | None) -> EnablementResource:
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    row = await get_row(session, principal, resource_id, lock=True)
    check_if_match(if_match, row.version)
    if row.status == "retired":
        raise InvalidTransition("a retired resource is not edited")
    content = dict(row.content)
    for key, value in data.model_dump(mode="json", exclude_unset=True).items():
        content[key] = value if value is not None or key != "audience" \
            else EnablementAudience().model_dump(mode="json")
        if value is None and key != "audience":
            content[key] = row.content[key]
    await _check_content(session, row.id, content)
    if content == row.content:
        return row
    row.content = content
    if row.published is None:
        row.titles = _titles(content)
    publishing.changed(row)
    return row


async def publish(session: AsyncSession, principal: Principal, resource_id: uuid.UUID,
                  if_match: str | None) -> EnablementResource:
    """The draft becomes the next published version (nothing new when it is the newest
    already); partners see it, in its audience."""
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    row = await get_row(session, principal, resource_id, lock=True)
    check_if_match(if_match, row.version)
    if row.status == "retired":
        raise InvalidTransition("a retired resource is not published again")
    missing = [field_error(f"body.variants.{i}", "neither a file nor a url")
               for i, v in enumerate(row.content["variants"])
               if not v.get("file_id") and not v.get("url")]
    if missing:
        raise Unprocessable("every variant needs a file or a url", errors=missing)
    if row.published == row.content:
        return row
    number = (row.published_version or 0) + 1
    now = _now()
    session.add(EnablementResourceVersion(resource_id=row.id, number=number,
                                          content=row.content, published_by=principal.actor,
                                          published_at=now))
    folded = _fold(row.content["audience"])
    for key in _AUDIENCE_COLUMNS:
        setattr(row, f"audience_{key}", folded[key])
    row.published, row.published_version, row.status = row.content, number, "published"
    row.titles = _titles(row.content)
    row.version += 1
    row.updated_at = now
    await session.flush()
    return row


async def retire(session: AsyncSession, principal: Principal, resource_id: uuid.UUID,
                 if_match: str | None) -> EnablementResource:
    """Partners see it no more; its links stop working. Final."""
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    row = await get_row(session, principal, resource_id, lock=True)
    check_if_match(if_match, row.version)
    publishing.retire(row, "resource")
    return row


def out(row: EnablementResource, principal: Principal, wanted: Sequence[str]
        ) -> EnablementResourceOut:
    partner = principal.is_partner
    content = row.published if partner and row.published is not None else row.content
    variant, fallback = choose(content, wanted)
    return EnablementResourceOut(
        id=row.id, kind=row.kind, status=row.status, language=variant["language"],
        fallback=fallback, title=variant["title"], description=variant.get("description"),
        file_id=variant.get("file_id"), url=variant.get("url"),
        default_language=content["default_language"],
        languages=sorted(v["language"] for v in content["variants"]),
        audience=EnablementAudience.model_validate(content["audience"]),
        variants=None if partner else [EnablementVariantOut.model_validate(
            {"description": None, "file_id": None, "url": None, **v})
            for v in content["variants"]],
        published_version=row.published_version,
        unpublished_changes=None if partner else row.published != row.content,
        version=row.version, created_at=row.created_at, updated_at=row.updated_at)


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[EnablementResource], str | None, int | None]:
    who = await viewer(session, principal)
    statement = select(EnablementResource)
    if who is not None:
        statement = statement.where(_admits(who))
    return await RESOURCES.page(session, statement, query)


# --- files -----------------------------------------------------------------------------------

async def upload(session: AsyncSession, principal: Principal, resource_id: uuid.UUID,
                 content: bytes, filename: str, declared: str | None, store: ObjectStore
                 ) -> EnablementFile:
    """A file of the resource, its type sniffed from its bytes; a variant names it by id."""
    principal.require(ENABLEMENT_WRITE)
    principal.ensure_vendor()
    row = await get_row(session, principal, resource_id)
    if row.status == "retired":
        raise InvalidTransition("a retired resource takes no files")
    if len(content) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"a file holds at most {MAX_FILE_BYTES} bytes")
    content_type = sniff(content, filename, declared)
    if content_type is None:
        raise UnsupportedMediaType("the file is none of " + ", ".join(FILE_TYPES))
    file_id = new_id()
    digest = hashlib.sha256(content).hexdigest()
    placed = await store.put(file_id, content, content_type, digest)
    file = EnablementFile(id=file_id, resource_id=row.id, filename=filename,
                          content_type=content_type, size=len(content), sha256=digest,
                          store=placed.store, object_key=placed.object_key,
                          content=placed.content, created_by=principal.actor,
                          created_at=_now())
    session.add(file)
    await session.flush()
    return file


# --- links and downloads ---------------------------------------------------------------------

async def link(session: AsyncSession, principal: Principal, settings: Settings,
               resource_id: uuid.UUID, wanted: Sequence[str]) -> EnablementLinkOut:
    row = await get_row(session, principal, resource_id)
    content = row.published if principal.is_partner else row.content
    number = row.published_version if principal.is_partner else 0
    assert content is not None and number is not None
    variant, fallback = choose(content, wanted)
    expires = (_now() + dt.timedelta(seconds=settings.enablement_link_seconds)).replace(
        microsecond=0)
    token = links.sign(settings, links.Link(
        resource_id=row.id, version=number, language=variant["language"],
        partner_id=principal.partner_id, expires_at=expires))
    return EnablementLinkOut(url=links.PATH + token, expires_at=expires,
                             resource_id=row.id, resource_version=number,
                             language=variant["language"], fallback=fallback)


@dataclass(frozen=True)
class Download:
    resource_id: uuid.UUID
    version: int
    language: str
    url: str | None
    file: Any  # the enablement_files row (with its content) when the variant is a file


async def download(session: AsyncSession, principal: Principal, settings: Settings,
                   token: str) -> Download:
    """What a signed link names, if it is genuine, unexpired, made for the caller's org and
    the resource still visible to the caller; a 404 otherwise. Version 0 is a vendor's link
    to the draft."""
    principal.require(ENABLEMENT_READ)
    found = links.read(settings, token)
    if found is None or found.partner_id != principal.partner_id:
        raise NotFound("no such download link")
    if found.expires_at <= _now():
        raise NotFound("the download link expired: ask for a new one")
    row = await get_row(session, principal, found.resource_id)
    if found.version == 0:
        if principal.is_partner:
            raise NotFound("no such download link")
        content = row.content
    else:
        version = await session.get(EnablementResourceVersion, (row.id, found.version))
        if version is None:
            raise NotFound("no such download link")
        content = version.content
    variant = next((v for v in content["variants"] if v["language"] == found.language), None)
    if variant is None:
        raise NotFound("no such download link")
    file = None
    if variant.get("file_id"):
        file = (await session.execute(text(
            "SELECT id, filename, content_type, size, sha256, store, object_key, content "
            "FROM enablement_files WHERE id = :id"), {"id": variant["file_id"]})).first()
    return Download(resource_id=row.id, version=found.version, language=variant["language"],
                    url=variant.get("url"), file=file)


# --- uses ------------------------------------------------------------------------------------

async def contact_of(session: AsyncSession, principal: Principal) -> uuid.UUID | None:
    """The contact of the caller's org a portal user is, by e-mail (None for a key)."""
    if not principal.is_user or principal.partner_id is None or not principal.email:
        return None
    found: uuid.UUID | None = (await session.execute(text(
        "SELECT id FROM contacts WHERE partner_id = :partner AND lower(email) = lower(:email) "
        "AND email IS NOT NULL"),
        {"partner": principal.partner_id, "email": principal.email})).scalar()
    return found


_USE = f"""
WITH used AS (
    INSERT INTO enablement_resource_uses (id, resource_id, resource_version, language, kind,
        partner_id, contact_id, subject, used_at)
    VALUES (:id, :resource_id, :resource_version, :language, :kind, :partner_id, :contact_id,
            :subject, :used_at)
    RETURNING id
), {outbox.insert_cte("used")}
SELECT count(*) FROM used
"""


async def record_use(connection: AsyncConnection, principal: Principal,
                     contact_id: uuid.UUID | None, resource_id: uuid.UUID, version: int,
                     language: str, kind: str) -> None:
    """One statement: the use and its event (partner callers only; the vendor's own views
    are not engagement)."""
    if principal.partner_id is None or version == 0:
        return
    use_id, now = new_id(), _now()
    payload = contracts.EnablementResourceUsedV1(
        use_id=use_id, resource_id=resource_id, resource_version=version,
        partner_id=principal.partner_id, contact_id=contact_id, kind=kind, language=language,
        used_at=now)
    await connection.execute(text(_USE), {
        "id": use_id, "resource_id": resource_id, "resource_version": version,
        "language": language, "kind": kind, "partner_id": principal.partner_id,
        "contact_id": contact_id, "subject": principal.subject, "used_at": now,
        **outbox.event_params(payload, source=EVENT_SOURCE, aggregate_id=resource_id,
                              partner_id=principal.partner_id)})
    await outbox.wake_relay(connection)


async def uses_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[EnablementResourceUseOut], str | None, int | None]:
    principal.require(ENABLEMENT_READ)
    statement = select(EnablementResourceUse)
    if principal.is_partner:
        statement = statement.where(EnablementResourceUse.partner_id == principal.partner_id)
    rows, cursor, total = await USES.page(session, statement, query)
    return [EnablementResourceUseOut.model_validate(r) for r in rows], cursor, total


async def contact_uses(session: AsyncSession, contact_id: uuid.UUID
                       ) -> list[EnablementResourceUseOut]:
    """The contact's uses, for its export."""
    rows = (await session.execute(select(EnablementResourceUse).where(
        EnablementResourceUse.contact_id == contact_id).order_by(EnablementResourceUse.id))
            ).scalars()
    return [EnablementResourceUseOut.model_validate(r) for r in rows]


async def forget_contact(session: AsyncSession, contact_id: uuid.UUID) -> list[str]:
    """On the contact's erasure its uses stay for the org's counts, naming no one."""
    forgotten = (await session.execute(
        sql_update(EnablementResourceUse).where(EnablementResourceUse.contact_id == contact_id)
        .values(contact_id=None, subject=None).returning(EnablementResourceUse.id))).all()
    return ["enablement_resource_uses"] if forgotten else []


# --- KPIs ------------------------------------------------------------------------------------

# Whole seconds between two times (the KPIs' unit, as the learning KPIs').
_SECONDS = "extract(epoch FROM date_trunc('second', {a}) - date_trunc('second', {b}))"

_USES_BY_RESOURCE = f"""
SELECT u.resource_id, count(*) AS uses, count(*) FILTER (WHERE u.kind = 'view') AS views,
       count(*) FILTER (WHERE u.kind = 'download') AS downloads,
       count(DISTINCT u.subject) AS people, count(DISTINCT u.partner_id) AS partners,
       {_SECONDS.format(a="min(u.used_at)", b="(SELECT min(v.published_at) FROM "
                        "enablement_resource_versions v WHERE v.resource_id = u.resource_id)")}
           AS first_use
FROM enablement_resource_uses u
WHERE u.resource_id = ANY(:ids) {{partner}}
GROUP BY u.resource_id
"""

# The active partners each published audience admits now (roles aside: any role of the org,
# as its key sees the library), and of them those with a use.
_ELIGIBLE = """
SELECT r.id, count(p.id) AS eligible, count(p.id) FILTER (WHERE EXISTS (
           SELECT 1 FROM enablement_resource_uses u
           WHERE u.resource_id = r.id AND u.partner_id = p.id)) AS adopting
FROM enablement_resources r
JOIN partners p ON p.status = 'active' AND r.status = 'published'
    AND (cardinality(r.audience_tiers) = 0 OR lower(p.tier) = ANY(r.audience_tiers))
    AND (cardinality(r.audience_partner_types) = 0 OR p.type = ANY(r.audience_partner_types))
    AND (cardinality(r.audience_countries) = 0 OR p.country = ANY(r.audience_countries))
    AND r.audience_certifications <@ ARRAY(
        SELECT DISTINCT lower(c.code) FROM certifications c
        WHERE c.partner_id = p.id AND c.status = 'active')::varchar[]
    {partner}
WHERE r.id = ANY(:ids)
GROUP BY r.id
"""

_TOTAL = """
SELECT count(DISTINCT u.resource_id), count(*), count(*) FILTER (WHERE u.kind = 'view'),
       count(*) FILTER (WHERE u.kind = 'download'), count(DISTINCT u.subject),
       count(DISTINCT u.partner_id)
FROM enablement_resource_uses u
WHERE u.resource_id = ANY(:ids) {partner}
"""

_BY_PARTNER = f"""
SELECT u.partner_id, p.name, count(DISTINCT u.resource_id), count(*), min(u.used_at),
       {_SECONDS.format(a="min(u.used_at)", b="coalesce(p.activated_at, p.created_at)")}
FROM enablement_resource_uses u JOIN partners p ON p.id = u.partner_id
WHERE u.resource_id = ANY(:ids) {{partner}}
GROUP BY u.partner_id, p.name, p.activated_at, p.created_at
ORDER BY p.name, u.partner_id
"""


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"),
                                                     rounding=ROUND_HALF_EVEN)


async def kpis(session: AsyncSession, principal: Principal, partner_id: uuid.UUID | None,
               resource_id: uuid.UUID | None) -> EnablementKpisOut:
    """Per resource, per partner and in total, over the programme or one partner; exact,
    from the uses, the versions and the partners as they are (docs/enablement.md)."""
    principal.require(ENABLEMENT_READ)
    who = await viewer(session, principal)
    if principal.is_partner:
        partner_id = partner_id or principal.partner_id
    if partner_id is not None:
        await ensure_visible(session, principal, partner_id, "partner")
        if (await session.execute(text("SELECT 1 FROM partners WHERE id = :id"),
                                  {"id": partner_id})).first() is None:
            raise NotFound("partner not found")
    statement = (select(EnablementResource, func.min(EnablementResourceVersion.published_at))
                 .join(EnablementResourceVersion,
                       EnablementResourceVersion.resource_id == EnablementResource.id)
                 .group_by(EnablementResource.id).order_by(EnablementResource.id))
    if who is not None:
        statement = statement.where(_admits(who))
    if resource_id is not None:
        statement = statement.where(EnablementResource.id == resource_id)
    resources = (await session.execute(statement)).all()
    ids = [r.id for r, _ in resources]
    params: dict[str, Any] = {"ids": ids, "partner": partner_id}
    where = "" if partner_id is None else "AND u.partner_id = :partner"
    used = {r.resource_id: r for r in await session.execute(
        text(_USES_BY_RESOURCE.format(partner=where)), params)}
    eligible = {r.id: r for r in await session.execute(text(_ELIGIBLE.format(
        partner="" if partner_id is None else "AND p.id = :partner")), params)}
    items = []
    for row, first_published in resources:
        u, e = used.get(row.id), eligible.get(row.id)
        assert row.published is not None
        title = choose(row.published, [])[0]["title"]
        eligible_count, adopting = (e.eligible, e.adopting) if e is not None else (0, 0)
        items.append(EnablementResourceKpi(
            resource_id=row.id, title=title, status=row.status,
            first_published_at=first_published,
            uses=u.uses if u else 0, views=u.views if u else 0,
            downloads=u.downloads if u else 0, people=u.people if u else 0,
            partners=u.partners if u else 0, eligible_partners=eligible_count,
            adopting_partners=adopting, adoption=_rate(adopting, eligible_count),
            seconds_to_first_use=None if u is None else int(u.first_use)))
    total = (await session.execute(text(_TOTAL.format(partner=where)), params)).one()
    by_partner = await session.execute(text(_BY_PARTNER.format(partner=where)), params)
    return EnablementKpisOut(
        partner_id=partner_id, resources=items,
        partners=[EnablementPartnerKpi(partner_id=r[0], partner_name=r[1], resources_used=r[2],
                                       uses=r[3], first_used_at=r[4],
                                       seconds_to_first_use=int(r[5])) for r in by_partner],
        total=EnablementKpiTotal(resources=len(items), resources_used=total[0], uses=total[1],
                                 views=total[2], downloads=total[3], people=total[4],
                                 partners=total[5]))
