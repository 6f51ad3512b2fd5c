import uuid
from typing import Annotated, Any

from fastapi import Depends, Request

from prm_audit.trail import service
from prm_audit.trail.listing import ENTRIES
from prm_audit.trail.schemas import AuditTrailEntryOut, AuditVerificationIn, AuditVerificationOut
from prm_platform.http import Caller, IdempotencyKeyHeader, Session, service_router
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses

entries = service_router("/v1/audit-entries", "audit")
verifications = service_router("/v1/audit-verifications", "audit")


def entry_out(row: Any) -> AuditTrailEntryOut:
    return AuditTrailEntryOut(
        id=row.id, event_id=row.event_id, service=row.service, seq=row.seq,
        occurred_at=row.occurred_at, recorded_at=row.recorded_at, type=row.type,
        record=row.record, records=row.records, partner_id=row.partner_id, actor=row.actor,
        request_id=row.request_id, data=row.data, hash=bytes(row.hash).hex(),
        erased_by=row.erased_by)


@entries.get("", summary="List audit entries",
             description="Who did what, to which record, when, from which key or user, across "
             "every service: one entry per event any service published. Filter by `actor` "
             "(`key:<API key id>`, `user:<subject>`, `job:<name>`), `record`, `type`, "
             "`service`, `partner_id`, `request_id` and `occurred_at` ranges. Vendor only "
             "(`audit:read`).")
async def list_audit_entries(
        session: Session, caller: Caller,
        query: Annotated[ListQuery, Depends(ENTRIES.query)]) -> Page[AuditTrailEntryOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[AuditTrailEntryOut](items=[entry_out(r) for r in rows], next_cursor=next_cursor,
                               total_count=total)


@entries.get("/{entry_id:uuid}", summary="Get an audit entry",
             description="One entry of the trail: who did what, to which record, when, from "
             "which key or user, with the event's data and its place in its service's chain. "
             "Vendor only (`audit:read`).", responses=problem_responses(404))
async def get_audit_entry(entry_id: uuid.UUID, session: Session, caller: Caller
                          ) -> AuditTrailEntryOut:
    return entry_out(await service.get(session, caller, entry_id))


@verifications.post("", summary="Verify the audit trail's hash chains",
                    description="Walks a service's chain (or every chain) from its anchor (the "
                    "last entry retention deleted), recomputing each entry's hash from the "
                    "entry before it and checking its data against the digest recorded with "
                    "it: answers `intact`, or `broken` with the first entry altered, missing or "
                    "erased without an erasure of its contact. At most "
                    "`PRM_AUDIT_VERIFY_MAX_ROWS` entries per call (100,000 by default): an "
                    "`unfinished` chain says where to go on from (`from_seq`). Changes "
                    "nothing.", responses=problem_responses(404))
async def verify_audit_chains(request: Request, body: AuditVerificationIn, session: Session,
                              caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                              ) -> AuditVerificationOut:
    settings = request.app.state.settings
    return await service.verify(session, caller, body, max_rows=settings.verify_max_rows,
                                chunk=settings.verify_chunk)
