"""Enablement through the whole stack, the partners service and its worker running as
processes, through the edge with real API keys: a learning path imported for sales people
granting a certification; a new partner's sales lead is enrolled by the worker when the
partner is activated; the LMS's key (its intake's scope and nothing else) delivers the
courses' completions, signed, one of them twice; the completed path earns the certification,
and the tiers' worker moves the partner to the tier that needs one; its key then sees the
resource kept for certified partners, reads it and downloads its file through a signed link;
and the learning and resource KPIs equal what a hand computes from what the test did.

The stack is this module's own: the LMS intake needs its signing secret
(``PRM_PARTNERS_LMS_SECRET``), which the session's shared stack does not set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from prm_partners.declaration import ENABLEMENT_READ, LMS_INTAKE, PARTNERS_READ
from prm_platform.signatures import signature_header
from prm_stack.launch import RunningStack
from prm_stack.testing import Infra, eventually

from .delivering import new_key, ok, own_stack

pytestmark = pytest.mark.stack

SECRET = "whsec-lms-stack"
PDF = b"%PDF-1.7\n% the sales playbook\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def stack(prm_infra: Infra) -> Iterator[RunningStack]:
    """Enablement lives in the partners service (its worker enrols, earns and moves tiers)."""
    with own_stack(prm_infra, "enablement", "gateway,partners",
                   PRM_PARTNERS_LMS_SECRET=SECRET) as running:
        yield running


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "LMS-Signature": signature_header(SECRET.encode(), int(time.time()), raw)}


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def whole_seconds(later: str, earlier: str) -> int:
    """later − earlier, each truncated to the second (the KPIs' unit)."""
    return int((instant(later).replace(microsecond=0)
                - instant(earlier).replace(microsecond=0)).total_seconds())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def test_onboarding_enrols_the_lms_certifies_the_tier_follows_and_the_kpis_add_up(
        stack: RunningStack, api: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    eventually(lambda: api.get("/v1/learning-paths", headers=admin).status_code == 200,
               "the admin key reaching the partners service", timeout=60)
    tag = uuid.uuid4().hex[:8]
    code = f"SALES-{tag}"

    # The programme: Gold needs one active certification, Silver nothing; the path's
    # certification type; the path, for sales people, enrolled when a partner joins.
    ok(api.post("/v1/tiers", headers=admin, json={"name": "Silver", "rank": 10}), 201)
    ok(api.post("/v1/tiers", headers=admin, json={
        "name": "Gold", "rank": 20, "min_active_certifications": 1}), 201)
    ok(api.post("/v1/certification-types", headers=admin, json={
        "code": code, "name": "Certified sales professional", "validity_months": 24}), 201)
    courses = [{"course_id": f"crs-{tag}-1", "name": "The product in 30 minutes"},
               {"course_id": f"crs-{tag}-2", "name": "Discovery calls"}]
    path = ok(api.put(f"/v1/learning-paths-by-external-id/lms-path-{tag}", headers=admin, json={
        "name": "Selling the platform", "language": "en", "roles": ["sales"],
        "courses": courses, "certification": code, "enrol_on": ["joined"]}), 201)

    # The library: a playbook (a file) for certified partners only, and an overview (a link)
    # for everyone.
    draft = api.post("/v1/enablement-resources", headers=admin, json={
        "kind": "document", "default_language": "en", "audience": {"certifications": [code]},
        "variants": [{"language": "en", "title": "Sales playbook",
                      "url": "https://cdn.vendor.example/playbook-draft"}]})
    playbook = ok(draft, 201)
    uploaded = ok(api.post(f"/v1/enablement-resources/{playbook['id']}/files",
                           params={"filename": "playbook.pdf"}, content=PDF,
                           headers={**admin, "Content-Type": "application/octet-stream"}), 201)
    changed = api.patch(f"/v1/enablement-resources/{playbook['id']}", headers={
        **admin, "If-Match": draft.headers["etag"]}, json={"variants": [
            {"language": "en", "title": "Sales playbook", "file_id": uploaded["id"]}]})
    ok(changed)
    playbook = ok(api.post(f"/v1/enablement-resources/{playbook['id']}/publish", headers={
        **admin, "If-Match": changed.headers["etag"]}))
    drafted = api.post("/v1/enablement-resources", headers=admin, json={
        "kind": "link", "default_language": "en", "variants": [
            {"language": "en", "title": "Programme overview",
             "url": "https://www.vendor.example/programme"}]})
    ok(drafted, 201)
    overview = ok(api.post(f"/v1/enablement-resources/{drafted.json()['id']}/publish",
                           headers={**admin, "If-Match": drafted.headers["etag"]}))
    # Publishing sets updated_at to the version's publication time (one clock reading).
    published_at = {playbook["id"]: playbook["updated_at"],
                    overview["id"]: overview["updated_at"]}

    # The new partner, its sales lead added before it joins; a second partner without
    # anyone to enrol (it counts in the overview's audience, not the playbook's).
    partner = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Northwind {tag}", "type": "reseller", "country": "GB"}), 201)
    partner_id = partner["id"]
    lead = ok(api.post(f"/v1/partners/{partner_id}/contacts", headers=admin, json={
        "name": "Priya Raman", "email": f"priya@northwind-{tag}.example",
        "roles": ["sales"]}), 201)
    other = ok(api.post("/v1/partners", headers=admin, json={
        "name": f"Elbe Networks {tag}", "type": "reseller", "country": "DE"}), 201)
    ok(api.post(f"/v1/partners/{other['id']}/activate", headers=admin))
    activated = ok(api.post(f"/v1/partners/{partner_id}/activate", headers=admin))
    assert activated["status"] == "active"

    # The worker handles the activation: the sales lead is enrolled (reason joined).
    def enrolment() -> dict[str, Any] | None:
        found = api.get("/v1/learning-enrolments", headers=admin,
                        params={"contact_id": lead["id"]})
        items: list[dict[str, Any]] = found.json()["items"] if found.status_code == 200 \
            else []
        return items[0] if items else None

    enrolled = eventually(enrolment, "the worker enrolling the sales lead", timeout=90)
    assert (enrolled["path_id"], enrolled["partner_id"], enrolled["reason"]) == (
        path["id"], partner_id, "joined")
    assert (enrolled["status"], enrolled["courses_done"], enrolled["courses_total"]) == (
        "enrolled", 0, 2)
    # The activation gave it a tier at once: Silver, with nothing certified yet.
    eventually(lambda: ok(api.get(f"/v1/partners/{partner_id}", headers=admin))["tier"]
               == "Silver", "the partner's first tier", timeout=90)

    # The partner's key: it reads the library, and does not see the playbook yet.
    seller = new_key(api, admin, "partner sales portal", [ENABLEMENT_READ, PARTNERS_READ],
                     partner_id)
    eventually(lambda: api.get("/v1/enablement-resources", headers=seller).status_code == 200,
               "the partner's key reaching the partners service", timeout=60)
    assert api.get(f"/v1/enablement-resources/{playbook['id']}",
                   headers=seller).status_code == 404

    # The LMS's deliveries, signed, with a key that may do nothing else: the first course;
    # then that record again (a duplicate) with the second.
    lms = new_key(api, admin, "learning management system", [LMS_INTAKE])
    first = {"record_id": f"lms-{tag}-1", "contact_id": lead["id"],
             "course_id": courses[0]["course_id"], "completed_at": now_iso()}
    raw, signature = signed({"completions": [first]})
    delivered = eventually(lambda: (r := api.post("/v1/lms-intake", content=raw, headers={
        **lms, **signature})).status_code == 200 and r.json(),
        "the LMS's key reaching the partners service", timeout=60)
    assert [r["outcome"] for r in delivered["results"]] == ["recorded"]
    assert delivered["results"][0]["enrolments_completed"] == []
    forged = api.post("/v1/lms-intake", content=raw.replace(b"crs-", b"crx-"),
                      headers={**lms, **signature})
    assert forged.status_code == 403 and forged.json()["type"].endswith("/invalid-signature")
    assert api.get("/v1/learning-enrolments", headers=lms).status_code == 403
    time.sleep(1.1)  # the second course completes in a later second than the enrolment
    second = {"record_id": f"lms-{tag}-2", "contact_id": lead["id"],
              "course_id": courses[1]["course_id"], "completed_at": now_iso()}
    raw, signature = signed({"completions": [first, second]})
    delivered = ok(api.post("/v1/lms-intake", content=raw, headers={**lms, **signature}))
    assert [r["outcome"] for r in delivered["results"]] == ["duplicate", "recorded"]
    assert (delivered["recorded"], delivered["duplicates"], delivered["refused"]) == (1, 1, 0)
    assert delivered["results"][1]["enrolments_completed"] == [enrolled["id"]]

    # The path is completed (its time: the later course's) and its certification earned.
    done = ok(api.get(f"/v1/learning-enrolments/{enrolled['id']}", headers=admin))
    assert (done["status"], done["courses_done"]) == ("completed", 2)
    assert instant(done["completed_at"]) == instant(second["completed_at"])
    certifications = ok(api.get(f"/v1/partners/{partner_id}/certifications",
                                headers=admin))["items"]
    assert [(c["code"], c["source"], c["status"], c["contact_id"], c["lms_record_id"])
            for c in certifications] == [
        (code, "lms", "active", lead["id"], f"learning-path:{enrolled['id']}")]
    assert done["certification_id"] == certifications[0]["id"]

    # The tiers' worker evaluates the earned certification: Gold.
    eventually(lambda: ok(api.get(f"/v1/partners/{partner_id}", headers=admin))["tier"]
               == "Gold", "the certification moving the partner to Gold", timeout=90)

    # Certified, the partner's key sees the playbook: it reads it (a view) and downloads
    # its file through a signed link (a download); it reads the overview (a view).
    listed = ok(api.get("/v1/enablement-resources", headers=seller))["items"]
    assert {r["id"] for r in listed} == {playbook["id"], overview["id"]}
    seen = ok(api.get(f"/v1/enablement-resources/{playbook['id']}", headers=seller))
    assert (seen["title"], seen["file_id"], seen["published_version"]) == (
        "Sales playbook", uploaded["id"], 1)
    link = ok(api.get(f"/v1/enablement-resources/{playbook['id']}/links", headers=seller))
    assert link["url"].startswith("/v1/enablement-downloads/")
    downloaded = api.get(link["url"], headers=seller)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    assert api.get(link["url"], headers=admin).status_code == 404  # the partner's link
    ok(api.get(f"/v1/enablement-resources/{overview['id']}", headers=seller))

    # The uses recorded, oldest first: playbook view, playbook download, overview view.
    uses = ok(api.get("/v1/enablement-resource-uses", headers=admin,
                      params={"sort": "used_at"}))["items"]
    assert [(u["resource_id"], u["kind"], u["partner_id"]) for u in uses] == [
        (playbook["id"], "view", partner_id), (playbook["id"], "download", partner_id),
        (overview["id"], "view", partner_id)]

    # The learning KPIs, by hand: one path, one enrolment, completed: rate 1/1 = 1.0000; the
    # median of one time to completion is itself, completed_at − enrolled_at in whole
    # seconds; the first completion is that one, against the one enrolment.
    to_completion = whole_seconds(done["completed_at"], done["enrolled_at"])
    assert to_completion >= 1
    expected_learning = {"enrolled": 1, "completed": 1, "completion_rate": "1.0000",
                         "seconds_to_first_completion": to_completion}
    learning = ok(api.get("/v1/learning-kpis", headers=admin))
    assert learning["partner_id"] is None
    [per_path] = learning["paths"]
    for row, path_id in ((per_path, path["id"]), (learning["total"], None)):
        assert row["path_id"] == path_id
        assert {k: row[k] for k in expected_learning} == expected_learning
        assert Decimal(row["median_seconds_to_completion"]) == Decimal(to_completion)
    assert ok(api.get("/v1/learning-kpis", headers=admin, params={
        "partner_id": other["id"]}))["total"]["enrolled"] == 0

    # The resource KPIs, by hand. Playbook: 2 uses (1 view, 1 download) by 1 caller (the
    # key) of 1 partner; eligible: the active partners holding the certification now, this
    # one alone, which used it: 1/1 = 1.0000. Overview: 1 view; eligible: both active
    # partners (no audience), one used it: 1/2 = 0.5000. Time to first use: its first use −
    # its publication. Per partner: 2 resources, 3 uses, first use − activation.
    def first_use(resource_id: str) -> str:
        return next(u["used_at"] for u in uses if u["resource_id"] == resource_id)

    expected_resources = [
        {"resource_id": playbook["id"], "title": "Sales playbook", "status": "published",
         "uses": 2, "views": 1, "downloads": 1, "people": 1, "partners": 1,
         "eligible_partners": 1, "adopting_partners": 1, "adoption": "1.0000",
         "seconds_to_first_use": whole_seconds(first_use(playbook["id"]),
                                               published_at[playbook["id"]])},
        {"resource_id": overview["id"], "title": "Programme overview", "status": "published",
         "uses": 1, "views": 1, "downloads": 0, "people": 1, "partners": 1,
         "eligible_partners": 2, "adopting_partners": 1, "adoption": "0.5000",
         "seconds_to_first_use": whole_seconds(first_use(overview["id"]),
                                               published_at[overview["id"]])}]
    kpis = ok(api.get("/v1/enablement-kpis", headers=admin))
    assert kpis["partner_id"] is None
    assert [{k: v for k, v in r.items() if k != "first_published_at"}
            for r in kpis["resources"]] == expected_resources
    assert [instant(r["first_published_at"]) for r in kpis["resources"]] == [
        instant(published_at[playbook["id"]]), instant(published_at[overview["id"]])]
    activated_at = ok(api.get(f"/v1/partners/{partner_id}", headers=admin))["activated_at"]
    assert kpis["partners"] == [{
        "partner_id": partner_id, "partner_name": f"Northwind {tag}", "resources_used": 2,
        "uses": 3, "first_used_at": uses[0]["used_at"],
        "seconds_to_first_use": whole_seconds(uses[0]["used_at"], activated_at)}]
    assert kpis["total"] == {"resources": 2, "resources_used": 2, "uses": 3, "views": 2,
                             "downloads": 1, "people": 1, "partners": 1}
    # The partner's own report: its uses; it alone in each denominator (1/1 both).
    own = ok(api.get("/v1/enablement-kpis", headers=seller))
    assert own["partner_id"] == partner_id
    assert [(r["resource_id"], r["uses"], r["eligible_partners"], r["adoption"])
            for r in own["resources"]] == [(playbook["id"], 2, 1, "1.0000"),
                                           (overview["id"], 1, 1, "1.0000")]
    assert own["total"] == kpis["total"]
    assert api.get("/v1/enablement-kpis", headers=seller,
                   params={"partner_id": other["id"]}).status_code == 404
