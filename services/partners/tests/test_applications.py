"""Applications to the programme: the public intake, the Ideal Partner Profile fit score with
its reasons, and the review that creates the partner."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from prm_partners.applications import fit

PROFILE = {"criteria": [
    {"field": "type", "weight": 30, "values": ["msp", "mssp"]},
    {"field": "country", "weight": 20, "values": ["GB", "IE", "DE"]},
    {"field": "specialisations", "weight": 30, "values": ["cloud security", "soc"]},
    {"field": "employees", "weight": 20, "minimum": 20, "maximum": 5000}]}
APPLICATION = {
    "company_name": "Northwind Security Ltd", "type": "mssp", "country": "GB",
    "countries_served": ["GB", "IE"], "specialisations": ["Cloud Security"],
    "website_domain": "northwind-security.example", "employees": 85,
    "contact": {"name": "Priya Shah", "email": "priya@northwind-security.example"}}
INTAKE = ("partner_applications:write",)
REVIEWER = ("partner_applications:read", "partners:write", "partners:read")


async def set_profile(client, vendor, profile=PROFILE):
    current = await client.get("/v1/ideal-partner-profile", headers=vendor)
    answer = await client.put("/v1/ideal-partner-profile", json=profile,
                              headers={**vendor, "If-Match": current.headers["etag"]})
    assert answer.status_code == 200, answer.text
    return answer


async def test_profile_starts_empty_and_is_versioned(client, vendor):
    empty = await client.get("/v1/ideal-partner-profile", headers=vendor)
    assert empty.json()["criteria"] == [] and empty.json()["version"] == 0
    first = await set_profile(client, vendor)
    assert first.json()["version"] == 1 and first.headers["etag"] == '"1"'
    stale = await client.put("/v1/ideal-partner-profile", json={"criteria": []},
                             headers={**vendor, "If-Match": '"0"'})
    assert stale.status_code == 412


async def test_application_is_scored_with_reasons(client, vendor, as_vendor):
    await set_profile(client, vendor)
    intake = as_vendor(INTAKE)
    submitted = await client.post("/v1/partner-applications", json=APPLICATION, headers=intake)
    assert submitted.status_code == 201, submitted.text
    receipt = submitted.json()
    # the intake key learns that it was received, not how the vendor rates the prospect
    assert receipt["status"] == "submitted" and receipt["fit"] is None
    assert receipt["contact"] is None
    reviewed = await client.get(f"/v1/partner-applications/{receipt['id']}",
                                headers=as_vendor(REVIEWER))
    scored = reviewed.json()["fit"]
    # type 30 + country 20 + half the specialisations 15 + employees 20 = 85 of 100
    assert scored["score"] == 85 and scored["profile_version"] == 1
    reasons = [c["reason"] for c in scored["criteria"]]
    assert reasons == ["type mssp is one of msp, mssp (+30 of 30)",
                       "country GB is one of GB, IE, DE (+20 of 20)",
                       "specialisations: has cloud security of cloud security, soc "
                       "(+15 of 30)",
                       "employees 85 is 20..5000 (+20 of 20)"]
    assert [c["points"] for c in scored["criteria"]] == ["30", "20", "15", "20"]
    # the same reasons as stable codes with params, for a portal to word in its own language
    assert [(c["reason_code"], c["reason_params"]) for c in scored["criteria"]] == [
        ("value_in", {"field": "type", "value": "mssp", "wanted": ["msp", "mssp"],
                      "points": "30", "weight": 30}),
        ("value_in", {"field": "country", "value": "GB", "wanted": ["GB", "IE", "DE"],
                      "points": "20", "weight": 20}),
        ("list_has_some", {"field": "specialisations", "found": ["cloud security"],
                           "wanted": ["cloud security", "soc"], "points": "15", "weight": 30}),
        ("range_inside", {"field": "employees", "value": 85, "minimum": 20, "maximum": 5000,
                          "points": "20", "weight": 20})]
    event = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k"), {"k": receipt["id"]})).scalar_one()
    assert event["type"] == "prm.partner_application.submitted.v1"
    assert event["data"]["fit_score"] == 85


async def test_a_second_application_for_a_domain_under_review_is_refused(client, as_vendor):
    intake = as_vendor(INTAKE)
    assert (await client.post("/v1/partner-applications", json=APPLICATION,
                              headers=intake)).status_code == 201
    again = await client.post("/v1/partner-applications", json=APPLICATION, headers=intake)
    assert again.status_code == 409 and again.json()["type"] == "/problems/conflict"


async def test_approval_creates_the_partner_in_onboarding(client, as_vendor):
    intake, reviewer = as_vendor(INTAKE), as_vendor(REVIEWER)
    application = (await client.post("/v1/partner-applications", json=APPLICATION,
                                     headers=intake)).json()
    url = f"/v1/partner-applications/{application['id']}"
    approved = await client.post(f"{url}/approve", headers=reviewer,
                                 json={"reason": "strong UK fit"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    partner = (await client.get(f"/v1/partners/{approved.json()['partner_id']}",
                                headers=reviewer)).json()
    assert (partner["name"], partner["type"], partner["status"]) == \
        ("Northwind Security Ltd", "mssp", "onboarding")
    assert partner["specialisations"] == ["cloud security"]
    twice = await client.post(f"{url}/decline", headers=reviewer, json={"reason": "x"})
    assert twice.status_code == 409 and twice.json()["current_status"] == "approved"
    decided = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = "
        "'prm.partner_application.decided.v1'"), {"k": application["id"]})).scalar_one()
    assert decided["data"]["partner_id"] == partner["id"]


async def test_decline_needs_a_reason(client, as_vendor):
    intake, reviewer = as_vendor(INTAKE), as_vendor(REVIEWER)
    application = (await client.post("/v1/partner-applications", json=APPLICATION,
                                     headers=intake)).json()
    url = f"/v1/partner-applications/{application['id']}"
    bare = await client.post(f"{url}/decline", headers=reviewer)
    assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "reason"
    declined = await client.post(f"{url}/decline", headers=reviewer,
                                 json={"reason": "outside our regions"})
    assert declined.json()["status"] == "declined"
    assert declined.json()["partner_id"] is None
    listed = (await client.get("/v1/partner-applications?status=declined",
                               headers=reviewer)).json()["items"]
    assert [a["id"] for a in listed] == [application["id"]]


async def test_the_intake_key_cannot_review_or_read(client, as_vendor):
    intake = as_vendor(INTAKE)
    application = (await client.post("/v1/partner-applications", json=APPLICATION,
                                     headers=intake)).json()
    url = f"/v1/partner-applications/{application['id']}"
    assert (await client.get(url, headers=intake)).status_code == 403
    assert (await client.get("/v1/partner-applications", headers=intake)).status_code == 403
    assert (await client.post(f"{url}/approve", headers=intake)).status_code == 403
    assert (await client.get("/v1/ideal-partner-profile", headers=intake)).status_code == 403


async def test_the_intake_key_is_rate_limited(client, as_vendor, app):
    intake = as_vendor(INTAKE, subject="key-intake-limited")
    limit = app.state.settings.intake_per_minute
    answers = []
    for i in range(limit + 1):
        answers.append(await client.post("/v1/partner-applications", headers=intake, json={
            **APPLICATION, "website_domain": f"prospect-{i}.example"}))
    assert [a.status_code for a in answers[:limit]] == [201] * limit
    assert answers[-1].status_code == 429
    assert answers[-1].json()["type"] == "/problems/rate-limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_bad_applications_are_problems(client, as_vendor):
    intake = as_vendor(INTAKE)
    bad = await client.post("/v1/partner-applications", headers=intake, json={
        **APPLICATION, "country": "XX", "type": "shop", "employees": -1,
        "contact": {"name": "P", "email": "not-an-address"},
        "specialisations": ["x" * 61]})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"country", "type", "employees", "contact.email", "specialisations[0]"} <= fields
    huge = await client.post("/v1/partner-applications", headers=intake, json={
        **APPLICATION, "message": "x" * 4001})
    assert huge.status_code == 422


async def test_bad_profiles_are_problems(client, vendor):
    for criterion in ({"field": "type", "weight": 10},  # no values
                      {"field": "employees", "weight": 10, "values": ["x"]},
                      {"field": "employees", "weight": 10, "minimum": 9, "maximum": 1},
                      {"field": "revenue", "weight": 10, "values": ["x"]},
                      {"field": "type", "weight": 0, "values": ["msp"]},
                      {"field": "type", "weight": 1.5, "values": ["msp"]}):
        answer = await client.put("/v1/ideal-partner-profile", headers=vendor,
                                  json={"criteria": [criterion]})
        assert answer.status_code == 422, criterion


criteria = st.lists(st.builds(
    fit.Criterion, field=st.sampled_from(["type", "specialisations", "employees"]),
    weight=st.integers(1, 100), values=st.lists(st.sampled_from(["msp", "soc", "iot"]),
                                                min_size=1, max_size=3),
    match=st.sampled_from(["any", "all"]), minimum=st.just(10), maximum=st.none()),
    max_size=8)
applications = st.fixed_dictionaries({
    "type": st.sampled_from(["msp", "isv"]),
    "specialisations": st.lists(st.sampled_from(["soc", "iot", "sap"]), max_size=3),
    "employees": st.none() | st.integers(1, 100)})


@given(criteria, applications)
def test_the_score_is_the_weighted_share_of_points(profile, application):
    score, scored = fit.score(profile, application)
    assert 0 <= score <= 100
    assert all(0 <= s.points <= s.weight for s in scored)
    total = sum(c.weight for c in profile)
    if total:
        exact = sum((s.points for s in scored), Fraction(0)) * 100 / total
        assert abs(score - exact) <= Fraction(1, 2)
    else:
        assert score == 0
    assert fit.score(profile, application)[0] == score  # the same inputs, the same score
    # every reason has a documented code with exactly its params
    for s in scored:
        assert set(s.params) == {"field", "points", "weight", *fit.REASON_CODES[s.code]}
        assert s.reason.endswith(f"(+{s.params['points']} of {s.weight})")


def test_the_schema_lists_every_reason_code():
    from prm_partners.applications.schemas import FitReasonCode
    assert {code.value for code in FitReasonCode} == set(fit.REASON_CODES)
