"""``make bench`` (lists): what a portal's screens cost at a large programme's size.

One PostgreSQL, migrated as ``make run`` does, is loaded with ``--partners`` partner orgs (the
partner directory, and the deals service's copy of it) and ``--deals`` deal registrations
spread over them, indexes rebuilt and the tables analysed. Then the partners and deals APIs
and a bare FastAPI endpoint are served the same way (uvicorn, one process each) and GETs are
sent one at a time (latency, not throughput), each kind ``--requests`` times:

* the deal list with two filters and a sort, as vendor staff (``status`` of two values,
  ``customer_country`` of two, ``sort`` by close date or amount), half of them a later page
  through ``next_cursor``;
* a partner's own deal list, filtered and sorted;
* a name search of the deals' customers and of the partner directory (``q``);
* the directory filtered by countries served, sorted by name;
* a change feed page (``updated_since``);
* conditional reads: a deal and a list page with ``If-None-Match`` (``304``);
* MDF claims filtered by status and amount, newest first, and a search of fund request titles
  (``--claims`` fund requests, each with its claim);
* the bare endpoint answering a page of 50 deal-shaped items.

Prints a table of p50/p99 per kind. Nothing here asserts timings (the aim: p99 <= 50 ms for
lists, <= 100 ms for search).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from attribution import bulk_load, dsn_of, quantiles, serve
from fastapi import FastAPI
from harness import machine, start, stop_all

from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal
from prm_stack.embedded import free_port

COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "IT", "SE", "PL", "JP", "BR", "IN", "AT", "CH",
             "BE", "DK", "NO", "FI", "IE", "PT")
SYLLABLES = ("ka", "ro", "mi", "te", "lu", "sa", "no", "vi", "dex", "tor", "lin", "gra", "bel",
             "cor", "fen", "zu", "mar", "qui")
# Names in other scripts and with accents, so the folded search meets them too.
EXTRA_WORDS = ("Müller", "Sørensen", "Société", "Générale", "Łódź", "Ōsaka", "Nordström",
               "日本", "ソリューション", "Αθήνα", "Москва")
SUFFIXES = ("GmbH", "Ltd", "SA", "KK", "Inc", "AG", "BV", "AB", "SpA", "株式会社", "Oy")
STATUSES = ("submitted", "in_review", "approved", "rejected", "won", "lost", "expired")
TODAY = dt.date(2026, 12, 1)


def vocabulary() -> list[str]:
    words = [(a + b + c).capitalize() for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
    return words + list(EXTRA_WORDS)


# -- the data ----------------------------------------------------------------------------------

async def connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn_of(url), server_settings={"search_path": schema,
                                                                "timezone": "UTC"})


async def load_partners(url: str, count: int, words: list[str]) -> float:
    started = time.perf_counter()
    connection = await connect(url, "partners")
    try:
        async with bulk_load(connection, ("partners",), "partners", keys=False):
            await connection.execute("""
                INSERT INTO partners (id, name, type, country, countries_served, languages,
                    specialisations, website_domain, status, version, created_at, updated_at,
                    tier, default_currency, parent_access)
                SELECT uuidv7(), w[(1 + (g * 7919) % cardinality(w))::int] || ' '
                        || w[(1 + (g * 104729) % cardinality(w))::int] || ' '
                        || s[(1 + g % cardinality(s))::int] || ' ' || g,
                    (ARRAY['reseller', 'msp', 'si', 'isv', 'mssp', 'referral'])[(1 + g % 6)::int],
                    c[(1 + g % cardinality(c))::int],
                    ARRAY[c[(1 + g % cardinality(c))::int], c[(1 + (g / 7) % cardinality(c))::int]],
                    ARRAY['en', (ARRAY['de', 'fr', 'ja', 'es'])[(1 + g % 4)::int]],
                    ARRAY[(ARRAY['cloud security', 'data', 'networking', 'ai'])[(1 + g % 4)::int]],
                    'p' || g || '.example',
                    (ARRAY['active', 'active', 'active', 'onboarding', 'suspended'])[
                        (1 + g % 5)::int],
                    1, now() - make_interval(days => (g % 900)::int), now() - make_interval(
                        mins => (g % 500000)::int),
                    (ARRAY['Platinum', 'Gold', 'Silver', 'Registered'])[(1 + g % 4)::int],
                    'EUR', false
                FROM generate_series(1::bigint, $1) g, (SELECT $2::text[] AS w, $3::text[] AS s,
                                                       $4::text[] AS c) v
            """, count, words, list(SUFFIXES), list(COUNTRIES))
    finally:
        await connection.close()
    connection = await connect(url, "deals")
    try:
        await connection.execute("""
            INSERT INTO partner_directory (partner_id, name, type, country, status, tier,
                version, events_applied, last_event_at, projected_at)
            SELECT id, name, type, country, status, tier, version, 1, updated_at, now()
            FROM partners.partners""")
        await connection.execute("VACUUM ANALYZE partner_directory")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def load_deals(url: str, count: int, words: list[str]) -> float:
    started = time.perf_counter()
    connection = await connect(url, "deals")
    try:
        async with bulk_load(connection, ("deals",), "deals", keys=False):
            await connection.execute("""
                INSERT INTO deals (id, partner_id, customer_name, customer_domain,
                    customer_country, amount, currency, expected_close_date, status, version,
                    created_at, updated_at, customer_name_key, deal_type, private_offer,
                    products, conflicts, protected_until, closed_on, account_executive)
                SELECT uuidv7(), p.ids[(1 + (g * 31) % cardinality(p.ids))::int],
                    w[(1 + (g * 7907) % cardinality(w))::int] || ' '
                        || w[(1 + (g * 104723) % cardinality(w))::int] || ' '
                        || s[(1 + g % cardinality(s))::int],
                    'c' || g || '.example', c[(1 + (g * 13) % cardinality(c))::int],
                    100 + (g * 7919) % 500000, 'EUR',
                    $5::date + ((g * 17) % 730 - 365)::int,
                    st[(1 + (g * 11) % cardinality(st))::int], 1,
                    now() - make_interval(mins => ((g * 3) % 1000000)::int),
                    now() - make_interval(mins => ((g * 3) % 1000000)::int), 'key' || g,
                    (ARRAY['new', 'renewal', 'upsell'])[(1 + g % 3)::int], false, '[]', '[]',
                    CASE WHEN g % 3 = 0 THEN $5::date + (g % 120)::int END,
                    CASE WHEN g % 7 = 0 THEN $5::date - (g % 365)::int END,
                    CASE WHEN g % 5 = 0 THEN 'ae' || (g % 200) || '@vendor.example' END
                FROM generate_series(1::bigint, $1) g,
                     (SELECT array_agg(id) AS ids FROM partners.partners) p,
                     (SELECT $2::text[] AS w, $3::text[] AS s, $4::text[] AS c,
                             $6::text[] AS st) v
            """, count, words, list(SUFFIXES), list(COUNTRIES), TODAY, list(STATUSES))
    finally:
        await connection.close()
    return time.perf_counter() - started


async def load_claims(url: str, count: int, words: list[str]) -> float:
    """An MDF budget, an allocation per partner, ``count`` fund requests spread over them and a
    claim of each (foreign keys to ledger accounts and reservations are not followed: the
    lists never read them)."""
    started = time.perf_counter()
    connection = await connect(url, "incentives")
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("""
            INSERT INTO partner_directory (partner_id, name, type, country, status, tier,
                version, events_applied, last_event_at, projected_at)
            SELECT id, name, type, country, status, tier, version, 1, updated_at, now()
            FROM partners.partners""")
        budget = uuid.uuid4()
        await connection.execute("""
            INSERT INTO mdf_budgets (id, programme, period, currency, amount, pool_account_id,
                version, created_at, updated_at)
            VALUES ($1, 'Field marketing', '2026', 'EUR', 10000000000000, $1, 1, now(), now())
        """, budget)
        await connection.execute("""
            INSERT INTO mdf_allocations (id, budget_id, partner_id, currency, amount,
                allocation_account_id, committed_account_id, payable_account_id, version,
                created_at, updated_at)
            SELECT uuidv7(), $1, id, 'EUR', 5000000, id, id, id, 1, now(), now()
            FROM partners.partners""", budget)
        async with bulk_load(connection, ("mdf_requests", "mdf_claims"), "incentives",
                             keys=False):
            await connection.execute("""
                INSERT INTO mdf_requests (id, allocation_id, budget_id, partner_id, currency,
                    activity_type, title, start_date, end_date, planned_cost,
                    expected_outcomes, status, reservation_id, decision_due_at, version,
                    created_at, updated_at)
                SELECT uuidv7(), a.ids[(1 + (g * 31) % cardinality(a.ids))::int], $2,
                    a.partners[(1 + (g * 31) % cardinality(a.ids))::int], 'EUR', 'event',
                    w[(1 + (g * 7907) % cardinality(w))::int] || ' '
                        || w[(1 + (g * 104723) % cardinality(w))::int] || ' roadshow',
                    $3::date - (g % 400)::int, $3::date - (g % 400)::int + 3,
                    100000 + (g * 7919) % 900000, 'Leads', 'claimed', uuidv7(), now(), 1,
                    now() - make_interval(mins => ((g * 3) % 1000000)::int),
                    now() - make_interval(mins => ((g * 3) % 1000000)::int)
                FROM generate_series(1::bigint, $1) g,
                     (SELECT array_agg(id ORDER BY id) AS ids,
                             array_agg(partner_id ORDER BY id) AS partners
                      FROM mdf_allocations) a, (SELECT $4::text[] AS w) v
            """, count, budget, TODAY, words)
            await connection.execute("""
                INSERT INTO mdf_claims (id, request_id, partner_id, currency, amount,
                    approved_amount, description, status, version, created_at, updated_at)
                SELECT uuidv7(), r.id, r.partner_id, 'EUR', r.planned_cost,
                    CASE WHEN s = 'approved' THEN r.planned_cost END, 'Roadshow costs', s, 1,
                    r.created_at + interval '20 days', r.updated_at + interval '20 days'
                FROM (SELECT *, (ARRAY['submitted', 'approved', 'approved', 'rejected'])[
                          (1 + abs(hashtext(id::text)) % 4)::int] AS s FROM mdf_requests) r
            """)
    finally:
        await connection.close()
    return time.perf_counter() - started


async def samples(url: str, rng: random.Random) -> dict[str, Any]:
    connection = await connect(url, "deals")
    try:
        deals = [r["id"] for r in await connection.fetch(
            "SELECT id FROM deals ORDER BY random() LIMIT 200")]
        partners = [r["partner_id"] for r in await connection.fetch(
            "SELECT partner_id FROM partner_directory ORDER BY random() LIMIT 200")]
        sizes = {r["t"]: r["n"] for r in await connection.fetch(
            "SELECT 'deals' AS t, count(*) AS n FROM deals UNION ALL "
            "SELECT 'partners', count(*) FROM partners.partners UNION ALL "
            "SELECT 'claims', count(*) FROM incentives.mdf_claims")}
    finally:
        await connection.close()
    rng.shuffle(deals)
    return {"deals": deals, "partners": partners, "sizes": sizes}


# -- the requests ------------------------------------------------------------------------------

def create_bare_app() -> FastAPI:
    """The baseline: a page of 50 deal-shaped items, no database, no authentication."""
    app = FastAPI()
    item = {"id": str(uuid.uuid4()), "partner_id": str(uuid.uuid4()),
            "partner_name": "Karomi Teluno GmbH 42", "status": "approved",
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "expected_close_date": "2027-03-31", "version": 2,
            "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-23T10:00:00Z"}

    @app.get("/v1/deals")
    async def deals(status: str = "", customer_country: str = "", sort: str = "",
                    limit: int = 50) -> dict[str, Any]:
        return {"items": [item] * limit, "next_cursor": None, "total_count": None}

    return app


class Client:
    """Requests one at a time on one connection, each timed (by kind)."""

    def __init__(self, base_url: str, headers: Callable[[], dict[str, str]]) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=600, trust_env=False)
        self.headers = headers
        self.times: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        self.slowest: dict[str, list[tuple[float, str]]] = {}

    def get(self, kind: str, path: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
        return self.send("GET", kind, path, params, headers)

    def send(self, method: str, kind: str, path: str, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
        sent = {**self.headers(), **(headers or {})}
        started = time.perf_counter()
        response = self.http.request(method, path, params=params, headers=sent, json=body)
        response.read()
        ms = (time.perf_counter() - started) * 1000
        self.times.setdefault(kind, []).append(ms)
        slowest = self.slowest.setdefault(kind, [])
        slowest.append((ms, str(response.url.copy_with(scheme=None, netloc=None)).split(
            "//", 1)[-1]))
        slowest.sort(reverse=True)
        del slowest[3:]
        counts = self.statuses.setdefault(kind, {})
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
        return response

    def close(self) -> None:
        self.http.close()


def deal_lists(client: Client, rng: random.Random, count: int) -> None:
    for i in range(count):
        params = {"status": ",".join(rng.sample(["submitted", "in_review", "approved",
                                                 "won"], 2)),
                  "customer_country": ",".join(rng.sample(COUNTRIES, 2)),
                  "sort": rng.choice(["-expected_close_date", "expected_close_date",
                                      "-amount", "-updated_at"])}
        first = client.get("deals: 2 filters + sort", "/v1/deals", params)
        cursor = first.json().get("next_cursor") if first.status_code == 200 else None
        if i % 2 and cursor:
            client.get("deals: 2 filters + sort", "/v1/deals", {**params, "cursor": cursor})


def partner_lists(base_url: str, secret: str, partners: list[uuid.UUID], rng: random.Random,
                  count: int) -> Client:
    """Each request as a partner key of one of the partners, its own deals."""
    chosen: list[uuid.UUID] = []

    def headers() -> dict[str, str]:
        partner = Principal(subject="key-partner", kind=PrincipalKind.partner,
                            partner_id=chosen[-1], scopes=frozenset({"deals:read"}))
        return {PRINCIPAL_HEADER: sign_principal(partner, secret)}

    client = Client(base_url, headers)
    for _ in range(count):
        chosen.append(rng.choice(partners))
        client.get("a partner's deals: filter + sort", "/v1/deals", {
            "status": "submitted,approved,won", "sort": rng.choice(["-amount",
                                                                    "-expected_close_date"])})
    return client


def searches(deals: Client, partners: Client, words: list[str], rng: random.Random,
             count: int) -> None:
    for _ in range(count):
        word = rng.choice(words)
        deals.get("deals: name search (q)", "/v1/deals", {"q": word.lower()[:5]})
        partners.get("partners: name search (q)", "/v1/partners",
                     {"q": f"{rng.choice(words)} {rng.choice(SUFFIXES)}".upper()})


def directory(partners: Client, rng: random.Random, count: int) -> None:
    for _ in range(count):
        partners.get("partners: countries served + sort", "/v1/partners", {
            "countries_served": ",".join(rng.sample(COUNTRIES, 2)), "status": "active",
            "sort": "name"})


def change_feed(deals: Client, rng: random.Random, count: int) -> None:
    for _ in range(count):
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=rng.randint(10, 900_000))
        deals.get("deals: updated_since page", "/v1/deals", {
            "updated_since": since.isoformat().replace("+00:00", "Z")})


def not_modified(deals: Client, ids: list[uuid.UUID], count: int) -> None:
    listed = deals.get("warm-up", "/v1/deals", {"status": "won", "sort": "-amount"})
    list_etag = listed.headers.get("etag", "")
    for i in range(count):
        deal_id = ids[i % len(ids)]
        deals.get("304: a deal", f"/v1/deals/{deal_id}", headers={"If-None-Match": '"1"'})
        deals.get("304: a list page", "/v1/deals", {"status": "won", "sort": "-amount"},
                  headers={"If-None-Match": list_etag})


def claims(incentives: Client, words: list[str], rng: random.Random, count: int) -> None:
    for _ in range(count):
        incentives.get("MDF claims: 2 filters + sort", "/v1/mdf/claims", {
            "status": rng.choice(["submitted", "submitted,approved", "rejected"]),
            "amount[gte]": str(rng.randint(1000, 8000)), "sort": "-created_at"})
        incentives.get("MDF fund requests: title search (q)", "/v1/mdf/requests", {
            "q": rng.choice(words).lower()[:5]})


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument("--partners", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=1_000_000, help="MDF fund requests, "
                        "each with its claim")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each kind")
    args = parser.parse_args()
    if args.quick:
        args.partners, args.deals, args.claims, args.requests = 2_000, 20_000, 20_000, 20
    rng = random.Random(20261206)
    words = vocabulary()
    work, pg, url, secret = start("lists", ("partners", "deals", "incentives"))
    servers: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {}
    try:
        report["load_s"] = {"partners": asyncio.run(load_partners(url, args.partners, words)),
                            "deals": asyncio.run(load_deals(url, args.deals, words)),
                            "claims": asyncio.run(load_claims(url, args.claims, words))}
        sample = asyncio.run(samples(url, rng))
        report["sizes"] = sample["sizes"]
        print(f"loaded: {sample['sizes']} in {report['load_s']}", file=sys.stderr)
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret}
        ports = {name: free_port() for name in ("partners", "deals", "incentives", "bare")}
        servers.append(serve("prm_partners.main:create_app", ports["partners"], env))
        servers.append(serve("prm_incentives.main:create_app", ports["incentives"], env))
        servers.append(serve("prm_deals.main:create_app", ports["deals"], env))
        servers.append(serve("lists:create_bare_app", ports["bare"], env))
        vendor = Principal(subject="key-benchmark", kind=PrincipalKind.vendor,
                           scopes=frozenset({"deals:read", "partners:read",
                                             "incentives:read"}))

        def signed() -> dict[str, str]:  # a signed principal lives a minute: one per request
            return {PRINCIPAL_HEADER: sign_principal(vendor, secret)}

        deals = Client(f"http://127.0.0.1:{ports['deals']}", signed)
        partners = Client(f"http://127.0.0.1:{ports['partners']}", signed)
        incentives = Client(f"http://127.0.0.1:{ports['incentives']}", signed)
        bare = Client(f"http://127.0.0.1:{ports['bare']}", dict)
        for client, path in ((deals, "/v1/deals"), (partners, "/v1/partners"),
                             (incentives, "/v1/mdf/claims"), (bare, "/v1/deals")):
            for _ in range(5):  # warm-up: connections, caches, the first plans
                client.get("warm-up", path)
        for _ in range(args.requests):
            bare.get("bare FastAPI endpoint (50 items)", "/v1/deals", {
                "status": "approved,won", "customer_country": "DE,FR",
                "sort": "-expected_close_date"})
        deal_lists(deals, rng, args.requests)
        own = partner_lists(f"http://127.0.0.1:{ports['deals']}", secret, sample["partners"],
                            rng, args.requests)
        searches(deals, partners, words, rng, args.requests)
        directory(partners, rng, args.requests)
        change_feed(deals, rng, args.requests)
        not_modified(deals, sample["deals"], args.requests)
        claims(incentives, words, rng, args.requests)
        rows = {}
        for client in (bare, deals, own, partners, incentives):
            for kind, times in client.times.items():
                if kind != "warm-up":
                    p50, p99 = quantiles(times)
                    rows[kind] = {"requests": len(times), "p50_ms": p50, "p99_ms": p99,
                                  "statuses": client.statuses[kind],
                                  "slowest": [f"{ms:.0f} ms {url}"
                                              for ms, url in client.slowest[kind]]}
            client.close()
        report["gets"] = rows
    finally:
        stop_all(servers, pg, work)
    print_report(args, report)


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    print()
    print(machine())
    sizes = report["sizes"]
    print(f"data: {sizes['partners']:,} partners, {sizes['deals']:,} deals, "
          f"{sizes['claims']:,} MDF claims (loaded in "
          + ", ".join(f"{k} {v:.0f} s" for k, v in report["load_s"].items()) + ")")
    print()
    print("| GET, one at a time                         | requests | p50 ms | p99 ms | statuses |")
    print("|--------------------------------------------|----------|--------|--------|----------|")
    for kind, r in report["gets"].items():
        statuses = ",".join(f"{s}x{n}" for s, n in sorted(r["statuses"].items()))
        print(f"| {kind:<42} | {r['requests']:8d} | {r['p50_ms']:6.1f} | {r['p99_ms']:6.1f} "
              f"| {statuses:<8} |")
    print()
    for kind, r in report["gets"].items():
        print(f"slowest {kind}: " + "; ".join(r["slowest"]))
    print(json.dumps({"summary": report}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
