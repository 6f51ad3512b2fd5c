"""Search across records: partners, deals (their customers) and MDF fund requests, ranked, in
any script (case, accents and width ignored, like every list's ``q``), and only what the
caller may read at each record's source (a partner's people: their own org's)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from prm_platform.http import Caller, ServiceRoute, Session
from prm_platform.listing import MAX_QUERY_LENGTH, MAX_WORDS
from prm_platform.problems import problem_responses
from prm_platform.security import ADMIN, Principal
from prm_portal.declaration import DEALS_READ, INCENTIVES_READ, PARTNERS_READ, PORTAL_READ
from prm_portal.models import search_entries as e

router = APIRouter(prefix="/v1/search", tags=["search"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))


class SearchKind(StrEnum):
    """What a search result is: a `partner`, a `deal` (by its customer), an `mdf_request`."""

    partner = "partner"
    deal = "deal"
    mdf_request = "mdf_request"


# Who may see each kind: the scope that reads it at its source.
KIND_SCOPES = {SearchKind.partner: PARTNERS_READ, SearchKind.deal: DEALS_READ,
               SearchKind.mdf_request: INCENTIVES_READ}
MAX_RESULTS = 50
_ONE_KIND = "|".join(k.value for k in SearchKind)
_KINDS = rf"^({_ONE_KIND})(,({_ONE_KIND}))*$"


class SearchResult(BaseModel):
    kind: SearchKind
    id: uuid.UUID
    partner_id: uuid.UUID | None
    title: str = Field(description="A partner's name, a deal's customer, a request's activity")
    subtitle: str
    status: str | None
    updated_at: dt.datetime


class SearchPage(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"items": [{
        "kind": "deal", "id": "0191f3a4-0000-7000-8000-000000000003",
        "partner_id": "0191f3a4-0000-7000-8000-000000000001", "title": "Müller Logistik AG",
        "subtitle": "mueller-logistik.example DE", "status": "approved",
        "updated_at": "2027-01-31T12:00:00Z"}], "next_cursor": None}]}}

    items: list[SearchResult]
    next_cursor: str | None = Field(description="The next page's `cursor`, or null")


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("query", field),
                                    "msg": message, "input": None}])


def _like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _allowed(principal: Principal, kinds: list[SearchKind] | None) -> list[str]:
    wanted = kinds or list(SearchKind)
    return [k.value for k in wanted
            if ADMIN in principal.scopes or KIND_SCOPES[k] in principal.scopes]


def _rank(q: str) -> Any:
    """0: the title is the query; 1: it starts with it; 2: a word starts with it; 3: else."""
    folded_title = sa.func.prm_fold(e.c.title)
    folded = sa.func.prm_fold(q)
    prefix = sa.func.prm_fold(_like(q)) + "%"
    return sa.case((folded_title == folded, 0), (folded_title.like(prefix), 1),
                   (e.c.search_text.like(prefix), 2),
                   (e.c.search_text.like("% " + prefix), 2), else_=3)


def _cursor(rank: int, row: Any) -> str:
    raw = orjson.dumps([rank, row.updated_at.isoformat(), row.kind, str(row.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[int, dt.datetime, str, uuid.UUID]:
    try:
        rank, updated_at, kind, id_ = orjson.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(rank), dt.datetime.fromisoformat(updated_at), str(kind), uuid.UUID(id_)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise _invalid("cursor", "is not a cursor of this search") from None


@router.get("", summary="Search across records",
            description="Partners (by name), deals (by customer name and domain) and MDF fund "
            "requests (by activity), each word matched anywhere, case, accents and width "
            "ignored. Ranked: the title equal to the query first, then titles starting with "
            "it, then a word starting with it, then the rest; newest change first within a "
            "rank. Only kinds the caller may read at their source, and a partner's people "
            "see only their own org's records.")
async def search(
        session: Session, caller: Caller,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                                description="The words to find")],
        kind: Annotated[str | None, Query(
            pattern=_KINDS, description="Only these kinds, comma-separated: "
            + ", ".join(k.value for k in SearchKind))] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="Page size")] = 20,
        cursor: Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$",
                                            description="`next_cursor` of the previous page "
                                            "(same q and kind)")] = None,
) -> SearchPage:
    caller.require(PORTAL_READ)
    words = q.split()
    if not words:
        raise _invalid("q", "holds no word")
    if len(words) > MAX_WORDS:
        raise _invalid("q", f"holds more than {MAX_WORDS} words")
    kinds = _allowed(caller, [SearchKind(k) for k in kind.split(",")] if kind else None)
    if not kinds:
        return SearchPage(items=[], next_cursor=None)
    rank = _rank(" ".join(words)).label("rank")
    statement = sa.select(e, rank).where(e.c.kind.in_(kinds), *[
        e.c.search_text.like("%" + sa.func.prm_fold(_like(w)) + "%") for w in words])
    if caller.is_partner:
        statement = statement.where(e.c.partner_id == caller.partner_id)
    ranked = statement.subquery()
    page = sa.select(ranked)
    if cursor is not None:
        r, updated_at, k, i = _after(cursor)
        page = page.where(sa.or_(
            ranked.c.rank > r,
            sa.and_(ranked.c.rank == r, sa.or_(
                ranked.c.updated_at < updated_at,
                sa.and_(ranked.c.updated_at == updated_at,
                        sa.tuple_(ranked.c.kind, ranked.c.id) > sa.tuple_(k, i))))))
    page = page.order_by(ranked.c.rank, ranked.c.updated_at.desc(), ranked.c.kind,
                         ranked.c.id).limit(limit + 1)
    rows = list(await session.execute(page))
    next_cursor = _cursor(rows[limit - 1].rank, rows[limit - 1]) if len(rows) > limit else None
    return SearchPage(items=[SearchResult(kind=r.kind, id=r.id, partner_id=r.partner_id,
                                          title=r.title, subtitle=r.subtitle, status=r.status,
                                          updated_at=r.updated_at) for r in rows[:limit]],
                      next_cursor=next_cursor)
