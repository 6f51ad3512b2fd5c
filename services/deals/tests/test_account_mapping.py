"""Account mapping: populations uploaded in bulk, double opt-in, overlaps found by the deal
registration's matcher and kept current, and what each side sees at each sharing level: a
route walk over every combination, counts that never name an account, and a curious partner
uploading guesses that learns nothing at once."""

import itertools
import uuid

import pytest
from sqlalchemy import text

from prm_deals.mapping import service

SCOPES = ("account_mapping:read", "account_mapping:write", "direct_accounts:read",
          "direct_accounts:write")
LEVELS = ("hidden", "counts", "overlaps", "all")

# The vendor's customers, and a partner's (two of them are the vendor's too, spelt their way).
VENDOR_CUSTOMERS = [
    {"crm_id": "V-1", "population": "customers", "name": "Globex Corporation",
     "domain": "globex.example", "country": "US"},
    {"crm_id": "V-2", "population": "customers", "name": "Initech GmbH", "country": "DE"},
    {"crm_id": "V-3", "population": "customers", "name": "Umbrella Holdings plc",
     "domain": "umbrella-holdings.example", "country": "GB"},
]
PARTNER_ACCOUNTS = [
    {"crm_id": "P-1", "population": "customers", "name": "GLOBEX Corp.",
     "domain": "www.globex.example", "country": "US"},
    {"crm_id": "P-2", "population": "prospects", "name": "Initech", "country": "DE"},
    {"crm_id": "P-3", "population": "customers", "name": "Stark Industries", "country": "US"},
]


@pytest.fixture
def mapper(prm_infra):
    from prm_stack.testing import partner_headers, vendor_headers

    def headers(partner_id: uuid.UUID | None = None) -> dict[str, str]:
        if partner_id is None:
            return vendor_headers(prm_infra.internal_secret, SCOPES)
        return partner_headers(prm_infra.internal_secret, partner_id,
                               ("account_mapping:read", "account_mapping:write"))
    return headers


async def upload(client, headers, items) -> dict:
    response = await client.post("/v1/mapped-accounts", headers=headers, json={"items": items})
    assert response.status_code == 200, response.text
    return response.json()


async def opt_in(client, headers, partner_id, **sharing) -> dict:
    response = await client.put(f"/v1/mapping-partnerships/{partner_id}", headers=headers,
                                json={"sharing": sharing})
    assert response.status_code == 200, response.text
    return response.json()


async def settle(app, *crm_ids: str, days: int = 31) -> None:
    """Make rows as old as ``days`` (the test cannot wait for the settling time)."""
    async with app.state.sessionmaker() as session:
        await session.execute(text(
            "UPDATE mapped_accounts SET created_at = created_at - make_interval(days => :d), "
            "removed_at = removed_at - make_interval(days => :d) WHERE crm_id = ANY(:ids)"),
            {"d": days, "ids": list(crm_ids)})
        await session.commit()


async def test_a_batch_upserts_each_item_with_its_outcome(client, mapper, list_partner):
    partner = await list_partner()
    me = mapper(partner)
    first = await upload(client, me, PARTNER_ACCOUNTS)
    assert (first["created"], first["errors"]) == (3, 0)
    again = await upload(client, me, [
        PARTNER_ACCOUNTS[0],  # the same: unchanged
        {**PARTNER_ACCOUNTS[1], "name": "Initech Deutschland"},  # renamed
        {"crm_id": "P-3", "population": "customers", "remove": True},
        {"crm_id": "P-9", "population": "customers", "remove": True},  # never there
        {"crm_id": "P-4", "population": "partners", "name": "Bad population"},
        {"crm_id": "P-5", "population": "customers", "name": "Dup", "country": "US"},
        {"crm_id": "P-5", "population": "customers", "name": "Dup Inc", "country": "US"},
    ])
    outcomes = [i["outcome"] for i in again["items"]]
    assert outcomes == ["unchanged", "updated", "removed", "unchanged", "error", "unchanged",
                        "created"]
    assert again["items"][4]["problem"]["status"] == 422
    listed = (await client.get("/v1/mapped-accounts", headers=me)).json()["items"]
    assert sorted((a["crm_id"], a["name"]) for a in listed) == [
        ("P-1", "GLOBEX Corp."), ("P-2", "Initech Deutschland"), ("P-5", "Dup Inc")]
    # Another partner's and the vendor's lists are their own.
    other = await list_partner()
    assert (await client.get("/v1/mapped-accounts", headers=mapper(other))).json()[
        "items"] == []
    too_many = await client.post("/v1/mapped-accounts", headers=me, json={
        "items": [PARTNER_ACCOUNTS[0]] * 10_001})
    assert too_many.status_code == 422


async def test_double_opt_in_then_overlaps_found_and_kept_current(client, mapper,
                                                                  list_partner):
    partner = await list_partner()
    vendor, me = mapper(), mapper(partner)
    await upload(client, vendor, VENDOR_CUSTOMERS)
    await upload(client, me, PARTNER_ACCOUNTS)
    pending = await opt_in(client, vendor, partner, customers="overlaps")
    assert pending["status"] == "pending" and pending["mapped_at"] is None
    # Before the partner opted in, nothing is shared.
    refused = await client.get(f"/v1/mapping-partnerships/{partner}/overlaps", headers=me)
    assert refused.status_code == 403
    active = await opt_in(client, me, partner, customers="overlaps", prospects="overlaps")
    assert active["status"] == "active" and active["mapped_at"] is not None
    seen = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"]
    assert sorted((o["account"]["crm_id"], o["other_name"], o["basis"]) for o in seen) == [
        ("P-1", "Globex Corporation", "domain"), ("P-2", "Initech GmbH", "name")]
    # A new account on either side is mapped at once.
    await upload(client, vendor, [{"crm_id": "V-4", "population": "customers",
                                   "name": "Stark Industries Inc.", "country": "US"}])
    seen = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"]
    assert {o["account"]["crm_id"] for o in seen} == {"P-1", "P-2", "P-3"}
    # The vendor sees the same overlaps from its side (the partner shares them too).
    from_vendor = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                                    headers=vendor)).json()["items"]
    assert {o["account"]["crm_id"] for o in from_vendor} == {"V-1", "V-2", "V-4"}
    # Removed, an account overlaps no more.
    await upload(client, me, [{"crm_id": "P-3", "population": "customers", "remove": True}])
    seen = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"]
    assert {o["account"]["crm_id"] for o in seen} == {"P-1", "P-2"}
    # Opting out forgets the overlaps; the other partner sees nothing of this one.
    other = await list_partner()
    assert (await client.get(f"/v1/mapping-partnerships/{partner}",
                             headers=mapper(other))).status_code == 404
    read = await client.get(f"/v1/mapping-partnerships/{partner}", headers=me)
    stale = await client.post(f"/v1/mapping-partnerships/{partner}/opt-out",
                              headers={**me, "If-Match": '"99"'})
    assert stale.status_code == 412
    out = await client.post(f"/v1/mapping-partnerships/{partner}/opt-out",
                            headers={**me, "If-Match": read.headers["etag"]})
    assert out.json()["status"] == "pending"
    assert (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=vendor)).status_code == 403


@pytest.mark.parametrize("vendor_level, partner_level",
                         list(itertools.product(LEVELS, LEVELS)))
async def test_each_side_sees_exactly_what_the_other_shares(client, mapper, list_partner,
                                                             vendor_level, partner_level):
    """Both directions, every pair of levels, every read: the matrix, the overlaps, the other
    side's accounts; and a partner outside the partnership sees none of it."""
    partner, outsider = await list_partner(), await list_partner()
    vendor, me = mapper(), mapper(partner)
    await upload(client, vendor, VENDOR_CUSTOMERS)
    await upload(client, me, PARTNER_ACCOUNTS)
    await opt_in(client, vendor, partner, customers=vendor_level)
    await opt_in(client, me, partner, customers=partner_level)
    # The partner's Globex (a customer) and Initech (a prospect) are the vendor's customers;
    # of the partner's customers, only Globex is one of the vendor's accounts.
    for viewer, shared, theirs, mine, held in (
            (me, vendor_level, VENDOR_CUSTOMERS, ["P-1", "P-2"], 2),
            (vendor, partner_level, PARTNER_ACCOUNTS, ["V-1"], 1)):
        base = f"/v1/mapping-partnerships/{partner}"
        matrix = (await client.get(f"{base}/matrix", headers=viewer)).json()
        cell = next(c for c in matrix["cells"] if c["population"] == "customers"
                    and c["other_population"] == "customers")
        assert cell["level"] == shared
        if shared == "hidden":
            assert cell["overlaps"] is None
        elif shared == "counts":
            assert cell["overlaps"] == 0  # the viewer's own uploads have not settled yet
        else:
            assert cell["overlaps"] == 1  # Globex on both sides
        overlaps = await client.get(f"{base}/overlaps", headers=viewer)
        accounts = await client.get(f"{base}/accounts", headers=viewer)
        answers = matrix, overlaps.json(), accounts.json()
        if shared in ("hidden", "counts"):
            assert (overlaps.status_code, accounts.status_code) == (403, 403)
            # No answer names an account of the other side's.
            for answer in answers:
                for account in theirs:
                    assert account["name"] not in str(answer)
                    assert account["crm_id"] not in str(answer)
        elif shared == "overlaps":
            assert sorted(o["account"]["crm_id"] for o in overlaps.json()["items"]) == mine
            assert accounts.status_code == 403
        else:
            assert sorted(o["account"]["crm_id"] for o in overlaps.json()["items"]) == mine
            listed = accounts.json()["items"]
            assert sorted(a["name"] for a in listed) == sorted(a["name"] for a in theirs
                                                               if a["population"] ==
                                                               "customers")
            assert sum(a["overlaps"] for a in listed) == held
    for path in ("", "/matrix", "/overlaps", "/accounts"):
        response = await client.get(f"/v1/mapping-partnerships/{partner}{path}",
                                    headers=mapper(outsider))
        assert response.status_code == 404, path


async def test_a_curious_partner_uploading_guesses_learns_nothing_at_once(
        app, client, mapper, list_partner):
    """The vendor shares counts only. The partner uploads one guess the vendor holds and one it
    does not: both answers are the same as before, the next day too; once the settling time
    has passed the count says how many of its accounts overlap, which is what counts-only
    shares (one bit per experiment, per settling time: docs/account-mapping.md)."""
    partner = await list_partner()
    vendor, me = mapper(), mapper(partner)
    await upload(client, vendor, VENDOR_CUSTOMERS)
    await upload(client, me, [PARTNER_ACCOUNTS[2]])  # Stark: not the vendor's
    await settle(app, "P-3")
    await opt_in(client, vendor, partner, customers="counts")
    await opt_in(client, me, partner, customers="hidden")

    async def answers() -> list:
        matrix = (await client.get(f"/v1/mapping-partnerships/{partner}/matrix",
                                   headers=me)).json()
        return [c["overlaps"] for c in matrix["cells"]]

    before = await answers()
    hit = {"crm_id": "G-1", "population": "customers", "name": "Umbrella Holdings",
           "domain": "umbrella-holdings.example", "country": "GB"}
    miss = {"crm_id": "G-2", "population": "customers", "name": "Wayne Enterprises",
            "country": "US"}
    await upload(client, me, [hit])
    with_hit = await answers()
    await upload(client, me, [{**hit, "remove": True}, miss])
    with_miss = await answers()
    assert before == with_hit == with_miss
    await settle(app, "G-1", "G-2", days=1)
    assert await answers() == before  # a day later, still nothing
    # Renaming an account the partner already holds to a guess tells nothing at once either.
    await upload(client, me, [{**PARTNER_ACCOUNTS[2], "name": "Globex Corporation",
                               "domain": "globex.example"}])
    assert await answers() == before
    # After the settling time, the count holds what is shared: one account overlaps now.
    await settle(app, "G-1", "G-2", "P-3", days=40)
    cells = (await client.get(f"/v1/mapping-partnerships/{partner}/matrix",
                              headers=me)).json()["cells"]
    customers = next(c for c in cells if c["population"] == "customers"
                     and c["other_population"] == "customers")
    assert customers["overlaps"] == 1
    assert "Globex" not in str(cells) and "Umbrella" not in str(cells)


async def test_the_vendors_direct_accounts_are_its_customers(app, client, mapper,
                                                            list_partner):
    partner = await list_partner()
    vendor, me = mapper(), mapper(partner)
    created = await client.post("/v1/direct-accounts", headers=vendor, json={
        "name": "Hooli Inc.", "domain": "hooli.example", "country": "US"})
    assert created.status_code == 201, created.text
    await upload(client, me, [{"crm_id": "P-7", "population": "opportunities",
                               "name": "Hooli", "domain": "hooli.example", "country": "US"}])
    await opt_in(client, vendor, partner, customers="overlaps")
    await opt_in(client, me, partner)
    async with app.state.sessionmaker() as session:
        assert await service.sync_direct_accounts(session) >= 1
        assert await service.sync_direct_accounts(session) == 0  # in step: nothing to do
        await session.commit()
    seen = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"]
    assert [(o["account"]["crm_id"], o["other_name"], o["other_population"]) for o in seen] \
        == [("P-7", "Hooli Inc.", "customers")]
    deleted = await client.delete(f"/v1/direct-accounts/{created.json()['id']}",
                                  headers=vendor)
    assert deleted.status_code == 204
    async with app.state.sessionmaker() as session:
        assert await service.sync_direct_accounts(session) == 1
        await session.commit()
    assert (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"] == []


async def test_an_overlap_starts_a_co_sell(client, mapper, list_partner, prm_infra):
    from prm_stack.testing import partner_headers, vendor_headers

    partner = await list_partner()
    vendor = vendor_headers(prm_infra.internal_secret, (*SCOPES, "deals:read", "deals:write",
                                                        "leads:read", "leads:write"))
    me = partner_headers(prm_infra.internal_secret, partner,
                         ("account_mapping:read", "account_mapping:write", "deals:read",
                          "deals:write", "leads:read"))
    await upload(client, vendor, VENDOR_CUSTOMERS)
    await upload(client, me, PARTNER_ACCOUNTS)
    await opt_in(client, vendor, partner, customers="overlaps")
    await opt_in(client, me, partner, customers="overlaps")
    mine = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                             headers=me)).json()["items"]
    globex = next(o for o in mine if o["account"]["crm_id"] == "P-1")
    url = f"/v1/mapping-partnerships/{partner}/overlaps/{globex['id']}/co-sell"
    close = "2027-06-30"
    missing = await client.post(url, headers=me, json={"kind": "registration"})
    assert missing.status_code == 422
    started = await client.post(url, headers=me, json={
        "amount": {"amount": "25000.00", "currency": "USD"}, "expected_close_date": close})
    assert started.status_code == 201, started.text
    deal = (await client.get(f"/v1/deals/{started.json()['deal_id']}", headers=me)).json()
    assert (deal["partner_id"], deal["customer"]["name"], deal["customer"]["domain"]) == (
        str(partner), "GLOBEX Corp.", "www.globex.example")
    # The vendor's side of the same overlap: the partner's deal with its account executive,
    # or a lead offered to the partner.
    theirs = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                               headers=vendor)).json()["items"]
    same = next(o for o in theirs if o["account"]["crm_id"] == "V-1")
    assert same["id"] == globex["id"]  # one overlap, seen from both sides
    url = f"/v1/mapping-partnerships/{partner}/overlaps/{same['id']}/co-sell"
    lead = await client.post(url, headers=vendor, json={"kind": "lead"})
    assert lead.status_code == 201, lead.text
    offered = (await client.get(f"/v1/leads/{lead.json()['lead_id']}", headers=me)).json()
    assert (offered["status"], offered["partner_id"]) == ("offered", str(partner))
    refused = await client.post(url, headers=me, json={"kind": "lead"})
    assert refused.status_code == 403  # a partner offers no leads
    await opt_in(client, me, partner, customers="overlaps", prospects="overlaps")
    theirs = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                               headers=vendor)).json()["items"]
    initech = next(o for o in theirs if o["account"]["crm_id"] == "V-2")
    body = {"amount": {"amount": "9000.00", "currency": "EUR"}, "expected_close_date": close,
            "account_executive": "jane.doe@vendor.example", "notes": "Joint pursuit"}
    nameless = await client.post(
        f"/v1/mapping-partnerships/{partner}/overlaps/{initech['id']}/co-sell", headers=vendor,
        json=body)
    assert nameless.status_code == 422  # neither side knows its domain: no registration
    await upload(client, me, [{**PARTNER_ACCOUNTS[1], "domain": "initech.example"}])
    theirs = (await client.get(f"/v1/mapping-partnerships/{partner}/overlaps",
                               headers=vendor)).json()["items"]
    initech = next(o for o in theirs if o["account"]["crm_id"] == "V-2")
    for_partner = await client.post(
        f"/v1/mapping-partnerships/{partner}/overlaps/{initech['id']}/co-sell", headers=vendor,
        json=body)
    assert for_partner.status_code == 201, for_partner.text
    made = (await client.get(f"/v1/deals/{for_partner.json()['deal_id']}",
                             headers=vendor)).json()
    assert (made["partner_id"], made["customer"]["name"], made["account_executive"]) == (
        str(partner), "Initech", "jane.doe@vendor.example")
    # An overlap the other side does not share (any more) starts nothing.
    await opt_in(client, vendor, partner, customers="counts")
    hidden = await client.post(
        f"/v1/mapping-partnerships/{partner}/overlaps/{globex['id']}/co-sell", headers=me,
        json={"amount": {"amount": "1.00", "currency": "USD"}, "expected_close_date": close})
    assert hidden.status_code == 404


def overlap_quality(path) -> tuple[int, int, int, int, dict[str, tuple[int, int]]]:
    """Pairs, positives, overlaps found right and wrong, and per kind (positives, found): a
    pair overlaps when the keys the two accounts share are worth scoring and the matcher's
    score calls them one company, as the mapping's join and scoring do. Accounts
    are uploaded without aliases (the bundled table of well-known names still applies)."""
    import csv

    from prm_deals.matching.score import Customer, compare

    pairs = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    kinds: dict[str, tuple[int, int]] = {}
    same = right = wrong = 0
    for row in pairs:
        a_key, a_domain, a_keys = service.match_keys(row["a_name"], row["a_domain"] or None)
        b_key, b_domain, b_keys = service.match_keys(row["b_name"], row["b_domain"] or None)
        a = Customer(a_key, a_domain, row["a_country"] or row["b_country"])
        b = Customer(b_key, b_domain, row["b_country"] or a.country)
        found = service.worth_scoring(set(a_keys) & set(b_keys)) and compare(a, b).conflict
        positive = row["same"] == "1"
        same += positive
        right += found and positive
        wrong += found and not positive
        had, hit = kinds.get(row["kind"], (0, 0))
        kinds[row["kind"]] = (had + positive, hit + (found and positive))
    return len(pairs), same, right, wrong, kinds


def test_overlap_quality_on_the_labelled_pairs(record_figures):
    """The matcher's labelled pairs through mapping's own keys and scoring: precision at
    least 0.99 over every file together and on the aliases file; recall reported by kind."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    lines, totals = [], [0, 0, 0, 0]
    by_kind: dict[str, tuple[int, int]] = {}
    for name in ("customer_pairs.csv", "customer_pairs_holdout.csv",
                 "customer_pairs_aliases.csv"):
        count, same, right, wrong, kinds = overlap_quality(data / name)
        precision = right / (right + wrong)
        lines.append(f"{name}: {count} pairs, {same} the same company; overlaps found "
                     f"{right + wrong}, {wrong} wrong: precision {precision:.3f}, recall "
                     f"{right / same:.3f}")
        for i, value in enumerate((count, same, right, wrong)):
            totals[i] += value
        if name == "customer_pairs_aliases.csv":
            assert precision >= 0.99
            by_kind = kinds
    count, same, right, wrong = totals
    overall = right / (right + wrong)
    lines.append(f"all: {count} pairs: precision {overall:.3f}, recall {right / same:.3f}")
    lines.append("other names, by kind (found / the same company): " + ", ".join(
        f"{kind} {hit}/{had}" for kind, (had, hit) in sorted(by_kind.items()) if had))
    record_figures("account mapping: overlaps on the labelled customer pairs", lines)
    assert overall >= 0.99
    assert right / same >= 0.9
