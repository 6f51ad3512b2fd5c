"""Search across records: partners, deals (their customers), MDF fund requests, contacts and
the vendor's direct accounts, ranked, in any script (case, accents and width ignored, like every
list's ``q``), and only what the caller may read at each record's source (a partner's people:
their own org's)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from prm_platform.bodies import CONTROL_CHARACTERS
from prm_platform.http import Caller, ServiceRoute, Session
from prm_platform.listing import MAX_QUERY_LENGTH, MAX_WORDS, escape_like, invalid_query
from prm_platform.problems import problem_responses
from prm_platform.security import ADMIN, Principal
from prm_portal.declaration import (
    CONTACTS_READ,
    DEALS_READ,
    DIRECT_ACCOUNTS_READ,
    INCENTIVES_READ,
    PARTNERS_READ,
    PORTAL_READ,
)
from prm_portal.models import search_entries as e

router = APIRouter(prefix="/v1/search", tags=["search"], route_class=ServiceRoute,
                   responses=problem_responses(400, 401, 403, 422))


class SearchKind(StrEnum):
    """What a search result is: a `partner`, a `deal` (by its customer), an `mdf_request`, a
    `direct_account` of the vendor (vendor staff only), a partner's `contact`."""

    partner = "partner"
    deal = "deal"
    mdf_request = "mdf_request"
    direct_account = "direct_account"
    contact = "contact"


# Who may see each kind: the scope that reads it at its source.
KIND_SCOPES = {SearchKind.partner: PARTNERS_READ, SearchKind.deal: DEALS_READ,
               SearchKind.mdf_request: INCENTIVES_READ,
               SearchKind.direct_account: DIRECT_ACCOUNTS_READ,
               SearchKind.contact: CONTACTS_READ}
MAX_RESULTS = 50
_CUSTOM_PLANS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")
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


class SearchResults(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"items": [{
        "kind": "deal", "id": "0191f3a4-0000-7000-8000-000000000003",
        "partner_id": "0191f3a4-0000-7000-8000-000000000001", "title": "Müller Logistik AG",
        "subtitle": "mueller-logistik.example DE", "status": "approved",
        "updated_at": "2027-01-31T12:00:00Z"}]}]}}

    items: list[SearchResult] = Field(description="The best matches, best first (at most "
                                      "`limit`): a search is refined, not paged")


def _allowed(principal: Principal, kinds: list[SearchKind] | None) -> list[str]:
    wanted = kinds or list(SearchKind)
    return [k.value for k in wanted
            if ADMIN in principal.scopes or KIND_SCOPES[k] in principal.scopes]


@router.get("", summary="Search across records",
            description="Partners (by name), deals (by customer name and domain), MDF fund "
            "requests (by activity), partners' contacts (by name, e-mail and job title, with "
            "contacts:read) and, for vendor staff, the vendor's direct accounts (by name and "
            "domain), each word matched anywhere, case, accents and width "
            "ignored. Ranked: the title equal to the query first, then titles starting with "
            "it, then a word starting with it, then the rest; newest change first within a "
            "rank; the best `limit` (at most 50): refine the words rather than page. Only "
            "kinds the caller may read at their source, and a partner's people "
            "see only their own org's records.")
async def search(
        session: Session, caller: Caller,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                                description="The words to find")],
        kind: Annotated[str | None, Query(
            pattern=_KINDS, description="Only these kinds, comma-separated: "
            + ", ".join(k.value for k in SearchKind))] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="How many results")] = 20,
) -> SearchResults:
    caller.require(PORTAL_READ)
    if CONTROL_CHARACTERS.search(q):  # NUL: PostgreSQL refuses it in text
        raise invalid_query("q", "holds control characters")
    words = q.split()
    if not words:
        raise invalid_query("q", "holds no word")
    if len(words) > MAX_WORDS:
        raise invalid_query("q", f"holds more than {MAX_WORDS} words")
    kinds = _allowed(caller, [SearchKind(k) for k in kind.split(",")] if kind else None)
    if not kinds:
        return SearchResults(items=[])
    joined = " ".join(words)
    folded, prefix = sa.func.prm_fold(joined), sa.func.prm_fold(escape_like(joined)) + "%"
    scoped = [e.c.kind.in_(kinds), e.c.status.is_distinct_from("removed")]
    if caller.is_partner:
        scoped.append(e.c.partner_id == caller.partner_id)
    # Ranks: 0 the title is the query, 1 the title starts with it, 2 a word does, 3 the rest
    # holding every word. Each rank is read by its own index walk, newest change first, and
    # only as far as the page needs: ranking every match of a common word would read them all.
    # (A title or a word starting with the query holds every word of it: the ranks 0 to 2 need
    # no other condition, which would only blur the planner's estimate of how many match.)
    title_starts = e.c.title_key.like(prefix)
    word_starts = sa.or_(e.c.search_text.like(prefix), e.c.search_text.like("% " + prefix))
    newest = (e.c.updated_at.desc(), e.c.kind, e.c.id)
    exact = sa.case((e.c.title_key == folded, 0), else_=1).label("rank")
    titles = (sa.select(e, exact).where(title_starts, *scoped)
              .order_by(exact, *newest).limit(limit))
    starts = (sa.select(e, sa.literal(2).label("rank")).where(~title_starts, word_starts,
                                                              *scoped)
              .order_by(*newest).limit(limit))
    both = sa.union_all(titles, starts).subquery()
    await session.execute(_CUSTOM_PLANS)  # planned for these words, not once for any
    rows = list(await session.execute(sa.select(both).order_by(
        both.c.rank, both.c.updated_at.desc(), both.c.kind, both.c.id).limit(limit)))
    if len(rows) < limit:  # only then: the rest may be most of the table
        every_word = [e.c.search_text.like("%" + sa.func.prm_fold(escape_like(w)) + "%")
                      for w in words]
        rows += list(await session.execute(
            sa.select(e, sa.literal(3).label("rank"))
            .where(~title_starts, ~word_starts, *every_word, *scoped)
            .order_by(*newest).limit(limit - len(rows))))
    return SearchResults(items=[SearchResult(kind=r.kind, id=r.id, partner_id=r.partner_id,
                                             title=r.title, subtitle=r.subtitle,
                                             status=r.status, updated_at=r.updated_at)
                                for r in rows])
