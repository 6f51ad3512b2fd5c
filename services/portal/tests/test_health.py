"""Partner health from the contexts' events: the score, its pillars and band equal what a hand
computes; every measure names the facts behind it; a decline crosses a band once and says so
once; replays change nothing; the model is versioned, previewed and guarded by If-Match."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_contracts import (
    Amount,
    CertificationEarnedV1,
    CertificationExpiredV1,
    Customer,
    DealRegisteredV1,
    DealWonV1,
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerSurveyAnsweredV1,
)
from prm_events.envelope import new_event
from prm_portal.health import service

HEALTH = ("health:read", "health:write")
MODEL = {
    "currency": "EUR",
    "pillars": [
        {"key": "revenue", "name": "Revenue", "weight": 50, "measures": [
            {"measure": "revenue_won", "window": "90d", "target": "10000"}]},
        {"key": "enablement", "name": "Enablement", "weight": 30, "measures": [
            {"measure": "active_certifications", "window": "lifetime", "target": "4"}]},
        {"key": "satisfaction", "name": "Satisfaction", "weight": 20, "measures": [
            {"measure": "psat", "window": "90d", "target": "5", "floor": "1"}]},
        {"key": "ignored", "name": "Shown, not counted", "weight": 0, "measures": [
            {"measure": "deals_registered", "window": "90d", "target": "1"}]},
    ],
    "bands": [{"name": "healthy", "min_score": "65"}, {"name": "watch", "min_score": "40"},
              {"name": "at_risk", "min_score": "0"}],
}


@pytest.fixture
async def health_model(client, vendor_health):
    """The test's model in force (a new version); the default again afterwards."""
    current = await client.get("/v1/health-model", headers=vendor_health)
    put = await client.put("/v1/health-model", headers={
        **vendor_health, "If-Match": current.headers["etag"]}, json=MODEL)
    assert put.status_code == 200, put.text
    return put.json()


@pytest.fixture(autouse=True)
async def default_model_after(engine):
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM health_models WHERE version > 1"))
        await connection.execute(text("DELETE FROM outbox WHERE topic = 'prm.partner-health'"))


@pytest.fixture
def vendor_health(prm_infra):
    from prm_stack.testing import vendor_headers
    return vendor_headers(prm_infra.internal_secret, ("portal:read", *HEALTH))


class Partner:
    """One partner's events, as the contexts publish them."""

    def __init__(self, today: dt.date) -> None:
        self.id = uuid.uuid4()
        self.today = today
        self.events: list = []
        self.certifications: list[uuid.UUID] = []
        self.deals: list[uuid.UUID] = []
        self._add(PartnerCreatedV1(partner=PartnerSnapshot(
            id=self.id, name=f"Health {str(self.id)[:8]}", type="reseller", country="DE",
            status="active", version=1, tier="Gold")), "/prm/partners")

    def _add(self, payload, source: str) -> None:
        self.events.append(new_event(payload, source=source, subject=str(self.id),
                                     partner_id=self.id))

    def win(self, amount: str, currency: str = "EUR") -> uuid.UUID:
        deal = uuid.uuid4()
        customer = Customer(name=f"Customer {str(deal)[:6]}", domain=f"c{str(deal)[:6]}.example",
                            country="DE")
        money = Amount(amount=amount, currency=currency)
        self._add(DealRegisteredV1(deal_id=deal, partner_id=self.id, customer=customer,
                                   amount=money, expected_close_date=self.today,
                                   status="submitted"), "/prm/deals")
        self._add(DealWonV1(deal_id=deal, partner_id=self.id, status="won", version=3,
                            customer=customer, amount=money, closed_on=self.today,
                            deal_type="new", products=[]), "/prm/deals")
        self.deals.append(deal)
        return deal

    def certify(self) -> uuid.UUID:
        cert = uuid.uuid4()
        self._add(CertificationEarnedV1(partner_id=self.id, certification_id=cert,
                                        code=f"C{len(self.certifications)}",
                                        earned_on=self.today - dt.timedelta(days=30),
                                        expires_on=self.today + dt.timedelta(days=300)),
                  "/prm/partners")
        self.certifications.append(cert)
        return cert

    def lapse(self, cert: uuid.UUID):
        event = new_event(CertificationExpiredV1(
            partner_id=self.id, certification_id=cert, code="C0", expired_on=self.today),
            source="/prm/partners", subject=str(self.id), partner_id=self.id)
        self.events.append(event)
        return event

    def answer(self, kind: str, value: int) -> uuid.UUID:
        response = uuid.uuid4()
        self._add(PartnerSurveyAnsweredV1(
            partner_id=self.id, response_id=response, kind=kind, score=value,
            answered_at=dt.datetime.combine(self.today, dt.time(9), dt.UTC)), "/prm/partners")
        return response


async def score_due(sessionmaker) -> int:
    async with sessionmaker() as session, session.begin():
        return await service.score_due(session)


async def band_events(engine, partner_id: uuid.UUID) -> list[dict]:
    async with engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT envelope FROM outbox WHERE topic = 'prm.partner-health' "
            "AND key = :key ORDER BY seq"), {"key": str(partner_id)})
        return [r.envelope for r in rows]


async def test_the_score_its_pillars_and_band_are_what_a_hand_computes(
        client, consume, sessionmaker, engine, vendor_health, health_model, today):
    p = Partner(today)
    won = p.win("7000.00")
    p.win("500.00", "USD")  # another currency: not in a EUR revenue measure, and said so
    first = p.certify()
    p.certify()
    p.answer("psat", 4)
    p.answer("psat", 5)
    await consume(*p.events)
    assert await score_due(sessionmaker) >= 1

    card = await client.get(f"/v1/partner-health/{p.id}", headers=vendor_health)
    assert card.status_code == 200, card.text
    body = card.json()
    health = body["health"]
    # revenue 7000/10000 -> 70 points; enablement 2/4 -> 50; PSAT mean 4.5 -> (4.5-1)/4 = 87.5
    # score = (50*70 + 30*50 + 20*87.5) / (50+30+20) = 67.50; the weight-0 pillar counts not.
    assert health["score"] == "67.50"
    assert health["band"] == "healthy"
    assert health["model_version"] == health_model["version"]
    pillars = {p_["key"]: p_ for p_ in body["pillars"]}
    assert pillars["revenue"]["score"] == "70.00"
    assert pillars["revenue"]["contribution"] == "35.00"
    assert pillars["enablement"]["contribution"] == "15.00"
    assert pillars["satisfaction"]["contribution"] == "17.50"
    assert pillars["ignored"]["contribution"] == "0.00"
    assert pillars["ignored"]["measures"][0]["value"] == "2"
    revenue = pillars["revenue"]["measures"][0]
    assert revenue["value"] == "7000.00"
    assert [(e["kind"], e["ref_id"], e["currency"]) for e in revenue["evidence"]] == [
        ("deal_won", str(won), "EUR")]
    assert revenue["evidence"][0]["event_id"] is not None
    held = pillars["enablement"]["measures"][0]
    assert held["evidence_count"] == 2 and str(first) in {e["ref_id"] for e in held["evidence"]}
    assert body["satisfaction"] == {"answers": 2, "psat": "4.50", "psat_answers": 2,
                                    "nps": None, "nps_answers": 0, "low_sample": True}
    assert body["kpis"]["deals_won"] == 2
    assert body["kpis"]["won"] == [{"currency": "EUR", "amount": "7000.00"},
                                   {"currency": "USD", "amount": "500.00"}]
    assert await band_events(engine, p.id) == []  # a first score crosses nothing

    # A decline: a certification lapses -> enablement 1/4 = 25 -> score 60.00, band watch.
    await consume(p.lapse(first))
    await score_due(sessionmaker)
    await score_due(sessionmaker)  # nothing due: no second crossing
    async with sessionmaker() as session, session.begin():
        await service.score_partners(session, [p.id], service.today())  # the daily run again
    after = (await client.get(f"/v1/partner-health/{p.id}", headers=vendor_health)).json()
    assert (after["health"]["score"], after["health"]["band"]) == ("60.00", "watch")
    assert after["health"]["previous_band"] == "watch"  # the last run changed nothing
    crossed = await band_events(engine, p.id)
    assert len(crossed) == 1
    assert crossed[0]["data"] == {
        "partner_id": str(p.id), "score": "60.00", "band": "watch",
        "previous_band": "healthy", "previous_score": "67.50", "direction": "worse",
        "model_version": health_model["version"], "computed_on": today.isoformat()}
    # ... and the channel managers are told, once.
    async with engine.connect() as connection:
        told = (await connection.execute(text(
            "SELECT count(*) FROM notifications WHERE subject_id = :p "
            "AND kind = 'partner.health_declined'"), {"p": p.id})).scalar_one()
    assert told == 0  # the notification comes from the event, once it is published
    from prm_contracts import CONTRACTS  # noqa: F401  (the event is a declared contract)
    from prm_events.envelope import CloudEvent
    await consume(CloudEvent.model_validate(crossed[0]))
    await consume(CloudEvent.model_validate(crossed[0]))  # a redelivery
    async with engine.connect() as connection:
        told = (await connection.execute(text(
            "SELECT count(*) FROM notifications WHERE subject_id = :p "
            "AND kind = 'partner.health_declined' AND audience = 'vendor'"),
            {"p": p.id})).scalar_one()
    assert told == 1

    history = (await client.get(f"/v1/partner-health/{p.id}/history",
                                headers=vendor_health)).json()
    assert [h["score"] for h in history["items"]] == ["60.00"]  # one row per day


async def test_replaying_every_event_changes_nothing(client, consume, sessionmaker, engine,
                                                      vendor_health, health_model, today):
    p = Partner(today)
    p.win("2500.00")
    p.certify()
    p.answer("psat", 3)
    await consume(*p.events)
    await score_due(sessionmaker)
    before = (await client.get(f"/v1/partner-health/{p.id}", headers=vendor_health)).json()
    async with engine.connect() as connection:
        facts = (await connection.execute(text(
            "SELECT count(*) FROM health_facts WHERE partner_id = :p"), {"p": p.id})
        ).scalar_one()
    await consume(*p.events)  # the whole history again
    await consume(*p.events, batch=True)
    assert await score_due(sessionmaker) == 0  # a redelivery made no partner due
    after = (await client.get(f"/v1/partner-health/{p.id}", headers=vendor_health)).json()
    assert after == before
    async with engine.connect() as connection:
        assert (await connection.execute(text(
            "SELECT count(*) FROM health_facts WHERE partner_id = :p"), {"p": p.id})
        ).scalar_one() == facts == 5  # created, registered, won, certified, answered


async def test_the_model_is_versioned_guarded_and_previewed(client, consume, sessionmaker,
                                                           vendor_health, today):
    current = await client.get("/v1/health-model", headers=vendor_health)
    assert current.status_code == 200
    version = current.json()["version"]
    assert current.headers["etag"] == f'"{version}"'
    assert "revenue_won" in current.json()["measures"]
    stale = await client.put("/v1/health-model", headers={**vendor_health, "If-Match": '"999"'},
                             json=MODEL)
    assert stale.status_code == 412
    bad = await client.put("/v1/health-model", headers=vendor_health, json={
        **MODEL, "bands": [{"name": "only", "min_score": "10"}]})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"

    p = Partner(today)
    p.win("10000.00")
    await consume(*p.events)
    await score_due(sessionmaker)
    preview = await client.post("/v1/health-model/preview", headers=vendor_health, json={
        "spec": MODEL, "partner_ids": [str(p.id)]})
    assert preview.status_code == 200, preview.text
    item = preview.json()["items"][0]
    # Revenue full (50 of 50 counted weight... with enablement 0/4 at 30): 50*100/80 = 62.50;
    # satisfaction has no answer and sits out.
    assert (item["score"], item["band"]) == ("62.50", "watch")
    assert item["current_score"] is not None
    saved = await client.put("/v1/health-model", headers={
        **vendor_health, "If-Match": current.headers["etag"]}, json=MODEL)
    assert saved.status_code == 200 and saved.json()["version"] == version + 1
    again = await client.put("/v1/health-model", headers={
        **vendor_health, "If-Match": current.headers["etag"]}, json=MODEL)
    assert again.status_code == 412
    versions = (await client.get("/v1/health-model/versions", headers=vendor_health)).json()
    assert [v["version"] for v in versions["items"]][:2] == [version + 1, version]
    # A new model makes every partner due; scored under it, the preview comes true.
    await score_due(sessionmaker)
    card = (await client.get(f"/v1/partner-health/{p.id}", headers=vendor_health)).json()
    assert (card["health"]["score"], card["health"]["model_version"]) == ("62.50",
                                                                          version + 1)


async def test_lists_programme_view_and_who_may_read(client, consume, sessionmaker,
                                                      vendor_health, as_partner, health_model,
                                                      today):
    strong, weak = Partner(today), Partner(today)
    strong.win("20000.00")
    for _ in range(4):
        strong.certify()
    strong.answer("nps", 10)
    weak.answer("nps", 2)
    await consume(*strong.events, *weak.events)
    await score_due(sessionmaker)
    listed = await client.get("/v1/partner-health", headers=vendor_health,
                              params={"id": [str(strong.id), str(weak.id)]})
    assert listed.status_code == 200, listed.text
    assert [i["partner_id"] for i in listed.json()["items"]] == [str(weak.id), str(strong.id)]
    healthy = await client.get("/v1/partner-health", headers=vendor_health, params={
        "id": [str(strong.id), str(weak.id)], "band": "healthy"})
    assert [i["partner_id"] for i in healthy.json()["items"]] == [str(strong.id)]
    programme = await client.get("/v1/programme-health", headers=vendor_health,
                                 params={"group_by": "tier"})
    assert programme.status_code == 200, programme.text
    gold = next(g for g in programme.json()["groups"] if g["key"] == "Gold")
    assert gold["partners"] >= 2 and gold["bands"]["healthy"] >= 1
    assert gold["satisfaction"]["nps_answers"] >= 2
    backwards = await client.get("/v1/programme-health", headers=vendor_health, params={
        "from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 422
    # Vendor-only: a partner's key is refused, even for its own scorecard.
    own = as_partner(strong.id, ("portal:read", "partners:read"))
    assert (await client.get(f"/v1/partner-health/{strong.id}", headers=own)).status_code == 403
    assert (await client.get(f"/v1/partner-health/{uuid.uuid4()}",
                             headers=vendor_health)).status_code == 404


async def test_enablement_counts_resources_used_and_paths_completed(consume, sessionmaker,
                                                                    today):
    """The enablement pillar may weigh what the partner's people use of the library and the
    learning paths they complete: progress in a path is no fact, its completion is, once."""
    from prm_contracts import EnablementResourceUsedV1, LearningEnrolmentChangedV1
    from prm_portal.health import measures
    from prm_portal.health.model import HealthModelSpec, MeasureSpec

    p = Partner(today)
    at = dt.datetime.combine(today, dt.time(10), dt.UTC)
    for kind in ("view", "download", "view"):
        p._add(EnablementResourceUsedV1(
            use_id=uuid.uuid4(), resource_id=uuid.uuid4(), resource_version=1, partner_id=p.id,
            kind=kind, language="en", used_at=at), "/prm/partners")
    enrolment = uuid.uuid4()
    for version, status in enumerate(("enrolled", "in_progress", "completed"), 1):
        p._add(LearningEnrolmentChangedV1(
            enrolment_id=enrolment, path_id=uuid.uuid4(), partner_id=p.id,
            contact_id=uuid.uuid4(), status=status, reason="joined", courses_done=version - 1,
            courses_total=2, completed_at=at if status == "completed" else None,
            version=version), "/prm/partners")
    await consume(*p.events)
    await consume(*p.events)  # a replay counts nothing twice
    model = HealthModelSpec.model_validate({**MODEL, "pillars": [
        {"key": "enablement", "name": "Enablement", "weight": 100, "measures": [
            {"measure": "resources_used", "target": "10"},
            {"measure": "learning_paths_completed", "window": "365d", "target": "2"}]}]})
    async with sessionmaker() as session:
        facts = (await measures.load(session, [p.id], today, None))[p.id]
    used, completed = (measures.value(MeasureSpec.model_validate(m), facts, model, today)
                       for m in model.model_dump(mode="json")["pillars"][0]["measures"])
    assert (used, completed) == (3, 1)
