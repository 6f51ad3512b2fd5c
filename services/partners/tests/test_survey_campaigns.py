"""Survey campaigns: their set-up (vendor only, strict, If-Match), the scheduled job inviting
the right contacts once (run twice, and twice at once), event-triggered campaigns after an
onboarding completed or a payout paid (once however often the event arrives, after their
delay), the quiet period across campaigns, the invitation event in the outbox, answers naming
their invitation counting for the campaign, and a contact's erasure."""

import asyncio
import datetime as dt
import json
import time
import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from prm_contracts import Amount, OnboardingCompletedV1, PayoutPaidV1
from prm_events.envelope import new_event
from prm_partners.config import Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import create_app
from prm_partners.surveys import campaigns
from prm_partners.surveys.handlers import HANDLERS
from prm_platform.signatures import signature
from prm_stack.testing import committing_client, vendor_headers

REQUESTED = "prm.partner.survey_requested.v1"
SCHEDULED = {"name": "Quarterly PSAT", "kind": "psat", "contact_roles": ["admin", "sales"],
             "partner_types": ["reseller"], "trigger": "schedule", "every_days": 91}


@pytest.fixture
def db(app, client):
    """Sessions on the test client's connection (rolled back with it)."""
    return app.state.sessionmaker


async def partner(client, vendor, *, type_="reseller", activate=True, name="Northwind Ltd"):
    created = await client.post("/v1/partners", json={
        "name": name, "type": type_, "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    found = created.json()
    if activate:
        found = (await client.post(f"/v1/partners/{found['id']}/activate",
                                   headers=vendor)).json()
    return found["id"]


async def contact(client, vendor, partner_id, *roles):
    word = uuid.uuid4().hex[:8]
    made = await client.post(f"/v1/partners/{partner_id}/contacts", json={
        "name": f"Person {word}", "email": f"{word}@partner.example", "roles": list(roles)},
        headers=vendor)
    assert made.status_code == 201, made.text
    return made.json()


async def campaign(client, vendor, **body):
    made = await client.post("/v1/survey-campaigns", json={**SCHEDULED, **body},
                             headers=vendor)
    assert made.status_code == 201, made.text
    return made.json()


async def invitations(client, *partner_ids):
    return [dict(r._mapping) for r in await client.connection.execute(text(
        "SELECT id, campaign_id, partner_id, contact_id, status, cycle FROM survey_invitations "
        "WHERE partner_id = ANY(CAST(:p AS uuid[])) ORDER BY contact_id"),
        {"p": list(partner_ids)})]


async def requested(client, *partner_ids):
    return [e["data"] for (e,) in await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE event_type = :t "
        "AND envelope->'data'->>'partner_id' = ANY(CAST(:p AS text[])) ORDER BY seq"),
        {"t": REQUESTED, "p": list(partner_ids)})]


async def run_job(db):
    async with db() as session:
        done = await campaigns.run_due(session)
        await session.commit()
    return done


async def deliver(db, event):
    async with db() as session:
        await HANDLERS[event.type](session, event)
        await session.commit()


def onboarded(partner_id, plan_id):
    return new_event(OnboardingCompletedV1(
        partner_id=partner_id, plan_id=plan_id, completed_at=dt.datetime.now(dt.UTC)),
        source="/prm/partners", subject=str(partner_id), partner_id=partner_id)


def paid(partner_id, batch_id):
    today = dt.date.today()
    return new_event(PayoutPaidV1(
        batch_id=batch_id, partner_id=partner_id, period_from=today, period_to=today,
        total=Amount(amount="1200.00", currency="EUR"), lines=2, status="paid", version=4,
        payment_reference="PAY-1", paid_on=today),
        source="/prm/incentives", subject=str(batch_id), partner_id=partner_id)


# The campaigns' set-up


async def test_campaign_set_up_paused_and_changed_with_if_match(client, vendor, as_partner):
    made = await campaign(client, vendor)
    assert made["version"] == 1 and made["active"] is True
    assert made["partner_statuses"] == ["active"] and made["min_days_between"] == 90
    assert (made["invited"], made["pending"], made["answered"]) == (0, 0, 0)
    got = await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json() == made

    url = f"/v1/survey-campaigns/{made['id']}"
    paused = await client.patch(url, json={"active": False},
                                headers={**vendor, "If-Match": '"1"'})
    assert paused.status_code == 200 and paused.json()["version"] == 2, paused.text
    stale = await client.patch(url, json={"active": True}, headers={**vendor, "If-Match": '"1"'})
    assert stale.status_code == 412
    same = await client.patch(url, json={"active": False}, headers=vendor)
    assert same.json()["version"] == 2  # nothing changed, no new version
    # the trigger is checked whole: an event trigger names its event
    half = await client.patch(url, json={"trigger": "event"}, headers=vendor)
    assert half.status_code == 422, half.text
    moved = await client.patch(url, json={"trigger": "event", "event": "claim_paid",
                                          "delay_days": 3}, headers=vendor)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["every_days"], moved.json()["event"]) == (None, "claim_paid")

    listed = (await client.get("/v1/survey-campaigns?active=false&trigger=event",
                               headers=vendor)).json()["items"]
    assert made["id"] in [c["id"] for c in listed]
    assert (await client.get("/v1/survey-campaigns", headers=as_partner(
        await partner(client, vendor)))).status_code == 403


@pytest.mark.parametrize("body", [
    {"every_days": 6}, {"every_days": 731}, {"every_days": "30"}, {"every_days": 30.0},
    {"every_days": None}, {"event": "claim_paid"}, {"trigger": "event"},
    {"trigger": "event", "event": "deal_won", "every_days": None},
    {"trigger": "event", "event": "claim_paid", "every_days": 30},
    {"contact_roles": []}, {"contact_roles": ["ceo"]}, {"kind": "csat"},
    {"active": "false"}, {"min_days_between": 0}, {"delay_days": -1}, {"partner_statuses": []},
    {"colour": "red"}])
async def test_bad_campaigns_are_refused(client, vendor, body):
    refused = await client.post("/v1/survey-campaigns", json={**SCHEDULED, **body},
                                headers=vendor)
    assert refused.status_code == 422, (body, refused.text)
    assert refused.json()["type"] == "/problems/validation-error"


# The scheduled job


async def test_a_scheduled_campaign_invites_the_right_contacts_once(client, vendor, db):
    a = await partner(client, vendor)
    admin, sales = await contact(client, vendor, a, "admin"), await contact(
        client, vendor, a, "sales", "technical")
    await contact(client, vendor, a, "marketing")  # not a role the campaign surveys
    gone = await contact(client, vendor, a, "admin")
    assert (await client.post(f"/v1/partners/{a}/contacts/{gone['id']}/erase",
                              headers=vendor)).status_code == 200
    msp = await partner(client, vendor, type_="msp")  # not a type it takes
    await contact(client, vendor, msp, "admin")
    onboarding = await partner(client, vendor, activate=False)  # not active
    await contact(client, vendor, onboarding, "admin")
    made = await campaign(client, vendor)
    await campaign(client, vendor, name="Paused", active=False)

    assert await run_job(db) >= 2
    found = await invitations(client, a, msp, onboarding)
    assert sorted(i["contact_id"] for i in found) == sorted(
        uuid.UUID(c["id"]) for c in (admin, sales))
    assert {(i["campaign_id"], i["status"]) for i in found} == {(uuid.UUID(made["id"]), "sent")}
    sent = await requested(client, a, msp, onboarding)
    assert sorted((e["contact_id"], e["email"]) for e in sent) == sorted(
        (c["id"], c["email"]) for c in (admin, sales))
    assert all(e["kind"] == "psat" and e["trigger"] == "schedule" and "name" not in e
               and e["campaign_id"] == made["id"] for e in sent)
    assert {e["invitation_id"] for e in sent} == {str(i["id"]) for i in found}

    await run_job(db)  # the same period again: no one twice
    assert len(await invitations(client, a, msp, onboarding)) == 2
    assert len(await requested(client, a, msp, onboarding)) == 2
    got = (await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)).json()
    assert (got["invited"], got["pending"], got["answered"]) == (2, 0, 0)


# Event-triggered campaigns


async def test_onboarding_completed_invites_once_however_often_delivered(client, vendor, db):
    a, b = await partner(client, vendor), await partner(client, vendor, name="Other Ltd")
    admin = await contact(client, vendor, a, "admin")
    await contact(client, vendor, b, "admin")
    made = await campaign(client, vendor, kind="nps", trigger="event",
                          event="onboarding_completed", every_days=None)
    await campaign(client, vendor, name="After payouts", kind="nps", trigger="event",
                   event="claim_paid", every_days=None)
    event = onboarded(uuid.UUID(a), uuid.uuid4())
    await deliver(db, event)
    await deliver(db, event)  # a redelivery changes nothing
    found = await invitations(client, a, b)
    assert [(str(i["contact_id"]), str(i["campaign_id"]), i["status"]) for i in found] == [
        (admin["id"], made["id"], "sent")]
    sent = await requested(client, a, b)
    assert [(e["contact_id"], e["trigger"], e["kind"]) for e in sent] == [
        (admin["id"], "onboarding_completed", "nps")]


async def test_a_payout_paid_invites_after_the_delay_once(client, vendor, db):
    a = await partner(client, vendor)
    admin = await contact(client, vendor, a, "admin")
    made = await campaign(client, vendor, kind="psat", trigger="event", event="claim_paid",
                          every_days=None, delay_days=7)
    event = paid(uuid.UUID(a), uuid.uuid4())
    await deliver(db, event)
    await deliver(db, event)
    found = await invitations(client, a)
    assert [(str(i["contact_id"]), i["status"]) for i in found] == [(admin["id"], "pending")]
    assert await requested(client, a) == []  # not yet: it waits for its delay
    got = (await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)).json()
    assert (got["invited"], got["pending"]) == (0, 1)

    async with db() as session:
        assert await campaigns.send_due(session, dt.datetime.now(dt.UTC)) == 0
        assert await campaigns.send_due(
            session, dt.datetime.now(dt.UTC) + dt.timedelta(days=8)) == 1
        assert await campaigns.send_due(
            session, dt.datetime.now(dt.UTC) + dt.timedelta(days=8)) == 0
        await session.commit()
    assert [i["status"] for i in await invitations(client, a)] == ["sent"]
    assert [(e["contact_id"], e["trigger"]) for e in await requested(client, a)] == [
        (admin["id"], "claim_paid")]
    # another batch paid is another cycle, but the quiet period keeps the contact out
    await deliver(db, paid(uuid.UUID(a), uuid.uuid4()))
    assert len(await invitations(client, a)) == 1


async def test_events_before_the_campaign_or_while_paused_invite_no_one(client, vendor, db):
    a = await partner(client, vendor)
    await contact(client, vendor, a, "admin")
    early = onboarded(uuid.UUID(a), uuid.uuid4())
    await asyncio.sleep(0.01)
    made = await campaign(client, vendor, trigger="event", event="onboarding_completed",
                          every_days=None)
    await deliver(db, early)
    await client.patch(f"/v1/survey-campaigns/{made['id']}", json={"active": False},
                       headers=vendor)
    await deliver(db, onboarded(uuid.UUID(a), uuid.uuid4()))
    assert await invitations(client, a) == []


# The quiet period


async def test_no_campaign_invites_a_contact_twice_within_the_quiet_period(client, vendor, db):
    a = await partner(client, vendor)
    admin = await contact(client, vendor, a, "admin")
    await campaign(client, vendor)
    after = await campaign(client, vendor, name="NPS after onboarding", kind="nps",
                           trigger="event", event="onboarding_completed", every_days=None,
                           min_days_between=30)
    await run_job(db)
    await deliver(db, onboarded(uuid.UUID(a), uuid.uuid4()))
    found = await invitations(client, a)
    assert len(found) == 1 and str(found[0]["contact_id"]) == admin["id"]
    # a month and more later the event campaign's own quiet period (30 days) is over
    await client.connection.execute(text(
        "UPDATE survey_invitations SET due_at = due_at - interval '31 days', "
        "created_at = created_at - interval '31 days' WHERE partner_id = :p"), {"p": a})
    await deliver(db, onboarded(uuid.UUID(a), uuid.uuid4()))
    assert [str(i["campaign_id"]) for i in await invitations(client, a)
            if i["campaign_id"] == uuid.UUID(after["id"])] == [after["id"]]


# Answers naming their invitation


async def test_answers_naming_their_invitation_count_for_the_campaign(client, vendor, db,
                                                                      as_partner):
    a, b = await partner(client, vendor), await partner(client, vendor, name="Other Ltd")
    admin = await contact(client, vendor, a, "admin")
    await contact(client, vendor, a, "sales")
    await contact(client, vendor, b, "admin")
    made = await campaign(client, vendor, partner_types=[])
    await run_job(db)
    mine = {str(i["contact_id"]): str(i["id"]) for i in await invitations(client, a)}
    theirs = [str(i["id"]) for i in await invitations(client, b)]
    invitation = mine[admin["id"]]

    # the wrong survey, another org's invitation, another contact: refused
    for body in ({"kind": "nps", "score": 9, "invitation_id": invitation},
                 {"kind": "psat", "score": 4, "invitation_id": theirs[0]},
                 {"kind": "psat", "score": 4, "invitation_id": str(uuid.uuid4())},
                 {"kind": "psat", "score": 4, "invitation_id": invitation,
                  "contact_id": [c for c in mine if c != admin["id"]][0]}):
        refused = await client.post("/v1/survey-responses", json=body, headers=as_partner(a))
        assert refused.status_code == 422, (body, refused.text)

    answered = await client.post("/v1/survey-responses", json={
        "kind": "psat", "score": 4, "invitation_id": invitation}, headers=as_partner(a))
    assert answered.status_code == 201, answered.text
    assert answered.json()["invitation_id"] == invitation
    assert answered.json()["contact_id"] == admin["id"]  # the invitation's contact
    # the survey tool sends it again with its own id: still one answered invitation
    again = await client.post("/v1/survey-responses", json={
        "partner_id": a, "kind": "psat", "score": 5, "invitation_id": invitation,
        "external_id": "tool-1"}, headers=vendor)
    assert again.status_code == 201, again.text
    got = (await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)).json()
    assert (got["invited"], got["answered"]) == (3, 1)
    listed = (await client.get("/v1/survey-campaigns", headers=vendor)).json()["items"]
    assert [c["answered"] for c in listed if c["id"] == made["id"]] == [1]


async def test_the_survey_tool_delivers_an_answer_naming_its_invitation(
        client, vendor, db, app, as_vendor):
    a = await partner(client, vendor)
    admin = await contact(client, vendor, a, "admin")
    made = await campaign(client, vendor, kind="nps", trigger="event",
                          event="onboarding_completed", every_days=None)
    await deliver(db, onboarded(uuid.UUID(a), uuid.uuid4()))
    [sent] = await requested(client, a)
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"survey_secret": SecretStr("whsec-c")})
    try:
        raw = json.dumps({"partner_id": a, "kind": "nps", "score": 10, "external_id": "q-9",
                          "invitation_id": sent["invitation_id"]}).encode()
        at = int(time.time())
        delivered = await client.post("/v1/survey-intake", content=raw, headers={
            **as_vendor(["survey_intake:write"], "key-survey-tool"),
            "Content-Type": "application/json",
            "Survey-Signature": f"t={at},v1={signature(b'whsec-c', at, raw)}"})
    finally:
        app.state.settings = settings
    assert delivered.status_code == 201, delivered.text
    assert delivered.json()["contact_id"] == admin["id"]
    got = (await client.get(f"/v1/survey-campaigns/{made['id']}", headers=vendor)).json()
    assert (got["invited"], got["answered"]) == (1, 1)


# Erasure


async def test_erasing_a_contact_withdraws_and_blanks_its_invitations(client, vendor, db):
    a = await partner(client, vendor)
    sent_to = await contact(client, vendor, a, "admin")
    await campaign(client, vendor)
    await run_job(db)
    waiting = await contact(client, vendor, a, "sales")
    await campaign(client, vendor, name="Later", kind="nps", trigger="event",
                   event="claim_paid", every_days=None, delay_days=5, contact_roles=["sales"])
    await deliver(db, paid(uuid.UUID(a), uuid.uuid4()))
    assert {i["status"] for i in await invitations(client, a)} == {"sent", "pending"}

    for person in (sent_to, waiting):
        erased = await client.post(f"/v1/partners/{a}/contacts/{person['id']}/erase",
                                   headers=vendor)
        assert erased.status_code == 200, erased.text
    statuses = {str(i["contact_id"]): i["status"] for i in await invitations(client, a)}
    assert statuses == {sent_to["id"]: "sent", waiting["id"]: "withdrawn"}
    sent = await requested(client, a)
    assert len(sent) == 1 and sent[0]["email"] is None and sent_to["email"] not in str(sent)
    trail = (await client.get(f"/v1/partners/{a}/contacts/{sent_to['id']}/export",
                              headers=vendor)).json()["audit"]
    assert "survey_invitation_email" in trail[-2]["fields"]
    async with db() as session:  # a withdrawn invitation is never sent
        assert await campaigns.send_due(
            session, dt.datetime.now(dt.UTC) + dt.timedelta(days=9)) == 0
        await session.commit()
    assert len(await requested(client, a)) == 1


# Several replicas: the job run twice at once, each in a transaction of its own, committed


async def test_two_replicas_running_the_job_at_once_invite_each_contact_once(prm_infra, app):
    fresh = create_app(Settings())
    vendor = vendor_headers(prm_infra.internal_secret,
                            tuple(scope.name for scope in SERVICE.scopes))
    tier = f"Replica {uuid.uuid4().hex[:8]}"  # only this test's partners hold it
    engine = fresh.state.engine
    async with committing_client(fresh) as client:
        partners = []
        for n in range(3):
            made = (await client.post("/v1/partners", json={
                "name": f"Replica {n} {tier} ehf", "type": "isv", "country": "GL"},
                headers=vendor)).json()
            partners.append(made["id"])
            for roles in (["admin"], ["sales"], ["marketing"]):
                await client.post(f"/v1/partners/{made['id']}/contacts", json={
                    "name": f"P {uuid.uuid4().hex[:6]}",
                    "email": f"{uuid.uuid4().hex[:10]}@replica.example", "roles": roles},
                    headers=vendor)
        async with engine.begin() as connection:
            await connection.execute(text(
                "UPDATE partners SET status = 'active', tier = :t "
                "WHERE id = ANY(CAST(:p AS uuid[]))"), {"t": tier, "p": partners})
        made = (await client.post("/v1/survey-campaigns", json={
            **SCHEDULED, "partner_types": [], "partner_tiers": [tier]}, headers=vendor)).json()
        try:
            sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

            async def replica() -> int:
                async with sessionmaker() as session:
                    done = await campaigns.run_due(session)
                    await session.commit()
                    return done

            for _ in range(2):
                await asyncio.gather(replica(), replica())
            async with engine.connect() as connection:
                found = (await connection.execute(text(
                    "SELECT contact_id, count(*) FROM survey_invitations "
                    "WHERE campaign_id = :c GROUP BY contact_id"), {"c": made["id"]})).all()
                events = (await connection.execute(text(
                    "SELECT count(*) FROM outbox WHERE event_type = :t "
                    "AND envelope->'data'->>'campaign_id' = :c"),
                    {"t": REQUESTED, "c": made["id"]})).scalar_one()
            assert len(found) == 6 and {n for _, n in found} == {1}
            assert events == 6
        finally:
            async with engine.begin() as connection:
                await connection.execute(text(
                    "DELETE FROM outbox WHERE event_type = :t "
                    "AND envelope->'data'->>'campaign_id' = :c"),
                    {"t": REQUESTED, "c": made["id"]})
                await connection.execute(text(
                    "DELETE FROM survey_invitations WHERE campaign_id = :c"), {"c": made["id"]})
                await connection.execute(text(
                    "DELETE FROM survey_campaigns WHERE id = :c"), {"c": made["id"]})
