"""``make bench`` (second part): deal registration at scale, with the conflict check.

In one run on one machine it starts the whole stack (as ``make run`` does) and a bare FastAPI
endpoint, then:

* loads synthetic registrations with COPY (not requests): 10,000 first, then up to
  ``--registrations`` (1,000,000 by default), spread over 30 countries, with realistic names
  (invented words, industry words, legal forms of the country) and their keys computed by the
  service's own normalisation; the blocking-key index is rebuilt after each load, as a bulk
  load would;
* measures ``POST /v1/deals/conflict-check`` through the edge at 10,000 and at the full count
  (half the customers spellings of registered ones, half new), p50/p99;
* then, at the full count, ``POST /v1/deals`` through the edge with a new customer and an
  Idempotency-Key per request (conflict check included) against the bare endpoint, and bulk
  push (``POST /v1/deal-batches``, 1,000 per batch; one batch at a time, then two in flight)
  in registrations per second, with the CPU each process spent per registration.

Prints a table. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from prm_deals.matching.normalise import blocks, core_key, domain_key, name_key
from prm_stack.embedded import free_port
from prm_stack.launch import running_stack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import bare_endpoint, cpu_by_process, eligible_partner  # noqa: E402
from stack_cost import idle_rates  # noqa: E402
from telemetry import settle  # noqa: E402

SYLLABLES = ("ka", "lo", "mi", "ter", "vex", "zen", "dor", "ami", "qui", "bra", "sol", "nor",
             "tek", "lum", "vi", "ra", "gen", "tor", "plex", "cor", "sa", "fen", "gra", "hol",
             "jun", "kre", "mar", "nex", "ost", "pra", "rin", "sti", "tal", "ur", "vol", "wen",
             "xan", "yor", "zel", "bel", "cas", "dri", "el", "fal", "gor", "hel", "is", "jor")
INDUSTRY = ("Systems", "Logistics", "Foods", "Energy", "Consulting", "Software", "Media",
            "Retail", "Pharma", "Bank", "Insurance", "Textiles", "Automotive", "Chemicals",
            "Engineering", "Health", "Telecom", "Capital", "Holding", "Group", "Digital",
            "Robotics", "Analytics", "Airlines", "Hotels", "Construction", "Optics", "Labs")
COUNTRIES = {"US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "plc", "Limited"),
             "DE": ("GmbH", "AG", "GmbH & Co. KG"), "FR": ("SA", "SAS", "SARL"),
             "NL": ("B.V.", "N.V."), "ES": ("S.L.", "S.A."), "IT": ("S.p.A.", "S.r.l."),
             "JP": ("K.K.", "Co., Ltd."), "SE": ("AB",), "CH": ("AG", "GmbH"),
             "AU": ("Pty Ltd",), "CA": ("Inc.", "Ltd."), "BR": ("Ltda", "S.A."),
             "MX": ("S.A. de C.V.",), "IN": ("Pvt Ltd", "Limited"), "PL": ("Sp. z o.o.",),
             "DK": ("A/S", "ApS"), "NO": ("AS", "ASA"), "FI": ("Oy", "Oyj"),
             "AT": ("GmbH",), "BE": ("NV", "BV"), "IE": ("Ltd",), "SG": ("Pte Ltd",),
             "KR": ("Co., Ltd.",), "CN": ("Co., Ltd.",), "ZA": ("(Pty) Ltd",),
             "AR": ("S.A.",), "CZ": ("s.r.o.",), "PT": ("Lda",), "TR": ("A.S.",)}
TLDS = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "ES": "es",
        "IT": "it", "JP": "co.jp", "SE": "se", "CH": "ch", "AU": "com.au", "CA": "ca",
        "BR": "com.br", "MX": "com.mx", "IN": "in", "PL": "pl", "DK": "dk", "NO": "no",
        "FI": "fi", "AT": "at", "BE": "be", "IE": "ie", "SG": "com.sg", "KR": "co.kr",
        "CN": "cn", "ZA": "co.za", "AR": "com.ar", "CZ": "cz", "PT": "pt", "TR": "com.tr"}
COLUMNS = ("id", "partner_id", "customer_name", "customer_domain", "customer_country",
           "customer_name_key", "customer_core", "customer_blocks", "customer_domain_key",
           "amount", "currency",
           "expected_close_date", "status", "protected_until", "products", "deal_type",
           "private_offer", "conflicts", "version", "created_at", "updated_at")
NAME_INDEX = "ix_deals_open_blocks"
# The conflict check's latency is measured below saturation: a few portals checking at once.
CHECK_CONCURRENCY = 4


def invented(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def customer(rng: random.Random) -> dict:
    country = rng.choice(list(COUNTRIES))
    word = invented(rng)
    name = word if rng.random() < 0.3 else f"{word} {rng.choice(INDUSTRY)}"
    if rng.random() < 0.2:
        name = f"{name} {invented(rng)}"
    domain = f"{name.lower().replace(' ', '')[:40]}.{TLDS[country]}"
    return {"name": f"{name} {rng.choice(COUNTRIES[country])}", "domain": domain,
            "country": country}


def respelt(who: dict, rng: random.Random) -> dict:
    """Another partner's spelling of the same customer."""
    base = who["name"].rsplit(" ", 1)[0]
    form = rng.choice(COUNTRIES[who["country"]])
    name = rng.choice([base.upper(), base.lower(), f"{base}, {form}"])
    return {**who, "name": name, "domain": f"www.{who['domain']}"}


def records(rng: random.Random, count: int, partners: list[uuid.UUID], today: dt.date):
    for _ in range(count):
        who = customer(rng)
        created = dt.datetime.now(dt.UTC) - dt.timedelta(days=rng.random() * 80)
        key = name_key(who["name"])
        yield (uuid.uuid4(), rng.choice(partners), who["name"], who["domain"], who["country"],
               key, core_key(key), blocks(key, who["country"]), domain_key(who["domain"]),
               Decimal(rng.randint(1, 500) * 1000), "EUR", today + dt.timedelta(days=60),
               "submitted", created.date() + dt.timedelta(days=90), "[]", "new", False, "[]",
               1, created, created), who


async def copy_in(dsn: str, rng: random.Random, count: int, known: list[dict]) -> float:
    """COPY ``count`` registrations; returns the seconds it took (index rebuild included)."""
    started = time.perf_counter()
    partners = [uuid.uuid4() for _ in range(500)]
    connection = await asyncpg.connect(dsn, server_settings={"search_path": "deals"})
    try:
        await connection.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
        today = dt.date.today()
        batch: list[tuple] = []
        for row, who in records(rng, count, partners, today):
            batch.append(row)
            if len(known) < 50_000:
                known.append(who)
            if len(batch) == 50_000:
                await connection.copy_records_to_table("deals", records=batch,
                                                       columns=COLUMNS)
                batch = []
        if batch:
            await connection.copy_records_to_table("deals", records=batch, columns=COLUMNS)
        await connection.execute(
            f"CREATE INDEX {NAME_INDEX} ON deals USING gin (customer_blocks) "
            "WITH (fastupdate = off) WHERE status IN ('submitted', 'in_review', 'approved')")
        await connection.execute("VACUUM ANALYZE deals")
    finally:
        await connection.close()
    return time.perf_counter() - started


def bodies_file(directory: Path, name: str, bodies: list[dict]) -> str:
    path = directory / name
    path.write_text("\n".join(json.dumps(b) for b in bodies))
    return str(path)


def check_bodies(rng: random.Random, known: list[dict], count: int = 4000) -> list[dict]:
    return [{"customer": respelt(rng.choice(known), rng) if i % 2 else customer(rng)}
            for i in range(count)]


def measure(url: str, path: str, headers: list[str], args, keys: bool = False,
            concurrency: int | None = None) -> dict:
    result = _measure(url, path, headers, args, keys, concurrency)
    print(f"{url}: {result}", file=sys.stderr)
    return result


def _measure(url: str, path: str, headers: list[str], args, keys: bool,
             concurrency: int | None) -> dict:
    command = [sys.executable, str(HERE / "load.py"), url, "--bodies", path, "--duration",
               str(args.duration), "--concurrency", str(concurrency or args.concurrency)]
    if keys:
        command.append("--idempotency-keys")
    for header in headers:
        command += ["--header", header]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bulk_rate(stack, key: str, partner_id: str, rng: random.Random, batches: int,
              in_flight: int, idle: dict[str, float]) -> dict:
    """Push ``batches`` batches of 1,000 new customers, ``in_flight`` at a time, and share the
    CPU each process of the stack spent among the registrations made (ms each); then wait
    until every consumer has applied them (every outbox published, every process back to its
    ``idle`` rate): the rate with every consumer keeping up, and the whole stack's CPU per
    registration above idle until then."""
    auth = {"Authorization": f"Bearer {key}"}
    payloads = [json.dumps({"registrations": [
        {"partner_id": partner_id, "customer": customer(rng),
         "amount": {"amount": "12000.00", "currency": "EUR"},
         "expected_close_date": (dt.date.today() + dt.timedelta(days=60)).isoformat()}
        for _ in range(1000)]}) for _ in range(batches)]

    def push(payload: str) -> tuple[float, int]:
        with httpx.Client(base_url=stack.gateway_url, headers=auth, timeout=600,
                          trust_env=False) as client:
            started = time.perf_counter()
            response = client.post("/v1/deal-batches", content=payload,
                                   headers={"Content-Type": "application/json"})
            seconds = time.perf_counter() - started
            response.raise_for_status()
            result = response.json()
            return seconds, result["created"] + result["conflicts"]

    before = cpu_by_process(stack)
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        pushed = list(pool.map(push, payloads))
    elapsed = time.perf_counter() - started
    after = cpu_by_process(stack)
    made = sum(n for _, n in pushed)
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    cpu = {name: (after[name] - before[name]) * tick_ms / made for name in before}
    print(f"bulk push, {in_flight} in flight: {made / elapsed:.0f}/s", file=sys.stderr)
    settle(stack, quiet=sum(idle.values()), timeout=1800)
    caught_up, settled = time.perf_counter() - started, cpu_by_process(stack)
    whole = {name: max(0.0, settled[name] - before[name] - idle.get(name, 0) * caught_up)
             * tick_ms / made for name in before}
    print(f"bulk push, {in_flight} in flight, consumers caught up: {made / caught_up:.0f}/s",
          file=sys.stderr)
    return {"batches": batches, "registrations": made, "per_second": made / elapsed,
            "median_batch_s": statistics.median(s for s, _ in pushed), "cpu_ms": cpu,
            "caught_up_per_second": made / caught_up, "caught_up_cpu_ms": whole}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int,
                        default=int(os.environ.get("BENCH_REGISTRATIONS", 1_000_000)))
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(20261201)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
            running_stack(Path(state), {"PRM_GATEWAY_PORT": str(free_port()),
                                        "PRM_RATE_LIMIT_PER_MINUTE": "100000000"}) as stack:
        work = Path(state)
        dsn = make_url(stack.info["database_url"]).set(drivername="postgresql") \
            .render_as_string(hide_password=False)
        with bare_endpoint() as bare_port:
            key = stack.admin_key
            auth = [f"Authorization: Bearer {key}"]
            partner_id = eligible_partner(stack.gateway_url, key)
            known: list[dict] = []
            check_url = f"{stack.gateway_url}/v1/deals/conflict-check"

            loaded = asyncio.run(copy_in(dsn, rng, 10_000, known))
            print(f"10,000 registrations loaded in {loaded:.1f} s", file=sys.stderr)
            results["check 10k"] = measure(check_url, bodies_file(
                work, "check10k.jsonl", check_bodies(rng, known)), auth, args,
                concurrency=CHECK_CONCURRENCY)

            loaded = asyncio.run(copy_in(dsn, rng, args.registrations - 10_000, known))
            results["load"] = {"seconds": loaded, "rows": args.registrations - 10_000}
            print(f"{args.registrations - 10_000:,} more loaded in {loaded:.1f} s",
                  file=sys.stderr)
            results["check full"] = measure(check_url, bodies_file(
                work, "checkfull.jsonl", check_bodies(rng, known)), auth, args,
                concurrency=CHECK_CONCURRENCY)

            new = [{"partner_id": partner_id, "customer": customer(rng),
                    "amount": {"amount": "25000.00", "currency": "EUR"},
                    "expected_close_date": (dt.date.today() + dt.timedelta(days=60)
                                            ).isoformat()} for _ in range(30_000)]
            registrations = bodies_file(work, "register.jsonl", new)
            results["bare"] = measure(f"http://127.0.0.1:{bare_port}/v1/deals", registrations,
                                      [], args)
            results["register"] = measure(f"{stack.gateway_url}/v1/deals", registrations,
                                          auth, args, keys=True)
            settle(stack, quiet=1e9)  # the single registrations' events applied
            time.sleep(5)
            idle = idle_rates(stack, 10)
            for in_flight in (1, 2):
                results[f"bulk {in_flight}"] = bulk_rate(stack, key, partner_id, rng,
                                                         args.batches, in_flight, idle)

    full = f"{args.registrations:,}"
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"load client: tests/benchmarks/load.py, {args.concurrency} connections "
          f"({CHECK_CONCURRENCY} for the conflict check), {args.duration:.0f} s per measurement")
    print(f"loading: {results['load']['rows']:,} registrations by COPY in "
          f"{results['load']['seconds']:.0f} s (index rebuilt, VACUUM ANALYZE included)")
    print()
    print("| measurement                                         | req/s  | p50 ms | p99 ms |")
    print("|-----------------------------------------------------|--------|--------|--------|")
    for name, label in (("check 10k", "conflict check, 10,000 registrations"),
                        ("check full", f"conflict check, {full} registrations"),
                        ("bare", "bare FastAPI endpoint"),
                        ("register", f"POST /v1/deals via the edge, {full} registered")):
        r = results[name]
        print(f"| {label:<51} | {r['rps']:6.0f} | {r['p50_ms']:6.1f} | {r['p99_ms']:6.1f} |")
    print()
    growth = results["check full"]["p99_ms"] / results["check 10k"]["p99_ms"]
    print(f"conflict-check p99 growth from 10,000 to {full}: {growth:.2f}x")
    print(f"registration throughput ratio to bare: "
          f"{results['register']['rps'] / results['bare']['rps']:.3f}")
    for in_flight in (1, 2):
        bulk = results[f"bulk {in_flight}"]
        print(f"bulk push, {in_flight} batch(es) in flight: {bulk['registrations']:,} "
              f"registrations in {bulk['batches']} batches of 1,000: "
              f"{bulk['per_second']:.0f} registrations/s (median batch "
              f"{bulk['median_batch_s']:.2f} s); until every consumer had applied them: "
              f"{bulk['caught_up_per_second']:.0f} registrations/s")
    for key, title in (("cpu_ms", "while the batches were pushed"),
                       ("caught_up_cpu_ms", "until every consumer had applied them, above idle")):
        cpu = results["bulk 2"][key]
        print(f"CPU per registration in the bulk push (2 in flight), {title}, by process (ms):")
        for name in sorted(cpu, key=lambda n: -cpu[n]):
            if cpu[name] >= 0.005:
                print(f"  {name:<18} {cpu[name]:6.3f}")
        print(f"  {'total':<18} {sum(cpu.values()):6.3f}")
    errors = {k: r.get("errors") for k, r in results.items() if r.get("errors")}
    if errors:
        print(f"non-2xx answers: {errors}")


if __name__ == "__main__":
    main()
