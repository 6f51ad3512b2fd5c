"""The chains are tamper-evident: a verification finds any entry altered or removed (by SQL run
as a superuser, past the trail's trigger), passes an intact chain, goes on where it stopped,
and still passes after retention deleted the oldest entries and after an erasure."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from prm_audit.trail.chain import pseudonym
from prm_audit.trail.retention import TamperedTrail, purge_expired

from .conftest import T0, claim_approved, contact_changed, event, superuser


async def verify(client, vendor, **body) -> dict:
    response = await client.post("/v1/audit-verifications", headers=vendor, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def chain_of(report: dict, service: str) -> dict:
    [found] = [c for c in report["chains"] if c["service"] == service]
    return found


async def claims(consume, count: int, at: dt.datetime = T0) -> list:
    partner = uuid.uuid4()
    events = [claim_approved(uuid.uuid4(), partner, at=at + dt.timedelta(minutes=i))
              for i in range(count)]
    await consume(*events)
    return events


async def test_an_intact_chain_verifies(client, consume, vendor):
    await claims(consume, 5)
    report = await verify(client, vendor)
    incentives = chain_of(report, "incentives")
    assert incentives["status"] == "intact" and incentives["checked"] == 5
    assert (incentives["from_seq"], incentives["head_seq"]) == (1, 5)
    assert incentives["problem"] is None and report["checked"] == 5


@pytest.mark.parametrize("tampering", [
    "UPDATE audit_entries SET actor = 'key:someone-else' WHERE seq = 3",
    "UPDATE audit_entries SET data = jsonb_set(data, '{approved,amount}', '\"18000.00\"') "
    "WHERE seq = 3",
    "UPDATE audit_entries SET occurred_at = occurred_at + interval '1 day' WHERE seq = 3",
    "UPDATE audit_entries SET records = records[2:] WHERE seq = 3",
])
async def test_an_altered_entry_is_found(client, consume, engine, vendor, tampering):
    events = await claims(consume, 5)
    await superuser(engine, tampering)
    incentives = chain_of(await verify(client, vendor, service="incentives"), "incentives")
    assert incentives["status"] == "broken" and incentives["checked"] == 2
    problem = incentives["problem"]
    assert (problem["finding"], problem["seq"]) == ("altered", 3)
    async with engine.connect() as connection:
        event_id = (await connection.execute(text(
            "SELECT event_id FROM audit_entries WHERE id = :id"),
            {"id": problem["entry_id"]})).scalar_one()
    assert event_id == events[2].id


async def test_a_rewritten_hash_is_found_by_the_next_entry(client, consume, engine, vendor):
    await claims(consume, 4)
    await superuser(engine, "UPDATE audit_entries SET actor = 'key:x', "
                    "hash = sha256(hash) WHERE seq = 2")
    problem = chain_of(await verify(client, vendor), "incentives")["problem"]
    assert (problem["finding"], problem["seq"]) == ("altered", 2)


async def test_the_last_entry_rewritten_is_found_by_the_head(client, consume, engine, vendor):
    """Whoever recomputes the last entry's hash (it has no successor) still differs from the
    chain's head."""
    await claims(consume, 3)
    async with engine.connect() as connection:
        row = (await connection.execute(text(
            "SELECT * FROM audit_entries WHERE seq = 3"))).one()
    from prm_audit.trail.chain import Entry

    previous = (await _hash_of(engine, 2))
    forged = Entry.of(row)
    forged = Entry(**{**forged.__dict__, "actor": "key:forged"})
    await superuser(engine, "UPDATE audit_entries SET actor = 'key:forged', hash = :hash "
                    "WHERE seq = 3", hash=forged.chained(previous))
    problem = chain_of(await verify(client, vendor), "incentives")["problem"]
    assert (problem["finding"], problem["seq"]) == ("altered", 3)


async def _hash_of(engine, seq: int) -> bytes:
    async with engine.connect() as connection:
        return bytes((await connection.execute(text(
            "SELECT hash FROM audit_entries WHERE seq = :seq"), {"seq": seq})).scalar_one())


async def test_a_deleted_entry_is_found(client, consume, engine, vendor):
    await claims(consume, 5)
    await superuser(engine, "DELETE FROM audit_entries WHERE seq = 4")
    incentives = chain_of(await verify(client, vendor), "incentives")
    assert incentives["status"] == "broken"
    assert (incentives["problem"]["finding"], incentives["problem"]["seq"]) == ("missing", 4)


async def test_the_last_entries_deleted_are_found(client, consume, engine, vendor):
    await claims(consume, 5)
    await superuser(engine, "DELETE FROM audit_entries WHERE seq >= 4")
    problem = chain_of(await verify(client, vendor), "incentives")["problem"]
    assert (problem["finding"], problem["seq"]) == ("missing", 4)


async def test_the_trigger_refuses_changes_and_deletions(consume, engine):
    await claims(consume, 1)
    for statement in ("UPDATE audit_entries SET actor = 'key:x'", "DELETE FROM audit_entries",
                      "TRUNCATE audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    with pytest.raises(DBAPIError, match="alone may change"):
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL prm_audit.maintenance = 'on'"))
            await connection.execute(text("UPDATE audit_entries SET actor = 'key:x'"))


async def test_a_verification_goes_on_where_its_budget_ran_out(client, consume, app, vendor):
    await claims(consume, 7)
    settings = app.state.settings
    before = settings.verify_max_rows, settings.verify_chunk
    settings.verify_max_rows, settings.verify_chunk = 3, 2
    try:
        first = chain_of(await verify(client, vendor, service="incentives"), "incentives")
        assert (first["status"], first["checked"], first["next_from_seq"]) == (
            "unfinished", 3, 4)
        second = chain_of(await verify(client, vendor, service="incentives", from_seq=4),
                          "incentives")
        assert (second["status"], second["from_seq"], second["checked"]) == (
            "unfinished", 4, 3)
        last = chain_of(await verify(client, vendor, service="incentives", from_seq=7),
                        "incentives")
        assert (last["status"], last["checked"], last["next_from_seq"]) == ("intact", 1, None)
    finally:
        settings.verify_max_rows, settings.verify_chunk = before


async def test_verification_input_is_checked(client, vendor):
    for body, status in (({"from_seq": 3}, 422), ({"service": "incentives", "from_seq": 0}, 422),
                         ({"service": "incentives", "from_seq": 2**64}, 422),
                         ({"service": "incentives", "from_seq": "3"}, 422),
                         ({"service": "Nope!"}, 422), ({"service": "nowhere"}, 404),
                         ({"service": "incentives", "extra": 1}, 422)):
        response = await client.post("/v1/audit-verifications", headers=vendor, json=body)
        assert response.status_code == status, (body, response.text)


async def test_retention_deletes_the_oldest_and_the_chain_still_verifies(
        client, consume, sessionmaker, engine, vendor):
    old = await claims(consume, 3, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    await claims(consume, 2, at=dt.datetime.now(dt.UTC))
    async with sessionmaker() as session:
        assert await purge_expired(session, older_than_days=30, batch=2) == 2
        await session.commit()
    async with sessionmaker() as session:
        assert await purge_expired(session, older_than_days=30) == 1
        assert await purge_expired(session, older_than_days=30) == 0
        await session.commit()
    incentives = chain_of(await verify(client, vendor), "incentives")
    assert incentives["status"] == "intact"
    assert (incentives["anchor_seq"], incentives["from_seq"], incentives["checked"]) == (3, 4, 2)
    async with engine.connect() as connection:
        kept = set((await connection.execute(text("SELECT event_id FROM audit_entries"))
                    ).scalars())
    assert not kept & {e.id for e in old}
    # What retention deleted is not taken for a gap; one deleted since is.
    await superuser(engine, "DELETE FROM audit_entries WHERE seq = 4")
    assert chain_of(await verify(client, vendor), "incentives")["problem"]["finding"] == "missing"


async def test_retention_never_deletes_a_tampered_stretch(consume, sessionmaker, engine):
    await claims(consume, 3, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    await superuser(engine, "UPDATE audit_entries SET actor = 'key:x' WHERE seq = 2")
    async with sessionmaker() as session:
        with pytest.raises(TamperedTrail, match="broken at entry 2"):
            await purge_expired(session, older_than_days=30)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM audit_entries"))
                ).scalar_one() == 3


async def test_erasure_pseudonymises_the_contact_and_the_chain_still_verifies(
        client, consume, engine, vendor):
    partner, contact, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await consume(contact_changed(partner, contact, 1, name="Jana Nováková",
                                  email="jana@example.com"),
                  contact_changed(partner, other, 1, name="Ola Nordmann",
                                  email="ola@example.com"))
    await consume(contact_changed(partner, contact, 2, name="Jana Svobodová",
                                  email="jana.s@example.com"),
                  contact_changed(partner, contact, 3, removed=True))
    report = chain_of(await verify(client, vendor), "partners")
    assert report["status"] == "intact" and report["checked"] == 4
    listed = (await client.get("/v1/audit-entries", headers=vendor,
                               params={"record": str(partner)})).json()["items"]
    alias = pseudonym(str(contact))
    about = [e for e in listed if e["data"]["contact_id"] == str(contact)]
    assert [(e["data"]["name"], e["data"]["email"]) for e in about] == [
        (alias, alias), (alias, alias), (None, None)]
    assert about[0]["erased_by"] == about[2]["event_id"] == about[1]["erased_by"]
    assert about[0]["data"]["version"] == 1 and about[0]["actor"].startswith("key:")
    assert "Jana" not in str(listed) and "jana" not in str(listed)
    [kept] = [e for e in listed if e["data"]["contact_id"] == str(other)]
    assert kept["data"]["name"] == "Ola Nordmann" and kept["erased_by"] is None

    # An erased entry's facts are still covered, and personal data may only become the
    # pseudonym, and only where an erasure accounts for it.
    first = about[0]["seq"]
    await superuser(engine, "UPDATE audit_entries SET data = jsonb_set(data, '{version}', '7') "
                    "WHERE service = 'partners' AND seq = :seq", seq=first)
    problem = chain_of(await verify(client, vendor), "partners")["problem"]
    assert (problem["finding"], problem["seq"]) == ("altered", first)


async def test_erasure_pseudonymises_the_contacts_survey_invitations(client, consume, vendor):
    from prm_contracts import PartnerSurveyRequestedV1

    partner, contact = uuid.uuid4(), uuid.uuid4()
    invited = PartnerSurveyRequestedV1(
        invitation_id=uuid.uuid4(), campaign_id=uuid.uuid4(), partner_id=partner,
        contact_id=contact, kind="nps", email="jana@example.com", trigger="schedule",
        requested_at=T0)
    await consume(event(invited.event_type, invited.model_dump(mode="json"),
                        subject=partner, partner_id=partner))
    await consume(contact_changed(partner, contact, 2, removed=True))
    assert chain_of(await verify(client, vendor), "partners")["status"] == "intact"
    listed = (await client.get("/v1/audit-entries", headers=vendor,
                               params={"record": str(partner)})).json()["items"]
    [entry] = [e for e in listed if e["type"] == invited.event_type]
    assert entry["data"]["email"] == pseudonym(str(contact)) and entry["erased_by"]
    assert entry["data"]["kind"] == "nps" and "jana" not in str(listed)


async def test_personal_data_replaced_without_an_erasure_is_found(client, consume, engine,
                                                                 vendor):
    partner, contact = uuid.uuid4(), uuid.uuid4()
    changed = contact_changed(partner, contact, 1, name="Jana Nováková", email="j@example.com")
    await consume(changed, claim_approved(uuid.uuid4(), partner))
    await superuser(engine, "UPDATE audit_entries SET data = jsonb_set(data, '{name}', "
                    "'\"Someone Else\"'), erased_by = :forged WHERE event_id = :id",
                    forged=uuid.uuid4(), id=changed.id)
    problem = chain_of(await verify(client, vendor), "partners")["problem"]
    assert (problem["finding"], problem["seq"]) == ("unexplained_erasure", 1)


def test_pseudonyms_are_stable_per_contact():
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert pseudonym(a) == pseudonym(a) != pseudonym(b)
    assert pseudonym(a).startswith("erased-") and a not in pseudonym(a)


async def test_concurrent_writers_keep_one_gapless_chain(client, consume, sessionmaker, vendor):
    """Two workers recording events of one service at once: the chain's head serialises them."""
    import asyncio

    from .conftest import worker_consumer

    partner = uuid.uuid4()
    batches = [[claim_approved(uuid.uuid4(), partner) for _ in range(20)] for _ in range(4)]
    consumers = [worker_consumer(sessionmaker) for _ in batches]
    await asyncio.gather(*(c.apply_batch(b) for c, b in zip(consumers, batches, strict=True)))
    incentives = chain_of(await verify(client, vendor), "incentives")
    assert (incentives["status"], incentives["checked"], incentives["head_seq"]) == (
        "intact", 80, 80)
