"""Leads under replicas, with real commits: offers left unanswered are recycled by the
scheduler exactly once, on a clock the test controls, however many replicas run the job; and
replicas routing at once never give a lead twice nor a partner more than its cap."""

import asyncio
import datetime as dt
import functools
import random
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from prm_contracts import PartnerCreatedV1, PartnerSnapshot
from prm_deals.config import SCHEMA
from prm_deals.directory.handlers import HANDLERS
from prm_deals.leads import routing, rules, service
from prm_deals.leads.fairness import Member, order
from prm_deals.leads.schemas import LeadIn, LeadRoutingRuleIn
from prm_events.envelope import new_event
from prm_platform.db import make_engine
from prm_platform.scheduler import Job, run_due
from prm_platform.security import Principal, PrincipalKind

STAFF = Principal(subject="key-staff", kind=PrincipalKind.vendor,
                  scopes=frozenset({"leads:read", "leads:write"}))
T0 = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def replicas(prm_infra, app):
    """Two replicas' sessionmakers (an engine each), and the product code that keeps this
    test's rule and leads apart from every other test's; everything committed is removed
    after."""
    engines = [make_engine(prm_infra.database_url, SCHEMA, pool_size=12) for _ in range(2)]
    product = f"P-{uuid.uuid4().hex[:10]}"
    made: dict[str, list] = {"partners": [], "rules": []}
    try:
        yield [async_sessionmaker(e, expire_on_commit=False) for e in engines], product, made
    finally:
        async with engines[0].begin() as connection:
            leads = (await connection.execute(text(
                "DELETE FROM leads WHERE product = :p RETURNING id"), {"p": product})).scalars()
            keys = [str(i) for i in leads]
            await connection.execute(text("DELETE FROM outbox WHERE key = ANY(:k)"),
                                     {"k": keys + [str(p) for p in made["partners"]]})
            await connection.execute(text(
                "DELETE FROM lead_pools WHERE rule_id = ANY(:r)"), {"r": made["rules"]})
            for table, column in (("lead_routing_rules", "id"),
                                  ("lead_routing_rule_versions", "rule_id")):
                await connection.execute(text(f"DELETE FROM {table} WHERE {column} = ANY(:r)"),
                                         {"r": made["rules"]})
            for table in ("lead_partner_settings", "partner_directory"):
                await connection.execute(text(
                    f"DELETE FROM {table} WHERE partner_id = ANY(:p)"), {"p": made["partners"]})
            await connection.execute(text(
                "DELETE FROM scheduled_jobs WHERE name LIKE 'recycle-leads-%'"))
        for engine in engines:
            await engine.dispose()


async def _setup(sessionmaker, product, made, partners: int, **rule):
    async with sessionmaker() as session:
        for i in range(partners):
            partner_id = uuid.uuid4()
            snapshot = PartnerSnapshot(id=partner_id, name=f"Replica Partner {i}",
                                       type="reseller", country="NL", status="active",
                                       version=1)
            await HANDLERS[PartnerCreatedV1.event_type](session, new_event(
                PartnerCreatedV1(partner=snapshot), source="/prm/partners",
                subject=str(partner_id), partner_id=partner_id))
            made["partners"].append(partner_id)
        row = await rules.create(session, STAFF, LeadRoutingRuleIn.model_validate(
            {"name": f"Only {product}", "position": 0, "conditions": {"products": [product]},
             **rule}))
        made["rules"].append(row.id)
        await session.commit()


def _lead(product: str, i: int) -> LeadIn:
    return LeadIn.model_validate({"company": {
        "name": f"Replica Customer {i} {product}", "domain": f"c{i}-{product.lower()}.example",
        "country": "NL"}, "product": product})


async def _submit(sessionmaker, product, i, clock=None):
    async with sessionmaker() as session:
        row, _ = await service.submit(session, STAFF, _lead(product, i), intake=False,
                                      clock=clock)
        await session.commit()
        return row


async def test_unanswered_offers_are_recycled_once_on_the_tests_clock(replicas):
    (first, second), product, made = replicas
    await _setup(first, product, made, 2, respond_within_hours=4)
    leads = [await _submit(first, product, i, clock=T0) for i in range(6)]
    assert all(lead.respond_by == T0 + dt.timedelta(hours=4) for lead in leads)
    name = f"recycle-leads-{uuid.uuid4().hex[:8]}"

    def job(clock):
        return Job(name, dt.timedelta(seconds=0), functools.partial(
            service.recycle_overdue, clock=clock), batch=200)

    # Before the answer-by time nothing moves.
    assert await run_due(first, job(T0 + dt.timedelta(hours=3))) == 0
    # After it, two replicas run the job at once, and the job body itself twice more at once
    # (as if the scheduler's own lock failed): each lapse is recycled once.
    late = T0 + dt.timedelta(hours=5)

    async def body(sessionmaker):
        async with sessionmaker() as session:
            done = await service.recycle_overdue(session, clock=late)
            await session.commit()
            return done

    results = await asyncio.gather(run_due(first, job(late)), run_due(second, job(late)),
                                   body(first), body(second))
    assert sum(r or 0 for r in results) == 6, results
    async with first() as session:
        events = (await session.execute(text(
            "SELECT key, count(*) FROM outbox WHERE event_type = 'prm.lead.recycled.v1' "
            "AND key = ANY(:k) GROUP BY key"), {"k": [str(x.id) for x in leads]})).all()
        assert sorted(n for _, n in events) == [1] * 6
        now = (await session.execute(text(
            "SELECT id, status, partner_id, respond_by FROM leads WHERE product = :p"),
            {"p": product})).all()
    before = {x.id: x.partner_id for x in leads}
    for lead in now:
        # Offered to the other partner, with a new answer-by time from the job's clock.
        assert lead.status == "offered" and lead.partner_id != before[lead.id]
        assert lead.respond_by == late + dt.timedelta(hours=4)
    # Once more after that: both partners let it lapse, the vendor's queue takes each.
    assert await body(second) == 0
    later = late + dt.timedelta(hours=5)
    async with second() as session:
        assert await service.recycle_overdue(session, clock=later) == 6
        await session.commit()
        statuses = (await session.execute(text(
            "SELECT status, queue_reason FROM leads WHERE product = :p"), {"p": product})).all()
    assert set(statuses) == {("queued", "no_candidate")}


async def test_replicas_routing_at_once_give_each_lead_once_and_keep_every_cap(replicas):
    (first, second), product, made = replicas
    await _setup(first, product, made, 3, capacity={"max_open": 5})
    rows = await asyncio.gather(*(_submit((first, second)[i % 2], product, i)
                                  for i in range(24)))
    offered = [r for r in rows if r.status == "offered"]
    assert len(offered) == 15 and sum(r.status == "queued" for r in rows) == 9
    async with first() as session:
        pending = (await session.execute(text(
            "SELECT a.lead_id, count(*) FROM lead_assignments a JOIN leads l ON l.id = a.lead_id "
            "WHERE l.product = :p AND a.outcome = 'pending' GROUP BY a.lead_id"),
            {"p": product})).all()
        assert len(pending) == 15 and all(n == 1 for _, n in pending)
        held = dict((await session.execute(text(
            "SELECT partner_id, open_offers FROM lead_partner_settings "
            "WHERE partner_id = ANY(:p)"), {"p": made["partners"]})).all())
        assert held == {p: 5 for p in made["partners"]}
        pool = (await session.execute(text(
            "SELECT p.picks, (SELECT sum(assigned) FROM lead_pool_counts c "
            "WHERE c.pool_id = p.id) AS assigned FROM lead_pools p WHERE rule_id = :r"),
            {"r": made["rules"][0]})).one()
        assert pool.picks == pool.assigned == 15


async def _offered(sessionmaker, lead_id) -> tuple[uuid.UUID, int]:
    """The partner a lead was offered to, and the size of the pool it came from."""
    async with sessionmaker() as session:
        row = (await session.execute(text(
            "SELECT partner_id, (explanation ->> 'pool_members')::int AS members "
            "FROM lead_assignments WHERE lead_id = :l ORDER BY offered_at DESC LIMIT 1"),
            {"l": lead_id})).one()
    return row.partner_id, row.members


async def _turn(sessionmaker, rule_id, partners) -> uuid.UUID:
    """Whose turn it is among ``partners`` in the rule's busiest pool, from its committed rows
    alone."""
    async with sessionmaker() as session:
        pool = (await session.execute(text(
            "SELECT id, picks FROM lead_pools WHERE rule_id = :r ORDER BY picks DESC LIMIT 1"),
            {"r": rule_id})).one()
        counts = dict((await session.execute(text(
            "SELECT partner_id, assigned FROM lead_pool_counts WHERE pool_id = :p"),
            {"p": pool.id})).all())
    return order([Member(p, 1, counts.get(p, 0)) for p in sorted(partners)], pool.picks)[0] \
        .member.partner_id


async def test_what_a_process_keeps_between_leads_follows_every_change(replicas, prm_infra):
    """Members and counts are kept per process between leads: a rolled-back pick, another
    process's pick, a partner joining (committed or rolled back) and a pause are all seen by
    the next lead."""
    (first, second), product, made = replicas
    await _setup(first, product, made, 3)
    rule_id = made["rules"][0]
    for i in range(4):
        await _submit(first, product, i)
    # A pick rolled back leaves the pool as it was: the next lead goes where it would have.
    async with second() as session:
        undone, _ = await service.submit(session, STAFF, _lead(product, 4), intake=False)
        await session.rollback()
    expected = await _turn(first, rule_id, made["partners"])
    assert expected == undone.partner_id
    # Another process's pick (its own commit, the same statement as ours) is seen, though the
    # pool's count of picks is the one the rolled-back pick left in this process.
    other = next(p for p in made["partners"] if p != expected)
    async with first() as session:
        pool_id = (await session.execute(text(
            "SELECT id FROM lead_pools WHERE rule_id = :r"), {"r": rule_id})).scalar_one()
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        await driver.fetchval(routing._COUNT, pool_id, other)
        await session.commit()
    expected = await _turn(first, rule_id, made["partners"])
    lead = await _submit(first, product, 5)
    assert (await _offered(first, lead.id)) == (expected, 3)
    # A partner joining is seen by the next lead; one that joined in a rolled-back
    # transaction is not, though that transaction routed a lead with it.
    async with second() as session:
        ghost = uuid.uuid4()
        await HANDLERS[PartnerCreatedV1.event_type](session, new_event(
            PartnerCreatedV1(partner=PartnerSnapshot(
                id=ghost, name="Ghost", type="reseller", country="NL", status="active",
                version=1)), source="/prm/partners", subject=str(ghost), partner_id=ghost))
        seen, _ = await service.submit(session, STAFF, _lead(product, 6), intake=False)
        assert seen.status == "offered"
        await session.rollback()
    lead = await _submit(first, product, 7)
    assert (await _offered(first, lead.id))[1] == 3
    await _setup(first, product, made, 1)
    lead = await _submit(second, product, 8)
    assert (await _offered(second, lead.id))[1] == 4
    # A pause is seen at once, and so is its end.
    resting = made["partners"][-1]
    async with first() as session:
        await session.execute(text(
            "INSERT INTO lead_partner_settings (partner_id, paused, open_offers, version, "
            "updated_at) VALUES (:p, true, 0, 0, now()) ON CONFLICT (partner_id) DO UPDATE "
            "SET paused = true"), {"p": resting})
        await session.commit()
    for i in (9, 10, 11):
        lead = await _submit(first, product, i)
        partner, members = await _offered(first, lead.id)
        assert members == 3 and partner != resting
    # A change routing reads but that leaves these members and weights as they were (a
    # language: this rule asks for none) keeps them, once PostgreSQL's digest says so.
    await _change(first, ("languages = '{fi}'", made["partners"][1]))
    partner, members = await _offered(second, (await _submit(second, product, 13)).id)
    assert members == 3 and partner != resting
    # A partner no longer active (its row changed, as its event changes it) is left out; a
    # change routing does not read (its name) keeps the members as they were.
    await _change(first, ("status = 'suspended'", made["partners"][0]),
                  ("name = 'Renamed'", made["partners"][1]))
    partner, members = await _offered(first, (await _submit(first, product, 12)).id)
    assert members == 2 and partner not in (resting, made["partners"][0])


async def _change(sessionmaker, *changes: tuple[str, uuid.UUID]) -> None:
    """Directory rows changed (``SET`` clause, partner) and committed, as events change them."""
    async with sessionmaker() as session:
        for assignment, partner_id in changes:
            await session.execute(text(
                f"UPDATE partner_directory SET {assignment} WHERE partner_id = :p"),
                {"p": partner_id})
        await session.commit()


async def test_postgresql_digests_the_members_as_routing_does(replicas):
    """The digest PostgreSQL works out to tell that the kept members still hold is the one
    routing computes in Python, whatever the tiers (none, unknown, weighed or not) and the
    rule's weights."""
    (first, _), _, made = replicas
    rng = random.Random(20261207)
    tiers = ["Gold", "Silver", "Registered", "", None, "Gold Plus", "Élite"]
    async with first() as session:
        for i in range(40):
            partner_id = uuid.uuid4()
            await HANDLERS[PartnerCreatedV1.event_type](session, new_event(
                PartnerCreatedV1(partner=PartnerSnapshot(
                    id=partner_id, name=f"Digest {i}", type="reseller", country="NL",
                    status="active", version=1, tier=rng.choice(tiers) or None)),
                source="/prm/partners", subject=str(partner_id), partner_id=partner_id))
            made["partners"].append(partner_id)
        await session.execute(text(
            "UPDATE partner_directory SET tier = '' WHERE partner_id = :p"),
            {"p": made["partners"][0]})
        await session.commit()
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        for case in range(25):
            chosen = rng.sample(made["partners"], rng.randint(0, 40))
            rule = {"weighting": {
                "tier_weights": {t: rng.randint(1, 1000) for t in rng.sample(tiers[:6], 3) if t},
                **({"default_weight": rng.randint(1, 9)} if case % 2 else {})}}
            where, args = "d.partner_id = ANY($1::uuid[])", [chosen]
            rows = await driver.fetch(routing._MEMBERS.format(where=where), *args)
            weights = routing._weights(rule, {r["partner_id"].int: r["tier"] for r in rows},
                                       None, None)
            assert len(weights) == len(chosen)
            sql, digest_args = routing._digest_query(rule, where, args)
            assert await driver.fetchval(sql, *digest_args) == routing._digest(weights), case
