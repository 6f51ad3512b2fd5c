"""Certification types and certifications (LMS pushes, revocation, expiry), agreements with
their versions and signatures, and the compliance check."""

import datetime as dt

from sqlalchemy import text

from prm_partners.compliance import background
from prm_partners.compliance.service import (
    active_certification_count,
    add_months,
    expire,
    is_compliant,
)

TODAY = dt.date.today()


def days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


async def new_partner(client, vendor, name="Northwind Ltd"):
    created = await client.post("/v1/partners", json={
        "name": name, "type": "reseller", "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def new_type(client, vendor, code="SEC-101", **extra):
    response = await client.post("/v1/certification-types", json={
        "code": code, "name": f"{code} course", **extra}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def new_agreement(client, vendor, code="reseller-agreement", required=True,
                        versions=()):
    response = await client.post("/v1/agreements", json={
        "code": code, "title": code.replace("-", " ").title(), "required": required},
        headers=vendor)
    assert response.status_code == 201, response.text
    agreement = response.json()
    for version in versions:
        added = await client.post(f"/v1/agreements/{agreement['id']}/versions", json=version,
                                  headers=vendor)
        assert added.status_code == 201, added.text
        agreement = added.json()
    return agreement


async def earn(client, vendor, partner, **body):
    return await client.post(f"/v1/partners/{partner}/certifications",
                             json={"code": "SEC-101", "earned_on": days(-10), **body},
                             headers=vendor)


async def events(client, partner, kind=None):
    rows = (await client.connection.execute(text(
        "SELECT event_type, envelope FROM outbox WHERE key = :k ORDER BY seq"),
        {"k": partner})).all()
    return [r.envelope["data"] for r in rows if kind is None or r.event_type == kind]


EARNED = "prm.partner.certification_earned.v1"
EXPIRED = "prm.partner.certification_expired.v1"
SIGNED = "prm.partner.agreement_signed.v1"


def test_add_months_keeps_to_the_month():
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2023, 11, 30), 3) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2026, 10, 1), 24) == dt.date(2028, 10, 1)


def test_the_worker_runs_the_expiry_job():
    [job] = background.JOBS
    assert job.run is expire and job.batch


async def test_certification_types_crud(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    created = await client.post("/v1/certification-types", json={
        "code": "SEC-101", "name": "Security Fundamentals", "validity_months": 24,
        "required": True}, headers=vendor)
    assert created.status_code == 201
    kind = created.json()
    assert created.headers["location"] == f"/v1/certification-types/{kind['id']}"
    assert created.headers["etag"] == '"1"'
    duplicate = await client.post("/v1/certification-types", json={
        "code": "SEC-101", "name": "Again"}, headers=vendor)
    assert duplicate.status_code == 409
    other = await new_type(client, vendor, "NET-200")

    reader = as_partner(partner)
    page1 = (await client.get("/v1/certification-types?limit=1", headers=reader)).json()
    assert [t["id"] for t in page1["items"]] == [kind["id"]]
    page2 = (await client.get(f"/v1/certification-types?limit=1&cursor={page1['next_cursor']}",
                              headers=reader)).json()
    assert [t["id"] for t in page2["items"]] == [other["id"]]
    required = (await client.get("/v1/certification-types?required=true",
                                 headers=vendor)).json()["items"]
    assert [t["code"] for t in required] == ["SEC-101"]
    assert (await client.get(f"/v1/certification-types/{kind['id']}", headers=reader)
            ).status_code == 200
    assert (await client.post("/v1/certification-types", json={"code": "P-1", "name": "P"},
                              headers=reader)).status_code == 403
    assert (await client.patch(f"/v1/certification-types/{kind['id']}", json={"name": "P"},
                               headers=reader)).status_code == 403

    stale = await client.patch(f"/v1/certification-types/{kind['id']}",
                               json={"validity_months": 36}, headers={**vendor, "If-Match": '"5"'})
    assert stale.status_code == 412
    changed = await client.patch(f"/v1/certification-types/{kind['id']}",
                                 json={"validity_months": None, "required": False},
                                 headers={**vendor, "If-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.json()["validity_months"] is None and changed.json()["version"] == 2
    code_change = await client.patch(f"/v1/certification-types/{kind['id']}",
                                     json={"code": "SEC-102"}, headers=vendor)
    assert code_change.status_code == 422

    assert (await earn(client, vendor, partner)).status_code == 201
    used = await client.delete(f"/v1/certification-types/{kind['id']}", headers=vendor)
    assert used.status_code == 409
    unused = await client.delete(f"/v1/certification-types/{other['id']}", headers=vendor)
    assert unused.status_code == 204
    assert (await client.get(f"/v1/certification-types/{other['id']}", headers=vendor)
            ).status_code == 404


async def test_bad_programme_input_is_a_problem(client, vendor):
    for body, field in [
        ({"code": "SEC 101", "name": "x"}, "code"),
        ({"code": "S" * 61, "name": "x"}, "code"),
        ({"code": "SEC-1", "name": "x" * 201}, "name"),
        ({"code": "SEC-1", "name": "x", "validity_months": 0}, "validity_months"),
        ({"code": "SEC-1", "name": "x", "validity_months": "12"}, "validity_months"),
        ({"code": "SEC-1", "name": "x", "validity_months": 1.5}, "validity_months"),
        ({"code": "SEC-1", "name": "x", "currency": "XXX"}, "currency"),
    ]:
        response = await client.post("/v1/certification-types", json=body, headers=vendor)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in response.json()["errors"]}
    agreement = await new_agreement(client, vendor)
    for body, field in [
        ({"effective_on": "2026/01/01"}, "effective_on"),
        ({"effective_on": "2026-02-30"}, "effective_on"),
        ({"effective_on": 1767225600}, "effective_on"),
        ({"effective_on": "2026-01-01", "document_url": "ftp://x.example/a.pdf"},
         "document_url"),
        ({"effective_on": "2026-01-01", "document_url": "https://x.example/" + "a" * 2000},
         "document_url"),
        ({"effective_on": "2026-01-01", "term_months": -1}, "term_months"),
    ]:
        response = await client.post(f"/v1/agreements/{agreement['id']}/versions", json=body,
                                     headers=vendor)
        assert response.status_code == 422, (body, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}


async def test_earning_defaults_expiry_and_emits(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    await new_type(client, vendor, validity_months=24)
    contact = (await client.post(f"/v1/partners/{partner}/contacts", json={
        "name": "Priya", "email": "priya@northwind.example"}, headers=vendor)).json()
    response = await earn(client, vendor, partner, earned_on="2026-01-31",
                          contact_id=contact["id"])
    assert response.status_code == 201, response.text
    earned = response.json()
    assert earned["expires_on"] == "2028-01-31" and earned["status"] == "active"
    assert earned["source"] == "api" and earned["contact_id"] == contact["id"]
    assert response.headers["location"] == \
        f"/v1/partners/{partner}/certifications/{earned['id']}"
    [event] = await events(client, partner, EARNED)
    assert event == {"partner_id": partner, "certification_id": earned["id"],
                     "code": "SEC-101", "contact_id": contact["id"],
                     "earned_on": "2026-01-31", "expires_on": "2028-01-31"}
    explicit = (await earn(client, vendor, partner, earned_on="2026-01-31",
                           expires_on="2026-06-30")).json()
    assert explicit["expires_on"] == "2026-06-30"

    own = as_partner(partner)
    listed = (await client.get(f"/v1/partners/{partner}/certifications", headers=own)).json()
    assert [c["id"] for c in listed["items"]] == [earned["id"], explicit["id"]]
    mine = (await client.get(f"/v1/partners/{partner}/certifications?contact_id="
                             f"{contact['id']}", headers=own)).json()["items"]
    assert [c["id"] for c in mine] == [earned["id"]]
    # recording is the vendor's
    assert (await earn(client, own, partner)).status_code == 403


async def test_earning_refuses_bad_input(client, vendor):
    partner = await new_partner(client, vendor)
    other = await new_partner(client, vendor, "Other Ltd")
    await new_type(client, vendor)
    stranger = (await client.post(f"/v1/partners/{other}/contacts", json={
        "name": "Tom", "email": "tom@other.example"}, headers=vendor)).json()
    for body, status, field in [
        ({"code": "NOPE-1"}, 422, "code"),
        ({"earned_on": days(3)}, 422, "earned_on"),
        ({"contact_id": stranger["id"]}, 422, "contact_id"),
        ({"earned_on": "31/01/2026"}, 422, "earned_on"),
        ({"expires_on": days(-20)}, 422, "(body)"),
        ({"lms_record_id": "r-1"}, 422, "(body)"),
        ({"source": "csv"}, 422, "source"),
        ({"source": "lms", "lms_record_id": "x" * 101}, 422, "lms_record_id"),
    ]:
        response = await earn(client, vendor, partner, **body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert await events(client, partner, EARNED) == []


async def test_lms_pushes_are_idempotent(client, vendor):
    partner = await new_partner(client, vendor)
    await new_type(client, vendor)
    push = {"source": "lms", "lms_record_id": "enrol-88412", "earned_on": "2026-01-10"}
    first = await earn(client, vendor, partner, **push)
    assert first.status_code == 201
    again = await earn(client, vendor, partner, **push)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(await events(client, partner, EARNED)) == 1
    # another record id is another certification
    assert (await earn(client, vendor, partner, **{**push, "lms_record_id": "enrol-2"})
            ).status_code == 201


async def test_revoke_emits_once(client, vendor):
    partner = await new_partner(client, vendor)
    await new_type(client, vendor, validity_months=12)
    earned = (await earn(client, vendor, partner)).json()
    revoke_url = f"/v1/partners/{partner}/certifications/{earned['id']}/revoke"
    stale = await client.post(revoke_url, headers={**vendor, "If-Match": '"4"'})
    assert stale.status_code == 412
    revoked = await client.post(revoke_url, json={"reason": "exam withdrawn"},
                                headers={**vendor, "If-Match": '"1"'})
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["status"] == "revoked" and body["ended_on"] == TODAY.isoformat()
    assert body["revoked_reason"] == "exam withdrawn" and body["version"] == 2
    again = await client.post(revoke_url, headers=vendor)
    assert again.status_code == 409 and again.json()["current_status"] == "revoked"
    [event] = await events(client, partner, EXPIRED)
    assert event == {"partner_id": partner, "certification_id": earned["id"],
                     "code": "SEC-101", "expired_on": TODAY.isoformat()}
    revoked_list = (await client.get(f"/v1/partners/{partner}/certifications?status=revoked",
                                     headers=vendor)).json()["items"]
    assert [c["id"] for c in revoked_list] == [earned["id"]]


async def test_the_expiry_job_expires_each_once(client, vendor, app):
    partner = await new_partner(client, vendor)
    await new_type(client, vendor, validity_months=12)
    lapsed = (await earn(client, vendor, partner, earned_on="2020-03-01")).json()
    current = (await earn(client, vendor, partner)).json()
    last_day = (await earn(client, vendor, partner, earned_on=days(-5),
                           expires_on=TODAY.isoformat())).json()
    async with app.state.sessionmaker() as session:
        assert await expire(session) >= 1
        await session.commit()
    async with app.state.sessionmaker() as session:  # again: nothing left to do
        assert await expire(session) == 0
        await session.commit()
    seen = {c["id"]: c for c in (await client.get(
        f"/v1/partners/{partner}/certifications", headers=vendor)).json()["items"]}
    assert seen[lapsed["id"]]["status"] == "expired"
    assert seen[lapsed["id"]]["ended_on"] == "2021-03-01"
    assert seen[current["id"]]["status"] == "active"
    assert seen[last_day["id"]]["status"] == "active"  # valid through its last day
    expired = await events(client, partner, EXPIRED)
    assert expired == [{"partner_id": partner, "certification_id": lapsed["id"],
                        "code": "SEC-101", "expired_on": "2021-03-01"}]
    # an expired certification is not revoked again
    assert (await client.post(
        f"/v1/partners/{partner}/certifications/{lapsed['id']}/revoke", headers=vendor)
            ).status_code == 409
    listed = (await client.get(f"/v1/partners/{partner}/certifications?status=expired",
                               headers=vendor)).json()["items"]
    assert [c["id"] for c in listed] == [lapsed["id"]]


async def test_agreement_versions_are_numbered_in_order(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    agreement = await new_agreement(client, vendor)
    assert agreement["versions"] == [] and agreement["current_version"] is None
    duplicate = await client.post("/v1/agreements", json={
        "code": "reseller-agreement", "title": "Again"}, headers=vendor)
    assert duplicate.status_code == 409
    versions_url = f"/v1/agreements/{agreement['id']}/versions"
    first = await client.post(versions_url, json={
        "effective_on": "2025-01-01", "term_months": 12,
        "document_url": "https://partners.vendor.example/legal/ra-v1.pdf"},
        headers={**vendor, "If-Match": '"1"'})
    assert first.status_code == 201, first.text
    second = await client.post(versions_url, json={"effective_on": days(30)}, headers=vendor)
    assert second.status_code == 201
    body = second.json()
    assert [v["number"] for v in body["versions"]] == [1, 2]
    assert body["current_version"] == 1  # version 2 is not in effect yet
    assert body["versions"][0]["document_url"] == \
        "https://partners.vendor.example/legal/ra-v1.pdf"
    earlier = await client.post(versions_url, json={"effective_on": days(10)}, headers=vendor)
    assert earlier.status_code == 422
    assert earlier.json()["errors"][0]["field"] == "effective_on"
    stale = await client.post(versions_url, json={"effective_on": days(40)},
                              headers={**vendor, "If-Match": '"1"'})
    assert stale.status_code == 412

    reader = as_partner(partner)
    got = await client.get(f"/v1/agreements/{agreement['id']}", headers=reader)
    assert got.status_code == 200 and got.json()["version"] == 3
    listed = (await client.get("/v1/agreements", headers=reader)).json()["items"]
    assert [a["code"] for a in listed] == ["reseller-agreement"]
    assert (await client.post(versions_url, json={"effective_on": days(50)}, headers=reader)
            ).status_code == 403
    renamed = await client.patch(f"/v1/agreements/{agreement['id']}",
                                 json={"title": "Reseller Agreement 2026", "required": False},
                                 headers={**vendor, "If-Match": '"3"'})
    assert renamed.status_code == 200 and renamed.json()["required"] is False


async def test_signing(client, vendor):
    partner = await new_partner(client, vendor)
    await new_agreement(client, vendor, "nda", versions=[
        {"effective_on": "2024-01-01"}, {"effective_on": "2025-06-01", "term_months": 12}])
    contact = (await client.post(f"/v1/partners/{partner}/contacts", json={
        "name": "Priya Raman", "email": "priya@northwind.example"}, headers=vendor)).json()
    response = await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "nda", "signer_contact_id": contact["id"]}, headers=vendor)
    assert response.status_code == 201, response.text
    signed = response.json()
    assert signed["agreement_version"] == 2 and signed["signed_on"] == TODAY.isoformat()
    assert signed["expires_on"] == add_months(TODAY, 12).isoformat()
    assert signed["signer_name"] == "Priya Raman"
    assert response.headers["location"] == f"/v1/partners/{partner}/agreements/{signed['id']}"
    [event] = await events(client, partner, SIGNED)
    assert event == {"partner_id": partner, "signature_id": signed["id"], "agreement": "nda",
                     "version": 2, "signed_on": TODAY.isoformat(),
                     "expires_on": signed["expires_on"]}
    old = (await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "nda", "version": 1, "signed_on": "2024-02-01",
        "signer_name": "Old Boss"}, headers=vendor)).json()
    assert old["agreement_version"] == 1 and old["expires_on"] is None
    listed = (await client.get(f"/v1/partners/{partner}/agreements?limit=1",
                               headers=vendor)).json()
    assert [s["id"] for s in listed["items"]] == [signed["id"]] and listed["next_cursor"]

    for body, status, field in [
        ({"agreement": "nope", "signer_name": "X"}, 422, "agreement"),
        ({"agreement": "nda", "version": 9, "signer_name": "X"}, 422, "version"),
        ({"agreement": "nda"}, 422, "(body)"),
        ({"agreement": "nda", "signer_name": "X", "signer_contact_id": contact["id"]}, 422,
         "(body)"),
        ({"agreement": "nda", "signer_name": "X", "signed_on": days(1)}, 422,
         "signed_on"),
        ({"agreement": "nda", "signer_name": "X", "signed_on": "yesterday"}, 422,
         "signed_on"),
        ({"agreement": "nda", "signer_name": "X" * 201}, 422, "signer_name"),
    ]:
        refused = await client.post(f"/v1/partners/{partner}/agreements", json=body,
                                    headers=vendor)
        assert refused.status_code == status, (body, refused.text)
        assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()
    await new_agreement(client, vendor, "future-terms", versions=[{"effective_on": days(5)}])
    not_yet = await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "future-terms", "signer_name": "X"}, headers=vendor)
    assert not_yet.status_code == 409
    assert len(await events(client, partner, SIGNED)) == 2


async def compliance(client, headers, partner, on=None):
    response = await client.get(f"/v1/partners/{partner}/compliance"
                                + (f"?on={on}" if on else ""), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def gaps(report):
    return {(g["kind"], g["code"], g["issue"]) for g in report["gaps"]}


async def test_compliance_gaps(client, vendor, as_partner, app):
    partner = await new_partner(client, vendor)
    own = as_partner(partner)
    await new_type(client, vendor, "SEC-101", validity_months=12, required=True)
    await new_type(client, vendor, "OPT-1", required=False)
    agreement = await new_agreement(client, vendor, versions=[{"effective_on": "2024-01-01"}])
    await new_agreement(client, vendor, "marketing-terms", required=False,
                        versions=[{"effective_on": "2024-01-01"}])
    await new_agreement(client, vendor, "future-terms", versions=[{"effective_on": days(20)}])

    report = await compliance(client, own, partner)
    assert report["compliant"] is False and report["checked_for"] == TODAY.isoformat()
    assert gaps(report) == {("agreement", "reseller-agreement", "missing"),
                            ("certification", "SEC-101", "missing")}

    await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "reseller-agreement", "signed_on": "2024-03-01", "signer_name": "A"},
        headers=vendor)
    await earn(client, vendor, partner, earned_on="2023-01-01")  # ran out 2024-01-01
    assert gaps(await compliance(client, own, partner)) == {
        ("certification", "SEC-101", "expired")}
    # as it was: before the agreement took effect, the certification sufficed
    assert (await compliance(client, own, partner, "2023-06-01"))["compliant"] is True
    # and before the signature, with the certification run out
    assert (await compliance(client, own, partner, "2024-02-01"))["gaps"] == [
        {"kind": "agreement", "code": "reseller-agreement", "issue": "missing",
         "detail": "Reseller Agreement not signed"},
        {"kind": "certification", "code": "SEC-101", "issue": "expired",
         "detail": "the last SEC-101 certification ran out on 2024-01-01"}]

    earned = (await earn(client, vendor, partner, earned_on=days(-1))).json()
    assert (await compliance(client, own, partner))["compliant"] is True
    async with app.state.sessionmaker() as session:
        assert await is_compliant(session, partner, TODAY) is True
        assert await active_certification_count(session, partner, TODAY) == 1
        assert await active_certification_count(session, partner, dt.date(2023, 6, 1)) == 1
        assert await active_certification_count(session, partner, dt.date(2022, 6, 1)) == 0

    # a new version in effect makes the old signature outdated
    await client.post(f"/v1/agreements/{agreement['id']}/versions",
                      json={"effective_on": TODAY.isoformat(), "term_months": 1},
                      headers=vendor)
    report = await compliance(client, own, partner)
    assert report["gaps"] == [{"kind": "agreement", "code": "reseller-agreement",
                               "issue": "outdated", "detail": "version 1 signed; version 2 is "
                               f"current since {TODAY.isoformat()}"}]
    assert (await compliance(client, own, partner, days(-1)))["compliant"] is True
    async with app.state.sessionmaker() as session:
        assert await is_compliant(session, partner, TODAY) is False

    await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "reseller-agreement", "signer_name": "A"}, headers=vendor)
    assert (await compliance(client, own, partner))["compliant"] is True
    # its one-month term runs out, and by then the future terms are in effect
    later = add_months(TODAY, 1) + dt.timedelta(days=1)
    assert gaps(await compliance(client, own, partner, later.isoformat())) == {
        ("agreement", "reseller-agreement", "expired"), ("agreement", "future-terms", "missing")}

    # a revoked certification no longer counts
    await client.post(f"/v1/partners/{partner}/certifications/{earned['id']}/revoke",
                      headers=vendor)
    assert gaps(await compliance(client, own, partner)) == {
        ("certification", "SEC-101", "expired")}
    async with app.state.sessionmaker() as session:
        assert await active_certification_count(session, partner, TODAY) == 0
        assert await is_compliant(session, partner, TODAY) is False

    bad_day = await client.get(f"/v1/partners/{partner}/compliance?on=2026-13-01",
                               headers=own)
    assert bad_day.status_code == 422
    assert bad_day.headers["content-type"] == "application/problem+json"
