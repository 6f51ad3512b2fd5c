"""Object-level authorisation (OWASP API1): a partner key of org B reaches none of org A's
records, route by route; vendor-only routes refuse every partner key. Every route of the app
must have its case here, so that a new endpoint without one fails this file."""

import base64
import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from prm_platform.declaration import PARTNER_ROLES
from prm_stack.testing import (
    as_role_user,
    by_role,
    check_refused,
    guarded_routes,
    role_route_id,
    signing_in,
)

from .conftest import PARTNER_SCOPES, VENDOR_SCOPES
from .rebate_helpers import deliver, won

_TODAY = dt.date.today().isoformat()
_PROOF = {"filename": "p.pdf", "content_type": "application/pdf",
          "content_base64": base64.b64encode(b"%PDF-1.4").decode()}


@dataclass
class Org:
    partner_id: str
    headers: dict[str, str]
    allocation: dict
    request: dict  # approved, claimed
    claim: dict
    open_request: dict  # submitted
    scoped: Callable[..., dict[str, str]]
    accrual: dict  # a rebate accrued on a won deal
    spiff_accrual: dict  # a SPIFF accrued on the same deal
    batch: dict  # a draft payout batch of both
    upload: dict  # a proof file uploaded, in no claim


@pytest.fixture
async def orgs(app, client, vendor, list_partner, as_partner) -> tuple[Org, Org]:
    budget = (await client.post("/v1/mdf/budgets", headers=vendor, json={
        "programme": f"bola-{uuid.uuid4().hex[:8]}", "period": "2025",
        "amount": {"amount": "10000.00", "currency": "EUR"}})).json()
    rebates = (await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": f"bola-{uuid.uuid4().hex[:8]}", "currency": "EUR", "basis": "tier",
        "starts_on": "2025-01-01", "ends_on": "2025-12-31", "rules": [{"rate": "2"}]})).json()
    spiff = (await client.post("/v1/spiffs", headers=vendor, json={
        "name": f"bola-{uuid.uuid4().hex[:8]}", "starts_on": "2025-01-01",
        "ends_on": "2025-12-31", "fixed_amount": {"amount": "10.00", "currency": "EUR"},
        "fund": {"amount": "100.00", "currency": "EUR"}})).json()
    found = []
    for _ in range(2):
        partner_id = await list_partner("active")
        headers = as_partner(partner_id)
        allocation = (await client.post("/v1/mdf/allocations", headers=vendor, json={
            "budget_id": budget["id"], "partner_id": str(partner_id),
            "amount": {"amount": "1000.00", "currency": "EUR"}})).json()
        body = {"allocation_id": allocation["id"], "activity_type": "event", "title": "Event",
                "start_date": _TODAY, "end_date": _TODAY,
                "planned_cost": {"amount": "100.00", "currency": "EUR"},
                "expected_outcomes": "leads"}
        request = (await client.post("/v1/mdf/requests", headers=headers, json=body)).json()
        await client.post(f"/v1/mdf/requests/{request['id']}/approve", headers=vendor)
        claim = await client.post("/v1/mdf/claims", headers=headers, json={
            "request_id": request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
            "description": "done", "proofs": [_PROOF]})
        assert claim.status_code == 201, claim.text
        open_request = (await client.post("/v1/mdf/requests", headers=headers, json=body)
                        ).json()
        async with app.state.sessionmaker() as session:
            await deliver(session, won(partner_id, "1000.00"))
            await session.commit()
        [accrual] = (await client.get("/v1/rebates/accruals", headers=vendor, params={
            "programme_id": rebates["id"], "partner_id": str(partner_id)})).json()["items"]
        [spiff_accrual] = (await client.get("/v1/spiffs/accruals", headers=vendor, params={
            "spiff_id": spiff["id"], "partner_id": str(partner_id)})).json()["items"]
        batch = await client.post("/v1/payouts/batches", headers=vendor, json={
            "partner_id": str(partner_id), "currency": "EUR", "period_from": "2025-01-01",
            "period_to": _TODAY})
        assert batch.status_code == 201, batch.text
        upload = await client.post("/v1/mdf/proofs", headers=headers, files={
            "file": ("p.pdf", b"%PDF-1.4", "application/pdf")})
        assert upload.status_code == 201, upload.text
        found.append(Org(str(partner_id), headers, allocation, request, claim.json(),
                         open_request, functools.partial(as_partner, partner_id), accrual,
                         spiff_accrual, batch.json(), upload.json()))
    return found[0], found[1]


def vendor_only(method: str, path: str, body: dict | None = None):
    """A route no partner key may use, even one holding every scope."""
    async def case(client, a: Org, b: Org) -> None:
        url = path.format(id="0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
                          request_id=a.open_request["id"], claim_id=a.claim["id"])
        headers = b.scoped((*PARTNER_SCOPES, *VENDOR_SCOPES))
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    return case


def hidden(method: str, path: str, body: dict | None = None):
    """A route on one of A's records: B gets the 404 of an unknown one, A does not."""
    async def case(client, a: Org, b: Org) -> None:
        def url(org: Org) -> str:
            return path.format(allocation_id=org.allocation["id"],
                               request_id=org.request["id"], claim_id=a.claim["id"],
                               proof_id=a.claim["proofs"][0]["id"],
                               upload_id=org.upload["id"],
                               accrual_id=org.accrual["id"],
                               spiff_accrual_id=org.spiff_accrual["id"],
                               batch_id=org.batch["id"])
        response = await client.request(method, url(a), json=body, headers=b.headers)
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/not-found"
        if method == "GET":
            assert (await client.get(url(a), headers=a.headers)).status_code == 200
    return case


def listing(path: str, key: str):
    async def case(client, a: Org, b: Org) -> None:
        seen = (await client.get(path, headers=b.headers)).json()["items"]
        assert seen and {item["partner_id"] for item in seen} == {b.partner_id}
        # Naming another org narrows its own list to nothing, as every list does.
        asked = await client.get(f"{path}?partner_id={a.partner_id}", headers=b.headers)
        assert asked.status_code == 200 and asked.json()["items"] == []
        own = (await client.get(path, headers=a.headers)).json()["items"]
        assert {item["id"] for item in own} >= {getattr(a, key)["id"]}
    return case


async def request_on_another_orgs_allocation(client, a: Org, b: Org) -> None:
    response = await client.post("/v1/mdf/requests", headers=b.headers, json={
        "allocation_id": a.allocation["id"], "activity_type": "event", "title": "Stolen",
        "start_date": _TODAY, "end_date": _TODAY,
        "planned_cost": {"amount": "1.00", "currency": "EUR"}, "expected_outcomes": "x"})
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"


async def claim_another_orgs_request(client, a: Org, b: Org) -> None:
    response = await client.post("/v1/mdf/claims", headers=b.headers, json={
        "request_id": a.request["id"], "amount": {"amount": "1.00", "currency": "EUR"},
        "description": "x", "proofs": [_PROOF]})
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"


async def upload_for_another_org(client, a: Org, b: Org) -> None:
    response = await client.post("/v1/mdf/proofs", headers=b.headers, data={
        "partner_id": a.partner_id}, files={"file": ("p.pdf", b"%PDF-1.4", "application/pdf")})
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"


async def presign_for_another_org(client, a: Org, b: Org) -> None:
    response = await client.post("/v1/mdf/proofs/presigned", headers=b.headers, json={
        "filename": "p.pdf", "content_type": "application/pdf", "size": 8, "sha256": "0" * 64,
        "partner_id": a.partner_id})
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"


async def revise_another_orgs_request(client, a: Org, b: Org) -> None:
    response = await client.patch(f"/v1/mdf/requests/{a.open_request['id']}",
                                  headers=b.headers, json={"title": "mine"})
    assert response.status_code == 404
    seen = await client.get(f"/v1/mdf/requests/{a.open_request['id']}", headers=a.headers)
    assert seen.json()["title"] == "Event"


async def another_orgs_statement(client, a: Org, b: Org) -> None:
    url = f"/v1/payouts/statement?partner_id={a.partner_id}&from=2025-01-01&to={_TODAY}"
    response = await client.get(url, headers=b.headers)
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"
    own = await client.get(url, headers=a.headers)
    assert own.status_code == 200 and own.json()["items"]


_ID = "/{id}"
CASES = {
    ("POST", "/v1/mdf/budgets"): vendor_only("POST", "/v1/mdf/budgets", {
        "programme": "x", "period": "2025", "amount": {"amount": "1.00", "currency": "EUR"}}),
    ("GET", "/v1/mdf/budgets"): vendor_only("GET", "/v1/mdf/budgets"),
    ("GET", "/v1/mdf/budgets/{budget_id}"): vendor_only("GET", "/v1/mdf/budgets" + _ID),
    ("POST", "/v1/mdf/allocations"): vendor_only("POST", "/v1/mdf/allocations", {
        "budget_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "amount": {"amount": "1.00", "currency": "EUR"}}),
    ("GET", "/v1/mdf/allocations"): listing("/v1/mdf/allocations", "allocation"),
    ("GET", "/v1/mdf/allocations/{allocation_id}"): hidden(
        "GET", "/v1/mdf/allocations/{allocation_id}"),
    ("POST", "/v1/mdf/requests"): request_on_another_orgs_allocation,
    ("GET", "/v1/mdf/requests"): listing("/v1/mdf/requests", "request"),
    ("GET", "/v1/mdf/requests/{request_id}"): hidden("GET", "/v1/mdf/requests/{request_id}"),
    ("PATCH", "/v1/mdf/requests/{request_id}"): revise_another_orgs_request,
    ("POST", "/v1/mdf/requests/{request_id}/approve"): vendor_only(
        "POST", "/v1/mdf/requests/{request_id}/approve"),
    ("POST", "/v1/mdf/requests/{request_id}/reject"): vendor_only(
        "POST", "/v1/mdf/requests/{request_id}/reject", {"reason": "no"}),
    ("POST", "/v1/mdf/requests/{request_id}/request-changes"): vendor_only(
        "POST", "/v1/mdf/requests/{request_id}/request-changes", {"reason": "no"}),
    ("POST", "/v1/mdf/claims"): claim_another_orgs_request,
    ("POST", "/v1/mdf/proofs"): upload_for_another_org,
    ("GET", "/v1/mdf/proofs/{proof_id}"): hidden("GET", "/v1/mdf/proofs/{upload_id}"),
    ("GET", "/v1/mdf/proofs/{proof_id}/content"): hidden(
        "GET", "/v1/mdf/proofs/{upload_id}/content"),
    ("POST", "/v1/mdf/proofs/presigned"): presign_for_another_org,
    ("POST", "/v1/mdf/proofs/{proof_id}/complete"): hidden(
        "POST", "/v1/mdf/proofs/{upload_id}/complete"),
    ("GET", "/v1/mdf/claims"): listing("/v1/mdf/claims", "claim"),
    ("GET", "/v1/mdf/claims/{claim_id}"): hidden("GET", "/v1/mdf/claims/{claim_id}"),
    ("GET", "/v1/mdf/claims/{claim_id}/proofs/{proof_id}"): hidden(
        "GET", "/v1/mdf/claims/{claim_id}/proofs/{proof_id}"),
    ("POST", "/v1/mdf/claims/{claim_id}/approve"): vendor_only(
        "POST", "/v1/mdf/claims/{claim_id}/approve"),
    ("POST", "/v1/mdf/claims/{claim_id}/reject"): vendor_only(
        "POST", "/v1/mdf/claims/{claim_id}/reject", {"reason": "no"}),
    ("GET", "/v1/ledger/accounts"): vendor_only("GET", "/v1/ledger/accounts"),
    ("GET", "/v1/ledger/accounts/{account_id}"): vendor_only("GET", "/v1/ledger/accounts" + _ID),
    ("GET", "/v1/ledger/accounts/{account_id}/entries"): vendor_only(
        "GET", "/v1/ledger/accounts/{id}/entries"),
    ("POST", "/v1/ledger/transfers"): vendor_only("POST", "/v1/ledger/transfers", {
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "debit_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "credit_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5c",
        "amount": {"amount": "1.00", "currency": "EUR"}}),
    ("POST", "/v1/ledger/transfer-batches"): vendor_only(
        "POST", "/v1/ledger/transfer-batches", {"transfers": [{
            "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
            "debit_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
            "credit_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5c",
            "amount": {"amount": "1.00", "currency": "EUR"}}]}),
    ("GET", "/v1/ledger/transfers"): vendor_only("GET", "/v1/ledger/transfers"),
    ("GET", "/v1/ledger/transfers/{transfer_id}"): vendor_only(
        "GET", "/v1/ledger/transfers" + _ID),
    ("POST", "/v1/ledger/transfers/{transfer_id}/post"): vendor_only(
        "POST", "/v1/ledger/transfers/{id}/post"),
    ("POST", "/v1/ledger/transfers/{transfer_id}/void"): vendor_only(
        "POST", "/v1/ledger/transfers/{id}/void"),
    ("POST", "/v1/ledger/fx-rates"): vendor_only("POST", "/v1/ledger/fx-rates", {
        "base": "EUR", "quote": "USD", "rate": "1.1", "effective_on": "2025-01-01"}),
    ("GET", "/v1/ledger/fx-rates"): vendor_only("GET", "/v1/ledger/fx-rates"),
    ("POST", "/v1/ledger/conversions"): vendor_only("POST", "/v1/ledger/conversions", {
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "source_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
        "destination_account_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5c",
        "amount": {"amount": "1.00", "currency": "EUR"}, "business_date": "2025-01-01"}),
    ("GET", "/v1/ledger/conversions/{conversion_id}"): vendor_only(
        "GET", "/v1/ledger/conversions" + _ID),
}

CASES.update({
    ("POST", "/v1/rebates/programmes"): vendor_only("POST", "/v1/rebates/programmes", {
        "name": "x", "currency": "EUR", "basis": "tier", "starts_on": "2025-01-01",
        "rules": [{"rate": "1"}]}),
    ("GET", "/v1/rebates/programmes"): vendor_only("GET", "/v1/rebates/programmes"),
    ("GET", "/v1/rebates/programmes/{programme_id}"): vendor_only(
        "GET", "/v1/rebates/programmes" + _ID),
    ("POST", "/v1/rebates/programmes/{programme_id}/true-ups"): vendor_only(
        "POST", "/v1/rebates/programmes/{id}/true-ups", {
            "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
            "period_from": "2025-01-01", "period_to": "2025-03-31"}),
    ("GET", "/v1/rebates/accruals"): listing("/v1/rebates/accruals", "accrual"),
    ("GET", "/v1/rebates/accruals/{accrual_id}"): hidden(
        "GET", "/v1/rebates/accruals/{accrual_id}"),
    ("POST", "/v1/rebates/accruals/{accrual_id}/reverse"): vendor_only(
        "POST", "/v1/rebates/accruals/{id}/reverse", {"reason": "undone"}),
    ("POST", "/v1/spiffs"): vendor_only("POST", "/v1/spiffs", {
        "name": "x", "starts_on": "2025-01-01", "ends_on": "2025-12-31", "rate": "1",
        "fund": {"amount": "1.00", "currency": "EUR"}}),
    ("GET", "/v1/spiffs"): vendor_only("GET", "/v1/spiffs"),
    ("GET", "/v1/spiffs/{spiff_id}"): vendor_only("GET", "/v1/spiffs" + _ID),
    ("GET", "/v1/spiffs/accruals"): listing("/v1/spiffs/accruals", "spiff_accrual"),
    ("GET", "/v1/spiffs/accruals/{accrual_id}"): hidden(
        "GET", "/v1/spiffs/accruals/{spiff_accrual_id}"),
    ("POST", "/v1/spiffs/accruals/{accrual_id}/reverse"): vendor_only(
        "POST", "/v1/spiffs/accruals/{id}/reverse", {"reason": "undone"}),
    ("POST", "/v1/payouts/batches"): vendor_only("POST", "/v1/payouts/batches", {
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "currency": "EUR",
        "period_from": "2025-01-01", "period_to": "2025-12-31"}),
    ("GET", "/v1/payouts/batches"): listing("/v1/payouts/batches", "batch"),
    ("GET", "/v1/payouts/batches/{batch_id}"): hidden("GET", "/v1/payouts/batches/{batch_id}"),
    ("POST", "/v1/payouts/batches/{batch_id}/approve"): vendor_only(
        "POST", "/v1/payouts/batches/{id}/approve"),
    ("GET", "/v1/payouts/batches/{batch_id}/export"): vendor_only(
        "GET", "/v1/payouts/batches/{id}/export?format=csv"),
    ("POST", "/v1/payouts/batches/{batch_id}/export"): vendor_only(
        "POST", "/v1/payouts/batches/{id}/export?format=csv"),
    ("POST", "/v1/payouts/batches/{batch_id}/paid"): vendor_only(
        "POST", "/v1/payouts/batches/{id}/paid", {"payment_reference": "X-1",
                                                  "paid_on": "2025-07-01"}),
    ("GET", "/v1/payouts/statement"): another_orgs_statement,
})

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_route_has_a_case(app):
    assert guarded_routes(app, PUBLIC) == set(CASES), \
        "add a BOLA case for each new route (and drop stale ones)"


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_orgs_records_are_out_of_reach(client, orgs, route):
    await CASES[route](client, *orgs)


# Partner users signed in by OIDC, one per partner role, on every route: those the role's
# scopes cover (as the contract lists them) and the others.
REACHED, REFUSED = by_role(CASES, PARTNER_ROLES)


@pytest.mark.parametrize(("role", "route"), REACHED, ids=role_route_id)
async def test_partner_users_reach_their_roles_routes(app, client, orgs, prm_issuer, role,
                                                      route):
    """As for a partner key: nothing of another org. A finance user reads its org's MDF,
    claims, accruals, payout batches and statement; a marketing user requests and claims
    funds too."""
    a, b = (as_role_user(org, prm_issuer, role) for org in orgs)
    with signing_in(app, prm_issuer):
        await CASES[route](client, a, b)


@pytest.mark.parametrize(("role", "route"), REFUSED, ids=role_route_id)
async def test_partner_users_are_refused_the_other_routes(app, client, list_partner,
                                                          prm_issuer, role, route):
    partner_id = await list_partner("active")
    with signing_in(app, prm_issuer):
        await check_refused(client, app, *route, prm_issuer.headers(role, partner_id=partner_id),
                            partner_id=str(partner_id))
