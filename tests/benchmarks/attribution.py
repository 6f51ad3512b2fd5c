"""``make bench`` (attribution): crediting speed per model, a bulk recompute, and the KPI query.

In one run on one machine it measures:

* **deals attributed per CPU-second per model**, pure computation (no database): each of the
  nine models as ``prm_attribution.crediting`` computes it for one deal (its own weights, then
  the split into minor units), over realistic touch sets (1 to 5 partners, 1 to 3 touches each,
  popular partners more often), Shapley also at exactly 5 and 12 partners, Markov and Shapley
  learning from a programme history of ``history_deals`` closed deals (the rules' default,
  2,000); and all nine at once as ``compute`` does for every recompute;
* **time to recompute 100,000 deals** end to end: an embedded PostgreSQL with the attribution
  schema as its migrations define it, deals, touchpoints and the partner directory loaded by
  COPY, then every won or open deal recomputed through ``prm_attribution.results.service
  .recompute`` (one transaction per deal, as the event handlers run it: the deal locked, its
  touches and the history read, nine models computed, results, credits and the outbox event
  written), by ``--workers`` processes; and as many other deals in batches as the scheduled
  job recomputes them (one transaction and one read of the history per batch);
* **the KPI query over 1,000,000 credited deals**: results and credits of nine models per deal
  loaded by COPY into a database at migration 0008 (indexes rebuilt with the migration's own
  definitions, then ANALYZE), upgraded to the head as a deployed database would be (0009 fills
  the KPIs' counted credits from those rows), the service served by uvicorn as ``make run``
  serves it, and ``GET /v1/attribution-kpis`` sent one at a time (periods, models and filters
  varied), p50/p99, next to a bare FastAPI GET served the same way.

Prints a table with medians. Nothing here asserts timings. ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from prm_attribution.config import SCHEMA
from prm_attribution.crediting import positional as p
from prm_attribution.crediting.allocation import Claimant, largest_remainder, normalise
from prm_attribution.crediting.compute import (
    MODELS,
    DealFacts,
    compute,
    markov_weights,
    shapley_weights,
)
from prm_attribution.crediting.datadriven import History
from prm_attribution.deals.handlers import registration_touch_id
from prm_attribution.kpis.figures import MAX_IDS, Converter
from prm_attribution.kpis.service import CREDIT_SUMS, rate_runs
from prm_attribution.rules.schemas import AttributionRulesDocument
from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal
from prm_stack.embedded import (
    create_database,
    die_with_parent,
    free_port,
    remove_data,
    start_postgres,
    stop_process,
    wait_for_port,
)

SERVICE_DIR = Path(__file__).resolve().parents[2] / "services" / "attribution"
RULES = AttributionRulesDocument()  # the defaults version 1 is published with
INFLUENCE = ("co_sell", "referral", "consulting", "implementation", "integration",
             "technical_validation", "marketing", "training")
TYPES = ("reseller", "msp", "si", "isv", "consultant", "referral")
TIERS = ("Platinum", "Gold", "Silver", "Registered", None)
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "IT", "SE", "PL", "JP", "BR", "IN")
CURRENCIES = (("EUR", 0.6), ("USD", 0.3), ("GBP", 0.1))
OPEN = ("submitted", "in_review", "approved", "registered")
# How many partners a deal has: most have one or two (the registering partner and perhaps an
# SI or ISV), a few have five.
PARTNERS_PER_DEAL = ((1, 0.35), (2, 0.30), (3, 0.20), (4, 0.10), (5, 0.05))
# The dates the synthetic programme spans (deals registered over two years before TODAY).
TODAY = dt.date(2026, 12, 1)
SPAN_DAYS = 730


def uuid7(at: dt.datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for a given time (deal ids are v7 in the deals service: they sort by time)."""
    ms = int(at.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) \
        | rng.getrandbits(62)
    return uuid.UUID(int=value)


def pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class Programme:
    """Partners with a popularity that falls with rank (a few partners are on many deals)."""

    partners: list[uuid.UUID]
    cumulative: list[float]

    @classmethod
    def make(cls, rng: random.Random, count: int) -> Programme:
        weights = [1 / (rank + 10) for rank in range(count)]
        return cls([uuid.uuid4() for _ in range(count)], list(itertools.accumulate(weights)))

    def draw(self, rng: random.Random, n: int) -> list[uuid.UUID]:
        chosen: list[uuid.UUID] = []
        while len(chosen) < n:
            partner = rng.choices(self.partners, cum_weights=self.cumulative)[0]
            if partner not in chosen:
                chosen.append(partner)
        return chosen


@dataclass
class Deal:
    id: uuid.UUID
    partners: list[uuid.UUID]  # the registering partner first
    touches: list[p.Touch]
    domain_touches: set[uuid.UUID]  # touch ids recorded for the customer, not the deal
    registered_at: dt.datetime
    status: str
    closed_on: dt.date | None
    amount_minor: int
    currency: str

    @property
    def approved(self) -> bool:
        return self.status in ("approved", "registered", "won")


def make_deal(rng: random.Random, programme: Programme, *, partners: int | None = None,
              status: str | None = None) -> Deal:
    registered = dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC) - dt.timedelta(
        days=rng.uniform(1, SPAN_DAYS))
    if status is None:
        status = pick(rng, (("won", 0.35), ("open", 0.65)))
    if status == "open":
        status = rng.choice(OPEN)
    closed_on = None
    if status in ("won", "lost"):
        closed_on = min(TODAY, (registered + dt.timedelta(days=rng.uniform(15, 180))).date())
    deal_id = uuid7(registered, rng)
    who = programme.draw(rng, partners or pick(rng, PARTNERS_PER_DEAL))
    end = dt.datetime.combine(closed_on, dt.time(), tzinfo=dt.UTC) if closed_on else \
        registered + dt.timedelta(days=60)
    touches = [p.Touch(registration_touch_id(deal_id), who[0], "registration", registered)]
    domain_touches: set[uuid.UUID] = set()
    for partner in who:
        for _ in range(rng.randint(1, 3) if partner != who[0] else rng.randint(0, 1)):
            at = registered + (end - registered) * rng.uniform(-0.3, 0.95)
            touch = p.Touch(uuid.uuid4(), partner, rng.choice(INFLUENCE), at)
            touches.append(touch)
            if rng.random() < 0.2:
                domain_touches.add(touch.id)
    currency = pick(rng, CURRENCIES)
    return Deal(deal_id, who, touches, domain_touches, registered, status, closed_on,
                rng.randint(5, 500) * 100_000, currency)


def history_of(rng: random.Random, programme: Programme, count: int
               ) -> list[tuple[list[str], bool]]:
    """Closed deals as ``compute`` takes them: partners in touch order, and won or not."""
    history = []
    for _ in range(count):
        deal = make_deal(rng, programme, status=pick(rng, (("won", 0.55), ("lost", 0.45))))
        history.append(([str(t.partner_id) for t in p.ordered(deal.touches)],
                        deal.status == "won"))
    return history


# -- (a) models, pure computation ------------------------------------------------------------

def _split(deal: Deal, ordered: list[p.Touch], weights: dict[uuid.UUID, Fraction]) -> None:
    first_at: dict[uuid.UUID, dt.datetime] = {}
    for touch in ordered:
        first_at.setdefault(touch.partner_id, touch.occurred_at)
    shares = normalise(weights)
    largest_remainder(deal.amount_minor, [Claimant(pid, shares[pid], first_at[pid])
                                          for pid in first_at])


def _reference(deal: Deal, ordered: list[p.Touch]) -> dt.datetime:
    if deal.closed_on is not None:
        return dt.datetime.combine(deal.closed_on + dt.timedelta(days=1), dt.time(),
                                   tzinfo=dt.UTC)
    return ordered[-1].occurred_at


def model_runner(model: str, history: list[tuple[list[str], bool]]
                 ) -> Callable[[Deal], None]:
    """One model for one deal, as ``compute`` does it (its weights, then the split)."""
    rules = RULES
    positional: dict[str, Callable[[Deal, list[p.Touch]], list[Fraction]]] = {
        "first_touch": lambda d, o: p.first_touch(o),
        "last_touch": lambda d, o: p.last_touch(o),
        "linear": lambda d, o: p.linear(o),
        "time_decay": lambda d, o: p.time_decay(o, _reference(d, o),
                                                rules.time_decay_half_life_days),
        "position_based": lambda d, o: p.position_based(o),
        "w_shaped": lambda d, o: p.w_shaped(o),
        "custom_weights": lambda d, o: p.custom_weights(o, rules.custom_kind_weights,
                                                        rules.custom_default_weight),
    }

    def run(deal: Deal) -> None:
        ordered = p.ordered(deal.touches)
        if model in positional:
            _split(deal, ordered, p.by_partner(ordered, positional[model](deal, ordered)))
            return
        names = list(dict.fromkeys(str(t.partner_id) for t in ordered))
        # The history's chain is solved once (History.of keeps it) and read by every deal, as
        # the service does; the first deal of a round pays for the solve.
        solve = markov_weights if model == "markov" else shapley_weights
        found, _ = solve(History.of(history), names, rules)
        weights = {uuid.UUID(n): found[n] for n in names}
        _split(deal, ordered, weights)

    return run


def all_nine(history: list[tuple[list[str], bool]]) -> Callable[[Deal], None]:
    def run(deal: Deal) -> None:
        compute(deal.touches, DealFacts(deal.amount_minor, deal.approved,
                                        deal.closed_on if deal.status == "won" else None),
                RULES, history)
    return run


def rate(run: Callable[[Deal], None], deals: list[Deal], rounds: int, seconds: float
         ) -> tuple[float, float]:
    """Deals per second of CPU time (median over rounds, each at least ``seconds`` of CPU)
    and the median milliseconds of CPU per deal. CPU time, not wall time: on a shared machine
    the wall clock measures the neighbours, and this part is pure computation in one thread."""
    rates = []
    for _ in range(rounds):
        done, started = 0, time.process_time()
        for deal in itertools.cycle(deals):
            run(deal)
            done += 1
            if time.process_time() - started >= seconds:
                break
        rates.append(done / (time.process_time() - started))
    median = statistics.median(rates)
    return median, 1000 / median


def bench_models(args: argparse.Namespace, rng: random.Random, programme: Programme
                 ) -> list[tuple[str, float, float]]:
    history = history_of(rng, programme, RULES.history_deals)
    realistic = [make_deal(rng, programme) for _ in range(300)]
    five = [make_deal(rng, programme, partners=5) for _ in range(100)]
    twelve = [make_deal(rng, programme, partners=12) for _ in range(20)]
    rows: list[tuple[str, float, float]] = []
    # The history's chain and game are solved once per history version and kept (History.of);
    # measured on their own, then warmed so that each deal below pays only for its own part.
    solves = []
    journeys = History.of(history).journeys
    for _ in range(args.rounds):
        fresh = History(journeys)
        started = time.process_time()
        solved = fresh.markov(RULES.markov_exact_up_to, [])
        fresh.shapley()
        solves.append(time.process_time() - started)
    chain = fresh.chain
    ms = statistics.median(solves) * 1000
    rows.append((f"the history, once per version ({chain.partner_states:,} partner states, "
                 f"largest cycle group {chain.largest_cycle_group:,}, "
                 f"{'exact' if solved.exact else 'dense, bound ' + str(solved.error_bound)})",
                 1000 / ms, ms))
    History.of(history).markov(RULES.markov_exact_up_to, [])
    cases: list[tuple[str, Callable[[Deal], None], list[Deal]]] = [
        (model, model_runner(model, history), realistic) for model in MODELS]
    cases += [("shapley, 5 partners", model_runner("shapley", history), five),
              ("shapley, 12 partners", model_runner("shapley", history), twelve),
              ("markov, 12 partners", model_runner("markov", history), twelve),
              ("all nine (compute)", all_nine(history), realistic),
              ("all nine, 5 partners", all_nine(history), five),
              ("all nine, 12 partners", all_nine(history), twelve)]
    for label, run, deals in cases:
        per_second, ms = rate(run, deals, args.rounds, args.seconds)
        rows.append((label, per_second, ms))
        print(f"{label}: {per_second:,.0f} deals per CPU-second", file=sys.stderr)
    return rows


# -- the database ------------------------------------------------------------------------------

def migrate(database_url: str, secret: str, service_dir: Path = SERVICE_DIR,
            target: str = "head") -> None:
    env = {**os.environ, "PRM_DATABASE_URL": database_url, "PRM_INTERNAL_SECRET": secret}
    result = subprocess.run([sys.executable, "-m", "alembic", "-c",
                             str(service_dir / "alembic.ini"), "upgrade", target],
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"migrations failed:\n{result.stderr}")


def dsn_of(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn_of(database_url),
                                 server_settings={"search_path": SCHEMA, "timezone": "UTC"})


@contextlib.asynccontextmanager
async def bulk_load(connection: asyncpg.Connection, tables: Sequence[str],
                    schema: str = SCHEMA, keys: bool = True):
    """Indexes and keys of ``tables`` dropped for the COPY and rebuilt afterwards from their
    own definitions (so the schema stays the migration's), then ANALYZE. ``keys=False`` keeps
    primary and unique keys (that other tables' foreign keys need)."""
    names = list(tables)
    constraints = [] if not keys else await connection.fetch(
        "SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE conrelid = ANY(SELECT oid FROM pg_class WHERE relname = "
        "ANY($1::text[]) AND relnamespace = $2::regnamespace) AND contype IN ('p', 'u')",
        names, schema)
    indexes = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $2 AND tablename = "
        "ANY($1::text[]) AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE "
        "contype IN ('p', 'u'))", names, schema)
    for index in indexes:
        await connection.execute(f'DROP INDEX "{index["indexname"]}"')
    for constraint in constraints:
        await connection.execute(
            f'ALTER TABLE {constraint["tab"]} DROP CONSTRAINT "{constraint["conname"]}"')
    yield
    await connection.execute("SET maintenance_work_mem = '256MB'")
    for constraint in constraints:
        await connection.execute(f'ALTER TABLE {constraint["tab"]} ADD CONSTRAINT '
                                 f'"{constraint["conname"]}" {constraint["def"]}')
    for index in indexes:
        await connection.execute(index["indexdef"])
    for table in names:
        await connection.execute(f"VACUUM ANALYZE {table}")


class Copier:
    """Rows gathered and sent by COPY in chunks."""

    def __init__(self, connection: asyncpg.Connection, table: str, columns: Sequence[str],
                 chunk: int = 50_000) -> None:
        self.connection, self.table, self.columns, self.chunk = (connection, table,
                                                                 list(columns), chunk)
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    async def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            await self.flush()

    async def flush(self) -> None:
        if self.rows:
            await self.connection.copy_records_to_table(self.table, records=self.rows,
                                                        columns=self.columns)
            self.count += len(self.rows)
            self.rows = []


DEAL_COLUMNS = ("deal_id", "partner_id", "customer_name", "customer_domain", "customer_country",
                "amount", "currency", "status", "approved", "registered_at", "closed_on",
                "version", "attribution_revision", "updated_at")
TOUCH_COLUMNS = ("id", "partner_id", "deal_id", "customer_domain", "kind", "occurred_at",
                 "evidence", "source", "recorded_by", "recorded_at")


def deal_row(deal: Deal, rng: random.Random) -> tuple[Any, ...]:
    digits = 2
    return (deal.id, deal.partners[0], f"Customer {deal.id.hex[:10]}", domain(deal),
            rng.choice(COUNTRIES), Decimal(deal.amount_minor).scaleb(-digits), deal.currency,
            deal.status, deal.approved, deal.registered_at, deal.closed_on, 3, 0,
            deal.registered_at)


def domain(deal: Deal) -> str:
    return f"{deal.id.hex[:12]}.example"


async def load_directory(connection: asyncpg.Connection, rng: random.Random,
                         programme: Programme) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i, partner in enumerate(programme.partners):
        joined = now - dt.timedelta(days=rng.uniform(SPAN_DAYS, 3 * SPAN_DAYS))
        rows.append((partner, f"Partner {i:05d}", rng.choice(TYPES), rng.choice(COUNTRIES),
                     "active", rng.choice(TIERS), 1, joined, now))
    await connection.copy_records_to_table("partner_directory", records=rows, columns=(
        "partner_id", "name", "type", "country", "status", "tier", "version", "joined_at",
        "last_event_at"))


async def load_fx_rates(connection: asyncpg.Connection) -> None:
    rows = []
    month = dt.date(TODAY.year - 3, 1, 1)
    while month <= TODAY:
        for currency, rate in (("USD", Decimal("0.9240")), ("GBP", Decimal("1.1650"))):
            rows.append((uuid.uuid4(), currency, "EUR", rate, month, dt.datetime.now(dt.UTC)))
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    # The projection of the incentives ledger's rates, loaded as its events would fill it.
    await connection.copy_records_to_table("fx_rates", records=rows, columns=(
        "id", "currency", "base_currency", "rate", "valid_on", "recorded_at"))


async def load_deals(database_url: str, rng: random.Random, programme: Programme,
                     credited: int) -> tuple[list[uuid.UUID], float, int]:
    """``credited`` won or open deals, and for the history a third as many lost, rejected or
    expired ones, with their touches. Returns the ids to recompute, the seconds it took and the
    touch count."""
    started = time.perf_counter()
    connection = await connect(database_url)
    ids: list[uuid.UUID] = []
    try:
        await load_directory(connection, rng, programme)
        evidence = orjson.dumps({"description": "Benchmark touch"}).decode()
        async with bulk_load(connection, ("deals", "touchpoints")):
            deals = Copier(connection, "deals", DEAL_COLUMNS)
            touches = Copier(connection, "touchpoints", TOUCH_COLUMNS)
            total = credited + credited // 3
            for i in range(total):
                status = None if i < credited else pick(
                    rng, (("lost", 0.7), ("rejected", 0.2), ("expired", 0.1)))
                deal = make_deal(rng, programme, status=status)
                if i < credited:
                    ids.append(deal.id)
                await deals.add(deal_row(deal, rng))
                for t in deal.touches:
                    by_domain = t.id in deal.domain_touches
                    await touches.add((
                        t.id, t.partner_id, None if by_domain else deal.id,
                        domain(deal), t.kind, t.occurred_at,
                        evidence, "event" if t.kind == "registration" else "api",
                        "benchmark", t.occurred_at))
            await deals.flush()
            await touches.flush()
    finally:
        await connection.close()
    return ids, time.perf_counter() - started, touches.count


# -- (b) recompute through the service -------------------------------------------------------

def recompute_slice(database_url: str, ids: list[uuid.UUID]) -> tuple[int, list[float]]:
    """In a worker process: recompute each deal in its own transaction, as the event handlers
    do. Returns how many changed, and each deal's milliseconds."""
    from prm_attribution.results.service import recompute
    from prm_platform.db import make_engine, make_sessionmaker

    async def run() -> tuple[int, list[float]]:
        engine = make_engine(database_url, SCHEMA, pool_size=1)
        sessionmaker = make_sessionmaker(engine)
        changed, times = 0, []
        try:
            for deal_id in ids:
                started = time.perf_counter()
                async with sessionmaker() as session:
                    changed += await recompute(session, deal_id)
                    await session.commit()
                times.append((time.perf_counter() - started) * 1000)
        finally:
            await engine.dispose()
        return changed, times

    return asyncio.run(run())


def recompute_batches(database_url: str, ids: list[uuid.UUID]) -> tuple[int, list[float]]:
    """In a worker process: recompute in batches of the scheduled job's size, one transaction
    per batch with the history read once (as ``results.background`` runs it). Returns how many
    changed, and each deal's milliseconds (the batch's history read spread over its deals)."""
    from prm_attribution.results.background import BATCH
    from prm_attribution.results.service import read_history, recompute
    from prm_platform.db import make_engine, make_sessionmaker

    async def run() -> tuple[int, list[float]]:
        engine = make_engine(database_url, SCHEMA, pool_size=1)
        sessionmaker = make_sessionmaker(engine)
        changed, times = 0, []
        try:
            for start in range(0, len(ids), BATCH):
                batch = ids[start:start + BATCH]
                started = time.perf_counter()
                async with sessionmaker() as session:
                    history = await read_history(session)
                    shared = (time.perf_counter() - started) * 1000 / len(batch)
                    for deal_id in batch:
                        at = time.perf_counter()
                        changed += await recompute(session, deal_id, history=history)
                        times.append((time.perf_counter() - at) * 1000 + shared)
                    await session.commit()
        finally:
            await engine.dispose()
        return changed, times

    return asyncio.run(run())


def bench_recompute(database_url: str, ids: list[uuid.UUID], workers: int,
                    slice_runner: Callable[[str, list[uuid.UUID]], tuple[int, list[float]]]
                    = recompute_slice) -> dict[str, Any]:
    slices = [ids[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(slice_runner, [database_url] * workers, slices))
    seconds = time.perf_counter() - started
    times = [t for _, ts in done for t in ts]
    p50, p99 = quantiles(times)
    return {"deals": len(ids), "changed": sum(c for c, _ in done), "seconds": seconds,
            "per_second": len(ids) / seconds, "p50_ms": p50, "p99_ms": p99}


async def recompute_tables(database_url: str) -> dict[str, int]:
    connection = await connect(database_url)
    try:
        return {table: await connection.fetchval(f"SELECT count(*) FROM {table}")
                for table in ("attribution_results", "attribution_credits", "outbox")}
    finally:
        await connection.close()


# -- (c) KPIs over credited deals --------------------------------------------------------------

RESULT_COLUMNS = ("deal_id", "rules_version", "model", "basis", "amount_minor", "currency",
                  "details", "computed_at")
CREDIT_COLUMNS = ("deal_id", "rules_version", "model", "partner_id", "role", "share",
                  "credit_minor")


def details_of(model: str, partners: list[uuid.UUID]) -> str:
    """Model figures of the shape ``compute`` records (their size is what matters here)."""
    if model == "time_decay":
        return '{"half_life_days": "7"}'
    if model == "markov":
        return orjson.dumps({"history_deals": 2000, "conversion_probability": "611/1000",
                             "removal_effects": {str(x): "1/3" for x in partners}}).decode()
    if model == "shapley":
        return orjson.dumps({"history_deals": 2000, "wins_explained": 41, "exact": True,
                             "samples": 0, "values": {str(x): "41/3" for x in partners}}
                            ).decode()
    return "{}"


async def load_credited(database_url: str, rng: random.Random, programme: Programme,
                        count: int) -> tuple[float, dict[str, int]]:
    """``count`` won or open deals with results and credits under all nine models (rules
    version 1), as the service stores them."""
    started = time.perf_counter()
    connection = await connect(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        await load_directory(connection, rng, programme)
        await load_fx_rates(connection)
        tables = ("deals", "attribution_results", "attribution_credits")
        async with bulk_load(connection, tables):
            deals = Copier(connection, "deals", DEAL_COLUMNS)
            results = Copier(connection, "attribution_results", RESULT_COLUMNS)
            credits = Copier(connection, "attribution_credits", CREDIT_COLUMNS)
            for _ in range(count):
                deal = make_deal(rng, programme)
                await deals.add(deal_row(deal, rng))
                basis = "won" if deal.status == "won" else "pipeline"
                n = len(deal.partners)
                base, left = divmod(deal.amount_minor, n)
                share = f"1/{n}"
                for model in MODELS:
                    await results.add((deal.id, 1, model, basis, deal.amount_minor,
                                       deal.currency, details_of(model, deal.partners), now))
                    for k, partner in enumerate(deal.partners):
                        role = "sourced" if k == 0 and deal.approved else "influenced"
                        await credits.add((deal.id, 1, model, partner, role, share,
                                           base + (left if k == 0 else 0)))
            for copier in (deals, results, credits):
                await copier.flush()
        sizes = {table: await connection.fetchval(
            "SELECT pg_total_relation_size($1::regclass)", table) for table in tables}
        sizes["credit rows"] = credits.count
    finally:
        await connection.close()
    return time.perf_counter() - started, sizes


async def settle_counted(database_url: str) -> dict[str, int]:
    """After the upgrade: VACUUM ANALYZE of the counted credits (autovacuum would in time; the
    index-only scans want the visibility map) and their size and rows."""
    connection = await connect(database_url)
    try:
        await connection.execute("VACUUM ANALYZE attribution_kpi_credits")
        await connection.execute("VACUUM ANALYZE deals")
        return {"attribution_kpi_credits": await connection.fetchval(
                    "SELECT pg_total_relation_size('attribution_kpi_credits')"),
                "counted rows": await connection.fetchval(
                    "SELECT count(*) FROM attribution_kpi_credits")}
    finally:
        await connection.close()


def create_bare_app() -> FastAPI:
    """The baseline: a GET with the KPI route's query parameters and a page of 50 KPI-shaped
    rows, no database, no authentication."""
    app = FastAPI()
    row = {"partner_id": str(uuid.uuid4()), "partner_name": "Partner 00001",
           "partner_type": "si", "partner_tier": "Gold", "partner_country": "DE",
           **{name: {"amount": "48000.00", "currency": "EUR"} for name in (
               "sourced_revenue", "influenced_revenue", "sourced_pipeline",
               "influenced_pipeline")},
           "registrations": 4, "registrations_won": 1, "registrations_decided": 2,
           "win_rate": "0.5000", "time_to_first_deal_days": 41,
           "deal_ids": [str(uuid.uuid4()) for _ in range(20)], "unconverted_deal_ids": [],
           "fx_rates_used": []}

    @app.get("/v1/attribution-kpis")
    async def kpis(start: dt.date = dt.date(2026, 1, 1), end: dt.date = dt.date(2026, 4, 1),
                   model: str = "linear", limit: int = 50) -> dict[str, Any]:
        return {"items": [row] * limit, "next_cursor": None}

    return app


def serve(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """uvicorn, one worker, the options the stack's supervisor uses."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", target, "--app-dir",
         str(Path(__file__).resolve().parent), "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        env=env, preexec_fn=die_with_parent)
    wait_for_port(port, process, target)
    return process


def kpi_queries(rng: random.Random, programme: Programme, count: int) -> Iterator[str]:
    """Quarters and months of the programme's two years, each model, some filters."""
    periods = []
    for quarter in range(8):
        start = TODAY - dt.timedelta(days=SPAN_DAYS) + dt.timedelta(days=91 * quarter)
        periods.append((start, start + dt.timedelta(days=91)))
        periods.append((start, start + dt.timedelta(days=30)))
    filters = ["", "", "", "&tier=Gold", "&country=DE", "&partner_type=si",
               f"&partner_id={programme.partners[0]}", f"&partner_id={programme.partners[500]}"]
    for _ in range(count):
        start, end = rng.choice(periods)
        yield (f"/v1/attribution-kpis?from={start}&to={end}&model={rng.choice(MODELS)}"
               f"{rng.choice(filters)}")


def time_gets(url: str, paths: list[str], headers: Callable[[], dict[str, str]]
              ) -> dict[str, Any]:
    """Sequential GETs, one connection (latency, not throughput): p50/p99 in ms."""
    times = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=600, trust_env=False) as client:
        for path in paths[:3]:  # warm-up: connections, caches, the first plans
            client.get(path, headers=headers())
        for path in paths:
            sent = headers()  # a signed principal lives a minute: signed per request
            started = time.perf_counter()
            response = client.get(path, headers=sent)
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    p50, p99 = quantiles(times)
    slowest = sorted(zip(times, paths, strict=True), reverse=True)[:3]
    return {"requests": len(paths), "p50_ms": p50, "p99_ms": p99, "max_ms": max(times),
            "statuses": statuses, "slowest": [f"{ms:.0f} ms {path}" for ms, path in slowest]}


# The KPI route's statements over the deals and the counted credits, as the service runs them
# (first page, no filters, one quarter).
EXPLAINED = {
    "partners page": (
        "SELECT p.partner_id, pd.name, pd.type, pd.tier, pd.country, pd.joined_at "
        "FROM programme_partners p LEFT JOIN partner_directory pd USING (partner_id) "
        "ORDER BY p.partner_id LIMIT 51"),
    "counted credits of 51 partners, one quarter": CREDIT_SUMS.text,
    "registrations of 51 partners, one quarter": (
        "SELECT partner_id, count(*) AS registered, count(*) FILTER (WHERE status = 'won') "
        "AS won FROM deals WHERE partner_id = ANY(:ids) AND registered_at >= :from_ts "
        "AND registered_at < :to_ts GROUP BY partner_id"),
    "first wins of 51 partners": (
        "SELECT p.id AS partner_id, (SELECT min(closed_on) FROM deals WHERE status = 'won' "
        "AND partner_id = p.id) AS first FROM unnest(CAST(:ids AS uuid[])) AS p(id)"),
}


def positional(statement: str, arguments: dict[str, Any]) -> tuple[str, list[Any]]:
    """A statement with ``:name`` parameters as asyncpg takes it: ``$n`` and the values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return (re.sub(r"(?<![:\w]):([a-z_]+)", number, statement),
            [arguments[name] for name in names])


async def explain(database_url: str) -> dict[str, str]:
    """EXPLAIN ANALYZE of the KPI route's statements, first page, no filters."""
    connection = await connect(database_url)
    plans = {}
    try:
        ids = [r["partner_id"] for r in await connection.fetch(
            "SELECT DISTINCT partner_id FROM deals ORDER BY partner_id LIMIT 51")]
        start = TODAY - dt.timedelta(days=182)
        end = start + dt.timedelta(days=91)
        runs, _ = rate_runs(Converter([SimpleNamespace(**r) for r in await connection.fetch(
            "SELECT currency, rate, valid_on FROM fx_rates WHERE base_currency = 'EUR' "
            "ORDER BY currency, valid_on")], "EUR"), start, end)
        arguments = {"ids": ids, "start": start, "end": end, "from_ts": midnight(start),
                     "to_ts": midnight(end), "model": "linear", "max_ids": MAX_IDS, **runs}
        for name, statement in EXPLAINED.items():
            sql, values = positional(statement, arguments)
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *values)
            plans[name] = "\n".join(r[0] for r in rows)
    finally:
        await connection.close()
    return plans


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (math.nan, math.nan)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small sizes, one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per model (median)")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="at least this long per model and round")
    parser.add_argument("--partners", type=int, default=2000, help="partners in the programme")
    parser.add_argument("--recompute-deals", type=int, default=100_000,
                        help="won or open deals loaded and recomputed (0: skip)")
    parser.add_argument("--recompute-sample", type=int, default=1_000,
                        help="recompute this many of them, drawn at random, and extrapolate "
                        "to all (0: recompute every one)")
    parser.add_argument("--workers", type=int, default=2, help="recompute processes")
    parser.add_argument("--kpi-deals", type=int, default=1_000_000,
                        help="credited deals loaded for the KPI query (0: skip)")
    parser.add_argument("--kpi-requests", type=int, default=40)
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the KPI statements")
    parser.add_argument("--skip-models", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 0.2
        args.recompute_deals = min(args.recompute_deals, 2_000)
        args.recompute_sample = min(args.recompute_sample or 300, 300)
        args.kpi_deals = min(args.kpi_deals, 20_000)
        args.kpi_requests = min(args.kpi_requests, 10)
    rng = random.Random(20261201)
    programme = Programme.make(rng, args.partners)
    report: dict[str, Any] = {}
    if not args.skip_models:
        report["models"] = bench_models(args, rng, programme)

    work = Path(tempfile.mkdtemp(prefix="prm-bench-attribution-"))
    pg = None
    servers: list[subprocess.Popen[bytes]] = []
    try:
        if args.recompute_deals or args.kpi_deals:
            pg = start_postgres(work / "pgdata")
        secret = secrets.token_urlsafe(32)
        if args.recompute_deals and pg is not None:
            create_database(pg, "attribution_recompute")
            url = pg.database_url("attribution_recompute")
            migrate(url, secret)
            ids, seconds, touches = asyncio.run(load_deals(url, rng, programme,
                                                           args.recompute_deals))
            print(f"{len(ids):,} deals to recompute ({touches:,} touches) loaded in "
                  f"{seconds:.0f} s", file=sys.stderr)
            rng.shuffle(ids)  # in no particular order, as a rules change would reach them
            sample = ids[:args.recompute_sample] if args.recompute_sample else ids
            report["recompute"] = {**bench_recompute(url, sample, args.workers),
                                   "loaded": len(ids),
                                   "load_s": seconds, "touches": touches,
                                   "rows": asyncio.run(recompute_tables(url))}
            print(f"recompute: {report['recompute']}", file=sys.stderr)
            # The batch path (the scheduled job's): other deals, as many, history read once
            # per batch.
            batched = ids[len(sample):2 * len(sample)] or sample
            report["recompute_batched"] = bench_recompute(url, batched, args.workers,
                                                          recompute_batches)
            print(f"recompute in batches: {report['recompute_batched']}", file=sys.stderr)
        if args.kpi_deals and pg is not None:
            create_database(pg, "attribution_kpis")
            url = pg.database_url("attribution_kpis")
            # Loaded as a database of the release before the counted credits, then upgraded:
            # migration 0009 fills them from the credits, results and deals already there.
            migrate(url, secret, target="0008")
            seconds, sizes = asyncio.run(load_credited(url, rng, programme, args.kpi_deals))
            print(f"{args.kpi_deals:,} credited deals loaded in {seconds:.0f} s: {sizes}",
                  file=sys.stderr)
            upgraded = time.perf_counter()
            migrate(url, secret)
            sizes.update(asyncio.run(settle_counted(url)))
            upgrade_s = time.perf_counter() - upgraded
            print(f"upgraded (counted credits filled, vacuumed) in {upgrade_s:.0f} s: {sizes}",
                  file=sys.stderr)
            if args.explain:
                for name, plan in asyncio.run(explain(url)).items():
                    print(f"\n-- {name}\n{plan}", file=sys.stderr)
            env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret}
            service_port, bare_port = free_port(), free_port()
            servers.append(serve("prm_attribution.main:create_app", service_port, env))
            servers.append(serve("attribution:create_bare_app", bare_port, env))
            vendor = Principal(subject="key-benchmark", kind=PrincipalKind.vendor,
                               scopes=frozenset({"attribution:read"}))
            paths = list(kpi_queries(rng, programme, args.kpi_requests))
            bare = time_gets(f"http://127.0.0.1:{bare_port}", paths, dict)
            kpis = time_gets(f"http://127.0.0.1:{service_port}", paths, lambda: {
                PRINCIPAL_HEADER: sign_principal(vendor, secret)})
            report["kpis"] = {"load_s": seconds, "upgrade_s": upgrade_s, "sizes": sizes,
                              "service": kpis, "bare": bare}
            print(f"kpis: {kpis}\nbare: {bare}", file=sys.stderr)
    finally:
        for server in servers:
            stop_process(server)
        if pg is not None:
            pg.stop()
        remove_data(work / "pgdata")
        shutil.rmtree(work, ignore_errors=True)
    print_report(args, report)


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}; load average at the end "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"programme: {args.partners:,} partners; Markov and Shapley learn from "
          f"{RULES.history_deals:,} closed deals; medians of {args.rounds} rounds")
    if "models" in report:
        print()
        print("| model (realistic deals: 1-5 partners) | deals per CPU-second | CPU ms per deal |")
        print("|----------------------------------------|----------------------|-----------------|")
        for label, per_second, ms in report["models"]:
            print(f"| {label:<38} | {per_second:20,.0f} | {ms:15.3f} |")
    if "recompute" in report:
        r = report["recompute"]
        print()
        every = r["loaded"] / r["per_second"]
        print(f"recompute through the service, {args.workers} processes: {r['loaded']:,} "
              f"won or open deals loaded ({r['touches']:,} touches, with a third as many lost "
              f"or rejected for the history; COPY in {r['load_s']:.0f} s); {r['deals']:,} of "
              f"them recomputed in {r['seconds']:.0f} s: {r['per_second']:,.1f} deals/s, per "
              f"deal p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms ({r['changed']:,} "
              f"changed; rows: {r['rows']})")
        label = "measured" if r["deals"] == r["loaded"] else "extrapolated from the sample"
        print(f"time to recompute all {r['loaded']:,}: **{every / 60:,.1f} min** ({label})")
    if "recompute_batched" in report:
        b, loaded = report["recompute_batched"], report["recompute"]["loaded"]
        print(f"recompute in batches (one transaction and one history read per batch, as the "
              f"scheduled job): {b['deals']:,} recomputed in {b['seconds']:.0f} s: "
              f"{b['per_second']:,.1f} deals/s, per deal p50 {b['p50_ms']:.1f} ms, p99 "
              f"{b['p99_ms']:.1f} ms; all {loaded:,}: **{loaded / b['per_second'] / 60:,.1f} "
              f"min**")
    if "kpis" in report:
        k = report["kpis"]
        sizes = k["sizes"]
        mib = {t: v / 2**20 for t, v in sizes.items() if not t.endswith("rows")}
        print()
        print(f"KPI data: {args.kpi_deals:,} credited deals, {sizes['credit rows']:,} credit "
              f"rows (nine models), loaded by COPY in {k['load_s']:.0f} s; the upgrade to the "
              f"counted credits ({sizes['counted rows']:,} rows) in {k['upgrade_s']:.0f} s; "
              "on disk (MiB): " + ", ".join(f"{t} {v:,.0f}" for t, v in mib.items()))
        print()
        print("| GET, one at a time                      | requests | p50 ms | p99 ms |")
        print("|-----------------------------------------|----------|--------|--------|")
        for label, r in (("bare FastAPI endpoint", k["bare"]),
                         ("GET /v1/attribution-kpis", k["service"])):
            print(f"| {label:<39} | {r['requests']:8d} | {r['p50_ms']:6.1f} | "
                  f"{r['p99_ms']:6.1f} |")
        print("slowest: " + "; ".join(k["service"]["slowest"]))
        if set(k["service"]["statuses"]) != {200}:
            print(f"statuses: {k['service']['statuses']}")
    print(json.dumps({"summary": {
        k: v for k, v in report.items() if k != "models"}}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
