import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.contacts.models import Contact, ContactAuditEntry
from prm_platform.tables import idempotency_keys


async def get(session: AsyncSession, partner_id: uuid.UUID, contact_id: uuid.UUID,
              *, for_update: bool = False) -> Contact | None:
    """The contact, unless it was deleted (its tombstone is for the change feed only)."""
    query = select(Contact).where(Contact.id == contact_id, Contact.partner_id == partner_id,
                                  Contact.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def by_email(session: AsyncSession, partner_id: uuid.UUID, email: str) -> Contact | None:
    return (await session.execute(select(Contact).where(
        Contact.partner_id == partner_id,
        func.lower(Contact.email) == email.lower()))).scalar_one_or_none()


async def lock_email(session: AsyncSession, partner_id: uuid.UUID, email: str) -> None:
    """Serialises two writers claiming one address at one partner (until the transaction
    ends), so the second gets a clean 409 rather than the unique index's error."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"contact-email:{partner_id}:{email.lower()}"})


def visible(partner_id: uuid.UUID, *, include_erased: bool, changes: bool) -> Select[Any]:
    """The partner's contacts a list shows: erased ones only if asked, and a change feed
    (``changes``) every one, the erased and deleted tombstones included, so that a sync hears
    of an erasure or a deletion."""
    query = select(Contact).where(Contact.partner_id == partner_id)
    if not changes:
        query = query.where(Contact.deleted_at.is_(None))
        if not include_erased:
            query = query.where(Contact.erased_at.is_(None))
    return query


async def count(session: AsyncSession, partner_id: uuid.UUID) -> int:
    """Erased contacts (deleted ones among them) are not counted."""
    return await session.scalar(select(func.count()).select_from(Contact).where(
        Contact.partner_id == partner_id, Contact.erased_at.is_(None))) or 0


async def audit_trail(session: AsyncSession, contact_id: uuid.UUID) -> list[ContactAuditEntry]:
    return list((await session.execute(
        select(ContactAuditEntry).where(ContactAuditEntry.contact_id == contact_id)
        .order_by(ContactAuditEntry.at, ContactAuditEntry.id))).scalars())


async def stored_answers_naming(session: AsyncSession, contact_id: uuid.UUID,
                                since: dt.datetime) -> Sequence[Row[Any]]:
    """The Idempotency-Key answers stored for replay whose body holds the contact's id, locked.
    Answers are kept 24 hours, and none that names the contact can have expired before the
    contact existed (``since``): the scan is bounded by both."""
    return (await session.execute(text(
        "SELECT scope, key, headers, body FROM idempotency_keys "
        "WHERE expires_at > :since AND state = 'completed' "
        "AND position(CAST(:needle AS bytea) IN body) > 0 FOR UPDATE"),
        {"since": since, "needle": str(contact_id).encode()})).all()


async def rewrite_stored_answer(session: AsyncSession, scope: str, key: str,
                                headers: dict[str, str], body: bytes) -> None:
    await session.execute(update(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
    ).values(headers=headers, body=body))
