"""``make bench``: what the whole stack spends, process by process.

Starts the stack as ``make run`` does (every service, worker, the edge, PostgreSQL and the
broker) and measures, in one run:

1. **idle**: the CPU every process uses while nothing happens (polling, heartbeats), as a share
   of one core, once the stack has been quiet for half a minute;
2. **per registration**: ``POST /v1/deals`` through the edge at a fixed rate, a realistic mix of
   customers (mostly new, one in ten a repeat of an earlier one), each with its own
   Idempotency-Key; then the wait until every outbox is published and every process is back to
   its idle rate. The CPU all processes spent above idle over that time, shared among the
   registrations. Then the same for a burst: as many as 8 clients send, one request each at a
   time, for a few seconds (consumers then apply many events per poll, so their fixed cost
   per poll is shared more widely than at a steady low rate);
3. **per partner event**: partners created through the API at a fixed rate (one
   ``prm.partner.created.v1`` each, which every service's partner projection applies), the
   same way.

Prints each by process. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from prm_stack.embedded import free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DEAL, cpu_by_process  # noqa: E402
from telemetry import eligible_partner, registered, settle, started_stack  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def idle_rates(stack, seconds: float) -> dict[str, float]:
    """Ticks per second each process uses while nothing happens."""
    before, started = cpu_by_process(stack), time.monotonic()
    time.sleep(seconds)
    after, elapsed = cpu_by_process(stack), time.monotonic() - started
    return {name: (after[name] - before.get(name, 0)) / elapsed for name in after}


def spent_per_unit(stack, idle: dict[str, float], units, run) -> tuple[dict[str, float], int]:
    """Run the load ``run()``, wait until the stack settles, and share the CPU above idle
    that each process spent among the units of work ``units()`` counts (ms each)."""
    count = units()
    before, started = cpu_by_process(stack), time.monotonic()
    run()
    settle(stack, quiet=sum(idle.values()), timeout=300)
    after, elapsed = cpu_by_process(stack), time.monotonic() - started
    made = max(1, units() - count)
    return {name: max(0.0, after[name] - before.get(name, 0) - idle.get(name, 0) * elapsed)
            * 1000 / HZ / made for name in after}, made


def registrations(stack, partner_id: str, rate: float | None, duration: float, state: Path,
                  seed: int = 7) -> None:
    """Distinct customers, one in ten a repeat of an earlier one (a second opportunity); at
    ``rate`` a second, or as fast as 8 clients are answered (None)."""
    rng = random.Random(seed)
    customers: list[dict] = []
    lines = []
    for _ in range(int((rate or 400) * (duration + 3)) + 100):
        if customers and rng.random() < 0.1:
            customer = rng.choice(customers)
        else:
            name = uuid.uuid4().hex[:12]
            customer = {"name": f"Costed {name} Ltd", "domain": f"c{name}.example",
                        "country": rng.choice(["GB", "US", "DE", "FR", "NL"])}
            customers.append(customer)
        lines.append(json.dumps({**DEAL, "partner_id": partner_id, "customer": customer}))
    bodies = state / "registrations.jsonl"
    bodies.write_text("\n".join(lines) + "\n")
    _load(stack, f"{stack.gateway_url}/v1/deals", bodies, rate, duration)


def _load(stack, url: str, bodies: Path, rate: float | None, duration: float) -> None:
    pace = ["--rate", str(rate), "--concurrency", "32"] if rate else \
        ["--concurrency", "8", "--warmup", "0"]
    result = json.loads(subprocess.run(
        [sys.executable, str(HERE / "load.py"), url, "--bodies", str(bodies),
         "--duration", str(duration), *pace, "--idempotency-keys",
         "--header", f"Authorization: Bearer {stack.admin_key}"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    print(f"POST {url}: {result}", file=sys.stderr)


async def partner_events(database_url: str) -> int:
    """Partner events written so far (the partners outbox)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    connection = await asyncpg.connect(make_url(database_url).set(drivername="postgresql")
                                       .render_as_string(hide_password=False))
    try:
        return int(await connection.fetchval(
            "SELECT count(*) FROM partners.outbox WHERE topic = 'prm.partners'"))
    finally:
        await connection.close()


def table(title: str, figures: dict[str, float], unit: str) -> None:
    print(f"| {title:<22} | {unit:>8} |")
    print(f"|{'-' * 24}|{'-' * 10}|")
    for name, value in sorted(figures.items(), key=lambda item: -item[1]):
        if value >= 0.005:
            print(f"| {name:<22} | {value:8.2f} |")
    print(f"| {'total':<22} | {sum(figures.values()):8.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_COST_RATE", 20)))
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--burst", type=float, default=5.0,
                        help="seconds of registrations as fast as 8 clients are answered")
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    env = {"PRM_GATEWAY_PORT": str(free_port()), "PRM_RATE_LIMIT_PER_MINUTE": "100000000"}
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
            started_stack(Path(state), env) as stack:
        partner_id = eligible_partner(stack)
        settle(stack, quiet=1e9)
        # The set-up's events applied, the start-up's work done, and quiet long enough for the
        # consumers' deepest rest (prm_events.consumer: half a minute without records).
        time.sleep(35)
        idle = idle_rates(stack, args.idle)
        database_url = stack.info["database_url"]
        per_registration, made = spent_per_unit(
            stack, idle, lambda: asyncio.run(registered(database_url)),
            lambda: registrations(stack, partner_id, args.rate, args.duration, Path(state)))
        per_burst, burst_made = spent_per_unit(
            stack, idle, lambda: asyncio.run(registered(database_url)),
            lambda: registrations(stack, partner_id, None, args.burst, Path(state), seed=8))
        bodies = Path(state) / "partners.jsonl"
        bodies.write_text("".join(json.dumps({
            "name": f"Costed partner {uuid.uuid4().hex[:10]}", "type": "reseller",
            "country": "US"}) + "\n" for _ in range(int(args.rate * (args.duration + 3)))))
        per_event, events = spent_per_unit(
            stack, idle, lambda: asyncio.run(partner_events(database_url)),
            lambda: _load(stack, f"{stack.gateway_url}/v1/partners", bodies, args.rate,
                          args.duration))
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print()
    print(f"idle, the stack doing nothing ({args.idle:.0f} s): "
          f"{sum(idle.values()) / HZ * 100:.1f} % of one core")
    table("process", {name: rate / HZ * 100 for name, rate in idle.items()}, "% core")
    print(f"per registration (POST /v1/deals through the edge at {args.rate:.0f}/s for "
          f"{args.duration:.0f} s, {made} made; until every consumer applied them)")
    table("process", per_registration, "CPU ms")
    print(f"per registration in a burst (as fast as 8 clients are answered for "
          f"{args.burst:.0f} s, {burst_made} made; until every consumer applied them)")
    table("process", per_burst, "CPU ms")
    print(f"per partner event (POST /v1/partners at {args.rate:.0f}/s, {events} events)")
    table("process", per_event, "CPU ms")


if __name__ == "__main__":
    main()
