"""One list grammar for every collection, declared once per list.

A list says what it offers in a ``Listing``::

    DEALS = Listing(
        Deal.id,
        Filter("status", Deal.status, DealStatus),
        Range("expected_close_date", Deal.expected_close_date, QueryDate),
        sorts={"expected_close_date": Deal.expected_close_date, "amount": Deal.amount},
        search=Deal.search_text,
        updated=Deal.updated_at,
    )

and the endpoint takes ``query: Annotated[ListQuery, Depends(DEALS.query)]`` and answers
``await DEALS.page(session, select(Deal).where(<who may see what>), query)``. Every list then
speaks the same grammar, and the contract shows it the same way everywhere:

* ``status=submitted,in_review`` (or the parameter repeated): any of several values; on an
  array column, records holding any of them;
* ``amount[gte]=1000&amount[lt]=5000``: ranges, ``gte``/``gt``/``lte``/``lt``; a period is
  written half-open, ``[gte]`` its first day and ``[lt]`` the day after its last;
* ``updated_since=2027-01-01T00:00:00Z``: what changed at or after that time, oldest change
  first (order ``updated_at, id``), for a CRM or ERP that pulls only what changed;
* ``sort=-expected_close_date,amount``: declared fields only, ``-`` for descending, ties broken
  by id; without it the list is in creation order (ids are UUIDv7);
* ``q=globex``: every word of it found in the record's searchable names (trigram index over a
  folded text: case and accents ignored, any script);
* ``include=total_count``: the number of records matching, beside the page;
* ``limit`` and ``cursor``: keyset pagination over the chosen order, answered as
  ``{items, next_cursor, total_count}``.

Why not a library: fastapi-filter (the kept choice for FastAPI) writes ``field__gte`` and
``order_by``, pages by offset through fastapi-pagination, and cannot page by keyset over an
arbitrary sort, which large lists need to stay fast and stable while rows are written.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import inspect
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, get_origin

import orjson
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.bodies import CONTROL_CHARACTERS
from prm_platform.types import FIRST_DAY, LAST_DAY

T = TypeVar("T")
Statement = Select[*tuple[Any, ...]]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_VALUES = 100
MAX_QUERY_LENGTH = 200
MAX_WORDS = 8
MAX_CURSOR_LENGTH = 2048
CURSOR_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}$"
RANGE_OPERATORS = {"gte": "__ge__", "gt": "__gt__", "lte": "__le__", "lt": "__lt__"}
# The SQL function that folds text for search (lower-cased, accents removed); created in each
# service's schema by ``prm_platform.migrations.SEARCH_DDL``.
FOLD_FUNCTION = "prm_fold"


def _bounded_time(value: dt.datetime) -> dt.datetime:
    if not FIRST_DAY.year <= value.year <= LAST_DAY.year:
        raise ValueError(f"a time from {FIRST_DAY.year} to {LAST_DAY.year} is expected")
    return value


def _written_out(value: object) -> object:
    if isinstance(value, dt.datetime | str):
        return value
    raise ValueError("a date and time in RFC 3339 (e.g. 2027-01-31T12:00:00Z) is expected")


QueryTime = Annotated[AwareDatetime, BeforeValidator(_written_out), AfterValidator(_bounded_time)]


class Page(BaseModel, Generic[T]):
    """A page of a list: its items and where the next page starts."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page.")
    total_count: int | None = Field(
        default=None,
        description="How many records match the filters (every page): only with "
        "`include=total_count`, null otherwise.")


@dataclasses.dataclass(frozen=True)
class ShownAs:
    """Shows a value taken as text (one of several, comma-separated or repeated, checked
    later) in the contract as ``kind``: a filter of an enum's values is its named schema
    (``$ref``), so a generated client takes the enum, while the request still reads
    ``status=submitted,in_review`` as the grammar says.

    ``list[Annotated[str, ShownAs(DealStatus)]]``."""

    kind: Any

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The items of a list of the kind: its schema as a reference to the named component
        # (the kind's own schema alone would be written out in place).
        listed: TypeAdapter[Any] = TypeAdapter(list[self.kind])  # type: ignore[name-defined]
        shown: JsonSchemaValue = handler(listed.core_schema)["items"]
        return shown


def is_enumeration(kind: Any) -> bool:
    """An ``Enum`` or a ``Literal``: a kind whose values the contract lists."""
    return (isinstance(kind, type) and issubclass(kind, enum.Enum)) or get_origin(kind) is Literal


def values_of(kind: Any) -> Any:
    """The annotation of a parameter that takes several values of ``kind`` as text: shown as
    ``kind`` in the contract when it lists its values (an enum, or a boolean), as text
    otherwise."""
    if is_enumeration(kind) or kind is bool:
        return list[Annotated[str, ShownAs(kind)]]
    return list[str]


def _true_or_false(value: object) -> object:
    """A boolean filter takes `true` or `false`, nothing looser (not 1, yes or on)."""
    if value not in ("true", "false"):
        raise ValueError("`true` or `false` is expected")
    return value == "true"


def parsed_as(kind: Any) -> Any:
    """How each value of a filter of ``kind`` is read."""
    return Annotated[bool, BeforeValidator(_true_or_false)] if kind is bool else kind


@dataclasses.dataclass(frozen=True)
class Filter:
    """``name=v1,v2``: records whose ``column`` is any of the values (overlaps them, for an
    array column). ``kind`` validates each value (an enum, ``uuid.UUID``, a constrained str)."""

    name: str
    column: Any
    kind: Any = str
    description: str | None = None

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        if _is_array(self.column):
            return self.column.overlap(  # type: ignore[no-any-return]
                bindparam(None, values, type_=self.column.type))
        if len(values) == 1:
            return self.column == values[0]  # type: ignore[no-any-return]
        return self.column.in_(values)  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Range:
    """``name[gte]``, ``name[gt]``, ``name[lte]``, ``name[lt]`` on a date, time or amount."""

    name: str
    column: Any
    kind: Any
    description: str | None = None


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """What a caller asked of a list, validated."""

    limit: int = DEFAULT_LIMIT
    after: tuple[Any, ...] | None = None
    filters: Mapping[str, list[Any]] = dataclasses.field(default_factory=dict)
    ranges: Mapping[tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    sort: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    words: tuple[str, ...] = ()
    updated_since: dt.datetime | None = None
    total: bool = False


def _is_array(column: Any) -> bool:
    return isinstance(getattr(column, "type", None), ARRAY)


def _nullable(column: Any) -> bool:
    expression = getattr(column, "expression", column)
    return bool(getattr(expression, "nullable", True))


def _attribute(column: Any) -> str:
    return str(getattr(column, "key", None) or column.name)


def invalid_query(where: str, message: str) -> RequestValidationError:
    """A 422 naming the query parameter ``where`` (for endpoints that check their own)."""
    return RequestValidationError([{"loc": ("query", where), "msg": message,
                                    "type": "value_error"}])


def escape_like(word: str) -> str:
    """``word`` matched literally by LIKE: its backslashes, ``%`` and ``_`` escaped."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | uuid.UUID | Decimal):
        return str(value)
    return value


class Listing:
    """A list's grammar: its filters, ranges, sorts, search and change feed."""

    def __init__(self, id_column: Any, *parts: Filter | Range,
                 sorts: Mapping[str, Any] | None = None, search: Any = None,
                 search_fields: Sequence[str] = (), updated: Any = None,
                 id_filter: bool = True, default_sort: Sequence[tuple[str, bool]] = (),
                 within: Sequence[Any] = (), description: str = "") -> None:
        """``default_sort``: the order without ``sort`` (creation order if empty).
        ``within``: the columns naming the parent a nested list is always read under (a
        deal's activities: the deal id), which its index starts with."""
        self.id_column = id_column
        self.filters = {p.name: p for p in parts if isinstance(p, Filter)}
        self.ranges = {p.name: p for p in parts if isinstance(p, Range)}
        if id_filter and "id" not in self.filters:
            self.filters = {"id": Filter("id", id_column, uuid.UUID,
                                         "Only these records (a batch read)."), **self.filters}
        self.sorts: dict[str, Any] = {"created_at": id_column, **(sorts or {})}
        if updated is not None:
            self.sorts.setdefault("updated_at", updated)
        for name, column in self.sorts.items():
            if _nullable(column) and column is not id_column:
                raise ValueError(f"sort {name!r}: its column may be null; keyset pages need a "
                                 "column that never is")
        self.default_sort = tuple(default_sort)
        self.within = tuple(within)
        for name, _ in self.default_sort:
            if name not in self.sorts:
                raise ValueError(f"default sort {name!r} is not a declared sort")
        self.search = search
        self.search_fields = tuple(search_fields)
        self.updated = updated
        self.description = description
        self._kinds = {name: TypeAdapter(parsed_as(part.kind))
                       for name, part in self.filters.items()}
        self._range_kinds = {name: TypeAdapter(part.kind) for name, part in self.ranges.items()}
        self.query = self._dependency()

    # -- the request's side ------------------------------------------------------------------

    def _dependency(self) -> Any:
        parameters = [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Request),
            inspect.Parameter("limit", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                int, Query(ge=1, le=MAX_LIMIT, description="Page size.")], default=DEFAULT_LIMIT),
            inspect.Parameter("cursor", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                str | None, Query(pattern=CURSOR_PATTERN, max_length=MAX_CURSOR_LENGTH,
                                  description="`next_cursor` of the previous page (with the "
                                  "same filters and sort).")], default=None),
        ]
        for name, part in self.filters.items():
            parameters.append(inspect.Parameter(
                f"f_{name}", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                    values_of(part.kind) | None, Query(alias=name, description=(
                        (part.description or f"Only records with this {name}.")
                        + f" Several values: comma-separated or repeated (at most {MAX_VALUES})."
                    ))], default=None))
        for name, bounded in self.ranges.items():
            for operator in RANGE_OPERATORS:
                parameters.append(inspect.Parameter(
                    f"r_{name}_{operator}", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                        str | None, Query(alias=f"{name}[{operator}]", max_length=64,
                                          description=f"{bounded.description or name}: "
                                          f"{_RANGE_WORDS[operator]} this value.")],
                    default=None))
        if self.updated is not None:
            parameters.append(inspect.Parameter(
                "updated_since", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                    str | None, Query(max_length=64, description=(
                        "Only records changed at or after this time (RFC 3339, e.g. "
                        "2027-01-31T12:00:00Z), oldest change first unless `sort` says "
                        "otherwise: pull changes by passing the last `updated_at` seen."))],
                default=None))
        names = "|".join(sorted(self.sorts))
        parameters.append(inspect.Parameter(
            "sort", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                str | None, Query(max_length=200, pattern=rf"^-?({names})(,-?({names}))*$",
                                  description="Order by these fields, `-` for descending, ties "
                                  f"broken by id: {', '.join(sorted(self.sorts))}. "
                                  + self._default_order())], default=None))
        if self.search is not None:
            parameters.append(inspect.Parameter(
                "q", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                    str | None, Query(min_length=1, max_length=MAX_QUERY_LENGTH, description=(
                        "Search: records whose " + (", ".join(self.search_fields) or "names")
                        + " contain every word (case and accents ignored)."))],
                default=None))
        parameters.append(inspect.Parameter(
            "include", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
                str | None, Query(pattern=r"^total_count$", description=(
                    "`total_count` to count every record matching the filters."))],
            default=None))

        scalars = {"limit", "cursor", "sort", "include", "q", "updated_since"} | {
            f"{name}[{operator}]" for name in self.ranges for operator in RANGE_OPERATORS}

        async def list_query(request: Request, **given: Any) -> ListQuery:
            # A parameter of one value sent several times would be read as its last: refused,
            # so that what was asked is what is answered.
            for name in scalars:
                if len(request.query_params.getlist(name)) > 1:
                    raise invalid_query(name, "is given more than once; it takes one value")
            return self.parse(given)

        list_query.__signature__ = inspect.Signature(parameters, return_annotation=ListQuery)  # type: ignore[attr-defined]
        list_query.listing = self  # type: ignore[attr-defined]  # found by the grammar tests
        return list_query

    def _default_order(self) -> str:
        if not self.default_sort:
            return "Creation order by default."
        return "By default: " + _sort_text(ListQuery(sort=self.default_sort)) + "."

    def parse(self, given: Mapping[str, Any]) -> ListQuery:
        filters: dict[str, list[Any]] = {}
        for name in self.filters:
            raw = given.get(f"f_{name}")
            if not raw:
                continue
            values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
            if not values:
                raise invalid_query(name, "at least one value is expected")
            if len(values) > MAX_VALUES:
                raise invalid_query(name, f"at most {MAX_VALUES} values are allowed")
            # As in q: no stored value holds one (bodies refuse them), and PostgreSQL refuses
            # NUL in text, so a filter of free text would be a server error, not a 422.
            if any(CONTROL_CHARACTERS.search(v) for v in values):
                raise invalid_query(name, "holds control characters")
            try:
                filters[name] = list(dict.fromkeys(
                    self._kinds[name].validate_python(v) for v in values))
            except PydanticValidationError as exc:
                raise invalid_query(name, exc.errors()[0]["msg"]) from None
        ranges: dict[tuple[str, str], Any] = {}
        for name in self.ranges:
            for operator in RANGE_OPERATORS:
                raw = given.get(f"r_{name}_{operator}")
                if raw is None:
                    continue
                try:
                    ranges[(name, operator)] = self._range_kinds[name].validate_python(raw)
                except PydanticValidationError as exc:
                    where = f"{name}[{operator}]"
                    raise invalid_query(where, exc.errors()[0]["msg"]) from None
        updated_since = None
        if given.get("updated_since") is not None:
            try:
                updated_since = _TIME.validate_python(given["updated_since"])
            except PydanticValidationError as exc:
                raise invalid_query("updated_since", exc.errors()[0]["msg"]) from None
        sort: tuple[tuple[str, bool], ...] = ()
        if given.get("sort"):
            seen: list[str] = []
            parts = []
            for item in given["sort"].split(","):
                name = item.removeprefix("-")
                if name in seen:
                    raise invalid_query("sort", f"{name} is named twice")
                seen.append(name)
                parts.append((name, item.startswith("-")))
            sort = tuple(parts)
        elif updated_since is not None:
            sort = (("updated_at", False),)
        else:
            sort = self.default_sort
        words: tuple[str, ...] = ()
        if given.get("q") is not None:
            if CONTROL_CHARACTERS.search(given["q"]):  # NUL: PostgreSQL refuses it in text
                raise invalid_query("q", "holds control characters")
            words = tuple(dict.fromkeys(given["q"].split()))
            if not words:
                raise invalid_query("q", "at least one word is expected")
            if len(words) > MAX_WORDS:
                raise invalid_query("q", f"at most {MAX_WORDS} words are allowed")
        query = ListQuery(limit=given.get("limit", DEFAULT_LIMIT), filters=filters,
                          ranges=ranges, sort=sort, words=words, updated_since=updated_since,
                          total=given.get("include") == "total_count")
        if given.get("cursor"):
            query = dataclasses.replace(query, after=self._decode(given["cursor"], query))
        return query

    # -- the database's side -----------------------------------------------------------------

    def order(self, query: ListQuery) -> list[tuple[Any, bool]]:
        """The columns the page is ordered by, the id last (in the first key's direction)."""
        keys = [(self.sorts[name], descending) for name, descending in query.sort]
        keys = [(column, descending) for column, descending in keys
                if column is not self.id_column]
        first_descending = query.sort[0][1] if query.sort else False
        return [*keys, (self.id_column, first_descending)]

    def where(self, query: ListQuery) -> list[ColumnElement[bool]]:
        """The conditions of the filters, ranges, change feed and search (not the cursor)."""
        conditions = [self.filters[name].condition(values)
                      for name, values in query.filters.items()]
        for (name, operator), value in query.ranges.items():
            column = self.ranges[name].column
            conditions.append(getattr(column, RANGE_OPERATORS[operator])(value))
        if query.updated_since is not None:
            conditions.append(self.updated >= query.updated_since)
        for word in query.words:
            pattern = func.concat("%", func.prm_fold(literal(escape_like(word))), "%")
            # Backslash escapes % and _ (LIKE's own default: an ESCAPE clause would hide the
            # pattern from the planner's estimate of how many records match).
            conditions.append(self.search.like(pattern))
        return conditions

    def apply(self, statement: Statement, query: ListQuery) -> Statement:
        """``statement`` narrowed to the page: filters, the cursor, the order and the limit."""
        order = self.order(query)
        statement = statement.where(*self.where(query))
        if query.after is not None:
            statement = statement.where(_after(order, query.after))
        columns = [column.desc() if descending else column.asc() for column, descending in order]
        return statement.order_by(*columns).limit(query.limit + 1)

    async def page(self, session: AsyncSession, statement: Statement, query: ListQuery,
                   ) -> tuple[list[Any], str | None, int | None]:
        """The page's rows (entities for an entity select), the next cursor and, if asked,
        the number of records matching."""
        if query.words:
            # Planned for the words searched: how many records a word matches decides between
            # reading the trigram index and walking the order's index (a plan made once for
            # any word would pick one of them for all, and be slow for the others).
            await session.execute(_CUSTOM_PLANS)
        result = await session.execute(self.apply(statement, query))
        rows = list(result.scalars() if _selects_one_entity(statement) else result)
        total = None
        if query.total:
            counted = statement.where(*self.where(query)).order_by(None)
            total = (await session.execute(
                select(func.count()).select_from(counted.subquery()))).scalar_one()
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            return rows, self._encode(rows[-1], query), total
        return rows, None, total

    # -- cursors -----------------------------------------------------------------------------

    def _encode(self, row: Any, query: ListQuery) -> str:
        if isinstance(row, Row) and not hasattr(row, _attribute(self.id_column)):
            row = row[0]  # an entity with columns beside it: the entity carries the keys
        values = [_jsonable(getattr(row, _attribute(column))) for column, _ in self.order(query)]
        raw = orjson.dumps([_sort_text(query), values])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def _decode(self, cursor: str, query: ListQuery) -> tuple[Any, ...]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _bad_cursor() from None
        order = self.order(query)
        if len(raw) == 16 and not query.sort:  # a cursor of the id-only format
            return (uuid.UUID(bytes=raw),)
        try:
            sort, values = orjson.loads(raw)
            if sort != _sort_text(query) or len(values) != len(order):
                raise invalid_query("cursor", "the cursor belongs to another sort; start again "
                               "without it")
            return tuple(_column_value(column, value)
                         for (column, _), value in zip(order, values, strict=True))
        except (orjson.JSONDecodeError, TypeError, ValueError, ArithmeticError,
                PydanticValidationError):
            raise _bad_cursor() from None


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_RANGE_WORDS = {"gte": "at or after / at least", "gt": "after / more than",
                "lte": "at or before / at most", "lt": "before / less than"}
_TIME: TypeAdapter[dt.datetime] = TypeAdapter(QueryTime)


def _bad_cursor() -> RequestValidationError:
    # A 422 naming the parameter: any text of the cursor's alphabet fits its schema, and only
    # the server can tell one of its cursors from another string.
    return invalid_query("cursor", "not a cursor of this list; use the next_cursor of a previous "
                    "page")


def _sort_text(query: ListQuery) -> str:
    return ",".join(("-" if d else "") + name for name, d in query.sort)


def _column_value(column: Any, value: Any) -> Any:
    python_type = column.type.python_type
    if value is None or isinstance(value, python_type):
        return value
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date:
        return dt.date.fromisoformat(value)
    return python_type(value)


def _after(order: list[tuple[Any, bool]], values: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows after ``values`` in ``order``: one row comparison when every key runs the same
    way (what a composite index serves), else the expanded form."""
    if len({descending for _, descending in order}) == 1:
        left = tuple_(*(column for column, _ in order))
        right = tuple_(*(literal(v, column.type) for (column, _), v in zip(order, values,
                                                                            strict=True)))
        return left < right if order[0][1] else left > right
    alternatives = []
    for i, (column, descending) in enumerate(order):
        equal = [c == literal(v, c.type) for (c, _), v in zip(order[:i], values[:i], strict=True)]
        value = literal(values[i], column.type)
        alternatives.append(and_(*equal, column < value if descending else column > value))
    return or_(*alternatives)


def _selects_one_entity(statement: Statement) -> bool:
    descriptions = statement.column_descriptions
    return len(descriptions) == 1 and descriptions[0].get("entity") is not None \
        and descriptions[0].get("expr") is descriptions[0].get("entity")
