"""The Python SDK (clients/python, ``prm_sdk``) against an httpx MockTransport standing for the
API: retries that reuse the Idempotency-Key, Retry-After, network errors, problem details as
typed errors, pagination, conditional requests. test_sdk_stack.py drives it against the stack."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import prm_sdk
from prm_sdk import (
    NO_RETRIES,
    AsyncPrmClient,
    PrmClient,
    ProblemError,
    RetryPolicy,
    is_problem,
    parse_retry_after,
)

ROOT = Path(__file__).resolve().parents[2]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PARTNER = {"name": "Acme", "type": "msp", "country": "DE"}

Responder = Callable[[httpx.Request], httpx.Response]


def problem(status: int, slug: str, headers: dict[str, str] | None = None,
            **extra: Any) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "application/problem+json",
                                           "X-Request-Id": "req-1", **(headers or {})},
                          json={"type": f"/problems/{slug}", "title": slug, "status": status,
                                **extra})


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"id": "p1", **json.loads(request.content)},
                          headers={"ETag": '"1"', "Location": "/v1/partners/p1"})


def unavailable(request: httpx.Request) -> httpx.Response:
    return problem(503, "service-unavailable")


def hang_up(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


class Api:
    """A fake API: answers with the responders in turn (the last one from then on) and keeps
    every request it received."""

    def __init__(self, *responders: Responder) -> None:
        self.responders = responders
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.responders[min(len(self.seen), len(self.responders)) - 1](request)

    def client(self, **options: Any) -> tuple[PrmClient, list[float]]:
        delays: list[float] = []
        options.setdefault("api_key", "prm_test")
        prm = PrmClient("http://api.test", transport=httpx.MockTransport(self),
                        sleep=delays.append, **options)
        return prm, delays

    def keys(self) -> list[str | None]:
        return [request.headers.get("idempotency-key") for request in self.seen]


def test_versions_follow_the_contract() -> None:
    contract = json.loads((ROOT / "openapi" / "openapi.json").read_text())["info"]["version"]
    python = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())
    typescript = json.loads((ROOT / "clients/typescript/package.json").read_text())
    assert prm_sdk.__version__ == python["project"]["version"]

    def major_minor(version: str) -> str:
        return ".".join(version.split(".")[:2])

    # Both SDKs are released together; their major.minor is the contract's.
    assert python["project"]["version"] == typescript["version"]
    assert major_minor(python["project"]["version"]) == major_minor(contract)


# -- retries and the Idempotency-Key ---------------------------------------------------------


def test_a_post_keeps_its_key_and_body_across_retries() -> None:
    api = Api(unavailable, unavailable, created)
    prm, delays = api.client()
    result = prm.post("/v1/partners", json=PARTNER)
    assert result.status_code == 201 and result.data["name"] == "Acme"
    assert result.etag == '"1"' and result.location == "/v1/partners/p1"
    keys = api.keys()
    assert len(keys) == 3 and len(set(keys)) == 1 and UUID4.match(keys[0] or "")
    assert {request.content for request in api.seen} == {json.dumps(PARTNER).encode()}
    assert {request.headers["authorization"] for request in api.seen} == {"Bearer prm_test"}
    assert {request.headers["content-type"] for request in api.seen} == {"application/json"}
    assert len(delays) == 2


def test_each_logical_call_has_its_own_key_and_the_callers_is_kept() -> None:
    api = Api(created)
    prm, _ = api.client()
    prm.post("/v1/partners", json=PARTNER)
    prm.post("/v1/partners", json=PARTNER)
    assert api.keys()[0] != api.keys()[1]

    api = Api(unavailable, created)
    prm, _ = api.client()
    prm.post("/v1/partners", json=PARTNER, idempotency_key="crm-42")
    assert api.keys() == ["crm-42", "crm-42"]


def test_reads_carry_no_key() -> None:
    api = Api(lambda request: httpx.Response(200, json={"id": "p1"}))
    prm, _ = api.client()
    prm.get("/v1/partners/{partner_id}", path_params={"partner_id": "p1"})
    assert api.keys() == [None]
    assert api.seen[0].url.path == "/v1/partners/p1"


@pytest.mark.parametrize("error", [
    httpx.RemoteProtocolError("disconnected"), httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow")])
def test_a_network_error_is_retried_with_the_same_key(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    api = Api(fail, created)
    prm, delays = api.client()
    assert prm.post("/v1/partners", json=PARTNER).status_code == 201
    assert len(api.seen) == 2 and api.keys()[0] == api.keys()[1]
    assert len(delays) == 1 and 0 <= delays[0] <= 0.25


def test_network_errors_past_the_retries_are_raised() -> None:
    api = Api(hang_up)
    prm, delays = api.client(retry=RetryPolicy(retries=2))
    with pytest.raises(httpx.RemoteProtocolError):
        prm.post("/v1/partners", json=PARTNER)
    assert len(api.seen) == 3 and len(delays) == 2


def test_retry_after_is_honoured_in_seconds_and_dates() -> None:
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
                                        usegmt=True)
    api = Api(lambda r: problem(429, "rate-limited", {"Retry-After": "2"}),
              lambda r: problem(503, "service-unavailable", {"Retry-After": later}), created)
    prm, delays = api.client()
    prm.post("/v1/partners", json=PARTNER)
    assert delays[0] == 2
    assert 25 < delays[1] <= 30


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    api = Api(lambda r: problem(429, "rate-limited", {"Retry-After": "3600"}))
    prm, delays = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners", json=PARTNER)
    assert raised.value.status == 429 and len(api.seen) == 1 and delays == []


def test_a_key_still_in_use_is_retried_other_conflicts_are_not() -> None:
    api = Api(lambda r: problem(409, "idempotency-key-in-use", {"Retry-After": "1"}), created)
    prm, delays = api.client()
    prm.post("/v1/partners", json=PARTNER)
    assert delays == [1]

    api = Api(lambda r: problem(409, "conflict"))
    prm, delays = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners", json=PARTNER)
    assert raised.value.matches("conflict") and len(api.seen) == 1


def test_backoff_is_bounded_and_retries_counted() -> None:
    api = Api(unavailable)
    policy = RetryPolicy(retries=6, min_delay=0.1, max_delay=0.8)
    prm, delays = api.client(retry=policy)
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners", json=PARTNER)
    assert raised.value.matches("service-unavailable")
    assert len(api.seen) == 7 and len(set(api.keys())) == 1
    assert len(delays) == 6 and all(0 <= d <= 0.8 for d in delays)
    assert all(policy.backoff(n) <= min(0.8, 0.1 * 2 ** n) for n in range(30))


def test_no_retries() -> None:
    api = Api(unavailable)
    prm, delays = api.client(retry=NO_RETRIES)
    with pytest.raises(ProblemError):
        prm.get("/v1/partners")
    assert len(api.seen) == 1 and delays == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 412, 422, 500])
def test_other_errors_are_not_retried(status: int) -> None:
    api = Api(lambda r: problem(status, "x"))
    prm, _ = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.get("/v1/partners")
    assert raised.value.status == status and len(api.seen) == 1


def test_get_token_is_asked_before_every_attempt() -> None:
    tokens = iter(["t1", "t2"])
    api = Api(unavailable, created)
    prm, _ = api.client(api_key=None, get_token=lambda: next(tokens))
    prm.post("/v1/partners", json=PARTNER)
    assert [r.headers["authorization"] for r in api.seen] == ["Bearer t1", "Bearer t2"]
    with pytest.raises(TypeError):
        PrmClient("http://api.test", api_key="a", get_token=lambda: "b")


def test_parse_retry_after() -> None:
    now = dt.datetime(2015, 10, 21, 7, 27, tzinfo=dt.UTC)
    assert parse_retry_after("0") == 0
    assert parse_retry_after(" 7 ") == 7
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


# -- problems --------------------------------------------------------------------------------


def test_a_problem_is_raised_typed() -> None:
    api = Api(lambda r: problem(
        422, "validation-error", detail="the request is not valid", instance="/v1/partners",
        errors=[{"location": "body", "field": "country", "message": "bad"}]))
    prm, _ = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners", json=PARTNER)
    error = raised.value
    assert (error.type, error.title, error.status) == (
        "/problems/validation-error", "validation-error", 422)
    assert error.detail == "the request is not valid" and error.instance == "/v1/partners"
    assert error.errors == [{"location": "body", "field": "country", "message": "bad"}]
    assert error.request_id == "req-1"
    assert error.matches("validation-error") and error.matches("/problems/validation-error")
    assert not error.matches("not-found")
    assert is_problem(error, "validation-error") and not is_problem(ValueError())
    assert str(error) == "validation-error (422): the request is not valid"


def test_extra_members_and_the_bodys_request_id() -> None:
    api = Api(lambda r: problem(409, "invalid-transition", current_status="onboarding",
                                request_id="from-body"))
    prm, _ = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners/{partner_id}/suspend", path_params={"partner_id": "p1"})
    assert raised.value.body["current_status"] == "onboarding"
    assert raised.value.request_id == "from-body" and raised.value.errors == []


def test_an_error_that_is_no_problem_is_about_blank() -> None:
    api = Api(lambda r: httpx.Response(502, headers={"Content-Type": "text/html"},
                                       text="<html>bad gateway</html>"))
    prm, _ = api.client()
    with pytest.raises(ProblemError) as raised:
        prm.get("/v1/partners")
    assert (raised.value.type, raised.value.status) == ("about:blank", 502)
    assert raised.value.title == "Bad Gateway"
    assert raised.value.detail == "<html>bad gateway</html>"


# -- pagination ------------------------------------------------------------------------------

ITEMS = [{"id": f"p{i}", "name": f"Partner {i}"} for i in range(5)]


def pager(request: httpx.Request) -> httpx.Response:
    limit = int(request.url.params.get("limit", 50))
    start = int(request.url.params.get("cursor", 0))
    following = str(start + limit) if start + limit < len(ITEMS) else None
    return httpx.Response(200, json={"items": ITEMS[start:start + limit],
                                     "next_cursor": following, "total_count": None})


def test_paginate_follows_next_cursor_with_the_same_filters_and_sort() -> None:
    api = Api(pager)
    prm, _ = api.client()
    found = prm.paginate("/v1/partners", {"limit": 2, "status": ["active", "suspended"],
                                          "sort": "-name", "q": None,
                                          "created_at[gte]": dt.date(2027, 1, 1)})
    assert [p["id"] for p in found] == ["p0", "p1", "p2", "p3", "p4"]
    assert [r.url.params.get("cursor") for r in api.seen] == [None, "2", "4"]
    for request in api.seen:
        assert request.url.params.get_list("status") == ["active", "suspended"]
        assert request.url.params["sort"] == "-name" and request.url.params["limit"] == "2"
        assert request.url.params["created_at[gte]"] == "2027-01-01"
        assert "q" not in request.url.params


def test_pages_and_stopping_early() -> None:
    api = Api(pager)
    prm, _ = api.client()
    assert [len(p["items"]) for p in prm.pages("/v1/partners", {"limit": 2})] == [2, 2, 1]
    api.seen.clear()
    assert next(iter(prm.paginate("/v1/partners", {"limit": 2})))["id"] == "p0"
    assert len(api.seen) == 1


def test_a_list_not_modified_since_its_etag_yields_nothing() -> None:
    api = Api(lambda r: httpx.Response(304, headers={"ETag": 'W/"x"'}))
    prm, _ = api.client()
    assert list(prm.pages("/v1/partners", if_none_match='W/"x"')) == []
    assert api.seen[0].headers["if-none-match"] == 'W/"x"'


def test_a_list_under_a_record() -> None:
    api = Api(lambda r: httpx.Response(200, json={"items": [{"id": "c1"}], "next_cursor": None}))
    prm, _ = api.client()
    contacts = prm.paginate("/v1/partners/{partner_id}/contacts",
                            path_params={"partner_id": "p 9/x"})
    assert [c["id"] for c in contacts] == ["c1"]
    assert api.seen[0].url.raw_path == b"/v1/partners/p%209%2Fx/contacts"
    with pytest.raises(ValueError, match="path parameters"):
        prm.get("/v1/partners/{partner_id}")


# -- conditional requests --------------------------------------------------------------------


def test_if_match_and_if_none_match() -> None:
    def api_answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"3"':
            return httpx.Response(304, headers={"ETag": '"3"'})
        if request.method == "POST":
            if request.headers.get("if-match") != '"3"':
                return problem(412, "precondition-failed")
            return httpx.Response(200, json={"status": "active"}, headers={"ETag": '"4"'})
        return httpx.Response(200, json={"status": "onboarding"}, headers={"ETag": '"3"'})

    prm, _ = Api(api_answer).client()
    ids = {"path_params": {"partner_id": "p1"}}
    read = prm.get("/v1/partners/{partner_id}", **ids)
    assert read.etag == '"3"' and not read.not_modified
    again = prm.get("/v1/partners/{partner_id}", if_none_match=read.etag, **ids)
    assert again.not_modified and again.data is None
    activated = prm.post("/v1/partners/{partner_id}/activate", if_match=read.etag, **ids)
    assert activated.etag == '"4"' and activated.data == {"status": "active"}
    with pytest.raises(ProblemError) as raised:
        prm.post("/v1/partners/{partner_id}/activate", if_match='"1"', **ids)
    assert raised.value.matches("precondition-failed")


def test_replayed_answers_are_told() -> None:
    prm, _ = Api(lambda r: httpx.Response(201, json={}, headers={
        "Idempotent-Replayed": "true"})).client()
    assert prm.post("/v1/partners", json=PARTNER).replayed


# -- asyncio ---------------------------------------------------------------------------------


async def test_the_async_client_does_the_same() -> None:
    api = Api(hang_up, lambda r: problem(503, "service-unavailable", {"Retry-After": "1"}),
              created)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def token() -> str:
        return "t"

    async with AsyncPrmClient("http://api.test", get_token=token, sleep=sleep,
                              transport=httpx.MockTransport(api)) as prm:
        result = await prm.post("/v1/partners", json=PARTNER)
        assert result.status_code == 201
        assert len(set(api.keys())) == 1 and len(api.seen) == 3 and delays[1] == 1
        assert {r.headers["authorization"] for r in api.seen} == {"Bearer t"}

    api = Api(pager)
    async with AsyncPrmClient("http://api.test", api_key="k",
                              transport=httpx.MockTransport(api)) as prm:
        assert [p["id"] async for p in prm.paginate("/v1/partners", {"limit": 2})] == [
            "p0", "p1", "p2", "p3", "p4"]

    not_found = httpx.MockTransport(lambda r: problem(404, "not-found"))
    async with AsyncPrmClient("http://api.test", api_key="k", transport=not_found) as prm:
        with pytest.raises(ProblemError) as raised:
            await prm.get("/v1/partners/{partner_id}", path_params={"partner_id": "x"})
        assert raised.value.matches("not-found") and raised.value.status == 404
