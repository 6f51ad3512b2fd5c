"""Every example in the committed contract validates against the schema it illustrates
(JSON Schema 2020-12, as OpenAPI 3.1 uses it): what client generators and mock servers take
from the contract must be right."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

CONTRACT = json.loads(
    (Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def examples(node: Any, pointer: str = "") -> Iterator[tuple[str, str, Any]]:
    """(where the example is, pointer to its schema, the example value), everywhere."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    if "schema" in node:  # a media type or a parameter: example / examples {name: {value}}
        if "example" in node:
            yield f"{pointer}/example", f"{pointer}/schema", node["example"]
        for name, example in (node.get("examples") or {}).items():
            if isinstance(example, dict) and "value" in example:
                yield (f"{pointer}/examples/{_escape(name)}", f"{pointer}/schema",
                       example["value"])
    elif isinstance(node.get("examples"), list):  # a schema with its own examples
        for index, value in enumerate(node["examples"]):
            yield f"{pointer}/examples/{index}", pointer, value
    for key, value in node.items():
        if key not in ("examples", "example"):
            yield from examples(value, f"{pointer}/{_escape(key)}")


FOUND = list(examples(CONTRACT))


def test_the_contract_has_examples_to_check():
    assert len(FOUND) >= 20
    assert any("/requestBody/" in where for where, _, _ in FOUND)
    assert any(where.startswith("/components/schemas/") for where, _, _ in FOUND)


@pytest.mark.parametrize("where, schema, value", FOUND, ids=[w for w, _, _ in FOUND])
def test_example_validates_against_its_schema(where, schema, value):
    # The whole contract is the root, so that #/components/... references resolve.
    validator = jsonschema.Draft202012Validator(
        {**CONTRACT, "$ref": f"#{schema}"}, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(value)]
    assert not errors, f"{where}: {errors}"
