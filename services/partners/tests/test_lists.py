"""Every list of the service speaks the one grammar, and each of its filters, ranges, sorts,
searches and change feeds is served by an index; the programme's lists filter, sort, search and
pull changes on real rows, and a partner key still sees only its own org's."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_events.envelope import CloudEvent
from prm_partners.onboarding.handlers import HANDLERS as ONBOARDING
from prm_partners.onboarding.listing import TASKS, TEMPLATES
from prm_partners.onboarding.models import OnboardingTask, OnboardingTemplate
from prm_partners.onboarding.schemas import OnboardingTaskStatus
from prm_platform.listing import ListQuery
from prm_stack.testing import all_pages, check_lists_use_indexes, list_page, list_routes

LISTS = {
    "/v1/partners", "/v1/partner-applications", "/v1/onboarding-templates",
    "/v1/onboarding-tasks", "/v1/certification-types", "/v1/agreements",
    "/v1/partners/{partner_id}/certifications", "/v1/partners/{partner_id}/agreements",
    "/v1/partners/{partner_id}/contacts", "/v1/tiers",
    "/v1/partners/{partner_id}/tier-history", "/v1/survey-responses",
    "/v1/survey-campaigns", "/v1/enablement-resources", "/v1/enablement-resource-uses",
    "/v1/learning-paths", "/v1/learning-enrolments"}


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == LISTS


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"countries_served", "q", "updated_since", "sort=name"} <= set(
        checked["/v1/partners"])
    expected = {
        "/v1/partner-applications": {"status", "type", "countries_served", "specialisations",
                                     "partner_id", "fit_score[gte]", "decided_at[gte]", "q",
                                     "updated_since", "sort=fit_score", "sort=company_name"},
        "/v1/onboarding-templates": {"partner_type", "activates_partner", "q", "sort=name",
                                     "updated_since"},
        "/v1/onboarding-tasks": {"status", "partner_id", "plan_id", "kind", "key",
                                 "due_at[gte]", "completed_at[gte]", "updated_since",
                                 "sort=due_at"},
        "/v1/certification-types": {"required", "code", "q", "sort=name", "updated_since"},
        "/v1/agreements": {"required", "code", "q", "sort=title", "updated_since"},
        "/v1/partners/{partner_id}/certifications": {"status", "code", "type_id",
                                                     "contact_id", "source",
                                                     "earned_on[gte]", "expires_on[gte]",
                                                     "updated_since", "sort=earned_on"},
        "/v1/partners/{partner_id}/agreements": {"agreement", "agreement_id",
                                                 "signer_contact_id",
                                                 "signed_on[gte]", "updated_since",
                                                 "sort=signed_on"},
        "/v1/partners/{partner_id}/contacts": {"role", "email", "q", "sort=name",
                                               "updated_since"},
        "/v1/tiers": {"name", "sort=rank", "updated_since"},
        "/v1/partners/{partner_id}/tier-history": {"direction", "to_tier", "as_of[gte]",
                                                   "changed_at[gte]", "sort=as_of"},
        "/v1/survey-responses": {"partner_id", "kind", "answered_at[gte]", "updated_since",
                                 "sort=answered_at"},
        "/v1/survey-campaigns": {"kind", "trigger", "active", "updated_since", "sort=name"},
        "/v1/learning-paths": {"role", "enrol_on", "language", "q", "sort=name",
                               "updated_since"},
        "/v1/learning-enrolments": {"partner_id", "path_id", "contact_id", "status", "reason",
                                    "enrolled_at[gte]", "completed_at[gte]", "updated_since",
                                    "sort=enrolled_at"},
        "/v1/enablement-resources": {"kind", "status", "q", "updated_since"},
        "/v1/enablement-resource-uses": {"resource_id", "partner_id", "contact_id", "kind",
                                         "language", "used_at[gte]", "sort=used_at"},
    }
    for path, names in expected.items():
        assert names <= set(checked[path]), (path, names - set(checked[path]))


async def _index_conditions(engine, statement) -> list[str]:
    async with engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        compiled = statement.compile(dialect=connection.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        plan = [row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {compiled}",
                                                                   params)]
    return [line for line in plan if "Index Cond" in line or "Recheck Cond" in line]


@pytest.mark.parametrize("status", list(OnboardingTaskStatus))
async def test_each_task_status_is_served_by_an_index(engine, status):
    statement = select(OnboardingTask).where(
        *TASKS.where(ListQuery(filters={"status": [status]})))
    assert any("completed_at" in line for line in await _index_conditions(engine, statement))


async def test_templates_for_every_type_are_found_by_the_index(engine):
    statement = select(OnboardingTemplate).where(
        *TEMPLATES.where(ListQuery(filters={"partner_type": ["msp", "isv"]})))
    conditions = await _index_conditions(engine, statement)
    assert any("partner_types" in line and "'{}'" in line for line in conditions), conditions


# Helpers


async def new_partner(client, vendor, name, type="reseller"):
    created = await client.post("/v1/partners", json={
        "name": name, "type": type, "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    return created.json()


def now_text():
    return dt.datetime.now(dt.UTC).isoformat()


def moment(written):
    return dt.datetime.fromisoformat(written)


# Applications

SPECIALISATIONS = ["soc", "siem", "cloud security", "identity"]


async def test_applications_filter_sort_search_and_changes(client, vendor):
    word = uuid.uuid4().hex[:8]
    current = await client.get("/v1/ideal-partner-profile", headers=vendor)
    assert (await client.put("/v1/ideal-partner-profile", json={"criteria": [
        {"field": "specialisations", "weight": 100, "values": SPECIALISATIONS}]},
        headers={**vendor, "If-Match": current.headers["etag"]})).status_code == 200
    names = ["Sécurité Zürich AG", "Nordlicht Cyber GmbH", "Østfold Sikkerhet AS",
             "Atlas Defence Ltd"]
    submitted = []
    for held, name in enumerate(names):  # 0, 25, 50 and 75 points
        response = await client.post("/v1/partner-applications", headers=vendor, json={
            "company_name": f"{name} {word}", "type": "mssp" if held % 2 else "msp",
            "country": "DE", "countries_served": ["DE", "AT"] if held < 2 else ["NO"],
            "specialisations": SPECIALISATIONS[:held],
            "website_domain": f"a{held}-{word}.example",
            "contact": {"name": "Kim", "email": f"kim@a{held}-{word}.example"}})
        assert response.status_code == 201, response.text
        submitted.append(response.json())
    ours = {"q": word}

    scores = [a["fit"]["score"] for a in await all_pages(
        client, "/v1/partner-applications", vendor, **ours, sort="-fit_score", limit=1)]
    assert scores == [75, 50, 25, 0]
    best = await list_page(client, "/v1/partner-applications", vendor, **ours,
                          **{"fit_score[gte]": 25, "fit_score[lt]": 75},
                          include="total_count")
    assert [a["fit"]["score"] for a in best["items"]] == [25, 50]
    assert best["total_count"] == 2
    types = await list_page(client, "/v1/partner-applications", vendor, **ours, type="mssp",
                           countries_served="AT,NO")
    assert [a["company_name"] for a in types["items"]] == [
        f"Nordlicht Cyber GmbH {word}", f"Atlas Defence Ltd {word}"]
    by_name = await all_pages(client, "/v1/partner-applications", vendor, **ours,
                         sort="company_name", limit=3)
    one_page = await list_page(client, "/v1/partner-applications", vendor, **ours,
                              sort="company_name")
    assert [a["id"] for a in by_name] == [a["id"] for a in one_page["items"]]
    assert by_name[0]["company_name"] == f"Atlas Defence Ltd {word}" and len(by_name) == 4
    # case and accents ignored, every word needed
    for q in (f"securite ZURICH {word}", f"ØSTFOLD {word}", f"a2-{word}"):
        found = await list_page(client, "/v1/partner-applications", vendor, q=q)
        assert len(found["items"]) == 1, (q, found)

    since = now_text()
    approved = await client.post(
        f"/v1/partner-applications/{submitted[3]['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    assert approved.json()["partner_name"] == f"Atlas Defence Ltd {word}"
    await client.post(f"/v1/partner-applications/{submitted[0]['id']}/decline",
                      json={"reason": "no SOC"}, headers=vendor)
    changed = await list_page(client, "/v1/partner-applications", vendor, **ours,
                             updated_since=since)
    assert [a["id"] for a in changed["items"]] == [submitted[3]["id"], submitted[0]["id"]]
    decided = await list_page(client, "/v1/partner-applications", vendor, **ours,
                             status="approved,declined", **{"decided_at[gte]": since})
    assert {a["status"] for a in decided["items"]} == {"approved", "declined"}
    created = await list_page(client, "/v1/partner-applications", vendor,
                             partner_id=approved.json()["partner_id"])
    [listed] = created["items"]
    assert listed["partner_name"] == f"Atlas Defence Ltd {word}"
    assert {a["partner_name"] for a in decided["items"]} == {None, listed["partner_name"]}


# Contacts

PEOPLE = [("José Álvarez", "jose@northwind.example", ["sales"]),
          ("Zoë Brandt", "zoe@northwind.example", ["admin", "technical"]),
          ("Anna Lund", "anna@northwind.example", ["marketing"]),
          ("Mike Oduya", "mike@northwind.example", ["sales", "admin"])]


def contacts_of(partner_id):
    return f"/v1/partners/{partner_id}/contacts"


async def test_contacts_filter_sort_search_and_their_change_feed(client, vendor, as_partner):
    partner = (await new_partner(client, vendor, "Northwind Ltd"))["id"]
    other = (await new_partner(client, vendor, "Southwind Ltd"))["id"]
    added = {}
    for name, email, roles in PEOPLE:
        response = await client.post(contacts_of(partner), headers=vendor, json={
            "name": name, "email": email, "roles": roles})
        assert response.status_code == 201, response.text
        added[name] = response.json()
    assert (await client.post(contacts_of(other), headers=vendor, json={
        "name": "José Other", "email": "jose@southwind.example"})).status_code == 201

    names = [c["name"] for c in await all_pages(client, contacts_of(partner), vendor,
                                           sort="name", limit=1)]
    assert names == ["Anna Lund", "José Álvarez", "Mike Oduya", "Zoë Brandt"]
    backwards = await all_pages(client, contacts_of(partner), vendor, sort="-name", limit=3)
    assert [c["name"] for c in backwards] == names[::-1]
    admins = await list_page(client, contacts_of(partner), vendor, role="admin,marketing",
                            include="total_count")
    assert {c["name"] for c in admins["items"]} == {"Zoë Brandt", "Anna Lund", "Mike Oduya"}
    assert admins["total_count"] == 3
    emails = await list_page(client, contacts_of(partner), vendor,
                            email=["JOSE@northwind.example", "Zoe@Northwind.Example"])
    assert {c["name"] for c in emails["items"]} == {"José Álvarez", "Zoë Brandt"}
    for q, found in (("jose", ["José Álvarez"]), ("ALVAREZ", ["José Álvarez"]),
                     ("zoe brandt", ["Zoë Brandt"]), ("mike@north", ["Mike Oduya"])):
        page = await list_page(client, contacts_of(partner), vendor, q=q)
        assert [c["name"] for c in page["items"]] == found, q

    # a partner key: its own org's contacts, another org's a 404
    own = as_partner(partner, ["contacts:read"])
    assert {c["name"] for c in (await list_page(client, contacts_of(partner), own, q="jose")
                                )["items"]} == {"José Álvarez"}
    assert (await client.get(contacts_of(other), headers=own)).status_code == 404

    # the change feed: edits, and erasures and deletions as tombstones without personal data
    since = now_text()
    zoe, anna, mike = added["Zoë Brandt"], added["Anna Lund"], added["Mike Oduya"]
    await client.patch(contacts_of(partner) + f"/{mike['id']}", json={"job_title": "CTO"},
                       headers=vendor)
    erased = await client.post(contacts_of(partner) + f"/{zoe['id']}/erase", headers=vendor)
    assert erased.status_code == 200, erased.text
    assert moment(erased.json()["updated_at"]) > moment(zoe["updated_at"])
    assert (await client.delete(contacts_of(partner) + f"/{anna['id']}",
                                headers=vendor)).status_code == 204
    changes = (await list_page(client, contacts_of(partner), vendor, updated_since=since)
               )["items"]
    assert [c["id"] for c in changes] == [mike["id"], zoe["id"], anna["id"]]
    assert changes[1]["erased"] is True and changes[1]["name"] is None
    assert changes[1]["deleted_at"] is None
    assert changes[2]["deleted_at"] is not None and changes[2]["email"] is None
    assert changes[2]["erased"] is True
    # without the feed, the tombstones stay out of lists; a deleted one even with erased ones
    listed = {c["id"] for c in (await list_page(client, contacts_of(partner), vendor))["items"]}
    assert listed == {added["José Álvarez"]["id"], mike["id"]}
    with_erased = await list_page(client, contacts_of(partner), vendor, include_erased="true")
    assert {c["id"] for c in with_erased["items"]} == listed | {zoe["id"]}
    assert (await client.get(contacts_of(partner) + f"/{anna['id']}",
                             headers=vendor)).status_code == 404
    # the partner's own key pulls the same feed
    assert [c["id"] for c in (await list_page(client, contacts_of(partner), own,
                                             updated_since=since))["items"]] == \
        [mike["id"], zoe["id"], anna["id"]]
    # the deleted contact's address is free again
    assert (await client.post(contacts_of(partner), headers=vendor, json={
        "name": "Anna Lund", "email": "anna@northwind.example"})).status_code == 201


async def test_an_erasure_shows_in_the_signatures_change_feed(client, vendor):
    partner = (await new_partner(client, vendor, "Eastwind Ltd"))["id"]
    contact = (await client.post(contacts_of(partner), headers=vendor, json={
        "name": "Priya Raman", "email": "priya@eastwind.example"})).json()
    agreement = (await client.post("/v1/agreements", json={
        "code": "feed-agreement", "title": "Feed agreement"}, headers=vendor)).json()
    assert (await client.post(f"/v1/agreements/{agreement['id']}/versions", json={
        "effective_on": "2025-01-01", "term_months": 12}, headers=vendor)).status_code == 201
    signatures = f"/v1/partners/{partner}/agreements"
    for day, signer in (("2026-03-01", {"signer_contact_id": contact["id"]}),
                        ("2026-01-10", {"signer_name": "Sam Hill"})):
        assert (await client.post(signatures, headers=vendor, json={
            "agreement": "feed-agreement", "signed_on": day, **signer})).status_code == 201
    by_day = await list_page(client, signatures, vendor, sort="signed_on",
                            agreement_id=agreement["id"],
                            **{"signed_on[gte]": "2026-01-01", "signed_on[lt]": "2026-04-01"})
    assert [s["signed_on"] for s in by_day["items"]] == ["2026-01-10", "2026-03-01"]

    since = now_text()
    assert (await client.post(contacts_of(partner) + f"/{contact['id']}/erase",
                              headers=vendor)).status_code == 200
    [blanked] = (await list_page(client, signatures, vendor, updated_since=since))["items"]
    assert blanked["signer_contact_id"] == contact["id"] and blanked["signer_name"] is None
    assert moment(blanked["updated_at"]) > moment(blanked["created_at"])


# Certifications


async def test_certifications_filter_by_status_code_and_days(client, vendor, as_partner):
    partner = (await new_partner(client, vendor, "Westwind Ltd"))["id"]
    type_ids = {}
    for code in ("LIST-101", "LIST-201"):
        created = await client.post("/v1/certification-types", json={
            "code": code, "name": f"Listing {code}", "validity_months": 24}, headers=vendor)
        assert created.status_code == 201, created.text
        type_ids[code] = created.json()["id"]
    url = f"/v1/partners/{partner}/certifications"
    recorded = []
    for code, earned in (("LIST-101", "2025-06-01"), ("LIST-201", "2026-02-01"),
                         ("LIST-101", "2024-01-15")):
        response = await client.post(url, json={"code": code, "earned_on": earned},
                                     headers=vendor)
        assert response.status_code == 201, response.text
        recorded.append(response.json())
    since = now_text()
    revoked = await client.post(f"{url}/{recorded[0]['id']}/revoke", headers={
        **vendor, "If-Match": '"1"'})
    assert revoked.status_code == 200, revoked.text

    earned = await all_pages(client, url, vendor, sort="-earned_on", limit=2)
    assert [c["earned_on"] for c in earned] == ["2026-02-01", "2025-06-01", "2024-01-15"]
    page = await list_page(client, url, vendor, code="LIST-101", status="active,revoked",
                          **{"earned_on[gte]": "2025-01-01"})
    assert [c["id"] for c in page["items"]] == [recorded[0]["id"]]
    by_type = await list_page(client, url, vendor, type_id=type_ids["LIST-201"])
    assert [c["id"] for c in by_type["items"]] == [recorded[1]["id"]]
    expiring = await list_page(client, url, vendor, **{"expires_on[lt]": "2027-01-01"})
    assert [c["id"] for c in expiring["items"]] == [recorded[2]["id"]]
    assert [c["id"] for c in (await list_page(client, url, vendor, updated_since=since)
                              )["items"]] == [recorded[0]["id"]]
    types = await list_page(client, "/v1/certification-types", vendor, q="listing list-2")
    assert [t["code"] for t in types["items"]] == ["LIST-201"]
    # another org's key gets a 404, its own key the same list
    other = (await new_partner(client, vendor, "Northwest Ltd"))["id"]
    assert (await client.get(url, headers=as_partner(other))).status_code == 404
    assert len((await list_page(client, url, as_partner(partner)))["items"]) == 3


# Onboarding

TEMPLATE_TASKS = [
    {"key": "agreement", "title": "Sign the reseller agreement", "kind": "manual",
     "due_in_days": 14},
    {"key": "training", "title": "Sales training", "kind": "manual", "due_in_days": 30},
    {"key": "kick-off", "title": "Kick-off call", "kind": "manual"},
]


async def started(client, vendor, name, days_ago):
    """A partner in onboarding whose plan started ``days_ago``, as the worker starts it."""
    partner = await new_partner(client, vendor, name, type="isv")
    envelope = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = 'prm.partner.created.v1'"),
        {"k": partner["id"]})).scalar_one()
    created = CloudEvent.model_validate(envelope)
    created = created.model_copy(update={
        "time": dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)})
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        await ONBOARDING[created.type](session, created)
        await session.commit()
    return partner


async def test_onboarding_tasks_by_status_due_date_and_partner(client, vendor, as_partner):
    word = uuid.uuid4().hex[:8]
    template = await client.post("/v1/onboarding-templates", headers=vendor, json={
        "name": f"ISV onboarding {word}", "partner_types": ["isv"],
        "activates_partner": False, "tasks": TEMPLATE_TASKS})
    assert template.status_code == 201, template.text
    everyone = await client.post("/v1/onboarding-templates", headers=vendor, json={
        "name": f"Everyone {word}", "partner_types": [], "activates_partner": True,
        "tasks": TEMPLATE_TASKS[:1]})
    resellers = await client.post("/v1/onboarding-templates", headers=vendor, json={
        "name": f"Resellers {word}", "partner_types": ["reseller"], "activates_partner": True,
        "tasks": TEMPLATE_TASKS[:1]})
    applying = await list_page(client, "/v1/onboarding-templates", vendor, q=word,
                              partner_type="isv,msp", sort="name")
    assert [t["id"] for t in applying["items"]] == [everyone.json()["id"],
                                                   template.json()["id"]]
    activating = await list_page(client, "/v1/onboarding-templates", vendor, q=word,
                                activates_partner="true")
    assert {t["id"] for t in activating["items"]} == {everyone.json()["id"],
                                                      resellers.json()["id"]}

    late = await started(client, vendor, f"Late {word}", days_ago=20)
    early = await started(client, vendor, f"Early {word}", days_ago=1)
    ours = {"partner_id": f"{late['id']},{early['id']}"}

    overdue = await list_page(client, "/v1/onboarding-tasks", vendor, **ours, status="overdue")
    assert [(t["partner_name"], t["key"]) for t in overdue["items"]] == [
        (f"Late {word}", "agreement")]
    due = await all_pages(client, "/v1/onboarding-tasks", vendor, **ours, sort="due_at", limit=2)
    # due 6 days ago, in 10, 13 and 29 days, then without a due date
    assert [(t["partner_name"], t["key"]) for t in due] == [
        (f"Late {word}", "agreement"), (f"Late {word}", "training"),
        (f"Early {word}", "agreement"), (f"Early {word}", "training"),
        (f"Late {word}", "kick-off"), (f"Early {word}", "kick-off")]
    soon = await list_page(client, "/v1/onboarding-tasks", vendor, **ours,
                          **{"due_at[gte]": now_text()}, sort="-due_at")
    assert [(t["partner_name"], t["key"]) for t in soon["items"]] == [
        (f"Early {word}", "training"), (f"Early {word}", "agreement"),
        (f"Late {word}", "training")]

    since = now_text()
    plan = (await client.get(f"/v1/partners/{early['id']}/onboarding", headers=vendor)).json()
    assert plan["partner_name"] == f"Early {word}"
    kick_off = next(t for t in plan["tasks"] if t["key"] == "kick-off")
    done = await client.post(
        f"/v1/partners/{early['id']}/onboarding/tasks/{kick_off['id']}/complete",
        headers={**vendor, "If-Match": f'"{plan["version"]}"'})
    assert done.status_code == 200, done.text
    changed = await list_page(client, "/v1/onboarding-tasks", vendor, updated_since=since)
    assert [t["id"] for t in changed["items"]] == [kick_off["id"]]
    assert changed["items"][0]["status"] == "done"
    open_ones = await list_page(client, "/v1/onboarding-tasks", vendor, **ours,
                               status="open,overdue", kind="manual", key="kick-off",
                               include="total_count")
    assert [t["partner_id"] for t in open_ones["items"]] == [late["id"]]
    assert open_ones["total_count"] == 1

    # a partner key sees its own org's tasks only, whatever it asks for
    mine = await all_pages(client, "/v1/onboarding-tasks", as_partner(early["id"]), limit=2)
    assert {t["partner_id"] for t in mine} == {early["id"]} and len(mine) == 3
    theirs = await list_page(client, "/v1/onboarding-tasks", as_partner(early["id"]),
                            partner_id=late["id"])
    assert theirs["items"] == []


async def test_bad_list_parameters_are_problems(client, vendor):
    for path, params in (("/v1/onboarding-tasks", {"status": "late"}),
                         ("/v1/partner-applications", {"fit_score[gte]": "101"}),
                         ("/v1/tiers", {"created_at[gte]": "2027-13-01"}),
                         ("/v1/tiers", {"sort": "name"}),
                         ("/v1/onboarding-tasks", {"updated_since": "yesterday"})):
        response = await client.get(path, params=params, headers=vendor)
        assert response.status_code == 422, (path, params, response.text)
