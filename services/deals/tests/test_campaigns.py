"""Through-channel marketing: templates that are merge fields only (injection refused or printed
as text, fuzzed), the library's versions, availability by audience, brand profile completeness,
launches rendered under the partner's brand with tracked links (HTML and PDF), MDF funding,
and engagement by API and signed intake (deduplicated; form fills become leads)."""

import datetime as dt
import json
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from pydantic import SecretStr
from sqlalchemy import text

from prm_contracts import (
    CertificationEarnedV1,
    MdfRequestApprovedV1,
    PartnerSnapshot,
    PartnerUpdatedV1,
)
from prm_deals.campaigns import rendering
from prm_deals.campaigns.funding import HANDLERS as FUNDING
from prm_deals.directory.handlers import HANDLERS
from prm_events.envelope import new_event
from prm_platform.signatures import signature_header
from prm_stack.testing import partner_headers, vendor_headers

SECRET = "whsec-campaign-test"
VENDOR_SCOPES = ("campaigns:read", "campaigns:write", "campaign_launches:read",
                 "campaign_launches:write", "campaign_engagement:read",
                 "campaign_engagement:write", "leads:read")
PARTNER_SCOPES = ("campaigns:read", "campaign_launches:read", "campaign_launches:write",
                  "campaign_engagement:read", "campaign_engagement:write")
LINKS = frozenset({"trial"})

INVITE_EN = {"key": "invite", "kind": "email", "language": "en",
             "subject": "{{ partner.name }} invites you",
             "html": "<h1>{{ partner.name }}</h1><p>{{ partner.value_proposition }}</p>"
                     "<a href=\"{{ links.trial }}\">Start</a>"
                     "{% if partner.phone %}<p>Call {{ partner.phone }}</p>{% endif %}"}
INVITE_DE = {**INVITE_EN, "language": "de", "subject": "{{ partner.name }} lädt Sie ein",
             "html": "<h1>{{ partner.name }}</h1><p>{{ partner.value_proposition }}</p>"
                     "<a href=\"{{ links.trial }}\">Jetzt testen</a>"}
POST = {"key": "post", "kind": "social_post", "language": "en",
        "text": "{{ partner.tagline }}: try it {{ links.trial }}"}


def campaign_body(**over):
    return {"name": "Zero-trust in a day", "audience": {"tiers": ["Gold"]},
            "links": {"trial": "https://www.vendor.example/trial?plan=pro"},
            "default_language": "en", "assets": [INVITE_EN, INVITE_DE, POST], **over}


# --- templates -------------------------------------------------------------------------------

ATTACKS = [
    "{{ partner.__class__ }}", "{{ partner.name.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "{{ config }}",
    "{{ request.application }}", "{{ lipsum.__globals__ }}", "{{ range(10) }}",
    "{% include '/etc/passwd' %}", "{% import 'os' as os %}", "{% extends 'base.html' %}",
    "{% from 'x' import y %}", "{% for i in range(99999999) %}x{% endfor %}",
    "{% set x = partner %}{{ x }}", "{% macro m() %}{% endmacro %}",
    "{{ partner['name'] }}", "{{ partner.name|attr('__class__') }}",
    "{{ partner.name|format('%s') }}", "{{ partner.name|replace('', 'x' * 1000) }}",
    "{{ partner }}", "{{ links.other }}", "{{ 7 * 7 }}", "{{ partner.name.upper() }}",
    "{% raw %}{{ x }}{% endraw %}{{ partner.name|e|map('x') }}", "{{ partner.name is defined }}",
    "{% filter upper %}{{ partner.name }}{% endfilter %}", "{{ partner.name[0] }}",
    "{% with x = 1 %}{% endwith %}", "{% call m() %}{% endcall %}", "{{ unclosed",
]


@pytest.mark.parametrize("template", ATTACKS)
def test_a_template_that_is_not_merge_fields_is_refused(template):
    with pytest.raises(rendering.TemplateRefused):
        rendering.check(template, LINKS)


TOKENS = ["{{", "}}", "{%", "%}", " ", "partner", "links", "campaign", ".", "name", "trial",
          "__class__", "__globals__", "(", ")", "[", "]", "'", "\"", "|", "upper", "attr",
          "if", "endif", "for", "in", "endfor", "include", "import", "~", "<a href=", ">",
          "0", "*", "==", "not", "and", "e", "truncate", "default", "os", "popen", "self"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.text(max_size=200))
def test_fuzzed_templates_are_refused_or_render_values_as_escaped_text(tokens, value):
    """Whatever a template says, it is refused at save time, or it renders (never raising, never
    reaching past the values given) output no longer than its own text plus a bounded number
    of values; and a value is never a template."""
    template = "".join(tokens)
    try:
        rendering.check(template, LINKS)
    except rendering.TemplateRefused:
        return
    brand = {f: value for f in rendering.BRAND_FIELDS}
    done = rendering.render({"html": template, "text": template}, brand=brand,
                            campaign_name=value, links={"trial": "https://v.example/t"})
    assert done.html is not None and done.text is not None
    fields = template.count("partner.") + template.count("campaign.") + template.count("links.")
    assert len(done.html) <= len(template) + fields * (6 * len(value) + 30)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_a_partner_value_is_printed_as_text_never_run(value):
    done = rendering.render({"html": "<p>{{ partner.name }}</p>", "text": "{{ partner.name }}",
                             "subject": "Hi {{ partner.name }}"},
                            brand={"name": value}, campaign_name="c", links={})
    assert done.html == f"<p>{escape(value)}</p>"
    assert done.text == value and done.subject == f"Hi {value}"


def test_template_syntax_and_markup_in_a_partners_name_come_out_as_text():
    value = "{{ 7*7 }}{% for x in y %}<script>alert(1)</script>\" onmouseover=\"x"
    done = rendering.render({"html": '<a title="{{ partner.name }}">{{ partner.name }}</a>'},
                            brand={"name": value}, campaign_name="c", links={})
    assert "49" not in done.html and "<script>" not in done.html
    assert "{{ 7*7 }}" in done.html and "&lt;script&gt;" in done.html
    assert "&#34; onmouseover=&#34;x" in done.html


def test_tracked_links_keep_the_target_and_carry_the_launch():
    url = rendering.tracked("https://v.example/trial?plan=pro&utm_source=x", ref="ABCD2345EFGH",
                            campaign="c-v1", asset="invite")
    assert url.startswith("https://v.example/trial?plan=pro&")
    assert "prm_ref=ABCD2345EFGH" in url and "utm_content=invite" in url
    assert url.count("utm_source") == 1


# --- the API ---------------------------------------------------------------------------------

@pytest.fixture
def marketer(prm_infra):
    return vendor_headers(prm_infra.internal_secret, VENDOR_SCOPES, "key-marketing")


@pytest.fixture
def intake_key(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ("campaign_intake:write",),
                          "key-marketing-tool")


@pytest.fixture
def campaign_secret(app):
    before = app.state.settings
    app.state.settings = before.model_copy(update={"campaign_secret": SecretStr(SECRET)})
    yield
    app.state.settings = before


@pytest.fixture
def programme_partner(app, prm_infra):
    """A partner in the directory with a tier, type, country and certifications, through the
    events the worker applies; and its headers."""
    async def make(tier="Gold", *, type_="reseller", country="DE", certifications=()):
        partner_id = uuid.uuid4()
        snapshot = PartnerSnapshot(id=partner_id, name=f"{tier} partner", type=type_,
                                   country=country, status="active", version=3, tier=tier)
        events = [new_event(PartnerUpdatedV1(partner=snapshot, changed=["tier"]),
                            source="/prm/partners", subject=str(partner_id),
                            partner_id=partner_id)]
        events += [new_event(CertificationEarnedV1(
            partner_id=partner_id, certification_id=uuid.uuid4(), code=code,
            earned_on=dt.date.today()), source="/prm/partners", subject=str(partner_id),
            partner_id=partner_id) for code in certifications]
        async with app.state.sessionmaker() as session:
            for event in events:
                await HANDLERS[event.type](session, event)
            await session.commit()
        return partner_id, partner_headers(prm_infra.internal_secret, partner_id,
                                           PARTNER_SCOPES)
    return make


async def published(client, marketer, **over):
    made = await client.post("/v1/campaigns", headers=marketer, json=campaign_body(**over))
    assert made.status_code == 201, made.text
    done = await client.post(f"/v1/campaigns/{made.json()['id']}/publish", headers={
        **marketer, "If-Match": made.headers["ETag"]})
    assert done.status_code == 200, done.text
    return done.json()


BRAND = {"name": "Northwind Security", "value_proposition": "Managed zero-trust",
         "tagline": "Secure by default", "phone": "+49 30 1234567",
         "website": "https://northwind.example", "email": "hello@northwind.example"}


async def branded(client, partner_id, headers, **fields):
    done = await client.put(f"/v1/brand-profiles/{partner_id}", json={**BRAND, **fields},
                            headers={**headers, "If-Match": '"0"'})
    assert done.status_code == 200, done.text
    return done.json()


def signed(body: dict, *, at: int | None = None, secret: str = SECRET) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    at = int(time.time()) if at is None else at
    return raw, {"Content-Type": "application/json",
                 "Campaign-Signature": signature_header(secret.encode(), at, raw)}


async def test_a_template_refused_on_save_names_the_asset_and_line(client, marketer):
    bad = {**INVITE_EN, "html": "<p>ok</p>\n{{ partner.__class__.__mro__ }}"}
    made = await client.post("/v1/campaigns", headers=marketer,
                             json=campaign_body(assets=[bad]))
    assert made.status_code == 422
    error = made.json()["errors"][0]
    assert error["field"] == "assets.0.html" and "line 2" in error["message"]
    unsafe = await client.post("/v1/campaigns", headers=marketer, json=campaign_body(
        links={"trial": "javascript:alert(1)"}))
    assert unsafe.status_code == 422


async def test_partners_see_published_versions_with_their_availability(
        client, marketer, programme_partner):
    campaign = await published(client, marketer)
    assert campaign["published_version"] == 1 and campaign["languages"] == ["de", "en"]
    assert campaign["brand_fields"] == ["name", "phone", "tagline", "value_proposition"]
    draft = await client.post("/v1/campaigns", headers=marketer, json=campaign_body())
    _, gold = await programme_partner("Gold")
    _, silver = await programme_partner("Silver")
    seen = await client.get(f"/v1/campaigns/{campaign['id']}", headers=gold)
    assert seen.json()["availability"] == {"available": True, "unavailable_because": []}
    refused = await client.get(f"/v1/campaigns/{campaign['id']}", headers=silver)
    assert refused.json()["availability"]["available"] is False
    assert (await client.get(f"/v1/campaigns/{draft.json()['id']}", headers=gold)
            ).status_code == 404
    listed = await client.get("/v1/campaigns", headers=gold)
    assert draft.json()["id"] not in {c["id"] for c in listed.json()["items"]}
    # An edit of the draft is not what partners see until it is published.
    etag = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer)
            ).headers["ETag"]
    edited = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "Renamed"},
                                headers={**marketer, "If-Match": etag})
    assert edited.json()["unpublished_changes"] is True
    assert (await client.get(f"/v1/campaigns/{campaign['id']}", headers=gold)
            ).json()["name"] == "Zero-trust in a day"


async def test_launch_checks_audience_then_brand_then_renders_tracked_assets(
        client, marketer, programme_partner):
    campaign = await published(client, marketer, audience={
        "tiers": ["Gold"], "certifications": ["SEC-101"]})
    silver_id, silver = await programme_partner("Silver", certifications=["SEC-101"])
    refused = await client.post("/v1/campaign-launches", headers=silver,
                                json={"campaign_id": campaign["id"]})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/campaign-not-available")
    assert refused.json()["unavailable_because"] == ["tier Silver is not one of Gold"]
    gold_id, gold = await programme_partner("Gold", certifications=["SEC-101"])
    await branded(client, gold_id, gold, tagline=None, phone=None,
                  name="{{ 7*7 }} <b>Northwind</b>")
    incomplete = await client.post("/v1/campaign-launches", headers=gold,
                                   json={"campaign_id": campaign["id"], "language": "en"})
    assert incomplete.status_code == 422
    assert incomplete.json()["missing"] == ["phone", "tagline"]
    # German assets use no phone or tagline... but the English social post is the fallback.
    etag = (await client.get(f"/v1/brand-profiles/{gold_id}", headers=gold)).headers["ETag"]
    done = await client.put(f"/v1/brand-profiles/{gold_id}", headers={**gold, "If-Match": etag},
                            json={**BRAND, "name": "{{ 7*7 }} <b>Northwind</b>"})
    assert done.status_code == 200 and done.json()["missing"] == ["logo_url", "address",
                                                                 "booking_url"]
    launched = await client.post("/v1/campaign-launches", headers=gold,
                                 json={"campaign_id": campaign["id"], "language": "de-AT"})
    assert launched.status_code == 201, launched.text
    launch = launched.json()
    assert launch["language"] == "de-AT" and launch["partner_id"] == str(gold_id)
    invite, post = launch["assets"]
    assert invite["language"] == "de" and post["language"] == "en"
    assert invite["subject"] == "{{ 7*7 }} <b>Northwind</b> lädt Sie ein"
    assert "<h1>{{ 7*7 }} &lt;b&gt;Northwind&lt;/b&gt;</h1>" in invite["html"]
    assert f"prm_ref={launch['ref']}" in invite["html"] and "plan=pro" in invite["html"]
    assert post["text"].startswith("Secure by default: try it https://www.vendor.example/")
    pdf = await client.get(invite["pdf"], headers=gold)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    other_id, other = await programme_partner("Gold")
    assert (await client.get(f"/v1/campaign-launches/{launch['id']}", headers=other)
            ).status_code == 404
    assert (await client.get(invite["pdf"], headers=other)).status_code == 404
    events = [r for (r,) in await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type = 'prm.campaign.launched.v1' "
        "AND envelope->'data'->>'launch_id' = :l"), {"l": launch["id"]})]
    assert [e["ref"] for e in events] == [launch["ref"]]


async def test_a_launch_is_paid_by_one_fund_request_of_its_own_partner(
        app, client, marketer, programme_partner):
    campaign = await published(client, marketer, audience={})
    partner_id, headers = await programme_partner("Gold")
    stranger_id, stranger = await programme_partner("Gold")
    await branded(client, partner_id, headers)
    request_id = uuid.uuid4()
    event = new_event(MdfRequestApprovedV1(
        request_id=request_id, partner_id=partner_id, allocation_id=uuid.uuid4(),
        budget_id=uuid.uuid4(), status="approved",
        planned_cost={"amount": "5000.00", "currency": "EUR"}, version=2, approved_by="vendor",
        claim_due_on=dt.date.today()), source="/prm/incentives", subject=str(request_id),
        partner_id=partner_id)
    async with app.state.sessionmaker() as session:
        await FUNDING[event.type](session, event)
        await session.commit()
    await branded(client, stranger_id, stranger)
    foreign = await client.post("/v1/campaign-launches", headers=stranger, json={
        "campaign_id": campaign["id"], "mdf_request_id": str(request_id)})
    assert foreign.status_code == 404
    paid = await client.post("/v1/campaign-launches", headers=headers, json={
        "campaign_id": campaign["id"], "mdf_request_id": str(request_id)})
    assert paid.status_code == 201, paid.text
    again = await client.post("/v1/campaign-launches", headers=headers, json={
        "campaign_id": campaign["id"], "mdf_request_id": str(request_id)})
    assert again.status_code == 409


async def test_engagement_is_recorded_once_and_a_form_fill_becomes_the_partners_lead(
        client, marketer, intake_key, campaign_secret, programme_partner):
    campaign = await published(client, marketer, audience={})
    partner_id, headers = await programme_partner("Gold")
    await branded(client, partner_id, headers)
    launch = (await client.post("/v1/campaign-launches", headers=headers, json={
        "campaign_id": campaign["id"]})).json()
    now = dt.datetime.now(dt.UTC).isoformat()
    click = {"ref": launch["ref"], "external_id": "evt-1", "kind": "click", "occurred_at": now,
             "asset": "invite", "link": "trial", "company": {"domain": "Fabrikam.example"}}
    fill = {"ref": launch["ref"], "external_id": "evt-2", "kind": "form_fill",
            "occurred_at": now, "asset": "invite",
            "company": {"domain": "fabrikam.example", "name": "Fabrikam", "country": "GB"},
            "contact": {"name": "Dana Wu", "email": "dana@fabrikam.example"}}
    bad = {"ref": launch["ref"], "external_id": "evt-3", "kind": "form_fill",
           "occurred_at": now}
    unknown = {**click, "ref": "ZZZZZZZZZZZZ", "external_id": "evt-4"}
    raw, sig = signed({"events": [click, fill, bad, unknown]})
    delivered = await client.post("/v1/campaign-intake", content=raw,
                                  headers={**intake_key, **sig})
    assert delivered.status_code == 200, delivered.text
    items = delivered.json()["items"]
    assert [i["outcome"] for i in items] == ["recorded", "recorded", "error", "error"]
    assert items[3]["problem"]["status"] == 404
    assert items[0]["engagement"]["company"]["domain"] == "fabrikam.example"
    lead_id = items[1]["engagement"]["lead_id"]
    lead = await client.get(f"/v1/leads/{lead_id}", headers=marketer)
    assert lead.status_code == 200, lead.text
    assert lead.json()["source"] == "partner"
    assert lead.json()["contact"]["email"] == "dana@fabrikam.example"
    # The same delivery again records nothing new.
    raw, sig = signed({"events": [click, fill]})
    again = await client.post("/v1/campaign-intake", content=raw, headers={**intake_key, **sig})
    assert [i["outcome"] for i in again.json()["items"]] == ["duplicate", "duplicate"]
    counted = await client.get(f"/v1/campaign-launches/{launch['id']}", headers=headers)
    assert counted.json()["engagement"] == {"open": 0, "click": 1, "form_fill": 1,
                                            "conversion": 0}
    events = [r for (r,) in await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type = 'prm.campaign.engaged.v1' "
        "AND envelope->'data'->>'launch_id' = :l ORDER BY seq"), {"l": launch["id"]})]
    assert [e["kind"] for e in events] == ["click", "form_fill"]
    assert "contact" not in json.dumps(events)
    # The partner reports an open of its own launch through the API, once.
    opened = {**click, "external_id": "evt-5", "kind": "open", "link": None}
    first = await client.post("/v1/campaign-engagements", headers=headers, json=opened)
    second = await client.post("/v1/campaign-engagements", headers=headers, json=opened)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


async def test_the_intake_refuses_what_is_not_signed_by_the_shared_secret(
        client, intake_key, app):
    raw, sig = signed({"events": [{"x": 1}]})
    assert (await client.post("/v1/campaign-intake", content=raw,
                              headers={**intake_key, **sig})).json()["type"].endswith(
        "/campaign-intake-not-configured")
    before = app.state.settings
    app.state.settings = before.model_copy(update={"campaign_secret": SecretStr(SECRET)})
    try:
        raw, sig = signed({"events": [{"x": 1}]}, secret="forged")
        forged = await client.post("/v1/campaign-intake", content=raw,
                                   headers={**intake_key, **sig})
        raw, sig = signed({"events": [{"x": 1}]}, at=int(time.time()) - 3600)
        stale = await client.post("/v1/campaign-intake", content=raw,
                                  headers={**intake_key, **sig})
        assert forged.status_code == stale.status_code == 403
    finally:
        app.state.settings = before


async def test_an_agencys_key_sets_the_brand_and_launches_for_its_partner_and_no_more(
        client, marketer, programme_partner, prm_infra):
    campaign = await published(client, marketer, audience={})
    partner_id, _ = await programme_partner("Gold")
    agency = partner_headers(prm_infra.internal_secret, partner_id, (
        "campaigns:read", "campaign_launches:read", "campaign_launches:write"))
    await branded(client, partner_id, agency)
    launched = await client.post("/v1/campaign-launches", headers=agency,
                                 json={"campaign_id": campaign["id"]})
    assert launched.status_code == 201, launched.text
    assert launched.json()["launched_by"] == f"key:key-{partner_id}"
    for method, url, body in (
            ("POST", "/v1/campaign-engagements", {
                "launch_id": launched.json()["id"], "external_id": "e", "kind": "open",
                "occurred_at": "2026-12-01T10:00:00Z"}),
            ("GET", "/v1/campaign-engagements", None), ("GET", "/v1/leads", None),
            ("GET", "/v1/deals", None)):
        refused = await client.request(method, url, json=body, headers=agency)
        assert refused.status_code == 403, (url, refused.text)
