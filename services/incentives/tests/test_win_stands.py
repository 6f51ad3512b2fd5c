"""A deal won once accrues once, on the amount the deal holds. The won events of one deal may
come more than once with other event ids (the deals service emitting one win twice, the same
version, or a later version with another amount): the handlers apply the newest win only. A
second event of one version, an older one, or any after the win was reversed changes nothing;
a newer one supersedes what the earlier win accrued (its money moved back, announced as a
reversal) and accrues on its own amount, rebates and SPIFFs alike."""

import asyncio
import datetime as dt
import random
import uuid

from sqlalchemy import text

from prm_contracts import DealWinReversedV1, DealWonV1
from prm_events.envelope import new_event
from prm_incentives.rebates import service as rebates
from prm_incentives.rebates.handlers import HANDLERS
from prm_incentives.rebates.schemas import RebateProgrammeIn
from prm_incentives.spiffs import service as spiffs
from prm_incentives.spiffs.schemas import SpiffIn

from .conftest import VENDOR, project_partner
from .rebate_helpers import won

_MAY = dt.date(2025, 5, 2)


def again(deal: DealWonV1, version: int, amount: str | None = None, **changes) -> DealWonV1:
    """The same deal's win at ``version``, for ``amount`` (unchanged if None)."""
    money = deal.amount if amount is None else deal.amount.model_copy(update={
        "amount": amount})
    return deal.model_copy(update={"version": version, "amount": money, **changes})


async def send(app, *payloads) -> None:
    """Each payload as an event of its own (a new event id each time), in one transaction."""
    async with app.state.sessionmaker() as session:
        for payload in payloads:
            event = new_event(payload, source="/prm/deals", subject=str(payload.deal_id),
                              partner_id=payload.partner_id)
            await HANDLERS[event.type](session, event)
        await session.commit()


async def setup(client, vendor, starts_on="2025-01-01", ends_on="2025-12-31") -> tuple:
    """A 2 % rebate programme and a SPIFF of 25.00 a deal."""
    tag = uuid.uuid4().hex[:10]
    programme = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": f"ws-{tag}", "currency": "EUR", "basis": "tier", "starts_on": starts_on,
        "ends_on": ends_on, "rules": [{"rate": "2"}]})
    assert programme.status_code == 201, programme.text
    spiff = await client.post("/v1/spiffs", headers=vendor, json={
        "name": f"ws-{tag}", "starts_on": starts_on, "ends_on": ends_on,
        "fixed_amount": {"amount": "25.00", "currency": "EUR"},
        "fund": {"amount": "1000.00", "currency": "EUR"}})
    assert spiff.status_code == 201, spiff.text
    return programme.json(), spiff.json()


async def accruals_of(client, vendor, deal: DealWonV1) -> dict[str, list[dict]]:
    found = {}
    for kind in ("rebates", "spiffs"):
        response = await client.get(f"/v1/{kind}/accruals", headers=vendor,
                                    params={"deal_id": str(deal.deal_id)})
        assert response.status_code == 200, response.text
        found[kind] = response.json()["items"]
    return found


async def payable(client, partner_id) -> int:
    return int((await client.connection.execute(text(
        "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_accounts "
        "WHERE kind = 'payable' AND partner_id = :p"), {"p": partner_id})).scalar_one())


async def events(client, partner_id) -> list[tuple[str, str]]:
    rows = await client.connection.execute(text(
        "SELECT event_type, envelope->'data'->'amount'->>'amount' FROM outbox "
        "WHERE envelope->>'partnerid' = CAST(:p AS varchar) "
        "AND (event_type LIKE 'prm.rebate.%' OR event_type LIKE 'prm.spiff.%') ORDER BY seq"),
        {"p": str(partner_id)})
    return [(row[0], row[1]) for row in rows]


async def test_one_win_sent_twice_accrues_once(app, client, vendor, list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    # The same version twice with other event ids, once for another amount: the first stands.
    await send(app, deal, again(deal, deal.version), again(deal, deal.version, "9000.00"))
    await send(app, again(deal, deal.version))
    found = await accruals_of(client, vendor, deal)
    assert [(a["status"], a["amount"]["amount"], a["deal_version"])
            for a in found["rebates"]] == [("accrued", "30.00", deal.version)]
    assert [(a["status"], a["amount"]["amount"]) for a in found["spiffs"]] == [
        ("accrued", "25.00")]
    assert await payable(client, partner) == 3000 + 2500
    assert await events(client, partner) == [("prm.rebate.accrued.v1", "30.00"),
                                             ("prm.spiff.accrued.v1", "25.00")]


async def test_a_newer_win_replaces_what_the_earlier_one_accrued(app, client, vendor,
                                                                 list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    first = won(partner, "1500.00", closed_on=_MAY)
    newer = again(first, first.version + 1, "4000.00")
    await send(app, first)
    before = await accruals_of(client, vendor, first)
    await send(app, newer)
    # Replayed, or arriving late: neither the newer nor the older win changes anything again.
    await send(app, newer, first, again(first, first.version, "9000.00"))

    found = await accruals_of(client, vendor, first)
    for kind, amount in (("rebates", "80.00"), ("spiffs", "25.00")):
        old, new = sorted(found[kind], key=lambda a: a["created_at"])
        assert old["id"] == before[kind][0]["id"]
        assert old["status"] == "superseded" and old["deal_version"] == first.version
        assert old["reason"] == f"superseded by the deal's win of version {newer.version}"
        assert old["reversal_transfer_id"] and old["version"] == 2
        assert new["status"] == "accrued" and new["deal_version"] == newer.version
        assert new["amount"]["amount"] == amount and new["transfer_id"] != old["transfer_id"]
        assert new["deal_amount"]["amount"] == "4000.00"
    # What the partner is owed is the newer win's, once.
    assert await payable(client, partner) == 8000 + 2500
    assert await events(client, partner) == [
        ("prm.rebate.accrued.v1", "30.00"), ("prm.spiff.accrued.v1", "25.00"),
        ("prm.rebate.reversed.v1", "30.00"), ("prm.rebate.accrued.v1", "80.00"),
        ("prm.spiff.reversed.v1", "25.00"), ("prm.spiff.accrued.v1", "25.00")]
    # A superseded accrual is not reversed by hand; the standing one is.
    rebate_old = next(a for a in found["rebates"] if a["status"] == "superseded")
    refused = await client.post(f"/v1/rebates/accruals/{rebate_old['id']}/reverse",
                                headers=vendor, json={"reason": "x"})
    assert refused.status_code == 409


async def test_an_older_win_after_a_newer_one_changes_nothing(app, client, vendor,
                                                              list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    await send(app, again(deal, 5, "2500.00"), again(deal, 4, "1000.00"), deal)
    found = await accruals_of(client, vendor, deal)
    assert [(a["amount"]["amount"], a["deal_version"]) for a in found["rebates"]] == [
        ("50.00", 5)]
    assert [a["deal_version"] for a in found["spiffs"]] == [5]
    assert await payable(client, partner) == 5000 + 2500


async def test_a_newer_win_of_the_same_deal_moves_nothing(app, client, vendor, list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    await send(app, deal)
    before = await accruals_of(client, vendor, deal)
    await send(app, again(deal, deal.version + 2))
    found = await accruals_of(client, vendor, deal)
    for kind in ("rebates", "spiffs"):
        [row] = found[kind]
        assert row["deal_version"] == deal.version + 2
        assert {**row, "deal_version": deal.version} == before[kind][0]
    assert len(await events(client, partner)) == 2


async def test_a_newer_win_on_another_day_moves_between_programmes(app, client, vendor,
                                                                  list_partner):
    may, _ = await setup(client, vendor, "2025-05-01", "2025-05-31")
    june, _ = await setup(client, vendor, "2025-06-01", "2025-06-30")
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    await send(app, deal, again(deal, deal.version + 1, "2000.00",
                                closed_on=dt.date(2025, 6, 3)))
    found = await accruals_of(client, vendor, deal)
    by_programme = {a["programme_id"]: a for a in found["rebates"]}
    assert by_programme[may["id"]]["status"] == "superseded"
    assert by_programme[june["id"]]["status"] == "accrued"
    assert by_programme[june["id"]]["amount"]["amount"] == "40.00"
    assert sorted(a["status"] for a in found["spiffs"]) == ["accrued", "superseded"]
    assert await payable(client, partner) == 4000 + 2500


async def test_a_batched_accrual_is_kept_and_says_why(app, client, vendor, list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    await send(app, deal)
    batch = await client.post("/v1/payouts/batches", headers=vendor, json={
        "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
        "period_to": "2025-12-31"})
    assert batch.status_code == 201, batch.text
    await send(app, again(deal, deal.version + 1, "4000.00"))
    found = await accruals_of(client, vendor, deal)
    for kind in ("rebates", "spiffs"):
        [row] = found[kind]
        assert row["status"] == "accrued" and row["deal_version"] == deal.version
        assert row["reason"] == (f"the deal's win of version {deal.version + 1} is not "
                                 f"applied: in payout batch {batch.json()['id']}")
    assert await payable(client, partner) == 3000 + 2500


async def test_no_win_applies_after_the_win_was_reversed(app, client, vendor, list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    deal = won(partner, "1500.00", closed_on=_MAY)
    reversal = DealWinReversedV1(deal_id=deal.deal_id, partner_id=partner,
                                 status="win_reversed", version=deal.version + 1,
                                 reason="cancelled", amount=deal.amount,
                                 closed_on=deal.closed_on)
    await send(app, deal, reversal, deal, again(deal, deal.version + 2, "5000.00"))
    found = await accruals_of(client, vendor, deal)
    assert [a["status"] for a in found["rebates"] + found["spiffs"]] == ["reversed"] * 2
    assert await payable(client, partner) == 0
    # A reversal that comes first: the win that follows it is not applied either.
    other = won(partner, "700.00", closed_on=_MAY)
    await send(app, DealWinReversedV1(**{**reversal.model_dump(), "deal_id": other.deal_id,
                                         "version": other.version + 1}), other)
    assert await accruals_of(client, vendor, other) == {"rebates": [], "spiffs": []}


async def test_wins_of_one_deal_applied_at_once_leave_the_newest(committing):
    """Five wins of one deal (versions 3 to 7, each its own amount), each sent twice, applied
    in any order by concurrent transactions: one accrual per programme and SPIFF stands, on
    the newest win's amount, and the partner's payable holds exactly that."""
    day = dt.date(3900, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 30_000)
    partner = uuid.uuid4()
    async with committing() as session:
        await project_partner(session, partner)
        programme = await rebates.create_programme(session, VENDOR, RebateProgrammeIn(
            name=f"ws-{uuid.uuid4().hex}", currency="EUR", basis="tier", starts_on=day,
            ends_on=day, rules=[{"rate": "2"}]))
        spiff = await spiffs.create_spiff(session, VENDOR, SpiffIn(
            name=f"ws-{uuid.uuid4().hex}", starts_on=day, ends_on=day, rate="1",
            fund={"amount": "100000.00", "currency": "EUR"}))
        await session.commit()
    deal = won(partner, "1000.00", closed_on=day)
    wins = [again(deal, version, f"{version * 1000}.00") for version in range(3, 8)] * 2
    random.shuffle(wins)

    async def apply(win: DealWonV1) -> None:
        async with committing() as session:
            event = new_event(win, source="/prm/deals", subject=str(win.deal_id),
                              partner_id=partner)
            await HANDLERS[event.type](session, event)
            await session.commit()

    await asyncio.gather(*[apply(win) for win in wins])
    async with committing() as session:
        rows = [*(await session.execute(text(
            "SELECT status, amount, deal_version FROM rebate_accruals WHERE programme_id = :p"),
            {"p": programme.id})), *(await session.execute(text(
                "SELECT status, amount, deal_version FROM spiff_accruals WHERE spiff_id = :s"),
                {"s": spiff.id}))]
        held = (await session.execute(text(
            "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_accounts "
            "WHERE kind = 'payable' AND partner_id = :p"), {"p": partner})).scalar_one()
    standing_rows = [r for r in rows if r.status != "superseded"]
    assert sorted((r.amount, r.deal_version) for r in standing_rows) == [(7000, 7),
                                                                         (14000, 7)]
    assert all(r.status == "accrued" for r in standing_rows)
    assert held == 14000 + 7000
