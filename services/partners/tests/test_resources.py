"""The enablement resource library: lifecycle and versions, files round trip, languages, signed
links, uses (and the contact's export and erasure), and the route-walking audience test: every
partner of a generated programme, for every role, reads exactly what its audience allows."""

import datetime as dt
import hashlib
import itertools
import random

from sqlalchemy import text

from prm_partners.resources import service
from prm_platform.declaration import PARTNER_ROLES
from prm_stack.testing import signing_in

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


async def _resource(client, vendor, *, audience=None, variants=None, kind="document",
                    default="en", publish=True):
    created = await client.post("/v1/enablement-resources", json={
        "kind": kind, "default_language": default, "audience": audience or {},
        "variants": variants or [{"language": "en", "title": "Overview",
                                  "url": "https://cdn.vendor.example/overview"}]},
        headers=vendor)
    assert created.status_code == 201, created.text
    row = created.json()
    if publish:
        published = await client.post(f"/v1/enablement-resources/{row['id']}/publish",
                                      headers={**vendor, "If-Match": f'"{row["version"]}"'})
        assert published.status_code == 200, published.text
        row = published.json()
    return row


async def _partner(client, vendor, *, type_="reseller", country="GB", tier=None):
    created = (await client.post("/v1/partners", json={
        "name": f"Org {random.random()}", "type": type_, "country": country},
        headers=vendor)).json()
    created = (await client.post(f"/v1/partners/{created['id']}/activate",
                                 headers=vendor)).json()
    if tier is not None:
        await client.connection.execute(text("UPDATE partners SET tier = :t WHERE id = :id"),
                                        {"t": tier, "id": created["id"]})
    return created


async def test_lifecycle_versions_and_file_round_trip(client, vendor, as_partner):
    draft = await _resource(client, vendor, publish=False)
    assert draft["status"] == "draft" and draft["published_version"] is None
    uploaded = await client.post(
        f"/v1/enablement-resources/{draft['id']}/files?filename=overview.pdf",
        content=PDF, headers={**vendor, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 201, uploaded.text
    file = uploaded.json()
    assert file["content_type"] == "application/pdf"
    assert file["sha256"] == hashlib.sha256(PDF).hexdigest() and file["size"] == len(PDF)
    stored = (await client.connection.execute(text(
        "SELECT store FROM enablement_files WHERE id = :id"), {"id": file["id"]})).scalar()
    assert stored == "postgres"  # the default store
    refused = await client.post(
        f"/v1/enablement-resources/{draft['id']}/files?filename=x.bin",
        content=b"\x00\x01binary", headers=vendor)
    assert refused.status_code == 415

    org = await _partner(client, vendor)
    partner = as_partner(org["id"])
    # A draft is nowhere for a partner.
    assert (await client.get(f"/v1/enablement-resources/{draft['id']}",
                             headers=partner)).status_code == 404
    stale = await client.patch(f"/v1/enablement-resources/{draft['id']}", json={
        "variants": [{"language": "en", "title": "Overview", "file_id": file["id"]}]},
        headers={**vendor, "If-Match": '"9"'})
    assert stale.status_code == 412
    changed = await client.patch(f"/v1/enablement-resources/{draft['id']}", json={
        "variants": [{"language": "en", "title": "Overview", "file_id": file["id"]}]},
        headers={**vendor, "If-Match": f'"{draft["version"]}"'})
    assert changed.status_code == 200, changed.text
    published = (await client.post(f"/v1/enablement-resources/{draft['id']}/publish",
                                   headers={**vendor, "If-Match": changed.headers["ETag"]}
                                   )).json()
    assert published["published_version"] == 1 and published["status"] == "published"
    # A later draft does not reach partners until published.
    edited = await client.patch(f"/v1/enablement-resources/{draft['id']}", json={
        "variants": [{"language": "en", "title": "Overview v2", "file_id": file["id"]}]},
        headers={**vendor, "If-Match": f'"{published["version"]}"'})
    assert edited.json()["unpublished_changes"] is True
    seen = (await client.get(f"/v1/enablement-resources/{draft['id']}", headers=partner)).json()
    assert seen["title"] == "Overview" and seen["variants"] is None

    link = (await client.get(f"/v1/enablement-resources/{draft['id']}/links",
                             headers=partner)).json()
    assert link["resource_version"] == 1
    downloaded = await client.get(link["url"], headers=partner)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(downloaded.content).hexdigest() == file["sha256"]

    uses = (await client.get(f"/v1/enablement-resource-uses?resource_id={draft['id']}",
                             headers=partner)).json()["items"]
    assert sorted(u["kind"] for u in uses) == ["download", "view"]
    events = (await client.connection.execute(text(
        "SELECT count(*) FROM outbox WHERE key = :k AND event_type = "
        "'prm.enablement.resource_used.v1'"), {"k": draft["id"]})).scalar()
    assert events == 2

    retired = await client.post(f"/v1/enablement-resources/{draft['id']}/retire",
                                headers={**vendor, "If-Match": edited.headers["ETag"]})
    assert retired.status_code == 200, retired.text
    assert (await client.get(link["url"], headers=partner)).status_code == 404
    assert (await client.get(f"/v1/enablement-resources/{draft['id']}",
                             headers=partner)).status_code == 404
    again = await client.post(f"/v1/enablement-resources/{draft['id']}/publish",
                              headers={**vendor, "If-Match": retired.headers["ETag"]})
    assert again.status_code == 409


async def test_links_expire_are_the_orgs_own_and_cannot_be_forged(client, vendor, as_partner,
                                                                   monkeypatch):
    resource = await _resource(client, vendor)
    a, b = (await _partner(client, vendor)), (await _partner(client, vendor))
    link = (await client.get(f"/v1/enablement-resources/{resource['id']}/links",
                             headers=as_partner(a["id"]))).json()
    redirected = await client.get(link["url"], headers=as_partner(a["id"]))
    assert redirected.status_code == 307
    assert redirected.headers["location"] == "https://cdn.vendor.example/overview"
    other = await client.get(link["url"], headers=as_partner(b["id"]))
    assert other.status_code == 404 and other.json()["type"] == "/problems/not-found"
    forged = link["url"][:-3] + ("AAA" if not link["url"].endswith("AAA") else "BBB")
    assert (await client.get(forged, headers=as_partner(a["id"]))).status_code == 404
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    monkeypatch.setattr(service, "_now", lambda: later)
    expired = await client.get(link["url"], headers=as_partner(a["id"]))
    assert expired.status_code == 404 and "expired" in expired.json()["detail"]


async def test_uses_are_in_the_contacts_export_and_leave_with_its_erasure(
        app, client, vendor, prm_issuer):
    resource = await _resource(client, vendor)
    org = await _partner(client, vendor)
    contact = (await client.post(f"/v1/partners/{org['id']}/contacts", json={
        "name": "Priya Raman", "email": "priya@org.example", "roles": ["sales"]},
        headers=vendor))
    assert contact.status_code == 201, contact.text
    contact = contact.json()
    token = prm_issuer.token(sub="user-priya", roles=["partner_sales"],
                             prm_partner_id=org["id"], email="Priya@org.example")
    with signing_in(app, prm_issuer):
        seen = await client.get(f"/v1/enablement-resources/{resource['id']}",
                                headers={"Authorization": f"Bearer {token}"})
        assert seen.status_code == 200, seen.text
    uses = (await client.get(f"/v1/enablement-resource-uses?contact_id={contact['id']}",
                             headers=vendor)).json()["items"]
    assert len(uses) == 1
    exported = (await client.get(
        f"/v1/partners/{org['id']}/contacts/{contact['id']}/export", headers=vendor)).json()
    assert [u["id"] for u in exported["enablement_uses"]] == [uses[0]["id"]]
    erased = await client.post(f"/v1/partners/{org['id']}/contacts/{contact['id']}/erase",
                               headers={**vendor, "If-Match": f'"{contact["version"]}"'})
    assert erased.status_code == 200, erased.text
    left = (await client.connection.execute(text(
        "SELECT contact_id, subject FROM enablement_resource_uses WHERE id = :id"),
        {"id": uses[0]["id"]})).one()
    assert tuple(left) == (None, None)


async def test_language_choice_and_fallback(client, vendor, as_partner):
    resource = await _resource(client, vendor, variants=[
        {"language": "en", "title": "Overview", "url": "https://cdn.vendor.example/en"},
        {"language": "de", "title": "Übersicht", "url": "https://cdn.vendor.example/de"}])
    partner = as_partner((await _partner(client, vendor))["id"])
    url = f"/v1/enablement-resources/{resource['id']}"
    for asked, language, fallback in (("de-AT", "de", False), ("fr", "en", True),
                                      ("fr;q=0.9, de;q=0.5", "de", False), (None, "en", False)):
        headers = {**partner, **({"Accept-Language": asked} if asked else {})}
        seen = (await client.get(url, headers=headers)).json()
        assert (seen["language"], seen["fallback"]) == (language, fallback), asked
    seen = (await client.get(url + "?language=de", headers={**partner,
                                                             "Accept-Language": "en"})).json()
    assert seen["language"] == "de"


# --- the audience, route by route ------------------------------------------------------------

TIERS = (None, "Gold")
TYPES = ("reseller", "msp")
COUNTRIES = ("GB", "DE")
CERTIFIED = (False, True)
LANGUAGES = ("en", "de", "fr-CA")


def _audience(rng):
    def some(values):
        return rng.sample(values, rng.randint(0, 1)) if rng.random() < 0.5 else []
    return {"roles": some(list(PARTNER_ROLES)), "tiers": some(["Gold", "Silver"]),
            "partner_types": some(list(TYPES)), "countries": some(list(COUNTRIES)),
            "certifications": ["ENB-101"] if rng.random() < 0.25 else []}


def _admits(audience, org, roles):
    return ((not audience["roles"] or bool(set(audience["roles"]) & set(roles)))
            and (not audience["tiers"] or org["tier"] in audience["tiers"])
            and (not audience["partner_types"] or org["type"] in audience["partner_types"])
            and (not audience["countries"] or org["country"] in audience["countries"])
            and (not audience["certifications"] or org["certified"]))


async def test_every_read_route_gives_exactly_what_the_audience_allows(
        app, client, vendor, as_partner, prm_issuer):
    rng = random.Random(20261207)
    marker = f"zq{rng.randrange(10**6)}"
    cert_type = (await client.post("/v1/certification-types", json={
        "code": "ENB-101", "name": "Enablement 101"}, headers=vendor))
    assert cert_type.status_code == 201, cert_type.text
    orgs = []
    for tier, type_, country, certified in itertools.product(TIERS, TYPES, COUNTRIES,
                                                             CERTIFIED):
        org = await _partner(client, vendor, type_=type_, country=country, tier=tier)
        if certified:
            earned = await client.post(f"/v1/partners/{org['id']}/certifications", json={
                "code": "ENB-101", "earned_on": "2026-01-01"}, headers=vendor)
            assert earned.status_code == 201, earned.text
        orgs.append({"id": org["id"], "tier": tier, "type": type_, "country": country,
                     "certified": certified})
    resources = {}
    for index in range(14):
        audience = _audience(rng)
        languages = rng.sample(LANGUAGES, rng.randint(1, 3))
        fate = rng.choice(["published", "published", "published", "draft", "retired"])
        row = await _resource(client, vendor, audience=audience, default=languages[0],
                              publish=fate != "draft", variants=[
                                  {"language": lang, "title": f"{marker} {index} {lang}",
                                   "url": f"https://cdn.vendor.example/{index}/{lang}"}
                                  for lang in languages])
        if fate == "retired":
            row = (await client.post(f"/v1/enablement-resources/{row['id']}/retire",
                                     headers={**vendor, "If-Match": f'"{row["version"]}"'}
                                     )).json()
        resources[row["id"]] = {"audience": audience, "languages": languages, "fate": fate}

    callers = [(org, (), as_partner(org["id"])) for org in orgs]
    callers += [(org, (role,), prm_issuer.headers(role, partner_id=org["id"]))
                for org in orgs for role in PARTNER_ROLES]
    other = orgs[-1]
    with signing_in(app, prm_issuer):
        for org, roles, headers in callers:
            ask = rng.choice(["de", "fr-CA", "fr", "en-GB"])
            headers = {**headers, "Accept-Language": ask}
            expected = {rid for rid, r in resources.items() if r["fate"] == "published"
                        and _admits(r["audience"], org, roles or PARTNER_ROLES)}
            listed = (await client.get("/v1/enablement-resources?limit=200",
                                       headers=headers)).json()["items"]
            found = (await client.get(f"/v1/enablement-resources?q={marker}&limit=200",
                                      headers=headers)).json()["items"]
            assert {r["id"] for r in found} == expected, (org, roles)
            assert expected <= {r["id"] for r in listed}
            assert all(r["status"] == "published" for r in listed)
            for item in found:
                langs = resources[item["id"]]["languages"]
                exact = [lang for lang in langs if lang.lower() == ask.lower()] or [
                    lang for lang in langs if lang.split("-")[0] == ask.split("-")[0]]
                want = exact[0] if exact else langs[0]
                assert (item["language"], item["fallback"]) == (want, not exact), (ask, langs)
            for rid in resources:
                detail = await client.get(f"/v1/enablement-resources/{rid}", headers=headers)
                link = await client.get(f"/v1/enablement-resources/{rid}/links",
                                        headers=headers)
                if rid in expected:
                    assert detail.status_code == 200 and link.status_code == 200
                    got = await client.get(link.json()["url"], headers=headers)
                    assert got.status_code == 307
                    assert got.headers["location"].endswith(f"/{link.json()['language']}")
                    if org is not other:  # another org's link is refused
                        assert (await client.get(link.json()["url"], headers=as_partner(
                            other["id"]))).status_code == 404
                else:
                    assert detail.status_code == 404, (rid, org, roles)
                    assert link.status_code == 404
