"""Routes of the contacts part: people at a partner, export and erasure of their data."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from prm_partners.contacts import service
from prm_partners.contacts.listing import CONTACTS
from prm_partners.contacts.models import Contact
from prm_partners.contacts.schemas import (
    ContactCreate,
    ContactExport,
    ContactOut,
    ContactUpdate,
)
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
from prm_platform.problems import problem_responses

router = service_router("/v1/partners/{partner_id:uuid}/contacts", "contacts")

_WHO = ("Takes `contacts:write`: a partner key for its own org, a vendor key for any.")


def _out(contact: Contact, response: Response) -> ContactOut:
    response.headers["ETag"] = etag(contact.version)
    return ContactOut.of(contact)


@router.post("", status_code=201, summary="Add a contact to a partner",
             description=f"{_WHO} The e-mail address must be unused among the partner's "
             "contacts (case-insensitively): a 409 otherwise, naming the contact that has it.",
             responses={**problem_responses(404, 409), **resource_headers(201, location=True)})
async def create_contact(partner_id: uuid.UUID, body: ContactCreate, response: Response,
                         session: Session, caller: Caller,
                         idempotency_key: IdempotencyKeyHeader = None) -> ContactOut:
    contact = await service.create(session, caller, partner_id, body)
    response.headers["Location"] = f"/v1/partners/{partner_id}/contacts/{contact.id}"
    return _out(contact, response)


@router.get("", summary="List a partner's contacts",
            description="Takes `contacts:read`. In the order added unless sorted (by name); "
            "filter by roles and e-mail addresses, a range of when added; search by name or "
            "e-mail address. Erased contacts are left out unless `include_erased=true`. With "
            "`updated_since` (a sync's change feed) every change shows, erasures and deletions "
            "included, as tombstones without personal data (`erased`, `deleted_at`). A "
            "partner key sees its own org's (and a distributor those of resellers that "
            "granted it access).",
            responses=problem_responses(404))
async def list_contacts(
    partner_id: uuid.UUID,
    session: Session,
    caller: Caller,
    query: Annotated[ListQuery, Depends(CONTACTS.query)],
    include_erased: Annotated[bool, Query(description="Also list erased contacts "
                                          "(tombstones without personal data)")] = False,
) -> Page[ContactOut]:
    rows, next_cursor, total = await service.list_page(session, caller, partner_id, query,
                                                       include_erased=include_erased)
    return Page[ContactOut](items=[ContactOut.of(c) for c in rows], next_cursor=next_cursor,
                            total_count=total)


@router.get("/{contact_id:uuid}", summary="Get a contact",
            description="Takes `contacts:read`. An erased contact is answered as its "
            "tombstone (`erased: true`, no personal data).",
            responses={**problem_responses(404), **resource_headers()})
async def get_contact(partner_id: uuid.UUID, contact_id: uuid.UUID, response: Response,
                      session: Session, caller: Caller) -> ContactOut:
    return _out(await service.get(session, caller, partner_id, contact_id), response)


@router.patch("/{contact_id:uuid}", summary="Update a contact",
              description=f"{_WHO} Changes only the fields sent. An erased contact cannot be "
              "changed (409).",
              responses={**problem_responses(404, 409, 412), **resource_headers()})
async def update_contact(partner_id: uuid.UUID, contact_id: uuid.UUID, body: ContactUpdate,
                         response: Response, session: Session, caller: Caller,
                         if_match: IfMatchHeader = None) -> ContactOut:
    contact = await service.update(session, caller, partner_id, contact_id, body, if_match)
    return _out(contact, response)


@router.delete("/{contact_id:uuid}", status_code=204, summary="Delete a contact",
               description=f"{_WHO} Only a contact that no certification or signature refers "
               "to (409 otherwise: erase its personal data instead). Its personal data is "
               "removed and reads answer 404; the change feed (`updated_since`) shows it as a "
               "tombstone with `deleted_at`, for synced systems. Its audit trail stays.",
               responses=problem_responses(404, 409, 412))
async def delete_contact(partner_id: uuid.UUID, contact_id: uuid.UUID, session: Session,
                         caller: Caller, if_match: IfMatchHeader = None) -> Response:
    await service.delete(session, caller, partner_id, contact_id, if_match)
    return Response(status_code=204)


@router.get("/{contact_id:uuid}/export", summary="Export a contact's personal data",
            description=f"{_WHO} Everything held about the contact as one JSON document "
            "(GDPR right of access and portability): the contact record, the certifications "
            "they earned, the agreements they signed, and the audit trail of their data. The "
            "export is audited too.",
            responses=problem_responses(404))
async def export_contact(partner_id: uuid.UUID, contact_id: uuid.UUID, request: Request,
                         session: Session, caller: Caller) -> ContactExport:
    # The read changes nothing; its audit entry commits first, in a transaction of its own.
    async with request.app.state.sessionmaker() as audit:
        await service.record_export(audit, caller, partner_id, contact_id)
        await audit.commit()
    return await service.export(session, caller, partner_id, contact_id)


@router.post("/{contact_id:uuid}/erase", summary="Erase a contact's personal data",
             description=f"{_WHO} GDPR right to erasure: blanks the name, e-mail, phone, job "
             "title and roles, and the signer's name recorded from the contact on signatures. "
             "The contact stays as a tombstone, so the certifications and signatures that "
             "refer to it keep their integrity; lists leave it out (but with "
             "`include_erased=true`, and the change feed, which shows the erasure), and it "
             "cannot be changed any more. Answers kept for Idempotency-Key retries that show "
             "the contact (its creation, a signature) are rewritten as they now stand, so a "
             "retry replays the erased record. An audit entry records who erased what and "
             "when. Erasing twice is a 409.",
             responses={**problem_responses(404, 409, 412), **resource_headers()})
async def erase_contact(partner_id: uuid.UUID, contact_id: uuid.UUID, response: Response,
                        session: Session, caller: Caller, if_match: IfMatchHeader = None,
                        idempotency_key: IdempotencyKeyHeader = None) -> ContactOut:
    contact = await service.erase(session, caller, partner_id, contact_id, if_match)
    return _out(contact, response)


routers = [router]
