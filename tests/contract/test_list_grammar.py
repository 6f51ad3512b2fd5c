"""Every list of the committed contract speaks the one list grammar (docs/lists.md), as a
generated client or a portal team reads it: the envelope, limit and cursor, a declared sort,
include=total_count, filters that take several values, ranges in complete sets of four, q and
updated_since where declared, and no bare JSON array answered by any read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json")
                      .read_text())
GRAMMAR = {"limit", "cursor", "sort", "include", "q", "updated_since", "expand"}
RANGE = re.compile(r"^(?P<field>\w+)\[(?P<op>gte|gt|lte|lt)\]$")
# Scalar parameters of reports that are lists too: the period and model they are computed
# for, and a switch that widens a list to its tombstones.
REPORT_PARAMETERS = {"from", "to", "model", "include_erased"}
# A statement is one partner's; the enablement library answers in one language (which
# variant to show, not which resources).
SCALARS = {"/v1/payouts/statement": {"partner_id"}, "/v1/enablement-resources": {"language"}}


def schema(node: dict) -> dict:
    while "$ref" in node:
        node = CONTRACT["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def answer(operation: dict) -> dict:
    content = operation["responses"].get("200", {}).get("content", {})
    return schema(content.get("application/json", {}).get("schema", {}))


def reads() -> list[tuple[str, dict]]:
    return [(path, methods["get"]) for path, methods in CONTRACT["paths"].items()
            if "get" in methods]


def lists() -> list[tuple[str, dict]]:
    return [(path, operation) for path, operation in reads()
            if {"items", "next_cursor"} <= set(answer(operation).get("properties", {}))]


def test_the_contract_has_its_lists():
    assert len(lists()) >= 44


@pytest.mark.parametrize(("path", "operation"), lists(), ids=[p for p, _ in lists()])
def test_each_list_speaks_the_grammar(path, operation):
    page = answer(operation)
    assert {"items", "next_cursor", "total_count"} <= set(page["properties"])
    assert page["properties"]["items"]["type"] == "array"
    query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    assert {"limit", "cursor", "sort", "include"} <= set(query), path
    assert query["limit"]["schema"]["maximum"] == 200
    assert '"pattern": "^total_count$"' in json.dumps(query["include"]["schema"])
    # creation order is always a declared sort
    assert "created_at" in json.dumps(query["sort"]["schema"]), path
    ranges: dict[str, set[str]] = {}
    for name, parameter in query.items():
        if name in GRAMMAR or name in REPORT_PARAMETERS or name in SCALARS.get(path, ()):
            continue
        if found := RANGE.match(name):
            ranges.setdefault(found["field"], set()).add(found["op"])
            continue
        kinds = [parameter["schema"].get("type")] + [
            option.get("type") for option in parameter["schema"].get("anyOf", [])]
        assert "array" in kinds, f"{path}: the filter {name} takes one value only"
    for field, operators in ranges.items():
        assert operators == {"gte", "gt", "lte", "lt"}, f"{path}: {field} ranges {operators}"
    if "q" in query:
        assert query["q"]["schema"].get("minLength", 1) >= 1
        assert 1 <= len(query["q"]["schema"].get("anyOf", [query["q"]["schema"]])) <= 2
    if "id" in query:  # batch reads by id
        assert "array" in json.dumps(query["id"]["schema"])


def test_no_read_answers_a_bare_array():
    bare = [path for path, operation in reads() if answer(operation).get("type") == "array"]
    assert bare == []


def test_changing_records_can_be_synced():
    """Lists of records that change offer updated_since (the immutable ones, such as ledger
    entries, activities and delivery attempts, and reports computed over a period, do not)."""
    feeds = {path for path, operation in lists()
             if any(p["name"] == "updated_since" for p in operation.get("parameters", []))}
    for path in ("/v1/partners", "/v1/deals", "/v1/direct-accounts", "/v1/engagement-rules",
                 "/v1/api-keys", "/v1/mdf/requests", "/v1/mdf/claims", "/v1/webhook-endpoints",
                 "/v1/partners/{partner_id}/contacts", "/v1/partner-applications"):
        assert path in feeds, path
