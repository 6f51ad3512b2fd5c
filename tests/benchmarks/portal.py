"""``make bench`` (portal): the read model of people's screens at a large programme's size.

One PostgreSQL (``track_commit_timestamp`` on), migrated as ``make run`` does, gets the portal
schema loaded with ``--partners`` partner cards and ``--deals`` deals spread over them (a few
partners hold thousands, most a handful: partner ``k`` of ``n`` is drawn with a probability
about proportional to ``1/sqrt(k)``), each with its search entry, and per partner (drawn the
same way) MDF allocations, fund requests (and their search entries) and claims, rebate and
SPIFF accruals, payouts, certifications, tier changes, tier and onboarding progress, plus
``--notifications`` old notifications (a partner org's and the vendor's), indexes rebuilt and
the tables analysed.
Then the portal API and a bare FastAPI endpoint are served the same way (uvicorn, one process
each) and measured in two parts:

1. GETs one at a time (latency, not throughput), each kind ``--requests`` times: the partner
   home as the partner's own key and as vendor staff naming it (half the partners drawn
   uniformly, half by their share of the deals: the busy ones sign in more), the home of the
   partner with the most deals; ``/v1/search`` as vendor staff and as a partner, for a rare
   customer name (a word about one registration in a million holds), a common word (an
   industry word, in about 3% of the names) and two words as typed (a name and the start of
   the next); the first page of notifications; and the bare endpoint's home- and search-shaped
   answers. Aims: home p99 <= 30 ms, search p99 <= 100 ms.
2. Commit -> notification received over server-sent events at ``--stream-rate`` events/s for
   ``--stream-seconds``: a tansu broker, the portal worker as deployed (``python -m
   prm_portal.worker``: its one consumer, every subscription of its spec) reading the
   contexts' topics, ``--partner-streams`` partner orgs' and ``--vendor-streams`` vendor
   staff's streams open (httpx), and events produced in open loop (registrations and claims
   to review for the vendor; approvals of registrations, fund requests and claims for
   partners, half of them for the orgs whose streams are open). Each notification's latency
   runs from the commit of the worker's transaction that wrote it (its ``xid``'s commit
   timestamp) to the moment its ``data:`` line is read; the time from the event's send to
   that commit is shown beside it, and the CPU each process spent per event. Aim: p99 <= 1 s.

Prints tables; nothing here asserts timings. ``--explain`` prints EXPLAIN ANALYZE of the home
for the busiest partner, of each search shape and of a vendor stream's poll.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from attribution import bulk_load, dsn_of, migrate, quantiles, serve
from fastapi import FastAPI
from lists import COUNTRIES, SUFFIXES, SYLLABLES, Client, vocabulary
from run import _children, _cpu_ticks
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from prm_contracts import (
    Amount,
    Customer,
    DealApprovedV1,
    DealRegisteredV1,
    MdfClaimApprovedV1,
    MdfClaimSubmittedV1,
    MdfRequestApprovedV1,
    OnboardingProgressV1,
    OnboardingTaskDue,
    PartnerTierProgressV1,
    TierShortfall,
)
from prm_events.envelope import CloudEvent, new_event
from prm_events.kafka import ensure_topics, make_producer
from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal
from prm_portal.config import Settings
from prm_portal.home.service import _HOME
from prm_portal.notifications import stream as portal_stream
from prm_portal.search.endpoints import search as portal_search
from prm_portal.worker import spec as worker_spec
from prm_stack.embedded import (
    create_database,
    die_with_parent,
    free_port,
    remove_data,
    start_broker,
    start_postgres,
    stop_process,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "portal"
# A second word in three names of five: an industry word (the common words of a search).
INDUSTRY = ("Systems", "Solutions", "Logistics", "Software", "Consulting", "Industries",
            "Networks", "Health", "Energy", "Foods", "Digital", "Technologies", "Media",
            "Retail", "Capital", "Labs", "Services", "Analytics", "Security", "Engineering")
ACTIVITIES = ("Webinar", "Trade show", "Search ads", "Roadshow", "Training", "Email campaign",
              "Field event", "Co-branded content", "Hackathon", "Customer summit")
READS = frozenset({"portal:read", "partners:read", "deals:read", "incentives:read"})
TOPICS = {"/prm/deals": DealRegisteredV1.topic, "/prm/incentives": MdfClaimApprovedV1.topic}


# -- the data ----------------------------------------------------------------------------------

async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn_of(url), server_settings={"search_path": SCHEMA,
                                                                "timezone": "UTC"})


# Partner index 1..$n of row g, drawn so that the first partners hold the most rows (a share
# like 1/sqrt(k)): with 100,000 partners and 1,000,000 deals the busiest holds about 3,000.
def _skewed(n: str) -> str:
    return f"least({n}::bigint, 1 + floor({n}::bigint * power(random(), 2))::bigint)"


PARTNER_ID = "md5('p' || {})::uuid"

_LOAD = [
    # Partners: names like customers', their card and search entry.
    ("partner_cards", """
        INSERT INTO partner_cards (partner_id, name, type, country, status, tier, version, as_of)
        SELECT md5('p' || g)::uuid,
            w[(1 + (g * 7919) % cardinality(w))::int] || ' '
                || CASE WHEN g % 5 < 3 THEN ind[(1 + (g * 31) % cardinality(ind))::int]
                        ELSE w[(1 + (g * 104729) % cardinality(w))::int] END
                || ' ' || s[(1 + g % cardinality(s))::int],
            (ARRAY['reseller', 'msp', 'si', 'isv', 'mssp', 'referral'])[(1 + g % 6)::int],
            c[(1 + g % cardinality(c))::int],
            (ARRAY['active', 'active', 'active', 'active', 'onboarding', 'suspended'])[
                (1 + g % 6)::int],
            (ARRAY['Platinum', 'Gold', 'Silver', 'Registered', NULL])[(1 + g % 5)::int],
            (1 + g % 7)::int, now() - make_interval(mins => ((g * 37) % 500000)::int)
        FROM generate_series(1::bigint, $1) g,
             (SELECT $2::text[] AS w, $3::text[] AS s, $4::text[] AS c, $5::text[] AS ind) v
    """, ("partners", "words", "suffixes", "countries", "industry")),
    ("tier_changes", """
        INSERT INTO tier_changes (partner_id, tier, previous_tier, direction, criteria, reason,
                                  changed_at, version)
        SELECT partner_id, tier, (ARRAY['Silver', 'Registered', 'Gold'])[1 + abs(hashtext(
                   partner_id::text)) % 3], 'promotion',
               '{"revenue": "120000.00", "certified_people": "3"}', 'revenue reached',
               as_of, version
        FROM partner_cards WHERE tier IS NOT NULL AND abs(hashtext(partner_id::text)) % 2 = 0
    """, ()),
    ("onboarding", """
        INSERT INTO onboarding (partner_id, plan_id, completed_at, as_of)
        SELECT partner_id, md5('plan' || type)::uuid, as_of - interval '30 days', as_of
        FROM partner_cards WHERE status <> 'onboarding'
    """, ()),
    ("certifications", f"""
        INSERT INTO certifications (certification_id, partner_id, code, contact_id, earned_on,
                                    expires_on, expired_on, as_of)
        SELECT md5('cert' || g)::uuid, {PARTNER_ID.format(_skewed("$1"))},
            (ARRAY['SALES-101', 'TECH-201', 'TECH-301', 'SEC-401', 'CLOUD-501'])[(1 + g % 5)::int],
            md5('contact' || g)::uuid, e - 730, e,
            CASE WHEN e < current_date AND g % 2 = 0 THEN e END, now() - interval '1 day'
        FROM (SELECT g, current_date + (random() * 900 - 300)::int AS e
              FROM generate_series(1::bigint, $2) g) x
    """, ("partners", "certifications")),
    # Deals: a first word of the 5,832 invented ones (one in ten a rarer word of four
    # syllables: 104,976 of them), an industry word or another invented word, a legal form.
    ("deals", f"""
        INSERT INTO deals (deal_id, partner_id, customer_name, customer_domain, status,
                           version, amount, currency, amount_version, protected_until,
                           protected_version, as_of)
        SELECT md5('d' || g)::uuid, {PARTNER_ID.format("pi")}, name,
            lower(replace(name, ' ', '-')) || '-' || g || '.example', st, ver,
            round((500 + r * 250000)::numeric, 2),
            (ARRAY['EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'USD', 'USD', 'USD', 'GBP'])[
                (1 + pi % 10)::int], ver,
            CASE WHEN st IN ('approved', 'won', 'lost', 'expired')
                 THEN current_date + (r * 150 - 30)::int END,
            CASE WHEN st IN ('approved', 'won', 'lost', 'expired') THEN 2 ELSE 0 END,
            now() - make_interval(mins => (r * 1000000)::int)
        FROM (SELECT g, pi, r,
                CASE WHEN r1 < 0.1
                     THEN initcap(sy[1 + (r2 * 18)::int % 18] || sy[1 + (r3 * 18)::int % 18]
                                  || sy[1 + (r4 * 18)::int % 18] || sy[1 + (r * 18)::int % 18])
                     ELSE w[1 + (r2 * cardinality(w))::int % cardinality(w)] END
                || ' ' || CASE WHEN r3 < 0.6 THEN ind[1 + (r4 * cardinality(ind))::int
                                                     % cardinality(ind)]
                               ELSE w[1 + (r4 * cardinality(w))::int % cardinality(w)] END
                || ' ' || s[(1 + g % cardinality(s))::int] AS name,
                st[1 + (r5 * 20)::int % 20] AS st,
                CASE st[1 + (r5 * 20)::int % 20] WHEN 'submitted' THEN 1 WHEN 'in_review' THEN 2
                     WHEN 'approved' THEN 2 WHEN 'rejected' THEN 2 ELSE 3 END AS ver
              FROM (SELECT g, {_skewed("$1")} AS pi, random() AS r, random() AS r1,
                           random() AS r2, random() AS r3, random() AS r4, random() AS r5
                    FROM generate_series(1::bigint, $2) g) d,
                   (SELECT $3::text[] AS w, $4::text[] AS s, $5::text[] AS ind,
                           $6::text[] AS sy,
                           ARRAY['submitted', 'submitted', 'in_review', 'approved', 'approved',
                                 'approved', 'approved', 'approved', 'rejected', 'rejected',
                                 'won', 'won', 'won', 'won', 'won', 'lost', 'lost', 'lost',
                                 'expired', 'expired'] AS st) v) x
    """, ("partners", "deals", "words", "suffixes", "industry", "syllables")),
    ("mdf_allocations", f"""
        INSERT INTO mdf_allocations (allocation_id, partner_id, amount, currency, as_of)
        SELECT md5('a' || g || '/' || k)::uuid, {PARTNER_ID.format("g")},
            CASE k WHEN 1 THEN 50000 ELSE 20000 END, CASE k WHEN 1 THEN 'EUR' ELSE 'USD' END,
            now() - interval '200 days'
        FROM generate_series(1::bigint, $1) g, generate_series(1, 2) k
        WHERE k = 1 OR g % 5 = 0
    """, ("partners",)),
    ("mdf_requests", f"""
        INSERT INTO mdf_requests (request_id, partner_id, allocation_id, status, planned,
                                  currency, activity_type, activity_version, version, as_of)
        SELECT md5('r' || g)::uuid, {PARTNER_ID.format("pi")}, md5('a' || pi || '/1')::uuid,
            st, round((1000 + r * 19000)::numeric, 2), 'EUR', act[(1 + g % cardinality(act))::int],
            1, CASE st WHEN 'submitted' THEN 1 ELSE 2 END,
            now() - make_interval(mins => (r * 400000)::int)
        FROM (SELECT g, {_skewed("$1")} AS pi, random() AS r,
                     (ARRAY['submitted', 'submitted', 'changes_requested', 'approved',
                            'approved', 'approved', 'approved', 'rejected', 'rejected',
                            'expired', 'claimed', 'claimed', 'claimed', 'claimed', 'claimed',
                            'claimed', 'claimed', 'claimed', 'claimed', 'claimed'])[
                         1 + (random() * 20)::int % 20] AS st
              FROM generate_series(1::bigint, $2) g) x, (SELECT $3::text[] AS act) v
    """, ("partners", "requests", "activities")),
    ("mdf_claims", """
        INSERT INTO mdf_claims (claim_id, request_id, partner_id, status, claimed, approved,
                                currency, version, as_of)
        SELECT md5('claim' || request_id)::uuid, request_id, partner_id, st,
            round(planned * 0.9, 2), CASE st WHEN 'approved' THEN round(planned * 0.85, 2) END,
            currency, CASE st WHEN 'submitted' THEN 1 ELSE 2 END, as_of + interval '20 days'
        FROM (SELECT *, (ARRAY['submitted', 'approved', 'approved', 'approved', 'rejected'])[
                  1 + abs(hashtext(request_id::text)) % 5] AS st
              FROM mdf_requests WHERE status = 'claimed') r
    """, ()),
    ("accruals", f"""
        INSERT INTO accruals (accrual_id, movement, partner_id, kind, amount, currency, as_of)
        SELECT md5('acc' || g)::uuid, CASE WHEN g % 10 = 0 THEN 'reversed' ELSE 'accrued' END,
            {PARTNER_ID.format(_skewed("$1"))},
            CASE WHEN g % 3 = 0 THEN 'spiff' ELSE 'rebate' END,
            round((50 + random() * 5000)::numeric, 2), 'EUR',
            now() - make_interval(mins => (random() * 500000)::int)
        FROM generate_series(1::bigint, $2) g
    """, ("partners", "accruals")),
    ("payouts", f"""
        INSERT INTO payouts (batch_id, partner_id, status, total, currency, period_from,
                             period_to, paid_on, payment_reference, version, as_of)
        SELECT md5('pay' || g)::uuid, {PARTNER_ID.format(_skewed("$1"))}, st,
            round((100 + random() * 20000)::numeric, 2), 'EUR', t - 30, t,
            CASE st WHEN 'paid' THEN t + 10 END,
            CASE st WHEN 'paid' THEN 'PAY-' || g END, CASE st WHEN 'paid' THEN 3 ELSE 2 END,
            now() - interval '1 day'
        FROM (SELECT g, current_date - (random() * 700)::int AS t,
                     (ARRAY['paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'approved',
                            'approved', 'exported'])[(1 + g % 10)::int] AS st
              FROM generate_series(1::bigint, $2) g) x
    """, ("partners", "payouts")),
    ("search_entries", """
        INSERT INTO search_entries (kind, id, partner_id, title, subtitle, status, version,
                                    updated_at)
        SELECT 'partner', partner_id, partner_id, name,
               concat_ws(' ', type, country, tier), status, version, as_of FROM partner_cards
        UNION ALL
        SELECT 'deal', deal_id, partner_id, customer_name, customer_domain, status, version,
               as_of FROM deals
        UNION ALL
        SELECT 'mdf_request', request_id, partner_id, activity_type,
               planned::text || ' ' || currency, status, version, as_of FROM mdf_requests
    """, ()),
    # Where each partner stands towards its next tier, and in its onboarding plan (for the
    # partners still onboarding), as the partners service's last progress events said.
    ("tier_progress", """
        INSERT INTO tier_progress (partner_id, progress, version, as_of)
        SELECT partner_id, $1::jsonb || jsonb_build_object('partner_id', partner_id), 2,
               as_of FROM partner_cards WHERE tier IS DISTINCT FROM 'Platinum'
    """, ("tier progress",)),
    ("onboarding_progress", """
        INSERT INTO onboarding_progress (partner_id, progress, version, as_of)
        SELECT partner_id, $1::jsonb || jsonb_build_object('partner_id', partner_id), 3,
               as_of FROM partner_cards WHERE status = 'onboarding'
    """, ("onboarding progress",)),
    # Old notifications: seven in ten a partner org's, the rest the vendor's staff's.
    ("notifications", f"""
        INSERT INTO notifications (id, event_id, audience, partner_id, scope, kind, title, body,
                                   data, subject_type, subject_id, occurred_at)
        SELECT md5('n' || g)::uuid, md5('e' || g)::uuid, aud,
            {PARTNER_ID.format("pi")},
            CASE WHEN k < 3 THEN 'deals:read' ELSE 'incentives:read' END,
            (CASE aud WHEN 'partner' THEN ARRAY['deal.approved', 'deal.rejected',
                  'deal.protection_ending', 'mdf_request.approved', 'mdf_claim.approved']
                  ELSE ARRAY['deal.review_needed', 'deal.extension_requested',
                             'deal.review_needed', 'mdf_request.review_needed',
                             'mdf_claim.review_needed'] END)[1 + k],
            'Deal registration approved',
            'Your registration for a customer is approved and protected until 2027-03-31.',
            jsonb_build_object('deal_id', md5('d' || g)::uuid, 'status', 'approved'),
            CASE WHEN k < 3 THEN 'deal' ELSE 'mdf_request' END, md5('d' || g)::uuid,
            now() - make_interval(mins => (random() * 259200)::int)
        FROM (SELECT g, {_skewed("$1")} AS pi, (g % 5)::int AS k,
                     CASE WHEN g % 10 < 7 THEN 'partner' ELSE 'vendor' END AS aud
              FROM generate_series(1::bigint, $2) g) x
    """, ("partners", "notifications")),
]


async def load(url: str, sizes: dict[str, int], words: list[str]) -> dict[str, float]:
    values: dict[str, Any] = {**sizes, "words": words, "suffixes": list(SUFFIXES),
                              "countries": list(COUNTRIES), "industry": list(INDUSTRY),
                              "syllables": list(SYLLABLES), "activities": list(ACTIVITIES),
                              **progress_payloads()}
    took: dict[str, float] = {}
    connection = await connect(url)
    try:
        await connection.execute("SELECT setseed(0.2026)")
        present = {r[0] for r in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1", SCHEMA)}
        load = [step for step in _LOAD if step[0] in present]
        tables = [table for table, _, _ in load]
        started = time.perf_counter()
        async with bulk_load(connection, tables, SCHEMA, keys=False):
            for table, statement, parameters in load:
                begun = time.perf_counter()
                await connection.execute(statement, *[values[p] for p in parameters])
                took[table] = time.perf_counter() - begun
            took["rows"] = time.perf_counter() - started
        took["indexes and ANALYZE"] = time.perf_counter() - started - took["rows"]
    finally:
        await connection.close()
    return took


def progress_payloads() -> dict[str, str]:
    """The progress events' data the worker keeps whole (their partner_id set per row)."""
    anyone = uuid.UUID(int=0)
    tier = PartnerTierProgressV1(
        partner_id=anyone, tier="Silver", next_tier="Gold", shortfalls=[
            TierShortfall(criterion="revenue", code="revenue_below_minimum",
                          required="250000.00", actual="180000.00", currency="EUR",
                          message="Revenue is 180000.00 EUR; Gold takes 250000.00 EUR."),
            TierShortfall(criterion="active_certifications",
                          code="certifications_below_minimum", required="3", actual="2",
                          message="2 active certifications; Gold takes 3.")],
        criteria={"revenue": "180000.00", "active_certifications": "2", "won_deals": "7"},
        evaluated_on=dt.date.today(), version=2)
    onboarding = OnboardingProgressV1(
        partner_id=anyone, plan_id=uuid.UUID(int=1), tasks_total=8, tasks_done=5,
        tasks_due=[OnboardingTaskDue(task_id=uuid.UUID(int=10 + i), title=title,
                                     due_on=dt.date.today() + dt.timedelta(days=7 * i))
                   for i, title in enumerate(("Sign the partner agreement",
                                              "Complete SALES-101", "Register a first deal"))],
        version=3)
    return {"tier progress": tier.model_dump_json(),
            "onboarding progress": onboarding.model_dump_json()}


async def samples(url: str, rng: random.Random, vocabulary_words: set[str]) -> dict[str, Any]:
    connection = await connect(url)
    try:
        uniform = [r[0] for r in await connection.fetch(
            "SELECT partner_id FROM partner_cards ORDER BY random() LIMIT 500")]
        by_deals = [r[0] for r in await connection.fetch(
            "SELECT partner_id FROM deals TABLESAMPLE BERNOULLI (1) ORDER BY random() "
            "LIMIT 500")]
        busiest = await connection.fetchrow(
            "SELECT partner_id, count(*) AS n FROM deals GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        names = [(r["partner_id"], r["customer_name"]) for r in await connection.fetch(
            "SELECT partner_id, customer_name FROM deals TABLESAMPLE BERNOULLI (1) "
            "ORDER BY random() LIMIT 2000")]
        sizes = {}
        for label, table in (("partners", "partner_cards"), ("deals", "deals"),
                             ("search entries", "search_entries"),
                             ("MDF allocations", "mdf_allocations"),
                             ("MDF requests", "mdf_requests"), ("MDF claims", "mdf_claims"),
                             ("accruals", "accruals"), ("payouts", "payouts"),
                             ("certifications", "certifications"),
                             ("tier changes", "tier_changes"),
                             ("tier progress", "tier_progress"),
                             ("onboarding progress", "onboarding_progress"),
                             ("notifications", "notifications")):
            if await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                sizes[label] = await connection.fetchval(f"SELECT count(*) FROM {table}")
        common = {w: await connection.fetchval(
            "SELECT count(*) FROM search_entries WHERE search_text LIKE $1",
            f"%{w.lower()}%") for w in INDUSTRY[:3]}
    finally:
        await connection.close()
    mixed = [p for pair in zip(uniform, by_deals, strict=False) for p in pair]
    rng.shuffle(names)
    rare = [n.split()[0] for _, n in names if n.split()[0] not in vocabulary_words]
    return {"mixed": mixed, "busy": by_deals, "busiest": busiest["partner_id"],
            "busiest_deals": busiest["n"], "names": names, "rare": rare, "sizes": sizes,
            "common_counts": common}


# -- part 1: GETs one at a time ----------------------------------------------------------------

def create_bare_app() -> FastAPI:
    """The baseline: a home-shaped answer and a page of 20 search results, no database, no
    authentication."""
    app = FastAPI()
    money = [{"amount": "125000.00", "currency": "EUR"}, {"amount": "8000.00",
                                                          "currency": "USD"}]
    stamp = "2026-11-22T09:30:00Z"
    home = {
        "partner_id": str(uuid.uuid4()),
        "partner": {"name": "Karomi Systems GmbH", "type": "reseller", "country": "DE",
                    "status": "active", "tier": "Gold", "as_of": stamp},
        "tier": {"current": "Gold", "previous": "Silver", "direction": "promotion",
                 "criteria": {"revenue": "120000.00"}, "reason": "revenue reached",
                 "changed_at": stamp, "as_of": stamp},
        "onboarding": {"completed": True, "completed_at": stamp, "as_of": stamp},
        "certifications": {"active": 2, "expiring": [{"certification_id": str(uuid.uuid4()),
                                                      "code": "TECH-201", "contact_id": None,
                                                      "expires_on": "2027-01-15"}],
                           "as_of": stamp},
        "deals": {"open": 12, "by_status": {"submitted": 3, "approved": 9, "won": 20},
                  "pipeline": money,
                  "protection_ending": [{"deal_id": str(uuid.uuid4()),
                                         "customer_name": "Globex Corporation",
                                         "status": "approved", "protected_until": "2026-12-10",
                                         "days_left": 9}] * 3, "as_of": stamp},
        "mdf": {"allocated": money, "available": money, "used": money,
                "requests_awaiting_decision": 1, "requests_sent_back": 0,
                "claims_awaiting_decision": 1, "as_of": stamp},
        "accruals": {"earned": money, "as_of": stamp},
        "payouts": {"last": {"batch_id": str(uuid.uuid4()), "status": "paid",
                             "total": money[0], "currency": "EUR", "period_from": "2026-10-01",
                             "period_to": "2026-10-31", "paid_on": "2026-11-10",
                             "payment_reference": "PAY-1"}, "next": None, "as_of": stamp},
    }
    item = {"kind": "deal", "id": str(uuid.uuid4()), "partner_id": str(uuid.uuid4()),
            "title": "Karomi Systems GmbH", "subtitle": "karomi-systems.example",
            "status": "approved", "updated_at": stamp}

    @app.get("/v1/partner-home")
    async def partner_home(partner_id: uuid.UUID | None = None) -> dict[str, Any]:
        return home

    @app.get("/v1/search")
    async def search(q: str, limit: int = 20) -> dict[str, Any]:
        return {"items": [item] * limit}

    return app


def signer(secret: str, principal: Callable[[], Principal]) -> Callable[[], dict[str, str]]:
    def headers() -> dict[str, str]:  # a signed principal lives a minute: one per request
        return {PRINCIPAL_HEADER: sign_principal(principal(), secret)}
    return headers


def vendor_principal() -> Principal:
    return Principal(subject="key-benchmark", kind=PrincipalKind.vendor, scopes=READS)


def partner_principal(partner_id: uuid.UUID) -> Principal:
    return Principal(subject=f"key-partner-{partner_id}", kind=PrincipalKind.partner,
                     partner_id=partner_id, scopes=READS)


def query_shapes(sample: dict[str, Any], rng: random.Random, own: list[tuple[uuid.UUID, str]]
                 ) -> dict[str, str]:
    """A rare customer name, a common word and two words as typed, from ``own`` names."""
    partner_id, name = rng.choice(own)
    words = name.split()
    rare = rng.choice(sample["rare"]) if own is sample["names"] else words[0]
    return {"rare customer name": rare.lower(),
            "common word": rng.choice(INDUSTRY).lower(),
            "two words": f"{words[0].lower()} {words[1][:4].lower()}"}


def gets(base: str, bare_base: str, secret: str, sample: dict[str, Any], rng: random.Random,
         count: int) -> list[Client]:
    chosen: list[uuid.UUID] = [sample["busiest"]]
    vendor = Client(base, signer(secret, vendor_principal))
    partner = Client(base, signer(secret, lambda: partner_principal(chosen[-1])))
    bare = Client(bare_base, dict)
    for client, path, params in ((vendor, "/v1/partner-home", {"partner_id": chosen[0]}),
                                 (partner, "/v1/partner-home", None),
                                 (vendor, "/v1/search", {"q": "karomi"}),
                                 (bare, "/v1/partner-home", None),
                                 (bare, "/v1/search", {"q": "x"})):
        for _ in range(5):  # warm-up: connections, caches, the first plans
            client.get("warm-up", path, params)
    for _ in range(count):
        bare.get("bare: home-shaped answer", "/v1/partner-home")
        bare.get("bare: 20 search results", "/v1/search", {"q": "karomi"})
    mixed = sample["mixed"]
    for i in range(count):
        chosen.append(mixed[i % len(mixed)])
        partner.get("home: a partner's own", "/v1/partner-home")
        vendor.get("home: vendor staff naming one", "/v1/partner-home",
                   {"partner_id": mixed[(i + 1) % len(mixed)]})
    chosen.append(sample["busiest"])
    for _ in range(count):
        partner.get(f"home: the busiest partner ({sample['busiest_deals']:,} deals)",
                    "/v1/partner-home")
    by_partner: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    for partner_id, name in sample["names"]:
        by_partner.setdefault(partner_id, []).append((partner_id, name))
    for _ in range(count):
        for shape, q in query_shapes(sample, rng, sample["names"]).items():
            vendor.get(f"search as vendor: {shape}", "/v1/search", {"q": q})
        partner_id = rng.choice(sample["busy"])
        chosen.append(partner_id)
        own = by_partner.get(partner_id) or [(partner_id, rng.choice(sample["names"])[1])]
        for shape, q in query_shapes(sample, rng, own).items():
            partner.get(f"search as partner: {shape}", "/v1/search", {"q": q})
    for i in range(count):
        chosen.append(mixed[i % len(mixed)])
        partner.get("notifications: a partner's first page", "/v1/notifications")
        vendor.get("notifications: vendor's first page", "/v1/notifications")
    return [bare, partner, vendor]


def rows_of(clients: list[Client]) -> dict[str, dict[str, Any]]:
    rows = {}
    for client in clients:
        for kind, times in client.times.items():
            if kind != "warm-up":
                p50, p99 = quantiles(times)
                rows[kind] = {"requests": len(times), "p50_ms": p50, "p99_ms": p99,
                              "statuses": client.statuses[kind],
                              "slowest": [f"{ms:.0f} ms {url}"
                                          for ms, url in client.slowest[kind]]}
        client.close()
    order = ["bare", "home", "search as vendor", "search as partner", "notifications"]
    return dict(sorted(rows.items(), key=lambda kv: next(
        i for i, prefix in enumerate(order) if kv[0].startswith(prefix))))


# -- EXPLAIN ANALYZE of the service's own statements -------------------------------------------

class Capture:
    """A stand-in session that keeps the statements a service function executes."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def execute(self, statement: Any, parameters: Any = None) -> list[Any]:
        self.statements.append(statement if parameters is None
                               else statement.bindparams(**parameters))
        return []

    def __call__(self) -> Any:
        @asynccontextmanager
        async def session() -> Any:
            yield self
        return session()


def literal_sql(statement: Any) -> str:
    return str(statement.compile(dialect=asyncpg_dialect(),
                                 compile_kwargs={"literal_binds": True}))


async def explain(url: str, sample: dict[str, Any], rng: random.Random) -> list[str]:
    statements: list[tuple[str, str]] = []
    home = _HOME.bindparams(partner_id=str(sample["busiest"]), protection_days=14,
                            certification_days=60)
    statements.append(("home of the busiest partner", literal_sql(home)))
    vendor = vendor_principal()
    for shape, q in query_shapes(sample, rng, sample["names"]).items():
        capture = Capture()
        await portal_search(capture, vendor, q=q, kind=None, limit=20)  # type: ignore
        # The search's own query: not the planner setting it sends first.
        query = next(s for s in capture.statements if "plan_cache_mode" not in str(s))
        statements.append((f"search as vendor: {shape} ({q!r})", literal_sql(query)))
    capture = Capture()
    connection = await connect(url)
    try:
        horizon = int(await connection.fetchval(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"))
        await portal_stream._batch(capture, vendor, (horizon - 1, 2**62))  # type: ignore
        statements.append(("a vendor stream's poll", literal_sql(capture.statements[0])))
        plans = []
        for title, sql in statements:
            lines = [r[0] for r in await connection.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) {sql}")]
            plans.append(f"-- {title}\n" + "\n".join(lines))
    finally:
        await connection.close()
    return plans


# -- part 2: commit -> notification received over server-sent events ---------------------------

@dataclass
class Receipt:
    stream: str
    event_id: str
    xid: int
    received_at: float


@dataclass
class Receipts:
    """What the streams received; ``enough`` is set once ``want`` arrived."""

    items: list[Receipt] = field(default_factory=list)
    want: float = math.inf
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, receipt: Receipt) -> None:
        self.items.append(receipt)
        if len(self.items) >= self.want:
            self.enough.set()


async def read_stream(http: httpx.AsyncClient, name: str, headers: dict[str, str],
                      receipts: Receipts, connected: asyncio.Event) -> None:
    async with http.stream("GET", "/v1/notifications/stream", headers=headers) as response:
        response.raise_for_status()
        connected.set()  # the stream's start is fixed before its answer begins
        position = ""
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                received_at = time.time()
                item = orjson.loads(line[6:])
                receipts.add(Receipt(name, item["event_id"], int(position.split(".")[0]),
                                     received_at))
            elif line.startswith("id: "):
                position = line[4:]


async def stream_targets(url: str, partner_streams: int) -> dict[str, Any]:
    """Records the events name: the open streams' orgs' own, and others drawn at random."""
    connection = await connect(url)
    try:
        orgs = [r[0] for r in await connection.fetch(
            "SELECT partner_id FROM (SELECT DISTINCT partner_id FROM mdf_claims "
            "TABLESAMPLE BERNOULLI (5)) c ORDER BY random() LIMIT $1", partner_streams)]

        async def records(where: str, *args: Any) -> dict[str, list[Any]]:
            return {
                "deals": await connection.fetch(
                    f"SELECT deal_id, partner_id, customer_name FROM deals {where}", *args),
                "requests": await connection.fetch(
                    "SELECT request_id, partner_id, allocation_id, planned, currency "
                    f"FROM mdf_requests {where}", *args),
                "claims": await connection.fetch(
                    "SELECT claim_id, request_id, partner_id, claimed, currency "
                    f"FROM mdf_claims {where}", *args)}
        own = await records("WHERE partner_id = ANY($1::uuid[])", orgs)
        others = await records("ORDER BY random() LIMIT 3000")
    finally:
        await connection.close()
    return {"orgs": orgs, "own": own, "others": others}


def make_event(i: int, rng: random.Random, targets: dict[str, Any], today: dt.date
               ) -> tuple[CloudEvent, str | None]:
    """The i-th event and the audience of its notification's org (None: the vendor's)."""
    roll = rng.random()
    mine = rng.random() < 0.5
    pool = targets["own"] if mine else targets["others"]
    eur = lambda value: Amount(amount=f"{value:.2f}", currency="EUR")  # noqa: E731
    if roll < 0.25:  # a registration to review (vendor)
        partner_id = rng.choice(targets["others"]["deals"])["partner_id"]
        deal_id = uuid.uuid4()
        name = f"Benchmark Customer {i} GmbH"
        payload: Any = DealRegisteredV1(
            deal_id=deal_id, partner_id=partner_id,
            customer=Customer(name=name, domain=f"customer-{i}.example", country="DE"),
            amount=eur(1000 + i), expected_close_date=today + dt.timedelta(days=90),
            status="submitted")
        return new_event(payload, source="/prm/deals", subject=str(deal_id),
                         partner_id=partner_id), None
    if roll < 0.40:  # a claim to review (vendor)
        request = rng.choice(targets["others"]["requests"])
        claim_id = uuid.uuid4()
        payload = MdfClaimSubmittedV1(
            claim_id=claim_id, request_id=request["request_id"],
            partner_id=request["partner_id"], status="submitted",
            claimed=Amount(amount=str(request["planned"]), currency=request["currency"]),
            version=1, proofs=2)
        return new_event(payload, source="/prm/incentives", subject=str(claim_id),
                         partner_id=request["partner_id"]), None
    if roll < 0.70 and pool["deals"]:  # a registration approved (its partner)
        deal = rng.choice(pool["deals"])
        payload = DealApprovedV1(deal_id=deal["deal_id"], partner_id=deal["partner_id"],
                                 status="approved", version=10 + i,
                                 protected_until=today + dt.timedelta(days=90))
        return new_event(payload, source="/prm/deals", subject=str(deal["deal_id"]),
                         partner_id=deal["partner_id"]), str(deal["partner_id"])
    if roll < 0.85 and pool["claims"]:  # a claim approved (its partner)
        claim = rng.choice(pool["claims"])
        claimed = Amount(amount=str(claim["claimed"]), currency=claim["currency"])
        payload = MdfClaimApprovedV1(
            claim_id=claim["claim_id"], request_id=claim["request_id"],
            partner_id=claim["partner_id"], status="approved", claimed=claimed,
            version=10 + i, approved=claimed, released=Amount(amount="0.00",
                                                              currency=claim["currency"]))
        return new_event(payload, source="/prm/incentives", subject=str(claim["claim_id"]),
                         partner_id=claim["partner_id"]), str(claim["partner_id"])
    request = rng.choice(pool["requests"] or targets["others"]["requests"])
    payload = MdfRequestApprovedV1(
        request_id=request["request_id"], partner_id=request["partner_id"],
        allocation_id=request["allocation_id"], budget_id=uuid.uuid4(), status="approved",
        planned_cost=Amount(amount=str(request["planned"]), currency=request["currency"]),
        version=10 + i, approved_by="vendor", claim_due_on=today + dt.timedelta(days=60))
    return new_event(payload, source="/prm/incentives", subject=str(request["request_id"]),
                     partner_id=request["partner_id"]), str(request["partner_id"])


async def produce(producer: Any, events: list[tuple[CloudEvent, str | None]], rate: float,
                  sent: dict[str, float]) -> float:
    """Send in open loop at ``rate``; each event's send time kept. Returns the seconds taken."""
    started = time.monotonic()
    for i, (event, _) in enumerate(events):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[str(event.id)] = time.time()
        await producer.send(TOPICS[event.source], key=(event.subject or "").encode(),
                            value=event.to_json())
    return time.monotonic() - started


def cpu_ticks(processes: dict[str, int]) -> dict[str, int]:
    """CPU ticks used so far by each process (PostgreSQL: its backends too)."""
    ticks = {}
    for name, pid in processes.items():
        total = 0
        for each in [pid, *(_children(pid) if name == "PostgreSQL" else [])]:
            try:
                total += _cpu_ticks(each)
            except (OSError, ValueError):
                continue
        ticks[name] = total
    return ticks


async def measure_stream(url: str, broker: str, secret: str, api: str, args: argparse.Namespace,
                         rng: random.Random, processes: dict[str, int]) -> dict[str, Any]:
    settings = Settings(database_url=url, kafka_bootstrap=broker, internal_secret=secret)
    await ensure_topics(settings, worker_spec(settings).topics())
    targets = await stream_targets(url, args.partner_streams)
    today = dt.date.today()
    streams: dict[str, dict[str, str]] = {}
    for org in targets["orgs"]:
        streams[str(org)] = {PRINCIPAL_HEADER: sign_principal(partner_principal(org), secret)}
    for k in range(args.vendor_streams):
        streams[f"vendor-{k}"] = {PRINCIPAL_HEADER: sign_principal(vendor_principal(), secret)}
    receipts = Receipts()
    producer = make_producer(settings)
    await producer.start()
    http = httpx.AsyncClient(base_url=api, timeout=httpx.Timeout(30, read=None),
                             trust_env=False, limits=httpx.Limits(max_connections=100))
    readers = []
    try:
        for name, headers in streams.items():
            connected = asyncio.Event()
            readers.append(asyncio.create_task(read_stream(http, name, headers, receipts,
                                                           connected)))
            await asyncio.wait_for(connected.wait(), 30)
        # Warm-up: until the worker has joined its group and every stream has heard once.
        warm = [make_event(i, rng, targets, today) for i in range(40)]
        warm += [make_event(40 + i, random.Random(i), {**targets, "others": targets["own"]},
                            today) for i in range(40)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await produce(producer, warm, 40, {})
            await asyncio.sleep(2)
            if {r.stream for r in receipts.items} >= set(streams):
                break
            warm = [make_event(-1 - i, rng, targets, today) for i in range(20)]
        heard = {r.stream for r in receipts.items}
        receipts.items.clear()
        events = [make_event(i, rng, targets, today)
                  for i in range(int(args.stream_rate * args.stream_seconds))]
        expected = {name: {str(e.id) for e, org in events
                           if (org is None and name.startswith("vendor")) or org == name}
                    for name in streams}
        sent: dict[str, float] = {}
        before = cpu_ticks(processes)
        took = await produce(producer, events, args.stream_rate, sent)
        await producer.flush()
        want = sum(len(ids) for ids in expected.values())
        receipts.want = want
        if len(receipts.items) < want:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receipts.enough.wait(), 20)
        after = cpu_ticks(processes)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await http.aclose()
        await producer.stop()
    timed = [r for r in receipts.items if r.event_id in sent]
    connection = await connect(url)
    try:
        for _ in range(100):  # the last events of orgs without a stream may still be applying
            if await connection.fetchval("SELECT count(*) FROM notifications WHERE event_id = "
                                         "ANY($1::uuid[])", list(sent)) >= len(events):
                break
            await asyncio.sleep(0.2)
        written = await connection.fetch(
            "SELECT event_id::text AS e, xid FROM notifications WHERE event_id = ANY($1::uuid[])",
            list(sent))
        commits = {r["x"]: r["t"] for r in await connection.fetch(
            "SELECT x, extract(epoch FROM pg_xact_commit_timestamp((x % 4294967296)::text::xid)"
            ")::float8 AS t FROM unnest($1::bigint[]) x",
            sorted({r.xid for r in timed} | {r["xid"] for r in written}))}
    finally:
        await connection.close()
    applied = {r["e"]: commits.get(r["xid"]) for r in written}
    to_commit = [(t - sent[e]) * 1000 for e, t in applied.items() if t is not None]
    received: dict[str, list[float]] = {"partner": [], "vendor": []}
    end_to_end: list[float] = []
    seen: dict[str, set[str]] = {name: set() for name in streams}
    duplicates = 0
    for r in timed:
        if r.event_id in seen[r.stream]:
            duplicates += 1
        seen[r.stream].add(r.event_id)
        commit = commits.get(r.xid)
        if commit is not None:
            audience = "vendor" if r.stream.startswith("vendor") else "partner"
            received[audience].append((r.received_at - commit) * 1000)
        end_to_end.append((r.received_at - sent[r.event_id]) * 1000)
    missing = sum(len(expected[name] - seen[name]) for name in streams)
    unexpected = sum(len(seen[name] - expected[name]) for name in streams)
    return {"events": len(events), "rate": len(events) / took, "seconds": took,
            "streams": {"partner": len(targets["orgs"]), "vendor": args.vendor_streams},
            "heard_in_warm_up": len(heard), "receipts": len(timed), "expected": want,
            "missing": missing, "unexpected": unexpected, "duplicates": duplicates,
            "transactions": len({r["xid"] for r in written}), "notifications": len(written),
            "commit_to_received": {k: quantiles(v) + (len(v),) for k, v in received.items()},
            "all_commit_to_received": quantiles(received["partner"] + received["vendor"]),
            "sent_to_commit": quantiles(to_commit), "sent_to_received": quantiles(end_to_end),
            "cpu_ms_per_event": {name: (after[name] - before[name]) * 1000
                                 / os.sysconf("SC_CLK_TCK") / len(events) for name in after}}


def start_worker(url: str, broker: str, secret: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_KAFKA_BOOTSTRAP": broker,
           "PRM_INTERNAL_SECRET": secret}
    return subprocess.Popen([sys.executable, "-m", "prm_portal.worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument("--partners", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--notifications", type=int, default=1_000_000,
                        help="old notifications loaded (their orgs drawn like the deals')")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each kind")
    parser.add_argument("--stream-rate", type=float, default=100, help="events per second")
    parser.add_argument("--stream-seconds", type=float, default=30)
    parser.add_argument("--partner-streams", type=int, default=4,
                        help="partner orgs with a stream open")
    parser.add_argument("--vendor-streams", type=int, default=2)
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the home, the searches, a stream's poll")
    args = parser.parse_args()
    if args.quick:
        args.partners, args.deals, args.notifications, args.requests = 2_000, 20_000, 20_000, 20
        args.stream_seconds = 10
    sizes = {"partners": args.partners, "deals": args.deals,
             "notifications": args.notifications, "requests": 2 * args.partners,
             "accruals": 3 * args.partners, "payouts": 2 * args.partners,
             "certifications": 2 * args.partners}
    rng = random.Random(20261207)
    words = vocabulary()
    work = Path(tempfile.mkdtemp(prefix="prm-bench-portal-"))
    started = time.monotonic()
    pg = start_postgres(work / "pgdata")
    servers: list[subprocess.Popen[bytes]] = []
    broker = None
    report: dict[str, Any] = {}
    try:
        # Commit timestamps (the stream's latency starts at the worker's commit): a restart.
        asyncio.run(_alter_system(pg.url))
        pg.stop()
        pg = start_postgres(work / "pgdata")
        create_database(pg, "portal")
        url = pg.database_url("portal")
        secret = secrets.token_urlsafe(32)
        migrate(url, secret, ROOT / "services" / "portal")
        report["load_s"] = asyncio.run(load(url, sizes, words))
        sample = asyncio.run(samples(url, rng, set(words)))
        report["sizes"], report["common_counts"] = sample["sizes"], sample["common_counts"]
        report["busiest_deals"] = sample["busiest_deals"]
        print(f"loaded: {sample['sizes']} in {report['load_s']}", file=sys.stderr)
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret}
        ports = {name: free_port() for name in ("portal", "bare")}
        servers.append(serve("prm_portal.main:create_app", ports["portal"], env))
        servers.append(serve("portal:create_bare_app", ports["bare"], env))
        api = f"http://127.0.0.1:{ports['portal']}"
        report["gets"] = rows_of(gets(api, f"http://127.0.0.1:{ports['bare']}", secret, sample,
                                      rng, args.requests))
        if args.explain:
            report["plans"] = asyncio.run(explain(url, sample, rng))
        broker = start_broker(log_file=work / "broker.log")
        servers.append(start_worker(url, broker.bootstrap, secret, work / "worker.log"))
        processes = {"portal API": servers[0].pid, "portal worker": servers[-1].pid,
                     "PostgreSQL": pg.process.pid, "broker": broker.process.pid,
                     "this client (producer, streams)": os.getpid()}
        report["stream"] = asyncio.run(measure_stream(url, broker.bootstrap, secret, api, args,
                                                      rng, processes))
        report["stream"]["worker_log"] = [
            line for line in (work / "worker.log").read_text(errors="replace").splitlines()
            if " WARNING " in line or " ERROR " in line or "Error" in line][:5]
    finally:
        for server in reversed(servers):
            stop_process(server)
        if broker is not None:
            broker.stop()
        pg.stop()
        remove_data(work / "pgdata")
        shutil.rmtree(work, ignore_errors=True)
    report["run_s"] = time.monotonic() - started
    print_report(args, report)


async def _alter_system(url: str) -> None:
    connection = await asyncpg.connect(dsn_of(url))
    try:
        await connection.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        await connection.close()


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average at the end "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + f"; run took {report['run_s']:.0f} s")
    print("data: " + ", ".join(f"{n:,} {t}" for t, n in report["sizes"].items())
          + f"; the busiest partner holds {report['busiest_deals']:,} deals; "
          + ", ".join(f"'{w.lower()}' is in {n:,} search entries"
                      for w, n in report["common_counts"].items()))
    print("loading: " + ", ".join(f"{k} {v:.0f} s" for k, v in report["load_s"].items()
                                   if v >= 0.5))
    print()
    gets = report["gets"]
    bare = {"home": gets["bare: home-shaped answer"], "search": gets["bare: 20 search results"]}
    print("| GET, one at a time                                | requests | p50 ms | p99 ms "
          "| p50, p99 / bare | statuses |")
    print("|---------------------------------------------------|----------|--------|--------"
          "|-----------------|----------|")
    for kind, r in gets.items():
        statuses = ",".join(f"{s}x{n}" for s, n in sorted(r["statuses"].items()))
        base = bare["home"] if kind.startswith("home") else (
            bare["search"] if kind.startswith("search") else None)
        ratio = (f"{r['p50_ms'] / base['p50_ms']:5.1f}, {r['p99_ms'] / base['p99_ms']:5.1f}"
                 if base else "")
        print(f"| {kind:<49} | {r['requests']:8d} | {r['p50_ms']:6.1f} | {r['p99_ms']:6.1f} "
              f"| {ratio:<15} | {statuses:<8} |")
    print()
    for kind, r in gets.items():
        print(f"slowest {kind}: " + "; ".join(r["slowest"]))
    s = report["stream"]
    print()
    print(f"stream: {s['events']:,} events at {s['rate']:.1f}/s over {s['seconds']:.0f} s, "
          f"{s['streams']['partner']} partner orgs' and {s['streams']['vendor']} vendor "
          f"streams open; {s['notifications']:,} notifications written in "
          f"{s['transactions']:,} worker transactions; {s['receipts']:,} received of "
          f"{s['expected']:,} expected ({s['missing']} missing, {s['unexpected']} unexpected, "
          f"{s['duplicates']} twice)")
    print("CPU per event (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms
                                             in s["cpu_ms_per_event"].items())
          + f"; {sum(s['cpu_ms_per_event'].values()):.2f} in all")
    for line in s["worker_log"]:
        print(f"worker: {line}")
    print()
    print("| server-sent events                          | received | p50 ms | p99 ms |")
    print("|---------------------------------------------|----------|--------|--------|")
    for audience, (p50, p99, n) in s["commit_to_received"].items():
        print(f"| commit -> received, {audience + ' streams':<23} | {n:8d} | {p50:6.1f} "
              f"| {p99:6.1f} |")
    p50, p99 = s["all_commit_to_received"]
    print(f"| commit -> received, all                     | {s['receipts']:8d} | {p50:6.1f} "
          f"| {p99:6.1f} |")
    p50, p99 = s["sent_to_commit"]
    print(f"| sent -> committed by the worker             | {s['notifications']:8d} | "
          f"{p50:6.1f} | {p99:6.1f} |")
    p50, p99 = s["sent_to_received"]
    print(f"| sent -> received                            | {s['receipts']:8d} | {p50:6.1f} "
          f"| {p99:6.1f} |")
    for plan in report.get("plans", []):
        print()
        print(plan)
    print(json.dumps({"summary": {k: v for k, v in report.items() if k != "plans"}},
                     default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
