"""The reference partner portal (examples/partner-portal) in a real headless Chromium, against
the whole stack with OIDC on, signed in through a real OpenID provider (see conftest.py).

One partner's user signs in (authorization code + PKCE S256, checked on the wire), reads the
home's figures (equal to what the services hold, read with the admin key), lists deals with a
filter, a sort, a search and pages, registers a deal, sees the conflict warning for a customer
another partner registered first, uploads a proof and claims MDF with it; the vendor approves
the deal and the notification arrives over the open page's event stream, which also resumes
after the read model's API is killed, with Last-Event-ID; a second partner's user sees none of
the first's deals or notifications; signing out ends the session. A screenshot of each screen
is kept (the path is printed at the end of the run).

The tests run in order on one stack and share its data (module-scoped fixtures).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from prm_stack.testing import eventually

pytestmark = pytest.mark.stack

OPEN = ("submitted", "in_review", "approved")
PDF = b"%PDF-1.4\n% attendance list and venue invoice of the partner webinar\n"
# Partner A's customers (registered on its behalf by the vendor before the browser opens).
CUSTOMERS = [("Initech LLC", "initech.example", "US", "12000.00", "USD"),
             ("Globex Corporation", "globex.example", "FR", "48000.00", "EUR"),
             ("Umbrella Health", "umbrella-health.example", "GB", "30000.00", "GBP"),
             ("Soylent Foods", "soylent.example", "US", "9000.00", "USD"),
             ("Wonka Industries", "wonka.example", "GB", "15500.00", "GBP"),
             ("Stark Analytics", "stark-analytics.example", "US", "99000.00", "USD"),
             ("Tyrell Systems", "tyrell.example", "JP", "7000000", "JPY"),
             ("Cyberdyne Robotics", "cyberdyne.example", "US", "64000.00", "USD"),
             ("Massive Dynamic", "massive-dynamic.example", "CA", "21000.00", "CAD"),
             ("Hooli Cloud", "hooli.example", "US", "33000.00", "USD"),
             ("Pied Piper", "piedpiper.example", "US", "5000.00", "USD")]
CONTESTED = ("Vandelay Industries Inc.", "vandelay.example", "US")  # partner B's, first


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


@dataclass
class World:
    """What the scenario made, shared by the tests in order."""

    api: httpx.Client
    admin: dict[str, str]
    idp: Any  # conftest.IdentityProvider
    portal_url: str
    artefacts: Path
    partner_a: str = ""
    partner_b: str = ""
    request_id: str = ""
    deals_a: list[str] = field(default_factory=list)
    deal_b: str = ""
    registered: str = ""  # the deal partner A's user registers in the browser
    streams: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.artefacts / f"{name}.png"), full_page=True)


def active_partner(api: httpx.Client, admin: dict[str, str], name: str, country: str) -> str:
    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": name, "type": "reseller", "country": country}), 201)
    ok(api.post(f"/v1/partners/{partner['id']}/activate", headers=admin))
    return str(partner["id"])


def register(api: httpx.Client, admin: dict[str, str], partner_id: str, name: str, domain: str,
             country: str, amount: str, currency: str) -> str:
    """A registration on the partner's behalf, retried while the deals service has not heard
    of the partner yet (its events travel through the broker)."""
    key = str(uuid.uuid4())
    body = {"partner_id": partner_id, "customer": {"name": name, "domain": domain,
                                                   "country": country},
            "amount": {"amount": amount, "currency": currency},
            "expected_close_date": (dt.date.today() + dt.timedelta(days=90)).isoformat()}

    def attempt() -> Any:
        response = api.post("/v1/deals", headers={**admin, "Idempotency-Key": key}, json=body)
        return response.status_code == 201 and response.json()
    return str(eventually(attempt, f"the deals service accepting {name}")["id"])


@pytest.fixture(scope="module")
def world(portal_stack: Any, identity_provider: Any, artefacts: Path
          ) -> Iterator[World]:
    admin = {"Authorization": f"Bearer {portal_stack.admin_key}"}
    portal_url = portal_stack.info["portal_url"]
    assert portal_url, "the stack serves no portal: PRM_PORTAL_OIDC_CLIENT_ID and the build"
    with httpx.Client(base_url=portal_stack.gateway_url, timeout=30, trust_env=False) as api:
        w = World(api=api, admin=admin, idp=identity_provider, portal_url=portal_url,
                  artefacts=artefacts)
        w.partner_a = active_partner(api, admin, "Northwind Systems GmbH", "DE")
        w.partner_b = active_partner(api, admin, "Contoso Networks Ltd", "GB")
        identity_provider.add_user("ana@northwind.example", name="Ana Lima",
                                   email="ana@northwind.example", locale="en",
                                   prm_partner_id=w.partner_a, roles=["partner_admin"])
        identity_provider.add_user("bo@contoso.example", name="Bo Chen",
                                   email="bo@contoso.example", locale="en",
                                   prm_partner_id=w.partner_b, roles=["partner_admin"])
        w.deal_b = register(api, admin, w.partner_b, *CONTESTED, "80000.00", "USD")
        w.deals_a = [register(api, admin, w.partner_a, *customer) for customer in CUSTOMERS]
        # One of A's registrations turned down by the channel team: a status to filter on.
        rejected = api.get(f"/v1/deals/{w.deals_a[0]}", headers=admin)
        ok(api.post(f"/v1/deals/{w.deals_a[0]}/reject", json={"reason": "Duplicate of a "
                    "direct opportunity"}, headers={**admin, "If-Match": rejected.headers["etag"]}))

        # MDF: a budget, an allocation to A and an approved fund request it can claim.
        today = dt.date.today()
        budget = ok(api.post("/v1/mdf/budgets", headers=admin, json={
            "programme": "portal-test", "period": f"{today.year}-H2",
            "amount": {"amount": "10000.00", "currency": "EUR"}}), 201)
        allocation = eventually(lambda: (r := api.post("/v1/mdf/allocations", headers=admin, json={
            "budget_id": budget["id"], "partner_id": w.partner_a,
            "amount": {"amount": "4000.00", "currency": "EUR"}})).status_code == 201 and r.json(),
            "the incentives service knowing partner A")
        submitted = api.post("/v1/mdf/requests", headers=admin, json={
            "allocation_id": allocation["id"], "activity_type": "webinar",
            "title": "Zero-trust webinar series", "start_date": today.isoformat(),
            "end_date": (today + dt.timedelta(days=10)).isoformat(),
            "planned_cost": {"amount": "2500.00", "currency": "EUR"},
            "expected_outcomes": "300 registrations, 40 qualified leads"})
        w.request_id = ok(submitted, 201)["id"]
        ok(api.post(f"/v1/mdf/requests/{w.request_id}/approve", json={"reason": "Fits the plan"},
                    headers={**admin, "If-Match": submitted.headers["etag"]}))
        yield w


@pytest.fixture(scope="module")
def page_a(world: World, browser: Any, browsers: Any) -> Iterator[Any]:
    context = new_context(browser)
    page = context.new_page()
    page.set_default_timeout(20_000)
    browsers.watch("partner-a", page)
    watch_streams(world, page, "a")
    yield page
    context.close()


@pytest.fixture(scope="module")
def page_b(world: World, browser: Any, browsers: Any) -> Iterator[Any]:
    context = new_context(browser)
    page = context.new_page()
    page.set_default_timeout(20_000)
    browsers.watch("partner-b", page)
    watch_streams(world, page, "b")
    yield page
    context.close()


def new_context(browser: Any) -> Any:
    """A browser profile of its own, which reaches this machine only (the provider's pages
    name a stylesheet on the internet: it is not fetched)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"),
                  lambda route: route.abort("blockedbyclient"))
    return context


def watch_streams(world: World, page: Any, who: str) -> None:
    """Every connection the page makes to the notification stream, with its headers."""
    seen = world.streams.setdefault(who, [])
    page.on("request", lambda request: seen.append(request.headers)
            if request.url.endswith("/v1/notifications/stream") else None)


def sign_in(world: World, page: Any, sub: str) -> dict[str, list[str]]:
    """Through the provider's page; returns the parameters of the authorization request and
    of the token request, as the browser sent them."""
    sent: dict[str, dict[str, list[str]]] = {}

    def record(request: Any) -> None:
        if request.url.startswith(f"{world.idp.url}/oauth2/authorize?"):
            sent["authorize"] = parse_qs(urlsplit(request.url).query)
        elif request.url == f"{world.idp.url}/oauth2/token" and request.method == "POST":
            sent["token"] = parse_qs(request.post_data or "")

    page.on("request", record)
    page.goto(world.portal_url)
    page.click("#sign-in")
    page.wait_for_url(f"{world.idp.url}/oauth2/authorize*")
    page.fill("input[name=sub]", sub)
    page.click("button:has-text('Authorize')")
    page.wait_for_url(f"{world.portal_url}#/home")
    page.wait_for_selector("#sign-out")
    page.remove_listener("request", record)
    return {**{f"authorize.{k}": v for k, v in sent["authorize"].items()},
            **{f"token.{k}": v for k, v in sent["token"].items()}}


def session_token(page: Any) -> str:
    return str(page.evaluate("JSON.parse(sessionStorage.getItem('prm.portal.session')).apiToken"))


def within(page: Any, seconds: float, check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` while the page runs (Playwright hands its events over only while the
    test waits on it, not in a plain sleep)."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:.0f}s"
        page.wait_for_timeout(100)
    return found


# -- the scenario ------------------------------------------------------------------------------

def test_the_edge_serves_the_portal_and_its_settings(world: World, identity_provider: Any,
                                                     portal_stack: Any) -> None:
    assert f"Portal        {world.portal_url}\n" in portal_stack.output()  # make run's banner
    with httpx.Client(base_url=world.portal_url.removesuffix("/portal/"), trust_env=False,
                      timeout=10) as edge:
        moved = edge.get("/portal")
        assert moved.status_code == 308 and moved.headers["location"] == "/portal/"
        index = edge.get("/portal/")
        assert index.status_code == 200 and '<script type="module" src="app.js">' in index.text
        assert index.headers["cache-control"] == "no-cache"
        config = edge.get("/portal/config.json")
        assert config.status_code == 200 and config.headers["cache-control"] == "no-cache"
        assert config.json() == {"issuer": identity_provider.url,
                                 "client_id": "prm-partner-portal", "api_base_url": "",
                                 "scope": "openid profile email", "api_token": "id_token"}
        missing = edge.get("/portal/nothing-here.js")
        assert missing.status_code == 404, missing.text  # not the 503 of a service down
        # The API's paths are the API's still.
        assert edge.get("/v1/deals").status_code == 401


def test_sign_in_with_authorization_code_and_pkce(world: World, page_a: Any) -> None:
    sent = sign_in(world, page_a, "ana@northwind.example")
    # PKCE S256: the verifier the token request proves is the one the challenge was made of.
    [challenge] = sent["authorize.code_challenge"]
    [method] = sent["authorize.code_challenge_method"]
    [verifier] = sent["token.code_verifier"]
    assert method == "S256"
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()
    assert sent["authorize.response_type"] == ["code"] and sent["authorize.nonce"]
    assert sent["authorize.redirect_uri"] == [world.portal_url]
    assert sent["token.grant_type"] == ["authorization_code"]
    assert "client_secret" not in " ".join(sent)  # a public client
    # The code and state are gone from the address bar; the token is in sessionStorage only.
    assert page_a.url == f"{world.portal_url}#/home"
    assert page_a.evaluate("localStorage.length") == 0
    token = session_token(page_a)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["prm_partner_id"] == world.partner_a
    assert claims["aud"] in ("prm-partner-portal", ["prm-partner-portal"])
    # The API takes it: the user's own org.
    me = ok(world.api.get(f"/v1/partners/{world.partner_a}",
                          headers={"Authorization": f"Bearer {token}"}))
    assert me["name"] == "Northwind Systems GmbH"
    page_a.wait_for_selector("#org:has-text('Northwind Systems GmbH')")  # GET /v1/me
    assert page_a.inner_text("#who") == "Ana Lima"
    world.shot(page_a, "01-signed-in")


def test_home_figures_are_what_the_services_hold(world: World, page_a: Any) -> None:
    api, admin, partner = world.api, world.admin, world.partner_a
    page_a.goto(f"{world.portal_url}#/home")

    def expected() -> dict[str, str]:
        def count(path: str, **query: Any) -> int:
            page = ok(api.get(path, headers=admin, params={**query, "include": "total_count",
                                                           "limit": 1}))
            return int(page["total_count"])
        org = ok(api.get(f"/v1/partners/{partner}", headers=admin))
        figures = {"partner.name": org["name"], "partner.status": org["status"],
                   "deals.open": str(count("/v1/deals", partner_id=partner, status=",".join(OPEN))),
                   "mdf.claims_awaiting_decision": str(count("/v1/mdf/claims", partner_id=partner,
                                                             status="submitted"))}
        for status in ("submitted", "rejected"):
            figures[f"deals.by_status.{status}"] = str(count("/v1/deals", partner_id=partner,
                                                             status=status))
        available: dict[str, Decimal] = {}
        for allocation in ok(api.get("/v1/mdf/allocations", headers=admin,
                                     params={"partner_id": partner, "limit": 200}))["items"]:
            money = allocation["available"]
            available[money["currency"]] = available.get(money["currency"], Decimal(0)) + \
                Decimal(money["amount"])
        for currency, amount in available.items():
            figures[f"mdf.available.{currency}"] = str(amount)
        return figures

    def shown(names: list[str]) -> dict[str, str]:
        values = {}
        for name in names:
            if name.startswith("mdf.available."):
                currency = name.rsplit(".", 1)[1]
                cell = page_a.locator("[data-figure='mdf.available'] "
                                      f"li[data-currency='{currency}']")
                values[name] = (str(Decimal(cell.get_attribute("data-amount")))
                                if cell.count() else "-")
            else:
                cell = page_a.locator(f"[data-figure='{name}']")
                values[name] = (cell.get_attribute("data-value") or "-") if cell.count() else "-"
        return values

    # The read model follows the events: the figures are equal once it has caught up.
    deadline = time.monotonic() + 30
    while True:
        want = expected()
        page_a.click("#home-refresh")
        page_a.wait_for_selector("#home")
        got = shown(list(want))
        if got == want or time.monotonic() > deadline:
            break
        page_a.wait_for_timeout(500)
    assert got == want
    for section in ("partner", "tier", "onboarding", "deals", "mdf", "accruals", "payouts",
                    "certifications"):
        assert page_a.locator(f"[data-section='{section}']").count() == 1, section
    world.shot(page_a, "02-home")


def test_deal_list_filters_sorts_searches_and_pages(world: World, page_a: Any) -> None:
    api, admin = world.api, world.admin
    page_a.goto(f"{world.portal_url}#/deals")
    page_a.wait_for_selector("#deal-table")
    every = ok(api.get("/v1/deals", headers=admin, params={
        "partner_id": world.partner_a, "include": "total_count", "limit": 200}))
    assert page_a.get_attribute("#deal-count", "data-count") == str(every["total_count"])
    # Newest first, 10 a page, the next page by its cursor and back.
    newest = sorted((d["id"] for d in every["items"]), reverse=True)  # UUIDv7: by creation
    rows = lambda: page_a.eval_on_selector_all(  # noqa: E731
        "#deal-table tbody tr", "rows => rows.map(r => r.dataset.dealId)")
    assert rows() == newest[:10]
    world.shot(page_a, "03-deals")
    page_a.click("#deals-next")
    page_a.wait_for_function("document.querySelector('#deals-previous') && "
                             "!document.querySelector('#deals-previous').disabled")
    assert rows() == newest[10:20]
    assert page_a.is_disabled("#deals-next")
    page_a.click("#deals-previous")
    page_a.wait_for_function("document.querySelector('#deals-previous').disabled")
    assert rows() == newest[:10]

    # Only submitted ones, A to Z by customer: what the API answers the vendor for this org.
    page_a.check("input[name=status][value=submitted]")
    page_a.select_option("select[name=sort]", "customer_name")
    page_a.click("#deal-filters button[type=submit]")
    expected = ok(api.get("/v1/deals", headers=admin, params={
        "partner_id": world.partner_a, "status": "submitted", "sort": "customer_name",
        "limit": 10, "include": "total_count"}))
    page_a.wait_for_function(f"document.querySelector('#deal-count')?.dataset.count === "
                             f"'{expected['total_count']}'")
    assert rows() == [d["id"] for d in expected["items"]]
    names = page_a.eval_on_selector_all("#deal-table td[data-column=customer]",
                                        "cells => cells.map(c => c.textContent)")
    assert names == sorted(names, key=str.lower) and "Initech LLC" not in names

    # A search across name and domain, with the filter kept.
    page_a.fill("input[name=q]", "GLOBEX")
    page_a.click("#deal-filters button[type=submit]")
    page_a.wait_for_function("document.querySelector('#deal-count')?.dataset.count === '1'")
    assert page_a.inner_text("#deal-table td[data-column=customer]") == "Globex Corporation"
    world.shot(page_a, "04-deals-filtered")


def test_register_a_deal_with_the_live_conflict_warning(world: World, page_a: Any) -> None:
    page_a.goto(f"{world.portal_url}#/register")
    warning = "#conflict-warning"
    # A customer nobody has: no conflict, then registered and protected.
    page_a.fill("input[name=name]", "Dunder Mifflin Paper")
    page_a.fill("input[name=domain]", "dundermifflin.example")
    page_a.fill("input[name=country]", "us")
    page_a.wait_for_selector(f"{warning}[data-state=clear]")
    page_a.fill("input[name=amount]", "42000.00")
    page_a.click("#register-form button[type=submit]")
    result = page_a.wait_for_selector("#registration-result [data-deal-id]")
    world.registered = str(result.get_attribute("data-deal-id"))
    assert result.get_attribute("data-status") == "submitted"
    deal = ok(world.api.get(f"/v1/deals/{world.registered}", headers=world.admin))
    assert deal["partner_id"] == world.partner_a and deal["customer"]["country"] == "US"
    assert deal["amount"] == {"amount": "42000.00", "currency": "USD"}

    # Partner B's customer, spelled another way: the warning shows while typing, as the
    # dry run answers partner A's own credentials.
    page_a.goto(f"{world.portal_url}#/deals")
    page_a.goto(f"{world.portal_url}#/register")
    page_a.fill("input[name=name]", "VANDELAY INDUSTRIES")
    page_a.fill("input[name=domain]", "www.vandelay.example")
    page_a.fill("input[name=country]", "US")
    page_a.wait_for_selector(f"{warning}[data-state=warning]")
    check = ok(world.api.post("/v1/deals/conflict-check", headers={
        "Authorization": f"Bearer {session_token(page_a)}"}, json={"customer": {
            "name": "VANDELAY INDUSTRIES", "domain": "www.vandelay.example", "country": "US"}}))
    assert page_a.get_attribute(warning, "data-outcome") == check["decision"]["outcome"]
    text = page_a.inner_text(warning)
    assert "Another partner's registration" in text and "vandelay.example" in text
    assert world.deal_b not in text and world.partner_b not in page_a.content()
    world.shot(page_a, "05-conflict-warning")
    page_a.fill("input[name=amount]", "50000.00")
    page_a.click("#register-form button[type=submit]")
    result = page_a.wait_for_selector("#registration-result [data-deal-id]")
    assert result.get_attribute("data-status") == check["decision"]["outcome"]
    world.shot(page_a, "06-registered-after-warning")


def test_mdf_claim_with_a_proof_upload(world: World, page_a: Any) -> None:
    page_a.goto(f"{world.portal_url}#/mdf")
    page_a.wait_for_selector(f"select[name=request_id] option[value='{world.request_id}']",
                             state="attached")
    page_a.fill("input[name=amount]", "2300.00")
    page_a.fill("textarea[name=description]", "Three sessions held; 312 registrations.")
    page_a.set_input_files("input[name=proofs]", files=[{
        "name": "Rechnung März.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page_a.click("#claim-form button[type=submit]")
    result = page_a.wait_for_selector("#claim-result [data-claim-id]")
    claim_id = result.get_attribute("data-claim-id")
    claim = ok(world.api.get(f"/v1/mdf/claims/{claim_id}", headers=world.admin))
    assert claim["status"] == "submitted" and claim["partner_id"] == world.partner_a
    assert claim["request_id"] == world.request_id
    assert claim["amount"] == {"amount": "2300.00", "currency": "EUR"}
    [proof] = claim["proofs"]
    assert proof["filename"] == "Rechnung März.pdf"
    assert proof["sha256"] == hashlib.sha256(PDF).hexdigest()
    download = world.api.get(f"/v1/mdf/claims/{claim_id}/proofs/{proof['id']}",
                             headers=world.admin)
    assert download.content == PDF
    page_a.wait_for_selector(f"#claim-table tr[data-claim-id='{claim_id}']")
    # Claimed, the request is offered no more.
    assert page_a.locator(f"option[value='{world.request_id}']").count() == 0
    assert page_a.is_disabled("#claim-form button[type=submit]")
    world.shot(page_a, "07-mdf-claim")


def test_second_partner_sees_none_of_the_first(world: World, page_b: Any) -> None:
    sign_in(world, page_b, "bo@contoso.example")
    page_b.goto(f"{world.portal_url}#/deals")
    page_b.wait_for_selector("#deal-table")
    shown = page_b.eval_on_selector_all("#deal-table tbody tr",
                                        "rows => rows.map(r => r.dataset.dealId)")
    assert shown == [world.deal_b]
    # Even asked for by id, another org's deal is not found.
    token = {"Authorization": f"Bearer {session_token(page_b)}"}
    assert world.api.get(f"/v1/deals/{world.registered}", headers=token).status_code == 404
    world.shot(page_b, "08-second-partner-deals")
    page_b.goto(f"{world.portal_url}#/notifications")
    page_b.wait_for_selector("#notification-list")
    page_b.wait_for_selector("#live-state[data-state=live]")
    mine = ok(world.api.get("/v1/notifications", headers=token, params={"limit": 200}))
    assert all(item["partner_id"] == world.partner_b for item in mine["items"])
    subjects = set(page_b.eval_on_selector_all(
        "#notification-list li[data-subject-id]", "items => items.map(i => i.dataset.subjectId)"))
    assert not subjects & {*world.deals_a, world.registered}


def test_the_approval_arrives_live_and_the_stream_resumes(world: World, page_a: Any,
                                                          page_b: Any,
                                                          portal_stack: Any) -> None:
    api, admin = world.api, world.admin
    page_a.goto(f"{world.portal_url}#/notifications")
    page_a.wait_for_selector("#live-state[data-state=live]")
    connections = len(world.streams["a"])
    token = {"Authorization": f"Bearer {session_token(page_a)}"}

    def unread_is(count: int) -> None:
        """The badge shows it, and the API counts it."""
        page_a.wait_for_selector(f"#unread-count[data-count='{count}']")
        assert ok(api.get("/v1/notifications/unread-count", headers=token)) == {"unread": count}

    unread = ok(api.get("/v1/notifications/unread-count", headers=token))["unread"]
    unread_is(unread)

    # The vendor approves the registration: the notification reaches the open page.
    current = api.get(f"/v1/deals/{world.registered}", headers=admin)
    ok(api.post(f"/v1/deals/{world.registered}/approve",
                headers={**admin, "If-Match": current.headers["etag"]}))
    item = f"#notification-list li[data-subject-id='{world.registered}']"
    page_a.wait_for_selector(f"{item}[data-kind='deal.approved']")
    page_a.wait_for_selector("#toasts .toast")
    unread_is(unread + 1)
    assert len(world.streams["a"]) == connections  # the same stream, no reload
    world.shot(page_a, "09-notification-live")

    # Marked read: the badge goes down; the API says so too.
    page_a.click(f"{item}[data-kind='deal.approved'] .mark-read")
    page_a.wait_for_selector(f"{item}[data-kind='deal.approved'].read")
    unread_is(unread)
    listed = ok(api.get("/v1/notifications", headers=token, params={"limit": 200}))["items"]
    approved = [n for n in listed if n["subject_id"] == world.registered
                and n["kind"] == "deal.approved"]
    assert approved and approved[0]["read_at"] is not None

    # The read model's API dies under the open stream; while it is down the vendor rejects
    # another of A's registrations. The page connects again with the last event id it saw
    # and gets what it missed.
    portal_stack.kill("portal-api")
    within(page_a, 20, lambda: len(world.streams["a"]) > connections,
           "the page connecting again")
    target = world.deals_a[1]
    current = api.get(f"/v1/deals/{target}", headers=admin)
    ok(api.post(f"/v1/deals/{target}/reject", json={"reason": "Outside the territory"},
                headers={**admin, "If-Match": current.headers["etag"]}))
    page_a.wait_for_selector(f"#notification-list li[data-subject-id='{target}']", timeout=45_000)
    page_a.wait_for_selector("#live-state[data-state=live]")
    resumed = world.streams["a"][connections:]
    assert resumed and all(headers.get("last-event-id") for headers in resumed), resumed
    world.shot(page_a, "10-notification-after-resume")

    # Partner B's open page heard none of it.
    subjects = set(page_b.eval_on_selector_all(
        "#notification-list li[data-subject-id]", "items => items.map(i => i.dataset.subjectId)"))
    assert not subjects & {*world.deals_a, world.registered}
    world.shot(page_b, "11-second-partner-notifications")


def test_sign_out(world: World, page_a: Any) -> None:
    page_a.goto(f"{world.portal_url}#/home")
    page_a.click("#sign-out")
    page_a.wait_for_url(f"{world.idp.url}/oauth2/end_session*")
    page_a.click("button:has-text('End session')")
    page_a.wait_for_url(f"{world.portal_url}*")
    page_a.wait_for_selector("#sign-in")
    assert page_a.evaluate("sessionStorage.getItem('prm.portal.session')") is None
    world.shot(page_a, "12-signed-out")
