"""``make bench`` (account mapping): mapping 100,000 vendor accounts against 100,000 partner
accounts, beside a plain join of the same lists by domain, and incremental updates.

One PostgreSQL, migrated as ``make run`` does, gets ``--accounts`` vendor accounts and as many
of one partner's (loaded by COPY, with the keys the upload computes): distinct company names
of one to three made-up words (a vocabulary of 20,000) and a legal form, half with a domain; a fifth
of the partner's accounts are vendor accounts as the partner writes them (another legal form,
case, a `www.` host, a word dropped from a three-word name), the rest its own. Then, in process:

* the partnership becomes active: every overlap computed (the key join, the matcher's scores,
  the rows written), in seconds and CPU-seconds (this process and PostgreSQL's);
* the reference: ``SELECT count(*)`` of the two lists joined on the registrable domain;
* incremental: 1,000 new partner accounts uploaded (``POST /v1/mapped-accounts``'s work:
  upsert, keys, overlaps), then 1,000 vendor accounts renamed.

Prints figures; asserts none.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import time
import uuid
from typing import Any

import asyncpg
from attribution import dsn_of
from harness import machine, start, stop_all
from portal import cpu_ticks
from sqlalchemy import text

from prm_deals.mapping import service
from prm_deals.mapping.schemas import MappedAccountIn
from prm_platform.db import make_engine, make_sessionmaker

TICKS = os.sysconf("SC_CLK_TCK")
FORMS = ("Inc", "LLC", "Ltd", "GmbH", "SA", "BV", "AG", "Corporation", "plc", "Oy")
COUNTRIES = ("US", "DE", "GB", "FR", "NL", "SE", "ES", "IT", "JP", "BR")


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        length = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels)
                          for _ in range(length)).capitalize())
    return sorted(words)


def companies(rng: random.Random, words: list[str], count: int, tag: str,
              taken: set[str] | None = None) -> list[dict[str, Any]]:
    """Distinct names (as a CRM's accounts are), one word in ten, two or three otherwise."""
    found = []
    taken = set() if taken is None else taken
    for i in range(count):
        while True:
            parts = rng.sample(words, rng.choice((1, 2, 2, 2, 2, 3, 3, 3, 3, 3)))
            name = " ".join(parts)
            if name not in taken:
                taken.add(name)
                break
        domain = f"{''.join(parts).lower()}{i % 7 or ''}.example" if rng.random() < 0.5 \
            else None
        found.append({"crm_id": f"{tag}-{i}", "name": f"{name} {rng.choice(FORMS)}",
                      "domain": domain, "country": rng.choice(COUNTRIES)})
    return found


def spelt_by_partner(rng: random.Random, account: dict[str, Any], i: int) -> dict[str, Any]:
    words = account["name"].split()[:-1]
    if len(words) == 3 and rng.random() < 0.3:
        words = words[:2]
    name = " ".join(words) + " " + rng.choice(FORMS)
    name = name.upper() if rng.random() < 0.2 else name
    domain = f"www.{account['domain']}" if account["domain"] and rng.random() < 0.5 \
        else account["domain"]
    return {"crm_id": f"P-{i}", "name": name, "domain": domain, "country": account["country"]}


async def load(url: str, owner: str, accounts: list[dict[str, Any]], population: str) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    rows = []
    for a in accounts:
        key, domain_k, keys = service.match_keys(a["name"], a["domain"])
        rows.append((uuid.uuid4(), owner, population, a["crm_id"], a["name"], a["domain"],
                     a["country"], key, domain_k, keys, now))
    connection = await asyncpg.connect(dsn_of(url), server_settings={"search_path": "deals"})
    try:
        await connection.copy_records_to_table(
            "mapped_accounts", records=rows, schema_name="deals",
            columns=["id", "owner", "population", "crm_id", "name", "domain", "country",
                     "name_key", "domain_key", "keys", "created_at"])
        await connection.execute("ANALYZE mapped_accounts")
    finally:
        await connection.close()


async def run(url: str, pg_pid: int, partner_id: uuid.UUID, rng: random.Random,
              words: list[str], vendor: list[dict[str, Any]]) -> dict[str, Any]:
    engine = make_engine(url, "deals")
    sessions = make_sessionmaker(engine)
    processes = {"mapper": os.getpid(), "PostgreSQL": pg_pid}
    report: dict[str, Any] = {}
    try:
        async with sessions() as session, session.begin():
            await session.execute(text("""
                INSERT INTO mapping_partnerships (partner_id, vendor_opted_in_at,
                    partner_opted_in_at, vendor_sharing, partner_sharing, version, updated_at)
                VALUES (:p, now(), now(), '{"customers": "overlaps"}',
                        '{"customers": "overlaps"}', 1, now())"""), {"p": partner_id})

        async def measured(name: str, work: Any) -> Any:
            before, started = cpu_ticks(processes), time.monotonic()
            async with sessions() as session, session.begin():
                result = await work(session)
            seconds = time.monotonic() - started
            after = cpu_ticks(processes)
            report[name] = {"seconds": seconds, "result": result,
                            "cpu": {k: (after[k] - before[k]) / TICKS for k in processes}}
            print(f"{name}: {report[name]}", file=sys.stderr)
            return result

        await measured("full mapping", lambda s: service.map_partnership(s, partner_id))
        await measured("plain join by domain", lambda s: s.scalar(text("""
            SELECT count(*) FROM mapped_accounts v JOIN mapped_accounts p
              ON p.domain_key = v.domain_key
            WHERE v.owner = 'vendor' AND p.owner <> 'vendor'
              AND v.removed_at IS NULL AND p.removed_at IS NULL""")))
        fresh = companies(rng, words, 800, "N", set()) + [
            spelt_by_partner(rng, v, 900_000 + i) for i, v in enumerate(rng.sample(vendor, 200))]
        new_items = [(i, MappedAccountIn(population="customers", **a))
                     for i, a in enumerate(fresh)]
        await measured("1,000 partner accounts added", lambda s: _count(service.upsert(
            s, str(partner_id), new_items)))
        renamed = [(i, MappedAccountIn(population="customers", **{
            **a, "name": a["name"].replace(a["name"].split()[-1], rng.choice(FORMS))
            + " Group"})) for i, a in enumerate(rng.sample(vendor, 1000))]
        await measured("1,000 vendor accounts renamed", lambda s: _count(service.upsert(
            s, "vendor", renamed)))
        async with sessions() as session:
            report["overlaps"] = await session.scalar(text(
                "SELECT count(*) FROM account_overlaps"))
    finally:
        await engine.dispose()
    return report


async def _count(outcomes: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for outcome in await outcomes:
        found[outcome.outcome] = found.get(outcome.outcome, 0) + 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="on each side")
    args = parser.parse_args()
    rng = random.Random(20261207)
    words = vocabulary(rng)
    taken: set[str] = set()
    vendor = companies(rng, words, args.accounts, "V", taken)
    shared = rng.sample(range(args.accounts), args.accounts // 5)
    partner = [spelt_by_partner(rng, vendor[i], n) for n, i in enumerate(shared)]
    partner += companies(rng, words, args.accounts - len(partner), "Q", taken)
    partner_id = uuid.uuid4()
    work, pg, url, _ = start("mapping", ("deals",))
    try:
        began = time.monotonic()
        asyncio.run(load(url, "vendor", vendor, "customers"))
        asyncio.run(load(url, str(partner_id), partner, "customers"))
        loaded_s = time.monotonic() - began
        report = asyncio.run(run(url, pg.process.pid, partner_id, rng, words, vendor))
    finally:
        stop_all([], pg, work)
    print()
    print(machine())
    print(f"data: {args.accounts:,} vendor accounts and {args.accounts:,} partner accounts "
          f"(a fifth of them vendor accounts as the partner spells them), keys computed and "
          f"loaded in {loaded_s:.0f} s; {report['overlaps']:,} overlaps at the end")
    print()
    print("| step | seconds | CPU-s (mapper, PostgreSQL) | result |")
    print("|---|---:|---:|---|")
    for name in ("full mapping", "plain join by domain", "1,000 partner accounts added",
                 "1,000 vendor accounts renamed"):
        row = report[name]
        cpu = ", ".join(f"{v:.1f}" for v in row["cpu"].values())
        print(f"| {name} | {row['seconds']:.2f} | {cpu} | {row['result']} |")
    full, plain = report["full mapping"]["seconds"], report["plain join by domain"]["seconds"]
    print(f"\nfull mapping / plain join by domain: {full / plain:.1f}x the time")


if __name__ == "__main__":
    main()
