"""BOLA cases of the surveys part (collected by test_authorisation.py): org B's key reaches
none of org A's survey answers nor its satisfaction, and the signed intake is the vendor's."""

from sqlalchemy import text

ANSWER = {"kind": "nps", "score": 9, "comment": "A's words"}


async def _answer_of_a(client, a, vendor, **extra):
    response = await client.post("/v1/survey-responses", json={
        **ANSWER, "partner_id": a[0]["id"], **extra}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def _count_of(client, partner_id) -> int:
    return (await client.connection.execute(text(
        "SELECT count(*) FROM survey_responses WHERE partner_id = :p"), {"p": partner_id})
    ).scalar_one()


async def record_survey_response(client, a, b, vendor):
    hidden = await client.post("/v1/survey-responses", json={
        **ANSWER, "partner_id": a[0]["id"], "external_id": "x-1"}, headers=b[1])
    assert hidden.status_code == 404
    assert await _count_of(client, a[0]["id"]) == 0
    # nor can B take over A's answer by the survey tool's id
    mine = await _answer_of_a(client, a, vendor, external_id="x-1")
    own = await client.post("/v1/survey-responses", json={
        **ANSWER, "score": 0, "external_id": "x-1"}, headers=b[1])
    assert own.status_code == 201 and own.json()["partner_id"] == b[0]["id"]
    got = await client.get(f"/v1/survey-responses/{mine['id']}", headers=vendor)
    assert got.json() == mine


async def list_survey_responses(client, a, b, vendor):
    await _answer_of_a(client, a, vendor)
    for query in ("", f"?partner_id={a[0]['id']}", "?kind=nps"):
        seen = await client.get(f"/v1/survey-responses{query}", headers=b[1])
        assert seen.status_code == 200 and seen.json()["items"] == [], query


async def get_survey_response(client, a, b, vendor):
    answer = await _answer_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/survey-responses/{answer['id']}", headers=b[1])
    assert hidden.status_code == 404 and "A's words" not in hidden.text


async def deliver_survey_response(client, a, b, vendor):
    # the survey tool's intake is a vendor key's, whatever a partner key holds
    refused = await client.post("/v1/survey-intake", json={
        **ANSWER, "partner_id": a[0]["id"], "external_id": "x-1"},
        headers={**b[1], "Survey-Signature": "t=0,v1=00"})
    assert refused.status_code == 403
    assert await _count_of(client, a[0]["id"]) == 0


async def get_partner_satisfaction(client, a, b, vendor):
    await _answer_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/partners/{a[0]['id']}/satisfaction", headers=b[1])
    assert hidden.status_code == 404
    own = await client.get(f"/v1/partners/{b[0]['id']}/satisfaction", headers=b[1])
    assert own.status_code == 200 and own.json()["nps"]["responses"] == 0


CASES = {
    ("POST", "/v1/survey-responses"): record_survey_response,
    ("GET", "/v1/survey-responses"): list_survey_responses,
    ("GET", "/v1/survey-responses/{response_id}"): get_survey_response,
    ("POST", "/v1/survey-intake"): deliver_survey_response,
    ("GET", "/v1/partners/{partner_id}/satisfaction"): get_partner_satisfaction,
}
