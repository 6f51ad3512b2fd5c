"""The contract makes SDKs without warnings and without duplicates: every enum is a named schema
(one type in a client, not one per property or parameter that uses it), and the problem
answers and headers every operation shares are components, referenced by each operation."""

from __future__ import annotations

import ast
import collections
import json
import re
from pathlib import Path

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json")
                      .read_text())
SCHEMAS = CONTRACT["components"]["schemas"]
PROBLEM = "application/problem+json"
# Inline enums the contract keeps on purpose, by where they are, with the reason. None today:
# an enum of the contract is a StrEnum of the service (pydantic names a schema component only
# for an Enum class), and a filter of its values shows it (prm_platform.listing.ShownAs).
DELIBERATE_INLINE_ENUMS: dict[str, str] = {}
# Named enums with the same values that mean different things, so stay two types.
DELIBERATE_TWINS = {
    frozenset({"CertificationStatus", "KeyStatus"}):
        "a partner's certification and an API key: two lifecycles that happen to share words",
    frozenset({"CollaboratorSide", "PrincipalKind"}):
        "whose person works a deal, and whom a key acts for",
    frozenset({"ChangeSource", "TouchpointSource"}):
        "how a marketplace offer's status changed (the vendor's call, or a marketplace's "
        "event), and where an attribution touchpoint was recorded: two services' records",
    frozenset({"EnablementResourceStatus", "MarketingCampaignStatus"}):
        "an enablement resource's and a marketing campaign's lifecycle: the same publishing "
        "words in two services' libraries, each free to grow its own states",
}
# Headers the edge sends on every answer (or on some), each once in components/headers.
SHARED_HEADERS = {"X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                  "Retry-After", "Idempotent-Replayed"}


def _enums(node, where: str = ""):
    """(where, values) of every ``enum`` in the document."""
    if isinstance(node, dict):
        if "enum" in node:
            yield where, node["enum"]
        for key, value in node.items():
            yield from _enums(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _enums(item, f"{where}/{index}")


def named_enums() -> dict[str, list[str]]:
    return {name: schema["enum"] for name, schema in SCHEMAS.items() if "enum" in schema}


def operations():
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_enum_is_a_named_schema():
    inline = {where: values for where, values in _enums(CONTRACT)
              if not re.fullmatch(r"/components/schemas/[^/]+", where)}
    unexplained = {where: values for where, values in inline.items()
                   if where not in DELIBERATE_INLINE_ENUMS}
    assert not unexplained, (
        "inline enums (make each a StrEnum of the service, reused where the values mean the "
        f"same): {json.dumps(unexplained, indent=1)}")
    assert set(DELIBERATE_INLINE_ENUMS) <= set(inline), "an exception no longer needed"
    assert len(named_enums()) >= 60


def test_the_same_values_are_one_enum_unless_they_mean_different_things():
    by_values = collections.defaultdict(set)
    for name, values in named_enums().items():
        assert len(values) == len(set(values)), name
        assert all(isinstance(v, str) for v in values), name
        by_values[frozenset(values)].add(name)
    twins = {frozenset(names) for names in by_values.values() if len(names) > 1}
    assert twins == set(DELIBERATE_TWINS), (
        "named enums with the same values: one enum if they mean the same thing, else a "
        f"reason in DELIBERATE_TWINS: {sorted(map(sorted, twins))}")


def test_filters_of_enum_values_show_the_enum():
    """A list filtered by an enum's values (``status=submitted,in_review``) takes the named
    enum in a generated client."""
    shown = 0
    for where, operation in operations():
        for parameter in operation.get("parameters", []):
            for option in parameter["schema"].get("anyOf", [parameter["schema"]]):
                items = option.get("items", {})
                if "$ref" in items:
                    name = items["$ref"].rsplit("/", 1)[-1]
                    assert name in named_enums(), f"{where} {parameter['name']}: {name}"
                    shown += 1
    assert shown >= 30
    deals = dict(operations())["GET /v1/deals"]
    [status] = [p for p in deals["parameters"] if p["name"] == "status"]
    assert status["schema"]["anyOf"][0]["items"] == {"$ref": "#/components/schemas/DealStatus"}


def _enum_classes(package: Path) -> collections.Counter[str]:
    """The Enum classes of a generated client's models, by name (each module holds one)."""
    found: collections.Counter[str] = collections.Counter()
    for module in (package / "models").glob("*.py"):
        for node in ast.parse(module.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", None) in {"Enum", "IntEnum", "StrEnum"}
                    for base in node.bases):
                found[node.name] += 1
    return found


def test_a_generated_client_has_one_enum_per_named_enum(generated_client):
    assert "Warning" not in generated_client.output, generated_client.output
    classes = _enum_classes(generated_client.package)
    assert [name for name, count in classes.items() if count > 1] == []
    assert set(classes) == set(named_enums()), (
        f"enum types of the client that are no named enum: {set(classes) - set(named_enums())}")


def test_problem_answers_are_shared_responses():
    responses = CONTRACT["components"]["responses"]
    used = set()
    for where, operation in operations():
        for status, answer in operation["responses"].items():
            if status[0] not in "45":
                continue
            assert set(answer) <= {"$ref", "description"}, f"{where} {status} is inline"
            name = answer["$ref"].removeprefix("#/components/responses/")
            shared = responses[name]
            assert set(shared["content"]) == {PROBLEM}, name
            assert shared["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            used.add(name)
            # one shared response per status: the same name wherever the status is
            assert {s for s, a in operation["responses"].items()
                    if a.get("$ref") == answer["$ref"]} == {status}, where
    assert used == set(responses), f"responses no operation uses: {set(responses) - used}"
    assert {"MalformedRequest", "Unauthenticated", "Forbidden", "NotFound", "Conflict",
            "PreconditionFailed", "PayloadTooLarge", "ValidationFailed", "RateLimited",
            "ServiceUnavailable"} <= used
    rate_limited = responses["RateLimited"]["headers"]["Retry-After"]
    assert rate_limited == {"$ref": "#/components/headers/Retry-After"}


def test_the_edge_headers_are_shared():
    headers = CONTRACT["components"]["headers"]
    assert set(headers) == SHARED_HEADERS
    answers = [answer for _, operation in operations()
               for answer in operation["responses"].values() if "$ref" not in answer]
    answers += CONTRACT["components"]["responses"].values()
    for answer in answers:
        for name, header in answer.get("headers", {}).items():
            if name in SHARED_HEADERS:
                assert header == {"$ref": f"#/components/headers/{name}"}, name
        assert "X-Request-Id" in answer["headers"]
    assert headers["Idempotent-Replayed"]["schema"] == {"type": "string", "const": "true"}
