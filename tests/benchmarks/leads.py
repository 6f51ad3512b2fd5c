"""``make bench`` (leads): what routing a lead costs at a large programme's size.

One PostgreSQL, migrated as ``make run`` does, gets ``--partners`` active partners in the deals
service's partner directory (loaded by SQL in bulk: about 30 countries, home countries skewed
towards the large markets, each partner serving 1-5 countries, tiers Gold/Silver/Registered
about 10/30/60 %, 1-3 of 10 specialisations, languages, some certifications), then the deals
API and a bare FastAPI endpoint are served the same way (uvicorn, one process each). A handful
of lead routing rules are created through the API, and requests are sent one at a time
(latency, not throughput):

* ``POST /v1/leads``, a fresh Idempotency-Key and a distinct company each, a mix of countries,
  industries, products, sizes and languages so that the leads fall into different pools (rules
  by certification, tier, specialisation in the lead's industry, language; tens to hundreds of
  candidates each), ``--leads`` after a warm-up;
* the worst case: leads whose rule has no partner filter and does not ask for the lead's
  country, so that every active partner is a candidate, ``--leads``/4;
* the worst case again, each lead right after a change of what routing reads of a partner
  (a language, as a partner's update does): the members a process keeps between leads are
  then read again, ``--leads``/20;
* ``POST /v1/lead-routing-rules/dry-run`` with leads of the first mix, ``--leads``/4;
* the bare endpoint (``bare_app.py``: validates a deal-shaped body, answers 201).

Prints a table of p50/p99 with routing decisions per second, the pools formed, and the fairness
of the largest pools on the data: the largest gap between a member's leads and its weighted
share (under one lead when every member could take its turn). Nothing here asserts timings
(the aim: p99 <= 20 ms per lead).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from attribution import bulk_load, quantiles, serve
from fastapi import FastAPI
from harness import machine, start, stop_all
from lists import Client, connect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from prm_deals.leads import fairness, routing
from prm_stack.embedded import free_port
from prm_stack.testing import vendor_headers

AIM_P99_MS = 20.0
# Larger markets first: home countries are drawn with a skew towards the head of the list.
COUNTRIES = ("US", "DE", "GB", "FR", "JP", "NL", "IN", "BR", "ES", "IT", "CA", "AU", "SE", "CH",
             "AT", "PL", "BE", "DK", "NO", "FI", "IE", "PT", "MX", "SG", "KR", "ZA", "AE", "CZ",
             "HU", "TR")
SKEW = 1.7  # home country index = floor(30 * u ** SKEW)
INDUSTRIES = ("manufacturing", "financial services", "healthcare", "retail", "public sector",
              "education", "telecommunications", "energy", "logistics", "media")
LANGUAGES = ("de", "fr", "ja", "es", "pt", "it", "nl", "sv")
TYPES = ("reseller", "msp", "si", "isv", "mssp", "referral")
PRODUCTS = ("SEC-EDGE", "CLOUD-X", "NET-CORE")
SIZES = ("small", "medium", "large", "enterprise")
WORST_PRODUCT = "GLOBAL-ANY"
SCOPES = ("leads:read", "leads:write")

# Tried in this order (the API gives each the next position). The first takes only the
# worst-case leads (their product), and every active partner is a candidate for them.
RULES: list[dict[str, Any]] = [
    {"name": "Global overflow: any active partner",
     "conditions": {"products": [WORST_PRODUCT]},
     "partners": {"serves_lead_country": False},
     "weighting": {"tier_weights": {"Gold": 5, "Silver": 2}}},
    {"name": "DACH security leads to certified partners",
     "conditions": {"countries": ["DE", "AT", "CH"], "products": ["SEC-EDGE"]},
     "partners": {"certifications": ["SEC-101"]},
     "weighting": {"tier_weights": {"Gold": 5, "Silver": 2}},
     "capacity": {"max_open": 25, "max_per_period": 200, "period_days": 30}},
    {"name": "Enterprise leads to Gold partners",
     "conditions": {"sizes": ["enterprise"]},
     "partners": {"tiers": ["Gold"]}},
    {"name": "Industry specialists",
     "conditions": {"industries": list(INDUSTRIES)},
     "partners": {"specialised_in_lead_industry": True},
     "weighting": {"tier_weights": {"Gold": 4, "Silver": 2}},
     "capacity": {"max_open": 50}},
    {"name": "Speaks the lead's language",
     "partners": {"speaks_lead_language": True, "tiers": ["Gold", "Silver"]},
     "weighting": {"tier_weights": {"Gold": 3}}},
    {"name": "Everyone else: Gold and Silver in the country",
     "partners": {"tiers": ["Gold", "Silver"]},
     "weighting": {"tier_weights": {"Gold": 3, "Silver": 1}}},
]


# -- the data ----------------------------------------------------------------------------------

async def load_partners(url: str, count: int) -> float:
    started = time.perf_counter()
    connection = await connect(url, "deals")
    try:
        await connection.execute("SELECT setseed(0.2026)")
        async with bulk_load(connection, ("partner_directory",), "deals", keys=False):
            await connection.execute("""
                INSERT INTO partner_directory (partner_id, name, type, country, status, tier,
                    version, events_applied, last_event_at, projected_at, countries_served,
                    languages, specialisations, certifications)
                SELECT uuidv7(), 'Partner ' || g || ' ' || (ARRAY['GmbH', 'Ltd', 'SA', 'Inc',
                        'AG', 'BV', 'KK'])[(1 + g % 7)::int],
                    t[(1 + g % cardinality(t))::int], c[h], 'active',
                    CASE WHEN r < 0.1 THEN 'Gold' WHEN r < 0.4 THEN 'Silver'
                         ELSE 'Registered' END,
                    1, 1, now(), now(),
                    -- home first, then up to four more, stepping through the list from it
                    ARRAY(SELECT c[1 + (h - 1 + k * step) % cardinality(c)]
                          FROM generate_series(0, served - 1) k),
                    -- (each subquery names g, so that it is drawn again for every partner)
                    ARRAY['en'] || ARRAY(SELECT DISTINCT l[1 + floor(random() * cardinality(l))
                                                          ::int]
                                         FROM generate_series(1, 1 + g % 2)),
                    ARRAY(SELECT DISTINCT i[1 + floor(random() * cardinality(i))::int]
                          FROM generate_series(1, 1 + g % 3)),
                    ARRAY(SELECT x FROM unnest(ARRAY['SEC-101', 'NET-201', 'CLOUD-301']) x
                          WHERE random() < CASE x WHEN 'SEC-101' THEN 0.25
                                           WHEN 'NET-201' THEN 0.15 ELSE 0.1 END + g * 0)
                FROM (SELECT g, random() AS r,
                             1 + floor(cardinality($2::text[]) * power(random(), $6))::int AS h,
                             1 + floor(random() * 5)::int AS served, 1 + g % 7 AS step
                      FROM generate_series(1::bigint, $1) g) p,
                     (SELECT $2::text[] AS c, $3::text[] AS l, $4::text[] AS i,
                             $5::text[] AS t) v
            """, count, list(COUNTRIES), list(LANGUAGES), list(INDUSTRIES), list(TYPES), SKEW)
        await connection.execute("VACUUM ANALYZE partner_directory")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def directory_facts(url: str) -> dict[str, Any]:
    connection = await connect(url, "deals")
    try:
        row = await connection.fetchrow("""
            SELECT count(*) AS partners, count(DISTINCT country) AS countries,
                   avg(cardinality(countries_served)) AS served,
                   avg((tier = 'Gold')::int) AS gold, avg((tier = 'Silver')::int) AS silver,
                   avg(cardinality(specialisations)) AS specialisations,
                   avg(('SEC-101' = ANY(certifications))::int) AS sec101
            FROM partner_directory WHERE status = 'active'""")
    finally:
        await connection.close()
    return dict(row)


# -- the requests ------------------------------------------------------------------------------

CHANGED = "POST /v1/leads, every partner, after a directory write"


def create_bare_app() -> FastAPI:
    """The baseline of ``make bench``: a deal-shaped body validated, 201 (``bare_app.py``)."""
    from bare_app import app

    return app


def weighted_country(rng: random.Random) -> str:
    return COUNTRIES[int(len(COUNTRIES) * rng.random() ** SKEW)]


def lead(rng: random.Random, n: int, run: str, *, product: str | None = None
         ) -> dict[str, Any]:
    """A lead of a distinct company, drawn from the mix."""
    body: dict[str, Any] = {
        "company": {"name": f"Lead Company {n} {run}", "domain": f"lead{n}-{run}.example",
                    "country": weighted_country(rng)},
        "product": product or rng.choices(PRODUCTS, weights=(2, 4, 4))[0],
        "size": rng.choices(SIZES, weights=(30, 35, 25, 10))[0],
        "estimated_amount": {"amount": f"{rng.randint(5, 500) * 1000}.00", "currency": "EUR"},
    }
    if rng.random() < 0.85:
        body["industry"] = rng.choice(INDUSTRIES)
    if rng.random() < 0.6:
        body["language"] = rng.choice(("en", "en-GB") + LANGUAGES)
    return body


def post_leads(client: Client, kind: str, path: str, bodies: list[dict[str, Any]],
               before: Callable[[], None] | None = None) -> tuple[float, dict[str, int]]:
    """Each body POSTed in turn (``before`` done first, untimed): the wall time of the
    requests, and how the leads came out."""
    outcomes: dict[str, int] = {}
    spent = 0.0
    for body in bodies:
        if before is not None:
            before()
        started = time.perf_counter()
        response = client.send("POST", kind, path, body=body)
        if response.status_code < 300:
            answer = response.json()
            outcome = answer.get("reason") or answer.get("status") or "?"
        else:
            outcome = f"HTTP {response.status_code}: {response.text[:200]}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        spent += time.perf_counter() - started
    return spent, outcomes


class DirectoryWriter:
    """Changes what routing reads of one partner (a language more or less, as a partner's
    update does): the directory's generation moves, the worst case's pool stays the same."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(connect(url, "deals"))

    def __call__(self) -> None:
        self.loop.run_until_complete(self.connection.execute(
            "UPDATE partner_directory SET languages = CASE WHEN 'fi' = ANY(languages) "
            "THEN array_remove(languages, 'fi') ELSE array_append(languages, 'fi') END "
            "WHERE partner_id = (SELECT partner_id FROM partner_directory "
            "ORDER BY random() LIMIT 1)"))

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


# -- the pools ---------------------------------------------------------------------------------

async def pool_report(url: str) -> dict[str, Any]:
    """The pools formed, and for the one with most leads among the typical ones and the
    worst-case one: the member count, leads, and max |assigned - entitled| over the members
    (the members and weights found again from a lead of the pool, checked against its
    digest), with the time the members query and the fair order take for it."""
    engine = create_async_engine(url, connect_args={"server_settings": {
        "search_path": "deals", "timezone": "UTC"}})
    report: dict[str, Any] = {}
    try:
        async with engine.connect() as connection:
            sizes = [r.members for r in (await connection.execute(text(
                "SELECT members FROM lead_pools"))).all()]
            report["pools"] = len(sizes)
            report["members"] = {"min": min(sizes), "median": statistics.median(sizes),
                                 "max": max(sizes)} if sizes else {}
            worst = (await connection.execute(text(
                "SELECT p.id FROM lead_pools p JOIN lead_routing_rules r ON r.id = p.rule_id "
                "WHERE r.name = :name ORDER BY p.picks DESC LIMIT 1"),
                {"name": RULES[0]["name"]})).scalar()
            largest = (await connection.execute(text(
                "SELECT id FROM lead_pools WHERE id IS DISTINCT FROM :worst "
                "ORDER BY picks DESC, members DESC LIMIT 1"), {"worst": worst})).scalar()
            report["checked"] = {}
            for label, pool_id in (("largest typical pool (most leads)", largest),
                                   ("worst-case pool (every partner)", worst)):
                if pool_id is not None:
                    report["checked"][label] = await fairness_of(connection, pool_id)
    finally:
        await engine.dispose()
    return report


async def fairness_of(connection: Any, pool_id: uuid.UUID) -> dict[str, Any]:
    pool = (await connection.execute(text(
        "SELECT p.id, p.digest, p.members, p.picks, r.partners, r.weighting "
        "FROM lead_pools p JOIN lead_routing_rules r ON r.id = p.rule_id WHERE p.id = :id"),
        {"id": pool_id})).one()
    sample = (await connection.execute(text(
        "SELECT l.company_country, l.industry, l.language, l.product FROM lead_assignments a "
        "JOIN leads l ON l.id = a.lead_id WHERE a.pool_id = :id LIMIT 1"), {"id": pool_id})
    ).one()
    passed = (await connection.execute(text(
        "SELECT coalesce(sum(v::int), 0) FROM lead_assignments a, "
        "jsonb_each_text(a.explanation -> 'passed_over') AS e(k, v) WHERE a.pool_id = :id"),
        {"id": pool_id})).scalar_one()
    where = routing._members_where(pool.partners, sample)
    assert where is not None
    sql, args = routing._MEMBERS.format(where=where[0]), where[1]
    driver = (await connection.get_raw_connection()).driver_connection
    started = time.perf_counter()
    rows = await driver.fetch(sql, *args)
    query_ms = (time.perf_counter() - started) * 1000
    plan = await driver.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    weights = routing._weights({"weighting": pool.weighting},
                               {r["partner_id"].int: r["tier"] for r in rows}, sample, None)
    counts = {p.int: n for p, n in (await connection.execute(text(
        "SELECT partner_id, assigned FROM lead_pool_counts WHERE pool_id = :id"),
        {"id": pool_id})).all()}
    members = [fairness.Member(uuid.UUID(int=p), w, counts.get(p, 0))
               for p, w in weights.items()]
    times = []
    for _ in range(7):  # the median of seven, after a collection: the order's own cost
        gc.collect()
        started = time.perf_counter()
        fairness.order(members, pool.picks, limit=routing.MAX_TURNS + routing.AFTER_CHOSEN + 1)
        times.append((time.perf_counter() - started) * 1000)
    order_ms = statistics.median(times)
    total = sum(weights.values())
    gap = max((abs(counts.get(p, 0) - Fraction(pool.picks * w, total))
               for p, w in weights.items()), default=Fraction(0))
    return {"members": pool.members, "leads": pool.picks, "passed_over": passed,
            "same_members": routing._digest(weights) == pool.digest,
            "max_gap": float(gap), "members_query_ms": query_ms,
            "members_query_server_ms": plan[0]["Execution Time"], "order_ms": order_ms}


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10_000, help="active partners")
    parser.add_argument("--leads", type=int, default=2_000, help="leads routed (the worst "
                        "case and the dry run: a quarter as many)")
    parser.add_argument("--warm-up", type=int, default=50, help="requests of each kind first")
    args = parser.parse_args()
    rng = random.Random(20261207)
    run = secrets.token_hex(3)
    work, pg, url, secret = start("leads", ("deals",))
    servers: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {}
    try:
        report["load_s"] = asyncio.run(load_partners(url, args.partners))
        report["directory"] = asyncio.run(directory_facts(url))
        print(f"loaded: {report['directory']} in {report['load_s']:.1f} s", file=sys.stderr)
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret,
               "PRM_RATE_LIMIT_PER_MINUTE": "1000000"}
        ports = {name: free_port() for name in ("deals", "bare")}
        servers.append(serve("prm_deals.main:create_app", ports["deals"], env))
        servers.append(serve("leads:create_bare_app", ports["bare"], env))

        def signed() -> dict[str, str]:  # a signed principal lives a minute: one per request
            return {**vendor_headers(secret, SCOPES, subject="key-benchmark"),
                    "Idempotency-Key": str(uuid.uuid4())}

        deals = Client(f"http://127.0.0.1:{ports['deals']}", signed)
        bare = Client(f"http://127.0.0.1:{ports['bare']}", dict)
        for rule in RULES:
            created = deals.send("POST", "rules", "/v1/lead-routing-rules", body=rule)
            if created.status_code != 201:
                raise RuntimeError(f"rule not created: {created.status_code} {created.text}")
        numbers = itertools.count()
        typical = [lead(rng, next(numbers), run) for _ in range(args.warm_up + args.leads)]
        worst = [lead(rng, next(numbers), run, product=WORST_PRODUCT)
                 for _ in range(args.warm_up // 5 + args.leads // 4)]
        changed = [lead(rng, next(numbers), run, product=WORST_PRODUCT)
                   for _ in range(args.leads // 20)]
        dry = [lead(rng, next(numbers), run) for _ in range(args.warm_up + args.leads // 4)]
        deal = {"customer": {"name": "Globex Corporation", "domain": "globex.example",
                             "country": "FR"},
                "amount": {"amount": "48000.00", "currency": "EUR"},
                "expected_close_date": "2027-03-31"}
        post_leads(deals, "warm-up", "/v1/leads", typical[:args.warm_up])
        post_leads(deals, "warm-up", "/v1/leads", worst[:args.warm_up // 5])
        post_leads(deals, "warm-up", "/v1/lead-routing-rules/dry-run", dry[:args.warm_up])
        post_leads(bare, "warm-up", "/v1/deals", [deal] * args.warm_up)
        phases = (
            ("bare FastAPI endpoint (POST)", bare, "/v1/deals", [deal] * args.leads),
            ("POST /v1/leads, typical pools", deals, "/v1/leads", typical[args.warm_up:]),
            ("POST /v1/leads, every partner a candidate", deals, "/v1/leads",
             worst[args.warm_up // 5:]),
            ("POST /v1/lead-routing-rules/dry-run", deals, "/v1/lead-routing-rules/dry-run",
             dry[args.warm_up:]),
        )
        writer = DirectoryWriter(url)
        befores = {CHANGED: writer}
        phases += ((CHANGED, deals, "/v1/leads", changed),)
        rows: dict[str, dict[str, Any]] = {}
        for kind, client, path, bodies in phases:
            seconds, outcomes = post_leads(client, kind, path, bodies, befores.get(kind))
            p50, p99 = quantiles(client.times[kind])
            rows[kind] = {"requests": len(bodies), "per_s": len(bodies) / seconds,
                          "p50_ms": p50, "p99_ms": p99, "outcomes": outcomes,
                          "slowest": [f"{ms:.0f} ms" for ms, _ in client.slowest[kind]]}
            print(f"{kind}: {rows[kind]}", file=sys.stderr)
        report["requests"] = rows
        writer.close()
        deals.close()
        bare.close()
        report["pools"] = asyncio.run(pool_report(url))
    finally:
        stop_all(servers, pg, work)
    print_report(args, report)


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    facts = report["directory"]
    print()
    print(machine())
    print(f"data: {facts['partners']:,} active partners in {facts['countries']} countries "
          f"(loaded in {report['load_s']:.0f} s), {float(facts['served']):.1f} countries served "
          f"each, Gold {float(facts['gold']):.0%}, Silver {float(facts['silver']):.0%}, "
          f"{float(facts['specialisations']):.1f} specialisations each, "
          f"SEC-101 {float(facts['sec101']):.0%}; {len(RULES)} routing rules")
    print()
    print(f"| {'one at a time':<54} | requests | per s  | p50 ms | p99 ms |")
    print(f"|{'-' * 56}|----------|--------|--------|--------|")
    for kind, r in report["requests"].items():
        print(f"| {kind:<54} | {r['requests']:8d} | {r['per_s']:6.0f} | {r['p50_ms']:6.1f} "
              f"| {r['p99_ms']:6.1f} |")
    print()
    bare = report["requests"]["bare FastAPI endpoint (POST)"]
    for kind, r in report["requests"].items():
        if kind.startswith("bare"):
            continue
        verdict = "meets" if r["p99_ms"] <= AIM_P99_MS else \
            f"misses by {r['p99_ms'] - AIM_P99_MS:.1f} ms"
        print(f"- {kind}: p99 {r['p99_ms']:.1f} ms against the aim of {AIM_P99_MS:.0f} ms "
              f"({verdict}); to bare: p50 x{r['p50_ms'] / bare['p50_ms']:.1f}, "
              f"rate {r['per_s'] / bare['per_s']:.3f}; outcomes {r['outcomes']}; "
              f"slowest {', '.join(r['slowest'])}")
    pools = report["pools"]
    print(f"- pools formed: {pools['pools']} (members: {pools['members']})")
    for label, c in pools["checked"].items():
        print(f"- {label}: {c['members']} members, {c['leads']} leads, "
              f"{c['passed_over']} passed over; max |assigned - entitled| = "
              f"{c['max_gap']:.3f} (members found again: "
              f"{'same digest' if c['same_members'] else 'DIGEST DIFFERS'}); its members "
              f"query {c['members_query_ms']:.1f} ms ({c['members_query_server_ms']:.1f} ms in "
              f"the server), the fair order of its members {c['order_ms']:.1f} ms")
    print(json.dumps({"summary": report}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
