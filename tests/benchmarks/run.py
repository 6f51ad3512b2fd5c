"""``make bench``: figures for the deal registration path and for event delivery.

In one run on one machine it starts the whole stack (as ``make run`` does) and a bare FastAPI
endpoint served the same way, then measures alternately, in several rounds:

* ``POST /v1/deals`` with a fresh Idempotency-Key and customer per request (mostly new
  customers, one request in ten a customer registered before) through the edge (the native
  reverse proxy of ``make run``, which routes it to the deals service; the service checks the
  API key against its own key directory, validates, and writes the deal, its outbox event and
  the key's stored answer in one statement), through the Python gateway (its proxy hop with a
  signed principal, as before the edge), and straight to the service; against the bare
  endpoint and the bare durable write (``bare_durable_app.py``: the deal row and an outbox
  row in one statement, no key, limit, conflict check or idempotency): requests/s, p50, p99;
* the same request through the edge at half the measured maximum rate, paced (open loop,
  latency from each request's scheduled start), for the p99 a client sees below saturation;
* commit-to-consumer latency of events while the edge is under that load: partner changes
  made through the API, from the event's time (set in the writing transaction) to the deals
  service's projection of it.

It prints a table with the medians over the rounds and the ratios. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from prm_stack.embedded import die_with_parent, free_port, stop_process, wait_for_port
from prm_stack.launch import running_stack

HERE = Path(__file__).resolve().parent
DEAL = {
    "customer": {"name": "Globex Corporation", "domain": "globex.example", "country": "US"},
    "amount": {"amount": "125000.00", "currency": "USD"},
    "expected_close_date": "2031-06-30",
}


def load(url: str, body: dict, headers: list[str], args, concurrency: int | None = None,
         rate: float | None = None) -> dict:
    """One measurement with wrk (C, event-driven) when installed, else with load.py.

    wrk is preferred: a Python client saturates long before the servers do on a small machine,
    and would measure itself.
    """
    concurrency = concurrency or args.concurrency
    if shutil.which("wrk") and rate is None:
        return load_with_wrk(url, body, headers, args, concurrency)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as bodies:
        template, run = json.dumps(body), uuid.uuid4().hex[:12]
        count = int((rate or 2000) * (args.duration + WARMUP_SECONDS)) + 100
        bodies.write("".join(template.replace(CUSTOMER, f"{run}-{customer_of(n)}") + "\n"
                             for n in range(1, count + 1)))
    command = [sys.executable, str(HERE / "load.py"), url, "--bodies", bodies.name,
               "--duration", str(args.duration), "--concurrency", str(concurrency),
               "--idempotency-keys"]
    if rate is not None:  # open loop, at a fixed rate (wrk2 is not packaged here)
        command += ["--rate", str(rate), "--concurrency", str(max(concurrency, 64))]
    for header in headers:
        command += ["--header", header]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(bodies.name)
    return json.loads(result.stdout.strip().splitlines()[-1])


# Where a body's customer number goes: each request registers the customer of its number, a
# new one for nine requests in ten and, for the tenth, the customer of half its number (a
# second opportunity with a customer already registered), as partners' registrations come.
CUSTOMER = "@@CUSTOMER@@"


def customer_of(n: int) -> int:
    return n // 2 if n % 10 == 0 else n


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def load_with_wrk(url: str, body: dict, headers: list[str], args, concurrency: int) -> dict:
    lua = ['wrk.method = "POST"', f"local template = {json.dumps(json.dumps(body))}",
           'wrk.headers["Content-Type"] = "application/json"']
    for header in headers:
        name, _, value = header.partition(":")
        lua.append(f"wrk.headers[{json.dumps(name.strip())}] = {json.dumps(value.strip())}")
    # A fresh Idempotency-Key per request, as a careful client sends, and the customer of the
    # request's number (customer_of), both unique per run.
    lua += [f'local run = "{uuid.uuid4().hex[:12]}"', "local n = 0",
            "request = function()", "  n = n + 1",
            "  local c = n",
            "  if n % 10 == 0 then c = math.floor(n / 2) end",
            '  wrk.headers["Idempotency-Key"] = run .. "-" .. n',
            f'  local body = template:gsub("{CUSTOMER}", run .. "-" .. c)',
            "  return wrk.format(nil, nil, nil, body)", "end"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        base = ["wrk", "-t1", f"-c{concurrency}", "--latency", "-s", script.name, url]
        subprocess.run([*base[:3], f"-d{WARMUP_SECONDS}s", *base[3:]], capture_output=True,
                       check=True)  # warm-up
        out = subprocess.run([*base[:3], f"-d{args.duration:.0f}s", *base[3:]],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    if "Latency Distribution" not in out:
        raise RuntimeError(f"wrk gave no latency distribution:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
    }


def eligible_partner(gateway: str, key: str) -> str:
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway, headers=auth, timeout=30, trust_env=False) as client:
        partner = client.post("/v1/partners", json={"name": "Bench Partner", "type": "reseller",
                                                    "country": "US"}).json()
        client.post(f"/v1/partners/{partner['id']}/activate").raise_for_status()
        started = time.perf_counter()
        while True:  # eligible once the partner events reached the deals service
            response = client.post("/v1/deals", json={**DEAL, "partner_id": partner["id"]})
            if response.status_code == 201:
                return partner["id"]
            if time.perf_counter() - started > 30:
                raise RuntimeError(f"partner never became eligible: {response.text}")
            time.sleep(0.05)


async def event_latency(gateway: str, key: str, database_url: str, count: int) -> dict:
    """Rename one partner ``count`` times, one change at a time, and read how long each event
    took from its commit to its projection in the deals service."""
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway, headers=auth, timeout=30,
                                 trust_env=False) as client:
        partner = (await client.post("/v1/partners", json={
            "name": "Latency 0", "type": "msp", "country": "DE"})).json()
        dsn = make_url(database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        samples = []
        try:
            for i in range(1, count + 1):
                await client.patch(f"/v1/partners/{partner['id']}", json={"name": f"Latency {i}"})
                version = i + 1
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    row = await connection.fetchrow(
                        "SELECT version, extract(epoch FROM projected_at - last_event_at) AS lag "
                        "FROM deals.partner_directory WHERE partner_id = $1",
                        uuid.UUID(partner["id"]))
                    if row and row["version"] >= version:
                        samples.append(float(row["lag"]) * 1000)
                        break
                    # The lag is read from the row's own timestamps: polling more often would
                    # only add load, not precision.
                    await asyncio.sleep(0.02)
        finally:
            await connection.close()
    quantiles = statistics.quantiles(samples, n=100)
    return {"events": len(samples), "p50_ms": quantiles[49], "p99_ms": quantiles[98]}


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@contextlib.contextmanager
def bare_endpoint() -> Iterator[int]:
    """The bare FastAPI endpoint (bare_app.py) served as the stack's APIs are; its port."""
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_app:app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
         "warning"], preexec_fn=die_with_parent)
    try:
        wait_for_port(port, bare, "bare FastAPI app")
        yield port
    finally:
        stop_process(bare)


@contextlib.contextmanager
def durable_endpoint(database_url: str) -> Iterator[int]:
    """The bare durable write (bare_durable_app.py) on the stack's database, served as the
    stack's APIs are; its port."""
    port = free_port()
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    durable = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_durable_app:app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
         "warning"], preexec_fn=die_with_parent, env={**os.environ, "PRM_BENCH_DSN": dsn})
    try:
        wait_for_port(port, durable, "bare durable write app")
        yield port
    finally:
        stop_process(durable)


def cpu_by_process(stack) -> dict[str, int]:
    """CPU ticks used so far by each process of the stack (PostgreSQL: its backends too)."""
    ticks = {}
    for name, entry in stack.info["processes"].items():
        pids = [entry["pid"]]
        if name == "postgres":
            pids += _children(entry["pid"])
        total = 0
        for pid in pids:
            try:
                total += _cpu_ticks(pid)
            except (OSError, ValueError):
                continue
        ticks[name] = total
    return ticks


WARMUP_SECONDS = 2


def cpu_per_request(stack, run, duration: float) -> tuple[dict, dict[str, float]]:
    """Run ``run()`` (a load) and share the CPU each process spent among its requests (ms)."""
    before = cpu_by_process(stack)
    result = run()
    after = cpu_by_process(stack)
    hz = os.sysconf("SC_CLK_TCK")
    # The load's warm-up (2 s, not in result["requests"]) used CPU too: count its requests
    # at the measured rate.
    requests = max(1.0, result["rps"] * (duration + WARMUP_SECONDS))
    per_request = {name: (after[name] - before.get(name, after[name])) * 1000 / hz / requests
                   for name in after}
    return result, per_request


async def outbox_drained(database_url: str, timeout: float = 120) -> float:
    """Wait until the deals relay has published the saturation rounds' backlog (so the paced
    round measures a steady state, not the catch-up); returns the seconds it took."""
    dsn = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            if not await connection.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM deals.outbox WHERE published_at IS NULL)"):
                break
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=150)
    args = parser.parse_args()

    # Throughput is measured, not the per-key rate limiter: one key sends every request here.
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
            running_stack(Path(state), {"PRM_GATEWAY_PORT": str(free_port()),
                                        "PRM_RATE_LIMIT_PER_MINUTE": "100000000"}) as stack:
        with bare_endpoint() as bare_port, \
                durable_endpoint(stack.info["database_url"]) as durable_port:
            key = stack.admin_key
            partner_id = eligible_partner(stack.gateway_url, key)
            # Distinct customers (customer_of): a registration's conflict check and its
            # consumers' work grow with what is registered for the same customer.
            body = {**DEAL, "partner_id": partner_id, "customer": {
                "name": f"Bench {CUSTOMER} Ltd", "domain": f"b{CUSTOMER}.example",
                "country": "US"}}
            gateway = [f"Authorization: Bearer {key}"]
            deals_url = f"http://127.0.0.1:{stack.port('deals-api')}/v1/deals"
            python_gateway = f"http://127.0.0.1:{stack.port('gateway')}/v1/deals"
            results: dict[str, list[dict]] = {"bare": [], "durable": [], "edge": [],
                                              "gateway": [], "direct": []}
            cpu_rounds: list[dict[str, float]] = []
            for round_no in range(1, args.rounds + 1):
                results["bare"].append(load(f"http://127.0.0.1:{bare_port}/v1/deals", body, [],
                                            args))
                results["durable"].append(load(f"http://127.0.0.1:{durable_port}/v1/deals",
                                               body, [], args))
                measured, cpu = cpu_per_request(stack, lambda: load(
                    f"{stack.gateway_url}/v1/deals", body, gateway, args), args.duration)
                results["edge"].append(measured)
                cpu_rounds.append(cpu)
                results["gateway"].append(load(python_gateway, body, gateway, args))
                # The same API key, checked by the service itself (its key directory).
                results["direct"].append(load(deals_url, body, gateway, args))
                print(f"round {round_no}: " + ", ".join(
                    f"{t} {r[-1]['rps']:.0f} req/s" for t, r in results.items()),
                    file=sys.stderr)
            # Half the measured maximum rate, paced, with events flowing, once the relay has
            # caught up with the saturation rounds.
            drained = asyncio.run(outbox_drained(stack.info["database_url"]))
            print(f"outbox backlog published in {drained:.1f} s", file=sys.stderr)
            half_rate = statistics.median(r["rps"] for r in results["edge"]) / 2
            results["half"] = [load(f"{stack.gateway_url}/v1/deals", body, gateway, args,
                                    rate=half_rate)]
            # The same paced load again, with partner changes flowing to the deals service.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                half = pool.submit(load, f"{stack.gateway_url}/v1/deals", body, gateway, args,
                                   rate=half_rate)
                time.sleep(WARMUP_SECONDS + 0.5)  # past the warm-up
                events = asyncio.run(event_latency(stack.gateway_url, key,
                                                   stack.info["database_url"], args.events))
                results["half+events"] = [half.result()]

    def median(target: str, field: str) -> float:
        return statistics.median(r[field] for r in results[target])

    errors = {t: sum(r["errors"] for r in rs) for t, rs in results.items()}
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"load generator: {'wrk' if shutil.which('wrk') else 'tests/benchmarks/load.py'}, "
          f"{args.concurrency} concurrent connections, {args.duration:.0f} s per round, "
          f"{args.rounds} rounds, medians shown")
    print()
    print("| target                                   | req/s  | p50 ms | p99 ms | errors |")
    print("|------------------------------------------|--------|--------|--------|--------|")
    for target, label in (("bare", "bare FastAPI endpoint"),
                          ("durable", "bare durable write (row + outbox)"),
                          ("edge", "POST /v1/deals via the edge"),
                          ("gateway", "POST /v1/deals via the Python gateway"),
                          ("direct", "POST /v1/deals straight to the service"),
                          ("half", "via the edge, at half that rate (paced)"),
                          ("half+events", "the same, while partner events flow")):
        print(f"| {label:<40} | {median(target, 'rps'):6.0f} | {median(target, 'p50_ms'):6.1f} "
              f"| {median(target, 'p99_ms'):6.1f} | {errors[target]:6d} |")
    codes = {t: sorted({c for r in rs for c in r.get("error_codes", [])})
             for t, rs in results.items()}
    if any(codes.values()):
        print("error statuses: " + ", ".join(f"{t} {c}" for t, c in codes.items() if c))
    print()
    bare_rps = median("bare", "rps")
    print(f"throughput ratio to bare: edge {median('edge', 'rps') / bare_rps:.3f}, "
          f"Python gateway {median('gateway', 'rps') / bare_rps:.3f}, "
          f"service alone {median('direct', 'rps') / bare_rps:.3f}")
    durable_rps = median("durable", "rps")
    print(f"throughput ratio to the bare durable write: edge "
          f"{median('edge', 'rps') / durable_rps:.3f}, service alone "
          f"{median('direct', 'rps') / durable_rps:.3f}")
    print(f"p50 latency ratio edge/bare: "
          f"{median('edge', 'p50_ms') / median('bare', 'p50_ms'):.1f}x")
    print()
    print("CPU per request through the edge, by process (ms, median over the rounds):")
    for name in sorted(cpu_rounds[0], key=lambda n: -statistics.median(
            r.get(n, 0) for r in cpu_rounds)):
        value = statistics.median(r.get(name, 0) for r in cpu_rounds)
        if value >= 0.05:
            print(f"  {name:<16} {value:5.2f}")
    print(f"  {'total':<16} {statistics.median(sum(r.values()) for r in cpu_rounds):5.2f}")
    print(f"event commit-to-consumer latency over {events['events']} events, under the paced "
          f"half load: p50 {events['p50_ms']:.1f} ms, p99 {events['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
