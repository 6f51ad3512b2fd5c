"""One state change per version, route by route: for every update and action of the service
(every route taking If-Match; a new one without a case here fails this file), 20 concurrent
calls with the same If-Match give one success and 19 412s, and 20 without it apply only what
the state machine allows, each applied change announced by exactly one event. Each call runs on
its own connection and transaction, committed for real.

What these tests commit stays for the rest of the session, so it is kept out of every other
test's way: partners and their records are new, unique and in a country no other test lists;
the programme's set-up they create (tiers, FX rates, agreements, certification types,
templates, applications) is deleted after each test, and the programme's settings (tier
programme, policy, Ideal Partner Profile) are put back as they were."""

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from prm_contracts import (
    CertificationExpiredV1,
    ContactChangedV1,
    OnboardingCompletedV1,
    OnboardingProgressV1,
    PartnerApplicationDecidedV1,
    PartnerStatusChangedV1,
    PartnerUpdatedV1,
)
from prm_events.envelope import CloudEvent
from prm_partners.config import Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import create_app
from prm_partners.onboarding.handlers import HANDLERS as ONBOARDING
from prm_stack.testing import (
    check_one_success_per_version,
    check_only_allowed_changes,
    committing_client,
    if_match_routes,
    vendor_headers,
)

ALL_SCOPES = tuple(scope.name for scope in SERVICE.scopes)
COUNTRY = "IS"  # no other test lists the partners of a country it did not use
TODAY = dt.date.today()
STATUS_CHANGED = PartnerStatusChangedV1.event_type

Undo = Callable[[], Awaitable[None]]


@dataclass
class Target:
    url: str
    version: int
    aggregate: str  # the outbox key its events carry
    body: dict | None = None
    read: str | None = None  # where to read the version afterwards (None: the target's url)


@dataclass
class Case:
    method: str
    prepare: Callable[["World"], Awaitable[Target]]
    event: str | tuple[str, ...] | None  # the event type(s) one applied change emits


@dataclass
class World:
    client: Any
    vendor: dict[str, str]
    engine: AsyncEngine
    sessionmaker: Any
    undo: list[Undo] = field(default_factory=list)

    async def sql(self, statement: str, **params: Any) -> Any:
        async with self.engine.begin() as connection:
            return await connection.execute(text(statement), params)

    def later(self, statement: str, **params: Any) -> None:
        """Run ``statement`` once the test is over."""
        async def run() -> None:
            await self.sql(statement, **params)
        self.undo.append(run)

    async def keep(self, table: str) -> None:
        """Put the programme's one settings row of ``table`` back as it is now (or remove it
        if there is none yet) once the test is over."""
        row = (await self.sql(f"SELECT row_to_json(t) FROM {table} t WHERE id = 1")
               ).scalar_one_or_none()

        async def restore() -> None:
            async with self.engine.begin() as connection:
                await connection.execute(text(f"DELETE FROM {table} WHERE id = 1"))
                if row is not None:
                    await connection.execute(text(
                        f"INSERT INTO {table} SELECT * FROM "
                        f"json_populate_record(NULL::{table}, CAST(:row AS json))"),
                        {"row": json.dumps(row)})
        self.undo.append(restore)

    async def post(self, url: str, body: dict | None = None, status: int = 201) -> dict:
        answer = await self.client.post(url, json=body, headers=self.vendor)
        assert answer.status_code == status, answer.text
        return answer.json()

    async def get(self, url: str) -> Any:
        answer = await self.client.get(url, headers=self.vendor)
        assert answer.status_code == 200, answer.text
        return answer

    async def partner(self, *actions: str, applicant: bool = False) -> dict:
        word = uuid.uuid4().hex[:10]
        partner = await self.post("/v1/partners", {
            "name": f"Race {word} ehf", "type": "isv", "country": COUNTRY})
        if applicant:  # no route leads back to applicant: a prospect known before the API
            await self.sql("UPDATE partners SET status = 'applicant' WHERE id = :id",
                           id=partner["id"])
        for action in actions:
            partner = await self.post(f"/v1/partners/{partner['id']}/{action}",
                                      {"reason": "set-up"}, status=200)
        return partner

    async def contact(self, partner_id: str) -> dict:
        word = uuid.uuid4().hex[:10]
        return await self.post(f"/v1/partners/{partner_id}/contacts", {
            "name": f"Race {word}", "email": f"race.{word}@race.example",
            "phone": "+354 555 0100", "job_title": "Alliances", "roles": ["admin"]})


def word() -> str:
    return uuid.uuid4().hex[:10]


# Partners


def partner_action(action: str, *before: str, body: dict | None = None,
                   applicant: bool = False) -> Case:
    async def prepare(world: World) -> Target:
        partner = await world.partner(*before, applicant=applicant)
        url = f"/v1/partners/{partner['id']}"
        return Target(f"{url}/{action}", partner["version"], partner["id"], body, read=url)
    return Case("POST", prepare, STATUS_CHANGED)


async def _partner_update(world: World) -> Target:
    partner = await world.partner()
    return Target(f"/v1/partners/{partner['id']}", partner["version"], partner["id"],
                  {"name": f"Renamed {word()} ehf"})


# Contacts (each change announces the contact as it is now, on its partner's key)


def contact_case(method: str, action: str = "", body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        partner = await world.partner()
        contact = await world.contact(partner["id"])
        url = f"/v1/partners/{partner['id']}/contacts/{contact['id']}"
        return Target(f"{url}{action}", contact["version"], partner["id"], body, read=url)
    return Case(method, prepare, ContactChangedV1.event_type)


# Compliance


async def _certification_type(world: World) -> dict:
    kind = await world.post("/v1/certification-types", {
        "code": f"RACE-{word()}", "name": "Race course", "required": False})
    # Undone last first: the certifications of the type, then the type.
    world.later("DELETE FROM certification_types WHERE id = :id", id=kind["id"])
    world.later("DELETE FROM certifications WHERE type_id = :id", id=kind["id"])
    return kind


def certification_type_case(method: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        kind = await _certification_type(world)
        return Target(f"/v1/certification-types/{kind['id']}", kind["version"], kind["id"],
                      body)
    return Case(method, prepare, None)


async def _revoke(world: World) -> Target:
    kind = await _certification_type(world)
    partner = await world.partner()
    url = f"/v1/partners/{partner['id']}/certifications"
    earned = await world.post(url, {"code": kind["code"],
                                    "earned_on": (TODAY - dt.timedelta(days=3)).isoformat()})
    url = f"{url}/{earned['id']}"
    return Target(f"{url}/revoke", earned["version"], partner["id"], {"reason": "race"},
                  read=url)


async def _agreement(world: World) -> dict:
    agreement = await world.post("/v1/agreements", {
        "code": f"race-{word()}", "title": "Race terms", "required": False})
    world.later("DELETE FROM agreements WHERE id = :id", id=agreement["id"])
    world.later("DELETE FROM agreement_versions WHERE agreement_id = :id", id=agreement["id"])
    return agreement


def agreement_case(action: str, body: dict) -> Case:
    async def prepare(world: World) -> Target:
        agreement = await _agreement(world)
        url = f"/v1/agreements/{agreement['id']}"
        return Target(f"{url}{action}", agreement["version"], agreement["id"], body, read=url)
    return Case("POST" if action else "PATCH", prepare, None)


# Applications


def decision(action: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        name = word()
        application = await world.post("/v1/partner-applications", {
            "company_name": f"Race {name} ehf", "type": "isv", "country": COUNTRY,
            "website_domain": f"race{name}.example",
            "contact": {"name": "Race Contact", "email": f"race@race{name}.example"}})
        world.later("DELETE FROM partner_applications WHERE id = :id", id=application["id"])
        url = f"/v1/partner-applications/{application['id']}"
        return Target(f"{url}/{action}", application["version"], application["id"], body,
                      read=url)
    return Case("POST", prepare, PartnerApplicationDecidedV1.event_type)


async def _ideal_partner_profile(world: World) -> Target:
    await world.keep("ideal_partner_profile")
    current = (await world.get("/v1/ideal-partner-profile")).json()
    return Target("/v1/ideal-partner-profile", current["version"], "ideal-partner-profile",
                  {"criteria": [{"field": "type", "weight": 10, "values": ["isv"]}]
                   if current["criteria"] == [] else []})


# Onboarding


async def _template(world: World, partner_types: list[str]) -> dict:
    template = await world.post("/v1/onboarding-templates", {
        "name": f"Race {word()}", "partner_types": partner_types, "activates_partner": False,
        "tasks": [{"key": "kick-off", "title": "Kick-off call", "kind": "manual"}]})
    world.later("DELETE FROM onboarding_templates WHERE id = :id", id=template["id"])
    return template


def template_case(method: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        template = await _template(world, ["isv"])
        return Target(f"/v1/onboarding-templates/{template['id']}", template["version"],
                      template["id"], body)
    return Case(method, prepare, None)


async def _complete_task(world: World) -> Target:
    """A partner whose plan (one manual task, from a template that is gone again) was started
    by its creation event, as the worker starts it."""
    template = await _template(world, ["isv"])
    partner = await world.partner()
    envelope = (await world.sql(
        "SELECT envelope FROM outbox WHERE key = :key AND event_type = :type",
        key=partner["id"], type="prm.partner.created.v1")).scalar_one()
    created = CloudEvent.model_validate(envelope)
    async with world.sessionmaker() as session:
        await ONBOARDING[created.type](session, created)
        await session.commit()
    deleted = await world.client.delete(f"/v1/onboarding-templates/{template['id']}",
                                        headers=world.vendor)
    assert deleted.status_code == 204, deleted.text
    url = f"/v1/partners/{partner['id']}/onboarding"
    plan = (await world.get(url)).json()
    [task] = plan["tasks"]
    return Target(f"{url}/tasks/{task['id']}/complete", plan["version"], partner["id"],
                  read=url)


# Tiers and FX rates


def tier_case(method: str, body: dict | None = None) -> Case:
    async def prepare(world: World) -> Target:
        tier = await world.post("/v1/tiers", {"name": f"Race {word()}",
                                              "rank": random.randint(500, 1000)})
        world.later("DELETE FROM tiers WHERE id = :id", id=tier["id"])
        return Target(f"/v1/tiers/{tier['id']}", tier["version"], tier["id"], body)
    return Case(method, prepare, None)


async def _tier_programme(world: World) -> Target:
    await world.keep("tier_programme")
    current = (await world.get("/v1/tiers/programme")).json()
    return Target("/v1/tiers/programme", current["version"], "tier-programme", {
        "base_currency": current["base_currency"],
        "demotion_grace_days": (current["demotion_grace_days"] + 1) % 3650,
        "window_months": current["window_months"]})


async def _survey_campaign(world: World) -> Target:
    # Paused: it invites no one in the other tests' way while it exists.
    campaign = await world.post("/v1/survey-campaigns", {
        "name": f"Race {word()}", "kind": "nps", "contact_roles": ["admin"],
        "trigger": "schedule", "every_days": 91, "active": False})
    world.later("DELETE FROM survey_campaigns WHERE id = :id", id=campaign["id"])
    return Target(f"/v1/survey-campaigns/{campaign['id']}", campaign["version"], campaign["id"],
                  {"name": f"Renamed {word()}", "every_days": 182})


async def _learning_path(world: World) -> Target:
    external_id = f"race-{word()}"
    url = f"/v1/learning-paths-by-external-id/{external_id}"
    body = {"name": f"Race {word()}", "language": "en",
            "courses": [{"course_id": "c-1", "name": "One"}]}
    created = await world.client.put(url, json=body, headers=world.vendor)
    assert created.status_code == 201, created.text
    path = created.json()
    world.later("DELETE FROM learning_paths WHERE id = :id", id=path["id"])
    return Target(url, path["version"], path["id"], {**body, "name": f"Renamed {word()}"},
                  read=f"/v1/learning-paths/{path['id']}")


async def _programme_policy(world: World) -> Target:
    await world.keep("programme_policy")
    current = (await world.get("/v1/programme-policy")).json()
    days = current["inactivity_days"]
    return Target("/v1/programme-policy", current["version"], "programme-policy",
                  {"inactivity_days": days + 1 if days < 730 else days - 1})


def resource_case(action: str | None, *, published: bool = False) -> Case:
    """A resource of the library: its draft edited, published or retired (then published
    first). Library changes are not announced."""
    async def prepare(world: World) -> Target:
        row = await world.post("/v1/enablement-resources", {
            "kind": "link", "default_language": "en", "variants": [
                {"language": "en", "title": f"Race {word()}",
                 "url": "https://cdn.vendor.example/race"}]})
        url = f"/v1/enablement-resources/{row['id']}"
        if published:
            row = (await world.client.post(f"{url}/publish", headers={
                **world.vendor, "If-Match": f'"{row["version"]}"'})).json()
        world.later("DELETE FROM enablement_resources WHERE id = :id", id=row["id"])
        world.later("DELETE FROM enablement_resource_versions WHERE resource_id = :id",
                    id=row["id"])
        if action is None:
            return Target(url, row["version"], row["id"], {"variants": [
                {"language": "en", "title": f"Renamed {word()}",
                 "url": "https://cdn.vendor.example/race"}]})
        return Target(f"{url}/{action}", row["version"], row["id"], None, read=url)
    return Case("PATCH" if action is None else "POST", prepare, None)


CASES = {
    ("PATCH", "/v1/enablement-resources/{resource_id}"): resource_case(None),
    ("POST", "/v1/enablement-resources/{resource_id}/publish"): resource_case("publish"),
    ("POST", "/v1/enablement-resources/{resource_id}/retire"): resource_case(
        "retire", published=True),
    ("PATCH", "/v1/partners/{partner_id}"): Case("PATCH", _partner_update,
                                                 PartnerUpdatedV1.event_type),
    ("POST", "/v1/partners/{partner_id}/start-onboarding"): partner_action(
        "start-onboarding", applicant=True),
    ("POST", "/v1/partners/{partner_id}/activate"): partner_action("activate"),
    ("POST", "/v1/partners/{partner_id}/suspend"): partner_action(
        "suspend", body={"reason": "unpaid invoices"}),
    ("POST", "/v1/partners/{partner_id}/offboard"): partner_action(
        "offboard", body={"reason": "left"}),
    ("POST", "/v1/partners/{partner_id}/reinstate"): partner_action(
        "reinstate", "offboard", body={"reason": "back"}),
    ("PATCH", "/v1/partners/{partner_id}/contacts/{contact_id}"): contact_case(
        "PATCH", body={"job_title": "Head of Alliances"}),
    ("DELETE", "/v1/partners/{partner_id}/contacts/{contact_id}"): contact_case("DELETE"),
    ("POST", "/v1/partners/{partner_id}/contacts/{contact_id}/erase"): contact_case(
        "POST", "/erase"),
    ("POST", "/v1/partners/{partner_id}/certifications/{certification_id}/revoke"): Case(
        "POST", _revoke, CertificationExpiredV1.event_type),
    ("POST", "/v1/partners/{partner_id}/onboarding/tasks/{task_id}/complete"): Case(
        "POST", _complete_task,
        (OnboardingCompletedV1.event_type, OnboardingProgressV1.event_type)),
    ("PATCH", "/v1/certification-types/{type_id}"): certification_type_case(
        "PATCH", {"name": "Race course, renamed"}),
    ("DELETE", "/v1/certification-types/{type_id}"): certification_type_case("DELETE"),
    ("PATCH", "/v1/agreements/{agreement_id}"): agreement_case(
        "", {"title": "Race terms, renamed"}),
    ("POST", "/v1/agreements/{agreement_id}/versions"): agreement_case(
        "/versions", {"effective_on": (TODAY + dt.timedelta(days=30)).isoformat()}),
    ("POST", "/v1/partner-applications/{application_id}/approve"): decision("approve"),
    ("POST", "/v1/partner-applications/{application_id}/decline"): decision(
        "decline", {"reason": "outside our regions"}),
    ("PUT", "/v1/ideal-partner-profile"): Case("PUT", _ideal_partner_profile, None),
    ("PATCH", "/v1/onboarding-templates/{template_id}"): template_case(
        "PATCH", {"name": "Race, renamed"}),
    ("DELETE", "/v1/onboarding-templates/{template_id}"): template_case("DELETE"),
    ("PATCH", "/v1/tiers/{tier_id}"): tier_case("PATCH", {"min_won_deals": 7}),
    ("DELETE", "/v1/tiers/{tier_id}"): tier_case("DELETE"),
    ("PUT", "/v1/tiers/programme"): Case("PUT", _tier_programme, None),
    ("PUT", "/v1/programme-policy"): Case("PUT", _programme_policy, None),
    ("PATCH", "/v1/survey-campaigns/{campaign_id}"): Case("PATCH", _survey_campaign, None),
    ("PUT", "/v1/learning-paths-by-external-id/{external_id}"): Case("PUT", _learning_path, None),
}


@pytest.fixture(scope="module")
async def world(prm_infra, app):
    fresh = create_app(Settings())
    async with committing_client(fresh) as client:
        yield World(client, vendor_headers(prm_infra.internal_secret, ALL_SCOPES),
                    fresh.state.engine, fresh.state.sessionmaker)


@pytest.fixture(autouse=True)
async def undone(world):
    """What a test set up in the programme is taken away again, whatever its outcome."""
    yield
    while world.undo:
        await world.undo.pop()()


def test_every_update_and_action_has_a_case(app):
    assert set(CASES) == if_match_routes(app)


async def version_now(world: World, target: Target) -> int | None:
    seen = await world.client.get(target.read or target.url, headers=world.vendor)
    if seen.status_code == 404:
        return None
    assert seen.status_code == 200, seen.text
    return seen.json()["version"]


def checked(world, case, target) -> dict:
    async def version_of() -> int | None:
        return await version_now(world, target)
    return dict(version=target.version, aggregate=target.aggregate, headers=world.vendor,
                body=target.body, event=case.event, version_now=version_of)


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_one_success_per_version(world, route):
    case = CASES[route]
    target = await case.prepare(world)
    await check_one_success_per_version(world.client, world.engine, case.method,
                                        target.url, **checked(world, case, target))


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_without_if_match_only_allowed_changes(world, route):
    case = CASES[route]
    target = await case.prepare(world)
    await check_only_allowed_changes(world.client, world.engine, case.method, target.url,
                                     **checked(world, case, target))


async def _created(world: World, external_id: str) -> tuple[list[str], list[str]]:
    """The partners holding ``external_id`` and the created events of each."""
    ids = [str(row[0]) for row in await world.sql(
        "SELECT id FROM partners WHERE external_id = :e", e=external_id)]
    events = [str(row[0]) for row in await world.sql(
        "SELECT key FROM outbox WHERE event_type = 'prm.partner.created.v1' "
        "AND envelope->'data'->'partner'->>'id' = ANY(:ids)", ids=ids)]
    return ids, events


async def test_creates_of_one_external_id_at_once_make_one_partner(world):
    """One statement writes the partner and its event; the unique index refuses the others
    their write whole (409, never a 500, never an event without its partner)."""
    external_id = f"race-{uuid.uuid4().hex[:10]}"
    answers = await asyncio.gather(*(world.client.post("/v1/partners", json={
        "name": f"Race {n} ehf", "type": "isv", "country": COUNTRY,
        "external_id": external_id}, headers=world.vendor) for n in range(12)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] + [409] * 11, [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["type"] == "/problems/conflict"
    assert external_id in refused.json()["detail"]
    made = next(answer.json() for answer in answers if answer.status_code == 201)
    assert await _created(world, external_id) == ([made["id"]], [made["id"]])


async def test_one_idempotency_key_sent_at_once_makes_one_partner(world):
    """The same create under one key, sent twelve times at once: one partner, one event, and
    every answer the first's very bytes (a duplicate waits on the key's row, then replays)."""
    external_id = f"race-{uuid.uuid4().hex[:10]}"
    headers = {**world.vendor, "Idempotency-Key": f"create-{external_id}"}
    body = {"name": "Race once ehf", "type": "isv", "country": COUNTRY,
            "external_id": external_id}
    answers = await asyncio.gather(*(world.client.post("/v1/partners", json=body,
                                                       headers=headers) for _ in range(12)))
    assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
    assert len({answer.content for answer in answers}) == 1
    assert sum(answer.headers.get("idempotent-replayed") == "true" for answer in answers) == 11
    made = answers[0].json()
    assert await _created(world, external_id) == ([made["id"]], [made["id"]])
