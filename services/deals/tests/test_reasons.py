"""Every reason the deal desk gives (a conflict's, a decision's, a rule trace's) carries a stable
code of the catalogue with exactly the catalogue's params, beside an English text that follows
from them; registrations stored before codes existed answer with the same codes, read back from
their texts; the docs list every code."""

import csv
import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from prm_deals import reasons
from prm_deals.matching.conflicts import Conflict
from prm_deals.matching.normalise import domain_key, name_key
from prm_deals.matching.score import Customer, compare
from prm_deals.registrations import lifecycle
from prm_deals.registrations.schemas import (
    ConditionCode,
    ConflictCode,
    DecisionCode,
    StatusReasonCode,
)
from prm_deals.rules.evaluate import Facts, decide, unmet

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "deal-registration.md"
CLOSE = (dt.date.today() + dt.timedelta(days=60)).isoformat()

# One example of each code's params: a new code without one here fails this file.
SAMPLES: dict[str, dict[str, Any]] = {
    "same_domain": {"domain": "acme.example"},
    "name_match": {"score": 0.93, "method": "same_pronunciation", "name": "mueller holding",
                   "matched": "muller holding"},
    "alias_match": {"score": 1.0, "method": "same_name", "name": "bmw", "matched": "bmw"},
    "same_country": {"country": "DE"},
    "different_country": {"country": "US", "other_country": "DE"},
    "earlier_in_batch": {"item": 3},
    "named_account": {},
    "no_conflict": {},
    "registered_first": {"registered_on": "2026-11-02", "protected_until": "2027-01-31"},
    "engagement_rule": {"rule": "Gold partners"},
    "engagement_rule_reason": {"rule": "Austria", "reason": "Austria is served directly."},
    "named_account_review": {},
    "possible_match_review": {},
    "not_one_of": {"condition": "partner_tiers", "value": None, "allowed": ["Gold", "Platinum"]},
    "no_product_among": {"products": ["EDGE-1", "EDGE-2"]},
    "bound_in_other_currency": {"condition": "amount_below", "currency": "EUR",
                                "bound_currency": "USD"},
    "amount_too_low": {"amount": "10.00", "bound": "50.00", "currency": "EUR"},
    "amount_too_high": {"amount": "90.00", "bound": "50.00", "currency": "EUR"},
    "private_offer": {},
    "not_private_offer": {},
    "conflict_not": {"wanted": "none"},
    "conflict_score_too_low": {"score": 0.87, "at_least": 0.9},
    "no_facts": {},
    "stated": {"reason": "The customer buys direct."},
    "protection_ended": {},
    "chosen_over_conflicts": {},
    "another_registration_chosen": {"deal_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
                                    "note": "The customer asked for this partner."},
}


def check(coded: dict[str, Any] | reasons.Reason, where: str | None = None) -> None:
    """A known code, with its params exactly, and the text they make."""
    found = coded if isinstance(coded, dict) else coded.as_json()
    assert found["code"] in reasons.CODES, found
    entry = reasons.CODES[found["code"]]
    assert where is None or entry.where == where, (found, where)
    assert set(found["params"]) == set(entry.params), found
    assert found["text"] == reasons.reason(found["code"], **found["params"]).text


def test_every_code_has_a_sample_and_a_text():
    assert set(SAMPLES) == set(reasons.CODES)
    for code, params in SAMPLES.items():
        made = reasons.reason(code, **params)
        check(made)
        assert made.text or code == "no_conflict"
    with pytest.raises(TypeError):
        reasons.reason("same_domain")  # params are the catalogue's, exactly


def test_the_contract_enums_are_the_catalogue():
    def args(codes: Any) -> set[str]:  # a named enum of the contract
        return {code.value for code in codes}
    for where, alias in (("conflict", ConflictCode), ("decision", DecisionCode),
                         ("rule_trace", ConditionCode), ("status_reason", StatusReasonCode)):
        assert args(alias) == {c for c, k in reasons.CODES.items() if k.where == where}


@pytest.mark.parametrize("code", [c for c, k in reasons.CODES.items() if k.where == "conflict"])
def test_a_conflict_reason_stored_as_text_reads_back_to_its_code(code):
    made = reasons.reason(code, **SAMPLES[code])
    assert reasons.parse_conflict(made.text) == made


@pytest.mark.parametrize(("status", "code", "params"), [
    ("expired", "protection_ended", {}),
    ("approved", "chosen_over_conflicts", {}),
    ("rejected", "another_registration_chosen", SAMPLES["another_registration_chosen"]),
    ("rejected", "another_registration_chosen", {
        "deal_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "note": None}),
    ("lost", "stated", {"reason": "Budget cut: the project was cancelled."}),
    # A person may write what the service writes; where the status says otherwise, it is theirs.
    ("lost", "stated", {"reason": "the protection period ended"}),
])
def test_a_status_reason_reads_as_its_code(status, code, params):
    made = reasons.reason(code, **params)
    assert reasons.status_reason_of(status, made.text) == made
    assert reasons.status_reason_of(status, None) is None


def _pairs() -> list[dict[str, str]]:
    rows = []
    for file in ("customer_pairs.csv", "customer_pairs_holdout.csv"):
        with (DATA / file).open(newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def test_every_reason_of_the_matcher_is_coded_and_reads_back():
    methods = set()
    for row in _pairs():
        aliases = tuple(name_key(a) for a in row["b_aliases"].split("|") if a)
        match = compare(Customer(name_key(row["a_name"]), domain_key(row["a_domain"] or None),
                                 row["a_country"]),
                        Customer(name_key(row["b_name"]), domain_key(row["b_domain"] or None),
                                 row["b_country"]), alias_names=aliases)
        assert match.reasons == [d.text for d in match.details]
        for detail in match.details:
            check(detail, "conflict")
            # What the matcher wrote before codes existed reads back to the same code.
            assert reasons.parse_conflict(detail.text) == detail
            methods.add(detail.params.get("method"))
    # Every way of finding names alike occurs in the labelled pairs (but "no name").
    assert methods - {None} == set(reasons.NAME_METHODS) - {"no_name"}


def _facts(**more: Any) -> Facts:
    return Facts(**{"partner_tier": "Gold", "partner_type": "msp", "country": "DE",
                    "deal_type": "new", "skus": frozenset({"A"}), "amount": Decimal("100.00"),
                    "currency": "EUR", "private_offer": False, **more})


def _conflict(kind: str, score: float, partner_id: uuid.UUID | None = None) -> Conflict:
    return Conflict(kind=kind, id=uuid.uuid4(), score=score, customer_name="Acme",
                    reasons=[reasons.reason("same_country", country="DE")],
                    partner_id=partner_id, status="submitted",
                    registered_at=dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC),
                    protected_until=dt.date(2027, 1, 31))


def _rule(outcome: str, reason: str | None = None, **conditions: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "name": f"{outcome} rule", "version": 1,
            "conditions": conditions, "outcome": outcome, "reason": reason,
            "protection_days": None}


ME = uuid.uuid4()
DECISIONS = {
    "no_conflict": (_facts(), [], []),
    "registered_first": (_facts(), [_conflict("registration", 1.0, uuid.uuid4())], []),
    "engagement_rule": (_facts(), [], [_rule("approve")]),
    "engagement_rule_reason": (_facts(), [], [_rule("reject", "Not in Austria.")]),
    "named_account_review": (_facts(), [_conflict("direct_account", 0.9)], []),
    "possible_match_review": (_facts(), [_conflict("registration", 0.9, uuid.uuid4())], []),
}


@pytest.mark.parametrize("code", sorted(DECISIONS))
def test_every_decision_is_coded_and_reads_back(code):
    facts, found, rules = DECISIONS[code]
    record = decide(ME, found, facts, rules).record()
    assert record["code"] == code
    check({**record, "text": record["reason"] or ""}, "decision")
    # A decision stored before codes existed reads back to the same code and params.
    legacy = {k: record[k] for k in ("outcome", "reason", "rule")}
    assert reasons.decision_of(legacy) == record
    assert reasons.decision_of(record) is record


def test_every_failed_condition_of_a_rule_is_coded():
    failed = unmet({"partner_tiers": ["Platinum"], "partner_types": ["isv"],
                    "countries": ["FR"], "deal_types": ["renewal"], "products": ["B"],
                    "amount_at_least": {"amount": "500.00", "currency": "EUR"},
                    "amount_below": {"amount": "50.00", "currency": "EUR"},
                    "private_offer": True, "conflict": "any", "conflict_score_at_least": 0.9},
                   _facts(), [])
    failed += unmet({"amount_below": {"amount": "50", "currency": "USD"},
                     "private_offer": False, "conflict": "none"},
                    _facts(private_offer=True), [_conflict("direct_account", 0.88)])
    for reason in failed:
        check(reason, "rule_trace")
    assert {r.code for r in failed} == {
        c for c, k in reasons.CODES.items() if k.where == "rule_trace"} - {"no_facts"}
    # Amounts are decimal strings, never floats.
    [low] = [r for r in failed if r.code == "amount_too_low"]
    assert low.params == {"amount": "100.00", "bound": "500.00", "currency": "EUR"}
    trace = decide(ME, [], None, [_rule("approve")]).trace
    assert trace[0]["failed_codes"] == [reasons.reason("no_facts").as_json()]


def test_the_docs_list_every_code_and_method():
    docs = DOCS.read_text()
    missing = [c for c in [*reasons.CODES, *reasons.NAME_METHODS] if f"`{c}`" not in docs]
    assert not missing, f"docs/deal-registration.md does not list {missing}"


# Through the API: what the registering partner, the vendor and the dry run are answered.

def _registration(name: str, domain: str, **more: Any) -> dict[str, Any]:
    return {"customer": {"name": name, "domain": domain, "country": "DE"},
            "amount": {"amount": "1000.00", "currency": "EUR"}, "expected_close_date": CLOSE,
            **more}


def _every_reason(deal: dict[str, Any]) -> None:
    for conflict in deal["conflicts"]:
        assert [r["text"] for r in conflict["reason_codes"]] == conflict["reasons"]
        for coded in conflict["reason_codes"]:
            check(coded, "conflict")
    decision = deal["decision"]
    check({"code": decision["code"], "params": decision["params"],
           "text": decision["reason"] or ""}, "decision")


async def test_the_api_answers_coded_reasons_also_for_registrations_stored_as_text(
        client, list_partner, as_partner, vendor):
    word = uuid.uuid4().hex[:10]
    first = as_partner(await list_partner("active"))
    second = as_partner(await list_partner("active"))
    made = await client.post("/v1/deals", headers=first,
                             json=_registration(f"Rs{word} Werke AG", f"rs{word}.example"))
    assert made.status_code == 201, made.text
    later = await client.post("/v1/deals", headers=second,
                              json=_registration(f"RS{word} WERKE", f"shop.rs{word}.example"))
    assert later.status_code == 201, later.text
    taken = later.json()
    assert taken["decision"]["code"] == "registered_first"
    assert [r["code"] for r in taken["conflicts"][0]["reason_codes"]] == [
        "same_domain", "name_match", "same_country"]
    _every_reason(taken)
    as_vendor = (await client.get(f"/v1/deals/{taken['id']}", headers=vendor)).json()
    _every_reason(as_vendor)

    # A registration stored before codes existed (reasons as text only) answers the same.
    await client.connection.execute(text(
        "UPDATE deals SET decision = decision - 'code' - 'params', conflicts = (SELECT "
        "jsonb_agg(c - 'reason_codes') FROM jsonb_array_elements(conflicts) c) WHERE id = :id"),
        {"id": taken["id"]})
    stored = (await client.connection.execute(text(
        "SELECT decision, conflicts FROM deals WHERE id = :id"), {"id": taken["id"]})).one()
    assert "code" not in stored.decision and "reason_codes" not in stored.conflicts[0]
    assert (await client.get(f"/v1/deals/{taken['id']}", headers=second)).json() == taken
    assert (await client.get(f"/v1/deals/{taken['id']}", headers=vendor)).json() == as_vendor

    checked = await client.post("/v1/deals/conflict-check", headers=vendor, json={
        "customer": _registration(f"Rs{word} Werke", f"rs{word}.example")["customer"]})
    _every_reason(checked.json())

    pushed = await client.post("/v1/deal-batches", headers=vendor, json={"registrations": [
        {**_registration(f"Rb{word} Mühle", f"rb{word}.example"),
         "partner_id": made.json()["partner_id"]},
        {**_registration(f"Rb{word} Muehle", f"rb{word}.example"),
         "partner_id": taken["partner_id"]}]})
    assert pushed.status_code == 200, pushed.text
    second_item = pushed.json()["items"][1]["deal"]
    _every_reason(second_item)
    assert "earlier_in_batch" in {
        r["code"] for c in second_item["conflicts"] for r in c["reason_codes"]}


async def test_a_partner_sees_a_direct_account_only_as_a_named_account(
        client, list_partner, as_partner, prm_infra):
    from prm_stack.testing import vendor_headers
    admin = vendor_headers(prm_infra.internal_secret, ("direct_accounts:write",))
    word = uuid.uuid4().hex[:10]
    account = await client.post("/v1/direct-accounts", headers=admin, json={
        "name": f"Rd{word} Direkt GmbH", "domain": f"rd{word}.example", "country": "DE"})
    assert account.status_code == 201, account.text
    partner = as_partner(await list_partner("active"))
    deal = (await client.post("/v1/deals", headers=partner, json=_registration(
        f"Rd{word} Direkt", f"rd{word}.example"))).json()
    [conflict] = deal["conflicts"]
    # The account's name keys stay the vendor's: a partner is told only that it is one.
    assert conflict["reason_codes"] == [reasons.reason("named_account").as_json()]
    assert not re.search(word, str(conflict))
    assert deal["decision"]["code"] == "named_account_review"


async def test_status_reasons_are_coded(client, list_partner, as_partner, vendor, app):
    word = uuid.uuid4().hex[:10]
    first = as_partner(await list_partner("active"))
    second = as_partner(await list_partner("active"))
    one = (await client.post("/v1/deals", headers=first, json=_registration(
        f"Rq{word} Optik", f"{uuid.uuid4().hex[:10]}.example"))).json()
    other = (await client.post("/v1/deals", headers=second, json=_registration(
        f"Rq{word} Optik Vertrieb", f"{uuid.uuid4().hex[:10]}.example"))).json()
    assert other["status"] == "in_review" and other["status_reason_code"] is None
    # A reason at the limit of 500 characters still fits the loser's, clipped.
    note = "x" * 500
    resolved = await client.post(f"/v1/deals/{other['id']}/resolve-conflict", headers=vendor,
                                 json={"reason": note})
    assert resolved.status_code == 200, resolved.text
    winner = resolved.json()["winner"]
    assert (winner["status_reason_code"], winner["status_reason_params"]) == (
        "stated", {"reason": note})
    loser = (await client.get(f"/v1/deals/{one['id']}", headers=first)).json()
    assert loser["status_reason_code"] == "another_registration_chosen"
    assert loser["status_reason_params"]["deal_id"] == other["id"]
    assert note.startswith(loser["status_reason_params"]["note"])
    assert len(loser["status_reason"]) == 500

    third = (await client.post("/v1/deals", headers=first, json=_registration(
        f"Rt{word} Logistik", f"{uuid.uuid4().hex[:10]}.example"))).json()
    chosen = (await client.post(f"/v1/deals/{third['id']}/resolve-conflict",
                                headers=vendor)).json()["winner"]
    assert chosen["status_reason_code"] == "chosen_over_conflicts"
    await client.connection.execute(text(
        "UPDATE deals SET protected_until = CURRENT_DATE - 1 WHERE id = :id"), {"id": third["id"]})
    async with app.state.sessionmaker() as session:
        await lifecycle.expire(session)
        await session.commit()
    expired = (await client.get(f"/v1/deals/{third['id']}", headers=first)).json()
    assert expired["status"] == "expired"
    assert (expired["status_reason_code"], expired["status_reason_params"]) == (
        "protection_ended", {})
