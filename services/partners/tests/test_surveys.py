"""Partner satisfaction surveys: answers through the API (own org only, scales per kind, the
survey tool's id updating an answer), the signed intake, NPS and PSAT arithmetic, erasure of
the comments with their contact, and the event that carries no comment."""

import datetime as dt
import json
import time
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text

from prm_partners.surveys.service import nps_of, psat_of
from prm_platform.signatures import SIGNATURE_TOLERANCE, signature

SECRET = "whsec-test-0193c1"
ANSWERED = "prm.partner.survey_answered.v1"


async def new_partner(client, vendor, name="Northwind Ltd"):
    created = await client.post("/v1/partners", json={
        "name": name, "type": "reseller", "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def answer(client, headers, status=201, **body):
    response = await client.post("/v1/survey-responses", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def events(client, partner_id):
    return [e["data"] for (e,) in await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE event_type = :t "
        "AND envelope->'data'->>'partner_id' = :p ORDER BY seq"),
        {"t": ANSWERED, "p": partner_id})]


# Answers through the API


async def test_a_partner_records_and_reads_its_own_orgs_answers(client, vendor, as_partner):
    a, b = await new_partner(client, vendor, "A"), await new_partner(client, vendor, "B")
    key_a = as_partner(a)
    mine = await answer(client, key_a, kind="psat", score=4, comment="Good portal")
    assert mine["partner_id"] == a and mine["answered_at"] and mine["version"] == 1
    assert (await client.post("/v1/survey-responses", json={
        "partner_id": b, "kind": "psat", "score": 1}, headers=key_a)).status_code == 404
    theirs = await answer(client, vendor, partner_id=b, kind="nps", score=3)

    got = await client.get(f"/v1/survey-responses/{mine['id']}", headers=key_a)
    assert got.status_code == 200 and got.json() == mine and got.headers["etag"] == '"1"'
    assert (await client.get(f"/v1/survey-responses/{theirs['id']}", headers=key_a)
            ).status_code == 404
    listed = (await client.get("/v1/survey-responses", headers=key_a)).json()["items"]
    assert [r["id"] for r in listed] == [mine["id"]]

    seen = (await client.get(f"/v1/survey-responses?partner_id={a},{b}&kind=nps",
                             headers=vendor)).json()["items"]
    assert [r["id"] for r in seen] == [theirs["id"]]
    later = (await client.get("/v1/survey-responses?answered_at[gte]=2999-01-01T00:00:00Z",
                              headers=vendor)).json()["items"]
    assert later == []


@pytest.mark.parametrize(("kind", "score"), [
    ("psat", 0), ("psat", 6), ("nps", -1), ("nps", 11), ("psat", "5"), ("nps", True),
    ("nps", 9.0), ("csat", 3)])
async def test_each_kind_has_its_scale_and_scores_are_integers(client, vendor, kind, score):
    partner = await new_partner(client, vendor)
    refused = await client.post("/v1/survey-responses", json={
        "partner_id": partner, "kind": kind, "score": score}, headers=vendor)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/validation-error"


async def test_scale_ends_are_accepted(client, vendor):
    partner = await new_partner(client, vendor)
    for kind, score in (("psat", 1), ("psat", 5), ("nps", 0), ("nps", 10)):
        await answer(client, vendor, partner_id=partner, kind=kind, score=score)


async def test_bad_answers_are_problems(client, vendor, as_partner):
    partner, other = await new_partner(client, vendor), await new_partner(client, vendor, "B")
    theirs = await client.post(f"/v1/partners/{other}/contacts", json={
        "name": "Olu", "email": "olu@b.example"}, headers=vendor)
    erased = await client.post(f"/v1/partners/{partner}/contacts", json={
        "name": "Eve", "email": "eve@a.example"}, headers=vendor)
    assert (await client.post(f"/v1/partners/{partner}/contacts/{erased.json()['id']}/erase",
                              headers=vendor)).status_code == 200
    base = {"partner_id": partner, "kind": "nps", "score": 8}
    for body in ({**base, "contact_id": theirs.json()["id"]},
                 {**base, "contact_id": erased.json()["id"]},
                 {**base, "comment": "x" * 2001},
                 {**base, "answered_at": "2999-01-01T00:00:00Z"},
                 {**base, "answered_at": "2026-11-23T10:00:00"},
                 {**base, "answered_at": 1795435200},
                 {**base, "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"},
                 {"kind": "nps", "score": 8}):  # a vendor key names the partner
        refused = await client.post("/v1/survey-responses", json=body, headers=vendor)
        assert refused.status_code == 422, (body, refused.text)
    await answer(client, vendor, **base, comment="x" * 2000)


async def test_the_survey_tools_id_updates_the_answer(client, vendor):
    partner = await new_partner(client, vendor)
    first = await answer(client, vendor, partner_id=partner, kind="nps", score=6,
                         external_id="resp-1")
    rescored = await answer(client, vendor, 200, partner_id=partner, kind="nps", score=9,
                            comment="Better now", external_id="resp-1")
    assert rescored["id"] == first["id"] and rescored["version"] == 2
    assert (rescored["score"], rescored["comment"]) == (9, "Better now")
    same = await answer(client, vendor, 200, partner_id=partner, kind="nps", score=9,
                        comment="Better now", external_id="resp-1")
    assert same == rescored
    commented = await answer(client, vendor, 200, partner_id=partner, kind="nps", score=9,
                             comment="Much better", external_id="resp-1")
    assert commented["version"] == 3
    # the answer and its new score were announced; the same answer again and a new comment not
    assert [(e["response_id"], e["score"]) for e in await events(client, partner)] == [
        (first["id"], 6), (first["id"], 9)]
    other_kind = await client.post("/v1/survey-responses", json={
        "partner_id": partner, "kind": "psat", "score": 3, "external_id": "resp-1"},
        headers=vendor)
    assert other_kind.status_code == 409
    listed = (await client.get(f"/v1/survey-responses?partner_id={partner}",
                               headers=vendor)).json()["items"]
    assert len(listed) == 1


async def test_the_event_carries_no_comment_nor_contact(client, vendor):
    partner = await new_partner(client, vendor)
    contact = (await client.post(f"/v1/partners/{partner}/contacts", json={
        "name": "Priya Raman", "email": "priya@a.example"}, headers=vendor)).json()
    given_answer = await answer(client, vendor, partner_id=partner, contact_id=contact["id"],
                                kind="psat", score=2, comment="Priya says: slow payouts",
                                answered_at="2026-11-23T10:00:00Z")
    (event,) = await events(client, partner)
    assert event == {"partner_id": partner, "response_id": given_answer["id"], "kind": "psat",
                     "score": 2, "answered_at": "2026-11-23T10:00:00Z"}
    assert "slow payouts" not in json.dumps(event) and contact["id"] not in json.dumps(event)


# The signed intake


@pytest.fixture
def survey_secret(app):
    """The app as configured with the survey tool's secret, for the test."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"survey_secret": SecretStr(SECRET)})
    yield
    app.state.settings = settings


@pytest.fixture
def intake_key(as_vendor):
    return as_vendor(["survey_intake:write"], "key-survey-tool")


def signed(body: dict, *, at: int | None = None, secret: str = SECRET) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    at = int(time.time()) if at is None else at
    return raw, {"Content-Type": "application/json",
                 "Survey-Signature": f"t={at},v1={signature(secret.encode(), at, raw)}"}


async def deliver(client, key, raw, headers):
    return await client.post("/v1/survey-intake", content=raw, headers={**key, **headers})


async def test_a_signed_delivery_is_recorded_and_its_replay_changes_nothing(
        client, vendor, intake_key, survey_secret):
    partner = await new_partner(client, vendor)
    body = {"partner_id": partner, "kind": "nps", "score": 10, "comment": "Great",
            "external_id": "tf-1", "answered_at": "2026-11-23T10:00:00Z"}
    raw, headers = signed(body)
    first = await deliver(client, intake_key, raw, headers)
    assert first.status_code == 201, first.text
    again = await deliver(client, intake_key, raw, headers)
    assert again.status_code == 200 and again.json() == first.json()
    resent = await deliver(client, intake_key, *signed(body, at=int(time.time()) - 60))
    assert resent.status_code == 200 and resent.json()["version"] == 1
    assert len(await events(client, partner)) == 1
    # the tool re-sends with a new score: updated, announced
    changed = await deliver(client, intake_key, *signed({**body, "score": 6}))
    assert changed.status_code == 200 and changed.json()["score"] == 6
    assert [e["score"] for e in await events(client, partner)] == [10, 6]


async def test_forged_stale_and_unsigned_deliveries_are_refused(
        client, vendor, intake_key, survey_secret):
    partner = await new_partner(client, vendor)
    body = {"partner_id": partner, "kind": "psat", "score": 5, "external_id": "tf-2"}
    raw, headers = signed(body)
    now = int(time.time())
    tampered = raw.replace(b'"score": 5', b'"score": 1')
    attempts = {
        "tampered body": (tampered, headers),
        "other secret": signed(body, secret="not-the-secret"),
        # A minute past the tolerance either way: the server reads its clock a little
        # later than here, and a slow run must not bring a future one within it.
        "stale": signed(body, at=now - SIGNATURE_TOLERANCE - 60),
        "future": signed(body, at=now + SIGNATURE_TOLERANCE + 60),
        "unsigned": (raw, {"Content-Type": "application/json"}),
        "garbled": (raw, {"Content-Type": "application/json", "Survey-Signature": "v1=zz"}),
    }
    for name, (content, sent) in attempts.items():
        refused = await deliver(client, intake_key, content, sent)
        assert refused.status_code == 403, (name, refused.text)
        assert refused.json()["type"] == "/problems/invalid-signature", name
    # a forged body that is not even an answer is refused for its signature first
    assert (await deliver(client, intake_key, b'{"nonsense": 1}', headers)).status_code == 403
    assert (await client.connection.execute(text(
        "SELECT count(*) FROM survey_responses WHERE partner_id = :p"), {"p": partner})
    ).scalar_one() == 0
    # signed but no survey tool's id: not an intake answer
    no_id = await deliver(client, intake_key, *signed({**body, "external_id": None}))
    assert no_id.status_code == 422


async def test_the_intake_needs_its_scope(client, vendor, as_vendor, survey_secret):
    partner = await new_partner(client, vendor)
    raw, headers = signed({"partner_id": partner, "kind": "nps", "score": 9,
                           "external_id": "tf-3"})
    writer = as_vendor(["partners:write", "partners:read"], "key-writer")
    refused = await deliver(client, writer, raw, headers)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"


async def test_without_a_secret_every_delivery_is_refused(client, vendor, intake_key):
    partner = await new_partner(client, vendor)
    raw, headers = signed({"partner_id": partner, "kind": "nps", "score": 9,
                           "external_id": "tf-4"})
    refused = await deliver(client, intake_key, raw, headers)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/survey-intake-not-configured"


# NPS and PSAT


async def _scores(client, vendor, partner, kind, scores, at="2026-11-10T12:00:00Z"):
    for score in scores:
        await answer(client, vendor, partner_id=partner, kind=kind, score=score,
                     answered_at=at)


async def satisfaction(client, headers, partner, query="?from=2026-11-01&to=2026-12-01"):
    response = await client.get(f"/v1/partners/{partner}/satisfaction{query}",
                                headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_nps_and_psat_against_hand_computed_values(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    # 4 promoters, 2 passives, 1 detractor of 7: (4 - 1) / 7 = 42.857...% -> 42.9
    await _scores(client, vendor, partner, "nps", [10, 10, 9, 9, 8, 7, 3])
    # mean 20 / 6 = 3.333... -> 3.33; 4 of 6 satisfied = 66.666...% -> 66.7
    await _scores(client, vendor, partner, "psat", [5, 4, 4, 4, 2, 1])
    # outside [from, to): the day before, and the first instant of `to`
    await _scores(client, vendor, partner, "nps", [0], at="2026-10-31T23:59:59Z")
    await _scores(client, vendor, partner, "nps", [0], at="2026-12-01T00:00:00Z")
    got = await satisfaction(client, as_partner(partner), partner)
    assert got["from_date"] == "2026-11-01" and got["to_date"] == "2026-12-01"
    assert got["nps"] == {"responses": 7, "promoters": 4, "passives": 2, "detractors": 1,
                          "nps": "42.9", "low_sample": True}
    assert got["psat"] == {"responses": 6, "mean": "3.33", "satisfied": 4,
                           "satisfied_percent": "66.7", "low_sample": True}


async def test_thirty_answers_are_no_longer_a_low_sample(client, vendor):
    partner = await new_partner(client, vendor)
    # 10 promoters, 5 passives, 15 detractors of 30: (10 - 15) / 30 = -16.666...% -> -16.7
    await _scores(client, vendor, partner, "nps", [10] * 10 + [7] * 5 + [6] * 15)
    got = await satisfaction(client, vendor, partner)
    assert got["nps"] == {"responses": 30, "promoters": 10, "passives": 5, "detractors": 15,
                          "nps": "-16.7", "low_sample": False}
    assert got["psat"] == {"responses": 0, "mean": None, "satisfied": 0,
                           "satisfied_percent": None, "low_sample": True}


async def test_the_default_period_is_the_last_90_days(client, vendor):
    partner = await new_partner(client, vendor)
    now = dt.datetime.now(dt.UTC)
    await _scores(client, vendor, partner, "nps", [10], at=now.isoformat())
    await _scores(client, vendor, partner, "nps", [0],
                  at=(now - dt.timedelta(days=91)).isoformat())
    got = await satisfaction(client, vendor, partner, "")
    assert got["nps"]["responses"] == 1 and got["nps"]["nps"] == "100.0"
    assert got["to_date"] == (now.date() + dt.timedelta(days=1)).isoformat()
    since = await satisfaction(client, vendor, partner, "?from=2026-11-01")
    assert (since["from_date"], since["to_date"]) == ("2026-11-01", "2027-01-30")
    empty = await client.get(f"/v1/partners/{partner}/satisfaction?from=2026-11-02"
                             "&to=2026-11-01", headers=vendor)
    assert empty.status_code == 422
    assert (await client.get("/v1/partners/0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f/satisfaction",
                             headers=vendor)).status_code == 404


def test_exact_halves_round_away_from_zero_and_zero_has_no_sign():
    # 1 promoter of 8: 12.5% -> one decimal is exact; 1 of 16: 6.25 -> 6.3; -6.25 -> -6.3
    assert nps_of({10: 1, 8: 7}).nps == "12.5"
    assert nps_of({10: 1, 8: 15}).nps == "6.3"
    assert nps_of({0: 1, 8: 15}).nps == "-6.3"
    assert nps_of({10: 1, 0: 1}).nps == "0.0"
    assert nps_of({0: 1, 8: 3000}).nps == "0.0"  # -0.033...%, not "-0.0"
    assert nps_of({}).nps is None and nps_of({}).low_sample
    assert psat_of({5: 1, 4: 2}).mean == "4.33"


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=500))
def test_nps_is_within_bounds_and_is_the_definition(scores):
    counts: dict[int, int] = {}
    for score in scores:
        counts[score] = counts.get(score, 0) + 1
    result = nps_of(counts)
    exact = Fraction(100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)),
                     len(scores))
    assert -100 <= Fraction(result.nps) <= 100
    assert abs(Fraction(result.nps) - exact) <= Fraction(1, 20)
    assert result.responses == len(scores)
    assert result.promoters + result.passives + result.detractors == len(scores)
    assert result.low_sample == (len(scores) < 30)
    assert "." in result.nps and len(result.nps.split(".")[1]) == 1


# Erasure and export


async def test_erasing_a_contact_erases_its_survey_comments(client, vendor):
    partner = await new_partner(client, vendor)
    contact = (await client.post(f"/v1/partners/{partner}/contacts", json={
        "name": "Priya Raman", "email": "priya@a.example"}, headers=vendor)).json()
    response = await client.post("/v1/survey-responses", json={
        "partner_id": partner, "contact_id": contact["id"], "kind": "nps", "score": 4,
        "comment": "Priya: the portal is slow"}, headers={**vendor, "Idempotency-Key": "s-1"})
    assert response.status_code == 201, response.text
    given_answer = response.json()
    other = await answer(client, vendor, partner_id=partner, kind="nps", score=9,
                         comment="someone else")

    exported = await client.get(f"/v1/partners/{partner}/contacts/{contact['id']}/export",
                                headers=vendor)
    assert [(a["id"], a["comment"]) for a in exported.json()["survey_answers"]] == [
        (given_answer["id"], "Priya: the portal is slow")]

    assert (await client.post(f"/v1/partners/{partner}/contacts/{contact['id']}/erase",
                              headers=vendor)).status_code == 200
    after = (await client.get(f"/v1/survey-responses/{given_answer['id']}",
                              headers=vendor)).json()
    assert after["comment"] is None and after["score"] == 4
    assert after["contact_id"] == contact["id"]
    assert (await client.get(f"/v1/survey-responses/{other['id']}", headers=vendor)
            ).json()["comment"] == "someone else"
    # a retry of the recording replays the answer as it now stands
    replay = await client.post("/v1/survey-responses", json={
        "partner_id": partner, "contact_id": contact["id"], "kind": "nps", "score": 4,
        "comment": "Priya: the portal is slow"}, headers={**vendor, "Idempotency-Key": "s-1"})
    assert "portal is slow" not in replay.text
    trail = (await client.get(f"/v1/partners/{partner}/contacts/{contact['id']}/export",
                              headers=vendor)).json()
    assert "survey_comment" in trail["audit"][-2]["fields"]
    assert trail["survey_answers"][0]["comment"] is None
