"""A thin client of the PRM API over httpx: generic methods by path (the contract,
openapi/openapi.json, says what each takes and answers), with safe retries, pagination,
conditional requests, and problem details raised as ProblemError."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import itertools
import json as jsonlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

import httpx

from prm_sdk.problems import ProblemError
from prm_sdk.retry import RetryPolicy, new_idempotency_key

QueryValue = str | int | float | bool | dt.date | uuid.UUID | Enum | None
Query = Mapping[str, QueryValue | list[Any] | tuple[Any, ...]]
# Errors after which the request may or may not have arrived: retried (a POST with its key).
RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Result:
    """A successful answer (or a 304: ``not_modified``)."""

    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def data(self) -> Any:
        """The parsed JSON body, or None when there is none (204, 304)."""
        if not self.response.content:
            return None
        return self.response.json()

    @property
    def etag(self) -> str | None:
        """The ``ETag``: send it back as ``if_match`` to change the record, or as
        ``if_none_match`` to read it again only if it changed."""
        return self._header("etag")

    @property
    def not_modified(self) -> bool:
        """A conditional read answered 304: keep what you had."""
        return self.response.status_code == 304

    @property
    def replayed(self) -> bool:
        """The stored answer of an earlier attempt with the same Idempotency-Key."""
        return self._header("idempotent-replayed") == "true"

    @property
    def location(self) -> str | None:
        return self._header("location")

    def _header(self, name: str) -> str | None:
        value: str | None = self.response.headers.get(name)
        return value


@dataclass(frozen=True)
class _Prepared:
    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    content: bytes | None
    headers: dict[str, str]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dt.date | dt.datetime):  # datetimes must carry their offset
        return value.isoformat()
    return str(value)


def _query(params: Query | None) -> tuple[tuple[str, str], ...]:
    """Query parameters: None left out, several values repeated (``status=a&status=b``)."""
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(name, _text(item)) for item in values if item is not None]
    return tuple(pairs)


class _Base:
    def __init__(self, *, api_key: str | None, get_token: object | None,
                 retry: RetryPolicy | None) -> None:
        if api_key is not None and get_token is not None:
            raise TypeError("pass api_key or get_token, not both")
        self._api_key = api_key
        self.retry = retry or RetryPolicy()

    def _prepare(self, method: str, path: str, *, path_params: Mapping[str, Any] | None,
                 params: Query | None, json: Any, headers: Mapping[str, str] | None,
                 idempotency_key: str | None, if_match: str | None,
                 if_none_match: str | None) -> _Prepared:
        method = method.upper()
        if path_params:
            path = path.format_map({name: quote(_text(value), safe="")
                                    for name, value in path_params.items()})
        if "{" in path:
            raise ValueError(f"path parameters missing in {path!r}")
        request_headers = dict(headers or {})
        if json is not None:
            request_headers["Content-Type"] = "application/json"
        if method == "POST":
            # One key per logical call, sent again on every retry of it.
            request_headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        elif idempotency_key is not None:
            request_headers["Idempotency-Key"] = idempotency_key
        if if_match is not None:
            request_headers["If-Match"] = if_match
        if if_none_match is not None:
            request_headers["If-None-Match"] = if_none_match
        # Serialised once: every attempt sends the same bytes.
        content = None if json is None else jsonlib.dumps(json, default=_text).encode()
        return _Prepared(method, path, _query(params), content, request_headers)

    def _outcome(self, response: httpx.Response, attempt: int) -> float | Result:
        """The wait before trying again, or the result; raises the problem of an error."""
        delay = self.retry.delay(response, attempt)
        if delay is not None:
            return delay
        if response.status_code >= 400:
            raise ProblemError.from_response(response)
        return Result(response)

    @staticmethod
    def _next_query(params: Query | None, cursor: str | None) -> dict[str, Any]:
        query = dict(params or {})
        query.pop("cursor", None)
        if cursor:
            query["cursor"] = cursor
        return query


class PrmClient(_Base):
    """A client of the PRM API::

        with PrmClient("https://prm.example.com", api_key=key) as prm:
            partner = prm.post("/v1/partners", json={...}).data
            for deal in prm.paginate("/v1/deals", {"status": ["submitted"], "sort": "-amount"}):
                ...

    Every call raises ProblemError for an error answer, after the retries of ``retry``.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 get_token: Callable[[], str] | None = None,
                 headers: Mapping[str, str] | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key=api_key, get_token=get_token, retry=retry)
        self._get_token = get_token
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def request(self, method: str, path: str, *, path_params: Mapping[str, Any] | None = None,
                params: Query | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                if_match: str | None = None, if_none_match: str | None = None) -> Result:
        prepared = self._prepare(method, path, path_params=path_params, params=params,
                                 json=json, headers=headers, idempotency_key=idempotency_key,
                                 if_match=if_match, if_none_match=if_none_match)
        for attempt in itertools.count():
            token = self._api_key or (self._get_token() if self._get_token else None)
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                response = self._http.request(
                    prepared.method, prepared.url, params=prepared.params,
                    content=prepared.content, headers={**prepared.headers, **auth})
            except RETRYABLE_ERRORS:
                if attempt >= self.retry.retries:
                    raise
                self._sleep(self.retry.backoff(attempt))
                continue
            outcome = self._outcome(response, attempt)
            if isinstance(outcome, Result):
                return outcome
            self._sleep(outcome)
        raise AssertionError("unreachable")

    def get(self, path: str, params: Query | None = None, **options: Any) -> Result:
        return self.request("GET", path, params=params, **options)

    def post(self, path: str, json: Any = None, **options: Any) -> Result:
        return self.request("POST", path, json=json, **options)

    def put(self, path: str, json: Any = None, **options: Any) -> Result:
        return self.request("PUT", path, json=json, **options)

    def patch(self, path: str, json: Any = None, **options: Any) -> Result:
        return self.request("PATCH", path, json=json, **options)

    def delete(self, path: str, **options: Any) -> Result:
        return self.request("DELETE", path, **options)

    def pages(self, path: str, params: Query | None = None, **options: Any
              ) -> Iterator[dict[str, Any]]:
        """The pages of a list (``{"items", "next_cursor", "total_count"}``), following
        ``next_cursor`` with the same filters and sort (``limit`` is the page size)."""
        cursor: str | None = None
        while True:
            page: dict[str, Any] | None = self.get(path, self._next_query(params, cursor),
                                                   **options).data
            if page is None:  # a 304 (if_none_match given): nothing new
                return
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def paginate(self, path: str, params: Query | None = None, **options: Any
                 ) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page (see ``pages``)."""
        for page in self.pages(path, params, **options):
            yield from page["items"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncPrmClient(_Base):
    """PrmClient for asyncio: the same methods, awaited (``paginate`` and ``pages`` are async
    iterators)."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 get_token: Callable[[], str | Awaitable[str]] | None = None,
                 headers: Mapping[str, str] | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(api_key=api_key, get_token=get_token, retry=retry)
        self._get_token = get_token
        self._sleep = sleep
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout,
                                       transport=transport)

    async def _token(self) -> str | None:
        if self._api_key or not self._get_token:
            return self._api_key
        token = self._get_token()
        return await token if inspect.isawaitable(token) else token

    async def request(self, method: str, path: str, *,
                      path_params: Mapping[str, Any] | None = None, params: Query | None = None,
                      json: Any = None, headers: Mapping[str, str] | None = None,
                      idempotency_key: str | None = None, if_match: str | None = None,
                      if_none_match: str | None = None) -> Result:
        prepared = self._prepare(method, path, path_params=path_params, params=params,
                                 json=json, headers=headers, idempotency_key=idempotency_key,
                                 if_match=if_match, if_none_match=if_none_match)
        for attempt in itertools.count():
            token = await self._token()
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                response = await self._http.request(
                    prepared.method, prepared.url, params=prepared.params,
                    content=prepared.content, headers={**prepared.headers, **auth})
            except RETRYABLE_ERRORS:
                if attempt >= self.retry.retries:
                    raise
                await self._sleep(self.retry.backoff(attempt))
                continue
            outcome = self._outcome(response, attempt)
            if isinstance(outcome, Result):
                return outcome
            await self._sleep(outcome)
        raise AssertionError("unreachable")

    async def get(self, path: str, params: Query | None = None, **options: Any) -> Result:
        return await self.request("GET", path, params=params, **options)

    async def post(self, path: str, json: Any = None, **options: Any) -> Result:
        return await self.request("POST", path, json=json, **options)

    async def put(self, path: str, json: Any = None, **options: Any) -> Result:
        return await self.request("PUT", path, json=json, **options)

    async def patch(self, path: str, json: Any = None, **options: Any) -> Result:
        return await self.request("PATCH", path, json=json, **options)

    async def delete(self, path: str, **options: Any) -> Result:
        return await self.request("DELETE", path, **options)

    async def pages(self, path: str, params: Query | None = None, **options: Any
                    ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page: dict[str, Any] | None = (await self.get(
                path, self._next_query(params, cursor), **options)).data
            if page is None:  # a 304 (if_none_match given): nothing new
                return
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def paginate(self, path: str, params: Query | None = None, **options: Any
                       ) -> AsyncIterator[dict[str, Any]]:
        async for page in self.pages(path, params, **options):
            for item in page["items"]:
                yield item

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPrmClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
