"""``make bench`` (ledger): postings per second on one PostgreSQL, and claim approval latency.

In one run on one machine it starts the whole stack (as ``make run`` does) and the bare FastAPI
endpoint (``bare_app.py``) served the same way, then measures, in alternating rounds:

* **postings per second straight into PostgreSQL** through the ledger's own code path
  (``prm_incentives.ledger.service``: what the API and the MDF, rebate, SPIFF and payout code
  call), ``--writers`` concurrent writers each on its own connection, each transfer or batch
  committed (fsync on, synchronous commit):

  - single transfers (``transfer``) between 1,000 funded accounts picked at random;
  - single transfers all on one pair of accounts (the hot case: every writer waits on the
    same two rows);
  - the same two, each transfer on an autocommit connection (its one statement commits by
    itself: one round trip instead of three);
  - batches (``transfer_batch``, ``--batch`` transfers each, one round trip and one commit
    per batch, an outcome per item) over the 1,000 accounts, then on the hot pair;

* **postings per second through the API**: ``POST /v1/ledger/transfers`` (a new client id per
  request; the service checks the API key against its own key directory) straight to the
  incentives service and through the edge, against the bare endpoint, closed loop with
  ``load.py``; then ``POST /v1/ledger/transfer-batches`` (``--batch`` new transfers a request,
  ``--batch-writers`` clients) the same two ways, with the CPU each posting cost the
  incentives API and PostgreSQL;
* **MDF claim approval latency**: budgets, an allocation, approved fund requests and claims
  with a proof file are made through the API first; then ``POST /v1/mdf/claims/{id}/approve``
  one at a time (p50/p99), next to the bare endpoint sent the same way by the same client.

Prints a table of medians over the rounds. Nothing here asserts timings (the aim: 5,000
postings/s on one PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from prm_incentives.config import SCHEMA
from prm_incentives.ledger import repository
from prm_incentives.ledger.service import TransferSpec, transfer, transfer_batch
from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.http import autocommit_connection
from prm_stack.embedded import free_port
from prm_stack.launch import running_stack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402
    DEAL,
    bare_endpoint,
    cpu_by_process,
    cpu_per_request,
    eligible_partner,
)

ACCOUNTS = 1000
FUNDING = 10**15  # minor units per account: random transfers never run one dry
CURRENCY = "EUR"


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


# --- straight into PostgreSQL -----------------------------------------------------------------


class Ledger:
    """Accounts opened and funded through the ledger's own functions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.accounts: list[uuid.UUID] = []
        self.hot: tuple[uuid.UUID, uuid.UUID] | None = None

    async def open(self, count: int) -> None:
        scope = uuid.uuid4()  # this run's accounts: a budget id of their own
        async with self.sessions() as session:
            external = await repository.ensure_account(
                session, kind="external", currency=CURRENCY, name="benchmark funding",
                non_negative=False, budget_id=scope)
            for index in range(count + 2):
                row = await repository.ensure_account(
                    session, kind="allocation", currency=CURRENCY, name=f"benchmark {index}",
                    non_negative=True, budget_id=scope, partner_id=uuid.uuid4())
                self.accounts.append(row.id)
            await transfer_batch(session, [TransferSpec(
                id=uuid.uuid4(), debit_account_id=external.id, credit_account_id=account,
                currency=CURRENCY, amount=FUNDING, code="funding") for account in self.accounts])
            await session.commit()
        first, second = self.accounts.pop(), self.accounts.pop()
        self.hot = (first, second)

    def spec(self, rng: random.Random, hot: bool) -> TransferSpec:
        if hot:
            assert self.hot is not None
            debit, credit = self.hot
        else:
            debit, credit = rng.sample(self.accounts, 2)
        return TransferSpec(id=uuid.uuid4(), debit_account_id=debit, credit_account_id=credit,
                            currency=CURRENCY, amount=rng.randint(1, 100), code="benchmark")


async def postings(ledger: Ledger, *, writers: int, seconds: float, hot: bool,
                   batch: int | None, stack: Any, autocommit: bool = False) -> dict:
    """``writers`` writers for ``seconds``: transfers committed per second, and the CPU each
    side spent per transfer (this process, which runs the ledger's code, and PostgreSQL)."""
    made = [0]
    refused = [0]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        if autocommit:  # the statement commits by itself: one round trip per transfer
            async with autocommit_connection(ledger.engine) as connection:
                while time.perf_counter() < stop_at:
                    started = time.perf_counter()
                    _, created = await transfer(connection, ledger.spec(rng, hot))
                    made[0] += created
                    latencies.append(time.perf_counter() - started)
            return
        async with ledger.sessions() as session:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                if batch is None:
                    _, created = await transfer(session, ledger.spec(rng, hot))
                    await session.commit()
                    made[0] += created
                else:
                    outcomes = await transfer_batch(
                        session, [ledger.spec(rng, hot) for _ in range(batch)])
                    await session.commit()
                    done = sum(1 for o in outcomes if o.created)
                    made[0] += done
                    refused[0] += len(outcomes) - done
                latencies.append(time.perf_counter() - started)

    before_pg = cpu_by_process(stack)["postgres"]
    before_self = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(writer(random.randrange(2**32)) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    tick = 1 / os.sysconf("SC_CLK_TCK")
    pg = (cpu_by_process(stack)["postgres"] - before_pg) * tick
    own = time.process_time() - before_self
    p50, p99 = quantiles([s * 1000 for s in latencies])
    count = max(made[0], 1)
    return {"per_second": made[0] / elapsed, "transfers": made[0], "refused": refused[0],
            "p50_ms": p50, "p99_ms": p99, "cpu_ms_ledger_code": own * 1000 / count,
            "cpu_ms_postgres": pg * 1000 / count}


# --- through the API --------------------------------------------------------------------------


def load(url: str, bodies: Path, headers: list[str], duration: float,
         concurrency: int = 16) -> dict:
    command = [sys.executable, str(HERE / "load.py"), url, "--bodies", str(bodies),
               "--duration", str(duration), "--concurrency", str(concurrency)]
    for header in headers:
        command += ["--header", header]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"load.py {url} failed:\n{result.stderr[-600:]}", file=sys.stderr)
        nan = float("nan")
        return {"requests": 0, "errors": 0, "rps": nan, "p50_ms": nan, "p99_ms": nan}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def transfer_bodies(path: Path, ledger: Ledger, count: int, rng: random.Random) -> Path:
    """``count`` transfers over the accounts, each with a new client id (a repeated id would
    be answered from the first transfer: 200, not a posting)."""
    lines = []
    for _ in range(count):
        debit, credit = rng.sample(ledger.accounts, 2)
        lines.append(json.dumps({
            "id": str(uuid.uuid4()), "debit_account_id": str(debit),
            "credit_account_id": str(credit), "code": "benchmark",
            "amount": {"amount": f"0.{rng.randint(1, 99):02d}", "currency": CURRENCY}}))
    path.write_text("\n".join(lines))
    return path


def batch_bodies(path: Path, ledger: Ledger, batches: int, size: int, code: str,
                 rng: random.Random) -> Path:
    """``batches`` bodies of ``POST /v1/ledger/transfer-batches``, ``size`` new transfers each
    (tagged ``code``, so that the run can count what was made)."""
    lines = []
    for _ in range(batches):
        transfers = []
        for _ in range(size):
            debit, credit = rng.sample(ledger.accounts, 2)
            transfers.append({
                "id": str(uuid.uuid4()), "debit_account_id": str(debit),
                "credit_account_id": str(credit), "code": code,
                "amount": {"amount": f"0.{rng.randint(1, 99):02d}", "currency": CURRENCY}})
        lines.append(json.dumps({"transfers": transfers}))
    path.write_text("\n".join(lines))
    return path


async def batches_through_api(ledger: Ledger, stack: Any, url: str, bodies: Path, batches: int,
                              size: int, code: str, auth: list[str], duration: float,
                              writers: int) -> dict:
    """Batches sent closed loop by ``writers`` clients: postings/s (requests/s x ``size``),
    latency a batch, and the CPU per posting of the incentives API and of PostgreSQL. Every
    body holds new ids; the transfers made (warm-up included) are counted to prove it."""
    result, cpu = await asyncio.to_thread(cpu_per_request, stack, lambda: load(
        url, bodies, auth, duration, concurrency=writers), duration)
    async with ledger.sessions() as session:
        made = (await session.execute(text(
            "SELECT count(*) FROM ledger_transfers WHERE code = :code"), {"code": code})
                ).scalar_one()
    if made >= batches * size:
        print(f"{code}: every prepared batch was sent; later ones were replays, so the rate "
              "overstates postings: prepare more", file=sys.stderr)
    return {**result, "per_second": result["rps"] * size, "made": made,
            "cpu_ms_api": cpu.get("incentives-api", float("nan")) / size,
            "cpu_ms_postgres": cpu["postgres"] / size}


# --- MDF claim approvals ----------------------------------------------------------------------


async def allocation_for(client: httpx.AsyncClient, partner_id: str, claims: int) -> dict:
    budget = await client.post("/v1/mdf/budgets", json={
        "programme": f"bench-{uuid.uuid4().hex[:10]}", "period": "2026",
        "amount": {"amount": f"{claims * 1000}.00", "currency": CURRENCY},
        "auto_approve_below": {"amount": "1000.00", "currency": CURRENCY}})
    budget.raise_for_status()
    deadline = time.monotonic() + 60
    while True:  # the partner must have reached the incentives service (prm.partners)
        allocation = await client.post("/v1/mdf/allocations", json={
            "budget_id": budget.json()["id"], "partner_id": partner_id,
            "amount": {"amount": f"{claims * 1000}.00", "currency": CURRENCY}})
        if allocation.status_code == 201:
            return dict(allocation.json())
        if time.monotonic() > deadline:
            raise RuntimeError(f"no allocation for the partner: {allocation.text}")
        await asyncio.sleep(0.2)


async def submitted_claims(client: httpx.AsyncClient, allocation: dict, count: int,
                           concurrency: int = 4) -> list[str]:
    """``count`` claims on requests approved at submission (under the budget's
    auto-approval amount), each with one small proof file."""
    today = dt.date.today().isoformat()
    proof = base64.b64encode(b"invoice,amount\nvenue,250.00\n").decode()
    claims: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            request = await client.post("/v1/mdf/requests", json={
                "allocation_id": allocation["id"], "activity_type": "webinar",
                "title": "Benchmark webinar", "start_date": today, "end_date": today,
                "planned_cost": {"amount": "500.00", "currency": CURRENCY},
                "expected_outcomes": "leads"})
            request.raise_for_status()
            claim = await client.post("/v1/mdf/claims", json={
                "request_id": request.json()["id"],
                "amount": {"amount": "450.00", "currency": CURRENCY},
                "description": "Held as planned.",
                "proofs": [{"filename": "invoice.csv", "content_type": "text/csv",
                            "content_base64": proof}]})
            claim.raise_for_status()
            claims.append(claim.json()["id"])

    await asyncio.gather(*(one() for _ in range(count)))
    return claims


async def timed(count: int, send: Callable[[int], Awaitable[httpx.Response]],
                expected: int) -> dict:
    latencies, errors = [], 0
    for index in range(count):
        started = time.perf_counter()
        response = await send(index)
        elapsed = time.perf_counter() - started
        if response.status_code == expected:
            latencies.append(elapsed * 1000)
        else:
            errors += 1
            print(f"unexpected {response.status_code}: {response.text[:300]}", file=sys.stderr)
    p50, p99 = quantiles(latencies)
    return {"count": len(latencies), "errors": errors, "p50_ms": p50, "p99_ms": p99}


async def approvals(base_url: str, key: str, allocation: dict, count: int, bare_url: str
                    ) -> tuple[dict, dict]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60,
                                 trust_env=False) as client:
        claims = await submitted_claims(client, allocation, count)
        approved = await timed(count, lambda i: client.post(
            f"/v1/mdf/claims/{claims[i]}/approve",
            json={"amount": {"amount": "400.00", "currency": CURRENCY}}), 200)
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        body = {**DEAL, "partner_id": str(uuid.uuid4())}
        bare = await timed(count, lambda i: client.post(bare_url, json=body), 201)
    return approved, bare


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 4)),
                        help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8, help="concurrent ledger writers")
    parser.add_argument("--batch-writers", type=int, default=2,
                        help="concurrent writers of batches (each batch locks its accounts, "
                        "so batches over the same accounts take turns)")
    parser.add_argument("--batch", type=int, default=500, help="transfers per batch")
    parser.add_argument("--claims", type=int, default=100, help="claims approved per round")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round of 2 s, 20 claims")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.claims = 2.0, 1, 20
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
            running_stack(Path(state), {"PRM_GATEWAY_PORT": str(free_port()),
                                        "PRM_RATE_LIMIT_PER_MINUTE": "100000000"}) as stack:
        with bare_endpoint() as bare_port:
            results = asyncio.run(measure(args, stack, Path(state), bare_port))
    report(args, results, time.monotonic() - started)


async def measure(args: argparse.Namespace, stack: Any, work: Path, bare_port: int
                  ) -> dict[str, list[dict]]:
    rng = random.Random(20261201)
    kinds = {"direct many": (False, None), "direct hot": (True, None),
             "autocommit many": (False, None), "autocommit hot": (True, None),
             "batch many": (False, args.batch), "batch hot": (True, args.batch)}
    results: dict[str, list[dict]] = {name: [] for name in
                                      (*kinds, "bare", "api", "edge", "batch api",
                                       "batch edge", "approve", "bare seq")}
    key = stack.admin_key
    assert key is not None
    auth = [f"Authorization: Bearer {key}"]
    engine = make_engine(stack.info["database_url"], SCHEMA, pool_size=args.writers + 2)
    try:
        ledger = Ledger(engine)
        await ledger.open(ACCOUNTS)
        partner_id = await asyncio.to_thread(eligible_partner, stack.gateway_url, key)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, trust_env=False,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            allocation = await allocation_for(client, partner_id, args.claims * args.rounds)
        bare_url = f"http://127.0.0.1:{bare_port}/v1/deals"
        deal_body = work / "deal.jsonl"
        deal_body.write_text(json.dumps({**DEAL, "partner_id": str(uuid.uuid4())}))
        api_url = f"http://127.0.0.1:{stack.port('incentives-api')}/v1/ledger/transfers"
        edge_url = f"{stack.gateway_url}/v1/ledger/transfers"
        # Enough new batches for the warm-up and the round at 40 a second (about 20,000
        # postings/s), more than this setup reaches; the run says so if they ran out.
        batches = int(40 * (args.duration + 2))
        for round_no in range(1, args.rounds + 1):
            for name, (hot, batch) in kinds.items():
                writers = args.writers if batch is None else args.batch_writers
                results[name].append(await postings(
                    ledger, writers=writers, seconds=args.duration, hot=hot, batch=batch,
                    stack=stack, autocommit=name.startswith("autocommit")))
            results["bare"].append(await asyncio.to_thread(
                load, bare_url, deal_body, [], args.duration))
            for name, url in (("api", api_url), ("edge", edge_url)):
                bodies = transfer_bodies(work / f"transfers-{name}-{round_no}.jsonl", ledger,
                                         int(3000 * (args.duration + 2)), rng)
                results[name].append(await asyncio.to_thread(
                    load, url, bodies, auth, args.duration))
            for name, url in (("batch api", api_url), ("batch edge", edge_url)):
                code = f"bench-{name.replace(' ', '-')}-{round_no}"
                bodies = await asyncio.to_thread(
                    batch_bodies, work / f"{code}.jsonl", ledger, batches, args.batch, code,
                    rng)
                results[name].append(await batches_through_api(
                    ledger, stack, url.replace("/transfers", "/transfer-batches"), bodies,
                    batches, args.batch, code, auth, args.duration, args.batch_writers))
                bodies.unlink()
            approved, bare_seq = await approvals(stack.gateway_url, key, allocation,
                                                 args.claims, bare_url)
            results["approve"].append(approved)
            results["bare seq"].append(bare_seq)
            print(f"round {round_no}: " + ", ".join(
                f"{name} {r[-1].get('per_second', r[-1].get('rps', 0)):.0f}/s"
                for name, r in results.items() if "per_second" in r[-1] or "rps" in r[-1])
                + f", approve p50 {approved['p50_ms']:.1f} ms", file=sys.stderr)
    finally:
        await engine.dispose()
    return results


def report(args: argparse.Namespace, results: dict[str, list[dict]], seconds: float) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(r[field] for r in results[name])

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"{args.rounds} rounds of {args.duration:.0f} s per measurement, medians shown; "
          f"{args.writers} writers of single transfers, {args.batch_writers} of batches of "
          f"{args.batch}; {args.claims} claims "
          f"approved per round; the whole run took {seconds:.0f} s")
    print()
    print("| measurement                                        | postings/s | p50 ms | p99 ms "
          "| CPU ms/posting (code + PG) |")
    print("|----------------------------------------------------|------------|--------|--------"
          "|----------------------------|")
    for name, label in (("direct many", "single transfers, 1,000 accounts"),
                        ("direct hot", "single transfers, one hot pair"),
                        ("autocommit many", "single, autocommit, 1,000 accounts"),
                        ("autocommit hot", "single, autocommit, one hot pair"),
                        ("batch many", f"batches of {args.batch}, 1,000 accounts"),
                        ("batch hot", f"batches of {args.batch}, one hot pair")):
        cpu = f"{median(name, 'cpu_ms_ledger_code'):.3f} + {median(name, 'cpu_ms_postgres'):.3f}"
        print(f"| {label:<50} | {median(name, 'per_second'):10.0f} | "
              f"{median(name, 'p50_ms'):6.1f} | {median(name, 'p99_ms'):6.1f} | {cpu:>26} |")
    for name, label in (("bare", "bare FastAPI endpoint (req/s)"),
                        ("api", "POST /v1/ledger/transfers, to the service"),
                        ("edge", "POST /v1/ledger/transfers, via the edge")):
        print(f"| {label:<50} | {median(name, 'rps'):10.0f} | {median(name, 'p50_ms'):6.1f} | "
              f"{median(name, 'p99_ms'):6.1f} | {'':>26} |")
    for name, label in (("batch api", f"POST .../transfer-batches ({args.batch}), to the "
                                      "service"),
                        ("batch edge", f"POST .../transfer-batches ({args.batch}), via the "
                                       "edge")):
        cpu = f"{median(name, 'cpu_ms_api'):.3f} + {median(name, 'cpu_ms_postgres'):.3f}"
        rounds = ", ".join(f"{r['per_second']:.0f}" for r in results[name])
        print(f"| {label:<50} | {median(name, 'per_second'):10.0f} | "
              f"{median(name, 'p50_ms'):6.1f} | {median(name, 'p99_ms'):6.1f} | {cpu:>26} |"
              f" rounds: {rounds}")
    for name, label in (("approve", "claim approval via the edge, one at a time"),
                        ("bare seq", "bare FastAPI endpoint, one at a time")):
        print(f"| {label:<50} | {'':>10} | {median(name, 'p50_ms'):6.1f} | "
              f"{median(name, 'p99_ms'):6.1f} | {'':>26} |")
    print()
    best = max(median(n, "per_second") for n in ("direct many", "autocommit many",
                                                  "batch many"))
    print(f"postings/s on one PostgreSQL, best of single and batched: {best:.0f} "
          f"(aim 5,000: {'met' if best >= 5000 else 'NOT met'})")
    for name, label in (("direct many", "single transfers"),
                        ("autocommit many", "single transfers in autocommit"),
                        ("batch many", "batches")):
        code, pg = median(name, "cpu_ms_ledger_code"), median(name, "cpu_ms_postgres")
        print(f"{label}, 1,000 accounts: {code:.3f} ms of CPU per posting in the ledger's code "
              f"and {pg:.3f} ms in PostgreSQL (all its processes): "
              f"{1000 / (code + pg):,.0f} postings per CPU-second, {1000 / pg:,.0f} per "
              "PostgreSQL CPU-second")
    print(f"batches through the API: {median('batch api', 'per_second'):.0f} postings/s to the "
          f"service, {median('batch edge', 'per_second'):.0f} via the edge; "
          f"{median('batch api', 'per_second') / median('bare', 'rps'):.1f}x the bare "
          "endpoint's requests/s (CPU column: the incentives API + PostgreSQL)")
    print(f"API ratio to bare: service {median('api', 'rps') / median('bare', 'rps'):.3f}, "
          f"edge {median('edge', 'rps') / median('bare', 'rps'):.3f}; claim approval p50 "
          f"{median('approve', 'p50_ms') / median('bare seq', 'p50_ms'):.1f}x the bare "
          "endpoint's")
    errors = {n: sum(r.get("errors", 0) + r.get("refused", 0) for r in rs)
              for n, rs in results.items()}
    if any(errors.values()):
        print(f"errors or refusals: {errors}")


if __name__ == "__main__":
    main()
