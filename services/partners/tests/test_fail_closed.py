"""A check that cannot be made fails its caller: a partner is never counted compliant, nor an
onboarding task done, because a query failed (nothing here looks a part up by name, so no
missing module can be read as "no requirement")."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from prm_partners.onboarding import service as onboarding

from .test_tiers import active_partner, make_tier, programme_eur


async def test_a_failing_compliance_query_fails_the_evaluation_and_changes_nothing(
        client, vendor):
    await programme_eur(client, vendor)
    await make_tier(client, vendor, "Registered", 0)
    await make_tier(client, vendor, "Compliant", 10, compliance_required=True)
    partner = await active_partner(client, vendor)
    url = f"/v1/partners/{partner['id']}/tier/evaluate"
    before = (await client.get(f"/v1/partners/{partner['id']}", headers=vendor)).json()["tier"]
    # The agreements the compliance check reads are gone (rolled back with the test).
    await client.connection.execute(text("ALTER TABLE agreements RENAME TO agreements_gone"))
    failed = await client.post(url, headers=vendor)
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    await client.connection.execute(text("ALTER TABLE agreements_gone RENAME TO agreements"))
    after = (await client.get(f"/v1/partners/{partner['id']}", headers=vendor)).json()["tier"]
    assert after == before != "Compliant"


async def test_a_failing_contact_count_fails_onboarding_instead_of_skipping_the_task(
        client, vendor, app):
    partner = (await client.post("/v1/partners", json={
        "name": "Counted", "type": "msp", "country": "DE"}, headers=vendor)).json()
    await client.connection.execute(text("ALTER TABLE contacts RENAME TO contacts_gone"))
    with pytest.raises(ProgrammingError):
        async with app.state.sessionmaker() as session:
            await onboarding._contact_count(session, partner["id"])
    await client.connection.execute(text("ALTER TABLE contacts_gone RENAME TO contacts"))
