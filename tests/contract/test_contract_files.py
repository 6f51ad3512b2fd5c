"""The committed contract files match the code, and say what front ends rely on."""

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("generate_contracts",
                                               ROOT / "scripts" / "generate_contracts.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


def test_committed_contract_files_are_current():
    for path, text in generate.rendered().items():
        assert path.exists(), f"{path.name} is missing: run `make openapi`"
        assert path.read_text() == text, f"{path.name} is stale: run `make openapi` and commit"


def test_every_operation_is_documented():
    contract = json.loads(generate.OPENAPI.read_text())

    def shared(response: dict) -> dict:  # a problem answer is a components/responses entry
        if "$ref" in response:
            return contract["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        return response

    assert contract["openapi"].startswith("3.1")
    operation_ids = set()
    for path, item in contract["paths"].items():
        assert path.startswith("/v1/")
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where} has no summary"
            assert operation.get("tags"), f"{where} has no tag"
            op_id = operation["operationId"]
            tag = operation["tags"][0].replace(" ", "-")
            assert op_id.startswith(tag + "-"), f"{where}: {op_id}"
            operation_ids.add(op_id)
            # An API key or a portal user's OIDC token, with the scopes the operation needs.
            [key, user] = operation["security"]
            assert key["ApiKey"] and key["ApiKey"] == user["Oidc"], where
            errors = {s: shared(r) for s, r in operation["responses"].items() if s[0] in "45"}
            assert "401" in errors and "422" in errors, f"{where} lacks its error responses"
            for status, response in errors.items():
                assert "application/problem+json" in response["content"], f"{where} {status}"
            if method == "post":
                names = {p["name"] for p in operation.get("parameters", [])}
                assert "Idempotency-Key" in names, f"{where} takes no Idempotency-Key"
            for parameter in operation.get("parameters", []):
                assert parameter["name"].lower() != "x-prm-principal"
    assert len(operation_ids) >= 12
    assert {"partners-create-partner", "deals-register-deal"} <= operation_ids


# Numbers that are not amounts: match scores between 0 and 1.
NOT_MONEY = {"score", "conflict_score_at_least"}


def _numbers(node, name=None):
    """(property name, schema) of every JSON number in the contract."""
    if isinstance(node, list):
        for item in node:
            yield from _numbers(item, name)
    elif isinstance(node, dict):
        if node.get("type") == "number":
            yield name, node
        for key, value in node.items():
            if key == "properties":
                for prop, schema in value.items():
                    yield from _numbers(schema, prop)
            else:
                yield from _numbers(value, name)


def test_no_float_in_money():
    schemas = json.loads(generate.OPENAPI.read_text())["components"]["schemas"]
    assert schemas["Money"]["properties"]["amount"]["type"] == "string"
    for name, schema in _numbers(schemas):
        assert name in NOT_MONEY, f"a float crept into the contract: {name} {schema}"
        assert schema.get("minimum") == 0 and schema.get("maximum") == 1


def test_asyncapi_lists_every_event_type():
    from prm_contracts import CONTRACTS

    document = yaml.safe_load(generate.ASYNCAPI.read_text())
    assert document["asyncapi"].startswith("3.")
    assert set(document["components"]["messages"]) == set(CONTRACTS)
    for name, model in CONTRACTS.items():
        assert name in document["channels"][model.topic]["messages"]
