"""Authorisation cases of the applications routes: the programme's intake and review are the
vendor's; no partner key reads, submits or decides them."""

from sqlalchemy import text

APPLICATION = {"company_name": "Prospect Ltd", "type": "reseller", "country": "GB",
               "contact": {"name": "Sam Lee", "email": "sam@prospect.example"}}


async def _application(client, vendor) -> str:
    answer = await client.post("/v1/partner-applications", json=APPLICATION, headers=vendor)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def submit(client, a, b, vendor):
    refused = await client.post("/v1/partner-applications", json=APPLICATION, headers=b[1])
    assert refused.status_code == 403


async def list_applications(client, a, b, vendor):
    await _application(client, vendor)
    assert (await client.get("/v1/partner-applications", headers=b[1])).status_code == 403


async def get_application(client, a, b, vendor):
    found = await _application(client, vendor)
    answer = await client.get(f"/v1/partner-applications/{found}", headers=b[1])
    assert answer.status_code == 403


def decision_case(action):
    async def case(client, a, b, vendor):
        found = await _application(client, vendor)
        answer = await client.post(f"/v1/partner-applications/{found}/{action}",
                                   headers=b[1], json={"reason": "mine now"})
        assert answer.status_code == 403
        status = (await client.connection.execute(text(
            "SELECT status FROM partner_applications WHERE id = :id"), {"id": found})
        ).scalar_one()
        assert status == "submitted"
    return case


async def get_profile(client, a, b, vendor):
    assert (await client.get("/v1/ideal-partner-profile", headers=b[1])).status_code == 403


async def set_profile(client, a, b, vendor):
    answer = await client.put("/v1/ideal-partner-profile", headers=b[1], json={"criteria": []})
    assert answer.status_code == 403


CASES = {
    ("POST", "/v1/partner-applications"): submit,
    ("GET", "/v1/partner-applications"): list_applications,
    ("GET", "/v1/partner-applications/{application_id}"): get_application,
    ("POST", "/v1/partner-applications/{application_id}/approve"): decision_case("approve"),
    ("POST", "/v1/partner-applications/{application_id}/decline"): decision_case("decline"),
    ("GET", "/v1/ideal-partner-profile"): get_profile,
    ("PUT", "/v1/ideal-partner-profile"): set_profile,
}
