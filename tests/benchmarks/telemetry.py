"""``make bench``: what observability costs on the write path.

In one run it starts the whole stack twice, as ``make run`` does: with ``PRM_TELEMETRY`` off,
then on (traces exported over OTLP/HTTP to a local receiver, every span decoded there; metrics
served, and scraped every few seconds as Prometheus would). Each time it registers deals
through the edge at one fixed rate (``POST /v1/deals``, a new customer and Idempotency-Key
each), waits until every consumer applied their events, and shares the CPU every process of
the stack spent (PostgreSQL's backends included; the idle cost of the same wait measured
beforehand taken out) among the registrations. Prints both, by process, and the ratio.

Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from prm_stack.embedded import free_port
from prm_stack.launch import RunningStack, start_stack
from prm_stack.testing import OtlpReceiver

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DEAL, cpu_by_process  # noqa: E402


@contextlib.contextmanager
def scraping(stack: RunningStack, every: float = 5.0) -> Iterator[None]:
    """Scrape each API's and worker's /metrics (on its port) every few seconds, as Prometheus
    would."""
    stop = threading.Event()
    ports = [entry["port"] for name, entry in stack.info["processes"].items()
             if entry.get("port") and (name == "gateway" or name.endswith(("-api", "-worker")))]

    def scrape() -> None:
        with httpx.Client(timeout=5, trust_env=False) as client:
            while not stop.wait(every):
                for port in ports:
                    with contextlib.suppress(httpx.HTTPError):
                        client.get(f"http://127.0.0.1:{port}/metrics")

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


async def registered(database_url: str) -> int:
    """Deals registered so far."""
    connection = await asyncpg.connect(make_url(database_url).set(drivername="postgresql")
                                       .render_as_string(hide_password=False))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM deals.deals"))
    finally:
        await connection.close()


async def unpublished(database_url: str) -> int:
    """Events not yet published, over every service's outbox."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        schemas = [row[0] for row in await connection.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'")]
        total = 0
        for schema in schemas:
            total += await connection.fetchval(
                f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL')
        return int(total)
    finally:
        await connection.close()


def settle(stack: RunningStack, quiet: float, timeout: float = 120) -> None:
    """Wait until every outbox is published and the stack's CPU is back to its idle rate
    (``quiet`` ticks a second): every consumer has applied what the load caused."""
    deadline = time.monotonic() + timeout
    while asyncio.run(unpublished(stack.info["database_url"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    while time.monotonic() < deadline:
        before = sum(cpu_by_process(stack).values())
        time.sleep(1.0)
        if sum(cpu_by_process(stack).values()) - before <= quiet * 1.5:
            return


@contextlib.contextmanager
def started_stack(state: Path, env: dict[str, str]) -> Iterator[RunningStack]:
    """The stack, however long a busy machine takes to start it."""
    stack = start_stack(state, env, timeout=900)
    try:
        yield stack
    finally:
        stack.stop()


def eligible_partner(stack: RunningStack) -> str:
    """An active partner the deals service knows (its events arrived there)."""
    auth = {"Authorization": f"Bearer {stack.admin_key}"}
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=stack.gateway_url, headers=auth, timeout=30,
                      trust_env=False) as client:
        while (partner := client.post("/v1/partners", json={
                "name": f"Bench {uuid.uuid4().hex[:8]}", "type": "reseller", "country": "US"})
               ).status_code != 201:
            if time.monotonic() > deadline:  # the first calls may beat the key's announcement
                raise RuntimeError(f"no partner: {partner.status_code} {partner.text}")
            time.sleep(0.5)
        partner_id = partner.json()["id"]
        client.post(f"/v1/partners/{partner_id}/activate").raise_for_status()
        while (deal := client.post("/v1/deals", json={**DEAL, "partner_id": partner_id})
               ).status_code != 201:
            if time.monotonic() > deadline:
                raise RuntimeError(f"partner never became eligible: {deal.text}")
            time.sleep(0.1)
    return str(partner_id)


def measure(telemetry: bool, args) -> dict:
    receiver = OtlpReceiver()
    env = {"PRM_GATEWAY_PORT": str(free_port()), "PRM_RATE_LIMIT_PER_MINUTE": "100000000",
           "PRM_TELEMETRY": "true" if telemetry else "false",
           "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    try:
        with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
                started_stack(Path(state), env) as stack, \
                (scraping(stack) if telemetry else contextlib.nullcontext()):
            key = stack.admin_key
            partner_id = eligible_partner(stack)
            bodies = Path(state) / "registrations.jsonl"
            names = (uuid.uuid4().hex[:12] for _ in range(int(args.rate * (args.duration + 3))
                                                          + 100))
            bodies.write_text("".join(json.dumps({
                **DEAL, "partner_id": partner_id,
                "customer": {"name": f"Observed {name} Ltd", "domain": f"o{name}.example",
                             "country": "GB"}}) + "\n" for name in names))
            settle(stack, quiet=1e9)  # the set-up's events applied
            idle_from, idle_ticks = time.monotonic(), cpu_by_process(stack)
            time.sleep(args.idle)
            idle_until, idle_after = time.monotonic(), cpu_by_process(stack)
            idle_rates = {name: (idle_after[name] - idle_ticks.get(name, 0)) /
                          (idle_until - idle_from) for name in idle_after}
            idle = sum(idle_rates.values())
            count = asyncio.run(registered(stack.info["database_url"]))
            before, started = cpu_by_process(stack), time.monotonic()
            spans = receiver.count()
            result = json.loads(subprocess.run(
                [sys.executable, str(HERE / "load.py"), f"{stack.gateway_url}/v1/deals",
                 "--bodies", str(bodies), "--duration", str(args.duration),
                 "--rate", str(args.rate), "--concurrency", "32", "--idempotency-keys",
                 "--header", f"Authorization: Bearer {key}"],
                capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            print(f"telemetry {'on' if telemetry else 'off'}: {result}, idle "
                  f"{idle:.1f} ticks/s", file=sys.stderr)
            settle(stack, quiet=idle)
            after, elapsed = cpu_by_process(stack), time.monotonic() - started
            hz = os.sysconf("SC_CLK_TCK")
            made = max(1, asyncio.run(registered(stack.info["database_url"])) - count)
            # What each process spends idle (polling loops, heartbeats) over the same time is
            # not the registrations' cost.
            cpu = {name: max(0.0, after[name] - before.get(name, 0)
                             - idle_rates.get(name, 0) * elapsed) * 1000 / hz / made
                   for name in after}
            return {"cpu_ms": cpu, "registrations": made, "errors": result.get("errors", 0),
                    "error_codes": result.get("error_codes", []),
                    "spans": receiver.count() - spans, "idle_ticks_s": idle}
    finally:
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_RATE", 60)))
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    off = measure(False, args)
    print(f"telemetry off: {sum(off['cpu_ms'].values()):.2f} ms per registration",
          file=sys.stderr)
    on = measure(True, args)
    print(f"telemetry on: {sum(on['cpu_ms'].values()):.2f} ms per registration",
          file=sys.stderr)
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"POST /v1/deals through the edge at {args.rate:.0f}/s for {args.duration:.0f} s "
          f"(+2 s warm-up), until every consumer applied the events; idle CPU taken out")
    print()
    print(f"registrations measured: {off['registrations']} off, {on['registrations']} on")
    print()
    print("| process            | off ms | on ms  |")
    print("|--------------------|--------|--------|")
    names = sorted(set(off["cpu_ms"]) | set(on["cpu_ms"]),
                   key=lambda n: -on["cpu_ms"].get(n, 0))
    for name in names:
        a, b = off["cpu_ms"].get(name, 0.0), on["cpu_ms"].get(name, 0.0)
        if max(a, b) >= 0.05:
            print(f"| {name:<18} | {a:6.2f} | {b:6.2f} |")
    total_off, total_on = sum(off["cpu_ms"].values()), sum(on["cpu_ms"].values())
    print(f"| {'total':<18} | {total_off:6.2f} | {total_on:6.2f} |")
    print()
    print(f"CPU per registration with traces and metrics on / off: {total_on / total_off:.2f} "
          f"({on['spans'] / on['registrations']:.0f} spans per registration exported)")
    errors = {mode: (r["errors"], r["error_codes"]) for mode, r in (("off", off), ("on", on))
              if r["errors"]}
    if errors:
        print(f"non-2xx answers: {errors}")


if __name__ == "__main__":
    main()
