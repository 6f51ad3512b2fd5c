"""``make bench`` (enablement): a partner user's resource list at a large library's size, and
the signed LMS completions intake.

One PostgreSQL migrated as ``make run`` does; the partners service (uvicorn, one process, as
``make run`` serves it) and, beside it, the bare list endpoint of ``lists.py`` (a page of 50
items, no database, no authentication), on the same machine.

* **resource list**: ``--resources`` (100,000) published resources written as the service
  writes them (``create`` then ``publish``: the draft, the published content, version 1 in
  ``enablement_resource_versions``, the audience folded into its columns, the titles), in one
  to three languages each; 40 % open to everyone, the rest restricted by tier, partner type,
  country, role and certifications in varied combinations. The caller is a portal user
  (``partner_sales``, ``Accept-Language: de-DE,de;q=0.9,en;q=0.5``) of a Gold reseller in DE
  holding two active certifications. Three requests, each offered in open loop at ``--rate``
  (50/s) in alternating rounds with the bare endpoint: the first page (``limit=50``), a page
  ``--deep`` (10,000) resources into the cursor, and a title search (``q``). Latency counts
  from each request's scheduled start (no coordinated omission); the client runs in its own
  process. p50 and p99, medians over the rounds, and the ratio to the bare endpoint.
* **completions intake**: a learning path of ``--courses`` (5) courses granting a
  certification, ``--contacts`` (50,000) contacts of 500 active partners enrolled in it (rows
  as ``enrol`` writes them). Signed deliveries (``LMS-Signature``) to ``POST /v1/lms-intake``,
  one at a time, each sent as soon as the previous one was answered (closed loop, one
  client): ``--batches`` deliveries of 1,000 completions (1,000 contacts of 10 partners, one
  course each; every ``--courses``-th delivery holds the path's last course and completes
  1,000 enrolments, each earning the certification), then ``--singles`` deliveries of one
  completion. Completions per second (of the time deliveries were in flight), p50/p99 per
  delivery, and the CPU time of the service's process and of PostgreSQL (postmaster and
  backends, from ``/proc``) per completion.

Command: ``.venv/bin/python tests/benchmarks/enablement.py`` (about five minutes).
Prints figures; asserts none.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from attribution import dsn_of, serve
from campaigns import offer
from harness import machine, start, stop_all
from load import Connection

from prm_partners.declaration import ENABLEMENT_READ, ENABLEMENT_WRITE, LMS_INTAKE
from prm_partners.resources.schemas import EnablementResourceIn
from prm_partners.resources.service import _fold, _titles
from prm_platform.ids import new_id
from prm_platform.security import Principal, PrincipalKind
from prm_platform.signatures import signature_header
from prm_stack.embedded import free_port
from prm_stack.testing import principal_headers, vendor_headers

LMS_SECRET = "lms-bench-secret"
VENDOR = "key:key-enablement-import"
LANGUAGES = ["en", "de", "fr", "es", "ja", "it"]
TOPICS = ["zero trust", "firewall", "endpoint", "cloud posture", "identity", "backup",
          "kubernetes", "email security", "sase", "data loss", "ransomware", "compliance",
          "network detection", "vulnerability", "siem", "mfa", "privileged access",
          "web gateway", "sandboxing", "threat intel"]
KINDS = {"document": ["datasheet", "playbook", "battlecard", "whitepaper", "case study"],
         "video": ["demo video", "webinar", "walkthrough"],
         "link": ["product page", "pricing guide", "partner page"],
         "sales_tool": ["roi calculator", "pitch deck", "sizing tool"]}
LOCAL = {"de": "Leitfaden", "fr": "Guide", "es": "Guía", "ja": "ガイド", "it": "Guida"}
TIERS = ["Platinum", "Gold", "Silver", "Registered"]
TYPES = ["reseller", "msp", "si", "isv", "mssp", "referral"]
REGIONS = [["DE", "AT", "CH"], ["FR", "BE"], ["US", "CA"], ["GB", "IE"], ["DE"], ["JP"],
           ["ES", "PT", "IT"], ["NL", "DE", "DK", "SE"]]
ROLES = [["partner_sales"], ["partner_marketing"], ["partner_admin"], ["partner_finance"],
         ["partner_sales", "partner_marketing"]]
CERTIFICATIONS = [["SEC-101"], ["CLOUD-201"], ["SEC-101", "NET-301"], ["NET-301"]]
HELD = ("SEC-101", "NET-301")  # the caller's org's active certifications


# -- seeding -----------------------------------------------------------------------------------

def audience(rng: random.Random) -> dict[str, list[str]]:
    """40 % open to all; the rest restricted on one to three of the five dimensions."""
    if rng.random() < 0.4:
        return {}
    chosen = rng.sample(["tiers", "partner_types", "countries", "roles", "certifications"],
                        rng.choice([1, 1, 2, 2, 3]))
    out: dict[str, list[str]] = {}
    for key in chosen:
        if key == "tiers":
            out[key] = rng.sample(TIERS, rng.choice([1, 2, 3]))
        elif key == "partner_types":
            out[key] = rng.sample(TYPES, rng.choice([1, 2, 3]))
        elif key == "countries":
            out[key] = rng.choice(REGIONS)
        elif key == "roles":
            out[key] = rng.choice(ROLES)
        else:
            out[key] = rng.choice(CERTIFICATIONS)
    return out


def resource_rows(count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """(id, kind, content json, folded audience json, titles, published_at) per resource, the
    content validated and dumped as ``create`` does."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for n in range(count):
        kind = rng.choice(list(KINDS))
        topic, what = rng.choice(TOPICS), rng.choice(KINDS[kind])
        langs = ["en", *rng.sample(LANGUAGES[1:], rng.choice([0, 0, 1, 1, 2]))]
        variants = []
        for lang in langs:
            title = (f"{topic.title()} {what} {n}" if lang == "en"
                     else f"{topic.title()} {LOCAL[lang]}: {what} {n}")
            variants.append({"language": lang, "title": title,
                             "description": f"{what} for {topic} ({lang})",
                             "url": f"https://cdn.vendor.example/{lang}/{n}.pdf"})
        body = EnablementResourceIn.model_validate({
            "kind": kind, "default_language": "en", "audience": audience(rng),
            "variants": variants})
        raw = body.model_dump(mode="json", exclude={"kind"})
        content = {k: raw[k] for k in ("default_language", "audience", "variants")}
        at = now - dt.timedelta(minutes=count - n)
        rows.append((new_id(), kind, json.dumps(content), json.dumps(_fold(content["audience"])),
                     _titles(content), at))
    return rows


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn_of(url), server_settings={"search_path": "partners",
                                                                "timezone": "UTC"})


async def load_resources(url: str, count: int) -> float:
    """The rows ``create`` + ``publish`` leave: status published, version 2, version 1 of the
    content kept, the audience folded into its columns."""
    rows = resource_rows(count, random.Random(20261207))
    started = time.perf_counter()
    connection = await connect(url)
    try:
        for at in range(0, len(rows), 10_000):
            chunk = rows[at:at + 10_000]
            columns = list(zip(*chunk, strict=True))
            await connection.execute("""
                INSERT INTO enablement_resources (id, kind, status, content, published,
                    published_version, audience_roles, audience_tiers, audience_partner_types,
                    audience_countries, audience_certifications, titles, created_by, version,
                    created_at, updated_at)
                SELECT id, kind, 'published', c::jsonb, c::jsonb, 1,
                    ARRAY(SELECT jsonb_array_elements_text(f::jsonb -> 'roles')),
                    ARRAY(SELECT jsonb_array_elements_text(f::jsonb -> 'tiers')),
                    ARRAY(SELECT jsonb_array_elements_text(f::jsonb -> 'partner_types')),
                    ARRAY(SELECT jsonb_array_elements_text(f::jsonb -> 'countries')),
                    ARRAY(SELECT jsonb_array_elements_text(f::jsonb -> 'certifications')),
                    titles, $7, 2, at, at
                FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                            $6::timestamptz[]) AS t(id, kind, c, f, titles, at)
            """, *columns, VENDOR)
            await connection.execute("""
                INSERT INTO enablement_resource_versions (resource_id, number, content,
                    published_by, published_at)
                SELECT id, 1, c::jsonb, $3, at
                FROM unnest($1::uuid[], $2::text[], $4::timestamptz[]) AS t(id, c, at)
            """, columns[0], columns[2], VENDOR, columns[5])
        await connection.execute("VACUUM ANALYZE enablement_resources")
        await connection.execute("VACUUM ANALYZE enablement_resource_versions")
    finally:
        await connection.close()
    return time.perf_counter() - started


PARTNER_COLUMNS = """INSERT INTO partners (id, name, type, country, countries_served, languages,
    specialisations, website_domain, status, version, created_at, updated_at, tier,
    default_currency, parent_access, activated_at, status_changed_at)"""


async def load_viewer(url: str) -> uuid.UUID:
    """The caller's org: a Gold reseller in DE, active, holding two certifications."""
    partner_id = new_id()
    connection = await connect(url)
    try:
        await connection.execute(PARTNER_COLUMNS + """ VALUES ($1, 'Nordlicht Security GmbH',
            'reseller', 'DE', ARRAY['DE', 'AT'], ARRAY['de', 'en'], ARRAY['cloud security'],
            'nordlicht.example', 'active', 3, now(), now(), 'Gold', 'EUR', false, now(),
            now())""", partner_id)
        for code in ("SEC-101", "NET-301", "CLOUD-201"):
            await connection.execute("""
                INSERT INTO certification_types (id, code, name, validity_months, required,
                    version, created_at, updated_at)
                VALUES ($1, $2::text, $2::text || ' certification', 24, false, 1, now(), now())""",
                new_id(), code)
        for code in HELD:
            await connection.execute("""
                INSERT INTO certifications (id, partner_id, type_id, code, earned_on,
                    expires_on, status, source, version, created_at, updated_at)
                SELECT $1, $2, id, code, current_date - 30, current_date + 700, 'active',
                    'api', 1, now(), now() FROM certification_types WHERE code = $3""",
                new_id(), partner_id, code)
        await connection.execute("ANALYZE certifications")
    finally:
        await connection.close()
    return partner_id


async def load_enrolled(url: str, path_id: uuid.UUID, courses: int, contacts: int
                        ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``contacts`` contacts of ``contacts // 100`` active partners, each enrolled in the path
    as ``enrol`` writes it; (contact, partner) in partner order."""
    partners = [new_id() for _ in range(max(1, contacts // 100))]
    people = [(new_id(), partners[i // 100]) for i in range(contacts)]
    connection = await connect(url)
    try:
        await connection.execute(PARTNER_COLUMNS + """
            SELECT id, 'Learning Partner ' || n, 'reseller', 'DE', ARRAY['DE'], ARRAY['en'],
                ARRAY['cloud security'], 'lp' || n || '.example', 'active', 3, now(), now(),
                'Silver', 'EUR', false, now(), now()
            FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)""", partners)
        ids, owners = [p[0] for p in people], [p[1] for p in people]
        await connection.execute("""
            INSERT INTO contacts (id, partner_id, name, email, roles, version, created_at,
                updated_at)
            SELECT id, partner_id, 'Learner ' || n, 'learner' || n || '@lp.example',
                ARRAY['sales'], 1, now(), now()
            FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t(id, partner_id, n)""",
            ids, owners)
        await connection.execute("""
            INSERT INTO learning_enrolments (id, path_id, partner_id, contact_id, status,
                reason, path_version, courses_done, courses_total, enrolled_at, version,
                created_at, updated_at)
            SELECT uuidv7(), $3, partner_id, id, 'enrolled', 'joined', 1, 0, $4,
                now() - interval '30 days', 1, now(), now()
            FROM unnest($1::uuid[], $2::uuid[]) AS t(id, partner_id)""",
            ids, owners, path_id, courses)
        for table in ("partners", "contacts", "learning_enrolments"):
            await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()
    return people


# -- the list ----------------------------------------------------------------------------------

def portal_user(secret: str, partner_id: uuid.UUID) -> dict[str, str]:
    principal = Principal(subject="user:bench-sales-rep", kind=PrincipalKind.partner,
                          partner_id=partner_id, scopes=frozenset({ENABLEMENT_READ}),
                          roles=frozenset({"partner_sales"}), name="Rep", locale="de",
                          email="rep@nordlicht.example")
    return principal_headers(principal, secret)


def get_request(path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


ACCEPT = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def deep_cursor(base: str, headers: dict[str, str], depth: int) -> tuple[str, int]:
    """The ``next_cursor`` ``depth`` resources into the caller's list (walked at limit 200),
    and how many the caller sees in all."""
    seen, cursor, at_depth = 0, None, None
    with httpx.Client(base_url=base, timeout=60, trust_env=False) as http:
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = http.get("/v1/enablement-resources", params=params, headers=headers)
            page.raise_for_status()
            body = page.json()
            seen += len(body["items"])
            cursor = body["next_cursor"]
            if at_depth is None and seen >= depth:
                at_depth = cursor
            if cursor is None:
                break
    if at_depth is None:
        raise RuntimeError(f"the caller sees only {seen} resources")
    return at_depth, seen


def list_kinds(cursor: str, word: str) -> dict[str, str]:
    return {"first": "/v1/enablement-resources?limit=50",
            "deep": f"/v1/enablement-resources?limit=50&cursor={cursor}",
            "search": f"/v1/enablement-resources?limit=50&q={word.replace(' ', '+')}"}


def measure_lists(args: argparse.Namespace, ports: dict[str, int], secret: str,
                  partner_id: uuid.UUID, url: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{ports['partners']}"
    headers = {**portal_user(secret, partner_id), **ACCEPT}
    cursor, visible = deep_cursor(base, headers, args.deep)
    word = "ransomware"
    kinds = list_kinds(cursor, word)
    with httpx.Client(base_url=base, timeout=60, trust_env=False) as http:
        checked = {}
        for kind, path in kinds.items():
            answer = http.get(path, headers=headers)
            answer.raise_for_status()
            items = answer.json()["items"]
            checked[kind] = {"items": len(items), "bytes": len(answer.content),
                             "languages": sorted({i["language"] for i in items}),
                             "fallbacks": sum(i["fallback"] for i in items)}
        total = http.get("/v1/enablement-resources", params={"q": word, "limit": 1,
                                                             "include": "total_count"},
                         headers=headers).json().get("total_count")
    per_round = int(args.rate * (args.warm_up + args.seconds)) + 1
    bare = [get_request("/v1/deals?limit=50", ports["bare"], {})]
    rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in ("bare", *kinds)}
    for n in range(args.rounds):
        rounds["bare"].append(offer(f"http://127.0.0.1:{ports['bare']}", bare, args.rate,
                                    args.warm_up, args.seconds))
        for kind, path in kinds.items():
            # Prepared right before the round: a signed principal lives a minute.
            requests = [get_request(path, ports["partners"],
                                    {**portal_user(secret, partner_id), **ACCEPT})
                        for _ in range(max(1, per_round // 100))]
            rounds[kind].append(offer(base, requests, args.rate, args.warm_up, args.seconds))
        print(f"list round {n + 1}: " + ", ".join(
            f"{k} p50 {v[-1]['p50_ms']:.1f} p99 {v[-1]['p99_ms']:.1f} err {v[-1]['errors']}"
            for k, v in rounds.items()), file=sys.stderr)
    plans = asyncio.run(explain(url, partner_id, cursor, word))
    summary = {name: {key: statistics.median(r[key] for r in runs)
                      for key in ("rps", "p50_ms", "p99_ms", "max_ms")}
               for name, runs in rounds.items()}
    return {"summary": summary, "rounds": rounds, "visible": visible, "checked": checked,
            "search_word": word, "search_total": total, "plans": plans,
            "errors": {k: sum(r["errors"] for r in v) for k, v in rounds.items()}}


async def explain(url: str, partner_id: uuid.UUID, cursor: str, word: str) -> dict[str, str]:
    """EXPLAIN ANALYZE of the three list queries as the service builds them (compiled from
    its own ``list_page`` statement), last lines: the plan's top and the timing."""
    from sqlalchemy import select
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

    from prm_partners.resources.listing import RESOURCES
    from prm_partners.resources.models import EnablementResource
    from prm_partners.resources.service import Viewer, _admits
    from prm_platform.listing import ListQuery

    who = Viewer(partner_id=partner_id, tier="gold", partner_type="reseller", country="DE",
                 certifications=tuple(sorted(c.lower() for c in HELD)),
                 roles=("partner_sales",))
    base = select(EnablementResource).where(_admits(who))
    first = ListQuery(limit=50)
    queries = {"first": first,
               "deep": dataclasses.replace(first, after=RESOURCES._decode(cursor, first)),
               "search": dataclasses.replace(first, words=(word,))}
    connection = await connect(url)
    plans = {}
    try:
        for kind, query in queries.items():
            statement = RESOURCES.apply(base, query)
            compiled = statement.compile(dialect=pg_asyncpg.dialect())
            values = [compiled.params[name] for name in compiled.positiontup or ()]
            lines = [r[0] for r in await connection.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), *values)]
            plans[kind] = "\n".join(lines)
    finally:
        await connection.close()
    return plans


# -- the intake --------------------------------------------------------------------------------

def set_up_path(base: str, secret: str, courses: int) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=60, trust_env=False) as http:
        answer = http.put("/v1/learning-paths-by-external-id/bench-path", headers=vendor_headers(
            secret, (ENABLEMENT_READ, ENABLEMENT_WRITE), subject="key-lms-import"), json={
            "name": "Selling the platform", "language": "en", "roles": ["sales"],
            "courses": [{"course_id": f"crs-{c + 1:03d}", "name": f"Course {c + 1}"}
                        for c in range(courses)],
            "certification": "SEC-101", "enrol_on": ["joined"]})
        if answer.status_code >= 300:
            raise RuntimeError(f"PUT learning path: {answer.status_code} {answer.text}")
        path: dict[str, Any] = answer.json()
    return path


def delivery(port: int, secret: str, items: list[dict[str, Any]]) -> bytes:
    body = json.dumps({"completions": items}).encode()
    headers = {**vendor_headers(secret, (LMS_INTAKE,), subject="key-lms"),
               "Content-Type": "application/json", "Content-Length": str(len(body)),
               "LMS-Signature": signature_header(LMS_SECRET.encode(), int(time.time()), body)}
    lines = ["POST /v1/lms-intake HTTP/1.1", f"Host: 127.0.0.1:{port}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ticks(pid: int, children: bool = False) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if children else 0)


def pg_ticks(postmaster: int) -> int:
    """The postmaster's CPU with its reaped children's, and its living children's."""
    total = ticks(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == postmaster:
                total += ticks(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


async def send_all(port: int, secret: str, batches: list[list[dict[str, Any]]]
                   ) -> tuple[list[float], list[int], float]:
    """One delivery at a time on one keep-alive connection, each signed (principal and
    ``LMS-Signature``) right before it is sent and timed from its first byte sent to its
    answer: latencies, statuses, and the seconds spent sending."""
    connection = await Connection.open("127.0.0.1", port)
    latencies, statuses = [], []
    busy = 0.0
    try:
        for items in batches:
            request = delivery(port, secret, items)
            at = time.perf_counter()
            status, _ = await connection.send(request)
            latencies.append(time.perf_counter() - at)
            busy += latencies[-1]
            statuses.append(status)
    finally:
        connection.close()
    return latencies, statuses, busy


def run_deliveries(port: int, secret: str, batches: list[list[dict[str, Any]]],
                   service_pid: int, postmaster: int) -> dict[str, Any]:
    cpu_before = (ticks(service_pid), pg_ticks(postmaster))
    latencies, statuses, wall = asyncio.run(send_all(port, secret, batches))
    cpu_after = (ticks(service_pid), pg_ticks(postmaster))
    hz = os.sysconf("SC_CLK_TCK")
    completions = sum(len(b) for b in batches)
    cuts = (statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1
            else [latencies[0]] * 99)
    return {"deliveries": len(batches), "completions": completions, "wall_s": wall,
            "per_s": completions / wall, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000,
            "max_ms": max(latencies) * 1000, "latencies_ms": [x * 1000 for x in latencies],
            "non_2xx": sum(not 200 <= s < 300 for s in statuses),
            "codes": sorted(set(statuses)),
            "service_cpu_ms_per_completion": (cpu_after[0] - cpu_before[0]) / hz * 1000
            / completions,
            "pg_cpu_ms_per_completion": (cpu_after[1] - cpu_before[1]) / hz * 1000
            / completions}


def completion_items(people: list[tuple[uuid.UUID, uuid.UUID]], courses: int, size: int,
                     tag: str) -> list[list[dict[str, Any]]]:
    """Blocks of ``size`` contacts (in partner order), each block through every course in
    order: one delivery per (block, course)."""
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    out = []
    for at in range(0, len(people) - size + 1, size):
        block = people[at:at + size]
        for course in range(courses):
            out.append([{"record_id": f"lms-{tag}-{contact}-{course}", "contact_id": str(contact),
                         "course_id": f"crs-{course + 1:03d}", "completed_at": when}
                        for contact, _ in block])
    return out


async def counted(url: str) -> dict[str, int]:
    connection = await connect(url)
    try:
        return {"completions": await connection.fetchval(
                    "SELECT count(*) FROM learning_completions"),
                "enrolments_completed": await connection.fetchval(
                    "SELECT count(*) FROM learning_enrolments WHERE status = 'completed'"),
                "certifications_lms": await connection.fetchval(
                    "SELECT count(*) FROM certifications WHERE source = 'lms'"),
                "outbox": await connection.fetchval("SELECT count(*) FROM outbox")}
    finally:
        await connection.close()


def measure_intake(args: argparse.Namespace, ports: dict[str, int], secret: str, url: str,
                   service_pid: int, postmaster: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{ports['partners']}"
    path = set_up_path(base, secret, args.courses)
    people = asyncio.run(load_enrolled(url, uuid.UUID(path["id"]), args.courses, args.contacts))
    blocks = args.batches // args.courses
    batched = completion_items(people[:1000 * blocks], args.courses, 1000, "b")
    singles_people = people[1000 * blocks:1000 * blocks + args.singles // args.courses + 1]
    singles = [[item] for batch in completion_items(singles_people, args.courses,
                                                    len(singles_people), "s")
               for item in batch][:args.singles]
    # Warm: one small delivery (connections, plans), not counted.
    warm = completion_items(people[-10:], 1, 10, "w")
    run_deliveries(ports["partners"], secret, warm, service_pid, postmaster)
    big = run_deliveries(ports["partners"], secret, batched, service_pid, postmaster)
    last = [x for i, x in enumerate(big["latencies_ms"]) if i % args.courses == args.courses - 1]
    other = [x for i, x in enumerate(big["latencies_ms"]) if i % args.courses != args.courses - 1]
    big["last_course_median_ms"] = statistics.median(last) if last else None
    big["other_course_median_ms"] = statistics.median(other) if other else None
    small = run_deliveries(ports["partners"], secret, singles, service_pid, postmaster)
    return {"batches": big, "singles": small, "stored": asyncio.run(counted(url)),
            "path": path["id"]}


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--deep", type=int, default=10_000,
                        help="resources into the caller's list for the deep page")
    parser.add_argument("--rate", type=float, default=50, help="list requests per second")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (median)")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per round")
    parser.add_argument("--warm-up", type=float, default=2, help="seconds before each round")
    parser.add_argument("--courses", type=int, default=5)
    parser.add_argument("--contacts", type=int, default=50_000, help="contacts enrolled")
    parser.add_argument("--batches", type=int, default=15,
                        help="deliveries of 1,000 completions (a multiple of --courses)")
    parser.add_argument("--singles", type=int, default=500, help="deliveries of 1 completion")
    args = parser.parse_args()
    work, pg, url, secret = start("enablement", ("partners",))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        seconds = asyncio.run(load_resources(url, args.resources))
        print(f"{args.resources:,} resources loaded in {seconds:.1f} s", file=sys.stderr)
        partner_id = asyncio.run(load_viewer(url))
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret,
               "PRM_RATE_LIMIT_PER_MINUTE": "100000000", "PRM_PARTNERS_LMS_SECRET": LMS_SECRET}
        ports = {name: free_port() for name in ("partners", "bare")}
        servers.append(serve("prm_partners.main:create_app", ports["partners"], env))
        servers.append(serve("lists:create_bare_app", ports["bare"], env))
        lists = measure_lists(args, ports, secret, partner_id, url)
        intake = measure_intake(args, ports, secret, url, servers[0].pid, pg.process.pid)
    finally:
        stop_all(servers, pg, work)
    report(args, lists, intake)


def report(args: argparse.Namespace, lists: dict[str, Any], intake: dict[str, Any]) -> None:
    s = lists["summary"]
    print()
    print(machine())
    print(f"library: {args.resources:,} published resources (40 % open to all), 1-3 languages "
          f"each; the caller (portal user, partner_sales, Gold reseller in DE, 2 "
          f"certifications) sees {lists['visible']:,}; '{lists['search_word']}' matches "
          f"{lists['search_total']} of them")
    print()
    print(f"| open loop at {args.rate:.0f}/s, {args.seconds:.0f} s x {args.rounds} "
          "| achieved /s | p50 ms | p99 ms | max ms | p99 / bare |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {"bare": "bare FastAPI endpoint (a page of 50, no database)",
              "first": "first page, limit 50",
              "deep": f"a page {args.deep:,} resources deep (cursor)",
              "search": f"search q={lists['search_word']}, limit 50"}
    for name, label in labels.items():
        print(f"| {label} | {s[name]['rps']:,.0f} | {s[name]['p50_ms']:.1f} | "
              f"{s[name]['p99_ms']:.1f} | {s[name]['max_ms']:.1f} | "
              f"x{s[name]['p99_ms'] / s['bare']['p99_ms']:.1f} |")
    print("- answers checked: " + "; ".join(
        f"{k} {v['items']} items, {v['bytes']:,} B, languages {','.join(v['languages'])}, "
        f"fallbacks {v['fallbacks']}" for k, v in lists["checked"].items())
        + f"; non-2xx {lists['errors']}")
    print()
    print("| LMS intake, closed loop, one client | deliveries | completions/s | p50 ms | "
          "p99 ms | max ms | service CPU ms/completion | PostgreSQL CPU ms/completion |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in (("batches", "1,000 completions per delivery"),
                        ("singles", "1 completion per delivery")):
        r = intake[name]
        print(f"| {label} | {r['deliveries']:,} | {r['per_s']:,.0f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
              f"{r['service_cpu_ms_per_completion']:.2f} | "
              f"{r['pg_cpu_ms_per_completion']:.2f} |")
    b = intake["batches"]
    print(f"- deliveries of 1,000 holding the path's last course (each completing 1,000 "
          f"enrolments and earning 1,000 certifications): median "
          f"{b['last_course_median_ms']:.0f} ms; the others: median "
          f"{b['other_course_median_ms']:.0f} ms; non-2xx {b['non_2xx']} + "
          f"{intake['singles']['non_2xx']}; {args.contacts:,} contacts enrolled; stored "
          f"{intake['stored']}")
    for kind, plan in lists["plans"].items():
        print(f"\nEXPLAIN ANALYZE ({kind}):\n{plan}", file=sys.stderr)
    print(json.dumps({"lists": {k: v for k, v in lists.items() if k != "plans"},
                      "intake": {k: ({kk: vv for kk, vv in v.items() if kk != "latencies_ms"}
                                     if isinstance(v, dict) else v)
                                 for k, v in intake.items()}}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
