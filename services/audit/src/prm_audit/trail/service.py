"""Reading and verifying the trail: the vendor's alone (``audit:read``), never a partner's."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_audit.declaration import AUDIT_READ
from prm_audit.models import audit_entries as e
from prm_audit.trail import chain, repository
from prm_audit.trail.listing import ENTRIES
from prm_audit.trail.schemas import (
    AuditVerificationIn,
    AuditVerificationOut,
    ChainProblem,
    ChainStatus,
    ChainVerification,
)
from prm_platform.listing import ListQuery
from prm_platform.problems import NotFound, Unprocessable, field_error
from prm_platform.security import Principal


def _reader(principal: Principal) -> None:
    principal.require(AUDIT_READ)
    principal.ensure_vendor()


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    _reader(principal)
    return await ENTRIES.page(session, select(e), query)


async def get(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> Any:
    _reader(principal)
    row = await repository.entry(session, entry_id)
    if row is None:
        raise NotFound("audit entry not found")
    return row


async def walk(session: AsyncSession, service: str, start: chain.Walk, head: tuple[int, bytes],
               budget: int, chunk: int) -> chain.Problem | None:
    """Check the chain's entries after ``start`` up to its ``head`` (seq and hash; at most
    ``budget`` entries, ``chunk`` at a time), moving ``start`` on; the first problem, if any.
    The last entry must hash to the head's hash: a last entry rewritten with a recomputed hash
    has no successor to betray it, but the head still does."""
    upto, head_hash = head
    while start.seq < upto and start.checked < budget:
        limit = min(chunk, budget - start.checked)
        rows = await repository.entries_after(session, service, start.seq, upto, limit)
        if not rows:
            break
        problem = chain.check(start, rows, await repository.erasures_of(session, rows))
        if problem is not None:
            return problem
    if start.seq < upto and start.checked < budget:
        return chain.Problem(chain.ChainFinding.missing, start.seq + 1, None,
                             f"the chain's head is entry {upto}, but none follows "
                             f"entry {start.seq}")
    if start.seq == upto and start.hash != head_hash:
        return chain.Problem(chain.ChainFinding.altered, upto, None,
                             "the chain's last entry does not hash to the chain's head")
    return None


async def _start(session: AsyncSession, head: Any, from_seq: int | None
                 ) -> tuple[chain.Walk, chain.Problem | None]:
    """Where a walk of ``head``'s chain starts: its anchor, or the entry before ``from_seq``
    (trusted as far as an earlier verification went)."""
    if from_seq is None or from_seq <= head.anchor_seq + 1:
        return chain.Walk(head.anchor_seq, bytes(head.anchor_hash)), None
    before = await repository.entry_at(session, head.service, from_seq - 1)
    if before is None:
        return chain.Walk(from_seq - 1, b""), chain.Problem(
            chain.ChainFinding.missing, from_seq - 1, None,
            f"entry {from_seq - 1}, which entry {from_seq} follows, is missing")
    return chain.Walk(from_seq - 1, bytes(before.hash)), None


async def _verify_chain(session: AsyncSession, head: Any, from_seq: int | None, budget: int,
                        chunk: int) -> ChainVerification:
    start, problem = await _start(session, head, from_seq)
    begin = start.seq + 1
    if problem is None:
        problem = await walk(session, head.service, start,
                             (head.head_seq, bytes(head.head_hash)), budget, chunk)
    status, next_from = ChainStatus.intact, None
    if problem is not None:
        status = ChainStatus.broken
    elif start.seq < head.head_seq:
        status, next_from = ChainStatus.unfinished, start.seq + 1
    return ChainVerification(
        service=head.service, status=status, anchor_seq=head.anchor_seq,
        head_seq=head.head_seq, head_hash=bytes(head.head_hash).hex(), from_seq=begin,
        checked=start.checked, next_from_seq=next_from,
        problem=None if problem is None else ChainProblem(
            finding=problem.finding, seq=problem.seq, entry_id=problem.entry_id,
            detail=problem.detail))


async def verify(session: AsyncSession, principal: Principal, asked: AuditVerificationIn,
                 *, max_rows: int, chunk: int) -> AuditVerificationOut:
    """Walk the chains from their anchors (or ``from_seq``), recomputing every hash, under a
    budget of ``max_rows`` entries in all, each up to its head as it was read. The chains are
    held (``FOR KEY SHARE``) so that retention cannot move an anchor meanwhile (and make the
    entries it deletes look missing), while appends, which only update a head, go on."""
    _reader(principal)
    if asked.from_seq is not None and asked.service is None:
        raise Unprocessable("from_seq goes on within one chain: name its service",
                            errors=[field_error("body.from_seq", "needs service")])
    heads = await repository.chains(session, asked.service, for_key_share=True)
    if asked.service is not None and not heads:
        raise NotFound(f"the trail holds no chain of the service {asked.service!r}")
    reports: list[ChainVerification] = []
    for head in heads:
        reports.append(await _verify_chain(session, head, asked.from_seq,
                                           max_rows - sum(r.checked for r in reports), chunk))
    return AuditVerificationOut(verified_at=dt.datetime.now(dt.UTC),
                                checked=sum(r.checked for r in reports), chains=reports)
