"""Through-channel marketing: the campaigns' events projected (replays change nothing), an
engagement with a company's domain made a `marketing` touch that counts for the customer's
deals, the MDF link kept only for the partner's own fund request, and the campaign ROI against
values computed by hand, per key."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_attribution.campaigns.handlers import engagement_touch_id
from prm_contracts import (
    CampaignChangedV1,
    CampaignEngagedV1,
    CampaignLaunchedV1,
    EngagedCompany,
)
from prm_events.envelope import CloudEvent
from prm_platform.ids import new_id

PERIOD = "from=2026-09-01&to=2026-12-01"
CAMPAIGNS = "/prm/deals"


def _event(payload, at: dt.datetime) -> CloudEvent:
    return CloudEvent(id=new_id(), source=CAMPAIGNS, type=payload.event_type,
                      subject=str(payload.campaign_id), time=at,
                      data=payload.model_dump(mode="json"))


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


class CampaignStory:
    """Builds the campaigns' events of one campaign."""

    def __init__(self, name: str) -> None:
        self.campaign_id, self.name = uuid.uuid4(), name

    def changed(self, at: dt.datetime, *, version=1, name=None, status="published"
                ) -> CloudEvent:
        return _event(CampaignChangedV1(campaign_id=self.campaign_id, name=name or self.name,
                                        version=version, status=status, languages=["en"]), at)

    def launched(self, partner_id: uuid.UUID, at: dt.datetime,
                 mdf_request_id: uuid.UUID | None = None) -> tuple[uuid.UUID, CloudEvent]:
        launch_id = uuid.uuid4()
        return launch_id, _event(CampaignLaunchedV1(
            launch_id=launch_id, campaign_id=self.campaign_id, campaign_name=self.name,
            campaign_version=1, partner_id=partner_id, ref=launch_id.hex[:8], language="en",
            mdf_request_id=mdf_request_id, launched_at=at), at)

    def engaged(self, launch_id: uuid.UUID, partner_id: uuid.UUID, at: dt.datetime, *,
                kind="form_fill", domain: str | None = None,
                mdf_request_id: uuid.UUID | None = None) -> CloudEvent:
        return _event(CampaignEngagedV1(
            engagement_id=uuid.uuid4(), launch_id=launch_id, campaign_id=self.campaign_id,
            partner_id=partner_id, kind=kind, occurred_at=at,
            company=EngagedCompany(domain=domain) if domain else None,
            mdf_request_id=mdf_request_id), at + dt.timedelta(minutes=5))


async def _campaign_touches(client, campaign_id) -> list:
    return list(await client.connection.execute(text(
        "SELECT id, partner_id, customer_domain, kind, source, occurred_at, evidence, "
        "mdf_request_id, launch_id FROM touchpoints WHERE campaign_id = :c ORDER BY id"),
        {"c": campaign_id}))


async def test_an_engagement_is_one_marketing_touch_and_replays_change_nothing(
        client, apply, vendor, as_partner, kit):
    T0 = kit.T0
    a, b = uuid.uuid4(), uuid.uuid4()
    own, others = kit.MdfStory(a), kit.MdfStory(b)
    story = CampaignStory("Cloud security week")
    launch_a, launched_a = story.launched(a, T0, mdf_request_id=own.request_id)
    launch_b, launched_b = story.launched(b, T0)
    fill = story.engaged(launch_a, a, T0 + dt.timedelta(days=2), domain="Globex.Example",
                         mdf_request_id=own.request_id)
    # B names A's fund request: the touch is kept, without the link.
    foreign = story.engaged(launch_b, b, T0 + dt.timedelta(days=3), kind="click",
                            domain=f"{b.hex[:8]}.example", mdf_request_id=own.request_id)
    # A request the projection has not heard of is kept as the event says.
    unheard = uuid.uuid4()
    opened = story.engaged(launch_b, b, T0 + dt.timedelta(days=4), kind="open",
                           domain=f"{b.hex[:8]}.example", mdf_request_id=unheard)
    anonymous = story.engaged(launch_a, a, T0 + dt.timedelta(days=2), kind="click")
    # The launch before the campaign's own event; a stale version of it after the newest.
    await apply(own.submitted(), others.submitted(), launched_a, launched_b,
                story.changed(T0, version=2, name="Cloud security month"),
                story.changed(T0, version=1), fill, foreign, opened, anonymous)
    # Every event again: nothing moves.
    await apply(launched_a, launched_b, fill, foreign, opened, anonymous,
                story.changed(T0, version=1))

    campaign = (await client.connection.execute(text(
        "SELECT name, status, version FROM campaigns WHERE campaign_id = :c"),
        {"c": story.campaign_id})).one()
    assert tuple(campaign) == ("Cloud security month", "published", 2)
    launches = (await client.connection.execute(text(
        "SELECT launch_id, partner_id, mdf_request_id FROM campaign_launches "
        "WHERE campaign_id = :c ORDER BY launched_at, launch_id"),
        {"c": story.campaign_id})).all()
    assert sorted(tuple(r) for r in launches) == sorted(
        [(launch_a, a, own.request_id), (launch_b, b, None)])

    touches = {t.id: t for t in await _campaign_touches(client, story.campaign_id)}
    fill_data, foreign_data = (CampaignEngagedV1.model_validate(e.data) for e in (fill, foreign))
    opened_data = CampaignEngagedV1.model_validate(opened.data)
    assert set(touches) == {engagement_touch_id(e.engagement_id)
                            for e in (fill_data, foreign_data, opened_data)}
    touch = touches[engagement_touch_id(fill_data.engagement_id)]
    assert (touch.partner_id, touch.customer_domain, touch.kind, touch.source) == (
        a, "globex.example", "marketing", "event")
    assert touch.occurred_at == T0 + dt.timedelta(days=2)
    assert (touch.mdf_request_id, touch.launch_id) == (own.request_id, launch_a)
    # Named as the campaign was when the engagement arrived.
    assert touch.evidence["description"] == "campaign Cloud security month: form_fill"
    assert touch.evidence["reference"] == str(fill_data.engagement_id)
    assert touches[engagement_touch_id(foreign_data.engagement_id)].mdf_request_id is None
    assert touches[engagement_touch_id(opened_data.engagement_id)].mdf_request_id == unheard

    # Through the API: the campaign on each touch, and a filter by it.
    listed = (await client.get(f"/v1/touchpoints?campaign_id={story.campaign_id}"
                               "&include=total_count", headers=vendor)).json()
    assert listed["total_count"] == 3
    assert {t["campaign_id"] for t in listed["items"]} == {str(story.campaign_id)}
    assert {t["launch_id"] for t in listed["items"]} == {str(launch_a), str(launch_b)}
    mine = (await client.get(f"/v1/touchpoints?campaign_id={story.campaign_id}",
                             headers=as_partner(b))).json()["items"]
    assert {t["partner_id"] for t in mine} == {str(b)} and len(mine) == 2


async def test_campaign_touches_count_for_won_deals_and_the_roi_is_computed_by_hand(
        client, apply, vendor, as_partner, kit):
    T0 = kit.T0
    a, b = uuid.uuid4(), uuid.uuid4()
    fund = kit.MdfStory(a, planned="1500.00")
    deal = kit.DealStory(a, amount="10000.00")
    domain = deal.customer.domain
    shared, solo = CampaignStory("Cloud security week"), CampaignStory("Backup basics")
    launch_a, launched_a = shared.launched(a, T0 + dt.timedelta(days=1),
                                           mdf_request_id=fund.request_id)
    launch_b, launched_b = shared.launched(b, T0 + dt.timedelta(days=1))
    launch_solo, launched_solo = solo.launched(a, T0 + dt.timedelta(days=1))
    # Launched before the period: not counted.
    _, launched_early = solo.launched(b, dt.datetime(2026, 8, 1, tzinfo=dt.UTC))
    fill = shared.engaged(launch_a, a, T0 + dt.timedelta(days=2), domain=domain)
    await apply(kit.partner_created(a), kit.partner_created(b), fund.submitted(),
                fund.approved(), fund.claim_approved("1000.00"), shared.changed(T0),
                solo.changed(T0), launched_a, launched_b, launched_solo, launched_early,
                deal.registered(), deal.approved(), fill,
                # B's engagement on another customer: a touch, no deal.
                shared.engaged(launch_b, b, T0 + dt.timedelta(days=3), kind="click",
                               domain=f"{b.hex[:8]}.example"),
                # No company: no touch.
                solo.engaged(launch_solo, a, T0 + dt.timedelta(days=3), kind="open"))
    consulting = await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(b), "deal_id": str(deal.deal_id), "kind": "consulting",
        "occurred_at": (T0 + dt.timedelta(days=4)).isoformat(),
        "evidence": {"description": "Architecture workshop"}})
    assert consulting.status_code == 201, consulting.text
    await apply(deal.won())

    # The campaign's touch on the customer counts for the deal: A has its registration and
    # the form fill, B its workshop; linear: A 2/3 of 10,000.00 = 6,666.67 (the unit left by
    # the floors goes to A's larger remainder), B 3,333.33.
    touch_id = str(engagement_touch_id(CampaignEngagedV1.model_validate(fill.data)
                                       .engagement_id))
    explained = (await client.get(f"/v1/attributed-deals/{deal.deal_id}/explanation",
                                  headers=vendor)).json()
    assert touch_id in {t["id"] for t in explained["touches"]}
    credits = {p["partner_id"]: p["credits"]["linear"]["amount"]
               for p in explained["partners"]}
    assert credits == {str(a): _eur("6666.67"), str(b): _eur("3333.33")}

    # The campaign's return: A's credit times its campaign touches over all its touches on the
    # deal, 6,666.67 x 1/2 = 3,333.335 -> 3,333.34 (half-even on 333,333.5 minor units); the
    # cost is the approved claim of 1,000.00 on A's fund request; ROI (3,333.335 - 1,000) /
    # 1,000 = 2.333335 -> 2.3333.
    page = (await client.get(f"/v1/attribution-kpis/campaigns?{PERIOD}&campaign_id="
                             f"{shared.campaign_id},{solo.campaign_id}", headers=vendor)).json()
    rows = {r["campaign_id"]: r for r in page["items"]}
    assert set(rows) == {str(shared.campaign_id), str(solo.campaign_id)}
    row = rows[str(shared.campaign_id)]
    assert (row["name"], row["status"]) == ("Cloud security week", "published")
    assert (row["launches"], row["partners"], row["touches"], row["won_deals"]) == (2, 2, 2, 1)
    assert (row["cost"], row["revenue"], row["roi"]) == (_eur("1000.00"), _eur("3333.34"),
                                                        "2.3333")
    assert sorted(row["launch_ids"]) == sorted([str(launch_a), str(launch_b)])
    assert row["request_ids"] == [str(fund.request_id)]
    assert len(row["cost_ids"]) == 1 and row["deal_ids"] == [str(deal.deal_id)]
    assert touch_id in row["touchpoint_ids"] and len(row["touchpoint_ids"]) == 2
    # No cost: no ROI.
    alone = rows[str(solo.campaign_id)]
    assert (alone["launches"], alone["partners"], alone["touches"], alone["won_deals"]) == (
        1, 1, 0, 0)
    assert (alone["cost"], alone["revenue"], alone["roi"]) == (_eur("0.00"), _eur("0.00"),
                                                              None)
    # Another model, the same touches: first touch gives A (the registration) it all.
    first = (await client.get(f"/v1/attribution-kpis/campaigns?{PERIOD}&model=first_touch"
                              f"&campaign_id={shared.campaign_id}", headers=vendor)).json()
    assert first["items"][0]["revenue"] == _eur("5000.00")
    # A period after the launches: nothing.
    later = (await client.get("/v1/attribution-kpis/campaigns?from=2026-12-01&to=2027-01-01"
                              f"&campaign_id={shared.campaign_id}", headers=vendor)).json()
    assert later["items"] == []

    # A partner key: the campaigns it launched, its own launches' figures only.
    seen = (await client.get(f"/v1/attribution-kpis/campaigns?{PERIOD}&campaign_id="
                             f"{shared.campaign_id},{solo.campaign_id}",
                             headers=as_partner(b))).json()["items"]
    assert [r["campaign_id"] for r in seen] == [str(shared.campaign_id)]
    [theirs] = seen
    assert (theirs["launches"], theirs["partners"], theirs["touches"], theirs["won_deals"]) \
        == (1, 1, 1, 0)
    assert theirs["launch_ids"] == [str(launch_b)] and theirs["request_ids"] == []
    assert (theirs["cost"], theirs["revenue"], theirs["roi"]) == (_eur("0.00"), _eur("0.00"),
                                                                 None)
    assert touch_id not in theirs["touchpoint_ids"]
    ours = (await client.get(f"/v1/attribution-kpis/campaigns?{PERIOD}&campaign_id="
                             f"{shared.campaign_id}", headers=as_partner(a))).json()["items"]
    assert (ours[0]["launches"], ours[0]["revenue"], ours[0]["roi"]) == (
        1, _eur("3333.34"), "2.3333")
    refused = await client.get("/v1/attribution-kpis/campaigns?from=2026-12-01&to=2026-09-01",
                               headers=vendor)
    assert refused.status_code == 422
