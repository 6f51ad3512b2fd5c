"""The list grammar (prm_platform.listing) against a real table: filters of several values,
array overlaps, ranges, sorts paged by keyset, search, counts, the change feed, and
conditional reads (prm_platform.conditional)."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    TIMESTAMP,
    Computed,
    Date,
    Numeric,
    String,
    Text,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from prm_platform.conditional import ConditionalGet
from prm_platform.db import make_read_sessionmaker, make_sessionmaker
from prm_platform.http import HeadAsGet, ServiceRoute, request_session
from prm_platform.listing import Filter, Listing, ListQuery, Page, QueryTime, Range
from prm_platform.migrations import search_column
from prm_platform.problems import install_problem_handlers
from prm_platform.security import Principal, PrincipalKind
from prm_platform.types import QueryDate
from prm_stack.testing import check_lists_use_indexes, principal_headers, scratch_schema

ITEMS = ("CREATE TABLE items (id uuid PRIMARY KEY, name text NOT NULL, status text NOT NULL, "
         "tags text[] NOT NULL DEFAULT '{}', amount numeric(19, 4) NOT NULL, day date NOT NULL, "
         "updated_at timestamptz NOT NULL)")


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    day: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))


class Status(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


ITEM_LIST = Listing(
    Item.id,
    Filter("status", Item.status, Status),
    Filter("tags", Item.tags, str),
    Range("amount", Item.amount, Decimal),
    Range("day", Item.day, QueryDate),
    Range("updated_at", Item.updated_at, QueryTime),
    sorts={"name": Item.name, "amount": Item.amount, "day": Item.day},
    search=Item.search_text, search_fields=("name",),
    updated=Item.updated_at,
)
EPOCH = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def make_app(engine, secret) -> FastAPI:
    router = APIRouter(route_class=ServiceRoute)

    @router.get("/items")
    async def list_items(query: Annotated[ListQuery, Depends(ITEM_LIST.query)],
                         session=Depends(request_session)) -> Page[dict]:
        rows, cursor, total = await ITEM_LIST.page(session, select(Item), query)
        return Page[dict](items=[{"id": str(r.id), "name": r.name} for r in rows],
                          next_cursor=cursor, total_count=total)

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.add_middleware(ConditionalGet)
    app.add_middleware(HeadAsGet)
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_sessionmaker = make_read_sessionmaker(engine)
    app.state.internal_secret = secret
    return app


@pytest.fixture
async def world(prm_infra):
    async with scratch_schema(prm_infra, ITEMS, *search_column("items", "name")) as (engine, _):
        app = make_app(engine, prm_infra.internal_secret)
        headers = principal_headers(Principal(subject="key-1", kind=PrincipalKind.vendor,
                                              scopes=frozenset()), prm_infra.internal_secret)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as client:
            yield engine, client


async def put_rows(engine, rows: list[dict]) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(Item))
        if rows:
            await connection.execute(insert(Item), rows)


async def walk(client, params: dict, limit: int) -> list[str]:
    """Every page of the list, following next_cursor; the names in order."""
    seen, cursor = [], None
    for _ in range(200):
        page = await client.get("/items", params={**params, "limit": limit,
                                                  **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def row(i: int, name: str, status: str, amount: int, day: int, tags=()) -> dict:
    return {"id": uuid.UUID(int=i + 1), "name": name, "status": status, "tags": list(tags),
            "amount": Decimal(amount), "day": dt.date(2027, 1, 1) + dt.timedelta(days=day),
            "updated_at": EPOCH + dt.timedelta(minutes=(i * 7) % 11)}


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["alpha", "beta", "gamma"]), st.sampled_from(list(Status)),
              st.integers(0, 3), st.integers(0, 3)),
    max_size=25)
sort_strategy = st.lists(st.tuples(st.sampled_from(["name", "amount", "day", "created_at",
                                                    "updated_at"]), st.booleans()),
                         max_size=3, unique_by=lambda s: s[0])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=rows_strategy, sort=sort_strategy, statuses=st.sets(st.sampled_from(list(Status))),
       limit=st.integers(1, 6), floor=st.none() | st.integers(0, 3))
async def test_every_sort_and_filter_pages_through_each_matching_record_once_in_order(
        world, spec, sort, statuses, limit, floor):
    engine, client = world
    rows = [row(i, *values) for i, values in enumerate(spec)]
    await put_rows(engine, rows)
    params = {}
    if sort:
        params["sort"] = ",".join(("-" if desc else "") + name for name, desc in sort)
    if statuses:
        params["status"] = ",".join(sorted(statuses))
    if floor is not None:
        params["amount[gte]"] = str(floor)
    expected_rows = [r for r in rows if (not statuses or r["status"] in statuses)
                     and (floor is None or r["amount"] >= floor)]
    # The id breaks ties, in the first key's direction.
    columns = {"created_at": "id", "name": "name", "amount": "amount", "day": "day",
               "updated_at": "updated_at"}
    keys = [(columns[name], desc) for name, desc in sort if name != "created_at"]
    keys.append(("id", sort[0][1] if sort else False))
    for column, desc in reversed(keys):
        expected_rows.sort(key=lambda r, c=column: r[c], reverse=desc)
    expected = [str(r["id"]) for r in expected_rows]
    assert await walk(client, params, limit) == expected
    counted = await client.get("/items", params={**params, "include": "total_count",
                                                 "limit": 1})
    assert counted.json()["total_count"] == len(expected)


async def test_filters_take_several_values_and_arrays_overlap(world):
    engine, client = world
    await put_rows(engine, [row(0, "a", "open", 1, 0, ["cloud", "security"]),
                            row(1, "b", "won", 2, 1, ["cloud"]),
                            row(2, "c", "lost", 3, 2, ["data"]),
                            row(3, "d", "open", 4, 3, [])])

    async def names(**params) -> list[str]:
        answer = await client.get("/items", params=params)
        assert answer.status_code == 200, answer.text
        ids = [item["name"] for item in answer.json()["items"]]
        return ids

    assert await names(status="open,won") == ["a", "b", "d"]
    assert await names(status=["open", "lost"]) == ["a", "c", "d"]  # repeated
    assert await names(tags="security,data") == ["a", "c"]
    assert await names(**{"day[gte]": "2027-01-02", "day[lt]": "2027-01-04"}) == ["b", "c"]
    assert await names(**{"amount[gt]": "1", "amount[lte]": "3"}) == ["b", "c"]
    assert await names(id=f"{uuid.UUID(int=3)},{uuid.UUID(int=1)}") == ["a", "c"]
    assert await names(status="open", sort="-name") == ["d", "a"]


def test_an_enum_filter_shows_its_named_enum_in_the_contract():
    """A filter of an enum's values is an array of the enum's named schema (a generated
    client takes the enum), while the request reads comma-separated values as text (above);
    other kinds are text."""
    app = FastAPI()

    @app.get("/items")
    async def list_items(query: Annotated[ListQuery, Depends(ITEM_LIST.query)]) -> Page[dict]:
        raise NotImplementedError

    contract = app.openapi()
    parameters = {p["name"]: p["schema"]
                  for p in contract["paths"]["/items"]["get"]["parameters"]}
    assert parameters["status"]["anyOf"] == [
        {"type": "array", "items": {"$ref": "#/components/schemas/Status"}}, {"type": "null"}]
    assert contract["components"]["schemas"]["Status"]["enum"] == ["open", "won", "lost"]
    assert parameters["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert parameters["id"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize("params, where", [
    ({"status": "pending"}, "status"),
    ({"amount[gte]": "lots"}, "amount[gte]"),
    ({"day[lt]": "2027-13-01"}, "day[lt]"),
    ({"day[lt]": "0001-01-01"}, "day[lt]"),
    ({"updated_since": "yesterday"}, "updated_since"),
    ({"updated_since": "2027-01-01T00:00:00"}, "updated_since"),  # no offset
    ({"id": "not-a-uuid"}, "id"),
    ({"status": ",".join(["open"] * 101)}, "status"),
    ({"sort": "colour"}, "sort"),
    ({"sort": "name,-name"}, "sort"),
    ({"include": "everything"}, "include"),
    ({"q": " "}, "q"),
    ({"amount[gte]": ["1", "2"]}, "amount[gte]"),  # one value, sent twice
    ({"sort": ["name", "-name"]}, "sort"),
])
async def test_bad_list_parameters_are_422_naming_the_parameter(world, params, where):
    _, client = world
    answer = await client.get("/items", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [where]


async def test_a_cursor_only_serves_the_sort_it_came_from(world):
    engine, client = world
    await put_rows(engine, [row(i, f"n{i}", "open", i, i) for i in range(3)])
    first = (await client.get("/items", params={"sort": "name", "limit": 1})).json()
    other = await client.get("/items", params={"sort": "-amount", "limit": 1,
                                                "cursor": first["next_cursor"]})
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["field"] == "cursor"
    garbled = await client.get("/items", params={"cursor": "bm90LWpzb24"})
    assert garbled.status_code == 422
    for cursor in ("0", "AAAA", "WyJ4IixbXV0"):  # in the alphabet, yet no cursor of this list
        answer = await client.get("/items", params={"cursor": cursor})
        assert answer.status_code == 422, (cursor, answer.text)


async def test_search_ignores_case_and_accents_in_any_script(world):
    engine, client = world
    await put_rows(engine, [row(0, "Müller Systèmes GmbH", "open", 1, 0),
                            row(1, "MULLER trading", "open", 1, 0),
                            row(2, "日本語ソリューション株式会社", "open", 1, 0),
                            row(3, "Ｆｕｌｌ Ｗｉｄｔｈ Ltd", "open", 1, 0),
                            row(4, "100% Partners_Ltd", "open", 1, 0)])

    async def found(q: str) -> list[str]:
        answer = await client.get("/items", params={"q": q})
        assert answer.status_code == 200, answer.text
        return [item["name"] for item in answer.json()["items"]]

    assert await found("muller") == ["Müller Systèmes GmbH", "MULLER trading"]
    assert await found("MÜLLER systemes") == ["Müller Systèmes GmbH"]
    assert await found("ソリューション") == ["日本語ソリューション株式会社"]
    assert await found("full width") == ["Ｆｕｌｌ Ｗｉｄｔｈ Ltd"]
    assert await found("100%") == ["100% Partners_Ltd"]  # % and _ are plain characters
    assert await found("rs_l") == ["100% Partners_Ltd"]
    assert await found("r_n") == []  # not "any one character"


async def test_updated_since_feeds_changes_oldest_first(world):
    engine, client = world
    rows = [row(i, f"n{i}", "open", 1, 0) for i in range(6)]
    await put_rows(engine, rows)
    since = EPOCH + dt.timedelta(minutes=3)
    expected = sorted((r for r in rows if r["updated_at"] >= since),
                      key=lambda r: (r["updated_at"], r["id"]))
    params = {"updated_since": since.isoformat().replace("+00:00", "Z")}
    assert await walk(client, params, 2) == [str(r["id"]) for r in expected]


async def test_reads_carry_an_etag_and_if_none_match_answers_304(world):
    engine, client = world
    await put_rows(engine, [row(0, "a", "open", 1, 0)])
    first = await client.get("/items")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"
    again = await client.get("/items", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    head = await client.head("/items", headers={"If-None-Match": f'"other", {etag}'})
    assert head.status_code == 304
    await put_rows(engine, [row(0, "a", "open", 1, 0), row(1, "b", "open", 1, 0)])
    changed = await client.get("/items", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["items"]) == 2


INDEXES = ("CREATE INDEX ON items (status, id)", "CREATE INDEX ON items USING gin (tags)",
           "CREATE INDEX ON items (amount, id)", "CREATE INDEX ON items (day, id)",
           "CREATE INDEX ON items (updated_at, id)", "CREATE INDEX ON items (name, id)")


async def test_the_index_check_finds_what_no_index_serves_and_passes_once_indexed(world):
    engine, client = world
    app = client._transport.app
    with pytest.raises(AssertionError, match="status is not served by an index"):
        await check_lists_use_indexes(app, engine)
    async with engine.begin() as connection:
        for statement in INDEXES[:-1]:
            await connection.execute(text(statement))
    with pytest.raises(AssertionError, match="sort=name sorts rows an index should give"):
        await check_lists_use_indexes(app, engine)
    async with engine.begin() as connection:
        await connection.execute(text(INDEXES[-1]))
    checked = await check_lists_use_indexes(app, engine)
    assert checked["/items"] == ["id", "status", "tags", "amount[gte]", "day[gte]",
                                 "updated_at[gte]", "updated_since", "q", "sort=created_at",
                                 "sort=name", "sort=amount", "sort=day", "sort=updated_at"]


def test_a_search_with_control_characters_is_refused():
    """NUL (which PostgreSQL refuses in text) and the other control characters are a 422
    naming q, not a server error."""
    from fastapi.exceptions import RequestValidationError

    for q in ("ab\x00c", "\x1b[31m"):
        with pytest.raises(RequestValidationError) as refused:
            ITEM_LIST.parse({"q": q})
        assert refused.value.errors()[0]["loc"] == ("query", "q")


def test_a_filter_with_control_characters_is_refused():
    """The same for a filter's values, whatever the filter's type: a free-text filter would
    otherwise reach PostgreSQL with a NUL (a server error)."""
    from fastapi.exceptions import RequestValidationError

    for values in (["a\x00b"], ["ok", "\x07"], ["x\x1b[0m,y"]):
        with pytest.raises(RequestValidationError) as refused:
            ITEM_LIST.parse({"f_tags": values})
        assert refused.value.errors()[0]["loc"] == ("query", "tags")
    assert ITEM_LIST.parse({"f_tags": ["ok,fine"]}).filters == {"tags": ["ok", "fine"]}


async def test_the_index_check_sets_aside_an_index_that_wins_only_on_a_small_table(prm_infra):
    """On 50 rows that all match the range, the planner rightly reads the currency from a
    unique constraint's index and filters the amount row by row; the check sets that index
    aside (and puts it back) to find the one that serves the range, and finds none once it
    is gone."""
    from prm_stack.testing import filtering_plan

    read = text("SELECT * FROM t WHERE currency = 'EUR' AND amount >= 1")
    async with scratch_schema(prm_infra) as (engine, _), engine.connect() as connection:
        for statement in (
                "CREATE TABLE t (id int PRIMARY KEY, programme text, period text, currency text, "
                "amount bigint, CONSTRAINT uq_t UNIQUE (programme, period, currency))",
                "CREATE INDEX ix_t_currency_amount ON t (currency, amount)",
                "INSERT INTO t SELECT g, 'p' || g, '2027', 'EUR', 5 FROM generate_series(1, 50) g",
                "ANALYZE t", "SET enable_seqscan = off", "SET enable_indexscan = off"):
            await connection.execute(text(statement))
        assert "Index Scan on uq_t" in "\n".join(
            row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {read}"))
        plan = await filtering_plan(connection, read, ["amount"])
        assert plan.served and "uq_t" in plan.text, plan.text
        indexes = "SELECT count(*) FROM pg_indexes WHERE tablename = 't'"
        assert (await connection.execute(text(indexes))).scalar() == 3  # all put back
        await connection.execute(text("DROP INDEX ix_t_currency_amount"))
        assert not (await filtering_plan(connection, read, ["amount"])).served
        assert (await connection.execute(text(indexes))).scalar() == 2
