import uuid
from typing import Annotated, Any

from fastapi import Depends, Response

from prm_deals.accounts import service
from prm_deals.accounts.listing import ACCOUNTS
from prm_deals.accounts.schemas import (
    MAX_IMPORT,
    DirectAccountImport,
    DirectAccountIn,
    DirectAccountOut,
    DirectAccountPatch,
    ImportResult,
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

router = service_router("/v1/direct-accounts", "direct accounts")



def _out(row: Any, response: Response) -> DirectAccountOut:
    response.headers["ETag"] = etag(row.version)
    return DirectAccountOut.of(row)


@router.post("", status_code=201, summary="Create a direct account",
             description="A named account of the vendor's direct sales. A partner registering "
             "this customer (by domain, name or alias) is a channel conflict and goes to review. "
             "Vendor keys only.",
             responses={**problem_responses(409), **resource_headers(201, location=True)})
async def create_account(body: DirectAccountIn, response: Response, session: Session,
                         caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                         ) -> DirectAccountOut:
    row = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/direct-accounts/{row.id}"
    return _out(row, response)


@router.post("/import", summary="Import direct accounts",
             description=f"Up to {MAX_IMPORT} accounts at once, upserted by `external_id` (each "
             "must have one) in one transaction: new ones are created, changed ones updated, "
             "unchanged ones left alone.")
async def import_accounts(body: DirectAccountImport, session: Session, caller: Caller,
                          idempotency_key: IdempotencyKeyHeader = None) -> ImportResult:
    created, updated = await service.import_accounts(session, caller, body)
    return ImportResult(created=created, updated=updated)


@router.get("", summary="List direct accounts",
            description="Vendor keys only. In creation order unless sorted; filter by owner, "
            "country and CRM id, search by name or domain, pull changes with "
            "`updated_since`. A deleted account leaves the list (it is no longer a named "
            "account; the CRM that deleted it knows).")
async def list_accounts(session: Session, caller: Caller,
                        query: Annotated[ListQuery, Depends(ACCOUNTS.query)]
                        ) -> Page[DirectAccountOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[DirectAccountOut](items=[DirectAccountOut.of(r) for r in rows],
                                  next_cursor=next_cursor, total_count=total)


@router.get("/{account_id:uuid}", summary="Get a direct account",
            description="Vendor keys only; the ETag is its version, for If-Match on updates.",
            responses={**problem_responses(404), **resource_headers()})
async def get_account(account_id: uuid.UUID, response: Response, session: Session,
                      caller: Caller) -> DirectAccountOut:
    return _out(await service.get(session, caller, account_id), response)


@router.patch("/{account_id:uuid}", summary="Update a direct account",
              description="Only the fields sent change. Send `If-Match` with the ETag to make "
              "sure nobody changed it since you read it.",
              responses={**problem_responses(404, 412), **resource_headers()})
async def update_account(account_id: uuid.UUID, body: DirectAccountPatch, response: Response,
                         session: Session, caller: Caller, if_match: IfMatchHeader = None
                         ) -> DirectAccountOut:
    return _out(await service.update(session, caller, account_id, body, if_match), response)


@router.delete("/{account_id:uuid}", status_code=204, summary="Delete a direct account",
               description="The customer is no longer a named account: registrations of it "
               "stop conflicting with it.",
               responses=problem_responses(404, 412))
async def delete_account(account_id: uuid.UUID, session: Session, caller: Caller,
                         if_match: IfMatchHeader = None) -> Response:
    await service.delete(session, caller, account_id, if_match)
    return Response(status_code=204)
