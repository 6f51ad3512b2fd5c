"""Days in query strings: one the service cannot compute with (a tier's trailing window before
year 1, a grace period past year 9999) is a 422 naming the parameter, never a 500; the first
and the last day it takes are answered."""

import datetime as dt
import re
import typing

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from prm_platform.types import FIRST_DAY, LAST_DAY

FAR = ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"]


def _types(annotation) -> list:
    """The types an annotation names, through Optional and Annotated."""
    return [annotation, *(t for arg in typing.get_args(annotation) for t in _types(arg))]


def date_query_parameters(app) -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every query parameter of the service that is a day or a
    time: a new one is covered here without being listed."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.query_params:
            if any(isinstance(t, type) and issubclass(t, dt.date)
                   for t in _types(param.field_info.annotation)):
                path = re.sub(r"{(\w+):\w+}", r"{\1}", str(context.path))
                found += [(method, path, param.alias) for method in sorted(context.methods)]
    return sorted(found)


def test_the_date_parameters_are_known(app):
    assert date_query_parameters(app) == [
        ("GET", "/v1/partners/{partner_id}/compliance", "on"),
        ("GET", "/v1/partners/{partner_id}/satisfaction", "from"),
        ("GET", "/v1/partners/{partner_id}/satisfaction", "to"),
        ("GET", "/v1/partners/{partner_id}/tier", "as_of"),
        ("POST", "/v1/partners/{partner_id}/tier/evaluate", "as_of"),
    ]


async def active_partner(client, vendor) -> str:
    created = await client.post("/v1/partners", json={
        "name": "Far Days Ltd", "type": "reseller", "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    activated = await client.post(f"/v1/partners/{partner_id}/activate", headers=vendor)
    assert activated.status_code == 200, activated.text
    return partner_id


@pytest.mark.parametrize("day", FAR)
async def test_far_days_are_refused_by_name(app, client, vendor, day):
    partner_id = await active_partner(client, vendor)
    for method, path, name in date_query_parameters(app):
        answer = await client.request(method, path.format(partner_id=partner_id) +
                                      f"?{name}={day}", headers=vendor)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [(e["location"], e["field"]) for e in answer.json()["errors"]] == [
            ("query", name)], answer.json()
        assert FIRST_DAY.isoformat() in answer.json()["errors"][0]["message"]


async def test_the_first_and_last_days_are_answered(app, client, vendor):
    partner_id = await active_partner(client, vendor)
    for day in (FIRST_DAY, LAST_DAY):
        for method, path, name in date_query_parameters(app):
            answer = await client.request(method, path.format(partner_id=partner_id) +
                                          f"?{name}={day.isoformat()}", headers=vendor)
            # the last day is a future one, which an evaluation refuses: a 422 of its own
            future = method == "POST" and day > dt.date.today()
            assert answer.status_code == (422 if future else 200), (path, answer.text)
