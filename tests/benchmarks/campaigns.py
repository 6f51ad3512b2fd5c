"""``make bench`` (campaigns): rendering a launch's co-branded assets, printing one as a PDF,
and the signed engagement intake at a steady offered load.

* **rendering**, in process: a campaign as a vendor writes one (an email of about 2 KB of HTML
  with 10 merge fields, a landing page of about 6 KB, a social post), checked as it is on save;
  each launch renders its three assets with fresh brand values and a fresh tracking code
  (``prm_deals.campaigns.service.render_assets``: tracked links, then ``rendering.render`` in
  the sandbox, the compiled templates kept as a published version's are). Assets per
  CPU-second (``time.process_time``), median over rounds;
* **printing**: one rendered asset (the email, then the landing page) to a PDF
  (``prm_deals.campaigns.printing.pdf``, with the service's configured font), PDFs per
  CPU-second, median over rounds;
* **intake**: the deals service (uvicorn, one process, as ``make run`` serves it, on one
  PostgreSQL migrated as ``make run`` does) gets ``POST /v1/campaign-intake`` in open loop at
  ``--rate`` (500/s): one event per signed delivery (``Campaign-Signature``), each a click with
  a company domain and an external id of its own, on one launch; the bare FastAPI endpoint of
  ``bare_app.py`` is offered the same rate the same way, in alternating rounds. Latency counts
  from each request's scheduled start (no coordinated omission); the client runs in its own
  process. p50 and p99, medians over the rounds, and the ratio.

Command: ``.venv/bin/python tests/benchmarks/campaigns.py`` (about a minute and a half).
Prints figures; asserts none.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
from attribution import dsn_of, serve
from fastapi import FastAPI
from harness import machine, start, stop_all
from jinja2 import Environment, nodes
from load import Connection, Target, paced

from prm_deals.campaigns import printing, service
from prm_deals.config import Settings
from prm_deals.declaration import (
    CAMPAIGN_INTAKE,
    CAMPAIGN_LAUNCHES_READ,
    CAMPAIGN_LAUNCHES_WRITE,
    CAMPAIGNS_READ,
    CAMPAIGNS_WRITE,
)
from prm_platform.signatures import signature_header
from prm_stack.embedded import free_port
from prm_stack.testing import vendor_headers

SECRET = "whsec-campaign-bench"
LINKS = {"trial": "https://www.vendor.example/trial?plan=pro",
         "demo": "https://www.vendor.example/demo",
         "pricing": "https://www.vendor.example/pricing"}

# -- the campaign ------------------------------------------------------------------------------

_PARAGRAPH = ("<p style=\"margin:0 0 12px;font:15px/1.5 Arial,sans-serif;color:#1f2933\">"
              "Attackers no longer knock on the perimeter: they log in. Zero trust checks every "
              "request, every device and every user, whatever network it comes from, and "
              "cuts the blast radius of a stolen password to one session.</p>\n")


def _email_html() -> str:
    """About 2 KB of HTML and 10 merge fields, as an email builder exports it."""
    head = ("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">"
            "<tr><td style=\"padding:24px\">\n"
            "<img src=\"{{ partner.logo_url }}\" alt=\"{{ partner.name }}\" width=\"160\">\n"
            "<h1 style=\"font:bold 24px Arial,sans-serif\">{{ campaign.name }}</h1>\n"
            "<p><em>{{ partner.tagline }}</em></p>\n"
            "<p>{{ partner.value_proposition }}</p>\n")
    tail = ("<p><a href=\"{{ links.trial }}\" style=\"background:#0b5cff;color:#fff;"
            "padding:12px 20px;border-radius:4px;text-decoration:none\">Start your trial"
            "</a></p>\n<p>Or <a href=\"{{ links.demo }}\">book a demo</a> with "
            "{{ partner.name | trim }}.</p>\n"
            "{% if partner.phone %}<p>Call us: {{ partner.phone }}</p>{% endif %}\n"
            "<p style=\"font-size:12px;color:#6b7280\">{{ partner.address }} &middot; "
            "<a href=\"{{ partner.website }}\">{{ partner.website }}</a></p>\n"
            "</td></tr></table>\n")
    body = head + _PARAGRAPH * 4 + tail
    assert 1800 <= len(body) <= 2400, len(body)
    return body


def _landing_html() -> str:
    """About 6 KB: a hero, sections of copy, a form's call to action, the partner's footer."""
    sections = "".join(
        f"<section class=\"feature\"><h2>Step {n}: {title}</h2>\n" + _PARAGRAPH * 4
        + "<p><a href=\"{{ links.trial }}\">Try it with {{ partner.name }}</a></p></section>\n"
        for n, title in enumerate(("Know every identity", "Check every device",
                                   "Segment the network", "Watch every session"), 1))
    body = ("<!doctype html><html><head><title>{{ campaign.name }} | {{ partner.name }}"
            "</title></head><body>\n<header><img src=\"{{ partner.logo_url }}\" alt=\"\">"
            "<h1>{{ partner.tagline | default('Zero trust in a day') }}</h1>"
            "<p>{{ partner.value_proposition }}</p></header>\n" + sections
            + "<section id=\"contact\"><h2>Talk to {{ partner.name }}</h2>"
            "<p><a href=\"{{ partner.booking_url }}\">Book a call</a> or see "
            "<a href=\"{{ links.pricing }}\">pricing</a>.</p>"
            "{% if partner.phone %}<p>{{ partner.phone }}</p>{% endif %}"
            "<p>{{ partner.email }}</p></section>\n<footer>{{ partner.address }}</footer>"
            "</body></html>\n")
    assert 5500 <= len(body) <= 7000, len(body)
    return body


ASSETS = [
    {"key": "invite", "kind": "email", "language": "en",
     "subject": "{{ partner.name }} invites you: {{ campaign.name }}", "html": _email_html(),
     "text": "{{ partner.name }}: {{ partner.value_proposition }}\nStart: {{ links.trial }}"},
    {"key": "landing", "kind": "landing_page", "language": "en", "html": _landing_html()},
    {"key": "post", "kind": "social_post", "language": "en",
     "text": "{{ partner.tagline }} Zero trust in a day with {{ partner.name }}: "
             "{{ links.trial }}"},
]
CAMPAIGN = {"name": "Zero-trust in a day", "description": "Demand generation for Gold",
            "audience": {"tiers": ["Gold"]}, "links": LINKS, "default_language": "en",
            "assets": ASSETS}


def brand(rng: random.Random, n: int) -> dict[str, str]:
    """A partner's brand values, different every launch (Latin-1, as the fallback font
    prints)."""
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    return {"name": f"{word.title()} Security {n} GmbH",
            "logo_url": f"https://{word}.example/logo.png",
            "website": f"https://{word}.example", "email": f"hello@{word}.example",
            "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
            "address": f"{rng.randint(1, 200)} Hafenstraße, {rng.randint(10000, 99999)} Kiel",
            "value_proposition": f"Managed zero trust for {rng.randint(50, 500)}-seat firms "
                                 "<with> 24/7 support & a fixed price",
            "tagline": "Secure by default.",
            "booking_url": f"https://{word}.example/book"}


def render_launch(rng: random.Random, n: int) -> list[dict[str, Any]]:
    ref = "".join(rng.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(12))
    return service.render_assets(ASSETS, brand=brand(rng, n), name=CAMPAIGN["name"],
                                 targets=LINKS, ref=ref, slug="0193c1d0-v1")


def merge_fields(source: str) -> set[str]:
    tree = Environment().parse(source)
    return {f"{g.node.name}.{g.attr}" for g in tree.find_all(nodes.Getattr)
            if isinstance(g.node, nodes.Name)}


def cpu_rate(work: Any, items_each: int, seconds: float) -> float:
    """Items per CPU-second of ``work()`` (called until ``seconds`` of CPU were spent)."""
    calls, started = 0, time.process_time()
    while (spent := time.process_time() - started) < seconds:
        work()
        calls += 1
    return calls * items_each / spent


def measure_rendering(rounds: int, seconds: float) -> dict[str, Any]:
    service.check_content(CAMPAIGN)  # as on save
    rng = random.Random(20261208)
    fields = len(merge_fields(ASSETS[0]["html"]))
    before = time.process_time()
    first = render_launch(rng, 0)  # the templates compiled once, as for a published version
    compile_ms = (time.process_time() - before) * 1000
    counter = iter(range(1, 10**9))
    rates = [cpu_rate(lambda: render_launch(rng, next(counter)), len(ASSETS), seconds)
             for _ in range(rounds)]
    font = Settings.model_fields["pdf_font"].default  # the service's default font
    font = font if font and os.path.isfile(font) else None
    launched = render_launch(rng, 1)
    brand_values = brand(rng, 1)
    printed: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for asset in launched[:2]:
        sizes[asset["key"]] = len(printing.pdf(asset, brand_values, font=font))
        printed[asset["key"]] = [
            cpu_rate(lambda a=asset: printing.pdf(a, brand_values, font=font), 1, seconds)
            for _ in range(rounds)]
    return {"assets_per_cpu_s": statistics.median(rates), "rounds": rates,
            "first_launch_ms": compile_ms, "merge_fields": fields,
            "template_bytes": {a["key"]: len(a.get("html") or a.get("text") or "")
                               for a in ASSETS},
            "rendered_bytes": {a["key"]: len(a["html"] or a["text"] or "") for a in first},
            "pdf_per_cpu_s": {k: statistics.median(v) for k, v in printed.items()},
            "pdf_rounds": printed, "pdf_bytes": sizes, "font": font or "helvetica (built in)"}


# -- the intake --------------------------------------------------------------------------------

def create_bare_app() -> FastAPI:
    """The baseline of ``make bench``: a deal-shaped body validated, 201 (``bare_app.py``)."""
    from bare_app import app

    return app


BARE_DEAL = json.dumps({"customer": {"name": "Globex Corporation", "domain": "globex.example",
                                     "country": "FR"},
                        "amount": {"amount": "48000.00", "currency": "EUR"},
                        "expected_close_date": "2027-03-31"}).encode()


class Prepared(Target):
    """Requests prepared whole beforehand (each delivery signed on its own), sent in turn."""

    def __init__(self, url: str, requests: list[bytes]) -> None:
        super().__init__(url, [b""], {}, False)
        self.prepared = requests

    def request(self) -> bytes:
        request = self.prepared[self.sent % len(self.prepared)]
        self.sent += 1
        return request

    async def send(self, connection: Connection | None = None) -> int:
        """On an idle connection of the pool, or a new one; a connection the server closed
        while it sat idle (uvicorn's keep-alive timeout) is dropped and the request sent
        again on another (its answer never came, so it was not taken)."""
        request = self.request()
        while True:
            connection = self.idle.pop() if self.idle else await Connection.open(self.host,
                                                                               self.port)
            try:
                status, reusable = await connection.send(request)
            except (asyncio.IncompleteReadError, ConnectionError):
                connection.close()
                continue
            break
        if reusable:
            self.idle.append(connection)
        else:
            connection.close()
        return status


def _offer(url: str, requests: list[bytes], rate: float, warm_up: float, seconds: float,
           answer: Any) -> None:
    """The client's process: ``warm_up`` seconds at ``rate``, then ``seconds`` measured."""
    async def run() -> dict[str, Any]:
        target = Prepared(url, requests)
        for _, length in (("warm-up", warm_up), ("measure", seconds)):
            latencies: list[float] = []
            errors: list[int] = []
            started = time.perf_counter()
            await paced(target, rate, length, latencies, errors)
            wall = time.perf_counter() - started
        for connection in target.idle:
            connection.close()
        cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
        return {"requests": len(latencies), "errors": len(errors),
                "error_codes": sorted(set(errors)), "rps": len(latencies) / wall,
                "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000,
                "max_ms": max(latencies) * 1000 if latencies else 0.0,
                "connections": len(target.idle)}
    answer.send(asyncio.run(run()))


def offer(url: str, requests: list[bytes], rate: float, warm_up: float, seconds: float
          ) -> dict[str, Any]:
    receiving, sending = multiprocessing.Pipe(duplex=False)
    client = multiprocessing.get_context("fork").Process(
        target=_offer, args=(url, requests, rate, warm_up, seconds, sending))
    client.start()
    if not receiving.poll(warm_up + seconds + 300):
        client.kill()
        raise RuntimeError("the load client gave no answer")
    result: dict[str, Any] = receiving.recv()
    client.join()
    return result


def http_request(path: str, port: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def set_up_launch(base: str, url: str, secret: str) -> dict[str, Any]:
    """A Gold partner in the directory (as its events leave it), the campaign published, its
    brand profile, one launch: through the API."""
    partner_id = uuid.uuid4()

    async def directory() -> None:
        connection = await asyncpg.connect(dsn_of(url), server_settings={"search_path": "deals"})
        try:
            await connection.execute(
                "INSERT INTO partner_directory (partner_id, name, type, country, status, tier, "
                "version, events_applied, last_event_at, projected_at) VALUES ($1, "
                "'Nordlicht Security GmbH', 'reseller', 'DE', 'active', 'Gold', 1, 1, now(), "
                "now())", partner_id)
        finally:
            await connection.close()

    asyncio.run(directory())
    scopes = (CAMPAIGNS_READ, CAMPAIGNS_WRITE, CAMPAIGN_LAUNCHES_READ, CAMPAIGN_LAUNCHES_WRITE)
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
        def vendor() -> dict[str, str]:
            return vendor_headers(secret, scopes, subject="key-benchmark")

        def ok(response: httpx.Response) -> httpx.Response:
            if response.status_code >= 300:
                raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                                   f"{response.status_code} {response.text}")
            return response

        made = ok(http.post("/v1/campaigns", headers=vendor(), json=CAMPAIGN))
        ok(http.post(f"/v1/campaigns/{made.json()['id']}/publish",
                     headers={**vendor(), "If-Match": made.headers["etag"]}))
        ok(http.put(f"/v1/brand-profiles/{partner_id}", headers={**vendor(), "If-Match": '"0"'},
                    json=brand(random.Random(1), 1)))
        launch: dict[str, Any] = ok(http.post("/v1/campaign-launches", headers=vendor(), json={
            "campaign_id": made.json()["id"], "partner_id": str(partner_id)})).json()
    return launch


def intake_requests(port: int, secret: str, ref: str, count: int, run: str) -> list[bytes]:
    """``count`` deliveries of one click each, signed one by one; a fresh signed principal
    every 200 (it lives a minute; the run takes less)."""
    now = dt.datetime.now(dt.UTC)
    requests = []
    principal: dict[str, str] = {}
    for i in range(count):
        if i % 200 == 0:
            principal = vendor_headers(secret, (CAMPAIGN_INTAKE,), subject="key-marketing-tool")
        body = json.dumps({"events": [{
            "ref": ref, "external_id": f"click-{run}-{i}", "kind": "click",
            "occurred_at": (now - dt.timedelta(seconds=count - i)).isoformat(),
            "asset": "invite", "link": "trial",
            "company": {"domain": f"customer{i % 5000}-{run}.example"}}]}).encode()
        signature = signature_header(SECRET.encode(), int(time.time()), body)
        requests.append(http_request("/v1/campaign-intake", port,
                                     {**principal, "Campaign-Signature": signature}, body))
    return requests


async def recorded(url: str) -> int:
    connection = await asyncpg.connect(dsn_of(url), server_settings={"search_path": "deals"})
    try:
        return int(await connection.fetchval("SELECT count(*) FROM campaign_engagements"))
    finally:
        await connection.close()


def measure_intake(args: argparse.Namespace) -> dict[str, Any]:
    work, pg, url, secret = start("campaigns", ("deals",))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": secret,
               "PRM_RATE_LIMIT_PER_MINUTE": "100000000",
               "PRM_DEALS_CAMPAIGN_SECRET": SECRET}
        ports = {name: free_port() for name in ("deals", "bare")}
        servers.append(serve("prm_deals.main:create_app", ports["deals"], env))
        servers.append(serve("campaigns:create_bare_app", ports["bare"], env))
        launch = set_up_launch(f"http://127.0.0.1:{ports['deals']}", url, secret)
        per_round = int(args.rate * (args.warm_up + args.seconds)) + 1
        bare_requests = [http_request("/v1/deals", ports["bare"], {}, BARE_DEAL)]
        rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "intake": []}
        for n in range(args.rounds):
            rounds["bare"].append(offer(f"http://127.0.0.1:{ports['bare']}", bare_requests,
                                        args.rate, args.warm_up, args.seconds))
            # Prepared right before the round: signatures and principals are fresh.
            requests = intake_requests(ports["deals"], secret, launch["ref"], per_round,
                                       f"{n}{secrets.token_hex(3)}")
            rounds["intake"].append(offer(f"http://127.0.0.1:{ports['deals']}", requests,
                                          args.rate, args.warm_up, args.seconds))
            print(f"round {n + 1}: bare {rounds['bare'][-1]}, intake {rounds['intake'][-1]}",
                  file=sys.stderr)
        stored = asyncio.run(recorded(url))
    finally:
        stop_all(servers, pg, work)
    summary = {name: {key: statistics.median(r[key] for r in runs)
                      for key in ("rps", "p50_ms", "p99_ms", "max_ms")}
               for name, runs in rounds.items()}
    return {"rounds": rounds, "summary": summary, "stored": stored,
            "sent": args.rounds * per_round,
            "errors": sum(r["errors"] for r in rounds["intake"])}


# -- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (median)")
    parser.add_argument("--cpu-seconds", type=float, default=2.0,
                        help="CPU seconds per rendering or printing round")
    parser.add_argument("--rate", type=float, default=500, help="deliveries per second offered")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per round")
    parser.add_argument("--warm-up", type=float, default=2, help="seconds before each round")
    parser.add_argument("--skip-intake", action="store_true")
    args = parser.parse_args()
    rendered = measure_rendering(args.rounds, args.cpu_seconds)
    intake = None if args.skip_intake else measure_intake(args)
    print()
    print(machine())
    print(f"campaign: email {rendered['template_bytes']['invite']:,} B of HTML, landing page "
          f"{rendered['template_bytes']['landing']:,} B, social post; "
          f"the email's distinct merge fields {rendered['merge_fields']}; rendered "
          + ", ".join(f"{k} {v:,} B" for k, v in rendered["rendered_bytes"].items()))
    print(f"- rendering: {rendered['assets_per_cpu_s']:,.0f} assets per CPU-second "
          f"({rendered['assets_per_cpu_s'] / len(ASSETS):,.0f} launches; rounds "
          + ", ".join(f"{r:,.0f}" for r in rendered["rounds"])
          + f"); the first launch, compiling the templates: {rendered['first_launch_ms']:.1f} "
          "ms of CPU")
    for key, rate in rendered["pdf_per_cpu_s"].items():
        print(f"- PDF of the {key}: {rate:,.1f} per CPU-second ({1000 / rate:.1f} ms each, "
              f"{rendered['pdf_bytes'][key]:,} B; font {rendered['font']}; rounds "
              + ", ".join(f"{r:,.1f}" for r in rendered["pdf_rounds"][key]) + ")")
    if intake is not None:
        s = intake["summary"]
        print()
        print(f"| open loop at {args.rate:.0f}/s, {args.seconds:.0f} s x {args.rounds} "
              "| achieved /s | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for name, label in (("bare", "bare FastAPI endpoint (POST, no database)"),
                            ("intake", "POST /v1/campaign-intake, 1 signed click each")):
            print(f"| {label} | {s[name]['rps']:,.0f} | {s[name]['p50_ms']:.1f} | "
                  f"{s[name]['p99_ms']:.1f} | {s[name]['max_ms']:.1f} |")
        print(f"- intake to bare: p50 x{s['intake']['p50_ms'] / s['bare']['p50_ms']:.1f}, "
              f"p99 x{s['intake']['p99_ms'] / s['bare']['p99_ms']:.1f}; engagements stored "
              f"{intake['stored']:,} of {intake['sent']:,} sent; non-2xx answers "
              f"{intake['errors']}")
    print(json.dumps({"summary": {"rendering": rendered, "intake": intake}}, default=str),
          file=sys.stderr)


if __name__ == "__main__":
    main()
