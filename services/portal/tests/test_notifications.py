"""Notifications from the contexts' events: who sees which, each person's marks, and every
route refusing another org's."""

import uuid

from prm_contracts import (
    DealApprovedV1,
    DealExtensionRequestedV1,
    LeadAssignedV1,
    LeadExpiredV1,
    LeadRecycledV1,
)
from prm_events.envelope import new_event
from prm_stack.testing import guarded_routes, vendor_headers


def approved(partner_id: uuid.UUID, deal_id: uuid.UUID, version: int = 2):
    return new_event(DealApprovedV1(deal_id=deal_id, partner_id=partner_id, status="approved",
                                    version=version, protected_until="2027-06-30"),
                     source="/prm/deals", subject=str(deal_id), partner_id=partner_id)


async def listed(client, headers, **params) -> list[dict]:
    response = await client.get("/v1/notifications", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_each_audience_sees_its_own(client, consume, story, as_partner, vendor):
    told, other = story(), story()
    await consume(*told.events, *other.events)
    mine = await listed(client, as_partner(told.partner_id))
    kinds = sorted(n["kind"] for n in mine)
    assert kinds == sorted([
        "deal.approved", "deal.approved", "deal.approved", "deal.rejected",
        "mdf_request.approved", "mdf_request.changes_requested", "mdf_claim.approved",
        "payout.paid", "partner.tier_changed", "certification.expired"])
    assert {n["partner_id"] for n in mine} == {str(told.partner_id)}
    globex = next(n for n in mine if n["subject_id"] == str(told.ids["globex"]))
    assert "Globex Åkerberg AB" in globex["body"]
    assert globex["data"]["customer_name"] == "Globex Åkerberg AB"
    # The vendor's staff see what waits for them, of every partner; none of the partners'.
    theirs = await listed(client, vendor, limit=200)
    assert {n["kind"] for n in theirs} == {"deal.review_needed", "mdf_request.review_needed",
                                          "mdf_claim.review_needed"}
    assert {n["partner_id"] for n in theirs} == {str(told.partner_id), str(other.partner_id)}
    # Only what the caller may read at the source: a sales user without incentives:read.
    sales = as_partner(told.partner_id, ("portal:read", "deals:read"))
    assert {n["subject_type"] for n in await listed(client, sales)} == {"deal"}


async def test_in_one_batch_a_deals_notification_names_its_customer(client, consume, story,
                                                                    as_partner):
    """The worker sends a batch's rows statement by statement (the home's before the
    notifications'): an approval's notification still reads the name its registration, in
    the same batch, gave the deal."""
    told = story()
    await consume(*told.events, batch=True)
    mine = await listed(client, as_partner(told.partner_id))
    globex = next(n for n in mine if n["subject_id"] == str(told.ids["globex"]))
    assert globex["kind"] == "deal.approved"
    assert "Globex Åkerberg AB" in globex["body"]
    assert globex["data"]["customer_name"] == "Globex Åkerberg AB"


async def test_marks_are_each_persons_own(client, consume, as_partner, prm_infra):
    from prm_platform.security import Principal, PrincipalKind
    from prm_stack.testing import principal_headers

    partner = uuid.uuid4()
    await consume(approved(partner, uuid.uuid4()), approved(partner, uuid.uuid4()))

    def user(name: str) -> dict:
        return principal_headers(Principal(
            subject=f"user:{name}", kind=PrincipalKind.partner, partner_id=partner,
            scopes=frozenset({"portal:read", "portal:write", "deals:read"})),
            prm_infra.internal_secret)

    ana, ben = user("ana"), user("ben")
    first, second = await listed(client, ana)
    read = await client.post(f"/v1/notifications/{first['id']}/read", headers=ana)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await client.post(f"/v1/notifications/{first['id']}/read", headers=ana)
    assert again.json()["read_at"] == read.json()["read_at"]  # the first time is kept
    assert [n["id"] for n in await listed(client, ana, state="unread")] == [second["id"]]
    assert len(await listed(client, ben, state="unread")) == 2  # a colleague's stays unread
    count = await client.get("/v1/notifications/unread-count", headers=ana)
    assert count.json() == {"unread": 1}
    dismissed = await client.post(f"/v1/notifications/{second['id']}/dismiss", headers=ana)
    assert dismissed.status_code == 200
    assert [n["id"] for n in await listed(client, ana)] == [first["id"]]
    assert [n["id"] for n in await listed(client, ana, state="dismissed")] == [second["id"]]
    unread = await client.post(f"/v1/notifications/{first['id']}/unread", headers=ana)
    assert unread.json()["read_at"] is None
    everything = await client.post("/v1/notifications/read-all", headers=ben)
    assert everything.json() == {"marked": 2}
    assert await listed(client, ben, state="unread") == []
    some = await client.post("/v1/notifications/read", headers=ana,
                             json={"ids": [first["id"], str(uuid.uuid4())]})
    assert some.json() == {"marked": 1}


async def test_an_event_twice_is_one_notification(client, consume, as_partner):
    partner = uuid.uuid4()
    event = approved(partner, uuid.uuid4())
    await consume(event, event, batch=True)
    await consume(event)
    assert len(await listed(client, as_partner(partner))) == 1


async def test_every_route_refuses_another_orgs_notification(client, consume, as_partner,
                                                             vendor, app):
    a, b = uuid.uuid4(), uuid.uuid4()
    deal = uuid.uuid4()
    await consume(approved(a, deal), new_event(DealExtensionRequestedV1(
        deal_id=deal, partner_id=a, status="approved", version=3,
        protected_until="2027-06-30", requested_at="2027-06-01T09:00:00Z"),
        source="/prm/deals", subject=str(deal), partner_id=a))
    [mine] = await listed(client, as_partner(a))
    [vendors] = await listed(client, vendor)
    cases = {("GET", "/v1/notifications/{notification_id}"): "",
             ("POST", "/v1/notifications/{notification_id}/read"): "/read",
             ("POST", "/v1/notifications/{notification_id}/unread"): "/unread",
             ("POST", "/v1/notifications/{notification_id}/dismiss"): "/dismiss"}
    routes = {(m, path) for m, path in guarded_routes(app, {("GET", "/healthz"),
                                                             ("GET", "/readyz")})
              if "{notification_id}" in path}
    assert routes == set(cases)
    for (method, _), suffix in cases.items():
        for target, headers in ((mine, as_partner(b)), (mine, vendor), (vendors, as_partner(a))):
            response = await client.request(method, f"/v1/notifications/{target['id']}{suffix}",
                                            headers=headers)
            assert response.status_code == 404, (method, suffix, response.text)
    assert await listed(client, as_partner(b)) == []
    marked = await client.post("/v1/notifications/read", headers=as_partner(b),
                               json={"ids": [mine["id"]]})
    assert marked.json() == {"marked": 0}
    assert (await listed(client, as_partner(a), state="unread"))[0]["id"] == mine["id"]


async def test_filters_take_only_kinds_that_can_exist(client, as_partner):
    for params in ({"kind": "deal.approved\x00"}, {"subject_type": "Deal"},
                   {"kind": "deal..approved"}, {"state": "new"}):
        response = await client.get("/v1/notifications", headers=as_partner(uuid.uuid4()),
                                    params=params)
        assert response.status_code == 422, (params, response.text)
    fine = await client.get("/v1/notifications", headers=as_partner(uuid.uuid4()),
                            params={"kind": "deal.approved,mdf_claim.rejected",
                                    "subject_type": "mdf_request"})
    assert fine.status_code == 200 and fine.json()["items"] == []


def lead_event(payload_type, lead_id, partner_id, **fields):
    told = fields.pop("told", partner_id)
    payload = payload_type(lead_id=lead_id, partner_id=partner_id, source="vendor",
                           company={"name": "Initech GmbH", "domain": "initech.example",
                                    "country": "DE"}, version=fields.pop("version", 2),
                           **fields)
    return new_event(payload, source="/prm/deals", subject=str(lead_id), partner_id=told)


async def test_leads_tell_the_partner_they_are_offered_to_and_the_vendor_what_waits(
        client, consume, as_partner, prm_infra):
    holder, other = uuid.uuid4(), uuid.uuid4()
    offered, queued = uuid.uuid4(), uuid.uuid4()
    await consume(
        lead_event(LeadAssignedV1, offered, holder, status="offered", reason="routed",
                   respond_by="2031-03-02T13:00:00Z"),
        lead_event(LeadRecycledV1, offered, other, status="offered", withdrawn_from=holder,
                   respond_by="2031-03-02T13:00:00Z", told=holder, version=3),
        lead_event(LeadAssignedV1, offered, other, status="offered", reason="recycled",
                   respond_by="2031-03-03T13:00:00Z", version=3),
        lead_event(LeadAssignedV1, queued, None, status="queued", reason="no_candidate"),
        lead_event(LeadExpiredV1, uuid.uuid4(), other, status="expired"))
    leads = ("portal:read", "leads:read")
    mine = await listed(client, as_partner(holder, leads))
    assert [(n["kind"], n["subject_id"]) for n in mine] == [
        ("lead.withdrawn", str(offered)), ("lead.offered", str(offered))]
    assert mine[1]["title"] == "New lead to answer"
    assert "Initech GmbH (DE) is offered to you" in mine[1]["body"]
    assert "2031-03-02" in mine[1]["body"] and mine[1]["subject_type"] == "lead"
    assert {n["kind"] for n in await listed(client, as_partner(other, leads))} == {
        "lead.offered", "lead.expired"}
    # Only to those who read leads: a user of the org without leads:read sees none of them.
    assert await listed(client, as_partner(holder, ("portal:read", "deals:read"))) == []
    vendor = vendor_headers(prm_infra.internal_secret, leads)
    staff = [n for n in await listed(client, vendor, limit=200)
             if n["subject_id"] == str(queued)]
    assert [(n["kind"], n["partner_id"]) for n in staff] == [("lead.queued", None)]
    assert "no partner in its pool could take it" in staff[0]["body"]
