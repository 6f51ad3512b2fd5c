"""Every list of the service speaks the one grammar, and each of its filters, ranges, sorts,
searches and change feeds is served by an index; the main lists filter, sort, search and pull
changes on real rows, with partners' names beside their ids, and a partner key still sees only
its own org's."""

import base64
import contextlib
import datetime as dt
import uuid

from sqlalchemy import event

from prm_stack.testing import all_pages, check_lists_use_indexes, list_page, list_routes

from .rebate_helpers import deliver, won

LISTS = {
    "/v1/ledger/accounts", "/v1/ledger/accounts/{account_id}/entries", "/v1/ledger/transfers",
    "/v1/ledger/fx-rates", "/v1/mdf/budgets", "/v1/mdf/allocations", "/v1/mdf/requests",
    "/v1/mdf/claims", "/v1/rebates/programmes", "/v1/rebates/accruals", "/v1/spiffs",
    "/v1/spiffs/accruals", "/v1/payouts/batches", "/v1/payouts/statement"}


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == LISTS


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    expected = {
        "/v1/ledger/accounts": {"kind", "currency", "partner_id", "budget_id",
                                "created_at[gte]", "updated_since"},
        "/v1/ledger/accounts/{account_id}/entries": {"side", "phase", "transfer_id",
                                                     "amount[gte]", "created_at[gte]"},
        "/v1/ledger/transfers": {"status", "account_id", "currency", "code", "reverses_id",
                                 "conversion_id", "amount[gte]", "created_at[gte]",
                                 "resolved_at[gte]", "sort=created_at"},
        "/v1/ledger/fx-rates": {"base", "quote", "effective_on[gte]", "sort=effective_on"},
        "/v1/mdf/budgets": {"programme", "period", "currency", "amount[gte]", "q",
                            "updated_since", "sort=programme", "sort=period"},
        "/v1/mdf/allocations": {"partner_id", "budget_id", "currency", "amount[gte]",
                                "updated_since"},
        "/v1/mdf/requests": {"partner_id", "allocation_id", "budget_id", "status",
                             "activity_type", "currency", "start_date[gte]", "end_date[gte]",
                             "claim_due_on[gte]", "planned_cost[gte]", "q", "updated_since",
                             "sort=start_date", "sort=end_date", "sort=title"},
        "/v1/mdf/claims": {"partner_id", "request_id", "status", "currency", "amount[gte]",
                           "updated_since"},
        "/v1/rebates/programmes": {"basis", "currency", "starts_on[gte]", "ends_on[gte]", "q",
                                   "updated_since", "sort=name", "sort=starts_on"},
        "/v1/rebates/accruals": {"partner_id", "programme_id", "deal_id", "status", "kind",
                                 "currency", "closed_on[gte]", "amount[gte]", "updated_since",
                                 "sort=closed_on"},
        "/v1/spiffs": {"currency", "bonus_kind", "starts_on[gte]", "ends_on[gte]",
                       "fund[gte]", "q", "updated_since", "sort=name", "sort=ends_on"},
        "/v1/spiffs/accruals": {"partner_id", "spiff_id", "deal_id", "status", "currency",
                                "closed_on[gte]", "amount[gte]", "updated_since",
                                "sort=closed_on"},
        "/v1/payouts/batches": {"partner_id", "status", "currency", "payment_reference",
                                "period_from[gte]", "period_to[gte]", "paid_on[gte]",
                                "total[gte]", "updated_since", "sort=period_from"},
        "/v1/payouts/statement": {"transfer_id", "currency", "source", "sort=created_at"},
    }
    assert set(expected) == LISTS
    for path, names in expected.items():
        assert names <= set(checked[path]), (path, names - set(checked[path]))


# Helpers


def now_text():
    return dt.datetime.now(dt.UTC).isoformat()


def moment(written):
    return dt.datetime.fromisoformat(written)


def word():
    return uuid.uuid4().hex[:8]


async def created(client, path, headers, body, status=201):
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def budget(client, vendor, programme, amount="10000.00", currency="EUR", auto=None,
                 period="2025-H1"):
    body = {"programme": programme, "period": period,
            "amount": {"amount": amount, "currency": currency}}
    if auto:
        body["auto_approve_below"] = {"amount": auto, "currency": currency}
    return await created(client, "/v1/mdf/budgets", vendor, body)


async def allocation(client, vendor, of_budget, partner_id, amount="5000.00"):
    return await created(client, "/v1/mdf/allocations", vendor, {
        "budget_id": of_budget["id"], "partner_id": str(partner_id),
        "amount": {"amount": amount, "currency": of_budget["amount"]["currency"]}})


def request_body(of_allocation, title, cost, start, activity="webinar", days=10):
    return {"allocation_id": of_allocation["id"], "activity_type": activity, "title": title,
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=days)).isoformat(),
            "planned_cost": {"amount": cost, "currency": "EUR"},
            "expected_outcomes": "qualified leads"}


PROOF = {"filename": "invoice.pdf", "content_type": "application/pdf",
         "content_base64": base64.b64encode(b"%PDF-1.4 proof").decode()}


# Fund requests


async def test_fund_requests_filter_sort_search_and_changes(client, vendor, as_partner,
                                                            list_partner):
    key = word()
    ours = await list_partner(name=f"Nordlicht Marketing {key}")
    theirs = await list_partner(name=f"Southwind Events {key}")
    funds = await budget(client, vendor, f"lists-{key}")
    mine, other = (await allocation(client, vendor, funds, ours),
                   await allocation(client, vendor, funds, theirs))
    today = dt.date.today()
    asked = []
    for title, cost, days_ahead, activity in (
            (f"Sécurité Zürich roadshow {key}", "1000.00", 30, "event"),
            (f"Cloud webinar series {key}", "250.50", 10, "webinar"),
            (f"Über partner summit {key}", "100.00", 20, "tradeshow")):
        asked.append(await created(client, "/v1/mdf/requests", as_partner(ours),
                                   request_body(mine, title, cost,
                                                today + dt.timedelta(days=days_ahead),
                                                activity)))
    elsewhere = await created(client, "/v1/mdf/requests", as_partner(theirs), request_body(
        other, f"SECURITE ZURICH dinner {key}", "300.00", today + dt.timedelta(days=5),
        "event"))
    of_budget = {"budget_id": funds["id"]}

    # sorts across pages, both ways
    starts = await all_pages(client, "/v1/mdf/requests", vendor, **of_budget, sort="start_date",
                        limit=1)
    assert [r["id"] for r in starts] == [elsewhere["id"], asked[1]["id"], asked[2]["id"],
                                         asked[0]["id"]]
    backwards = await all_pages(client, "/v1/mdf/requests", vendor, **of_budget,
                           sort="-start_date", limit=3)
    assert [r["id"] for r in backwards] == [r["id"] for r in starts][::-1]
    titles = await all_pages(client, "/v1/mdf/requests", vendor, **of_budget, sort="title", limit=2)
    assert [r["title"].split()[0] for r in titles] == ["Cloud", "SECURITE", "Sécurité", "Über"]

    # several values, ranges on decimal amounts and dates, the count
    kinds = await list_page(client, "/v1/mdf/requests", vendor, **of_budget,
                           activity_type="event,webinar", include="total_count")
    assert {r["id"] for r in kinds["items"]} == {asked[0]["id"], asked[1]["id"],
                                                 elsewhere["id"]}
    assert kinds["total_count"] == 3
    costs = await list_page(client, "/v1/mdf/requests", vendor, **of_budget, **{
        "planned_cost[gte]": "250.50", "planned_cost[lt]": "1000"})
    assert [r["id"] for r in costs["items"]] == [asked[1]["id"], elsewhere["id"]]
    above = await list_page(client, "/v1/mdf/requests", vendor, **of_budget,
                           **{"planned_cost[gt]": "250.5"})
    assert {r["id"] for r in above["items"]} == {asked[0]["id"], elsewhere["id"]}
    dates = await list_page(client, "/v1/mdf/requests", vendor, **of_budget, **{
        "start_date[gte]": (today + dt.timedelta(days=10)).isoformat(),
        "start_date[lt]": (today + dt.timedelta(days=30)).isoformat()})
    assert [r["id"] for r in dates["items"]] == [asked[1]["id"], asked[2]["id"]]
    bad = await client.get("/v1/mdf/requests", headers=vendor,
                           params={"planned_cost[gte]": "1e3"})
    assert bad.status_code == 422

    # search: every word, case and accents ignored; names beside ids
    for q, found in ((f"securite zurich {key}", {asked[0]["id"], elsewhere["id"]}),
                     (f"ÜBER {key}", {asked[2]["id"]}), (f"uber summit {key}",
                                                         {asked[2]["id"]})):
        page = await list_page(client, "/v1/mdf/requests", vendor, q=q)
        assert {r["id"] for r in page["items"]} == found, q
    named = await list_page(client, "/v1/mdf/requests", vendor, q=key, partner_id=str(ours))
    assert {r["partner_name"] for r in named["items"]} == {f"Nordlicht Marketing {key}"}
    one = await client.get(f"/v1/mdf/requests/{elsewhere['id']}", headers=vendor)
    assert one.json()["partner_name"] == f"Southwind Events {key}"

    # a partner key: its own org's; naming another org narrows that to nothing
    own = await list_page(client, "/v1/mdf/requests", as_partner(ours), q=key)
    assert {r["id"] for r in own["items"]} == {r["id"] for r in asked}
    own = await list_page(client, "/v1/mdf/requests", as_partner(ours), q=key,
                          partner_id=str(theirs))
    assert own["items"] == []

    # the change feed: decisions, oldest change first
    since = now_text()
    rejected = await client.post(f"/v1/mdf/requests/{asked[2]['id']}/reject", headers=vendor,
                                 json={"reason": "Out of scope"})
    assert rejected.status_code == 200, rejected.text
    approved = await client.post(f"/v1/mdf/requests/{asked[0]['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    changed = await list_page(client, "/v1/mdf/requests", vendor, **of_budget,
                             updated_since=since)
    assert [r["id"] for r in changed["items"]] == [asked[2]["id"], asked[0]["id"]]
    decided = await list_page(client, "/v1/mdf/requests", as_partner(ours),
                             status="approved,rejected", updated_since=since)
    assert {r["status"] for r in decided["items"]} == {"approved", "rejected"}
    due = await list_page(client, "/v1/mdf/requests", vendor, **of_budget,
                         **{"claim_due_on[gte]": today.isoformat()})
    assert [r["id"] for r in due["items"]] == [asked[0]["id"]]


# Claims


@contextlib.contextmanager
def statements(engine):
    """Counts the statements sent to the database meanwhile."""
    count = [0]

    def counted(*_):
        count[0] += 1
    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counted)


async def test_claims_expand_their_request_and_allocation_one_query_each(
        client, vendor, as_partner, list_partner, engine):
    key = word()
    partner = await list_partner(name=f"Østfold Partners {key}")
    funds = await budget(client, vendor, f"claims-{key}", auto="5000.00")
    held = await allocation(client, vendor, funds, partner, "8000.00")
    headers = as_partner(partner)
    claims = []
    for index, amount in enumerate(("90.00", "450.00", "1200.00")):
        asked = await created(client, "/v1/mdf/requests", headers, request_body(
            held, f"Activity {index} {key}", "2000.00", dt.date.today()))
        assert asked["status"] == "approved"
        claims.append(await created(client, "/v1/mdf/claims", headers, {
            "request_id": asked["id"], "amount": {"amount": amount, "currency": "EUR"},
            "description": "done", "proofs": [PROOF]}))
    assert claims[0]["partner_name"] == f"Østfold Partners {key}"
    assert claims[0]["request"] is None and claims[0]["allocation"] is None
    mine = {"partner_id": str(partner)}

    plain = await list_page(client, "/v1/mdf/claims", vendor, **mine)
    assert [c["id"] for c in plain["items"]] == [c["id"] for c in claims]
    assert all(c["request"] is None and c["allocation"] is None for c in plain["items"])
    expanded = await list_page(client, "/v1/mdf/claims", vendor, **mine,
                              expand="request,allocation")
    for claim in expanded["items"]:
        assert claim["request"]["id"] == claim["request_id"]
        assert claim["request"]["partner_name"] == f"Østfold Partners {key}"
        assert claim["allocation"]["id"] == held["id"]
        assert claim["allocation"]["reserved"]["amount"] == "6000.00"
    [only] = (await list_page(client, "/v1/mdf/claims", headers, request_id=claims[1][
        "request_id"], expand=["request", "allocation"]))["items"]
    assert only["request"]["title"] == f"Activity 1 {key}"
    single = await client.get(f"/v1/mdf/claims/{claims[2]['id']}?expand=request",
                              headers=headers)
    assert single.status_code == 200, single.text
    assert single.json()["request"]["id"] == claims[2]["request_id"]
    assert single.json()["allocation"] is None
    unknown = await client.get("/v1/mdf/claims", headers=vendor, params={"expand": "budget"})
    assert unknown.status_code == 422

    # one query per relation, whatever the number of claims on the page
    counts = []
    for limit in (1, 3):
        with statements(engine) as count:
            await list_page(client, "/v1/mdf/claims", vendor, **mine, limit=limit,
                           expand="request,allocation")
        counts.append(count[0])
    assert counts[0] == counts[1], counts

    amounts = await list_page(client, "/v1/mdf/claims", vendor, **mine, **{
        "amount[gte]": "90", "amount[lt]": "1200.00"})
    assert [c["id"] for c in amounts["items"]] == [c["id"] for c in claims[:2]]
    since = now_text()
    approved = await client.post(f"/v1/mdf/claims/{claims[1]['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    changed = await list_page(client, "/v1/mdf/claims", headers, updated_since=since,
                             status="approved,rejected")
    assert [c["id"] for c in changed["items"]] == [claims[1]["id"]]
    allocations = await list_page(client, "/v1/mdf/allocations", headers,
                                 budget_id=funds["id"], **{"amount[gte]": "5000.00"})
    [listed] = allocations["items"]
    assert listed["partner_name"] == f"Østfold Partners {key}"
    assert listed["payable"]["amount"] == "450.00"


# The ledger


async def funded_pool(client, vendor, currency, amount):
    made = await budget(client, vendor, f"ledger-{word()}", amount=amount, currency=currency)
    return made["pool_account_id"]


async def move(client, vendor, debit, credit, amount, currency, **extra):
    return await created(client, "/v1/ledger/transfers", vendor, {
        "id": str(uuid.uuid4()), "debit_account_id": debit, "credit_account_id": credit,
        "amount": {"amount": amount, "currency": currency}, **extra})


async def test_ledger_lists_by_account_amount_code_and_change(client, vendor):
    first = await funded_pool(client, vendor, "EUR", "5000.00")
    second = await funded_pool(client, vendor, "EUR", "10.00")
    yen = await funded_pool(client, vendor, "JPY", "100000")
    yen_other = await funded_pool(client, vendor, "JPY", "1")
    since = now_text()
    small = await move(client, vendor, first, second, "12.50", "EUR", code="lists.test")
    large = await move(client, vendor, first, second, "300.00", "EUR", pending=True)
    some_yen = await move(client, vendor, yen, yen_other, "1250", "JPY", code="lists.test")
    accounts = {"account_id": f"{first},{yen}"}

    made = await list_page(client, "/v1/ledger/transfers", vendor, **accounts)
    assert {t["code"] for t in made["items"]} == {"mdf.budget", "lists.test", "manual"}
    assert len(made["items"]) == 5
    # a decimal amount in each transfer's own currency: 1250 yen, not 12.50
    over = await list_page(client, "/v1/ledger/transfers", vendor, **accounts, **{
        "amount[gte]": "1000", "amount[lte]": "1250"})
    assert [t["id"] for t in over["items"]] == [some_yen["id"]]
    cents = await list_page(client, "/v1/ledger/transfers", vendor, **accounts, **{
        "amount[gt]": "12.49", "amount[lt]": "300.00"}, currency="EUR")
    assert [t["id"] for t in cents["items"]] == [small["id"]]
    coded = await list_page(client, "/v1/ledger/transfers", vendor, code="lists.test",
                           **accounts)
    assert {t["id"] for t in coded["items"]} == {small["id"], some_yen["id"]}
    pending = await list_page(client, "/v1/ledger/transfers", vendor, **accounts,
                             status="pending,voided")
    assert [t["id"] for t in pending["items"]] == [large["id"]]
    newest = await all_pages(client, "/v1/ledger/transfers", vendor, **accounts,
                        sort="-created_at", limit=2)
    assert [t["id"] for t in newest] == [t["id"] for t in made["items"]][::-1]

    # entries of one account, by amount in its currency
    entries = await list_page(client, f"/v1/ledger/accounts/{first}/entries", vendor,
                             **{"amount[gte]": "300.00"}, side="debit,credit")
    assert [(e["phase"], e["amount"]["amount"]) for e in entries["items"]] == [
        ("posted", "5000.00"), ("pending", "300.00")]

    # the accounts' change feed: the four pools moved since
    changed = await list_page(client, "/v1/ledger/accounts", vendor, updated_since=since,
                             id=f"{first},{second},{yen},{yen_other}")
    assert {a["id"] for a in changed["items"]} == {first, second, yen, yen_other}
    before = changed["items"][0]["updated_at"]
    await client.post(f"/v1/ledger/transfers/{large['id']}/void", headers=vendor)
    later = await list_page(client, "/v1/ledger/accounts", vendor, updated_since=before,
                           kind="budget_pool", currency="EUR", id=f"{first},{yen}")
    assert [a["id"] for a in later["items"]] == [first]
    assert moment(later["items"][0]["updated_at"]) >= moment(before)


async def test_exchange_rates_by_pair_and_day(client, vendor):
    days = ["2031-03-01", "2031-01-01", "2031-02-01"]
    for day in days:
        await created(client, "/v1/ledger/fx-rates", vendor, {
            "base": "NOK", "quote": "ISK", "rate": "12.5", "effective_on": day})
    latest = await all_pages(client, "/v1/ledger/fx-rates", vendor, base="NOK", quote="ISK,HUF",
                        sort="-effective_on", limit=2, **{"effective_on[gte]": "2031-01-01"})
    assert [r["effective_on"] for r in latest] == sorted(days, reverse=True)


# Budgets, rebate programmes and SPIFFs: searched by name, sorted


async def test_budgets_programmes_and_spiffs_by_name(client, vendor):
    key = word()
    for programme in (f"zeta-{key}", f"alpha-{key}"):
        await budget(client, vendor, programme, period="2026-Q1")
    await budget(client, vendor, f"alpha-{key}", period="2026-Q2", currency="USD")
    found = await all_pages(client, "/v1/mdf/budgets", vendor, q=key, sort="programme,-period",
                       limit=1)
    assert [(b["programme"], b["period"]) for b in found] == [
        (f"alpha-{key}", "2026-Q2"), (f"alpha-{key}", "2026-Q1"), (f"zeta-{key}", "2026-Q1")]
    quarter = await list_page(client, "/v1/mdf/budgets", vendor, q=f"ALPHA {key} q2")
    assert [b["amount"]["currency"] for b in quarter["items"]] == ["USD"]

    names = [f"Réseau Öst {key}", f"Alpha Boost {key}", f"Zeta Über {key}"]
    for index, name in enumerate(names):
        await created(client, "/v1/rebates/programmes", vendor, {
            "name": name, "currency": "EUR", "basis": "tier" if index else "volume",
            "starts_on": f"2030-0{index + 1}-01", "rules": [{"rate": "2"}]})
    sorted_names = await all_pages(client, "/v1/rebates/programmes", vendor, q=key, sort="name",
                              limit=2)
    assert [p["name"] for p in sorted_names] == sorted(names)
    for q, name in ((f"reseau ost {key}", names[0]), (f"ÜBER {key}", names[2]),
                    (f"uber {key}", names[2])):
        assert [p["name"] for p in (await list_page(client, "/v1/rebates/programmes", vendor,
                                                   q=q))["items"]] == [name], q
    tiers = await list_page(client, "/v1/rebates/programmes", vendor, q=key, basis="tier",
                           **{"starts_on[gte]": "2030-03-01"})
    assert [p["name"] for p in tiers["items"]] == [names[2]]

    for name, ends, fund in ((f"Frühjahr Push {key}", "2030-06-30", "500.00"),
                             (f"Autumn Push {key}", "2030-11-30", "5000.00")):
        await created(client, "/v1/spiffs", vendor, {
            "name": name, "starts_on": "2030-01-01", "ends_on": ends,
            "fixed_amount": {"amount": "10.00", "currency": "EUR"},
            "fund": {"amount": fund, "currency": "EUR"}})
    ending = await all_pages(client, "/v1/spiffs", vendor, q=f"push {key}", sort="-ends_on",
                        limit=1)
    assert [s["name"] for s in ending] == [f"Autumn Push {key}", f"Frühjahr Push {key}"]
    rich = await list_page(client, "/v1/spiffs", vendor, q=f"FRUHJAHR {key}",
                          **{"fund[lte]": "500"}, bonus_kind="fixed")
    assert [s["name"] for s in rich["items"]] == [f"Frühjahr Push {key}"]


# Accruals, payout batches and the statement


async def test_accruals_batches_and_statement(app, client, vendor, as_partner, list_partner):
    key = word()
    partner = await list_partner(name=f"Globex Reseller {key}")
    other = await list_partner(name=f"Initech Reseller {key}")
    programme = await created(client, "/v1/rebates/programmes", vendor, {
        "name": f"Lists rebate {key}", "currency": "EUR", "basis": "tier",
        "starts_on": "2025-01-01", "ends_on": "2025-12-31", "rules": [{"rate": "10"}]})
    spiff = await created(client, "/v1/spiffs", vendor, {
        "name": f"Lists SPIFF {key}", "starts_on": "2025-01-01", "ends_on": "2025-12-31",
        "fixed_amount": {"amount": "25.00", "currency": "EUR"},
        "fund": {"amount": "1000.00", "currency": "EUR"}})
    days = [dt.date(2025, 2, 10), dt.date(2025, 5, 20), dt.date(2025, 3, 5)]
    async with app.state.sessionmaker() as session:
        for day, amount in zip(days, ("1000.00", "4000.00", "2500.00"), strict=True):
            await deliver(session, won(partner, amount, closed_on=day))
        await deliver(session, won(other, "800.00", closed_on=days[0]))
        await session.commit()
    of_programme = {"programme_id": programme["id"]}

    accrued = await all_pages(client, "/v1/rebates/accruals", vendor, **of_programme,
                         sort="-closed_on", limit=2)
    assert [a["closed_on"] for a in accrued] == ["2025-05-20", "2025-03-05", "2025-02-10",
                                                 "2025-02-10"]
    names = {a["partner_id"]: a["partner_name"] for a in accrued}
    assert names == {str(partner): f"Globex Reseller {key}",
                     str(other): f"Initech Reseller {key}"}
    spring = await list_page(client, "/v1/rebates/accruals", vendor, **of_programme, **{
        "closed_on[gte]": "2025-03-01", "closed_on[lt]": "2025-06-01",
        "amount[gte]": "250.00"}, kind="deal")
    assert [a["amount"]["amount"] for a in spring["items"]] == ["400.00", "250.00"]
    own = await list_page(client, "/v1/rebates/accruals", as_partner(other), **of_programme)
    assert [a["partner_id"] for a in own["items"]] == [str(other)]
    assert (await list_page(client, "/v1/rebates/accruals", as_partner(other), **of_programme,
                            partner_id=str(partner)))["items"] == []

    since = now_text()
    reversed_ = await client.post(f"/v1/rebates/accruals/{spring['items'][0]['id']}/reverse",
                                  headers=vendor, json={"reason": "Cancelled"})
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["partner_name"] == f"Globex Reseller {key}"
    changed = await list_page(client, "/v1/rebates/accruals", vendor, updated_since=since,
                             status="reversed", partner_id=f"{partner},{other}")
    assert [a["id"] for a in changed["items"]] == [spring["items"][0]["id"]]
    spiffs = await list_page(client, "/v1/spiffs/accruals", as_partner(partner),
                            spiff_id=spiff["id"], status="accrued,capped",
                            **{"closed_on[lte]": "2025-03-05"})
    assert len(spiffs["items"]) == 2
    assert {a["partner_name"] for a in spiffs["items"]} == {f"Globex Reseller {key}"}

    # a batch of what is payable, then the statement of the period
    batch = await created(client, "/v1/payouts/batches", vendor, {
        "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
        "period_to": "2025-03-31"})
    assert batch["partner_name"] == f"Globex Reseller {key}"
    # 100.00 and 250.00 of rebates, 2 x 25.00 of the SPIFF
    assert batch["total"]["amount"] == "400.00"
    since = now_text()
    approved = await client.post(f"/v1/payouts/batches/{batch['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    batches = await list_page(client, "/v1/payouts/batches", as_partner(partner),
                             updated_since=since, status="approved,paid",
                             **{"total[gte]": "400", "period_to[lt]": "2025-04-01"})
    assert [(b["id"], b["partner_name"]) for b in batches["items"]] == [
        (batch["id"], f"Globex Reseller {key}")]

    statement = "/v1/payouts/statement"
    year = {"partner_id": str(partner), "from": "2025-01-01", "to": "2025-12-31"}
    everything = await list_page(client, statement, vendor, **year, include="total_count")
    assert everything["partner_name"] == f"Globex Reseller {key}"
    assert everything["total_count"] == 6  # three rebates (one reversed to zero), three SPIFFs
    rebates = await all_pages(client, statement, vendor, **year, source="rebate", limit=1)
    assert {i["source"] for i in rebates} == {"rebate"} and len(rebates) == 3
    by_source = await list_page(client, statement, as_partner(partner), **year, source="spiff",
                               currency="EUR,USD")
    assert [t["earned"]["amount"] for t in by_source["totals"]] == ["75.00"]
    assert {i["batch_status"] for i in by_source["items"]} == {"approved", None}
