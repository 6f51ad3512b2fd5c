"""``make bench`` (partner health): scoring every partner of a large programme, and the
scorecard read.

One PostgreSQL, migrated as ``make run`` does, gets ``--partners`` partner cards and their
facts as the portal keeps them (loaded by SQL in bulk): registrations spread as a programme
spreads them (a partner's share falls like 1/sqrt of its rank: about 1,000,000 over three
years for 100,000 partners), four in ten won (EUR or USD) and three in ten lost, MDF requests,
certifications earned and some lapsed, PSAT and NPS answers, the open deals and certifications
held. Then:

* **scoring all of them** as the worker's jobs do (every partner marked due, then batches of
  500 scored, each in its own transaction, under the default health model, with the churn and
  growth estimators trained first on the history): partners per CPU-second (this process and
  PostgreSQL's, every backend counted) and per second;
* **the scorecard** (``GET /v1/partner-health/{id}``, every measure with the facts behind it)
  one request at a time, for partners drawn uniformly and by their share of the facts, beside
  a bare FastAPI endpoint (no I/O) served the same way (uvicorn, one process each).

Prints figures; asserts none (the aim: scorecard p99 <= 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from typing import Any

import asyncpg
from attribution import bulk_load, dsn_of, quantiles, serve
from harness import machine, start, stop_all
from lists import Client
from portal import cpu_ticks

from prm_platform.db import make_engine, make_sessionmaker
from prm_portal.health import service
from prm_stack.embedded import free_port
from prm_stack.testing import vendor_headers

AIM_P99_MS = 50.0
TICKS = os.sysconf("SC_CLK_TCK")

# One statement per table, rank-skewed: partner r's registrations ~ C / sqrt(r).
_LOAD = """
CREATE TEMP TABLE bench_partners AS
  SELECT r, ('00000000-0000-4000-8000-' || lpad(to_hex(r), 12, '0'))::uuid AS id,
         greatest(1, floor(@C / sqrt(r)))::int AS regs
  FROM generate_series(1, @N) r;
INSERT INTO partner_cards (partner_id, name, type, country, status, tier, version, as_of)
  SELECT id, 'Partner ' || r, (ARRAY['reseller','msp','si','isv','referral'])[1 + r % 5],
         (ARRAY['US','DE','GB','FR','JP','NL','IN','BR','ES','IT'])[1 + (r * 7) % 10],
         'active', (ARRAY['Gold','Silver','Registered','Registered','Silver'])[1 + r % 5], 1,
         now() FROM bench_partners;
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT 'partner_created', id, id, current_date - 1200, NULL, NULL, gen_random_uuid(), now()
  FROM bench_partners;
CREATE TEMP TABLE bench_deals AS
  SELECT p.id AS partner_id, gen_random_uuid() AS deal_id,
         current_date - floor(random() * 1095)::int AS day, random() AS fate,
         round((1000 + random() * 49000)::numeric, 2) AS amount,
         CASE WHEN random() < 0.8 THEN 'EUR' ELSE 'USD' END AS currency
  FROM bench_partners p, generate_series(1, p.regs);
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT 'deal_registered', deal_id, partner_id, day, NULL, NULL, gen_random_uuid(), now()
  FROM bench_deals;
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT CASE WHEN fate < 0.4 THEN 'deal_won' ELSE 'deal_lost' END, deal_id, partner_id,
         least(current_date, day + 60), CASE WHEN fate < 0.4 THEN amount END,
         CASE WHEN fate < 0.4 THEN currency END, gen_random_uuid(), now()
  FROM bench_deals WHERE fate < 0.7 AND day + 60 <= current_date;
INSERT INTO deals (deal_id, partner_id, customer_name, customer_domain, status, version, amount,
                   currency, amount_version, as_of)
  SELECT deal_id, partner_id, 'Customer', NULL, 'approved', 2, amount, currency, 2, now()
  FROM bench_deals WHERE fate >= 0.7 AND day > current_date - 180;
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT 'mdf_requested', gen_random_uuid(), partner_id, day, 5000, 'EUR', gen_random_uuid(),
         now() FROM bench_deals WHERE fate > 0.9;
CREATE TEMP TABLE bench_certs AS
  SELECT p.id AS partner_id, gen_random_uuid() AS certification_id,
         current_date - floor(random() * 1000)::int AS earned, random() < 0.2 AS lapsed
  FROM bench_partners p, generate_series(1, (p.r % 5));
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT 'certification_earned', certification_id, partner_id, earned, NULL, NULL,
         gen_random_uuid(), now() FROM bench_certs;
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT 'certification_expired', certification_id, partner_id, least(current_date, earned + 700),
         NULL, NULL, gen_random_uuid(), now() FROM bench_certs WHERE lapsed;
INSERT INTO certifications (certification_id, partner_id, code, earned_on, expires_on,
                            expired_on, as_of)
  SELECT certification_id, partner_id, 'C', earned, earned + 730,
         CASE WHEN lapsed THEN least(current_date, earned + 700) END, now() FROM bench_certs;
INSERT INTO health_facts (kind, ref_id, partner_id, occurred_on, value, currency, event_id,
                          recorded_at)
  SELECT CASE WHEN k % 3 = 0 THEN 'survey_nps' ELSE 'survey_psat' END, gen_random_uuid(), p.id,
         current_date - floor(random() * 700)::int,
         CASE WHEN k % 3 = 0 THEN floor(random() * 11) ELSE 1 + floor(random() * 5) END,
         NULL, gen_random_uuid(), now()
  FROM bench_partners p, generate_series(1, (p.r * 13) % 6) k;
"""


async def load(url: str, partners: int) -> dict[str, Any]:
    # C such that the registrations add up to about 10 per partner (1,000,000 for 100,000).
    c = 10 * partners / (2 * partners ** 0.5)
    connection = await asyncpg.connect(dsn_of(url), server_settings={"search_path": "portal"})
    try:
        async with bulk_load(connection, ["health_facts", "deals", "certifications",
                                          "partner_cards"], schema="portal"):
            await connection.execute(
                _LOAD.replace("@C", str(c)).replace("@N", str(partners)))
        facts = await connection.fetchval("SELECT count(*) FROM health_facts")
        busiest = await connection.fetchval(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM health_facts GROUP BY partner_id) x")
        sample = await connection.fetch(
            "SELECT partner_id, count(*) AS n FROM health_facts GROUP BY partner_id")
    finally:
        await connection.close()
    return {"facts": facts, "busiest": busiest,
            "weights": [(r["partner_id"], r["n"]) for r in sample]}


async def score_all(url: str, pg_pid: int) -> dict[str, Any]:
    engine = make_engine(url, "portal")
    sessions = make_sessionmaker(engine)
    processes = {"scorer": os.getpid(), "PostgreSQL": pg_pid}
    try:
        started, before = time.monotonic(), cpu_ticks(processes)
        async with sessions() as session, session.begin():
            trained = await service.train_estimators(session)
        trained_s = time.monotonic() - started
        trained_ticks = cpu_ticks(processes)
        async with sessions() as session, session.begin():
            due = await service.mark_stale(session)
        scored = 0
        while True:
            async with sessions() as session, session.begin():
                done = await service.score_due(session)
            scored += done
            if done < service.SCORING_BATCH:
                break
        seconds = time.monotonic() - started - trained_s
        after = cpu_ticks(processes)
    finally:
        await engine.dispose()
    cpu = {name: (after[name] - trained_ticks[name]) / TICKS for name in processes}
    return {"estimators": trained, "training_s": trained_s,
            "training_cpu_s": sum(trained_ticks[n] - before[n] for n in processes) / TICKS,
            "due": due, "scored": scored, "seconds": seconds, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=200, help="scorecards of each kind")
    args = parser.parse_args()
    rng = random.Random(20261207)
    work, pg, url, secret = start("health", ("portal",))
    servers: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {}
    try:
        began = time.monotonic()
        loaded = asyncio.run(load(url, args.partners))
        report["load_s"] = time.monotonic() - began
        print(f"loaded {loaded['facts']:,} facts in {report['load_s']:.0f} s", file=sys.stderr)
        report["scoring"] = asyncio.run(score_all(url, pg.process.pid))
        print(f"scoring: {report['scoring']}", file=sys.stderr)
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret,
               "PRM_RATE_LIMIT_PER_MINUTE": "1000000"}
        ports = {name: free_port() for name in ("portal", "bare")}
        servers.append(serve("prm_portal.main:create_app", ports["portal"], env))
        servers.append(serve("portal:create_bare_app", ports["bare"], env))

        def signed() -> dict[str, str]:
            return vendor_headers(secret, ("health:read",), subject="key-benchmark")

        api = Client(f"http://127.0.0.1:{ports['portal']}", signed)
        bare = Client(f"http://127.0.0.1:{ports['bare']}", dict)
        ids = [p for p, _ in loaded["weights"]]
        weights = [n for _, n in loaded["weights"]]
        uniform = [rng.choice(ids) for _ in range(args.reads)]
        by_facts = rng.choices(ids, weights=weights, k=args.reads)
        busiest = max(loaded["weights"], key=lambda w: w[1])[0]
        for partner_id in uniform[:20]:  # warm-up
            api.get("warm-up", f"/v1/partner-health/{partner_id}")
            bare.get("warm-up", "/v1/partner-home")
        phases: list[tuple[str, Client, list[str]]] = [
            ("bare FastAPI endpoint (GET)", bare, ["/v1/partner-home"] * args.reads),
            ("scorecard, partners drawn uniformly", api,
             [f"/v1/partner-health/{p}" for p in uniform]),
            ("scorecard, partners drawn by their facts", api,
             [f"/v1/partner-health/{p}" for p in by_facts]),
            ("scorecard, the busiest partner", api,
             [f"/v1/partner-health/{busiest}"] * (args.reads // 4)),
            ("partners' health list, lowest first", api,
             ["/v1/partner-health?limit=50"] * (args.reads // 4)),
            ("programme view by tier, 90 days", api,
             ["/v1/programme-health?group_by=tier"] * (args.reads // 10)),
        ]
        rows = {}
        for kind, client, paths in phases:
            for path in paths:
                response = client.get(kind, path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
            p50, p99 = quantiles(client.times[kind])
            rows[kind] = {"requests": len(paths), "p50_ms": p50, "p99_ms": p99}
        report["reads"] = rows
        api.close()
        bare.close()
        report["loaded"] = {k: v for k, v in loaded.items() if k != "weights"}
        report["partners"] = args.partners
    finally:
        stop_all(servers, pg, work)
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    s = report["scoring"]
    cpu = sum(s["cpu"].values())
    print()
    print(machine())
    print(f"data: {report['partners']:,} partners, {report['loaded']['facts']:,} facts (the "
          f"busiest partner {report['loaded']['busiest']:,}), loaded in "
          f"{report['load_s']:.0f} s")
    print(f"estimators trained: {s['estimators']} in {s['training_s']:.1f} s "
          f"({s['training_cpu_s']:.1f} CPU-s)")
    print(f"scoring all partners: {s['scored']:,} scored in {s['seconds']:.1f} s, "
          f"{cpu:.1f} CPU-s ({', '.join(f'{k} {v:.1f}' for k, v in s['cpu'].items())}): "
          f"**{s['scored'] / cpu:,.0f} partners per CPU-second**, "
          f"{s['scored'] / s['seconds']:,.0f} per second")
    print()
    print("| read | requests | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for kind, row in report["reads"].items():
        print(f"| {kind} | {row['requests']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} |")
    worst = max(r["p99_ms"] for k, r in report["reads"].items() if k.startswith("scorecard"))
    print(f"\nscorecard p99 at most {worst:.1f} ms (aim <= {AIM_P99_MS:.0f} ms: "
          f"{'met' if worst <= AIM_P99_MS else 'not met'})")


if __name__ == "__main__":
    main()
