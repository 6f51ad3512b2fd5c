"""The partner home's progress sections, from the partners service's progress events: the
newest version kept whatever the order."""

import datetime as dt
import uuid

from prm_contracts import OnboardingProgressV1, PartnerTierProgressV1
from prm_events.envelope import new_event


def tier_progress(partner_id: uuid.UUID, version: int, next_tier: str | None, actual: str):
    return new_event(PartnerTierProgressV1(
        partner_id=partner_id, tier="Silver", next_tier=next_tier,
        shortfalls=[{"criterion": "revenue", "code": "revenue_below", "required": "100000.00",
                     "actual": actual, "currency": "EUR",
                     "message": f"revenue {actual} EUR of 100000.00 EUR"}]
        if next_tier else [],
        criteria={"revenue": actual}, evaluated_on=dt.date(2027, 1, version), version=version),
        source="/prm/partners", subject=str(partner_id), partner_id=partner_id)


def onboarding_progress(partner_id: uuid.UUID, version: int, done: int):
    tasks = [{"task_id": str(uuid.uuid4()), "title": f"Task {i}",
              "due_on": f"2027-02-0{i}"} for i in range(done + 1, 5)]
    return new_event(OnboardingProgressV1(
        partner_id=partner_id, plan_id=uuid.uuid4(), tasks_total=4, tasks_done=done,
        tasks_due=tasks, version=version),
        source="/prm/partners", subject=str(partner_id), partner_id=partner_id)


async def test_the_home_shows_the_newest_progress(client, consume, story, as_partner):
    told = story()
    partner = told.partner_id
    newer, older = tier_progress(partner, 3, "Gold", "80000.00"), \
        tier_progress(partner, 2, "Gold", "50000.00")
    steps = [onboarding_progress(partner, v, done) for v, done in ((1, 0), (2, 1), (3, 3))]
    await consume(*told.events[:3], newer, older, steps[2], steps[0], steps[1])
    home = (await client.get("/v1/partner-home", headers=as_partner(partner))).json()
    tier = home["tier"]
    assert (tier["next_tier"], tier["evaluated_on"]) == ("Gold", "2027-01-03")
    assert [(s["criterion"], s["actual"], s["required"]) for s in tier["shortfalls"]] == [
        ("revenue", "80000.00", "100000.00")]
    assert tier["criteria"] == {"revenue": "80000.00"}
    onboarding = home["onboarding"]
    assert (onboarding["tasks_total"], onboarding["tasks_done"]) == (4, 3)
    assert [t["title"] for t in onboarding["tasks_due"]] == ["Task 4"]
    assert onboarding["completed"] is False
    # At the top: no next tier, nothing lacking.
    await consume(tier_progress(partner, 4, None, "150000.00"))
    tier = (await client.get("/v1/partner-home", headers=as_partner(partner))).json()["tier"]
    assert (tier["next_tier"], tier["shortfalls"]) == (None, [])


async def test_without_progress_the_sections_say_so(client, consume, story, as_partner):
    told = story()
    await consume(*told.events)
    home = (await client.get("/v1/partner-home", headers=as_partner(told.partner_id))).json()
    assert home["tier"]["next_tier"] is None and home["tier"]["shortfalls"] == []
    assert home["onboarding"]["tasks_total"] is None
    assert home["onboarding"]["completed"] is True
